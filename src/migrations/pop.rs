//! gobuffalo/pop's SQL migrations (`soda migrate`), and those of Ory's popx (github.com/ory/x
//! `popx`, which Hydra, Kratos and Keto run), read as they read them (github.com/gobuffalo/pop
//! v6):
//! - `migrator.go`: ``mrx = regexp.MustCompile(`^(\d+)_([^.]+)(\.[a-z0-9]+)?\.(up|down)\.(sql|fizz)$`)``:
//!   a version, a name without dots, an optional dialect part, the direction and the type.
//! - `match.go` `ParseMigrationFilename`: without a dialect part the file is for `all`
//!   databases; a dialect part is canonicalised (`pop.go` `CanonicalDialect`: `postgresql`,
//!   `pg` and `pgx` are `postgres`, `cockroachdb` and `crdb` `cockroach`, `sqlite`
//!   `sqlite3`) and must be supported (`postgres`, `cockroach`, `mysql`, `mariadb`,
//!   `sqlite3`), else "unsupported dialect", which `file_migrator.go` `findMigrations` warns
//!   about and ignores; a `.fizz` file with a dialect part is an error that stops pop
//!   ("invalid database type %q, expected \"all\" because fizz is database type
//!   independent"). Names the regex does not match are ignored with a warning.
//! - `file_migrator.go` `findMigrations`: `filepath.Walk`, so pop reads the files of every
//!   subdirectory too, by their base names; so does this format, down to
//!   `RECURSIVE_DEPTH` (8) levels (the listing leaves out hidden and
//!   dependency directories, which pop would also walk). Subdirectories are not ignored
//!   entries: pop reads into them.
//! - `migrator.go` `UpTo`/`Down`: only files whose dialect is `all` or the connection's
//!   (`migrationIsCompatible`) run; a file of another dialect is not for PostgreSQL and is
//!   listed as ignored. `migration_info.go` `UpMigrations.Less`: versions compare as strings,
//!   and at one version "force \"all\" to the back": the `postgres` file runs first, and
//!   `UpTo` then skips the `all` one because its version `Exists` in the history. So where a
//!   version has a `postgres` file it is read and the dialect-less one is ignored. Two files
//!   left for one version and direction are refused: pop would run whichever sorted first and
//!   silently skip the other. (A file's path alone cannot tell that a `postgres` file
//!   stands beside it: [`FormatSpec::is_migration_path`] counts the dialect-less one too, so
//!   checksums cover it.)
//! - `migration_content.go` `MigrationContent`: every file is a Go `text/template`
//!   (`template.Must(template.New("migration").Parse(string(b)))`, executed with the
//!   dialect's connection details), so `{{` starts an action wherever it stands, SQL
//!   comments included; migration-check cannot evaluate Go templates and refuses the file
//!   at that line. `.fizz` files are pop's own language (`fizz.AString`), which only pop can
//!   run: refused, pointing at `--format command`.
//! - Transactions (`migrator.go` `UpTo`/`Down`): `c.Transaction(func(tx) { mi.Run(tx);
//!   tx.Store.Exec("insert into %s (version) values ('%s')") })`; the runner sends the whole
//!   file in one `tx.Store.Exec(content)` without arguments (pgx's simple protocol, so every
//!   statement runs inside pop's transaction); no marker opts out.
//! - Bookkeeping (`schema_migrations.go`, rendered by fizz's postgres translator):
//!   `schema_migration (version VARCHAR (14) NOT NULL, PRIMARY KEY("version"))` and the unique
//!   index `schema_migration_version_idx`; `delete from %s where version = ?` going down.
//!   A version longer than 14 characters cannot be recorded in that table: pop's insert
//!   fails and the migration is rolled back, and `migrate` fails the same way on an existing
//!   pop table, on PostgreSQL's own error. pop takes no advisory lock.
//! - popx (`popx/match.go`): ``^(\d+)_([^.]+)(\.[a-z0-9]+)?(\.autocommit)?\.(up|down)\.(sql)$``,
//!   so a `.autocommit` part may follow the dialect part (`name.autocommit.up.sql` is for
//!   every database); `migrator.go` `shouldNotUseTransaction`: such a migration runs
//!   without a transaction, its file sent as one `Exec` (one multi-statement query, as
//!   golang-migrate sends a file), and its history row inserted after it. popx's table is
//!   `schema_migration (version VARCHAR (48) NOT NULL, version_self INT NOT NULL DEFAULT
//!   0)` with the unique index `schema_migration_version_idx` and the index
//!   `schema_migration_version_self_idx` (`createTransactionalMigrationTable`): `migrate`
//!   (and `verify`, before the first migration) creates the table and its unique index where
//!   a version is longer than pop's 14 characters, and discovery warns about such versions,
//!   once, only where no `.autocommit` file shows that popx runs them.
//!   popx's `Down` filters down files as `Up` does, so a second down file of one version is
//!   no warning there.
//! - `migrator.go` `Down` picks down files by counting them against the history's rows, so a
//!   second down file of one version (`all` beside `postgres`) makes it revert the wrong
//!   file: a warning. `migrate down` reverts by the history's versions.

use std::collections::BTreeMap;

use super::bookkeeping::{Book, Bookkeeping, literal, record};
use super::sqlx::pair_template;
use super::{
    Entry, Evidence, Format, FormatSpec, Found, Listing, Migration, RECURSIVE_DEPTH, Script,
    Settings, Strength, TransactionMode, Version, line_of_byte, split_version,
};
use crate::error::InputError;

/// The pop format.
pub const FORMAT: Format = Format::new(&Pop);

/// gobuffalo/pop (`soda migrate`).
pub struct Pop;

/// The width of pop's `schema_migration.version`: `VARCHAR (14)`, `len(YYYYMMDDhhmmss)`.
const VERSION_WIDTH: usize = 14;

impl FormatSpec for Pop {
    fn name(&self) -> &'static str {
        "pop"
    }

    fn layout(&self) -> &'static str {
        "pop/popx `<version>_<name>[.postgres][.autocommit].up.sql`/`.down.sql` files"
    }

    fn depth(&self) -> usize {
        RECURSIVE_DEPTH
    }

    /// Its dialect-less pairs are sqlx's and golang-migrate's naming too (the project's
    /// `go.mod` tells them apart); a dialect part or a `.fizz` file only pop writes.
    fn recognise(
        &self,
        listing: &Listing,
        _settings: &Settings,
    ) -> Result<Option<Evidence>, InputError> {
        let read: Vec<(&Entry, PopName)> = listing
            .files()
            .filter_map(|e| Some((e, parse_name(e.name())?)))
            .filter(|(_, name)| !matches!(name.dialect, Dialect::Unsupported(_)))
            .collect();
        let marked: Vec<&Entry> = read
            .iter()
            .filter(|(_, name)| name.fizz || name.dialect != Dialect::All)
            .map(|(entry, _)| *entry)
            .collect();
        let (example, strength, support) = match (marked.first(), read.first()) {
            (Some(entry), _) => (*entry, Strength::Marker, marked.len()),
            (None, Some((entry, _))) => (*entry, Strength::Naming, read.len()),
            (None, None) => return Ok(None),
        };
        Ok(Some(
            Evidence::entry(example, strength).supported_by(support),
        ))
    }

    fn discover(&self, listing: &Listing, _settings: &Settings) -> Result<Found, InputError> {
        discover(listing)
    }

    fn is_migration_path(&self, rel: &str, _settings: &Settings) -> bool {
        postgres_sql(rel).is_some()
    }

    fn version_of_path(&self, rel: &str, _settings: &Settings) -> Option<Version> {
        postgres_sql(rel).map(|name| Version::textual(name.version, name.version))
    }

    fn transaction_rule(&self) -> &'static str {
        "each migration in its own transaction with its history insert"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        None
    }

    fn bookkeeping(&self) -> Option<Book> {
        Some(&Pop)
    }

    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        pair_template(version, name)
    }
}

/// Which databases a file is for, by its dialect part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect<'a> {
    /// No dialect part: every database.
    All,
    /// `postgres` or a synonym.
    Postgres,
    /// Another dialect pop supports (canonical name).
    Other(&'static str),
    /// A dialect part pop does not know: pop warns and ignores the file.
    Unsupported(&'a str),
}

/// A dialect part as pop's `CanonicalDialect` and `DialectSupported` read it.
fn dialect(part: &str) -> Dialect<'_> {
    match part {
        "postgres" | "postgresql" | "pg" | "pgx" => Dialect::Postgres,
        "cockroach" | "cockroachdb" | "crdb" => Dialect::Other("cockroach"),
        "sqlite3" | "sqlite" => Dialect::Other("sqlite3"),
        "mysql" => Dialect::Other("mysql"),
        "mariadb" => Dialect::Other("mariadb"),
        other => Dialect::Unsupported(other),
    }
}

/// Up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Direction {
    Up,
    Down,
}

/// A file name as pop's `mrx` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PopName<'a> {
    version: &'a str,
    name: &'a str,
    dialect: Dialect<'a>,
    direction: Direction,
    /// A `.fizz` file, not `.sql`.
    fizz: bool,
    /// popx's `.autocommit` part: run without a transaction.
    autocommit: bool,
}

/// `^(\d+)_([^.]+)(\.[a-z0-9]+)?(\.autocommit)?\.(up|down)\.(sql|fizz)$` on a file's base
/// name (pop's regex with popx's `.autocommit` part).
fn parse_name(file_name: &str) -> Option<PopName<'_>> {
    let (version, rest) = split_version(file_name)?;
    let (rest, fizz) = match rest.strip_suffix(".sql") {
        Some(rest) => (rest, false),
        None => (rest.strip_suffix(".fizz")?, true),
    };
    let (rest, direction) = match rest.strip_suffix(".up") {
        Some(rest) => (rest, Direction::Up),
        None => (rest.strip_suffix(".down")?, Direction::Down),
    };
    let (rest, autocommit) = match rest.strip_suffix(".autocommit") {
        Some(rest) => (rest, true),
        None => (rest, false),
    };
    let (name, part) = match rest.split_once('.') {
        Some((name, part)) => (name, Some(part)),
        None => (rest, None),
    };
    let part_ok = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if name.is_empty() || !part.is_none_or(part_ok) {
        return None;
    }
    Some(PopName {
        version,
        name,
        dialect: part.map_or(Dialect::All, dialect),
        direction,
        fizz,
        autocommit,
    })
}

/// The name of a file pop runs on PostgreSQL as SQL (any directory, dialect-less or
/// `postgres`).
fn postgres_sql(rel: &str) -> Option<PopName<'_>> {
    let file_name = rel.rsplit('/').next().unwrap_or(rel);
    parse_name(file_name)
        .filter(|name| !name.fizz && matches!(name.dialect, Dialect::All | Dialect::Postgres))
}

/// The files of a pop directory: the top level (but migration-check's own files) and every
/// subdirectory.
fn files(listing: &Listing) -> impl Iterator<Item = &Entry> {
    listing
        .top_entries()
        .filter(|e| !e.is_dir)
        .chain(listing.files().filter(|e| e.depth() > 0))
}

/// The migrations of a pop directory, as pop runs them on PostgreSQL. Not yet sorted.
fn discover(listing: &Listing) -> Result<Found, InputError> {
    let mut found = Found::default();
    let mut candidates: BTreeMap<(Direction, &str), Vec<(&Entry, PopName)>> = BTreeMap::new();
    for entry in files(listing) {
        let Some(name) = parse_name(entry.name()) else {
            found.ignored.push(entry.path.clone());
            continue;
        };
        match name.dialect {
            Dialect::Unsupported(_) => found.ignored.push(entry.path.clone()),
            Dialect::Postgres | Dialect::Other(_) if name.fizz => {
                let canonical = match name.dialect {
                    Dialect::Other(canonical) => canonical,
                    _ => "postgres",
                };
                return Err(InputError::new(
                    &entry.path,
                    format!(
                        "pop refuses this file name (invalid database type \"{canonical}\", \
                         expected \"all\" because fizz is database type independent): drop its \
                         dialect part"
                    ),
                ));
            }
            Dialect::Other(_) => found.ignored.push(entry.path.clone()),
            Dialect::All | Dialect::Postgres => candidates
                .entry((name.direction, name.version))
                .or_default()
                .push((entry, name)),
        }
    }
    // Only popx reads `.autocommit` files: one of them shows that popx runs the directory.
    let popx = candidates
        .values()
        .flatten()
        .any(|(_, name)| name.autocommit);
    let mut ups: BTreeMap<&str, (PopName, Script)> = BTreeMap::new();
    let mut downs: BTreeMap<&str, (&Entry, Script)> = BTreeMap::new();
    for ((direction, version), files) in candidates {
        let (chosen, name, passed_over) = choose(files)?;
        // popx picks down files by version and dialect (`sortAndFilter`), as `up` does.
        if direction == Direction::Down
            && !popx
            && let Some(other) = passed_over.first()
        {
            found.warnings.push(format!(
                "{}: pop's `migrate down` picks down files by counting them against its history \
                 rows, so a second down file of version {version} ({}) makes it revert the \
                 wrong file; keep one down file per version",
                chosen.path.display(),
                other.path.display()
            ));
        }
        found
            .ignored
            .extend(passed_over.iter().map(|e| e.path.clone()));
        let script = script(chosen, &name)?;
        match direction {
            Direction::Up => {
                ups.insert(version, (name, script));
            }
            Direction::Down => {
                downs.insert(version, (chosen, script));
            }
        }
    }
    if let Some((_, (down, _))) = downs.iter().find(|(v, _)| !ups.contains_key(*v)) {
        return Err(InputError::new(
            &down.path,
            "down migration without an up migration of its version: pop never applies this \
             version, so this never runs; add the up migration, or remove the down",
        ));
    }
    let long: Vec<&(PopName, Script)> = ups
        .values()
        .filter(|(name, _)| name.version.len() > VERSION_WIDTH)
        .collect();
    if let Some((name, up)) = long.first()
        && !popx
    {
        found.warnings.push(format!(
            "{}: {} version(s) have more than {VERSION_WIDTH} characters (this one {}): \
             gobuffalo/pop's schema_migration.version is VARCHAR ({VERSION_WIDTH}) and cannot \
             record them (its insert fails and the migration is rolled back); Ory's popx, whose \
             column is VARCHAR (48), can",
            up.path.display(),
            long.len(),
            name.version.len()
        ));
    }
    for (version, (name, up)) in ups {
        found.migrations.push(Migration {
            version: Version::textual(version, version),
            name: name.name.to_string(),
            up,
            down: downs.remove(version).map(|(_, script)| script),
        });
    }
    Ok(found)
}

/// The file pop runs for one version and direction: the `postgres` one where there is one
/// (pop sorts it first and skips the dialect-less one as applied), else the dialect-less
/// one; with the files passed over. Two of the chosen kind are refused.
fn choose<'l>(
    files: Vec<(&'l Entry, PopName<'l>)>,
) -> Result<(&'l Entry, PopName<'l>, Vec<&'l Entry>), InputError> {
    let postgres = files.iter().any(|(_, n)| n.dialect == Dialect::Postgres);
    let (chosen, passed_over): (Vec<_>, Vec<_>) = files
        .into_iter()
        .partition(|(_, n)| !postgres || n.dialect == Dialect::Postgres);
    if let [(first, name), (second, _), ..] = chosen.as_slice() {
        return Err(InputError::new(
            &second.path,
            format!(
                "two {} migrations of version {}: {} is one too (pop runs whichever it sorts \
                 first and skips the other as applied); give one of them another version",
                match name.direction {
                    Direction::Up => "up",
                    Direction::Down => "down",
                },
                name.version,
                first.path.display()
            ),
        ));
    }
    let (entry, name) = chosen[0];
    Ok((
        entry,
        name,
        passed_over.into_iter().map(|(e, _)| e).collect(),
    ))
}

/// The script of a file pop runs: SQL without template actions.
fn script(entry: &Entry, name: &PopName) -> Result<Script, InputError> {
    if name.fizz {
        return Err(InputError::new(
            &entry.path,
            "pop fizz migration: fizz is pop's own migration language, which only pop itself \
             can translate and run. Verify this directory with --format command, which runs \
             your own pop (soda) through its commands, or write the migration as .sql",
        ));
    }
    let text = entry.text()?;
    if let Some(at) = text.sql.find("{{") {
        return Err(InputError::at_line(
            &entry.path,
            line_of_byte(&text.sql, at),
            "`{{` starts a Go template action: pop runs every SQL migration through \
             text/template, which evaluates `{{ … }}` wherever it stands (SQL comments \
             included), and migration-check cannot evaluate Go templates. Take the action \
             out, or verify this directory with --format command, which runs pop itself",
        ));
    }
    let transaction = if name.autocommit {
        TransactionMode::AsWritten
    } else {
        TransactionMode::StatementsInTransaction
    };
    Ok(text.whole_script(&entry.path, transaction))
}

/// pop's history table.
pub const TABLE: &str = "schema_migration";

impl Bookkeeping for Pop {
    fn tool(&self) -> &'static str {
        "pop"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn columns(&self) -> &'static [&'static str] {
        &["version"]
    }

    /// What fizz's postgres translator renders for pop's table, made idempotent.
    fn create_sql(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS \"{TABLE}\" (
\"version\" VARCHAR (14) NOT NULL,
PRIMARY KEY(\"version\")
);
CREATE UNIQUE INDEX IF NOT EXISTS \"{TABLE}_version_idx\" ON \"{TABLE}\" (version);"
        )
    }

    /// pop's `(version)`, or popx's `(version, version_self)`.
    fn is_own_shape(&self, columns: &[String]) -> bool {
        matches!(columns, [version] if version == "version")
            || matches!(columns, [version, own] if version == "version" && own == "version_self")
    }

    /// popx's table where a version is longer than pop's column: only popx can run them.
    /// (popx also indexes `version_self`, which nothing of ours reads; an existing pop
    /// table, which lacks the column, is left as it is.)
    fn create_sql_for(&self, migrations: &[Migration]) -> String {
        if migrations
            .iter()
            .all(|m| m.version.text.len() <= VERSION_WIDTH)
        {
            return self.create_sql();
        }
        format!(
            "CREATE TABLE IF NOT EXISTS \"{TABLE}\" (\"version\" VARCHAR (48) NOT NULL, \
             \"version_self\" INT NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX IF NOT EXISTS \"{TABLE}_version_idx\" ON \"{TABLE}\" (version);"
        )
    }

    fn read_sql(&self) -> String {
        format!(
            "SELECT version::text, NULL::text, NULL::text, NULL::text, NULL::bigint, NULL::text,
                true
         FROM {TABLE} ORDER BY version"
        )
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let version = literal(&migrations[index].version.text);
        record(&if up {
            format!("insert into {TABLE} (version) values ({version});")
        } else {
            format!("delete from {TABLE} where version = {version};")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{discover, tempdir, versions, write};
    use super::super::{detect, golang_migrate, sqlx};
    use super::*;

    fn sorted(mut paths: Vec<std::path::PathBuf>) -> Vec<std::path::PathBuf> {
        paths.sort();
        paths
    }

    #[test]
    fn names_as_pops_regex_reads_them() {
        let p = parse_name("20240101000000_create_users.pg.up.sql").unwrap();
        assert_eq!(
            (p.version, p.name, p.dialect, p.direction, p.fizz),
            (
                "20240101000000",
                "create_users",
                Dialect::Postgres,
                Direction::Up,
                false
            )
        );
        assert_eq!(
            parse_name("1_a.crdb.down.sql").unwrap().dialect,
            Dialect::Other("cockroach")
        );
        assert_eq!(
            parse_name("1_add.email.up.sql").unwrap().dialect,
            Dialect::Unsupported("email")
        );
        assert!(parse_name("1_a.up.fizz").unwrap().fizz);
        for skipped in [
            "1_a.sql",
            "1_.up.sql",
            "a_1.up.sql",
            "1-a.up.sql",
            "1_a.b.c.up.sql",
            "1_a.Postgres.up.sql",
            "1_a.up.SQL",
            "1_a.up.txt",
        ] {
            assert_eq!(parse_name(skipped), None, "{skipped}");
        }
    }

    /// Versions are strings (`10` before `9`), subdirectories are read, other dialects and
    /// names pop does not match are listed as ignored.
    #[test]
    fn string_order_subdirectories_and_ignored_files() {
        let t = tempdir();
        write(t.path(), "9_nine.up.sql", "select 9;");
        write(t.path(), "9_nine.down.sql", "select -9;");
        write(t.path(), "10_ten.up.sql", "select 10;");
        write(t.path(), "2024/11_eleven.up.sql", "select 11;");
        let cockroach = write(t.path(), "9_nine.cockroach.up.sql", "select 'crdb';");
        let unknown = write(t.path(), "12_add.email.up.sql", "select 12;");
        let schema = write(t.path(), "schema.sql", "-- dumped by pop");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        assert_eq!(versions(&d), ["10", "11", "9"]);
        assert_eq!(d.migrations[2].name, "nine");
        assert!(d.migrations[2].down.is_some());
        assert_eq!(
            d.migrations[0].up.transaction,
            TransactionMode::StatementsInTransaction
        );
        assert_eq!(sorted(d.ignored), sorted(vec![cockroach, unknown, schema]));
        let settings = Settings::default();
        assert!(FORMAT.is_migration_path("2024/11_eleven.up.sql", &settings));
        assert!(FORMAT.is_migration_path("1_a.pg.down.sql", &settings));
        assert!(!FORMAT.is_migration_path("1_a.mysql.up.sql", &settings));
        assert!(!FORMAT.is_migration_path("1_a.up.fizz", &settings));
        assert_eq!(
            FORMAT.version_of_path("2024/11_eleven.up.sql", &settings),
            Some(Version::textual("11", "11"))
        );
    }

    /// `UpMigrations.Less` sorts the `postgres` file first; `UpTo` then skips the
    /// dialect-less one of the same version as applied.
    #[test]
    fn the_postgres_file_of_a_version_is_read_and_the_other_ignored() {
        let t = tempdir();
        let all = write(t.path(), "1_a.up.sql", "select 'all';");
        write(t.path(), "1_a.postgres.up.sql", "select 'postgres';");
        let fizz = write(t.path(), "2_b.up.fizz", "create_table(\"b\") {}");
        write(t.path(), "2_b.pg.up.sql", "select 2;");
        write(t.path(), "2_b.down.sql", "select -2;");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        assert_eq!(d.migrations[0].up.sql, "select 'postgres';");
        assert_eq!(d.migrations[1].up.sql, "select 2;");
        assert_eq!(d.migrations[1].down.as_ref().unwrap().sql, "select -2;");
        assert_eq!(sorted(d.ignored), sorted(vec![all, fizz]));
        assert!(d.detection.warnings.is_empty());
        // Two down files of one version: the postgres one, and a word on pop's own down.
        let all_down = write(t.path(), "1_a.down.sql", "select -1;");
        write(t.path(), "1_a.postgres.down.sql", "select -1;");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        assert!(d.ignored.contains(&all_down));
        assert_eq!(d.detection.warnings.len(), 1, "{:?}", d.detection.warnings);
        assert!(d.detection.warnings[0].contains("keep one down file per version"));
    }

    #[test]
    fn two_files_of_one_version_and_kind_are_refused() {
        let t = tempdir();
        let a = write(t.path(), "1_a.up.sql", "select 1;");
        write(t.path(), "1_b.up.sql", "select 1;");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert!(
            err.message.starts_with("two up migrations of version 1"),
            "{err}"
        );
        assert!(err.message.contains(&a.display().to_string()), "{err}");

        let t = tempdir();
        write(t.path(), "1_a.pg.up.sql", "select 1;");
        write(t.path(), "1_a.postgres.up.sql", "select 1;");
        assert!(discover(t.path(), Some(FORMAT)).is_err());

        let t = tempdir();
        write(t.path(), "1_a.up.sql", "select 1;");
        let down = write(t.path(), "2_b.down.sql", "select 1;");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert_eq!(err.path, down);
    }

    #[test]
    fn fizz_and_templates_are_refused() {
        let t = tempdir();
        write(t.path(), "1_a.up.sql", "select 1;");
        let fizz = write(t.path(), "2_b.up.fizz", "create_table(\"b\") {}\n");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert_eq!(err.path, fizz);
        assert!(err.message.contains("--format command"), "{err}");

        let t = tempdir();
        let fizz = write(t.path(), "1_a.postgres.up.fizz", "");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert_eq!(err.path, fizz);
        assert!(err.message.contains("invalid database type \"postgres\""));

        let t = tempdir();
        let file = write(
            t.path(),
            "1_a.up.sql",
            "\u{feff}create table a (id int);\n-- owner: {{ .User }}\n",
        );
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert_eq!((err.path, err.line), (file, Some(2)));
        assert!(err.message.contains("Go template"), "{}", err.message);
    }

    #[test]
    fn a_version_pop_cannot_record_is_a_warning() {
        let t = tempdir();
        write(t.path(), "202401010000001_a.up.sql", "select 1;");
        write(t.path(), "20240101000002_b.up.sql", "select 2;");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        assert_eq!(d.detection.warnings.len(), 1);
        assert!(d.detection.warnings[0].contains("VARCHAR (14)"));
        // Once for all of them, not once per migration.
        write(t.path(), "202401010000031_c.up.sql", "select 3;");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        assert_eq!(d.detection.warnings.len(), 1, "{:?}", d.detection.warnings);
        assert!(d.detection.warnings[0].contains("2 version(s)"));
        // popx records them: its table where a version is longer than pop's column.
        assert!(
            Pop.create_sql_for(&d.migrations)
                .contains("\"version\" VARCHAR (48) NOT NULL")
        );
        assert_eq!(Pop.create_sql_for(&d.migrations[1..2]), Pop.create_sql());
    }

    /// Ory's popx: a `.autocommit` part after the dialect part, the migration run without a
    /// transaction (as `match_test.go` reads these names); such a file shows popx runs the
    /// directory, so long versions are no warning.
    #[test]
    fn popx_autocommit_migrations_run_without_a_transaction() {
        let p = parse_name("20190611004000_create_providers.autocommit.up.sql").unwrap();
        assert_eq!(
            (p.name, p.dialect, p.autocommit),
            ("create_providers", Dialect::All, true)
        );
        let p = parse_name("20190611004000_create_providers.mysql.autocommit.down.sql").unwrap();
        assert_eq!(
            (p.dialect, p.direction, p.autocommit),
            (Dialect::Other("mysql"), Direction::Down, true)
        );
        assert!(!parse_name("1_a.postgres.up.sql").unwrap().autocommit);

        let t = tempdir();
        write(
            t.path(),
            "20240101000000000000_t.up.sql",
            "create table t (a int);",
        );
        write(t.path(), "20240101000000000000_t.down.sql", "drop table t;");
        write(
            t.path(),
            "20240101000001000000_idx.postgres.autocommit.up.sql",
            "create index concurrently t_a on t (a);",
        );
        write(
            t.path(),
            "20240101000001000000_idx.postgres.autocommit.down.sql",
            "drop index concurrently t_a;",
        );
        let cockroach = write(
            t.path(),
            "20240101000001000000_idx.cockroach.autocommit.up.sql",
            "create index t_a on t (a);",
        );
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format(), FORMAT);
        assert_eq!(
            versions(&d),
            ["20240101000000000000", "20240101000001000000"]
        );
        let index = &d.migrations[1];
        assert_eq!(index.up.transaction, TransactionMode::AsWritten);
        assert_eq!(
            index.down.as_ref().unwrap().transaction,
            TransactionMode::AsWritten
        );
        assert_eq!(
            d.migrations[0].up.transaction,
            TransactionMode::StatementsInTransaction
        );
        assert_eq!(d.ignored, vec![cockroach]);
        assert!(
            d.detection.warnings.is_empty(),
            "{:?}",
            d.detection.warnings
        );
    }

    /// Pairs are sqlx's and golang-migrate's too: go.mod decides, or a dialect part.
    #[test]
    fn detected_by_go_mod_or_a_dialect_part() {
        let t = tempdir();
        std::fs::create_dir(t.path().join(".git")).unwrap();
        let dir = t.path().join("migrations");
        write(&dir, "1_a.up.sql", "select 1;");
        write(&dir, "1_a.down.sql", "select 1;");
        assert_eq!(discover(&dir, None).unwrap().format(), sqlx::FORMAT);
        let dialect = write(&dir, "2_b.postgres.up.sql", "select 2;");
        let d = discover(&dir, None).unwrap();
        assert_eq!(d.format(), FORMAT);
        assert_eq!(d.detection.basis, detect::Basis::Directory);
        std::fs::remove_file(dialect).unwrap();
        write(
            t.path(),
            "go.mod",
            "module x\n\ngo 1.22\n\nrequire github.com/gobuffalo/pop/v6 v6.1.1\n",
        );
        let d = discover(&dir, None).unwrap();
        assert_eq!(d.format(), FORMAT);
        assert_eq!(d.detection.basis, detect::Basis::Project);
        assert_ne!(d.format(), golang_migrate::FORMAT);
    }

    #[test]
    fn bookkeeping_as_pop_writes_it() {
        let t = tempdir();
        write(t.path(), "20240101000000_a.up.sql", "select 1;");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        assert_eq!(
            Pop.record_sql(&d.migrations, 0, true),
            "SET standard_conforming_strings = on;\n\
             insert into schema_migration (version) values ('20240101000000');"
        );
        assert!(
            Pop.record_sql(&d.migrations, 0, false)
                .ends_with("delete from schema_migration where version = '20240101000000';")
        );
        let create = Pop.create_sql();
        assert!(create.contains("\"version\" VARCHAR (14) NOT NULL,\nPRIMARY KEY(\"version\")"));
        assert!(create.contains(
            "UNIQUE INDEX IF NOT EXISTS \"schema_migration_version_idx\" ON \"schema_migration\" (version)"
        ));
        assert_eq!(FORMAT.history_table(), Some(TABLE));
    }
}
