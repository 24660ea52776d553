//! `exclusive-lock-held`: a statement took ACCESS EXCLUSIVE on a pre-existing table and
//! more statements ran in the same transaction before it ended: the lock, which blocks
//! even SELECT, was held for all of them.

use super::{Context, Hit, Rule, table_lock_hits};

pub struct ExclusiveLockHeld;

impl Rule for ExclusiveLockHeld {
    fn id(&self) -> &'static str {
        "exclusive-lock-held"
    }
    fn title(&self) -> &'static str {
        "ACCESS EXCLUSIVE held while more statements ran"
    }
    fn why(&self) -> &'static str {
        "a lock is held until the transaction ends: every statement after the one that took \
         ACCESS EXCLUSIVE adds its time to the outage of the table"
    }
    fn safe_rewrite(&self) -> &'static str {
        "-- Take the exclusive lock last, or split the migration so the statement that\n\
         -- needs it runs in a transaction of its own:\n\
         CREATE TABLE audit (id bigint PRIMARY KEY);   -- first: locks nothing that exists\n\
         ALTER TABLE orders ADD COLUMN audit_id bigint; -- last: the lock ends at COMMIT"
    }
    fn check(&self, context: &Context) -> Vec<Hit> {
        let effect = context.effect();
        let later: Vec<_> = context.effects[context.index + 1..]
            .iter()
            .take_while(|later| later.transaction == effect.transaction)
            .collect();
        if later.is_empty() {
            return Vec::new();
        }
        // Timings are the finding's held_ms: evidence stays the same run to run.
        table_lock_hits(
            context,
            |mode| mode == "AccessExclusiveLock",
            |table, mode| {
                format!(
                    "took {mode} on {table} and held it while {} more statement(s) ran",
                    later.len()
                )
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{check, effect};
    use super::*;

    #[test]
    fn statements_after_the_exclusive_lock_in_its_transaction_are_found() {
        let first = effect(&[(1, "AccessExclusiveLock")]);
        let second = effect(&[(1, "AccessExclusiveLock"), (2, "ShareLock")]);
        let effects = [first, second];
        let hits = check(&ExclusiveLockHeld, &effects, 0);
        assert_eq!(hits.len(), 1);
        assert!(
            hits[0].evidence.contains("1 more statement(s)"),
            "{}",
            hits[0].evidence
        );
        assert!(
            check(&ExclusiveLockHeld, &effects, 1).is_empty(),
            "the last one"
        );
    }

    #[test]
    fn a_later_transaction_or_a_weaker_lock_is_no_finding() {
        let first = effect(&[(1, "AccessExclusiveLock")]);
        let mut next = effect(&[]);
        next.transaction = 1;
        assert!(check(&ExclusiveLockHeld, &[first, next], 0).is_empty());
        let share = effect(&[(1, "ShareLock")]);
        assert!(check(&ExclusiveLockHeld, &[share, effect(&[])], 0).is_empty());
    }
}
