//! `spanlint coverage`: how far an application's telemetry meets the GenAI conventions, as
//! numbers.
//!
//! Pure, no IO. Three steps:
//!
//! 1. [`records`] turns one batch of the model into a [`SpanRecord`] per span: its ids and,
//!    for GenAI spans, the facts coverage needs (group, requirements present, the ids of the
//!    span rules that fired, usage, timings). No attribute values that may be content are kept:
//!    only names, ids, enum-like values (`error.type`, finish reasons) and numbers.
//! 2. The span rules are not re-implemented: a span's name conforms when `span-name-format`
//!    did not fire on it, its kind when `span-kind` did not, and so on. Trace health counts the
//!    findings of the trace rules (`orphan-span`, `tool-outside-agent`, `shallow-trace`,
//!    `missing-context`) of [`crate::trace::TraceIndex`].
//! 3. [`compute`] aggregates the records into a [`Report`], the document `--format json`
//!    prints (field names are stable; see the README).
//!
//! **Usage is never counted twice.** A span's token usage counts only when no span below it
//! in the input (a descendant, through any spans) records usage too: a Vercel
//! `ai.generateText` span repeats the sum of its `ai.generateText.doGenerate` children, an
//! agent span may repeat its model calls' usage. The innermost usage is the model call's own.
//! `gen_ai.usage.input_tokens` includes the cached tokens (the conventions' inclusive
//! buckets), so cost prices `input - cache_read` at the input price and `cache_read` at the
//! cached price.
//!
//! A span read twice (the same dump in JSON and protobuf) is one span: records are
//! de-duplicated by trace and span id, first copy kept.

pub mod html;
pub mod pricing;
pub mod render;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::input::{InputError, Piece, Position};
use crate::model::{Batch, Span, StatusCode, Value};
use crate::rules::rulesfile::Level;
use crate::rules::{self, Ruleset, SpanContext};
use crate::trace::{self, TraceIndex};
pub use pricing::Pricing;

/// Version of the JSON document.
pub const VERSION: u32 = 1;

/// The rule ids whose findings mean "deprecated or foreign attributes" on a span.
pub const LEGACY_RULES: &[&str] = &[
    "deprecated-attribute",
    "deprecated-value",
    "deprecated-event",
    "foreign-namespace",
];

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

/// One requirement of a span and whether the span meets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub attribute: String,
    /// Required (or conditionally required with a condition the span shows), else recommended.
    pub required: bool,
    pub present: bool,
}

/// What coverage keeps about a GenAI span.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenAiRecord {
    pub service: String,
    /// `gen_ai.operation.name`, or the operation a foreign attribute tells; `?` when unknown.
    pub operation: String,
    pub provider: String,
    /// Instrumentation scope name.
    pub scope: String,
    /// `gen_ai.response.model`, else `gen_ai.request.model`.
    pub model: Option<String>,
    pub requirements: Vec<Requirement>,
    /// Ids of the span rules that fired on the span.
    pub fired: BTreeSet<&'static str>,
    /// The span records content (a content attribute or content event).
    pub content: bool,
    pub duration_ns: Option<u64>,
    /// `gen_ai.response.time_to_first_chunk`, in seconds.
    pub time_to_first_chunk: Option<f64>,
    pub finish_reasons: Vec<String>,
    /// `error.type`, or `_OTHER` for a span with status ERROR and no `error.type`.
    pub error_type: Option<String>,
    /// Token usage recorded on the span.
    pub usage: Option<Tokens>,
}

/// One span of the input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanRecord {
    /// 0 when the span has no valid trace id.
    pub trace_id: u128,
    /// 0 when the span has no valid span id.
    pub span_id: u64,
    pub parent_id: Option<u64>,
    pub genai: Option<GenAiRecord>,
}

/// The records of every message of a piece of a file (a whole file, or one chunk of a
/// streamed one), the piece's spans for the trace index (at their offsets in the file), and
/// the messages that could not be read.
pub fn piece_records(
    piece: Piece<'_>,
    rules: &Ruleset,
) -> (Vec<SpanRecord>, TraceIndex, Vec<InputError>) {
    let mut records = Vec::new();
    let mut index = TraceIndex::default();
    let mut errors = Vec::new();
    for batch in piece.batches() {
        match batch {
            Ok(batch) => records.extend(records_at(&batch, rules, &mut index, piece.offset)),
            Err(err) => errors.push(err),
        }
    }
    (records, index, errors)
}

/// The records of one batch, and its spans for the trace index.
pub fn records(batch: &Batch<'_>, rules: &Ruleset, index: &mut TraceIndex) -> Vec<SpanRecord> {
    records_at(batch, rules, index, 0)
}

/// [`records`] of a batch parsed from a piece that starts at `base` in its file.
fn records_at(
    batch: &Batch<'_>,
    rules: &Ruleset,
    index: &mut TraceIndex,
    base: usize,
) -> Vec<SpanRecord> {
    let mut out = Vec::new();
    let mut findings = Vec::new();
    for resource in &batch.resource_spans {
        for scope_spans in &resource.scope_spans {
            let mut first_in_scope = true;
            for span in &scope_spans.spans {
                let mut record = SpanRecord {
                    trace_id: u128::from_str_radix(&span.trace_id, 16).unwrap_or(0),
                    span_id: u64::from_str_radix(&span.span_id, 16).unwrap_or(0),
                    parent_id: u64::from_str_radix(&span.parent_span_id, 16)
                        .ok()
                        .filter(|&p| p != 0),
                    genai: None,
                };
                if !rules.is_genai_span(span) {
                    index.add(span, None);
                    out.push(record);
                    continue;
                }
                let ctx = SpanContext::in_scope(
                    rules,
                    span,
                    resource,
                    &scope_spans.scope,
                    &scope_spans.schema_url,
                    std::mem::take(&mut first_in_scope),
                );
                findings.clear();
                rules::check_span(&ctx, &mut findings);
                let offset = span.name_offset + base;
                index.add(
                    span,
                    Some(trace::facts(
                        &ctx,
                        offset,
                        Position::Byte(offset),
                        ctx.identity().clone(),
                    )),
                );
                record.genai = Some(genai_record(&ctx, findings.iter().map(|f| f.rule)));
                out.push(record);
            }
        }
    }
    out
}

fn genai_record(
    ctx: &SpanContext<'_, '_>,
    fired: impl Iterator<Item = &'static str>,
) -> GenAiRecord {
    let span = ctx.span;
    let rules = ctx.rules;
    let requirements = ctx
        .requirements()
        .into_iter()
        .filter_map(|r| {
            let required = match r.level {
                Level::Required => true,
                Level::ConditionallyRequired if ctx.enforced(r) => true,
                // As `missing-required-attribute` asks for them: unconditional recommended
                // attributes only ("If the request was streaming" cannot be decided).
                Level::Recommended
                    if r.condition.is_none()
                        && !rules
                            .recommended_ignored(&r.attribute, ctx.operation.map(|o| o.name)) =>
                {
                    false
                }
                _ => return None,
            };
            Some(Requirement {
                attribute: r.attribute.clone(),
                required,
                present: span.attribute(&r.attribute).is_some(),
            })
        })
        .collect();
    let fired = fired.collect();
    let content = span
        .attributes
        .iter()
        .chain(span.events.iter().flat_map(|e| &e.attributes))
        .any(|a| rules.is_content_attribute(&a.key))
        || span.events.iter().any(|e| rules.is_content_event(&e.name));
    let error_type = span
        .str_attribute("error.type")
        .map(str::to_string)
        .or_else(|| (span.status.code == StatusCode::Error).then(|| "_OTHER".to_string()));
    GenAiRecord {
        service: crate::model::service_name(ctx.resource)
            .unwrap_or("?")
            .to_string(),
        operation: ctx.operation.map_or("?", |o| o.name).to_string(),
        provider: ctx.provider().unwrap_or("?").to_string(),
        scope: if ctx.scope.name.is_empty() {
            "?".to_string()
        } else {
            ctx.scope.name.to_string()
        },
        model: span
            .str_attribute("gen_ai.response.model")
            .or_else(|| span.str_attribute("gen_ai.request.model"))
            .map(str::to_string),
        requirements,
        fired,
        content,
        duration_ns: (span.end_time_unix_nano >= span.start_time_unix_nano
            && span.start_time_unix_nano > 0)
            .then(|| span.end_time_unix_nano - span.start_time_unix_nano),
        time_to_first_chunk: span
            .attribute("gen_ai.response.time_to_first_chunk")
            .and_then(|a| number(&a.value)),
        finish_reasons: finish_reasons(span),
        error_type,
        usage: usage(span),
    }
}

fn number(value: &Value<'_>) -> Option<f64> {
    match value {
        Value::Double(d) => Some(*d),
        Value::Int(i) => Some(*i as f64),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn count(span: &Span<'_>, keys: &[&str]) -> Option<u64> {
    keys.iter()
        .find_map(|k| span.attribute(k).and_then(|a| number(&a.value)))
        .filter(|n| *n >= 0.0)
        .map(|n| n as u64)
}

/// The span's token usage, when it records input or output tokens.
fn usage(span: &Span<'_>) -> Option<Tokens> {
    let input = count(
        span,
        &["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"],
    );
    let output = count(
        span,
        &[
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
        ],
    );
    if input.is_none() && output.is_none() {
        return None;
    }
    Some(Tokens {
        input: input.unwrap_or(0),
        output: output.unwrap_or(0),
        cache_read: count(span, &["gen_ai.usage.cache_read.input_tokens"]).unwrap_or(0),
        cache_creation: count(span, &["gen_ai.usage.cache_creation.input_tokens"]).unwrap_or(0),
        reasoning: count(span, &["gen_ai.usage.reasoning.output_tokens"]).unwrap_or(0),
    })
}

fn finish_reasons(span: &Span<'_>) -> Vec<String> {
    match span
        .attribute("gen_ai.response.finish_reasons")
        .map(|a| &a.value)
    {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => vec![s.to_string()],
        _ => Vec::new(),
    }
}

/// Drops the second and later copies of a span (same trace and span id), keeping order.
pub fn dedup(records: &mut Vec<SpanRecord>) {
    let mut seen = HashSet::new();
    records.retain(|r| r.trace_id == 0 || r.span_id == 0 || seen.insert((r.trace_id, r.span_id)));
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

/// Aggregates de-duplicated records (see [`dedup`]) and the trace rules' findings.
pub fn compute(
    records: &[SpanRecord],
    trace_findings: &[trace::TraceFinding],
    pricing: Option<&Pricing>,
) -> Report {
    let genai: Vec<&GenAiRecord> = records.iter().filter_map(|r| r.genai.as_ref()).collect();
    let mut report = Report {
        version: VERSION,
        spans: records.len(),
        genai_spans: genai.len(),
        score: score_parts(genai.iter().copied()).and_then(|p| score(&p)),
        pricing_currency: pricing.map(|p| p.currency.clone()),
        ..Report::default()
    };

    let mut by_service: BTreeMap<&str, Vec<&GenAiRecord>> = BTreeMap::new();
    let mut by_group: BTreeMap<(&str, &str, &str, &str), Vec<&GenAiRecord>> = BTreeMap::new();
    for g in &genai {
        by_service.entry(&g.service).or_default().push(g);
        by_group
            .entry((&g.service, &g.operation, &g.provider, &g.scope))
            .or_default()
            .push(g);
    }
    for (service, spans) in by_service {
        let parts = score_parts(spans.iter().copied()).unwrap_or_default();
        report.services.push(ServiceCoverage {
            service: service.to_string(),
            spans: spans.len(),
            score: score(&parts).unwrap_or(0.0),
            parts,
        });
    }
    for ((service, operation, provider, scope), spans) in by_group {
        report
            .groups
            .push(group(service, operation, provider, scope, &spans));
    }
    report.traces = trace_health(records, trace_findings);
    report.usage = usage_sums(records, pricing);
    report.finish_reasons = finish_reason_shares(&genai);
    report.latency = percentiles(genai.iter().filter_map(|g| {
        g.duration_ns
            .map(|ns| (g.operation.as_str(), model(g), ns as f64 / 1e6))
    }));
    report.time_to_first_chunk = percentiles(genai.iter().filter_map(|g| {
        g.time_to_first_chunk
            .map(|s| (g.operation.as_str(), model(g), s * 1e3))
    }));
    let mut errors: BTreeMap<&str, usize> = BTreeMap::new();
    for g in &genai {
        if let Some(e) = &g.error_type {
            *errors.entry(e).or_default() += 1;
        }
    }
    report.errors = errors
        .into_iter()
        .map(|(e, n)| ErrorShare {
            error_type: e.to_string(),
            spans: n,
            share: share(n, genai.len()),
        })
        .collect();
    report
}

fn model(g: &GenAiRecord) -> &str {
    g.model.as_deref().unwrap_or("?")
}

/// `part / whole`, 0 for an empty whole.
pub fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn group(
    service: &str,
    operation: &str,
    provider: &str,
    scope: &str,
    spans: &[&GenAiRecord],
) -> Group {
    // attribute → (required?, expected, present); required wins when spans differ.
    let mut attributes: BTreeMap<&str, (bool, usize, usize)> = BTreeMap::new();
    for g in spans {
        for r in &g.requirements {
            let entry = attributes.entry(&r.attribute).or_default();
            entry.0 |= r.required;
            entry.1 += 1;
            entry.2 += usize::from(r.present);
        }
    }
    let mut attributes: Vec<AttributeCoverage> = attributes
        .into_iter()
        .map(|(a, (required, expected, present))| AttributeCoverage {
            attribute: a.to_string(),
            level: if required { "required" } else { "recommended" }.to_string(),
            expected,
            present,
            share: share(present, expected),
        })
        .collect();
    // Required first.
    attributes.sort_by(|a, b| b.level.cmp(&a.level).then(a.attribute.cmp(&b.attribute)));
    let n = spans.len();
    let without = |id: &str| spans.iter().filter(|g| !g.fired.contains(id)).count();
    Group {
        service: service.to_string(),
        operation: operation.to_string(),
        provider: provider.to_string(),
        scope: scope.to_string(),
        spans: n,
        attributes,
        span_name_ok: share(without("span-name-format"), n),
        span_kind_ok: share(without("span-kind"), n),
        deprecated_or_foreign: share(spans.iter().filter(|g| legacy(g)).count(), n),
        content: share(spans.iter().filter(|g| g.content).count(), n),
    }
}

fn legacy(g: &GenAiRecord) -> bool {
    LEGACY_RULES.iter().any(|id| g.fired.contains(id))
}

/// The score's parts over some spans; `None` without spans.
pub fn score_parts<'a>(spans: impl Iterator<Item = &'a GenAiRecord>) -> Option<ScoreParts> {
    let (mut n, mut name, mut kind, mut current) = (0, 0, 0, 0);
    let (mut req, mut req_ok, mut rec, mut rec_ok) = (0, 0, 0, 0);
    for g in spans {
        n += 1;
        name += usize::from(!g.fired.contains("span-name-format"));
        kind += usize::from(!g.fired.contains("span-kind"));
        current += usize::from(!legacy(g));
        for r in &g.requirements {
            if r.required {
                req += 1;
                req_ok += usize::from(r.present);
            } else {
                rec += 1;
                rec_ok += usize::from(r.present);
            }
        }
    }
    let part = |ok: usize, all: usize| (all > 0).then(|| share(ok, all));
    (n > 0).then(|| ScoreParts {
        required: part(req_ok, req),
        span_name: part(name, n),
        recommended: part(rec_ok, rec),
        span_kind: part(kind, n),
        current: part(current, n),
    })
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

fn trace_health(records: &[SpanRecord], findings: &[trace::TraceFinding]) -> TraceHealth {
    let traces_of = |rule: &str| {
        findings
            .iter()
            .filter(|f| f.finding.rule == rule)
            .map(|f| f.finding.span.trace_id.as_str())
            .collect::<HashSet<_>>()
            .len()
    };
    TraceHealth {
        traces: records
            .iter()
            .filter(|r| r.trace_id != 0)
            .map(|r| r.trace_id)
            .collect::<HashSet<_>>()
            .len(),
        orphan_spans: findings
            .iter()
            .filter(|f| f.finding.rule == "orphan-span")
            .count(),
        traces_with_tool_outside_agent: traces_of("tool-outside-agent"),
        shallow_agent_traces: traces_of("shallow-trace"),
        traces_missing_context: traces_of("missing-context"),
    }
}

/// Usage by service, provider and model, counting a span's usage only when no span below it
/// records usage too.
pub fn usage_sums(records: &[SpanRecord], pricing: Option<&Pricing>) -> Vec<Usage> {
    let parents: HashMap<(u128, u64), u64> = records
        .iter()
        .filter(|r| r.trace_id != 0 && r.span_id != 0)
        .filter_map(|r| r.parent_id.map(|p| ((r.trace_id, r.span_id), p)))
        .collect();
    // Spans with a usage-recording span somewhere below them.
    let mut repeated: HashSet<(u128, u64)> = HashSet::new();
    for r in records {
        if r.genai.as_ref().and_then(|g| g.usage).is_none() || r.trace_id == 0 {
            continue;
        }
        let mut at = r.span_id;
        // Bounded: a cycle of parents cannot loop forever.
        for _ in 0..records.len() {
            let Some(&parent) = parents.get(&(r.trace_id, at)) else {
                break;
            };
            if !repeated.insert((r.trace_id, parent)) {
                break;
            }
            at = parent;
        }
    }
    let mut sums: BTreeMap<(&str, &str, &str), Usage> = BTreeMap::new();
    for r in records {
        let Some((g, tokens)) = r.genai.as_ref().and_then(|g| g.usage.map(|u| (g, u))) else {
            continue;
        };
        let entry = sums
            .entry((&g.service, &g.provider, model(g)))
            .or_insert_with(|| Usage {
                service: g.service.clone(),
                provider: g.provider.clone(),
                model: model(g).to_string(),
                ..Usage::default()
            });
        if r.trace_id != 0 && repeated.contains(&(r.trace_id, r.span_id)) {
            entry.repeated_spans += 1;
        } else {
            entry.spans += 1;
            entry.tokens.add(&tokens);
        }
    }
    sums.into_values()
        .map(|mut u| {
            u.estimated_cost = pricing.and_then(|p| p.cost(&u.model, &u.tokens));
            u
        })
        .collect()
}

fn finish_reason_shares(genai: &[&GenAiRecord]) -> Vec<FinishReasons> {
    let mut by_model: BTreeMap<&str, (usize, BTreeMap<&str, usize>)> = BTreeMap::new();
    for g in genai.iter().filter(|g| !g.finish_reasons.is_empty()) {
        let entry = by_model.entry(model(g)).or_default();
        entry.0 += 1;
        let reasons: BTreeSet<&str> = g.finish_reasons.iter().map(String::as_str).collect();
        for reason in reasons {
            *entry.1.entry(reason).or_default() += 1;
        }
    }
    by_model
        .into_iter()
        .map(|(m, (n, reasons))| FinishReasons {
            model: m.to_string(),
            spans: n,
            reasons: reasons
                .into_iter()
                .map(|(r, k)| (r.to_string(), share(k, n)))
                .collect(),
        })
        .collect()
}

/// Nearest-rank percentiles per (operation, model) of values in milliseconds.
fn percentiles<'a>(values: impl Iterator<Item = (&'a str, &'a str, f64)>) -> Vec<Latency> {
    let mut by: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    for (op, m, v) in values {
        by.entry((op, m)).or_default().push(v);
    }
    by.into_iter()
        .map(|((op, m), mut v)| {
            v.sort_by(f64::total_cmp);
            Latency {
                operation: op.to_string(),
                model: m.to_string(),
                spans: v.len(),
                p50_ms: round3(percentile(&v, 50.0)),
                p95_ms: round3(percentile(&v, 95.0)),
                p99_ms: round3(percentile(&v, 99.0)),
            }
        })
        .collect()
}

/// Nearest rank: the smallest value with at least `p`% of the values at or below it.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests;
