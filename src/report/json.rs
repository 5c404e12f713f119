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

use super::CheckOutcome;
use crate::check::LocatedFinding;
use crate::input::{InputError, Position};

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    findings: Vec<JsonFinding<'a>>,
    errors: Vec<JsonError<'a>>,
    summary: JsonSummary,
}

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

/// Renders the report as pretty-printed JSON with a trailing newline.
pub fn render(outcome: &CheckOutcome<'_>) -> String {
    let document = Document {
        version: VERSION,
        findings: outcome.findings().map(finding).collect(),
        errors: outcome.errors.iter().map(error).collect(),
        summary: summary(outcome),
    };
    let mut out = super::safe_json::to_string_pretty(&document).unwrap_or_default();
    out.push('\n');
    out
}

/// The version of the JSON and JSON Lines wire formats; raised only on incompatible changes.
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
pub(super) fn summary(outcome: &CheckOutcome<'_>) -> JsonSummary {
    let s = outcome.summary;
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
