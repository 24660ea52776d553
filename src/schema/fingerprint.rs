//! What the data fingerprints of small tables compare (see `snapshot`'s `DATA_CANDIDATES`):
//! up to how many rows, and which columns only by the table's row count because a
//! migration draws their values (`verify`'s `drawn_values`).

use std::collections::{BTreeMap, BTreeSet};

/// Fingerprint tables of up to `limit` rows, comparing the columns in `by_count` by the
/// row count only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataRows {
    pub limit: u64,
    pub by_count: ByCount,
}

impl DataRows {
    /// Every column compared by content.
    pub fn new(limit: u64) -> Self {
        DataRows {
            limit,
            by_count: ByCount::default(),
        }
    }
}

/// Which columns of each table (by its name without schema, as PostgreSQL folds it) are
/// compared by count only: some, or all (`None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ByCount {
    tables: BTreeMap<String, Option<BTreeSet<String>>>,
}

impl ByCount {
    /// Adds `column` of `table` (the whole table without a column).
    pub fn add(&mut self, table: &str, column: Option<&str>) {
        let entry = self
            .tables
            .entry(table.to_string())
            .or_insert_with(|| Some(BTreeSet::new()));
        match (column, entry) {
            (Some(column), Some(columns)) => {
                columns.insert(column.to_string());
            }
            (None, entry) => *entry = None,
            (Some(_), None) => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// Whether the content of `column` of table `table` (its name without schema) is
    /// compared.
    pub fn compares(&self, table: &str, column: &str) -> bool {
        match self.tables.get(table) {
            None => true,
            Some(None) => false,
            Some(Some(columns)) => !columns.contains(column),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_count_names_columns_and_whole_tables() {
        let mut by_count = ByCount::default();
        by_count.add("settings", Some("value"));
        by_count.add("items", Some("id"));
        by_count.add("items", None);
        by_count.add("items", Some("name"));
        assert!(!by_count.compares("settings", "value"));
        assert!(by_count.compares("settings", "key"));
        assert!(!by_count.compares("items", "name"));
        assert!(by_count.compares("users", "id"));
    }
}
