//! Each tool's bookkeeping table, read and written exactly as the tool does, so that
//! `migrate` and the team's own tool see the same state of one database. A format whose
//! tool keeps no table (a hand-rolled `pattern` layout) gets ours,
//! `migration_check.history`: one row per up or down, with who ran it and how long it
//! took. A format whose table `migrate` does not write yet is refused by name rather than
//! written in a shape its tool would not read.

use std::time::Duration;

use sha2::{Digest, Sha256, Sha384};
use tokio_postgres::Client;

use super::Applied;
use crate::error::UsageError;
use crate::migrations::{Format, Migration};

/// Which table records the applied migrations, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bookkeeping {
    /// sqlx's `_sqlx_migrations`: version, description, installed_on, success, the
    /// SHA-384 of the up script, execution time in nanoseconds.
    Sqlx,
    /// golang-migrate's `schema_migrations`: one row, the current version and whether it is
    /// dirty (set before a migration runs, cleared once it succeeded).
    GolangMigrate,
    /// diesel's `__diesel_schema_migrations`: the version without its dashes and when it ran.
    Diesel,
    /// dbmate's `schema_migrations`: one `version` per applied migration, nothing else
    /// (no checksum, time or author).
    Dbmate,
    /// node-pg-migrate's `pgmigrations`: the file name without extension and when it ran,
    /// in the current schema; no checksum.
    NodePgMigrate,
    /// Ours, `migration_check.history`, for layouts whose tool keeps none.
    Own,
}

impl Bookkeeping {
    /// The bookkeeping of `format`; an error for formats whose table is not written yet.
    pub fn of(format: Format) -> Result<Bookkeeping, UsageError> {
        match (format.name(), format.history_table()) {
            ("sqlx", _) => Ok(Bookkeeping::Sqlx),
            ("dbmate", _) => Ok(Bookkeeping::Dbmate),
            ("diesel", _) => Ok(Bookkeeping::Diesel),
            ("golang-migrate", _) => Ok(Bookkeeping::GolangMigrate),
            ("node-pg-migrate", _) => Ok(Bookkeeping::NodePgMigrate),
            (_, None) => Ok(Bookkeeping::Own),
            (name, Some(table)) => Err(UsageError(format!(
                "`migrate` does not write {name}'s history table `{table}` yet (it writes sqlx's \
                 `_sqlx_migrations`, golang-migrate's and dbmate's `schema_migrations`, diesel's \
                 `__diesel_schema_migrations`, node-pg-migrate's \
                 `pgmigrations` for SQL files, and `migration_check.history` for layouts whose tool keeps \
                 no table); use {name}'s own tool for this database, or `verify` to check the \
                 migrations"
            ))),
        }
    }

    /// The table, qualified where it lives outside the search path.
    pub fn table(self) -> &'static str {
        match self {
            Bookkeeping::Sqlx => "_sqlx_migrations",
            Bookkeeping::GolangMigrate | Bookkeeping::Dbmate => "schema_migrations",
            Bookkeeping::NodePgMigrate => "pgmigrations",
            Bookkeeping::Diesel => "__diesel_schema_migrations",
            Bookkeeping::Own => "migration_check.history",
        }
    }

    /// Whether the tool records a checksum of each migration (else a file edited after
    /// it was applied cannot be told from the database).
    pub fn records_checksums(self) -> bool {
        !matches!(
            self,
            Bookkeeping::GolangMigrate
                | Bookkeeping::Dbmate
                | Bookkeeping::NodePgMigrate
                | Bookkeeping::Diesel
        )
    }

    /// The advisory lock key the tool takes, so migration-check and the tool exclude each
    /// other: sqlx's `0x3d32ad9e × CRC-32(database name)`, node-pg-migrate's constant
    /// `7241865325823964` (`PG_MIGRATE_LOCK_ID`), golang-migrate's `CRC-32(schema NUL table
    /// NUL database) × 1486364155` modulo 2³². dbmate and diesel take no lock, and our
    /// own history has none of a tool: the same formula over `migration_check:` and the
    /// database name keeps migration-check runs apart.
    pub fn lock_key(self, database: &str, schema: &str) -> i64 {
        let name = match self {
            Bookkeeping::NodePgMigrate => return 7_241_865_325_823_964,
            Bookkeeping::GolangMigrate => {
                let name = format!("{schema}\0schema_migrations\0{database}");
                return i64::from(crc32fast::hash(name.as_bytes()).wrapping_mul(1_486_364_155));
            }
            Bookkeeping::Sqlx => database.to_string(),
            Bookkeeping::Dbmate | Bookkeeping::Diesel | Bookkeeping::Own => {
                format!("migration_check:{database}")
            }
        };
        0x3d32_ad9e_i64 * i64::from(crc32fast::hash(name.as_bytes()))
    }

    /// The checksum the tool records for a migration, lowercase hex.
    pub fn checksum(self, migration: &Migration) -> Option<String> {
        let bytes = std::fs::read(&migration.up.path).ok()?;
        match self {
            Bookkeeping::Sqlx => Some(hex(&Sha384::digest(&bytes))),
            Bookkeeping::GolangMigrate
            | Bookkeeping::Dbmate
            | Bookkeeping::NodePgMigrate
            | Bookkeeping::Diesel => None,
            Bookkeeping::Own => Some(hex(&Sha256::digest(&bytes))),
        }
    }

    /// Creates the table if it does not exist, as the tool does.
    pub async fn ensure(self, client: &Client) -> Result<(), tokio_postgres::Error> {
        client
            .batch_execute(match self {
                Bookkeeping::Sqlx => {
                    "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
                        version BIGINT PRIMARY KEY,
                        description TEXT NOT NULL,
                        installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
                        success BOOLEAN NOT NULL,
                        checksum BYTEA NOT NULL,
                        execution_time BIGINT NOT NULL
                    );"
                }
                Bookkeeping::GolangMigrate => {
                    "CREATE TABLE IF NOT EXISTS schema_migrations \
                     (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);"
                }
                Bookkeeping::Dbmate => {
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version varchar PRIMARY KEY);"
                }
                Bookkeeping::Diesel => {
                    "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (
                        version VARCHAR(50) PRIMARY KEY NOT NULL,
                        run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
                    );"
                }
                Bookkeeping::NodePgMigrate => {
                    "CREATE TABLE IF NOT EXISTS pgmigrations (
                        id SERIAL PRIMARY KEY,
                        name varchar(255) NOT NULL,
                        run_on timestamp NOT NULL
                    );"
                }
                Bookkeeping::Own => {
                    "CREATE SCHEMA IF NOT EXISTS migration_check;
                     CREATE TABLE IF NOT EXISTS migration_check.history (
                        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                        version text NOT NULL,
                        name text NOT NULL,
                        sha256 text NOT NULL,
                        direction text NOT NULL CHECK (direction IN ('up', 'down')),
                        applied_at timestamptz NOT NULL DEFAULT now(),
                        execution_ms bigint NOT NULL,
                        applied_by text NOT NULL DEFAULT current_user,
                        application_name text NOT NULL
                            DEFAULT current_setting('application_name')
                    );"
                }
            })
            .await
    }

    /// The applied migrations, oldest first; empty when the table does not exist.
    /// golang-migrate records only the current version: every migration up to it is
    /// applied, and it is failed when the row is dirty.
    pub async fn applied(
        self,
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
        let sql = match self {
            Bookkeeping::GolangMigrate => {
                let row = client
                    .query_opt("SELECT version, dirty FROM schema_migrations LIMIT 1", &[])
                    .await?;
                let Some(row) = row else {
                    return Ok(Vec::new());
                };
                let (current, dirty): (i64, bool) = (row.get(0), row.get(1));
                return Ok(migrations
                    .iter()
                    .filter(|m| m.version.text.parse::<i64>().is_ok_and(|v| v <= current))
                    .map(|m| Applied {
                        version: m.version.text.clone(),
                        name: None,
                        checksum: None,
                        applied_at: None,
                        execution_ms: None,
                        applied_by: None,
                        success: !(dirty && m.version.text.parse::<i64>() == Ok(current)),
                    })
                    .collect());
            }
            Bookkeeping::Sqlx => {
                "SELECT version::text, description, encode(checksum, 'hex'),
                        installed_on::text, execution_time / 1000000, NULL::text, success
                 FROM _sqlx_migrations ORDER BY version"
            }
            Bookkeeping::Dbmate => {
                "SELECT version::text, NULL::text, NULL::text, NULL::text,
                        NULL::bigint, NULL::text, true
                 FROM schema_migrations ORDER BY version"
            }
            Bookkeeping::Diesel => {
                "SELECT version::text, NULL::text, NULL::text, run_on::text,
                        NULL::bigint, NULL::text, true
                 FROM __diesel_schema_migrations ORDER BY version"
            }
            // The version is the name's part before its first `_`, as the format reads it.
            Bookkeeping::NodePgMigrate => {
                "SELECT split_part(name, '_', 1), name, NULL::text, run_on::text,
                        NULL::bigint, NULL::text, true
                 FROM pgmigrations ORDER BY run_on, id"
            }
            Bookkeeping::Own => {
                "SELECT version, name, sha256, applied_at::text, execution_ms,
                        applied_by || ' (' || application_name || ')', true
                 FROM (SELECT DISTINCT ON (version) *
                       FROM migration_check.history
                       ORDER BY version, id DESC) last
                 WHERE direction = 'up'
                 ORDER BY id"
            }
        };
        let rows = client.query(sql, &[]).await?;
        // diesel records `2024-01-02-030405` as `20240102030405`: the file's spelling.
        let spelled = |recorded: String| match self {
            Bookkeeping::Diesel => migrations
                .iter()
                .find(|m| m.version.text.replace('-', "") == recorded)
                .map_or(recorded, |m| m.version.text.clone()),
            _ => recorded,
        };
        Ok(rows
            .iter()
            .map(|row| Applied {
                version: spelled(row.get(0)),
                name: row.get(1),
                checksum: row.get(2),
                applied_at: row.get(3),
                execution_ms: row.get(4),
                applied_by: row.get(5),
                success: row.get(6),
            })
            .collect())
    }

    /// Refuses a table of this name written by another tool: golang-migrate's
    /// `schema_migrations` (version, dirty) is not dbmate's (version).
    async fn check_shape(self, client: &Client) -> Result<(), ReadError> {
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
        let expected: &[&str] = match self {
            Bookkeeping::Sqlx => &[
                "version",
                "description",
                "installed_on",
                "success",
                "checksum",
                "execution_time",
            ],
            Bookkeeping::GolangMigrate => &["version", "dirty"],
            Bookkeeping::Dbmate => &["version"],
            Bookkeeping::NodePgMigrate => &["id", "name", "run_on"],
            Bookkeeping::Diesel => &["version", "run_on"],
            Bookkeeping::Own => &[
                "id",
                "version",
                "name",
                "sha256",
                "direction",
                "applied_at",
                "execution_ms",
                "applied_by",
                "application_name",
            ],
        };
        if columns
            .iter()
            .map(String::as_str)
            .eq(expected.iter().copied())
        {
            return Ok(());
        }
        Err(ReadError::Foreign(format!(
            "{} has columns ({}), not ({}) as this format's tool writes it: the database is \
             kept by another tool (golang-migrate's schema_migrations has a dirty column, \
             dbmate's only a version)",
            self.table(),
            columns.join(", "),
            expected.join(", ")
        )))
    }

    /// The SQL that books `migration` as applied (`up`) or reverted, run inside the
    /// migration's own transaction just before it commits (as sqlx does). The execution
    /// time is not known yet: it is written as -1 and set by [`Self::finish`].
    pub fn record_sql(self, migrations: &[Migration], index: usize, up: bool) -> String {
        let migration = &migrations[index];
        // Values come from file names: written as literals, quotes doubled, with
        // standard_conforming_strings on so a backslash is only a backslash.
        let mut sql = String::from("SET standard_conforming_strings = on;\n");
        match (self, up) {
            (Bookkeeping::GolangMigrate, _) => {
                sql.push_str(&golang_version_sql(golang_target(migrations, index, up), false))
            }
            (Bookkeeping::Sqlx, true) => sql.push_str(&format!(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES ({}, {}, TRUE, '\\x{}'::bytea, -1);",
                sqlx_version(migration),
                literal(&sqlx_description(&migration.name)),
                self.checksum(migration).unwrap_or_default()
            )),
            (Bookkeeping::Sqlx, false) => sql.push_str(&format!(
                "DELETE FROM _sqlx_migrations WHERE version = {};",
                sqlx_version(migration)
            )),
            (Bookkeeping::Dbmate, true) => sql.push_str(&format!(
                "INSERT INTO schema_migrations (version) VALUES ({});",
                literal(&migration.version.text)
            )),
            (Bookkeeping::Dbmate, false) => sql.push_str(&format!(
                "DELETE FROM schema_migrations WHERE version = {};",
                literal(&migration.version.text)
            )),
            (Bookkeeping::Diesel, true) => sql.push_str(&format!(
                "INSERT INTO __diesel_schema_migrations (version) VALUES ({});",
                literal(&migration.version.text.replace('-', ""))
            )),
            (Bookkeeping::Diesel, false) => sql.push_str(&format!(
                "DELETE FROM __diesel_schema_migrations WHERE version = {};",
                literal(&migration.version.text.replace('-', ""))
            )),
            (Bookkeeping::NodePgMigrate, true) => sql.push_str(&format!(
                "INSERT INTO pgmigrations (name, run_on) VALUES ({}, NOW());",
                literal(&file_stem(migration))
            )),
            (Bookkeeping::NodePgMigrate, false) => sql.push_str(&format!(
                "DELETE FROM pgmigrations WHERE name = {};",
                literal(&file_stem(migration))
            )),
            (Bookkeeping::Own, up) => sql.push_str(&format!(
                "INSERT INTO migration_check.history (version, name, sha256, direction, execution_ms) \
                 VALUES ({}, {}, {}, {}, -1);",
                literal(&migration.version.text),
                literal(&migration.name),
                literal(&self.checksum(migration).unwrap_or_default()),
                literal(if up { "up" } else { "down" })
            )),
        }
        sql
    }

    /// Sets the execution time of the record [`Self::record_sql`] wrote, once committed.
    pub async fn finish(
        self,
        client: &Client,
        migration: &Migration,
        up: bool,
        elapsed: Duration,
    ) -> Result<(), tokio_postgres::Error> {
        match (self, up) {
            (Bookkeeping::Sqlx, true) => {
                let nanos = i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX);
                client
                    .execute(
                        "UPDATE _sqlx_migrations SET execution_time = $1 WHERE version = $2",
                        &[&nanos, &sqlx_version(migration)],
                    )
                    .await?;
            }
            (Bookkeeping::Sqlx, false)
            | (
                Bookkeeping::GolangMigrate
                | Bookkeeping::Dbmate
                | Bookkeeping::NodePgMigrate
                | Bookkeeping::Diesel,
                _,
            ) => {}
            (Bookkeeping::Own, _) => {
                let millis = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
                client
                    .execute(
                        "UPDATE migration_check.history SET execution_ms = $1
                         WHERE id = (SELECT max(id) FROM migration_check.history
                                     WHERE version = $2)",
                        &[&millis, &migration.version.text],
                    )
                    .await?;
            }
        }
        Ok(())
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

/// sqlx's version: the number the file name starts with (sqlx's versions fit an i64).
fn sqlx_version(migration: &Migration) -> i64 {
    migration.version.text.parse().unwrap_or_default()
}

impl Bookkeeping {
    /// What the tool writes before the migration runs, committed on its own: golang-migrate
    /// marks the target version dirty, so a failure leaves the database marked dirty.
    pub fn before_sql(self, migrations: &[Migration], index: usize, up: bool) -> Option<String> {
        match self {
            Bookkeeping::GolangMigrate => Some(golang_version_sql(
                golang_target(migrations, index, up),
                true,
            )),
            _ => None,
        }
    }
}

/// The version golang-migrate records once `migrations[index]` ran: its own going up, the
/// one before it going down (none below the first).
fn golang_target(migrations: &[Migration], index: usize, up: bool) -> Option<i64> {
    let at = if up {
        Some(index)
    } else {
        index.checked_sub(1)
    };
    at.map(|i| migrations[i].version.text.parse().unwrap_or_default())
}

/// golang-migrate's SetVersion: the table emptied, then the version and its dirty flag.
fn golang_version_sql(version: Option<i64>, dirty: bool) -> String {
    match version {
        Some(version) => format!(
            "TRUNCATE schema_migrations; INSERT INTO schema_migrations (version, dirty) VALUES ({version}, {dirty});"
        ),
        None => "TRUNCATE schema_migrations;".to_string(),
    }
}

/// The migration's file name without its extension: what node-pg-migrate records.
fn file_stem(migration: &Migration) -> String {
    migration
        .up
        .path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("{}_{}", migration.version, migration.name))
}

/// A SQL string literal (with standard_conforming_strings on).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// sqlx's description of a migration: the name part of the file name, `_` as spaces.
fn sqlx_description(name: &str) -> String {
    name.replace('_', " ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlx_lock_key_and_description_follow_sqlx() {
        // CRC-32/ISO-HDLC's check value, then sqlx's key for a database called `zone`
        // (0x3d32ad9e * crc32(name), as sqlx-postgres computes it).
        assert_eq!(crc32fast::hash(b"123456789"), 0xcbf4_3926);
        assert_eq!(
            Bookkeeping::Sqlx.lock_key("zone", "public"),
            2_771_974_297_191_923_538
        );
        assert_ne!(
            Bookkeeping::Sqlx.lock_key("app", "public"),
            Bookkeeping::Own.lock_key("app", "public")
        );
        // golang-migrate: a uint32, CRC-32 of "public\0schema_migrations\0app" times the salt.
        let golang = Bookkeeping::GolangMigrate.lock_key("app", "public");
        assert!((0..=i64::from(u32::MAX)).contains(&golang));
        assert_eq!(
            golang,
            i64::from(
                crc32fast::hash(b"public\0schema_migrations\0app").wrapping_mul(1_486_364_155)
            )
        );
        assert_eq!(sqlx_description("create_users_table"), "create users table");
        assert_eq!(literal("it's"), "'it''s'");
    }

    #[test]
    fn formats_with_a_table_not_written_yet_are_refused_by_name() {
        let goose = Format::ALL.iter().find(|f| f.name() == "goose").unwrap();
        let err = Bookkeeping::of(*goose).unwrap_err();
        assert!(err.0.contains("goose_db_version"), "{}", err.0);
        let pattern = Format::ALL.iter().find(|f| f.name() == "pattern").unwrap();
        assert_eq!(Bookkeeping::of(*pattern).unwrap(), Bookkeeping::Own);
    }
}
