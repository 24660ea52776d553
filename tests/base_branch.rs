//! Issue #4's acceptance scenario end to end, on real git repositories made in
//! temporary directories: a PR branch edits one merged migration, renames
//! another, adds a new one and adds one with an old version. `verify --base
//! main` must exit 1, report modified / renamed / added / out_of_order for
//! those files and unchanged for the rest, and verify step by step only the new
//! and changed migrations; the same from a shallow single-branch clone.

mod common;
mod fake_github;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use common::write;

/// A repository whose `main` has three merged migrations and whose `feature`
/// branch changes them as the issue describes.
fn scenario() -> tempfile::TempDir {
    let repo = tempfile::Builder::new()
        .prefix("mc-git-")
        .tempdir_in("/tmp")
        .unwrap();
    let dir = repo.path();
    common::git(dir, &["init", "-q", "-b", "main"]);
    write(
        dir,
        "db/migrations/10_users.up.sql",
        "CREATE TABLE users (id int PRIMARY KEY);\n",
    );
    write(
        dir,
        "db/migrations/10_users.down.sql",
        "DROP TABLE users;\n",
    );
    write(
        dir,
        "db/migrations/20_posts.up.sql",
        "CREATE TABLE posts (id int PRIMARY KEY);\n",
    );
    write(
        dir,
        "db/migrations/20_posts.down.sql",
        "DROP TABLE posts;\n",
    );
    write(
        dir,
        "db/migrations/30_tags.up.sql",
        "CREATE TABLE tags (id int PRIMARY KEY);\n",
    );
    write(dir, "db/migrations/30_tags.down.sql", "DROP TABLE tags;\n");
    common::git(dir, &["add", "-A"]);
    common::git(dir, &["commit", "-q", "-m", "base"]);
    common::git(dir, &["checkout", "-q", "-b", "feature"]);
    // Edit a merged migration.
    write(
        dir,
        "db/migrations/20_posts.up.sql",
        "CREATE TABLE posts (id int PRIMARY KEY, title text);\n",
    );
    // Rename another (the pair together).
    common::git(
        dir,
        &[
            "mv",
            "db/migrations/30_tags.up.sql",
            "db/migrations/30_labels.up.sql",
        ],
    );
    common::git(
        dir,
        &[
            "mv",
            "db/migrations/30_tags.down.sql",
            "db/migrations/30_labels.down.sql",
        ],
    );
    // Add a new one, and one with an old version.
    write(
        dir,
        "db/migrations/40_comments.up.sql",
        "CREATE TABLE comments (id int PRIMARY KEY);\n",
    );
    write(
        dir,
        "db/migrations/40_comments.down.sql",
        "DROP TABLE comments;\n",
    );
    write(
        dir,
        "db/migrations/15_profiles.up.sql",
        "CREATE TABLE profiles (id int PRIMARY KEY);\n",
    );
    write(
        dir,
        "db/migrations/15_profiles.down.sql",
        "DROP TABLE profiles;\n",
    );
    common::git(dir, &["add", "-A"]);
    common::git(dir, &["commit", "-q", "-m", "feature"]);
    repo
}

fn verify_against_main(checkout: &Path, base: &str) -> (std::process::Output, Value) {
    let tmp = common::private_tmp();
    let output = Command::new(common::binary())
        .args(["verify", "db/migrations", "--base", base, "--json", "-"])
        .current_dir(checkout)
        .env("TMPDIR", tmp.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    common::assert_nothing_left(tmp.path());
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("no report: {}", String::from_utf8_lossy(&output.stderr)));
    (output, report)
}

fn assert_scenario_verdict(output: &std::process::Output, report: &Value) {
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let state_of = |path: &str| {
        report["checksums"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["path"] == path)
            .unwrap_or_else(|| panic!("no checksum entry for {path}: {report:#}"))["state"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(state_of("db/migrations/10_users.up.sql"), "unchanged");
    assert_eq!(state_of("db/migrations/10_users.down.sql"), "unchanged");
    assert_eq!(state_of("db/migrations/20_posts.up.sql"), "modified");
    assert_eq!(state_of("db/migrations/20_posts.down.sql"), "unchanged");
    assert_eq!(state_of("db/migrations/30_labels.up.sql"), "renamed");
    assert_eq!(state_of("db/migrations/30_labels.down.sql"), "renamed");
    assert_eq!(state_of("db/migrations/40_comments.up.sql"), "added");
    assert_eq!(state_of("db/migrations/15_profiles.up.sql"), "out_of_order");
    let renamed = report["checksums"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["state"] == "renamed")
        .unwrap();
    assert!(
        renamed["base_path"].as_str().unwrap().contains("30_tags"),
        "{renamed}"
    );
    assert!(renamed["base_sha256"] == renamed["head_sha256"]);

    // Only new and changed migrations are verified step by step.
    let status_of = |version: &str| {
        let m = report["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["version"] == version)
            .unwrap();
        (
            m["status"].as_str().unwrap().to_string(),
            m["new"].as_bool().unwrap(),
        )
    };
    assert_eq!(status_of("10"), ("applied".into(), false));
    assert_eq!(status_of("15"), ("passed".into(), true));
    assert_eq!(status_of("20"), ("passed".into(), true));
    assert_eq!(status_of("30"), ("applied".into(), false));
    assert_eq!(status_of("40"), ("passed".into(), true));

    // The gates: modified and out_of_order fail, renamed warns.
    let problems = report["problems"].as_array().unwrap();
    let severity = |kind: &str| {
        problems
            .iter()
            .filter(|p| p["kind"] == kind)
            .map(|p| p["severity"].as_str().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(severity("modified"), ["error"]);
    assert_eq!(severity("out_of_order"), ["error", "error"]);
    assert!(severity("renamed").iter().all(|s| *s == "warning") && !severity("renamed").is_empty());
    assert_eq!(report["passed"], false);
}

#[test]
fn pr_branch_against_main_in_a_full_clone() {
    let repo = scenario();
    let (output, report) = verify_against_main(repo.path(), "main");
    assert_scenario_verdict(&output, &report);
}

#[test]
fn pr_branch_against_main_from_a_shallow_single_branch_clone() {
    let origin = scenario();
    let clone = tempfile::Builder::new()
        .prefix("mc-clone-")
        .tempdir_in("/tmp")
        .unwrap();
    let url = format!("file://{}", origin.path().display());
    common::git(
        clone.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            "--single-branch",
            "--branch",
            "feature",
            &url,
            "work",
        ],
    );
    let work = clone.path().join("work");
    let (output, report) = verify_against_main(&work, "main");
    assert_scenario_verdict(&output, &report);
}

#[test]
fn gates_are_set_by_flags() {
    let repo = scenario();
    let tmp = common::private_tmp();
    let output = Command::new(common::binary())
        .args([
            "checksums",
            "db/migrations",
            "--base",
            "main",
            "--json",
            "-",
        ])
        .args([
            "--gate",
            "modified=warning",
            "--gate",
            "out_of_order=ignore",
        ])
        .current_dir(repo.path())
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["passed"], true);
    let kinds: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"modified") && !kinds.contains(&"out_of_order"),
        "{kinds:?}"
    );
}

#[test]
fn missing_base_ref_exits_3_with_the_fix() {
    let repo = scenario();
    let output = Command::new(common::binary())
        .args(["checksums", "db/migrations", "--base", "no-such-branch"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("fetch-depth: 0"), "{stderr}");
}

#[test]
fn stale_migrations_sum_fails_checksums_and_sum_rewrites_it() {
    let repo = scenario();
    let dir = repo.path().join("db/migrations");
    let run = |args: &[&str]| {
        Command::new(common::binary())
            .args(args)
            .current_dir(repo.path())
            .output()
            .unwrap()
    };
    assert_eq!(run(&["sum", "db/migrations"]).status.code(), Some(0));
    assert!(dir.join("migrations.sum").is_file());
    assert_eq!(run(&["checksums", "db/migrations"]).status.code(), Some(0));
    write(&dir, "50_more.up.sql", "SELECT 1;\n");
    let stale = run(&["checksums", "db/migrations"]);
    assert_eq!(stale.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&stale.stdout).contains("50_more.up.sql"));
    assert_eq!(run(&["sum", "db/migrations"]).status.code(), Some(0));
    assert_eq!(run(&["checksums", "db/migrations"]).status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_git_history_the_base_is_read_through_the_github_api() {
    // A checkout that has only the PR commit and no remote: git cannot fetch.
    let repo = tempfile::Builder::new()
        .prefix("mc-nohist-")
        .tempdir_in("/tmp")
        .unwrap();
    let dir = repo.path();
    write(
        dir,
        "db/migrations/10_users.up.sql",
        "CREATE TABLE users (id int PRIMARY KEY);\n",
    );
    write(
        dir,
        "db/migrations/10_users.down.sql",
        "DROP TABLE users;\n",
    );
    write(
        dir,
        "db/migrations/20_posts.up.sql",
        "CREATE TABLE posts (id int PRIMARY KEY, title text);\n",
    );
    write(
        dir,
        "db/migrations/20_posts.down.sql",
        "DROP TABLE posts;\n",
    );
    tokio::task::block_in_place(|| {
        common::git(dir, &["init", "-q", "-b", "feature"]);
        common::git(dir, &["add", "-A"]);
        common::git(dir, &["commit", "-q", "-m", "pr"]);
    });
    let fake = fake_github::FakeGitHub::start().await;
    fake.set_base_tree(
        "acme",
        "shop",
        "main",
        "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
        &[
            (
                "db/migrations/10_users.up.sql",
                b"CREATE TABLE users (id int PRIMARY KEY);\n",
            ),
            ("db/migrations/10_users.down.sql", b"DROP TABLE users;\n"),
            (
                "db/migrations/20_posts.up.sql",
                b"CREATE TABLE posts (id int PRIMARY KEY);\n",
            ),
            ("db/migrations/20_posts.down.sql", b"DROP TABLE posts;\n"),
            ("README.md", b"not a migration\n"),
        ],
    );
    let output = tokio::task::block_in_place(|| {
        Command::new(common::binary())
            .args([
                "checksums",
                "db/migrations",
                "--base",
                "main",
                "--json",
                "-",
            ])
            .current_dir(dir)
            .env("GITHUB_TOKEN", fake_github::TOKEN)
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("GITHUB_API_URL", fake.api_url())
            .env_remove("GITHUB_SHA")
            .output()
            .unwrap()
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("{stderr}"));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let states: Vec<(String, String)> = report["checksums"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_string(),
                e["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        states.contains(&("db/migrations/20_posts.up.sql".into(), "modified".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&("db/migrations/10_users.up.sql".into(), "unchanged".into())),
        "{states:?}"
    );
    assert!(
        stderr.contains("github api"),
        "the terminal says how the base was read: {stderr}"
    );
    assert!(
        !stderr.contains(fake_github::TOKEN)
            && !String::from_utf8_lossy(&output.stdout).contains(fake_github::TOKEN)
    );

    // Without a token there is no fallback: exit 3 with the fix.
    let output = tokio::task::block_in_place(|| {
        Command::new(common::binary())
            .args(["checksums", "db/migrations", "--base", "main"])
            .current_dir(dir)
            .env_remove("GITHUB_TOKEN")
            .output()
            .unwrap()
    });
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("fetch-depth: 0"));
}

/// Flyway re-applies a repeatable migration whenever it changes: an edited `R__` file is
/// verified (applied twice) and never gated as a modified merged migration, while an edited
/// versioned file still is.
#[test]
fn an_edited_flyway_repeatable_is_verified_not_gated() {
    let repo = tempfile::Builder::new()
        .prefix("mc-git-")
        .tempdir_in("/tmp")
        .unwrap();
    let dir = repo.path();
    common::git(dir, &["init", "-q", "-b", "main"]);
    write(
        dir,
        "sql/V1__users.sql",
        "CREATE TABLE users (id int PRIMARY KEY, name text);\n",
    );
    write(
        dir,
        "sql/R__user_names.sql",
        "CREATE OR REPLACE VIEW user_names AS SELECT name FROM users;\n",
    );
    common::git(dir, &["add", "-A"]);
    common::git(dir, &["commit", "-q", "-m", "base"]);
    common::git(dir, &["checkout", "-q", "-b", "feature"]);
    write(
        dir,
        "sql/R__user_names.sql",
        "CREATE OR REPLACE VIEW user_names AS SELECT name, id FROM users;\n",
    );
    common::git(dir, &["commit", "-q", "-am", "widen the view"]);

    let (output, report) = common::verify(&dir.join("sql"), &["--base", "main"]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(report["format"], "flyway");
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let repeatable = &report["migrations"][1];
    assert_eq!(repeatable["version"], "R__user_names");
    assert_eq!(repeatable["new"], true, "{report:#}");
    assert_eq!(repeatable["status"], "passed");
    assert!(
        repeatable["notes"].to_string().contains("applied twice"),
        "{report:#}"
    );
    assert_eq!(report["migrations"][0]["new"], false);

    // An edited versioned migration is still a modified merged migration.
    write(
        dir,
        "sql/V1__users.sql",
        "CREATE TABLE users (id bigint PRIMARY KEY, name text);\n",
    );
    common::git(dir, &["commit", "-q", "-am", "edit V1"]);
    let (output, report) = common::verify(&dir.join("sql"), &["--base", "main"]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let kinds: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["modified"], "{report:#}");
}

/// A pull request is judged on what it adds: a merged migration without a down, in a
/// project that writes downs, is the history's (one run note), not an error of every pull
/// request; the new migration with its down passes, and the run exits 0. `--all` still
/// judges the history (issue #26).
#[test]
fn a_merged_migration_without_down_does_not_fail_a_pull_request() {
    let repo = tempfile::Builder::new()
        .prefix("mc-git-")
        .tempdir_in("/tmp")
        .unwrap();
    let dir = repo.path();
    common::git(dir, &["init", "-q", "-b", "main"]);
    for (name, sql) in [
        (
            "1_users.up.sql",
            "CREATE TABLE users (id int PRIMARY KEY);\n",
        ),
        ("1_users.down.sql", "DROP TABLE users;\n"),
        ("2_backfill.up.sql", "INSERT INTO users VALUES (1);\n"),
        (
            "3_posts.up.sql",
            "CREATE TABLE posts (id int PRIMARY KEY);\n",
        ),
        ("3_posts.down.sql", "DROP TABLE posts;\n"),
    ] {
        write(dir, &format!("db/migrations/{name}"), sql);
    }
    common::git(dir, &["add", "-A"]);
    common::git(dir, &["commit", "-q", "-m", "base"]);
    common::git(dir, &["checkout", "-q", "-b", "feature"]);
    write(
        dir,
        "db/migrations/4_tags.up.sql",
        "CREATE TABLE tags (id int PRIMARY KEY);\n",
    );
    write(dir, "db/migrations/4_tags.down.sql", "DROP TABLE tags;\n");
    common::git(dir, &["add", "-A"]);
    common::git(dir, &["commit", "-q", "-m", "tags"]);

    let (output, report) = verify_against_main(dir, "main");
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let merged = &report["migrations"][1];
    assert_eq!(merged["new"], false);
    assert_eq!(merged["problems"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["migrations"][3]["status"], "passed");
    assert!(
        report["notes"]
            .to_string()
            .contains("1 merged migration(s) have no down script"),
        "{report:#}"
    );

    // The whole history: the missing down is an error where the project writes downs.
    let (output, report) = common::verify(&dir.join("db/migrations"), &["--all"]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    assert_eq!(report["migrations"][1]["problems"][0]["severity"], "error");
}
