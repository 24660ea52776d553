//! Helpers shared by the benchmarks: a git command with a fixed identity, an embedded
//! cluster with the runtime that drives it, and connections to it.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

use migration_check::postgres::embedded::{EmbeddedOptions, EmbeddedServer};

/// Runs `git args` in `dir` as a fixed identity, quietly; panics when it fails.
pub fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("git");
    assert!(status.success(), "git {args:?}");
}

/// A fresh embedded cluster with default options, and the runtime it was started on
/// (keep both alive while the cluster is used).
pub fn embedded_cluster() -> (tokio::runtime::Runtime, EmbeddedServer) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = runtime
        .block_on(EmbeddedServer::start(&EmbeddedOptions::default()))
        .expect("embedded cluster");
    (runtime, server)
}

/// A connection to `database` on `server`, driven on the current runtime.
pub async fn connect(server: &EmbeddedServer, database: &str) -> tokio_postgres::Client {
    let (client, connection) = server
        .config(database)
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// The median of `samples` (the middle one of an odd count).
#[allow(dead_code)]
pub fn median(mut samples: Vec<std::time::Duration>) -> std::time::Duration {
    samples.sort();
    samples[samples.len() / 2]
}
