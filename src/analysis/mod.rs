//! Measured lock and rewrite findings. While verify applies the up script of a migration
//! under verification for the first time, [`observe::Observer`] runs a query after every
//! statement, in the statement's transaction before it commits, that reads what the
//! statement did to the relations that existed before the migration: the locks our backend
//! holds on them, whether a table or index got a new file (a rewrite), the indexes and
//! constraints it added, and the scans it ran. The [`rules`] turn those measurements into
//! findings, each with its evidence and the safe way to write the statement.
//!
//! Findings are measured, not guessed from the SQL text: a statement a static linter would
//! flag but that took no dangerous lock and rewrote nothing is not reported.

pub mod data;
pub mod effect;
pub mod estimate;
pub mod observe;
pub mod rows;
pub mod rules;
pub mod stats;
pub mod timing;

use serde::{Deserialize, Serialize};

use crate::policy::{Level, LockPolicy};

/// A lock mode as `pg_locks` names it, and what it blocks for other sessions.
pub fn blocks(mode: &str) -> Blocks {
    match mode {
        "AccessExclusiveLock" => Blocks::ReadsAndWrites,
        "ShareLock" | "ShareRowExclusiveLock" | "ExclusiveLock" => Blocks::Writes,
        _ => Blocks::Nothing,
    }
}

/// What a lock keeps other sessions from doing with the relation's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Blocks {
    /// Reads and writes go on (the lock conflicts only with DDL and maintenance).
    Nothing,
    /// INSERT, UPDATE and DELETE wait; SELECT goes on.
    Writes,
    /// Everything waits, SELECT included.
    ReadsAndWrites,
}

impl Blocks {
    /// In words, for reports.
    pub fn words(self) -> &'static str {
        match self {
            Blocks::Nothing => "nothing",
            Blocks::Writes => "writes",
            Blocks::ReadsAndWrites => "reads and writes",
        }
    }
}

/// Every rule's ID, for validating `[locks]` and `--fail-on-lock`.
pub fn rule_ids() -> Vec<&'static str> {
    rules::ALL
        .iter()
        .map(|rule| rule.id())
        .chain([data::FAILS_ON_DATA, data::DATA_NOT_RESTORED])
        .collect()
}

/// `findings` under `policy`: a rule set to off drops its findings, the others take their
/// rule's level (an allowed finding is at most a warning).
pub fn apply_policy(findings: Vec<LockFinding>, policy: &LockPolicy) -> Vec<LockFinding> {
    findings
        .into_iter()
        .filter_map(|mut finding| {
            // A rule the policy does not name keeps the level its finding came with (a
            // warning, but a failure on data production holds is an error).
            let level = policy
                .get(&finding.rule)
                .copied()
                .unwrap_or(finding.severity);
            finding.severity = match level {
                Level::Off => return None,
                Level::Error if !finding.allowed => Level::Error,
                _ => Level::Warning,
            };
            Some(finding)
        })
        .collect()
}

/// Which script of a migration a finding is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Script {
    #[default]
    Up,
    Down,
}

/// One measured finding: a statement, the pre-existing relation it affected, the lock it
/// held there and for how long, and the rule it falls under (`locks` in the JSON report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockFinding {
    /// The rule's ID (`table-rewrite`, …), for `-- migration-check: allow RULE`.
    pub rule: String,
    /// The rule's title.
    pub title: String,
    /// The script's file, and the statement's line and column in it.
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The statement's first line (at most 120 characters).
    pub statement: String,
    /// The pre-existing relation affected (`schema.name`).
    pub relation: String,
    /// The strongest lock the transaction held on it after the statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// What that lock blocks.
    pub blocks: Blocks,
    /// From the statement's start until its transaction ended: how long other sessions
    /// would have waited.
    pub held_ms: u64,
    /// The statement gave the relation a new file: it was rewritten.
    pub rewrite: bool,
    /// What was measured, in words.
    pub evidence: String,
    /// Why it matters.
    pub why: String,
    /// How to write it safely.
    pub safe_rewrite: String,
    /// Acknowledged by `-- migration-check: allow RULE` on the statement's line or the line
    /// before: still shown, never an error.
    pub allowed: bool,
    /// `error` (fails the check) or `warning`, by the rule's level in the policy.
    #[serde(default)]
    pub severity: Level,
    /// The up script or the down script.
    #[serde(default)]
    pub script: Script,
    /// With production's statistics: how long the statement would take on production's
    /// table, from timings at three sizes (see [`estimate`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<estimate::Estimate>,
}

impl LockFinding {
    /// The evidence with what the lock blocks and for how long, in one line.
    pub fn summary(&self) -> String {
        let mut summary = if data::is_data_rule(&self.rule) {
            self.evidence.clone()
        } else {
            format!(
                "{}; blocks {} for {} ms",
                self.evidence,
                self.blocks.words(),
                self.held_ms
            )
        };
        if let Some(estimate) = &self.estimate {
            summary.push_str(&format!("; {}", estimate.words()));
        }
        summary
    }

    /// The estimated blocking time at production's size, when there is one and the
    /// statement's lock blocks anything.
    pub fn estimated_blocking_ms(&self) -> Option<u64> {
        if self.blocks == Blocks::Nothing {
            return None;
        }
        self.estimate.as_ref()?.estimated_ms
    }
}

/// A statement's first line (at most 120 characters), " …" where more follows.
pub fn statement_summary(text: &str) -> String {
    let first_line = text.lines().next().unwrap_or_default();
    if first_line.chars().count() > 120 || text.contains('\n') {
        format!("{} …", first_line.chars().take(120).collect::<String>())
    } else {
        first_line.to_string()
    }
}

/// The comment that acknowledges a finding of `rule` on the statement at `line` (1-based)
/// of `file_text`: on that line or the one before.
pub fn allowed(file_text: &str, line: usize, rule: &str) -> bool {
    let lines: Vec<&str> = file_text.lines().collect();
    [line.saturating_sub(1), line]
        .into_iter()
        .filter(|&l| l >= 1)
        .filter_map(|l| lines.get(l - 1))
        .any(|text| allows(text, rule))
}

fn allows(line: &str, rule: &str) -> bool {
    let Some((_, comment)) = line.split_once("--") else {
        return false;
    };
    let Some(rest) = comment.trim_start().strip_prefix("migration-check:") else {
        return false;
    };
    let Some(rules) = rest.trim_start().strip_prefix("allow") else {
        return false;
    };
    rules
        .split(|c: char| c == ',' || c.is_whitespace())
        .any(|word| word == rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allow_comment_on_the_line_or_the_line_before_acknowledges_one_rule() {
        let sql = "-- migration-check: allow table-rewrite\n\
                   ALTER TABLE t ALTER COLUMN id TYPE bigint;\n\
                   CREATE INDEX i ON t (x); -- migration-check: allow index-without-concurrently, x\n\
                   \n\
                   ALTER TABLE t ADD CHECK (x > 0);\n";
        assert!(allowed(sql, 2, "table-rewrite"));
        assert!(!allowed(sql, 2, "index-without-concurrently"));
        assert!(allowed(sql, 3, "index-without-concurrently"));
        assert!(
            !allowed(sql, 5, "table-rewrite"),
            "two lines below is not the line before"
        );
        assert!(!allowed(sql, 1, "table-rewrite-other"));
    }

    #[test]
    fn the_policy_sets_each_rule_and_an_allowed_finding_never_fails() {
        let finding = |rule: &str, allowed: bool| LockFinding {
            rule: rule.into(),
            title: String::new(),
            file: "f.sql".into(),
            line: 1,
            column: 1,
            statement: String::new(),
            relation: "public.t".into(),
            mode: None,
            blocks: Blocks::Writes,
            held_ms: 1,
            rewrite: false,
            evidence: String::new(),
            why: String::new(),
            safe_rewrite: String::new(),
            allowed,
            severity: Level::Warning,
            script: Script::Up,
            estimate: None,
        };
        let policy = LockPolicy::from([
            ("table-rewrite".to_string(), Level::Error),
            ("index-without-concurrently".to_string(), Level::Off),
        ]);
        let applied = apply_policy(
            vec![
                finding("table-rewrite", false),
                finding("table-rewrite", true),
                finding("index-without-concurrently", false),
                finding("constraint-validated-in-place", false),
            ],
            &policy,
        );
        let levels: Vec<(&str, Level)> = applied
            .iter()
            .map(|f| (f.rule.as_str(), f.severity))
            .collect();
        assert_eq!(
            levels,
            [
                ("table-rewrite", Level::Error),
                ("table-rewrite", Level::Warning),
                ("constraint-validated-in-place", Level::Warning)
            ]
        );
    }

    #[test]
    fn lock_modes_block_what_postgresql_documents() {
        assert_eq!(blocks("AccessExclusiveLock"), Blocks::ReadsAndWrites);
        assert_eq!(blocks("ShareLock"), Blocks::Writes);
        assert_eq!(blocks("ShareRowExclusiveLock"), Blocks::Writes);
        assert_eq!(blocks("ShareUpdateExclusiveLock"), Blocks::Nothing);
        assert_eq!(blocks("RowExclusiveLock"), Blocks::Nothing);
        assert_eq!(blocks("AccessShareLock"), Blocks::Nothing);
    }
}
