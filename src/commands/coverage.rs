//! `spanlint coverage`: load the inputs (a few files at a time in parallel; a large file chunk
//! by chunk, see [`crate::input::stream`]), collect each piece's coverage facts
//! (`crate::coverage::piece_facts`) and fold them, in file order, into a
//! [`RunTally`] (a [`coverage::Tally`] and the trace index, within a memory budget), run the
//! trace rules over all files, render, and exit 1 below `--min-score`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use rayon::prelude::*;

use crate::app::{ExitStatus, eprint_diagnostic, use_color, write_stdout};
use crate::cli::ColorChoice;
use crate::commands::check::{InputFormatArg, LimitArgs};
use crate::coverage::tally::RunTally;
use crate::coverage::{self, PieceFacts, Pricing, Report, html, render};
use crate::input::{self, Chunk, Chunker, InputError, InputFormat, Opened};
use crate::report::{sanitize, shown_path};
use crate::rules::Ruleset;
use crate::trace::{SpillError, TraceIndex};

pub const EXAMPLES: &str = "\
Examples:
  spanlint coverage dumps/                          tables in the terminal
  spanlint coverage --format markdown dumps/        for a pull-request comment
  spanlint coverage --format json dumps/ > coverage.json
  spanlint coverage --format html -o coverage.html dumps/
  spanlint coverage --compare coverage.json dumps/  changes since an earlier JSON
  spanlint coverage --min-score 80 dumps/           CI gate: exit 1 below 80
  spanlint coverage --pricing rules/pricing.example.toml dumps/   estimated cost

Exit status: 0 at or above --min-score (or without it), 1 below it,
2 usage, configuration, rules, pricing, compare-file, I/O or parse errors.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CoverageFormat {
    /// Aligned terminal tables with bars for shares.
    Table,
    /// Markdown tables, for a pull-request comment.
    Markdown,
    /// Every number, stable field names, for dashboards and `--compare`.
    Json,
    /// One self-contained HTML page with SVG charts (no scripts, fonts or network).
    Html,
}

#[derive(Debug, Args)]
pub struct CoverageArgs {
    /// Dump files, directories, quoted glob patterns, or `-` for standard input.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = CoverageFormat::Table)]
    pub format: CoverageFormat,

    /// Write the report to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Exit 1 when the overall score is below N (0–100), for a CI gate.
    #[arg(long, value_name = "N")]
    pub min_score: Option<f64>,

    /// An earlier `--format json` report: show each number's change (↑/↓).
    #[arg(long, value_name = "OLD.json")]
    pub compare: Option<PathBuf>,

    /// Per-model prices per million tokens (TOML, see rules/pricing.example.toml): adds an
    /// estimated cost to the usage table.
    #[arg(long, value_name = "FILE")]
    pub pricing: Option<PathBuf>,

    /// Rules file to use instead of the built-in GenAI rules.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,

    #[command(flatten)]
    pub configuration: crate::commands::ConfigArgs,

    /// Input format; detected from the content when not given.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormatArg>,

    #[command(flatten)]
    pub limits: LimitArgs,

    /// When to colour the table's bars (`auto`: on a terminal, honouring `NO_COLOR`).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// What a run has read so far: the coverage totals with every span for the trace index
/// (within a memory budget, see [`coverage::tally::RunTally`]), and the messages and files
/// that could not be read.
#[derive(Debug, Default)]
pub struct Totals {
    pub tally: RunTally,
    pub errors: Vec<InputError>,
    /// The tally's temporary files failed: the run cannot finish.
    pub failed: Option<SpillError>,
}

impl Totals {
    /// Adds one piece of file number `file` (pieces are added in file order); `false` once
    /// the run cannot finish.
    pub fn add(
        &mut self,
        (facts, index, mut errors): (PieceFacts, TraceIndex, Vec<InputError>),
        file: usize,
    ) -> bool {
        if self.failed.is_some() {
            return false;
        }
        if let Err(err) = self.tally.add(&facts, index, file) {
            self.failed = Some(err);
            return false;
        }
        self.errors.append(&mut errors);
        true
    }
}

/// Runs `spanlint coverage`.
pub fn run(args: &CoverageArgs) -> ExitStatus {
    let loaded = args
        .configuration
        .load()
        .and_then(|c| c.ruleset(args.rules.as_deref()));
    let rules = match loaded {
        Ok(rules) => rules,
        Err(report) => {
            eprint_diagnostic(report.as_ref());
            return ExitStatus::Error;
        }
    };
    let pricing = match args.pricing.as_deref().map(load_pricing).transpose() {
        Ok(p) => p,
        Err(message) => {
            eprintln!("spanlint: {}", sanitize(&message));
            return ExitStatus::Error;
        }
    };
    let old = match args.compare.as_deref().map(load_compare).transpose() {
        Ok(o) => o,
        Err(message) => {
            eprintln!("spanlint: {}", sanitize(&message));
            return ExitStatus::Error;
        }
    };

    let (sources, mut errors) = input::discover(&args.paths);
    let format = args.input_format.map(InputFormat::from);
    let limits = args.limits.limits();
    let mut totals = Totals::default();
    // Whole files are read in parallel, a few at a time; streamed ones in order, chunk groups
    // in parallel. Each piece is folded into the totals, in file order, and dropped.
    let files_at_once = rayon::current_num_threads().max(1) * 2;
    for (window_start, window) in (0..)
        .step_by(files_at_once)
        .zip(sources.chunks(files_at_once))
    {
        let opened: Vec<Result<Result<_, Chunker>, InputError>> = window
            .par_iter()
            .map(|source| {
                input::open(source, format, &limits).map(|opened| match opened {
                    Opened::Whole(loaded) => Ok(coverage::piece_facts(loaded.piece(), &rules)),
                    Opened::Stream(chunker) => Err(chunker),
                })
            })
            .collect();
        for (file, result) in (window_start..).zip(opened) {
            match result {
                Ok(Ok(piece)) => {
                    totals.add(piece, file);
                }
                Ok(Err(chunker)) => stream_facts(chunker, &rules, &mut totals, file),
                Err(err) => totals.errors.push(err),
            }
        }
    }
    let Totals {
        tally,
        errors: mut read_errors,
        failed,
    } = totals;
    errors.append(&mut read_errors);
    for err in &errors {
        eprint_diagnostic(err);
    }
    if let Some(err) = failed {
        eprint_diagnostic(&err);
        return ExitStatus::Error;
    }
    let no_input = sources.is_empty() && errors.is_empty();
    if no_input {
        eprintln!("spanlint: no input files");
    }
    let (settled, trace_health) = match tally.finish(&rules) {
        Ok(finished) => finished,
        Err(err) => {
            eprint_diagnostic(&err);
            return ExitStatus::Error;
        }
    };
    let report = settled.report(trace_health, pricing.as_ref());

    let color = args.output.is_none() && use_color(args.color);
    let text = match args.format {
        CoverageFormat::Table => render::table(&report, old.as_ref(), color),
        CoverageFormat::Markdown => render::markdown(&report, old.as_ref()),
        CoverageFormat::Json => render::json(&report),
        CoverageFormat::Html => html::html(&report, old.as_ref()),
    };
    match &args.output {
        None => {
            if let Err(stop) = write_stdout(&text) {
                return stop;
            }
        }
        Some(path) => {
            if let Err(err) = std::fs::write(path, &text) {
                eprintln!("spanlint: cannot write {}: {err}", shown_path(path));
                return ExitStatus::Error;
            }
        }
    }

    if !errors.is_empty() || no_input {
        return ExitStatus::Error;
    }
    match (args.min_score, report.score) {
        (Some(min), Some(score)) if score < min => {
            eprintln!("spanlint: coverage score {score} is below --min-score {min}");
            ExitStatus::Findings
        }
        (Some(min), None) => {
            eprintln!(
                "spanlint: no GenAI spans, so no coverage score to hold to --min-score {min}"
            );
            ExitStatus::Findings
        }
        _ => ExitStatus::Clean,
    }
}

/// Adds a streamed file, file number `file`, to the totals: chunks are read in groups of two
/// per thread, each group's chunks are turned into facts in parallel while the next group is
/// read, and the facts are folded in file order, as reading the file whole gives them.
pub fn stream_facts(chunker: Chunker, rules: &Ruleset, totals: &mut Totals, file: usize) {
    let name = chunker.name.clone();
    let limits = chunker.limits;
    let chunk_facts = |chunk: Result<&mut Chunk, InputError>| match chunk {
        Ok(chunk) => {
            let unreadable = std::mem::take(&mut chunk.errors);
            let (facts, index, mut errors) =
                coverage::piece_facts(chunk.piece(&name, &limits), rules);
            errors.splice(0..0, unreadable);
            (facts, index, errors)
        }
        Err(err) => (PieceFacts::default(), TraceIndex::default(), vec![err]),
    };
    chunker.for_each_in_parallel(chunk_facts, &mut |piece| totals.add(piece, file));
}

fn load_pricing(path: &std::path::Path) -> Result<Pricing, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read pricing file {}: {e}", path.display()))?;
    Pricing::parse(&text).map_err(|e| format!("invalid pricing file {}: {e}", path.display()))
}

fn load_compare(path: &std::path::Path) -> Result<Report, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let report: Report = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not a `spanlint coverage --format json` report: {e}",
            path.display()
        )
    })?;
    if report.version != coverage::VERSION {
        return Err(format!(
            "{} is coverage report version {}, this spanlint writes version {}",
            path.display(),
            report.version,
            coverage::VERSION
        ));
    }
    Ok(report)
}
