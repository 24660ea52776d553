//! Incremental snapshots: re-read only what a script can have changed.
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
//!   and the transactions then in progress). [`touched_sql`] finds those rows in
//!   every catalog the snapshot reads ([`WATCHED`]), maps each to the relation it
//!   belongs to, or to the kinds that belong to no relation, and adds every object
//!   that depends on a written row (`pg_depend`): a renamed table, column, type,
//!   function, sequence, enum label, collation, operator class, text search object or
//!   foreign server changes the text of every view, default, constraint, index,
//!   trigger and cast that names it.
//! - **Deleted rows** leave no version behind, so [`STATE`] counts, per relation,
//!   the catalog rows that make it up (its indexes, constraints, triggers,
//!   policies, rules, defaults, statistics, inheritance and comments); a count
//!   that differs from the previous capture's marks the relation changed. A
//!   dropped relation is simply absent. For the kinds that belong to no relation it
//!   counts the rows of each catalog they read, one count per catalog
//!   (`pg_cast=2,pg_proc=14,…`), so that a row deleted from one catalog and one
//!   inserted into another cannot cancel out.
//! - **Names read from shared or global catalogs** (role names in owners and ACLs,
//!   schema names in every qualified name, tablespace names) and extension
//!   membership removed from a relation are not attributed to relations: when
//!   they change, the capture is full ([`Fallback`]), and the report says so.
//!
//! The kinds that belong to no relation (schemas, extensions, types and domain
//! constraints, functions and aggregates, collations, operators, operator classes and
//! families, casts, text search configurations, dictionaries, parsers and templates,
//! event triggers, publications, subscriptions, foreign-data wrappers, foreign servers,
//! user mappings, default privileges, languages, access methods and this database's
//! settings) are few and are read again, whole, when one of their rows, or an object
//! depending on one, was written, or when the row count of one of their catalogs
//! changed; and at every capture while a publication exists (the tables it publishes
//! follow every relation) or, for a session that may not read `pg_user_mapping` or
//! `pg_subscription` whole (see [`super::catalogs`]), while one of those has rows. Data
//! fingerprints are taken every time.
//!
//! **Every catalog is watched by construction, not by a list kept by hand.** [`WATCHED`]
//! names each catalog the snapshot reads with how a written row is attributed, how its
//! deleted rows are noticed ([`Deleted`]), the first major that has it
//! (`pg_publication_namespace` from PostgreSQL 15: the SQL is generated per
//! `server_version_num`), and what a session that may not read it reads instead. Shared
//! catalogs (`pg_subscription`, `pg_db_role_setting`) are watched for this database's
//! rows only. A test of `snapshot` extracts every `pg_*` catalog named after FROM or JOIN
//! in every per-kind query, those read by the views they name and by the deparsing
//! functions they call, on every supported major and for superusers and others, and
//! fails on any catalog that is not watched (or exempt, with a reason: role and
//! tablespace names are in the names digest, this database's OID never changes), and on
//! one read by a kind that belongs to no relation whose deleted rows are not counted.
//!
//! The full capture stays the reference: `MIGRATION_CHECK_SNAPSHOT_SELF_CHECK=1`
//! makes every incremental capture also run the full one in the same transaction
//! and stop on any difference; the test suite runs every fixture that way, and
//! `tests/incremental_snapshots.rs` runs random DDL over every kind and a fixed
//! lifecycle of each kind on every supported major.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::catalogs::Catalogs;
use super::options::Uncompared;
use super::{Attributes, ObjectId, Snapshot};

/// The environment variable that makes every incremental capture prove itself
/// against a full one (see the module documentation).
pub const SELF_CHECK_VARIABLE: &str = "MIGRATION_CHECK_SNAPSHOT_SELF_CHECK";

/// What a capture needs from the database to judge what changed since the previous
/// one: the horizon of the previous capture (`$1`, its `xmax` as text, or NULL),
/// per relation the number of catalog rows that make it up, the names that are
/// printed in every object, per catalog the number of rows the kinds that belong to no
/// relation read (`{global}`, see [`WATCHED`]), whether those kinds must be read anyway
/// (`{reread}`), the number of extension members among relations, and this capture's
/// own horizon. Rows: (what, key, value).
const STATE: &str = r"
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
SELECT 'global', NULL, concat_ws(',',
{global})
UNION ALL
SELECT 'reread', NULL, ({reread})::text
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

/// How the rows deleted from a watched catalog are noticed (a deleted row leaves no
/// version behind to find).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Deleted {
    /// Its rows that match this filter are counted on their own in [`STATE`]'s `global`
    /// value, which the kinds that belong to no relation are read again for when it changes.
    Counted(&'static str),
    /// Its rows are parts of relations, counted per relation in [`STATE`].
    PerRelation,
    /// Nothing to count, for the reason given.
    Never(&'static str),
}

/// A catalog the snapshot reads, watched for written rows (their `xmin`) and for deleted
/// ones ([`Deleted`]).
pub(super) struct Watched {
    pub catalog: &'static str,
    /// The class of the object a row describes: a catalog's name in quotes, or the column
    /// that holds it.
    class: &'static str,
    /// The described object's id and sub-id.
    objid: &'static str,
    objsubid: &'static str,
    /// The rows of user objects (of this database, in a shared catalog).
    user: &'static str,
    pub deleted: Deleted,
    /// The first `server_version_num` that has the catalog.
    pub since: i32,
    /// For a catalog only a superuser reads whole: what everybody may read that lists the
    /// same rows (with the [`Deleted::Counted`] filter). A session that may not read the
    /// catalog counts its rows there, and reads the kinds that belong to no relation at
    /// every capture while there are any ([`State::reread`]).
    pub listed_by: Option<&'static str>,
}

/// A [`Watched`] catalog whose rows describe objects of its own class by `oid`.
const fn own(
    catalog: &'static str,
    class: &'static str,
    user: &'static str,
    deleted: Deleted,
) -> Watched {
    Watched {
        catalog,
        class,
        objid: "oid",
        objsubid: "0",
        user,
        deleted,
        since: 0,
        listed_by: None,
    }
}

/// A [`Watched`] catalog whose rows belong to objects described elsewhere (a column to its
/// relation, an enum label to its type): `class` and `objid` name that object.
const fn part(
    catalog: &'static str,
    class: &'static str,
    objid: &'static str,
    user: &'static str,
    deleted: Deleted,
) -> Watched {
    Watched {
        objid,
        ..own(catalog, class, user, deleted)
    }
}

/// User objects, by OID.
const USER: &str = "oid >= 16384";

/// Every catalog the per-kind queries of [`super::snapshot`] read, but those the names
/// digest of [`STATE`] covers and the other [`EXEMPT`] ones. A test extracts every catalog
/// the queries name and holds this list to it, so that a kind added to the snapshot cannot
/// go unwatched.
pub(super) const WATCHED: &[Watched] = &[
    // Relations and their parts. Relation rows are global only for composite types.
    own(
        "pg_class",
        "'pg_class'",
        USER,
        Deleted::Counted("oid >= 16384 AND relkind = 'c'"),
    ),
    Watched {
        objsubid: "attnum",
        ..part(
            "pg_attribute",
            "'pg_class'",
            "attrelid",
            "attrelid >= 16384",
            Deleted::Never(
                "a column or attribute is deleted only with its relation (then absent) or \
                 composite type (counted); dropping one marks it dropped, a write",
            ),
        )
    },
    part(
        "pg_index",
        "'pg_class'",
        "indexrelid",
        "indexrelid >= 16384",
        Deleted::PerRelation,
    ),
    part(
        "pg_inherits",
        "'pg_class'",
        "inhrelid",
        "inhrelid >= 16384",
        Deleted::PerRelation,
    ),
    part(
        "pg_sequence",
        "'pg_class'",
        "seqrelid",
        "seqrelid >= 16384",
        Deleted::PerRelation,
    ),
    part(
        "pg_foreign_table",
        "'pg_class'",
        "ftrelid",
        "true",
        Deleted::PerRelation,
    ),
    part(
        "pg_partitioned_table",
        "'pg_class'",
        "partrelid",
        "true",
        Deleted::PerRelation,
    ),
    own("pg_trigger", "'pg_trigger'", USER, Deleted::PerRelation),
    own("pg_policy", "'pg_policy'", "true", Deleted::PerRelation),
    own("pg_rewrite", "'pg_rewrite'", USER, Deleted::PerRelation),
    own("pg_attrdef", "'pg_attrdef'", USER, Deleted::PerRelation),
    own(
        "pg_statistic_ext",
        "'pg_statistic_ext'",
        "true",
        Deleted::PerRelation,
    ),
    // Table constraints are counted per relation, domain constraints here.
    own(
        "pg_constraint",
        "'pg_constraint'",
        USER,
        Deleted::Counted("contypid <> 0"),
    ),
    // Types and what they are made of; relations' row and array types are not global.
    own(
        "pg_type",
        "'pg_type'",
        USER,
        Deleted::Counted(
            "oid >= 16384 AND typrelid = 0 AND (typelem = 0 OR (SELECT e.typrelid \
             FROM pg_catalog.pg_type e WHERE e.oid = pg_type.typelem) = 0)",
        ),
    ),
    part(
        "pg_enum",
        "'pg_type'",
        "enumtypid",
        USER,
        Deleted::Counted(USER),
    ),
    part(
        "pg_range",
        "'pg_type'",
        "rngtypid",
        "rngtypid >= 16384",
        Deleted::Counted("rngtypid >= 16384"),
    ),
    own(
        "pg_collation",
        "'pg_collation'",
        "true",
        Deleted::Counted(USER),
    ),
    // Functions, operators and what they are used by.
    own("pg_proc", "'pg_proc'", USER, Deleted::Counted(USER)),
    part(
        "pg_aggregate",
        "'pg_proc'",
        "aggfnoid",
        "aggfnoid >= 16384",
        Deleted::Counted("aggfnoid >= 16384"),
    ),
    own("pg_operator", "'pg_operator'", USER, Deleted::Counted(USER)),
    own("pg_opclass", "'pg_opclass'", "true", Deleted::Counted(USER)),
    own(
        "pg_opfamily",
        "'pg_opfamily'",
        "true",
        Deleted::Counted(USER),
    ),
    part(
        "pg_amop",
        "'pg_opfamily'",
        "amopfamily",
        "amopfamily >= 16384",
        Deleted::Counted("amopfamily >= 16384"),
    ),
    part(
        "pg_amproc",
        "'pg_opfamily'",
        "amprocfamily",
        "amprocfamily >= 16384",
        Deleted::Counted("amprocfamily >= 16384"),
    ),
    own("pg_am", "'pg_am'", "true", Deleted::Counted(USER)),
    own("pg_cast", "'pg_cast'", USER, Deleted::Counted(USER)),
    own(
        "pg_language",
        "'pg_language'",
        "true",
        Deleted::Counted("true"),
    ),
    // Text search.
    own(
        "pg_ts_config",
        "'pg_ts_config'",
        "true",
        Deleted::Counted(USER),
    ),
    part(
        "pg_ts_config_map",
        "'pg_ts_config'",
        "mapcfg",
        "mapcfg >= 16384",
        Deleted::Counted("mapcfg >= 16384"),
    ),
    own("pg_ts_dict", "'pg_ts_dict'", "true", Deleted::Counted(USER)),
    own(
        "pg_ts_parser",
        "'pg_ts_parser'",
        USER,
        Deleted::Counted(USER),
    ),
    own(
        "pg_ts_template",
        "'pg_ts_template'",
        USER,
        Deleted::Counted(USER),
    ),
    // Foreign data.
    own(
        "pg_foreign_data_wrapper",
        "'pg_foreign_data_wrapper'",
        USER,
        Deleted::Counted(USER),
    ),
    own(
        "pg_foreign_server",
        "'pg_foreign_server'",
        "true",
        Deleted::Counted("true"),
    ),
    Watched {
        listed_by: Some("pg_user_mappings"),
        ..own(
            "pg_user_mapping",
            "'pg_user_mapping'",
            "true",
            Deleted::Counted("true"),
        )
    },
    // Schemas, extensions and what they own.
    own(
        "pg_namespace",
        "'pg_namespace'",
        "true",
        Deleted::Counted("true"),
    ),
    own(
        "pg_extension",
        "'pg_extension'",
        "true",
        Deleted::Counted("true"),
    ),
    // Database-wide objects.
    own(
        "pg_event_trigger",
        "'pg_event_trigger'",
        "true",
        Deleted::Counted("true"),
    ),
    own(
        "pg_default_acl",
        "'pg_default_acl'",
        "true",
        Deleted::Counted("true"),
    ),
    own(
        "pg_publication",
        "'pg_publication'",
        "true",
        Deleted::Counted("true"),
    ),
    own(
        "pg_publication_rel",
        "'pg_publication_rel'",
        "true",
        Deleted::Counted("true"),
    ),
    Watched {
        since: 150_000,
        ..own(
            "pg_publication_namespace",
            "'pg_publication_namespace'",
            "true",
            Deleted::Counted("true"),
        )
    },
    // Shared catalogs: this database's rows only.
    Watched {
        listed_by: Some("pg_subscription"),
        ..own(
            "pg_subscription",
            "'pg_subscription'",
            "subdbid = {this_database}",
            Deleted::Counted("subdbid = {this_database}"),
        )
    },
    part(
        "pg_db_role_setting",
        "'pg_db_role_setting'",
        "setrole",
        "setdatabase = {this_database}",
        Deleted::Counted("setdatabase = {this_database}"),
    ),
    // Comments, those on subscriptions too (shared objects, commented in the database).
    // The public schema (OID 2200) is a user's to comment on.
    part(
        "pg_description",
        "classoid",
        "objoid",
        "(objoid >= 16384 OR objoid = 2200)",
        Deleted::Counted("objoid >= 16384 OR objoid = 2200"),
    ),
    // Extension membership and the implicit objects the snapshot leaves out.
    part(
        "pg_depend",
        "classid",
        "objid",
        "objid >= 16384",
        Deleted::Counted("deptype = 'e'"),
    ),
];

/// Catalogs the snapshot reads that [`WATCHED`] leaves out, and why (held to the queries
/// by a test of `snapshot`).
#[cfg(test)]
pub(super) const EXEMPT: &[(&str, &str)] = &[
    (
        "pg_authid",
        "only role names are read (owners, ACLs): in the names digest, a change makes the capture full",
    ),
    (
        "pg_tablespace",
        "only tablespace names are read: in the names digest, a change makes the capture full",
    ),
    (
        "pg_database",
        "read only for this database's OID, which cannot change while we are connected",
    ),
];

/// The views the snapshot reads, with the catalogs they read (`pg_publication_tables`
/// lists the tables of every publication, following every relation: while a publication
/// exists the kinds that belong to no relation are read at every capture).
#[cfg(test)]
pub(super) const VIEWS: &[(&str, &[&str])] = &[
    (
        "pg_publication_tables",
        &[
            "pg_publication",
            "pg_publication_rel",
            "pg_publication_namespace",
            "pg_class",
            "pg_namespace",
            "pg_attribute",
        ],
    ),
    ("pg_roles", &["pg_authid"]),
    (
        "pg_user_mappings",
        &["pg_user_mapping", "pg_foreign_server", "pg_authid"],
    ),
];

/// The catalogs of [`WATCHED`] a server of `catalogs.version` has.
pub(super) fn watched(catalogs: &Catalogs) -> impl Iterator<Item = &'static Watched> + '_ {
    WATCHED
        .iter()
        .filter(|watched| catalogs.version >= watched.since)
}

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

/// What a session that may not read `watched` whole reads instead, if anything.
fn listed_instead(catalogs: &Catalogs, watched: &Watched) -> Option<&'static str> {
    if catalogs.reads(watched.catalog) {
        None
    } else {
        watched.listed_by
    }
}

/// [`STATE`] for a session finding `catalogs`: its owner expression spelled out, a count
/// per catalog of [`WATCHED`] whose deleted rows are counted, and the conditions that make
/// the kinds that belong to no relation be read at every capture.
pub fn state_sql(catalogs: &Catalogs) -> String {
    let mut counts = Vec::new();
    let mut reread = vec!["EXISTS (SELECT 1 FROM pg_catalog.pg_publication)".to_string()];
    for watched in watched(catalogs) {
        let Deleted::Counted(filter) = watched.deleted else {
            continue;
        };
        let from = match listed_instead(catalogs, watched) {
            Some(listed) => {
                reread.push(format!(
                    "EXISTS (SELECT 1 FROM pg_catalog.{listed} WHERE {filter})"
                ));
                listed
            }
            None => watched.catalog,
        };
        counts.push(format!(
            "    '{}=' || (SELECT count(*) FROM pg_catalog.{from} WHERE {filter})",
            watched.catalog
        ));
    }
    catalogs.expand(
        &STATE
            .replace(
                "{owner:d.classoid:d.objoid}",
                &owner_sql("d.classoid", "d.objoid"),
            )
            .replace("{global}", &counts.join(",\n"))
            .replace("{reread}", &reread.join(" OR ")),
    )
}

/// The relations changed since the previous capture: `$1` is the age of the previous
/// capture's `xmax` (from [`STATE`]), `$2` the transactions in progress then (text,
/// `{…}`). Rows: the relation a written object or one depending on it belongs to (NULL
/// for none), and whether the object is read by the kinds that belong to no relation.
/// Catalogs the session may not read whole are left out (see [`Watched::listed_by`]).
pub fn touched_sql(catalogs: &Catalogs) -> String {
    let written: Vec<String> = watched(catalogs)
        .filter(|watched| catalogs.reads(watched.catalog))
        .map(|watched| {
            let Watched {
                catalog,
                class,
                objid,
                objsubid,
                user,
                ..
            } = watched;
            let classid = if class.starts_with('\'') {
                format!("{class}::regclass::oid")
            } else {
                (*class).to_string()
            };
            format!(
                "SELECT {classid} AS classid, {objid} AS objid, {objsubid}::int2 AS objsubid \
                 FROM pg_catalog.{catalog} \
                 WHERE {user} AND (age(xmin) <= $1::int4 OR xmin = ANY($2::text::xid[]))"
            )
        })
        .collect();
    catalogs.expand(&format!(
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
    ))
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
    /// Per catalog, the rows read by the kinds that belong to no relation
    /// (`catalog=count,…`): a delete in one catalog and an insert in another cannot
    /// cancel out.
    pub global: String,
    /// Whether the kinds that belong to no relation must be read whatever changed: a
    /// publication exists (the tables it publishes follow every relation), or a catalog
    /// the session cannot see the row versions of has rows ([`Watched::listed_by`]).
    pub reread: bool,
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
            global: String::new(),
            reread: false,
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
                "global" => state.global = value.to_string(),
                "reread" => state.reread = value == "true",
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
    /// What must be read again, given the new [`State`] (before [`touched_sql`] ran:
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

    /// What to read again, from [`touched_sql`]'s rows (owner, global): the relations it
    /// names, those whose catalog row count changed and the new ones (sorted, without
    /// duplicates); and the kinds that belong to no relation when an object of theirs
    /// was written or depends on one written, when the row count of one of their
    /// catalogs changed, or when [`State::reread`] says so.
    pub fn changed(
        &self,
        now: &State,
        touched: impl IntoIterator<Item = (Option<u32>, bool)>,
    ) -> Plan {
        let mut global = now.reread || now.global != self.state.global;
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
            global: "pg_proc=7".into(),
            reread: false,
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
        now.global = "pg_proc=6".into();
        assert_eq!(baseline.changed(&now, touched), plan(true));
        now.global = "pg_proc=7".into();
        now.reread = true;
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
        for version in [130_000, 150_000, 180_000] {
            let catalogs = Catalogs::new(version, &[], &[]);
            let (state, touched) = (state_sql(&catalogs), touched_sql(&catalogs));
            for watched in watched(&catalogs) {
                let catalog = watched.catalog;
                assert_eq!(
                    touched
                        .matches(&format!("FROM pg_catalog.{catalog} "))
                        .count(),
                    1,
                    "{catalog}"
                );
                let counted = usize::from(matches!(watched.deleted, Deleted::Counted(_)));
                assert_eq!(state.matches(&format!("'{catalog}=' ||")).count(), counted);
            }
            for placeholder in ["{owner", "{global}", "{reread}", "{this_database}"] {
                assert!(!state.contains(placeholder), "{placeholder}");
            }
            assert!(!touched.contains("{classid}") && !touched.contains("{objid}"));
            assert!(!touched.contains("{this_database}"));
            assert_eq!(
                touched.contains("pg_publication_namespace"),
                version >= 150_000
            );
        }
    }

    #[test]
    fn a_session_that_cannot_read_a_catalog_watches_its_rows_presence() {
        let catalogs = Catalogs::new(150_000, &["pg_user_mapping", "pg_subscription"], &[]);
        let (state, touched) = (state_sql(&catalogs), touched_sql(&catalogs));
        assert!(!touched.contains("FROM pg_catalog.pg_user_mapping "));
        assert!(!touched.contains("FROM pg_catalog.pg_subscription "));
        assert!(
            state.contains(
                "'pg_user_mapping=' || (SELECT count(*) FROM pg_catalog.pg_user_mappings"
            )
        );
        assert!(state.contains("EXISTS (SELECT 1 FROM pg_catalog.pg_user_mappings WHERE true)"));
        assert!(state.contains("EXISTS (SELECT 1 FROM pg_catalog.pg_subscription WHERE subdbid ="));
        let superuser = Catalogs::new(150_000, &[], &[]);
        assert!(touched_sql(&superuser).contains("FROM pg_catalog.pg_user_mapping "));
        assert!(!state_sql(&superuser).contains("pg_user_mappings"));
    }
}
