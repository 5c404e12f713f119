//! # tool-call-unmatched
//!
//! ## What it checks
//! Tool calls that recorded output messages request (`tool_call` parts of
//! `gen_ai.output.messages`, with an `id`) for which no `execute_tool` span of the same trace
//! carries that `gen_ai.tool.call.id`. One finding per span, listing how many calls are
//! unmatched. An info: tools the application runs without instrumentation are common, and
//! output messages are recorded only when content capture is on.
//!
//! ## Why it matters
//! Agent views link a model's tool request to the tool's execution by the call id. Without an
//! `execute_tool` span (or without its `gen_ai.tool.call.id`) the tool's duration, errors and
//! result are missing from the trace.
//!
//! ## Example
//! `chat gpt-4o` whose output message has a `tool_call` part with id `call_VSPy…`, and no
//! `execute_tool` span with `gen_ai.tool.call.id = "call_VSPy…"`.
//!
//! ## Fix
//! Wrap tool execution in an `execute_tool {tool name}` span (kind INTERNAL) that records
//! `gen_ai.tool.call.id`.

use std::collections::HashSet;

use super::{RuleInfo, Ruleset};
use crate::finding::Severity;
use crate::trace::{Trace, TraceFinding};

pub const INFO: RuleInfo = RuleInfo {
    id: "tool-call-unmatched",
    summary: "a requested tool call has no execute_tool span with its call id",
    default_severity: Severity::Info,
};

pub fn check(trace: &Trace, _rules: &Ruleset, out: &mut Vec<TraceFinding>) {
    let executed: HashSet<&str> = trace
        .genai_nodes()
        .filter_map(|(_, g)| g.tool_call_id.as_deref())
        .collect();
    for (node, facts) in trace.genai_nodes() {
        let unmatched: Vec<&str> = facts
            .requested_tool_calls
            .iter()
            .map(String::as_str)
            .filter(|id| !executed.contains(id))
            .collect();
        if unmatched.is_empty() {
            continue;
        }
        // Call ids are provider-generated handles, not content: naming them lets the user find
        // the call in the recorded messages.
        let ids: Vec<String> = unmatched
            .iter()
            .take(3)
            .map(|id| format!("`{}`", crate::report::truncate(id, 40)))
            .collect();
        let more = match unmatched.len() {
            n if n > 3 => format!(" and {} more", n - 3),
            _ => String::new(),
        };
        let what = if unmatched.len() == 1 {
            format!("a tool call ({}{more})", ids.join(", "))
        } else {
            format!("{} tool calls ({}{more})", unmatched.len(), ids.join(", "))
        };
        out.push(
            trace.finding(
                node,
                &INFO,
                format!(
                    "the output messages request {what} that no `execute_tool` span of the trace \
                 carries as `gen_ai.tool.call.id`"
                ),
                Some(
                    "wrap tool execution in an `execute_tool` span that records \
                 `gen_ai.tool.call.id`"
                        .to_string(),
                ),
                Some("gen_ai.output.messages"),
            ),
        );
    }
}
