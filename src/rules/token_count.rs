//! # token-count
//!
//! ## What it checks
//! Token counts that cannot be right: a negative count (an error), parts larger than the total
//! they are included in (`cache_read + cache_creation > input_tokens`,
//! `reasoning > output_tokens`: the conventions say input and output counts SHOULD include
//! them), and `gen_ai.request.max_tokens = -1`, a library's "not set" recorded as a value. The
//! keys and relations are data (`[tokens]` in the rules file).
//!
//! ## Why it matters
//! Backends price spans from these counts. Anthropic reports input tokens *without* the cached
//! ones; an instrumentation that passes that number on makes cached calls look cheaper than
//! they are, and cost dashboards go wrong without any error.
//!
//! ## Example
//! `gen_ai.usage.input_tokens = 12` with `gen_ai.usage.cache_read.input_tokens = 2048`.
//!
//! ## Fix
//! Report `input_tokens` including cache reads and writes (add them for Anthropic), and leave
//! `max_tokens` unset when the request did not set it.

use super::{RuleInfo, SpanContext};
use crate::finding::{Finding, Severity};
use crate::model::Value;

pub const INFO: RuleInfo = RuleInfo {
    id: "token-count",
    summary: "token counts that cannot be right (negative, parts above their total, -1)",
    default_severity: Severity::Warning,
};

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    let tokens = &ctx.rules.file.tokens;
    for attribute in &ctx.span.attributes {
        let key = attribute.key.as_ref();
        let Value::Int(n) = attribute.value else {
            continue;
        };
        if n == -1 && tokens.placeholder_minus_one.iter().any(|k| k == key) {
            out.push(ctx.finding(&INFO, Some(key), attribute.offset, || {
                (
                    format!("`{key}` is -1, a placeholder for \"not set\" recorded as a value"),
                    Some(format!(
                        "leave `{key}` unset when the request did not set it"
                    )),
                )
            }));
        } else if n < 0 && tokens.counts.iter().any(|k| k == key) {
            let mut finding = ctx.finding(&INFO, Some(key), attribute.offset, || {
                (
                    format!("`{key}` is negative ({n})"),
                    Some(
                        "record the count the provider reported; a count is never negative".into(),
                    ),
                )
            });
            finding.severity = Severity::Error;
            out.push(finding);
        }
    }
    // Looked up by registry index: most spans carry few of these keys, which the span's facts
    // tell without comparing its keys.
    let int = |key: &str, index: Option<usize>| match ctx
        .registry_attribute(key, index)
        .map(|a| &a.value)
    {
        Some(Value::Int(n)) => Some(*n),
        _ => None,
    };
    let indices = ctx.rules.token_part_indices();
    for (relation, (total_index, part_indices)) in tokens.part_of.iter().zip(indices) {
        let Some(total) = int(&relation.total, *total_index) else {
            continue;
        };
        let present: Vec<(&str, i64)> = relation
            .parts
            .iter()
            .zip(part_indices)
            .filter_map(|(p, &index)| int(p, index).map(|n| (p.as_str(), n)))
            .collect();
        let sum: i64 = present.iter().map(|(_, n)| n.max(&0)).sum();
        if present.is_empty() || total < 0 || sum <= total {
            continue;
        }
        let first = present[0].0;
        let offset = ctx
            .span
            .attribute(first)
            .map_or(ctx.span.name_offset, |a| a.offset);
        out.push(ctx.finding(&INFO, Some(&relation.total), offset, || {
            let names: Vec<String> = present.iter().map(|(k, _)| format!("`{k}`")).collect();
            (
                format!(
                    "{} ({sum}) {} more than `{}` ({total}), which should include {}",
                    names.join(" + "),
                    if names.len() > 1 { "are" } else { "is" },
                    relation.total,
                    if names.len() > 1 { "them" } else { "it" },
                ),
                Some(format!(
                    "report `{}` including {}{}",
                    relation.total,
                    names.join(" and "),
                    if present.iter().any(|(k, _)| k.contains("cache")) {
                        " (Anthropic's raw input count excludes cached tokens: add them)"
                    } else {
                        ""
                    }
                )),
            )
        }));
    }
}
