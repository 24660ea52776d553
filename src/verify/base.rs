//! The base-branch stage of a run: `migrations.sum` freshness and the SHA-256
//! comparison with the base branch, turned into report entries, gate problems
//! and the set of migrations that need step-by-step verification.

use std::collections::BTreeSet;
use std::path::Path;

use crate::checksum::{self, ChecksumError, RemoteBase, sum};
use crate::error::EnvironmentError;
use crate::migrations::{self, Layout};
use crate::policy::{GateLevel, Gates};
use crate::report::{ChecksumEntry, Problem, Report, Severity};

/// What the base-branch stage contributes to a run.
#[derive(Debug, Clone, Default)]
pub struct BaseStage {
    /// One entry per migration file on either side (empty without `--base`).
    pub entries: Vec<ChecksumEntry>,
    /// Gate findings and a stale `migrations.sum`.
    pub problems: Vec<Problem>,
    /// Versions to verify step by step; `None` without `--base` (all of them).
    pub under_verification: Option<BTreeSet<String>>,
    /// The commit compared with and how it was read, for the terminal.
    pub compared_with: Option<String>,
    /// The base commit when local git holds it (its files can be read).
    pub base_commit: Option<String>,
}

impl BaseStage {
    /// Adds this stage's entries and problems to a report; errors fail it.
    pub fn attach(self, report: &mut Report) {
        report.passed &= !self.problems.iter().any(|p| p.severity == Severity::Error);
        report.checksums = self.entries;
        report.problems.extend(self.problems);
    }
}

/// Checks `migrations.sum` (when present) and compares with `base` (when
/// set), reading the base through `remote` when local git cannot.
pub fn base_stage(
    dir: &Path,
    layout: &Layout,
    base: Option<&str>,
    gates: &Gates,
    remote: Option<&dyn RemoteBase>,
) -> anyhow::Result<BaseStage> {
    let mut stage = BaseStage::default();
    if let Some(stale) = sum::check_sum(dir, layout)? {
        stage.problems.push(Problem {
            versions: Vec::new(),
            kind: "stale_sum".into(),
            severity: Severity::Error,
            message: stale.to_string(),
            file: Some(dir.join(sum::SUM_FILE).display().to_string()),
            line: None,
            column: None,
            object: None,
        });
    }
    // Atlas keeps its own integrity file; it is checked whatever the format
    // (golang-migrate directories often carry one too).
    if let Some(mismatch) = migrations::atlas::check_sum(dir)? {
        let (file, line) = match &mismatch.migration {
            Some(migration) => (migration.clone(), None),
            None => (mismatch.sum_file.clone(), mismatch.line),
        };
        stage.problems.push(Problem {
            versions: Vec::new(),
            kind: "atlas_sum".into(),
            severity: Severity::Error,
            message: mismatch.message,
            file: Some(file.display().to_string()),
            line,
            column: None,
            object: None,
        });
    }
    let Some(base_ref) = base else {
        return Ok(stage);
    };
    let comparison = checksum::compare_with_base(dir, layout, base_ref, remote).map_err(
        |error| match error {
            ChecksumError::Input(input) => anyhow::Error::from(input),
            other => EnvironmentError::new(other.to_string()).into(),
        },
    )?;
    stage.compared_with = Some(format!(
        "{base_ref} (merge-base {}, via {})",
        comparison
            .base_commit
            .get(..12)
            .unwrap_or(&comparison.base_commit),
        comparison.via
    ));
    if comparison.via.starts_with("git") {
        stage.base_commit = Some(comparison.base_commit.clone());
    }
    stage.entries = comparison
        .files
        .iter()
        .map(|file| ChecksumEntry {
            path: file.path.clone(),
            state: file.state.as_str().to_string(),
            base_sha256: file.base_sha256.clone(),
            head_sha256: file.head_sha256.clone(),
            base_path: file.base_path.clone(),
            note: file
                .whitespace_only
                .then(|| "only whitespace or line endings changed".to_string()),
        })
        .collect();
    for finding in checksum::apply_gates(&comparison, gates) {
        let severity = match finding.level {
            GateLevel::Error => Severity::Error,
            GateLevel::Warning | GateLevel::Ignore => Severity::Warning,
        };
        stage.problems.push(Problem {
            versions: Vec::new(),
            kind: finding.state.as_str().to_string(),
            severity,
            message: finding.message,
            file: Some(finding.path),
            line: Some(1),
            column: None,
            object: None,
        });
    }
    stage.under_verification = Some(checksum::versions_to_verify(&comparison));
    Ok(stage)
}
