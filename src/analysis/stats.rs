//! Production's own statistics, the documented and versioned file teams commit
//! (`.migration-check/stats.json`) or read at check time: per table its estimated rows,
//! pages and heap, index and TOAST bytes; per column `pg_stats`' null fraction, distinct
//! count, average width and correlation; per index its size; the server version and the
//! settings that change what DDL costs. Never row values, unless asked for
//! (`most_common_vals` with `--with-values`, which leaks data). Read in a read-only session:
//! `pg_read_all_stats` suffices.

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

/// The `format` field of a stats file.
pub const FORMAT: &str = "migration-check-stats";

/// The version of the stats file this build writes and reads; another is refused, naming
/// the field.
pub const VERSION: u32 = 1;

/// A stats file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// `server_version` of the database read.
    pub server_version: String,
    /// Settings that change the cost of DDL, as `SHOW` gives them.
    pub settings: Settings,
    /// Every ordinary and partitioned table outside the system schemas.
    pub tables: Vec<Table>,
}

/// The settings that change what a statement costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub maintenance_work_mem: String,
    pub max_parallel_maintenance_workers: String,
    pub work_mem: String,
}

/// One table's size and shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub schema: String,
    pub name: String,
    /// `pg_class.reltuples`: the planner's estimate of its rows (-1: never analysed).
    pub reltuples: f64,
    pub relpages: i64,
    pub heap_bytes: i64,
    pub index_bytes: i64,
    pub toast_bytes: i64,
    pub columns: Vec<Column>,
    pub indexes: Vec<Index>,
}

/// One column's statistics from `pg_stats` (absent until the table was analysed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub name: String,
    pub null_frac: Option<f64>,
    /// Distinct values: positive, a count; negative, minus the fraction of rows.
    pub n_distinct: Option<f64>,
    pub avg_width: Option<i32>,
    pub correlation: Option<f64>,
    /// The most common values, as text: only with `--with-values` (they are data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub most_common_vals: Option<Vec<String>>,
}

/// One index's size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    pub name: String,
    pub bytes: i64,
}

impl Stats {
    /// The table `schema.name`, when production has it.
    pub fn table(&self, schema: &str, name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|table| table.schema == schema && table.name == name)
    }
}

impl Table {
    /// Its column `name`'s statistics.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|column| column.name == name)
    }

    /// Its rows, when it was ever analysed (`reltuples` is -1 before that).
    pub fn rows(&self) -> Option<u64> {
        (self.reltuples >= 0.0).then(|| self.reltuples.round() as u64)
    }

    /// `schema.name`, quoted where needed (as reports name relations).
    pub fn qualified(&self) -> String {
        format!("{}.{}", ident(&self.schema), ident(&self.name))
    }
}

/// `name` as SQL writes it: bare when it is a lowercase identifier, quoted otherwise.
fn ident(name: &str) -> String {
    let bare = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if bare {
        name.to_string()
    } else {
        crate::postgres::quote_ident(name)
    }
}

/// Every table, its columns' statistics and its indexes, as one JSON document.
const TABLES: &str = "
SELECT coalesce(json_agg(t ORDER BY t.schema, t.name), '[]')::text
FROM (
  SELECT n.nspname AS schema, c.relname AS name,
         c.reltuples::float8 AS reltuples, c.relpages::int8 AS relpages,
         pg_catalog.pg_relation_size(c.oid)::int8 AS heap_bytes,
         pg_catalog.pg_indexes_size(c.oid)::int8 AS index_bytes,
         coalesce(pg_catalog.pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0)::int8 AS toast_bytes,
         (SELECT coalesce(json_agg(json_build_object(
                    'name', a.attname,
                    'null_frac', s.null_frac::float8,
                    'n_distinct', s.n_distinct::float8,
                    'avg_width', s.avg_width,
                    'correlation', s.correlation::float8,
                    'most_common_vals', CASE WHEN $1 THEN s.most_common_vals::text::text[] END)
                  ORDER BY a.attnum), '[]')
            FROM pg_catalog.pg_attribute a
            LEFT JOIN pg_catalog.pg_stats s
              ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = a.attname
                 AND NOT s.inherited
           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
         (SELECT coalesce(json_agg(json_build_object(
                    'name', ic.relname, 'bytes', pg_catalog.pg_relation_size(ic.oid)::int8)
                  ORDER BY ic.relname), '[]')
            FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
           WHERE i.indrelid = c.oid) AS indexes
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p')
     AND n.nspname NOT IN ('pg_catalog', 'information_schema')
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
) t";

/// Reads the statistics of the connected database in a read-only transaction; with
/// `with_values`, the most common values too.
pub async fn export(client: &Client, with_values: bool) -> Result<Stats, tokio_postgres::Error> {
    client
        .batch_execute("SET default_transaction_read_only = on")
        .await?;
    let setting = |row: &tokio_postgres::Row, i: usize| row.get::<_, String>(i);
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('maintenance_work_mem'), \
             current_setting('max_parallel_maintenance_workers'), current_setting('work_mem')",
            &[],
        )
        .await?;
    let tables: String = client.query_one(TABLES, &[&with_values]).await?.get(0);
    let mut tables: Vec<Table> =
        serde_json::from_str(&tables).expect("the catalog query writes the Table shape");
    if !with_values {
        for column in tables.iter_mut().flat_map(|t| t.columns.iter_mut()) {
            column.most_common_vals = None;
        }
    }
    Ok(Stats {
        format: FORMAT.to_string(),
        version: VERSION,
        server_version: setting(&row, 0),
        settings: Settings {
            maintenance_work_mem: setting(&row, 1),
            max_parallel_maintenance_workers: setting(&row, 2),
            work_mem: setting(&row, 3),
        },
        tables,
    })
}

/// A stats file read back: refused (naming the field) when it is not this format and
/// version.
pub fn parse(text: &str) -> Result<Stats, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    match value.get("format").and_then(|f| f.as_str()) {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(format!(
                "field `format` is \"{other}\", expected \"{FORMAT}\""
            ));
        }
        None => return Err(format!("no field `format` (expected \"{FORMAT}\")")),
    }
    match value.get("version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => {
            return Err(format!(
                "field `version` is {v}: this migration-check reads version {VERSION} (export the statistics again with this version)"
            ));
        }
        None => return Err("no field `version`".to_string()),
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_format_or_version_is_refused_naming_the_field() {
        assert_eq!(
            parse(r#"{"format": "x", "version": 1}"#).unwrap_err(),
            "field `format` is \"x\", expected \"migration-check-stats\""
        );
        let error = parse(r#"{"format": "migration-check-stats", "version": 2}"#).unwrap_err();
        assert!(error.starts_with("field `version` is 2"), "{error}");
        assert!(parse("[").unwrap_err().starts_with("not JSON"));
    }
}
