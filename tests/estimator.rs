//! Issue #28: the estimator validated at 2,000,000 rows. Production is a real table of 2M
//! rows; `verify --stats` (its statistics exported by the binary) times a rewrite, an
//! index build and a validation scan at 1k/3.2k/10k generated rows and extrapolates to
//! production's size; the same statements are then timed on production's 2M rows. The
//! ratios (estimate / measured, the goal 0.5–2×) are printed for the closing note and
//! `benches/estimator.sh`; the test asserts that each finding was estimated from three
//! sizes and that the measurement at 2M ran, never a time (timings depend on the machine).

mod common;

use std::time::Instant;

use serde_json::Value;

const ROWS: u64 = 2_000_000;

/// The table, merged long ago.
const EVENTS: &str = "CREATE TABLE events (id int PRIMARY KEY, account int NOT NULL, \
                      kind text NOT NULL, created date NOT NULL);\n";

/// The three statements, each a migration of its own with a down, and the rule its
/// finding falls under.
const STATEMENTS: [(&str, &str, &str); 3] = [
    (
        "ALTER TABLE events ALTER COLUMN account TYPE bigint",
        "ALTER TABLE events ALTER COLUMN account TYPE int",
        "table-rewrite",
    ),
    (
        "CREATE INDEX events_created_idx ON events (created)",
        "DROP INDEX events_created_idx",
        "index-without-concurrently",
    ),
    (
        "ALTER TABLE events ADD CONSTRAINT events_account_positive CHECK (account > 0)",
        "ALTER TABLE events DROP CONSTRAINT events_account_positive",
        "constraint-validated-in-place",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn estimates_from_three_sizes_meet_the_measurement_at_two_million_rows() {
    let (server, url) = common::populated_database(
        "prod",
        &format!(
            "{EVENTS}INSERT INTO events SELECT g, 1 + g % 50000, \
             (ARRAY['click', 'view', 'purchase', 'signup'])[1 + g % 4], \
             DATE '2020-01-01' + (g / 1000) FROM generate_series(1, {ROWS}) g;"
        ),
    )
    .await;
    let prod = common::connect(server.config("prod")).await;
    prod.batch_execute("VACUUM ANALYZE events").await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let stats = tmp.path().join("stats.json");
    common::export_stats(&url, &stats);

    let mut files = vec![
        ("1_events.up.sql".to_string(), EVENTS.to_string()),
        (
            "1_events.down.sql".to_string(),
            "DROP TABLE events;\n".to_string(),
        ),
    ];
    for (index, (up, down, _)) in STATEMENTS.iter().enumerate() {
        files.push((format!("{}_change.up.sql", index + 2), format!("{up};\n")));
        files.push((
            format!("{}_change.down.sql", index + 2),
            format!("{down};\n"),
        ));
    }
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let dir = common::migrations_dir(&files);
    let (output, report) = common::verify(dir.path(), &["--stats", stats.to_str().unwrap()]);
    let report: Value = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(output.status.code(), Some(0), "{report:#}");

    let mut lines = Vec::new();
    for (index, (up, _, rule)) in STATEMENTS.iter().enumerate() {
        let finding = report["migrations"][index + 1]["locks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule"] == *rule)
            .unwrap_or_else(|| panic!("{rule} on {up}: {report:#}"));
        let estimate = &finding["estimate"];
        assert_eq!(estimate["production_rows"], ROWS, "{finding:#}");
        let sizes: Vec<u64> = estimate["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["rows"].as_u64().unwrap())
            .collect();
        assert_eq!(sizes, [1_000, 3_162, 10_000], "{finding:#}");
        // Production's own time, in a transaction rolled back (as a deploy would run it,
        // without the commit).
        prod.batch_execute("BEGIN").await.unwrap();
        let started = Instant::now();
        prod.batch_execute(up).await.unwrap();
        let measured = started.elapsed().as_secs_f64() * 1_000.0;
        prod.batch_execute("ROLLBACK").await.unwrap();
        let estimated = estimate["estimated_ms"].as_u64();
        lines.push(format!(
            "{rule}: {} {} → estimated {} ms, measured {measured:.0} ms at {ROWS} rows, ratio {}",
            estimate["fit"],
            estimate["samples"],
            estimated.map_or("-".into(), |ms| ms.to_string()),
            estimated.map_or("-".into(), |ms| format!("{:.2}", ms as f64 / measured)),
        ));
    }
    println!("estimator at {ROWS} rows:\n{}", lines.join("\n"));
}
