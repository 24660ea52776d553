//! Issue #15's side-by-side test: every case of the lock-fixture corpus
//! (`tests/fixtures/locks/corpus.toml`) runs through migration-check's measurement, eugene's
//! `trace` (the real crate) and squawk (the real `squawk-cli`), and the agreement table is
//! printed (`cargo nextest run --test lock_corpus --no-capture`).
//!
//! - migration-check must find exactly the rules the corpus lists for each case;
//! - every true finding of eugene's trace must be among ours (a case lists the hints of
//!   eugene's it shows to be false, with the reason in its `note`; E3, advice on the `json`
//!   type, is no lock);
//! - squawk's findings that the measurement disproves (a rule it maps to that we did not
//!   find) are counted, and must include the corpus's traps that squawk flags.
//!
//! eugene and squawk are found through `MIGRATION_CHECK_EUGENE` / `MIGRATION_CHECK_SQUAWK`
//! (`.ci/run` installs them into its caches); without them their columns are skipped,
//! unless `MIGRATION_CHECK_TEST_LOCK_TOOLS=required`.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

#[derive(Deserialize)]
struct Corpus {
    setup: String,
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    sql: String,
    ours: Vec<String>,
    #[serde(default)]
    trap: bool,
    /// Hints eugene reports here that the case shows to be false, and why (`note`).
    #[serde(default)]
    eugene_false: Vec<String>,
    #[serde(default)]
    note: String,
}

/// Our rule for each of eugene's trace hints (E3 is advice on a column type, not a lock).
fn eugene_rule(hint: &str) -> Option<&'static str> {
    Some(match hint {
        "E1" => "constraint-validated-in-place",
        "E2" => "set-not-null-scan",
        "E4" => "exclusive-lock-held",
        "E5" | "E10" | "E11" => "table-rewrite",
        "E6" | "E7" | "E8" => "index-without-concurrently",
        "E9" => "lock-timeout-missing",
        "E15" => "foreign-key-without-index",
        _ => return None,
    })
}

/// Our rule for each of squawk's that is about a lock or a rewrite; the others (naming,
/// robustness, types) are not something a measurement can confirm or disprove.
fn squawk_rule(rule: &str) -> Option<&'static str> {
    Some(match rule {
        "changing-column-type"
        | "adding-field-with-default"
        | "adding-serial-primary-key-field" => "table-rewrite",
        "require-concurrent-index-creation" | "disallowed-unique-constraint" => {
            "index-without-concurrently"
        }
        "constraint-missing-not-valid" | "adding-foreign-key-constraint" => {
            "constraint-validated-in-place"
        }
        "adding-not-nullable-field" => "set-not-null-scan",
        "require-timeout-settings" | "require-lock-timeout" => "lock-timeout-missing",
        _ => return None,
    })
}

fn tool(variable: &str, cached: &str) -> Option<PathBuf> {
    let required = std::env::var("MIGRATION_CHECK_TEST_LOCK_TOOLS").as_deref() == Ok("required");
    let path = std::env::var_os(variable).map(PathBuf::from).or_else(|| {
        let home = std::env::var_os("HOME")?;
        Some(
            PathBuf::from(home)
                .join(".cache/migration-check")
                .join(cached),
        )
    });
    match path.filter(|p| p.is_file()) {
        Some(path) => Some(path),
        None if required => panic!("{variable} is required and not found"),
        None => {
            eprintln!("{variable} not found: its column is skipped");
            None
        }
    }
}

/// A sqlx directory: the setup, then the case.
fn case_dir(setup: &str, case: &Case) -> tempfile::TempDir {
    common::migrations_dir(&[("1_setup.up.sql", setup), ("2_case.up.sql", &case.sql)])
}

/// The rules migration-check finds in the case's migration.
fn ours(dir: &Path) -> BTreeSet<String> {
    let (output, report) = common::verify(dir, &["--irreversible", "warning"]);
    let report = report.unwrap_or_else(|| panic!("no report: {}", common::stderr(&output)));
    assert_eq!(
        report["migrations"][1]["status"],
        "irreversible",
        "the case must apply: {}",
        common::stderr(&output)
    );
    report["migrations"][1]["locks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

/// eugene's trace hints on the case (after the setup), on a database of its own.
fn eugene(
    eugene: &Path,
    server: &migration_check::postgres::embedded::EmbeddedServer,
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    index: usize,
) -> BTreeSet<String> {
    let files = [dir.join("1_setup.up.sql"), dir.join("2_case.up.sql")];
    eugene_trace(
        eugene,
        server,
        runtime,
        &files,
        1,
        &format!("eugene_{index}"),
    )
    .into_iter()
    .collect()
}

/// eugene's trace hints on `files` run in order on a new database `database`, counting
/// those of the files from index `counted_from` on (one entry per statement and hint).
fn eugene_trace(
    eugene: &Path,
    server: &migration_check::postgres::embedded::EmbeddedServer,
    runtime: &tokio::runtime::Runtime,
    files: &[PathBuf],
    counted_from: usize,
    database: &str,
) -> Vec<String> {
    runtime.block_on(async {
        let client = common::connect(server.config("postgres")).await;
        client
            .batch_execute(&format!("CREATE DATABASE {database}"))
            .await
            .unwrap();
    });
    let config = server.config(database);
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
    };
    let output = Command::new(eugene)
        .args([
            "trace",
            "--disable-temporary",
            "--commit",
            "--accept-failures",
        ])
        .args([
            "--format", "json", "-H", &host, "-d", database, "-U", "postgres",
        ])
        .args(["-p", &config.get_ports()[0].to_string()])
        .args(files)
        .env_clear()
        .env("PGPASS", "unused")
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("run eugene");
    let text = String::from_utf8_lossy(&output.stdout);
    let counted: Vec<String> = files[counted_from..]
        .iter()
        .map(|file| file.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut hints = Vec::new();
    for script in serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>() {
        let script = script.unwrap_or_else(|e| {
            panic!(
                "eugene's output: {e}\n{text}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        if script["name"]
            .as_str()
            .is_some_and(|n| counted.iter().any(|file| n.ends_with(file.as_str())))
        {
            for statement in script["statements"].as_array().into_iter().flatten() {
                for rule in statement["triggered_rules"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    hints.push(rule["id"].as_str().unwrap().to_string());
                }
            }
        }
    }
    hints
}

/// squawk's rules on the case's file.
fn squawk(squawk: &Path, dir: &Path) -> BTreeSet<String> {
    squawk_findings(squawk, &dir.join("2_case.up.sql"))
        .into_iter()
        .collect()
}

/// squawk's findings on `file`, one entry each.
fn squawk_findings(squawk: &Path, file: &Path) -> Vec<String> {
    let output = Command::new(squawk)
        .args(["--reporter", "json"])
        .arg(file)
        .env_clear()
        .output()
        .expect("run squawk");
    let findings: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "squawk's output: {e}: {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    findings
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| f["rule_name"].as_str().unwrap().to_string())
        .collect()
}

fn list(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "–".into()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

#[test]
fn ours_eugene_and_squawk_side_by_side_on_the_lock_corpus() {
    let corpus: Corpus = toml::from_str(
        &std::fs::read_to_string(common::root().join("tests/fixtures/locks/corpus.toml")).unwrap(),
    )
    .unwrap();
    let statements: usize = corpus
        .case
        .iter()
        .map(|c| {
            migration_check::migrations::lexer::split_statements(&c.sql)
                .iter()
                .filter(|s| !s.is_empty())
                .count()
        })
        .sum();
    assert!(statements >= 40, "the corpus has {statements} statements");
    let eugene_path = tool("MIGRATION_CHECK_EUGENE", "cargo-tools/bin/eugene");
    let squawk_path = tool("MIGRATION_CHECK_SQUAWK", "python-tools/bin/squawk");
    let cluster = eugene_path.as_ref().map(|_| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let server = runtime
            .block_on(migration_check::postgres::embedded::EmbeddedServer::start(
                &Default::default(),
            ))
            .expect("embedded cluster for eugene");
        (runtime, server)
    });

    let mut table = String::from(
        "| case | migration-check (measured) | eugene trace | squawk |\n| --- | --- | --- | --- |\n",
    );
    let mut mismatches = Vec::new();
    let (mut eugene_agree, mut eugene_false, mut squawk_disproved, mut squawk_confirmed) =
        (0, 0, 0, 0);
    for (index, case) in corpus.case.iter().enumerate() {
        let dir = case_dir(&corpus.setup, case);
        let found = ours(dir.path());
        let expected: BTreeSet<String> = case.ours.iter().cloned().collect();
        if found != expected {
            mismatches.push(format!(
                "{}: found {} expected {}",
                case.name,
                list(&found),
                list(&expected)
            ));
        }
        let eugene_hints = match (&eugene_path, &cluster) {
            (Some(path), Some((runtime, server))) => {
                let hints = eugene(path, server, runtime, dir.path(), index);
                for hint in &hints {
                    let Some(rule) = eugene_rule(hint) else {
                        continue;
                    };
                    if case.eugene_false.contains(hint) {
                        assert!(
                            !case.note.is_empty(),
                            "{}: say why {hint} is false",
                            case.name
                        );
                        eugene_false += 1;
                    } else if found.contains(rule) {
                        eugene_agree += 1;
                    } else {
                        mismatches.push(format!(
                            "{}: eugene's {hint} ({rule}) is not among ours ({})",
                            case.name,
                            list(&found)
                        ));
                    }
                }
                list(&hints)
            }
            _ => "(not run)".into(),
        };
        let squawk_rules = match &squawk_path {
            Some(path) => {
                let rules = squawk(path, dir.path());
                let mut shown: Vec<String> = Vec::new();
                for rule in &rules {
                    match squawk_rule(rule) {
                        Some(ours) if found.contains(ours) => {
                            squawk_confirmed += 1;
                            shown.push(rule.clone());
                        }
                        Some(_) => {
                            squawk_disproved += 1;
                            shown.push(format!("~~{rule}~~"));
                        }
                        None => {}
                    }
                }
                if shown.is_empty() {
                    "–".into()
                } else {
                    shown.join(", ")
                }
            }
            None => "(not run)".into(),
        };
        let trap = if case.trap { " (trap)" } else { "" };
        table.push_str(&format!(
            "| {}{trap} | {} | {} | {} |\n",
            case.name,
            list(&found),
            eugene_hints,
            squawk_rules
        ));
    }
    println!(
        "{} cases, {statements} statements. eugene: {eugene_agree} hints confirmed by ours, \
         {eugene_false} shown false by a case. squawk (lock and rewrite rules only, ~~struck~~ \
         where the measurement disproves them): {squawk_confirmed} confirmed, \
         {squawk_disproved} disproved.\n\n{table}",
        corpus.case.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    if squawk_path.is_some() {
        assert!(
            squawk_disproved > 0,
            "the traps are where squawk guesses from the text"
        );
    }
}

#[derive(Deserialize)]
struct SafeCorpus {
    setup: String,
    case: Vec<SafeCase>,
}

#[derive(Deserialize)]
struct SafeCase {
    name: String,
    migrations: Vec<String>,
}

/// Issue #26: the documented safe forms of strong_migrations and squawk, each behind a
/// `lock_timeout` (`tests/fixtures/locks/safe.toml`), on tables with rows: migration-check
/// finds nothing, in any rule. eugene's and squawk's findings on the same files are counted
/// and printed beside ours (`--no-capture`).
#[test]
fn textbook_safe_migrations_have_no_lock_findings() {
    let corpus: SafeCorpus = toml::from_str(
        &std::fs::read_to_string(common::root().join("tests/fixtures/locks/safe.toml")).unwrap(),
    )
    .unwrap();
    assert!(corpus.case.len() >= 13, "{} cases", corpus.case.len());
    let eugene_path = tool("MIGRATION_CHECK_EUGENE", "cargo-tools/bin/eugene");
    let squawk_path = tool("MIGRATION_CHECK_SQUAWK", "python-tools/bin/squawk");
    let cluster = eugene_path.as_ref().map(|_| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let server = runtime
            .block_on(migration_check::postgres::embedded::EmbeddedServer::start(
                &Default::default(),
            ))
            .expect("embedded cluster for eugene");
        (runtime, server)
    });
    let (mut ours_total, mut eugene_total, mut squawk_total, mut squawk_locks) = (0, 0, 0, 0);
    let mut table = String::from(
        "| safe case | migration-check | eugene trace | squawk |\n| --- | --- | --- | --- |\n",
    );
    let mut found_any = Vec::new();
    for (index, case) in corpus.case.iter().enumerate() {
        let mut files: Vec<(String, &str)> = vec![("1_setup.up.sql".into(), corpus.setup.as_str())];
        for (step, sql) in case.migrations.iter().enumerate() {
            files.push((format!("{}_step.up.sql", step + 2), sql.as_str()));
        }
        let named: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        let dir = common::migrations_dir(&named);
        let (output, report) = common::verify(
            dir.path(),
            &["--irreversible", "warning", "--format", "sqlx"],
        );
        let report = report.unwrap_or_else(|| panic!("no report: {}", common::stderr(&output)));
        let mut ours = Vec::new();
        for migration in &report["migrations"].as_array().unwrap()[1..] {
            assert_eq!(
                migration["status"], "irreversible",
                "{}: every step must apply: {report:#}",
                case.name
            );
            for finding in migration["locks"].as_array().into_iter().flatten() {
                ours.push(format!(
                    "{}: {}",
                    finding["rule"].as_str().unwrap(),
                    finding["evidence"]
                ));
            }
        }
        ours_total += ours.len();
        if !ours.is_empty() {
            found_any.push(format!("{}: {}", case.name, ours.join("; ")));
        }
        let paths: Vec<PathBuf> = files
            .iter()
            .map(|(name, _)| dir.path().join(name))
            .collect();
        let eugene_hints = match (&eugene_path, &cluster) {
            (Some(path), Some((runtime, server))) => {
                let hints =
                    eugene_trace(path, server, runtime, &paths, 1, &format!("safe_{index}"));
                eugene_total += hints.len();
                hints.join(", ")
            }
            _ => "(not run)".into(),
        };
        let squawk_rules = match &squawk_path {
            Some(path) => {
                let rules: Vec<String> = paths[1..]
                    .iter()
                    .flat_map(|file| squawk_findings(path, file))
                    .collect();
                squawk_total += rules.len();
                squawk_locks += rules.iter().filter(|r| squawk_rule(r).is_some()).count();
                rules.join(", ")
            }
            None => "(not run)".into(),
        };
        table.push_str(&format!(
            "| {} | {} | {eugene_hints} | {squawk_rules} |\n",
            case.name,
            ours.len()
        ));
    }
    println!(
        "{} textbook-safe cases: migration-check {ours_total} finding(s), eugene {eugene_total} \
         hint(s), squawk {squawk_total} finding(s) ({squawk_locks} of them about locks or \
         rewrites).\n\n{table}",
        corpus.case.len()
    );
    assert!(
        found_any.is_empty(),
        "findings on safe migrations:\n{}",
        found_any.join("\n")
    );
}
