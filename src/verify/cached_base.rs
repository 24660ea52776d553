//! PR mode's cached base state, as the pipeline sees it (the entries themselves are
//! [`crate::cache::base_state`]'s). A run that finds none *records* one: once the merged
//! migrations are applied it keeps that database as a checkpoint and goes on in a copy, and
//! at the end, when the cluster outside its databases is as it was then, renames it to
//! [`base_state::DATABASE`] for the caller to store with the stopped cluster. A run that
//! finds one *restores* it: the server started from the stored cluster, the run starts in a
//! copy of that database, and the merged migrations are reported as applied without being
//! run again.
//!
//! Either way the migrations under verification run in a copy of the same database, so a
//! verdict never depends on whether the cache was warm.

use std::collections::BTreeSet;

use super::{Pipeline, sets_database_settings};
use crate::cache::base_state;
use crate::error::EnvironmentError;
use crate::migrations::Migration;
use crate::report::MigrationReport;

/// How a run uses the cached base state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseStateUse {
    /// The server started from it: [`base_state::DATABASE`] holds the first `merged`
    /// migrations applied.
    Restored { merged: usize },
    /// The cache has none: keep the database with the first `merged` migrations applied as
    /// [`base_state::DATABASE`], for the caller to store.
    Record { merged: usize },
}

/// How many merged migrations a base state can hold: those before the first one under
/// verification (all of them when none is new: a run on the base branch itself records
/// the state its pull requests start from). `None` when there are none, when everything is verified (`--all`), or
/// when one of them is not plain SQL we apply ourselves: a tool run as a process (its
/// version is not part of the key) or a script that sets something per database (`ALTER
/// DATABASE … SET`, which a copy of the database would not have).
pub fn base_state_prefix(
    migrations: &[Migration],
    under_verification: Option<&BTreeSet<String>>,
) -> Option<usize> {
    let under_verification = under_verification?;
    let merged = migrations
        .iter()
        .take_while(|m| !under_verification.contains(&m.version.text))
        .count();
    let cacheable = migrations[..merged]
        .iter()
        .all(|m| m.up.step.is_none() && !sets_database_settings(&m.up.sql));
    (merged > 0 && cacheable).then_some(merged)
}

impl Pipeline<'_, '_, '_> {
    /// The report of merged migration `migration`, restored with the base state.
    pub(super) fn restored_report(&mut self, migration: &Migration) -> MigrationReport {
        let mut report = self.blank_report(migration);
        self.applied_once(migration, &mut report);
        report
            .notes
            .push("applied from the cached base state of the merged history".into());
        report
    }

    /// The first `merged` migrations are applied: keep this database for the base state
    /// and go on in a copy. Nothing is kept when the history did not apply cleanly.
    pub(super) async fn record_base_state(
        &mut self,
        merged: usize,
    ) -> Result<(), EnvironmentError> {
        if self.needs_rebuild || self.blocked_by.is_some() {
            return Ok(());
        }
        self.snapshot_session = None;
        self.current = None;
        let (name, session) = self.databases.checkpoint().await?;
        self.session = session;
        if self.copies_are_faithful {
            self.checkpoint = Some((merged, name.clone()));
        }
        let shared = self.databases.shared_state().await?;
        self.base_record = Some((name, shared));
        self.snapshot_session = Some(self.databases.connect_newest().await?);
        self.prepare_snapshot_query().await
    }

    /// At the end of a recording run: keeps the recorded database as
    /// [`base_state::DATABASE`] when the cluster outside this run's databases is as it was
    /// when it was recorded (roles, tablespaces, settings: see
    /// [`base_state::SHARED_STATE`]), and says what happened in the run's notes.
    pub(super) async fn keep_base_state(&mut self) -> Result<(), EnvironmentError> {
        let Some((name, recorded)) = self.base_record.take() else {
            return Ok(());
        };
        if self.databases.shared_state().await? != recorded {
            self.run_notes.push(
                "the merged history's base state was not cached: the migrations under \
                 verification changed the cluster outside their database (roles, \
                 tablespaces, settings or other databases), which a stored cluster would \
                 carry into later runs"
                    .into(),
            );
            return Ok(());
        }
        self.databases.freeze(&name).await?;
        self.databases.keep(&name, base_state::DATABASE).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::{sqlx, test_util};

    #[test]
    fn only_a_plain_merged_prefix_before_the_first_new_migration_is_cached() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, sql: &str| std::fs::write(dir.path().join(name), sql).unwrap();
        write("1_a.sql", "CREATE TABLE a (id int);");
        write("2_b.sql", "CREATE TABLE b (id int);");
        write("3_c.sql", "CREATE TABLE c (id int);");
        let discovered = test_util::discover(dir.path(), Some(sqlx::FORMAT)).unwrap();
        let migrations = &discovered.migrations;
        let set = |versions: &[&str]| -> BTreeSet<String> {
            versions.iter().map(|v| v.to_string()).collect()
        };
        assert_eq!(base_state_prefix(migrations, Some(&set(&["3"]))), Some(2));
        // A new migration between merged ones: only what precedes it.
        assert_eq!(base_state_prefix(migrations, Some(&set(&["2"]))), Some(1));
        // Nothing new: all of them (the base branch's own run).
        assert_eq!(base_state_prefix(migrations, Some(&set(&[]))), Some(3));
        // Nothing merged before the first new one, or everything verified: no base state.
        assert_eq!(base_state_prefix(migrations, Some(&set(&["1", "3"]))), None);
        assert_eq!(base_state_prefix(migrations, None), None);
        // A merged migration that sets something per database: copies would lose it.
        write("2_b.sql", "ALTER DATABASE current SET work_mem = '8MB';");
        let discovered = test_util::discover(dir.path(), Some(sqlx::FORMAT)).unwrap();
        assert_eq!(
            base_state_prefix(&discovered.migrations, Some(&set(&["3"]))),
            None
        );
    }
}
