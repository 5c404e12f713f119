//! # missing-context
//!
//! ## What it checks
//! Traces in which no GenAI span carries a context key the rules file expects (`[trace]
//! context-keys`, by default `gen_ai.conversation.id`; add e.g. a user or tenant id). One
//! finding per trace, on its topmost GenAI span, listing the missing keys. An info: one-shot
//! calls have no conversation.
//!
//! ## Why it matters
//! Without a conversation id, the turns of one conversation cannot be grouped, and a
//! multi-turn session appears as unrelated traces.
//!
//! ## Example
//! `invoke_agent support_agent` and its `chat` spans, none with `gen_ai.conversation.id`.
//!
//! ## Fix
//! Set `gen_ai.conversation.id` from the application's real session or thread id (not a
//! generated UUID or the trace id) on the agent or inference spans.

use super::{RuleInfo, Ruleset};
use crate::finding::Severity;
use crate::trace::{Trace, TraceFinding};

pub const INFO: RuleInfo = RuleInfo {
    id: "missing-context",
    summary: "no span of a trace carries the expected context (e.g. `gen_ai.conversation.id`)",
    default_severity: Severity::Info,
};

pub fn check(trace: &Trace, rules: &Ruleset, out: &mut Vec<TraceFinding>) {
    let keys = rules.context_keys();
    let mut missing = u64::MAX;
    let mut top = None;
    for (node, facts) in trace.genai_nodes() {
        missing &= facts.missing_context;
        let is_top = trace.genai_ancestor(node).is_none();
        if top.is_none() && is_top {
            top = Some(node);
        }
    }
    let mut missing_keys = keys
        .iter()
        .take(64)
        .enumerate()
        .filter(|(i, _)| missing & (1 << i) != 0)
        .map(|(_, k)| k.as_str())
        .peekable();
    let (Some(top), Some(_)) = (top, missing_keys.peek()) else {
        return;
    };
    // One string, not one per key joined (every trace without context gets this finding).
    let mut message = String::from("no GenAI span of this trace carries ");
    for (i, key) in missing_keys.enumerate() {
        let separator = if i == 0 { "`" } else { ", `" };
        message.extend([separator, key, "`"]);
    }
    out.push(
        trace.finding(
            top,
            &INFO,
            message,
            Some(
                "set it from the application's real session, thread or user id (not a generated \
             one) on the agent or inference spans"
                    .to_string(),
            ),
            None,
        ),
    );
}
