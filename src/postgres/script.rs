//! The script executor: runs one migration script the way its tool would
//! (wrapped in a transaction, statement by statement outside one, or as
//! written when it carries its own `BEGIN`/`COMMIT`), guards every statement
//! with a timeout, and maps PostgreSQL's error position back to the file,
//! line and column a reviewer needs.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio_postgres::Client;
use tokio_postgres::error::{DbError, ErrorPosition, SqlState};

use super::{Session, Timeouts, Tls};
use crate::migrations::lexer::{self, Statement};
use crate::migrations::{Script, TransactionMode};

/// Extra time the client waits past `statement_timeout` before it cancels a
/// statement itself (a migration may have lifted the server-side timeout).
const CLIENT_GRACE: Duration = Duration::from_secs(5);

/// Where in a file something happened (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
}

/// A script that ran to completion.
#[derive(Debug, Clone)]
pub struct ScriptRun {
    pub elapsed: Duration,
    /// How it was run, when that is worth telling (own transaction control, no-op, ...).
    pub notes: Vec<String>,
    /// The script may have changed what new sessions start with (`ALTER DATABASE … SET`,
    /// `ALTER ROLE … SET`): the next migration belongs in a new session, as every tool
    /// that runs migrations at different times, or in a new process, gives it one (see
    /// [`changes_session_defaults`]).
    pub session_defaults_changed: bool,
}

/// Whether `sql` may change the settings a new session starts with: an `ALTER DATABASE`,
/// `ALTER ROLE` or `ALTER USER` anywhere in its text, in strings too (a `DO` block's
/// `EXECUTE format('ALTER DATABASE %I SET …', current_database())` is the usual way to
/// name the database a migration runs in). Generous on purpose: a needless new session
/// costs a few milliseconds, a missed one a wrong verdict.
pub fn changes_session_defaults(sql: &str) -> bool {
    let words: Vec<String> = sql
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    words
        .windows(2)
        .any(|pair| pair[0] == "alter" && matches!(pair[1].as_str(), "database" | "role" | "user"))
}

/// SQLSTATEs of a name that did not resolve: the session's `search_path` is worth showing.
const UNRESOLVED_NAME: &[SqlState] = &[
    SqlState::UNDEFINED_TABLE,
    SqlState::UNDEFINED_FUNCTION,
    SqlState::UNDEFINED_OBJECT,
    SqlState::INVALID_SCHEMA_NAME,
];

/// Why a script failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// PostgreSQL rejected a statement (SQLSTATE).
    Sql(String),
    /// `statement_timeout`, `lock_timeout` or the client-side guard fired.
    Timeout,
    /// The script ended inside a transaction it opened itself.
    OpenTransaction,
    /// The server went away: the environment failed, not the migration.
    ConnectionLost,
    /// A migration tool run as a process failed, or did not do what the step expected.
    Command,
}

/// A script that did not run to completion.
#[derive(Debug, Clone)]
pub struct ScriptFailure {
    pub kind: FailureKind,
    pub message: String,
    pub location: Option<Location>,
    pub elapsed: Duration,
    pub notes: Vec<String>,
}

/// How a script will be executed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    /// Nothing but whitespace and comments.
    Empty,
    /// `BEGIN`, each statement, `COMMIT`.
    Wrapped,
    /// Each statement on its own, exactly as written.
    OneByOne,
}

fn plan(script: &Script, statements: &[Statement]) -> (Plan, Option<String>) {
    let count = statements.len();
    if count == 0 {
        return (Plan::Empty, Some("empty script: nothing to run".into()));
    }
    if let Some(offset) = lexer::find_transaction_control(&script.sql) {
        let (line, _) = lexer::line_col(&script.sql, offset);
        let line = script.line_offset + line;
        return if script.transaction == TransactionMode::StatementsInTransaction {
            (
                Plan::Wrapped,
                Some(format!(
                    "has its own transaction control (line {line}): sent inside the tool's \
                     transaction, statement by statement, as the tool sends it"
                )),
            )
        } else {
            (
                Plan::OneByOne,
                Some(format!(
                    "has its own transaction control (line {line}): run as written, not \
                     wrapped again"
                )),
            )
        };
    }
    match script.transaction {
        TransactionMode::Wrapped | TransactionMode::StatementsInTransaction => {
            (Plan::Wrapped, None)
        }
        TransactionMode::None => (
            Plan::OneByOne,
            Some(format!(
                "non-transactional: {count} statement(s) run one at a time"
            )),
        ),
        // A multi-statement simple query is one implicit transaction.
        TransactionMode::AsWritten if count > 1 => (Plan::Wrapped, None),
        TransactionMode::AsWritten => (Plan::OneByOne, None),
    }
}

/// The connection a script runs on, and how a cancel request reaches its server: pass a
/// [`Session`] (its TLS is used for the cancel request); a bare `&Client` cancels over a
/// plain connection, which suits only the servers we start ourselves.
pub struct ScriptClient<'a> {
    client: &'a Client,
    tls: Tls,
}

impl<'a> From<&'a Session> for ScriptClient<'a> {
    fn from(session: &'a Session) -> Self {
        ScriptClient {
            client: &session.client,
            tls: session.tls().clone(),
        }
    }
}

impl<'a> From<&'a Client> for ScriptClient<'a> {
    fn from(client: &'a Client) -> Self {
        ScriptClient {
            client,
            tls: Tls::none(),
        }
    }
}

/// Runs `script` on `client`. On failure any open transaction is rolled back;
/// in every case session settings are reset so nothing leaks into the next script.
pub async fn run_script<'a>(
    client: impl Into<ScriptClient<'a>>,
    script: &Script,
    timeouts: Timeouts,
) -> Result<ScriptRun, ScriptFailure> {
    run_script_recorded(client, script, timeouts, None).await
}

/// [`run_script`], then `record` (SQL that books the migration as applied or reverted)
/// inside the script's transaction, just before its `COMMIT`, so the schema change and its
/// record commit together; after the last statement for a script run outside one.
pub async fn run_script_recorded<'a>(
    client: impl Into<ScriptClient<'a>>,
    script: &Script,
    timeouts: Timeouts,
    record: Option<&str>,
) -> Result<ScriptRun, ScriptFailure> {
    run(client.into(), script, timeouts, record, false, None).await
}

/// Watches each statement of a script as it runs (the lock analysis): its query runs right
/// after every statement, in the statement's own transaction, before anything commits, so
/// it sees the locks the statement holds and what it changed.
pub trait StatementObserver: Send {
    /// The query to run after each statement: one row, whose first column is handed to
    /// [`Self::observed`]. It must not fail (schema-qualified, read-only).
    fn query(&self) -> String;
    /// `statement` ran in `elapsed`; `observation` is what [`Self::query`] returned
    /// then, `None` when the statement had to run alone (see [`runs_alone`]).
    fn observed(&mut self, statement: &Statement, elapsed: Duration, observation: Option<String>);
    /// The script's last transaction has ended: the locks are released now.
    fn finished(&mut self);
    /// Whether `code` must run alone, unobserved (see [`runs_alone`]); an observer that
    /// knows the server may pair more.
    fn must_run_alone(&self, code: &str) -> bool {
        runs_alone(code) || adds_enum_value(code)
    }
}

/// [`run_script`] with `observer` watching every statement. An observation is sent with
/// its statement as one query (`statement; observation`), so outside a transaction block
/// the two share the statement's own implicit transaction: the observation still sees the
/// locks the statement took before they are released. Statements that would behave
/// differently in a block ([`runs_alone`]) run alone, unobserved.
pub async fn run_script_observed<'a>(
    client: impl Into<ScriptClient<'a>>,
    script: &Script,
    timeouts: Timeouts,
    observer: &mut dyn StatementObserver,
) -> Result<ScriptRun, ScriptFailure> {
    run(client.into(), script, timeouts, None, false, Some(observer)).await
}

/// Whether a statement must be sent alone, never in a multi-statement query: those
/// PostgreSQL refuses in a transaction block (`… CONCURRENTLY`, `VACUUM`, `CREATE
/// DATABASE`, `ALTER SYSTEM`, …), those that need one and fail outside it (`LOCK`,
/// `SAVEPOINT`, …), and transaction control itself. A multi-statement query is one implicit
/// block, so pairing them with an observation would change what they do.
pub fn runs_alone(code: &str) -> bool {
    let words = lexer::leading_words(code, 2);
    let word = |i: usize| words.get(i).map_or("", String::as_str);
    lexer::is_transaction_control(code)
        || lexer::has_word(code, "concurrently")
        || matches!(
            word(0),
            "vacuum"
                | "lock"
                | "savepoint"
                | "release"
                | "rollback"
                | "declare"
                | "checkpoint"
                | "discard"
        )
        || (word(0) == "cluster" && words.len() == 1)
        || (matches!(word(0), "create" | "drop") && matches!(word(1), "database" | "tablespace"))
        || (word(0) == "alter" && word(1) == "system")
        || (word(0) == "reindex" && matches!(word(1), "system" | "database"))
}

/// Whether a statement adds a value to an enum (`ALTER TYPE … ADD VALUE`), which
/// PostgreSQL 11 and older refuse in a transaction block.
pub fn adds_enum_value(code: &str) -> bool {
    let words = lexer::leading_words(code, 2);
    words.first().is_some_and(|w| w == "alter")
        && words.get(1).is_some_and(|w| w == "type")
        && lexer::has_word(code, "add")
        && lexer::has_word(code, "value")
}

/// Why `script` cannot run inside a transaction the caller holds open (for a rehearsal
/// rolled back at the end), if it cannot: it runs outside one, or controls its own.
pub fn cannot_nest(script: &Script) -> Option<String> {
    if script.step.is_some() {
        return Some("is run by its tool, which commits on its own connection".into());
    }
    if let Some(offset) = lexer::find_transaction_control(&script.sql) {
        let (line, _) = lexer::line_col(&script.sql, offset);
        return Some(format!(
            "controls its own transaction (line {})",
            script.line_offset + line
        ));
    }
    let statements: Vec<Statement> = lexer::split_statements(&script.sql)
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    match plan(script, &statements).0 {
        Plan::Empty | Plan::Wrapped => None,
        Plan::OneByOne => Some(
            "runs outside a transaction (its format's rule or its marker), and PostgreSQL \
             cannot roll such statements back"
                .into(),
        ),
    }
}

/// [`run_script_recorded`] inside a transaction the caller opened: the script's own
/// transaction becomes a savepoint, released on success; on failure everything the caller
/// opened is rolled back. Only for scripts [`cannot_nest`] accepts.
pub async fn run_script_nested<'a>(
    client: impl Into<ScriptClient<'a>>,
    script: &Script,
    timeouts: Timeouts,
    record: Option<&str>,
) -> Result<ScriptRun, ScriptFailure> {
    run(client.into(), script, timeouts, record, true, None).await
}

async fn run<'a>(
    client: ScriptClient<'a>,
    script: &'a Script,
    timeouts: Timeouts,
    record: Option<&'a str>,
    nested: bool,
    observer: Option<&'a mut dyn StatementObserver>,
) -> Result<ScriptRun, ScriptFailure> {
    let started = Instant::now();
    let statements: Vec<Statement> = lexer::split_statements(&script.sql)
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    let (plan, note) = plan(script, &statements);
    let wrapped = plan == Plan::Wrapped;
    let notes: Vec<String> = note.into_iter().collect();
    let ScriptClient { client, tls } = client;
    let runner = Runner {
        client,
        tls,
        script,
        timeouts,
        record,
        nested,
        observer: observer.map(std::sync::Mutex::new),
    };
    let outcome = match plan {
        Plan::Empty => runner.record().await,
        Plan::Wrapped => runner.wrapped(&statements).await,
        Plan::OneByOne => runner.one_by_one(&statements).await,
    };
    let outcome = match outcome {
        Err(failure) if failure.names_unresolved() => {
            let undone = wrapped && script.sql.to_ascii_lowercase().contains("search_path");
            Err(with_search_path(client, failure, undone).await)
        }
        Err(mut failure) if failure.extension_unavailable() => {
            failure.message.push_str(
                "\nthis server does not ship that extension: verify on one that does (the \
                 Docker backend with --image naming an image that includes it, or --postgres \
                 URL of such a server)",
            );
            Err(failure)
        }
        outcome => outcome,
    };
    // Each script ends as if its session ended: its settings reset and, where it may have
    // made any, its temporary tables dropped (a deploy applies a migration in a session of
    // its own; graph-node's `CREATE TEMPORARY TABLE` made the second up fail).
    let cleanup = format!(
        "{}RESET ALL{}",
        if outcome.is_err() { "ROLLBACK; " } else { "" },
        if may_leave_temporary_tables(&script.sql) {
            "; DISCARD TEMP"
        } else {
            ""
        }
    );
    let reset = client.batch_execute(&cleanup).await;
    if let Some(observer) = &runner.observer {
        observer.lock().expect("observer").finished();
    }
    let elapsed = started.elapsed();
    match (outcome, reset) {
        (Ok(()), Ok(())) => Ok(ScriptRun {
            elapsed,
            notes,
            session_defaults_changed: changes_session_defaults(&script.sql),
        }),
        (Ok(()), Err(error)) => Err(runner.failure(
            &error,
            None,
            elapsed,
            notes,
            "while resetting the session after the script",
        )),
        (Err(mut failure), _) => {
            failure.elapsed = elapsed;
            failure.notes = notes;
            Err(failure)
        }
    }
}

struct Runner<'a> {
    client: &'a Client,
    /// For the cancel request: secured like the connection.
    tls: Tls,
    script: &'a Script,
    timeouts: Timeouts,
    /// SQL booking the script as run, executed after its last statement.
    record: Option<&'a str>,
    /// Inside a transaction the caller holds: a savepoint instead of BEGIN/COMMIT.
    nested: bool,
    /// Watches every statement (see [`StatementObserver`]).
    observer: Option<std::sync::Mutex<&'a mut dyn StatementObserver>>,
}

impl Runner<'_> {
    /// Runs the booking SQL, if any.
    async fn record(&self) -> Result<(), ScriptFailure> {
        match self.record {
            Some(sql) => self.client.batch_execute(sql).await.map_err(|e| {
                self.failure(
                    &e,
                    None,
                    Duration::ZERO,
                    Vec::new(),
                    "while recording the migration in the history table",
                )
            }),
            None => Ok(()),
        }
    }

    async fn wrapped(&self, statements: &[Statement]) -> Result<(), ScriptFailure> {
        let (begin, commit) = if self.nested {
            ("SAVEPOINT migration", "RELEASE SAVEPOINT migration")
        } else {
            ("BEGIN", "COMMIT")
        };
        self.control(begin).await?;
        for statement in statements {
            self.execute(statement).await?;
        }
        self.record().await?;
        if self.nested {
            // What COMMIT would check: the deferred constraints.
            self.control("SET CONSTRAINTS ALL IMMEDIATE").await?;
        }
        let last = statements.last().map(|s| s.code.start).unwrap_or(0);
        self.client.batch_execute(commit).await.map_err(|e| {
            self.failure(
                &e,
                Some(last),
                Duration::ZERO,
                Vec::new(),
                "at COMMIT (deferred constraints are checked here)",
            )
        })
    }

    async fn one_by_one(&self, statements: &[Statement]) -> Result<(), ScriptFailure> {
        for statement in statements {
            self.execute(statement).await?;
        }
        // In a simple query outside a transaction block both timestamps are the
        // same instant; inside a block left open, the transaction began earlier.
        let rows = self
            .client
            .simple_query("SELECT transaction_timestamp() <> statement_timestamp()")
            .await
            .map_err(|e| self.failure(&e, None, Duration::ZERO, Vec::new(), "after the script"))?;
        let open = rows.iter().any(|message| {
            matches!(message, tokio_postgres::SimpleQueryMessage::Row(row) if row.get(0) == Some("t"))
        });
        if open {
            return Err(ScriptFailure {
                kind: FailureKind::OpenTransaction,
                message: "the script ends inside a transaction it opened (BEGIN without COMMIT); it was rolled back"
                    .into(),
                location: Some(self.location(self.script.sql.len())),
                elapsed: Duration::ZERO,
                notes: Vec::new(),
            });
        }
        self.record().await
    }

    async fn control(&self, sql: &str) -> Result<(), ScriptFailure> {
        self.client
            .batch_execute(sql)
            .await
            .map_err(|e| self.failure(&e, None, Duration::ZERO, Vec::new(), &format!("at {sql}")))
    }

    async fn execute(&self, statement: &Statement) -> Result<(), ScriptFailure> {
        let text = &self.script.sql[statement.code.clone()];
        let guard = self.timeouts.statement + CLIENT_GRACE;
        let observation = self
            .observer
            .as_ref()
            .map(|observer| observer.lock().expect("observer"))
            .filter(|observer| !observer.must_run_alone(text))
            .map(|observer| observer.query());
        // A line comment at the statement's end must not swallow the observation.
        let combined = observation
            .as_ref()
            .map(|query| format!("{text};\n{query}"));
        let started = Instant::now();
        let sent = combined.as_deref().unwrap_or(text);
        match tokio::time::timeout(guard, self.client.simple_query(sent)).await {
            Ok(Ok(messages)) => {
                if let Some(observer) = &self.observer {
                    let observed = observation.and_then(|_| {
                        messages.iter().rev().find_map(|message| match message {
                            tokio_postgres::SimpleQueryMessage::Row(row) => {
                                row.get(0).map(str::to_string)
                            }
                            _ => None,
                        })
                    });
                    observer.lock().expect("observer").observed(
                        statement,
                        started.elapsed(),
                        observed,
                    );
                }
                Ok(())
            }
            Ok(Err(error)) => {
                let offset = error
                    .as_db_error()
                    .and_then(|db| match db.position() {
                        Some(ErrorPosition::Original(position)) => {
                            Some(lexer::char_position_to_byte(text, *position as usize))
                        }
                        _ => None,
                    })
                    .unwrap_or(0);
                Err(self.failure(
                    &error,
                    Some(statement.code.start + offset),
                    Duration::ZERO,
                    Vec::new(),
                    "",
                ))
            }
            Err(_) => {
                let _ = self.tls.cancel(&self.client.cancel_token()).await;
                Err(ScriptFailure {
                    kind: FailureKind::Timeout,
                    message: format!(
                        "statement still running after {}s although statement_timeout is {}s (did the script lift it?); cancelled",
                        guard.as_secs(),
                        self.timeouts.statement.as_secs()
                    ),
                    location: Some(self.location(statement.code.start)),
                    elapsed: Duration::ZERO,
                    notes: Vec::new(),
                })
            }
        }
    }

    fn location(&self, offset_in_script: usize) -> Location {
        let (line, column) = lexer::line_col(&self.script.sql, offset_in_script);
        Location {
            path: self.script.path.clone(),
            line: self.script.line_offset + line,
            column,
        }
    }

    fn failure(
        &self,
        error: &tokio_postgres::Error,
        offset_in_script: Option<usize>,
        elapsed: Duration,
        notes: Vec<String>,
        context: &str,
    ) -> ScriptFailure {
        let location = offset_in_script.map(|offset| self.location(offset));
        let (kind, message) = match error.as_db_error() {
            Some(db) if is_shutdown(db) => (FailureKind::ConnectionLost, describe_db_error(db)),
            Some(db) => {
                let kind = if is_timeout(db) {
                    FailureKind::Timeout
                } else {
                    FailureKind::Sql(db.code().code().into())
                };
                let mut message = describe_db_error(db);
                if kind == FailureKind::Timeout {
                    message.push_str(&format!(
                        " (statement_timeout {}s, lock_timeout {}s; change them with --statement-timeout / --lock-timeout)",
                        self.timeouts.statement.as_secs(),
                        self.timeouts.lock.as_secs()
                    ));
                }
                (kind, message)
            }
            None => (
                FailureKind::ConnectionLost,
                format!("connection to PostgreSQL lost: {error}"),
            ),
        };
        let message = if context.is_empty() {
            message
        } else {
            format!("{message} ({context})")
        };
        ScriptFailure {
            kind,
            message,
            location,
            elapsed,
            notes,
        }
    }
}

/// Whether a script may leave temporary tables in its session: its text mentions them.
fn may_leave_temporary_tables(sql: &str) -> bool {
    sql.to_ascii_lowercase().contains("temp")
}

impl ScriptFailure {
    /// `CREATE EXTENSION` of an extension the server does not have installed (0A000 "is not
    /// available" from PostgreSQL 15, 58P01 "could not open extension control file" before).
    fn extension_unavailable(&self) -> bool {
        match &self.kind {
            FailureKind::Sql(code) if code == SqlState::FEATURE_NOT_SUPPORTED.code() => {
                self.message.contains("is not available")
            }
            FailureKind::Sql(code) if code == SqlState::UNDEFINED_FILE.code() => {
                self.message.contains("extension control file")
            }
            _ => false,
        }
    }

    /// An object looked up by name did not exist (relation, function, type, schema).
    fn names_unresolved(&self) -> bool {
        matches!(&self.kind, FailureKind::Sql(code)
            if UNRESOLVED_NAME.iter().any(|state| state.code() == code))
    }
}

/// `failure` with the `search_path` the session had when it failed, read after rolling
/// back the failed transaction (a `SET search_path` inside it is undone with it, which
/// the message says when the script may have set one: `undone`).
async fn with_search_path(
    client: &Client,
    mut failure: ScriptFailure,
    undone: bool,
) -> ScriptFailure {
    let path = match client.batch_execute("ROLLBACK").await {
        Ok(()) => client.query_one("SHOW search_path", &[]).await.ok(),
        Err(_) => None,
    };
    if let Some(row) = path {
        let path: String = row.get(0);
        failure.message.push_str(&format!(
            "\nnames without a schema were looked up in search_path = {path}{}",
            if undone {
                " (as the session had it before the script: a SET search_path inside the \
                 failed transaction was rolled back with it)"
            } else {
                ""
            }
        ));
    }
    failure
}

fn is_timeout(db: &DbError) -> bool {
    *db.code() == SqlState::LOCK_NOT_AVAILABLE
        || (*db.code() == SqlState::QUERY_CANCELED && db.message().contains("timeout"))
}

/// The server ended the session (terminated, shutting down, starting up).
pub fn is_shutdown(db: &DbError) -> bool {
    [
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
    ]
    .contains(db.code())
}

/// `ERROR 42P01: relation "x" does not exist` plus detail, hint and context lines.
pub fn describe_db_error(db: &DbError) -> String {
    let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    if let Some(detail) = db.detail() {
        text.push_str(&format!("\nDETAIL: {detail}"));
    }
    if let Some(hint) = db.hint() {
        text.push_str(&format!("\nHINT: {hint}"));
    }
    if let Some(context) = db.where_() {
        text.push_str(&format!("\nCONTEXT: {context}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(sql: &str, transaction: TransactionMode) -> Script {
        Script {
            path: "x.sql".into(),
            sql: sql.into(),
            line_offset: 0,
            byte_offset: 0,
            transaction,
            step: None,
        }
    }

    fn plan_of(sql: &str, mode: TransactionMode) -> Plan {
        let s = script(sql, mode);
        let statements: Vec<Statement> = lexer::split_statements(&s.sql)
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        plan(&s, &statements).0
    }

    #[test]
    fn plans_follow_each_formats_rules() {
        assert_eq!(
            plan_of("  -- nothing\n", TransactionMode::Wrapped),
            Plan::Empty
        );
        assert_eq!(
            plan_of(
                "CREATE TABLE a(); CREATE TABLE b();",
                TransactionMode::Wrapped
            ),
            Plan::Wrapped
        );
        assert_eq!(
            plan_of("BEGIN; CREATE TABLE a(); COMMIT;", TransactionMode::Wrapped),
            Plan::OneByOne
        );
        assert_eq!(
            plan_of(
                "CREATE TABLE a(); COMMIT; BEGIN; CREATE TABLE b();",
                TransactionMode::StatementsInTransaction
            ),
            Plan::Wrapped
        );
        assert_eq!(
            plan_of(
                "CREATE INDEX CONCURRENTLY i ON t (a);",
                TransactionMode::None
            ),
            Plan::OneByOne
        );
        assert_eq!(
            plan_of(
                "CREATE TABLE a(); CREATE TABLE b();",
                TransactionMode::AsWritten
            ),
            Plan::Wrapped
        );
        assert_eq!(
            plan_of(
                "CREATE INDEX CONCURRENTLY i ON t (a);",
                TransactionMode::AsWritten
            ),
            Plan::OneByOne
        );
        assert_eq!(
            plan_of(
                "BEGIN;\nCREATE TABLE a();\nCOMMIT;",
                TransactionMode::AsWritten
            ),
            Plan::OneByOne
        );
    }

    #[test]
    fn statements_that_a_transaction_block_would_change_run_alone() {
        for alone in [
            "CREATE INDEX CONCURRENTLY i ON t (x)",
            "create unique index concurrently if not exists i on t (x)",
            "DROP INDEX CONCURRENTLY i",
            "REINDEX INDEX CONCURRENTLY i",
            "ALTER TABLE p DETACH PARTITION c CONCURRENTLY",
            "VACUUM t",
            "CREATE DATABASE d",
            "ALTER SYSTEM SET work_mem = '8MB'",
            "LOCK TABLE t IN ACCESS EXCLUSIVE MODE",
            "SAVEPOINT s",
            "BEGIN",
            "COMMIT",
            "CLUSTER",
            "DISCARD ALL",
        ] {
            assert!(runs_alone(alone), "{alone}");
        }
        for observed in [
            "ALTER TABLE t ALTER COLUMN id TYPE bigint",
            "CREATE INDEX i ON t (x)",
            "CLUSTER t USING i",
            "INSERT INTO log VALUES ('concurrently')",
            "ALTER TYPE mood RENAME VALUE 'a' TO 'b'",
            "ALTER TYPE mood ADD VALUE 'meh'",
        ] {
            assert!(!runs_alone(observed), "{observed}");
        }
        assert!(adds_enum_value(
            "alter type mood add value 'meh' before 'sad'"
        ));
        assert!(!adds_enum_value("ALTER TYPE mood RENAME VALUE 'a' TO 'b'"));
        assert!(!adds_enum_value("ALTER TABLE t ADD COLUMN value int"));
    }

    #[test]
    fn own_transaction_note_names_the_file_line() {
        let mut s = script(
            "-- header\nBEGIN;\nCREATE TABLE a();\nCOMMIT;\n",
            TransactionMode::Wrapped,
        );
        s.line_offset = 3;
        let statements: Vec<Statement> = lexer::split_statements(&s.sql)
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        let (_, note) = plan(&s, &statements);
        assert!(note.unwrap().contains("line 5"));
    }
}
