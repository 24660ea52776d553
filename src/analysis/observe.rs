//! What each statement of a script did to the relations that existed before it, measured
//! by a query run right after the statement in its own transaction ([`Observer`], the
//! script runner's [`StatementObserver`]).
//!
//! A statement can only change a relation it locks, so each observation reads the locks
//! our backend holds and, for the locked relations alone, their files, indexes,
//! constraints, NOT NULL columns and scans: its cost follows what the statement touched,
//! not the size of the schema. What it finds is compared with the state known so far (read
//! once before the script by [`START`], then updated by each observation).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::LockFinding;
use super::effect::{
    AddedColumn, EnumChange, NewIndex, Relation, Relations, StatementEffect, Validated,
};
use super::rules::{self, Hit};
use crate::migrations::Script;
use crate::migrations::lexer::{self, Statement};
use crate::postgres::script::StatementObserver;

/// The state before the script: the relations outside the system schemas (tables,
/// partitioned tables, materialized views, indexes) with their files, the CHECK and FOREIGN
/// KEY constraints, the NOT NULL columns and each table's highest column number, every
/// foreign key, and each table's scan count not yet flushed to the statistics (what
/// `pg_stat_xact_*` shows: since PostgreSQL 15 that spans earlier transactions of the
/// session too, until they are flushed, so scans are counted from here on, never per
/// transaction).
const START: &str = "\
SELECT pg_catalog.json_build_object(
  'relations', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(c.oid::pg_catalog.int8,
      pg_catalog.format('%s.%I', c.relnamespace::pg_catalog.regnamespace::text, c.relname),
      c.relkind::text,
      (SELECT i.indrelid::pg_catalog.int8 FROM pg_catalog.pg_index i WHERE i.indexrelid = c.oid),
      c.relfilenode::pg_catalog.int8, c.relname::text, c.relnatts::pg_catalog.int8))
    FROM pg_catalog.pg_class c
    WHERE c.oid >= 16384 AND c.relkind IN ('r', 'p', 'm', 'i', 'I')
      AND c.relnamespace <> ALL (ARRAY(SELECT n.oid FROM pg_catalog.pg_namespace n
        WHERE n.nspname IN ('pg_catalog', 'information_schema')
          OR n.nspname LIKE 'pg\\_toast%' OR n.nspname LIKE 'pg\\_temp\\_%'))),
  'constraints', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(k.oid::pg_catalog.int8,
      k.convalidated)) FROM pg_catalog.pg_constraint k
    WHERE k.contype IN ('c', 'f') AND k.conrelid >= 16384),
  'not_null', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(a.attrelid::pg_catalog.int8,
      a.attnum)) FROM pg_catalog.pg_attribute a
    WHERE a.attrelid >= 16384 AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull),
  'foreign_keys', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(
      k.conrelid::pg_catalog.int8, k.conname::text))
    FROM pg_catalog.pg_constraint k WHERE k.contype = 'f'),
  'scans', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(c.oid::pg_catalog.int8,
      pg_catalog.pg_stat_get_xact_numscans(c.oid))) FROM pg_catalog.pg_class c
    WHERE c.oid >= 16384 AND c.relkind IN ('r', 'm')
      AND pg_catalog.pg_stat_get_xact_numscans(c.oid) > 0),
  'enum_columns', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(
      a.attrelid::pg_catalog.int8, a.attnum, pg_catalog.format_type(a.atttypid, NULL)))
    FROM pg_catalog.pg_attribute a
    WHERE a.attrelid >= 16384 AND a.attnum > 0 AND NOT a.attisdropped
      AND a.atttypid = ANY (ARRAY(SELECT t.oid FROM pg_catalog.pg_type t
        WHERE t.typtype = 'e'))),
  'version', pg_catalog.current_setting('server_version_num')::int,
  'lock_timeout', pg_catalog.current_setting('lock_timeout'),
  'observe_prepared', EXISTS (SELECT 1 FROM pg_catalog.pg_prepared_statements p
    WHERE p.name = 'migration_check_observe')
)::text";

/// Each table's scan count not yet flushed to the statistics, where there are any (as in
/// [`START`]).
const SCANS: &str = "\
SELECT pg_catalog.json_agg(pg_catalog.json_build_array(c.oid::pg_catalog.int8,
    pg_catalog.pg_stat_get_xact_numscans(c.oid)))::text FROM pg_catalog.pg_class c
  WHERE c.oid >= 16384 AND c.relkind IN ('r', 'm')
    AND pg_catalog.pg_stat_get_xact_numscans(c.oid) > 0";

/// The names [`START`] and [`OBSERVE`] are prepared under on a session (SQL `PREPARE`): each
/// is then planned once per session instead of once per script or statement, which was
/// most of an observation's cost.
const PREPARED_START: &str = "migration_check_start";
const PREPARED_OBSERVE: &str = "migration_check_observe";

/// [`START`]'s result on `client`, run as a prepared statement (prepared first when the
/// session has none: a new session, or a migration that deallocated it).
async fn start_state(client: &Client) -> Result<String, tokio_postgres::Error> {
    let execute = format!("EXECUTE {PREPARED_START}");
    let messages = match client.simple_query(&execute).await {
        Ok(messages) => messages,
        Err(error) if error.code() == Some(&SqlState::INVALID_SQL_STATEMENT_NAME) => {
            client
                .batch_execute(&format!("PREPARE {PREPARED_START} AS {START}"))
                .await?;
            client.simple_query(&execute).await?
        }
        Err(error) => return Err(error),
    };
    Ok(messages
        .into_iter()
        .find_map(|message| match message {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap_or_default())
}

/// Whether the foreign key `k`'s referencing columns lead an index of its table.
const FOREIGN_KEY_INDEXED: &str = "\
EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = k.conrelid
  AND (pg_catalog.string_to_array(i.indkey::text, ' ')::pg_catalog.int2[])
      [1:pg_catalog.array_length(k.conkey, 1)] OPERATOR(pg_catalog.@>) k.conkey)";

/// After a statement, in its transaction: the locks our backend holds on relations outside
/// the system catalogs and, for those relations, what a statement can change.
static OBSERVE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH held AS MATERIALIZED (
  SELECT l.relation, l.mode FROM pg_catalog.pg_locks l
  WHERE l.pid = pg_catalog.pg_backend_pid() AND l.locktype = 'relation' AND l.granted
    AND l.relation >= 16384),
locked AS MATERIALIZED (SELECT DISTINCT h.relation FROM held h)
SELECT pg_catalog.json_build_object(
  'transaction', pg_catalog.transaction_timestamp()::text,
  'locks', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(h.relation::pg_catalog.int8,
      h.mode)) FROM held h),
  'files', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(c.oid::pg_catalog.int8,
      c.relfilenode::pg_catalog.int8)) FROM pg_catalog.pg_class c
    WHERE c.oid IN (SELECT relation FROM locked)),
  'scans', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(l.relation::pg_catalog.int8,
      pg_catalog.pg_stat_get_xact_numscans(l.relation))) FROM locked l),
  'indexes', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(i.indrelid::pg_catalog.int8,
      c.relname::text)) FROM pg_catalog.pg_index i
      JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid IN (SELECT relation FROM locked)),
  'constraints', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(k.oid::pg_catalog.int8,
      k.conrelid::pg_catalog.int8, k.contype::text, k.convalidated, k.conname::text,
      k.confrelid::pg_catalog.int8, k.conrelid::pg_catalog.regclass::text,
      k.contype = 'f' AND {FOREIGN_KEY_INDEXED}))
    FROM pg_catalog.pg_constraint k
    WHERE k.contype IN ('c', 'f') AND k.conrelid IN (SELECT relation FROM locked)),
  'not_null', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(a.attrelid::pg_catalog.int8,
      a.attnum, a.attname::text)) FROM pg_catalog.pg_attribute a
    WHERE a.attrelid IN (SELECT relation FROM locked) AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attnotnull),
  'columns', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(a.attrelid::pg_catalog.int8,
      a.attnum, a.attname::text, pg_catalog.format_type(a.atttypid, NULL), t.typtype = 'e',
      pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attgenerated <> ''))
    FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid IN (SELECT relation FROM locked) AND a.attnum > 0
      AND NOT a.attisdropped),
  'lock_timeout', pg_catalog.current_setting('lock_timeout')
)::text AS migration_check_observation"
    )
});

/// (oid, name, kind, index's table, relfilenode, bare name, highest column number) of a
/// relation.
type RelationRow = (u32, String, String, Option<u32>, u32, String, i32);

/// What [`START`] returns.
#[derive(Debug, Default, Deserialize)]
struct Start {
    #[serde(default)]
    relations: Option<Vec<RelationRow>>,
    /// (oid, validated).
    #[serde(default)]
    constraints: Option<Vec<(u32, bool)>>,
    /// (table, column number).
    #[serde(default)]
    not_null: Option<Vec<(u32, i32)>>,
    #[serde(default)]
    /// (table, name): a foreign key a rewrite re-creates gets a new OID, not a new name.
    foreign_keys: Option<Vec<(u32, String)>>,
    /// (table, sequential scans not yet flushed), where there are any.
    #[serde(default)]
    scans: Option<Vec<(u32, i64)>>,
    /// (table, column number, enum type) of the columns of an enum type.
    #[serde(default)]
    enum_columns: Option<Vec<(u32, i32, String)>>,
    /// `server_version_num`.
    #[serde(default)]
    version: i32,
    /// Whether [`OBSERVE`] is prepared on the session already.
    #[serde(default)]
    observe_prepared: bool,
    /// `lock_timeout` before the script: ours.
    #[serde(default)]
    lock_timeout: Option<String>,
}

/// One observation: the locked relations' state in the statement's transaction.
#[derive(Debug, Default, Deserialize)]
struct Observation {
    /// `transaction_timestamp()`: tells one transaction from the next.
    transaction: String,
    /// (relation, mode) of every lock our backend holds.
    #[serde(default)]
    locks: Option<Vec<(u32, String)>>,
    /// (relation, relfilenode).
    #[serde(default)]
    files: Option<Vec<(u32, u32)>>,
    /// (table, sequential and index scans in this transaction).
    #[serde(default)]
    scans: Option<Vec<(u32, i64)>>,
    /// (table, index name).
    #[serde(default)]
    indexes: Option<Vec<(u32, String)>>,
    /// Their CHECK and FOREIGN KEY constraints.
    #[serde(default)]
    constraints: Option<Vec<ConstraintRow>>,
    /// (table, column number, column name) of their NOT NULL columns.
    #[serde(default)]
    not_null: Option<Vec<(u32, i32, String)>>,
    /// Their columns.
    #[serde(default)]
    columns: Option<Vec<ColumnRow>>,
    /// `lock_timeout` then.
    #[serde(default)]
    lock_timeout: Option<String>,
}

/// (table, number, name, type, whether the type is an enum, default or generation
/// expression, whether generated) of a column.
type ColumnRow = (u32, i32, String, String, bool, Option<String>, bool);

/// (oid, table, type, validated, name, referenced table, table's name, a foreign key whose
/// columns lead an index) of a constraint.
type ConstraintRow = (u32, u32, String, bool, String, u32, String, bool);

/// Measures each statement of one script (see the [module](self)).
pub struct Observer {
    /// What runs after each statement: [`OBSERVE`], prepared or as text.
    query: String,
    /// `lock_timeout` before the script (ours), and the script's text, lowercased.
    lock_timeout_before: Option<String>,
    sql: String,
    relations: Relations,
    /// The known relfilenode of each pre-existing relation.
    files: HashMap<u32, u32>,
    /// The known (table, name) of every index on a pre-existing table.
    indexes: BTreeSet<(u32, String)>,
    /// Whether each known CHECK or FOREIGN KEY constraint is validated.
    validated: HashMap<u32, bool>,
    /// The known NOT NULL columns, and each table's highest column number before the script.
    not_null: BTreeSet<(u32, i32)>,
    widths: HashMap<u32, i32>,
    /// The known type of each column of an enum type, by (table, column number).
    enum_columns: HashMap<(u32, i32), String>,
    /// The server's `server_version_num`.
    version: i32,
    /// The foreign keys that existed before the script.
    foreign_keys_before: BTreeSet<(u32, String)>,
    /// The foreign keys the script added: name, table, whether an index covers them.
    new_foreign_keys: BTreeMap<u32, (String, String, bool)>,
    /// (table, name) of the foreign keys the script added.
    added_foreign_keys: BTreeSet<(u32, String)>,
    /// `lock_timeout` at the last observation.
    lock_timeout_now: Option<String>,
    /// The transaction the last observation was in, and its locks.
    transaction: String,
    locks: BTreeMap<u32, String>,
    /// The last known count of scans not yet flushed, per table (a flush at a transaction's
    /// end lowers it: no scan is counted then).
    scans: HashMap<u32, i64>,
    effects: Vec<StatementEffect>,
    /// Effects whose transaction has not ended yet (their `held` is open).
    open_from: usize,
    /// How many transactions the script has started so far.
    transactions: usize,
    /// The foreign keys the script added that still lead no index after it (see
    /// [`Observer::conclude`]).
    unindexed_after: Option<BTreeSet<u32>>,
}

impl Observer {
    /// Reads the state before the script runs, on `client` (outside a transaction); only
    /// the relations in `within` are measured when given (a down script is measured on
    /// what existed before its migration's up: dropping what the migration itself created
    /// is what a down is for).
    pub async fn start(
        client: &Client,
        within: Option<&BTreeSet<u32>>,
        script: &Script,
    ) -> Result<Self, tokio_postgres::Error> {
        let start: Start = serde_json::from_str(&start_state(client).await?).unwrap_or_default();
        // A script that could deallocate our prepared statement midway (in a string too:
        // dynamic SQL) gets the query's text after each statement: a failing EXECUTE would
        // roll the statement back.
        let lowercase = script.sql.to_ascii_lowercase();
        let query = if lowercase.contains("deallocate") || lowercase.contains("discard") {
            OBSERVE.clone()
        } else {
            if !start.observe_prepared {
                client
                    .batch_execute(&format!("PREPARE {PREPARED_OBSERVE} AS {}", *OBSERVE))
                    .await?;
            }
            format!("EXECUTE {PREPARED_OBSERVE}")
        };
        let mut observer = Observer {
            query,
            lock_timeout_before: start.lock_timeout.clone(),
            sql: lowercase,
            relations: HashMap::new(),
            files: HashMap::new(),
            indexes: BTreeSet::new(),
            validated: start.constraints.into_iter().flatten().collect(),
            not_null: start.not_null.into_iter().flatten().collect(),
            widths: HashMap::new(),
            enum_columns: start
                .enum_columns
                .into_iter()
                .flatten()
                .map(|(table, number, type_name)| ((table, number), type_name))
                .collect(),
            version: start.version,
            foreign_keys_before: start.foreign_keys.into_iter().flatten().collect(),
            new_foreign_keys: BTreeMap::new(),
            added_foreign_keys: BTreeSet::new(),
            lock_timeout_now: start.lock_timeout.clone(),
            transaction: String::new(),
            locks: BTreeMap::new(),
            scans: start.scans.into_iter().flatten().collect(),
            effects: Vec::new(),
            open_from: 0,
            transactions: 0,
            unindexed_after: None,
        };
        for (oid, name, kind, table, file, bare, width) in start.relations.into_iter().flatten() {
            observer.widths.insert(oid, width);
            let kind = kind.chars().next().unwrap_or('r');
            // Every index known, whoever made it: one the up built and a down's rewrite
            // rebuilds under the same name is not new.
            if let (Some(table), 'i' | 'I') = (table, kind) {
                observer.indexes.insert((table, bare));
            }
            if within.is_some_and(|within| !within.contains(&oid)) {
                continue;
            }
            observer.files.insert(oid, file);
            observer.relations.insert(
                oid,
                Relation {
                    name,
                    kind,
                    table,
                    rows: None,
                },
            );
        }
        Ok(observer)
    }

    /// Tells the rules how many rows were generated into each table (by OID).
    pub fn with_rows(mut self, rows: &HashMap<u32, u64>) -> Self {
        for (oid, relation) in &mut self.relations {
            relation.rows = rows.get(oid).copied();
        }
        self
    }

    /// An observer for the down script of the migration whose up this one measured, on the
    /// same session right after it: measured on the relations that existed before the up,
    /// from the state the up's observations left, without reading the catalogs again (what
    /// the up did not lock, it did not change). `None` when that state may be stale: the up
    /// was observed by text (it could deallocate our prepared statement), or a statement of
    /// it ran alone, unobserved.
    /// The scan counts not yet flushed are read again: the up's end may have flushed them.
    pub async fn for_down(
        mut self,
        client: &Client,
        script: &Script,
    ) -> Result<Option<Observer>, tokio_postgres::Error> {
        let prepared = format!("EXECUTE {PREPARED_OBSERVE}");
        if self.query != prepared || self.effects.iter().any(|effect| !effect.observed) {
            return Ok(None);
        }
        let row = client.query_one(SCANS, &[]).await?;
        self.scans = row
            .try_get::<_, Option<String>>(0)
            .ok()
            .flatten()
            .and_then(|json| serde_json::from_str::<Vec<(u32, i64)>>(&json).ok())
            .unwrap_or_default()
            .into_iter()
            .collect();
        let lowercase = script.sql.to_ascii_lowercase();
        if lowercase.contains("deallocate") || lowercase.contains("discard") {
            self.query = OBSERVE.clone();
        }
        self.foreign_keys_before
            .extend(std::mem::take(&mut self.added_foreign_keys));
        self.new_foreign_keys.clear();
        self.lock_timeout_before = self.lock_timeout_now.clone();
        self.sql = lowercase;
        self.transaction.clear();
        self.locks.clear();
        self.effects.clear();
        self.open_from = 0;
        self.transactions = 0;
        self.unindexed_after = None;
        Ok(Some(self))
    }

    /// The relations measured: those that existed before the script.
    pub fn relation_oids(&self) -> BTreeSet<u32> {
        self.relations.keys().copied().collect()
    }

    /// After the script (outside its transaction): which of the foreign keys it added still
    /// lead no index, whatever statement (measured or not) added one meanwhile.
    pub async fn conclude(&mut self, client: &Client) -> Result<(), tokio_postgres::Error> {
        let added: Vec<u32> = self.new_foreign_keys.keys().copied().collect();
        if added.is_empty() {
            // Nearly every script: no round trip for nothing.
            self.unindexed_after = Some(BTreeSet::new());
            return Ok(());
        }
        let rows = client
            .query(
                &format!(
                    "SELECT k.oid FROM pg_catalog.pg_constraint k \
                     WHERE k.oid = ANY($1) AND NOT {FOREIGN_KEY_INDEXED}"
                ),
                &[&added],
            )
            .await?;
        self.unindexed_after = Some(rows.iter().map(|row| row.get::<_, u32>(0)).collect());
        Ok(())
    }

    /// The findings of the rules over every statement measured, for `script` (the up or the
    /// down: `which`).
    pub fn findings(&self, script: &Script, which: super::Script) -> Vec<LockFinding> {
        let file = script.path.display().to_string();
        // The whole file's lines, for the allow comments (a section starts at line_offset).
        let file_text = format!("{}{}", "\n".repeat(script.line_offset), script.sql);
        let mut findings = Vec::new();
        for (index, effect) in self.effects.iter().enumerate() {
            let context = rules::Context {
                effects: &self.effects,
                index,
                relations: &self.relations,
                unindexed_after: self.unindexed_after.as_ref(),
            };
            let hits: Vec<(&dyn rules::Rule, Hit)> = rules::ALL
                .iter()
                .flat_map(|&rule| rule.check(&context).into_iter().map(move |hit| (rule, hit)))
                .collect();
            if hits.is_empty() {
                continue;
            }
            let (line, column) = lexer::line_col(&script.sql, effect.code.start);
            let line = script.line_offset + line;
            let statement = super::statement_summary(&script.sql[effect.code.clone()]);
            let held_ms = effect.held.as_millis().try_into().unwrap_or(u64::MAX);
            for (rule, hit) in hits {
                findings.push(LockFinding {
                    rule: rule.id().into(),
                    title: rule.title().into(),
                    file: file.clone(),
                    line,
                    column,
                    statement: statement.clone(),
                    relation: hit.named.unwrap_or_else(|| {
                        self.relations
                            .get(&hit.relation)
                            .map_or_else(|| hit.relation.to_string(), |r| r.name.clone())
                    }),
                    blocks: hit
                        .mode
                        .as_deref()
                        .map_or(super::Blocks::Nothing, super::blocks),
                    mode: hit.mode,
                    held_ms,
                    rewrite: hit.rewrite,
                    evidence: hit.evidence,
                    why: rule.why().into(),
                    safe_rewrite: rule.safe_rewrite().into(),
                    allowed: super::allowed(&file_text, line, rule.id()),
                    severity: super::Level::Warning,
                    script: which,
                    estimate: None,
                });
            }
        }
        findings
    }

    /// What a statement did to the columns of the relations it locked (`columns`, as
    /// observed after it): the pre-existing columns it changed to or from an enum type, the
    /// columns it added to pre-existing tables with a default or generation expression.
    fn column_changes(&mut self, columns: Vec<ColumnRow>) -> (Vec<EnumChange>, Vec<AddedColumn>) {
        let (mut enum_changes, mut added) = (Vec::new(), Vec::new());
        for (table, number, column, type_name, is_enum, expression, generated) in columns {
            if !self.relations.contains_key(&table) {
                continue;
            }
            let existed = self.widths.get(&table).is_some_and(|w| number <= *w);
            if !existed {
                if let Some(expression) = expression {
                    added.push(AddedColumn {
                        table,
                        column,
                        expression,
                        generated,
                    });
                }
                continue;
            }
            let known = self.enum_columns.get(&(table, number)).cloned();
            let change = match (&known, is_enum) {
                (Some(from), true) if *from != type_name => Some(from.clone()),
                (None, true) => Some(String::new()),
                (Some(from), false) => Some(from.clone()),
                _ => None,
            };
            if is_enum {
                self.enum_columns.insert((table, number), type_name.clone());
            } else {
                self.enum_columns.remove(&(table, number));
            }
            if let Some(from) = change {
                enum_changes.push(EnumChange {
                    table,
                    column,
                    from,
                    to: type_name,
                });
            }
        }
        (enum_changes, added)
    }

    /// Whether the script had set a `lock_timeout` of its own when `statement` ran, whose
    /// value is `now`: one that waits (not 0) and that differs from ours, or that the script
    /// mentioned before (a `SET` of the same value as ours).
    fn lock_timeout_set(&self, now: Option<&str>, statement: &Statement) -> bool {
        let Some(now) = now else {
            return true;
        };
        now != "0"
            && (Some(now) != self.lock_timeout_before.as_deref()
                || self
                    .sql
                    .get(..statement.code.end)
                    .is_some_and(|before| before.contains("lock_timeout")))
    }

    /// Ends the `held` time of every effect still open at `now`.
    fn close_transaction(&mut self, now: Instant) {
        for effect in &mut self.effects[self.open_from..] {
            if let Some(started) = effect.started {
                effect.held = now.saturating_duration_since(started);
            }
        }
        self.open_from = self.effects.len();
    }
}

/// The strongest of two lock modes (PostgreSQL's order of strength).
fn stronger<'m>(a: &'m str, b: &'m str) -> &'m str {
    const ORDER: [&str; 8] = [
        "AccessShareLock",
        "RowShareLock",
        "RowExclusiveLock",
        "ShareUpdateExclusiveLock",
        "ShareLock",
        "ShareRowExclusiveLock",
        "ExclusiveLock",
        "AccessExclusiveLock",
    ];
    let rank = |m: &str| ORDER.iter().position(|o| *o == m).unwrap_or(0);
    if rank(b) > rank(a) { b } else { a }
}

/// The strongest mode per relation among `locks`.
fn strongest(locks: &[(u32, String)]) -> BTreeMap<u32, String> {
    let mut by_relation: BTreeMap<u32, String> = BTreeMap::new();
    for (relation, mode) in locks {
        let entry = by_relation.entry(*relation).or_insert_with(|| mode.clone());
        *entry = stronger(entry, mode).to_string();
    }
    by_relation
}

impl StatementObserver for Observer {
    fn query(&self) -> String {
        self.query.clone()
    }

    fn observed(&mut self, statement: &Statement, elapsed: Duration, observation: Option<String>) {
        let now = Instant::now();
        let started = now.checked_sub(elapsed).unwrap_or(now);
        let Some(current) =
            observation.and_then(|text| serde_json::from_str::<Observation>(&text).ok())
        else {
            // Ran alone: its transaction (if any) is not ours to see; the ones before it
            // have ended when it could run alone.
            self.close_transaction(started);
            self.effects.push(StatementEffect {
                code: statement.code.clone(),
                started: Some(started),
                transaction: self.transactions,
                lock_timeout_set: true,
                ..Default::default()
            });
            self.transactions += 1;
            self.close_transaction(now);
            // Whatever it did, the next statement's transaction is another one.
            self.transaction.clear();
            return;
        };
        if current.transaction != self.transaction {
            self.close_transaction(started);
            self.transactions += 1;
            self.transaction = current.transaction.clone();
            self.locks.clear();
        }
        let transaction = self.transactions - 1;
        if current.lock_timeout.is_some() {
            self.lock_timeout_now.clone_from(&current.lock_timeout);
        }

        let pre_existing = |relation: &u32| self.relations.contains_key(relation);
        let locks = strongest(
            &current
                .locks
                .iter()
                .flatten()
                .filter(|(relation, _)| pre_existing(relation))
                .cloned()
                .collect::<Vec<_>>(),
        );
        let new_locks = locks
            .iter()
            .filter(|(relation, mode)| {
                self.locks
                    .get(relation)
                    .is_none_or(|before| stronger(before, mode) != before.as_str())
            })
            .map(|(relation, mode)| (*relation, mode.clone()))
            .collect();
        let mut rewritten = Vec::new();
        for &(relation, file) in current.files.iter().flatten() {
            if let Some(known) = self.files.insert(relation, file)
                && known != file
                && pre_existing(&relation)
            {
                rewritten.push(relation);
            }
        }
        let mut new_indexes = Vec::new();
        for (table, name) in current.indexes.into_iter().flatten() {
            if pre_existing(&table) && self.indexes.insert((table, name.clone())) {
                new_indexes.push(NewIndex { name, table });
            }
        }
        let mut validated = Vec::new();
        for (oid, table, kind, valid, name, referenced, table_name, indexed) in
            current.constraints.into_iter().flatten()
        {
            let kind = kind.chars().next().unwrap_or('c');
            if kind == 'f' && !self.foreign_keys_before.contains(&(table, name.clone())) {
                self.new_foreign_keys
                    .insert(oid, (name.clone(), table_name, indexed));
                self.added_foreign_keys.insert((table, name.clone()));
            }
            let was_valid = self.validated.insert(oid, valid) == Some(true);
            if valid && !was_valid && pre_existing(&table) {
                validated.push(Validated {
                    name,
                    table,
                    kind,
                    referenced: (referenced != 0).then_some(referenced),
                });
            }
        }
        let mut scanned = BTreeSet::new();
        for &(table, scans) in current.scans.iter().flatten() {
            let before = self.scans.insert(table, scans).unwrap_or(0);
            if scans > before && pre_existing(&table) {
                scanned.insert(table);
            }
        }
        let mut set_not_null = Vec::new();
        for (table, number, column) in current.not_null.into_iter().flatten() {
            let existed = self
                .widths
                .get(&table)
                .is_some_and(|width| number <= *width);
            if self.not_null.insert((table, number)) && existed && pre_existing(&table) {
                set_not_null.push((table, column));
            }
        }
        let (enum_changes, added_columns) =
            self.column_changes(current.columns.unwrap_or_default());
        let unindexed_foreign_keys = self
            .new_foreign_keys
            .iter()
            .filter(|(_, (_, _, indexed))| !indexed)
            .map(|(oid, (name, table, _))| (*oid, name.clone(), table.clone()))
            .collect();
        self.locks = locks.clone();
        self.effects.push(StatementEffect {
            code: statement.code.clone(),
            observed: true,
            locks,
            new_locks,
            rewritten,
            new_indexes,
            validated,
            scanned,
            set_not_null,
            enum_changes,
            added_columns,
            lock_timeout_set: self.lock_timeout_set(current.lock_timeout.as_deref(), statement),
            transaction,
            unindexed_foreign_keys,
            started: Some(started),
            held: Duration::ZERO,
        });
    }

    fn finished(&mut self) {
        self.close_transaction(Instant::now());
    }

    /// `ALTER TYPE … ADD VALUE` is measured from PostgreSQL 12 on, which allows it in a
    /// transaction block (11 and older refuse it there).
    fn must_run_alone(&self, code: &str) -> bool {
        crate::postgres::script::runs_alone(code)
            || (self.version < 120_000 && crate::postgres::script::adds_enum_value(code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strongest_mode_wins() {
        assert_eq!(
            stronger("ShareLock", "AccessExclusiveLock"),
            "AccessExclusiveLock"
        );
        assert_eq!(
            stronger("AccessExclusiveLock", "RowExclusiveLock"),
            "AccessExclusiveLock"
        );
        let locks = vec![
            (1, "AccessShareLock".to_string()),
            (1, "ShareLock".to_string()),
            (2, "RowExclusiveLock".to_string()),
        ];
        let strongest = strongest(&locks);
        assert_eq!(strongest[&1], "ShareLock");
        assert_eq!(strongest[&2], "RowExclusiveLock");
    }
}
