//! Conformance of every migration format, on a real PostgreSQL: each directory under
//! `tests/fixtures/formats/<format>[--<case>]/` with an `expected.json` is verified and
//! checked against it, and each directory under `tests/fixtures/bad_formats/<format>--<case>/`
//! must be refused with exit 2 at the file and line its `expected.json` names.
//!
//! `expected.json` of a conformance fixture:
//! `{"format": "goose", "dir": "migrations" (optional, relative to the fixture),
//!   "detect": true (default: run without --format and expect the format detected),
//!   "args": [..] (optional), "migrations": [{"version", "status", "file", "line",
//!   "message_contains"}], "problems_contain": [..] (optional)}`. A
//! `migration-check.toml` in the fixture is passed with `--config`.
//!
//! `expected.json` of a bad-input fixture: `{"format": "goose" | null (auto-detect),
//!   "dir": (optional), "file": "path relative to the fixture" | null, "line": N | null,
//!   "message_contains": ".."}`.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The fixture directories of `kind` for `format` (`goose`, `goose--envsub`, ...).
fn fixtures(kind: &str, format: &str) -> Vec<PathBuf> {
    let root = common::root().join("tests/fixtures").join(kind);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().unwrap().to_string_lossy().into_owned();
                    (name == format || name.starts_with(&format!("{format}--")))
                        && p.join("expected.json").is_file()
                })
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

fn expected(fixture: &Path) -> Value {
    let text = std::fs::read_to_string(fixture.join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", fixture.display()))
}

fn conformance(format: &str) {
    let fixtures = fixtures("formats", format);
    assert!(!fixtures.is_empty(), "no conformance fixture for {format}");
    for fixture in fixtures {
        let expected = expected(&fixture);
        let detect = expected["detect"].as_bool().unwrap_or(true);
        let (dir, args) = common::format_fixture_args(&fixture, &expected, detect);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (output, report) = common::verify(&dir, &args);
        if let Some(report) = &report {
            assert_eq!(
                report["format"],
                expected["format"],
                "{}: {report:#}",
                fixture.display()
            );
        }
        if let Some(report) = &report {
            sum_covers_every_file(&fixture, &expected, report);
        }
        common::check_expected(&fixture, &expected, &output, report);
    }
}

/// `migration-check sum` on a copy of the fixture lists exactly the files of the report's
/// migrations: the checksum comparison and discovery agree on what a migration file is.
fn sum_covers_every_file(fixture: &Path, expected: &Value, report: &Value) {
    let copy = tempfile::tempdir().unwrap();
    common::copy_dir(fixture, &copy.path().join("fixture"));
    let copied = copy.path().join("fixture");
    let (dir, args) = common::format_fixture_args(&copied, expected, false);
    let tmp = common::private_tmp();
    let output = common::command(tmp.path())
        .arg("sum")
        .arg(&dir)
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let sum = std::fs::read_to_string(dir.join("migrations.sum")).unwrap();
    let mut listed: Vec<String> = sum
        .lines()
        .skip(2)
        .filter_map(|line| line.rsplit_once(' ').map(|(path, _)| path.to_string()))
        .collect();
    listed.sort();
    let original_dir = match expected["dir"].as_str() {
        Some(rel) => fixture.join(rel),
        None => fixture.to_path_buf(),
    };
    let mut files: Vec<String> = report["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["files"].as_array().unwrap().iter())
        .map(|f| {
            Path::new(f.as_str().unwrap())
                .strip_prefix(&original_dir)
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    files.sort();
    assert_eq!(
        listed,
        files,
        "{}: migrations.sum vs the report's files",
        fixture.display()
    );
}

fn bad_inputs(format: &str) {
    for fixture in fixtures("bad_formats", format) {
        let expected = expected(&fixture);
        let (dir, args) = common::format_fixture_args(&fixture, &expected, false);
        let tmp = common::private_tmp();
        let output = common::command(tmp.path())
            .arg("verify")
            .arg(&dir)
            .args(&args)
            .output()
            .unwrap();
        let stderr = common::stderr(&output);
        let name = fixture.display();
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(output.stdout.is_empty(), "{name}: no report on bad input");
        if let Some(file) = expected["file"].as_str() {
            let mut at = fixture.join(file).display().to_string();
            if let Some(line) = expected["line"].as_u64() {
                at = format!("{at}:{line}:");
            }
            assert!(
                stderr.contains(&at),
                "{name}: stderr lacks {at:?}: {stderr}"
            );
        }
        let needle = expected["message_contains"].as_str().unwrap();
        assert!(
            stderr.contains(needle),
            "{name}: stderr lacks {needle:?}: {stderr}"
        );
        common::assert_nothing_left(tmp.path());
    }
}

macro_rules! formats {
    ($($test:ident => $format:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                conformance($format);
                bad_inputs($format);
            }
        )*
    };
}

formats!(
    goose => "goose",
    flyway => "flyway",
    prisma => "prisma",
    sql_migrate => "sql-migrate",
    node_pg_migrate => "node-pg-migrate",
    atlas => "atlas",
    hasura => "hasura",
    supabase => "supabase",
    pop => "pop",
    pattern => "pattern",
    refinery => "refinery",
    drizzle => "drizzle",
);

/// The README's formats table has a row for every format the binary knows.
#[test]
fn readme_lists_every_format() {
    let output = std::process::Command::new(common::binary())
        .arg("formats")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let listing = String::from_utf8(output.stdout).unwrap();
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let names: Vec<&str> = listing
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with(' ') && !line.contains(':'))
        .collect();
    assert!(names.len() >= 12, "{listing}");
    for name in names {
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "README's formats table lacks {name}"
        );
    }
}

/// An `atlas.sum` beside migrations of another format is checked too: a stale one fails the
/// run with an `atlas_sum` problem naming the file at fault.
#[test]
fn a_stale_atlas_sum_beside_golang_migrate_fails_the_run() {
    let dir = common::migrations_dir(&[
        ("1_users.up.sql", "CREATE TABLE users (id int);\n"),
        ("1_users.down.sql", "DROP TABLE users;\n"),
        (
            "atlas.sum",
            "h1:2xa2ITpRzGT1GGzfBEjWmsvwNyVF+2R9QbWqWnnUqL4=\n\
             1_users.down.sql h1:hc7hJEYeMmyLT/5qO2VeUeTJSpUVDuB/eDbDOzhjvls=\n\
             1_users.up.sql h1:Vtt1CXX6NWeYd4sU2G4vv2AXm1EFzckwM8yU8uMNq8E=\n",
        ),
    ]);
    let (output, report) = common::verify(dir.path(), &["--format", "golang-migrate"]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    assert_eq!(report["format"], "golang-migrate");
    let problem = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "atlas_sum")
        .unwrap_or_else(|| panic!("no atlas_sum problem: {report:#}"));
    assert_eq!(problem["severity"], "error");
    assert!(
        problem["file"].as_str().unwrap().ends_with(".sql")
            || problem["file"].as_str().unwrap().ends_with("atlas.sum"),
        "{problem:#}"
    );
}
