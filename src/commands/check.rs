//! `spanlint check`: discover inputs, load and check each (in parallel), render the report,
//! and choose the exit status.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use rayon::prelude::*;

use crate::app::{ExitStatus, eprint_diagnostic, terminal_width, use_color};
use crate::baseline::{self, Baseline};
use crate::check::{self, CheckOptions, FileReport, LocatedFinding, Summary};
use crate::cli::ColorChoice;
use crate::config::Config;
use crate::finding::Severity;
use crate::input::{self, InputError, InputFormat, Source};
use crate::report::{self, Format, RenderOptions, View};
use crate::rules::Ruleset;
use crate::sink::Sink;
use crate::trace;

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
  spanlint check --write-baseline baseline.toml dumps/   accept today's findings
  spanlint check --baseline baseline.toml dumps/         report only new ones

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

    #[command(flatten)]
    pub configuration: crate::commands::ConfigArgs,

    /// Report only findings beyond the counts recorded in this baseline file, and warn about
    /// its stale entries.
    #[arg(long, value_name = "FILE", help_heading = "Baseline")]
    pub baseline: Option<PathBuf>,

    /// Record today's findings in this baseline file (rewritten atomically; reasons of
    /// entries already in it are kept), then report nothing they cover.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "baseline",
        help_heading = "Baseline"
    )]
    pub write_baseline: Option<PathBuf>,

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

    #[command(flatten)]
    pub limits: LimitArgs,

    /// Lowest severity that makes the run fail (exit 1).
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,

    /// When to colour the human output: `auto` colours when the report goes to a terminal and
    /// `TERM` is not `dumb`, or when `FORCE_COLOR` or `CLICOLOR_FORCE` is set; `NO_COLOR` turns
    /// it off. Machine formats are never coloured.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// Size limits on input (`check` and `migrate`).
#[derive(Debug, Clone, Copy, Args)]
pub struct LimitArgs {
    /// Largest JSON line or document, or protobuf message, after decompression (bytes, or
    /// with a KiB/MiB/GiB suffix). Larger ones are input errors.
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_size)]
    pub max_message_size: usize,

    /// Largest input file, after decompression (bytes, or with a KiB/MiB/GiB suffix); bounds
    /// the memory one file takes and defuses decompression bombs.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    pub max_input_size: usize,
}

impl LimitArgs {
    pub fn limits(&self) -> input::Limits {
        input::Limits {
            max_message_size: self.max_message_size,
            max_input_size: self.max_input_size,
        }
    }
}

/// `123`, `64KiB`, `64MiB`, `1GiB` (also `K`, `M`, `G`, `KB`, `MB`, `GB`, all binary).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: usize = number.parse().map_err(|_| {
        format!("expected a size such as 1000, 64KiB, 64MiB or 1GiB, found `{text}`")
    })?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => return Err(format!("unknown size unit `{other}` (use KiB, MiB or GiB)")),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("size `{text}` is too large"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormatArg {
    /// OTLP/JSON (JSON lines, one document, or concatenated documents).
    Json,
    /// OTLP protobuf (one message or a length-prefixed stream).
    Proto,
}

impl From<InputFormatArg> for InputFormat {
    fn from(arg: InputFormatArg) -> Self {
        match arg {
            InputFormatArg::Json => InputFormat::Json,
            InputFormatArg::Proto => InputFormat::Proto,
        }
    }
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
    let setup = match Setup::load(args) {
        Ok(setup) => setup,
        Err(report) => {
            eprint_diagnostic(report.as_ref());
            return ExitStatus::Error;
        }
    };
    let (sources, errors) = input::discover(&args.paths);
    let render_options = RenderOptions {
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
    let stream = report::Stream::new(args.format, render_options);
    run_streamed(args, &setup, &sources, errors, stream)
}

fn check_options(args: &CheckArgs) -> CheckOptions {
    CheckOptions {
        // Only the human report shows snippets.
        snippets: args.format == Format::Human && !args.quiet && !args.statistics,
        // A human format under `--quiet` or `--statistics` shows counts only, and
        // `--write-baseline` counts the findings by rule, span and attribute instead of
        // reporting them: no message or help is read.
        messages: (args.format.is_machine() || !args.quiet && !args.statistics)
            && args.write_baseline.is_none(),
    }
}

/// Where the report goes: standard output or `--output`, buffered.
enum Output {
    // Not locked: the report is written from whichever thread takes a chunk group's outcome.
    Stdout(std::io::BufWriter<std::io::Stdout>),
    File(std::io::BufWriter<std::fs::File>, PathBuf),
}

impl Output {
    fn open(args: &CheckArgs) -> Result<Output, ExitStatus> {
        match &args.output {
            None => Ok(Output::Stdout(std::io::BufWriter::with_capacity(
                1 << 16,
                std::io::stdout(),
            ))),
            Some(path) => match std::fs::File::create(path) {
                Ok(file) => Ok(Output::File(
                    std::io::BufWriter::with_capacity(1 << 16, file),
                    path.clone(),
                )),
                Err(err) => {
                    eprintln!("spanlint: cannot write {}: {err}", path.display());
                    Err(ExitStatus::Error)
                }
            },
        }
    }

    /// Writes and empties `text`.
    fn write(&mut self, text: &mut String) -> Result<(), ExitStatus> {
        use std::io::Write as _;
        let result = match self {
            Output::Stdout(out) => out.write_all(text.as_bytes()),
            Output::File(out, _) => out.write_all(text.as_bytes()),
        };
        text.clear();
        self.check(result)
    }

    /// Where a report that writes itself (`junit`) goes.
    fn writer(&mut self) -> &mut dyn std::io::Write {
        match self {
            Output::Stdout(out) => out,
            Output::File(out, _) => out,
        }
    }

    fn flush(&mut self) -> Result<(), ExitStatus> {
        use std::io::Write as _;
        let result = match self {
            Output::Stdout(out) => out.flush(),
            Output::File(out, _) => out.flush(),
        };
        self.check(result)
    }

    fn check(&self, result: std::io::Result<()>) -> Result<(), ExitStatus> {
        match (result, self) {
            (Ok(()), _) => Ok(()),
            (Err(err), Output::Stdout(_)) if err.kind() == std::io::ErrorKind::BrokenPipe => {
                Err(ExitStatus::Clean)
            }
            (Err(err), Output::Stdout(_)) => {
                eprintln!("spanlint: cannot write to standard output: {err}");
                Err(ExitStatus::Error)
            }
            (Err(err), Output::File(_, path)) => {
                eprintln!("spanlint: cannot write {}: {err}", path.display());
                Err(ExitStatus::Error)
            }
        }
    }
}

/// How many files are opened and checked at once by a streamed run (each holds at most the
/// 8 MiB `input::open` reads, or is checked chunk by chunk).
fn files_at_once() -> usize {
    rayon::current_num_threads().max(1) * 2
}

/// A run whose report is written as the files are checked (see [`report::Stream`]): each
/// file's span-level findings go through the sink and are rendered as soon as they are final
/// (a streamed file's chunk by chunk), then dropped; only the counts, the input errors and
/// the files' trace indexes are kept. The trace-level findings, known only after the last
/// file, are rendered after every file's span-level findings.
fn run_streamed(
    args: &CheckArgs,
    setup: &Setup,
    sources: &[Source],
    mut errors: Vec<InputError>,
    mut stream: report::Stream,
) -> ExitStatus {
    let mut output = match Output::open(args) {
        Ok(output) => output,
        Err(stop) => return stop,
    };
    let format = args.input_format.map(InputFormat::from);
    let limits = args.limits.limits();
    let options = check_options(args);
    let progress = progress_bar(args, sources);
    let mut sink = Sink::new(&setup.config, setup.baseline.as_ref());
    let mut summary = Summary::default();
    let mut unreadable = 0;
    // Names and trace indexes of the files read, by file index.
    let mut names: Vec<String> = Vec::new();
    // Within a memory budget: past it, the spans go to temporary files.
    let mut traces = trace::BudgetedIndex::default();
    let mut text = String::new();
    // `--write-baseline` counts the findings into the baseline instead of reporting them.
    let mut recorder = args
        .write_baseline
        .as_ref()
        .map(|_| baseline::Recorder::default());

    // Renders one piece of the current file (its findings are final once the sink saw them).
    // `traces`: the part holds trace-level findings, which come after every file.
    let mut emit = |part: &mut FileReport,
                    (file, traces): (usize, bool),
                    name: &str,
                    errors: &mut Vec<InputError>,
                    summary: &mut Summary,
                    output: &mut Output|
     -> Result<(), ExitStatus> {
        errors.append(&mut part.errors);
        summary.add_spans(part);
        sink.apply_findings(&mut part.findings);
        if let Some(recorder) = recorder.as_mut() {
            for located in part.findings.drain(..) {
                recorder.add(&located.finding);
            }
        }
        summary.add_findings(&part.findings);
        if traces {
            stream.traces_follow();
        }
        stream.file(file, name, part.genai_spans);
        stream.findings(name, &part.findings, &mut text);
        part.findings = Vec::new();
        output.write(&mut text)
    };

    for window in sources.chunks(files_at_once()) {
        // Whole files are checked here, in parallel; streamed ones are checked in order
        // below, chunk groups in parallel.
        let opened: Vec<Result<Result<FileReport, input::Chunker>, InputError>> = window
            .par_iter()
            .map(|source| {
                input::open(source, format, &limits).map(|opened| match opened {
                    input::Opened::Whole(file) => {
                        Ok(check::check_file_with(&file, &setup.rules, options))
                    }
                    input::Opened::Stream(chunker) => Err(chunker),
                })
            })
            .collect();
        for result in opened {
            let file = names.len();
            match result {
                Ok(Ok(mut report)) => {
                    let name = std::mem::take(&mut report.name);
                    if let Err(err) = traces.merge(std::mem::take(&mut report.traces), file) {
                        return spill_failed(&err);
                    }
                    if let Err(stop) = emit(
                        &mut report,
                        (file, false),
                        &name,
                        &mut errors,
                        &mut summary,
                        &mut output,
                    ) {
                        return stop;
                    }
                    names.push(name);
                }
                Ok(Err(chunker)) => {
                    let name = chunker.name.clone();
                    let mut stopped = None;
                    check::check_stream_parts(chunker, &setup.rules, options, &mut |mut part| {
                        stopped = match traces.merge(std::mem::take(&mut part.traces), file) {
                            Err(err) => Some(spill_failed(&err)),
                            Ok(()) => emit(
                                &mut part,
                                (file, false),
                                &name,
                                &mut errors,
                                &mut summary,
                                &mut output,
                            )
                            .err(),
                        };
                        stopped.is_none()
                    });
                    if let Some(stop) = stopped {
                        return stop;
                    }
                    names.push(name);
                }
                Err(err) => {
                    unreadable += 1;
                    errors.push(err);
                }
            }
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    summary.files = names.len() + unreadable;

    // Trace-level rules see all files' spans (a trace may be split over files); the sink
    // applies to their findings too. They come in order, trace by trace, and are rendered in
    // batches of one file's findings, so neither they nor their text pile up.
    let mut batch: Vec<LocatedFinding> = Vec::new();
    let mut batch_file = 0;
    let mut stopped = None;
    let mut flush = |batch: &mut Vec<LocatedFinding>,
                     file: usize,
                     errors: &mut Vec<InputError>,
                     summary: &mut Summary,
                     output: &mut Output| {
        let mut part = FileReport {
            findings: std::mem::take(batch),
            ..FileReport::default()
        };
        let name = names.get(file).map_or("", String::as_str);
        emit(&mut part, (file, true), name, errors, summary, output)
    };
    let evaluated = check::trace_findings_each(traces, &setup.rules, &mut |found| {
        if !batch.is_empty() && (found.file != batch_file || batch.len() >= TRACE_FINDINGS_AT_ONCE)
        {
            stopped = flush(
                &mut batch,
                batch_file,
                &mut errors,
                &mut summary,
                &mut output,
            )
            .err();
        }
        batch_file = found.file;
        batch.push(located(found));
        stopped.is_none()
    });
    if let Err(err) = evaluated {
        return spill_failed(&err);
    }
    if let Some(stop) = stopped {
        return stop;
    }
    if !batch.is_empty()
        && let Err(stop) = flush(
            &mut batch,
            batch_file,
            &mut errors,
            &mut summary,
            &mut output,
        )
    {
        return stop;
    }

    for err in &errors {
        eprint_diagnostic(err);
    }
    match (&args.write_baseline, recorder) {
        (Some(path), Some(recorder)) => {
            warn_about_ignores_and_stale_entries(setup, &sink);
            let findings = recorder.findings();
            let entries = recorder.entries(setup.previous.as_ref());
            if let Err(stop) = write_baseline(path, &entries, findings) {
                return stop;
            }
        }
        _ => warn_about_configuration(setup, &sink),
    }
    summary.input_errors = errors.len();
    let no_input = sources.is_empty() && errors.is_empty();
    if no_input {
        eprintln!("spanlint: no input files");
    }
    let finished = stream.finish(&errors, summary, &mut text, output.writer());
    let written = match finished {
        Ok(()) => output.write(&mut text).and_then(|()| output.flush()),
        Err(report::junit::JunitError::Write(err)) => output.check(Err(err)),
        Err(report::junit::JunitError::Spool(err)) => {
            eprint_diagnostic(&err);
            Err(ExitStatus::Error)
        }
    };
    if let Err(stop) = written {
        return stop;
    }
    if args.output.is_some() {
        eprintln!("{}", report::summary_line(&summary));
    }
    exit_status(args, &errors, no_input, summary)
}

const TRACE_FINDINGS_AT_ONCE: usize = 4096;

/// The trace index could not use its temporary files: the run cannot finish.
fn spill_failed(err: &trace::SpillError) -> ExitStatus {
    eprint_diagnostic(err);
    ExitStatus::Error
}

fn located(found: trace::TraceFinding) -> LocatedFinding {
    LocatedFinding {
        finding: found.finding,
        position: found.position,
        snippet: None,
    }
}

fn exit_status(
    args: &CheckArgs,
    errors: &[InputError],
    no_input: bool,
    summary: Summary,
) -> ExitStatus {
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

/// What a run needs besides its inputs: the configuration, the rules and the baseline.
struct Setup {
    config: Config,
    rules: Ruleset,
    /// `--baseline`.
    baseline: Option<Baseline>,
    /// The file `--write-baseline` replaces, when it is a readable baseline: its reasons are
    /// kept.
    previous: Option<Baseline>,
}

impl Setup {
    fn load(args: &CheckArgs) -> Result<Setup, miette::Report> {
        let config = args.configuration.load()?;
        let rules = config.ruleset(args.rules.as_deref())?;
        let baseline = args.baseline.as_deref().map(Baseline::load).transpose()?;
        let previous = args
            .write_baseline
            .as_deref()
            .filter(|path| path.exists())
            .and_then(|path| Baseline::load(path).ok());
        Ok(Setup {
            config,
            rules,
            baseline,
            previous,
        })
    }
}

/// Warns about unmatched ignores and stale baseline entries, and says how many findings the
/// baseline accepted.
fn warn_about_configuration(setup: &Setup, sink: &Sink<'_>) {
    warn_about_ignores_and_stale_entries(setup, sink);
    if sink.baselined > 0 {
        eprintln!(
            "spanlint: {} finding(s) accepted by the baseline",
            sink.baselined
        );
    }
}

fn warn_about_ignores_and_stale_entries(setup: &Setup, sink: &Sink<'_>) {
    for ignore in sink.unmatched_ignores() {
        if let Some(warning) = setup.config.unmatched_ignore(ignore) {
            eprint_diagnostic(&warning);
        }
    }
    for stale in sink.stale_baseline_entries() {
        eprint_diagnostic(&stale);
    }
}

/// `--write-baseline`: writes the entries recording the findings that survived the
/// configuration (which are then all accepted, so none is reported).
fn write_baseline(
    path: &std::path::Path,
    entries: &[baseline::Entry],
    findings: usize,
) -> Result<(), ExitStatus> {
    if let Err(err) = baseline::write(path, entries) {
        eprint_diagnostic(&err);
        return Err(ExitStatus::Error);
    }
    eprintln!(
        "spanlint: wrote {} baseline entr{} covering {findings} finding(s) to {}",
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" },
        report::shown_path(path)
    );
    Ok(())
}

pub fn fails(worst: Option<Severity>, fail_on: FailOn) -> bool {
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
