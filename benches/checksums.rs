//! Benchmark of the base-branch comparison on a large migrations directory: a git repository
//! with 5,000 migration files (2,500 sqlx up/down pairs) on `main` and a PR branch that edits,
//! renames and adds a few. It times `compare_with_base` (target: under 1 s) next to a bare
//! `git ls-tree -r -z` of the same directory, the floor any git-based reading starts from.
//! Run with `cargo bench --bench checksums`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use migration_check::checksum::{FileState, compare_with_base, versions_to_verify};
use migration_check::migrations::{Layout, sqlx};

const PAIRS: usize = 2_500;
const RUNS: usize = 7;

/// Runs git for setup with a neutral configuration; panics on failure.
fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("LC_ALL", "C")
        .args([
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=bench@example.com",
        ])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The median and the fastest of `RUNS` timings of `f`.
fn time(mut f: impl FnMut()) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[RUNS / 2], times[0])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let tmp = tempfile::TempDir::new().expect("tempdir");
    let root = tmp.path();
    let dir = root.join("migrations");
    std::fs::create_dir(&dir).unwrap();
    let setup = Instant::now();
    git(root, &["init", "-q", "-b", "main"]);
    for i in 1..=PAIRS {
        let version = 20_240_000_000_000u64 + i as u64;
        std::fs::write(
            dir.join(format!("{version}_table_{i}.up.sql")),
            format!("create table t{i} (id bigint primary key, name text not null);\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{version}_table_{i}.down.sql")),
            format!("drop table t{i};\n"),
        )
        .unwrap();
    }
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "base"]);
    git(root, &["checkout", "-q", "-b", "feature"]);
    for i in [10, 500, 1_200, 2_499] {
        let version = 20_240_000_000_000u64 + i;
        std::fs::write(
            dir.join(format!("{version}_table_{i}.up.sql")),
            format!("create table t{i} (id bigint primary key);\n"),
        )
        .unwrap();
    }
    git(
        root,
        &[
            "mv",
            "migrations/20240000000007_table_7.up.sql",
            "migrations/20240000000007_renamed.up.sql",
        ],
    );
    std::fs::write(dir.join("20240000000100_late.up.sql"), "select 1;\n").unwrap();
    std::fs::write(dir.join("20250000000000_new.up.sql"), "select 2;\n").unwrap();
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "pr"]);
    println!(
        "setup: {} files in a git repository in {:.0} ms",
        PAIRS * 2,
        ms(setup.elapsed())
    );

    let mut comparison = None;
    let mut measure = |label: &str| {
        let (median, fastest) = time(|| {
            comparison = Some(
                compare_with_base(&dir, &Layout::plain(sqlx::FORMAT), "main", None)
                    .expect("compare"),
            );
        });
        println!(
            "compare_with_base ({label}): {} files, median {:.1} ms, fastest {:.1} ms \
             (target < 1000 ms) {}",
            PAIRS * 2 + 2,
            ms(median),
            ms(fastest),
            if median < Duration::from_secs(1) {
                "OK"
            } else {
                "OVER TARGET"
            }
        );
        median
    };
    // Freshly committed objects are loose files; a clone (what CI has) is packed.
    measure("loose objects, as right after committing");
    git(root, &["repack", "-a", "-d", "-q"]);
    let median = measure("packed objects, as in a clone");
    let c = comparison.unwrap();
    let count = |s: FileState| c.files.iter().filter(|f| f.state == s).count();
    assert_eq!(count(FileState::Modified), 4);
    assert_eq!(count(FileState::Renamed), 1);
    assert_eq!(count(FileState::OutOfOrder), 1);
    assert_eq!(count(FileState::Added), 1);
    assert_eq!(versions_to_verify(&c).len(), 6);

    let (ls_median, ls_fastest) = time(|| {
        let out = Command::new("git")
            .current_dir(root)
            .env("LC_ALL", "C")
            .args(["ls-tree", "-r", "-z", "main", "--", "migrations"])
            .output()
            .expect("git ls-tree");
        assert!(out.status.success() && out.stdout.len() > 100_000);
    });

    println!(
        "git ls-tree alone (packed): median {:.1} ms, fastest {:.1} ms; compare_with_base / ls-tree = {:.1}x",
        ms(ls_median),
        ms(ls_fastest),
        ms(median) / ms(ls_median)
    );
}
