//! The sqlx layout: `<version>_<name>.up.sql` with `<version>_<name>.down.sql`, or simple
//! (irreversible) `<version>_<name>.sql` files, versions ordered numerically within `i64`;
//! `-- no-transaction` on a script's first line takes it out of sqlx's transaction: sqlx
//! then sends the file as one query, so several statements share an implicit transaction.
//! Names are read as sqlx reads them (`sqlx-core/src/migrate/source.rs`): the text before
//! the first `_` is the version, a down belongs to the up of its version, files without `_`
//! or not ending in `.sql` are skipped (listed as ignored). golang-migrate and pop share the
//! pair naming; detection tells them apart by the project.

use std::collections::BTreeMap;

use super::bookkeeping::{Book, Bookkeeping, crc_lock_key, hex, literal, record, up_bytes};
use super::{
    Entry, Evidence, FileKind, Format, FormatSpec, Found, Listing, Migration, Script, Settings,
    Strength, TransactionMode, Version,
};
use crate::error::InputError;
use sha2::{Digest, Sha384};
use std::time::Duration;

/// The first-line marker that makes sqlx run a script outside a transaction.
const NO_TRANSACTION: &str = "-- no-transaction";

/// The sqlx format.
pub const FORMAT: Format = Format::new(&Sqlx);

/// sqlx (`sqlx migrate`).
pub struct Sqlx;

impl FormatSpec for Sqlx {
    fn name(&self) -> &'static str {
        "sqlx"
    }

    fn layout(&self) -> &'static str {
        "sqlx `<version>_<name>.up.sql`/`.down.sql` pairs or `<version>_<name>.sql` files"
    }

    fn recognise(
        &self,
        listing: &Listing,
        _settings: &Settings,
    ) -> Result<Option<Evidence>, InputError> {
        // Names sqlx reads with a numeric version (discovery refuses one out of range).
        let read: Vec<&Entry> = listing
            .top_files()
            .filter(|e| sqlx_name(&e.rel).is_some_and(|(digits, ..)| is_digits(digits)))
            .collect();
        let pair = read
            .iter()
            .find(|e| e.rel.ends_with(".up.sql") || e.rel.ends_with(".down.sql"));
        Ok(pair
            .or(read.first())
            .map(|e| Evidence::entry(e, Strength::Naming).supported_by(read.len())))
    }

    fn discover(&self, listing: &Listing, _settings: &Settings) -> Result<Found, InputError> {
        discover_pairs(listing)
    }

    /// Every file sqlx reads, one whose version is out of its range included (discovery
    /// refuses it): detection then sees sqlx read the files pop reads too.
    fn is_migration_path(&self, rel: &str, _settings: &Settings) -> bool {
        is_top_level_sql(rel) && sqlx_name(rel).is_some_and(|(digits, ..)| is_digits(digits))
    }

    fn version_of_path(&self, rel: &str, _settings: &Settings) -> Option<Version> {
        version_of_path(rel)
    }

    fn transaction_rule(&self) -> &'static str {
        "each script in its own transaction"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        Some("`-- no-transaction` as the first line")
    }

    fn bookkeeping(&self) -> Option<Book> {
        Some(&Sqlx)
    }

    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        pair_template(version, name)
    }
}

/// A top-level, not hidden `.sql` file: what the flat formats read.
pub(crate) fn is_top_level_sql(rel: &str) -> bool {
    !rel.contains('/') && !rel.starts_with('.') && rel.ends_with(".sql")
}

/// The version of a file sqlx reads: numeric, within its i64.
pub(crate) fn version_of_path(rel: &str) -> Option<Version> {
    if rel.contains('/') || rel.starts_with('.') {
        return None;
    }
    let (digits, ..) = sqlx_name(rel)?;
    Some(Version::numeric(digits, sqlx_version(digits)?))
}

/// The two files of a new migration in the pair layout.
pub(crate) fn pair_template(version: &str, name: &str) -> Vec<(String, String)> {
    vec![
        (
            format!("{version}_{name}.up.sql"),
            format!("-- {name}: apply\n"),
        ),
        (
            format!("{version}_{name}.down.sql"),
            format!("-- {name}: revert exactly what the up script did\n"),
        ),
    ]
}

/// The name of a file sqlx reads as a migration, split as sqlx splits it
/// (`sqlx-core/src/migrate/source.rs`): the text before the first `_` is the version, the
/// rest must end with `.sql`; None for a file sqlx ignores (no `_`, not `.sql`).
pub(crate) fn sqlx_name(file_name: &str) -> Option<(&str, FileKind, &str)> {
    let (version, rest) = file_name.split_once('_')?;
    let (kind, name) = if let Some(name) = rest.strip_suffix(".up.sql") {
        (FileKind::Up, name)
    } else if let Some(name) = rest.strip_suffix(".down.sql") {
        (FileKind::Down, name)
    } else {
        (FileKind::Plain, rest.strip_suffix(".sql")?)
    };
    Some((version, kind, name))
}

/// Builds the migrations of a sqlx directory from its listing, as sqlx reads it: every
/// top-level file `<version>_<description>.sql` (`.up.sql`, `.down.sql`) whose version is
/// an i64; a down belongs to the up of its version (their descriptions may differ); files
/// and directories sqlx skips are returned as ignored. The result is not yet sorted.
pub(crate) fn discover_pairs(listing: &Listing) -> Result<Found, InputError> {
    let mut ups: BTreeMap<u64, (&Entry, FileKind, &str)> = BTreeMap::new();
    let mut downs: BTreeMap<u64, (&Entry, &str)> = BTreeMap::new();
    let mut ignored = Vec::new();
    for entry in listing.top_entries() {
        let parsed = (!entry.is_dir).then(|| sqlx_name(&entry.rel)).flatten();
        let Some((digits, kind, name)) = parsed else {
            ignored.push(entry.path.clone());
            continue;
        };
        let number = sqlx_version(digits).ok_or_else(|| {
            let reason = if is_digits(digits) {
                format!("version {digits} is too large for sqlx (its versions are i64)")
            } else {
                format!(
                    "sqlx cannot read this file name: the text before its first `_` \
                     (`{digits}`) is not an integer version (expected e.g. \
                     `1_create_users.sql`); rename it, or start its name with `.` to have \
                     it ignored"
                )
            };
            InputError::new(&entry.path, reason)
        })?;
        let previous = match kind {
            FileKind::Down => downs.insert(number, (entry, name)).map(|(e, _)| e),
            FileKind::Up | FileKind::Plain => {
                ups.insert(number, (entry, kind, name)).map(|(e, ..)| e)
            }
        };
        if let Some(other) = previous {
            return Err(InputError::new(
                &entry.path,
                format!(
                    "duplicate version {number}: {} has the same version (sqlx would apply both \
                     and fail on its history table's primary key)",
                    other.path.display()
                ),
            ));
        }
    }
    let mut warnings = Vec::new();
    for (number, (down, _)) in &downs {
        match ups.get(number) {
            None => {
                // zksync-era keeps one whose up was removed: sqlx runs up scripts only and
                // reverts the down of an applied version, so it never runs this file.
                ignored.push(down.path.clone());
                warnings.push(format!(
                    "{}: down script without an up script of its version: sqlx never runs it \
                     (`migrate run` applies up scripts, `migrate revert` the down of an applied \
                     version), so it is ignored",
                    down.path.display()
                ));
            }
            Some((up, FileKind::Plain, _)) => {
                return Err(InputError::new(
                    &down.path,
                    format!(
                        "down script without an up script ({} is a simple migration, \
                         which has no down; rename it to `.up.sql`)",
                        up.path.display()
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    let mut migrations = Vec::with_capacity(ups.len());
    for (number, (up, _, name)) in &ups {
        let digits = up.rel.split_once('_').map_or("", |(digits, _)| digits);
        migrations.push(Migration {
            version: Version::numeric(digits, *number),
            name: name.to_string(),
            up: script(up)?,
            down: downs
                .get(number)
                .map(|(down, _)| script(down))
                .transpose()?,
        });
    }
    Ok(Found {
        migrations,
        ignored,
        warnings,
    })
}

/// Whether `text` is decimal digits.
pub(crate) fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// A version sqlx accepts: decimal digits that fit its i64.
fn sqlx_version(digits: &str) -> Option<u64> {
    if !is_digits(digits) {
        return None;
    }
    let number: u64 = digits.parse().ok()?;
    i64::try_from(number).ok()?;
    Some(number)
}

/// The script of a whole file, with sqlx's transaction rule: wrapped, unless the file's
/// first bytes are `-- no-transaction` (sqlx's `starts_with` on the file's text).
fn script(entry: &Entry) -> Result<Script, InputError> {
    let text = entry.text()?;
    let transaction = if text.bom_len == 0 && text.sql.starts_with(NO_TRANSACTION) {
        // sqlx sends the whole file as one simple query: several statements still run in
        // one implicit transaction (sqlx-cli 0.8.6 fails a file with two CREATE INDEX
        // CONCURRENTLY), exactly what AsWritten reproduces.
        TransactionMode::AsWritten
    } else {
        TransactionMode::Wrapped
    };
    Ok(text.whole_script(&entry.path, transaction))
}

// sqlx's `_sqlx_migrations`: version, description, installed_on, success, the SHA-384 of
// the up script and the execution time in nanoseconds, written inside the migration's
// transaction; its advisory lock is `0x3d32ad9e × CRC-32(database name)` (sqlx-postgres).

/// sqlx's history table.
pub const TABLE: &str = "_sqlx_migrations";

/// sqlx's version: the number the file name starts with (sqlx's versions fit an i64).
fn version(migration: &Migration) -> i64 {
    migration.version.text.parse().unwrap_or_default()
}

/// sqlx's description of a migration: the name part of the file name, `_` as spaces.
fn description(name: &str) -> String {
    name.replace('_', " ")
}

impl Bookkeeping for Sqlx {
    fn tool(&self) -> &'static str {
        "sqlx"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    /// sqlx's version column is a bigint: `0001` is recorded as 1.
    fn recorded_version(&self, migration: &Migration) -> String {
        version(migration).to_string()
    }

    fn columns(&self) -> &'static [&'static str] {
        &[
            "version",
            "description",
            "installed_on",
            "success",
            "checksum",
            "execution_time",
        ]
    }

    fn create_sql(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
            success BOOLEAN NOT NULL,
            checksum BYTEA NOT NULL,
            execution_time BIGINT NOT NULL
        );"
        )
    }

    fn read_sql(&self) -> String {
        format!(
            "SELECT version::text, description, encode(checksum, 'hex'),
                installed_on::text, execution_time / 1000000, NULL::text, success
         FROM {TABLE} ORDER BY version"
        )
    }

    fn checksum(&self, migration: &Migration) -> Option<String> {
        up_bytes(migration).map(|bytes| hex(&Sha384::digest(&bytes)))
    }

    fn records_checksums(&self) -> bool {
        true
    }

    fn lock_key(&self, database: &str, _schema: &str) -> i64 {
        crc_lock_key(database)
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let migration = &migrations[index];
        record(&if up {
            format!(
                "INSERT INTO {TABLE} (version, description, success, checksum, execution_time) \
                 VALUES ({}, {}, TRUE, '\\x{}'::bytea, -1);",
                version(migration),
                literal(&description(&migration.name)),
                self.checksum(migration).unwrap_or_default()
            )
        } else {
            format!(
                "DELETE FROM {TABLE} WHERE version = {};",
                version(migration)
            )
        })
    }

    fn finish_sql(&self, migration: &Migration, up: bool, elapsed: Duration) -> Option<String> {
        let nanos = i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX);
        up.then(|| {
            format!(
                "UPDATE {TABLE} SET execution_time = {nanos} WHERE version = {}",
                version(migration)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::golang_migrate;
    use super::super::test_util::discover;
    use super::super::test_util::{tempdir, write};
    use super::*;

    #[test]
    fn pairs_ordered_numerically() {
        let t = tempdir();
        write(t.path(), "10_ten.up.sql", "create table ten();");
        write(t.path(), "10_ten.down.sql", "drop table ten;");
        write(t.path(), "2_two.up.sql", "create table two();");
        write(t.path(), "2_two.down.sql", "drop table two;");
        write(t.path(), "0001_one.up.sql", "create table one();");
        write(t.path(), "0001_one.down.sql", "drop table one;");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        let got: Vec<(&str, &str)> = d
            .migrations
            .iter()
            .map(|m| (m.version.text.as_str(), m.name.as_str()))
            .collect();
        assert_eq!(got, [("0001", "one"), ("2", "two"), ("10", "ten")]);
        let m = &d.migrations[1];
        assert_eq!(m.up.path, t.path().join("2_two.up.sql"));
        assert_eq!(m.up.sql, "create table two();");
        assert_eq!(m.up.line_offset, 0);
        assert_eq!(m.up.byte_offset, 0);
        assert_eq!(m.up.transaction, TransactionMode::Wrapped);
        let down = m.down.as_ref().unwrap();
        assert_eq!(down.path, t.path().join("2_two.down.sql"));
        assert_eq!(down.sql, "drop table two;");
    }

    #[test]
    fn simple_migrations_have_no_down() {
        let t = tempdir();
        write(t.path(), "1_first.sql", "select 1;");
        write(t.path(), "2_second.up.sql", "select 2;");
        write(t.path(), "2_second.down.sql", "select 2;");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format(), FORMAT);
        assert_eq!(d.migrations[0].name, "first");
        assert_eq!(d.migrations[0].down, None);
        assert!(d.migrations[1].down.is_some());
    }

    #[test]
    fn no_transaction_marker() {
        let t = tempdir();
        write(
            t.path(),
            "1_a.up.sql",
            "-- no-transaction  \r\ncreate index concurrently i on t(x);\r\n",
        );
        write(t.path(), "1_a.down.sql", "drop index i;\r\n");
        write(t.path(), "2_b.sql", "select 1;\n-- no-transaction\n");
        // sqlx tests `starts_with("-- no-transaction")`: indented, it is a comment.
        write(t.path(), "3_c.sql", " -- no-transaction\nselect 1;\n");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.migrations[0].up.transaction, TransactionMode::AsWritten);
        assert_eq!(
            d.migrations[0].down.as_ref().unwrap().transaction,
            TransactionMode::Wrapped
        );
        assert_eq!(d.migrations[1].up.transaction, TransactionMode::Wrapped);
        assert_eq!(d.migrations[2].up.transaction, TransactionMode::Wrapped);
        assert_eq!(
            d.migrations[0].up.sql,
            "-- no-transaction  \r\ncreate index concurrently i on t(x);\r\n"
        );
    }

    #[test]
    fn golang_migrate_runs_as_written() {
        let t = tempdir();
        write(t.path(), "1_a.up.sql", "-- no-transaction\nselect 1;");
        write(t.path(), "1_a.down.sql", "select 1;");
        let d = discover(t.path(), Some(golang_migrate::FORMAT)).unwrap();
        assert_eq!(d.format(), golang_migrate::FORMAT);
        assert_eq!(d.migrations[0].up.transaction, TransactionMode::AsWritten);
        assert_eq!(
            d.migrations[0].down.as_ref().unwrap().transaction,
            TransactionMode::AsWritten
        );
    }

    /// golang-migrate's regex skips what it does not match; it is listed as ignored.
    #[test]
    fn golang_migrate_ignores_what_its_regex_does_not_match() {
        let t = tempdir();
        write(t.path(), "1_a.up.sql", "select 1;");
        let plain = write(t.path(), "2_b.sql", "select 2;");
        let readme = write(t.path(), "README.md", "notes");
        write(t.path(), "3_c.up..sql", "select 3;");
        write(t.path(), "3_other_name.down.sql", "select 3;");
        let d = discover(t.path(), Some(golang_migrate::FORMAT)).unwrap();
        assert_eq!(d.ignored, [plain, readme]);
        assert_eq!(d.migrations.len(), 2);
        assert_eq!(d.migrations[1].name, "c");
        assert!(
            d.migrations[1]
                .down
                .as_ref()
                .unwrap()
                .path
                .ends_with("3_other_name.down.sql")
        );
    }

    #[test]
    fn duplicate_version_with_leading_zero_names_both_files() {
        let t = tempdir();
        let a = write(t.path(), "01_b.up.sql", "select 1;");
        let b = write(t.path(), "1_a.up.sql", "select 1;");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, b);
        assert_eq!(err.line, None);
        assert!(
            err.message.contains("duplicate version 1"),
            "{}",
            err.message
        );
        assert!(err.message.contains(&a.display().to_string()));
    }

    #[test]
    fn duplicate_version_two_ups_and_simple_plus_up() {
        let t = tempdir();
        let a = write(t.path(), "3_a.up.sql", "select 1;");
        let b = write(t.path(), "3_b.up.sql", "select 1;");
        let err = discover(t.path(), Some(golang_migrate::FORMAT)).unwrap_err();
        assert_eq!(err.path, b);
        assert!(err.message.contains(&a.display().to_string()));

        let t = tempdir();
        let a = write(t.path(), "3_a.sql", "select 1;");
        let b = write(t.path(), "3_a.up.sql", "select 1;");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, b);
        assert!(err.message.contains(&a.display().to_string()));
    }

    #[test]
    fn duplicate_down_versions() {
        let t = tempdir();
        write(t.path(), "1_a.up.sql", "select 1;");
        let a = write(t.path(), "01_a.down.sql", "select 1;");
        let b = write(t.path(), "1_a.down.sql", "select 1;");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, b);
        assert!(err.message.contains(&a.display().to_string()));
    }

    #[test]
    fn down_without_up() {
        let t = tempdir();
        write(t.path(), "1_a.up.sql", "select 1;");
        let down = write(t.path(), "2_b.down.sql", "select 1;");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.migrations.len(), 1);
        assert!(d.ignored.contains(&down));
        assert_eq!(d.detection.warnings.len(), 1, "{:?}", d.detection.warnings);
        assert!(
            d.detection.warnings[0].starts_with(&format!(
                "{}: down script without an up script of its version: sqlx never runs it",
                down.display()
            )),
            "{:?}",
            d.detection.warnings
        );
    }

    #[test]
    fn down_beside_simple_migration() {
        let t = tempdir();
        let simple = write(t.path(), "1_a.sql", "select 1;");
        let down = write(t.path(), "1_a.down.sql", "select 1;");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, down);
        assert!(err.message.starts_with("down script without an up script"));
        assert!(err.message.contains(&simple.display().to_string()));
    }

    /// sqlx (and golang-migrate) pair an up and a down by version alone.
    #[test]
    fn up_and_down_pair_by_version_whatever_their_names() {
        let t = tempdir();
        write(t.path(), "1_create_users.up.sql", "select 1;");
        let down = write(t.path(), "1_create_user.down.sql", "select 1;");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        assert_eq!(d.migrations[0].name, "create_users");
        assert_eq!(d.migrations[0].down.as_ref().unwrap().path, down);
    }

    #[test]
    fn version_too_large() {
        let t = tempdir();
        let f = write(t.path(), "99999999999999999999_a.up.sql", "select 1;");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, f);
        assert!(err.message.contains("too large"));

        let t = tempdir();
        let f = write(t.path(), "18446744073709551615_a.up.sql", "select 1;");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert_eq!(err.path, f);
        let d = discover(t.path(), Some(golang_migrate::FORMAT)).unwrap();
        assert_eq!(d.migrations[0].version.text, "18446744073709551615");
    }

    #[test]
    fn empty_name_is_allowed() {
        let t = tempdir();
        write(t.path(), "1_.up.sql", "select 1;");
        write(t.path(), "1_.down.sql", "select 1;");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.migrations[0].name, "");
        assert!(d.migrations[0].down.is_some());
    }

    #[test]
    fn lock_key_and_description_follow_sqlx() {
        // CRC-32/ISO-HDLC's check value, then sqlx's key for a database called `zone`
        // (0x3d32ad9e * crc32(name), as sqlx-postgres computes it).
        assert_eq!(crc32fast::hash(b"123456789"), 0xcbf4_3926);
        assert_eq!(Sqlx.lock_key("zone", "public"), 2_771_974_297_191_923_538);
        assert_ne!(
            Sqlx.lock_key("app", "public"),
            crc_lock_key("migration_check:app")
        );
        assert_eq!(description("create_users_table"), "create users table");
    }
}
