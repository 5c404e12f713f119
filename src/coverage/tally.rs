//! Step 3 of coverage: the running totals of a whole run, folded from the pieces' facts as
//! they arrive (in file order), and the [`Report`] made from them at the end.
//!
//! Memory does not grow with the spans' size, and for most numbers not with their count:
//! every share, score and count is a counter per service, group (service × operation ×
//! provider × scope), model or error type. What genuinely needs the whole run is kept as
//! numbers only:
//!
//! - the ids of every span are in the run's [`TraceIndex`], which the trace rules need anyway;
//!   the tally only finds them again: a hash table of the first copy of each span, as its
//!   number in the index (4 bytes and a control byte per slot), keeps a span read twice from
//!   counting twice and finds a span's parent at the end;
//! - each span with usage (its number in the index, usage key and tokens: 28 bytes), since
//!   whether its usage repeats a descendant's is known only once every span was read;
//! - each duration and time to first chunk (one `f64`), for exact percentiles.
//!
//! The lists grow in blocks ([`Blocks`]), never by doubling one buffer, so a large run does
//! not hold a list twice while it grows. Past the trace index's budget, [`RunTally`] writes
//! the table, the usage spans and the spans still to count to temporary files by trace id,
//! as the index's spans go, and folds them in partition by partition (see `tally/spill.rs`); the
//! durations go to a file of their own (`tally/samples.rs`).

use std::collections::{BTreeMap, HashSet};
use std::hash::BuildHasher;

use foldhash::HashMap;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use super::facts::{NONE, PieceFacts, StoredGenAi, Strings};
use super::{
    AttributeCoverage, ErrorShare, FinishReasons, Group, Latency, Pricing, Report, ScoreParts,
    ServiceCoverage, Tokens, TraceHealth, Usage, VERSION, score, share,
};
use crate::finding::Finding;
use crate::rules::Ruleset;
use crate::trace::{Blocks, TraceIndex, TraceKey, trace_key};

mod samples;
mod spill;
pub use spill::RunTally;

use samples::Samples;

/// The running totals of a run. [`add`](Tally::add) each piece's facts in file order, then
/// [`settle`](Tally::settle) and [`report`](Settled::report).
#[derive(Debug, Default)]
pub struct Tally {
    strings: Strings,
    /// Spans, after removing spans read twice.
    spans: usize,
    /// The first copy of every span with a trace and span id, as its number in the run's
    /// [`TraceIndex`], found by trace number and span id (see [`SpanTable`]).
    first_copies: SpanTable,
    /// The trace ids of spans without a span id, which the trace index leaves out; they count
    /// as traces when no span of the index has them.
    traces_without_span_ids: foldhash::HashSet<TraceKey>,
    overall: PartCounts,
    services: HashMap<u32, PartCounts>,
    groups: HashMap<[u32; 4], GroupCounts>,
    /// Model → (spans with finish reasons, reason → spans giving it).
    finish_reasons: HashMap<u32, (usize, HashMap<u32, usize>)>,
    /// (operation, model) → durations in milliseconds.
    latency: Samples,
    /// (operation, model) → times to first chunk in milliseconds.
    time_to_first_chunk: Samples,
    errors: HashMap<u32, usize>,
    /// (service, provider, model) of usage, numbered.
    usage_keys: HashMap<[u32; 3], u32>,
    usage: Blocks<UsageSpan>,
    /// The tokens of the usage spans whose counts do not fit [`UsageSpan::tokens`], by index
    /// into `usage`.
    large_tokens: HashMap<u32, Tokens>,
}

/// A hash set of spans of a [`TraceIndex`], each stored as its number in the index and
/// hashed and compared by its trace number and span id, which the index holds: 5 bytes a slot
/// where a map of the ids themselves would take 25.
#[derive(Debug, Default)]
struct SpanTable {
    spans: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl SpanTable {
    fn hash(&self, trace: u32, span_id: u64) -> u64 {
        self.hasher.hash_one((trace, span_id))
    }

    /// Adds span `n` of `index` unless a span with the same trace and span id is there
    /// already; whether it was added.
    fn insert(&mut self, index: &TraceIndex, n: u32) -> bool {
        let (trace, span_id, _) = index.span_ids(n as usize);
        let hasher = &self.hasher;
        let rehash = |&m: &u32| {
            let (trace, span_id, _) = index.span_ids(m as usize);
            hasher.hash_one((trace, span_id))
        };
        let same = |&m: &u32| {
            let (other_trace, other_id, _) = index.span_ids(m as usize);
            (other_trace, other_id) == (trace, span_id)
        };
        match self
            .spans
            .entry(hasher.hash_one((trace, span_id)), same, rehash)
        {
            Entry::Occupied(_) => false,
            Entry::Vacant(slot) => {
                slot.insert(n);
                true
            }
        }
    }

    /// The number in `index` of the span of trace `trace` with id `span_id`.
    fn find(&self, index: &TraceIndex, trace: u32, span_id: u64) -> Option<u32> {
        let same = |&m: &u32| {
            let (other_trace, other_id, _) = index.span_ids(m as usize);
            (other_trace, other_id) == (trace, span_id)
        };
        self.spans.find(self.hash(trace, span_id), same).copied()
    }
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

/// A span with token usage (28 bytes: `u32`s only, so no padding).
#[derive(Debug, Clone, Copy)]
struct UsageSpan {
    /// The span's number in the trace index; [`NONE`] for a span without a trace or span id
    /// (no span can be below it).
    span: u32,
    key: u32,
    /// Input, output, cache read, cache creation and reasoning tokens; all [`NONE`] when one
    /// does not fit below [`NONE`] (the counts are then in `Tally::large_tokens`).
    tokens: [u32; 5],
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
    /// span id; the first copy counts). `index` is the run's trace index, which has just
    /// recorded the same spans (its last ones are the piece's spans with a trace and span id).
    pub fn add(&mut self, piece: &PieceFacts, index: &TraceIndex) {
        let strings = self.run_strings(piece);
        let string = |n: u32| if n == NONE { NONE } else { strings[n as usize] };
        let in_index = |s: &&super::facts::StoredSpan| s.trace_id != 0 && s.span_id != 0;
        let recorded = piece.spans.iter().filter(in_index).count();
        // The piece's first span in the index.
        let mut next = index.len().saturating_sub(recorded);
        for span in &piece.spans {
            let mut number = NONE;
            if in_index(&span) {
                number = u32::try_from(next).unwrap_or(NONE);
                next += 1;
                debug_assert_eq!(index.span_ids(number as usize).1, span.span_id);
                if !self.first_copies.insert(index, number) {
                    continue;
                }
            } else if span.trace_id != 0 {
                self.traces_without_span_ids
                    .insert(trace_key(span.trace_id));
            }
            self.spans += 1;
            if let Some(g) = piece.genai.get(span.genai as usize) {
                self.add_genai(g, piece, &string, number);
            }
        }
    }

    /// The piece's string numbers → the run's.
    fn run_strings(&mut self, piece: &PieceFacts) -> Vec<u32> {
        piece
            .strings
            .list()
            .iter()
            .map(|s| self.strings.intern(s))
            .collect()
    }

    /// An estimate of the memory the tally keeps per span (what [`Settled`] frees), in bytes.
    pub(crate) fn per_span_memory(&self) -> usize {
        self.first_copies.spans.capacity() * 5
            + self.usage.len() * std::mem::size_of::<UsageSpan>()
            + self.traces_without_span_ids.capacity() * 17
            + self.large_tokens.len() * 48
    }

    fn add_genai(
        &mut self,
        g: &StoredGenAi,
        piece: &PieceFacts,
        string: &impl Fn(u32) -> u32,
        span: u32,
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
            self.latency.push((operation, model), ns as f64 / 1e6);
        }
        if let Some(s) = g.time_to_first_chunk {
            self.time_to_first_chunk.push((operation, model), s * 1e3);
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
            self.push_usage(span, key, tokens);
        }
    }

    /// Keeps usage span `span` (its number in the index) with usage key `key`.
    fn push_usage(&mut self, span: u32, key: u32, tokens: Tokens) {
        let small = small_tokens(&tokens).unwrap_or_else(|| {
            let n = u32::try_from(self.usage.len()).unwrap_or(NONE);
            self.large_tokens.insert(n, tokens);
            [NONE; 5]
        });
        self.usage.push(UsageSpan {
            span,
            key,
            tokens: small,
        });
    }

    /// The tokens of usage span number `n`.
    fn tokens_of(&self, n: usize, u: &UsageSpan) -> Tokens {
        match u.tokens {
            [input, output, cache_read, cache_creation, reasoning] if input != NONE => Tokens {
                input: input.into(),
                output: output.into(),
                cache_read: cache_read.into(),
                cache_creation: cache_creation.into(),
                reasoning: reasoning.into(),
            },
            _ => u32::try_from(n)
                .ok()
                .and_then(|n| self.large_tokens.get(&n))
                .copied()
                .unwrap_or_default(),
        }
    }

    /// Settles what needs every span, from `index`, the run's trace index (whole: before the
    /// trace rules take it): the traces and which usage repeats usage below it. Frees what
    /// the tally kept per span but the durations.
    pub fn settle(self, index: &TraceIndex) -> Settled {
        let traces = self.traces(index);
        let mut sums = Vec::new();
        self.count_usage(index, &mut sums);
        let usage = self.named_usage(sums);
        Settled {
            tally: Tally {
                first_copies: SpanTable::default(),
                traces_without_span_ids: foldhash::HashSet::default(),
                usage: Blocks::default(),
                large_tokens: HashMap::default(),
                ..self
            },
            traces,
            usage,
        }
    }

    /// The traces of the spans in `index` and of those without a span id.
    fn traces(&self, index: &TraceIndex) -> usize {
        index.trace_count()
            + self
                .traces_without_span_ids
                .iter()
                .filter(|&&id| !index.has_trace(id))
                .count()
    }

    /// The report, given the settled trace count and usage sums.
    fn report(
        mut self,
        traces: usize,
        usage: Vec<Usage>,
        trace_health: TraceHealthCount,
        pricing: Option<&Pricing>,
    ) -> Report {
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
        report.traces = trace_health.finish(traces);
        report.usage = usage;
        for u in &mut report.usage {
            u.estimated_cost = pricing.and_then(|p| p.cost(&u.model, &u.tokens));
        }
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
        report.latency = std::mem::take(&mut self.latency).percentiles(&self.strings);
        report.time_to_first_chunk =
            std::mem::take(&mut self.time_to_first_chunk).percentiles(&self.strings);
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

    /// Adds the usage spans' counts to `sums` (by usage key, unnamed), counting a span's
    /// usage only when no span below it in `index` records usage too.
    fn count_usage(&self, index: &TraceIndex, sums: &mut Vec<Usage>) {
        // Spans with a usage-recording span somewhere below them: a bit per span of the index.
        let mut repeated = vec![0u64; index.len().div_ceil(64)];
        let bit = |n: u32| (n as usize / 64, 1u64 << (n % 64));
        let is_repeated = |repeated: &[u64], n: u32| {
            let (word, mask) = bit(n);
            repeated[word] & mask != 0
        };
        for u in self.usage.iter().filter(|u| u.span != NONE) {
            let mut at = u.span;
            // Each step marks a span, so a cycle of parents cannot loop forever.
            loop {
                let (trace, _, parent) = index.span_ids(at as usize);
                if parent == 0 {
                    break;
                }
                let Some(parent) = self.first_copies.find(index, trace, parent) else {
                    break;
                };
                if is_repeated(&repeated, parent) {
                    break;
                }
                let (word, mask) = bit(parent);
                repeated[word] |= mask;
                at = parent;
            }
        }
        sums.resize(self.usage_keys.len(), Usage::default());
        for (n, u) in self.usage.iter().enumerate() {
            let sum = &mut sums[u.key as usize];
            if u.span != NONE && is_repeated(&repeated, u.span) {
                sum.repeated_spans += 1;
            } else {
                sum.spans += 1;
                sum.tokens.add(&self.tokens_of(n, u));
            }
        }
    }

    /// Usage by service, provider and model (not priced yet): `sums` by usage key, named
    /// and sorted.
    fn named_usage(&self, mut sums: Vec<Usage>) -> Vec<Usage> {
        sums.resize(self.usage_keys.len(), Usage::default());
        for (&[service, provider, model], &key) in &self.usage_keys {
            let sum = &mut sums[key as usize];
            sum.service = self.strings.get(service).to_string();
            sum.provider = self.strings.get(provider).to_string();
            sum.model = self.strings.get(model).to_string();
        }
        sums.sort_by(|a, b| {
            (&a.service, &a.provider, &a.model).cmp(&(&b.service, &b.provider, &b.model))
        });
        sums
    }
}

/// A run's [`Tally`] once every span was read and the usage sums are known: what remains to
/// do needs no span any more.
#[derive(Debug)]
pub struct Settled {
    tally: Tally,
    traces: usize,
    /// Not priced yet.
    usage: Vec<Usage>,
}

impl Settled {
    /// The report, with the trace rules' findings over the same spans.
    pub fn report(self, trace_health: TraceHealthCount, pricing: Option<&Pricing>) -> Report {
        self.tally
            .report(self.traces, self.usage, trace_health, pricing)
    }
}

/// The trace rules' counts, taken trace by trace as the trace rules hand the findings on, so
/// a run's trace-level findings are never all held at once (one per trace in many dumps), nor
/// the ids of the traces that have them.
#[derive(Debug, Default)]
pub struct TraceHealthCount {
    orphan_spans: usize,
    with_tool_outside_agent: usize,
    shallow_agent: usize,
    missing_context: usize,
}

impl TraceHealthCount {
    /// Runs the trace rules over `index`, counting their findings trace by trace.
    pub fn evaluate(index: TraceIndex, rules: &Ruleset) -> Self {
        let mut counts = Self::default();
        index.evaluate_per_trace(rules, &mut |findings| {
            counts.add(findings.iter().map(|found| &found.finding));
        });
        counts
    }

    /// [`evaluate`](Self::evaluate) over a run's [`crate::trace::BudgetedIndex`] (its spans maybe in
    /// temporary files).
    pub fn evaluate_budgeted(
        index: crate::trace::BudgetedIndex,
        rules: &Ruleset,
    ) -> Result<Self, crate::trace::SpillError> {
        let mut counts = Self::default();
        index.evaluate_per_trace(rules, &mut |findings| {
            counts.add(findings.iter().map(|found| &found.finding));
        })?;
        Ok(counts)
    }

    /// The counts of findings already at hand (serve prints them too).
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let mut counts = Self::default();
        counts.add(findings);
        counts
    }

    /// Counts trace-level findings: each span's `orphan-span`, and each trace (by its id as
    /// written) once per other rule. Traces with different ids are different traces, so the
    /// findings may come one trace at a time or all at once.
    fn add<'a>(&mut self, findings: impl IntoIterator<Item = &'a Finding>) {
        let mut tool_outside_agent = HashSet::new();
        let mut shallow_agent = HashSet::new();
        let mut missing_context = HashSet::new();
        for finding in findings {
            let traces = match finding.rule {
                "orphan-span" => {
                    self.orphan_spans += 1;
                    continue;
                }
                "tool-outside-agent" => &mut tool_outside_agent,
                "shallow-trace" => &mut shallow_agent,
                "missing-context" => &mut missing_context,
                _ => continue,
            };
            traces.insert(finding.span.trace_id.as_str());
        }
        self.with_tool_outside_agent += tool_outside_agent.len();
        self.shallow_agent += shallow_agent.len();
        self.missing_context += missing_context.len();
    }

    /// The counts of a run with `traces` traces.
    pub(super) fn finish(self, traces: usize) -> TraceHealth {
        TraceHealth {
            traces,
            orphan_spans: self.orphan_spans,
            traces_with_tool_outside_agent: self.with_tool_outside_agent,
            shallow_agent_traces: self.shallow_agent,
            traces_missing_context: self.missing_context,
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
