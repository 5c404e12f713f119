//! # shallow-trace
//!
//! ## What it checks
//! `invoke_agent` spans with no child span at all in the input.
//!
//! ## Why it matters
//! An agent run calls models and tools. With no child spans the trace shows that the agent ran
//! but not what it did: the model and tool calls were not instrumented, or were recorded in
//! another trace because the context was lost. A dump may also hold only part of the trace,
//! hence a warning.
//!
//! ## Example
//! `invoke_agent weather_agent` as the only span of its trace.
//!
//! ## Fix
//! Instrument the model client and the tools the agent uses, and make sure their spans start in
//! the agent span's context.

use super::{RuleInfo, Ruleset};
use crate::finding::Severity;
use crate::trace::{OpClass, Trace, TraceFinding};

pub const INFO: RuleInfo = RuleInfo {
    id: "shallow-trace",
    summary: "an invoke_agent span has no child spans",
    default_severity: Severity::Warning,
};

pub fn check(trace: &Trace, _rules: &Ruleset, out: &mut Vec<TraceFinding>) {
    for (node, facts) in trace.genai_nodes() {
        if facts.class == OpClass::InvokeAgent && trace.child_count(node) == 0 {
            out.push(trace.finding(
                node,
                &INFO,
                "the agent span has no child spans: its model and tool calls are not in the trace"
                    .to_string(),
                Some(
                    "instrument the model client and tools the agent uses, in the agent span's \
                     context"
                        .to_string(),
                ),
                None,
            ));
        }
    }
}
