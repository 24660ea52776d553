//! Each tool's bookkeeping table, read and written exactly as the tool does, so that
//! `migrate` and the team's own tool see the same state of one database. One file per tool
//! behind one trait, [`Bookkeeping`]: the table's shape, the SQL the tool writes when a
//! migration runs, its checksum and its advisory lock. A format whose tool keeps no table
//! (a hand-rolled `pattern` layout) gets ours, `migration_check.history` ([`own`]): one row
//! per up or down, with who ran it and how long it took. A format whose table `migrate`
//! does not write is refused by name rather than written in a shape its tool would not
//! read.

mod atlas;
mod dbmate;
mod diesel;
pub mod flyway;
mod golang_migrate;
mod goose;
mod knex;
mod node_pg_migrate;
mod own;
mod prisma;
mod sql_migrate;
mod sqlx;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use tokio_postgres::Client;

use super::Applied;
use crate::error::UsageError;
use crate::migrations::{Format, Migration};

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
    /// Creates the table if it does not exist, as the tool does.
    fn create_sql(&self) -> &'static str;
    /// The applied migrations (see the trait's documentation for the row shape).
    fn read_sql(&self) -> &'static str;
    /// The recorded rows as [`Applied`]s in the files' spelling.
    fn interpret(&self, rows: Vec<Applied>, _migrations: &[Migration]) -> Vec<Applied> {
        rows
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
        sqlx::key(&format!("migration_check:{database}"))
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

/// The bookkeeping of `format`; an error for formats whose table `migrate` does not write.
pub fn of(format: Format) -> Result<Book, UsageError> {
    let book: Book = match (format.name(), format.history_table()) {
        ("sqlx", _) => &sqlx::Sqlx,
        ("dbmate", _) => &dbmate::Dbmate,
        ("diesel", _) => &diesel::Diesel,
        ("golang-migrate", _) => &golang_migrate::GolangMigrate,
        ("node-pg-migrate", _) => &node_pg_migrate::NodePgMigrate,
        ("goose", _) => &goose::Goose,
        ("flyway", _) => &flyway::Flyway,
        ("knex", _) => &knex::Knex,
        ("prisma", _) => &prisma::Prisma,
        ("atlas", _) => &atlas::Atlas,
        ("sql-migrate", _) => &sql_migrate::SqlMigrate,
        (_, None) => &own::Own,
        (name, Some(table)) => {
            return Err(UsageError(format!(
                "`migrate` does not write {name}'s history table `{table}` (it writes {}); \
                 use {name}'s own tool for this database, or `verify` to check the migrations",
                SUPPORTED
            )));
        }
    };
    Ok(book)
}

/// Our own history, `migration_check.history` (also kept beside a tool's table that
/// records no checksums, with `--record-checksums`).
pub fn own() -> Book {
    &own::Own
}

/// The tables `migrate` writes, for messages.
const SUPPORTED: &str = "the tables of sqlx, golang-migrate, dbmate, diesel, goose, Flyway, \
     node-pg-migrate, knex, Prisma, Atlas and sql-migrate, and `migration_check.history` for \
     layouts whose tool keeps no table";

impl dyn Bookkeeping {
    /// Creates the table if it does not exist.
    pub async fn ensure(&self, client: &Client) -> Result<(), tokio_postgres::Error> {
        client.batch_execute(self.create_sql()).await
    }

    /// The applied migrations, oldest first; empty when the table does not exist.
    pub async fn applied(
        &self,
        client: &Client,
        migrations: &[Migration],
    ) -> Result<Vec<Applied>, ReadError> {
        let exists: bool = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&self.table()])
            .await?
            .get(0);
        if !exists {
            return Ok(Vec::new());
        }
        self.check_shape(client).await?;
        let rows = client
            .query(self.read_sql(), &[])
            .await?
            .iter()
            .map(|row| Applied {
                version: row.get(0),
                name: row.get(1),
                checksum: row.get(2),
                applied_at: row.get(3),
                execution_ms: row.get(4),
                applied_by: row.get(5),
                success: row.get(6),
            })
            .collect();
        Ok(self.interpret(rows, migrations))
    }

    /// Sets the execution time of the record [`Bookkeeping::record_sql`] wrote.
    pub async fn finish(
        &self,
        client: &Client,
        migration: &Migration,
        up: bool,
        elapsed: Duration,
    ) -> Result<(), tokio_postgres::Error> {
        match self.finish_sql(migration, up, elapsed) {
            Some(sql) => client.batch_execute(&sql).await,
            None => Ok(()),
        }
    }

    /// Refuses a table of this name written by another tool: golang-migrate's
    /// `schema_migrations` (version, dirty) is not dbmate's (version).
    async fn check_shape(&self, client: &Client) -> Result<(), ReadError> {
        let columns: Vec<String> = client
            .query(
                "SELECT attname::text FROM pg_attribute
                 WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped
                 ORDER BY attnum",
                &[&self.table()],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let expected = self.columns();
        if columns
            .iter()
            .map(String::as_str)
            .eq(expected.iter().copied())
        {
            return Ok(());
        }
        Err(ReadError::Foreign(format!(
            "{} has columns ({}), not ({}) as {} writes it: the database is kept by another \
             tool (golang-migrate's schema_migrations has a dirty column, dbmate's only a \
             version)",
            self.table(),
            columns.join(", "),
            expected.join(", "),
            self.tool()
        )))
    }
}

/// Why the history could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The database failed the query.
    Database(tokio_postgres::Error),
    /// The table is another tool's (its columns say so).
    Foreign(String),
}

impl From<tokio_postgres::Error> for ReadError {
    fn from(error: tokio_postgres::Error) -> Self {
        ReadError::Database(error)
    }
}

/// The statement every record starts with: values come from file names and are written as
/// literals, quotes doubled, with standard_conforming_strings on so a backslash is only a
/// backslash.
fn record(statements: &str) -> String {
    format!("SET standard_conforming_strings = on;\n{statements}")
}

/// A SQL string literal (with standard_conforming_strings on).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The up script's bytes, for checksums.
fn up_bytes(migration: &Migration) -> Option<Vec<u8>> {
    std::fs::read(&migration.up.path).ok()
}

/// The migration's file name without its extension.
fn file_stem(migration: &Migration) -> String {
    up_file_part(migration, Path::file_stem)
}

/// The migration's file name as the tool lists it.
fn file_name(migration: &Migration) -> String {
    up_file_part(migration, Path::file_name)
}

/// A part of the up file's path, or `<version>_<name>` for a path without one.
fn up_file_part(migration: &Migration, part: fn(&Path) -> Option<&std::ffi::OsStr>) -> String {
    part(&migration.up.path)
        .map(|part| part.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("{}_{}", migration.version, migration.name))
}

/// Rows that record a migration by a name its files give (knex's file name, Prisma's
/// directory): each as the version of the file of that name, else the name's leading
/// digits (a migration whose file is gone).
fn by_name(
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
fn millis(elapsed: Duration) -> i64 {
    i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_a_table_not_written_are_refused_by_name() {
        let hasura = Format::ALL.iter().find(|f| f.name() == "hasura").unwrap();
        let err = of(*hasura).unwrap_err();
        assert!(err.0.contains("hasura"), "{}", err.0);
        let pattern = Format::ALL.iter().find(|f| f.name() == "pattern").unwrap();
        assert_eq!(of(*pattern).unwrap().table(), "migration_check.history");
        assert_eq!(literal("it's"), "'it''s'");
    }
}
