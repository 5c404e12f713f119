//! The `spanlint` binary: parse the command line, run, exit with the run's status.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = spanlint::cli::Cli::parse_args();
    spanlint::app::run(cli).into()
}
