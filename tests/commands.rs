//! Migrations written as code, run through the teams' own tools: the real knex and
//! node-pg-migrate (installed from npm by `.ci/run` into a cache directory, found through
//! `MIGRATION_CHECK_NODE_TOOLS`), and a small tool of our own for the generic `command`
//! format, against the real embedded PostgreSQL. Each project is copied to a temporary
//! directory with its `node_modules` pointing at the cache, as `npm ci` would leave it.
//! Without the tools the tests say so and pass, unless `MIGRATION_CHECK_TEST_NODE=required`
//! (as in CI).

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Statuses by version, and the problems' messages joined, of a report.
fn verdicts(report: &Value) -> Vec<(String, String, String)> {
    report["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let messages: Vec<&str> = m["problems"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["message"].as_str().unwrap())
                .collect();
            (
                m["version"].as_str().unwrap().to_string(),
                m["status"].as_str().unwrap().to_string(),
                messages.join("\n"),
            )
        })
        .collect()
}

/// The four migrations of each JavaScript project: one that passes, a down that forgets
/// an index, one whose up applies nothing, and one whose up fails with the tool's error.
fn assert_four_kinds(report: &Value, forgotten_index: &str) {
    let got = verdicts(report);
    let statuses: Vec<&str> = got.iter().map(|(_, s, _)| s.as_str()).collect();
    assert_eq!(
        statuses,
        ["passed", "not_reversible", "passed", "failed_up"],
        "{report:#}"
    );
    assert!(got[1].2.contains(forgotten_index), "{report:#}");
    assert!(
        got[3].2.contains("relation \"payments\" does not exist"),
        "the tool's own error: {report:#}"
    );
    assert_eq!(report["passed"], false);
}

#[test]
fn a_node_pg_migrate_javascript_project_needs_no_configuration() {
    let Some(tools) = common::node_tools() else {
        return;
    };
    let project = common::node_project("node-pg-migrate-js", &tools);
    let (output, report) = common::verify(&project.path().join("migrations"), &[]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(report["format"], "node-pg-migrate", "{report:#}");
    assert_eq!(output.status.code(), Some(1));
    assert_four_kinds(&report, "orders_created_at_idx");
    let versions: Vec<String> = verdicts(&report).into_iter().map(|(v, _, _)| v).collect();
    // node-pg-migrate names a migration by its file name without extension.
    assert_eq!(
        versions,
        [
            "1718000000000_create-orders",
            "1718000100000_add-orders-status",
            "1718000200000_noop-placeholder",
            "1718000300000_add-refunds"
        ]
    );
}

#[test]
fn a_knex_typescript_project_needs_no_configuration() {
    let Some(tools) = common::node_tools() else {
        return;
    };
    let project = common::node_project("knex-ts", &tools);
    let (output, report) = common::verify(&project.path().join("migrations"), &[]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(report["format"], "knex", "{report:#}");
    assert_eq!(output.status.code(), Some(1));
    assert_four_kinds(&report, "invoices_issued_at_idx");
    // The history tables are the tool's bookkeeping, never a schema difference.
    assert!(
        !report.to_string().contains("knex_migrations"),
        "{report:#}"
    );
}

/// The real sequelize-cli: its default environment names a database the throwaway server
/// does not have, and the failure says which setting to change; with `[sequelize]
/// environment` it runs, and a down that forgets an index is caught.
#[test]
fn a_sequelize_project_runs_in_the_environment_that_reads_database_url() {
    let Some(tools) = common::node_tools() else {
        return;
    };
    let project = common::node_project("sequelize-js", &tools);
    let migrations = project.path().join("migrations");
    let (output, report) = common::verify(&migrations, &[]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(report["format"], "sequelize", "{report:#}");
    let failed = &verdicts(&report)[0];
    assert_eq!(failed.1, "failed_up", "{report:#}");
    assert!(
        failed.2.contains("connected to database `development`")
            && failed.2.contains("[sequelize] environment"),
        "{}",
        failed.2
    );
    let config = project.path().join("migration-check.toml");
    std::fs::write(&config, "[sequelize]\nenvironment = \"production\"\n").unwrap();
    let (output, report) = common::verify(&migrations, &["--config", config.to_str().unwrap()]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    let statuses: Vec<String> = verdicts(&report).into_iter().map(|(_, s, _)| s).collect();
    assert_eq!(statuses, ["passed", "not_reversible"], "{report:#}");
    assert!(
        report.to_string().contains("invoices_total_idx"),
        "{report:#}"
    );
    assert!(!report.to_string().contains("SequelizeMeta"), "{report:#}");
}

/// The real TypeORM command line through the project's data source: a migration class whose
/// down forgets nothing passes, its class name matched in TypeORM's history.
#[test]
fn a_typeorm_project_runs_through_its_data_source() {
    let Some(tools) = common::node_tools() else {
        return;
    };
    let project = common::node_project("typeorm-ts", &tools);
    let (output, report) = common::verify(&project.path().join("src/migrations"), &[]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(report["format"], "typeorm", "{report:#}");
    let statuses: Vec<String> = verdicts(&report).into_iter().map(|(_, s, _)| s).collect();
    assert_eq!(statuses, ["passed"], "{report:#}");
    assert_eq!(output.status.code(), Some(0), "{report:#}");
}

#[test]
fn a_missing_node_modules_is_an_environment_error_with_the_fix() {
    let Some(tools) = common::node_tools() else {
        return;
    };
    let project = common::node_project("knex-ts", &tools);
    std::fs::remove_file(project.path().join("node_modules")).unwrap();
    let tmp = common::private_tmp();
    let output = common::command(tmp.path())
        .arg("verify")
        .arg(project.path().join("migrations"))
        .output()
        .unwrap();
    let stderr = common::stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("npm ci"), "{stderr}");
    common::assert_nothing_left(tmp.path());
}

/// Runs the generic fixture's tool with our environment holding a token and a secret.
fn verify_generic(project: &Path, extra: &[&str]) -> (std::process::Output, Value) {
    let tmp = common::private_tmp();
    let config = project.join("migration-check.toml");
    let output = common::command(tmp.path())
        .arg("verify")
        .arg(project.join("migrations"))
        .args(["--config", config.to_str().unwrap(), "--json", "-"])
        .args(extra)
        .env("GITHUB_TOKEN", "ghs_must_never_leak")
        .env("OTHER_SECRET", "also_private")
        .env("LISTED_VARIABLE", "visible")
        .output()
        .unwrap();
    common::assert_nothing_left(tmp.path());
    let running = common::processes_mentioning(&project.display().to_string());
    assert!(running.is_empty(), "tool processes left: {running:?}");
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", common::stderr(&output)));
    (output, report)
}

#[test]
fn commands_see_the_throwaway_database_and_none_of_our_secrets() {
    let Some(tools) = common::node_tools() else {
        return;
    };
    let project = common::node_project("generic", &tools);
    let (output, report) = verify_generic(project.path(), &[]);
    assert_eq!(report["format"], "command", "{report:#}");
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let statuses: Vec<String> = verdicts(&report).into_iter().map(|(_, s, _)| s).collect();
    assert_eq!(statuses, ["passed", "passed"]);
    assert_eq!(report["sequence"]["status"], "passed");
    for action in ["up", "down"] {
        let dump = project.path().join(format!("env-{action}-1_users.js.json"));
        let env: Value = serde_json::from_str(&std::fs::read_to_string(dump).unwrap()).unwrap();
        let names: Vec<&str> = env
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for present in [
            "PATH",
            "DATABASE_URL",
            "PGHOST",
            "PGDATABASE",
            "LISTED_VARIABLE",
        ] {
            assert!(names.contains(&present), "{present} missing from {names:?}");
        }
        // Listed or not, the token never reaches a command; nor does anything unlisted.
        for absent in ["GITHUB_TOKEN", "OTHER_SECRET"] {
            assert!(
                !names.contains(&absent),
                "{absent} reached the command: {names:?}"
            );
        }
        assert!(
            env["DATABASE_URL"]
                .as_str()
                .unwrap()
                .starts_with("postgresql://"),
            "{env:#}"
        );
    }
}

#[test]
fn a_tool_that_records_more_than_it_was_asked_fails_the_step_not_the_verdict() {
    let Some(tools) = common::node_tools() else {
        return;
    };
    let project = common::node_project("generic", &tools);
    std::fs::write(
        project.path().join("migrations/2_users_email_index.js"),
        "module.exports = { up: 'CREATE INDEX users_email_idx ON users (email)', \
         down: 'DROP INDEX users_email_idx', alsoRecord: '9_ghost.js' };\n",
    )
    .unwrap();
    let (output, report) = verify_generic(project.path(), &[]);
    assert_eq!(output.status.code(), Some(1));
    let got = verdicts(&report);
    assert_eq!(got[1].1, "failed_up", "{report:#}");
    assert!(
        got[1].2.contains("changed 2 rows of tool_history"),
        "{report:#}"
    );
    assert!(got[1].2.contains("9_ghost.js"), "{report:#}");
    let kinds = report["migrations"][1]["problems"][0]["kind"].clone();
    assert_eq!(kinds, "command_failed");
}

#[test]
fn a_hanging_command_is_killed_at_the_command_timeout() {
    let Some(tools) = common::node_tools() else {
        return;
    };
    let project = common::node_project("generic", &tools);
    std::fs::write(
        project.path().join("migrations/2_users_email_index.js"),
        "module.exports = { up: 'SELECT 1', down: 'SELECT 1', sleep: 600 };\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let (output, report) = verify_generic(project.path(), &["--command-timeout", "3s"]);
    assert!(
        started.elapsed().as_secs() < 120,
        "the timeout did not fire"
    );
    assert_eq!(output.status.code(), Some(1));
    let problem = &report["migrations"][1]["problems"][0];
    assert_eq!(report["migrations"][1]["status"], "failed_up", "{report:#}");
    assert_eq!(problem["kind"], "timeout", "{report:#}");
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains("--command-timeout"),
        "{report:#}"
    );
}

#[test]
fn merged_history_is_applied_in_one_invocation_of_the_tool() {
    let Some(tools) = common::node_tools() else {
        return;
    };
    let project = common::node_project("node-pg-migrate-js", &tools);
    let dir = project.path();
    std::fs::remove_file(dir.join("migrations/1718000300000_add-refunds.js")).unwrap();
    std::fs::write(dir.join(".gitignore"), "node_modules\nenv-*.json\n").unwrap();
    common::git(dir, &["init", "-q", "-b", "main"]);
    common::git(dir, &["add", "-A"]);
    common::git(dir, &["commit", "-q", "-m", "merged history"]);
    common::git(dir, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(
        dir.join("migrations/1718000400000_add-customers.js"),
        "exports.up = (pgm) => { pgm.createTable('customers', { id: 'id', email: 'text' }); };\n\
         exports.down = (pgm) => { pgm.dropTable('customers'); };\n",
    )
    .unwrap();
    common::git(dir, &["add", "-A"]);
    common::git(dir, &["commit", "-q", "-m", "add customers"]);

    let (output, report) = common::verify(&dir.join("migrations"), &["--base", "main"]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let migrations = report["migrations"].as_array().unwrap();
    let statuses: Vec<&str> = migrations
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["applied", "applied", "applied", "passed"],
        "{report:#}"
    );
    for merged in &migrations[..3] {
        let notes = merged["notes"].to_string();
        assert!(
            notes.contains("2 other migration(s) of the history in one invocation")
                && notes.contains("up 3"),
            "{report:#}"
        );
    }
    assert_eq!(migrations[3]["new"], true);
}

/// Alembic (Python), through the generic `[command]` recipe of the README: its history is a
/// single row holding the current revision, replaced at every step.
#[test]
fn an_alembic_project_through_the_command_recipe() {
    let venv = std::env::var_os("MIGRATION_CHECK_PYTHON_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/migration-check/python-tools")
        });
    if !venv.join("bin/alembic").is_file() {
        let required = std::env::var("MIGRATION_CHECK_TEST_NODE").is_ok_and(|v| v == "required");
        assert!(
            !required,
            "no alembic in {} (.ci/run installs it)",
            venv.display()
        );
        eprintln!("skipped: no alembic in {}", venv.display());
        return;
    }
    let fixture = common::root().join("tests/fixtures/command/alembic");
    let tmp = common::private_tmp();
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = common::command(tmp.path())
        .arg("verify")
        .arg(fixture.join("alembic/versions"))
        .args([
            "--config",
            fixture.join("migration-check.toml").to_str().unwrap(),
        ])
        .args(["--json", "-"])
        .env("PATH", path)
        .output()
        .unwrap();
    common::assert_nothing_left(tmp.path());
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", common::stderr(&output)));
    let got = verdicts(&report);
    let statuses: Vec<(&str, &str)> = got
        .iter()
        .map(|(v, s, _)| (v.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("0001", "passed"),
            ("0002", "passed"),
            ("0003", "not_reversible")
        ],
        "{report:#}"
    );
    assert!(got[2].2.contains("items_sku_lower_idx"), "{report:#}");
    assert!(
        !report.to_string().contains("alembic_version"),
        "{report:#}"
    );
}
