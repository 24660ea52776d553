//! The entity-relationship picture of what a change set touches: the tables it adds,
//! alters or removes, with their columns and keys, plus the tables their foreign keys
//! reach one step out, and the foreign keys between them. Pure: built from two snapshots
//! and their [`Change`]s; the Mermaid text is the report's business.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Attributes, Change, ObjectId, ObjectKind, Snapshot};

/// At most this many entities are drawn; the rest are named in [`Diagram::left_out`].
pub const MAX_ENTITIES: usize = 25;

/// What happened to a table, column or foreign key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Added,
    Altered,
    Removed,
    /// Untouched: drawn because a touched table's foreign key reaches it.
    Referenced,
}

/// The diagram: entities, the foreign keys between them, and what the cap left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagram {
    pub entities: Vec<Entity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relationships: Vec<Relationship>,
    /// Tables that would have been drawn but for [`MAX_ENTITIES`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<String>,
}

/// One table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    /// Qualified name, as the snapshot spells it (`public.orders`).
    pub name: String,
    pub state: State,
    /// All columns of a touched table; only the key columns of a referenced one.
    pub columns: Vec<EntityColumn>,
}

/// One column of an entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    /// `PK`, `FK`, `UK`, in that order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Added, altered or removed by the change set; none when unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
}

/// A foreign key: `from` (the referencing table) → `to` (the referenced one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relationship {
    pub from: String,
    pub to: String,
    /// The constraint's name.
    pub constraint: String,
    /// Whether a referencing row may have no parent (a nullable key column).
    pub optional: bool,
    /// Added or removed by the change set; none when it was there before and after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
}

/// A foreign key read from its definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub table: String,
    pub referenced: Vec<String>,
}

/// The diagram of what `changes` (from `before` to `after`) touch.
pub fn diagram(before: &Snapshot, after: &Snapshot, changes: &[Change]) -> Diagram {
    let touched = touched_tables(before, after, changes);
    if touched.is_empty() {
        return Diagram::default();
    }
    let mut entities: Vec<Entity> = Vec::new();
    let mut relationships: Vec<Relationship> = Vec::new();
    let mut referenced: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (table, state) in &touched {
        let snapshot = if *state == State::Removed {
            before
        } else {
            after
        };
        entities.push(Entity {
            name: table.clone(),
            state: *state,
            columns: touched_columns(before, after, table, *state),
        });
        for (constraint, fk, optional) in foreign_keys(snapshot, table) {
            let existed = |s: &Snapshot| s.objects.contains_key(&constraint_id(table, &constraint));
            let fk_state = match (existed(before), existed(after)) {
                (false, true) => Some(State::Added),
                (true, false) => Some(State::Removed),
                _ => None,
            };
            if !touched.contains_key(&fk.table) {
                referenced
                    .entry(fk.table.clone())
                    .or_default()
                    .extend(fk.referenced.iter().cloned());
            }
            relationships.push(Relationship {
                from: table.clone(),
                to: fk.table,
                constraint,
                optional,
                state: fk_state,
            });
        }
    }
    for (table, columns) in &referenced {
        let snapshot = if after
            .objects
            .contains_key(&ObjectId::new(ObjectKind::Table, table))
        {
            after
        } else {
            before
        };
        let keys = column_keys(snapshot, table);
        entities.push(Entity {
            name: table.clone(),
            state: State::Referenced,
            columns: snapshot
                .columns_of(table)
                .into_iter()
                .filter(|(name, _)| {
                    columns.contains(name)
                        || keys.get(name).is_some_and(|k| k.iter().any(|k| k == "PK"))
                })
                .map(|(name, attributes)| EntityColumn {
                    keys: keys.get(&name).cloned().unwrap_or_default(),
                    data_type: text(attributes, "type"),
                    name,
                    state: None,
                })
                .collect(),
        });
    }
    // Touched tables first (added, altered, removed), then those reached by a foreign key.
    entities.sort_by(|a, b| (a.state, &a.name).cmp(&(b.state, &b.name)));
    let left_out: Vec<String> = entities
        .iter()
        .skip(MAX_ENTITIES)
        .map(|e| e.name.clone())
        .collect();
    entities.truncate(MAX_ENTITIES);
    let drawn: BTreeSet<&str> = entities.iter().map(|e| e.name.as_str()).collect();
    relationships.retain(|r| drawn.contains(r.from.as_str()) && drawn.contains(r.to.as_str()));
    Diagram {
        entities,
        relationships,
        left_out,
    }
}

/// Tables added, removed, or altered (an attribute of theirs or of a part changed, a
/// part added or removed), by name.
fn touched_tables(
    before: &Snapshot,
    after: &Snapshot,
    changes: &[Change],
) -> BTreeMap<String, State> {
    let mut touched = BTreeMap::new();
    for change in changes {
        let object = change.object();
        if object.kind == ObjectKind::Table {
            let state = match change {
                Change::Added { .. } => State::Added,
                Change::Removed { .. } => State::Removed,
                Change::Changed { .. } => State::Altered,
            };
            touched.insert(object.name.clone(), state);
            continue;
        }
        let table = [after, before].iter().find_map(|snapshot| {
            let attributes = snapshot.objects.get(object)?;
            Some(attributes.get("table")?.as_str()?.to_string())
        });
        let Some(table) = table else { continue };
        let is_table = |s: &Snapshot| {
            s.objects
                .contains_key(&ObjectId::new(ObjectKind::Table, &table))
        };
        if is_table(after) && is_table(before) {
            touched.entry(table).or_insert(State::Altered);
        }
    }
    touched
}

/// A touched table's columns with their keys, each marked added, altered or removed.
fn touched_columns(
    before: &Snapshot,
    after: &Snapshot,
    table: &str,
    state: State,
) -> Vec<EntityColumn> {
    let snapshot = if state == State::Removed {
        before
    } else {
        after
    };
    let keys = column_keys(snapshot, table);
    let mut columns: Vec<EntityColumn> = snapshot
        .columns_of(table)
        .into_iter()
        .map(|(name, attributes)| {
            let id = ObjectId::new(ObjectKind::Column, format!("{table}.{name}"));
            let column_state = match (state, before.objects.get(&id)) {
                (State::Altered, None) => Some(State::Added),
                (State::Altered, Some(old)) if old != attributes => Some(State::Altered),
                _ => None,
            };
            EntityColumn {
                keys: keys.get(&name).cloned().unwrap_or_default(),
                data_type: text(attributes, "type"),
                name,
                state: column_state,
            }
        })
        .collect();
    if state == State::Altered {
        let old_keys = column_keys(before, table);
        for (name, attributes) in before.columns_of(table) {
            let id = ObjectId::new(ObjectKind::Column, format!("{table}.{name}"));
            if !after.objects.contains_key(&id) {
                columns.push(EntityColumn {
                    keys: old_keys.get(&name).cloned().unwrap_or_default(),
                    data_type: text(attributes, "type"),
                    name,
                    state: Some(State::Removed),
                });
            }
        }
    }
    columns
}

/// `PK`, `FK`, `UK` per column of `table`, from its constraints.
fn column_keys(snapshot: &Snapshot, table: &str) -> BTreeMap<String, Vec<String>> {
    let mut keys: BTreeMap<String, BTreeSet<(u8, &str)>> = BTreeMap::new();
    for (_, definition) in constraints(snapshot, table) {
        let (rank, key, columns) = if let Some(rest) = definition.strip_prefix("PRIMARY KEY ") {
            (0, "PK", identifier_list(rest).map(|(c, _)| c))
        } else if let Some(fk) = parse_foreign_key(&definition) {
            (1, "FK", Some(fk.columns))
        } else if let Some(rest) = definition.strip_prefix("UNIQUE ") {
            (2, "UK", identifier_list(rest).map(|(c, _)| c))
        } else {
            continue;
        };
        for column in columns.into_iter().flatten() {
            keys.entry(column).or_default().insert((rank, key));
        }
    }
    keys.into_iter()
        .map(|(column, keys)| {
            (
                column,
                keys.into_iter().map(|(_, k)| k.to_string()).collect(),
            )
        })
        .collect()
}

/// `(constraint name, definition)` of `table`'s constraints.
fn constraints(snapshot: &Snapshot, table: &str) -> Vec<(String, String)> {
    snapshot
        .parts_of(table, ObjectKind::Constraint)
        .map(|(name, attributes)| (name, text(attributes, "definition")))
        .collect()
}

/// `table`'s foreign keys: (constraint name, key, whether a key column is nullable).
fn foreign_keys(snapshot: &Snapshot, table: &str) -> Vec<(String, ForeignKey, bool)> {
    constraints(snapshot, table)
        .into_iter()
        .filter_map(|(name, definition)| {
            let fk = parse_foreign_key(&definition)?;
            let optional = fk.columns.iter().any(|column| {
                let id = ObjectId::new(ObjectKind::Column, format!("{table}.{column}"));
                snapshot
                    .objects
                    .get(&id)
                    .and_then(|a| a.get("not_null"))
                    .and_then(Value::as_bool)
                    != Some(true)
            });
            Some((name, fk, optional))
        })
        .collect()
}

fn constraint_id(table: &str, name: &str) -> ObjectId {
    ObjectId::new(ObjectKind::Constraint, format!("{table}.{name}"))
}

fn text(attributes: &Attributes, key: &str) -> String {
    attributes
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Reads `pg_get_constraintdef`'s `FOREIGN KEY (a, "B") REFERENCES s.t(x, y) ...`.
pub fn parse_foreign_key(definition: &str) -> Option<ForeignKey> {
    let rest = definition.strip_prefix("FOREIGN KEY ")?;
    let (columns, rest) = identifier_list(rest)?;
    let rest = rest.trim_start().strip_prefix("REFERENCES ")?;
    let open = position_outside_quotes(rest, '(')?;
    let table = rest[..open].trim().to_string();
    let (referenced, _) = identifier_list(&rest[open..])?;
    Some(ForeignKey {
        columns,
        table,
        referenced,
    })
}

/// `(a, "B c")` at the start of `text` → (["a", "\"B c\""], what follows). Quoted
/// identifiers keep their quotes, as the snapshot's qualified names do.
fn identifier_list(text: &str) -> Option<(Vec<String>, &str)> {
    let text = text.trim_start().strip_prefix('(')?;
    let close = position_outside_quotes(text, ')')?;
    let mut names = Vec::new();
    let (mut current, mut quoted) = (String::new(), false);
    for c in text[..close].chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => names.push(std::mem::take(&mut current).trim().to_string()),
            c => current.push(c),
        }
    }
    names.push(current.trim().to_string());
    Some((names, &text[close + 1..]))
}

/// The byte position of the first `target` outside double quotes.
fn position_outside_quotes(text: &str, target: char) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == target && !quoted {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::diff;
    use serde_json::json;

    fn snapshot(objects: Value) -> Snapshot {
        serde_json::from_value(json!({ "objects": objects })).unwrap()
    }

    fn table(
        name: &str,
        columns: &[(&str, &str, bool)],
        constraints: &[(&str, &str)],
    ) -> Vec<Value> {
        let mut objects = vec![json!({"kind": "table", "name": name, "attributes": {}})];
        for (i, (column, data_type, not_null)) in columns.iter().enumerate() {
            objects.push(
                json!({"kind": "column", "name": format!("{name}.{column}"), "attributes":
                {"table": name, "position": i + 1, "type": data_type, "not_null": not_null}}),
            );
        }
        for (constraint, definition) in constraints {
            objects.push(
                json!({"kind": "constraint", "name": format!("{name}.{constraint}"),
                "attributes": {"table": name, "definition": definition}}),
            );
        }
        objects
    }

    #[test]
    fn foreign_keys_are_read_with_quoted_identifiers() {
        let fk = parse_foreign_key(
            "FOREIGN KEY (a, \"B, c)\") REFERENCES public.\"T(1)\"(x, \"Y\") ON DELETE CASCADE",
        )
        .unwrap();
        assert_eq!(fk.columns, ["a", "\"B, c)\""]);
        assert_eq!(fk.table, "public.\"T(1)\"");
        assert_eq!(fk.referenced, ["x", "\"Y\""]);
        assert_eq!(parse_foreign_key("CHECK ((a > 0))"), None);
    }

    #[test]
    fn the_diagram_draws_touched_tables_and_what_their_foreign_keys_reach() {
        let users = table(
            "public.users",
            &[
                ("id", "bigint", true),
                ("email", "text", true),
                ("bio", "text", false),
            ],
            &[
                ("users_pkey", "PRIMARY KEY (id)"),
                ("users_email_key", "UNIQUE (email)"),
            ],
        );
        let customers = table(
            "public.customers",
            &[
                ("id", "bigint", true),
                ("email", "text", true),
                ("fax", "text", false),
            ],
            &[("customers_pkey", "PRIMARY KEY (id)")],
        );
        let mut before_objects = users.clone();
        before_objects.extend(customers);
        let before = snapshot(Value::Array(before_objects));
        let orders = table(
            "public.orders",
            &[("id", "bigint", true), ("user_id", "bigint", false)],
            &[
                ("orders_pkey", "PRIMARY KEY (id)"),
                (
                    "orders_user_id_fkey",
                    "FOREIGN KEY (user_id) REFERENCES public.users(id)",
                ),
            ],
        );
        let altered_customers = table(
            "public.customers",
            &[
                ("id", "bigint", true),
                ("email", "character varying(320)", true),
                ("vip", "boolean", true),
            ],
            &[("customers_pkey", "PRIMARY KEY (id)")],
        );
        let mut after_objects = users;
        after_objects.extend(orders);
        after_objects.extend(altered_customers);
        let after = snapshot(Value::Array(after_objects));
        let changes = diff(&before, &after);
        let diagram = diagram(&before, &after, &changes);
        let summary: Vec<String> = diagram
            .entities
            .iter()
            .map(|e| {
                let columns: Vec<String> = e
                    .columns
                    .iter()
                    .map(|c| {
                        format!(
                            "{}:{}:{}:{:?}",
                            c.name,
                            c.data_type,
                            c.keys.join("+"),
                            c.state
                        )
                    })
                    .collect();
                format!("{} {:?} [{}]", e.name, e.state, columns.join(" "))
            })
            .collect();
        assert_eq!(
            summary,
            [
                "public.orders Added [id:bigint:PK:None user_id:bigint:FK:None]",
                "public.customers Altered [id:bigint:PK:None email:character varying(320)::Some(Altered) vip:boolean::Some(Added) fax:text::Some(Removed)]",
                // Reached by a foreign key: only its key columns.
                "public.users Referenced [id:bigint:PK:None]",
            ]
        );
        assert_eq!(
            diagram.relationships,
            [Relationship {
                from: "public.orders".into(),
                to: "public.users".into(),
                constraint: "orders_user_id_fkey".into(),
                optional: true,
                state: Some(State::Added),
            }]
        );
        assert!(diagram.left_out.is_empty());
    }

    #[test]
    fn at_most_25_entities_are_drawn_and_the_rest_is_named() {
        let before = snapshot(json!([]));
        let mut objects = Vec::new();
        for i in 0..30 {
            objects.extend(table(
                &format!("public.t{i:02}"),
                &[("id", "int", true)],
                &[],
            ));
        }
        let after = snapshot(Value::Array(objects));
        let diagram = diagram(&before, &after, &diff(&before, &after));
        assert_eq!(diagram.entities.len(), MAX_ENTITIES);
        assert_eq!(
            diagram.left_out,
            [
                "public.t25",
                "public.t26",
                "public.t27",
                "public.t28",
                "public.t29"
            ]
        );
    }
}
