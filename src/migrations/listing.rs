//! What a migrations directory holds, read once and shared by every format: its entries
//! (files and directories, not hidden, down to a depth) with each file's text read and
//! decoded on first use, plus the text helpers every format's parser needs (UTF-8 with the
//! line of the first bad byte, BOM removal, lines with byte offsets). Formats never read the
//! directory themselves, so detection and discovery see exactly the same files.

use std::cell::OnceCell;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::project::Project;
use crate::error::InputError;

/// Directories never descended into: tool caches and dependencies, not migrations.
const SKIPPED_DIRS: [&str; 3] = ["node_modules", "target", "vendor"];

/// migration-check's own files, which may sit in the migrations directory.
const OWN_FILES: [&str; 2] = ["migrations.sum", "migration-check.toml"];

/// A file's text, decoded as UTF-8 with a leading BOM removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// The text after the BOM.
    pub sql: String,
    /// Bytes removed from the start of the file (3 for a BOM, else 0).
    pub bom_len: usize,
}

impl Text {
    /// The whole file as one script.
    pub(crate) fn whole_script(
        &self,
        path: &Path,
        transaction: super::TransactionMode,
    ) -> super::Script {
        self.section_script(path, 0, self.sql.len(), transaction)
    }

    /// For a tool that sends the file's text as it read it, byte order mark included
    /// (`tool_reads` says how it reads it): PostgreSQL fails on the mark with a syntax error,
    /// so a file that starts with one is refused at line 1.
    pub(crate) fn refuse_bom(&self, path: &Path, tool_reads: &str) -> Result<(), InputError> {
        if self.bom_len == 0 {
            return Ok(());
        }
        Err(InputError::at_line(
            path,
            1,
            format!(
                "the file starts with a UTF-8 byte order mark, which {tool_reads} and sends to \
                 PostgreSQL with the SQL: PostgreSQL fails with a syntax error at the first \
                 statement; save the file without the mark"
            ),
        ))
    }

    /// The part `start..end` (byte offsets into `sql`) as a script.
    pub(crate) fn section_script(
        &self,
        path: &Path,
        start: usize,
        end: usize,
        transaction: super::TransactionMode,
    ) -> super::Script {
        super::Script {
            path: path.to_path_buf(),
            sql: self.sql[start..end].to_string(),
            line_offset: line_of_byte(&self.sql, start) - 1,
            byte_offset: self.bom_len + start,
            transaction,
            step: None,
        }
    }
}

/// Reads a file as UTF-8 text, naming the file (and the line of the first invalid byte) on error.
pub(crate) fn read_text(path: &Path) -> Result<Text, InputError> {
    let bytes = fs::read(path)
        .map_err(|e| InputError::new(path, format!("cannot read file: {}", io_reason(&e))))?;
    decode(path, bytes)
}

/// Decodes file contents as UTF-8, stripping a leading BOM.
pub(crate) fn decode(path: &Path, bytes: Vec<u8>) -> Result<Text, InputError> {
    match String::from_utf8(bytes) {
        Ok(mut sql) => {
            let bom_len = if sql.starts_with('\u{feff}') {
                '\u{feff}'.len_utf8()
            } else {
                0
            };
            sql.drain(..bom_len);
            Ok(Text { sql, bom_len })
        }
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let line = 1 + e
                .as_bytes()
                .iter()
                .take(valid)
                .filter(|&&b| b == b'\n')
                .count();
            Err(InputError::at_line(path, line, "not valid UTF-8"))
        }
    }
}

/// A short reason for an I/O error, without the OS error number noise where possible.
pub(crate) fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        io::ErrorKind::NotFound => "not found".to_string(),
        _ => e.to_string(),
    }
}

/// One line of a text: its 1-based number, its text without the line ending's `\n`, and the
/// byte offsets where it starts and where the next line starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Line<'a> {
    /// 1-based line number.
    pub number: usize,
    /// The line without its `\n` (a `\r` of a CRLF ending stays; trim it where it matters).
    pub text: &'a str,
    /// Byte offset of the line's first byte.
    pub start: usize,
    /// Byte offset just past the line's `\n` (or the end of the text).
    pub end: usize,
}

/// The lines of a text with their byte offsets.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    let mut start = 0;
    text.split_inclusive('\n')
        .enumerate()
        .map(move |(index, raw)| {
            let line = Line {
                number: index + 1,
                text: raw.strip_suffix('\n').unwrap_or(raw),
                start,
                end: start + raw.len(),
            };
            start = line.end;
            line
        })
}

/// The 1-based line number of the byte at `offset` in `text`.
pub(crate) fn line_of_byte(text: &str, offset: usize) -> usize {
    1 + text.bytes().take(offset).filter(|&b| b == b'\n').count()
}

/// Splits `<digits>_<rest>` into the digits and the rest; None if the name does not start so.
pub(crate) fn split_version(name: &str) -> Option<(&str, &str)> {
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let (version, rest) = name.split_at(digits);
    Some((version, rest.strip_prefix('_')?))
}

/// The entries of the migrations directory; errors name it: missing, not a
/// directory, unreadable.
pub(crate) fn read_migrations_dir(dir: &Path) -> Result<Vec<fs::DirEntry>, InputError> {
    match fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(InputError::new(dir, "migrations directory not found"));
        }
        Err(e) => {
            return Err(InputError::new(
                dir,
                format!("cannot access migrations directory: {}", io_reason(&e)),
            ));
        }
        Ok(meta) if !meta.is_dir() => {
            return Err(InputError::new(
                dir,
                "not a directory (expected the migrations directory)",
            ));
        }
        Ok(_) => {}
    }
    read_entries(dir)
}

/// The entries of a directory known to exist; errors name it.
fn read_entries(dir: &Path) -> Result<Vec<fs::DirEntry>, InputError> {
    let unreadable = |e: io::Error| {
        InputError::new(
            dir,
            format!("cannot read migrations directory: {}", io_reason(&e)),
        )
    };
    fs::read_dir(dir)
        .map_err(unreadable)?
        .map(|entry| entry.map_err(unreadable))
        .collect()
}

/// One file or directory below the migrations directory.
#[derive(Debug)]
pub struct Entry {
    /// Path relative to the migrations directory, `/`-separated.
    pub rel: String,
    /// The migrations directory joined with `rel`.
    pub path: PathBuf,
    /// Whether it is a directory (symbolic links followed).
    pub is_dir: bool,
    /// The file's text, read on first use.
    text: OnceCell<Result<Text, InputError>>,
}

impl Entry {
    /// The entry's name (the last component of `rel`).
    pub fn name(&self) -> &str {
        self.rel.rsplit('/').next().unwrap_or(&self.rel)
    }

    /// How many directories deep it sits (0 for a direct child of the migrations directory).
    pub fn depth(&self) -> usize {
        self.rel.matches('/').count()
    }

    /// The directory part of `rel` (empty for a direct child).
    pub fn parent(&self) -> &str {
        self.rel.rsplit_once('/').map_or("", |(parent, _)| parent)
    }

    /// The file's text, read and decoded once; errors name the file (and the line of a bad byte).
    pub fn text(&self) -> Result<&Text, InputError> {
        self.text
            .get_or_init(|| read_text(&self.path))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// The migrations directory's entries, sorted by `rel` (a directory before its contents).
#[derive(Debug)]
pub struct Listing {
    /// The migrations directory as given.
    pub dir: PathBuf,
    /// Files and directories, not hidden, not below [`SKIPPED_DIRS`], down to the depth read.
    pub entries: Vec<Entry>,
    /// The project around the directory, read on first use.
    project: OnceCell<Project>,
}

impl Listing {
    /// Reads `dir` down to `depth` levels (1: only its direct children). Hidden entries (a
    /// name starting with `.`) and dependency directories are left out. A name that is not
    /// UTF-8 is an error naming it when it could be a migration (a `.sql` file or a
    /// directory), and left out otherwise.
    pub fn read(dir: &Path, depth: usize) -> Result<Listing, InputError> {
        let mut listing = Listing {
            dir: dir.to_path_buf(),
            entries: Vec::new(),
            project: OnceCell::new(),
        };
        let top = read_migrations_dir(dir)?;
        listing.add(dir, "", top, depth)?;
        listing.entries.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(listing)
    }

    /// A listing of files given in memory (the base branch's tree): `(rel, bytes)`.
    pub fn from_memory(dir: &Path, files: Vec<(String, Vec<u8>)>) -> Listing {
        let mut entries: Vec<Entry> = Vec::new();
        for (rel, bytes) in files {
            let path = dir.join(&rel);
            let text = OnceCell::from(decode(&path, bytes));
            entries.push(Entry {
                rel,
                path,
                is_dir: false,
                text,
            });
        }
        entries.sort_by(|a, b| a.rel.cmp(&b.rel));
        Listing {
            dir: dir.to_path_buf(),
            entries,
            project: OnceCell::new(),
        }
    }

    fn add(
        &mut self,
        dir: &Path,
        prefix: &str,
        entries: Vec<fs::DirEntry>,
        depth: usize,
    ) -> Result<(), InputError> {
        for entry in entries {
            let os_name = entry.file_name();
            let path = dir.join(&os_name);
            let lossy = os_name.to_string_lossy();
            if lossy.starts_with('.') {
                continue;
            }
            // The entry's own type saves a stat; symbolic links are followed.
            let is_dir = match entry.file_type() {
                Ok(t) if !t.is_symlink() => t.is_dir(),
                _ => fs::metadata(&path).map(|m| m.is_dir()).unwrap_or(false),
            };
            let Some(name) = os_name.to_str() else {
                if lossy.ends_with(".sql") || is_dir {
                    return Err(InputError::new(path, "file name is not valid UTF-8"));
                }
                continue;
            };
            let rel = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            };
            if is_dir && depth > 1 && !SKIPPED_DIRS.contains(&name) {
                let children = read_entries(&path)?;
                self.add(&path, &rel, children, depth - 1)?;
            }
            self.entries.push(Entry {
                rel,
                path,
                is_dir,
                text: OnceCell::new(),
            });
        }
        Ok(())
    }

    /// The tools the project around the directory names (see [`Project`]), read once.
    pub fn project(&self) -> &Project {
        self.project.get_or_init(|| Project::around(&self.dir))
    }

    /// The files (not directories).
    pub fn files(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| !e.is_dir)
    }

    /// The files directly in the migrations directory.
    pub fn top_files(&self) -> impl Iterator<Item = &Entry> {
        self.files().filter(|e| e.depth() == 0)
    }

    /// The files and directories directly in the migrations directory, but for migration-check's
    /// own files there (`migrations.sum`, `migration-check.toml`).
    pub fn top_entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| e.depth() == 0 && !is_own_file(&e.rel))
    }

    /// The directories directly in the migrations directory.
    pub fn top_dirs(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.is_dir && e.depth() == 0)
    }

    /// The entry at `rel`, if listed.
    pub fn get(&self, rel: &str) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.rel.as_str().cmp(rel))
            .ok()
            .map(|i| &self.entries[i])
    }
}

/// Whether `rel` is one of migration-check's own files in the migrations directory
/// (`migrations.sum`, `migration-check.toml`), never a migration nor worth a word.
pub(crate) fn is_own_file(rel: &str) -> bool {
    OWN_FILES.contains(&rel)
}

/// Which kind of top-level `.sql` file a name denotes (sqlx's naming).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `<version>_<name>.up.sql`
    Up,
    /// `<version>_<name>.down.sql`
    Down,
    /// `<version>_<name>.sql`
    Plain,
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{tempdir, write};
    use super::*;

    #[test]
    fn lines_and_offsets() {
        let text = "a\r\nbb\n\nc";
        let got: Vec<(usize, &str, usize, usize)> = lines(text)
            .map(|l| (l.number, l.text, l.start, l.end))
            .collect();
        assert_eq!(
            got,
            [
                (1, "a\r", 0, 3),
                (2, "bb", 3, 6),
                (3, "", 6, 7),
                (4, "c", 7, 8)
            ]
        );
        assert_eq!(line_of_byte(text, 0), 1);
        assert_eq!(line_of_byte(text, 3), 2);
        assert_eq!(line_of_byte(text, 100), 4);
    }

    #[test]
    fn split_version_rules() {
        assert_eq!(split_version("12_a_b.sql"), Some(("12", "a_b.sql")));
        assert_eq!(split_version("12.sql"), None);
        assert_eq!(split_version("a_1.sql"), None);
        assert_eq!(split_version("1_"), Some(("1", "")));
    }

    #[test]
    fn reads_to_depth_skipping_hidden_and_dependencies() {
        let t = tempdir();
        write(t.path(), "1_a.sql", "a");
        write(t.path(), ".hidden/1_b.sql", "b");
        write(t.path(), "node_modules/x/1_c.sql", "c");
        write(t.path(), "sub/deeper/2_d.sql", "d");
        let rels = |depth| -> Vec<String> {
            Listing::read(t.path(), depth)
                .unwrap()
                .entries
                .iter()
                .map(|e| e.rel.clone())
                .collect()
        };
        assert_eq!(rels(1), ["1_a.sql", "node_modules", "sub"]);
        assert_eq!(
            rels(3),
            [
                "1_a.sql",
                "node_modules",
                "sub",
                "sub/deeper",
                "sub/deeper/2_d.sql"
            ]
        );
        let listing = Listing::read(t.path(), 3).unwrap();
        let entry = listing.get("sub/deeper/2_d.sql").unwrap();
        assert_eq!(
            (entry.name(), entry.depth(), entry.parent()),
            ("2_d.sql", 2, "sub/deeper")
        );
        assert_eq!(entry.text().unwrap().sql, "d");
    }

    #[test]
    fn text_errors_are_kept_and_repeated() {
        let t = tempdir();
        write(t.path(), "1_a.sql", b"ok\n\xff");
        let listing = Listing::read(t.path(), 1).unwrap();
        let entry = listing.get("1_a.sql").unwrap();
        for _ in 0..2 {
            let err = entry.text().unwrap_err();
            assert_eq!(err.line, Some(2));
        }
    }
}
