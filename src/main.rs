//! The `spanlint` binary: parse the command line, run, exit with the run's status.

use std::process::ExitCode;

// Checking allocates many short-lived strings and vectors per span on every core; mimalloc's
// thread-local free lists make that several times cheaper than glibc's malloc (bench/run.sh).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    use_small_pages();
    let cli = spanlint::cli::Cli::parse_args();
    return_freed_memory_promptly(&cli.command);
    spanlint::app::run(cli).into()
}

/// mimalloc keeps freed pages for a while before giving them back to the system. A streamed run
/// frees each group of ~1 MiB chunks and their spans at once: giving pages back at once keeps
/// peak memory nearest to what is live, giving them back later saves the page faults of taking
/// them again. `check` and `migrate` wait 100 ms: their live memory is small next to the limit
/// (1 GB protobuf, at once → 100 ms: `check --quiet` 77 → 83 MB peak for 8.9 → 7.1 s of CPU,
/// 0.32M → 0.07M faults; `check --format json` 86 → 92 MB; `migrate` 48 → 62 MB for 21.6 → 15.3 s
/// of CPU; never giving back, mimalloc's own setting, held 88 MB in `migrate` at 200 MB
/// already). The rest, `coverage` first (94 MB at 1 GB), give pages back at once.
/// `MIMALLOC_PURGE_DELAY` in the environment still wins.
fn return_freed_memory_promptly(command: &spanlint::cli::Command) {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // `mi_option_purge_delay`: the 16th option of mimalloc 2 and 3 (the sys crate names no
    // constant for it).
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    let delay_ms = match command {
        spanlint::cli::Command::Check(_) | spanlint::cli::Command::Migrate(_) => 100,
        _ => 0,
    };
    // SAFETY: setting an option is a plain store mimalloc allows at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, delay_ms) }
}

/// The kernel backs mimalloc's memory with transparent huge pages (mimalloc asks for them), and
/// the first touch of one clears and keeps all 2 MiB of it: a streamed run that frees and refills
/// memory group by group then holds whole huge pages for a few live objects. Small pages keep
/// peak memory lower (`check --quiet` on 200 MB dumps: protobuf 92–100 → 79 MB, JSON lines
/// 76–81 → 57 MB) for no measurable time. mimalloc's own `allow_thp` option is read before `main`
/// runs, so this asks the kernel directly; `MIMALLOC_ALLOW_THP` in the environment still wins.
fn use_small_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
