//! Benchmark for issue #3: `migration-check snapshot` against `pg_dump
//! --schema-only` on the same generated database of 1,500 tables (identity
//! primary key, a foreign-key chain, a check constraint, an expression index
//! and a comment on each; a view and a plpgsql function on every tenth), both
//! as whole commands, median of 5 runs each in this run; and the time to diff
//! two such snapshots. Run: `cargo bench --bench snapshot`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use migration_check::schema::fingerprint::DataRows;
use migration_check::schema::{diff, snapshot::SnapshotQuery};

const TABLES: usize = 1500;
const RUNS: usize = 5;

/// Tables `from..=to`, in one transaction (batches keep the lock table small).
fn schema_sql(from: usize, to: usize) -> String {
    format!(
        "DO $$ BEGIN
         FOR i IN {from}..{to} LOOP
           EXECUTE format('CREATE TABLE t%s (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, parent_id bigint %s,
                            name text NOT NULL, qty int CONSTRAINT t%s_qty_check CHECK (qty >= 0))',
                          i, CASE WHEN i > 1 THEN format('REFERENCES t%s (id)', i - 1) ELSE '' END, i);
           EXECUTE format('CREATE INDEX t%s_lower_name_idx ON t%s (lower(name))', i, i);
           EXECUTE format('COMMENT ON TABLE t%s IS %L', i, 'table ' || i);
           IF i % 10 = 0 THEN
             EXECUTE format('CREATE VIEW v%s AS SELECT id, name FROM t%s WHERE qty > 0', i, i);
             EXECUTE format('CREATE FUNCTION f%s(n int) RETURNS int LANGUAGE plpgsql AS $f$ BEGIN RETURN n + %s; END $f$', i, i);
           END IF;
         END LOOP;
         END $$;"
    )
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time_command(command: &mut Command) -> Duration {
    let started = Instant::now();
    let status = command.stdout(Stdio::null()).status().expect("run");
    assert!(status.success(), "{command:?} failed");
    started.elapsed()
}

fn main() {
    let (runtime, server) = common::embedded_cluster();
    let socket = server.path().join("socket");
    let psql = |sql: &str| {
        let status = Command::new(server.bin_dir().join("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-h"])
            .arg(&socket)
            .args(["-d", "postgres", "-c", sql])
            .status()
            .unwrap();
        assert!(status.success());
    };
    for from in (1..=TABLES).step_by(100) {
        psql(&schema_sql(from, (from + 99).min(TABLES)));
    }
    let url = format!(
        "host={} port=5432 user=postgres dbname=postgres",
        socket.display()
    );

    let ours: Vec<Duration> = (0..RUNS)
        .map(|_| {
            time_command(
                Command::new(env!("CARGO_BIN_EXE_migration-check"))
                    .args(["snapshot", "--json", &url]),
            )
        })
        .collect();
    let dump: Vec<Duration> = (0..RUNS)
        .map(|_| {
            time_command(
                Command::new(server.bin_dir().join("pg_dump"))
                    .args(["--schema-only", "-U", "postgres", "-h"])
                    .arg(&socket)
                    .arg("postgres"),
            )
        })
        .collect();

    // Diff of two snapshots of this schema, one object changed.
    let (left, right, objects) = runtime.block_on(async {
        let client = common::connect(&server, "postgres").await;
        let query = SnapshotQuery::prepare(&client).await.unwrap();
        let left = query.capture(&client).await.unwrap();
        client
            .batch_execute("COMMENT ON TABLE t7 IS 'changed'")
            .await
            .unwrap();
        let right = query.capture(&client).await.unwrap();
        let objects = left.objects.len();
        (left, right, objects)
    });
    let diffs: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            let changes = diff(&left, &right);
            assert_eq!(changes.len(), 1);
            started.elapsed()
        })
        .collect();

    // verify's captures of this schema: full, then incremental after a migration-sized
    // change (an added column and index on one table, a view over it), both in process.
    let (full, incremental) = runtime.block_on(async {
        let client = common::connect(&server, "postgres").await;
        let second = common::connect(&server, "postgres").await;
        let (mut full, mut incremental) = (Vec::new(), Vec::new());
        for run in 0..RUNS {
            let query = SnapshotQuery::prepare_incremental(&client, Some(&second))
                .await
                .unwrap();
            let timed_capture = async || {
                let started = Instant::now();
                query
                    .capture_on(&client, Some(&second), Some(&DataRows::new(10_000)))
                    .await
                    .unwrap();
                started.elapsed()
            };
            full.push(timed_capture().await);
            client
                .batch_execute(&format!(
                    "ALTER TABLE t{n} ADD COLUMN bench_{run} int DEFAULT 0;
                     CREATE INDEX t{n}_bench_{run}_idx ON t{n} (bench_{run});
                     CREATE VIEW bench_{run} AS SELECT id, bench_{run} FROM t{n};",
                    n = 100 + run
                ))
                .await
                .unwrap();
            incremental.push(timed_capture().await);
            assert_eq!(query.take_counts().incremental, 1);
        }
        (median(full), median(incremental))
    });

    let (ours, dump, diff_time) = (median(ours), median(dump), median(diffs));
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("schema: {TABLES} tables, {objects} snapshot objects");
    println!(
        "pg_dump --schema-only (median of {RUNS}):      {:8.1} ms",
        ms(dump)
    );
    println!(
        "migration-check snapshot --json (median):  {:8.1} ms",
        ms(ours)
    );
    println!(
        "ratio snapshot / pg_dump:                  {:8.2}x  (target <= 0.5x, aim 0.25x)",
        ms(ours) / ms(dump)
    );
    println!(
        "diff of two snapshots (median):            {:8.2} ms  (target < 100 ms)",
        ms(diff_time)
    );
    println!(
        "verify's capture, full (median):           {:8.1} ms",
        ms(full)
    );
    println!(
        "verify's capture, incremental (median):    {:8.1} ms  ({:.3}x the full one)",
        ms(incremental),
        ms(incremental) / ms(full)
    );
}
