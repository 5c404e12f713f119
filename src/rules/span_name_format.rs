//! # span-name-format
//!
//! ## What it checks
//! The span name against the conventions' template for its span type:
//! `{gen_ai.operation.name} {gen_ai.request.model}` for inference and embeddings,
//! `execute_tool {gen_ai.tool.name}`, `invoke_agent {gen_ai.agent.name}`, … The most specific
//! template whose attributes are all on the span is expected; `{operation}` alone is fine when
//! the model, agent or tool name is unknown.
//!
//! ## Why it matters
//! Trace views list spans by name. `openai.chat` or `ChatCompletion` hide what was called;
//! `chat gpt-4o` says it at a glance and groups consistently across libraries.
//!
//! ## Example
//! A span named `openai.chat` with `gen_ai.operation.name = "chat"` and
//! `gen_ai.request.model = "gpt-4o"` should be named `chat gpt-4o`.
//!
//! ## Fix
//! Name spans by the template, or rewrite names with `spanlint migrate`. The conventions say
//! SHOULD, so this is a warning.

use super::{RuleInfo, SpanContext};
use crate::finding::{Finding, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "span-name-format",
    summary: "the span name does not follow the conventions' template for its span type",
    default_severity: Severity::Warning,
};

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    let Some(span_type) = ctx.span_type() else {
        return;
    };
    let Some((template, expected)) = span_type
        .span_names
        .iter()
        .find_map(|t| render(t, ctx).map(|name| (t, name)))
    else {
        return;
    };
    if ctx.span.name != expected {
        out.push(
            ctx.finding(
                &INFO,
                [
                    "span name `",
                    &crate::report::truncate(&ctx.span.name, 80),
                    "` does not follow `",
                    template,
                    "`",
                ]
                .concat(),
                Some(
                    [
                        "name the span `",
                        &crate::report::truncate(&expected, 120),
                        "`",
                    ]
                    .concat(),
                ),
                None,
                ctx.span.name_offset,
            ),
        );
    }
}

/// Fills a template's `{attribute}` placeholders from the span; `None` when one is missing or
/// not a string.
pub fn render(template: &str, ctx: &SpanContext<'_, '_>) -> Option<String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}')? + open;
        out.push_str(&rest[..open]);
        let key = &rest[open + 1..close];
        match (key, ctx.operation) {
            // An operation inferred from a library's own attribute names the span too.
            ("gen_ai.operation.name", Some(operation)) => out.push_str(operation.name),
            _ => match &ctx.span.attribute(key)?.value {
                crate::model::Value::String(s) if !s.is_empty() => out.push_str(s),
                _ => return None,
            },
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}
