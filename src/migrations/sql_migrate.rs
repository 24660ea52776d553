//! The sql-migrate layout (github.com/rubenv/sql-migrate): any `<name>.sql` file directly
//! in the migrations directory is a migration, split by `-- +migrate Up` and
//! `-- +migrate Down` annotations. The file parsing is goose's shared parser
//! ([`parse_annotated`]) with sql-migrate's annotation and comment rules; this file adds
//! sql-migrate's ordering and names.
//!
//! Facts from sql-migrate's source (rubenv/sql-migrate, commit 563a2f0):
//! - `sqlparse/sqlparse.go` `ParseMigration`: a command is a line starting exactly with
//!   `-- +migrate ` (case-sensitive, no indentation); its first field is the command
//!   (`Up`, `Down`, `StatementBegin`, `StatementEnd`; others are ignored; none at all is an
//!   error, `parseCommand`), further fields are options, and `notransaction` on an Up or
//!   Down line takes that direction out of its transaction. Lines before the first Up/Down
//!   are ignored; Up and Down may come in any order and repeat, each direction collecting
//!   its statements in file order; `StatementBegin`/`StatementEnd` outside a section are
//!   ignored. Lines starting with `-- ` (but not `-- +`) are dropped, other `-- +` lines are
//!   never part of a statement. A statement ends at a line whose last word (before a `--`
//!   word) ends with `;` (`endsWithSemicolon`), or at `StatementEnd`; an unfinished statement
//!   at an Up/Down line or at the end is an error (`errNoTerminator`), as are an unclosed
//!   `StatementBegin` and a file without Up or Down.
//! - `migrate.go` `findMigrations`: every entry of the directory whose name ends with `.sql`;
//!   the migration's id is the file name (what `gorp_migrations.id` records).
//!   `Migration.Less` (`byId`): names starting with digits (`^(\d+).*$`) come first, by that
//!   number (`VersionInt`, an `int64`: it panics beyond), then by name; names without digits
//!   follow, by name. Two files may share a number. `MigrationSet.getTableName`: the
//!   bookkeeping table is `gorp_migrations`. Each direction of a file runs in one
//!   transaction unless its line has `notransaction`.
//! - `sql-migrate/command_new.go`: `sql-migrate new` writes
//!   `<yyyymmddhhmmss>-<name>.sql` holding `-- +migrate Up` and `-- +migrate Down`.

use super::annotated::{Annotation, Cuts, Dialect, parse_annotated_with};
use super::annotated_files;
use super::bookkeeping::{Applied, Book, Bookkeeping, by_name, file_name, literal, record};
use super::sqlx::is_top_level_sql;
use super::{
    Evidence, Format, FormatSpec, Found, KeyPart, Listing, Migration, Settings, Version, lines,
};
use crate::error::InputError;

/// The sql-migrate format.
pub const FORMAT: Format = Format::new(&SqlMigrate);

/// sql-migrate.
pub struct SqlMigrate;

/// How sql-migrate reads its annotated SQL files.
const SQL_MIGRATE: Dialect = Dialect {
    tool: "sql-migrate",
    prefix: "-- +migrate",
    annotation: sql_migrate_annotation,
    drops_line: sql_migrate_drops_line,
    strict: false,
};

impl FormatSpec for SqlMigrate {
    fn name(&self) -> &'static str {
        "sql-migrate"
    }

    fn layout(&self) -> &'static str {
        "sql-migrate `<name>.sql` files with `-- +migrate Up`"
    }

    fn recognise(
        &self,
        listing: &Listing,
        _settings: &Settings,
    ) -> Result<Option<Evidence>, InputError> {
        // A file may hold only a down section.
        annotated_files(listing, |_, sql| {
            SQL_MIGRATE.up_line(sql).or_else(|| {
                lines(sql)
                    .find(|line| {
                        let text = line.text.trim_end_matches('\r');
                        matches!(
                            sql_migrate_annotation(text),
                            Ok(Some(Annotation::Down { .. }))
                        )
                    })
                    .map(|line| line.number)
            })
        })
    }

    fn discover(&self, listing: &Listing, _settings: &Settings) -> Result<Found, InputError> {
        // sql-migrate reads every `*.sql` of the directory and nothing else.
        let mut found = Found::default();
        // A Go module that does not require sql-migrate runs these files with its own
        // runner (GoAlert's splits statements by SQL syntax): a statement sql-migrate would
        // cut is read to its end, with one warning.
        let project = listing.project();
        let own_runner = match (&project.go_module, project.names("sql-migrate")) {
            (Some(go_mod), None) => Some(go_mod),
            _ => None,
        };
        let cuts = if own_runner.is_some() {
            Cuts::ReadOn
        } else {
            Cuts::Refuse
        };
        let mut cut: Vec<(std::path::PathBuf, usize)> = Vec::new();
        for entry in listing.top_entries() {
            if entry.is_dir || !is_top_level_sql(&entry.rel) {
                found.ignored.push(entry.path.clone());
                continue;
            }
            let Some(version) = version_of_name(&entry.rel) else {
                return Err(InputError::new(
                    &entry.path,
                    "the number the file name starts with is too large: sql-migrate reads it \
                     as an int64 and fails; rename the file",
                ));
            };
            let (up, down, first_cut) =
                parse_annotated_with(&SQL_MIGRATE, &entry.path, entry.text()?, None, cuts)?;
            cut.extend(first_cut.map(|line| (entry.path.clone(), line)));
            found.migrations.push(Migration {
                name: name_of(&entry.rel).to_string(),
                version,
                up,
                down,
            });
        }
        if let (Some((path, line)), Some(go_mod)) = (cut.first(), own_runner) {
            found.warnings.push(format!(
                "{}:{line}: sql-migrate would cut the statement at the `;` ending this line \
                 (inside a quoted string, dollar-quoted body, comment or parentheses){}; {} \
                 does not require github.com/rubenv/sql-migrate, so the project's own runner is \
                 taken to split statements by SQL syntax and each statement is read to its end. \
                 To run these files with sql-migrate itself, put such statements between \
                 `-- +migrate StatementBegin` and `-- +migrate StatementEnd`",
                path.display(),
                match cut.len() {
                    1 => String::new(),
                    n => format!(" (and in {} more file(s))", n - 1),
                },
                go_mod.display()
            ));
        }
        Ok(found)
    }

    fn is_migration_path(&self, rel: &str, _settings: &Settings) -> bool {
        is_top_level_sql(rel)
    }

    fn version_of_path(&self, rel: &str, _settings: &Settings) -> Option<Version> {
        if !is_top_level_sql(rel) {
            return None;
        }
        version_of_name(rel)
    }

    fn down_section_start(&self, sql: &str) -> Option<usize> {
        SQL_MIGRATE.down_line_start(sql)
    }

    fn reads_sections(&self) -> bool {
        true
    }

    fn transaction_rule(&self) -> &'static str {
        "each direction of a file in its own transaction, unless its `-- +migrate Up` / \
         `-- +migrate Down` line has `notransaction`"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        Some("`notransaction` on the `-- +migrate Up` / `-- +migrate Down` line")
    }

    fn bookkeeping(&self) -> Option<Book> {
        Some(&SqlMigrate)
    }

    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        vec![(
            format!("{version}-{name}.sql"),
            "\n-- +migrate Up\n\n-- +migrate Down\n".to_string(),
        )]
    }
}

/// sql-migrate's `parseCommand` on one line (its `\r` removed): None for a line that is not
/// a command, an error for `-- +migrate ` without one.
fn sql_migrate_annotation(line: &str) -> Result<Option<Annotation>, String> {
    let Some(rest) = line.strip_prefix("-- +migrate ") else {
        // Other `-- +` lines are never part of a statement: an ignored annotation.
        return Ok(line.starts_with("-- +").then_some(Annotation::Ignored));
    };
    let mut fields = rest.split_whitespace();
    let Some(command) = fields.next() else {
        return Err(
            "`-- +migrate` without a command: sql-migrate refuses it (`incomplete migration \
             command`); expected Up, Down, StatementBegin or StatementEnd"
                .to_string(),
        );
    };
    let no_transaction = fields.any(|option| option == "notransaction");
    Ok(Some(match command {
        "Up" => Annotation::Up { no_transaction },
        "Down" => Annotation::Down { no_transaction },
        "StatementBegin" => Annotation::StatementBegin,
        "StatementEnd" => Annotation::StatementEnd,
        _ => Annotation::Ignored,
    }))
}

/// sql-migrate drops every line starting with `-- ` (commands aside), inside statements too.
fn sql_migrate_drops_line(line: &str, _statement_open: bool) -> bool {
    line.starts_with("-- ")
}

/// The version of a file name, ordered as `Migration.Less`: a leading number first
/// (numerically, then by the whole name), names without one after all of those (by name).
/// The version text is the name without `.sql`: sql-migrate identifies a migration by its
/// file name. None when the leading number does not fit an int64.
fn version_of_name(file_name: &str) -> Option<Version> {
    let stem = file_name.strip_suffix(".sql").unwrap_or(file_name);
    let digits_len = file_name.bytes().take_while(u8::is_ascii_digit).count();
    if digits_len == 0 {
        return Some(Version::with_key(stem, vec![KeyPart::text(file_name)]));
    }
    let digits = &file_name[..digits_len];
    digits.parse::<i64>().ok()?;
    Some(Version::with_key(
        stem,
        vec![KeyPart::digits(digits), KeyPart::text(file_name)],
    ))
}

/// The descriptive part of a file name: after its leading number and one `_` or `-`.
fn name_of(file_name: &str) -> &str {
    let stem = file_name.strip_suffix(".sql").unwrap_or(file_name);
    let rest = stem.trim_start_matches(|c: char| c.is_ascii_digit());
    if rest.len() == stem.len() {
        return stem;
    }
    rest.strip_prefix(['_', '-']).unwrap_or(rest)
}

// sql-migrate's `gorp_migrations` (rubenv/sql-migrate through gorp): the file name with its
// `.sql` as `id` and when it was applied, inserted in the migration's transaction and
// deleted by its down. No checksum, no lock.

/// sql-migrate's history table.
pub const TABLE: &str = "gorp_migrations";

impl Bookkeeping for SqlMigrate {
    fn tool(&self) -> &'static str {
        "sql-migrate"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn columns(&self) -> &'static [&'static str] {
        &["id", "applied_at"]
    }

    fn create_sql(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} \
         (id text NOT NULL PRIMARY KEY, applied_at timestamp with time zone);"
        )
    }

    fn read_sql(&self) -> String {
        format!(
            "SELECT id, id, NULL::text, applied_at::text, NULL::bigint, NULL::text, true
         FROM {TABLE} ORDER BY applied_at, id"
        )
    }

    fn interpret(&self, rows: Vec<Applied>, migrations: &[Migration]) -> Vec<Applied> {
        by_name(rows, migrations, file_name)
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let id = literal(&file_name(&migrations[index]));
        record(&if up {
            format!("INSERT INTO {TABLE} (id, applied_at) VALUES ({id}, now());")
        } else {
            format!("DELETE FROM {TABLE} WHERE id = {id};")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{discover, discovery_error, one_migration, tempdir, write};
    use super::super::{Script, TransactionMode};
    use super::*;

    /// The one migration of a directory holding `contents` as `1_a.sql`.
    fn one(contents: &str) -> Migration {
        one_migration(FORMAT, "1_a.sql", contents)
    }

    /// The error for a directory holding `contents` as `1_a.sql`, with the file's path.
    fn error(contents: impl AsRef<[u8]>) -> (InputError, std::path::PathBuf) {
        discovery_error(Some(FORMAT), "1_a.sql", contents)
    }

    fn down(m: &Migration) -> &Script {
        m.down.as_ref().unwrap()
    }

    #[test]
    fn ordered_by_number_then_name_then_names_without_number() {
        let t = tempdir();
        for name in [
            "20230222172540-purchases-2.sql",
            "20230222172540-purchases-1.sql",
            "20180805174141-tournaments.sql",
            "20180103142001_initial_schema.sql",
            "9_nine.sql",
            "zeta.sql",
            "alpha.sql",
            "010_ten.sql",
        ] {
            write(t.path(), name, "-- +migrate Up\nselect 1;\n");
        }
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
                ("9_nine", "nine"),
                ("010_ten", "ten"),
                ("20180103142001_initial_schema", "initial_schema"),
                ("20180805174141-tournaments", "tournaments"),
                ("20230222172540-purchases-1", "purchases-1"),
                ("20230222172540-purchases-2", "purchases-2"),
                ("alpha", "alpha"),
                ("zeta", "zeta"),
            ]
        );
        let settings = Settings::default();
        let v = |rel| FORMAT.spec().version_of_path(rel, &settings);
        assert!(v("9_a.sql") < v("10_a.sql"));
        assert!(v("10_a.sql") < v("a.sql"));
        assert_eq!(v("sub/1_a.sql"), None);
        assert_eq!(v("99999999999999999999_a.sql"), None);
    }

    #[test]
    fn sections_and_per_direction_notransaction() {
        let m = one(
            "-- comment\n-- +migrate Up notransaction\nCREATE INDEX CONCURRENTLY i ON t (x);\n\
             -- +migrate Down\nDROP INDEX i;\n",
        );
        assert_eq!(m.up.sql, "CREATE INDEX CONCURRENTLY i ON t (x);\n");
        assert_eq!(m.up.line_offset, 2);
        assert_eq!(m.up.byte_offset, 11 + 29);
        assert_eq!(m.up.transaction, TransactionMode::None);
        assert_eq!(down(&m).sql, "DROP INDEX i;\n");
        assert_eq!(down(&m).line_offset, 4);
        assert_eq!(
            down(&m).transaction,
            TransactionMode::StatementsInTransaction
        );
        let m = one("-- +migrate Up\nselect 1;\n-- +migrate Down notransaction\nselect 2;\n");
        assert_eq!(m.up.transaction, TransactionMode::StatementsInTransaction);
        assert_eq!(down(&m).transaction, TransactionMode::None);
        assert_eq!(one("-- +migrate Up\nselect 1;\n").down, None);
    }

    #[test]
    fn repeated_sections_append_with_lines_kept() {
        let m = one(
            "-- +migrate Down\ndrop table b;\n-- +migrate Up\ncreate table a();\n\
             -- +migrate Down\ndrop table a;\n-- +migrate Up notransaction\ncreate table b();\n",
        );
        assert_eq!(
            m.up.sql,
            "create table a();\n\n\n-- +migrate Up notransaction\ncreate table b();\n"
        );
        assert_eq!(m.up.line_offset, 3);
        assert_eq!(m.up.transaction, TransactionMode::None);
        let down = down(&m);
        assert_eq!(
            down.sql,
            "drop table b;\n\n\n-- +migrate Down\ndrop table a;\n"
        );
        assert_eq!(down.line_offset, 1);
    }

    #[test]
    fn only_a_down_section_gives_an_empty_up() {
        let m = one("-- +migrate Down\ndrop table t;\n");
        assert_eq!(m.up.sql, "");
        assert_eq!(down(&m).sql, "drop table t;\n");
    }

    #[test]
    fn markers_are_case_sensitive_and_unindented() {
        let (err, path) = error("-- +migrate up\nselect 1;\n  -- +migrate Up\n");
        assert_eq!((err.path, err.line), (path, None));
        assert!(
            err.message
                .contains("no `-- +migrate Up` or `-- +migrate Down`")
        );
        let (err, _) = error("-- +migrate Up\nselect 1;\n-- +migrate \n");
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("without a command"));
        // Unknown commands and other `-- +` lines are ignored.
        let m = one("-- +migrate Up\n-- +migrate Frobnicate\n-- +x\nselect 1;\n");
        assert_eq!(m.up.sql, "-- +migrate Frobnicate\n-- +x\nselect 1;\n");
    }

    #[test]
    fn statements_before_the_first_section_are_ignored() {
        let m = one("select 0\n-- +migrate Up\nselect 1;\n");
        assert_eq!(m.up.sql, "select 1;\n");
    }

    #[test]
    fn statement_blocks_and_terminators() {
        let m = one(
            "-- +migrate Up\n-- +migrate StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$\n\
             BEGIN RETURN 1; END;\n$$ LANGUAGE plpgsql\n-- +migrate StatementEnd\n",
        );
        assert!(m.up.sql.contains("RETURN 1;"));
        let (err, path) = error("-- +migrate Up\nselect 1\n-- +migrate Down\nselect 2;\n");
        assert_eq!((err.path, err.line), (path, Some(2)));
        assert!(err.message.contains("not finished"));
        let (err, _) = error("-- +migrate Up\nselect 1;\n--no space comment\n");
        assert_eq!(err.line, Some(3));
        let (err, _) = error("-- +migrate Up\n-- +migrate StatementBegin\nselect 1;\n");
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("without a matching"));
        let (err, _) = error("-- +migrate Up\nDO $$ BEGIN\n  PERFORM 1;\nEND $$;\n");
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("-- +migrate StatementBegin"));
        // `-- ` comments are dropped, also inside a statement.
        let m = one("-- +migrate Up\nselect\n-- a comment;\n1;\n");
        assert_eq!(m.up.sql, "select\n-- a comment;\n1;\n");
        // StatementBegin/End outside a section are ignored, as is a stray StatementEnd.
        let m = one(
            "-- +migrate StatementBegin\n-- +migrate Up\n-- +migrate StatementEnd\nselect 1;\n",
        );
        assert_eq!(m.up.sql, "-- +migrate StatementEnd\nselect 1;\n");
    }

    /// GoAlert's layout: sql-migrate's files run by the project's own runner (its go.mod does
    /// not require sql-migrate), which splits statements by SQL syntax. A statement
    /// sql-migrate would cut is read to its end with one warning; where the project requires
    /// sql-migrate, the file is refused as sql-migrate would fail on it.
    #[test]
    fn a_go_project_with_its_own_runner_reads_statements_to_their_end() {
        let t = tempdir();
        let dir = t.path().join("migrations");
        std::fs::create_dir(&dir).unwrap();
        let body = "-- +migrate Up\nCREATE FUNCTION f() RETURNS int AS $$\nBEGIN\n  RETURN 1;\n\
                    END;\n$$ LANGUAGE plpgsql;\nSELECT f();\n-- +migrate Down\nDROP FUNCTION f();\n";
        let file = write(&dir, "1_f.sql", body);
        write(t.path(), "go.mod", "module example.com/pager\n\ngo 1.22\n");
        let d = discover(&dir, Some(FORMAT)).unwrap();
        assert_eq!(d.migrations.len(), 1);
        assert_eq!(d.migrations[0].up.sql.matches("RETURN 1;").count(), 1);
        assert_eq!(d.detection.warnings.len(), 1, "{:?}", d.detection.warnings);
        let warning = &d.detection.warnings[0];
        assert!(
            warning.starts_with(&format!("{}:4: sql-migrate would cut", file.display())),
            "{warning}"
        );
        assert!(warning.contains("go.mod does not require github.com/rubenv/sql-migrate"));

        write(
            t.path(),
            "go.mod",
            "module example.com/pager\n\ngo 1.22\n\nrequire github.com/rubenv/sql-migrate v1.7.0\n",
        );
        let err = discover(&dir, Some(FORMAT)).unwrap_err();
        assert_eq!((err.path, err.line), (file, Some(4)));
        assert!(
            err.message.contains("would send it cut off"),
            "{}",
            err.message
        );
    }

    #[test]
    fn non_utf8_names_the_line() {
        let (err, path) = error(b"-- +migrate Up\nselect '\xe9';\n".as_slice());
        assert_eq!((err.path, err.line), (path, Some(2)));
        assert_eq!(err.message, "not valid UTF-8");
    }

    #[test]
    fn recognised_by_the_up_or_a_lone_down_line() {
        let t = tempdir();
        let path = write(t.path(), "1_a.sql", "-- x\n-- +migrate Down\n");
        let listing = Listing::read(t.path(), 1).unwrap();
        let evidence = FORMAT.recognise(&listing, &Settings::default()).unwrap();
        assert_eq!(
            evidence,
            Some(Evidence::annotation(listing.get("1_a.sql").unwrap(), 2))
        );
        assert_eq!(evidence.unwrap().path, path);
    }
}
