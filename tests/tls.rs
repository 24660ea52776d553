//! TLS and credentials against a real PostgreSQL server listening on TCP with TLS, started
//! here (initdb/postgres as the unprivileged `nobody` when run as root) with a certificate
//! authority and server certificate made by the `openssl` command: every sslmode, the
//! certificate checks, the password sources, and that no password is ever printed.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::cluster::{self, as_server_user, free_port, run_as};
use common::{command, private_tmp, root, stderr};

/// The password of the `app` role; never printed by any run.
const PASSWORD: &str = "TlsS3cretPw9x";

/// A PostgreSQL cluster on 127.0.0.1 (TLS on or off) with its certificates; stopped and
/// removed on drop.
struct Cluster {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn start(tls: bool) -> Cluster {
        let bin =
            migration_check::postgres::embedded::find_bin_dir(None).expect("PostgreSQL binaries");
        let dir = private_tmp();
        let root = dir.path().to_path_buf();
        let run_as = run_as();
        let certs = root.join("certs");
        std::fs::create_dir(&certs).unwrap();
        make_certificates(&certs);
        let socket = root.join("socket");
        std::fs::create_dir(&socket).unwrap();
        if let Some((uid, gid)) = run_as {
            for path in [&root, &socket, &certs.join("server.key")] {
                nix::unistd::chown(path.as_path(), Some(uid.into()), Some(gid.into())).unwrap();
            }
        }
        let data = root.join("data");
        cluster::initdb(&bin, &data, run_as);
        // Over TCP: `app` (a password) and `postgres` (trust) only with TLS; the
        // database `plainonly` only without.
        let mut hba = String::from("local all all trust\n");
        for address in ["127.0.0.1/32", "::1/128"] {
            hba.push_str(&format!(
                "hostnossl plainonly all {address} trust\n\
                 hostssl plainonly all {address} reject\n\
                 hostssl all app {address} scram-sha-256\n\
                 hostssl all postgres {address} trust\n\
                 hostssl all certuser {address} cert\n"
            ));
        }
        std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
        let port = free_port();
        let log = std::fs::File::create(root.join("postgres.log")).unwrap();
        let mut postgres = as_server_user(Command::new(bin.join("postgres")), run_as);
        postgres
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&socket)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off"])
            .args(["-c", "password_encryption=scram-sha-256"])
            .args(["-c", &format!("ssl={}", if tls { "on" } else { "off" })])
            .arg("-c")
            .arg(format!(
                "ssl_cert_file={}",
                certs.join("server.crt").display()
            ))
            .arg("-c")
            .arg(format!(
                "ssl_key_file={}",
                certs.join("server.key").display()
            ))
            // Client certificates are checked against the test CA (`cert` in pg_hba).
            .arg("-c")
            .arg(format!("ssl_ca_file={}", certs.join("ca.pem").display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = postgres.spawn().unwrap();
        let cluster = Cluster {
            child: Some(child),
            port,
            dir,
        };
        cluster::wait_ready(&bin, &socket, port, || cluster.log());
        let setup = Command::new(bin.join("psql"))
            .arg("-h")
            .arg(&socket)
            .args(["-p", &port.to_string(), "-U", "postgres", "-d", "postgres"])
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-q"])
            .args([
                "-c",
                &format!("CREATE ROLE app LOGIN SUPERUSER PASSWORD '{PASSWORD}'"),
            ])
            .args(["-c", "CREATE ROLE certuser LOGIN SUPERUSER"])
            .args(["-c", "CREATE DATABASE plainonly"])
            .args([
                "-c",
                "CREATE TABLE public.tls_probe (id int PRIMARY KEY, note text)",
            ])
            .output()
            .unwrap();
        assert!(setup.status.success(), "setup: {}", stderr(&setup));
        cluster
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join("certs").join(name)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// `postgres://{userinfo}@{host}:{port}/{database}?{params}`.
    fn url(&self, userinfo: &str, host: &str, database: &str, params: &str) -> String {
        format!(
            "postgres://{userinfo}@{host}:{}/{database}?{params}",
            self.port
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            cluster::stop(child);
        }
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        stderr(&output)
    );
}

/// A new P-256 key without a passphrase, for `openssl req`.
const EC_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

/// `ca.pem` (signs the server's certificate), `other-ca.pem` (signs nothing we meet),
/// `server.crt` for the name `localhost` only, `client.crt` for the role `certuser`, and
/// their keys.
fn make_certificates(dir: &Path) {
    for (name, subject) in [
        ("ca", "/CN=migration-check test CA"),
        ("other-ca", "/CN=another CA"),
    ] {
        let (key, cert) = (format!("{name}.key"), format!("{name}.pem"));
        let mut args = vec!["req", "-x509"];
        args.extend(EC_KEY);
        args.extend([
            "-keyout", &key, "-out", &cert, "-days", "2", "-subj", subject,
        ]);
        args.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
        args.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        openssl(dir, &args);
    }
    leaf(
        dir,
        "server",
        "/CN=localhost",
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    );
    // A client certificate for the role `certuser`, signed by the same CA.
    leaf(
        dir,
        "client",
        "/CN=certuser",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=clientAuth\n",
    );
    for key in ["server.key", "client.key"] {
        std::fs::set_permissions(dir.join(key), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// `<name>.key` and `<name>.crt` for `subject`, signed by the test CA with `extensions`.
fn leaf(dir: &Path, name: &str, subject: &str, extensions: &str) {
    let (key, csr, crt, ext) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
        format!("{name}.ext"),
    );
    let mut args = vec!["req"];
    args.extend(EC_KEY);
    args.extend(["-keyout", &key, "-out", &csr, "-subj", subject]);
    openssl(dir, &args);
    std::fs::write(dir.join(&ext), extensions).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    );
}

/// Runs the binary with `args` and a clean libpq environment (`env` added); HOME is an
/// empty directory, so no `~/.pgpass` or `~/.postgresql` of this machine takes part.
/// Asserts that the password appears in neither stdout nor stderr.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let tmp = private_tmp();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = command(tmp.path());
    for name in [
        "PGPASSWORD",
        "PGPASSFILE",
        "PGSSLMODE",
        "PGSSLROOTCERT",
        "PGSSLCERT",
        "PGSSLKEY",
        "DATABASE_URL",
    ] {
        cmd.env_remove(name);
    }
    cmd.env("HOME", home.path())
        .args(args)
        .envs(env.iter().copied());
    let output = cmd.output().expect("run migration-check");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        stderr(&output)
    );
    assert!(
        !all.contains(PASSWORD),
        "the password was printed by {args:?}:\n{all}"
    );
    common::assert_nothing_left(tmp.path());
    output
}

fn assert_exit(output: &Output, code: i32, needles: &[&str]) {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr:\n{text}");
    for needle in needles {
        assert!(text.contains(needle), "stderr lacks {needle:?}:\n{text}");
    }
}

#[test]
fn sslmodes_and_server_certificates() {
    let cluster = Cluster::start(true);
    let ca = cluster.path("ca.pem").display().to_string();
    let other_ca = cluster.path("other-ca.pem").display().to_string();
    let app = format!("app:{PASSWORD}");

    // require: encrypted, the certificate is not checked (an IP the certificate lacks).
    let url = cluster.url(&app, "127.0.0.1", "postgres", "sslmode=require");
    let output = run(&["snapshot", &url], &[]);
    assert_exit(&output, 0, &[]);
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("tls_probe"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );

    // verify-full by the name in the certificate.
    let full = |host: &str, ca: &str| {
        cluster.url(
            &app,
            host,
            "postgres",
            &format!("sslmode=verify-full&sslrootcert={ca}"),
        )
    };
    assert_exit(&run(&["snapshot", &full("localhost", &ca)], &[]), 0, &[]);
    // diff of a database with itself: no differences.
    let same = full("localhost", &ca);
    assert_exit(&run(&["diff", &same, &same], &[]), 0, &[]);

    // verify-full by an address the certificate does not name.
    let output = run(&["snapshot", &full("127.0.0.1", &ca)], &[]);
    assert_exit(
        &output,
        3,
        &[
            "does not match host name 127.0.0.1",
            "localhost",
            "sslmode=verify-full",
        ],
    );

    // verify-ca: the chain only, so the address is fine.
    let url = cluster.url(
        &app,
        "127.0.0.1",
        "postgres",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    );
    assert_exit(&run(&["snapshot", &url], &[]), 0, &[]);

    // A certificate authority that did not sign the server's certificate.
    let output = run(&["snapshot", &full("localhost", &other_ca)], &[]);
    assert_exit(
        &output,
        3,
        &["does not verify", &other_ca, "sslmode=verify-full"],
    );

    // require: like libpq, a root certificate given makes it check the chain.
    let url = cluster.url(
        &app,
        "localhost",
        "postgres",
        &format!("sslmode=require&sslrootcert={other_ca}"),
    );
    assert_exit(&run(&["snapshot", &url], &[]), 3, &["does not verify"]);

    // An unreadable root certificate file: the environment, naming file and mode.
    let missing = cluster.path("missing.pem").display().to_string();
    let output = run(&["snapshot", &full("localhost", &missing)], &[]);
    assert_exit(&output, 3, &[&missing, "sslmode=verify-full"]);

    // verify-full without any root certificate: libpq's default file is missing.
    let url = cluster.url(&app, "localhost", "postgres", "sslmode=verify-full");
    assert_exit(
        &run(&["snapshot", &url], &[]),
        3,
        &["root.crt", "sslrootcert"],
    );

    // An unknown sslmode and a malformed URL are usage errors; the password stays hidden.
    let url = cluster.url(&app, "localhost", "postgres", "sslmode=verify");
    assert_exit(&run(&["snapshot", &url], &[]), 2, &["sslmode `verify`"]);
    let url = format!("postgres://{app}@localhost:notaport/postgres");
    assert_exit(
        &run(&["snapshot", &url], &[]),
        2,
        &["app:***@localhost", "invalid value for option `port`"],
    );

    // A database the server serves only without TLS: require fails with the server's
    // reason; prefer falls back to plain; allow starts plain.
    let url = cluster.url("postgres", "localhost", "plainonly", "sslmode=require");
    assert_exit(
        &run(&["snapshot", &url], &[]),
        3,
        &["rejects connection", "SSL encryption"],
    );
    for mode in ["prefer", "allow"] {
        let url = cluster.url(
            "postgres",
            "localhost",
            "plainonly",
            &format!("sslmode={mode}"),
        );
        assert_exit(&run(&["snapshot", &url], &[]), 0, &[]);
    }
    // A role the server accepts only over TLS: allow retries with TLS, disable cannot.
    let url = cluster.url(&app, "localhost", "postgres", "sslmode=allow");
    assert_exit(&run(&["snapshot", &url], &[]), 0, &[]);
    let url = cluster.url(&app, "localhost", "postgres", "sslmode=disable");
    assert_exit(&run(&["snapshot", &url], &[]), 3, &["no pg_hba.conf entry"]);
    // The default (prefer) takes TLS.
    let url = format!("postgres://{app}@localhost:{}/postgres", cluster.port);
    assert_exit(&run(&["snapshot", &url], &[]), 0, &[]);
}

#[test]
fn verify_runs_over_verified_tls() {
    let cluster = Cluster::start(true);
    let ca = cluster.path("ca.pem").display().to_string();
    let url = cluster.url(
        &format!("app:{PASSWORD}"),
        "localhost",
        "postgres",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let dir = root().join("migrations");
    let output = run(
        &[
            "verify",
            dir.to_str().unwrap(),
            "--postgres",
            &url,
            "--json",
            "-",
        ],
        &[],
    );
    assert_exit(&output, 0, &[]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["postgres"]["backend"], "url");

    // A verification the server rejects (wrong name) is exit 3 and hides the password.
    let wrong = cluster.url(
        &format!("app:{PASSWORD}"),
        "127.0.0.1",
        "postgres",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let output = run(
        &["verify", dir.to_str().unwrap(), "--postgres", &wrong],
        &[],
    );
    assert_exit(&output, 3, &["does not match host name 127.0.0.1"]);
}

#[test]
fn a_statement_past_its_timeout_is_cancelled_over_tls() {
    let cluster = Cluster::start(true);
    let url = cluster.url(
        &format!("app:{PASSWORD}"),
        "localhost",
        "postgres",
        "sslmode=require",
    );
    let dir = common::migrations_dir(&[
        (
            "1_slow.up.sql",
            "SET statement_timeout = 0;\nSELECT pg_sleep(60);\n",
        ),
        ("1_slow.down.sql", "SELECT 1;\n"),
    ]);
    let started = Instant::now();
    let output = run(
        &[
            "verify",
            dir.path().to_str().unwrap(),
            "--postgres",
            &url,
            "--statement-timeout",
            "1s",
        ],
        &[],
    );
    // The client gives the statement 1 s + 5 s of grace, then cancels it; without a
    // working cancel request the run would wait for the whole minute.
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "the cancel request did not reach the server ({:?})",
        started.elapsed()
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        stderr(&output)
    );
    assert!(text.contains("cancelled"), "{text}");
}

/// A role that logs in by client certificate (`cert` in pg_hba): `sslcert`/`sslkey` in the
/// URL, for `snapshot` and `migrate` alike; without them the server refuses (exit 3).
#[test]
fn a_client_certificate_logs_in() {
    let cluster = Cluster::start(true);
    let path = |name: &str| cluster.path(name).display().to_string();
    let params = format!(
        "sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
        path("ca.pem"),
        path("client.crt"),
        path("client.key")
    );
    let url = cluster.url("certuser", "localhost", "postgres", &params);
    assert_exit(&run(&["snapshot", &url], &[]), 0, &[]);
    let dir = root().join("migrations");
    let status = run(
        &[
            "migrate",
            "status",
            dir.to_str().unwrap(),
            "--database-url",
            &url,
        ],
        &[],
    );
    assert_exit(&status, 0, &[]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("certuser@localhost"),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
    let without = cluster.url(
        "certuser",
        "localhost",
        "postgres",
        &format!("sslmode=verify-full&sslrootcert={}", path("ca.pem")),
    );
    assert_exit(&run(&["snapshot", &without], &[]), 3, &["certificate"]);
}

#[test]
fn passwords_from_the_url_pgpassword_and_pgpass() {
    let cluster = Cluster::start(true);
    let ca = cluster.path("ca.pem").display().to_string();
    let params = format!("sslmode=verify-full&sslrootcert={ca}");
    let with_password = cluster.url(&format!("app:{PASSWORD}"), "localhost", "postgres", &params);
    let without = cluster.url("app", "localhost", "postgres", &params);

    assert_exit(&run(&["snapshot", &with_password], &[]), 0, &[]);
    assert_exit(
        &run(&["snapshot", &without], &[("PGPASSWORD", PASSWORD)]),
        0,
        &[],
    );
    // No password at all: the server's refusal, exit 3.
    assert_exit(&run(&["snapshot", &without], &[]), 3, &["password"]);

    let files = tempfile::tempdir().unwrap();
    let pgpass = files.path().join("pgpass");
    std::fs::write(
        &pgpass,
        format!(
            "# other servers first\nelsewhere:*:*:app:wrong\nlocalhost:{}:*:app:{PASSWORD}\n",
            cluster.port
        ),
    )
    .unwrap();
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let pgpass_env = pgpass.to_str().unwrap();
    assert_exit(
        &run(&["snapshot", &without], &[("PGPASSFILE", pgpass_env)]),
        0,
        &[],
    );
    // The same file for a whole verify run, whose throwaway databases it matches by `*`.
    let dir = root().join("migrations");
    assert_exit(
        &run(
            &["verify", dir.to_str().unwrap(), "--postgres", &without],
            &[("PGPASSFILE", pgpass_env)],
        ),
        0,
        &[],
    );
    // A file others can read is ignored, as libpq does, with a warning.
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_exit(
        &run(&["snapshot", &without], &[("PGPASSFILE", pgpass_env)]),
        3,
        &["group or world access"],
    );
    // A wrong PGPASSWORD is refused without being printed either.
    assert_exit(
        &run(
            &["snapshot", &without],
            &[("PGPASSWORD", "not-the-password")],
        ),
        3,
        &["password authentication failed"],
    );
}

#[test]
fn require_against_a_server_without_tls() {
    let cluster = Cluster::start(false);
    let url = cluster.url("postgres", "127.0.0.1", "postgres", "sslmode=require");
    assert_exit(
        &run(&["snapshot", &url], &[]),
        3,
        &["server does not support TLS", "sslmode=require"],
    );
    // prefer (and the default) fall back to a plain connection; the `postgres` role is
    // allowed over TCP only with TLS here, so use the plain-only database.
    let url = cluster.url("postgres", "127.0.0.1", "plainonly", "sslmode=prefer");
    assert_exit(&run(&["snapshot", &url], &[]), 0, &[]);
}
