//! Findings about the rows themselves, measured in the populated copy the lock analysis
//! runs in (see `verify::rehearsal`):
//! - `fails-on-data`: an up (or a down) that ran on the verified, empty tables fails on
//!   tables holding rows, for a reason rows explain whatever their values: a NOT NULL
//!   column without a default or over NULLs (SQLSTATE 23502), a unique index over
//!   duplicates (23505), an exclusion constraint over overlaps (23P01). An error where
//!   production's statistics say its table holds rows (the generated rows then carry its
//!   NULL rates and duplicates); a warning without statistics or for a table they show
//!   empty. A cast or a CHECK the generated values refuse stays a note: the values are
//!   ours, not production's, and a finding on them would be a guess.
//! - `data-not-restored`: the down restores the schema but not rows the up kept (an up
//!   that moves a column into a new table and drops it, a down that adds it back empty).
//!   The rows of the tables the migration names are fingerprinted before the up, after it
//!   and after the down, per column (as a multiset of values) and whole, independent of
//!   column order. A difference after the down is a finding only where the up kept the
//!   values: in the same column of the same table, in a column of that name or in rows
//!   alike of a table the up created. Values an up destroys by design (a dropped column, a
//!   deleted row) no down can bring back: that is the migration's purpose, not a finding.

use std::collections::BTreeMap;

use tokio_postgres::Client;

use super::{Blocks, LockFinding, Script, allowed, statement_summary};
use crate::migrations::lexer;
use crate::policy::Level;

/// `fails-on-data`'s ID.
pub const FAILS_ON_DATA: &str = "fails-on-data";
/// `data-not-restored`'s ID.
pub const DATA_NOT_RESTORED: &str = "data-not-restored";

/// Whether `rule` is one of this module's (its findings hold no lock).
pub fn is_data_rule(rule: &str) -> bool {
    rule == FAILS_ON_DATA || rule == DATA_NOT_RESTORED
}

/// SQLSTATEs of failures production's statistics predict: a NULL where NOT NULL is
/// added (23502), duplicates under a new unique index (23505) or exclusion constraint
/// (23P01). Others (a cast, a CHECK) depend on values the statistics do not carry.
const PREDICTED: &[&str] = &["23502", "23505", "23P01"];

/// Whether a failure with SQLSTATE `code` in the populated copy is explained by rows as
/// such (see the [module](self)): only those are `fails-on-data` findings.
pub fn explained_by_rows(code: &str) -> bool {
    PREDICTED.contains(&code)
}

/// What production's statistics say of a failing statement's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Production {
    /// No statistics were given.
    Unknown,
    /// The statistics do not have the table.
    NotInStats,
    /// Production's table holds this many rows (`reltuples`; `None`: never analysed).
    Rows(Option<u64>),
}

/// A script that failed in the populated copy.
pub struct Failure<'a> {
    pub file: &'a str,
    /// The whole file's text from line 1 (for the allow comment) and the failing
    /// statement's line and column in it.
    pub file_text: &'a str,
    pub line: usize,
    pub column: usize,
    pub statement: &'a str,
    pub sqlstate: Option<&'a str>,
    /// The error's first line.
    pub message: &'a str,
    /// The table the statement names, and the rows generated into it.
    pub relation: String,
    pub generated_rows: Option<u64>,
    pub production: Production,
    pub script: Script,
}

/// The `fails-on-data` finding of `failure`.
pub fn fails_on_data(failure: &Failure) -> LockFinding {
    let predicted = failure
        .sqlstate
        .is_some_and(|code| PREDICTED.contains(&code));
    let generated = failure
        .generated_rows
        .map_or_else(String::new, |rows| format!(" ({rows} generated rows)"));
    let (severity, weight) = match failure.production {
        Production::Rows(Some(rows)) if rows > 0 && predicted => (
            Level::Error,
            format!("production's table holds about {rows} rows, shaped as its statistics say"),
        ),
        Production::Rows(Some(rows)) if rows > 0 => (
            Level::Warning,
            format!(
                "production's table holds about {rows} rows; whether their values fail it too, its statistics cannot say"
            ),
        ),
        Production::Rows(_) => (
            Level::Warning,
            "production's statistics show the table empty (or never analysed)".to_string(),
        ),
        Production::NotInStats => (
            Level::Warning,
            "production's statistics do not have the table".to_string(),
        ),
        Production::Unknown => (
            Level::Warning,
            "without production's statistics (--stats) whether its table has such rows is unknown"
                .to_string(),
        ),
    };
    LockFinding {
        rule: FAILS_ON_DATA.into(),
        title: "fails on a table holding rows".into(),
        file: failure.file.into(),
        line: failure.line,
        column: failure.column,
        statement: statement_summary(failure.statement),
        relation: failure.relation.clone(),
        mode: None,
        blocks: Blocks::Nothing,
        held_ms: 0,
        rewrite: false,
        evidence: format!(
            "failed on {}{generated}: {}; {weight}",
            failure.relation, failure.message
        ),
        why: "the migration passed on the empty tables of the check, but a deploy on a \
              database whose table holds such rows stops here"
            .into(),
        safe_rewrite: "-- Make the statement hold for the rows there are: a NOT NULL column\n\
             -- gets a DEFAULT (or is backfilled before SET NOT NULL); duplicates are\n\
             -- resolved before the unique index; a cast gets a USING that handles every\n\
             -- value; a CHECK is added NOT VALID and validated after fixing the rows.\n\
             ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';"
            .into(),
        allowed: allowed(failure.file_text, failure.line, FAILS_ON_DATA),
        severity,
        script: failure.script,
        estimate: None,
    }
}

/// The rows of some tables, fingerprinted: per table its row count, each column's values
/// (as a multiset) and the rows whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprints(BTreeMap<String, TableFingerprint>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct TableFingerprint {
    rows: i64,
    /// Column name → fingerprint of its values; `""` → the rows whole.
    columns: BTreeMap<String, String>,
}

/// The tables among `tables` (OIDs; NULL: any) that exist, with the names `words` holds
/// (what the migration's scripts name), by name.
const NAMED_TABLES: &str = "\
SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE ($1::pg_catalog.oid[] IS NULL OR c.oid = ANY ($1::pg_catalog.oid[]))
  AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND (c.relname::text = ANY ($2::text[]))
ORDER BY 1";

impl Fingerprints {
    /// The fingerprints of the tables among `tables` (`None`: any) the scripts (`words`)
    /// name.
    pub async fn read(
        client: &Client,
        tables: Option<&[u32]>,
        words: &[String],
    ) -> Result<Self, tokio_postgres::Error> {
        let names: Vec<String> = client
            .query(NAMED_TABLES, &[&tables, &words])
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let mut fingerprints = BTreeMap::new();
        for name in names {
            fingerprints.insert(name.clone(), Self::table(client, &name).await?);
        }
        Ok(Fingerprints(fingerprints))
    }

    /// The same tables again, by name (those gone are missing).
    pub async fn again(&self, client: &Client) -> Result<Self, tokio_postgres::Error> {
        let mut fingerprints = BTreeMap::new();
        for name in self.0.keys() {
            let exists: bool = client
                .query_one("SELECT pg_catalog.to_regclass($1) IS NOT NULL", &[name])
                .await?
                .get(0);
            if exists {
                fingerprints.insert(name.clone(), Self::table(client, name).await?);
            }
        }
        Ok(Fingerprints(fingerprints))
    }

    async fn table(client: &Client, name: &str) -> Result<TableFingerprint, tokio_postgres::Error> {
        // `name` comes from the catalog, quoted by format('%I.%I').
        let rows = client
            .query(
                &format!(
                    "SELECT e.key, pg_catalog.md5(pg_catalog.string_agg(e.value::text, ',' \
                     ORDER BY e.value::text)), 0::int8 \
                     FROM {name} AS r, pg_catalog.jsonb_each(pg_catalog.to_jsonb(r)) AS e \
                     GROUP BY e.key \
                     UNION ALL \
                     SELECT '', pg_catalog.md5(COALESCE(pg_catalog.string_agg(j::text, \
                     E'\\n' ORDER BY j::text), '')), count(*) \
                     FROM (SELECT pg_catalog.to_jsonb(r) AS j FROM {name} AS r) AS s"
                ),
                &[],
            )
            .await?;
        let mut fingerprint = TableFingerprint {
            rows: 0,
            columns: BTreeMap::new(),
        };
        for row in rows {
            let key: String = row.get(0);
            if key.is_empty() {
                fingerprint.rows = row.get(2);
            }
            fingerprint.columns.insert(key, row.get(1));
        }
        Ok(fingerprint)
    }

    /// What the down lost (`after_down`: the same tables after it) of what the up kept
    /// (`after_up`: the tables the scripts name after the up), in words per table.
    pub fn differences(
        &self,
        after_up: &Fingerprints,
        after_down: &Fingerprints,
    ) -> Vec<(String, String)> {
        // Where the up kept a table's values: the table itself, and the tables it created.
        let created: Vec<&TableFingerprint> = after_up
            .0
            .iter()
            .filter(|(name, _)| !self.0.contains_key(*name))
            .map(|(_, table)| table)
            .collect();
        let kept = |name: &String, column: &str, value: &String| {
            after_up
                .0
                .get(name)
                .into_iter()
                .chain(created.iter().copied())
                .any(|table| table.columns.get(column) == Some(value))
        };
        let mut differences = Vec::new();
        for (name, before) in &self.0 {
            let whole = &before.columns[""];
            let rows_kept = kept(name, "", whole);
            let Some(now) = after_down.0.get(name) else {
                if rows_kept {
                    differences.push((
                        name.clone(),
                        format!(
                            "{name} held {} rows before the up, which the up kept, and is gone after the down",
                            before.rows
                        ),
                    ));
                }
                continue;
            };
            if before == now {
                continue;
            }
            if before.rows != now.rows {
                if rows_kept {
                    differences.push((
                        name.clone(),
                        format!(
                            "{name} held {} rows before the up, which the up kept, and {} after the down",
                            before.rows, now.rows
                        ),
                    ));
                }
                continue;
            }
            let columns: Vec<&str> = before
                .columns
                .iter()
                .filter(|(column, value)| {
                    !column.is_empty()
                        && now.columns.get(*column) != Some(value)
                        && kept(name, column, value)
                })
                .map(|(column, _)| column.as_str())
                .collect();
            if !columns.is_empty() {
                differences.push((
                    name.clone(),
                    format!(
                        "{name}'s {} rows differ after the down in column {}, whose values the up kept",
                        before.rows,
                        columns.join(", ")
                    ),
                ));
            } else if rows_kept && now.columns.get("") != Some(whole) {
                differences.push((
                    name.clone(),
                    format!(
                        "{name}'s {} rows hold the same values per column after the down, but not in the same rows",
                        before.rows
                    ),
                ));
            }
        }
        differences
    }
}

/// The `data-not-restored` finding of a down (`sql`, from line `line_offset + 1` of
/// `file`, whose whole text is `file_text`) on `relation`.
pub fn data_not_restored(
    file: &str,
    file_text: &str,
    (sql, line_offset): (&str, usize),
    relation: String,
    evidence: String,
) -> LockFinding {
    let first = lexer::split_statements(sql)
        .into_iter()
        .find(|statement| !statement.is_empty());
    let (line, column, statement) = match first {
        Some(statement) => {
            let (line, column) = lexer::line_col(sql, statement.code.start);
            (
                line_offset + line,
                column,
                statement_summary(&sql[statement.code]),
            )
        }
        None => (line_offset + 1, 1, String::new()),
    };
    LockFinding {
        rule: DATA_NOT_RESTORED.into(),
        title: "the down restores the schema but not the rows".into(),
        file: file.into(),
        line,
        column,
        statement,
        relation,
        mode: None,
        blocks: Blocks::Nothing,
        held_ms: 0,
        rewrite: false,
        evidence: format!("with generated rows in the tables, {evidence}"),
        why: "a rollback on a database with rows loses what the up moved or changed".into(),
        safe_rewrite: "-- Put the data back before dropping what the up created, e.g. for a\n\
             -- column the up moved into another table:\n\
             ALTER TABLE users ADD COLUMN email text;\n\
             UPDATE users u SET email = e.email FROM user_emails e WHERE e.user_id = u.id;\n\
             DROP TABLE user_emails;"
            .into(),
        allowed: allowed(file_text, line, DATA_NOT_RESTORED),
        severity: Level::Warning,
        script: Script::Down,
        estimate: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(sqlstate: &'static str, production: Production) -> LockFinding {
        fails_on_data(&Failure {
            file: "1_users.up.sql",
            file_text: "ALTER TABLE users ADD COLUMN age int NOT NULL;\n",
            line: 1,
            column: 1,
            statement: "ALTER TABLE users ADD COLUMN age int NOT NULL",
            sqlstate: Some(sqlstate),
            message: "column \"age\" of relation \"users\" contains null values",
            relation: "public.users".into(),
            generated_rows: Some(1000),
            production,
            script: Script::Up,
        })
    }

    #[test]
    fn a_failure_is_an_error_only_where_production_has_rows_the_statistics_predict() {
        assert_eq!(
            failure("23502", Production::Rows(Some(48_000))).severity,
            Level::Error
        );
        assert_eq!(
            failure("23514", Production::Rows(Some(48_000))).severity,
            Level::Warning,
            "a CHECK depends on values the statistics do not carry"
        );
        assert_eq!(
            failure("23502", Production::Rows(Some(0))).severity,
            Level::Warning
        );
        assert_eq!(
            failure("23502", Production::NotInStats).severity,
            Level::Warning
        );
        let unknown = failure("23502", Production::Unknown);
        assert_eq!(unknown.severity, Level::Warning);
        assert!(
            unknown.summary().contains("contains null values"),
            "{}",
            unknown.summary()
        );
        assert!(
            !unknown.summary().contains("blocks"),
            "{}",
            unknown.summary()
        );
    }

    #[test]
    fn only_what_the_up_kept_and_the_down_lost_is_a_difference() {
        let table = |rows: i64, pairs: &[(&str, &str)]| TableFingerprint {
            rows,
            columns: pairs
                .iter()
                .map(|(column, value)| (column.to_string(), value.to_string()))
                .collect(),
        };
        let prints = |tables: Vec<(&str, TableFingerprint)>| {
            Fingerprints(
                tables
                    .into_iter()
                    .map(|(n, t)| (n.to_string(), t))
                    .collect(),
            )
        };
        let users = |email: &str| {
            table(
                1000,
                &[
                    ("", &format!("whole-{email}")),
                    ("id", "ids"),
                    ("email", email),
                ],
            )
        };
        let before = prints(vec![("public.users", users("emails"))]);
        // The up moved email into a table it created; the down added it back empty.
        let moved = prints(vec![
            (
                "public.users",
                table(1000, &[("", "whole-ids"), ("id", "ids")]),
            ),
            (
                "public.user_emails",
                table(1000, &[("", "x"), ("user_id", "ids"), ("email", "emails")]),
            ),
        ]);
        let emptied = prints(vec![("public.users", users("nulls"))]);
        assert_eq!(
            before.differences(&moved, &emptied),
            [(
                "public.users".to_string(),
                "public.users's 1000 rows differ after the down in column email, whose values the up kept"
                    .to_string()
            )]
        );
        // The up dropped the column, keeping its values nowhere: by design, not a finding.
        let dropped = prints(vec![(
            "public.users",
            table(1000, &[("", "whole-ids"), ("id", "ids")]),
        )]);
        assert!(before.differences(&dropped, &emptied).is_empty());
        // Restored: nothing.
        assert!(before.differences(&moved, &before.clone()).is_empty());
        // A table the up kept whole and the down emptied.
        let kept = before.clone();
        let truncated = prints(vec![("public.users", table(0, &[("", "")]))]);
        assert!(
            before.differences(&kept, &truncated)[0]
                .1
                .contains("and 0 after the down")
        );
        assert!(
            before.differences(&kept, &Fingerprints::default())[0]
                .1
                .contains("is gone after the down")
        );
    }
}
