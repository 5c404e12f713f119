//! `--format gitlab`: a GitLab Code Quality report (`artifacts: reports: codequality:`), a JSON
//! array of issues in the subset of the Code Climate format GitLab reads:
//!
//! ```json
//! [{"description": "…", "check_name": "deprecated-attribute",
//!   "fingerprint": "<32 hex digits>", "severity": "minor",
//!   "location": {"path": "dumps/chat.jsonl", "lines": {"begin": 1}}}]
//! ```
//!
//! Severities: `error` → `major`, `warning` → `minor`, `info` → `info` (`critical` and
//! `blocker` are left for security tools). Protobuf findings are put on line 1, with the byte
//! offset in the description. `fingerprint` must be unique per issue, or GitLab merges issues:
//! it hashes the file, rule, service, span name and attribute (never ids or lines, which change
//! with each capture) and counts repeats in file order. Paths are as given on the command line;
//! run spanlint from the project directory with relative paths so they match the repository.

use serde::Serialize;

use super::{CheckOutcome, Occurrences, identity_fields, stable_hash};
use crate::finding::Severity;
use crate::input::Position;

#[derive(Serialize)]
struct Issue<'a> {
    description: String,
    check_name: &'a str,
    fingerprint: String,
    severity: &'static str,
    location: Location<'a>,
}

#[derive(Serialize)]
struct Location<'a> {
    path: &'a str,
    lines: Lines,
}

#[derive(Serialize)]
struct Lines {
    begin: usize,
}

/// Renders the issue array, pretty-printed, with a trailing newline.
pub fn render(outcome: &CheckOutcome<'_>) -> String {
    let mut occurrences = Occurrences::default();
    let issues: Vec<Issue<'_>> = outcome
        .findings()
        .map(|(file, located)| {
            let f = &located.finding;
            let [rule, service, span, attribute] = identity_fields(f);
            let key = stable_hash(&[file, rule, service, span, attribute]);
            let n = occurrences.next(&key);
            let (line, place) = match located.position {
                Position::LineColumn { line, .. } => (line, String::new()),
                Position::Byte(offset) => (1, format!(", byte {offset}")),
            };
            Issue {
                description: format!("{} (span `{}`{place})", f.message, f.span.name),
                check_name: f.rule,
                fingerprint: format!("{key}{}", stable_hash(&[&key, &n.to_string()])),
                severity: match f.severity {
                    Severity::Error => "major",
                    Severity::Warning => "minor",
                    Severity::Info => "info",
                },
                location: Location {
                    path: file,
                    lines: Lines { begin: line },
                },
            }
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&issues).unwrap_or_default();
    out.push('\n');
    out
}
