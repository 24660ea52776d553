//! The one GitHub API conversation migration-check has: keeping a single
//! "sticky" comment per pull request and migrations path up to date. The
//! comment is found again by a hidden HTML marker in its body, updated in
//! place, created at most once even when a create times out, and deduplicated
//! when two runs race. Idempotent requests are retried with backoff on server
//! errors and rate limits; failures come back typed so the caller can tell a
//! read-only token (every fork PR) from an outage. The token never appears in
//! an error.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use octocrab::Octocrab;
use octocrab::models::CommentId;
use octocrab::models::issues::Comment;
use octocrab::service::middleware::retry::RetryConfig;

use super::context::Secret;
use crate::error::EnvironmentError;

/// The hidden marker that identifies migration-check's comment for one
/// migrations path: `<!-- migration-check:migrations -->`. Characters that
/// would end the HTML comment early are replaced, and `./` prefixes and
/// trailing slashes are dropped so that equivalent spellings share a comment.
pub fn marker_for(path: &str) -> String {
    let mut path = path.trim();
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    let path = path.trim_end_matches('/');
    let path = if path.is_empty() { "." } else { path };
    let mut safe = path.replace('>', "_");
    while safe.contains("--") {
        safe = safe.replace("--", "-");
    }
    format!("<!-- migration-check:{safe} -->")
}

/// What [`CommentsClient::upsert_sticky_comment`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentOutcome {
    /// No comment with the marker existed; this one was created.
    Created(u64),
    /// The existing comment was updated in place (or already had this body).
    Updated(u64),
    /// Several comments carried the marker (racing runs): the oldest (lowest
    /// id) was kept and updated, the others deleted.
    DeduplicatedAndUpdated {
        /// The comment kept.
        kept: u64,
        /// The comments deleted.
        deleted: Vec<u64>,
    },
}

impl CommentOutcome {
    /// The id of the comment that now holds the body.
    pub fn comment_id(&self) -> u64 {
        match self {
            CommentOutcome::Created(id) | CommentOutcome::Updated(id) => *id,
            CommentOutcome::DeduplicatedAndUpdated { kept, .. } => *kept,
        }
    }
}

/// A comment on the pull request, as far as this module cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingComment {
    /// The comment id.
    pub id: u64,
    /// Its Markdown body.
    pub body: String,
    /// Its author's login.
    pub author: String,
}

/// Why a GitHub request failed. Messages name the operation and never contain
/// the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitHubError {
    /// 401: the token is missing, malformed, expired or revoked.
    #[error(
        "GitHub rejected the token (401 Unauthorized) while {operation}: {message}; check the `github-token` input"
    )]
    Unauthorized {
        /// What was being done.
        operation: String,
        /// GitHub's message.
        message: String,
    },
    /// 403 that is not a rate limit: the token may not write here.
    #[error(
        "GitHub refused the request (403 Forbidden) while {operation}: {message}; the token cannot write comments here: pull requests from forks get a read-only GITHUB_TOKEN, otherwise grant the workflow `permissions: pull-requests: write`"
    )]
    Forbidden {
        /// What was being done.
        operation: String,
        /// GitHub's message.
        message: String,
    },
    /// 404: the repository, pull request or comment does not exist, or the
    /// token cannot see it.
    #[error(
        "GitHub answered 404 Not Found while {operation}: {message}; the repository or pull request does not exist or the token cannot see it"
    )]
    NotFound {
        /// What was being done.
        operation: String,
        /// GitHub's message.
        message: String,
    },
    /// 422: GitHub refused the content, e.g. a body over 65,536 characters.
    #[error("GitHub refused the content (422 Unprocessable Entity) while {operation}: {message}")]
    Unprocessable {
        /// What was being done.
        operation: String,
        /// GitHub's message, with its validation errors.
        message: String,
    },
    /// 5xx, still failing after the retries.
    #[error(
        "GitHub failed with HTTP {status} while {operation} ({attempts} attempt(s)): {message}"
    )]
    Server {
        /// What was being done.
        operation: String,
        /// The HTTP status.
        status: u16,
        /// How many requests were made.
        attempts: u32,
        /// GitHub's message.
        message: String,
    },
    /// A primary or secondary rate limit that did not lift in time.
    #[error("GitHub rate limit hit while {operation}{}: {message}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// What was being done.
        operation: String,
        /// How long GitHub asked to wait, when it said.
        retry_after: Option<Duration>,
        /// GitHub's message.
        message: String,
    },
    /// No HTTP answer: connection refused, reset, timed out, TLS failure.
    #[error("could not reach GitHub while {operation}: {message}")]
    Network {
        /// What was being done.
        operation: String,
        /// The transport error.
        message: String,
    },
    /// Anything else (unexpected status, unparsable response, bad setup).
    #[error("unexpected GitHub API error while {operation}: {message}")]
    Other {
        /// What was being done.
        operation: String,
        /// What went wrong.
        message: String,
    },
}

impl GitHubError {
    /// 401, 403 (not a rate limit) or 404: the token lacks access. Expected on
    /// pull requests from forks; the caller may downgrade it to a warning.
    pub fn is_permission_problem(&self) -> bool {
        matches!(
            self,
            GitHubError::Unauthorized { .. }
                | GitHubError::Forbidden { .. }
                | GitHubError::NotFound { .. }
        )
    }

    /// The HTTP status GitHub answered with, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            GitHubError::Unauthorized { .. } => Some(401),
            GitHubError::Forbidden { .. } => Some(403),
            GitHubError::NotFound { .. } => Some(404),
            GitHubError::Unprocessable { .. } => Some(422),
            GitHubError::Server { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl From<GitHubError> for EnvironmentError {
    /// GitHub refusing a required write is an environment failure (exit 3).
    fn from(error: GitHubError) -> Self {
        EnvironmentError::new(error.to_string())
    }
}

/// Timeouts, retries and backoff of a [`CommentsClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Requests made at most for one idempotent call (list, update, delete),
    /// and create attempts at most (each after checking it did not land).
    pub max_attempts: u32,
    /// First backoff delay after a 5xx or network error; doubles each time.
    pub base_delay: Duration,
    /// The longest rate-limit wait honoured; a longer `retry-after` or reset
    /// gives [`GitHubError::RateLimited`] at once.
    pub max_rate_limit_wait: Duration,
    /// Connect, read and write timeout of each request.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_rate_limit_wait: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Longest list of comments read (100 per page): a safety stop, not a limit
/// any real pull request reaches.
const MAX_PAGES: usize = 300;

/// The comments API of one GitHub instance, authenticated with one token.
pub struct CommentsClient {
    crab: Octocrab,
    options: ClientOptions,
    token: Secret,
    /// Who our token posts as, asked once.
    poster: tokio::sync::OnceCell<Poster>,
}

/// Who the sticky comment may belong to: the identity our token posts as. A marker
/// comment by anyone else is never updated or deleted, so nobody can hijack or suppress
/// the report by pasting the marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poster {
    /// This login exactly: a comment we created, or a user's token (`GET /user`).
    User(String),
    /// An installation token (the Actions `GITHUB_TOKEN`, a GitHub App), which may not read
    /// `GET /user` and posts as `<app>[bot]` (`github-actions[bot]`); users cannot have
    /// such a login.
    Bot,
}

impl Poster {
    /// Whether a comment by `author` is ours.
    pub fn owns(&self, author: &str) -> bool {
        match self {
            Poster::User(login) => login == author,
            Poster::Bot => author.ends_with("[bot]"),
        }
    }
}

impl std::fmt::Debug for CommentsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommentsClient")
            .field("options", &self.options)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// What to do after a failed request.
enum Next {
    /// Give up.
    Stop,
    /// Retry after the exponential backoff.
    Backoff,
    /// Retry after this long (rate limit).
    Wait(Duration),
}

impl CommentsClient {
    /// A client for the REST API at `api_url` (`https://api.github.com`, or
    /// `https://ghe.example/api/v3` on GitHub Enterprise Server).
    pub fn new(api_url: &str, token: &Secret) -> Result<Self, GitHubError> {
        Self::with_options(api_url, token, ClientOptions::default())
    }

    /// [`CommentsClient::new`] with explicit timeouts and retry settings.
    /// Must be called inside the Tokio runtime the client will be used on.
    pub fn with_options(
        api_url: &str,
        token: &Secret,
        options: ClientOptions,
    ) -> Result<Self, GitHubError> {
        let operation = "setting up the GitHub client";
        let token = Secret::new(token.expose().trim());
        // octocrab builds the Authorization header with `parse().unwrap()`:
        // a token with a stray newline would panic instead of failing.
        if token.expose().is_empty()
            || token
                .expose()
                .bytes()
                .any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
        {
            return Err(GitHubError::Unauthorized {
                operation: operation.to_owned(),
                message: "the token is empty or contains control characters".to_owned(),
            });
        }
        // octocrab spawns its request buffer on the current Tokio runtime and
        // panics outside one.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(GitHubError::Other {
                operation: operation.to_owned(),
                message: "the client must be created inside a Tokio runtime".to_owned(),
            });
        }
        let api_url = api_url.trim().trim_end_matches('/');
        let builder = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| GitHubError::Other {
                operation: operation.to_owned(),
                message: format!("invalid API URL {api_url:?}: {e}"),
            })?
            .personal_token(token.expose().to_owned())
            // Retries are decided here, per request kind: octocrab's own
            // layer would also retry a POST that may have landed.
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(options.timeout))
            .set_read_timeout(Some(options.timeout))
            .set_write_timeout(Some(options.timeout));
        let crab = builder.build().map_err(|e| GitHubError::Other {
            operation: operation.to_owned(),
            message: redact(&error_text(&e), &token),
        })?;
        Ok(CommentsClient {
            crab,
            options,
            token,
            poster: tokio::sync::OnceCell::new(),
        })
    }

    /// Creates or updates the one comment carrying `marker` on pull request
    /// `pr_number`, with `body` (the marker is prepended when `body` lacks
    /// it). Lists every comment, updates ours in place (PATCH) when found,
    /// else creates it once; then re-reads, and if racing runs left several,
    /// keeps the oldest with this body and deletes the rest.
    pub async fn upsert_sticky_comment(
        &self,
        owner: &str,
        repo: &str,
        pr_number: u64,
        marker: &str,
        body: &str,
    ) -> Result<CommentOutcome, GitHubError> {
        Ok(self
            .upsert_reporting_foreign(owner, repo, pr_number, marker, body)
            .await?
            .0)
    }

    /// [`Self::upsert_sticky_comment`], also returning the marker comments someone else
    /// wrote (never touched, worth a warning), as found by the same listing.
    pub async fn upsert_reporting_foreign(
        &self,
        owner: &str,
        repo: &str,
        pr_number: u64,
        marker: &str,
        body: &str,
    ) -> Result<(CommentOutcome, Vec<ExistingComment>), GitHubError> {
        if marker.trim().is_empty() {
            return Err(GitHubError::Other {
                operation: format!("updating the comment on {owner}/{repo}#{pr_number}"),
                message: "the comment marker is empty".to_owned(),
            });
        }
        let body = if body.contains(marker) {
            body.to_owned()
        } else {
            format!("{marker}\n{body}")
        };

        let (marked, foreign) = self
            .marked_and_foreign(owner, repo, pr_number, marker)
            .await?;
        if !marked.is_empty() {
            let outcome = self.settle(owner, repo, marked, &body, None).await?;
            return Ok((outcome, foreign));
        }

        let created = self
            .create_once(owner, repo, pr_number, marker, &body)
            .await?;
        let marked = self.marked_comments(owner, repo, pr_number, marker).await?;
        if marked.is_empty() {
            // Not visible yet (replication lag): nothing to reconcile.
            return Ok((CommentOutcome::Created(created), foreign));
        }
        let outcome = self
            .settle(owner, repo, marked, &body, Some(created))
            .await?;
        Ok((outcome, foreign))
    }

    /// Every comment on the pull request, oldest first, reading all pages.
    pub async fn list_comments(
        &self,
        owner: &str,
        repo: &str,
        pr_number: u64,
    ) -> Result<Vec<ExistingComment>, GitHubError> {
        let operation = format!("listing the comments of {owner}/{repo}#{pr_number}");
        let mut page = self
            .retrying(&operation, || async move {
                self.crab
                    .issues(owner, repo)
                    .list_comments(pr_number)
                    .per_page(100u8)
                    .send()
                    .await
            })
            .await?;
        let mut comments: Vec<ExistingComment> = Vec::new();
        for _ in 0..MAX_PAGES {
            comments.extend(page.take_items().into_iter().map(existing));
            let Some(next) = page.next.take() else {
                return Ok(comments);
            };
            let next_page = self
                .retrying(&operation, || {
                    let next = Some(next.clone());
                    async move { self.crab.get_page::<Comment>(&next).await }
                })
                .await?;
            match next_page {
                Some(next_page) => page = next_page,
                None => return Ok(comments),
            }
        }
        Err(GitHubError::Other {
            operation,
            message: format!("more than {MAX_PAGES} pages of comments"),
        })
    }

    /// Who our token posts as: the author of the comment it created, else `GET /user`,
    /// asked once and only when a marker comment exists; an installation token, which may
    /// not read `/user`, posts as a bot.
    pub async fn poster(&self) -> Poster {
        self.poster
            .get_or_init(|| async {
                match self.crab.current().user().await {
                    Ok(user) => Poster::User(user.login),
                    Err(_) => Poster::Bot,
                }
            })
            .await
            .clone()
    }

    /// The comments whose body contains `marker`, split into ours (lowest id first) and
    /// those by anyone else.
    async fn marked_and_foreign(
        &self,
        owner: &str,
        repo: &str,
        pr_number: u64,
        marker: &str,
    ) -> Result<(Vec<ExistingComment>, Vec<ExistingComment>), GitHubError> {
        let marked: Vec<ExistingComment> = self
            .list_comments(owner, repo, pr_number)
            .await?
            .into_iter()
            .filter(|c| c.body.contains(marker))
            .collect();
        if marked.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let poster = self.poster().await;
        let (mut ours, foreign): (Vec<ExistingComment>, Vec<ExistingComment>) =
            marked.into_iter().partition(|c| poster.owns(&c.author));
        ours.sort_by_key(|c| c.id);
        Ok((ours, foreign))
    }

    /// Our comments whose body contains `marker`, lowest id first.
    async fn marked_comments(
        &self,
        owner: &str,
        repo: &str,
        pr_number: u64,
        marker: &str,
    ) -> Result<Vec<ExistingComment>, GitHubError> {
        Ok(self
            .marked_and_foreign(owner, repo, pr_number, marker)
            .await?
            .0)
    }

    /// Keeps the lowest-id marked comment with `body`, deletes the others.
    /// `created` is the comment this run just created, if any.
    async fn settle(
        &self,
        owner: &str,
        repo: &str,
        marked: Vec<ExistingComment>,
        body: &str,
        created: Option<u64>,
    ) -> Result<CommentOutcome, GitHubError> {
        let mut marked = marked.into_iter();
        let keep = marked
            .next()
            .expect("settle is called with a marked comment");
        let updated = keep.body != body;
        if updated {
            self.update_comment(owner, repo, keep.id, body).await?;
        }
        let mut deleted = Vec::new();
        for duplicate in marked {
            self.delete_comment(owner, repo, duplicate.id).await?;
            deleted.push(duplicate.id);
        }
        Ok(if !deleted.is_empty() {
            CommentOutcome::DeduplicatedAndUpdated {
                kept: keep.id,
                deleted,
            }
        } else if created == Some(keep.id) {
            CommentOutcome::Created(keep.id)
        } else {
            CommentOutcome::Updated(keep.id)
        })
    }

    /// Creates the comment. A create is not idempotent, so a failure that may
    /// have landed (5xx, timeout, dropped connection) is followed by a re-read:
    /// if a comment with the marker is there it is taken as created; only if
    /// none is there is the create tried again.
    async fn create_once(
        &self,
        owner: &str,
        repo: &str,
        pr_number: u64,
        marker: &str,
        body: &str,
    ) -> Result<u64, GitHubError> {
        let operation = format!("creating a comment on {owner}/{repo}#{pr_number}");
        let mut attempt = 1;
        loop {
            let result = self
                .crab
                .issues(owner, repo)
                .create_comment(pr_number, body)
                .await;
            let error = match result {
                Ok(comment) => {
                    // What we just posted says who we post as.
                    let _ = self.poster.set(Poster::User(comment.user.login.clone()));
                    return Ok(comment.id.into_inner());
                }
                Err(error) => error,
            };
            let (error, next) = self.classify(error, &operation, attempt);
            let may_have_landed = matches!(
                error,
                GitHubError::Server { .. } | GitHubError::Network { .. }
            );
            let delay = match next {
                Next::Stop => return Err(error),
                _ if attempt >= self.options.max_attempts => return Err(error),
                Next::Backoff => self.backoff(attempt),
                Next::Wait(wait) => wait,
            };
            tokio::time::sleep(delay).await;
            if may_have_landed {
                let marked = self.marked_comments(owner, repo, pr_number, marker).await?;
                if let Some(found) = marked.first() {
                    return Ok(found.id);
                }
            }
            attempt += 1;
        }
    }

    /// Replaces a comment's body (PATCH, as GitHub documents; octocrab's own
    /// `update_comment` sends POST).
    async fn update_comment(
        &self,
        owner: &str,
        repo: &str,
        id: u64,
        body: &str,
    ) -> Result<(), GitHubError> {
        let operation = format!("updating comment {id} on {owner}/{repo}");
        let route = format!("/repos/{owner}/{repo}/issues/comments/{id}");
        let payload = serde_json::json!({ "body": body });
        self.retrying(&operation, || {
            let route = &route;
            let payload = &payload;
            async move {
                self.crab
                    .patch::<Comment, _, _>(route, Some(payload))
                    .await
                    .map(drop)
            }
        })
        .await
    }

    /// Deletes a comment; one already gone (404) counts as deleted, since a
    /// racing run may have removed it first.
    async fn delete_comment(&self, owner: &str, repo: &str, id: u64) -> Result<(), GitHubError> {
        let operation = format!("deleting duplicate comment {id} on {owner}/{repo}");
        let result = self
            .retrying(&operation, || async move {
                self.crab
                    .issues(owner, repo)
                    .delete_comment(CommentId(id))
                    .await
            })
            .await;
        match result {
            Err(GitHubError::NotFound { .. }) => Ok(()),
            other => other,
        }
    }

    /// The underlying octocrab client (for the other read-only requests of this module).
    pub(super) fn octocrab(&self) -> &Octocrab {
        &self.crab
    }

    /// Runs an idempotent request, retrying server errors, network errors
    /// and rate limits up to `max_attempts` requests.
    pub(super) async fn retrying<T, F, Fut>(
        &self,
        operation: &str,
        mut request: F,
    ) -> Result<T, GitHubError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = octocrab::Result<T>>,
    {
        let mut attempt = 1;
        loop {
            let error = match request().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let (error, next) = self.classify(error, operation, attempt);
            let delay = match next {
                Next::Stop => return Err(error),
                _ if attempt >= self.options.max_attempts => return Err(error),
                Next::Backoff => self.backoff(attempt),
                Next::Wait(wait) => wait,
            };
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// `base_delay` × 2^(attempt − 1).
    fn backoff(&self, attempt: u32) -> Duration {
        self.options
            .base_delay
            .saturating_mul(1u32 << (attempt - 1).min(16))
    }

    /// Maps an octocrab error to a [`GitHubError`] (redacted) and says
    /// whether the request may be retried.
    fn classify(
        &self,
        error: octocrab::Error,
        operation: &str,
        attempt: u32,
    ) -> (GitHubError, Next) {
        let operation = operation.to_owned();
        let source = match error {
            octocrab::Error::GitHub { source, .. } => source,
            octocrab::Error::Hyper { .. }
            | octocrab::Error::Service { .. }
            | octocrab::Error::Http { .. } => {
                let message = redact(&error_text(&error), &self.token);
                return (GitHubError::Network { operation, message }, Next::Backoff);
            }
            other => {
                let message = redact(&error_text(&other), &self.token);
                return (GitHubError::Other { operation, message }, Next::Stop);
            }
        };
        let status = source.status_code.as_u16();
        let message = redact(&github_message(&source), &self.token);
        let header = |name: &str| {
            source
                .headers
                .as_ref()
                .and_then(|h| h.get(name))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        let retry_after = header("retry-after").map(|s| Duration::from_secs(s.max(0) as u64));
        let exhausted = header("x-ratelimit-remaining") == Some(0);
        let reset = header("x-ratelimit-reset")
            .or_else(|| source.rate_limit_reset.and_then(|r| i64::try_from(r).ok()));
        let mentions_rate_limit = message.to_ascii_lowercase().contains("rate limit");

        match status {
            401 => (GitHubError::Unauthorized { operation, message }, Next::Stop),
            403 | 429
                if status == 429 || retry_after.is_some() || exhausted || mentions_rate_limit =>
            {
                let wait = retry_after.or_else(|| {
                    if exhausted {
                        reset.map(|reset| {
                            let now = SystemTime::now()
                                .duration_since(UNIX_EPOCH)
                                .map(|d| d.as_secs() as i64)
                                .unwrap_or_default();
                            // One second of slack: the reset is whole seconds.
                            Duration::from_secs((reset - now).max(0) as u64 + 1)
                        })
                    } else {
                        None
                    }
                });
                let next = match wait {
                    Some(wait) if wait <= self.options.max_rate_limit_wait => Next::Wait(wait),
                    Some(_) => Next::Stop,
                    // A secondary limit without a hint: GitHub asks for at
                    // least a minute; the backoff is the cheaper guess.
                    None => Next::Backoff,
                };
                (
                    GitHubError::RateLimited {
                        operation,
                        retry_after: wait,
                        message,
                    },
                    next,
                )
            }
            403 => (GitHubError::Forbidden { operation, message }, Next::Stop),
            404 => (GitHubError::NotFound { operation, message }, Next::Stop),
            422 => (
                GitHubError::Unprocessable { operation, message },
                Next::Stop,
            ),
            500..=599 => (
                GitHubError::Server {
                    operation,
                    status,
                    attempts: attempt,
                    message,
                },
                Next::Backoff,
            ),
            _ => (
                GitHubError::Other {
                    operation,
                    message: format!("HTTP {status}: {message}"),
                },
                Next::Stop,
            ),
        }
    }
}

fn existing(comment: Comment) -> ExistingComment {
    ExistingComment {
        id: comment.id.into_inner(),
        body: comment.body.unwrap_or_default(),
        author: comment.user.login,
    }
}

/// GitHub's message with its validation errors, on one line.
fn github_message(error: &octocrab::GitHubError) -> String {
    let mut message = error.message.trim().to_owned();
    for detail in error.errors.iter().flatten() {
        let text = match detail.get("message").and_then(|m| m.as_str()) {
            Some(text) => text.to_owned(),
            None => detail.to_string(),
        };
        if !text.is_empty() && !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

/// An error and its sources, on one line (octocrab's top-level messages say
/// little: "Service Error: client error (Connect)").
fn error_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.replace('\n', " ")
}

/// `text` with every occurrence of the token replaced by `***`.
fn redact(text: &str, token: &Secret) -> String {
    let secret = token.expose();
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_stable_and_safe() {
        assert_eq!(
            marker_for("migrations"),
            "<!-- migration-check:migrations -->"
        );
        assert_eq!(
            marker_for("./db/migrations/"),
            "<!-- migration-check:db/migrations -->"
        );
        assert_eq!(marker_for(""), "<!-- migration-check:. -->");
        assert_eq!(marker_for("a-->b"), "<!-- migration-check:a-_b -->");
        assert_ne!(marker_for("db"), marker_for("db2"));
    }

    #[test]
    fn permission_problems_are_401_403_404() {
        let op = || "x".to_owned();
        let msg = || "m".to_owned();
        assert!(
            GitHubError::Unauthorized {
                operation: op(),
                message: msg()
            }
            .is_permission_problem()
        );
        assert!(
            GitHubError::Forbidden {
                operation: op(),
                message: msg()
            }
            .is_permission_problem()
        );
        assert!(
            GitHubError::NotFound {
                operation: op(),
                message: msg()
            }
            .is_permission_problem()
        );
        assert!(
            !GitHubError::Unprocessable {
                operation: op(),
                message: msg()
            }
            .is_permission_problem()
        );
        assert!(
            !GitHubError::RateLimited {
                operation: op(),
                retry_after: None,
                message: msg()
            }
            .is_permission_problem()
        );
    }

    #[test]
    fn environment_error_keeps_the_message() {
        let error = GitHubError::Forbidden {
            operation: "creating a comment on a/b#1".into(),
            message: "Resource not accessible by integration".into(),
        };
        let env: EnvironmentError = error.clone().into();
        assert_eq!(env.message, error.to_string());
    }

    #[test]
    fn outside_a_runtime_creation_fails_instead_of_panicking() {
        let error =
            CommentsClient::new("https://api.github.com", &Secret::new("ghp_x")).unwrap_err();
        assert!(
            error.to_string().contains("inside a Tokio runtime"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn tokens_with_control_characters_are_refused_without_panicking() {
        let error =
            CommentsClient::new("https://api.github.com", &Secret::new("ghp_a\nb")).unwrap_err();
        assert!(matches!(error, GitHubError::Unauthorized { .. }));
        assert!(!error.to_string().contains("ghp_a"));
        // Surrounding whitespace (a pasted secret) is trimmed, not refused.
        let client = CommentsClient::new("https://api.github.com", &Secret::new(" ghp_ok\n"));
        assert!(client.is_ok());
    }

    #[test]
    fn redact_hides_every_occurrence() {
        let token = Secret::new("ghp_abc");
        assert_eq!(
            redact("Bearer ghp_abc and ghp_abc", &token),
            "Bearer *** and ***"
        );
    }
}
