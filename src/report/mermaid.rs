//! The schema diagram as a Mermaid `erDiagram`, which GitHub draws in comments and which
//! `verify --erd PATH` writes for local use. Table and column names come from migrations,
//! so they are untrusted: every name is written in a form the Mermaid grammar cannot
//! read as syntax (entities by a generated id with the name as a quoted label, types and
//! column names reduced to the characters Mermaid allows, quotes in labels replaced),
//! so a table called `x}"--` draws as a table and breaks nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::schema::erd::{Diagram, State};

/// One sentence saying how the diagram marks what changed.
pub const LEGEND: &str = "Tables marked + (green) were added, ~ (yellow) altered, − (red) \
                          removed; unmarked ones are reached by a foreign key. A changed column \
                          says added, altered or removed; a removed foreign key is dotted.";

/// The diagram as Mermaid text (without a Markdown fence).
pub fn render(diagram: &Diagram) -> String {
    let mut out = String::from("erDiagram\n");
    let ids: BTreeMap<&str, String> = diagram
        .entities
        .iter()
        .enumerate()
        .map(|(i, entity)| (entity.name.as_str(), format!("t{i}")))
        .collect();
    for entity in &diagram.entities {
        let mark = match entity.state {
            State::Added => "+ ",
            State::Altered => "~ ",
            State::Removed => "− ",
            State::Referenced => "",
        };
        let class = match entity.state {
            State::Added => ":::added",
            State::Altered => ":::altered",
            State::Removed => ":::removed",
            State::Referenced => "",
        };
        let _ = write!(
            out,
            "    {}[\"{mark}{}\"]{class}",
            ids[entity.name.as_str()],
            label(&entity.name)
        );
        if entity.columns.is_empty() {
            out.push('\n');
            continue;
        }
        out.push_str(" {\n");
        for column in &entity.columns {
            let _ = write!(
                out,
                "        {} {}",
                word(&column.data_type),
                word(&column.name)
            );
            if !column.keys.is_empty() {
                let _ = write!(out, " {}", column.keys.join(", "));
            }
            let state = match column.state {
                Some(State::Added) => Some("added"),
                Some(State::Altered) => Some("altered"),
                Some(State::Removed) => Some("removed"),
                _ => None,
            };
            // A name or type Mermaid cannot show as written is spelled out here.
            let mut comment: Vec<&str> = state.into_iter().collect();
            for text in [&column.name, &column.data_type] {
                if word(text) != *text {
                    comment.push(text);
                }
            }
            if !comment.is_empty() {
                let _ = write!(out, " \"{}\"", label(&comment.join(", ")));
            }
            out.push('\n');
        }
        out.push_str("    }\n");
    }
    for relationship in &diagram.relationships {
        let (Some(from), Some(to)) = (
            ids.get(relationship.from.as_str()),
            ids.get(relationship.to.as_str()),
        ) else {
            continue;
        };
        let parent = if relationship.optional { "|o" } else { "||" };
        let line = if relationship.state == Some(State::Removed) {
            ".."
        } else {
            "--"
        };
        let mark = match relationship.state {
            Some(State::Added) => "+ ",
            Some(State::Removed) => "− ",
            _ => "",
        };
        let _ = writeln!(
            out,
            "    {to} {parent}{line}o{{ {from} : \"{}\"",
            label(&format!("{mark}{}", relationship.constraint))
        );
    }
    // GitHub's colours for added, changed and removed lines.
    out.push_str(
        "    classDef added fill:#dafbe1,stroke:#1a7f37\n\
         \x20   classDef altered fill:#fff8c5,stroke:#9a6700\n\
         \x20   classDef removed fill:#ffebe9,stroke:#cf222e\n",
    );
    out
}

/// A note for what the cap left out, if anything.
pub fn left_out_note(diagram: &Diagram) -> Option<String> {
    match diagram.left_out.as_slice() {
        [] => None,
        names => Some(format!(
            "The diagram shows {} tables; {} more are left out: {}.",
            diagram.entities.len(),
            names.len(),
            names.join(", ")
        )),
    }
}

/// Text for inside a quoted Mermaid label or comment: Mermaid 11 refuses `"`, `%` and `\`
/// there, reads `#name;` as an entity and `~x~` as a generic, and allows no line break; a
/// quote becomes Mermaid's `#quot;`, the others look-alikes. Never empty.
fn label(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            // Mermaid's own entity for a double quote (a `#` of the text never gets here).
            '"' => out.push_str("#quot;"),
            c => out.push(look_alike(c)),
        }
    }
    if out.trim().is_empty() {
        "_".to_string()
    } else {
        out
    }
}

/// A character that reads the same but that Mermaid 11 takes literally in a label.
fn look_alike(c: char) -> char {
    match c {
        '<' => '‹',
        '>' => '›',
        '#' => '♯',
        // `%%{` anywhere in the text is a directive, `%%` a comment.
        '%' => '％',
        '\\' => '∖',
        '~' => '∼',
        ';' => ',',
        c if c.is_control() => ' ',
        c => c,
    }
}

/// A column name or type as a Mermaid attribute word: letters, digits and `_` only
/// (`numeric(10,2)` → `numeric_10_2`), never empty, never starting with a digit.
fn word(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_').to_string();
    // Key words are not names: a column called `pk` would be read as a key.
    let reserved = matches!(out.to_ascii_lowercase().as_str(), "pk" | "fk" | "uk");
    match out.chars().next() {
        None => "_".to_string(),
        Some(c) if c.is_ascii_digit() || reserved => format!("_{out}"),
        Some(_) => out,
    }
}

/// Test data shared with the Markdown tests.
#[cfg(test)]
pub(crate) mod sample {
    use crate::schema::erd::{Diagram, Entity, EntityColumn, Relationship, State};

    pub(crate) fn column(
        name: &str,
        data_type: &str,
        keys: &[&str],
        state: Option<State>,
    ) -> EntityColumn {
        EntityColumn {
            name: name.into(),
            data_type: data_type.into(),
            keys: keys.iter().map(|k| k.to_string()).collect(),
            state,
        }
    }

    /// The diagram of [`crate::report::schema_changes::sample`]: a table added with a
    /// foreign key, a table whose column changed type and that got an index.
    pub(crate) fn sample() -> Diagram {
        Diagram {
            entities: vec![
                Entity {
                    name: "public.orders".into(),
                    state: State::Added,
                    columns: vec![
                        column("id", "bigint", &["PK"], None),
                        column("customer_id", "bigint", &["FK"], None),
                        column("total", "numeric(10,2)", &[], None),
                    ],
                },
                Entity {
                    name: "public.customers".into(),
                    state: State::Altered,
                    columns: vec![
                        column("id", "bigint", &["PK"], None),
                        column(
                            "email",
                            "character varying(320)",
                            &["UK"],
                            Some(State::Altered),
                        ),
                    ],
                },
            ],
            relationships: vec![Relationship {
                from: "public.orders".into(),
                to: "public.customers".into(),
                constraint: "orders_customer_id_fkey".into(),
                optional: false,
                state: Some(State::Added),
            }],
            left_out: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sample::column;
    use super::*;
    use crate::schema::erd::{Entity, Relationship};

    #[test]
    fn entities_columns_and_foreign_keys_are_drawn_with_their_marks() {
        assert_eq!(
            render(&sample::sample()),
            "erDiagram\n\
             \x20   t0[\"+ public.orders\"]:::added {\n\
             \x20       bigint id PK\n\
             \x20       bigint customer_id FK\n\
             \x20       numeric_10_2 total \"numeric(10,2)\"\n\
             \x20   }\n\
             \x20   t1[\"~ public.customers\"]:::altered {\n\
             \x20       bigint id PK\n\
             \x20       character_varying_320 email UK \"altered, character varying(320)\"\n\
             \x20   }\n\
             \x20   t1 ||--o{ t0 : \"+ orders_customer_id_fkey\"\n\
             \x20   classDef added fill:#dafbe1,stroke:#1a7f37\n\
             \x20   classDef altered fill:#fff8c5,stroke:#9a6700\n\
             \x20   classDef removed fill:#ffebe9,stroke:#cf222e\n"
        );
    }

    #[test]
    fn hostile_names_cannot_break_the_diagram() {
        let evil = "x}\"--\n%%{init: {}}%% <script> #quot; \\ ~a~";
        let diagram = Diagram {
            entities: vec![Entity {
                name: evil.into(),
                state: State::Removed,
                columns: vec![column(evil, evil, &["PK"], Some(State::Removed))],
            }],
            relationships: vec![Relationship {
                from: evil.into(),
                to: evil.into(),
                constraint: evil.into(),
                optional: true,
                state: Some(State::Removed),
            }],
            left_out: vec![],
        };
        let text = render(&diagram);
        // One line per statement, quotes balanced, no raw markup.
        assert_eq!(text.lines().count(), 8, "{text}");
        for line in text.lines() {
            assert_eq!(line.matches('"').count() % 2, 0, "{line}");
        }
        assert!(!text.contains('<'), "{text}");
        assert!(!text.contains('%'), "{text}");
        assert!(!text.contains('\\'), "{text}");
        // The only entity is ours: a quote as `#quot;`.
        for line in text.lines().filter(|l| !l.contains("classDef")) {
            assert!(!line.replace("#quot;", "").contains('#'), "{line}");
        }
        assert_eq!(label("a\"b"), "a#quot;b");
        assert_eq!(word("1st col"), "_1st_col");
        assert_eq!(word("\"\""), "_");
        assert_eq!(word("PK"), "_PK");
        assert_eq!(label(""), "_");
    }
}
