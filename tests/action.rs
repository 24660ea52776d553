//! `migration-check action` run as the GitHub runner runs it: a real event
//! payload, a real git repository as the workspace, INPUT_* and GITHUB_*
//! variables, and the local fake GitHub over real HTTP. Issue #5's acceptance:
//! a PR whose new migration's down forgets an index fails with exactly one
//! comment naming the migration, "not reversible" and the index, an ::error
//! annotation on that migration's file, a job summary and passed=false; after
//! the fix it passes and updates the same comment; with a read-only token it
//! still exits by the verdict and warns; the token appears nowhere.

mod common;
mod fake_github;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use fake_github::{FakeGitHub, Fault, Route, TOKEN};

const OWNER: &str = "acme";
const REPO: &str = "shop";
const PR: u64 = 7;

struct Workspace {
    repo: tempfile::TempDir,
    spy: tempfile::TempDir,
}

/// main has migration 1; the PR branch adds migration 2 whose down forgets
/// an index, and whose up dumps the environment PostgreSQL gives it.
fn workspace() -> Workspace {
    let repo = tempfile::Builder::new()
        .prefix("mc-ws-")
        .tempdir_in("/tmp")
        .unwrap();
    let spy = tempfile::Builder::new()
        .prefix("mc-spy-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(spy.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let dir = repo.path();
    let migrations = dir.join("migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(
        migrations.join("1_users.up.sql"),
        "CREATE TABLE users (id int PRIMARY KEY, email text);\n",
    )
    .unwrap();
    std::fs::write(migrations.join("1_users.down.sql"), "DROP TABLE users;\n").unwrap();
    common::git(dir, &["init", "-q", "-b", "main"]);
    common::git(dir, &["add", "-A"]);
    common::git(dir, &["commit", "-q", "-m", "base"]);
    common::git(dir, &["checkout", "-q", "-b", "feature"]);
    let dump = spy.path().join("env.txt");
    std::fs::write(
        migrations.join("2_email_index.up.sql"),
        format!(
            "COPY (SELECT 1) TO PROGRAM 'env > {0}; for p in /proc/[0-9]*; do cat $p/environ; done >> {0} 2>/dev/null; true';\n\
             CREATE INDEX users_email_lower_idx ON users (lower(email));\n\
             ALTER TABLE users ADD COLUMN nickname text;\n",
            dump.display()
        ),
    )
    .unwrap();
    std::fs::write(
        migrations.join("2_email_index.down.sql"),
        "ALTER TABLE users DROP COLUMN nickname;\n",
    )
    .unwrap();
    common::git(dir, &["add", "-A"]);
    common::git(dir, &["commit", "-q", "-m", "add index"]);
    Workspace { repo, spy }
}

fn event_payload(dir: &Path) -> std::path::PathBuf {
    let event = serde_json::json!({
        "action": "synchronize",
        "number": PR,
        "pull_request": {
            "number": PR,
            "base": { "ref": "main", "sha": "0000000000000000000000000000000000000001",
                      "repo": { "full_name": format!("{OWNER}/{REPO}") } },
            "head": { "ref": "feature", "sha": "0000000000000000000000000000000000000002",
                      "repo": { "full_name": format!("{OWNER}/{REPO}") } }
        },
        "repository": { "full_name": format!("{OWNER}/{REPO}") }
    });
    let path = dir.join("event.json");
    std::fs::write(&path, event.to_string()).unwrap();
    path
}

struct Run {
    output: Output,
    summary: String,
    outputs: String,
    report: String,
}

fn run_action(ws: &Workspace, fake: &FakeGitHub, token: &str) -> Run {
    run_action_with(ws, fake, token, &[])
}

/// [`run_action`] with more environment: Action inputs (`INPUT_IRREVERSIBLE`, ...).
fn run_action_with(ws: &Workspace, fake: &FakeGitHub, token: &str, extra: &[(&str, &str)]) -> Run {
    let files = tempfile::tempdir().unwrap();
    let (summary, outputs) = (
        files.path().join("summary.md"),
        files.path().join("outputs"),
    );
    let tmp = common::private_tmp();
    let output = Command::new(common::binary())
        .arg("action")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("TMPDIR", tmp.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", event_payload(files.path()))
        .env("GITHUB_REPOSITORY", format!("{OWNER}/{REPO}"))
        .env("GITHUB_API_URL", fake.api_url())
        .env("GITHUB_WORKSPACE", ws.repo.path())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .env("INPUT_PATH", "migrations")
        .env("INPUT_POSTGRES", "embedded")
        .env("INPUT_BASE-REF", "main")
        .env("INPUT_COMMENT", "true")
        .env("INPUT_GITHUB-TOKEN", token)
        .env("GITHUB_TOKEN", token)
        .envs(extra.iter().copied())
        .output()
        .unwrap();
    common::assert_nothing_left(tmp.path());
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    Run {
        summary: read(&summary),
        outputs: read(&outputs),
        report: read(&ws.repo.path().join("migration-check-report.json")),
        output,
    }
}

fn assert_token_nowhere(run: &Run, ws: &Workspace, fake: &FakeGitHub, token: &str) {
    let stdout = String::from_utf8_lossy(&run.output.stdout);
    // The mask command is the one place the runner must see it.
    let stdout_without_mask: String = stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        stdout.contains(&format!("::add-mask::{token}")),
        "the token is masked first"
    );
    assert!(
        stdout
            .lines()
            .next()
            .unwrap_or("")
            .starts_with("::add-mask::"),
        "masking comes before any output"
    );
    let env_dump = std::fs::read_to_string(ws.spy.path().join("env.txt")).unwrap_or_default();
    assert!(!env_dump.is_empty(), "the spying migration ran");
    let comments: String = fake
        .comments(OWNER, REPO, PR)
        .iter()
        .map(|c| c.body.clone())
        .collect();
    for (place, text) in [
        ("stdout", stdout_without_mask),
        (
            "stderr",
            String::from_utf8_lossy(&run.output.stderr).into_owned(),
        ),
        ("summary", run.summary.clone()),
        ("outputs", run.outputs.clone()),
        ("report", run.report.clone()),
        ("comment", comments),
        ("migration environment", env_dump),
    ] {
        assert!(!text.contains(token), "the token leaked into the {place}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_pr_then_fix_then_read_only_token() {
    let fake = FakeGitHub::start().await;
    fake.seed_comments(OWNER, REPO, PR, 120);
    let ws = workspace();

    // 1. The down forgets the index: exit 1, one comment, annotation, summary, outputs.
    let run = tokio::task::block_in_place(|| run_action(&ws, &fake, TOKEN));
    let stdout = String::from_utf8_lossy(&run.output.stdout).into_owned();
    assert_eq!(
        run.output.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.output.stderr)
    );
    let ours = fake.comments_with(OWNER, REPO, PR, "migration-check:migrations");
    assert_eq!(ours.len(), 1, "exactly one sticky comment");
    let body = &ours[0].body;
    assert!(
        body.contains("email\\_index") || body.contains("email_index"),
        "{body}"
    );
    assert!(body.contains("not reversible"), "{body}");
    assert!(
        body.contains("users_email_lower_idx") || body.contains("users\\_email\\_lower\\_idx"),
        "{body}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("::error file=migrations/2_email_index.down.sql")),
        "annotation on the down script: {stdout}"
    );
    assert!(
        run.summary.contains("migration-check failed"),
        "{}",
        run.summary
    );
    assert!(
        run.outputs.contains("passed<<") && run.outputs.contains("\nfalse\n"),
        "{}",
        run.outputs
    );
    assert!(run.outputs.contains("new-migrations<<"), "{}", run.outputs);
    assert_token_nowhere(&run, &ws, &fake, TOKEN);
    let first_id = ours[0].id;
    // The cache lives in the workspace (all the container may write) and holds the state
    // after the merged migration 1 for the next run.
    let bases = ws.repo.path().join(".migration-check-cache/bases");
    let stored = std::fs::read_dir(&bases)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .count();
    assert_eq!(stored, 1, "{}", bases.display());

    // 2. Fix the down: exit 0, the same comment updated in place.
    std::fs::write(
        ws.repo.path().join("migrations/2_email_index.down.sql"),
        "ALTER TABLE users DROP COLUMN nickname;\nDROP INDEX users_email_lower_idx;\n",
    )
    .unwrap();
    common::git(ws.repo.path(), &["commit", "-q", "-am", "fix down"]);
    let run = tokio::task::block_in_place(|| run_action(&ws, &fake, TOKEN));
    assert_eq!(
        run.output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.output.stdout)
    );
    let ours = fake.comments_with(OWNER, REPO, PR, "migration-check:migrations");
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].id, first_id, "updated in place");
    assert!(
        run.report
            .contains("applied from the cached base state of the merged history"),
        "the second run started from the cached base state: {}",
        run.report
    );
    assert!(
        ours[0].body.contains("migration-check passed"),
        "{}",
        ours[0].body
    );
    assert!(run.outputs.contains("\ntrue\n"), "{}", run.outputs);

    // 3. A read-only token (every fork PR gets one): verdict decides, a warning says why.
    fake.fail_next(Route::ListComments, 10, Fault::ReadOnly);
    let run = tokio::task::block_in_place(|| run_action(&ws, &fake, TOKEN));
    let stdout = String::from_utf8_lossy(&run.output.stdout).into_owned();
    assert_eq!(run.output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("::warning") && l.contains("could not comment")),
        "{stdout}"
    );
    assert!(run.summary.contains("migration-check passed"));
    assert_token_nowhere(&run, &ws, &fake, TOKEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comment_command_posts_a_saved_report() {
    let fake = FakeGitHub::start().await;
    let ws = workspace();
    let run = tokio::task::block_in_place(|| run_action(&ws, &fake, TOKEN));
    assert_eq!(run.output.status.code(), Some(1));
    let other_pr = PR + 1;
    let report = ws.repo.path().join("migration-check-report.json");
    let output = tokio::task::block_in_place(|| {
        Command::new(common::binary())
            .args(["comment", "--report"])
            .arg(&report)
            .args([
                "--repo",
                &format!("{OWNER}/{REPO}"),
                "--pr",
                &other_pr.to_string(),
            ])
            .args(["--api-url", &fake.api_url()])
            .env_clear()
            .env("GITHUB_TOKEN", TOKEN)
            .output()
            .unwrap()
    });
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ours = fake.comments_with(OWNER, REPO, other_pr, "migration-check:migrations");
    assert_eq!(ours.len(), 1);
    assert!(ours[0].body.contains("not reversible"));
    // A refused write is an environment failure for this command.
    fake.fail_next(Route::ListComments, 10, Fault::ReadOnly);
    let output = tokio::task::block_in_place(|| {
        Command::new(common::binary())
            .args(["comment", "--report"])
            .arg(&report)
            .args([
                "--repo",
                &format!("{OWNER}/{REPO}"),
                "--pr",
                "9",
                "--api-url",
                &fake.api_url(),
            ])
            .env_clear()
            .env("GITHUB_TOKEN", TOKEN)
            .output()
            .unwrap()
    });
    assert_eq!(output.status.code(), Some(3));
    assert!(!String::from_utf8_lossy(&output.stderr).contains(TOKEN));
}

/// The comment draws the schema change as a Mermaid diagram and lists it in full; the
/// `irreversible` input decides what a migration without down is (by default an error in
/// a project whose migrations have downs); a bad value is exit 2 naming the input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_comment_shows_the_schema_change_and_the_irreversible_input_is_honoured() {
    let fake = FakeGitHub::start().await;
    let ws = workspace();
    let migrations = ws.repo.path().join("migrations");
    std::fs::write(
        migrations.join("2_email_index.down.sql"),
        "ALTER TABLE users DROP COLUMN nickname;\nDROP INDEX users_email_lower_idx;\n",
    )
    .unwrap();
    std::fs::write(
        migrations.join("3_orders.sql"),
        "CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users (id));\n",
    )
    .unwrap();
    common::git(ws.repo.path(), &["add", "-A"]);
    common::git(
        ws.repo.path(),
        &["commit", "-q", "-m", "orders without down"],
    );

    let run = tokio::task::block_in_place(|| run_action(&ws, &fake, TOKEN));
    let stdout = String::from_utf8_lossy(&run.output.stdout).into_owned();
    assert_eq!(run.output.status.code(), Some(1), "{stdout}");
    let ours = fake.comments_with(OWNER, REPO, PR, "migration-check:migrations");
    let body = &ours[0].body;
    for needle in [
        "irreversible",
        "writes downs",
        "```mermaid\nerDiagram\n",
        "t0[\"+ public.orders\"]:::added",
        "+ table public.orders",
        "+     user_id  integer not null",
    ] {
        assert!(body.contains(needle), "{needle:?} missing from:\n{body}");
    }

    let run = tokio::task::block_in_place(|| {
        run_action_with(&ws, &fake, TOKEN, &[("INPUT_IRREVERSIBLE", "warning")])
    });
    let stdout = String::from_utf8_lossy(&run.output.stdout).into_owned();
    assert_eq!(run.output.status.code(), Some(0), "{stdout}");

    let run = tokio::task::block_in_place(|| {
        run_action_with(&ws, &fake, TOKEN, &[("INPUT_IRREVERSIBLE", "never")])
    });
    assert_eq!(run.output.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&run.output.stdout).into_owned();
    let stderr = common::stderr(&run.output);
    assert!(
        format!("{stdout}{stderr}").contains("input `irreversible`"),
        "{stdout}{stderr}"
    );
}
