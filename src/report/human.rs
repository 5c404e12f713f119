//! `--format human` (the default): miette diagnostics grouped by file, then a summary.
//!
//! For JSON input each finding shows the line of the dump around the attribute (elided when the
//! line is long, as Collector dumps are) with the key underlined; for protobuf, which has no
//! text, the byte offset. Every finding names its span, trace and service so it can be found in
//! a trace backend.

use std::fmt::Write as _;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic};

use super::sanitize;
use crate::check::LocatedFinding;
use crate::finding::Severity;
use crate::snippet::SnippetCode;

/// Rendering options.
#[derive(Debug, Clone, Copy)]
pub struct HumanOptions {
    pub color: bool,
    /// Terminal width used to wrap messages.
    pub width: usize,
}

impl Default for HumanOptions {
    fn default() -> Self {
        HumanOptions {
            color: false,
            width: 100,
        }
    }
}

/// The miette handler that renders each finding.
pub(super) fn handler(options: HumanOptions) -> GraphicalReportHandler {
    let theme = if options.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    GraphicalReportHandler::new_themed(theme)
        .with_width(options.width)
        .with_links(false)
}

/// One finding's diagnostic (the streamed report writes them as files are checked).
pub(super) fn render_finding(
    handler: &GraphicalReportHandler,
    file: &str,
    located: &LocatedFinding,
    out: &mut String,
) {
    let finding = &located.finding;
    // File names come from the file system: a name may hold ESC or a bidi override too.
    let file = &*sanitize(file);
    // Messages quote keys and enum-like values from the dump: no control character of theirs
    // may reach the terminal.
    let mut diagnostic = MietteDiagnostic::new(sanitize(&finding.message).into_owned())
        .with_code(finding.rule)
        .with_severity(match finding.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Info => miette::Severity::Advice,
        });
    if let Some(help) = &finding.help {
        diagnostic = diagnostic.with_help(sanitize(help).into_owned());
    }
    let source = located.snippet.as_ref().map(|snippet| {
        // The code sanitizes its excerpt, which can move the highlight: take it from there.
        let code = SnippetCode::new(file, snippet.clone());
        diagnostic.labels = Some(vec![LabeledSpan::new_primary_with_span(
            Some(label(located)),
            code.highlight(),
        )]);
        code
    });
    let report = match source {
        Some(source) => miette::Report::new(diagnostic).with_source_code(source),
        None => miette::Report::new(diagnostic),
    };
    let _ = handler.render_report(out, report.as_ref());
    if located.snippet.is_none() {
        let _ = writeln!(
            out,
            "  at {file}: {}: {}",
            located.position,
            logical_path(finding)
        );
    }
    let span = &finding.span;
    let _ = writeln!(
        out,
        "  span {} · trace {}\n",
        or_dash(&span.span_id),
        or_dash(&span.trace_id)
    );
}

/// What the underline says: which span this is.
fn label(located: &LocatedFinding) -> String {
    let span = &located.finding.span;
    let name = super::truncate(&sanitize(&span.name), 60).into_owned();
    match &span.service {
        Some(service) => format!("span `{name}` of service `{}`", sanitize(service)),
        None => format!("span `{name}`"),
    }
}

/// Where a finding is when there is no text to show (protobuf): resource → scope → span →
/// attribute.
fn logical_path(finding: &crate::finding::Finding) -> String {
    let span = &finding.span;
    let mut path = format!(
        "service `{}` → scope `{}` → span `{}`",
        sanitize(span.service.as_deref().unwrap_or("-")),
        sanitize(or_dash(&span.scope)),
        super::truncate(&sanitize(&span.name), 60)
    );
    if let Some(attribute) = &finding.attribute {
        let _ = write!(
            path,
            " → attribute `{}`",
            super::truncate(&sanitize(attribute), 80)
        );
    }
    path
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}
