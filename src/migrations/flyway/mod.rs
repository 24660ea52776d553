//! The Flyway layout: `V<version>__<description>.sql` files found recursively below the
//! migrations directory, `U<version>__<description>.sql` undo files as their downs and
//! `R__<description>.sql` repeatable migrations, with `${name}` placeholders replaced and each
//! migration's transaction decided the way Flyway's PostgreSQL support decides it. Flyway is
//! configured from a `flyway.conf` / `flyway.toml` as often as from code, so the naming,
//! locations and placeholders of such a file beside the migrations are honoured too; what only
//! Flyway itself can run (Java migrations, `COPY ... FROM STDIN` data, placeholders whose value
//! depends on Flyway's connection) is refused with the reason.
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

pub mod history;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::bookkeeping::Book;
use super::lexer::split_statements;
use super::{
    Entry, Evidence, Format, FormatSpec, Found, KeyPart, Listing, Migration, Script,
    Settings as AllSettings, Strength, Text, TransactionMode, Version, line_of_byte, lines,
    read_text,
};
use crate::error::InputError;

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
/// without a bound, this is deep enough for any layout seen in practice.
const DEPTH: usize = 8;

/// The callback events of Flyway's `Event` enum: `<event>.sql` or `<event>__<name>.sql` files
/// are callbacks run around migrations, not migrations.
const CALLBACK_EVENTS: &[&str] = &[
    "beforeClean",
    "afterClean",
    "afterCleanError",
    "beforeMigrate",
    "beforeEachMigrate",
    "beforeEachMigrateStatement",
    "afterEachMigrateStatement",
    "afterEachMigrateStatementError",
    "afterEachMigrate",
    "afterEachMigrateError",
    "beforeRepeatables",
    "afterVersioned",
    "afterMigrateApplied",
    "afterMigrate",
    "afterMigrateError",
    "beforeUndo",
    "beforeEachUndo",
    "beforeEachUndoStatement",
    "afterEachUndoStatement",
    "afterEachUndoStatementError",
    "afterEachUndo",
    "afterEachUndoError",
    "afterUndo",
    "afterUndoError",
    "beforeValidate",
    "afterValidate",
    "afterValidateError",
    "beforeBaseline",
    "afterBaseline",
    "afterBaselineError",
    "beforeRepair",
    "afterRepair",
    "afterRepairError",
    "beforeInfo",
    "afterInfo",
    "afterInfoError",
    "afterMigrateOperationFinish",
    "afterInfoOperationFinish",
    "createSchema",
    "beforeCreateSchema",
    "beforeConnect",
    "afterConnect",
];

/// Endings of Java-based migrations (compiled or not, Java or Kotlin).
const JAVA_SUFFIXES: &[&str] = &[".java", ".class", ".kt"];

/// The built-in placeholders whose value depends on Flyway's connection or run, which
/// migration-check cannot know (their names after `flyway:`, lower-case).
const CONNECTION_PLACEHOLDERS: &[&str] = &[
    "user",
    "database",
    "timestamp",
    "workingdirectory",
    "environment",
];

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
        let marker = listing
            .files()
            .find(|entry| match naming.parse(entry.name()) {
                FileName::Migration(name) => {
                    name.kind != Kind::Undo
                        && name.stem[naming.prefix(name.kind).len()..].contains(&naming.separator)
                }
                _ => false,
            });
        Ok(marker.map(|entry| Evidence::entry(entry, Strength::Marker)))
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

/// The three kinds of migration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `V<version>__<description>.sql`.
    Versioned,
    /// `U<version>__<description>.sql`: the down of the versioned migration of that version.
    Undo,
    /// `R__<description>.sql`.
    Repeatable,
}

/// A migration file name, split as Flyway splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MigrationName {
    kind: Kind,
    /// The version as written (empty for a repeatable migration).
    version: String,
    /// The description as written, `_` not yet read as spaces.
    description: String,
    /// The file name without its suffix.
    stem: String,
    /// The length of the suffix matched (`.sql`).
    suffix_len: usize,
}

impl MigrationName {
    /// The migration's version: dotted as Flyway displays it, ordered by its numeric parts
    /// without trailing zero parts; a repeatable one by its description.
    fn version(&self) -> Version {
        match self.kind {
            Kind::Repeatable => {
                Version::repeatable(&self.stem, &self.description.replace('_', " "))
            }
            Kind::Versioned | Kind::Undo => {
                let text = self.version.replace('_', ".");
                let mut key: Vec<KeyPart> = text.split('.').map(KeyPart::digits).collect();
                while key.len() > 1 && key.last() == Some(&KeyPart::digits("0")) {
                    key.pop();
                }
                Version::with_key(&text, key)
            }
        }
    }
}

/// What a file name is to Flyway.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FileName {
    /// A migration.
    Migration(MigrationName),
    /// A SQL callback (`afterMigrate.sql`).
    Callback,
    /// A Java-based migration.
    Java,
    /// A SQL file with a migration prefix whose name does not parse, with Flyway's reason;
    /// `meant` when it looks like a migration (a version or the separator follows the
    /// prefix), so that skipping it would hide a typo.
    Invalid { reason: String, meant: bool },
    /// A SQL file that names no migration (`seed.sql`).
    OtherSql,
    /// Not a SQL file.
    Other,
}

/// File naming: Flyway's prefixes, separator and suffixes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Naming {
    versioned: String,
    undo: String,
    repeatable: String,
    separator: String,
    suffixes: Vec<String>,
}

impl Default for Naming {
    fn default() -> Self {
        Naming {
            versioned: "V".to_string(),
            undo: "U".to_string(),
            repeatable: "R".to_string(),
            separator: "__".to_string(),
            suffixes: vec![".sql".to_string()],
        }
    }
}

impl Naming {
    /// The prefix of a kind of migration.
    fn prefix(&self, kind: Kind) -> &str {
        match kind {
            Kind::Versioned => &self.versioned,
            Kind::Undo => &self.undo,
            Kind::Repeatable => &self.repeatable,
        }
    }

    /// Classifies a file name as Flyway's `ResourceNameParser` does.
    fn parse(&self, name: &str) -> FileName {
        let kinds = [Kind::Versioned, Kind::Undo, Kind::Repeatable];
        let migration_prefix = |stem: &str| {
            kinds
                .iter()
                .copied()
                .filter(|kind| !self.prefix(*kind).is_empty())
                .filter(|kind| stem.starts_with(self.prefix(*kind)))
                .max_by_key(|kind| self.prefix(*kind).len())
        };
        if let Some(stem) = JAVA_SUFFIXES.iter().find_map(|s| name.strip_suffix(s)) {
            return match migration_prefix(stem) {
                Some(kind) if self.looks_meant(&stem[self.prefix(kind).len()..], kind) => {
                    FileName::Java
                }
                _ => FileName::Other,
            };
        }
        let lower = name.to_lowercase();
        let Some(suffix_len) = self
            .suffixes
            .iter()
            .find(|s| lower.ends_with(&s.to_lowercase()) && name.len() > s.len())
            .map(String::len)
        else {
            return FileName::Other;
        };
        let Some(stem) = name.get(..name.len() - suffix_len) else {
            return FileName::Other;
        };
        let callback = CALLBACK_EVENTS
            .iter()
            .filter(|event| stem.starts_with(**event))
            .map(|event| event.len())
            .max();
        let kind = migration_prefix(stem);
        let prefix_len = kind.map_or(0, |kind| self.prefix(kind).len());
        if callback.is_some_and(|len| len >= prefix_len) {
            return FileName::Callback;
        }
        let Some(kind) = kind else {
            return FileName::OtherSql;
        };
        let rest = &stem[prefix_len..];
        let (version, description) = rest
            .split_once(self.separator.as_str())
            .unwrap_or((rest, ""));
        let suffix = &name[name.len() - suffix_len..];
        let prefix = self.prefix(kind);
        let example = if description.is_empty() {
            "description"
        } else {
            description
        };
        let invalid = |reason: String| FileName::Invalid {
            reason,
            meant: self.looks_meant(rest, kind),
        };
        if kind == Kind::Repeatable {
            if !version.is_empty() {
                return invalid(format!(
                    "Invalid repeatable migration / callback name format: {name} (It cannot \
                     contain a version and should look like this: {prefix}{}{example}{suffix})",
                    self.separator
                ));
            }
        } else if version.is_empty() {
            return invalid(format!(
                "Invalid versioned migration name format: {name} (It must contain a version \
                 and should look like this: {prefix}1.2{}{example}{suffix})",
                self.separator
            ));
        } else if !is_valid_version(version) {
            return invalid(format!(
                "Invalid versioned migration name format: {name} (could not recognise version \
                 number {version})"
            ));
        }
        FileName::Migration(MigrationName {
            kind,
            version: version.to_string(),
            description: description.to_string(),
            stem: stem.to_string(),
            suffix_len,
        })
    }

    /// Whether what follows a migration prefix looks meant as a migration name: a digit (a
    /// version) or the separator follows it, or the separator appears.
    fn looks_meant(&self, rest: &str, kind: Kind) -> bool {
        rest.contains(self.separator.as_str())
            || (kind != Kind::Repeatable && rest.starts_with(|c: char| c.is_ascii_digit()))
    }
}

/// Whether Flyway reads `version` as a version: parts of digits separated by `.` or `_`.
fn is_valid_version(version: &str) -> bool {
    version
        .split(['.', '_'])
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

/// A value from Flyway's configuration file, with where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Setting {
    value: String,
    line: Option<usize>,
}

/// Flyway's configuration as far as it matters here: the defaults, overridden by a
/// `flyway.toml` or `flyway.conf` in the migrations directory or its parent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Config {
    /// The configuration file read, if any.
    file: Option<PathBuf>,
    naming: Naming,
    /// `locations` that are `filesystem:` ones, as written (relative to the file's directory).
    locations: Vec<Setting>,
    /// `placeholders.<name>`, by lower-case name.
    placeholders: BTreeMap<String, Setting>,
    placeholder_prefix: String,
    placeholder_suffix: String,
    placeholder_separator: String,
    placeholder_replacement: bool,
    mixed: bool,
    execute_in_transaction: bool,
    /// `defaultSchema`, else the first of `schemas`.
    default_schema: Option<String>,
    table: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            file: None,
            naming: Naming::default(),
            locations: Vec::new(),
            placeholders: BTreeMap::new(),
            placeholder_prefix: "${".to_string(),
            placeholder_suffix: "}".to_string(),
            placeholder_separator: ":".to_string(),
            placeholder_replacement: true,
            mixed: false,
            execute_in_transaction: true,
            default_schema: None,
            table: None,
        }
    }
}

impl Config {
    /// The configuration for migrations in `dir`: the nearest `flyway.toml` (preferred, as the
    /// command line prefers TOML) or `flyway.conf` in `dir` or its parent, else the defaults.
    fn load(dir: &Path) -> Result<Config, InputError> {
        let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        for candidate in absolute.ancestors().take(2) {
            for name in ["flyway.toml", "flyway.conf"] {
                let shown = if candidate == absolute {
                    dir.join(name)
                } else {
                    dir.join("..").join(name)
                };
                if candidate.join(name).is_file() {
                    let text = read_text(&shown)?;
                    let mut config = Config {
                        file: Some(shown.clone()),
                        ..Config::default()
                    };
                    if name.ends_with(".toml") {
                        config.read_toml(&shown, &text)?;
                    } else {
                        for property in properties(&text.sql) {
                            if let Some(key) = property.key.strip_prefix("flyway.") {
                                config.set(&shown, key, property.value, Some(property.line))?;
                            }
                        }
                    }
                    return Ok(config);
                }
            }
        }
        Ok(Config::default())
    }

    /// Reads the `[flyway]` table (and `[environments.<environment>] schemas`) of a
    /// `flyway.toml`.
    fn read_toml(&mut self, path: &Path, text: &Text) -> Result<(), InputError> {
        let table: toml::Table = toml::from_str(&text.sql).map_err(|e| InputError {
            path: path.to_path_buf(),
            line: e.span().map(|span| line_of_byte(&text.sql, span.start)),
            message: format!("invalid flyway.toml: {}", e.message().trim()),
        })?;
        let Some(flyway) = table.get("flyway").and_then(toml::Value::as_table) else {
            return Ok(());
        };
        for (key, value) in flyway {
            match (key.as_str(), value) {
                ("placeholders", toml::Value::Table(placeholders)) => {
                    for (name, value) in placeholders {
                        self.set(
                            path,
                            &format!("placeholders.{name}"),
                            toml_text(value),
                            None,
                        )?;
                    }
                }
                (_, toml::Value::Table(_)) => {}
                _ => self.set(path, key, toml_text(value), None)?,
            }
        }
        let environment = flyway
            .get("environment")
            .and_then(toml::Value::as_str)
            .unwrap_or("default");
        let schemas = table
            .get("environments")
            .and_then(|e| e.get(environment))
            .and_then(|e| e.get("schemas"));
        if let Some(schemas) = schemas
            && self.default_schema.is_none()
        {
            self.set(path, "schemas", toml_text(schemas), None)?;
        }
        Ok(())
    }

    /// Applies one setting (its key without `flyway.`); keys that do not matter here are
    /// ignored, values that cannot be honoured are an error at their line.
    fn set(
        &mut self,
        path: &Path,
        key: &str,
        value: String,
        line: Option<usize>,
    ) -> Result<(), InputError> {
        let error = |message: String| InputError {
            path: path.to_path_buf(),
            line,
            message,
        };
        let flag = |value: &str| match value.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(error(format!(
                "`{key}` must be true or false, not `{value}`"
            ))),
        };
        let list = |value: &str| -> Vec<String> {
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        if let Some(name) = key.strip_prefix("placeholders.") {
            self.placeholders
                .insert(name.to_lowercase(), Setting { value, line });
            return Ok(());
        }
        match key {
            "locations" => {
                self.locations = list(&value)
                    .into_iter()
                    .filter_map(|l| l.strip_prefix("filesystem:").map(str::to_string))
                    .map(|value| Setting { value, line })
                    .collect();
            }
            "sqlMigrationPrefix" => self.naming.versioned = value,
            "undoSqlMigrationPrefix" => self.naming.undo = value,
            "repeatableSqlMigrationPrefix" => self.naming.repeatable = value,
            "sqlMigrationSeparator" if value.is_empty() => {
                return Err(error("`sqlMigrationSeparator` cannot be empty".to_string()));
            }
            "sqlMigrationSeparator" => self.naming.separator = value,
            "sqlMigrationSuffixes" => self.naming.suffixes = list(&value),
            "placeholderPrefix" => self.placeholder_prefix = value,
            "placeholderSuffix" => self.placeholder_suffix = value,
            "placeholderSeparator" => self.placeholder_separator = value,
            "placeholderReplacement" => self.placeholder_replacement = flag(&value)?,
            "mixed" => self.mixed = flag(&value)?,
            "executeInTransaction" => self.execute_in_transaction = flag(&value)?,
            "defaultSchema" => self.default_schema = Some(value.trim().to_string()),
            "schemas" if self.default_schema.is_none() => {
                self.default_schema = list(&value).into_iter().next();
            }
            "table" => self.table = Some(value.trim().to_string()),
            "encoding" => check_encoding(&value).map_err(error)?,
            _ => {}
        }
        if self.placeholder_prefix.is_empty() || self.placeholder_suffix.is_empty() {
            return Err(error(
                "placeholder prefix and suffix cannot be empty".to_string(),
            ));
        }
        Ok(())
    }

    /// The parts of the migrations directory Flyway scans, as `/`-separated prefixes of
    /// relative paths; None for all of it (no `filesystem:` location, or one holding the
    /// directory). A location outside it that exists is an error: Flyway would read
    /// migrations there that migration-check does not see.
    fn scanned_dirs(&self, dir: &Path) -> Result<Option<Vec<String>>, InputError> {
        let Some(file) = &self.file else {
            return Ok(None);
        };
        if self.locations.is_empty() {
            return Ok(None);
        }
        let base = file.parent().unwrap_or(Path::new("."));
        let migrations = normalize(dir);
        let mut inside = Vec::new();
        let mut covers_all = false;
        for location in &self.locations {
            let path = normalize(&base.join(&location.value));
            if migrations.starts_with(&path) {
                covers_all = true;
            } else if let Ok(rel) = path.strip_prefix(&migrations) {
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                inside.push(rel.join("/"));
            } else if path.is_dir() {
                return Err(InputError {
                    path: file.clone(),
                    line: location.line,
                    message: format!(
                        "location `filesystem:{}` is outside the migrations directory {}: Flyway \
                         also reads migrations from there, migration-check reads one directory; \
                         pass a directory that holds every location",
                        location.value,
                        dir.display()
                    ),
                });
            }
        }
        if covers_all {
            return Ok(None);
        }
        Ok(Some(inside))
    }

    /// The value of the placeholder `name` (as written between prefix and suffix) in `file`.
    fn placeholder(
        &self,
        name: &str,
        file: &str,
        settings: &Settings,
    ) -> Result<String, PlaceholderError> {
        let lower = name.to_lowercase();
        let configured = || {
            settings
                .placeholders
                .iter()
                .find(|(key, _)| key.to_lowercase() == lower)
                .map(|(_, value)| value.clone())
        };
        let builtin_prefix = format!("flyway{}", self.placeholder_separator).to_lowercase();
        if let Some(builtin) = lower.strip_prefix(&builtin_prefix) {
            return match builtin {
                "defaultschema" => Ok(self
                    .default_schema
                    .clone()
                    .unwrap_or_else(|| "public".to_string())),
                "table" => Ok(self
                    .table
                    .clone()
                    .unwrap_or_else(|| history::TABLE.to_string())),
                "filename" => Ok(file.to_string()),
                _ if CONNECTION_PLACEHOLDERS.contains(&builtin) => {
                    configured().ok_or(PlaceholderError::Connection)
                }
                _ => Err(PlaceholderError::UnknownBuiltin),
            };
        }
        if let Some(value) = configured() {
            return Ok(value);
        }
        match self.placeholders.get(&lower) {
            Some(setting) if setting.value.contains("${") => {
                Err(PlaceholderError::Environment(setting.clone()))
            }
            Some(setting) => Ok(setting.value.clone()),
            None => Err(PlaceholderError::Missing),
        }
    }
}

/// Why a placeholder has no value.
#[derive(Debug)]
enum PlaceholderError {
    /// Neither migration-check.toml nor the configuration file sets it.
    Missing,
    /// A `flyway:` name Flyway does not know.
    UnknownBuiltin,
    /// A built-in whose value depends on Flyway's connection, not set in migration-check.toml.
    Connection,
    /// The configuration file sets it from an environment variable.
    Environment(Setting),
}

/// A TOML value as the text Flyway's properties would hold (arrays joined by `,`).
fn toml_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(items) => items.iter().map(toml_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Refuses an `encoding` other than UTF-8: migration-check reads scripts as UTF-8.
fn check_encoding(value: &str) -> Result<(), String> {
    let normalized = value.trim().to_ascii_lowercase().replace(['-', '_'], "");
    if normalized == "utf8" {
        Ok(())
    } else {
        Err(format!(
            "encoding `{}` is not supported: migration-check reads migrations as UTF-8; convert \
             the files to UTF-8",
            value.trim()
        ))
    }
}

/// A path made absolute with `.` and `..` resolved lexically.
fn normalize(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut normalized = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normalized.pop();
            }
            other => normalized.push(other),
        }
    }
    normalized
}

/// One `key=value` line of a Java properties file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Property {
    key: String,
    value: String,
    /// The line the key is on.
    line: usize,
}

/// The properties of a Java properties file as Flyway reads its configuration: `#` and `!`
/// comment lines, `key=value`, `key: value` or `key value`, a trailing `\` continuing the
/// value on the next line; backslashes are otherwise kept as written (Flyway doubles them
/// before loading).
fn properties(text: &str) -> Vec<Property> {
    let mut result = Vec::new();
    let mut pending: Option<Property> = None;
    for line in lines(text) {
        let trimmed = line.text.trim();
        if let Some(mut property) = pending.take() {
            let (part, more) = continued(trimmed);
            property.value.push_str(part);
            if more {
                pending = Some(property);
            } else {
                result.push(property);
            }
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        let split = trimmed
            .find(|c: char| c == '=' || c == ':' || c.is_whitespace())
            .unwrap_or(trimmed.len());
        let key = trimmed[..split].to_string();
        let rest = trimmed[split..].trim_start();
        let rest = rest.strip_prefix(['=', ':']).map_or(rest, str::trim_start);
        let (value, more) = continued(rest);
        let property = Property {
            key,
            value: value.to_string(),
            line: line.number,
        };
        if more {
            pending = Some(property);
        } else {
            result.push(property);
        }
    }
    result.extend(pending);
    result
}

/// A value without its continuation backslash, and whether the value continues.
fn continued(value: &str) -> (&str, bool) {
    match value.strip_suffix('\\') {
        Some(part) => (part.trim_end(), true),
        None => (value, false),
    }
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
    let mut found = Found::default();
    let mut candidates = Vec::new();
    for entry in listing.files().filter(|e| in_scope(&e.rel)) {
        match config.naming.parse(entry.name()) {
            FileName::Migration(name) => candidates.push(Candidate { entry, name }),
            FileName::Java => return Err(java_migration(entry)),
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

/// The error for a Java-based migration.
fn java_migration(entry: &Entry) -> InputError {
    InputError::new(
        &entry.path,
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

/// A script's `<file>.conf`, as Flyway's `SqlScriptMetadata` reads it.
#[derive(Debug, Default)]
struct ScriptMetadata {
    execute_in_transaction: Option<bool>,
    placeholder_replacement: Option<bool>,
}

impl ScriptMetadata {
    /// Reads the `.conf` file beside `entry`, if there is one.
    fn read(listing: &Listing, entry: &Entry) -> Result<ScriptMetadata, InputError> {
        let mut metadata = ScriptMetadata::default();
        let Some(conf) = listing.get(&format!("{}.conf", entry.rel)) else {
            return Ok(metadata);
        };
        for property in properties(&conf.text()?.sql) {
            let error = |message: String| InputError::at_line(&conf.path, property.line, message);
            let flag = || match property.value.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(error(format!(
                    "`{}` must be true or false, not `{other}`",
                    property.key
                ))),
            };
            match property.key.as_str() {
                "executeInTransaction" => metadata.execute_in_transaction = Some(flag()?),
                "placeholderReplacement" => metadata.placeholder_replacement = Some(flag()?),
                "encoding" => check_encoding(&property.value).map_err(error)?,
                "shouldExecute" if property.value.trim().eq_ignore_ascii_case("true") => {}
                "shouldExecute" => {
                    return Err(error(
                        "`shouldExecute` conditions are not supported: migration-check runs \
                         every migration; remove it or verify with the `command` format"
                            .to_string(),
                    ));
                }
                other => {
                    return Err(error(format!(
                        "Unknown script configuration property: {other} (Flyway knows \
                         executeInTransaction, encoding, placeholderReplacement and shouldExecute)"
                    )));
                }
            }
        }
        Ok(metadata)
    }
}

/// `sql` with its placeholders replaced, as Flyway's `PlaceholderReplacingReader` replaces
/// them: everywhere in the text, comments and strings included. A value without line breaks
/// keeps every line where it was.
fn replace_placeholders(
    sql: &str,
    path: &Path,
    file: &str,
    config: &Config,
    settings: &Settings,
) -> Result<String, InputError> {
    let prefix = config.placeholder_prefix.as_str();
    let suffix = config.placeholder_suffix.as_str();
    let mut result = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(start) = rest.find(prefix) {
        let offset = sql.len() - rest.len() + start;
        result.push_str(&rest[..start]);
        let after = &rest[start + prefix.len()..];
        let (name, next) = match after.find(suffix) {
            Some(end) => (&after[..end], &after[end + suffix.len()..]),
            None => (after, ""),
        };
        let shown = format!("{prefix}{name}{suffix}");
        let at = |message: String| InputError::at_line(path, line_of_byte(sql, offset), message);
        let value = config
            .placeholder(name, file, settings)
            .map_err(|e| match e {
                PlaceholderError::Missing => at(format!(
                    "No value provided for placeholder: {shown}; set it under \
                 [flyway.placeholders] in migration-check.toml{}",
                    config
                        .file
                        .as_ref()
                        .map(|f| format!(" or in {}", f.display()))
                        .unwrap_or_default()
                )),
                PlaceholderError::UnknownBuiltin => at(format!(
                    "Failed to populate value for default placeholder: {shown} (Flyway has no such \
                 built-in placeholder)"
                )),
                PlaceholderError::Connection => at(format!(
                    "{shown} is filled by Flyway from its connection or run, which migration-check \
                 cannot know; set the value to use under [flyway.placeholders] in \
                 migration-check.toml (`\"{name}\" = \"...\"`)"
                )),
                PlaceholderError::Environment(setting) => at(format!(
                    "placeholder {shown} is set from the environment in {}{} (`{}`), which \
                 migration-check never reads; set it under [flyway.placeholders] in \
                 migration-check.toml",
                    config
                        .file
                        .as_ref()
                        .map(|f| f.display().to_string())
                        .unwrap_or_default(),
                    setting.line.map(|l| format!(":{l}")).unwrap_or_default(),
                    setting.value
                )),
            })?;
        result.push_str(&value);
        rest = next;
    }
    result.push_str(rest);
    Ok(result)
}

/// What Flyway's PostgreSQL parser makes of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatementKind {
    /// Runs inside a transaction.
    Transactional,
    /// Cannot run inside a transaction block.
    NonTransactional,
    /// `COPY ... FROM STDIN`, whose rows follow in the script.
    CopyFromStdin,
}

/// How many leading keywords Flyway's parser looks at (`getTransactionalDetectionCutoff`).
const KEYWORD_CUTOFF: usize = 10;

/// Classifies a statement by its leading keywords, as Flyway matches them after each keyword.
fn statement_kind(code: &str) -> StatementKind {
    let keywords = leading_keywords(code, KEYWORD_CUTOFF);
    for end in 1..=keywords.len() {
        let words: Vec<&str> = keywords[..end].iter().map(String::as_str).collect();
        let copy = words.len() >= 3 && words[0] == "COPY" && words.ends_with(&["FROM", "STDIN"]);
        if copy {
            return StatementKind::CopyFromStdin;
        }
        let non_transactional = matches!(
            words.as_slice(),
            [
                "CREATE" | "DROP",
                "DATABASE" | "TABLESPACE" | "SUBSCRIPTION"
            ] | ["ALTER", "SYSTEM"]
                | ["CREATE" | "DROP", "INDEX", "CONCURRENTLY"]
                | ["CREATE" | "DROP", "UNIQUE", "INDEX", "CONCURRENTLY"]
                | ["REINDEX", "SCHEMA" | "DATABASE" | "SYSTEM"]
                | ["REINDEX", "VERBOSE", "SCHEMA" | "DATABASE" | "SYSTEM"]
                | ["VACUUM"]
                | ["DISCARD", "ALL"]
        );
        if non_transactional {
            return StatementKind::NonTransactional;
        }
    }
    StatementKind::Transactional
}

/// The first `limit` keywords of a statement as Flyway's parser sees them: upper-cased bare
/// words of letters and `_` at parenthesis depth 0. Strings, quoted names, comments, numbers
/// and dotted names are skipped.
fn leading_keywords(code: &str, limit: usize) -> Vec<String> {
    let bytes = code.as_bytes();
    let mut keywords = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let skip_to = |from: usize, end: &str| {
        code[from..]
            .find(end)
            .map_or(code.len(), |at| from + at + end.len())
    };
    while i < bytes.len() && keywords.len() < limit {
        let rest = &code[i..];
        let c = bytes[i];
        if rest.starts_with("--") {
            i = skip_to(i, "\n");
        } else if rest.starts_with("/*") {
            i = skip_block_comment(code, i);
        } else if c == b'\'' {
            i = skip_quoted(code, i + 1, b'\'', false);
        } else if (c == b'E' || c == b'e') && rest[1..].starts_with('\'') {
            i = skip_quoted(code, i + 2, b'\'', true);
        } else if c == b'"' {
            i = skip_quoted(code, i + 1, b'"', false);
        } else if c == b'$' {
            match dollar_tag(rest) {
                Some(tag) => i = skip_to(i + tag.len(), tag),
                None => i += 1,
            }
        } else if c == b'(' {
            depth += 1;
            i += 1;
        } else if c == b')' {
            depth = depth.saturating_sub(1);
            i += 1;
        } else if let Some(ch) = rest.chars().next()
            && (ch.is_alphabetic() || ch == '_')
        {
            let len = rest
                .find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '$'))
                .unwrap_or(rest.len());
            let word = &rest[..len];
            i += len;
            let dotted = code[i..].starts_with('.');
            if dotted {
                // `schema.table`: one identifier with its further parts.
                while code[i..].starts_with('.') {
                    i += 1;
                    let part = code[i..]
                        .find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '$'))
                        .unwrap_or(code.len() - i);
                    if part == 0 && code[i..].starts_with('"') {
                        i = skip_quoted(code, i + 1, b'"', false);
                    } else {
                        i += part;
                    }
                }
            }
            let keyword = !dotted && word.chars().all(|ch| ch.is_alphabetic() || ch == '_');
            if keyword && depth == 0 {
                keywords.push(word.to_uppercase());
            }
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    keywords
}

/// The opening `$tag$` of a dollar-quoted string at the start of `rest`, if it is one.
fn dollar_tag(rest: &str) -> Option<&str> {
    let body = rest.strip_prefix('$')?;
    let len = body
        .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
        .unwrap_or(body.len());
    if body.starts_with(|ch: char| ch.is_ascii_digit()) || !body[len..].starts_with('$') {
        return None;
    }
    Some(&rest[..len + 2])
}

/// The byte after a (possibly nested) block comment starting at `start`.
fn skip_block_comment(code: &str, start: usize) -> usize {
    let bytes = code.as_bytes();
    let mut depth = 0usize;
    let mut i = start;
    while i + 1 < bytes.len() {
        if bytes[i] == b'/' && bytes[i + 1] == b'*' {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes[i + 1] == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    code.len()
}

/// The byte after the closing `quote` of a quoted text whose content starts at `from`; a
/// doubled quote is part of the text, and with `backslash` so is an escaped one.
fn skip_quoted(code: &str, from: usize, quote: u8, backslash: bool) -> usize {
    let bytes = code.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        if backslash && bytes[i] == b'\\' {
            i += 2;
        } else if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    code.len()
}

/// Decides how Flyway runs a script: its `.conf` file's `executeInTransaction` first, then the
/// global `executeInTransaction`, then the statements: any that cannot run in a transaction
/// takes the script out of one, and both kinds together are an error unless `mixed`.
fn transaction_mode(
    sql: &str,
    path: &Path,
    config: &Config,
    metadata: &ScriptMetadata,
) -> Result<TransactionMode, InputError> {
    let mut first_transactional: Option<usize> = None;
    let mut first_non_transactional: Option<(usize, &str)> = None;
    for statement in split_statements(sql).iter().filter(|s| !s.is_empty()) {
        let code = &sql[statement.code.clone()];
        let line = line_of_byte(sql, statement.code.start);
        match statement_kind(code) {
            StatementKind::CopyFromStdin => {
                return Err(InputError::at_line(
                    path,
                    line,
                    "COPY ... FROM STDIN with its rows in the migration: Flyway sends the rows \
                     itself, migration-check cannot; load the data with INSERT statements, or \
                     verify with the `command` format running Flyway",
                ));
            }
            StatementKind::NonTransactional => {
                first_non_transactional.get_or_insert((line, code));
            }
            StatementKind::Transactional => {
                first_transactional.get_or_insert(line);
            }
        }
        let mixed_check = !config.mixed
            && metadata.execute_in_transaction.is_none()
            && config.execute_in_transaction;
        if let (Some(_), Some((non_line, non_code))) =
            (first_transactional, first_non_transactional)
            && mixed_check
        {
            let words = non_code
                .split_whitespace()
                .take(4)
                .collect::<Vec<_>>()
                .join(" ");
            return Err(InputError::at_line(
                path,
                line,
                format!(
                    "Detected both transactional and non-transactional statements within the \
                     same migration (even though mixed is false): Flyway refuses to run it. The \
                     statement on line {non_line} (`{words} ...`) cannot run in a transaction; \
                     move it into a migration of its own, add `executeInTransaction=false` to \
                     a `{}.conf` file beside this one, or set `mixed=true` in Flyway's \
                     configuration",
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ),
            ));
        }
    }
    let in_transaction = match metadata.execute_in_transaction {
        Some(explicit) => explicit,
        None => config.execute_in_transaction && first_non_transactional.is_none(),
    };
    Ok(if in_transaction {
        TransactionMode::Wrapped
    } else {
        TransactionMode::None
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{discover, one_migration, tempdir, versions, write};
    use super::*;
    use std::sync::Arc;

    /// Discovery with `[flyway.placeholders]` from migration-check.toml.
    fn discover_with(
        dir: &Path,
        placeholders: &[(&str, &str)],
    ) -> Result<super::super::Discovered, InputError> {
        let mut settings = AllSettings::default();
        for (name, value) in placeholders {
            settings
                .flyway
                .placeholders
                .insert(name.to_string(), value.to_string());
        }
        super::super::discover(dir, Some(FORMAT), &Arc::new(settings))
    }

    fn one(name: &str, contents: &str) -> Migration {
        one_migration(FORMAT, name, contents)
    }

    fn error(files: &[(&str, &str)]) -> (InputError, PathBuf) {
        let t = tempdir();
        for (name, contents) in files {
            write(t.path(), name, contents);
        }
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        (err, t.path().to_path_buf())
    }

    #[test]
    fn versions_are_numeric_parts_with_underscores_as_dots() {
        let t = tempdir();
        for name in [
            "V1_10__ten.sql",
            "V1_9__nine.sql",
            "V1.2__two.sql",
            "V2__b.sql",
            "V10__c.sql",
            "V123456789012345678901234567890__huge.sql",
            "V1__first.SQL",
            "R__views.sql",
            "R__a_functions.sql",
        ] {
            write(t.path(), name, "select 1;");
        }
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format(), FORMAT);
        assert_eq!(
            versions(&d),
            [
                "1",
                "1.2",
                "1.9",
                "1.10",
                "2",
                "10",
                "123456789012345678901234567890",
                "R__a_functions",
                "R__views"
            ]
        );
        assert!(d.migrations[7].version.is_repeatable());
        assert_eq!(d.migrations[3].name, "ten");
        assert!(d.migrations.iter().all(|m| m.down.is_none()));
    }

    #[test]
    fn trailing_zero_parts_do_not_count() {
        let v = |name: &str| match Naming::default().parse(name) {
            FileName::Migration(n) => n.version(),
            other => panic!("{other:?}"),
        };
        assert!(v("V1__a.sql").same_key(&v("V1.0__b.sql")));
        assert!(v("V1__a.sql").same_key(&v("V1_0_0__b.sql")));
        assert!(v("V01__a.sql").same_key(&v("V1__b.sql")));
        assert!(!v("V1__a.sql").same_key(&v("V1.0.1__b.sql")));
        assert!(v("V0__a.sql") < v("V0.1__a.sql"));
        assert_eq!(v("V1_0__a.sql").text, "1.0");
    }

    #[test]
    fn naming_rules() {
        let n = Naming::default();
        let kind = |name: &str| match n.parse(name) {
            FileName::Migration(m) => format!("{:?} {} {}", m.kind, m.version, m.description),
            FileName::Invalid { meant, .. } => format!("invalid meant={meant}"),
            other => format!("{other:?}"),
        };
        assert_eq!(kind("V1__a_b.sql"), "Versioned 1 a_b");
        assert_eq!(kind("V1.sql"), "Versioned 1 ");
        assert_eq!(kind("V1__a__b.sql"), "Versioned 1 a__b");
        assert_eq!(kind("U1__a.sql"), "Undo 1 a");
        assert_eq!(kind("R__a.sql"), "Repeatable  a");
        // Prefixes are case-sensitive, the suffix is not.
        assert_eq!(kind("v1__a.sql"), "OtherSql");
        assert_eq!(kind("V1__a.Sql"), "Versioned 1 a");
        assert_eq!(kind("V1_a.sql"), "invalid meant=true");
        assert_eq!(kind("V__a.sql"), "invalid meant=true");
        assert_eq!(kind("R1__a.sql"), "invalid meant=true");
        assert_eq!(kind("Views.sql"), "invalid meant=false");
        assert_eq!(kind("README.sql"), "invalid meant=false");
        assert_eq!(kind("seed.sql"), "OtherSql");
        assert_eq!(kind("afterMigrate.sql"), "Callback");
        assert_eq!(kind("beforeEachMigrate__grants.sql"), "Callback");
        assert_eq!(kind("V57__readme.md"), "Other");
        assert_eq!(kind("V1__Init.java"), "Java");
        assert_eq!(kind("V44_3_BackfillJobs.java"), "Java");
        assert_eq!(kind("R__Views.class"), "Java");
        assert_eq!(kind("Vendor.java"), "Other");
        assert_eq!(kind(".sql"), "Other");
    }

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
    fn statement_kinds_follow_flyways_keywords() {
        use StatementKind::*;
        for (sql, kind) in [
            ("create index concurrently i on t (x)", NonTransactional),
            (
                "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (x)",
                NonTransactional,
            ),
            ("drop index concurrently if exists i", NonTransactional),
            ("create index i on t (x)", Transactional),
            ("VACUUM ANALYZE t", NonTransactional),
            ("reindex (verbose) schema public", NonTransactional),
            ("reindex table t", Transactional),
            ("create database d", NonTransactional),
            ("alter system set work_mem = '1MB'", NonTransactional),
            ("discard all", NonTransactional),
            ("alter type mood add value 'x'", Transactional),
            ("copy t (a, b) from stdin", CopyFromStdin),
            ("copy public.t from stdin with csv", CopyFromStdin),
            ("copy t to stdout", Transactional),
            ("/* vacuum */ select 'vacuum'", Transactional),
            ("-- create index concurrently\nselect 1", Transactional),
            (
                "create /* c */ index concurrently i on t (x)",
                NonTransactional,
            ),
            ("do $$ begin vacuum; end $$", Transactional),
        ] {
            assert_eq!(statement_kind(sql), kind, "{sql}");
        }
        assert_eq!(
            leading_keywords("select a.b, \"X\", 1, f(x) from t2, t", 10),
            ["SELECT", "F", "FROM", "T"]
        );
    }

    #[test]
    fn transaction_modes() {
        let m = one(
            "V1__a.sql",
            "create table t (x int);\ninsert into t values (1);\n",
        );
        assert_eq!(m.up.transaction, TransactionMode::Wrapped);
        let m = one(
            "V1__a.sql",
            "-- no transaction\ncreate index concurrently i on t (x);\nvacuum t;\n",
        );
        assert_eq!(m.up.transaction, TransactionMode::None);
    }

    #[test]
    fn mixed_statements_are_refused_at_the_offending_line() {
        let (err, root) = error(&[(
            "V1__a.sql",
            "create table t (x int);\n\ncreate index concurrently i on t (x);\n",
        )]);
        assert_eq!(err.path, root.join("V1__a.sql"));
        assert_eq!(err.line, Some(3));
        assert!(
            err.message
                .contains("Detected both transactional and non-transactional statements"),
            "{err}"
        );
    }

    #[test]
    fn script_conf_and_mixed_setting() {
        let t = tempdir();
        write(
            t.path(),
            "V1__a.sql",
            "create table t (x int);\ncreate index concurrently i on t (x);\n",
        );
        write(
            t.path(),
            "V1__a.sql.conf",
            "# comment\nexecuteInTransaction=false\n",
        );
        write(t.path(), "V2__b.sql", "create table u (x int);\n");
        write(t.path(), "V2__b.sql.conf", "executeInTransaction = false\n");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.migrations[0].up.transaction, TransactionMode::None);
        assert_eq!(d.migrations[1].up.transaction, TransactionMode::None);

        let t = tempdir();
        write(
            t.path(),
            "sql/V1__a.sql",
            "create table t (x int);\ncreate index concurrently i on t (x);\n",
        );
        write(t.path(), "flyway.conf", "flyway.mixed=true\n");
        let d = discover(&t.path().join("sql"), None).unwrap();
        assert_eq!(d.migrations[0].up.transaction, TransactionMode::None);

        let (err, root) = error(&[("V1__a.sql", ""), ("V1__a.sql.conf", "\nfoo=bar\n")]);
        assert_eq!(err.path, root.join("V1__a.sql.conf"));
        assert_eq!(err.line, Some(2));
        assert!(
            err.message
                .contains("Unknown script configuration property: foo")
        );
    }

    #[test]
    fn placeholders_replaced_in_place_case_insensitively() {
        let t = tempdir();
        write(
            t.path(),
            "V1__a.sql",
            "-- owner ${Owner}\ncreate table ${flyway:defaultSchema}.t (x int);\n\
             comment on table t is '${flyway:filename} ${FLYWAY:TABLE}';\n",
        );
        let d = discover_with(t.path(), &[("owner", "app")]).unwrap();
        assert_eq!(
            d.migrations[0].up.sql,
            "-- owner app\ncreate table public.t (x int);\n\
             comment on table t is 'V1__a.sql flyway_schema_history';\n"
        );
    }

    #[test]
    fn placeholder_errors_name_file_and_line() {
        let t = tempdir();
        let path = write(t.path(), "V1__a.sql", "select 1;\nselect '${missing}';\n");
        let err = discover_with(t.path(), &[]).unwrap_err();
        assert_eq!((err.path.clone(), err.line), (path.clone(), Some(2)));
        assert!(
            err.message
                .contains("No value provided for placeholder: ${missing}"),
            "{err}"
        );
        write(
            t.path(),
            "V1__a.sql",
            "\n\ngrant all on t to ${flyway:user};\n",
        );
        let err = discover_with(t.path(), &[]).unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("${flyway:user}"), "{err}");
        let d = discover_with(t.path(), &[("flyway:user", "app")]).unwrap();
        assert!(d.migrations[0].up.sql.contains("to app;"));
        write(t.path(), "V1__a.sql", "select '${flyway:nope}';");
        let err = discover_with(t.path(), &[]).unwrap_err();
        assert!(
            err.message
                .contains("Failed to populate value for default placeholder")
        );
    }

    #[test]
    fn conf_file_naming_placeholders_and_locations() {
        let t = tempdir();
        write(
            t.path(),
            "flyway.conf",
            "flyway.locations=filesystem:db/main,classpath:x\n\
             flyway.sqlMigrationPrefix=M\n\
             flyway.sqlMigrationSeparator=-\n\
             flyway.placeholders.schema=app\n\
             flyway.placeholders.owner=from_conf\n",
        );
        write(
            t.path(),
            "db/main/M1-a.sql",
            "create schema ${schema}; -- ${owner}",
        );
        write(t.path(), "db/other/M2-b.sql", "select 2;");
        let d = discover_with(t.path(), &[("OWNER", "from_toml")]).unwrap();
        assert_eq!(versions(&d), ["1"]);
        assert_eq!(d.migrations[0].up.sql, "create schema app; -- from_toml");
        // Detected by the configuration file's naming; its own placeholder value applies.
        let d = super::super::discover(t.path(), None, &Arc::default()).unwrap();
        assert_eq!(d.format(), FORMAT);
        assert_eq!(d.migrations[0].up.sql, "create schema app; -- from_conf");
    }

    #[test]
    fn toml_config() {
        let t = tempdir();
        write(
            t.path(),
            "flyway.toml",
            "[environments.default]\nschemas = [\"app\", \"b\"]\n\n[flyway]\n\
             locations = [\"filesystem:migrations\"]\nsqlMigrationSuffixes = [\".pgsql\"]\n\n\
             [flyway.placeholders]\nGreeting = \"hi\"\n",
        );
        write(
            t.path(),
            "migrations/V1__a.pgsql",
            "select '${greeting}' from ${flyway:defaultSchema}.t;",
        );
        write(t.path(), "migrations/V2__b.sql", "not read");
        let d = discover(&t.path().join("migrations"), Some(FORMAT)).unwrap();
        assert_eq!(versions(&d), ["1"]);
        assert_eq!(d.migrations[0].up.sql, "select 'hi' from app.t;");
    }

    #[test]
    fn location_outside_the_directory_is_refused() {
        let t = tempdir();
        write(
            t.path(),
            "flyway.conf",
            "\nflyway.locations=filesystem:sql,filesystem:more\n",
        );
        write(t.path(), "sql/V1__a.sql", "select 1;");
        write(t.path(), "more/V2__b.sql", "select 2;");
        let err = discover(&t.path().join("sql"), Some(FORMAT)).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(
            err.message.contains("outside the migrations directory"),
            "{err}"
        );
    }

    #[test]
    fn properties_parsing() {
        let got: Vec<(String, String, usize)> =
            properties("# c\n! c\na=1\nb : 2\nc 3\nd=x,\\\n  y\n\ne=\n")
                .into_iter()
                .map(|p| (p.key, p.value, p.line))
                .collect();
        assert_eq!(
            got,
            [
                ("a".to_string(), "1".to_string(), 3),
                ("b".to_string(), "2".to_string(), 4),
                ("c".to_string(), "3".to_string(), 5),
                ("d".to_string(), "x,y".to_string(), 6),
                ("e".to_string(), String::new(), 9),
            ]
        );
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
