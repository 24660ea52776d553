//! The net schema change of a pull request as reviewers read it, shared by the Markdown
//! and terminal renderers: counts first ("2 tables added, 1 altered · 3 indexes added"),
//! then one group per table with what each added object is, what each removed one was,
//! and each changed attribute as before → after. Multi-line values (a view's or
//! function's definition) become a line diff. Presentation only: every fact comes from
//! the report's [`SchemaChange`] entries.

use std::collections::BTreeMap;

use serde_json::Value;

use super::SchemaChange;
use crate::schema::review::ObjectDetail;

/// How a line reads in a diff: added, removed, changed, or context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Added,
    Removed,
    Changed,
    Context,
}

impl Mark {
    /// `+`, `-`, `~` or a space, as the first character of a diff line.
    pub fn symbol(self) -> char {
        match self {
            Mark::Added => '+',
            Mark::Removed => '-',
            Mark::Changed => '~',
            Mark::Context => ' ',
        }
    }

    fn of(change: &str) -> Mark {
        match change {
            "added" => Mark::Added,
            "removed" => Mark::Removed,
            _ => Mark::Changed,
        }
    }
}

/// One line of the listing: its mark, its depth under the group heading, its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub mark: Mark,
    pub depth: usize,
    pub text: String,
}

/// The listing: a counts sentence and one group of lines per table or other object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    /// `2 tables added, 1 altered · 3 indexes added · 1 function changed`.
    pub counts: String,
    /// One per table (or view) touched, then one per object of no table.
    pub groups: Vec<Vec<Line>>,
}

impl Overview {
    /// Every line, groups separated by a context line.
    pub fn lines(&self) -> Vec<Line> {
        let mut lines = Vec::new();
        for (i, group) in self.groups.iter().enumerate() {
            if i > 0 {
                lines.push(Line {
                    mark: Mark::Context,
                    depth: 0,
                    text: String::new(),
                });
            }
            lines.extend(group.iter().cloned());
        }
        lines
    }

    /// Every line as text (`+ table public.orders`, `~     column email: ...`).
    pub fn text_lines(&self) -> Vec<String> {
        self.lines()
            .iter()
            .map(|line| {
                let text = format!(
                    "{} {}{}",
                    line.mark.symbol(),
                    "    ".repeat(line.depth),
                    line.text
                );
                text.trim_end().to_string()
            })
            .collect()
    }
}

/// The overview of a report's schema changes.
pub fn overview(changes: &[SchemaChange]) -> Overview {
    let mut by_table: BTreeMap<&str, Vec<&SchemaChange>> = BTreeMap::new();
    let mut others: Vec<&SchemaChange> = Vec::new();
    for change in changes {
        match change.table.as_deref() {
            Some(table) => by_table.entry(table).or_default().push(change),
            None => others.push(change),
        }
    }
    let mut counts = Counts::default();
    let mut groups = Vec::new();
    for (table, entries) in &by_table {
        let own = entries
            .iter()
            .find(|c| c.name == *table && c.change != "changed");
        let kind = entries
            .iter()
            .find(|c| c.name == *table)
            .map_or("table", |c| c.kind.as_str());
        let mut lines = Vec::new();
        match own {
            Some(own) => {
                counts.add(kind, &own.change);
                lines.extend(whole_object(own));
                // A table dropped and re-created, or parts changed beside it.
                for entry in entries.iter().filter(|c| !std::ptr::eq(**c, *own)) {
                    lines.extend(part(entry, table));
                }
            }
            None => {
                counts.add(kind, "altered");
                lines.push(Line {
                    mark: Mark::Changed,
                    depth: 0,
                    text: format!("{kind} {table}"),
                });
                for entry in entries {
                    if entry.kind != "column" && entry.name != *table {
                        counts.add(&entry.kind, &entry.change);
                    }
                    lines.extend(part(entry, table));
                }
            }
        }
        groups.push(lines);
    }
    for entry in others {
        counts.add(&entry.kind, &entry.change);
        groups.push(match entry.change.as_str() {
            "changed" => {
                let mut lines = vec![Line {
                    mark: Mark::Changed,
                    depth: 0,
                    text: heading(entry),
                }];
                lines.extend(attribute_change(entry, 1));
                lines
            }
            _ => whole_object(entry),
        });
    }
    Overview {
        counts: counts.sentence(),
        groups,
    }
}

/// `kind name`, or the entry's `object` text for reports without kind and name.
fn heading(entry: &SchemaChange) -> String {
    if entry.name.is_empty() {
        entry.object.clone()
    } else {
        format!("{} {}", entry.kind, entry.name)
    }
}

/// An added or removed object with what it is or was.
fn whole_object(entry: &SchemaChange) -> Vec<Line> {
    let mark = Mark::of(&entry.change);
    let Some(details) = &entry.details else {
        return vec![Line {
            mark,
            depth: 0,
            text: entry.object.clone(),
        }];
    };
    let mut head = heading(entry);
    let mut body = Vec::new();
    match entry.kind.as_str() {
        "table" | "view" | "materialized view" => body = table_lines(details, mark),
        "function" => {
            if let Some(function) = &details.function {
                head = format!("{} {}", entry.kind, function.summary());
            }
        }
        "type" if !details.labels.is_empty() => {
            head = format!("{head}: enum ({})", details.labels.join(", "));
        }
        _ => body = definition_lines(details, mark, 1),
    }
    let mut lines = vec![Line {
        mark,
        depth: 0,
        text: head,
    }];
    lines.extend(body);
    lines
}

/// A table's (view's) columns, constraints, indexes, triggers, policies and definition.
fn table_lines(details: &ObjectDetail, mark: Mark) -> Vec<Line> {
    let line = |text: String| Line {
        mark,
        depth: 1,
        text,
    };
    let width = details
        .columns
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line> = details
        .columns
        .iter()
        .map(|c| line(format!("{:<width$}  {}", c.name, c.summary())))
        .collect();
    for (what, parts) in [
        ("constraint", &details.constraints),
        ("index", &details.indexes),
        ("trigger", &details.triggers),
        ("policy", &details.policies),
    ] {
        for part in parts {
            lines.push(line(format!(
                "{what} {}: {}",
                part.name,
                one_line(&part.definition)
            )));
        }
    }
    if let Some(definition) = &details.definition {
        lines.push(line("definition:".into()));
        lines.extend(definition.lines().map(|text| Line {
            mark,
            depth: 2,
            text: text.trim_end().to_string(),
        }));
    }
    lines
}

/// What defines an object other than a table, function or enum.
fn definition_lines(details: &ObjectDetail, mark: Mark, depth: usize) -> Vec<Line> {
    let line = |text: String| Line { mark, depth, text };
    if let Some(definition) = &details.definition {
        return vec![line(one_line(definition))];
    }
    details
        .attributes
        .iter()
        .map(|(key, value)| line(format!("{}: {value}", key.replace('_', " "))))
        .collect()
}

/// A change of a part of `table` (a column, index, constraint, ...) or of the table itself.
fn part(entry: &SchemaChange, table: &str) -> Vec<Line> {
    let mark = Mark::of(&entry.change);
    let short = entry
        .name
        .strip_prefix(table)
        .and_then(|rest| rest.strip_prefix('.'))
        .or_else(|| entry.name.rsplit_once('.').map(|(_, n)| n))
        .unwrap_or(&entry.name);
    if entry.name == table {
        return attribute_change(entry, 1);
    }
    if entry.change == "changed" {
        let mut change = attribute_change(entry, 2);
        if let [only] = change.as_mut_slice() {
            only.depth = 1;
            only.text = format!("{} {short}: {}", entry.kind, only.text);
            return change;
        }
        let mut lines = vec![Line {
            mark,
            depth: 1,
            text: format!("{} {short}", entry.kind),
        }];
        lines.extend(change);
        return lines;
    }
    let Some(details) = &entry.details else {
        return vec![Line {
            mark,
            depth: 1,
            text: entry.object.clone(),
        }];
    };
    let text = match (entry.kind.as_str(), details.columns.first()) {
        ("column", Some(column)) => format!("column {short}  {}", column.summary()),
        _ => match &details.definition {
            Some(definition) => format!("{} {short}: {}", entry.kind, one_line(definition)),
            None => format!("{} {}", entry.kind, entry.name),
        },
    };
    let mut lines = vec![Line {
        mark,
        depth: 1,
        text,
    }];
    // A column's own indexes and constraints, which came or went with it.
    if entry.kind == "column" {
        for (what, parts) in [
            ("constraint", &details.constraints),
            ("index", &details.indexes),
        ] {
            lines.extend(parts.iter().map(|part| Line {
                mark,
                depth: 2,
                text: format!("{what} {}: {}", part.name, one_line(&part.definition)),
            }));
        }
    }
    lines
}

/// `type: text → character varying(320)`, or a line diff of a multi-line value.
fn attribute_change(entry: &SchemaChange, depth: usize) -> Vec<Line> {
    let (Some(attribute), Some(before), Some(after)) =
        (&entry.attribute, &entry.before, &entry.after)
    else {
        return vec![Line {
            mark: Mark::Changed,
            depth,
            text: entry.detail.clone().unwrap_or_default(),
        }];
    };
    let label = attribute.replace('_', " ");
    if attribute == "column_order" {
        return vec![Line {
            mark: Mark::Changed,
            depth,
            text: entry.detail.clone().unwrap_or_default(),
        }];
    }
    let (before, after) = (text_value(before), text_value(after));
    if !before.contains('\n') && !after.contains('\n') {
        return vec![Line {
            mark: Mark::Changed,
            depth,
            text: format!("{label}: {before} → {after}"),
        }];
    }
    let mut lines = vec![Line {
        mark: Mark::Changed,
        depth,
        text: format!("{label}:"),
    }];
    for change in similar::TextDiff::from_lines(&before, &after).iter_all_changes() {
        let mark = match change.tag() {
            similar::ChangeTag::Delete => Mark::Removed,
            similar::ChangeTag::Insert => Mark::Added,
            similar::ChangeTag::Equal => Mark::Context,
        };
        lines.push(Line {
            mark,
            depth: depth + 1,
            text: change.value().trim_end().to_string(),
        });
    }
    lines
}

/// An attribute value as text: strings unquoted, null as `none`, lists comma-separated.
fn text_value(value: &Value) -> String {
    super::schema_text::inline_value(value)
}

/// Whitespace runs (newlines included) as one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Counts per kind and change, in first-seen order.
#[derive(Default)]
struct Counts(Vec<(String, Vec<(String, usize)>)>);

impl Counts {
    fn add(&mut self, kind: &str, change: &str) {
        let kind = if kind.is_empty() { "object" } else { kind };
        let index = match self.0.iter().position(|(k, _)| k == kind) {
            Some(index) => index,
            None => {
                self.0.push((kind.to_string(), Vec::new()));
                self.0.len() - 1
            }
        };
        let changes = &mut self.0[index].1;
        match changes.iter_mut().find(|(c, _)| c == change) {
            Some((_, n)) => *n += 1,
            None => {
                changes.push((change.to_string(), 1));
                let rank = |c: &str| {
                    ["added", "altered", "changed", "removed"]
                        .iter()
                        .position(|r| *r == c)
                };
                changes.sort_by_key(|(c, _)| rank(c));
            }
        }
    }

    /// `2 tables added, 1 altered · 3 indexes added`.
    fn sentence(&self) -> String {
        self.0
            .iter()
            .map(|(kind, changes)| {
                changes
                    .iter()
                    .enumerate()
                    .map(|(i, (change, n))| {
                        if i == 0 {
                            format!("{n} {} {change}", plural(kind, *n))
                        } else {
                            format!("{n} {change}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

/// `table` → `tables`, `index` → `indexes`, `policy` → `policies` for n ≠ 1.
fn plural(kind: &str, n: usize) -> String {
    if n == 1 || kind.ends_with('s') {
        return kind.to_string();
    }
    if let Some(stem) = kind.strip_suffix('y') {
        return format!("{stem}ies");
    }
    if kind.ends_with('x') {
        return format!("{kind}es");
    }
    format!("{kind}s")
}

/// Test data: a PR that adds a table with a foreign key, alters a column's type and
/// adds an index, and changes a function's body.
#[cfg(test)]
pub(crate) mod sample {
    use super::SchemaChange;
    use crate::schema::review::{ColumnDetail, ObjectDetail, PartDetail};
    use serde_json::json;

    fn column(name: &str, data_type: &str, not_null: bool) -> ColumnDetail {
        ColumnDetail {
            name: name.into(),
            data_type: data_type.into(),
            not_null,
            default: None,
            identity: None,
            generated: None,
        }
    }

    pub(crate) fn sample() -> Vec<SchemaChange> {
        vec![
            SchemaChange {
                change: "changed".into(),
                object: "column public.customers.email".into(),
                detail: Some("type: `text` → `character varying(320)`".into()),
                kind: "column".into(),
                name: "public.customers.email".into(),
                table: Some("public.customers".into()),
                attribute: Some("type".into()),
                before: Some(json!("text")),
                after: Some(json!("character varying(320)")),
                ..SchemaChange::default()
            },
            SchemaChange {
                change: "added".into(),
                object: "index public.customers_email_idx".into(),
                kind: "index".into(),
                name: "public.customers_email_idx".into(),
                table: Some("public.customers".into()),
                details: Some(ObjectDetail {
                    definition: Some(
                        "CREATE INDEX customers_email_idx ON public.customers USING btree (email)"
                            .into(),
                    ),
                    ..ObjectDetail::default()
                }),
                ..SchemaChange::default()
            },
            SchemaChange {
                change: "added".into(),
                object: "table public.orders (with 4 dependent objects)".into(),
                kind: "table".into(),
                name: "public.orders".into(),
                table: Some("public.orders".into()),
                details: Some(ObjectDetail {
                    columns: vec![
                        ColumnDetail {
                            identity: Some("always".into()),
                            ..column("id", "bigint", true)
                        },
                        column("customer_id", "bigint", true),
                        ColumnDetail {
                            default: Some("0".into()),
                            ..column("total", "numeric(10,2)", false)
                        },
                    ],
                    constraints: vec![
                        PartDetail {
                            name: "orders_pkey".into(),
                            definition: "PRIMARY KEY (id)".into(),
                        },
                        PartDetail {
                            name: "orders_customer_id_fkey".into(),
                            definition: "FOREIGN KEY (customer_id) REFERENCES public.customers(id)"
                                .into(),
                        },
                    ],
                    ..ObjectDetail::default()
                }),
                ..SchemaChange::default()
            },
            SchemaChange {
                change: "changed".into(),
                object: "function public.touch()".into(),
                detail: Some("definition: …".into()),
                kind: "function".into(),
                name: "public.touch()".into(),
                attribute: Some("definition".into()),
                before: Some(json!("BEGIN\n  NEW.at = now();\nEND")),
                after: Some(json!("BEGIN\n  NEW.at = clock_timestamp();\nEND")),
                ..SchemaChange::default()
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_grouped_by_table_with_counts_first() {
        let overview = overview(&sample::sample());
        assert_eq!(
            overview.counts,
            "1 table added, 1 altered · 1 index added · 1 function changed"
        );
        assert_eq!(
            overview.text_lines(),
            [
                "~ table public.customers",
                "~     column email: type: text → character varying(320)",
                "+     index customers_email_idx: CREATE INDEX customers_email_idx ON public.customers USING btree (email)",
                "",
                "+ table public.orders",
                "+     id           bigint not null identity always",
                "+     customer_id  bigint not null",
                "+     total        numeric(10,2) default 0",
                "+     constraint orders_pkey: PRIMARY KEY (id)",
                "+     constraint orders_customer_id_fkey: FOREIGN KEY (customer_id) REFERENCES public.customers(id)",
                "",
                "~ function public.touch()",
                "~     definition:",
                "          BEGIN",
                "-           NEW.at = now();",
                "+           NEW.at = clock_timestamp();",
                "          END",
            ]
        );
    }

    #[test]
    fn entries_of_old_reports_without_detail_still_read() {
        let old = SchemaChange {
            change: "added".into(),
            object: "table public.users (with 3 dependent objects)".into(),
            ..SchemaChange::default()
        };
        let overview = overview(&[old]);
        assert_eq!(overview.counts, "1 object added");
        assert_eq!(
            overview.text_lines(),
            ["+ table public.users (with 3 dependent objects)"]
        );
        assert_eq!(plural("index", 2), "indexes");
        assert_eq!(plural("policy", 3), "policies");
        assert_eq!(plural("default privileges", 2), "default privileges");
    }
}
