//! Text renderings of schemas for people: `snapshot` prints a live database's
//! canonical schema object by object, and `diff` prints object-level
//! differences with the changed attributes under each object (multi-line
//! definitions as a line diff), grouped and marked `+`, `-`, `~`.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use serde_json::Value;

use crate::schema::{Change, Snapshot};

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const GREEN: Style = AnsiColor::Green.on_default();
const RED: Style = AnsiColor::Red.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();

fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// An attribute value on one line (strings unquoted, lists comma-separated).
pub fn inline_value(value: &Value) -> String {
    match value {
        Value::Null => "none".into(),
        other => crate::schema::review::display_value(other),
    }
}

/// The canonical schema, one object per paragraph.
pub fn render_snapshot(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    for (id, attributes) in &snapshot.objects {
        let _ = writeln!(out, "{}", paint(BOLD, &id.to_string()));
        for (name, value) in attributes {
            let text = inline_value(value);
            if text.contains('\n') {
                let _ = writeln!(out, "    {}:", paint(DIM, name));
                for line in text.lines() {
                    let _ = writeln!(out, "        {line}");
                }
            } else {
                let _ = writeln!(out, "    {} {text}", paint(DIM, &format!("{name}:")));
            }
        }
    }
    let _ = writeln!(out, "\n{} object(s)", snapshot.objects.len());
    out
}

/// Object-level differences between `left` and `right` (named by their labels).
pub fn render_diff(changes: &[Change], left: &str, right: &str) -> String {
    let mut out = String::new();
    if changes.is_empty() {
        let _ = writeln!(
            out,
            "{} {left} and {right} have the same schema",
            paint(GREEN, "=")
        );
        return out;
    }
    let _ = writeln!(
        out,
        "{} schema difference(s) between {left} (-) and {right} (+)\n",
        changes.len()
    );
    let mut previous: Option<String> = None;
    for change in changes {
        match change {
            Change::Added { object, folded } => {
                let _ = writeln!(
                    out,
                    "{} {object}{}",
                    paint(GREEN, "+"),
                    folded_note(folded.len(), right)
                );
                previous = None;
            }
            Change::Removed { object, folded } => {
                let _ = writeln!(
                    out,
                    "{} {object}{}",
                    paint(RED, "-"),
                    folded_note(folded.len(), left)
                );
                previous = None;
            }
            Change::Changed {
                object,
                attribute,
                left: before,
                right: after,
            } => {
                let heading = object.to_string();
                if previous.as_deref() != Some(heading.as_str()) {
                    let _ = writeln!(out, "{} {heading}", paint(YELLOW, "~"));
                    previous = Some(heading);
                }
                render_attribute_change(&mut out, attribute, before, after);
            }
        }
    }
    out
}

fn folded_note(count: usize, side: &str) -> String {
    let what = if count == 1 {
        "dependent object"
    } else {
        "dependent objects"
    };
    match count {
        0 => format!("  {}", paint(DIM, &format!("only in {side}"))),
        n => format!(
            "  {}",
            paint(DIM, &format!("only in {side}, with {n} {what}"))
        ),
    }
}

fn render_attribute_change(out: &mut String, attribute: &str, before: &Value, after: &Value) {
    let (before, after) = (inline_value(before), inline_value(after));
    if !before.contains('\n') && !after.contains('\n') && before.len() + after.len() < 100 {
        let _ = writeln!(
            out,
            "    {} {} → {}",
            paint(DIM, &format!("{attribute}:")),
            paint(RED, &before),
            paint(GREEN, &after)
        );
        return;
    }
    let _ = writeln!(out, "    {}", paint(DIM, &format!("{attribute}:")));
    let diff = similar::TextDiff::from_lines(&before, &after);
    for change in diff.iter_all_changes() {
        let line = change.value().trim_end_matches('\n');
        let _ = match change.tag() {
            similar::ChangeTag::Delete => {
                writeln!(out, "      {}", paint(RED, &format!("- {line}")))
            }
            similar::ChangeTag::Insert => {
                writeln!(out, "      {}", paint(GREEN, &format!("+ {line}")))
            }
            similar::ChangeTag::Equal => writeln!(out, "        {}", paint(DIM, line)),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ObjectId, ObjectKind};
    use serde_json::json;

    fn plain(text: &str) -> String {
        anstream::adapter::strip_str(text).to_string()
    }

    #[test]
    fn diff_text_groups_attributes_and_diffs_definitions() {
        let changes = vec![
            Change::Added {
                object: ObjectId::new(ObjectKind::Index, "public.users_email_idx"),
                folded: vec![],
            },
            Change::Changed {
                object: ObjectId::new(ObjectKind::Column, "public.users.email"),
                attribute: "type".into(),
                left: json!("text"),
                right: json!("character varying(200)"),
            },
            Change::Changed {
                object: ObjectId::new(ObjectKind::Column, "public.users.email"),
                attribute: "not_null".into(),
                left: json!(false),
                right: json!(true),
            },
            Change::Changed {
                object: ObjectId::new(ObjectKind::Function, "public.touch()"),
                attribute: "definition".into(),
                left: json!("BEGIN\n  NEW.updated := now();\n  RETURN NEW;\nEND"),
                right: json!("BEGIN\n  NEW.updated_at := now();\n  RETURN NEW;\nEND"),
            },
        ];
        let text = plain(&render_diff(&changes, "staging", "production"));
        assert!(
            text.starts_with("4 schema difference(s) between staging (-) and production (+)"),
            "{text}"
        );
        assert!(
            text.contains("+ index public.users_email_idx  only in production"),
            "{text}"
        );
        assert_eq!(
            text.matches("~ column public.users.email").count(),
            1,
            "{text}"
        );
        assert!(
            text.contains("    type: text → character varying(200)"),
            "{text}"
        );
        assert!(text.contains("      -   NEW.updated := now();"), "{text}");
        assert!(
            text.contains("      +   NEW.updated_at := now();"),
            "{text}"
        );
    }

    #[test]
    fn equal_schemas_say_so() {
        assert!(plain(&render_diff(&[], "a", "b")).contains("a and b have the same schema"));
    }
}
