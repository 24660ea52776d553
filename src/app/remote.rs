//! The GitHub API as the fallback source of the base branch's files, adapted
//! to the checksum module's synchronous `RemoteBase`: each call runs the async
//! client on its own thread and runtime (the caller is inside ours).

use crate::checksum::RemoteBase;
use crate::github::{CommentsClient, Secret};

/// Reads base trees of one repository through the REST API.
pub struct GitHubRemote {
    pub api_url: String,
    pub token: Secret,
    pub owner: String,
    pub repo: String,
    /// The pull request's head commit, for the merge-base (else the ref itself).
    pub head: Option<String>,
}

impl GitHubRemote {
    /// From the environment of a terminal or CI job: `GITHUB_TOKEN`,
    /// `GITHUB_REPOSITORY` (`owner/name`) and `GITHUB_API_URL`; `None` unless
    /// a token and a repository are both given.
    pub fn from_env() -> Option<Self> {
        let token = std::env::var("GITHUB_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())?;
        let repository = std::env::var("GITHUB_REPOSITORY").ok()?;
        let (owner, repo) = repository.split_once('/')?;
        Some(GitHubRemote {
            api_url: std::env::var("GITHUB_API_URL")
                .unwrap_or_else(|_| crate::github::context::DEFAULT_API_URL.into()),
            token: Secret::new(token),
            owner: owner.to_string(),
            repo: repo.to_string(),
            head: std::env::var("GITHUB_SHA").ok().filter(|s| !s.is_empty()),
        })
    }
}

impl RemoteBase for GitHubRemote {
    fn files(
        &self,
        reference: &str,
        dir: &str,
    ) -> Result<(String, Vec<(String, Vec<u8>)>), String> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| format!("cannot start a runtime for the GitHub API: {e}"))?;
                    runtime.block_on(async {
                        let client = CommentsClient::new(&self.api_url, &self.token)
                            .map_err(|e| e.to_string())?;
                        client
                            .read_tree(
                                &self.owner,
                                &self.repo,
                                reference,
                                self.head.as_deref(),
                                dir,
                            )
                            .await
                            .map_err(|e| e.to_string())
                    })
                })
                .join()
                .unwrap_or_else(|_| Err("the GitHub API reader panicked".into()))
        })
    }
}
