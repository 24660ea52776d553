//! Running code meets the changed schema. During a deploy the old application still serves
//! while the migrations run; after a failed deploy the new application serves on the
//! schema its downs left. This module reads the application's SQL from the sources teams
//! have (`sources`: sqlc, aiosql/yesql, pgtyped and plain query files, a pg_stat_statements
//! export; `read`: from disk, the base commit and a live database) and judges it on a
//! database (`judge`: prepared, writes executed and rolled back, differential against a
//! control). It returns findings: `verify` decides which schemas meet which code and what
//! the findings weigh, `report` renders them.

pub mod command;
pub mod judge;
pub mod read;
pub mod sources;

use serde::{Deserialize, Serialize};

use crate::policy::Severity;
pub use judge::BreakKind;
pub use sources::AppStatement;

/// Which code meets which schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// The old code on the schema after the change's ups (migrations ship first).
    Deploy,
    /// The new code on the schema after the change's downs (a rolled-back deploy).
    Rollback,
    /// The new code on the schema before the change (code ships first).
    CodeFirst,
}

impl Window {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Deploy => "deploy",
            Window::Rollback => "rollback",
            Window::CodeFirst => "code_first",
        }
    }

    /// Which code on which schema, for people.
    pub fn words(self) -> &'static str {
        match self {
            Window::Deploy => "deploy: the old code on the migrated schema",
            Window::Rollback => "rollback: the new code on the schema after the downs",
            Window::CodeFirst => "code first: the new code on the schema before the migrations",
        }
    }
}

/// A statement of the running code that worked on the schema it was written for and breaks
/// on the one it meets in `window`, with the migration statement that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompatFinding {
    pub window: Window,
    /// `prepare` (it no longer parses and analyses), `write` (the write fails with values
    /// that worked before), `row_shape` (its `*` returns other columns).
    pub kind: BreakKind,
    pub severity: Severity,
    /// The application's statement: its name, file and line, or its recorded `calls`.
    pub query: AppStatement,
    /// The server's error on the changed schema.
    pub error: String,
    /// Its SQLSTATE (none for a changed row shape).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sqlstate: String,
    /// The migration statement that caused it (the up in the deploy and code-first
    /// windows, the down in the rollback window).
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub line: Option<usize>,
    /// For the test command: the lines of its output that say what failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// With several majors: those it was found on, when not all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<u32>,
}

impl CompatFinding {
    /// One line for people: `GetUser (db/queries/users.sql:3): column "name" does not
    /// exist (42703)`.
    pub fn summary(&self) -> String {
        let query = match (&self.query.name, &self.query.file, self.query.line) {
            (Some(name), Some(file), Some(line)) => format!("{name} ({file}:{line})"),
            _ => self.query.label(),
        };
        let calls = self
            .query
            .calls
            .map(|calls| format!(", {calls} calls"))
            .unwrap_or_default();
        let error = if self.sqlstate.is_empty() {
            self.error.clone()
        } else {
            format!("{} ({})", self.error, self.sqlstate)
        };
        format!("{query}{calls}: {error}")
    }
}

/// A statement that could not be judged, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotJudged {
    /// The statement's name, `file:line` or the start of its SQL.
    pub query: String,
    pub reason: String,
}

/// What the run knew of the running code and how much of it was judged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompatSummary {
    /// Where the statements came from, e.g. `db/queries/**/*.sql at the base commit: 14
    /// queries`.
    pub sources: Vec<String>,
    /// Statements judged (each once per window it was judged in).
    pub judged: usize,
    /// Statements that could not be judged, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_judged: Vec<NotJudged>,
    /// Facts worth knowing: statements skipped (DDL, utility, the tools' own), windows not
    /// judged, and without any source the changes running code might feel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The application's statements for a run, read before any database starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompatInput {
    /// The code that runs before the change: the query files at the base commit and the
    /// statements recorded from the running application.
    pub old: Vec<AppStatement>,
    /// The code the change ships: the query files at head.
    pub new: Vec<AppStatement>,
    /// Where they came from, for the summary.
    pub sources: Vec<String>,
    /// What reading them has to say (skipped statements, files absent at the base).
    pub notes: Vec<String>,
    /// The application's own tests (`[compat] command`), run against each schema.
    pub command: Option<command::TestCommand>,
    /// The versions the change adds or modifies (new relative to the base); `None`
    /// without a base, when no code ran before any migration.
    pub changed: Option<std::collections::BTreeSet<String>>,
}

impl CompatInput {
    /// Whether any source gave statements to judge.
    pub fn is_empty(&self) -> bool {
        self.old.is_empty() && self.new.is_empty() && self.command.is_none()
    }

    /// Whether the change adds or modifies `version`.
    pub fn is_changed(&self, version: &str) -> bool {
        self.changed
            .as_ref()
            .is_some_and(|changed| changed.contains(version))
    }
}
