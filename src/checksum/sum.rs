//! `migrations.sum`: a lock file of the migrations directory's checksums, committed with the
//! migrations, for projects that want merged migrations pinned without comparing against a
//! base branch (no git history in CI, or a check before pushing). `migration-check sum` writes
//! it; a check reports it stale when a file was added, removed or changed since, or when the
//! file itself was edited by hand (its `total` line no longer matches its entries).
//!
//! Format, one entry per line, `\n` line endings (a `\r` before it is tolerated on reading):
//!
//! ```text
//! # migration-check sum v1: regenerate with `migration-check sum`
//! total <sha256 of the entry lines below, each followed by \n>
//! <path relative to the migrations directory> <sha256>
//! ```
//!
//! Entries are sorted by path; paths are `/`-separated and may contain spaces (a line splits
//! at its last space), but not newlines.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use super::{list_migration_files, read_file, sha256_hex};
use crate::error::InputError;
use crate::migrations::Layout;

/// The file's name inside the migrations directory.
pub const SUM_FILE: &str = "migrations.sum";

/// The first line of a v1 sum file.
pub const HEADER: &str = "# migration-check sum v1: regenerate with `migration-check sum`";

/// What the first line of any version starts with.
const HEADER_PREFIX: &str = "# migration-check sum v";

/// How a `migrations.sum` differs from its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumStale {
    /// The sum file.
    pub path: PathBuf,
    /// Files in the directory that the sum does not list.
    pub added: Vec<String>,
    /// Files the sum lists that are no longer in the directory.
    pub removed: Vec<String>,
    /// Files whose content no longer matches the sum.
    pub changed: Vec<String>,
    /// The `total` line does not match the entries: the file was edited by hand.
    pub hand_edited: bool,
}

impl fmt::Display for SumStale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is stale:", self.path.display())?;
        let mut parts = Vec::new();
        for (what, list) in [
            ("not listed", &self.added),
            ("listed but missing", &self.removed),
            ("changed", &self.changed),
        ] {
            if !list.is_empty() {
                parts.push(format!("{what}: {}", list.join(", ")));
            }
        }
        if self.hand_edited {
            parts.push("its total does not match its lines (edited by hand)".to_string());
        }
        write!(
            f,
            " {}; regenerate it with `migration-check sum`",
            parts.join("; ")
        )
    }
}

/// The current entries of `dir`: path relative to it, SHA-256.
fn current_entries(dir: &Path, layout: &Layout) -> Result<BTreeMap<String, String>, InputError> {
    let mut entries = BTreeMap::new();
    for file in list_migration_files(dir, layout)? {
        if file.rel == SUM_FILE {
            continue;
        }
        let bytes = read_file(&file.path)?;
        entries.insert(file.rel, sha256_hex(&bytes));
    }
    Ok(entries)
}

/// The `total` over entry lines.
fn total<'a>(entries: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut body = String::new();
    for (path, hash) in entries {
        body.push_str(path);
        body.push(' ');
        body.push_str(hash);
        body.push('\n');
    }
    sha256_hex(body.as_bytes())
}

/// The sum file's text for the directory as it is now.
pub fn render_sum(dir: &Path, layout: &Layout) -> Result<String, InputError> {
    let entries = current_entries(dir, layout)?;
    if let Some(bad) = entries.keys().find(|p| p.contains(['\n', '\r'])) {
        return Err(InputError::new(
            dir.join(bad),
            format!("file name contains a line break, which {SUM_FILE} cannot list; rename it"),
        ));
    }
    let mut text = format!(
        "{HEADER}\ntotal {}\n",
        total(entries.iter().map(|(p, h)| (p.as_str(), h.as_str())))
    );
    for (path, hash) in &entries {
        text.push_str(&format!("{path} {hash}\n"));
    }
    Ok(text)
}

/// Writes `dir/migrations.sum` for the directory as it is now (the same bytes for the same
/// files, whatever the platform) and returns its path. Errors name the file at fault.
pub fn write_sum(dir: &Path, layout: &Layout) -> Result<PathBuf, InputError> {
    let text = render_sum(dir, layout)?;
    let path = dir.join(SUM_FILE);
    fs::write(&path, text).map_err(|e| InputError::new(&path, format!("cannot write: {e}")))?;
    Ok(path)
}

/// A parsed sum file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parsed {
    /// The `total` line's hash.
    total: String,
    /// Entries in file order.
    entries: Vec<(String, String)>,
}

/// Whether `s` is a lowercase hex SHA-256.
fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Parses a sum file's text; errors name `path` and the line.
fn parse(path: &Path, text: &str) -> Result<Parsed, InputError> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut lines = body
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l));
    match lines.next() {
        Some((_, line)) if line.starts_with(HEADER_PREFIX) && !line.starts_with(HEADER) => {
            return Err(InputError::at_line(
                path,
                1,
                format!(
                    "unsupported sum file version (expected `{HEADER}`); regenerate it with `migration-check sum`"
                ),
            ));
        }
        Some((_, line)) if line.starts_with(HEADER) => {}
        _ => {
            return Err(InputError::at_line(
                path,
                1,
                format!("not a migration-check sum file: the first line must be `{HEADER}`"),
            ));
        }
    }
    let total = match lines.next() {
        Some((_, line)) => match line.strip_prefix("total ") {
            Some(hash) if is_sha256(hash) => hash.to_string(),
            _ => {
                return Err(InputError::at_line(
                    path,
                    2,
                    "expected `total <sha256>` (64 lowercase hex digits)",
                ));
            }
        },
        None => {
            return Err(InputError::at_line(
                path,
                2,
                "missing `total <sha256>` line",
            ));
        }
    };
    let mut entries = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (number, line) in lines {
        let Some((file, hash)) = line.rsplit_once(' ') else {
            return Err(InputError::at_line(
                path,
                number,
                "expected `<path> <sha256>`",
            ));
        };
        if file.is_empty() {
            return Err(InputError::at_line(path, number, "empty path"));
        }
        if !is_sha256(hash) {
            return Err(InputError::at_line(
                path,
                number,
                format!("`{hash}` is not a SHA-256 (64 lowercase hex digits)"),
            ));
        }
        if let Some(first) = seen.insert(file.to_string(), number) {
            return Err(InputError::at_line(
                path,
                number,
                format!("{file} is listed twice (first on line {first})"),
            ));
        }
        entries.push((file.to_string(), hash.to_string()));
    }
    Ok(Parsed { total, entries })
}

/// Checks `dir/migrations.sum` against the directory: None when there is no sum file or it is
/// fresh, the differences when it is stale. A malformed sum file is an error at its line.
pub fn check_sum(dir: &Path, layout: &Layout) -> Result<Option<SumStale>, InputError> {
    let path = dir.join(SUM_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(InputError::new(&path, format!("cannot read file: {e}"))),
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..valid]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        InputError::at_line(&path, line, "not valid UTF-8")
    })?;
    let parsed = parse(&path, &text)?;
    let hand_edited =
        total(parsed.entries.iter().map(|(p, h)| (p.as_str(), h.as_str()))) != parsed.total;
    let recorded: BTreeMap<&str, &str> = parsed
        .entries
        .iter()
        .map(|(p, h)| (p.as_str(), h.as_str()))
        .collect();
    let current = current_entries(dir, layout)?;
    let added: Vec<String> = current
        .keys()
        .filter(|p| !recorded.contains_key(p.as_str()))
        .cloned()
        .collect();
    let removed: Vec<String> = recorded
        .keys()
        .filter(|p| !current.contains_key(**p))
        .map(|p| p.to_string())
        .collect();
    let changed: Vec<String> = current
        .iter()
        .filter(|(p, h)| recorded.get(p.as_str()).is_some_and(|r| r != h))
        .map(|(p, _)| p.clone())
        .collect();
    if added.is_empty() && removed.is_empty() && changed.is_empty() && !hand_edited {
        return Ok(None);
    }
    Ok(Some(SumStale {
        path,
        added,
        removed,
        changed,
        hand_edited,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::test_util::{tempdir, write};
    use crate::migrations::{diesel, sqlx};

    fn sqlx_dir() -> tempfile::TempDir {
        let t = tempdir();
        write(t.path(), "1_users.up.sql", "create table users();\n");
        write(t.path(), "1_users.down.sql", "drop table users;\n");
        write(
            t.path(),
            "2_add café col.up.sql",
            "alter table users add c int;\n",
        );
        write(t.path(), "README.md", "not a migration");
        t
    }

    #[test]
    fn write_is_deterministic_and_sorted() {
        let t = sqlx_dir();
        let path = write_sum(t.path(), &Layout::plain(sqlx::FORMAT)).unwrap();
        assert_eq!(path, t.path().join(SUM_FILE));
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], HEADER);
        assert!(lines[1].starts_with("total ") && is_sha256(&lines[1][6..]));
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[2].starts_with("1_users.down.sql "));
        assert!(lines[3].starts_with("1_users.up.sql "));
        assert!(lines[4].starts_with("2_add café col.up.sql "));
        assert_eq!(
            lines[3],
            format!("1_users.up.sql {}", sha256_hex(b"create table users();\n"))
        );
        // Writing again, with the sum file present, gives the same bytes.
        write_sum(t.path(), &Layout::plain(sqlx::FORMAT)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
        assert_eq!(
            check_sum(t.path(), &Layout::plain(sqlx::FORMAT)).unwrap(),
            None
        );
    }

    #[test]
    fn absent_sum_is_fresh() {
        let t = sqlx_dir();
        assert_eq!(
            check_sum(t.path(), &Layout::plain(sqlx::FORMAT)).unwrap(),
            None
        );
    }

    #[test]
    fn crlf_sum_file_is_still_fresh() {
        let t = sqlx_dir();
        let path = write_sum(t.path(), &Layout::plain(sqlx::FORMAT)).unwrap();
        let crlf = fs::read_to_string(&path).unwrap().replace('\n', "\r\n");
        fs::write(&path, crlf).unwrap();
        assert_eq!(
            check_sum(t.path(), &Layout::plain(sqlx::FORMAT)).unwrap(),
            None
        );
    }

    #[test]
    fn stale_after_add_remove_change() {
        let t = sqlx_dir();
        write_sum(t.path(), &Layout::plain(sqlx::FORMAT)).unwrap();
        write(t.path(), "3_new.up.sql", "select 3;");
        let stale = check_sum(t.path(), &Layout::plain(sqlx::FORMAT))
            .unwrap()
            .unwrap();
        assert_eq!(stale.added, ["3_new.up.sql"]);
        assert!(stale.removed.is_empty() && stale.changed.is_empty());
        assert!(!stale.hand_edited);
        assert!(stale.to_string().contains("not listed: 3_new.up.sql"));
        assert!(stale.to_string().contains("migration-check sum"));

        fs::remove_file(t.path().join("1_users.down.sql")).unwrap();
        write(t.path(), "1_users.up.sql", "create table users(id int);\n");
        let stale = check_sum(t.path(), &Layout::plain(sqlx::FORMAT))
            .unwrap()
            .unwrap();
        assert_eq!(stale.removed, ["1_users.down.sql"]);
        assert_eq!(stale.changed, ["1_users.up.sql"]);

        write_sum(t.path(), &Layout::plain(sqlx::FORMAT)).unwrap();
        assert_eq!(
            check_sum(t.path(), &Layout::plain(sqlx::FORMAT)).unwrap(),
            None
        );
    }

    #[test]
    fn hand_edited_sum() {
        let t = sqlx_dir();
        let path = write_sum(t.path(), &Layout::plain(sqlx::FORMAT)).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        // Pretend the edited file's new hash was pasted in: entries match, total does not.
        write(t.path(), "1_users.up.sql", "create table users(id int);\n");
        let old = sha256_hex(b"create table users();\n");
        let new = sha256_hex(b"create table users(id int);\n");
        fs::write(&path, text.replace(&old, &new)).unwrap();
        let stale = check_sum(t.path(), &Layout::plain(sqlx::FORMAT))
            .unwrap()
            .unwrap();
        assert!(stale.hand_edited);
        assert!(stale.added.is_empty() && stale.removed.is_empty() && stale.changed.is_empty());
        assert!(stale.to_string().contains("edited by hand"));
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let t = sqlx_dir();
        let path = write_sum(t.path(), &Layout::plain(sqlx::FORMAT)).unwrap();
        let good = fs::read_to_string(&path).unwrap();
        let cases: [(String, usize, &str); 7] = [
            (String::new(), 1, "not a migration-check sum file"),
            (good.replacen("v1", "v2", 1), 1, "unsupported"),
            (good.replacen("total ", "totl ", 1), 2, "total"),
            (format!("{good}garbage\n"), 6, "expected `<path> <sha256>`"),
            (format!("{good}x.sql ABC\n"), 6, "not a SHA-256"),
            (format!("{good}\n"), 6, "expected `<path> <sha256>`"),
            (
                format!("{good}{}", good.lines().nth(2).unwrap()),
                6,
                "listed twice (first on line 3)",
            ),
        ];
        for (text, line, message) in cases {
            fs::write(&path, &text).unwrap();
            let err = check_sum(t.path(), &Layout::plain(sqlx::FORMAT)).unwrap_err();
            assert_eq!(err.path, path);
            assert_eq!(err.line, Some(line), "{text:?}: {err}");
            assert!(err.message.contains(message), "{text:?}: {err}");
        }
        fs::write(&path, b"# migration-check sum v1\n\xff\n").unwrap();
        let err = check_sum(t.path(), &Layout::plain(sqlx::FORMAT)).unwrap_err();
        assert_eq!(
            (err.line, err.message.as_str()),
            (Some(2), "not valid UTF-8")
        );
    }

    #[test]
    fn diesel_sum_lists_dir_files() {
        let t = tempdir();
        write(
            t.path(),
            "2024-01-01-000000_users/up.sql",
            "create table u();",
        );
        write(
            t.path(),
            "2024-01-01-000000_users/down.sql",
            "drop table u;",
        );
        write(
            t.path(),
            "2024-01-01-000000_users/metadata.toml",
            "run_in_transaction = false\n",
        );
        write(t.path(), "2024-01-01-000000_users/notes.md", "ignored");
        let text = render_sum(t.path(), &Layout::plain(diesel::FORMAT)).unwrap();
        let paths: Vec<&str> = text
            .lines()
            .skip(2)
            .map(|l| l.rsplit_once(' ').unwrap().0)
            .collect();
        assert_eq!(
            paths,
            [
                "2024-01-01-000000_users/down.sql",
                "2024-01-01-000000_users/metadata.toml",
                "2024-01-01-000000_users/up.sql"
            ]
        );
    }

    #[test]
    fn newline_in_name_is_rejected() {
        let t = sqlx_dir();
        write(t.path(), "3_a\nb.up.sql", "select 1;");
        let err = write_sum(t.path(), &Layout::plain(sqlx::FORMAT)).unwrap_err();
        assert!(err.message.contains("line break"), "{err}");
        assert!(!t.path().join(SUM_FILE).exists());
    }

    #[test]
    fn missing_dir_is_input_error() {
        let t = tempdir();
        let err = write_sum(&t.path().join("nope"), &Layout::plain(sqlx::FORMAT)).unwrap_err();
        assert!(err.message.contains("not found"));
    }
}
