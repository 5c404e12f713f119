//! `check`: runs the rules over every GenAI span of a loaded file and locates the findings.
//!
//! A span flows: [`LoadedFile::batches`] → each span with its resource and scope →
//! [`Ruleset::is_genai_span`] → [`rules::check_span`] → [`Finding`]s → [`LocatedFinding`]s with
//! a line/column (JSON) or byte offset (protobuf) and a source snippet for the human report.

use crate::finding::{Finding, Severity};
use crate::input::{InputError, LoadedFile, Position};
use crate::locate::Locator;
use crate::rules::{self, Ruleset, SpanContext};
use crate::snippet::{Snippet, Token};
use crate::trace::{self, TraceIndex};

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
        self.spans += file.spans;
        self.genai_spans += file.genai_spans;
        for f in &file.findings {
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

/// Checks every span of one file.
pub fn check_file(file: &LoadedFile, rules: &Ruleset) -> FileReport {
    let mut report = FileReport {
        name: file.name.clone(),
        ..FileReport::default()
    };
    let mut findings = Vec::new();
    let mut locator = file.text().map(Locator::new);
    for batch in file.batches() {
        let batch = match batch {
            Ok(batch) => batch,
            Err(err) => {
                report.errors.push(err);
                continue;
            }
        };
        for resource in &batch.resource_spans {
            for scope_spans in &resource.scope_spans {
                let mut first_in_scope = true;
                for span in &scope_spans.spans {
                    report.spans += 1;
                    if !rules.is_genai_span(span) {
                        report.traces.add(span, None);
                        continue;
                    }
                    report.genai_spans += 1;
                    let ctx = SpanContext::in_scope(
                        rules,
                        span,
                        resource,
                        &scope_spans.scope,
                        &scope_spans.schema_url,
                        std::mem::take(&mut first_in_scope),
                    );
                    rules::check_span(&ctx, &mut findings);
                    // Trace-level findings point at the span's name, located now: the file's
                    // text is gone when the trace rules run.
                    let offset = span.name_offset;
                    let position = match locator.as_mut() {
                        Some(locator) => locator.position(offset),
                        None => Position::Byte(offset),
                    };
                    let facts = trace::facts(&ctx, offset, position, ctx.identity().clone());
                    report.traces.add(span, Some(facts));
                }
            }
        }
        // In file order, as a reader scans the dump (stable: a span's findings at one place
        // keep the rules' order).
        findings.sort_by_key(|f| f.offset);
        report
            .findings
            .extend(findings.drain(..).map(|f| locate(f, locator.as_mut())));
    }
    report
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
    for found in index.evaluate(rules) {
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

fn locate(finding: Finding, locator: Option<&mut Locator<'_>>) -> LocatedFinding {
    match locator {
        Some(locator) => LocatedFinding {
            position: locator.position(finding.offset),
            snippet: Some(locator.snippet(finding.offset, Token::Show)),
            finding,
        },
        None => LocatedFinding {
            position: Position::Byte(finding.offset),
            snippet: None,
            finding,
        },
    }
}
