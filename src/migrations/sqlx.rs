//! The sqlx layout: `<version>_<name>.up.sql` with `<version>_<name>.down.sql`, or simple
//! (irreversible) `<version>_<name>.sql` files, versions ordered numerically within `i64`;
//! `-- no-transaction` on a script's first line takes it out of sqlx's transaction: sqlx
//! then sends the file as one query, so several statements share an implicit transaction.
//! golang-migrate shares the pair naming (its own file reuses [`discover_pairs`]), so pairs
//! are read as sqlx when auto-detected. This leaf turns the listing into migrations under
//! those rules; it does no I/O of its own.

use std::collections::BTreeMap;

use super::bookkeeping::{Book, Bookkeeping, crc_lock_key, hex, literal, record, up_bytes};
use super::{
    Evidence, FileKind, Format, FormatSpec, Found, Listing, Migration, Script, Settings, SqlFile,
    Strength, TransactionMode, Version, refuse_migration_dirs, split_version,
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
        let versioned =
            |e: &&super::Entry| e.rel.ends_with(".sql") && split_version(&e.rel).is_some();
        let pair = listing
            .top_files()
            .filter(versioned)
            .find(|e| e.rel.ends_with(".up.sql") || e.rel.ends_with(".down.sql"));
        let example = pair.or_else(|| listing.top_files().find(versioned));
        Ok(example.map(|e| Evidence::entry(e, Strength::Naming)))
    }

    fn discover(&self, listing: &Listing, _settings: &Settings) -> Result<Found, InputError> {
        discover_pairs(listing, false).map(Found::from)
    }

    fn is_migration_path(&self, rel: &str, _settings: &Settings) -> bool {
        is_top_level_sql(rel)
    }

    fn version_of_path(&self, rel: &str, _settings: &Settings) -> Option<Version> {
        version_of_path(rel, false)
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

/// The version of a pair or simple file: numeric, within i64 for sqlx (its type), u64 for
/// golang-migrate.
pub(crate) fn version_of_path(rel: &str, golang: bool) -> Option<Version> {
    if !is_top_level_sql(rel) {
        return None;
    }
    let (digits, _) = split_version(rel)?;
    let number: u64 = digits.parse().ok()?;
    if !golang && i64::try_from(number).is_err() {
        return None;
    }
    Some(Version::numeric(digits, number))
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

/// Builds the migrations of a sqlx (`golang` false) or golang-migrate (`golang` true)
/// directory from its listing. The result is not yet sorted.
pub(crate) fn discover_pairs(
    listing: &Listing,
    golang: bool,
) -> Result<Vec<Migration>, InputError> {
    refuse_migration_dirs(listing, if golang { "golang-migrate" } else { "sqlx" })?;
    let files = listing.versioned_sql_files()?;
    let mut ups: BTreeMap<u64, &SqlFile> = BTreeMap::new();
    let mut downs: BTreeMap<u64, &SqlFile> = BTreeMap::new();
    for file in &files {
        let number = parse_version(file, golang)?;
        let map = match file.kind {
            FileKind::Plain if golang => {
                return Err(InputError::new(
                    &file.path,
                    "neither `.up.sql` nor `.down.sql`: golang-migrate migrations are \
                     `<version>_<name>.up.sql` and `<version>_<name>.down.sql`",
                ));
            }
            FileKind::Up | FileKind::Plain => &mut ups,
            FileKind::Down => &mut downs,
        };
        if let Some(other) = map.insert(number, file) {
            return Err(InputError::new(
                &file.path,
                format!(
                    "duplicate version {number}: {} has the same version",
                    other.path.display()
                ),
            ));
        }
    }

    for (number, down) in &downs {
        match ups.get(number) {
            None => {
                return Err(InputError::new(
                    &down.path,
                    "down script without an up script",
                ));
            }
            Some(up) if up.kind == FileKind::Plain => {
                return Err(InputError::new(
                    &down.path,
                    format!(
                        "down script without an up script ({} is a simple migration, \
                         which has no down; rename it to `.up.sql`)",
                        up.path.display()
                    ),
                ));
            }
            Some(up) if up.name != down.name => {
                return Err(InputError::new(
                    &down.path,
                    format!(
                        "name `{}` does not match its up script {} (`{}`)",
                        down.name,
                        up.path.display(),
                        up.name
                    ),
                ));
            }
            Some(_) => {}
        }
    }

    Ok(ups
        .iter()
        .map(|(number, up)| Migration {
            version: Version::numeric(&up.version, *number),
            name: up.name.clone(),
            up: script(up, golang),
            down: downs.get(number).map(|down| script(down, golang)),
        })
        .collect())
}

/// Parses a file's version digits: u64 for golang-migrate, within i64 for sqlx (its type).
fn parse_version(file: &SqlFile, golang: bool) -> Result<u64, InputError> {
    let too_large = || {
        InputError::new(
            &file.path,
            format!(
                "version {} is too large for {}",
                file.version,
                if golang { "golang-migrate" } else { "sqlx" }
            ),
        )
    };
    let number: u64 = file.version.parse().map_err(|_| too_large())?;
    if !golang && i64::try_from(number).is_err() {
        return Err(too_large());
    }
    Ok(number)
}

/// The script of a whole file, with the transaction mode its tool gives it.
fn script(file: &SqlFile, golang: bool) -> Script {
    let transaction = if golang {
        TransactionMode::AsWritten
    } else if file.text.sql.lines().next().map(str::trim) == Some(NO_TRANSACTION) {
        // sqlx sends the whole file as one simple query: several statements still run in
        // one implicit transaction (sqlx-cli 0.8.6 fails a file with two CREATE INDEX
        // CONCURRENTLY), exactly what AsWritten reproduces.
        TransactionMode::AsWritten
    } else {
        TransactionMode::Wrapped
    };
    file.text.whole_script(&file.path, transaction)
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
            "  -- no-transaction  \r\ncreate index concurrently i on t(x);\r\n",
        );
        write(t.path(), "1_a.down.sql", "drop index i;\r\n");
        write(t.path(), "2_b.sql", "select 1;\n-- no-transaction\n");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.migrations[0].up.transaction, TransactionMode::AsWritten);
        assert_eq!(
            d.migrations[0].down.as_ref().unwrap().transaction,
            TransactionMode::Wrapped
        );
        assert_eq!(d.migrations[1].up.transaction, TransactionMode::Wrapped);
        assert_eq!(
            d.migrations[0].up.sql,
            "  -- no-transaction  \r\ncreate index concurrently i on t(x);\r\n"
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

    #[test]
    fn golang_migrate_rejects_plain_sql() {
        let t = tempdir();
        write(t.path(), "1_a.up.sql", "select 1;");
        let plain = write(t.path(), "2_b.sql", "select 2;");
        let err = discover(t.path(), Some(golang_migrate::FORMAT)).unwrap_err();
        assert_eq!(err.path, plain);
        assert_eq!(err.line, None);
        assert!(err.message.contains("golang-migrate"));
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
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, down);
        assert_eq!(err.line, None);
        assert_eq!(err.message, "down script without an up script");
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

    #[test]
    fn up_and_down_names_must_match() {
        let t = tempdir();
        let up = write(t.path(), "1_create_users.up.sql", "select 1;");
        let down = write(t.path(), "1_create_user.down.sql", "select 1;");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, down);
        assert!(err.message.contains(&up.display().to_string()));
        assert!(err.message.contains("create_user`"));
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
