//! The drizzle-kit layout: `<tag>.sql` files in the order `meta/_journal.json` lists them,
//! up only, each split into the parts drizzle sends at its `--> statement-breakpoint` lines,
//! run by drizzle-orm's migrator (what `drizzle-kit migrate` and `migrate(db, …)` run).
//!
//! Facts from drizzle-orm's source (github.com/drizzle-team/drizzle-orm, `main`, 0.45):
//! - `drizzle-orm/src/migrator.ts` `readMigrationFiles`: `const journalPath =
//!   `${migrationFolderTo}/meta/_journal.json`` (missing: `Can't find meta/_journal.json
//!   file`), `JSON.parse(journalAsString) as { entries: { idx: number; when: number; tag:
//!   string; breakpoints: boolean }[] }`, then `for (const journalEntry of journal.entries)`:
//!   the entries in array order; `idx` and `breakpoints` are read and never used, a file the
//!   journal does not list is never read (listed as ignored here), a listed one that is missing
//!   fails with `No file ${migrationPath} found in ${migrationFolderTo} folder`.
//! - The same loop: `query.split('--> statement-breakpoint')`, whatever `breakpoints` says,
//!   and `hash: crypto.createHash('sha256').update(query).digest('hex')` over the file's whole
//!   text, `folderMillis: journalEntry.when`. The text is sent as read, so a byte order mark
//!   reaches PostgreSQL, which fails on it (refused here). Discovery keeps the file as one
//!   script in which a breakpoint is a comment, refuses a breakpoint inside a statement
//!   (drizzle would send the statement cut in two) and ends a part that has no `;` of its
//!   own, as drizzle sends each part alone. drizzle-kit's `migrate` runs this migrator
//!   (`drizzle-kit/src/cli/connections.ts`: `import('drizzle-orm/node-postgres/migrator')`).
//! - `drizzle-orm/src/pg-core/dialect.ts` `migrate`: `CREATE SCHEMA IF NOT EXISTS "drizzle"`,
//!   `CREATE TABLE IF NOT EXISTS "drizzle"."__drizzle_migrations" (id SERIAL PRIMARY KEY, hash
//!   text NOT NULL, created_at bigint)`, `select id, hash, created_at from … order by created_at
//!   desc limit 1`, then `await session.transaction(async (tx) => { for (const migration of
//!   migrations) { if (!lastDbMigration || Number(lastDbMigration.created_at) <
//!   migration.folderMillis) { for (const stmt of migration.sql) { await
//!   tx.execute(sql.raw(stmt)); } await tx.execute(sql`insert into … ("hash", "created_at")
//!   values(${migration.hash}, ${migration.folderMillis})`); } } })`. So a migration is applied
//!   when its journal `when` is not after the last row's `created_at`: the hash is written,
//!   never compared, and an entry whose `when` is older than an applied one's is skipped for
//!   good (a warning at discovery, "applied" in `migrate status`, as drizzle decides).
//! - All pending migrations run in that one transaction, with no way out of it. migration-check
//!   verifies one migration at a time, so each script is wrapped in a transaction of its own,
//!   its parts sent inside it as drizzle sends them (a `COMMIT` in one ends drizzle's
//!   transaction early, as it would end drizzle's).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::annotated::{is_complete, missing_terminator};
use super::bookkeeping::{Applied, Book, Bookkeeping, literal, record, up_sha256};
use super::sqlx::is_top_level_sql;
use super::{
    Entry, Evidence, Format, FormatSpec, Found, KeyPart, Listing, Migration, Script, Settings,
    Strength, Text, TransactionMode, Version, line_of_byte, read_text, split_version,
};
use crate::error::InputError;

/// The drizzle format.
pub const FORMAT: Format = Format::new(&Drizzle);

/// drizzle-kit's migrations, run by drizzle-orm's migrator.
pub struct Drizzle;

/// The journal that lists the migrations, relative to the migrations directory.
pub const JOURNAL: &str = "meta/_journal.json";

/// Where drizzle splits a file into the parts it sends one by one.
pub const BREAKPOINT: &str = "--> statement-breakpoint";

/// `meta/_journal.json` as the migrator reads it; other keys (`version`, `dialect`, an
/// entry's `idx` and `breakpoints`) are not used.
#[derive(Debug, Clone, serde::Deserialize)]
struct Journal {
    entries: Vec<JournalEntry>,
}

/// One journal entry: the file `<tag>.sql` and its `when` (milliseconds), which drizzle
/// records as `created_at`.
#[derive(Debug, Clone, serde::Deserialize)]
struct JournalEntry {
    when: i64,
    tag: String,
}

/// Parses a journal; an error names it, at serde's line where there is one.
fn parse_journal(path: &Path, text: &str) -> Result<Journal, InputError> {
    serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        let reason = full
            .strip_suffix(&format!(" at line {} column {}", e.line(), e.column()))
            .unwrap_or(&full);
        let message = format!("malformed drizzle journal, which drizzle cannot run: {reason}");
        match e.line() {
            0 => InputError::new(path, message),
            line => InputError::at_line(path, line, message),
        }
    })
}

/// The line of a journal where an entry's tag is written, if it can be found.
fn tag_line(journal: &str, tag: &str) -> Option<usize> {
    let quoted = serde_json::to_string(tag).ok()?;
    journal.find(&quoted).map(|at| line_of_byte(journal, at))
}

impl FormatSpec for Drizzle {
    fn name(&self) -> &'static str {
        "drizzle"
    }

    fn layout(&self) -> &'static str {
        "drizzle-kit `<tag>.sql` files listed in `meta/_journal.json`"
    }

    fn depth(&self) -> usize {
        2
    }

    /// drizzle-kit's default `out` folder.
    fn default_dirs(&self) -> &'static [&'static str] {
        &["drizzle"]
    }

    /// The journal, when it lists migrations (or cannot be read: discovery says why).
    fn recognise(
        &self,
        listing: &Listing,
        _settings: &Settings,
    ) -> Result<Option<Evidence>, InputError> {
        let Some(journal) = listing.get(JOURNAL).filter(|e| !e.is_dir) else {
            return Ok(None);
        };
        let evidence = Evidence::entry(journal, Strength::Marker);
        let parsed = journal
            .text()
            .ok()
            .and_then(|text| parse_journal(&journal.path, &text.sql).ok());
        Ok(match parsed {
            None => Some(evidence),
            Some(parsed) if parsed.entries.is_empty() => None,
            Some(parsed) => {
                let listed = parsed
                    .entries
                    .iter()
                    .filter(|e| listing.get(&format!("{}.sql", e.tag)).is_some())
                    .count();
                Some(evidence.supported_by(listed.max(1)))
            }
        })
    }

    fn discover(&self, listing: &Listing, _settings: &Settings) -> Result<Found, InputError> {
        discover(listing)
    }

    fn is_migration_path(&self, rel: &str, _settings: &Settings) -> bool {
        is_top_level_sql(rel)
    }

    /// The tag, as discovery names the migration (its order is the journal's, which a path
    /// alone does not give: tags sort as drizzle-kit's prefixes are generated).
    fn version_of_path(&self, rel: &str, _settings: &Settings) -> Option<Version> {
        let tag = rel.strip_suffix(".sql").filter(|_| is_top_level_sql(rel))?;
        Some(Version::textual(tag, tag))
    }

    fn transaction_rule(&self) -> &'static str {
        "all pending migrations in one transaction, each file's `--> statement-breakpoint` \
         parts sent in turn (verified one migration at a time, each in a transaction of its own)"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        None
    }

    fn bookkeeping(&self) -> Option<Book> {
        Some(&Drizzle)
    }

    /// drizzle runs only the files its journal lists, which drizzle-kit writes: the file
    /// says so.
    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        vec![(
            format!("{version}_{name}.sql"),
            format!(
                "-- drizzle runs only the files meta/_journal.json lists: `drizzle-kit generate \
                 --custom --name={name}` writes an empty migration and its journal entry\n"
            ),
        )]
    }
}

/// A migration's name: its tag without drizzle-kit's numeric prefix.
fn name_of(tag: &str) -> &str {
    split_version(tag).map_or(tag, |(_, rest)| rest)
}

/// The migrations of a drizzle folder, in the journal's order.
fn discover(listing: &Listing) -> Result<Found, InputError> {
    let Some(journal) = listing.get(JOURNAL).filter(|e| !e.is_dir) else {
        return Err(InputError::new(
            listing.dir.join(JOURNAL),
            "not found: drizzle's migrator refuses a migrations folder without it (`Can't \
             find meta/_journal.json file`); `drizzle-kit generate` writes it",
        ));
    };
    let text = &journal.text()?.sql;
    let entries = parse_journal(&journal.path, text)?.entries;
    let mut found = Found::default();
    let mut listed: Vec<String> = Vec::new();
    let mut latest: Option<&JournalEntry> = None;
    for (position, entry) in entries.iter().enumerate() {
        let line = tag_line(text, &entry.tag);
        let at = |message: String| match line {
            Some(line) => InputError::at_line(&journal.path, line, message),
            None => InputError::new(&journal.path, message),
        };
        let rel = format!("{}.sql", entry.tag);
        if listed.contains(&rel) {
            return Err(at(format!(
                "`{}` is listed twice: drizzle would run {rel} twice; remove one of the entries",
                entry.tag
            )));
        }
        let Some(file) = listing.get(&rel).filter(|e| !e.is_dir) else {
            return Err(at(format!(
                "journal entry `{}`: {} not found (drizzle fails: `No file … found`); restore \
                 the file or remove the entry",
                entry.tag,
                listing.dir.join(&rel).display()
            )));
        };
        if let Some(before) = latest.filter(|before| entry.when <= before.when) {
            found.warnings.push(format!(
                "{}:{}: `{}` has `when` {}, not after `{}`'s {}: drizzle runs it only together \
                 with `{}`; on a database where that one is applied, drizzle skips it for good",
                journal.path.display(),
                line.unwrap_or(1),
                entry.tag,
                entry.when,
                before.tag,
                before.when,
                before.tag
            ));
        }
        if latest.is_none_or(|before| entry.when > before.when) {
            latest = Some(entry);
        }
        found.migrations.push(Migration {
            version: Version::with_key(&entry.tag, vec![KeyPart::digits(&position.to_string())]),
            name: name_of(&entry.tag).to_string(),
            up: script(&file.path, file.text()?)?,
            down: None,
        });
        listed.push(rel);
    }
    let read = |e: &Entry| (e.is_dir && e.rel == "meta") || listed.contains(&e.rel);
    found.ignored = listing
        .top_entries()
        .filter(|e| !read(e))
        .map(|e| e.path.clone())
        .collect();
    Ok(found)
}

/// A file as one script that runs as drizzle's parts do: each `--> statement-breakpoint`
/// stays a comment (blanked when SQL follows it on its line, which drizzle sends), a part
/// without a `;` of its own gets one, and a breakpoint inside a statement is refused.
fn script(path: &Path, text: &Text) -> Result<Script, InputError> {
    text.refuse_bom(path, "drizzle keeps (`readFileSync(…).toString()`)")?;
    let source = &text.sql;
    let mut sql = String::with_capacity(source.len() + 8);
    let mut start = 0;
    for (at, _) in source.match_indices(BREAKPOINT) {
        let part = &source[start..at];
        if !is_complete(part) {
            return Err(InputError::at_line(
                path,
                line_of_byte(source, at),
                "drizzle splits the file at this `--> statement-breakpoint` and sends each part \
                 as a query of its own, but here a statement is still inside a quoted string, \
                 dollar-quoted body, comment or parentheses: drizzle would send it cut off and \
                 fail. Move the breakpoint after the statement",
            ));
        }
        match missing_terminator(part) {
            Some(end) => {
                sql.push_str(&part[..end]);
                sql.push(';');
                sql.push_str(&part[end..]);
            }
            None => sql.push_str(part),
        }
        start = at + BREAKPOINT.len();
        let rest_of_line = source[start..].split('\n').next().unwrap_or("");
        if rest_of_line.trim().is_empty() {
            sql.push_str(BREAKPOINT);
        } else {
            sql.push_str(&" ".repeat(BREAKPOINT.len()));
        }
    }
    sql.push_str(&source[start..]);
    Ok(Script {
        path: path.to_path_buf(),
        sql,
        line_offset: 0,
        byte_offset: text.bom_len,
        transaction: TransactionMode::StatementsInTransaction,
        step: None,
    })
}

/// drizzle's history table.
pub const TABLE: &str = "drizzle.__drizzle_migrations";

/// What `migrate status` says of a migration drizzle counts as applied without a row.
const SKIPPED: &str = "never run: drizzle skips it, its journal `when` is not after the last \
                       applied migration's";

/// The journal `when` of each migration, read again from its folder's journal (the
/// version is the tag, the file `<folder>/<tag>.sql`).
fn whens(migrations: &[Migration]) -> Vec<Option<i64>> {
    let mut journals: HashMap<PathBuf, Option<Journal>> = HashMap::new();
    migrations
        .iter()
        .map(|migration| {
            let tag = &migration.version.text;
            let folder = migration.up.path.ancestors().nth(tag.split('/').count())?;
            let journal = journals.entry(folder.to_path_buf()).or_insert_with(|| {
                let path = folder.join(JOURNAL);
                let text = read_text(&path).ok()?;
                parse_journal(&path, &text.sql).ok()
            });
            let entries = &journal.as_ref()?.entries;
            entries.iter().find(|e| e.tag == *tag).map(|e| e.when)
        })
        .collect()
}

impl Bookkeeping for Drizzle {
    fn tool(&self) -> &'static str {
        "drizzle"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn columns(&self) -> &'static [&'static str] {
        &["id", "hash", "created_at"]
    }

    fn create_sql(&self) -> String {
        "CREATE SCHEMA IF NOT EXISTS \"drizzle\";
         CREATE TABLE IF NOT EXISTS \"drizzle\".\"__drizzle_migrations\" (
            id SERIAL PRIMARY KEY,
            hash text NOT NULL,
            created_at bigint
         );"
        .to_string()
    }

    /// One row per run migration, keyed by its `created_at` (the journal's `when`), which
    /// [`Bookkeeping::interpret`] turns into the migration's tag.
    fn read_sql(&self) -> String {
        format!(
            "SELECT coalesce(created_at::text, ''), NULL::text, hash, NULL::text, NULL::bigint,
                NULL::text, true
         FROM {TABLE} ORDER BY id"
        )
    }

    /// As drizzle decides: a migration is applied when its `when` is not after the last
    /// row's `created_at` (`order by created_at desc`, a NULL first and read as 0). A row
    /// is the migration of its `when`; one whose `when` no journal entry has is kept as it
    /// is (applied, file missing); a migration drizzle counts as applied without a row of its
    /// own is added, saying drizzle never ran it.
    fn interpret(&self, rows: Vec<Applied>, migrations: &[Migration]) -> Vec<Applied> {
        let created: Vec<Option<i64>> = rows.iter().map(|row| row.version.parse().ok()).collect();
        let last = if created.iter().any(Option::is_none) {
            (!rows.is_empty()).then_some(0)
        } else {
            created.iter().flatten().max().copied()
        };
        let whens = whens(migrations);
        let counted = |when: Option<i64>| matches!((when, last), (Some(w), Some(l)) if w <= l);
        let mut matched = vec![false; migrations.len()];
        let mut applied = Vec::with_capacity(rows.len());
        for (mut row, created) in rows.into_iter().zip(created) {
            let of_when = |index: usize| created.is_some() && whens[index] == created;
            let index = (0..migrations.len())
                .filter(|&i| of_when(i) && counted(whens[i]))
                .find(|&i| !matched[i])
                .or_else(|| (0..migrations.len()).find(|&i| of_when(i) && counted(whens[i])));
            match index {
                Some(index) => {
                    matched[index] = true;
                    row.version = migrations[index].version.text.clone();
                    row.name = Some(migrations[index].name.clone());
                }
                None if created.is_none() => row.version = "NULL".into(),
                None => {}
            }
            applied.push(row);
        }
        for (index, migration) in migrations.iter().enumerate() {
            if !matched[index] && counted(whens[index]) {
                applied.push(Applied {
                    version: migration.version.text.clone(),
                    name: Some(migration.name.clone()),
                    checksum: None,
                    applied_at: None,
                    execution_ms: None,
                    applied_by: Some(SKIPPED.into()),
                    success: true,
                });
            }
        }
        applied
    }

    fn checksum(&self, migration: &Migration) -> Option<String> {
        up_sha256(migration)
    }

    fn records_checksums(&self) -> bool {
        true
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let migration = &migrations[index];
        let created = whens(std::slice::from_ref(migration))[0]
            .map_or_else(|| "NULL".to_string(), |when| when.to_string());
        record(&if up {
            format!(
                "INSERT INTO \"drizzle\".\"__drizzle_migrations\" (\"hash\", \"created_at\") \
                 VALUES ({}, {created});",
                literal(&self.checksum(migration).unwrap_or_default())
            )
        } else {
            format!(
                "DELETE FROM {TABLE} WHERE id = \
                 (SELECT max(id) FROM {TABLE} WHERE created_at = {created});"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::bookkeeping::hex;
    use super::super::test_util::{discover, tempdir, versions, write};
    use super::super::{detect, sqlx};
    use super::*;
    use sha2::{Digest, Sha256};

    fn journal(entries: &[(i64, &str)]) -> String {
        let entries: Vec<String> = entries
            .iter()
            .enumerate()
            .map(|(idx, (when, tag))| {
                format!(
                    "    {{\n      \"idx\": {idx},\n      \"version\": \"7\",\n      \"when\": \
                     {when},\n      \"tag\": \"{tag}\",\n      \"breakpoints\": true\n    }}"
                )
            })
            .collect();
        format!(
            "{{\n  \"version\": \"7\",\n  \"dialect\": \"postgresql\",\n  \"entries\": \
             [\n{}\n  ]\n}}\n",
            entries.join(",\n")
        )
    }

    #[test]
    fn the_journal_orders_and_files_outside_it_are_ignored() {
        let t = tempdir();
        write(
            t.path(),
            JOURNAL,
            journal(&[
                (1_700_000_000_000, "0001_users"),
                (1_700_000_001_000, "0000_orders"),
            ]),
        );
        write(t.path(), "meta/0000_snapshot.json", "{}");
        write(
            t.path(),
            "0000_orders.sql",
            "CREATE TABLE orders (id int);\n",
        );
        write(t.path(), "0001_users.sql", "CREATE TABLE users (id int);\n");
        let stray = write(t.path(), "0002_draft.sql", "CREATE TABLE draft (id int);\n");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format(), FORMAT);
        assert_eq!(d.detection.basis, detect::Basis::Directory);
        assert_eq!(versions(&d), ["0001_users", "0000_orders"]);
        assert_eq!(d.migrations[0].name, "users");
        assert_eq!(d.ignored, [stray]);
        assert!(d.migrations.iter().all(|m| m.down.is_none()));
        assert_eq!(
            d.migrations[0].up.transaction,
            TransactionMode::StatementsInTransaction
        );
        assert!(
            d.detection.warnings.is_empty(),
            "{:?}",
            d.detection.warnings
        );
    }

    #[test]
    fn breakpoints_part_the_file_as_drizzle_sends_it() {
        let t = tempdir();
        write(t.path(), JOURNAL, journal(&[(1, "0000_a")]));
        let text = "CREATE TABLE a (id int);\n--> statement-breakpoint\nCREATE TABLE b (id int)\n\
                    --> statement-breakpoint CREATE TABLE c (id int);\n";
        write(t.path(), "0000_a.sql", text);
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        assert_eq!(
            d.migrations[0].up.sql,
            "CREATE TABLE a (id int);\n--> statement-breakpoint\nCREATE TABLE b (id int);\n\
             \x20                        CREATE TABLE c (id int);\n"
        );

        write(
            t.path(),
            "0000_a.sql",
            "CREATE FUNCTION f() RETURNS int AS $$\n--> statement-breakpoint\nSELECT 1 $$ \
             LANGUAGE sql;\n",
        );
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert_eq!(err.path, t.path().join("0000_a.sql"));
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("cut off"), "{err}");

        // drizzle sends a byte order mark to PostgreSQL, which fails on it.
        write(t.path(), "0000_a.sql", "\u{feff}SELECT 1;\n");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert_eq!(err.line, Some(1));
        assert!(err.message.contains("byte order mark"), "{err}");
    }

    #[test]
    fn a_missing_file_or_a_malformed_journal_names_the_journal() {
        let t = tempdir();
        let path = write(
            t.path(),
            JOURNAL,
            journal(&[(1, "0000_a"), (2, "0001_gone")]),
        );
        write(t.path(), "0000_a.sql", "SELECT 1;\n");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, path);
        assert_eq!(err.line, Some(16));
        assert!(err.message.contains("`0001_gone`"), "{err}");
        assert!(err.message.contains("0001_gone.sql not found"), "{err}");

        write(
            t.path(),
            JOURNAL,
            "{\n  \"entries\": [\n    { \"idx\": 0, \"tag\": \"0000_a\" }\n  ]\n}\n",
        );
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, path);
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("missing field `when`"), "{err}");
        assert!(!err.message.contains("column"), "{err}");

        write(t.path(), JOURNAL, "{ \"entries\": [\n,\n");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!((err.path.as_path(), err.line), (path.as_path(), Some(2)));
        assert!(
            err.message.starts_with("malformed drizzle journal"),
            "{err}"
        );

        std::fs::remove_file(&path).unwrap();
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert_eq!(err.path, path);
        // Without its journal the folder is sqlx's naming only.
        assert_eq!(discover(t.path(), None).unwrap().format(), sqlx::FORMAT);
    }

    #[test]
    fn an_entry_older_than_one_before_it_is_a_warning() {
        let t = tempdir();
        write(
            t.path(),
            JOURNAL,
            journal(&[(200, "0000_a"), (100, "0001_b"), (300, "0002_c")]),
        );
        for tag in ["0000_a", "0001_b", "0002_c"] {
            write(t.path(), &format!("{tag}.sql"), "SELECT 1;\n");
        }
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.detection.warnings.len(), 1, "{:?}", d.detection.warnings);
        let warning = &d.detection.warnings[0];
        assert!(
            warning.contains("_journal.json:16: `0001_b` has `when` 100"),
            "{warning}"
        );
        assert!(warning.contains("skips it for good"), "{warning}");
    }

    #[test]
    fn applied_as_drizzle_decides_by_when() {
        let t = tempdir();
        write(
            t.path(),
            JOURNAL,
            journal(&[
                (100, "0000_a"),
                (300, "0001_b"),
                (200, "0002_c"),
                (400, "0003_d"),
            ]),
        );
        for tag in ["0000_a", "0001_b", "0002_c", "0003_d"] {
            write(t.path(), &format!("{tag}.sql"), "SELECT 1;\n");
        }
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        let row = |created: &str| Applied {
            version: created.into(),
            name: None,
            checksum: Some("h".into()),
            applied_at: None,
            execution_ms: None,
            applied_by: None,
            success: true,
        };
        let applied = Drizzle.interpret(vec![row("100"), row("300"), row("250")], &d.migrations);
        let got: Vec<(&str, Option<&str>)> = applied
            .iter()
            .map(|a| (a.version.as_str(), a.applied_by.as_deref()))
            .collect();
        // 0002_c (when 200) is not after 300: drizzle never runs it; 0003_d is pending;
        // the row of 250 has no journal entry.
        assert_eq!(
            got,
            [
                ("0000_a", None),
                ("0001_b", None),
                ("250", None),
                ("0002_c", Some(SKIPPED))
            ]
        );
        // The last row's `created_at` decides, whatever migration it was.
        let applied = Drizzle.interpret(vec![row("100"), row("999")], &d.migrations);
        assert_eq!(applied.len(), 5);
        assert!(Drizzle.interpret(Vec::new(), &d.migrations).is_empty());
        // A NULL created_at sorts first and reads as 0: drizzle runs everything again.
        let applied = Drizzle.interpret(vec![row("100"), row("")], &d.migrations);
        let got: Vec<&str> = applied.iter().map(|a| a.version.as_str()).collect();
        assert_eq!(got, ["100", "NULL"]);
    }

    #[test]
    fn record_and_checksum_as_drizzle_writes_them() {
        let t = tempdir();
        write(t.path(), JOURNAL, journal(&[(1_700_000_000_000, "0000_a")]));
        write(t.path(), "0000_a.sql", "SELECT 'é';\r\n");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        // sha256 of the file's bytes (`readFileSync(…).toString()`, hashed as UTF-8).
        let sum = hex(&Sha256::digest("SELECT 'é';\r\n".as_bytes()));
        assert_eq!(Drizzle.checksum(&d.migrations[0]), Some(sum.clone()));
        assert_eq!(
            Drizzle.record_sql(&d.migrations, 0, true),
            record(&format!(
                "INSERT INTO \"drizzle\".\"__drizzle_migrations\" (\"hash\", \"created_at\") \
                 VALUES ('{sum}', 1700000000000);"
            ))
        );
    }

    #[test]
    fn paths_versions_and_names() {
        let s = Settings::default();
        assert!(Drizzle.is_migration_path("0000_a.sql", &s));
        assert!(!Drizzle.is_migration_path("meta/_journal.json", &s));
        assert!(!Drizzle.is_migration_path("meta/0000_snapshot.json", &s));
        assert_eq!(
            Drizzle.version_of_path("0000_a.sql", &s).unwrap().text,
            "0000_a"
        );
        assert_eq!(Drizzle.migration_key("0000_a.sql", &s), "0000_a");
        assert_eq!(name_of("0003_bright_wolverine"), "bright_wolverine");
        assert_eq!(name_of("custom"), "custom");
    }
}
