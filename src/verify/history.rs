//! History that is not verified, applied fast: a run of merged migrations whose tool can
//! apply several in one invocation (`up N`, `migrate:to`) is applied with one process, and
//! one at a time again if the batch fails, so the failing migration is named.

use super::{Pipeline, Step, millis, notes_only};
use crate::error::EnvironmentError;
use crate::migrations::command::CommandStep;
use crate::migrations::{Migration, Script};
use crate::report::MigrationReport;

impl Pipeline<'_, '_, '_> {
    /// Where the run of history starting at `start` ends: migrations not under
    /// verification whose tool can apply several in one invocation (`up N`,
    /// `migrate:to`), applied together by [`Self::apply_history`].
    pub(super) fn history_run(&self, start: usize) -> usize {
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
    pub(super) async fn apply_history(
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
}
