//! `spanlint check`: discover inputs, load and check each (in parallel), render the report,
//! and choose the exit status.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use rayon::prelude::*;

use crate::app::{ExitStatus, eprint_diagnostic, terminal_width, use_color, write_stdout};
use crate::check::{self, FileReport, Summary};
use crate::cli::ColorChoice;
use crate::finding::Severity;
use crate::input::{self, InputError, InputFormat, Source};
use crate::report::{self, CheckOutcome, Format, RenderOptions, View};
use crate::rules::{Ruleset, rulesfile::RulesFile};

pub const EXAMPLES: &str = "\
Examples:
  spanlint check traces.jsonl                 one OTLP/JSON-lines dump
  spanlint check dumps/                       every dump under a directory
  spanlint check 'captures/**/*.pb.zst'       a glob (quote it)
  otelcol-dump | spanlint check -             standard input
  spanlint check --format json dumps/ > findings.json
  spanlint check --format concise dumps/      one line per finding
  spanlint check --statistics dumps/          how many findings per rule
  spanlint check --format sarif --output spanlint.sarif dumps/
                                              SARIF for GitHub code scanning; the summary
                                              still goes to the terminal (stderr)
  spanlint check --format github dumps/       annotations in a GitHub Actions job
  spanlint check --format gitlab --output gl-code-quality-report.json dumps/
  spanlint check --exit-zero --format junit --output spanlint.xml dumps/

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

    /// Output format: `human` and `concise` are for people; the others are for tools and CI
    /// and are never coloured.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Write the report to FILE instead of standard output; the one-line summary still goes to
    /// the terminal (standard error).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Print only the summary line (human and concise formats; machine formats are always
    /// written whole). No progress bar.
    #[arg(long, short = 'q', conflicts_with = "statistics")]
    pub quiet: bool,

    /// Print how many findings each rule produced instead of the findings (human and concise
    /// formats).
    #[arg(long)]
    pub statistics: bool,

    /// Exit 0 even when there are findings; inputs that cannot be read still exit 2.
    #[arg(long)]
    pub exit_zero: bool,

    /// Input format; detected from the content when not given.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormatArg>,

    /// Lowest severity that makes the run fail (exit 1).
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,

    /// When to colour the human output: `auto` colours only when the report goes to a
    /// terminal, `NO_COLOR` is unset and `TERM` is not `dumb`. Machine formats are never
    /// coloured.
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
    if args.statistics && args.format.is_machine() {
        let name = args
            .format
            .to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_string());
        eprintln!("error: --statistics works with --format human or concise, not {name}");
        return ExitStatus::Error;
    }
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
    let progress = progress_bar(args, &sources);
    let results: Vec<Result<FileReport, InputError>> = sources
        .par_iter()
        .map(|source| {
            let result =
                input::load(source, format).map(|loaded| check::check_file(&loaded, &rules));
            progress.inc(1);
            result
        })
        .collect();
    progress.finish_and_clear();
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
    let options = RenderOptions {
        color: !args.format.is_machine() && color(args),
        width: terminal_width(),
        view: if args.quiet {
            View::Quiet
        } else if args.statistics {
            View::Statistics
        } else {
            View::Findings
        },
    };
    let text = report::render(args.format, &outcome, options);
    match &args.output {
        None => {
            if let Err(stop) = write_stdout(&text) {
                return stop;
            }
        }
        Some(path) => {
            if let Err(err) = std::fs::write(path, &text) {
                eprintln!("spanlint: cannot write {}: {err}", path.display());
                return ExitStatus::Error;
            }
            eprintln!("{}", report::summary_line(&summary));
        }
    }

    if !errors.is_empty() || no_input {
        ExitStatus::Error
    } else if !args.exit_zero && fails(summary.worst(), args.fail_on) {
        ExitStatus::Findings
    } else {
        ExitStatus::Clean
    }
}

/// Colour for the report: `auto` looks at standard output, so a report written to a file with
/// `--output` is coloured only with `--color always`.
fn color(args: &CheckArgs) -> bool {
    match (&args.output, args.color) {
        (Some(_), ColorChoice::Auto) => false,
        (_, choice) => use_color(choice),
    }
}

/// A run is long enough for a progress bar with this many files…
const PROGRESS_MIN_FILES: usize = 20;
/// …or this many bytes of input (before decompression).
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

/// Whether to draw a progress bar: only for people (a human format, not `--quiet`), only on a
/// terminal (standard error, where it is drawn), and only when the run is long.
fn wants_progress(stderr_is_terminal: bool, args: &CheckArgs, files: usize, bytes: u64) -> bool {
    stderr_is_terminal
        && !args.quiet
        && !args.format.is_machine()
        && (files >= PROGRESS_MIN_FILES || bytes >= PROGRESS_MIN_BYTES)
}

/// A progress bar over the files on standard error, or a hidden one that draws nothing.
fn progress_bar(args: &CheckArgs, sources: &[Source]) -> indicatif::ProgressBar {
    let stderr_is_terminal = std::io::stderr().is_terminal();
    // Sizes are only looked up when a bar could be drawn at all.
    let bytes = || {
        sources
            .iter()
            .filter_map(|s| match s {
                Source::Path(path) => std::fs::metadata(path).ok().map(|m| m.len()),
                Source::Stdin => None,
            })
            .sum()
    };
    if !stderr_is_terminal || !wants_progress(stderr_is_terminal, args, sources.len(), bytes()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(sources.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        check: CheckArgs,
    }

    fn args(extra: &[&str]) -> CheckArgs {
        let mut argv = vec!["spanlint"];
        argv.extend_from_slice(extra);
        argv.push("dump.jsonl");
        Wrapper::parse_from(argv).check
    }

    #[test]
    fn progress_only_for_long_runs_of_human_formats_on_a_terminal() {
        let human = args(&[]);
        assert!(wants_progress(true, &human, 20, 0));
        assert!(wants_progress(true, &human, 1, 64 << 20));
        assert!(!wants_progress(true, &human, 19, 1000), "short run");
        assert!(!wants_progress(false, &human, 100, 0), "not a terminal");
        assert!(!wants_progress(true, &args(&["--quiet"]), 100, 0));
        assert!(wants_progress(
            true,
            &args(&["--format", "concise"]),
            100,
            0
        ));
        for machine in ["json", "jsonl", "sarif", "github", "gitlab", "junit"] {
            assert!(!wants_progress(true, &args(&["--format", machine]), 100, 0));
        }
    }
}
