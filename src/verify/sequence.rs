//! Step 2 of the verification, the sequence cycle: from the final state every down of the
//! verified run in reverse must give the schema from before the first of them, and every up
//! again the final schema, catching migrations each reversible alone but not together.

use super::describe::Phase;
use super::{Pipeline, Step, failure_problem, is_acceptable, notes_only};
use crate::error::EnvironmentError;
use crate::report::progress::Progress;
use crate::report::{MigrationReport, SequenceReport, SequenceStatus};
use crate::schema::diff::diff;

impl Pipeline<'_, '_, '_> {
    /// Step 2, with any connections of ours terminated meanwhile reported.
    pub(super) async fn sequence(
        &mut self,
        reports: &[MigrationReport],
        progress: &mut dyn Progress,
    ) -> Result<SequenceReport, EnvironmentError> {
        let mut report = self.walk_sequence(reports, progress).await?;
        self.report_terminated(&mut report.problems);
        Ok(report)
    }

    /// Step 2: down(Mn..Mk) must give the schema before Mk; up(Mk..Mn) the final one.
    pub(super) async fn walk_sequence(
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
