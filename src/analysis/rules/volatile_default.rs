//! `volatile-default`: a statement added a column to a pre-existing table with a default
//! PostgreSQL must compute row by row (`random()`, `clock_timestamp()`, a sequence's
//! `nextval`) or a stored generated expression, and so rewrote the table under ACCESS
//! EXCLUSIVE. A constant default (`now()` included: it is evaluated once) is stored in
//! the catalog without touching a row since PostgreSQL 11, and is not found: the rewrite
//! is measured, never guessed from the default's text.

use super::{Context, Hit, Rule, column_rewrite_hits};

pub struct VolatileDefault;

impl Rule for VolatileDefault {
    fn id(&self) -> &'static str {
        "volatile-default"
    }
    fn title(&self) -> &'static str {
        "column added with a volatile default rewrote the table"
    }
    fn why(&self) -> &'static str {
        "the default is computed for every existing row while the table is copied into a new \
         file, and nothing, not even SELECT, can touch the table meanwhile"
    }
    fn safe_rewrite(&self) -> &'static str {
        "-- Add the column without a default (or with a constant one: PostgreSQL 11+ keeps\n\
         -- it in the catalog), give new rows the default, then backfill in batches:\n\
         ALTER TABLE orders ADD COLUMN token double precision;\n\
         ALTER TABLE orders ALTER COLUMN token SET DEFAULT random();\n\
         UPDATE orders SET token = random() WHERE id BETWEEN 1 AND 10000 AND token IS NULL;\n\
         -- repeat per batch; a generated column becomes a plain one filled the same way\n\
         -- and kept in step by a trigger."
    }
    fn grows_with_rows(&self) -> bool {
        true
    }
    fn check(&self, context: &Context) -> Vec<Hit> {
        let added = context.effect().added_columns.iter().map(|added| {
            let what = if added.generated {
                format!("{} generated as {}", added.column, added.expression)
            } else {
                format!("{} with the default {}", added.column, added.expression)
            };
            (added.table, what)
        });
        column_rewrite_hits(context, "added", added)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{check, effect};
    use super::*;
    use crate::analysis::effect::AddedColumn;

    fn added(column: &str, expression: &str, generated: bool) -> AddedColumn {
        AddedColumn {
            table: 1,
            column: column.into(),
            expression: expression.into(),
            generated,
        }
    }

    #[test]
    fn a_column_whose_default_rewrote_the_table_is_found() {
        let mut statement = effect(&[(1, "AccessExclusiveLock")]);
        statement.rewritten = vec![1];
        statement.added_columns = vec![
            added("token", "random()", false),
            added("twice", "(total * 2)", true),
        ];
        let hits = check(&VolatileDefault, std::slice::from_ref(&statement), 0);
        assert_eq!(hits.len(), 1, "one finding per table: {hits:?}");
        assert_eq!(
            hits[0].evidence,
            "added column token with the default random() and twice generated as \
             (total * 2), rewriting public.orders under AccessExclusiveLock"
        );
    }

    #[test]
    fn a_default_kept_in_the_catalog_is_no_finding() {
        // ADD COLUMN … DEFAULT 0 (or now()): the lock, a default, no new file.
        let mut statement = effect(&[(1, "AccessExclusiveLock")]);
        statement.added_columns = vec![added("flag", "0", false)];
        assert!(check(&VolatileDefault, std::slice::from_ref(&statement), 0).is_empty());
    }
}
