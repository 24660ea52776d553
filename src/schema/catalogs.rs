//! What a capture's session finds in the catalogs: the server's version and what it may
//! read.
//!
//! The per-kind queries of [`super::snapshot`] and the change tracking of
//! [`super::incremental`] are prepared once per connection, knowing the server's
//! `server_version_num` (catalogs and columns come and go between majors: a query naming
//! one the server lacks does not even prepare) and what the session may read. Two
//! catalogs the snapshot reads are a superuser's: `pg_user_mapping` (read through the
//! `pg_user_mappings` view by everybody else) and `pg_subscription`, of which everybody
//! may read only the columns granted to `public` (never `subconninfo`, which holds
//! passwords and which the snapshot never reads, whoever captures). A session that may not
//! read such a catalog whole cannot see its rows' versions either; the incremental capture
//! then watches it by its rows' presence instead (see [`super::incremental`]).

use std::collections::BTreeSet;

use tokio_postgres::Client;

/// This database's OID, for the rows of shared catalogs (`pg_subscription`,
/// `pg_db_role_setting`) that belong to it: written `{this_database}` in the SQL of
/// [`super::snapshot`] and [`super::incremental`], expanded by [`Catalogs::expand`]. It
/// cannot change while we are connected (a database is renamed only when nobody is).
const THIS_DATABASE: &str =
    "(SELECT db.oid FROM pg_catalog.pg_database db WHERE db.datname = current_database())";

/// The server's version, the catalogs of `pg_catalog` the session may not read whole, and
/// the columns of `pg_subscription` it may read.
const READ: &str = "
SELECT current_setting('server_version_num')::int,
       ARRAY(SELECT c.relname::text FROM pg_catalog.pg_class c
             WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relkind = 'r'
               AND NOT has_table_privilege(c.oid, 'SELECT')
             ORDER BY 1),
       ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = 'pg_catalog.pg_subscription'::regclass AND a.attnum > 0
               AND has_column_privilege(a.attrelid, a.attnum, 'SELECT')
             ORDER BY 1)";

/// What the session preparing a capture's queries finds in the catalogs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogs {
    /// `server_version_num`.
    pub version: i32,
    /// Catalogs of `pg_catalog` the session may not read whole.
    unreadable: BTreeSet<String>,
    /// The columns of `pg_subscription` the session may read.
    subscription_columns: BTreeSet<String>,
}

impl Catalogs {
    /// Asks the server `client` is connected to.
    pub async fn read(client: &Client) -> Result<Catalogs, tokio_postgres::Error> {
        let row = client.query_one(READ, &[]).await?;
        let set = |column: usize| row.get::<_, Vec<String>>(column).into_iter().collect();
        Ok(Catalogs {
            version: row.get(0),
            unreadable: set(1),
            subscription_columns: set(2),
        })
    }

    /// What a session finds on a server of `version` when it may not read `unreadable` and
    /// may read `subscription_columns` of `pg_subscription` (for tests of the generated
    /// SQL: a superuser reads everything).
    pub fn new(version: i32, unreadable: &[&str], subscription_columns: &[&str]) -> Catalogs {
        let set = |names: &[&str]| names.iter().map(|name| name.to_string()).collect();
        Catalogs {
            version,
            unreadable: set(unreadable),
            subscription_columns: set(subscription_columns),
        }
    }

    /// Whether the session may read `catalog` whole (row versions included).
    pub fn reads(&self, catalog: &str) -> bool {
        !self.unreadable.contains(catalog)
    }

    /// Whether `pg_subscription` has `column` and the session may read it.
    pub fn reads_subscription_column(&self, column: &str) -> bool {
        self.subscription_columns.contains(column)
    }

    /// `sql` with `{this_database}` spelled out.
    pub fn expand(&self, sql: &str) -> String {
        sql.replace("{this_database}", THIS_DATABASE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_database_is_expanded_and_access_is_answered() {
        let catalogs = Catalogs::new(130_000, &["pg_user_mapping"], &["subname"]);
        assert!(!catalogs.reads("pg_user_mapping") && catalogs.reads("pg_class"));
        assert!(catalogs.reads_subscription_column("subname"));
        assert!(!catalogs.reads_subscription_column("subconninfo"));
        let sql = catalogs.expand("WHERE s.subdbid = {this_database}");
        assert!(sql.contains("current_database()") && !sql.contains('{'));
    }
}
