//! Sentences for schema differences in the context where they were found: an
//! object present after down but not before up is "left behind by down", not
//! "added". Pure text; the verdict is decided by the pipeline.

use serde_json::Value;

use crate::report::SchemaChange;
use crate::schema::Snapshot;
use crate::schema::diff::{Change, column_moves_text, only_line_endings_differ};
use crate::schema::review;

/// Which two snapshots were compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before up vs after down.
    Down,
    /// After the first up vs after the second.
    Reup,
    /// Before the cycle's first migration vs after all its downs.
    SequenceDown,
    /// The final schema vs after all ups again.
    SequenceUp,
}

impl Phase {
    /// The problem kind a difference in this phase gets.
    pub fn kind(self) -> &'static str {
        match self {
            Phase::Down => "not_reversible",
            Phase::Reup => "not_reapplicable",
            Phase::SequenceDown => "sequence_not_reversible",
            Phase::SequenceUp => "sequence_not_reapplicable",
        }
    }

    /// (what an object only on the right is, what one only on the left is,
    ///  name of the left state, name of the right state)
    fn words(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Phase::Down => (
                "left behind by down",
                "missing after down (it existed before up)",
                "before up",
                "after down",
            ),
            Phase::Reup => (
                "created by the second up but not by the first",
                "created by the first up but missing after the second",
                "after the first up",
                "after the second up",
            ),
            Phase::SequenceDown => (
                "left behind by the downs run in reverse",
                "missing after the downs run in reverse",
                "before the first up",
                "after all downs",
            ),
            Phase::SequenceUp => (
                "present only after the ups were run again",
                "missing after the ups were run again",
                "after the first walk",
                "after all ups again",
            ),
        }
    }
}

/// One entry of the net schema change of a run, `before` and `after` being the snapshots
/// compared: the object's kind, name and table, and what an added object is, what a
/// removed one was, or an attribute's values before and after.
pub fn schema_change(change: &Change, before: &Snapshot, after: &Snapshot) -> SchemaChange {
    let object = change.object();
    let entry = |snapshot: &Snapshot| SchemaChange {
        kind: object.kind.label().to_string(),
        name: object.name.clone(),
        table: review::owning_table(snapshot, object),
        ..SchemaChange::default()
    };
    match change {
        Change::Added { folded, .. } => SchemaChange {
            change: "added".into(),
            object: format!("{object}{}", folded_suffix(folded.len())),
            details: Some(review::detail(after, object, folded)),
            ..entry(after)
        },
        Change::Removed { folded, .. } => SchemaChange {
            change: "removed".into(),
            object: format!("{object}{}", folded_suffix(folded.len())),
            details: Some(review::detail(before, object, folded)),
            ..entry(before)
        },
        Change::Changed {
            attribute,
            left,
            right,
            ..
        } => SchemaChange {
            change: "changed".into(),
            object: object.to_string(),
            detail: Some(if attribute == "column_order" {
                format!("column order: {}", column_moves_text(left, right))
            } else {
                let (before, after) = values_at_difference(left, right);
                format!("{}: {before} → {after}", attribute_label(attribute))
            }),
            attribute: Some(attribute.clone()),
            before: Some(left.clone()),
            after: Some(right.clone()),
            ..entry(after)
        },
    }
}

/// One line naming the object and what is wrong with it.
pub fn change(change: &Change, phase: Phase) -> String {
    let (only_right, only_left, left_state, right_state) = phase.words();
    match change {
        Change::Added { object, folded } => {
            format!("{object}: {only_right}{}", folded_suffix(folded.len()))
        }
        Change::Removed { object, folded } => {
            format!("{object}: {only_left}{}", folded_suffix(folded.len()))
        }
        Change::Changed {
            object,
            attribute,
            left,
            right,
        } if attribute == "column_order" => {
            format!(
                "{object}: column order {right_state} differs from {left_state}: {}",
                column_moves_text(left, right)
            )
        }
        Change::Changed {
            object, attribute, ..
        } if attribute == "data_hash" => {
            format!(
                "{object}: its rows differ {right_state} from {left_state} (same count, other content)"
            )
        }
        Change::Changed {
            object,
            attribute,
            left,
            right,
        } if attribute == "rows" => {
            let count = |v: &Value| v.as_u64().map_or("none".to_string(), |n| n.to_string());
            format!(
                "{object}: {} row(s) {right_state}, {} {left_state}",
                count(right),
                count(left)
            )
        }
        Change::Changed {
            object,
            attribute,
            left,
            right,
        } if only_line_endings_differ(left, right) => {
            format!(
                "{object}: {} differs only in its line endings: {} {right_state}, {} {left_state}",
                attribute_label(attribute),
                line_endings(right),
                line_endings(left)
            )
        }
        Change::Changed {
            object,
            attribute,
            left,
            right,
        } => {
            let (right, left) = values_at_difference(right, left);
            format!(
                "{object}: {} {right_state}: {right}; {left_state}: {left}",
                attribute_label(attribute),
            )
        }
    }
}

/// Which line endings other than LF a text has: `CRLF`, `CR` (or both), else `LF`.
fn line_endings(value: &Value) -> &'static str {
    let text = value.as_str().unwrap_or_default();
    let crlf = text.contains("\r\n");
    let lone_cr = text.replace("\r\n", "").contains('\r');
    match (crlf, lone_cr) {
        (true, false) => "CRLF",
        (false, true) => "CR",
        (true, true) => "CRLF and CR",
        (false, false) => "LF",
    }
}

/// Both values rendered as [`value`] does, except that two long texts which share a
/// beginning are shown from just before their first difference: two cut renderings that
/// begin alike would say nothing about what differs.
pub fn values_at_difference(first: &Value, second: &Value) -> (String, String) {
    const CONTEXT: usize = 40;
    let (Some(a), Some(b)) = (first.as_str(), second.as_str()) else {
        return (value(first), value(second));
    };
    let (a, b) = (single_line(a), single_line(b));
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    if common + CONTEXT / 2 < VALUE_LIMIT || a == b {
        return (value(first), value(second));
    }
    let from = common - CONTEXT.min(common);
    let excerpt = |text: &str| format!("`…{}`", cut(&text.chars().skip(from).collect::<String>()));
    (excerpt(&a), excerpt(&b))
}

/// How an attribute is called in sentences.
fn attribute_label(attribute: &str) -> String {
    match attribute {
        "acl" => "privileges".to_string(),
        "default_acl" => "default privileges".to_string(),
        other => other.replace('_', " "),
    }
}

fn folded_suffix(count: usize) -> String {
    match count {
        0 => String::new(),
        1 => " (with 1 dependent object)".into(),
        n => format!(" (with {n} dependent objects)"),
    }
}

/// How many characters of a value a sentence shows.
const VALUE_LIMIT: usize = 120;

/// Text on one line, every run of whitespace one space.
fn single_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first [`VALUE_LIMIT`] characters, with `…` when there were more.
fn cut(text: &str) -> String {
    if text.chars().count() > VALUE_LIMIT {
        let kept: String = text.chars().take(VALUE_LIMIT).collect();
        format!("{kept}…")
    } else {
        text.to_string()
    }
}

/// A compact rendering of an attribute value; long text is cut.
pub fn value(value: &Value) -> String {
    let text = match value {
        Value::Null => "none".to_string(),
        Value::String(s) => format!("`{s}`"),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|item| match item {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(_) => value.to_string(),
    };
    cut(&single_line(&text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ObjectId, ObjectKind};
    use serde_json::json;

    fn definition_change(left: &str, right: &str) -> Change {
        Change::Changed {
            object: ObjectId::new(ObjectKind::Function, "public.f()"),
            attribute: "definition".into(),
            left: json!(left),
            right: json!(right),
        }
    }

    #[test]
    fn a_body_restored_with_crlf_is_named_as_such() {
        let lf = "CREATE FUNCTION public.f() AS $$\nBEGIN\n  RETURN 1;\nEND;\n$$";
        let sentence = change(
            &definition_change(lf, &lf.replace('\n', "\r\n")),
            Phase::Down,
        );
        assert_eq!(
            sentence,
            "function public.f(): definition differs only in its line endings: \
             CRLF after down, LF before up"
        );
    }

    #[test]
    fn long_texts_are_shown_where_they_differ() {
        let head = "CREATE OR REPLACE FUNCTION public.f(a integer, b integer) RETURNS integer \
                    LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.audit VALUES (a, b);";
        let before = format!("{head} RETURN a + b; END; $$");
        let after = format!("{head} RETURN a - b; END; $$");
        let sentence = change(&definition_change(&before, &after), Phase::Down);
        assert!(sentence.contains("RETURN a - b"), "{sentence}");
        assert!(sentence.contains("RETURN a + b"), "{sentence}");
        assert!(sentence.contains("after down: `…"), "{sentence}");
        // Short values are shown whole.
        let short = change(&definition_change("a", "b"), Phase::Reup);
        assert_eq!(
            short,
            "function public.f(): definition after the second up: `b`; after the first up: `a`"
        );
    }
}
