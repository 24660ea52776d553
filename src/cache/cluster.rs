//! The initdb template: one pristine data directory per set of server binaries and initdb
//! options, copied for every embedded cluster (see the [cache](super) for how entries are
//! kept safe).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::Kind;
use crate::error::EnvironmentError;

/// Where templates live and what they are called in warnings.
pub const KIND: Kind = Kind {
    directory: "clusters",
    what: "the cluster template",
};

/// Changes whenever the layout of an entry or the way it is made changes.
const LAYOUT: &str = "migration-check cluster template v1";

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
    Ok(short_hex(hasher))
}

/// The first 16 bytes of a SHA-256, in hex: an entry's name.
pub(super) fn short_hex(hasher: Sha256) -> String {
    hasher
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
