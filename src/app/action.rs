//! The GitHub Action entry point and the `comment` command: turn the runner's
//! environment into a `verify` run, then publish the verdict where reviewers
//! look — job summary, step outputs, annotations on the offending lines and
//! the sticky pull-request comment — without ever revealing the token: it is
//! masked before anything else is printed, removed from our environment so no
//! child process (git, PostgreSQL) can inherit it, and never formatted.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::remote::GitHubRemote;
use crate::checksum::RemoteBase;
use crate::cli::CommentArgs;
use crate::error::{EnvironmentError, InputError, UsageError, exit_code_for};
use crate::github::{
    self, ActionContext, Annotation, CommentsClient, GitHubError, Level, Secret, add_mask,
    cap_annotations, marker_for, write_outputs, write_summary,
};
use crate::report::Report;
use crate::report::annotations::{AnnotationLevel, collect};
use crate::report::markdown::{self, MarkdownOptions};
use anyhow::Context as _;

/// Where the Action writes the JSON report, relative to the workspace (the
/// only directory a later step of the job can read in a container action).
pub const REPORT_FILE: &str = "migration-check-report.json";

/// Characters of Markdown for the job summary (its 1 MiB limit is in bytes;
/// emoji and escapes take up to 4 bytes a character).
const SUMMARY_CHARS: usize = 250_000;

/// Variables that hold credentials: removed from our environment once read.
const CREDENTIAL_VARIABLES: &[&str] = &[
    "INPUT_GITHUB-TOKEN",
    "INPUT_GITHUB_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
];

/// Runs the Action: verify per the inputs, then publish. Exit status comes
/// from the verification alone, unless GitHub refused a required write (3).
pub async fn action_command() -> anyhow::Result<u8> {
    let context = ActionContext::from_process_env().map_err(|e| -> anyhow::Error {
        if e.is_usage() {
            UsageError(e.to_string()).into()
        } else {
            EnvironmentError::new(e.to_string()).into()
        }
    })?;
    if let Some(token) = &context.token {
        println!("{}", add_mask(token.expose()));
    }
    scrub_credentials();
    if let Some(workspace) = &context.workspace {
        std::env::set_current_dir(workspace).map_err(|e| {
            EnvironmentError::new(format!(
                "cannot enter GITHUB_WORKSPACE {}: {e}",
                workspace.display()
            ))
        })?;
    }
    let report_path = PathBuf::from(REPORT_FILE);
    let remote = remote_base(&context);
    let outcome = match crate::config::action_verify_args(&context.inputs, &report_path) {
        Ok(args) => super::run_verify(&args, remote.as_ref().map(|r| r as &dyn RemoteBase)).await,
        Err(error) => Err(error.into()),
    };
    match outcome {
        Ok(report) => {
            let mut code = if report.passed { 0 } else { 1 };
            if let Err(error) = publish(&context, &report, &report_path).await {
                eprintln!(
                    "{}",
                    annotation_line(Level::Error, None, &format!("{error:#}"))
                );
                code = exit_code_for(&error);
            }
            Ok(code)
        }
        Err(error) => {
            publish_failure(&context, &error);
            Err(error)
        }
    }
}

/// The GitHub API as the fallback source of the base branch, when the job
/// has a token and a repository.
fn remote_base(context: &ActionContext) -> Option<GitHubRemote> {
    let (owner, repo) = context.repository.clone()?;
    Some(GitHubRemote {
        api_url: context.api_url.clone(),
        token: context.token.clone()?,
        owner,
        repo,
        head: context.pull_request.as_ref().map(|pr| pr.head_sha.clone()),
    })
}

/// Removes credential variables from our environment, so that no child
/// process (git, initdb, postgres) can inherit them.
fn scrub_credentials() {
    for name in CREDENTIAL_VARIABLES {
        // SAFETY: called at startup of the single-threaded runtime, before any
        // thread or child process exists that could read the environment.
        unsafe { std::env::remove_var(name) };
    }
}

/// Summary, annotations, outputs and (on pull requests) the comment.
async fn publish(
    context: &ActionContext,
    report: &Report,
    report_path: &Path,
) -> anyhow::Result<()> {
    if let Some(path) = &context.step_summary {
        let options = MarkdownOptions {
            marker: None,
            max_chars: SUMMARY_CHARS,
            full_report_hint: Some(format!(
                "The full report is `{REPORT_FILE}` in the workspace."
            )),
            blob_url: blob_url(context),
        };
        write_summary(path, &markdown::render(report, &options))
            .with_context(|| format!("cannot write the job summary {}", path.display()))?;
    }
    print_annotations(report);
    if let Some(path) = &context.output {
        let new: Vec<String> = report
            .migrations
            .iter()
            .filter(|m| m.new)
            .map(|m| m.version.clone())
            .collect();
        let failed: Vec<String> = report
            .migrations
            .iter()
            .filter(|m| m.status.is_failure())
            .map(|m| m.version.clone())
            .collect();
        let report_file = context
            .workspace
            .as_deref()
            .map_or(report_path.to_path_buf(), |w| w.join(report_path));
        let report_file = report_file.display().to_string();
        let (new, failed) = (new.join("\n"), failed.join("\n"));
        write_outputs(
            path,
            &[
                ("passed", if report.passed { "true" } else { "false" }),
                ("report", &report_file),
                ("new-migrations", &new),
                ("failed-migrations", &failed),
            ],
        )
        .with_context(|| format!("cannot write the step outputs {}", path.display()))?;
    }
    let Some(pull_request) = &context.pull_request else {
        println!(
            "not a pull request event ({}): no comment",
            context.event_name.as_deref().unwrap_or("none")
        );
        return Ok(());
    };
    if !context.inputs.comment {
        return Ok(());
    }
    let Some(token) = &context.token else {
        println!(
            "{}",
            annotation_line(
                Level::Warning,
                None,
                "no github-token: the pull request comment was skipped (the job summary has the report)"
            )
        );
        return Ok(());
    };
    let (owner, repo) = repository(context, &pull_request.base_repo)?;
    match post_comment(
        &context.api_url,
        token,
        &owner,
        &repo,
        pull_request.number,
        report,
        blob_url(context),
    )
    .await
    {
        Ok(()) => Ok(()),
        Err(error) if error.is_permission_problem() => {
            let hint = if pull_request.is_fork {
                "pull requests from forks get a read-only token; use the workflow_run pattern from the README to comment"
            } else {
                "give the workflow `permissions: pull-requests: write`"
            };
            println!(
                "{}",
                annotation_line(
                    Level::Warning,
                    None,
                    &format!("could not comment on the pull request: {error}; {hint}")
                )
            );
            Ok(())
        }
        Err(error) => Err(EnvironmentError::from(error).into()),
    }
}

/// Where the checked commit's files are shown on GitHub (`https://github.com/o/r/blob/sha`,
/// on GitHub Enterprise Server the API's host), for links in the comment and summary.
fn blob_url(context: &ActionContext) -> Option<String> {
    let pull_request = context.pull_request.as_ref()?;
    let repo = pull_request
        .head_repo
        .as_deref()
        .unwrap_or(&pull_request.base_repo);
    let api = context.api_url.trim_end_matches('/');
    let server = match api.strip_suffix("/api/v3") {
        Some(server) => server.to_string(),
        None => api.replacen("://api.", "://", 1),
    };
    Some(format!("{server}/{repo}/blob/{}", pull_request.head_sha))
}

/// Renders the comment and creates or updates it.
async fn post_comment(
    api_url: &str,
    token: &Secret,
    owner: &str,
    repo: &str,
    number: u64,
    report: &Report,
    blob_url: Option<String>,
) -> Result<(), GitHubError> {
    let marker = marker_for(&report.directory);
    let options = MarkdownOptions {
        marker: Some(marker.clone()),
        max_chars: markdown::PR_COMMENT_MAX_CHARS,
        full_report_hint: Some("the full report is in the job summary and the JSON report".into()),
        blob_url,
    };
    let body = markdown::render(report, &options);
    let client = CommentsClient::new(api_url, token)?;
    let (outcome, foreign) = client
        .upsert_reporting_foreign(owner, repo, number, &marker, &body)
        .await?;
    println!("pull request comment {:?}", outcome);
    for impostor in foreign {
        println!(
            "{}",
            annotation_line(
                Level::Warning,
                None,
                &format!(
                    "comment {} by {} carries migration-check's marker but was not written \
                     by this token; it was left alone and is not the report",
                    impostor.id, impostor.author
                ),
            )
        );
    }
    Ok(())
}

fn repository(context: &ActionContext, fallback: &str) -> anyhow::Result<(String, String)> {
    if let Some((owner, repo)) = &context.repository {
        return Ok((owner.clone(), repo.clone()));
    }
    fallback
        .split_once('/')
        .map(|(o, r)| (o.to_string(), r.to_string()))
        .ok_or_else(|| EnvironmentError::new("GITHUB_REPOSITORY is not set").into())
}

/// `::error`/`::warning` lines for every located problem, 10 per level.
fn print_annotations(report: &Report) {
    let items: Vec<Annotation> = collect(report)
        .into_iter()
        .map(|item| Annotation {
            level: match item.level {
                AnnotationLevel::Error => Level::Error,
                AnnotationLevel::Warning => Level::Warning,
            },
            file: Some(item.file),
            line: item.line,
            col: item.column,
            title: Some(item.title),
            message: item.message,
        })
        .collect();
    let (kept, note) = cap_annotations(items, github::workflow::MAX_ANNOTATIONS_PER_LEVEL);
    let mut stdout = std::io::stdout().lock();
    for annotation in kept {
        let _ = writeln!(stdout, "{annotation}");
    }
    if let Some(note) = note {
        let _ = writeln!(stdout, "{note}");
    }
}

fn annotation_line(level: Level, title: Option<&str>, message: &str) -> String {
    Annotation {
        level,
        file: None,
        line: None,
        col: None,
        title: title.map(str::to_string),
        message: message.to_string(),
    }
    .to_string()
}

/// When the run could not complete: say so in the summary and outputs.
fn publish_failure(context: &ActionContext, error: &anyhow::Error) {
    let message = format!("{error:#}");
    if let Some(path) = &context.step_summary {
        let text = format!(
            "### ⚠️ migration-check could not run\n\n```text\n{}\n```\n",
            message.replace("```", "'''")
        );
        let _ = write_summary(path, &text);
    }
    if let Some(path) = &context.output {
        let _ = write_outputs(
            path,
            &[
                ("passed", "false"),
                ("report", ""),
                ("new-migrations", ""),
                ("failed-migrations", ""),
            ],
        );
    }
    println!(
        "{}",
        annotation_line(
            Level::Error,
            Some("migration-check could not run"),
            &message
        )
    );
}

/// `comment --report PATH`: posts the saved report; failures are exit 3.
pub async fn comment_command(args: &CommentArgs) -> anyhow::Result<u8> {
    let text = std::fs::read_to_string(&args.report)
        .map_err(|e| InputError::new(&args.report, format!("cannot read the report: {e}")))?;
    let report: Report = serde_json::from_str(&text).map_err(|e| {
        InputError::at_line(
            &args.report,
            e.line(),
            format!("not a migration-check JSON report: {e}"),
        )
    })?;
    let context = ActionContext::from_process_env().ok();
    let token = context
        .as_ref()
        .and_then(|c| c.token.clone())
        .ok_or_else(|| {
            UsageError("set GITHUB_TOKEN (with pull-requests: write) to post the comment".into())
        })?;
    println!("{}", add_mask(token.expose()));
    scrub_credentials();
    let repository = match (
        &args.repo,
        context.as_ref().and_then(|c| c.repository.clone()),
    ) {
        (Some(repo), _) => repo
            .split_once('/')
            .map(|(o, r)| (o.to_string(), r.to_string()))
            .ok_or_else(|| UsageError(format!("--repo `{repo}`: write OWNER/NAME")))?,
        (None, Some(repository)) => repository,
        (None, None) => {
            return Err(
                UsageError("pass --repo OWNER/NAME (or set GITHUB_REPOSITORY)".into()).into(),
            );
        }
    };
    let number = args
        .pr
        .or_else(|| {
            context
                .as_ref()
                .and_then(|c| c.pull_request.as_ref().map(|p| p.number))
        })
        .ok_or_else(|| UsageError("pass --pr N: the pull request to comment on".into()))?;
    post_comment(
        &args.api_url,
        &token,
        &repository.0,
        &repository.1,
        number,
        &report,
        context.as_ref().and_then(blob_url),
    )
    .await
    .map_err(EnvironmentError::from)?;
    Ok(0)
}
