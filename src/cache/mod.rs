//! The on-disk cache: entries keyed by content, each a data directory with a manifest,
//! below `$XDG_CACHE_HOME/migration-check` (or `--cache-dir`). Two kinds live there:
//!
//! - [`cluster`]: the initdb template. `initdb` runs once per set of server binaries, and
//!   every later embedded cluster starts from a copy of that pristine data directory
//!   (initdb costs a second or more; the copy tens of milliseconds).
//! - [`base_state`]: the merged history in PR mode. The cluster as it stood after the
//!   migrations already merged, so a later check of the same base starts from it instead of
//!   re-applying them.
//!
//! Every entry is:
//! - **keyed by content and never shared across binaries.** Each kind's key starts from the
//!   binaries' identity; a key mismatch is never trusted (the manifest records the key).
//! - **safe under concurrent runs.** An entry is written under a temporary name and renamed
//!   into place whole; runs serialise on a lock file (`<key>.lock`, `flock`) while they look
//!   an entry up, copy it or write it, never while they verify.
//! - **safe against a half-written or damaged entry.** Each entry carries a manifest (the
//!   key, then every file with its size); an entry whose files do not match it is removed
//!   and rebuilt, with a warning on stderr.
//!
//! A cache that cannot be written (a read-only home) is not an error: the run goes on
//! without it, and a warning says why when the cache directory was asked for.

pub mod base_state;
pub mod cluster;

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid};

/// The manifest file of an entry, beside its `data` directory.
const MANIFEST: &str = "manifest";

/// Where the cache lives: `--cache-dir`, else `$XDG_CACHE_HOME/migration-check`, else
/// `~/.cache/migration-check`; `None` when there is no home to put it in.
pub fn default_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from);
    let home = || {
        std::env::var_os("HOME")
            .filter(|home| !home.is_empty())
            .map(|home| PathBuf::from(home).join(".cache"))
    };
    xdg.or_else(home).map(|dir| dir.join("migration-check"))
}

/// What kind of entry, and where its entries live below the cache directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// The directory below the cache directory.
    pub directory: &'static str,
    /// What an entry is, for warnings ("the cluster template").
    pub what: &'static str,
}

/// One entry of the cache, held locked while it is looked up, copied or written.
pub struct Entry {
    dir: PathBuf,
    key: String,
    kind: Kind,
    /// Who owns what is written (see [`owner_for`]).
    owner: Option<(Uid, Gid)>,
    /// The lock on `<key>.lock`, released on drop.
    _lock: nix::fcntl::Flock<File>,
}

/// Opens the entry `key` of `kind` below `cache_dir`, waiting for another run that is
/// writing it.
pub fn open(cache_dir: &Path, kind: Kind, key: &str) -> Result<Entry, String> {
    let owner = owner_for(cache_dir);
    let clusters = cache_dir.join(kind.directory);
    std::fs::create_dir_all(&clusters)
        .map_err(|e| format!("cannot create {}: {e}", clusters.display()))?;
    if let Some((uid, gid)) = owner {
        for dir in [cache_dir, clusters.as_path()] {
            let _ = nix::unistd::chown(dir, Some(uid), Some(gid));
        }
    }
    let lock_path = clusters.join(format!("{key}.lock"));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    if let Some((uid, gid)) = owner {
        let _ = nix::unistd::fchown(&file, Some(uid), Some(gid));
    }
    let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| format!("cannot lock {}: {e}", lock_path.display()))?;
    // When the entry was last used, for [`prune`].
    let _ = lock.set_modified(std::time::SystemTime::now());
    Ok(Entry {
        dir: clusters.join(key),
        key: key.to_string(),
        kind,
        owner,
        _lock: lock,
    })
}

/// Who owns what the cache writes below `cache_dir`: when we run as root and the nearest
/// existing directory on the way there belongs to another account, that account (the
/// Action's container runs as root, and the runner's own account archives the workspace's
/// cache with `actions/cache` afterwards: it must be able to read every file). Else
/// ourselves (`None`).
fn owner_for(cache_dir: &Path) -> Option<(Uid, Gid)> {
    use std::os::unix::fs::MetadataExt;
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let existing = cache_dir
        .ancestors()
        .find_map(|dir| std::fs::metadata(dir).ok())?;
    (existing.uid() != 0).then(|| (Uid::from_raw(existing.uid()), Gid::from_raw(existing.gid())))
}

impl Entry {
    /// The entry's pristine data directory when it is present and whole. A damaged one is
    /// removed (the caller rebuilds it), with a warning.
    pub fn data_dir(&self) -> Option<PathBuf> {
        if !self.dir.exists() {
            return None;
        }
        let data = self.dir.join("data");
        let recorded = std::fs::read_to_string(self.dir.join(MANIFEST)).ok();
        let whole = recorded.is_some_and(|recorded| {
            manifest(&self.key, &data).is_ok_and(|actual| actual == recorded)
        });
        if whole {
            return Some(data);
        }
        eprintln!(
            "warning: {} {} is incomplete or damaged; rebuilding it",
            self.kind.what,
            self.dir.display()
        );
        let _ = std::fs::remove_dir_all(&self.dir);
        None
    }

    /// Stores a copy of `data` (a data directory no server is running on) as this entry:
    /// written under a temporary name with its manifest, then renamed into place.
    pub fn store(&self, data: &Path) -> Result<(), String> {
        self.store_from(data, false)
    }

    /// Like [`Self::store`], but `data` is not needed afterwards: it is moved into the
    /// entry when it is on the same filesystem (no copy at all), else copied.
    pub fn store_moving(&self, data: &Path) -> Result<(), String> {
        self.store_from(data, true)
    }

    fn store_from(&self, data: &Path, moving: bool) -> Result<(), String> {
        let parent = self.dir.parent().expect("entries live below the cache");
        let staging = tempfile::Builder::new()
            .prefix(".building-")
            .tempdir_in(parent)
            .map_err(|e| format!("cannot create a directory in {}: {e}", parent.display()))?;
        let copy = staging.path().join("data");
        if moving && std::fs::rename(data, &copy).is_ok() {
            if let Some((uid, gid)) = self.owner {
                let mut chown = |relative: &Path, _: &std::fs::Metadata| {
                    let _ = nix::unistd::chown(&copy.join(relative), Some(uid), Some(gid));
                };
                chown(
                    Path::new(""),
                    &std::fs::metadata(&copy).map_err(|e| e.to_string())?,
                );
                walk(&copy, Path::new(""), &mut chown).map_err(|e| e.to_string())?;
            }
        } else {
            copy_tree(data, &copy, self.owner)
                .map_err(|e| format!("cannot copy {}: {e}", data.display()))?;
        }
        let manifest = manifest(&self.key, &copy).map_err(|e| e.to_string())?;
        let mut file = File::create(staging.path().join(MANIFEST))
            .map_err(|e| format!("cannot write the manifest: {e}"))?;
        file.write_all(manifest.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("cannot write the manifest: {e}"))?;
        if let Some((uid, gid)) = self.owner {
            let _ = nix::unistd::fchown(&file, Some(uid), Some(gid));
            let _ = nix::unistd::chown(staging.path(), Some(uid), Some(gid));
        }
        let staged = staging.keep();
        std::fs::rename(&staged, &self.dir).map_err(|e| {
            let _ = std::fs::remove_dir_all(&staged);
            format!(
                "cannot move {} into {}: {e}",
                self.kind.what,
                self.dir.display()
            )
        })
    }
}

/// Removes the entries of `kind` below `cache_dir` beyond the `keep` used most recently (as
/// their lock files' modification times say: [`open`] sets it), except any another run
/// holds now. Lock files stay: removing one another run has just opened would let two runs
/// hold "the" lock of one key.
pub fn prune(cache_dir: &Path, kind: Kind, keep: usize) {
    let dir = cache_dir.join(kind.directory);
    let Ok(listing) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = listing
        .flatten()
        .filter_map(|file| {
            let path = file.path();
            let entry = path.with_extension("");
            let used = file.metadata().ok()?.modified().ok()?;
            (path.extension()? == "lock" && entry.is_dir()).then_some((used, path))
        })
        .collect();
    entries.sort_by_key(|(used, _)| std::cmp::Reverse(*used));
    for (_, lock_path) in entries.into_iter().skip(keep) {
        let Ok(file) = File::options().write(true).open(&lock_path) else {
            continue;
        };
        if let Ok(_lock) =
            nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        {
            let _ = std::fs::remove_dir_all(lock_path.with_extension(""));
        }
    }
}

/// The key, then each file below `data` with its size, in a stable order.
fn manifest(key: &str, data: &Path) -> std::io::Result<String> {
    let mut lines = Vec::new();
    walk(data, Path::new(""), &mut |relative, metadata| {
        if metadata.is_file() {
            lines.push(format!("{} {}", relative.display(), metadata.len()));
        }
    })?;
    lines.sort();
    Ok(format!("{key}\n{}\n", lines.join("\n")))
}

/// Calls `visit` for every entry below `dir` (depth first), with its path relative to the
/// walk's root.
fn walk(
    dir: &Path,
    relative: &Path,
    visit: &mut dyn FnMut(&Path, &std::fs::Metadata),
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        let name = relative.join(entry.file_name());
        visit(&name, &metadata);
        if metadata.is_dir() {
            walk(&entry.path(), &name, visit)?;
        }
    }
    Ok(())
}

/// Copies the directory tree `from` to `to` (which must not exist) with each file's
/// permissions, owned by `owner` when given (the unprivileged account the cluster runs as).
/// The directories are made first, then the files are copied by one thread per core: a
/// fresh cluster is about a thousand small files, and creating them is most of the cost.
pub fn copy_tree(from: &Path, to: &Path, owner: Option<(Uid, Gid)>) -> std::io::Result<()> {
    let chown = |path: &Path| -> std::io::Result<()> {
        if let Some((uid, gid)) = owner {
            nix::unistd::chown(path, Some(uid), Some(gid)).map_err(std::io::Error::from)?;
        }
        Ok(())
    };
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    walk(from, Path::new(""), &mut |relative, metadata| {
        if metadata.is_dir() {
            dirs.push((relative.to_path_buf(), metadata.permissions().mode()));
        } else {
            files.push(relative.to_path_buf());
        }
    })?;
    std::fs::create_dir(to)?;
    std::fs::set_permissions(to, std::fs::metadata(from)?.permissions())?;
    chown(to)?;
    // Depth first, parents before their children.
    for (relative, mode) in &dirs {
        let target = to.join(relative);
        std::fs::create_dir(&target)?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(*mode))?;
        chown(&target)?;
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> std::io::Result<()> {
                    loop {
                        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(relative) = files.get(index) else {
                            return Ok(());
                        };
                        let target = to.join(relative);
                        std::fs::copy(from.join(relative), &target)?;
                        chown(&target)?;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a copy thread panicked"))
            .collect::<std::io::Result<Vec<()>>>()
            .map(|_| ())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: Kind = Kind {
        directory: "clusters",
        what: "the test entry",
    };

    #[test]
    fn pruning_keeps_the_entries_used_last_and_any_in_use() {
        let cache = tempfile::tempdir().unwrap();
        let source = tempfile::tempdir().unwrap();
        let data = source.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("PG_VERSION"), "15\n").unwrap();
        let used_at = |key: &str, seconds: u64| {
            let lock = cache.path().join(format!("clusters/{key}.lock"));
            let at = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
            File::options()
                .write(true)
                .open(lock)
                .unwrap()
                .set_modified(at)
                .unwrap();
        };
        // Used in this order, seconds apart (explicit times: no filesystem resolution to trust).
        for (key, seconds) in [("k1", 10), ("k2", 20), ("k3", 30), ("k4", 40)] {
            open(cache.path(), KIND, key).unwrap().store(&data).unwrap();
            used_at(key, seconds);
        }
        let entry = |key: &str| cache.path().join("clusters").join(key);
        // k1 used again: now the most recent.
        drop(open(cache.path(), KIND, "k1").unwrap());
        // k2 held by another run: kept whatever its age.
        let held = open(cache.path(), KIND, "k2").unwrap();
        used_at("k2", 1);
        prune(cache.path(), KIND, 2);
        assert!(
            entry("k1").is_dir() && entry("k4").is_dir(),
            "the two used last"
        );
        assert!(entry("k2").is_dir(), "in use by another run");
        assert!(!entry("k3").exists(), "the oldest free one is removed");
        drop(held);
        prune(cache.path(), KIND, 2);
        assert!(!entry("k2").exists());
        assert!(entry("k1").is_dir() && entry("k4").is_dir());
    }

    #[test]
    fn as_root_in_someone_elses_directory_everything_written_is_theirs() {
        use std::os::unix::fs::MetadataExt;
        if !nix::unistd::geteuid().is_root() {
            return; // Only root can write files for someone else.
        }
        let workspace = tempfile::tempdir().unwrap();
        let (uid, gid) = (Uid::from_raw(4321), Gid::from_raw(4321));
        nix::unistd::chown(workspace.path(), Some(uid), Some(gid)).unwrap();
        let cache = workspace.path().join(".migration-check-cache");
        let source = tempfile::tempdir().unwrap();
        let data = source.path().join("data");
        std::fs::create_dir_all(data.join("base/1")).unwrap();
        std::fs::write(data.join("base/1/1259"), [1u8; 10]).unwrap();
        let entry = open(&cache, KIND, "k1").unwrap();
        entry.store_moving(&data).unwrap();
        let mut owners = std::collections::BTreeSet::new();
        walk(&cache, Path::new(""), &mut |relative, _| {
            let metadata = std::fs::metadata(cache.join(relative)).unwrap();
            owners.insert((relative.display().to_string(), metadata.uid()));
        })
        .unwrap();
        let foreign: Vec<_> = owners.iter().filter(|(_, owner)| *owner != 4321).collect();
        assert!(foreign.is_empty(), "not handed over: {foreign:?}");
        assert!(owners.len() >= 6, "{owners:?}");
        assert_eq!(std::fs::metadata(&cache).unwrap().uid(), 4321);
        // In our own directory, nothing is handed over.
        let own = tempfile::tempdir().unwrap();
        assert_eq!(owner_for(&own.path().join("cache")), None);
    }

    #[test]
    fn a_damaged_entry_is_found_out_and_a_whole_one_kept() {
        let cache = tempfile::tempdir().unwrap();
        let source = tempfile::tempdir().unwrap();
        let data = source.path().join("data");
        std::fs::create_dir_all(data.join("base/1")).unwrap();
        std::fs::write(data.join("PG_VERSION"), "15\n").unwrap();
        std::fs::write(data.join("base/1/1259"), vec![7u8; 8192]).unwrap();

        let entry = open(cache.path(), KIND, "k1").unwrap();
        assert_eq!(entry.data_dir(), None);
        entry.store(&data).unwrap();
        let stored = entry.data_dir().expect("a whole entry");
        assert_eq!(
            std::fs::read(stored.join("base/1/1259")).unwrap().len(),
            8192
        );
        drop(entry);

        // A file cut short (a crash mid-copy, a full disk): rebuilt.
        let entry = open(cache.path(), KIND, "k1").unwrap();
        std::fs::write(stored.join("base/1/1259"), [7u8; 100]).unwrap();
        assert_eq!(entry.data_dir(), None);
        assert!(!stored.exists(), "the damaged entry is removed");
        entry.store(&data).unwrap();
        // A missing manifest, and one of another key: rebuilt too.
        std::fs::remove_file(cache.path().join("clusters/k1/manifest")).unwrap();
        assert_eq!(entry.data_dir(), None);
        entry.store(&data).unwrap();
        std::fs::copy(
            cache.path().join("clusters/k1/manifest"),
            cache.path().join("manifest-k1"),
        )
        .unwrap();
        drop(entry);
        let other = open(cache.path(), KIND, "k2").unwrap();
        other.store(&data).unwrap();
        std::fs::copy(
            cache.path().join("manifest-k1"),
            cache.path().join("clusters/k2/manifest"),
        )
        .unwrap();
        assert_eq!(other.data_dir(), None);
        // Nothing staged is left behind.
        let names: Vec<String> = std::fs::read_dir(cache.path().join("clusters"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names.iter().any(|n| n.starts_with(".building-")),
            "{names:?}"
        );
    }
}
