//! What one statement of a migration was measured to do to the relations that existed before
//! it: the vocabulary between the [`observe`](super::observe) measurement, which fills it in,
//! and the [`rules`](super::rules), which judge it. Plain data, no queries.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::time::{Duration, Instant};

/// A pre-existing relation.
#[derive(Debug, Clone)]
pub struct Relation {
    /// `schema.name`, quoted where needed.
    pub name: String,
    /// `pg_class.relkind`.
    pub kind: char,
    /// An index's table.
    pub table: Option<u32>,
    /// The rows generated into a table before the script (see [`super::rows`]), when it
    /// was filled.
    pub rows: Option<u64>,
}

/// The relations that existed before the script, by OID.
pub type Relations = HashMap<u32, Relation>;

/// A pre-existing column whose type a statement changed to or from an enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumChange {
    pub table: u32,
    pub column: String,
    pub from: String,
    pub to: String,
}

/// A column a statement added to a pre-existing table with a default or a generation
/// expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedColumn {
    pub table: u32,
    pub column: String,
    pub expression: String,
    /// A generated column's expression rather than a default.
    pub generated: bool,
}

/// A CHECK or FOREIGN KEY constraint a statement added validated, or validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    pub name: String,
    pub table: u32,
    /// `c` (CHECK) or `f` (FOREIGN KEY).
    pub kind: char,
    /// The referenced table of a foreign key.
    pub referenced: Option<u32>,
}

/// An index a statement built on a pre-existing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIndex {
    pub name: String,
    pub table: u32,
}

/// What one statement did, measured after it ran.
#[derive(Debug, Clone, Default)]
pub struct StatementEffect {
    /// The statement's code within the script.
    pub code: Range<usize>,
    /// Whether it was measured at all (a statement that must run alone is not).
    pub observed: bool,
    /// The strongest lock held on each pre-existing relation after it, in its transaction.
    pub locks: BTreeMap<u32, String>,
    /// The locks it took, or made stronger.
    pub new_locks: BTreeMap<u32, String>,
    /// Pre-existing relations that got a new file (rewritten).
    pub rewritten: Vec<u32>,
    /// The indexes it built on pre-existing tables: their names did not exist before (an
    /// index rebuilt by a rewrite keeps its name, and is the rewrite's business).
    pub new_indexes: Vec<NewIndex>,
    /// The constraints it added validated, or validated.
    pub validated: Vec<Validated>,
    /// Pre-existing tables it scanned.
    pub scanned: BTreeSet<u32>,
    /// (table, column) of pre-existing columns it made NOT NULL.
    pub set_not_null: Vec<(u32, String)>,
    /// Pre-existing columns whose type it changed to or from an enum.
    pub enum_changes: Vec<EnumChange>,
    /// Columns it added to pre-existing tables with a default or generation expression.
    pub added_columns: Vec<AddedColumn>,
    /// Whether the script had set `lock_timeout` when it ran.
    pub lock_timeout_set: bool,
    /// Which transaction of the script it ran in (0, 1, …): statements in the same one
    /// share its locks until it ends.
    pub transaction: usize,
    /// Foreign keys added by the script so far whose referencing columns lead no index:
    /// (oid, name, table).
    pub unindexed_foreign_keys: Vec<(u32, String, String)>,
    pub(crate) started: Option<Instant>,
    /// How long its locks were held: from its start until its transaction ended.
    pub held: Duration,
}
