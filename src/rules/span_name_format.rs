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
    // The first template the span has every placeholder of decides.
    let Some((template, follows)) = span_type
        .span_names
        .iter()
        .find_map(|t| follows(t, ctx).map(|follows| (t, follows)))
    else {
        return;
    };
    if !follows {
        out.push(ctx.finding(&INFO, None, ctx.span.name_offset, || {
            let expected = render(template, ctx).unwrap_or_default();
            let message = [
                "span name `",
                &crate::report::truncate(&ctx.span.name, 80),
                "` does not follow `",
                template,
                "`",
            ]
            .concat();
            let help = [
                "name the span `",
                &crate::report::truncate(&expected, 120),
                "`",
            ]
            .concat();
            (message, Some(help))
        }));
    }
}

/// Fills a template's `{attribute}` placeholders from the span; `None` when one is missing or
/// not a string.
pub fn render(template: &str, ctx: &SpanContext<'_, '_>) -> Option<String> {
    let mut out = String::with_capacity(template.len() + 16);
    each_piece(template, ctx, |piece| out.push_str(piece))?;
    Some(out)
}

/// Whether the span's name is the [`render`]ed template (`None` when the template cannot be
/// rendered), compared piece by piece instead of building the expected name.
fn follows(template: &str, ctx: &SpanContext<'_, '_>) -> Option<bool> {
    // The part of the name not matched yet; `None` once a piece differs (every placeholder is
    // still looked up: a missing one means `None`, whatever the name).
    let mut unmatched = Some(ctx.span.name.as_ref());
    each_piece(template, ctx, |piece| {
        unmatched = unmatched.and_then(|name| name.strip_prefix(piece));
    })?;
    Some(unmatched == Some(""))
}

/// Hands `piece` a template's text between placeholders and each placeholder's value, in
/// order; `None` (and no more pieces) at a placeholder that is missing or not a non-empty
/// string, or at a `{` without its `}`.
fn each_piece<'t>(
    template: &'t str,
    ctx: &'t SpanContext<'_, '_>,
    mut piece: impl FnMut(&'t str),
) -> Option<()> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}')? + open;
        piece(&rest[..open]);
        piece(placeholder(&rest[open + 1..close], ctx)?);
        rest = &rest[close + 1..];
    }
    piece(rest);
    Some(())
}

/// A placeholder's value: the span's attribute, when it is a non-empty string.
fn placeholder<'t>(key: &str, ctx: &'t SpanContext<'_, '_>) -> Option<&'t str> {
    match (key, ctx.operation) {
        // An operation inferred from a library's own attribute names the span too.
        ("gen_ai.operation.name", Some(operation)) => Some(operation.name),
        _ => match &ctx.span.attribute(key)?.value {
            crate::model::Value::String(s) if !s.is_empty() => Some(s),
            _ => None,
        },
    }
}
