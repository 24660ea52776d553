//! `table-rewrite`: a statement gave a pre-existing table a new file (a rewrite: `ALTER
//! COLUMN … TYPE` to an incompatible type, a volatile default, `SET LOGGED`, `VACUUM
//! FULL`, `CLUSTER`) while holding ACCESS EXCLUSIVE on it.

use super::{Context, Hit, Rule, name};

pub struct TableRewrite;

impl Rule for TableRewrite {
    fn id(&self) -> &'static str {
        "table-rewrite"
    }
    fn title(&self) -> &'static str {
        "table rewritten under ACCESS EXCLUSIVE"
    }
    fn why(&self) -> &'static str {
        "every row is copied into a new file while nothing, not even SELECT, can touch the \
         table: the time grows with the table, and every query on it queues behind"
    }
    fn safe_rewrite(&self) -> &'static str {
        "-- Add a new column, fill it in batches, then switch over:\n\
         ALTER TABLE orders ADD COLUMN id_new bigint;\n\
         UPDATE orders SET id_new = id WHERE id BETWEEN 1 AND 10000;  -- repeat per batch\n\
         -- a trigger keeps id_new in step with new writes meanwhile; then, in one short\n\
         -- transaction: rename the columns and move constraints and defaults"
    }
    fn check(&self, context: &Context) -> Vec<Hit> {
        let (effect, relations) = (context.effect(), context.relations);
        effect
            .rewritten
            .iter()
            .filter(|relation| {
                relations
                    .get(relation)
                    .is_some_and(|r| matches!(r.kind, 'r' | 'm'))
            })
            .filter(|relation| {
                effect.locks.get(relation).map(String::as_str) == Some("AccessExclusiveLock")
            })
            .map(|&relation| Hit {
                named: None,
                relation,
                mode: effect.locks.get(&relation).cloned(),
                rewrite: true,
                evidence: format!(
                    "rewrote {} (a new relfilenode) under AccessExclusiveLock",
                    name(relations, relation)
                ),
            })
            .collect()
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
    fn no_new_file_or_no_exclusive_lock_is_no_finding() {
        // ALTER COLUMN TYPE varchar(20) → varchar(40): the lock, but no rewrite.
        let widened = effect(&[(1, "AccessExclusiveLock")]);
        assert!(check(&TableRewrite, std::slice::from_ref(&widened), 0).is_empty());
        // A new file without that lock (not a case PostgreSQL has today): not this rule.
        let mut other = effect(&[(1, "ShareLock")]);
        other.rewritten = vec![1];
        assert!(check(&TableRewrite, std::slice::from_ref(&other), 0).is_empty());
    }
}
