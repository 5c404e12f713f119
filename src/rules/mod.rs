//! The rules: what the GenAI conventions require, and one file per rule kind that checks it.
//!
//! [`rulesfile`] is the data (`rules/genai.toml`); [`Ruleset`] compiles it once into lookup
//! tables; each rule kind is a module with a `check` function over one [`SpanContext`] and an
//! [`RuleInfo`] describing it. [`RULES`] is the only list of rule ids.
//!
//! **Invariant:** rules are pure functions of the span and the ruleset: no IO, no state.

pub mod content_recorded;
pub mod deprecated_attribute;
pub mod deprecated_value;
pub mod keys;
pub mod missing_required_attribute;
pub mod reserved_namespace;
pub mod ruleset;
pub mod rulesfile;
pub mod span_name_format;

pub use ruleset::{Ruleset, RulesetError, SpanContext};

use crate::finding::{Finding, Severity};

/// What every rule kind declares about itself.
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    /// Stable kebab-case id, used in output, configuration and baselines.
    pub id: &'static str,
    /// One line: what it flags.
    pub summary: &'static str,
    pub default_severity: Severity,
}

/// A rule kind: its description and its check.
pub struct Rule {
    pub info: RuleInfo,
    pub check: fn(&SpanContext<'_, '_>, &mut Vec<Finding>),
}

/// Every rule kind, in the order their findings are reported for a span.
pub const RULES: &[Rule] = &[
    Rule {
        info: missing_required_attribute::INFO,
        check: missing_required_attribute::check,
    },
    Rule {
        info: span_name_format::INFO,
        check: span_name_format::check,
    },
    Rule {
        info: deprecated_attribute::INFO,
        check: deprecated_attribute::check,
    },
    Rule {
        info: deprecated_value::INFO,
        check: deprecated_value::check,
    },
    Rule {
        info: reserved_namespace::INFO,
        check: reserved_namespace::check,
    },
    Rule {
        info: content_recorded::INFO,
        check: content_recorded::check,
    },
];

/// Runs every rule on one GenAI span.
pub fn check_span(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    for rule in RULES {
        (rule.check)(ctx, out);
    }
}

/// Each rule kind's source file: its leading `//!` lines are the rule's documentation.
/// A test checks that every id in [`RULES`] has one.
const SOURCES: &[(&str, &str)] = &[
    (
        missing_required_attribute::INFO.id,
        include_str!("missing_required_attribute.rs"),
    ),
    (
        span_name_format::INFO.id,
        include_str!("span_name_format.rs"),
    ),
    (
        deprecated_attribute::INFO.id,
        include_str!("deprecated_attribute.rs"),
    ),
    (
        deprecated_value::INFO.id,
        include_str!("deprecated_value.rs"),
    ),
    (
        reserved_namespace::INFO.id,
        include_str!("reserved_namespace.rs"),
    ),
    (
        content_recorded::INFO.id,
        include_str!("content_recorded.rs"),
    ),
];

/// The documentation of a rule kind, in Markdown: the leading `//!` comment of its source file
/// (`# rule-id`, then What it checks / Why it matters / Example / Fix). `None` for an unknown id.
///
/// The one place rule docs are extracted, for `spanlint explain`, SARIF rule help and anything
/// else that shows them, so the docs are written once, next to the code.
pub fn documentation(id: &str) -> Option<&'static str> {
    static DOCS: std::sync::OnceLock<Vec<(&'static str, String)>> = std::sync::OnceLock::new();
    let docs = DOCS.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(id, source)| (*id, module_doc(source)))
            .collect()
    });
    docs.iter()
        .find(|(doc_id, _)| *doc_id == id)
        .map(|(_, doc)| doc.as_str())
}

/// The leading `//!` lines of a Rust source file, without the `//!` and one following space.
fn module_doc(source: &str) -> String {
    let mut doc = String::new();
    for line in source.lines() {
        let Some(rest) = line.strip_prefix("//!") else {
            break;
        };
        doc.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        doc.push('\n');
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_documentation_titled_with_its_id() {
        for rule in RULES {
            let id = rule.info.id;
            let doc = documentation(id).unwrap_or_else(|| panic!("{id} has no entry in SOURCES"));
            assert!(doc.starts_with(&format!("# {id}\n")), "{id}: {doc}");
            for section in ["## What it checks", "## Why it matters", "## Fix"] {
                assert!(doc.contains(section), "{id} lacks {section}");
            }
            assert!(!doc.contains("//!"), "{id}");
        }
        assert_eq!(documentation("no-such-rule"), None);
    }

    #[test]
    fn module_doc_stops_at_the_first_code_line() {
        assert_eq!(
            module_doc("//! # a\n//!\n//!  b\nuse x;\n//! c\n"),
            "# a\n\n b\n"
        );
    }
}
