//! The diesel layout: one directory per migration holding `up.sql`, optionally `down.sql`,
//! and optionally `metadata.toml` whose `run_in_transaction` (false when the file exists
//! without it, as diesel's derived default reads it) takes both scripts out of diesel's
//! transaction. As diesel_migrations 2.3 reads the directory: every non-empty subdirectory
//! is a migration whatever its name; its version is the part of the name before the first
//! `_` (all of it without one), ordered as a string with dashes removed; a subdirectory
//! without `up.sql` is an error; top-level files are skipped (listed as ignored).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::bookkeeping::{Book, Bookkeeping, literal, record};
use super::{
    Entry, Evidence, Format, FormatSpec, Found, Listing, Migration, Settings, Strength, Text,
    TransactionMode, Version, line_of_byte, read_text,
};
use crate::error::InputError;

/// The part of `metadata.toml` that matters here; other keys are ignored, as diesel does.
/// diesel derives `Default` for its metadata, so a file without the key reads as false
/// (no `metadata.toml` at all is true).
#[derive(Debug, serde::Deserialize)]
struct Metadata {
    #[serde(default)]
    run_in_transaction: bool,
}

/// The diesel format.
pub const FORMAT: Format = Format::new(&Diesel);

/// diesel (`diesel migration`).
pub struct Diesel;

/// The files of a diesel migration directory that are part of the migration.
pub(crate) const FILES: [&str; 3] = ["up.sql", "down.sql", "metadata.toml"];

/// The first migration `diesel setup` writes; only diesel has it.
const INITIAL_SETUP: &str = "00000000000000_diesel_initial_setup";

impl FormatSpec for Diesel {
    fn name(&self) -> &'static str {
        "diesel"
    }

    fn layout(&self) -> &'static str {
        "diesel `<version>_<name>/up.sql` directories"
    }

    fn depth(&self) -> usize {
        2
    }

    fn recognise(
        &self,
        listing: &Listing,
        _settings: &Settings,
    ) -> Result<Option<Evidence>, InputError> {
        let dirs: Vec<&Entry> = migration_dirs(listing).collect();
        if let Some(setup) = dirs.iter().find(|d| d.rel == INITIAL_SETUP) {
            return Ok(Some(Evidence::entry(setup, Strength::Marker)));
        }
        let with_up: Vec<&&Entry> = dirs
            .iter()
            .filter(|d| d.path.join("up.sql").is_file())
            .collect();
        Ok(match with_up.first() {
            Some(dir) => Some(Evidence::entry(dir, Strength::Naming).supported_by(with_up.len())),
            // A digit-named directory holding diesel's other files but no `up.sql`: a
            // hint (discovery then names what is missing).
            None => dirs
                .iter()
                .find(|d| {
                    d.rel.starts_with(|c: char| c.is_ascii_digit())
                        && ["down.sql", "metadata.toml"]
                            .iter()
                            .any(|f| listing.get(&format!("{}/{f}", d.rel)).is_some())
                })
                .map(|d| Evidence::entry(d, Strength::Hint)),
        })
    }

    fn discover(&self, listing: &Listing, _settings: &Settings) -> Result<Found, InputError> {
        let mut seen: BTreeMap<String, &Path> = BTreeMap::new();
        let mut migrations = Vec::new();
        let mut warnings = Vec::new();
        let ignored = listing
            .top_entries()
            .filter(|e| !e.is_dir)
            .map(|e| e.path.clone())
            .collect();
        for dir in migration_dirs(listing) {
            let migration = migration(dir, &mut warnings)?;
            let key = migration.version.text.replace('-', "");
            if let Some(other) = seen.insert(key.clone(), &dir.path) {
                return Err(InputError::new(
                    &dir.path,
                    format!(
                        "duplicate version {key}: {} has the same version",
                        other.display()
                    ),
                ));
            }
            migrations.push(migration);
        }
        Ok(Found {
            migrations,
            ignored,
            warnings,
        })
    }

    fn is_migration_path(&self, rel: &str, _settings: &Settings) -> bool {
        matches!(rel.split('/').collect::<Vec<_>>().as_slice(), [dir, file]
            if !dir.starts_with('.') && FILES.contains(file))
    }

    fn version_of_path(&self, rel: &str, settings: &Settings) -> Option<Version> {
        if !self.is_migration_path(rel, settings) {
            return None;
        }
        Some(version_of(split_dir_name(rel.split('/').next()?).0))
    }

    fn migration_key(&self, rel: &str, _settings: &Settings) -> String {
        rel.split('/').next().unwrap_or(rel).to_string()
    }

    fn transaction_rule(&self) -> &'static str {
        "each script in its own transaction"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        Some("`run_in_transaction = false` in the directory's `metadata.toml`")
    }

    fn bookkeeping(&self) -> Option<Book> {
        Some(&Diesel)
    }

    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        dir_template(version, name)
    }
}

/// Diesel's version order: the version as a string with dashes removed.
fn version_of(version: &str) -> Version {
    Version::textual(version, &version.replace('-', ""))
}

/// The top-level directories that hold anything: one migration each (diesel skips empty ones).
fn migration_dirs(listing: &Listing) -> impl Iterator<Item = &Entry> {
    listing
        .top_dirs()
        .filter(|d| listing.entries.iter().any(|e| e.parent() == d.rel))
}

/// diesel's `version_from_path`: the directory name before its first `_` (all of it without
/// one) is the version; the rest is the name.
fn split_dir_name(dir: &str) -> (&str, &str) {
    dir.split_once('_').unwrap_or((dir, ""))
}

/// The files of a new migration in the directory-per-migration layout.
pub(crate) fn dir_template(version: &str, name: &str) -> Vec<(String, String)> {
    vec![
        (
            format!("{version}_{name}/up.sql"),
            format!("-- {name}: apply\n"),
        ),
        (
            format!("{version}_{name}/down.sql"),
            format!("-- {name}: revert exactly what up.sql did\n"),
        ),
    ]
}

/// Reads one migration directory.
fn migration(dir: &Entry, warnings: &mut Vec<String>) -> Result<Migration, InputError> {
    let (version, name) = split_dir_name(&dir.rel);
    let metadata_path = dir.path.join("metadata.toml");
    let transaction = if metadata_path.is_file() {
        match read_text(&metadata_path).and_then(|text| parse_metadata(&metadata_path, &text)) {
            Ok(transaction) => transaction,
            // diesel reads it with `unwrap_or_default()`: one it cannot read is no metadata.
            Err(error) => {
                warnings.push(format!(
                    "{error}; diesel ignores a metadata.toml it cannot read and runs the \
                     migration in a transaction, and so does this verification"
                ));
                TransactionMode::Wrapped
            }
        }
    } else {
        TransactionMode::Wrapped
    };
    read_dir_migration(dir, version_of(version), name, transaction)
}

/// The migration of a directory holding `up.sql` and optionally `down.sql`, both run with
/// `transaction`; a directory without `up.sql` is an error naming it.
fn read_dir_migration(
    dir: &Entry,
    version: Version,
    name: &str,
    transaction: TransactionMode,
) -> Result<Migration, InputError> {
    let up_path = dir.path.join("up.sql");
    if !up_path.is_file() {
        return Err(InputError::new(
            &dir.path,
            "migration directory has no up.sql: diesel reads every directory here as a \
             migration and fails on this one; add its up.sql, or move it out of the \
             migrations directory",
        ));
    }
    let up = read_text(&up_path)?.whole_script(&up_path, transaction);
    let down_path: PathBuf = dir.path.join("down.sql");
    let down = if down_path.is_file() {
        Some(read_text(&down_path)?.whole_script(&down_path, transaction))
    } else {
        None
    };
    Ok(Migration {
        version,
        name: name.to_string(),
        up,
        down,
    })
}

/// Reads `run_in_transaction` from a `metadata.toml`, reporting a malformed file at its line.
fn parse_metadata(path: &Path, text: &Text) -> Result<TransactionMode, InputError> {
    match toml::from_str::<Metadata>(&text.sql) {
        Ok(Metadata {
            run_in_transaction: true,
        }) => Ok(TransactionMode::Wrapped),
        Ok(Metadata {
            run_in_transaction: false,
        }) => Ok(TransactionMode::None),
        Err(e) => Err(InputError {
            path: path.to_path_buf(),
            line: e.span().map(|span| line_of_byte(&text.sql, span.start)),
            message: format!("invalid metadata.toml: {}", e.message().trim()),
        }),
    }
}

// diesel's `__diesel_schema_migrations`: the version without its dashes (diesel's
// `version_from_string`) and when it ran; no checksum, no lock.

/// diesel's history table.
pub const TABLE: &str = "__diesel_schema_migrations";

/// What diesel records for a directory's version: `2024-01-02-030405` as `20240102030405`.
fn recorded_version(migration: &Migration) -> String {
    migration.version.text.replace('-', "")
}

impl Bookkeeping for Diesel {
    fn tool(&self) -> &'static str {
        "diesel"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn columns(&self) -> &'static [&'static str] {
        &["version", "run_on"]
    }

    fn create_sql(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (
            version VARCHAR(50) PRIMARY KEY NOT NULL,
            run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
        );"
        )
    }

    fn read_sql(&self) -> String {
        format!(
            "SELECT version::text, NULL::text, NULL::text, run_on::text,
                NULL::bigint, NULL::text, true
         FROM {TABLE} ORDER BY version"
        )
    }

    fn recorded_version(&self, migration: &Migration) -> String {
        recorded_version(migration)
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let version = literal(&recorded_version(&migrations[index]));
        record(&if up {
            format!("INSERT INTO {TABLE} (version) VALUES ({version});")
        } else {
            format!("DELETE FROM {TABLE} WHERE version = {version};")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::discover;
    use super::super::test_util::{tempdir, write};
    use super::*;

    #[test]
    fn ordered_as_strings_without_dashes() {
        let t = tempdir();
        write(
            t.path(),
            "2024-01-02-030405_users/up.sql",
            "create table users();",
        );
        write(
            t.path(),
            "2024-01-02-030405_users/down.sql",
            "drop table users;",
        );
        write(
            t.path(),
            "00000000000000_diesel_initial_setup/up.sql",
            "select 0;",
        );
        write(
            t.path(),
            "00000000000000_diesel_initial_setup/down.sql",
            "select 0;",
        );
        // As a string "20231231235959" sorts before "20240102030405".
        write(
            t.path(),
            "20231231235959_posts/up.sql",
            "create table posts();",
        );
        write(t.path(), "3_small/up.sql", "select 3;");
        write(t.path(), "README.md", "ignored");
        write(t.path(), "notes.txt", "ignored");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        let got: Vec<(&str, &str)> = d
            .migrations
            .iter()
            .map(|m| (m.version.text.as_str(), m.name.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("00000000000000", "diesel_initial_setup"),
                ("20231231235959", "posts"),
                ("2024-01-02-030405", "users"),
                ("3", "small"),
            ]
        );
        let users = &d.migrations[2];
        let dir = t.path().join("2024-01-02-030405_users");
        assert_eq!(users.up.path, dir.join("up.sql"));
        assert_eq!(users.up.sql, "create table users();");
        assert_eq!(users.up.transaction, TransactionMode::Wrapped);
        assert_eq!(users.down.as_ref().unwrap().path, dir.join("down.sql"));
        assert_eq!(users.files(), [dir.join("up.sql"), dir.join("down.sql")]);
        assert_eq!(d.migrations[1].down, None);
    }

    #[test]
    fn metadata_run_in_transaction() {
        let t = tempdir();
        write(t.path(), "1_a/up.sql", "select 1;");
        write(t.path(), "1_a/down.sql", "select 1;");
        write(
            t.path(),
            "1_a/metadata.toml",
            "run_in_transaction = false\n",
        );
        write(t.path(), "2_b/up.sql", "select 2;");
        write(t.path(), "2_b/metadata.toml", "run_in_transaction = true\n");
        write(t.path(), "3_c/up.sql", "select 3;");
        write(t.path(), "3_c/metadata.toml", "# nothing\nother = 1\n");
        let d = discover(t.path(), None).unwrap();
        let modes: Vec<TransactionMode> = d.migrations.iter().map(|m| m.up.transaction).collect();
        assert_eq!(
            modes,
            [
                TransactionMode::None,
                TransactionMode::Wrapped,
                // diesel's derived default: a file without the key is false.
                TransactionMode::None
            ]
        );
        assert_eq!(
            d.migrations[0].down.as_ref().unwrap().transaction,
            TransactionMode::None
        );
    }

    #[test]
    fn malformed_metadata_names_line() {
        let t = tempdir();
        write(t.path(), "1_a/up.sql", "select 1;");
        let meta = write(
            t.path(),
            "1_a/metadata.toml",
            "# c\n\nrun_in_transaction = = false\n",
        );
        // diesel reads an unreadable metadata.toml as none: in a transaction, with a warning.
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.migrations[0].up.transaction, TransactionMode::Wrapped);
        let warning = &d.detection.warnings[0];
        assert!(
            warning.starts_with(&format!("{}:3: invalid metadata.toml", meta.display())),
            "{warning}"
        );
    }

    #[test]
    fn metadata_wrong_type_names_line() {
        let t = tempdir();
        write(t.path(), "1_a/up.sql", "select 1;");
        let meta = write(
            t.path(),
            "1_a/metadata.toml",
            "\r\nrun_in_transaction = \"no\"\r\n",
        );
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        assert_eq!(d.migrations[0].up.transaction, TransactionMode::Wrapped);
        assert!(d.detection.warnings[0].starts_with(&format!("{}:2:", meta.display())));
    }

    #[test]
    fn metadata_not_utf8() {
        let t = tempdir();
        write(t.path(), "1_a/up.sql", "select 1;");
        let meta = write(t.path(), "1_a/metadata.toml", b"\xc3");
        let d = discover(t.path(), None).unwrap();
        assert!(d.detection.warnings[0].starts_with(&format!("{}:1:", meta.display())));
    }

    #[test]
    fn directory_without_up_sql() {
        let t = tempdir();
        write(t.path(), "1_a/up.sql", "select 1;");
        write(t.path(), "2_b/down.sql", "select 2;");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, t.path().join("2_b"));
        assert_eq!(err.line, None);
        assert!(err.message.contains("no up.sql"));
    }

    /// diesel takes every non-empty directory, its whole name as the version without a `_`;
    /// top-level files and empty directories are skipped.
    #[test]
    fn any_directory_is_a_migration_and_files_are_skipped() {
        let t = tempdir();
        write(t.path(), "1_a/up.sql", "select 1;");
        write(
            t.path(),
            "2023-05-23-1715-update-assignment/up.sql",
            "select 1;",
        );
        let data = write(t.path(), "data_oauth_github.sql", "select 1;");
        std::fs::create_dir(t.path().join("empty")).unwrap();
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format(), FORMAT);
        let versions: Vec<&str> = d
            .migrations
            .iter()
            .map(|m| m.version.text.as_str())
            .collect();
        assert_eq!(versions, ["1", "2023-05-23-1715-update-assignment"]);
        assert_eq!(d.migrations[1].name, "");
        assert_eq!(d.ignored, [data]);
    }

    #[test]
    fn duplicate_versions_name_both() {
        let t = tempdir();
        let a = write(t.path(), "2024-01-01_a/up.sql", "select 1;");
        write(t.path(), "20240101_b/up.sql", "select 1;");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, t.path().join("20240101_b"));
        assert!(err.message.contains("duplicate version 20240101"));
        assert!(
            err.message
                .contains(&a.parent().unwrap().display().to_string())
        );
    }

    #[test]
    fn bom_and_crlf_in_scripts() {
        let t = tempdir();
        write(t.path(), "1_a/up.sql", "\u{feff}select 1;\r\nselect 2;\r\n");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.migrations[0].up.sql, "select 1;\r\nselect 2;\r\n");
        assert_eq!(d.migrations[0].up.byte_offset, 3);
        assert_eq!(d.migrations[0].up.line_offset, 0);
    }

    #[test]
    fn non_utf8_up_sql() {
        let t = tempdir();
        let up = write(t.path(), "1_a/up.sql", b"select 1;\nselect 2;\n\x80\n");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, up);
        assert_eq!(err.line, Some(3));
        assert_eq!(err.message, "not valid UTF-8");
    }
}
