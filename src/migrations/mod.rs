//! Migration discovery. migration-check has to know, before it touches a database, which
//! migrations exist, in what order the migration tool would apply them, what SQL each up and
//! down script holds and whether the tool would wrap it in a transaction. This module reads the
//! migrations directory once, works out (or is told) which tool's layout it follows, and hands
//! the listing to one leaf per layout (`sqlx`, `diesel`, `dbmate`) to turn into [`Migration`]s.
//! Every problem with the input is an [`InputError`] naming the file, and the line where one
//! applies; nothing here panics on any input.

pub mod dbmate;
pub mod diesel;
pub mod sqlx;

use std::cmp::Ordering;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::InputError;

/// A migration tool whose directory layout and ordering rules migration-check understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// sqlx: `<version>_<name>.up.sql` / `.down.sql` pairs, or simple `<version>_<name>.sql`.
    Sqlx,
    /// golang-migrate: `<version>_<name>.up.sql` / `.down.sql` pairs only.
    GolangMigrate,
    /// diesel: `<version>_<name>/` directories holding `up.sql` and optionally `down.sql`.
    Diesel,
    /// dbmate: single `<version>_<name>.sql` files with `-- migrate:up` / `-- migrate:down`.
    Dbmate,
}

impl Format {
    /// Every format, in the order they are listed to the user.
    pub const ALL: [Format; 4] = [
        Format::Sqlx,
        Format::GolangMigrate,
        Format::Diesel,
        Format::Dbmate,
    ];

    /// The name used on the command line and in reports (`--format NAME`).
    pub fn name(&self) -> &'static str {
        match self {
            Format::Sqlx => "sqlx",
            Format::GolangMigrate => "golang-migrate",
            Format::Diesel => "diesel",
            Format::Dbmate => "dbmate",
        }
    }

    /// A short description of the files this format's layout consists of.
    fn layout(&self) -> &'static str {
        match self {
            Format::Sqlx => {
                "sqlx `<version>_<name>.up.sql`/`.down.sql` pairs or `<version>_<name>.sql` files"
            }
            Format::GolangMigrate => "golang-migrate `<version>_<name>.up.sql`/`.down.sql` pairs",
            Format::Diesel => "diesel `<version>_<name>/up.sql` directories",
            Format::Dbmate => "dbmate `<version>_<name>.sql` files with `-- migrate:up`",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--format` value that names no known format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown migration format `{0}` (expected one of: sqlx, golang-migrate, diesel, dbmate)")]
pub struct ParseFormatError(pub String);

impl FromStr for Format {
    type Err = ParseFormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| ParseFormatError(s.to_string()))
    }
}

/// How the migration tool runs a script with respect to transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionMode {
    /// The tool wraps the script in one transaction (unless the script has its own BEGIN/COMMIT; the runner checks that).
    Wrapped,
    /// Marked non-transactional by the format's marker: run statement by statement, autocommit.
    None,
    /// golang-migrate: the tool runs the file as written, no wrapping of its own.
    AsWritten,
}

/// One up or down script: its SQL and where that SQL sits in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The file holding the script: the migrations directory joined with the file's name, so
    /// relative if the directory was given as a relative path.
    pub path: PathBuf,
    /// The script's own text (for dbmate only its section, starting at the line after the
    /// directive), without a leading UTF-8 BOM.
    pub sql: String,
    /// Number of file lines before `sql` starts (0 for whole-file scripts), so a line number
    /// within `sql` plus `line_offset` is the line number in the file.
    pub line_offset: usize,
    /// Byte offset in the file where `sql` starts (counting a stripped BOM).
    pub byte_offset: usize,
    /// Whether the tool would run the script inside a transaction.
    pub transaction: TransactionMode,
}

/// The sort key of a version; which variant is used depends on the format.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum SortKey {
    /// Ordered numerically (sqlx, golang-migrate).
    Number(u64),
    /// Ordered as a string (diesel with dashes removed, dbmate as written).
    Text(String),
}

/// A migration's version, ordered the way its own tool orders it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    /// The version as written in the file or directory name.
    pub text: String,
    key: SortKey,
}

impl Version {
    /// A version ordered numerically.
    pub(crate) fn numeric(text: &str, number: u64) -> Self {
        Version {
            text: text.to_string(),
            key: SortKey::Number(number),
        }
    }

    /// A version ordered by comparing `key` as a string.
    pub(crate) fn textual(text: &str, key: &str) -> Self {
        Version {
            text: text.to_string(),
            key: SortKey::Text(key.to_string()),
        }
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key
            .cmp(&other.key)
            .then_with(|| self.text.cmp(&other.text))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One migration: a version, a name, an up script and possibly a down script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The version, which orders the migrations.
    pub version: Version,
    /// The name part of the file or directory name, after the version and its `_`.
    pub name: String,
    /// The script that applies the migration.
    pub up: Script,
    /// The script that reverts it, if the migration has one.
    pub down: Option<Script>,
}

impl Migration {
    /// The files this migration consists of: up then down, each once (dbmate has one file).
    pub fn files(&self) -> Vec<&Path> {
        let mut files = vec![self.up.path.as_path()];
        if let Some(down) = &self.down
            && down.path != self.up.path
        {
            files.push(down.path.as_path());
        }
        files
    }
}

/// The result of discovery: the format and the migrations in the order the tool applies them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The layout the directory follows.
    pub format: Format,
    /// True when the format was detected from the directory rather than given.
    pub auto_detected: bool,
    /// The migrations, sorted by version.
    pub migrations: Vec<Migration>,
}

/// Finds the migrations in `dir`. With `format` None the layout is detected from the
/// directory's entries; with a format given, entries of another layout are an error.
pub fn discover(dir: &Path, format: Option<Format>) -> Result<Discovered, InputError> {
    let listing = scan(dir)?;
    let (format, auto_detected) = match format {
        Some(format) => {
            check_foreign(&listing, format)?;
            (format, false)
        }
        None => match detect(dir, &listing)? {
            Some(format) => (format, true),
            None => return Err(no_migrations(dir, &Format::ALL)),
        },
    };
    let mut migrations = match format {
        Format::Sqlx | Format::GolangMigrate => sqlx::discover(&listing, format)?,
        Format::Diesel => diesel::discover(&listing)?,
        Format::Dbmate => dbmate::discover(&listing)?,
    };
    if migrations.is_empty() {
        return Err(no_migrations(dir, &[format]));
    }
    migrations.sort_by(|a, b| a.version.cmp(&b.version));
    Ok(Discovered {
        format,
        auto_detected,
        migrations,
    })
}

/// The error for a directory holding nothing that looks like a migration.
fn no_migrations(dir: &Path, formats: &[Format]) -> InputError {
    let looked: Vec<&str> = formats
        .iter()
        .filter(|f| !(formats.len() > 1 && **f == Format::GolangMigrate))
        .map(|f| f.layout())
        .collect();
    InputError::new(
        dir,
        format!(
            "no migrations found in {} (looked for {})",
            dir.display(),
            looked.join(", ")
        ),
    )
}

/// A file's text, decoded as UTF-8 with a leading BOM removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text {
    /// The text after the BOM.
    pub sql: String,
    /// Bytes removed from the start of the file (3 for a BOM, else 0).
    pub bom_len: usize,
}

impl Text {
    /// The whole file as one script.
    pub(crate) fn whole_script(&self, path: &Path, transaction: TransactionMode) -> Script {
        Script {
            path: path.to_path_buf(),
            sql: self.sql.clone(),
            line_offset: 0,
            byte_offset: self.bom_len,
            transaction,
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
fn decode(path: &Path, bytes: Vec<u8>) -> Result<Text, InputError> {
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

/// Which kind of top-level `.sql` file a name denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `<version>_<name>.up.sql`
    Up,
    /// `<version>_<name>.down.sql`
    Down,
    /// `<version>_<name>.sql`
    Plain,
}

/// A top-level `<version>_<name>...sql` file of the migrations directory, already read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqlFile {
    /// The migrations directory joined with the file name.
    pub path: PathBuf,
    /// The leading digits of the file name.
    pub version: String,
    /// The part after the version's `_`, without `.up.sql`, `.down.sql` or `.sql`.
    pub name: String,
    /// Up, down or plain.
    pub kind: FileKind,
    /// The file's contents.
    pub text: Text,
}

/// A subdirectory of the migrations directory whose name starts with a digit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubDir {
    /// The migrations directory joined with the subdirectory's name.
    pub path: PathBuf,
    /// The subdirectory's name.
    pub name: String,
    /// Whether it holds an `up.sql` file.
    pub has_up: bool,
}

/// What the migrations directory holds that may matter, in file-name order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listing {
    /// Top-level `.sql` files (not hidden).
    pub files: Vec<SqlFile>,
    /// Subdirectories whose names start with a digit (not hidden).
    pub dirs: Vec<SubDir>,
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

/// Reads the migrations directory: its top-level `.sql` files (read as text) and its
/// digit-prefixed subdirectories. Hidden entries and files not ending in `.sql` are ignored.
fn scan(dir: &Path) -> Result<Listing, InputError> {
    let mut names: Vec<_> = read_migrations_dir(dir)?
        .into_iter()
        .map(|entry| entry.file_name())
        .collect();
    names.sort();

    let mut listing = Listing {
        files: Vec::new(),
        dirs: Vec::new(),
    };
    for os_name in names {
        let path = dir.join(&os_name);
        let lossy = os_name.to_string_lossy();
        if lossy.starts_with('.') {
            continue;
        }
        let is_dir = fs::metadata(&path).map(|m| m.is_dir()).unwrap_or(false);
        let starts_with_digit = lossy.starts_with(|c: char| c.is_ascii_digit());
        let Some(name) = os_name.to_str() else {
            if lossy.ends_with(".sql") || (is_dir && starts_with_digit) {
                return Err(InputError::new(path, "file name is not valid UTF-8"));
            }
            continue;
        };
        if is_dir {
            if starts_with_digit {
                let has_up = path.join("up.sql").is_file();
                listing.dirs.push(SubDir {
                    path,
                    name: name.to_string(),
                    has_up,
                });
            }
            continue;
        }
        if !name.ends_with(".sql") {
            continue;
        }
        let Some((version, rest)) = split_version(name) else {
            return Err(InputError::new(
                path,
                "file name does not start with a version number followed by `_` \
                 (expected e.g. `1_create_users.sql`); rename it, or start its name with `.` \
                 to have it ignored",
            ));
        };
        let (kind, migration_name) = if let Some(n) = rest.strip_suffix(".up.sql") {
            (FileKind::Up, n)
        } else if let Some(n) = rest.strip_suffix(".down.sql") {
            (FileKind::Down, n)
        } else {
            (FileKind::Plain, rest.strip_suffix(".sql").unwrap_or(rest))
        };
        let text = read_text(&path)?;
        listing.files.push(SqlFile {
            version: version.to_string(),
            name: migration_name.to_string(),
            kind,
            text,
            path,
        });
    }
    Ok(listing)
}

/// The up marker of a tool whose layout migration-check does not read yet,
/// with its line: a plain `.sql` file that carries one is that tool's
/// migration and never an sqlx simple migration, as which its down section
/// would run as part of its up. Matched as each tool matches it: goose
/// case-insensitively around `+goose`, sql-migrate's exact `-- +migrate Up`
/// prefix, node-pg-migrate's `-- Up Migration` case-insensitively with any
/// extra dashes.
fn unsupported_up_marker(sql: &str) -> Option<(&'static str, usize)> {
    sql.lines().enumerate().find_map(|(index, line)| {
        let trimmed = line.trim();
        let comment = trimmed.strip_prefix("--")?;
        let goose = comment
            .trim_start_matches('-')
            .trim_start()
            .strip_prefix("+goose")
            .is_some_and(|rest| rest.trim().eq_ignore_ascii_case("up"));
        let sql_migrate = line
            .strip_prefix("-- +migrate ")
            .is_some_and(|rest| rest.split_whitespace().next() == Some("Up"));
        let node_pg_migrate = {
            let rest = comment
                .trim_start_matches(|c: char| c == '-' || c.is_whitespace())
                .to_ascii_lowercase();
            rest.strip_prefix("up").is_some_and(|after| {
                after.starts_with(char::is_whitespace)
                    && after.trim_start().starts_with("migration")
            })
        };
        let tool = match (goose, sql_migrate, node_pg_migrate) {
            (true, _, _) => "goose",
            (_, true, _) => "sql-migrate",
            (_, _, true) => "node-pg-migrate",
            _ => return None,
        };
        Some((tool, index + 1))
    })
}

/// Refuses a plain file that another tool's up marker claims (see
/// [`unsupported_up_marker`]).
fn refuse_unsupported_marker(file: &SqlFile) -> Result<(), InputError> {
    match unsupported_up_marker(&file.text.sql) {
        Some((tool, line)) => Err(InputError::at_line(
            &file.path,
            line,
            format!(
                "this is a {tool} migration (its up marker is here), a layout migration-check \
                 does not read yet; read as an sqlx file, its down section would run as part \
                 of its up. Convert it to `<version>_<name>.up.sql`/`.down.sql` pairs, or \
                 use a supported layout"
            ),
        )),
        None => Ok(()),
    }
}

/// Works out the layout from the directory's entries. None when nothing looks like a migration.
fn detect(dir: &Path, listing: &Listing) -> Result<Option<Format>, InputError> {
    let mut pair = None;
    let mut simple = None;
    let mut dbmate_file = None;
    for file in listing.files.iter().filter(|f| f.kind == FileKind::Plain) {
        refuse_unsupported_marker(file)?;
    }
    for file in &listing.files {
        let slot = match file.kind {
            FileKind::Up | FileKind::Down => &mut pair,
            FileKind::Plain if dbmate::up_directive_line(&file.text.sql).is_some() => {
                &mut dbmate_file
            }
            FileKind::Plain => &mut simple,
        };
        slot.get_or_insert(file.path.as_path());
    }
    let diesel_dir = listing
        .dirs
        .iter()
        .find(|d| d.has_up)
        .map(|d| d.path.as_path());

    // Plain files without a dbmate directive are sqlx simple migrations, unless the directory
    // is a dbmate one, where they are dbmate files missing their directive.
    let sqlx_file = pair.or(if dbmate_file.is_none() { simple } else { None });
    let found: Vec<(Format, &Path)> = [
        (Format::Sqlx, sqlx_file),
        (Format::Diesel, diesel_dir),
        (Format::Dbmate, dbmate_file),
    ]
    .into_iter()
    .filter_map(|(format, example)| Some((format, example?)))
    .collect();

    match found.as_slice() {
        [] if !listing.dirs.is_empty() => Ok(Some(Format::Diesel)),
        [] => Ok(None),
        [(format, _)] => Ok(Some(*format)),
        several => {
            let count = if several.len() == 2 { "two" } else { "three" };
            let names: Vec<&str> = several.iter().map(|(f, _)| f.name()).collect();
            let examples: Vec<String> = several
                .iter()
                .map(|(f, p)| format!("{} is {}", p.display(), f))
                .collect();
            Err(InputError::new(
                dir,
                format!(
                    "{count} migration layouts mixed in one directory: {} (e.g. {}); pass --format",
                    join_and(&names),
                    join_and(&examples)
                ),
            ))
        }
    }
}

/// Joins words as "a and b" or "a, b and c".
fn join_and<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [init @ .., last] => {
            let init: Vec<&str> = init.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", init.join(", "), last.as_ref())
        }
    }
}

/// With an explicit format, rejects entries that belong to another layout, naming one.
fn check_foreign(listing: &Listing, format: Format) -> Result<(), InputError> {
    let diesel_dir = listing.dirs.iter().find(|d| d.has_up);
    let diesel_error = |dir: &SubDir| {
        InputError::new(
            &dir.path,
            format!(
                "diesel migration directory in a {format} migrations directory; \
                 move it or pass --format diesel"
            ),
        )
    };
    match format {
        Format::Sqlx | Format::GolangMigrate => {
            if let Some(dir) = diesel_dir {
                return Err(diesel_error(dir));
            }
            for file in &listing.files {
                if file.kind != FileKind::Plain {
                    continue;
                }
                refuse_unsupported_marker(file)?;
                if let Some(line) = dbmate::up_directive_line(&file.text.sql) {
                    return Err(InputError::at_line(
                        &file.path,
                        line,
                        format!(
                            "dbmate migration (`-- migrate:up`) in a {format} migrations \
                             directory; move it or pass --format dbmate"
                        ),
                    ));
                }
            }
        }
        Format::Diesel => {
            if let Some(file) = listing.files.first() {
                let layout = match file.kind {
                    FileKind::Up | FileKind::Down => "sqlx/golang-migrate",
                    FileKind::Plain if dbmate::up_directive_line(&file.text.sql).is_some() => {
                        "dbmate"
                    }
                    FileKind::Plain => "sqlx",
                };
                return Err(InputError::new(
                    &file.path,
                    format!(
                        "{layout} migration file in a diesel migrations directory \
                         (diesel expects `<version>_<name>/up.sql` directories); \
                         move it or pass --format {}",
                        if layout == "dbmate" { "dbmate" } else { "sqlx" }
                    ),
                ));
            }
        }
        Format::Dbmate => {
            if let Some(file) = listing.files.iter().find(|f| f.kind != FileKind::Plain) {
                return Err(InputError::new(
                    &file.path,
                    "sqlx/golang-migrate `.up.sql`/`.down.sql` file in a dbmate migrations \
                     directory (dbmate expects one `<version>_<name>.sql` file per migration); \
                     move it or pass --format sqlx",
                ));
            }
            if let Some(dir) = diesel_dir {
                return Err(diesel_error(dir));
            }
        }
    }
    Ok(())
}

/// Helpers for the unit tests of this module tree: building real migration directories.
#[cfg(test)]
pub(crate) mod test_util {
    use std::path::{Path, PathBuf};

    /// Writes `contents` to `dir/rel`, creating parent directories.
    pub fn write(dir: &Path, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&path, contents).expect("write file");
        path
    }

    /// A fresh temporary directory.
    pub fn tempdir() -> tempfile::TempDir {
        tempfile::TempDir::new().expect("tempdir")
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::{tempdir, write};
    use super::*;

    #[test]
    fn other_tools_up_markers_are_recognised_as_those_tools_do() {
        for (sql, tool, line) in [
            ("-- +goose Up\nCREATE TABLE a ();\n", "goose", 1),
            ("-- comment\n--+goose up\nSELECT 1;\n", "goose", 2),
            ("  -- +goose   UP  \n", "goose", 1),
            ("-- +migrate Up\nCREATE TABLE a ();\n", "sql-migrate", 1),
            ("-- +migrate Up notransaction\n", "sql-migrate", 1),
            (
                "-- Up Migration\nCREATE TABLE a ();\n",
                "node-pg-migrate",
                1,
            ),
            ("\n---- up   migration\n", "node-pg-migrate", 2),
        ] {
            assert_eq!(unsupported_up_marker(sql), Some((tool, line)), "{sql:?}");
        }
        for sql in [
            "CREATE TABLE a ();\n",
            "-- migrate:up\nCREATE TABLE a ();\n",
            "-- +migrate up\n",
            "-- +goose Up extra\n",
            "-- upgrade migration notes\n",
            "SELECT '-- +goose Up';\n",
        ] {
            assert_eq!(unsupported_up_marker(sql), None, "{sql:?}");
        }
    }

    #[test]
    fn a_goose_directory_is_never_read_as_sqlx() {
        let t = tempdir();
        write(
            t.path(),
            "1_a.sql",
            "-- +goose Up\nCREATE TABLE a ();\n-- +goose Down\nDROP TABLE a;\n",
        );
        for format in [None, Some(Format::Sqlx)] {
            let err = discover(t.path(), format).unwrap_err();
            assert_eq!(err.line, Some(1), "{err}");
            assert!(err.message.contains("goose migration"), "{err}");
            assert!(err.path.ends_with("1_a.sql"));
        }
    }

    fn versions(d: &Discovered) -> Vec<&str> {
        d.migrations
            .iter()
            .map(|m| m.version.text.as_str())
            .collect()
    }

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
            assert_eq!(f.to_string(), f.name());
        }
        let err = "flyway".parse::<Format>().unwrap_err();
        assert!(err.to_string().contains("flyway"));
    }

    #[test]
    fn version_ordering_and_display() {
        assert!(Version::numeric("2", 2) < Version::numeric("10", 10));
        assert!(Version::textual("10", "10") < Version::textual("2", "2"));
        assert_eq!(
            Version::textual("2024-01-02", "20240102").to_string(),
            "2024-01-02"
        );
    }

    #[test]
    fn missing_dir() {
        let t = tempdir();
        let dir = t.path().join("nope");
        let err = discover(&dir, None).unwrap_err();
        assert_eq!(err.path, dir);
        assert_eq!(err.line, None);
        assert!(err.message.contains("migrations directory not found"));
    }

    #[test]
    fn not_a_directory() {
        let t = tempdir();
        let file = write(t.path(), "migrations", "x");
        let err = discover(&file, Some(Format::Sqlx)).unwrap_err();
        assert_eq!(err.path, file);
        assert!(err.message.contains("not a directory"));
    }

    #[test]
    fn empty_dir_names_dir_and_layouts() {
        let t = tempdir();
        write(t.path(), "README.md", "# migrations");
        write(t.path(), ".gitkeep", "");
        write(t.path(), ".hidden.sql", "junk");
        std::fs::create_dir(t.path().join("archive")).unwrap();
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, t.path());
        assert_eq!(err.line, None);
        assert!(
            err.message
                .starts_with(&format!("no migrations found in {}", t.path().display()))
        );
        for word in ["sqlx", "diesel", "dbmate", "up.sql", "-- migrate:up"] {
            assert!(err.message.contains(word), "{word} in {}", err.message);
        }
        let err = discover(t.path(), Some(Format::Dbmate)).unwrap_err();
        assert!(err.message.contains("dbmate"));
        assert!(!err.message.contains("diesel"));
    }

    #[test]
    fn detects_sqlx_pairs() {
        let t = tempdir();
        write(t.path(), "10_b.up.sql", "create table b();");
        write(t.path(), "10_b.down.sql", "drop table b;");
        write(t.path(), "2_a.up.sql", "create table a();");
        write(t.path(), "2_a.down.sql", "drop table a;");
        write(t.path(), "notes.txt", "ignored");
        std::fs::create_dir(t.path().join("3_subdir")).unwrap();
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format, Format::Sqlx);
        assert!(d.auto_detected);
        assert_eq!(versions(&d), ["2", "10"]);
        let d = discover(t.path(), Some(Format::Sqlx)).unwrap();
        assert!(!d.auto_detected);
    }

    #[test]
    fn detects_sqlx_simple() {
        let t = tempdir();
        write(t.path(), "1_a.sql", "select 1;");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format, Format::Sqlx);
        assert_eq!(d.migrations[0].down, None);
    }

    #[test]
    fn detects_diesel() {
        let t = tempdir();
        write(
            t.path(),
            "2024-01-02-030405_users/up.sql",
            "create table users();",
        );
        write(
            t.path(),
            "2024-01-02-030405_users/down.sql",
            "drop table users;",
        );
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format, Format::Diesel);
        assert!(d.auto_detected);
    }

    #[test]
    fn detects_diesel_when_only_broken_dirs() {
        let t = tempdir();
        write(t.path(), "2024_users/down.sql", "drop table users;");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, t.path().join("2024_users"));
        assert!(err.message.contains("up.sql"));
    }

    #[test]
    fn detects_dbmate() {
        let t = tempdir();
        write(t.path(), "1_a.sql", "-- migrate:up\nselect 1;\n");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format, Format::Dbmate);
        assert!(d.auto_detected);
    }

    #[test]
    fn dbmate_dir_with_file_missing_directive_reports_the_file() {
        let t = tempdir();
        write(t.path(), "1_a.sql", "-- migrate:up\nselect 1;\n");
        let bad = write(t.path(), "2_b.sql", "select 2;\n");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, bad);
        assert_eq!(err.line, None);
        assert!(err.message.contains("-- migrate:up"));
    }

    #[test]
    fn mixed_sqlx_and_dbmate() {
        let t = tempdir();
        let a = write(t.path(), "1_a.up.sql", "select 1;");
        let b = write(t.path(), "2_b.sql", "-- migrate:up\nselect 2;\n");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, t.path());
        assert_eq!(err.line, None);
        assert_eq!(
            err.message,
            format!(
                "two migration layouts mixed in one directory: sqlx and dbmate \
                 (e.g. {} is sqlx and {} is dbmate); pass --format",
                a.display(),
                b.display()
            )
        );
    }

    #[test]
    fn mixed_three_layouts() {
        let t = tempdir();
        write(t.path(), "1_a.sql", "select 1;");
        write(t.path(), "2_b/up.sql", "select 2;");
        write(t.path(), "3_c.up.sql", "select 3;");
        write(t.path(), "4_d.sql", "-- migrate:up\n");
        let err = discover(t.path(), None).unwrap_err();
        assert!(
            err.message.starts_with(
                "three migration layouts mixed in one directory: sqlx, diesel and dbmate"
            ),
            "{}",
            err.message
        );
        assert!(err.message.contains("3_c.up.sql is sqlx"));
        assert!(err.message.contains("2_b is diesel"));
        assert!(err.message.contains("4_d.sql is dbmate"));
    }

    #[test]
    fn mixed_sqlx_simple_and_diesel() {
        let t = tempdir();
        let a = write(t.path(), "1_a.sql", "select 1;");
        write(t.path(), "2_b/up.sql", "select 2;");
        let err = discover(t.path(), None).unwrap_err();
        assert!(err.message.contains("sqlx and diesel"), "{}", err.message);
        assert!(err.message.contains(&format!("{} is sqlx", a.display())));
        assert!(err.message.ends_with("pass --format"));
    }

    #[test]
    fn explicit_sqlx_rejects_diesel_dir() {
        let t = tempdir();
        write(t.path(), "1_a.up.sql", "select 1;");
        write(t.path(), "2_b/up.sql", "select 2;");
        let err = discover(t.path(), Some(Format::Sqlx)).unwrap_err();
        assert_eq!(err.path, t.path().join("2_b"));
        assert!(err.message.contains("diesel"));
    }

    #[test]
    fn explicit_sqlx_rejects_dbmate_file_at_directive_line() {
        let t = tempdir();
        write(t.path(), "1_a.up.sql", "select 1;");
        let b = write(
            t.path(),
            "2_b.sql",
            "-- comment\n-- migrate:up\nselect 2;\n",
        );
        let err = discover(t.path(), Some(Format::GolangMigrate)).unwrap_err();
        assert_eq!(err.path, b);
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("dbmate"));
    }

    #[test]
    fn explicit_diesel_rejects_sql_file() {
        let t = tempdir();
        write(t.path(), "1_a/up.sql", "select 1;");
        let b = write(t.path(), "2_b.up.sql", "select 2;");
        let err = discover(t.path(), Some(Format::Diesel)).unwrap_err();
        assert_eq!(err.path, b);
        assert!(err.message.contains("diesel"));
    }

    #[test]
    fn explicit_dbmate_rejects_pair_file_and_diesel_dir() {
        let t = tempdir();
        write(t.path(), "1_a.sql", "-- migrate:up\n");
        let b = write(t.path(), "2_b.down.sql", "select 2;");
        let err = discover(t.path(), Some(Format::Dbmate)).unwrap_err();
        assert_eq!(err.path, b);
        std::fs::remove_file(&b).unwrap();
        write(t.path(), "3_c/up.sql", "select 3;");
        let err = discover(t.path(), Some(Format::Dbmate)).unwrap_err();
        assert_eq!(err.path, t.path().join("3_c"));
    }

    #[test]
    fn sql_file_without_version_is_an_error() {
        let t = tempdir();
        write(t.path(), "1_a.up.sql", "select 1;");
        let typo = write(t.path(), "create_users.up.sql", "select 1;");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, typo);
        assert_eq!(err.line, None);
        assert!(err.message.contains("version number"));
        std::fs::remove_file(&typo).unwrap();
        let typo = write(t.path(), "1-a.up.sql", "select 1;");
        assert_eq!(discover(t.path(), None).unwrap_err().path, typo);
    }

    #[test]
    fn non_utf8_names_line_of_first_bad_byte() {
        let t = tempdir();
        let f = write(
            t.path(),
            "1_a.up.sql",
            b"select 1;\r\n-- ok\n\xff\xfe oops\n",
        );
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, f);
        assert_eq!(err.line, Some(3));
        assert_eq!(err.message, "not valid UTF-8");
        assert_eq!(
            err.to_string(),
            format!("{}:3: not valid UTF-8", f.display())
        );
    }

    #[test]
    fn bom_is_stripped() {
        let t = tempdir();
        write(
            t.path(),
            "1_a.up.sql",
            "\u{feff}-- no-transaction\nselect 1;",
        );
        let d = discover(t.path(), None).unwrap();
        let up = &d.migrations[0].up;
        assert_eq!(up.sql, "-- no-transaction\nselect 1;");
        assert_eq!(up.byte_offset, 3);
        assert_eq!(up.line_offset, 0);
        assert_eq!(up.transaction, TransactionMode::None);
    }

    #[test]
    fn unreadable_file_is_named() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempdir();
        let f = write(t.path(), "1_a.up.sql", "select 1;");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::read(&f).is_ok() {
            // Running as root: permissions do not stop reading, nothing to check.
            return;
        }
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, f);
        assert!(err.message.contains("cannot read file"));
    }

    #[test]
    fn dangling_symlink_is_named() {
        let t = tempdir();
        let link = t.path().join("1_a.up.sql");
        std::os::unix::fs::symlink(t.path().join("missing"), &link).unwrap();
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, link);
        assert_eq!(err.line, None);
        assert_eq!(err.message, "cannot read file: not found");
    }

    #[test]
    fn relative_dir_gives_relative_paths() {
        // Tests run with the package root as the working directory.
        let t = tempfile::Builder::new()
            .prefix("discovery-reltest")
            .tempdir_in(".")
            .unwrap();
        write(t.path(), "1_a.up.sql", "select 1;");
        let rel = PathBuf::from(t.path().file_name().unwrap());
        assert!(rel.is_relative());
        let d = discover(&rel, None).unwrap();
        assert_eq!(d.migrations[0].up.path, rel.join("1_a.up.sql"));
    }

    #[test]
    fn files_lists_up_then_down_once() {
        let t = tempdir();
        write(t.path(), "1_a.up.sql", "select 1;");
        write(t.path(), "1_a.down.sql", "select 1;");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(
            d.migrations[0].files(),
            [
                t.path().join("1_a.up.sql").as_path(),
                t.path().join("1_a.down.sql").as_path()
            ]
        );
        let t = tempdir();
        write(t.path(), "1_a.sql", "-- migrate:up\n-- migrate:down\n");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(
            d.migrations[0].files(),
            [t.path().join("1_a.sql").as_path()]
        );
    }

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
}
