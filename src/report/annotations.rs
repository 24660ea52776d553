//! The problems of a report as annotations on file lines, so that GitHub shows
//! each finding right in the pull request's diff: the failing statement of an
//! up script, the down script that left an index behind, the merged migration
//! that was modified. This module only picks the problems that have a file and
//! words their titles; turning items into `::error file=…` workflow commands,
//! escaping them and capping them at what GitHub displays is done by
//! `github::workflow`. Like every renderer, it never decides a verdict: the
//! level is the problem's severity.

use super::{MigrationReport, Problem, Report, Severity, Status};

/// The level of an annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnnotationLevel {
    /// From a problem of severity error.
    Error,
    /// From a problem of severity warning.
    Warning,
}

impl From<Severity> for AnnotationLevel {
    fn from(severity: Severity) -> Self {
        match severity {
            Severity::Error => AnnotationLevel::Error,
            Severity::Warning => AnnotationLevel::Warning,
        }
    }
}

/// One finding located in a file, unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationItem {
    /// Error or warning, from the problem's severity.
    pub level: AnnotationLevel,
    /// The file as the report names it.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Short, e.g. `migration 2 add_index: not reversible`.
    pub title: String,
    /// The problem's message as is.
    pub message: String,
}

/// One item per problem that names a file, in report order: the migrations'
/// problems and lock findings (warnings; allowed ones are left out), then the
/// sequence cycle's, then the top-level ones (checksum gates, a stale
/// `migrations.sum`). Problems without a file are left out.
pub fn collect(report: &Report) -> Vec<AnnotationItem> {
    let mut items = Vec::new();
    for migration in &report.migrations {
        for problem in &migration.problems {
            let title = format!(
                "migration {} {}: {}",
                migration.version,
                migration.name,
                migration_words(migration, problem)
            );
            items.extend(item(problem, title));
        }
        // An error-level finding is also a problem of the migration: annotated above.
        let warnings = migration
            .locks
            .iter()
            .filter(|f| !f.allowed && f.severity == crate::policy::Level::Warning);
        for finding in warnings {
            items.push(AnnotationItem {
                level: AnnotationLevel::Warning,
                file: finding.file.clone(),
                line: Some(finding.line),
                column: Some(finding.column),
                title: format!(
                    "migration {} {}: lock {}",
                    migration.version, migration.name, finding.rule
                ),
                message: format!(
                    "{}. {}.\nSafe:\n{}",
                    finding.summary(),
                    finding.why,
                    finding.safe_rewrite
                ),
            });
        }
        for finding in &migration.compat {
            let message = format!("{}: {}", finding.window.words(), finding.summary());
            if let Some(file) = &finding.file {
                items.push(AnnotationItem {
                    level: finding.severity.into(),
                    file: file.clone(),
                    line: finding.line,
                    column: None,
                    title: format!(
                        "migration {} {}: breaks running code",
                        migration.version, migration.name
                    ),
                    message: message.clone(),
                });
            }
            if let Some(file) = &finding.query.file {
                items.push(AnnotationItem {
                    level: finding.severity.into(),
                    file: file.clone(),
                    line: finding.query.line,
                    column: None,
                    title: format!(
                        "query breaks with migration {} {}",
                        migration.version, migration.name
                    ),
                    message,
                });
            }
        }
    }
    for problem in &report.sequence.problems {
        let title = format!("sequence cycle: {}", sequence_words(&problem.kind));
        items.extend(item(problem, title));
    }
    for problem in &report.problems {
        items.extend(item(problem, top_level_title(&problem.kind)));
    }
    items
}

fn item(problem: &Problem, title: String) -> Option<AnnotationItem> {
    let file = problem.file.clone()?;
    Some(AnnotationItem {
        level: problem.severity.into(),
        file,
        line: problem.line,
        column: problem.column,
        title,
        message: problem.message_with_versions(),
    })
}

/// What went wrong with a migration, in a few words: a script failure is
/// named by the step that failed (the migration's status), other problems
/// by their kind.
fn migration_words(migration: &MigrationReport, problem: &Problem) -> String {
    let step = match migration.status {
        Status::FailedUp => Some("up failed"),
        Status::FailedDown => Some("down failed"),
        Status::NotReapplicable => Some("not re-applicable"),
        _ => None,
    };
    match (problem.kind.as_str(), step) {
        ("sql_error" | "open_transaction" | "connection_lost", Some(step)) => step.to_string(),
        ("timeout", Some(step)) => format!("{step} (timeout)"),
        ("not_reversible", _) => "not reversible".into(),
        ("not_reapplicable", _) => "not re-applicable".into(),
        ("irreversible", _) => "irreversible (no down script)".into(),
        ("column_position", _) => "column position changed".into(),
        (kind, _) => kind.replace('_', " "),
    }
}

fn sequence_words(kind: &str) -> String {
    match kind {
        "sequence_not_reversible" => "not reversible".into(),
        "sequence_not_reapplicable" => "not re-applicable".into(),
        kind => kind.replace('_', " "),
    }
}

fn top_level_title(kind: &str) -> String {
    match kind {
        "modified" => "modified merged migration".into(),
        "deleted" => "deleted merged migration".into(),
        "renamed" => "renamed merged migration".into(),
        "out_of_order" => "migration out of order".into(),
        "stale_sum" => "stale migrations.sum".into(),
        "atlas_sum" => "atlas.sum does not match the migrations".into(),
        kind => kind.replace('_', " "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::SequenceStatus;
    use crate::report::test_support::{self, lock_finding, migration};

    fn problem(kind: &str, severity: Severity, message: &str, file: Option<&str>) -> Problem {
        Problem {
            versions: Vec::new(),
            kind: kind.into(),
            severity,
            message: message.into(),
            file: file.map(Into::into),
            line: file.map(|_| 1),
            column: None,
            object: None,
        }
    }

    /// A failed report of `migrations`.
    fn report(migrations: Vec<MigrationReport>) -> Report {
        Report {
            migrations,
            ..test_support::report().failed().build()
        }
    }

    #[test]
    fn running_code_is_annotated_on_the_migration_and_on_the_query() {
        let mut migration = migration("2", "rename", Status::Passed, vec![]);
        migration.compat = vec![test_support::compat_finding(
            crate::compat::Window::Deploy,
            Severity::Error,
            "GetUser",
            "column \"name\" does not exist",
            "migrations/2_rename.up.sql",
            1,
        )];
        let items = collect(&report(vec![migration]));
        let places: Vec<(AnnotationLevel, &str, Option<usize>, &str)> = items
            .iter()
            .map(|i| (i.level, i.file.as_str(), i.line, i.title.as_str()))
            .collect();
        assert_eq!(
            places,
            [
                (
                    AnnotationLevel::Error,
                    "migrations/2_rename.up.sql",
                    Some(1),
                    "migration 2 rename: breaks running code"
                ),
                (
                    AnnotationLevel::Error,
                    "db/queries/users.sql",
                    Some(2),
                    "query breaks with migration 2 rename"
                ),
            ]
        );
        assert_eq!(
            items[0].message,
            "deploy: the old code on the migrated schema: GetUser (db/queries/users.sql:2): column \"name\" does not exist (42703)"
        );
    }

    #[test]
    fn a_lock_finding_is_a_warning_on_its_statement_unless_allowed() {
        let finding = lock_finding("table-rewrite", 3);
        let mut measured = migration("2", "c", Status::Passed, vec![]);
        measured.locks = vec![
            finding.clone(),
            crate::analysis::LockFinding {
                allowed: true,
                line: 5,
                ..finding
            },
        ];
        let items = collect(&report(vec![measured]));
        assert_eq!(items.len(), 1, "the allowed one is left out: {items:?}");
        let item = &items[0];
        assert_eq!(item.level, AnnotationLevel::Warning);
        assert_eq!(
            (item.file.as_str(), item.line, item.column),
            ("migrations/2_c.up.sql", Some(3), Some(1))
        );
        assert_eq!(item.title, "migration 2 c: lock table-rewrite");
        assert!(
            item.message.contains("blocks reads and writes for 38 ms"),
            "{}",
            item.message
        );
        assert!(
            item.message.contains("ADD COLUMN id_new"),
            "{}",
            item.message
        );
    }

    #[test]
    fn a_failed_up_is_an_error_at_its_statement() {
        let mut failing = problem(
            "sql_error",
            Severity::Error,
            "syntax error at or near \"CREAT\"",
            Some("migrations/1_init.up.sql"),
        );
        failing.line = Some(3);
        failing.column = Some(5);
        let items = collect(&report(vec![migration(
            "1",
            "init",
            Status::FailedUp,
            vec![failing],
        )]));
        assert_eq!(
            items,
            [AnnotationItem {
                level: AnnotationLevel::Error,
                file: "migrations/1_init.up.sql".into(),
                line: Some(3),
                column: Some(5),
                title: "migration 1 init: up failed".into(),
                message: "syntax error at or near \"CREAT\"".into(),
            }]
        );
    }

    #[test]
    fn titles_name_the_kind_and_levels_follow_severity() {
        let mut timeout = problem("timeout", Severity::Error, "timed out", Some("d.sql"));
        timeout.line = None;
        let items = collect(&report(vec![
            migration(
                "2",
                "add_index",
                Status::NotReversible,
                vec![
                    problem(
                        "not_reversible",
                        Severity::Error,
                        "index public.i: left behind by down",
                        Some("2.down.sql"),
                    ),
                    problem(
                        "column_position",
                        Severity::Warning,
                        "column public.t.c: position is 3 after down, was 2 before up",
                        Some("2.down.sql"),
                    ),
                ],
            ),
            migration("3", "slow", Status::FailedDown, vec![timeout]),
            migration(
                "4",
                "seed",
                Status::Irreversible,
                vec![problem(
                    "irreversible",
                    Severity::Warning,
                    "no down script",
                    Some("4.up.sql"),
                )],
            ),
        ]));
        let summary: Vec<(AnnotationLevel, &str, Option<usize>)> = items
            .iter()
            .map(|i| (i.level, i.title.as_str(), i.line))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    AnnotationLevel::Error,
                    "migration 2 add_index: not reversible",
                    Some(1)
                ),
                (
                    AnnotationLevel::Warning,
                    "migration 2 add_index: column position changed",
                    Some(1)
                ),
                (
                    AnnotationLevel::Error,
                    "migration 3 slow: down failed (timeout)",
                    None
                ),
                (
                    AnnotationLevel::Warning,
                    "migration 4 seed: irreversible (no down script)",
                    Some(1)
                ),
            ]
        );
    }

    #[test]
    fn problems_without_a_file_give_no_annotation() {
        let items = collect(&report(vec![migration(
            "5",
            "later",
            Status::Skipped,
            vec![problem(
                "skipped",
                Severity::Warning,
                "not run: version 1 failed to apply",
                None,
            )],
        )]));
        assert!(items.is_empty());
    }

    #[test]
    fn sequence_and_top_level_problems_come_after_migrations() {
        let mut r = report(vec![migration(
            "1",
            "init",
            Status::Passed,
            vec![problem(
                "column_position",
                Severity::Warning,
                "moved",
                Some("1.down.sql"),
            )],
        )]);
        r.sequence.status = SequenceStatus::Failed;
        r.sequence.problems.push(problem(
            "sequence_not_reversible",
            Severity::Error,
            "table public.t: left behind by the downs run in reverse",
            Some("1.down.sql"),
        ));
        r.problems = vec![
            problem(
                "modified",
                Severity::Error,
                "m was modified",
                Some("migrations/1.up.sql"),
            ),
            problem("renamed", Severity::Warning, "r was renamed", Some("r.sql")),
            problem("out_of_order", Severity::Error, "o", Some("o.sql")),
            problem(
                "stale_sum",
                Severity::Error,
                "stale",
                Some("migrations/migrations.sum"),
            ),
            problem("deleted", Severity::Error, "gone", None),
        ];
        let titles: Vec<(AnnotationLevel, String)> = collect(&r)
            .into_iter()
            .map(|i| (i.level, i.title))
            .collect();
        assert_eq!(
            titles,
            [
                (
                    AnnotationLevel::Warning,
                    "migration 1 init: column position changed".to_string()
                ),
                (
                    AnnotationLevel::Error,
                    "sequence cycle: not reversible".to_string()
                ),
                (
                    AnnotationLevel::Error,
                    "modified merged migration".to_string()
                ),
                (
                    AnnotationLevel::Warning,
                    "renamed merged migration".to_string()
                ),
                (AnnotationLevel::Error, "migration out of order".to_string()),
                (AnnotationLevel::Error, "stale migrations.sum".to_string()),
            ]
        );
    }

    #[test]
    fn messages_are_kept_as_is_for_the_workflow_escaper() {
        let message = "a: b, c%\nsecond line @octocat <script>";
        let items = collect(&report(vec![migration(
            "1",
            "x",
            Status::FailedUp,
            vec![problem(
                "sql_error",
                Severity::Error,
                message,
                Some("f,1:2.sql"),
            )],
        )]));
        assert_eq!(items[0].message, message);
        assert_eq!(items[0].file, "f,1:2.sql");
    }
}
