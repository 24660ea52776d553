//! The goose layout (SQL migrations of github.com/pressly/goose v3): one
//! `<version>_<name>.sql` file per migration, split by `-- +goose Up` and `-- +goose Down`
//! annotations, read by the annotated-file parser goose shares with sql-migrate
//! ([`super::annotated`]) in goose's [`Dialect`].
//!
//! Facts from goose's source (pressly/goose, commit 520411a):
//! - `migration.go` `NumericComponent`: the version is the text before the first `_`,
//!   `strconv.ParseInt(.., 10, 64)`, and must be at least 1; the extension must be `.sql`
//!   or `.go`. `migrate.go` `collectMigrationsFS` (what the CLI runs) fails on any `*.sql`
//!   whose name does not parse; `collectGoMigrations` skips `.go` files without a version and
//!   `_test.go` files. `migrate.go` `Migrations.Less` panics on a duplicate version and
//!   `provider_collect.go` `collectFilesystemSources` refuses it; migrations run in
//!   numeric version order.
//! - `internal/sqlparser/parser.go` `ParseSQLMigration`: a line is an annotation when,
//!   trimmed, it starts with `--` and it contains `+goose` (case-sensitive);
//!   `extractAnnotation` refuses leading whitespace, removes every `--` and the first
//!   `+goose`, refuses a second `+goose`, trims, and compares with `strings.EqualFold` against
//!   `Up`, `Down`, `StatementBegin`, `StatementEnd`, `NO TRANSACTION`, `ENVSUB ON`,
//!   `ENVSUB OFF`; anything else is an error. One `Up`, first; at most one `Down`, after it;
//!   `StatementBegin`/`StatementEnd` only inside a section, not nested; only blank and comment
//!   lines before `Up`. `NO TRANSACTION` anywhere (also before `Up`) sets `useTx = false` for
//!   the file, so for both directions. Outside a statement, comment lines and empty lines are
//!   dropped; `endsWithSemicolon` looks at the last whitespace-separated word before a word
//!   starting with `--`. An unfinished statement at `Down` or at the end is an error.
//! - With `ENVSUB ON`, each line written to a statement goes through
//!   github.com/mfridman/interpolate v0.0.2 (`parser.go`, `interpolate.go`): `$VAR`,
//!   `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset),
//!   `${VAR:offset[:length]}`, `${VAR?message}` (error when unset); `$$` and `\$` become `$`,
//!   `$(` stays, a `$` at the end of the line stays, and any other `$` must start a name
//!   beginning with a letter. goose reads the values from its process environment; we read
//!   them only from `[goose.env]` of `migration-check.toml`, and a bare variable that is not
//!   declared there is an error (a default applies as goose would apply it to an unset one).
//! - Bookkeeping table `goose_db_version`; each direction of a file runs in one transaction
//!   unless the file has `NO TRANSACTION`. Go migrations are Go code: only goose can run them.

use std::collections::BTreeMap;
use std::path::Path;

use super::annotated::{Annotation, Dialect, parse_annotated};
use super::annotated_files;
use super::bookkeeping::{Book, Bookkeeping, record};
use super::sqlx::is_top_level_sql;
use super::{
    Evidence, Format, FormatSpec, Found, Listing, Migration, Settings as AllSettings, Version,
};
use crate::error::InputError;

/// The goose format.
pub const FORMAT: Format = Format::new(&Goose);

/// `[goose]` in `migration-check.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `[goose.env]`: the only values `-- +goose ENVSUB ON` substitutes for `${VAR}`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// goose.
pub struct Goose;

/// How goose reads its annotated SQL files.
const GOOSE: Dialect = Dialect {
    tool: "goose",
    prefix: "-- +goose",
    annotation: goose_annotation,
    drops_line: goose_drops_line,
    strict: true,
};

impl FormatSpec for Goose {
    fn name(&self) -> &'static str {
        "goose"
    }

    fn layout(&self) -> &'static str {
        "goose `<version>_<name>.sql` files with `-- +goose Up`"
    }

    fn recognise(
        &self,
        listing: &Listing,
        _settings: &AllSettings,
    ) -> Result<Option<Evidence>, InputError> {
        annotated_files(listing, |_, sql| GOOSE.up_line(sql))
    }

    fn discover(&self, listing: &Listing, settings: &AllSettings) -> Result<Found, InputError> {
        let mut seen: BTreeMap<i64, &Path> = BTreeMap::new();
        let mut found = Found::default();
        for entry in listing.top_entries() {
            if entry.is_dir {
                found.ignored.push(entry.path.clone());
                continue;
            }
            if is_go_migration(&entry.rel) {
                return Err(InputError::new(
                    &entry.path,
                    "goose Go migration: its up and down are Go functions that only goose \
                     itself can run. Verify this directory with --format command, which runs \
                     your own goose build through its commands, or move the Go migrations out",
                ));
            }
            // goose's CLI globs `*.sql` and refuses any it cannot read a version from.
            if !is_top_level_sql(&entry.rel) {
                found.ignored.push(entry.path.clone());
                continue;
            }
            let (digits, number) =
                numeric_component(&entry.rel).map_err(|why| InputError::new(&entry.path, why))?;
            if let Some(other) = seen.insert(number, &entry.path) {
                return Err(InputError::new(
                    &entry.path,
                    format!(
                        "duplicate version {number}: {} has the same version (goose refuses \
                         two migrations with one version)",
                        other.display()
                    ),
                ));
            }
            let (up, down) = parse_annotated(
                &GOOSE,
                &entry.path,
                entry.text()?,
                Some(&settings.goose.env),
            )?;
            let name = entry.rel[digits.len() + 1..].trim_end_matches(".sql");
            found.migrations.push(Migration {
                version: Version::numeric(digits, number.unsigned_abs()),
                name: name.to_string(),
                up,
                down,
            });
        }
        Ok(found)
    }

    fn is_migration_path(&self, rel: &str, _settings: &AllSettings) -> bool {
        is_top_level_sql(rel)
    }

    fn version_of_path(&self, rel: &str, _settings: &AllSettings) -> Option<Version> {
        if !is_top_level_sql(rel) {
            return None;
        }
        let (digits, number) = numeric_component(rel).ok()?;
        Some(Version::numeric(digits, number.unsigned_abs()))
    }

    fn down_section_start(&self, sql: &str) -> Option<usize> {
        GOOSE.down_line_start(sql)
    }

    fn reads_sections(&self) -> bool {
        true
    }

    fn transaction_rule(&self) -> &'static str {
        "each direction of a file in its own transaction, unless the file has \
         `-- +goose NO TRANSACTION`"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        Some("`-- +goose NO TRANSACTION` anywhere in the file (both directions)")
    }

    fn bookkeeping(&self) -> Option<Book> {
        Some(&Goose)
    }

    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        vec![(
            format!("{version}_{name}.sql"),
            "-- +goose Up\n\n-- +goose Down\n".to_string(),
        )]
    }
}

/// goose's `NumericComponent`: the version before the first `_` of a file name, an `int64`
/// of at least 1, as written and as a number; the error says why goose refuses the name.
fn numeric_component(name: &str) -> Result<(&str, i64), String> {
    let rename = "goose migrations are named `<version>_<name>.sql` with a version from 1 to \
                  9223372036854775807; rename it, or start its name with `.` to have it ignored";
    let Some((digits, _)) = name.split_once('_') else {
        return Err(format!(
            "no `_` after the version in the file name (goose fails on it: \
             `no filename separator '_' found`); {rename}"
        ));
    };
    match digits.parse::<i64>() {
        Ok(number) if number >= 1 => Ok((digits, number)),
        Ok(_) => Err(format!(
            "version {digits} is not greater than zero; {rename}"
        )),
        Err(_) => Err(format!(
            "`{digits}` before the first `_` is not a version number goose can read; {rename}"
        )),
    }
}

/// A Go migration goose would register: `<version>_<name>.go`, not a `_test.go` file.
fn is_go_migration(rel: &str) -> bool {
    !rel.contains('/')
        && rel.ends_with(".go")
        && !rel.ends_with("_test.go")
        && numeric_component(rel).is_ok()
}

/// goose's `extractAnnotation` on one line (its `\r` removed): None for a line that is not an
/// annotation, an error for one goose refuses.
fn goose_annotation(line: &str) -> Result<Option<Annotation>, String> {
    if !line.trim().starts_with("--") || !line.contains("+goose") {
        return Ok(None);
    }
    if line.starts_with([' ', '\t']) {
        return Err(
            "goose annotation indented: goose refuses annotation lines that start \
                    with whitespace (`contains leading whitespace`); remove the indentation"
                .to_string(),
        );
    }
    let command = line.replace("--", "").replacen("+goose", "", 1);
    if command.contains("+goose") {
        return Err("more than one `+goose` on one line: goose refuses it".to_string());
    }
    let command = command.trim();
    let known = [
        (
            "Up",
            Annotation::Up {
                no_transaction: false,
            },
        ),
        (
            "Down",
            Annotation::Down {
                no_transaction: false,
            },
        ),
        ("StatementBegin", Annotation::StatementBegin),
        ("StatementEnd", Annotation::StatementEnd),
        ("NO TRANSACTION", Annotation::NoTransaction),
        ("ENVSUB ON", Annotation::EnvsubOn),
        ("ENVSUB OFF", Annotation::EnvsubOff),
    ];
    match known.iter().find(|(word, _)| equal_fold(word, command)) {
        Some((_, annotation)) => Ok(Some(*annotation)),
        None => Err(format!(
            "unknown goose annotation `{command}`: goose refuses the file (a comment line \
             mentioning `+goose` is read as an annotation); expected one of Up, Down, \
             StatementBegin, StatementEnd, NO TRANSACTION, ENVSUB ON, ENVSUB OFF"
        )),
    }
}

/// Go's `strings.EqualFold` against an ASCII word: ASCII case-insensitive, plus the two
/// non-ASCII letters whose simple case folding is an ASCII letter (`ſ` is `s`, the Kelvin
/// sign is `k`).
fn equal_fold(word: &str, text: &str) -> bool {
    let fold = |c: char| match c {
        'ſ' => 's',
        '\u{212A}' => 'k',
        c => c.to_ascii_lowercase(),
    };
    word.chars().map(fold).eq(text.chars().map(fold))
}

/// goose drops empty lines and comment lines that come before a statement's first line.
fn goose_drops_line(line: &str, statement_open: bool) -> bool {
    !statement_open && (line.is_empty() || line.trim().starts_with("--"))
}

// goose's `goose_db_version` (pressly/goose v3, `internal/dialects/postgres.go`): one row
// per applied version, inserted inside the migration's transaction and deleted by its
// down; the table starts with a row for version 0, which goose inserts when it creates
// it. goose reads any row as applied (`is_applied` is always true since v3.0). The CLI
// takes no lock; its Provider's opt-in session locker uses `DefaultLockID` 4097083626
// (CRC-32 of "goose"), which migration-check takes so a locking goose and it exclude each
// other. No checksum.

/// goose's history table.
pub const TABLE: &str = "goose_db_version";

/// goose's `version_id`: the number the file name starts with.
fn version_id(migration: &Migration) -> i64 {
    migration.version.text.parse().unwrap_or_default()
}

impl Bookkeeping for Goose {
    fn tool(&self) -> &'static str {
        "goose"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn columns(&self) -> &'static [&'static str] {
        &["id", "version_id", "is_applied", "tstamp"]
    }

    fn create_sql(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (
            id integer PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
            version_id bigint NOT NULL,
            is_applied boolean NOT NULL,
            tstamp timestamp NOT NULL DEFAULT now()
        );
        INSERT INTO {TABLE} (version_id, is_applied)
        SELECT 0, true WHERE NOT EXISTS (SELECT FROM {TABLE});"
        )
    }

    fn read_sql(&self) -> String {
        format!(
            "SELECT version_id::text, NULL::text, NULL::text, tstamp::text,
                NULL::bigint, NULL::text, true
         FROM (SELECT DISTINCT ON (version_id) * FROM {TABLE}
               WHERE version_id <> 0 ORDER BY version_id, id DESC) last
         ORDER BY id"
        )
    }

    /// goose writes `00001` as 1.
    fn recorded_version(&self, migration: &Migration) -> String {
        version_id(migration).to_string()
    }

    fn lock_key(&self, _database: &str, _schema: &str) -> i64 {
        4_097_083_626
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let version = version_id(&migrations[index]);
        record(&if up {
            format!("INSERT INTO {TABLE} (version_id, is_applied) VALUES ({version}, true);")
        } else {
            format!("DELETE FROM {TABLE} WHERE version_id = {version};")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::TransactionMode;
    use super::super::test_util::{discover, discovery_error, one_migration, tempdir, write};
    use super::*;
    use std::sync::Arc;

    /// The one migration of a directory holding `contents` as `1_a.sql`.
    fn one(contents: &str) -> Migration {
        one_migration(FORMAT, "1_a.sql", contents)
    }

    /// The error for a directory holding `contents` as `1_a.sql`, with the file's path.
    fn error(contents: impl AsRef<[u8]>) -> (InputError, std::path::PathBuf) {
        discovery_error(Some(FORMAT), "1_a.sql", contents)
    }

    /// Discovery with `[goose.env]` set to `env`.
    fn with_env(contents: &str, env: &[(&str, &str)]) -> Result<Migration, InputError> {
        let t = tempdir();
        write(t.path(), "1_a.sql", contents);
        let mut settings = AllSettings::default();
        for (k, v) in env {
            settings.goose.env.insert(k.to_string(), v.to_string());
        }
        let d = super::super::discover(t.path(), Some(FORMAT), &Arc::new(settings))?;
        Ok(d.migrations.into_iter().next().unwrap())
    }

    #[test]
    fn detected_and_ordered_numerically() {
        let t = tempdir();
        write(t.path(), "10_c.sql", "-- +goose Up\nselect 10;\n");
        write(t.path(), "9_b.sql", "-- +goose Up\nselect 9;\n");
        write(t.path(), "00001_a.sql", "-- c\n\n-- +goose Up\nselect 1;\n");
        write(t.path(), "helpers.go", "package migrations\n");
        write(t.path(), "1_x_test.go", "package migrations\n");
        write(t.path(), "README.md", "notes");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format(), FORMAT);
        let got: Vec<(&str, &str)> = d
            .migrations
            .iter()
            .map(|m| (m.version.text.as_str(), m.name.as_str()))
            .collect();
        assert_eq!(got, [("00001", "a"), ("9", "b"), ("10", "c")]);
        let spec = FORMAT.spec();
        let settings = AllSettings::default();
        assert_eq!(
            spec.version_of_path("00001_a.sql", &settings),
            Some(Version::numeric("00001", 1))
        );
        assert_eq!(spec.version_of_path("0_a.sql", &settings), None);
        assert_eq!(spec.version_of_path("sub/1_a.sql", &settings), None);
        assert!(spec.is_migration_path("1_a.sql", &settings));
        assert!(!spec.is_migration_path("1_a.go", &settings));
    }

    #[test]
    fn sections_offsets_and_transactions() {
        let m = one("-- +goose Up\ncreate table t();\n\n-- +goose Down\ndrop table t;\n");
        assert_eq!(m.up.sql, "create table t();\n\n");
        assert_eq!(m.up.line_offset, 1);
        assert_eq!(m.up.byte_offset, 13);
        assert_eq!(m.up.transaction, TransactionMode::StatementsInTransaction);
        let down = m.down.unwrap();
        assert_eq!(down.sql, "drop table t;\n");
        assert_eq!(down.line_offset, 4);
        assert_eq!(down.transaction, TransactionMode::StatementsInTransaction);
        assert_eq!(one("-- +goose Up\nselect 1;\n").down, None);
        let m = one("-- +goose Up\nselect 1;\n-- +goose Down");
        assert_eq!(m.down.unwrap().sql, "");
    }

    #[test]
    fn annotations_match_case_insensitively_after_a_case_sensitive_prefix() {
        let m = one(
            "--+goose up   \r\n-- +goose statementbegin\r\nselect 1;\r\n-- +GOOSE is a \
             comment\r\n--   +goose   STATEMENTEND\r\n-- +goose DOWN\r\nselect 2;\r\n",
        );
        assert_eq!(m.up.line_offset, 1);
        assert!(m.up.sql.ends_with("STATEMENTEND\r\n"));
        assert_eq!(m.down.unwrap().sql, "select 2;\r\n");
        assert!(equal_fold("StatementBegin", "\u{17f}tatementbegin"));
        assert!(!equal_fold("Up", "Upp"));
    }

    #[test]
    fn no_transaction_anywhere_applies_to_both_directions() {
        for text in [
            "-- note\n-- +goose NO TRANSACTION \n\n-- +goose Up \nselect 1;\n-- +goose Down\nselect 2;\n",
            "-- +goose Up\nselect 1;\n-- +goose Down\nselect 2;\n-- +goose no transaction\n",
        ] {
            let m = one(text);
            assert_eq!(m.up.transaction, TransactionMode::None, "{text}");
            assert_eq!(m.down.unwrap().transaction, TransactionMode::None, "{text}");
        }
        let m = one("-- +goose NO TRANSACTION\n-- +goose Up\nselect 1;\n");
        assert_eq!(m.up.line_offset, 2);
        assert_eq!(m.up.sql, "select 1;\n");
    }

    #[test]
    fn statement_blocks_keep_semicolons() {
        let m = one(
            "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$\n\
             BEGIN\n  RETURN 1;\nEND;\n$$ LANGUAGE plpgsql;\n-- +goose StatementEnd\n\
             -- +goose Down\nDROP FUNCTION f();\n",
        );
        assert!(m.up.sql.contains("RETURN 1;"));
        let m = one(
            "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int \
             LANGUAGE sql AS $$ SELECT 1 $$\n-- +goose StatementEnd\nSELECT f();\n",
        );
        assert!(
            m.up.sql
                .ends_with("$$\n;-- +goose StatementEnd\nSELECT f();\n"),
            "{}",
            m.up.sql
        );
    }

    #[test]
    fn a_statement_goose_would_cut_is_refused_at_its_line() {
        let (err, path) = error(
            "-- +goose Up\nCREATE FUNCTION f() RETURNS int AS $$\nBEGIN\n  RETURN 1;\nEND;\n\
             $$ LANGUAGE plpgsql;\n",
        );
        assert_eq!((err.path, err.line), (path, Some(4)));
        assert!(err.message.contains("StatementBegin"), "{}", err.message);
        // A statement with a trailing comment after its `;` ends there.
        let m = one("-- +goose Up\nCREATE INDEX CONCURRENTLY i ON t (x); -- why\n");
        assert!(m.up.sql.contains("-- why"));
    }

    #[test]
    fn unfinished_statements() {
        let (err, path) = error("-- +goose Up\nselect 1\n\n-- +goose Down\nselect 2;\n");
        assert_eq!((err.path, err.line), (path, Some(2)));
        assert!(err.message.contains("not finished"), "{}", err.message);
        let (err, _) = error("-- +goose Up\nselect 1;\n-- +goose Down\nselect 2\n-- end\n");
        assert_eq!(err.line, Some(4));
        // goose counts a whitespace-only line as the start of a statement, so the comment
        // after it is part of an unfinished one.
        let (err, _) = error("-- +goose Up\nselect 1;\n   \n-- trailing\n-- +goose Down\n");
        assert_eq!(err.line, Some(4));
        // Comments alone are dropped.
        let m = one("-- +goose Up\nselect 1;\n\n-- trailing\n-- +goose Down\n-- nothing\n");
        assert_eq!(m.down.unwrap().sql, "-- nothing\n");
    }

    #[test]
    fn missing_up() {
        let (err, path) = error("-- +goose StatementBegin\n");
        assert_eq!(err.path, path);
        assert_eq!(err.line, Some(1));
        let (err, path) = error("-- just a comment\n\n");
        assert_eq!((err.path, err.line), (path, None));
        assert!(
            err.message
                .starts_with("missing `-- +goose Up` annotation: goose requires"),
            "{}",
            err.message
        );
    }

    #[test]
    fn down_before_up_and_repeats() {
        let (err, path) = error("-- c\n-- +goose Down\ndrop table t;\n-- +goose Up\n");
        assert_eq!((err.path, err.line), (path, Some(2)));
        assert!(
            err.message
                .contains("`-- +goose Down` before `-- +goose Up`")
        );
        let (err, _) = error("-- +goose Up\nselect 1;\n-- +goose Up\n");
        assert_eq!(err.line, Some(3));
        assert!(
            err.message
                .contains("repeated `-- +goose Up` (first on line 1)")
        );
        let (err, _) = error("-- +goose Up\n-- +goose Down\n-- +goose Down\n");
        assert_eq!(err.line, Some(3));
        assert!(
            err.message
                .contains("repeated `-- +goose Down` (first on line 2)")
        );
    }

    #[test]
    fn statement_before_up() {
        let (err, _) = error("-- c\nselect 0;\n-- +goose Up\nselect 1;\n");
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("statement before `-- +goose Up`"));
    }

    #[test]
    fn misplaced_and_unknown_annotations() {
        for (text, line, needle) in [
            (
                "-- +goose Up\n-- +goose StatementEnd\n",
                2,
                "without `-- +goose StatementBegin`",
            ),
            (
                "-- +goose Up\n-- +goose StatementBegin\nselect 1;\n",
                2,
                "without a matching",
            ),
            (
                "-- +goose Up\n-- +goose StatementBegin\n-- +goose StatementBegin\n",
                3,
                "inside the block opened on line 2",
            ),
            (
                "-- +goose Up\n-- +goose StatementBegin\n-- +goose Down\n",
                3,
                "inside the `-- +goose StatementBegin` block",
            ),
            ("-- +goose Up\n  -- +goose StatementBegin\n", 2, "indented"),
            ("-- +goose Up\n-- +goose Up +goose\n", 2, "more than one"),
            (
                "-- +goose Up\n-- +goose\n",
                2,
                "unknown goose annotation ``",
            ),
            (
                "-- +goose Up\n-- see +goose docs\n",
                2,
                "unknown goose annotation `see  docs`",
            ),
            ("-- +goose Up -- first\n", 1, "unknown goose annotation"),
            (
                "-- +goose Up\nselect 1;\n-- +goose NO  TRANSACTION\n",
                3,
                "unknown",
            ),
        ] {
            let (err, _) = error(text);
            assert_eq!(err.line, Some(line), "{text}: {err}");
            assert!(err.message.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn duplicate_versions_and_bad_names() {
        let t = tempdir();
        let a = write(t.path(), "1_a.sql", "-- +goose Up\n");
        let b = write(t.path(), "01_b.sql", "-- +goose Up\n");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        // Files are read in name order: 01_b first, then 1_a repeats its version.
        assert_eq!(err.path, a);
        assert!(err.message.contains(&b.display().to_string()));
        assert!(err.message.contains("duplicate version 1"));
        for (name, needle) in [
            ("0_zero.sql", "not greater than zero"),
            ("schema.sql", "no `_` after the version"),
            ("abc_x.sql", "`abc` before the first `_`"),
            (
                "99999999999999999999_big.sql",
                "not a version number goose can read",
            ),
        ] {
            let t = tempdir();
            write(t.path(), "1_a.sql", "-- +goose Up\n");
            let bad = write(t.path(), name, "-- +goose Up\n");
            let err = discover(t.path(), Some(FORMAT)).unwrap_err();
            assert_eq!((&err.path, err.line), (&bad, None), "{name}");
            assert!(err.message.contains(needle), "{name}: {}", err.message);
        }
    }

    #[test]
    fn go_migrations_are_refused_and_point_at_the_command_format() {
        let t = tempdir();
        write(t.path(), "1_a.sql", "-- +goose Up\nselect 1;\n");
        let go = write(t.path(), "2_b.go", "package migrations\n");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!((err.path, err.line), (go, None));
        assert!(err.message.contains("--format command"), "{}", err.message);
    }

    #[test]
    fn non_utf8_names_the_line() {
        let (err, path) = error(b"-- +goose Up\nselect '\xe9';\n".as_slice());
        assert_eq!((err.path, err.line), (path, Some(2)));
        assert_eq!(err.message, "not valid UTF-8");
    }

    #[test]
    fn envsub_substitutes_declared_values_in_place() {
        let text = "-- +goose ENVSUB ON\n-- +goose Up\n-- ${IGNORED} leading comment\n\
                    CREATE TABLE ${PREFIX}t (\n  $COL int, -- ${PREFIX}\n  x text DEFAULT \
                    '${MISSING:-none}${EMPTY-unset}'\n);\n-- +goose ENVSUB OFF\nSELECT '${RAW}';\n\
                    -- +goose Down\n-- +goose ENVSUB ON\nDROP TABLE ${PREFIX}t;\n";
        let env = [("PREFIX", "app_"), ("COL", "n"), ("EMPTY", "")];
        let m = with_env(text, &env).unwrap();
        assert_eq!(
            m.up.sql,
            "-- ${IGNORED} leading comment\nCREATE TABLE app_t (\n  n int, -- app_\n  x text \
             DEFAULT 'none'\n);\n-- +goose ENVSUB OFF\nSELECT '${RAW}';\n"
        );
        assert_eq!(m.up.line_offset, 2);
        let down = m.down.unwrap();
        assert_eq!(down.sql, "-- +goose ENVSUB ON\nDROP TABLE app_t;\n");
    }

    #[test]
    fn envsub_undeclared_variable_is_named_at_its_line() {
        let text = "-- +goose Up\n-- +goose ENVSUB ON\nselect 1;\nCREATE SCHEMA ${TENANT};\n";
        let err = with_env(text, &[]).unwrap_err();
        assert_eq!(err.line, Some(4));
        assert!(err.message.contains("variable `TENANT`"), "{}", err.message);
        assert!(err.message.contains("[goose.env]"), "{}", err.message);
        assert!(err.message.contains("line 2"), "{}", err.message);
        let err = with_env("-- +goose ENVSUB ON\n-- +goose Up\nselect $1;\n", &[]).unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("followed by `1`"), "{}", err.message);
        let err = with_env(
            "-- +goose ENVSUB ON\n-- +goose Up\nselect '${X?set X}';\n",
            &[],
        )
        .unwrap_err();
        assert!(err.message.contains("`$X: set X`"), "{}", err.message);
    }

    #[test]
    fn lock_id_is_the_crc32_of_goose() {
        assert_eq!(
            Goose.lock_key("any", "public"),
            i64::from(crc32fast::hash(b"goose"))
        );
    }
}
