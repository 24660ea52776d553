//! What an object of a snapshot *is*, for a reviewer of a schema change.
//!
//! A pull request's net schema change is a list of [`Change`](super::Change)s naming
//! objects. A reviewer needs more than the names: the columns of a new table with their
//! types and defaults, what an index covers, the signature of a function. This module
//! reads that from a snapshot into an [`ObjectDetail`], and says which table an object
//! belongs to so changes can be grouped by table. Pure: no I/O, no rendering.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Attributes, ObjectId, ObjectKind, Snapshot};

/// What one object is (after an addition) or was (before a removal).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectDetail {
    /// A table's, view's or materialized view's columns in order; a column's own entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ColumnDetail>,
    /// A table's constraints (primary key, foreign keys, unique, check, exclusion).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<PartDetail>,
    /// A table's indexes other than those backing its constraints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<PartDetail>,
    /// A table's triggers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<PartDetail>,
    /// A table's row-level security policies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PartDetail>,
    /// The SQL definition of an index, view, constraint, trigger, policy or rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
    /// A function's or procedure's signature and properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDetail>,
    /// An enum's labels, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Any other object's attributes (a sequence's bounds, a domain's base type, ...),
    /// ownership and privileges left out.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// One column as a reviewer reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDetail {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    pub not_null: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// `always` or `by default` for an identity column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// The expression of a generated column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated: Option<String>,
}

/// A named part of a table with its definition: a constraint, index, trigger or policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartDetail {
    /// The unqualified name.
    pub name: String,
    pub definition: String,
}

/// A function's or procedure's face: what callers and reviewers of security look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionDetail {
    /// `public.touch(a integer)`.
    pub signature: String,
    /// `integer`, `trigger`, `SETOF record`; none for a procedure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returns: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// `immutable`, `stable` or `volatile`.
    pub volatility: String,
    pub security_definer: bool,
}

impl ColumnDetail {
    /// `bigint not null identity always`, `text default 'x'::text`.
    pub fn summary(&self) -> String {
        let mut text = self.data_type.clone();
        if self.not_null {
            text.push_str(" not null");
        }
        if let Some(identity) = &self.identity {
            text.push_str(&format!(" identity {identity}"));
        }
        if let Some(default) = &self.default {
            text.push_str(&format!(" default {default}"));
        }
        if let Some(generated) = &self.generated {
            text.push_str(&format!(" generated always as ({generated}) stored"));
        }
        text
    }
}

impl FunctionDetail {
    /// `public.touch() returns trigger, language plpgsql, volatile, security definer`.
    pub fn summary(&self) -> String {
        let mut parts = vec![match &self.returns {
            Some(returns) => format!("{} returns {returns}", self.signature),
            None => self.signature.clone(),
        }];
        if let Some(language) = &self.language {
            parts.push(format!("language {language}"));
        }
        parts.push(self.volatility.clone());
        if self.security_definer {
            parts.push("security definer".into());
        }
        parts.join(", ")
    }
}

/// What `object` is in `snapshot`: for a table or view its columns, constraints, indexes,
/// triggers and policies; for a column itself with the indexes and constraints that came
/// or went with it (`folded`); for other kinds what defines them. Empty when `snapshot`
/// does not hold the object.
pub fn detail(snapshot: &Snapshot, object: &ObjectId, folded: &[ObjectId]) -> ObjectDetail {
    let Some(attributes) = snapshot.objects.get(object) else {
        return ObjectDetail::default();
    };
    let text = |key: &str| {
        attributes
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut detail = ObjectDetail::default();
    match object.kind {
        ObjectKind::Table | ObjectKind::View | ObjectKind::MaterializedView => {
            let table = object.name.as_str();
            detail.columns = snapshot
                .columns_of(table)
                .into_iter()
                .map(|(name, attributes)| column(&name, attributes))
                .collect();
            let schema = schema_of(table);
            let parts = |kind: ObjectKind| -> Vec<PartDetail> {
                snapshot
                    .parts_of(table, kind)
                    .map(|(name, attributes)| PartDetail {
                        // Indexes are named in the schema, the other parts in the table.
                        name: unqualified(&name, schema),
                        definition: attributes
                            .get("definition")
                            .map(display_value)
                            .unwrap_or_default(),
                    })
                    .collect()
            };
            detail.constraints = parts(ObjectKind::Constraint);
            detail.indexes = parts(ObjectKind::Index)
                .into_iter()
                .filter(|index| !backs_constraint(snapshot, table, &index.name))
                .collect();
            detail.triggers = parts(ObjectKind::Trigger);
            detail.policies = parts(ObjectKind::Policy);
            if object.kind != ObjectKind::Table {
                detail.definition = text("definition");
            }
        }
        ObjectKind::Column => {
            let table = text("table").unwrap_or_default();
            detail
                .columns
                .push(column(&unqualified(&object.name, &table), attributes));
            for id in folded {
                let Some(definition) = snapshot
                    .objects
                    .get(id)
                    .and_then(|a| a.get("definition"))
                    .map(display_value)
                else {
                    continue;
                };
                let part = PartDetail {
                    name: match id.kind {
                        ObjectKind::Index => unqualified(&id.name, schema_of(&table)),
                        _ => unqualified(&id.name, &table),
                    },
                    definition,
                };
                match id.kind {
                    ObjectKind::Index => detail.indexes.push(part),
                    _ => detail.constraints.push(part),
                }
            }
        }
        ObjectKind::Function => {
            detail.function = Some(function(&object.name, attributes));
        }
        ObjectKind::Type if text("type_kind").as_deref() == Some("enum") => {
            detail.labels = attributes
                .get("labels")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(display_value)
                .collect();
        }
        _ if attributes.contains_key("definition") => detail.definition = text("definition"),
        _ => {
            detail.attributes = attributes
                .iter()
                .filter(|(key, _)| !matches!(key.as_str(), "owner" | "acl" | "default_acl"))
                .map(|(key, value)| (key.clone(), display_value(value)))
                .collect();
        }
    }
    detail
}

/// The table or view `object` belongs to (itself for a table or view; a sequence's owning
/// table), by qualified name, if any.
pub fn owning_table(snapshot: &Snapshot, object: &ObjectId) -> Option<String> {
    if matches!(
        object.kind,
        ObjectKind::Table | ObjectKind::View | ObjectKind::MaterializedView
    ) {
        return Some(object.name.clone());
    }
    let attributes = snapshot.objects.get(object)?;
    let text = |key: &str| attributes.get(key).and_then(Value::as_str);
    match object.kind {
        ObjectKind::Sequence => text("owned_by").and_then(|column| {
            let mut parts = column.splitn(3, '.');
            Some(format!("{}.{}", parts.next()?, parts.next()?))
        }),
        _ => text("table").map(str::to_string),
    }
}

/// Whether the index `name` of `table` is the one behind a constraint of the same name
/// (primary key, unique, exclusion), which the constraint already shows.
fn backs_constraint(snapshot: &Snapshot, table: &str, name: &str) -> bool {
    snapshot
        .objects
        .get(&ObjectId::new(
            ObjectKind::Constraint,
            format!("{table}.{name}"),
        ))
        .and_then(|attrs| attrs.get("definition"))
        .and_then(Value::as_str)
        .is_some_and(|d| !d.starts_with("CHECK") && !d.starts_with("FOREIGN KEY"))
}

fn column(name: &str, attributes: &Attributes) -> ColumnDetail {
    let text = |key: &str| {
        attributes
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    ColumnDetail {
        name: name.to_string(),
        data_type: text("type").unwrap_or_default(),
        not_null: attributes.get("not_null").and_then(Value::as_bool) == Some(true),
        default: text("default"),
        identity: text("identity"),
        generated: text("generated"),
    }
}

/// Reads what `pg_get_functiondef` prints before the body: ` RETURNS t`, ` LANGUAGE l`,
/// and a line of properties (`IMMUTABLE SECURITY DEFINER`).
fn function(signature: &str, attributes: &Attributes) -> FunctionDetail {
    let definition = attributes
        .get("definition")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let header: Vec<&str> = definition
        .lines()
        .skip(1)
        .take_while(|line| line.starts_with(' '))
        .map(str::trim)
        .collect();
    let after = |keyword: &str| {
        header
            .iter()
            .find_map(|line| line.strip_prefix(keyword))
            .map(|rest| rest.trim().to_string())
    };
    let properties = header.join(" ");
    let volatility = if properties.contains("IMMUTABLE") {
        "immutable"
    } else if properties.contains("STABLE") {
        "stable"
    } else {
        "volatile"
    };
    FunctionDetail {
        signature: signature.to_string(),
        returns: after("RETURNS "),
        language: after("LANGUAGE "),
        volatility: volatility.to_string(),
        security_definer: properties.contains("SECURITY DEFINER"),
    }
}

/// The schema of a qualified name (`public` of `public.users`, `"a.b"` of `"a.b".t`).
fn schema_of(qualified: &str) -> &str {
    let mut quoted = false;
    for (i, c) in qualified.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => return &qualified[..i],
            _ => {}
        }
    }
    ""
}

/// `name` of `prefix.name` (a quoted prefix included), else `qualified` as is.
fn unqualified(qualified: &str, prefix: &str) -> String {
    qualified
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('.'))
        .unwrap_or(qualified)
        .to_string()
}

/// An attribute value as text: strings unquoted, lists comma-separated.
pub fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(display_value)
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snapshot(objects: Value) -> Snapshot {
        serde_json::from_value(json!({ "objects": objects })).unwrap()
    }

    fn sample() -> Snapshot {
        snapshot(json!([
            {"kind": "table", "name": "public.orders", "attributes": {"relkind": "table"}},
            {"kind": "column", "name": "public.orders.total", "attributes":
                {"table": "public.orders", "position": 2, "type": "numeric(10,2)",
                 "not_null": false, "default": "0"}},
            {"kind": "column", "name": "public.orders.id", "attributes":
                {"table": "public.orders", "position": 1, "type": "bigint",
                 "not_null": true, "identity": "always"}},
            {"kind": "constraint", "name": "public.orders.orders_pkey", "attributes":
                {"table": "public.orders", "definition": "PRIMARY KEY (id)"}},
            {"kind": "index", "name": "public.orders_pkey", "attributes":
                {"table": "public.orders", "definition": "CREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id)"}},
            {"kind": "index", "name": "public.orders_total_idx", "attributes":
                {"table": "public.orders", "definition": "CREATE INDEX orders_total_idx ON public.orders USING btree (total)"}},
            {"kind": "sequence", "name": "public.orders_seq", "attributes":
                {"owned_by": "public.orders.id", "start": 1, "owner": "app"}},
            {"kind": "function", "name": "public.touch(a integer)", "attributes":
                {"definition": "CREATE OR REPLACE FUNCTION public.touch(a integer)\n RETURNS trigger\n LANGUAGE plpgsql\n STABLE SECURITY DEFINER\nAS $function$ begin end $function$\n"}},
            {"kind": "type", "name": "public.mood", "attributes":
                {"type_kind": "enum", "labels": ["happy", "sad"]}}
        ]))
    }

    #[test]
    fn a_table_shows_its_columns_in_order_its_constraints_and_other_indexes() {
        let snapshot = sample();
        let table = ObjectId::new(ObjectKind::Table, "public.orders");
        let table_detail = detail(&snapshot, &table, &[]);
        let columns: Vec<String> = table_detail
            .columns
            .iter()
            .map(|c| format!("{} {}", c.name, c.summary()))
            .collect();
        assert_eq!(
            columns,
            [
                "id bigint not null identity always",
                "total numeric(10,2) default 0"
            ]
        );
        assert_eq!(table_detail.constraints[0].name, "orders_pkey");
        // The primary key's index is the constraint's: shown once.
        assert_eq!(table_detail.indexes.len(), 1);
        assert_eq!(table_detail.indexes[0].name, "orders_total_idx");
        assert_eq!(owning_table(&snapshot, &table).unwrap(), "public.orders");
        let sequence = ObjectId::new(ObjectKind::Sequence, "public.orders_seq");
        assert_eq!(owning_table(&snapshot, &sequence).unwrap(), "public.orders");
        let attributes = detail(&snapshot, &sequence, &[]).attributes;
        assert_eq!(
            attributes.into_iter().collect::<Vec<_>>(),
            [
                ("owned_by".to_string(), "public.orders.id".to_string()),
                ("start".to_string(), "1".to_string())
            ]
        );
    }

    #[test]
    fn a_function_shows_its_signature_language_volatility_and_security() {
        let snapshot = sample();
        let id = ObjectId::new(ObjectKind::Function, "public.touch(a integer)");
        let function = detail(&snapshot, &id, &[]).function.unwrap();
        assert_eq!(
            function.summary(),
            "public.touch(a integer) returns trigger, language plpgsql, stable, security definer"
        );
        let id = ObjectId::new(ObjectKind::Type, "public.mood");
        assert_eq!(detail(&snapshot, &id, &[]).labels, ["happy", "sad"]);
        assert_eq!(schema_of("\"a.b\".t"), "\"a.b\"");
        assert_eq!(
            unqualified("\"a.b\".t_idx", schema_of("\"a.b\".t")),
            "t_idx"
        );
        let missing = ObjectId::new(ObjectKind::Type, "public.nope");
        assert_eq!(detail(&snapshot, &missing, &[]), ObjectDetail::default());
    }
}
