//! `table-rewrite`: a statement gave a pre-existing table a new file (a rewrite: `ALTER
//! COLUMN … TYPE` to an incompatible type, a volatile default, `SET LOGGED`, `CLUSTER`)
//! while holding ACCESS EXCLUSIVE on it, or rebuilt one of its indexes alone (`REINDEX`)
//! while holding a lock that blocks writes to it.

use super::{Context, Hit, Rule, name, rows, sized};
use crate::analysis::{Blocks, blocks};

pub struct TableRewrite;

impl Rule for TableRewrite {
    fn id(&self) -> &'static str {
        "table-rewrite"
    }
    fn title(&self) -> &'static str {
        "table or index rewritten while writes wait"
    }
    fn why(&self) -> &'static str {
        "every row is copied into a new file while the lock keeps writes (for a table: \
         reads too) waiting: the time grows with the table, and every query on it queues \
         behind"
    }
    fn safe_rewrite(&self) -> &'static str {
        "-- Add a new column, fill it in batches, then switch over:\n\
         ALTER TABLE orders ADD COLUMN id_new bigint;\n\
         UPDATE orders SET id_new = id WHERE id BETWEEN 1 AND 10000;  -- repeat per batch\n\
         -- a trigger keeps id_new in step with new writes meanwhile; then, in one short\n\
         -- transaction: rename the columns and move constraints and defaults.\n\
         -- An index: REINDEX INDEX CONCURRENTLY (PostgreSQL 12+)."
    }
    fn grows_with_rows(&self) -> bool {
        true
    }
    fn check(&self, context: &Context) -> Vec<Hit> {
        let (effect, relations) = (context.effect(), context.relations);
        let mut hits = Vec::new();
        for &relation in &effect.rewritten {
            let Some(rewritten) = relations.get(&relation) else {
                continue;
            };
            // An index counts alone: one rebuilt with its rewritten table is the table's.
            let table = match (rewritten.kind, rewritten.table) {
                ('r' | 'm', _) => relation,
                ('i', Some(table)) if !effect.rewritten.contains(&table) => table,
                _ => continue,
            };
            let Some(mode) = effect.locks.get(&table) else {
                continue;
            };
            if blocks(mode) < Blocks::Writes {
                continue;
            }
            let what = if table == relation {
                let size = rows(relations, relation).map_or_else(String::new, |r| r + ", ");
                format!(
                    "rewrote {} ({size}a new relfilenode)",
                    name(relations, relation)
                )
            } else {
                format!(
                    "rebuilt index {} of {} (a new relfilenode)",
                    name(relations, relation),
                    sized(relations, table)
                )
            };
            hits.push(Hit {
                named: None,
                relation: table,
                mode: Some(mode.clone()),
                rewrite: true,
                evidence: format!("{what} under {mode}"),
            });
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{check, effect};
    use super::*;

    #[test]
    fn a_table_given_a_new_file_under_access_exclusive_is_found() {
        let mut rewrite = effect(&[(1, "AccessExclusiveLock"), (3, "AccessExclusiveLock")]);
        rewrite.rewritten = vec![1, 3];
        let hits = check(&TableRewrite, std::slice::from_ref(&rewrite), 0);
        assert_eq!(hits.len(), 1, "the table, not its index: {hits:?}");
        assert_eq!(hits[0].relation, 1);
        assert!(hits[0].rewrite);
        assert!(
            hits[0].evidence.contains("public.orders"),
            "{}",
            hits[0].evidence
        );
    }

    #[test]
    fn an_index_rebuilt_alone_under_a_write_lock_is_found_on_its_table() {
        let mut reindex = effect(&[(1, "ShareLock"), (3, "AccessExclusiveLock")]);
        reindex.rewritten = vec![3];
        let hits = check(&TableRewrite, std::slice::from_ref(&reindex), 0);
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].relation, 1);
        assert!(
            hits[0]
                .evidence
                .contains("rebuilt index public.orders_pkey"),
            "{}",
            hits[0].evidence
        );
    }

    #[test]
    fn no_new_file_or_no_exclusive_lock_is_no_finding() {
        // ALTER COLUMN TYPE varchar(20) → varchar(40): the lock, but no rewrite.
        let widened = effect(&[(1, "AccessExclusiveLock")]);
        assert!(check(&TableRewrite, std::slice::from_ref(&widened), 0).is_empty());
        // A new file under a lock that lets writes go on: not this rule.
        let mut other = effect(&[(1, "ShareUpdateExclusiveLock")]);
        other.rewritten = vec![1];
        assert!(check(&TableRewrite, std::slice::from_ref(&other), 0).is_empty());
    }
}
