//! `migrate --backup PATH`: `pg_dump -Fc` of the database before anything changes, checked
//! complete with `pg_restore -l` (its table of contents holds the data of every table the
//! database has) before the run goes on. The dump is written beside PATH under a temporary
//! name and renamed once checked, so PATH is either a complete dump or absent; an existing
//! PATH is never overwritten. pg_dump runs as an argument vector in a cleared environment
//! holding only the locale, `PATH`, `HOME` and the connection's libpq variables (the
//! password in `PGPASSWORD`, never on a command line).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio_postgres::{Client, Config};

use crate::error::{EnvironmentError, UsageError};
use crate::postgres::process::{database_env, inherited_environment};
use crate::postgres::tls::SslMode;

/// What the backup holds.
#[derive(Debug)]
pub struct Backup {
    pub path: PathBuf,
    pub bytes: u64,
    /// Tables whose data the dump holds.
    pub tables: usize,
}

/// The first of `names` found on PATH, else in the server binaries' directory.
fn program(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file());
    on_path
        .or_else(|| {
            crate::postgres::embedded::find_bin_dir(None)
                .ok()
                .map(|dir| dir.join(name))
        })
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Runs `program` with `args` in the connection's environment; its stdout, or an error
/// with its stderr.
async fn tool(
    name: &str,
    args: &[&std::ffi::OsStr],
    env: &[(String, String)],
) -> Result<Vec<u8>, EnvironmentError> {
    let program = program(name);
    let output = tokio::process::Command::new(&program)
        .args(args)
        .env_clear()
        .envs(inherited_environment(&[]))
        .envs(env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| {
            EnvironmentError::new(format!(
                "cannot run {} for --backup: {e} (install the PostgreSQL client tools)",
                program.display()
            ))
        })?;
    if !output.status.success() {
        return Err(EnvironmentError::new(format!(
            "--backup: {name} failed: {}",
            crate::postgres::libpq::redact(String::from_utf8_lossy(&output.stderr).trim())
        )));
    }
    Ok(output.stdout)
}

/// Dumps the database `client` is connected to (reached as `config` with `sslmode`) to
/// `path`, and checks the dump before returning.
pub async fn backup(
    client: &Client,
    config: &Config,
    sslmode: Option<SslMode>,
    path: &Path,
) -> anyhow::Result<Backup> {
    if path.exists() {
        return Err(UsageError(format!(
            "--backup {}: the file exists; name a new one (a backup is never overwritten)",
            path.display()
        ))
        .into());
    }
    let partial = path.with_file_name(format!(
        ".{}.partial",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "backup".into())
    ));
    let env = database_env(config, sslmode);
    let result = dump_and_check(client, &env, &partial).await;
    match result {
        Ok(tables) => {
            std::fs::rename(&partial, path).map_err(|e| {
                let _ = std::fs::remove_file(&partial);
                EnvironmentError::new(format!("--backup: cannot write {}: {e}", path.display()))
            })?;
            let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            Ok(Backup {
                path: path.to_path_buf(),
                bytes,
                tables,
            })
        }
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(error)
        }
    }
}

async fn dump_and_check(
    client: &Client,
    env: &[(String, String)],
    partial: &Path,
) -> anyhow::Result<usize> {
    tool(
        "pg_dump",
        &[
            "--format=custom".as_ref(),
            "--file".as_ref(),
            partial.as_os_str(),
        ],
        env,
    )
    .await?;
    let listing = tool("pg_restore", &["--list".as_ref(), partial.as_os_str()], env).await?;
    let listing = String::from_utf8_lossy(&listing);
    let dumped = listing
        .lines()
        .filter(|line| !line.starts_with(';') && line.contains(" TABLE DATA "))
        .count();
    // The tables pg_dump dumps the data of: ordinary tables outside the system schemas,
    // not an extension's.
    let expected: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'r'
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
               AND NOT EXISTS (SELECT FROM pg_depend d
                               WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                 AND d.deptype = 'e')",
            &[],
        )
        .await
        .map_err(|e| {
            EnvironmentError::new(format!(
                "--backup: cannot count the tables: {}",
                crate::postgres::describe_error(&e)
            ))
        })?
        .get(0);
    if dumped != usize::try_from(expected).unwrap_or(usize::MAX) {
        return Err(EnvironmentError::new(format!(
            "--backup: the dump holds the data of {dumped} tables, the database has {expected}: \
             it is not complete, so nothing was changed"
        ))
        .into());
    }
    Ok(dumped)
}
