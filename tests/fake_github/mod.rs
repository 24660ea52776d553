//! A local fake of the GitHub REST API's issue-comments endpoints, served over
//! real HTTP on 127.0.0.1 so that tests exercise the real octocrab client:
//! list (with `per_page`/`page` and GitHub's `Link` header), create, update
//! (PATCH, and POST as octocrab's `update_comment` sends) and delete. It
//! checks the token, keeps comments in memory, records every request, and has
//! knobs to inject the failures GitHub produces: bad credentials, read-only
//! tokens, 404, 422, 5xx (before or after the write landed), primary and
//! secondary rate limits, and a racing second run.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The token the fake accepts unless [`FakeGitHub::set_token`] says otherwise.
pub const TOKEN: &str = "ghs_FakeInstallationToken0123456789abcdef";
/// The login of comments created through the API.
pub const BOT_LOGIN: &str = "github-actions[bot]";
/// GitHub's maximum comment length, in characters.
pub const MAX_BODY_CHARS: usize = 65_536;

/// The endpoints the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `GET /repos/{o}/{r}/issues/{n}/comments` (or `/repositories/{id}/…`).
    ListComments,
    /// `POST /repos/{o}/{r}/issues/{n}/comments`.
    CreateComment,
    /// `PATCH` or `POST /repos/{o}/{r}/issues/comments/{id}`.
    UpdateComment,
    /// `DELETE /repos/{o}/{r}/issues/comments/{id}`.
    DeleteComment,
    /// `GET` of git data: `compare/{a}...{b}`, `commits/{ref}`,
    /// `git/trees/{sha}`, `git/blobs/{sha}`.
    ReadGitData,
    /// `GET /user`: who the token is (403 for an Actions installation token).
    GetUser,
}

/// A failure to inject on a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Any status with a GitHub-shaped JSON message.
    Status(u16, String),
    /// 401 "Bad credentials".
    Unauthorized,
    /// 403 "Resource not accessible by integration" (a fork PR's token).
    ReadOnly,
    /// 404 "Not Found".
    NotFound,
    /// 422 "Validation Failed" / "body is too long".
    BodyTooLong,
    /// 500 before anything happened.
    ServerError,
    /// The write is carried out, then 502 is answered (a timeout after the
    /// write landed, as seen by the client).
    LandThenServerError,
    /// 403 secondary rate limit with `retry-after`.
    SecondaryRateLimit {
        /// Seconds in `retry-after`.
        retry_after_secs: u64,
    },
    /// 403 primary rate limit: `x-ratelimit-remaining: 0` and a reset time.
    PrimaryRateLimit {
        /// Seconds from now to `x-ratelimit-reset`.
        reset_in_secs: u64,
    },
    /// 429 with `retry-after`.
    TooManyRequests {
        /// Seconds in `retry-after`.
        retry_after_secs: u64,
    },
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path as received, prefix included.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The route it matched.
    pub route: Option<Route>,
    /// The status answered.
    pub status: u16,
}

/// A comment held by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredComment {
    /// Its id (increasing in creation order).
    pub id: u64,
    /// Its body.
    pub body: String,
    /// Its author's login.
    pub login: String,
    /// How many times it was updated.
    pub updates: u32,
}

type IssueKey = (String, String, u64);

#[derive(Default)]
struct Inner {
    token: String,
    next_id: u64,
    repo_ids: BTreeMap<(String, String), u64>,
    issues: HashMap<IssueKey, Vec<StoredComment>>,
    faults: HashMap<Route, VecDeque<Fault>>,
    race: Option<(String, bool)>,
    echo_token: bool,
    requests: Vec<RecordedRequest>,
    /// `ref` → commit sha, per repository.
    refs: HashMap<(String, String, String), String>,
    /// commit → (path, blob sha).
    trees: HashMap<String, Vec<(String, String)>>,
    /// blob sha → content.
    blobs: HashMap<String, Vec<u8>>,
    /// The user the token authenticates as; None: an installation token, which
    /// posts as `github-actions[bot]` and may not read `/user`.
    user_login: Option<String>,
}

struct Shared {
    origin: String,
    prefix: String,
    inner: Mutex<Inner>,
}

/// The running fake server. Dropping it stops the server.
pub struct FakeGitHub {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl FakeGitHub {
    /// Starts the fake on 127.0.0.1 at a free port, serving at the root
    /// (like `https://api.github.com`).
    pub async fn start() -> Self {
        Self::start_with_prefix("").await
    }

    /// Starts the fake under a path prefix, e.g. `/api/v3` like GitHub
    /// Enterprise Server.
    pub async fn start_with_prefix(prefix: &str) -> Self {
        Self::start_at("127.0.0.1", prefix).await
    }

    /// Starts the fake on a local address other than loopback, e.g. the
    /// gateway of a Docker network, so that containers can reach it.
    pub async fn start_on(ip: &str) -> Self {
        Self::start_at(ip, "").await
    }

    async fn start_at(ip: &str, prefix: &str) -> Self {
        let listener = tokio::net::TcpListener::bind((ip, 0))
            .await
            .unwrap_or_else(|e| panic!("bind {ip}:0: {e}"));
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            origin: format!("http://{addr}"),
            prefix: prefix.trim_end_matches('/').to_owned(),
            inner: Mutex::new(Inner {
                token: TOKEN.to_owned(),
                next_id: 1_000_001,
                ..Inner::default()
            }),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .expect("fake GitHub server");
        });
        FakeGitHub {
            shared,
            addr,
            shutdown: Some(tx),
        }
    }

    /// Serves a base tree: `reference` (a branch) resolves to `commit`, whose
    /// tree holds `files`; `compare/{reference}...{any}` answers `commit` as
    /// the merge-base.
    pub fn set_base_tree(
        &self,
        owner: &str,
        repo: &str,
        reference: &str,
        commit: &str,
        files: &[(&str, &[u8])],
    ) {
        let mut inner = self.lock();
        inner
            .refs
            .insert((owner.into(), repo.into(), reference.into()), commit.into());
        let mut entries = Vec::new();
        for (index, (path, content)) in files.iter().enumerate() {
            let sha = format!("{commit}{index:08x}");
            inner.blobs.insert(sha.clone(), content.to_vec());
            entries.push((path.to_string(), sha));
        }
        inner.trees.insert(commit.into(), entries);
    }

    /// The API root to give the client, e.g. `http://127.0.0.1:PORT/api/v3`.
    pub fn api_url(&self) -> String {
        format!("{}{}", self.shared.origin, self.shared.prefix)
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap()
    }

    /// Makes the token a user's (a personal access token): `GET /user` answers with
    /// `login`, and comments created through the API are by `login`.
    pub fn set_user(&self, login: &str) {
        self.lock().user_login = Some(login.to_owned());
    }

    /// Changes the token accepted.
    pub fn set_token(&self, token: &str) {
        self.lock().token = token.to_owned();
    }

    /// Adds `n` comments by other users (`user1`, `user2`, …) to an issue.
    pub fn seed_comments(&self, owner: &str, repo: &str, issue: u64, n: usize) {
        for i in 0..n {
            let login = format!("user{}", i % 7 + 1);
            self.add_comment(
                owner,
                repo,
                issue,
                &login,
                &format!("Comment {i}: looks good to me"),
            );
        }
    }

    /// Adds one comment and returns its id.
    pub fn add_comment(&self, owner: &str, repo: &str, issue: u64, login: &str, body: &str) -> u64 {
        let mut inner = self.lock();
        insert(&mut inner, &key(owner, repo, issue), login, body)
    }

    /// The comments of an issue, oldest first.
    pub fn comments(&self, owner: &str, repo: &str, issue: u64) -> Vec<StoredComment> {
        self.lock()
            .issues
            .get(&key(owner, repo, issue))
            .cloned()
            .unwrap_or_default()
    }

    /// The comments of an issue whose body contains `marker`.
    pub fn comments_with(
        &self,
        owner: &str,
        repo: &str,
        issue: u64,
        marker: &str,
    ) -> Vec<StoredComment> {
        self.comments(owner, repo, issue)
            .into_iter()
            .filter(|c| c.body.contains(marker))
            .collect()
    }

    /// The next `times` requests of `route` (after authentication) answer
    /// with `fault`, queued after any faults already set.
    pub fn fail_next(&self, route: Route, times: usize, fault: Fault) {
        let mut inner = self.lock();
        let queue = inner.faults.entry(route).or_default();
        for _ in 0..times {
            queue.push_back(fault.clone());
        }
    }

    /// On the next create, another run's comment with `rival_body` appears
    /// too: created just before ours (`rival_first`, so it has the lower id)
    /// or just after.
    pub fn race_on_next_create(&self, rival_body: &str, rival_first: bool) {
        self.lock().race = Some((rival_body.to_owned(), rival_first));
    }

    /// Error messages quote the `Authorization` header received, as a careless
    /// proxy might: proves the client redacts the token.
    pub fn echo_token_in_errors(&self, on: bool) {
        self.lock().echo_token = on;
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// How many requests with `method` hit `route`.
    pub fn count(&self, method: &str, route: Route) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.method == method && r.route == Some(route))
            .count()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn key(owner: &str, repo: &str, issue: u64) -> IssueKey {
    (owner.to_owned(), repo.to_owned(), issue)
}

fn repo_id(inner: &mut Inner, owner: &str, repo: &str) -> u64 {
    let next = 700_000_000 + inner.repo_ids.len() as u64;
    *inner
        .repo_ids
        .entry((owner.to_owned(), repo.to_owned()))
        .or_insert(next)
}

fn insert(inner: &mut Inner, key: &IssueKey, login: &str, body: &str) -> u64 {
    repo_id(inner, &key.0, &key.1);
    let id = inner.next_id;
    inner.next_id += 1;
    inner
        .issues
        .entry(key.clone())
        .or_default()
        .push(StoredComment {
            id,
            body: body.to_owned(),
            login: login.to_owned(),
            updates: 0,
        });
    id
}

/// What a path names.
enum Target {
    Issue(IssueKey),
    Comment(String, String, u64),
}

fn parse_path(inner: &mut Inner, path: &str) -> Option<Target> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["repos", owner, repo, "issues", "comments", id] => Some(Target::Comment(
            owner.to_string(),
            repo.to_string(),
            id.parse().ok()?,
        )),
        ["repos", owner, repo, "issues", number, "comments"] => {
            Some(Target::Issue(key(owner, repo, number.parse().ok()?)))
        }
        ["repositories", id, "issues", number, "comments"] => {
            let id: u64 = id.parse().ok()?;
            let (owner, repo) = inner
                .repo_ids
                .iter()
                .find(|(_, v)| **v == id)
                .map(|(k, _)| k.clone())?;
            Some(Target::Issue(key(&owner, &repo, number.parse().ok()?)))
        }
        _ => None,
    }
}

fn user_json(origin: &str, login: &str) -> Value {
    let id = 41_898_282 + login.len() as u64;
    let api = format!("{origin}/users/{login}");
    json!({
        "login": login,
        "id": id,
        "node_id": format!("MDM6Qm90{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": api,
        "html_url": format!("https://github.com/{login}"),
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": if login.ends_with("[bot]") { "Bot" } else { "User" },
        "user_view_type": "public",
        "site_admin": false
    })
}

fn comment_json(api: &str, origin: &str, key: &IssueKey, c: &StoredComment) -> Value {
    let (owner, repo, number) = key;
    json!({
        "id": c.id,
        "node_id": format!("IC_kwDOFake{}", c.id),
        "url": format!("{api}/repos/{owner}/{repo}/issues/comments/{}", c.id),
        "html_url": format!("https://github.com/{owner}/{repo}/pull/{number}#issuecomment-{}", c.id),
        "issue_url": format!("{api}/repos/{owner}/{repo}/issues/{number}"),
        "body": c.body,
        "user": user_json(origin, &c.login),
        "created_at": "2024-05-02T10:00:00Z",
        "updated_at": if c.updates > 0 { "2024-05-02T11:00:00Z" } else { "2024-05-02T10:00:00Z" },
        "author_association": if c.login.ends_with("[bot]") { "NONE" } else { "CONTRIBUTOR" },
        "performed_via_github_app": null,
        "reactions": {
            "url": format!("{api}/repos/{owner}/{repo}/issues/comments/{}/reactions", c.id),
            "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "hooray": 0,
            "confused": 0, "heart": 0, "rocket": 0, "eyes": 0
        }
    })
}

/// A git-data request: owner, repo, and what is asked.
struct GitRequest {
    owner: String,
    repo: String,
    kind: GitKind,
}

enum GitKind {
    Compare(String),
    Commit(String),
    Tree(String),
    Blob(String),
}

fn git_path(path: &str) -> Option<GitRequest> {
    let rest = path.strip_prefix("/repos/")?;
    let mut parts = rest.splitn(3, '/');
    let (owner, repo, tail) = (parts.next()?, parts.next()?, parts.next()?);
    let kind = if let Some(spec) = tail.strip_prefix("compare/") {
        GitKind::Compare(spec.split("...").next()?.to_string())
    } else if let Some(reference) = tail.strip_prefix("commits/") {
        GitKind::Commit(reference.to_string())
    } else if let Some(sha) = tail.strip_prefix("git/trees/") {
        GitKind::Tree(sha.to_string())
    } else if let Some(sha) = tail.strip_prefix("git/blobs/") {
        GitKind::Blob(sha.to_string())
    } else {
        return None;
    };
    Some(GitRequest {
        owner: owner.into(),
        repo: repo.into(),
        kind,
    })
}

fn git_response(inner: &Inner, request: &GitRequest) -> Response {
    let not_found = || error_response(404, "Not Found", None);
    let commit_of = |reference: &str| {
        inner
            .refs
            .get(&(
                request.owner.clone(),
                request.repo.clone(),
                reference.to_string(),
            ))
            .cloned()
    };
    let body = match &request.kind {
        GitKind::Compare(base) => match commit_of(base) {
            Some(sha) => json!({ "merge_base_commit": { "sha": sha }, "status": "ahead" }),
            None => return not_found(),
        },
        GitKind::Commit(reference) => match commit_of(reference) {
            Some(sha) => json!({ "sha": sha }),
            None => return not_found(),
        },
        GitKind::Tree(sha) => match inner.trees.get(sha) {
            Some(entries) => json!({
                "sha": sha,
                "truncated": false,
                "tree": entries.iter().map(|(path, blob)| json!({
                    "path": path, "mode": "100644", "type": "blob", "sha": blob
                })).collect::<Vec<_>>(),
            }),
            None => return not_found(),
        },
        GitKind::Blob(sha) => match inner.blobs.get(sha) {
            Some(content) => {
                use base64::Engine as _;
                let encoded = base64::engine::general_purpose::STANDARD.encode(content);
                // GitHub wraps base64 at 60 characters.
                let wrapped: Vec<String> = encoded
                    .as_bytes()
                    .chunks(60)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect();
                json!({ "sha": sha, "encoding": "base64", "content": wrapped.join("\n") })
            }
            None => return not_found(),
        },
    };
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn error_response(status: u16, message: &str, extra: Option<Value>) -> Response {
    let mut body = json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest/issues/comments",
        "status": status.to_string(),
    });
    if let Some(Value::Object(extra)) = extra {
        for (k, v) in extra {
            body[k] = v;
        }
    }
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn fault_response(fault: &Fault, echo: Option<&str>) -> Response {
    let suffix = echo.map(|a| format!(" (received {a})")).unwrap_or_default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    match fault {
        Fault::Status(status, message) => {
            error_response(*status, &format!("{message}{suffix}"), None)
        }
        Fault::Unauthorized => error_response(401, &format!("Bad credentials{suffix}"), None),
        Fault::ReadOnly => error_response(
            403,
            &format!("Resource not accessible by integration{suffix}"),
            None,
        ),
        Fault::NotFound => error_response(404, &format!("Not Found{suffix}"), None),
        Fault::BodyTooLong => body_too_long(&suffix),
        Fault::ServerError | Fault::LandThenServerError => error_response(
            if *fault == Fault::ServerError {
                500
            } else {
                502
            },
            &format!("Server Error{suffix}"),
            None,
        ),
        Fault::SecondaryRateLimit { retry_after_secs } => {
            let mut response = error_response(
                403,
                &format!(
                    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.{suffix}"
                ),
                None,
            );
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(*retry_after_secs));
            response
        }
        Fault::PrimaryRateLimit { reset_in_secs } => {
            let mut response = error_response(
                403,
                &format!("API rate limit exceeded for installation ID 1234567.{suffix}"),
                None,
            );
            let headers = response.headers_mut();
            headers.insert("x-ratelimit-limit", HeaderValue::from(5000u64));
            headers.insert("x-ratelimit-remaining", HeaderValue::from(0u64));
            headers.insert("x-ratelimit-used", HeaderValue::from(5000u64));
            headers.insert("x-ratelimit-reset", HeaderValue::from(now + reset_in_secs));
            headers.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
            response
        }
        Fault::TooManyRequests { retry_after_secs } => {
            let mut response = error_response(429, &format!("Too Many Requests{suffix}"), None);
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(*retry_after_secs));
            response
        }
    }
}

fn body_too_long(suffix: &str) -> Response {
    error_response(
        422,
        &format!("Validation Failed{suffix}"),
        Some(json!({ "errors": [{
            "resource": "IssueComment",
            "code": "custom",
            "field": "body",
            "message": format!("body is too long (maximum is {MAX_BODY_CHARS} characters)")
        }]})),
    )
}

fn query_param(query: Option<&str>, name: &str) -> Option<u64> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse().ok())
}

/// Reads `{"body": "..."}`; `Err` is the 400 or 422 to answer.
fn read_body(bytes: &Bytes) -> Result<String, Box<Response>> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|_| Box::new(error_response(400, "Problems parsing JSON", None)))?;
    let body = value.get("body").and_then(Value::as_str).ok_or_else(|| {
        Box::new(error_response(
            422,
            "Invalid request.\n\n\"body\" wasn't supplied.",
            None,
        ))
    })?;
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(Box::new(body_too_long("")));
    }
    Ok(body.to_owned())
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().map(str::to_owned);
    let mut inner = shared.inner.lock().unwrap();
    let (route, response) = respond(
        &shared,
        &mut inner,
        &method,
        &path,
        query.as_deref(),
        &headers,
        &bytes,
    );
    inner.requests.push(RecordedRequest {
        method: method.to_string(),
        path,
        query,
        route,
        status: response.status().as_u16(),
    });
    response
}

fn respond(
    shared: &Shared,
    inner: &mut Inner,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    bytes: &Bytes,
) -> (Option<Route>, Response) {
    let not_found = || error_response(404, "Not Found", None);
    let Some(path) = path.strip_prefix(&shared.prefix) else {
        return (None, not_found());
    };
    let target = parse_path(inner, path);
    let git_data = (method == Method::GET).then(|| git_path(path)).flatten();
    let route = match (&target, method.as_str()) {
        _ if git_data.is_some() => Route::ReadGitData,
        (None, "GET") if path == "/user" => Route::GetUser,
        (Some(Target::Issue(_)), "GET") => Route::ListComments,
        (Some(Target::Issue(_)), "POST") => Route::CreateComment,
        (Some(Target::Comment(..)), "PATCH" | "POST") => Route::UpdateComment,
        (Some(Target::Comment(..)), "DELETE") => Route::DeleteComment,
        _ => return (None, not_found()),
    };

    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let echo = inner.echo_token.then_some(authorization.to_owned());
    let presented = authorization
        .strip_prefix("Bearer ")
        .or_else(|| authorization.strip_prefix("token "));
    if presented != Some(inner.token.as_str()) {
        return (
            Some(route),
            fault_response(&Fault::Unauthorized, echo.as_deref()),
        );
    }

    let fault = inner.faults.get_mut(&route).and_then(VecDeque::pop_front);
    if let Some(fault) = fault.as_ref().filter(|f| **f != Fault::LandThenServerError) {
        return (Some(route), fault_response(fault, echo.as_deref()));
    }

    if let Some(request) = git_data {
        return (Some(route), git_response(inner, &request));
    }
    if route == Route::GetUser {
        let response = match &inner.user_login {
            Some(login) => {
                (StatusCode::OK, axum::Json(user_json(&shared.origin, login))).into_response()
            }
            None => error_response(403, "Resource not accessible by integration", None),
        };
        return (Some(route), response);
    }
    let api = format!("{}{}", shared.origin, shared.prefix);
    let response = match (route, target.unwrap()) {
        (Route::ListComments, Target::Issue(key)) => {
            let per_page = query_param(query, "per_page").unwrap_or(30).clamp(1, 100) as usize;
            let page = query_param(query, "page").unwrap_or(1).max(1) as usize;
            let all = inner.issues.get(&key).cloned().unwrap_or_default();
            let items: Vec<Value> = all
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|c| comment_json(&api, &shared.origin, &key, c))
                .collect();
            let last = all.len().div_ceil(per_page).max(1);
            let id = repo_id(inner, &key.0, &key.1);
            let link = |p: usize, rel: &str| {
                format!(
                    "<{api}/repositories/{id}/issues/{}/comments?per_page={per_page}&page={p}>; rel=\"{rel}\"",
                    key.2
                )
            };
            let mut links = Vec::new();
            if page > 1 {
                links.push(link(page - 1, "prev"));
            }
            if page < last {
                links.push(link(page + 1, "next"));
                links.push(link(last, "last"));
            }
            if page > 1 {
                links.push(link(1, "first"));
            }
            let mut response = (
                StatusCode::OK,
                [("content-type", "application/json; charset=utf-8")],
                Value::Array(items).to_string(),
            )
                .into_response();
            if !links.is_empty() {
                response
                    .headers_mut()
                    .insert("link", HeaderValue::from_str(&links.join(", ")).unwrap());
            }
            response
        }
        (Route::CreateComment, Target::Issue(key)) => {
            let body = match read_body(bytes) {
                Ok(body) => body,
                Err(response) => return (Some(route), *response),
            };
            let race = inner.race.take();
            let author = inner
                .user_login
                .clone()
                .unwrap_or_else(|| BOT_LOGIN.to_owned());
            if let Some((rival, true)) = &race {
                insert(inner, &key, &author, rival);
            }
            let id = insert(inner, &key, &author, &body);
            if let Some((rival, false)) = &race {
                insert(inner, &key, &author, rival);
            }
            let stored = inner.issues[&key]
                .iter()
                .find(|c| c.id == id)
                .unwrap()
                .clone();
            (
                StatusCode::CREATED,
                [("content-type", "application/json; charset=utf-8")],
                comment_json(&api, &shared.origin, &key, &stored).to_string(),
            )
                .into_response()
        }
        (Route::UpdateComment, Target::Comment(owner, repo, id)) => {
            let body = match read_body(bytes) {
                Ok(body) => body,
                Err(response) => return (Some(route), *response),
            };
            let found = inner.issues.iter_mut().find_map(|(key, comments)| {
                if key.0 != owner || key.1 != repo {
                    return None;
                }
                let comment = comments.iter_mut().find(|c| c.id == id)?;
                comment.body = body.clone();
                comment.updates += 1;
                Some((key.clone(), comment.clone()))
            });
            match found {
                Some((key, stored)) => (
                    StatusCode::OK,
                    [("content-type", "application/json; charset=utf-8")],
                    comment_json(&api, &shared.origin, &key, &stored).to_string(),
                )
                    .into_response(),
                None => not_found(),
            }
        }
        (Route::DeleteComment, Target::Comment(owner, repo, id)) => {
            let mut deleted = false;
            for (key, comments) in inner.issues.iter_mut() {
                if key.0 == owner && key.1 == repo {
                    let before = comments.len();
                    comments.retain(|c| c.id != id);
                    deleted |= comments.len() != before;
                }
            }
            if deleted {
                StatusCode::NO_CONTENT.into_response()
            } else {
                not_found()
            }
        }
        _ => not_found(),
    };
    if fault == Some(Fault::LandThenServerError) {
        return (
            Some(route),
            fault_response(&Fault::LandThenServerError, echo.as_deref()),
        );
    }
    (Some(route), response)
}
