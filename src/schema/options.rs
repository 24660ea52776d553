//! Which entries of the catalogs' option arrays and whole-row reads a
//! snapshot compares.
//!
//! The snapshot must compare what a dump would restore, never state the
//! server keeps for itself. PostgreSQL 17.12 showed why a list of names to
//! drop does not work: it stamps a server-internal `pg_attver=<number>` into
//! `pg_attribute.attoptions` of every column, with a new number each time a
//! column is created, so a raw comparison called every re-created column
//! different while `pg_dump -s` of both databases was identical. The next
//! minor may add another name. So the rule here is the other way round: an
//! option array keeps only the entries PostgreSQL documents as settable by a
//! user (`ALTER TABLE … SET (…)`, `ALTER TABLE … ALTER COLUMN … SET (…)`,
//! `CREATE VIEW … WITH (…)`), which is exactly what a migration can change
//! and a dump restores. Any other entry is not compared: it is recorded in
//! [`Uncompared`] and reported as a note, never as a verdict. An unknown
//! name from a future server, or an option an extension registers, thus
//! costs a note instead of a false failure on every migration.
//!
//! The same question applies to catalogs read as whole rows (collations and
//! publications, whose columns differ by version): only the columns that a
//! `CREATE`/`ALTER` statement sets are compared. `collversion` is known to be
//! set by the server (the collation library's version at creation) and is
//! dropped silently; any other unknown column becomes a note.
//!
//! Index options are not filtered here: they are part of
//! `pg_get_indexdef`, which is also what pg_dump prints, so both always see
//! the same thing. Foreign-data options (`ftoptions`, `attfdwoptions`) are
//! defined by the wrapper and always set by a user: compared whole.
//!
//! Pure: no I/O, tested without a database.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Attributes, ObjectId, ObjectKind};

/// Catalog entries that were read but deliberately not compared: a
/// description (`` `pg_attver` in column options ``) and the objects that
/// carried it.
pub type Uncompared = BTreeMap<String, BTreeSet<String>>;

/// Storage parameters of tables and materialized views (`RELOPT_KIND_HEAP`)
/// in PostgreSQL 13 through 18. Those that also apply to the TOAST table are
/// in [`TOAST_PARAMETERS`] and may be written `toast.<name>`.
const HEAP_PARAMETERS: &[&str] = &[
    "fillfactor",
    "toast_tuple_target",
    "parallel_workers",
    "user_catalog_table",
    "autovacuum_analyze_threshold",
    "autovacuum_analyze_scale_factor",
];

/// Storage parameters of tables that also exist for their TOAST table.
const TOAST_PARAMETERS: &[&str] = &[
    "autovacuum_enabled",
    "autovacuum_vacuum_threshold",
    "autovacuum_vacuum_max_threshold",
    "autovacuum_vacuum_insert_threshold",
    "autovacuum_vacuum_scale_factor",
    "autovacuum_vacuum_insert_scale_factor",
    "autovacuum_vacuum_cost_delay",
    "autovacuum_vacuum_cost_limit",
    "autovacuum_freeze_min_age",
    "autovacuum_freeze_max_age",
    "autovacuum_freeze_table_age",
    "autovacuum_multixact_freeze_min_age",
    "autovacuum_multixact_freeze_max_age",
    "autovacuum_multixact_freeze_table_age",
    "log_autovacuum_min_duration",
    "vacuum_index_cleanup",
    "vacuum_truncate",
    "vacuum_max_eager_freeze_failure_rate",
];

/// Options of views (`CREATE VIEW … WITH (…)`, `WITH CHECK OPTION`).
const VIEW_OPTIONS: &[&str] = &["check_option", "security_barrier", "security_invoker"];

/// Per-column options (`ALTER COLUMN … SET (…)`).
const COLUMN_OPTIONS: &[&str] = &["n_distinct", "n_distinct_inherited"];

/// Columns of `pg_collation` (13 through 18) that `CREATE COLLATION` sets,
/// as the snapshot reads them whole (minus OIDs, which it replaces by names).
const COLLATION_COLUMNS: &[&str] = &[
    "collprovider",
    "collisdeterministic",
    "collencoding",
    "collcollate",
    "collctype",
    "colliculocale",
    "colllocale",
    "collicurules",
    "owner",
    "comment",
];

/// Columns a collation row has that the server sets by itself.
const COLLATION_SERVER_COLUMNS: &[&str] = &["collversion"];

/// Columns of `pg_publication` (13 through 18) that `CREATE PUBLICATION` and
/// `ALTER PUBLICATION` set, plus what the snapshot adds to the row.
const PUBLICATION_COLUMNS: &[&str] = &[
    "puballtables",
    "pubinsert",
    "pubupdate",
    "pubdelete",
    "pubtruncate",
    "pubviaroot",
    "pubgencols",
    "owner",
    "tables",
    "comment",
];

/// Whether an option name is documented as user-settable.
type Documented = fn(&str) -> bool;

/// The option-array attribute of a kind of object and the test for its
/// documented entries.
fn option_array(kind: ObjectKind) -> Option<(&'static str, Documented)> {
    match kind {
        ObjectKind::Column => Some(("options", |name| COLUMN_OPTIONS.contains(&name))),
        ObjectKind::Table | ObjectKind::MaterializedView => {
            Some(("reloptions", is_storage_parameter))
        }
        ObjectKind::View => Some(("reloptions", |name| VIEW_OPTIONS.contains(&name))),
        _ => None,
    }
}

fn is_storage_parameter(name: &str) -> bool {
    match name.strip_prefix("toast.") {
        Some(toast) => TOAST_PARAMETERS.contains(&toast),
        None => HEAP_PARAMETERS.contains(&name) || TOAST_PARAMETERS.contains(&name),
    }
}

/// Keeps the documented, user-settable entries of one object's attributes
/// and records every other entry in `uncompared`.
pub fn keep_documented(id: &ObjectId, attributes: &mut Attributes, uncompared: &mut Uncompared) {
    match id.kind {
        ObjectKind::Collation => keep_columns(
            id,
            attributes,
            COLLATION_COLUMNS,
            COLLATION_SERVER_COLUMNS,
            uncompared,
        ),
        ObjectKind::Publication => {
            keep_columns(id, attributes, PUBLICATION_COLUMNS, &[], uncompared)
        }
        kind => {
            if let Some((attribute, documented)) = option_array(kind) {
                filter_option_array(id, attributes, attribute, documented, uncompared);
            }
        }
    }
}

/// Drops the entries of `attributes[attribute]` (an array of `name=value`
/// texts) whose name is not documented; an array left empty is removed, as
/// if the catalog held NULL (which is what a dump would restore).
fn filter_option_array(
    id: &ObjectId,
    attributes: &mut Attributes,
    attribute: &str,
    documented: Documented,
    uncompared: &mut Uncompared,
) {
    let Some(Value::Array(entries)) = attributes.get_mut(attribute) else {
        return;
    };
    entries.retain(|entry| {
        let text = entry.as_str().unwrap_or_default();
        let name = text.split_once('=').map_or(text, |(name, _)| name);
        let keep = documented(name);
        if !keep {
            uncompared
                .entry(format!(
                    "`{name}` in {} {}",
                    id.kind.label(),
                    option_label(attribute)
                ))
                .or_default()
                .insert(id.name.clone());
        }
        keep
    });
    if entries.is_empty() {
        attributes.remove(attribute);
    }
}

fn option_label(attribute: &str) -> &'static str {
    match attribute {
        "reloptions" => "storage parameters",
        _ => "options",
    }
}

/// Keeps the `known` keys of a row read whole; drops `server_set` ones
/// silently and records any other.
fn keep_columns(
    id: &ObjectId,
    attributes: &mut Attributes,
    known: &[&str],
    server_set: &[&str],
    uncompared: &mut Uncompared,
) {
    attributes.retain(|key, _| {
        if known.contains(&key.as_str()) {
            return true;
        }
        if !server_set.contains(&key.as_str()) {
            uncompared
                .entry(format!("`{key}` of {} rows", id.kind.label()))
                .or_default()
                .insert(id.name.clone());
        }
        false
    });
}

/// What a whole run did not compare: per entry, the most objects one
/// snapshot carried it on and an example. Cheap to merge a snapshot into
/// (no copy of the object names), since verify takes hundreds of snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UncomparedSummary(BTreeMap<String, (usize, String)>);

impl UncomparedSummary {
    /// Merges one snapshot's uncompared entries.
    pub fn add(&mut self, uncompared: &Uncompared) {
        for (what, objects) in uncompared {
            let Some(example) = objects.iter().next() else {
                continue;
            };
            let slot = self
                .0
                .entry(what.clone())
                .or_insert_with(|| (0, example.clone()));
            slot.0 = slot.0.max(objects.len());
        }
    }

    /// One line per entry, for a report: what was not compared, where, and
    /// why that is safe.
    pub fn notes(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(what, (count, example))| {
                let on = if *count == 1 {
                    example.clone()
                } else {
                    format!("{count} objects, e.g. {example}")
                };
                format!(
                    "not compared: {what} ({on}); not a documented user-settable entry, so the server or an extension set it"
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attributes(value: Value) -> Attributes {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn server_stamped_column_options_are_not_compared() {
        let id = ObjectId::new(ObjectKind::Column, "public.t.b");
        let mut attrs =
            attributes(json!({"type": "text", "options": ["n_distinct=5", "pg_attver=22119664"]}));
        let mut uncompared = Uncompared::new();
        keep_documented(&id, &mut attrs, &mut uncompared);
        assert_eq!(attrs["options"], json!(["n_distinct=5"]));
        assert_eq!(
            uncompared["`pg_attver` in column options"],
            BTreeSet::from(["public.t.b".to_string()])
        );
    }

    #[test]
    fn an_array_of_only_unknown_entries_is_as_if_absent() {
        let id = ObjectId::new(ObjectKind::Column, "public.t.a");
        let mut attrs = attributes(json!({"type": "int", "options": ["pg_attver=1"]}));
        let mut other = attributes(json!({"type": "int", "options": ["pg_attver=2"]}));
        let plain = attributes(json!({"type": "int"}));
        let mut uncompared = Uncompared::new();
        keep_documented(&id, &mut attrs, &mut uncompared);
        keep_documented(&id, &mut other, &mut uncompared);
        assert_eq!(attrs, plain);
        assert_eq!(other, plain);
        assert_eq!(uncompared.len(), 1);
    }

    #[test]
    fn user_settable_parameters_are_compared() {
        let table = ObjectId::new(ObjectKind::Table, "public.t");
        let mut attrs = attributes(json!({"reloptions": [
            "autovacuum_enabled=false", "fillfactor=70", "toast.autovacuum_enabled=false",
            "toast.vacuum_truncate=off", "vacuum_index_cleanup=auto", "toast.fillfactor=1"
        ]}));
        let mut uncompared = Uncompared::new();
        keep_documented(&table, &mut attrs, &mut uncompared);
        assert_eq!(
            attrs["reloptions"],
            json!([
                "autovacuum_enabled=false",
                "fillfactor=70",
                "toast.autovacuum_enabled=false",
                "toast.vacuum_truncate=off",
                "vacuum_index_cleanup=auto"
            ])
        );
        assert!(uncompared.contains_key("`toast.fillfactor` in table storage parameters"));

        let view = ObjectId::new(ObjectKind::View, "public.v");
        let mut attrs = attributes(
            json!({"reloptions": ["check_option=local", "security_barrier=true", "fillfactor=10"]}),
        );
        keep_documented(&view, &mut attrs, &mut uncompared);
        assert_eq!(
            attrs["reloptions"],
            json!(["check_option=local", "security_barrier=true"])
        );
    }

    #[test]
    fn whole_rows_keep_what_create_sets() {
        let id = ObjectId::new(ObjectKind::Collation, "public.c");
        let mut attrs = attributes(json!({
            "collprovider": "c", "collcollate": "C", "collversion": "2.36",
            "collfuturething": 1, "owner": "postgres"
        }));
        let mut uncompared = Uncompared::new();
        keep_documented(&id, &mut attrs, &mut uncompared);
        assert_eq!(
            attrs,
            attributes(json!({"collprovider": "c", "collcollate": "C", "owner": "postgres"}))
        );
        assert_eq!(
            uncompared.keys().collect::<Vec<_>>(),
            ["`collfuturething` of collation rows"]
        );
    }

    #[test]
    fn other_attributes_are_untouched() {
        let id = ObjectId::new(ObjectKind::Table, "public.f");
        let original = attributes(json!({"foreign_options": ["anything=1"], "owner": "x"}));
        let mut attrs = original.clone();
        let mut uncompared = Uncompared::new();
        keep_documented(&id, &mut attrs, &mut uncompared);
        assert_eq!(attrs, original);
        assert!(uncompared.is_empty());
    }

    #[test]
    fn notes_name_the_entry_and_an_example() {
        let mut uncompared = Uncompared::new();
        uncompared
            .entry("`pg_attver` in column options".into())
            .or_default()
            .extend(["public.a.x".to_string(), "public.b.y".to_string()]);
        let mut summary = UncomparedSummary::default();
        summary.add(&uncompared);
        summary.add(&Uncompared::from([(
            "`pg_attver` in column options".to_string(),
            BTreeSet::from(["public.a.x".to_string()]),
        )]));
        let lines = summary.notes();
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with(
                "not compared: `pg_attver` in column options (2 objects, e.g. public.a.x)"
            ),
            "{}",
            lines[0]
        );
    }
}
