//! GitHub Actions workflow commands and file commands: masking a secret,
//! annotations on file lines (escaped by the runner's rules and capped at what
//! GitHub displays), step outputs in the multi-line-safe heredoc syntax, and
//! the job summary with GitHub's 1 MiB limit. The string builders are pure;
//! the two writers only append to the files the runner names.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// GitHub displays at most this many annotations of each level per step.
pub const MAX_ANNOTATIONS_PER_LEVEL: usize = 10;

/// GitHub accepts at most this many bytes in a step's job summary.
pub const MAX_SUMMARY_BYTES: usize = 1_048_576;

/// The note appended where a job summary was cut.
pub const SUMMARY_TRUNCATED_NOTE: &str = "\n\n> **Note:** the rest of this summary was cut: GitHub accepts at most 1 MiB per step. The full report is in the job log.\n";

/// Escapes a command's message (its data) by the runner's rules.
pub fn escape_data(value: &str) -> String {
    value
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a command property value (`file=`, `title=`, …) by the runner's rules.
pub fn escape_property(value: &str) -> String {
    escape_data(value).replace(':', "%3A").replace(',', "%2C")
}

/// The `::add-mask::` command(s) that hide `secret` in the job log. A
/// multi-line secret gets one command per line, because the runner masks
/// log lines one at a time.
pub fn add_mask(secret: &str) -> String {
    secret
        .split('\n')
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| !line.trim().is_empty())
        .map(|line| format!("::add-mask::{}", escape_data(line)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The level of an annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// `::error`: shown in red; does not by itself fail the step.
    Error,
    /// `::warning`.
    Warning,
    /// `::notice`.
    Notice,
}

impl Level {
    /// The command name.
    pub fn command(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Level::Error => "errors",
            Level::Warning => "warnings",
            Level::Notice => "notices",
        }
    }
}

/// One annotation, before rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// Its level.
    pub level: Level,
    /// The file, relative to the repository root.
    pub file: Option<String>,
    /// 1-based line.
    pub line: Option<usize>,
    /// 1-based column.
    pub col: Option<usize>,
    /// A short title.
    pub title: Option<String>,
    /// The message (may span lines).
    pub message: String,
}

impl fmt::Display for Annotation {
    /// The workflow command, e.g. `::error file=a.sql,line=3,title=T::message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&annotation(
            self.level,
            self.file.as_deref(),
            self.line,
            self.col,
            self.title.as_deref(),
            &self.message,
        ))
    }
}

/// Renders an annotation command, every part escaped:
/// `::error file=F,line=L,col=C,title=T::MESSAGE`. Absent properties are omitted.
pub fn annotation(
    level: Level,
    file: Option<&str>,
    line: Option<usize>,
    col: Option<usize>,
    title: Option<&str>,
    message: &str,
) -> String {
    let mut properties = Vec::new();
    if let Some(file) = file {
        properties.push(format!("file={}", escape_property(file)));
    }
    if let Some(line) = line {
        properties.push(format!("line={line}"));
    }
    if let Some(col) = col {
        properties.push(format!("col={col}"));
    }
    if let Some(title) = title {
        properties.push(format!("title={}", escape_property(title)));
    }
    let separator = if properties.is_empty() { "" } else { " " };
    format!(
        "::{}{separator}{}::{}",
        level.command(),
        properties.join(","),
        escape_data(message)
    )
}

/// Keeps at most `max_per_level` annotations of each level, in their order,
/// and returns a plain log line (not itself an annotation) saying how many
/// were left out, when any were.
pub fn cap_annotations(
    items: Vec<Annotation>,
    max_per_level: usize,
) -> (Vec<Annotation>, Option<String>) {
    let levels = [Level::Error, Level::Warning, Level::Notice];
    let mut kept_count = [0usize; 3];
    let mut cut_count = [0usize; 3];
    let mut kept = Vec::with_capacity(items.len());
    for item in items {
        let index = levels.iter().position(|l| *l == item.level).unwrap_or(0);
        if kept_count[index] < max_per_level {
            kept_count[index] += 1;
            kept.push(item);
        } else {
            cut_count[index] += 1;
        }
    }
    let cut: Vec<String> = levels
        .iter()
        .zip(cut_count)
        .filter(|(_, n)| *n > 0)
        .map(|(level, n)| format!("{n} more {}", level.plural()))
        .collect();
    let note = (!cut.is_empty()).then(|| {
        format!(
            "{} not shown as annotations (GitHub shows at most {max_per_level} per level); see the job summary for all of them.",
            cut.join(", ")
        )
    });
    (kept, note)
}

/// A delimiter for the heredoc syntax that occurs in none of `texts`.
fn delimiter_for(texts: &[&str]) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        let candidate = format!("ghadelimiter_{:016x}", hasher.finish());
        if texts.iter().all(|text| !text.contains(&candidate)) {
            return candidate;
        }
    }
}

/// Renders step outputs in the heredoc syntax the runner reads from
/// `GITHUB_OUTPUT`: `name<<DELIM\nvalue\nDELIM\n`, with a fresh random
/// delimiter per output that does not occur in its value. Multi-line safe.
pub fn render_outputs(outputs: &[(&str, &str)]) -> io::Result<String> {
    let mut text = String::new();
    for (name, value) in outputs {
        if name.is_empty() || name.contains(['\n', '\r']) || name.contains("<<") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid output name {name:?}"),
            ));
        }
        let delimiter = delimiter_for(&[name, value]);
        text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
    }
    Ok(text)
}

/// Appends step outputs to the `GITHUB_OUTPUT` file (see [`render_outputs`]).
pub fn write_outputs(path: &Path, outputs: &[(&str, &str)]) -> io::Result<()> {
    let text = render_outputs(outputs)?;
    append(path, text.as_bytes())
}

/// What [`write_summary`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryWritten {
    /// Bytes appended.
    pub bytes: usize,
    /// The markdown was cut to stay within [`MAX_SUMMARY_BYTES`].
    pub truncated: bool,
}

/// Appends `markdown` to the `GITHUB_STEP_SUMMARY` file, keeping the whole
/// file within [`MAX_SUMMARY_BYTES`]: a longer text is cut at a character
/// boundary and ends with [`SUMMARY_TRUNCATED_NOTE`].
pub fn write_summary(path: &Path, markdown: &str) -> io::Result<SummaryWritten> {
    let existing = match std::fs::metadata(path) {
        Ok(metadata) => usize::try_from(metadata.len()).unwrap_or(usize::MAX),
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e),
    };
    let (text, truncated) = cap_summary(markdown, MAX_SUMMARY_BYTES.saturating_sub(existing));
    append(path, text.as_bytes())?;
    Ok(SummaryWritten {
        bytes: text.len(),
        truncated,
    })
}

/// `markdown` if it fits in `room` bytes, else its longest prefix that ends on
/// a character boundary and leaves room for the truncation note, plus the note.
/// Empty when not even the note fits. The flag tells whether it was cut.
fn cap_summary(markdown: &str, room: usize) -> (String, bool) {
    if markdown.len() <= room {
        return (markdown.to_owned(), false);
    }
    let Some(mut cut) = room.checked_sub(SUMMARY_TRUNCATED_NOTE.len()) else {
        return (String::new(), true);
    };
    while !markdown.is_char_boundary(cut) {
        cut -= 1;
    }
    (
        format!("{}{SUMMARY_TRUNCATED_NOTE}", &markdown[..cut]),
        true,
    )
}

fn append(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(bytes)?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh empty file named like `name`, removed when the returned path is dropped.
    fn temp_path(name: &str) -> tempfile::TempPath {
        tempfile::Builder::new()
            .suffix(name)
            .tempfile()
            .unwrap()
            .into_temp_path()
    }

    /// Parses a GITHUB_OUTPUT file the way the runner does.
    fn parse_outputs(text: &str) -> Vec<(String, String)> {
        let mut lines = text.split('\n');
        let mut out = Vec::new();
        while let Some(header) = lines.next() {
            if header.is_empty() {
                continue;
            }
            let (name, delimiter) = header.split_once("<<").unwrap();
            let mut value = Vec::new();
            for line in lines.by_ref() {
                if line == delimiter {
                    break;
                }
                value.push(line);
            }
            out.push((name.to_owned(), value.join("\n")));
        }
        out
    }

    #[test]
    fn escaping_follows_the_runner_rules() {
        assert_eq!(
            escape_data("50% done\r\nnext: a,b"),
            "50%25 done%0D%0Anext: a,b"
        );
        assert_eq!(escape_property("db/1_a:b,c%\n"), "db/1_a%3Ab%2Cc%25%0A");
    }

    #[test]
    fn add_mask_masks_each_line() {
        assert_eq!(add_mask("ghp_abc"), "::add-mask::ghp_abc");
        assert_eq!(
            add_mask("line1\r\nline%2\n"),
            "::add-mask::line1\n::add-mask::line%252"
        );
        assert_eq!(add_mask(""), "");
    }

    #[test]
    fn annotation_renders_and_escapes_every_part() {
        assert_eq!(
            annotation(
                Level::Error,
                Some("migrations/0002_a,b.up.sql"),
                Some(3),
                Some(14),
                Some("Not reversible: users"),
                "column \"email\" differs\n100% sure"
            ),
            "::error file=migrations/0002_a%2Cb.up.sql,line=3,col=14,title=Not reversible%3A users::column \"email\" differs%0A100%25 sure"
        );
        assert_eq!(
            annotation(Level::Warning, None, None, None, None, "plain"),
            "::warning::plain"
        );
        let a = Annotation {
            level: Level::Notice,
            file: Some("x.sql".into()),
            line: Some(1),
            col: None,
            title: None,
            message: "m".into(),
        };
        assert_eq!(a.to_string(), "::notice file=x.sql,line=1::m");
    }

    #[test]
    fn cap_keeps_ten_per_level_and_says_how_many_were_cut() {
        let make = |level, i: usize| Annotation {
            level,
            file: None,
            line: Some(i),
            col: None,
            title: None,
            message: format!("m{i}"),
        };
        let mut items = Vec::new();
        for i in 0..13 {
            items.push(make(Level::Error, i));
        }
        for i in 0..11 {
            items.push(make(Level::Warning, i));
        }
        for i in 0..2 {
            items.push(make(Level::Notice, i));
        }
        let (kept, note) = cap_annotations(items, MAX_ANNOTATIONS_PER_LEVEL);
        assert_eq!(kept.iter().filter(|a| a.level == Level::Error).count(), 10);
        assert_eq!(
            kept.iter().filter(|a| a.level == Level::Warning).count(),
            10
        );
        assert_eq!(kept.iter().filter(|a| a.level == Level::Notice).count(), 2);
        // Order preserved: the first ten errors are kept.
        assert_eq!(kept[9].line, Some(9));
        assert_eq!(
            note.unwrap(),
            "3 more errors, 1 more warnings not shown as annotations (GitHub shows at most 10 per level); see the job summary for all of them."
        );

        let (kept, note) = cap_annotations(vec![make(Level::Error, 1)], 10);
        assert_eq!(kept.len(), 1);
        assert_eq!(note, None);
    }

    #[test]
    fn outputs_use_a_fresh_delimiter_and_survive_multiline_values() {
        let path = temp_path("output");
        std::fs::write(&path, "earlier<<EOF\nkept\nEOF\n").unwrap();
        let tricky = "line 1\nghadelimiter_\nEOF\n\nlast";
        write_outputs(&path, &[("passed", "false"), ("report", tricky)]).unwrap();
        write_outputs(&path, &[("empty", "")]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("earlier<<EOF\nkept\nEOF\n"), "appends");
        assert_eq!(
            parse_outputs(&text),
            vec![
                ("earlier".to_owned(), "kept".to_owned()),
                ("passed".to_owned(), "false".to_owned()),
                ("report".to_owned(), tricky.to_owned()),
                ("empty".to_owned(), String::new()),
            ]
        );
        let delimiters: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once("<<").map(|(_, d)| d))
            .collect();
        assert_eq!(delimiters.len(), 4);
        assert_ne!(delimiters[1], delimiters[2], "one delimiter per output");
        assert!(delimiters[1].starts_with("ghadelimiter_"));
    }

    #[test]
    fn delimiter_never_occurs_in_the_value() {
        // A value that contains many delimiters-like strings still gets one it lacks.
        let value: String = (0..50)
            .map(|i| format!("ghadelimiter_{i:016x}\n"))
            .collect();
        let d = delimiter_for(&["name", &value]);
        assert!(!value.contains(&d));
    }

    #[test]
    fn bad_output_names_are_refused() {
        assert!(render_outputs(&[("", "v")]).is_err());
        assert!(render_outputs(&[("a\nb", "v")]).is_err());
        assert!(render_outputs(&[("a<<b", "v")]).is_err());
    }

    #[test]
    fn summary_appends_within_the_cap() {
        let path = temp_path("summary.md");
        let first = write_summary(&path, "# One\n").unwrap();
        assert_eq!(
            first,
            SummaryWritten {
                bytes: 6,
                truncated: false
            }
        );
        write_summary(&path, "# Two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# One\n# Two\n");
    }

    #[test]
    fn summary_is_cut_at_a_char_boundary_with_a_note() {
        let path = temp_path("summary.md");
        std::fs::write(&path, "x".repeat(100)).unwrap();
        // Multi-byte characters so that a byte cut would split one.
        let huge = "é€😀".repeat(200_000); // 9 bytes each → 1.8 MB
        let written = write_summary(&path, &huge).unwrap();
        assert!(written.truncated);
        let content = std::fs::read(&path).unwrap();
        assert!(content.len() <= MAX_SUMMARY_BYTES);
        assert!(content.len() > MAX_SUMMARY_BYTES - 16, "{}", content.len());
        let text = String::from_utf8(content).expect("valid UTF-8: cut at a boundary");
        assert!(text.ends_with(SUMMARY_TRUNCATED_NOTE));
        assert_eq!(written.bytes + 100, text.len());

        // The file is full: a further write adds nothing but reports the cut.
        let again = write_summary(&path, "more").unwrap();
        assert_eq!(
            again,
            SummaryWritten {
                bytes: 0,
                truncated: true
            }
        );
    }

    #[test]
    fn summary_exactly_at_the_cap_is_not_cut() {
        let path = temp_path("summary.md");
        let exact = "a".repeat(MAX_SUMMARY_BYTES);
        let written = write_summary(&path, &exact).unwrap();
        assert!(!written.truncated);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len() as usize,
            MAX_SUMMARY_BYTES
        );
    }
}
