//! The embedded cluster's promises: a cleared environment (a migration cannot
//! read our variables), and no process or file left behind on success,
//! failure, panic, Ctrl-C or SIGTERM; plus the environment-failure exits, and
//! the line between them and a migration's own doing: only a dead server is
//! exit 3, a migration that ends our connections gets its verdict.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

#[test]
fn migrations_cannot_read_the_callers_environment() {
    let spy = tempfile::Builder::new()
        .prefix("mc-spy-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(spy.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let dump = spy.path().join("env.txt");
    // The program dumps its own environment and tries every process's environ.
    let up = format!(
        "COPY (SELECT 1) TO PROGRAM 'env > {0}; for p in /proc/[0-9]*; do cat $p/environ; done >> {0} 2>/dev/null; true';\nCREATE TABLE t (id int);\n",
        dump.display(),
    );
    let dir =
        common::migrations_dir(&[("1_spy.up.sql", &up), ("1_spy.down.sql", "DROP TABLE t;\n")]);
    let tmp = common::private_tmp();
    let output = common::command(tmp.path())
        .args(["verify", "--json", "-"])
        .arg(dir.path())
        .env("MC_PLANTED_SECRET", "hunter2-planted-secret")
        .env("GITHUB_TOKEN", "ghp_plantedtokenvalue")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let seen = std::fs::read_to_string(&dump).expect("the migration ran its program");
    assert!(seen.contains("PATH="), "the dump is real: {seen}");
    assert!(
        !seen.contains("hunter2-planted-secret"),
        "secret leaked: {seen}"
    );
    assert!(
        !seen.contains("ghp_plantedtokenvalue"),
        "token leaked: {seen}"
    );
    common::assert_nothing_left(tmp.path());
}

#[test]
fn failure_and_success_leave_nothing_behind() {
    for fixture in ["passed", "not_reversible", "failed_up"] {
        let dir = common::root().join("tests/fixtures/status").join(fixture);
        // common::verify asserts that TMPDIR is empty and no process remains.
        let (output, _) = common::verify(&dir, &[]);
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "{fixture}: {}",
            common::stderr(&output)
        );
    }
}

#[test]
fn a_panic_still_removes_the_cluster() {
    let tmp = common::private_tmp();
    let output = common::command(tmp.path())
        .args(["verify", "tests/fixtures/status/passed"])
        .env(migration_check::app::PANIC_HOOK_ENV, "1")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(101),
        "{}",
        common::stderr(&output)
    );
    assert!(common::stderr(&output).contains("panicking with PostgreSQL running"));
    common::assert_nothing_left(tmp.path());
}

/// Starts a run whose migration sleeps, signals it mid-statement, and checks
/// the exit status and that the postmaster and its backends are gone.
fn interrupt_with(signal: nix::sys::signal::Signal, expected_code: i32) {
    let dir = tempfile::Builder::new()
        .prefix("mc-migrations-")
        .tempdir_in("/tmp")
        .unwrap();
    let tmp = common::private_tmp();
    let (mut child, mut stderr) = common::spawn_sleeping_verify(tmp.path(), dir.path(), &[]);
    // Wait until the migration's statement is running in a backend.
    let deadline = Instant::now() + Duration::from_secs(20);
    let postmaster = loop {
        let found = common::processes_mentioning(&tmp.path().display().to_string());
        if let Some(&pid) = found.first()
            && common::children_of(pid).len() >= 3
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "no running cluster found");
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(300));
    let backends = common::children_of(postmaster);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
    assert_eq!(status.code(), Some(expected_code), "stderr: {rest}");
    assert!(rest.contains("interrupted"), "stderr: {rest}");
    assert!(
        !common::alive(postmaster),
        "postmaster {postmaster} survived"
    );
    for pid in backends {
        assert!(!common::alive(pid), "backend {pid} survived");
    }
    common::assert_nothing_left(tmp.path());
}

#[test]
fn ctrl_c_stops_postgres_and_removes_the_cluster() {
    interrupt_with(nix::sys::signal::Signal::SIGINT, 130);
}

#[test]
fn sigterm_stops_postgres_and_removes_the_cluster() {
    interrupt_with(nix::sys::signal::Signal::SIGTERM, 143);
}

#[test]
fn missing_postgres_binaries_exit_3_with_advice() {
    let empty = tempfile::tempdir().unwrap();
    let tmp = common::private_tmp();
    let output = common::command(tmp.path())
        .args(["verify", "tests/fixtures/status/passed", "--pg-bin"])
        .arg(empty.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(
        common::stderr(&output).contains("does not contain initdb and postgres"),
        "{}",
        common::stderr(&output)
    );
    common::assert_nothing_left(tmp.path());
}

#[test]
fn postgres_dying_mid_run_exits_3_and_cleans_up() {
    // The program runs in the backend, whose working directory is the data directory.
    let dir = common::migrations_dir(&[
        ("1_ok.up.sql", "CREATE TABLE a (id int);\n"),
        ("1_ok.down.sql", "DROP TABLE a;\n"),
        (
            "2_kill.up.sql",
            "COPY (SELECT 1) TO PROGRAM 'kill -9 $(head -1 postmaster.pid)';\nSELECT pg_sleep(5);\n",
        ),
        ("2_kill.down.sql", "SELECT 1;\n"),
    ]);
    let started = std::time::SystemTime::now();
    let (output, _) = common::verify(dir.path(), &[]);
    let stderr = common::stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("went away") || stderr.contains("failed on"),
        "{stderr}"
    );
    assert!(
        stderr.contains("2_kill.up.sql"),
        "names the script: {stderr}"
    );
    // The killed postmaster's dynamic shared memory went with its data directory: no
    // POSIX segment of a throwaway cluster is left in /dev/shm.
    let left: Vec<String> = std::fs::read_dir("/dev/shm")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("PostgreSQL.")
        })
        .filter(|entry| {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified >= started)
        })
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "left in /dev/shm: {left:?}");
}

#[test]
fn a_migration_that_lifts_the_timeout_is_cancelled_by_the_client_guard() {
    let dir = common::migrations_dir(&[
        (
            "1_sneaky.up.sql",
            "SET statement_timeout = 0;\nSELECT pg_sleep(120);\n",
        ),
        ("1_sneaky.down.sql", "SELECT 1;\n"),
    ]);
    let started = Instant::now();
    let (output, report) = common::verify(dir.path(), &["--statement-timeout", "1s"]);
    let report = report.unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the guard must stop the sleep"
    );
    let problem = &report["migrations"][0]["problems"][0];
    assert_eq!(problem["kind"], "timeout");
    assert_eq!(problem["line"], 2);
    assert!(
        problem["message"].as_str().unwrap().contains("cancelled"),
        "{problem}"
    );
}

#[test]
fn a_migration_that_ends_its_own_connection_fails_up_not_the_environment() {
    let dir = common::migrations_dir(&[
        ("1_a.up.sql", "CREATE TABLE a (x int);\n"),
        ("1_a.down.sql", "DROP TABLE a;\n"),
        (
            "2_b.up.sql",
            "CREATE TABLE b (x int);\nSELECT pg_terminate_backend(pid) FROM pg_stat_activity\nWHERE backend_type = 'client backend';\n",
        ),
        ("2_b.down.sql", "DROP TABLE b;\n"),
        ("3_c.up.sql", "CREATE TABLE c (x int);\n"),
        ("3_c.down.sql", "DROP TABLE c;\n"),
    ]);
    let (output, report) = common::verify(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", common::stderr(&output));
    let report = report.expect("a JSON report");
    let statuses: Vec<&str> = report["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["passed", "failed_up", "skipped"], "{report:#}");
    let failure = &report["migrations"][1]["problems"][0];
    assert_eq!(failure["kind"], "connection_lost", "{report:#}");
    assert_eq!(failure["line"], 2);
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .starts_with("the script ended migration-check's connection"),
        "{failure:#}"
    );
}

/// A role that is not a superuser, on a server given by URL: a migration may
/// revoke that role's CONNECT on the throwaway database and end our other
/// connection; the run goes on with one connection and gives verdicts.
#[tokio::test(flavor = "current_thread")]
async fn a_migration_that_revokes_our_connect_gets_a_verdict() {
    use migration_check::postgres::embedded::{EmbeddedOptions, EmbeddedServer};
    let server = EmbeddedServer::start(&EmbeddedOptions::default())
        .await
        .expect("embedded PostgreSQL");
    let (client, connection) = server
        .config("postgres")
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(connection);
    client
        .batch_execute("CREATE ROLE mc_owner LOGIN CREATEDB")
        .await
        .unwrap();
    drop(client);
    let _ = task.await;
    let revoke = "CREATE TABLE t (a int);
DO $$ BEGIN
    EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM PUBLIC, %I', current_database(), current_user);
END $$;
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE pid <> pg_backend_pid() AND datname = current_database();
";
    let grant = "DROP TABLE t;
DO $$ BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO PUBLIC, %I', current_database(), current_user);
END $$;
";
    let dir = common::migrations_dir(&[
        ("1_revoke.up.sql", revoke),
        ("1_revoke.down.sql", grant),
        ("2_next.up.sql", "CREATE TABLE u (b int);\n"),
        ("2_next.down.sql", "DROP TABLE u;\n"),
    ]);
    let url = format!(
        "host={} port=5432 user=mc_owner dbname=postgres",
        server.path().join("socket").display()
    );
    let (output, report) = tokio::task::spawn_blocking(move || {
        let result = common::verify(dir.path(), &["--postgres", &url]);
        drop(dir);
        result
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let report = report.expect("a JSON report");
    let first = &report["migrations"][0];
    assert_eq!(first["status"], "passed", "{report:#}");
    assert_eq!(report["migrations"][1]["status"], "passed", "{report:#}");
    let warning = first["problems"][0]["message"].as_str().unwrap();
    assert!(
        warning.contains("terminated migration-check's own snapshot connection")
            && warning.contains("refuses a second connection"),
        "{warning}"
    );
}

/// The majors with server binaries under Debian's layout on this machine.
fn local_majors() -> Vec<u32> {
    let mut majors: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("bin/initdb").is_file())
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    majors.sort_unstable();
    majors
}

#[test]
fn postgres_versions_on_the_embedded_backend_use_each_local_major() {
    let local = local_majors();
    let Some(&major) = local.last() else {
        panic!(
            "the tests need Debian's PostgreSQL server binaries (/usr/lib/postgresql/<major>/bin)"
        );
    };
    let dir = common::root().join("tests/fixtures/status/passed");
    let (output, report) = common::verify(
        &dir,
        &[
            "--postgres",
            "embedded",
            "--postgres-versions",
            &major.to_string(),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let report = report.unwrap();
    assert_eq!(report["postgres_versions"][0]["major"], major);
    assert_eq!(report["postgres_versions"][0]["backend"], "embedded");
    assert_eq!(
        report["migrations"][0]["versions"][major.to_string()]["status"],
        "passed"
    );
    assert!(common::stderr(&output).contains(&format!("[PostgreSQL {major}] [1/2]")));

    // A major without local binaries: exit 3 naming it, nothing started or left.
    let missing = (13..=30).find(|m| !local.contains(m)).unwrap();
    let (output, report) = common::verify(
        &dir,
        &[
            "--postgres",
            "embedded",
            "--postgres-versions",
            &format!("{major},{missing}"),
        ],
    );
    assert_eq!(output.status.code(), Some(3), "{}", common::stderr(&output));
    assert!(report.is_none());
    let stderr = common::stderr(&output);
    assert!(
        stderr.contains(&format!(
            "no local server binaries for PostgreSQL {missing} "
        )) && stderr.contains(&format!("apt-get install postgresql-{missing}")),
        "{stderr}"
    );
}

/// The cluster template cache: the first run stores initdb's result under a key of the
/// binaries, later runs copy it; a damaged entry is found out, rebuilt and warned about;
/// concurrent runs on an empty cache all succeed and leave one whole entry; `--no-cache`
/// writes nothing there.
#[test]
fn the_cluster_template_is_cached_checked_and_rebuilt() {
    let dir = common::migrations_dir(&[
        ("1_t.up.sql", "CREATE TABLE t (id int PRIMARY KEY);\n"),
        ("1_t.down.sql", "DROP TABLE t;\n"),
    ]);
    let run = |cache: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["--cache-dir", cache.to_str().unwrap()];
        args.extend_from_slice(extra);
        let (output, report) = common::verify(dir.path(), &args);
        assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
        assert_eq!(report.unwrap()["passed"], true);
        common::stderr(&output)
    };
    let entries = |cache: &std::path::Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(cache.join("clusters"))
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.ends_with(".lock"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let cache = tempfile::tempdir().unwrap();
    let stderr = run(cache.path(), &[]);
    assert!(!stderr.contains("cluster template"), "{stderr}");
    let stored = entries(cache.path());
    assert_eq!(stored.len(), 1, "{stored:?}");
    let entry = cache.path().join("clusters").join(&stored[0]);
    assert!(entry.join("manifest").is_file() && entry.join("data/PG_VERSION").is_file());

    // A file cut short: found out, rebuilt with a warning, whole again afterwards.
    let victim = entry.join("data/global/pg_control");
    std::fs::write(&victim, b"short").unwrap();
    let stderr = run(cache.path(), &[]);
    assert!(
        stderr.contains("incomplete or damaged; rebuilding it"),
        "{stderr}"
    );
    assert!(std::fs::metadata(&victim).unwrap().len() > 5);
    let stderr = run(cache.path(), &[]);
    assert!(!stderr.contains("cluster template"), "{stderr}");

    // Three runs at once on an empty cache: one entry, nothing half-written.
    let empty = tempfile::tempdir().unwrap();
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| run(empty.path(), &[])))
            .collect();
        for handle in runs {
            let stderr = handle.join().unwrap();
            assert!(!stderr.contains("cluster template"), "{stderr}");
        }
    });
    assert_eq!(
        entries(empty.path()).len(),
        1,
        "{:?}",
        entries(empty.path())
    );

    // --no-cache: initdb, and nothing written to the cache.
    let unused = tempfile::tempdir().unwrap();
    run(unused.path(), &["--no-cache"]);
    assert!(entries(unused.path()).is_empty());
}
