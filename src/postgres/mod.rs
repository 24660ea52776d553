//! Everything that talks to a PostgreSQL server: the backends that provide one
//! (embedded cluster, an existing server by URL; Docker later), sessions with
//! our safety settings, throwaway databases, and the script runner. `verify`
//! reaches PostgreSQL only through this module.

pub mod docker;
pub mod embedded;
pub mod lexer;
pub mod runner;

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_postgres::{Client, Config, NoTls};

use crate::error::EnvironmentError;

/// A PostgreSQL server we may create and drop databases on.
pub trait Server {
    /// Connection parameters for `database` as a superuser.
    fn config(&self, database: &str) -> Config;
    /// Short backend name for the report (`embedded`, `docker`, `url`).
    fn backend(&self) -> &'static str;
    /// Extra context for an error that looks like the server went away.
    fn diagnostics(&self) -> String {
        String::new()
    }
}

impl Server for embedded::EmbeddedServer {
    fn config(&self, database: &str) -> Config {
        embedded::EmbeddedServer::config(self, database)
    }
    fn backend(&self) -> &'static str {
        "embedded"
    }
    fn diagnostics(&self) -> String {
        format!("server log (last lines):\n{}", self.log_tail())
    }
}

impl Server for docker::DockerServer {
    fn config(&self, database: &str) -> Config {
        docker::DockerServer::config(self, database)
    }
    fn backend(&self) -> &'static str {
        "docker"
    }
}

/// An existing server given as a URL: only databases we create are touched.
pub struct UrlServer {
    base: Config,
}

impl UrlServer {
    /// Parses a `postgres://` URL or key=value connection string.
    pub fn parse(url: &str) -> Result<Self, crate::error::UsageError> {
        let base: Config = url
            .parse()
            .map_err(|e| crate::error::UsageError(format!("invalid PostgreSQL URL: {e}")))?;
        Ok(UrlServer { base })
    }
}

impl Server for UrlServer {
    fn config(&self, database: &str) -> Config {
        let mut config = self.base.clone();
        config.dbname(database).application_name("migration-check");
        config
    }
    fn backend(&self) -> &'static str {
        "url"
    }
}

/// Session settings every connection gets as startup options, so `RESET ALL`
/// after a script restores them (a migration's `SET` must not leak into the
/// next one or into our snapshot queries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub statement: Duration,
    pub lock: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            statement: Duration::from_secs(300),
            lock: Duration::from_secs(30),
        }
    }
}

/// One connection and the task driving it.
pub struct Session {
    pub client: Client,
    connection: JoinHandle<Result<(), tokio_postgres::Error>>,
}

impl Session {
    /// Connects with our startup options (timeouts, quiet notices, UTC).
    pub async fn open(
        mut config: Config,
        timeouts: Timeouts,
    ) -> Result<Self, tokio_postgres::Error> {
        config.options(format!(
            "-c statement_timeout={} -c lock_timeout={} -c client_min_messages=warning -c TimeZone=UTC",
            timeouts.statement.as_millis(),
            timeouts.lock.as_millis()
        ));
        config.connect_timeout(Duration::from_secs(30));
        let (client, connection) = config.connect(NoTls).await?;
        let connection = tokio::spawn(connection);
        Ok(Session { client, connection })
    }

    /// True once the server closed the connection (it died or terminated us).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed() || self.connection.is_finished()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// `SHOW server_version` for the report.
pub async fn server_version(client: &Client) -> Result<String, tokio_postgres::Error> {
    let row = client
        .query_one("SELECT current_setting('server_version')", &[])
        .await?;
    Ok(row.get(0))
}

/// Quotes an identifier for SQL text (names we generate ourselves only).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Throwaway databases on one server: uniquely named, created on demand and
/// all dropped by [`Databases::drop_all`]; nothing else on the server is touched.
pub struct Databases<'a> {
    server: &'a dyn Server,
    admin: Session,
    timeouts: Timeouts,
    prefix: String,
    counter: u32,
    live: Vec<String>,
}

impl<'a> Databases<'a> {
    /// Connects to the server's maintenance database; every database this
    /// run creates is named `<prefix>_<n>` (see [`run_prefix`]).
    pub async fn new(
        server: &'a dyn Server,
        timeouts: Timeouts,
        prefix: &str,
    ) -> Result<Self, EnvironmentError> {
        let admin = Session::open(server.config("postgres"), timeouts)
            .await
            .map_err(|e| {
                EnvironmentError::new(format!(
                    "cannot connect to the {} PostgreSQL: {}",
                    server.backend(),
                    describe_error(&e)
                ))
            })?;
        Ok(Databases {
            server,
            admin,
            timeouts,
            prefix: prefix.to_string(),
            counter: 0,
            live: Vec::new(),
        })
    }

    /// The server's version string.
    pub async fn server_version(&self) -> Result<String, EnvironmentError> {
        server_version(&self.admin.client)
            .await
            .map_err(|e| self.lost(e))
    }

    /// Creates a fresh empty database and connects to it.
    pub async fn fresh(&mut self) -> Result<Session, EnvironmentError> {
        self.counter += 1;
        let name = format!("{}_{}", self.prefix, self.counter);
        self.admin
            .client
            .batch_execute(&format!(
                "CREATE DATABASE {} TEMPLATE template0",
                quote_ident(&name)
            ))
            .await
            .map_err(|e| self.lost(e))?;
        self.live.push(name.clone());
        Session::open(self.server.config(&name), self.timeouts)
            .await
            .map_err(|e| {
                EnvironmentError::new(format!(
                    "cannot connect to throwaway database {name}: {}",
                    describe_error(&e)
                ))
            })
    }

    /// Another connection to the newest database (for parallel snapshots).
    pub async fn connect_newest(&self) -> Result<Session, EnvironmentError> {
        let name = self
            .live
            .last()
            .ok_or_else(|| EnvironmentError::new("no throwaway database yet"))?;
        Session::open(self.server.config(name), self.timeouts)
            .await
            .map_err(|e| {
                EnvironmentError::new(format!(
                    "cannot connect to throwaway database {name}: {}",
                    describe_error(&e)
                ))
            })
    }

    /// Drops every database this run created, newest first; returns once done.
    pub async fn drop_all(&mut self) {
        while let Some(name) = self.live.pop() {
            let sql = format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&name)
            );
            if let Err(e) = self.admin.client.batch_execute(&sql).await {
                eprintln!(
                    "warning: could not drop throwaway database {name}: {}",
                    describe_error(&e)
                );
            }
        }
    }

    fn lost(&self, error: tokio_postgres::Error) -> EnvironmentError {
        connection_error(self.server, "the maintenance connection", &error)
    }
}

/// A database-name prefix unique to this run.
pub fn run_prefix() -> String {
    let nonce: u32 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("migration_check_{}_{nonce:x}", std::process::id())
}

/// Drops the databases a run created, found by their prefix: the cleanup
/// after an interrupted run on a server given by URL.
pub async fn drop_run_databases(server: &dyn Server, prefix: &str) -> Result<(), EnvironmentError> {
    let admin = Session::open(server.config("postgres"), Timeouts::default())
        .await
        .map_err(|e| connection_error(server, "cleanup", &e))?;
    let pattern = format!("{}\\_%", prefix.replace('_', "\\_"));
    let rows = admin
        .client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE $1",
            &[&pattern],
        )
        .await
        .map_err(|e| connection_error(server, "cleanup", &e))?;
    for row in rows {
        let name: String = row.get(0);
        let sql = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&name)
        );
        admin
            .client
            .batch_execute(&sql)
            .await
            .map_err(|e| connection_error(server, "cleanup", &e))?;
    }
    Ok(())
}

/// A tokio-postgres error with the server's message, detail and hint (its
/// own `Display` says only "db error").
pub fn describe_error(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => runner::describe_db_error(db),
        None => error.to_string(),
    }
}

/// An error on a connection that means the server is gone or unusable.
pub fn connection_error(
    server: &dyn Server,
    context: &str,
    error: &tokio_postgres::Error,
) -> EnvironmentError {
    let diagnostics = server.diagnostics();
    let mut message = format!(
        "PostgreSQL ({}) failed on {context}: {error}",
        server.backend()
    );
    if !diagnostics.is_empty() {
        message.push('\n');
        message.push_str(&diagnostics);
    }
    EnvironmentError::new(message)
}
