//! The golang-migrate layout: `<version>_<name>.up.sql` with `<version>_<name>.down.sql`,
//! versions ordered numerically within `u64`, no simple files. golang-migrate runs each file
//! as written, without a transaction of its own, so such files often carry their own
//! `BEGIN`/`COMMIT`. The pairs are sqlx's naming, read by [`sqlx::discover_pairs`]; when
//! auto-detected they are read as sqlx, so this format is only ever chosen by name.

use super::Migration;
use super::bookkeeping::{Applied, Book, Bookkeeping, record};
use super::sqlx::{self, discover_pairs, pair_template};
use super::{Evidence, Format, FormatSpec, Found, Listing, Settings, Version};
use crate::error::InputError;

/// The golang-migrate format.
pub const FORMAT: Format = Format::new(&GolangMigrate);

/// golang-migrate (`migrate`).
pub struct GolangMigrate;

impl FormatSpec for GolangMigrate {
    fn name(&self) -> &'static str {
        "golang-migrate"
    }

    fn layout(&self) -> &'static str {
        "golang-migrate `<version>_<name>.up.sql`/`.down.sql` pairs"
    }

    /// Never claimed by detection: its pairs are sqlx's, and read as sqlx.
    fn recognise(
        &self,
        _listing: &Listing,
        _settings: &Settings,
    ) -> Result<Option<Evidence>, InputError> {
        Ok(None)
    }

    fn discover(&self, listing: &Listing, _settings: &Settings) -> Result<Found, InputError> {
        discover_pairs(listing, true).map(Found::from)
    }

    fn is_migration_path(&self, rel: &str, _settings: &Settings) -> bool {
        sqlx::is_top_level_sql(rel)
    }

    fn version_of_path(&self, rel: &str, _settings: &Settings) -> Option<Version> {
        sqlx::version_of_path(rel, true)
    }

    fn transaction_rule(&self) -> &'static str {
        "none: each file runs as written (files often hold their own BEGIN/COMMIT)"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        None
    }

    fn bookkeeping(&self) -> Option<Book> {
        Some(&GolangMigrate)
    }

    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        pair_template(version, name)
    }
}

// golang-migrate's `schema_migrations`: one row, the current version and whether it is
// dirty. The target version is written dirty before a migration runs and clean with it,
// so a failure leaves the database dirty as the tool does. Its advisory lock is
// `CRC-32(schema NUL table NUL database) × 1486364155` modulo 2³² (database/postgres).

/// golang-migrate's history table.
pub const TABLE: &str = "schema_migrations";

/// The version golang-migrate records once `migrations[index]` ran: its own going up, the
/// one before it going down (none below the first).
fn target(migrations: &[Migration], index: usize, up: bool) -> Option<i64> {
    let at = if up {
        Some(index)
    } else {
        index.checked_sub(1)
    };
    at.map(|i| migrations[i].version.text.parse().unwrap_or_default())
}

/// golang-migrate's SetVersion: the table emptied, then the version and its dirty flag.
fn version_sql(version: Option<i64>, dirty: bool) -> String {
    match version {
        Some(version) => format!(
            "TRUNCATE {TABLE}; INSERT INTO {TABLE} (version, dirty) VALUES ({version}, {dirty});"
        ),
        None => "TRUNCATE schema_migrations;".to_string(),
    }
}

impl Bookkeeping for GolangMigrate {
    fn tool(&self) -> &'static str {
        "golang-migrate"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn columns(&self) -> &'static [&'static str] {
        &["version", "dirty"]
    }

    fn create_sql(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} \
         (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);"
        )
    }

    fn read_sql(&self) -> String {
        format!(
            "SELECT version::text, NULL::text, NULL::text, NULL::text, NULL::bigint, NULL::text,
                NOT dirty
         FROM {TABLE} LIMIT 1"
        )
    }

    /// Only the current version is recorded: every migration up to it is applied, and it
    /// is failed when the row is dirty.
    fn interpret(&self, rows: Vec<Applied>, migrations: &[Migration]) -> Vec<Applied> {
        let Some(row) = rows.into_iter().next() else {
            return Vec::new();
        };
        let current: i64 = row.version.parse().unwrap_or_default();
        migrations
            .iter()
            .filter_map(|m| Some((m, m.version.text.parse::<i64>().ok()?)))
            .filter(|(_, version)| *version <= current)
            .map(|(m, version)| Applied {
                version: m.version.text.clone(),
                name: None,
                checksum: None,
                applied_at: None,
                execution_ms: None,
                applied_by: None,
                success: row.success || version != current,
            })
            .collect()
    }

    fn lock_key(&self, database: &str, schema: &str) -> i64 {
        let name = format!("{schema}\0schema_migrations\0{database}");
        i64::from(crc32fast::hash(name.as_bytes()).wrapping_mul(1_486_364_155))
    }

    fn before_sql(&self, migrations: &[Migration], index: usize, up: bool) -> Option<String> {
        Some(version_sql(target(migrations, index, up), true))
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        record(&version_sql(target(migrations, index, up), false))
    }

    fn failure_note(&self) -> &'static str {
        "rolled back; schema_migrations marks it dirty, as golang-migrate does: repair the \
         database, then clear it (golang-migrate's `force VERSION`)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_key_is_golang_migrates_uint32() {
        let golang = GolangMigrate.lock_key("app", "public");
        assert!((0..=i64::from(u32::MAX)).contains(&golang));
        assert_eq!(
            golang,
            i64::from(
                crc32fast::hash(b"public\0schema_migrations\0app").wrapping_mul(1_486_364_155)
            )
        );
        assert_eq!(
            version_sql(None, false),
            "TRUNCATE schema_migrations;".to_string()
        );
    }
}
