//! The Docker backend: PostgreSQL in a throwaway container started with
//! testcontainers, for machines without local server binaries and for the
//! GitHub Action (a container itself, talking to the host's Docker daemon
//! through the mounted socket). Any postgres-compatible image works (official,
//! PostGIS, Timescale): ready means a successful connection and query, not a
//! log line. When we run inside a container, the published port is reached
//! through the default-route gateway (testcontainers would say `localhost`,
//! which is our own container). The container is removed when the handle is
//! dropped: on success, failure, panic and the signal paths of `app`.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio_postgres::Config;

use crate::error::EnvironmentError;

/// The image used when `--image` is not given: the newest major whose
/// verdicts the test suite proves (the oracle and every verdict fixture run
/// on 13, 15, 17 and 18).
pub const DEFAULT_IMAGE: &str = "postgres:18-alpine";

/// The image of each major for `--postgres-versions` without `--image-template`.
pub const DEFAULT_IMAGE_TEMPLATE: &str = "postgres:{major}-alpine";

/// Overrides the address the container's published port is reached at.
pub const HOST_ENV: &str = "MIGRATION_CHECK_DOCKER_HOST";

const PASSWORD: &str = "migration-check";
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Throwaway tuning passed as server arguments: nothing must survive a crash.
const SERVER_ARGS: &[&str] = &[
    "-c",
    "fsync=off",
    "-c",
    "synchronous_commit=off",
    "-c",
    "full_page_writes=off",
    "-c",
    "autovacuum=off",
    "-c",
    "max_connections=20",
];

/// A running PostgreSQL container; dropping it removes the container.
pub struct DockerServer {
    container: ContainerAsync<GenericImage>,
    host: String,
    port: u16,
    image: String,
}

/// `name[:tag]`, where a registry port (`host:5000/img`) is not a tag.
pub fn split_image(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') && !name.is_empty() => (name, tag),
        _ => (image, "latest"),
    }
}

impl DockerServer {
    /// Starts `image` and returns once it answers a query.
    pub async fn start(image: &str) -> Result<Self, EnvironmentError> {
        let (name, tag) = split_image(image);
        let run_label = format!("{}-{}", std::process::id(), unique_suffix());
        let request = GenericImage::new(name, tag)
            .with_exposed_port(5432.tcp())
            .with_wait_for(WaitFor::message_on_stderr(
                "database system is ready to accept connections",
            ))
            .with_env_var("POSTGRES_PASSWORD", PASSWORD)
            .with_env_var("POSTGRES_HOST_AUTH_METHOD", "trust")
            .with_label("org.migration-check.owner", std::process::id().to_string())
            .with_label(RUN_LABEL, run_label.clone())
            .with_cmd(std::iter::once("postgres").chain(SERVER_ARGS.iter().copied()))
            .with_startup_timeout(READY_TIMEOUT);
        let container = match request.start().await {
            Ok(container) => container,
            Err(error) => {
                // A container that was created but never became ready is not
                // removed by testcontainers: find it by our label.
                remove_labelled(&run_label).await;
                return Err(start_error(image, &error));
            }
        };
        let port = container
            .get_host_port_ipv4(5432.tcp())
            .await
            .map_err(|e| {
                EnvironmentError::new(format!(
                    "the {image} container publishes no port for 5432: {e}"
                ))
            })?;
        let host = match reach_host().await {
            Some(host) => host,
            None => container
                .get_host()
                .await
                .map(|h| h.to_string())
                .map_err(|e| {
                    EnvironmentError::new(format!("cannot tell where the container listens: {e}"))
                })?,
        };
        let server = DockerServer {
            container,
            host,
            port,
            image: image.to_string(),
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// Connection parameters for `database` in the container.
    pub fn config(&self, database: &str) -> Config {
        let mut config = Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .user("postgres")
            .password(PASSWORD)
            .dbname(database)
            .application_name("migration-check");
        config
    }

    /// The container's id (tests check it is gone after drop).
    pub fn id(&self) -> &str {
        self.container.id()
    }

    /// The image it runs.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// Where the published port is reached.
    pub fn address(&self) -> (String, u16) {
        (self.host.clone(), self.port)
    }

    /// The last lines the container logged, for error messages.
    pub async fn log_tail(&self) -> String {
        let stderr = self.container.stderr_to_vec().await.unwrap_or_default();
        let text = String::from_utf8_lossy(&stderr);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    async fn wait_ready(&self) -> Result<(), EnvironmentError> {
        let started = Instant::now();
        let config = self.config("postgres");
        loop {
            let last_error = match config.connect(tokio_postgres::NoTls).await {
                Ok((client, connection)) => {
                    let task = tokio::spawn(connection);
                    let answered = client.simple_query("SELECT 1").await;
                    drop(client);
                    let _ = task.await;
                    match answered {
                        Ok(_) => return Ok(()),
                        Err(e) => e.to_string(),
                    }
                }
                Err(e) => e.to_string(),
            };
            if !self.container.is_running().await.unwrap_or(false) {
                return Err(EnvironmentError::new(format!(
                    "the {} container exited during startup:\n{}",
                    self.image,
                    self.log_tail().await
                )));
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(EnvironmentError::new(format!(
                    "PostgreSQL in the {} container did not answer at {}:{} within {}s ({last_error}); \
                     if migration-check runs in a container, set {HOST_ENV} to an address of the host",
                    self.image,
                    self.host,
                    self.port,
                    READY_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Label carrying a value unique to one start, to find its container.
const RUN_LABEL: &str = "org.migration-check.run";

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{nanos:x}")
}

/// Force-removes every container labelled with this run's value.
async fn remove_labelled(run_label: &str) {
    use testcontainers::bollard::query_parameters::{
        ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    };
    let Ok(docker) = testcontainers::bollard::Docker::connect_with_defaults() else {
        return;
    };
    let filters =
        std::collections::HashMap::from([("label", vec![format!("{RUN_LABEL}={run_label}")])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let Ok(containers) = docker.list_containers(Some(options)).await else {
        return;
    };
    for id in containers.into_iter().filter_map(|c| c.id) {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        let _ = docker.remove_container(&id, Some(options)).await;
    }
}

/// Where to reach published ports: the override; else, when we are ourselves
/// a container of the same Docker daemon (the GitHub Action case), the
/// gateway of our container's network; else `None` (testcontainers' answer,
/// `localhost`). The decision asks the daemon instead of guessing from
/// `/.dockerenv`, so a machine that is a container of some other runtime
/// keeps using `localhost`.
async fn reach_host() -> Option<String> {
    if let Ok(host) = std::env::var(HOST_ENV)
        && !host.trim().is_empty()
    {
        return Some(host.trim().to_string());
    }
    let id = own_container_id()?;
    let docker = testcontainers::bollard::Docker::connect_with_defaults().ok()?;
    let inspected = docker.inspect_container(&id, None).await.ok()?;
    let networks = inspected.network_settings?.networks?;
    let gateway = networks
        .values()
        .filter_map(|n| n.gateway.clone())
        .find(|g| !g.is_empty());
    gateway.or_else(|| {
        let routes = std::fs::read_to_string("/proc/net/route").ok()?;
        default_gateway(&routes).map(|ip| ip.to_string())
    })
}

/// Our container id as Docker knows it: from the bind mounts Docker makes
/// (`/var/lib/docker/containers/<id>/hostname`), else the hostname (Docker
/// sets it to the short id).
fn own_container_id() -> Option<String> {
    if let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo")
        && let Some(id) = container_id_in_mountinfo(&mountinfo)
    {
        return Some(id);
    }
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| h.len() == 12 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The 64-hex id in a `/containers/<id>/` path of a mount.
pub fn container_id_in_mountinfo(mountinfo: &str) -> Option<String> {
    mountinfo.lines().find_map(|line| {
        let (_, rest) = line.split_once("/containers/")?;
        let id = rest.split('/').next()?;
        (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_string())
    })
}

/// The gateway of the default route in `/proc/net/route` (hex, little-endian).
pub fn default_gateway(routes: &str) -> Option<Ipv4Addr> {
    routes.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 3 || fields[1] != "00000000" {
            return None;
        }
        let raw = u32::from_str_radix(fields[2], 16).ok()?;
        (raw != 0).then(|| Ipv4Addr::from(raw.to_le_bytes()))
    })
}

/// An actionable message for a container that could not be started.
fn start_error(image: &str, error: &testcontainers::TestcontainersError) -> EnvironmentError {
    let text = error.to_string();
    let lower = text.to_ascii_lowercase();
    let advice = if lower.contains("pull")
        || lower.contains("no such image")
        || lower.contains("manifest")
    {
        format!(
            "image {image} is not available here and could not be pulled: run `docker pull {image}` or pass another --image"
        )
    } else if lower.contains("docker client")
        || lower.contains("socket not found")
        || lower.contains("docker daemon")
        || lower.contains("connection refused")
        || lower.contains("permission denied")
    {
        "cannot reach the Docker daemon: start Docker (or set DOCKER_HOST), or use --postgres embedded with local PostgreSQL binaries"
            .to_string()
    } else if lower.contains("oci runtime") || lower.contains("exec:") || lower.contains("exited") {
        format!(
            "the {image} container did not run PostgreSQL: use an image that behaves like the official postgres image"
        )
    } else {
        "check that the image runs PostgreSQL like the official image (POSTGRES_PASSWORD, port 5432)".to_string()
    };
    EnvironmentError::new(format!(
        "cannot start PostgreSQL from Docker image {image}: {text}\n{advice}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_split_at_the_tag_only() {
        assert_eq!(split_image("postgres:17-alpine"), ("postgres", "17-alpine"));
        assert_eq!(
            split_image("postgis/postgis"),
            ("postgis/postgis", "latest")
        );
        assert_eq!(
            split_image("registry:5000/pg"),
            ("registry:5000/pg", "latest")
        );
        assert_eq!(
            split_image("registry:5000/pg:16"),
            ("registry:5000/pg", "16")
        );
    }

    #[test]
    fn container_id_comes_from_docker_mounts() {
        let id = "a".repeat(64);
        let mountinfo = format!(
            "612 590 0:58 / / rw - overlay overlay rw\n\
             620 612 254:1 /var/lib/docker/containers/{id}/hostname /etc/hostname rw - ext4 /dev/vda rw\n"
        );
        assert_eq!(container_id_in_mountinfo(&mountinfo), Some(id));
        assert_eq!(
            container_id_in_mountinfo("1 0 0:1 / / rw - overlay overlay rw\n"),
            None
        );
    }

    #[test]
    fn default_gateway_is_read_from_the_route_table() {
        let routes = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n\
                      eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\n\
                      eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\n";
        assert_eq!(default_gateway(routes), Some(Ipv4Addr::new(172, 17, 0, 1)));
        assert_eq!(default_gateway("Iface\tDestination\tGateway\n"), None);
    }
}
