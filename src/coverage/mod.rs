//! `spanlint coverage`: how far an application's telemetry meets the GenAI conventions, as
//! numbers.
//!
//! Pure, no IO. Three steps, in flat memory:
//!
//! 1. [`piece_facts`] turns each span of a piece of input (a whole file, or one chunk of a
//!    streamed one) into compact [`PieceFacts`]: its ids and, for GenAI spans, the facts
//!    coverage needs (group, requirements present, which span rules fired, usage, timings),
//!    strings interned in the piece. No attribute values that may be content are kept: only
//!    names, ids, enum-like values (`error.type`, finish reasons) and numbers.
//! 2. The span rules are not re-implemented: a span's name conforms when `span-name-format`
//!    did not fire on it, its kind when `span-kind` did not, and so on. Trace health counts the
//!    findings of the trace rules (`orphan-span`, `tool-outside-agent`, `shallow-trace`,
//!    `missing-context`) of [`crate::trace::TraceIndex`].
//! 3. A [`Tally`] folds each piece's facts, in file order, into counters per service, group,
//!    model and error type, and is turned into the [`Report`] at the end: the document
//!    `--format json` prints (field names are stable; see the README). Only ids, usage and
//!    timings are kept per span (see [`tally`]).
//!
//! **Usage is never counted twice.** A span's token usage counts only when no span below it
//! in the input (a descendant, through any spans) records usage too: a Vercel
//! `ai.generateText` span repeats the sum of its `ai.generateText.doGenerate` children, an
//! agent span may repeat its model calls' usage. The innermost usage is the model call's own.
//! `gen_ai.usage.input_tokens` includes the cached tokens (the conventions' inclusive
//! buckets), so cost prices `input - cache_read` at the input price and `cache_read` at the
//! cached price.
//!
//! A span read twice (the same dump in JSON and protobuf) is one span: spans are
//! de-duplicated by trace and span id, first copy kept.

pub mod facts;
pub mod html;
pub mod pricing;
pub mod render;
pub mod tally;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use facts::{GenAiView, LEGACY_RULES, PieceFacts, Requirement, SpanView, piece_facts};
pub use pricing::Pricing;
pub use tally::{RunTally, Settled, Tally, TraceHealthCount};

/// Version of the JSON document.
pub const VERSION: u32 = 1;

/// Weights of the score's parts (see [`score`] and the README).
pub const WEIGHTS: Weights = Weights {
    required: 35.0,
    span_name: 25.0,
    recommended: 15.0,
    span_kind: 10.0,
    current: 15.0,
};

#[derive(Debug, Clone, Copy)]
pub struct Weights {
    pub required: f64,
    pub span_name: f64,
    pub recommended: f64,
    pub span_kind: f64,
    pub current: f64,
}

/// Token counts of one span or a sum of spans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// Input tokens, cached ones included (`gen_ai.usage.input_tokens`, or the deprecated
    /// `gen_ai.usage.prompt_tokens`).
    pub input: u64,
    /// Output tokens, reasoning included.
    pub output: u64,
    /// Input tokens served from the provider's cache (part of `input`).
    pub cache_read: u64,
    /// Input tokens written to the provider's cache (part of `input`).
    pub cache_creation: u64,
    /// Reasoning tokens (part of `output`).
    pub reasoning: u64,
}

impl Tokens {
    fn add(&mut self, other: &Tokens) {
        self.input += other.input;
        self.output += other.output;
        self.cache_read += other.cache_read;
        self.cache_creation += other.cache_creation;
        self.reasoning += other.reasoning;
    }
}

// ------------------------------------------------------------------------------------------
// The report (the JSON document).
// ------------------------------------------------------------------------------------------

/// Everything `spanlint coverage` computes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub version: u32,
    /// Spans of the input (after removing spans read twice).
    pub spans: usize,
    pub genai_spans: usize,
    /// The overall score, 0–100, over all GenAI spans; `null` without GenAI spans.
    pub score: Option<f64>,
    pub services: Vec<ServiceCoverage>,
    pub groups: Vec<Group>,
    pub traces: TraceHealth,
    pub usage: Vec<Usage>,
    /// Set with `--pricing`: the currency of the estimated costs in `usage`.
    pub pricing_currency: Option<String>,
    pub finish_reasons: Vec<FinishReasons>,
    pub latency: Vec<Latency>,
    pub time_to_first_chunk: Vec<Latency>,
    pub errors: Vec<ErrorShare>,
}

/// One service's score.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceCoverage {
    pub service: String,
    pub spans: usize,
    pub score: f64,
    /// The parts of the score, each a share from 0 to 1 (`null` when nothing applies).
    pub parts: ScoreParts,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreParts {
    /// Required attributes present / required attributes expected.
    pub required: Option<f64>,
    /// Spans whose name conforms.
    pub span_name: Option<f64>,
    /// Recommended attributes present / recommended attributes expected.
    pub recommended: Option<f64>,
    /// Spans whose kind conforms.
    pub span_kind: Option<f64>,
    /// Spans without deprecated or foreign attributes.
    pub current: Option<f64>,
}

/// Spans of one service × operation × provider × instrumentation scope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub service: String,
    pub operation: String,
    pub provider: String,
    pub scope: String,
    pub spans: usize,
    /// Each required and recommended attribute: on how many spans it is expected, on how many
    /// present, and the share.
    pub attributes: Vec<AttributeCoverage>,
    pub span_name_ok: f64,
    pub span_kind_ok: f64,
    /// Share of spans with deprecated or foreign attributes, values or events.
    pub deprecated_or_foreign: f64,
    /// Share of spans recording content (prompts, completions, tool arguments).
    pub content: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttributeCoverage {
    pub attribute: String,
    /// `required` or `recommended`.
    pub level: String,
    pub expected: usize,
    pub present: usize,
    pub share: f64,
}

/// Trace-level health, counted from the trace rules' findings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceHealth {
    pub traces: usize,
    /// GenAI spans whose parent is not in the input (`orphan-span`: one per missing parent).
    pub orphan_spans: usize,
    /// Traces with a tool call outside an agent or model call (`tool-outside-agent`).
    pub traces_with_tool_outside_agent: usize,
    /// Traces with an agent span without children (`shallow-trace`).
    pub shallow_agent_traces: usize,
    /// Traces none of whose GenAI spans carries the expected context keys (`missing-context`).
    pub traces_missing_context: usize,
}

/// Token usage of one service, provider and model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub service: String,
    pub provider: String,
    pub model: String,
    /// Spans whose usage was counted.
    pub spans: usize,
    pub tokens: Tokens,
    /// Spans whose usage was left out because a span below them records it again.
    pub repeated_spans: usize,
    /// With `--pricing`: an estimate from the pricing file, never a bill.
    pub estimated_cost: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FinishReasons {
    pub model: String,
    /// Spans of the model recording finish reasons.
    pub spans: usize,
    /// Reason → share of those spans giving it.
    pub reasons: BTreeMap<String, f64>,
}

/// Percentiles of one operation and model, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub operation: String,
    pub model: String,
    pub spans: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorShare {
    pub error_type: String,
    pub spans: usize,
    /// Share of all GenAI spans.
    pub share: f64,
}

/// `part / whole`, 0 for an empty whole.
pub fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The weighted score, 0–100, rounded to one decimal: Σ wᵢ·sᵢ / Σ wᵢ over the parts that apply.
pub fn score(parts: &ScoreParts) -> Option<f64> {
    let w = WEIGHTS;
    let pairs = [
        (w.required, parts.required),
        (w.span_name, parts.span_name),
        (w.recommended, parts.recommended),
        (w.span_kind, parts.span_kind),
        (w.current, parts.current),
    ];
    let (sum, weights) = pairs
        .iter()
        .filter_map(|&(w, s)| s.map(|s| (w * s, w)))
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    (weights > 0.0).then(|| (1000.0 * sum / weights).round() / 10.0)
}

/// Nearest rank: the smallest value with at least `p`% of the values at or below it.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests;
