//! Everything that talks to a PostgreSQL server: the backends that provide one
//! (embedded cluster, an existing server by URL; Docker later), sessions with
//! our safety settings, throwaway databases, and the script runner. `verify`
//! reaches PostgreSQL only through this module.

pub mod db_settings;
pub mod docker;
pub mod embedded;
pub mod libpq;
pub mod pgpass;
pub mod process;
pub mod script;
pub mod tls;

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_postgres::{Client, Config};

use crate::error::EnvironmentError;
pub use libpq::{ServerUrl, Target};
pub use tls::Tls;

/// A PostgreSQL server we may create and drop databases on.
pub trait Server {
    /// Connection parameters for `database` as a superuser.
    fn config(&self, database: &str) -> Config;
    /// How connections to it are secured (plain unless the user's URL says otherwise).
    fn tls(&self) -> Tls {
        Tls::none()
    }
    /// Everything needed to connect to `database`.
    fn target(&self, database: &str) -> Target {
        Target {
            config: self.config(database),
            tls: self.tls(),
        }
    }
    /// Short backend name for the report (`embedded`, `docker`, `url`).
    fn backend(&self) -> &'static str;
    /// Extra context for an error that looks like the server went away.
    fn diagnostics(&self) -> String {
        String::new()
    }
    /// Whether the whole server is ours to throw away (embedded, Docker), so a checkpoint
    /// costs nobody else anything; not a server given by URL.
    fn throwaway(&self) -> bool {
        false
    }
    /// The server's log file, where we can read it (the embedded backend): the errors a
    /// test command met are read there.
    fn log_file(&self) -> Option<std::path::PathBuf> {
        None
    }
}

impl Server for embedded::EmbeddedServer {
    fn config(&self, database: &str) -> Config {
        embedded::EmbeddedServer::config(self, database)
    }
    fn backend(&self) -> &'static str {
        "embedded"
    }
    fn throwaway(&self) -> bool {
        true
    }
    fn diagnostics(&self) -> String {
        format!("server log (last lines):\n{}", self.log_tail())
    }
    fn log_file(&self) -> Option<std::path::PathBuf> {
        Some(embedded::EmbeddedServer::log_file(self).to_path_buf())
    }
}

impl Server for docker::DockerServer {
    fn config(&self, database: &str) -> Config {
        docker::DockerServer::config(self, database)
    }
    fn backend(&self) -> &'static str {
        "docker"
    }
    fn throwaway(&self) -> bool {
        true
    }
}

/// An existing server given as a URL: only databases we create are touched. TLS,
/// certificates and passwords as libpq reads them ([`tls`]).
pub struct UrlServer {
    url: ServerUrl,
}

impl UrlServer {
    /// Parses a `postgres://` URL or key=value connection string: a malformed one is a
    /// usage error (exit 2), an unreadable certificate file an environment error (exit 3).
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        Ok(UrlServer {
            url: ServerUrl::parse(url)?,
        })
    }

    /// The URL with its password masked, for messages.
    pub fn redacted(&self) -> &str {
        self.url.redacted()
    }
}

impl Server for UrlServer {
    fn config(&self, database: &str) -> Config {
        let mut config = self.url.target(Some(database)).config;
        config.application_name("migration-check");
        config
    }
    fn tls(&self) -> Tls {
        self.url.tls().clone()
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
    /// One invocation of a migration tool (the `command` formats).
    pub command: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            statement: Duration::from_secs(300),
            lock: Duration::from_secs(30),
            command: Duration::from_secs(300),
        }
    }
}

/// One connection and the task driving it. It remembers how it was opened,
/// so it can be opened again when a migration terminated it.
pub struct Session {
    pub client: Client,
    connection: JoinHandle<Result<(), tokio_postgres::Error>>,
    target: Target,
    timeouts: Timeouts,
}

impl Session {
    /// Connects with our startup options (timeouts, quiet notices, UTC). A bare
    /// [`Config`] connects without TLS (our own local servers); a [`Target`] with its policy.
    pub async fn open(
        target: impl Into<Target>,
        timeouts: Timeouts,
    ) -> Result<Self, tokio_postgres::Error> {
        let target = target.into();
        let mut with_options = target.config.clone();
        with_options.options(format!(
            "-c statement_timeout={} -c lock_timeout={} -c client_min_messages=warning -c TimeZone=UTC",
            timeouts.statement.as_millis(),
            timeouts.lock.as_millis()
        ));
        with_options.connect_timeout(Duration::from_secs(30));
        let (client, connection) = target.tls.connect(&with_options).await?;
        Ok(Session {
            client,
            connection,
            target,
            timeouts,
        })
    }

    /// A new connection to the same database with the same options and TLS.
    pub async fn reopen(&self) -> Result<Self, tokio_postgres::Error> {
        Session::open(self.target.clone(), self.timeouts).await
    }

    /// Replaces this connection with a new one (see [`Self::reopen`]): a new session starts
    /// with the settings `ALTER DATABASE … SET` and `ALTER ROLE … SET` gave it since.
    pub async fn renew(&mut self) -> Result<(), tokio_postgres::Error> {
        *self = self.reopen().await?;
        Ok(())
    }

    /// Where this session connects (without our startup options).
    pub fn config(&self) -> &Config {
        &self.target.config
    }

    /// How this session's connections are secured (a cancel request must be too).
    pub fn tls(&self) -> &Tls {
        &self.target.tls
    }

    /// Asks the server to cancel the statement running on this session, over a connection
    /// secured like the session's own.
    pub async fn cancel(&self) -> Result<(), tokio_postgres::Error> {
        self.target.tls.cancel(&self.client.cancel_token()).await
    }

    /// True once the server closed the connection (it died or terminated us).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed() || self.connection.is_finished()
    }

    /// Whether the connection still answers a query (an empty one: the
    /// cheapest round trip). A terminated backend may not have gone yet when
    /// this is asked, so callers also handle errors on use.
    pub async fn answers(&self) -> bool {
        !self.is_closed() && self.client.simple_query("").await.is_ok()
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

/// Databases to open a maintenance connection on, in order of preference: a
/// migration may drop or rename `postgres`, but `template1` is a template and
/// cannot be dropped.
const MAINTENANCE_DATABASES: &[&str] = &["postgres", "template1"];

/// Opens a connection to the first maintenance database that accepts one:
/// the proof that the server is alive. Err carries the last error.
pub async fn maintenance_session(
    server: &dyn Server,
    timeouts: Timeouts,
) -> Result<Session, tokio_postgres::Error> {
    let mut last = None;
    for database in MAINTENANCE_DATABASES {
        match Session::open(server.target(database), timeouts).await {
            Ok(session) => return Ok(session),
            Err(error) => last = Some(error),
        }
    }
    Err(last.expect("at least one maintenance database"))
}

/// Throwaway databases on one server: uniquely named, created on demand and
/// all dropped by [`Databases::drop_all`]; nothing else on the server is
/// touched. The maintenance connection is opened for each operation and
/// closed again, never held while migrations run: a migration may terminate
/// other sessions, drop or rename `postgres`, or `CREATE DATABASE` from
/// `template1` (which fails while anyone is connected to it). Databases are
/// dropped by OID, whatever a migration renamed them to.
pub struct Databases<'a> {
    server: &'a dyn Server,
    timeouts: Timeouts,
    prefix: String,
    counter: u32,
    /// (name at creation, OID) of every database this run created.
    live: Vec<(String, u32)>,
    /// Index into `live` of the database migrations run on now (checkpoints are others).
    current: usize,
    /// `server_version`, read when the server was first reached.
    server_version: String,
    /// How `CREATE DATABASE` copies its template: `STRATEGY FILE_COPY` on a throwaway
    /// server of PostgreSQL 15 or later (copies the files after a checkpoint: 16 ms for an
    /// 11 MB database where the default, `WAL_LOG`, took 33–53 ms), else the default (a
    /// checkpoint on a server given by URL would flush everybody's buffers; before 15
    /// there is no choice).
    copy_strategy: &'static str,
    /// Whether we connect as a superuser, who can give a copy every per-database setting
    /// of its template (`ALTER ROLE … IN DATABASE` needs more than owning the database).
    superuser: bool,
    /// SQL run in every fresh empty database before anything else: what the migration
    /// tool prepares before the first migration (see `verify::run`).
    environment: Option<String>,
}

impl<'a> Databases<'a> {
    /// Checks that the server answers and reads its version; every database
    /// this run creates is named `<prefix>_<n>` (see [`run_prefix`]).
    pub async fn new(
        server: &'a dyn Server,
        timeouts: Timeouts,
        prefix: &str,
    ) -> Result<Self, EnvironmentError> {
        let admin = maintenance_session(server, timeouts).await.map_err(|e| {
            EnvironmentError::new(format!(
                "cannot connect to the {} PostgreSQL: {}",
                server.backend(),
                describe_error(&e)
            ))
        })?;
        let server_version = server_version(&admin.client)
            .await
            .map_err(|e| connection_error(server, "the maintenance connection", &e))?;
        let version_num: i32 = admin
            .client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await
            .map_err(|e| connection_error(server, "the maintenance connection", &e))?
            .get(0);
        let superuser: bool = admin
            .client
            .query_one(
                "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user",
                &[],
            )
            .await
            .map_err(|e| connection_error(server, "the maintenance connection", &e))?
            .get(0);
        let copy_strategy = if server.throwaway() && version_num >= 150_000 {
            " STRATEGY FILE_COPY"
        } else {
            ""
        };
        Ok(Databases {
            server,
            timeouts,
            prefix: prefix.to_string(),
            counter: 0,
            live: Vec::new(),
            current: 0,
            server_version,
            copy_strategy,
            superuser,
            environment: None,
        })
    }

    /// Runs `sql` in every fresh empty database from now on, as the migration tool prepares
    /// a database before its first migration.
    pub fn prepare_fresh_databases_with(&mut self, sql: String) {
        self.environment = Some(sql);
    }

    async fn admin(&self) -> Result<Session, tokio_postgres::Error> {
        maintenance_session(self.server, self.timeouts).await
    }

    /// Whether a copy gets its template's per-database settings (`ALTER DATABASE … SET`,
    /// `ALTER ROLE … IN DATABASE … SET`), which `CREATE DATABASE` does not copy: only
    /// when we connect as a superuser.
    pub fn copies_keep_settings(&self) -> bool {
        self.superuser
    }

    /// The server's version string.
    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    /// Creates a fresh empty database (prepared as the migration tool's server prepares
    /// one, see [`Self::prepare_fresh_databases_with`]) and connects to it.
    pub async fn fresh(&mut self) -> Result<Session, EnvironmentError> {
        let session = self.create("template0").await?;
        if let Some(sql) = &self.environment {
            session.client.batch_execute(sql).await.map_err(|e| {
                EnvironmentError::new(format!(
                    "cannot prepare the throwaway database as the migration tool's server \
                     does ({sql}): {}",
                    describe_error(&e)
                ))
            })?;
        }
        Ok(session)
    }

    /// A new current database copied from `checkpoint` (see [`Self::checkpoint`]).
    pub async fn fresh_from(&mut self, checkpoint: &str) -> Result<Session, EnvironmentError> {
        self.create(checkpoint).await
    }

    /// Keeps the current database as it is now, as a checkpoint to copy later with
    /// [`Self::fresh_from`], and goes on in a copy of it, returning the checkpoint's name
    /// and a session to the copy. Our sessions to the current database are ended first
    /// (a database is copied only while nobody is connected to it): the caller's old
    /// sessions are dead afterwards.
    pub async fn checkpoint(&mut self) -> Result<(String, Session), EnvironmentError> {
        let (name, _) = self.live[self.current].clone();
        let admin = self.admin().await.map_err(|e| self.lost(e))?;
        admin
            .client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&name],
            )
            .await
            .map_err(|e| self.lost(e))?;
        drop(admin);
        let session = self.create(&name).await?;
        Ok((name, session))
    }

    /// A database copied from `checkpoint` beside the current one (which stays current:
    /// tools run as processes keep connecting there), and a session to it.
    pub async fn side_copy(&mut self, checkpoint: &str) -> Result<Session, EnvironmentError> {
        let current = self.current;
        let session = self.create(checkpoint).await;
        self.current = current;
        session
    }

    /// Creates a database copied from `template`, makes it current and connects to it.
    async fn create(&mut self, template: &str) -> Result<Session, EnvironmentError> {
        self.counter += 1;
        let name = format!("{}_{}", self.prefix, self.counter);
        let admin = self.admin().await.map_err(|e| self.lost(e))?;
        let create = format!(
            "CREATE DATABASE {} TEMPLATE {}{}",
            quote_ident(&name),
            quote_ident(template),
            self.copy_strategy
        );
        admin
            .client
            .batch_execute(&create)
            .await
            .map_err(|e| self.lost(e))?;
        let oid: u32 = admin
            .client
            .query_one("SELECT oid FROM pg_database WHERE datname = $1", &[&name])
            .await
            .map_err(|e| self.lost(e))?
            .get(0);
        self.live.push((name.clone(), oid));
        if template != "template0" && self.superuser {
            let copy_settings = db_settings::copy_statements(&admin.client, template, &name)
                .await
                .map_err(|e| self.lost(e))?;
            for statement in copy_settings {
                admin.client.batch_execute(&statement).await.map_err(|e| {
                    EnvironmentError::new(format!(
                        "cannot give the copy of the database the setting of its original ({statement}): {}",
                        describe_error(&e)
                    ))
                })?;
            }
        }
        self.current = self.live.len() - 1;
        self.connect(&name).await
    }

    /// Connection parameters of the newest database (for migration tools run as processes).
    pub fn newest_config(&self) -> Option<Config> {
        self.live
            .get(self.current)
            .map(|(name, _)| self.server.config(name))
    }

    /// Another connection to the newest database (for parallel snapshots).
    pub async fn connect_newest(&self) -> Result<Session, EnvironmentError> {
        let (name, _) = self
            .live
            .get(self.current)
            .ok_or_else(|| EnvironmentError::new("no throwaway database yet"))?;
        self.connect(name).await
    }

    async fn connect(&self, name: &str) -> Result<Session, EnvironmentError> {
        Session::open(self.server.target(name), self.timeouts)
            .await
            .map_err(|e| {
                EnvironmentError::new(format!(
                    "cannot connect to throwaway database {name}: {}",
                    describe_error(&e)
                ))
            })
    }

    /// The value of [`crate::cache::base_state::SHARED_STATE`] now: what of the cluster
    /// lies outside its databases, this run's excepted.
    pub async fn shared_state(&self) -> Result<String, EnvironmentError> {
        let admin = self.admin().await.map_err(|e| self.lost(e))?;
        let row = admin
            .client
            .query_one(
                crate::cache::base_state::SHARED_STATE,
                &[&prefix_pattern(&self.prefix)],
            )
            .await
            .map_err(|e| self.lost(e))?;
        Ok(row.get::<_, Option<String>>(0).unwrap_or_default())
    }

    /// Freezes every row of this run's database `name` (nobody may be connected to it), so
    /// that its copies are read without looking up whether each catalog row's transaction
    /// committed. Pages are kept (`TRUNCATE false`): which tables have any is compared.
    pub async fn freeze(&self, name: &str) -> Result<(), EnvironmentError> {
        let session = self.connect(name).await?;
        session
            .client
            .batch_execute("VACUUM (FREEZE, TRUNCATE false)")
            .await
            .map_err(|e| self.lost(e))
    }

    /// Renames this run's database `name` to `as_name` and keeps it: [`Self::drop_all`]
    /// leaves it (nobody may be connected to it).
    pub async fn keep(&mut self, name: &str, as_name: &str) -> Result<(), EnvironmentError> {
        let admin = self.admin().await.map_err(|e| self.lost(e))?;
        let rename = format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(name),
            quote_ident(as_name)
        );
        admin
            .client
            .batch_execute(&rename)
            .await
            .map_err(|e| self.lost(e))?;
        self.live.retain(|(created_as, _)| created_as != name);
        Ok(())
    }

    /// Drops every database this run created, newest first; returns once done.
    pub async fn drop_all(&mut self) {
        let admin = match self.admin().await {
            Ok(admin) => admin,
            Err(error) => {
                eprintln!(
                    "warning: could not drop the throwaway databases {}_*: {}",
                    self.prefix,
                    describe_error(&error)
                );
                return;
            }
        };
        while let Some((created_as, oid)) = self.live.pop() {
            // A migration may have renamed it: drop it by what it is called now.
            let name = match admin
                .client
                .query_opt("SELECT datname FROM pg_database WHERE oid = $1", &[&oid])
                .await
            {
                Ok(Some(row)) => row.get::<_, String>(0),
                Ok(None) => continue,
                Err(_) => created_as,
            };
            // A subscription keeps its database from being dropped, even WITH (FORCE).
            self.drop_subscriptions(&admin, &name, oid).await;
            let sql = format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&name)
            );
            if let Err(e) = admin.client.batch_execute(&sql).await {
                eprintln!(
                    "warning: could not drop throwaway database {name}: {}",
                    describe_error(&e)
                );
            }
        }
    }

    /// Drops the subscriptions a migration created in database `name` (OID `oid`), detached
    /// from their replication slots first (which live on a publisher we never reached);
    /// failures are warnings, as the database's own drop will say.
    async fn drop_subscriptions(&self, admin: &Session, name: &str, oid: u32) {
        let Ok(rows) = admin
            .client
            .query(
                "SELECT subname FROM pg_catalog.pg_subscription WHERE subdbid = $1",
                &[&oid],
            )
            .await
        else {
            return;
        };
        if rows.is_empty() {
            return;
        }
        let session = match self.connect(name).await {
            Ok(session) => session,
            Err(error) => {
                eprintln!("warning: {error}");
                return;
            }
        };
        for row in rows {
            let subscription = quote_ident(row.get::<_, &str>(0));
            let sql = format!(
                "ALTER SUBSCRIPTION {subscription} DISABLE; \
                 ALTER SUBSCRIPTION {subscription} SET (slot_name = NONE); \
                 DROP SUBSCRIPTION {subscription}"
            );
            if let Err(e) = session.client.batch_execute(&sql).await {
                eprintln!(
                    "warning: could not drop subscription {subscription} in throwaway database {name}: {}",
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

/// A `LIKE` pattern matching the names of every database a run with `prefix` creates.
fn prefix_pattern(prefix: &str) -> String {
    format!("{}\\_%", prefix.replace('_', "\\_"))
}

/// Whether `server` has a database called `name`.
pub async fn database_exists(server: &dyn Server, name: &str) -> Result<bool, EnvironmentError> {
    let admin = maintenance_session(server, Timeouts::default())
        .await
        .map_err(|e| connection_error(server, "the maintenance connection", &e))?;
    let row = admin
        .client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .map_err(|e| connection_error(server, "the maintenance connection", &e))?;
    Ok(row.is_some())
}

/// Drops the databases a run created, found by their prefix: the cleanup
/// after an interrupted run on a server given by URL.
pub async fn drop_run_databases(server: &dyn Server, prefix: &str) -> Result<(), EnvironmentError> {
    let admin = maintenance_session(server, Timeouts::default())
        .await
        .map_err(|e| connection_error(server, "cleanup", &e))?;
    let pattern = prefix_pattern(prefix);
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
/// own `Display` says only "db error"), and what a TLS failure means.
pub fn describe_error(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => script::describe_db_error(db),
        None => tls::describe_connect_error(tls::with_sources(error)),
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
        "PostgreSQL ({}) failed on {context}: {}",
        server.backend(),
        describe_error(error)
    );
    if !diagnostics.is_empty() {
        message.push('\n');
        message.push_str(&diagnostics);
    }
    EnvironmentError::new(message)
}
