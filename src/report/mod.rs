//! The report model (serde, the JSON v1 contract of DESIGN.md) and its
//! renderers. `verify` fills the model; renderers only present it: they never
//! decide a verdict.

pub mod annotations;
pub mod json;
pub mod markdown;
pub mod mermaid;
pub mod progress;
pub mod schema_changes;
pub mod schema_text;
pub mod terminal;
#[cfg(test)]
pub(crate) mod test_support;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::analysis::LockFinding;
use crate::compat::{CompatFinding, CompatSummary};
pub use crate::policy::Severity;
use crate::schema::erd::Diagram;
use crate::schema::review::ObjectDetail;

/// Version of the JSON contract; additions keep it, breaking changes bump it.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole result of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub passed: bool,
    /// The server the run used; with several majors (`--postgres-versions`)
    /// the backend and every server version, comma-separated.
    pub postgres: PostgresInfo,
    /// With `--postgres-versions`: each major the run verified on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub postgres_versions: Vec<VersionInfo>,
    /// Migration layout that was read (`sqlx`, `diesel`, ...).
    pub format: String,
    /// The migrations directory as given.
    pub directory: String,
    pub migrations: Vec<MigrationReport>,
    /// Step 2 of the verification: all downs in reverse, then all ups again.
    pub sequence: SequenceReport,
    /// Comparison with the base branch (empty without `--base`).
    #[serde(default)]
    pub checksums: Vec<ChecksumEntry>,
    /// Problems not tied to one migration's verification: checksum gates,
    /// a stale `migrations.sum`.
    #[serde(default)]
    pub problems: Vec<Problem>,
    /// Net effect of the migrations under verification: the schema before the
    /// first of them against the final schema, for reviewers.
    #[serde(default)]
    pub schema_changes: Vec<SchemaChange>,
    /// The tables the schema changes touch and those their foreign keys reach, for the
    /// entity-relationship diagram (`--erd`, the comment); none without table changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_diagram: Option<Diagram>,
    /// The running code on the changed schema (`[compat]`): its sources, how much was
    /// judged and what could not be; the findings are on each migration's `compat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compat: Option<CompatSummary>,
    /// Facts about the run worth knowing that are not verdicts: catalog
    /// entries the snapshots read but did not compare, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Files in the migrations directory that belong to no migration and that the
    /// layout says are worth a word (a `pattern` layout lists those matching neither
    /// pattern).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_files: Vec<String>,
    pub timings_ms: RunTimings,
}

/// One object-level difference in the net schema change of a pull request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaChange {
    /// `added`, `removed` or `changed`.
    pub change: String,
    /// e.g. `table public.users`, with ` (with 6 dependent objects)` when sub-objects
    /// came or went with it.
    pub object: String,
    /// For `changed`: which attribute, and its values before and after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// With several majors: those that show this change, when not all do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<u32>,
    /// The object's kind: `table`, `column`, `index`, `function`, ...
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The object's qualified name (`public.users`, `public.users.email`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The table or view the object belongs to (itself for a table), by which changes
    /// are grouped; none for objects of no table (functions, types, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// For `changed`: the attribute (`type`, `default`, `column_order`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    /// For `changed`: the attribute's value before (null: absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Value>,
    /// For `changed`: the attribute's value after (null: absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<serde_json::Value>,
    /// For `added`: what the object is now; for `removed`: what was lost (a table's
    /// columns, constraints and indexes, an index's definition, a function's signature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<ObjectDetail>,
}

/// One PostgreSQL major of a `--postgres-versions` run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub major: u32,
    pub backend: String,
    pub server_version: String,
    /// Whether every check passed on this major.
    pub passed: bool,
}

/// A migration's verdict on one major of a `--postgres-versions` run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionVerdict {
    pub status: Status,
    pub problems: Vec<Problem>,
    pub timings_ms: StepTimings,
}

/// The sequence cycle's outcome on one major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceVerdict {
    pub status: SequenceStatus,
    pub problems: Vec<Problem>,
}

/// Which PostgreSQL the run used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostgresInfo {
    pub backend: String,
    pub server_version: String,
}

/// The verdict on one migration. Declared worst first: the order says which
/// verdict stands for a migration whose verdicts differ between majors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    FailedUp,
    FailedDown,
    NotReversible,
    NotReapplicable,
    Skipped,
    Irreversible,
    Applied,
    Passed,
}

impl Status {
    /// The JSON spelling, also used in text output.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Applied => "applied",
            Status::FailedUp => "failed_up",
            Status::FailedDown => "failed_down",
            Status::NotReversible => "not_reversible",
            Status::NotReapplicable => "not_reapplicable",
            Status::Irreversible => "irreversible",
            Status::Skipped => "skipped",
        }
    }

    /// The status in words for people: `not reversible`, `up failed`, ...
    pub fn words(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Applied => "applied",
            Status::FailedUp => "up failed",
            Status::FailedDown => "down failed",
            Status::NotReversible => "not reversible",
            Status::NotReapplicable => "not re-applicable",
            Status::Irreversible => "irreversible (no down)",
            Status::Skipped => "skipped",
        }
    }

    /// The migration itself failed (as opposed to passed, applied,
    /// irreversible or skipped because of another one).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Status::FailedUp | Status::FailedDown | Status::NotReversible | Status::NotReapplicable
        )
    }
}

/// One finding, located in a file where possible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// Machine-readable kind: `sql_error`, `timeout`, `not_reversible`,
    /// `not_reapplicable`, `column_position`, `irreversible`, `open_transaction`, ...
    pub kind: String,
    pub severity: Severity,
    pub message: String,
    /// Always present (null when the problem has no file), as the contract shows.
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub line: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// The schema object concerned, e.g. `index public.users_email_lower_idx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// With several majors: those on which this problem occurred, when not
    /// all of them (empty: every major, or a single-version run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<u32>,
}

impl Problem {
    /// The message for people: with ` (PostgreSQL 13, 15)` after its first
    /// line when the problem is not on every major.
    pub fn message_with_versions(&self) -> String {
        let suffix = self.versions_suffix();
        if suffix.is_empty() {
            return self.message.clone();
        }
        match self.message.split_once('\n') {
            Some((first, rest)) => format!("{first}{suffix}\n{rest}"),
            None => format!("{}{suffix}", self.message),
        }
    }

    /// ` (PostgreSQL 13, 15)` when the problem is not on every major, else empty.
    pub fn versions_suffix(&self) -> String {
        if self.versions.is_empty() {
            return String::new();
        }
        format!(" (PostgreSQL {})", majors_list(&self.versions))
    }
}

/// `13, 15, 17`.
pub fn majors_list(majors: &[u32]) -> String {
    majors
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Milliseconds per step of one migration (absent when the step did not run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepTimings {
    pub up: Option<u64>,
    pub down: Option<u64>,
    pub reup: Option<u64>,
}

/// The verdict and evidence for one migration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MigrationReport {
    pub version: String,
    pub name: String,
    pub files: Vec<String>,
    /// Under verification (new relative to the base, or every migration without `--base`).
    pub new: bool,
    pub status: Status,
    pub problems: Vec<Problem>,
    pub timings_ms: StepTimings,
    /// How scripts were run (own transaction control, non-transactional, empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// With `--postgres-versions`: the verdict on each major (keyed by the
    /// major, e.g. `"13"`); `status` above is then the worst of them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, VersionVerdict>,
    /// What each statement of its up did to tables that existed before it, measured
    /// (migrations under verification only): see [`crate::analysis`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locks: Vec<LockFinding>,
    /// Statements of the running code that break on the schema this migration leaves
    /// (its up in the deploy and code-first windows, its down in the rollback window).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compat: Vec<CompatFinding>,
}

impl MigrationReport {
    /// The status in words, per major when the majors disagree.
    pub fn status_text(&self) -> String {
        self.status_by_version()
            .unwrap_or_else(|| self.status.words().to_string())
    }

    /// The verdict per major in words when the majors disagree, e.g.
    /// `not reversible on 13; passed on 15, 17`; `None` when they agree (or
    /// the run had one version).
    pub fn status_by_version(&self) -> Option<String> {
        by_status(
            self.versions.iter().map(|(major, v)| (major, v.status)),
            |s| s.words(),
        )
    }
}

/// Groups majors by status, worst first: `None` when there is one group.
fn by_status<'a, S: Copy + Ord>(
    verdicts: impl Iterator<Item = (&'a String, S)>,
    words: impl Fn(S) -> &'static str,
) -> Option<String> {
    let mut groups: BTreeMap<S, Vec<u32>> = BTreeMap::new();
    for (major, status) in verdicts {
        groups
            .entry(status)
            .or_default()
            .push(major.parse().unwrap_or_default());
    }
    if groups.len() < 2 {
        return None;
    }
    Some(
        groups
            .into_iter()
            .map(|(status, mut majors)| {
                majors.sort_unstable();
                format!("{} on {}", words(status), majors_list(&majors))
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// Outcome of the whole-sequence cycle, worst first (the order merges use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SequenceStatus {
    Failed,
    Skipped,
    Passed,
}

impl SequenceStatus {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SequenceStatus::Passed => "passed",
            SequenceStatus::Failed => "failed",
            SequenceStatus::Skipped => "skipped",
        }
    }
}

/// Step 2: down(Mn..Mk) then up(Mk..Mn).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceReport {
    pub status: SequenceStatus,
    /// First and last version of the cycle, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_version: Option<String>,
    /// Why it was skipped or what failed.
    pub problems: Vec<Problem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// With `--postgres-versions`: the outcome on each major.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, SequenceVerdict>,
}

impl SequenceReport {
    /// The outcome per major when the majors disagree (see
    /// [`MigrationReport::status_by_version`]).
    pub fn status_by_version(&self) -> Option<String> {
        by_status(
            self.versions.iter().map(|(major, v)| (major, v.status)),
            |s| s.as_str(),
        )
    }
}

/// A migration file compared with the base branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecksumEntry {
    /// Path in the working tree (for `deleted`: in the base).
    pub path: String,
    /// `unchanged`, `added`, `modified`, `deleted`, `renamed`, `out_of_order`.
    pub state: String,
    pub base_sha256: Option<String>,
    pub head_sha256: Option<String>,
    /// For `renamed`: the path on the base branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_path: Option<String>,
    /// e.g. "only whitespace or line endings changed".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Where the time went, for the progress summary and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunTimings {
    /// Starting PostgreSQL until it answered.
    pub setup: u64,
    /// Running migration scripts.
    pub scripts: u64,
    /// Taking and comparing snapshots.
    pub snapshots: u64,
    /// Returning to "every up so far applied" after a failed down or re-up: copying the
    /// checkpoint database and re-applying the ups after it (not counted in `scripts`).
    #[serde(default)]
    pub rebuilds: u64,
    /// The lock analysis's copy with generated rows: copying, filling, and running the
    /// migrations under verification there again (see `--lock-rows`).
    #[serde(default)]
    pub lock_rehearsal: u64,
    /// Of `lock_rehearsal`, with production's statistics: the tables grown to three sizes
    /// and the statements of blocking findings timed there (see `--stats`).
    #[serde(default)]
    pub lock_sizes: u64,
    /// Judging the running code: its copies, their rows, the change's scripts run there
    /// again and every statement prepared and executed (see `[compat]`).
    #[serde(default)]
    pub compat: u64,
    pub total: u64,
    /// How many snapshots read every relation and how many only those changed since
    /// the previous one (a count each, not milliseconds).
    #[serde(default)]
    pub snapshot_captures: crate::schema::snapshot::CaptureCounts,
}

impl RunTimings {
    /// "startup 1.2s, scripts 0.3s, snapshots 2.0s" (and the rebuilds when there were
    /// any), each figure written by `seconds`.
    pub fn breakdown(&self, seconds: fn(u64) -> String) -> String {
        let mut text = format!(
            "startup {}, scripts {}, snapshots {}",
            seconds(self.setup),
            seconds(self.scripts),
            seconds(self.snapshots)
        );
        let captures = self.snapshot_captures;
        if captures.incremental > 0 {
            text.push_str(&format!(
                " ({} incremental, {} full",
                captures.incremental, captures.full
            ));
            if captures.fallbacks > 0 {
                text.push_str(&format!(
                    ", {} of them after a role, schema or tablespace name or an extension changed",
                    captures.fallbacks
                ));
            }
            text.push(')');
        }
        if self.rebuilds > 0 {
            text.push_str(&format!(", rebuilds {}", seconds(self.rebuilds)));
        }
        if self.lock_rehearsal > 0 {
            text.push_str(&format!(
                ", lock analysis on generated rows {}",
                seconds(self.lock_rehearsal)
            ));
            if self.lock_sizes > 0 {
                text.push_str(&format!(
                    " (timing at three sizes {})",
                    seconds(self.lock_sizes)
                ));
            }
        }
        if self.compat > 0 {
            text.push_str(&format!(", running code {}", seconds(self.compat)));
        }
        text
    }
}

impl Report {
    /// Migrations with the given status.
    pub fn with_status(&self, status: Status) -> impl Iterator<Item = &MigrationReport> {
        self.migrations.iter().filter(move |m| m.status == status)
    }

    /// Counts of errors and warnings over all problems and the running code's findings.
    pub fn problem_counts(&self) -> (usize, usize) {
        let all = self
            .migrations
            .iter()
            .flat_map(|m| &m.problems)
            .chain(&self.sequence.problems)
            .chain(&self.problems)
            .map(|p| p.severity);
        let compat = self
            .migrations
            .iter()
            .flat_map(|m| &m.compat)
            .map(|f| f.severity);
        all.chain(compat)
            .fold((0, 0), |(errors, warnings), severity| match severity {
                Severity::Error => (errors + 1, warnings),
                Severity::Warning => (errors, warnings + 1),
            })
    }
}
