//! # reserved-namespace
//!
//! ## What it checks
//! Attribute keys under a namespace the conventions reserve (`gen_ai.`, `openai.`, `mcp.`, …)
//! that are not in the conventions' registry: library-specific keys such as
//! `gen_ai.openai.api_base`, indexed `gen_ai.prompt.0.content`, or home-grown
//! `gen_ai.usage.total_tokens`. Deprecated keys are left to `deprecated-attribute`.
//!
//! ## Why it matters
//! A reserved namespace belongs to the conventions: a custom key there may collide with a
//! future attribute of a different meaning or type, and backends mistake it for a standard one.
//!
//! ## Example
//! `{"key": "gen_ai.usage.total_tokens", "value": {"intValue": "29"}}`: there is no such
//! attribute; backends add `input_tokens` and `output_tokens` themselves.
//!
//! ## Fix
//! Move the key to your own namespace (`myapp.usage.total_tokens`), or allow it in the rules
//! file's `[[reserved-namespace]] allow` list.

use super::{RuleInfo, SpanContext};
use crate::finding::{Finding, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "reserved-namespace",
    summary: "a key that is not in the conventions uses a reserved namespace",
    default_severity: Severity::Error,
};

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    for attribute in &ctx.span.attributes {
        let key = attribute.key.as_ref();
        let Some(namespace) = ctx
            .rules
            .file
            .reserved_namespaces
            .iter()
            .find(|n| key.starts_with(n.prefix.as_str()))
        else {
            continue;
        };
        let known = ctx.rules.attribute(key).is_some()
            || ctx.rules.deprecated_attribute(key).is_some()
            || namespace.allow.iter().any(|a| a == key);
        if !known {
            out.push(ctx.finding(
                &INFO,
                format!(
                    "`{}` is not a conventions attribute but uses the reserved `{}` namespace",
                    crate::report::truncate(key, 100),
                    namespace.prefix.trim_end_matches('.')
                ),
                Some(help(ctx, key)),
                Some(key),
                attribute.offset,
            ));
        }
    }
}

fn help(ctx: &SpanContext<'_, '_>, key: &str) -> String {
    if ctx.rules.is_content_attribute(key) {
        return "record content in the conventions' structured attributes \
                (`gen_ai.input.messages`, `gen_ai.output.messages`), or not at all"
            .to_string();
    }
    "move it to a namespace of your own, or allow it in the rules file".to_string()
}
