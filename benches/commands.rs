//! Benchmark for migrations run through their own tool (issue #11): a knex project of 100
//! JavaScript migrations, 99 merged on `main` and 1 added on a branch. Measures
//! `verify --base main` (the PR-mode run: merged history applied in one `migrate:to`, the
//! new migration up → down → up) against knex's own `migrate:latest` of the same 100 files
//! on an embedded cluster started in this run, and the cost of one step (`migrate:up` of
//! one migration). Needs the node tools `.ci/run` installs (`MIGRATION_CHECK_NODE_TOOLS`).
//! Run: `cargo bench --bench commands`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const MIGRATIONS: usize = 100;

fn node_tools() -> PathBuf {
    std::env::var_os("MIGRATION_CHECK_NODE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/migration-check/node-tools")
        })
}

/// Writes the project: knexfile, package.json, 100 migrations; main has the first 99.
fn write_project(dir: &Path) {
    std::fs::write(
        dir.join("knexfile.js"),
        "module.exports = { client: 'pg', connection: process.env.DATABASE_URL,\n  \
         migrations: { directory: 'migrations' } };\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("package.json"),
        "{\"private\": true, \"dependencies\": {\"knex\": \"^3\", \"pg\": \"^8\"}}\n",
    )
    .unwrap();
    std::fs::write(dir.join(".gitignore"), "node_modules\n").unwrap();
    std::os::unix::fs::symlink(node_tools().join("node_modules"), dir.join("node_modules"))
        .unwrap();
    std::fs::create_dir(dir.join("migrations")).unwrap();
    let migration = |i: usize| {
        let table = format!("t{i:03}");
        format!(
            "exports.up = (knex) => knex.schema.createTable('{table}', (t) => {{\n  \
             t.increments('id');\n  t.text('name').notNullable().index();\n}});\n\
             exports.down = (knex) => knex.schema.dropTable('{table}');\n"
        )
    };
    for i in 1..MIGRATIONS {
        std::fs::write(
            dir.join(format!(
                "migrations/{:014}_t{i:03}.js",
                20240101000000u64 + i as u64
            )),
            migration(i),
        )
        .unwrap();
    }
    common::git(dir, &["init", "-q", "-b", "main"]);
    common::git(dir, &["add", "-A"]);
    common::git(dir, &["commit", "-q", "-m", "history"]);
    common::git(dir, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(
        dir.join(format!(
            "migrations/{:014}_t{MIGRATIONS:03}.js",
            20240101000000u64 + MIGRATIONS as u64
        )),
        migration(MIGRATIONS),
    )
    .unwrap();
    common::git(dir, &["add", "-A"]);
    common::git(dir, &["commit", "-q", "-m", "new"]);
}

fn main() {
    assert!(
        node_tools().join("node_modules/knex").is_dir(),
        "no knex in {} (run .ci/run, or set MIGRATION_CHECK_NODE_TOOLS)",
        node_tools().display()
    );
    let project = tempfile::Builder::new()
        .prefix("mc-bench-knex-")
        .tempdir_in("/tmp")
        .unwrap();
    write_project(project.path());
    let migrations = project.path().join("migrations");

    // verify in PR mode, as the Action runs it.
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_migration-check"))
        .args(["verify", "--quiet", "--base", "main", "--json", "-"])
        .arg(&migrations)
        .output()
        .expect("run migration-check");
    let verify_wall = started.elapsed();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "verify produced no report: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(report["passed"], true, "{report:#}");
    let timings = &report["timings_ms"];
    let new = &report["migrations"][MIGRATIONS - 1];
    let step_ms = new["timings_ms"]["up"].as_f64().unwrap_or(0.0);

    // knex's own run of the same files on a fresh cluster.
    let (_runtime, server) = common::embedded_cluster();
    let socket = server.path().join("socket");
    let url = format!(
        "postgresql://postgres@localhost:5432/postgres?host={}",
        socket.display()
    );
    let knex = project.path().join("node_modules/.bin/knex");
    let run_knex = |args: &[&str]| -> Duration {
        let started = Instant::now();
        let status = Command::new(&knex)
            .args(args)
            .current_dir(project.path())
            .env("DATABASE_URL", &url)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("knex");
        assert!(status.success(), "knex {args:?}");
        started.elapsed()
    };
    let latest = run_knex(&["migrate:latest"]);
    run_knex(&["migrate:down"]);
    let one_step = run_knex(&["migrate:up"]);
    drop(server);

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let work = timings["total"].as_f64().unwrap() - timings["setup"].as_f64().unwrap();
    println!(
        "project: knex, {MIGRATIONS} JavaScript migrations, {} merged",
        MIGRATIONS - 1
    );
    println!(
        "knex migrate:latest (all {MIGRATIONS}):          {:8.1} ms",
        ms(latest)
    );
    println!(
        "knex migrate:up (one step, one process):    {:8.1} ms",
        ms(one_step)
    );
    println!(
        "verify --base main, wall:                   {:8.1} ms",
        ms(verify_wall)
    );
    println!(
        "verify --base main, excluding server start: {:8.1} ms (scripts {} ms, snapshots {} ms)",
        work, timings["scripts"], timings["snapshots"]
    );
    println!("verify's up of the new migration:           {step_ms:8.1} ms");
    println!(
        "ratio verify/migrate:latest (wall):          {:8.2}x",
        ms(verify_wall) / ms(latest)
    );
    println!(
        "ratio verify/migrate:latest (excl. start):   {:8.2}x",
        work / ms(latest)
    );
}
