//! `lock-timeout-missing`: a statement took a lock that blocks writes on a pre-existing
//! table while the script had not set `lock_timeout`.

use super::{Context, Hit, Rule, table_lock_hits};
use crate::analysis::{Blocks, blocks};

pub struct LockTimeout;

impl Rule for LockTimeout {
    fn id(&self) -> &'static str {
        "lock-timeout-missing"
    }
    fn title(&self) -> &'static str {
        "dangerous lock taken without a lock_timeout"
    }
    fn why(&self) -> &'static str {
        "behind one long transaction the statement waits for its lock, and every query on \
         the table queues behind the waiting statement: a lock_timeout makes it fail fast \
         instead, to be retried"
    }
    fn safe_rewrite(&self) -> &'static str {
        "SET lock_timeout = '5s';  -- at the top of the migration\n\
         ALTER TABLE orders ADD COLUMN note text;"
    }
    fn check(&self, context: &Context) -> Vec<Hit> {
        if context.effect().lock_timeout_set {
            return Vec::new();
        }
        table_lock_hits(
            context,
            |mode| blocks(mode) >= Blocks::Writes,
            |table, mode| format!("took {mode} on {table} with no lock_timeout set by the script"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{check, effect};
    use super::*;

    #[test]
    fn a_write_blocking_lock_without_a_timeout_is_found() {
        let mut bare = effect(&[(1, "AccessExclusiveLock"), (3, "AccessExclusiveLock")]);
        bare.lock_timeout_set = false;
        let hits = check(&LockTimeout, &[bare], 0);
        assert_eq!(hits.len(), 1, "the table, not its index: {hits:?}");
        assert_eq!(hits[0].relation, 1);
    }

    #[test]
    fn a_timeout_or_a_harmless_lock_is_no_finding() {
        let timed = effect(&[(1, "AccessExclusiveLock")]);
        assert!(check(&LockTimeout, &[timed], 0).is_empty());
        let mut harmless = effect(&[(1, "ShareUpdateExclusiveLock")]);
        harmless.lock_timeout_set = false;
        assert!(check(&LockTimeout, &[harmless], 0).is_empty());
    }
}
