//! The Flyway layout: `V<version>__<description>.sql` files found recursively below the
//! migrations directory, `U<version>__<description>.sql` undo files as their downs and
//! `R__<description>.sql` repeatable migrations, with `${name}` placeholders replaced and each
//! migration's transaction decided the way Flyway's PostgreSQL support decides it. Flyway is
//! configured from a `flyway.conf` / `flyway.toml` as often as from code, so the naming,
//! locations and placeholders of such a file beside the migrations are honoured too; what only
//! Flyway itself can run (Java migrations, `COPY ... FROM STDIN` data, placeholders whose value
//! depends on Flyway's connection) is refused with the reason. `V<integer>__<word>.sql` names
//! are refinery's too: only a name refinery does not read is Flyway's marker, else detection
//! weighs the shared naming (and the project) as for any two tools of one naming.
//!
//! This file holds the format and discovery; what discovery draws on lives beside it, one
//! concern a file: `naming` (what a file name is to Flyway), `config` (Flyway's configuration
//! files), `placeholders` (`${name}` replacement), `parser` (the transaction Flyway's parser
//! decides) and `history` (Flyway's bookkeeping).
//!
//! Facts from Flyway's source (github.com/flyway/flyway, `flyway-core` unless noted):
//! - `api/MigrationVersion.java` (constructor, `tokenize`, `compareTo`): `_` in a version
//!   becomes `.` (also in the displayed text), the parts are `BigInteger`s compared in turn,
//!   trailing zero parts are dropped (`1` = `1.0`); any other character makes the version
//!   invalid.
//! - `internal/resource/ResourceNameParser.java` (`parse`, `stripSuffix`, `findPrefix`): the
//!   suffix (`.sql`) matches case-insensitively, prefixes case-sensitively, longest prefix
//!   first; the name splits at the first separator (`__`); a versioned name needs a version
//!   before it (`V1.sql` is valid, with an empty description), a repeatable one nothing;
//!   the description is the rest with `_` read as spaces. The prefixes include the callback
//!   events of `api/callback/Event.java` (`beforeMigrate.sql`, ...), which are not migrations.
//! - `internal/resource/ResourceNameValidator.java`: names that do not parse are skipped
//!   unless `validateMigrationNaming` is set (default false, `configuration/models/FlywayModel`
//!   `defaults`); we refuse the ones that look meant as migrations, since Flyway would
//!   silently never run them.
//! - `internal/resolver/CompositeMigrationResolver.java` (`checkForIncompatibilities`):
//!   "Found more than one migration with version %s" / "... repeatable migration with
//!   description %s"; `ResolvedMigrationComparator`: repeatables after versioned ones, by
//!   description.
//! - `internal/scanner/filesystem/FileSystemScanner.java` (`findResourceNamesFromFileSystem`):
//!   locations are scanned recursively, hidden directories skipped; `getResource`: a
//!   `<file>.conf` beside a script is its metadata (`internal/sqlscript/SqlScriptMetadata.java`:
//!   `executeInTransaction`, `encoding`, `placeholderReplacement`, `shouldExecute`, anything
//!   else is an unknown property).
//! - `flyway-database-postgresql/.../PostgreSQLParser.java` (`detectCanExecuteInTransaction`,
//!   `detectStatementType`) with `internal/parser/Parser.java` (`getNextStatement`): the
//!   upper-cased bare keywords at parenthesis depth 0 (words of letters and `_` only; quoted
//!   names, numbers and dotted names do not count), up to 10 of them, are matched after each
//!   keyword against `(CREATE|DROP) (DATABASE|TABLESPACE|SUBSCRIPTION)`, `ALTER SYSTEM`,
//!   `(CREATE|DROP)( UNIQUE)? INDEX CONCURRENTLY`, `REINDEX( VERBOSE)? (SCHEMA|DATABASE|SYSTEM)`,
//!   `VACUUM`, `DISCARD ALL` (and `ALTER TYPE ... ADD VALUE` before PostgreSQL 12 only, which
//!   migration-check's servers are not); such a statement cannot run in a transaction.
//!   `COPY ... FROM STDIN` carries its rows inline. `internal/sqlscript/ParserSqlScript.java`
//!   (`parse`, `executeInTransaction`): both kinds in one script is an error ("Detected both
//!   transactional and non-transactional statements within the same migration (even though
//!   mixed is false)") unless `mixed`, the script's `executeInTransaction` or the global
//!   `executeInTransaction=false` says otherwise; a script with a non-transactional statement
//!   runs without a transaction.
//! - `internal/parser/PlaceholderReplacingReader.java`: placeholders are replaced in the raw
//!   text (comments and strings included) before parsing; names are case-insensitive; an
//!   unknown one fails with "No value provided for placeholder: ${x}", an unknown `flyway:`
//!   one with "Failed to populate value for default placeholder"; `ParsingContext.java`: the
//!   built-ins `flyway:defaultSchema`, `user`, `database`, `timestamp`, `filename`,
//!   `workingDirectory`, `table`, `environment` override configured values.
//! - `internal/configuration/ConfigUtils.java`: `flyway.conf` is a properties file with
//!   `flyway.`-prefixed keys (`placeholders.<name>`) whose `${VAR}` are environment variables;
//!   `models/FlywayModel.java`: `flyway.toml` has the same keys in `[flyway]`, the default
//!   table is `flyway_schema_history`, the default location `db/migration` (classpath) and
//!   the command line's `sql` folder of its installation (`DEFAULT_CLI_SQL_LOCATION`).

mod config;
pub mod history;
mod naming;
mod parser;
mod placeholders;

use std::path::{Path, PathBuf};

use super::bookkeeping::Book;
use super::refinery;
use super::{
    Entry, Evidence, Format, FormatSpec, Found, Listing, Migration, Script,
    Settings as AllSettings, Strength, Version,
};
use crate::error::InputError;
use config::{Config, ScriptMetadata};
use naming::{FileName, Kind, MigrationName, Naming};
use parser::transaction_mode;
use placeholders::replace_placeholders;

/// The flyway format.
pub const FORMAT: Format = Format::new(&Flyway);

/// `[flyway]` in `migration-check.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `[flyway.placeholders]`: values for `${name}` (names case-insensitive, as Flyway).
    #[serde(default)]
    pub placeholders: std::collections::BTreeMap<String, String>,
}

/// flyway.
pub struct Flyway;

/// How many directory levels below the migrations directory are searched: Flyway recurses
/// without a bound.
const DEPTH: usize = super::RECURSIVE_DEPTH;

impl FormatSpec for Flyway {
    fn name(&self) -> &'static str {
        "flyway"
    }

    fn layout(&self) -> &'static str {
        "Flyway `V<version>__<description>.sql` files"
    }

    fn depth(&self) -> usize {
        DEPTH
    }

    fn default_dirs(&self) -> &'static [&'static str] {
        &["src/main/resources/db/migration", "db/migration"]
    }

    fn recognise(
        &self,
        listing: &Listing,
        _settings: &AllSettings,
    ) -> Result<Option<Evidence>, InputError> {
        // A broken configuration file is reported by discovery, not by detection.
        let naming = Config::load(&listing.dir)
            .map(|config| config.naming)
            .unwrap_or_default();
        // `V<version>__<description>.sql` or `R__<description>.sql`: the separator too, so
        // that a lone `V1.sql` or `R.sql` does not claim a directory.
        let named: Vec<(&Entry, MigrationName)> = listing
            .files()
            .filter_map(|entry| match naming.parse(entry.name()) {
                FileName::Migration(name)
                    if name.stem[naming.prefix(name.kind).len()..].contains(&naming.separator) =>
                {
                    Some((entry, name))
                }
                _ => None,
            })
            .collect();
        let versioned: Vec<Version> = named
            .iter()
            .filter(|(_, name)| name.kind == Kind::Versioned)
            .map(|(_, name)| name.version())
            .collect();
        // refinery reads `V<integer>__<word>.sql` too: only a name refinery does not read
        // (a dotted version, `R__`, an undo beside its versioned file) is Flyway's alone.
        let only_flyway = named.iter().find(|(entry, name)| match name.kind {
            Kind::Undo => versioned.iter().any(|v| v.same_key(&name.version())),
            Kind::Versioned | Kind::Repeatable => !refinery::reads_as_migration(entry.name()),
        });
        if let Some((entry, _)) = only_flyway {
            return Ok(Some(Evidence::entry(entry, Strength::Marker)));
        }
        let shared: Vec<&Entry> = named
            .iter()
            .filter(|(_, name)| name.kind != Kind::Undo)
            .map(|(entry, _)| *entry)
            .collect();
        Ok(shared
            .first()
            .map(|entry| Evidence::entry(entry, Strength::Naming).supported_by(shared.len())))
    }

    fn discover(&self, listing: &Listing, settings: &AllSettings) -> Result<Found, InputError> {
        let config = Config::load(&listing.dir)?;
        discover(listing, &config, &settings.flyway)
    }

    fn is_migration_path(&self, rel: &str, _settings: &AllSettings) -> bool {
        rel.matches('/').count() < DEPTH
            && matches!(
                Naming::default().parse(file_name(rel)),
                FileName::Migration(_)
            )
    }

    fn version_of_path(&self, rel: &str, settings: &AllSettings) -> Option<Version> {
        if !self.is_migration_path(rel, settings) {
            return None;
        }
        match Naming::default().parse(file_name(rel)) {
            FileName::Migration(name) => Some(name.version()),
            _ => None,
        }
    }

    /// The version (`1.2` for `sub/V1_2__users.sql` and `U1.2__users.sql`), or the name of a
    /// repeatable migration (`R__views`): an undo file belongs to its versioned migration, and
    /// a move between directories or a new description, which Flyway does not notice, is a
    /// rename.
    fn migration_key(&self, rel: &str, _settings: &AllSettings) -> String {
        match Naming::default().parse(file_name(rel)) {
            FileName::Migration(name) => name.version().text,
            _ => rel.to_string(),
        }
    }

    fn transaction_rule(&self) -> &'static str {
        "each migration in its own transaction, unless it holds a statement PostgreSQL cannot \
         run in one (CREATE INDEX CONCURRENTLY, VACUUM, ...): then without a transaction"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        Some(
            "`executeInTransaction=false` in a `<migration>.sql.conf` file beside the migration \
             (Flyway also detects CREATE INDEX CONCURRENTLY, VACUUM and the like by itself)",
        )
    }

    fn bookkeeping(&self) -> Option<Book> {
        Some(&Flyway)
    }

    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        vec![(format!("V{version}__{name}.sql"), String::new())]
    }
}

/// The last component of a `/`-separated relative path.
fn file_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

/// A migration file found: its entry and parsed name.
struct Candidate<'a> {
    entry: &'a Entry,
    name: MigrationName,
}

/// Builds the migrations of a Flyway directory from its listing. The result is not sorted.
fn discover(listing: &Listing, config: &Config, settings: &Settings) -> Result<Found, InputError> {
    let scanned = config.scanned_dirs(&listing.dir)?;
    let in_scope = |rel: &str| {
        scanned.as_ref().is_none_or(|dirs| {
            dirs.iter().any(|d| {
                d.is_empty()
                    || rel
                        .strip_prefix(d.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            })
        })
    };
    // A Maven or Gradle project's Java migrations of the same location run between the SQL
    // ones: without them, later SQL migrations fail on what they were to create.
    if let Some(java) = classpath_twins(&listing.dir)
        .iter()
        .find_map(|twin| java_migration_below(twin, config))
    {
        return Err(java_migration(&java));
    }
    let mut found = Found::default();
    let mut candidates = Vec::new();
    for entry in listing.files().filter(|e| in_scope(&e.rel)) {
        match config.naming.parse(entry.name()) {
            FileName::Migration(name) => candidates.push(Candidate { entry, name }),
            FileName::Java => return Err(java_migration(&entry.path)),
            FileName::Invalid {
                reason,
                meant: true,
            } => {
                return Err(InputError::new(
                    &entry.path,
                    format!(
                        "{reason}. Flyway skips such a file without running it; rename it, or \
                         start its name with `.` to have it ignored"
                    ),
                ));
            }
            FileName::Invalid { meant: false, .. } | FileName::Callback | FileName::OtherSql => {
                found.ignored.push(entry.path.clone());
            }
            FileName::Other => {}
        }
    }
    let mut versioned: Vec<(Version, &Candidate, Script)> = Vec::new();
    let mut undos: Vec<(Version, &Candidate, Script)> = Vec::new();
    for candidate in &candidates {
        let version = candidate.name.version();
        let script = script(listing, candidate, config, settings)?;
        let (list, what) = match candidate.name.kind {
            Kind::Undo => (&mut undos, "undo migration"),
            Kind::Versioned | Kind::Repeatable => (&mut versioned, "migration"),
        };
        if let Some((other, first, _)) = list.iter().find(|(v, _, _)| v.same_key(&version)) {
            let message = if version.is_repeatable() {
                format!(
                    "Found more than one repeatable migration with description {}: {} and {} \
                     (Flyway refuses to run); rename one of them",
                    candidate.name.description.replace('_', " "),
                    first.entry.path.display(),
                    candidate.entry.path.display()
                )
            } else {
                format!(
                    "Found more than one {what} with version {other}: {} and {} (Flyway refuses \
                     to run); give one of them another version",
                    first.entry.path.display(),
                    candidate.entry.path.display()
                )
            };
            return Err(InputError::new(&candidate.entry.path, message));
        }
        list.push((version, candidate, script));
    }
    let mut downs: Vec<Option<Script>> = vec![None; versioned.len()];
    for (version, candidate, script) in undos {
        let Some(index) = versioned
            .iter()
            .position(|(v, c, _)| c.name.kind == Kind::Versioned && v.same_key(&version))
        else {
            return Err(InputError::new(
                &candidate.entry.path,
                format!(
                    "undo migration of version {version} without a versioned migration of that \
                     version (expected a `{}{}{}...` file); add it or remove the undo file",
                    config.naming.versioned, candidate.name.version, config.naming.separator
                ),
            ));
        };
        downs[index] = Some(script);
    }
    for ((version, candidate, up), down) in versioned.into_iter().zip(downs) {
        found.migrations.push(Migration {
            version,
            name: candidate.name.description.clone(),
            up,
            down,
        });
    }
    Ok(found)
}

/// The directories where a Maven or Gradle project keeps the Java-based migrations of the
/// classpath location `dir` is in: `src/<set>/resources/db/migration` is the location
/// `db/migration`, which Flyway also scans in the compiled classes of `src/<set>/java/` and
/// `src/<set>/kotlin/`.
fn classpath_twins(dir: &Path) -> Vec<PathBuf> {
    let Ok(absolute) = std::path::absolute(dir) else {
        return Vec::new();
    };
    let parts: Vec<&std::ffi::OsStr> = absolute.iter().collect();
    let Some(at) = (0..parts.len().saturating_sub(2))
        .rev()
        .find(|&i| parts[i] == "src" && parts[i + 2] == "resources")
    else {
        return Vec::new();
    };
    ["java", "kotlin"]
        .iter()
        .map(|language| {
            let mut twin: PathBuf = parts[..at + 2].iter().collect();
            twin.push(language);
            twin.extend(&parts[at + 3..]);
            twin
        })
        .filter(|twin| twin.is_dir())
        .collect()
}

/// The first Java-based migration (by name) below `dir`, read as the migrations directory
/// is read (down to [`DEPTH`] levels).
fn java_migration_below(dir: &Path, config: &Config) -> Option<PathBuf> {
    let listing = Listing::read(dir, DEPTH).ok()?;
    listing
        .files()
        .find(|entry| matches!(config.naming.parse(entry.name()), FileName::Java))
        .map(|entry| entry.path.clone())
}

/// The error for a Java-based migration.
fn java_migration(path: &Path) -> InputError {
    InputError::new(
        path,
        "Java-based Flyway migration: Flyway compiles and runs it itself, which migration-check \
         cannot; verify this project with the `command` format running Flyway, or move Java \
         migrations out of the directory migration-check reads",
    )
}

/// The script of one migration file: placeholders replaced (unless switched off), its
/// transaction mode decided as Flyway decides it.
fn script(
    listing: &Listing,
    candidate: &Candidate,
    config: &Config,
    settings: &Settings,
) -> Result<Script, InputError> {
    let entry = candidate.entry;
    let text = entry.text()?;
    let metadata = ScriptMetadata::read(listing, entry)?;
    let replace = metadata
        .placeholder_replacement
        .unwrap_or(config.placeholder_replacement);
    let sql = if replace {
        replace_placeholders(&text.sql, &entry.path, entry.name(), config, settings)?
    } else {
        text.sql.clone()
    };
    let transaction = transaction_mode(&sql, &entry.path, config, &metadata)?;
    Ok(Script {
        path: entry.path.clone(),
        sql,
        line_offset: 0,
        byte_offset: text.bom_len,
        transaction,
        step: None,
    })
}

/// Test helpers shared by the files of this module.
#[cfg(test)]
mod test_support {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use super::FORMAT;
    use crate::error::InputError;
    use crate::migrations::test_util::{discover, tempdir, write};
    use crate::migrations::{Discovered, Settings};

    /// Discovery with `[flyway.placeholders]` from migration-check.toml.
    pub(super) fn discover_with(
        dir: &Path,
        placeholders: &[(&str, &str)],
    ) -> Result<Discovered, InputError> {
        let mut settings = Settings::default();
        for (name, value) in placeholders {
            settings
                .flyway
                .placeholders
                .insert(name.to_string(), value.to_string());
        }
        crate::migrations::discover(dir, Some(FORMAT), &Arc::new(settings))
    }

    /// The discovery error for a directory holding `files` (name, contents), with the
    /// directory.
    pub(super) fn error(files: &[(&str, &str)]) -> (InputError, PathBuf) {
        let t = tempdir();
        for (name, contents) in files {
            write(t.path(), name, contents);
        }
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        (err, t.path().to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{discover, tempdir, versions, write};
    use super::test_support::error;
    use super::*;

    #[test]
    fn scanned_recursively_with_other_files_reported() {
        let t = tempdir();
        write(t.path(), "V1__a.sql", "select 1;");
        write(t.path(), "2024/q1/V2__b.sql", "select 2;");
        write(t.path(), "V57__readme.md", "notes");
        write(t.path(), "afterMigrate.sql", "select 3;");
        write(t.path(), "seed.sql", "select 4;");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(versions(&d), ["1", "2"]);
        assert_eq!(d.migrations[1].up.path, t.path().join("2024/q1/V2__b.sql"));
        let mut ignored = d.ignored.clone();
        ignored.sort();
        assert_eq!(
            ignored,
            [t.path().join("afterMigrate.sql"), t.path().join("seed.sql")]
        );
    }

    #[test]
    fn undo_is_the_down_of_its_version() {
        let t = tempdir();
        write(t.path(), "V1__users.sql", "create table users();");
        write(t.path(), "U1.0__users.sql", "drop table users;");
        write(t.path(), "V2__x.sql", "select 1;");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(versions(&d), ["1", "2"]);
        let down = d.migrations[0].down.as_ref().unwrap();
        assert_eq!(down.path, t.path().join("U1.0__users.sql"));
        assert_eq!(down.sql, "drop table users;");
        assert!(d.migrations[1].down.is_none());
    }

    #[test]
    fn undo_without_versioned_is_refused() {
        let (err, root) = error(&[("V1__a.sql", ""), ("U2__b.sql", "")]);
        assert_eq!(err.path, root.join("U2__b.sql"));
        assert!(
            err.message.contains("without a versioned migration"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_versions_name_both_files() {
        let (err, root) = error(&[("V1__a.sql", ""), ("sub/V1.0__b.sql", "")]);
        assert!(
            err.message
                .contains("Found more than one migration with version 1"),
            "{err}"
        );
        assert!(
            err.message
                .contains(&root.join("V1__a.sql").display().to_string())
        );
        assert!(
            err.message
                .contains(&root.join("sub/V1.0__b.sql").display().to_string())
        );
        let (err, _) = error(&[("R__a_b.sql", ""), ("x/R__a_b.sql", "")]);
        assert!(
            err.message
                .contains("Found more than one repeatable migration with description a b"),
            "{err}"
        );
    }

    #[test]
    /// A Maven project keeps its Java migrations of `db/migration` in `src/main/java/db/migration`
    /// and its SQL ones in `src/main/resources/db/migration`: Flyway runs them together, so the
    /// SQL directory alone is refused, naming the Java file.
    fn java_migrations_of_the_same_classpath_location_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let sql = t.path().join("src/main/resources/db/migration");
        let java = t.path().join("src/main/java/db/migration");
        std::fs::create_dir_all(&sql).unwrap();
        std::fs::create_dir_all(&java).unwrap();
        std::fs::write(sql.join("V1__t.sql"), "create table t (a int);").unwrap();
        std::fs::write(sql.join("V3__idx.sql"), "create index on t (b);").unwrap();
        std::fs::write(java.join("Helper.java"), "class Helper {}").unwrap();
        assert!(super::super::test_util::discover(&sql, Some(FORMAT)).is_ok());
        std::fs::write(java.join("V2__Fill.java"), "class V2__Fill {}").unwrap();
        let err = super::super::test_util::discover(&sql, Some(FORMAT)).unwrap_err();
        assert!(
            err.path
                .ends_with("src/main/java/db/migration/V2__Fill.java"),
            "{err}"
        );
        assert!(err.message.contains("Java-based Flyway migration"), "{err}");
    }

    #[test]
    fn misnamed_migration_and_java_are_refused() {
        let (err, root) = error(&[("V1__a.sql", ""), ("V2_b.sql", "")]);
        assert_eq!(err.path, root.join("V2_b.sql"));
        assert!(
            err.message
                .contains("could not recognise version number 2_b"),
            "{err}"
        );
        let (err, root) = error(&[("V1__a.sql", ""), ("V2__Backfill.java", "")]);
        assert_eq!(err.path, root.join("V2__Backfill.java"));
        assert!(err.message.contains("Java-based"), "{err}");
    }

    #[test]
    fn non_utf8_names_the_line() {
        let t = tempdir();
        write(t.path(), "V1__a.sql", b"select 1;\n\xff");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert_eq!(err.path, t.path().join("V1__a.sql"));
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn paths_versions_and_keys() {
        let s = AllSettings::default();
        let f = Flyway;
        assert!(f.is_migration_path("V1__a.sql", &s));
        assert!(f.is_migration_path("a/b/U1__a.sql", &s));
        assert!(f.is_migration_path("R__v.sql", &s));
        assert!(!f.is_migration_path("V1__a.sql.conf", &s));
        assert!(!f.is_migration_path("afterMigrate.sql", &s));
        assert_eq!(f.version_of_path("x/V1_2__a.sql", &s).unwrap().text, "1.2");
        assert_eq!(f.version_of_path("U3__a.sql", &s).unwrap().text, "3");
        assert_eq!(f.migration_key("sub/V1_2__users.sql", &s), "1.2");
        assert_eq!(f.migration_key("U1.2__users.sql", &s), "1.2");
        assert_eq!(f.migration_key("R__views.sql", &s), "R__views");
        assert_eq!(f.migration_key("notes.txt", &s), "notes.txt");
    }

    #[test]
    fn sqlx_style_files_are_not_flyway() {
        let t = tempdir();
        write(t.path(), "1_a.sql", "select 1;");
        write(t.path(), "R.sql", "select 1;");
        write(t.path(), "V2.sql", "select 1;");
        write(t.path(), "U3__a.sql", "select 1;");
        let listing = Listing::read(t.path(), DEPTH).unwrap();
        assert_eq!(
            Flyway.recognise(&listing, &AllSettings::default()).unwrap(),
            None
        );
    }
}
