//! diesel's `__diesel_schema_migrations`: the version without its dashes (diesel's
//! `version_from_string`) and when it ran; no checksum, no lock.

use super::{Bookkeeping, literal, record};
use crate::migrate::Applied;
use crate::migrations::Migration;

/// diesel (`diesel migration run`).
pub struct Diesel;

/// What diesel records for a directory's version: `2024-01-02-030405` as `20240102030405`.
fn recorded_version(migration: &Migration) -> String {
    migration.version.text.replace('-', "")
}

impl Bookkeeping for Diesel {
    fn tool(&self) -> &'static str {
        "diesel"
    }

    fn table(&self) -> &'static str {
        "__diesel_schema_migrations"
    }

    fn columns(&self) -> &'static [&'static str] {
        &["version", "run_on"]
    }

    fn create_sql(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (
            version VARCHAR(50) PRIMARY KEY NOT NULL,
            run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
        );"
    }

    fn read_sql(&self) -> &'static str {
        "SELECT version::text, NULL::text, NULL::text, run_on::text,
                NULL::bigint, NULL::text, true
         FROM __diesel_schema_migrations ORDER BY version"
    }

    /// The recorded versions in the files' spelling.
    fn interpret(&self, rows: Vec<Applied>, migrations: &[Migration]) -> Vec<Applied> {
        rows.into_iter()
            .map(|mut row| {
                if let Some(m) = migrations
                    .iter()
                    .find(|m| recorded_version(m) == row.version)
                {
                    row.version = m.version.text.clone();
                }
                row
            })
            .collect()
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let version = literal(&recorded_version(&migrations[index]));
        record(&if up {
            format!("INSERT INTO __diesel_schema_migrations (version) VALUES ({version});")
        } else {
            format!("DELETE FROM __diesel_schema_migrations WHERE version = {version};")
        })
    }
}
