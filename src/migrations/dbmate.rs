//! The dbmate layout: one file `<version>_<name>.sql` per migration, split into sections by a
//! `-- migrate:up` line and optionally a `-- migrate:down` line, each of which may carry
//! `transaction:false`. Versions are ordered as strings, as dbmate orders them. This leaf
//! splits each already-read file into its up and down scripts, keeping track of the line and
//! byte where each section starts so that errors in the SQL can be reported at file lines.

use std::collections::BTreeMap;
use std::path::Path;

use super::bookkeeping::{Book, Bookkeeping, literal, record};
use super::{
    Evidence, Format, FormatSpec, Found, Listing, Migration, Script, Settings, Text,
    TransactionMode, Version, lines,
};
use super::{annotated_files, duplicate_version};
use crate::error::InputError;

/// The dbmate format.
pub const FORMAT: Format = Format::new(&Dbmate);

/// dbmate.
pub struct Dbmate;

impl FormatSpec for Dbmate {
    fn name(&self) -> &'static str {
        "dbmate"
    }

    fn layout(&self) -> &'static str {
        "dbmate `<version>_<name>.sql` files with `-- migrate:up`"
    }

    fn default_dirs(&self) -> &'static [&'static str] {
        &["db/migrations"]
    }

    fn recognise(
        &self,
        listing: &Listing,
        _settings: &Settings,
    ) -> Result<Option<Evidence>, InputError> {
        annotated_files(listing, |_, sql| up_directive_line(sql))
    }

    fn discover(&self, listing: &Listing, _settings: &Settings) -> Result<Found, InputError> {
        discover(listing)
    }

    fn is_migration_path(&self, rel: &str, _settings: &Settings) -> bool {
        dbmate_name(rel).is_some()
    }

    fn version_of_path(&self, rel: &str, _settings: &Settings) -> Option<Version> {
        dbmate_name(rel).map(|(digits, _)| Version::textual(digits, rel))
    }

    fn down_section_start(&self, sql: &str) -> Option<usize> {
        lines(sql)
            .find(|line| matches!(parse_directive(line.text), Some((Directive::Down, _))))
            .map(|line| line.start)
    }

    fn reads_sections(&self) -> bool {
        true
    }

    fn transaction_rule(&self) -> &'static str {
        "each section in its own transaction"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        Some("`transaction:false` on the `-- migrate:up` / `-- migrate:down` line")
    }

    fn bookkeeping(&self) -> Option<Book> {
        Some(&Dbmate)
    }

    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        vec![(
            format!("{version}_{name}.sql"),
            "-- migrate:up\n\n-- migrate:down\n".to_string(),
        )]
    }
}

/// The two section directives of a dbmate file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Directive {
    Up,
    Down,
}

impl Directive {
    /// The directive as written in files.
    fn text(self) -> &'static str {
        match self {
            Directive::Up => "-- migrate:up",
            Directive::Down => "-- migrate:down",
        }
    }
}

/// Recognises a directive line: after trimming, `--`, optional spaces, `migrate:up` or
/// `migrate:down`, then the end of the line or whitespace and options. Returns the options.
fn parse_directive(line: &str) -> Option<(Directive, &str)> {
    let rest = line.trim().strip_prefix("--")?.trim_start();
    let rest = rest.strip_prefix("migrate:")?;
    let (directive, rest) = if let Some(rest) = rest.strip_prefix("up") {
        (Directive::Up, rest)
    } else if let Some(rest) = rest.strip_prefix("down") {
        (Directive::Down, rest)
    } else {
        return None;
    };
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    Some((directive, rest.trim()))
}

/// The line number of the first `-- migrate:up` line of `sql`, if it has one. Used to tell
/// dbmate files from other plain `.sql` files.
pub(crate) fn up_directive_line(sql: &str) -> Option<usize> {
    lines(sql)
        .find(|line| matches!(parse_directive(line.text), Some((Directive::Up, _))))
        .map(|line| line.number)
}

/// Reads a directive's options: `transaction:false` takes the section out of a transaction,
/// `transaction:true` is the default, other keys are ignored as dbmate ignores them.
fn transaction_mode(
    path: &Path,
    line: usize,
    options: &str,
) -> Result<TransactionMode, InputError> {
    let mut mode = TransactionMode::Wrapped;
    for option in options.split_whitespace() {
        match option.strip_prefix("transaction:") {
            Some("false") => mode = TransactionMode::None,
            Some("true") => mode = TransactionMode::Wrapped,
            Some(_) => {
                return Err(InputError::at_line(
                    path,
                    line,
                    format!(
                        "invalid option `{option}` (expected `transaction:true` or \
                         `transaction:false`)"
                    ),
                ));
            }
            None => {}
        }
    }
    Ok(mode)
}

/// A dbmate migration file, already read.
struct SqlFile {
    path: std::path::PathBuf,
    /// Its leading digits.
    version: String,
    /// What follows them, without the separator and `.sql`.
    name: String,
    text: Text,
}

/// A section being collected: where it starts and how it runs.
struct Section {
    directive_line: usize,
    start: usize,
    end: usize,
    transaction: TransactionMode,
}

/// A file name as dbmate's `^(\d+).*\.sql$` reads it: its version digits and its name (what
/// follows them, without a leading separator or `.sql`); None for a file dbmate skips.
fn dbmate_name(rel: &str) -> Option<(&str, &str)> {
    if rel.contains('/') || rel.starts_with('.') {
        return None;
    }
    let stem = rel.strip_suffix(".sql")?;
    let digits = stem.len() - stem.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    let name = stem[digits..].trim_start_matches(['_', '-', '.', ' ']);
    Some((&stem[..digits], name))
}

/// Builds the migrations of a dbmate directory from its listing, as dbmate lists them: every
/// top-level `.sql` file whose name starts with digits (any separator after them), in file
/// name order; other entries are returned as ignored. The result is not sorted.
fn discover(listing: &Listing) -> Result<Found, InputError> {
    let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
    let mut found = Found::default();
    for entry in listing.top_entries() {
        let Some((version, name)) = (!entry.is_dir).then(|| dbmate_name(&entry.rel)).flatten()
        else {
            found.ignored.push(entry.path.clone());
            continue;
        };
        if let Some(other) = seen.insert(version, &entry.path) {
            return Err(duplicate_version(
                &entry.path,
                version,
                other,
                "dbmate would apply both and fail on its history table's primary key",
            ));
        }
        let file = SqlFile {
            path: entry.path.clone(),
            version: version.to_string(),
            name: name.to_string(),
            text: entry.text()?.clone(),
        };
        found.migrations.push(migration(&file, &entry.rel)?);
    }
    Ok(found)
}

/// Splits one dbmate file into its up and down scripts.
/// `rel` (the file name) orders it, as dbmate orders files.
fn migration(file: &SqlFile, rel: &str) -> Result<Migration, InputError> {
    let sql = &file.text.sql;
    let path = &file.path;
    if up_directive_line(sql).is_none() {
        return Err(missing_up(path));
    }
    let mut up: Option<Section> = None;
    let mut down: Option<Section> = None;
    for line in lines(sql) {
        let Some((directive, options)) = parse_directive(line.text) else {
            let trimmed = line.text.trim();
            if up.is_none() && !trimmed.is_empty() && !trimmed.starts_with("--") {
                return Err(InputError::at_line(
                    path,
                    line.number,
                    "statement before `-- migrate:up`; dbmate only runs the \
                     `-- migrate:up` and `-- migrate:down` sections",
                ));
            }
            continue;
        };
        let slot = match directive {
            Directive::Up => &mut up,
            Directive::Down => &mut down,
        };
        if let Some(first) = slot {
            return Err(InputError::at_line(
                path,
                line.number,
                format!(
                    "repeated `{}` (first on line {})",
                    directive.text(),
                    first.directive_line
                ),
            ));
        }
        if directive == Directive::Down && up.is_none() {
            return Err(InputError::at_line(
                path,
                line.number,
                "`-- migrate:down` before `-- migrate:up`",
            ));
        }
        // The section before this directive ends where this directive's line starts.
        for open in [&mut up, &mut down].into_iter().flatten() {
            if open.end == sql.len() {
                open.end = line.start;
            }
        }
        let transaction = transaction_mode(path, line.number, options)?;
        let section = Section {
            directive_line: line.number,
            start: line.end,
            end: sql.len(),
            transaction,
        };
        match directive {
            Directive::Up => up = Some(section),
            Directive::Down => down = Some(section),
        }
    }
    let Some(up) = up else {
        return Err(missing_up(path));
    };
    Ok(Migration {
        version: Version::textual(&file.version, rel),
        name: file.name.clone(),
        up: script(file, &up),
        down: down.as_ref().map(|down| script(file, down)),
    })
}

/// The error for a file with no `-- migrate:up` line.
fn missing_up(path: &Path) -> InputError {
    InputError::new(
        path,
        "missing `-- migrate:up` directive: a dbmate migration needs a `-- migrate:up` \
         line before its SQL",
    )
}

/// The script of one section.
fn script(file: &SqlFile, section: &Section) -> Script {
    Script {
        path: file.path.clone(),
        sql: file
            .text
            .sql
            .get(section.start..section.end)
            .unwrap_or_default()
            .to_string(),
        line_offset: section.directive_line,
        byte_offset: file.text.bom_len + section.start,
        transaction: section.transaction,
        step: None,
    }
}

// dbmate's `schema_migrations`: one `version` per applied migration, nothing else (no
// checksum, time or author, and no lock).

/// dbmate's history table.
pub const TABLE: &str = "schema_migrations";

impl Bookkeeping for Dbmate {
    fn tool(&self) -> &'static str {
        "dbmate"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn columns(&self) -> &'static [&'static str] {
        &["version"]
    }

    fn create_sql(&self) -> String {
        format!("CREATE TABLE IF NOT EXISTS {TABLE} (version varchar PRIMARY KEY);")
    }

    fn read_sql(&self) -> String {
        format!(
            "SELECT version::text, NULL::text, NULL::text, NULL::text,
                NULL::bigint, NULL::text, true
         FROM {TABLE} ORDER BY version"
        )
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let version = literal(&migrations[index].version.text);
        record(&if up {
            format!("INSERT INTO {TABLE} (version) VALUES ({version});")
        } else {
            format!("DELETE FROM {TABLE} WHERE version = {version};")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{discover, discovery_error, one_migration, tempdir, write};
    use super::*;

    /// dbmate's `^(\d+).*\.sql$`: any separator after the version, files in name order.
    #[test]
    fn any_separator_after_the_version_and_file_name_order() {
        let t = tempdir();
        write(
            t.path(),
            "20220701151154-numeric.sql",
            "-- migrate:up\nselect 1;\n-- migrate:down\n",
        );
        write(
            t.path(),
            "00000000000000-initial-schema.sql",
            "-- migrate:up\n-- migrate:down\n",
        );
        write(
            t.path(),
            "20220701151155.sql",
            "-- migrate:up\n-- migrate:down\n",
        );
        let readme = write(t.path(), "README.md", "");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format(), FORMAT);
        let versions: Vec<(&str, &str)> = d
            .migrations
            .iter()
            .map(|m| (m.version.text.as_str(), m.name.as_str()))
            .collect();
        assert_eq!(
            versions,
            [
                ("00000000000000", "initial-schema"),
                ("20220701151154", "numeric"),
                ("20220701151155", "")
            ]
        );
        assert_eq!(d.ignored, [readme]);
    }

    fn one(contents: &str) -> Migration {
        one_migration(FORMAT, "20240101000000_a.sql", contents)
    }

    fn error(contents: impl AsRef<[u8]>) -> (InputError, std::path::PathBuf) {
        discovery_error(None, "1_a.sql", contents)
    }

    #[test]
    fn ordered_as_strings() {
        let t = tempdir();
        write(
            t.path(),
            "20240102000000_b.sql",
            "-- migrate:up\nselect 2;\n",
        );
        write(
            t.path(),
            "20240101000000_a.sql",
            "-- migrate:up\nselect 1;\n",
        );
        // dbmate compares versions as strings, so "10" sorts before "9".
        write(t.path(), "9_nine.sql", "-- migrate:up\n");
        write(t.path(), "10_ten.sql", "-- migrate:up\n");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format(), FORMAT);
        let got: Vec<(&str, &str)> = d
            .migrations
            .iter()
            .map(|m| (m.version.text.as_str(), m.name.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("10", "ten"),
                ("20240101000000", "a"),
                ("20240102000000", "b"),
                ("9", "nine")
            ]
        );
    }

    #[test]
    fn sections_and_offsets() {
        let m = one("-- migrate:up\ncreate table t();\n\n-- migrate:down\ndrop table t;\n");
        assert_eq!(m.up.sql, "create table t();\n\n");
        assert_eq!(m.up.line_offset, 1);
        assert_eq!(m.up.byte_offset, 14);
        assert_eq!(m.up.transaction, TransactionMode::Wrapped);
        let down = m.down.as_ref().unwrap();
        assert_eq!(down.sql, "drop table t;\n");
        assert_eq!(down.line_offset, 4);
        assert_eq!(down.byte_offset, 14 + 19 + 16);
        assert_eq!(down.path, m.up.path);
        assert_eq!(m.files().len(), 1);
    }

    #[test]
    fn leading_comments_and_blank_lines_are_skipped() {
        let m = one("-- a comment\n\n   -- migrate:up   \nselect 1;");
        assert_eq!(m.up.sql, "select 1;");
        assert_eq!(m.up.line_offset, 3);
        assert_eq!(m.up.byte_offset, 13 + 1 + 20);
        assert_eq!(m.down, None);
    }

    #[test]
    fn transaction_false_per_section() {
        let m = one(
            "-- migrate:up transaction:false\ncreate index concurrently i on t(x);\n\
             -- migrate:down\ndrop index i;\n",
        );
        assert_eq!(m.up.transaction, TransactionMode::None);
        assert_eq!(m.down.unwrap().transaction, TransactionMode::Wrapped);
        let m = one("-- migrate:up\nselect 1;\n-- migrate:down transaction:false\n");
        assert_eq!(m.up.transaction, TransactionMode::Wrapped);
        assert_eq!(m.down.unwrap().transaction, TransactionMode::None);
    }

    #[test]
    fn crlf_offsets() {
        let m = one("-- migrate:up\r\nselect 1;\r\n-- migrate:down\r\nselect 2;\r\n");
        assert_eq!(m.up.sql, "select 1;\r\n");
        assert_eq!(m.up.line_offset, 1);
        assert_eq!(m.up.byte_offset, 15);
        let down = m.down.unwrap();
        assert_eq!(down.sql, "select 2;\r\n");
        assert_eq!(down.line_offset, 3);
        assert_eq!(down.byte_offset, 15 + 11 + 17);
    }

    #[test]
    fn bom_counts_in_byte_offset() {
        let m = one("\u{feff}-- migrate:up\nselect 1;\n");
        assert_eq!(m.up.sql, "select 1;\n");
        assert_eq!(m.up.line_offset, 1);
        assert_eq!(m.up.byte_offset, 3 + 14);
    }

    #[test]
    fn empty_down_is_some() {
        let m = one("-- migrate:up\nselect 1;\n-- migrate:down\n");
        let down = m.down.unwrap();
        assert_eq!(down.sql, "");
        assert_eq!(down.line_offset, 3);
        let m = one("-- migrate:up\nselect 1;\n-- migrate:down\n\n  \n");
        assert_eq!(m.down.unwrap().sql, "\n  \n");
        let m = one("-- migrate:up\nselect 1;\n-- migrate:down");
        assert_eq!(m.down.unwrap().sql, "");
    }

    #[test]
    fn directive_at_end_without_newline() {
        let m = one("-- migrate:up");
        assert_eq!(m.up.sql, "");
        assert_eq!(m.up.line_offset, 1);
        assert_eq!(m.up.byte_offset, 13);
    }

    #[test]
    fn missing_up_directive() {
        let t = tempdir();
        let path = write(t.path(), "1_a.sql", "-- migrate:upgrade\nselect 1;\n");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert_eq!(err.path, path);
        assert_eq!(err.line, None);
        assert!(err.message.contains("missing `-- migrate:up` directive"));
    }

    #[test]
    fn down_before_up() {
        let (err, path) = error("-- migrate:down\ndrop table t;\n-- migrate:up\nselect 1;\n");
        assert_eq!(err.path, path);
        assert_eq!(err.line, Some(1));
        assert!(err.message.contains("before `-- migrate:up`"));
    }

    #[test]
    fn repeated_directives() {
        let (err, path) = error("-- migrate:up\nselect 1;\n-- migrate:up\n");
        assert_eq!(err.path, path);
        assert_eq!(err.line, Some(3));
        assert!(
            err.message
                .contains("repeated `-- migrate:up` (first on line 1)")
        );
        let (err, _) = error("-- migrate:up\n-- migrate:down\nx;\n-- migrate:down\n");
        assert_eq!(err.line, Some(4));
        assert!(
            err.message
                .contains("repeated `-- migrate:down` (first on line 2)")
        );
    }

    #[test]
    fn statement_before_up() {
        let (err, path) = error("-- c\nselect 0;\n-- migrate:up\nselect 1;\n");
        assert_eq!(err.path, path);
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn invalid_transaction_option() {
        let (err, path) = error("-- migrate:up\nselect 1;\n-- migrate:down transaction:maybe\n");
        assert_eq!(err.path, path);
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("transaction:maybe"));
    }

    #[test]
    fn duplicate_version_names_both() {
        let t = tempdir();
        let a = write(t.path(), "1_a.sql", "-- migrate:up\n");
        let b = write(t.path(), "1_b.sql", "-- migrate:up\n");
        write(t.path(), "01_c.sql", "-- migrate:up\n");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, b);
        assert!(err.message.contains(&a.display().to_string()));
    }

    #[test]
    fn non_utf8_file() {
        let (err, path) = error(b"-- migrate:up\nselect '\xe9';\n".as_slice());
        assert_eq!(err.path, path);
        assert_eq!(err.line, Some(2));
        assert_eq!(err.message, "not valid UTF-8");
    }

    #[test]
    fn directive_recognition() {
        assert_eq!(up_directive_line("x\n  -- migrate:up\n"), Some(2));
        assert_eq!(up_directive_line("--migrate:up"), Some(1));
        assert_eq!(up_directive_line("-- migrate:upx"), None);
        assert_eq!(up_directive_line("select 1; -- migrate:up"), None);
        assert_eq!(
            parse_directive("-- migrate:down\ttransaction:false\r"),
            Some((Directive::Down, "transaction:false"))
        );
    }
}
