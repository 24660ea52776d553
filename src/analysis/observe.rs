//! What each statement of a script did to the relations that existed before it, measured
//! by a query run right after the statement in its own transaction ([`Observer`], the
//! script runner's [`StatementObserver`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio_postgres::Client;

use super::LockFinding;
use super::rules::{self, Hit};
use crate::migrations::Script;
use crate::migrations::lexer::{self, Statement};
use crate::postgres::runner::StatementObserver;

/// The relations that exist before the script: tables, partitioned tables, materialized
/// views and indexes outside the system schemas.
const RELATIONS: &str = "\
SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname), c.relkind::text,
       (SELECT i.indrelid FROM pg_catalog.pg_index i WHERE i.indexrelid = c.oid)
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid >= 16384 AND c.relkind IN ('r', 'p', 'm', 'i', 'I')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

/// A pre-existing relation.
#[derive(Debug, Clone)]
pub struct Relation {
    /// `schema.name`, quoted where needed.
    pub name: String,
    /// `pg_class.relkind`.
    pub kind: char,
    /// An index's table.
    pub table: Option<u32>,
}

/// The relations that existed before the script, by OID.
pub type Relations = HashMap<u32, Relation>;

/// One observation: the state of the pre-existing relations in the statement's transaction.
#[derive(Debug, Clone, Default, Deserialize)]
struct Observation {
    /// `transaction_timestamp()`: tells one transaction from the next.
    transaction: String,
    /// (relation, mode) of every lock our backend holds on them.
    #[serde(default)]
    locks: Option<Vec<(u32, String)>>,
    /// (relation, relfilenode).
    #[serde(default)]
    files: Option<Vec<(u32, u32)>>,
    /// (table, sequential and index scans in this transaction).
    #[serde(default)]
    scans: Option<Vec<(u32, i64)>>,
    /// (index, table, name) of every index on them.
    #[serde(default)]
    indexes: Option<Vec<(u32, u32, String)>>,
    /// Their CHECK and FOREIGN KEY constraints.
    #[serde(default)]
    constraints: Option<Vec<ConstraintRow>>,
    /// (table, column number, column name) of their NOT NULL columns.
    #[serde(default)]
    not_null: Option<Vec<(u32, i32, String)>>,
    /// (table, highest column number) of each.
    #[serde(default)]
    widths: Option<Vec<(u32, i32)>>,
    /// Whether the script set `lock_timeout` itself (our own is a startup option).
    #[serde(default)]
    lock_timeout_set: bool,
    /// (oid, name, table) of every foreign key in the database whose referencing columns
    /// lead no index.
    #[serde(default)]
    unindexed: Option<Vec<(u32, String, String)>>,
}

/// (oid, table, type, validated, name, referenced table) of a constraint.
type ConstraintRow = (u32, u32, String, bool, String, u32);

/// A CHECK or FOREIGN KEY constraint a statement added validated, or validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    pub name: String,
    pub table: u32,
    /// `c` (CHECK) or `f` (FOREIGN KEY).
    pub kind: char,
    /// The referenced table of a foreign key.
    pub referenced: Option<u32>,
}

/// An index a statement built on a pre-existing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIndex {
    /// Its name, as `regclass` prints it.
    pub name: String,
    pub table: u32,
}

/// What one statement did, measured after it ran.
#[derive(Debug, Clone, Default)]
pub struct StatementEffect {
    /// The statement's code within the script.
    pub code: Range<usize>,
    /// Whether it was measured at all (a statement that must run alone is not).
    pub observed: bool,
    /// The strongest lock held on each pre-existing relation after it, in its transaction.
    pub locks: BTreeMap<u32, String>,
    /// The locks it took, or made stronger.
    pub new_locks: BTreeMap<u32, String>,
    /// Pre-existing relations that got a new file (rewritten).
    pub rewritten: Vec<u32>,
    /// The indexes it built on pre-existing tables: their names did not exist before (an
    /// index rebuilt by a rewrite keeps its name, and is the rewrite's business).
    pub new_indexes: Vec<NewIndex>,
    /// The constraints it added validated, or validated.
    pub validated: Vec<Validated>,
    /// Pre-existing tables it scanned.
    pub scanned: BTreeSet<u32>,
    /// (table, column) of pre-existing columns it made NOT NULL.
    pub set_not_null: Vec<(u32, String)>,
    /// Whether the script had set `lock_timeout` when it ran.
    pub lock_timeout_set: bool,
    /// Which transaction of the script it ran in (0, 1, …): statements in the same one
    /// share its locks until it ends.
    pub transaction: usize,
    /// How long it ran.
    pub elapsed: Duration,
    /// Foreign keys added by the script so far whose referencing columns lead no index:
    /// (oid, name, table).
    pub unindexed_foreign_keys: Vec<(u32, String, String)>,
    pub(crate) started: Option<Instant>,
    /// How long its locks were held: from its start until its transaction ended.
    pub held: Duration,
}

/// Measures each statement of one script (see the [module](self)).
pub struct Observer {
    relations: Relations,
    /// The OIDs of `relations` as an array literal, for the observation query.
    oids: String,
    previous: Observation,
    effects: Vec<StatementEffect>,
    /// Effects whose transaction has not ended yet (their `held` is open).
    open_from: usize,
    /// How many transactions the script has started so far.
    transactions: usize,
    /// Foreign keys without an index before the script.
    unindexed_before: BTreeSet<u32>,
    /// Foreign keys added by the script and still without an index after it (see
    /// [`Observer::conclude`]).
    unindexed_after: Option<BTreeSet<u32>>,
}

impl Observer {
    /// Reads the relations that exist now, before the script runs, on `client` (outside a
    /// transaction); only those in `within` when given (a down script is measured on what
    /// existed before its migration's up: dropping what the migration itself created is
    /// what a down is for).
    pub async fn start(
        client: &Client,
        within: Option<&BTreeSet<u32>>,
    ) -> Result<Self, tokio_postgres::Error> {
        let relations: Relations = client
            .query(RELATIONS, &[])
            .await?
            .into_iter()
            .filter(|row| within.is_none_or(|within| within.contains(&row.get::<_, u32>(0))))
            .map(|row| {
                let kind: String = row.get(2);
                (
                    row.get::<_, u32>(0),
                    Relation {
                        name: row.get(1),
                        kind: kind.chars().next().unwrap_or('r'),
                        table: row.get(3),
                    },
                )
            })
            .collect();
        let mut oids: Vec<u32> = relations.keys().copied().collect();
        oids.sort_unstable();
        let oids = format!(
            "'{{{}}}'::pg_catalog.oid[]",
            oids.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
        let mut observer = Observer {
            relations,
            oids,
            previous: Observation::default(),
            effects: Vec::new(),
            open_from: 0,
            transactions: 0,
            unindexed_before: BTreeSet::new(),
            unindexed_after: None,
        };
        let row = client.query_one(&observer.query(), &[]).await?;
        observer.previous = serde_json::from_str(row.get(0)).unwrap_or_default();
        observer.unindexed_before = observer
            .previous
            .unindexed
            .iter()
            .flatten()
            .map(|(oid, _, _)| *oid)
            .collect();
        // The baseline's transaction is over: the script's first statement starts anew.
        observer.previous.transaction.clear();
        observer.previous.locks = None;
        observer.previous.scans = None;
        Ok(observer)
    }

    /// The relations measured: those that existed before the script.
    pub fn relation_oids(&self) -> BTreeSet<u32> {
        self.relations.keys().copied().collect()
    }

    /// After the script (outside its transaction): which of the foreign keys it added still
    /// lead no index, whatever statement (measured or not) added one meanwhile.
    pub async fn conclude(&mut self, client: &Client) -> Result<(), tokio_postgres::Error> {
        let row = client.query_one(&self.query(), &[]).await?;
        let last: Observation = serde_json::from_str(row.get(0)).unwrap_or_default();
        self.unindexed_after = Some(
            last.unindexed
                .iter()
                .flatten()
                .map(|(oid, _, _)| *oid)
                .filter(|oid| !self.unindexed_before.contains(oid))
                .collect(),
        );
        Ok(())
    }

    /// The findings of the rules over every statement measured, for `script` (the up or the
    /// down: `which`).
    pub fn findings(&self, script: &Script, which: super::Script) -> Vec<LockFinding> {
        let file = script.path.display().to_string();
        let mut findings = Vec::new();
        for (index, effect) in self.effects.iter().enumerate() {
            for rule in rules::ALL {
                for Hit {
                    relation,
                    named,
                    mode,
                    rewrite,
                    evidence,
                } in rule.check(&rules::Context {
                    effects: &self.effects,
                    index,
                    relations: &self.relations,
                    unindexed_after: self.unindexed_after.as_ref(),
                }) {
                    let (line, column) = lexer::line_col(&script.sql, effect.code.start);
                    let line = script.line_offset + line;
                    let text = &script.sql[effect.code.clone()];
                    let first_line = text.lines().next().unwrap_or_default();
                    let statement = if first_line.chars().count() > 120 || text.contains('\n') {
                        format!("{} …", first_line.chars().take(120).collect::<String>())
                    } else {
                        first_line.to_string()
                    };
                    let file_text = format!("{}{}", "\n".repeat(script.line_offset), script.sql);
                    findings.push(LockFinding {
                        rule: rule.id().into(),
                        title: rule.title().into(),
                        file: file.clone(),
                        line,
                        column,
                        statement,
                        relation: named.unwrap_or_else(|| {
                            self.relations
                                .get(&relation)
                                .map_or_else(|| relation.to_string(), |r| r.name.clone())
                        }),
                        blocks: mode
                            .as_deref()
                            .map_or(super::Blocks::Nothing, super::blocks),
                        mode,
                        held_ms: effect.held.as_millis().try_into().unwrap_or(u64::MAX),
                        rewrite,
                        evidence,
                        why: rule.why().into(),
                        safe_rewrite: rule.safe_rewrite().into(),
                        allowed: super::allowed(&file_text, line, rule.id()),
                        severity: super::Level::Warning,
                        script: which,
                    });
                }
            }
        }
        findings
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
        let oids = &self.oids;
        format!(
            "SELECT pg_catalog.json_build_object(\
             'transaction', pg_catalog.transaction_timestamp()::text, \
             'locks', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(l.relation::pg_catalog.int8, l.mode)) \
                FROM pg_catalog.pg_locks l WHERE l.pid = pg_catalog.pg_backend_pid() \
                AND l.locktype = 'relation' AND l.granted AND l.relation = ANY ({oids})), \
             'files', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(c.oid::pg_catalog.int8, c.relfilenode::pg_catalog.int8)) \
                FROM pg_catalog.pg_class c WHERE c.oid = ANY ({oids})), \
             'scans', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(s.relid::pg_catalog.int8, \
                s.seq_scan + COALESCE(s.idx_scan, 0))) \
                FROM pg_catalog.pg_stat_xact_all_tables s WHERE s.relid = ANY ({oids})), \
             'indexes', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(i.indexrelid::pg_catalog.int8, i.indrelid::pg_catalog.int8, \
                i.indexrelid::pg_catalog.regclass::text)) \
                FROM pg_catalog.pg_index i WHERE i.indrelid = ANY ({oids})), \
             'constraints', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(k.oid::pg_catalog.int8, k.conrelid::pg_catalog.int8, \
                k.contype::text, k.convalidated, k.conname, k.confrelid::pg_catalog.int8)) \
                FROM pg_catalog.pg_constraint k WHERE k.contype IN ('c', 'f') \
                AND k.conrelid = ANY ({oids})), \
             'not_null', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(a.attrelid::pg_catalog.int8, \
                a.attnum, a.attname)) FROM pg_catalog.pg_attribute a WHERE a.attrelid = ANY ({oids}) \
                AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull), \
             'widths', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(a.attrelid::pg_catalog.int8, \
                a.width)) FROM (SELECT attrelid, pg_catalog.max(attnum) AS width \
                FROM pg_catalog.pg_attribute WHERE attrelid = ANY ({oids}) GROUP BY attrelid) a), \
             'lock_timeout_set', (SELECT s.source = 'session' FROM pg_catalog.pg_settings s \
                WHERE s.name = 'lock_timeout'), \
             'unindexed', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(k.oid::pg_catalog.int8, \
                k.conname, k.conrelid::pg_catalog.regclass::text)) \
                FROM pg_catalog.pg_constraint k WHERE k.contype = 'f' AND NOT EXISTS ( \
                SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = k.conrelid \
                AND (pg_catalog.string_to_array(i.indkey::text, ' ')::pg_catalog.int2[]) \
                    [1:pg_catalog.array_length(k.conkey, 1)] OPERATOR(pg_catalog.@>) k.conkey)) \
             )::text AS migration_check_observation"
        )
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
                elapsed,
                transaction: self.transactions,
                lock_timeout_set: true,
                ..Default::default()
            });
            self.transactions += 1;
            self.close_transaction(now);
            // Whatever it did, the next statement's transaction is another one.
            self.previous.transaction.clear();
            return;
        };
        let same_transaction = current.transaction == self.previous.transaction;
        if !same_transaction {
            self.close_transaction(started);
            self.transactions += 1;
        }
        let transaction = self.transactions - 1;
        let before_locks = if same_transaction {
            strongest(self.previous.locks.as_deref().unwrap_or_default())
        } else {
            BTreeMap::new()
        };
        let locks = strongest(current.locks.as_deref().unwrap_or_default());
        let new_locks = locks
            .iter()
            .filter(|(relation, mode)| {
                before_locks
                    .get(relation)
                    .is_none_or(|before| stronger(before, mode) != before.as_str())
            })
            .map(|(relation, mode)| (*relation, mode.clone()))
            .collect();
        let files_before: HashMap<u32, u32> =
            self.previous.files.iter().flatten().copied().collect();
        let rewritten = current
            .files
            .iter()
            .flatten()
            .filter(|(relation, file)| {
                files_before
                    .get(relation)
                    .is_some_and(|before| before != file)
            })
            .map(|(relation, _)| *relation)
            .collect();
        let indexes_before: BTreeSet<(&str, u32)> = self
            .previous
            .indexes
            .iter()
            .flatten()
            .map(|(_, table, name)| (name.as_str(), *table))
            .collect();
        let new_indexes = current
            .indexes
            .iter()
            .flatten()
            .filter(|(_, table, name)| !indexes_before.contains(&(name.as_str(), *table)))
            .map(|(_, table, name)| NewIndex {
                name: name.clone(),
                table: *table,
            })
            .collect();
        let validated_before: HashMap<u32, bool> = self
            .previous
            .constraints
            .iter()
            .flatten()
            .map(|(oid, _, _, validated, _, _)| (*oid, *validated))
            .collect();
        let validated = current
            .constraints
            .iter()
            .flatten()
            .filter(|(oid, _, _, validated, _, _)| {
                *validated && validated_before.get(oid) != Some(&true)
            })
            .map(|(_, table, kind, _, name, referenced)| Validated {
                name: name.clone(),
                table: *table,
                kind: kind.chars().next().unwrap_or('c'),
                referenced: (*referenced != 0).then_some(*referenced),
            })
            .collect();
        let scans_before: HashMap<u32, i64> = if same_transaction {
            self.previous.scans.iter().flatten().copied().collect()
        } else {
            HashMap::new()
        };
        let scanned = current
            .scans
            .iter()
            .flatten()
            .filter(|(table, scans)| *scans > scans_before.get(table).copied().unwrap_or(0))
            .map(|(table, _)| *table)
            .collect();
        let not_null_before: BTreeSet<(u32, i32)> = self
            .previous
            .not_null
            .iter()
            .flatten()
            .map(|(table, number, _)| (*table, *number))
            .collect();
        let widths_before: HashMap<u32, i32> =
            self.previous.widths.iter().flatten().copied().collect();
        let set_not_null = current
            .not_null
            .iter()
            .flatten()
            .filter(|(table, number, _)| {
                !not_null_before.contains(&(*table, *number))
                    && widths_before
                        .get(table)
                        .is_some_and(|width| number <= width)
            })
            .map(|(table, _, column)| (*table, column.clone()))
            .collect();
        let unindexed_foreign_keys = current
            .unindexed
            .iter()
            .flatten()
            .filter(|(oid, _, _)| !self.unindexed_before.contains(oid))
            .cloned()
            .collect();
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
            lock_timeout_set: current.lock_timeout_set,
            transaction,
            elapsed,
            unindexed_foreign_keys,
            started: Some(started),
            held: Duration::ZERO,
        });
        self.previous = current;
    }

    fn finished(&mut self) {
        self.close_transaction(Instant::now());
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
