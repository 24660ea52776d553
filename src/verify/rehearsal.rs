//! The lock rehearsal: the migrations under verification measured on tables holding rows
//! (`--lock-rows N`, see [`analysis`]) without the rows touching any verdict.
//!
//! The verdicts come from the verified database, whose tables hold only what the
//! migrations put there. Filling it would change what they judge: an `ADD COLUMN … NOT
//! NULL` without a default fails on a table with rows, a data migration's down no longer
//! restores the data fingerprints, a new unique index may meet duplicates. So the
//! measurement runs in a copy instead: before the first migration under verification the
//! database is kept as a checkpoint and copied beside the verified one. After the verified
//! walk of each migration under verification, the copy catches up with the migrations
//! applied since, fills every table it has not seen yet with generated rows, and runs the
//! migration's up, its down and its up again, the up and the down measured statement by
//! statement.
//!
//! When the copy cannot follow (its up fails on the generated rows, say), that is noted
//! on the migration, and later migrations are measured in the verified run, on its tables.
//! Where no faithful copy exists (a migration sets something per database) or the
//! migrations run through their tool, everything is measured there, and a note says so.

use std::collections::{BTreeSet, HashMap};

use super::Pipeline;
use crate::analysis::{self, observe::Observer, rows};
use crate::error::EnvironmentError;
use crate::migrations::Script;
use crate::postgres::Session;
use crate::postgres::script::{self, FailureKind, ScriptFailure};
use crate::report::MigrationReport;

/// The copy the lock analysis measures in, and how far it has followed.
pub(super) struct Rehearsal {
    session: Session,
    /// How many migrations (from the first) its database has applied.
    applied: usize,
    /// The tables considered for rows so far (filled or not): never filled twice.
    seen: BTreeSet<u32>,
    /// The rows generated into each table filled.
    rows: HashMap<u32, u64>,
    /// The fill's catalog query, prepared on `session` (`None` after it was re-opened).
    filler: Option<rows::Filler>,
}

/// Whether the rehearsal can go on after a step (`Err`: why it cannot, for a note).
type Going = Result<(), String>;

/// How to measure a script in the copy.
struct Measure<'a> {
    /// The up or the down.
    which: analysis::Script,
    /// For a down, the observer of its up: the down is measured on the relations that
    /// existed before the up, from the state the up left (see [`Observer::for_down`]).
    after_up: Option<Observer>,
    /// Where to keep the observer afterwards.
    kept: &'a mut Option<Observer>,
    /// The report taking the findings.
    report: &'a mut MigrationReport,
}

impl Pipeline<'_, '_, '_> {
    /// Before the first migration under verification (`index`): starts the rehearsal when
    /// the lock analysis fills tables (`--lock-rows` above 0) and a copy of the database
    /// would be faithful; notes why the tables stay empty otherwise.
    pub(super) async fn start_rehearsal(&mut self, index: usize) -> Result<(), EnvironmentError> {
        self.rehearsal_tried = true;
        let started = std::time::Instant::now();
        let result = self.start_rehearsal_at(index).await;
        self.timings.lock_rehearsal += super::millis(started.elapsed());
        result
    }

    async fn start_rehearsal_at(&mut self, index: usize) -> Result<(), EnvironmentError> {
        if !self.options.lock_analysis || self.options.lock_rows == 0 || self.blocked_by.is_some() {
            return Ok(());
        }
        let reason = if !self.copies_are_faithful {
            Some(
                "a migration sets something per database (ALTER DATABASE … SET), which a copy of the database would not have",
            )
        } else if self.migrations[index..]
            .iter()
            .flat_map(|m| [Some(&m.up), m.down.as_ref()])
            .flatten()
            .any(|script| script.step.is_some())
        {
            Some("the migrations run through their tool, whose statements are not measured")
        } else {
            None
        };
        if let Some(reason) = reason {
            self.run_notes.push(format!(
                "lock analysis measured on the tables as the migrations leave them, without generated rows: {reason}"
            ));
            return Ok(());
        }
        if self.needs_rebuild {
            // The database is not "every up before this one" now: reach it first.
            if let Err(reason) = self.rebuild(index).await? {
                self.run_notes
                    .push(format!("lock analysis without generated rows: {reason}"));
                return Ok(());
            }
        }
        let Some(checkpoint) = self.checkpoint_at(index).await? else {
            return Ok(());
        };
        let session = self.databases.side_copy(&checkpoint).await?;
        self.rehearsal = Some(Rehearsal {
            session,
            applied: index,
            seen: BTreeSet::new(),
            rows: HashMap::new(),
            filler: None,
        });
        Ok(())
    }

    /// After the verified walk of migration `index` (under verification): its up and down
    /// measured in the rehearsal's copy, their findings added to `report`. A copy that
    /// cannot follow is noted on `report` and given up.
    pub(super) async fn rehearse(
        &mut self,
        index: usize,
        report: &mut MigrationReport,
    ) -> Result<(), EnvironmentError> {
        let Some(mut rehearsal) = self.rehearsal.take() else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        let going = self.rehearse_in(&mut rehearsal, index, report).await;
        self.timings.lock_rehearsal += super::millis(started.elapsed());
        match going? {
            Ok(()) => self.rehearsal = Some(rehearsal),
            Err(reason) => report.notes.push(format!(
                "lock analysis: {reason}; later migrations are measured without generated rows"
            )),
        }
        // A migration that ends other sessions ended ours in the verified database too:
        // what it does was reported when it ran there, so they are re-opened quietly.
        self.reconnect_quietly().await
    }

    async fn rehearse_in(
        &mut self,
        rehearsal: &mut Rehearsal,
        index: usize,
        report: &mut MigrationReport,
    ) -> Result<Going, EnvironmentError> {
        if !rehearsal.session.answers().await {
            match rehearsal.session.reopen().await {
                Ok(session) => {
                    rehearsal.session = session;
                    rehearsal.filler = None;
                }
                Err(_) => return Ok(Err("the copy it measures in accepts no connection".into())),
            }
        }
        let migrations = self.migrations;
        for migration in &migrations[rehearsal.applied..index] {
            if let Err(reason) = self.rehearsal_step(rehearsal, &migration.up, None).await? {
                return Ok(Err(reason));
            }
        }
        rehearsal.applied = index;
        let migration = &migrations[index];
        // Only the tables its scripts can reach: rows elsewhere would change no finding.
        let scripts: Vec<&str> = [Some(&migration.up), migration.down.as_ref()]
            .into_iter()
            .flatten()
            .map(|script| script.sql.as_str())
            .collect();
        let client = &rehearsal.session.client;
        let filled = match &rehearsal.filler {
            Some(filler) => Ok(filler),
            None => rows::Filler::prepare(client)
                .await
                .map(|filler| &*rehearsal.filler.insert(filler)),
        };
        let filled = match filled {
            Ok(filler) => {
                filler
                    .fill(
                        client,
                        self.options.lock_rows,
                        &rehearsal.seen,
                        &self.bookkeeping,
                        Some(&scripts),
                    )
                    .await
            }
            Err(error) => Err(error),
        };
        let filled = match filled {
            Ok(filled) => filled,
            Err(error) => {
                return Ok(Err(format!(
                    "the copy it measures in could not be filled: {}",
                    crate::postgres::describe_error(&error)
                )));
            }
        };
        rehearsal.seen.extend(&filled.seen);
        self.filled_tables += filled.tables.len();
        rehearsal.rows.extend(filled.tables.iter().copied());
        for (table, reason) in filled.unfilled {
            self.run_notes.push(format!(
                "lock analysis: {table} holds no generated rows ({reason})"
            ));
        }

        let mut up_observer = None;
        let up = self
            .rehearsal_step(
                rehearsal,
                &migration.up,
                Some(Measure {
                    which: analysis::Script::Up,
                    after_up: None,
                    kept: &mut up_observer,
                    report: &mut *report,
                }),
            )
            .await?;
        if let Err(reason) = up {
            return Ok(Err(reason));
        }
        let down = migration
            .down
            .as_ref()
            .filter(|_| !migration.version.is_repeatable());
        if let Some(down) = down {
            let measured = self
                .rehearsal_step(
                    rehearsal,
                    down,
                    Some(Measure {
                        which: analysis::Script::Down,
                        after_up: up_observer.take(),
                        kept: &mut None,
                        report: &mut *report,
                    }),
                )
                .await?;
            if let Err(reason) = measured {
                return Ok(Err(reason));
            }
            if let Err(reason) = self.rehearsal_step(rehearsal, &migration.up, None).await? {
                return Ok(Err(reason));
            }
        }
        rehearsal.applied = index + 1;
        Ok(Ok(()))
    }

    /// Runs `script` in the rehearsal's copy; with `measure`, each statement is measured. Err (the environment failed) when the server
    /// went away; `Ok(Err(why))` when the script failed in the copy.
    async fn rehearsal_step(
        &mut self,
        rehearsal: &mut Rehearsal,
        script: &Script,
        measure: Option<Measure<'_>>,
    ) -> Result<Going, EnvironmentError> {
        let client = &rehearsal.session;
        let timeouts = self.options.timeouts;
        let (outcome, findings) = match measure {
            None => (script::run_script(client, script, timeouts).await, None),
            Some(Measure {
                which,
                after_up,
                kept,
                report,
            }) => {
                let observer = match after_up {
                    Some(up) => {
                        let within = up.relation_oids();
                        match up.for_down(&client.client, script).await {
                            Ok(Some(down)) => Ok(down),
                            Ok(None) => {
                                Observer::start(&client.client, Some(&within), script).await
                            }
                            Err(error) => Err(error),
                        }
                    }
                    None => Observer::start(&client.client, None, script).await,
                };
                let Ok(observer) = observer else {
                    return Ok(Err("the copy it measures in stopped answering".into()));
                };
                let mut observer = observer.with_rows(&rehearsal.rows);
                let outcome =
                    script::run_script_observed(client, script, timeouts, &mut observer).await;
                if outcome.is_ok() {
                    let _ = observer.conclude(&client.client).await;
                }
                self.add_lock_findings(report, observer.findings(script, which), which);
                // Its prepared statements live on this connection, which a script that
                // changed the session defaults replaces: the down then starts afresh.
                if !outcome
                    .as_ref()
                    .is_ok_and(|run| run.session_defaults_changed)
                {
                    *kept = Some(observer);
                }
                (outcome, Some(()))
            }
        };
        match outcome {
            Ok(run) if run.session_defaults_changed => match rehearsal.session.renew().await {
                Ok(()) => {
                    rehearsal.filler = None;
                    Ok(Ok(()))
                }
                Err(_) => Ok(Err(
                    "the copy it measures in accepts no new connection".into()
                )),
            },
            Ok(_) => Ok(Ok(())),
            Err(failure) => {
                if failure.kind == FailureKind::ConnectionLost {
                    self.server_alive(&script.path, &failure.message).await?;
                }
                Ok(Err(rehearsal_failure(script, &failure, findings.is_some())))
            }
        }
    }

    /// Re-opens our connections to the verified database if they stopped answering, with no
    /// warning (see [`Self::rehearse`]).
    async fn reconnect_quietly(&mut self) -> Result<(), EnvironmentError> {
        let session_answers = self.session.answers().await;
        let snapshot_answers = match &self.snapshot_session {
            Some(second) => second.answers().await,
            None => true,
        };
        if session_answers && snapshot_answers {
            return Ok(());
        }
        let reported = self.terminated.len();
        self.recover_connections().await?;
        // What it re-opened is not ours to report here.
        self.terminated.truncate(reported);
        Ok(())
    }
}

/// Why the rehearsal stopped at `script`: its failure, with where, and whether the
/// statements after it went unmeasured.
fn rehearsal_failure(script: &Script, failure: &ScriptFailure, measured: bool) -> String {
    let at = failure.location.as_ref().map_or_else(
        || script.path.display().to_string(),
        |l| format!("{}:{}", l.path.display(), l.line),
    );
    let first_line = failure.message.lines().next().unwrap_or_default();
    if measured {
        format!(
            "in its copy of the database, with generated rows in the tables, {at} failed ({first_line}): the statements after it were not measured"
        )
    } else {
        format!("its copy of the database could not apply {at} ({first_line})")
    }
}
