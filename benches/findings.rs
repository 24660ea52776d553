//! Noise benchmark (issue #12): how many findings one fact becomes. Generates a corpus of
//! sqlx migrations whose downs make the mistakes real projects make, runs `verify --all`
//! on it and counts the findings by kind, so a change to how differences are reported
//! can be compared on the same corpus: run it against another build with
//! `MIGRATION_CHECK_BIN=/path/to/migration-check cargo bench --bench findings`.
//!
//! The corpus: 20 tables of 24 columns. For each table one migration drops a column near
//! the start and its down re-adds it (at the end: 1 moved column, 22 shifted ones); every
//! fourth table also gets a migration that creates a serial-keyed child table with two
//! indexes and a foreign key, whose down forgets to drop it; every third a column with a
//! check constraint and a unique index, whose down forgets all three; every fifth a
//! migration that swaps two columns by drop and re-add. Run: `cargo bench --bench findings`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const TABLES: usize = 20;
const COLUMNS: usize = 24;

/// Writes the corpus into `dir`; returns the number of migrations.
fn write_corpus(dir: &Path) -> usize {
    let mut version = 0;
    let mut write = |name: &str, up: &str, down: &str| {
        version += 1;
        std::fs::write(dir.join(format!("{version}_{name}.up.sql")), up).unwrap();
        std::fs::write(dir.join(format!("{version}_{name}.down.sql")), down).unwrap();
    };
    for t in 0..TABLES {
        let mut up = format!("CREATE TABLE t{t} (id serial PRIMARY KEY");
        for c in 1..COLUMNS {
            let _ = write!(up, ", c{c} text");
        }
        up.push_str(");\n");
        write(&format!("create_t{t}"), &up, &format!("DROP TABLE t{t};\n"));
    }
    for t in 0..TABLES {
        write(
            &format!("drop_c2_of_t{t}"),
            &format!("ALTER TABLE t{t} DROP COLUMN c2;\n"),
            &format!("ALTER TABLE t{t} ADD COLUMN c2 text;\n"),
        );
        if t % 4 == 0 {
            write(
                &format!("child_of_t{t}"),
                &format!(
                    "CREATE TABLE child{t} (id serial PRIMARY KEY, \
                     parent_id int NOT NULL REFERENCES t{t} (id), note text);\n\
                     CREATE INDEX child{t}_parent_idx ON child{t} (parent_id);\n\
                     CREATE INDEX child{t}_note_idx ON child{t} (note);\n"
                ),
                "SELECT 1; -- forgets the table\n",
            );
        }
        if t % 3 == 0 {
            write(
                &format!("code_of_t{t}"),
                &format!(
                    "ALTER TABLE t{t} ADD COLUMN code text CHECK (length(code) > 2);\n\
                     CREATE UNIQUE INDEX t{t}_code_idx ON t{t} (code);\n"
                ),
                "SELECT 1; -- forgets the column, its check and its index\n",
            );
        }
        if t % 5 == 0 {
            write(
                &format!("swap_c5_c18_of_t{t}"),
                &format!("ALTER TABLE t{t} DROP COLUMN c5, DROP COLUMN c18;\n"),
                &format!("ALTER TABLE t{t} ADD COLUMN c18 text, ADD COLUMN c5 text;\n"),
            );
        }
    }
    version
}

fn binary() -> PathBuf {
    std::env::var_os("MIGRATION_CHECK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_migration-check")))
}

fn main() {
    let corpus = tempfile::tempdir().unwrap();
    let migrations = write_corpus(corpus.path());
    let output = Command::new(binary())
        .args(["verify", "--all", "--quiet", "--json", "-"])
        .arg(corpus.path())
        .output()
        .expect("run migration-check");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "no JSON report: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    let problems = report["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["problems"].as_array().unwrap())
        .chain(report["sequence"]["problems"].as_array().unwrap());
    for problem in problems {
        *by_kind
            .entry(problem["kind"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    println!(
        "findings on a generated corpus of {migrations} migrations ({} tables of {COLUMNS} columns), {}:",
        TABLES,
        binary().display()
    );
    for (kind, count) in &by_kind {
        println!("  {kind:<28} {count:>5}");
    }
    println!("  {:<28} {:>5}", "total", by_kind.values().sum::<usize>());
}
