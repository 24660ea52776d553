//! Issue #28: `stats export` on a populated cluster, read-only; `verify --stats` with rows
//! shaped like production's (a unique index over the duplicates production holds fails),
//! failures on data as findings (`fails-on-data`), a down that does not give the rows back
//! (`data-not-restored`), blocking findings timed at three sizes and extrapolated to
//! production's table, `[locks] max_blocking`; bad input: a stats file of another version,
//! a stats URL that refuses, stats naming tables the migrations do not have.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use migration_check::postgres::embedded::EmbeddedServer;

/// A populated, analysed database `shop` on an embedded cluster, and its URL.
async fn shop() -> (EmbeddedServer, String) {
    common::populated_database(
        "shop",
        "CREATE TABLE customers (id int PRIMARY KEY, email text, country text);\n\
         INSERT INTO customers SELECT g, CASE WHEN g % 4 = 0 THEN NULL ELSE 'c' || g || '@example.com' END, \
           (ARRAY['de', 'fr', 'us'])[1 + g % 3] FROM generate_series(1, 10000) g;\n\
         CREATE INDEX customers_country_idx ON customers (country);\n\
         ANALYZE customers;",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_export_reads_sizes_and_column_statistics_without_values() {
    let (_server, url) = shop().await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("stats.json");
    let output = Command::new(common::binary())
        .args(["stats", "export", "--database", &url, "--output"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let text = std::fs::read_to_string(&out).unwrap();
    let stats = migration_check::analysis::stats::parse(&text).unwrap();
    assert_eq!(stats.version, 1);
    let customers = &stats.tables[0];
    assert_eq!(
        (customers.schema.as_str(), customers.name.as_str()),
        ("public", "customers")
    );
    assert_eq!(customers.reltuples, 10000.0);
    assert!(customers.heap_bytes > 0 && customers.index_bytes > 0);
    let email = customers
        .columns
        .iter()
        .find(|c| c.name == "email")
        .unwrap();
    assert!((email.null_frac.unwrap() - 0.25).abs() < 0.05, "{email:?}");
    let country = customers
        .columns
        .iter()
        .find(|c| c.name == "country")
        .unwrap();
    assert_eq!(country.n_distinct, Some(3.0));
    assert!(
        !text.contains("@example.com"),
        "no row values without --with-values"
    );
    assert_eq!(customers.indexes.len(), 2);
    // With --with-values, the most common values (data, and said so).
    let output = Command::new(common::binary())
        .args(["stats", "export", "--database", &url, "--with-values"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let stats =
        migration_check::analysis::stats::parse(&String::from_utf8(output.stdout.clone()).unwrap())
            .unwrap();
    let country = stats.tables[0]
        .columns
        .iter()
        .find(|c| c.name == "country")
        .unwrap();
    let mut values = country.most_common_vals.clone().unwrap();
    values.sort();
    assert_eq!(values, ["de", "fr", "us"]);
    assert!(common::stderr(&output).contains("most common values"));
}

/// The export's session is read-only: the export writes nothing, whatever the role may do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_session_refuses_to_write() {
    let (server, _url) = shop().await;
    let client = common::connect(server.config("shop")).await;
    migration_check::analysis::stats::export(&client, false)
        .await
        .unwrap();
    let error = client
        .batch_execute("CREATE TABLE intruder (id int)")
        .await
        .unwrap_err();
    assert_eq!(
        error.as_db_error().unwrap().code().code(),
        "25006",
        "read_only_sql_transaction: {error}"
    );
}

#[test]
fn an_unreachable_database_is_exit_3_with_the_password_masked() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = Command::new(common::binary())
        .args(["stats", "export", "--database"])
        .arg(format!(
            "postgres://reader:Stat5Secret@127.0.0.1:{port}/shop"
        ))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", common::stderr(&output));
    let text = common::stderr(&output);
    assert!(!text.contains("Stat5Secret"), "{text}");
    assert!(
        text.contains(&format!("reader@127.0.0.1:{port}/shop")),
        "{text}"
    );
}

/// The first migration, merged long ago: users.
const USERS: &str = "CREATE TABLE users (id serial PRIMARY KEY, email text);\n";

/// Production: the users table of [`USERS`] holding 200,000 rows, every email twice and
/// one in ten NULL; its statistics exported by the binary into `dir/stats.json`.
async fn production(dir: &Path) -> (EmbeddedServer, PathBuf) {
    let (server, url) = common::populated_database(
        "prod",
        &format!(
            "{USERS}INSERT INTO users (email) SELECT CASE WHEN g % 10 = 0 THEN NULL \
             ELSE 'u' || (g / 2) || '@example.com' END FROM generate_series(1, 200000) g;\n\
             ANALYZE users;"
        ),
    )
    .await;
    let stats = dir.join("stats.json");
    common::export_stats(&url, &stats);
    (server, stats)
}

/// The merged users migration and migration 2 (`up`, `down`), sqlx's layout.
fn users_and(up: &str, down: &str) -> tempfile::TempDir {
    common::migrations_dir(&[
        ("1_users.up.sql", USERS),
        ("1_users.down.sql", "DROP TABLE users;\n"),
        ("2_change.up.sql", up),
        ("2_change.down.sql", down),
    ])
}

/// Migration 2's lock findings of `rule`.
fn findings<'a>(report: &'a Value, rule: &str) -> Vec<&'a Value> {
    report["migrations"][1]["locks"]
        .as_array()
        .map(|locks| locks.iter().filter(|f| f["rule"] == rule).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_index_fails_on_the_duplicates_production_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, stats) = production(tmp.path()).await;
    let dir = users_and(
        "CREATE UNIQUE INDEX users_email_key ON users (email);\n",
        "DROP INDEX users_email_key;\n",
    );
    // Without statistics the generated emails are distinct: nothing to find.
    let (output, report) = common::verify(dir.path(), &[]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert!(findings(&report, "fails-on-data").is_empty(), "{report:#}");

    // Production's statistics say every email is there twice: the index fails on them.
    let (output, report) = common::verify(dir.path(), &["--stats", stats.to_str().unwrap()]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let failed = findings(&report, "fails-on-data");
    assert_eq!(failed.len(), 1, "{report:#}");
    assert_eq!(failed[0]["severity"], "error");
    assert_eq!(failed[0]["relation"], "public.users");
    assert_eq!(failed[0]["line"], 1);
    let evidence = failed[0]["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("could not create unique index"),
        "{evidence}"
    );
    assert!(
        evidence.contains("production's table holds about 200000 rows"),
        "{evidence}"
    );
    let problems = report["migrations"][1]["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p["message"]
            .as_str()
            .unwrap()
            .starts_with("fails-on-data: ")),
        "{problems:#?}"
    );
    assert!(common::stderr(&output).contains("production statistics: 1 table(s)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_not_null_meets_the_nulls_production_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, stats) = production(tmp.path()).await;
    let dir = users_and(
        "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n",
        "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;\n",
    );
    // The generated emails are never NULL: SET NOT NULL only scans.
    let (output, report) = common::verify(dir.path(), &[]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert!(findings(&report, "fails-on-data").is_empty(), "{report:#}");
    assert_eq!(
        findings(&report, "set-not-null-scan").len(),
        1,
        "{report:#}"
    );
    // Production's: one in ten is NULL, so the rows hold NULLs and it fails, an error.
    let (output, report) = common::verify(dir.path(), &["--stats", stats.to_str().unwrap()]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let failed = findings(&report, "fails-on-data");
    assert_eq!(failed[0]["severity"], "error", "{report:#}");
    assert!(
        failed[0]["evidence"]
            .as_str()
            .unwrap()
            .contains("contains null values"),
        "{:#}",
        failed[0]
    );
    // Statistics with the lock analysis off are said to be unused.
    let (output, report) = common::verify(
        dir.path(),
        &["--stats", stats.to_str().unwrap(), "--no-lock-analysis"],
    );
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert!(
        report["notes"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap()
            .starts_with("production's statistics unused")),
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_null_without_a_default_fails_on_a_table_with_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, stats) = production(tmp.path()).await;
    let dir = users_and(
        "ALTER TABLE users ADD COLUMN age int NOT NULL;\n",
        "ALTER TABLE users DROP COLUMN age;\n",
    );
    // Without statistics: a warning (whether production's table has rows is unknown).
    let (output, report) = common::verify(dir.path(), &[]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let failed = findings(&report, "fails-on-data");
    assert_eq!(failed.len(), 1, "{report:#}");
    assert_eq!(failed[0]["severity"], "warning");
    assert!(
        failed[0]["evidence"]
            .as_str()
            .unwrap()
            .contains("contains null values"),
        "{:#}",
        failed[0]
    );
    // With them: production's table has rows, an error.
    let (output, report) = common::verify(dir.path(), &["--stats", stats.to_str().unwrap()]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    assert_eq!(findings(&report, "fails-on-data")[0]["severity"], "error");
    // The policy can make it a warning again.
    let config = tmp.path().join("migration-check.toml");
    std::fs::write(&config, "[locks]\nfails-on-data = \"warning\"\n").unwrap();
    let (output, _) = common::verify(
        dir.path(),
        &[
            "--stats",
            stats.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
}

#[test]
fn a_down_that_adds_a_moved_column_back_empty_does_not_restore_the_data() {
    let dir = users_and(
        "CREATE TABLE user_emails (user_id int PRIMARY KEY REFERENCES users (id), email text);\n\
         INSERT INTO user_emails SELECT id, email FROM users;\n\
         ALTER TABLE users DROP COLUMN email;\n",
        "ALTER TABLE users ADD COLUMN email text;\n\
         DROP TABLE user_emails;\n",
    );
    let (output, report) = common::verify(dir.path(), &[]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    // The schema is restored: the verdict passes, the data finding warns.
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["migrations"][1]["status"], "passed");
    let lost = findings(&report, "data-not-restored");
    assert_eq!(lost.len(), 1, "{report:#}");
    assert_eq!(lost[0]["severity"], "warning");
    assert_eq!(lost[0]["script"], "down");
    assert_eq!(
        lost[0]["file"].as_str().unwrap().rsplit('/').next(),
        Some("2_change.down.sql")
    );
    let evidence = lost[0]["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("public.users's 1000 rows differ after the down in column email, whose values the up kept"),
        "{evidence}"
    );
    // An up that drops the column outright keeps its values nowhere: no down can bring
    // them back, and that is the migration's purpose, not a finding.
    let dropping = users_and(
        "ALTER TABLE users DROP COLUMN email;\n",
        "ALTER TABLE users ADD COLUMN email text;\n",
    );
    let (output, report) = common::verify(dropping.path(), &[]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert!(
        findings(&report, "data-not-restored").is_empty(),
        "{report:#}"
    );
    // A down that puts the data back is not a finding.
    let restoring = users_and(
        "CREATE TABLE user_emails (user_id int PRIMARY KEY REFERENCES users (id), email text);\n\
         INSERT INTO user_emails SELECT id, email FROM users;\n\
         ALTER TABLE users DROP COLUMN email;\n",
        "ALTER TABLE users ADD COLUMN email text;\n\
         UPDATE users u SET email = e.email FROM user_emails e WHERE e.user_id = u.id;\n\
         DROP TABLE user_emails;\n",
    );
    let (output, report) = common::verify(restoring.path(), &[]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert!(
        findings(&report, "data-not-restored").is_empty(),
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewrite_is_estimated_at_production_size_and_max_blocking_gates_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, stats) = production(tmp.path()).await;
    // Production grew since: 48.2M rows, 11 GB.
    let text = std::fs::read_to_string(&stats).unwrap();
    let mut json: Value = serde_json::from_str(&text).unwrap();
    json["tables"][0]["reltuples"] = 48_200_000.0.into();
    json["tables"][0]["heap_bytes"] = (11_i64 << 30).into();
    std::fs::write(&stats, json.to_string()).unwrap();
    let dir = users_and(
        "ALTER TABLE users ALTER COLUMN id TYPE bigint;\n",
        "ALTER TABLE users ALTER COLUMN id TYPE int;\n",
    );
    let markdown = tmp.path().join("comment.md");
    let (output, report) = common::verify(
        dir.path(),
        &[
            "--stats",
            stats.to_str().unwrap(),
            "--markdown",
            markdown.to_str().unwrap(),
        ],
    );
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let rewrite = findings(&report, "table-rewrite");
    let estimate = &rewrite[0]["estimate"];
    assert_eq!(estimate["production_rows"], 48_200_000, "{report:#}");
    let sizes: Vec<u64> = estimate["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rows"].as_u64().unwrap())
        .collect();
    assert_eq!(
        sizes,
        [1000, 3162, 10000],
        "--lock-rows, their geometric mean, --lock-rows-max"
    );
    let fit = estimate["fit"].as_str().unwrap();
    assert!(
        ["linear", "superlinear", "disagree", "constant"].contains(&fit),
        "{estimate:#}"
    );
    assert!(report["timings_ms"]["lock_sizes"].as_u64().unwrap() > 0);
    let comment = std::fs::read_to_string(&markdown).unwrap();
    assert!(
        comment.contains("at production's 48.2M rows, 11 GB"),
        "{comment}"
    );
    // The rows the timing added were rolled back: the rewrite was measured on the 1,000.
    assert!(
        rewrite[0]["evidence"]
            .as_str()
            .unwrap()
            .contains("(1,000 rows"),
        "{:#}",
        rewrite[0]
    );
    if estimate["estimated_ms"].as_u64().is_some_and(|ms| ms > 1) {
        let config = tmp.path().join("migration-check.toml");
        std::fs::write(&config, "[locks]\nmax_blocking = \"1ms\"\n").unwrap();
        let (output, report) = common::verify(
            dir.path(),
            &[
                "--stats",
                stats.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
            ],
        );
        let report = report.unwrap();
        assert_eq!(output.status.code(), Some(1), "{report:#}");
        let problems = report["migrations"][1]["problems"].as_array().unwrap();
        assert!(
            problems.iter().any(|p| p["message"]
                .as_str()
                .unwrap()
                .contains("estimated to block longer than [locks] max_blocking = 1ms")),
            "{problems:#?}"
        );
    }
}

#[test]
fn a_stats_file_of_another_version_is_refused_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let stats = tmp.path().join("stats.json");
    std::fs::write(
        &stats,
        r#"{"format": "migration-check-stats", "version": 7, "tables": []}"#,
    )
    .unwrap();
    let dir = users_and("SELECT 1;\n", "SELECT 1;\n");
    let (output, _) = common::verify(dir.path(), &["--stats", stats.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", common::stderr(&output));
    let text = common::stderr(&output);
    assert!(text.contains("field `version` is 7"), "{text}");
    assert!(text.contains("stats.json"), "{text}");
}

#[test]
fn a_stats_url_that_refuses_is_exit_3_with_the_password_masked() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = users_and("SELECT 1;\n", "SELECT 1;\n");
    let (output, _) = common::verify(
        dir.path(),
        &[
            "--stats-from",
            &format!("postgres://reader:Stat5Secret@127.0.0.1:{port}/prod"),
        ],
    );
    assert_eq!(output.status.code(), Some(3), "{}", common::stderr(&output));
    let text = common::stderr(&output);
    assert!(!text.contains("Stat5Secret"), "{text}");
    assert!(text.contains("--stats-from"), "{text}");
    assert!(
        text.contains(&format!("reader@127.0.0.1:{port}/prod")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_naming_tables_the_migrations_do_not_have_are_noted_and_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, _) = production(tmp.path()).await;
    let prod = common::connect(server.config("prod")).await;
    prod.batch_execute("CREATE TABLE legacy_audit (id int); ANALYZE legacy_audit;")
        .await
        .unwrap();
    let url = format!(
        "host={} port=5432 user=postgres dbname=prod",
        server.path().join("socket").display()
    );
    let dir = users_and(
        "ALTER TABLE users ADD COLUMN nickname text;\n",
        "ALTER TABLE users DROP COLUMN nickname;\n",
    );
    // Read live, at check time.
    let (output, report) = common::verify(dir.path(), &["--stats-from", &url]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let notes: Vec<&str> = report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes.contains(
            &"production's statistics name 1 table the migrations do not create (public.legacy_audit): ignored"
        ),
        "{notes:#?}"
    );
}
