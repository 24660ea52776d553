//! Benchmark for issue #6: time from command start to the first migration
//! applied, Docker backend against the embedded one, measured in the same run
//! (median of 3 each). Needs a Docker daemon and the image in
//! `MIGRATION_CHECK_BENCH_IMAGE` (default `mc-postgres:15`, built by
//! `.ci/docker-setup`). Run: `cargo bench --bench backends`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 3;

/// Wall time until the progress line of migration 1 appears on stderr.
fn first_migration(args: &[&str], dir: &std::path::Path) -> Duration {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_migration-check"))
        .arg("verify")
        .arg(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run migration-check");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut elapsed = None;
    for line in stderr.lines() {
        let line = line.unwrap();
        if elapsed.is_none() && line.starts_with("[1/1]") {
            elapsed = Some(started.elapsed());
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "verify {args:?} failed");
    elapsed.expect("progress line for the first migration")
}

fn main() {
    let image =
        std::env::var("MIGRATION_CHECK_BENCH_IMAGE").unwrap_or_else(|_| "mc-postgres:15".into());
    let dir = tempfile::Builder::new()
        .prefix("mc-bench-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::write(
        dir.path().join("1_t.up.sql"),
        "CREATE TABLE t (id int PRIMARY KEY);\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("1_t.down.sql"), "DROP TABLE t;\n").unwrap();
    let embedded = common::median(
        (0..RUNS)
            .map(|_| first_migration(&["--postgres", "embedded"], dir.path()))
            .collect(),
    );
    let docker = common::median(
        (0..RUNS)
            .map(|_| first_migration(&["--postgres", "docker", "--image", &image], dir.path()))
            .collect(),
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("command start to first migration verified (median of {RUNS}):");
    println!("  embedded:          {:8.1} ms", ms(embedded));
    println!("  docker ({image}): {:8.1} ms", ms(docker));
    println!(
        "  ratio docker / embedded: {:.2}x",
        ms(docker) / ms(embedded)
    );
}
