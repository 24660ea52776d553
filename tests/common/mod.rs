//! Helpers shared by the integration tests: run the real binary against real
//! PostgreSQL (the embedded backend) with a private TMPDIR, so each test can
//! prove that nothing was left behind.

#![allow(dead_code)]

pub mod cluster;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};

/// The binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_migration-check"))
}

/// The repository root (fixtures live under it).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A private TMPDIR the unprivileged PostgreSQL account can traverse.
pub fn private_tmp() -> tempfile::TempDir {
    // Where the binary would put its cluster (RAM when this machine has room there), so
    // that the cluster lands in this directory and its removal can be checked.
    let parent = migration_check::postgres::embedded::cluster_parent(None);
    let dir = tempfile::Builder::new()
        .prefix("mc-test-")
        .tempdir_in(parent)
        .expect("temp dir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Set for every run of the binary: see `migration_check::schema::incremental`.
pub const SNAPSHOT_SELF_CHECK: &str = "MIGRATION_CHECK_SNAPSHOT_SELF_CHECK";

/// A command for the binary with TMPDIR pointed at `tmp` and colour off, every
/// incremental snapshot proved against a full one in the same transaction (a
/// difference stops the run: the differential test of incremental snapshots runs
/// with every test that verifies).
pub fn command(tmp: &Path) -> Command {
    let mut command = Command::new(binary());
    command
        .env("TMPDIR", tmp)
        .env("NO_COLOR", "1")
        .env(SNAPSHOT_SELF_CHECK, "1")
        .current_dir(root());
    command
}

/// Runs `verify DIR --json -` with extra args; returns the output and the parsed report (if any).
pub fn verify(dir: &Path, extra: &[&str]) -> (Output, Option<serde_json::Value>) {
    let tmp = private_tmp();
    let mut command = command(tmp.path());
    command
        .arg("verify")
        .arg(dir)
        .args(["--json", "-"])
        .args(extra);
    let output = command.output().expect("run migration-check");
    assert_nothing_left(tmp.path());
    let report = serde_json::from_slice(&output.stdout).ok();
    (output, report)
}

/// Every process whose command line mentions `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(needle)
        {
            found.push(pid);
        }
    }
    found
}

/// The children of `pid` (postgres backends of a postmaster).
pub fn children_of(pid: i32) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) {
            // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
            let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
            if after
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<i32>().ok())
                == Some(pid)
            {
                found.push(child);
            }
        }
    }
    found
}

pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat
                .rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
                .unwrap_or(false)
        })
        .unwrap_or(false)
}

/// No file under `tmp` and no process started from it.
pub fn assert_nothing_left(tmp: &Path) {
    let leftovers: Vec<_> = std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(leftovers.is_empty(), "left behind in TMPDIR: {leftovers:?}");
    let processes = processes_mentioning(&tmp.display().to_string());
    assert!(
        processes.is_empty(),
        "processes still running from {}: {processes:?}",
        tmp.display()
    );
}

/// Writes `content` to `dir/path`, creating the directories on the way.
pub fn write(dir: &Path, path: &str, content: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// Writes `files` (relative path → content) into a new directory.
pub fn migrations_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("mc-migrations-")
        .tempdir_in("/tmp")
        .unwrap();
    for (path, content) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    dir
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs git in `dir` with a fixed identity and no system configuration.
pub fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Starts `verify` on a migration that sleeps for a minute, with `extra`
/// flags and TMPDIR at `tmp`; returns once PostgreSQL is ready, with the
/// rest of stderr still to read.
pub fn spawn_sleeping_verify(
    tmp: &Path,
    dir: &Path,
    extra: &[&str],
) -> (Child, BufReader<ChildStderr>) {
    std::fs::write(dir.join("1_slow.up.sql"), "SELECT pg_sleep(60);\n").unwrap();
    std::fs::write(dir.join("1_slow.down.sql"), "SELECT 1;\n").unwrap();
    let mut child = command(tmp)
        .arg("verify")
        .arg(dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    // `PostgreSQL ready in …`, or `[PostgreSQL 13] ready in …` with several majors.
    while !line.contains("ready in") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the run ended before PostgreSQL was ready"
        );
    }
    (child, stderr)
}

/// Whether a Docker daemon answers, so the Docker tests can run; panics when
/// `MIGRATION_CHECK_TEST_DOCKER=required` (CI) and none does.
pub fn docker_available() -> bool {
    let answers = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !answers && std::env::var("MIGRATION_CHECK_TEST_DOCKER").as_deref() == Ok("required") {
        panic!(
            "MIGRATION_CHECK_TEST_DOCKER=required but no Docker daemon answers (run .ci/docker-setup)"
        );
    }
    if !answers {
        eprintln!(
            "skipped: no Docker daemon (set MIGRATION_CHECK_TEST_DOCKER=required to fail instead)"
        );
    }
    answers
}

/// The PostgreSQL majors the Docker tests prove, one local image each
/// (built by `.ci/docker-setup`); `MIGRATION_CHECK_TEST_MAJORS` narrows them
/// (comma-separated, e.g. `15,17`).
pub fn docker_majors() -> Vec<String> {
    std::env::var("MIGRATION_CHECK_TEST_MAJORS")
        .unwrap_or_else(|_| "13,15,17,18".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The image of each major: `MIGRATION_CHECK_TEST_IMAGE_TEMPLATE`, default
/// the local `mc-postgres:{major}` (GitHub's CI uses `postgres:{major}-alpine`).
pub fn docker_image_template() -> String {
    std::env::var("MIGRATION_CHECK_TEST_IMAGE_TEMPLATE")
        .unwrap_or_else(|_| "mc-postgres:{major}".into())
}

/// The image of every major in [`docker_majors`].
pub fn docker_images() -> Vec<String> {
    let template = docker_image_template();
    docker_majors()
        .iter()
        .map(|major| template.replace("{major}", major))
        .collect()
}

/// The major of the server a JSON report was made on (`15` of `15.18 (Debian …)`).
pub fn server_major(report: &serde_json::Value) -> u32 {
    let version = report["postgres"]["server_version"].as_str().unwrap_or("");
    version
        .split(['.', ' '])
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("no server version in the report: {version:?}"))
}

/// A fixture's expected status of one migration on `major`: its `versions`
/// entry for that major, else its `status`.
pub fn expected_status(want: &serde_json::Value, major: u32) -> &str {
    want["versions"][major.to_string()]
        .as_str()
        .or_else(|| want["status"].as_str())
        .expect("expected.json gives every migration a status")
}

/// Whether a migration with this expected status lets the check pass: passed and applied
/// do; irreversible does when expected.json says its `severity` is a warning or `none` (told
/// once in the run's notes: an up-only project); it must say which, since
/// `[policy] irreversible = "auto"` decides by the project.
pub fn status_passes(want: &serde_json::Value, status: &str) -> bool {
    match status {
        "passed" | "applied" => true,
        "irreversible" => {
            let severity = want["severity"]
                .as_str()
                .unwrap_or_else(|| panic!("an irreversible migration needs its severity: {want}"));
            severity == "warning" || severity == "none"
        }
        _ => false,
    }
}

/// Checks a `verify --json -` run against an `expected.json`: each migration's status (per
/// major, see [`expected_status`]), the file, line and message of its problem, strings the
/// report must contain, `passed` and the exit status. Paths in `expected.json` are relative
/// to `dir`.
pub fn check_expected(
    dir: &Path,
    expected: &serde_json::Value,
    output: &Output,
    report: Option<serde_json::Value>,
) {
    use serde_json::Value;
    let report = report.unwrap_or_else(|| panic!("no JSON report; stderr:\n{}", stderr(output)));
    // Every throwaway database was dropped, also after a migration dropped or
    // renamed the `postgres` database the maintenance connection prefers.
    assert!(
        !stderr(output).contains("could not drop"),
        "{}",
        stderr(output)
    );
    let migrations = report["migrations"].as_array().unwrap();
    let wanted = expected["migrations"].as_array().unwrap();
    assert_eq!(migrations.len(), wanted.len(), "{report:#}");
    let major = server_major(&report);
    let mut all_ok = true;
    for (got, want) in migrations.iter().zip(wanted) {
        assert_eq!(got["version"], want["version"], "{report:#}");
        let status = expected_status(want, major);
        assert_eq!(
            got["status"], status,
            "version {} on PostgreSQL {major}: {report:#}",
            want["version"]
        );
        all_ok &= status_passes(want, status);
        if status != want["status"] {
            continue;
        }
        let problems = got["problems"].as_array().unwrap();
        if want.get("severity").and_then(Value::as_str) == Some("none") {
            assert!(
                problems.iter().all(|p| p["kind"] != status),
                "version {}: a {status} problem where the run's notes should tell: {problems:#?}",
                want["version"]
            );
        } else if let Some(severity) = want.get("severity") {
            assert!(
                problems
                    .iter()
                    .any(|p| p["kind"] == status && &p["severity"] == severity),
                "version {}: no {status} problem of severity {severity}: {problems:#?}",
                want["version"]
            );
        }
        if let Some(file) = want.get("file").and_then(Value::as_str) {
            let path = Path::new(&dir).join(file).display().to_string();
            assert!(
                problems
                    .iter()
                    .any(|p| p["file"].as_str() == Some(path.as_str())
                        && want.get("line").is_none_or(|line| &p["line"] == line)),
                "version {}: no problem at {path}:{}: {problems:#?}",
                want["version"],
                want["line"]
            );
        }
        // One needle, or several that must all be in one message.
        let needles: Vec<&str> = match want.get("message_contains") {
            Some(Value::Array(all)) => all.iter().filter_map(Value::as_str).collect(),
            Some(one) => one.as_str().into_iter().collect(),
            None => Vec::new(),
        };
        if !needles.is_empty() {
            assert!(
                problems.iter().any(|p| {
                    let message = p["message"].as_str().unwrap();
                    needles.iter().all(|needle| message.contains(needle))
                }),
                "version {}: no message contains all of {needles:?}: {problems:#?}",
                want["version"]
            );
        }
    }
    for needle in expected["problems_contain"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let needle = needle.as_str().unwrap();
        assert!(
            report.to_string().contains(needle),
            "report does not mention {needle}: {report:#}"
        );
    }
    assert_eq!(report["passed"], all_ok);
    assert_eq!(
        output.status.code(),
        Some(if all_ok { 0 } else { 1 }),
        "{}",
        stderr(output)
    );
}

/// The directory holding `node_modules` with knex, node-pg-migrate, pg and tsx
/// (`MIGRATION_CHECK_NODE_TOOLS`, else `~/.cache/migration-check/node-tools`, where
/// `.ci/run` installs them). None, with a word on stderr, when they are missing, unless
/// `MIGRATION_CHECK_TEST_NODE=required`, which makes that a failure.
pub fn node_tools() -> Option<PathBuf> {
    let dir = std::env::var_os("MIGRATION_CHECK_NODE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/migration-check/node-tools")
        });
    let ready = [
        "knex",
        "node-pg-migrate",
        "pg",
        "tsx",
        "prisma",
        "@prisma/adapter-pg",
        "sequelize-cli",
        "typeorm",
        "ts-node",
    ]
    .iter()
    .all(|package| dir.join("node_modules").join(package).is_dir());
    if ready {
        return Some(dir);
    }
    let required = std::env::var("MIGRATION_CHECK_TEST_NODE").is_ok_and(|v| v == "required");
    assert!(
        !required,
        "MIGRATION_CHECK_TEST_NODE=required but {} lacks knex, node-pg-migrate, pg, tsx, prisma, @prisma/adapter-pg, sequelize-cli, typeorm or ts-node \
         (.ci/run installs them)",
        dir.display()
    );
    eprintln!("skipped: no node tools in {}", dir.display());
    None
}

/// A copy of `tests/fixtures/command/<name>` with `node_modules` linked to the tools.
pub fn node_project(name: &str, tools: &Path) -> tempfile::TempDir {
    let copy = tempfile::Builder::new()
        .prefix("mc-project-")
        .tempdir_in("/tmp")
        .unwrap();
    copy_dir(
        &root().join("tests/fixtures/command").join(name).join("."),
        copy.path(),
    );
    std::os::unix::fs::symlink(tools.join("node_modules"), copy.path().join("node_modules"))
        .unwrap();
    copy
}

/// The arguments that point the binary at a fixture: its migrations directory, its
/// configuration file, and `--format` unless detection is under test.
pub fn format_fixture_args(
    fixture: &Path,
    expected: &serde_json::Value,
    detect: bool,
) -> (PathBuf, Vec<String>) {
    let dir = match expected["dir"].as_str() {
        Some(rel) => fixture.join(rel),
        None => fixture.to_path_buf(),
    };
    let mut args = Vec::new();
    let config = fixture.join("migration-check.toml");
    if config.is_file() {
        args.push("--config".to_string());
        args.push(config.display().to_string());
    }
    if !detect && let Some(format) = expected["format"].as_str() {
        args.push("--format".to_string());
        args.push(format.to_string());
    }
    for arg in expected["args"].as_array().into_iter().flatten() {
        args.push(arg.as_str().unwrap().to_string());
    }
    (dir, args)
}

/// `cp -r from to`: a directory copied with its links as they are.
pub fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cp -r {} {}",
        from.display(),
        to.display()
    );
}

/// Checks Mermaid files with the real Mermaid library in headless chromium
/// (`tests/tools/mermaid/check.mjs`, installed by `.ci/mermaid-setup`). Returns false, with
/// a word on stderr, when the tools are missing, unless `MIGRATION_CHECK_TEST_MERMAID=required`,
/// which makes that a failure; panics with Mermaid's message when a file does not render.
pub fn mermaid_accepts(files: &[PathBuf]) -> bool {
    let tools = std::env::var_os("MIGRATION_CHECK_MERMAID_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/migration-check/mermaid-tools")
        });
    let chromium = std::env::var_os("MIGRATION_CHECK_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !tools.join("node_modules/mermaid").is_dir() || !chromium.exists() {
        let required = std::env::var("MIGRATION_CHECK_TEST_MERMAID").is_ok_and(|v| v == "required");
        assert!(
            !required,
            "MIGRATION_CHECK_TEST_MERMAID=required but mermaid ({}) or chromium ({}) is missing \
             (.ci/mermaid-setup installs them)",
            tools.display(),
            chromium.display()
        );
        eprintln!("skipped: no mermaid tools in {}", tools.display());
        return false;
    }
    let output = Command::new("node")
        .arg(root().join("tests/tools/mermaid/check.mjs"))
        .args(files)
        .env("MIGRATION_CHECK_MERMAID_TOOLS", &tools)
        .env("MIGRATION_CHECK_CHROMIUM", &chromium)
        .output()
        .expect("run node");
    assert!(
        output.status.success(),
        "Mermaid refused a diagram:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    true
}

/// A connection made with `config` (a server's `config(database)`), driven on the
/// current runtime.
pub async fn connect(config: tokio_postgres::Config) -> tokio_postgres::Client {
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// An embedded cluster with a database `name` where `sql` ran, and its URL (over the
/// cluster's socket).
#[allow(dead_code)]
pub async fn populated_database(
    name: &str,
    sql: &str,
) -> (migration_check::postgres::embedded::EmbeddedServer, String) {
    use migration_check::postgres::embedded::{EmbeddedOptions, EmbeddedServer};
    let server = EmbeddedServer::start(&EmbeddedOptions::default())
        .await
        .expect("embedded PostgreSQL");
    let admin = connect(server.config("postgres")).await;
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    connect(server.config(name))
        .await
        .batch_execute(sql)
        .await
        .unwrap();
    let url = format!(
        "host={} port=5432 user=postgres dbname={name}",
        server.path().join("socket").display()
    );
    (server, url)
}

/// `stats export` of the database at `url` into `file`, by the binary (exit 0 asserted).
#[allow(dead_code)]
pub fn export_stats(url: &str, file: &Path) {
    let output = Command::new(binary())
        .args(["stats", "export", "--database", url, "--output"])
        .arg(file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}
