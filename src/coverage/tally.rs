//! Step 3 of coverage: the running totals of a whole run, folded from the pieces' facts as
//! they arrive (in file order), and the [`Report`] made from them at the end.
//!
//! Memory does not grow with the spans' size, and for most numbers not with their count:
//! every share, score and count is a counter per service, group (service × operation ×
//! provider × scope), model or error type. What genuinely needs the whole run is kept as
//! numbers only:
//!
//! - the ids of every span (trace number, span id, parent id: 24 bytes), to keep only the first
//!   copy of a span read twice and to find, at the end, the spans with usage below them;
//! - each span with usage (its trace number, span id, usage key and tokens: 36 bytes), since
//!   whether its usage repeats a descendant's is known only once every span was read;
//! - each duration and time to first chunk (one `f64`), for exact percentiles.
//!
//! The lists grow in blocks ([`Blocks`]), never by doubling one buffer, so a large run does
//! not hold a list twice while it grows.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashSet};

use foldhash::HashMap;

use super::facts::{NONE, PieceFacts, StoredGenAi, Strings};
use super::{
    AttributeCoverage, ErrorShare, FinishReasons, Group, Latency, Pricing, Report, ScoreParts,
    ServiceCoverage, Tokens, TraceHealth, Usage, VERSION, percentile, score, share,
};
use crate::finding::Finding;
use crate::rules::Ruleset;
use crate::trace::{Blocks, TraceIndex, TraceKey, trace_key};

/// The running totals of a run. [`add`](Tally::add) each piece's facts in file order, then
/// [`report`](Tally::report).
#[derive(Debug, Default)]
pub struct Tally {
    strings: Strings,
    /// Spans, after removing spans read twice.
    spans: usize,
    /// Trace ids (other than 0), numbered in order of first appearance.
    trace_numbers: HashMap<TraceKey, u32>,
    /// Every span with a trace and span id → its parent id (0 for none).
    parents: HashMap<(u32, u64), u64>,
    overall: PartCounts,
    services: HashMap<u32, PartCounts>,
    groups: HashMap<[u32; 4], GroupCounts>,
    /// Model → (spans with finish reasons, reason → spans giving it).
    finish_reasons: HashMap<u32, (usize, HashMap<u32, usize>)>,
    /// (operation, model) → durations in milliseconds.
    latency: HashMap<(u32, u32), Blocks<f64>>,
    /// (operation, model) → times to first chunk in milliseconds.
    time_to_first_chunk: HashMap<(u32, u32), Blocks<f64>>,
    errors: HashMap<u32, usize>,
    /// (service, provider, model) of usage, numbered.
    usage_keys: HashMap<[u32; 3], u32>,
    usage: Blocks<UsageSpan>,
    /// The tokens of the usage spans whose counts do not fit [`UsageSpan::tokens`], by index
    /// into `usage`.
    large_tokens: HashMap<u32, Tokens>,
}

/// The counters behind [`ScoreParts`].
#[derive(Debug, Clone, Copy, Default)]
struct PartCounts {
    spans: usize,
    span_name_ok: usize,
    span_kind_ok: usize,
    current: usize,
    required: usize,
    required_present: usize,
    recommended: usize,
    recommended_present: usize,
}

#[derive(Debug, Default)]
struct GroupCounts {
    spans: usize,
    span_name_ok: usize,
    span_kind_ok: usize,
    legacy: usize,
    content: usize,
    /// Attribute → (required?, expected, present); required wins when spans differ.
    attributes: HashMap<u32, (bool, usize, usize)>,
}

/// A span with token usage (36 bytes: `u32`s only, so no padding).
#[derive(Debug, Clone, Copy)]
struct UsageSpan {
    /// [`NONE`] for a span without a trace id.
    trace: u32,
    /// The span id's high and low halves.
    span_id: [u32; 2],
    key: u32,
    /// Input, output, cache read, cache creation and reasoning tokens; all [`NONE`] when one
    /// does not fit below [`NONE`] (the counts are then in `Tally::large_tokens`).
    tokens: [u32; 5],
}

impl UsageSpan {
    fn span_id(&self) -> u64 {
        (u64::from(self.span_id[0]) << 32) | u64::from(self.span_id[1])
    }
}

/// `tokens` as [`UsageSpan::tokens`], when every count fits.
fn small_tokens(tokens: &Tokens) -> Option<[u32; 5]> {
    let small = |n: u64| u32::try_from(n).ok().filter(|&n| n != NONE);
    Some([
        small(tokens.input)?,
        small(tokens.output)?,
        small(tokens.cache_read)?,
        small(tokens.cache_creation)?,
        small(tokens.reasoning)?,
    ])
}

impl PartCounts {
    fn add(&mut self, g: &StoredGenAi, piece: &PieceFacts) {
        self.spans += 1;
        self.span_name_ok += usize::from(g.span_name_ok);
        self.span_kind_ok += usize::from(g.span_kind_ok);
        self.current += usize::from(!g.legacy);
        for r in requirements(piece, g) {
            if r.required {
                self.required += 1;
                self.required_present += usize::from(r.present);
            } else {
                self.recommended += 1;
                self.recommended_present += usize::from(r.present);
            }
        }
    }

    /// The score's parts; `None` without spans.
    fn parts(&self) -> Option<ScoreParts> {
        let part = |ok: usize, all: usize| (all > 0).then(|| share(ok, all));
        (self.spans > 0).then(|| ScoreParts {
            required: part(self.required_present, self.required),
            span_name: part(self.span_name_ok, self.spans),
            recommended: part(self.recommended_present, self.recommended),
            span_kind: part(self.span_kind_ok, self.spans),
            current: part(self.current, self.spans),
        })
    }
}

fn requirements<'p>(
    piece: &'p PieceFacts,
    g: &StoredGenAi,
) -> &'p [super::facts::StoredRequirement] {
    let (start, len) = g.requirements;
    &piece.requirements[start as usize..][..len as usize]
}

impl Tally {
    /// Folds one piece's spans in, in order, leaving out spans already seen (same trace and
    /// span id; the first copy counts).
    pub fn add(&mut self, piece: &PieceFacts) {
        // The piece's string numbers → the run's.
        let strings: Vec<u32> = piece
            .strings
            .list()
            .iter()
            .map(|s| self.strings.intern(s))
            .collect();
        let string = |n: u32| if n == NONE { NONE } else { strings[n as usize] };
        for span in &piece.spans {
            let mut trace = NONE;
            if span.trace_id != 0 {
                let next = u32::try_from(self.trace_numbers.len()).unwrap_or(NONE);
                trace = *self
                    .trace_numbers
                    .entry(trace_key(span.trace_id))
                    .or_insert(next);
                if span.span_id != 0 {
                    match self.parents.entry((trace, span.span_id)) {
                        Entry::Occupied(_) => continue,
                        Entry::Vacant(entry) => entry.insert(span.parent_id),
                    };
                }
            }
            self.spans += 1;
            if let Some(g) = piece.genai.get(span.genai as usize) {
                self.add_genai(g, piece, &string, trace, span.span_id);
            }
        }
    }

    fn add_genai(
        &mut self,
        g: &StoredGenAi,
        piece: &PieceFacts,
        string: &impl Fn(u32) -> u32,
        trace: u32,
        span_id: u64,
    ) {
        let service = string(g.service);
        let operation = string(g.operation);
        let model = string(g.model);
        self.overall.add(g, piece);
        self.services.entry(service).or_default().add(g, piece);
        let group = self
            .groups
            .entry([service, operation, string(g.provider), string(g.scope)])
            .or_default();
        group.spans += 1;
        group.span_name_ok += usize::from(g.span_name_ok);
        group.span_kind_ok += usize::from(g.span_kind_ok);
        group.legacy += usize::from(g.legacy);
        group.content += usize::from(g.content);
        for r in requirements(piece, g) {
            let entry = group.attributes.entry(string(r.attribute)).or_default();
            entry.0 |= r.required;
            entry.1 += 1;
            entry.2 += usize::from(r.present);
        }
        let (start, len) = g.reasons;
        if len > 0 {
            let entry = self.finish_reasons.entry(model).or_default();
            entry.0 += 1;
            for &reason in &piece.reasons[start as usize..][..len as usize] {
                *entry.1.entry(string(reason)).or_default() += 1;
            }
        }
        if let Some(ns) = g.duration_ns {
            let durations = self.latency.entry((operation, model)).or_default();
            durations.push(ns as f64 / 1e6);
        }
        if let Some(s) = g.time_to_first_chunk {
            let times = self.time_to_first_chunk.entry((operation, model));
            times.or_default().push(s * 1e3);
        }
        if g.error_type != NONE {
            *self.errors.entry(string(g.error_type)).or_default() += 1;
        }
        if let Some(tokens) = g.usage {
            let next = u32::try_from(self.usage_keys.len()).unwrap_or(NONE);
            let key = *self
                .usage_keys
                .entry([service, string(g.provider), model])
                .or_insert(next);
            let small = small_tokens(&tokens).unwrap_or_else(|| {
                let n = u32::try_from(self.usage.len()).unwrap_or(NONE);
                self.large_tokens.insert(n, tokens);
                [NONE; 5]
            });
            self.usage.push(UsageSpan {
                trace,
                span_id: [(span_id >> 32) as u32, span_id as u32],
                key,
                tokens: small,
            });
        }
    }

    /// The report, with the trace rules' findings over the same spans.
    pub fn report(mut self, trace_health: TraceHealthCount, pricing: Option<&Pricing>) -> Report {
        let text = |n: u32| self.strings.get(n).to_string();
        let genai_spans = self.overall.spans;
        let mut report = Report {
            version: VERSION,
            spans: self.spans,
            genai_spans,
            score: self.overall.parts().and_then(|p| score(&p)),
            pricing_currency: pricing.map(|p| p.currency.clone()),
            ..Report::default()
        };
        let by_name = |n: &u32| self.strings.get(*n);
        let services: BTreeMap<&str, &PartCounts> =
            self.services.iter().map(|(n, c)| (by_name(n), c)).collect();
        for (service, counts) in services {
            let parts = counts.parts().unwrap_or_default();
            report.services.push(ServiceCoverage {
                service: service.to_string(),
                spans: counts.spans,
                score: score(&parts).unwrap_or(0.0),
                parts,
            });
        }
        let groups: BTreeMap<[&str; 4], &GroupCounts> = self
            .groups
            .iter()
            .map(|(key, c)| (key.map(|n| self.strings.get(n)), c))
            .collect();
        for ([service, operation, provider, scope], counts) in groups {
            report
                .groups
                .push(self.group(counts, [service, operation, provider, scope]));
        }
        report.traces = trace_health.finish(self.trace_numbers.len());
        report.usage = self.usage_sums(pricing);
        // Not needed any more: freed before the percentiles' sorted copies are made.
        self.parents = HashMap::default();
        self.usage = Blocks::default();
        let finish_reasons: BTreeMap<&str, &(usize, HashMap<u32, usize>)> = self
            .finish_reasons
            .iter()
            .map(|(m, c)| (by_name(m), c))
            .collect();
        report.finish_reasons = finish_reasons
            .into_iter()
            .map(|(model, (n, reasons))| FinishReasons {
                model: model.to_string(),
                spans: *n,
                reasons: reasons
                    .iter()
                    .map(|(r, k)| (text(*r), share(*k, *n)))
                    .collect(),
            })
            .collect();
        report.latency = percentiles(&self.strings, std::mem::take(&mut self.latency));
        report.time_to_first_chunk =
            percentiles(&self.strings, std::mem::take(&mut self.time_to_first_chunk));
        let errors: BTreeMap<&str, usize> =
            self.errors.iter().map(|(e, n)| (by_name(e), *n)).collect();
        report.errors = errors
            .into_iter()
            .map(|(e, n)| ErrorShare {
                error_type: e.to_string(),
                spans: n,
                share: share(n, genai_spans),
            })
            .collect();
        report
    }

    fn group(
        &self,
        counts: &GroupCounts,
        [service, operation, provider, scope]: [&str; 4],
    ) -> Group {
        let mut attributes: Vec<AttributeCoverage> = counts
            .attributes
            .iter()
            .map(|(&a, &(required, expected, present))| AttributeCoverage {
                attribute: self.strings.get(a).to_string(),
                level: if required { "required" } else { "recommended" }.to_string(),
                expected,
                present,
                share: share(present, expected),
            })
            .collect();
        // Required first.
        attributes.sort_by(|a, b| b.level.cmp(&a.level).then(a.attribute.cmp(&b.attribute)));
        let n = counts.spans;
        Group {
            service: service.to_string(),
            operation: operation.to_string(),
            provider: provider.to_string(),
            scope: scope.to_string(),
            spans: n,
            attributes,
            span_name_ok: share(counts.span_name_ok, n),
            span_kind_ok: share(counts.span_kind_ok, n),
            deprecated_or_foreign: share(counts.legacy, n),
            content: share(counts.content, n),
        }
    }

    /// Usage by service, provider and model, counting a span's usage only when no span below
    /// it records usage too.
    fn usage_sums(&self, pricing: Option<&Pricing>) -> Vec<Usage> {
        // Spans with a usage-recording span somewhere below them.
        let mut repeated: HashSet<(u32, u64)> = HashSet::new();
        for u in self.usage.iter().filter(|u| u.trace != NONE) {
            let mut at = u.span_id();
            // Bounded: a cycle of parents cannot loop forever.
            for _ in 0..self.spans {
                let Some(&parent) = self.parents.get(&(u.trace, at)).filter(|&&p| p != 0) else {
                    break;
                };
                if !repeated.insert((u.trace, parent)) {
                    break;
                }
                at = parent;
            }
        }
        let mut sums: Vec<Usage> = vec![Usage::default(); self.usage_keys.len()];
        for (&[service, provider, model], &key) in &self.usage_keys {
            let sum = &mut sums[key as usize];
            sum.service = self.strings.get(service).to_string();
            sum.provider = self.strings.get(provider).to_string();
            sum.model = self.strings.get(model).to_string();
        }
        for (n, u) in self.usage.iter().enumerate() {
            let sum = &mut sums[u.key as usize];
            if u.trace != NONE && repeated.contains(&(u.trace, u.span_id())) {
                sum.repeated_spans += 1;
            } else {
                sum.spans += 1;
                let tokens = match u.tokens {
                    [input, output, cache_read, cache_creation, reasoning] if input != NONE => {
                        Tokens {
                            input: input.into(),
                            output: output.into(),
                            cache_read: cache_read.into(),
                            cache_creation: cache_creation.into(),
                            reasoning: reasoning.into(),
                        }
                    }
                    _ => u32::try_from(n)
                        .ok()
                        .and_then(|n| self.large_tokens.get(&n))
                        .copied()
                        .unwrap_or_default(),
                };
                sum.tokens.add(&tokens);
            }
        }
        sums.sort_by(|a, b| {
            (&a.service, &a.provider, &a.model).cmp(&(&b.service, &b.provider, &b.model))
        });
        for u in &mut sums {
            u.estimated_cost = pricing.and_then(|p| p.cost(&u.model, &u.tokens));
        }
        sums
    }
}

/// Nearest-rank percentiles per (operation, model) of values in milliseconds.
fn percentiles(strings: &Strings, values: HashMap<(u32, u32), Blocks<f64>>) -> Vec<Latency> {
    let by: BTreeMap<(&str, &str), Blocks<f64>> = values
        .into_iter()
        .map(|((op, m), v)| ((strings.get(op), strings.get(m)), v))
        .collect();
    by.into_iter()
        .map(|((op, m), blocks)| {
            let mut v = Vec::with_capacity(blocks.len());
            v.extend(blocks);
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

/// The trace rules' counts, taken finding by finding as the trace rules hand them on, so a
/// run's trace-level findings are never all held at once (one per trace in many dumps).
#[derive(Debug, Default)]
pub struct TraceHealthCount {
    orphan_spans: usize,
    with_tool_outside_agent: HashSet<String>,
    shallow_agent: HashSet<String>,
    missing_context: HashSet<String>,
}

impl TraceHealthCount {
    /// Runs the trace rules over `index`, counting their findings as they are handed on.
    pub fn evaluate(index: TraceIndex, rules: &Ruleset) -> Self {
        let mut counts = Self::default();
        index.evaluate_each(rules, &mut |found| {
            counts.add(&found.finding);
            true
        });
        counts
    }

    /// The counts of findings already at hand (serve prints them too).
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let mut counts = Self::default();
        for finding in findings {
            counts.add(finding);
        }
        counts
    }

    /// Counts one trace-level finding.
    pub fn add(&mut self, finding: &Finding) {
        let traces = match finding.rule {
            "orphan-span" => {
                self.orphan_spans += 1;
                return;
            }
            "tool-outside-agent" => &mut self.with_tool_outside_agent,
            "shallow-trace" => &mut self.shallow_agent,
            "missing-context" => &mut self.missing_context,
            _ => return,
        };
        if !traces.contains(finding.span.trace_id.as_str()) {
            traces.insert(finding.span.trace_id.clone());
        }
    }

    /// The counts of a run with `traces` traces.
    fn finish(self, traces: usize) -> TraceHealth {
        TraceHealth {
            traces,
            orphan_spans: self.orphan_spans,
            traces_with_tool_outside_agent: self.with_tool_outside_agent.len(),
            shallow_agent_traces: self.shallow_agent.len(),
            traces_missing_context: self.missing_context.len(),
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
