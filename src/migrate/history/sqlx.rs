//! sqlx's `_sqlx_migrations`: version, description, installed_on, success, the SHA-384 of
//! the up script and the execution time in nanoseconds, written inside the migration's
//! transaction; its advisory lock is `0x3d32ad9e × CRC-32(database name)` (sqlx-postgres).

use std::time::Duration;

use sha2::{Digest, Sha384};

use super::{Bookkeeping, hex, literal, record, up_bytes};
use crate::migrations::Migration;

/// sqlx (`sqlx migrate run`).
pub struct Sqlx;

/// sqlx's lock key for `name`.
pub(super) fn key(name: &str) -> i64 {
    0x3d32_ad9e_i64 * i64::from(crc32fast::hash(name.as_bytes()))
}

/// sqlx's version: the number the file name starts with (sqlx's versions fit an i64).
fn version(migration: &Migration) -> i64 {
    migration.version.text.parse().unwrap_or_default()
}

/// sqlx's description of a migration: the name part of the file name, `_` as spaces.
fn description(name: &str) -> String {
    name.replace('_', " ")
}

impl Bookkeeping for Sqlx {
    fn tool(&self) -> &'static str {
        "sqlx"
    }

    fn table(&self) -> &'static str {
        "_sqlx_migrations"
    }

    fn columns(&self) -> &'static [&'static str] {
        &[
            "version",
            "description",
            "installed_on",
            "success",
            "checksum",
            "execution_time",
        ]
    }

    fn create_sql(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
            success BOOLEAN NOT NULL,
            checksum BYTEA NOT NULL,
            execution_time BIGINT NOT NULL
        );"
    }

    fn read_sql(&self) -> &'static str {
        "SELECT version::text, description, encode(checksum, 'hex'),
                installed_on::text, execution_time / 1000000, NULL::text, success
         FROM _sqlx_migrations ORDER BY version"
    }

    fn checksum(&self, migration: &Migration) -> Option<String> {
        up_bytes(migration).map(|bytes| hex(&Sha384::digest(&bytes)))
    }

    fn records_checksums(&self) -> bool {
        true
    }

    fn lock_key(&self, database: &str, _schema: &str) -> i64 {
        key(database)
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let migration = &migrations[index];
        record(&if up {
            format!(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES ({}, {}, TRUE, '\\x{}'::bytea, -1);",
                version(migration),
                literal(&description(&migration.name)),
                self.checksum(migration).unwrap_or_default()
            )
        } else {
            format!(
                "DELETE FROM _sqlx_migrations WHERE version = {};",
                version(migration)
            )
        })
    }

    fn finish_sql(&self, migration: &Migration, up: bool, elapsed: Duration) -> Option<String> {
        let nanos = i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX);
        up.then(|| {
            format!(
                "UPDATE _sqlx_migrations SET execution_time = {nanos} WHERE version = {}",
                version(migration)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_key_and_description_follow_sqlx() {
        // CRC-32/ISO-HDLC's check value, then sqlx's key for a database called `zone`
        // (0x3d32ad9e * crc32(name), as sqlx-postgres computes it).
        assert_eq!(crc32fast::hash(b"123456789"), 0xcbf4_3926);
        assert_eq!(Sqlx.lock_key("zone", "public"), 2_771_974_297_191_923_538);
        assert_ne!(
            Sqlx.lock_key("app", "public"),
            super::super::own::Own.lock_key("app", "public")
        );
        assert_eq!(description("create_users_table"), "create users table");
    }
}
