//! `--format junit`: JUnit XML, for CI systems that show test reports (GitLab `reports: junit`,
//! Jenkins, Azure Pipelines, the JUnit actions on GitHub).
//!
//! ```xml
//! <testsuites name="spanlint" tests="3" failures="1" errors="0">
//!   <testsuite name="dumps/chat.jsonl" tests="3" failures="1" errors="0">
//!     <testcase name="chat gpt-4o-mini (span 94d5894218407115)" classname="dumps/chat.jsonl">
//!       <failure type="missing-required-attribute" message="…">error[missing-required-attribute] at 1:567 …</failure>
//!     </testcase>
//!     <testcase name="2 other GenAI spans conform" classname="dumps/chat.jsonl"/>
//!   </testsuite>
//! </testsuites>
//! ```
//!
//! One test suite per file. One test case per span with findings, holding one `<failure>` per
//! error or warning; infos do not fail a case (they are advice, and do not fail a run at the
//! default `--fail-on`), they are listed in the case's `<system-out>`. The spans without findings are not kept in memory (a dump can hold millions), so
//! they pass together as one case per file that counts them (`N other GenAI spans conform`, or
//! `no GenAI spans` when there are none); a clean run therefore still gets a passing case per
//! file. An input that could not be read is a case with an `<error>`. `failures` counts failed
//! cases, as JUnit does. Text is XML-escaped and characters XML 1.0 forbids are replaced.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::CheckOutcome;
use crate::check::LocatedFinding;
use crate::input::InputError;

/// Whether a finding fails its test case: errors and warnings do, infos are advice.
fn fails(located: &LocatedFinding) -> bool {
    located.finding.severity > crate::finding::Severity::Info
}

/// Renders the whole report as one XML document.
pub fn render(outcome: &CheckOutcome<'_>) -> String {
    let mut suites: Vec<Suite<'_>> = outcome
        .files
        .iter()
        .map(|file| {
            let mut suite = Suite {
                name: &file.name,
                cases: Vec::new(),
            };
            // Spans in the order of their first finding.
            let mut spans: Vec<(&LocatedFinding, Vec<&LocatedFinding>)> = Vec::new();
            let mut index: HashMap<(&str, &str, &str), usize> = HashMap::new();
            for located in &file.findings {
                let span = &located.finding.span;
                let key = (
                    span.trace_id.as_str(),
                    span.span_id.as_str(),
                    span.name.as_str(),
                );
                match index.get(&key) {
                    Some(&i) => spans[i].1.push(located),
                    None => {
                        index.insert(key, spans.len());
                        spans.push((located, vec![located]));
                    }
                }
            }
            let failed = spans.len();
            for (first, findings) in spans {
                suite.cases.push(Case::Span { first, findings });
            }
            let conforming = file.genai_spans.saturating_sub(failed);
            let unreadable = outcome.errors.iter().any(|e| e.file() == file.name);
            // "No GenAI spans" is no pass for a file that could not be read.
            if conforming > 0 || (file.genai_spans == 0 && !unreadable) {
                suite.cases.push(Case::Pass {
                    conforming,
                    others: failed > 0,
                });
            }
            suite
        })
        .collect();
    for err in outcome.errors {
        let index = match suites.iter().position(|s| s.name == err.file()) {
            Some(index) => index,
            None => {
                suites.push(Suite {
                    name: err.file(),
                    cases: Vec::new(),
                });
                suites.len() - 1
            }
        };
        suites[index].cases.push(Case::Error(err));
    }

    let count = |suites: &[Suite<'_>]| {
        let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
        let failures: usize = suites.iter().map(Suite::failures).sum();
        let errors: usize = suites.iter().map(Suite::errors).sum();
        (tests, failures, errors)
    };
    let (tests, failures, errors) = count(&suites);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"spanlint\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">"
    );
    for suite in &suites {
        suite.render(&mut out);
    }
    out.push_str("</testsuites>\n");
    out
}

struct Suite<'a> {
    name: &'a str,
    cases: Vec<Case<'a>>,
}

enum Case<'a> {
    /// A span with findings: its first finding (for the span's identity) and all of them.
    Span {
        first: &'a LocatedFinding,
        findings: Vec<&'a LocatedFinding>,
    },
    /// The spans without findings, counted.
    Pass { conforming: usize, others: bool },
    /// The input, or one message of it, could not be read.
    Error(&'a InputError),
}

impl Suite<'_> {
    fn failures(&self) -> usize {
        self.cases
            .iter()
            .filter(|c| match c {
                Case::Span { findings, .. } => findings.iter().any(|f| fails(f)),
                _ => false,
            })
            .count()
    }

    fn errors(&self) -> usize {
        self.cases
            .iter()
            .filter(|c| matches!(c, Case::Error(_)))
            .count()
    }

    fn render(&self, out: &mut String) {
        let name = escape(self.name);
        let _ = writeln!(
            out,
            "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
            self.cases.len(),
            self.failures(),
            self.errors()
        );
        for case in &self.cases {
            match case {
                Case::Span { first, findings } => {
                    let span = &first.finding.span;
                    let mut case_name = span.name.clone();
                    if !span.span_id.is_empty() {
                        let _ = write!(case_name, " (span {})", span.span_id);
                    }
                    let _ = writeln!(
                        out,
                        "    <testcase name=\"{}\" classname=\"{name}\">",
                        escape(&case_name)
                    );
                    let mut advice = String::new();
                    for located in findings {
                        let f = &located.finding;
                        let mut body = format!(
                            "{}[{}] at {}: {}",
                            f.severity, f.rule, located.position, f.message
                        );
                        if let Some(service) = &f.span.service {
                            let _ = write!(body, "\nservice: {service}");
                        }
                        if !f.span.trace_id.is_empty() {
                            let _ = write!(body, "\ntrace: {}", f.span.trace_id);
                        }
                        if let Some(help) = &f.help {
                            let _ = write!(body, "\nhelp: {help}");
                        }
                        if !fails(located) {
                            let _ = writeln!(advice, "{body}");
                            continue;
                        }
                        let _ = writeln!(
                            out,
                            "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                            f.rule,
                            escape(&f.message),
                            escape(&body)
                        );
                    }
                    if !advice.is_empty() {
                        let _ = writeln!(
                            out,
                            "      <system-out>{}</system-out>",
                            escape(advice.trim_end())
                        );
                    }
                    out.push_str("    </testcase>\n");
                }
                Case::Pass { conforming, others } => {
                    let case_name = match (conforming, others) {
                        (0, _) => "no GenAI spans".to_string(),
                        (1, false) => "1 GenAI span conforms".to_string(),
                        (1, true) => "1 other GenAI span conforms".to_string(),
                        (n, false) => format!("{n} GenAI spans conform"),
                        (n, true) => format!("{n} other GenAI spans conform"),
                    };
                    let _ = writeln!(
                        out,
                        "    <testcase name=\"{case_name}\" classname=\"{name}\"/>"
                    );
                }
                Case::Error(err) => {
                    let code = miette::Diagnostic::code(*err)
                        .map_or_else(|| "spanlint::input".to_string(), |c| c.to_string());
                    let message = escape(&err.to_string());
                    let _ = writeln!(
                        out,
                        "    <testcase name=\"read\" classname=\"{name}\">\n      \
                         <error type=\"{}\" message=\"{message}\">{message}</error>\n    \
                         </testcase>",
                        escape(&code)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
}

/// Escapes text for XML content and attribute values. The characters XML 1.0 does not allow
/// (C0 controls other than tab and line breaks, U+FFFE, U+FFFF) become U+FFFD; the other
/// [unsafe characters](super::is_unsafe_char) (DEL, C1 controls such as the one-byte CSI
/// U+009B, bidi overrides) become character references, so they read back unchanged but never
/// reach a terminal raw (`cat report.xml`).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Line breaks in attribute values would be normalised to spaces by parsers.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c if super::is_unsafe_char(c) => {
                let _ = write!(out, "&#x{:X};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escape_handles_markup_and_forbidden_characters() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(escape("x\u{1b}y\u{FFFF}"), "x\u{FFFD}y\u{FFFD}");
        assert_eq!(escape("a\nb"), "a&#10;b");
        assert_eq!(
            escape("c\u{9b}d\u{7f}e\u{202e}f"),
            "c&#x9B;d&#x7F;e&#x202E;f"
        );
    }
}
