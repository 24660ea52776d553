//! One validated `Config` from the command line, `migration-check.toml` and
//! (later) Action inputs, built before any work starts: raw strings in, real
//! objects out, and every mistake reported as a usage error (exit 2) that
//! names the flag or the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser as _;
use serde::Deserialize;

use crate::cli::{BaseArgs, Cli, Command, SourceArgs, VerifyArgs};
use crate::error::{InputError, UsageError};
use crate::github::ActionInputs;
use std::sync::Arc;

use crate::analysis::stats::Stats;
use crate::compat::read::CompatSources;
use crate::migrations::{self, Format};
use crate::policy::{
    CompatPolicy, DeployOrder, DifferenceKind, GateLevel, Gates, IrreversibleRule, Level,
    LockPolicy, Policy, Severity,
};
use crate::postgres::Timeouts;
use crate::postgres::embedded::EmbeddedOptions;

/// The file read from the current directory when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "migration-check.toml";

/// Where PostgreSQL comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostgresChoice {
    /// Local binaries when found (Docker comes with the Docker backend).
    Auto,
    Embedded,
    /// A throwaway container (testcontainers) from `Config::image`.
    Docker,
    /// An existing server: a fresh database is created and dropped on it.
    Url(String),
}

/// Where a rendered output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    Stdout,
    File(PathBuf),
}

/// Everything `verify` needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub dir: PathBuf,
    pub format: Option<Format>,
    /// What the formats read from `migration-check.toml` (`[goose]`, `[flyway]`, `[pattern]`).
    pub settings: Arc<migrations::Settings>,
    pub postgres: PostgresChoice,
    pub embedded: EmbeddedOptions,
    /// Image for the Docker backend.
    pub image: String,
    /// `--postgres-versions`: the majors to verify on, ascending; empty for
    /// one run on the backend's own server.
    pub postgres_versions: Vec<u32>,
    /// Image of each major for `--postgres-versions` (holds `{major}`).
    pub image_template: String,
    pub timeouts: Timeouts,
    pub policy: Policy,
    pub json: Option<OutputTarget>,
    /// `--markdown PATH`.
    pub markdown: Option<PathBuf>,
    /// `--erd PATH`: the Mermaid diagram of the schema changes.
    pub erd: Option<PathBuf>,
    pub quiet: bool,
    pub all: bool,
    /// Data fingerprints for tables up to this many rows; `None`: schema only.
    pub data_rows: Option<u64>,
    /// `--full-snapshots`.
    pub full_snapshots: bool,
    /// `--no-lock-analysis`: no measured lock findings.
    pub no_lock_analysis: bool,
    /// Rows generated into each table before the lock analysis measures it (0: none).
    pub lock_rows: u64,
    /// With statistics, the largest size a blocking finding is timed at.
    pub lock_rows_max: u64,
    /// Production's statistics (`--stats`, `[verify] stats`, `--stats-from`).
    pub stats: StatsSource,
    pub base: BaseConfig,
    /// Where the application's SQL comes from (`[compat]`, `--queries`, `--statements`,
    /// `--statements-from`).
    pub compat: CompatSources,
}

/// Where production's statistics come from.
#[derive(Debug, Clone, Default)]
pub enum StatsSource {
    #[default]
    None,
    /// A `stats export` file, read and validated when the configuration is.
    File(PathBuf, Arc<Stats>),
    /// A database read at check time (`--stats-from`).
    Url(String),
}

/// The largest size a blocking finding is timed at unless configured.
pub const DEFAULT_LOCK_ROWS_MAX: u64 = 10_000;

/// Rows per table the lock analysis generates unless configured.
pub const DEFAULT_LOCK_ROWS: u64 = 1_000;

/// Tables up to this many rows get a data fingerprint unless configured.
pub const DEFAULT_DATA_ROWS: u64 = 10_000;

/// `migration-check.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    verify: FileVerify,
    #[serde(default)]
    checksums: Gates,
    #[serde(default)]
    policy: FilePolicy,
    /// `[locks]`: each lock rule's level (`error`, `warning`, `off`), and `max_blocking`.
    #[serde(default)]
    locks: FileLocks,
    /// `[compat]`: the application's SQL and what its breakage weighs.
    #[serde(default)]
    compat: FileCompat,
    #[serde(default)]
    migrate: MigrateSettings,
    #[serde(default)]
    goose: migrations::goose::Settings,
    #[serde(default)]
    flyway: migrations::flyway::Settings,
    pattern: Option<migrations::pattern::Settings>,
    command: Option<migrations::command::Settings>,
    #[serde(default)]
    knex: migrations::command::Preset,
    #[serde(default, rename = "node-pg-migrate")]
    node_pg_migrate: migrations::command::Preset,
    #[serde(default)]
    sequelize: migrations::command::Preset,
    #[serde(default)]
    typeorm: migrations::typeorm::Settings,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileVerify {
    format: Option<String>,
    postgres: Option<String>,
    image: Option<String>,
    postgres_versions: Option<Vec<u32>>,
    image_template: Option<String>,
    statement_timeout: Option<String>,
    lock_timeout: Option<String>,
    command_timeout: Option<String>,
    data_rows: Option<u64>,
    lock_rows: Option<u64>,
    lock_rows_max: Option<u64>,
    /// A `stats export` file, relative to the configuration file's directory.
    stats: Option<PathBuf>,
}

/// `[locks]` in `migration-check.toml`: each rule's level, and the longest estimated
/// blocking time that is not an error.
#[derive(Debug, Default, Deserialize)]
struct FileLocks {
    max_blocking: Option<String>,
    #[serde(flatten)]
    rules: LockPolicy,
}

/// `[compat]` in `migration-check.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCompat {
    /// Globs of query files, relative to the configuration file's directory.
    #[serde(default)]
    queries: Vec<String>,
    /// A pg_stat_statements export, relative to the configuration file's directory.
    statements: Option<PathBuf>,
    deploy: Option<Level>,
    rollback: Option<Level>,
    order: Option<DeployOrder>,
    /// The application's tests, an argument vector (`["npm", "test"]`).
    command: Option<Vec<String>>,
    /// Our variables the test command may see.
    #[serde(default)]
    pass_env: Vec<String>,
}

/// `[migrate]`: the defaults of `migrate up`, `down` and `redo`, which their flags override.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrateSettings {
    pub statement_timeout: Option<String>,
    pub lock_timeout: Option<String>,
    pub lock_wait: Option<String>,
    #[serde(default)]
    pub record_checksums: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePolicy {
    irreversible: Option<IrreversibleRule>,
    column_position: Option<Severity>,
    default_spelling: Option<Severity>,
    line_endings: Option<Severity>,
    comment: Option<Severity>,
    privilege: Option<Severity>,
    owner: Option<Severity>,
    data: Option<Severity>,
    definition: Option<Severity>,
}

impl FilePolicy {
    fn get(&self, kind: DifferenceKind) -> Option<Severity> {
        match kind {
            DifferenceKind::ColumnPosition => self.column_position,
            DifferenceKind::DefaultSpelling => self.default_spelling,
            DifferenceKind::LineEndings => self.line_endings,
            DifferenceKind::Comment => self.comment,
            DifferenceKind::Privilege => self.privilege,
            DifferenceKind::Owner => self.owner,
            DifferenceKind::Data => self.data,
            DifferenceKind::Definition => self.definition,
        }
    }
}

/// The migrations directory, its layout and the configuration file: what
/// every command that reads migrations needs.
#[derive(Debug)]
pub struct Source {
    pub dir: PathBuf,
    pub format: Option<Format>,
    /// What the formats read from the configuration file.
    pub settings: Arc<migrations::Settings>,
    file: FileConfig,
    /// The configuration file's directory (`.` without one): its relative paths start there.
    config_dir: PathBuf,
}

impl Source {
    /// Reads the configuration file and validates the format.
    pub fn from_args(args: &SourceArgs) -> anyhow::Result<Self> {
        let (mut file, config_dir) = load_file(args.config.as_deref())?;
        // `[command] workdir` is relative to the configuration file's directory.
        if let Some(command) = &mut file.command {
            let workdir = command.workdir.take().unwrap_or_else(|| PathBuf::from("."));
            command.workdir = Some(config_dir.join(workdir));
        }
        let format_text = if args.format != "auto" {
            Some(args.format.clone())
        } else {
            file.verify.format.clone()
        };
        let format = match format_text.as_deref() {
            None | Some("auto") => None,
            Some(name) => Some(name.parse::<Format>().map_err(|_| {
                UsageError(format!(
                    "unknown format `{name}`: expected auto, {}",
                    Format::names()
                ))
            })?),
        };
        let settings = Arc::new(migrations::Settings {
            goose: file.goose.clone(),
            flyway: file.flyway.clone(),
            pattern: file.pattern.clone(),
            command: file.command.clone(),
            knex: file.knex.clone(),
            node_pg_migrate: file.node_pg_migrate.clone(),
            sequelize: file.sequelize.clone(),
            typeorm: file.typeorm.clone(),
        });
        if format.is_some_and(|f| f == migrations::command::FORMAT) && settings.command.is_none() {
            return Err(UsageError(
                "format `command` needs a `[command]` table in migration-check.toml \
                 (`migrations`, `up`, `down`, `bookkeeping`)"
                    .to_string(),
            )
            .into());
        }
        if format.is_some_and(|f| f == migrations::pattern::FORMAT) && settings.pattern.is_none() {
            return Err(UsageError(
                "format `pattern` needs a `[pattern]` table in migration-check.toml \
                 (at least `up = \"{version}_{name}.sql\"`)"
                    .to_string(),
            )
            .into());
        }
        Ok(Source {
            dir: migrations::resolve_dir(&args.dir),
            format,
            settings,
            file,
            config_dir,
        })
    }

    /// `[migrate]`.
    pub fn migrate(&self) -> &MigrateSettings {
        &self.file.migrate
    }

    /// The base-branch comparison settings: flags over `[checksums]`.
    pub fn base(&self, args: &BaseArgs) -> Result<BaseConfig, UsageError> {
        let mut gates = self.file.checksums;
        for spec in &args.gate {
            let (state, level) = spec.split_once('=').ok_or_else(|| {
                UsageError(format!(
                    "--gate `{spec}`: write STATE=LEVEL, e.g. renamed=error"
                ))
            })?;
            let level: GateLevel = match level {
                "error" => GateLevel::Error,
                "warning" => GateLevel::Warning,
                "ignore" => GateLevel::Ignore,
                other => {
                    return Err(UsageError(format!(
                        "--gate {state}={other}: LEVEL is error, warning or ignore"
                    )));
                }
            };
            let slot = match state {
                "modified" => &mut gates.modified,
                "deleted" => &mut gates.deleted,
                "out_of_order" => &mut gates.out_of_order,
                "renamed" => &mut gates.renamed,
                "whitespace_only" => &mut gates.whitespace_only,
                other => {
                    return Err(UsageError(format!(
                        "--gate {other}=...: STATE is modified, deleted, out_of_order, renamed or whitespace_only"
                    )));
                }
            };
            *slot = level;
        }
        Ok(BaseConfig {
            base: args.base.clone().filter(|b| !b.is_empty()),
            gates,
        })
    }
}

/// Comparison with the base branch.
#[derive(Debug, Clone)]
pub struct BaseConfig {
    /// `--base`: compare with the merge-base of HEAD and this ref.
    pub base: Option<String>,
    pub gates: Gates,
}

/// A `--json PATH|-` value.
pub fn output_target(value: Option<&str>) -> Option<OutputTarget> {
    value.map(|target| match target {
        "-" => OutputTarget::Stdout,
        path => OutputTarget::File(PathBuf::from(path)),
    })
}

impl Config {
    /// Merges flags over the config file over defaults.
    pub fn from_verify_args(args: &VerifyArgs) -> anyhow::Result<Self> {
        let source = Source::from_args(&args.source)?;
        let base = source.base(&args.base)?;
        let file = &source.file;
        let postgres_text = if args.postgres != "auto" {
            args.postgres.clone()
        } else {
            file.verify
                .postgres
                .clone()
                .unwrap_or(args.postgres.clone())
        };
        let postgres = parse_postgres(&postgres_text)?;
        let defaults = Timeouts::default();
        let timeouts = Timeouts {
            statement: duration_setting(
                "--statement-timeout",
                args.statement_timeout
                    .as_deref()
                    .or(file.verify.statement_timeout.as_deref()),
                defaults.statement,
            )?,
            lock: duration_setting(
                "--lock-timeout",
                args.lock_timeout
                    .as_deref()
                    .or(file.verify.lock_timeout.as_deref()),
                defaults.lock,
            )?,
            command: duration_setting(
                "--command-timeout",
                args.command_timeout
                    .as_deref()
                    .or(file.verify.command_timeout.as_deref()),
                defaults.command,
            )?,
        };
        let mut policy = policy(&file.policy, &file.locks.rules, args)?;
        policy.max_blocking = file
            .locks
            .max_blocking
            .as_deref()
            .map(|text| duration_setting("[locks] max_blocking", Some(text), Duration::ZERO))
            .transpose()?;
        policy.compat = compat_policy(&file.compat, args);
        let json = output_target(args.json.as_deref());
        let image = args
            .image
            .clone()
            .or_else(|| file.verify.image.clone())
            .unwrap_or_else(|| crate::postgres::docker::DEFAULT_IMAGE.to_string());
        let mut postgres_versions = match &args.postgres_versions {
            Some(text) => parse_majors(text)?,
            None => file.verify.postgres_versions.clone().unwrap_or_default(),
        };
        postgres_versions.sort_unstable();
        postgres_versions.dedup();
        let image_template = args
            .image_template
            .clone()
            .or_else(|| file.verify.image_template.clone())
            .unwrap_or_else(|| crate::postgres::docker::DEFAULT_IMAGE_TEMPLATE.to_string());
        check_versions(
            &postgres_versions,
            &postgres,
            &image_template,
            args.image.is_some(),
            args.pg_bin.as_deref(),
        )?;
        Ok(Config {
            postgres,
            image,
            postgres_versions,
            image_template,
            embedded: EmbeddedOptions {
                pg_bin: args.pg_bin.clone(),
                run_as: args.run_as.clone(),
                cache_dir: args.cache_dir.clone(),
                no_cache: args.no_cache,
                cluster_dir: args.cluster_dir.clone(),
            },
            timeouts,
            policy,
            json,
            markdown: args.markdown.clone(),
            erd: args.erd.clone(),
            quiet: args.quiet,
            all: args.all,
            data_rows: match args
                .data_rows
                .or(file.verify.data_rows)
                .unwrap_or(DEFAULT_DATA_ROWS)
            {
                0 => None,
                rows => Some(rows),
            },
            full_snapshots: args.full_snapshots,
            no_lock_analysis: args.no_lock_analysis,
            lock_rows: args
                .lock_rows
                .or(file.verify.lock_rows)
                .unwrap_or(DEFAULT_LOCK_ROWS),
            lock_rows_max: lock_rows_max(args, &file.verify)?,
            stats: stats_source(file.verify.stats.as_deref(), &source.config_dir, args)?,
            base,
            compat: compat_sources(&file.compat, &source.config_dir, args)?,
            dir: source.dir,
            format: source.format,
            settings: Arc::clone(&source.settings),
        })
    }
}

/// The `verify` command line the Action's inputs stand for, parsed by the same clap
/// definitions as a user's (no shell involved), so an input is validated exactly as its
/// flag is; a value clap refuses is named by its input (`irreversible`), not its flag.
pub fn action_verify_args(
    inputs: &ActionInputs,
    report_path: &Path,
) -> Result<VerifyArgs, UsageError> {
    let optional = |input: &'static str, flag: &'static str, value: &Option<String>| {
        value.as_ref().map(|value| (input, flag, value.clone()))
    };
    let mut given: Vec<(&str, &str, String)> = vec![
        ("format", "--format", inputs.format.clone()),
        ("postgres", "--postgres", inputs.postgres.clone()),
        ("", "--json", report_path.display().to_string()),
    ];
    given.extend(
        [
            optional("postgres-image", "--image", &inputs.postgres_image),
            optional(
                "postgres-versions",
                "--postgres-versions",
                &inputs.postgres_versions,
            ),
            optional(
                "postgres-image-template",
                "--image-template",
                &inputs.postgres_image_template,
            ),
            optional("base-ref", "--base", &inputs.base_ref),
            optional("config", "--config", &inputs.config),
            optional("irreversible", "--irreversible", &inputs.irreversible),
            optional("statements", "--statements", &inputs.statements),
            optional(
                "statements-from",
                "--statements-from",
                &inputs.statements_from,
            ),
            optional("stats", "--stats", &inputs.stats),
            optional("stats-from", "--stats-from", &inputs.stats_from),
            optional("compat-deploy", "--compat-deploy", &inputs.compat_deploy),
            optional(
                "compat-rollback",
                "--compat-rollback",
                &inputs.compat_rollback,
            ),
            optional("compat-order", "--compat-order", &inputs.compat_order),
        ]
        .into_iter()
        .flatten(),
    );
    for glob in &inputs.queries {
        given.push(("queries", "--queries", glob.clone()));
    }
    if inputs.cache {
        given.push(("cache-dir", "--cache-dir", inputs.cache_dir.clone()));
    }
    let mut argv: Vec<String> = vec![
        "migration-check".into(),
        "verify".into(),
        inputs.path.clone(),
    ];
    for (_, flag, value) in &given {
        argv.extend([flag.to_string(), value.clone()]);
    }
    if inputs.verify_all {
        argv.push("--all".into());
    }
    if !inputs.cache {
        argv.push("--no-cache".into());
    }
    let error = match Cli::try_parse_from(&argv) {
        Ok(Cli {
            command: Command::Verify(args),
            ..
        }) => return Ok(args),
        Ok(_) => unreachable!("the argv above is a verify command line"),
        Err(error) => error,
    };
    use clap::error::{ContextKind, ContextValue};
    let context = |kind| match error.get(kind) {
        Some(ContextValue::String(text)) => Some(text.clone()),
        Some(ContextValue::Strings(texts)) => Some(texts.join(", ")),
        _ => None,
    };
    let input = context(ContextKind::InvalidArg).and_then(|arg| {
        given
            .iter()
            .find(|(input, flag, _)| !input.is_empty() && arg.split(' ').next() == Some(*flag))
            .map(|(input, _, _)| *input)
    });
    Err(UsageError(
        match (input, context(ContextKind::InvalidValue)) {
            (Some(input), Some(value)) => match context(ContextKind::ValidValue) {
                Some(valid) => {
                    format!("invalid value \"{value}\" for input `{input}`: one of {valid}")
                }
                None => format!(
                    "invalid value \"{value}\" for input `{input}`: {}",
                    error.kind()
                ),
            },
            _ => format!("invalid Action inputs: {error}"),
        },
    ))
}

/// `[compat]`'s sources (its paths relative to the configuration file's directory) and
/// the flags' (relative to the working directory).
fn compat_sources(
    file: &FileCompat,
    config_dir: &Path,
    args: &VerifyArgs,
) -> Result<CompatSources, UsageError> {
    let from_file = |path: &str| {
        if config_dir == Path::new(".") {
            path.to_string()
        } else {
            config_dir.join(path).display().to_string()
        }
    };
    let command = match &args.compat_command {
        Some(line) => Some(
            crate::compat::command::split_command_line(line)
                .map_err(|e| UsageError(format!("--compat-command: {e}")))?,
        ),
        None => file.command.clone(),
    };
    if command.as_ref().is_some_and(Vec::is_empty) {
        return Err(UsageError(
            "[compat] command is empty: give the argument vector, e.g. [\"npm\", \"test\"]".into(),
        ));
    }
    Ok(CompatSources {
        command,
        pass_env: file.pass_env.clone(),
        queries: file
            .queries
            .iter()
            .map(|glob| from_file(glob))
            .chain(args.queries.iter().cloned())
            .collect(),
        statements: args.statements.clone().or_else(|| {
            file.statements
                .as_ref()
                .map(|path| PathBuf::from(from_file(&path.display().to_string())))
        }),
        statements_from: args.statements_from.clone().filter(|url| !url.is_empty()),
    })
}

/// `--lock-rows-max` or `[verify] lock_rows_max`: at least twice the rows the tables are
/// filled with (the smallest of the three sizes).
fn lock_rows_max(args: &VerifyArgs, file: &FileVerify) -> Result<u64, UsageError> {
    let lock_rows = args
        .lock_rows
        .or(file.lock_rows)
        .unwrap_or(DEFAULT_LOCK_ROWS);
    match args.lock_rows_max.or(file.lock_rows_max) {
        Some(max) if lock_rows > 0 && max < 2 * lock_rows => Err(UsageError(format!(
            "--lock-rows-max {max}: at least twice --lock-rows ({lock_rows}): the sizes timed are \
             --lock-rows, --lock-rows-max and their geometric mean"
        ))),
        Some(max) => Ok(max),
        None => Ok(DEFAULT_LOCK_ROWS_MAX.max(2 * lock_rows)),
    }
}

/// `--stats-from`, `--stats` or `[verify] stats` (relative to the configuration file's
/// directory); a file is read and validated now: another format or version is a usage
/// error naming the field.
fn stats_source(
    file: Option<&Path>,
    config_dir: &Path,
    args: &VerifyArgs,
) -> Result<StatsSource, UsageError> {
    if let Some(url) = args.stats_from.as_ref().filter(|url| !url.is_empty()) {
        return Ok(StatsSource::Url(url.clone()));
    }
    let path = match (&args.stats, file) {
        (Some(path), _) => path.clone(),
        (None, Some(path)) => config_dir.join(path),
        (None, None) => return Ok(StatsSource::None),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        UsageError(format!(
            "cannot read the stats file {}: {e}",
            path.display()
        ))
    })?;
    let stats = crate::analysis::stats::parse(&text)
        .map_err(|e| UsageError(format!("stats file {}: {e}", path.display())))?;
    Ok(StatsSource::File(path, Arc::new(stats)))
}

/// Defaults, then the file, then `--warn-on` / `--fail-on` flags.
fn policy(file: &FilePolicy, locks: &LockPolicy, args: &VerifyArgs) -> Result<Policy, UsageError> {
    let mut policy = Policy::default();
    let rules = crate::analysis::rule_ids();
    let known = |rule: &str, origin: &str| {
        if rules.contains(&rule) {
            Ok(())
        } else {
            Err(UsageError(format!(
                "unknown lock rule `{rule}` in {origin}: expected one of {}",
                rules.join(", ")
            )))
        }
    };
    for (rule, level) in locks {
        known(rule, "[locks]")?;
        policy.locks.insert(rule.clone(), *level);
    }
    for rule in &args.fail_on_lock {
        known(rule, "--fail-on-lock")?;
        policy.locks.insert(rule.clone(), Level::Error);
    }
    for kind in DifferenceKind::ALL {
        if let Some(severity) = file.get(kind) {
            policy.differences.insert(kind, severity);
        }
    }
    for (names, severity) in [
        (&args.warn_on, Severity::Warning),
        (&args.fail_on, Severity::Error),
    ] {
        for name in names {
            let kind = DifferenceKind::ALL
                .into_iter()
                .find(|k| k.as_str() == name)
                .ok_or_else(|| {
                    let known: Vec<&str> = DifferenceKind::ALL.iter().map(|k| k.as_str()).collect();
                    UsageError(format!(
                        "unknown difference kind `{name}`: expected one of {}",
                        known.join(", ")
                    ))
                })?;
            policy.differences.insert(kind, severity);
        }
    }
    policy.irreversible = match (&args.irreversible, args.fail_irreversible) {
        (Some(_), true) => {
            return Err(UsageError(
                "--fail-irreversible is --irreversible error: give one of them".into(),
            ));
        }
        (Some(name), false) => IrreversibleRule::parse(name).ok_or_else(|| {
            UsageError(format!(
                "unknown irreversible rule `{name}` (--irreversible, or the Action input \
                 `irreversible`): expected one of {}",
                IrreversibleRule::NAMES.join(", ")
            ))
        })?,
        (None, true) => IrreversibleRule::Error,
        (None, false) => file.irreversible.unwrap_or(policy.irreversible),
    };
    Ok(policy)
}

/// `[compat]`'s levels and order, then the flags (clap checked their values).
fn compat_policy(file: &FileCompat, args: &VerifyArgs) -> CompatPolicy {
    let defaults = CompatPolicy::default();
    let level = |flag: &Option<String>, from_file: Option<Level>, default: Level| {
        flag.as_deref()
            .and_then(Level::parse)
            .or(from_file)
            .unwrap_or(default)
    };
    CompatPolicy {
        deploy: level(&args.compat_deploy, file.deploy, defaults.deploy),
        rollback: level(&args.compat_rollback, file.rollback, defaults.rollback),
        order: args
            .compat_order
            .as_deref()
            .and_then(DeployOrder::parse)
            .or(file.order)
            .unwrap_or(defaults.order),
    }
}

/// The oldest major the snapshot queries and the pipeline support.
pub const OLDEST_MAJOR: u32 = 13;

/// `13,15,17,18` (spaces allowed) into majors (the caller sorts them).
fn parse_majors(text: &str) -> Result<Vec<u32>, UsageError> {
    let mut majors = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let major: u32 = part.parse().map_err(|_| {
            UsageError(format!(
                "--postgres-versions `{text}`: `{part}` is not a major version (write e.g. 13,15,17,18)"
            ))
        })?;
        majors.push(major);
    }
    Ok(majors)
}

/// The combinations `--postgres-versions` cannot mean anything with.
fn check_versions(
    majors: &[u32],
    postgres: &PostgresChoice,
    image_template: &str,
    explicit_image: bool,
    pg_bin: Option<&Path>,
) -> Result<(), UsageError> {
    use crate::postgres::embedded::MAJOR_PLACEHOLDER;
    if majors.is_empty() {
        return Ok(());
    }
    if let Some(old) = majors.iter().find(|m| **m < OLDEST_MAJOR || **m > 99) {
        return Err(UsageError(format!(
            "--postgres-versions: PostgreSQL {old} is not supported (majors {OLDEST_MAJOR} and newer)"
        )));
    }
    if let PostgresChoice::Url(_) = postgres {
        return Err(UsageError(
            "--postgres-versions starts one server per major: use it with --postgres docker, embedded or auto, not a URL".into(),
        ));
    }
    if explicit_image {
        return Err(UsageError(
            "--image names one image; with --postgres-versions give --image-template, e.g. 'postgres:{major}-alpine'".into(),
        ));
    }
    if !image_template.contains(MAJOR_PLACEHOLDER) {
        return Err(UsageError(format!(
            "--image-template `{image_template}` has no {MAJOR_PLACEHOLDER} to put each version in (e.g. 'postgres:{MAJOR_PLACEHOLDER}-alpine')"
        )));
    }
    if majors.len() > 1
        && let Some(dir) = pg_bin
        && !dir.to_string_lossy().contains(MAJOR_PLACEHOLDER)
    {
        return Err(UsageError(format!(
            "--pg-bin {} names one installation; with several --postgres-versions write the major as {MAJOR_PLACEHOLDER}, e.g. /opt/pg{MAJOR_PLACEHOLDER}/bin",
            dir.display()
        )));
    }
    Ok(())
}

fn parse_postgres(text: &str) -> Result<PostgresChoice, UsageError> {
    match text {
        "auto" => Ok(PostgresChoice::Auto),
        "embedded" => Ok(PostgresChoice::Embedded),
        "docker" => Ok(PostgresChoice::Docker),
        url if url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.contains('=') =>
        {
            Ok(PostgresChoice::Url(url.to_string()))
        }
        other => Err(UsageError(format!(
            "--postgres `{}`: expected auto, embedded, docker or a postgres:// URL",
            crate::postgres::libpq::redact(other)
        ))),
    }
}

pub(crate) fn duration_setting(
    name: &str,
    text: Option<&str>,
    default: Duration,
) -> Result<Duration, UsageError> {
    let Some(text) = text else { return Ok(default) };
    let duration = humantime::parse_duration(text)
        .map_err(|e| UsageError(format!("{name} `{text}`: {e} (write e.g. 30s, 5m, 500ms)")))?;
    if duration < Duration::from_millis(1) {
        return Err(UsageError(format!(
            "{name} must be at least 1ms (0 would disable it)"
        )));
    }
    Ok(duration)
}

/// The configuration file (or defaults when there is none) and the directory it is in.
fn load_file(explicit: Option<&Path>) -> anyhow::Result<(FileConfig, PathBuf)> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None if Path::new(DEFAULT_CONFIG_FILE).is_file() => PathBuf::from(DEFAULT_CONFIG_FILE),
        None => return Ok((FileConfig::default(), PathBuf::from("."))),
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| InputError::new(&path, format!("cannot read: {e}")))?;
    let file: FileConfig = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let message = e.message().to_string();
        match line {
            Some(line) => InputError::at_line(&path, line, message),
            None => InputError::new(&path, message),
        }
    })?;
    Ok((file, dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> VerifyArgs {
        let mut argv = vec!["migration-check", "verify"];
        argv.extend_from_slice(extra);
        match crate::cli::Cli::parse_from(argv).command {
            crate::cli::Command::Verify(args) => args,
            other => unreachable!("parsed {other:?}"),
        }
    }

    #[test]
    fn defaults_are_sensible() {
        let config = Config::from_verify_args(&args(&[])).unwrap();
        assert_eq!(config.dir, PathBuf::from("migrations"));
        assert_eq!(config.format, None);
        assert_eq!(config.postgres, PostgresChoice::Auto);
        assert_eq!(config.timeouts, Timeouts::default());
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for bad in [
            &["--format", "liquibase"][..],
            &["--statement-timeout", "soon"],
            &["--postgres", "mysql"],
        ] {
            let error = Config::from_verify_args(&args(bad)).unwrap_err();
            assert_eq!(crate::error::exit_code_for(&error), 2, "{error}");
        }
    }

    fn action_inputs(vars: &[(&str, &str)]) -> ActionInputs {
        let vars = vars
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        crate::github::ActionContext::from_map(&vars)
            .unwrap()
            .inputs
    }

    /// Action inputs are validated as their flags are, and a bad value names the input.
    #[test]
    fn action_inputs_are_validated_by_their_flags_rules() {
        let report = Path::new("report.json");
        let inputs = action_inputs(&[
            ("INPUT_IRREVERSIBLE", "error"),
            ("INPUT_VERIFY-ALL", "true"),
        ]);
        let args = action_verify_args(&inputs, report).unwrap();
        assert_eq!(args.irreversible.as_deref(), Some("error"));
        assert!(args.all);
        let error = action_verify_args(&action_inputs(&[("INPUT_IRREVERSIBLE", "fail")]), report)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid value \"fail\" for input `irreversible`: one of auto, error, warning"
        );
        let error =
            action_verify_args(&action_inputs(&[("INPUT_POSTGRES-VERSIONS", "")]), report).unwrap();
        assert_eq!(error.postgres_versions, None);
        // The running code's inputs: one glob per line, levels checked as their flags.
        let inputs = action_inputs(&[
            ("INPUT_QUERIES", "db/queries/*.sql\n\n  sql/**/*.sql\n"),
            ("INPUT_COMPAT-ROLLBACK", "error"),
            ("INPUT_COMPAT-ORDER", "code-first"),
        ]);
        let args = action_verify_args(&inputs, report).unwrap();
        assert_eq!(args.queries, ["db/queries/*.sql", "sql/**/*.sql"]);
        let config = Config::from_verify_args(&args).unwrap();
        assert_eq!(config.policy.compat.rollback, Level::Error);
        assert_eq!(config.policy.compat.deploy, Level::Error);
        assert_eq!(config.policy.compat.order, DeployOrder::CodeFirst);
        let error = action_verify_args(&action_inputs(&[("INPUT_COMPAT-DEPLOY", "loud")]), report)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid value \"loud\" for input `compat-deploy`: one of error, warning, off"
        );
    }

    #[test]
    fn stats_come_from_the_file_or_the_input_and_are_read_when_configured() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".migration-check")).unwrap();
        let stats = r#"{"format": "migration-check-stats", "version": 1, "server_version": "15.4",
            "settings": {"maintenance_work_mem": "64MB", "max_parallel_maintenance_workers": "2",
            "work_mem": "4MB"}, "tables": []}"#;
        std::fs::write(dir.path().join(".migration-check/stats.json"), stats).unwrap();
        let path = dir.path().join("mc.toml");
        std::fs::write(
            &path,
            "[verify]\nstats = \".migration-check/stats.json\"\nlock_rows_max = 5000\n\
             [locks]\nmax_blocking = \"2s\"\ntable-rewrite = \"error\"\n",
        )
        .unwrap();
        let config_flag = path.display().to_string();
        let config = Config::from_verify_args(&args(&["--config", &config_flag])).unwrap();
        match &config.stats {
            StatsSource::File(file, stats) => {
                assert_eq!(file, &dir.path().join(".migration-check/stats.json"));
                assert_eq!(stats.server_version, "15.4");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(config.lock_rows_max, 5000);
        assert_eq!(config.policy.max_blocking, Some(Duration::from_secs(2)));
        assert_eq!(config.policy.locks["table-rewrite"], Level::Error);
        // Without any: no statistics, sizes up to 10,000.
        let config = Config::from_verify_args(&args(&[])).unwrap();
        assert!(matches!(config.stats, StatsSource::None));
        assert_eq!(config.lock_rows_max, DEFAULT_LOCK_ROWS_MAX);
        // Bad values are usage errors naming the setting.
        for (bad, says) in [
            (
                &["--lock-rows-max", "1500"][..],
                "at least twice --lock-rows",
            ),
            (
                &["--stats", "/nonexistent/stats.json"],
                "cannot read the stats file",
            ),
        ] {
            let error = Config::from_verify_args(&args(bad)).unwrap_err();
            assert_eq!(crate::error::exit_code_for(&error), 2, "{error}");
            assert!(error.to_string().contains(says), "{error}");
        }
        std::fs::write(&path, "[locks]\nmax_blocking = \"soon\"\n").unwrap();
        let error = Config::from_verify_args(&args(&["--config", &config_flag])).unwrap_err();
        assert!(
            error.to_string().contains("[locks] max_blocking `soon`"),
            "{error}"
        );
        // The Action's inputs are the flags.
        let inputs = action_inputs(&[
            ("INPUT_STATS", ".migration-check/stats.json"),
            ("INPUT_STATS-FROM", ""),
        ]);
        let args = action_verify_args(&inputs, Path::new("report.json")).unwrap();
        assert_eq!(
            args.stats.as_deref(),
            Some(Path::new(".migration-check/stats.json"))
        );
        assert_eq!(args.stats_from, None);
    }

    #[test]
    fn compat_comes_from_the_file_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mc.toml");
        std::fs::write(
            &path,
            "[compat]\nqueries = [\"q/*.sql\"]\nstatements = \"ops/s.csv\"\nrollback = \"off\"\n\
             command = [\"npm\", \"test\"]\npass_env = [\"NODE_ENV\"]\n",
        )
        .unwrap();
        let config_flag = path.display().to_string();
        let config = Config::from_verify_args(&args(&["--config", &config_flag])).unwrap();
        let here = |p: &str| dir.path().join(p).display().to_string();
        assert_eq!(config.compat.queries, [here("q/*.sql")]);
        assert_eq!(
            config.compat.statements,
            Some(PathBuf::from(here("ops/s.csv")))
        );
        assert_eq!(
            config.compat.command.as_deref(),
            Some(&["npm".to_string(), "test".to_string()][..])
        );
        assert_eq!(config.compat.pass_env, ["NODE_ENV"]);
        assert_eq!(config.policy.compat.rollback, Level::Off);
        let config = Config::from_verify_args(&args(&[
            "--config",
            &config_flag,
            "--compat-rollback",
            "warning",
            "--compat-command",
            "go test ./...",
        ]))
        .unwrap();
        assert_eq!(config.policy.compat.rollback, Level::Warning);
        assert_eq!(config.compat.command.unwrap(), ["go", "test", "./..."]);
        let error =
            Config::from_verify_args(&args(&["--compat-command", "npm 'test"])).unwrap_err();
        assert_eq!(crate::error::exit_code_for(&error), 2, "{error}");
    }

    #[test]
    fn config_file_is_read_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mc.toml");
        std::fs::write(&path, "[verify]\nstatement_timeout = \"7s\"\nlock_timeout = \"3s\"\n[policy]\nirreversible = \"error\"\n")
            .unwrap();
        let config = Config::from_verify_args(&args(&[
            "--config",
            path.to_str().unwrap(),
            "--lock-timeout",
            "1s",
        ]))
        .unwrap();
        assert_eq!(config.timeouts.statement, Duration::from_secs(7));
        assert_eq!(config.timeouts.lock, Duration::from_secs(1));
        assert_eq!(config.policy.irreversible, IrreversibleRule::Error);
    }

    #[test]
    fn postgres_versions_are_parsed_and_checked() {
        let config =
            Config::from_verify_args(&args(&["--postgres-versions", "17, 13,15,13"])).unwrap();
        assert_eq!(config.postgres_versions, [13, 15, 17]);
        assert_eq!(config.image_template, "postgres:{major}-alpine");
        for bad in [
            &["--postgres-versions", "13,x"][..],
            &["--postgres-versions", "12,15"],
            &[
                "--postgres-versions",
                "15",
                "--postgres",
                "postgres://u@h/db",
            ],
            &["--postgres-versions", "15", "--image", "postgres:15"],
            &[
                "--postgres-versions",
                "15",
                "--image-template",
                "postgres:latest",
            ],
            &[
                "--postgres-versions",
                "13,15",
                "--pg-bin",
                "/usr/lib/postgresql/15/bin",
            ],
        ] {
            let error = Config::from_verify_args(&args(bad)).unwrap_err();
            assert_eq!(crate::error::exit_code_for(&error), 2, "{bad:?}: {error}");
        }
        let one = Config::from_verify_args(&args(&[
            "--postgres-versions",
            "15",
            "--pg-bin",
            "/usr/lib/postgresql/15/bin",
        ]))
        .unwrap();
        assert_eq!(one.postgres_versions, [15]);
    }

    #[test]
    fn postgres_versions_come_from_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mc.toml");
        std::fs::write(
            &path,
            "[verify]\npostgres_versions = [18, 13]\nimage_template = \"mc-postgres:{major}\"\n",
        )
        .unwrap();
        let config =
            Config::from_verify_args(&args(&["--config", path.to_str().unwrap()])).unwrap();
        assert_eq!(config.postgres_versions, [13, 18]);
        assert_eq!(config.image_template, "mc-postgres:{major}");
    }

    #[test]
    fn unknown_config_key_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mc.toml");
        std::fs::write(&path, "[verify]\n\nstatment_timeout = \"7s\"\n").unwrap();
        let error =
            Config::from_verify_args(&args(&["--config", path.to_str().unwrap()])).unwrap_err();
        assert_eq!(crate::error::exit_code_for(&error), 2);
        let text = error.to_string();
        assert!(text.contains("mc.toml:3"), "{text}");
    }
}
