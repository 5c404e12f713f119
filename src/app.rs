//! Runs a parsed command line: dispatches to `src/commands/`, and holds what every command
//! shares: the exit status, writing to stdout and stderr, colour and terminal width.
//! IO happens here, in the commands and in `input`; everything in between is pure.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use crate::cli::{Cli, ColorChoice, Command};
use crate::commands;

/// How a run ended.
///
/// 0/1/2 as ruff, ESLint and actionlint do, so CI can tell a bad trace (1) from a broken run
/// (2): a usage, rules-file, I/O or parse error wins over findings, because a run that could not
/// read everything cannot vouch for what it did not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// No finding at or above the failure level.
    Clean = 0,
    /// Findings at or above the failure level.
    Findings = 1,
    /// Usage, rules-file, I/O or parse errors.
    Error = 2,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status as u8)
    }
}

pub fn run(cli: Cli) -> ExitStatus {
    match cli.command {
        Command::Check(args) => commands::check::run(&args),
        Command::RulesFile => commands::rules_file::run(),
        Command::Rules(args) => commands::rules::run(&args),
        Command::Explain(args) => commands::explain::run(&args),
        Command::Completions(args) => commands::completions::run(&args),
        Command::Man(args) => commands::man::run(&args),
        Command::Migrate(args) => commands::migrate::run(&args),
        Command::Coverage(args) => commands::coverage::run(&args),
        Command::Serve(args) => commands::serve::run(&args),
    }
}

/// Writes to stdout. `Err` holds the status to end the run with: a closed pipe
/// (`spanlint … | head`) ends it quietly with 0, as ripgrep does; any other failure with 2.
pub fn write_stdout(text: &str) -> Result<(), ExitStatus> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Err(ExitStatus::Clean),
        Err(err) => {
            eprintln!("spanlint: cannot write to standard output: {err}");
            Err(ExitStatus::Error)
        }
    }
}

/// Whether to colour output for people. `auto`: `NO_COLOR` (non-empty) turns colour off;
/// otherwise `FORCE_COLOR` or `CLICOLOR_FORCE` (non-empty, not `0`) turns it on even when not
/// on a terminal (CI logs render colour); otherwise colour when standard output is a terminal
/// and `TERM` is not `dumb`.
pub fn use_color(choice: ColorChoice) -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if set("NO_COLOR") => false,
        ColorChoice::Auto if set("FORCE_COLOR") || set("CLICOLOR_FORCE") => true,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb")
        }
    }
}

pub fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&w: &usize| w >= 40)
        .unwrap_or(100)
}

/// Prints an error to stderr the way miette renders it, without colour when stderr is not a
/// terminal. Every piece of its text is sanitized first (file names can hold escape sequences;
/// see [`SafeDiagnostic`](crate::report::safe_diagnostic::SafeDiagnostic)).
pub fn eprint_diagnostic(diagnostic: &dyn miette::Diagnostic) {
    let diagnostic = crate::report::safe_diagnostic::SafeDiagnostic::new(diagnostic);
    let theme = if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(terminal_width());
    let mut text = String::new();
    if handler.render_report(&mut text, &diagnostic).is_err() {
        text = format!("{diagnostic}\n");
    }
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
