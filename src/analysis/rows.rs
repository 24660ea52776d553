//! Generated rows for the tables a migration finds, so that its rewrites, scans and
//! validations do real work while they are measured (`--lock-rows N`).
//!
//! [`fill`] reads the catalog once for the tables not filled yet and fills each with one
//! `INSERT … SELECT … FROM generate_series(1, N) … ON CONFLICT DO NOTHING`, built from what
//! the catalog says of its columns:
//! - every column gets a value of its type (numbers, text within the type's length,
//!   times, uuids, enums' labels, JSON, …) unless it is an identity, generated or serial
//!   column, or has a default and no generated value of its type exists;
//! - a foreign key's columns take a parent row's values (parents are filled first; a
//!   cycle is broken by leaving a nullable key NULL);
//! - CHECK constraints are kept best effort: a single column's `IN (…)` list gives its
//!   values, and rows failing any CHECK of the generated columns are left out;
//! - unique keys and exclusion constraints: a conflicting row is skipped
//!   (`ON CONFLICT DO NOTHING`).
//!
//! A table that cannot be filled (a NOT NULL column of a type without a generated value, a
//! NOT NULL foreign key in a cycle, a domain's or a partition's bound refusing the rows, a
//! trigger raising) is named in a note, never fatal: each table's INSERT is a transaction
//! of its own.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use tokio_postgres::{Client, Statement};

use super::stats::{Column as StatsColumn, Stats, Table as StatsTable};
use crate::postgres::describe_error;

/// The tables to fill: ordinary and partitioned tables outside the system schemas and
/// extensions, not partitions (rows reach them through their parent), not temporary, not
/// yet seen (`$1`), not a migration tool's bookkeeping table (`$2`, bare or qualified);
/// with `$3`, the words of the scripts about to run, only the tables they name, those
/// with a column of a user-defined type they name (a domain's new constraint scans them), the tables
/// these reference (their rows are the foreign keys' values), and further up only through
/// NOT NULL foreign keys (a nullable one stays NULL: a chain of references through a
/// long history would fill most of it). Driven from those
/// tables, and with no join the planner could misjudge on catalogs whose statistics a
/// migration run leaves stale: it runs once per migration measured.
const TABLES: &str = "\
WITH RECURSIVE named AS (
  SELECT COALESCE(pg_catalog.pg_partition_root(c.oid), c.oid) AS oid
  FROM pg_catalog.pg_class c
  WHERE c.oid >= 16384 AND c.relkind IN ('r', 'p')
    AND ($3::text[] IS NULL OR c.relname::text = ANY ($3::text[]))
  UNION
  SELECT a.attrelid FROM pg_catalog.pg_attribute a
  WHERE a.attrelid >= 16384 AND a.attnum > 0 AND NOT a.attisdropped
    AND a.atttypid = ANY (ARRAY(SELECT t.oid FROM pg_catalog.pg_type t
      WHERE t.oid >= 16384 AND t.typname::text = ANY ($3::text[])))
), parents AS (
  SELECT oid FROM named
  UNION
  SELECT k.confrelid FROM pg_catalog.pg_constraint k JOIN named n ON k.conrelid = n.oid
  WHERE k.contype = 'f'
), wanted AS (
  SELECT oid FROM parents
  UNION
  SELECT k.confrelid FROM pg_catalog.pg_constraint k JOIN wanted w ON k.conrelid = w.oid
  WHERE k.contype = 'f' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey) AND NOT a.attnotnull)
)
SELECT pg_catalog.json_agg(pg_catalog.json_build_object(
  'oid', c.oid::pg_catalog.int8,
  'name', pg_catalog.format('%I.%I', n.nspname, c.relname),
  'key', pg_catalog.json_build_array(n.nspname, c.relname),
  'unique_columns', (SELECT pg_catalog.json_agg(DISTINCT k.attnum)
    FROM pg_catalog.pg_index i, pg_catalog.unnest(i.indkey::pg_catalog.int2[]) AS k(attnum)
    WHERE i.indrelid = c.oid AND i.indisunique AND k.attnum > 0),
  'columns', (SELECT pg_catalog.json_agg(pg_catalog.json_build_object(
      'number', a.attnum, 'name', pg_catalog.quote_ident(a.attname), 'raw_name', a.attname,
      'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
      'base', bt.typname::text, 'base_kind', bt.typtype::text,
      'category', bt.typcategory::text,
      'base_type', pg_catalog.format_type(bt.oid, NULL),
      'not_null', a.attnotnull,
      'has_default', a.atthasdef,
      'automatic', a.attidentity <> '' OR a.attgenerated <> ''
        OR COALESCE(pg_catalog.pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false))
      ORDER BY a.attnum)
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
    JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd'
      THEN t.typbasetype ELSE t.oid END
    LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
  'foreign_keys', (SELECT pg_catalog.json_agg(pg_catalog.json_build_object(
      'columns', k.conkey, 'parent', k.confrelid::pg_catalog.int8,
      'parent_name', k.confrelid::pg_catalog.regclass::text,
      'parent_columns', (SELECT pg_catalog.json_agg(pg_catalog.quote_ident(pa.attname)
          ORDER BY u.i)
        FROM pg_catalog.unnest(k.confkey) WITH ORDINALITY AS u(attnum, i)
        JOIN pg_catalog.pg_attribute pa ON pa.attrelid = k.confrelid
          AND pa.attnum = u.attnum)))
    FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'f'),
  'checks', (SELECT pg_catalog.json_agg(pg_catalog.json_build_object(
      'columns', k.conkey, 'definition', pg_catalog.pg_get_constraintdef(k.oid)))
    FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'c'),
  'deferrable_keys', EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
    WHERE k.conrelid = c.oid AND k.contype IN ('p', 'u', 'x') AND k.condeferrable),
  'partitions', CASE WHEN c.relkind = 'p' THEN (SELECT pg_catalog.json_agg(
      pg_catalog.pg_get_partition_constraintdef(t.relid))
    FROM pg_catalog.pg_partition_tree(c.oid) t WHERE t.isleaf) END,
  'partition_key', (SELECT pg_catalog.string_to_array(pt.partattrs::text, ' ')::pg_catalog.int2[]
    FROM pg_catalog.pg_partitioned_table pt WHERE pt.partrelid = c.oid)
) ORDER BY n.nspname, c.relname)::text
FROM (SELECT DISTINCT w.oid FROM wanted w) AS w
  JOIN pg_catalog.pg_class c ON c.oid = w.oid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid >= 16384 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
    WHERE e.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND e.objid = c.oid
      AND e.deptype = 'e')
  AND c.oid::pg_catalog.int8 <> ALL ($1::pg_catalog.int8[])
  AND c.relname::text <> ALL ($2::text[])
  AND pg_catalog.format('%s.%s', n.nspname, c.relname) <> ALL ($2::text[])";

#[derive(Debug, Deserialize)]
struct Table {
    oid: i64,
    name: String,
    /// Its schema and name, unquoted (to find it in production's statistics).
    key: (String, String),
    /// The columns of its unique keys: their values stay distinct whatever the statistics
    /// say (production satisfies them).
    unique_columns: Option<Vec<i16>>,
    columns: Option<Vec<Column>>,
    foreign_keys: Option<Vec<ForeignKey>>,
    checks: Option<Vec<Check>>,
    /// Whether a unique key or exclusion constraint is deferrable (`ON CONFLICT` refuses
    /// them as arbiters).
    deferrable_keys: bool,
    /// A partitioned table's leaf partitions' constraints (`None` for one without any: a
    /// lone default partition); `None` for other tables.
    partitions: Option<Vec<Option<String>>>,
    /// A partitioned table's key columns (0 for an expression).
    partition_key: Option<Vec<i16>>,
}

#[derive(Debug, Deserialize)]
struct Column {
    number: i16,
    name: String,
    /// Its name unquoted (to find it in production's statistics).
    raw_name: String,
    #[serde(rename = "type")]
    type_name: String,
    base: String,
    base_kind: String,
    category: String,
    base_type: String,
    not_null: bool,
    has_default: bool,
    automatic: bool,
}

#[derive(Debug, Deserialize)]
struct ForeignKey {
    columns: Vec<i16>,
    parent: i64,
    parent_name: String,
    parent_columns: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Check {
    columns: Option<Vec<i16>>,
    definition: String,
}

/// How far the rows a table holds after filling are counted.
pub const HELD_BOUND: u64 = 1_000_000;

/// What [`fill`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Filled {
    /// Every table considered (filled or not): not to be considered again.
    pub seen: BTreeSet<u32>,
    /// Each table filled (by OID) and the rows it holds then (its own included, counted up
    /// to [`HELD_BOUND`]).
    pub tables: Vec<(u32, u64)>,
    /// Each table that got no row, and why.
    pub unfilled: Vec<(String, String)>,
}

/// [`TABLES`] prepared on one session, for fills one after another there (once per
/// migration measured: planning it each time cost more than running it).
pub struct Filler {
    tables: Statement,
}

/// Which tables a fill considers.
pub struct Scope<'a> {
    /// Tables considered already (never filled twice).
    pub seen: &'a BTreeSet<u32>,
    /// Tables left alone (bookkeeping tables, bare or qualified).
    pub skip: &'a BTreeSet<String>,
    /// With these scripts, only the tables they can reach (see [`TABLES`]).
    pub about: Option<&'a [&'a str]>,
    /// Production's statistics: generated values follow their columns' shape.
    pub stats: Option<&'a Stats>,
}

impl Filler {
    pub async fn prepare(client: &Client) -> Result<Self, tokio_postgres::Error> {
        Ok(Filler {
            tables: client.prepare(TABLES).await?,
        })
    }

    /// The tables `scope` considers, read from the catalog.
    async fn tables(
        &self,
        client: &Client,
        scope: &Scope<'_>,
    ) -> Result<Vec<Table>, tokio_postgres::Error> {
        let seen_list: Vec<i64> = scope.seen.iter().map(|&oid| i64::from(oid)).collect();
        let skip_list: Vec<String> = scope.skip.iter().cloned().collect();
        let words: Option<Vec<String>> = scope
            .about
            .map(|scripts| words(scripts).into_iter().collect());
        let row = client
            .query_one(&self.tables, &[&seen_list, &skip_list, &words])
            .await?;
        let json: Option<String> = row.get(0);
        Ok(json
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default())
    }

    /// Fills every table `scope` considers with up to `rows` generated rows, parents first
    /// (see the [module](self)), on the session the statement was prepared on. Err only
    /// when the catalog cannot be read (the connection is gone).
    pub async fn fill(
        &self,
        client: &Client,
        rows: u64,
        scope: &Scope<'_>,
    ) -> Result<Filled, tokio_postgres::Error> {
        let tables = self.tables(client, scope).await?;
        let mut filled = Filled::default();
        for table in order(tables, &mut filled) {
            filled.seen.insert(table.oid as u32);
            let shape = scope
                .stats
                .and_then(|stats| stats.table(&table.key.0, &table.key.1));
            match add_rows(client, &table, 1, rows, shape, false).await? {
                Ok(0) => filled.unfilled.push((
                    table.name.clone(),
                    "every generated row conflicted with a key or failed a CHECK constraint".into(),
                )),
                Ok(held) => filled.tables.push((table.oid as u32, held)),
                Err(reason) => filled.unfilled.push((table.name.clone(), reason)),
            }
        }
        Ok(filled)
    }

    /// Adds generated rows to the tables of `targets` (by OID: the rows each holds now and
    /// the rows it should hold), parents first, shaped by `scope`'s statistics; the rows
    /// each holds afterwards. A table that refuses the rows keeps what it had. Only inside a
    /// transaction (each table's rows under a savepoint).
    pub async fn grow(
        &self,
        client: &Client,
        targets: &BTreeMap<u32, (u64, u64)>,
        scope: &Scope<'_>,
    ) -> Result<BTreeMap<u32, u64>, tokio_postgres::Error> {
        let tables: Vec<Table> = self
            .tables(client, scope)
            .await?
            .into_iter()
            .filter(|table| targets.contains_key(&(table.oid as u32)))
            .collect();
        // The rows are generated to satisfy the foreign keys: checking each one again would
        // cost more than inserting it. Replica mode skips those checks (and user triggers);
        // a role that may not set it (not a superuser) inserts with the checks.
        client
            .batch_execute("SAVEPOINT migration_check_replica")
            .await?;
        let replica = client
            .batch_execute("SET LOCAL session_replication_role = replica")
            .await
            .is_ok();
        client
            .batch_execute(if replica {
                "RELEASE SAVEPOINT migration_check_replica"
            } else {
                "ROLLBACK TO SAVEPOINT migration_check_replica"
            })
            .await?;
        let mut held = BTreeMap::new();
        for table in order(tables, &mut Filled::default()) {
            let oid = table.oid as u32;
            let (now, target) = targets[&oid];
            let shape = scope
                .stats
                .and_then(|stats| stats.table(&table.key.0, &table.key.1));
            let rows = if target > now {
                add_rows(client, &table, now + 1, target, shape, true)
                    .await?
                    .unwrap_or(now)
            } else {
                now
            };
            held.insert(oid, rows);
        }
        if replica {
            client
                .batch_execute("SET LOCAL session_replication_role = origin")
                .await?;
        }
        Ok(held)
    }
}

/// Inserts the generated rows `from..=to` into `table`; the rows it holds then (its own
/// included, counted up to [`HELD_BOUND`]), or why it refused them. `in_transaction`:
/// under a savepoint, so that a refusal leaves the caller's transaction going.
async fn add_rows(
    client: &Client,
    table: &Table,
    from: u64,
    to: u64,
    shape: Option<&StatsTable>,
    in_transaction: bool,
) -> Result<Result<u64, String>, tokio_postgres::Error> {
    let statement = match insert(table, from, to, shape) {
        Ok(statement) => statement,
        Err(reason) => return Ok(Err(reason)),
    };
    if in_transaction {
        client
            .batch_execute("SAVEPOINT migration_check_rows")
            .await?;
    }
    let inserted = client.execute(statement.as_str(), &[]).await;
    if in_transaction {
        let end = match inserted {
            Ok(_) => "RELEASE SAVEPOINT migration_check_rows",
            Err(_) => "ROLLBACK TO SAVEPOINT migration_check_rows",
        };
        if let Err(error) = client.batch_execute(end).await
            && client.is_closed()
        {
            return Err(error);
        }
    }
    match inserted {
        Ok(_) => {
            // What the table holds now, its own rows included (counted up to a bound: a
            // seeded table can be large).
            let held: i64 = client
                .query_one(
                    &format!(
                        "SELECT count(*) FROM (SELECT 1 FROM {} LIMIT {HELD_BOUND}) AS held",
                        table.name
                    ),
                    &[],
                )
                .await?
                .get(0);
            Ok(Ok(held as u64))
        }
        Err(error) if client.is_closed() => Err(error),
        Err(error) => Ok(Err(describe_error(&error).replace('\n', " "))),
    }
}

/// The words of `scripts` that could name a table or a type: every run of letters, digits,
/// `_` and `$`, lowercased (an unquoted name) and as written (a quoted one).
pub fn words(scripts: &[&str]) -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    for script in scripts {
        for word in script.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')) {
            if word.is_empty() || word.starts_with(|c: char| c.is_ascii_digit()) {
                continue;
            }
            words.insert(word.to_lowercase());
            words.insert(word.to_string());
        }
    }
    words
}

/// The tables in the order to fill them: parents before children; where foreign keys
/// form a cycle, a table whose keys to unfilled parents are all nullable goes first (they
/// stay NULL). Tables caught in a cycle of NOT NULL keys are noted in `filled` and left out.
fn order(mut pending: Vec<Table>, filled: &mut Filled) -> Vec<Table> {
    let mut ordered: Vec<Table> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let waiting: BTreeSet<i64> = pending.iter().map(|t| t.oid).collect();
        // Keys to a parent still waiting (itself included: its rows are not there yet).
        let waits_on = |table: &Table, nullable_only: bool| {
            table.foreign_keys.iter().flatten().any(|key| {
                waiting.contains(&key.parent) && !(nullable_only && key_nullable(table, key))
            })
        };
        let next = pending
            .iter()
            .position(|t| !waits_on(t, false))
            .or_else(|| pending.iter().position(|t| !waits_on(t, true)));
        match next {
            Some(index) => ordered.push(pending.remove(index)),
            None => {
                for table in pending.drain(..) {
                    filled.seen.insert(table.oid as u32);
                    filled
                        .unfilled
                        .push((table.name, "its NOT NULL foreign keys form a cycle".into()));
                }
            }
        }
    }
    ordered
}

/// Whether every column of `key` may be NULL.
fn key_nullable(table: &Table, key: &ForeignKey) -> bool {
    key.columns.iter().all(|number| {
        table
            .columns
            .iter()
            .flatten()
            .find(|c| c.number == *number)
            .is_some_and(|c| !c.not_null)
    })
}

/// The INSERT adding the generated rows `from..=to` to `table`, their values shaped by
/// production's statistics of it when given (see [`shaped`]), or why it cannot be filled.
fn insert(table: &Table, from: u64, to: u64, shape: Option<&StatsTable>) -> Result<String, String> {
    let columns = table.columns.as_deref().unwrap_or_default();
    let mut ctes = Vec::new();
    let mut values: BTreeMap<i16, String> = BTreeMap::new();
    // Foreign keys first: their columns take a parent row's values (one parent row per
    // generated row, the same for every column of a key).
    for (index, key) in table.foreign_keys.iter().flatten().enumerate() {
        if key.parent == table.oid {
            // Its own rows do not exist yet: NULL where allowed.
            if key_nullable(table, key) {
                for number in &key.columns {
                    values.insert(*number, "NULL".into());
                }
                continue;
            }
            return Err("a NOT NULL foreign key references the table itself".into());
        }
        // One array per key column (aggregated over the same rows, so aligned): picking an
        // element of an array of a fixed-width type is direct, where an array of whole rows
        // is walked up to the element for every generated row.
        let parents = format!("parent_{index}");
        let arrays: Vec<String> = key
            .parent_columns
            .iter()
            .enumerate()
            .map(|(j, column)| format!("pg_catalog.array_agg(s.{column}) AS a{j}"))
            .collect();
        ctes.push(format!(
            "{parents} AS (SELECT {} FROM (SELECT {} FROM {} LIMIT 10000) AS s)",
            arrays.join(", "),
            key.parent_columns.join(", "),
            key.parent_name
        ));
        for (j, number) in key.columns.iter().enumerate() {
            values.entry(*number).or_insert_with(|| {
                format!("{parents}.a{j}[1 + (g.n - 1) % pg_catalog.cardinality({parents}.a0)]")
            });
        }
    }
    let checks: Vec<&Check> = table.checks.iter().flatten().collect();
    let unique: BTreeSet<i16> = table.unique_columns.iter().flatten().copied().collect();
    for column in columns {
        if values.contains_key(&column.number) || column.automatic {
            continue;
        }
        let listed = checks
            .iter()
            .filter(|check| check.columns.as_deref() == Some(&[column.number]))
            .find_map(|check| listed_values(&check.definition));
        let generated = value(column).map(|expression| match shape {
            Some(shape) if !unique.contains(&column.number) => {
                shaped(expression, column, shape.column(&column.raw_name), to)
            }
            _ => expression,
        });
        match listed.or(generated) {
            Some(expression) => {
                values.insert(column.number, expression);
            }
            None if column.not_null && !column.has_default => {
                return Err(format!(
                    "no value can be generated for its NOT NULL column {} of type {}",
                    column.name, column.type_name
                ));
            }
            None => {}
        }
    }
    let generated_columns: Vec<(&Column, &String)> = values
        .iter()
        .filter_map(|(number, expression)| {
            Some((columns.iter().find(|c| c.number == *number)?, expression))
        })
        .collect();
    let names: Vec<&str> = generated_columns
        .iter()
        .map(|(column, _)| column.name.as_str())
        .collect();
    let selected: Vec<String> = generated_columns
        .iter()
        .map(|(column, expression)| {
            format!(
                "CAST({expression} AS {}) AS {}",
                column.type_name, column.name
            )
        })
        .collect();
    // The CHECK constraints over generated columns alone filter the rows (a NULL result
    // passes, as it does for the constraint).
    let generated: BTreeSet<i16> = values.keys().copied().collect();
    let filters: Vec<String> = checks
        .iter()
        .filter(|check| {
            check
                .columns
                .as_ref()
                .is_some_and(|cs| cs.iter().all(|c| generated.contains(c)))
        })
        .filter_map(|check| check_expression(&check.definition))
        .map(|expression| format!("({expression}) IS NOT FALSE"))
        .chain(partition_filter(table, &generated))
        .collect();
    let series = std::iter::once(format!("pg_catalog.generate_series({from}, {to}) AS g(n)"))
        .chain((0..ctes.len()).map(|index| format!("parent_{index}")))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(format!(
        "{}INSERT INTO {}{} SELECT {} FROM (SELECT {} FROM {series}) AS candidate{}{}",
        if ctes.is_empty() {
            String::new()
        } else {
            format!("WITH {} ", ctes.join(", "))
        },
        table.name,
        // No column generated (all have defaults): every row takes the defaults.
        if names.is_empty() {
            String::new()
        } else {
            format!(" ({})", names.join(", "))
        },
        names.join(", "),
        if selected.is_empty() {
            "g.n".to_string()
        } else {
            selected.join(", ")
        },
        if filters.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", filters.join(" AND "))
        },
        if table.deferrable_keys {
            ""
        } else {
            " ON CONFLICT DO NOTHING"
        },
    ))
}

/// For a partitioned table, the rows some leaf partition takes: its partitions'
/// constraints, any of them (none when a partition takes every row, or when the key is not
/// made of generated columns alone).
fn partition_filter(table: &Table, generated: &BTreeSet<i16>) -> Option<String> {
    let partitions = table.partitions.as_ref()?;
    if !table
        .partition_key
        .as_ref()?
        .iter()
        .all(|column| generated.contains(column))
    {
        return None;
    }
    let mut constraints = Vec::new();
    for constraint in partitions {
        constraints.push(format!("({})", constraint.as_ref()?));
    }
    (!constraints.is_empty()).then(|| format!("({}) IS TRUE", constraints.join(" OR ")))
}

/// `expression` (a value of row `g.n`) shaped like production's column, for `rows` rows:
/// - distinct values as `n_distinct` says (a count, or minus a fraction of the rows): row
///   `g.n` takes the value of row `1 + (g.n - 1) % d`, so where production holds
///   duplicates the rows do too (a fraction short of 1 keeps at least one duplicate: the
///   sample that measured it saw some);
/// - text as wide as `avg_width` (padded);
/// - NULL in about `null_frac` of the rows, the first row always when the fraction is above
///   0 (a NOT NULL added later meets it), where the column allows NULL.
fn shaped(expression: String, column: &Column, stats: Option<&StatsColumn>, rows: u64) -> String {
    let Some(stats) = stats else {
        return expression;
    };
    let mut expression = expression;
    let distinct = match stats.n_distinct {
        Some(d) if d > 0.0 => Some((d.round() as u64).max(1)),
        Some(d) if d < 0.0 && d > -0.9999 => {
            Some(((-d * rows as f64).floor() as u64).clamp(1, rows.saturating_sub(1).max(1)))
        }
        _ => None,
    };
    if let Some(distinct) = distinct.filter(|&d| d < rows) {
        expression = expression.replace("g.n", &format!("(1 + (g.n - 1) % {distinct})"));
    }
    if let Some(width) = stats.avg_width
        && width > 8
        && column.category == "S"
        && matches!(column.base.as_str(), "text" | "varchar" | "bpchar")
    {
        expression = format!("pg_catalog.rpad({expression}, {width}, 'x')");
    }
    match stats.null_frac {
        Some(fraction) if fraction > 0.0 && !column.not_null => {
            let threshold = ((fraction * 10_007.0).round() as u64).max(1);
            format!(
                "CASE WHEN g.n = 1 OR (g.n * 7919 + {} * 104729) % 10007 < {threshold} \
                 THEN NULL ELSE {expression} END",
                column.number
            )
        }
        _ => expression,
    }
}

/// A generated value for row `g.n` of `column`'s type (its base type for a domain), cast
/// to the column's type by the caller; `None` for types without one.
fn value(column: &Column) -> Option<String> {
    if column.category == "A" {
        return Some("'{}'".into());
    }
    if column.base_kind == "e" {
        let range = format!("pg_catalog.enum_range(NULL::{})", column.base_type);
        return Some(format!(
            "({range})[1 + (g.n - 1) % pg_catalog.cardinality({range})]"
        ));
    }
    if column.base_kind == "r" {
        return Some("'empty'".into());
    }
    let expression = match column.base.as_str() {
        "int2" => "(g.n % 32767)",
        "int4" | "int8" | "numeric" | "float4" | "float8" | "oid" | "money" => "g.n",
        "bool" => "(g.n % 2 = 0)",
        "uuid" => "pg_catalog.md5(g.n::text)::uuid",
        "date" => "(DATE '2020-01-01' + g.n)",
        "timestamp" | "timestamptz" => "(TIMESTAMP '2020-01-01' + g.n * INTERVAL '1 second')",
        "time" | "timetz" => "(TIME '00:00' + g.n * INTERVAL '1 second')",
        "interval" => "(g.n * INTERVAL '1 second')",
        "json" | "jsonb" => "pg_catalog.json_build_object('n', g.n)::text",
        "bytea" => "pg_catalog.convert_to(g.n::text, 'UTF8')",
        "inet" | "cidr" => {
            "('10.' || (g.n / 65536) % 256 || '.' || (g.n / 256) % 256 || '.' || g.n % 256)"
        }
        "tsvector" => "pg_catalog.to_tsvector('simple', 'r' || g.n)",
        "xml" => "('<r>' || g.n || '</r>')",
        _ => match column.category.as_str() {
            "S" => "('r' || g.n)",
            "N" => "g.n",
            _ => return None,
        },
    };
    Some(expression.into())
}

/// The expression of a CHECK constraint's definition (`CHECK (…)`, maybe `NOT VALID`).
fn check_expression(definition: &str) -> Option<&str> {
    let body = definition.strip_prefix("CHECK ")?;
    let body = body.strip_suffix(" NOT VALID").unwrap_or(body);
    Some(body.strip_suffix(" NO INHERIT").unwrap_or(body))
}

/// The values a single-column CHECK lists (`col IN ('a', 'b')`, which the catalog keeps as
/// `col = ANY (ARRAY['a'::text, 'b'::text])`), as an expression picking one per row.
fn listed_values(definition: &str) -> Option<String> {
    let start = definition.find("ARRAY[")? + "ARRAY[".len();
    let end = start + definition[start..].find(']')?;
    let items = &definition[start..end];
    if definition.contains("<> ALL") || items.trim().is_empty() {
        return None;
    }
    // Every item is a literal, maybe cast: 'x'::text, 3, 'y'::character varying.
    let literal = |item: &str| {
        let item = item.trim();
        let bare = item.split("::").next().unwrap_or(item);
        (bare.starts_with('\'') && bare.ends_with('\'') && bare.len() >= 2
            || bare.parse::<f64>().is_ok())
        .then(|| bare.to_string())
    };
    let literals: Option<Vec<String>> = split_items(items).iter().map(|i| literal(i)).collect();
    let literals = literals?;
    Some(format!(
        "(ARRAY[{}])[1 + (g.n - 1) % {}]",
        literals.join(", "),
        literals.len()
    ))
}

/// `items` split at the commas outside quotes.
fn split_items(items: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    for ch in items.chars() {
        match ch {
            '\'' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(String::new());
                continue;
            }
            _ => {}
        }
        parts.last_mut().expect("one part at least").push(ch);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_values_pick_the_literals_of_an_in_list() {
        assert_eq!(
            listed_values("CHECK ((status = ANY (ARRAY['new'::text, 'it''s, done'::text])))")
                .as_deref(),
            Some("(ARRAY['new', 'it''s, done'])[1 + (g.n - 1) % 2]")
        );
        assert_eq!(
            listed_values(
                "CHECK (((kind)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[])))"
            )
            .as_deref(),
            Some("(ARRAY['a', 'b'])[1 + (g.n - 1) % 2]")
        );
        assert_eq!(
            listed_values("CHECK ((n = ANY (ARRAY[1, 2, 3])))").as_deref(),
            Some("(ARRAY[1, 2, 3])[1 + (g.n - 1) % 3]")
        );
        assert_eq!(
            listed_values("CHECK ((status <> ALL (ARRAY['x'::text])))"),
            None
        );
        assert_eq!(listed_values("CHECK ((price > (0)::numeric))"), None);
        assert_eq!(
            listed_values("CHECK ((a = ANY (ARRAY[b, c])))"),
            None,
            "columns are no literals"
        );
    }

    #[test]
    fn words_are_the_names_a_script_could_use() {
        let found = words(&[
            "ALTER TABLE \"Orders\" ADD x int;",
            "DROP TABLE s.t2; -- 42",
        ]);
        let expected: BTreeSet<String> = [
            "ALTER", "ADD", "DROP", "Orders", "TABLE", "add", "alter", "drop", "int", "orders",
            "s", "t2", "table", "x",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn check_expressions_lose_their_keyword_and_flags() {
        assert_eq!(
            check_expression("CHECK ((n > 0)) NOT VALID"),
            Some("((n > 0))")
        );
        assert_eq!(
            check_expression("CHECK ((n > 0)) NO INHERIT"),
            Some("((n > 0))")
        );
        assert_eq!(check_expression("FOREIGN KEY (a) REFERENCES b(id)"), None);
    }
}
