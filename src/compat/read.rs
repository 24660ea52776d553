//! The application's SQL read from where it lives: query files in the working tree (the
//! new code) and at the base commit through git (the old code, as checksums read the base),
//! a pg_stat_statements export on disk, and pg_stat_statements of a live database. The
//! parsing itself is [`super::sources`]; this file only finds and reads.

use std::path::{Path, PathBuf};

use tokio_postgres::Client;

use super::sources::{self, AppStatement, Glob, Recorded};
use crate::checksum::git::Repo;
use crate::error::{InputError, UsageError};

/// Where the application's SQL comes from (`[compat]`, flags, Action inputs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompatSources {
    /// Globs of query files, relative to the working directory (`db/queries/**/*.sql`).
    pub queries: Vec<String>,
    /// A pg_stat_statements export (CSV with a header, or JSON lines).
    pub statements: Option<PathBuf>,
    /// A read-only URL whose pg_stat_statements is read at check time.
    pub statements_from: Option<String>,
    /// The application's tests, as an argument vector.
    pub command: Option<Vec<String>>,
    /// Our variables the test command may see besides the database's address.
    pub pass_env: Vec<String>,
}

impl CompatSources {
    /// Whether no source is configured.
    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
            && self.statements.is_none()
            && self.statements_from.is_none()
            && self.command.is_none()
    }
}

/// The query files the globs match in the working tree, parsed, and how many files; a
/// glob that matches no file is named in `notes`.
pub fn head_queries(
    globs: &[String],
    notes: &mut Vec<String>,
) -> anyhow::Result<(Vec<AppStatement>, usize)> {
    let mut files = Vec::new();
    for (pattern, glob) in globs.iter().zip(compiled(globs)?) {
        let root = sources::glob_root(pattern);
        let start = if root.is_empty() {
            Path::new(".")
        } else {
            Path::new(root)
        };
        let before = files.len();
        walk(start, &mut |path| {
            let relative = path
                .strip_prefix(".")
                .unwrap_or(path)
                .to_string_lossy()
                .replace('\\', "/");
            if glob.matches(&relative) && !files.contains(&relative) {
                files.push(relative);
            }
        });
        if files.len() == before {
            notes.push(format!(
                "the query glob {pattern} matches no file of the working tree"
            ));
        }
    }
    files.sort();
    let mut statements = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file)
            .map_err(|e| InputError::new(file, format!("cannot read the query file: {e}")))?;
        statements.extend(parse(file, &bytes)?);
    }
    Ok((statements, files.len()))
}

/// The globs compiled; one that is not a glob is a usage error.
fn compiled(globs: &[String]) -> Result<Vec<Glob>, UsageError> {
    globs
        .iter()
        .map(|pattern| {
            Glob::new(pattern).map_err(|e| UsageError(format!("--queries / [compat] queries: {e}")))
        })
        .collect()
}

/// The query files the globs match at `commit` (paths relative to the working directory,
/// as the globs are), parsed, and how many files; a file absent there is simply not read.
pub fn base_queries(globs: &[String], commit: &str) -> anyhow::Result<(Vec<AppStatement>, usize)> {
    let cwd = std::env::current_dir()?;
    let repo = Repo::locate(&cwd)?;
    let entries = repo.ls_tree(commit, "")?;
    // Tree paths are relative to the repository root; the globs to the working directory.
    let globs = compiled(globs)?;
    let prefix = if repo.prefix.is_empty() {
        String::new()
    } else {
        format!("{}/", repo.prefix)
    };
    let mut matched: Vec<(String, &str)> = entries
        .iter()
        .filter_map(|entry| {
            let relative = entry.path.strip_prefix(&prefix)?;
            globs
                .iter()
                .any(|glob| glob.matches(relative))
                .then(|| (relative.to_string(), entry.oid.as_str()))
        })
        .collect();
    matched.sort();
    let oids: Vec<&str> = matched.iter().map(|(_, oid)| *oid).collect();
    let blobs = repo.read_blobs(&oids)?;
    let mut statements = Vec::new();
    for ((file, _), bytes) in matched.iter().zip(blobs) {
        statements.extend(parse(file, &bytes).map_err(|mut e| {
            let commit = commit.get(..12).unwrap_or(commit);
            e.message = format!("at the base commit {commit}: {}", e.message);
            e
        })?);
    }
    Ok((statements, matched.len()))
}

/// A git worktree of the base commit, where the old code's test command runs; removed
/// (with git's record of it) when dropped.
#[derive(Debug)]
pub struct Worktree {
    root: PathBuf,
    dir: Option<tempfile::TempDir>,
}

impl Worktree {
    /// Checks `commit` out, detached, into a new temporary directory, from the repository
    /// holding the working directory.
    pub fn add(commit: &str) -> anyhow::Result<Worktree> {
        let repo = Repo::locate(&std::env::current_dir()?)?;
        let dir = tempfile::Builder::new()
            .prefix("migration-check-base-")
            .tempdir()?;
        let output = std::process::Command::new("git")
            .arg("-C")
            .arg(&repo.root)
            .args(["worktree", "add", "--detach", "--quiet"])
            .arg(dir.path())
            .arg(commit)
            .stdin(std::process::Stdio::null())
            .output()?;
        if !output.status.success() {
            anyhow::bail!(
                "cannot check out the base commit {commit} for the old code's tests: git worktree add: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(Worktree {
            root: repo.root,
            dir: Some(dir),
        })
    }

    /// The worktree's directory matching `workdir` of the working tree (the same path
    /// below the repository root); dependencies installed there but not committed
    /// (`node_modules`) are linked in, so the old code runs with them.
    pub fn workdir_for(&self, workdir: &Path) -> anyhow::Result<PathBuf> {
        let dir = self.dir.as_ref().map(|d| d.path()).unwrap_or(&self.root);
        let absolute = std::fs::canonicalize(workdir)?;
        let root = std::fs::canonicalize(&self.root)?;
        let relative = absolute.strip_prefix(&root).unwrap_or(Path::new(""));
        let target = dir.join(relative);
        let installed = absolute.join("node_modules");
        let linked = target.join("node_modules");
        if installed.is_dir() && !linked.exists() && target.is_dir() {
            std::os::unix::fs::symlink(&installed, &linked)?;
        }
        Ok(target)
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else {
            return;
        };
        let _ = std::process::Command::new("git")
            .arg("-C")
            .arg(&self.root)
            .args(["worktree", "remove", "--force"])
            .arg(dir.path())
            .stdin(std::process::Stdio::null())
            .output();
        let path = dir.path().to_path_buf();
        drop(dir);
        let _ = std::fs::remove_dir_all(&path);
        let _ = std::process::Command::new("git")
            .arg("-C")
            .arg(&self.root)
            .args(["worktree", "prune"])
            .stdin(std::process::Stdio::null())
            .output();
    }
}

/// A pg_stat_statements export on disk.
pub fn statements_file(path: &Path) -> Result<Recorded, InputError> {
    let bytes = std::fs::read(path)
        .map_err(|e| InputError::new(path, format!("cannot read the statements export: {e}")))?;
    let label = path.display().to_string();
    let text = String::from_utf8(bytes).map_err(|_| {
        InputError::new(path, "not UTF-8 text: expected a CSV or JSON lines export")
    })?;
    sources::parse_statements_export(&label, &text)
        .map_err(|e| InputError::at_line(path, e.line, e.message))
}

/// The statements pg_stat_statements recorded in the connected database, most called first
/// (at most 5,000), read in a read-only transaction.
pub async fn recorded_from(client: &Client) -> Result<Recorded, tokio_postgres::Error> {
    client
        .batch_execute("SET default_transaction_read_only = on")
        .await?;
    let rows = client
        .query(
            "SELECT query, calls FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) \
               AND query IS NOT NULL \
             ORDER BY calls DESC LIMIT 5000",
            &[],
        )
        .await?;
    let mut recorded = Recorded::default();
    for row in rows {
        let query: String = row.get(0);
        let calls: i64 = row.get(1);
        sources::add_recorded(&mut recorded, &query, u64::try_from(calls).ok(), &[]);
    }
    Ok(recorded)
}

/// Parses one query file's bytes, refusing text that is not UTF-8 with the line where it
/// stops being so.
fn parse(label: &str, bytes: &[u8]) -> Result<Vec<AppStatement>, InputError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        InputError::at_line(label, line, "not UTF-8 text")
    })?;
    sources::parse_query_file(label, text)
        .map_err(|e| InputError::at_line(label, e.line, e.message))
}

/// Calls `found` with every file under `dir` (symbolic links to directories not followed;
/// `.git` and `node_modules` skipped); a missing `dir` has no files.
fn walk(dir: &Path, found: &mut dyn FnMut(&Path)) {
    if dir.is_file() {
        found(dir);
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            let name = entry.file_name();
            if name != ".git" && name != "node_modules" {
                walk(&path, found);
            }
        } else if kind.is_file() {
            found(&path);
        }
    }
}
