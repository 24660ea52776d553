//! `foreign-key-without-index`: the script added a foreign key whose referencing columns
//! lead no index once the script is over. Every DELETE or key UPDATE on the referenced
//! table then scans the referencing one, under a lock.

use super::{Context, Hit, Rule};

pub struct ForeignKeyWithoutIndex;

impl Rule for ForeignKeyWithoutIndex {
    fn id(&self) -> &'static str {
        "foreign-key-without-index"
    }
    fn title(&self) -> &'static str {
        "foreign key without an index on its columns"
    }
    fn why(&self) -> &'static str {
        "each DELETE from the referenced table, or change of its key, checks the referencing \
         table row by row: without an index that is a full scan every time, and ON DELETE \
         CASCADE holds its locks for all of it"
    }
    fn safe_rewrite(&self) -> &'static str {
        "-- An index led by the foreign key's columns, built without blocking writes\n\
         -- (in a non-transactional migration, before the foreign key):\n\
         CREATE INDEX CONCURRENTLY orders_customer_id_idx ON orders (customer_id);"
    }
    fn check(&self, context: &Context) -> Vec<Hit> {
        let Some(unindexed_after) = context.unindexed_after else {
            return Vec::new();
        };
        let effect = context.effect();
        let before: Vec<u32> = context.effects[..context.index]
            .iter()
            .flat_map(|earlier| {
                earlier
                    .unindexed_foreign_keys
                    .iter()
                    .map(|(oid, _, _)| *oid)
            })
            .collect();
        // Reported at the statement after which it first appeared.
        effect
            .unindexed_foreign_keys
            .iter()
            .filter(|(oid, _, _)| unindexed_after.contains(oid) && !before.contains(oid))
            .map(|(_, constraint, table)| Hit {
                named: Some(table.clone()),
                relation: 0,
                mode: None,
                rewrite: false,
                evidence: format!(
                    "foreign key {constraint} on {table}: no index is led by its columns \
                     when the migration ends"
                ),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::effect;
    use super::super::{Context, test_support::relations};
    use super::*;

    #[test]
    fn a_new_foreign_key_still_without_an_index_at_the_end_is_found_once() {
        let mut added = effect(&[]);
        added.unindexed_foreign_keys = vec![(77, "orders_customer_fk".into(), "orders".into())];
        let effects = [added.clone(), added];
        let relations = relations();
        let still = std::collections::BTreeSet::from([77]);
        let at = |index| {
            ForeignKeyWithoutIndex.check(&Context {
                effects: &effects,
                index,
                relations: &relations,
                unindexed_after: Some(&still),
            })
        };
        assert_eq!(at(0).len(), 1);
        assert!(at(0)[0].evidence.contains("orders_customer_fk"));
        assert!(at(1).is_empty(), "reported where it appeared");
        // Indexed by a later statement: nothing.
        let indexed = std::collections::BTreeSet::new();
        let hits = ForeignKeyWithoutIndex.check(&Context {
            effects: &effects,
            index: 0,
            relations: &relations,
            unindexed_after: Some(&indexed),
        });
        assert!(hits.is_empty());
    }
}
