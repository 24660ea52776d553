//! The refinery layout: `V<version>__<name>.sql` (and `U<version>__<name>.sql`) files found
//! recursively below the migrations directory, up only, ordered by their integer version.
//! The names are Flyway's naming too: detection tells the two apart by the project (a
//! `Cargo.toml` depending on refinery), else says which it assumed.
//!
//! Facts from refinery's source (github.com/rust-db/refinery, `refinery_core`):
//! - `util.rs`: `const STEM_RE: &str = r"^([U|V])(\d+(?:\.\d+)?)__(\w+)";` and for SQL files
//!   `[STEM_RE, r"\.sql$"].concat()`, matched against the file name (a `regex` crate pattern,
//!   read here with the same crate: Unicode `\w` and `\d`). `find_migration_files` walks the
//!   directory with `WalkDir::new(location)` (every depth, hidden entries included); a name
//!   that does not match gets `log::warn!("File \"{}\" does not adhere to the migration
//!   naming convention. ...")` and is skipped (listed as ignored here). `embed_migrations!`
//!   (`refinery_macros`) also takes `\.(rs|sql)$`: a `.rs` migration's `migration()` function
//!   returns its SQL, which only refinery can run (refused here, naming the file).
//! - `util.rs`, `parse_migration_name`: `captures[2].parse()` into `SchemaVersion` (`i32`,
//!   `i64` with the `int8-versions` feature) or `Kind::InvalidVersion`: the pattern admits
//!   `1.2`, refinery refuses it. `"V" => Type::Versioned, "U" => Type::Unversioned, _ =>
//!   unreachable!()`: `U` is *unversioned* (it may be applied below the current version), not
//!   undo; refinery has no down scripts. `[U|V]` is a character class, so `|` matches it too,
//!   and refinery then panics: refused here.
//! - `runner.rs`: `impl Ord for Migration { self.version.cmp(&other.version) }` (numeric
//!   order); `impl PartialEq for Migration` compares version, name and checksum, so
//!   `traits/mod.rs` `verify_migrations` (`if to_be_applied.contains(&migration) {
//!   RepeatedVersion }`) catches two files of one version only when they are equal; two of
//!   one version with different names are both applied and the second INSERT fails on the
//!   history table's primary key. Both are refused here.
//! - `traits/sync.rs` `migrate`: `migration_batch` alternates each migration's SQL and its
//!   INSERT; not grouped (the default), each element goes through `transaction.execute([update])`,
//!   and `drivers/postgres.rs` `execute` is `PgClient::transaction(self)?`,
//!   `batch_execute(query)`, `transaction.commit()`: the file runs as one simple query inside a
//!   transaction of its own, its history row is committed in a second one. `migrate` books the
//!   row inside the migration's transaction instead (a failed INSERT then undoes the migration
//!   too, where refinery would have left it applied and unrecorded). There is no marker that
//!   takes a file out of the transaction.
//! - `runner.rs` `Migration::unapplied`: `SipHasher13::new()` (keys 0, 0), `name.hash`,
//!   `version.hash`, `sql.hash`, `hasher.finish()`: the checksum, written as decimal text. The
//!   name is the `\w+` capture, the version the integer, the SQL the whole file
//!   (`read_to_string`). The file is sent as read, so a byte order mark reaches PostgreSQL,
//!   which fails on it: refused here.
//! - `traits/mod.rs`: `CREATE TABLE IF NOT EXISTS refinery_schema_history(version int4
//!   PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), checksum VARCHAR(255))` and
//!   `INSERT INTO {} (version, name, applied_on, checksum) VALUES ({}, '{}', '{}', '{}')` with
//!   `applied_on.format(&Rfc3339)` (the `time` crate: UTC as `Z`, the fraction without trailing
//!   zeros, none when zero), which `drivers/postgres.rs` parses back with
//!   `OffsetDateTime::parse(&applied_on, &Rfc3339).unwrap()`. A migration is applied when a row
//!   has its version; refinery takes no advisory lock.

use std::hash::Hasher;
use std::sync::OnceLock;

use regex::Regex;
use siphasher::sip::SipHasher13;

use super::bookkeeping::{Book, Bookkeeping, literal, record, up_bytes};
use super::{
    Entry, Evidence, Format, FormatSpec, Found, Listing, Migration, RECURSIVE_DEPTH, Settings,
    Strength, TransactionMode, Version, is_own_file,
};
use crate::error::InputError;

/// The refinery format.
pub const FORMAT: Format = Format::new(&Refinery);

/// refinery (`refinery migrate`, `embed_migrations!`).
pub struct Refinery;

/// refinery's `STEM_RE`.
const STEM: &str = r"^([U|V])(\d+(?:\.\d+)?)__(\w+)";

/// A file name matching refinery's pattern with `ending` (`\.sql$`, `\.rs$`).
fn pattern(cell: &'static OnceLock<Regex>, ending: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(&format!("{STEM}{ending}")).expect("refinery's pattern"))
}

/// What refinery makes of a file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Name<'a> {
    /// A SQL migration: its version and name (the `\w+` capture).
    Migration { version: i32, name: &'a str },
    /// A Rust migration (`embed_migrations!` runs its `migration()` function).
    Rust,
    /// A name refinery matches and then refuses (or panics on), with the reason.
    Refused(String),
    /// Not a migration to refinery: skipped.
    Skipped,
}

/// Reads a file name as refinery reads it (`util.rs`: the pattern, then
/// `parse_migration_name`).
pub(crate) fn parse_name(file_name: &str) -> Name<'_> {
    static SQL: OnceLock<Regex> = OnceLock::new();
    static RUST: OnceLock<Regex> = OnceLock::new();
    if pattern(&RUST, r"\.rs$").is_match(file_name) {
        return Name::Rust;
    }
    let Some(captures) = pattern(&SQL, r"\.sql$").captures(file_name) else {
        return Name::Skipped;
    };
    let (prefix, digits) = (&captures[1], &captures[2]);
    if prefix == "|" {
        return Name::Refused(
            "refinery's name pattern `[U|V]` admits `|` as the prefix, and refinery then \
             panics reading the migration; start the name with `V` (or `U`)"
                .into(),
        );
    }
    let Ok(version) = digits.parse::<i32>() else {
        let why = if digits.contains('.') {
            "refinery versions are integers"
        } else {
            "it is not an integer that fits refinery's i32 versions (the `int8-versions` \
             feature, which makes them i64, is not supported)"
        };
        return Name::Refused(format!(
            "invalid version {digits}: {why}; refinery refuses the file (InvalidVersion)"
        ));
    };
    let name = captures.get(3).map_or("", |m| m.as_str());
    Name::Migration { version, name }
}

/// Whether refinery reads `file_name` as a SQL migration (Flyway's detection asks: a name
/// refinery reads too is naming the two tools share).
pub(crate) fn reads_as_migration(file_name: &str) -> bool {
    matches!(parse_name(file_name), Name::Migration { .. })
}

impl FormatSpec for Refinery {
    fn name(&self) -> &'static str {
        "refinery"
    }

    fn layout(&self) -> &'static str {
        "refinery `V<version>__<name>.sql` files"
    }

    fn depth(&self) -> usize {
        RECURSIVE_DEPTH
    }

    /// Its SQL names are Flyway's too: naming, which the project (a `Cargo.toml` depending
    /// on refinery) decides; a `.rs` migration is refinery's alone.
    fn recognise(
        &self,
        listing: &Listing,
        _settings: &Settings,
    ) -> Result<Option<Evidence>, InputError> {
        let read: Vec<(&Entry, Name)> = listing
            .files()
            .map(|entry| (entry, parse_name(entry.name())))
            .filter(|(_, name)| *name != Name::Skipped)
            .collect();
        if let Some((rust, _)) = read.iter().find(|(_, name)| *name == Name::Rust) {
            return Ok(Some(Evidence::entry(rust, Strength::Marker)));
        }
        Ok(read
            .first()
            .map(|(entry, _)| Evidence::entry(entry, Strength::Naming).supported_by(read.len())))
    }

    fn discover(&self, listing: &Listing, _settings: &Settings) -> Result<Found, InputError> {
        discover(listing)
    }

    fn is_migration_path(&self, rel: &str, settings: &Settings) -> bool {
        self.version_of_path(rel, settings).is_some()
    }

    fn version_of_path(&self, rel: &str, _settings: &Settings) -> Option<Version> {
        if rel.matches('/').count() >= RECURSIVE_DEPTH {
            return None;
        }
        match parse_name(rel.rsplit('/').next().unwrap_or(rel)) {
            Name::Migration { version, .. } => Some(version_of(version)),
            _ => None,
        }
    }

    /// The version: refinery records a migration by it, wherever its file sits.
    fn migration_key(&self, rel: &str, settings: &Settings) -> String {
        self.version_of_path(rel, settings)
            .map_or_else(|| rel.to_string(), |version| version.text)
    }

    fn transaction_rule(&self) -> &'static str {
        "each file in its own transaction, sent as one batch, then its history row in a second \
         transaction (refinery's default; with `set_grouped(true)` all pending migrations run \
         in one)"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        None
    }

    fn bookkeeping(&self) -> Option<Book> {
        Some(&Refinery)
    }

    /// refinery's names take letters, digits and `_` only: a `-` becomes `_`.
    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        vec![(
            format!("V{version}__{}.sql", name.replace('-', "_")),
            String::new(),
        )]
    }
}

/// A version as refinery holds it: the integer (leading zeros are not kept).
fn version_of(version: i32) -> Version {
    Version::numeric(&version.to_string(), version.unsigned_abs().into())
}

/// Builds the migrations of a refinery directory from its listing. The result is not sorted.
fn discover(listing: &Listing) -> Result<Found, InputError> {
    let mut found = Found::default();
    let mut seen: Vec<(i32, &Entry)> = Vec::new();
    for entry in listing.files() {
        let (version, name) = match parse_name(entry.name()) {
            Name::Migration { version, name } => (version, name),
            Name::Skipped => {
                if !(entry.depth() == 0 && is_own_file(&entry.rel)) {
                    found.ignored.push(entry.path.clone());
                }
                continue;
            }
            Name::Refused(reason) => return Err(InputError::new(&entry.path, reason)),
            Name::Rust => {
                return Err(InputError::new(
                    &entry.path,
                    "Rust migration: refinery's `embed_migrations!` compiles it and runs the SQL \
                     its `migration()` function returns, which migration-check cannot; verify \
                     this project with the `command` format running refinery, or move Rust \
                     migrations out of the directory migration-check reads",
                ));
            }
        };
        if let Some((_, other)) = seen.iter().find(|(v, _)| *v == version) {
            return Err(InputError::new(
                &entry.path,
                format!(
                    "two migrations of version {version}: {} and {} (refinery refuses a repeated \
                     version, or applies both and fails on the primary key of {TABLE} after \
                     committing the first); give one of them another version",
                    other.path.display(),
                    entry.path.display()
                ),
            ));
        }
        seen.push((version, entry));
        let text = entry.text()?;
        text.refuse_bom(
            &entry.path,
            "refinery keeps (`read_to_string`, `include_str!`)",
        )?;
        found.migrations.push(Migration {
            version: version_of(version),
            name: name.to_string(),
            // refinery sends the file inside its transaction: a `COMMIT` in it ends that
            // transaction early, and refinery's own commit closes whatever follows.
            up: text.whole_script(&entry.path, TransactionMode::StatementsInTransaction),
            down: None,
        });
    }
    Ok(found)
}

/// refinery's history table.
pub const TABLE: &str = "refinery_schema_history";

/// refinery's checksum (`Migration::unapplied`): SipHash-1-3 with keys 0, 0 over the name,
/// the version and the SQL as Rust's `Hash` writes them: a `str` as its bytes then `0xff`,
/// an `i32` as its native-endian bytes.
pub fn checksum_of(name: &str, version: i32, sql: &str) -> u64 {
    let mut hasher = SipHasher13::new();
    hasher.write(name.as_bytes());
    hasher.write(&[0xff]);
    hasher.write(&version.to_ne_bytes());
    hasher.write(sql.as_bytes());
    hasher.write(&[0xff]);
    hasher.finish()
}

/// refinery's version of a migration, as its table holds it.
fn version(migration: &Migration) -> Option<i32> {
    migration.version.text.parse().ok()
}

/// `applied_on` as refinery writes it (`OffsetDateTime::now_utc().format(&Rfc3339)`): UTC,
/// `Z`, the fraction of a second without trailing zeros and none when it is zero.
const APPLIED_ON: &str = "regexp_replace(to_char(now() AT TIME ZONE 'UTC', \
     'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '\\.?0+$', '') || 'Z'";

impl Bookkeeping for Refinery {
    fn tool(&self) -> &'static str {
        "refinery"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn columns(&self) -> &'static [&'static str] {
        &["version", "name", "applied_on", "checksum"]
    }

    fn create_sql(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {TABLE}(
             version int4 PRIMARY KEY,
             name VARCHAR(255),
             applied_on VARCHAR(255),
             checksum VARCHAR(255));"
        )
    }

    fn read_sql(&self) -> String {
        format!(
            "SELECT version::text, name, checksum, applied_on, NULL::bigint, NULL::text, true
         FROM {TABLE} ORDER BY version"
        )
    }

    fn checksum(&self, migration: &Migration) -> Option<String> {
        let sql = String::from_utf8(up_bytes(migration)?).ok()?;
        Some(checksum_of(&migration.name, version(migration)?, &sql).to_string())
    }

    fn records_checksums(&self) -> bool {
        true
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let migration = &migrations[index];
        let version = version(migration).unwrap_or_default();
        record(&if up {
            format!(
                "INSERT INTO {TABLE} (version, name, applied_on, checksum) \
                 VALUES ({version}, {}, {APPLIED_ON}, {});",
                literal(&migration.name),
                literal(&self.checksum(migration).unwrap_or_default())
            )
        } else {
            format!("DELETE FROM {TABLE} WHERE version = {version};")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{discover, tempdir, versions, write};
    use super::super::{detect, flyway};
    use super::*;

    #[test]
    fn names_as_refinery_reads_them() {
        assert_eq!(
            parse_name("V1__initial.sql"),
            Name::Migration {
                version: 1,
                name: "initial"
            }
        );
        assert_eq!(
            parse_name("U0012__merge_out_of_order.sql"),
            Name::Migration {
                version: 12,
                name: "merge_out_of_order"
            }
        );
        // Unicode `\w`, as the regex crate reads it (a combining accent included).
        assert_eq!(
            parse_name("V3__cre\u{301}er_table.sql"),
            Name::Migration {
                version: 3,
                name: "cre\u{301}er_table"
            }
        );
        for skipped in [
            "V1_initial.sql",
            "V1__add-users.sql",
            "V1__.sql",
            "V1__a.SQL",
            "R__views.sql",
            "v1__a.sql",
            "V1_1__a.sql",
            "V1__a.sql.bak",
            "README.md",
        ] {
            assert_eq!(parse_name(skipped), Name::Skipped, "{skipped}");
        }
        assert_eq!(parse_name("V3__add_brand.rs"), Name::Rust);
        for refused in ["V1.2__a.sql", "V2147483648__a.sql", "|1__a.sql"] {
            assert!(matches!(parse_name(refused), Name::Refused(_)), "{refused}");
        }
    }

    #[test]
    fn found_recursively_in_numeric_order_without_downs() {
        let t = tempdir();
        write(t.path(), "V10__ten.sql", "select 10;");
        write(t.path(), "2024/q1/V2__two.sql", "select 2;");
        write(t.path(), "U001__one.sql", "select 1;");
        let readme = write(t.path(), "README.md", "notes");
        let misnamed = write(t.path(), "sub/V3_three.sql", "select 3;");
        write(t.path(), "migrations.sum", "");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        assert_eq!(versions(&d), ["1", "2", "10"]);
        let m = &d.migrations[1];
        assert_eq!(m.name, "two");
        assert_eq!(m.up.path, t.path().join("2024/q1/V2__two.sql"));
        assert_eq!(m.up.transaction, TransactionMode::StatementsInTransaction);
        assert!(d.migrations.iter().all(|m| m.down.is_none()));
        let mut ignored = d.ignored.clone();
        ignored.sort();
        assert_eq!(ignored, [readme, misnamed]);
    }

    #[test]
    fn dotted_versions_repeated_versions_and_rust_migrations_are_refused() {
        let t = tempdir();
        write(t.path(), "V1__a.sql", "select 1;");
        let dotted = write(t.path(), "V1.1__b.sql", "select 2;");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert_eq!(err.path, dotted);
        assert!(err.message.contains("invalid version 1.1"), "{err}");
        std::fs::remove_file(dotted).unwrap();

        let other = write(t.path(), "sub/U01__b.sql", "select 2;");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert!(err.message.contains("two migrations of version 1"), "{err}");
        assert!(
            err.message
                .contains(&t.path().join("V1__a.sql").display().to_string()),
            "{err}"
        );
        assert!(err.message.contains(&other.display().to_string()), "{err}");
        std::fs::remove_file(other).unwrap();

        let rust = write(t.path(), "V2__backfill.rs", "fn migration() -> String {}");
        let err = discover(t.path(), None).unwrap_err();
        assert_eq!(err.path, rust);
        assert!(err.message.contains("Rust migration"), "{err}");
        std::fs::remove_file(rust).unwrap();

        // refinery sends a byte order mark to PostgreSQL, which fails on it.
        let bom = write(t.path(), "V2__bom.sql", "\u{feff}select 2;");
        let err = discover(t.path(), Some(FORMAT)).unwrap_err();
        assert_eq!((&err.path, err.line), (&bom, Some(1)));
        assert!(err.message.contains("byte order mark"), "{err}");
    }

    /// refinery's names are Flyway's too: without the project naming refinery, Flyway is
    /// assumed and the detection says so; with it, refinery.
    #[test]
    fn the_project_tells_refinery_from_flyway() {
        let t = tempdir();
        std::fs::create_dir(t.path().join(".git")).unwrap();
        write(
            t.path(),
            "migrations/V1__users.sql",
            "create table users();",
        );
        write(
            t.path(),
            "migrations/V2__orders.sql",
            "create table orders();",
        );
        let dir = t.path().join("migrations");
        let d = discover(&dir, None).unwrap();
        assert_eq!(d.format(), flyway::FORMAT);
        assert_eq!(d.detection.basis, detect::Basis::Assumed);
        let assumption = d.detection.assumption.as_deref().unwrap();
        assert!(
            assumption.contains("pass --format refinery"),
            "{assumption}"
        );

        write(
            t.path(),
            "Cargo.toml",
            "[package]\nname = \"app\"\n\n[dependencies]\nrefinery = \"0.9\"\n",
        );
        let d = discover(&dir, None).unwrap();
        assert_eq!(d.format(), FORMAT);
        assert_eq!(d.detection.basis, detect::Basis::Project);
        assert_eq!(
            d.detection.evidence,
            ["Cargo.toml:5 depends on refinery".to_string()]
        );
    }

    /// A name only Flyway reads (a dotted version, a repeatable migration) is still Flyway's
    /// marker.
    #[test]
    fn flyway_only_names_stay_flyways() {
        let t = tempdir();
        write(t.path(), "V1__users.sql", "create table users();");
        write(t.path(), "R__views.sql", "select 1;");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format(), flyway::FORMAT);
        assert_eq!(d.detection.basis, detect::Basis::Directory);
    }

    #[test]
    fn checksum_is_refinerys_siphash13() {
        // Computed by refinery's own code (`Migration::unapplied`: siphasher 1.0.4's
        // SipHasher13, `name.hash`, `version.hash`, `sql.hash`) for these inputs; the first
        // is the migration of refinery's own `verify_migrations` tests.
        assert_eq!(
            checksum_of(
                "initial",
                1,
                "CREATE TABLE persons (id int, name varchar(255), city varchar(255));"
            ),
            9_011_118_159_008_407_467
        );
        assert_eq!(
            checksum_of("users", 1, "CREATE TABLE users (id int PRIMARY KEY);\n"),
            7_668_093_413_072_388_362
        );
        assert_eq!(checksum_of("a", 0, ""), 5_205_601_977_514_908_210);
        assert_eq!(
            checksum_of("créer_table", i32::MAX, "\u{feff}SELECT 'é';\r\n"),
            15_729_020_433_874_032_264
        );
    }

    #[test]
    fn checksum_covers_the_file_as_refinery_reads_it() {
        let t = tempdir();
        write(t.path(), "V1__users.sql", "SELECT 'é';\r\n");
        let d = discover(t.path(), Some(FORMAT)).unwrap();
        let m = &d.migrations[0];
        assert_eq!(
            Refinery.checksum(m).unwrap(),
            checksum_of("users", 1, "SELECT 'é';\r\n").to_string()
        );
        let insert = Refinery.record_sql(&d.migrations, 0, true);
        assert!(
            insert.contains(&format!(
                "VALUES (1, 'users', {APPLIED_ON}, '{}');",
                Refinery.checksum(m).unwrap()
            )),
            "{insert}"
        );
    }

    #[test]
    fn paths_versions_keys_and_template() {
        let s = Settings::default();
        let f = Refinery;
        assert!(f.is_migration_path("a/b/V1__x.sql", &s));
        assert!(f.is_migration_path("U2__x.sql", &s));
        assert!(!f.is_migration_path("V1.1__x.sql", &s));
        assert!(!f.is_migration_path("R__x.sql", &s));
        assert_eq!(f.version_of_path("x/V007__a.sql", &s).unwrap().text, "7");
        assert_eq!(f.migration_key("x/V007__a.sql", &s), "7");
        assert_eq!(f.migration_key("notes.txt", &s), "notes.txt");
        assert_eq!(
            f.template("4", "add-users"),
            [("V4__add_users.sql".to_string(), String::new())]
        );
    }
}
