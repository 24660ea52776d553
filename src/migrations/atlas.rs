//! The Atlas versioned-migrations layout: one `<version>_<name>.sql` file per migration, up
//! only, beside `atlas.sum`, the directory's integrity file. Atlas refuses to apply a directory
//! whose files do not match `atlas.sum`, so this leaf also recomputes that sum with Atlas's own
//! algorithm ([`check_sum`], usable beside any format: golang-migrate directories often carry
//! an `atlas.sum` too) and reads the file directives that change how a file runs.
//!
//! Facts from the tool's source (ariga/atlas) that the rules below rely on:
//! - `sql/migrate/dir.go`, `LocalDir.Files`: the migration files are every `*.sql` file of the
//!   directory (`fs.Glob(d, "*.sql")`), sorted by file name byte-wise. `LocalFile.Version` is the
//!   name without `.sql` up to the first `_` (so `20240703194656_v0.35.1.sql` is version
//!   `20240703194656`), `LocalFile.Desc` the rest. Discovery orders by file name, as Atlas does.
//! - `sql/migrate/dir.go`, `NewHashFile` / `HashFile.Sum` / `MarshalText` / `UnmarshalText`:
//!   one SHA-256 runs over the files in order; for each file it takes the name, then the
//!   contents, and the file's hash is base64 of the running digest so far (each hash covers all
//!   earlier files). A file whose first line carries `atlas:sum ignore` adds its name but not
//!   its contents, and gets no line. The total is SHA-256 over every name and hash, in order.
//!   `atlas.sum` is `h1:<total>` then `<file> h1:<hash>` lines; a line without `h1:` is a
//!   format error, and a total that does not match the lines is a mismatch.
//! - `sql/migrate/dir.go`, `Validate`, and `cmd/atlas/internal/migratelint/lint.go`: the first
//!   entry that differs is reported as `checksum mismatch (atlas.sum): L<line>: <file> was
//!   <edited|added|removed>`; a missing `atlas.sum` beside migration files is
//!   `checksum file not found`, and `atlas migrate apply` refuses both.
//! - `sql/migrate/dir.go`, `LocalFile.comments` / `Directive` / `reDirective`: file directives
//!   are read only from the comment lines (`--` or `#` at the very start of a line) at the top
//!   of the file, and only when a blank line separates them from the SQL;
//!   `^([ -~]*)atlas:(\w+)(?: +(.+))*` is matched against each such (trimmed) line.
//! - `cmd/atlas/internal/cmdapi/migrate.go`, `txmodeFor` / `tx.driverFor`: the default
//!   `--tx-mode file` runs each file in its own transaction; `-- atlas:txmode none` runs its
//!   statements without one, `-- atlas:txmode file` is the default, `all` is refused in a file,
//!   as are two txmode directives and unknown values.
//! - `sql/migrate/migrate.go`, `Executor.Pending` / `FilesFromLastCheckpoint`: on a clean
//!   database Atlas starts at the last file carrying `atlas:checkpoint`; earlier files are not
//!   run (discovery lists them as ignored).
//! - The revisions table is `atlas_schema_revisions` in the schema of the same name
//!   (`cmd/atlas/internal/cmdapi/migrate.go`, `defaultRevisionSchema`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::bookkeeping::{Applied, Book, Bookkeeping, file_name, literal, record};
use super::sqlx::is_top_level_sql;
use super::{
    Entry, Evidence, Format, FormatSpec, Found, Listing, Migration, Settings, Strength,
    TransactionMode, Version, io_reason,
};
use crate::error::InputError;
use std::collections::HashMap;
use std::time::Duration;

/// The Atlas format.
pub const FORMAT: Format = Format::new(&Atlas);

/// Atlas (`atlas migrate apply`).
pub struct Atlas;

/// The integrity file of an Atlas migrations directory.
pub const SUM_FILE: &str = "atlas.sum";

impl FormatSpec for Atlas {
    fn name(&self) -> &'static str {
        "atlas"
    }

    fn layout(&self) -> &'static str {
        "Atlas `<version>_<name>.sql` files with `atlas.sum`"
    }

    fn recognise(
        &self,
        listing: &Listing,
        _settings: &Settings,
    ) -> Result<Option<Evidence>, InputError> {
        let Some(sum) = listing.get(SUM_FILE).filter(|e| !e.is_dir) else {
            return Ok(None);
        };
        let sql: Vec<&Entry> = listing
            .top_files()
            .filter(|e| is_top_level_sql(&e.rel))
            .collect();
        if sql.iter().any(|e| is_pair_file(&e.rel)) {
            // golang-migrate and sqlx directories often carry an atlas.sum too.
            return Ok(None);
        }
        Ok((!sql.is_empty()).then(|| Evidence::entry(sum, Strength::Marker)))
    }

    fn discover(&self, listing: &Listing, _settings: &Settings) -> Result<Found, InputError> {
        // Atlas globs `*.sql` at the top of the directory: anything else is skipped.
        let mut ignored: Vec<std::path::PathBuf> = listing
            .top_entries()
            .filter(|e| e.rel != SUM_FILE && (e.is_dir || !is_top_level_sql(&e.rel)))
            .map(|e| e.path.clone())
            .collect();
        let files: Vec<&Entry> = listing
            .top_files()
            .filter(|e| is_top_level_sql(&e.rel))
            .collect();
        if let Some(pair) = files.iter().find(|e| is_pair_file(&e.rel)) {
            return Err(InputError::new(
                &pair.path,
                "golang-migrate/sqlx `.up.sql`/`.down.sql` file in an atlas migrations \
                 directory (Atlas would run it as a migration of its own, down scripts \
                 included); move it or pass --format golang-migrate",
            ));
        }
        if !files.is_empty() && listing.get(SUM_FILE).is_none() {
            return Err(InputError::new(
                listing.dir.join(SUM_FILE),
                "checksum file not found: `atlas migrate apply` refuses a migrations \
                 directory without atlas.sum; run `atlas migrate hash`",
            ));
        }
        let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
        let mut migrations = Vec::new();
        let mut last_checkpoint = None;
        for file in &files {
            let (version, _) = split_name(&file.rel);
            if let Some(other) = seen.insert(version, &file.path) {
                return Err(InputError::new(
                    &file.path,
                    format!(
                        "duplicate version {version}: {} has the same version (Atlas records \
                         revisions by version); give one of them a new version",
                        other.display()
                    ),
                ));
            }
            let (migration, checkpoint) = migration(file)?;
            if checkpoint {
                last_checkpoint = Some(migrations.len());
            }
            migrations.push(migration);
        }
        let skipped: Vec<Migration> = match last_checkpoint {
            Some(index) => migrations.drain(..index).collect(),
            None => Vec::new(),
        };
        ignored.extend(skipped.into_iter().map(|m| m.up.path));
        Ok(Found {
            migrations,
            ignored,
            ..Found::default()
        })
    }

    fn is_migration_path(&self, rel: &str, _settings: &Settings) -> bool {
        is_top_level_sql(rel) && !is_pair_file(rel)
    }

    fn version_of_path(&self, rel: &str, settings: &Settings) -> Option<Version> {
        self.is_migration_path(rel, settings)
            .then(|| version_of(rel))
    }

    fn transaction_rule(&self) -> &'static str {
        "each file in its own transaction (Atlas's default `--tx-mode file`)"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        Some("`-- atlas:txmode none` in the comment block at the top of the file")
    }

    fn bookkeeping(&self) -> Option<Book> {
        Some(&Atlas)
    }

    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        vec![(
            format!("{version}_{name}.sql"),
            format!("-- {name}; run `atlas migrate hash` after editing\n"),
        )]
    }
}

/// Whether a file name is half of a golang-migrate/sqlx pair.
fn is_pair_file(rel: &str) -> bool {
    rel.ends_with(".up.sql") || rel.ends_with(".down.sql")
}

/// A file name's version and description, as `LocalFile.Version` and `LocalFile.Desc`.
fn split_name(file: &str) -> (&str, &str) {
    let stem = file.strip_suffix(".sql").unwrap_or(file);
    stem.split_once('_').unwrap_or((stem, ""))
}

/// A file's version, ordered by the whole file name as Atlas orders its files.
fn version_of(file: &str) -> Version {
    Version::textual(split_name(file).0, file)
}

/// Reads one migration file; also says whether it is a checkpoint.
fn migration(file: &Entry) -> Result<(Migration, bool), InputError> {
    let text = file.text()?;
    // A byte order mark is part of the content for Atlas: no directive can follow it.
    let directives = if text.bom_len == 0 {
        file_directives(&text.sql)
    } else {
        Vec::new()
    };
    let transaction = transaction_mode(&file.path, &directives)?;
    let checkpoint = directives.iter().any(|d| d.name == "checkpoint");
    let (_, name) = split_name(&file.rel);
    let migration = Migration {
        version: version_of(&file.rel),
        name: name.to_string(),
        up: text.whole_script(&file.path, transaction),
        down: None,
    };
    Ok((migration, checkpoint))
}

/// One `atlas:<name> <args>` file directive and its line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Directive<'a> {
    line: usize,
    name: &'a str,
    args: &'a str,
}

/// The file directives: the directives of the comment lines at the top of the file, when a
/// blank line separates those lines from the rest (`LocalFile.comments` and `Directive`).
fn file_directives(content: &str) -> Vec<Directive<'_>> {
    let mut comments = Vec::new();
    let mut rest = content;
    while rest.starts_with('#') || rest.starts_with("--") {
        let Some(end) = rest.find('\n') else {
            // A comments-only file without a final newline: Atlas keeps the last line as
            // content, which is not a blank line, so the file has no directives.
            return Vec::new();
        };
        comments.push(rest[..end].trim());
        rest = &rest[end + 1..];
    }
    if !rest.is_empty() && !rest.trim_start_matches([' ', '\t']).starts_with('\n') {
        return Vec::new();
    }
    comments
        .iter()
        .enumerate()
        .filter_map(|(index, comment)| {
            parse_directive(comment).map(|(name, args)| Directive {
                line: index + 1,
                name,
                args,
            })
        })
        .collect()
}

/// Matches `^([ -~]*)atlas:(\w+)(?: +(.+))*` against one line: the last `atlas:<word>` reached
/// through printable ASCII only, its name and its arguments.
fn parse_directive(line: &str) -> Option<(&str, &str)> {
    let printable = line
        .bytes()
        .position(|b| !(b' '..=b'~').contains(&b))
        .unwrap_or(line.len());
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let start = (0..=printable).rev().find(|&at| {
        line[at..]
            .strip_prefix("atlas:")
            .is_some_and(|after| after.bytes().next().is_some_and(is_word))
    })?;
    let after = &line[start + "atlas:".len()..];
    let name_len = after.bytes().take_while(|&b| is_word(b)).count();
    let (name, rest) = after.split_at(name_len);
    let args = match rest.trim_start_matches(' ') {
        args if rest.starts_with(' ') && !args.is_empty() => args,
        _ => "",
    };
    Some((name, args))
}

/// The transaction mode a file's `atlas:txmode` directive asks for, refused as Atlas refuses it.
fn transaction_mode(path: &Path, directives: &[Directive]) -> Result<TransactionMode, InputError> {
    let txmodes: Vec<&Directive> = directives.iter().filter(|d| d.name == "txmode").collect();
    match txmodes.as_slice() {
        [] => Ok(TransactionMode::Wrapped),
        [one] => match one.args {
            "none" => Ok(TransactionMode::None),
            "file" => Ok(TransactionMode::Wrapped),
            "all" => Err(InputError::at_line(
                path,
                one.line,
                "txmode \"all\" is not allowed in a file directive (Atlas refuses it); use \
                 `-- atlas:txmode file`",
            )),
            other => Err(InputError::at_line(
                path,
                one.line,
                format!(
                    "unknown txmode {other:?} (Atlas refuses it); expected \
                     `-- atlas:txmode none` or `-- atlas:txmode file`"
                ),
            )),
        },
        [first, second, ..] => Err(InputError::at_line(
            path,
            second.line,
            format!(
                "second txmode directive (first on line {}); Atlas refuses a file with \
                 more than one",
                first.line
            ),
        )),
    }
}

/// A directory whose files do not match its `atlas.sum`, as `atlas migrate validate` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumMismatch {
    /// The `atlas.sum` file.
    pub sum_file: PathBuf,
    /// The line of `atlas.sum` where the first difference is.
    pub line: Option<usize>,
    /// The migration file at fault (edited, or added without re-hashing), when it exists.
    pub migration: Option<PathBuf>,
    /// What differs, in Atlas's words, and what to do.
    pub message: String,
}

/// One `<file> h1:<hash>` entry of a sum file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SumEntry {
    name: String,
    hash: String,
}

/// Checks `dir/atlas.sum` against the `.sql` files of `dir` with Atlas's algorithm. None when
/// there is no `atlas.sum` or it matches; an unreadable directory or file is an error.
pub fn check_sum(dir: &Path) -> Result<Option<SumMismatch>, InputError> {
    let sum_file = dir.join(SUM_FILE);
    if !sum_file.is_file() {
        return Ok(None);
    }
    let sum_bytes = std::fs::read(&sum_file)
        .map_err(|e| InputError::new(&sum_file, format!("cannot read: {}", io_reason(&e))))?;
    let computed = hash_files(&sql_files(dir)?);
    Ok(
        compare(&sum_bytes, &computed).map(|(line, file, message)| SumMismatch {
            migration: file.map(|f| dir.join(f)).filter(|p| p.is_file()),
            sum_file,
            line,
            message,
        }),
    )
}

/// The hashes `atlas.sum` gives the files of `dir` (without `h1:`), by file name: what
/// Atlas records in `atlas_schema_revisions.hash`. A file the sum skips has none.
pub fn file_hashes(dir: &Path) -> Option<Vec<(String, String)>> {
    Some(
        hash_files(&sql_files(dir).ok()?)
            .into_iter()
            .map(|entry| (entry.name, entry.hash))
            .collect(),
    )
}

/// The `*.sql` files of `dir` as `fs.Glob(dir, "*.sql")` lists them (hidden ones included),
/// sorted by name, with their contents.
fn sql_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, InputError> {
    let unreadable = |e: std::io::Error| {
        InputError::new(
            dir,
            format!("cannot read migrations directory: {}", io_reason(&e)),
        )
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if !name.ends_with(".sql") || !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path)
            .map_err(|e| InputError::new(&path, format!("cannot read: {}", io_reason(&e))))?;
        files.push((name, bytes));
    }
    files.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(files)
}

/// `NewHashFile`: the cumulative hash of each file, in order.
fn hash_files(files: &[(String, Vec<u8>)]) -> Vec<SumEntry> {
    let mut hasher = Sha256::new();
    let mut entries = Vec::new();
    for (name, bytes) in files {
        hasher.update(name.as_bytes());
        let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        if parse_directive(&String::from_utf8_lossy(first_line)) == Some(("sum", "ignore")) {
            continue;
        }
        hasher.update(bytes);
        entries.push(SumEntry {
            name: name.clone(),
            hash: base64_of(hasher.clone().finalize().as_slice()),
        });
    }
    entries
}

/// `HashFile.Sum`: the total over every entry's name and hash.
fn total(entries: &[SumEntry]) -> String {
    let mut hasher = Sha256::new();
    for entry in entries {
        hasher.update(entry.name.as_bytes());
        hasher.update(entry.hash.as_bytes());
    }
    base64_of(hasher.finalize().as_slice())
}

/// Standard base64 with padding, as Go's `base64.StdEncoding`.
fn base64_of(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `readHashFile` then `Validate`: the first difference between the sum file and the computed
/// entries, as (line of `atlas.sum`, file name at fault, message).
fn compare(
    sum_bytes: &[u8],
    computed: &[SumEntry],
) -> Option<(Option<usize>, Option<String>, String)> {
    let text = String::from_utf8_lossy(sum_bytes);
    // bufio.ScanLines: split at `\n`, drop one `\r` before it, no empty token at the end.
    let mut lines: Vec<&str> = text
        .split_inclusive('\n')
        .map(|l| {
            let l = l.strip_suffix('\n').unwrap_or(l);
            l.strip_suffix('\r').unwrap_or(l)
        })
        .collect();
    if lines.is_empty() {
        lines.push("");
    }
    let stated_total = lines[0].strip_prefix("h1:").unwrap_or(lines[0]);
    let mut recorded = Vec::new();
    for (index, line) in lines.iter().enumerate().skip(1) {
        let Some((name, hash)) = line.split_once("h1:") else {
            return Some((
                Some(index + 1),
                None,
                format!(
                    "checksum file format invalid ({}): line {} is not `<file> h1:<hash>`; \
                     run `atlas migrate hash` to write it again",
                    SUM_FILE,
                    index + 1
                ),
            ));
        };
        recorded.push(SumEntry {
            name: name.trim().to_string(),
            hash: hash.to_string(),
        });
    }
    if stated_total != total(&recorded) {
        return Some((
            Some(1),
            None,
            format!(
                "checksum mismatch ({SUM_FILE}): its total on line 1 does not match its \
                 entries, so atlas.sum itself was edited; run `atlas migrate hash`"
            ),
        ));
    }
    if total(&recorded) == total(computed) {
        return None;
    }
    let (line, file, reason) = first_difference(&recorded, computed);
    Some((
        Some(line),
        Some(file.clone()),
        format!(
            "checksum mismatch ({SUM_FILE}): L{line}: {file} was {reason}: \
             `atlas migrate validate` and `atlas migrate apply` fail on this directory. \
             Check the change, then run `atlas migrate hash`"
        ),
    ))
}

/// `Validate`'s walk: the line of `atlas.sum`, the file and the reason of the first entry that
/// differs.
fn first_difference<'a>(
    recorded: &'a [SumEntry],
    computed: &'a [SumEntry],
) -> (usize, &'a String, &'static str) {
    for (index, entry) in recorded.iter().enumerate() {
        if computed.get(index) == Some(entry) {
            continue;
        }
        let line = index + 2;
        return match computed.iter().position(|c| c.name == entry.name) {
            None => (line, &entry.name, "removed"),
            Some(at) if at == index => (line, &entry.name, "edited"),
            // Another file was added before it (Atlas names the file at this place).
            Some(_) => (line, &computed[index].name, "added"),
        };
    }
    (recorded.len() + 2, &computed[recorded.len()].name, "added")
}

// Atlas's `atlas_schema_revisions` (ariga/atlas, `cmd/atlas/internal/migrate/ent/schema/
// revision.go`), in the schema of the same name: one row per version with its description,
// type (2: executed, 1: baseline, 4/6: resolved), the statements applied of the total,
// when, how long (nanoseconds), the error, and the file's `atlas.sum` hash. `atlas migrate
// apply` locks with `pg_try_advisory_lock` on the FNV-1 hash of `atlas_migrate_execute`.

/// atlas's history table.
pub const TABLE: &str = "atlas_schema_revisions.atlas_schema_revisions";

/// Go's `hash/fnv` `New32` (FNV-1) of `text`, as Atlas's Postgres driver keys its locks.
fn fnv1_32(text: &str) -> u32 {
    text.bytes().fold(2_166_136_261_u32, |hash, byte| {
        hash.wrapping_mul(16_777_619) ^ u32::from(byte)
    })
}

/// The statements of the up script, as Atlas counts them for `applied` and `total`.
fn statements(migration: &Migration) -> usize {
    crate::migrations::lexer::split_statements(&migration.up.sql)
        .iter()
        .filter(|statement| !statement.is_empty())
        .count()
}

impl Bookkeeping for Atlas {
    fn tool(&self) -> &'static str {
        "atlas"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn columns(&self) -> &'static [&'static str] {
        &[
            "version",
            "description",
            "type",
            "applied",
            "total",
            "executed_at",
            "execution_time",
            "error",
            "error_stmt",
            "hash",
            "partial_hashes",
            "operator_version",
        ]
    }

    fn create_sql(&self) -> String {
        format!(
            "CREATE SCHEMA IF NOT EXISTS atlas_schema_revisions;
         CREATE TABLE IF NOT EXISTS {TABLE} (
            version character varying NOT NULL PRIMARY KEY,
            description character varying NOT NULL,
            type bigint NOT NULL DEFAULT 2,
            applied bigint NOT NULL DEFAULT 0,
            total bigint NOT NULL DEFAULT 0,
            executed_at timestamptz NOT NULL,
            execution_time bigint NOT NULL,
            error text NULL,
            error_stmt text NULL,
            hash character varying NOT NULL,
            partial_hashes jsonb NULL,
            operator_version character varying NOT NULL
        );"
        )
    }

    /// A baseline row (type 1) stands for every version up to it.
    fn read_sql(&self) -> String {
        format!(
            "SELECT version, description, CASE WHEN type = 1 THEN NULL ELSE hash END,
                executed_at::text, execution_time / 1000000,
                CASE WHEN type = 1 THEN 'baseline' ELSE operator_version END,
                coalesce(error, '') = '' AND applied >= total
         FROM {TABLE}
         WHERE version <> '.atlas_cloud_identifier'
         ORDER BY version"
        )
    }

    fn interpret(&self, mut rows: Vec<Applied>, migrations: &[Migration]) -> Vec<Applied> {
        if let Some(baseline) = rows
            .iter()
            .filter(|row| row.applied_by.as_deref() == Some("baseline"))
            .map(|row| row.version.clone())
            .max()
        {
            for migration in migrations {
                if migration.version.text < baseline
                    && !rows.iter().any(|row| row.version == migration.version.text)
                {
                    rows.push(Applied {
                        version: migration.version.text.clone(),
                        name: Some(migration.name.clone()),
                        checksum: None,
                        applied_at: None,
                        execution_ms: None,
                        applied_by: Some("baseline".into()),
                        success: true,
                    });
                }
            }
            rows.sort_by(|a, b| a.version.cmp(&b.version));
        }
        rows
    }

    fn checksum(&self, migration: &Migration) -> Option<String> {
        self.checksums(std::slice::from_ref(migration))
            .pop()
            .flatten()
    }

    /// Each directory's `atlas.sum` hashes are computed once (a file's hash covers every
    /// file before it).
    fn checksums(&self, migrations: &[Migration]) -> Vec<Option<String>> {
        let mut directories: HashMap<&Path, Option<Vec<(String, String)>>> = HashMap::new();
        migrations
            .iter()
            .map(|migration| {
                let dir = migration.up.path.parent()?;
                let hashes = directories.entry(dir).or_insert_with(|| file_hashes(dir));
                let name = file_name(migration);
                hashes
                    .as_ref()?
                    .iter()
                    .find(|(file, _)| *file == name)
                    .map(|(_, hash)| hash.clone())
            })
            .collect()
    }

    fn records_checksums(&self) -> bool {
        true
    }

    fn lock_key(&self, _database: &str, _schema: &str) -> i64 {
        i64::from(fnv1_32("atlas_migrate_execute"))
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let migration = &migrations[index];
        let version = literal(&migration.version.text);
        record(&if up {
            let total = statements(migration);
            format!(
                "INSERT INTO {TABLE} (version, description, \
                 type, applied, total, executed_at, execution_time, error, error_stmt, hash, \
                 partial_hashes, operator_version) VALUES ({version}, {}, 2, {total}, {total}, \
                 now(), -1, '', '', {}, 'null', {});",
                literal(&migration.name),
                literal(&self.checksum(migration).unwrap_or_default()),
                literal(concat!("migration-check v", env!("CARGO_PKG_VERSION")))
            )
        } else {
            format!("DELETE FROM {TABLE} WHERE version = {version};")
        })
    }

    fn finish_sql(&self, migration: &Migration, up: bool, elapsed: Duration) -> Option<String> {
        let nanos = i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX);
        up.then(|| {
            format!(
                "UPDATE {TABLE} SET execution_time = {nanos} \
                 WHERE version = {}",
                literal(&migration.version.text)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        golang_migrate, sqlx, test_util::discover, test_util::tempdir, test_util::write,
    };
    use super::*;

    /// Writes `files` and a matching atlas.sum computed by this module's own hashing.
    fn hashed_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let t = tempdir();
        for (name, contents) in files {
            write(t.path(), name, contents);
        }
        rehash(t.path());
        t
    }

    /// Writes atlas.sum for the directory's current files.
    fn rehash(dir: &Path) {
        let entries = hash_files(&sql_files(dir).unwrap());
        let mut text = format!("h1:{}\n", total(&entries));
        for e in &entries {
            text.push_str(&format!("{} h1:{}\n", e.name, e.hash));
        }
        write(dir, SUM_FILE, text);
    }

    #[test]
    fn sum_matches_atlas_output() {
        // Produced by `atlas migrate hash` (algorithm in sql/migrate/dir.go) for these files.
        let t = tempdir();
        write(t.path(), "1_a.sql", "CREATE TABLE a (id int);\n");
        write(t.path(), "2_b.sql", "CREATE TABLE b (id int);\n");
        let entries = hash_files(&sql_files(t.path()).unwrap());
        // The second hash covers the first file too.
        let mut h = Sha256::new();
        h.update(b"1_a.sql");
        h.update(b"CREATE TABLE a (id int);\n");
        assert_eq!(entries[0].hash, base64_of(&h.clone().finalize()));
        h.update(b"2_b.sql");
        h.update(b"CREATE TABLE b (id int);\n");
        assert_eq!(entries[1].hash, base64_of(&h.finalize()));
        assert_eq!(entries[0].hash.len(), 44);
    }

    #[test]
    fn sum_written_by_atlas_validates() {
        // atlas.sum for these two files, computed outside this module with Atlas's
        // algorithm (checked against the atlas.sum of real Atlas repositories).
        let t = tempdir();
        write(t.path(), "1_a.sql", "CREATE TABLE a (id int);\n");
        write(
            t.path(),
            "2_b.sql",
            "-- atlas:txmode none\n\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n",
        );
        write(
            t.path(),
            SUM_FILE,
            "h1:FaX6Pu1eA0EGwC2l/BCpq+4T6vU48jmVzMeNidgvLKM=\n\
             1_a.sql h1:e72Wd39UNYY4sGrVkNYkCs4GRrWBQ0ASXh73rS+WpU4=\n\
             2_b.sql h1:x02wUGkRl68uqviUd70LN7qDzxGXgjYDSAzPMnBhCJE=\n",
        );
        assert_eq!(check_sum(t.path()).unwrap(), None);
    }

    #[test]
    fn edited_added_and_removed_files_are_reported_as_atlas_does() {
        let t = hashed_dir(&[("1_a.sql", "SELECT 1;\n"), ("2_b.sql", "SELECT 2;\n")]);
        write(t.path(), "2_b.sql", "SELECT 22;\n");
        let m = check_sum(t.path()).unwrap().unwrap();
        assert_eq!(m.line, Some(3));
        assert_eq!(m.migration, Some(t.path().join("2_b.sql")));
        assert!(
            m.message.contains("L3: 2_b.sql was edited"),
            "{}",
            m.message
        );
        assert_eq!(m.sum_file, t.path().join(SUM_FILE));

        let t = hashed_dir(&[("1_a.sql", "SELECT 1;\n"), ("3_c.sql", "SELECT 3;\n")]);
        write(t.path(), "2_b.sql", "SELECT 2;\n");
        let m = check_sum(t.path()).unwrap().unwrap();
        assert!(m.message.contains("L3: 2_b.sql was added"), "{}", m.message);
        assert_eq!(m.migration, Some(t.path().join("2_b.sql")));

        let t = hashed_dir(&[("1_a.sql", "SELECT 1;\n")]);
        write(t.path(), "2_b.sql", "SELECT 2;\n");
        let m = check_sum(t.path()).unwrap().unwrap();
        assert!(m.message.contains("L3: 2_b.sql was added"), "{}", m.message);

        let t = hashed_dir(&[("1_a.sql", "SELECT 1;\n"), ("2_b.sql", "SELECT 2;\n")]);
        std::fs::remove_file(t.path().join("2_b.sql")).unwrap();
        let m = check_sum(t.path()).unwrap().unwrap();
        assert!(
            m.message.contains("L3: 2_b.sql was removed"),
            "{}",
            m.message
        );
        assert_eq!(m.migration, None);
    }

    #[test]
    fn tampered_total_and_bad_format() {
        let t = hashed_dir(&[("1_a.sql", "SELECT 1;\n")]);
        let sum = std::fs::read_to_string(t.path().join(SUM_FILE)).unwrap();
        write(t.path(), SUM_FILE, sum.replacen("h1:", "h1:x", 1));
        let m = check_sum(t.path()).unwrap().unwrap();
        assert_eq!(m.line, Some(1));
        write(t.path(), SUM_FILE, format!("{sum}\n"));
        let m = check_sum(t.path()).unwrap().unwrap();
        assert_eq!(m.line, Some(3));
        assert!(m.message.contains("format invalid"), "{}", m.message);
        // CRLF line endings are read as Go's scanner reads them.
        write(t.path(), SUM_FILE, sum.replace('\n', "\r\n"));
        assert_eq!(check_sum(t.path()).unwrap(), None);
    }

    #[test]
    fn sum_ignore_and_hidden_files_as_atlas_hashes_them() {
        let t = hashed_dir(&[
            ("1_a.sql", "-- atlas:sum ignore\nSELECT 1;\n"),
            ("2_b.sql", "SELECT 2;\n"),
        ]);
        let entries = hash_files(&sql_files(t.path()).unwrap());
        assert_eq!(entries.len(), 1);
        // The ignored file's contents do not count, its name does.
        write(t.path(), "1_a.sql", "-- atlas:sum ignore\nSELECT 11;\n");
        assert_eq!(check_sum(t.path()).unwrap(), None);
        // Glob("*.sql") lists hidden files too.
        write(t.path(), ".0_hidden.sql", "SELECT 0;\n");
        assert!(check_sum(t.path()).unwrap().is_some());
        // No atlas.sum: nothing to check.
        let t = tempdir();
        write(t.path(), "1_a.sql", "SELECT 1;\n");
        assert_eq!(check_sum(t.path()).unwrap(), None);
    }

    #[test]
    fn detected_by_sum_and_ordered_by_file_name() {
        let t = hashed_dir(&[
            ("20240703194656_v0.35.1.sql", "SELECT 2;\n"),
            ("20240101000000_init.sql", "SELECT 1;\n"),
            ("1.5_x.sql", "SELECT 0;\n"),
        ]);
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
                ("1.5", "x"),
                ("20240101000000", "init"),
                ("20240703194656", "v0.35.1")
            ]
        );
        assert!(d.migrations.iter().all(|m| m.down.is_none()));
        assert_eq!(d.migrations[0].up.transaction, TransactionMode::Wrapped);
    }

    #[test]
    fn pairs_with_atlas_sum_stay_pairs() {
        let t = hashed_dir(&[("1_a.up.sql", "SELECT 1;"), ("1_a.down.sql", "SELECT 1;")]);
        assert_eq!(discover(t.path(), None).unwrap().format(), sqlx::FORMAT);
        let d = discover(t.path(), Some(golang_migrate::FORMAT)).unwrap();
        assert_eq!(d.migrations.len(), 1);
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert!(err.message.contains("--format golang-migrate"), "{err}");
        // Without atlas.sum plain files are sqlx's.
        let t = tempdir();
        write(t.path(), "1_a.sql", "SELECT 1;");
        assert_eq!(discover(t.path(), None).unwrap().format(), sqlx::FORMAT);
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert_eq!(err.path, t.path().join(SUM_FILE));
        assert!(err.message.contains("checksum file not found"), "{err}");
    }

    #[test]
    fn txmode_directives() {
        let mode = |sql: &str| {
            let t = hashed_dir(&[("1_a.sql", sql)]);
            discover(t.path(), Some(FORMAT)).map(|d| d.migrations[0].up.transaction)
        };
        assert_eq!(
            mode("-- atlas:txmode none\n\nCREATE INDEX CONCURRENTLY i ON t (x);\n"),
            Ok(TransactionMode::None)
        );
        assert_eq!(
            mode("-- a comment\n-- atlas:txmode none\n  \t\nSELECT 1;\n"),
            Ok(TransactionMode::None)
        );
        assert_eq!(
            mode("# atlas:txmode none\n\nSELECT 1;\n"),
            Ok(TransactionMode::None)
        );
        assert_eq!(
            mode("-- atlas:txmode file\n\nSELECT 1;\n"),
            Ok(TransactionMode::Wrapped)
        );
        // Not separated from the SQL by a blank line: a statement comment, not a directive.
        assert_eq!(
            mode("-- atlas:txmode none\nSELECT 1;\n"),
            Ok(TransactionMode::Wrapped)
        );
        // Not at the very start of the line, or after the SQL started.
        assert_eq!(
            mode(" -- atlas:txmode none\n\nSELECT 1;\n"),
            Ok(TransactionMode::Wrapped)
        );
        assert_eq!(
            mode("SELECT 1;\n-- atlas:txmode none\n\nSELECT 2;\n"),
            Ok(TransactionMode::Wrapped)
        );
        // CRLF: the blank line is "\r\n", which Atlas does not take as blank.
        assert_eq!(
            mode("-- atlas:txmode none\r\n\r\nSELECT 1;\r\n"),
            Ok(TransactionMode::Wrapped)
        );
        assert_eq!(
            mode("\u{feff}-- atlas:txmode none\n\nSELECT 1;\n"),
            Ok(TransactionMode::Wrapped)
        );
    }

    #[test]
    fn refused_txmodes_name_the_line() {
        for (sql, line, needle) in [
            (
                "-- atlas:txmode all\n\nSELECT 1;\n",
                1,
                "\"all\" is not allowed",
            ),
            (
                "-- c\n-- atlas:txmode nope\n\nSELECT 1;\n",
                2,
                "unknown txmode \"nope\"",
            ),
            (
                "-- atlas:txmode none\n-- atlas:txmode file\n\nSELECT 1;\n",
                2,
                "first on line 1",
            ),
        ] {
            let t = hashed_dir(&[("1_a.sql", sql)]);
            let err = discover(t.path(), None).unwrap_err();
            assert_eq!(err.path, t.path().join("1_a.sql"));
            assert_eq!(err.line, Some(line), "{sql:?}");
            assert!(err.message.contains(needle), "{err}");
        }
    }

    #[test]
    fn directive_regex() {
        assert_eq!(
            parse_directive("-- atlas:txmode none"),
            Some(("txmode", "none"))
        );
        assert_eq!(
            parse_directive("-- atlas:txmode   none  x"),
            Some(("txmode", "none  x"))
        );
        assert_eq!(
            parse_directive("-- atlas:checkpoint"),
            Some(("checkpoint", ""))
        );
        assert_eq!(
            parse_directive("-- atlas:txmode\tnone"),
            Some(("txmode", ""))
        );
        assert_eq!(parse_directive("--\tatlas:txmode none"), None);
        assert_eq!(parse_directive("-- atlas:"), None);
        // The last directive of the line wins, as the greedy prefix makes it.
        assert_eq!(
            parse_directive("-- atlas:sum ignore atlas:txmode none"),
            Some(("txmode", "none"))
        );
    }

    #[test]
    fn checkpoint_starts_a_clean_database() {
        let t = hashed_dir(&[
            ("1_a.sql", "CREATE TABLE a ();\n"),
            ("2_cp.sql", "-- atlas:checkpoint\n\nCREATE TABLE a ();\n"),
            ("3_b.sql", "CREATE TABLE b ();\n"),
        ]);
        let d = discover(t.path(), None).unwrap();
        let versions: Vec<&str> = d
            .migrations
            .iter()
            .map(|m| m.version.text.as_str())
            .collect();
        assert_eq!(versions, ["2", "3"]);
        assert_eq!(d.ignored, [t.path().join("1_a.sql")]);
    }

    #[test]
    fn duplicate_versions_and_bad_bytes() {
        let t = hashed_dir(&[("1_a.sql", "SELECT 1;"), ("1_b.sql", "SELECT 1;")]);
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, t.path().join("1_b.sql"));
        assert!(err.message.contains("duplicate version 1"), "{err}");
        let t = tempdir();
        let path = write(t.path(), "1_a.sql", b"SELECT 1;\n\xff\n");
        rehash(t.path());
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!((&err.path, err.line), (&path, Some(2)));
    }

    #[test]
    fn paths_and_versions() {
        let s = Settings::default();
        assert!(FORMAT.is_migration_path("20240101000000_a.sql", &s));
        assert!(!FORMAT.is_migration_path(SUM_FILE, &s));
        assert!(!FORMAT.is_migration_path("1_a.up.sql", &s));
        assert!(!FORMAT.is_migration_path("x/1_a.sql", &s));
        let v = FORMAT
            .version_of_path("20240703194656_v0.35.1.sql", &s)
            .unwrap();
        assert_eq!(v.text, "20240703194656");
    }

    #[test]
    fn lock_key_is_fnv1_of_atlas_migrate_execute() {
        // FNV-1 test vectors (Go's hash/fnv New32): "" and "a".
        assert_eq!(fnv1_32(""), 0x811c_9dc5);
        assert_eq!(fnv1_32("a"), 0x050c_5d7e);
        assert_eq!(Atlas.lock_key("db", "public"), 2_686_470_616);
    }
}
