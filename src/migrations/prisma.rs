//! The Prisma Migrate layout: one directory `<timestamp>_<name>/` per migration holding
//! `migration.sql`, beside a `migration_lock.toml` naming the database provider. Prisma has no
//! down scripts, so every migration is up only. This leaf reads that layout as Prisma reads it
//! and refuses a directory locked to another database than PostgreSQL.
//!
//! Facts from the tool's source that the rules below rely on:
//! - prisma/prisma `packages/migrate/src/utils/listMigrations.ts`, `listMigrations`: every
//!   directory entry of the migrations directory is a migration (files beside them, such as
//!   `migration_lock.toml`, are not), its script is `<dir>/migration.sql`, and the migrations
//!   are sorted by directory name (`a.path.localeCompare(b.path)`). For the
//!   `<14-digit timestamp>_<name>` names Prisma writes this is the byte order of the names,
//!   which is what [`Version`] uses here; the two orders could only differ for two directories
//!   with the same timestamp, which discovery refuses as a duplicate version.
//! - prisma/prisma-engines `schema-engine/connectors/schema-connector/src/migrations_directory.rs`,
//!   `read_provider_from_lock_file`: the provider is the first line of `migration_lock.toml`
//!   starting with `provider`, with `provider = ` and surrounding `"` trimmed; a lock file
//!   without such a line reads as `<PROVIDER NOT FOUND>`, and a provider other than the
//!   schema's is refused (`error_on_changed_provider`). A missing lock file is accepted.
//! - prisma/prisma-engines `schema-engine/connectors/sql-schema-connector/src/flavour/postgres/connection.rs`,
//!   `apply_migration_script`: PostgreSQL gets the whole script in one `simple_query`, with no
//!   transaction of Prisma's own. PostgreSQL runs a multi-statement simple query as one implicit
//!   transaction, so `CREATE INDEX CONCURRENTLY` fails there unless it is the script's only
//!   statement. That is exactly [`TransactionMode::AsWritten`]; Prisma has no marker to change it.
//! - The bookkeeping table is `_prisma_migrations` (its columns are documented in
//!   `schema-connector/src/migration_persistence.rs`).

use std::collections::BTreeMap;
use std::path::Path;

use super::{
    Entry, Evidence, Format, FormatSpec, Found, Listing, Migration, Settings, Strength,
    TransactionMode, Version, lines,
};
use crate::error::InputError;

/// The Prisma format.
pub const FORMAT: Format = Format::new(&Prisma);

/// Prisma Migrate (`prisma migrate deploy`).
pub struct Prisma;

/// The script file of every migration directory.
const SCRIPT: &str = "migration.sql";

/// The lock file naming the database provider, beside the migration directories.
const LOCK_FILE: &str = "migration_lock.toml";

/// The only provider migration-check can verify.
const POSTGRESQL: &str = "postgresql";

impl FormatSpec for Prisma {
    fn name(&self) -> &'static str {
        "prisma"
    }

    fn layout(&self) -> &'static str {
        "Prisma `<timestamp>_<name>/migration.sql` directories"
    }

    fn depth(&self) -> usize {
        2
    }

    fn default_dirs(&self) -> &'static [&'static str] {
        &["prisma/migrations"]
    }

    fn recognise(
        &self,
        listing: &Listing,
        _settings: &Settings,
    ) -> Result<Option<Evidence>, InputError> {
        if let Some(lock) = listing.get(LOCK_FILE).filter(|e| !e.is_dir) {
            return Ok(Some(Evidence::entry(lock, Strength::Marker)));
        }
        Ok(listing
            .top_dirs()
            .find(|dir| listing.get(&script_rel(dir)).is_some())
            .map(|dir| Evidence::entry(dir, Strength::Naming)))
    }

    fn discover(&self, listing: &Listing, _settings: &Settings) -> Result<Found, InputError> {
        if let Some(lock) = listing.get(LOCK_FILE).filter(|e| !e.is_dir) {
            check_provider(lock)?;
        }
        let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
        let mut migrations = Vec::new();
        for dir in listing.top_dirs() {
            let migration = migration(listing, dir)?;
            if let Some(other) = seen.insert(version_text(&dir.rel), &dir.path) {
                return Err(InputError::new(
                    &dir.path,
                    format!(
                        "duplicate version {}: {} has the same timestamp; Prisma would run \
                         both, ordered by name, but migration-check reports migrations by \
                         version: give one of them a new timestamp",
                        migration.version,
                        other.display()
                    ),
                ));
            }
            migrations.push(migration);
        }
        let ignored = listing
            .top_files()
            .filter(|f| f.rel.ends_with(".sql"))
            .map(|f| f.path.clone())
            .collect();
        Ok(Found {
            migrations,
            ignored,
        })
    }

    fn is_migration_path(&self, rel: &str, _settings: &Settings) -> bool {
        matches!(rel.split_once('/'), Some((dir, SCRIPT)) if !dir.starts_with('.'))
    }

    fn version_of_path(&self, rel: &str, settings: &Settings) -> Option<Version> {
        if !self.is_migration_path(rel, settings) {
            return None;
        }
        Some(version_of(&self.migration_key(rel, settings)))
    }

    fn migration_key(&self, rel: &str, _settings: &Settings) -> String {
        rel.split('/').next().unwrap_or(rel).to_string()
    }

    fn transaction_rule(&self) -> &'static str {
        "each script sent as one simple query, an implicit transaction when it holds more \
         than one statement"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        None
    }

    fn history_table(&self) -> Option<&'static str> {
        Some("_prisma_migrations")
    }

    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        vec![(format!("{version}_{name}/{SCRIPT}"), format!("-- {name}\n"))]
    }
}

/// The listing path of a migration directory's script.
fn script_rel(dir: &Entry) -> String {
    format!("{}/{SCRIPT}", dir.rel)
}

/// The version of a migration directory: its name up to the first `_` (the timestamp).
fn version_text(dir: &str) -> &str {
    dir.split_once('_').map_or(dir, |(version, _)| version)
}

/// The version of a migration directory, ordered by the whole directory name as Prisma
/// orders migrations.
fn version_of(dir: &str) -> Version {
    Version::textual(version_text(dir), dir)
}

/// Refuses a lock file whose provider is not PostgreSQL, read as Prisma reads it.
fn check_provider(lock: &Entry) -> Result<(), InputError> {
    let text = &lock.text()?.sql;
    let Some(line) = lines(text).find(|l| l.text.starts_with("provider")) else {
        return Err(InputError::new(
            &lock.path,
            "no `provider = \"postgresql\"` line: Prisma refuses a lock file without a \
             provider; add the line (or delete the file and let `prisma migrate dev` \
             write it again)",
        ));
    };
    let raw = line.text.strip_suffix('\r').unwrap_or(line.text);
    let provider = raw.trim_start_matches("provider = ").trim_matches('"');
    if provider == POSTGRESQL {
        return Ok(());
    }
    Err(InputError::at_line(
        &lock.path,
        line.number,
        format!(
            "these migrations are locked to provider `{provider}`, not `{POSTGRESQL}`; \
             migration-check verifies PostgreSQL migrations only (Prisma reads this line as \
             the provider: it must read `provider = \"{POSTGRESQL}\"`)"
        ),
    ))
}

/// Reads one migration directory: its `migration.sql`, up only.
fn migration(listing: &Listing, dir: &Entry) -> Result<Migration, InputError> {
    let Some(script) = listing.get(&script_rel(dir)).filter(|e| !e.is_dir) else {
        let (message, choice) = if dir.path.join("up.sql").is_file() {
            (
                "diesel/Hasura migration directory (`up.sql`) in a prisma migrations \
                 directory; move it or pass --format",
                " diesel",
            )
        } else {
            (
                "migration directory has no migration.sql (Prisma fails on it); add the \
                 script or move the directory out of the migrations directory",
                "",
            )
        };
        return Err(InputError::new(&dir.path, format!("{message}{choice}")));
    };
    let (_, name) = dir.rel.split_once('_').unwrap_or((&dir.rel, ""));
    Ok(Migration {
        version: version_of(&dir.rel),
        name: name.to_string(),
        up: script
            .text()?
            .whole_script(&script.path, TransactionMode::AsWritten),
        down: None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{discover, tempdir, write};
    use super::*;

    const LOCK: &str = "# Please do not edit this file manually\nprovider = \"postgresql\"\n";

    fn versions(d: &super::super::Discovered) -> Vec<(&str, &str)> {
        d.migrations
            .iter()
            .map(|m| (m.version.text.as_str(), m.name.as_str()))
            .collect()
    }

    #[test]
    fn detected_by_lock_file_and_ordered_by_directory_name() {
        let t = tempdir();
        write(t.path(), LOCK_FILE, LOCK);
        write(t.path(), "20240102000000_b/migration.sql", "SELECT 2;");
        write(t.path(), "20240101000000_a/migration.sql", "SELECT 1;");
        write(t.path(), "9_short/migration.sql", "SELECT 9;");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format(), FORMAT);
        // Names are compared as strings: "9_short" sorts after the timestamps.
        assert_eq!(
            versions(&d),
            [
                ("20240101000000", "a"),
                ("20240102000000", "b"),
                ("9", "short")
            ]
        );
        let m = &d.migrations[0];
        assert_eq!(m.up.path, t.path().join("20240101000000_a/migration.sql"));
        assert_eq!(m.up.sql, "SELECT 1;");
        assert_eq!(m.up.transaction, TransactionMode::AsWritten);
        assert_eq!(m.down, None);
        assert!(d.ignored.is_empty());
    }

    #[test]
    fn detected_without_lock_file_by_naming() {
        let t = tempdir();
        write(t.path(), "20240101000000_init/migration.sql", "SELECT 1;");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format(), FORMAT);
        assert_eq!(versions(&d), [("20240101000000", "init")]);
    }

    #[test]
    fn other_providers_are_refused_at_the_line() {
        for (lock, line, found) in [
            ("# c\nprovider = \"mysql\"\n", 2, "mysql"),
            ("provider = \"cockroachdb\"\r\n", 1, "cockroachdb"),
            // Prisma only trims `provider = ` with single spaces.
            ("provider=\"postgresql\"\n", 1, "provider=\"postgresql"),
        ] {
            let t = tempdir();
            let path = write(t.path(), LOCK_FILE, lock);
            write(t.path(), "1_a/migration.sql", "SELECT 1;");
            let err = discover(t.path(), None).unwrap_err();
            assert_eq!(err.path, path, "{lock:?}");
            assert_eq!(err.line, Some(line), "{lock:?}");
            assert!(err.message.contains(&format!("`{found}`")), "{err}");
        }
        let t = tempdir();
        let path = write(t.path(), LOCK_FILE, "# nothing\n");
        write(t.path(), "1_a/migration.sql", "SELECT 1;");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert_eq!((&err.path, err.line), (&path, None));
    }

    #[test]
    fn crlf_lock_file_is_postgresql() {
        let t = tempdir();
        write(t.path(), LOCK_FILE, "provider = \"postgresql\"\r\n");
        write(t.path(), "1_a/migration.sql", "SELECT 1;");
        assert_eq!(discover(t.path(), None).unwrap().migrations.len(), 1);
    }

    #[test]
    fn directory_without_script_is_an_error() {
        let t = tempdir();
        write(t.path(), LOCK_FILE, LOCK);
        write(t.path(), "1_a/migration.sql", "SELECT 1;");
        write(t.path(), "2_b/notes.md", "x");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, t.path().join("2_b"));
        assert!(err.message.contains("no migration.sql"), "{err}");
        let t = tempdir();
        write(t.path(), LOCK_FILE, LOCK);
        write(t.path(), "2_b/up.sql", "SELECT 1;");
        let err = discover(t.path(), None).unwrap_err();
        assert!(err.message.contains("--format diesel"), "{err}");
    }

    #[test]
    fn duplicate_timestamps_are_refused() {
        let t = tempdir();
        write(t.path(), LOCK_FILE, LOCK);
        write(t.path(), "1_a/migration.sql", "SELECT 1;");
        write(t.path(), "1_b/migration.sql", "SELECT 1;");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, t.path().join("1_b"));
        assert!(err.message.contains("duplicate version 1"), "{err}");
    }

    #[test]
    fn non_utf8_script_names_the_line() {
        let t = tempdir();
        write(t.path(), LOCK_FILE, LOCK);
        let path = write(
            t.path(),
            "1_a/migration.sql",
            b"SELECT 1;\nSELECT '\xff';\n",
        );
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!((&err.path, err.line), (&path, Some(2)));
    }

    #[test]
    fn top_level_sql_files_are_ignored_as_prisma_ignores_them() {
        let t = tempdir();
        write(t.path(), LOCK_FILE, LOCK);
        write(t.path(), "1_a/migration.sql", "SELECT 1;");
        let stray = write(t.path(), "seed.sql", "SELECT 1;");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        assert_eq!(d.ignored, [stray]);
    }

    #[test]
    fn paths_versions_and_keys() {
        let s = Settings::default();
        assert!(FORMAT.is_migration_path("20240101000000_a/migration.sql", &s));
        assert!(!FORMAT.is_migration_path(LOCK_FILE, &s));
        assert!(!FORMAT.is_migration_path("20240101000000_a/down.sql", &s));
        assert!(!FORMAT.is_migration_path("a/b/migration.sql", &s));
        assert!(!FORMAT.is_migration_path(".x/migration.sql", &s));
        let v = FORMAT
            .version_of_path("20240101000000_a/migration.sql", &s)
            .unwrap();
        assert_eq!(v.text, "20240101000000");
        assert_eq!(FORMAT.migration_key("1_a/migration.sql", &s), "1_a");
        assert_eq!(
            FORMAT.template("20240101000000", "init")[0].0,
            "20240101000000_init/migration.sql"
        );
    }
}
