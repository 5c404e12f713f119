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
