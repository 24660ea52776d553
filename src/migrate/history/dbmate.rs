//! dbmate's `schema_migrations`: one `version` per applied migration, nothing else (no
//! checksum, time or author, and no lock).

use super::{Bookkeeping, literal, record};
use crate::migrations::Migration;

/// dbmate (`dbmate up`).
pub struct Dbmate;

impl Bookkeeping for Dbmate {
    fn tool(&self) -> &'static str {
        "dbmate"
    }

    fn table(&self) -> &'static str {
        "schema_migrations"
    }

    fn columns(&self) -> &'static [&'static str] {
        &["version"]
    }

    fn create_sql(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS schema_migrations (version varchar PRIMARY KEY);"
    }

    fn read_sql(&self) -> &'static str {
        "SELECT version::text, NULL::text, NULL::text, NULL::text,
                NULL::bigint, NULL::text, true
         FROM schema_migrations ORDER BY version"
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let version = literal(&migrations[index].version.text);
        record(&if up {
            format!("INSERT INTO schema_migrations (version) VALUES ({version});")
        } else {
            format!("DELETE FROM schema_migrations WHERE version = {version};")
        })
    }
}
