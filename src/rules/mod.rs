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
pub mod foreign_namespace;
pub mod invalid_message_content;
pub mod keys;
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
pub mod shallow_trace;
pub mod span_kind;
pub mod span_name_format;
pub mod status_ok_set;
pub mod token_count;
pub mod tool_call_unmatched;
pub mod tool_outside_agent;
pub mod unknown_enum_value;
pub mod usage_double_count;

pub use ruleset::{Ruleset, RulesetError, SpanContext};

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

/// A rule kind: its description and its check.
pub struct Rule {
    pub info: RuleInfo,
    pub check: fn(&SpanContext<'_, '_>, &mut Vec<Finding>),
}

/// Every rule kind over one span, in the order their findings are reported for a span.
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
        info: span_kind::INFO,
        check: span_kind::check,
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
        info: deprecated_event::INFO,
        check: deprecated_event::check,
    },
    Rule {
        info: reserved_namespace::INFO,
        check: reserved_namespace::check,
    },
    Rule {
        info: metric_name_as_attribute::INFO,
        check: metric_name_as_attribute::check,
    },
    Rule {
        info: attribute_type::INFO,
        check: attribute_type::check,
    },
    Rule {
        info: unknown_enum_value::INFO,
        check: unknown_enum_value::check,
    },
    Rule {
        info: token_count::INFO,
        check: token_count::check,
    },
    Rule {
        info: content_recorded::INFO,
        check: content_recorded::check,
    },
    Rule {
        info: invalid_message_content::INFO,
        check: invalid_message_content::check,
    },
    Rule {
        info: foreign_namespace::INFO,
        check: foreign_namespace::check,
    },
    Rule {
        info: provider_attribute_mismatch::INFO,
        check: provider_attribute_mismatch::check,
    },
    Rule {
        info: error_status_mismatch::INFO,
        check: error_status_mismatch::check,
    },
    Rule {
        info: status_ok_set::INFO,
        check: status_ok_set::check,
    },
    Rule {
        info: missing_schema_url::INFO,
        check: missing_schema_url::check,
    },
    Rule {
        info: resource_attribute_on_span::INFO,
        check: resource_attribute_on_span::check,
    },
];

/// A rule kind over all spans of one trace (see [`crate::trace`]).
pub struct TraceRule {
    pub info: RuleInfo,
    pub check: fn(&Trace, &Ruleset, &mut Vec<TraceFinding>),
}

/// Every trace-level rule kind. They run once per run, after all files were read.
pub const TRACE_RULES: &[TraceRule] = &[
    TraceRule {
        info: orphan_span::INFO,
        check: orphan_span::check,
    },
    TraceRule {
        info: tool_outside_agent::INFO,
        check: tool_outside_agent::check,
    },
    TraceRule {
        info: usage_double_count::INFO,
        check: usage_double_count::check,
    },
    TraceRule {
        info: shallow_trace::INFO,
        check: shallow_trace::check,
    },
    TraceRule {
        info: missing_context::INFO,
        check: missing_context::check,
    },
    TraceRule {
        info: tool_call_unmatched::INFO,
        check: tool_call_unmatched::check,
    },
];

/// Every rule kind's description: the span rules, then the trace-level rules.
pub fn all_rules() -> impl Iterator<Item = &'static RuleInfo> {
    RULES
        .iter()
        .map(|r| &r.info)
        .chain(TRACE_RULES.iter().map(|r| &r.info))
}

/// Runs every rule on one GenAI span.
pub fn check_span(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    for rule in RULES {
        (rule.check)(ctx, out);
    }
}
