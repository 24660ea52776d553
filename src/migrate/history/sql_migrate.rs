//! sql-migrate's `gorp_migrations` (rubenv/sql-migrate through gorp): the file name with its
//! `.sql` as `id` and when it was applied, inserted in the migration's transaction and
//! deleted by its down. No checksum, no lock.

use super::{Bookkeeping, by_name, file_name, literal, record};
use crate::migrate::Applied;
use crate::migrations::Migration;

/// sql-migrate (`sql-migrate up`).
pub struct SqlMigrate;

impl Bookkeeping for SqlMigrate {
    fn tool(&self) -> &'static str {
        "sql-migrate"
    }

    fn table(&self) -> &'static str {
        "gorp_migrations"
    }

    fn columns(&self) -> &'static [&'static str] {
        &["id", "applied_at"]
    }

    fn create_sql(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS gorp_migrations \
         (id text NOT NULL PRIMARY KEY, applied_at timestamp with time zone);"
    }

    fn read_sql(&self) -> &'static str {
        "SELECT id, id, NULL::text, applied_at::text, NULL::bigint, NULL::text, true
         FROM gorp_migrations ORDER BY applied_at, id"
    }

    fn interpret(&self, rows: Vec<Applied>, migrations: &[Migration]) -> Vec<Applied> {
        by_name(rows, migrations, file_name)
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let id = literal(&file_name(&migrations[index]));
        record(&if up {
            format!("INSERT INTO gorp_migrations (id, applied_at) VALUES ({id}, now());")
        } else {
            format!("DELETE FROM gorp_migrations WHERE id = {id};")
        })
    }
}
