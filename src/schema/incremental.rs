//! Incremental snapshots: re-read only the relations a script can have changed.
//!
//! verify snapshots the same database three or four times per migration, and a
//! migration touches a handful of objects. A full capture deparses every object
//! (`pg_get_indexdef`, `pg_get_constraintdef`, `format_type`, …), so its cost grows
//! with the schema and a long history costs O(n²). This module makes the
//! relation-scoped kinds (tables, views, columns, constraints, indexes, sequences,
//! triggers, policies, rules, statistics objects: nearly all of a schema) cost
//! O(changed relations) plus a cheap scan of catalog row versions:
//!
//! - **Written rows.** Every catalog row inserted or updated since the previous
//!   capture carries an `xmin` the previous capture could not see (PostgreSQL
//!   assigns transaction ids in order; a capture records its snapshot's `xmax`
//!   and the transactions then in progress). [`TOUCHED`] finds those rows in
//!   every catalog the relation-scoped kinds read, maps each to the relation it
//!   belongs to, and adds every relation with an object that depends on a written
//!   row (`pg_depend`): a renamed table, column, type, function, sequence, enum
//!   label, collation or operator class changes the text of every view, default,
//!   constraint, index and trigger that names it.
//! - **Deleted rows** leave no version behind, so [`STATE`] counts, per relation,
//!   the catalog rows that make it up (its indexes, constraints, triggers,
//!   policies, rules, defaults, statistics, inheritance and comments); a count
//!   that differs from the previous capture's marks the relation changed. A
//!   dropped relation is simply absent.
//! - **Names read from shared or global catalogs** (role names in owners and ACLs,
//!   schema names in every qualified name, tablespace names) and extension
//!   membership removed from a relation are not attributed to relations: when
//!   they change, the capture is full ([`Fallback`]), and the report says so.
//!
//! The other kinds (schemas, types, functions, …) are few and are read whole
//! every time, as are the data fingerprints.
//!
//! The full capture stays the reference: `MIGRATION_CHECK_SNAPSHOT_SELF_CHECK=1`
//! makes every incremental capture also run the full one in the same transaction
//! and stop on any difference; the test suite runs every fixture that way.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::options::Uncompared;
use super::{Attributes, ObjectId, Snapshot};

/// The environment variable that makes every incremental capture prove itself
/// against a full one (see the module documentation).
pub const SELF_CHECK_VARIABLE: &str = "MIGRATION_CHECK_SNAPSHOT_SELF_CHECK";

/// What a capture needs from the database to judge what changed since the previous
/// one: the horizon of the previous capture (`$1`, its `xmax` as text, or NULL),
/// per relation the number of catalog rows that make it up, the names that are
/// printed in every object, the number of extension members among relations, and
/// this capture's own horizon. Rows: (what, key, value).
pub const STATE: &str = r"
WITH ns AS (
    SELECT n.oid FROM pg_catalog.pg_namespace n
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND n.nspname NOT LIKE 'pg\_temp\_%' AND n.nspname NOT LIKE 'pg\_toast\_temp\_%'
),
rels AS (
    SELECT c.oid FROM pg_class c JOIN ns n ON n.oid = c.relnamespace
    WHERE c.oid >= 16384 AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
),
parts AS MATERIALIZED (
    SELECT oid AS rel FROM rels
    UNION ALL SELECT indrelid FROM pg_index WHERE indrelid >= 16384
    UNION ALL SELECT conrelid FROM pg_constraint WHERE conrelid >= 16384
    UNION ALL SELECT tgrelid FROM pg_trigger WHERE tgrelid >= 16384
    UNION ALL SELECT polrelid FROM pg_policy
    UNION ALL SELECT ev_class FROM pg_rewrite WHERE ev_class >= 16384
    UNION ALL SELECT adrelid FROM pg_attrdef WHERE adrelid >= 16384
    UNION ALL SELECT stxrelid FROM pg_statistic_ext
    UNION ALL SELECT inhrelid FROM pg_inherits WHERE inhrelid >= 16384
    UNION ALL SELECT {owner:d.classoid:d.objoid} FROM pg_description d
              WHERE d.objoid >= 16384
                AND d.classoid IN ('pg_class'::regclass, 'pg_constraint'::regclass,
                                   'pg_trigger'::regclass, 'pg_policy'::regclass,
                                   'pg_rewrite'::regclass, 'pg_statistic_ext'::regclass)
),
counts AS MATERIALIZED (
    SELECT rel, count(*) AS n FROM parts GROUP BY rel
)
SELECT 'relation', c.rel::text, c.n::text FROM counts c JOIN rels r ON r.oid = c.rel
UNION ALL
SELECT 'names', NULL, md5(concat_ws('|',
    (SELECT string_agg(oid::text || ' ' || rolname, ',' ORDER BY oid) FROM pg_roles),
    (SELECT string_agg(oid::text || ' ' || nspname, ',' ORDER BY oid) FROM pg_namespace),
    (SELECT string_agg(oid::text || ' ' || spcname, ',' ORDER BY oid) FROM pg_tablespace)))
UNION ALL
SELECT 'global', NULL, (
      (SELECT count(*) FROM pg_namespace)
    + (SELECT count(*) FROM pg_extension)
    + (SELECT count(*) FROM pg_type t WHERE t.oid >= 16384 AND t.typrelid = 0
         AND (t.typelem = 0 OR (SELECT e.typrelid FROM pg_type e WHERE e.oid = t.typelem) = 0))
    + (SELECT count(*) FROM pg_class WHERE oid >= 16384 AND relkind = 'c')
    + (SELECT count(*) FROM pg_enum WHERE oid >= 16384)
    + (SELECT count(*) FROM pg_collation WHERE oid >= 16384)
    + (SELECT count(*) FROM pg_proc WHERE oid >= 16384)
    + (SELECT count(*) FROM pg_operator WHERE oid >= 16384)
    + (SELECT count(*) FROM pg_event_trigger)
    + (SELECT count(*) FROM pg_ts_config WHERE oid >= 16384)
    + (SELECT count(*) FROM pg_ts_config_map WHERE mapcfg >= 16384)
    + (SELECT count(*) FROM pg_ts_dict WHERE oid >= 16384)
    + (SELECT count(*) FROM pg_cast WHERE oid >= 16384)
    + (SELECT count(*) FROM pg_default_acl)
    + (SELECT count(*) FROM pg_language)
    + (SELECT count(*) FROM pg_constraint WHERE contypid <> 0)
    + (SELECT count(*) FROM pg_description WHERE objoid >= 16384 OR objoid = 2200)
    + (SELECT count(*) FROM pg_depend WHERE deptype = 'e')
  )::text
UNION ALL
SELECT 'publications', NULL, EXISTS (SELECT 1 FROM pg_publication)::text
UNION ALL
SELECT 'extension_members', NULL, count(*)::text FROM pg_depend
WHERE classid = 'pg_class'::regclass AND objid >= 16384 AND deptype = 'e'
UNION ALL
SELECT 'horizon', (pg_snapshot_xmax(s)::text::int8 % 4294967296)::text,
       '{' || (SELECT coalesce(string_agg((x::text::int8 % 4294967296)::text, ','), '')
               FROM pg_snapshot_xip(s) x) || '}'
FROM pg_current_snapshot() s
UNION ALL
SELECT 'since', NULL, age($1::text::xid)::text WHERE $1 IS NOT NULL";

/// The catalogs whose rows the relation-scoped kinds read, as (catalog, the class
/// of the object a row describes, that object's id, its sub-id, a filter on user
/// objects). A written row of one of them marks its object changed, and with it
/// every object that depends on it.
const WRITTEN: &[(&str, &str, &str, &str, &str)] = &[
    ("pg_class", "'pg_class'", "oid", "0", "oid >= 16384"),
    (
        "pg_attribute",
        "'pg_class'",
        "attrelid",
        "attnum",
        "attrelid >= 16384",
    ),
    (
        "pg_index",
        "'pg_class'",
        "indexrelid",
        "0",
        "indexrelid >= 16384",
    ),
    (
        "pg_inherits",
        "'pg_class'",
        "inhrelid",
        "0",
        "inhrelid >= 16384",
    ),
    (
        "pg_sequence",
        "'pg_class'",
        "seqrelid",
        "0",
        "seqrelid >= 16384",
    ),
    ("pg_foreign_table", "'pg_class'", "ftrelid", "0", "true"),
    (
        "pg_partitioned_table",
        "'pg_class'",
        "partrelid",
        "0",
        "true",
    ),
    ("pg_type", "'pg_type'", "oid", "0", "oid >= 16384"),
    ("pg_enum", "'pg_type'", "enumtypid", "0", "oid >= 16384"),
    ("pg_proc", "'pg_proc'", "oid", "0", "oid >= 16384"),
    (
        "pg_constraint",
        "'pg_constraint'",
        "oid",
        "0",
        "oid >= 16384",
    ),
    ("pg_trigger", "'pg_trigger'", "oid", "0", "oid >= 16384"),
    ("pg_policy", "'pg_policy'", "oid", "0", "true"),
    ("pg_rewrite", "'pg_rewrite'", "oid", "0", "oid >= 16384"),
    ("pg_attrdef", "'pg_attrdef'", "oid", "0", "oid >= 16384"),
    ("pg_statistic_ext", "'pg_statistic_ext'", "oid", "0", "true"),
    ("pg_collation", "'pg_collation'", "oid", "0", "true"),
    ("pg_operator", "'pg_operator'", "oid", "0", "oid >= 16384"),
    ("pg_opclass", "'pg_opclass'", "oid", "0", "true"),
    ("pg_opfamily", "'pg_opfamily'", "oid", "0", "true"),
    ("pg_am", "'pg_am'", "oid", "0", "true"),
    ("pg_ts_config", "'pg_ts_config'", "oid", "0", "true"),
    ("pg_ts_dict", "'pg_ts_dict'", "oid", "0", "true"),
    (
        "pg_foreign_server",
        "'pg_foreign_server'",
        "oid",
        "0",
        "true",
    ),
    ("pg_extension", "'pg_extension'", "oid", "0", "true"),
    ("pg_namespace", "'pg_namespace'", "oid", "0", "true"),
    (
        "pg_aggregate",
        "'pg_proc'",
        "aggfnoid",
        "0",
        "aggfnoid >= 16384",
    ),
    ("pg_language", "'pg_language'", "oid", "0", "true"),
    (
        "pg_range",
        "'pg_type'",
        "rngtypid",
        "0",
        "rngtypid >= 16384",
    ),
    ("pg_event_trigger", "'pg_event_trigger'", "oid", "0", "true"),
    (
        "pg_ts_config_map",
        "'pg_ts_config'",
        "mapcfg",
        "0",
        "mapcfg >= 16384",
    ),
    ("pg_cast", "'pg_cast'", "oid", "0", "oid >= 16384"),
    ("pg_default_acl", "'pg_default_acl'", "oid", "0", "true"),
    // The public schema (OID 2200) is a user's to comment on.
    (
        "pg_description",
        "classoid",
        "objoid",
        "0",
        "(objoid >= 16384 OR objoid = 2200)",
    ),
    ("pg_depend", "classid", "objid", "0", "objid >= 16384"),
];

/// The relation an object of class `classid` and id `objid` belongs to (an index or
/// a TOAST table to its table, a constraint, trigger, policy, rule, default or
/// statistics object to its relation), NULL for objects that belong to none.
const OWNER: &str = "CASE {classid}
    WHEN 'pg_class'::regclass THEN coalesce(
        (SELECT own.indrelid FROM pg_index own WHERE own.indexrelid = {objid}),
        (SELECT own.oid FROM pg_class own WHERE own.reltoastrelid = {objid}
           AND EXISTS (SELECT 1 FROM pg_class toast WHERE toast.oid = {objid} AND toast.relkind = 't')),
        {objid})
    WHEN 'pg_constraint'::regclass THEN (SELECT NULLIF(own.conrelid, 0) FROM pg_constraint own WHERE own.oid = {objid})
    WHEN 'pg_trigger'::regclass THEN (SELECT own.tgrelid FROM pg_trigger own WHERE own.oid = {objid})
    WHEN 'pg_policy'::regclass THEN (SELECT own.polrelid FROM pg_policy own WHERE own.oid = {objid})
    WHEN 'pg_rewrite'::regclass THEN (SELECT own.ev_class FROM pg_rewrite own WHERE own.oid = {objid})
    WHEN 'pg_attrdef'::regclass THEN (SELECT own.adrelid FROM pg_attrdef own WHERE own.oid = {objid})
    WHEN 'pg_statistic_ext'::regclass THEN (SELECT own.stxrelid FROM pg_statistic_ext own WHERE own.oid = {objid})
    END";

/// Whether the object `classid`/`objid` is read by the kinds that belong to no relation
/// (schemas, types, functions, …): every object but relations and their parts, a
/// relation's row type and its array type.
const GLOBAL: &str = "CASE {classid}
    WHEN 'pg_class'::regclass THEN EXISTS (
        SELECT 1 FROM pg_class own WHERE own.oid = {objid} AND own.relkind = 'c')
    WHEN 'pg_type'::regclass THEN NOT EXISTS (
        SELECT 1 FROM pg_type own
        LEFT JOIN pg_type element ON element.oid = own.typelem
        JOIN pg_class rel ON rel.oid IN (own.typrelid, element.typrelid)
        WHERE own.oid = {objid} AND rel.relkind <> 'c')
    WHEN 'pg_constraint'::regclass THEN EXISTS (
        SELECT 1 FROM pg_constraint own WHERE own.oid = {objid} AND own.conrelid = 0)
    WHEN 'pg_trigger'::regclass THEN false
    WHEN 'pg_policy'::regclass THEN false
    WHEN 'pg_rewrite'::regclass THEN false
    WHEN 'pg_attrdef'::regclass THEN false
    WHEN 'pg_statistic_ext'::regclass THEN false
    ELSE true
    END";

/// [`OWNER`] of the object `classid`/`objid` (SQL expressions).
fn owner_sql(classid: &str, objid: &str) -> String {
    OWNER
        .replace("{classid}", classid)
        .replace("{objid}", objid)
}

/// [`STATE`] with its owner expression spelled out.
pub fn state_sql() -> String {
    STATE.replace(
        "{owner:d.classoid:d.objoid}",
        &owner_sql("d.classoid", "d.objoid"),
    )
}

/// The relations changed since the previous capture: `$1` is the age of the previous
/// capture's `xmax` (from [`STATE`]), `$2` the transactions in progress then (text,
/// `{…}`). Rows: the relation a written object or one depending on it belongs to (NULL
/// for none), and whether the object is read by the kinds that belong to no relation.
pub fn touched_sql() -> String {
    let written: Vec<String> = WRITTEN
        .iter()
        .map(|(catalog, classid, objid, objsubid, user)| {
            let classid = if classid.starts_with('\'') {
                format!("{classid}::regclass::oid")
            } else {
                (*classid).to_string()
            };
            format!(
                "SELECT {classid} AS classid, {objid} AS objid, {objsubid}::int2 AS objsubid \
                 FROM pg_catalog.{catalog} \
                 WHERE {user} AND (age(xmin) <= $1::int4 OR xmin = ANY($2::text::xid[]))"
            )
        })
        .collect();
    format!(
        "WITH written AS MATERIALIZED (\n{}\n),
touched AS (
    SELECT classid, objid FROM written
    UNION
    SELECT d.classid, d.objid FROM written w,
    LATERAL (SELECT d.classid, d.objid FROM pg_depend d
             WHERE d.refclassid = w.classid AND d.refobjid = w.objid
               AND (w.objsubid = 0 OR d.refobjsubid IN (0, w.objsubid))
             OFFSET 0) d
)
SELECT DISTINCT {}, {} FROM touched t",
        written.join("\nUNION ALL "),
        owner_sql("t.classid", "t.objid"),
        GLOBAL
            .replace("{classid}", "t.classid")
            .replace("{objid}", "t.objid")
    )
}

/// What [`STATE`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// Catalog rows per relation.
    pub parts: HashMap<u32, i64>,
    /// Digest of role, schema and tablespace names.
    pub names: String,
    /// Relations that belong to an extension.
    pub extension_members: i64,
    /// Catalog rows read by the kinds that belong to no relation.
    pub global: i64,
    /// Whether a publication exists (its tables change with every relation).
    pub publications: bool,
    /// This capture's horizon: its `xmax` (text, 32 bits)…
    pub xmax: String,
    /// …and the transactions then in progress (`{…}`, an `xid[]` as text).
    pub running: String,
    /// Age of the previous capture's `xmax`, when one was given.
    pub since: Option<i32>,
}

impl State {
    /// Reads [`STATE`]'s rows: (what, key, value).
    pub fn from_rows(rows: &[tokio_postgres::Row]) -> State {
        let mut state = State {
            parts: HashMap::new(),
            names: String::new(),
            extension_members: 0,
            global: 0,
            publications: false,
            xmax: String::new(),
            running: "{}".into(),
            since: None,
        };
        for row in rows {
            let (what, key, value): (&str, Option<&str>, Option<&str>) =
                (row.get(0), row.get(1), row.get(2));
            let value = value.unwrap_or_default();
            match what {
                "relation" => {
                    if let (Some(rel), Ok(count)) =
                        (key.and_then(|k| k.parse().ok()), value.parse())
                    {
                        state.parts.insert(rel, count);
                    }
                }
                "names" => state.names = value.to_string(),
                "extension_members" => state.extension_members = value.parse().unwrap_or(0),
                "global" => state.global = value.parse().unwrap_or(-1),
                "publications" => state.publications = value == "true",
                "horizon" => {
                    state.xmax = key.unwrap_or_default().to_string();
                    state.running = value.to_string();
                }
                "since" => state.since = value.parse().ok(),
                _ => {}
            }
        }
        state
    }
}

/// Why a capture that could have been incremental read everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// A role, schema or tablespace was created, renamed or dropped.
    Names,
    /// A relation stopped being an extension member.
    ExtensionMembers,
    /// The transaction ids wrapped around since the previous capture.
    Horizon,
}

/// How one capture reads the relation-scoped kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Everything (first capture, or a [`Fallback`]).
    Full(Option<Fallback>),
    /// Only these relations (sorted), and the kinds that belong to no relation when
    /// `global`; the rest is the previous capture's.
    Changed { relations: Vec<u32>, global: bool },
}

/// The objects of one relation in a capture, with what was left uncompared on them.
#[derive(Debug, Clone, Default)]
pub struct RelationObjects {
    pub objects: Vec<(ObjectId, Attributes)>,
    pub uncompared: Vec<(ObjectId, Uncompared)>,
}

/// The previous capture of the same database, as an incremental capture needs it.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub state: State,
    /// The relation-scoped objects, by the relation they belong to.
    pub relations: HashMap<u32, RelationObjects>,
    /// The objects that belong to no relation.
    pub global: RelationObjects,
}

impl Baseline {
    /// What must be read again, given the new [`State`] (before [`TOUCHED`] ran:
    /// `None` when the capture must be full anyway).
    pub fn fallback(&self, now: &State) -> Option<Fallback> {
        if self.state.names != now.names {
            Some(Fallback::Names)
        } else if now.extension_members < self.state.extension_members {
            Some(Fallback::ExtensionMembers)
        } else if now.since.is_none_or(|age| age < 0) {
            Some(Fallback::Horizon)
        } else {
            None
        }
    }

    /// What to read again, from [`TOUCHED`]'s rows (owner, global): the relations it
    /// names, those whose catalog row count changed and the new ones (sorted, without
    /// duplicates); and the kinds that belong to no relation when an object of theirs
    /// was written or depends on one written, when their row count changed, or when a
    /// publication exists.
    pub fn changed(
        &self,
        now: &State,
        touched: impl IntoIterator<Item = (Option<u32>, bool)>,
    ) -> Plan {
        let mut global = now.publications || now.global != self.state.global;
        let mut changed = HashSet::new();
        for (owner, is_global) in touched {
            global |= is_global;
            if let Some(rel) = owner.filter(|rel| now.parts.contains_key(rel)) {
                changed.insert(rel);
            }
        }
        for (rel, count) in &now.parts {
            if self.state.parts.get(rel) != Some(count) {
                changed.insert(*rel);
            }
        }
        let mut relations: Vec<u32> = changed.into_iter().collect();
        relations.sort_unstable();
        Plan::Changed { relations, global }
    }
}

/// One row of a capture: an object, the relation it belongs to (if relation-scoped)
/// and what was left uncompared on it.
pub struct CapturedObject {
    pub id: ObjectId,
    pub attributes: Attributes,
    pub owner: Option<u32>,
    pub uncompared: Uncompared,
}

/// Builds the snapshot and the next baseline from a capture's rows: for a
/// [`Plan::Changed`] capture the relation-scoped objects of unchanged relations are
/// the previous baseline's, those of changed relations are the rows read.
pub fn assemble(
    rows: Vec<CapturedObject>,
    state: State,
    previous: Option<Baseline>,
    plan: &Plan,
) -> (Snapshot, Baseline) {
    let mut relations: HashMap<u32, RelationObjects> = HashMap::new();
    let mut global = RelationObjects::default();
    if let (
        Plan::Changed {
            relations: changed,
            global: global_changed,
        },
        Some(previous),
    ) = (plan, previous)
    {
        let changed: HashSet<u32> = changed.iter().copied().collect();
        for (rel, objects) in previous.relations {
            if state.parts.contains_key(&rel) && !changed.contains(&rel) {
                relations.insert(rel, objects);
            }
        }
        if !global_changed {
            global = previous.global;
        }
    }
    let mut objects = BTreeMap::new();
    let mut uncompared = Uncompared::new();
    let merge = |uncompared: &mut Uncompared, more: &Uncompared| {
        for (what, names) in more {
            uncompared
                .entry(what.clone())
                .or_default()
                .extend(names.iter().cloned());
        }
    };
    for kept in relations.values().chain([&global]) {
        for (id, attributes) in &kept.objects {
            objects.insert(id.clone(), attributes.clone());
        }
        for (_, more) in &kept.uncompared {
            merge(&mut uncompared, more);
        }
    }
    for row in rows {
        merge(&mut uncompared, &row.uncompared);
        let entry = match row.owner {
            Some(rel) => relations.entry(rel).or_default(),
            None => &mut global,
        };
        entry.objects.push((row.id.clone(), row.attributes.clone()));
        if !row.uncompared.is_empty() {
            entry.uncompared.push((row.id.clone(), row.uncompared));
        }
        let previous = objects.insert(row.id, row.attributes);
        debug_assert!(previous.is_none(), "duplicate object in a capture");
    }
    (
        Snapshot {
            objects,
            uncompared,
        },
        Baseline {
            state,
            relations,
            global,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(parts: &[(u32, i64)]) -> State {
        State {
            parts: parts.iter().copied().collect(),
            names: "n".into(),
            extension_members: 1,
            global: 7,
            publications: false,
            xmax: "100".into(),
            running: "{}".into(),
            since: Some(3),
        }
    }

    #[test]
    fn changed_relations_are_touched_counted_differently_or_new() {
        let baseline = Baseline {
            state: state(&[(1, 3), (2, 5), (3, 1)]),
            relations: HashMap::new(),
            global: RelationObjects::default(),
        };
        // 2 lost a row (a dropped index), 4 is new, 3 was dropped, 1 was touched,
        // 9 was touched but no longer exists.
        let mut now = state(&[(1, 3), (2, 4), (4, 1)]);
        let plan = |global| Plan::Changed {
            relations: vec![1, 2, 4],
            global,
        };
        let touched = [(Some(1), false), (Some(9), false), (None, false)];
        assert_eq!(baseline.changed(&now, touched), plan(false));
        assert_eq!(baseline.fallback(&now), None);
        // A function was written; a global row was deleted; a publication exists.
        assert_eq!(
            baseline.changed(&now, [(Some(1), false), (Some(2), false), (Some(4), true)]),
            plan(true)
        );
        now.global = 6;
        assert_eq!(baseline.changed(&now, touched), plan(true));
        now.global = 7;
        now.publications = true;
        assert_eq!(baseline.changed(&now, touched), plan(true));
    }

    #[test]
    fn names_extension_members_and_horizon_force_a_full_capture() {
        let baseline = Baseline {
            state: state(&[]),
            relations: HashMap::new(),
            global: RelationObjects::default(),
        };
        let mut now = state(&[]);
        now.names = "renamed".into();
        assert_eq!(baseline.fallback(&now), Some(Fallback::Names));
        let mut now = state(&[]);
        now.extension_members = 0;
        assert_eq!(baseline.fallback(&now), Some(Fallback::ExtensionMembers));
        now.extension_members = 2;
        assert_eq!(baseline.fallback(&now), None);
        now.since = Some(-5);
        assert_eq!(baseline.fallback(&now), Some(Fallback::Horizon));
    }

    #[test]
    fn the_generated_sql_names_every_catalog_once() {
        let sql = touched_sql();
        for (catalog, ..) in WRITTEN {
            assert_eq!(
                sql.matches(&format!("FROM pg_catalog.{catalog} ")).count(),
                1,
                "{catalog}"
            );
        }
        assert!(!state_sql().contains("{owner"));
        assert!(!sql.contains("{classid}") && !sql.contains("{objid}"));
    }
}
