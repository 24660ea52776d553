//! `constraint-validated-in-place`: a statement added a CHECK or FOREIGN KEY constraint to
//! a pre-existing table (or validated one) and scanned the table to do it, holding a lock
//! that blocks writes (a foreign key: on both tables) until its transaction ended.

use super::{Context, Hit, Rule, name, sized, under};

pub struct ValidatedConstraint;

impl Rule for ValidatedConstraint {
    fn id(&self) -> &'static str {
        "constraint-validated-in-place"
    }
    fn title(&self) -> &'static str {
        "constraint validated while writes wait"
    }
    fn why(&self) -> &'static str {
        "adding a CHECK or FOREIGN KEY constraint without NOT VALID scans every row while \
         holding a lock that blocks writes (a CHECK: reads too) for the rest of the \
         transaction"
    }
    fn safe_rewrite(&self) -> &'static str {
        "-- Add it NOT VALID (a short lock, no scan), validate in a later transaction\n\
         -- (VALIDATE holds SHARE UPDATE EXCLUSIVE: reads and writes go on):\n\
         ALTER TABLE orders ADD CONSTRAINT orders_customer_fk\n\
         \x20 FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;\n\
         -- next migration, or after COMMIT:\n\
         ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;"
    }
    fn grows_with_rows(&self) -> bool {
        true
    }
    fn check(&self, context: &Context) -> Vec<Hit> {
        let (effect, relations) = (context.effect(), context.relations);
        effect
            .validated
            .iter()
            // A constraint a rewrite re-created (a type change under a CHECK) is checked on
            // the way: the rewrite is the finding.
            .filter(|constraint| !effect.rewritten.contains(&constraint.table))
            .filter(|constraint| {
                effect.scanned.contains(&constraint.table)
                    || constraint
                        .referenced
                        .is_some_and(|r| effect.scanned.contains(&r))
            })
            .filter(|constraint| {
                effect.locks.get(&constraint.table).is_some_and(|mode| {
                    crate::analysis::blocks(mode) >= crate::analysis::Blocks::Writes
                })
            })
            .map(|constraint| {
                let what = if constraint.kind == 'f' {
                    "foreign key"
                } else {
                    "check constraint"
                };
                let referenced = constraint
                    .referenced
                    .map(|r| format!(", referencing {}{}", name(relations, r), under(effect, r)))
                    .unwrap_or_default();
                Hit {
                    named: None,
                    relation: constraint.table,
                    mode: effect.locks.get(&constraint.table).cloned(),
                    rewrite: false,
                    evidence: format!(
                        "validated {what} {} by scanning {}{}{referenced}",
                        constraint.name,
                        sized(relations, constraint.table),
                        under(effect, constraint.table)
                    ),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{check, effect};
    use super::*;
    use crate::analysis::effect::Validated;

    fn foreign_key() -> Validated {
        Validated {
            name: "orders_customer_fk".into(),
            table: 1,
            kind: 'f',
            referenced: Some(2),
        }
    }

    #[test]
    fn a_foreign_key_validated_by_a_scan_under_a_write_lock_is_found() {
        let mut added = effect(&[(1, "ShareRowExclusiveLock"), (2, "ShareRowExclusiveLock")]);
        added.validated = vec![foreign_key()];
        added.scanned = [1, 2].into();
        let hits = check(&ValidatedConstraint, std::slice::from_ref(&added), 0);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].relation, 1);
        assert!(
            hits[0].evidence.contains("public.customers"),
            "{}",
            hits[0].evidence
        );
    }

    #[test]
    fn a_constraint_re_created_by_a_rewrite_is_the_rewrites_finding() {
        let mut rewrite = effect(&[(1, "AccessExclusiveLock")]);
        rewrite.validated = vec![Validated {
            name: "orders_total_check".into(),
            table: 1,
            kind: 'c',
            referenced: None,
        }];
        rewrite.scanned = [1].into();
        rewrite.rewritten = vec![1];
        assert!(check(&ValidatedConstraint, &[rewrite], 0).is_empty());
    }

    #[test]
    fn not_valid_or_no_scan_is_no_finding() {
        // NOT VALID: the constraint is not validated, nothing scanned.
        let not_valid = effect(&[(1, "ShareRowExclusiveLock")]);
        assert!(check(&ValidatedConstraint, &[not_valid], 0).is_empty());
        // VALIDATE CONSTRAINT in its own transaction: a scan under SHARE UPDATE EXCLUSIVE.
        let mut validate = effect(&[(1, "ShareUpdateExclusiveLock")]);
        validate.validated = vec![foreign_key()];
        validate.scanned = [1].into();
        assert!(check(&ValidatedConstraint, &[validate], 0).is_empty());
    }
}
