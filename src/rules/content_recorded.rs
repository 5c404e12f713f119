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
//! `TRACELOOP_TRACE_CONTENT=false`, …), or set `policy = "allow"` in the rules file's
//! `[content]` when recording is intended. spanlint never prints the content itself.

use super::{RuleInfo, SpanContext, keys};
use crate::finding::{Finding, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "content-recorded",
    summary: "prompt or completion content is recorded although the policy forbids it",
    default_severity: Severity::Error,
};

const HELP: &str = "turn content capture off in the instrumentation, or set `policy = \"allow\"` \
                    under [content] in the rules file if recording is intended";

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    if ctx.rules.content_allowed() {
        return;
    }
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
        .filter(|a| ctx.rules.is_content_attribute(&a.key));
    // `gen_ai.prompt.0.content`, `gen_ai.prompt.1.content`, … make one finding.
    let label = |key: &str| keys::indexed_pattern(key).unwrap_or_else(|| key.to_string());
    for group in keys::group(content, label) {
        out.push(ctx.finding(
            &INFO,
            format!(
                "content recorded in {} (the content policy forbids it)",
                group.describe()
            ),
            Some(HELP.to_string()),
            Some(&group.first.key),
            group.first.offset,
        ));
    }
    for event in &ctx.span.events {
        if ctx.rules.is_content_event(&event.name) {
            out.push(ctx.finding(
                &INFO,
                format!(
                    "content recorded in span event `{}` (the content policy forbids it)",
                    crate::report::truncate(&event.name, 80)
                ),
                Some(HELP.to_string()),
                None,
                event.offset,
            ));
        }
    }
}
