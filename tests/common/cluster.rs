//! A PostgreSQL server started by a test itself (initdb and postgres from the local
//! binaries, as the unprivileged `nobody` when the tests run as root), for what the
//! project's own backends do not offer: TLS on TCP, preloaded libraries.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `nobody`'s uid and gid when we are root (PostgreSQL refuses to run as root).
pub fn run_as() -> Option<(u32, u32)> {
    if !nix::unistd::Uid::effective().is_root() {
        return None;
    }
    let user = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("user nobody");
    Some((user.uid.as_raw(), user.gid.as_raw()))
}

/// `command` with a cleared environment, run as `run_as` when given.
pub fn as_server_user(mut command: Command, run_as: Option<(u32, u32)>) -> Command {
    command
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LC_ALL", "C");
    if let Some((uid, gid)) = run_as {
        command.uid(uid).gid(gid);
    }
    command
}

/// A TCP port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs initdb into `data` (trust authentication, UTF-8, C locale).
pub fn initdb(bin: &Path, data: &Path, run_as: Option<(u32, u32)>) {
    let status = as_server_user(Command::new(bin.join("initdb")), run_as)
        .arg("--pgdata")
        .arg(data)
        .args([
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
        ])
        .args(["--locale", "C", "--no-sync", "--no-instructions"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "initdb failed");
}

/// Waits until the server on `socket`:`port` accepts connections; `log` says why not.
pub fn wait_ready(bin: &Path, socket: &Path, port: u16, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = Command::new(bin.join("pg_isready"))
            .arg("-h")
            .arg(socket)
            .args(["-p", &port.to_string(), "-q"])
            .status()
            .unwrap();
        if ready.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "PostgreSQL did not start:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops a postmaster: a fast shutdown, the immediate one if it takes too long.
pub fn stop(mut child: Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT);
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
