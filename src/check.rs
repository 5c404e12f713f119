//! `check`: runs the rules over every GenAI span of a loaded file and locates the findings.
//!
//! A span flows: [`LoadedFile::batches`] → each span with its resource and scope →
//! [`Ruleset::is_genai_span`] → [`rules::check_span`] → [`Finding`]s → [`LocatedFinding`]s with
//! a line/column (JSON) or byte offset (protobuf) and a source snippet for the human report.

use crate::finding::{Finding, Severity};

use crate::input::{Chunk, Chunker, InputError, LoadedFile, Opened, Piece, Position};
use crate::locate::Locator;
use crate::rules::{self, Ruleset, walk};
use crate::snippet::{Snippet, Token};
use crate::trace::{self, BudgetedIndex, SpillError, TraceIndex};

/// A finding with its place in the file.
#[derive(Debug, Clone)]
pub struct LocatedFinding {
    pub finding: Finding,
    pub position: Position,
    /// The JSON source around the finding (none for protobuf).
    pub snippet: Option<Snippet>,
}

/// The outcome of checking one file.
#[derive(Debug, Default)]
pub struct FileReport {
    pub name: String,
    pub findings: Vec<LocatedFinding>,
    /// Messages of this file that could not be read (the others were still checked).
    pub errors: Vec<InputError>,
    pub spans: usize,
    pub genai_spans: usize,
    /// This file's spans for the trace-level rules; [`check_traces`] takes it.
    pub traces: TraceIndex,
}

/// Counts over a whole run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub spans: usize,
    pub genai_spans: usize,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    /// Inputs or messages that could not be read (set by the caller, which also counts the
    /// arguments that named no file).
    pub input_errors: usize,
}

impl Summary {
    pub fn add(&mut self, file: &FileReport) {
        self.files += 1;
        self.add_spans(file);
        self.add_findings(&file.findings);
    }

    /// Counts a file's (or a piece's) spans, not the file itself.
    pub fn add_spans(&mut self, file: &FileReport) {
        self.spans += file.spans;
        self.genai_spans += file.genai_spans;
    }

    /// Counts findings by severity.
    pub fn add_findings(&mut self, findings: &[LocatedFinding]) {
        for f in findings {
            match f.finding.severity {
                Severity::Error => self.errors += 1,
                Severity::Warning => self.warnings += 1,
                Severity::Info => self.infos += 1,
            }
        }
    }

    /// The most severe finding, if any.
    pub fn worst(&self) -> Option<Severity> {
        if self.errors > 0 {
            Some(Severity::Error)
        } else if self.warnings > 0 {
            Some(Severity::Warning)
        } else if self.infos > 0 {
            Some(Severity::Info)
        } else {
            None
        }
    }
}

/// What to compute besides the findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOptions {
    /// Give JSON findings a source [`Snippet`] (only the human report shows them; making one
    /// costs more than finding the problem).
    pub snippets: bool,
    /// Give findings their message and help (a run that shows only counts, `--quiet`,
    /// `--statistics` or `--write-baseline`, reads neither; see
    /// [`rules::SpanContext::with_messages`]).
    pub messages: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            snippets: true,
            messages: true,
        }
    }
}

impl FileReport {
    /// Adds the outcome of the next piece of the same file.
    fn append(&mut self, piece: FileReport) {
        self.findings.extend(piece.findings);
        self.errors.extend(piece.errors);
        self.spans += piece.spans;
        self.genai_spans += piece.genai_spans;
        self.traces.merge(piece.traces, 0);
    }
}

/// Checks every span of one file held in memory (findings with snippets).
pub fn check_file(file: &LoadedFile, rules: &Ruleset) -> FileReport {
    check_file_with(file, rules, CheckOptions::default())
}

/// [`check_file`] with options.
pub fn check_file_with(file: &LoadedFile, rules: &Ruleset, options: CheckOptions) -> FileReport {
    let mut report = FileReport {
        name: file.name.clone(),
        ..FileReport::default()
    };
    check_piece(file.piece(), rules, options, &mut report);
    report
}

/// Checks an opened source: whole, or chunk by chunk (see [`crate::input::stream`]).
pub fn check_opened(opened: Opened, rules: &Ruleset, options: CheckOptions) -> FileReport {
    match opened {
        Opened::Whole(file) => check_file_with(&file, rules, options),
        Opened::Stream(chunker) => check_stream(chunker, rules, options),
    }
}

/// Checks a streamed file: chunks are checked in parallel, a few at a time (the next few are
/// read meanwhile), and their outcomes are put together in file order. At most two groups of
/// chunks are in memory at once.
pub fn check_stream(chunker: Chunker, rules: &Ruleset, options: CheckOptions) -> FileReport {
    let mut report = FileReport {
        name: chunker.name.clone(),
        ..FileReport::default()
    };
    check_stream_parts(chunker, rules, options, &mut |part| {
        report.append(part);
        true
    });
    report
}

/// [`check_stream`] handing each chunk's outcome (findings in file order, spans, errors and
/// trace index of that chunk; no name) to `part` as soon as its group is checked, in file
/// order, instead of putting them together: a caller that renders and drops the findings
/// keeps memory flat however many findings the file has. `part` returns `false` to stop
/// reading (the report's reader went away).
pub fn check_stream_parts(
    chunker: Chunker,
    rules: &Ruleset,
    options: CheckOptions,
    part: &mut (dyn FnMut(FileReport) -> bool + Send),
) {
    let name = chunker.name.clone();
    let limits = chunker.limits;
    let check_chunk = |chunk: Result<&mut Chunk, InputError>| {
        let mut part = FileReport::default();
        match chunk {
            Ok(chunk) => {
                part.errors = std::mem::take(&mut chunk.errors);
                check_piece(chunk.piece(&name, &limits), rules, options, &mut part);
            }
            Err(err) => part.errors.push(err),
        }
        part
    };
    chunker.for_each_in_parallel(check_chunk, part);
}

thread_local! {
    /// The findings of the piece a thread checks, before they are located: reused from piece
    /// to piece (up to [`SCRATCH_KEPT`] of them), so checking a chunk does not grow a fresh
    /// vector (copies, and fresh pages faulted in) every time.
    static SCRATCH: std::cell::Cell<Vec<Finding>> = const { std::cell::Cell::new(Vec::new()) };
}

/// How many findings' room a thread keeps between pieces (a chunk has a few thousand).
const SCRATCH_KEPT: usize = 1 << 16;

/// Checks the spans of one piece of a file, adding to `report`.
fn check_piece(piece: Piece<'_>, rules: &Ruleset, options: CheckOptions, report: &mut FileReport) {
    let mut findings = SCRATCH.take();
    findings.clear();
    let mut locator = piece.text().map(Locator::new);
    // Where the current batch's findings start in `findings`.
    let mut batch_start = 0;
    for batch in piece.batches() {
        let batch = match batch {
            Ok(batch) => batch,
            Err(err) => {
                report.errors.push(err);
                continue;
            }
        };
        walk::for_each_span(rules, &batch, |span, ctx| {
            report.spans += 1;
            let Some(ctx) = ctx else {
                report.traces.add(span, None);
                return;
            };
            report.genai_spans += 1;
            let ctx = ctx.with_messages(options.messages);
            rules::check_span(&ctx, &mut findings);
            // Trace-level findings point at the span's name, located now: the file's text is
            // gone when the trace rules run.
            let offset = span.name_offset;
            let position = match locator.as_ref() {
                Some(locator) => piece.file_position(locator.position(offset)),
                None => Position::Byte(offset + piece.offset),
            };
            let facts = trace::facts(
                &ctx,
                offset + piece.offset,
                position,
                ctx.identity().clone(),
            );
            report.traces.add(span, Some(facts));
        });
        // In file order, as a reader scans the dump (stable: a span's findings at one place
        // keep the rules' order).
        findings[batch_start..].sort_by_key(|f| f.offset);
        batch_start = findings.len();
    }
    // Located all at once, into a vector of the exact size.
    report.findings.reserve_exact(findings.len());
    report.findings.extend(
        findings
            .drain(..)
            .map(|f| locate(f, locator.as_mut(), &piece, options)),
    );
    if findings.capacity() <= SCRATCH_KEPT {
        SCRATCH.set(findings);
    }
}

/// Runs the trace-level rules over all spans of all files of a run (a trace may be split over
/// several files), adding their findings to the files that hold the spans. Call it once, after
/// every file was checked and before counting the findings.
///
/// Trace-level findings have a position but no snippet: the files' text is not kept.
pub fn check_traces(files: &mut [FileReport], rules: &Ruleset) {
    let mut index = TraceIndex::default();
    for (i, file) in files.iter_mut().enumerate() {
        index.merge(std::mem::take(&mut file.traces), i);
    }
    let mut touched = Vec::new();
    for found in trace_findings(index, rules) {
        touched.push(found.file);
        files[found.file].findings.push(LocatedFinding {
            finding: found.finding,
            position: found.position,
            snippet: None,
        });
    }
    touched.dedup();
    for i in touched {
        // File order, as the span rules' findings (stable: same place keeps its order).
        files[i].findings.sort_by_key(|f| f.finding.offset);
    }
}

/// Runs the trace-level rules over an index merged from every file of a run (see
/// [`TraceIndex::merge`]); the findings are ordered by file index, then offset.
pub fn trace_findings(index: TraceIndex, rules: &Ruleset) -> Vec<trace::TraceFinding> {
    index.evaluate(rules)
}

/// [`trace_findings`] over a run's [`BudgetedIndex`] (its spans maybe in temporary files),
/// handed to `found` one at a time, in the same order, without holding them all (see
/// [`TraceIndex::evaluate_each`]); `found` returns `false` to stop.
pub fn trace_findings_each(
    index: BudgetedIndex,
    rules: &Ruleset,
    found: &mut dyn FnMut(trace::TraceFinding) -> bool,
) -> Result<(), SpillError> {
    index.evaluate_each(rules, found)
}

/// Gives a finding its place in the file; `finding.offset` becomes an offset into the file.
fn locate(
    mut finding: Finding,
    locator: Option<&mut Locator<'_>>,
    piece: &Piece<'_>,
    options: CheckOptions,
) -> LocatedFinding {
    let in_piece = finding.offset;
    finding.offset += piece.offset;
    match locator {
        Some(locator) => LocatedFinding {
            position: piece.file_position(locator.position(in_piece)),
            snippet: options.snippets.then(|| {
                let mut snippet = locator.snippet(in_piece, Token::Show);
                snippet.line += piece.line;
                snippet
            }),
            finding,
        },
        None => LocatedFinding {
            position: Position::Byte(finding.offset),
            snippet: None,
            finding,
        },
    }
}
