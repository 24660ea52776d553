//! Each tool's bookkeeping table, read and written exactly as the tool does, so that
//! `migrate` and the team's own tool see the same state of one database. One file per tool
//! behind one trait, [`Bookkeeping`]: the table's shape, the SQL the tool writes when a
//! migration runs, its checksum and its advisory lock. A format whose tool keeps no table
//! (a hand-rolled `pattern` layout) gets ours, `migration_check.history` ([`own`]): one row
//! per up or down, with who ran it and how long it took. A format whose table `migrate`
//! does not write is refused by name rather than written in a shape its tool would not
//! read.

mod own;

use std::time::Duration;

use tokio_postgres::Client;

use crate::error::UsageError;
use crate::migrations::bookkeeping::{Applied, Book, Bookkeeping};
use crate::migrations::{Format, Migration};

/// The bookkeeping of `format`: its tool's table, or ours for a layout whose tool keeps none;
/// an error for formats whose table `migrate` does not write.
pub fn of(format: Format) -> Result<Book, UsageError> {
    match (format.bookkeeping(), format.history_table()) {
        (Some(book), _) => Ok(book),
        (None, None) => Ok(&own::Own),
        (None, Some(table)) => Err(UsageError(format!(
            "`migrate` does not write {name}'s history table `{table}` (it writes {}); \
             use {name}'s own tool for this database, or `verify` to check the migrations",
            supported(),
            name = format.name(),
        ))),
    }
}

/// Our own history, `migration_check.history` (also kept beside a tool's table that
/// records no checksums, with `--record-checksums`).
pub fn own() -> Book {
    &own::Own
}

/// The tables `migrate` writes, for messages: every format's that has its bookkeeping.
fn supported() -> String {
    let tools: Vec<&str> = Format::ALL
        .iter()
        .filter_map(|format| format.bookkeeping())
        .map(|book| book.tool())
        .collect();
    format!(
        "the tables of {}, and `migration_check.history` for layouts whose tool keeps no table",
        tools.join(", ")
    )
}

impl dyn Bookkeeping {
    /// Creates the table if it does not exist, as the tool would for `migrations`.
    pub async fn ensure(
        &self,
        client: &Client,
        migrations: &[Migration],
    ) -> Result<(), tokio_postgres::Error> {
        client.batch_execute(&self.create_sql_for(migrations)).await
    }

    /// The applied migrations, oldest first; empty when the table does not exist.
    pub async fn applied(
        &self,
        client: &Client,
        migrations: &[Migration],
    ) -> Result<Vec<Applied>, ReadError> {
        let exists: bool = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&self.table()])
            .await?
            .get(0);
        if !exists {
            return Ok(Vec::new());
        }
        self.check_shape(client).await?;
        let rows = client
            .query(&self.read_sql(), &[])
            .await?
            .iter()
            .map(|row| Applied {
                version: row.get(0),
                name: row.get(1),
                checksum: row.get(2),
                applied_at: row.get(3),
                execution_ms: row.get(4),
                applied_by: row.get(5),
                success: row.get(6),
            })
            .collect();
        Ok(self.interpret(rows, migrations))
    }

    /// Sets the execution time of the record [`Bookkeeping::record_sql`] wrote.
    pub async fn finish(
        &self,
        client: &Client,
        migration: &Migration,
        up: bool,
        elapsed: Duration,
    ) -> Result<(), tokio_postgres::Error> {
        match self.finish_sql(migration, up, elapsed) {
            Some(sql) => client.batch_execute(&sql).await,
            None => Ok(()),
        }
    }

    /// Refuses a table of this name written by another tool: golang-migrate's
    /// `schema_migrations` (version, dirty) is not dbmate's (version).
    async fn check_shape(&self, client: &Client) -> Result<(), ReadError> {
        let columns: Vec<String> = client
            .query(
                "SELECT attname::text FROM pg_attribute
                 WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped
                 ORDER BY attnum",
                &[&self.table()],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let expected = self.columns();
        if self.is_own_shape(&columns) {
            return Ok(());
        }
        Err(ReadError::Foreign(format!(
            "{} has columns ({}), not ({}) as {} writes it: the database is kept by another \
             tool (golang-migrate's schema_migrations has a dirty column, dbmate's only a \
             version)",
            self.table(),
            columns.join(", "),
            expected.join(", "),
            self.tool()
        )))
    }
}

/// Why the history could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The database failed the query.
    Database(tokio_postgres::Error),
    /// The table is another tool's (its columns say so).
    Foreign(String),
}

impl From<tokio_postgres::Error> for ReadError {
    fn from(error: tokio_postgres::Error) -> Self {
        ReadError::Database(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_a_table_not_written_are_refused_by_name() {
        let hasura = Format::ALL.iter().find(|f| f.name() == "hasura").unwrap();
        let err = of(*hasura).unwrap_err();
        assert!(err.0.contains("hasura"), "{}", err.0);
        let pattern = Format::ALL.iter().find(|f| f.name() == "pattern").unwrap();
        assert_eq!(of(*pattern).unwrap().table(), "migration_check.history");
    }
}
