//! `set-not-null-scan`: a statement made a pre-existing column NOT NULL and scanned the
//! table to prove it, under ACCESS EXCLUSIVE (no valid `CHECK (… IS NOT NULL)` let
//! PostgreSQL 12+ skip the scan).

use super::{Context, Hit, Rule, sized, under};

pub struct SetNotNull;

impl Rule for SetNotNull {
    fn id(&self) -> &'static str {
        "set-not-null-scan"
    }
    fn title(&self) -> &'static str {
        "SET NOT NULL scanned the table under ACCESS EXCLUSIVE"
    }
    fn why(&self) -> &'static str {
        "every row is read to prove the column has no NULL while nothing, not even SELECT, \
         can touch the table"
    }
    fn safe_rewrite(&self) -> &'static str {
        "-- A CHECK added NOT VALID, validated without blocking, lets SET NOT NULL skip the\n\
         -- scan (PostgreSQL 12+); then drop the CHECK:\n\
         ALTER TABLE orders ADD CONSTRAINT orders_total_not_null\n\
         \x20 CHECK (total IS NOT NULL) NOT VALID;\n\
         ALTER TABLE orders VALIDATE CONSTRAINT orders_total_not_null;  -- later transaction\n\
         ALTER TABLE orders ALTER COLUMN total SET NOT NULL;\n\
         ALTER TABLE orders DROP CONSTRAINT orders_total_not_null;"
    }
    fn grows_with_rows(&self) -> bool {
        true
    }
    fn check(&self, context: &Context) -> Vec<Hit> {
        let (effect, relations) = (context.effect(), context.relations);
        let mut hits: Vec<Hit> = Vec::new();
        for (table, column) in &effect.set_not_null {
            if !effect.scanned.contains(table) || !effect.rewritten.is_empty() {
                // No scan: a valid CHECK proved it. A rewrite checks it on the way and is
                // the rewrite rule's finding.
                continue;
            }
            match hits.iter_mut().find(|hit| hit.relation == *table) {
                Some(hit) => hit.evidence.push_str(&format!(", {column}")),
                None => hits.push(Hit {
                    named: None,
                    relation: *table,
                    mode: effect.locks.get(table).cloned(),
                    rewrite: false,
                    evidence: format!(
                        "scanned {}{} to set NOT NULL on {column}",
                        sized(relations, *table),
                        under(effect, *table)
                    ),
                }),
            }
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{check, effect};
    use super::*;

    #[test]
    fn a_column_made_not_null_by_a_scan_is_found() {
        let mut set = effect(&[(1, "AccessExclusiveLock")]);
        set.set_not_null = vec![(1, "total".into())];
        set.scanned = [1].into();
        let hits = check(&SetNotNull, &[set], 0);
        assert_eq!(hits.len(), 1);
        assert!(
            hits[0].evidence.contains("NOT NULL on total"),
            "{}",
            hits[0].evidence
        );
    }

    #[test]
    fn a_check_that_spared_the_scan_is_no_finding() {
        let mut proved = effect(&[(1, "AccessExclusiveLock")]);
        proved.set_not_null = vec![(1, "total".into())];
        assert!(check(&SetNotNull, &[proved], 0).is_empty());
    }
}
