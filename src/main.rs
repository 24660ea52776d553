//! The `migration-check` binary: parse the command line, run, map the result
//! to the exit status of the contract (0 passed, 1 failed, 2 bad input,
//! 3 environment). Nothing else.

use std::process::ExitCode;

use clap::Parser;
use migration_check::{app, cli::Cli, error::exit_code_for};

fn main() -> ExitCode {
    app::harden_process();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(app::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(exit_code_for(&error))
        }
    }
}
