//! Keeping the walk going after what a migration does to it: connections of ours that a
//! script terminated are re-opened (and reported), a dead server is the environment's
//! failure, a database left in an unknown state is rebuilt from the newest checkpoint, and
//! the schema snapshots are taken on whatever connections remain.

use std::time::Instant;

use super::{Pipeline, Step, millis, notes_only, prepare_snapshot, problem};
use crate::error::EnvironmentError;
use crate::migrations::Script;
use crate::postgres::{connection_error, describe_error, maintenance_session};
use crate::report::{Problem, Severity};
use crate::schema::Snapshot;

impl Pipeline<'_, '_, '_> {
    /// Turns the terminated connections found so far into warnings: what a
    /// migration does to other sessions is worth a reviewer's eye, though
    /// it is no verdict on reversibility.
    pub(super) fn report_terminated(&mut self, problems: &mut Vec<Problem>) {
        // One warning per kind of event, however many scripts caused it.
        let mut grouped: Vec<(String, Vec<Script>)> = Vec::new();
        for (message, script) in self.terminated.drain(..) {
            let scripts = match grouped.iter_mut().find(|(m, _)| *m == message) {
                Some((_, scripts)) => scripts,
                None => {
                    grouped.push((message, Vec::new()));
                    &mut grouped.last_mut().expect("just pushed").1
                }
            };
            if let Some(script) = script
                && !scripts.iter().any(|s| s.path == script.path)
            {
                scripts.push(script);
            }
        }
        for (message, scripts) in grouped {
            let message = match scripts.as_slice() {
                [_, _, ..] => {
                    let names: Vec<String> = scripts
                        .iter()
                        .map(|s| s.path.display().to_string())
                        .collect();
                    format!("{message} (by {})", names.join(", "))
                }
                _ => message,
            };
            problems.push(problem(
                "connections_terminated",
                Severity::Warning,
                message,
                scripts.first().map(|s| (s, 1)),
            ));
        }
    }

    /// Err (the environment failed) unless the server still accepts a
    /// connection; `context` says what we were doing when a connection broke.
    pub(super) async fn server_alive(
        &self,
        script: &std::path::Path,
        context: &str,
    ) -> Result<(), EnvironmentError> {
        if maintenance_session(self.server, self.options.timeouts)
            .await
            .is_ok()
        {
            return Ok(());
        }
        let mut message = format!(
            "PostgreSQL ({}) went away while running {}: {context}",
            self.server.backend(),
            script.display(),
        );
        let diagnostics = self.server.diagnostics();
        if !diagnostics.is_empty() {
            message.push('\n');
            message.push_str(&diagnostics);
        }
        Err(EnvironmentError::new(message))
    }

    /// Re-opens every connection of ours that no longer answers (a
    /// migration may terminate other backends, or make the database refuse
    /// us new connections) and prepares the snapshot query again; notes what
    /// was terminated.
    pub(super) async fn recover_connections(&mut self) -> Result<(), EnvironmentError> {
        let mut ended = Vec::new();
        if !self.session.answers().await {
            ended.push("connection running the migrations");
            self.session = self.session.reopen().await.map_err(|e| {
                EnvironmentError::new(format!(
                    "the throwaway database accepts no new connection from migration-check after {}: {}",
                    self.last_script_name(),
                    describe_error(&e)
                ))
            })?;
        }
        let mut refused = None;
        let second_answers = match &self.snapshot_session {
            Some(second) => second.answers().await,
            None => false,
        };
        if !second_answers {
            if self.snapshot_session.take().is_some() {
                ended.push("snapshot connection");
            }
            match self.session.reopen().await {
                Ok(second) => self.snapshot_session = Some(second),
                Err(error) => refused = Some(describe_error(&error)),
            }
        }
        self.prepare_snapshot_query().await?;
        if !ended.is_empty() {
            let mut message = format!(
                "terminated migration-check's own {} to the server (it ends other sessions: on a shared server, other clients' too); re-opened, and the verification went on",
                ended.join(" and ")
            );
            if let Some(refused) = refused {
                message.push_str(&format!(
                    "; the database now refuses a second connection ({refused}), so snapshots read the catalogs on one"
                ));
            }
            let script = self.last_script.clone();
            self.terminated.push((message, script));
        }
        Ok(())
    }

    /// Prepares the catalog query again for the current connections (a new database,
    /// or connections re-opened).
    pub(super) async fn prepare_snapshot_query(&mut self) -> Result<(), EnvironmentError> {
        self.snapshot_query = prepare_snapshot(
            self.server,
            self.options,
            &self.session,
            self.snapshot_session.as_ref(),
        )
        .await?;
        Ok(())
    }

    pub(super) fn last_script_name(&self) -> String {
        self.last_script
            .as_ref()
            .map_or("the last script".into(), |s| s.path.display().to_string())
    }

    pub(super) async fn snapshot_current(&mut self) -> Result<Snapshot, EnvironmentError> {
        if let Some(snapshot) = self.current.take() {
            return Ok(snapshot);
        }
        let started = Instant::now();
        let snapshot = match self.capture().await {
            Ok(snapshot) => snapshot,
            Err(first) => {
                // A migration may have terminated our connections or
                // discarded our prepared statements (DISCARD ALL): a dead
                // server is the environment's failure, anything else is
                // repaired once.
                let script = self.last_script.as_ref().map(|s| s.path.clone());
                self.server_alive(
                    script.as_deref().unwrap_or(std::path::Path::new("setup")),
                    &describe_error(&first),
                )
                .await?;
                self.recover_connections().await?;
                self.capture()
                    .await
                    .map_err(|e| connection_error(self.server, "a schema snapshot", &e))?
            }
        };
        self.timings.snapshots += millis(started.elapsed());
        self.timings
            .snapshot_captures
            .add(self.snapshot_query.take_counts());
        self.uncompared.add(&snapshot.uncompared);
        Ok(snapshot)
    }

    pub(super) async fn capture(&self) -> Result<Snapshot, tokio_postgres::Error> {
        let snapshot = self
            .snapshot_query
            .capture_on(
                &self.session.client,
                self.snapshot_session.as_ref().map(|s| &s.client),
                self.data_rows.as_ref(),
            )
            .await?;
        Ok(snapshot.without_tables(&self.bookkeeping))
    }

    /// A fresh database with every up before `index` applied once: a copy of the newest
    /// checkpoint at or before `index` with the ups after it applied, else an empty
    /// database with every up applied. The state reached becomes the checkpoint, so a run
    /// with many failures re-applies each up at most once more in all.
    /// `Ok(Err(reason))` when that state cannot be reached again.
    pub(super) async fn rebuild(
        &mut self,
        index: usize,
    ) -> Result<Result<(), String>, EnvironmentError> {
        let started = Instant::now();
        let scripts = self.timings.scripts;
        let rebuilt = self.rebuild_from_checkpoint(index).await;
        self.timings.scripts = scripts;
        self.timings.rebuilds += millis(started.elapsed());
        rebuilt
    }

    pub(super) async fn rebuild_from_checkpoint(
        &mut self,
        index: usize,
    ) -> Result<Result<(), String>, EnvironmentError> {
        self.current = None;
        self.needs_rebuild = false;
        // A checkpoint exists only where copies are faithful (see `take_checkpoint`).
        let from = self
            .checkpoint
            .clone()
            .filter(|(applied, _)| *applied <= index);
        self.snapshot_session = None;
        let start = match from {
            Some((applied, name)) => {
                self.session = self.databases.fresh_from(&name).await?;
                applied
            }
            None => {
                self.session = self.databases.fresh().await?;
                0
            }
        };
        for migration in &self.migrations[start..index] {
            let mut scratch = notes_only();
            if let Step::Failed(failure) = self.step(&migration.up, &mut scratch).await? {
                return Ok(Err(format!(
                    "could not rebuild the database: re-applying version {} failed: {}",
                    migration.version,
                    failure.message.lines().next().unwrap_or_default()
                )));
            }
        }
        if index > start {
            self.take_checkpoint(index).await?;
        }
        self.snapshot_session = Some(self.databases.connect_newest().await?);
        self.prepare_snapshot_query().await?;
        Ok(Ok(()))
    }

    /// Keeps the database, with the first `applied` ups applied, as the checkpoint, and
    /// goes on in a copy (when copies are faithful).
    pub(super) async fn take_checkpoint(&mut self, applied: usize) -> Result<(), EnvironmentError> {
        if !self.copies_are_faithful {
            return Ok(());
        }
        self.snapshot_session = None;
        let (name, session) = self.databases.checkpoint().await?;
        self.session = session;
        self.checkpoint = Some((applied, name));
        Ok(())
    }
}
