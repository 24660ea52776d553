//! The merged history's base state, for PR mode: the stopped data directory of a cluster
//! whose database [`DATABASE`] holds every migration merged before the first one under
//! verification, applied. A later check of the same base copies it instead of re-applying
//! the history (see `verify` for when a run records or restores one).
//!
//! The state depends only on what the key covers:
//! - the cluster template's key (the server binaries, their path and initdb's options);
//! - the format;
//! - each merged migration in order: its version, each of its files' SHA-256, the up
//!   script as the format reads it, and its transaction rule.
//!
//! Only the embedded backend keeps one: its stopped data directory is the whole cluster,
//! roles and all, so a restored state is byte for byte the one recorded. A `pg_dump` of a
//! Docker or URL server's database would lose roles, dropped columns' positions and the
//! database's own settings, and a verdict must never depend on whether the cache was warm.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::Kind;
use crate::migrations::Migration;

/// Where base states live and what they are called in warnings.
pub const KIND: Kind = Kind {
    directory: "bases",
    what: "the cached base state",
};

/// How many base states a cache directory keeps (the ones used last): each is a whole
/// cluster, tens of megabytes, and a developer's checks of many branches would otherwise
/// pile them up.
pub const KEEP: usize = 4;

/// The database holding the merged history in a stored base state.
pub const DATABASE: &str = "migration_check_base";

/// Changes whenever the layout of an entry or the way it is made changes.
const LAYOUT: &str = "migration-check base state v3";

/// The key of the base state after `merged` (applied in order, in `format`) on a cluster
/// made from the template `template_key`. Err names a file that cannot be read.
pub fn key(template_key: &str, format: &str, merged: &[Migration]) -> Result<String, String> {
    let mut hasher = Sha256::new();
    for part in [LAYOUT, template_key, format] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    for migration in merged {
        hasher.update(migration.version.text.as_bytes());
        hasher.update([0]);
        for file in migration.files() {
            hasher.update(file_sha256(file)?);
        }
        hasher.update(format!("{:?}", migration.up.transaction).as_bytes());
        hasher.update([0]);
        hasher.update(Sha256::digest(migration.up.sql.as_bytes()));
    }
    Ok(super::cluster::short_hex(hasher))
}

fn file_sha256(path: &Path) -> Result<[u8; 32], String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(Sha256::digest(&bytes).into())
}

/// One value that changes whenever anything of the cluster outside its databases does:
/// roles and memberships, tablespaces, per-role settings, shared comments and labels, the
/// databases other than this run's (`$1`: a `LIKE` pattern of their names), the
/// configuration files (`ALTER SYSTEM`), subscriptions and replication slots. A base state
/// is stored only when this is the same at the end of the run as when it was recorded: the
/// migrations under verification ran in the same cluster, and nothing of theirs may be
/// stored with it.
pub const SHARED_STATE: &str = "\
SELECT md5(concat_ws(E'\\n',
  (SELECT string_agg(a::text, ',' ORDER BY a.oid) FROM pg_authid a),
  (SELECT string_agg(m::text, ',' ORDER BY m::text) FROM pg_auth_members m),
  (SELECT string_agg(t::text, ',' ORDER BY t.oid) FROM pg_tablespace t),
  (SELECT string_agg(s::text, ',' ORDER BY s::text) FROM pg_db_role_setting s
    WHERE s.setdatabase = 0),
  (SELECT string_agg(d::text, ',' ORDER BY d::text) FROM pg_shdescription d),
  (SELECT string_agg(l::text, ',' ORDER BY l::text) FROM pg_shseclabel l),
  (SELECT string_agg(d.datname, ',' ORDER BY d.datname) FROM pg_database d
    WHERE d.datname NOT LIKE $1),
  (SELECT string_agg(concat_ws('=', f.sourcefile, f.name, f.setting), ','
      ORDER BY f.sourcefile, f.sourceline) FROM pg_file_settings f),
  (SELECT string_agg(s.subname, ',' ORDER BY s.subname) FROM pg_subscription s),
  (SELECT string_agg(r.slot_name::text, ',' ORDER BY r.slot_name) FROM pg_replication_slots r)
))";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::{self, sqlx};

    fn discover(dir: &Path) -> Vec<Migration> {
        migrations::discover(dir, Some(sqlx::FORMAT), &Default::default())
            .unwrap()
            .migrations
    }

    #[test]
    fn the_key_follows_every_merged_file_its_order_the_format_and_the_binaries() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, sql: &str| std::fs::write(dir.path().join(name), sql).unwrap();
        write("1_a.up.sql", "CREATE TABLE a (id int);");
        write("1_a.down.sql", "DROP TABLE a;");
        write("2_b.up.sql", "CREATE TABLE b (id int);");
        write("2_b.down.sql", "DROP TABLE b;");
        let merged = discover(dir.path());
        let first = key("t1", "sqlx", &merged).unwrap();
        assert_eq!(first, key("t1", "sqlx", &merged).unwrap());
        assert_ne!(first, key("t2", "sqlx", &merged).unwrap(), "other binaries");
        assert_ne!(
            first,
            key("t1", "dbmate", &merged).unwrap(),
            "another format"
        );
        assert_ne!(
            first,
            key("t1", "sqlx", &merged[..1]).unwrap(),
            "a shorter history"
        );
        let reversed: Vec<Migration> = merged.iter().rev().cloned().collect();
        assert_ne!(
            first,
            key("t1", "sqlx", &reversed).unwrap(),
            "another order"
        );
        // A down script is one of the merged files: editing it is another history too.
        write("1_a.down.sql", "DROP TABLE a CASCADE;");
        assert_ne!(first, key("t1", "sqlx", &discover(dir.path())).unwrap());
        std::fs::remove_file(dir.path().join("1_a.down.sql")).unwrap();
        assert!(
            key("t1", "sqlx", &merged)
                .unwrap_err()
                .contains("1_a.down.sql"),
            "a file that cannot be read is named"
        );
    }
}
