//! The node-pg-migrate SQL layout: one `<timestamp>_<name>.sql` file per migration, split by a
//! `-- Up Migration` line and optionally a `-- Down Migration` line. node-pg-migrate's markers
//! are looser than other tools' (any case, extra dashes, anything after `migration`) and its
//! order is numeric with a special case for 17-digit UTC prefixes, so this leaf reimplements
//! both as the tool does, and refuses the files the tool would mangle (SQL before the first
//! marker, which it drops; a down marker without an up marker, whose section it would run as
//! part of the up).
//!
//! Facts from the tool's source (salsita/node-pg-migrate) that the rules below rely on:
//! - `src/sqlMigration.ts`, `getActions`: the markers are the first matches of
//!   `/^\s*--[\s-]*up\s+migration/im` and `/^\s*--[\s-]*down\s+migration/im` (JavaScript `\s`,
//!   `^` after any line terminator, ASCII-only case folding). The up script runs from its
//!   marker to the down marker when that follows it, else to the end; the down script likewise
//!   from its marker, so a down section may come first. Without an up marker the whole file is
//!   the up script; without a down marker the migration has no down (`down: false`: "User has
//!   disabled down migration").
//! - `src/migration.ts`, `getMigrationFilePaths`, and `src/utils/comparators.ts`,
//!   `compareMigrationFileNames`: every file of the directory not matching `^\..*` is a
//!   migration, ordered by `getNumericPrefix` (`src/utils/fileNameUtils.ts`): the leading
//!   digits as a JavaScript number, except that 17 digits are read as a UTC time
//!   `YYYYMMDDHHmmssSSS` and become epoch milliseconds, so 13-digit `Date.now()` prefixes and
//!   17-digit `utc` prefixes order together. A name without leading digits makes loading fail
//!   ("Cannot determine numeric prefix"). Equal numbers fall back to a locale comparison of
//!   the names; migration-check refuses them as duplicate versions instead.
//! - `src/migrationLoader.ts`, `getDefaultStrategies`: `.sql` files go to the legacy SQL loader
//!   above, `.js`/`.ts`/`.cjs`/`.mjs`/`.cts`/`.mts` files are JavaScript migrations; the
//!   `.up.sql`/`.down.sql` pairing exists only as an opt-in loader.
//! - `src/migration.ts`, `Migration._apply`, and `src/operations/sql.ts`: the SQL is sent as one
//!   query between `BEGIN;` and `COMMIT;` (or inside the run's single transaction, the CLI
//!   default); only JavaScript migrations can call `pgm.noTransaction()`, so a SQL file cannot
//!   leave the transaction. The bookkeeping table is `pgmigrations` (`src/runner.ts`).
//! - JavaScript/TypeScript migrations are code: when the directory has any, the project's own
//!   node-pg-migrate (9.x: `up 1` / `down 1`, `--migrations-dir`, `DATABASE_URL`; TypeScript
//!   loaded through its bundled jiti) runs every migration of the directory one step at a
//!   time (see `command`), and its `pgmigrations` rows (`name` = the file name without its
//!   extension) say what ran.

use std::collections::BTreeMap;
use std::path::Path;

use super::annotated_files;
use super::bookkeeping::{Book, Bookkeeping, file_stem, literal, record};
use super::command::{Preset, Tool, is_code_file, project_with};
use super::sqlx::is_top_level_sql;
use super::{
    Entry, Evidence, Format, FormatSpec, Found, KeyPart, Listing, Migration, Settings, Strength,
    Text, TransactionMode, Version, line_of_byte, lines,
};
use crate::error::InputError;

/// The node-pg-migrate format.
pub const FORMAT: Format = Format::new(&NodePgMigrate);

/// node-pg-migrate (`node-pg-migrate up`).
pub struct NodePgMigrate;

/// Digits of the prefixes node-pg-migrate reads as a UTC time (`YYYYMMDDHHmmssSSS`).
const UTC_DIGITS: usize = 17;

impl FormatSpec for NodePgMigrate {
    fn name(&self) -> &'static str {
        "node-pg-migrate"
    }

    fn layout(&self) -> &'static str {
        "node-pg-migrate `<timestamp>_<name>.sql` files with `-- Up Migration`"
    }

    fn recognise(
        &self,
        listing: &Listing,
        _settings: &Settings,
    ) -> Result<Option<Evidence>, InputError> {
        // A `.up.sql`/`.down.sql` file is one half of another tool's pair: a comment in it
        // that reads like a marker (`-- Down migration is a no-op`) is no evidence.
        let annotated = annotated_files(listing, |entry, sql| {
            let pair_half = entry.rel.ends_with(".up.sql") || entry.rel.ends_with(".down.sql");
            (!pair_half)
                .then(|| markers(sql).first().map(|m| m.line))
                .flatten()
        })?;
        if annotated.is_some() {
            return Ok(annotated);
        }
        // Code migrations of a project that depends on (or runs) node-pg-migrate.
        let code: Vec<&Entry> = listing
            .top_files()
            .filter(|e| is_code_file(&e.rel))
            .collect();
        if let (Some(first), Some(_)) = (code.first(), listing.project().names("node-pg-migrate")) {
            return Ok(Some(
                Evidence::entry(first, Strength::Marker).supported_by(code.len()),
            ));
        }
        Ok(None)
    }

    fn discover(&self, listing: &Listing, settings: &Settings) -> Result<Found, InputError> {
        // JavaScript/TypeScript migrations are code: the project's own node-pg-migrate runs
        // the whole directory then, its SQL files included, as it would.
        let tool = match listing.top_files().find(|e| is_code_file(&e.rel)) {
            Some(code) => Some(tool(&listing.dir, &code.path, &settings.node_pg_migrate)?),
            None => None,
        };
        let mut seen: BTreeMap<String, &Path> = BTreeMap::new();
        let mut migrations = Vec::new();
        // node-pg-migrate lists files only: a directory is skipped.
        let mut ignored: Vec<std::path::PathBuf> =
            listing.top_dirs().map(|d| d.path.clone()).collect();
        for entry in listing.top_files() {
            if let Some(tool) = &tool
                && (is_code_file(&entry.rel) || is_top_level_sql(&entry.rel))
            {
                let version = version_of(entry)?;
                if let Some(other) = seen.insert(version.text.clone(), &entry.path) {
                    return Err(duplicate(entry, &version, other));
                }
                migrations.push(tool.migration(entry, version)?);
                continue;
            }
            if !is_top_level_sql(&entry.rel) {
                ignored.push(entry.path.clone());
                continue;
            }
            if entry.rel.ends_with(".up.sql") || entry.rel.ends_with(".down.sql") {
                return Err(InputError::new(
                    &entry.path,
                    "`.up.sql`/`.down.sql` file: node-pg-migrate pairs these only with its \
                     opt-in `sql` loader, which migration-check reads as --format sqlx; \
                     move it or pass --format sqlx",
                ));
            }
            let version = version_of(entry)?;
            if let Some(other) = seen.insert(version.text.clone(), &entry.path) {
                return Err(duplicate(entry, &version, other));
            }
            migrations.push(migration(entry, version)?);
        }
        Ok(Found {
            migrations,
            ignored,
            ..Found::default()
        })
    }

    fn is_migration_path(&self, rel: &str, _settings: &Settings) -> bool {
        is_top_level_sql(rel) || is_code_file(rel)
    }

    fn version_of_path(&self, rel: &str, settings: &Settings) -> Option<Version> {
        if !self.is_migration_path(rel, settings) {
            return None;
        }
        version_of_name(rel).ok()
    }

    fn down_section_start(&self, sql: &str) -> Option<usize> {
        markers(sql)
            .iter()
            .find(|m| m.direction == Direction::Down)
            .map(|m| m.start)
    }

    fn reads_sections(&self) -> bool {
        true
    }

    fn transaction_rule(&self) -> &'static str {
        "each file in its own transaction (all in one with the default `--single-transaction`); \
         SQL files cannot opt out"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        None
    }

    fn bookkeeping(&self) -> Option<Book> {
        Some(&NodePgMigrate)
    }

    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        vec![(
            format!("{version}_{name}.sql"),
            "-- Up Migration\n\n-- Down Migration\n".to_string(),
        )]
    }
}

/// The error for two files of the same migration name (`a.sql` and `a.js`).
fn duplicate(entry: &Entry, version: &Version, other: &Path) -> InputError {
    InputError::new(
        &entry.path,
        format!(
            "duplicate migration name {}: {} has the same name without its extension, which \
             node-pg-migrate records in its history",
            version.text,
            other.display()
        ),
    )
}

/// How the project's node-pg-migrate runs one migration up or down: its own bin, from the
/// project's directory, on the migrations directory we listed, its history in
/// `pgmigrations`. The database comes from `DATABASE_URL`, which the runner sets.
fn tool(dir: &Path, code: &Path, preset: &Preset) -> Result<Tool, InputError> {
    let Some((project, _)) = project_with(dir, &["package.json"]) else {
        return Err(InputError::new(
            code,
            "JavaScript/TypeScript node-pg-migrate migration, but no package.json in the \
             migrations directory or the five above: migration-check runs such migrations \
             through the project's own node-pg-migrate; or convert it to a `.sql` file with \
             `-- Up Migration` and `-- Down Migration` sections",
        ));
    };
    let bin = project.join("node_modules/.bin/node-pg-migrate");
    let directory = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let argv = |action: &str, count: &str| -> Vec<String> {
        vec![
            bin.display().to_string(),
            action.to_string(),
            count.to_string(),
            "--migrations-dir".to_string(),
            directory.display().to_string(),
            "--migrations-table".to_string(),
            TABLE.to_string(),
        ]
    };
    Ok(Tool {
        up: argv("up", "1"),
        down: Some(argv("down", "1")),
        up_to: Some(argv("up", "{count}")),
        workdir: project,
        pass_env: preset.env.clone(),
        bookkeeping: vec![TABLE.to_string()],
        wrong_database_hint: Some(
            "node-pg-migrate reads DATABASE_URL unless its configuration names another \
             database; check the project's node-pg-migrate config"
                .into(),
        ),
        identity: None,
    })
}

/// The leading digits of a file name.
fn leading_digits(name: &str) -> &str {
    let end = name.bytes().take_while(u8::is_ascii_digit).count();
    &name[..end]
}

/// `getNumericPrefix`: the number node-pg-migrate orders a prefix by, as sortable digits. A
/// 17-digit prefix is a UTC time in epoch milliseconds; any other is the digits as a JavaScript
/// number (a double, so very long prefixes lose precision exactly as they do there).
fn numeric_prefix(digits: &str) -> Result<KeyPart, String> {
    if digits.is_empty() {
        return Err(
            "file name does not start with a number (node-pg-migrate fails with \
             \"Cannot determine numeric prefix\"); name it `<timestamp>_<name>.sql`"
                .to_string(),
        );
    }
    if digits.len() == UTC_DIGITS {
        return utc_millis(digits)
            .map(|ms| KeyPart::digits(&ms.to_string()))
            .ok_or_else(|| {
                format!(
                    "17-digit prefix {digits} is read by node-pg-migrate as a UTC time \
                 `YYYYMMDDHHmmssSSS` (after 1970), but it is not one; node-pg-migrate could \
                 not order this file"
                )
            });
    }
    let number: f64 = digits
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .ok_or_else(|| format!("prefix {digits} is too large for node-pg-migrate"))?;
    // Display prints a finite double in plain digits, shortest form that reads back the same.
    Ok(KeyPart::digits(&format!("{number}")))
}

/// Epoch milliseconds of `YYYYMMDDHHmmssSSS` as V8 parses `YYYY-MM-DDTHH:mm:ss.SSSZ`: months
/// 1-12, days 1-31 (overflowing into the next month), hour 24 only as `24:00:00.000`. None for
/// an invalid time or one before 1970.
fn utc_millis(digits: &str) -> Option<u64> {
    let part = |range: std::ops::Range<usize>| digits.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (part(0..4)?, part(4..6)?, part(6..8)?);
    let (hour, minute, second, ms) = (part(8..10)?, part(10..12)?, part(12..14)?, part(14..17)?);
    let time_ok = (hour < 24 && minute < 60 && second < 60)
        || (hour == 24 && minute == 0 && second == 0 && ms == 0);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || !time_ok {
        return None;
    }
    let days = days_from_civil(year, month) + day - 1;
    let millis = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + ms;
    u64::try_from(millis).ok()
}

/// Days from 1970-01-01 to the first day of `month` of `year` (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A file's version: node-pg-migrate's name for it (the file name without its extension,
/// which its history records), ordered as `compareMigrationFileNames`: by the number of its
/// prefix, then by the names compared numerically without punctuation (two files may share
/// a prefix: both run, in that order).
fn version_of(entry: &Entry) -> Result<Version, InputError> {
    version_of_name(&entry.rel).map_err(|message| InputError::new(&entry.path, message))
}

/// [`version_of`] for a file name.
fn version_of_name(rel: &str) -> Result<Version, String> {
    let mut key = vec![numeric_prefix(leading_digits(rel))?];
    let stem = rel.rsplit_once('.').map_or(rel, |(stem, _)| stem);
    // `localeCompare(b, undefined, { numeric: true, ignorePunctuation: true })`: punctuation
    // left out, runs of digits compared as numbers, before letters.
    let tie: String = rel
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    let mut rest = tie.as_str();
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let run = if digits > 0 {
            digits
        } else {
            rest.find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len())
        };
        key.push(if digits > 0 {
            KeyPart::digits(&rest[..run])
        } else {
            KeyPart::text(&rest[..run])
        });
        rest = &rest[run..];
    }
    Ok(Version::with_key(stem, key))
}

/// Which section a marker opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

impl Direction {
    /// The marker as written in node-pg-migrate's template.
    fn text(self) -> &'static str {
        match self {
            Direction::Up => "-- Up Migration",
            Direction::Down => "-- Down Migration",
        }
    }
}

/// One match of a marker regex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Marker {
    direction: Direction,
    /// Where the sections are cut: the start of the marker's line. node-pg-migrate cuts where
    /// its regex match starts, which may take in blank lines before the marker (`^\s*`);
    /// the scripts differ only by those blank lines, and reports point at the marker.
    start: usize,
    /// The line of the marker's `--`.
    line: usize,
}

/// JavaScript's `\s`: WhiteSpace and LineTerminator.
fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// Whether `^` of a JavaScript multiline regex matches at `at`: the start, or after a line
/// terminator.
fn is_js_line_start(text: &str, at: usize) -> bool {
    at == 0
        || text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}'))
}

/// Matches `\s*--[\s-]*(up|down)\s+migration` (ASCII case-insensitive) at `at`; returns the
/// direction and the offset of the `--`.
fn match_marker(text: &str, at: usize) -> Option<(Direction, usize)> {
    let rest = &text[at..];
    let after_space = rest.trim_start_matches(is_js_space);
    let dashes = at + rest.len() - after_space.len();
    let after = after_space
        .strip_prefix("--")?
        .trim_start_matches(|c| is_js_space(c) || c == '-');
    let starts_with = |s: &str, word: &str| {
        s.get(..word.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(word))
    };
    let (direction, after) = if starts_with(after, "up") {
        (Direction::Up, &after[2..])
    } else if starts_with(after, "down") {
        (Direction::Down, &after[4..])
    } else {
        return None;
    };
    let words = after.trim_start_matches(is_js_space);
    (words.len() < after.len() && starts_with(words, "migration")).then_some((direction, dashes))
}

/// Every marker of a file, in order, each once (a match taking in blank lines before a marker
/// and the match at the marker's own line are one marker).
fn markers(sql: &str) -> Vec<Marker> {
    let mut found: Vec<Marker> = Vec::new();
    for (at, _) in sql.char_indices().chain([(sql.len(), ' ')]) {
        if !is_js_line_start(sql, at) {
            continue;
        }
        let Some((direction, dashes)) = match_marker(sql, at) else {
            continue;
        };
        let line = line_of_byte(sql, dashes);
        if found.last().is_some_and(|m| m.line == line) {
            continue;
        }
        let start = sql[..dashes].rfind('\n').map_or(0, |newline| newline + 1);
        found.push(Marker {
            direction,
            start,
            line,
        });
    }
    found
}

/// Splits one file into its up and down scripts as `getActions` does, refusing what it would
/// silently mangle.
fn migration(entry: &Entry, version: Version) -> Result<Migration, InputError> {
    let text: &Text = entry.text()?;
    let sql = &text.sql;
    let path = &entry.path;
    let found = markers(sql);
    let first = |direction| found.iter().find(|m| m.direction == direction);
    for marker in &found {
        if let Some(earlier) = first(marker.direction).filter(|m| m.line < marker.line) {
            return Err(InputError::at_line(
                path,
                marker.line,
                format!(
                    "repeated `{}` (first on line {}); node-pg-migrate takes only the first, \
                     so what follows this line runs in the other section",
                    marker.direction.text(),
                    earlier.line
                ),
            ));
        }
    }
    let up_marker = first(Direction::Up);
    let down_marker = first(Direction::Down);
    if let (None, Some(down)) = (up_marker, down_marker) {
        return Err(InputError::at_line(
            path,
            down.line,
            "`-- Down Migration` without `-- Up Migration`: node-pg-migrate would run the \
             whole file, this down section included, as the up migration; add \
             `-- Up Migration` before the up SQL",
        ));
    }
    if let Some(opening) = found.first() {
        refuse_sql_before(path, sql, opening)?;
    }
    let section = |marker: Option<&Marker>, other: Option<&Marker>| {
        marker.map(|m| {
            let end = other
                .filter(|o| o.start > m.start)
                .map_or(sql.len(), |o| o.start);
            text.section_script(path, m.start, end, TransactionMode::Wrapped)
        })
    };
    let up = section(up_marker, down_marker)
        .unwrap_or_else(|| text.whole_script(path, TransactionMode::Wrapped));
    let down = section(down_marker, up_marker);
    // The descriptive part: after the prefix's digits and the separator that follows them.
    let name = version.text[leading_digits(&version.text).len()..].trim_start_matches(['_', '-']);
    Ok(Migration {
        name: name.to_string(),
        version,
        up,
        down,
    })
}

/// Refuses SQL before the first marker, which node-pg-migrate never runs.
fn refuse_sql_before(path: &Path, sql: &str, opening: &Marker) -> Result<(), InputError> {
    let stray = lines(&sql[..opening.start]).find(|line| {
        let trimmed = line.text.trim();
        !trimmed.is_empty() && !trimmed.starts_with("--")
    });
    match stray {
        Some(line) => Err(InputError::at_line(
            path,
            line.number,
            format!(
                "SQL before `{}` (line {}): node-pg-migrate runs only the marked sections and \
                 drops this; move it below the marker",
                opening.direction.text(),
                opening.line
            ),
        )),
        None => Ok(()),
    }
}

// node-pg-migrate's `pgmigrations`: the file name without extension and when it ran, in
// the current schema; no checksum. Its advisory lock is the constant `PG_MIGRATE_LOCK_ID`,
// 7241865325823964.

/// node-pg-migrate's history table.
pub const TABLE: &str = "pgmigrations";

impl Bookkeeping for NodePgMigrate {
    fn tool(&self) -> &'static str {
        "node-pg-migrate"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn columns(&self) -> &'static [&'static str] {
        &["id", "name", "run_on"]
    }

    fn create_sql(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (
            id SERIAL PRIMARY KEY,
            name varchar(255) NOT NULL,
            run_on timestamp NOT NULL
        );"
        )
    }

    /// The version is the name, as the format reads it (the file name without extension).
    fn read_sql(&self) -> String {
        format!(
            "SELECT name, name, NULL::text, run_on::text,
                NULL::bigint, NULL::text, true
         FROM {TABLE} ORDER BY run_on, id"
        )
    }

    fn lock_key(&self, _database: &str, _schema: &str) -> i64 {
        7_241_865_325_823_964
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let name = literal(&file_stem(&migrations[index]));
        record(&if up {
            format!("INSERT INTO {TABLE} (name, run_on) VALUES ({name}, NOW());")
        } else {
            format!("DELETE FROM {TABLE} WHERE name = {name};")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::sqlx;
    use super::super::test_util::{
        discover, discovery_error, one_migration, tempdir, versions, write,
    };
    use super::*;

    fn one(contents: &str) -> Migration {
        one_migration(FORMAT, "1700000000000_a.sql", contents)
    }

    fn error(contents: impl AsRef<[u8]>) -> (InputError, std::path::PathBuf) {
        discovery_error(Some(FORMAT), "1700000000000_a.sql", contents)
    }

    #[test]
    fn markers_as_the_regex_matches_them() {
        for (sql, direction, line) in [
            ("-- Up Migration\n", Direction::Up, 1),
            ("--up migration", Direction::Up, 1),
            ("  ---- UP   MIGRATION\n", Direction::Up, 1),
            ("-- - up\tMigrations of the day\n", Direction::Up, 1),
            ("select 1;\n-- Down Migration\n", Direction::Down, 2),
            // `\s` spans lines: `--` alone, the words on the next line.
            ("--\nup migration\n", Direction::Up, 1),
            ("\u{feff}-- Up Migration\n", Direction::Up, 1),
            ("x\r-- down migration", Direction::Down, 1),
        ] {
            let found = markers(sql);
            assert_eq!(
                found.first().map(|m| (m.direction, m.line)),
                Some((direction, line)),
                "{sql:?}"
            );
        }
        for sql in [
            "-- upgrade migration\n",
            "-- up-migration\n",
            "select 1; -- Up Migration\n",
            "/* -- Up Migration */\n",
            "-- +goose Up\n",
            "-- migrate:up\n",
            "-- Up\n",
        ] {
            assert_eq!(markers(sql), [], "{sql:?}");
        }
    }

    #[test]
    fn sections_and_offsets() {
        let m = one("-- Up Migration\nCREATE TABLE t ();\n\n-- Down Migration\nDROP TABLE t;\n");
        assert_eq!(m.up.sql, "-- Up Migration\nCREATE TABLE t ();\n\n");
        assert_eq!((m.up.line_offset, m.up.byte_offset), (0, 0));
        assert_eq!(m.up.transaction, TransactionMode::Wrapped);
        let down = m.down.unwrap();
        assert_eq!(down.sql, "-- Down Migration\nDROP TABLE t;\n");
        assert_eq!((down.line_offset, down.byte_offset), (3, 36));
        assert_eq!(down.transaction, TransactionMode::Wrapped);
        assert_eq!(m.name, "a");
    }

    #[test]
    fn down_section_may_come_first() {
        let m = one("-- Down Migration\nDROP TABLE t;\n-- Up Migration\nCREATE TABLE t ();\n");
        assert_eq!(m.up.sql, "-- Up Migration\nCREATE TABLE t ();\n");
        assert_eq!(m.up.line_offset, 2);
        assert_eq!(m.down.unwrap().sql, "-- Down Migration\nDROP TABLE t;\n");
    }

    #[test]
    fn unmarked_file_is_all_up_and_irreversible() {
        let m = one("CREATE TABLE t ();\n");
        assert_eq!(m.up.sql, "CREATE TABLE t ();\n");
        assert_eq!(m.down, None);
        let m = one("-- comment\n-- Up Migration\nSELECT 1;\n");
        assert_eq!(m.down, None);
        assert_eq!(m.up.line_offset, 1);
        // An empty down section is a down that does nothing.
        let m = one("-- Up Migration\nSELECT 1;\n-- Down Migration\n");
        assert_eq!(m.down.unwrap().sql, "-- Down Migration\n");
    }

    #[test]
    fn bom_and_crlf_offsets() {
        let m = one("\u{feff}-- Up Migration\r\nSELECT 1;\r\n-- Down Migration\r\nSELECT 2;\r\n");
        assert_eq!(m.up.byte_offset, 3);
        let down = m.down.unwrap();
        assert!(down.sql.contains("SELECT 2;"), "{:?}", down.sql);
        assert_eq!(
            down.line_offset
                + down
                    .sql
                    .lines()
                    .position(|l| l.contains("SELECT 2"))
                    .unwrap()
                + 1,
            4
        );
    }

    #[test]
    fn ordered_by_numeric_prefix_with_utc_prefixes() {
        let t = tempdir();
        let file = |name: &str| write(t.path(), name, "-- Up Migration\nSELECT 1;\n");
        // 2020-05-13T07:07:24.505Z = 1589353644505 ms.
        file("20200513070724505_utc.sql");
        file("1589353644504_before.sql");
        file("1589353644506_after.sql");
        file("10_ten.sql");
        file("9_nine.sql");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format(), FORMAT);
        assert_eq!(
            versions(&d),
            [
                "9_nine",
                "10_ten",
                "1589353644504_before",
                "20200513070724505_utc",
                "1589353644506_after"
            ]
        );
        assert_eq!(d.migrations[3].name, "utc");
    }

    #[test]
    fn utc_conversion() {
        assert_eq!(utc_millis("19700101000000000"), Some(0));
        assert_eq!(utc_millis("20200513070724505"), Some(1_589_353_644_505));
        // Day 31 of a 30-day month overflows as V8 does; hour 24 only at 24:00:00.000.
        assert_eq!(
            utc_millis("20240431000000000"),
            utc_millis("20240501000000000")
        );
        assert_eq!(
            utc_millis("20240101240000000"),
            utc_millis("20240102000000000")
        );
        assert_eq!(utc_millis("20240101240000001"), None);
        assert_eq!(utc_millis("20241301000000000"), None);
        assert_eq!(utc_millis("20240100000000000"), None);
        assert_eq!(utc_millis("19690101000000000"), None);
    }

    #[test]
    fn bad_names_and_duplicates() {
        let t = tempdir();
        let path = write(t.path(), "init.sql", "-- Up Migration\n");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert_eq!(err.path, path);
        assert!(
            err.message.contains("Cannot determine numeric prefix"),
            "{err}"
        );

        // Two files of one prefix are two migrations, in node-pg-migrate's order; two of
        // one name are refused.
        let t = tempdir();
        write(t.path(), "0003_b.sql", "-- Up Migration\n");
        write(t.path(), "3_a.sql", "-- Up Migration\n");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(versions(&d), ["3_a", "0003_b"]);
        write(t.path(), "3_a.js", "exports.up = () => {};\n");
        write(t.path(), "package.json", "{}");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert!(
            err.message.contains("duplicate migration name 3_a"),
            "{err}"
        );

        let t = tempdir();
        let path = write(t.path(), "20241301000000000_a.sql", "-- Up Migration\n");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, path);
        assert!(err.message.contains("UTC time"), "{err}");

        let t = tempdir();
        write(t.path(), "1_a.sql", "-- Up Migration\n");
        let js = write(t.path(), "2_b.js", "exports.up = () => {};\n");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert_eq!(err.path, js);
        assert!(err.message.contains("no package.json"), "{err}");
    }

    #[test]
    fn code_migrations_run_the_whole_directory_through_the_projects_tool() {
        let t = tempdir();
        write(
            t.path(),
            "package.json",
            "{\"dependencies\": {\"node-pg-migrate\": \"^9\"}}",
        );
        let dir = t.path().join("migrations");
        write(&dir, "1700000000001_b.js", "exports.up = (pgm) => {};\n");
        write(&dir, "1700000000000_a.sql", "-- Up Migration\nSELECT 1;\n");
        let d = discover(&dir, Some(FORMAT)).unwrap();
        assert_eq!(versions(&d), ["1700000000000_a", "1700000000001_b"]);
        for m in &d.migrations {
            let step = m.up.step.as_ref().unwrap();
            assert!(step.argv[0].ends_with("node_modules/.bin/node-pg-migrate"));
            assert_eq!(step.argv[1..3], ["up", "1"]);
            assert_eq!(step.bookkeeping, ["pgmigrations"]);
            let down = m.down.as_ref().unwrap().step.as_ref().unwrap();
            assert_eq!(down.argv[1..3], ["down", "1"]);
        }
    }

    #[test]
    fn missing_up_marker_with_down_marker() {
        let (err, path) = error("DROP TABLE t;\n-- Down Migration\nDROP TABLE t;\n");
        assert_eq!((&err.path, err.line), (&path, Some(2)));
        assert!(err.message.contains("without `-- Up Migration`"), "{err}");
    }

    #[test]
    fn sql_before_the_first_marker_is_refused() {
        let (err, path) = error("-- header\nCREATE TABLE x ();\n-- Up Migration\nSELECT 1;\n");
        assert_eq!((&err.path, err.line), (&path, Some(2)));
        assert!(err.message.contains("line 3"), "{err}");
    }

    #[test]
    fn repeated_markers_are_refused() {
        let (err, _) = error("-- Up Migration\nA;\n-- Down Migration\nB;\n-- up migration\nC;\n");
        assert_eq!(err.line, Some(5));
        assert!(err.message.contains("first on line 1"), "{err}");
    }

    #[test]
    fn non_utf8_names_the_line() {
        let (err, path) = error(b"-- Up Migration\nSELECT '\xff';\n".as_slice());
        assert_eq!((&err.path, err.line), (&path, Some(2)));
    }

    #[test]
    fn unmarked_directory_is_sqlx_and_marked_file_is_never_sqlx() {
        let t = tempdir();
        write(t.path(), "1_a.sql", "SELECT 1;\n");
        assert_eq!(discover(t.path(), None).unwrap().format(), sqlx::FORMAT);
        write(
            t.path(),
            "2_b.sql",
            "SELECT 1;\n--- DOWN MIGRATION\nSELECT 2;\n",
        );
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.line, Some(2));
        let err = discover(t.path(), Some(sqlx::FORMAT)).unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
    }

    #[test]
    fn paths_versions_template() {
        let s = Settings::default();
        assert!(FORMAT.is_migration_path("1700000000000_a.sql", &s));
        assert!(!FORMAT.is_migration_path("x/1_a.sql", &s));
        let v = FORMAT
            .version_of_path("20200513070724505_a.sql", &s)
            .unwrap();
        let w = FORMAT.version_of_path("1589353644506_b.sql", &s).unwrap();
        assert!(v < w);
        assert_eq!(FORMAT.version_of_path("a.sql", &s), None);
        let template = FORMAT.template("1700000000000", "init");
        assert_eq!(template[0].0, "1700000000000_init.sql");
        assert_eq!(markers(&template[0].1).len(), 2);
    }
}
