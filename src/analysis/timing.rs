//! Each statement of a script timed on the rows the tables hold now, inside a savepoint
//! rolled back afterwards: the samples [`super::estimate`] extrapolates from. Only for
//! scripts that can run inside a transaction the caller holds open (see
//! `postgres::script::cannot_nest`).

use std::time::Instant;

use tokio_postgres::Client;

use crate::migrations::{Script, lexer};
use crate::postgres::describe_error;

/// A statement's place in its file (line, column) and how long it took (µs).
pub type Timed = ((usize, usize), u64);

/// Runs every statement of `script` under a savepoint, timing each, and rolls them back;
/// `repeats` times, each statement's least time kept (the least is the one the machine
/// disturbed least). `Ok(Err(why))` when a statement failed (the sizes would not be
/// comparable); Err when the connection failed.
pub async fn time_statements(
    client: &Client,
    script: &Script,
    repeats: usize,
) -> Result<Result<Vec<Timed>, String>, tokio_postgres::Error> {
    let mut least: Vec<Timed> = Vec::new();
    for _ in 0..repeats.max(1) {
        let timed = match time_once(client, script).await? {
            Ok(timed) => timed,
            Err(why) => return Ok(Err(why)),
        };
        if least.is_empty() {
            least = timed;
        } else {
            for (kept, new) in least.iter_mut().zip(timed) {
                kept.1 = kept.1.min(new.1);
            }
        }
    }
    Ok(Ok(least))
}

async fn time_once(
    client: &Client,
    script: &Script,
) -> Result<Result<Vec<Timed>, String>, tokio_postgres::Error> {
    client
        .batch_execute("SAVEPOINT migration_check_timing")
        .await?;
    let mut timed = Vec::new();
    for statement in lexer::split_statements(&script.sql) {
        if statement.is_empty() {
            continue;
        }
        let (line, column) = lexer::line_col(&script.sql, statement.code.start);
        let started = Instant::now();
        let outcome = client.batch_execute(&script.sql[statement.code]).await;
        let micros = started.elapsed().as_micros().try_into().unwrap_or(u64::MAX);
        if let Err(error) = outcome {
            if client.is_closed() {
                return Err(error);
            }
            client
                .batch_execute("ROLLBACK TO SAVEPOINT migration_check_timing")
                .await?;
            return Ok(Err(format!(
                "{}:{} failed: {}",
                script.path.display(),
                script.line_offset + line,
                describe_error(&error).lines().next().unwrap_or_default()
            )));
        }
        timed.push(((script.line_offset + line, column), micros));
    }
    client
        .batch_execute("ROLLBACK TO SAVEPOINT migration_check_timing")
        .await?;
    Ok(Ok(timed))
}
