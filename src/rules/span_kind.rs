//! # span-kind
//!
//! ## What it checks
//! The span kind against the kinds the conventions give the span's type: CLIENT for inference,
//! embeddings, retrieval, fetch_response, create_agent and remote invoke_agent spans (INTERNAL
//! accepted where the conventions allow it: in-process models and memory), INTERNAL for
//! execute_tool, in-process invoke_agent, invoke_workflow and plan spans, SERVER for MCP server
//! spans. An unset kind counts as INTERNAL (the OTLP default SDKs apply).
//!
//! ## Why it matters
//! Backends draw service maps and tell outgoing calls from local work by the kind: a chat call
//! recorded as INTERNAL hides the dependency on the model provider.
//!
//! ## Example
//! `{"name": "execute_tool get_weather", "kind": 3, …}`: a tool run in-process is not a CLIENT
//! call.
//!
//! ## Fix
//! Start the span with the kind the conventions name for its type. The conventions say SHOULD,
//! so this is a warning.

use super::ruleset::parse_kind;
use super::{RuleInfo, SpanContext};
use crate::finding::{Finding, Severity};
use crate::model::SpanKind;

pub const INFO: RuleInfo = RuleInfo {
    id: "span-kind",
    summary: "the span kind is not the one the conventions give the span's type",
    default_severity: Severity::Warning,
};

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    let Some(span_type) = ctx.span_type() else {
        return;
    };
    let kind = match ctx.span.kind {
        SpanKind::Unspecified => SpanKind::Internal,
        kind => kind,
    };
    let allowed: Vec<SpanKind> = span_type
        .span_kinds
        .iter()
        .filter_map(|k| parse_kind(k))
        .collect();
    if allowed.is_empty() || allowed.contains(&kind) {
        return;
    }
    out.push(ctx.finding(&INFO, None, ctx.span.name_offset, || {
        let names: Vec<String> = allowed
            .iter()
            .map(|k| format!("`{}`", k.as_str().to_uppercase()))
            .collect();
        (
            format!(
                "span kind `{}` on {}: the conventions give {}",
                ctx.span.kind.as_str().to_uppercase(),
                ctx.span_type_label(),
                names.join(" or ")
            ),
            Some(format!("start the span with kind {}", names[0])),
        )
    }));
}
