//! Benchmark for issue #14, part 3: an embedded cluster ready to accept connections, from
//! initdb (`--no-cache`, the baseline) and from the cached template, measured in the same
//! run (median of 7 each, one series per kind; the template is built once before the warm
//! runs). Target:
//! ready from the template in ≤ 0.3 s. Run: `cargo bench --bench cluster`.

use std::time::{Duration, Instant};

use migration_check::postgres::embedded::{EmbeddedOptions, EmbeddedServer};

const RUNS: usize = 7;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn ready(options: &EmbeddedOptions) -> Duration {
    let started = Instant::now();
    let server = EmbeddedServer::start(options).await.expect("cluster");
    let elapsed = started.elapsed();
    drop(server);
    elapsed
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cache = tempfile::tempdir().unwrap();
    let cold = EmbeddedOptions {
        no_cache: true,
        ..EmbeddedOptions::default()
    };
    let warm = EmbeddedOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..EmbeddedOptions::default()
    };
    let build = ready(&warm).await;
    let mut initdb = Vec::new();
    let mut template = Vec::new();
    // Each kind in its own series: initdb's writes (and the removal of each cluster)
    // are still being flushed when the next start begins, which would slow the other kind.
    for _ in 0..RUNS {
        template.push(ready(&warm).await);
    }
    for _ in 0..RUNS {
        initdb.push(ready(&cold).await);
    }
    let (initdb, template) = (median(initdb), median(template));
    println!("cluster ready, median of {RUNS}:");
    println!(
        "  initdb every time (--no-cache)  {:>7.3} s",
        initdb.as_secs_f64()
    );
    println!(
        "  from the cached template        {:>7.3} s  (target ≤ 0.300 s)",
        template.as_secs_f64()
    );
    println!(
        "  first run, building the entry   {:>7.3} s",
        build.as_secs_f64()
    );
    println!(
        "  ratio template / initdb          {:>7.2}",
        template.as_secs_f64() / initdb.as_secs_f64()
    );
}
