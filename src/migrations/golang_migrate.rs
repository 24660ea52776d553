//! The golang-migrate layout: `<version>_<name>.up.<ext>` with `<version>_<name>.down.<ext>`,
//! read as golang-migrate's own parser reads names (`source/parse.go`:
//! `^([0-9]+)_(.*)\.(down|up)\.(.*)$`): the version is a u64 (leading zeros do not count),
//! an up and a down are paired by version alone (their names may differ), any extension is
//! read, and files that do not match are skipped (listed as ignored). golang-migrate runs
//! each file as written, one query, without a transaction of its own, so such files often
//! carry their own `BEGIN`/`COMMIT`. The pairs are sqlx's naming too: detection tells them
//! apart by the project (`go.mod`), else says which it assumed.

use std::collections::BTreeMap;

use super::Migration;
use super::bookkeeping::{Applied, Book, Bookkeeping, record};
use super::sqlx::pair_template;
use super::{
    Entry, Evidence, Format, FormatSpec, Found, Listing, Settings, Strength, TransactionMode,
    Version,
};
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

    /// Its pairs are sqlx's naming too: the project (a `go.mod` requiring golang-migrate)
    /// tells them apart, else detection says which it assumed.
    fn recognise(
        &self,
        listing: &Listing,
        _settings: &Settings,
    ) -> Result<Option<Evidence>, InputError> {
        let read: Vec<&Entry> = listing
            .top_files()
            .filter(|e| parse_name(&e.rel).is_some())
            .collect();
        Ok(read
            .first()
            .map(|e| Evidence::entry(e, Strength::Naming).supported_by(read.len())))
    }

    fn discover(&self, listing: &Listing, _settings: &Settings) -> Result<Found, InputError> {
        discover(listing)
    }

    fn is_migration_path(&self, rel: &str, _settings: &Settings) -> bool {
        parse_name(rel).is_some()
    }

    fn version_of_path(&self, rel: &str, _settings: &Settings) -> Option<Version> {
        parse_name(rel).map(|(digits, number, ..)| Version::numeric(digits, number))
    }

    fn transaction_rule(&self) -> &'static str {
        "none: each file runs as written, as one query, and files often hold their own \
         BEGIN/COMMIT"
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

/// Up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// A top-level file name as golang-migrate's regex reads it: its version digits, the version,
/// the identifier and the direction. The identifier is as long as the match allows (Go's
/// `(.*)` is greedy), so the last `.up.`/`.down.` is the direction.
fn parse_name(rel: &str) -> Option<(&str, u64, &str, Direction)> {
    if rel.contains('/') || rel.starts_with('.') {
        return None;
    }
    let (digits, rest) = rel.split_once('_')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number: u64 = digits.parse().ok()?;
    let up = rest.rfind(".up.").map(|at| (at, Direction::Up));
    let down = rest.rfind(".down.").map(|at| (at, Direction::Down));
    let (at, direction) = match (up, down) {
        (Some(u), Some(d)) => {
            if u.0 > d.0 {
                u
            } else {
                d
            }
        }
        (one, other) => one.or(other)?,
    };
    Some((digits, number, &rest[..at], direction))
}

/// The migrations of a golang-migrate directory, as golang-migrate reads them.
fn discover(listing: &Listing) -> Result<Found, InputError> {
    let mut ups: BTreeMap<u64, (&Entry, &str, &str)> = BTreeMap::new();
    let mut downs: BTreeMap<u64, &Entry> = BTreeMap::new();
    let mut ignored = Vec::new();
    for entry in listing.top_entries() {
        let parsed = (!entry.is_dir).then(|| parse_name(&entry.rel)).flatten();
        let Some((digits, number, name, direction)) = parsed else {
            ignored.push(entry.path.clone());
            continue;
        };
        let previous = match direction {
            Direction::Up => ups.insert(number, (entry, digits, name)).map(|(e, ..)| e),
            Direction::Down => downs.insert(number, entry),
        };
        if let Some(other) = previous {
            return Err(InputError::new(
                &entry.path,
                format!(
                    "duplicate migration file: {} has the same version and direction \
                     (golang-migrate refuses the directory)",
                    other.path.display()
                ),
            ));
        }
    }
    let mut warnings = Vec::new();
    // golang-migrate records such a version on up with nothing applied (`newMigration`'s
    // "empty" migration) and runs the down file when migrating down past it: there is no up
    // to verify it against, so it is ignored, with a warning naming it.
    for (number, down) in &downs {
        if !ups.contains_key(number) {
            ignored.push(down.path.clone());
            warnings.push(format!(
                "{}: down file without an up file of its version: golang-migrate records the \
                 version with nothing applied going up and runs this file going down past it; \
                 with no up to verify it against, it is ignored",
                down.path.display()
            ));
        }
    }
    let mut migrations = Vec::with_capacity(ups.len());
    for (number, (up, digits, name)) in &ups {
        let script = |entry: &Entry| {
            entry
                .text()
                .map(|text| text.whole_script(&entry.path, TransactionMode::AsWritten))
        };
        migrations.push(Migration {
            version: Version::numeric(digits, *number),
            name: name.to_string(),
            up: script(up)?,
            down: downs.get(number).map(|down| script(down)).transpose()?,
        });
    }
    Ok(Found {
        migrations,
        ignored,
        warnings,
    })
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
    use super::super::test_util::{discover, tempdir, write};
    use super::*;

    /// golang-migrate records a version with only a down file as applied with nothing run
    /// going up: there is no up to verify, so the file is ignored with a warning naming it,
    /// and the directory is still read.
    #[test]
    fn a_down_without_its_up_is_ignored_with_a_warning() {
        let t = tempdir();
        write(t.path(), "1_a.up.sql", "select 1;");
        write(t.path(), "1_a.down.sql", "select 1;");
        let orphan = write(t.path(), "2_b.down.sql", "select 2;");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        assert_eq!(d.migrations.len(), 1);
        assert_eq!(d.ignored, vec![orphan.clone()]);
        assert_eq!(d.detection.warnings.len(), 1, "{:?}", d.detection.warnings);
        assert!(
            d.detection.warnings[0].starts_with(&format!(
                "{}: down file without an up file of its version: golang-migrate records",
                orphan.display()
            )),
            "{:?}",
            d.detection.warnings
        );
    }

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
