//! `enum-column-rewrite`: a statement changed a pre-existing column to or from an enum
//! type (the usual way to drop or reorder an enum's values: a new type, then `ALTER COLUMN
//! … TYPE new USING col::text::new`) and rewrote the table under ACCESS EXCLUSIVE.
//!
//! Adding a value in place (`ALTER TYPE … ADD VALUE`) is measured too, from PostgreSQL 12 on
//! (11 and older refuse it in a transaction block, so there it runs alone, unmeasured): it
//! locks only the type, never a table, and rewrites nothing, so it is no finding.

use super::{Context, Hit, Rule, column_rewrite_hits};

pub struct EnumRewrite;

impl Rule for EnumRewrite {
    fn id(&self) -> &'static str {
        "enum-column-rewrite"
    }
    fn title(&self) -> &'static str {
        "column changed to or from an enum type rewrote the table"
    }
    fn why(&self) -> &'static str {
        "every row is converted and copied into a new file while nothing, not even SELECT, can \
         touch the table; changing an enum's values this way costs a rewrite of every table \
         that uses it"
    }
    fn safe_rewrite(&self) -> &'static str {
        "-- Add values in place: no rewrite, no lock on any table. PostgreSQL 12+ allows it in\n\
         -- the migration's transaction (the value is usable once it commits); 11 and older\n\
         -- need a migration that runs outside a transaction.\n\
         ALTER TYPE mood ADD VALUE IF NOT EXISTS 'calm' AFTER 'happy';\n\
         -- A value cannot be removed in place: leave it unused, or keep the column as text\n\
         -- with a CHECK constraint added NOT VALID and validated later."
    }
    fn grows_with_rows(&self) -> bool {
        true
    }
    fn check(&self, context: &Context) -> Vec<Hit> {
        let changes = context.effect().enum_changes.iter().map(|change| {
            let what = match (change.from.as_str(), change.to.as_str()) {
                ("", to) => format!("{} to enum {to}", change.column),
                (from, "") => format!("{} from enum {from}", change.column),
                (from, to) => format!("{} from {from} to {to}", change.column),
            };
            (change.table, what)
        });
        column_rewrite_hits(context, "changed", changes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{check, effect};
    use super::*;
    use crate::analysis::effect::EnumChange;

    fn change(column: &str, from: &str, to: &str) -> EnumChange {
        EnumChange {
            table: 1,
            column: column.into(),
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn an_enum_swapped_by_a_rewrite_is_found() {
        let mut statement = effect(&[(1, "AccessExclusiveLock")]);
        statement.rewritten = vec![1];
        statement.enum_changes = vec![change("kind", "mood", "mood_v2")];
        let hits = check(&EnumRewrite, std::slice::from_ref(&statement), 0);
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(
            hits[0].evidence,
            "changed column kind from mood to mood_v2, rewriting public.orders under \
             AccessExclusiveLock"
        );
        statement.enum_changes = vec![change("kind", "", "mood"), change("state", "mood", "")];
        let hits = check(&EnumRewrite, std::slice::from_ref(&statement), 0);
        assert_eq!(
            hits[0].evidence,
            "changed column kind to enum mood and state from enum mood, rewriting \
             public.orders under AccessExclusiveLock"
        );
    }

    #[test]
    fn no_rewrite_is_no_finding() {
        let mut statement = effect(&[(1, "AccessExclusiveLock")]);
        statement.enum_changes = vec![change("kind", "mood", "mood_v2")];
        assert!(check(&EnumRewrite, std::slice::from_ref(&statement), 0).is_empty());
    }
}
