//! # missing-required-attribute
//!
//! ## What it checks
//! Every attribute the conventions require on the span's type (after the provider refinement,
//! e.g. `gen_ai.request.model` on OpenAI inference spans), and every conditionally required
//! attribute whose condition can be decided from the span: `error.type` when the status is
//! ERROR, `server.port` when `server.address` is set, `gen_ai.request.stream` when the span
//! shows streaming. A GenAI span without `gen_ai.operation.name` is reported too: without it no
//! backend can tell a chat call from a tool call.
//!
//! ## Why it matters
//! Backends group, filter and price GenAI spans by these attributes. A chat span without
//! `gen_ai.provider.name` shows up as "unknown provider" in every GenAI dashboard.
//!
//! ## Example
//! ```json
//! {"name": "chat gpt-4o", "attributes": [
//!   {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
//!   {"key": "gen_ai.system", "value": {"stringValue": "openai"}}]}
//! ```
//! `gen_ai.provider.name` is required on `chat` spans but missing.
//!
//! ## Fix
//! Set the attribute in the instrumentation (or run `spanlint migrate` when a deprecated
//! attribute carries the same information, as `gen_ai.system` does here).

use super::{RuleInfo, SpanContext};
use crate::finding::{Finding, Severity};
use crate::rules::rulesfile::Level;

pub const INFO: RuleInfo = RuleInfo {
    id: "missing-required-attribute",
    summary: "an attribute the conventions require on this span type is missing",
    default_severity: Severity::Error,
};

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    if ctx.span_type.is_none() {
        if ctx.span.attribute("gen_ai.operation.name").is_none() {
            out.push(missing(ctx, "gen_ai.operation.name", "GenAI spans", None));
        }
        return;
    }
    for requirement in ctx.requirements() {
        let applies = match requirement.level {
            Level::Required => true,
            Level::ConditionallyRequired => requirement.when.as_ref().is_some_and(|c| ctx.holds(c)),
            Level::Recommended | Level::OptIn => false,
        };
        if applies && ctx.span.attribute(&requirement.attribute).is_none() {
            let label = ctx.span_type_label();
            out.push(missing(
                ctx,
                &requirement.attribute,
                &label,
                requirement.condition.as_deref(),
            ));
        }
    }
}

fn missing(ctx: &SpanContext<'_, '_>, key: &str, label: &str, condition: Option<&str>) -> Finding {
    let message = match condition {
        Some(condition) => format!(
            "`{key}` is missing: it is required on {label} {}",
            lowercase_first(condition.trim_end_matches('.'))
        ),
        None => format!("`{key}` is missing: it is required on {label}"),
    };
    let help = match deprecated_source(ctx, key) {
        Some(old) => format!("rename the deprecated `{old}` to `{key}`"),
        None => match ctx.rules.attribute(key).map(|a| a.brief.trim()) {
            Some(brief) if !brief.is_empty() => format!("set `{key}`: {brief}"),
            _ => format!("set `{key}`"),
        },
    };
    ctx.finding(&INFO, message, Some(help), Some(key), ctx.span.name_offset)
}

/// A deprecated attribute on the span that the missing one replaces.
fn deprecated_source<'r>(ctx: &SpanContext<'r, '_>, key: &str) -> Option<&'r str> {
    ctx.rules
        .file
        .deprecated_attributes
        .iter()
        .find(|d| d.replacement.as_deref() == Some(key) && ctx.span.attribute(&d.key).is_some())
        .map(|d| d.key.as_str())
}

/// "If `server.address` is set" → "if `server.address` is set", to continue a sentence.
fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}
