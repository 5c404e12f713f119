//! `--format jsonl`: JSON Lines, one object per line, for tools that stream (`jq -c`, log
//! shippers) and for `| head`.
//!
//! # Wire format
//! Every line is one JSON object whose `type` says what it is, in this order:
//! ```json
//! {"type": "finding", "rule", "severity", "message", "help", "file", "line", "column", "offset",
//!  "trace_id", "span_id", "span_name", "service", "attribute"}
//! {"type": "error", "code", "message", "file", "line", "column", "offset"}
//! {"type": "summary", "version": 1, "files", "spans", "genai_spans", "errors", "warnings",
//!  "infos", "input_errors"}
//! ```
//! Findings come first: the span-level ones (files in argument order, findings in file order,
//! written while the files are checked), then the trace-level ones, known only after the last
//! file (same order); then the inputs
//! that could not be read, then exactly one summary line, always last. The fields are those of
//! `--format json` (see [`super::json`]): same names, same meaning, `null` when absent; the
//! summary carries the format `version`. Fields are only ever added.

use serde::Serialize;

use super::json::{self, VERSION};
use super::safe_json::ObjectWriter;
use crate::check::{LocatedFinding, Summary};
use crate::input::InputError;

/// One line: a `type` tag, then the object's own fields.
#[derive(Serialize)]
struct Line<T> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u32>,
    #[serde(flatten)]
    body: T,
}

fn push(out: &mut String, line: serde_json::Result<String>) {
    out.push_str(&line.unwrap_or_default());
    out.push('\n');
}

/// One finding's line (the streamed report writes them as files are checked).
pub(super) fn write_finding(out: &mut String, file: &str, located: &LocatedFinding) {
    // The bytes of serializing a `Line` of the finding, written without serde (see
    // `ObjectWriter`).
    let mut object = ObjectWriter::compact(out);
    object.string("type", "finding");
    json::finding((file, located)).write(&mut object);
    object.close();
    out.push('\n');
}

/// The input errors' lines, then the summary line.
pub(super) fn write_tail(out: &mut String, errors: &[InputError], totals: Summary) {
    let mut push = |line: serde_json::Result<String>| push(out, line);
    for err in errors {
        push(super::safe_json::to_string(&Line {
            kind: "error",
            version: None,
            body: json::error(err),
        }));
    }
    push(super::safe_json::to_string(&Line {
        kind: "summary",
        version: Some(VERSION),
        body: json::summary(totals),
    }));
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::finding::{Finding, Severity, SpanIdentity};
    use crate::input::Position;

    /// A finding's line is the serialized `Line`, escapes included.
    #[test]
    fn finding_lines_match_serde() {
        let text = "x\u{9b}\"\n\u{202e}é";
        let located = LocatedFinding {
            finding: Finding {
                rule: "span-kind",
                severity: Severity::Info,
                message: text.to_string(),
                help: None,
                attribute: Some(text.to_string()),
                offset: 7,
                span: Arc::new(SpanIdentity {
                    name: text.to_string(),
                    ..SpanIdentity::default()
                }),
            },
            position: Position::Byte(7),
            snippet: None,
        };
        let mut by_hand = String::new();
        write_finding(&mut by_hand, text, &located);
        let mut by_serde = String::new();
        push(
            &mut by_serde,
            super::super::safe_json::to_string(&Line {
                kind: "finding",
                version: None,
                body: json::finding((text, &located)),
            }),
        );
        assert_eq!(by_hand, by_serde);
    }
}
