//! The cluster template cache: `initdb` runs once per set of server binaries, into
//! `$XDG_CACHE_HOME/migration-check/clusters/<key>` (or `--cache-dir`), and every later
//! embedded cluster starts from a copy of that pristine data directory instead (initdb
//! costs a second or more; the copy tens of milliseconds).
//!
//! - **Never shared across binaries.** The key is the SHA-256 of the binaries' canonical
//!   directory, the size and modification time of `initdb` and `postgres`, and the initdb
//!   options: another installation, an upgraded package or other options is another key.
//! - **Safe under concurrent runs.** An entry is written under a temporary name and renamed
//!   into place whole; the runs that find no entry serialise on a lock file
//!   (`<key>.lock`, `flock`), so one of them runs initdb and the others copy its result.
//! - **Safe against a half-written or damaged entry.** Each entry carries a manifest (the
//!   key, then every file with its size); an entry whose files do not match it is removed
//!   and rebuilt, with a warning on stderr.
//!
//! A cache that cannot be written (a read-only home) is not an error: the cluster is built
//! with initdb as before, and a warning says why the cache was not used.

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid};
use sha2::{Digest, Sha256};

use crate::error::EnvironmentError;

/// Where entries live below the cache directory.
const CLUSTERS: &str = "clusters";
/// The manifest file of an entry, beside its `data` directory.
const MANIFEST: &str = "manifest";
/// Changes whenever the layout of an entry or the way it is made changes.
const LAYOUT: &str = "migration-check cluster template v1";

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

/// The key of a template made by `bin_dir`'s initdb with `initdb_args`.
pub fn key(bin_dir: &Path, initdb_args: &[&str]) -> Result<String, EnvironmentError> {
    let canonical = bin_dir
        .canonicalize()
        .map_err(|e| EnvironmentError::new(format!("cannot resolve {}: {e}", bin_dir.display())))?;
    let mut hasher = Sha256::new();
    hasher.update(LAYOUT.as_bytes());
    hasher.update([0]);
    hasher.update(canonical.as_os_str().as_encoded_bytes());
    for program in ["initdb", "postgres"] {
        let path = canonical.join(program);
        let metadata = std::fs::metadata(&path)
            .map_err(|e| EnvironmentError::new(format!("cannot read {}: {e}", path.display())))?;
        hasher.update(
            format!(
                "\0{program}\0{}\0{}",
                metadata.size(),
                metadata.mtime_nsec() + metadata.mtime() * 1_000_000_000
            )
            .as_bytes(),
        );
    }
    for arg in initdb_args {
        hasher.update([0]);
        hasher.update(arg.as_bytes());
    }
    Ok(hasher
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// One entry of the cache, held locked while it is looked up or written.
pub struct Entry {
    dir: PathBuf,
    key: String,
    /// The lock on `<key>.lock`, released on drop.
    _lock: nix::fcntl::Flock<File>,
}

/// Opens the entry `key` below `cache_dir`, waiting for another run that is writing it.
pub fn open(cache_dir: &Path, key: &str) -> Result<Entry, String> {
    let clusters = cache_dir.join(CLUSTERS);
    std::fs::create_dir_all(&clusters)
        .map_err(|e| format!("cannot create {}: {e}", clusters.display()))?;
    let lock_path = clusters.join(format!("{key}.lock"));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| format!("cannot lock {}: {e}", lock_path.display()))?;
    Ok(Entry {
        dir: clusters.join(key),
        key: key.to_string(),
        _lock: lock,
    })
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
            "warning: the cluster template {} is incomplete or damaged; rebuilding it",
            self.dir.display()
        );
        let _ = std::fs::remove_dir_all(&self.dir);
        None
    }

    /// Stores a copy of `data` (a data directory initdb just made, never started) as this
    /// entry: written under a temporary name with its manifest, then renamed into place.
    pub fn store(&self, data: &Path) -> Result<(), String> {
        let parent = self.dir.parent().expect("entries live below the cache");
        let staging = tempfile::Builder::new()
            .prefix(".building-")
            .tempdir_in(parent)
            .map_err(|e| format!("cannot create a directory in {}: {e}", parent.display()))?;
        let copy = staging.path().join("data");
        copy_tree(data, &copy, None).map_err(|e| format!("cannot copy the template: {e}"))?;
        let manifest = manifest(&self.key, &copy).map_err(|e| e.to_string())?;
        let mut file = File::create(staging.path().join(MANIFEST))
            .map_err(|e| format!("cannot write the manifest: {e}"))?;
        file.write_all(manifest.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("cannot write the manifest: {e}"))?;
        let staged = staging.keep();
        std::fs::rename(&staged, &self.dir).map_err(|e| {
            let _ = std::fs::remove_dir_all(&staged);
            format!("cannot move the template into {}: {e}", self.dir.display())
        })
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

    #[test]
    fn a_damaged_entry_is_found_out_and_a_whole_one_kept() {
        let cache = tempfile::tempdir().unwrap();
        let source = tempfile::tempdir().unwrap();
        let data = source.path().join("data");
        std::fs::create_dir_all(data.join("base/1")).unwrap();
        std::fs::write(data.join("PG_VERSION"), "15\n").unwrap();
        std::fs::write(data.join("base/1/1259"), vec![7u8; 8192]).unwrap();

        let entry = open(cache.path(), "k1").unwrap();
        assert_eq!(entry.data_dir(), None);
        entry.store(&data).unwrap();
        let stored = entry.data_dir().expect("a whole entry");
        assert_eq!(
            std::fs::read(stored.join("base/1/1259")).unwrap().len(),
            8192
        );
        drop(entry);

        // A file cut short (a crash mid-copy, a full disk): rebuilt.
        let entry = open(cache.path(), "k1").unwrap();
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
        let other = open(cache.path(), "k2").unwrap();
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

    #[test]
    fn the_key_follows_the_binaries_and_the_options() {
        let bins = tempfile::tempdir().unwrap();
        for program in ["initdb", "postgres"] {
            std::fs::write(bins.path().join(program), "v1").unwrap();
        }
        let first = key(bins.path(), &["--locale", "C"]).unwrap();
        assert_eq!(first, key(bins.path(), &["--locale", "C"]).unwrap());
        assert_ne!(first, key(bins.path(), &["--locale", "en_US"]).unwrap());
        std::fs::write(bins.path().join("postgres"), "v2 (an upgrade)").unwrap();
        assert_ne!(first, key(bins.path(), &["--locale", "C"]).unwrap());
        let elsewhere = tempfile::tempdir().unwrap();
        for program in ["initdb", "postgres"] {
            std::fs::copy(bins.path().join(program), elsewhere.path().join(program)).unwrap();
        }
        assert_ne!(
            key(bins.path(), &[]).unwrap(),
            key(elsewhere.path(), &[]).unwrap()
        );
    }
}
