//! The Prisma Migrate layout: one directory `<timestamp>_<name>/` per migration holding
//! `migration.sql`, beside a `migration_lock.toml` naming the database provider. Prisma has no
//! down scripts, so every migration is up only. This leaf reads that layout as Prisma reads it
//! and refuses a directory locked to another database than PostgreSQL.
//!
//! Facts from the tool's source that the rules below rely on:
//! - prisma/prisma `packages/migrate/src/utils/listMigrations.ts`, `listMigrations`: every
//!   directory entry of the migrations directory is a migration (files beside them, such as
//!   `migration_lock.toml`, are not), its script is `<dir>/migration.sql`, and the migrations
//!   are sorted by directory name (`a.path.localeCompare(b.path)`). For the
//!   `<14-digit timestamp>_<name>` names Prisma writes this is the byte order of the names,
//!   which is what [`Version`] uses here; the two orders could only differ for two directories
//!   with the same timestamp, which discovery refuses as a duplicate version.
//! - prisma/prisma-engines `schema-engine/connectors/schema-connector/src/migrations_directory.rs`,
//!   `read_provider_from_lock_file`: the provider is the first line of `migration_lock.toml`
//!   starting with `provider`, with `provider = ` and surrounding `"` trimmed; a lock file
//!   without such a line reads as `<PROVIDER NOT FOUND>`, and a provider other than the
//!   schema's is refused (`error_on_changed_provider`). A missing lock file is accepted.
//! - prisma/prisma-engines `schema-engine/connectors/sql-schema-connector/src/flavour/postgres/connection.rs`,
//!   `apply_migration_script`: PostgreSQL gets the whole script in one `simple_query`, with no
//!   transaction of Prisma's own. PostgreSQL runs a multi-statement simple query as one implicit
//!   transaction, so `CREATE INDEX CONCURRENTLY` fails there unless it is the script's only
//!   statement. That is exactly [`TransactionMode::AsWritten`]; Prisma has no marker to change it.
//! - The bookkeeping table is `_prisma_migrations` (its columns are documented in
//!   `schema-connector/src/migration_persistence.rs`).

use super::bookkeeping::{Applied, Book, Bookkeeping, by_name, hex, literal, record, up_bytes};
use super::{
    Entry, Evidence, Format, FormatSpec, Found, Listing, Migration, Settings, Strength,
    TransactionMode, Version, lines,
};
use crate::error::InputError;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The Prisma format.
pub const FORMAT: Format = Format::new(&Prisma);

/// Prisma Migrate (`prisma migrate deploy`).
pub struct Prisma;

/// The script file of every migration directory.
const SCRIPT: &str = "migration.sql";

/// The lock file naming the database provider, beside the migration directories.
const LOCK_FILE: &str = "migration_lock.toml";

/// The only provider migration-check can verify.
const POSTGRESQL: &str = "postgresql";

impl FormatSpec for Prisma {
    fn name(&self) -> &'static str {
        "prisma"
    }

    fn layout(&self) -> &'static str {
        "Prisma `<timestamp>_<name>/migration.sql` directories"
    }

    fn depth(&self) -> usize {
        2
    }

    fn default_dirs(&self) -> &'static [&'static str] {
        &["prisma/migrations"]
    }

    fn recognise(
        &self,
        listing: &Listing,
        _settings: &Settings,
    ) -> Result<Option<Evidence>, InputError> {
        if let Some(lock) = listing.get(LOCK_FILE).filter(|e| !e.is_dir) {
            return Ok(Some(Evidence::entry(lock, Strength::Marker)));
        }
        Ok(listing
            .top_dirs()
            .find(|dir| listing.get(&script_rel(dir)).is_some())
            .map(|dir| Evidence::entry(dir, Strength::Naming)))
    }

    fn discover(&self, listing: &Listing, _settings: &Settings) -> Result<Found, InputError> {
        if let Some(lock) = listing.get(LOCK_FILE).filter(|e| !e.is_dir) {
            check_provider(lock)?;
        }
        // Every directory is a migration (two of one timestamp are two, in name order);
        // files are skipped.
        let mut migrations = Vec::new();
        for dir in listing.top_dirs() {
            migrations.push(migration(listing, dir)?);
        }
        let ignored = listing
            .top_entries()
            .filter(|f| !f.is_dir && f.rel != LOCK_FILE)
            .map(|f| f.path.clone())
            .collect();
        Ok(Found {
            migrations,
            ignored,
            ..Found::default()
        })
    }

    fn is_migration_path(&self, rel: &str, _settings: &Settings) -> bool {
        matches!(rel.split_once('/'), Some((dir, SCRIPT)) if !dir.starts_with('.'))
    }

    fn version_of_path(&self, rel: &str, settings: &Settings) -> Option<Version> {
        if !self.is_migration_path(rel, settings) {
            return None;
        }
        Some(version_of(&self.migration_key(rel, settings)))
    }

    fn migration_key(&self, rel: &str, _settings: &Settings) -> String {
        rel.split('/').next().unwrap_or(rel).to_string()
    }

    fn transaction_rule(&self) -> &'static str {
        "each script sent as one simple query, an implicit transaction when it holds more \
         than one statement"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        None
    }

    fn bookkeeping(&self) -> Option<Book> {
        Some(&Prisma)
    }

    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        vec![(format!("{version}_{name}/{SCRIPT}"), format!("-- {name}\n"))]
    }
}

/// The listing path of a migration directory's script.
fn script_rel(dir: &Entry) -> String {
    format!("{}/{SCRIPT}", dir.rel)
}

/// The version of a migration directory: its name up to the first `_` (the timestamp).
/// The version of a migration directory: its whole name, which `_prisma_migrations` records
/// as `migration_name` and by which Prisma orders migrations (two directories of one
/// timestamp are two migrations).
fn version_of(dir: &str) -> Version {
    Version::textual(dir, dir)
}

/// Refuses a lock file whose provider is not PostgreSQL, read as Prisma reads it.
fn check_provider(lock: &Entry) -> Result<(), InputError> {
    let text = &lock.text()?.sql;
    let Some(line) = lines(text).find(|l| l.text.starts_with("provider")) else {
        return Err(InputError::new(
            &lock.path,
            "no `provider = \"postgresql\"` line: Prisma refuses a lock file without a \
             provider; add the line (or delete the file and let `prisma migrate dev` \
             write it again)",
        ));
    };
    let raw = line.text.strip_suffix('\r').unwrap_or(line.text);
    let provider = raw.trim_start_matches("provider = ").trim_matches('"');
    if provider == POSTGRESQL {
        return Ok(());
    }
    Err(InputError::at_line(
        &lock.path,
        line.number,
        format!(
            "these migrations are locked to provider `{provider}`, not `{POSTGRESQL}`; \
             migration-check verifies PostgreSQL migrations only (Prisma reads this line as \
             the provider: it must read `provider = \"{POSTGRESQL}\"`)"
        ),
    ))
}

/// Reads one migration directory: its `migration.sql`, up only.
fn migration(listing: &Listing, dir: &Entry) -> Result<Migration, InputError> {
    let Some(script) = listing.get(&script_rel(dir)).filter(|e| !e.is_dir) else {
        return Err(InputError::new(
            &dir.path,
            "migration directory has no migration.sql: Prisma reads every directory here as \
             a migration and fails on this one when it gets there; add the script, or move \
             the directory out of the migrations directory",
        ));
    };
    let (_, name) = dir.rel.split_once('_').unwrap_or((&dir.rel, ""));
    Ok(Migration {
        version: version_of(&dir.rel),
        name: name.to_string(),
        up: script
            .text()?
            .whole_script(&script.path, TransactionMode::AsWritten),
        down: None,
    })
}

// Prisma's `_prisma_migrations` (prisma-engines, `sql_migration_persistence.rs` and
// `apply_migrations.rs`): a row is inserted when a migration starts (uuid, SHA-256 of
// `migration.sql`, the directory name) and completed with `finished_at` and
// `applied_steps_count` when it succeeded; a row without `finished_at` and not rolled back
// is a failed migration, which `prisma migrate deploy` refuses to go past (P3009) until
// `prisma migrate resolve`. The lock is `pg_advisory_lock(72707369)`.

/// prisma's history table.
pub const TABLE: &str = "_prisma_migrations";

/// The migration's directory name, which Prisma records as `migration_name`.
fn directory(migration: &Migration) -> String {
    migration
        .up
        .path
        .parent()
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("{}_{}", migration.version, migration.name))
}

/// The SHA-256 (hex) of `bytes` with CRLF turned into LF, and with LF into CRLF.
fn line_ending_variants(bytes: &[u8]) -> [String; 2] {
    let text = String::from_utf8_lossy(bytes);
    let lf = text.replace("\r\n", "\n");
    let crlf = lf.replace('\n', "\r\n");
    [lf, crlf].map(|variant| hex(&Sha256::digest(variant.as_bytes())))
}

impl Bookkeeping for Prisma {
    fn tool(&self) -> &'static str {
        "prisma"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn columns(&self) -> &'static [&'static str] {
        &[
            "id",
            "checksum",
            "finished_at",
            "migration_name",
            "logs",
            "rolled_back_at",
            "started_at",
            "applied_steps_count",
        ]
    }

    fn create_sql(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (
            id                      VARCHAR(36) PRIMARY KEY NOT NULL,
            checksum                VARCHAR(64) NOT NULL,
            finished_at             TIMESTAMPTZ,
            migration_name          VARCHAR(255) NOT NULL,
            logs                    TEXT,
            rolled_back_at          TIMESTAMPTZ,
            started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
            applied_steps_count     INTEGER NOT NULL DEFAULT 0
        );"
        )
    }

    fn read_sql(&self) -> String {
        format!(
            "SELECT migration_name, migration_name, checksum, started_at::text,
                (extract(epoch FROM finished_at - started_at) * 1000)::bigint, NULL::text,
                finished_at IS NOT NULL
         FROM {TABLE} WHERE rolled_back_at IS NULL ORDER BY started_at"
        )
    }

    /// A recorded checksum of the file with its line endings converted (CRLF to LF or
    /// back) is the file's, as Prisma's `script_matches_checksum` accepts it: a checkout
    /// that changed line endings did not edit the migration.
    fn interpret(&self, rows: Vec<Applied>, migrations: &[Migration]) -> Vec<Applied> {
        let mut rows = by_name(rows, migrations, directory);
        for row in &mut rows {
            let Some(migration) = migrations.iter().find(|m| m.version.text == row.version) else {
                continue;
            };
            let Some(bytes) = up_bytes(migration) else {
                continue;
            };
            if row
                .checksum
                .as_ref()
                .is_some_and(|recorded| line_ending_variants(&bytes).contains(recorded))
            {
                row.checksum = self.checksum(migration);
            }
        }
        rows
    }

    fn checksum(&self, migration: &Migration) -> Option<String> {
        up_bytes(migration).map(|bytes| hex(&Sha256::digest(&bytes)))
    }

    fn records_checksums(&self) -> bool {
        true
    }

    fn lock_key(&self, _database: &str, _schema: &str) -> i64 {
        72_707_369
    }

    /// The started row, committed before the script runs, as Prisma inserts it.
    fn before_sql(&self, migrations: &[Migration], index: usize, up: bool) -> Option<String> {
        let migration = &migrations[index];
        up.then(|| {
            record(&format!(
                "INSERT INTO {TABLE} (id, checksum, migration_name, started_at, \
                 applied_steps_count) VALUES (gen_random_uuid()::text, {}, {}, now(), 0);",
                literal(&self.checksum(migration).unwrap_or_default()),
                literal(&directory(migration))
            ))
        })
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let name = literal(&directory(&migrations[index]));
        record(&if up {
            format!(
                "UPDATE {TABLE} SET applied_steps_count = applied_steps_count + 1, \
                 finished_at = clock_timestamp() \
                 WHERE migration_name = {name} AND finished_at IS NULL AND rolled_back_at IS NULL;"
            )
        } else {
            // `prisma migrate resolve --rolled-back`: the row stays, marked rolled back.
            format!(
                "UPDATE {TABLE} SET rolled_back_at = now() \
                 WHERE migration_name = {name} AND rolled_back_at IS NULL;"
            )
        })
    }

    fn failure_note(&self) -> &'static str {
        "rolled back; _prisma_migrations records it as started and not finished, as Prisma \
         does: repair the database, then `prisma migrate resolve --rolled-back NAME`"
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{discover, tempdir, write};
    use super::*;

    const LOCK: &str = "# Please do not edit this file manually\nprovider = \"postgresql\"\n";

    fn versions(d: &super::super::Discovered) -> Vec<(&str, &str)> {
        d.migrations
            .iter()
            .map(|m| (m.version.text.as_str(), m.name.as_str()))
            .collect()
    }

    #[test]
    fn detected_by_lock_file_and_ordered_by_directory_name() {
        let t = tempdir();
        write(t.path(), LOCK_FILE, LOCK);
        write(t.path(), "20240102000000_b/migration.sql", "SELECT 2;");
        write(t.path(), "20240101000000_a/migration.sql", "SELECT 1;");
        write(t.path(), "9_short/migration.sql", "SELECT 9;");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format(), FORMAT);
        // Names are compared as strings: "9_short" sorts after the timestamps.
        assert_eq!(
            versions(&d),
            [
                ("20240101000000_a", "a"),
                ("20240102000000_b", "b"),
                ("9_short", "short")
            ]
        );
        let m = &d.migrations[0];
        assert_eq!(m.up.path, t.path().join("20240101000000_a/migration.sql"));
        assert_eq!(m.up.sql, "SELECT 1;");
        assert_eq!(m.up.transaction, TransactionMode::AsWritten);
        assert_eq!(m.down, None);
        assert!(d.ignored.is_empty());
    }

    #[test]
    fn detected_without_lock_file_by_naming() {
        let t = tempdir();
        write(t.path(), "20240101000000_init/migration.sql", "SELECT 1;");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format(), FORMAT);
        assert_eq!(versions(&d), [("20240101000000_init", "init")]);
    }

    #[test]
    fn other_providers_are_refused_at_the_line() {
        for (lock, line, found) in [
            ("# c\nprovider = \"mysql\"\n", 2, "mysql"),
            ("provider = \"cockroachdb\"\r\n", 1, "cockroachdb"),
            // Prisma only trims `provider = ` with single spaces.
            ("provider=\"postgresql\"\n", 1, "provider=\"postgresql"),
        ] {
            let t = tempdir();
            let path = write(t.path(), LOCK_FILE, lock);
            write(t.path(), "1_a/migration.sql", "SELECT 1;");
            let err = discover(t.path(), None).unwrap_err();
            assert_eq!(err.path, path, "{lock:?}");
            assert_eq!(err.line, Some(line), "{lock:?}");
            assert!(err.message.contains(&format!("`{found}`")), "{err}");
        }
        let t = tempdir();
        let path = write(t.path(), LOCK_FILE, "# nothing\n");
        write(t.path(), "1_a/migration.sql", "SELECT 1;");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert_eq!((&err.path, err.line), (&path, None));
    }

    #[test]
    fn crlf_lock_file_is_postgresql() {
        let t = tempdir();
        write(t.path(), LOCK_FILE, "provider = \"postgresql\"\r\n");
        write(t.path(), "1_a/migration.sql", "SELECT 1;");
        assert_eq!(discover(t.path(), None).unwrap().migrations.len(), 1);
    }

    #[test]
    fn directory_without_script_is_an_error() {
        let t = tempdir();
        write(t.path(), LOCK_FILE, LOCK);
        write(t.path(), "1_a/migration.sql", "SELECT 1;");
        write(t.path(), "2_b/notes.md", "x");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, t.path().join("2_b"));
        assert!(err.message.contains("no migration.sql"), "{err}");
        let t = tempdir();
        write(t.path(), LOCK_FILE, LOCK);
        write(t.path(), "2_b/up.sql", "SELECT 1;");
        let err = discover(t.path(), None).unwrap_err();
        assert!(
            err.message.contains("Prisma reads every directory"),
            "{err}"
        );
    }

    /// Prisma names a migration by its directory: two of one timestamp are two migrations.
    #[test]
    fn duplicate_timestamps_are_two_migrations_in_name_order() {
        let t = tempdir();
        write(t.path(), LOCK_FILE, LOCK);
        write(t.path(), "1_b/migration.sql", "SELECT 1;");
        write(t.path(), "1_a/migration.sql", "SELECT 1;");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(versions(&d), [("1_a", "a"), ("1_b", "b")]);
    }

    #[test]
    fn non_utf8_script_names_the_line() {
        let t = tempdir();
        write(t.path(), LOCK_FILE, LOCK);
        let path = write(
            t.path(),
            "1_a/migration.sql",
            b"SELECT 1;\nSELECT '\xff';\n",
        );
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!((&err.path, err.line), (&path, Some(2)));
    }

    #[test]
    fn top_level_sql_files_are_ignored_as_prisma_ignores_them() {
        let t = tempdir();
        write(t.path(), LOCK_FILE, LOCK);
        write(t.path(), "1_a/migration.sql", "SELECT 1;");
        let stray = write(t.path(), "seed.sql", "SELECT 1;");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        assert_eq!(d.ignored, [stray]);
    }

    #[test]
    fn paths_versions_and_keys() {
        let s = Settings::default();
        assert!(FORMAT.is_migration_path("20240101000000_a/migration.sql", &s));
        assert!(!FORMAT.is_migration_path(LOCK_FILE, &s));
        assert!(!FORMAT.is_migration_path("20240101000000_a/down.sql", &s));
        assert!(!FORMAT.is_migration_path("a/b/migration.sql", &s));
        assert!(!FORMAT.is_migration_path(".x/migration.sql", &s));
        let v = FORMAT
            .version_of_path("20240101000000_a/migration.sql", &s)
            .unwrap();
        assert_eq!(v.text, "20240101000000_a");
        assert_eq!(FORMAT.migration_key("1_a/migration.sql", &s), "1_a");
        assert_eq!(
            FORMAT.template("20240101000000", "init")[0].0,
            "20240101000000_init/migration.sql"
        );
    }

    #[test]
    fn a_checksum_of_other_line_endings_is_the_same_file() {
        let lf = b"CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n";
        let crlf = b"CREATE TABLE a (id int);\r\nCREATE TABLE b (id int);\r\n";
        let of = |bytes: &[u8]| hex(&Sha256::digest(bytes));
        assert!(line_ending_variants(crlf).contains(&of(lf)));
        assert!(line_ending_variants(lf).contains(&of(crlf)));
        assert!(!line_ending_variants(lf).contains(&of(b"CREATE TABLE a (id int);\n")));
    }
}
