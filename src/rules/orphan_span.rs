//! # orphan-span
//!
//! ## What it checks
//! GenAI spans whose parent span id names a span that is nowhere in the input (all files of the
//! run). One finding per missing parent, on its first GenAI child.
//!
//! ## Why it matters
//! A lost parent breaks the trace tree: the GenAI spans float as roots, agent runs lose their
//! tool and model calls, and trace-level checks cannot see whole conversations. The usual cause
//! is an exporter that was never flushed (a short-lived process, a `BatchSpanProcessor` without
//! `shutdown()`), or a dump that holds only part of the trace, hence a warning.
//!
//! ## Example
//! `{"name": "chat gpt-4o", "parentSpanId": "01936bb562ccd53c", …}` and no span with that id.
//!
//! ## Fix
//! Flush or shut the tracer provider down before the process exits, and dump every span of
//! the trace (not only the GenAI ones).

use std::collections::HashSet;

use super::{RuleInfo, Ruleset};
use crate::finding::Severity;
use crate::trace::{Trace, TraceFinding};

pub const INFO: RuleInfo = RuleInfo {
    id: "orphan-span",
    summary: "a span's parent is not in the input (spans were lost)",
    default_severity: Severity::Warning,
};

pub fn check(trace: &Trace, _rules: &Ruleset, out: &mut Vec<TraceFinding>) {
    let mut reported = HashSet::new();
    for (node, _) in trace.genai_nodes() {
        if !trace.parent_missing(node) {
            continue;
        }
        let parent = trace.nodes[node].parent_id.unwrap_or_default();
        if !reported.insert(parent) {
            continue;
        }
        out.push(trace.finding(
            node,
            &INFO,
            format!("the span's parent `{parent:016x}` is not in the input"),
            Some(
                "flush or shut down the tracer provider before the process exits, and dump all \
                 spans of the trace"
                    .to_string(),
            ),
            None,
        ));
    }
}
