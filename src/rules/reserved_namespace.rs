//! # reserved-namespace
//!
//! ## What it checks
//! Attribute keys under a namespace the conventions reserve (`gen_ai.`, `openai.`, `mcp.`, …)
//! that are not in the conventions' registry: library-specific keys such as
//! `gen_ai.openai.api_base`, indexed `gen_ai.prompt.0.content`, or home-grown
//! `gen_ai.usage.total_tokens`. Deprecated keys are left to `deprecated-attribute`, recorded
//! content to `content-recorded`, metric names (`gen_ai.client.token.usage`) to
//! `metric-name-as-attribute`. Indexed keys of one message list (`gen_ai.prompt.0.role`,
//! `gen_ai.prompt.1.role`, …) make one finding. A key that is a registry key spelled differently
//! (`gen_ai.usage.cache_read_input_tokens`) or mistyped gets a "did you mean".
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
//! Move the key to your own namespace (`myapp.usage.total_tokens`), or allow it with
//! `allow-keys = ["gen_ai.myapp.*"]` in `spanlint.toml` (or in the rules file's
//! `[[reserved-namespace]] allow` list).

use super::{RuleInfo, SpanContext, keys};
use crate::finding::{Finding, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "reserved-namespace",
    summary: "a key that is not in the conventions uses a reserved namespace",
    default_severity: Severity::Error,
};

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    if !ctx.all_keys().squatter() {
        return;
    }
    let squatters = ctx
        .all_attributes_with_facts(|_| true)
        .filter(|(_, facts)| facts.squatter)
        // A metric name as a key is `metric-name-as-attribute`'s (more specific) finding.
        .filter(|(_, facts)| facts.metric.is_none())
        // Recorded content is `content-recorded`'s finding; one error per key is enough.
        .filter(|(_, facts)| ctx.rules.content_allowed() || !facts.content);
    // Indexed keys (`gen_ai.prompt.0.role`, `gen_ai.prompt.1.role`, …) make one finding.
    for group in keys::group(squatters, keys::Label::Prefix) {
        let Some(namespace) = ctx.rules.reserved_namespace(&group.first.key) else {
            continue;
        };
        let mut finding = ctx.finding(&INFO, Some(&group.first.key), group.first.offset, || {
            let mut message = String::new();
            group.append_to(&mut message);
            message.push_str(if group.count > 1 {
                " are not attributes of the conventions but use the reserved `"
            } else {
                " is not an attribute of the conventions but uses the reserved `"
            });
            message.extend([namespace.prefix.trim_end_matches('.'), "` namespace"]);
            let indexed = group.label != *group.first.key;
            (message, Some(help(ctx, &group.first.key, indexed)))
        });
        if let Some(severity) = namespace.severity {
            finding.severity = severity;
        }
        out.push(finding);
    }
}

fn help(ctx: &SpanContext<'_, '_>, key: &str, indexed: bool) -> String {
    if indexed {
        return "record messages in the conventions' structured attributes \
                (`gen_ai.input.messages`, `gen_ai.output.messages`), or let `spanlint migrate` \
                fold the indexed keys into them"
            .to_string();
    }
    if let Some(meant) = ctx.rules.closest_attribute(key) {
        return ["did you mean `", meant, "`?"].concat();
    }
    "move it to a namespace of your own, or allow it with `allow-keys` in spanlint.toml".to_string()
}
