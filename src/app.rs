//! Runs a parsed command line: the glue between input, check and report. IO happens here and
//! in `input`; everything in between is pure.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use crate::check::{self, FileReport, Summary};
use crate::cli::{CheckArgs, Cli, ColorChoice, Command, FailOn, InputFormatArg};
use crate::finding::Severity;
use rayon::prelude::*;

use crate::input::{self, InputError, InputFormat};
use crate::report::{self, CheckOutcome, Format, human::HumanOptions};
use crate::rules::{Ruleset, rulesfile::RulesFile};

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
        Command::Check(args) => run_check(&args),
        Command::RulesFile => write_stdout(crate::rules::rulesfile::BUILTIN_RULES)
            .err()
            .unwrap_or(ExitStatus::Clean),
    }
}

fn run_check(args: &CheckArgs) -> ExitStatus {
    let rules = match load_rules(args) {
        Ok(rules) => rules,
        Err(report) => {
            eprint_diagnostic(report.as_ref());
            return ExitStatus::Error;
        }
    };
    let (sources, mut errors) = input::discover(&args.paths);
    let format = args.input_format.map(|f| match f {
        InputFormatArg::Json => InputFormat::Json,
        InputFormatArg::Proto => InputFormat::Proto,
    });

    // Files are checked in parallel and reported in argument order.
    let results: Vec<Result<FileReport, InputError>> = sources
        .par_iter()
        .map(|source| input::load(source, format).map(|loaded| check::check_file(&loaded, &rules)))
        .collect();
    let mut files: Vec<FileReport> = Vec::with_capacity(results.len());
    let mut summary = Summary::default();
    for result in results {
        match result {
            Ok(mut report) => {
                errors.append(&mut report.errors);
                summary.add(&report);
                files.push(report);
            }
            Err(err) => {
                summary.files += 1;
                errors.push(err);
            }
        }
    }
    summary.input_errors = errors.len();
    for err in &errors {
        eprint_diagnostic(err);
    }
    let no_input = sources.is_empty() && errors.is_empty();
    if no_input {
        eprintln!("spanlint: no input files");
    }

    let outcome = CheckOutcome {
        files: &files,
        errors: &errors,
        summary,
    };
    let text = match args.format {
        Format::Human => report::human::render(
            &outcome,
            HumanOptions {
                color: use_color(args.color),
                width: terminal_width(),
            },
        ),
        Format::Json => report::json::render(&outcome),
    };
    if let Err(stop) = write_stdout(&text) {
        return stop;
    }

    if !errors.is_empty() || no_input {
        ExitStatus::Error
    } else if fails(summary.worst(), args.fail_on) {
        ExitStatus::Findings
    } else {
        ExitStatus::Clean
    }
}

/// Writes to stdout. `Err` holds the status to end the run with: a closed pipe
/// (`spanlint … | head`) ends it quietly with 0, as ripgrep does; any other failure with 2.
fn write_stdout(text: &str) -> Result<(), ExitStatus> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Err(ExitStatus::Clean),
        Err(err) => {
            eprintln!("spanlint: cannot write to standard output: {err}");
            Err(ExitStatus::Error)
        }
    }
}

fn load_rules(args: &CheckArgs) -> Result<Ruleset, miette::Report> {
    let file = match &args.rules {
        None => RulesFile::builtin(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|err| {
                miette::miette!(code = "spanlint::rules::io", "{}: {err}", path.display())
            })?;
            RulesFile::parse(&text).map_err(|err| {
                let span = err.span();
                let name = path.display().to_string();
                let mut report = miette::miette!(
                    code = "spanlint::rules::parse",
                    labels = span
                        .map(|s| vec![miette::LabeledSpan::at(s, "here")])
                        .unwrap_or_default(),
                    "invalid rules file {name}: {}",
                    err.message()
                );
                report = report.with_source_code(miette::NamedSource::new(name, text));
                report
            })?
        }
    };
    Ruleset::new(file).map_err(miette::Report::new)
}

fn fails(worst: Option<Severity>, fail_on: FailOn) -> bool {
    let threshold = match fail_on {
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
        FailOn::Info => Severity::Info,
        FailOn::Never => return false,
    };
    worst.is_some_and(|w| w >= threshold)
}

fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map_or(true, |t| t != "dumb")
        }
    }
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&w: &usize| w >= 40)
        .unwrap_or(100)
}

/// Prints an error to stderr the way miette renders it, without colour when stderr is not a
/// terminal.
fn eprint_diagnostic(diagnostic: &dyn miette::Diagnostic) {
    let theme = if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(terminal_width());
    let mut text = String::new();
    if handler.render_report(&mut text, diagnostic).is_err() {
        text = format!("{diagnostic}\n");
    }
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
