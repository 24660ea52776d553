//! PR mode's cached base state (issue #14, part 4), on real git repositories and the
//! embedded PostgreSQL: the first check of a base records the merged history's state, the
//! next one starts from it with the same verdicts, a damaged entry is rebuilt with a
//! warning, an edited merged file is another key, and a state the migrations under
//! verification changed outside their database is never stored.

mod common;

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use common::write;

/// A repository whose `main` has three merged migrations (one of them creating a role)
/// and whose `feature` branch adds `new_up`/`new_down` as version 40.
fn repository(new_up: &str, new_down: &str) -> tempfile::TempDir {
    let repo = tempfile::Builder::new()
        .prefix("mc-git-")
        .tempdir_in("/tmp")
        .unwrap();
    let dir = repo.path();
    common::git(dir, &["init", "-q", "-b", "main"]);
    let merged = [
        (
            "10_users",
            "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);\n",
            "DROP TABLE users;\n",
        ),
        (
            "20_posts",
            "CREATE TABLE posts (id int PRIMARY KEY, author int REFERENCES users);\n\
             CREATE INDEX posts_author ON posts (author);\n",
            "DROP TABLE posts;\n",
        ),
        (
            // No down: reported irreversible whether applied or restored.
            "30_reader",
            "DO $$ BEGIN CREATE ROLE base_cache_reader; EXCEPTION WHEN duplicate_object \
             THEN NULL; END $$;\nGRANT SELECT ON users TO base_cache_reader;\n",
            "",
        ),
    ];
    for (name, up, down) in merged {
        write(dir, &format!("db/migrations/{name}.up.sql"), up);
        if !down.is_empty() {
            write(dir, &format!("db/migrations/{name}.down.sql"), down);
        }
    }
    common::git(dir, &["add", "-A"]);
    common::git(dir, &["commit", "-q", "-m", "base"]);
    common::git(dir, &["checkout", "-q", "-b", "feature"]);
    write(dir, "db/migrations/40_new.up.sql", new_up);
    write(dir, "db/migrations/40_new.down.sql", new_down);
    common::git(dir, &["add", "-A"]);
    common::git(dir, &["commit", "-q", "-m", "feature"]);
    repo
}

/// `verify db/migrations --base main` in `checkout` with the cache in `cache`.
fn verify(checkout: &Path, cache: &Path) -> (Output, Value) {
    let tmp = common::private_tmp();
    let output = common::command(tmp.path())
        .args(["verify", "db/migrations", "--base", "main", "--json", "-"])
        .args(["--irreversible", "warning", "--cache-dir"])
        .arg(cache)
        .current_dir(checkout)
        .output()
        .unwrap();
    common::assert_nothing_left(tmp.path());
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("no report: {}", common::stderr(&output)));
    (output, report)
}

/// The report without what may differ between two runs of the same check: timings, and
/// the notes that say where the merged history came from.
fn verdicts(report: &Value) -> Value {
    let mut report = report.clone();
    report.as_object_mut().unwrap().remove("timings_ms");
    report.as_object_mut().unwrap().remove("notes");
    for migration in report["migrations"].as_array_mut().unwrap() {
        let migration = migration.as_object_mut().unwrap();
        migration.remove("timings_ms");
        migration.remove("notes");
        for finding in migration
            .get_mut("locks")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            finding.as_object_mut().unwrap().remove("held_ms");
        }
    }
    report
}

fn notes_of(report: &Value, version: &str) -> Vec<String> {
    report["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["version"] == version)
        .unwrap()["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

/// The files of the stored base states below `cache`.
fn stored_entries(cache: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(cache.join("bases"))
        .map(|listing| {
            listing
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

const RESTORED: &str = "applied from the cached base state of the merged history";

#[test]
fn a_second_check_of_the_same_base_starts_from_the_cached_state_with_the_same_verdicts() {
    let repo = repository(
        "ALTER TABLE users ADD COLUMN name text;\nCREATE INDEX users_name ON users (name);\n",
        "ALTER TABLE users DROP COLUMN name;\n",
    );
    let cache = tempfile::tempdir().unwrap();

    // Cold: the history is applied, and its state is stored.
    let (cold, cold_report) = verify(repo.path(), cache.path());
    assert_eq!(cold.status.code(), Some(0), "{}", common::stderr(&cold));
    assert!(
        common::stderr(&cold).contains("cached the merged history's base state"),
        "{}",
        common::stderr(&cold)
    );
    assert!(!notes_of(&cold_report, "10").contains(&RESTORED.to_string()));
    let entries = stored_entries(cache.path());
    assert_eq!(entries.len(), 1, "{entries:?}");

    // Warm: the same verdicts, every merged migration restored rather than re-applied.
    let (warm, warm_report) = verify(repo.path(), cache.path());
    assert_eq!(warm.status.code(), Some(0), "{}", common::stderr(&warm));
    assert!(
        common::stderr(&warm).contains("the 3 merged migration(s) from the cached base state"),
        "{}",
        common::stderr(&warm)
    );
    for version in ["10", "20", "30"] {
        assert!(notes_of(&warm_report, version).contains(&RESTORED.to_string()));
    }
    assert_eq!(verdicts(&cold_report), verdicts(&warm_report));
    assert_eq!(warm_report["migrations"][2]["status"], "irreversible");
    assert_eq!(warm_report["migrations"][3]["status"], "passed");

    // A damaged entry (a file cut short): warned about, rebuilt, the same verdicts.
    let data = entries[0].join("data");
    let victim = std::fs::read_dir(data.join("base/1"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.metadata().unwrap().len() > 8192)
        .expect("a catalog file of more than one page");
    std::fs::write(&victim, [0u8; 100]).unwrap();
    let (damaged, damaged_report) = verify(repo.path(), cache.path());
    let stderr = common::stderr(&damaged);
    assert!(
        stderr.contains("the cached base state") && stderr.contains("damaged; rebuilding"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cached the merged history's base state"),
        "{stderr}"
    );
    assert_eq!(verdicts(&cold_report), verdicts(&damaged_report));
    let (rebuilt, _) = verify(repo.path(), cache.path());
    assert!(common::stderr(&rebuilt).contains("from the cached base state"));

    // A merged file edited on the base branch is another base: never the stored state.
    common::git(repo.path(), &["checkout", "-q", "main"]);
    write(
        repo.path(),
        "db/migrations/20_posts.up.sql",
        "CREATE TABLE posts (id int PRIMARY KEY, author int REFERENCES users, body text);\n",
    );
    common::git(
        repo.path(),
        &["commit", "-q", "-am", "edit a merged migration"],
    );
    common::git(repo.path(), &["checkout", "-q", "feature"]);
    common::git(repo.path(), &["merge", "-q", "--no-edit", "main"]);
    let (edited, edited_report) = verify(repo.path(), cache.path());
    assert!(
        !common::stderr(&edited).contains("from the cached base state"),
        "{}",
        common::stderr(&edited)
    );
    assert!(!notes_of(&edited_report, "10").contains(&RESTORED.to_string()));
    assert_eq!(stored_entries(cache.path()).len(), 2);
}

#[test]
fn a_state_the_new_migrations_changed_outside_their_database_is_not_stored() {
    // The new migration leaves a role behind: a stored cluster would carry it.
    let repo = repository(
        "CREATE ROLE base_cache_leftover;\nCREATE TABLE audit (id int);\n",
        "DROP TABLE audit;\n",
    );
    let cache = tempfile::tempdir().unwrap();
    let (output, report) = verify(repo.path(), cache.path());
    let stderr = common::stderr(&output);
    assert!(
        !stderr.contains("cached the merged history's base state"),
        "{stderr}"
    );
    let notes: Vec<&str> = report["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("base state was not cached") && n.contains("roles")),
        "{notes:?}"
    );
    assert!(stored_entries(cache.path()).is_empty());
}

#[test]
fn no_cache_means_no_base_state() {
    let repo = repository("CREATE TABLE audit (id int);\n", "DROP TABLE audit;\n");
    let cache = tempfile::tempdir().unwrap();
    let tmp = common::private_tmp();
    let output = common::command(tmp.path())
        .args(["verify", "db/migrations", "--base", "main", "--no-cache"])
        .args(["--irreversible", "warning", "--cache-dir"])
        .arg(cache.path())
        .current_dir(repo.path())
        .output()
        .unwrap();
    common::assert_nothing_left(tmp.path());
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert!(stored_entries(cache.path()).is_empty());
}
