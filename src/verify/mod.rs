//! The verification pipeline of DESIGN.md, step by step: every migration's up
//! is applied in version order; each migration under verification runs
//! up → down → up with a snapshot after every step, proving that down restores
//! the schema from before up and that up re-applies to the same schema; then
//! the sequence cycle runs all downs in reverse and all ups again. A failure
//! never hides later verdicts: the database is rebuilt up to the last good
//! point and the walk continues. Produces the report model; talks to
//! PostgreSQL only through `postgres`.
//!
//! This file holds the walk's state (`Pipeline`) and its order; each step has a file:
//! `walk` (one migration's verdict), `history` (merged history applied in batches),
//! `steps` (running one script), `recovery` (connections, rebuilds, checkpoints,
//! snapshots), `sequence` (the sequence cycle), `rehearsal` (lock analysis on
//! generated rows), `cached_base` (PR mode's cached base state).

pub mod base;
mod cached_base;
mod compat;
mod describe;
mod drawn_values;
mod history;
mod recovery;
mod rehearsal;
mod sequence;
mod steps;
pub mod versions;
mod walk;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::cache;
use crate::compat::{CompatInput, CompatSummary};
use crate::error::EnvironmentError;
use crate::migrations::{Discovered, Migration, Script};
use crate::policy::Policy;
use crate::postgres::script::{FailureKind, ScriptFailure};
use crate::postgres::{Databases, Server, Session, Timeouts, connection_error};
use crate::report::progress::Progress;
use crate::report::{
    MigrationReport, PostgresInfo, Problem, Report, RunTimings, SCHEMA_VERSION, SchemaChange,
    SequenceReport, SequenceStatus, Severity, Status, StepTimings,
};
use crate::schema::Snapshot;
use crate::schema::diff::diff;
use crate::schema::erd::{self, Diagram};
use crate::schema::fingerprint::DataRows;
use crate::schema::options::UncomparedSummary;
use crate::schema::snapshot::SnapshotQuery;

pub use cached_base::{BaseStateUse, base_state_prefix};
pub use describe::Phase;

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
    /// With `stats`, the largest size a blocking finding is timed at (`--lock-rows-max`).
    pub lock_rows_max: u64,
    /// Production's statistics (`--stats`): rows shaped like production's, blocking
    /// findings extrapolated to its table sizes, failures on data weighed by its rows.
    pub stats: Option<std::sync::Arc<crate::analysis::stats::Stats>>,
    /// The application's SQL, judged on the changed schema (see [`compat`]); `None`
    /// without a source.
    pub compat: Option<CompatInput>,
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
    let environment = discovered.format().environment_sql();
    let history = history_table_sql(discovered);
    if environment.is_some() || history.is_some() {
        let sql = environment.into_iter().chain(history.as_deref()).collect();
        databases.prepare_fresh_databases_with(sql);
    }
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
        compat,
    } = result?;
    let any_up_failed = migrations.iter().any(|m| m.status == Status::FailedUp);
    timings.setup = millis(setup);
    timings.total = millis(setup + started.elapsed());
    let passed = migrations.iter().all(is_acceptable)
        && sequence.status != SequenceStatus::Failed
        && !migrations
            .iter()
            .any(|m| m.problems.iter().any(|p| p.severity == Severity::Error))
        && !migrations
            .iter()
            .any(|m| m.compat.iter().any(|f| f.severity == Severity::Error));
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
        compat,
        notes: discovery_notes(discovered)
            .into_iter()
            .chain(environment.map(|sql| {
                format!(
                    "every throwaway database was first prepared as the {} server prepares \
                     one: {sql}",
                    discovered.format().name()
                )
            }))
            .chain(uncompared.notes())
            .chain(notes)
            .chain(
                discovered
                    .format()
                    .server_advice()
                    .filter(|_| any_up_failed)
                    .map(str::to_string),
            )
            .collect(),
        ignored_files: discovered
            .ignored
            .iter()
            .map(|path| path.display().to_string())
            .collect(),
        timings_ms: timings,
    })
}

/// The tool's history table, created as the tool creates it before its first migration
/// (Harbor's migration 30 alters golang-migrate's `schema_migrations`); none where the
/// migrations run through the tool's own command, which makes its table itself. Snapshots
/// leave it out (see [`history_tables`]).
fn history_table_sql(discovered: &Discovered) -> Option<String> {
    let through_tool = discovered
        .migrations
        .iter()
        .any(|m| m.up.step.is_some() || m.down.as_ref().is_some_and(|d| d.step.is_some()));
    if through_tool {
        return None;
    }
    let book = discovered.format().bookkeeping()?;
    Some(format!("{}\n", book.create_sql_for(&discovered.migrations)))
}

/// The tables snapshots leave out: the format's history table and those the migrations'
/// tool commands record in.
fn history_tables(discovered: &Discovered) -> BTreeSet<String> {
    discovered
        .migrations
        .iter()
        .flat_map(|m| [Some(&m.up), m.down.as_ref()])
        .flatten()
        .filter_map(|script| script.step.as_ref())
        .flat_map(|step| step.bookkeeping.iter().cloned())
        .chain(discovered.format().history_table().map(str::to_string))
        .collect()
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
    /// What was judged of the running code.
    compat: Option<CompatSummary>,
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
    /// DATABASE`), which `CREATE DATABASE … TEMPLATE` does not copy, and we cannot
    /// carry it over (see [`Databases::copies_keep_settings`]).
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
    /// What the data fingerprints compare (`--data-rows`), without the columns whose
    /// values the migrations draw (see [`drawn_values`]).
    data_rows: Option<DataRows>,
    /// Migrations without a down that are told about once, in the run's notes.
    without_down: WithoutDown,
    /// The base schema the running code is judged on: the migrations applied before it
    /// and the checkpoint's name, or why there is none (see [`compat`]).
    compat_base: Option<Result<(usize, String), String>>,
}

/// Migrations without a down that get no problem of their own (see
/// [`Pipeline::applied_once`]).
#[derive(Debug, Default)]
struct WithoutDown {
    /// Merged ones, in a pull request's run.
    merged: usize,
    /// Under verification in an up-only project, under the `auto` policy.
    up_only: usize,
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

impl Pipeline<'_, '_, '_> {
    /// `--data-rows` without the columns whose values the migrations draw (see
    /// [`drawn_values`]), each named in the run's notes.
    async fn data_rows_drawn_by(
        &mut self,
        migrations: &[Migration],
    ) -> Result<Option<DataRows>, EnvironmentError> {
        let Some(limit) = self.options.data_rows else {
            return Ok(None);
        };
        let scripts: Vec<&Script> = migrations
            .iter()
            .flat_map(|m| [Some(&m.up), m.down.as_ref()])
            .flatten()
            .filter(|script| script.step.is_none())
            .collect();
        let server = self
            .session
            .client
            .query(drawn_values::SERVER_VOLATILE_FUNCTIONS, &[])
            .await
            .map_err(|e| connection_error(self.server, "reading the volatile functions", &e))?;
        let volatile = drawn_values::volatile_functions(
            scripts.iter().copied(),
            server.iter().map(|row| row.get::<_, String>(0)),
        );
        let drawn = drawn_values::drawn(scripts.iter().copied(), &volatile);
        for found in &drawn {
            let at = format!("{}:{}", found.path.display(), found.line);
            self.run_notes.push(match &found.column {
                Some(column) => format!(
                    "data of table {} compared by row count, not content, in column {column}: {at} draws its values with {}()",
                    found.table, found.function
                ),
                None => format!(
                    "data of table {} compared by row count only: {at} draws values with {}() without naming their columns",
                    found.table, found.function
                ),
            });
        }
        Ok(Some(DataRows {
            limit,
            by_count: drawn_values::by_count(&drawn),
        }))
    }
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
        let copies_keep_settings = databases.copies_keep_settings();
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
            copies_are_faithful: copies_keep_settings
                || discovered
                    .migrations
                    .iter()
                    .all(|m| !sets_database_settings(&m.up.sql)),
            run_notes: Vec::new(),
            blocked_by: None,
            uncompared: UncomparedSummary::default(),
            bookkeeping: history_tables(discovered),
            no_batches: false,
            rehearsal: None,
            rehearsal_tried: false,
            filled_tables: 0,
            data_rows: None,
            without_down: WithoutDown::default(),
            compat_base: None,
        };
        pipeline.data_rows = pipeline.data_rows_drawn_by(&discovered.migrations).await?;
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
            if options
                .compat
                .as_ref()
                .is_some_and(|c| c.is_changed(&discovered.migrations[index].version.text))
            {
                pipeline.keep_compat_base(index).await?;
            }
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
        pipeline.note_without_down();
        let (schema_changes, schema_diagram) = pipeline.net_changes().await?;
        pipeline.note_unknown_stats_tables().await;
        let compat = match &options.compat {
            Some(_) => pipeline.judge_compat(&mut reports).await?,
            None if options.under_verification.is_some() => {
                compat::unsourced_notes(&schema_changes)
            }
            None => None,
        };
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
            compat,
        })
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
        compat: Vec::new(),
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
