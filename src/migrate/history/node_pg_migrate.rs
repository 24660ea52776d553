//! node-pg-migrate's `pgmigrations`: the file name without extension and when it ran, in
//! the current schema; no checksum. Its advisory lock is the constant `PG_MIGRATE_LOCK_ID`,
//! 7241865325823964.

use super::{Bookkeeping, file_stem, literal, record};
use crate::migrations::Migration;

/// node-pg-migrate (`node-pg-migrate up`) for SQL migrations.
pub struct NodePgMigrate;

impl Bookkeeping for NodePgMigrate {
    fn tool(&self) -> &'static str {
        "node-pg-migrate"
    }

    fn table(&self) -> &'static str {
        "pgmigrations"
    }

    fn columns(&self) -> &'static [&'static str] {
        &["id", "name", "run_on"]
    }

    fn create_sql(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS pgmigrations (
            id SERIAL PRIMARY KEY,
            name varchar(255) NOT NULL,
            run_on timestamp NOT NULL
        );"
    }

    /// The version is the name's part before its first `_`, as the format reads it.
    fn read_sql(&self) -> &'static str {
        "SELECT split_part(name, '_', 1), name, NULL::text, run_on::text,
                NULL::bigint, NULL::text, true
         FROM pgmigrations ORDER BY run_on, id"
    }

    fn lock_key(&self, _database: &str, _schema: &str) -> i64 {
        7_241_865_325_823_964
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let name = literal(&file_stem(&migrations[index]));
        record(&if up {
            format!("INSERT INTO pgmigrations (name, run_on) VALUES ({name}, NOW());")
        } else {
            format!("DELETE FROM pgmigrations WHERE name = {name};")
        })
    }
}
