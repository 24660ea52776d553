//! Running a plan on a live database: under the tool's advisory lock (so two runners, or
//! migration-check and the tool, never apply the same migration twice), one migration at a
//! time under its format's transaction rule, each booked in the history table inside its
//! own transaction. A failure stops the run, rolled back, with the file and line.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::error::EnvironmentError;
use crate::migrations::Migration;
use crate::migrations::bookkeeping::Book;
use crate::postgres::script::{self, ScriptFailure};
use crate::postgres::{Session, Timeouts};

/// Which way a plan goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
    /// Down then up again (`migrate redo`); a plan runs down or up, never this.
    Redo,
}

/// One migration run.
#[derive(Debug, Clone)]
pub struct Ran {
    pub version: String,
    pub name: String,
    pub elapsed: Duration,
}

/// What a run did: the migrations that ran, and the failure that stopped it, if any.
#[derive(Debug)]
pub struct Outcome {
    pub ran: Vec<Ran>,
    pub failed: Option<(String, ScriptFailure)>,
}

/// Takes the advisory lock `key`, waiting up to `wait`; on timeout, an error naming who
/// holds it (pid, application_name, since when).
pub async fn lock(client: &Client, key: i64, wait: Duration) -> Result<(), EnvironmentError> {
    let started = Instant::now();
    loop {
        let taken: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .await
            .map_err(|e| environment("cannot take the advisory lock", &e))?
            .get(0);
        if taken {
            return Ok(());
        }
        if started.elapsed() >= wait {
            let holder = client
                .query_opt(
                    "SELECT a.pid, coalesce(nullif(a.application_name, ''), 'unnamed'),
                            coalesce(a.backend_start::text, '?'), coalesce(a.usename::text, '?')
                     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                     WHERE l.locktype = 'advisory' AND l.granted
                       AND l.classid = (($1::bigint >> 32) & 4294967295)::oid
                       AND l.objid = ($1::bigint & 4294967295)::oid AND l.objsubid = 1
                     LIMIT 1",
                    &[&key],
                )
                .await
                .ok()
                .flatten()
                .map(|row| {
                    format!(
                        "pid {} ({}, user {}, connected since {})",
                        row.get::<_, i32>(0),
                        row.get::<_, String>(1),
                        row.get::<_, String>(3),
                        row.get::<_, String>(2)
                    )
                })
                .unwrap_or_else(|| "another session".to_string());
            return Err(EnvironmentError::new(format!(
                "another migration run holds the lock after {}: {holder}; wait for it or raise \
                 --lock-wait",
                humantime::format_duration(wait)
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How a plan runs.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    pub direction: Direction,
    pub timeouts: Timeouts,
    /// Inside a transaction the caller holds (a rehearsal it rolls back): each migration's
    /// own transaction becomes a savepoint.
    pub nested: bool,
    /// A second history booked with the tool's, in the same transaction: ours, keeping
    /// checksums beside a tool that records none (`--record-checksums`).
    pub shadow: Option<Book>,
}

/// Runs `plan` (indexes into `migrations`) as `mode` says, booking each in `book`.
/// `progress` hears of each migration before and after it runs.
pub async fn run(
    session: &Session,
    book: Book,
    migrations: &[Migration],
    plan: &[usize],
    mode: Mode,
    progress: &mut dyn FnMut(&str),
) -> Result<Outcome, EnvironmentError> {
    let Mode {
        direction,
        timeouts,
        nested,
        shadow,
    } = mode;
    // The lock stays with `session`; a script that changed what new sessions start with
    // (`ALTER DATABASE … SET`) is followed by one, as the tool, run later or in a new
    // process, would give the next migration (not inside one transaction for all).
    let mut renewed: Option<Session> = None;
    let mut ran = Vec::new();
    for &index in plan {
        let session = renewed.as_ref().unwrap_or(session);
        let client = &session.client;
        let migration = &migrations[index];
        let up = match direction {
            Direction::Up => true,
            Direction::Down => false,
            Direction::Redo => unreachable!("redo runs a down plan, then an up plan"),
        };
        let script = if up {
            &migration.up
        } else {
            migration
                .down
                .as_ref()
                .expect("plans revert only migrations with a down")
        };
        progress(&format!(
            "{} {} {} …",
            if up { "applying" } else { "reverting" },
            migration.version,
            migration.name
        ));
        let outcome = match &script.step {
            // Written as code: the team's tool runs it and books it in its own history.
            Some(step) => {
                let run = crate::postgres::process::run_step(
                    client,
                    step,
                    session.config(),
                    session.tls().mode(),
                    timeouts.command,
                )
                .await;
                if let (Ok(run), Some(shadow)) = (&run, shadow) {
                    client
                        .batch_execute(&shadow.record_sql(migrations, index, up))
                        .await
                        .map_err(|e| environment("cannot record the checksum", &e))?;
                    shadow
                        .finish(client, migration, up, run.elapsed)
                        .await
                        .map_err(|e| environment("cannot record the execution time", &e))?;
                }
                run
            }
            None => {
                if let Some(before) = book.before_sql(migrations, index, up) {
                    client
                        .batch_execute(&before)
                        .await
                        .map_err(|e| environment("cannot mark the migration as started", &e))?;
                }
                let mut record = book.record_sql(migrations, index, up);
                if let Some(shadow) = shadow {
                    record.push('\n');
                    record.push_str(&shadow.record_sql(migrations, index, up));
                }
                let run = if nested {
                    script::run_script_nested(session, script, timeouts, Some(&record)).await
                } else {
                    script::run_script_recorded(session, script, timeouts, Some(&record)).await
                };
                if let Ok(run) = &run {
                    for book in std::iter::once(book).chain(shadow) {
                        book.finish(client, migration, up, run.elapsed)
                            .await
                            .map_err(|e| environment("cannot record the execution time", &e))?;
                    }
                }
                run
            }
        };
        match outcome {
            Ok(run) => {
                if run.session_defaults_changed && !nested {
                    renewed = Some(session.reopen().await.map_err(|e| {
                        environment(
                            "cannot open a new session after a script that changed its defaults",
                            &e,
                        )
                    })?);
                }
                progress(&format!(
                    "{} {} {} ({} ms)",
                    if up { "applied" } else { "reverted" },
                    migration.version,
                    migration.name,
                    run.elapsed.as_millis()
                ));
                ran.push(Ran {
                    version: migration.version.text.clone(),
                    name: migration.name.clone(),
                    elapsed: run.elapsed,
                });
            }
            Err(failure) => {
                return Ok(Outcome {
                    ran,
                    failed: Some((format!("{} {}", migration.version, migration.name), failure)),
                });
            }
        }
    }
    Ok(Outcome { ran, failed: None })
}

fn environment(what: &str, error: &tokio_postgres::Error) -> EnvironmentError {
    EnvironmentError::new(format!(
        "{what}: {}",
        crate::postgres::describe_error(error)
    ))
}
