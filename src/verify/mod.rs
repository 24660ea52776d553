//! The verification pipeline of DESIGN.md, step by step: every migration's up
//! is applied in version order; each migration under verification runs
//! up → down → up with a snapshot after every step, proving that down restores
//! the schema from before up and that up re-applies to the same schema; then
//! the sequence cycle runs all downs in reverse and all ups again. A failure
//! never hides later verdicts: the database is rebuilt up to the last good
//! point and the walk continues. Produces the report model; talks to
//! PostgreSQL only through `postgres`.

pub mod base;
mod cached_base;
mod describe;
mod rehearsal;
pub mod versions;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::analysis;
use crate::cache;
use crate::error::EnvironmentError;
use crate::migrations::command::CommandStep;
use crate::migrations::{Discovered, Migration, Script};
use crate::policy::Policy;
use crate::postgres;
use crate::postgres::script::{self, FailureKind, ScriptFailure};
use crate::postgres::{
    Databases, Server, Session, Timeouts, connection_error, describe_error, maintenance_session,
};
use crate::report::{
    MigrationReport, PostgresInfo, Problem, Report, RunTimings, SCHEMA_VERSION, SchemaChange,
    SequenceReport, SequenceStatus, Severity, Status, StepTimings,
};
use crate::schema::diff::{Change, diff};
use crate::schema::erd::{self, Diagram};
use crate::schema::options::UncomparedSummary;
use crate::schema::snapshot::SnapshotQuery;
use crate::schema::{ObjectId, Snapshot};

pub use cached_base::{BaseStateUse, base_state_prefix};
pub use describe::Phase;

use crate::report::progress::Progress;

/// Everything the pipeline needs besides the server and the migrations.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    pub timeouts: Timeouts,
    /// Versions under verification; `None` means every migration.
    pub under_verification: Option<BTreeSet<String>>,
    pub policy: Policy,
    /// The migrations directory as the user gave it (for the report).
    pub directory: String,
    /// Tables with at most this many rows get a data fingerprint in every
    /// snapshot (larger ones their row count); `None` compares schema only.
    pub data_rows: Option<u64>,
    /// Read the whole catalog at every snapshot (`--full-snapshots`) instead of only
    /// what changed since the previous one.
    pub full_snapshots: bool,
    /// PR mode's cached base state: how this run uses it (`None`: it does not).
    pub base_state: Option<BaseStateUse>,
    /// Measure what each statement of a migration under verification does to the tables
    /// that existed before it (on unless `--no-lock-analysis`).
    pub lock_analysis: bool,
    /// Rows generated into each table before it is measured (`--lock-rows`; 0: none), in
    /// a copy of the database beside the verified one (see [`rehearsal`]).
    pub lock_rows: u64,
}

/// Runs the whole verification on `server`, leaving no database behind.
pub async fn run(
    server: &dyn Server,
    discovered: &Discovered,
    options: &VerifyOptions,
    progress: &mut dyn Progress,
    setup: Duration,
    database_prefix: &str,
) -> Result<Report, EnvironmentError> {
    let started = Instant::now();
    let mut databases = Databases::new(server, options.timeouts, database_prefix).await?;
    let result = Pipeline::run(server, &mut databases, discovered, options, progress).await;
    databases.drop_all().await;
    let PipelineOutput {
        migrations,
        sequence,
        schema_changes,
        schema_diagram,
        notes,
        mut timings,
        server_version,
        uncompared,
    } = result?;
    timings.setup = millis(setup);
    timings.total = millis(setup + started.elapsed());
    let passed = migrations.iter().all(is_acceptable)
        && sequence.status != SequenceStatus::Failed
        && !migrations
            .iter()
            .any(|m| m.problems.iter().any(|p| p.severity == Severity::Error));
    Ok(Report {
        postgres_versions: Vec::new(),
        schema_version: SCHEMA_VERSION,
        passed,
        postgres: PostgresInfo {
            backend: server.backend().to_string(),
            server_version,
        },
        format: discovered.format().name().to_string(),
        directory: options.directory.clone(),
        migrations,
        sequence,
        checksums: Vec::new(),
        problems: Vec::new(),
        schema_changes,
        schema_diagram,
        notes: discovery_notes(discovered)
            .into_iter()
            .chain(uncompared.notes())
            .chain(notes)
            .collect(),
        ignored_files: discovered
            .ignored
            .iter()
            .map(|path| path.display().to_string())
            .collect(),
        timings_ms: timings,
    })
}

/// What discovery has to say beyond the migrations: the files it ignored.
fn discovery_notes(discovered: &Discovered) -> Vec<String> {
    match discovered.ignored.as_slice() {
        [] => Vec::new(),
        ignored => {
            let names: Vec<String> = ignored.iter().map(|p| p.display().to_string()).collect();
            vec![format!(
                "{} file(s) in the migrations directory belong to no migration and were \
                 ignored: {}",
                names.len(),
                names.join(", ")
            )]
        }
    }
}

fn is_acceptable(report: &MigrationReport) -> bool {
    matches!(
        report.status,
        Status::Passed | Status::Applied | Status::Irreversible
    )
}

fn millis(duration: Duration) -> u64 {
    duration.as_millis().try_into().unwrap_or(u64::MAX)
}

/// What the walk produced, before the report is assembled.
struct PipelineOutput {
    migrations: Vec<MigrationReport>,
    sequence: SequenceReport,
    schema_changes: Vec<SchemaChange>,
    schema_diagram: Option<Diagram>,
    /// Notes on the run as a whole.
    notes: Vec<String>,
    timings: RunTimings,
    server_version: String,
    /// Catalog entries the snapshots read but did not compare.
    uncompared: UncomparedSummary,
}

/// The walk's mutable state.
struct Pipeline<'s, 'd, 'o> {
    server: &'s dyn Server,
    databases: &'d mut Databases<'s>,
    migrations: &'o [Migration],
    options: &'o VerifyOptions,
    session: Session,
    /// A second connection to the same database: snapshots read half of the
    /// catalogs on it, in parallel. `None` when a migration made the database
    /// refuse new connections after terminating it: snapshots then read
    /// everything on `session`.
    snapshot_session: Option<Session>,
    /// The catalog query, prepared on `session` and `snapshot_session`.
    snapshot_query: SnapshotQuery,
    /// Connections of ours that a migration terminated, found since the last
    /// report was finished: (what happened, the script that ran last).
    terminated: Vec<(String, Option<Script>)>,
    /// The script that ran last, to which a terminated connection is owed.
    last_script: Option<Script>,
    timings: RunTimings,
    /// The schema of the current database, when known without a new capture.
    current: Option<Snapshot>,
    /// First migration of the sequence cycle and the schema before its up.
    cycle_start: Option<(usize, Snapshot)>,
    /// The schema before the first migration under verification (for the
    /// net "schema changes" of the run).
    first_before: Option<Snapshot>,
    /// The database no longer matches "all ups up to here": rebuild before going on.
    needs_rebuild: bool,
    /// A copy of the database with the first N ups applied (N, its name): a rebuild
    /// starts from it instead of re-applying every up from the first.
    checkpoint: Option<(usize, String)>,
    /// Whether a copy of the database is the same database to the migrations: not when
    /// one sets something per database (`ALTER DATABASE … SET`, `ALTER ROLE … IN
    /// DATABASE`), which `CREATE DATABASE … TEMPLATE` does not copy.
    copies_are_faithful: bool,
    /// The database kept when the merged history was applied, to be stored as the cached
    /// base state, and the cluster's shared state then (see [`cached_base`]).
    base_record: Option<(String, String)>,
    /// The relations that existed before the up measured last: its down is measured on them.
    measured_before_up: BTreeSet<u32>,
    /// A migration's up failed: later ones cannot be reached.
    blocked_by: Option<String>,
    /// Catalog entries read but not compared, over every snapshot.
    uncompared: UncomparedSummary,
    /// Tables of the migration tools run as processes (their history): not schema.
    bookkeeping: BTreeSet<String>,
    /// A batch of history failed: apply the rest one migration at a time.
    no_batches: bool,
    /// Notes on the run as a whole, for the report's `notes`.
    run_notes: Vec<String>,
    /// The copy the lock analysis measures in, with generated rows (see [`rehearsal`]);
    /// `None` before the first migration under verification and when it cannot follow.
    rehearsal: Option<rehearsal::Rehearsal>,
    /// Whether starting it was considered already.
    rehearsal_tried: bool,
    /// How many tables it filled with rows.
    filled_tables: usize,
}

/// Whether a script sets something per database, which a copy of the database made with
/// `CREATE DATABASE … TEMPLATE` would not have (`ALTER DATABASE … SET`, `ALTER ROLE …
/// IN DATABASE …`).
pub(crate) fn sets_database_settings(sql: &str) -> bool {
    let words: Vec<String> = sql
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    words.windows(2).any(|pair| {
        matches!(
            (pair[0].as_str(), pair[1].as_str()),
            ("alter", "database") | ("in", "database")
        )
    })
}

/// What one step of a migration produced.
enum Step {
    Ran(Duration),
    Failed(ScriptFailure),
}

impl<'s, 'd, 'o> Pipeline<'s, 'd, 'o> {
    async fn run(
        server: &'s dyn Server,
        databases: &'d mut Databases<'s>,
        discovered: &'o Discovered,
        options: &'o VerifyOptions,
        progress: &mut dyn Progress,
    ) -> Result<PipelineOutput, EnvironmentError> {
        let server_version = databases.server_version().to_string();
        let restored = match options.base_state {
            Some(BaseStateUse::Restored { merged }) => Some(merged),
            _ => None,
        };
        let session = match restored {
            Some(_) => databases.fresh_from(cache::base_state::DATABASE).await?,
            None => databases.fresh().await?,
        };
        let snapshot_session = Some(databases.connect_newest().await?);
        let snapshot_query =
            prepare_snapshot(server, options, &session, snapshot_session.as_ref()).await?;
        let mut pipeline = Pipeline {
            server,
            databases,
            migrations: &discovered.migrations,
            options,
            session,
            snapshot_session,
            snapshot_query,
            terminated: Vec::new(),
            last_script: None,
            timings: RunTimings::default(),
            current: None,
            cycle_start: None,
            first_before: None,
            needs_rebuild: false,
            // A copy of the restored base state is as faithful as the base state.
            checkpoint: restored.map(|merged| (merged, cache::base_state::DATABASE.to_string())),
            base_record: None,
            measured_before_up: BTreeSet::new(),
            copies_are_faithful: discovered
                .migrations
                .iter()
                .all(|m| !sets_database_settings(&m.up.sql)),
            run_notes: Vec::new(),
            blocked_by: None,
            uncompared: UncomparedSummary::default(),
            bookkeeping: discovered
                .migrations
                .iter()
                .flat_map(|m| [Some(&m.up), m.down.as_ref()])
                .flatten()
                .filter_map(|script| script.step.as_ref())
                .flat_map(|step| step.bookkeeping.iter().cloned())
                .collect(),
            no_batches: false,
            rehearsal: None,
            rehearsal_tried: false,
            filled_tables: 0,
        };
        let total = discovered.migrations.len();
        let mut reports = Vec::with_capacity(total);
        let mut index = 0;
        if let Some(merged) = restored {
            for (index, migration) in discovered.migrations[..merged].iter().enumerate() {
                progress.started(index, total, migration);
                let report = pipeline.restored_report(migration);
                progress.finished(index, total, &report);
                reports.push(report);
            }
            index = merged;
        }
        let record_at = match options.base_state {
            Some(BaseStateUse::Record { merged }) => Some(merged),
            _ => None,
        };
        while index < total {
            if record_at == Some(index) {
                pipeline.record_base_state(index).await?;
            }
            let end = pipeline.history_run(index);
            if end > index + 1
                && let Some(batch) = pipeline.apply_history(index, end).await?
            {
                for (offset, report) in batch.into_iter().enumerate() {
                    progress.started(
                        index + offset,
                        total,
                        &discovered.migrations[index + offset],
                    );
                    progress.finished(index + offset, total, &report);
                    reports.push(report);
                }
                index = end;
                continue;
            }
            progress.started(index, total, &discovered.migrations[index]);
            let under_verification = pipeline.under_verification(&discovered.migrations[index]);
            if under_verification && !pipeline.rehearsal_tried {
                pipeline.start_rehearsal(index).await?;
            }
            let mut report = pipeline.migration(index).await?;
            if under_verification && !matches!(report.status, Status::FailedUp | Status::Skipped) {
                pipeline.rehearse(index, &mut report).await?;
            }
            progress.finished(index, total, &report);
            reports.push(report);
            index += 1;
        }
        if record_at == Some(total) {
            pipeline.record_base_state(total).await?;
        }
        if pipeline.filled_tables > 0 {
            pipeline.run_notes.push(format!(
                "lock analysis: measured in a copy of the database where {} {} held up to {} generated rows",
                pipeline.filled_tables,
                if pipeline.filled_tables == 1 { "table" } else { "tables" },
                options.lock_rows
            ));
        }
        let (schema_changes, schema_diagram) = pipeline.net_changes().await?;
        let sequence = pipeline.sequence(&reports, progress).await?;
        pipeline.keep_base_state().await?;
        Ok(PipelineOutput {
            migrations: reports,
            sequence,
            schema_changes,
            schema_diagram,
            notes: pipeline.run_notes,
            timings: pipeline.timings,
            server_version,
            uncompared: pipeline.uncompared,
        })
    }

    fn under_verification(&self, migration: &Migration) -> bool {
        self.options
            .under_verification
            .as_ref()
            .is_none_or(|set| set.contains(&migration.version.text))
    }

    /// The verdict on migration `index`, with any connections of ours it
    /// terminated reported as a warning.
    async fn migration(&mut self, index: usize) -> Result<MigrationReport, EnvironmentError> {
        let mut report = self.walk_migration(index).await?;
        self.report_terminated(&mut report.problems);
        Ok(report)
    }

    /// Turns the terminated connections found so far into warnings: what a
    /// migration does to other sessions is worth a reviewer's eye, though
    /// it is no verdict on reversibility.
    fn report_terminated(&mut self, problems: &mut Vec<Problem>) {
        // One warning per kind of event, however many scripts caused it.
        let mut grouped: Vec<(String, Vec<Script>)> = Vec::new();
        for (message, script) in self.terminated.drain(..) {
            let scripts = match grouped.iter_mut().find(|(m, _)| *m == message) {
                Some((_, scripts)) => scripts,
                None => {
                    grouped.push((message, Vec::new()));
                    &mut grouped.last_mut().expect("just pushed").1
                }
            };
            if let Some(script) = script
                && !scripts.iter().any(|s| s.path == script.path)
            {
                scripts.push(script);
            }
        }
        for (message, scripts) in grouped {
            let message = match scripts.as_slice() {
                [_, _, ..] => {
                    let names: Vec<String> = scripts
                        .iter()
                        .map(|s| s.path.display().to_string())
                        .collect();
                    format!("{message} (by {})", names.join(", "))
                }
                _ => message,
            };
            problems.push(problem(
                "connections_terminated",
                Severity::Warning,
                message,
                scripts.first().map(|s| (s, 1)),
            ));
        }
    }

    async fn walk_migration(&mut self, index: usize) -> Result<MigrationReport, EnvironmentError> {
        let migration = &self.migrations[index];
        let mut report = self.blank_report(migration);
        if let Some(blocker) = &self.blocked_by {
            report.status = Status::Skipped;
            report.problems.push(problem(
                "skipped",
                Severity::Warning,
                format!("not run: {blocker}"),
                None,
            ));
            return Ok(report);
        }
        if self.needs_rebuild
            && let Err(reason) = self.rebuild(index).await?
        {
            self.blocked_by = Some(reason.clone());
            report.status = Status::Skipped;
            report.problems.push(problem(
                "skipped",
                Severity::Warning,
                format!("not run: {reason}"),
                None,
            ));
            return Ok(report);
        }

        let verify = report.new && migration.down.is_some();
        let before = if verify {
            Some(self.snapshot_current().await?)
        } else {
            None
        };
        if let (None, Some(before)) = (&self.first_before, &before) {
            self.first_before = Some(before.clone());
        }
        if migration.down.is_none() {
            self.cycle_start = None;
        } else if let (true, None, Some(before)) = (verify, &self.cycle_start, &before) {
            self.cycle_start = Some((index, before.clone()));
        }

        // Up, each statement measured for a migration under verification.
        let up = if report.new {
            self.measured_step(&migration.up, analysis::Script::Up, &mut report)
                .await?
        } else {
            self.step(&migration.up, &mut report).await?
        };
        match up {
            Step::Ran(elapsed) => report.timings_ms.up = Some(millis(elapsed)),
            Step::Failed(failure) => {
                report.timings_ms.up = Some(millis(failure.elapsed));
                report.status = Status::FailedUp;
                report.problems.push(failure_problem(&failure));
                self.blocked_by = Some(format!("version {} failed to apply", migration.version));
                return Ok(report);
            }
        }
        self.current = None;
        if migration.version.is_repeatable() {
            if report.new {
                self.apply_again(migration, &mut report).await?;
            } else {
                report.status = Status::Applied;
            }
            return Ok(report);
        }
        let (Some(before), Some(down)) = (before, migration.down.as_ref()) else {
            self.applied_once(migration, &mut report);
            return Ok(report);
        };
        let after_up = self.snapshot_current().await?;

        // Down: must restore the schema from before up (measured too: rolling back must
        // not take production down either).
        match self
            .measured_step(down, analysis::Script::Down, &mut report)
            .await?
        {
            Step::Ran(elapsed) => report.timings_ms.down = Some(millis(elapsed)),
            Step::Failed(failure) => {
                report.timings_ms.down = Some(millis(failure.elapsed));
                report.status = Status::FailedDown;
                report.problems.push(failure_problem(&failure));
                self.needs_rebuild = true;
                return Ok(report);
            }
        }
        let after_down = self.snapshot_current().await?;
        let started = Instant::now();
        let changes = diff(&before, &after_down);
        self.timings.snapshots += millis(started.elapsed());
        if self.judge(&changes, Phase::Down, down, &mut report.problems) {
            report.status = Status::NotReversible;
            self.needs_rebuild = true;
            return Ok(report);
        }

        // Re-up: must give the schema of the first up.
        self.reapply(
            migration,
            after_up,
            &mut report,
            "the second up failed after down",
        )
        .await?;
        Ok(report)
    }

    /// A migration's report before anything ran.
    fn blank_report(&self, migration: &Migration) -> MigrationReport {
        MigrationReport {
            versions: Default::default(),
            version: migration.version.text.clone(),
            name: migration.name.clone(),
            files: migration
                .files()
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            new: self.under_verification(migration),
            status: Status::Passed,
            problems: Vec::new(),
            timings_ms: StepTimings::default(),
            notes: Vec::new(),
            locks: Vec::new(),
        }
    }

    /// The verdict on a migration whose up ran once and is not verified further:
    /// `irreversible` without a down, else `applied`.
    fn applied_once(&self, migration: &Migration, report: &mut MigrationReport) {
        if migration.down.is_none() {
            report.status = Status::Irreversible;
            let others: Vec<&Migration> = self
                .migrations
                .iter()
                .filter(|m| m.version != migration.version && !m.version.is_repeatable())
                .collect();
            let with_down = others.iter().filter(|m| m.down.is_some()).count();
            let (severity, rule) = self
                .options
                .policy
                .irreversible
                .decide(others.len(), with_down);
            report.problems.push(problem(
                "irreversible",
                severity,
                format!("no down script: this migration cannot be reverted\n{rule}"),
                Some((&migration.up, 1)),
            ));
        } else {
            report.status = Status::Applied;
        }
    }

    /// Where the run of history starting at `start` ends: migrations not under
    /// verification whose tool can apply several in one invocation (`up N`,
    /// `migrate:to`), applied together by [`Self::apply_history`].
    fn history_run(&self, start: usize) -> usize {
        if self.blocked_by.is_some() || self.needs_rebuild || self.no_batches {
            return start;
        }
        let batchable = |m: &Migration| {
            !self.under_verification(m) && m.up.step.as_ref().is_some_and(|s| s.up_to.is_some())
        };
        start
            + self.migrations[start..]
                .iter()
                .take_while(|m| batchable(m))
                .count()
    }

    /// Applies migrations `start..end` (history, not verified) with one invocation of their
    /// tool, which must record exactly them. None when the batch failed: the database is
    /// rebuilt and they are applied one at a time, so the failing one is named.
    async fn apply_history(
        &mut self,
        start: usize,
        end: usize,
    ) -> Result<Option<Vec<MigrationReport>>, EnvironmentError> {
        let migrations = &self.migrations[start..end];
        let last = &migrations[migrations.len() - 1];
        let Some((step, template)) = last
            .up
            .step
            .as_ref()
            .and_then(|step| Some((step, step.up_to.as_ref()?)))
        else {
            return Ok(None);
        };
        let count = migrations.len().to_string();
        let batch = CommandStep {
            argv: template
                .iter()
                .map(|arg| {
                    if arg == "{count}" {
                        count.clone()
                    } else {
                        arg.clone()
                    }
                })
                .collect(),
            expected: migrations
                .iter()
                .filter_map(|m| m.up.step.as_ref())
                .flat_map(|s| s.expected.clone())
                .collect(),
            up_to: None,
            ..(**step).clone()
        };
        let command = batch.display();
        let script = Script {
            step: Some(std::sync::Arc::new(batch)),
            ..last.up.clone()
        };
        let mut scratch = notes_only();
        let elapsed = match self.step(&script, &mut scratch).await? {
            Step::Ran(elapsed) => elapsed,
            Step::Failed(_) => {
                self.needs_rebuild = true;
                self.no_batches = true;
                return Ok(None);
            }
        };
        self.current = None;
        let mut reports = Vec::with_capacity(migrations.len());
        for migration in migrations {
            let mut report = self.blank_report(migration);
            if migration.down.is_none() {
                self.cycle_start = None;
            }
            self.applied_once(migration, &mut report);
            report.notes.push(format!(
                "applied with {} other migration(s) of the history in one invocation \
                 ({} ms): `{command}`",
                migrations.len() - 1,
                millis(elapsed)
            ));
            reports.push(report);
        }
        Ok(Some(reports))
    }

    /// A repeatable migration (Flyway's `R__`) is re-applied whenever it changes, so the
    /// tool assumes it is idempotent: applied a second time, it must succeed and leave the
    /// schema exactly as the first application did.
    async fn apply_again(
        &mut self,
        migration: &Migration,
        report: &mut MigrationReport,
    ) -> Result<(), EnvironmentError> {
        let after_first = self.snapshot_current().await?;
        let what = "a repeatable migration must apply again over itself, but the second \
                    application failed";
        if self.reapply(migration, after_first, report, what).await? {
            add_notes(
                &mut report.notes,
                vec![
                    "repeatable: applied twice, the second application left the schema as \
                     the first did"
                        .into(),
                ],
            );
        }
        Ok(())
    }

    /// Runs the up script again and compares with `after_first`, the schema after its first
    /// run: a failure (`failed`, said before the error) or a difference is
    /// `not_reapplicable`. True when the schema is the same; it becomes the current one.
    async fn reapply(
        &mut self,
        migration: &Migration,
        after_first: Snapshot,
        report: &mut MigrationReport,
        failed: &str,
    ) -> Result<bool, EnvironmentError> {
        match self.step(&migration.up, report).await? {
            Step::Ran(elapsed) => report.timings_ms.reup = Some(millis(elapsed)),
            Step::Failed(failure) => {
                report.timings_ms.reup = Some(millis(failure.elapsed));
                report.status = Status::NotReapplicable;
                let mut problem = failure_problem(&failure);
                problem.kind = "not_reapplicable".into();
                problem.message = format!("{failed}: {}", problem.message);
                report.problems.push(problem);
                self.needs_rebuild = true;
                return Ok(false);
            }
        }
        let after_second = self.snapshot_current().await?;
        let started = Instant::now();
        let changes = diff(&after_first, &after_second);
        self.timings.snapshots += millis(started.elapsed());
        if self.judge(&changes, Phase::Reup, &migration.up, &mut report.problems) {
            report.status = Status::NotReapplicable;
            self.needs_rebuild = true;
            return Ok(false);
        }
        self.current = Some(after_second);
        Ok(true)
    }

    /// Turns changes into problems under the policy; true when any is an error.
    fn judge(
        &self,
        changes: &[Change],
        phase: Phase,
        script: &Script,
        problems: &mut Vec<Problem>,
    ) -> bool {
        let mut failed = false;
        // A changed row count says it all; the hash of the same rows adds nothing.
        let recounted: BTreeSet<&ObjectId> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Changed {
                    object, attribute, ..
                } if attribute == "rows" => Some(object),
                _ => None,
            })
            .collect();
        for change in changes {
            if let Change::Changed {
                object, attribute, ..
            } = change
                && attribute == "data_hash"
                && recounted.contains(object)
            {
                continue;
            }
            let difference = change.kind();
            let severity = self.options.policy.severity(difference);
            failed |= severity == Severity::Error;
            // Differences that only warn are named by their own kind.
            let kind = if severity == Severity::Warning {
                difference.as_str()
            } else {
                phase.kind()
            };
            let mut found = problem(
                kind,
                severity,
                describe::change(change, phase),
                Some((script, 1)),
            );
            found.object = Some(change.object().to_string());
            problems.push(found);
        }
        failed
    }

    /// Runs one script, accounting its time; a lost server is an environment error.
    async fn step(
        &mut self,
        script: &Script,
        report: &mut MigrationReport,
    ) -> Result<Step, EnvironmentError> {
        self.step_observed(script, report, None).await
    }

    /// [`Self::step`], each statement of a SQL script measured (see [`analysis`]): the
    /// findings, under the lock policy, join the report's `locks`, and those the policy makes
    /// errors its problems too.
    async fn measured_step(
        &mut self,
        script: &Script,
        which: analysis::Script,
        report: &mut MigrationReport,
    ) -> Result<Step, EnvironmentError> {
        let within = match which {
            analysis::Script::Up => None,
            analysis::Script::Down => Some(self.measured_before_up.clone()),
        };
        let mut observer = match (&script.step, self.options.lock_analysis) {
            // Measured in the rehearsal's copy, on generated rows, instead.
            (None, true) if self.rehearsal.is_none() => {
                analysis::observe::Observer::start(&self.session.client, within.as_ref(), script)
                    .await
                    .ok()
            }
            _ => None,
        };
        if which == analysis::Script::Up {
            self.measured_before_up = observer
                .as_ref()
                .map(analysis::observe::Observer::relation_oids)
                .unwrap_or_default();
        }
        let step = self
            .step_observed(script, report, observer.as_mut())
            .await?;
        let Some(mut observer) = observer else {
            return Ok(step);
        };
        if matches!(step, Step::Ran(_)) {
            // Best effort: a connection the script ended leaves the rule unknowing.
            let _ = observer.conclude(&self.session.client).await;
        }
        self.add_lock_findings(report, observer.findings(script, which), which);
        Ok(step)
    }

    /// `findings` of the up or the down (`which`) under the lock policy: they join the
    /// report's `locks`, and those the policy makes errors its problems too.
    fn add_lock_findings(
        &self,
        report: &mut MigrationReport,
        findings: Vec<analysis::LockFinding>,
        which: analysis::Script,
    ) {
        let findings = analysis::apply_policy(findings, &self.options.policy.locks);
        for finding in findings
            .iter()
            .filter(|f| f.severity == crate::policy::Level::Error)
        {
            report.problems.push(Problem {
                versions: Vec::new(),
                kind: "lock".into(),
                severity: Severity::Error,
                message: format!(
                    "{}{}: {} (policy: error)",
                    finding.rule,
                    match which {
                        analysis::Script::Up => "",
                        analysis::Script::Down => " (down)",
                    },
                    finding.summary()
                ),
                file: Some(finding.file.clone()),
                line: Some(finding.line),
                column: Some(finding.column),
                object: None,
            });
        }
        report.locks.extend(findings);
    }

    /// [`Self::step`], with `observer` measuring each statement of a SQL script.
    async fn step_observed(
        &mut self,
        script: &Script,
        report: &mut MigrationReport,
        observer: Option<&mut analysis::observe::Observer>,
    ) -> Result<Step, EnvironmentError> {
        self.last_script = Some(script.clone());
        let outcome = match (&script.step, self.databases.newest_config()) {
            (Some(step), Some(database)) => {
                postgres::process::run_step(
                    &self.session.client,
                    step,
                    &database,
                    None,
                    self.options.timeouts.command,
                )
                .await
            }
            _ => match observer {
                Some(observer) => {
                    script::run_script_observed(
                        &self.session,
                        script,
                        self.options.timeouts,
                        observer,
                    )
                    .await
                }
                None => script::run_script(&self.session, script, self.options.timeouts).await,
            },
        };
        match outcome {
            Ok(run) => {
                self.timings.scripts += millis(run.elapsed);
                add_notes(&mut report.notes, run.notes);
                if self
                    .snapshot_session
                    .as_ref()
                    .is_some_and(Session::is_closed)
                {
                    self.recover_connections().await?;
                }
                Ok(Step::Ran(run.elapsed))
            }
            Err(mut failure) => {
                self.timings.scripts += millis(failure.elapsed);
                add_notes(&mut report.notes, failure.notes.clone());
                if failure.kind == FailureKind::ConnectionLost || self.session.is_closed() {
                    // Only a dead server is the environment's failure: a live
                    // one means the script ended its own connection, which is
                    // what the script did, and its verdict.
                    self.server_alive(&script.path, &failure.message).await?;
                    failure.message = format!(
                        "the script ended migration-check's connection to the server: {}",
                        failure.message
                    );
                    self.recover_connections().await?;
                }
                Ok(Step::Failed(failure))
            }
        }
    }

    /// Err (the environment failed) unless the server still accepts a
    /// connection; `context` says what we were doing when a connection broke.
    async fn server_alive(
        &self,
        script: &std::path::Path,
        context: &str,
    ) -> Result<(), EnvironmentError> {
        if maintenance_session(self.server, self.options.timeouts)
            .await
            .is_ok()
        {
            return Ok(());
        }
        let mut message = format!(
            "PostgreSQL ({}) went away while running {}: {context}",
            self.server.backend(),
            script.display(),
        );
        let diagnostics = self.server.diagnostics();
        if !diagnostics.is_empty() {
            message.push('\n');
            message.push_str(&diagnostics);
        }
        Err(EnvironmentError::new(message))
    }

    /// Re-opens every connection of ours that no longer answers (a
    /// migration may terminate other backends, or make the database refuse
    /// us new connections) and prepares the snapshot query again; notes what
    /// was terminated.
    async fn recover_connections(&mut self) -> Result<(), EnvironmentError> {
        let mut ended = Vec::new();
        if !self.session.answers().await {
            ended.push("connection running the migrations");
            self.session = self.session.reopen().await.map_err(|e| {
                EnvironmentError::new(format!(
                    "the throwaway database accepts no new connection from migration-check after {}: {}",
                    self.last_script_name(),
                    describe_error(&e)
                ))
            })?;
        }
        let mut refused = None;
        let second_answers = match &self.snapshot_session {
            Some(second) => second.answers().await,
            None => false,
        };
        if !second_answers {
            if self.snapshot_session.take().is_some() {
                ended.push("snapshot connection");
            }
            match self.session.reopen().await {
                Ok(second) => self.snapshot_session = Some(second),
                Err(error) => refused = Some(describe_error(&error)),
            }
        }
        self.prepare_snapshot_query().await?;
        if !ended.is_empty() {
            let mut message = format!(
                "terminated migration-check's own {} to the server (it ends other sessions: on a shared server, other clients' too); re-opened, and the verification went on",
                ended.join(" and ")
            );
            if let Some(refused) = refused {
                message.push_str(&format!(
                    "; the database now refuses a second connection ({refused}), so snapshots read the catalogs on one"
                ));
            }
            let script = self.last_script.clone();
            self.terminated.push((message, script));
        }
        Ok(())
    }

    /// Prepares the catalog query again for the current connections (a new database,
    /// or connections re-opened).
    async fn prepare_snapshot_query(&mut self) -> Result<(), EnvironmentError> {
        self.snapshot_query = prepare_snapshot(
            self.server,
            self.options,
            &self.session,
            self.snapshot_session.as_ref(),
        )
        .await?;
        Ok(())
    }

    fn last_script_name(&self) -> String {
        self.last_script
            .as_ref()
            .map_or("the last script".into(), |s| s.path.display().to_string())
    }

    async fn snapshot_current(&mut self) -> Result<Snapshot, EnvironmentError> {
        if let Some(snapshot) = self.current.take() {
            return Ok(snapshot);
        }
        let started = Instant::now();
        let snapshot = match self.capture().await {
            Ok(snapshot) => snapshot,
            Err(first) => {
                // A migration may have terminated our connections or
                // discarded our prepared statements (DISCARD ALL): a dead
                // server is the environment's failure, anything else is
                // repaired once.
                let script = self.last_script.as_ref().map(|s| s.path.clone());
                self.server_alive(
                    script.as_deref().unwrap_or(std::path::Path::new("setup")),
                    &describe_error(&first),
                )
                .await?;
                self.recover_connections().await?;
                self.capture()
                    .await
                    .map_err(|e| connection_error(self.server, "a schema snapshot", &e))?
            }
        };
        self.timings.snapshots += millis(started.elapsed());
        self.timings
            .snapshot_captures
            .add(self.snapshot_query.take_counts());
        self.uncompared.add(&snapshot.uncompared);
        Ok(snapshot)
    }

    async fn capture(&self) -> Result<Snapshot, tokio_postgres::Error> {
        let snapshot = self
            .snapshot_query
            .capture_on(
                &self.session.client,
                self.snapshot_session.as_ref().map(|s| &s.client),
                self.options.data_rows,
            )
            .await?;
        Ok(snapshot.without_tables(&self.bookkeeping))
    }

    /// A fresh database with every up before `index` applied once: a copy of the newest
    /// checkpoint at or before `index` with the ups after it applied, else an empty
    /// database with every up applied. The state reached becomes the checkpoint, so a run
    /// with many failures re-applies each up at most once more in all.
    /// `Ok(Err(reason))` when that state cannot be reached again.
    async fn rebuild(&mut self, index: usize) -> Result<Result<(), String>, EnvironmentError> {
        let started = Instant::now();
        let scripts = self.timings.scripts;
        let rebuilt = self.rebuild_from_checkpoint(index).await;
        self.timings.scripts = scripts;
        self.timings.rebuilds += millis(started.elapsed());
        rebuilt
    }

    async fn rebuild_from_checkpoint(
        &mut self,
        index: usize,
    ) -> Result<Result<(), String>, EnvironmentError> {
        self.current = None;
        self.needs_rebuild = false;
        // A checkpoint exists only where copies are faithful (see `take_checkpoint`).
        let from = self
            .checkpoint
            .clone()
            .filter(|(applied, _)| *applied <= index);
        self.snapshot_session = None;
        let start = match from {
            Some((applied, name)) => {
                self.session = self.databases.fresh_from(&name).await?;
                applied
            }
            None => {
                self.session = self.databases.fresh().await?;
                0
            }
        };
        for migration in &self.migrations[start..index] {
            let mut scratch = notes_only();
            if let Step::Failed(failure) = self.step(&migration.up, &mut scratch).await? {
                return Ok(Err(format!(
                    "could not rebuild the database: re-applying version {} failed: {}",
                    migration.version,
                    failure.message.lines().next().unwrap_or_default()
                )));
            }
        }
        if index > start {
            self.take_checkpoint(index).await?;
        }
        self.snapshot_session = Some(self.databases.connect_newest().await?);
        self.prepare_snapshot_query().await?;
        Ok(Ok(()))
    }

    /// Keeps the database, with the first `applied` ups applied, as the checkpoint, and
    /// goes on in a copy (when copies are faithful).
    async fn take_checkpoint(&mut self, applied: usize) -> Result<(), EnvironmentError> {
        if !self.copies_are_faithful {
            return Ok(());
        }
        self.snapshot_session = None;
        let (name, session) = self.databases.checkpoint().await?;
        self.session = session;
        self.checkpoint = Some((applied, name));
        Ok(())
    }

    /// The schema before the first migration under verification against the
    /// schema now (after every up): what the change set does, for reviewers, and the
    /// diagram of the tables it touches.
    async fn net_changes(
        &mut self,
    ) -> Result<(Vec<SchemaChange>, Option<Diagram>), EnvironmentError> {
        let Some(before) = self.first_before.take() else {
            return Ok((Vec::new(), None));
        };
        // A failed down or re-up left the database elsewhere than "every up applied".
        if self.needs_rebuild && self.blocked_by.is_none() {
            let end = self.migrations.len();
            if let Err(reason) = self.rebuild(end).await? {
                self.run_notes
                    .push(format!("schema changes not shown: {reason}"));
                return Ok((Vec::new(), None));
            }
        }
        let after = self.snapshot_current().await?;
        let changes = diff(&before, &after);
        let described = changes
            .iter()
            .map(|change| describe::schema_change(change, &before, &after))
            .collect();
        let diagram = erd::diagram(&before, &after, &changes);
        self.current = Some(after);
        Ok((described, (!diagram.entities.is_empty()).then_some(diagram)))
    }

    /// Step 2, with any connections of ours terminated meanwhile reported.
    async fn sequence(
        &mut self,
        reports: &[MigrationReport],
        progress: &mut dyn Progress,
    ) -> Result<SequenceReport, EnvironmentError> {
        let mut report = self.walk_sequence(reports, progress).await?;
        self.report_terminated(&mut report.problems);
        Ok(report)
    }

    /// Step 2: down(Mn..Mk) must give the schema before Mk; up(Mk..Mn) the final one.
    async fn walk_sequence(
        &mut self,
        reports: &[MigrationReport],
        progress: &mut dyn Progress,
    ) -> Result<SequenceReport, EnvironmentError> {
        let skipped = |note: &str| SequenceReport {
            versions: Default::default(),
            status: SequenceStatus::Skipped,
            from_version: None,
            to_version: None,
            problems: Vec::new(),
            note: Some(note.to_string()),
        };
        if reports.iter().any(|r| !is_acceptable(r)) {
            return Ok(skipped(
                "skipped: a migration failed, so the sequence cannot be trusted",
            ));
        }
        let Some((start, before)) = self.cycle_start.take() else {
            return Ok(skipped(
                "skipped: no migration under verification has a down script",
            ));
        };
        let cycle = &self.migrations[start..];
        if cycle.len() < 2 {
            return Ok(skipped(
                "skipped: a single migration, already proved by its own up → down → up",
            ));
        }
        progress.sequence_started(cycle.len());
        let mut report = SequenceReport {
            versions: Default::default(),
            status: SequenceStatus::Passed,
            from_version: Some(cycle[0].version.text.clone()),
            to_version: cycle.last().map(|m| m.version.text.clone()),
            problems: Vec::new(),
            note: None,
        };
        let final_schema = self.snapshot_current().await?;
        let mut scratch = notes_only();
        for migration in cycle.iter().rev() {
            let down = migration
                .down
                .as_ref()
                .expect("the cycle starts after the last migration without down");
            if let Step::Failed(failure) = self.step(down, &mut scratch).await? {
                report.status = SequenceStatus::Failed;
                let mut problem = failure_problem(&failure);
                problem.kind = "sequence_down".into();
                problem.message = format!(
                    "in the reverse run of downs, version {}: {}",
                    migration.version, problem.message
                );
                report.problems.push(problem);
                return Ok(report);
            }
        }
        let after_downs = self.snapshot_current().await?;
        let last_down = cycle[0].down.as_ref().expect("checked above");
        if self.judge(
            &diff(&before, &after_downs),
            Phase::SequenceDown,
            last_down,
            &mut report.problems,
        ) {
            report.status = SequenceStatus::Failed;
            return Ok(report);
        }
        for migration in cycle {
            if let Step::Failed(failure) = self.step(&migration.up, &mut scratch).await? {
                report.status = SequenceStatus::Failed;
                let mut problem = failure_problem(&failure);
                problem.kind = "sequence_up".into();
                problem.message = format!(
                    "re-applying version {} after all downs: {}",
                    migration.version, problem.message
                );
                report.problems.push(problem);
                return Ok(report);
            }
        }
        let after_ups = self.snapshot_current().await?;
        let last_up = &cycle[cycle.len() - 1].up;
        if self.judge(
            &diff(&final_schema, &after_ups),
            Phase::SequenceUp,
            last_up,
            &mut report.problems,
        ) {
            report.status = SequenceStatus::Failed;
        }
        Ok(report)
    }
}

/// The catalog query of a database verify walks: incremental unless
/// `--full-snapshots`.
async fn prepare_snapshot(
    server: &dyn Server,
    options: &VerifyOptions,
    session: &Session,
    second: Option<&Session>,
) -> Result<SnapshotQuery, EnvironmentError> {
    let second = second.map(|s| &s.client);
    match (options.full_snapshots, second) {
        (false, second) => SnapshotQuery::prepare_incremental(&session.client, second).await,
        (true, Some(second)) => SnapshotQuery::prepare_parallel(&session.client, second).await,
        (true, None) => SnapshotQuery::prepare(&session.client).await,
    }
    .map_err(|e| connection_error(server, "preparing the schema snapshot", &e))
}

/// A report that only collects the notes of scripts run outside a
/// migration's own verification (rebuilds, the sequence cycle).
fn notes_only() -> MigrationReport {
    MigrationReport {
        versions: Default::default(),
        version: String::new(),
        name: String::new(),
        files: Vec::new(),
        new: false,
        status: Status::Applied,
        problems: Vec::new(),
        timings_ms: StepTimings::default(),
        notes: Vec::new(),
        locks: Vec::new(),
    }
}

fn add_notes(notes: &mut Vec<String>, new: Vec<String>) {
    for note in new {
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
}

fn problem(
    kind: &str,
    severity: Severity,
    message: String,
    at: Option<(&Script, usize)>,
) -> Problem {
    Problem {
        versions: Vec::new(),
        kind: kind.to_string(),
        severity,
        message,
        file: at.map(|(script, _)| script.path.display().to_string()),
        line: at.map(|(script, line)| script.line_offset + line),
        column: None,
        object: None,
    }
}

fn failure_problem(failure: &ScriptFailure) -> Problem {
    let kind = match &failure.kind {
        FailureKind::Sql(_) => "sql_error",
        FailureKind::Timeout => "timeout",
        FailureKind::OpenTransaction => "open_transaction",
        FailureKind::ConnectionLost => "connection_lost",
        FailureKind::Command => "command_failed",
    };
    Problem {
        versions: Vec::new(),
        kind: kind.to_string(),
        severity: Severity::Error,
        message: failure.message.clone(),
        file: failure
            .location
            .as_ref()
            .map(|l| l.path.display().to_string()),
        line: failure.location.as_ref().map(|l| l.line),
        column: failure.location.as_ref().map(|l| l.column),
        object: None,
    }
}
