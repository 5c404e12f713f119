//! # usage-double-count
//!
//! ## What it checks
//! GenAI spans that record token usage (`[trace] usage-keys`: `gen_ai.usage.input_tokens`,
//! `gen_ai.usage.output_tokens`) while an inference span below them records it too. Reported
//! once, on the upper span.
//!
//! ## Why it matters
//! Backends that sum token usage over a trace's spans count the same tokens twice, doubling
//! cost dashboards. The conventions put usage on the inference spans; agent spans that
//! aggregate their children's usage should keep it out of `gen_ai.usage.*`.
//!
//! ## Example
//! `invoke_agent weather_agent` with `gen_ai.usage.input_tokens = 120`, and below it two
//! `chat gpt-4o` spans with 60 each.
//!
//! ## Fix
//! Record usage only on the inference spans; keep aggregates out of `gen_ai.usage.*` (in your
//! own namespace, if needed).

use std::collections::HashSet;

use super::{RuleInfo, Ruleset};
use crate::finding::Severity;
use crate::trace::{OpClass, Trace, TraceFinding};

pub const INFO: RuleInfo = RuleInfo {
    id: "usage-double-count",
    summary: "token usage on a span and again on an inference span below it",
    default_severity: Severity::Warning,
};

pub fn check(trace: &Trace, _rules: &Ruleset, out: &mut Vec<TraceFinding>) {
    let mut reported = HashSet::new();
    let mut usage_above = None;
    for (node, facts) in trace.genai_nodes() {
        if facts.class != OpClass::Inference || !facts.usage {
            continue;
        }
        // Jump from one span with usage to the next one up. Once one is already reported, so
        // are all above it (the walk that reported it went on to the top), so stop: linear
        // over the trace, not quadratic in its depth.
        let usage_above = usage_above.get_or_insert_with(|| {
            trace.nearest_ancestors(|a| trace.genai(a).is_some_and(|g| g.usage))
        });
        let mut next = usage_above[node];
        while let Some(ancestor) = next {
            next = usage_above[ancestor];
            if !reported.insert(ancestor) {
                break;
            }
            let child = crate::report::truncate(trace.span_name(node), 80);
            out.push(
                trace.finding(
                    ancestor,
                    &INFO,
                    format!(
                        "token usage is recorded here and again on the inference span `{child}` \
                     below it: summed over the trace, the tokens count twice"
                    ),
                    Some(
                        "record usage only on the inference spans; keep aggregates out of \
                     `gen_ai.usage.*`"
                            .to_string(),
                    ),
                    None,
                ),
            );
        }
    }
}
