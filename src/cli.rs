//! Command-line interface: clap derive structs with `env` fallbacks and the
//! help text that teaches the tool. No logic lives here; `config` turns these
//! raw values into a validated `Config`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Proves on a throwaway PostgreSQL that SQL migrations are safe to merge.
///
/// Every migration is applied up → down → up with a full schema snapshot after
/// each step: down must restore exactly the schema from before up, and up must
/// re-apply to exactly the same schema.
///
/// Exit status: 0 passed, 1 the check failed, 2 bad input or usage,
/// 3 the environment failed (no PostgreSQL, server died, ...).
#[derive(Debug, Parser)]
#[command(
    name = "migration-check",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Verify a migrations directory: up → down → up per migration, then the whole sequence.
    ///
    /// Examples:
    ///   migration-check verify migrations
    ///   migration-check verify db/migrations --format dbmate --json report.json
    ///   migration-check verify --postgres postgres://user@host/postgres
    ///   migration-check verify --postgres docker --postgres-versions 13,15,17,18
    #[command(verbatim_doc_comment)]
    Verify(VerifyArgs),

    /// Print the canonical schema of a live database (what verify compares).
    ///
    /// Examples:
    ///   migration-check snapshot postgres://app@localhost/app
    ///   migration-check snapshot "$DATABASE_URL" --json > schema.json
    #[command(verbatim_doc_comment)]
    Snapshot(SnapshotArgs),

    /// Compare the schemas of two live databases object by object.
    ///
    /// Exit status: 0 equal, 1 different, 3 a database cannot be reached.
    ///
    /// Example:
    ///   migration-check diff postgres://staging-host/app postgres://prod-host/app
    #[command(verbatim_doc_comment)]
    Diff(DiffArgs),

    /// Production's statistics for sized checks: `stats export` reads them read-only.
    ///
    /// Examples:
    ///   migration-check stats export --database "$PROD_RO_URL" --output .migration-check/stats.json
    #[command(verbatim_doc_comment, subcommand)]
    Stats(StatsCommand),

    /// Compare migration files with the base branch by SHA-256; no database.
    ///
    /// Fast enough for a pre-commit hook. Also checks migrations.sum when present.
    ///
    /// Examples:
    ///   migration-check checksums --base origin/main
    ///   migration-check checksums db/migrations --base main --json -
    #[command(verbatim_doc_comment)]
    Checksums(ChecksumsArgs),

    /// Write migrations.sum, the lock file of migration checksums.
    ///
    /// With the file committed, two pull requests that both add migrations
    /// conflict in git instead of racing silently; verify and checksums fail
    /// while it is stale.
    #[command(verbatim_doc_comment)]
    Sum(SumArgs),

    /// Say which migration tool a directory belongs to, and why: the project's manifests
    /// (go.mod, Cargo.toml, package.json, tool configurations) up to the repository root,
    /// then the directory's own files; the alternatives considered and why they lost; what
    /// was assumed where only naming two tools share decides. Exit 0 when the directory
    /// reads as that tool, 2 when it does not.
    ///
    /// Examples:
    ///   migration-check detect db/migrations
    ///   migration-check detect migrations --json -
    #[command(verbatim_doc_comment)]
    Detect(DetectArgs),

    /// List the migration layouts migration-check reads: how each is recognised,
    /// its transaction rule, non-transactional marker and bookkeeping table.
    ///
    /// Example:
    ///   migration-check formats
    #[command(verbatim_doc_comment)]
    Formats,

    /// The GitHub Action entry point: reads the runner's environment and inputs.
    ///
    /// Inputs arrive as INPUT_<NAME> variables (INPUT_PATH, INPUT_POSTGRES,
    /// INPUT_GITHUB-TOKEN, ...); verifies, then writes the job summary, the step
    /// outputs, annotations, and on pull requests the sticky comment.
    #[command(verbatim_doc_comment)]
    Action,

    /// Post or update the pull request comment from a saved JSON report.
    ///
    /// The safe pattern for fork pull requests: the `pull_request` workflow
    /// uploads the report as an artifact; a `workflow_run` workflow with write
    /// permission posts it without running the pull request's code. The token
    /// comes from GITHUB_TOKEN.
    ///
    /// Example:
    ///   migration-check comment --report report.json --repo octo/app --pr 42
    #[command(verbatim_doc_comment)]
    Comment(CommentArgs),

    /// Apply, revert and inspect migrations on a real database, in the owning tool's own
    /// history table, so the tool and migration-check can be used on one database.
    ///
    /// Reads and writes each tool's table as the tool does: sqlx's `_sqlx_migrations`,
    /// golang-migrate's `schema_migrations` (version and dirty flag), dbmate's
    /// `schema_migrations`, diesel's `__diesel_schema_migrations`, goose's
    /// `goose_db_version`, Flyway's `flyway_schema_history` (its CRC-32 checksums),
    /// node-pg-migrate's `pgmigrations`, knex's `knex_migrations`, Prisma's
    /// `_prisma_migrations`, Atlas's `atlas_schema_revisions`, sql-migrate's
    /// `gorp_migrations` and, for layouts whose tool keeps no table (`pattern`),
    /// `migration_check.history`. Migrations written as code (knex, node-pg-migrate
    /// JavaScript) run through the project's own tool. Hasura and `[command]` tools are
    /// refused by name (exit 2). Every run holds the tool's advisory lock; each migration
    /// runs under its format's transaction rule and is booked in the same transaction.
    ///
    /// Exit status: 0 done, 1 a migration failed (rolled back) or `status`/`validate`
    /// found drift, 2 bad input, 3 the database cannot be reached or the lock is held.
    ///
    /// Examples:
    ///   migration-check migrate status --database-url postgres://app@db/app
    ///   DATABASE_URL=postgres://app@db/app migration-check migrate up --count 2
    ///   migration-check migrate down --to 20240101000003 --dry-run
    ///   migration-check migrate up --dry-run=rollback      # apply, then roll back
    ///   migration-check migrate up --backup before.dump    # pg_dump -Fc first, checked
    ///   migration-check migrate new add_orders
    #[command(verbatim_doc_comment)]
    Migrate(MigrateArgs),
}

/// `migrate` and its commands.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(subcommand)]
    pub command: MigrateCommand,
}

/// The `migrate` commands.
#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Apply pending migrations: all, `--count N`, or up to and including `--to VERSION`.
    Up(MigrateRunArgs),
    /// Revert applied migrations, newest first: the last one, `--count N`, every one
    /// after `--to VERSION`, or `--all` (asks on a terminal unless `--yes`).
    Down(MigrateRunArgs),
    /// Revert the last applied migration (`--count N`: the last N) and apply it again,
    /// comparing the whole schema before and after with verify's snapshot: exit 1 when
    /// they differ. Meant for development databases: it runs downs.
    Redo(MigrateRunArgs),
    /// Each migration's state: applied, pending, out of order, changed since applied,
    /// applied but file missing, failed. Exit 1 on anything but applied and pending.
    Status(MigrateDbArgs),
    /// The applied migrations with when, how long and (where recorded) who.
    History(MigrateDbArgs),
    /// Compare the files with the checksums the database recorded; exit 1 on a mismatch.
    Validate(MigrateDbArgs),
    /// Write a new migration from the format's template, with the next version.
    New(MigrateNewArgs),
}

/// The database and the migrations (shared by the `migrate` commands).
#[derive(Debug, Args)]
pub struct MigrateDbArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// The database: a postgres:// URL or key=value connection string, never printed
    /// with its password. TLS and credentials as libpq reads them: sslmode
    /// (disable|allow|prefer|require|verify-ca|verify-full, default prefer), sslrootcert (a
    /// PEM file, or `system`), sslcert/sslkey; the password from the URL, PGPASSWORD or
    /// ~/.pgpass (PGPASSFILE).
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: String,

    /// Print JSON instead of text (`status`, `history`).
    #[arg(long)]
    pub json: bool,
}

/// Flags of `migrate up` and `migrate down`.
#[derive(Debug, Args)]
pub struct MigrateRunArgs {
    #[command(flatten)]
    pub db: MigrateDbArgs,

    /// Up to and including this version (`up`); down to this version, which stays
    /// applied (`down`).
    #[arg(long, value_name = "VERSION", conflicts_with_all = ["count", "all"])]
    pub to: Option<String>,

    /// This many migrations.
    #[arg(long, value_name = "N", conflicts_with = "all")]
    pub count: Option<usize>,

    /// `down`: revert every applied migration.
    #[arg(long)]
    pub all: bool,

    /// Do not ask before `down --all`.
    #[arg(long)]
    pub yes: bool,

    /// Change nothing. `--dry-run` (or `=print`) prints the plan and the SQL;
    /// `--dry-run=rollback` runs the plan for real inside one transaction, history
    /// included, and rolls it back: it proves the migrations apply to this database. It
    /// refuses a plan with a migration that runs outside a transaction, or through its
    /// tool, and says which.
    #[arg(
        long,
        value_name = "MODE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "print"
    )]
    pub dry_run: Option<DryRun>,

    /// Before changing anything, write `pg_dump -Fc` of the database to PATH (a new file)
    /// and check with `pg_restore -l` that it holds every table's data.
    #[arg(long, value_name = "PATH")]
    pub backup: Option<PathBuf>,

    /// Also keep the SHA-256 of each migration in `migration_check.history`, beside the
    /// tool's own table, for tools that record no checksum (golang-migrate, dbmate, diesel,
    /// goose, node-pg-migrate, knex, sql-migrate): `status` and `validate` then tell a file
    /// edited after it was applied. Also `[migrate] record_checksums = true`.
    #[arg(long)]
    pub record_checksums: bool,

    /// How long to wait for another run's advisory lock before giving up (exit 3)
    /// [default: 60s, or `[migrate] lock_wait`].
    #[arg(long, value_name = "DURATION")]
    pub lock_wait: Option<String>,

    /// Server-side `statement_timeout` for each statement [default: 5m, or `[migrate]
    /// statement_timeout`].
    #[arg(long, value_name = "DURATION")]
    pub statement_timeout: Option<String>,

    /// Server-side `lock_timeout` [default: 30s, or `[migrate] lock_timeout`].
    #[arg(long, value_name = "DURATION")]
    pub lock_timeout: Option<String>,
}

/// What `--dry-run` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DryRun {
    /// Print the plan and the SQL.
    Print,
    /// Run the plan in one transaction and roll it back.
    Rollback,
}

/// Flags of `migrate new`.
#[derive(Debug, Args)]
pub struct MigrateNewArgs {
    /// The migration's name (`add_orders`).
    pub name: String,

    #[command(flatten)]
    pub source: SourceArgs,
}

/// Flags of `comment`.
#[derive(Debug, Args)]
pub struct CommentArgs {
    /// The JSON report written by `verify --json PATH` or the Action.
    #[arg(long, value_name = "PATH")]
    pub report: PathBuf,

    /// The repository, OWNER/NAME (default: GITHUB_REPOSITORY).
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: Option<String>,

    /// The pull request number (default: from the event payload).
    #[arg(long, value_name = "N")]
    pub pr: Option<u64>,

    /// The REST API root (GitHub Enterprise: https://HOST/api/v3).
    #[arg(
        long,
        env = "GITHUB_API_URL",
        default_value = "https://api.github.com",
        value_name = "URL"
    )]
    pub api_url: String,
}

/// Flags of `checksums`.
#[derive(Debug, Args)]
pub struct ChecksumsArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub base: BaseArgs,

    /// Write the result as JSON (the report's `checksums` and `problems`) to PATH, or `-`.
    #[arg(long, value_name = "PATH|-")]
    pub json: Option<String>,
}

/// Flags of `sum`.
#[derive(Debug, Args)]
pub struct SumArgs {
    #[command(flatten)]
    pub source: SourceArgs,
}

/// Flags of `detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Also write the detection as JSON to PATH (`-` for stdout; the text then goes to
    /// stderr): `{"format": …, "basis": …, "evidence": […], "alternatives": […], …}`.
    #[arg(long, value_name = "PATH")]
    pub json: Option<String>,
}

/// Flags of `snapshot`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// postgres:// URL or key=value connection string of the database. TLS and credentials as libpq reads them: sslmode
    /// (disable|allow|prefer|require|verify-ca|verify-full, default prefer), sslrootcert (a
    /// PEM file, or `system`), sslcert/sslkey; the password from the URL, PGPASSWORD or
    /// ~/.pgpass (PGPASSFILE).
    pub url: String,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,

    /// Include data fingerprints (row count and row hash) of tables up to
    /// this many rows; larger tables get their row count only.
    #[arg(long, value_name = "ROWS")]
    pub data: Option<u64>,
}

/// `stats` subcommands.
#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// Write a database's statistics as JSON (format `migration-check-stats`, version 1):
    /// per table its estimated rows, pages and heap, index and TOAST bytes; per column
    /// pg_stats' null fraction, distinct count, average width and correlation; per index
    /// its size; the server version and maintenance_work_mem, work_mem and
    /// max_parallel_maintenance_workers. Read-only (the session is
    /// default_transaction_read_only; a role with pg_read_all_stats suffices). No row
    /// values unless --with-values.
    Export(StatsExportArgs),
}

/// Flags of `stats export`.
#[derive(Debug, Args)]
pub struct StatsExportArgs {
    /// The database (a URL as for `snapshot`); the password is never printed.
    #[arg(
        long,
        value_name = "URL",
        env = "MIGRATION_CHECK_STATS_DATABASE",
        hide_env_values = true
    )]
    pub database: String,

    /// Write the JSON to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Include pg_stats' most common values of every column: these ARE data (email
    /// addresses, names, tokens); never commit a file written with this flag.
    #[arg(long)]
    pub with_values: bool,
}

/// Flags of `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The first database (shown as `-`); a URL as for `snapshot` (sslmode, sslrootcert, ...).
    pub url_a: String,
    /// The second database (shown as `+`).
    pub url_b: String,

    /// Print the differences as JSON.
    #[arg(long)]
    pub json: bool,

    /// Also compare data fingerprints of tables up to this many rows.
    #[arg(long, value_name = "ROWS")]
    pub data: Option<u64>,
}

/// Where the migrations are and how they are laid out (shared by commands).
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Migrations directory.
    #[arg(default_value = "migrations", env = "MIGRATION_CHECK_DIR")]
    pub dir: PathBuf,

    /// Migration layout: auto (from the project and the directory; `migration-check detect`
    /// shows how), sqlx, golang-migrate, diesel, dbmate, goose, flyway, prisma, sql-migrate,
    /// node-pg-migrate, atlas, hasura, supabase, pop, refinery, drizzle, knex, sequelize,
    /// typeorm, pattern (`[pattern]` in migration-check.toml) or command (`[command]`);
    /// `migration-check formats` describes each.
    #[arg(long, default_value = "auto", env = "MIGRATION_CHECK_FORMAT")]
    pub format: String,

    /// Configuration file (default: migration-check.toml in the current directory, if present).
    #[arg(long, env = "MIGRATION_CHECK_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// Comparison with the base branch (shared by `verify` and `checksums`).
#[derive(Debug, Args)]
pub struct BaseArgs {
    /// Compare every migration file with this branch/ref by SHA-256 (the merge-base
    /// of HEAD and REF): edited, deleted, renamed and out-of-order migrations are
    /// reported, and only added or changed migrations are verified step by step.
    #[arg(long, env = "MIGRATION_CHECK_BASE", value_name = "REF")]
    pub base: Option<String>,

    /// How a state of a merged file is gated: STATE=LEVEL with STATE one of
    /// modified, deleted, out_of_order, renamed, whitespace_only and LEVEL one of
    /// error, warning, ignore (repeatable). Defaults: modified, deleted,
    /// out_of_order, whitespace_only = error; renamed = warning.
    #[arg(long, value_name = "STATE=LEVEL")]
    pub gate: Vec<String>,
}

/// Flags of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub base: BaseArgs,

    /// Where PostgreSQL comes from: embedded (local binaries), docker (a throwaway
    /// container), or a URL of a server on which a uniquely named database is
    /// created and dropped. auto: embedded when binaries are found, else docker.
    /// A URL may carry sslmode, sslrootcert, sslcert and sslkey as libpq does; the
    /// password comes from the URL, PGPASSWORD or ~/.pgpass.
    #[arg(
        long,
        default_value = "auto",
        env = "MIGRATION_CHECK_POSTGRES",
        value_name = "auto|embedded|docker|URL"
    )]
    pub postgres: String,

    /// Image for --postgres docker: any postgres-compatible image (official,
    /// PostGIS, Timescale). [default: postgres:18-alpine]
    #[arg(long, env = "MIGRATION_CHECK_IMAGE", value_name = "IMAGE")]
    pub image: Option<String>,

    /// Verify on several PostgreSQL majors in one run, e.g. 13,15,17,18: one
    /// throwaway server per major (docker: an image from --image-template;
    /// embedded: the local installation of each major), run concurrently. The
    /// report gives a migration's verdict per major where they differ, and
    /// its status is the worst of them.
    #[arg(long, env = "MIGRATION_CHECK_POSTGRES_VERSIONS", value_name = "MAJORS")]
    pub postgres_versions: Option<String>,

    /// The image of each major for --postgres-versions on docker; {major} is
    /// replaced by the major. [default: postgres:{major}-alpine]
    #[arg(long, env = "MIGRATION_CHECK_IMAGE_TEMPLATE", value_name = "TEMPLATE")]
    pub image_template: Option<String>,

    /// Directory holding initdb and postgres (embedded backend). With several
    /// --postgres-versions, write the major as {major}: /opt/pg{major}/bin.
    #[arg(long, env = "MIGRATION_CHECK_PG_BIN", value_name = "DIR")]
    pub pg_bin: Option<PathBuf>,

    /// Unprivileged account that runs the embedded cluster when invoked as root.
    #[arg(long, env = "MIGRATION_CHECK_RUN_AS", value_name = "USER")]
    pub run_as: Option<String>,

    /// Cache directory: the embedded backend runs initdb once per set of server
    /// binaries there and starts each cluster from a copy; with --base it also keeps
    /// the cluster as the merged migrations left it, and the next check of the same
    /// base starts from that instead of applying them again. [default:
    /// $XDG_CACHE_HOME/migration-check, else ~/.cache/migration-check]
    #[arg(long, env = "MIGRATION_CHECK_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Run initdb for every embedded cluster instead of copying the cached template,
    /// and neither use nor store the merged history's base state.
    #[arg(long)]
    pub no_cache: bool,

    /// Where the embedded cluster lives while it runs. [default: the temporary
    /// directory when it is in RAM (tmpfs), else /dev/shm when it is tmpfs with 1 GiB
    /// free, else the temporary directory]
    #[arg(long, env = "MIGRATION_CHECK_CLUSTER_DIR", value_name = "DIR")]
    pub cluster_dir: Option<PathBuf>,

    /// Verify every migration step by step, also those unchanged since the base.
    #[arg(long)]
    pub all: bool,

    /// Server-side statement_timeout for each migration statement, e.g. 30s, 5m.
    #[arg(long, value_name = "DURATION")]
    pub statement_timeout: Option<String>,

    /// Server-side lock_timeout for each migration statement, e.g. 10s.
    #[arg(long, value_name = "DURATION")]
    pub lock_timeout: Option<String>,

    /// For migrations run through their own tool (knex, node-pg-migrate JS/TS,
    /// `[command]`): how long one invocation may take before it is killed, e.g. 5m.
    #[arg(long, value_name = "DURATION")]
    pub command_timeout: Option<String>,

    /// Tables with at most this many rows get a data fingerprint (row count and
    /// hash) in every snapshot, so reference rows left behind by a down are
    /// caught; larger tables get their row count. 0 compares the schema only.
    /// [default: 10000]
    #[arg(long, value_name = "ROWS")]
    pub data_rows: Option<u64>,

    /// Read the whole catalog at every snapshot instead of only the relations and
    /// objects changed since the previous one (slower; the verdicts are the same).
    #[arg(long)]
    pub full_snapshots: bool,

    /// What a migration without a down script is: `auto` (default) makes it an error
    /// when most of the directory's other migrations have a down (the project writes
    /// them) and a warning in up-only projects (Prisma, Atlas, Flyway without undo);
    /// `error` or `warning` always. Overrides `[policy] irreversible`.
    #[arg(long, value_name = "RULE", value_parser = ["auto", "error", "warning"])]
    pub irreversible: Option<String>,

    /// Same as `--irreversible error`.
    #[arg(long)]
    pub fail_irreversible: bool,

    /// Only warn on this kind of schema difference (repeatable): column_position,
    /// default_spelling, line_endings, comment, privilege, owner, data, definition.
    #[arg(long, value_name = "KIND")]
    pub warn_on: Vec<String>,

    /// Fail on this kind of schema difference (repeatable); see --warn-on.
    #[arg(long, value_name = "KIND")]
    pub fail_on: Vec<String>,

    /// Fail the check on a measured lock finding of this rule (repeatable):
    /// table-rewrite, volatile-default, enum-column-rewrite, index-without-concurrently,
    /// constraint-validated-in-place, set-not-null-scan, exclusive-lock-held,
    /// lock-timeout-missing, foreign-key-without-index.
    /// Findings are warnings otherwise; `[locks]` in migration-check.toml sets each
    /// rule to error, warning or off.
    #[arg(long, value_name = "RULE")]
    pub fail_on_lock: Vec<String>,

    /// Do not measure what the statements of new migrations do to existing tables
    /// (locks, rewrites, scans); the verdicts are the same either way.
    #[arg(long)]
    pub no_lock_analysis: bool,

    /// Rows generated into every table that exists before a new migration, so that its
    /// rewrites, scans and validations do real work while measured [default: 1000, or
    /// `[verify] lock_rows`; 0: none]. They go into a copy of the database beside the
    /// verified one: no verdict depends on them. Rows satisfy types, NOT NULL, keys and
    /// foreign keys (CHECK constraints best effort); a table that cannot be filled is
    /// named in a note.
    #[arg(long, value_name = "N")]
    pub lock_rows: Option<u64>,

    /// Production's statistics (a `stats export` file, e.g. `.migration-check/stats.json`;
    /// `[verify] stats`): generated rows follow each column's NULL rate, distinct count
    /// and width, so a new unique index meets the duplicates production holds; each
    /// blocking finding is timed at three sizes up to --lock-rows-max and extrapolated to
    /// the production table's rows; an up or down that fails on the rows is an error where
    /// production's table has rows. A file of another format or version is refused.
    #[arg(long, value_name = "FILE", help_heading = "Production statistics")]
    pub stats: Option<PathBuf>,

    /// Read production's statistics at check time from this database, as `stats export`
    /// does (read-only session; pg_read_all_stats suffices). Never printed.
    #[arg(
        long,
        value_name = "URL",
        env = "MIGRATION_CHECK_STATS_FROM",
        hide_env_values = true,
        conflicts_with = "stats",
        help_heading = "Production statistics"
    )]
    pub stats_from: Option<String>,

    /// With statistics, the largest of the three sizes (rows) each blocking finding is
    /// timed at: --lock-rows, N and their geometric mean [default: 10000, or `[verify]
    /// lock_rows_max`; at least twice --lock-rows].
    #[arg(long, value_name = "N", help_heading = "Production statistics")]
    pub lock_rows_max: Option<u64>,

    /// The application's query files, judged on the changed schema (repeatable; a glob
    /// relative to the working directory, `db/queries/**/*.sql`; adds to `[compat]
    /// queries`). sqlc (`-- name: GetUser :one`), aiosql/yesql (`-- name: get_user`),
    /// pgtyped (`/* @name GetUser */`) or plain statements. With --base the old code's
    /// files are read at the base commit, the new code's from the working tree.
    #[arg(long, value_name = "GLOB", help_heading = "Running code")]
    pub queries: Vec<String>,

    /// Statements recorded from the running application: a pg_stat_statements export,
    /// CSV with a header or JSON lines, as `COPY (SELECT query, calls FROM
    /// pg_stat_statements) TO STDOUT WITH CSV HEADER` writes it.
    #[arg(long, value_name = "FILE", help_heading = "Running code")]
    pub statements: Option<PathBuf>,

    /// Read the running application's statements from pg_stat_statements of this
    /// database at check time, in a read-only session (a replica is fine; a role with
    /// pg_read_all_stats sees every statement). Never printed.
    #[arg(
        long,
        value_name = "URL",
        env = "MIGRATION_CHECK_STATEMENTS_FROM",
        hide_env_values = true,
        help_heading = "Running code"
    )]
    pub statements_from: Option<String>,

    /// The application's own tests, run against each schema (`[compat] command` as an
    /// argument vector): with --base, the base commit's code in a git worktree against
    /// the migrated schema and the working tree's against the schema after the downs,
    /// each beside a control run on its own schema. Split into words without a shell
    /// (quotes group words); it sees only PATH, HOME, the locale, `[compat] pass_env` and
    /// the throwaway database as DATABASE_URL and PG*; it is killed at --command-timeout.
    #[arg(long, value_name = "COMMAND", help_heading = "Running code")]
    pub compat_command: Option<String>,

    /// What a statement of the old code that breaks on the migrated schema is:
    /// error (default), warning or off.
    #[arg(long, value_name = "LEVEL", value_parser = ["error", "warning", "off"], help_heading = "Running code")]
    pub compat_deploy: Option<String>,

    /// What a statement of the new code that breaks on the schema after the change's
    /// downs is: error, warning (default) or off.
    #[arg(long, value_name = "LEVEL", value_parser = ["error", "warning", "off"], help_heading = "Running code")]
    pub compat_rollback: Option<String>,

    /// Which ships first: migrations-first (default: the old code meets the migrated
    /// schema) or code-first (the new code meets the schema before the migrations).
    #[arg(long, value_name = "ORDER", value_parser = ["migrations-first", "code-first"], help_heading = "Running code")]
    pub compat_order: Option<String>,

    /// Write the JSON report (contract v1) to PATH, or `-` for stdout.
    #[arg(long, value_name = "PATH|-")]
    pub json: Option<String>,

    /// Write the Markdown report (what the pull request comment shows) to PATH.
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,

    /// Write the entity-relationship diagram of the tables the verified migrations add,
    /// alter or remove (and those their foreign keys reach) to PATH, as Mermaid
    /// `erDiagram` text: the picture the pull request comment shows.
    #[arg(long, value_name = "PATH")]
    pub erd: Option<PathBuf>,

    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}
