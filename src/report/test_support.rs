//! Reports for the renderers' tests: one builder ([`report`]) of a passing report that each
//! test adds migrations, checksums, problems and schema changes to, so the JSON, Markdown,
//! annotation and terminal tests never spell out the whole model.

use super::{
    ChecksumEntry, MigrationReport, PostgresInfo, Problem, Report, RunTimings, SCHEMA_VERSION,
    SchemaChange, SequenceReport, SequenceStatus, Severity, Status, StepTimings,
};
use crate::analysis::{Blocks, LockFinding, Script};
use crate::policy::Level;
use crate::schema::erd::Diagram;

/// Builds a [`Report`] for tests, passing until told otherwise.
pub(crate) struct Build(pub Report);

pub(crate) fn report() -> Build {
    Build(Report {
        postgres_versions: Vec::new(),
        schema_version: SCHEMA_VERSION,
        passed: true,
        postgres: PostgresInfo {
            backend: "embedded".into(),
            server_version: "16.4".into(),
        },
        format: "sqlx".into(),
        directory: "migrations".into(),
        migrations: vec![],
        sequence: SequenceReport {
            versions: Default::default(),
            status: SequenceStatus::Skipped,
            from_version: None,
            to_version: None,
            problems: vec![],
            note: Some(
                "skipped: a single migration, already proved by its own up → down → up".into(),
            ),
        },
        checksums: vec![],
        problems: vec![],
        schema_changes: vec![],
        schema_diagram: None,
        compat: None,
        notes: Vec::new(),
        ignored_files: Vec::new(),
        timings_ms: RunTimings {
            setup: 1_200,
            scripts: 310,
            snapshots: 95,
            rebuilds: 0,
            total: 1_640,
            ..Default::default()
        },
    })
}

impl Build {
    pub(crate) fn failed(mut self) -> Self {
        self.0.passed = false;
        self
    }

    /// A migration under verification; steps that ran get timings.
    pub(crate) fn migration(
        mut self,
        version: &str,
        name: &str,
        status: Status,
        problems: Vec<Problem>,
    ) -> Self {
        let ran = |step: u8| match (status, step) {
            (Status::Skipped, _) => None,
            (Status::FailedUp | Status::Irreversible, 1..) => None,
            (Status::FailedDown | Status::NotReversible, 2..) => None,
            (_, step) => Some(3 + u64::from(step) * 2),
        };
        self.0.migrations.push(MigrationReport {
            files: vec![
                format!("migrations/{version}_{name}.up.sql"),
                format!("migrations/{version}_{name}.down.sql"),
            ],
            timings_ms: StepTimings {
                up: ran(0),
                down: ran(1),
                reup: ran(2),
            },
            ..migration(version, name, status, problems)
        });
        self
    }

    /// An earlier migration that was only applied.
    pub(crate) fn applied(mut self, version: &str, name: &str) -> Self {
        self = self.migration(version, name, Status::Applied, vec![]);
        let m = self.0.migrations.last_mut().unwrap();
        m.new = false;
        m.timings_ms = StepTimings {
            up: Some(2),
            down: None,
            reup: None,
        };
        self
    }

    pub(crate) fn note(mut self, note: &str) -> Self {
        self.0
            .migrations
            .last_mut()
            .unwrap()
            .notes
            .push(note.into());
        self
    }

    pub(crate) fn sequence(mut self, status: SequenceStatus, from: &str, to: &str) -> Self {
        self.0.sequence = SequenceReport {
            versions: Default::default(),
            status,
            from_version: Some(from.into()),
            to_version: Some(to.into()),
            problems: vec![],
            note: None,
        };
        self
    }

    pub(crate) fn checksum(
        mut self,
        state: &str,
        path: &str,
        base: Option<&str>,
        head: Option<&str>,
    ) -> Self {
        self.0.checksums.push(ChecksumEntry {
            path: path.into(),
            state: state.into(),
            base_sha256: base.map(Into::into),
            head_sha256: head.map(Into::into),
            base_path: None,
            note: None,
        });
        self
    }

    pub(crate) fn top_level(mut self, problem: Problem) -> Self {
        self.0.problems.push(problem);
        self
    }

    pub(crate) fn schema_change(
        mut self,
        change: &str,
        object: &str,
        detail: Option<&str>,
    ) -> Self {
        self.0.schema_changes.push(SchemaChange {
            change: change.into(),
            object: object.into(),
            detail: detail.map(Into::into),
            ..SchemaChange::default()
        });
        self
    }

    pub(crate) fn schema_changes(mut self, changes: Vec<SchemaChange>) -> Self {
        self.0.schema_changes.extend(changes);
        self
    }

    pub(crate) fn schema_diagram(mut self, diagram: Diagram) -> Self {
        self.0.schema_diagram = Some(diagram);
        self
    }

    pub(crate) fn build(self) -> Report {
        self.0
    }
}

pub(crate) fn problem(kind: &str, severity: Severity, message: &str) -> Problem {
    Problem {
        versions: Vec::new(),
        kind: kind.into(),
        severity,
        message: message.into(),
        file: None,
        line: None,
        column: None,
        object: None,
    }
}

pub(crate) fn at(mut problem: Problem, file: &str, line: usize, column: Option<usize>) -> Problem {
    problem.file = Some(file.into());
    problem.line = Some(line);
    problem.column = column;
    problem
}

/// A migration under verification with no files, timings or notes.
pub(crate) fn migration(
    version: &str,
    name: &str,
    status: Status,
    problems: Vec<Problem>,
) -> MigrationReport {
    MigrationReport {
        versions: Default::default(),
        version: version.into(),
        name: name.into(),
        files: vec![],
        new: true,
        status,
        problems,
        timings_ms: StepTimings::default(),
        notes: vec![],
        locks: Vec::new(),
        compat: Vec::new(),
    }
}

/// A lock finding of `rule` on line `line` of `migrations/2_c.up.sql`: a rewrite of
/// `public.orders` under ACCESS EXCLUSIVE held 38 ms.
pub(crate) fn lock_finding(rule: &str, line: usize) -> LockFinding {
    LockFinding {
        rule: rule.into(),
        title: "table rewritten under ACCESS EXCLUSIVE".into(),
        file: "migrations/2_c.up.sql".into(),
        line,
        column: 1,
        statement: "ALTER TABLE orders ALTER COLUMN id TYPE bigint".into(),
        relation: "public.orders".into(),
        mode: Some("AccessExclusiveLock".into()),
        blocks: Blocks::ReadsAndWrites,
        held_ms: 38,
        rewrite: rule == "table-rewrite",
        evidence: "rewrote public.orders".into(),
        why: "every row is copied".into(),
        safe_rewrite: "ALTER TABLE orders ADD COLUMN id_new bigint;".into(),
        allowed: false,
        severity: Level::Warning,
        script: Script::Up,
        estimate: None,
    }
}

/// A statement of the running code that breaks in `window`, owed to `file:line`.
pub(crate) fn compat_finding(
    window: crate::compat::Window,
    severity: Severity,
    name: &str,
    error: &str,
    file: &str,
    line: usize,
) -> crate::compat::CompatFinding {
    crate::compat::CompatFinding {
        window,
        kind: crate::compat::BreakKind::Prepare,
        severity,
        query: crate::compat::AppStatement {
            name: Some(name.into()),
            file: Some("db/queries/users.sql".into()),
            line: Some(2),
            sql: "SELECT id, name FROM users WHERE id = $1".into(),
            ..Default::default()
        },
        error: error.into(),
        sqlstate: "42703".into(),
        file: Some(file.into()),
        line: Some(line),
        output: None,
        versions: Vec::new(),
    }
}

/// What a run judged of the running code, from one query file at both commits.
pub(crate) fn compat_summary() -> crate::compat::CompatSummary {
    crate::compat::CompatSummary {
        sources: vec![
            "db/queries/*.sql: 3 queries in 1 file(s) of the working tree (the new code)".into(),
            "db/queries/*.sql: 3 queries in 1 file(s) at the base commit 0123456789ab (the old code)".into(),
        ],
        judged: 6,
        not_judged: vec![crate::compat::NotJudged {
            query: "CreatePost".into(),
            reason: "a write whose generated values fail on the schema its code was written for: insert or update on table \"posts\" violates foreign key constraint \"posts_user_id_fkey\" (23503)".into(),
        }],
        notes: Vec::new(),
    }
}
