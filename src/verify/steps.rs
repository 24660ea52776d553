//! Running one script of a migration: SQL through the script executor (each statement
//! measured by the lock analysis where asked), a tool's step as a process; timings, notes,
//! and a lost connection told apart from a dead server.

use super::{Pipeline, Step, add_notes, millis};
use crate::analysis;
use crate::error::EnvironmentError;
use crate::migrations::Script;
use crate::postgres;
use crate::postgres::Session;
use crate::postgres::script::{self, FailureKind};
use crate::report::{MigrationReport, Problem, Severity};

impl Pipeline<'_, '_, '_> {
    /// Runs one script, accounting its time; a lost server is an environment error.
    pub(super) async fn step(
        &mut self,
        script: &Script,
        report: &mut MigrationReport,
    ) -> Result<Step, EnvironmentError> {
        self.step_observed(script, report, None).await
    }

    /// [`Self::step`], each statement of a SQL script measured (see [`analysis`]): the
    /// findings, under the lock policy, join the report's `locks`, and those the policy makes
    /// errors its problems too.
    pub(super) async fn measured_step(
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
        let (step, renew) = self.run_step(script, report, observer.as_mut()).await?;
        if let (Some(observer), Step::Ran(_)) = (observer.as_mut(), &step) {
            // Best effort: a connection the script ended leaves the rule unknowing.
            let _ = observer.conclude(&self.session.client).await;
        }
        if renew {
            self.renew_session(script).await?;
        }
        let Some(observer) = observer else {
            return Ok(step);
        };
        self.add_lock_findings(report, observer.findings(script, which), which);
        Ok(step)
    }

    /// `findings` of the up or the down (`which`) under the lock policy: they join the
    /// report's `locks`, and those the policy makes errors its problems too.
    pub(super) fn add_lock_findings(
        &self,
        report: &mut MigrationReport,
        findings: Vec<analysis::LockFinding>,
        which: analysis::Script,
    ) {
        let mut findings = analysis::apply_policy(findings, &self.options.policy.locks);
        let max_blocking = self.options.policy.max_blocking;
        let mut over_max = Vec::new();
        for finding in &mut findings {
            let over = match (max_blocking, finding.estimated_blocking_ms()) {
                (Some(max), Some(ms)) => u128::from(ms) > max.as_millis(),
                _ => false,
            };
            over_max.push(over && !finding.allowed);
            if over && !finding.allowed {
                finding.severity = crate::policy::Level::Error;
            }
        }
        for (finding, over) in findings.iter().zip(over_max) {
            if finding.severity != crate::policy::Level::Error {
                continue;
            }
            let why = match max_blocking {
                Some(max) if over => format!(
                    "estimated to block longer than [locks] max_blocking = {}",
                    humantime::format_duration(max)
                ),
                _ if !self.options.policy.locks.contains_key(&finding.rule) => {
                    // Only a failure on data production holds is an error by itself.
                    "production's statistics say its table has rows".into()
                }
                _ => "policy: error".into(),
            };
            report.problems.push(Problem {
                versions: Vec::new(),
                kind: "lock".into(),
                severity: Severity::Error,
                message: format!(
                    "{}{}: {} ({why})",
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
    pub(super) async fn step_observed(
        &mut self,
        script: &Script,
        report: &mut MigrationReport,
        observer: Option<&mut analysis::observe::Observer>,
    ) -> Result<Step, EnvironmentError> {
        let (step, renew) = self.run_step(script, report, observer).await?;
        if renew {
            self.renew_session(script).await?;
        }
        Ok(step)
    }

    /// Later migrations start with what `script` set for new sessions, as under every tool:
    /// the session running them is a new one.
    async fn renew_session(&mut self, script: &Script) -> Result<(), EnvironmentError> {
        self.session.renew().await.map_err(|e| {
            EnvironmentError::new(format!(
                "the throwaway database accepts no new connection from migration-check after {}: {}",
                script.path.display(),
                postgres::describe_error(&e)
            ))
        })
    }

    /// Runs `script` ([`Self::step_observed`]); true beside the step when it changed what
    /// new sessions start with, so the caller renews the session once it is done with it.
    async fn run_step(
        &mut self,
        script: &Script,
        report: &mut MigrationReport,
        observer: Option<&mut analysis::observe::Observer>,
    ) -> Result<(Step, bool), EnvironmentError> {
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
                Ok((Step::Ran(run.elapsed), run.session_defaults_changed))
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
                Ok((Step::Failed(failure), false))
            }
        }
    }
}
