//! The lock rules: one file each, with its tests beside it. A rule reads what a statement
//! was measured to do ([`StatementEffect`]) and says which pre-existing relations it
//! affected in a way that would hurt a live database, with the evidence.

mod blocking_index;
mod table_rewrite;
mod validated_constraint;

use super::observe::{Relations, StatementEffect};

/// One relation a rule found affected by a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub relation: u32,
    /// The strongest lock held on it after the statement.
    pub mode: Option<String>,
    pub rewrite: bool,
    /// What was measured, in words.
    pub evidence: String,
}

/// A lock rule.
pub trait Rule: Sync {
    /// Its ID, for reports and `-- migration-check: allow ID`.
    fn id(&self) -> &'static str;
    /// One line saying what it finds.
    fn title(&self) -> &'static str;
    /// Why it matters on a live database.
    fn why(&self) -> &'static str;
    /// The safe way to write the statement, as SQL.
    fn safe_rewrite(&self) -> &'static str;
    /// The relations `effect` affected that this rule finds, if any.
    fn check(&self, effect: &StatementEffect, relations: &Relations) -> Vec<Hit>;
}

/// Every rule, in the order findings are listed.
pub static ALL: &[&dyn Rule] = &[
    &table_rewrite::TableRewrite,
    &blocking_index::BlockingIndex,
    &validated_constraint::ValidatedConstraint,
];

/// The name of `relation` for evidence.
fn name(relations: &Relations, relation: u32) -> String {
    relations
        .get(&relation)
        .map_or_else(|| format!("relation {relation}"), |r| r.name.clone())
}

/// The lock held on `relation` after the statement, as evidence ("under ShareLock").
fn under(effect: &StatementEffect, relation: u32) -> String {
    effect
        .locks
        .get(&relation)
        .map_or_else(String::new, |mode| format!(" under {mode}"))
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Measured effects written by hand, for the rules' tests.
    use std::collections::HashMap;

    use super::super::observe::{Relation, Relations, StatementEffect};

    /// Two pre-existing tables (1 `public.orders`, 2 `public.customers`) and an index
    /// (3 `public.orders_pkey`).
    pub fn relations() -> Relations {
        HashMap::from([
            (
                1,
                Relation {
                    name: "public.orders".into(),
                    kind: 'r',
                },
            ),
            (
                2,
                Relation {
                    name: "public.customers".into(),
                    kind: 'r',
                },
            ),
            (
                3,
                Relation {
                    name: "public.orders_pkey".into(),
                    kind: 'i',
                },
            ),
        ])
    }

    /// An observed effect holding `locks`.
    pub fn effect(locks: &[(u32, &str)]) -> StatementEffect {
        StatementEffect {
            observed: true,
            locks: locks.iter().map(|(r, m)| (*r, m.to_string())).collect(),
            new_locks: locks.iter().map(|(r, m)| (*r, m.to_string())).collect(),
            ..Default::default()
        }
    }
}
