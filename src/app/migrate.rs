//! `migration-check migrate`: the command line over [`crate::migrate`]: reads the
//! migrations and the database's history, prints status and history, runs plans with
//! progress on stderr and a summary, and maps outcomes to exit statuses.

use std::io::{IsTerminal, Write as _};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

use super::connect_live_with;
use crate::cli::{
    DryRun, MigrateArgs, MigrateCommand, MigrateDbArgs, MigrateNewArgs, MigrateRunArgs,
};
use crate::config::{Source, duration_setting};
use crate::error::{EnvironmentError, UsageError};
use crate::migrate::execute::{self, Direction, Mode};
use crate::migrate::history::{self, ReadError};
use crate::migrate::{self, State, StatusEntry, Target};
use crate::migrations::bookkeeping::{Applied, Book};
use crate::migrations::{self, Discovered};
use crate::postgres::{self, Session, Timeouts};

/// Runs a `migrate` command; returns the exit status.
pub async fn migrate_command(args: &MigrateArgs) -> anyhow::Result<u8> {
    match &args.command {
        MigrateCommand::Status(db) => status_command(db).await,
        MigrateCommand::History(db) => history_command(db).await,
        MigrateCommand::Validate(db) => validate_command(db).await,
        MigrateCommand::Up(run) => run_command(run, Direction::Up).await,
        MigrateCommand::Down(run) => run_command(run, Direction::Down).await,
        MigrateCommand::Redo(run) => {
            if run.to.is_some() || run.all || run.dry_run.is_some() {
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
    applied: Vec<Applied>,
    /// Whether our own history holds checksums beside a tool's table that has none
    /// (`--record-checksums`).
    shadowed: bool,
}

impl Database {
    /// Whether `status` and `validate` can tell an edited file.
    fn knows_checksums(&self) -> bool {
        self.book.records_checksums() || self.shadowed
    }
}

async fn open(db: &MigrateDbArgs, source: &Source, timeouts: Timeouts) -> anyhow::Result<Database> {
    let discovered = migrations::discover(&source.dir, source.format, &source.settings)?;
    let book = history::of(discovered.format())?;
    // Code migrations run through their tool, which books them in its own table; a
    // `[command]` tool's table is not one whose shape we know.
    if discovered.format().name() == "command" {
        return Err(UsageError(format!(
            "{}: migrations run through a `[command]` tool are applied by that tool: use its \
             own commands for this database (`verify` checks them through the tool)",
            source.dir.display()
        ))
        .into());
    }
    let (session, label) = connect_live_with(&db.database_url, timeouts).await?;
    let (applied, shadowed) =
        read_state(book, &session.client, &discovered.migrations, &label).await?;
    let entries = state_of(book, shadowed, &discovered.migrations, &applied);
    Ok(Database {
        discovered,
        book,
        session,
        label,
        entries,
        applied,
        shadowed,
    })
}

/// Every migration's state, compared by the tool's checksum or, beside a tool that records
/// none, by ours.
fn state_of(
    book: Book,
    shadowed: bool,
    migrations: &[migrations::Migration],
    applied: &[Applied],
) -> Vec<StatusEntry> {
    let mut sums = book.checksums(migrations);
    if shadowed {
        for (sum, ours) in sums.iter_mut().zip(history::own().checksums(migrations)) {
            *sum = sum.take().or(ours);
        }
    }
    let by_version: std::collections::HashMap<&str, Option<String>> = migrations
        .iter()
        .map(|m| m.version.text.as_str())
        .zip(sums)
        .collect();
    migrate::status(migrations, applied, &|m| {
        by_version.get(m.version.text.as_str()).cloned().flatten()
    })
}

/// The applied migrations from the tool's table, with our checksums where the tool keeps
/// none and `migration_check.history` holds them; and whether it did.
async fn read_state(
    book: Book,
    client: &tokio_postgres::Client,
    migrations: &[migrations::Migration],
    label: &str,
) -> anyhow::Result<(Vec<Applied>, bool)> {
    let mut applied = read_history(book, client, migrations, label).await?;
    let own = history::own();
    if book.records_checksums() || book.table() == own.table() {
        return Ok((applied, false));
    }
    let ours = read_history(own, client, migrations, label).await?;
    if ours.is_empty() {
        return Ok((applied, false));
    }
    for record in &mut applied {
        record.checksum = ours
            .iter()
            .find(|o| o.version == record.version)
            .and_then(|o| o.checksum.clone());
    }
    Ok((applied, true))
}

/// The applied migrations; another tool's table of the same name is bad input (exit 2).
async fn read_history(
    book: Book,
    client: &tokio_postgres::Client,
    migrations: &[migrations::Migration],
    label: &str,
) -> anyhow::Result<Vec<Applied>> {
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
    let database = open(db, &Source::from_args(&db.source)?, Timeouts::default()).await?;
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
        if !database.knows_checksums() {
            println!(
                "  ({} records no checksums: a file edited after it was applied cannot be told; \
                 `migrate up --record-checksums` keeps ours beside its table)",
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
    let database = open(db, &Source::from_args(&db.source)?, Timeouts::default()).await?;
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
    let database = open(db, &Source::from_args(&db.source)?, Timeouts::default()).await?;
    if !database.knows_checksums() {
        println!(
            "{} records no checksums in {}: there is nothing to validate the files against \
             (`migrate up --record-checksums` keeps ours beside its table from now on)",
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
    let source = Source::from_args(&args.db.source)?;
    let settings = source.migrate().clone();
    // A flag wins over `[migrate]`, which wins over the default.
    let setting = |flag: &Option<String>, file: &Option<String>| -> Option<String> {
        flag.clone().or_else(|| file.clone())
    };
    let statement = setting(&args.statement_timeout, &settings.statement_timeout);
    let lock = setting(&args.lock_timeout, &settings.lock_timeout);
    let wait = setting(&args.lock_wait, &settings.lock_wait);
    let timeouts = Timeouts {
        statement: duration_setting(
            "--statement-timeout",
            statement.as_deref(),
            Timeouts::default().statement,
        )?,
        lock: duration_setting("--lock-timeout", lock.as_deref(), Timeouts::default().lock)?,
        ..Timeouts::default()
    };
    let lock_wait = duration_setting("--lock-wait", wait.as_deref(), Duration::from_secs(60))?;
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
    if args.dry_run.is_some() && args.backup.is_some() {
        return Err(UsageError(
            "--backup is for a run that changes the database, not --dry-run".into(),
        )
        .into());
    }
    let database = open(&args.db, &source, timeouts).await?;
    let client = &database.session.client;
    let book = database.book;
    let shadow = (args.record_checksums || settings.record_checksums)
        .then(history::own)
        .filter(|own| !book.records_checksums() && own.table() != book.table());
    let printing = args.dry_run == Some(DryRun::Print);
    if !printing {
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
        if args.dry_run == Some(DryRun::Rollback) {
            // Everything from here on, the history tables included, is rolled back.
            client
                .batch_execute("BEGIN")
                .await
                .map_err(|e| database_error(&database.label, "cannot begin the rehearsal", &e))?;
        }
        for book in std::iter::once(book).chain(shadow) {
            book.ensure(client, &database.discovered.migrations)
                .await
                .map_err(|e| {
                    database_error(&database.label, "cannot create the history table", &e)
                })?;
        }
    }
    // Read again under the lock: another run may have applied migrations meanwhile.
    let migrations = &database.discovered.migrations;
    let (applied, shadowed) = read_state(book, client, migrations, &database.label).await?;
    let entries = state_of(book, shadowed, migrations, &applied);
    let plan = match direction {
        Direction::Up => migrate::plan_up(&entries, &target).map_err(UsageError::from)?,
        Direction::Down | Direction::Redo => {
            migrate::plan_down(&entries, migrations, &target).map_err(UsageError::from)?
        }
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
    let script_of = |index: usize| {
        let migration = &migrations[index];
        match direction {
            Direction::Up => &migration.up,
            _ => migration.down.as_ref().expect("planned downs exist"),
        }
    };
    if printing {
        println!(
            "would {verb} {} migration(s) on {}:",
            plan.len(),
            database.label
        );
        for &index in &plan {
            let migration = &migrations[index];
            let script = script_of(index);
            println!(
                "-- {} {} ({})",
                migration.version,
                migration.name,
                script.path.display()
            );
            match &script.step {
                Some(step) => println!("-- run by its tool: {}", step.display()),
                None => println!("{}", script.sql.trim_end()),
            }
        }
        return Ok(0);
    }
    let rehearsal = args.dry_run == Some(DryRun::Rollback);
    if rehearsal {
        let refused: Vec<String> = plan
            .iter()
            .filter_map(|&index| {
                let script = script_of(index);
                postgres::script::cannot_nest(script)
                    .map(|why| format!("  {}: {why}", script.path.display()))
            })
            .collect();
        if !refused.is_empty() {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(UsageError(format!(
                "--dry-run=rollback runs the plan in one transaction and rolls it back, which \
                 these migrations do not allow (use --dry-run to print the plan instead):\n{}",
                refused.join("\n")
            ))
            .into());
        }
    }
    if args.all && !args.yes && !rehearsal {
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
    if let Some(path) = &args.backup {
        eprintln!("backing up {} to {} …", database.label, path.display());
        let backup = migrate::backup::backup(
            client,
            database.session.config(),
            database.session.tls().mode(),
            path,
        )
        .await?;
        eprintln!(
            "backed up {} tables' data, {} bytes, to {} (checked with pg_restore --list)",
            backup.tables,
            backup.bytes,
            backup.path.display()
        );
    }
    let mode = Mode {
        direction,
        timeouts,
        nested: rehearsal,
        shadow,
    };
    if direction == Direction::Redo {
        return redo(&database, &plan, mode).await;
    }
    let mut progress = |line: &str| eprintln!("{line}");
    let outcome = execute::run(
        &database.session,
        book,
        migrations,
        &plan,
        mode,
        &mut progress,
    )
    .await?;
    if rehearsal {
        // A failure already rolled the whole rehearsal back.
        let _ = client.batch_execute("ROLLBACK").await;
        if outcome.failed.is_none() {
            println!(
                "rehearsed: {verb} {} migration(s) on {} in one transaction, then rolled back; \
                 nothing changed",
                outcome.ran.len(),
                database.label
            );
            return Ok(0);
        }
    }
    finish(outcome, database.book, direction, &database.label)
}

/// Reverts `plan` (newest first) and applies it again, then compares the schema with the
/// one before: verify's step 1 on this database.
async fn redo(database: &Database, plan: &[usize], mode: Mode) -> anyhow::Result<u8> {
    let client = &database.session.client;
    let bookkeeping: std::collections::BTreeSet<String> = std::iter::once(database.book)
        .chain(mode.shadow)
        .map(|book| book.table().to_string())
        .collect();
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
            Mode { direction, ..mode },
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
            if failure.kind == postgres::script::FailureKind::ConnectionLost {
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
    // The number a version is, or starts a name with (a name-keyed tool's version is its
    // whole name: `1700000000000_create-accounts`); diesel's `2024-01-02-030405` is none.
    let numbers: Vec<&str> = discovered
        .migrations
        .iter()
        .filter_map(|m| {
            let text = m.version.text.as_str();
            let rest = text.trim_start_matches(|c: char| c.is_ascii_digit());
            let number = &text[..text.len() - rest.len()];
            let named = rest.is_empty()
                || rest.starts_with('_')
                || (rest.starts_with('-') && !rest[1..].starts_with(|c: char| c.is_ascii_digit()));
            (!number.is_empty() && named).then_some(number)
        })
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
