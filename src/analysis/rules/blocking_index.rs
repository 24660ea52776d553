//! `index-without-concurrently`: a statement built an index on a pre-existing table while
//! holding a lock that blocks writes to it (`CREATE INDEX` without `CONCURRENTLY`).

use super::{Context, Hit, Rule, sized};
use crate::analysis::{Blocks, blocks};

pub struct BlockingIndex;

impl Rule for BlockingIndex {
    fn id(&self) -> &'static str {
        "index-without-concurrently"
    }
    fn title(&self) -> &'static str {
        "index built without CONCURRENTLY on an existing table"
    }
    fn why(&self) -> &'static str {
        "the build reads the whole table while INSERT, UPDATE and DELETE wait for it to \
         finish"
    }
    fn safe_rewrite(&self) -> &'static str {
        "-- Outside a transaction (mark the migration non-transactional):\n\
         CREATE INDEX CONCURRENTLY orders_customer_id_idx ON orders (customer_id);"
    }
    fn grows_with_rows(&self) -> bool {
        true
    }
    fn check(&self, context: &Context) -> Vec<Hit> {
        let (effect, relations) = (context.effect(), context.relations);
        let mut hits: Vec<Hit> = Vec::new();
        for index in &effect.new_indexes {
            let table = index.table;
            let Some(mode) = effect.locks.get(&table) else {
                continue;
            };
            if blocks(mode) < Blocks::Writes || hits.iter().any(|h| h.relation == table) {
                continue;
            }
            hits.push(Hit {
                named: None,
                relation: table,
                mode: Some(mode.clone()),
                rewrite: false,
                evidence: format!(
                    "built index {} on {} under {mode}",
                    index.name,
                    sized(relations, table)
                ),
            });
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{check, effect};
    use super::*;
    use crate::analysis::effect::NewIndex;

    #[test]
    fn a_new_index_under_a_lock_that_blocks_writes_is_found() {
        let mut build = effect(&[(1, "ShareLock")]);
        build.new_indexes = vec![NewIndex {
            name: "orders_total_idx".into(),
            table: 1,
        }];
        let hits = check(&BlockingIndex, std::slice::from_ref(&build), 0);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].relation, 1);
        assert_eq!(hits[0].mode.as_deref(), Some("ShareLock"));
        assert!(
            hits[0].evidence.contains("public.orders"),
            "{}",
            hits[0].evidence
        );
        assert!(
            hits[0].evidence.contains("orders_total_idx"),
            "{}",
            hits[0].evidence
        );
    }

    #[test]
    fn a_concurrent_build_or_an_index_on_a_new_table_is_no_finding() {
        // CONCURRENTLY holds SHARE UPDATE EXCLUSIVE: writes go on.
        let mut concurrent = effect(&[(1, "ShareUpdateExclusiveLock")]);
        concurrent.new_indexes = vec![NewIndex {
            name: "orders_total_idx".into(),
            table: 1,
        }];
        assert!(check(&BlockingIndex, std::slice::from_ref(&concurrent), 0).is_empty());
        // No new index at all (a lock alone is another rule's business).
        assert!(check(&BlockingIndex, &[effect(&[(1, "ShareLock")])], 0).is_empty());
    }
}
