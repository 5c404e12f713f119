//! `spanlint check`: discover inputs, load and check each (in parallel), render the report,
//! and choose the exit status.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use rayon::prelude::*;

use crate::app::{ExitStatus, eprint_diagnostic, terminal_width, use_color, write_stdout};
use crate::check::{self, FileReport, Summary};
use crate::cli::ColorChoice;
use crate::finding::Severity;
use crate::input::{self, InputError, InputFormat};
use crate::report::{self, CheckOutcome, Format, human::HumanOptions};
use crate::rules::{Ruleset, rulesfile::RulesFile};

pub const EXAMPLES: &str = "\
Examples:
  spanlint check traces.jsonl                 one OTLP/JSON-lines dump
  spanlint check dumps/                       every dump under a directory
  spanlint check 'captures/**/*.pb.zst'       a glob (quote it)
  otelcol-dump | spanlint check -             standard input
  spanlint check --format json dumps/ > findings.json

Exit status: 0 no finding at or above --fail-on, 1 findings at or above it,
2 usage, rules-file, I/O or parse errors.";

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Dump files, directories (searched recursively for .json, .jsonl, .ndjson, .pb, .binpb,
    /// optionally .gz/.zst), quoted glob patterns, or `-` for standard input.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,

    /// Rules file to use instead of the built-in GenAI rules.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Input format; detected from the content when not given.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormatArg>,

    /// Lowest severity that makes the run fail (exit 1).
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,

    /// When to colour the human output: `auto` colours only when standard output is a
    /// terminal, `NO_COLOR` is unset and `TERM` is not `dumb`.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormatArg {
    /// OTLP/JSON (JSON lines, one document, or concatenated documents).
    Json,
    /// OTLP protobuf (one message or a length-prefixed stream).
    Proto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
    /// Never fail because of findings (input errors still exit 2).
    Never,
}

/// Runs `spanlint check`.
pub fn run(args: &CheckArgs) -> ExitStatus {
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
                files.push(report);
            }
            Err(err) => {
                summary.files += 1;
                errors.push(err);
            }
        }
    }
    // Trace-level rules see all files' spans (a trace may be split over files).
    check::check_traces(&mut files, &rules);
    for report in &files {
        summary.add(report);
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
