//! The embedded backend: a throwaway PostgreSQL cluster built from the local
//! server binaries. It exists so that `verify` works on any machine with
//! PostgreSQL installed and no Docker: `initdb` into a private temporary
//! directory, start `postgres` on a Unix socket only (no TCP), tuned for speed
//! (no fsync), with a cleared environment so that migration code running
//! `COPY ... TO PROGRAM` sees none of the caller's variables, and as an
//! unprivileged account when invoked as root. The cluster is stopped and its
//! directory removed when the handle is dropped, which covers success, errors,
//! panics (unwinding) and the signal paths that unwind through `app`.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Gid, Pid, Uid, User};

use crate::cache;
use crate::error::EnvironmentError;

/// Environment variable naming the directory that holds `initdb` and `postgres`.
pub const PG_BIN_ENV: &str = "MIGRATION_CHECK_PG_BIN";

/// The account the cluster runs as when we are root (initdb refuses root).
/// `nobody` owns nothing, so migration code cannot reach anyone's files.
pub const DEFAULT_RUN_AS: &str = "nobody";

const SUPERUSER: &str = "postgres";
const PORT: u16 = 5432;
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Server settings of the throwaway cluster: Unix socket only, no durability
/// (nothing here must survive a crash), no autovacuum (its statistics updates
/// on the catalogs would invalidate the prepared snapshot query's plan and cost
/// a re-plan per snapshot), and dynamic shared memory as files in the data
/// directory, removed with it: POSIX segments in /dev/shm outlive a postmaster
/// that a migration kills.
const SERVER_SETTINGS: &[&str] = &[
    "dynamic_shared_memory_type=mmap",
    "listen_addresses=",
    "unix_socket_permissions=0700",
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "wal_level=minimal",
    "max_wal_senders=0",
    "shared_buffers=32MB",
    "max_connections=20",
    "autovacuum=off",
];

/// How initdb makes the cluster (also part of the template cache's key).
const INITDB_ARGS: &[&str] = &[
    "--username",
    SUPERUSER,
    "--auth",
    "trust",
    "--encoding",
    "UTF8",
    "--locale",
    "C",
    "--no-sync",
    "--no-instructions",
    // 1 MB WAL segments instead of 16: a stopped cluster holds at least one whole segment,
    // and copying the cluster (from the template cache, from a cached base state) is most
    // of starting one; a throwaway cluster never archives or replicates its WAL.
    "--wal-segsize",
    "1",
];

/// How to find and run the local binaries.
#[derive(Debug, Clone, Default)]
pub struct EmbeddedOptions {
    /// Directory with `initdb` and `postgres` (flag or [`PG_BIN_ENV`]).
    pub pg_bin: Option<PathBuf>,
    /// Account to run the cluster as when invoked as root.
    pub run_as: Option<String>,
    /// The cache directory (`--cache-dir`); none: [`cache::default_dir`].
    pub cache_dir: Option<PathBuf>,
    /// Run initdb every time instead of copying the cached template (`--no-cache`).
    pub no_cache: bool,
    /// Where the cluster's private directory is made (`--cluster-dir`); none: see
    /// [`cluster_parent`].
    pub cluster_dir: Option<PathBuf>,
}

/// A RAM filesystem needs at least this much room to hold a throwaway cluster.
const RAM_ROOM: u64 = 1 << 30;

/// Where a cluster's private directory goes: `--cluster-dir` when given; else the temporary
/// directory when it is a RAM filesystem (tmpfs); else `/dev/shm` when it is one with at
/// least 1 GiB free; else the temporary directory. A cluster is about a thousand files and
/// every `CREATE DATABASE` and `CREATE TABLE` makes more: on a disk filesystem creating
/// them is most of a short run (3× the whole of a four-migration verify, measured on
/// ext4), on tmpfs it is nearly free, and nothing of a throwaway cluster needs a disk.
/// A container's 64 MiB `/dev/shm` is too small and is not used.
pub fn cluster_parent(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    let temp = std::env::temp_dir();
    let in_ram = |dir: &Path| {
        nix::sys::statfs::statfs(dir)
            .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
    };
    if in_ram(&temp) {
        return temp;
    }
    let shm = Path::new("/dev/shm");
    let roomy = nix::sys::statvfs::statvfs(shm)
        .is_ok_and(|fs| fs.blocks_available().saturating_mul(fs.fragment_size()) >= RAM_ROOM);
    let writable = nix::unistd::access(shm, nix::unistd::AccessFlags::W_OK).is_ok();
    if in_ram(shm) && roomy && writable {
        return shm.to_path_buf();
    }
    temp
}

/// A running throwaway cluster. Dropping it stops the server and removes
/// every file it wrote.
pub struct EmbeddedServer {
    child: Option<Child>,
    socket_dir: PathBuf,
    log_path: PathBuf,
    data_dir: PathBuf,
    /// Where the cache lives for this run; `None` with `--no-cache`.
    cache_dir: Option<PathBuf>,
    bin_dir: PathBuf,
    // Declared last: removed after the server has stopped.
    dir: tempfile::TempDir,
}

/// The identity the server processes run under.
struct RunAs {
    uid: Uid,
    gid: Gid,
}

impl EmbeddedServer {
    /// Creates and starts the cluster; returns once it accepts connections.
    pub async fn start(options: &EmbeddedOptions) -> Result<Self, EnvironmentError> {
        Ok(Self::start_seeded(options, None).await?.0)
    }

    /// The key of the cluster template these options' binaries make: what every cache
    /// entry made with them starts its own key from.
    pub fn template_key(options: &EmbeddedOptions) -> Result<String, EnvironmentError> {
        cache::cluster::key(&find_bin_dir(options.pg_bin.as_deref())?, INITDB_ARGS)
    }

    /// The cache directory these options use, if any (`--no-cache`: none).
    pub fn cache_dir(options: &EmbeddedOptions) -> Option<PathBuf> {
        if options.no_cache {
            None
        } else {
            options.cache_dir.clone().or_else(cache::default_dir)
        }
    }

    /// Like [`Self::start`], but from the cached base state `base_key` (see
    /// [`cache::base_state`]) when the cache holds it whole: true then.
    pub async fn start_seeded(
        options: &EmbeddedOptions,
        base_key: Option<&str>,
    ) -> Result<(Self, bool), EnvironmentError> {
        let bin_dir = find_bin_dir(options.pg_bin.as_deref())?;
        let run_as = resolve_run_as(options.run_as.as_deref())?;
        let parent = cluster_parent(options.cluster_dir.as_deref());
        let dir = tempfile::Builder::new()
            .prefix("migration-check-")
            .tempdir_in(&parent)
            .map_err(|e| {
                EnvironmentError::new(format!(
                    "cannot create a temporary directory in {}: {e}",
                    parent.display()
                ))
            })?;
        let root = dir.path().to_path_buf();
        let data_dir = root.join("data");
        let socket_dir = root.join("socket");
        let log_path = root.join("postgres.log");
        std::fs::create_dir(&socket_dir)
            .and_then(|()| {
                std::fs::set_permissions(&socket_dir, std::fs::Permissions::from_mode(0o700))
            })
            .map_err(|e| {
                EnvironmentError::new(format!("cannot prepare {}: {e}", socket_dir.display()))
            })?;
        if let Some(run_as) = &run_as {
            for path in [&root, &socket_dir] {
                nix::unistd::chown(path.as_path(), Some(run_as.uid), Some(run_as.gid)).map_err(
                    |e| {
                        EnvironmentError::new(format!(
                            "cannot hand {} to the unprivileged account: {e}",
                            path.display()
                        ))
                    },
                )?;
            }
            check_traversable(&root)?;
        }

        let cache_dir = Self::cache_dir(options);
        let owner = run_as.as_ref().map(|r| (r.uid, r.gid));
        let restored = match (&cache_dir, base_key) {
            (Some(cache_dir), Some(key)) => {
                restore_base_state(
                    cache_dir,
                    key,
                    &data_dir,
                    owner,
                    options.cache_dir.is_some(),
                )
                .await?
            }
            _ => false,
        };
        let entry = match &cache_dir {
            _ if restored => None,
            Some(cache_dir) => {
                let key = cache::cluster::key(&bin_dir, INITDB_ARGS)?;
                let cache_dir = cache_dir.clone();
                // Waits (off the runtime) while another run writes the entry.
                let opened = tokio::task::spawn_blocking(move || {
                    cache::open(&cache_dir, cache::cluster::KIND, &key)
                })
                .await
                .unwrap_or_else(|e| Err(format!("the lock task failed: {e}")));
                match opened {
                    Ok(entry) => Some(entry),
                    Err(why) => {
                        // The default place may simply not be writable here (a read-only
                        // home in a container): then initdb as before, quietly.
                        if options.cache_dir.is_some() {
                            eprintln!("warning: the cluster template cache is not used: {why}");
                        }
                        None
                    }
                }
            }
            None => None,
        };
        match entry.as_ref().and_then(cache::Entry::data_dir) {
            _ if restored => {}
            Some(template) => cache::copy_tree(&template, &data_dir, owner).map_err(|e| {
                EnvironmentError::new(format!(
                    "cannot copy the cluster template {} to {}: {e}",
                    template.display(),
                    data_dir.display()
                ))
            })?,
            None => {
                initdb(&bin_dir, &root, &data_dir, run_as.as_ref()).await?;
                if let Some(entry) = &entry
                    && let Err(why) = entry.store(&data_dir)
                {
                    eprintln!("warning: the cluster template was not cached: {why}");
                }
            }
        }
        // Other runs may build their cluster from the template now.
        drop(entry);

        let log = std::fs::File::create(&log_path)
            .map_err(|e| EnvironmentError::new(format!("cannot create the server log: {e}")))?;
        if let Some(run_as) = &run_as {
            nix::unistd::chown(log_path.as_path(), Some(run_as.uid), Some(run_as.gid)).ok();
        }
        let mut postgres = isolated_command(&bin_dir.join("postgres"), run_as.as_ref(), true);
        for setting in SERVER_SETTINGS {
            postgres.arg("-c").arg(setting);
        }
        postgres
            .arg("-D")
            .arg(&data_dir)
            .arg("-k")
            .arg(&socket_dir)
            .args(["-p", &PORT.to_string()])
            .stdin(Stdio::null())
            .stdout(
                log.try_clone()
                    .map_err(|e| EnvironmentError::new(e.to_string()))?,
            )
            .stderr(log);
        let child = postgres.spawn().map_err(|e| {
            EnvironmentError::new(format!(
                "cannot start {}: {e}",
                bin_dir.join("postgres").display()
            ))
        })?;
        let mut server = EmbeddedServer {
            child: Some(child),
            socket_dir,
            log_path,
            data_dir,
            cache_dir,
            bin_dir,
            dir,
        };
        server.wait_ready().await?;
        Ok((server, restored))
    }

    /// Shuts the server down cleanly and stores its data directory as the cached base state
    /// `key`, unless another run stored it meanwhile; then removes the cluster as a drop
    /// does. Err says why nothing was stored (the cluster is removed all the same).
    pub async fn store_base_state(mut self, key: String) -> Result<(), String> {
        let cache_dir = self
            .cache_dir
            .clone()
            .ok_or_else(|| "no cache directory".to_string())?;
        tokio::task::spawn_blocking(move || {
            if !self.shut_down() {
                return Err("the server did not shut down cleanly".to_string());
            }
            let entry = cache::open(&cache_dir, cache::base_state::KIND, &key)?;
            if entry.data_dir().is_none() {
                trim_wal(&self.bin_dir, &self.data_dir);
                entry.store_moving(&self.data_dir)?;
            }
            drop(entry);
            cache::prune(&cache_dir, cache::base_state::KIND, cache::base_state::KEEP);
            Ok(())
        })
        .await
        .unwrap_or_else(|e| Err(format!("the storing task failed: {e}")))
    }

    /// Connection parameters for `database` on this cluster.
    pub fn config(&self, database: &str) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(&self.socket_dir)
            .port(PORT)
            .user(SUPERUSER)
            .dbname(database)
            .application_name("migration-check");
        config
    }

    /// The directory the binaries came from (shown in the report).
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The cluster's private directory (tests assert it is gone after drop).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log file.
    pub fn log_file(&self) -> &Path {
        &self.log_path
    }

    /// The last lines of the server log, for error messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log_path)
    }

    async fn wait_ready(&mut self) -> Result<(), EnvironmentError> {
        let started = Instant::now();
        let config = self.config("postgres");
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(EnvironmentError::new(format!(
                    "postgres exited during startup ({status}):\n{}",
                    self.log_tail()
                )));
            }
            if let Ok((client, connection)) = config.connect(tokio_postgres::NoTls).await {
                let task = tokio::spawn(connection);
                let answered = client.simple_query("SELECT 1").await.is_ok();
                drop(client);
                let _ = task.await;
                if answered {
                    return Ok(());
                }
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(EnvironmentError::new(format!(
                    "postgres did not accept connections within {}s:\n{}",
                    READY_TIMEOUT.as_secs(),
                    self.log_tail()
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Fast shutdown, escalating to SIGKILL; idempotent. True when the server was running
    /// and shut down cleanly (a shutdown checkpoint written, exit status 0).
    fn shut_down(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, Signal::SIGINT);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // The postmaster is in its own process group: take its children too.
        let _ = kill(Pid::from_raw(-pid.as_raw()), Signal::SIGKILL);
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        self.shut_down();
        // TempDir removes the directory right after this.
    }
}

/// Removes the WAL segments a cleanly shut down cluster does not need: all but the one
/// holding its last checkpoint (older ones are done with, newer ones are recycled files
/// waiting to be written). Half of a small stored cluster is WAL otherwise. Best effort:
/// when `pg_controldata` does not say, nothing is removed.
fn trim_wal(bin_dir: &Path, data_dir: &Path) {
    let Ok(output) = Command::new(bin_dir.join("pg_controldata"))
        .arg("-D")
        .arg(data_dir)
        .env_clear()
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return;
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|value| value.trim_start_matches(':').trim().to_string())
    };
    if field("Database cluster state").as_deref() != Some("shut down") {
        return;
    }
    let Some(keep) = field("Latest checkpoint's REDO WAL file") else {
        return;
    };
    let is_segment = |name: &str| name.len() == 24 && name.bytes().all(|b| b.is_ascii_hexdigit());
    if !output.status.success() || !is_segment(&keep) {
        return;
    }
    let Ok(listing) = std::fs::read_dir(data_dir.join("pg_wal")) else {
        return;
    };
    for file in listing.flatten() {
        let name = file.file_name().to_string_lossy().into_owned();
        if is_segment(&name) && name != keep {
            let _ = std::fs::remove_file(file.path());
        }
    }
}

/// Copies the cached base state `key` to `data_dir` when the cache holds it whole; false
/// when it does not (or cannot be read: warned about when `--cache-dir` was given).
async fn restore_base_state(
    cache_dir: &Path,
    key: &str,
    data_dir: &Path,
    owner: Option<(Uid, Gid)>,
    asked_for: bool,
) -> Result<bool, EnvironmentError> {
    let (cache_dir, key, data_dir) = (
        cache_dir.to_path_buf(),
        key.to_string(),
        data_dir.to_path_buf(),
    );
    let restored = tokio::task::spawn_blocking(move || -> Result<bool, String> {
        let entry = cache::open(&cache_dir, cache::base_state::KIND, &key)?;
        let Some(stored) = entry.data_dir() else {
            return Ok(false);
        };
        cache::copy_tree(&stored, &data_dir, owner).map_err(|e| {
            // Whatever was copied is not a cluster: start over from the template.
            let _ = std::fs::remove_dir_all(&data_dir);
            format!(
                "cannot copy {} to {}: {e}",
                stored.display(),
                data_dir.display()
            )
        })?;
        Ok(true)
    })
    .await
    .unwrap_or_else(|e| Err(format!("the copying task failed: {e}")));
    match restored {
        Ok(restored) => Ok(restored),
        Err(why) => {
            if asked_for {
                eprintln!("warning: the cached base state is not used: {why}");
            }
            Ok(false)
        }
    }
}

/// Runs initdb into `data_dir` (as `run_as`), its output in `root/initdb.log`.
async fn initdb(
    bin_dir: &Path,
    root: &Path,
    data_dir: &Path,
    run_as: Option<&RunAs>,
) -> Result<(), EnvironmentError> {
    let initdb_log = std::fs::File::create(root.join("initdb.log"))
        .map_err(|e| EnvironmentError::new(format!("cannot create the initdb log: {e}")))?;
    if let Some(run_as) = run_as {
        nix::unistd::chown(
            root.join("initdb.log").as_path(),
            Some(run_as.uid),
            Some(run_as.gid),
        )
        .ok();
    }
    let mut initdb = isolated_command(&bin_dir.join("initdb"), run_as, false);
    initdb
        .arg("--pgdata")
        .arg(data_dir)
        .args(INITDB_ARGS)
        .stdout(
            initdb_log
                .try_clone()
                .map_err(|e| EnvironmentError::new(e.to_string()))?,
        )
        .stderr(initdb_log);
    let status = tokio::process::Command::from(initdb)
        .status()
        .await
        .map_err(|e| {
            EnvironmentError::new(format!(
                "cannot run {}: {e}",
                bin_dir.join("initdb").display()
            ))
        })?;
    if !status.success() {
        return Err(EnvironmentError::new(format!(
            "initdb failed ({status}):\n{}",
            tail(&root.join("initdb.log"))
        )));
    }
    Ok(())
}

/// A command with an empty environment (plus a minimal PATH so `TO PROGRAM`
/// shells work), dropped privileges when we are root, its own process group
/// (a terminal's Ctrl-C reaches us, and we stop the server in order), and a
/// parent-death signal so a killed `migration-check` does not leave it behind.
fn isolated_command(program: &Path, run_as: Option<&RunAs>, die_with_parent: bool) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LC_ALL", "C")
        .current_dir("/");
    if let Some(run_as) = run_as {
        command.uid(run_as.uid.as_raw()).gid(run_as.gid.as_raw());
    }
    command.process_group(0);
    if die_with_parent {
        // SAFETY: prctl is async-signal-safe; runs in the child after the uid change
        // (std applies uid/gid before pre_exec hooks), so the setting survives.
        unsafe {
            command.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGQUIT).map_err(std::io::Error::from)?;
                Ok(())
            });
        }
    }
    command
}

/// Finds a directory holding both `initdb` and `postgres`.
pub fn find_bin_dir(explicit: Option<&Path>) -> Result<PathBuf, EnvironmentError> {
    let has_binaries = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = explicit {
        return if has_binaries(dir) {
            Ok(dir.to_path_buf())
        } else {
            Err(EnvironmentError::new(format!(
                "{} does not contain initdb and postgres (from --pg-bin or {PG_BIN_ENV})",
                dir.display()
            )))
        };
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(output) = Command::new("pg_config")
        .arg("--bindir")
        .env_clear()
        .env("PATH", path_var())
        .output()
        && output.status.success()
    {
        candidates.push(PathBuf::from(
            String::from_utf8_lossy(&output.stdout).trim(),
        ));
    }
    candidates.extend(std::env::split_paths(&path_var()));
    candidates.extend(debian_bin_dirs(Path::new("/usr/lib/postgresql")));
    candidates
        .into_iter()
        .find(|dir| has_binaries(dir))
        .map(|dir| {
            std::fs::canonicalize(dir.join("postgres"))
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .unwrap_or(dir)
        })
        .ok_or_else(|| {
            EnvironmentError::new(
                "no PostgreSQL server binaries found (looked at --pg-bin, MIGRATION_CHECK_PG_BIN, \
                 pg_config --bindir, PATH and /usr/lib/postgresql/*/bin). Install them \
                 (Debian/Ubuntu: apt-get install postgresql) or use --postgres docker or a URL.",
            )
        })
}

/// The placeholder for the major in a `--pg-bin` for several majors.
pub const MAJOR_PLACEHOLDER: &str = "{major}";

/// The server binaries of each major (`--postgres-versions` on the embedded
/// backend): `explicit` with `{major}` replaced when given (`--pg-bin
/// /opt/pg{major}/bin`), else the usual layouts (Debian/Ubuntu
/// `/usr/lib/postgresql/<major>/bin`, RHEL `/usr/pgsql-<major>/bin`,
/// Homebrew `postgresql@<major>`). Every missing major is named in the error.
pub fn find_bin_dirs_for_majors(
    majors: &[u32],
    explicit: Option<&Path>,
) -> Result<Vec<(u32, PathBuf)>, EnvironmentError> {
    let has_binaries = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for &major in majors {
        let candidates: Vec<PathBuf> = match explicit {
            Some(template) => vec![PathBuf::from(
                template
                    .to_string_lossy()
                    .replace(MAJOR_PLACEHOLDER, &major.to_string()),
            )],
            None => vec![
                PathBuf::from(format!("/usr/lib/postgresql/{major}/bin")),
                PathBuf::from(format!("/usr/pgsql-{major}/bin")),
                PathBuf::from(format!("/opt/homebrew/opt/postgresql@{major}/bin")),
                PathBuf::from(format!("/usr/local/opt/postgresql@{major}/bin")),
            ],
        };
        match candidates.into_iter().find(|dir| has_binaries(dir)) {
            Some(dir) => found.push((major, dir)),
            None => missing.push(major),
        }
    }
    if missing.is_empty() {
        return Ok(found);
    }
    let names: Vec<String> = missing.iter().map(u32::to_string).collect();
    let looked = match explicit {
        Some(template) => format!("{} (--pg-bin)", template.display()),
        None => "/usr/lib/postgresql/<major>/bin, /usr/pgsql-<major>/bin and Homebrew's postgresql@<major>".into(),
    };
    Err(EnvironmentError::new(format!(
        "no local server binaries for PostgreSQL {} (looked in {looked}); install them \
         (Debian/Ubuntu: apt-get install postgresql-{}) or use --postgres docker",
        names.join(", "),
        missing[0]
    )))
}

fn path_var() -> std::ffi::OsString {
    std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into())
}

/// `/usr/lib/postgresql/<major>/bin`, newest major first.
fn debian_bin_dirs(root: &Path) -> Vec<PathBuf> {
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .collect();
    majors.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    majors.into_iter().map(|(_, dir)| dir).collect()
}

fn resolve_run_as(name: Option<&str>) -> Result<Option<RunAs>, EnvironmentError> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    let name = name.unwrap_or(DEFAULT_RUN_AS);
    let user = User::from_name(name)
        .map_err(|e| EnvironmentError::new(format!("cannot look up account {name}: {e}")))?
        .ok_or_else(|| {
            EnvironmentError::new(format!(
                "running as root, PostgreSQL must run as an unprivileged account, and account {name} does not exist (choose one with --run-as)"
            ))
        })?;
    if user.uid.is_root() {
        return Err(EnvironmentError::new(format!(
            "--run-as {name} is root; PostgreSQL refuses to run as root"
        )));
    }
    Ok(Some(RunAs {
        uid: user.uid,
        gid: user.gid,
    }))
}

/// The unprivileged account must be able to reach the cluster directory.
fn check_traversable(dir: &Path) -> Result<(), EnvironmentError> {
    for ancestor in dir.ancestors().skip(1) {
        let Ok(meta) = std::fs::metadata(ancestor) else {
            continue;
        };
        if meta.permissions().mode() & 0o001 == 0 {
            return Err(EnvironmentError::new(format!(
                "{} is not searchable by the unprivileged account that runs PostgreSQL; set TMPDIR to a directory under /tmp",
                ancestor.display()
            )));
        }
    }
    Ok(())
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_dirs_sort_newest_first() {
        let root = tempfile::tempdir().unwrap();
        for major in ["9", "13", "17", "notanumber"] {
            std::fs::create_dir_all(root.path().join(major).join("bin")).unwrap();
        }
        let dirs = debian_bin_dirs(root.path());
        let names: Vec<String> = dirs
            .iter()
            .map(|d| {
                d.parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["17", "13", "9"]);
    }

    #[test]
    fn explicit_bin_dir_without_binaries_is_an_error() {
        let empty = tempfile::tempdir().unwrap();
        let err = find_bin_dir(Some(empty.path())).unwrap_err();
        assert!(err.to_string().contains("does not contain initdb"), "{err}");
    }
}
