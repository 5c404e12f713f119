//! # metric-name-as-attribute
//!
//! ## What it checks
//! Span attribute keys that are the name of one of the conventions' metrics
//! (`gen_ai.client.token.usage`, `gen_ai.client.operation.duration`,
//! `mcp.client.operation.duration`, …, as the rules file's `metrics` lists them), or a key
//! under one (`gen_ai.client.token.usage.input`). `reserved-namespace` leaves these keys to this
//! rule.
//!
//! ## Why it matters
//! Metrics are recorded with a meter, as histograms with their own attributes. A span attribute
//! of that name is invisible to every metrics dashboard, and squats a name the conventions
//! reserve.
//!
//! ## Example
//! `{"key": "gen_ai.client.token.usage", "value": {"intValue": "29"}}` on a chat span.
//!
//! ## Fix
//! Record token counts on the span as `gen_ai.usage.input_tokens` / `gen_ai.usage.output_tokens`,
//! and the metric with a meter (histogram `gen_ai.client.token.usage`).

use super::{RuleInfo, SpanContext};
use crate::finding::{Finding, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "metric-name-as-attribute",
    summary: "a metric name of the conventions is used as a span attribute key",
    default_severity: Severity::Error,
};

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    if !ctx.own_keys().metric() {
        return;
    }
    for (attribute, facts) in ctx.attributes_with_facts() {
        let Some(metric) = ctx.rules.metric_named(facts) else {
            continue;
        };
        let mut finding = ctx.finding(&INFO, Some(&attribute.key), attribute.offset, || {
            let what = if attribute.key == metric {
                format!("`{metric}` is a metric of the conventions, not a span attribute")
            } else {
                format!(
                    "`{}` lies under the metric name `{metric}`, which is not a span attribute",
                    crate::report::truncate(&attribute.key, 100)
                )
            };
            let help = format!(
                "record `{metric}` with a meter; on spans use the conventions' attributes \
                 (token counts: `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`)"
            );
            (what, Some(help))
        });
        // As severe as the reserved namespace it squats (`mcp.` is a warning).
        if let Some(severity) = ctx
            .rules
            .file
            .reserved_namespaces
            .iter()
            .find(|n| attribute.key.starts_with(n.prefix.as_str()))
            .and_then(|n| n.severity)
        {
            finding.severity = severity;
        }
        out.push(finding);
    }
}
