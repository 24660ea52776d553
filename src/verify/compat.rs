//! Running code on the changed schema (see [`crate::compat`]): which code meets which
//! schema, and what a breakage weighs.
//!
//! Before the first migration the change adds, the database is kept as a checkpoint: the
//! base schema. After the walk, two copies of it are made and filled alike with a few
//! generated rows per table the statements reach (a foreign key then finds its parent, an
//! UPDATE its row). The control copy stays the base schema. The walk copy applies the
//! change's ups one by one, and after each of them the old code's statements that still
//! work are judged against their control: what breaks is owed to that migration (the
//! deploy window). There, on the migrated schema, the new code is the control for the
//! rollback window: the change's downs run in reverse, the new code judged after each. With
//! `order = "code-first"` the new code is also judged on the control copy (the base schema)
//! instead of the deploy window. When an up cannot run on the generated rows, the walk
//! copy gets its rows after each up instead, or after all of them (the old code then judged
//! once, each breakage owed to the up it blames), empty tables being the last resort; each
//! is said in a note. Where the judged copy's rows are not its control's (generated after an
//! up, or after the downs), a write that fails on a row it meets is not judged: only the
//! schema's own refusals count.

use std::collections::BTreeSet;
use std::time::Instant;

use super::{Pipeline, millis};
use crate::analysis::rows;
use crate::compat::command::{self, TestCommand, TestRun};
use crate::compat::judge::{self, BreakKind, Breakage, Control};
use crate::compat::{AppStatement, CompatFinding, CompatInput, CompatSummary, NotJudged, Window};
use crate::error::EnvironmentError;
use crate::migrations::{Script, lexer};
use crate::policy::{DeployOrder, Level, Severity};
use crate::postgres::Session;
use crate::postgres::script;
use crate::report::{MigrationReport, SchemaChange};

/// Rows generated into each table the statements reach before they are judged.
const ROWS: u64 = 20;

/// One script of the walk after which statements are judged: in which window, at which
/// level, owed to which migration.
struct Step<'a> {
    window: Window,
    level: Level,
    /// The scripts that ran since the last step (one, or every up at once when the rows
    /// come after the ups) and the index of each one's migration.
    scripts: &'a [&'a Script],
    indices: &'a [usize],
    /// Whether another step follows in this window, which judges everything still
    /// pending: this one judges only the statements that use a name its scripts use (what
    /// they cannot have touched is left for the last step, which owes it to its migration).
    more: bool,
    /// Whether the judged copy holds the rows its control holds (filled alike before the
    /// ups, or both empty). When its rows were generated after an up, a write that fails
    /// on a row it meets (a foreign key, a unique key, a CHECK, a trigger) may fail on rows
    /// the control never had: not judged, and said so.
    shared_rows: bool,
}

/// Whether a write's error can come from the rows it meets rather than from the schema: a
/// constraint other than NOT NULL (class 23), a trigger's exception (P0001), a conflict
/// with another transaction (class 40).
fn depends_on_rows(sqlstate: &str) -> bool {
    (sqlstate.starts_with("23") && sqlstate != "23502")
        || sqlstate == "P0001"
        || sqlstate.starts_with("40")
}

/// Judges the statements still `pending` (working so far) after `step`'s scripts: each
/// that breaks now becomes a finding owed to the migration whose statement it blames (see
/// [`blame`]) and is judged no further.
async fn judge_step(
    walk: &Session,
    statements: &[AppStatement],
    pending: &mut [Option<&Control>],
    step: Step<'_>,
    pass: &mut Pass,
) -> Result<(), tokio_postgres::Error> {
    let view: Vec<Option<&Control>> = match step.more {
        false => pending.to_vec(),
        true => {
            let touched: BTreeSet<String> = step
                .scripts
                .iter()
                .flat_map(|script| names_used(&script.sql))
                .collect();
            pending
                .iter()
                .zip(statements)
                .map(|(control, statement)| {
                    control.filter(|_| !names_used(&statement.sql).is_disjoint(&touched))
                })
                .collect()
        }
    };
    let breakages = judge::changed(&walk.client, statements, &view).await?;
    for (at, breakage) in breakages.into_iter().enumerate() {
        if let Some(breakage) = breakage {
            pending[at] = None;
            if !step.shared_rows
                && breakage.kind == BreakKind::Write
                && depends_on_rows(&breakage.error.code)
            {
                push_not_judged(
                    pass,
                    &statements[at],
                    format!(
                        "fails in the {} window on a row it meets ({}), and {}: not a verdict on the schema",
                        step.window.as_str(),
                        breakage.error.text(),
                        match step.window {
                            Window::Rollback =>
                                "the rows after the downs are not those its control had",
                            _ => "those rows were generated after the change, its control's before",
                        }
                    ),
                );
                continue;
            }
            let owner = blame(step.scripts, &breakage.error.names, &statements[at].sql)
                .map_or(0, |(owner, _)| owner);
            let found = finding(
                step.window,
                step.level,
                &statements[at],
                breakage,
                &step.scripts[owner..=owner],
            );
            pass.findings
                .extend(found.map(|f| (step.indices[owner], f)));
        }
    }
    Ok(())
}

/// Limits for the application's statements in our copies: one that hangs is not judged.
const LIMITS: &str = "SET statement_timeout = '10s'; SET lock_timeout = '2s'";

/// What one pass over the copies found.
#[derive(Default)]
struct Pass {
    /// Each finding and the index of the migration it is owed to.
    findings: Vec<(usize, CompatFinding)>,
    judged: usize,
    not_judged: Vec<NotJudged>,
    notes: Vec<String>,
}

/// Why a pass stopped (a script failed in a copy, a copy stopped answering).
type Stopped = String;

/// When the copies get their generated rows. Tried in this order: an up that cannot run
/// on rows (a new NOT NULL column without a default) moves the rows after it, a script
/// that fails even so leaves the tables empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rows {
    /// Both copies filled alike before the ups.
    BeforeUps,
    /// The control filled; the walk copy filled after each up (the same generator gives
    /// the same keys), tables filled once.
    AfterEachUp,
    /// The control filled; the walk copy filled after all the ups, the old code judged
    /// once then (each breakage owed to the up whose statement it blames).
    AfterAllUps,
    /// No rows: writes that need a parent row are not judged.
    None,
}

impl Pipeline<'_, '_, '_> {
    /// Before the first migration the change adds (`index`): keeps the database as the
    /// base schema the running code is judged on, or records why it cannot.
    pub(super) async fn keep_compat_base(&mut self, index: usize) -> Result<(), EnvironmentError> {
        if self.compat_base.is_some() {
            return Ok(());
        }
        let reason = if self.blocked_by.is_some() {
            Some("an earlier migration's up failed".to_string())
        } else if !self.copies_are_faithful {
            Some(
                "a migration sets something per database (ALTER DATABASE … SET), which a copy of the database would not have"
                    .to_string(),
            )
        } else if self.migrations[index..]
            .iter()
            .flat_map(|m| [Some(&m.up), m.down.as_ref()])
            .flatten()
            .any(|script| script.step.is_some())
        {
            Some(
                "the migrations run through their tool, which is not run again in copies"
                    .to_string(),
            )
        } else {
            None
        };
        let kept = match reason {
            Some(reason) => Err(reason),
            None => {
                if self.needs_rebuild
                    && let Err(reason) = self.rebuild(index).await?
                {
                    self.compat_base = Some(Err(reason));
                    return Ok(());
                }
                match self.checkpoint_at(index).await? {
                    Some(name) => Ok((index, name)),
                    None => Err("the database could not be kept".to_string()),
                }
            }
        };
        self.compat_base = Some(kept);
        Ok(())
    }

    /// Judges the running code in every window the policy asks for, adding each finding to
    /// the report of the migration it is owed to; the summary for the report (`None`
    /// without any source of the application's SQL).
    pub(super) async fn judge_compat(
        &mut self,
        reports: &mut [MigrationReport],
    ) -> Result<Option<CompatSummary>, EnvironmentError> {
        let Some(input) = self.options.compat.as_ref() else {
            return Ok(None);
        };
        let mut summary = CompatSummary {
            sources: input.sources.clone(),
            notes: input.notes.clone(),
            ..CompatSummary::default()
        };
        let base = match (&input.changed, self.compat_base.clone()) {
            (None, _) => Err(
                "without a base (--base) every migration is new and no code ran before them"
                    .to_string(),
            ),
            (Some(_), None) => Err("the change adds no migration".to_string()),
            (Some(_), Some(kept)) => kept,
        };
        let (first, base) = match base {
            Ok(base) => base,
            Err(reason) => {
                summary
                    .notes
                    .push(format!("running code not judged: {reason}"));
                return Ok(Some(summary));
            }
        };
        if input.is_empty() {
            summary
                .notes
                .push("running code not judged: its sources hold no statement".to_string());
            return Ok(Some(summary));
        }
        let started = Instant::now();
        for rows in [
            Rows::BeforeUps,
            Rows::AfterEachUp,
            Rows::AfterAllUps,
            Rows::None,
        ] {
            match self.compat_pass(input, first, &base, rows).await? {
                Ok(pass) => {
                    summary.judged = pass.judged;
                    summary.not_judged = pass.not_judged;
                    summary.notes.extend(pass.notes);
                    for (index, finding) in pass.findings {
                        reports[index].compat.push(finding);
                    }
                    break;
                }
                Err(reason) => summary.notes.push(match rows {
                    Rows::BeforeUps => format!(
                        "running code: with {ROWS} generated rows per table before the ups, {reason}; the rows were generated after each up instead"
                    ),
                    Rows::AfterEachUp => format!(
                        "running code: with rows generated after each up, {reason}; the rows were generated after all the ups instead, the old code judged once after them"
                    ),
                    Rows::AfterAllUps => format!(
                        "running code judged on empty tables: with generated rows, {reason}"
                    ),
                    Rows::None => format!("running code not judged: {reason}"),
                }),
            }
        }
        if let Some(command) = &input.command {
            self.command_pass(command, input, first, &base, &mut summary, reports)
                .await?;
        }
        self.timings.compat = millis(started.elapsed());
        Ok(Some(summary))
    }

    /// One pass: the copies made from `base` (filled with rows when `populate`), the
    /// windows judged.
    async fn compat_pass(
        &mut self,
        input: &CompatInput,
        first: usize,
        base: &str,
        rows: Rows,
    ) -> Result<Result<Pass, Stopped>, EnvironmentError> {
        let control = self.databases.side_copy(base).await?;
        let walk = self.databases.side_copy(base).await?;
        for (session, fill) in [
            (&control, rows != Rows::None),
            (&walk, rows == Rows::BeforeUps),
        ] {
            session.client.batch_execute(LIMITS).await.map_err(|e| {
                crate::postgres::connection_error(self.server, "limiting a copy", &e)
            })?;
            let filled = match fill {
                true => {
                    WalkRows::default()
                        .fill(session, input, &self.bookkeeping)
                        .await
                }
                false => Ok(()),
            };
            if let Err(error) = filled {
                return Ok(Err(format!(
                    "a copy could not be filled: {}",
                    crate::postgres::describe_error(&error)
                )));
            }
        }
        // The walk copy's own rows, filled after each up, are tracked from empty.
        let mut walk_rows = WalkRows::default();
        let policy = self.options.policy.compat;
        let code_first = policy.order == DeployOrder::CodeFirst;
        let deploy = if code_first {
            Level::Off
        } else {
            policy.deploy
        };
        let changed: Vec<usize> = (first..self.migrations.len())
            .filter(|&i| input.is_changed(&self.migrations[i].version.text))
            .collect();
        let mut pass = Pass::default();
        let timeouts = self.options.timeouts;
        let failed = |e: tokio_postgres::Error| {
            format!(
                "a copy stopped answering: {}",
                crate::postgres::describe_error(&e)
            )
        };

        // Deploy: the old code, its control the base schema, judged after each up.
        let old_controls = match deploy {
            Level::Off => Vec::new(),
            _ => match judge::control(&control.client, &input.old).await {
                Ok(controls) => controls,
                Err(e) => return Ok(Err(failed(e))),
            },
        };
        let mut pending: Vec<Option<&Control>> = old_controls.iter().map(Some).collect();
        for index in first..self.migrations.len() {
            let migration = &self.migrations[index];
            if let Err(failure) = script::run_script(&walk, &migration.up, timeouts).await {
                return Ok(Err(format!(
                    "{} failed in the copy the code is judged in: {}",
                    migration.up.path.display(),
                    failure.message.lines().next().unwrap_or_default()
                )));
            }
            if rows == Rows::AfterEachUp
                && let Err(error) = walk_rows.fill(&walk, input, &self.bookkeeping).await
            {
                return Ok(Err(format!(
                    "a copy could not be filled after {}: {}",
                    migration.up.path.display(),
                    crate::postgres::describe_error(&error)
                )));
            }
            if deploy == Level::Off || !changed.contains(&index) || rows == Rows::AfterAllUps {
                continue;
            }
            let step = Step {
                window: Window::Deploy,
                level: deploy,
                scripts: &[&migration.up],
                indices: &[index],
                more: changed.last() != Some(&index),
                shared_rows: matches!(rows, Rows::BeforeUps | Rows::None),
            };
            if let Err(e) = judge_step(&walk, &input.old, &mut pending, step, &mut pass).await {
                return Ok(Err(failed(e)));
            }
        }
        if rows == Rows::AfterAllUps {
            if let Err(error) = walk_rows.fill(&walk, input, &self.bookkeeping).await {
                return Ok(Err(format!(
                    "a copy could not be filled after the ups: {}",
                    crate::postgres::describe_error(&error)
                )));
            }
            if deploy != Level::Off {
                let ups: Vec<&Script> = changed.iter().map(|&i| &self.migrations[i].up).collect();
                let step = Step {
                    window: Window::Deploy,
                    level: deploy,
                    scripts: &ups,
                    indices: &changed,
                    more: false,
                    shared_rows: false,
                };
                if let Err(e) = judge_step(&walk, &input.old, &mut pending, step, &mut pass).await {
                    return Ok(Err(failed(e)));
                }
            }
        }
        if deploy != Level::Off {
            count(&mut pass, &input.old, &old_controls);
        }

        // The new code on the migrated schema: the control of rollback and code first.
        let rollback = policy.rollback;
        let new_controls = if rollback == Level::Off && !code_first {
            Vec::new()
        } else {
            match judge::control(&walk.client, &input.new).await {
                Ok(controls) => controls,
                Err(e) => return Ok(Err(failed(e))),
            }
        };

        if code_first && policy.deploy != Level::Off {
            let mut pending: Vec<Option<&Control>> = new_controls.iter().map(Some).collect();
            let ups: Vec<&Script> = changed.iter().map(|&i| &self.migrations[i].up).collect();
            let step = Step {
                window: Window::CodeFirst,
                level: policy.deploy,
                scripts: &ups,
                indices: &changed,
                more: false,
                shared_rows: matches!(rows, Rows::BeforeUps | Rows::None),
            };
            if let Err(e) = judge_step(&control, &input.new, &mut pending, step, &mut pass).await {
                return Ok(Err(failed(e)));
            }
            count(&mut pass, &input.new, &new_controls);
        }

        // Rollback: the new code after each down, in reverse.
        if rollback != Level::Off {
            let mut pending: Vec<Option<&Control>> = new_controls.iter().map(Some).collect();
            for &index in changed.iter().rev() {
                let migration = &self.migrations[index];
                let Some(down) = migration
                    .down
                    .as_ref()
                    .filter(|_| !migration.version.is_repeatable())
                else {
                    pass.notes.push(format!(
                        "rollback window judged only down to migration {}: it has no down",
                        migration.version.text
                    ));
                    break;
                };
                if let Err(failure) = script::run_script(&walk, down, timeouts).await {
                    // The deploy window's verdicts stand; the rollback window stops here
                    // (a down that fails on generated rows is said so too).
                    pass.notes.push(format!(
                        "rollback window judged only down to migration {}: its down failed in the copy{} ({})",
                        migration.version.text,
                        if rows == Rows::None { "" } else { ", which holds generated rows" },
                        failure.message.lines().next().unwrap_or_default()
                    ));
                    break;
                }
                let step = Step {
                    window: Window::Rollback,
                    level: rollback,
                    scripts: &[down],
                    indices: &[index],
                    more: changed.first() != Some(&index),
                    // A down that drops and re-creates a table loses the rows the control
                    // had there (a parent's): only the schema's own refusals count.
                    shared_rows: false,
                };
                if let Err(e) = judge_step(&walk, &input.new, &mut pending, step, &mut pass).await {
                    return Ok(Err(failed(e)));
                }
            }
            count(&mut pass, &input.new, &new_controls);
            base_behaviour_returns(&mut pass, input, &old_controls, &new_controls);
        }
        Ok(Ok(pass))
    }

    /// The application's test command in each window: the code's control run on its own
    /// schema, then the run on the schema it meets; a failure only there is a finding,
    /// with the errors the server logged that the control did not and the command's
    /// failing output lines.
    async fn command_pass(
        &mut self,
        command: &TestCommand,
        input: &CompatInput,
        first: usize,
        base: &str,
        summary: &mut CompatSummary,
        reports: &mut [MigrationReport],
    ) -> Result<(), EnvironmentError> {
        let policy = self.options.policy.compat;
        let changed: Vec<usize> = (first..self.migrations.len())
            .filter(|&i| input.is_changed(&self.migrations[i].version.text))
            .collect();
        let old = command.old_workdir.as_deref();
        let new = Some(command.new_workdir.as_path());
        let code_first = policy.order == DeployOrder::CodeFirst;
        // (window, level, code, control schema, changed schema)
        let windows = [
            (
                Window::Deploy,
                if code_first {
                    Level::Off
                } else {
                    policy.deploy
                },
                old,
                Reach::Base,
                Reach::Ups,
            ),
            (
                Window::CodeFirst,
                if code_first {
                    policy.deploy
                } else {
                    Level::Off
                },
                new,
                Reach::Ups,
                Reach::Base,
            ),
            (
                Window::Rollback,
                policy.rollback,
                new,
                Reach::Ups,
                Reach::Downs,
            ),
        ];
        for (window, level, workdir, control_at, changed_at) in windows {
            if level == Level::Off {
                continue;
            }
            let Some(workdir) = workdir else {
                summary.notes.push(format!(
                    "test command not run in the {} window: the base commit's code is not in local git",
                    window.as_str()
                ));
                continue;
            };
            let mut runs = Vec::new();
            for reach in [control_at, changed_at] {
                let database = match self.state_copy(base, first, &changed, reach).await? {
                    Ok(database) => database,
                    Err(reason) => {
                        summary.notes.push(format!(
                            "test command not run in the {} window: {reason}",
                            window.as_str()
                        ));
                        break;
                    }
                };
                let log = self.server.log_file();
                let run = command::run(
                    command,
                    workdir,
                    &database,
                    self.options.timeouts.command,
                    log.as_deref(),
                )
                .await
                .map_err(EnvironmentError::new)?;
                let stop = !run.passed;
                runs.push(run);
                if stop {
                    break;
                }
            }
            match runs.as_slice() {
                [control] if !control.passed => summary.notes.push(format!(
                    "test command `{}` not judged in the {} window: it fails on the schema its code was written for{}; its output:
{}",
                    command.display(),
                    window.as_str(),
                    if control.timed_out { " (killed at --command-timeout)" } else { "" },
                    control.failing_lines(10).join("
")
                )),
                [control, outcome] => {
                    summary.judged += 1;
                    if !outcome.passed {
                        let scripts: Vec<&Script> = match window {
                            Window::Rollback => changed
                                .iter()
                                .rev()
                                .filter_map(|&i| self.migrations[i].down.as_ref())
                                .collect(),
                            _ => changed.iter().map(|&i| &self.migrations[i].up).collect(),
                        };
                        let found =
                            test_finding(window, level, command, control, outcome, &scripts);
                        let owner = found.1;
                        let index = match window {
                            Window::Rollback => changed.iter().rev().nth(owner),
                            _ => changed.get(owner),
                        };
                        if let (Some(finding), Some(&index)) = (found.0, index) {
                            reports[index].compat.push(finding);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A new database at `reach`: a copy of the base state, with the ups of the migrations
    /// from `first` applied (`Ups`), and then the downs of `changed` in reverse (`Downs`);
    /// its connection parameters. `Ok(Err)`: a script failed there.
    async fn state_copy(
        &mut self,
        base: &str,
        first: usize,
        changed: &[usize],
        reach: Reach,
    ) -> Result<Result<tokio_postgres::Config, String>, EnvironmentError> {
        let session = self.databases.side_copy(base).await?;
        let timeouts = self.options.timeouts;
        let failed = |script: &Script, failure: crate::postgres::script::ScriptFailure| {
            format!(
                "{} failed in its copy: {}",
                script.path.display(),
                failure.message.lines().next().unwrap_or_default()
            )
        };
        if reach != Reach::Base {
            for migration in &self.migrations[first..] {
                if let Err(failure) = script::run_script(&session, &migration.up, timeouts).await {
                    return Ok(Err(failed(&migration.up, failure)));
                }
            }
        }
        if reach == Reach::Downs {
            for &index in changed.iter().rev() {
                let migration = &self.migrations[index];
                let Some(down) = migration.down.as_ref() else {
                    return Ok(Err(format!(
                        "migration {} has no down",
                        migration.version.text
                    )));
                };
                if let Err(failure) = script::run_script(&session, down, timeouts).await {
                    return Ok(Err(failed(down, failure)));
                }
            }
        }
        Ok(Ok(session.config().clone()))
    }

    /// A checkpoint of the database as it is now, `index` ups applied (the one there is
    /// when it is at `index`): its name, `None` when copies would not be faithful.
    pub(super) async fn checkpoint_at(
        &mut self,
        index: usize,
    ) -> Result<Option<String>, EnvironmentError> {
        if let Some((applied, name)) = &self.checkpoint
            && *applied == index
        {
            return Ok(Some(name.clone()));
        }
        self.take_checkpoint(index).await?;
        self.snapshot_session = Some(self.databases.connect_newest().await?);
        self.prepare_snapshot_query().await?;
        Ok(self.checkpoint.as_ref().map(|(_, name)| name.clone()))
    }
}

/// The tables of one copy filled so far, each with [`ROWS`] rows (the same rows in every
/// copy: the generator is deterministic), never twice.
#[derive(Default)]
struct WalkRows {
    filler: Option<rows::Filler>,
    seen: BTreeSet<u32>,
}

impl WalkRows {
    /// Fills the tables the statements reach that were not filled yet.
    async fn fill(
        &mut self,
        session: &Session,
        input: &CompatInput,
        bookkeeping: &BTreeSet<String>,
    ) -> Result<(), tokio_postgres::Error> {
        let texts: Vec<&str> = input
            .old
            .iter()
            .chain(&input.new)
            .map(|s| s.sql.as_str())
            .collect();
        let filler = match &self.filler {
            Some(filler) => filler,
            None => self
                .filler
                .insert(rows::Filler::prepare(&session.client).await?),
        };
        let filled = filler
            .fill(
                &session.client,
                ROWS,
                &rows::Scope {
                    seen: &self.seen,
                    skip: bookkeeping,
                    about: Some(&texts),
                    stats: None,
                },
            )
            .await?;
        self.seen.extend(filled.seen);
        Ok(())
    }
}

/// Without any source of the application's SQL, no verdict: the net changes running code
/// might feel, each with the way to write it so that it does not, and what would judge
/// them. `None` when the change has none.
pub(super) fn unsourced_notes(changes: &[SchemaChange]) -> Option<CompatSummary> {
    let new_tables: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c.change == "added" && c.kind == "table")
        .map(|c| c.name.as_str())
        .collect();
    let on_existing_table = |change: &SchemaChange| {
        change
            .table
            .as_deref()
            .is_none_or(|table| !new_tables.contains(table))
    };
    let definition = |change: &SchemaChange| {
        change
            .details
            .as_ref()
            .and_then(|d| d.definition.clone())
            .unwrap_or_default()
    };
    let mut notes = Vec::new();
    for change in changes {
        let name = &change.name;
        let note = match (change.change.as_str(), change.kind.as_str()) {
            (
                "removed",
                "table" | "view" | "materialized view" | "column" | "sequence" | "type" | "domain",
            ) => {
                format!(
                    "code that still uses {} {name} breaks: it is removed. Expand/contract: stop using it in one deploy, remove it in a later change",
                    change.kind
                )
            }
            ("removed", "function" | "procedure") => format!(
                "code that still calls {name} breaks: it is removed or its signature changed. Expand/contract: add the new signature beside the old one, remove the old one once no code calls it"
            ),
            ("changed", "column") => match change.attribute.as_deref() {
                Some("type") => format!(
                    "code that reads or writes {name} may break: its type changes from {} to {}. Expand/contract: add a column of the new type, write both, move the readers, then drop the old one",
                    change
                        .before
                        .as_ref()
                        .map(super::describe::value)
                        .unwrap_or_default(),
                    change
                        .after
                        .as_ref()
                        .map(super::describe::value)
                        .unwrap_or_default()
                ),
                Some("not_null") if change.after == Some(serde_json::Value::Bool(true)) => format!(
                    "code that inserts without {name} or writes NULL there breaks: it becomes NOT NULL. Expand/contract: give it a default, or enforce NOT NULL (CHECK … NOT VALID, then VALIDATE) once every writer sets it"
                ),
                _ => continue,
            },
            ("added", "constraint") if on_existing_table(change) => {
                let definition = definition(change);
                if definition.starts_with("PRIMARY KEY") {
                    continue;
                }
                let how = if definition.starts_with("UNIQUE") {
                    "build a unique index CONCURRENTLY once the code no longer writes duplicates, then add the constraint USING INDEX"
                } else {
                    "add it NOT VALID once the code writes only valid rows, then VALIDATE it"
                };
                format!(
                    "writes that violate the new constraint {name} ({definition}) break. Expand/contract: {how}"
                )
            }
            ("added", "index")
                if on_existing_table(change)
                    && definition(change).contains("UNIQUE")
                    && !backs_a_constraint(change, changes) =>
            {
                format!(
                    "writes that duplicate a key of the new unique index {name} break. Expand/contract: deploy the code that no longer writes duplicates first"
                )
            }
            _ => continue,
        };
        notes.push(note);
    }
    if notes.is_empty() {
        return None;
    }
    notes.push(
        "running code not judged: give its queries (--queries, [compat] queries), the statements it runs (--statements, --statements-from) or its tests (--compat-command) to turn these notes into verdicts"
            .to_string(),
    );
    Some(CompatSummary {
        notes,
        ..CompatSummary::default()
    })
}

/// Whether an added index is the one an added constraint of its table builds (a unique
/// constraint's), which the constraint's note covers.
fn backs_a_constraint(index: &SchemaChange, changes: &[SchemaChange]) -> bool {
    let bare = index.name.rsplit('.').next().unwrap_or(&index.name);
    changes.iter().any(|c| {
        c.change == "added"
            && c.kind == "constraint"
            && c.table == index.table
            && c.name.rsplit('.').next() == Some(bare)
    })
}

/// Which state of the change a test command runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Before the change.
    Base,
    /// After its ups.
    Ups,
    /// After its ups and then its downs.
    Downs,
}

/// The finding for a test command that passed on `control` and failed on `changed`
/// (`None` when its level is off), and which of `scripts` it is owed to.
fn test_finding(
    window: Window,
    level: Level,
    command: &TestCommand,
    control: &TestRun,
    changed: &TestRun,
    scripts: &[&Script],
) -> (Option<CompatFinding>, usize) {
    let new_errors = command::new_errors(control, changed);
    let (error, statement) = match new_errors.first() {
        Some(logged) => (logged.error.clone(), logged.statement.clone()),
        None if changed.timed_out => (
            "it did not finish within --command-timeout and was killed".to_string(),
            None,
        ),
        None => ("it fails here and passes on its control".to_string(), None),
    };
    let names = judge::names_in_message(&error);
    let blamed = blame(scripts, &names, statement.as_deref().unwrap_or_default());
    let owner = blamed.map_or(0, |(at, _)| at);
    let Some(severity) = level.severity() else {
        return (None, owner);
    };
    let (file, line) = located(scripts, blamed);
    let finding = CompatFinding {
        window,
        kind: BreakKind::Test,
        severity,
        query: AppStatement {
            name: Some(command.display()),
            file: None,
            line: None,
            sql: statement.unwrap_or_default(),
            ..AppStatement::default()
        },
        error,
        sqlstate: String::new(),
        file,
        line,
        output: Some(changed.failing_lines(10).join("\n")),
        versions: Vec::new(),
    };
    (Some(finding), owner)
}

/// A rollback finding whose statement the old code sends too, and which fails on the base
/// schema as well (it does not prepare there, or its write needed other values there than
/// the new code's): the down gives the base's behaviour back, which the running code meets
/// today. A note, not a finding (GoAlert's contact-method trigger).
fn base_behaviour_returns(
    pass: &mut Pass,
    input: &CompatInput,
    old_controls: &[Control],
    new_controls: &[Control],
) {
    let on_base = |sql: &str| control_of(&input.old, old_controls, sql);
    let on_migrated = |sql: &str| control_of(&input.new, new_controls, sql);
    let mut notes = Vec::new();
    pass.findings.retain(|(_, finding)| {
        if finding.window != Window::Rollback {
            return true;
        }
        let same_as_base = match (on_base(&finding.query.sql), on_migrated(&finding.query.sql)) {
            (Some(Control::Fails(_)), _) => true,
            (
                Some(Control::Works { values: old, .. }),
                Some(Control::Works { values: Some(new), .. }),
            ) => old.is_none_or(|old| old > *new),
            _ => false,
        };
        if same_as_base {
            notes.push(format!(
                "rollback: {} fails after the down as it fails on the base schema, where the old code sends it too ({}): the down gives the base's behaviour back",
                finding.query.label(),
                finding.error
            ));
        }
        !same_as_base
    });
    pass.notes.extend(notes);
}

/// The control of the statement of `statements` whose SQL is `sql`.
fn control_of<'c>(
    statements: &[AppStatement],
    controls: &'c [Control],
    sql: &str,
) -> Option<&'c Control> {
    statements
        .iter()
        .zip(controls)
        .find(|(statement, _)| statement.sql == sql)
        .map(|(_, control)| control)
}

/// Counts what a window judged and what it could not.
fn count(pass: &mut Pass, statements: &[AppStatement], controls: &[Control]) {
    for (statement, control) in statements.iter().zip(controls) {
        match control.not_judged() {
            Some(reason) => push_not_judged(pass, statement, reason),
            // A write prepared but not executed is judged in part: it is listed as not
            // judged, and not counted.
            None => match control.not_executed() {
                Some(reason) => push_not_judged(pass, statement, reason),
                None => pass.judged += 1,
            },
        }
    }
}

fn push_not_judged(pass: &mut Pass, statement: &AppStatement, reason: String) {
    let entry = NotJudged {
        query: statement.label(),
        reason,
    };
    if !pass.not_judged.contains(&entry) {
        pass.not_judged.push(entry);
    }
}

/// The finding for `breakage` of `statement` in `window` at `level` (`None`: off), owed to
/// the statement of `scripts` that names what broke.
fn finding(
    window: Window,
    level: Level,
    statement: &AppStatement,
    breakage: Breakage,
    scripts: &[&Script],
) -> Option<CompatFinding> {
    let severity = level.severity()?;
    // A changed row shape may be what the code expects: a warning at most.
    let severity = match breakage.kind {
        BreakKind::RowShape => Severity::Warning,
        _ => severity,
    };
    let (file, line) = cause(scripts, &breakage.error.names, &statement.sql);
    Some(CompatFinding {
        window,
        kind: breakage.kind,
        severity,
        query: statement.clone(),
        error: breakage.error.message,
        sqlstate: breakage.error.code,
        file,
        line,
        output: None,
        versions: Vec::new(),
    })
}

/// SQL words that say nothing about which objects a statement touches.
const NOT_NAMES: &[&str] = &[
    "select",
    "from",
    "where",
    "and",
    "or",
    "not",
    "null",
    "insert",
    "into",
    "values",
    "update",
    "set",
    "delete",
    "returning",
    "on",
    "conflict",
    "do",
    "nothing",
    "join",
    "left",
    "right",
    "inner",
    "outer",
    "as",
    "by",
    "order",
    "group",
    "limit",
    "offset",
    "is",
    "in",
    "exists",
    "case",
    "when",
    "then",
    "else",
    "end",
    "true",
    "false",
    "with",
    "distinct",
    "having",
    "union",
    "all",
    "any",
    "like",
    "ilike",
    "between",
    "asc",
    "desc",
    "using",
    "merge",
    "matched",
    "table",
    "alter",
    "add",
    "drop",
    "column",
    "constraint",
    "index",
    "create",
    "unique",
    "primary",
    "key",
    "references",
    "foreign",
    "check",
    "type",
    "if",
    "cascade",
    "rename",
    "to",
    "default",
    "public",
    "only",
    "concurrently",
    "for",
    "each",
    "row",
];

/// The names a statement uses: its identifiers (unquoted ones lowercased, quoted ones as
/// written), without SQL's own words.
fn names_used(sql: &str) -> BTreeSet<String> {
    lexer::code_tokens(sql)
        .filter_map(|token| {
            let text = token.text(sql);
            match token.kind {
                lexer::TokenKind::Identifier => Some(text.to_ascii_lowercase()),
                lexer::TokenKind::Quoted if text.len() > 2 && text.starts_with('"') => {
                    Some(text[1..text.len() - 1].to_string())
                }
                _ => None,
            }
        })
        .filter(|name| !NOT_NAMES.contains(&name.as_str()))
        .collect()
}

/// The statement of `scripts` a breakage is owed to, as (script's index, file line): the
/// one that names most of what the error names (`names`, most specific first), then one
/// that touches what the query uses (`query`'s names), then one that drops or renames
/// over one that alters over any other, then the first. None when the scripts hold no
/// statement.
fn blame(scripts: &[&Script], names: &[String], query: &str) -> Option<(usize, usize)> {
    let used = names_used(query);
    let names: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    let mut best: Option<((usize, bool, u8), usize, usize)> = None;
    for (at, script) in scripts.iter().enumerate() {
        for statement in lexer::split_statements(&script.sql) {
            if statement.is_empty() {
                continue;
            }
            let code = &script.sql[statement.code.clone()];
            let words = names_used(code);
            let named = names
                .iter()
                .filter(|n| words.contains(*n) || lexer::has_word(code, n))
                .count();
            let touches = words.iter().any(|w| used.contains(w));
            let rank = if lexer::has_word(code, "drop") || lexer::has_word(code, "rename") {
                0
            } else if lexer::has_word(code, "alter") {
                1
            } else {
                2
            };
            // Higher is better: more names, touching the query, a lower rank.
            let score = (named, touches, 2 - rank);
            if best.as_ref().is_none_or(|(known, _, _)| score > *known) {
                best = Some((score, at, line_of(script, statement.code.start)));
            }
        }
    }
    best.map(|(_, at, line)| (at, line))
}

/// The file and line of the statement of `scripts` a breakage of `query` is owed to (see
/// [`blame`]).
fn cause(scripts: &[&Script], names: &[String], query: &str) -> (Option<String>, Option<usize>) {
    located(scripts, blame(scripts, names, query))
}

/// The file and line of a [`blame`] (without one, the first script's file).
fn located(scripts: &[&Script], blamed: Option<(usize, usize)>) -> (Option<String>, Option<usize>) {
    match blamed {
        Some((at, line)) => (Some(scripts[at].path.display().to_string()), Some(line)),
        None => (scripts.first().map(|s| s.path.display().to_string()), None),
    }
}

fn line_of(script: &Script, offset: usize) -> usize {
    script.line_offset + lexer::line_col(&script.sql, offset).0
}
