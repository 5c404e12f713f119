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
pub mod extend;
pub mod keys;
pub mod missing_required_attribute;
pub mod reserved_namespace;
pub mod ruleset;
pub mod rulesfile;
pub mod settings;
pub mod span_name_format;

pub use ruleset::{Ruleset, RulesetError, SpanContext};
pub use settings::Settings;

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

/// A rule kind: its description, its check and its source file.
pub struct Rule {
    pub info: RuleInfo,
    pub check: fn(&SpanContext<'_, '_>, &mut Vec<Finding>),
    /// The rule kind's source file (`include_str!`), whose leading `//!` comment is its
    /// documentation: see [`documentation`].
    pub source: &'static str,
}

/// Every rule kind, in the order their findings are reported for a span.
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
        info: reserved_namespace::INFO,
        check: reserved_namespace::check,
        source: include_str!("reserved_namespace.rs"),
    },
    Rule {
        info: content_recorded::INFO,
        check: content_recorded::check,
        source: include_str!("content_recorded.rs"),
    },
];

/// The rule kind with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.info.id == id)
}

/// The rule id closest to a misspelt one, for "did you mean" help.
pub fn closest_rule_id(id: &str) -> Option<&'static str> {
    RULES
        .iter()
        .map(|r| (strsim::levenshtein(r.info.id, id), r.info.id))
        .filter(|&(distance, known)| distance <= (known.len() / 3).max(2))
        .min()
        .map(|(_, known)| known)
}

/// The documentation of a rule kind: the leading `//!` comment of its source file, as Markdown
/// (sections What it checks / Why it matters / Example / Fix). `spanlint explain`, the
/// generated `docs/rules.md` and reports that link rules all read it from here.
pub fn documentation(id: &str) -> Option<&'static str> {
    static DOCS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let docs = DOCS.get_or_init(|| RULES.iter().map(|r| doc_comment(r.source)).collect());
    let index = RULES.iter().position(|r| r.info.id == id)?;
    Some(docs[index].as_str())
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
        for rule in RULES {
            let doc = documentation(rule.info.id).expect("every rule has documentation");
            assert!(
                doc.starts_with(&format!("# {}\n", rule.info.id)),
                "{}: the doc comment starts with `# {}`: {doc}",
                rule.info.id,
                rule.info.id
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
                    .unwrap_or_else(|| panic!("{}: no `{heading}` (in this order)", rule.info.id));
                rest = &rest[at + heading.len()..];
            }
        }
    }

    #[test]
    fn rule_ids_are_unique_kebab_case() {
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.info.id).collect();
        for id in &ids {
            assert!(
                id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{id}"
            );
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len(), "duplicate rule id");
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
