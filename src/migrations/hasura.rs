//! The Hasura layout (CLI config v2/v3): one directory `<version>_<name>/` per migration,
//! usually under `migrations/<database>/`, holding `up.sql` and optionally `down.sql`.
//! Versions are unsigned 64-bit numbers (the CLI writes millisecond timestamps) and ordered
//! numerically, as the CLI orders them. The server runs each file through `run_sql`, inside
//! a transaction; the CLI has no per-file marker to change that. Diesel shares the
//! directory shape, so recognition looks for what only Hasura has: the project's
//! `config.yaml` above the directory, or the CLI's 13-digit millisecond versions.

use std::collections::BTreeMap;
use std::path::Path;

use super::diesel::{
    dir_template, find_above, is_dir_migration_path, migration_dirs, read_dir_migration,
    refuse_top_level_sql,
};
use super::project::is_hasura_config;
use super::{
    Evidence, Format, FormatSpec, Found, Listing, Settings, Strength, TransactionMode, Version,
};
use crate::error::InputError;

/// The Hasura format.
pub const FORMAT: Format = Format::new(&Hasura);

/// Hasura (`hasura migrate`).
pub struct Hasura;

/// The files of a migration directory that are part of the migration.
const FILES: [&str; 2] = ["up.sql", "down.sql"];

/// How many directories above the migrations directory the project's `config.yaml` is
/// looked for (`hasura/migrations/default/` → `hasura/config.yaml`).
const CONFIG_LEVELS: usize = 2;

/// Digits of the millisecond timestamps the CLI writes as versions.
const CLI_VERSION_DIGITS: usize = 13;

impl FormatSpec for Hasura {
    fn name(&self) -> &'static str {
        "hasura"
    }

    fn layout(&self) -> &'static str {
        "Hasura `<version>_<name>/up.sql` directories (numeric versions)"
    }

    fn depth(&self) -> usize {
        2
    }

    fn default_dirs(&self) -> &'static [&'static str] {
        &["hasura/migrations/default", "migrations/default"]
    }

    fn recognise(
        &self,
        listing: &Listing,
        _settings: &Settings,
    ) -> Result<Option<Evidence>, InputError> {
        let with_up: Vec<_> = migration_dirs(listing)
            .filter(|d| d.path.join("up.sql").is_file())
            .collect();
        let Some(first) = with_up.first() else {
            return Ok(None);
        };
        if let Some(config) = find_above(&listing.dir, "config.yaml", CONFIG_LEVELS)
            && is_hasura_config(&config)
        {
            return Ok(Some(Evidence::file(&config, Strength::Marker)));
        }
        let cli_versions = with_up.iter().all(|d| {
            d.rel.split_once('_').is_some_and(|(v, _)| {
                v.len() == CLI_VERSION_DIGITS && v.bytes().all(|b| b.is_ascii_digit())
            })
        });
        Ok(cli_versions.then(|| Evidence::entry(first, Strength::Marker)))
    }

    fn discover(&self, listing: &Listing, _settings: &Settings) -> Result<Found, InputError> {
        refuse_top_level_sql(listing, "hasura")?;
        let mut seen: BTreeMap<u64, &Path> = BTreeMap::new();
        let mut migrations = Vec::new();
        for dir in migration_dirs(listing) {
            let (version, name) = parse_name(&dir.rel).ok_or_else(|| {
                InputError::new(
                    &dir.path,
                    "migration directory name is not `<version>_<name>` with a numeric \
                     version (e.g. `1654696186008_init`)",
                )
            })?;
            if let Some(other) = seen.insert(version.1, &dir.path) {
                return Err(InputError::new(
                    &dir.path,
                    format!(
                        "duplicate version {}: {} has the same version",
                        version.1,
                        other.display()
                    ),
                ));
            }
            let version = Version::numeric(version.0, version.1);
            migrations.push(read_dir_migration(
                dir,
                version,
                name,
                TransactionMode::Wrapped,
            )?);
        }
        Ok(migrations.into())
    }

    fn is_migration_path(&self, rel: &str, _settings: &Settings) -> bool {
        is_dir_migration_path(rel, &FILES)
    }

    fn version_of_path(&self, rel: &str, settings: &Settings) -> Option<Version> {
        if !self.is_migration_path(rel, settings) {
            return None;
        }
        let ((text, number), _) = parse_name(rel.split('/').next()?)?;
        Some(Version::numeric(text, number))
    }

    fn migration_key(&self, rel: &str, _settings: &Settings) -> String {
        rel.split('/').next().unwrap_or(rel).to_string()
    }

    fn transaction_rule(&self) -> &'static str {
        "each file in its own transaction (the server's `run_sql`)"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        None
    }

    fn history_table(&self) -> Option<&'static str> {
        Some("hdb_catalog.schema_migrations")
    }

    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        dir_template(version, name)
    }
}

/// `<u64>_<name>` → ((version text, number), name).
fn parse_name(dir: &str) -> Option<((&str, u64), &str)> {
    let (version, name) = dir.split_once('_')?;
    let number = version.parse::<u64>().ok()?;
    version
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then_some(((version, number), name))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{discover, tempdir, write};
    use super::*;

    #[test]
    fn cli_versions_are_recognised_and_ordered_numerically() {
        let t = tempdir();
        write(t.path(), "1654696186008_init/up.sql", "create table a();");
        write(t.path(), "1654696186008_init/down.sql", "drop table a;");
        write(t.path(), "1654698227514_b/up.sql", "create table b();");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format(), FORMAT);
        assert_eq!(d.migrations[1].down, None);
        assert_eq!(d.migrations[0].up.transaction, TransactionMode::Wrapped);
        // Given by name, shorter versions order numerically, not as strings.
        write(t.path(), "9_c/up.sql", "select 1;");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        let versions: Vec<&str> = d
            .migrations
            .iter()
            .map(|m| m.version.text.as_str())
            .collect();
        assert_eq!(versions, ["9", "1654696186008", "1654698227514"]);
    }

    #[test]
    fn project_config_above_is_recognised() {
        let t = tempdir();
        write(
            t.path(),
            "config.yaml",
            "version: 3\nendpoint: http://localhost:8080\n",
        );
        let dir = t.path().join("migrations/default");
        write(&dir, "1_a/up.sql", "select 1;");
        let d = discover(&dir, None).unwrap();
        assert_eq!(d.format(), FORMAT);
    }

    #[test]
    fn diesel_style_directories_stay_diesel() {
        let t = tempdir();
        write(t.path(), "2024-01-02-030405_a/up.sql", "select 1;");
        assert_eq!(
            discover(t.path(), None).unwrap().format(),
            super::super::diesel::FORMAT
        );
    }

    #[test]
    fn bad_names_and_duplicates_are_errors() {
        let t = tempdir();
        write(t.path(), "1_a/up.sql", "select 1;");
        let bad = write(t.path(), "2x_b/up.sql", "select 1;");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert_eq!(err.path, bad.parent().unwrap());
        std::fs::remove_dir_all(bad.parent().unwrap()).unwrap();
        write(t.path(), "01_c/up.sql", "select 1;");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert!(err.message.contains("duplicate version 1"), "{err}");
        let t = tempdir();
        write(t.path(), "1_a/down.sql", "select 1;");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert!(err.message.contains("no up.sql"), "{err}");
    }
}
