//! # deprecated-value
//!
//! ## What it checks
//! Enum values the conventions renamed, on current attributes: `gen_ai.provider.name =
//! "vertex_ai"` should be `gcp.vertex_ai`, `az.ai.inference` should be `azure.ai.inference`,
//! `xai` should be `x_ai`. (On a deprecated attribute such as `gen_ai.system`, the
//! `deprecated-attribute` finding already names the new value.)
//!
//! ## Why it matters
//! Backends match providers by exact value; an old spelling splits one provider in two.
//!
//! ## Example
//! `{"key": "gen_ai.provider.name", "value": {"stringValue": "gemini"}}` should be `gcp.gemini`.
//!
//! ## Fix
//! Upgrade the instrumentation or rewrite dumps with `spanlint migrate`.

use super::{RuleInfo, SpanContext};
use crate::finding::{Finding, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "deprecated-value",
    summary: "an attribute has a deprecated enum value",
    default_severity: Severity::Warning,
};

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    if !ctx.own_keys().deprecated_values() {
        return;
    }
    for (attribute, facts) in ctx.attributes_with_facts() {
        if facts.deprecated.is_some() || !facts.deprecated_values {
            continue;
        }
        let Some(value) = attribute.value.as_str() else {
            continue;
        };
        if let Some(deprecated) = ctx.rules.deprecated_value(&attribute.key, value) {
            out.push(
                ctx.finding(&INFO, Some(&attribute.key), attribute.offset, || {
                    (
                        format!(
                            "value `{value}` of `{}` is deprecated since {}: use `{}`",
                            attribute.key, deprecated.since, deprecated.replacement
                        ),
                        Some(format!(
                            "set `{}` to `{}`",
                            attribute.key, deprecated.replacement
                        )),
                    )
                }),
            );
        }
    }
}
