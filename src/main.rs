//! The `spanlint` binary: parse the command line, run, exit with the run's status.

use std::process::ExitCode;

// Checking allocates many short-lived strings and vectors per span on every core; mimalloc's
// thread-local free lists make that several times cheaper than glibc's malloc (bench/run.sh).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    return_freed_memory_promptly();
    let cli = spanlint::cli::Cli::parse_args();
    spanlint::app::run(cli).into()
}

/// mimalloc keeps freed pages for a while before giving them back to the system. A streamed run
/// frees each group of ~2 MiB chunks and their spans at once, so giving pages back at once keeps
/// peak memory near what is live (`check --quiet`, 200 MB dump: 99–103 → 86–94 MB; 1 GB:
/// 271 → 230 MB) for a few percent more page faults. `MIMALLOC_PURGE_DELAY` in the environment still wins.
fn return_freed_memory_promptly() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // `mi_option_purge_delay`: the 16th option of mimalloc 2 and 3 (the sys crate names no
    // constant for it).
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: setting an option is a plain store mimalloc allows at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}
