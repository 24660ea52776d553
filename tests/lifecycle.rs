//! The embedded cluster's promises: a cleared environment (a migration cannot
//! read our variables), and no process or file left behind on success,
//! failure, panic, Ctrl-C or SIGTERM; plus the environment-failure exits.

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
