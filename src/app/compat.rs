//! The application's SQL gathered for a `verify` run before any database starts: the
//! query files at head and at the base commit, the recorded statements from an export or a
//! live database (see [`crate::compat::read`]).

use std::collections::BTreeSet;

use crate::compat::command::TestCommand;
use crate::compat::read::{self, CompatSources, Worktree};
use crate::compat::sources::{self, Recorded};
use crate::compat::{AppStatement, CompatInput};
use crate::error::EnvironmentError;
use crate::migrations::{Discovered, Format};
use crate::postgres;
use crate::verify::base::BaseStage;

/// Everything `[compat]` and its flags name, read, and the worktree of the base commit the
/// old code's tests run in (to be kept until verify is done); `None` without any source.
pub(super) async fn read_compat(
    sources: &CompatSources,
    stage: &BaseStage,
    discovered: &Discovered,
    timeouts: postgres::Timeouts,
) -> anyhow::Result<(Option<CompatInput>, Option<Worktree>)> {
    if sources.is_empty() {
        return Ok((None, None));
    }
    let mut input = CompatInput {
        changed: added_versions(stage, discovered),
        ..CompatInput::default()
    };
    if !sources.queries.is_empty() {
        let globs = sources.queries.join(", ");
        let (head, files) = read::head_queries(&sources.queries, &mut input.notes)?;
        input.sources.push(format!(
            "{globs}: {} in {files} file(s) of the working tree (the new code)",
            queries(&head)
        ));
        match (&stage.base_commit, &stage.compared_with) {
            (Some(commit), _) => {
                let (base, files) = read::base_queries(&sources.queries, commit)?;
                input.sources.push(format!(
                    "{globs}: {} in {files} file(s) at the base commit {} (the old code)",
                    queries(&base),
                    commit.get(..12).unwrap_or(commit)
                ));
                input.old.extend(base);
            }
            (None, Some(_)) => {
                input.notes.push(
                    "the base commit is not in local git history: the old code's queries are taken from the working tree"
                        .to_string(),
                );
                input.old.extend(head.iter().cloned());
            }
            (None, None) => input.old.extend(head.iter().cloned()),
        }
        input.new = head;
    }
    let history = history_tables(discovered);
    let history: Vec<&str> = history.iter().map(String::as_str).collect();
    if let Some(path) = &sources.statements {
        let mut recorded = read::statements_file(path)?;
        sources::retain_not_history(&mut recorded, &history);
        add_recorded(&mut input, &path.display().to_string(), recorded);
    }
    if let Some(url) = &sources.statements_from {
        let (session, label) = super::connect_live_with(url, timeouts).await?;
        let mut recorded = read::recorded_from(&session.client).await.map_err(|e| {
            EnvironmentError::new(format!(
                "cannot read pg_stat_statements of {label} (--statements-from): {}{}",
                postgres::describe_error(&e),
                if e.as_db_error().is_some_and(|db| db.code().code() == "42P01") {
                    " (CREATE EXTENSION pg_stat_statements there, with the library in shared_preload_libraries)"
                } else {
                    ""
                }
            ))
        })?;
        sources::retain_not_history(&mut recorded, &history);
        add_recorded(
            &mut input,
            &format!("pg_stat_statements of {label}"),
            recorded,
        );
    }
    let mut worktree = None;
    if let Some(argv) = &sources.command {
        let new_workdir = std::env::current_dir()?;
        let old_workdir = match &stage.base_commit {
            Some(commit) => {
                let added = worktree.insert(Worktree::add(commit)?);
                Some(added.workdir_for(&new_workdir)?)
            }
            None => None,
        };
        input.sources.push(format!(
            "the test command `{}`{}",
            argv.join(" "),
            if old_workdir.is_some() {
                ", run from the base commit (the old code) and the working tree (the new code)"
            } else {
                ", run from the working tree"
            }
        ));
        input.command = Some(TestCommand {
            argv: argv.clone(),
            pass_env: sources.pass_env.clone(),
            new_workdir,
            old_workdir,
        });
    }
    Ok((Some(input), worktree))
}

/// The versions the change adds: those under verification none of whose files the base
/// had (an edited merged migration is not part of what the running code meets: the
/// deployed schema already has it). `None` without a base.
fn added_versions(stage: &BaseStage, discovered: &Discovered) -> Option<BTreeSet<String>> {
    let under_verification = stage.under_verification.as_ref()?;
    let known: BTreeSet<&std::ffi::OsStr> = stage
        .entries
        .iter()
        .filter(|entry| entry.state != "added" && entry.state != "out_of_order")
        .filter_map(|entry| std::path::Path::new(&entry.path).file_name())
        .collect();
    Some(
        discovered
            .migrations
            .iter()
            .filter(|m| under_verification.contains(&m.version.text))
            .filter(|m| {
                m.files()
                    .iter()
                    .all(|file| file.file_name().is_none_or(|name| !known.contains(name)))
            })
            .map(|m| m.version.text.clone())
            .collect(),
    )
}

/// `3 queries` / `1 query`.
fn queries(statements: &[AppStatement]) -> String {
    match statements.len() {
        1 => "1 query".to_string(),
        n => format!("{n} queries"),
    }
}

/// Recorded statements join the old code (the application that runs now).
fn add_recorded(input: &mut CompatInput, origin: &str, recorded: Recorded) {
    input.sources.push(format!(
        "{origin}: {} statement(s) recorded from the running application",
        recorded.statements.len()
    ));
    let skipped = [
        (recorded.skipped_ddl, "DDL statement", "DDL statements"),
        (
            recorded.skipped_utility,
            "utility statement",
            "utility statements",
        ),
        (
            recorded.skipped_ours,
            "statement of a migration tool or monitoring",
            "statements of migration tools and monitoring",
        ),
    ];
    let skipped: Vec<String> = skipped
        .iter()
        .filter(|(count, _, _)| *count > 0)
        .map(|(count, one, many)| format!("{count} {}", if *count == 1 { one } else { many }))
        .collect();
    if !skipped.is_empty() {
        input
            .notes
            .push(format!("{origin}: skipped {}", skipped.join(", ")));
    }
    input.old.extend(recorded.statements);
}

/// The migration tools' own tables, by bare name: their statements are not the
/// application's.
fn history_tables(discovered: &Discovered) -> Vec<String> {
    let mut tables: Vec<String> = Format::ALL
        .iter()
        .chain(std::iter::once(&discovered.format()))
        .filter_map(|format| format.history_table())
        .map(|table| table.rsplit('.').next().unwrap_or(table).to_string())
        .collect();
    tables.sort();
    tables.dedup();
    tables
}
