//! The Docker backend against a real Docker daemon: every fixture's verdict
//! on every claimed major (13, 15, 17, 18) through `--postgres-versions`,
//! from the host and from inside a container with the host's socket mounted
//! (default bridge and a user-defined network); no container left after
//! success, failure, panic, Ctrl-C or SIGTERM; exit 3 with advice when Docker
//! is unreachable, the image is missing or the container dies; and the built
//! Action image run exactly as the GitHub runner runs it.
//!
//! Runs when a daemon answers; with `MIGRATION_CHECK_TEST_DOCKER=required`
//! (CI) an unreachable daemon fails the tests instead of skipping them.
//! Majors: `MIGRATION_CHECK_TEST_MAJORS` (default `13,15,17,18`); images:
//! `MIGRATION_CHECK_TEST_IMAGE_TEMPLATE` (default the local
//! `mc-postgres:{major}` built by `.ci/docker-setup`).

mod common;
mod fake_github;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const LABEL: &str = "org.migration-check.owner";

fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("docker")
}

/// Containers (running or not) started by process `pid`.
fn containers_of(pid: u32) -> Vec<String> {
    let output = docker(&["ps", "-aq", "--filter", &format!("label={LABEL}={pid}")]);
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Runs the binary with `args`; asserts no container of it remains.
fn run(args: &[&str], envs: &[(&str, &str)]) -> (Output, Option<Value>) {
    let tmp = common::private_tmp();
    let child = common::command(tmp.path())
        .args(args)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    assert!(
        containers_of(pid).is_empty(),
        "containers left behind: {:?}",
        containers_of(pid)
    );
    common::assert_nothing_left(tmp.path());
    (output.clone(), serde_json::from_slice(&output.stdout).ok())
}

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["version"].as_str().unwrap().to_string(),
                m["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every fixture on every claimed major in one run per fixture
/// (`--postgres-versions`): each major's verdict is the expected one, the
/// migration's status is the worst of them, and the report names the majors.
#[test]
fn every_fixture_has_its_verdict_on_every_major() {
    if !common::docker_available() {
        return;
    }
    let majors = common::docker_majors();
    let fixtures = common::root().join("tests/fixtures/status");
    let mut names: Vec<String> = std::fs::read_dir(&fixtures)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let every_major = every_major_flags();
    for name in &names {
        let dir = fixtures.join(name).display().to_string();
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(fixtures.join(name).join("expected.json")).unwrap(),
        )
        .unwrap();
        let args = [
            &["verify", &dir][..],
            &every_major,
            &["--statement-timeout", "2s", "--json", "-"],
        ]
        .concat();
        let (output, report) = run(&args, &[]);
        let report = report.unwrap_or_else(|| panic!("{name}: {}", common::stderr(&output)));
        assert_eq!(report["postgres"]["backend"], "docker");
        let listed: Vec<String> = report["postgres_versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["major"].to_string())
            .collect();
        assert_eq!(listed, majors, "{name}");
        let mut all_passed = true;
        for (got, want) in report["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .zip(expected["migrations"].as_array().unwrap())
        {
            let mut statuses = Vec::new();
            for major in &majors {
                let status = common::expected_status(want, major.parse().unwrap());
                assert_eq!(
                    got["versions"][major]["status"], status,
                    "{name} version {} on PostgreSQL {major}: {report:#}",
                    want["version"]
                );
                statuses.push(status);
            }
            let worst = worst_status(&statuses);
            assert_eq!(got["status"], worst, "{name}: {report:#}");
            all_passed &= common::status_passes(want, worst);
        }
        assert_eq!(report["passed"], all_passed, "{name}: {report:#}");
        assert_eq!(output.status.code(), Some(if all_passed { 0 } else { 1 }));
    }
    // The shipped sample passes on every major.
    let args = [
        &["verify", "migrations"][..],
        &every_major,
        &["--json", "-"],
    ]
    .concat();
    let (output, report) = run(&args, &[]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(report["passed"], true, "{report:#}");
}

/// The flags of a run on every claimed major: `--postgres docker
/// --postgres-versions 13,15,17,18 --image-template <the test images>`.
fn every_major_flags() -> Vec<&'static str> {
    let majors: &'static str = common::docker_majors().join(",").leak();
    let template: &'static str = common::docker_image_template().leak();
    vec![
        "--postgres",
        "docker",
        "--postgres-versions",
        majors,
        "--image-template",
        template,
    ]
}

/// Every format's conformance fixture (tests/fixtures/formats) on every major at once: the
/// formats of #10 read the same files on every version, and each migration's verdict holds
/// on each (or differs where its `versions` map says).
#[test]
fn every_format_fixture_has_its_verdict_on_every_major() {
    if !common::docker_available() {
        return;
    }
    let majors = common::docker_majors();
    let root = common::root().join("tests/fixtures/formats");
    let mut fixtures: Vec<std::path::PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 10, "{fixtures:?}");
    let every_major = every_major_flags();
    for fixture in &fixtures {
        let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(fixture.join("expected.json")).unwrap())
                .unwrap();
        let (dir, extra) = common::format_fixture_args(fixture, &expected, false);
        let dir = dir.display().to_string();
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let args = [
            &["verify", &dir][..],
            &extra,
            &every_major,
            &["--json", "-"],
        ]
        .concat();
        let (output, report) = run(&args, &[]);
        let report = report.unwrap_or_else(|| panic!("{name}: {}", common::stderr(&output)));
        for (got, want) in report["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .zip(expected["migrations"].as_array().unwrap())
        {
            for major in &majors {
                let status = common::expected_status(want, major.parse().unwrap());
                assert_eq!(
                    got["versions"][major]["status"], status,
                    "{name} version {} on PostgreSQL {major}: {report:#}",
                    want["version"]
                );
            }
        }
    }
}

/// The worst of some statuses, in the contract's order of severity.
fn worst_status<'a>(statuses: &[&'a str]) -> &'a str {
    const ORDER: [&str; 8] = [
        "failed_up",
        "failed_down",
        "not_reversible",
        "not_reapplicable",
        "skipped",
        "irreversible",
        "applied",
        "passed",
    ];
    statuses
        .iter()
        .copied()
        .min_by_key(|s| ORDER.iter().position(|o| o == s).expect("a known status"))
        .expect("at least one major")
}

/// Where verdicts differ, the terminal report says so per major; where they
/// agree it says nothing of majors.
#[test]
fn the_report_names_majors_only_where_verdicts_differ() {
    if !common::docker_available() {
        return;
    }
    let majors = common::docker_majors();
    if !majors.iter().any(|m| m == "13") || majors.len() < 2 {
        eprintln!("skipped: needs PostgreSQL 13 and another major");
        return;
    }
    let every_major = every_major_flags();
    let args = [
        &["verify", "tests/fixtures/status/differs_by_version"][..],
        &every_major,
    ]
    .concat();
    let (output, _) = run(&args, &[]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    let others = majors[1..].join(", ");
    assert!(
        text.contains(&format!("up failed on 13; passed on {others}")),
        "{text}"
    );
    assert!(text.contains("(PostgreSQL 13)"), "{text}");
    let first_line = text.lines().find(|l| l.contains("1 create_users")).unwrap();
    assert!(!first_line.contains(" on "), "{first_line}");
}

/// Starts a run whose migration sleeps, signals it once its container runs.
fn interrupt(signal: nix::sys::signal::Signal, code: i32, postgres_args: &[&str]) {
    let dir = tempfile::Builder::new()
        .prefix("mc-migrations-")
        .tempdir_in("/tmp")
        .unwrap();
    let tmp = common::private_tmp();
    let (mut child, _stderr) = common::spawn_sleeping_verify(tmp.path(), dir.path(), postgres_args);
    let pid = child.id();
    assert!(!containers_of(pid).is_empty(), "a container runs");
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(code));
    assert!(
        containers_of(pid).is_empty(),
        "container survived {signal:?} ({postgres_args:?})"
    );
}

#[test]
fn no_container_is_left_after_any_exit() {
    if !common::docker_available() {
        return;
    }
    let image = common::docker_images()[0].clone();
    for fixture in ["passed", "not_reversible", "failed_up"] {
        let dir = common::root()
            .join("tests/fixtures/status")
            .join(fixture)
            .display()
            .to_string();
        let (output, _) = run(
            &["verify", &dir, "--postgres", "docker", "--image", &image],
            &[],
        );
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "{fixture}: {}",
            common::stderr(&output)
        );
    }
    let (output, _) = run(
        &[
            "verify",
            "tests/fixtures/status/passed",
            "--postgres",
            "docker",
            "--image",
            &image,
        ],
        &[(migration_check::app::PANIC_HOOK_ENV, "1")],
    );
    assert_eq!(output.status.code(), Some(101));
    let image = common::docker_images()[0].clone();
    let one = ["--postgres", "docker", "--image", &image];
    interrupt(nix::sys::signal::Signal::SIGINT, 130, &one);
    interrupt(nix::sys::signal::Signal::SIGTERM, 143, &one);
    // Several majors at once: every container goes.
    interrupt(nix::sys::signal::Signal::SIGTERM, 143, &every_major_flags());
}

#[test]
fn environment_failures_exit_3_with_advice() {
    if !common::docker_available() {
        return;
    }
    let verify = [
        "verify",
        "tests/fixtures/status/passed",
        "--postgres",
        "docker",
    ];
    let (output, _) = run(
        &[&verify[..], &["--image", &common::docker_images()[0]]].concat(),
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_eq!(output.status.code(), Some(3));
    assert!(
        common::stderr(&output).contains("cannot reach the Docker daemon"),
        "{}",
        common::stderr(&output)
    );

    let (output, _) = run(
        &[&verify[..], &["--image", "localhost:1/missing/postgres:1"]].concat(),
        &[],
    );
    assert_eq!(output.status.code(), Some(3));
    assert!(
        common::stderr(&output).contains("docker pull localhost:1/missing/postgres:1"),
        "{}",
        common::stderr(&output)
    );

    // An image without PostgreSQL: the container exits at once.
    let started = Instant::now();
    let (output, _) = run(
        &[&verify[..], &["--image", "mc-debian:bookworm"]].concat(),
        &[],
    );
    assert_eq!(output.status.code(), Some(3), "{}", common::stderr(&output));
    assert!(
        common::stderr(&output).contains("did not run PostgreSQL"),
        "{}",
        common::stderr(&output)
    );
    assert!(
        started.elapsed() < Duration::from_secs(100),
        "an exited container is noticed"
    );
}

/// A user-defined network and its gateway, removed on drop.
struct Network {
    name: String,
    gateway: String,
}

impl Network {
    fn create() -> Self {
        // Several tests of this process may each have one at the same time.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("mc-test-{}-{n}", std::process::id());
        let output = docker(&["network", "create", &name]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let inspect = docker(&[
            "network",
            "inspect",
            "--format",
            "{{(index .IPAM.Config 0).Gateway}}",
            &name,
        ]);
        Network {
            name,
            gateway: String::from_utf8_lossy(&inspect.stdout).trim().to_string(),
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = docker(&["network", "rm", &self.name]);
    }
}

#[test]
fn from_inside_a_container_with_the_socket_mounted() {
    if !common::docker_available() {
        return;
    }
    let network = Network::create();
    let binary = common::binary();
    let root = common::root();
    for net in ["bridge", network.name.as_str()] {
        let output = Command::new("docker")
            .args([
                "run",
                "--rm",
                "--network",
                net,
                "-v",
                "/var/run/docker.sock:/var/run/docker.sock",
            ])
            .arg("-v")
            .arg(format!(
                "{}:/usr/local/bin/migration-check:ro",
                binary.display()
            ))
            .arg("-v")
            .arg(format!(
                "{}:/fixtures:ro",
                root.join("tests/fixtures/status").display()
            ))
            .args([
                "mc-debian:bookworm",
                "migration-check",
                "verify",
                "/fixtures/not_reversible",
            ])
            .args([
                "--postgres",
                "docker",
                "--image",
                &common::docker_images()[0],
                "--json",
                "-",
            ])
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{net}: {}", String::from_utf8_lossy(&output.stderr)));
        assert_eq!(output.status.code(), Some(1), "{net}");
        assert_eq!(
            statuses(&report)[1],
            ("2".to_string(), "not_reversible".to_string()),
            "{net}"
        );
    }
}

fn build_action_image() -> String {
    let context = tempfile::tempdir().unwrap();
    std::fs::copy(
        common::root().join("Dockerfile"),
        context.path().join("Dockerfile"),
    )
    .unwrap();
    std::fs::copy(common::binary(), context.path().join("migration-check")).unwrap();
    let tag = "mc-action:test".to_string();
    let output = Command::new("docker")
        .args([
            "build",
            "-q",
            "--target",
            "prebuilt",
            "--build-arg",
            "RUNTIME_IMAGE=mc-debian:trixie",
            "-t",
            &tag,
        ])
        .arg(context.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    tag
}

/// The runner's file-command directory: an empty job summary and outputs, and the event of
/// pull request 3 of acme/shop (feature into main).
fn file_commands() -> tempfile::TempDir {
    let commands = tempfile::tempdir().unwrap();
    std::fs::write(commands.path().join("summary.md"), "").unwrap();
    std::fs::write(commands.path().join("output"), "").unwrap();
    let event = serde_json::json!({
        "number": 3,
        "pull_request": { "number": 3,
            "base": { "ref": "main", "sha": "1", "repo": { "full_name": "acme/shop" } },
            "head": { "ref": "feature", "sha": "2", "repo": { "full_name": "acme/shop" } } }
    });
    std::fs::write(commands.path().join("event.json"), event.to_string()).unwrap();
    commands
}

/// Runs the Action's image as GitHub runs a container action: the workspace and the file
/// commands mounted, the event and inputs in the environment, the Docker socket shared.
fn run_action_container(
    image: &str,
    network: &Network,
    api_url: &str,
    ws: &std::path::Path,
    commands: &std::path::Path,
) -> Output {
    Command::new("docker")
        .args([
            "run",
            "--rm",
            "--network",
            &network.name,
            "--workdir",
            "/github/workspace",
        ])
        .args(["-v", "/var/run/docker.sock:/var/run/docker.sock"])
        .arg("-v")
        .arg(format!("{}:/github/workspace", ws.display()))
        .arg("-v")
        .arg(format!("{}:/github/file_commands", commands.display()))
        .args([
            "-e",
            "GITHUB_ACTIONS=true",
            "-e",
            "GITHUB_EVENT_NAME=pull_request",
        ])
        .args([
            "-e",
            "GITHUB_EVENT_PATH=/github/file_commands/event.json",
            "-e",
            "GITHUB_REPOSITORY=acme/shop",
        ])
        .args([
            "-e",
            &format!("GITHUB_API_URL={api_url}"),
            "-e",
            "GITHUB_WORKSPACE=/github/workspace",
        ])
        .args([
            "-e",
            "GITHUB_STEP_SUMMARY=/github/file_commands/summary.md",
            "-e",
            "GITHUB_OUTPUT=/github/file_commands/output",
        ])
        .args([
            "-e",
            "INPUT_PATH=migrations",
            "-e",
            "INPUT_POSTGRES=docker",
            "-e",
            &format!("INPUT_POSTGRES-IMAGE={}", common::docker_images()[0]),
        ])
        .args([
            "-e",
            "INPUT_BASE-REF=main",
            "-e",
            "INPUT_COMMENT=true",
            "-e",
            &format!("INPUT_GITHUB-TOKEN={}", fake_github::TOKEN),
        ])
        .arg(image)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_image_runs_as_github_runs_it() {
    if !tokio::task::block_in_place(common::docker_available) {
        return;
    }
    let image = tokio::task::block_in_place(build_action_image);
    let network = Network::create();
    let fake = fake_github::FakeGitHub::start_on(&network.gateway).await;
    // A workspace: main has one migration, the PR adds one whose down forgets an index.
    let workspace = tempfile::Builder::new()
        .prefix("mc-action-ws-")
        .tempdir_in("/tmp")
        .unwrap();
    let ws = workspace.path();
    std::fs::create_dir_all(ws.join("migrations")).unwrap();
    std::fs::write(
        ws.join("migrations/1_users.up.sql"),
        "CREATE TABLE users (id int, email text);\n",
    )
    .unwrap();
    std::fs::write(
        ws.join("migrations/1_users.down.sql"),
        "DROP TABLE users;\n",
    )
    .unwrap();
    common::git(ws, &["init", "-q", "-b", "main"]);
    common::git(ws, &["add", "-A"]);
    common::git(ws, &["commit", "-q", "-m", "base"]);
    common::git(ws, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(
        ws.join("migrations/2_idx.up.sql"),
        "CREATE INDEX users_email_idx ON users (email);\n",
    )
    .unwrap();
    std::fs::write(ws.join("migrations/2_idx.down.sql"), "SELECT 1;\n").unwrap();
    common::git(ws, &["add", "-A"]);
    common::git(ws, &["commit", "-q", "-m", "index"]);
    let commands = file_commands();
    let output = tokio::task::block_in_place(|| {
        run_action_container(&image, &network, &fake.api_url(), ws, commands.path())
    });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let comments = fake.comments_with("acme", "shop", 3, "migration-check:migrations");
    assert_eq!(comments.len(), 1, "{stdout}");
    assert!(
        comments[0].body.contains("users\\_email\\_idx")
            || comments[0].body.contains("users_email_idx")
    );
    let summary = std::fs::read_to_string(commands.path().join("summary.md")).unwrap();
    assert!(summary.contains("migration-check failed"), "{summary}");
    let outputs = std::fs::read_to_string(commands.path().join("output")).unwrap();
    assert!(outputs.contains("\nfalse\n"), "{outputs}");
    assert!(
        stdout.contains("::error file=migrations/2_idx.down.sql"),
        "{stdout}"
    );
    for text in [
        &stdout.replace(&format!("::add-mask::{}", fake_github::TOKEN), ""),
        &summary,
        &outputs,
        &comments[0].body,
    ] {
        assert!(!text.contains(fake_github::TOKEN), "the token leaked");
    }
}

/// A knex TypeScript project and a node-pg-migrate JavaScript project, each verified by
/// the Action's image with no configuration but the path: the workflow's `npm ci` left
/// `node_modules` in the workspace, the image brings Node.js, and the tool reaches the
/// throwaway database from inside the Action's container. The merged history goes in one
/// invocation; the PR's migration fails with the tool's own error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_image_runs_code_migrations_through_their_tool() {
    if !tokio::task::block_in_place(common::docker_available) {
        return;
    }
    for (fixture, pending, format) in [
        ("knex-ts", "20240613080000_link_payments.ts", "knex"),
        (
            "node-pg-migrate-js",
            "1718000300000_add-refunds.js",
            "node-pg-migrate",
        ),
    ] {
        action_runs_project(fixture, pending, format).await;
    }
}

/// Runs the Action on a copy of `tests/fixtures/command/<fixture>` whose PR adds `pending`.
async fn action_runs_project(fixture: &str, pending: &str, format: &str) {
    let Some(tools) = common::node_tools() else {
        return;
    };
    let image = tokio::task::block_in_place(build_action_image);
    let network = Network::create();
    let fake = fake_github::FakeGitHub::start_on(&network.gateway).await;
    let workspace = tempfile::Builder::new()
        .prefix("mc-action-code-")
        .tempdir_in("/tmp")
        .unwrap();
    let ws = workspace.path();
    common::copy_dir(
        &common::root()
            .join("tests/fixtures/command")
            .join(fixture)
            .join("."),
        ws,
    );
    common::copy_dir(&tools.join("node_modules"), &ws.join("node_modules"));
    std::fs::write(ws.join(".gitignore"), "node_modules\n").unwrap();
    let last = ws.join("migrations").join(pending);
    let pending = std::fs::read(&last).unwrap();
    std::fs::remove_file(&last).unwrap();
    common::git(ws, &["init", "-q", "-b", "main"]);
    common::git(ws, &["add", "-A"]);
    common::git(ws, &["commit", "-q", "-m", "base"]);
    common::git(ws, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(&last, pending).unwrap();
    common::git(ws, &["add", "-A"]);
    common::git(ws, &["commit", "-q", "-m", "the PR's migration"]);
    let commands = file_commands();
    let output = tokio::task::block_in_place(|| {
        run_action_container(&image, &network, &fake.api_url(), ws, commands.path())
    });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    let comments = fake.comments_with("acme", "shop", 3, "migration-check:migrations");
    assert_eq!(comments.len(), 1, "{stdout}");
    let body = &comments[0].body;
    assert!(body.contains(format), "{body}");
    assert!(
        body.contains("relation \"payments\" does not exist")
            || body.contains("relation \\\"payments\\\" does not exist"),
        "the tool's error reaches the comment: {body}"
    );
    assert!(!body.contains(fake_github::TOKEN), "the token leaked");
}
