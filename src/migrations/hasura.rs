//! The Hasura layout (CLI config v2/v3): one directory `<version>_<name>/` per migration,
//! usually under `migrations/<database>/`, holding `up.sql` and optionally `down.sql`. As
//! the CLI reads it (`cli/migrate/source/file`), a directory's `up.sql` is the file
//! `<version>_<name>.up.sql`, and such flat files at the top level (the v1 layout) are read
//! too, by `^([0-9]+)_(.*)\.(up|down)\.(sql)$`; empty files and anything else are skipped
//! (listed as ignored). Versions are unsigned 64-bit numbers (the CLI writes millisecond
//! timestamps) ordered numerically; one version twice in one direction is the CLI's error.
//! The server runs each file through `run_sql`, inside a transaction; the CLI has no
//! per-file marker to change that. Diesel shares the directory shape, so recognition looks
//! for what only Hasura has (besides the project's `config.yaml`): the CLI's 13-digit
//! millisecond versions.

use std::collections::BTreeMap;

use super::diesel::dir_template;
use super::{
    Entry, Evidence, Format, FormatSpec, Found, Listing, Migration, Settings, Strength,
    TransactionMode, Version,
};
use crate::error::InputError;

/// The Hasura format.
pub const FORMAT: Format = Format::new(&Hasura);

/// Hasura (`hasura migrate`).
pub struct Hasura;

/// Digits of the millisecond timestamps the CLI writes as versions.
const CLI_VERSION_DIGITS: usize = 13;

impl FormatSpec for Hasura {
    /// graphql-engine's catalog initialisation: `CREATE EXTENSION IF NOT EXISTS pgcrypto
    /// SCHEMA public` (hasura/graphql-engine#338, #495, #4217), in every database it serves.
    fn environment_sql(&self) -> Option<&'static str> {
        Some("CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA public;")
    }

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
        let dirs: Vec<&Entry> = listing
            .top_dirs()
            .filter(|d| listing.get(&format!("{}/up.sql", d.rel)).is_some())
            .filter(|d| parse_name(&d.rel).is_some())
            .collect();
        let Some(first) = dirs.first() else {
            return Ok(None);
        };
        // The CLI's 13-digit millisecond versions are Hasura's alone; numeric directories
        // are diesel's naming too (the project's `config.yaml` tells them apart).
        let cli_versions = dirs.iter().all(|d| {
            parse_name(&d.rel).is_some_and(|((digits, _), _)| digits.len() == CLI_VERSION_DIGITS)
        });
        let strength = if cli_versions {
            Strength::Marker
        } else {
            Strength::Naming
        };
        Ok(Some(
            Evidence::entry(first, strength).supported_by(dirs.len()),
        ))
    }

    fn discover(&self, listing: &Listing, _settings: &Settings) -> Result<Found, InputError> {
        // version → (digits, name, up, down)
        type Pair<'l> = (&'l str, &'l str, Option<&'l Entry>, Option<&'l Entry>);
        let mut versions: BTreeMap<u64, Pair> = BTreeMap::new();
        let mut read: Vec<&str> = Vec::new();
        for entry in listing.files() {
            let Some(((digits, number), name, up)) = hasura_file(&entry.rel) else {
                continue;
            };
            read.push(entry.rel.split('/').next().unwrap_or(&entry.rel));
            // The CLI skips empty files.
            if entry.text()?.sql.is_empty() {
                continue;
            }
            let slot = versions.entry(number).or_insert((digits, name, None, None));
            let side = if up { &mut slot.2 } else { &mut slot.3 };
            if let Some(other) = side.replace(entry) {
                return Err(InputError::new(
                    &entry.path,
                    format!(
                        "duplicate version {number}: {} is the {} of the same version (the \
                         Hasura CLI refuses the directory)",
                        other.path.display(),
                        if up { "up" } else { "down" }
                    ),
                ));
            }
        }
        let ignored = listing
            .top_entries()
            .filter(|e| !read.contains(&e.rel.as_str()))
            .map(|e| e.path.clone())
            .collect();
        let mut migrations = Vec::with_capacity(versions.len());
        for (number, (digits, name, up, down)) in versions {
            let script = |entry: &Entry| {
                entry
                    .text()
                    .map(|text| text.whole_script(&entry.path, TransactionMode::Wrapped))
            };
            let Some(up) = up else {
                let down = down.expect("a version read has a file");
                return Err(InputError::new(
                    &down.path,
                    "down without an up of its version: the Hasura CLI would apply nothing \
                     for this version; add the up, or remove the down",
                ));
            };
            migrations.push(Migration {
                version: Version::numeric(digits, number),
                name: name.to_string(),
                up: script(up)?,
                down: down.map(script).transpose()?,
            });
        }
        Ok(Found {
            migrations,
            ignored,
            ..Found::default()
        })
    }

    fn is_migration_path(&self, rel: &str, _settings: &Settings) -> bool {
        hasura_file(rel).is_some()
    }

    fn version_of_path(&self, rel: &str, _settings: &Settings) -> Option<Version> {
        let ((text, number), ..) = hasura_file(rel)?;
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

/// A file the CLI reads as a migration: `<version>_<name>/up.sql` (or `down.sql`), or a
/// top-level `<version>_<name>.up.sql` (`.down.sql`); ((version text, number), name, up).
fn hasura_file(rel: &str) -> Option<((&str, u64), &str, bool)> {
    let (stem, up) = match rel.split('/').collect::<Vec<_>>().as_slice() {
        [dir, "up.sql"] => (*dir, true),
        [dir, "down.sql"] => (*dir, false),
        [file] => match (file.strip_suffix(".up.sql"), file.strip_suffix(".down.sql")) {
            (Some(stem), _) => (stem, true),
            (_, Some(stem)) => (stem, false),
            _ => return None,
        },
        _ => return None,
    };
    let (version, name) = parse_name(stem)?;
    Some((version, name, up))
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

    /// The v1 layout's flat files are read beside directories; an empty file is skipped.
    #[test]
    fn flat_files_are_read_too_and_empty_ones_skipped() {
        let t = tempdir();
        write(t.path(), "1654696186008_init/up.sql", "create table a();");
        write(t.path(), "1654696186009_flat.up.sql", "create table b();");
        write(t.path(), "1654696186009_flat.down.sql", "drop table b;");
        write(t.path(), "1654696186010_c/up.sql", "create table c();");
        write(t.path(), "1654696186010_c/down.sql", "");
        let yaml = write(t.path(), "1654696186011_meta.up.yaml", "- type: x");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        let names: Vec<&str> = d.migrations.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["init", "flat", "c"]);
        assert!(d.migrations[1].down.is_some());
        assert_eq!(d.migrations[2].down, None);
        assert_eq!(d.ignored, [yaml]);
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
        // The CLI's regex skips what it does not match.
        let bad = write(t.path(), "2x_b/up.sql", "select 1;");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        assert_eq!(d.ignored, [bad.parent().unwrap()]);
        std::fs::remove_dir_all(bad.parent().unwrap()).unwrap();
        write(t.path(), "01_c/up.sql", "select 1;");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert!(err.message.contains("duplicate version 1"), "{err}");
        let t = tempdir();
        write(t.path(), "1_a/down.sql", "select 1;");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert!(err.message.contains("down without an up"), "{err}");
    }
}
