//! # content-recorded
//!
//! ## What it checks
//! Prompt, completion and tool content on spans while the rules file's content policy is
//! `forbid` (the default): the conventions' opt-in content attributes
//! (`gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.system_instructions`,
//! `gen_ai.tool.call.arguments`, …), the removed `gen_ai.prompt` / `gen_ai.completion`, the
//! indexed keys of older libraries (`gen_ai.prompt.0.content`), foreign content keys the rules
//! file lists (`input.value`, `llm.input_messages.*`, `ai.prompt`, …), and the content span
//! events `gen_ai.content.prompt` / `gen_ai.content.completion`.
//!
//! With policy `redacted`, content may be present only with the content itself replaced by a
//! redaction marker (`[content] redaction-markers`: `__REDACTED__`, `[Scrubbed due to …]`, …):
//! a string value that is a marker, or messages (JSON or structured) whose content fields
//! (`[content] redacted-fields`: `content`, `arguments`, `response`, …) all hold a marker. With
//! policy `allow` nothing is checked. Messages whose content fields are all absent or null
//! (`[{"role":"user","parts":[]}]`, as left when capture was off) hold no content and pass.
//!
//! ## Why it matters
//! Prompts and completions often hold personal data. The conventions make recording them
//! opt-in, but many libraries record them by default, so traces leak into backends with
//! weaker access control than the application's database.
//!
//! ## Example
//! `{"key": "gen_ai.prompt.0.content", "value": {"stringValue": "…"}}` with policy `forbid`.
//!
//! ## Fix
//! Turn content capture off in the instrumentation (`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false`,
//! `TRACELOOP_TRACE_CONTENT=false`, …); or, when recording is intended, set
//! `content-policy = "allow"` (or `"redacted"`, when a redactor replaces it) in `spanlint.toml`.
//! spanlint never prints the content itself.

use super::rulesfile::ContentMode;
use super::{RuleInfo, SpanContext, keys};
use crate::finding::{Finding, Severity};
use crate::model::{Attribute, Value};

pub const INFO: RuleInfo = RuleInfo {
    id: "content-recorded",
    summary: "prompt or completion content is recorded although the policy forbids it",
    default_severity: Severity::Error,
};

const HELP: &str = "turn content capture off in the instrumentation, or set \
                    `content-policy = \"allow\"` in spanlint.toml if recording is intended";

const REDACTED_HELP: &str = "redact the content before export (replace it with a marker such as \
                             `__REDACTED__`), or add the marker your redactor writes to \
                             `redaction-markers` under [content] in the rules file \
                             (`spanlint rules-file` prints it; `extend-rules-file` in spanlint.toml \
                             adds to it)";

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    let policy = ctx.rules.file.content.policy;
    if policy == ContentMode::Allow {
        return;
    }
    let redacted = policy == ContentMode::Redacted;
    let (why, help) = if redacted {
        (
            "the content policy accepts only redacted content",
            REDACTED_HELP,
        )
    } else {
        ("the content policy forbids it", HELP)
    };
    // Span attributes, and attributes of span events (`gen_ai.client.inference.operation.details`
    // carries `gen_ai.input.messages` too).
    let event_attributes = ctx
        .span
        .events
        .iter()
        .filter(|e| !ctx.rules.is_content_event(&e.name))
        .flat_map(|e| &e.attributes);
    let content = ctx
        .span
        .attributes
        .iter()
        .chain(event_attributes)
        .filter(|a| ctx.rules.is_content_attribute(&a.key))
        .filter(|a| carries_content(ctx, &a.value))
        .filter(|a| !(redacted && is_redacted(ctx, &a.value)));
    // `gen_ai.prompt.0.content`, `gen_ai.prompt.1.content`, … make one finding.
    let label = |key: &str| keys::indexed_pattern(key).unwrap_or_else(|| key.to_string());
    for group in keys::group(content, label) {
        out.push(ctx.finding(
            &INFO,
            format!("content recorded in {} ({why})", group.describe()),
            Some(help.to_string()),
            Some(&group.first.key),
            group.first.offset,
        ));
    }
    for event in &ctx.span.events {
        let all_redacted =
            |attributes: &[Attribute<'_>]| attributes.iter().all(|a| is_redacted(ctx, &a.value));
        if ctx.rules.is_content_event(&event.name) && !(redacted && all_redacted(&event.attributes))
        {
            out.push(ctx.finding(
                &INFO,
                format!(
                    "content recorded in span event `{}` ({why})",
                    crate::report::truncate(&event.name, 80)
                ),
                Some(help.to_string()),
                None,
                event.offset,
            ));
        }
    }
}

/// Whether a content value holds only redaction markers: a marker string, or messages whose
/// content fields are all markers (or null).
fn is_redacted(ctx: &SpanContext<'_, '_>, value: &Value<'_>) -> bool {
    if let Value::String(s) = value
        && ctx.rules.is_redaction_marker(s)
    {
        return true;
    }
    match super::invalid_message_content::to_json(value) {
        // Only messages and other structures: a bare JSON string or number is content itself.
        Some(json @ (serde_json::Value::Array(_) | serde_json::Value::Object(_))) => {
            json_redacted(ctx, &json, false)
        }
        _ => false,
    }
}

/// False for messages (an array of objects with `parts`, as `gen_ai.input.messages` holds)
/// in which no content field (`[content] redacted-fields`) holds anything: the structure
/// left when capture was off. Any other value is content.
fn carries_content(ctx: &SpanContext<'_, '_>, value: &Value<'_>) -> bool {
    match super::invalid_message_content::to_json(value) {
        Some(serde_json::Value::Array(messages))
            if !messages.is_empty() && messages.iter().all(|m| m.get("parts").is_some()) =>
        {
            let fields = &ctx.rules.file.content.redacted_fields;
            messages
                .iter()
                .any(|m| json_carries_content(fields, m, false))
        }
        _ => true,
    }
}

fn json_carries_content(fields: &[String], json: &serde_json::Value, in_field: bool) -> bool {
    use serde_json::Value as Json;
    match json {
        Json::Null => false,
        Json::Array(items) => items
            .iter()
            .any(|i| json_carries_content(fields, i, in_field)),
        Json::Object(map) => map
            .iter()
            .any(|(k, v)| json_carries_content(fields, v, in_field || fields.contains(k))),
        Json::String(_) | Json::Bool(_) | Json::Number(_) => in_field,
    }
}

fn json_redacted(ctx: &SpanContext<'_, '_>, json: &serde_json::Value, in_field: bool) -> bool {
    use serde_json::Value as Json;
    let fields = &ctx.rules.file.content.redacted_fields;
    match json {
        Json::String(s) => !in_field || ctx.rules.is_redaction_marker(s),
        Json::Null => true,
        Json::Array(items) if !in_field => items.iter().all(|i| json_redacted(ctx, i, false)),
        Json::Object(map) if !in_field => map
            .iter()
            .all(|(k, v)| json_redacted(ctx, v, fields.iter().any(|f| f == k))),
        // Numbers and booleans outside content fields are structure (`index`, `score`).
        Json::Bool(_) | Json::Number(_) => !in_field,
        _ => false,
    }
}
