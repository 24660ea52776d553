//! The one place that picks concrete implementations (which PostgreSQL
//! backend, which outputs) and wires the pipeline to them: config → discovery
//! → backend → verification → reports → exit status. It also owns the
//! process-level concerns: signals (Ctrl-C and SIGTERM stop the run and clean
//! up) and hardening against migration code that wants our environment.

mod action;
mod compat;
mod migrate;
mod remote;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};

use crate::cache;
use crate::checksum::{self, RemoteBase};
use crate::cli::{
    ChecksumsArgs, Cli, Command, DetectArgs, DiffArgs, SnapshotArgs, SumArgs, VerifyArgs,
};
use crate::compat::CompatInput;
use crate::config::{Config, OutputTarget, PostgresChoice, Source, StatsSource, output_target};
use crate::error::{EnvironmentError, Interrupted, UsageError};
use crate::migrations::{self, Discovered};
use crate::postgres::docker::DockerServer;
use crate::postgres::embedded::{
    EmbeddedOptions, EmbeddedServer, MAJOR_PLACEHOLDER, find_bin_dir, find_bin_dirs_for_majors,
};
use crate::postgres::{self, Server, Session, UrlServer};
use crate::report::progress::Silent;
use crate::report::{self, Report, terminal::TerminalProgress};
use crate::schema::Snapshot;
use crate::schema::options::UncomparedSummary;
use crate::schema::snapshot::SnapshotQuery;
use crate::verify::base::base_stage;
use crate::verify::versions::{self, VersionRun};
use crate::verify::{self, BaseStateUse, VerifyOptions};

/// Test hook: panic right after PostgreSQL started, to prove cleanup on panic.
pub const PANIC_HOOK_ENV: &str = "MIGRATION_CHECK_TEST_PANIC_AFTER_START";

/// Makes our own process unreadable to code we run: a migration executing
/// shell commands as our user cannot read `/proc/<our pid>/environ` (tokens)
/// or attach to us once the process is not dumpable.
pub fn harden_process() {
    let _ = nix::sys::prctl::set_dumpable(false);
}

/// Runs a parsed command line; returns the exit status for a completed run.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Verify(args) => verify_command(&args).await,
        Command::Snapshot(args) => snapshot_command(&args).await,
        Command::Diff(args) => diff_command(&args).await,
        Command::Stats(crate::cli::StatsCommand::Export(args)) => stats_export_command(&args).await,
        Command::Checksums(args) => checksums_command(&args),
        Command::Sum(args) => sum_command(&args),
        Command::Detect(args) => detect_command(&args),
        Command::Formats => {
            print!("{}", migrations::describe_formats());
            Ok(0)
        }
        Command::Action => action::action_command().await,
        Command::Comment(args) => action::comment_command(&args).await,
        Command::Migrate(args) => migrate::migrate_command(&args).await,
    }
}

fn checksums_command(args: &ChecksumsArgs) -> anyhow::Result<u8> {
    let source = Source::from_args(&args.source)?;
    let base = source.base(&args.base)?;
    let discovered = migrations::discover(&source.dir, source.format, &source.settings)?;
    print_detection(&discovered.detection);
    let sum_path = source.dir.join(checksum::sum::SUM_FILE);
    if base.base.is_none() && !sum_path.is_file() {
        return Err(UsageError(format!(
            "nothing to compare: pass --base REF (e.g. --base origin/main), or write {} with `migration-check sum`",
            sum_path.display()
        ))
        .into());
    }
    let remote = remote::GitHubRemote::from_env();
    let stage = base_stage(
        &source.dir,
        &discovered.layout,
        base.base.as_deref(),
        &base.gates,
        remote.as_ref().map(|r| r as &dyn RemoteBase),
    )?;
    let passed = !stage
        .problems
        .iter()
        .any(|p| p.severity == report::Severity::Error);
    let text = report::terminal::render_checksums(
        &stage.entries,
        &stage.problems,
        stage.compared_with.as_deref(),
    );
    match output_target(args.json.as_deref()) {
        Some(target) => {
            let json = serde_json::json!({
                "schema_version": report::SCHEMA_VERSION,
                "passed": passed,
                "checksums": stage.entries,
                "problems": stage.problems,
            });
            let json = format!(
                "{}\n",
                serde_json::to_string_pretty(&json).context("serializing checksums")?
            );
            match target {
                OutputTarget::Stdout => {
                    let _ = write!(anstream::stderr(), "{text}");
                    std::io::stdout()
                        .write_all(json.as_bytes())
                        .context("cannot write to stdout")?;
                }
                OutputTarget::File(path) => {
                    std::fs::write(&path, json).map_err(|e| {
                        EnvironmentError::new(format!("cannot write {}: {e}", path.display()))
                    })?;
                    let _ = write!(anstream::stdout(), "{text}");
                }
            }
        }
        None => {
            let _ = write!(anstream::stdout(), "{text}");
        }
    }
    Ok(if passed { 0 } else { 1 })
}

fn sum_command(args: &SumArgs) -> anyhow::Result<u8> {
    let source = Source::from_args(&args.source)?;
    let discovered = migrations::discover(&source.dir, source.format, &source.settings)?;
    print_detection(&discovered.detection);
    let path = checksum::sum::write_sum(&source.dir, &discovered.layout)?;
    println!(
        "wrote {} ({} migration(s))",
        path.display(),
        discovered.migrations.len()
    );
    Ok(0)
}

/// The detection's first line (and its warnings) on stderr, where every command that reads
/// a directory starts.
fn print_detection(detection: &migrations::detect::Detection) {
    let mut err = anstream::stderr();
    let _ = writeln!(err, "{}", detection.summary());
    for warning in &detection.warnings {
        let _ = writeln!(err, "warning: {warning}");
    }
}

/// `detect`: the detection in full, then whether the directory reads as that tool.
fn detect_command(args: &DetectArgs) -> anyhow::Result<u8> {
    use std::fmt::Write as _;
    let source = Source::from_args(&args.source)?;
    let detection = migrations::detect(&source.dir, source.format, &source.settings)?;
    let discovered = migrations::discover(&source.dir, Some(detection.format), &source.settings);
    let mut text = String::new();
    let _ = writeln!(text, "{}", detection.summary());
    for alternative in &detection.alternatives {
        let _ = writeln!(
            text,
            "  not {}: {} ({})",
            alternative.format, alternative.why_not, alternative.evidence
        );
    }
    for warning in &detection.warnings {
        let _ = writeln!(text, "  warning: {warning}");
    }
    match &discovered {
        Ok(found) => {
            let _ = writeln!(
                text,
                "  reads {} migration(s) from {}{}",
                found.migrations.len(),
                source.dir.display(),
                match found.ignored.len() {
                    0 => String::new(),
                    n => format!(", {n} file(s) the tool skips (ignored)"),
                }
            );
        }
        Err(error) => {
            let _ = writeln!(text, "  but {} cannot read it: {error}", detection.format);
        }
    }
    let json = serde_json::json!({
        "format": detection.format.name(),
        "basis": detection.basis,
        "evidence": detection.evidence,
        "alternatives": detection.alternatives,
        "assumption": detection.assumption,
        "warnings": detection.warnings,
        "migrations": discovered.as_ref().ok().map(|d| d.migrations.len()),
        "ignored_files": discovered.as_ref().ok().map(|d| {
            d.ignored.iter().map(|p| p.display().to_string()).collect::<Vec<_>>()
        }),
        "error": discovered.as_ref().err().map(ToString::to_string),
    });
    match output_target(args.json.as_deref()) {
        Some(OutputTarget::Stdout) => {
            let _ = write!(anstream::stderr(), "{text}");
            println!(
                "{}",
                serde_json::to_string_pretty(&json).context("serializing")?
            );
        }
        Some(OutputTarget::File(path)) => {
            let _ = write!(anstream::stdout(), "{text}");
            std::fs::write(&path, format!("{}\n", serde_json::to_string_pretty(&json)?)).map_err(
                |e| EnvironmentError::new(format!("cannot write {}: {e}", path.display())),
            )?;
        }
        None => {
            let _ = write!(anstream::stdout(), "{text}");
        }
    }
    Ok(if discovered.is_ok() { 0 } else { 2 })
}

/// Connects to a live database given by URL; unreachable is exit 3.
async fn connect_live(url: &str) -> anyhow::Result<(Session, String)> {
    connect_live_with(url, postgres::Timeouts::default()).await
}

/// [`connect_live`] with the session's `statement_timeout` and `lock_timeout`.
async fn connect_live_with(
    url: &str,
    timeouts: postgres::Timeouts,
) -> anyhow::Result<(Session, String)> {
    // TLS, certificates and passwords as libpq reads them; a bad URL is exit 2.
    let target = postgres::ServerUrl::parse(url)?.target(None);
    let label = connection_label(&target.config);
    let session = Session::open(target, timeouts).await.map_err(|e| {
        EnvironmentError::new(format!(
            "cannot connect to {label}: {}",
            postgres::describe_error(&e)
        ))
    })?;
    Ok((session, label))
}

/// `user@host:port/dbname`, never the password.
fn connection_label(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config
        .get_ports()
        .first()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    format!("{user}{host}{port}/{}", config.get_dbname().unwrap_or(""))
}

async fn capture_live(url: &str, data_rows: Option<u64>) -> anyhow::Result<(Snapshot, String)> {
    let (session, label) = connect_live(url).await?;
    let (second, _) = connect_live(url).await?;
    let failed = |what: &str, e: tokio_postgres::Error| {
        EnvironmentError::new(format!(
            "cannot read the {what} of {label}: {}",
            postgres::describe_error(&e)
        ))
    };
    let query = SnapshotQuery::prepare_parallel(&session.client, &second.client)
        .await
        .map_err(|e| failed("catalogs", e))?;
    let snapshot = query
        .capture_on(
            &session.client,
            Some(&second.client),
            data_rows
                .map(crate::schema::fingerprint::DataRows::new)
                .as_ref(),
        )
        .await
        .map_err(|e| failed("schema", e))?;
    Ok((snapshot, label))
}

/// Says on stderr what the snapshots read but did not compare.
fn print_uncompared(snapshots: &[&Snapshot]) {
    let mut summary = UncomparedSummary::default();
    for snapshot in snapshots {
        summary.add(&snapshot.uncompared);
    }
    for note in summary.notes() {
        let _ = writeln!(anstream::stderr(), "note: {note}");
    }
}

async fn snapshot_command(args: &SnapshotArgs) -> anyhow::Result<u8> {
    let (snapshot, _) = capture_live(&args.url, args.data).await?;
    print_uncompared(&[&snapshot]);
    let text = if args.json {
        let mut json =
            serde_json::to_string_pretty(&snapshot).context("serializing the snapshot")?;
        json.push('\n');
        json
    } else {
        report::schema_text::render_snapshot(&snapshot)
    };
    write!(anstream::stdout(), "{text}").context("cannot write to stdout")?;
    Ok(0)
}

/// The statistics of the database at `url`, read-only, and its label (never the password).
async fn read_live_stats(
    url: &str,
    timeouts: postgres::Timeouts,
    with_values: bool,
) -> anyhow::Result<(crate::analysis::stats::Stats, String)> {
    let (session, label) = connect_live_with(url, timeouts).await?;
    let stats = crate::analysis::stats::export(&session.client, with_values)
        .await
        .map_err(|e| {
            EnvironmentError::new(format!(
                "cannot read the statistics of {label}: {}",
                postgres::describe_error(&e)
            ))
        })?;
    Ok((stats, label))
}

/// Production's statistics for `verify`, from the file the configuration read or from
/// `--stats-from` now.
async fn verify_stats(
    config: &Config,
    progress: &mut TerminalProgress,
) -> anyhow::Result<Option<Arc<crate::analysis::stats::Stats>>> {
    let (stats, from) = match &config.stats {
        StatsSource::None => return Ok(None),
        StatsSource::File(path, stats) => (Arc::clone(stats), path.display().to_string()),
        StatsSource::Url(url) => {
            let (stats, label) = read_live_stats(url, config.timeouts, false)
                .await
                .context("--stats-from")?;
            (Arc::new(stats), label)
        }
    };
    if !config.quiet {
        progress.message(&format!(
            "production statistics: {} table(s) from {from} (PostgreSQL {})",
            stats.tables.len(),
            stats.server_version
        ));
    }
    Ok(Some(stats))
}

/// `stats export`: the statistics of a live database, read-only, as JSON.
async fn stats_export_command(args: &crate::cli::StatsExportArgs) -> anyhow::Result<u8> {
    let (stats, label) = read_live_stats(
        &args.database,
        postgres::Timeouts::default(),
        args.with_values,
    )
    .await?;
    let mut json = serde_json::to_string_pretty(&stats)?;
    json.push('\n');
    match &args.output {
        Some(path) => std::fs::write(path, json)
            .map_err(|e| EnvironmentError::new(format!("cannot write {}: {e}", path.display())))?,
        None => print!("{json}"),
    }
    let _ = writeln!(
        anstream::stderr(),
        "statistics of {} tables read from {label}{}",
        stats.tables.len(),
        if args.with_values {
            " (with their most common values: data)"
        } else {
            ""
        }
    );
    Ok(0)
}

async fn diff_command(args: &DiffArgs) -> anyhow::Result<u8> {
    let ((left, left_label), (right, right_label)) = tokio::try_join!(
        capture_live(&args.url_a, args.data),
        capture_live(&args.url_b, args.data)
    )?;
    print_uncompared(&[&left, &right]);
    let changes = crate::schema::diff(&left, &right);
    let text = if args.json {
        let mut json =
            serde_json::to_string_pretty(&changes).context("serializing the differences")?;
        json.push('\n');
        json
    } else {
        report::schema_text::render_diff(&changes, &left_label, &right_label)
    };
    write!(anstream::stdout(), "{text}").context("cannot write to stdout")?;
    Ok(if changes.is_empty() { 0 } else { 1 })
}

async fn verify_command(args: &VerifyArgs) -> anyhow::Result<u8> {
    let remote = remote::GitHubRemote::from_env();
    let report = run_verify(args, remote.as_ref().map(|r| r as &dyn RemoteBase)).await?;
    Ok(if report.passed { 0 } else { 1 })
}

/// `verify` up to its outputs (terminal, JSON): the report, for callers that
/// publish it further (the Action).
pub(crate) async fn run_verify(
    args: &VerifyArgs,
    remote: Option<&dyn RemoteBase>,
) -> anyhow::Result<Report> {
    let config = Config::from_verify_args(args)?;
    let discovered = migrations::discover(&config.dir, config.format, &config.settings)?;
    if let Some(missing) = migrations::command::missing_program(&discovered.migrations) {
        return Err(EnvironmentError::new(missing).into());
    }
    let stage = base_stage(
        &config.dir,
        &discovered.layout,
        config.base.base.as_deref(),
        &config.base.gates,
        remote,
    )?;
    let (compat, _base_worktree) =
        compat::read_compat(&config.compat, &stage, &discovered, config.timeouts).await?;
    let mut progress = TerminalProgress::new();
    if !config.quiet {
        progress.message(&discovered.detection.summary());
        for warning in &discovered.detection.warnings {
            progress.message(&format!("warning: {warning}"));
        }
        progress.message(&format!(
            "{} migration(s) in {}",
            discovered.migrations.len(),
            config.dir.display(),
        ));
    }
    if !config.quiet
        && let Some(compared) = &stage.compared_with
    {
        let count = stage.under_verification.as_ref().map_or(0, |set| set.len());
        progress.message(&format!(
            "compared with {compared}: {count} migration(s) new or changed{}",
            if config.all {
                " (verifying all: --all)"
            } else {
                ""
            }
        ));
    }
    let under_verification = if config.all {
        None
    } else {
        stage.under_verification.clone()
    };
    let stats = verify_stats(&config, &mut progress).await?;
    let mut report = with_signals(verify_with_backend(
        &config,
        &discovered,
        under_verification,
        (compat, stats),
        &mut progress,
    ))
    .await??;
    stage.attach(&mut report);
    write_outputs(&config, &report)?;
    Ok(report)
}

/// Starts the chosen PostgreSQL, verifies, and tears everything down.
async fn verify_with_backend(
    config: &Config,
    discovered: &Discovered,
    under_verification: Option<BTreeSet<String>>,
    (compat, stats): (
        Option<CompatInput>,
        Option<Arc<crate::analysis::stats::Stats>>,
    ),
    progress: &mut TerminalProgress,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let options = VerifyOptions {
        timeouts: config.timeouts,
        under_verification,
        policy: config.policy.clone(),
        directory: config.dir.display().to_string(),
        data_rows: config.data_rows,
        full_snapshots: config.full_snapshots,
        base_state: None,
        lock_analysis: !config.no_lock_analysis,
        lock_rows: config.lock_rows,
        lock_rows_max: config.lock_rows_max,
        stats,
        compat,
    };
    if !config.postgres_versions.is_empty() {
        return verify_on_versions(config, discovered, &options, progress, started).await;
    }
    let choice = match &config.postgres {
        // An explicit --pg-bin means the local binaries, even when they are missing.
        PostgresChoice::Auto if config.embedded.pg_bin.is_some() || find_bin_dir(None).is_ok() => {
            &PostgresChoice::Embedded
        }
        PostgresChoice::Auto => &PostgresChoice::Docker,
        other => other,
    };
    let ready = |progress: &mut TerminalProgress, what: String| {
        if !config.quiet {
            progress.message(&format!(
                "PostgreSQL ready in {} ms ({what})",
                started.elapsed().as_millis()
            ));
        }
        if std::env::var_os(PANIC_HOOK_ENV).is_some() {
            panic!("{PANIC_HOOK_ENV} is set: panicking with PostgreSQL running");
        }
    };
    match choice {
        PostgresChoice::Auto | PostgresChoice::Embedded => {
            verify_embedded(
                &config.embedded,
                discovered,
                &options,
                config,
                progress,
                started,
                |progress, what| ready(progress, what),
            )
            .await
        }
        PostgresChoice::Docker => {
            let server =
                DockerServer::start(&config.image)
                    .await
                    .map_err(|e| match &config.postgres {
                        PostgresChoice::Auto => EnvironmentError::new(format!(
                            "no local PostgreSQL server binaries were found, and Docker failed: {}",
                            e.message
                        )),
                        _ => e,
                    })?;
            let (host, port) = server.address();
            ready(
                progress,
                format!("docker, {} at {host}:{port}", server.image()),
            );
            run_verification(&server, discovered, &options, config, progress, started).await
        }
        PostgresChoice::Url(url) => {
            let server = UrlServer::parse(url)?;
            let prefix = postgres::run_prefix();
            let guard = UrlCleanup {
                server: &server,
                prefix: &prefix,
                done: false,
            };
            let result = verify::run(
                &server,
                discovered,
                &options,
                &mut *progress,
                started.elapsed(),
                &prefix,
            )
            .await;
            guard.finish().await;
            Ok(result?)
        }
    }
}

/// A server of one major for `--postgres-versions`.
enum MajorServer {
    Embedded(std::path::PathBuf),
    Docker(String),
}

/// `--postgres-versions`: one server per major, verified concurrently (as
/// many at a time as there are cores), folded into one report.
async fn verify_on_versions(
    config: &Config,
    discovered: &Discovered,
    options: &VerifyOptions,
    progress: &mut TerminalProgress,
    started: Instant,
) -> anyhow::Result<Report> {
    let majors = &config.postgres_versions;
    let local = find_bin_dirs_for_majors(majors, config.embedded.pg_bin.as_deref());
    let embedded = match &config.postgres {
        PostgresChoice::Embedded => true,
        // An explicit --pg-bin means the local binaries, even when some are missing.
        PostgresChoice::Auto => config.embedded.pg_bin.is_some() || local.is_ok(),
        PostgresChoice::Docker => false,
        PostgresChoice::Url(_) => {
            unreachable!("the configuration refuses --postgres-versions with a URL")
        }
    };
    let servers: Vec<(u32, MajorServer)> = if embedded {
        local?
            .into_iter()
            .map(|(major, dir)| (major, MajorServer::Embedded(dir)))
            .collect()
    } else {
        majors
            .iter()
            .map(|&major| {
                let image = config
                    .image_template
                    .replace(MAJOR_PLACEHOLDER, &major.to_string());
                (major, MajorServer::Docker(image))
            })
            .collect()
    };
    let at_once = std::thread::available_parallelism().map_or(2, usize::from);
    if !config.quiet {
        progress.message(&format!(
            "verifying on PostgreSQL {} ({} at a time)",
            report::majors_list(majors),
            at_once.min(majors.len())
        ));
    }
    let permits = tokio::sync::Semaphore::new(at_once);
    let runs = servers.into_iter().map(|(major, server)| {
        let permits = &permits;
        async move {
            let _permit = permits.acquire().await.context("the run was stopped")?;
            let mut progress = TerminalProgress::labelled(&format!("PostgreSQL {major}"));
            let started = Instant::now();
            let verified = async {
                let ready = |progress: &mut TerminalProgress, what: String| {
                    if !config.quiet {
                        progress.message(&format!(
                            "ready in {} ms ({what})",
                            started.elapsed().as_millis()
                        ));
                    }
                };
                match server {
                    MajorServer::Embedded(bin_dir) => {
                        let options_for_major = EmbeddedOptions {
                            pg_bin: Some(bin_dir),
                            ..config.embedded.clone()
                        };
                        verify_embedded(
                            &options_for_major,
                            discovered,
                            options,
                            config,
                            &mut progress,
                            started,
                            ready,
                        )
                        .await
                    }
                    MajorServer::Docker(image) => {
                        let server = DockerServer::start(&image).await?;
                        ready(&mut progress, format!("docker, {image}"));
                        run_verification(
                            &server,
                            discovered,
                            options,
                            config,
                            &mut progress,
                            started,
                        )
                        .await
                    }
                }
            };
            let report = verified
                .await
                .with_context(|| format!("on PostgreSQL {major}"))?;
            anyhow::Ok(VersionRun { major, report })
        }
    });
    // The first failure drops the other runs, which stops their servers.
    let runs = futures_util::future::try_join_all(runs).await?;
    let mut report = versions::merge(runs);
    report.timings_ms.total = started.elapsed().as_millis().try_into().unwrap_or(u64::MAX);
    Ok(report)
}

/// Starts an embedded cluster (from the cached base state of the merged history when the
/// cache has it), verifies, and stores the base state when this run recorded one.
async fn verify_embedded(
    embedded: &EmbeddedOptions,
    discovered: &Discovered,
    options: &VerifyOptions,
    config: &Config,
    progress: &mut TerminalProgress,
    started: Instant,
    ready: impl FnOnce(&mut TerminalProgress, String),
) -> anyhow::Result<Report> {
    let base = base_state_key(embedded, discovered, options);
    let (server, restored) =
        EmbeddedServer::start_seeded(embedded, base.as_ref().map(|(key, _)| key.as_str())).await?;
    let mut what = format!("embedded, {}", server.bin_dir().display());
    let mut options = options.clone();
    if let Some((_, merged)) = &base {
        let merged = *merged;
        options.base_state = Some(if restored {
            what.push_str(&format!(
                "; the {merged} merged migration(s) from the cached base state"
            ));
            BaseStateUse::Restored { merged }
        } else {
            BaseStateUse::Record { merged }
        });
    }
    ready(progress, what);
    let report = run_verification(&server, discovered, &options, config, progress, started).await?;
    if let (Some((key, _)), false) = (base, restored)
        && postgres::database_exists(&server, cache::base_state::DATABASE).await?
    {
        let stored = Instant::now();
        match server.store_base_state(key).await {
            Ok(()) if !config.quiet => progress.message(&format!(
                "cached the merged history's base state in {} ms",
                stored.elapsed().as_millis()
            )),
            Ok(()) => {}
            Err(why) => eprintln!("warning: the merged history's base state was not cached: {why}"),
        }
    }
    Ok(report)
}

/// The cached base state this run can use, as (key, merged migrations): `None` without a
/// cache, without merged migrations before the first new one (see
/// [`verify::base_state_prefix`]), or when a merged file cannot be read.
fn base_state_key(
    embedded: &EmbeddedOptions,
    discovered: &Discovered,
    options: &VerifyOptions,
) -> Option<(String, usize)> {
    EmbeddedServer::cache_dir(embedded)?;
    let merged =
        verify::base_state_prefix(&discovered.migrations, options.under_verification.as_ref())?;
    let template = EmbeddedServer::template_key(embedded).ok()?;
    match cache::base_state::key(
        &template,
        discovered.format().name(),
        &discovered.migrations[..merged],
    ) {
        Ok(key) => Some((key, merged)),
        Err(why) => {
            eprintln!("warning: the merged history's base state is not cached: {why}");
            None
        }
    }
}

async fn run_verification(
    server: &dyn Server,
    discovered: &Discovered,
    options: &VerifyOptions,
    config: &Config,
    progress: &mut TerminalProgress,
    started: Instant,
) -> anyhow::Result<Report> {
    let prefix = postgres::run_prefix();
    let setup = started.elapsed();
    let report = if config.quiet {
        verify::run(server, discovered, options, &mut Silent, setup, &prefix).await?
    } else {
        verify::run(server, discovered, options, progress, setup, &prefix).await?
    };
    Ok(report)
}

/// Drops a URL run's databases even when the run is interrupted: on drop
/// without `finish` it spawns a best-effort cleanup on a fresh runtime.
struct UrlCleanup<'a> {
    server: &'a UrlServer,
    prefix: &'a str,
    done: bool,
}

impl UrlCleanup<'_> {
    async fn finish(mut self) {
        self.done = true;
    }
}

impl Drop for UrlCleanup<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Interrupted mid-run: the pipeline's own drop_all never ran.
        let server = self.server;
        let prefix = self.prefix.to_string();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    && let Err(error) =
                        runtime.block_on(postgres::drop_run_databases(server, &prefix))
                {
                    eprintln!(
                        "warning: could not drop the throwaway databases {prefix}_*: {error}"
                    );
                }
            });
        });
    }
}

/// Runs `work` until it finishes or Ctrl-C / SIGTERM arrives; on a signal the
/// work is dropped (which stops PostgreSQL and removes its files) before we return.
async fn with_signals<T>(work: impl Future<Output = T>) -> anyhow::Result<T> {
    let mut terminate =
        signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut interrupt =
        signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    tokio::select! {
        result = work => Ok(result),
        _ = interrupt.recv() => Err(Interrupted { name: "SIGINT", exit_code: 130 }.into()),
        _ = terminate.recv() => Err(Interrupted { name: "SIGTERM", exit_code: 143 }.into()),
    }
}

fn write_outputs(config: &Config, report: &Report) -> anyhow::Result<()> {
    if let Some(path) = &config.markdown {
        let options = report::markdown::MarkdownOptions {
            marker: None,
            max_chars: report::markdown::JOB_SUMMARY_MAX_CHARS,
            full_report_hint: None,
            blob_url: None,
        };
        std::fs::write(path, report::markdown::render(report, &options)).map_err(|e| {
            EnvironmentError::new(format!(
                "cannot write the Markdown report to {}: {e}",
                path.display()
            ))
        })?;
    }
    if let Some(path) = &config.erd {
        let diagram = report.schema_diagram.clone().unwrap_or_default();
        std::fs::write(path, report::mermaid::render(&diagram)).map_err(|e| {
            EnvironmentError::new(format!(
                "cannot write the diagram to {}: {e}",
                path.display()
            ))
        })?;
    }
    let json = config.json.as_ref();
    if let Some(OutputTarget::File(path)) = json {
        std::fs::write(path, report::json::render(report)).map_err(|e| {
            EnvironmentError::new(format!(
                "cannot write the JSON report to {}: {e}",
                path.display()
            ))
        })?;
    }
    let text = report::terminal::render(report);
    if json == Some(&OutputTarget::Stdout) {
        // stdout carries the JSON alone; the human report goes to stderr.
        let _ = write!(anstream::stderr(), "{text}");
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(report::json::render(report).as_bytes())
            .context("cannot write to stdout")?;
    } else {
        let _ = write!(anstream::stdout(), "{text}");
    }
    Ok(())
}
