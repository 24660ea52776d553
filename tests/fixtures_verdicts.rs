//! Every verdict of the JSON contract, produced by real migrations on a real
//! PostgreSQL: each fixture under tests/fixtures/status carries the expected
//! statuses, file, line and message in its expected.json. A migration's
//! `status` there holds on every major except those its `versions` map names
//! (`{"13": "failed_up"}`); see `expected_status`.

mod common;

use serde_json::Value;

fn check_fixture(name: &str) {
    let dir = common::root().join("tests/fixtures/status").join(name);
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let (output, report) = common::verify(&dir, &["--statement-timeout", "2s"]);
    common::check_expected(&dir, &expected, &output, report);
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
    session_settings,
    drawn_values,
    empty_up,
    forgotten_server,
    publication_dropped,
    subscription,
    line_endings,
    history_table,
    temporary_table,
    unavailable_extension,
);

/// A user mapping's password is in no report: the snapshot reads the option's name only.
#[test]
fn secrets_of_user_mappings_stay_out_of_reports() {
    let dir = common::root().join("tests/fixtures/status/forgotten_server");
    let markdown = tempfile::tempdir().unwrap();
    let path = markdown.path().join("report.md");
    let (output, report) = common::verify(&dir, &["--markdown", path.to_str().unwrap()]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert!(
        report.to_string().contains("password=(not read)"),
        "{report:#}"
    );
    for text in [
        report.to_string(),
        common::stderr(&output),
        std::fs::read_to_string(&path).unwrap(),
    ] {
        assert!(!text.contains("hunter2"), "{text}");
    }
}

/// `--full-snapshots` reads the whole catalog at every snapshot: the same verdicts,
/// no incremental capture; by default all but the first capture of each database
/// are incremental.
#[test]
fn full_snapshots_give_the_same_verdicts() {
    let dir = common::root().join("tests/fixtures/status/leftovers");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let (output, report) = common::verify(&dir, &["--statement-timeout", "2s", "--full-snapshots"]);
    let captures = report.as_ref().unwrap()["timings_ms"]["snapshot_captures"].clone();
    common::check_expected(&dir, &expected, &output, report);
    assert_eq!(captures["incremental"], 0, "{captures}");
    assert!(captures["full"].as_u64().unwrap() > 3, "{captures}");
    let (_, report) = common::verify(&dir, &["--statement-timeout", "2s"]);
    let captures = &report.unwrap()["timings_ms"]["snapshot_captures"];
    assert!(captures["incremental"].as_u64().unwrap() > 3, "{captures}");
}

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
    // The sample's CREATE INDEX CONCURRENTLY runs outside a transaction, as sqlx runs it.
    let concurrently = migrations
        .iter()
        .find(|m| m["name"] == "index_tasks_assignee_concurrently")
        .expect("the sample has a non-transactional migration");
    assert_eq!(concurrently["status"], "passed", "{report:#}");
}

/// `[policy] irreversible = "auto"` (the default) makes a migration without down an error
/// in a project whose other migrations have downs, and says so; `--irreversible warning`
/// and the configuration file turn it into a warning; contradictory flags are exit 2.
#[test]
fn a_missing_down_is_an_error_where_the_project_writes_downs() {
    let dir = common::root().join("tests/fixtures/status/irreversible");
    let (output, report) = common::verify(&dir, &[]);
    let report = report.unwrap();
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let problem = &report["migrations"][1]["problems"][0];
    assert_eq!(problem["kind"], "irreversible");
    assert_eq!(problem["severity"], "error");
    let message = problem["message"].as_str().unwrap();
    assert!(
        message.contains("the only other migration has one")
            && message.contains("irreversible = \"auto\"")
            && message.contains("--irreversible"),
        "{message}"
    );

    let (output, report) = common::verify(&dir, &["--irreversible", "warning"]);
    let report = report.unwrap();
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(
        report["migrations"][1]["problems"][0]["severity"],
        "warning"
    );

    let config = tempfile::tempdir().unwrap();
    let path = config.path().join("migration-check.toml");
    std::fs::write(&path, "[policy]\nirreversible = \"warning\"\n").unwrap();
    let (output, _) = common::verify(&dir, &["--config", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));

    std::fs::write(&path, "[policy]\nirreversible = \"sometimes\"\n").unwrap();
    let (output, _) = common::verify(&dir, &["--config", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        common::stderr(&output).contains("sometimes"),
        "{}",
        common::stderr(&output)
    );

    let (output, _) = common::verify(&dir, &["--irreversible", "error", "--fail-irreversible"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(common::stderr(&output).contains("--fail-irreversible"));
}

/// A project whose migrations have no downs by design (Flyway without undo scripts): the
/// missing downs are one line of the run's notes, not a warning per migration, and the
/// report shows the schema the migrations build (issue #26).
#[test]
fn an_up_only_project_gets_one_note_and_its_schema_changes() {
    let dir = common::migrations_dir(&[
        (
            "V1__accounts.sql",
            "CREATE TABLE accounts (id bigint PRIMARY KEY, email text);\n",
        ),
        (
            "V2__projects.sql",
            "CREATE TABLE projects (id bigint PRIMARY KEY, owner bigint REFERENCES accounts);\n",
        ),
        (
            "V3__email_index.sql",
            "CREATE INDEX accounts_email ON accounts (email);\n",
        ),
    ]);
    for args in [&["--all"][..], &[]] {
        let (output, report) = common::verify(dir.path(), args);
        let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
        assert_eq!(output.status.code(), Some(0), "{report:#}");
        assert_eq!(report["format"], "flyway");
        for migration in report["migrations"].as_array().unwrap() {
            assert_eq!(migration["status"], "irreversible", "{report:#}");
            assert_eq!(migration["problems"], serde_json::json!([]), "{report:#}");
        }
        let notes = report["notes"].to_string();
        assert!(
            notes.contains(
                "up-only project: none of its migrations has a down script, so 3 migration(s)"
            ),
            "{notes}"
        );
        let changed: Vec<&str> = report["schema_changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|change| change["name"].as_str())
            .collect();
        assert!(
            changed.contains(&"public.accounts") && changed.contains(&"public.projects"),
            "{report:#}"
        );
    }
}

/// A temporary table a migration leaves ends with the session, in the verified database and
/// in the lock analysis's copy alike: the copy applies every script and measures them all.
#[test]
fn temporary_tables_end_with_the_script_in_the_lock_analysis_copy_too() {
    let dir = common::root().join("tests/fixtures/status/temporary_table");
    let (output, report) = common::verify(&dir, &[]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(report["passed"], true, "{report:#}");
    let text = report.to_string();
    assert!(!text.contains("could not apply"), "{report:#}");
    assert!(text.contains("generated rows"), "{report:#}");
}
