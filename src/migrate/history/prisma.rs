//! Prisma's `_prisma_migrations` (prisma-engines, `sql_migration_persistence.rs` and
//! `apply_migrations.rs`): a row is inserted when a migration starts (uuid, SHA-256 of
//! `migration.sql`, the directory name) and completed with `finished_at` and
//! `applied_steps_count` when it succeeded; a row without `finished_at` and not rolled back
//! is a failed migration, which `prisma migrate deploy` refuses to go past (P3009) until
//! `prisma migrate resolve`. The lock is `pg_advisory_lock(72707369)`.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::{Bookkeeping, by_name, hex, literal, record, up_bytes};
use crate::migrate::Applied;
use crate::migrations::Migration;

/// Prisma Migrate (`prisma migrate deploy`).
pub struct Prisma;

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
        "_prisma_migrations"
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

    fn create_sql(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS _prisma_migrations (
            id                      VARCHAR(36) PRIMARY KEY NOT NULL,
            checksum                VARCHAR(64) NOT NULL,
            finished_at             TIMESTAMPTZ,
            migration_name          VARCHAR(255) NOT NULL,
            logs                    TEXT,
            rolled_back_at          TIMESTAMPTZ,
            started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
            applied_steps_count     INTEGER NOT NULL DEFAULT 0
        );"
    }

    fn read_sql(&self) -> &'static str {
        "SELECT migration_name, migration_name, checksum, started_at::text,
                (extract(epoch FROM finished_at - started_at) * 1000)::bigint, NULL::text,
                finished_at IS NOT NULL
         FROM _prisma_migrations WHERE rolled_back_at IS NULL ORDER BY started_at"
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
                "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, \
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
                "UPDATE _prisma_migrations SET applied_steps_count = applied_steps_count + 1, \
                 finished_at = clock_timestamp() \
                 WHERE migration_name = {name} AND finished_at IS NULL AND rolled_back_at IS NULL;"
            )
        } else {
            // `prisma migrate resolve --rolled-back`: the row stays, marked rolled back.
            format!(
                "UPDATE _prisma_migrations SET rolled_back_at = now() \
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
    use super::*;

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
