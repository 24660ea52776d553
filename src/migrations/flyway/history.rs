//! Flyway's `flyway_schema_history` (flyway-core `JdbcTableSchemaHistory`, flyway-database-
//! postgresql `PostgreSQLDatabase`): one row per run, ranked, with the version (dotted),
//! description (`_` as spaces), type `SQL`, the script's file name, Flyway's CRC-32
//! checksum, `current_user`, the time in milliseconds and success, written in the
//! migration's transaction. A repeatable migration (`R__`) has no version and is run again
//! whenever its checksum changes (a new row). An undo (`U`, Flyway Teams) is booked as a
//! new `UNDO_SQL` row of the version, which makes the version pending again. Flyway's lock
//! is the advisory lock `77431708279161 + hashCode("\"schema\".\"flyway_schema_history\"")`
//! (`PostgreSQLAdvisoryLockTemplate`); Flyway takes it per transaction, migration-check
//! per session: the two exclude each other.

use std::time::Duration;

use super::Flyway;
use crate::migrations::Migration;
use crate::migrations::bookkeeping::{Applied, Bookkeeping, literal, millis, record};

/// flyway's history table.
pub const TABLE: &str = "flyway_schema_history";

/// The description Flyway writes for its baseline row.
const BASELINE: &str = "<< Flyway Baseline >>";

/// `ChecksumCalculator`: CRC-32 over the UTF-8 bytes of each line without its terminator
/// (`BufferedReader.readLine` ends lines at `\n`, `\r` or `\r\n`), a BOM dropped from the
/// first line, as a signed 32-bit number.
pub fn checksum_of(text: &str) -> i32 {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut crc = crc32fast::Hasher::new();
    for line in text.split(['\n', '\r']) {
        crc.update(line.as_bytes());
    }
    crc.finalize() as i32
}

/// A file's Flyway checksum, as the table's text.
fn file_checksum(path: &std::path::Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(checksum_of(&String::from_utf8_lossy(&bytes)).to_string())
}

/// A version without trailing `.0` parts: Flyway compares `1.0` and `1` as equal.
fn normalized(version: &str) -> &str {
    let mut version = version;
    while let Some(shorter) = version.strip_suffix(".0") {
        version = shorter;
    }
    version
}

/// The file name of a script, as Flyway's `script` column holds it for a top-level file.
fn script_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Bookkeeping for Flyway {
    fn tool(&self) -> &'static str {
        "flyway"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn columns(&self) -> &'static [&'static str] {
        &[
            "installed_rank",
            "version",
            "description",
            "type",
            "script",
            "checksum",
            "installed_by",
            "installed_on",
            "execution_time",
            "success",
        ]
    }

    fn create_sql(&self) -> String {
        format!(
            "DO $$ BEGIN
         IF to_regclass('{TABLE}') IS NULL THEN
            CREATE TABLE {TABLE} (
                installed_rank INT NOT NULL,
                version VARCHAR(50),
                description VARCHAR(200) NOT NULL,
                type VARCHAR(20) NOT NULL,
                script VARCHAR(1000) NOT NULL,
                checksum INTEGER,
                installed_by VARCHAR(100) NOT NULL,
                installed_on TIMESTAMP NOT NULL DEFAULT now(),
                execution_time INTEGER NOT NULL,
                success BOOLEAN NOT NULL
            );
            ALTER TABLE {TABLE}
                ADD CONSTRAINT flyway_schema_history_pk PRIMARY KEY (installed_rank);
            CREATE INDEX flyway_schema_history_s_idx ON {TABLE} (success);
         END IF;
         END $$;"
        )
    }

    /// The last row of each version (or repeatable description); an undone version is not
    /// applied, a repeatable one is keyed by its description (version empty).
    fn read_sql(&self) -> String {
        format!(
            "SELECT coalesce(version, ''), description, checksum::text, installed_on::text,
                execution_time::bigint, installed_by, success
         FROM (SELECT DISTINCT ON (coalesce(version, 'R ' || description)) *
               FROM {TABLE} WHERE type <> 'SCHEMA'
               ORDER BY coalesce(version, 'R ' || description), installed_rank DESC) last
         WHERE type <> 'UNDO_SQL'
         ORDER BY installed_rank"
        )
    }

    /// Versions in the files' spelling; a repeatable row as its file's version, dropped when
    /// the file changed since (Flyway runs it again: it is pending); a baseline stands for
    /// every version up to it.
    fn interpret(&self, rows: Vec<Applied>, migrations: &[Migration]) -> Vec<Applied> {
        let mut applied = Vec::new();
        for mut row in rows {
            if row.version.is_empty() {
                let description = row.name.clone().unwrap_or_default();
                match migrations
                    .iter()
                    .find(|m| m.version.is_repeatable() && m.name.replace('_', " ") == description)
                {
                    Some(m) if self.checksum(m) != row.checksum => continue,
                    Some(m) => row.version = m.version.text.clone(),
                    None => row.version = format!("R__{}", description.replace(' ', "_")),
                }
            } else if let Some(m) = migrations.iter().find(|m| {
                !m.version.is_repeatable()
                    && normalized(&m.version.text) == normalized(&row.version)
            }) {
                row.version = m.version.text.clone();
            }
            applied.push(row);
        }
        let baseline = applied
            .iter()
            .position(|row| row.name.as_deref() == Some(BASELINE));
        if let Some(at) = baseline.and_then(|b| {
            migrations
                .iter()
                .position(|m| m.version.text == applied[b].version)
        }) {
            for migration in &migrations[..at] {
                if !migration.version.is_repeatable()
                    && !applied
                        .iter()
                        .any(|row| row.version == migration.version.text)
                {
                    applied.push(Applied {
                        version: migration.version.text.clone(),
                        name: Some(BASELINE.into()),
                        checksum: None,
                        applied_at: None,
                        execution_ms: None,
                        applied_by: None,
                        success: true,
                    });
                }
            }
        }
        applied
    }

    fn checksum(&self, migration: &Migration) -> Option<String> {
        file_checksum(&migration.up.path)
    }

    fn records_checksums(&self) -> bool {
        true
    }

    fn lock_key(&self, _database: &str, schema: &str) -> i64 {
        let table = format!("\"{schema}\".\"{TABLE}\"");
        // Java's String.hashCode over UTF-16 code units.
        let hash = table.encode_utf16().fold(0_i32, |h, unit| {
            h.wrapping_mul(31).wrapping_add(i32::from(unit))
        });
        77_431_708_279_161 + i64::from(hash)
    }

    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let migration = &migrations[index];
        let script = if up {
            &migration.up
        } else {
            migration.down.as_ref().unwrap_or(&migration.up)
        };
        let version = if migration.version.is_repeatable() {
            "NULL".to_string()
        } else {
            literal(&migration.version.text)
        };
        let description: String = migration.name.replace('_', " ").chars().take(200).collect();
        record(&format!(
            "INSERT INTO {TABLE} (installed_rank, version, description, type, \
             script, checksum, installed_by, execution_time, success) \
             SELECT coalesce(max(installed_rank), 0) + 1, {version}, {}, {}, {}, {}, \
             current_user, -1, true FROM {TABLE};",
            literal(&description),
            literal(if up { "SQL" } else { "UNDO_SQL" }),
            literal(&script_name(&script.path)),
            file_checksum(&script.path).unwrap_or_else(|| "NULL".into()),
        ))
    }

    fn finish_sql(&self, _migration: &Migration, _up: bool, elapsed: Duration) -> Option<String> {
        Some(format!(
            "UPDATE {TABLE} SET execution_time = {}
             WHERE installed_rank = (SELECT max(installed_rank) FROM {TABLE})",
            millis(elapsed).min(i64::from(i32::MAX))
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_flyways_crc_of_lines() {
        // CRC-32 of "SELECT 1;SELECT 2;" (terminators dropped), as a signed int.
        assert_eq!(checksum_of("SELECT 1;\nSELECT 2;\n"), -1_665_099_012);
        assert_eq!(
            checksum_of("SELECT 1;\r\nSELECT 2;\r\n"),
            checksum_of("\u{feff}SELECT 1;\nSELECT 2;")
        );
        assert_eq!(checksum_of("CREATE TABLE t (id int);\r\n"), 92_137_680);
    }

    #[test]
    fn lock_key_is_flyways() {
        assert_eq!(Flyway.lock_key("db", "public"), 77_433_833_903_597);
        assert_eq!(normalized("1.1.0.0"), "1.1");
    }
}
