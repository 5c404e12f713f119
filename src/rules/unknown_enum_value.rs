//! # unknown-enum-value
//!
//! ## What it checks
//! String values of enum attributes (`gen_ai.operation.name`, `gen_ai.provider.name`,
//! `gen_ai.output.type`, `openai.api.type`, `mcp.method.name`, …) that are not one of the
//! conventions' well-known values. Enums are open, so this is an info; renamed values are
//! `deprecated-value`'s, and a known library spelling (`openai.chat` for `openai`) gets a "did
//! you mean". Enums whose only member is the `_OTHER` fallback (`error.type`) are open by
//! design and not checked.
//!
//! ## Why it matters
//! Backends group by these values. A custom provider or operation name is allowed, but a
//! library's own spelling of a well-known one splits dashboards.
//!
//! ## Example
//! `{"key": "gen_ai.provider.name", "value": {"stringValue": "openai.chat"}}` should be
//! `openai`.
//!
//! ## Fix
//! Use the well-known value when one applies; keep custom values for systems the conventions do
//! not list.

use super::{RuleInfo, SpanContext};
use crate::finding::{Finding, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "unknown-enum-value",
    summary: "an enum attribute has a value that is not one of the conventions' values",
    default_severity: Severity::Info,
};

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    for (attribute, facts) in ctx.attributes_with_facts() {
        let Some(def) = ctx.rules.attribute_of(facts) else {
            continue;
        };
        if def.members.is_empty() || def.members.iter().any(|m| m == "_OTHER") {
            continue;
        }
        let Some(value) = attribute.value.as_str() else {
            continue;
        };
        if def.members.iter().any(|m| m == value)
            || ctx.rules.deprecated_value(&attribute.key, value).is_some()
        {
            continue;
        }
        out.push(
            ctx.finding(&INFO, Some(&attribute.key), attribute.offset, || {
                // Enum-like values the rules file knows the attribute of may be echoed (truncated).
                let shown = crate::report::truncate(value, 40);
                let help = match ctx.rules.value_alias(&attribute.key, value) {
                    Some(meant) => format!(
                        "did you mean `{meant}`? set `{}` to `{meant}`",
                        attribute.key
                    ),
                    None => format!(
                        "use a well-known value if one applies ({}); custom values are allowed",
                        list(&def.members)
                    ),
                };
                (
                    format!("`{shown}` is not a well-known value of `{}`", attribute.key),
                    Some(help),
                )
            }),
        );
    }
}

fn list(members: &[String]) -> String {
    let shown: Vec<String> = members.iter().take(8).map(|m| format!("`{m}`")).collect();
    if members.len() > shown.len() {
        format!("{}, …", shown.join(", "))
    } else {
        shown.join(", ")
    }
}
