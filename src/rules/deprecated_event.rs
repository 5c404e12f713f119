//! # deprecated-event
//!
//! ## What it checks
//! Span events the conventions deprecated: the 1.26–1.27 content events
//! `gen_ai.content.prompt` / `gen_ai.content.completion`, and the 1.28–1.36 message events
//! `gen_ai.system.message`, `gen_ai.user.message`, `gen_ai.assistant.message`,
//! `gen_ai.tool.message`, `gen_ai.choice` recorded as span events. The finding names what
//! carries the information now. (Whether the event's content may be recorded at all is
//! `content-recorded`'s question.)
//!
//! ## Why it matters
//! Current backends read messages from `gen_ai.input.messages` / `gen_ai.output.messages`; the
//! old events are shown as opaque span events, if at all.
//!
//! ## Example
//! A span event named `gen_ai.choice` with `{"index": 0, "finish_reason": "stop", …}` should be
//! an entry of `gen_ai.output.messages`.
//!
//! ## Fix
//! Upgrade the instrumentation (`OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental` for
//! the OpenTelemetry ones), or rewrite dumps with `spanlint migrate`.

use super::{RuleInfo, SpanContext};
use crate::finding::{Finding, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "deprecated-event",
    summary: "a deprecated span event carries what attributes carry now",
    default_severity: Severity::Warning,
};

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    // One finding per event name: a chat with ten `gen_ai.user.message` events has one fix.
    let mut seen: Vec<&str> = Vec::new();
    for event in &ctx.span.events {
        let Some(deprecated) = ctx.rules.deprecated_event(&event.name) else {
            continue;
        };
        if seen.contains(&event.name.as_ref()) {
            continue;
        }
        seen.push(&event.name);
        let count = ctx
            .span
            .events
            .iter()
            .filter(|e| e.name == event.name)
            .count();
        out.push(ctx.finding(&INFO, None, event.offset, || {
            let times = if count > 1 {
                format!(" ({count} events)")
            } else {
                String::new()
            };
            (
                format!(
                    "span event `{}`{times} is deprecated since {}: use {}",
                    event.name, deprecated.since, deprecated.replacement
                ),
                Some(format!(
                    "record {} instead of the event (`spanlint migrate` rewrites dumps)",
                    deprecated.replacement
                )),
            )
        }));
    }
}
