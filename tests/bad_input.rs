//! Bad input exits 2 with a message naming the file (and line), before any
//! PostgreSQL is started: nothing is created or left behind.

mod common;

use std::os::unix::fs::PermissionsExt;

fn expect_input_error(dir: &std::path::Path, extra: &[&str], needles: &[&str]) {
    let tmp = common::private_tmp();
    let output = common::command(tmp.path())
        .arg("verify")
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    let stderr = common::stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "stderr lacks {needle:?}: {stderr}");
    }
    assert!(output.stdout.is_empty(), "no report on bad input");
    common::assert_nothing_left(tmp.path());
}

#[test]
fn duplicate_version() {
    let dir = common::migrations_dir(&[
        ("1_a.up.sql", "SELECT 1;"),
        ("1_a.down.sql", "SELECT 1;"),
        ("01_b.up.sql", "SELECT 1;"),
        ("01_b.down.sql", "SELECT 1;"),
    ]);
    expect_input_error(dir.path(), &[], &["duplicate version 1", "1_a.", "01_b."]);
}

#[test]
fn down_without_up() {
    // sqlx never runs a down whose up is gone (zksync-era keeps one): a warning naming it,
    // and the rest of the directory is verified.
    let dir = common::migrations_dir(&[("1_a.up.sql", "SELECT 1;"), ("2_b.down.sql", "SELECT 1;")]);
    let (output, report) = common::verify(dir.path(), &[]);
    let stderr = common::stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("2_b.down.sql: down script without an up script of its version"),
        "{stderr}"
    );
    let report = report.unwrap();
    assert_eq!(
        report["migrations"].as_array().unwrap().len(),
        1,
        "{report:#}"
    );
}

#[test]
fn file_that_is_not_utf8_names_its_line() {
    let dir = common::migrations_dir(&[("1_a.down.sql", "SELECT 1;")]);
    std::fs::write(
        dir.path().join("1_a.up.sql"),
        b"SELECT 1;\nSELECT 'caf\xe9';\n",
    )
    .unwrap();
    expect_input_error(dir.path(), &[], &["1_a.up.sql:2", "UTF-8"]);
}

#[test]
fn dbmate_file_without_up_directive() {
    let dir = common::migrations_dir(&[
        (
            "20240101_a.sql",
            "-- migrate:up\nCREATE TABLE a();\n-- migrate:down\nDROP TABLE a;\n",
        ),
        (
            "20240102_b.sql",
            "CREATE TABLE b();\n-- migrate:down\nDROP TABLE b;\n",
        ),
    ]);
    expect_input_error(dir.path(), &[], &["20240102_b.sql", "migrate:up"]);
}

#[test]
fn two_layouts_mixed() {
    let dir = common::migrations_dir(&[
        ("1_a.up.sql", "SELECT 1;"),
        ("1_a.down.sql", "SELECT 1;"),
        ("2024-01-01-000000_b/up.sql", "SELECT 1;"),
        ("2024-01-01-000000_b/down.sql", "SELECT 1;"),
    ]);
    expect_input_error(
        dir.path(),
        &[],
        &[
            "two migration layouts in one directory",
            "--format sqlx or --format diesel",
        ],
    );
}

#[test]
fn empty_and_missing_directories() {
    let empty = tempfile::tempdir().unwrap();
    expect_input_error(empty.path(), &[], &["no migrations found"]);
    expect_input_error(
        std::path::Path::new("/nonexistent/migrations"),
        &[],
        &["/nonexistent/migrations", "not found"],
    );
}

#[test]
fn unreadable_file_as_an_unprivileged_user() {
    let dir = common::migrations_dir(&[("1_a.up.sql", "SELECT 1;"), ("1_a.down.sql", "SELECT 1;")]);
    let file = dir.path().join("1_a.up.sql");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&file).is_ok() && !nix::unistd::Uid::effective().is_root() {
        return; // a filesystem that ignores permissions
    }
    if nix::unistd::Uid::effective().is_root() {
        // Root reads anything: prove the message through a dangling symlink instead.
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink("/nonexistent/target.sql", &file).unwrap();
    }
    expect_input_error(dir.path(), &[], &["1_a.up.sql", "cannot read"]);
}

#[test]
fn unknown_format_and_bad_flags_are_usage_errors() {
    let dir = common::root().join("tests/fixtures/status/passed");
    expect_input_error(
        &dir,
        &["--format", "liquibase"],
        &["unknown format `liquibase`"],
    );
    expect_input_error(
        &dir,
        &["--statement-timeout", "forever"],
        &["--statement-timeout"],
    );
}

/// A goose, sql-migrate or node-pg-migrate directory is never read as sqlx
/// simple files (whose down section would run as part of the up): exit 2 at
/// the marker, auto-detected or not.
#[test]
fn another_tools_file_is_never_read_as_sqlx() {
    for (tool, file, text, line) in [
        (
            "goose",
            "20240101120000_users.sql",
            "-- +goose Up\nCREATE TABLE users (id int);\n\n-- +goose Down\nDROP TABLE users;\n",
            1,
        ),
        (
            "sql-migrate",
            "1_users.sql",
            "-- a comment\n-- +migrate Up\nCREATE TABLE users (id int);\n-- +migrate Down\nDROP TABLE users;\n",
            2,
        ),
        (
            "node-pg-migrate",
            "1700000000000_users.sql",
            "-- Up Migration\nCREATE TABLE users (id int);\n-- Down Migration\nDROP TABLE users;\n",
            1,
        ),
    ] {
        let dir = common::migrations_dir(&[(file, text)]);
        let at = format!("{file}:{line}");
        let needle = format!("{tool} migration (its annotation is on this line) in a sqlx");
        expect_input_error(
            dir.path(),
            &["--format", "sqlx"],
            &[&at, &needle, "--format"],
        );
    }
}
