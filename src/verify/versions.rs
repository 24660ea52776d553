//! One report from runs on several PostgreSQL majors (`--postgres-versions`).
//!
//! Teams that run production on one major and develop on another need to
//! know which migration behaves differently before it merges. Each major is
//! verified on its own server; this module folds their reports into one that
//! stays valid JSON v1: a migration's `status` is the worst of its verdicts,
//! its `problems` are the union (a problem seen on some majors only names
//! them), and `versions` keeps every major's own verdict. Pure: no I/O.

use std::collections::BTreeMap;

use crate::analysis::LockFinding;
use crate::compat::{CompatFinding, CompatSummary};
use crate::report::{
    MigrationReport, PostgresInfo, Problem, Report, RunTimings, SchemaChange, SequenceReport,
    SequenceVerdict, StepTimings, VersionInfo, VersionVerdict,
};

/// A finished run on one major.
#[derive(Debug, Clone)]
pub struct VersionRun {
    pub major: u32,
    pub report: Report,
}

/// Folds the runs (any order; at least one) into one report.
///
/// Every run verified the same discovered migrations, so they list the same
/// migrations in the same order. `timings_ms.total` is left for the caller,
/// who knows the wall-clock time of the concurrent runs.
pub fn merge(mut runs: Vec<VersionRun>) -> Report {
    assert!(!runs.is_empty(), "merge needs at least one run");
    runs.sort_by_key(|run| run.major);
    let majors: Vec<u32> = runs.iter().map(|run| run.major).collect();
    let first = &runs[0].report;
    let migrations = (0..first.migrations.len())
        .map(|index| merge_migration(&runs, &majors, index))
        .collect();
    let backends: Vec<&str> = runs
        .iter()
        .map(|run| run.report.postgres.backend.as_str())
        .collect();
    let mut backend = backends[0].to_string();
    if backends.iter().any(|b| *b != backend) {
        backend = backends.join(", ");
    }
    Report {
        schema_version: first.schema_version,
        passed: runs.iter().all(|run| run.report.passed),
        postgres: PostgresInfo {
            backend,
            server_version: runs
                .iter()
                .map(|run| short_version(&run.report.postgres.server_version))
                .collect::<Vec<_>>()
                .join(", "),
        },
        postgres_versions: runs
            .iter()
            .map(|run| VersionInfo {
                major: run.major,
                backend: run.report.postgres.backend.clone(),
                server_version: run.report.postgres.server_version.clone(),
                passed: run.report.passed,
            })
            .collect(),
        format: first.format.clone(),
        directory: first.directory.clone(),
        migrations,
        sequence: merge_sequence(&runs, &majors),
        checksums: first.checksums.clone(),
        problems: first.problems.clone(),
        schema_changes: merge_schema_changes(&runs, &majors),
        // The newest major's picture: the runs agree on tables, columns and keys.
        schema_diagram: runs
            .last()
            .and_then(|run| run.report.schema_diagram.clone()),
        compat: merge_compat_summaries(&runs),
        notes: merge_notes(&runs, &majors),
        ignored_files: first.ignored_files.clone(),
        timings_ms: RunTimings {
            setup: runs
                .iter()
                .map(|r| r.report.timings_ms.setup)
                .max()
                .unwrap_or(0),
            scripts: runs.iter().map(|r| r.report.timings_ms.scripts).sum(),
            snapshots: runs.iter().map(|r| r.report.timings_ms.snapshots).sum(),
            rebuilds: runs.iter().map(|r| r.report.timings_ms.rebuilds).sum(),
            lock_rehearsal: runs
                .iter()
                .map(|r| r.report.timings_ms.lock_rehearsal)
                .sum(),
            lock_sizes: runs.iter().map(|r| r.report.timings_ms.lock_sizes).sum(),
            compat: runs.iter().map(|r| r.report.timings_ms.compat).sum(),
            snapshot_captures: runs.iter().fold(Default::default(), |mut all, r| {
                all.add(r.report.timings_ms.snapshot_captures);
                all
            }),
            total: runs
                .iter()
                .map(|r| r.report.timings_ms.total)
                .max()
                .unwrap_or(0),
        },
    }
}

/// `17.12` of `17.12 (Debian 17.12-0+deb13u1)`.
fn short_version(version: &str) -> &str {
    version.split_whitespace().next().unwrap_or(version)
}

/// The lock findings of every major, each once; one measured on some majors only says on
/// which.
fn merge_locks(each: &[(u32, &MigrationReport)], majors: &[u32]) -> Vec<LockFinding> {
    let mut merged: Vec<(LockFinding, Vec<u32>)> = Vec::new();
    for (major, migration) in each {
        for finding in &migration.locks {
            let same = |(known, _): &&mut (LockFinding, Vec<u32>)| {
                (&known.rule, &known.file, known.line, &known.relation)
                    == (
                        &finding.rule,
                        &finding.file,
                        finding.line,
                        &finding.relation,
                    )
            };
            match merged.iter_mut().find(|entry| same(entry)) {
                Some((known, found_on)) => {
                    known.held_ms = known.held_ms.max(finding.held_ms);
                    found_on.push(*major);
                }
                None => merged.push((finding.clone(), vec![*major])),
            }
        }
    }
    merged
        .into_iter()
        .map(|(mut finding, found_on)| {
            if found_on.len() < majors.len() {
                finding.evidence = format!(
                    "{} (on PostgreSQL {} only)",
                    finding.evidence,
                    crate::report::majors_list(&found_on)
                );
            }
            finding
        })
        .collect()
}

/// The running code's findings of every major, each once; one found on some majors only
/// names them.
fn merge_compat(each: &[(u32, &MigrationReport)], majors: &[u32]) -> Vec<CompatFinding> {
    let mut merged: Vec<CompatFinding> = Vec::new();
    for (major, migration) in each {
        for finding in &migration.compat {
            let same = |known: &&mut CompatFinding| {
                (
                    known.window,
                    known.kind,
                    &known.query,
                    &known.file,
                    known.line,
                ) == (
                    finding.window,
                    finding.kind,
                    &finding.query,
                    &finding.file,
                    finding.line,
                )
            };
            match merged.iter_mut().find(|known| same(known)) {
                Some(known) => known.versions.push(*major),
                None => merged.push(CompatFinding {
                    versions: vec![*major],
                    ..finding.clone()
                }),
            }
        }
    }
    for finding in &mut merged {
        if finding.versions.len() == majors.len() {
            finding.versions.clear();
        }
    }
    merged
}

/// The running code's summary: the newest major's counts, every major's notes.
fn merge_compat_summaries(runs: &[VersionRun]) -> Option<CompatSummary> {
    let mut summary = runs.last()?.report.compat.clone()?;
    for run in runs {
        for note in run.report.compat.iter().flat_map(|c| &c.notes) {
            if !summary.notes.contains(note) {
                summary.notes.push(note.clone());
            }
        }
        for entry in run.report.compat.iter().flat_map(|c| &c.not_judged) {
            if !summary.not_judged.contains(entry) {
                summary.not_judged.push(entry.clone());
            }
        }
    }
    Some(summary)
}

fn merge_migration(runs: &[VersionRun], majors: &[u32], index: usize) -> MigrationReport {
    let each: Vec<(u32, &MigrationReport)> = runs
        .iter()
        .map(|run| (run.major, &run.report.migrations[index]))
        .collect();
    let first = each[0].1;
    let worst = each
        .iter()
        .map(|(_, m)| m.status)
        .min()
        .expect("at least one run");
    let mut timings = StepTimings::default();
    for (_, m) in &each {
        timings.up = max_option(timings.up, m.timings_ms.up);
        timings.down = max_option(timings.down, m.timings_ms.down);
        timings.reup = max_option(timings.reup, m.timings_ms.reup);
    }
    let mut notes: Vec<String> = Vec::new();
    for (_, m) in &each {
        for note in &m.notes {
            if !notes.contains(note) {
                notes.push(note.clone());
            }
        }
    }
    MigrationReport {
        version: first.version.clone(),
        name: first.name.clone(),
        files: first.files.clone(),
        new: first.new,
        status: worst,
        problems: merge_problems(
            each.iter()
                .map(|(major, m)| (*major, m.problems.as_slice())),
            majors,
        ),
        timings_ms: timings,
        notes,
        locks: merge_locks(&each, majors),
        compat: merge_compat(&each, majors),
        versions: each
            .iter()
            .map(|(major, m)| {
                (
                    major.to_string(),
                    VersionVerdict {
                        status: m.status,
                        problems: m.problems.clone(),
                        timings_ms: m.timings_ms,
                    },
                )
            })
            .collect(),
    }
}

fn max_option(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The union of the problems, in the order first seen; each names the
/// majors it occurred on unless it occurred on all of them.
fn merge_problems<'a>(
    per_major: impl Iterator<Item = (u32, &'a [Problem])>,
    majors: &[u32],
) -> Vec<Problem> {
    union_by_major(per_major, majors, same_problem, |p| &mut p.versions)
}

/// The same finding, whatever majors it was seen on.
fn same_problem(a: &Problem, b: &Problem) -> bool {
    (
        &a.kind, a.severity, &a.message, &a.file, a.line, a.column, &a.object,
    ) == (
        &b.kind, b.severity, &b.message, &b.file, b.line, b.column, &b.object,
    )
}

/// The union of the majors' items, in the order first seen: items that are
/// `same` are one, whose `versions` lists the majors that had it (left
/// empty when every major had it).
fn union_by_major<'a, T: Clone + 'a>(
    per_major: impl Iterator<Item = (u32, &'a [T])>,
    majors: &[u32],
    same: fn(&T, &T) -> bool,
    versions: fn(&mut T) -> &mut Vec<u32>,
) -> Vec<T> {
    let mut merged: Vec<T> = Vec::new();
    for (major, items) in per_major {
        for item in items {
            match merged.iter_mut().find(|seen| same(seen, item)) {
                Some(seen) => versions(seen).push(major),
                None => {
                    let mut item = item.clone();
                    *versions(&mut item) = vec![major];
                    merged.push(item);
                }
            }
        }
    }
    for item in &mut merged {
        let on = versions(item);
        if on.as_slice() == majors {
            on.clear();
        }
    }
    merged
}

fn merge_sequence(runs: &[VersionRun], majors: &[u32]) -> SequenceReport {
    let worst = runs
        .iter()
        .min_by_key(|run| run.report.sequence.status)
        .expect("at least one run");
    let sequence = &worst.report.sequence;
    SequenceReport {
        status: sequence.status,
        from_version: sequence.from_version.clone(),
        to_version: sequence.to_version.clone(),
        problems: merge_problems(
            runs.iter()
                .map(|run| (run.major, run.report.sequence.problems.as_slice())),
            majors,
        ),
        note: sequence.note.clone(),
        versions: runs
            .iter()
            .map(|run| {
                (
                    run.major.to_string(),
                    SequenceVerdict {
                        status: run.report.sequence.status,
                        problems: run.report.sequence.problems.clone(),
                    },
                )
            })
            .collect(),
    }
}

fn merge_schema_changes(runs: &[VersionRun], majors: &[u32]) -> Vec<SchemaChange> {
    union_by_major(
        runs.iter()
            .map(|run| (run.major, run.report.schema_changes.as_slice())),
        majors,
        |a, b| (&a.change, &a.object, &a.detail) == (&b.change, &b.object, &b.detail),
        |c| &mut c.versions,
    )
}

/// Run-level notes; one seen on some majors only says which.
fn merge_notes(runs: &[VersionRun], majors: &[u32]) -> Vec<String> {
    let mut seen: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for run in runs {
        for note in &run.report.notes {
            let entry = seen.entry(note.as_str()).or_default();
            if entry.is_empty() {
                order.push(note);
            }
            entry.push(run.major);
        }
    }
    order
        .into_iter()
        .map(|note| {
            let on = &seen[note];
            if on.as_slice() == majors {
                note.to_string()
            } else {
                format!("PostgreSQL {}: {note}", crate::report::majors_list(on))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{SCHEMA_VERSION, SequenceStatus, Severity, Status};

    fn problem(message: &str) -> Problem {
        Problem {
            kind: "not_reversible".into(),
            severity: Severity::Error,
            message: message.into(),
            file: Some("m/2.down.sql".into()),
            line: Some(1),
            column: None,
            object: None,
            versions: Vec::new(),
        }
    }

    fn migration(version: &str, status: Status, problems: Vec<Problem>) -> MigrationReport {
        MigrationReport {
            version: version.into(),
            name: format!("m{version}"),
            files: vec![],
            new: true,
            status,
            problems,
            timings_ms: StepTimings {
                up: Some(3),
                down: None,
                reup: None,
            },
            notes: vec![],
            versions: BTreeMap::new(),
            locks: Vec::new(),
            compat: Vec::new(),
        }
    }

    fn run(major: u32, migrations: Vec<MigrationReport>, sequence: SequenceStatus) -> VersionRun {
        let passed = migrations.iter().all(|m| m.problems.is_empty());
        VersionRun {
            major,
            report: Report {
                schema_version: SCHEMA_VERSION,
                passed,
                postgres: PostgresInfo {
                    backend: "docker".into(),
                    server_version: format!("{major}.3 (Debian {major}.3-1)"),
                },
                postgres_versions: vec![],
                format: "sqlx".into(),
                directory: "m".into(),
                migrations,
                sequence: SequenceReport {
                    status: sequence,
                    from_version: None,
                    to_version: None,
                    problems: vec![],
                    note: None,
                    versions: BTreeMap::new(),
                },
                checksums: vec![],
                problems: vec![],
                schema_changes: vec![],
                schema_diagram: None,
                compat: None,
                notes: if major == 17 {
                    vec!["not compared: x".into()]
                } else {
                    vec![]
                },
                ignored_files: vec![],
                timings_ms: RunTimings {
                    setup: major.into(),
                    scripts: 10,
                    snapshots: 5,
                    rebuilds: 0,
                    total: 100,
                    ..Default::default()
                },
            },
        }
    }

    #[test]
    fn verdicts_that_differ_keep_each_major_and_the_worst_stands() {
        let leftover = problem("index public.i: left behind by down");
        let merged = merge(vec![
            run(
                17,
                vec![
                    migration("1", Status::Passed, vec![]),
                    migration("2", Status::Passed, vec![]),
                ],
                SequenceStatus::Passed,
            ),
            run(
                13,
                vec![
                    migration("1", Status::Passed, vec![]),
                    migration("2", Status::NotReversible, vec![leftover.clone()]),
                ],
                SequenceStatus::Skipped,
            ),
            run(
                15,
                vec![
                    migration("1", Status::Passed, vec![]),
                    migration("2", Status::Passed, vec![]),
                ],
                SequenceStatus::Passed,
            ),
        ]);
        assert!(!merged.passed);
        assert_eq!(merged.postgres.server_version, "13.3, 15.3, 17.3");
        assert_eq!(
            merged
                .postgres_versions
                .iter()
                .map(|v| v.major)
                .collect::<Vec<_>>(),
            [13, 15, 17]
        );
        assert_eq!(merged.migrations[0].status, Status::Passed);
        assert_eq!(merged.migrations[0].status_by_version(), None);
        let second = &merged.migrations[1];
        assert_eq!(second.status, Status::NotReversible);
        assert_eq!(
            second.status_by_version().as_deref(),
            Some("not reversible on 13; passed on 15, 17")
        );
        assert_eq!(second.problems.len(), 1);
        assert_eq!(second.problems[0].versions, [13]);
        assert_eq!(second.problems[0].versions_suffix(), " (PostgreSQL 13)");
        assert_eq!(second.versions["13"].status, Status::NotReversible);
        assert_eq!(second.versions["15"].status, Status::Passed);
        assert_eq!(merged.sequence.status, SequenceStatus::Skipped);
        assert_eq!(
            merged.sequence.status_by_version().as_deref(),
            Some("skipped on 13; passed on 15, 17")
        );
        assert_eq!(merged.notes, ["PostgreSQL 17: not compared: x"]);
        assert_eq!(merged.timings_ms.setup, 17);
        assert_eq!(merged.timings_ms.scripts, 30);
    }

    #[test]
    fn agreeing_majors_read_as_one() {
        let leftover = problem("index public.i: left behind by down");
        let merged = merge(
            [13, 18]
                .into_iter()
                .map(|major| {
                    run(
                        major,
                        vec![migration(
                            "1",
                            Status::NotReversible,
                            vec![leftover.clone()],
                        )],
                        SequenceStatus::Skipped,
                    )
                })
                .collect(),
        );
        let only = &merged.migrations[0];
        assert_eq!(only.status_by_version(), None);
        assert_eq!(only.problems, vec![leftover]);
        assert_eq!(only.problems[0].versions_suffix(), "");
        assert_eq!(merged.sequence.status_by_version(), None);
        let json: serde_json::Value = serde_json::to_value(&merged).unwrap();
        assert_eq!(json["migrations"][0]["status"], "not_reversible");
        assert_eq!(
            json["migrations"][0]["versions"]["18"]["status"],
            "not_reversible"
        );
        assert_eq!(json["postgres_versions"][1]["major"], 18);
        assert!(
            json["migrations"][0]["problems"][0]
                .get("versions")
                .is_none()
        );
    }
}
