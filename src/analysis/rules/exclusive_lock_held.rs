//! `exclusive-lock-held`: a statement took ACCESS EXCLUSIVE on a pre-existing table and a
//! later statement of the same transaction did something that takes time while that lock,
//! which blocks even SELECT, was held: it scanned or rewrote a table, built an index,
//! validated a constraint, or took a lock on another relation without a `lock_timeout`
//! (it may queue behind anyone, and everyone queues behind it). Catalog-only statements
//! after the lock (`ALTER COLUMN … SET DEFAULT`, a widened varchar, a NOT VALID constraint
//! with `lock_timeout` set) hold it for a millisecond more: no finding.

use super::{Context, Hit, Rule, name, table_lock_hits};
use crate::analysis::effect::{Relations, StatementEffect};

pub struct ExclusiveLockHeld;

impl Rule for ExclusiveLockHeld {
    fn id(&self) -> &'static str {
        "exclusive-lock-held"
    }
    fn title(&self) -> &'static str {
        "ACCESS EXCLUSIVE held while a later statement did slow work"
    }
    fn why(&self) -> &'static str {
        "a lock is held until the transaction ends: a scan, a rewrite, an index build or a \
         lock wait after the statement that took ACCESS EXCLUSIVE adds its time to the \
         outage of the table"
    }
    fn safe_rewrite(&self) -> &'static str {
        "-- Take the exclusive lock last, or split the migration so the statement that\n\
         -- needs it runs in a transaction of its own:\n\
         UPDATE orders SET total = 0 WHERE total IS NULL; -- first: row locks only\n\
         ALTER TABLE orders ADD COLUMN audit_id bigint;    -- last: the lock ends at COMMIT"
    }
    fn check(&self, context: &Context) -> Vec<Hit> {
        let effect = context.effect();
        let mut harms: Vec<String> = Vec::new();
        for later in context.effects[context.index + 1..]
            .iter()
            .take_while(|later| later.transaction == effect.transaction)
        {
            for harm in self::harms(later, effect, context.relations) {
                if !harms.contains(&harm) {
                    harms.push(harm);
                }
            }
        }
        if harms.is_empty() {
            return Vec::new();
        }
        let harms = harms.join(", ");
        // The harms name tables and indexes, not timings: evidence stays the same run to run.
        table_lock_hits(
            context,
            |mode| mode == "AccessExclusiveLock",
            |table, mode| {
                format!("took {mode} on {table} and held it while a later statement {harms}")
            },
        )
    }
}

/// Whether `later` scanned `table` for a reason named on its own: a rewrite, an index
/// build, a validation (of a foreign key, on both tables).
fn explained(later: &StatementEffect, table: u32) -> bool {
    later.rewritten.contains(&table)
        || later.new_indexes.iter().any(|index| index.table == table)
        || later
            .validated
            .iter()
            .any(|c| c.table == table || c.referenced == Some(table))
}

/// What `later`, run while `locking`'s locks were held, did that takes time, in words.
fn harms(later: &StatementEffect, locking: &StatementEffect, relations: &Relations) -> Vec<String> {
    let mut harms = Vec::new();
    for &table in &later.rewritten {
        harms.push(format!("rewrote {}", name(relations, table)));
    }
    let is_table = |relation: &u32| relations.get(relation).is_some_and(|r| r.kind != 'i');
    for &table in later
        .scanned
        .iter()
        .filter(|t| is_table(t) && !explained(later, **t))
    {
        harms.push(format!("scanned {}", name(relations, table)));
    }
    for index in &later.new_indexes {
        harms.push(format!(
            "built index {} on {}",
            index.name,
            name(relations, index.table)
        ));
    }
    for constraint in &later.validated {
        harms.push(format!(
            "validated {} on {}",
            constraint.name,
            name(relations, constraint.table)
        ));
    }
    if !later.lock_timeout_set {
        for (relation, mode) in &later.new_locks {
            let other_table = !locking.locks.contains_key(relation) && is_table(relation);
            if other_table {
                harms.push(format!(
                    "took {mode} on {} without a lock_timeout",
                    name(relations, *relation)
                ));
            }
        }
    }
    harms
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{check, effect};
    use super::*;
    use crate::analysis::effect::NewIndex;

    #[test]
    fn slow_work_after_the_exclusive_lock_in_its_transaction_is_found() {
        let first = effect(&[(1, "AccessExclusiveLock")]);
        let mut scan = effect(&[(1, "AccessExclusiveLock"), (2, "RowExclusiveLock")]);
        scan.scanned.insert(2);
        let hits = check(&ExclusiveLockHeld, &[first.clone(), scan], 0);
        assert_eq!(hits.len(), 1);
        assert_eq!(
            hits[0].evidence,
            "took AccessExclusiveLock on public.orders and held it while a later statement scanned public.customers"
        );

        let mut build = effect(&[(1, "AccessExclusiveLock")]);
        build.new_indexes.push(NewIndex {
            name: "orders_total_idx".into(),
            table: 1,
        });
        let hits = check(&ExclusiveLockHeld, &[first.clone(), build], 0);
        assert!(
            hits[0]
                .evidence
                .ends_with("built index orders_total_idx on public.orders")
        );

        // A lock on another table without lock_timeout may queue, with ours held.
        let mut waits = effect(&[(1, "AccessExclusiveLock"), (2, "ShareRowExclusiveLock")]);
        waits.lock_timeout_set = false;
        let hits = check(&ExclusiveLockHeld, &[first, waits], 0);
        assert!(
            hits[0]
                .evidence
                .ends_with("took ShareRowExclusiveLock on public.customers without a lock_timeout"),
            "{}",
            hits[0].evidence
        );
    }

    #[test]
    fn catalog_only_statements_a_later_transaction_or_a_weaker_lock_are_no_finding() {
        let first = effect(&[(1, "AccessExclusiveLock")]);
        // ALTER COLUMN … SET DEFAULT, a NOT VALID foreign key with lock_timeout set.
        let catalog_only = effect(&[(1, "AccessExclusiveLock"), (2, "ShareRowExclusiveLock")]);
        assert!(check(&ExclusiveLockHeld, &[first.clone(), catalog_only], 0).is_empty());
        let mut next = effect(&[]);
        next.transaction = 1;
        next.scanned.insert(2);
        assert!(check(&ExclusiveLockHeld, &[first, next], 0).is_empty());
        let share = effect(&[(1, "ShareLock")]);
        let mut scan = effect(&[]);
        scan.scanned.insert(2);
        assert!(check(&ExclusiveLockHeld, &[share, scan.clone()], 0).is_empty());
        let last = effect(&[(1, "AccessExclusiveLock")]);
        assert!(
            check(&ExclusiveLockHeld, &[scan, last], 1).is_empty(),
            "the last one"
        );
    }
}
