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

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::Pipeline;
use crate::analysis::estimate::{self, Sample};
use crate::analysis::{self, data, observe::Observer, rows, timing};
use crate::error::EnvironmentError;
use crate::migrations::Script;
use crate::migrations::lexer;
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
    /// Where its findings go.
    findings: &'a mut Vec<analysis::LockFinding>,
}

/// Why the rehearsal stopped at a script, and the failure when the script failed while
/// measured (the up or the down of the migration rehearsed).
struct Stopped {
    reason: String,
    failure: Option<(ScriptFailure, Script, analysis::Script)>,
}

/// How many times the statements are timed at each size (the least time is kept).
const REPEATS: usize = 3;

/// A script's statements timed at three sizes (see [`Pipeline::time_sizes`]).
struct Sizes {
    /// The tables grown, by the name findings give them: OID, production's rows and bytes.
    tables: HashMap<String, (u32, u64, u64)>,
    /// Per size: the rows each table held, and each statement's time.
    runs: Vec<(BTreeMap<u32, u64>, Vec<timing::Timed>)>,
    /// Why the timing stopped early, if it did.
    failed: Option<String>,
}

/// The filled tables (`$1`, OIDs) the words `$2` name: OID, name as findings give it,
/// schema and name.
const NAMED_FILLED: &str = "\
SELECT c.oid, pg_catalog.format('%s.%I', c.relnamespace::pg_catalog.regnamespace::text, c.relname),
  n.nspname::text, c.relname::text
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = ANY ($1::pg_catalog.oid[]) AND c.relname::text = ANY ($2::text[])";

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
            if self.options.stats.is_some() && self.blocked_by.is_none() {
                self.run_notes.push(
                    "production's statistics unused: the lock analysis generates no rows (--no-lock-analysis or --lock-rows 0)"
                        .into(),
                );
            }
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
            if let Err(stopped) = self.rehearsal_step(rehearsal, &migration.up, None).await? {
                return Ok(Err(stopped.reason));
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
        if let Err(reason) = self.fill_rehearsal(rehearsal, &scripts).await? {
            return Ok(Err(reason));
        }
        let down = migration
            .down
            .as_ref()
            .filter(|_| !migration.version.is_repeatable());
        let words: Vec<String> = rows::words(&scripts).into_iter().collect();
        let filled: Vec<u32> = rehearsal.rows.keys().copied().collect();
        // The rows the down should give back, when there is a down.
        let before = match down {
            Some(_) => data::Fingerprints::read(&rehearsal.session.client, Some(&filled), &words)
                .await
                .ok(),
            None => None,
        };
        // Without a down to return to the state before the up, the sizes are timed first.
        let mut sizes = match down {
            None => self.time_sizes(rehearsal, &migration.up, None).await?,
            Some(_) => None,
        };

        let mut up_observer = None;
        let mut up_findings = Vec::new();
        let up = self
            .rehearsal_step(
                rehearsal,
                &migration.up,
                Some(Measure {
                    which: analysis::Script::Up,
                    after_up: None,
                    kept: &mut up_observer,
                    findings: &mut up_findings,
                }),
            )
            .await?;
        if let Err(stopped) = up {
            self.add_lock_findings(report, up_findings, analysis::Script::Up);
            return Ok(Err(self.stopped_on_data(rehearsal, stopped, report).await));
        }
        // What the up kept of those rows, and in which tables it made.
        let after_up = match &before {
            Some(_) => data::Fingerprints::read(&rehearsal.session.client, None, &words)
                .await
                .ok(),
            None => None,
        };
        let Some(down) = down else {
            self.attach_estimates(&mut up_findings, sizes.as_ref());
            self.add_lock_findings(report, up_findings, analysis::Script::Up);
            rehearsal.applied = index + 1;
            return Ok(Ok(()));
        };
        let mut down_findings = Vec::new();
        let measured = self
            .rehearsal_step(
                rehearsal,
                down,
                Some(Measure {
                    which: analysis::Script::Down,
                    after_up: up_observer.take(),
                    kept: &mut None,
                    findings: &mut down_findings,
                }),
            )
            .await?;
        if let Err(stopped) = measured {
            self.add_lock_findings(report, up_findings, analysis::Script::Up);
            self.add_lock_findings(report, down_findings, analysis::Script::Down);
            return Ok(Err(self.stopped_on_data(rehearsal, stopped, report).await));
        }
        if let (Some(before), Some(after_up)) = (before, after_up)
            && let Ok(after_down) = before.again(&rehearsal.session.client).await
        {
            let file_text = format!("{}{}", "\n".repeat(down.line_offset), down.sql);
            for (relation, evidence) in before.differences(&after_up, &after_down) {
                down_findings.push(data::data_not_restored(
                    &down.path.display().to_string(),
                    &file_text,
                    (&down.sql, down.line_offset),
                    relation,
                    evidence,
                ));
            }
        }
        // Back where the up started: the sizes are timed now, for the findings that
        // want an estimate.
        if sizes.is_none() && self.wants_estimates(&up_findings) {
            sizes = self
                .time_sizes(rehearsal, &migration.up, Some(&up_findings))
                .await?;
        }
        self.attach_estimates(&mut up_findings, sizes.as_ref());
        self.add_lock_findings(report, up_findings, analysis::Script::Up);
        self.add_lock_findings(report, down_findings, analysis::Script::Down);
        if let Err(stopped) = self.rehearsal_step(rehearsal, &migration.up, None).await? {
            return Ok(Err(stopped.reason));
        }
        rehearsal.applied = index + 1;
        Ok(Ok(()))
    }

    /// Fills the tables `scripts` reach that the rehearsal has not seen, shaped by
    /// production's statistics when given.
    async fn fill_rehearsal(
        &mut self,
        rehearsal: &mut Rehearsal,
        scripts: &[&str],
    ) -> Result<Going, EnvironmentError> {
        let client = &rehearsal.session.client;
        let filler = match &rehearsal.filler {
            Some(filler) => Ok(filler),
            None => rows::Filler::prepare(client)
                .await
                .map(|filler| &*rehearsal.filler.insert(filler)),
        };
        let scope = rows::Scope {
            seen: &rehearsal.seen,
            skip: &self.bookkeeping,
            about: Some(scripts),
            stats: self.options.stats.as_deref(),
        };
        let filled = match filler {
            Ok(filler) => filler.fill(client, self.options.lock_rows, &scope).await,
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
        Ok(Ok(()))
    }

    /// Why the rehearsal stops after a script failed in the copy; a failure the rows
    /// explain (a NULL, a duplicate, any row at all) is a `fails-on-data` finding on
    /// `report` too.
    async fn stopped_on_data(
        &mut self,
        rehearsal: &Rehearsal,
        stopped: Stopped,
        report: &mut MigrationReport,
    ) -> String {
        let Some((failure, script, which)) = stopped.failure else {
            return stopped.reason;
        };
        let FailureKind::Sql(code) = &failure.kind else {
            return stopped.reason;
        };
        if !data::explained_by_rows(code) {
            return format!(
                "{} (the generated values, not production's, may be what it refuses)",
                stopped.reason
            );
        }
        let Some(location) = &failure.location else {
            return stopped.reason;
        };
        let statement = lexer::split_statements(&script.sql)
            .into_iter()
            .filter(|s| !s.is_empty())
            .find(|s| {
                lexer::line_col(&script.sql, s.code.start).0 + script.line_offset == location.line
            })
            .map(|s| script.sql[s.code].to_string())
            .unwrap_or_default();
        let client = &rehearsal.session.client;
        let filled: Vec<u32> = rehearsal.rows.keys().copied().collect();
        let words: Vec<String> = rows::words(&[statement.as_str()]).into_iter().collect();
        let named = client
            .query(NAMED_FILLED, &[&filled, &words])
            .await
            .unwrap_or_default();
        // The table the statement names first.
        let relation = named
            .iter()
            .map(|row| {
                let oid: u32 = row.get(0);
                let relname: String = row.get(3);
                let at = statement
                    .find(&relname)
                    .or_else(|| statement.to_lowercase().find(&relname))
                    .unwrap_or(usize::MAX);
                (
                    at,
                    oid,
                    row.get::<_, String>(1),
                    row.get::<_, String>(2),
                    relname,
                )
            })
            .min_by_key(|(at, ..)| *at);
        let (relation, generated_rows, production) = match relation {
            Some((_, oid, qualified, schema, name)) => {
                let production = match self.options.stats.as_deref() {
                    None => data::Production::Unknown,
                    Some(stats) => match stats.table(&schema, &name) {
                        Some(table) => data::Production::Rows(table.rows()),
                        None => data::Production::NotInStats,
                    },
                };
                (qualified, rehearsal.rows.get(&oid).copied(), production)
            }
            None => (
                "a table it names".to_string(),
                None,
                match self.options.stats {
                    Some(_) => data::Production::NotInStats,
                    None => data::Production::Unknown,
                },
            ),
        };
        let file = script.path.display().to_string();
        let file_text = format!("{}{}", "\n".repeat(script.line_offset), script.sql);
        let finding = data::fails_on_data(&data::Failure {
            file: &file,
            file_text: &file_text,
            line: location.line,
            column: location.column,
            statement: &statement,
            sqlstate: Some(code),
            message: failure.message.lines().next().unwrap_or_default(),
            relation,
            generated_rows,
            production,
            script: which,
        });
        self.add_lock_findings(report, vec![finding], which);
        stopped.reason
    }

    /// Whether any of `findings` blocks something on a table production's statistics
    /// have rows for (an estimate would say how long).
    fn wants_estimates(&self, findings: &[analysis::LockFinding]) -> bool {
        self.options.stats.is_some() && findings.iter().any(worth_timing)
    }

    /// Times the statements of `up` at three sizes of the tables it names that production's
    /// statistics have rows for (each grown to at most its production size), inside one
    /// transaction rolled back at the end; with `findings`, only their tables. `None`
    /// without statistics, without such a table, or when `up` cannot run inside a
    /// transaction (noted).
    async fn time_sizes(
        &mut self,
        rehearsal: &mut Rehearsal,
        up: &Script,
        findings: Option<&[analysis::LockFinding]>,
    ) -> Result<Option<Sizes>, EnvironmentError> {
        let Some(stats) = self.options.stats.clone() else {
            return Ok(None);
        };
        let started = std::time::Instant::now();
        let client = &rehearsal.session.client;
        let filled: Vec<u32> = rehearsal.rows.keys().copied().collect();
        let words: Vec<String> = rows::words(&[up.sql.as_str()]).into_iter().collect();
        let Ok(named) = client.query(NAMED_FILLED, &[&filled, &words]).await else {
            return Ok(None);
        };
        let mut tables: HashMap<u32, (String, u64, u64)> = HashMap::new();
        for row in &named {
            let (oid, qualified): (u32, String) = (row.get(0), row.get(1));
            let wanted = findings.is_none_or(|fs| {
                fs.iter()
                    .any(|f| f.relation == qualified && worth_timing(f))
            });
            let production = stats
                .table(&row.get::<_, String>(2), &row.get::<_, String>(3))
                .and_then(|table| Some((table.rows()?, table.heap_bytes + table.toast_bytes)));
            if let Some((rows, bytes)) = production.filter(|(rows, _)| *rows > 0)
                && wanted
            {
                tables.insert(oid, (qualified, rows, bytes.max(0) as u64));
            }
        }
        if tables.is_empty() {
            return Ok(None);
        }
        if let Some(why) = script::cannot_nest(up) {
            self.run_notes.push(format!(
                "lock analysis: {} is not timed at production's sizes: it {why}",
                up.path.display()
            ));
            return Ok(None);
        }
        let max = self.options.lock_rows_max;
        let mut sizes = Sizes {
            tables: tables
                .iter()
                .map(|(oid, (name, rows, bytes))| (name.clone(), (*oid, *rows, *bytes)))
                .collect(),
            runs: Vec::new(),
            failed: None,
        };
        let Some(filler) = rehearsal.filler.as_ref() else {
            return Ok(None);
        };
        let none = BTreeSet::new();
        let about = [up.sql.as_str()];
        let scope = rows::Scope {
            seen: &none,
            skip: &self.bookkeeping,
            about: Some(&about),
            stats: Some(&stats),
        };
        let timed: Result<(), tokio_postgres::Error> = async {
            client.batch_execute("BEGIN").await?;
            let mut held: BTreeMap<u32, u64> = tables
                .keys()
                .map(|oid| (*oid, rehearsal.rows.get(oid).copied().unwrap_or(0)))
                .collect();
            for size in sizes_up_to(self.options.lock_rows, max) {
                let targets: BTreeMap<u32, (u64, u64)> = tables
                    .iter()
                    .map(|(oid, (_, rows, _))| (*oid, (held[oid], size.min(*rows))))
                    .collect();
                held = filler.grow(client, &targets, &scope).await?;
                match timing::time_statements(client, up, REPEATS).await? {
                    Ok(statements) => sizes.runs.push((held.clone(), statements)),
                    Err(why) => {
                        sizes.failed = Some(why);
                        break;
                    }
                }
            }
            client.batch_execute("ROLLBACK").await?;
            // The rolled-back rows are dead tuples every later scan would read.
            for (name, ..) in tables.values() {
                client.batch_execute(&format!("VACUUM {name}")).await?;
            }
            Ok(())
        }
        .await;
        self.timings.lock_sizes += super::millis(started.elapsed());
        if let Some(why) = &sizes.failed {
            self.run_notes.push(format!(
                "lock analysis: {} timed at {} of 3 sizes only: {why}",
                up.path.display(),
                sizes.runs.len()
            ));
        }
        if let Err(error) = timed {
            if client.is_closed() {
                self.server_alive(&up.path, &error.to_string()).await?;
            }
            let _ = client.batch_execute("ROLLBACK").await;
            self.run_notes.push(format!(
                "lock analysis: {} could not be timed at production's sizes: {}",
                up.path.display(),
                crate::postgres::describe_error(&error)
            ));
            return Ok(None);
        }
        Ok(Some(sizes))
    }

    /// Each finding of `findings` on a table `sizes` timed gets its estimate at
    /// production's size.
    fn attach_estimates(&self, findings: &mut [analysis::LockFinding], sizes: Option<&Sizes>) {
        let Some(sizes) = sizes else {
            return;
        };
        // The statements known to read every row (a finding whose work grows with them).
        let reading: BTreeSet<(usize, usize)> = findings
            .iter()
            .filter(|f| worth_timing(f))
            .map(|f| (f.line, f.column))
            .collect();
        for finding in findings.iter_mut() {
            if data::is_data_rule(&finding.rule) {
                continue;
            }
            let Some((oid, rows, bytes)) = sizes.tables.get(&finding.relation) else {
                continue;
            };
            let samples: Vec<Sample> = sizes
                .runs
                .iter()
                .filter_map(|(held, statements)| {
                    let micros = statements
                        .iter()
                        .find(|(at, _)| *at == (finding.line, finding.column))?
                        .1;
                    Some(Sample {
                        rows: *held.get(oid)?,
                        micros,
                    })
                })
                .collect();
            if samples.is_empty() {
                continue;
            }
            let reads_rows = reading.contains(&(finding.line, finding.column));
            finding.estimate = Some(estimate::estimate(samples, *rows, *bytes, reads_rows));
        }
    }

    /// Runs `script` in the rehearsal's copy; with `measure`, each statement is measured and
    /// its findings kept there. Err (the environment failed) when the server went away;
    /// `Ok(Err(stopped))` when the script failed in the copy.
    async fn rehearsal_step(
        &mut self,
        rehearsal: &mut Rehearsal,
        script: &Script,
        measure: Option<Measure<'_>>,
    ) -> Result<Result<(), Stopped>, EnvironmentError> {
        let client = &rehearsal.session;
        let timeouts = self.options.timeouts;
        let (outcome, which) = match measure {
            None => (script::run_script(client, script, timeouts).await, None),
            Some(Measure {
                which,
                after_up,
                kept,
                findings,
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
                    return Ok(Err(Stopped {
                        reason: "the copy it measures in stopped answering".into(),
                        failure: None,
                    }));
                };
                let mut observer = observer.with_rows(&rehearsal.rows);
                let outcome =
                    script::run_script_observed(client, script, timeouts, &mut observer).await;
                if outcome.is_ok() {
                    let _ = observer.conclude(&client.client).await;
                }
                findings.extend(observer.findings(script, which));
                // Its prepared statements live on this connection, which a script that
                // changed the session defaults replaces: the down then starts afresh.
                if !outcome
                    .as_ref()
                    .is_ok_and(|run| run.session_defaults_changed)
                {
                    *kept = Some(observer);
                }
                (outcome, Some(which))
            }
        };
        match outcome {
            Ok(run) if run.session_defaults_changed => match rehearsal.session.renew().await {
                Ok(()) => {
                    rehearsal.filler = None;
                    Ok(Ok(()))
                }
                Err(_) => Ok(Err(Stopped {
                    reason: "the copy it measures in accepts no new connection".into(),
                    failure: None,
                })),
            },
            Ok(_) => Ok(Ok(())),
            Err(failure) => {
                if failure.kind == FailureKind::ConnectionLost {
                    self.server_alive(&script.path, &failure.message).await?;
                }
                Ok(Err(Stopped {
                    reason: rehearsal_failure(script, &failure, which.is_some()),
                    failure: which.map(|which| (failure, script.clone(), which)),
                }))
            }
        }
    }

    /// Notes the tables production's statistics name that the migrations do not create
    /// (ignored: production has objects the history does not, or the file is stale).
    pub(super) async fn note_unknown_stats_tables(&mut self) {
        let Some(stats) = self.options.stats.clone() else {
            return;
        };
        let Ok(rows) = self
            .session
            .client
            .query(
                "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p')",
                &[],
            )
            .await
        else {
            return;
        };
        let here: BTreeSet<(String, String)> =
            rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        let unknown: Vec<String> = stats
            .tables
            .iter()
            .filter(|t| !here.contains(&(t.schema.clone(), t.name.clone())))
            .filter(|t| !self.bookkeeping.contains(&t.name))
            .map(|t| t.qualified())
            .collect();
        if unknown.is_empty() {
            return;
        }
        let shown: Vec<&str> = unknown.iter().take(5).map(String::as_str).collect();
        self.run_notes.push(format!(
            "production's statistics name {} the migrations do not create ({}{}): ignored",
            if unknown.len() == 1 {
                "1 table".to_string()
            } else {
                format!("{} tables", unknown.len())
            },
            shown.join(", "),
            if unknown.len() > shown.len() {
                ", …"
            } else {
                ""
            }
        ));
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

/// Whether `finding` is worth timing at three sizes: its lock blocks something and its
/// statement's work grows with the table's rows (a rewrite, a scan, an index build; a
/// catalog-only statement takes as long on any table).
fn worth_timing(finding: &analysis::LockFinding) -> bool {
    finding.blocks != analysis::Blocks::Nothing && analysis::rules::grows_with_rows(&finding.rule)
}

/// The three sizes a blocking finding is timed at: the rows the tables were filled with,
/// `max`, and their geometric mean between (1,000, 3,162 and 10,000 by default).
fn sizes_up_to(filled: u64, max: u64) -> [u64; 3] {
    let middle = ((filled as f64) * (max as f64)).sqrt().round() as u64;
    [filled, middle, max]
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
