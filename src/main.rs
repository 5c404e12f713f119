//! The `spanlint` binary: parse the command line, run, exit with the run's status.

use std::process::ExitCode;

// Checking allocates many short-lived strings and vectors per span on every core; mimalloc's
// thread-local free lists make that several times cheaper than glibc's malloc (bench/run.sh).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = spanlint::cli::Cli::parse_args();
    spanlint::app::run(cli).into()
}
