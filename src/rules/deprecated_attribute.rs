//! # deprecated-attribute
//!
//! ## What it checks
//! Span and span-event attributes the conventions deprecated: renamed ones
//! (`gen_ai.system` → `gen_ai.provider.name`, `gen_ai.usage.prompt_tokens` →
//! `gen_ai.usage.input_tokens`, `gen_ai.openai.request.seed` → `gen_ai.request.seed`, …) and
//! removed ones (`gen_ai.prompt`, `gen_ai.completion`).
//!
//! ## Why it matters
//! Backends that follow the current conventions read only the new names: usage, provider and
//! model columns stay empty for spans that use the old ones.
//!
//! ## Example
//! `{"key": "gen_ai.usage.prompt_tokens", "value": {"intValue": "22"}}` should be
//! `gen_ai.usage.input_tokens`.
//!
//! ## Fix
//! Upgrade the instrumentation (many switch with
//! `OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`), or rewrite dumps with
//! `spanlint migrate`.

use super::{RuleInfo, SpanContext};
use crate::finding::{Finding, Severity};
use crate::model::Attribute;
use crate::rules::rulesfile::DeprecatedAttribute;

pub const INFO: RuleInfo = RuleInfo {
    id: "deprecated-attribute",
    summary: "a deprecated attribute is used instead of its replacement",
    default_severity: Severity::Warning,
};

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    if !ctx.all_keys().deprecated() {
        return;
    }
    for (attribute, facts) in ctx.all_attributes_with_facts(|_| true) {
        let Some(deprecated) = ctx.rules.deprecated_of(facts) else {
            continue;
        };
        out.push(finding(ctx, attribute, deprecated));
    }
}

fn finding(
    ctx: &SpanContext<'_, '_>,
    attribute: &Attribute<'_>,
    deprecated: &DeprecatedAttribute,
) -> Finding {
    let key = attribute.key.as_ref();
    ctx.finding(&INFO, Some(key), attribute.offset, || {
        text(ctx, attribute, deprecated)
    })
}

/// The finding's message and help.
fn text(
    ctx: &SpanContext<'_, '_>,
    attribute: &Attribute<'_>,
    deprecated: &DeprecatedAttribute,
) -> (String, Option<String>) {
    let key = attribute.key.as_ref();
    let since = &deprecated.since;
    match &deprecated.replacement {
        Some(new) => (
            [
                "`",
                key,
                "` is deprecated since ",
                since,
                ": use `",
                new,
                "`",
            ]
            .concat(),
            Some(rename_help(ctx, attribute, deprecated)),
        ),
        None => (
            [
                "`",
                key,
                "` is deprecated since ",
                since,
                " and has no direct replacement",
            ]
            .concat(),
            deprecated.note.clone(),
        ),
    }
}

/// "rename `gen_ai.system` to `gen_ai.provider.name` and its value `vertex_ai` to
/// `gcp.vertex_ai`": the whole fix for a deprecated attribute.
pub fn rename_help(
    ctx: &SpanContext<'_, '_>,
    attribute: &Attribute<'_>,
    deprecated: &DeprecatedAttribute,
) -> String {
    let key = attribute.key.as_ref();
    let Some(new) = &deprecated.replacement else {
        return deprecated
            .note
            .clone()
            .unwrap_or_else(|| format!("remove `{key}`"));
    };
    let mut help = ["rename the deprecated `", key, "` to `", new, "`"].concat();
    match new_value(ctx, attribute, deprecated) {
        Some((old, value)) if old != value => {
            help.extend([" and its value `", old, "` to `", value, "`"]);
        }
        Some((_, value)) => help.extend([" (value `", value, "`)"]),
        None => {}
    }
    help
}

/// The value under the new name, when the old value is an enum-like string the rules know:
/// a value renamed with the attribute (`json_object` → `json`), a deprecated member
/// (`vertex_ai` → `gcp.vertex_ai`), a library spelling (`openai.chat` → `openai`), or a
/// member as it is. Other values (which may be content) are never echoed.
fn new_value<'v>(
    ctx: &'v SpanContext<'_, '_>,
    attribute: &'v Attribute<'_>,
    deprecated: &'v DeprecatedAttribute,
) -> Option<(&'v str, &'v str)> {
    let old = attribute.value.as_str()?;
    if let Some(new) = deprecated.value_map.get(old) {
        return Some((old, new));
    }
    if let Some(renamed) = ctx.rules.deprecated_value(&attribute.key, old) {
        return Some((old, &renamed.replacement));
    }
    let new_key = deprecated.replacement.as_deref()?;
    if let Some(alias) = ctx.rules.value_alias(new_key, old) {
        return Some((old, alias));
    }
    let members = &ctx.rules.attribute(new_key)?.members;
    members.iter().any(|m| m == old).then_some((old, old))
}
