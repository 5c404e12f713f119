//! Findings of a `serve` run, de-duplicated: a live app sends the same span shape again and
//! again, so each finding is kept once per *key* (rule, span name, attribute pattern) with a
//! count. A key is printed the first time it is seen; the counts come in the summary.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::finding::{Finding, Severity};
use crate::report::{sanitize, truncate};

/// What makes two findings the same for a live run. The attribute is the pattern with indices
/// as `*` (`gen_ai.prompt.*.content`), as baselines use, so message counts do not split a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    rule: &'static str,
    span_name: String,
    attribute: Option<String>,
}

/// One de-duplicated finding: the first occurrence's text, and how often it was seen.
#[derive(Debug, Clone)]
struct Entry {
    severity: Severity,
    message: String,
    service: Option<String>,
    count: usize,
    /// Order of first appearance, to keep the summary stable for equal counts.
    seen: usize,
}

/// Findings by key, in order of first appearance.
#[derive(Debug, Default)]
pub struct Findings {
    entries: HashMap<Key, Entry>,
}

impl Findings {
    /// Counts a finding. Returns the line to print when its key is new.
    pub fn add(&mut self, finding: &Finding) -> Option<String> {
        let key = Key {
            rule: finding.rule,
            span_name: finding.span.name.clone(),
            attribute: finding.attribute_pattern(),
        };
        let seen = self.entries.len();
        match self.entries.get_mut(&key) {
            Some(entry) => {
                entry.count += 1;
                entry.severity = entry.severity.max(finding.severity);
                None
            }
            None => {
                let entry = Entry {
                    severity: finding.severity,
                    message: finding.message.clone(),
                    service: finding.span.service.clone(),
                    count: 1,
                    seen,
                };
                let line = line(&key, &entry);
                self.entries.insert(key, entry);
                Some(line)
            }
        }
    }

    /// Distinct keys.
    pub fn kinds(&self) -> usize {
        self.entries.len()
    }

    /// Occurrences per severity: (errors, warnings, infos).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for entry in self.entries.values() {
            match entry.severity {
                Severity::Error => counts.0 += entry.count,
                Severity::Warning => counts.1 += entry.count,
                Severity::Info => counts.2 += entry.count,
            }
        }
        counts
    }

    /// One line per key, most severe first, then most frequent, then first seen:
    /// `   12× warning[deprecated-attribute] … (chat gpt-4o · my-service)`.
    pub fn render(&self) -> String {
        let mut entries: Vec<(&Key, &Entry)> = self.entries.iter().collect();
        entries.sort_by(|(_, a), (_, b)| {
            b.severity
                .cmp(&a.severity)
                .then(b.count.cmp(&a.count))
                .then(a.seen.cmp(&b.seen))
        });
        let mut out = String::new();
        for (key, entry) in entries {
            let _ = writeln!(out, "{:>6}× {}", entry.count, line(key, entry));
        }
        out
    }
}

/// `severity[rule] message (span name · service)`, sanitized so each stays one line.
fn line(key: &Key, entry: &Entry) -> String {
    let mut place = truncate(&sanitize(&key.span_name), 60).into_owned();
    if let Some(service) = &entry.service {
        place.push_str(" · ");
        place.push_str(&truncate(&sanitize(service), 40));
    }
    format!(
        "{}[{}] {} ({place})",
        entry.severity,
        key.rule,
        sanitize(&entry.message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::SpanIdentity;

    fn finding(rule: &'static str, name: &str, attribute: Option<&str>) -> Finding {
        Finding {
            rule,
            severity: Severity::Warning,
            message: format!("about {}", attribute.unwrap_or("the span")),
            help: None,
            attribute: attribute.map(str::to_string),
            offset: 0,
            span: SpanIdentity {
                name: name.to_string(),
                service: Some("svc".to_string()),
                ..SpanIdentity::default()
            }
            .into(),
        }
    }

    #[test]
    fn a_key_is_printed_once_and_counted_every_time() {
        let mut findings = Findings::default();
        let first = findings.add(&finding(
            "deprecated-attribute",
            "chat",
            Some("gen_ai.system"),
        ));
        assert_eq!(
            first.as_deref(),
            Some("warning[deprecated-attribute] about gen_ai.system (chat · svc)")
        );
        assert!(
            findings
                .add(&finding(
                    "deprecated-attribute",
                    "chat",
                    Some("gen_ai.system")
                ))
                .is_none()
        );
        // Another span name or attribute is another key.
        assert!(
            findings
                .add(&finding(
                    "deprecated-attribute",
                    "embeddings",
                    Some("gen_ai.system")
                ))
                .is_some()
        );
        // Indexed keys with other indices are the same key.
        assert!(
            findings
                .add(&finding(
                    "content-recorded",
                    "chat",
                    Some("gen_ai.prompt.0.content")
                ))
                .is_some()
        );
        assert!(
            findings
                .add(&finding(
                    "content-recorded",
                    "chat",
                    Some("gen_ai.prompt.1.content")
                ))
                .is_none()
        );
        assert_eq!(findings.kinds(), 3);
        assert_eq!(findings.counts(), (0, 5, 0));
        let summary = findings.render();
        assert!(
            summary.starts_with("     2× warning[deprecated-attribute] about gen_ai.system"),
            "{summary}"
        );
    }

    #[test]
    fn control_characters_in_span_names_stay_on_one_line() {
        let mut findings = Findings::default();
        let line = findings
            .add(&finding("span-name-format", "evil\n\x1b[2Jname", None))
            .unwrap();
        assert!(!line.contains('\n') && !line.contains('\x1b'), "{line}");
    }
}
