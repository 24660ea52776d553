//! The lock rules: one file each, with its tests beside it. A rule reads what a statement
//! was measured to do ([`StatementEffect`]) and says which pre-existing relations it
//! affected in a way that would hurt a live database, with the evidence.

mod blocking_index;
mod enum_rewrite;
mod exclusive_lock_held;
mod foreign_key_without_index;
mod lock_timeout;
mod set_not_null;
mod table_rewrite;
mod validated_constraint;
mod volatile_default;

use super::effect::{Relations, StatementEffect};
use crate::analysis::{Blocks, blocks};

/// One relation a rule found affected by a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The pre-existing relation (its OID), or 0 with `named`.
    pub relation: u32,
    /// The relation's name when it did not exist before the migration.
    pub named: Option<String>,
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
    /// The relations the statement `context` points at affected that this rule finds.
    fn check(&self, context: &Context) -> Vec<Hit>;
    /// Whether what its statements do takes longer the more rows the table holds (a
    /// rewrite, a scan, an index build): worth timing at production's size (`--stats`).
    fn grows_with_rows(&self) -> bool {
        false
    }
}

/// Whether rule `id`'s statements take longer the more rows the table holds.
pub fn grows_with_rows(id: &str) -> bool {
    ALL.iter()
        .find(|rule| rule.id() == id)
        .is_some_and(|rule| rule.grows_with_rows())
}

/// A statement's effect among the script's, for a rule.
pub struct Context<'a> {
    /// Every statement of the script, in order.
    pub effects: &'a [StatementEffect],
    /// The statement under consideration.
    pub index: usize,
    pub relations: &'a Relations,
    /// The foreign keys the script added that lead no index once it is over, when known.
    pub unindexed_after: Option<&'a std::collections::BTreeSet<u32>>,
}

impl Context<'_> {
    /// The statement under consideration.
    pub fn effect(&self) -> &StatementEffect {
        &self.effects[self.index]
    }
}

/// Every rule, in the order findings are listed.
pub static ALL: &[&dyn Rule] = &[
    &table_rewrite::TableRewrite,
    &volatile_default::VolatileDefault,
    &enum_rewrite::EnumRewrite,
    &blocking_index::BlockingIndex,
    &validated_constraint::ValidatedConstraint,
    &set_not_null::SetNotNull,
    &exclusive_lock_held::ExclusiveLockHeld,
    &lock_timeout::LockTimeout,
    &foreign_key_without_index::ForeignKeyWithoutIndex,
];

/// The locks the statement took (or strengthened) on pre-existing tables, not indexes, in a
/// mode `keep` accepts, as hits saying `evidence(relation name, mode)`.
fn table_lock_hits(
    context: &Context,
    keep: impl Fn(&str) -> bool,
    evidence: impl Fn(&str, &str) -> String,
) -> Vec<Hit> {
    let (effect, relations) = (context.effect(), context.relations);
    effect
        .new_locks
        .iter()
        .filter(|(relation, mode)| {
            keep(mode) && relations.get(relation).is_some_and(|r| r.kind != 'i')
        })
        .map(|(&relation, mode)| Hit {
            named: None,
            relation,
            mode: Some(mode.clone()),
            rewrite: false,
            evidence: evidence(&name(relations, relation), mode),
        })
        .collect()
}

/// The name of `relation` for evidence.
fn name(relations: &Relations, relation: u32) -> String {
    relations
        .get(&relation)
        .map_or_else(|| format!("relation {relation}"), |r| r.name.clone())
}

/// The hits of column changes (`(table, what)`) a statement made while it rewrote their
/// table under a lock that blocks writes: one per table, "VERB column WHAT and WHAT,
/// rewriting TABLE under MODE".
fn column_rewrite_hits(
    context: &Context,
    verb: &str,
    changes: impl IntoIterator<Item = (u32, String)>,
) -> Vec<Hit> {
    let (effect, relations) = (context.effect(), context.relations);
    let mut tables: Vec<(u32, &String, Vec<String>)> = Vec::new();
    for (table, what) in changes {
        let Some(mode) = effect.locks.get(&table) else {
            continue;
        };
        if !effect.rewritten.contains(&table) || blocks(mode) < Blocks::Writes {
            continue;
        }
        match tables.iter_mut().find(|(t, ..)| *t == table) {
            Some((_, _, whats)) => whats.push(what),
            None => tables.push((table, mode, vec![what])),
        }
    }
    tables
        .into_iter()
        .map(|(table, mode, whats)| Hit {
            named: None,
            relation: table,
            mode: Some(mode.clone()),
            rewrite: true,
            evidence: format!(
                "{verb} column {}, rewriting {} under {mode}",
                whats.join(" and "),
                sized(relations, table)
            ),
        })
        .collect()
}

/// `relation`'s name with the rows generated into it when it was filled: "public.orders
/// (1,000 rows)".
fn sized(relations: &Relations, relation: u32) -> String {
    match rows(relations, relation) {
        Some(rows) => format!("{} ({rows})", name(relations, relation)),
        None => name(relations, relation),
    }
}

/// "1,000 rows" generated into `relation`, when it was filled.
fn rows(relations: &Relations, relation: u32) -> Option<String> {
    let rows = relations.get(&relation)?.rows?;
    Some(format!(
        "{} {}",
        thousands(rows),
        if rows == 1 { "row" } else { "rows" }
    ))
}

/// `1234567` as "1,234,567".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
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

    use super::super::effect::{Relation, Relations, StatementEffect};

    /// Two pre-existing tables (1 `public.orders`, 2 `public.customers`) and an index
    /// (3 `public.orders_pkey`).
    pub fn relations() -> Relations {
        HashMap::from([
            (
                1,
                Relation {
                    rows: None,
                    name: "public.orders".into(),
                    kind: 'r',
                    table: None,
                },
            ),
            (
                2,
                Relation {
                    rows: None,
                    name: "public.customers".into(),
                    kind: 'r',
                    table: None,
                },
            ),
            (
                3,
                Relation {
                    rows: None,
                    name: "public.orders_pkey".into(),
                    kind: 'i',
                    table: Some(1),
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
            lock_timeout_set: true,
            ..Default::default()
        }
    }

    /// What `rule` finds in statement `index` of `effects`.
    pub fn check(
        rule: &dyn super::Rule,
        effects: &[StatementEffect],
        index: usize,
    ) -> Vec<super::Hit> {
        rule.check(&super::Context {
            effects,
            index,
            relations: &relations(),
            unindexed_after: None,
        })
    }
}
