//! Comparing two [`Snapshot`]s.
//!
//! migration-check reports *why* a `down` failed to restore the schema, so
//! the comparison must name the objects and attributes that differ, in a
//! stable order, and without burying the cause under noise: when a whole
//! table or view appears or disappears, its columns, constraints, indexes,
//! triggers and policies are folded into that one change rather than being
//! listed separately. Everything here is pure (no I/O), so it can be tested
//! without a database.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Attributes, ObjectId, ObjectKind, Snapshot};
use crate::policy::DifferenceKind;

/// One difference between a left and a right snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// Present only in the right snapshot.
    Added {
        /// The object that appeared.
        object: ObjectId,
        /// Sub-objects (columns, constraints, …) that appeared with it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        folded: Vec<ObjectId>,
    },
    /// Present only in the left snapshot.
    Removed {
        /// The object that disappeared.
        object: ObjectId,
        /// Sub-objects (columns, constraints, …) that disappeared with it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        folded: Vec<ObjectId>,
    },
    /// Present in both, one attribute differs (absent attribute = null).
    Changed {
        /// The object whose attribute differs.
        object: ObjectId,
        /// Name of the differing attribute.
        attribute: String,
        /// Value in the left snapshot (null when absent).
        left: Value,
        /// Value in the right snapshot (null when absent).
        right: Value,
    },
}

impl Change {
    /// The object this change is about.
    pub fn object(&self) -> &ObjectId {
        match self {
            Change::Added { object, .. }
            | Change::Removed { object, .. }
            | Change::Changed { object, .. } => object,
        }
    }

    /// What sort of difference this is, for the severity policy.
    pub fn kind(&self) -> DifferenceKind {
        let Change::Changed {
            object,
            attribute,
            left,
            right,
        } = self
        else {
            return DifferenceKind::Definition;
        };
        match attribute.as_str() {
            "position" if object.kind == ObjectKind::Column => DifferenceKind::ColumnPosition,
            "column_order" => DifferenceKind::ColumnPosition,
            "comment" => DifferenceKind::Comment,
            "acl" | "default_acl" => DifferenceKind::Privilege,
            "owner" => DifferenceKind::Owner,
            "rows" | "data_hash" => DifferenceKind::Data,
            "default" if equivalent_defaults(left, right) => DifferenceKind::DefaultSpelling,
            _ if only_line_endings_differ(left, right) => DifferenceKind::LineEndings,
            _ => DifferenceKind::Definition,
        }
    }
}

/// Spellings PostgreSQL stores differently for the same value: the current
/// transaction's timestamp is `now()`, `CURRENT_TIMESTAMP` or
/// `transaction_timestamp()`.
fn equivalent_defaults(left: &serde_json::Value, right: &serde_json::Value) -> bool {
    fn canonical(value: &serde_json::Value) -> Option<String> {
        let text = value.as_str()?.trim().to_ascii_lowercase();
        let text = text.trim_start_matches("pg_catalog.");
        Some(match text {
            "now()" | "current_timestamp" | "transaction_timestamp()" => "now()".to_string(),
            "('now'::text)::date" | "current_date" => "current_date".to_string(),
            other => other.to_string(),
        })
    }
    match (canonical(left), canonical(right)) {
        (Some(left), Some(right)) => left == right,
        _ => false,
    }
}

/// Two texts that are the same once CRLF and CR line endings are written LF: a function
/// body keeps the bytes of the file that created it, so a down file saved on Windows
/// restores the same code with other line endings.
pub fn only_line_endings_differ(left: &serde_json::Value, right: &serde_json::Value) -> bool {
    fn lf(text: &str) -> String {
        text.replace("\r\n", "\n").replace('\r', "\n")
    }
    match (left.as_str(), right.as_str()) {
        (Some(left), Some(right)) => left != right && lf(left) == lf(right),
        _ => false,
    }
}

/// Kinds whose added/removed sub-objects are folded into them.
fn is_parent(kind: ObjectKind) -> bool {
    matches!(
        kind,
        ObjectKind::Table | ObjectKind::View | ObjectKind::MaterializedView
    )
}

/// Kinds that hang off a table or view through their `table` attribute.
fn is_child(kind: ObjectKind) -> bool {
    matches!(
        kind,
        ObjectKind::Column
            | ObjectKind::Constraint
            | ObjectKind::Index
            | ObjectKind::Trigger
            | ObjectKind::Policy
    )
}

/// Compares two snapshots.
///
/// Output is ordered by [`ObjectId`], then by attribute name. Children of an
/// added (removed) table or view — objects whose `table` attribute names it, and
/// sequences its columns own — are listed in its `folded` list instead of being
/// reported on their own. A table's column positions become one `column_order`
/// change of the table.
pub fn diff(left: &Snapshot, right: &Snapshot) -> Vec<Change> {
    let added: Vec<(&ObjectId, &Attributes)> = right
        .objects
        .iter()
        .filter(|(id, _)| !left.objects.contains_key(*id))
        .collect();
    let removed: Vec<(&ObjectId, &Attributes)> = left
        .objects
        .iter()
        .filter(|(id, _)| !right.objects.contains_key(*id))
        .collect();

    let mut changes: Vec<Change> = Vec::new();
    changes.extend(
        fold(&added, right)
            .into_iter()
            .map(|(object, folded)| Change::Added { object, folded }),
    );
    changes.extend(
        fold(&removed, left)
            .into_iter()
            .map(|(object, folded)| Change::Removed { object, folded }),
    );
    for (id, left_attrs) in &left.objects {
        if let Some(right_attrs) = right.objects.get(id) {
            changes.extend(compare_attributes(id, left_attrs, right_attrs));
        }
    }
    column_order_per_table(&mut changes, left, right);
    // Each object appears in exactly one of the three groups, and within a
    // group changes are already ordered by attribute, so a stable sort by
    // object yields (object, attribute) order.
    changes.sort_by(|a, b| a.object().cmp(b.object()));
    changes
}

/// One column re-added at the end of a table shifts the position of every column after
/// its old place: one fact, which must not become twenty findings. A table's position
/// changes become one `column_order` change of the table, whose sides are the order of the
/// columns both snapshots have; it names only the columns that really moved (see
/// [`column_moves`]), and there is none when no column moved relative to the others (a
/// dropped column shifts the rest without reordering them).
fn column_order_per_table(changes: &mut Vec<Change>, left: &Snapshot, right: &Snapshot) {
    let is_position = |change: &Change| {
        matches!(change, Change::Changed { object, attribute, .. }
            if object.kind == ObjectKind::Column && attribute == "position")
    };
    let table_of = |id: &ObjectId| -> Option<String> {
        right
            .objects
            .get(id)?
            .get("table")?
            .as_str()
            .map(str::to_string)
    };
    let tables: BTreeSet<String> = changes
        .iter()
        .filter(|c| is_position(c))
        .filter_map(|c| table_of(c.object()))
        .collect();
    changes.retain(|change| !is_position(change));
    for table in tables {
        // The columns both sides have, in one side's order.
        let order = |snapshot: &Snapshot, other: &Snapshot| -> Vec<Value> {
            snapshot
                .columns_of(&table)
                .into_iter()
                .filter(|(name, _)| {
                    let id = ObjectId::new(ObjectKind::Column, format!("{table}.{name}"));
                    other.objects.contains_key(&id)
                })
                .map(|(name, _)| Value::String(name))
                .collect()
        };
        let (left_order, right_order) = (order(left, right), order(right, left));
        if longest_common_subsequence(&left_order, &right_order).len() == left_order.len() {
            continue;
        }
        let kind = [
            ObjectKind::Table,
            ObjectKind::View,
            ObjectKind::MaterializedView,
        ]
        .into_iter()
        .find(|kind| {
            right
                .objects
                .contains_key(&ObjectId::new(*kind, table.clone()))
        })
        .unwrap_or(ObjectKind::Table);
        changes.push(Change::Changed {
            object: ObjectId::new(kind, table),
            attribute: "column_order".into(),
            left: Value::Array(left_order),
            right: Value::Array(right_order),
        });
    }
}

/// The columns that moved between two column orders (`column_order` sides), each with its
/// 1-based place before and after: the fewest columns whose removal leaves the rest in the
/// same order on both sides (the complement of a longest common subsequence).
pub fn column_moves(left: &Value, right: &Value) -> Vec<(String, usize, usize)> {
    let names = |side: &Value| -> Vec<String> {
        side.as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let (left, right) = (names(left), names(right));
    let kept: BTreeSet<String> = longest_common_subsequence(&left, &right)
        .into_iter()
        .collect();
    right
        .iter()
        .enumerate()
        .filter(|(_, name)| !kept.contains(*name))
        .filter_map(|(after, name)| {
            let before = left.iter().position(|l| l == name)?;
            Some((name.clone(), before + 1, after + 1))
        })
        .collect()
}

/// `billing_city re-added at the end (was 15th), zip now 3rd (was 2nd)`: what a
/// `column_order` change did, for people.
pub fn column_moves_text(left: &Value, right: &Value) -> String {
    let last = right.as_array().map_or(0, Vec::len);
    let moves = column_moves(left, right);
    // The moved columns that end the table were re-added at its end, whatever their
    // position (two columns dropped and re-added: the first of them is not last).
    let moved: BTreeSet<usize> = moves.iter().map(|(_, _, after)| *after).collect();
    let tail_start = (1..=last)
        .rev()
        .take_while(|position| moved.contains(position))
        .last()
        .unwrap_or(last + 1);
    moves
        .into_iter()
        .map(|(name, before, after)| {
            if after >= tail_start {
                format!("{name} re-added at the end (was {})", ordinal(before))
            } else if after == before {
                format!(
                    "{name} moved among its neighbours (still {})",
                    ordinal(after)
                )
            } else {
                format!("{name} now {} (was {})", ordinal(after), ordinal(before))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1st`, `2nd`, `3rd`, `11th`, `22nd`.
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// A longest common subsequence of `a` and `b` (dynamic programming; tables have at most
/// a few hundred columns).
fn longest_common_subsequence<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
    let mut lengths = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lengths[i][j] = if a[i] == b[j] {
                lengths[i + 1][j + 1] + 1
            } else {
                lengths[i + 1][j].max(lengths[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut common) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            common.push(a[i].clone());
            i += 1;
            j += 1;
        } else if lengths[i + 1][j] >= lengths[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    common
}

/// Groups one side's exclusive objects: parents with their folded children,
/// then every object that was not folded, in `ObjectId` order.
fn fold(objects: &[(&ObjectId, &Attributes)], side: &Snapshot) -> Vec<(ObjectId, Vec<ObjectId>)> {
    let parents: BTreeSet<&str> = objects
        .iter()
        .filter(|(id, _)| is_parent(id.kind))
        .map(|(id, _)| id.name.as_str())
        .collect();
    let mut children: BTreeMap<&str, Vec<ObjectId>> = BTreeMap::new();
    let mut result = Vec::new();
    for (id, attrs) in objects {
        let text = |key: &str| attrs.get(key).and_then(Value::as_str);
        // A serial column's sequence goes with its table.
        let owner = match id.kind {
            ObjectKind::Sequence => text("owned_by").and_then(|column| {
                parents.iter().copied().find(|table| {
                    column
                        .strip_prefix(*table)
                        .is_some_and(|c| c.starts_with('.'))
                })
            }),
            kind if is_child(kind) => text("table"),
            _ => None,
        };
        let parent = owner.filter(|table| parents.contains(table));
        match parent {
            Some(table) => children.entry(table).or_default().push((*id).clone()),
            None => result.push(((*id).clone(), Vec::new())),
        }
    }
    for (object, folded) in &mut result {
        if is_parent(object.kind)
            && let Some(kids) = children.remove(object.name.as_str())
        {
            *folded = kids;
        }
    }
    fold_into_columns(result, side)
}

/// A column added or removed on its own takes with it the indexes and constraints that
/// cover it alone and the sequence it owns: dropping the column drops them, so one
/// finding says it (`column public.t.c: left behind by down (with 2 dependent objects)`).
fn fold_into_columns(
    entries: Vec<(ObjectId, Vec<ObjectId>)>,
    side: &Snapshot,
) -> Vec<(ObjectId, Vec<ObjectId>)> {
    let columns: BTreeSet<ObjectId> = entries
        .iter()
        .filter(|(id, _)| id.kind == ObjectKind::Column)
        .map(|(id, _)| id.clone())
        .collect();
    if columns.is_empty() {
        return entries;
    }
    let text = |id: &ObjectId, key: &str| -> Option<String> {
        side.objects.get(id)?.get(key)?.as_str().map(str::to_string)
    };
    // The column each index, constraint or sequence depends on alone, if any.
    let sole_column = |id: &ObjectId| -> Option<ObjectId> {
        match id.kind {
            ObjectKind::Sequence => Some(ObjectId::new(ObjectKind::Column, text(id, "owned_by")?)),
            ObjectKind::Index | ObjectKind::Constraint => {
                let table = text(id, "table")?;
                let definition = text(id, "definition")?;
                let columns: BTreeSet<String> = side
                    .columns_of(&table)
                    .into_iter()
                    .map(|(name, _)| name)
                    .collect();
                let mut referenced = referenced_columns(id.kind, &definition, &columns);
                match (referenced.pop(), referenced.is_empty()) {
                    (Some(column), true) => Some(ObjectId::new(
                        ObjectKind::Column,
                        format!("{table}.{column}"),
                    )),
                    _ => None,
                }
            }
            _ => None,
        }
    };
    let mut moved: BTreeMap<ObjectId, Vec<ObjectId>> = BTreeMap::new();
    let mut kept = Vec::new();
    for (id, folded) in entries {
        match sole_column(&id).filter(|column| columns.contains(column)) {
            Some(column) if folded.is_empty() => moved.entry(column).or_default().push(id),
            _ => kept.push((id, folded)),
        }
    }
    for (id, folded) in &mut kept {
        if let Some(dependents) = moved.remove(id) {
            folded.extend(dependents);
        }
    }
    kept
}

/// The columns of `columns` an index or constraint definition mentions, in the part of it
/// that is about this table: an index's key, `INCLUDE` and `WHERE` (not its name or table),
/// a foreign key's own columns (not those it references).
pub fn referenced_columns(
    kind: ObjectKind,
    definition: &str,
    columns: &BTreeSet<String>,
) -> Vec<String> {
    let relevant = match kind {
        ObjectKind::Index => definition
            .split_once(" USING ")
            .map_or(definition, |(_, rest)| rest),
        _ if definition.starts_with("FOREIGN KEY") => definition
            .split_once(" REFERENCES ")
            .map_or(definition, |(own, _)| own),
        _ => definition,
    };
    let mut found: Vec<String> = identifiers(relevant)
        .into_iter()
        .filter(|word| columns.contains(word))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// The identifiers of SQL text as PostgreSQL prints them: bare words, and double-quoted
/// names with their quotes; string literals skipped.
fn identifiers(sql: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                }
            }
            '"' => {
                let mut word = String::from('"');
                while let Some(c) = chars.next() {
                    word.push(c);
                    if c == '"' {
                        if chars.peek() == Some(&'"') {
                            word.push(chars.next().expect("peeked"));
                        } else {
                            break;
                        }
                    }
                }
                words.push(word);
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut word = String::from(c);
                while let Some(&next) = chars.peek() {
                    if next.is_alphanumeric() || next == '_' || next == '$' {
                        word.push(next);
                        chars.next();
                    } else {
                        break;
                    }
                }
                words.push(word);
            }
            _ => {}
        }
    }
    words
}

/// One `Changed` per attribute whose values differ; absent counts as null.
fn compare_attributes(id: &ObjectId, left: &Attributes, right: &Attributes) -> Vec<Change> {
    let names: BTreeSet<&String> = left.keys().chain(right.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let l = left.get(name).unwrap_or(&Value::Null);
            let r = right.get(name).unwrap_or(&Value::Null);
            (l != r).then(|| Change::Changed {
                object: id.clone(),
                attribute: name.clone(),
                left: l.clone(),
                right: r.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn equivalent_timestamp_defaults_are_a_spelling_difference() {
        let change = |left: &str, right: &str| Change::Changed {
            object: ObjectId::new(ObjectKind::Column, "public.t.created_at"),
            attribute: "default".into(),
            left: json!(left),
            right: json!(right),
        };
        assert_eq!(
            change("now()", "CURRENT_TIMESTAMP").kind(),
            DifferenceKind::DefaultSpelling
        );
        assert_eq!(
            change("transaction_timestamp()", "now()").kind(),
            DifferenceKind::DefaultSpelling
        );
        assert_eq!(
            change("now()", "clock_timestamp()").kind(),
            DifferenceKind::Definition
        );
    }

    #[test]
    fn columns_re_added_together_are_all_at_the_end() {
        // a b c d e, then b and d dropped and re-added (d first): a c e d b.
        let text = column_moves_text(
            &json!(["a", "b", "c", "d", "e"]),
            &json!(["a", "c", "e", "d", "b"]),
        );
        assert_eq!(
            text,
            "d re-added at the end (was 4th), b re-added at the end (was 2nd)"
        );
        assert!(!text.contains("now 4th (was 4th)"), "{text}");
        assert!(text.contains("b re-added at the end (was 2nd)"), "{text}");
        // One column moved in the middle is still told by position.
        assert_eq!(
            column_moves_text(&json!(["a", "b", "c", "d"]), &json!(["b", "c", "a", "d"])),
            "a now 3rd (was 1st)"
        );
    }

    #[test]
    fn text_that_differs_only_in_line_endings_is_its_own_kind() {
        let change = |left: &str, right: &str| Change::Changed {
            object: ObjectId::new(ObjectKind::Function, "public.f()"),
            attribute: "definition".into(),
            left: json!(left),
            right: json!(right),
        };
        let lf = "BEGIN\n  RETURN 1;\nEND;\n";
        assert_eq!(
            change(lf, &lf.replace('\n', "\r\n")).kind(),
            DifferenceKind::LineEndings
        );
        assert_eq!(
            change(lf, &lf.replace('\n', "\r")).kind(),
            DifferenceKind::LineEndings
        );
        assert_eq!(
            change(lf, &lf.replace("1;", "2;").replace('\n', "\r\n")).kind(),
            DifferenceKind::Definition
        );
        assert_eq!(
            change(lf, "BEGIN RETURN 1; END;").kind(),
            DifferenceKind::Definition
        );
    }

    use super::*;
    use serde_json::json;

    fn obj(kind: ObjectKind, name: &str, attrs: Value) -> (ObjectId, Attributes) {
        let attrs = match attrs {
            Value::Object(map) => map.into_iter().collect(),
            _ => Attributes::new(),
        };
        (ObjectId::new(kind, name), attrs)
    }

    #[test]
    fn column_order_changes_are_one_finding_per_table_naming_the_moved_columns() {
        let table = |columns: &[&str]| {
            let mut objects = vec![obj(ObjectKind::Table, "public.t", json!({}))];
            for (i, name) in columns.iter().enumerate() {
                objects.push(obj(
                    ObjectKind::Column,
                    &format!("public.t.{name}"),
                    json!({"table": "public.t", "position": i + 1}),
                ));
            }
            snap(objects)
        };
        let before = table(&["id", "a", "b", "c", "d", "e"]);
        let after = table(&["id", "b", "c", "d", "e", "a"]);
        let changes = diff(&before, &after);
        assert_eq!(changes.len(), 1, "{changes:#?}");
        assert_eq!(
            changes[0].object(),
            &ObjectId::new(ObjectKind::Table, "public.t")
        );
        assert_eq!(changes[0].kind(), DifferenceKind::ColumnPosition);
        let Change::Changed { left, right, .. } = &changes[0] else {
            panic!("{changes:#?}")
        };
        assert_eq!(
            column_moves_text(left, right),
            "a re-added at the end (was 2nd)"
        );
        // Two columns swapped far apart: the fewest that explain it, still one finding.
        let swapped = table(&["id", "e", "b", "c", "d", "a"]);
        let changes = diff(&before, &swapped);
        assert_eq!(changes.len(), 1, "{changes:#?}");
        let Change::Changed { left, right, .. } = &changes[0] else {
            panic!("{changes:#?}")
        };
        assert_eq!(column_moves(left, right).len(), 2, "{changes:#?}");
        assert_eq!(
            column_moves_text(left, right),
            "e now 2nd (was 6th), a re-added at the end (was 2nd)"
        );
        // A dropped column shifts the others: no position finding at all.
        let dropped = table(&["id", "a", "c", "d", "e"]);
        let changes = diff(&before, &dropped);
        assert!(
            changes
                .iter()
                .all(|c| c.kind() != DifferenceKind::ColumnPosition),
            "{changes:#?}"
        );
        assert_eq!(
            longest_common_subsequence(&[1, 2, 3, 4], &[2, 4, 1, 3]).len(),
            2
        );
        assert_eq!(
            [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111]
                .map(ordinal)
                .join(" "),
            "1st 2nd 3rd 4th 11th 12th 13th 21st 22nd 23rd 101st 111th"
        );
    }

    fn snap(objects: Vec<(ObjectId, Attributes)>) -> Snapshot {
        Snapshot {
            objects: objects.into_iter().collect(),
            ..Snapshot::default()
        }
    }

    fn users_table() -> Vec<(ObjectId, Attributes)> {
        vec![
            obj(
                ObjectKind::Table,
                "public.users",
                json!({"owner": "postgres"}),
            ),
            obj(
                ObjectKind::Column,
                "public.users.id",
                json!({"table": "public.users", "position": 1, "type": "integer"}),
            ),
            obj(
                ObjectKind::Constraint,
                "public.users.users_pkey",
                json!({"table": "public.users", "type": "primary key"}),
            ),
            obj(
                ObjectKind::Index,
                "public.users_pkey",
                json!({"table": "public.users"}),
            ),
            obj(
                ObjectKind::Trigger,
                "public.users.t",
                json!({"table": "public.users"}),
            ),
            obj(
                ObjectKind::Policy,
                "public.users.p",
                json!({"table": "public.users"}),
            ),
        ]
    }

    #[test]
    fn identical_snapshots_have_no_changes() {
        let s = snap(users_table());
        assert!(diff(&s, &s).is_empty());
    }

    #[test]
    fn added_table_folds_its_children() {
        let left = snap(vec![obj(ObjectKind::Schema, "public", json!({}))]);
        let mut objects = users_table();
        objects.push(obj(ObjectKind::Schema, "public", json!({})));
        // A serial column's sequence goes with its table: one cause, one change.
        objects.push(obj(
            ObjectKind::Sequence,
            "public.users_id_seq",
            json!({"owned_by": "public.users.id"}),
        ));
        // A sequence owned by another table's column (`public.users2`) is not folded.
        objects.push(obj(
            ObjectKind::Sequence,
            "public.other_seq",
            json!({"owned_by": "public.users2.id"}),
        ));
        let right = snap(objects);
        let changes = diff(&left, &right);
        assert_eq!(
            changes,
            vec![
                Change::Added {
                    object: ObjectId::new(ObjectKind::Table, "public.users"),
                    folded: vec![
                        ObjectId::new(ObjectKind::Column, "public.users.id"),
                        ObjectId::new(ObjectKind::Constraint, "public.users.users_pkey"),
                        ObjectId::new(ObjectKind::Index, "public.users_pkey"),
                        ObjectId::new(ObjectKind::Sequence, "public.users_id_seq"),
                        ObjectId::new(ObjectKind::Trigger, "public.users.t"),
                        ObjectId::new(ObjectKind::Policy, "public.users.p"),
                    ],
                },
                Change::Added {
                    object: ObjectId::new(ObjectKind::Sequence, "public.other_seq"),
                    folded: vec![],
                },
            ]
        );
        // The mirror image is a single Removed with the same folded list.
        let back = diff(&right, &left);
        assert_eq!(back.len(), 2);
        assert!(matches!(&back[0], Change::Removed { folded, .. } if folded.len() == 6));
        assert_eq!(back[0].kind(), DifferenceKind::Definition);
    }

    #[test]
    fn a_column_takes_the_indexes_constraints_and_sequence_that_depend_on_it_alone() {
        let table = |extra: Vec<(ObjectId, Attributes)>| {
            let mut objects = vec![
                obj(ObjectKind::Table, "public.t", json!({})),
                obj(
                    ObjectKind::Column,
                    "public.t.id",
                    json!({"table": "public.t"}),
                ),
                obj(
                    ObjectKind::Column,
                    "public.t.note",
                    json!({"table": "public.t"}),
                ),
            ];
            objects.extend(extra);
            snap(objects)
        };
        let before = table(vec![]);
        let after = table(vec![
            obj(
                ObjectKind::Column,
                "public.t.\"Code\"",
                json!({"table": "public.t"}),
            ),
            obj(
                ObjectKind::Index,
                "public.t_code_idx",
                json!({"table": "public.t",
                "definition": "CREATE INDEX t_code_idx ON public.t USING btree (\"Code\" text_pattern_ops) WHERE (\"Code\" <> 'note'::text)"}),
            ),
            obj(
                ObjectKind::Constraint,
                "public.t.t_code_check",
                json!({"table": "public.t",
                "definition": "CHECK ((length(\"Code\") > 2))"}),
            ),
            obj(
                ObjectKind::Sequence,
                "public.t_code_seq",
                json!({"owned_by": "public.t.\"Code\""}),
            ),
            // Covers another column too: its own finding.
            obj(
                ObjectKind::Index,
                "public.t_code_note_idx",
                json!({"table": "public.t",
                "definition": "CREATE INDEX t_code_note_idx ON public.t USING btree (\"Code\", note)"}),
            ),
            // A foreign key's referenced column does not count.
            obj(
                ObjectKind::Constraint,
                "public.t.t_code_fkey",
                json!({"table": "public.t",
                "definition": "FOREIGN KEY (\"Code\") REFERENCES public.t(note)"}),
            ),
        ]);
        let changes = diff(&before, &after);
        let summary: Vec<String> = changes
            .iter()
            .map(|c| match c {
                Change::Added { object, folded } => format!("{object} +{}", folded.len()),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            summary,
            [
                "column public.t.\"Code\" +4",
                "index public.t_code_note_idx +0",
            ],
            "{changes:#?}"
        );
        let columns: BTreeSet<String> = ["id", "note"].map(String::from).into();
        assert_eq!(
            referenced_columns(
                ObjectKind::Index,
                "CREATE INDEX note ON public.note USING gin (id)",
                &columns
            ),
            ["id"]
        );
    }

    #[test]
    fn index_added_on_existing_table_is_reported_alone() {
        let left = snap(users_table());
        let mut objects = users_table();
        objects.push(obj(
            ObjectKind::Index,
            "public.users_email_lower_idx",
            json!({"table": "public.users"}),
        ));
        let right = snap(objects);
        assert_eq!(
            diff(&left, &right),
            vec![Change::Added {
                object: ObjectId::new(ObjectKind::Index, "public.users_email_lower_idx"),
                folded: vec![],
            }]
        );
    }

    #[test]
    fn changed_attributes_absent_is_null_and_ordered() {
        let left = snap(vec![obj(
            ObjectKind::Column,
            "public.users.id",
            json!({"table": "public.users", "position": 1, "default": "0"}),
        )]);
        let right = snap(vec![obj(
            ObjectKind::Column,
            "public.users.id",
            json!({"table": "public.users", "position": 2, "comment": "hi"}),
        )]);
        let changes = diff(&left, &right);
        let summary: Vec<(&str, &str)> = changes
            .iter()
            .map(|c| match c {
                Change::Changed { attribute, .. } => (attribute.as_str(), c.kind().as_str()),
                _ => unreachable!(),
            })
            .collect();
        // The lone column cannot have moved among its table's columns: its new ordinal
        // only says others came or went, which are findings of their own.
        assert_eq!(
            summary,
            vec![("comment", "comment"), ("default", "definition")]
        );
        assert_eq!(
            changes[0],
            Change::Changed {
                object: ObjectId::new(ObjectKind::Column, "public.users.id"),
                attribute: "comment".into(),
                left: Value::Null,
                right: json!("hi"),
            }
        );
    }

    #[test]
    fn change_serialises_with_tag_and_omits_empty_fold() {
        let change = Change::Added {
            object: ObjectId::new(ObjectKind::MaterializedView, "public.mv"),
            folded: vec![],
        };
        assert_eq!(
            serde_json::to_value(&change).unwrap(),
            json!({"change": "added", "object": {"kind": "materialized_view", "name": "public.mv"}})
        );
        let back: Change = serde_json::from_value(serde_json::to_value(&change).unwrap()).unwrap();
        assert_eq!(back, change);
        assert_eq!(change.object().to_string(), "materialized view public.mv");
    }

    #[test]
    fn snapshot_round_trips_through_json() {
        let s = snap(users_table());
        let text = serde_json::to_string(&s).unwrap();
        let back: Snapshot = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
    }
}
