//! Atlas's `atlas_schema_revisions` (ariga/atlas, `cmd/atlas/internal/migrate/ent/schema/
//! revision.go`), in the schema of the same name: one row per version with its description,
//! type (2: executed, 1: baseline, 4/6: resolved), the statements applied of the total,
//! when, how long (nanoseconds), the error, and the file's `atlas.sum` hash. `atlas migrate
//! apply` locks with `pg_try_advisory_lock` on the FNV-1 hash of `atlas_migrate_execute`.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use super::{Bookkeeping, file_name, literal, record};
use crate::migrate::Applied;
use crate::migrations::{Migration, atlas};

/// Atlas (`atlas migrate apply`).
pub struct Atlas;

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
        "atlas_schema_revisions.atlas_schema_revisions"
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

    fn create_sql(&self) -> &'static str {
        "CREATE SCHEMA IF NOT EXISTS atlas_schema_revisions;
         CREATE TABLE IF NOT EXISTS atlas_schema_revisions.atlas_schema_revisions (
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
    }

    /// A baseline row (type 1) stands for every version up to it.
    fn read_sql(&self) -> &'static str {
        "SELECT version, description, CASE WHEN type = 1 THEN NULL ELSE hash END,
                executed_at::text, execution_time / 1000000,
                CASE WHEN type = 1 THEN 'baseline' ELSE operator_version END,
                coalesce(error, '') = '' AND applied >= total
         FROM atlas_schema_revisions.atlas_schema_revisions
         WHERE version <> '.atlas_cloud_identifier'
         ORDER BY version"
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
                let hashes = directories
                    .entry(dir)
                    .or_insert_with(|| atlas::file_hashes(dir));
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
                "INSERT INTO atlas_schema_revisions.atlas_schema_revisions (version, description, \
                 type, applied, total, executed_at, execution_time, error, error_stmt, hash, \
                 partial_hashes, operator_version) VALUES ({version}, {}, 2, {total}, {total}, \
                 now(), -1, '', '', {}, 'null', {});",
                literal(&migration.name),
                literal(&self.checksum(migration).unwrap_or_default()),
                literal(concat!("migration-check v", env!("CARGO_PKG_VERSION")))
            )
        } else {
            format!(
                "DELETE FROM atlas_schema_revisions.atlas_schema_revisions WHERE version = {version};"
            )
        })
    }

    fn finish_sql(&self, migration: &Migration, up: bool, elapsed: Duration) -> Option<String> {
        let nanos = i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX);
        up.then(|| {
            format!(
                "UPDATE atlas_schema_revisions.atlas_schema_revisions SET execution_time = {nanos} \
                 WHERE version = {}",
                literal(&migration.version.text)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_key_is_fnv1_of_atlas_migrate_execute() {
        // FNV-1 test vectors (Go's hash/fnv New32): "" and "a".
        assert_eq!(fnv1_32(""), 0x811c_9dc5);
        assert_eq!(fnv1_32("a"), 0x050c_5d7e);
        assert_eq!(Atlas.lock_key("db", "public"), 2_686_470_616);
    }
}
