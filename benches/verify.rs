//! Benchmark for issue #2: `verify` on a generated corpus of 200 migrations of
//! mixed DDL against the same scripts applied with psql in one session (all
//! up, all down, all up), both on embedded clusters started in this run.
//! Prints the ratio, where verify's time goes (startup, scripts, snapshots),
//! the cluster start time and verify's peak RSS, and (issue #15) what the measured lock
//! analysis adds: verify with it (default rows, and `--lock-rows 0`) against
//! `--no-lock-analysis`. Run:
//! `cargo bench --bench verify`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use migration_check::postgres::embedded::{EmbeddedOptions, EmbeddedServer};

const MIGRATIONS: usize = 200;

/// Up and down for migration `i` (1-based); a rotating mix of DDL kinds.
fn migration(i: usize) -> (String, String, String) {
    let t = format!("t{i:03}");
    let prev = if i > 1 {
        format!("t{:03}", i - 1)
    } else {
        String::new()
    };
    match i % 8 {
        0 => (
            format!("create_{t}"),
            format!(
                "CREATE TABLE {t} (\n  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  name text NOT NULL CHECK (name <> ''),\n  created_at timestamptz NOT NULL DEFAULT now()\n);\nCREATE INDEX {t}_name_idx ON {t} (lower(name));\nCOMMENT ON TABLE {t} IS 'table {i}';\n"
            ),
            format!("DROP TABLE {t};\n"),
        ),
        1 => (
            format!("enum_{t}"),
            format!("CREATE TYPE {t}_state AS ENUM ('new', 'active', 'done');\n"),
            format!("DROP TYPE {t}_state;\n"),
        ),
        2 => (
            format!("table_with_fk_{t}"),
            format!(
                "CREATE TABLE {t} (id serial PRIMARY KEY, parent_id int, note varchar(200) DEFAULT 'x');\n{}",
                if prev.is_empty() {
                    String::new()
                } else {
                    format!(
                        "ALTER TABLE {t} ADD CONSTRAINT {t}_parent_fk FOREIGN KEY (parent_id) REFERENCES {t} (id);\n"
                    )
                }
            ),
            format!("DROP TABLE {t};\n"),
        ),
        3 => (
            format!("view_{t}"),
            format!(
                "CREATE VIEW {t}_v AS SELECT n AS id, n * 2 AS doubled FROM generate_series(1, 10) AS n;\n"
            ),
            format!("DROP VIEW {t}_v;\n"),
        ),
        4 => (
            format!("function_{t}"),
            format!(
                "CREATE FUNCTION {t}_fn(a integer) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$\nBEGIN\n  RETURN a + {i};\nEND;\n$$;\n"
            ),
            format!("DROP FUNCTION {t}_fn(integer);\n"),
        ),
        5 => (
            format!("trigger_table_{t}"),
            format!(
                "CREATE TABLE {t} (id int PRIMARY KEY, updated_at timestamptz);\nCREATE FUNCTION {t}_touch() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  NEW.updated_at := now();\n  RETURN NEW;\nEND;\n$$;\nCREATE TRIGGER {t}_touch BEFORE UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION {t}_touch();\n"
            ),
            format!("DROP TABLE {t};\nDROP FUNCTION {t}_touch();\n"),
        ),
        6 => (
            format!("sequence_{t}"),
            format!(
                "CREATE SEQUENCE {t}_seq INCREMENT BY 5 START 100;\nCOMMENT ON SEQUENCE {t}_seq IS 'ids';\n"
            ),
            format!("DROP SEQUENCE {t}_seq;\n"),
        ),
        _ => (
            format!("schema_{t}"),
            format!(
                "CREATE SCHEMA s_{t};\nCREATE TABLE s_{t}.items (id int PRIMARY KEY, tags text[] NOT NULL DEFAULT '{{}}');\n"
            ),
            format!("DROP SCHEMA s_{t} CASCADE;\n"),
        ),
    }
}

fn write_corpus(dir: &Path) -> Vec<(String, String)> {
    let mut scripts = Vec::new();
    for i in 1..=MIGRATIONS {
        let (name, up, down) = migration(i);
        std::fs::write(dir.join(format!("{i}_{name}.up.sql")), &up).unwrap();
        std::fs::write(dir.join(format!("{i}_{name}.down.sql")), &down).unwrap();
        scripts.push((up, down));
    }
    scripts
}

/// Peak resident set of process `pid` (VmHWM), polled until it exits: the
/// PostgreSQL processes it starts are not counted (getrusage's children
/// figure would include them).
fn watch_peak_rss_kib(pid: u32) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kib);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        peak
    })
}

fn main() {
    let corpus = tempfile::Builder::new()
        .prefix("mc-bench-")
        .tempdir_in("/tmp")
        .unwrap();
    let scripts = write_corpus(corpus.path());

    // verify, as a user runs it.
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_migration-check"))
        .args(["verify", "--quiet", "--json", "-"])
        .arg(corpus.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run migration-check");
    let peak = watch_peak_rss_kib(child.id());
    let output = child.wait_with_output().expect("run migration-check");
    let verify_wall = started.elapsed();
    let rss_kib = peak.join().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "verify produced no report: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(
        report["passed"],
        true,
        "the corpus must pass: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let timings = &report["timings_ms"];

    // psql baseline: one session, all up, all down (reverse), all up.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cluster_started = Instant::now();
    let server = runtime
        .block_on(EmbeddedServer::start(&EmbeddedOptions::default()))
        .expect("embedded cluster");
    let cluster_ready = cluster_started.elapsed();
    let mut session = String::from("\\set ON_ERROR_STOP 1\n");
    let ups: String = scripts.iter().fold(String::new(), |mut s, (up, _)| {
        let _ = writeln!(s, "BEGIN;\n{up}COMMIT;");
        s
    });
    session.push_str(&ups);
    for (_, down) in scripts.iter().rev() {
        let _ = writeln!(session, "BEGIN;\n{down}COMMIT;");
    }
    session.push_str(&ups);
    // Beside the corpus, not in it: the corpus is verified again below.
    let baseline = tempfile::NamedTempFile::new().unwrap();
    let file = baseline.path().to_path_buf();
    std::fs::write(&file, session).unwrap();
    let socket = server.path().join("socket");
    let started = Instant::now();
    let status = Command::new("psql")
        .args(["-X", "-q", "-U", "postgres", "-d", "postgres", "-h"])
        .arg(&socket)
        .arg("-f")
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("psql is installed");
    let psql = started.elapsed();
    assert!(status.success(), "baseline failed");
    drop(server);

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let verify_work = timings["total"].as_f64().unwrap() - timings["setup"].as_f64().unwrap();
    println!("corpus: {MIGRATIONS} migrations of mixed DDL");
    println!(
        "psql baseline (up, down, up in one session): {:8.1} ms",
        ms(psql)
    );
    println!(
        "verify wall time (whole command):            {:8.1} ms",
        ms(verify_wall)
    );
    println!(
        "  of which startup (initdb + postgres):      {:8.1} ms",
        timings["setup"].as_f64().unwrap()
    );
    println!(
        "  of which script execution:                 {:8.1} ms",
        timings["scripts"].as_f64().unwrap()
    );
    println!(
        "  of which snapshots and diffs:              {:8.1} ms",
        timings["snapshots"].as_f64().unwrap()
    );
    println!(
        "ratio verify/psql (whole command):           {:8.2}x",
        ms(verify_wall) / ms(psql)
    );
    println!(
        "ratio verify/psql (excluding startup):       {:8.2}x  (target <= 4x)",
        verify_work / ms(psql)
    );
    println!(
        "embedded cluster ready:                      {:8.1} ms  (target <= 1500 ms)",
        ms(cluster_ready)
    );
    println!(
        "verify peak RSS:                             {:8.1} MiB (target <= 50 MiB)",
        rss_kib as f64 / 1024.0
    );

    // What the measured lock analysis costs: the same verify without it, alternated with
    // it so that a noisy machine weighs on both alike (the median of three each).
    let run = |extra: &[&str]| {
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_migration-check"))
            .args(["verify", "--quiet", "--json", "-"])
            .arg(corpus.path())
            .args(extra)
            .output()
            .expect("run migration-check");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        started.elapsed()
    };
    let (mut with, mut without, mut no_rows) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        with.push(run(&[]));
        without.push(run(&["--no-lock-analysis"]));
        no_rows.push(run(&["--lock-rows", "0"]));
    }
    with.sort();
    without.sort();
    no_rows.sort();
    println!(
        "verify with lock analysis (median of 3):     {:8.1} ms  (default: 1,000 generated rows per table, in a copy)",
        ms(with[1])
    );
    println!(
        "verify --lock-rows 0 (median of 3):          {:8.1} ms  (measured in the verified database)",
        ms(no_rows[1])
    );
    println!(
        "verify --no-lock-analysis (median of 3):     {:8.1} ms",
        ms(without[1])
    );
    println!(
        "lock analysis adds:                          {:8.1} %  (target <= 30 %)",
        (ms(with[1]) / ms(without[1]) - 1.0) * 100.0
    );
    println!(
        "  of which without the rows:                 {:8.1} %",
        (ms(no_rows[1]) / ms(without[1]) - 1.0) * 100.0
    );
}
