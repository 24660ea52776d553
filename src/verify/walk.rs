//! One migration's verdict (step 1 of the verification): its up, and for a migration under
//! verification the snapshot before it, its down (which must restore that schema) and its up
//! again (which must give the same schema as the first); repeatable migrations applied twice;
//! the differences judged under the policy.

use std::collections::BTreeSet;
use std::time::Instant;

use super::describe::{self, Phase};
use super::{Pipeline, Step, add_notes, failure_problem, millis, problem};
use crate::analysis;
use crate::error::EnvironmentError;
use crate::migrations::{Migration, Script};
use crate::policy::IrreversibleRule;
use crate::report::{MigrationReport, Problem, Severity, Status, StepTimings};
use crate::schema::diff::{Change, diff};
use crate::schema::{ObjectId, Snapshot};

/// Whether a SQL script holds nothing but whitespace and comments.
fn is_empty_sql(sql: &str) -> bool {
    crate::migrations::lexer::split_statements(sql)
        .iter()
        .all(crate::migrations::lexer::Statement::is_empty)
}

impl Pipeline<'_, '_, '_> {
    pub(super) fn under_verification(&self, migration: &Migration) -> bool {
        self.options
            .under_verification
            .as_ref()
            .is_none_or(|set| set.contains(&migration.version.text))
    }

    /// The verdict on migration `index`, with any connections of ours it
    /// terminated reported as a warning.
    pub(super) async fn migration(
        &mut self,
        index: usize,
    ) -> Result<MigrationReport, EnvironmentError> {
        let mut report = self.walk_migration(index).await?;
        self.report_terminated(&mut report.problems);
        Ok(report)
    }

    pub(super) async fn walk_migration(
        &mut self,
        index: usize,
    ) -> Result<MigrationReport, EnvironmentError> {
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

        // The first migration under verification also gives the net schema changes, with or
        // without a down.
        let verify = report.new && (migration.down.is_some() || self.first_before.is_none());
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
    pub(super) fn blank_report(&self, migration: &Migration) -> MigrationReport {
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
            compat: Vec::new(),
        }
    }

    /// The verdict on a migration whose up ran once and is not verified further:
    /// `irreversible` without a down, else `applied`.
    ///
    /// What a missing down costs depends on whose it is (issue #26): a merged migration's is
    /// history, not the pull request's doing (one run note; `--all` judges it); an up with
    /// nothing to revert needs no down; in an up-only project (no migration has a down)
    /// under the `auto` policy it is one line of the run's notes, not a warning each.
    pub(super) fn applied_once(&mut self, migration: &Migration, report: &mut MigrationReport) {
        if migration.down.is_some() {
            report.status = Status::Applied;
            return;
        }
        if migration.up.step.is_none() && is_empty_sql(&migration.up.sql) {
            report.status = Status::Applied;
            report
                .notes
                .push("no down script, and none needed: the up holds no statement".into());
            return;
        }
        report.status = Status::Irreversible;
        if !report.new {
            self.without_down.merged += 1;
            return;
        }
        let others: Vec<&Migration> = self
            .migrations
            .iter()
            .filter(|m| m.version != migration.version && !m.version.is_repeatable())
            .collect();
        let with_down = others.iter().filter(|m| m.down.is_some()).count();
        let policy = self.options.policy.irreversible;
        if policy == IrreversibleRule::Auto && with_down == 0 && !others.is_empty() {
            self.without_down.up_only += 1;
            return;
        }
        let (severity, rule) = policy.decide(others.len(), with_down);
        report.problems.push(problem(
            "irreversible",
            severity,
            format!("no down script: this migration cannot be reverted\n{rule}"),
            Some((&migration.up, 1)),
        ));
    }

    /// The run's notes on the migrations without a down that [`Self::applied_once`] left
    /// without a problem of their own.
    pub(super) fn note_without_down(&mut self) {
        let super::WithoutDown { merged, up_only } = std::mem::take(&mut self.without_down);
        if merged > 0 {
            self.run_notes.push(format!(
                "{merged} merged migration(s) have no down script: that is the history's, not \
                 this change's (`verify --all` judges the whole history)"
            ));
        }
        if up_only > 0 {
            self.run_notes.push(format!(
                "up-only project: none of its migrations has a down script, so {up_only} \
                 migration(s) under verification were applied and checked once, not reverted \
                 (policy irreversible = \"auto\"; \"error\" or \"warning\" reports each)"
            ));
        }
    }

    /// A repeatable migration (Flyway's `R__`) is re-applied whenever it changes, so the
    /// tool assumes it is idempotent: applied a second time, it must succeed and leave the
    /// schema exactly as the first application did.
    pub(super) async fn apply_again(
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
    pub(super) async fn reapply(
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
    pub(super) fn judge(
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
}
