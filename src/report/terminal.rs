//! The human report for a terminal: the verdict per migration with the
//! evidence right under it (object-level differences, the failing statement's
//! file:line), a summary line, and live progress on stderr. Styling is ANSI;
//! `anstream` strips it when the stream is not a terminal or `NO_COLOR` is set.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};

use anstyle::{AnsiColor, Style};

use super::progress::Progress;
use super::schema_changes::{self, Mark};
use super::{
    ChecksumEntry, MigrationReport, Problem, Report, SchemaChange, SequenceStatus, Severity, Status,
};
use crate::migrations::Migration;

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const GREEN: Style = AnsiColor::Green.on_default();
const RED: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default();

fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// Symbol and style of a status.
fn status_look(status: Status) -> (&'static str, Style) {
    match status {
        Status::Passed => ("✓", GREEN),
        Status::Applied => ("·", DIM),
        Status::Irreversible => ("!", YELLOW),
        Status::Skipped => ("-", DIM),
        Status::FailedUp | Status::FailedDown | Status::NotReversible | Status::NotReapplicable => {
            ("✗", RED)
        }
    }
}

fn timings(migration: &MigrationReport) -> String {
    let t = migration.timings_ms;
    [("up", t.up), ("down", t.down), ("re-up", t.reup)]
        .iter()
        .filter_map(|(name, ms)| ms.map(|ms| format!("{name} {ms} ms")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn status_and_timings(migration: &MigrationReport) -> String {
    match timings(migration) {
        t if t.is_empty() => migration.status_text(),
        t => format!("{} ({t})", migration.status_text()),
    }
}

fn problem_lines(out: &mut String, problem: &Problem) {
    let (mark, style) = match problem.severity {
        Severity::Error => ("error", RED),
        Severity::Warning => ("warning", YELLOW),
    };
    let message = problem.message_with_versions();
    let mut lines = message.lines();
    let first = lines.next().unwrap_or_default();
    let _ = writeln!(out, "      {}: {first}", paint(style, mark));
    for line in lines {
        let _ = writeln!(out, "        {line}");
    }
    if let Some(file) = &problem.file {
        let location = match (problem.line, problem.column) {
            (Some(line), Some(column)) => format!("{file}:{line}:{column}"),
            (Some(line), None) => format!("{file}:{line}"),
            _ => file.clone(),
        };
        let _ = writeln!(out, "        {} {location}", paint(DIM, "-->"));
    }
}

/// The full report as styled text.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} · {} · {} migration(s) · PostgreSQL {} ({})",
        paint(BOLD, "migration-check"),
        report.directory,
        report.format,
        report.migrations.len(),
        report.postgres.server_version,
        report.postgres.backend
    );
    let _ = writeln!(out);
    let width = report
        .migrations
        .iter()
        .map(|m| m.version.len() + m.name.len() + 1)
        .max()
        .unwrap_or(0);
    let status_width = report
        .migrations
        .iter()
        .map(|m| m.status_text().chars().count())
        .max()
        .unwrap_or(0);
    for migration in &report.migrations {
        let (symbol, style) = status_look(migration.status);
        let label = format!("{} {}", migration.version, migration.name);
        let timings = timings(migration);
        let status = format!("{:<status_width$}", migration.status_text());
        let line = if timings.is_empty() {
            format!(
                "  {} {label:<width$}  {}",
                paint(style, symbol),
                paint(style, status.trim_end())
            )
        } else {
            format!(
                "  {} {label:<width$}  {}  {}",
                paint(style, symbol),
                paint(style, &status),
                paint(DIM, &timings)
            )
        };
        let _ = writeln!(out, "{line}");
        for note in &migration.notes {
            let _ = writeln!(out, "      {}", paint(DIM, &format!("note: {note}")));
        }
        for problem in &migration.problems {
            problem_lines(&mut out, problem);
        }
        for finding in &migration.locks {
            lock_lines(&mut out, finding);
        }
        for finding in &migration.compat {
            compat_lines(&mut out, finding);
        }
    }
    let sequence = &report.sequence;
    let by_version = sequence.status_by_version();
    let (symbol, style, words) = match sequence.status {
        SequenceStatus::Passed => ("✓", GREEN, "passed".to_string()),
        SequenceStatus::Failed => ("✗", RED, by_version.unwrap_or_else(|| "failed".into())),
        SequenceStatus::Skipped => {
            let note = sequence.note.clone().unwrap_or_else(|| "skipped".into());
            let words = match by_version {
                Some(by_version) => format!("{by_version} ({note})"),
                None => note,
            };
            ("-", DIM, words)
        }
    };
    let range = match (&sequence.from_version, &sequence.to_version) {
        (Some(from), Some(to)) => format!(" (downs {to} → {from}, then ups {from} → {to})"),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "\n  {} sequence cycle: {}{range}",
        paint(style, symbol),
        paint(style, &words)
    );
    for problem in &sequence.problems {
        problem_lines(&mut out, problem);
    }
    if let Some(compat) = &report.compat {
        compat_summary(&mut out, compat);
    }
    if !report.notes.is_empty() {
        let _ = writeln!(out);
        for note in &report.notes {
            let _ = writeln!(out, "  {}", paint(DIM, &format!("note: {note}")));
        }
    }

    if !report.checksums.is_empty() || !report.problems.is_empty() {
        let _ = writeln!(out);
        out.push_str(&render_checksums(&report.checksums, &report.problems, None));
    }

    if !report.schema_changes.is_empty() {
        let _ = writeln!(out);
        out.push_str(&render_schema_changes(&report.schema_changes));
    }

    let (errors, warnings) = report.problem_counts();
    let failed = report
        .migrations
        .iter()
        .filter(|m| m.status.is_failure())
        .count();
    let t = report.timings_ms;
    let verdict = if report.passed {
        paint(GREEN.bold(), "PASSED")
    } else {
        paint(RED, "FAILED")
    };
    let _ = writeln!(
        out,
        "\n{verdict}: {failed} of {} migration(s) failed, {errors} error(s), {warnings} warning(s) · {} ({})",
        report.migrations.len(),
        seconds(t.total),
        t.breakdown(seconds),
    );
    out
}

/// A measured lock finding: what the statement did, with the evidence, then the safe way
/// to write it.
fn lock_lines(out: &mut String, finding: &crate::analysis::LockFinding) {
    let style = if finding.allowed { DIM } else { YELLOW };
    let mut allowed = if finding.allowed { " (allowed)" } else { "" }.to_string();
    if finding.script == crate::analysis::Script::Down {
        allowed.push_str(" (down)");
    }
    let _ = writeln!(
        out,
        "      {} {}{allowed}: {}",
        paint(
            style,
            if crate::analysis::data::is_data_rule(&finding.rule) {
                "data"
            } else {
                "lock"
            }
        ),
        finding.rule,
        finding.title
    );
    let _ = writeln!(out, "        {}", finding.summary());
    let _ = writeln!(
        out,
        "        {}",
        paint(
            DIM,
            &format!(
                "--> {}:{}  {}",
                finding.file, finding.line, finding.statement
            )
        )
    );
    for line in finding.safe_rewrite.lines() {
        let _ = writeln!(out, "        {}", paint(DIM, &format!("| {line}")));
    }
}

/// A statement of the running code that breaks, under the migration it is owed to.
fn compat_lines(out: &mut String, finding: &crate::compat::CompatFinding) {
    let (mark, style) = match finding.severity {
        Severity::Error => ("error", RED),
        Severity::Warning => ("warning", YELLOW),
    };
    let versions = match finding.versions.as_slice() {
        [] => String::new(),
        majors => format!(" (PostgreSQL {})", super::majors_list(majors)),
    };
    let _ = writeln!(
        out,
        "      {}: running code, {}{versions}",
        paint(style, mark),
        finding.window.words()
    );
    let _ = writeln!(out, "        {}", finding.summary());
    if let (Some(file), Some(line)) = (&finding.file, finding.line) {
        let _ = writeln!(out, "        {} {file}:{line}", paint(DIM, "--> caused by"));
    }
}

/// Where the running code's statements came from and what could not be judged.
fn compat_summary(out: &mut String, compat: &crate::compat::CompatSummary) {
    if compat.sources.is_empty() {
        let _ = writeln!(out, "\n  running code: not judged (no source of its SQL)");
    } else {
        let _ = writeln!(
            out,
            "\n  running code: {} statement judgment(s)",
            compat.judged
        );
    }
    for source in &compat.sources {
        let _ = writeln!(out, "    {}", paint(DIM, &format!("from {source}")));
    }
    for entry in &compat.not_judged {
        let _ = writeln!(
            out,
            "    {}",
            paint(
                DIM,
                &format!("not judged: {}: {}", entry.query, entry.reason)
            )
        );
    }
    for note in &compat.notes {
        let _ = writeln!(out, "    {}", paint(DIM, &format!("note: {note}")));
    }
}

/// The base-branch comparison: files that are not unchanged, with their
/// hashes, then the gate problems.
pub fn render_checksums(
    entries: &[ChecksumEntry],
    problems: &[Problem],
    compared_with: Option<&str>,
) -> String {
    let mut out = String::new();
    let unchanged = entries.iter().filter(|e| e.state == "unchanged").count();
    if let Some(compared_with) = compared_with {
        let _ = writeln!(out, "{} {compared_with}", paint(BOLD, "compared with"));
    }
    if !entries.is_empty() {
        let _ = writeln!(
            out,
            "  {}",
            paint(
                DIM,
                &format!("{} migration file(s): {unchanged} unchanged", entries.len())
            )
        );
    }
    let short = |hash: &Option<String>| {
        hash.as_deref()
            .map_or("-".to_string(), |h| h.chars().take(8).collect())
    };
    for entry in entries.iter().filter(|e| e.state != "unchanged") {
        let style = match entry.state.as_str() {
            "added" => GREEN,
            "renamed" => YELLOW,
            _ => RED,
        };
        let from = entry
            .base_path
            .as_deref()
            .map(|p| format!(" (was {p})"))
            .unwrap_or_default();
        let note = entry
            .note
            .as_deref()
            .map(|n| format!(" — {n}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} {}{from}{note}  {}",
            paint(style, &format!("{:<12}", entry.state)),
            entry.path,
            paint(
                DIM,
                &format!(
                    "{} → {}",
                    short(&entry.base_sha256),
                    short(&entry.head_sha256)
                )
            )
        );
    }
    for problem in problems {
        problem_lines(&mut out, problem);
    }
    out
}

/// The terminal shows at most this many lines of schema changes; the JSON and Markdown
/// reports have them all.
const SCHEMA_LINES_SHOWN: usize = 60;

/// The net schema change grouped by table, counts first, marks coloured.
fn render_schema_changes(changes: &[SchemaChange]) -> String {
    let overview = schema_changes::overview(changes);
    let mut out = format!("  {} {}\n", paint(BOLD, "schema changes:"), overview.counts);
    let lines = overview.lines();
    for line in lines.iter().take(SCHEMA_LINES_SHOWN) {
        let style = match line.mark {
            Mark::Added => GREEN,
            Mark::Removed => RED,
            Mark::Changed => YELLOW,
            Mark::Context => DIM,
        };
        let text = format!(
            "{} {}{}",
            line.mark.symbol(),
            "    ".repeat(line.depth),
            line.text
        );
        match text.trim_end() {
            "" => out.push('\n'),
            text => {
                let _ = writeln!(out, "    {}", paint(style, text));
            }
        }
    }
    if lines.len() > SCHEMA_LINES_SHOWN {
        let _ = writeln!(
            out,
            "    {}",
            paint(
                DIM,
                &format!(
                    "… {} more lines (--json and --markdown have them all)",
                    lines.len() - SCHEMA_LINES_SHOWN
                )
            )
        );
    }
    out
}

fn seconds(ms: u64) -> String {
    format!("{:.2}s", ms as f64 / 1000.0)
}

/// Progress on stderr: a transient line on a terminal, one line per migration otherwise.
pub struct TerminalProgress {
    interactive: bool,
    stream: anstream::Stderr,
    /// Put before every line when runs share the terminal (`[PG 13] `).
    label: String,
}

impl TerminalProgress {
    pub fn new() -> Self {
        TerminalProgress {
            interactive: std::io::stderr().is_terminal(),
            stream: anstream::stderr(),
            label: String::new(),
        }
    }

    /// Progress of one of several concurrent runs: every line starts with
    /// `[label]`, and none is transient (they would overwrite each other).
    pub fn labelled(label: &str) -> Self {
        TerminalProgress {
            interactive: false,
            stream: anstream::stderr(),
            label: format!("[{label}] "),
        }
    }

    /// A line that is not tied to a migration (startup, ...).
    pub fn message(&mut self, text: &str) {
        let _ = writeln!(self.stream, "{}{}", self.label, paint(DIM, text));
    }
}

impl Default for TerminalProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for TerminalProgress {
    fn started(&mut self, index: usize, total: usize, migration: &Migration) {
        if self.interactive {
            let _ = write!(
                self.stream,
                "\r\x1b[2K[{}/{total}] {} {} …",
                index + 1,
                migration.version,
                migration.name
            );
            let _ = self.stream.flush();
        }
    }

    fn finished(&mut self, index: usize, total: usize, report: &MigrationReport) {
        let (symbol, style) = status_look(report.status);
        let clear = if self.interactive { "\r\x1b[2K" } else { "" };
        let _ = writeln!(
            self.stream,
            "{clear}{}[{}/{total}] {} {} {} {}",
            self.label,
            index + 1,
            paint(style, symbol),
            report.version,
            report.name,
            paint(DIM, &status_and_timings(report))
        );
    }

    fn sequence_started(&mut self, count: usize) {
        let _ = writeln!(
            self.stream,
            "{}{}",
            self.label,
            paint(
                DIM,
                &format!("sequence cycle over {count} migrations: all downs, then all ups …")
            )
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::{at, lock_finding, problem, report};
    use crate::schema::review::{ColumnDetail, ObjectDetail};

    /// What a terminal that takes no colour shows.
    fn plain(report: &Report) -> String {
        anstream::adapter::strip_str(&render(report)).to_string()
    }

    #[test]
    fn all_passed() {
        let report = report()
            .applied("1", "create_users")
            .migration("2", "add_email_index", Status::Passed, vec![])
            .note("repeatable: applied twice, the second application left the schema as the first did")
            .migration("3", "add_orders", Status::Passed, vec![])
            .sequence(SequenceStatus::Passed, "2", "3")
            .build();
        insta::assert_snapshot!(plain(&report));
    }

    #[test]
    fn failures_warnings_and_locks() {
        let failed_up = at(
            problem(
                "sql_error",
                Severity::Error,
                "relation \"userz\" does not exist\nstatement: ALTER TABLE userz ADD COLUMN x int",
            ),
            "migrations/4_typo.up.sql",
            3,
            Some(13),
        );
        let leftover = at(
            problem(
                "not_reversible",
                Severity::Error,
                "index public.users_email_idx: left behind by down",
            ),
            "migrations/2_add_email_index.down.sql",
            1,
            None,
        );
        let position = problem(
            "column_position",
            Severity::Warning,
            "column public.users.nickname: at position 3 after down, 2 before up",
        );
        let mut allowed_down = lock_finding("index-without-concurrently", 2);
        allowed_down.allowed = true;
        allowed_down.script = crate::analysis::Script::Down;
        let mut report = report()
            .failed()
            .applied("1", "create_users")
            .migration(
                "2",
                "add_email_index",
                Status::NotReversible,
                vec![leftover],
            )
            .migration("3", "nickname", Status::Passed, vec![position])
            .migration("4", "typo", Status::FailedUp, vec![failed_up])
            .migration("5", "after_typo", Status::Skipped, vec![])
            .build();
        report.migrations[2].locks = vec![lock_finding("table-rewrite", 3), allowed_down];
        report.notes = vec!["2 file(s) in the migrations directory belong to no migration and were ignored: README.md, seed.sql".into()];
        report.sequence.note =
            Some("skipped: a migration failed, so the sequence cannot be trusted".into());
        insta::assert_snapshot!(plain(&report));
    }

    #[test]
    fn checksums_and_schema_changes() {
        let gate = problem(
            "modified",
            Severity::Error,
            "migrations/1_create_users.up.sql was modified after it was merged",
        );
        let report = report()
            .failed()
            .migration("3", "add_orders", Status::Passed, vec![])
            .checksum(
                "unchanged",
                "migrations/2_b.up.sql",
                Some("aaaaaaaaaaaa"),
                Some("aaaaaaaaaaaa"),
            )
            .checksum(
                "modified",
                "migrations/1_create_users.up.sql",
                Some("0123456789ab"),
                Some("fedcba987654"),
            )
            .checksum(
                "added",
                "migrations/3_add_orders.up.sql",
                None,
                Some("1111111111ab"),
            )
            .top_level(gate)
            .schema_changes(vec![SchemaChange {
                change: "added".into(),
                object: "table public.orders".into(),
                kind: "table".into(),
                name: "public.orders".into(),
                table: Some("public.orders".into()),
                details: Some(ObjectDetail {
                    columns: vec![
                        ColumnDetail {
                            name: "id".into(),
                            data_type: "bigint".into(),
                            not_null: true,
                            default: None,
                            identity: Some("always".into()),
                            generated: None,
                        },
                        ColumnDetail {
                            name: "user_id".into(),
                            data_type: "integer".into(),
                            not_null: true,
                            default: None,
                            identity: None,
                            generated: None,
                        },
                    ],
                    ..ObjectDetail::default()
                }),
                ..SchemaChange::default()
            }])
            .schema_change("added", "index public.users_email_idx", None)
            .build();
        insta::assert_snapshot!(plain(&report));
    }

    #[test]
    fn the_verdict_is_coloured() {
        let failed = render(&report().failed().build());
        assert!(failed.contains(&paint(RED, "FAILED")), "{failed:?}");
        let passed = render(&report().build());
        assert!(
            passed.contains(&paint(GREEN.bold(), "PASSED")),
            "{passed:?}"
        );
    }
}
