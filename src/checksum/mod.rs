//! Base-branch checksums. Migration tools apply a migration once per database and never look
//! at it again, so a merged migration that is edited, renamed, deleted, or a new one slipped in
//! below the newest merged version, silently diverges between databases. This module compares
//! every migration file of the working tree with the base branch of a pull request by SHA-256,
//! reading the base through the `git` command line ([`git`]) or, when git cannot, a
//! [`RemoteBase`] such as the GitHub API. It classifies each file ([`FileState`]), says which
//! versions need verifying ([`versions_to_verify`]) and turns the classification into findings
//! under configurable gates ([`apply_gates`]). [`sum`] keeps a `migrations.sum` lock file for
//! projects that want the same guarantee without a base branch.
//!
//! Decisions: files are matched by their path relative to the migrations directory; files left
//! over are paired by identical content as renames (an up/down pair renamed together gives two
//! `renamed` files whose `base_path`s name the old pair). When the migrations directory does
//! not exist on the base, the base directory holding the most identical files under the same
//! relative names is taken as its old location, so a moved directory reports `renamed` (and
//! `modified`, with `base_path`, for files edited on the way) instead of deleted/added. A file
//! added to a migration that already exists on the base (same version and name, e.g. a new
//! `down.sql`) is `added`, not `out_of_order`.

pub(crate) mod git;
pub mod sum;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::InputError;
use crate::migrations::{Layout, Listing, Version, io_reason};
use crate::policy::{GateLevel, Gates};

/// How one migration file compares with the base branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// Same path, same content.
    Unchanged,
    /// New in the working tree, with a version above every version on the base (or a new file
    /// of a migration that exists on the base).
    Added,
    /// Same path (relative to the migrations directory), different content.
    Modified,
    /// On the base, gone from the working tree.
    Deleted,
    /// Same content under another path.
    Renamed,
    /// A new migration whose version is not above the highest version on the base: most tools
    /// skip it on databases that already applied that version.
    OutOfOrder,
}

impl FileState {
    /// The state's name in reports and JSON (`out_of_order`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FileState::Unchanged => "unchanged",
            FileState::Added => "added",
            FileState::Modified => "modified",
            FileState::Deleted => "deleted",
            FileState::Renamed => "renamed",
            FileState::OutOfOrder => "out_of_order",
        }
    }
}

/// One migration file compared with the base branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileComparison {
    /// Path relative to the repository root: in the working tree, or on the base for `deleted`.
    pub path: String,
    /// How it compares.
    pub state: FileState,
    /// The path on the base when it differs from `path` (`renamed`, and `modified` or
    /// `renamed` files of a moved migrations directory); None otherwise.
    pub base_path: Option<String>,
    /// SHA-256 (lowercase hex) of the base file; None for `added` and `out_of_order`.
    pub base_sha256: Option<String>,
    /// SHA-256 (lowercase hex) of the working-tree file; None for `deleted`.
    pub head_sha256: Option<String>,
    /// For `modified`: only whitespace or line endings changed (CRLF→LF, trailing whitespace
    /// on lines, trailing blank lines).
    pub whitespace_only: bool,
    /// The version of the migration the file belongs to, per the format's rules (the base
    /// file's for `deleted`); None when the name carries no version.
    pub version: Option<String>,
    /// The file is a repeatable migration (Flyway's `R__`), which its tool re-applies
    /// whenever it changes: a modified one is verified, never gated.
    pub repeatable: bool,
}

/// The comparison of a migrations directory with the base branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// The base reference as given (`--base`).
    pub base_ref: String,
    /// The commit compared with: the merge-base of HEAD and `base_ref` (through the GitHub
    /// API: the commit the API resolved).
    pub base_commit: String,
    /// Every migration file of either side, sorted by `path`.
    pub files: Vec<FileComparison>,
    /// How the base was read: `git`, `git fetch` (history had to be fetched) or `github api`.
    pub via: &'static str,
    /// The layout the files were read with.
    pub layout: Layout,
    /// The migrations directory relative to the repository root (empty for the root).
    pub dir: String,
    /// Where the base's migrations were read from, relative to the repository root: `dir`,
    /// unless the directory moved.
    pub base_dir: String,
    /// The highest version on the base, the bound for `out_of_order`.
    pub highest_base_version: Option<String>,
}

/// Reads a base tree from somewhere other than local git (the GitHub API).
pub trait RemoteBase {
    /// Files (path relative to the repository root, bytes) under `dir` at `reference`, and the commit it resolved to.
    #[allow(clippy::type_complexity)] // the signature the CLI's GitHub client implements
    fn files(&self, reference: &str, dir: &str)
    -> Result<(String, Vec<(String, Vec<u8>)>), String>;
}

/// Why the comparison with the base branch could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumError {
    /// The working tree's migrations could not be read (exit 2).
    #[error(transparent)]
    Input(#[from] InputError),
    /// The migrations directory is not in a git working tree git will work with (exit 3).
    #[error(
        "{}: not in a usable git repository ({reason}); comparing with the base branch (--base) \
         needs the project's git checkout",
        .dir.display()
    )]
    NotARepository {
        /// The migrations directory.
        dir: PathBuf,
        /// What git said.
        reason: String,
    },
    /// The base is not in the clone and could not be fetched (exit 3).
    #[error(
        "cannot read the base branch `{base_ref}`: {reason}. Fix: fetch the base branch history: \
         in actions/checkout set `fetch-depth: 0`, or run `{}` before migration-check",
        git::fetch_command(.base_ref)
    )]
    BaseUnavailable {
        /// The base reference as given.
        base_ref: String,
        /// What could not be done.
        reason: String,
    },
    /// The base reference names nothing, here or on `origin` (a misspelled `--base`; exit 3).
    #[error(
        "base reference `{base_ref}` was not found in this clone nor on the `origin` remote \
         ({reason}); check --base (a branch such as `main` or `origin/main`, a tag, or a full \
         commit SHA); if it exists elsewhere, fetch it first (`{}`; in actions/checkout set \
         `fetch-depth: 0`)",
        git::fetch_command(.base_ref)
    )]
    UnknownRef {
        /// The base reference as given.
        base_ref: String,
        /// What git said.
        reason: String,
    },
    /// HEAD and the base share no commit even with the whole history fetched (exit 3).
    #[error(
        "HEAD and the base `{base_ref}` ({commit}) share no history, even with all of it \
         fetched; check --base"
    )]
    NoMergeBase {
        /// The base reference as given.
        base_ref: String,
        /// The commit it resolved to.
        commit: String,
    },
    /// git could not be run, or failed unexpectedly (exit 3).
    #[error("git {command} failed: {message}")]
    Git {
        /// The git arguments.
        command: String,
        /// git's error output.
        message: String,
    },
}

impl ChecksumError {
    /// True when the environment is at fault (no git repository, git missing or failing, the
    /// base not in the clone and not fetchable) rather than the user's input (a bad `--base`,
    /// unreadable migration files).
    pub fn is_environment(&self) -> bool {
        matches!(
            self,
            ChecksumError::NotARepository { .. }
                | ChecksumError::BaseUnavailable { .. }
                | ChecksumError::Git { .. }
        )
    }

    /// The exit status of the command-line contract: 2 for unreadable migration files,
    /// 3 for everything else (the environment, and a base reference git cannot find).
    pub fn exit_code(&self) -> u8 {
        match self {
            ChecksumError::Input(_) => 2,
            _ => 3,
        }
    }
}

/// SHA-256 of `bytes`, lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// `dir/rel`, or `rel` when `dir` is empty (the repository root).
fn join(dir: &str, rel: &str) -> String {
    if dir.is_empty() {
        rel.to_string()
    } else {
        format!("{dir}/{rel}")
    }
}

/// `path` relative to `dir` (both relative to the repository root), None when outside it.
pub(crate) fn relative_to<'a>(path: &'a str, dir: &str) -> Option<&'a str> {
    if dir.is_empty() {
        return Some(path);
    }
    path.strip_prefix(dir)?.strip_prefix('/')
}

/// The role of a file within its migration: up (or the single file), down, or metadata.
fn file_role(rel: &str) -> u8 {
    if rel.ends_with("down.sql") {
        1
    } else if rel.ends_with(".toml") {
        2
    } else {
        0
    }
}

/// A migration file of a directory on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirFile {
    /// Path relative to the migrations directory, `/`-separated.
    pub rel: String,
    /// The file on disk (the directory joined with `rel`).
    pub path: PathBuf,
}

/// The migration files of `dir` (those the layout's `is_migration_path` accepts), sorted
/// by `rel`.
pub(crate) fn list_migration_files(
    dir: &Path,
    layout: &Layout,
) -> Result<Vec<DirFile>, InputError> {
    let listing = Listing::read(dir, layout.format.depth())?;
    Ok(listing
        .files()
        .filter(|entry| layout.is_migration_path(&entry.rel))
        .map(|entry| DirFile {
            rel: entry.rel.clone(),
            path: entry.path.clone(),
        })
        .collect())
}

/// Reads a migration file for hashing.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, InputError> {
    fs::read(path)
        .map_err(|e| InputError::new(path, format!("cannot read file: {}", io_reason(&e))))
}

/// Contents with line endings and trailing whitespace normalised: CRLF and lone CR become LF,
/// trailing spaces/tabs are removed from each line, trailing blank lines are dropped.
fn normalize_whitespace(bytes: &[u8]) -> Vec<u8> {
    let mut unified = Vec::with_capacity(bytes.len());
    let mut iter = bytes.iter().peekable();
    while let Some(&b) = iter.next() {
        if b == b'\r' {
            if iter.peek() == Some(&&b'\n') {
                iter.next();
            }
            unified.push(b'\n');
        } else {
            unified.push(b);
        }
    }
    let mut lines: Vec<&[u8]> = unified
        .split(|&b| b == b'\n')
        .map(|line| {
            let keep = line
                .iter()
                .rposition(|b| !matches!(b, b' ' | b'\t' | b'\x0b' | b'\x0c'))
                .map_or(0, |i| i + 1);
            &line[..keep]
        })
        .collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join(&b'\n')
}

/// One migration file on one side of the comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Side {
    /// Relative to its side's migrations directory.
    rel: String,
    /// Relative to the repository root.
    full: String,
    sha256: String,
    bytes: Vec<u8>,
}

impl Side {
    fn new(rel: &str, dir: &str, bytes: Vec<u8>) -> Side {
        Side {
            rel: rel.to_string(),
            full: join(dir, rel),
            sha256: sha256_hex(&bytes),
            bytes,
        }
    }
}

/// The classified files, sorted by path, and the highest base version.
fn classify(
    layout: &Layout,
    base: &[Side],
    head: &[Side],
) -> (Vec<FileComparison>, Option<Version>) {
    let version = |rel: &str| layout.version_of_path(rel);
    let text = |rel: &str| version(rel).map(|v| v.text);
    let repeatable = |rel: &str| version(rel).is_some_and(|v| v.is_repeatable());
    // Repeatable migrations (Flyway's `R__`) have no place in the version order: never the
    // bound, never out of order.
    let highest = base
        .iter()
        .filter_map(|b| version(&b.rel))
        .filter(|v| !v.is_repeatable())
        .max();
    let base_keys: BTreeSet<String> = base.iter().map(|b| layout.migration_key(&b.rel)).collect();
    let base_by_rel: BTreeMap<&str, &Side> = base.iter().map(|b| (b.rel.as_str(), b)).collect();

    let mut files = Vec::new();
    let mut matched: BTreeSet<&str> = BTreeSet::new();
    let mut head_left: Vec<&Side> = Vec::new();
    for h in head {
        let Some(b) = base_by_rel.get(h.rel.as_str()) else {
            head_left.push(h);
            continue;
        };
        matched.insert(b.rel.as_str());
        let base_path = (b.full != h.full).then(|| b.full.clone());
        let same = b.sha256 == h.sha256;
        let state = match (same, &base_path) {
            (true, None) => FileState::Unchanged,
            (true, Some(_)) => FileState::Renamed,
            (false, _) => FileState::Modified,
        };
        files.push(FileComparison {
            path: h.full.clone(),
            state,
            base_path,
            base_sha256: Some(b.sha256.clone()),
            head_sha256: Some(h.sha256.clone()),
            whitespace_only: !same
                && normalize_whitespace(&b.bytes) == normalize_whitespace(&h.bytes),
            version: text(&h.rel),
            repeatable: repeatable(&h.rel),
        });
    }

    // Renames: leftover files with identical content. Ups go first so that a down follows its
    // up into the same base migration when several candidates have the same content.
    let base_left: Vec<&Side> = base
        .iter()
        .filter(|b| !matched.contains(b.rel.as_str()))
        .collect();
    let mut used = vec![false; base_left.len()];
    head_left.sort_by(|a, b| (file_role(&a.rel), &a.rel).cmp(&(file_role(&b.rel), &b.rel)));
    let mut renamed_to: BTreeMap<String, String> = BTreeMap::new();
    for h in head_left {
        let head_key = layout.migration_key(&h.rel);
        let head_name = h.rel.rsplit('/').next();
        let best = base_left
            .iter()
            .enumerate()
            .filter(|(i, b)| !used[*i] && b.sha256 == h.sha256)
            .max_by_key(|(i, b)| {
                let base_key = layout.migration_key(&b.rel);
                let score = 4 * u8::from(renamed_to.get(&head_key) == Some(&base_key))
                    + 2 * u8::from(b.rel.rsplit('/').next() == head_name)
                    + u8::from(file_role(&b.rel) == file_role(&h.rel));
                (score, std::cmp::Reverse(*i))
            });
        if let Some((i, b)) = best {
            used[i] = true;
            renamed_to
                .entry(head_key.clone())
                .or_insert_with(|| layout.migration_key(&b.rel));
            files.push(FileComparison {
                path: h.full.clone(),
                state: FileState::Renamed,
                base_path: Some(b.full.clone()),
                base_sha256: Some(b.sha256.clone()),
                head_sha256: Some(h.sha256.clone()),
                whitespace_only: false,
                version: text(&h.rel),
                repeatable: repeatable(&h.rel),
            });
            continue;
        }
        let head_version = version(&h.rel);
        let out_of_order = !base_keys.contains(&head_key)
            && matches!((&head_version, &highest), (Some(v), Some(max)) if !v.is_repeatable() && v <= max);
        files.push(FileComparison {
            path: h.full.clone(),
            state: if out_of_order {
                FileState::OutOfOrder
            } else {
                FileState::Added
            },
            base_path: None,
            base_sha256: None,
            head_sha256: Some(h.sha256.clone()),
            whitespace_only: false,
            repeatable: head_version.as_ref().is_some_and(Version::is_repeatable),
            version: head_version.map(|v| v.text),
        });
    }
    for (b, _) in base_left.iter().zip(&used).filter(|(_, used)| !**used) {
        files.push(FileComparison {
            path: b.full.clone(),
            state: FileState::Deleted,
            base_path: None,
            base_sha256: Some(b.sha256.clone()),
            head_sha256: None,
            whitespace_only: false,
            version: text(&b.rel),
            repeatable: repeatable(&b.rel),
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    (files, highest)
}

/// Compares every migration file of `migrations_dir` (the working tree, as on disk) with the
/// same directory at the merge-base of HEAD and `base_ref`, read with `git` (fetching from
/// `origin` what a shallow or single-branch clone lacks), or through `remote` when git cannot
/// get the base. Nothing in the working tree or the index changes.
pub fn compare_with_base(
    migrations_dir: &Path,
    layout: &Layout,
    base_ref: &str,
    remote: Option<&dyn RemoteBase>,
) -> Result<Comparison, ChecksumError> {
    let listed = list_migration_files(migrations_dir, layout)?;
    let repo = git::Repo::locate(migrations_dir)?;
    let dir = repo.prefix.clone();
    // Hashing the working tree and asking git for the base are independent: overlap them.
    let (head, base) = std::thread::scope(|scope| {
        let head = scope.spawn(|| {
            listed
                .iter()
                .map(|file| Ok(Side::new(&file.rel, &dir, read_file(&file.path)?)))
                .collect::<Result<Vec<Side>, InputError>>()
        });
        let base = read_base(&repo, layout, base_ref, remote, &listed);
        let head = head
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (head, base)
    });
    let head = head?;
    let (base_commit, base_dir, base, via) = base?;

    let (files, highest) = classify(layout, &base, &head);
    Ok(Comparison {
        base_ref: base_ref.to_string(),
        base_commit,
        files,
        via,
        layout: layout.clone(),
        dir,
        base_dir,
        highest_base_version: highest.map(|v| v.text),
    })
}

/// The base's commit, migrations directory, migration files and how they were read.
type Base = (String, String, Vec<Side>, &'static str);

/// Reads the base side: with git (see [`compare_with_base`]), else through `remote`.
fn read_base(
    repo: &git::Repo,
    layout: &Layout,
    base_ref: &str,
    remote: Option<&dyn RemoteBase>,
    listed: &[DirFile],
) -> Result<Base, ChecksumError> {
    let dir = &repo.prefix;
    Ok(match repo.resolve_base(base_ref) {
        Ok(resolved) => {
            let in_dir = |entries: Vec<git::TreeEntry>, dir: &str| -> Vec<(String, String)> {
                entries
                    .into_iter()
                    .filter_map(|e| {
                        let rel = relative_to(&e.path, dir)?;
                        layout
                            .is_migration_path(rel)
                            .then(|| (rel.to_string(), e.oid))
                    })
                    .collect()
            };
            let mut base_dir = dir.clone();
            let mut entries = in_dir(repo.ls_tree(&resolved.commit, dir)?, dir);
            if entries.is_empty() && !listed.is_empty() {
                let pairs: Vec<(String, PathBuf)> = listed
                    .iter()
                    .map(|f| (f.rel.clone(), f.path.clone()))
                    .collect();
                if let Some((moved, moved_entries)) =
                    git::find_moved_dir(repo, &resolved.commit, &pairs)?
                {
                    entries = in_dir(moved_entries, &moved);
                    base_dir = moved;
                }
            }
            let oids: Vec<&str> = entries.iter().map(|(_, oid)| oid.as_str()).collect();
            let blobs = repo.read_blobs(&oids)?;
            let base: Vec<Side> = entries
                .iter()
                .zip(blobs)
                .map(|((rel, _), bytes)| Side::new(rel, &base_dir, bytes))
                .collect();
            let via = if resolved.fetched { "git fetch" } else { "git" };
            (resolved.commit, base_dir, base, via)
        }
        Err(git::Unresolved::Fatal(e)) => return Err(e),
        Err(git::Unresolved::GitCannot(reason)) => {
            let Some(remote) = remote else {
                return Err(ChecksumError::BaseUnavailable {
                    base_ref: base_ref.to_string(),
                    reason,
                });
            };
            let (commit, files) =
                remote
                    .files(base_ref, dir)
                    .map_err(|e| ChecksumError::BaseUnavailable {
                        base_ref: base_ref.to_string(),
                        reason: format!(
                            "{reason}; reading it through the GitHub API failed too: {e}"
                        ),
                    })?;
            let mut base: Vec<Side> = files
                .into_iter()
                .filter_map(|(path, bytes)| {
                    let rel = relative_to(&path, dir)?;
                    layout
                        .is_migration_path(rel)
                        .then(|| Side::new(rel, dir, bytes))
                })
                .collect();
            base.sort_by(|a, b| a.rel.cmp(&b.rel));
            base.dedup_by(|a, b| a.rel == b.rel);
            (commit, dir.clone(), base, "github api")
        }
    })
}

/// Versions whose migrations are under verification: added, out_of_order, modified (any of its files).
pub fn versions_to_verify(comparison: &Comparison) -> BTreeSet<String> {
    comparison
        .files
        .iter()
        .filter(|f| {
            matches!(
                f.state,
                FileState::Added | FileState::OutOfOrder | FileState::Modified
            )
        })
        .filter_map(|f| f.version.clone())
        .collect()
}

/// A file whose change a gate reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateFinding {
    /// Error or warning, never ignore.
    pub level: GateLevel,
    /// The file's path (as in [`FileComparison::path`]).
    pub path: String,
    /// The file's state.
    pub state: FileState,
    /// What happened and why it matters, for the report.
    pub message: String,
}

/// The first characters of a hash, for messages.
fn short(hash: Option<&String>) -> String {
    let hash = hash.map_or("?", String::as_str);
    format!("{}…", hash.get(..7).unwrap_or(hash))
}

/// The message of a gate finding for `file`.
fn finding_message(comparison: &Comparison, file: &FileComparison) -> String {
    let path = &file.path;
    let base = short(file.base_sha256.as_ref());
    let head = short(file.head_sha256.as_ref());
    match file.state {
        FileState::Modified => {
            let moved = file
                .base_path
                .as_ref()
                .map(|b| format!(" (moved from {b})"))
                .unwrap_or_default();
            let detail = if file.whitespace_only {
                "only whitespace/line endings changed"
            } else {
                "databases that already applied it will never run the new content"
            };
            format!(
                "{path}{moved} was modified after it was merged (base {base} → head {head}); {detail}"
            )
        }
        FileState::Deleted => format!(
            "{path} was deleted after it was merged (base {base}); databases that applied it \
             keep its effects and the migration tool may report it missing"
        ),
        FileState::Renamed => {
            let from = file.base_path.as_deref().unwrap_or("?");
            let old_version = file
                .base_path
                .as_deref()
                .and_then(|p| relative_to(p, &comparison.base_dir))
                .and_then(|rel| comparison.layout.version_of_path(rel))
                .map(|v| v.text);
            let version_note = match (&old_version, &file.version) {
                (Some(old), Some(new)) if old != new => format!(
                    "; its version changed from {old} to {new}, so the migration tool will \
                     see a new migration and apply it again"
                ),
                _ => String::new(),
            };
            format!(
                "{path} was renamed from {from} after it was merged (content unchanged, \
                 {head}){version_note}"
            )
        }
        FileState::OutOfOrder => {
            let version = file.version.as_deref().unwrap_or("?");
            let max = comparison.highest_base_version.as_deref().unwrap_or("?");
            format!(
                "{path} was added with version {version}, not above the highest version on the \
                 base branch ({max}); most migration tools skip such a migration on databases \
                 that already applied {max}: give it a version above {max}"
            )
        }
        FileState::Unchanged | FileState::Added => format!("{path} is {}", file.state.as_str()),
    }
}

/// The findings the gates give for a comparison, in file order. Unchanged and added files
/// never give one; a level of ignore gives none.
pub fn apply_gates(comparison: &Comparison, gates: &Gates) -> Vec<GateFinding> {
    comparison
        .files
        .iter()
        .filter_map(|file| {
            let level = match file.state {
                FileState::Unchanged | FileState::Added => return None,
                FileState::Modified if file.repeatable => return None,
                FileState::Modified if file.whitespace_only => {
                    gates.modified.lower(gates.whitespace_only)
                }
                FileState::Modified => gates.modified,
                FileState::Deleted => gates.deleted,
                FileState::Renamed => gates.renamed,
                FileState::OutOfOrder => gates.out_of_order,
            };
            (level != GateLevel::Ignore).then(|| GateFinding {
                level,
                path: file.path.clone(),
                state: file.state,
                message: finding_message(comparison, file),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::{Format, dbmate, diesel, golang_migrate, sqlx};
    use std::process::Command;

    const D: &str = "db/migrations";

    /// Runs git for test setup, with a neutral configuration and an identity.
    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("LC_ALL", "C")
            .env("GIT_TERMINAL_PROMPT", "0")
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
            .args(["-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"])
            .args(args)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// A repository in a temporary directory.
    struct TestRepo {
        tmp: tempfile::TempDir,
        root: PathBuf,
    }

    impl TestRepo {
        fn new() -> TestRepo {
            let tmp = tempfile::TempDir::new().unwrap();
            let root = tmp.path().join("origin");
            fs::create_dir(&root).unwrap();
            git(&root, &["init", "-q", "-b", "main"]);
            TestRepo { tmp, root }
        }

        /// A shallow single-branch clone of `branch` (depth 1) over file://.
        fn shallow_clone(&self, branch: &str) -> PathBuf {
            let dest = self.tmp.path().join(format!("clone-{branch}"));
            let url = format!("file://{}", self.root.display());
            git(
                self.tmp.path(),
                &[
                    "clone",
                    "-q",
                    "--depth",
                    "1",
                    "--single-branch",
                    "--branch",
                    branch,
                    &url,
                    dest.to_str().unwrap(),
                ],
            );
            assert_eq!(
                git(&dest, &["rev-parse", "--is-shallow-repository"]),
                "true"
            );
            dest
        }

        fn write(&self, rel: &str, contents: impl AsRef<[u8]>) {
            crate::migrations::test_util::write(&self.root, rel, contents);
        }

        fn remove(&self, rel: &str) {
            fs::remove_file(self.root.join(rel)).unwrap();
        }

        fn git(&self, args: &[&str]) -> String {
            git(&self.root, args)
        }

        fn commit(&self, message: &str) {
            self.git(&["add", "-A"]);
            self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        }
    }

    /// A fallback that returns fixed files, or fails.
    struct FakeRemote {
        files: Vec<(String, Vec<u8>)>,
        fail: bool,
    }

    impl RemoteBase for FakeRemote {
        #[allow(clippy::type_complexity)]
        fn files(
            &self,
            reference: &str,
            dir: &str,
        ) -> Result<(String, Vec<(String, Vec<u8>)>), String> {
            assert_eq!((reference, dir), ("main", D));
            if self.fail {
                return Err("HTTP 401 Bad credentials".to_string());
            }
            Ok(("f00d".to_string(), self.files.clone()))
        }
    }

    fn states(c: &Comparison) -> Vec<(&str, FileState, Option<&str>)> {
        c.files
            .iter()
            .map(|f| (f.path.as_str(), f.state, f.base_path.as_deref()))
            .collect()
    }

    fn pair(r: &TestRepo, version: u32, name: &str) {
        r.write(
            &format!("{D}/{version}_{name}.up.sql"),
            format!("create table {name}();\n"),
        );
        r.write(
            &format!("{D}/{version}_{name}.down.sql"),
            format!("drop table {name};\n"),
        );
    }

    /// The acceptance scenario: main has 10, 20, 30, 40; the PR branch `feature` edits
    /// 20's up, renames the 30 pair, adds 50 and adds 15 (below 40). main moves on with 45
    /// after the branch point, which the merge-base leaves out.
    fn acceptance_repo() -> TestRepo {
        let r = TestRepo::new();
        for (version, name) in [(10, "users"), (20, "posts"), (30, "tags"), (40, "likes")] {
            pair(&r, version, name);
            r.commit(&format!("add {name}"));
        }
        r.write("README.md", "project");
        r.write(&format!("{D}/README.md"), "how to write migrations");
        r.commit("docs");
        r.git(&["checkout", "-q", "-b", "feature"]);
        r.write(
            &format!("{D}/20_posts.up.sql"),
            "create table posts(id int);\n",
        );
        r.commit("edit merged migration");
        for suffix in ["up", "down"] {
            r.git(&[
                "mv",
                &format!("{D}/30_tags.{suffix}.sql"),
                &format!("{D}/30_labels.{suffix}.sql"),
            ]);
        }
        r.commit("rename");
        pair(&r, 50, "new");
        r.commit("new migration");
        pair(&r, 15, "late");
        r.commit("old version");
        r.git(&["checkout", "-q", "main"]);
        r.write(&format!("{D}/45_main_only.up.sql"), "select 45;\n");
        r.commit("main moves on");
        r.git(&["checkout", "-q", "feature"]);
        r
    }

    fn assert_acceptance(c: &Comparison) {
        use FileState::*;
        let p = |rel: &str| format!("{D}/{rel}");
        let expected: Vec<(String, FileState, Option<String>)> = vec![
            (p("10_users.down.sql"), Unchanged, None),
            (p("10_users.up.sql"), Unchanged, None),
            (p("15_late.down.sql"), OutOfOrder, None),
            (p("15_late.up.sql"), OutOfOrder, None),
            (p("20_posts.down.sql"), Unchanged, None),
            (p("20_posts.up.sql"), Modified, None),
            (
                p("30_labels.down.sql"),
                Renamed,
                Some(p("30_tags.down.sql")),
            ),
            (p("30_labels.up.sql"), Renamed, Some(p("30_tags.up.sql"))),
            (p("40_likes.down.sql"), Unchanged, None),
            (p("40_likes.up.sql"), Unchanged, None),
            (p("50_new.down.sql"), Added, None),
            (p("50_new.up.sql"), Added, None),
        ];
        let got: Vec<(String, FileState, Option<String>)> = c
            .files
            .iter()
            .map(|f| (f.path.clone(), f.state, f.base_path.clone()))
            .collect();
        assert_eq!(got, expected);
        let verify: Vec<String> = versions_to_verify(c).into_iter().collect();
        assert_eq!(verify, ["15", "20", "50"]);
        assert_eq!(c.highest_base_version.as_deref(), Some("40"));
        assert_eq!((c.dir.as_str(), c.base_dir.as_str()), (D, D));
        let modified = &c.files[5];
        assert_eq!(
            modified.base_sha256.as_deref(),
            Some(sha256_hex(b"create table posts();\n").as_str())
        );
        assert_eq!(
            modified.head_sha256.as_deref(),
            Some(sha256_hex(b"create table posts(id int);\n").as_str())
        );
        assert!(!modified.whitespace_only);
        assert_eq!(modified.version.as_deref(), Some("20"));
        assert_eq!(c.files[6].version.as_deref(), Some("30"));
    }

    #[test]
    fn acceptance_full_clone() {
        let r = acceptance_repo();
        let merge_base = r.git(&["merge-base", "HEAD", "main"]);
        let c =
            compare_with_base(&r.root.join(D), &Layout::plain(sqlx::FORMAT), "main", None).unwrap();
        assert_eq!(c.via, "git");
        assert_eq!(c.base_ref, "main");
        assert_eq!(c.base_commit, merge_base);
        assert_acceptance(&c);
    }

    #[test]
    fn acceptance_shallow_single_branch_clone() {
        let r = acceptance_repo();
        let merge_base = r.git(&["merge-base", "feature", "main"]);
        let clone = r.shallow_clone("feature");
        let status = git(&clone, &["status", "--porcelain"]);
        let index = fs::read(clone.join(".git/index")).unwrap();
        let head = git(&clone, &["rev-parse", "HEAD"]);

        let c =
            compare_with_base(&clone.join(D), &Layout::plain(sqlx::FORMAT), "main", None).unwrap();
        assert_eq!(c.via, "git fetch");
        assert_eq!(c.base_commit, merge_base);
        assert_acceptance(&c);
        // Nothing but history was added: same HEAD, index and working tree.
        assert_eq!(git(&clone, &["status", "--porcelain"]), status);
        assert_eq!(fs::read(clone.join(".git/index")).unwrap(), index);
        assert_eq!(git(&clone, &["rev-parse", "HEAD"]), head);

        // Now origin/main is known: no fetch needed, and `origin/main` names it too.
        let again = compare_with_base(
            &clone.join(D),
            &Layout::plain(sqlx::FORMAT),
            "origin/main",
            None,
        )
        .unwrap();
        assert_eq!(again.via, "git");
        assert_eq!(again.files, c.files);
    }

    #[test]
    fn shallow_clone_base_by_sha_and_relative_dir() {
        let r = acceptance_repo();
        let main = r.git(&["rev-parse", "main"]);
        let clone = r.shallow_clone("feature");
        let c =
            compare_with_base(&clone.join(D), &Layout::plain(sqlx::FORMAT), &main, None).unwrap();
        assert_eq!(c.via, "git fetch");
        assert_acceptance(&c);
    }

    #[test]
    fn detached_head() {
        let r = acceptance_repo();
        let feature = r.git(&["rev-parse", "feature"]);
        r.git(&["checkout", "-q", "--detach", &feature]);
        let c =
            compare_with_base(&r.root.join(D), &Layout::plain(sqlx::FORMAT), "main", None).unwrap();
        assert_acceptance(&c);
        let clone = r.shallow_clone("feature");
        git(&clone, &["checkout", "-q", "--detach", "HEAD"]);
        let c =
            compare_with_base(&clone.join(D), &Layout::plain(sqlx::FORMAT), "main", None).unwrap();
        assert_acceptance(&c);
    }

    #[test]
    fn missing_base_without_origin_is_environment_error() {
        let r = acceptance_repo();
        let err = compare_with_base(
            &r.root.join(D),
            &Layout::plain(sqlx::FORMAT),
            "release",
            None,
        )
        .unwrap_err();
        assert!(
            matches!(err, ChecksumError::BaseUnavailable { .. }),
            "{err:?}"
        );
        assert!(err.is_environment());
        assert_eq!(err.exit_code(), 3);
        let message = err.to_string();
        assert!(
            message.contains(
                "fetch the base branch history: in actions/checkout set `fetch-depth: 0`"
            ),
            "{message}"
        );
        assert!(message.contains("git fetch origin release"), "{message}");
        assert!(message.contains("no `origin` remote"), "{message}");
    }

    #[test]
    fn unknown_ref_after_fetch() {
        let r = acceptance_repo();
        let clone = r.shallow_clone("feature");
        let err = compare_with_base(
            &clone.join(D),
            &Layout::plain(sqlx::FORMAT),
            "origin/mian",
            None,
        )
        .unwrap_err();
        assert!(matches!(err, ChecksumError::UnknownRef { .. }), "{err:?}");
        assert!(!err.is_environment());
        assert_eq!(err.exit_code(), 3);
        let message = err.to_string();
        assert!(message.contains("`origin/mian` was not found"), "{message}");
        assert!(message.contains("git fetch origin mian"), "{message}");
        assert!(message.contains("fetch-depth: 0"), "{message}");
        let err = compare_with_base(
            &clone.join(D),
            &Layout::plain(sqlx::FORMAT),
            "--upload-pack=x",
            None,
        );
        assert!(matches!(err, Err(ChecksumError::UnknownRef { .. })));
    }

    #[test]
    fn unfetchable_base_uses_remote_fallback() {
        let r = acceptance_repo();
        let clone = r.shallow_clone("feature");
        git(
            &clone,
            &["remote", "set-url", "origin", "file:///nonexistent/repo"],
        );
        let dir = clone.join(D);

        let err = compare_with_base(&dir, &Layout::plain(sqlx::FORMAT), "main", None).unwrap_err();
        assert!(
            matches!(err, ChecksumError::BaseUnavailable { .. }),
            "{err:?}"
        );
        assert!(err.is_environment());
        assert!(err.to_string().contains("fetch-depth: 0"));

        // The fallback returns main as the API sees it (10..40 plus a stray non-migration).
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for (version, name) in [(10, "users"), (20, "posts"), (30, "tags"), (40, "likes")] {
            files.push((
                format!("{D}/{version}_{name}.up.sql"),
                format!("create table {name}();\n").into_bytes(),
            ));
            files.push((
                format!("{D}/{version}_{name}.down.sql"),
                format!("drop table {name};\n").into_bytes(),
            ));
        }
        files.push((format!("{D}/README.md"), b"docs".to_vec()));
        let remote = FakeRemote { files, fail: false };
        let c =
            compare_with_base(&dir, &Layout::plain(sqlx::FORMAT), "main", Some(&remote)).unwrap();
        assert_eq!((c.via, c.base_commit.as_str()), ("github api", "f00d"));
        assert_acceptance(&c);

        let failing = FakeRemote {
            files: Vec::new(),
            fail: true,
        };
        let err = compare_with_base(&dir, &Layout::plain(sqlx::FORMAT), "main", Some(&failing))
            .unwrap_err();
        assert!(err.is_environment());
        let message = err.to_string();
        assert!(message.contains("Bad credentials"), "{message}");
        assert!(message.contains("fetch-depth: 0"), "{message}");
    }

    #[test]
    fn not_a_repository_and_missing_dir() {
        let t = tempfile::TempDir::new().unwrap();
        crate::migrations::test_util::write(t.path(), "1_a.up.sql", "select 1;");
        let err =
            compare_with_base(t.path(), &Layout::plain(sqlx::FORMAT), "main", None).unwrap_err();
        assert!(
            matches!(err, ChecksumError::NotARepository { .. }),
            "{err:?}"
        );
        assert!(err.is_environment());
        assert_eq!(err.exit_code(), 3);
        assert!(err.to_string().contains("not a git repository"), "{err}");

        let err = compare_with_base(
            &t.path().join("nope"),
            &Layout::plain(sqlx::FORMAT),
            "main",
            None,
        )
        .unwrap_err();
        assert!(matches!(err, ChecksumError::Input(_)));
        assert!(!err.is_environment());
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn moved_directory_reports_renames() {
        let r = TestRepo::new();
        pair(&r, 10, "users");
        pair(&r, 20, "posts");
        r.commit("base");
        r.git(&["checkout", "-q", "-b", "feature"]);
        r.git(&["mv", D, "migrations"]);
        r.write(
            "migrations/20_posts.up.sql",
            "create table posts(id int);\n",
        );
        r.write("migrations/30_tags.up.sql", "create table tags();\n");
        r.commit("move");
        let c = compare_with_base(
            &r.root.join("migrations"),
            &Layout::plain(sqlx::FORMAT),
            "main",
            None,
        )
        .unwrap();
        use FileState::*;
        assert_eq!(
            states(&c),
            [
                (
                    "migrations/10_users.down.sql",
                    Renamed,
                    Some("db/migrations/10_users.down.sql")
                ),
                (
                    "migrations/10_users.up.sql",
                    Renamed,
                    Some("db/migrations/10_users.up.sql")
                ),
                (
                    "migrations/20_posts.down.sql",
                    Renamed,
                    Some("db/migrations/20_posts.down.sql")
                ),
                (
                    "migrations/20_posts.up.sql",
                    Modified,
                    Some("db/migrations/20_posts.up.sql")
                ),
                ("migrations/30_tags.up.sql", Added, None),
            ]
        );
        assert_eq!((c.dir.as_str(), c.base_dir.as_str()), ("migrations", D));
        let findings = apply_gates(&c, &Gates::default());
        assert!(
            findings[3]
                .message
                .contains("(moved from db/migrations/20_posts.up.sql) was modified"),
            "{}",
            findings[3].message
        );
        assert!(!findings[0].message.contains("version changed"));
    }

    #[test]
    fn new_directory_is_all_added() {
        let r = TestRepo::new();
        r.write("src/main.rs", "fn main() {}");
        r.commit("base");
        r.git(&["checkout", "-q", "-b", "feature"]);
        pair(&r, 1, "first");
        r.commit("migrations");
        let c =
            compare_with_base(&r.root.join(D), &Layout::plain(sqlx::FORMAT), "main", None).unwrap();
        assert!(c.files.iter().all(|f| f.state == FileState::Added));
        assert_eq!(c.files.len(), 2);
        assert_eq!(c.highest_base_version, None);
    }

    #[test]
    fn crlf_only_edit_is_whitespace_only_modification() {
        let r = TestRepo::new();
        r.write(&format!("{D}/1_a.up.sql"), "select 1;\nselect 2;\n");
        r.write(&format!("{D}/2_b.up.sql"), "select 1;\n");
        r.write(&format!("{D}/3_c.up.sql"), "select 1;\n  select 2;\n");
        r.commit("base");
        r.git(&["checkout", "-q", "-b", "feature"]);
        r.write(
            &format!("{D}/1_a.up.sql"),
            "select 1;\r\nselect 2;  \r\n\r\n",
        );
        r.write(&format!("{D}/2_b.up.sql"), "select 2;\n");
        r.write(&format!("{D}/3_c.up.sql"), "select 1;\nselect 2;\n");
        r.commit("crlf");
        let c =
            compare_with_base(&r.root.join(D), &Layout::plain(sqlx::FORMAT), "main", None).unwrap();
        let ws: Vec<(FileState, bool)> = c
            .files
            .iter()
            .map(|f| (f.state, f.whitespace_only))
            .collect();
        assert_eq!(
            ws,
            [
                (FileState::Modified, true),
                (FileState::Modified, false),
                // Indentation is not trailing whitespace.
                (FileState::Modified, false),
            ]
        );

        let levels = |gates: Gates| -> Vec<(String, GateLevel)> {
            apply_gates(&c, &gates)
                .into_iter()
                .map(|f| (f.path, f.level))
                .collect()
        };
        let a = format!("{D}/1_a.up.sql");
        let b = format!("{D}/2_b.up.sql");
        let cc = format!("{D}/3_c.up.sql");
        use GateLevel::*;
        assert_eq!(
            levels(Gates::default()),
            [(a.clone(), Error), (b.clone(), Error), (cc.clone(), Error)]
        );
        let gates = Gates {
            whitespace_only: Warning,
            ..Gates::default()
        };
        assert_eq!(
            levels(gates),
            [
                (a.clone(), Warning),
                (b.clone(), Error),
                (cc.clone(), Error)
            ]
        );
        let gates = Gates {
            whitespace_only: Ignore,
            ..Gates::default()
        };
        assert_eq!(levels(gates), [(b.clone(), Error), (cc.clone(), Error)]);
        // Whitespace-only counts like modified unless set lower: modified=warning wins.
        let gates = Gates {
            modified: Warning,
            ..Gates::default()
        };
        assert_eq!(
            levels(gates),
            [(a.clone(), Warning), (b.clone(), Warning), (cc, Warning)]
        );
        let finding = &apply_gates(&c, &Gates::default())[0];
        let base = sha256_hex(b"select 1;\nselect 2;\n");
        assert_eq!(
            finding.message,
            format!(
                "{a} was modified after it was merged (base {}… → head {}…); only \
                 whitespace/line endings changed",
                &base[..7],
                &c.files[0].head_sha256.as_ref().unwrap()[..7]
            )
        );
    }

    #[test]
    fn names_with_spaces_and_non_ascii() {
        let r = TestRepo::new();
        r.write(
            &format!("{D}/1_create café.up.sql"),
            "create table café();\n",
        );
        r.write(&format!("{D}/2_with space.up.sql"), "select 2;\n");
        r.write(&format!("{D}/3_日本.up.sql"), "select 3;\n");
        r.write(&format!("{D}/4_tab\there.up.sql"), "select 4;\n");
        r.commit("base");
        r.git(&["checkout", "-q", "-b", "feature"]);
        r.write(&format!("{D}/2_with space.up.sql"), "select 22;\n");
        r.git(&[
            "mv",
            &format!("{D}/3_日本.up.sql"),
            &format!("{D}/3_日本語.up.sql"),
        ]);
        r.write(&format!("{D}/5_naïve \"name\".up.sql"), "select 5;\n");
        r.commit("edits");
        let clone = r.shallow_clone("feature");
        for dir in [r.root.join(D), clone.join(D)] {
            let c = compare_with_base(&dir, &Layout::plain(sqlx::FORMAT), "main", None).unwrap();
            use FileState::*;
            let p = |rel: &str| format!("{D}/{rel}");
            assert_eq!(
                states(&c),
                [
                    (p("1_create café.up.sql").as_str(), Unchanged, None),
                    (p("2_with space.up.sql").as_str(), Modified, None),
                    (
                        p("3_日本語.up.sql").as_str(),
                        Renamed,
                        Some(p("3_日本.up.sql").as_str())
                    ),
                    (p("4_tab\there.up.sql").as_str(), Unchanged, None),
                    (p("5_naïve \"name\".up.sql").as_str(), Added, None),
                ]
            );
        }
    }

    #[test]
    fn deleted_files_and_gate_levels() {
        let r = TestRepo::new();
        pair(&r, 1, "a");
        pair(&r, 2, "b");
        pair(&r, 3, "c");
        r.commit("base");
        r.git(&["checkout", "-q", "-b", "feature"]);
        r.remove(&format!("{D}/3_c.down.sql"));
        r.remove(&format!("{D}/3_c.up.sql"));
        r.write(&format!("{D}/2_b.up.sql"), "create table b(x int);\n");
        for suffix in ["up", "down"] {
            r.git(&[
                "mv",
                &format!("{D}/1_a.{suffix}.sql"),
                &format!("{D}/4_a.{suffix}.sql"),
            ]);
        }
        pair(&r, 0, "zero");
        r.commit("changes");
        let c =
            compare_with_base(&r.root.join(D), &Layout::plain(sqlx::FORMAT), "main", None).unwrap();
        use FileState::*;
        let p = |rel: &str| format!("{D}/{rel}");
        let got: Vec<(String, FileState)> =
            c.files.iter().map(|f| (f.path.clone(), f.state)).collect();
        assert_eq!(
            got,
            [
                (p("0_zero.down.sql"), OutOfOrder),
                (p("0_zero.up.sql"), OutOfOrder),
                (p("2_b.down.sql"), Unchanged),
                (p("2_b.up.sql"), Modified),
                (p("3_c.down.sql"), Deleted),
                (p("3_c.up.sql"), Deleted),
                (p("4_a.down.sql"), Renamed),
                (p("4_a.up.sql"), Renamed),
            ]
        );
        let deleted = &c.files[4];
        assert_eq!(deleted.head_sha256, None);
        assert_eq!(deleted.version.as_deref(), Some("3"));
        assert_eq!(
            versions_to_verify(&c).into_iter().collect::<Vec<_>>(),
            ["0", "2"]
        );

        let findings = apply_gates(&c, &Gates::default());
        let summary: Vec<(FileState, GateLevel)> =
            findings.iter().map(|f| (f.state, f.level)).collect();
        use GateLevel::*;
        assert_eq!(
            summary,
            [
                (OutOfOrder, Error),
                (OutOfOrder, Error),
                (Modified, Error),
                (Deleted, Error),
                (Deleted, Error),
                (Renamed, Warning),
                (Renamed, Warning),
            ]
        );
        assert!(findings[0].message.contains(
            "was added with version 0, not above the highest version on the base branch (3)"
        ));
        assert!(
            findings[3]
                .message
                .contains("was deleted after it was merged")
        );
        assert!(
            findings[5]
                .message
                .contains("its version changed from 1 to 4"),
            "{}",
            findings[5].message
        );
        assert!(
            findings[5]
                .message
                .contains("renamed from db/migrations/1_a.down.sql")
        );

        let all = |level| Gates {
            modified: level,
            deleted: level,
            out_of_order: level,
            renamed: level,
            whitespace_only: level,
        };
        assert!(apply_gates(&c, &all(Ignore)).is_empty());
        assert!(
            apply_gates(&c, &all(Warning))
                .iter()
                .all(|f| f.level == Warning)
        );
        assert_eq!(apply_gates(&c, &all(Error)).len(), 7);
    }

    #[test]
    fn gates_from_toml() {
        let gates: Gates =
            toml::from_str("renamed = \"error\"\nwhitespace_only = \"ignore\"\n").unwrap();
        assert_eq!(
            gates,
            Gates {
                renamed: GateLevel::Error,
                whitespace_only: GateLevel::Ignore,
                ..Gates::default()
            }
        );
        assert_eq!(toml::from_str::<Gates>("").unwrap(), Gates::default());
        assert!(toml::from_str::<Gates>("modifed = \"error\"").is_err());
        assert!(toml::from_str::<Gates>("modified = \"fatal\"").is_err());
        assert_eq!(GateLevel::Warning.as_str(), "warning");
    }

    #[test]
    fn state_names() {
        for (state, name) in [
            (FileState::Unchanged, "unchanged"),
            (FileState::Added, "added"),
            (FileState::Modified, "modified"),
            (FileState::Deleted, "deleted"),
            (FileState::Renamed, "renamed"),
            (FileState::OutOfOrder, "out_of_order"),
        ] {
            assert_eq!(state.as_str(), name);
            assert_eq!(serde_json::to_value(state).unwrap(), name);
            let back: FileState = serde_json::from_value(name.into()).unwrap();
            assert_eq!(back, state);
        }
    }

    #[test]
    fn diesel_repository() {
        let r = TestRepo::new();
        let m = "migrations";
        r.write(
            &format!("{m}/2024-01-02-000000_users/up.sql"),
            "create table u();\n",
        );
        r.write(
            &format!("{m}/2024-01-02-000000_users/down.sql"),
            "drop table u;\n",
        );
        r.write(
            &format!("{m}/2024-03-01-000000_posts/up.sql"),
            "create table p();\n",
        );
        r.write(
            &format!("{m}/2024-03-01-000000_posts/README.md"),
            "ignored\n",
        );
        r.write(&format!("{m}/.keep"), "");
        r.commit("base");
        r.git(&["checkout", "-q", "-b", "feature"]);
        r.write(
            &format!("{m}/2024-03-01-000000_posts/metadata.toml"),
            "run_in_transaction = false\n",
        );
        r.write(&format!("{m}/2024-02-01-000000_late/up.sql"), "select 1;\n");
        r.write(&format!("{m}/2024-04-01-000000_next/up.sql"), "select 2;\n");
        r.write(
            &format!("{m}/2024-03-01-000000_posts/README.md"),
            "changed\n",
        );
        r.commit("feature");
        let c = compare_with_base(
            &r.root.join(m),
            &Layout::plain(diesel::FORMAT),
            "main",
            None,
        )
        .unwrap();
        let got: Vec<(&str, FileState, Option<&str>)> = c
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.state, f.version.as_deref()))
            .collect();
        use FileState::*;
        assert_eq!(
            got,
            [
                (
                    "migrations/2024-01-02-000000_users/down.sql",
                    Unchanged,
                    Some("2024-01-02-000000")
                ),
                (
                    "migrations/2024-01-02-000000_users/up.sql",
                    Unchanged,
                    Some("2024-01-02-000000")
                ),
                (
                    "migrations/2024-02-01-000000_late/up.sql",
                    OutOfOrder,
                    Some("2024-02-01-000000")
                ),
                // A new file of a merged migration is added, not out of order.
                (
                    "migrations/2024-03-01-000000_posts/metadata.toml",
                    Added,
                    Some("2024-03-01-000000")
                ),
                (
                    "migrations/2024-03-01-000000_posts/up.sql",
                    Unchanged,
                    Some("2024-03-01-000000")
                ),
                (
                    "migrations/2024-04-01-000000_next/up.sql",
                    Added,
                    Some("2024-04-01-000000")
                ),
            ]
        );
        assert_eq!(c.dir, "migrations");
    }

    #[test]
    fn migrations_dir_at_repository_root() {
        let r = TestRepo::new();
        r.write("1_a.sql", "-- migrate:up\nselect 1;\n");
        r.write("9_b.sql", "-- migrate:up\nselect 9;\n");
        r.commit("base");
        r.git(&["checkout", "-q", "-b", "feature"]);
        // dbmate orders versions as strings: "10" sorts before "9", so it is out of order.
        r.write("10_c.sql", "-- migrate:up\nselect 10;\n");
        r.commit("feature");
        let c = compare_with_base(&r.root, &Layout::plain(dbmate::FORMAT), "main", None).unwrap();
        assert_eq!(
            states(&c),
            [
                ("10_c.sql", FileState::OutOfOrder, None),
                ("1_a.sql", FileState::Unchanged, None),
                ("9_b.sql", FileState::Unchanged, None),
            ]
        );
        assert_eq!(c.dir, "");
    }

    fn side(rel: &str, contents: &str) -> Side {
        Side::new(rel, D, contents.as_bytes().to_vec())
    }

    #[test]
    fn renamed_pair_stays_paired_with_identical_downs() {
        // Two merged migrations with the same (empty) down; the PR renames 2's pair.
        let base = [
            side("1_a.up.sql", "create table a();"),
            side("1_a.down.sql", ""),
            side("2_b.up.sql", "create table b();"),
            side("2_b.down.sql", ""),
        ];
        let head = [
            side("1_a.up.sql", "create table a();"),
            side("2_bee.up.sql", "create table b();"),
            side("2_bee.down.sql", ""),
        ];
        let (files, highest) = classify(&Layout::plain(sqlx::FORMAT), &base, &head);
        assert_eq!(highest.map(|v| v.text).as_deref(), Some("2"));
        let got: Vec<(&str, FileState, Option<&str>)> = files
            .iter()
            .map(|f| (f.path.as_str(), f.state, f.base_path.as_deref()))
            .collect();
        let p = |rel: &str| format!("{D}/{rel}");
        assert_eq!(
            got,
            [
                (p("1_a.down.sql").as_str(), FileState::Deleted, None),
                (p("1_a.up.sql").as_str(), FileState::Unchanged, None),
                (
                    p("2_bee.down.sql").as_str(),
                    FileState::Renamed,
                    Some(p("2_b.down.sql").as_str())
                ),
                (
                    p("2_bee.up.sql").as_str(),
                    FileState::Renamed,
                    Some(p("2_b.up.sql").as_str())
                ),
            ]
        );
    }

    #[test]
    fn version_parsing_per_format() {
        let v = |rel: &str, f: Format| Layout::plain(f).version_of_path(rel).map(|v| v.text);
        assert_eq!(
            v("20240101_a.up.sql", sqlx::FORMAT).as_deref(),
            Some("20240101")
        );
        assert_eq!(v("007_a.sql", sqlx::FORMAT).as_deref(), Some("007"));
        assert_eq!(v("99999999999999999999_a.up.sql", sqlx::FORMAT), None);
        assert_eq!(
            v("18446744073709551615_a.up.sql", golang_migrate::FORMAT).as_deref(),
            Some("18446744073709551615")
        );
        assert_eq!(v("a_1.sql", sqlx::FORMAT), None);
        assert_eq!(v("1_a.txt", sqlx::FORMAT), None);
        assert_eq!(v("sub/1_a.sql", dbmate::FORMAT), None);
        assert_eq!(
            v("2024-01-02-030405_users/up.sql", diesel::FORMAT).as_deref(),
            Some("2024-01-02-030405")
        );
        assert_eq!(v("2024-01-02-030405_users/other.sql", diesel::FORMAT), None);
        assert_eq!(v("1_a.sql", diesel::FORMAT), None);
        // Ordering follows each format: numeric for sqlx, text for dbmate, dashes dropped
        // for diesel.
        let order = |a: &str, b: &str, f: Format| {
            Layout::plain(f).version_of_path(a).unwrap()
                < Layout::plain(f).version_of_path(b).unwrap()
        };
        assert!(order("9_a.sql", "10_b.sql", sqlx::FORMAT));
        assert!(order("10_b.sql", "9_a.sql", dbmate::FORMAT));
        assert!(order(
            "2024-01-02_a/up.sql",
            "20240103_b/up.sql",
            diesel::FORMAT
        ));
        assert!(!Layout::plain(sqlx::FORMAT).is_migration_path(".1_a.sql"));
        // diesel reads any directory, but not a hidden one.
        assert!(Layout::plain(diesel::FORMAT).is_migration_path("a_1/up.sql"));
        assert!(!Layout::plain(diesel::FORMAT).is_migration_path(".a_1/up.sql"));
    }

    #[test]
    fn whitespace_normalisation() {
        let n = |s: &str| String::from_utf8(normalize_whitespace(s.as_bytes())).unwrap();
        assert_eq!(n("a \t\r\nb\r\n\r\n\n"), "a\nb");
        assert_eq!(n("a\rb"), "a\nb");
        assert_eq!(n("  a"), "  a");
        assert_eq!(n(""), "");
    }
}
