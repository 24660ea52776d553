//! The `git` command line, and nothing else, is how the checksum comparison reads the base
//! branch: libgit2 would be a second implementation of shallow clones, partial clones,
//! credentials and `safe.directory` rules that disagrees with the user's own `git`. This leaf
//! runs `git` directly (never through a shell) with a fixed environment (`LC_ALL=C`,
//! `GIT_TERMINAL_PROMPT=0`, `GIT_CONFIG_NOSYSTEM=1`, literal pathspecs, `core.quotepath=off`)
//! and NUL-separated output, finds the repository, resolves the merge-base of HEAD and the base
//! reference (fetching only what is missing from `origin` in a shallow CI checkout), and reads
//! the base tree's blobs with one `git cat-file --batch`. It never touches the working tree or
//! the index; a fetch only adds objects and updates `refs/remotes/origin/*` or the shallow file.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;

use super::ChecksumError;

/// Fetch steps in a shallow repository, tried in order until a merge-base exists: the base
/// branch to a depth of 50, then both histories deepened by 100 and by 1000 more commits,
/// then the whole history.
const SHALLOW_STEPS: [&str; 4] = ["--depth=50", "--deepen=100", "--deepen=1000", "--unshallow"];

/// A `git` command with the fixed environment, run in `cwd`.
fn command(cwd: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(cwd)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_LITERAL_PATHSPECS", "1")
        .env("LC_ALL", "C")
        .args(["-c", "core.quotepath=off"])
        // The Action runs as root on a workspace owned by the runner's user;
        // git would refuse it as "dubious ownership". We only read objects.
        .args(["-c", "safe.directory=*"])
        .stdin(Stdio::null());
    cmd
}

/// The error for a `git` that could not be started at all.
fn spawn_error(args: &[&str], e: &io::Error) -> ChecksumError {
    let reason = if e.kind() == io::ErrorKind::NotFound {
        "git is not installed or not on PATH".to_string()
    } else {
        e.to_string()
    };
    ChecksumError::Git {
        command: args.join(" "),
        message: reason,
    }
}

/// The first lines of git's stderr, trimmed, for error messages.
fn stderr_text(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(4)
        .collect();
    if lines.is_empty() {
        format!("exited with {}", output.status)
    } else {
        lines.join("; ")
    }
}

/// One blob of a tree listing: its path relative to the repository root and its object id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeEntry {
    /// Path relative to the repository root, `/`-separated.
    pub path: String,
    /// The blob's object id (hex).
    pub oid: String,
}

/// The base commit that was found, and whether anything had to be fetched for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The merge-base of HEAD and the base reference.
    pub commit: String,
    /// True when `git fetch` ran.
    pub fetched: bool,
}

/// Why the base could not be resolved.
#[derive(Debug)]
pub(crate) enum Unresolved {
    /// Git cannot get the base here (no `origin`, fetch refused, no network): the caller may
    /// try another source. The text says what git could not do.
    GitCannot(String),
    /// A definite error (misspelled reference, unrelated histories, git broken).
    Fatal(ChecksumError),
}

impl From<ChecksumError> for Unresolved {
    fn from(e: ChecksumError) -> Self {
        Unresolved::Fatal(e)
    }
}

/// What to ask `origin` for to get a base reference.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FetchSpec {
    /// A branch: fetched into `refs/remotes/origin/<name>`.
    Branch(String),
    /// A tag: fetched into `refs/tags/<name>`.
    Tag(String),
    /// A full commit id, or another `refs/...` name: fetched into FETCH_HEAD only.
    Direct(String),
}

impl FetchSpec {
    /// How a `--base` value is fetched: `main`, `origin/main`, `refs/heads/main` and
    /// `refs/remotes/origin/main` name the branch `main` of `origin`.
    fn for_ref(reference: &str) -> FetchSpec {
        let is_full_oid = (reference.len() == 40 || reference.len() == 64)
            && reference.bytes().all(|b| b.is_ascii_hexdigit());
        if is_full_oid {
            return FetchSpec::Direct(reference.to_string());
        }
        for prefix in ["refs/remotes/origin/", "refs/heads/", "origin/"] {
            if let Some(name) = reference.strip_prefix(prefix) {
                return FetchSpec::Branch(name.to_string());
            }
        }
        if let Some(name) = reference.strip_prefix("refs/tags/") {
            return FetchSpec::Tag(name.to_string());
        }
        if reference.starts_with("refs/") {
            return FetchSpec::Direct(reference.to_string());
        }
        FetchSpec::Branch(reference.to_string())
    }

    /// The refspec argument of `git fetch`.
    fn refspec(&self) -> String {
        match self {
            FetchSpec::Branch(name) => format!("+refs/heads/{name}:refs/remotes/origin/{name}"),
            FetchSpec::Tag(name) => format!("+refs/tags/{name}:refs/tags/{name}"),
            FetchSpec::Direct(name) => name.clone(),
        }
    }

    /// The revision that names the fetched commit afterwards.
    fn fetched_rev(&self) -> String {
        match self {
            FetchSpec::Branch(name) => format!("refs/remotes/origin/{name}"),
            FetchSpec::Tag(name) => format!("refs/tags/{name}"),
            FetchSpec::Direct(name) if !name.starts_with("refs/") => name.clone(),
            FetchSpec::Direct(_) => "FETCH_HEAD".to_string(),
        }
    }
}

/// The `git fetch` command that brings `reference` into a clone, for error messages.
pub(crate) fn fetch_command(reference: &str) -> String {
    match FetchSpec::for_ref(reference) {
        FetchSpec::Branch(name) | FetchSpec::Direct(name) => format!("git fetch origin {name}"),
        FetchSpec::Tag(name) => format!("git fetch origin tag {name}"),
    }
}

/// How a `git fetch` failed.
enum FetchError {
    /// `origin` has no such reference.
    NoSuchRef(String),
    /// Anything else: network, credentials, a refusing server.
    Failed(String),
}

/// A git repository found from the migrations directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Repo {
    /// The top-level directory of the working tree.
    pub root: PathBuf,
    /// The migrations directory relative to `root`, `/`-separated, no trailing `/` (empty when
    /// the migrations directory is the root itself).
    pub prefix: String,
}

impl Repo {
    /// Finds the repository holding `dir` with `git rev-parse --show-toplevel --show-prefix`
    /// run inside it.
    pub(crate) fn locate(dir: &Path) -> Result<Repo, ChecksumError> {
        let args = ["rev-parse", "--show-toplevel", "--show-prefix"];
        let output = command(dir)
            .args(args)
            .output()
            .map_err(|e| spawn_error(&args, &e))?;
        if !output.status.success() {
            return Err(ChecksumError::NotARepository {
                dir: dir.to_path_buf(),
                reason: stderr_text(&output),
            });
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let mut lines = stdout.split('\n');
        let root = lines.next().unwrap_or_default();
        let prefix = lines.next().unwrap_or_default().trim_end_matches('/');
        if root.is_empty() {
            // A bare repository or the inside of `.git`: there is no working tree.
            return Err(ChecksumError::NotARepository {
                dir: dir.to_path_buf(),
                reason: "not inside a git working tree".to_string(),
            });
        }
        Ok(Repo {
            root: PathBuf::from(root),
            prefix: prefix.to_string(),
        })
    }

    /// Runs git in the repository root and returns its output, whatever the exit status.
    fn output(&self, args: &[&str]) -> Result<Output, ChecksumError> {
        command(&self.root)
            .args(args)
            .output()
            .map_err(|e| spawn_error(args, &e))
    }

    /// Runs git in the repository root; a non-zero exit is an error carrying git's stderr.
    fn stdout(&self, args: &[&str]) -> Result<Vec<u8>, ChecksumError> {
        let output = self.output(args)?;
        if !output.status.success() {
            return Err(ChecksumError::Git {
                command: args.join(" "),
                message: stderr_text(&output),
            });
        }
        Ok(output.stdout)
    }

    /// The commit a revision names, or None when it names none here.
    fn rev_parse_commit(&self, rev: &str) -> Result<Option<String>, ChecksumError> {
        let peeled = format!("{rev}^{{commit}}");
        let output = self.output(&[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &peeled,
        ])?;
        let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
        Ok((output.status.success() && !text.is_empty()).then_some(text))
    }

    /// The base reference's commit as it is known locally: the revision itself, or for a
    /// plain branch name without a local branch, `origin/<name>`.
    fn resolve_local(&self, reference: &str) -> Result<Option<String>, ChecksumError> {
        if let Some(commit) = self.rev_parse_commit(reference)? {
            return Ok(Some(commit));
        }
        if let FetchSpec::Branch(name) = FetchSpec::for_ref(reference) {
            return self.rev_parse_commit(&format!("refs/remotes/origin/{name}"));
        }
        Ok(None)
    }

    /// The merge-base of HEAD and `commit`, None when the local history has none.
    fn merge_base(&self, commit: &str) -> Result<Option<String>, ChecksumError> {
        let args = ["merge-base", "HEAD", commit];
        let output = self.output(&args)?;
        match output.status.code() {
            Some(0) => Ok(Some(
                String::from_utf8_lossy(&output.stdout).trim().to_string(),
            )),
            Some(1) => Ok(None),
            _ => Err(ChecksumError::Git {
                command: args.join(" "),
                message: stderr_text(&output),
            }),
        }
    }

    /// Whether the repository is a shallow clone.
    fn is_shallow(&self) -> Result<bool, ChecksumError> {
        let out = self.stdout(&["rev-parse", "--is-shallow-repository"])?;
        Ok(String::from_utf8_lossy(&out).trim() == "true")
    }

    /// Whether a remote named `origin` is configured.
    fn has_origin(&self) -> Result<bool, ChecksumError> {
        Ok(self
            .output(&["remote", "get-url", "origin"])?
            .status
            .success())
    }

    /// `git fetch` from origin with extra `options` and an optional refspec.
    fn fetch(&self, options: &[&str], refspec: Option<&str>) -> Result<(), FetchError> {
        let mut args = vec!["fetch", "--no-tags", "--no-recurse-submodules", "--quiet"];
        args.extend_from_slice(options);
        args.push("origin");
        args.extend(refspec);
        let output = self
            .output(&args)
            .map_err(|e| FetchError::Failed(e.to_string()))?;
        if output.status.success() {
            return Ok(());
        }
        let message = format!("`git {}` failed: {}", args.join(" "), stderr_text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("couldn't find remote ref") || stderr.contains("not our ref") {
            Err(FetchError::NoSuchRef(message))
        } else {
            Err(FetchError::Failed(message))
        }
    }

    /// Resolves the merge-base of HEAD and `reference`, fetching from `origin` what is
    /// missing: in a shallow clone in steps (see [`SHALLOW_STEPS`]), otherwise once.
    pub(crate) fn resolve_base(&self, reference: &str) -> Result<Resolved, Unresolved> {
        if reference.is_empty() || reference.starts_with('-') || reference.contains('\0') {
            return Err(Unresolved::Fatal(ChecksumError::UnknownRef {
                base_ref: reference.to_string(),
                reason: "not a valid reference name".to_string(),
            }));
        }
        let local = self.resolve_local(reference)?;
        if let Some(commit) = &local
            && let Some(base) = self.merge_base(commit)?
        {
            return Ok(Resolved {
                commit: base,
                fetched: false,
            });
        }
        let what = match &local {
            None => format!("`{reference}` is not in this clone"),
            Some(_) => format!("HEAD and `{reference}` have no common commit in this clone"),
        };
        if !self.has_origin()? {
            return Err(Unresolved::GitCannot(format!(
                "{what}, and there is no `origin` remote to fetch it from"
            )));
        }
        let spec = FetchSpec::for_ref(reference);
        let mut refspec = Some(spec.refspec());
        let steps: &[&str] = if self.is_shallow()? {
            &SHALLOW_STEPS
        } else {
            &[""]
        };
        let mut commit = local.clone();
        for step in steps {
            let options: Vec<&str> = [*step].into_iter().filter(|s| !s.is_empty()).collect();
            match self.fetch(&options, refspec.as_deref()) {
                Ok(()) => {}
                Err(FetchError::NoSuchRef(message)) => {
                    if local.is_none() {
                        return Err(Unresolved::Fatal(ChecksumError::UnknownRef {
                            base_ref: reference.to_string(),
                            reason: message,
                        }));
                    }
                    // Known here but not on origin: deepen with origin's default refspecs.
                    refspec = None;
                    if let Err(FetchError::Failed(message) | FetchError::NoSuchRef(message)) =
                        self.fetch(&options, None)
                    {
                        return Err(Unresolved::GitCannot(format!("{what}; {message}")));
                    }
                }
                Err(FetchError::Failed(message)) => {
                    return Err(Unresolved::GitCannot(format!("{what}; {message}")));
                }
            }
            if refspec.is_some() {
                commit = self
                    .rev_parse_commit(&spec.fetched_rev())?
                    .or(self.resolve_local(reference)?);
            }
            if let Some(commit) = &commit
                && let Some(base) = self.merge_base(commit)?
            {
                return Ok(Resolved {
                    commit: base,
                    fetched: true,
                });
            }
        }
        Err(Unresolved::Fatal(match commit {
            None => ChecksumError::UnknownRef {
                base_ref: reference.to_string(),
                reason: "fetched from origin but it names no commit".to_string(),
            },
            Some(commit) => ChecksumError::NoMergeBase {
                base_ref: reference.to_string(),
                commit,
            },
        }))
    }

    /// The blobs of `commit`'s tree under `dir` (relative to the root; empty for the whole
    /// tree), recursively, from `git ls-tree -r -z`. Submodules and trees are left out.
    pub(crate) fn ls_tree(&self, commit: &str, dir: &str) -> Result<Vec<TreeEntry>, ChecksumError> {
        let mut args = vec!["ls-tree", "-r", "-z", "--full-tree", commit];
        if !dir.is_empty() {
            args.push("--");
            args.push(dir);
        }
        let out = self.stdout(&args)?;
        let mut entries = Vec::new();
        for record in out.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            let Some(tab) = record.iter().position(|&b| b == b'\t') else {
                continue;
            };
            let meta = String::from_utf8_lossy(&record[..tab]);
            let mut fields = meta.split(' ');
            let (_mode, kind, oid) = (fields.next(), fields.next(), fields.next());
            let (Some("blob"), Some(oid)) = (kind, oid) else {
                continue;
            };
            entries.push(TreeEntry {
                path: String::from_utf8_lossy(&record[tab + 1..]).into_owned(),
                oid: oid.to_string(),
            });
        }
        Ok(entries)
    }

    /// The contents of blobs, in the order of `oids`, from one `git cat-file --batch`.
    pub(crate) fn read_blobs(&self, oids: &[&str]) -> Result<Vec<Vec<u8>>, ChecksumError> {
        let input: Vec<u8> =
            oids.iter()
                .flat_map(|o| [o.as_bytes(), b"\n"])
                .fold(Vec::new(), |mut acc, part| {
                    acc.extend_from_slice(part);
                    acc
                });
        let args = ["cat-file", "--batch", "--buffer"];
        piped(&self.root, &args, input, |out| {
            let mut reader = BufReader::new(out);
            let mut blobs = Vec::with_capacity(oids.len());
            let mut header = Vec::new();
            for oid in oids {
                header.clear();
                reader.read_until(b'\n', &mut header)?;
                let text = String::from_utf8_lossy(&header);
                let mut fields = text.trim_end().split(' ');
                let size = match (fields.next(), fields.next(), fields.next()) {
                    (Some(_), Some("blob"), Some(size)) => size.parse::<usize>().ok(),
                    _ => None,
                };
                let Some(size) = size else {
                    return Err(io::Error::other(format!(
                        "object {oid}: unexpected answer `{}`",
                        text.trim_end()
                    )));
                };
                let mut blob = vec![0; size + 1];
                reader.read_exact(&mut blob)?;
                blob.pop(); // the `\n` after each object
                blobs.push(blob);
            }
            Ok(blobs)
        })
    }

    /// Git's object ids of files on disk (as `git hash-object --no-filters` computes them,
    /// so they match the ids in trees of this repository's object format).
    pub(crate) fn hash_files(&self, paths: &[PathBuf]) -> Result<Vec<String>, ChecksumError> {
        let mut input = Vec::new();
        for path in paths {
            input.extend_from_slice(path.as_os_str().as_encoded_bytes());
            input.push(b'\n');
        }
        let args = ["hash-object", "--no-filters", "--stdin-paths"];
        let out = piped(&self.root, &args, input, |out| {
            let mut text = String::new();
            out.read_to_string(&mut text)?;
            Ok(text)
        })?;
        Ok(out.lines().map(str::to_string).collect())
    }
}

/// Runs git with `input` written to its stdin by a helper thread while `read` consumes its
/// stdout, so neither side can block the other on a full pipe.
fn piped<T>(
    cwd: &Path,
    args: &[&str],
    input: Vec<u8>,
    read: impl FnOnce(&mut std::process::ChildStdout) -> io::Result<T>,
) -> Result<T, ChecksumError> {
    let failed = |message: String| ChecksumError::Git {
        command: args.join(" "),
        message,
    };
    let mut child = command(cwd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(args, &e))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let writer = thread::spawn(move || stdin.write_all(&input));
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let err_reader = thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let result = read(&mut stdout);
    drop(stdout);
    let status = child.wait().map_err(|e| failed(e.to_string()))?;
    let written = writer.join().unwrap_or(Ok(()));
    let err_text = err_reader.join().unwrap_or_default();
    let err_text = String::from_utf8_lossy(&err_text).trim().to_string();
    if !status.success() {
        return Err(failed(if err_text.is_empty() {
            format!("exited with {status}")
        } else {
            err_text
        }));
    }
    let value = result.map_err(|e| failed(e.to_string()))?;
    written.map_err(|e| failed(format!("writing its input: {e}")))?;
    Ok(value)
}

/// Finds where the migrations directory was on the base when it is not at the head's path:
/// the base directory holding the most blobs identical (same git object id) to head files
/// under the same relative path. None when no head file's content is found on the base.
pub(crate) fn find_moved_dir(
    repo: &Repo,
    commit: &str,
    head: &[(String, PathBuf)],
) -> Result<Option<(String, Vec<TreeEntry>)>, ChecksumError> {
    let usable: Vec<&(String, PathBuf)> = head
        .iter()
        .filter(|(_, p)| !p.as_os_str().as_encoded_bytes().contains(&b'\n'))
        .collect();
    if usable.is_empty() {
        return Ok(None);
    }
    let absolute: Vec<PathBuf> = usable
        .iter()
        .map(|(_, p)| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let oids = repo.hash_files(&absolute)?;
    let mut by_oid: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for ((rel, _), oid) in usable.iter().zip(&oids) {
        by_oid.entry(oid.as_str()).or_default().push(rel.as_str());
    }
    let all = repo.ls_tree(commit, "")?;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for entry in &all {
        for rel in by_oid.get(entry.oid.as_str()).into_iter().flatten() {
            let dir = if entry.path == *rel {
                Some("")
            } else {
                entry
                    .path
                    .strip_suffix(rel)
                    .and_then(|d| d.strip_suffix('/'))
            };
            if let Some(dir) = dir {
                *counts.entry(dir.to_string()).or_default() += 1;
            }
        }
    }
    let Some((dir, _)) = counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
    else {
        return Ok(None);
    };
    let entries = all
        .into_iter()
        .filter(|e| super::relative_to(&e.path, &dir).is_some())
        .collect();
    Ok(Some((dir, entries)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_specs() {
        let b = |s: &str| FetchSpec::Branch(s.to_string());
        assert_eq!(FetchSpec::for_ref("main"), b("main"));
        assert_eq!(FetchSpec::for_ref("origin/main"), b("main"));
        assert_eq!(FetchSpec::for_ref("refs/heads/release/1"), b("release/1"));
        assert_eq!(FetchSpec::for_ref("refs/remotes/origin/x"), b("x"));
        assert_eq!(
            FetchSpec::for_ref("refs/tags/v1"),
            FetchSpec::Tag("v1".to_string())
        );
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(FetchSpec::for_ref(sha), FetchSpec::Direct(sha.to_string()));
        assert_eq!(FetchSpec::for_ref(sha).fetched_rev(), sha);
        let pull = FetchSpec::for_ref("refs/pull/1/head");
        assert_eq!(pull.refspec(), "refs/pull/1/head");
        assert_eq!(pull.fetched_rev(), "FETCH_HEAD");
        assert_eq!(
            b("main").refspec(),
            "+refs/heads/main:refs/remotes/origin/main"
        );
    }
}
