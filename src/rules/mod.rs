//! The rules: what the GenAI conventions require, and one file per rule kind that checks it.
//!
//! [`rulesfile`] is the data (`rules/genai.toml`); [`Ruleset`] compiles it once into lookup
//! tables; each rule kind is a module with a `check` function over one [`SpanContext`] and an
//! [`RuleInfo`] describing it. [`RULES`] (rules over one span) and [`TRACE_RULES`] (rules over
//! all spans of a trace, evaluated after the whole input was read) are the only lists of rule
//! ids; [`all_rules`] chains them.
//!
//! **Invariant:** rules are pure functions of the span and the ruleset: no IO, no state.

pub mod attribute_type;
pub mod content_recorded;
pub mod deprecated_attribute;
pub mod deprecated_event;
pub mod deprecated_value;
pub mod error_status_mismatch;
pub mod extend;
pub mod foreign_namespace;
pub mod invalid_message_content;
pub mod key_facts;
pub mod keys;
pub mod messages;
pub mod metric_name_as_attribute;
pub mod missing_context;
pub mod missing_required_attribute;
pub mod missing_schema_url;
pub mod orphan_span;
pub mod provider_attribute_mismatch;
pub mod reserved_namespace;
pub mod resource_attribute_on_span;
pub mod ruleset;
pub mod rulesfile;
pub mod settings;
pub mod shallow_trace;
pub mod span_kind;
pub mod span_name_format;
pub mod status_ok_set;
pub mod token_count;
pub mod tool_call_unmatched;
pub mod tool_outside_agent;
pub mod unknown_enum_value;
pub mod usage_double_count;
pub mod walk;

pub use ruleset::{Ruleset, RulesetError, SpanContext};
pub use settings::Settings;

use crate::finding::{Finding, Severity};
use crate::trace::{Trace, TraceFinding};

/// What every rule kind declares about itself.
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    /// Stable kebab-case id, used in output, configuration and baselines.
    pub id: &'static str,
    /// One line: what it flags.
    pub summary: &'static str,
    pub default_severity: Severity,
}

/// A rule kind over one span: its description, its check and its source file.
pub struct Rule {
    pub info: RuleInfo,
    pub check: fn(&SpanContext<'_, '_>, &mut Vec<Finding>),
    /// The rule kind's source file (`include_str!`), whose leading `//!` comment is its
    /// documentation: see [`documentation`].
    pub source: &'static str,
}

/// Every rule kind over one span, in the order their findings are reported for a span.
pub const RULES: &[Rule] = &[
    Rule {
        info: missing_required_attribute::INFO,
        check: missing_required_attribute::check,
        source: include_str!("missing_required_attribute.rs"),
    },
    Rule {
        info: span_name_format::INFO,
        check: span_name_format::check,
        source: include_str!("span_name_format.rs"),
    },
    Rule {
        info: span_kind::INFO,
        check: span_kind::check,
        source: include_str!("span_kind.rs"),
    },
    Rule {
        info: deprecated_attribute::INFO,
        check: deprecated_attribute::check,
        source: include_str!("deprecated_attribute.rs"),
    },
    Rule {
        info: deprecated_value::INFO,
        check: deprecated_value::check,
        source: include_str!("deprecated_value.rs"),
    },
    Rule {
        info: deprecated_event::INFO,
        check: deprecated_event::check,
        source: include_str!("deprecated_event.rs"),
    },
    Rule {
        info: reserved_namespace::INFO,
        check: reserved_namespace::check,
        source: include_str!("reserved_namespace.rs"),
    },
    Rule {
        info: metric_name_as_attribute::INFO,
        check: metric_name_as_attribute::check,
        source: include_str!("metric_name_as_attribute.rs"),
    },
    Rule {
        info: attribute_type::INFO,
        check: attribute_type::check,
        source: include_str!("attribute_type.rs"),
    },
    Rule {
        info: unknown_enum_value::INFO,
        check: unknown_enum_value::check,
        source: include_str!("unknown_enum_value.rs"),
    },
    Rule {
        info: token_count::INFO,
        check: token_count::check,
        source: include_str!("token_count.rs"),
    },
    Rule {
        info: content_recorded::INFO,
        check: content_recorded::check,
        source: include_str!("content_recorded.rs"),
    },
    Rule {
        info: invalid_message_content::INFO,
        check: invalid_message_content::check,
        source: include_str!("invalid_message_content.rs"),
    },
    Rule {
        info: foreign_namespace::INFO,
        check: foreign_namespace::check,
        source: include_str!("foreign_namespace.rs"),
    },
    Rule {
        info: provider_attribute_mismatch::INFO,
        check: provider_attribute_mismatch::check,
        source: include_str!("provider_attribute_mismatch.rs"),
    },
    Rule {
        info: error_status_mismatch::INFO,
        check: error_status_mismatch::check,
        source: include_str!("error_status_mismatch.rs"),
    },
    Rule {
        info: status_ok_set::INFO,
        check: status_ok_set::check,
        source: include_str!("status_ok_set.rs"),
    },
    Rule {
        info: missing_schema_url::INFO,
        check: missing_schema_url::check,
        source: include_str!("missing_schema_url.rs"),
    },
    Rule {
        info: resource_attribute_on_span::INFO,
        check: resource_attribute_on_span::check,
        source: include_str!("resource_attribute_on_span.rs"),
    },
];

/// A rule kind over all spans of one trace (see [`crate::trace`]).
pub struct TraceRule {
    pub info: RuleInfo,
    pub check: fn(&Trace, &Ruleset, &mut Vec<TraceFinding>),
    /// As [`Rule::source`].
    pub source: &'static str,
}

/// Every trace-level rule kind. They run once per run, after all files were read.
pub const TRACE_RULES: &[TraceRule] = &[
    TraceRule {
        info: orphan_span::INFO,
        check: orphan_span::check,
        source: include_str!("orphan_span.rs"),
    },
    TraceRule {
        info: tool_outside_agent::INFO,
        check: tool_outside_agent::check,
        source: include_str!("tool_outside_agent.rs"),
    },
    TraceRule {
        info: usage_double_count::INFO,
        check: usage_double_count::check,
        source: include_str!("usage_double_count.rs"),
    },
    TraceRule {
        info: shallow_trace::INFO,
        check: shallow_trace::check,
        source: include_str!("shallow_trace.rs"),
    },
    TraceRule {
        info: missing_context::INFO,
        check: missing_context::check,
        source: include_str!("missing_context.rs"),
    },
    TraceRule {
        info: tool_call_unmatched::INFO,
        check: tool_call_unmatched::check,
        source: include_str!("tool_call_unmatched.rs"),
    },
];

/// Every rule kind's description and source file: the span rules, then the trace-level rules.
fn catalogue() -> impl Iterator<Item = (&'static RuleInfo, &'static str)> {
    RULES
        .iter()
        .map(|r| (&r.info, r.source))
        .chain(TRACE_RULES.iter().map(|r| (&r.info, r.source)))
}

/// Every rule kind's description: the span rules, then the trace-level rules.
pub fn all_rules() -> impl Iterator<Item = &'static RuleInfo> {
    catalogue().map(|(info, _)| info)
}

/// The rule kind with this id.
pub fn rule(id: &str) -> Option<&'static RuleInfo> {
    all_rules().find(|r| r.id == id)
}

/// The rule id closest to a misspelt one, for "did you mean" help.
pub fn closest_rule_id(id: &str) -> Option<&'static str> {
    all_rules()
        .map(|r| (strsim::levenshtein(r.id, id), r.id))
        .filter(|&(distance, known)| distance <= (known.len() / 3).max(2))
        .min()
        .map(|(_, known)| known)
}

/// The documentation of a rule kind: the leading `//!` comment of its source file, as Markdown
/// (sections What it checks / Why it matters / Example / Fix). `spanlint explain`, the
/// generated `docs/rules.md` and reports that link rules all read it from here.
pub fn documentation(id: &str) -> Option<&'static str> {
    static DOCS: std::sync::OnceLock<Vec<(&'static str, String)>> = std::sync::OnceLock::new();
    let docs = DOCS.get_or_init(|| {
        catalogue()
            .map(|(info, source)| (info.id, doc_comment(source)))
            .collect()
    });
    docs.iter()
        .find(|(known, _)| *known == id)
        .map(|(_, doc)| doc.as_str())
}

/// The leading `//!` lines of a Rust source file, without the `//!` and one following space.
fn doc_comment(source: &str) -> String {
    let mut doc = String::new();
    for line in source.lines() {
        let Some(text) = line.strip_prefix("//!") else {
            break;
        };
        doc.push_str(text.strip_prefix(' ').unwrap_or(text));
        doc.push('\n');
    }
    doc
}

/// Runs every rule on one GenAI span.
pub fn check_span(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    for rule in RULES {
        (rule.check)(ctx, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_documented_in_the_fixed_sections() {
        for rule in all_rules() {
            let doc = documentation(rule.id).expect("every rule has documentation");
            assert!(
                doc.starts_with(&format!("# {}\n", rule.id)),
                "{}: the doc comment starts with `# {}`: {doc}",
                rule.id,
                rule.id
            );
            let mut rest = doc;
            for heading in [
                "## What it checks",
                "## Why it matters",
                "## Example",
                "## Fix",
            ] {
                let at = rest
                    .find(&format!("\n{heading}\n"))
                    .unwrap_or_else(|| panic!("{}: no `{heading}` (in this order)", rule.id));
                rest = &rest[at + heading.len()..];
            }
        }
    }

    #[test]
    fn rule_ids_are_unique_kebab_case() {
        let mut ids: Vec<&str> = all_rules().map(|r| r.id).collect();
        let count = ids.len();
        for id in &ids {
            assert!(
                id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{id}"
            );
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "duplicate rule id");
    }

    #[test]
    fn doc_comment_takes_only_the_leading_block() {
        let source = "//! # x\n//!\n//!   indented\nuse y;\n//! not this\n";
        assert_eq!(doc_comment(source), "# x\n\n  indented\n");
        assert_eq!(documentation("no-such-rule"), None);
    }

    #[test]
    fn near_miss_rule_ids_get_a_suggestion() {
        assert_eq!(
            closest_rule_id("span-name-fromat"),
            Some("span-name-format")
        );
        assert_eq!(
            closest_rule_id("deprecated-attributes"),
            Some("deprecated-attribute")
        );
        assert_eq!(closest_rule_id("completely-different"), None);
    }
}
