//! The report as GitHub-flavoured Markdown, for the pull-request comment and
//! the job summary. Reviewers read it on GitHub, so it leads with the verdict,
//! shows the evidence of each failure where it can be acted on (file:line, the
//! schema differences as a diff) and folds long parts away. Everything in it
//! that comes from files or the database is untrusted: it is escaped so that
//! it cannot break the layout, inject HTML, mention people or forge the hidden
//! marker the comment is found by. GitHub limits the size of comments and
//! summaries, so the least important parts are cut first when the report is
//! too long, and the cut is said. Like every renderer, it only presents the
//! [`Report`]: it never decides a verdict.

use std::fmt::Write as _;

use super::{MigrationReport, Problem, Report, SequenceStatus, Severity, Status};
use super::{mermaid, schema_changes};

/// GitHub's limit for the body of a pull-request comment, in characters.
pub const PR_COMMENT_MAX_CHARS: usize = 65_536;

/// The size used for the job summary (GitHub's limit there is 1 MiB in bytes,
/// which the summary writer enforces on its own).
pub const JOB_SUMMARY_MAX_CHARS: usize = 1_048_576;

/// Parts longer than this many lines are folded into `<details>`.
const COLLAPSE_LINES: usize = 15;

/// The schema changes are shown open up to this many lines (what a reviewer reads
/// without clicking), folded into `<details>` beyond.
const SCHEMA_LINES_SHOWN: usize = 40;

/// Zero-width joiner, put after `@` (and `<` in code) to neutralise mentions and tags.
const ZWJ: char = '\u{200d}';

/// How the Markdown is rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkdownOptions {
    /// A hidden HTML comment put on the first line, e.g.
    /// `<!-- migration-check:migrations -->`, by which an earlier comment is
    /// found and updated. Trusted: written as is.
    pub marker: Option<String>,
    /// The most characters (not bytes) the result may have:
    /// [`PR_COMMENT_MAX_CHARS`] for a comment, [`JOB_SUMMARY_MAX_CHARS`] for the summary.
    pub max_chars: usize,
    /// Where the whole report can be read when this one had to be cut, e.g.
    /// "the full report is in the job summary". Trusted: written as Markdown as is.
    pub full_report_hint: Option<String>,
    /// Where the checked commit's files are shown
    /// (`https://github.com/owner/repo/blob/<sha>`): file locations become links.
    /// Trusted.
    pub blob_url: Option<String>,
}

impl Default for MarkdownOptions {
    fn default() -> Self {
        MarkdownOptions {
            marker: None,
            max_chars: PR_COMMENT_MAX_CHARS,
            full_report_hint: None,
            blob_url: None,
        }
    }
}

/// The report as Markdown of at most `options.max_chars` characters.
///
/// When the full rendering is too long, parts are left out in this order until
/// it fits: the list of earlier (only applied) migrations, the schema changes,
/// the checksum table, the details of warnings, then failure details (long
/// messages shortened, then fewer problems shown), then rows of the migrations
/// table. The verdict is always kept, and a note says what was cut.
pub fn render(report: &Report, options: &MarkdownOptions) -> String {
    let fits = |text: &str| text.chars().count() <= options.max_chars;
    let mut plan = Plan::FULL;
    let full = render_plan(report, options, plan);
    if fits(&full) {
        return full;
    }
    let steps: [fn(&mut Plan); 5] = [
        |p| p.applied_details = false,
        |p| p.schema_details = false,
        |p| p.schema_changes = false,
        |p| p.checksum_table = false,
        |p| p.warning_details = false,
    ];
    for step in steps {
        step(&mut plan);
        let text = render_plan(report, options, plan);
        if fits(&text) {
            return text;
        }
    }
    for chars in [1_000, 300, 100] {
        plan.message_chars = Some(chars);
        let text = render_plan(report, options, plan);
        if fits(&text) {
            return text;
        }
    }
    let total = total_problems(report);
    if let Some(text) = largest_fitting(total, &fits, |n| {
        render_plan(
            report,
            options,
            Plan {
                max_problems: Some(n),
                ..plan
            },
        )
    }) {
        return text;
    }
    plan.max_problems = Some(0);
    plan.passed_rows = false;
    let text = render_plan(report, options, plan);
    if fits(&text) {
        return text;
    }
    let rows = report.migrations.len();
    if let Some(text) = largest_fitting(rows, &fits, |n| {
        render_plan(
            report,
            options,
            Plan {
                max_rows: Some(n),
                ..plan
            },
        )
    }) {
        return text;
    }
    // Not even the verdict with a table of nothing fits: the verdict alone,
    // cut by characters as a last resort for absurdly small limits.
    let mut text = head(report, options, &["everything but the verdict".to_string()]);
    if !fits(&text) {
        text = text.chars().take(options.max_chars).collect();
    }
    text
}

/// The rendering of the largest `n` in `0..=max` that fits, by bisection
/// (the length grows with `n`).
fn largest_fitting(
    max: usize,
    fits: &dyn Fn(&str) -> bool,
    render: impl Fn(usize) -> String,
) -> Option<String> {
    let first = render(0);
    if !fits(&first) {
        return None;
    }
    let (mut lo, mut hi, mut best) = (0, max, first);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        let text = render(mid);
        if fits(&text) {
            lo = mid;
            best = text;
        } else {
            hi = mid - 1;
        }
    }
    Some(best)
}

fn total_problems(report: &Report) -> usize {
    report
        .migrations
        .iter()
        .map(|m| m.problems.len())
        .sum::<usize>()
        + report.sequence.problems.len()
        + report.problems.len()
}

/// Which parts a rendering includes.
#[derive(Debug, Clone, Copy)]
struct Plan {
    applied_details: bool,
    /// What each schema change is, beyond one line per table or object.
    schema_details: bool,
    schema_changes: bool,
    checksum_table: bool,
    warning_details: bool,
    /// Messages longer than this are shortened.
    message_chars: Option<usize>,
    /// At most this many problems (items or diff lines) are shown.
    max_problems: Option<usize>,
    /// Rows of passed migrations are listed in the table.
    passed_rows: bool,
    /// At most this many rows in the migrations table.
    max_rows: Option<usize>,
}

impl Plan {
    const FULL: Plan = Plan {
        applied_details: true,
        schema_details: true,
        schema_changes: true,
        checksum_table: true,
        warning_details: true,
        message_chars: None,
        max_problems: None,
        passed_rows: true,
        max_rows: None,
    };
}

fn render_plan(report: &Report, options: &MarkdownOptions, plan: Plan) -> String {
    let mut ctx = Ctx {
        plan,
        shown: 0,
        cuts: Cuts::default(),
    };
    let mut blocks = Vec::new();
    ctx.migrations_table(report, &mut blocks);
    ctx.migration_sections(report, &mut blocks);
    locks(report, &mut blocks);
    running_code(report, options, &mut blocks);
    ctx.sequence(report, &mut blocks);
    ctx.checksums(report, &mut blocks);
    ctx.schema_changes(report, &mut blocks);
    if !report.notes.is_empty() {
        blocks.push(notes(&report.notes));
    }
    blocks.push(footer(report));
    let mut out = head(report, options, &ctx.cuts.describe());
    out.push('\n');
    out.push_str(&blocks.join("\n"));
    out
}

/// What a rendering left out, for the note under the verdict.
#[derive(Debug, Default)]
struct Cuts {
    applied_details: bool,
    schema_details: bool,
    schema_changes: usize,
    checksum_rows: usize,
    warnings: usize,
    shortened_messages: usize,
    problems: usize,
    rows: usize,
}

impl Cuts {
    fn describe(&self) -> Vec<String> {
        let mut parts = Vec::new();
        if self.applied_details {
            parts.push("the list of earlier migrations".to_string());
        }
        if self.schema_details {
            parts.push("the details of the schema changes".to_string());
        }
        if self.schema_changes > 0 {
            parts.push(count(
                self.schema_changes,
                "schema change",
                "schema changes",
            ));
        }
        if self.checksum_rows > 0 {
            parts.push(format!(
                "the checksum table ({})",
                count(self.checksum_rows, "file", "files")
            ));
        }
        if self.warnings > 0 {
            parts.push(format!(
                "the details of {}",
                count(self.warnings, "warning", "warnings")
            ));
        }
        if self.shortened_messages > 0 {
            parts.push(format!(
                "the end of {}",
                count(self.shortened_messages, "long message", "long messages")
            ));
        }
        if self.problems > 0 {
            parts.push(format!(
                "the details of {}",
                count(self.problems, "problem", "problems")
            ));
        }
        if self.rows > 0 {
            parts.push(format!(
                "{} of the migrations table",
                count(self.rows, "row", "rows")
            ));
        }
        parts
    }
}

/// One rendering in progress.
struct Ctx {
    plan: Plan,
    /// Problems shown so far.
    shown: usize,
    cuts: Cuts,
}

/// The marker, the verdict with its counts, and the note about cuts.
fn head(report: &Report, options: &MarkdownOptions, cuts: &[String]) -> String {
    let mut out = String::new();
    if let Some(marker) = &options.marker {
        let _ = writeln!(out, "{marker}");
    }
    let verdict = if report.passed {
        "✅ migration-check passed"
    } else {
        "❌ migration-check failed"
    };
    let _ = writeln!(out, "### {verdict}\n");
    let verified = report.migrations.iter().filter(|m| m.new).count();
    let failed = report
        .migrations
        .iter()
        .filter(|m| has_error(&m.problems))
        .count();
    let (errors, warnings) = report.problem_counts();
    let _ = writeln!(
        out,
        "**{}** verified · **{failed}** failed · {} · {} · PostgreSQL {} ({}) · {} migrations in {}",
        count(verified, "migration", "migrations"),
        count(errors, "error", "errors"),
        count(warnings, "warning", "warnings"),
        md(&report.postgres.server_version),
        md(&report.postgres.backend),
        md(&report.format),
        code_span(&report.directory),
    );
    if !cuts.is_empty() {
        let _ = write!(
            out,
            "\n> ✂️ **This report was shortened** to fit in {} characters; left out: {}.",
            options.max_chars,
            cuts.join(", ")
        );
        if let Some(hint) = &options.full_report_hint {
            let _ = write!(out, " {}", capitalised(hint));
            if !hint.ends_with(['.', '!', ')']) {
                out.push('.');
            }
        }
        out.push('\n');
    }
    out
}

/// Run-level notes (what was read but not compared), folded: they explain,
/// they never change the verdict.
fn notes(notes: &[String]) -> String {
    let items: String = notes.iter().map(|n| format!("- {}\n", md(n))).collect();
    format!(
        "<details><summary>{}</summary>\n\n{items}\n</details>\n",
        count(notes.len(), "note", "notes")
    )
}

fn footer(report: &Report) -> String {
    let t = report.timings_ms;
    format!(
        "<sub>⏱️ {} in total: {}</sub>\n",
        seconds(t.total),
        t.breakdown(seconds)
    )
}

impl Ctx {
    /// Takes one unit of the problem budget; false when it is spent.
    fn take(&mut self) -> bool {
        match self.plan.max_problems {
            Some(max) if self.shown >= max => {
                self.cuts.problems += 1;
                false
            }
            _ => {
                self.shown += 1;
                true
            }
        }
    }

    /// The message, shortened under the plan.
    fn message(&mut self, message: &str) -> String {
        match self.plan.message_chars {
            Some(max) if message.chars().count() > max => {
                self.cuts.shortened_messages += 1;
                let cut: String = message.chars().take(max).collect();
                format!("{cut} … (cut)")
            }
            _ => message.to_string(),
        }
    }

    fn migrations_table(&mut self, report: &Report, blocks: &mut Vec<String>) {
        // Under verification, and earlier migrations that did not simply apply.
        let listed: Vec<&MigrationReport> = report
            .migrations
            .iter()
            .filter(|m| m.new || m.status != Status::Applied)
            .collect();
        let applied: Vec<&MigrationReport> = report
            .migrations
            .iter()
            .filter(|m| !m.new && m.status == Status::Applied)
            .collect();
        let mut rows: Vec<&MigrationReport> = listed
            .iter()
            .copied()
            .filter(|m| self.plan.passed_rows || m.status != Status::Passed)
            .collect();
        if let Some(max) = self.plan.max_rows {
            rows.truncate(max);
        }
        let left_out = listed.len() - rows.len();
        self.cuts.rows += left_out;
        if !rows.is_empty() {
            let mut table = String::from(
                "| Status | Version | Migration | Up (ms) | Down (ms) | Re-up (ms) |\n\
                 |---|---|---|--:|--:|--:|\n",
            );
            for m in &rows {
                let ms = |v: Option<u64>| v.map_or("—".to_string(), |v| v.to_string());
                let _ = writeln!(
                    table,
                    "| {} {} | {} | {} | {} | {} | {} |",
                    status_emoji(m),
                    md(&m.status_text()),
                    md(&m.version),
                    md(&m.name),
                    ms(m.timings_ms.up),
                    ms(m.timings_ms.down),
                    ms(m.timings_ms.reup)
                );
            }
            let summary = format!(
                "Migrations under verification ({})",
                listed.iter().filter(|m| m.new).count()
            );
            blocks.push(collapse(&summary, table));
        } else if listed.is_empty() {
            blocks.push("No migration is under verification.\n".to_string());
        }
        if left_out > 0 {
            blocks.push(format!(
                "… {} not listed.\n",
                count(left_out, "more migration", "more migrations")
            ));
        }
        if let (Some(first), Some(last)) = (applied.first(), applied.last()) {
            let mut line = format!(
                "{} applied unchanged (already merged, not verified again)",
                count(applied.len(), "earlier migration", "earlier migrations")
            );
            if self.plan.applied_details {
                if applied.len() == 1 {
                    let _ = write!(line, ": {} {}", md(&first.version), md(&first.name));
                } else {
                    let _ = write!(
                        line,
                        ": {} {} … {} {}",
                        md(&first.version),
                        md(&first.name),
                        md(&last.version),
                        md(&last.name)
                    );
                }
            } else {
                self.cuts.applied_details = true;
            }
            line.push_str(".\n");
            blocks.push(line);
        }
    }

    fn migration_sections(&mut self, report: &Report, blocks: &mut Vec<String>) {
        let mut hidden_sections = 0;
        for m in report.migrations.iter().filter(|m| !m.problems.is_empty()) {
            let items = self.problem_blocks(&m.problems);
            if items.is_empty() {
                hidden_sections += 1;
                continue;
            }
            let mut section = format!(
                "#### {} {} {}: {}\n",
                status_emoji(m),
                md(&m.version),
                md(&m.name),
                md(&m.status_text())
            );
            if !m.notes.is_empty() {
                section.push('\n');
                for note in &m.notes {
                    let _ = writeln!(section, "- note: {}", md(note));
                }
            }
            blocks.push(section);
            push_items(blocks, items);
        }
        if hidden_sections > 0 {
            blocks.push(format!(
                "… {} not shown.\n",
                count(
                    hidden_sections,
                    "more migration with problems",
                    "more migrations with problems"
                )
            ));
        }
    }

    fn sequence(&mut self, report: &Report, blocks: &mut Vec<String>) {
        let sequence = &report.sequence;
        let status = match (sequence.status, sequence.status_by_version()) {
            (SequenceStatus::Failed, Some(by_version)) => format!("❌ {}", md(&by_version)),
            (SequenceStatus::Passed, _) => "✅ passed".into(),
            (SequenceStatus::Failed, None) => "❌ failed".into(),
            (SequenceStatus::Skipped, Some(by_version)) => format!("⏭️ {}", md(&by_version)),
            (SequenceStatus::Skipped, None) => "⏭️ skipped".into(),
        };
        let mut line =
            format!("**Sequence cycle** (all downs in reverse, then all ups again): {status}");
        if let (Some(from), Some(to)) = (&sequence.from_version, &sequence.to_version) {
            let (from, to) = (md(from), md(to));
            let _ = write!(line, " — downs {to} → {from}, then ups {from} → {to}");
        }
        if let Some(note) = &sequence.note {
            let note = match sequence.status {
                SequenceStatus::Skipped => note.strip_prefix("skipped: ").unwrap_or(note),
                _ => note,
            };
            let _ = write!(line, " — {}", md(note));
        }
        line.push('\n');
        blocks.push(line);
        let items = self.problem_blocks(&sequence.problems);
        push_items(blocks, items);
    }

    fn checksums(&mut self, report: &Report, blocks: &mut Vec<String>) {
        if report.checksums.is_empty() && report.problems.is_empty() {
            return;
        }
        let heading = if report.checksums.is_empty() {
            "#### Checksums\n"
        } else {
            "#### Migration files compared with the base branch\n"
        };
        blocks.push(heading.to_string());
        let items = self.problem_blocks(&report.problems);
        push_items(blocks, items);
        if report.checksums.is_empty() {
            return;
        }
        let changed: Vec<_> = report
            .checksums
            .iter()
            .filter(|e| e.state != "unchanged")
            .collect();
        blocks.push(format!(
            "{} compared: {} unchanged, {} changed.\n",
            count(report.checksums.len(), "migration file", "migration files"),
            report.checksums.len() - changed.len(),
            changed.len()
        ));
        if changed.is_empty() {
            return;
        }
        if !self.plan.checksum_table {
            self.cuts.checksum_rows += changed.len();
            return;
        }
        let with_notes = changed.iter().any(|e| e.note.is_some());
        let mut table = String::from("| State | File | Renamed from | Base → head |");
        table.push_str(if with_notes { " Note |\n" } else { "\n" });
        table.push_str("|---|---|---|---|");
        table.push_str(if with_notes { "---|\n" } else { "\n" });
        let short = |hash: &Option<String>| {
            hash.as_deref().map_or("—".to_string(), |h| {
                md(&h.chars().take(8).collect::<String>())
            })
        };
        for entry in changed {
            let _ = write!(
                table,
                "| {} | {} | {} | {} → {} |",
                md(&entry.state),
                md(&entry.path),
                entry.base_path.as_deref().map_or("—".to_string(), md),
                short(&entry.base_sha256),
                short(&entry.head_sha256)
            );
            if with_notes {
                let _ = write!(
                    table,
                    " {} |",
                    entry.note.as_deref().map_or(String::new(), md)
                );
            }
            table.push('\n');
        }
        blocks.push(collapse("Changed migration files", table));
    }

    /// The net schema change: counts, then a diff grouped by table showing what each
    /// added object is, what each removed one was and each changed attribute; folded
    /// into `<details>` when long. Cut to one line per group, then left out, when the
    /// comment is too long.
    fn schema_changes(&mut self, report: &Report, blocks: &mut Vec<String>) {
        let changes = &report.schema_changes;
        if changes.is_empty() {
            return;
        }
        if !self.plan.schema_changes {
            self.cuts.schema_changes += changes.len();
            return;
        }
        let overview = schema_changes::overview(changes);
        let lines: Vec<String> = if self.plan.schema_details {
            overview.text_lines()
        } else {
            self.cuts.schema_details = true;
            overview
                .groups
                .iter()
                .filter_map(|group| group.first())
                .map(|line| format!("{} {}", line.mark.symbol(), line.text))
                .collect()
        };
        let mut block = format!(
            "#### Schema changes in this PR\n\n**{}**\n\n",
            md(&overview.counts)
        );
        if let Some(diagram) = &report.schema_diagram {
            block.push_str(&fence("mermaid", &mermaid::render(diagram)));
            let note = mermaid::left_out_note(diagram)
                .map(|note| format!(" {}", md(&note)))
                .unwrap_or_default();
            let _ = writeln!(block, "<sub>{}{note}</sub>\n", mermaid::LEGEND);
        }
        let body = fence("diff", &lines.join("\n"));
        if lines.len() > SCHEMA_LINES_SHOWN {
            let _ = write!(
                block,
                "<details><summary>All schema changes ({} lines)</summary>\n\n{body}\n</details>\n",
                lines.len()
            );
        } else {
            block.push_str(&body);
        }
        blocks.push(block);
    }

    /// The blocks for a list of problems: errors first, then warnings; in each,
    /// the problems without an object one by one, then the schema differences
    /// as one diff. Each block comes with the number of problems it shows.
    fn problem_blocks(&mut self, problems: &[Problem]) -> Vec<(String, usize)> {
        let mut blocks = Vec::new();
        let mut hidden = 0;
        for severity in [Severity::Error, Severity::Warning] {
            let of_severity: Vec<&Problem> =
                problems.iter().filter(|p| p.severity == severity).collect();
            if severity == Severity::Warning && !self.plan.warning_details {
                if !of_severity.is_empty() {
                    self.cuts.warnings += of_severity.len();
                    blocks.push((
                        format!(
                            "⚠️ {} (details left out).\n",
                            count(of_severity.len(), "warning", "warnings")
                        ),
                        0,
                    ));
                }
                continue;
            }
            for problem in of_severity.iter().filter(|p| p.object.is_none()) {
                if self.take() {
                    blocks.push((self.problem_item(problem), 1));
                } else {
                    hidden += 1;
                }
            }
            let mut differences = Vec::new();
            for problem in of_severity.iter().filter(|p| p.object.is_some()) {
                if self.take() {
                    differences.push(*problem);
                } else {
                    hidden += 1;
                }
            }
            if !differences.is_empty() {
                let n = differences.len();
                blocks.push((self.difference_block(severity, &differences), n));
            }
        }
        // Nothing but "details left out" lines: the section is not worth showing.
        if blocks.iter().all(|(_, n)| *n == 0) && hidden > 0 {
            return Vec::new();
        }
        if hidden > 0 {
            blocks.push((
                format!(
                    "… {} not shown.\n",
                    count(hidden, "more problem", "more problems")
                ),
                0,
            ));
        }
        blocks
    }

    /// One problem: severity, kind and location, then the message (in a code
    /// block when it has several lines).
    fn problem_item(&mut self, problem: &Problem) -> String {
        let (emoji, word) = severity_look(problem.severity);
        let mut head = format!("{emoji} **{word}** ({})", md(&problem.kind));
        if let Some(location) = location(problem) {
            let _ = write!(head, " at {}", code_span(&location));
        }
        let message = self.message(problem.message_with_versions().trim_end());
        if !message.contains(['\n', '\r']) {
            return format!("{head}: {}\n", md(&message));
        }
        let lines = message.lines().count();
        let body = fence("text", &message);
        format!(
            "{head}:\n\n{}",
            collapse(&format!("{word} message ({lines} lines)"), body)
        )
    }

    /// Schema differences as one diff: `+` for what is there only after,
    /// `-` for what is missing, `!` for what differs.
    fn difference_block(&mut self, severity: Severity, problems: &[&Problem]) -> String {
        let (emoji, word) = severity_look(severity);
        let mut lines = Vec::new();
        for problem in problems {
            let message = self.message(problem.message_with_versions().trim_end());
            let mark = difference_mark(&message);
            for (i, line) in message.lines().enumerate() {
                if i == 0 {
                    lines.push(format!("{mark} {line}"));
                } else {
                    lines.push(format!("  {line}"));
                }
            }
        }
        let mut locations: Vec<String> = Vec::new();
        for location in problems.iter().filter_map(|p| location(p)) {
            if !locations.contains(&location) {
                locations.push(location);
            }
        }
        let mut head = format!(
            "{emoji} **{word}**: {}",
            count(problems.len(), "schema difference", "schema differences")
        );
        if !locations.is_empty() {
            let shown: Vec<String> = locations.iter().take(3).map(|l| code_span(l)).collect();
            let _ = write!(head, " after {}", shown.join(", "));
            if locations.len() > 3 {
                let _ = write!(head, " and {} more", locations.len() - 3);
            }
        }
        let summary = count(problems.len(), "schema difference", "schema differences");
        format!(
            "{head}:\n\n{}",
            collapse(&summary, fence("diff", &lines.join("\n")))
        )
    }
}

/// Adds the blocks of a section: the first stays visible; when the rest is
/// long, it is folded away.
fn push_items(blocks: &mut Vec<String>, items: Vec<(String, usize)>) {
    let mut items = items.into_iter();
    let Some((first, _)) = items.next() else {
        return;
    };
    blocks.push(first);
    let rest: Vec<(String, usize)> = items.collect();
    if rest.is_empty() {
        return;
    }
    let problems: usize = rest.iter().map(|(_, n)| n).sum();
    let body = rest
        .into_iter()
        .map(|(text, _)| text)
        .collect::<Vec<_>>()
        .join("\n");
    let summary = if problems > 0 {
        count(problems, "more problem", "more problems")
    } else {
        "more".to_string()
    };
    blocks.push(collapse(&summary, body));
}

/// The diff mark for a schema difference, from the describing sentence.
fn difference_mark(message: &str) -> char {
    if ["left behind", "only after", "created by the second up"]
        .iter()
        .any(|s| message.contains(s))
    {
        '+'
    } else if message.contains("missing") {
        '-'
    } else {
        '!'
    }
}

fn location(problem: &Problem) -> Option<String> {
    let file = problem.file.as_ref()?;
    Some(match (problem.line, problem.column) {
        (Some(line), Some(column)) => format!("{file}:{line}:{column}"),
        (Some(line), None) => format!("{file}:{line}"),
        _ => file.clone(),
    })
}

fn has_error(problems: &[Problem]) -> bool {
    problems.iter().any(|p| p.severity == Severity::Error)
}

fn severity_look(severity: Severity) -> (&'static str, &'static str) {
    match severity {
        Severity::Error => ("❌", "error"),
        Severity::Warning => ("⚠️", "warning"),
    }
}

fn status_emoji(migration: &MigrationReport) -> &'static str {
    match migration.status {
        Status::Passed => "✅",
        Status::Applied => "☑️",
        Status::Skipped => "⏭️",
        Status::Irreversible if has_error(&migration.problems) => "❌",
        // Told once in the run's notes (an up-only project, merged history).
        Status::Irreversible if migration.problems.is_empty() => "☑️",
        Status::Irreversible => "⚠️",
        Status::FailedUp | Status::FailedDown | Status::NotReversible | Status::NotReapplicable => {
            "❌"
        }
    }
}

/// Wraps `body` in `<details>` when it is longer than [`COLLAPSE_LINES`].
/// `summary` is our own text, never user input.
fn collapse(summary: &str, body: String) -> String {
    if body.lines().count() > COLLAPSE_LINES {
        format!("<details><summary>{summary}</summary>\n\n{body}\n</details>\n")
    } else {
        body
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn seconds(ms: u64) -> String {
    format!("{:.2} s", ms as f64 / 1000.0)
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Line breaks as `\n`; other control characters as U+FFFD.
fn normalise(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .map(|c| match c {
            '\r' => '\n',
            '\n' | '\t' => c,
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// Untrusted text for Markdown text and table cells: HTML special characters
/// as entities, `|` as an entity (safe in cells), Markdown punctuation
/// backslash-escaped, line breaks as `<br>`, mentions neutralised.
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in normalise(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("&#124;"),
            '\n' => out.push_str("<br>"),
            '@' => {
                out.push('@');
                out.push(ZWJ);
            }
            '\\' | '`' | '*' | '_' | '[' | ']' | '~' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Untrusted text for code (fences and spans), where entities are not
/// decoded: mentions neutralised, and a zero-width joiner after `<` where it
/// could start a tag or a comment (so no `<script>` or `<!--` marker appears).
fn code_safe(text: &str) -> String {
    let text = normalise(text);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        match c {
            '@' => out.push(ZWJ),
            '<' if chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphabetic() || matches!(n, '/' | '!' | '?')) =>
            {
                out.push(ZWJ)
            }
            _ => {}
        }
    }
    out
}

fn longest_backtick_run(text: &str) -> usize {
    let (mut longest, mut run) = (0, 0);
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// A fenced code block whose fence is longer than any backtick run inside.
fn fence(language: &str, content: &str) -> String {
    let content = code_safe(content);
    let ticks = "`".repeat((longest_backtick_run(&content) + 1).max(3));
    format!(
        "{ticks}{language}\n{}\n{ticks}\n",
        content.trim_end_matches('\n')
    )
}

/// At most this many rows of lock findings are listed in a comment (a row holds a
/// statement's findings on one relation); the JSON report has them all.
const MAX_LOCK_ROWS: usize = 20;

/// The measured lock findings: per migration a compact table (a row per statement and
/// relation, its rules together), then each rule's safe rewrite folded away.
fn locks(report: &Report, blocks: &mut Vec<String>) {
    let migrations: Vec<_> = report
        .migrations
        .iter()
        .filter(|m| !m.locks.is_empty())
        .collect();
    if migrations.is_empty() {
        return;
    }
    let total: usize = migrations.iter().map(|m| m.locks.len()).sum();
    let errors = migrations
        .iter()
        .flat_map(|m| &m.locks)
        .filter(|f| f.severity == crate::policy::Level::Error)
        .count();
    blocks.push(format!(
        "#### 🔒 Locks on existing tables: {} (measured, {})\n",
        count(total, "finding", "findings"),
        match errors {
            0 => "warnings".to_string(),
            errors => count(errors, "error", "errors"),
        }
    ));
    let (mut rows_shown, mut shown) = (0, 0);
    for migration in migrations {
        if rows_shown >= MAX_LOCK_ROWS {
            break;
        }
        let mut block = format!(
            "**{} {}**\n\n| line | statement | relation | lock | blocks | held | rules |\n| --- | --- | --- | --- | --- | --- | --- |\n",
            md(&migration.version),
            md(&migration.name)
        );
        // One row per statement and relation, its rules together.
        let mut rows: Vec<Vec<&crate::analysis::LockFinding>> = Vec::new();
        for finding in &migration.locks {
            match rows.last_mut() {
                Some(row)
                    if (&row[0].file, row[0].line, &row[0].relation)
                        == (&finding.file, finding.line, &finding.relation) =>
                {
                    row.push(finding)
                }
                _ => rows.push(vec![finding]),
            }
        }
        let mut rules: Vec<&crate::analysis::LockFinding> = Vec::new();
        let mut said_below: Vec<String> = Vec::new();
        for row in rows.iter().take(MAX_LOCK_ROWS - rows_shown) {
            let first = row[0];
            rows_shown += 1;
            shown += row.len();
            let script = match first.script {
                crate::analysis::Script::Up => "up",
                crate::analysis::Script::Down => "down",
            };
            let statement: String = first.statement.chars().take(48).collect();
            let statement = if statement.len() < first.statement.len() {
                format!("{} …", statement.trim_end_matches(" …"))
            } else {
                statement
            };
            let names: Vec<String> = row
                .iter()
                .map(|finding| {
                    let mut rule = code_span(&finding.rule);
                    if finding.rewrite {
                        rule.push_str(" (rewrite)");
                    }
                    if finding.allowed {
                        rule.push_str(" (allowed)");
                    }
                    rule
                })
                .collect();
            let data_only = row
                .iter()
                .all(|finding| crate::analysis::data::is_data_rule(&finding.rule));
            let held = if data_only {
                "—".to_string()
            } else {
                format!("{} ms", first.held_ms)
            };
            let _ = writeln!(
                block,
                "| {script} {} | {} | {} | {} | {} | {held} | {} |",
                first.line,
                code_span(&statement),
                md(&first.relation),
                md(first.mode.as_deref().unwrap_or("")),
                if data_only {
                    "—"
                } else {
                    first.blocks.words()
                },
                names.join(", ")
            );
            // What a table cannot hold: production's estimate (once per row: its findings
            // share the statement), a failure on the rows.
            if let Some(estimate) = row.iter().find_map(|finding| finding.estimate.as_ref()) {
                said_below.push(format!(
                    "- {script} {}: {}",
                    first.line,
                    md(&estimate.words())
                ));
            }
            for finding in row
                .iter()
                .filter(|finding| crate::analysis::data::is_data_rule(&finding.rule))
            {
                said_below.push(format!(
                    "- {script} {}, {}: {}",
                    finding.line,
                    code_span(&finding.rule),
                    md(&finding.evidence)
                ));
            }
            for finding in row {
                if !rules.iter().any(|r| r.rule == finding.rule) {
                    rules.push(finding);
                }
            }
        }
        if !said_below.is_empty() {
            let _ = write!(block, "\n{}\n", said_below.join("\n"));
        }
        for finding in rules {
            let _ = write!(
                block,
                "\n<details><summary>{}: {}</summary>\n\n{}\n\n{}</details>\n",
                code_span(&finding.rule),
                md(&finding.title),
                md(&finding.why),
                fence("sql", &finding.safe_rewrite)
            );
        }
        blocks.push(block);
    }
    if shown < total {
        blocks.push(format!(
            "… {} not shown: the JSON report has every one.\n",
            count(total - shown, "more lock finding", "more lock findings")
        ));
    }
}

/// At most this many of the running code's findings are listed in a comment; the JSON
/// report has them all.
const MAX_COMPAT_ROWS: usize = 20;

/// The running code on the changed schema: per window a table of the statements that
/// break, their error and the migration statement that caused it; then where the
/// statements came from and what could not be judged, folded away.
fn running_code(report: &Report, options: &MarkdownOptions, blocks: &mut Vec<String>) {
    let Some(summary) = &report.compat else {
        return;
    };
    let findings: Vec<(&MigrationReport, &crate::compat::CompatFinding)> = report
        .migrations
        .iter()
        .flat_map(|m| m.compat.iter().map(move |f| (m, f)))
        .collect();
    let errors = findings
        .iter()
        .filter(|(_, f)| f.severity == Severity::Error)
        .count();
    let headline = if summary.sources.is_empty() {
        "#### 🧩 Running code: not judged (no source of its SQL)\n".to_string()
    } else if findings.is_empty() {
        format!(
            "#### 🧩 Running code: nothing breaks ({} judged)\n",
            count(summary.judged, "statement", "statements")
        )
    } else {
        format!(
            "#### 🧩 Running code: {} ({}) of {} judged\n",
            count(findings.len(), "statement breaks", "statements break"),
            count(errors, "error", "errors"),
            summary.judged
        )
    };
    blocks.push(headline);
    let mut windows: Vec<crate::compat::Window> = findings.iter().map(|(_, f)| f.window).collect();
    windows.sort();
    windows.dedup();
    let mut shown = 0;
    for window in windows {
        let mut block = format!(
            "**{}**\n\n| | query | error | caused by |\n| --- | --- | --- | --- |\n",
            md(&capitalised(window.words()))
        );
        for (migration, finding) in findings.iter().filter(|(_, f)| f.window == window) {
            if shown >= MAX_COMPAT_ROWS {
                break;
            }
            shown += 1;
            let (mark, _) = severity_look(finding.severity);
            let query = &finding.query;
            let mut named = match &query.name {
                Some(name) => code_span(name),
                None => code_span(&query.label()),
            };
            if let Some(file) = &query.file {
                named.push(' ');
                named.push_str(&file_link(options, file, query.line));
            }
            if let Some(calls) = query.calls {
                named.push_str(&format!(" ({calls} calls)"));
            }
            let mut error = code_span(&finding.error);
            if !finding.sqlstate.is_empty() {
                error.push_str(&format!(" ({})", md(&finding.sqlstate)));
            }
            if !finding.versions.is_empty() {
                error.push_str(&format!(
                    " (PostgreSQL {})",
                    crate::report::majors_list(&finding.versions)
                ));
            }
            let cause = match &finding.file {
                Some(file) => format!(
                    "{} {}",
                    md(&migration.version),
                    file_link(options, file, finding.line)
                ),
                None => md(&migration.version),
            };
            let _ = writeln!(block, "| {mark} | {named} | {error} | {cause} |");
        }
        blocks.push(block);
    }
    if shown < findings.len() {
        blocks.push(format!(
            "… {} not shown: the JSON report has every one.\n",
            count(findings.len() - shown, "more statement", "more statements")
        ));
    }
    let mut details = String::new();
    for source in &summary.sources {
        let _ = writeln!(details, "- from {}", md(source));
    }
    for entry in summary.not_judged.iter().take(MAX_COMPAT_ROWS) {
        let _ = writeln!(
            details,
            "- not judged: {}: {}",
            code_span(&entry.query),
            md(&entry.reason)
        );
    }
    if summary.not_judged.len() > MAX_COMPAT_ROWS {
        let _ = writeln!(
            details,
            "- … {} more not judged (the JSON report lists them)",
            summary.not_judged.len() - MAX_COMPAT_ROWS
        );
    }
    for note in &summary.notes {
        let _ = writeln!(details, "- {}", md(note));
    }
    if !details.is_empty() {
        let title = if summary.sources.is_empty() {
            "What running code might feel"
        } else {
            "Where the statements came from"
        };
        blocks.push(collapse(title, details));
    }
}

/// `path:line`, a link to the line when the report knows where files are shown.
fn file_link(options: &MarkdownOptions, file: &str, line: Option<usize>) -> String {
    let text = match line {
        Some(line) => format!("{file}:{line}"),
        None => file.to_string(),
    };
    match &options.blob_url {
        Some(base) => {
            let anchor = line.map(|l| format!("#L{l}")).unwrap_or_default();
            let path: String = file
                .trim_start_matches("./")
                .split('/')
                .map(|part| {
                    part.replace(' ', "%20")
                        .replace(')', "%29")
                        .replace('(', "%28")
                })
                .collect::<Vec<_>>()
                .join("/");
            format!("[{}]({base}/{path}{anchor})", md(&text))
        }
        None => code_span(&text),
    }
}

/// An inline code span on one line, delimited by more backticks than it holds.
fn code_span(text: &str) -> String {
    let content = code_safe(text).replace('\n', " ");
    let ticks = "`".repeat(longest_backtick_run(&content) + 1);
    if content.starts_with('`') || content.ends_with('`') || content.is_empty() {
        format!("{ticks} {content} {ticks}")
    } else {
        format!("{ticks}{content}{ticks}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::{at, lock_finding, problem, report};
    use crate::report::{SchemaChange, StepTimings};
    use crate::schema::review::{ColumnDetail, ObjectDetail};

    const MARKER: &str = "<!-- migration-check:migrations -->";
    const HINT: &str = "the full report is in the job summary";

    /// A schema difference found after `file` ran.
    fn difference(kind: &str, severity: Severity, object: &str, what: &str, file: &str) -> Problem {
        let mut p = at(
            problem(kind, severity, &format!("{object}: {what}")),
            file,
            1,
            None,
        );
        p.object = Some(object.into());
        p
    }

    fn options() -> MarkdownOptions {
        MarkdownOptions {
            marker: Some(MARKER.into()),
            max_chars: PR_COMMENT_MAX_CHARS,
            full_report_hint: Some(HINT.into()),
            blob_url: None,
        }
    }

    /// `<details>` and `</details>` pair up, and code fences are closed.
    fn assert_balanced(markdown: &str) {
        assert_eq!(
            markdown.matches("<details>").count(),
            markdown.matches("</details>").count(),
            "{markdown}"
        );
        let mut open: Option<usize> = None;
        for line in markdown.lines() {
            let ticks = line.chars().take_while(|&c| c == '`').count();
            match open {
                None if ticks >= 3 => open = Some(ticks),
                Some(n) if ticks >= n && line.trim_end().chars().all(|c| c == '`') => open = None,
                _ => {}
            }
        }
        assert_eq!(open, None, "unclosed fence in\n{markdown}");
    }

    #[test]
    fn lock_findings_share_a_row_per_statement_and_relation_and_are_capped_in_rows() {
        let finding = |line: usize, rule: &str| crate::analysis::LockFinding {
            title: "title".into(),
            file: "migrations/3_add_orders.up.sql".into(),
            held_ms: 7,
            evidence: "evidence".into(),
            why: "why".into(),
            safe_rewrite: "SET lock_timeout = '5s';".into(),
            ..lock_finding(rule, line)
        };
        let mut r = report()
            .migration("3", "add_orders", Status::Passed, vec![])
            .build();
        // 25 statements with two findings each: 50 findings in 25 rows.
        r.migrations[0].locks = (1..=25)
            .flat_map(|line| {
                [
                    finding(line, "table-rewrite"),
                    finding(line, "lock-timeout-missing"),
                ]
            })
            .collect();
        let markdown = render(&r, &options());
        assert_balanced(&markdown);
        assert!(
            markdown.contains("Locks on existing tables: 50 findings"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| up 1 | `ALTER TABLE orders ALTER COLUMN id TYPE bigint` | public.orders | AccessExclusiveLock | reads and writes | 7 ms | `table-rewrite` (rewrite), `lock-timeout-missing` |"),
            "{markdown}"
        );
        let rows = markdown.lines().filter(|l| l.starts_with("| up ")).count();
        assert_eq!(rows, MAX_LOCK_ROWS);
        assert!(
            markdown.contains("… 10 more lock findings not shown"),
            "the 5 rows past the cap hold 10 findings: {markdown}"
        );
        assert_eq!(markdown.matches("<details><summary>`").count(), 2);
    }

    #[test]
    fn running_code() {
        use crate::compat::Window;
        use crate::report::test_support::{compat_finding, compat_summary};
        let mut r = report()
            .failed()
            .applied("1", "create_users")
            .migration("2", "rename_name", Status::Passed, vec![])
            .build();
        r.migrations[1].compat = vec![
            compat_finding(
                Window::Deploy,
                Severity::Error,
                "GetUser",
                "column \"name\" does not exist",
                "migrations/2_rename_name.up.sql",
                1,
            ),
            compat_finding(
                Window::Rollback,
                Severity::Warning,
                "GetUserByName",
                "column \"full_name\" does not exist",
                "migrations/2_rename_name.down.sql",
                1,
            ),
        ];
        r.compat = Some(compat_summary());
        let markdown = render(
            &r,
            &MarkdownOptions {
                blob_url: Some("https://github.com/acme/app/blob/abc123".into()),
                ..options()
            },
        );
        assert_balanced(&markdown);
        assert!(
            markdown.contains("| ❌ | `GetUser` [db/queries/users.sql:2](https://github.com/acme/app/blob/abc123/db/queries/users.sql#L2) | `column \"name\" does not exist` (42703) | 2 [migrations/2\\_rename\\_name.up.sql:1](https://github.com/acme/app/blob/abc123/migrations/2_rename_name.up.sql#L1) |"),
            "{markdown}"
        );
        insta::assert_snapshot!(markdown);
    }

    #[test]
    fn all_passed() {
        let r = report()
            .applied("1", "create_users")
            .applied("2", "add_email")
            .migration("3", "add_orders", Status::Passed, vec![])
            .migration("4", "add_order_index", Status::Passed, vec![])
            .note("ran outside a transaction (CREATE INDEX CONCURRENTLY)")
            .sequence(SequenceStatus::Passed, "3", "4")
            .schema_changes(schema_changes::sample::sample())
            .schema_diagram(mermaid::sample::sample())
            .build();
        let markdown = render(&r, &options());
        assert_balanced(&markdown);
        assert!(markdown.starts_with(&format!("{MARKER}\n### ✅ migration-check passed\n")));
        insta::assert_snapshot!(markdown);
    }

    #[test]
    fn failures_and_warnings() {
        let r = report()
            .failed()
            .applied("1", "create_users")
            .migration(
                "2",
                "add_index",
                Status::NotReversible,
                vec![
                    difference(
                        "not_reversible",
                        Severity::Error,
                        "index public.users_email_idx",
                        "left behind by down",
                        "migrations/2_add_index.down.sql",
                    ),
                    difference(
                        "not_reversible",
                        Severity::Error,
                        "table public.audit",
                        "missing after down (it existed before up)",
                        "migrations/2_add_index.down.sql",
                    ),
                    difference(
                        "not_reversible",
                        Severity::Error,
                        "column public.users.email",
                        "type is `text` after down, was `citext` before up",
                        "migrations/2_add_index.down.sql",
                    ),
                    difference(
                        "column_position",
                        Severity::Warning,
                        "column public.users.name",
                        "position is 3 after down, was 2 before up",
                        "migrations/2_add_index.down.sql",
                    ),
                ],
            )
            .migration(
                "3",
                "add_orders",
                Status::FailedUp,
                vec![at(
                    problem(
                        "sql_error",
                        Severity::Error,
                        "ERROR: syntax error at or near \"CREAT\"\nLINE 3: CREAT TABLE orders (\n        ^",
                    ),
                    "migrations/3_add_orders.up.sql",
                    3,
                    Some(5),
                )],
            )
            .migration(
                "4",
                "seed_countries",
                Status::Irreversible,
                vec![at(
                    problem(
                        "irreversible",
                        Severity::Warning,
                        "no down script: this migration cannot be reverted",
                    ),
                    "migrations/4_seed_countries.up.sql",
                    1,
                    None,
                )],
            )
            .migration(
                "5",
                "add_totals",
                Status::Skipped,
                vec![problem(
                    "skipped",
                    Severity::Warning,
                    "not run: version 3 failed to apply",
                )],
            )
            .build();
        let markdown = render(&r, &options());
        assert_balanced(&markdown);
        assert!(markdown.contains("`migrations/3_add_orders.up.sql:3:5`"));
        assert!(markdown.contains("+ index public.users_email_idx: left behind by down"));
        assert!(markdown.contains("- table public.audit: missing after down"));
        insta::assert_snapshot!(markdown);
    }

    #[test]
    fn checksum_findings() {
        let mut r = report()
            .failed()
            .applied("20240101000000", "init")
            .migration("20240301000000", "add_tags", Status::Passed, vec![])
            .checksum("unchanged", "migrations/20240101000000_init.sql", Some("aaaaaaaaaaaa"), Some("aaaaaaaaaaaa"))
            .checksum(
                "modified",
                "migrations/20240102000000_users.sql",
                Some("1111111111111111"),
                Some("2222222222222222"),
            )
            .checksum(
                "renamed",
                "migrations/20240103000000_posts.sql",
                Some("3333333333333333"),
                Some("3333333333333333"),
            )
            .checksum(
                "out_of_order",
                "migrations/20231231000000_late.sql",
                None,
                Some("4444444444444444"),
            )
            .top_level(at(
                problem(
                    "modified",
                    Severity::Error,
                    "migrations/20240102000000_users.sql was modified after it was merged (base 1111111… → head 2222222…); databases that already applied it will never run the new content",
                ),
                "migrations/20240102000000_users.sql",
                1,
                None,
            ))
            .top_level(at(
                problem(
                    "renamed",
                    Severity::Warning,
                    "migrations/20240103000000_posts.sql was renamed from migrations/0003_posts.sql after it was merged (content unchanged, 3333333…)",
                ),
                "migrations/20240103000000_posts.sql",
                1,
                None,
            ))
            .top_level(at(
                problem(
                    "out_of_order",
                    Severity::Error,
                    "migrations/20231231000000_late.sql was added with version 20231231000000, not above the highest version on the base branch (20240103000000)",
                ),
                "migrations/20231231000000_late.sql",
                1,
                None,
            ))
            .top_level(Problem {
                file: Some("migrations/migrations.sum".into()),
                ..problem(
                    "stale_sum",
                    Severity::Error,
                    "migrations.sum is stale: run `migration-check sum` and commit it",
                )
            })
            .build();
        r.checksums[2].base_path = Some("migrations/0003_posts.sql".into());
        r.checksums[1].note = Some("only whitespace or line endings changed".into());
        let markdown = render(&r, &options());
        assert_balanced(&markdown);
        assert!(markdown.contains("| renamed | migrations/20240103000000\\_posts.sql | migrations/0003\\_posts.sql | 33333333 → 33333333 |"));
        insta::assert_snapshot!(markdown);
    }

    #[test]
    fn hostile_input_is_neutralised() {
        let evil = "x</details><script>alert(1)</script> | col ``` @octocat <!-- migration-check:migrations -->";
        let r = report()
            .failed()
            .migration(
                "1",
                evil,
                Status::FailedUp,
                vec![at(
                    problem(
                        "sql_error",
                        Severity::Error,
                        &format!("{evil}\nsecond line {evil}"),
                    ),
                    &format!("migrations/{evil}.sql"),
                    1,
                    Some(2),
                )],
            )
            .migration(
                "2",
                "two",
                Status::NotReversible,
                vec![difference(
                    "not_reversible",
                    Severity::Error,
                    &format!("table public.\"{evil}\""),
                    "left behind by down",
                    "migrations/2_two.down.sql",
                )],
            )
            .note(evil)
            .schema_change("added", evil, None)
            .schema_change("changed", "view public.v", Some(evil))
            .schema_changes(vec![SchemaChange {
                change: "added".into(),
                object: format!("table {evil}"),
                kind: "table".into(),
                name: evil.into(),
                table: Some(evil.into()),
                details: Some(ObjectDetail {
                    columns: vec![ColumnDetail {
                        name: evil.into(),
                        data_type: evil.into(),
                        not_null: true,
                        default: Some(evil.into()),
                        identity: None,
                        generated: None,
                    }],
                    ..ObjectDetail::default()
                }),
                ..SchemaChange::default()
            }])
            .checksum("modified", evil, Some(evil), Some("abc"))
            .top_level(at(
                problem("modified", Severity::Error, evil),
                evil,
                1,
                None,
            ))
            .build();
        let markdown = render(&r, &options());
        assert!(!markdown.contains("<script"), "{markdown}");
        assert!(!markdown.contains("</script"), "{markdown}");
        assert!(!markdown.contains("@octocat"), "{markdown}");
        assert!(markdown.contains("@\u{200d}octocat"));
        assert_eq!(markdown.matches("<!--").count(), 1, "{markdown}");
        assert_eq!(markdown.matches(MARKER).count(), 1);
        assert!(markdown.starts_with(MARKER));
        assert_balanced(&markdown);
        // Every table row keeps its number of cells.
        for line in markdown.lines().filter(|l| l.starts_with('|')) {
            let cells = line.matches('|').count();
            assert!(cells == 7 || cells == 5, "{line}");
        }
        insta::assert_snapshot!(markdown);
    }

    fn huge_report() -> Report {
        let mut r = report().failed();
        let sql = "ERROR: relation \"users\" does not exist\n".repeat(3)
            + "CONTEXT: SQL statement in migrations with a fairly long explanation of what went wrong";
        for i in 0..200 {
            let file = format!("migrations/{i:04}_m{i}.down.sql");
            let mut problems = vec![at(
                problem("sql_error", Severity::Error, &sql),
                &format!("migrations/{i:04}_m{i}.up.sql"),
                i + 1,
                Some(7),
            )];
            for j in 0..8 {
                problems.push(difference(
                    "not_reversible",
                    Severity::Error,
                    &format!("index public.idx_{i}_{j}"),
                    "left behind by down",
                    &file,
                ));
            }
            problems.push(difference(
                "column_position",
                Severity::Warning,
                &format!("column public.t{i}.c"),
                "position is 3 after down, was 2 before up",
                &file,
            ));
            r = r.migration(
                &format!("{i:04}"),
                &format!("m{i}"),
                Status::NotReversible,
                problems,
            );
        }
        for i in 0..300 {
            r = r.schema_change("added", &format!("table public.t{i}"), None);
        }
        r.build()
    }

    #[test]
    fn a_huge_report_is_cut_to_fit() {
        let r = huge_report();
        assert_eq!(total_problems(&r), 2_000);
        let full = render(
            &r,
            &MarkdownOptions {
                max_chars: usize::MAX,
                ..options()
            },
        );
        assert!(full.chars().count() > PR_COMMENT_MAX_CHARS);
        assert!(!full.contains("shortened"));

        let markdown = render(&r, &options());
        let chars = markdown.chars().count();
        assert!(chars <= PR_COMMENT_MAX_CHARS, "{chars}");
        assert!(
            chars > PR_COMMENT_MAX_CHARS * 3 / 4,
            "too much was cut: {chars}"
        );
        assert!(markdown.starts_with(&format!("{MARKER}\n### ❌ migration-check failed\n")));
        assert!(
            markdown.contains(
                "**200 migrations** verified · **200** failed · 1800 errors · 200 warnings"
            )
        );
        assert!(markdown.contains("This report was shortened"));
        assert!(markdown.contains("The full report is in the job summary."));
        assert!(markdown.contains("more migrations with problems not shown"));
        assert_balanced(&markdown);
        let lines: Vec<&str> = markdown.lines().collect();
        let head = lines[..8].join("\n");
        let tail = lines[lines.len() - 12..].join("\n");
        insta::assert_snapshot!(format!("{head}\n[…]\n{tail}"));
    }

    #[test]
    fn tiny_limits_still_keep_the_verdict() {
        let r = huge_report();
        let markdown = render(
            &r,
            &MarkdownOptions {
                max_chars: 2_000,
                ..options()
            },
        );
        assert!(markdown.chars().count() <= 2_000);
        assert!(markdown.contains("### ❌ migration-check failed"));
        assert!(
            markdown.contains("full report is in the job summary"),
            "{markdown}"
        );
        assert_balanced(&markdown);
        insta::assert_snapshot!(markdown);
    }

    #[test]
    fn code_never_closes_its_fence() {
        let text = "a ```` b\n`````\n@me <b>";
        let block = fence("text", text);
        assert!(block.starts_with("``````text\n"), "{block}");
        assert!(block.ends_with("\n``````\n"));
        assert!(block.contains("@\u{200d}me <\u{200d}b>"));
        assert_eq!(code_span("`x`"), "`` `x` ``");
        assert_eq!(code_span("a|b"), "`a|b`");
    }

    #[test]
    fn markdown_text_is_escaped() {
        assert_eq!(
            md("<a> & b | c\r\nd @e *f* `g`"),
            "&lt;a&gt; &amp; b &#124; c<br>d @\u{200d}e \\*f\\* \\`g\\`"
        );
        assert_eq!(
            difference_mark("x: created by the second up but not by the first"),
            '+'
        );
        assert_eq!(
            difference_mark("x: created by the first up but missing after the second"),
            '-'
        );
        assert_eq!(
            difference_mark("x: present only after the ups were run again"),
            '+'
        );
        assert_eq!(
            difference_mark("x: default is 1 after down, was 2 before up"),
            '!'
        );
    }

    #[test]
    fn majors_are_named_only_where_verdicts_differ() {
        use crate::report::VersionVerdict;
        let leftover = at(
            problem(
                "not_reversible",
                Severity::Error,
                "index public.i: left behind by down",
            ),
            "migrations/2_b.down.sql",
            1,
            None,
        );
        let mut report = report()
            .failed()
            .migration("1", "a", Status::Passed, vec![])
            .migration("2", "b", Status::NotReversible, vec![leftover.clone()])
            .build();
        for (major, second) in [(13, Status::NotReversible), (15, Status::Passed)] {
            let verdict = |status| VersionVerdict {
                status,
                problems: vec![],
                timings_ms: StepTimings::default(),
            };
            report.migrations[0]
                .versions
                .insert(major.to_string(), verdict(Status::Passed));
            report.migrations[1]
                .versions
                .insert(major.to_string(), verdict(second));
        }
        report.migrations[1].problems[0].versions = vec![13];
        let markdown = render(&report, &MarkdownOptions::default());
        assert!(
            markdown.contains("| ❌ not reversible on 13; passed on 15 | 2 | b |"),
            "{markdown}"
        );
        assert!(markdown.contains("| ✅ passed | 1 | a |"), "{markdown}");
        assert!(
            markdown.contains("index public.i: left behind by down (PostgreSQL 13)"),
            "{markdown}"
        );
    }
}
