//! knex's `knex_migrations` (knex 3, `lib/migrations/migrate`): the file name with its
//! extension, the batch and the time, and `knex_migrations_lock`, the row knex sets to 1
//! while it runs. knex migrations are code: knex itself runs each one (`migrate:up
//! <file>`), takes its lock row and books it, so migration-check only reads the table; the
//! tables are created as knex creates them, for a database knex has not seen yet. No
//! checksum.

use super::{Bookkeeping, by_name, file_name, literal, record};
use crate::migrate::Applied;
use crate::migrations::Migration;

/// knex (`knex migrate:latest`).
pub struct Knex;

impl Bookkeeping for Knex {
    fn tool(&self) -> &'static str {
        "knex"
    }

    fn table(&self) -> &'static str {
        "knex_migrations"
    }

    fn columns(&self) -> &'static [&'static str] {
        &["id", "name", "batch", "migration_time"]
    }

    fn create_sql(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS knex_migrations (id serial PRIMARY KEY, name varchar(255), \
             batch integer, migration_time timestamptz);
         CREATE TABLE IF NOT EXISTS knex_migrations_lock (index serial PRIMARY KEY, is_locked integer);
         INSERT INTO knex_migrations_lock (is_locked)
         SELECT 0 WHERE NOT EXISTS (SELECT FROM knex_migrations_lock);"
    }

    fn read_sql(&self) -> &'static str {
        "SELECT name, name, NULL::text, migration_time::text, NULL::bigint,
                'batch ' || batch, true
         FROM knex_migrations ORDER BY id"
    }

    fn interpret(&self, rows: Vec<Applied>, migrations: &[Migration]) -> Vec<Applied> {
        by_name(rows, migrations, file_name)
    }

    /// What knex writes itself, should a knex migration ever run as SQL: a new batch.
    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let name = literal(&file_name(&migrations[index]));
        record(&if up {
            format!(
                "INSERT INTO knex_migrations (name, batch, migration_time) \
                 SELECT {name}, coalesce(max(batch), 0) + 1, now() FROM knex_migrations;"
            )
        } else {
            format!("DELETE FROM knex_migrations WHERE name = {name};")
        })
    }
}
