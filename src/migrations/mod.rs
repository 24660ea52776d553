//! Migration discovery. migration-check has to know, before it touches a database, which
//! migrations exist, in what order the migration tool would apply them, what SQL each up and
//! down script holds and whether the tool would wrap it in a transaction.
//!
//! A format is one file behind one trait, [`FormatSpec`]: how to recognise its layout, how to
//! discover and order its migrations, its transaction rule and non-transactional marker, its
//! bookkeeping table and the template of a new migration. [`Format::ALL`] is the registry;
//! adding a format is its file and one line there. The directory is read once into a
//! [`Listing`]; auto-detection lives in one place ([`detect`]) and never picks a format whose
//! markers the files contradict. Every problem with the input is an [`InputError`] naming the
//! file, and the line where one applies; nothing here panics on any input.

mod annotated;
pub mod atlas;
pub mod bookkeeping;
pub mod command;
pub mod dbmate;
pub mod detect;
pub mod diesel;
pub mod drizzle;
mod envsub;
pub mod flyway;
pub mod golang_migrate;
pub mod goose;
pub mod hasura;
pub mod knex;
pub mod lexer;
mod listing;
pub mod node_pg_migrate;
pub mod pattern;
pub mod pop;
pub mod prisma;
pub mod project;
pub mod refinery;
pub mod sequelize;
pub mod sql_migrate;
pub mod sqlx;
pub mod supabase;
pub mod typeorm;

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use crate::error::InputError;

pub use listing::{Entry, Listing, Text};
pub(crate) use listing::{
    FileKind, io_reason, is_own_file, line_of_byte, lines, read_text, split_version,
};

/// How strongly a directory's entries point at a format; auto-detection takes the strongest
/// level present and refuses to choose between two formats on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strength {
    /// Entries this format would read, though they fit it only loosely (digit-named
    /// directories without `up.sql`); used when nothing else matches.
    Hint,
    /// File names follow the format's naming (`.up.sql`/`.down.sql` pairs, plain
    /// `<version>_<name>.sql` files, `<version>_<name>/up.sql` directories, `V1__a.sql`).
    Naming,
    /// A file name or file only this tool uses (`V1.1__a.sql`, `migration_lock.toml`,
    /// `atlas.sum`, `diesel.toml`, `.postgres.up.sql`, `meta/_journal.json`), or its
    /// directory (`supabase/migrations`).
    Marker,
    /// The tool's own annotation inside a migration file (`-- +goose Up`,
    /// `-- migrate:up`): the most specific evidence there is.
    Annotation,
}

/// Why a directory looks like a format's: one entry as an example, and how many entries
/// say the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The example entry.
    pub path: PathBuf,
    /// The marker's line, for a marker inside a file.
    pub line: Option<usize>,
    /// How strongly it points at the format.
    pub strength: Strength,
    /// How many entries carry it (1 for a marker file): an annotation in one file of
    /// hundreds is not the directory's tool.
    pub support: usize,
}

impl Evidence {
    /// Evidence by an entry's name.
    pub fn entry(entry: &Entry, strength: Strength) -> Self {
        Evidence::file(&entry.path, strength)
    }

    /// Evidence by a file outside the listing (a tool's configuration).
    pub fn file(path: &Path, strength: Strength) -> Self {
        Evidence {
            path: path.to_path_buf(),
            line: None,
            strength,
            support: 1,
        }
    }

    /// Evidence by the tool's annotation at a line of a file.
    pub fn annotation(entry: &Entry, line: usize) -> Self {
        Evidence {
            path: entry.path.clone(),
            line: Some(line),
            strength: Strength::Annotation,
            support: 1,
        }
    }

    /// The same evidence, carried by `support` entries.
    pub fn supported_by(self, support: usize) -> Self {
        Evidence { support, ..self }
    }
}

/// Evidence from the top-level `.sql` files for which `line_of` finds a tool's annotation:
/// the first as the example, every one counted (see [`Evidence::support`]).
pub(crate) fn annotated_files(
    listing: &Listing,
    mut line_of: impl FnMut(&Entry, &str) -> Option<usize>,
) -> Result<Option<Evidence>, InputError> {
    let mut first: Option<Evidence> = None;
    let mut count = 0;
    for entry in listing
        .top_files()
        .filter(|e| sqlx::is_top_level_sql(&e.rel))
    {
        if let Some(line) = line_of(entry, &entry.text()?.sql) {
            count += 1;
            first.get_or_insert_with(|| Evidence::annotation(entry, line));
        }
    }
    Ok(first.map(|evidence| evidence.supported_by(count)))
}

/// How many directory levels below the migrations directory a format whose tool searches
/// recursively (Flyway, pop, refinery) reads: the tools recurse without a bound, this is
/// deep enough for any layout seen in practice.
pub(crate) const RECURSIVE_DEPTH: usize = 8;

/// What discovery found in a directory of one format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// The migrations, in any order (discovery sorts them).
    pub migrations: Vec<Migration>,
    /// Files that are not part of any migration and that the user should hear about (the
    /// `pattern` format lists files matching neither of its patterns).
    pub ignored: Vec<PathBuf>,
    /// What the tool would silently make of a file, worth a reviewer's word (`file:line:
    /// …`): a diesel `metadata.toml` diesel cannot parse runs in a transaction.
    pub warnings: Vec<String>,
}

impl From<Vec<Migration>> for Found {
    fn from(migrations: Vec<Migration>) -> Self {
        Found {
            warnings: Vec::new(),
            migrations,
            ignored: Vec::new(),
        }
    }
}

/// A migration tool's layout: everything migration-check needs to know about one format.
/// Implementations are unit structs in one file each, registered in [`Format::ALL`].
pub trait FormatSpec: Sync + Send + 'static {
    /// The name used on the command line, in `migration-check.toml` and in reports.
    fn name(&self) -> &'static str;

    /// The files its layout consists of, as one phrase for messages (`goose
    /// `<version>_<name>.sql` files with `-- +goose Up``).
    fn layout(&self) -> &'static str;

    /// How deep below the migrations directory its files sit: 1 for files directly in it,
    /// 2 for one directory per migration, more for tools that search recursively.
    fn depth(&self) -> usize {
        1
    }

    /// Directories, relative to the working directory, where the tool keeps its migrations
    /// by default, tried when the migrations directory given does not exist.
    fn default_dirs(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether the directory follows this layout, with an example entry. Only what the
    /// format itself knows: detection weighs the evidence of all formats.
    fn recognise(
        &self,
        listing: &Listing,
        settings: &Settings,
    ) -> Result<Option<Evidence>, InputError>;

    /// Reads the migrations of a directory of this layout; entries of another layout are an
    /// error naming the entry and the `--format` that reads it.
    fn discover(&self, listing: &Listing, settings: &Settings) -> Result<Found, InputError>;

    /// Whether a file, by its path relative to the migrations directory (`/`-separated), is
    /// part of a migration: what checksums and `migrations.sum` cover.
    fn is_migration_path(&self, rel: &str, settings: &Settings) -> bool;

    /// The version of the migration a file belongs to, by the same rules as discovery; None
    /// for a path that is not a migration file or carries no valid version.
    fn version_of_path(&self, rel: &str, settings: &Settings) -> Option<Version>;

    /// The migration a file belongs to, for telling a rename from an edit: by default the
    /// file name without `.up.sql`, `.down.sql` or `.sql`.
    fn migration_key(&self, rel: &str, _settings: &Settings) -> String {
        [".up.sql", ".down.sql", ".sql"]
            .iter()
            .find_map(|suffix| rel.strip_suffix(suffix))
            .unwrap_or(rel)
            .to_string()
    }

    /// For a tool whose files hold an up and a down section marked by its annotations: the
    /// byte offset where the down section of `sql` starts, if it has one. Detection warns
    /// about (or refuses) another tool's files read by a tool that runs files whole.
    fn down_section_start(&self, _sql: &str) -> Option<usize> {
        None
    }

    /// Whether the tool reads its files as annotated sections (then another tool's
    /// annotation in one is only a comment to it).
    fn reads_sections(&self) -> bool {
        false
    }

    /// When the tool wraps a script in a transaction, in one sentence (README, `--help`).
    fn transaction_rule(&self) -> &'static str;

    /// The marker that takes a script out of the tool's transaction, if the format has one.
    fn no_transaction_marker(&self) -> Option<&'static str>;

    /// The table where the tool records applied migrations (`schema.table` when it lives
    /// outside the search path), if it keeps one: by default its bookkeeping's.
    fn history_table(&self) -> Option<&'static str> {
        self.bookkeeping().map(|book| book.table())
    }

    /// How the tool records applied migrations, read and written by `migrate` exactly as
    /// the tool does; none for a tool whose table `migrate` does not write (or that keeps
    /// none).
    fn bookkeeping(&self) -> Option<bookkeeping::Book> {
        None
    }

    /// The files of a new migration, relative to the migrations directory, with contents.
    fn template(&self, version: &str, name: &str) -> Vec<(String, String)>;

    /// SQL the tool's own server runs in a database before any migration of the project
    /// (Hasura's graphql-engine installs pgcrypto in `public` when it starts, and migrations
    /// written in its console call `public.gen_random_uuid()`): `verify` runs it in every
    /// fresh database, so the migrations meet what they meet in production.
    fn environment_sql(&self) -> Option<&'static str> {
        None
    }

    /// What a migration of this tool that fails on a plain PostgreSQL may need from the
    /// server, said once in the report when an up fails.
    fn server_advice(&self) -> Option<&'static str> {
        None
    }
}

/// A migration tool whose directory layout and ordering rules migration-check understands:
/// a handle on its [`FormatSpec`], compared and printed by name.
#[derive(Clone, Copy)]
pub struct Format(&'static dyn FormatSpec);

impl Format {
    /// The registry: every format, in the order they are listed to the user.
    pub const ALL: &'static [Format] = &[
        sqlx::FORMAT,
        golang_migrate::FORMAT,
        diesel::FORMAT,
        dbmate::FORMAT,
        goose::FORMAT,
        flyway::FORMAT,
        prisma::FORMAT,
        sql_migrate::FORMAT,
        node_pg_migrate::FORMAT,
        atlas::FORMAT,
        hasura::FORMAT,
        supabase::FORMAT,
        pop::FORMAT,
        refinery::FORMAT,
        drizzle::FORMAT,
        pattern::FORMAT,
        command::FORMAT,
        knex::FORMAT,
        sequelize::FORMAT,
        typeorm::FORMAT,
    ];

    /// The format implemented by `spec`.
    pub const fn new(spec: &'static dyn FormatSpec) -> Self {
        Format(spec)
    }

    /// The format's implementation.
    pub fn spec(&self) -> &'static dyn FormatSpec {
        self.0
    }

    /// The name used on the command line and in reports (`--format NAME`).
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// Every format's name, as "a, b, c".
    pub fn names() -> String {
        Format::ALL
            .iter()
            .map(Format::name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::ops::Deref for Format {
    type Target = dyn FormatSpec;

    fn deref(&self) -> &Self::Target {
        self.0
    }
}

impl PartialEq for Format {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Format {}

impl Hash for Format {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl fmt::Debug for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Format({})", self.name())
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Format {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// A `--format` value that names no known format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown migration format `{0}` (expected one of: {names})", names = Format::names())]
pub struct ParseFormatError(pub String);

impl FromStr for Format {
    type Err = ParseFormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| ParseFormatError(s.to_string()))
    }
}

/// What some formats need from `migration-check.toml` to read their files: goose's ENVSUB
/// values, Flyway's placeholders, a hand-rolled layout's patterns. Never our environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `[goose]`.
    #[serde(default)]
    pub goose: goose::Settings,
    /// `[flyway]`.
    #[serde(default)]
    pub flyway: flyway::Settings,
    /// `[pattern]`.
    #[serde(default)]
    pub pattern: Option<pattern::Settings>,
    /// `[command]`.
    #[serde(default)]
    pub command: Option<command::Settings>,
    /// `[knex]`.
    #[serde(default)]
    pub knex: command::Preset,
    /// `[node-pg-migrate]`.
    #[serde(default, rename = "node-pg-migrate")]
    pub node_pg_migrate: command::Preset,
    /// `[sequelize]`.
    #[serde(default)]
    pub sequelize: command::Preset,
    /// `[typeorm]`.
    #[serde(default)]
    pub typeorm: typeorm::Settings,
}

/// A format with the settings its files are read with: what discovery, checksums and
/// `migrations.sum` need to agree on which files are migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The format.
    pub format: Format,
    /// Its settings from `migration-check.toml`.
    pub settings: Arc<Settings>,
}

impl Layout {
    /// The format with default settings.
    pub fn plain(format: Format) -> Self {
        Layout {
            format,
            settings: Arc::default(),
        }
    }

    /// See [`FormatSpec::is_migration_path`].
    pub fn is_migration_path(&self, rel: &str) -> bool {
        self.format.is_migration_path(rel, &self.settings)
    }

    /// See [`FormatSpec::version_of_path`].
    pub fn version_of_path(&self, rel: &str) -> Option<Version> {
        self.format.version_of_path(rel, &self.settings)
    }

    /// See [`FormatSpec::migration_key`].
    pub fn migration_key(&self, rel: &str) -> String {
        self.format.migration_key(rel, &self.settings)
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
    /// goose, sql-migrate, pop, the Supabase CLI: the tool opens its transaction (the
    /// Supabase CLI: one implicit transaction, its batch) and sends every statement inside
    /// it, whatever the statements are, then commits; a script's own `COMMIT; BEGIN;` only
    /// splits that transaction in two, and the tool's final commit ends the second.
    StatementsInTransaction,
}

/// One up or down script: its SQL and where that SQL sits in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The file holding the script: the migrations directory joined with the file's name, so
    /// relative if the directory was given as a relative path.
    pub path: PathBuf,
    /// The script's own text (for single-file formats only its section), without a leading
    /// UTF-8 BOM.
    pub sql: String,
    /// Number of file lines before `sql` starts (0 for whole-file scripts), so a line number
    /// within `sql` plus `line_offset` is the line number in the file.
    pub line_offset: usize,
    /// Byte offset in the file where `sql` starts (counting a stripped BOM).
    pub byte_offset: usize,
    /// Whether the tool would run the script inside a transaction.
    pub transaction: TransactionMode,
    /// For a migration written as code (knex, node-pg-migrate JS/TS, any tool through the
    /// `command` format): the team's own tool run as a process instead of `sql`, which
    /// then holds the file's text for reference.
    pub step: Option<Arc<command::CommandStep>>,
}

/// One component of a version's sort key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyPart {
    /// A number of any length: digits without leading zeros, ordered by length then digits.
    Number(usize, String),
    /// Text, ordered byte-wise.
    Text(String),
}

impl KeyPart {
    /// A number written in decimal digits (any length; leading zeros do not count).
    pub fn digits(digits: &str) -> Self {
        let trimmed = digits.trim_start_matches('0');
        KeyPart::Number(trimmed.len(), trimmed.to_string())
    }

    /// Text compared as a string.
    pub fn text(text: &str) -> Self {
        KeyPart::Text(text.to_string())
    }
}

/// A migration's version, ordered the way its own tool orders it: versioned migrations by
/// their key, then repeatable ones (Flyway's `R__`) by description.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    /// The version as written in the file or directory name (for a repeatable migration the
    /// file name without `.sql`, which identifies it).
    pub text: String,
    repeatable: bool,
    key: Vec<KeyPart>,
}

impl Version {
    /// A version ordered numerically.
    pub(crate) fn numeric(text: &str, number: u64) -> Self {
        Version::with_key(text, vec![KeyPart::digits(&number.to_string())])
    }

    /// A version ordered by comparing `key` as a string.
    pub(crate) fn textual(text: &str, key: &str) -> Self {
        Version::with_key(text, vec![KeyPart::text(key)])
    }

    /// A version ordered by its key parts, compared in turn.
    pub(crate) fn with_key(text: &str, key: Vec<KeyPart>) -> Self {
        Version {
            text: text.to_string(),
            repeatable: false,
            key,
        }
    }

    /// A repeatable migration: applied after every versioned one, ordered by `description`.
    pub(crate) fn repeatable(text: &str, description: &str) -> Self {
        Version {
            text: text.to_string(),
            repeatable: true,
            key: vec![KeyPart::text(description)],
        }
    }

    /// Whether the migration is repeatable (re-applied whenever its checksum changes).
    pub fn is_repeatable(&self) -> bool {
        self.repeatable
    }

    /// Whether two versions are the same for the tool (Flyway's `1` and `1.0`), though
    /// written differently.
    pub fn same_key(&self, other: &Version) -> bool {
        self.repeatable == other.repeatable && self.key == other.key
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.repeatable, &self.key)
            .cmp(&(other.repeatable, &other.key))
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
    /// The name part of the file or directory name, after the version and its separator.
    pub name: String,
    /// The script that applies the migration.
    pub up: Script,
    /// The script that reverts it, if the migration has one.
    pub down: Option<Script>,
}

impl Migration {
    /// The files this migration consists of: up then down, each once (single-file formats
    /// have one file).
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

/// The result of discovery: the layout and the migrations in the order the tool applies them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The layout the directory follows, with its settings.
    pub layout: Layout,
    /// How the format was chosen, and what else was considered.
    pub detection: detect::Detection,
    /// The migrations, sorted by version.
    pub migrations: Vec<Migration>,
    /// Files in the directory that belong to no migration and are worth a word.
    pub ignored: Vec<PathBuf>,
}

impl Discovered {
    /// The format.
    pub fn format(&self) -> Format {
        self.layout.format
    }
}

/// Every format described for `migration-check formats`: name, layout, transaction rule,
/// non-transactional marker and bookkeeping table, one block per format.
pub fn describe_formats() -> String {
    let mut text = String::new();
    for format in Format::ALL {
        text.push_str(&format!(
            "{}\n  layout:       {}\n  transactions: {}\n  marker:       {}\n  history:      {}\n\n",
            format.name(),
            format.layout(),
            format.transaction_rule(),
            format.no_transaction_marker().unwrap_or("none"),
            format.history_table().unwrap_or("none (the team's own runner)"),
        ));
    }
    text.push_str(
        "auto-detection weighs, in order: a tool's annotation inside a file, a file only one \
         tool uses, file naming; two formats on the same footing are exit 2, pass --format.\n",
    );
    text
}

/// The deepest any format looks, for reading a directory before its format is known.
fn deepest() -> usize {
    Format::ALL.iter().map(|f| f.depth()).max().unwrap_or(1)
}

/// Finds the migrations in `dir`. With `format` None the layout is detected from the
/// directory's entries; with a format given, files another format's markers claim are an
/// error naming the file, the marker's line and the `--format` that reads them.
pub fn discover(
    dir: &Path,
    format: Option<Format>,
    settings: &Arc<Settings>,
) -> Result<Discovered, InputError> {
    let (listing, detection) = detect_in(dir, format, settings)?;
    let found = detection.format.discover(&listing, settings)?;
    let mut detection = detection;
    detection.warnings.extend(found.warnings);
    let mut migrations = found.migrations;
    if migrations.is_empty() {
        return Err(no_migrations(dir, &[detection.format]));
    }
    migrations.sort_by(|a, b| a.version.cmp(&b.version));
    Ok(Discovered {
        layout: Layout {
            format: detection.format,
            settings: Arc::clone(settings),
        },
        detection,
        migrations,
        ignored: found.ignored,
    })
}

/// The format `dir` is read as and why (`--format` given, or detected), without reading
/// its migrations: what `migration-check detect` shows.
pub fn detect(
    dir: &Path,
    format: Option<Format>,
    settings: &Arc<Settings>,
) -> Result<detect::Detection, InputError> {
    detect_in(dir, format, settings).map(|(_, detection)| detection)
}

/// The directory's listing and its [`detect::Detection`].
fn detect_in(
    dir: &Path,
    format: Option<Format>,
    settings: &Arc<Settings>,
) -> Result<(Listing, detect::Detection), InputError> {
    let listing = Listing::read(dir, format.map_or_else(deepest, |f| f.depth()))?;
    let detection = match format {
        Some(format) => detect::check_given(&listing, format, settings)?,
        None => match detect::detect(&listing, settings)? {
            Some(detection) => detection,
            None => {
                let mut error = no_migrations(dir, Format::ALL);
                if listing.files().any(|f| f.rel.ends_with(".sql")) {
                    error.message.push_str(
                        "; its .sql files follow no tool's naming: if they are a layout of your \
                         own, describe it in `[pattern]` of migration-check.toml (README: \
                         \"A hand-rolled layout\")",
                    );
                }
                return Err(error);
            }
        },
    };
    Ok((listing, detection))
}

/// The migrations directory when none is given.
pub const DEFAULT_DIR: &str = "migrations";

/// The migrations directory to read: `dir` when it exists or was chosen (anything but
/// [`DEFAULT_DIR`]), else the first default directory of a format (`prisma/migrations`) that
/// exists, else `dir` (whose absence discovery reports).
pub fn resolve_dir(dir: &Path) -> PathBuf {
    if dir.exists() || dir != Path::new(DEFAULT_DIR) {
        return dir.to_path_buf();
    }
    Format::ALL
        .iter()
        .flat_map(|f| f.default_dirs())
        .map(PathBuf::from)
        .find(|candidate| candidate.is_dir())
        .unwrap_or_else(|| dir.to_path_buf())
}

/// The error for a directory holding nothing that looks like a migration.
fn no_migrations(dir: &Path, formats: &[Format]) -> InputError {
    let looked: Vec<&str> = formats
        .iter()
        .filter(|f| !(formats.len() > 1 && **f == golang_migrate::FORMAT))
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

/// The error for a file of a version another file has already: at `path`, naming the
/// `first` file and what the tool would make of the two (`dbmate would apply both and fail on
/// its history table's primary key`).
pub(crate) fn duplicate_version(
    path: &Path,
    version: &str,
    first: &Path,
    consequence: &str,
) -> InputError {
    InputError::new(
        path,
        format!(
            "duplicate version {version}: {} has the same version ({consequence})",
            first.display()
        ),
    )
}

/// Joins words as "a and b" or "a, b and c".
pub(crate) fn join_and<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [init @ .., last] => {
            let init: Vec<&str> = init.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", init.join(", "), last.as_ref())
        }
    }
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

    /// The versions of the discovered migrations, in order.
    pub fn versions(d: &super::Discovered) -> Vec<&str> {
        d.migrations
            .iter()
            .map(|m| m.version.text.as_str())
            .collect()
    }

    /// The one migration of a directory holding `contents` as `file`, read as `format`.
    pub fn one_migration(
        format: super::Format,
        file: &str,
        contents: impl AsRef<[u8]>,
    ) -> super::Migration {
        let t = tempdir();
        write(t.path(), file, contents);
        let mut d = discover(t.path(), Some(format)).unwrap();
        assert_eq!(d.migrations.len(), 1);
        d.migrations.remove(0)
    }

    /// The error for a directory holding `contents` as `file` (read as `format`, or
    /// detected), with the file's path.
    pub fn discovery_error(
        format: Option<super::Format>,
        file: &str,
        contents: impl AsRef<[u8]>,
    ) -> (crate::error::InputError, PathBuf) {
        let t = tempdir();
        let path = write(t.path(), file, contents);
        (discover(t.path(), format).unwrap_err(), path)
    }

    /// Discovery with default settings.
    pub fn discover(
        dir: &Path,
        format: Option<super::Format>,
    ) -> Result<super::Discovered, crate::error::InputError> {
        super::discover(dir, format, &std::sync::Arc::default())
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::{discover, tempdir, versions, write};
    use super::*;

    #[test]
    fn only_a_missing_default_directory_falls_back_to_the_tools_defaults() {
        let chosen = Path::new("/nonexistent/migrations");
        assert_eq!(resolve_dir(chosen), chosen);
        // Tests run in the package root, whose `migrations` exists.
        assert_eq!(resolve_dir(Path::new(DEFAULT_DIR)), Path::new(DEFAULT_DIR));
    }

    #[test]
    fn format_names_round_trip() {
        for &f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
            assert_eq!(f.to_string(), f.name());
        }
        let err = "liquibase".parse::<Format>().unwrap_err();
        assert!(err.to_string().contains("liquibase"));
        assert!(err.to_string().contains("sql-migrate"));
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
        let err = discover(&file, Some(sqlx::FORMAT)).unwrap_err();
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
        let err = discover(t.path(), Some(dbmate::FORMAT)).unwrap_err();
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
        assert_eq!(d.format(), sqlx::FORMAT);
        assert_ne!(d.detection.basis, detect::Basis::Given);
        assert_eq!(versions(&d), ["2", "10"]);
        let d = discover(t.path(), Some(sqlx::FORMAT)).unwrap();
        assert_eq!(d.detection.basis, detect::Basis::Given);
    }

    #[test]
    fn detects_sqlx_simple() {
        let t = tempdir();
        write(t.path(), "1_a.sql", "select 1;");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format(), sqlx::FORMAT);
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
        assert_eq!(d.format(), diesel::FORMAT);
        assert_ne!(d.detection.basis, detect::Basis::Given);
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
        assert_eq!(d.format(), dbmate::FORMAT);
        assert_ne!(d.detection.basis, detect::Basis::Given);
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

    /// dbmate reads every `<digits>….sql` file, `.up.sql` ones too: one without its
    /// directive is refused as dbmate refuses it.
    #[test]
    fn an_annotation_outweighs_naming_and_the_tool_reads_the_other_file() {
        let t = tempdir();
        let a = write(t.path(), "1_a.up.sql", "select 1;");
        write(t.path(), "2_b.sql", "-- migrate:up\nselect 2;\n");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, a);
        assert!(err.message.contains("missing `-- migrate:up`"), "{err}");
    }

    #[test]
    fn mixed_layouts_of_equal_weight_list_each_with_its_format_flag() {
        let t = tempdir();
        write(t.path(), "1_a.sql", "select 1;");
        write(t.path(), "2_b/up.sql", "select 2;");
        let c = write(t.path(), "3_c.up.sql", "select 3;");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, t.path());
        assert_eq!(err.line, None);
        assert_eq!(
            err.message,
            "two migration layouts in one directory, and nothing in the directory or the \
             project tells them apart: sqlx and diesel (e.g. 3_c.up.sql is sqlx, 2_b is \
             diesel); pass --format sqlx or --format diesel"
        );
        assert!(c.exists());
    }

    /// Two tools the project requires that read the same pairs: named both, not "1 layout".
    #[test]
    fn one_layout_two_tools_named_by_the_project() {
        let t = tempdir();
        std::fs::create_dir(t.path().join(".git")).unwrap();
        write(
            t.path(),
            "go.mod",
            "module x\n\nrequire (\n\tgithub.com/golang-migrate/migrate/v4 v4.19.1\n\t\
             github.com/gobuffalo/pop/v6 v6.1.1\n)\n",
        );
        let dir = t.path().join("migrations");
        write(&dir, "1_a.up.sql", "select 1;");
        write(&dir, "1_a.down.sql", "select 1;");
        let err = discover(&dir, None).unwrap_err();
        assert!(
            err.message
                .starts_with("golang-migrate and pop read these files alike ("),
            "{err}"
        );
        assert!(
            err.message.ends_with(
                "and the project names each of them; their transaction and history rules \
                 differ: pass --format golang-migrate or --format pop"
            ),
            "{err}"
        );
    }

    #[test]
    fn mixed_sqlx_simple_and_diesel() {
        let t = tempdir();
        let a = write(t.path(), "1_a.sql", "select 1;");
        write(t.path(), "2_b/up.sql", "select 2;");
        let err = discover(t.path(), None).unwrap_err();
        assert!(err.message.contains("sqlx and diesel"), "{}", err.message);
        assert!(err.message.contains("1_a.sql is sqlx"), "{}", err.message);
        assert!(a.exists());
        assert!(
            err.message
                .ends_with("pass --format sqlx or --format diesel")
        );
    }

    /// sqlx reads files only: a directory beside them is listed as ignored, never called
    /// another tool's migration.
    #[test]
    fn explicit_sqlx_ignores_a_directory() {
        let t = tempdir();
        write(t.path(), "1_a.up.sql", "select 1;");
        write(t.path(), "2_b/up.sql", "select 2;");
        let d = discover(t.path(), Some(sqlx::FORMAT)).unwrap();
        assert_eq!(d.ignored, [t.path().join("2_b")]);
        assert_eq!(versions(&d), ["1"]);
    }

    /// Another tool's annotations in a file the given tool reads whole: an error when they
    /// cut it into an up and a down that both hold SQL, else a warning at the line.
    #[test]
    fn explicit_format_and_another_tools_annotations() {
        let t = tempdir();
        write(t.path(), "1_a.up.sql", "select 1;");
        let b = write(
            t.path(),
            "2_b.up.sql",
            "-- comment\n-- migrate:up\nselect 2;\n-- migrate:down\nselect 3;\n",
        );
        let err = discover(t.path(), Some(golang_migrate::FORMAT)).unwrap_err();
        assert_eq!(err.path, b);
        assert_eq!(err.line, Some(2));
        assert!(
            err.message
                .contains("dbmate would run its up and down sections apart"),
            "{err}"
        );
        write(
            t.path(),
            "2_b.up.sql",
            "-- comment\n-- migrate:up\nselect 2;\n",
        );
        let d = discover(t.path(), Some(golang_migrate::FORMAT)).unwrap();
        assert_eq!(d.detection.warnings.len(), 1, "{:?}", d.detection.warnings);
        assert!(d.detection.warnings[0].contains("2_b.up.sql:2: reads like dbmate's annotation"));
    }

    #[test]
    fn explicit_diesel_ignores_a_sql_file() {
        let t = tempdir();
        write(t.path(), "1_a/up.sql", "select 1;");
        let b = write(t.path(), "2_b.up.sql", "select 2;");
        let d = discover(t.path(), Some(diesel::FORMAT)).unwrap();
        assert_eq!(d.ignored, [b]);
    }

    #[test]
    fn explicit_dbmate_reads_a_pair_file_and_ignores_a_directory() {
        let t = tempdir();
        write(t.path(), "1_a.sql", "-- migrate:up\n");
        let b = write(t.path(), "2_b.down.sql", "select 2;");
        let err = discover(t.path(), Some(dbmate::FORMAT)).unwrap_err();
        assert_eq!(err.path, b);
        assert!(err.message.contains("missing `-- migrate:up`"), "{err}");
        std::fs::remove_file(&b).unwrap();
        write(t.path(), "3_c/up.sql", "select 3;");
        let d = discover(t.path(), Some(dbmate::FORMAT)).unwrap();
        assert_eq!(d.ignored, [t.path().join("3_c")]);
    }

    #[test]
    fn sql_file_without_version_is_an_error() {
        let t = tempdir();
        write(t.path(), "1_a.up.sql", "select 1;");
        let typo = write(t.path(), "create_users.up.sql", "select 1;");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, typo);
        assert_eq!(err.line, None);
        assert!(err.message.contains("not an integer version"), "{err}");
        std::fs::remove_file(&typo).unwrap();
        // No `_`: sqlx skips it, and says so.
        let skipped = write(t.path(), "1-a.up.sql", "select 1;");
        assert_eq!(discover(t.path(), None).unwrap().ignored, [skipped]);
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
        // sqlx tests the text it read, BOM included, for `-- no-transaction`.
        assert_eq!(up.transaction, TransactionMode::Wrapped);
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
}
