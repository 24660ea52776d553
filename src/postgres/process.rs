//! Runs one step of a team's own migration tool (knex, node-pg-migrate, anything configured
//! in `[command]`) against the throwaway database, and proves from the tool's own history
//! table what the step did. Migrations in a pull request are untrusted code, and so is the
//! tool: it runs as an argument vector (never through a shell) in a cleared environment
//! holding only `PATH`, `HOME`, the locale, the names the configuration lists and the
//! throwaway database's address (`DATABASE_URL`, `PG*`); our tokens never reach it. It runs in
//! its own process group, which a timeout kills whole. Its exit status is not trusted to say
//! what ran (both knex and node-pg-migrate exit 0 when nothing was pending): the history must
//! have gained (up) or lost (down) exactly the expected migration's row.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config};

use super::quote_ident;
use super::script::{FailureKind, ScriptFailure, ScriptRun};
use super::tls::SslMode;
use crate::migrations::command::{CommandStep, Direction};

/// How many lines of the tool's output a failure shows.
const OUTPUT_LINES: usize = 40;

/// Our environment variables every command sees, besides those a configuration lists.
/// The certificate paths are libpq's own variables: where the user keeps them for a
/// server that asks for TLS, not secrets.
const INHERITED: [&str; 8] = [
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "PGSSLROOTCERT",
    "PGSSLCERT",
    "PGSSLKEY",
];

/// Variables that hold credentials of ours: never passed, even when listed.
fn is_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "ACTIONS_RUNTIME_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    ]
    .contains(&upper.as_str())
        || upper.starts_with("INPUT_")
}

/// The environment of a command: the inherited and listed variables of ours that are set,
/// and the database's address (with its `sslmode`, for a server reached over TLS).
pub fn environment(
    step: &CommandStep,
    database: &Config,
    sslmode: Option<SslMode>,
) -> Vec<(String, String)> {
    let mut env = inherited_environment(&step.pass_env);
    env.extend(database_env(database, sslmode));
    env
}

/// Our variables a program we run may see: the locale, `PATH`, `HOME`, `TZ`, libpq's
/// certificate paths and those `listed`, never a credential of ours.
pub(crate) fn inherited_environment(listed: &[String]) -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(name, _)| {
            (INHERITED.contains(&name.as_str())
                || name.starts_with("LC_")
                || listed.iter().any(|listed| listed == name))
                && !is_secret(name)
        })
        .collect()
}

/// `DATABASE_URL` and the libpq variables for `database`. An `sslmode` that demands
/// something (`disable`, `require`, `verify-*`) is passed on; `prefer` and `allow` are
/// not: node-postgres reads `prefer` as `require`, and a tool's own default already
/// tries what the server offers.
pub(crate) fn database_env(database: &Config, sslmode: Option<SslMode>) -> Vec<(String, String)> {
    let sslmode = sslmode.filter(|mode| !matches!(mode, SslMode::Prefer | SslMode::Allow));
    let user = database.get_user().unwrap_or("postgres").to_string();
    let port = database.get_ports().first().copied().unwrap_or(5432);
    let name = database.get_dbname().unwrap_or("postgres").to_string();
    let password = database
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let host = match database.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_string(),
    };
    let credentials = match &password {
        Some(password) => format!("{}:{}", encode(&user), encode(password)),
        None => encode(&user),
    };
    let mut url = if host.starts_with('/') {
        format!(
            "postgresql://{credentials}@localhost:{port}/{}?host={}",
            encode(&name),
            encode(&host)
        )
    } else {
        format!("postgresql://{credentials}@{host}:{port}/{}", encode(&name))
    };
    if let Some(mode) = sslmode {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("sslmode={}", mode.as_str()));
    }
    let mut env = vec![
        ("DATABASE_URL".to_string(), url),
        ("PGHOST".to_string(), host),
        ("PGPORT".to_string(), port.to_string()),
        ("PGUSER".to_string(), user),
        ("PGDATABASE".to_string(), name),
    ];
    if let Some(password) = password {
        env.push(("PGPASSWORD".to_string(), password));
    }
    if let Some(mode) = sslmode {
        env.push(("PGSSLMODE".to_string(), mode.as_str().to_string()));
    }
    env
}

/// Percent-encodes everything but unreserved URL characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The last lines a process printed on stdout and stderr, interleaved as they came.
#[derive(Default, Clone)]
struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    fn push(&self, line: String) {
        let mut lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == OUTPUT_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The lines, without terminal colour codes, with `secret` masked.
    fn text(&self, secret: Option<&str>) -> String {
        let lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut text = lines
            .iter()
            .map(|l| strip_ansi(l))
            .collect::<Vec<_>>()
            .join("\n");
        if let Some(secret) = secret.filter(|s| !s.is_empty()) {
            text = text.replace(secret, "****");
        }
        text
    }
}

/// Removes ANSI escape sequences (knex colours its output even without a terminal).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Copies a stream's lines into `tail`.
async fn collect(stream: impl AsyncRead + Unpin, tail: Tail) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tail.push(line);
    }
}

/// The rows of a history table as JSON texts; empty while the table does not exist.
async fn history(client: &Client, table: &str) -> Result<Vec<String>, tokio_postgres::Error> {
    // Quoted, so a name in capitals (Sequelize's `SequelizeMeta`) is that name.
    let quoted = table
        .split('.')
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(".");
    let exists: Option<String> = client
        .query_one("SELECT to_regclass($1)::text", &[&quoted])
        .await?
        .get(0);
    if exists.is_none() {
        return Ok(Vec::new());
    }
    let rows = client
        .query(&format!("SELECT to_jsonb(t)::text FROM {quoted} t"), &[])
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Rows of `a` not in `b`, counting duplicates.
fn minus(a: &[String], b: &[String]) -> Vec<String> {
    let mut rest: Vec<&String> = b.iter().collect();
    a.iter()
        .filter(|row| match rest.iter().position(|r| r == row) {
            Some(i) => {
                rest.swap_remove(i);
                false
            }
            None => true,
        })
        .cloned()
        .collect()
}

/// The migration a history row records, and which of `expected` it is: its first string
/// value naming one, else its `name` column, else the whole row.
fn recorded(row: &str, expected: &[Vec<String>]) -> (String, Option<usize>) {
    let value: serde_json::Value = serde_json::from_str(row).unwrap_or_default();
    let strings: Vec<&str> = value
        .as_object()
        .map(|o| o.values().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    for s in &strings {
        if let Some(i) = expected
            .iter()
            .position(|names| names.iter().any(|n| n == s))
        {
            return (s.to_string(), Some(i));
        }
    }
    let name = value["name"]
        .as_str()
        .map_or(row.to_string(), str::to_string);
    (name, None)
}

/// What the history says the step did, as an error message when it is not exactly the
/// expected migrations.
fn check_history(step: &CommandStep, before: &[String], after: &[String]) -> Result<(), String> {
    let (moved, other, verb) = match step.direction {
        Direction::Up => (minus(after, before), minus(before, after), "applied"),
        Direction::Down => (minus(before, after), minus(after, before), "reverted"),
    };
    let expected: Vec<&str> = step
        .expected
        .iter()
        .map(|names| names[0].as_str())
        .collect();
    let expected_text = expected.join(", ");
    let table = &step.bookkeeping[0];
    let found: Vec<(String, Option<usize>)> =
        moved.iter().map(|r| recorded(r, &step.expected)).collect();
    let mut hit: Vec<usize> = found.iter().filter_map(|(_, i)| *i).collect();
    hit.sort_unstable();
    hit.dedup();
    let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    // A history of one row (Alembic's `alembic_version`) holds the current version: a step
    // replaces it, and the new row must name the expected migration.
    let version_table = before.len() <= 1 && after.len() <= 1 && expected.len() == 1;
    if (other.is_empty() || version_table)
        && moved.len() == expected.len()
        && hit.len() == expected.len()
    {
        return Ok(());
    }
    Err(match (moved.len(), other.is_empty()) {
        (0, _) => format!(
            "`{}` exited 0 but {table} shows no migration {verb}: the tool did nothing for \
             {expected_text} (was it pending for the tool? does the tool use DATABASE_URL?)",
            step.display()
        ),
        (1, true) if expected.len() == 1 => format!(
            "`{}` {verb} {} according to {table}, not {expected_text}",
            step.display(),
            names[0]
        ),
        _ => format!(
            "`{}` changed {} rows of {table} ({}), where exactly {expected_text} should have \
             been {verb}",
            step.display(),
            moved.len() + other.len(),
            names.join(", ")
        ),
    })
}

/// The database a tool's output says does not exist (PostgreSQL's `database "x" does not
/// exist`), when it is not `ours`: the tool took its connection from its own configuration.
fn wrong_database(output: &str, ours: &str) -> Option<String> {
    const BEFORE: &str = "database \"";
    const AFTER: &str = "\" does not exist";
    output.match_indices(BEFORE).find_map(|(at, _)| {
        let rest = &output[at + BEFORE.len()..];
        let end = rest.find(AFTER)?;
        let name = &rest[..end];
        (!name.is_empty() && name != ours && !name.contains('\n')).then(|| name.to_string())
    })
}

/// What a program we ran did.
#[derive(Debug)]
pub struct Program {
    /// Its exit status (`None` when it was killed at the timeout).
    pub status: Option<std::process::ExitStatus>,
    pub timed_out: bool,
    /// Its last lines of output (stdout and stderr interleaved), colour codes removed, the
    /// secret masked.
    pub output: String,
}

/// Runs `argv` in `workdir` as an argument vector (never through a shell) in a cleared
/// environment holding only `env`, in its own process group, which is killed whole at
/// `timeout`. Err says why it could not start.
pub async fn run_program(
    argv: &[String],
    workdir: &std::path::Path,
    env: Vec<(String, String)>,
    timeout: Duration,
    secret: Option<&str>,
) -> Result<Program, String> {
    let mut command = tokio::process::Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(workdir)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start `{}` in {}: {e}", argv[0], workdir.display()))?;
    let tail = Tail::default();
    let readers = [
        child
            .stdout
            .take()
            .map(|s| tokio::spawn(collect(s, tail.clone()))),
        child
            .stderr
            .take()
            .map(|s| tokio::spawn(collect(s, tail.clone()))),
    ];
    let group = child.id();
    let waited = tokio::time::timeout(timeout, child.wait()).await;
    let timed_out = waited.is_err();
    // The whole group, also after a normal exit: a test runner's workers and a tool's
    // children go with it, and nothing the program started outlives it.
    if let Some(pid) = group {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let status = match waited {
        Ok(status) => status,
        Err(_) => child.wait().await,
    }
    .map_err(|e| format!("waiting for `{}` failed: {e}", argv[0]))?;
    for reader in readers.into_iter().flatten() {
        let _ = reader.await;
    }
    Ok(Program {
        status: (!timed_out).then_some(status),
        timed_out,
        output: tail.text(secret),
    })
}

/// Runs `step` against `database` (reached with `sslmode`, none for our own servers),
/// reading the history through `client` (connected to the same database) before and after.
pub async fn run_step(
    client: &Client,
    step: &CommandStep,
    database: &Config,
    sslmode: Option<SslMode>,
    timeout: Duration,
) -> Result<ScriptRun, ScriptFailure> {
    let started = Instant::now();
    let secret = database
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let failure = |kind: FailureKind, message: String| ScriptFailure {
        kind,
        message,
        location: None,
        elapsed: started.elapsed(),
        notes: Vec::new(),
    };
    let table = &step.bookkeeping[0];
    let history_error = |e: tokio_postgres::Error| {
        failure(
            FailureKind::ConnectionLost,
            format!("cannot read the tool's history table {table}: {e}"),
        )
    };
    let before = history(client, table).await.map_err(history_error)?;

    let program = run_program(
        &step.argv,
        &step.workdir,
        environment(step, database, sslmode),
        timeout,
        secret.as_deref(),
    )
    .await;
    let (status, timed_out, output) = match program {
        Ok(program) => (program.status, program.timed_out, program.output),
        Err(message) => return Err(failure(FailureKind::Command, message)),
    };
    let wrong_database = wrong_database(&output, database.get_dbname().unwrap_or_default())
        .map(|other| {
            format!(
                "; it connected to database `{other}`, not the throwaway database it was given{}",
                step.wrong_database_hint
                    .as_deref()
                    .map_or(String::new(), |hint| format!(": {hint}"))
            )
        })
        .unwrap_or_default();
    let with_output = |message: String| {
        if output.is_empty() {
            format!("{message}{wrong_database}")
        } else {
            format!("{message}{wrong_database}; its last output:\n{output}")
        }
    };
    if timed_out {
        return Err(failure(
            FailureKind::Timeout,
            with_output(format!(
                "`{}` did not finish within {} s (--command-timeout) and was killed",
                step.display(),
                timeout.as_secs()
            )),
        ));
    }
    if let Some(status) = status.filter(|status| !status.success()) {
        let code = status
            .code()
            .map_or_else(|| "a signal".to_string(), |c| format!("status {c}"));
        return Err(failure(
            FailureKind::Command,
            with_output(format!("`{}` exited with {code}", step.display())),
        ));
    }
    let after = history(client, table).await.map_err(history_error)?;
    check_history(step, &before, &after)
        .map_err(|message| failure(FailureKind::Command, with_output(message)))?;
    Ok(ScriptRun {
        elapsed: started.elapsed(),
        notes: vec![format!("run through its own tool: `{}`", step.display())],
        session_defaults_changed: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(direction: Direction) -> CommandStep {
        CommandStep {
            argv: vec!["knex".into(), "migrate:up".into()],
            workdir: ".".into(),
            pass_env: vec!["NODE_ENV".into(), "GITHUB_TOKEN".into()],
            bookkeeping: vec!["knex_migrations".into()],
            direction,
            expected: vec![vec!["2_b.js".into(), "2_b".into()]],
            up_to: None,
            wrong_database_hint: None,
        }
    }

    #[test]
    fn a_tool_connected_elsewhere_is_named() {
        let output = "error: database \"development\" does not exist\n";
        assert_eq!(wrong_database(output, "mc_1"), Some("development".into()));
        assert_eq!(
            wrong_database("database \"mc_1\" does not exist", "mc_1"),
            None
        );
        assert_eq!(wrong_database("all fine", "mc_1"), None);
    }

    #[test]
    fn the_history_must_move_by_exactly_the_expected_migration() {
        let rows = |names: &[&str]| -> Vec<String> {
            names
                .iter()
                .enumerate()
                .map(|(i, n)| format!(r#"{{"id": {i}, "name": "{n}"}}"#))
                .collect()
        };
        let check = |step: &CommandStep, before: &[&str], after: &[&str]| {
            check_history(step, &rows(before), &rows(after))
        };
        let up = step(Direction::Up);
        assert_eq!(check(&up, &["1_a.js"], &["1_a.js", "2_b.js"]), Ok(()));
        let none = check(&up, &["1_a.js"], &["1_a.js"]).unwrap_err();
        assert!(none.contains("no migration applied"), "{none}");
        let wrong = check(&up, &["1_a.js"], &["1_a.js", "3_c.js"]).unwrap_err();
        assert!(wrong.contains("applied 3_c.js"), "{wrong}");
        let two = check(&up, &["1_a.js"], &["1_a.js", "2_b.js", "3_c.js"]).unwrap_err();
        assert!(
            two.contains("changed 2 rows") && two.contains("2_b.js, 3_c.js"),
            "{two}"
        );
        let down = step(Direction::Down);
        assert_eq!(check(&down, &["1_a.js", "2_b.js"], &["1_a.js"]), Ok(()));
        // A one-row version table: the row is replaced by the expected migration's.
        assert_eq!(check(&up, &["1_a.js"], &["2_b.js"]), Ok(()));
        assert_eq!(check(&down, &["2_b.js"], &["1_a.js"]), Ok(()));
        assert!(check(&up, &["1_a.js"], &["3_c.js"]).is_err());
        assert!(check(&down, &["1_a.js", "2_b.js"], &["2_b.js"]).is_err());
    }

    #[test]
    fn the_environment_holds_the_database_and_nothing_secret() {
        let mut config = Config::new();
        config
            .host("db.example")
            .port(5433)
            .user("post gres")
            .password("p@ss")
            .dbname("mc_1");
        let env = database_env(&config, None);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("DATABASE_URL"),
            Some("postgresql://post%20gres:p%40ss@db.example:5433/mc_1")
        );
        assert_eq!(get("PGPASSWORD"), Some("p@ss"));
        assert_eq!(get("PGSSLMODE"), None);
        // A server reached over TLS: the tool is held to the same mode, `prefer` left to it.
        let env = database_env(&config, Some(SslMode::VerifyFull));
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("PGSSLMODE"), Some("verify-full"));
        assert!(
            get("DATABASE_URL")
                .unwrap()
                .ends_with("/mc_1?sslmode=verify-full")
        );
        let env = database_env(&config, Some(SslMode::Prefer));
        assert!(
            !env.iter()
                .any(|(n, v)| n == "PGSSLMODE" || v.contains("sslmode"))
        );
        let mut socket = Config::new();
        socket
            .host_path("/tmp/mc x")
            .port(5432)
            .user("postgres")
            .dbname("d");
        let env = database_env(&socket, None);
        assert_eq!(
            env[0].1,
            "postgresql://postgres@localhost:5432/d?host=%2Ftmp%2Fmc%20x"
        );
        assert!(
            is_secret("GITHUB_TOKEN") && is_secret("INPUT_GITHUB-TOKEN") && !is_secret("NODE_ENV")
        );
        let names: Vec<String> = environment(&step(Direction::Up), &config, None)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert!(!names.iter().any(|n| n == "GITHUB_TOKEN"), "{names:?}");
    }

    #[test]
    fn output_loses_colours_and_the_password() {
        let tail = Tail::default();
        tail.push("\u{1b}[31mfailed\u{1b}[39m for postgresql://u:s3cret@h/d".into());
        assert_eq!(
            tail.text(Some("s3cret")),
            "failed for postgresql://u:****@h/d"
        );
    }
}
