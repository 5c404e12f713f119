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

use super::safe_json::{self, ObjectWriter, PrettyArray};
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
        let finding = finding((file, located));
        findings.push_object(out, |object| finding.write(object));
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

impl JsonFinding<'_> {
    /// Writes the fields as serde would (the report writes many findings: see
    /// [`ObjectWriter`]).
    pub(super) fn write(&self, object: &mut ObjectWriter<'_>) {
        object.string("rule", self.rule);
        object.string("severity", self.severity);
        object.string("message", self.message);
        object.optional_string("help", self.help);
        object.string("file", self.file);
        object.optional_number("line", self.line);
        object.optional_number("column", self.column);
        object.number("offset", self.offset);
        object.optional_string("trace_id", self.trace_id);
        object.optional_string("span_id", self.span_id);
        object.string("span_name", self.span_name);
        object.optional_string("service", self.service);
        object.optional_string("attribute", self.attribute);
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::finding::{Finding, Severity, SpanIdentity};

    const HOSTILE: &str =
        "a\u{1b}[2Jb\u{9b}c\u{202e}d\u{7f}e\u{85}f\u{2028}é😀\"\\\u{8}\u{c}\n\r\t\u{1}\u{1f}g";

    fn findings() -> Vec<LocatedFinding> {
        let mut out = Vec::new();
        for text in [
            "plain text, long enough to fill a block or two",
            "",
            HOSTILE,
        ] {
            for position in [
                Position::LineColumn {
                    line: 3,
                    column: 17,
                },
                Position::Byte(1 << 40),
            ] {
                let span = SpanIdentity {
                    trace_id: text.to_string(),
                    span_id: "00f067aa0ba902b7".to_string(),
                    name: format!("chat {text}"),
                    service: (!text.is_empty()).then(|| text.to_string()),
                    scope: String::new(),
                };
                let finding = Finding {
                    rule: "missing-required-attribute",
                    severity: Severity::Warning,
                    message: format!("`{text}` is missing"),
                    help: (!text.is_empty()).then(|| format!("set {text}")),
                    attribute: (!text.is_empty()).then(|| text.to_string()),
                    offset: 42,
                    span: Arc::new(span),
                };
                out.push(LocatedFinding {
                    finding,
                    position,
                    snippet: None,
                });
            }
        }
        out
    }

    /// The findings written field by field are serde_json's bytes, escapes included.
    #[test]
    fn hand_written_findings_match_serde() {
        for located in &findings() {
            let finding = finding((HOSTILE, located));
            safe_json::assert_written_as_serde(&finding, &[0, 1, 2], JsonFinding::write);
        }
        let mut empty = String::new();
        ObjectWriter::pretty(2, &mut empty).close();
        assert_eq!(empty, "{}");
    }
}
