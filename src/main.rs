//! The `spanlint` binary: parse the command line, run, exit with the run's status.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = spanlint::cli::Cli::parse();
    spanlint::app::run(cli).into()
}
