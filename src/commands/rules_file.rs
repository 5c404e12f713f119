//! `spanlint rules-file`: print the built-in rules file, the starting point for a custom one.

use crate::app::{ExitStatus, write_stdout};

pub fn run() -> ExitStatus {
    write_stdout(crate::rules::rulesfile::BUILTIN_RULES)
        .err()
        .unwrap_or(ExitStatus::Clean)
}
