//! Ours, `migration_check.history`, for layouts whose tool keeps no table: one row per up
//! or down with the SHA-256 of the up script, when, how long, and who ran it
//! (`current_user`, `application_name`). The last row of a version says whether it is
//! applied.

use std::time::Duration;

use crate::migrations::Migration;
use crate::migrations::bookkeeping::{Bookkeeping, literal, millis, record, up_sha256};

/// migration-check's own history table.
pub const TABLE: &str = "migration_check.history";

/// migration-check's own history.
pub struct Own;

impl Bookkeeping for Own {
    fn tool(&self) -> &'static str {
        "migration-check"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn columns(&self) -> &'static [&'static str] {
        &[
            "id",
            "version",
            "name",
            "sha256",
            "direction",
            "applied_at",
            "execution_ms",
            "applied_by",
            "application_name",
        ]
    }

    fn create_sql(&self) -> String {
        format!(
            "CREATE SCHEMA IF NOT EXISTS migration_check;
         CREATE TABLE IF NOT EXISTS {TABLE} (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            version text NOT NULL,
            name text NOT NULL,
            sha256 text NOT NULL,
            direction text NOT NULL CHECK (direction IN ('up', 'down')),
            applied_at timestamptz NOT NULL DEFAULT now(),
            execution_ms bigint NOT NULL,
            applied_by text NOT NULL DEFAULT current_user,
            application_name text NOT NULL DEFAULT current_setting('application_name')
        );"
        )
    }

    fn read_sql(&self) -> String {
        format!(
            "SELECT version, name, sha256, applied_at::text, execution_ms,
                applied_by || ' (' || application_name || ')', true
         FROM (SELECT DISTINCT ON (version) *
               FROM {TABLE}
               ORDER BY version, id DESC) last
         WHERE direction = 'up'
         ORDER BY id"
        )
    }

    fn checksum(&self, migration: &Migration) -> Option<String> {
        up_sha256(migration)
    }

    fn records_checksums(&self) -> bool {
        true
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let migration = &migrations[index];
        record(&format!(
            "INSERT INTO {TABLE} (version, name, sha256, direction, execution_ms) \
             VALUES ({}, {}, {}, {}, -1);",
            literal(&migration.version.text),
            literal(&migration.name),
            literal(&self.checksum(migration).unwrap_or_default()),
            literal(if up { "up" } else { "down" })
        ))
    }

    fn finish_sql(&self, migration: &Migration, _up: bool, elapsed: Duration) -> Option<String> {
        Some(format!(
            "UPDATE {TABLE} SET execution_ms = {}
             WHERE id = (SELECT max(id) FROM {TABLE} WHERE version = {})",
            millis(elapsed),
            literal(&migration.version.text)
        ))
    }
}
