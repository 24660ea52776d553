//! `migrate`: running migrations on a real database, the question after "is it safe to
//! merge?": what is applied on staging, apply the rest, roll back two. The database's
//! state is read from and written to the owning tool's own bookkeeping table
//! ([`history`]), exactly as the tool does, so migration-check and the team's tool can
//! be used on the same database interchangeably. This module holds the pure part: what
//! each migration's state is ([`status`]) and which migrations a command runs ([`plan_up`],
//! [`plan_down`]); [`execute`] runs a plan under an advisory lock.

pub mod backup;
pub mod execute;
pub mod history;

use serde::Serialize;

use crate::error::UsageError;
use crate::migrations::Migration;
use crate::migrations::bookkeeping::Applied;

/// What a migration is on the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Recorded as applied, with the same checksum (or none recorded).
    Applied,
    /// Not applied, after every applied migration.
    Pending,
    /// Not applied, but older than an applied migration: the tool would refuse or skip it.
    OutOfOrder,
    /// Recorded as applied, but the file's checksum is not the recorded one.
    Modified,
    /// Recorded as applied, but no file has this version.
    Missing,
    /// Recorded as failed or dirty: it must be repaired by hand.
    Failed,
}

impl State {
    /// Whether this state is drift that `status` exits 1 for.
    pub fn is_drift(self) -> bool {
        !matches!(self, State::Applied | State::Pending)
    }

    /// How people read it.
    pub fn label(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::OutOfOrder => "out of order",
            State::Modified => "applied, file changed since",
            State::Missing => "applied, file missing",
            State::Failed => "failed (dirty)",
        }
    }
}

/// One line of `migrate status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusEntry {
    pub version: String,
    pub name: String,
    pub state: State,
    /// When it was applied, if it is and the tool records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<String>,
    /// Index into the discovered migrations; none for a missing file.
    #[serde(skip)]
    pub index: Option<usize>,
}

/// Every migration's state: the files in version order with what the database records,
/// then the recorded versions that have no file. `checksum` gives a migration's checksum
/// as the tool computes it (none when the tool records none).
pub fn status(
    migrations: &[Migration],
    applied: &[Applied],
    checksum: &dyn Fn(&Migration) -> Option<String>,
) -> Vec<StatusEntry> {
    let recorded = |m: &Migration| applied.iter().find(|a| a.version == m.version.text);
    let last_applied = migrations.iter().rposition(|m| recorded(m).is_some());
    let mut entries: Vec<StatusEntry> = migrations
        .iter()
        .enumerate()
        .map(|(index, migration)| {
            let record = recorded(migration);
            let state = match record {
                Some(record) if !record.success => State::Failed,
                Some(record) => match (&record.checksum, checksum(migration)) {
                    (Some(recorded), Some(now)) if !recorded.eq_ignore_ascii_case(&now) => {
                        State::Modified
                    }
                    _ => State::Applied,
                },
                None if last_applied.is_some_and(|last| index < last) => State::OutOfOrder,
                None => State::Pending,
            };
            StatusEntry {
                version: migration.version.text.clone(),
                name: migration.name.clone(),
                state,
                applied_at: record.and_then(|r| r.applied_at.clone()),
                index: Some(index),
            }
        })
        .collect();
    for record in applied {
        if !migrations.iter().any(|m| m.version.text == record.version) {
            entries.push(StatusEntry {
                version: record.version.clone(),
                name: record.name.clone().unwrap_or_default(),
                state: State::Missing,
                applied_at: record.applied_at.clone(),
                index: None,
            });
        }
    }
    entries
}

/// Why a plan cannot be made: callers branch on the kind (and tests match on it); each
/// is bad input to the command, exit status 2, through [`UsageError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The database and the directory disagree: migrations modified, missing, failed or
    /// out of order (`migrate status` shows them).
    #[error(
        "the database and the migrations directory disagree: {}; `migrate status` shows it all",
        .0.iter().map(|e| format!("{} {} ({})", e.version, e.name, e.state.label())).collect::<Vec<_>>().join(", ")
    )]
    Drift(Vec<StatusEntry>),
    /// `--to VERSION` names no migration.
    #[error("--to {version}: no migration has that version (known: {known})")]
    UnknownVersion { version: String, known: String },
    /// `down --to VERSION` names a migration that is not applied.
    #[error("--to {0}: that migration is not applied, so there is nothing to revert down to")]
    NotApplied(String),
    /// `down --count N` with fewer applied.
    #[error("cannot revert {requested} migrations: only {applied} applied")]
    TooFew { requested: usize, applied: usize },
    /// A migration to revert has no down script.
    #[error("cannot revert {version} {name}: it has no down script ({path})")]
    NoDown {
        version: String,
        name: String,
        path: String,
    },
}

impl From<PlanError> for UsageError {
    fn from(error: PlanError) -> Self {
        UsageError(error.to_string())
    }
}

/// How far `up` or `down` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every pending migration (`up`), the last applied one (`down`).
    Default,
    /// Up to and including this version (`up`); down to, and keeping, this version (`down`).
    To(String),
    /// This many migrations.
    Count(usize),
    /// Every applied migration (`down --all`).
    All,
}

/// The migrations `up` applies, in order: pending ones, up to the target. Drift (a
/// modified, missing, failed or out-of-order migration) stops the plan before it starts.
pub fn plan_up(entries: &[StatusEntry], target: &Target) -> Result<Vec<usize>, PlanError> {
    refuse_drift(entries)?;
    let pending: Vec<&StatusEntry> = entries
        .iter()
        .filter(|e| e.state == State::Pending)
        .collect();
    let chosen: Vec<&StatusEntry> = match target {
        Target::Default | Target::All => pending,
        Target::Count(n) => pending.into_iter().take(*n).collect(),
        Target::To(version) => {
            let position = entries
                .iter()
                .position(|e| &e.version == version)
                .ok_or_else(|| unknown_version(version, entries))?;
            if entries[position].state == State::Applied {
                return Ok(Vec::new());
            }
            pending
                .into_iter()
                .take_while(|e| entries.iter().position(|x| x == *e).unwrap_or(0) <= position)
                .collect()
        }
    };
    Ok(chosen.iter().filter_map(|e| e.index).collect())
}

/// The migrations `down` reverts, newest first: the last applied one by default, `N` of
/// them, all, or every one after `--to VERSION`. Each must have a down script.
pub fn plan_down(
    entries: &[StatusEntry],
    migrations: &[Migration],
    target: &Target,
) -> Result<Vec<usize>, PlanError> {
    refuse_drift(entries)?;
    let applied: Vec<&StatusEntry> = entries
        .iter()
        .rev()
        .filter(|e| e.state == State::Applied)
        .collect();
    let chosen: Vec<&StatusEntry> = match target {
        Target::Default => applied.into_iter().take(1).collect(),
        Target::Count(n) => {
            if *n > applied.len() {
                return Err(PlanError::TooFew {
                    requested: *n,
                    applied: applied.len(),
                });
            }
            applied.into_iter().take(*n).collect()
        }
        Target::All => applied,
        Target::To(version) => {
            let keep = entries
                .iter()
                .find(|e| &e.version == version)
                .ok_or_else(|| unknown_version(version, entries))?;
            if keep.state != State::Applied {
                return Err(PlanError::NotApplied(version.clone()));
            }
            applied.into_iter().take_while(|e| *e != keep).collect()
        }
    };
    let mut plan = Vec::with_capacity(chosen.len());
    for entry in chosen {
        let index = entry.index.expect("applied entries have files");
        let migration = &migrations[index];
        if migration.down.is_none() {
            return Err(PlanError::NoDown {
                version: migration.version.text.clone(),
                name: migration.name.clone(),
                path: migration.up.path.display().to_string(),
            });
        }
        plan.push(index);
    }
    Ok(plan)
}

fn refuse_drift(entries: &[StatusEntry]) -> Result<(), PlanError> {
    let drift: Vec<StatusEntry> = entries
        .iter()
        .filter(|e| e.state.is_drift())
        .cloned()
        .collect();
    if drift.is_empty() {
        Ok(())
    } else {
        Err(PlanError::Drift(drift))
    }
}

fn unknown_version(version: &str, entries: &[StatusEntry]) -> PlanError {
    let known: Vec<&str> = entries.iter().map(|e| e.version.as_str()).collect();
    let known = match known.len() {
        0 => "none".to_string(),
        1..=5 => known.join(", "),
        n => format!("{} … {} ({n} in all)", known[0], known[n - 1]),
    };
    PlanError::UnknownVersion {
        version: version.to_string(),
        known,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::test_util::discover;

    fn migrations() -> (tempfile::TempDir, Vec<Migration>) {
        let dir = tempfile::tempdir().unwrap();
        for (file, text) in [
            ("1_a.up.sql", "CREATE TABLE a ();"),
            ("1_a.down.sql", "DROP TABLE a;"),
            ("2_b.up.sql", "CREATE TABLE b ();"),
            ("2_b.down.sql", "DROP TABLE b;"),
            ("3_c.up.sql", "CREATE TABLE c ();"),
            ("3_c.down.sql", "DROP TABLE c;"),
            ("4_d.sql", "CREATE TABLE d ();"),
        ] {
            std::fs::write(dir.path().join(file), text).unwrap();
        }
        let found = discover(dir.path(), None).unwrap();
        (dir, found.migrations)
    }

    fn applied(version: &str, checksum: Option<&str>) -> Applied {
        Applied {
            version: version.into(),
            name: None,
            checksum: checksum.map(Into::into),
            applied_at: None,
            execution_ms: None,
            applied_by: None,
            success: true,
        }
    }

    fn states(entries: &[StatusEntry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| format!("{} {:?}", e.version, e.state))
            .collect()
    }

    #[test]
    fn status_names_applied_pending_out_of_order_modified_and_missing() {
        let (_dir, migrations) = migrations();
        let checksum = |m: &Migration| Some(format!("sum-{}", m.version.text));
        let records = [
            applied("1", Some("SUM-1")),
            applied("3", Some("other")),
            applied("9", None),
        ];
        let entries = status(&migrations, &records, &checksum);
        assert_eq!(
            states(&entries),
            [
                "1 Applied",
                "2 OutOfOrder",
                "3 Modified",
                "4 Pending",
                "9 Missing"
            ]
        );
        let Err(PlanError::Drift(drift)) = plan_up(&entries, &Target::Default) else {
            panic!("drift not refused");
        };
        let drifted: Vec<&str> = drift.iter().map(|e| e.version.as_str()).collect();
        assert_eq!(drifted, ["2", "3", "9"]);
    }

    #[test]
    fn plans_take_the_target_into_account() {
        let (_dir, migrations) = migrations();
        let none = |_: &Migration| None;
        let entries = status(&migrations, &[applied("1", None)], &none);
        assert_eq!(plan_up(&entries, &Target::Default).unwrap(), [1, 2, 3]);
        assert_eq!(plan_up(&entries, &Target::Count(2)).unwrap(), [1, 2]);
        assert_eq!(plan_up(&entries, &Target::To("3".into())).unwrap(), [1, 2]);
        assert_eq!(
            plan_up(&entries, &Target::To("1".into())).unwrap(),
            Vec::<usize>::new()
        );
        let err = plan_up(&entries, &Target::To("7".into())).unwrap_err();
        assert!(
            matches!(&err, PlanError::UnknownVersion { version, .. } if version == "7"),
            "{err}"
        );

        let records = [applied("1", None), applied("2", None), applied("3", None)];
        let entries = status(&migrations, &records, &none);
        assert_eq!(
            plan_down(&entries, &migrations, &Target::Default).unwrap(),
            [2]
        );
        assert_eq!(
            plan_down(&entries, &migrations, &Target::Count(2)).unwrap(),
            [2, 1]
        );
        assert_eq!(
            plan_down(&entries, &migrations, &Target::To("1".into())).unwrap(),
            [2, 1]
        );
        assert_eq!(
            plan_down(&entries, &migrations, &Target::All).unwrap(),
            [2, 1, 0]
        );
        let err = plan_down(&entries, &migrations, &Target::Count(4)).unwrap_err();
        assert_eq!(
            err,
            PlanError::TooFew {
                requested: 4,
                applied: 3
            }
        );
        assert_eq!(
            err.to_string(),
            "cannot revert 4 migrations: only 3 applied"
        );

        let records = [
            applied("1", None),
            applied("2", None),
            applied("3", None),
            applied("4", None),
        ];
        let entries = status(&migrations, &records, &none);
        let err = plan_down(&entries, &migrations, &Target::Default).unwrap_err();
        assert!(
            matches!(&err, PlanError::NoDown { version, .. } if version == "4"),
            "{err}"
        );
    }
}
