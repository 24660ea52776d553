//! Every verdict of the JSON contract, produced by real migrations on a real
//! PostgreSQL: each fixture under tests/fixtures/status carries the expected
//! statuses, file, line and message in its expected.json. A migration's
//! `status` there holds on every major except those its `versions` map names
//! (`{"13": "failed_up"}`); see `expected_status`.

mod common;

use std::path::Path;

use serde_json::Value;

fn check_fixture(name: &str) {
    let dir = common::root().join("tests/fixtures/status").join(name);
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let (output, report) = common::verify(&dir, &["--statement-timeout", "2s"]);
    let report =
        report.unwrap_or_else(|| panic!("no JSON report; stderr:\n{}", common::stderr(&output)));
    // Every throwaway database was dropped, also after a migration dropped or
    // renamed the `postgres` database the maintenance connection prefers.
    assert!(
        !common::stderr(&output).contains("could not drop"),
        "{}",
        common::stderr(&output)
    );
    let migrations = report["migrations"].as_array().unwrap();
    let wanted = expected["migrations"].as_array().unwrap();
    assert_eq!(migrations.len(), wanted.len(), "{report:#}");
    let major = common::server_major(&report);
    let mut all_ok = true;
    for (got, want) in migrations.iter().zip(wanted) {
        assert_eq!(got["version"], want["version"], "{report:#}");
        let status = common::expected_status(want, major);
        assert_eq!(
            got["status"], status,
            "version {} on PostgreSQL {major}: {report:#}",
            want["version"]
        );
        all_ok &= matches!(status, "passed" | "applied" | "irreversible");
        if status != want["status"] {
            continue;
        }
        let problems = got["problems"].as_array().unwrap();
        if let Some(file) = want.get("file").and_then(Value::as_str) {
            let path = Path::new(&dir).join(file).display().to_string();
            assert!(
                problems
                    .iter()
                    .any(|p| p["file"].as_str() == Some(path.as_str())
                        && want.get("line").is_none_or(|line| &p["line"] == line)),
                "version {}: no problem at {path}:{}: {problems:#?}",
                want["version"],
                want["line"]
            );
        }
        if let Some(needle) = want.get("message_contains").and_then(Value::as_str) {
            assert!(
                problems
                    .iter()
                    .any(|p| p["message"].as_str().unwrap().contains(needle)),
                "version {}: no message contains {needle:?}: {problems:#?}",
                want["version"]
            );
        }
    }
    for needle in expected["problems_contain"].as_array().unwrap() {
        let needle = needle.as_str().unwrap();
        assert!(
            report.to_string().contains(needle),
            "report does not mention {needle}: {report:#}"
        );
    }
    assert_eq!(report["passed"], all_ok);
    assert_eq!(
        output.status.code(),
        Some(if all_ok { 0 } else { 1 }),
        "{}",
        common::stderr(&output)
    );
}

macro_rules! fixture_tests {
    ($($name:ident),* $(,)?) => {
        $( #[test] fn $name() { check_fixture(stringify!($name)); } )*
    };
}

fixture_tests!(
    passed,
    failed_up,
    failed_down,
    not_reversible,
    not_reapplicable,
    irreversible,
    skipped,
    empty_down,
    hanging,
    own_transaction,
    non_transactional,
    leftovers,
    terminates_connections,
    differs_by_version,
);

#[test]
fn markdown_report_is_written_next_to_json() {
    let dir = common::root().join("tests/fixtures/status/not_reversible");
    let out = tempfile::tempdir().unwrap();
    let markdown = out.path().join("report.md");
    let (output, report) = common::verify(&dir, &["--markdown", markdown.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(report.is_some());
    let text = std::fs::read_to_string(&markdown).unwrap();
    assert!(text.contains("migration-check failed"), "{text}");
    assert!(
        text.contains("users\\_email\\_lower\\_idx") || text.contains("users_email_lower_idx"),
        "{text}"
    );
}

#[test]
fn every_format_fixture_passes() {
    for format in ["sqlx", "golang-migrate", "diesel", "dbmate"] {
        let dir = common::root().join("tests/fixtures/formats").join(format);
        let (output, report) = common::verify(&dir, &["--format", format]);
        let report = report.unwrap_or_else(|| panic!("{format}: {}", common::stderr(&output)));
        assert_eq!(report["passed"], true, "{format}: {report:#}");
        assert_eq!(report["format"], format);
        assert_eq!(
            report["sequence"]["status"], "passed",
            "{format}: {report:#}"
        );
        assert!(
            report["migrations"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["status"] == "passed"),
            "{report:#}"
        );
        assert_eq!(output.status.code(), Some(0));
    }
}

#[test]
fn auto_detection_reads_each_layout() {
    for (format, detected) in [("sqlx", "sqlx"), ("diesel", "diesel"), ("dbmate", "dbmate")] {
        let dir = common::root().join("tests/fixtures/formats").join(format);
        let (output, report) = common::verify(&dir, &[]);
        let report = report.unwrap_or_else(|| panic!("{format}: {}", common::stderr(&output)));
        assert_eq!(report["format"], detected);
        assert_eq!(report["passed"], true, "{report:#}");
    }
}

#[test]
fn shipped_sample_migrations_pass_with_a_sequence_cycle() {
    let (output, report) = common::verify(&common::root().join("migrations"), &[]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["sequence"]["status"], "passed");
    assert_eq!(report["postgres"]["backend"], "embedded");
    assert!(
        report["postgres"]["server_version"]
            .as_str()
            .unwrap()
            .starts_with(char::is_numeric)
    );
    let migrations = report["migrations"].as_array().unwrap();
    assert!((8..=12).contains(&migrations.len()));
    let non_transactional = migrations
        .iter()
        .filter(|m| m["notes"].to_string().contains("non-transactional"))
        .count();
    assert!(
        non_transactional >= 1,
        "the sample has a non-transactional migration"
    );
}
