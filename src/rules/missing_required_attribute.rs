//! # missing-required-attribute
//!
//! ## What it checks
//! Every attribute the conventions require on the span's type (after the provider refinement,
//! e.g. `gen_ai.request.model` on OpenAI inference spans), and every conditionally required
//! attribute whose condition can be decided from the span: `error.type` when the status is
//! ERROR, `server.port` when `server.address` is set, `gen_ai.request.stream` when the span
//! shows streaming. A GenAI span without `gen_ai.operation.name` is reported too: without it no
//! backend can tell a chat call from a tool call. When a library's own attribute tells the
//! operation (`llm.request.type = chat`, `openinference.span.kind = LLM`), the help names the
//! value to set and the rest of that operation's requirements are checked as well. When the
//! span carries a deprecated attribute that the missing one replaces (`gen_ai.system`), the help
//! says to rename it (`deprecated-attribute` reports the old name as well, as a warning).
//!
//! Recommended attributes the span lacks make one *info* per span listing them, leaving out
//! conditional ones ("when available", "if the request was streaming") and the request
//! parameters the rules file's `[recommended] ignore` names (`gen_ai.request.*`: recorded only
//! when the request sets them). A conditionally required attribute whose condition cannot be
//! decided from the span ("If available.") is not reported at all, so clean spans stay quiet.
//! A span that uses only another library's vocabulary is `foreign-namespace`'s: its missing
//! `gen_ai.operation.name` and recommended attributes are not reported here.
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

use std::cell::OnceCell;

use super::ruleset::{CompiledRequirement, Operation};
use super::{RuleInfo, SpanContext};
use crate::finding::{Finding, Severity};
use crate::model::Attribute;
use crate::rules::rulesfile::{DeprecatedAttribute, Level};

pub const INFO: RuleInfo = RuleInfo {
    id: "missing-required-attribute",
    summary: "an attribute the conventions require on this span type is missing",
    default_severity: Severity::Error,
};

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    // A span only in another library's vocabulary: `foreign-namespace` reports the missing
    // operation (with the inferred value and the migration that fixes it).
    let foreign = ctx.foreign_vocabulary().is_some();
    if ctx.span_type.is_none() {
        // Without an operation nothing else can be required: report the operation.
        if ctx.span.attribute("gen_ai.operation.name").is_none() && !foreign {
            out.push(missing(
                ctx,
                "gen_ai.operation.name",
                || "GenAI spans",
                None,
                true,
            ));
        }
        return;
    }
    // The span's keys are looked up once, not scanned once per requirement; the label is
    // built only for a finding.
    let present = ctx.present();
    let aggregate = ctx
        .operation
        .is_some_and(|o| ctx.rules.is_aggregate_operation(o.name));
    // The span type's label, for messages: built once, for the first finding that has one.
    let label = OnceCell::new();
    let label = || label.get_or_init(|| ctx.span_type_label()).as_str();
    let mut recommended = Vec::new();
    // Opt-in attributes are neither required nor listed as recommended, and others that
    // could not be reported either are left out of the walk (see `CompiledRequirement::live`).
    for compiled in ctx.requirement_table().iter().filter(|c| c.live) {
        if present.has(ctx, compiled) {
            continue;
        }
        let requirement = &compiled.requirement;
        let key = requirement.attribute.as_str();
        if requirement.level == Level::Recommended
            && requirement.condition.is_none()
            && !compiled.recommended_ignored(aggregate)
            && !holds_what_it_replaces(ctx, compiled)
        {
            recommended.push(key);
        }
        if foreign && key == "gen_ai.operation.name" {
            continue;
        }
        if ctx.enforced(requirement) {
            let condition = match requirement.level {
                Level::ConditionallyRequired => requirement.condition.as_deref(),
                _ => None,
            };
            out.push(missing(
                ctx,
                key,
                label,
                condition,
                compiled.replaces_deprecated,
            ));
        }
    }
    if !recommended.is_empty() && !foreign {
        out.push(missing_recommended(ctx, &recommended, label));
    }
}

/// One info for all recommended attributes a span lacks (one per attribute would bury the
/// errors).
fn missing_recommended<'l>(
    ctx: &SpanContext<'_, '_>,
    keys: &[&str],
    label: impl FnOnce() -> &'l str,
) -> Finding {
    let mut finding = ctx.finding(&INFO, None, ctx.span.name_offset, || {
        let mut message = ["recommended on ", label(), " but missing: "].concat();
        for (i, key) in keys.iter().enumerate() {
            let separator = if i == 0 { "`" } else { ", `" };
            message.extend([separator, key, "`"]);
        }
        let help = "set them when the instrumentation knows them".to_string();
        (message, Some(help))
    });
    finding.severity = Severity::Info;
    finding
}

/// The finding for a missing attribute. `may_replace`: whether the key replaces some
/// deprecated attribute (only then can the span hold one to rename).
fn missing<'l>(
    ctx: &SpanContext<'_, '_>,
    key: &str,
    label: impl FnOnce() -> &'l str,
    condition: Option<&str>,
    may_replace: bool,
) -> Finding {
    ctx.finding(&INFO, Some(key), ctx.span.name_offset, || {
        let label = label();
        let message = match condition {
            Some(condition) => format!(
                "`{key}` is missing: it is required on {label} {}",
                lowercase_first(condition.trim_end_matches('.'))
            ),
            None => ["`", key, "` is missing: it is required on ", label].concat(),
        };
        let help = match deprecated_source(ctx, key, may_replace) {
            Some((attribute, deprecated)) => {
                super::deprecated_attribute::rename_help(ctx, attribute, deprecated)
            }
            None => help(ctx, key),
        };
        (message, Some(help))
    })
}

/// The help when the span has no deprecated attribute the missing one replaces.
fn help(ctx: &SpanContext<'_, '_>, key: &str) -> String {
    if key == "gen_ai.operation.name"
        && let Some(Operation {
            name,
            inferred_from: Some(from),
        }) = ctx.operation
    {
        let value = ctx.span.str_attribute(from).unwrap_or_default();
        return format!(
            "set `gen_ai.operation.name` to `{name}` (the span's `{from}` is `{}`)",
            crate::report::truncate(value, 40)
        );
    }
    match ctx.rules.attribute(key).map(|a| a.brief.trim()) {
        Some(brief) if !brief.is_empty() => ["set `", key, "`: ", brief].concat(),
        _ => ["set `", key, "`"].concat(),
    }
}

/// Whether the span carries a deprecated attribute that the requirement's attribute replaces
/// ([`deprecated_source`], with the replaced attributes known from the compiled requirement).
fn holds_what_it_replaces(ctx: &SpanContext<'_, '_>, compiled: &CompiledRequirement) -> bool {
    compiled.replaces_deprecated
        && compiled
            .replaced(ctx.rules)
            .any(|d| ctx.span.attribute(&d.key).is_some())
}

/// A deprecated attribute on the span that the missing one replaces (`may_replace`: whether
/// the key replaces any, known from the compiled requirement without a lookup).
fn deprecated_source<'s, 'r>(
    ctx: &'s SpanContext<'r, '_>,
    key: &str,
    may_replace: bool,
) -> Option<(&'s Attribute<'s>, &'r DeprecatedAttribute)>
where
    'r: 's,
{
    if !may_replace {
        return None;
    }
    ctx.rules
        .replaced_by(key)
        .find_map(|d| ctx.span.attribute(&d.key).map(|a| (a, d)))
}

/// "If `server.address` is set" → "if `server.address` is set", to continue a sentence.
fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}
