//! `migration-check migrate`: the command line over [`crate::runner`]: reads the
//! migrations and the database's history, prints status and history, runs plans with
//! progress on stderr and a summary, and maps outcomes to exit statuses.

use std::io::{IsTerminal, Write as _};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

use super::connect_live_with;
use crate::cli::{MigrateArgs, MigrateCommand, MigrateDbArgs, MigrateNewArgs, MigrateRunArgs};
use crate::config::{Source, duration_setting};
use crate::error::{EnvironmentError, UsageError};
use crate::migrations::{self, Discovered};
use crate::postgres::{self, Session, Timeouts};
use crate::runner::execute::{self, Direction};
use crate::runner::history::{self, Book, ReadError};
use crate::runner::{self, State, StatusEntry, Target};

/// Runs a `migrate` command; returns the exit status.
pub async fn migrate_command(args: &MigrateArgs) -> anyhow::Result<u8> {
    match &args.command {
        MigrateCommand::Status(db) => status_command(db).await,
        MigrateCommand::History(db) => history_command(db).await,
        MigrateCommand::Validate(db) => validate_command(db).await,
        MigrateCommand::Up(run) => run_command(run, Direction::Up).await,
        MigrateCommand::Down(run) => run_command(run, Direction::Down).await,
        MigrateCommand::Redo(run) => {
            if run.to.is_some() || run.all || run.dry_run {
                return Err(UsageError(
                    "redo takes --count N (default 1): --to, --all and --dry-run are for up and down"
                        .into(),
                )
                .into());
            }
            run_command(run, Direction::Redo).await
        }
        MigrateCommand::New(new) => new_command(new),
    }
}

/// The migrations, their bookkeeping, a session and every migration's state.
struct Database {
    discovered: Discovered,
    book: Book,
    session: Session,
    label: String,
    entries: Vec<StatusEntry>,
    applied: Vec<runner::Applied>,
}

async fn open(db: &MigrateDbArgs, timeouts: Timeouts) -> anyhow::Result<Database> {
    let source = Source::from_args(&db.source)?;
    let discovered = migrations::discover(&source.dir, source.format, &source.settings)?;
    let book = history::of(discovered.format())?;
    // Code migrations run through their tool, which books them in its own table; a
    // `[command]` tool's table is not one whose shape we know.
    if discovered.format().name() == "command" {
        return Err(UsageError(format!(
            "{}: migrations run through a `[command]` tool are applied by that tool: use its              own commands for this database (`verify` checks them through the tool)",
            source.dir.display()
        ))
        .into());
    }
    let (session, label) = connect_live_with(&db.database_url, timeouts).await?;
    let applied = read_history(book, &session.client, &discovered.migrations, &label).await?;
    let entries = runner::status(&discovered.migrations, &applied, &|m| book.checksum(m));
    Ok(Database {
        discovered,
        book,
        session,
        label,
        entries,
        applied,
    })
}

/// The applied migrations; another tool's table of the same name is bad input (exit 2).
async fn read_history(
    book: Book,
    client: &tokio_postgres::Client,
    migrations: &[migrations::Migration],
    label: &str,
) -> anyhow::Result<Vec<runner::Applied>> {
    match book.applied(client, migrations).await {
        Ok(applied) => Ok(applied),
        Err(ReadError::Foreign(message)) => Err(UsageError(format!("{label}: {message}")).into()),
        Err(ReadError::Database(e)) => {
            Err(database_error(label, "cannot read the history table", &e).into())
        }
    }
}

fn database_error(label: &str, what: &str, error: &tokio_postgres::Error) -> EnvironmentError {
    EnvironmentError::new(format!(
        "{label}: {what}: {}",
        postgres::describe_error(error)
    ))
}

async fn status_command(db: &MigrateDbArgs) -> anyhow::Result<u8> {
    let database = open(db, Timeouts::default()).await?;
    let drift = database.entries.iter().any(|e| e.state.is_drift());
    if db.json {
        let json = json!({
            "database": database.label,
            "format": database.discovered.format().name(),
            "history_table": database.book.table(),
            "migrations": database.entries,
            "drift": drift,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!(
            "{} · {} · history in {}",
            database.label,
            database.discovered.format().name(),
            database.book.table()
        );
        for entry in &database.entries {
            let when = entry
                .applied_at
                .as_deref()
                .map(|at| format!("  {at}"))
                .unwrap_or_default();
            println!(
                "  {:<28} {} {}{when}",
                entry.state.label(),
                entry.version,
                entry.name
            );
        }
        if !database.book.records_checksums() {
            println!(
                "  ({} records no checksums: a file edited after it was applied cannot be told)",
                database.discovered.format().name()
            );
        }
        let count = |state: State| database.entries.iter().filter(|e| e.state == state).count();
        println!(
            "{} applied, {} pending{}",
            count(State::Applied),
            count(State::Pending),
            if drift {
                "; the database and the files disagree (exit 1)"
            } else {
                ""
            }
        );
    }
    Ok(u8::from(drift))
}

async fn history_command(db: &MigrateDbArgs) -> anyhow::Result<u8> {
    let database = open(db, Timeouts::default()).await?;
    if db.json {
        let rows: Vec<_> = database
            .applied
            .iter()
            .map(|a| {
                json!({
                    "version": a.version, "name": a.name, "applied_at": a.applied_at,
                    "execution_ms": a.execution_ms, "applied_by": a.applied_by,
                    "success": a.success,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    println!("{} · history in {}", database.label, database.book.table());
    for applied in &database.applied {
        let by = applied
            .applied_by
            .as_deref()
            .unwrap_or("(who ran it is not recorded by this tool)");
        println!(
            "  {} {}  {}  {} ms  {by}{}",
            applied.version,
            applied.name.as_deref().unwrap_or(""),
            applied.applied_at.as_deref().unwrap_or("?"),
            applied
                .execution_ms
                .map_or("?".to_string(), |ms| ms.to_string()),
            if applied.success { "" } else { "  FAILED" }
        );
    }
    if database.applied.is_empty() {
        println!("  nothing applied");
    }
    Ok(0)
}

async fn validate_command(db: &MigrateDbArgs) -> anyhow::Result<u8> {
    let database = open(db, Timeouts::default()).await?;
    if !database.book.records_checksums() {
        println!(
            "{} records no checksums in {}: there is nothing to validate the files against",
            database.discovered.format().name(),
            database.book.table()
        );
        return Ok(0);
    }
    let mismatched: Vec<&StatusEntry> = database
        .entries
        .iter()
        .filter(|e| matches!(e.state, State::Modified | State::Missing))
        .collect();
    for entry in &mismatched {
        let file = entry
            .index
            .map(|i| {
                database.discovered.migrations[i]
                    .up
                    .path
                    .display()
                    .to_string()
            })
            .unwrap_or_else(|| "no file".into());
        println!(
            "{} {} {}: {}",
            entry.version,
            entry.name,
            file,
            entry.state.label()
        );
    }
    let checked = database
        .entries
        .iter()
        .filter(|e| e.state == State::Applied)
        .count();
    println!(
        "{checked} applied migration(s) match their recorded checksum, {} do not",
        mismatched.len()
    );
    Ok(u8::from(!mismatched.is_empty()))
}

async fn run_command(args: &MigrateRunArgs, direction: Direction) -> anyhow::Result<u8> {
    let timeouts = Timeouts {
        statement: duration_setting(
            "--statement-timeout",
            Some(&args.statement_timeout),
            Timeouts::default().statement,
        )?,
        lock: duration_setting(
            "--lock-timeout",
            Some(&args.lock_timeout),
            Timeouts::default().lock,
        )?,
        ..Timeouts::default()
    };
    let lock_wait = duration_setting(
        "--lock-wait",
        Some(&args.lock_wait),
        Duration::from_secs(60),
    )?;
    if args.all && direction == Direction::Up {
        return Err(UsageError(
            "--all is for `down`; `up` applies every pending migration by default".into(),
        )
        .into());
    }
    let target = match (&args.to, args.count, args.all) {
        (Some(version), _, _) => Target::To(version.clone()),
        (None, Some(0), _) => return Err(UsageError("--count must be at least 1".into()).into()),
        (None, Some(n), _) => Target::Count(n),
        (None, None, true) => Target::All,
        (None, None, false) => Target::Default,
    };
    let database = open(&args.db, timeouts).await?;
    let client = &database.session.client;
    let book = database.book;
    if !args.dry_run {
        // The lock first, as sqlx takes it: two runs must not race to create the table.
        let row = client
            .query_one(
                "SELECT current_database()::text, current_schema()::text",
                &[],
            )
            .await
            .map_err(|e| database_error(&database.label, "cannot read the database name", &e))?;
        let (name, schema): (String, String) = (row.get(0), row.get(1));
        execute::lock(client, book.lock_key(&name, &schema), lock_wait).await?;
        book.ensure(client)
            .await
            .map_err(|e| database_error(&database.label, "cannot create the history table", &e))?;
    }
    // Read again under the lock: another run may have applied migrations meanwhile.
    let applied = read_history(
        book,
        client,
        &database.discovered.migrations,
        &database.label,
    )
    .await?;
    let migrations = &database.discovered.migrations;
    let entries = runner::status(migrations, &applied, &|m| book.checksum(m));
    let plan = match direction {
        Direction::Up => runner::plan_up(&entries, &target)?,
        Direction::Down | Direction::Redo => runner::plan_down(&entries, migrations, &target)?,
    };
    let verb = match direction {
        Direction::Up => "apply",
        Direction::Down => "revert",
        Direction::Redo => "redo",
    };
    if plan.is_empty() {
        eprintln!("nothing to {verb}: the database is up to date with the plan");
        return Ok(0);
    }
    if args.dry_run {
        println!(
            "would {verb} {} migration(s) on {}:",
            plan.len(),
            database.label
        );
        for &index in &plan {
            let migration = &migrations[index];
            let script = match direction {
                Direction::Up => &migration.up,
                _ => migration.down.as_ref().expect("planned downs exist"),
            };
            println!(
                "-- {} {} ({})",
                migration.version,
                migration.name,
                script.path.display()
            );
            println!("{}", script.sql.trim_end());
        }
        return Ok(0);
    }
    if args.all && !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(UsageError(
                "down --all reverts every applied migration: add --yes to confirm".into(),
            )
            .into());
        }
        eprint!(
            "revert all {} applied migration(s) on {}? type yes: ",
            plan.len(),
            database.label
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .context("cannot read the answer")?;
        if answer.trim() != "yes" {
            eprintln!("nothing reverted");
            return Ok(1);
        }
    }
    if direction == Direction::Redo {
        return redo(&database, &plan, timeouts).await;
    }
    let mut progress = |line: &str| eprintln!("{line}");
    let outcome = execute::run(
        &database.session,
        book,
        migrations,
        &plan,
        direction,
        timeouts,
        &mut progress,
    )
    .await?;
    finish(outcome, database.book, direction, &database.label)
}

/// Reverts `plan` (newest first) and applies it again, then compares the schema with the
/// one before: verify's step 1 on this database.
async fn redo(database: &Database, plan: &[usize], timeouts: Timeouts) -> anyhow::Result<u8> {
    let client = &database.session.client;
    let bookkeeping: std::collections::BTreeSet<String> =
        [database.book.table().to_string()].into();
    let capture = async || -> anyhow::Result<crate::schema::Snapshot> {
        let snapshot = crate::schema::capture(client)
            .await
            .map_err(|e| database_error(&database.label, "cannot read the schema", &e))?;
        Ok(snapshot.without_tables(&bookkeeping))
    };
    let before = capture().await?;
    let migrations = &database.discovered.migrations;
    let mut progress = |line: &str| eprintln!("{line}");
    for (direction, order) in [
        (Direction::Down, plan.to_vec()),
        (Direction::Up, plan.iter().rev().copied().collect()),
    ] {
        let outcome = execute::run(
            &database.session,
            database.book,
            migrations,
            &order,
            direction,
            timeouts,
            &mut progress,
        )
        .await?;
        if outcome.failed.is_some() {
            return finish(outcome, database.book, direction, &database.label);
        }
    }
    let after = capture().await?;
    let changes = crate::schema::diff(&before, &after);
    if changes.is_empty() {
        println!(
            "redid {} migration(s) on {}: the schema is exactly what it was",
            plan.len(),
            database.label
        );
        return Ok(0);
    }
    print!(
        "{}",
        crate::report::schema_text::render_diff(&changes, "before redo", "after redo")
    );
    Ok(1)
}

/// The summary of a run, and its exit status.
fn finish(
    outcome: execute::Outcome,
    book: Book,
    direction: Direction,
    label: &str,
) -> anyhow::Result<u8> {
    let total: Duration = outcome.ran.iter().map(|r| r.elapsed).sum();
    let done = match direction {
        Direction::Up => "applied",
        Direction::Down | Direction::Redo => "reverted",
    };
    println!(
        "{done} {} migration(s) in {} ms on {label}",
        outcome.ran.len(),
        total.as_millis(),
    );
    match outcome.failed {
        None => Ok(0),
        Some((which, failure)) => {
            let at = failure
                .location
                .as_ref()
                .map(|l| format!(" at {}:{}:{}", l.path.display(), l.line, l.column))
                .unwrap_or_default();
            if failure.kind == postgres::runner::FailureKind::ConnectionLost {
                return Err(
                    EnvironmentError::new(format!("{which}{at}: {}", failure.message)).into(),
                );
            }
            let booked = book.failure_note();
            eprintln!("error: {which} failed{at} ({booked}): {}", failure.message);
            Ok(1)
        }
    }
}

fn new_command(args: &MigrateNewArgs) -> anyhow::Result<u8> {
    let source = Source::from_args(&args.source)?;
    let discovered = migrations::discover(&source.dir, source.format, &source.settings)?;
    let name = args.name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(UsageError(format!(
            "migration name `{}`: use letters, digits, `_` and `-`",
            args.name
        ))
        .into());
    }
    let version = next_version(&discovered);
    let files = discovered.format().template(&version, name);
    for (rel, _) in &files {
        if source.dir.join(rel).exists() {
            return Err(
                UsageError(format!("{} exists already", source.dir.join(rel).display())).into(),
            );
        }
    }
    for (rel, content) in files {
        let path = source.dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                EnvironmentError::new(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        std::fs::write(&path, content)
            .map_err(|e| EnvironmentError::new(format!("cannot write {}: {e}", path.display())))?;
        println!("created {}", path.display());
    }
    Ok(0)
}

/// The next version: a UTC timestamp (`YYYYMMDDHHMMSS`) where the existing versions are
/// timestamps (or there are none), else the largest number plus one at the same width.
fn next_version(discovered: &Discovered) -> String {
    let numbers: Vec<&str> = discovered
        .migrations
        .iter()
        .map(|m| m.version.text.as_str())
        .filter(|v| v.chars().all(|c| c.is_ascii_digit()))
        .collect();
    let timestamp = || {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(now))
            .to_string()
            .chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
    };
    match numbers.iter().max_by_key(|v| (v.len(), **v)) {
        None => timestamp(),
        Some(last) => {
            let next = last.parse::<u128>().unwrap_or(0) + 1;
            let stamp = timestamp();
            // After a timestamp, now (or one more, should the clock lag); otherwise one more
            // at the same width (a 17-digit node-pg-migrate version stays 17 digits).
            if last.len() == stamp.len() {
                stamp.parse::<u128>().unwrap_or(0).max(next).to_string()
            } else {
                format!("{next:0width$}", width = last.len())
            }
        }
    }
}
