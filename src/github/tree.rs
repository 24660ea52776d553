//! Reading files of the base branch through the GitHub REST API: the fallback
//! when the checkout's git history lacks the base and cannot be fetched (no
//! remote, no credentials for git). The merge-base comes from the compare API,
//! the file list from the recursive git tree, the contents from git blobs.
//! Knows nothing of migrations: it returns the files under a directory.

use base64::Engine as _;
use serde_json::Value;

use super::client::{CommentsClient, GitHubError};

/// Files under `dir` at a commit, with the commit they were read at.
pub type TreeFiles = (String, Vec<(String, Vec<u8>)>);

impl CommentsClient {
    /// The files under `dir` (relative to the repository root; empty for the
    /// root) at the merge-base of `reference` and `head` (or at `reference`
    /// when `head` is unknown).
    pub async fn read_tree(
        &self,
        owner: &str,
        repo: &str,
        reference: &str,
        head: Option<&str>,
        dir: &str,
    ) -> Result<TreeFiles, GitHubError> {
        let commit = match head {
            Some(head) => {
                let route = format!("/repos/{owner}/{repo}/compare/{reference}...{head}");
                let compare = self
                    .get_json(&route, &format!("comparing {reference} with {head}"))
                    .await?;
                string_at(&compare, &["merge_base_commit", "sha"], &route)?
            }
            None => {
                let route = format!("/repos/{owner}/{repo}/commits/{reference}");
                let commit = self
                    .get_json(&route, &format!("resolving {reference}"))
                    .await?;
                string_at(&commit, &["sha"], &route)?
            }
        };
        let route = format!("/repos/{owner}/{repo}/git/trees/{commit}?recursive=1");
        let tree = self
            .get_json(&route, &format!("listing the tree of {commit}"))
            .await?;
        if tree.get("truncated").and_then(Value::as_bool) == Some(true) {
            return Err(GitHubError::Other {
                operation: format!("listing the tree of {commit}"),
                message: "the repository tree is too large for one API answer; fetch the base branch with git instead"
                    .into(),
            });
        }
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{}/", dir.trim_end_matches('/'))
        };
        let mut files = Vec::new();
        for entry in tree
            .get("tree")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(path), Some("blob"), Some(sha)) = (
                entry.get("path").and_then(Value::as_str),
                entry.get("type").and_then(Value::as_str),
                entry.get("sha").and_then(Value::as_str),
            ) else {
                continue;
            };
            if !path.starts_with(&prefix) {
                continue;
            }
            let route = format!("/repos/{owner}/{repo}/git/blobs/{sha}");
            let blob = self.get_json(&route, &format!("reading {path}")).await?;
            let encoded: String = string_at(&blob, &["content"], &route)?
                .split_whitespace()
                .collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| GitHubError::Other {
                    operation: format!("reading {path}"),
                    message: format!("the blob is not valid base64: {e}"),
                })?;
            files.push((path.to_string(), bytes));
        }
        Ok((commit, files))
    }

    /// GET `route` as JSON, retried like every idempotent request.
    async fn get_json(&self, route: &str, operation: &str) -> Result<Value, GitHubError> {
        self.retrying(operation, || async move {
            self.octocrab().get::<Value, _, ()>(route, None).await
        })
        .await
    }
}

fn string_at(value: &Value, path: &[&str], route: &str) -> Result<String, GitHubError> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| GitHubError::Other {
            operation: format!("GET {route}"),
            message: format!("the answer has no {}", path.join(".")),
        })
}
