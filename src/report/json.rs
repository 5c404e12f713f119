//! `--format json`: one JSON document for tools.
//!
//! # Wire format
//! ```json
//! {"version": 1,
//!  "findings": [{"rule", "severity", "message", "help", "file", "line", "column", "offset",
//!                "trace_id", "span_id", "span_name", "service", "attribute"}],
//!  "errors": [{"code", "message", "file", "line", "column", "offset"}],
//!  "summary": {"files", "spans", "genai_spans", "errors", "warnings", "infos", "input_errors"}}
//! ```
//! `line`/`column` (1-based, column in characters) are set for JSON input, `offset` (bytes into
//! the decompressed input) always. `errors` lists inputs that could not be read or parsed
//! (`summary.errors` counts error-severity *findings*). Absent values are `null`. Fields are only ever added.

use serde::Serialize;

use super::safe_json::{self, PrettyArray};
use crate::check::{LocatedFinding, Summary};
use crate::input::{InputError, Position};

/// An input that could not be read or parsed.
#[derive(Serialize)]
pub(super) struct JsonError<'a> {
    code: String,
    message: String,
    file: &'a str,
    line: Option<usize>,
    column: Option<usize>,
    offset: Option<usize>,
}

#[derive(Serialize)]
pub(super) struct JsonFinding<'a> {
    rule: &'a str,
    severity: &'a str,
    message: &'a str,
    help: Option<&'a str>,
    file: &'a str,
    line: Option<usize>,
    column: Option<usize>,
    offset: usize,
    trace_id: Option<&'a str>,
    span_id: Option<&'a str>,
    span_name: &'a str,
    service: Option<&'a str>,
    attribute: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct JsonSummary {
    files: usize,
    spans: usize,
    genai_spans: usize,
    errors: usize,
    warnings: usize,
    infos: usize,
    input_errors: usize,
}

/// The report written piece by piece (see [`super::Stream`]): the findings array element by
/// element, then the errors and the summary. The bytes are those of pretty-printing the whole
/// document, with a trailing newline.
#[derive(Default)]
pub(super) struct JsonStream {
    findings: Option<PrettyArray>,
}

impl JsonStream {
    pub fn write_finding(&mut self, out: &mut String, file: &str, located: &LocatedFinding) {
        let findings = self.findings.get_or_insert_with(|| open(out));
        findings.push(&finding((file, located)), out);
    }

    pub fn finish(self, out: &mut String, errors: &[InputError], totals: Summary) {
        self.findings.unwrap_or_else(|| open(out)).close(out);
        out.push_str(",\n  \"errors\": ");
        let errors: Vec<JsonError<'_>> = errors.iter().map(error).collect();
        safe_json::write_nested(&errors, 1, out);
        out.push_str(",\n  \"summary\": ");
        safe_json::write_nested(&summary(totals), 1, out);
        out.push_str("\n}\n");
    }
}

/// Writes the document's start, up to the findings array, and opens it.
fn open(out: &mut String) -> PrettyArray {
    out.push_str(&format!("{{\n  \"version\": {VERSION},\n  \"findings\": "));
    PrettyArray::open(1, out)
}

pub(super) const VERSION: u32 = 1;

/// One finding as the JSON formats show it.
pub(super) fn finding<'a>((file, located): (&'a str, &'a LocatedFinding)) -> JsonFinding<'a> {
    let f = &located.finding;
    let (line, column) = match located.position {
        Position::LineColumn { line, column } => (Some(line), Some(column)),
        Position::Byte(_) => (None, None),
    };
    JsonFinding {
        rule: f.rule,
        severity: f.severity.as_str(),
        message: &f.message,
        help: f.help.as_deref(),
        file,
        line,
        column,
        offset: f.offset,
        trace_id: non_empty(&f.span.trace_id),
        span_id: non_empty(&f.span.span_id),
        span_name: &f.span.name,
        service: f.span.service.as_deref(),
        attribute: f.attribute.as_deref(),
    }
}

/// One input error as the JSON formats show it.
pub(super) fn error(err: &InputError) -> JsonError<'_> {
    let (line, column, offset) = match err.position() {
        Some(Position::LineColumn { line, column }) => (Some(line), Some(column), None),
        Some(Position::Byte(offset)) => (None, None, Some(offset)),
        None => (None, None, None),
    };
    JsonError {
        code: miette::Diagnostic::code(err).map_or_else(String::new, |c| c.to_string()),
        message: err.to_string(),
        file: err.file(),
        line,
        column,
        offset,
    }
}

/// The run's counts as the JSON formats show them.
pub(super) fn summary(s: Summary) -> JsonSummary {
    JsonSummary {
        files: s.files,
        spans: s.spans,
        genai_spans: s.genai_spans,
        errors: s.errors,
        warnings: s.warnings,
        infos: s.infos,
        input_errors: s.input_errors,
    }
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}
