//! # tool-outside-agent
//!
//! ## What it checks
//! `execute_tool` spans with no agent (`invoke_agent`, `create_agent`, `invoke_workflow`,
//! `plan`) or inference span among their ancestors. Spans whose chain of parents is broken
//! (`orphan-span`) are not reported: the missing part may hold the agent. Neither are SERVER
//! spans (an MCP server running a tool): their caller is in another process.
//!
//! ## Why it matters
//! A tool runs because a model asked for it. A tool span outside any agent or model call cannot
//! be attributed to the conversation that caused it, and agent views show it as stray work.
//! Usually the tool runs on another thread or task and the context was not propagated.
//!
//! ## Example
//! A root span `execute_tool get_weather` next to, instead of under, `invoke_agent weather_agent`.
//!
//! ## Fix
//! Start the tool span inside the agent's (or the model call's) context; propagate the context
//! to worker threads and tasks.

use super::{RuleInfo, Ruleset};
use crate::finding::Severity;
use crate::trace::{OpClass, Trace, TraceFinding};

pub const INFO: RuleInfo = RuleInfo {
    id: "tool-outside-agent",
    summary: "an execute_tool span has no agent or inference span above it",
    default_severity: Severity::Warning,
};

pub fn check(trace: &Trace, _rules: &Ruleset, out: &mut Vec<TraceFinding>) {
    let mut agent_above = None;
    for (node, facts) in trace.genai_nodes() {
        if facts.class != OpClass::Tool || facts.server || !trace.reaches_root(node) {
            continue;
        }
        let agent_above = agent_above.get_or_insert_with(|| {
            trace.nearest_ancestors(|a| {
                trace.genai(a).is_some_and(|g| {
                    matches!(
                        g.class,
                        OpClass::InvokeAgent | OpClass::Agent | OpClass::Inference
                    )
                })
            })
        });
        let under_agent = agent_above[node].is_some();
        if !under_agent {
            out.push(
                trace.finding(
                    node,
                    &INFO,
                    "the tool span has no agent or inference span among its ancestors".to_string(),
                    Some(
                        "start the tool span in the context of the agent (or model call) that \
                     requested it; propagate the context to threads and tasks"
                            .to_string(),
                    ),
                    None,
                ),
            );
        }
    }
}
