//! What the GitHub Actions runner tells the process about the run it is in:
//! the event (and, for pull requests, the base and head commits), the
//! repository, the API endpoint, the files where outputs and the job summary
//! go, and the Action's inputs. The environment is read through an injectable
//! lookup so that tests never touch the process environment, and everything
//! is parsed and validated once, up front, into [`ActionContext`].

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The API endpoint used when `GITHUB_API_URL` is not set (github.com).
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// A secret value (the GitHub token). `Debug` and `Display` print `***`,
/// never the value; [`Secret::expose`] is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value itself; only to hand it to the HTTP client or to
    /// [`crate::github::workflow::add_mask`].
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The pull request the run was triggered for, from the event payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// The pull request number (the issue number its comments live under).
    pub number: u64,
    /// The target branch, e.g. `main`.
    pub base_ref: String,
    /// The commit of the target branch the PR is compared with.
    pub base_sha: String,
    /// The source branch, e.g. `add-users-table`.
    pub head_ref: String,
    /// The commit being checked.
    pub head_sha: String,
    /// `owner/name` of the repository the PR targets.
    pub base_repo: String,
    /// `owner/name` of the repository the PR comes from; `None` when that
    /// repository was deleted.
    pub head_repo: Option<String>,
    /// The PR comes from another repository (a fork). Its `GITHUB_TOKEN` is
    /// then read-only, so posting a comment is expected to be refused.
    pub is_fork: bool,
}

/// The Action's inputs (`with:` in the workflow), defaults applied.
/// The token is not here: it is [`ActionContext::token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionInputs {
    /// `path`: the migrations directory (default `migrations`).
    pub path: String,
    /// `format`: the migration format (default `auto`).
    pub format: String,
    /// `postgres`: where PostgreSQL comes from (default `docker`).
    pub postgres: String,
    /// `postgres-image`: the container image, if given.
    pub postgres_image: Option<String>,
    /// `postgres-versions`: majors to verify on in one run (`13,15,17,18`), if given.
    pub postgres_versions: Option<String>,
    /// `postgres-image-template`: each major's image, `{major}` replaced, if given.
    pub postgres_image_template: Option<String>,
    /// `base-ref`: the ref to compare with; defaults to the PR's base ref
    /// (then `GITHUB_BASE_REF`), `None` outside pull requests.
    pub base_ref: Option<String>,
    /// `verify-all`: verify every migration, not only new ones (default `false`).
    pub verify_all: bool,
    /// `comment`: post or update the sticky PR comment (default `true`).
    pub comment: bool,
    /// `config`: path to `migration-check.toml`, if given.
    pub config: Option<String>,
    /// `irreversible`: `auto`, `error` or `warning` for migrations without a down, if
    /// given (else `[policy] irreversible`, else `auto`).
    pub irreversible: Option<String>,
    /// `queries`: globs of the application's query files, one per line.
    pub queries: Vec<String>,
    /// `statements`: a pg_stat_statements export in the workspace.
    pub statements: Option<String>,
    /// `statements-from`: a read-only URL (a secret) whose pg_stat_statements is read.
    pub statements_from: Option<String>,
    /// `stats`: production's statistics, a `stats export` file in the workspace.
    pub stats: Option<String>,
    /// `stats-from`: a read-only URL (a secret) whose statistics are read at check time.
    pub stats_from: Option<String>,
    /// `compat-deploy`, `compat-rollback`: error, warning or off.
    pub compat_deploy: Option<String>,
    pub compat_rollback: Option<String>,
    /// `compat-order`: migrations-first or code-first.
    pub compat_order: Option<String>,
    /// `cache`: keep the initdb template and the merged history's base state between runs
    /// (default `true`); `cache-dir` says where.
    pub cache: bool,
    /// `cache-dir`: where the cache lives, relative to the workspace (default
    /// [`DEFAULT_CACHE_DIR`], the one place the container may write).
    pub cache_dir: String,
}

/// The Action's cache directory unless `cache-dir` says otherwise: in the workspace, which
/// is all the container may write, and what an `actions/cache` step carries between runs.
pub const DEFAULT_CACHE_DIR: &str = ".migration-check-cache";

/// Everything the runner provides, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionContext {
    /// `GITHUB_EVENT_NAME`, e.g. `pull_request` (`None` outside Actions).
    pub event_name: Option<String>,
    /// The pull request, when the event payload has one.
    pub pull_request: Option<PullRequest>,
    /// `(owner, repo)` from `GITHUB_REPOSITORY`, else from the PR payload.
    pub repository: Option<(String, String)>,
    /// The REST API root, without a trailing slash (`GITHUB_API_URL`;
    /// `https://ghe.example/api/v3` on GitHub Enterprise Server).
    pub api_url: String,
    /// `GITHUB_WORKSPACE`: where the repository is checked out.
    pub workspace: Option<PathBuf>,
    /// `GITHUB_STEP_SUMMARY`: the job summary file.
    pub step_summary: Option<PathBuf>,
    /// `GITHUB_OUTPUT`: the step outputs file.
    pub output: Option<PathBuf>,
    /// The Action's inputs.
    pub inputs: ActionInputs,
    /// `github-token` input, else `GITHUB_TOKEN`.
    pub token: Option<Secret>,
}

/// Why the runner's context could not be read. [`ContextError::is_usage`]
/// tells bad input values (exit 2) from a broken environment (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The event payload file could not be read.
    #[error("cannot read the GitHub event payload {}: {source}", path.display())]
    UnreadableEvent {
        /// The file named by `GITHUB_EVENT_PATH`.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The event payload is not the JSON GitHub writes.
    #[error("malformed GitHub event payload {}: {message}", path.display())]
    MalformedEvent {
        /// The file named by `GITHUB_EVENT_PATH`.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// An Action input has a value it cannot take.
    #[error("invalid value {value:?} for input `{name}`: {expected}")]
    InvalidInput {
        /// The input name as written in the workflow, e.g. `verify-all`.
        name: String,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// `GITHUB_REPOSITORY` is not `owner/name`.
    #[error("GITHUB_REPOSITORY must be `owner/name`, got {0:?}")]
    InvalidRepository(String),
    /// The event payload lacks a field the run cannot do without, after every fallback.
    #[error("the GitHub event payload {} has no {field}", path.display())]
    MissingEventField {
        /// The file named by `GITHUB_EVENT_PATH`.
        path: PathBuf,
        /// The field (and its fallbacks) that is missing.
        field: String,
    },
}

impl ContextError {
    /// True for errors in what the user wrote (the inputs): exit status 2.
    /// The others are a broken runner environment: exit status 3.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ContextError::InvalidInput { .. } | ContextError::MissingEventField { .. }
        )
    }
}

impl ActionContext {
    /// Reads the context through `vars`, a lookup of environment variables
    /// (`|name| std::env::var(name).ok()` in production). Empty values count
    /// as unset, as the runner sets every declared input, given or not.
    pub fn from_env(vars: &impl Fn(&str) -> Option<String>) -> Result<Self, ContextError> {
        let var = |name: &str| vars(name).filter(|value| !value.trim().is_empty());

        let event_name = var("GITHUB_EVENT_NAME");
        let repository_env = var("GITHUB_REPOSITORY");
        let event = match var("GITHUB_EVENT_PATH") {
            Some(path) => read_event(Path::new(&path), repository_env.as_deref())?,
            None => Event {
                pull_request: None,
                fallback_base: None,
            },
        };
        let pull_request = event.pull_request;

        let repository = match repository_env {
            Some(full_name) => Some(split_repository(&full_name)?),
            None => pull_request
                .as_ref()
                .and_then(|pr| split_repository(&pr.base_repo).ok()),
        };

        let api_url = var("GITHUB_API_URL")
            .map(|url| url.trim().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| DEFAULT_API_URL.to_owned());

        let input = |name: &str| input(&var, name);
        // The PR's base branch, else its base commit (a payload may carry only one), else a
        // merge queue's base commit, else the runner's GITHUB_BASE_REF.
        let base_ref = input("base-ref")
            .or_else(|| {
                pull_request.as_ref().and_then(|pr| {
                    [&pr.base_ref, &pr.base_sha]
                        .into_iter()
                        .find(|s| !s.is_empty())
                        .cloned()
                })
            })
            .or(event.fallback_base)
            .or_else(|| var("GITHUB_BASE_REF"));
        let inputs = ActionInputs {
            path: input("path").unwrap_or_else(|| "migrations".to_owned()),
            format: input("format").unwrap_or_else(|| "auto".to_owned()),
            postgres: input("postgres").unwrap_or_else(|| "docker".to_owned()),
            postgres_image: input("postgres-image"),
            postgres_versions: input("postgres-versions"),
            postgres_image_template: input("postgres-image-template"),
            base_ref,
            verify_all: parse_bool("verify-all", input("verify-all"), false)?,
            comment: parse_bool("comment", input("comment"), true)?,
            config: input("config"),
            irreversible: input("irreversible"),
            queries: input("queries")
                .map(|text| {
                    text.lines()
                        .map(str::trim)
                        .filter(|line| !line.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            statements: input("statements"),
            statements_from: input("statements-from"),
            stats: input("stats"),
            stats_from: input("stats-from"),
            compat_deploy: input("compat-deploy"),
            compat_rollback: input("compat-rollback"),
            compat_order: input("compat-order"),
            cache: parse_bool("cache", input("cache"), true)?,
            cache_dir: input("cache-dir").unwrap_or_else(|| DEFAULT_CACHE_DIR.to_owned()),
        };

        let token = input("github-token")
            .or_else(|| var("GITHUB_TOKEN").map(|t| t.trim().to_owned()))
            .map(Secret::new);

        Ok(ActionContext {
            event_name,
            pull_request,
            repository,
            api_url,
            workspace: var("GITHUB_WORKSPACE").map(PathBuf::from),
            step_summary: var("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            output: var("GITHUB_OUTPUT").map(PathBuf::from),
            inputs,
            token,
        })
    }

    /// Reads the context from a map of variables (tests, or a saved environment).
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, ContextError> {
        Self::from_env(&|name: &str| vars.get(name).cloned())
    }

    /// Reads the context from this process's environment.
    pub fn from_process_env() -> Result<Self, ContextError> {
        Self::from_env(&|name: &str| std::env::var(name).ok())
    }

    /// True when running inside GitHub Actions (`GITHUB_EVENT_NAME` is set).
    pub fn in_actions(&self) -> bool {
        self.event_name.is_some()
    }
}

/// An Action input as the runner passes it: `INPUT_` + the name upper-cased,
/// spaces as `_`, hyphens kept (`INPUT_GITHUB-TOKEN`). The same name with
/// hyphens as underscores is accepted too, for environments that cannot set
/// hyphenated variables.
fn input(var: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    let key = format!("INPUT_{}", name.replace(' ', "_").to_uppercase());
    var(&key)
        .or_else(|| var(&key.replace('-', "_")))
        .map(|value| value.trim().to_owned())
}

/// Parses a boolean input the way `core.getBooleanInput` does (YAML 1.2 core
/// schema: `true`, `True`, `TRUE`, `false`, `False`, `FALSE`), nothing else.
fn parse_bool(name: &str, value: Option<String>, default: bool) -> Result<bool, ContextError> {
    match value.as_deref() {
        None => Ok(default),
        Some("true" | "True" | "TRUE") => Ok(true),
        Some("false" | "False" | "FALSE") => Ok(false),
        Some(other) => Err(ContextError::InvalidInput {
            name: name.to_owned(),
            value: other.to_owned(),
            expected: "expected `true` or `false`".to_owned(),
        }),
    }
}

fn split_repository(full_name: &str) -> Result<(String, String), ContextError> {
    match full_name.trim().split_once('/') {
        Some((owner, repo)) if !owner.is_empty() && !repo.is_empty() && !repo.contains('/') => {
            Ok((owner.to_owned(), repo.to_owned()))
        }
        _ => Err(ContextError::InvalidRepository(full_name.to_owned())),
    }
}

/// The parts of an event payload a run uses. Everything is optional here: payloads vary
/// between events (`pull_request`, `pull_request_target`, `merge_group`, re-runs) and
/// GitHub Enterprise Server versions, so only what the run truly needs is required, after
/// the fallbacks (see [`read_event`]).
#[derive(Deserialize, Default)]
struct EventPayload {
    /// Top-level `number` of pull request events.
    number: Option<u64>,
    pull_request: Option<PullRequestPayload>,
    repository: Option<RepoPayload>,
    merge_group: Option<MergeGroupPayload>,
}

#[derive(Deserialize, Default)]
struct PullRequestPayload {
    number: Option<u64>,
    #[serde(default)]
    base: BranchPayload,
    #[serde(default)]
    head: BranchPayload,
}

#[derive(Deserialize, Default)]
struct BranchPayload {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    sha: Option<String>,
    repo: Option<RepoPayload>,
}

#[derive(Deserialize)]
struct RepoPayload {
    full_name: String,
}

/// A merge queue's group: what it merges onto.
#[derive(Deserialize)]
struct MergeGroupPayload {
    base_ref: Option<String>,
    base_sha: Option<String>,
}

/// What the event payload tells a run: the pull request, if the event has one, and the
/// base to compare with when no pull request says it (a merge queue's base commit).
struct Event {
    pull_request: Option<PullRequest>,
    fallback_base: Option<String>,
}

/// Reads the event payload. A pull request needs only its number (`pull_request.number`,
/// else the top-level `number`) and its base (`base.sha` or `base.ref`); a missing one is
/// an error naming the field. The base repository falls back to `repository`, then to
/// `GITHUB_REPOSITORY` (`repository_env`); head fields may be absent.
fn read_event(path: &Path, repository_env: Option<&str>) -> Result<Event, ContextError> {
    let text = std::fs::read_to_string(path).map_err(|source| ContextError::UnreadableEvent {
        path: path.to_owned(),
        source,
    })?;
    let payload: EventPayload =
        serde_json::from_str(&text).map_err(|e| ContextError::MalformedEvent {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    let missing = |field: &str| ContextError::MissingEventField {
        path: path.to_owned(),
        field: field.to_owned(),
    };
    let fallback_base = payload
        .merge_group
        .as_ref()
        .and_then(|g| g.base_sha.clone().or_else(|| g.base_ref.clone()));
    let Some(pr) = payload.pull_request else {
        return Ok(Event {
            pull_request: None,
            fallback_base,
        });
    };
    let number = pr
        .number
        .or(payload.number)
        .ok_or_else(|| missing("pull_request.number"))?;
    let (base_ref, base_sha) = match (pr.base.git_ref, pr.base.sha) {
        (None, None) => return Err(missing("pull_request.base.sha (or pull_request.base.ref)")),
        (base_ref, base_sha) => (base_ref.unwrap_or_default(), base_sha.unwrap_or_default()),
    };
    let base_repo = pr
        .base
        .repo
        .or(payload.repository)
        .map(|r| r.full_name)
        .or_else(|| repository_env.map(str::to_owned))
        .ok_or_else(|| missing("pull_request.base.repo (or repository, or GITHUB_REPOSITORY)"))?;
    let head_repo = pr.head.repo.map(|r| r.full_name);
    let is_fork = head_repo
        .as_deref()
        .is_none_or(|head| !head.eq_ignore_ascii_case(&base_repo));
    Ok(Event {
        pull_request: Some(PullRequest {
            number,
            base_ref,
            base_sha,
            head_ref: pr.head.git_ref.unwrap_or_default(),
            head_sha: pr.head.sha.unwrap_or_default(),
            base_repo,
            head_repo,
            is_fork,
        }),
        fallback_base: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `pull_request` (opened) payload as the runner writes it, trimmed of
    /// the many URL fields that play no part here but otherwise intact.
    const PULL_REQUEST_EVENT: &str = r#"{
  "action": "opened",
  "number": 42,
  "pull_request": {
    "url": "https://api.github.com/repos/acme/widgets/pulls/42",
    "id": 1822334455,
    "node_id": "PR_kwDOABCD1234",
    "html_url": "https://github.com/acme/widgets/pull/42",
    "number": 42,
    "state": "open",
    "locked": false,
    "title": "Add users table",
    "user": { "login": "octocat", "id": 583231, "type": "User", "site_admin": false },
    "body": "Adds the users table.\n\nCloses #41",
    "created_at": "2024-05-02T09:12:44Z",
    "updated_at": "2024-05-02T09:12:44Z",
    "closed_at": null,
    "merged_at": null,
    "merge_commit_sha": null,
    "draft": false,
    "head": {
      "label": "octocat:add-users",
      "ref": "add-users",
      "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
      "user": { "login": "octocat", "id": 583231, "type": "User" },
      "repo": {
        "id": 700000001,
        "node_id": "R_kgDOFORK",
        "name": "widgets",
        "full_name": "octocat/widgets",
        "private": false,
        "owner": { "login": "octocat", "id": 583231, "type": "User" },
        "fork": true,
        "default_branch": "main"
      }
    },
    "base": {
      "label": "acme:main",
      "ref": "main",
      "sha": "9a3b5c7d1e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b",
      "user": { "login": "acme", "id": 9919, "type": "Organization" },
      "repo": {
        "id": 123456789,
        "node_id": "R_kgDOBASE",
        "name": "widgets",
        "full_name": "acme/widgets",
        "private": false,
        "owner": { "login": "acme", "id": 9919, "type": "Organization" },
        "fork": false,
        "default_branch": "main"
      }
    },
    "author_association": "CONTRIBUTOR",
    "auto_merge": null,
    "merged": false,
    "mergeable": null,
    "comments": 0,
    "commits": 3,
    "additions": 120,
    "deletions": 4,
    "changed_files": 2
  },
  "repository": {
    "id": 123456789,
    "name": "widgets",
    "full_name": "acme/widgets",
    "private": false,
    "owner": { "login": "acme", "id": 9919, "type": "Organization" }
  },
  "sender": { "login": "octocat", "id": 583231, "type": "User" }
}"#;

    /// Writes `contents` to a fresh temporary file, removed when the returned path is dropped.
    fn temp_file(contents: &str) -> tempfile::TempPath {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, contents.as_bytes()).unwrap();
        file.into_temp_path()
    }

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_a_fork_pull_request_event_with_inputs() {
        let event = temp_file(PULL_REQUEST_EVENT);
        let env = vars(&[
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
            ("GITHUB_REPOSITORY", "acme/widgets"),
            ("GITHUB_API_URL", "https://ghe.example/api/v3/"),
            ("GITHUB_WORKSPACE", "/github/workspace"),
            (
                "GITHUB_STEP_SUMMARY",
                "/github/file_commands/step_summary_1",
            ),
            ("GITHUB_OUTPUT", "/github/file_commands/set_output_1"),
            ("GITHUB_TOKEN", "ghs_fallback"),
            ("INPUT_PATH", "db/migrations"),
            ("INPUT_FORMAT", ""),
            ("INPUT_POSTGRES-IMAGE", "postgres:17-alpine"),
            ("INPUT_VERIFY-ALL", "TRUE"),
            ("INPUT_COMMENT", "false"),
            ("INPUT_GITHUB-TOKEN", "ghs_from_input"),
            ("INPUT_CONFIG", ""),
        ]);
        let ctx = ActionContext::from_map(&env).unwrap();
        assert_eq!(ctx.event_name.as_deref(), Some("pull_request"));
        assert_eq!(
            ctx.pull_request,
            Some(PullRequest {
                number: 42,
                base_ref: "main".into(),
                base_sha: "9a3b5c7d1e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b".into(),
                head_ref: "add-users".into(),
                head_sha: "6dcb09b5b57875f334f61aebed695e2e4193db5e".into(),
                base_repo: "acme/widgets".into(),
                head_repo: Some("octocat/widgets".into()),
                is_fork: true,
            })
        );
        assert_eq!(ctx.repository, Some(("acme".into(), "widgets".into())));
        assert_eq!(ctx.api_url, "https://ghe.example/api/v3");
        assert_eq!(ctx.workspace, Some(PathBuf::from("/github/workspace")));
        assert_eq!(
            ctx.step_summary,
            Some(PathBuf::from("/github/file_commands/step_summary_1"))
        );
        assert_eq!(
            ctx.output,
            Some(PathBuf::from("/github/file_commands/set_output_1"))
        );
        assert_eq!(
            ctx.inputs,
            ActionInputs {
                path: "db/migrations".into(),
                format: "auto".into(),
                postgres: "docker".into(),
                postgres_image: Some("postgres:17-alpine".into()),
                postgres_versions: None,
                postgres_image_template: None,
                base_ref: Some("main".into()),
                verify_all: true,
                comment: false,
                config: None,
                irreversible: None,
                queries: Vec::new(),
                statements: None,
                statements_from: None,
                stats: None,
                stats_from: None,
                compat_deploy: None,
                compat_rollback: None,
                compat_order: None,
                cache: true,
                cache_dir: DEFAULT_CACHE_DIR.into(),
            }
        );
        assert_eq!(ctx.token.as_ref().unwrap().expose(), "ghs_from_input");
        assert!(ctx.in_actions());
    }

    #[test]
    fn same_repository_pr_is_not_a_fork_and_defaults_apply() {
        let same_repo = PULL_REQUEST_EVENT.replace("octocat/widgets", "acme/widgets");
        let event = temp_file(&same_repo);
        let env = vars(&[
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
            ("GITHUB_TOKEN", "ghs_fallback"),
        ]);
        let ctx = ActionContext::from_map(&env).unwrap();
        let pr = ctx.pull_request.unwrap();
        assert!(!pr.is_fork);
        // No GITHUB_REPOSITORY: taken from the payload's base repository.
        assert_eq!(ctx.repository, Some(("acme".into(), "widgets".into())));
        assert_eq!(ctx.api_url, DEFAULT_API_URL);
        assert_eq!(ctx.inputs.path, "migrations");
        assert_eq!(ctx.inputs.format, "auto");
        assert_eq!(ctx.inputs.postgres, "docker");
        assert_eq!(ctx.inputs.base_ref.as_deref(), Some("main"));
        assert!(!ctx.inputs.verify_all);
        assert!(ctx.inputs.comment);
        assert_eq!(ctx.token.unwrap().expose(), "ghs_fallback");
    }

    /// The context of `payload` with `extra` variables.
    fn context_of(
        payload: &serde_json::Value,
        extra: &[(&str, &str)],
    ) -> Result<ActionContext, ContextError> {
        let event = temp_file(&payload.to_string());
        let mut all = vec![("GITHUB_EVENT_PATH", event.to_str().unwrap())];
        all.extend_from_slice(extra);
        ActionContext::from_map(&vars(&all))
    }

    #[test]
    fn only_the_number_and_the_base_are_required() {
        let full: serde_json::Value = serde_json::from_str(PULL_REQUEST_EVENT).unwrap();
        // No base.repo: `repository`, then GITHUB_REPOSITORY, name the target.
        let mut payload = full.clone();
        payload["pull_request"]["base"]
            .as_object_mut()
            .unwrap()
            .remove("repo");
        let pr = context_of(&payload, &[]).unwrap().pull_request.unwrap();
        assert_eq!(pr.base_repo, "acme/widgets");
        payload.as_object_mut().unwrap().remove("repository");
        let ctx = context_of(&payload, &[("GITHUB_REPOSITORY", "acme/widgets")]).unwrap();
        assert_eq!(ctx.pull_request.unwrap().base_repo, "acme/widgets");
        // A trimmed payload (older GitHub Enterprise Server, re-runs): the top-level
        // number, the base sha alone, no head.
        let trimmed = serde_json::json!({
            "number": 7,
            "pull_request": { "base": { "sha": "9a3b5c7d" } }
        });
        let ctx = context_of(&trimmed, &[("GITHUB_REPOSITORY", "acme/widgets")]).unwrap();
        let pr = ctx.pull_request.unwrap();
        assert_eq!(
            (pr.number, pr.base_sha.as_str(), pr.head_sha.as_str()),
            (7, "9a3b5c7d", "")
        );
        assert_eq!(ctx.inputs.base_ref.as_deref(), Some("9a3b5c7d"));
        // `pull_request_target` carries the same pull request.
        let ctx = context_of(&full, &[("GITHUB_EVENT_NAME", "pull_request_target")]).unwrap();
        assert_eq!(ctx.pull_request.unwrap().number, 42);
    }

    #[test]
    fn a_missing_required_field_is_a_usage_error_naming_it() {
        for (payload, field) in [
            (
                serde_json::json!({ "pull_request": { "base": { "ref": "main" } } }),
                "pull_request.number",
            ),
            (
                serde_json::json!({ "number": 3, "pull_request": { "head": { "ref": "x" } } }),
                "pull_request.base.sha",
            ),
            (
                serde_json::json!({ "number": 3, "pull_request": { "base": { "ref": "main" } } }),
                "GITHUB_REPOSITORY",
            ),
        ] {
            let err = context_of(&payload, &[]).unwrap_err();
            assert!(err.is_usage(), "{err}");
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn a_merge_queue_compares_with_its_base_commit() {
        // From GitHub's documented `merge_group` (checks_requested) payload.
        let payload = serde_json::json!({
            "action": "checks_requested",
            "merge_group": {
                "head_sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
                "head_ref": "refs/heads/gh-readonly-queue/main/pr-42-9a3b5c7d",
                "base_sha": "9a3b5c7d1e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b",
                "base_ref": "refs/heads/main",
                "head_commit": { "id": "ec26c3e57ca3a959ca5aad62de7213c562f8c821" }
            },
            "repository": { "full_name": "acme/widgets" }
        });
        let ctx = context_of(&payload, &[("GITHUB_EVENT_NAME", "merge_group")]).unwrap();
        assert!(ctx.pull_request.is_none());
        assert_eq!(
            ctx.inputs.base_ref.as_deref(),
            Some("9a3b5c7d1e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b")
        );
    }

    #[test]
    fn deleted_head_repository_counts_as_fork() {
        let payload: serde_json::Value = serde_json::from_str(PULL_REQUEST_EVENT).unwrap();
        let mut payload = payload;
        payload["pull_request"]["head"]["repo"] = serde_json::Value::Null;
        let event = temp_file(&payload.to_string());
        let env = vars(&[("GITHUB_EVENT_PATH", event.to_str().unwrap())]);
        let pr = ActionContext::from_map(&env).unwrap().pull_request.unwrap();
        assert_eq!(pr.head_repo, None);
        assert!(pr.is_fork);
    }

    #[test]
    fn explicit_base_ref_input_wins_and_push_events_have_no_pr() {
        let event = temp_file(r#"{"ref":"refs/heads/main","before":"a","after":"b"}"#);
        let env = vars(&[
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
            ("INPUT_BASE-REF", "release/1.x"),
        ]);
        let ctx = ActionContext::from_map(&env).unwrap();
        assert_eq!(ctx.pull_request, None);
        assert_eq!(ctx.inputs.base_ref.as_deref(), Some("release/1.x"));
        assert_eq!(ctx.token, None);
    }

    #[test]
    fn outside_actions_everything_is_optional() {
        let ctx = ActionContext::from_map(&HashMap::new()).unwrap();
        assert!(!ctx.in_actions());
        assert_eq!(ctx.pull_request, None);
        assert_eq!(ctx.repository, None);
        assert_eq!(ctx.inputs.base_ref, None);
    }

    /// The input is passed on as written (config validates it, with the flag's rules).
    #[test]
    fn the_irreversible_input_is_a_value_or_nothing() {
        let ctx = ActionContext::from_map(&vars(&[("INPUT_IRREVERSIBLE", "error")])).unwrap();
        assert_eq!(ctx.inputs.irreversible.as_deref(), Some("error"));
        let ctx = ActionContext::from_map(&vars(&[("INPUT_IRREVERSIBLE", "")])).unwrap();
        assert_eq!(ctx.inputs.irreversible, None);
    }

    #[test]
    fn boolean_inputs_are_strict() {
        for bad in ["yes", "1", "tru", "on"] {
            let env = vars(&[("INPUT_VERIFY-ALL", bad)]);
            let err = ActionContext::from_map(&env).unwrap_err();
            assert!(err.is_usage());
            assert_eq!(
                err.to_string(),
                format!("invalid value {bad:?} for input `verify-all`: expected `true` or `false`")
            );
        }
        let env = vars(&[("INPUT_COMMENT", "nope")]);
        let err = ActionContext::from_map(&env).unwrap_err();
        assert!(err.to_string().contains("input `comment`"));
    }

    #[test]
    fn malformed_event_names_the_file() {
        let event = temp_file("{\"pull_request\": {\"number\": \"forty-two\"");
        let env = vars(&[("GITHUB_EVENT_PATH", event.to_str().unwrap())]);
        let err = ActionContext::from_map(&env).unwrap_err();
        assert!(!err.is_usage());
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "malformed GitHub event payload {}: ",
                event.display()
            )),
            "{message}"
        );
    }

    #[test]
    fn missing_event_file_names_the_file() {
        let env = vars(&[("GITHUB_EVENT_PATH", "/nonexistent/event.json")]);
        let err = ActionContext::from_map(&env).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read the GitHub event payload /nonexistent/event.json: ")
        );
    }

    #[test]
    fn bad_repository_is_rejected() {
        let env = vars(&[("GITHUB_REPOSITORY", "just-a-name")]);
        let err = ActionContext::from_map(&env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "GITHUB_REPOSITORY must be `owner/name`, got \"just-a-name\""
        );
    }

    #[test]
    fn underscore_input_names_are_accepted_as_a_fallback() {
        let env = vars(&[
            ("INPUT_GITHUB_TOKEN", "ghs_x"),
            ("INPUT_VERIFY_ALL", "true"),
        ]);
        let ctx = ActionContext::from_map(&env).unwrap();
        assert_eq!(ctx.token.unwrap().expose(), "ghs_x");
        assert!(ctx.inputs.verify_all);
    }

    #[test]
    fn secret_never_prints_its_value() {
        let secret = Secret::new("ghp_supersecret");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "***");
        let env = vars(&[("GITHUB_TOKEN", "ghp_supersecret")]);
        let ctx = ActionContext::from_map(&env).unwrap();
        assert!(!format!("{ctx:?}").contains("supersecret"));
        assert_eq!(secret.expose(), "ghp_supersecret");
    }
}
