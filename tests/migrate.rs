//! `migrate` on a real database (issue #13, first part): up, status, down, history,
//! validate and new on sqlx's `_sqlx_migrations` and on `migration_check.history`; the
//! real sqlx-cli agrees with the state migrate leaves and the other way round; two
//! concurrent runs apply each migration once; a held lock, drift, a failing migration and
//! bad targets each get their exit status.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use migration_check::postgres::embedded::{EmbeddedOptions, EmbeddedServer};
use sha2::{Digest, Sha384};

/// A fresh database on an embedded cluster, with its key=value connection string.
struct Database {
    server: EmbeddedServer,
    url: String,
    name: String,
}

impl Database {
    async fn new(name: &str) -> Database {
        let server = EmbeddedServer::start(&EmbeddedOptions::default())
            .await
            .expect("embedded PostgreSQL");
        let client = common::connect(server.config("postgres")).await;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let url = format!(
            "host={} port=5432 user=postgres dbname={name}",
            server.path().join("socket").display()
        );
        Database {
            server,
            url,
            name: name.into(),
        }
    }

    async fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let client = common::connect(self.server.config(&self.name)).await;
        client
            .simple_query(sql)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    }
}

fn migrate(dir: &Path, url: &str, args: &[&str]) -> Output {
    Command::new(common::binary())
        .arg("migrate")
        .args(args)
        .arg(dir)
        .args(["--database-url", url])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run migration-check")
}

/// Runs `work` (a command) off the async runtime.
async fn blocking(work: impl FnOnce() -> Output + Send + 'static) -> Output {
    tokio::task::spawn_blocking(work).await.unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Three sqlx migrations with downs.
fn sqlx_dir() -> tempfile::TempDir {
    sqlx_dir_with_prefix("")
}

/// The sqlx migrations 1, 2 and 3, their names starting with `prefix` (`000` pads them to
/// `0001_users.up.sql`, which sqlx records as version 1).
fn sqlx_dir_with_prefix(prefix: &str) -> tempfile::TempDir {
    let files: Vec<(String, &str)> = [
        (
            "1_users.up.sql",
            "CREATE TABLE users (id int PRIMARY KEY, email text);\n",
        ),
        ("1_users.down.sql", "DROP TABLE users;\n"),
        (
            "2_orders.up.sql",
            "CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users);\n",
        ),
        ("2_orders.down.sql", "DROP TABLE orders;\n"),
        (
            "3_email_index.up.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n",
        ),
        (
            "3_email_index.down.sql",
            "-- no-transaction\nDROP INDEX CONCURRENTLY users_email_idx;\n",
        ),
    ]
    .into_iter()
    .map(|(name, text)| (format!("{prefix}{name}"), text))
    .collect();
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    common::migrations_dir(&files)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_status_down_history_validate_on_sqlx_bookkeeping() {
    let db = Database::new("app").await;
    let dir = sqlx_dir();
    let run = |args: &[&str]| {
        let (dir, url) = (dir.path().to_path_buf(), db.url.clone());
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            migrate(&dir, &url, &args)
        }
    };
    let output = blocking(run(&["up", "--count", "2"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert!(
        stdout(&output).contains("applied 2 migration(s)"),
        "{}",
        stdout(&output)
    );
    // Booked as sqlx books: description, success, SHA-384 of the up file, nanoseconds.
    let rows = db
        .query("SELECT version, description, success, encode(checksum, 'hex'), execution_time > 0 FROM _sqlx_migrations ORDER BY version")
        .await;
    let sha = hex(&Sha384::digest(
        std::fs::read(dir.path().join("1_users.up.sql")).unwrap(),
    ));
    assert_eq!(
        rows[0],
        [
            Some("1".into()),
            Some("users".into()),
            Some("t".into()),
            Some(sha),
            Some("t".into())
        ]
    );
    assert_eq!(rows.len(), 2);

    let output = blocking(run(&["status"])).await;
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(text.contains("2 applied, 1 pending"), "{text}");

    let output = blocking(run(&["up", "--dry-run"])).await;
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("CREATE INDEX CONCURRENTLY users_email_idx"));
    assert_eq!(
        db.query("SELECT count(*) FROM _sqlx_migrations").await[0][0].as_deref(),
        Some("2")
    );

    let output = blocking(run(&["up"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let output = blocking(run(&["down", "--to", "1"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert!(stdout(&output).contains("reverted 2 migration(s)"));
    assert_eq!(
        db.query("SELECT to_regclass('orders') IS NULL, count(*) FROM _sqlx_migrations")
            .await[0],
        [Some("t".into()), Some("1".into())]
    );

    let output = blocking(run(&["history", "--json"])).await;
    let history: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(history.as_array().unwrap().len(), 1);
    assert_eq!(history[0]["version"], "1");

    // A file changed after it was applied: status and validate exit 1, up refuses.
    std::fs::write(
        dir.path().join("1_users.up.sql"),
        "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n",
    )
    .unwrap();
    let output = blocking(run(&["validate"])).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("file changed since"),
        "{}",
        stdout(&output)
    );
    let output = blocking(run(&["status", "--json"])).await;
    assert_eq!(output.status.code(), Some(1));
    let output = blocking(run(&["up"])).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        common::stderr(&output).contains("disagree"),
        "{}",
        common::stderr(&output)
    );

    // Bad targets.
    let output = blocking(run(&["down", "--to", "7"])).await;
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlx_cli_and_migrate_agree_on_one_database() {
    sqlx_cli_agreement("shared", "").await;
}

/// `0001_users.up.sql` is version 1 to sqlx, and to migrate: up, status, validate, down and
/// the real sqlx-cli agree on zero-padded files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlx_cli_and_migrate_agree_on_zero_padded_versions() {
    sqlx_cli_agreement("padded", "000").await;
}

/// sqlx-cli and `migrate` taking turns on one database of the migrations `sqlx_dir_with_prefix`
/// writes with `prefix`.
async fn sqlx_cli_agreement(database: &str, prefix: &'static str) {
    let Some(sqlx) = sqlx_cli() else { return };
    let db = Database::new(database).await;
    let dir = sqlx_dir_with_prefix(prefix);
    let url = format!(
        "postgres://postgres@localhost:5432/{database}?host={}",
        db.server.path().join("socket").display()
    );
    let (path, ours) = (dir.path().to_path_buf(), db.url.clone());
    let sqlx_run = |args: &'static [&'static str]| {
        let (sqlx, path, url) = (sqlx.clone(), path.clone(), url.clone());
        move || {
            Command::new(sqlx)
                .arg("migrate")
                .args(args)
                .arg("--source")
                .arg(path)
                .args(["--database-url", &url])
                .output()
                .unwrap()
        }
    };
    let ours_run = |args: &'static [&'static str]| {
        let (path, ours) = (path.clone(), ours.clone());
        move || migrate(&path, &ours, args)
    };
    // migrate applies two; sqlx sees them installed with their checksums and applies the third.
    let output = blocking(ours_run(&["up", "--count", "2"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let info = blocking(sqlx_run(&["info"])).await;
    let text = stdout(&info);
    assert!(
        text.contains("1/installed") && text.contains("2/installed"),
        "{text}"
    );
    assert!(
        text.contains("3/pending") && !text.contains("different checksum"),
        "{text}"
    );
    let applied = blocking(sqlx_run(&["run"])).await;
    assert!(applied.status.success(), "{}", common::stderr(&applied));
    // migrate sees what sqlx did, and the checksums sqlx wrote are the ones it computes.
    let output = blocking(ours_run(&["status"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("3 applied, 0 pending"),
        "{}",
        stdout(&output)
    );
    let output = blocking(ours_run(&["validate"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let output = blocking(ours_run(&["history"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert_eq!(
        // At the start of a line: "2 ms" in the timing column is not version 2.
        stdout(&output)
            .lines()
            .filter(|line| line.trim_start().starts_with(&format!("{prefix}2 ")))
            .count(),
        1,
        "each migration once, in the files' spelling: {}",
        stdout(&output)
    );
    // sqlx reverts one, migrate sees it pending; migrate reverts one more, sqlx agrees.
    let reverted = blocking(sqlx_run(&["revert"])).await;
    assert!(reverted.status.success(), "{}", common::stderr(&reverted));
    let output = blocking(ours_run(&["down"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let info = blocking(sqlx_run(&["info"])).await;
    let text = stdout(&info);
    assert!(
        text.contains("1/installed") && text.contains("2/pending") && text.contains("3/pending"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_apply_each_migration_once_and_a_held_lock_is_named() {
    let db = Database::new("race").await;
    let files: Vec<(String, String)> = (1..=12)
        .flat_map(|i| {
            [
                (
                    format!("{i}_t{i}.up.sql"),
                    format!("CREATE TABLE t{i} (id int); SELECT pg_sleep(0.05);\n"),
                ),
                (format!("{i}_t{i}.down.sql"), format!("DROP TABLE t{i};\n")),
            ]
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let dir = common::migrations_dir(&refs);
    let spawn =
        |path: PathBuf, url: String| std::thread::spawn(move || migrate(&path, &url, &["up"]));
    let first = spawn(dir.path().to_path_buf(), db.url.clone());
    let second = spawn(dir.path().to_path_buf(), db.url.clone());
    let (first, second) = (first.join().unwrap(), second.join().unwrap());
    assert_eq!(first.status.code(), Some(0), "{}", common::stderr(&first));
    assert_eq!(second.status.code(), Some(0), "{}", common::stderr(&second));
    assert_eq!(
        db.query("SELECT count(*), count(DISTINCT version) FROM _sqlx_migrations")
            .await[0],
        [Some("12".into()), Some("12".into())]
    );

    // Another session holds sqlx's lock: the run waits, then exits 3 naming it.
    let holder = common::connect(db.server.config(&db.name)).await;
    holder
        .batch_execute("SET application_name = 'deploy-bot'")
        .await
        .unwrap();
    let name_key = migration_check::migrate::history::of(
        *migration_check::migrations::Format::ALL
            .iter()
            .find(|f| f.name() == "sqlx")
            .unwrap(),
    )
    .unwrap()
    .lock_key(&db.name, "public");
    holder
        .execute("SELECT pg_advisory_lock($1)", &[&name_key])
        .await
        .unwrap();
    let (path, url) = (dir.path().to_path_buf(), db.url.clone());
    let output = blocking(move || migrate(&path, &url, &["down", "--lock-wait", "1s"])).await;
    assert_eq!(output.status.code(), Some(3), "{}", common::stderr(&output));
    let message = common::stderr(&output);
    assert!(
        message.contains("holds the lock") && message.contains("deploy-bot"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_migration_is_rolled_back_unrecorded_and_other_layouts_use_our_history() {
    let db = Database::new("fails").await;
    let dir = common::migrations_dir(&[
        ("1_ok.up.sql", "CREATE TABLE ok (id int);\n"),
        ("1_ok.down.sql", "DROP TABLE ok;\n"),
        (
            "2_bad.up.sql",
            "CREATE TABLE half (id int);\nSELECT * FROM missing;\n",
        ),
        ("2_bad.down.sql", "DROP TABLE half;\n"),
    ]);
    let (path, url) = (dir.path().to_path_buf(), db.url.clone());
    let output = blocking(move || migrate(&path, &url, &["up"])).await;
    assert_eq!(output.status.code(), Some(1));
    let message = common::stderr(&output);
    assert!(message.contains("2_bad.up.sql:2:"), "{message}");
    assert_eq!(
        db.query("SELECT count(*), to_regclass('half') IS NULL FROM _sqlx_migrations")
            .await[0],
        [Some("1".into()), Some("t".into())]
    );

    // Hasura keeps its state in hdb_catalog, which migrate does not write: refused by name.
    let (path, url) = (
        common::root().join("tests/fixtures/formats/hasura/migrations/default"),
        db.url.clone(),
    );
    let output = blocking(move || migrate(&path, &url, &["status", "--format", "hasura"])).await;
    assert_eq!(output.status.code(), Some(2), "{}", common::stderr(&output));
    assert!(
        common::stderr(&output).contains("hdb_catalog.schema_migrations"),
        "{}",
        common::stderr(&output)
    );

    // A hand-rolled layout: our own history, with who and how long.
    let pattern = common::migrations_dir(&[
        ("0001-a.apply.sql", "CREATE TABLE pa (id int);\n"),
        ("0001-a.revert.sql", "DROP TABLE pa;\n"),
        (
            "migration-check.toml",
            "[pattern]\nup = \"{version}-{name}.apply.sql\"\ndown = \"{version}-{name}.revert.sql\"\n",
        ),
    ]);
    let config = pattern.path().join("migration-check.toml");
    let (path, url) = (pattern.path().to_path_buf(), db.url.clone());
    let output = blocking(move || {
        Command::new(common::binary())
            .args(["migrate", "up"])
            .arg(&path)
            .args(["--format", "pattern", "--config"])
            .arg(&config)
            .args(["--database-url", &url])
            .output()
            .unwrap()
    })
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(
        db.query("SELECT version, name, direction, applied_by FROM migration_check.history")
            .await[0],
        [
            Some("0001".into()),
            Some("a".into()),
            Some("up".into()),
            Some("postgres".into())
        ]
    );

    // An unreachable database is exit 3.
    let (path, url) = (
        dir.path().to_path_buf(),
        "host=/nonexistent port=1 user=x dbname=y".to_string(),
    );
    let output = blocking(move || migrate(&path, &url, &["status"])).await;
    assert_eq!(output.status.code(), Some(3), "{}", common::stderr(&output));
}

/// sqlx-cli (`MIGRATION_CHECK_SQLX`, else `~/.cache/migration-check/cargo-tools/bin/sqlx`,
/// where `.ci/run` installs it); None, with a word, when missing, unless
/// `MIGRATION_CHECK_TEST_SQLX=required`.
fn sqlx_cli() -> Option<PathBuf> {
    let path = std::env::var_os("MIGRATION_CHECK_SQLX")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/migration-check/cargo-tools/bin/sqlx")
        });
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var("MIGRATION_CHECK_TEST_SQLX").as_deref() != Ok("required"),
        "MIGRATION_CHECK_TEST_SQLX=required but {} is missing (.ci/run installs sqlx-cli)",
        path.display()
    );
    eprintln!("skipped: no sqlx-cli at {}", path.display());
    None
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// dbmate's `schema_migrations`: migrate and the real dbmate (npm) see each other's work;
/// golang-migrate's table of the same name is refused as another tool's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dbmate_and_migrate_agree_on_one_database() {
    let Some(tools) = common::node_tools() else {
        return;
    };
    let dbmate = tools.join("node_modules/.bin/dbmate");
    assert!(
        dbmate.exists(),
        "{} (.ci/run installs dbmate)",
        dbmate.display()
    );
    let db = Database::new("dbm").await;
    let dir = common::root().join("tests/fixtures/formats/dbmate");
    let url = format!(
        "postgres://postgres@localhost:5432/dbm?socket={}&sslmode=disable",
        db.server.path().join("socket").display()
    );
    let dbmate_run = |args: &'static [&'static str]| {
        let (dbmate, dir, url) = (dbmate.clone(), dir.clone(), url.clone());
        move || {
            Command::new(dbmate)
                .args(["--no-dump-schema", "--url", &url, "--migrations-dir"])
                .arg(dir)
                .args(args)
                .output()
                .unwrap()
        }
    };
    let ours_run = |args: &'static [&'static str]| {
        let (dir, url) = (dir.clone(), db.url.clone());
        move || {
            let mut all = args.to_vec();
            all.extend_from_slice(&["--format", "dbmate"]);
            migrate(&dir, &url, &all)
        }
    };
    let output = blocking(ours_run(&["up", "--count", "2"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let status = blocking(dbmate_run(&["status"])).await;
    let text = stdout(&status);
    assert!(
        text.contains("Applied: 2") && text.contains("Pending: 2"),
        "{text}"
    );
    let up = blocking(dbmate_run(&["up"])).await;
    assert!(up.status.success(), "{}", common::stderr(&up));
    let output = blocking(ours_run(&["status"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("4 applied, 0 pending"),
        "{}",
        stdout(&output)
    );
    assert!(stdout(&output).contains("records no checksums"));
    let output = blocking(ours_run(&["down", "--count", "2"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let status = blocking(dbmate_run(&["status"])).await;
    assert!(
        stdout(&status).contains("Applied: 2"),
        "{}",
        stdout(&status)
    );

    // golang-migrate's schema_migrations (version, dirty) is not dbmate's: exit 2.
    let other = Database::new("golang").await;
    other
        .query(
            "CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL)",
        )
        .await;
    let (dir2, url2) = (dir.clone(), other.url.clone());
    let output = blocking(move || migrate(&dir2, &url2, &["status", "--format", "dbmate"])).await;
    assert_eq!(output.status.code(), Some(2), "{}", common::stderr(&output));
    assert!(
        common::stderr(&output).contains("another tool"),
        "{}",
        common::stderr(&output)
    );
}

/// `migrate new` writes the format's template with the next version: the next number at
/// the same width after sequential versions, a timestamp after timestamps; no database.
#[test]
fn new_writes_the_next_migration_from_the_template() {
    let dir = sqlx_dir();
    let output = Command::new(common::binary())
        .args(["migrate", "new", "add_orders"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert!(
        dir.path().join("4_add_orders.up.sql").is_file(),
        "{}",
        stdout(&output)
    );
    assert!(dir.path().join("4_add_orders.down.sql").is_file());

    let stamped = common::migrations_dir(&[("20240101120000_a.up.sql", "SELECT 1;\n")]);
    let output = Command::new(common::binary())
        .args(["migrate", "new", "b"])
        .arg(stamped.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let created: Vec<String> = std::fs::read_dir(stamped.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("_b.up.sql"))
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(
        created[0].len(),
        "20240101120000_b.up.sql".len(),
        "{created:?}"
    );
    assert!(created[0].as_str() > "20260101000000", "{created:?}");

    // A 17-digit node-pg-migrate version stays 17 digits.
    let long = common::migrations_dir(&[(
        "20231115000000000_a.sql",
        "-- Up Migration\nSELECT 1;\n-- Down Migration\nSELECT 1;\n",
    )]);
    let output = Command::new(common::binary())
        .args(["migrate", "new", "b", "--format", "node-pg-migrate"])
        .arg(long.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert!(
        stdout(&output).contains("20231115000000001_b"),
        "{}",
        stdout(&output)
    );

    let output = Command::new(common::binary())
        .args(["migrate", "new", "no spaces"])
        .arg(stamped.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

/// node-pg-migrate's `pgmigrations` (SQL files): the real node-pg-migrate (npm) applies
/// only what migrate left pending, and migrate sees what it applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_pg_migrate_and_migrate_agree_on_one_database() {
    let Some(tools) = common::node_tools() else {
        return;
    };
    let tool = tools.join("node_modules/.bin/node-pg-migrate");
    let db = Database::new("npm").await;
    // node-pg-migrate reads every file of its directory: the SQL files alone.
    let dir = tempfile::tempdir().unwrap();
    let fixture = common::root().join("tests/fixtures/formats/node-pg-migrate");
    for entry in std::fs::read_dir(&fixture).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sql") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let url = format!(
        "postgres://postgres@localhost:5432/npm?host={}",
        db.server.path().join("socket").display()
    );
    let tool_run = |args: &'static [&'static str]| {
        let (tool, dir, url) = (tool.clone(), dir.path().to_path_buf(), url.clone());
        move || {
            Command::new(tool)
                .args(args)
                .arg("-m")
                .arg(dir)
                .env("DATABASE_URL", url)
                .output()
                .unwrap()
        }
    };
    let ours_run = |args: &'static [&'static str]| {
        let (dir, url) = (dir.path().to_path_buf(), db.url.clone());
        move || {
            let mut all = args.to_vec();
            all.extend_from_slice(&["--format", "node-pg-migrate"]);
            migrate(&dir, &url, &all)
        }
    };
    let output = blocking(ours_run(&["up", "--count", "2"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let up = blocking(tool_run(&["up"])).await;
    assert!(
        up.status.success(),
        "{}{}",
        stdout(&up),
        common::stderr(&up)
    );
    // It applied the three left, not the two migrate applied.
    assert_eq!(
        stdout(&up)
            .matches("INSERT INTO \"public\".\"pgmigrations\"")
            .count(),
        3
    );
    let output = blocking(ours_run(&["status"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("5 applied, 0 pending"),
        "{}",
        stdout(&output)
    );
    let again = blocking(tool_run(&["up", "--dry-run"])).await;
    assert!(
        stdout(&again).contains("No migrations to run"),
        "{}",
        stdout(&again)
    );
    // The last one has no down: neither tool reverts it.
    let output = blocking(ours_run(&["down"])).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(common::stderr(&output).contains("no down script"));
}

/// golang-migrate's `schema_migrations`: one row, the current version and dirty flag, as
/// the tool writes it; a failing migration leaves the version dirty, which status reports
/// and up refuses; down moves the version back and empties the table below the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golang_migrate_current_version_and_dirty_flag() {
    let db = Database::new("golang").await;
    let dir = common::migrations_dir(&[
        ("1_users.up.sql", "CREATE TABLE users (id int);\n"),
        ("1_users.down.sql", "DROP TABLE users;\n"),
        ("2_orders.up.sql", "CREATE TABLE orders (id int);\n"),
        ("2_orders.down.sql", "DROP TABLE orders;\n"),
        (
            "3_bad.up.sql",
            "CREATE TABLE half (id int);\nSELECT * FROM missing;\n",
        ),
        ("3_bad.down.sql", "DROP TABLE half;\n"),
    ]);
    let run = |args: &'static [&'static str]| {
        let (dir, url) = (dir.path().to_path_buf(), db.url.clone());
        move || {
            let mut all = args.to_vec();
            all.extend_from_slice(&["--format", "golang-migrate"]);
            migrate(&dir, &url, &all)
        }
    };
    let row = || db.query("SELECT version, dirty FROM schema_migrations");
    let output = blocking(run(&["up", "--count", "2"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(row().await, [[Some("2".into()), Some("f".into())]]);

    let output = blocking(run(&["up"])).await;
    assert_eq!(output.status.code(), Some(1), "{}", common::stderr(&output));
    assert_eq!(row().await, [[Some("3".into()), Some("t".into())]]);
    let output = blocking(run(&["status"])).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("failed (dirty)"),
        "{}",
        stdout(&output)
    );
    let output = blocking(run(&["down"])).await;
    assert_eq!(output.status.code(), Some(2), "{}", common::stderr(&output));

    // Repaired as golang-migrate's `force 2` does; then down twice empties the table.
    db.query("UPDATE schema_migrations SET version = 2, dirty = false")
        .await;
    let output = blocking(run(&["down"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(row().await, [[Some("1".into()), Some("f".into())]]);
    let output = blocking(run(&["down"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert!(row().await.is_empty());
}

/// diesel's `__diesel_schema_migrations`: the directory's version without its dashes, as
/// diesel records it (`2024-01-02-030405_create_accounts` → `20240102030405`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diesel_versions_are_recorded_without_dashes() {
    let db = Database::new("diesel").await;
    let dir = common::root().join("tests/fixtures/formats/diesel");
    let run = |args: &'static [&'static str]| {
        let (dir, url) = (dir.clone(), db.url.clone());
        move || {
            let mut all = args.to_vec();
            all.extend_from_slice(&["--format", "diesel"]);
            migrate(&dir, &url, &all)
        }
    };
    let output = blocking(run(&["up", "--count", "2"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(
        db.query("SELECT version FROM __diesel_schema_migrations ORDER BY version")
            .await,
        [
            [Some("20240102030405".into())],
            [Some("20240103030405".into())]
        ]
    );
    let output = blocking(run(&["status"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("2 applied, 1 pending"),
        "{}",
        stdout(&output)
    );
    let output = blocking(run(&["down"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(
        db.query("SELECT version FROM __diesel_schema_migrations")
            .await,
        [[Some("20240102030405".into())]]
    );
}

/// Ory's popx layout (Hydra, Kratos): 20-digit versions recorded in popx's wider table, an
/// `.autocommit` migration's `CREATE INDEX CONCURRENTLY` run outside a transaction, the
/// other dialects' files left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn popx_versions_and_autocommit_migrations() {
    let db = Database::new("popx").await;
    let dir = common::root().join("tests/fixtures/formats/pop--popx/migrations");
    let (dir2, url) = (dir.clone(), db.url.clone());
    let output = blocking(move || migrate(&dir2, &url, &["up"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(
        db.query(
            "SELECT version, (SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = 'schema_migration'::regclass AND attname = 'version') \
             FROM schema_migration ORDER BY version"
        )
        .await
        .into_iter()
        .map(|row| (row[0].clone().unwrap(), row[1].clone().unwrap()))
        .collect::<Vec<_>>(),
        [
            "20240101000001000000",
            "20240201000001000000",
            "20240301000001000000"
        ]
        .map(|v| (v.to_string(), "character varying(48)".to_string()))
    );
    assert_eq!(
        db.query(
            "SELECT indisvalid::text FROM pg_index WHERE indexrelid = 'clients_nid_idx'::regclass"
        )
        .await,
        [[Some("true".into())]]
    );
    let url = db.url.clone();
    let output = blocking(move || migrate(&dir, &url, &["down", "--count", "2"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(
        db.query("SELECT version, to_regclass('clients_nid_idx')::text FROM schema_migration")
            .await,
        [[Some("20240101000001000000".into()), None]]
    );
}

/// `redo` reverts and re-applies the last migrations and compares the schema before and
/// after: equal is exit 0; a down that forgets an index is exit 1 naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redo_compares_the_schema_before_and_after() {
    let db = Database::new("redo").await;
    let dir = common::migrations_dir(&[
        (
            "1_users.up.sql",
            "CREATE TABLE users (id int, email text);\n",
        ),
        ("1_users.down.sql", "DROP TABLE users;\n"),
        (
            "2_index.up.sql",
            "CREATE INDEX users_email_idx ON users (email);\n",
        ),
        ("2_index.down.sql", "DROP INDEX users_email_idx;\n"),
        ("3_age.up.sql", "ALTER TABLE users ADD COLUMN age int;\n"),
        // Also drops an index of the migration before: redo loses it.
        (
            "3_age.down.sql",
            "ALTER TABLE users DROP COLUMN age;\nDROP INDEX users_email_idx;\n",
        ),
    ]);
    let run = |args: &'static [&'static str]| {
        let (dir, url) = (dir.path().to_path_buf(), db.url.clone());
        move || migrate(&dir, &url, args)
    };
    let output = blocking(run(&["up", "--count", "2"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let output = blocking(run(&["redo", "--count", "2"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert!(
        stdout(&output).contains("exactly what it was"),
        "{}",
        stdout(&output)
    );

    let output = blocking(run(&["up"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let output = blocking(run(&["redo"])).await;
    assert_eq!(output.status.code(), Some(1), "{}", common::stderr(&output));
    assert!(
        stdout(&output).contains("index public.users_email_idx"),
        "{}",
        stdout(&output)
    );
    let output = blocking(run(&["redo", "--to", "1"])).await;
    assert_eq!(output.status.code(), Some(2));
}

/// One format's layout for [`bookkeeping_round_trip`]: three migrations, the table its tool
/// keeps, whether they have downs, and the file of the first migration.
struct Layout {
    format: &'static str,
    files: Vec<(String, String)>,
    table: &'static str,
    downs: bool,
    first: &'static str,
}

/// Atlas's `atlas.sum` for `files` (name, content), sorted: the cumulative SHA-256 per file.
fn atlas_sum(files: &[(String, String)]) -> String {
    use base64::Engine as _;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut sorted: Vec<&(String, String)> = files.iter().collect();
    sorted.sort();
    let mut running = sha2::Sha256::new();
    let mut lines = Vec::new();
    let mut total = sha2::Sha256::new();
    for (name, content) in sorted {
        running.update(name.as_bytes());
        running.update(content.as_bytes());
        let hash = encode(&running.clone().finalize());
        total.update(name.as_bytes());
        total.update(hash.as_bytes());
        lines.push(format!("{name} h1:{hash}\n"));
    }
    format!("h1:{}\n{}", encode(&total.finalize()), lines.concat())
}

fn layouts() -> Vec<Layout> {
    let tables = ["users", "orders", "items"];
    let create = |t: &str| format!("CREATE TABLE {t} (id int PRIMARY KEY);\n");
    let drop = |t: &str| format!("DROP TABLE {t};\n");
    let owned = |pairs: Vec<(String, String)>| pairs;
    // An up file and a down file a table, named by `name(index, table, up)`.
    let pairs = |name: fn(usize, &str, bool) -> String| -> Vec<(String, String)> {
        tables
            .iter()
            .enumerate()
            .flat_map(|(i, t)| [(name(i, t, true), create(t)), (name(i, t, false), drop(t))])
            .collect()
    };
    // `<timestamp>_<table>.sql` files: Atlas's (with its sum) and the Supabase CLI's.
    let plain: Vec<(String, String)> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("2024010100000{i}_{t}.sql"), create(t)))
        .collect();
    let mut atlas_files = plain.clone();
    atlas_files.push(("atlas.sum".into(), atlas_sum(&plain)));
    let mut drizzle_files: Vec<(String, String)> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("000{i}_{t}.sql"), create(t)))
        .collect();
    let entries: Vec<String> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                "{{\"idx\": {i}, \"version\": \"7\", \"when\": {}, \"tag\": \"000{i}_{t}\", \
                 \"breakpoints\": true}}",
                DRIZZLE_WHEN + i as i64 * 1000
            )
        })
        .collect();
    drizzle_files.push((
        "meta/_journal.json".into(),
        format!(
            "{{\"version\": \"7\", \"dialect\": \"postgresql\", \"entries\": [{}]}}\n",
            entries.join(", ")
        ),
    ));
    vec![
        Layout {
            format: "goose",
            files: owned(
                tables
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        (
                            format!("0000{}_{t}.sql", i + 1),
                            format!("-- +goose Up\n{}-- +goose Down\n{}", create(t), drop(t)),
                        )
                    })
                    .collect(),
            ),
            table: "goose_db_version",
            downs: true,
            first: "00001_users.sql",
        },
        Layout {
            format: "flyway",
            files: pairs(|i, t, up| format!("{}1_{i}__{t}.sql", if up { "V" } else { "U" })),
            table: "flyway_schema_history",
            downs: true,
            first: "V1_0__users.sql",
        },
        Layout {
            format: "sql-migrate",
            files: tables
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    (
                        format!("{}_{t}.sql", i + 1),
                        format!("-- +migrate Up\n{}-- +migrate Down\n{}", create(t), drop(t)),
                    )
                })
                .collect(),
            table: "gorp_migrations",
            downs: true,
            first: "1_users.sql",
        },
        Layout {
            format: "prisma",
            files: tables
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("2024010100000{i}_{t}/migration.sql"), create(t)))
                .chain([(
                    "migration_lock.toml".to_string(),
                    "provider = \"postgresql\"\n".to_string(),
                )])
                .collect(),
            table: "_prisma_migrations",
            downs: false,
            first: "20240101000000_users/migration.sql",
        },
        Layout {
            format: "atlas",
            files: atlas_files,
            table: "atlas_schema_revisions.atlas_schema_revisions",
            downs: false,
            first: "20240101000000_users.sql",
        },
        // Zero-padded versions, which golang-migrate records as a bigint and dbmate as text.
        Layout {
            format: "golang-migrate",
            files: tables
                .iter()
                .enumerate()
                .flat_map(|(i, t)| {
                    [
                        (format!("000{}_{t}.up.sql", i + 1), create(t)),
                        (format!("000{}_{t}.down.sql", i + 1), drop(t)),
                    ]
                })
                .collect(),
            table: "schema_migrations",
            downs: true,
            first: "0001_users.up.sql",
        },
        Layout {
            format: "dbmate",
            files: tables
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    (
                        format!("000{}-{t}.sql", i + 1),
                        format!("-- migrate:up\n{}-- migrate:down\n{}", create(t), drop(t)),
                    )
                })
                .collect(),
            table: "schema_migrations",
            downs: true,
            first: "0001-users.sql",
        },
        Layout {
            format: "supabase",
            files: plain,
            table: "supabase_migrations.schema_migrations",
            downs: false,
            first: "20240101000000_users.sql",
        },
        Layout {
            format: "pop",
            files: pairs(|i, t, up| {
                format!(
                    "2024010100000{i}_{t}.{}.sql",
                    if up { "up" } else { "down" }
                )
            }),
            table: "schema_migration",
            downs: true,
            first: "20240101000000_users.up.sql",
        },
        Layout {
            format: "refinery",
            files: tables
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("V{}__{t}.sql", i + 1), create(t)))
                .collect(),
            table: "refinery_schema_history",
            downs: false,
            first: "V1__users.sql",
        },
        Layout {
            format: "drizzle",
            files: drizzle_files,
            table: "drizzle.__drizzle_migrations",
            downs: false,
            first: "0000_users.sql",
        },
    ]
}

/// The journal `when` of the drizzle layout's first migration (the others follow a second
/// apart).
const DRIZZLE_WHEN: i64 = 1_700_000_000_000;

/// Every format with a bookkeeping table not proved elsewhere: `up --count 2`, status,
/// history, validate, down (where the format has downs), an edited applied file (status
/// and validate exit 1 where the tool records checksums), then the rest applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookkeeping_round_trip_for_every_format_with_a_table() {
    let db = Database::new("formats").await;
    for layout in layouts() {
        let files: Vec<(&str, &str)> = layout
            .files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        let dir = common::migrations_dir(&files);
        let run = |args: &[&str]| {
            let mut all = args.to_vec();
            all.extend_from_slice(&["--format", layout.format]);
            migrate(dir.path(), &db.url, &all)
        };
        let context = |output: &Output| {
            format!(
                "{}: {}{}",
                layout.format,
                stdout(output),
                common::stderr(output)
            )
        };
        let output = run(&["up", "--count", "2"]);
        assert_eq!(output.status.code(), Some(0), "{}", context(&output));
        let output = run(&["status"]);
        assert_eq!(output.status.code(), Some(0), "{}", context(&output));
        assert!(
            stdout(&output).contains("2 applied, 1 pending"),
            "{}",
            context(&output)
        );
        assert!(
            stdout(&output).contains(layout.table),
            "{}",
            context(&output)
        );
        let output = run(&["history", "--json"]);
        assert_eq!(output.status.code(), Some(0), "{}", context(&output));
        let history: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(history.as_array().unwrap().len(), 2, "{}", context(&output));
        let output = run(&["validate"]);
        assert_eq!(output.status.code(), Some(0), "{}", context(&output));
        let output = run(&["down"]);
        if layout.downs {
            assert_eq!(output.status.code(), Some(0), "{}", context(&output));
            let output = run(&["status"]);
            assert!(
                stdout(&output).contains("1 applied, 2 pending"),
                "{}",
                context(&output)
            );
            let output = run(&["up", "--count", "1"]);
            assert_eq!(output.status.code(), Some(0), "{}", context(&output));
            let output = run(&["redo"]);
            assert_eq!(output.status.code(), Some(0), "{}", context(&output));
            let output = run(&["status"]);
            assert!(
                stdout(&output).contains("2 applied, 1 pending"),
                "{}",
                context(&output)
            );
        } else {
            assert_eq!(output.status.code(), Some(2), "{}", context(&output));
            assert!(
                common::stderr(&output).contains("no down script"),
                "{}",
                context(&output)
            );
        }
        let first = dir.path().join(layout.first);
        if layout.format == "prisma" {
            // Line endings converted by a checkout are not an edit, as Prisma sees it.
            let crlf = std::fs::read_to_string(&first)
                .unwrap()
                .replace('\n', "\r\n");
            std::fs::write(&first, crlf).unwrap();
            let output = run(&["status"]);
            assert_eq!(output.status.code(), Some(0), "{}", context(&output));
        }
        // An applied migration edited afterwards.
        let edited = std::fs::read_to_string(&first).unwrap() + "-- edited\n";
        std::fs::write(&first, edited).unwrap();
        let records = !matches!(
            layout.format,
            "goose" | "sql-migrate" | "golang-migrate" | "dbmate" | "supabase" | "pop"
        );
        let output = run(&["validate"]);
        assert_eq!(
            output.status.code(),
            Some(u8::from(records).into()),
            "{}",
            context(&output)
        );
        let output = run(&["status"]);
        assert_eq!(
            output.status.code(),
            Some(u8::from(records).into()),
            "{}",
            context(&output)
        );
        if !records {
            let output = run(&["up"]);
            assert_eq!(output.status.code(), Some(0), "{}", context(&output));
            let output = run(&["status"]);
            assert!(
                stdout(&output).contains("3 applied, 0 pending"),
                "{}",
                context(&output)
            );
        }
        // Leave the database empty for the next format (two tools share `schema_migrations`).
        db.query("DROP TABLE IF EXISTS users, orders, items, schema_migrations")
            .await;
    }
    // What each tool's table holds, as the tool writes it.
    let flyway = db
        .query(
            "SELECT installed_rank::text, version, description, type, script, success::text \
             FROM flyway_schema_history ORDER BY installed_rank",
        )
        .await;
    assert_eq!(
        flyway[0],
        ["1", "1.0", "users", "SQL", "V1_0__users.sql", "true"]
            .map(|s| Some(s.to_string()))
            .to_vec()
    );
    assert!(
        flyway
            .iter()
            .any(|row| row[3].as_deref() == Some("UNDO_SQL")),
        "{flyway:?}"
    );
    let goose = db
        .query("SELECT version_id::text FROM goose_db_version ORDER BY id")
        .await;
    assert_eq!(goose[0], [Some("0".to_string())]);
    let prisma = db
        .query(
            "SELECT migration_name, applied_steps_count::text, finished_at IS NOT NULL, \
             length(checksum)::text FROM _prisma_migrations ORDER BY started_at",
        )
        .await;
    assert_eq!(
        prisma[0],
        ["20240101000000_users", "1", "t", "64"]
            .map(|s| Some(s.to_string()))
            .to_vec()
    );
    let atlas = db
        .query(
            "SELECT version, description, type::text, applied::text, total::text \
             FROM atlas_schema_revisions.atlas_schema_revisions ORDER BY version",
        )
        .await;
    assert_eq!(
        atlas[0],
        ["20240101000000", "users", "2", "1", "1"]
            .map(|s| Some(s.to_string()))
            .to_vec()
    );
    let supabase = db
        .query(
            "SELECT version, name, statements::text \
             FROM supabase_migrations.schema_migrations ORDER BY version",
        )
        .await;
    assert_eq!(supabase.len(), 3, "{supabase:?}");
    assert_eq!(
        supabase[0],
        [
            "20240101000000",
            "users",
            "{\"CREATE TABLE users (id int PRIMARY KEY)\"}"
        ]
        .map(|s| Some(s.to_string()))
        .to_vec()
    );
    let pop = db
        .query(
            "SELECT version, (SELECT count(*) FROM pg_indexes \
             WHERE indexname = 'schema_migration_version_idx')::text \
             FROM schema_migration ORDER BY version",
        )
        .await;
    assert_eq!(
        pop.iter()
            .map(|row| (row[0].as_deref(), row[1].as_deref()))
            .collect::<Vec<_>>(),
        [
            (Some("20240101000000"), Some("1")),
            (Some("20240101000001"), Some("1")),
            (Some("20240101000002"), Some("1"))
        ]
    );
    // A version longer than pop's VARCHAR (14) fails as pop fails: rolled back, the
    // database's own error shown, never a truncated version recorded.
    db.query("DELETE FROM schema_migration").await;
    let dir = common::migrations_dir(&[("202401010000031_long.up.sql", "CREATE TABLE long ();\n")]);
    let output = migrate(dir.path(), &db.url, &["up", "--format", "pop"]);
    let stderr = common::stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("character varying(14)"), "{stderr}");
    assert!(stderr.contains("recording the migration"), "{stderr}");
    assert_eq!(
        db.query("SELECT count(*)::text, to_regclass('long') IS NULL FROM schema_migration")
            .await[0],
        [Some("0".into()), Some("t".into())]
    );
    // refinery's row: the version, the name, `applied_on` as refinery's RFC 3339 (parsed back
    // by refinery, which panics on anything else) and its SipHash-1-3 checksum.
    let refinery = db
        .query(
            "SELECT version::text, name, applied_on, checksum \
             FROM refinery_schema_history ORDER BY version",
        )
        .await;
    assert_eq!(refinery.len(), 2, "{refinery:?}");
    let checksum = migration_check::migrations::refinery::checksum_of(
        "users",
        1,
        "CREATE TABLE users (id int PRIMARY KEY);\n",
    );
    assert_eq!(
        [&refinery[0][0], &refinery[0][1], &refinery[0][3]],
        [
            &Some("1".to_string()),
            &Some("users".to_string()),
            &Some(checksum.to_string())
        ]
    );
    let applied_on = refinery[0][2].clone().unwrap();
    assert!(
        humantime::parse_rfc3339(&applied_on).is_ok()
            && applied_on.ends_with('Z')
            && !applied_on.contains(".Z")
            && !applied_on.ends_with("0Z"),
        "{applied_on}"
    );
    // drizzle's rows: the sha256 of each file as it was applied, the journal's `when`.
    let drizzle = db
        .query("SELECT hash, created_at::text FROM drizzle.__drizzle_migrations ORDER BY id")
        .await;
    let sha256 = |text: &str| {
        sha2::Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(
        drizzle,
        [
            [
                Some(sha256("CREATE TABLE users (id int PRIMARY KEY);\n")),
                Some(DRIZZLE_WHEN.to_string())
            ],
            [
                Some(sha256("CREATE TABLE orders (id int PRIMARY KEY);\n")),
                Some((DRIZZLE_WHEN + 1000).to_string())
            ]
        ]
    );
}

/// The project's own node with `args` (knex's or Prisma's CLI), in `project`, against `url`.
fn node_cli(project: &Path, args: &[&str], url: &str) -> Output {
    Command::new("node")
        .args(args)
        .current_dir(project)
        .env("DATABASE_URL", url)
        .env("CHECKPOINT_DISABLE", "1")
        .env("PRISMA_HIDE_UPDATE_MESSAGE", "1")
        .output()
        .unwrap()
}

/// A URL for tools that take one, to the database on `db`'s socket.
fn socket_url(db: &Database) -> String {
    format!(
        "postgres://postgres@localhost:5432/{}?host={}",
        db.name,
        db.server.path().join("socket").display()
    )
}

/// knex migrations are code: migrate runs them through the project's own knex, which books
/// them in knex_migrations; the real knex then sees them applied and goes on from there,
/// and migrate sees what knex applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knex_and_migrate_agree_on_one_database() {
    let Some(tools) = common::node_tools() else {
        return;
    };
    let db = Database::new("knexdb").await;
    let project = common::node_project("knex-ts", &tools);
    let migrations = project.path().join("migrations");
    let url = socket_url(&db);
    let knex = |args: &'static [&'static str]| {
        let (project, url) = (project.path().to_path_buf(), url.clone());
        move || {
            let mut all = vec!["--import", "tsx", "node_modules/knex/bin/cli.js"];
            all.extend_from_slice(args);
            node_cli(&project, &all, &url)
        }
    };
    let ours = |args: &'static [&'static str]| {
        let (dir, url) = (migrations.clone(), db.url.clone());
        move || migrate(&dir, &url, args)
    };
    let output = blocking(ours(&["up", "--count", "2"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(
        db.query("SELECT name, batch::text FROM knex_migrations ORDER BY id")
            .await
            .len(),
        2
    );
    // knex goes on with the third, and lists the two migrate applied as completed.
    let up = blocking(knex(&["migrate:up"])).await;
    assert!(
        up.status.success(),
        "{}{}",
        stdout(&up),
        common::stderr(&up)
    );
    assert!(
        stdout(&up).contains("20240612150000_reserved_slot.ts"),
        "{}",
        stdout(&up)
    );
    let list = blocking(knex(&["migrate:list"])).await;
    assert!(
        stdout(&list).contains("Found 3 Completed Migration file/files."),
        "{}{}",
        stdout(&list),
        common::stderr(&list)
    );
    let output = blocking(ours(&["status"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("3 applied, 1 pending"),
        "{}",
        stdout(&output)
    );
    // migrate reverts the last through knex, and knex agrees.
    let output = blocking(ours(&["down"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let list = blocking(knex(&["migrate:list"])).await;
    assert!(
        stdout(&list).contains("Found 2 Completed Migration file/files."),
        "{}",
        stdout(&list)
    );
    // The fourth fails in knex: exit 1 with the tool's own error, nothing booked.
    let output = blocking(ours(&["up"])).await;
    assert_eq!(output.status.code(), Some(1), "{}", common::stderr(&output));
    assert!(
        common::stderr(&output).contains("relation \"payments\" does not exist"),
        "{}",
        common::stderr(&output)
    );
    assert_eq!(
        db.query("SELECT count(*)::text FROM knex_migrations").await[0],
        [Some("3".to_string())]
    );
}

/// Prisma's `_prisma_migrations`, proved against the real Prisma CLI (6.19.3 with its
/// WebAssembly schema engine over `@prisma/adapter-pg`: the native engine is a download
/// from outside npm, which this machine cannot make).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prisma_and_migrate_agree_on_one_database() {
    let Some(tools) = common::node_tools() else {
        return;
    };
    let db = Database::new("prismadb").await;
    let project = common::migrations_dir(&[
        (
            "prisma/schema.prisma",
            "generator client {\n  provider   = \"prisma-client-js\"\n  engineType = \"client\"\n}\n\
             datasource db {\n  provider = \"postgresql\"\n  url      = env(\"DATABASE_URL\")\n}\n",
        ),
        (
            "prisma.config.ts",
            "import { defineConfig } from 'prisma/config'\n\
             import { PrismaPg } from '@prisma/adapter-pg'\n\
             export default defineConfig({\n  experimental: { adapter: true },\n  engine: 'js',\n  \
             schema: 'prisma/schema.prisma',\n  \
             adapter: async () => new PrismaPg({ connectionString: process.env.DATABASE_URL! }),\n})\n",
        ),
        (
            "prisma/migrations/migration_lock.toml",
            "provider = \"postgresql\"\n",
        ),
        (
            "prisma/migrations/20240101000000_users/migration.sql",
            "CREATE TABLE \"User\" (id serial PRIMARY KEY, email text NOT NULL);\n",
        ),
        (
            "prisma/migrations/20240102000000_posts/migration.sql",
            "CREATE TABLE \"Post\" (id serial PRIMARY KEY, author int REFERENCES \"User\");\n",
        ),
        (
            "prisma/migrations/20240103000000_email_index/migration.sql",
            "CREATE UNIQUE INDEX \"User_email_key\" ON \"User\" (email);\n",
        ),
    ]);
    std::os::unix::fs::symlink(
        tools.join("node_modules"),
        project.path().join("node_modules"),
    )
    .unwrap();
    let url = socket_url(&db);
    let prisma = |args: &'static [&'static str]| {
        let (project, url) = (project.path().to_path_buf(), url.clone());
        move || {
            let mut all = vec!["node_modules/prisma/build/index.js"];
            all.extend_from_slice(args);
            node_cli(&project, &all, &url)
        }
    };
    let ours = |args: &'static [&'static str]| {
        let (dir, url) = (project.path().join("prisma/migrations"), db.url.clone());
        move || {
            let mut all = args.to_vec();
            all.extend_from_slice(&["--format", "prisma"]);
            migrate(&dir, &url, &all)
        }
    };
    let output = blocking(ours(&["up", "--count", "2"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    // Prisma sees the two as applied and the third pending (its exit 1).
    let status = blocking(prisma(&["migrate", "status"])).await;
    let text = stdout(&status) + &common::stderr(&status);
    assert_eq!(status.status.code(), Some(1), "{text}");
    assert!(
        text.contains("not yet been applied") && text.contains("20240103000000_email_index"),
        "{text}"
    );
    assert!(!text.contains("20240101000000_users\n"), "{text}");
    let deploy = blocking(prisma(&["migrate", "deploy"])).await;
    let text = stdout(&deploy) + &common::stderr(&deploy);
    assert_eq!(deploy.status.code(), Some(0), "{text}");
    assert!(text.contains("20240103000000_email_index"), "{text}");
    assert!(!text.contains("20240101000000_users"), "{text}");
    let status = blocking(prisma(&["migrate", "status"])).await;
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        stdout(&status) + &common::stderr(&status)
    );
    // And migrate sees what Prisma applied, checksums matching.
    let output = blocking(ours(&["status"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("3 applied, 0 pending"),
        "{}",
        stdout(&output)
    );
    let output = blocking(ours(&["validate"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

/// `--dry-run=rollback` runs the plan for real in one transaction and leaves nothing; it
/// refuses a migration that runs outside a transaction, and a failure inside it is exit 1
/// with the file and line. `--backup` writes a checked pg_dump first and never overwrites.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rehearsal_and_backup() {
    let db = Database::new("rehearsal").await;
    let dir = sqlx_dir();
    let run = |args: &[&str]| migrate(dir.path(), &db.url, args);
    let tables = "SELECT count(*)::text FROM pg_tables WHERE schemaname = 'public'";

    let output = run(&["up", "--count", "2", "--dry-run=rollback"]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert!(
        stdout(&output).contains("rolled back; nothing changed"),
        "{}",
        stdout(&output)
    );
    assert!(common::stderr(&output).contains("applied 2 orders"));
    // Not even the history table is left.
    assert_eq!(db.query(tables).await[0], [Some("0".to_string())]);

    // The third builds an index CONCURRENTLY, which no transaction may hold.
    let output = run(&["up", "--dry-run=rollback"]);
    assert_eq!(output.status.code(), Some(2), "{}", common::stderr(&output));
    assert!(
        common::stderr(&output).contains("3_email_index.up.sql: runs outside a transaction"),
        "{}",
        common::stderr(&output)
    );
    assert_eq!(db.query(tables).await[0], [Some("0".to_string())]);

    // A failing migration in a rehearsal: exit 1 with its file and line, nothing left.
    let failing = common::migrations_dir(&[
        ("1_a.up.sql", "CREATE TABLE a (id int);\n"),
        ("1_a.down.sql", "DROP TABLE a;\n"),
        (
            "2_b.up.sql",
            "CREATE TABLE b (id int);\nSELECT * FROM nowhere;\n",
        ),
        ("2_b.down.sql", "DROP TABLE b;\n"),
    ]);
    let output = migrate(failing.path(), &db.url, &["up", "--dry-run=rollback"]);
    assert_eq!(output.status.code(), Some(1), "{}", common::stderr(&output));
    assert!(
        common::stderr(&output).contains("2_b.up.sql:2:"),
        "{}",
        common::stderr(&output)
    );
    assert_eq!(db.query(tables).await[0], [Some("0".to_string())]);

    // --backup: a dump of what was there before, checked; an existing file is refused.
    let output = run(&["up", "--count", "1"]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    db.query("INSERT INTO users VALUES (1, 'a@example.com')")
        .await;
    let backups = tempfile::tempdir().unwrap();
    let dump = backups.path().join("before.dump");
    let dump_arg = dump.to_str().unwrap();
    let output = run(&["up", "--count", "1", "--backup", dump_arg]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert!(
        common::stderr(&output).contains("backed up 2 tables' data"),
        "{}",
        common::stderr(&output)
    );
    let listing = Command::new("pg_restore")
        .arg("--list")
        .arg(&dump)
        .output()
        .unwrap();
    let listing = stdout(&listing);
    assert!(listing.contains("TABLE DATA public users"), "{listing}");
    assert!(
        !listing.contains("orders"),
        "taken before the run: {listing}"
    );
    let output = run(&["up", "--backup", dump_arg]);
    assert_eq!(output.status.code(), Some(2), "{}", common::stderr(&output));
    assert!(common::stderr(&output).contains("the file exists"));
    assert_eq!(
        std::fs::read_dir(backups.path()).unwrap().count(),
        1,
        "no partial file is left"
    );
    // A dump that cannot be written stops the run before it changes anything (exit 3).
    let nowhere = backups.path().join("missing/before.dump");
    let output = run(&["up", "--backup", nowhere.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(3), "{}", common::stderr(&output));
    assert!(
        common::stderr(&output).contains("--backup: pg_dump failed"),
        "{}",
        common::stderr(&output)
    );
    assert_eq!(
        db.query("SELECT count(*)::text FROM pg_indexes WHERE indexname = 'users_email_idx'")
            .await[0],
        [Some("0".to_string())]
    );
}

/// `--record-checksums` keeps our SHA-256 beside a tool that records none (dbmate), so
/// status and validate tell an edited file; `[migrate]` sets the run's defaults, and a flag
/// wins over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_checksums_and_migrate_settings() {
    let db = Database::new("shadow").await;
    let dir = common::migrations_dir(&[
        (
            "20240101000000_a.sql",
            "-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\nDROP TABLE a;\n",
        ),
        (
            "20240102000000_slow.sql",
            "-- migrate:up\nSELECT pg_sleep(0.5);\n-- migrate:down\n",
        ),
        (
            "migration-check.toml",
            "[migrate]\nstatement_timeout = \"100ms\"\n",
        ),
    ]);
    let config = dir.path().join("migration-check.toml");
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--format", "dbmate", "--config", config.to_str().unwrap()]);
        migrate(dir.path(), &db.url, &all)
    };
    let output = run(&["up", "--count", "1", "--record-checksums"]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(
        db.query("SELECT version, direction, length(sha256)::text FROM migration_check.history")
            .await[0],
        ["20240101000000", "up", "64"].map(|s| Some(s.to_string()))
    );
    // The configured statement_timeout stops the slow one; the flag lets it through.
    let output = run(&["up"]);
    assert_eq!(output.status.code(), Some(1), "{}", common::stderr(&output));
    assert!(
        common::stderr(&output).contains("statement timeout"),
        "{}",
        common::stderr(&output)
    );
    let output = run(&["up", "--statement-timeout", "10s"]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    // Edited after it was applied: dbmate cannot tell, our checksum can.
    let first = dir.path().join("20240101000000_a.sql");
    std::fs::write(
        &first,
        std::fs::read_to_string(&first)
            .unwrap()
            .replace("id int", "id bigint"),
    )
    .unwrap();
    let output = run(&["status"]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("applied, file changed since  20240101000000 a"),
        "{}",
        stdout(&output)
    );
    let output = run(&["validate"]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
}

/// A migration that sets the database's `search_path` is in effect for the next ones,
/// run in one `migrate up`, as each would be when its tool runs it later: the tables
/// without a schema name land where that path says (issue #26).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_path_set_per_database_applies_to_the_next_migrations() {
    let db = Database::new("session_settings").await;
    let dir = common::root().join("tests/fixtures/status/session_settings");
    let url = db.url.clone();
    let output = blocking(move || migrate(&dir, &url, &["up", "--format", "sqlx"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(
        db.query(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables \
             WHERE table_name IN ('scenarios', 'reports') ORDER BY 1"
        )
        .await,
        [
            [Some("app.scenarios".into())],
            [Some("public.reports".into())]
        ]
    );
}
