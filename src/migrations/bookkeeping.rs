//! The bookkeeping half of a format: where a migration tool records what it applied, and
//! how, so that `migrate` and the team's own tool see the same state of one database. A
//! format whose tool keeps a table implements [`Bookkeeping`] beside its [`FormatSpec`](super::FormatSpec)
//! (one file per tool, reached by [`FormatSpec::bookkeeping`](super::FormatSpec::bookkeeping)): the table's shape, the SQL
//! the tool writes when a migration runs, its checksum and its advisory lock. Only text is
//! produced here; `migrate::history` runs it.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::Migration;

/// One migration as the database's bookkeeping records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The version as the tool writes it (`20240101120000`).
    pub version: String,
    /// The description or name the tool recorded, if it records one.
    pub name: Option<String>,
    /// The checksum the tool recorded, hex, if it records one.
    pub checksum: Option<String>,
    /// When it was applied (text as PostgreSQL prints it), if recorded.
    pub applied_at: Option<String>,
    /// How long it took, in milliseconds, if recorded.
    pub execution_ms: Option<i64>,
    /// Who applied it (`current_user`, `application_name`), if recorded.
    pub applied_by: Option<String>,
    /// False for a migration the tool marked as failed or dirty.
    pub success: bool,
}

/// A tool's bookkeeping: where it records the applied migrations, and how.
///
/// [`Self::read_sql`] returns rows of `(version text, name text, checksum text,
/// applied_at text, execution_ms bigint, applied_by text, success bool)`, oldest first,
/// which [`Self::interpret`] turns into [`Applied`]s where the table is not one row per
/// migration.
pub trait Bookkeeping: Sync {
    /// The tool's name, for messages.
    fn tool(&self) -> &'static str;
    /// The table, qualified where it lives outside the search path.
    fn table(&self) -> &'static str;
    /// The table's columns in order, as the tool creates it: another shape is another
    /// tool's table of the same name.
    fn columns(&self) -> &'static [&'static str];
    /// Whether a table of this name with these columns (in order) is the tool's: by default
    /// exactly [`Self::columns`]; a tool whose table has had two shapes accepts both.
    fn is_own_shape(&self, columns: &[String]) -> bool {
        columns
            .iter()
            .map(String::as_str)
            .eq(self.columns().iter().copied())
    }
    /// Creates the table if it does not exist, as the tool does.
    fn create_sql(&self) -> String;
    /// Creates the table if it does not exist, as the tool would for these migrations: the
    /// same as [`Self::create_sql`] unless the migrations tell which of two tools sharing a
    /// layout runs them (pop's migrations with versions longer than 14 characters are Ory's
    /// popx's, whose table is wider).
    fn create_sql_for(&self, migrations: &[Migration]) -> String {
        let _ = migrations;
        self.create_sql()
    }
    /// The applied migrations (see the trait's documentation for the row shape).
    fn read_sql(&self) -> String;
    /// The version the tool records for `migration`: the file's spelling unless the tool
    /// stores it otherwise (an integer column drops `0001`'s zeros; diesel drops dashes).
    fn recorded_version(&self, migration: &Migration) -> String {
        migration.version.text.clone()
    }
    /// The recorded rows as [`Applied`]s in the files' spelling: a row whose version is what
    /// the tool records for a file takes the file's version (`1` is `0001_users.sql`'s).
    fn interpret(&self, rows: Vec<Applied>, migrations: &[Migration]) -> Vec<Applied> {
        rows.into_iter()
            .map(|mut row| {
                if let Some(m) = migrations
                    .iter()
                    .find(|m| self.recorded_version(m) == row.version)
                {
                    row.version = m.version.text.clone();
                }
                row
            })
            .collect()
    }
    /// The checksum the tool records for a migration, as [`Self::read_sql`] returns it;
    /// none when the tool records none.
    fn checksum(&self, _migration: &Migration) -> Option<String> {
        None
    }
    /// The checksums of all `migrations`, in order: one pass where the tool's checksum of a
    /// file covers other files too (Atlas's).
    fn checksums(&self, migrations: &[Migration]) -> Vec<Option<String>> {
        migrations.iter().map(|m| self.checksum(m)).collect()
    }
    /// Whether the tool records a checksum of each migration (else a file edited after
    /// it was applied cannot be told from the database).
    fn records_checksums(&self) -> bool {
        false
    }
    /// The advisory lock key the tool takes, so migration-check and the tool exclude each
    /// other. A tool that takes none gets ours: sqlx's formula over `migration_check:` and
    /// the database name, which keeps migration-check runs apart.
    fn lock_key(&self, database: &str, _schema: &str) -> i64 {
        crc_lock_key(&format!("migration_check:{database}"))
    }
    /// What the tool writes before the migration runs, committed on its own
    /// (golang-migrate marks the target version dirty).
    fn before_sql(&self, _migrations: &[Migration], _index: usize, _up: bool) -> Option<String> {
        None
    }
    /// The SQL that books `migrations[index]` as applied (`up`) or reverted, run inside
    /// the migration's own transaction just before it commits (as sqlx does).
    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String;
    /// What sets the execution time of the record [`Self::record_sql`] wrote, once
    /// committed (the time is not known inside the transaction).
    fn finish_sql(&self, _migration: &Migration, _up: bool, _elapsed: Duration) -> Option<String> {
        None
    }
    /// What the history says after a failed migration.
    fn failure_note(&self) -> &'static str {
        "rolled back, not recorded"
    }
}

impl fmt::Debug for dyn Bookkeeping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bookkeeping({})", self.table())
    }
}

/// A tool's bookkeeping, chosen once per run.
pub type Book = &'static dyn Bookkeeping;

/// sqlx's advisory lock key for `name`: `0x3d32ad9e × CRC-32(name)`, as sqlx-postgres
/// computes it over the database name; tools that take no lock of their own get it over
/// `migration_check:<database>`.
pub(crate) fn crc_lock_key(name: &str) -> i64 {
    0x3d32_ad9e_i64 * i64::from(crc32fast::hash(name.as_bytes()))
}

/// The statement every record starts with: values come from file names and are written as
/// literals, quotes doubled, with standard_conforming_strings on so a backslash is only a
/// backslash.
pub(crate) fn record(statements: &str) -> String {
    format!("SET standard_conforming_strings = on;\n{statements}")
}

/// A SQL string literal (with standard_conforming_strings on).
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The up script's bytes, for checksums.
pub(crate) fn up_bytes(migration: &Migration) -> Option<Vec<u8>> {
    std::fs::read(&migration.up.path).ok()
}

/// The SHA-256 of the up script's bytes, lowercase hex (drizzle's checksum and our own
/// history's).
pub(crate) fn up_sha256(migration: &Migration) -> Option<String> {
    up_bytes(migration).map(|bytes| hex(&Sha256::digest(&bytes)))
}

/// The migration's file name without its extension.
pub(crate) fn file_stem(migration: &Migration) -> String {
    up_file_part(migration, Path::file_stem)
}

/// The migration's file name as the tool lists it.
pub(crate) fn file_name(migration: &Migration) -> String {
    up_file_part(migration, Path::file_name)
}

/// A part of the up file's path, or `<version>_<name>` for a path without one.
pub(crate) fn up_file_part(
    migration: &Migration,
    part: fn(&Path) -> Option<&std::ffi::OsStr>,
) -> String {
    part(&migration.up.path)
        .map(|part| part.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("{}_{}", migration.version, migration.name))
}

/// Rows that record a migration by a name its files give (knex's file name, Prisma's
/// directory): each as the version of the file of that name, else the name's leading
/// digits (a migration whose file is gone).
pub(crate) fn by_name(
    rows: Vec<Applied>,
    migrations: &[Migration],
    name_of: fn(&Migration) -> String,
) -> Vec<Applied> {
    rows.into_iter()
        .map(|mut row| {
            let recorded = row.name.clone().unwrap_or_default();
            row.version = match migrations.iter().find(|m| name_of(m) == recorded) {
                Some(m) => m.version.text.clone(),
                None => crate::migrations::split_version(&recorded)
                    .map_or(recorded.clone(), |(digits, _)| digits.to_string()),
            };
            row
        })
        .collect()
}

/// A millisecond count for a bigint column.
pub(crate) fn millis(elapsed: Duration) -> i64 {
    i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_double_their_quotes() {
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(
            record("SELECT 1;"),
            "SET standard_conforming_strings = on;\nSELECT 1;"
        );
        assert_eq!(hex(&[0, 171, 255]), "00abff");
    }
}
