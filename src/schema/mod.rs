//! Schema snapshots and their comparison.
//!
//! migration-check proves that a migration's `down` restores exactly the
//! schema that existed before its `up`. To do that it needs a value that
//! captures "the schema" completely and canonically: two databases whose
//! catalogs describe the same objects must yield equal snapshots, and any
//! difference `pg_dump --schema-only` would show must yield a difference.
//! This module defines that value (a flat map from [`ObjectId`] to a bag of
//! JSON [`Attributes`]), captures it from a live database
//! ([`snapshot::capture`]) and compares two of them ([`diff::diff`]).
//!
//! The model is deliberately open: every object is just a kind, a qualified
//! name and attributes, so covering a new attribute or a new catalog only
//! means adding SQL in `snapshot.rs`; the comparison code never changes.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub mod catalogs;
pub mod diff;
pub mod erd;
pub mod fingerprint;
pub mod incremental;
pub mod options;
pub mod review;
pub mod snapshot;

pub use diff::{Change, diff};
pub use snapshot::capture;

/// The kind of a schema object.
///
/// Serialised in snake_case (`materialized_view`); the SQL in `snapshot.rs`
/// emits exactly these spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A namespace (`CREATE SCHEMA`).
    Schema,
    /// An installed extension; the objects it owns are not snapshotted.
    Extension,
    /// A user-defined enum, domain, composite or range type; the
    /// `type_kind` attribute says which.
    Type,
    /// An ordinary, partitioned or foreign table; `relkind` says which.
    Table,
    /// A column of a table, view or materialized view.
    Column,
    /// A table constraint (not-null excepted, which is a column attribute)
    /// or a domain constraint.
    Constraint,
    /// An index, including those backing constraints.
    Index,
    /// A view.
    View,
    /// A materialized view.
    MaterializedView,
    /// A sequence (its current value is not part of the schema).
    Sequence,
    /// A function, procedure or aggregate; `function_kind` says which.
    Function,
    /// A user (non-internal) trigger.
    Trigger,
    /// A row-level security policy.
    Policy,
    /// A collation object (`CREATE COLLATION`).
    Collation,
    /// An event trigger (database-wide, no schema).
    EventTrigger,
    /// A logical replication publication and the tables it publishes.
    Publication,
    /// A text search configuration.
    TextSearchConfiguration,
    /// A text search dictionary.
    TextSearchDictionary,
    /// A text search parser.
    TextSearchParser,
    /// A text search template.
    TextSearchTemplate,
    /// A user-defined cast between two types.
    Cast,
    /// A user-defined operator.
    Operator,
    /// Default privileges for objects created later (`ALTER DEFAULT PRIVILEGES`).
    DefaultPrivilege,
    /// A rewrite rule (`CREATE RULE`), views' own rules excepted.
    Rule,
    /// An extended statistics object (`CREATE STATISTICS`).
    Statistics,
    /// A foreign-data wrapper (`CREATE FOREIGN DATA WRAPPER`).
    ForeignDataWrapper,
    /// A foreign server (`CREATE SERVER`).
    ForeignServer,
    /// A user mapping (`CREATE USER MAPPING`), named by role and server; the values
    /// of secret-looking options are not read.
    UserMapping,
    /// A logical replication subscription of this database (its connection string,
    /// which holds passwords, is not read).
    Subscription,
    /// What this database starts sessions with (`ALTER DATABASE … SET` for all roles,
    /// `ALTER ROLE … IN DATABASE … SET` for one role).
    DatabaseSettings,
    /// A procedural language created without an extension (`CREATE LANGUAGE`).
    Language,
    /// An index or table access method (`CREATE ACCESS METHOD`).
    AccessMethod,
    /// An operator class (`CREATE OPERATOR CLASS`), named with its access method.
    OperatorClass,
    /// An operator family with its operators and support functions, named with its
    /// access method.
    OperatorFamily,
}

impl ObjectKind {
    /// Human-readable label, as used in messages: `"materialized view"`.
    pub fn label(&self) -> &'static str {
        match self {
            ObjectKind::Schema => "schema",
            ObjectKind::Extension => "extension",
            ObjectKind::Type => "type",
            ObjectKind::Table => "table",
            ObjectKind::Column => "column",
            ObjectKind::Constraint => "constraint",
            ObjectKind::Index => "index",
            ObjectKind::View => "view",
            ObjectKind::MaterializedView => "materialized view",
            ObjectKind::Sequence => "sequence",
            ObjectKind::Function => "function",
            ObjectKind::Trigger => "trigger",
            ObjectKind::Policy => "policy",
            ObjectKind::Collation => "collation",
            ObjectKind::EventTrigger => "event trigger",
            ObjectKind::Publication => "publication",
            ObjectKind::TextSearchConfiguration => "text search configuration",
            ObjectKind::TextSearchDictionary => "text search dictionary",
            ObjectKind::TextSearchParser => "text search parser",
            ObjectKind::TextSearchTemplate => "text search template",
            ObjectKind::Cast => "cast",
            ObjectKind::Operator => "operator",
            ObjectKind::DefaultPrivilege => "default privileges",
            ObjectKind::Rule => "rule",
            ObjectKind::Statistics => "statistics object",
            ObjectKind::ForeignDataWrapper => "foreign-data wrapper",
            ObjectKind::ForeignServer => "foreign server",
            ObjectKind::UserMapping => "user mapping",
            ObjectKind::Subscription => "subscription",
            ObjectKind::DatabaseSettings => "database settings",
            ObjectKind::Language => "language",
            ObjectKind::AccessMethod => "access method",
            ObjectKind::OperatorClass => "operator class",
            ObjectKind::OperatorFamily => "operator family",
        }
    }

    /// Every kind, in declaration order (a test holds this list to the enum).
    pub const ALL: &[ObjectKind] = &[
        ObjectKind::Schema,
        ObjectKind::Extension,
        ObjectKind::Type,
        ObjectKind::Table,
        ObjectKind::Column,
        ObjectKind::Constraint,
        ObjectKind::Index,
        ObjectKind::View,
        ObjectKind::MaterializedView,
        ObjectKind::Sequence,
        ObjectKind::Function,
        ObjectKind::Trigger,
        ObjectKind::Policy,
        ObjectKind::Collation,
        ObjectKind::EventTrigger,
        ObjectKind::Publication,
        ObjectKind::TextSearchConfiguration,
        ObjectKind::TextSearchDictionary,
        ObjectKind::TextSearchParser,
        ObjectKind::TextSearchTemplate,
        ObjectKind::Cast,
        ObjectKind::Operator,
        ObjectKind::DefaultPrivilege,
        ObjectKind::Rule,
        ObjectKind::Statistics,
        ObjectKind::ForeignDataWrapper,
        ObjectKind::ForeignServer,
        ObjectKind::UserMapping,
        ObjectKind::Subscription,
        ObjectKind::DatabaseSettings,
        ObjectKind::Language,
        ObjectKind::AccessMethod,
        ObjectKind::OperatorClass,
        ObjectKind::OperatorFamily,
    ];
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Identity of a schema object: its kind and its qualified name.
///
/// Names are built with `format('%I.%I', ...)`, so identifiers are quoted
/// only when needed: `public.users`, column `public.users.email`,
/// constraint `public.users.users_pkey`, domain constraint
/// `public.mydomain.check_name`, index `public.users_email_lower_idx`,
/// function `public.touch(integer, text)`, trigger
/// `public.users.set_updated_at`, policy `public.users.own_rows`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectId {
    /// What sort of object this is.
    pub kind: ObjectKind,
    /// Qualified identity of the object within its kind.
    pub name: String,
}

impl ObjectId {
    /// Convenience constructor.
    pub fn new(kind: ObjectKind, name: impl Into<String>) -> Self {
        ObjectId {
            kind,
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.label(), self.name)
    }
}

/// Attributes of one object, by snake_case name. An attribute whose value
/// is SQL NULL is absent (the SQL strips nulls), so absent == null.
pub type Attributes = BTreeMap<String, serde_json::Value>;

/// The whole schema of one database at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// Every snapshotted object with its attributes, in canonical order.
    ///
    /// JSON has no struct-keyed maps, so this serialises as an ordered list
    /// of `{"kind", "name", "attributes"}` entries.
    #[serde(with = "objects_as_list")]
    pub objects: BTreeMap<ObjectId, Attributes>,
    /// Catalog entries that were read but are not compared because no user
    /// sets them (see [`options`]); reported as notes, never as differences.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub uncompared: options::Uncompared,
}

impl Snapshot {
    /// The objects of `kind` whose `table` attribute names `table`, each with its name
    /// relative to the table (`email` of `public.users.email`; an index, named in the
    /// schema, keeps its qualified name) and its attributes, in snapshot order.
    pub fn parts_of<'a>(
        &'a self,
        table: &'a str,
        kind: ObjectKind,
    ) -> impl Iterator<Item = (String, &'a Attributes)> + 'a {
        // Objects are ordered by kind, then name: a table's columns, constraints, triggers
        // and policies (named `table.part`) are one range; indexes (named in the schema)
        // are looked for among the indexes only.
        let prefix = match kind {
            ObjectKind::Index => String::new(),
            _ => format!("{table}."),
        };
        self.objects
            .range(ObjectId::new(kind, prefix.clone())..)
            .take_while(move |(id, _)| id.kind == kind && id.name.starts_with(&prefix))
            .filter(move |(_, attributes)| {
                attributes.get("table").and_then(serde_json::Value::as_str) == Some(table)
            })
            .map(move |(id, attributes)| {
                let name = id
                    .name
                    .strip_prefix(table)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .unwrap_or(&id.name);
                (name.to_string(), attributes)
            })
    }

    /// `table`'s columns in position order, by name relative to the table.
    pub fn columns_of<'a>(&'a self, table: &'a str) -> Vec<(String, &'a Attributes)> {
        let mut columns: Vec<(String, &Attributes)> =
            self.parts_of(table, ObjectKind::Column).collect();
        let position = |attributes: &Attributes| {
            attributes
                .get("position")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0)
        };
        columns.sort_by_key(|(_, attributes)| position(attributes));
        columns
    }

    /// The snapshot without `tables` (`schema.table`, or a bare table name in any schema)
    /// and everything that belongs to them: their columns, constraints, indexes, triggers,
    /// policies and owned sequences. A migration tool's history tables are its bookkeeping,
    /// not the schema its migrations build.
    pub fn without_tables(mut self, tables: &std::collections::BTreeSet<String>) -> Snapshot {
        if tables.is_empty() {
            return self;
        }
        // Names compare unquoted: the history `SequelizeMeta` is `public."SequelizeMeta"`.
        let unquoted: std::collections::BTreeSet<String> =
            tables.iter().map(|t| t.replace('"', "")).collect();
        let listed = |qualified: &str| {
            let qualified = qualified.replace('"', "");
            unquoted.contains(&qualified)
                || qualified
                    .split_once('.')
                    .is_some_and(|(_, table)| unquoted.contains(table))
        };
        // `schema.table` of names like `schema.table.column`.
        let owner = |name: &str| -> Option<String> {
            let mut parts = name.splitn(3, '.');
            Some(format!("{}.{}", parts.next()?, parts.next()?))
        };
        self.objects.retain(|id, attributes| {
            let attribute = |key: &str| attributes.get(key).and_then(|v| v.as_str());
            let belongs = match id.kind {
                ObjectKind::Table => listed(&id.name),
                ObjectKind::Column | ObjectKind::Trigger | ObjectKind::Policy => {
                    owner(&id.name).is_some_and(|t| listed(&t))
                }
                ObjectKind::Index | ObjectKind::Constraint => {
                    attribute("table").is_some_and(listed)
                }
                ObjectKind::Sequence => attribute("owned_by")
                    .and_then(owner)
                    .is_some_and(|t| listed(&t)),
                _ => false,
            };
            !belongs
        });
        self
    }
}

/// (De)serialises the object map as a list, since JSON map keys must be
/// strings and [`ObjectId`] is a struct.
mod objects_as_list {
    use super::{Attributes, ObjectId, ObjectKind};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    struct EntryRef<'a> {
        kind: ObjectKind,
        name: &'a str,
        attributes: &'a Attributes,
    }

    #[derive(Deserialize)]
    struct Entry {
        kind: ObjectKind,
        name: String,
        #[serde(default)]
        attributes: Attributes,
    }

    pub fn serialize<S: Serializer>(
        objects: &BTreeMap<ObjectId, Attributes>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(objects.iter().map(|(id, attributes)| EntryRef {
            kind: id.kind,
            name: &id.name,
            attributes,
        }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<ObjectId, Attributes>, D::Error> {
        let entries = Vec::<Entry>::deserialize(deserializer)?;
        Ok(entries
            .into_iter()
            .map(|e| (ObjectId::new(e.kind, e.name), e.attributes))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::ObjectKind;

    /// serde lists every variant when it meets an unknown one: [`ObjectKind::ALL`] must
    /// hold exactly those, in order.
    #[test]
    fn all_lists_every_kind() {
        let error = serde_json::from_value::<ObjectKind>(serde_json::json!("no such kind"))
            .unwrap_err()
            .to_string();
        let (_, listed) = error
            .split_once("expected one of ")
            .unwrap_or_else(|| panic!("{error}"));
        let names: Vec<&str> = listed
            .split(", ")
            .map(|name| name.trim_matches('`'))
            .collect();
        let all: Vec<String> = ObjectKind::ALL
            .iter()
            .map(|kind| {
                serde_json::to_value(kind)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(all, names);
        assert!(names.len() > 30, "{names:?}");
    }
}
