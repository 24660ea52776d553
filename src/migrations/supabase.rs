//! The Supabase CLI layout: `supabase/migrations/<timestamp>_<name>.sql`, up only, read as the
//! CLI reads it (supabase/cli, `apps/cli-go/pkg/migration`):
//! - `file.go`: ``migrateFilePattern = regexp.MustCompile(`^([0-9]+)_(.*)\.sql$`)``; the
//!   version is the digit string, kept as text (zero padding and all), the name what follows
//!   the `_` without `.sql` (a `1_a.up.sql` is migration `1` named `a.up`).
//! - `list.go` `ListLocalMigrations`: `fs.ReadDir` (file name order), directories skipped,
//!   `"Skipping migration %s... (file name must match pattern \"<timestamp>_name.sql\")"` for
//!   the rest (listed as ignored here), and the first entry skipped when `shouldSkip` says
//!   so: a name with `([0-9]{14})_init\.sql` whose timestamp is below 20211209000000 ("replace
//!   \"init\" with a different file name to apply this migration"; a warning here). The first
//!   entry is the first of the listing, which leaves hidden files out: one that sorts before
//!   the init file keeps the CLI from skipping it.
//! - Two files of one version: the CLI applies the first and fails on the second's history
//!   insert (`version text NOT NULL PRIMARY KEY`); refused here.
//! - `file.go` `ExecBatch`: the file is split into statements (`parser.SplitAndTrim`), each
//!   queued as `batch.ExecParams(line, …)`, the history insert queued after them, and the
//!   whole sent as one pipelined batch ("ExecBatch is implicitly transactional": one Sync,
//!   so PostgreSQL runs it as one implicit transaction); there is no marker to opt out.
//!
//! The transaction rule is [`TransactionMode::StatementsInTransaction`] rather than
//! [`TransactionMode::Wrapped`]: the two differ only for a file holding its own transaction
//! control, and there the CLI still sends every statement in its one batch, where a `BEGIN`
//! only turns the batch's implicit transaction into an explicit one (the statements before
//! it included) and a `COMMIT` ends it, the history insert then committing on its own. That
//! is what sending every statement inside the tool's transaction does; `Wrapped` would run
//! such a file statement by statement in autocommit instead. A file of one statement is still
//! a batch of two (with the insert), so a `CREATE INDEX CONCURRENTLY` fails under the CLI as
//! it fails here (supabase/cli#2898: "CREATE INDEX CONCURRENTLY cannot be executed within a
//! pipeline (SQLSTATE 25001)").
//!
//! That is the CLI up to v2.108 (the facts above are v2.104.0's). Later CLIs (supabase/cli
//! #5671, v2.109.0; the Go port's `isPipelineIncompatible` in `pkg/migration/file.go`) flush
//! the batch before a statement PostgreSQL refuses in a transaction (`CREATE [UNIQUE] INDEX
//! CONCURRENTLY`, `REINDEX … CONCURRENTLY`, `VACUUM`, `ALTER SYSTEM`, `CLUSTER`), run it on
//! its own and go on in a new batch, so such a file runs as several transactions. The
//! current CLI is the one teams run: a file holding such a statement is run here statement
//! by statement ([`TransactionMode::None`]), the statement alone, which gives the schema the
//! CLI gives (the batches' atomicity on a failure aside).
//!
//! Bookkeeping (`history.go`): `supabase_migrations.schema_migrations`, created as the CLI
//! creates it (`version text NOT NULL PRIMARY KEY`, then `statements text[]` and `name text`
//! by `ADD COLUMN IF NOT EXISTS`), a row `(version, name, statements)` per applied file,
//! `statements` being the file's statements as `SplitAndTrim` returns them (each with the
//! comments before it, its trailing `;` and surrounding white space trimmed, empty ones
//! dropped; NULL for a file without any), and `DELETE … WHERE version = ANY(…)` to forget
//! one. The CLI takes no advisory lock and compares nothing it recorded with the files.

use std::collections::BTreeMap;
use std::path::Path;

use super::bookkeeping::{Book, Bookkeeping, literal, record};
use super::lexer::{has_word, leading_words, split_statements};
use super::{
    Entry, Evidence, Format, FormatSpec, Found, Listing, Migration, Settings, Strength,
    TransactionMode, Version, duplicate_version, split_version,
};
use crate::error::InputError;

/// The Supabase CLI format.
pub const FORMAT: Format = Format::new(&Supabase);

/// The Supabase CLI (`supabase db push`, `supabase migration up`).
pub struct Supabase;

/// Where the CLI keeps its migrations (`utils.MigrationsDir`).
const DIR: &str = "supabase/migrations";

impl FormatSpec for Supabase {
    fn server_advice(&self) -> Option<&'static str> {
        Some(
            "Supabase migrations often expect what Supabase's own PostgreSQL has and a plain \
             one lacks: the roles anon, authenticated and service_role, the auth and storage \
             schemas, extensions such as pg_net, http and vector. Verify them where they \
             exist: the Docker backend with --image naming the supabase/postgres image your \
             project runs, or --postgres URL of a database `supabase start` made",
        )
    }

    fn name(&self) -> &'static str {
        "supabase"
    }

    fn layout(&self) -> &'static str {
        "Supabase CLI `supabase/migrations/<timestamp>_<name>.sql` files"
    }

    fn default_dirs(&self) -> &'static [&'static str] {
        &[DIR]
    }

    /// Its names are sqlx's simple files too: a directory at `…/supabase/migrations` is the
    /// CLI's, anywhere else the project (`supabase/config.toml`) tells them apart. Up/down
    /// pairs are no evidence: the CLI would read each version twice and fail.
    fn recognise(
        &self,
        listing: &Listing,
        _settings: &Settings,
    ) -> Result<Option<Evidence>, InputError> {
        let read: Vec<&Entry> = listing
            .top_files()
            .filter(|e| parse_name(&e.rel).is_some())
            .filter(|e| !e.rel.ends_with(".up.sql") && !e.rel.ends_with(".down.sql"))
            .collect();
        let Some(first) = read.first() else {
            return Ok(None);
        };
        let evidence = if is_supabase_dir(&listing.dir) {
            Evidence::file(&listing.dir, Strength::Marker)
        } else {
            Evidence::entry(first, Strength::Naming)
        };
        Ok(Some(evidence.supported_by(read.len())))
    }

    fn discover(&self, listing: &Listing, _settings: &Settings) -> Result<Found, InputError> {
        discover(listing)
    }

    fn is_migration_path(&self, rel: &str, _settings: &Settings) -> bool {
        parse_name(rel).is_some()
    }

    fn version_of_path(&self, rel: &str, _settings: &Settings) -> Option<Version> {
        parse_name(rel).map(|(version, _)| Version::textual(version, rel))
    }

    fn transaction_rule(&self) -> &'static str {
        "each file in one transaction with its history insert (one batch; no opt-out)"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        None
    }

    fn bookkeeping(&self) -> Option<Book> {
        Some(&Supabase)
    }

    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        vec![(format!("{version}_{name}.sql"), format!("-- {name}\n"))]
    }
}

/// Whether `dir` is a `…/supabase/migrations` directory.
fn is_supabase_dir(dir: &Path) -> bool {
    std::path::absolute(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .ends_with(DIR)
}

/// A top-level file name as the CLI's `^([0-9]+)_(.*)\.sql$` reads it: version and name.
fn parse_name(rel: &str) -> Option<(&str, &str)> {
    if rel.contains('/') {
        return None;
    }
    let (version, rest) = split_version(rel)?;
    Some((version, rest.strip_suffix(".sql")?))
}

/// The CLI's `shouldSkip`: `([0-9]{14})_init\.sql` anywhere in the name, with a timestamp
/// before 20211209000000 (the init file of CLI versions before then).
fn is_legacy_init(name: &str) -> bool {
    name.match_indices("_init.sql")
        .find_map(|(at, _)| {
            let digits = name.get(at.checked_sub(14)?..at)?;
            digits.bytes().all(|b| b.is_ascii_digit()).then_some(digits)
        })
        .is_some_and(|timestamp| timestamp < "20211209000000")
}

/// The migrations of a Supabase directory, as the CLI lists them. Not yet sorted.
fn discover(listing: &Listing) -> Result<Found, InputError> {
    let mut found = Found::default();
    let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
    for (index, entry) in listing.top_entries().enumerate() {
        if !entry.is_dir && index == 0 && is_legacy_init(&entry.rel) {
            found.warnings.push(format!(
                "{}: the Supabase CLI skips a first migration named `<timestamp>_init.sql` \
                 from before 2021-12-09 (replace \"init\" with a different file name to apply \
                 this migration)",
                entry.path.display()
            ));
            found.ignored.push(entry.path.clone());
            continue;
        }
        let Some((version, name)) = (!entry.is_dir).then(|| parse_name(&entry.rel)).flatten()
        else {
            found.ignored.push(entry.path.clone());
            continue;
        };
        if let Some(other) = seen.insert(version, &entry.path) {
            return Err(duplicate_version(
                &entry.path,
                version,
                other,
                "the Supabase CLI would apply the first and fail on its history table's primary \
                 key",
            ));
        }
        let text = entry.text()?;
        let mode = if pipeline_incompatible(&text.sql) {
            TransactionMode::None
        } else {
            TransactionMode::StatementsInTransaction
        };
        let up = text.whole_script(&entry.path, mode);
        found.migrations.push(Migration {
            version: Version::textual(version, &entry.rel),
            name: name.to_string(),
            up,
            down: None,
        });
    }
    Ok(found)
}

/// The statements of `sql` as the CLI's `parser.SplitAndTrim` records them: each piece up to
/// its `;` (comments before it included), the `;` trimmed, then white space; empty ones left
/// out.
fn statements(sql: &str) -> Vec<&str> {
    split_statements(sql)
        .into_iter()
        .map(|s| sql[s.full].trim_end_matches(';').trim())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The CLI's history table.
pub const TABLE: &str = "supabase_migrations.schema_migrations";

impl Bookkeeping for Supabase {
    fn tool(&self) -> &'static str {
        "supabase"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn columns(&self) -> &'static [&'static str] {
        &["version", "statements", "name"]
    }

    fn create_sql(&self) -> String {
        format!(
            "CREATE SCHEMA IF NOT EXISTS supabase_migrations;
         CREATE TABLE IF NOT EXISTS {TABLE} (version text NOT NULL PRIMARY KEY);
         ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS statements text[];
         ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS name text;"
        )
    }

    fn read_sql(&self) -> String {
        format!(
            "SELECT version, name, NULL::text, NULL::text, NULL::bigint, NULL::text, true
         FROM {TABLE} ORDER BY version"
        )
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let migration = &migrations[index];
        let version = literal(&migration.version.text);
        record(&if up {
            let statements = statements(&migration.up.sql);
            // The CLI's statements are a Go nil slice for a file without any: NULL.
            let array = if statements.is_empty() {
                "NULL".to_string()
            } else {
                let items: Vec<String> = statements.iter().map(|s| literal(s)).collect();
                format!("ARRAY[{}]::text[]", items.join(", "))
            };
            format!(
                "INSERT INTO {TABLE}(version, name, statements) VALUES ({version}, {}, {array});",
                literal(&migration.name)
            )
        } else {
            format!("DELETE FROM {TABLE} WHERE version = ANY(ARRAY[{version}]);")
        })
    }
}

/// Whether a file holds a statement the current CLI runs outside its batch
/// (`isPipelineIncompatible`: `CREATE [UNIQUE] INDEX CONCURRENTLY`, `REINDEX … CONCURRENTLY`,
/// `VACUUM`, `ALTER SYSTEM`, `CLUSTER`).
fn pipeline_incompatible(sql: &str) -> bool {
    split_statements(sql)
        .iter()
        .filter(|statement| !statement.is_empty())
        .any(|statement| {
            let code = &sql[statement.code.clone()];
            let words = leading_words(code, 2);
            let word = |i: usize| words.get(i).map_or("", String::as_str);
            matches!(word(0), "vacuum" | "cluster")
                || (word(0) == "alter" && word(1) == "system")
                || (matches!(word(0), "create" | "reindex" | "drop")
                    && has_word(code, "concurrently"))
        })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{discover, tempdir, versions, write};
    use super::super::{detect, sqlx};
    use super::*;

    /// The CLI's regex: any text after the `_`, the version as written, file-name order;
    /// everything else is skipped and listed.
    #[test]
    fn names_versions_and_file_name_order() {
        let t = tempdir();
        write(t.path(), "20240102000000_b.sql", "select 2;");
        write(t.path(), "0001_padded.sql", "select 0;");
        write(t.path(), "20240101000000_create users.up.sql", "select 1;");
        let readme = write(t.path(), "README.md", "notes");
        let no_sep = write(t.path(), "20240103000000.sql", "select 3;");
        let upper = write(t.path(), "20240104000000_x.SQL", "select 4;");
        let nested = write(t.path(), "archive/20230101000000_old.sql", "select 5;");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        assert_eq!(versions(&d), ["0001", "20240101000000", "20240102000000"]);
        assert_eq!(d.migrations[1].name, "create users.up");
        assert!(d.migrations.iter().all(|m| m.down.is_none()));
        assert_eq!(
            d.migrations[0].up.transaction,
            TransactionMode::StatementsInTransaction
        );
        let archive = nested.parent().unwrap().to_path_buf();
        let mut ignored = d.ignored.clone();
        ignored.sort();
        let mut expected = vec![readme, no_sep, upper, archive];
        expected.sort();
        assert_eq!(ignored, expected);
        // File-name order, as `fs.ReadDir` lists them: `10_` before `1_` (`0` < `_`).
        let t = tempdir();
        write(t.path(), "1_a.sql", "select 1;");
        write(t.path(), "10_b.sql", "select 2;");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        assert_eq!(versions(&d), ["10", "1"]);
        assert_eq!(
            FORMAT.version_of_path("1_a.sql", &Settings::default()),
            Some(Version::textual("1", "1_a.sql"))
        );
        assert!(!FORMAT.is_migration_path("x/1_a.sql", &Settings::default()));
    }

    #[test]
    fn two_files_of_one_version_are_refused() {
        let t = tempdir();
        let a = write(t.path(), "20240101000000_a.sql", "select 1;");
        let b = write(t.path(), "20240101000000_b.sql", "select 2;");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert_eq!(err.path, b);
        assert!(err.message.contains("duplicate version 20240101000000"));
        assert!(err.message.contains(&a.display().to_string()), "{err}");
        // Zero padding is part of the version: `01` and `1` are two.
        let t = tempdir();
        write(t.path(), "01_a.sql", "select 1;");
        write(t.path(), "1_b.sql", "select 2;");
        assert_eq!(
            discover(t.path(), Some(FORMAT)).unwrap().migrations.len(),
            2
        );
    }

    /// `shouldSkip`: only the first entry, only before 2021-12-09.
    #[test]
    fn a_legacy_init_file_first_is_skipped_with_a_warning() {
        assert!(is_legacy_init("20211208000000_init.sql"));
        assert!(is_legacy_init("020211208000000_init.sql"));
        assert!(!is_legacy_init("20211209000000_init.sql"));
        assert!(!is_legacy_init("2021120800000_init.sql"));
        assert!(!is_legacy_init("20211208000000_initial.sql"));
        let t = tempdir();
        let init = write(t.path(), "20211208000000_init.sql", "create table a();");
        write(t.path(), "20211210000000_b.sql", "select 1;");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        assert_eq!(versions(&d), ["20211210000000"]);
        assert_eq!(d.ignored, [init]);
        assert_eq!(d.detection.warnings.len(), 1);
        assert!(d.detection.warnings[0].contains("replace \"init\""));
        // Not the first entry: applied like any other.
        write(t.path(), "00000000000000_first.sql", "select 0;");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        assert_eq!(d.migrations.len(), 3);
        assert!(d.ignored.is_empty());
    }

    /// sqlx reads the same names: the directory `…/supabase/migrations` or the project's
    /// `supabase/config.toml` decides.
    #[test]
    fn detected_by_its_directory_or_its_config() {
        let t = tempdir();
        let dir = t.path().join("supabase/migrations");
        write(&dir, "20240101000000_a.sql", "create table a();");
        let d = discover(&dir, None).unwrap();
        assert_eq!(d.format(), FORMAT);
        assert_eq!(d.detection.basis, detect::Basis::Directory);

        let t = tempdir();
        std::fs::create_dir(t.path().join(".git")).unwrap();
        let dir = t.path().join("db");
        write(&dir, "20240101000000_a.sql", "create table a();");
        assert_eq!(discover(&dir, None).unwrap().format(), sqlx::FORMAT);
        write(t.path(), "supabase/config.toml", "project_id = \"x\"\n");
        let dir = t.path().join("supabase/db");
        write(&dir, "20240101000000_a.sql", "create table a();");
        let d = discover(&dir, None).unwrap();
        assert_eq!(d.format(), FORMAT);
        assert_eq!(d.detection.basis, detect::Basis::Project);
    }

    #[test]
    fn statements_as_split_and_trim_returns_them() {
        let sql = "-- users\ncreate table users (id int);\n\n\
                   create function f() returns int language sql as $$ select 1; $$;;\n\
                   insert into users values (1)\n-- trailing\n";
        assert_eq!(
            statements(sql),
            [
                "-- users\ncreate table users (id int)",
                "create function f() returns int language sql as $$ select 1; $$",
                "insert into users values (1)\n-- trailing",
            ]
        );
        assert!(statements("  \n").is_empty());
    }

    #[test]
    fn bookkeeping_as_the_cli_writes_it() {
        let t = tempdir();
        write(
            t.path(),
            "20240101000000_it's.sql",
            "create table a (id int);\nselect 'x;y';\n",
        );
        write(t.path(), "20240102000000_comment.sql", "-- nothing\n");
        write(t.path(), "20240103000000_empty.sql", " \n");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        assert_eq!(
            Supabase.record_sql(&d.migrations, 0, true),
            "SET standard_conforming_strings = on;\n\
             INSERT INTO supabase_migrations.schema_migrations(version, name, statements) \
             VALUES ('20240101000000', 'it''s', \
             ARRAY['create table a (id int)', 'select ''x;y''']::text[]);"
        );
        assert!(
            Supabase
                .record_sql(&d.migrations, 1, true)
                .ends_with("VALUES ('20240102000000', 'comment', ARRAY['-- nothing']::text[]);")
        );
        assert!(
            Supabase
                .record_sql(&d.migrations, 2, true)
                .ends_with("VALUES ('20240103000000', 'empty', NULL);")
        );
        assert!(
            Supabase
                .record_sql(&d.migrations, 0, false)
                .ends_with("WHERE version = ANY(ARRAY['20240101000000']);")
        );
        let create = Supabase.create_sql();
        for part in [
            "CREATE SCHEMA IF NOT EXISTS supabase_migrations;",
            "(version text NOT NULL PRIMARY KEY);",
            "ADD COLUMN IF NOT EXISTS statements text[];",
            "ADD COLUMN IF NOT EXISTS name text;",
        ] {
            assert!(create.contains(part), "{create}");
        }
        assert_eq!(FORMAT.history_table(), Some(TABLE));
        assert_eq!(
            FORMAT.template("20240101000000", "init"),
            [(
                "20240101000000_init.sql".to_string(),
                "-- init\n".to_string()
            )]
        );
    }
}
