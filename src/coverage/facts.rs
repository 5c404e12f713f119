//! Step 1 of coverage: what coverage needs to know about each span of a piece of input, kept
//! compact.
//!
//! [`piece_facts`] (a whole file, or one chunk of a streamed one) and [`PieceFacts::add_batch`]
//! (one batch, for `serve`) run the span rules on each GenAI span and describe the span as a
//! borrowed [`SpanView`]; [`PieceFacts::push`] stores it with its strings interned in the
//! piece (a few dozen bytes per span, no allocation per span). The pieces are then folded,
//! in file order, into a [`super::Tally`], and dropped.
//!
//! No attribute values that may be content are kept: only names, ids, enum-like values
//! (`error.type`, finish reasons) and numbers.

use foldhash::HashMap;

use super::Tokens;
use crate::input::{InputError, Piece, Position};
use crate::model::{Batch, Span, StatusCode, Value};
use crate::rules::rulesfile::Level;
use crate::rules::{self, Ruleset, SpanContext, walk};
use crate::trace::{self, TraceIndex};

/// The rule ids whose findings mean "deprecated or foreign attributes" on a span.
pub const LEGACY_RULES: &[&str] = &[
    "deprecated-attribute",
    "deprecated-value",
    "deprecated-event",
    "foreign-namespace",
];

/// One span of the input, as coverage sees it (borrowed from the span and the rules).
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanView<'a> {
    /// 0 when the span has no valid trace id.
    pub trace_id: u128,
    /// 0 when the span has no valid span id.
    pub span_id: u64,
    pub parent_id: Option<u64>,
    pub genai: Option<GenAiView<'a>>,
}

/// What coverage needs about a GenAI span.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenAiView<'a> {
    pub service: &'a str,
    /// `gen_ai.operation.name`, or the operation a foreign attribute tells; `?` when unknown.
    pub operation: &'a str,
    pub provider: &'a str,
    /// Instrumentation scope name.
    pub scope: &'a str,
    /// `gen_ai.response.model`, else `gen_ai.request.model`.
    pub model: Option<&'a str>,
    pub requirements: &'a [Requirement<'a>],
    /// Ids of the span rules that fired on the span.
    pub fired: &'a [&'static str],
    /// The span records content (a content attribute or content event).
    pub content: bool,
    pub duration_ns: Option<u64>,
    /// `gen_ai.response.time_to_first_chunk`, in seconds.
    pub time_to_first_chunk: Option<f64>,
    pub finish_reasons: &'a [&'a str],
    /// `error.type`, or `_OTHER` for a span with status ERROR and no `error.type`.
    pub error_type: Option<&'a str>,
    /// Token usage recorded on the span.
    pub usage: Option<Tokens>,
}

/// One requirement of a span and whether the span meets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement<'a> {
    pub attribute: &'a str,
    /// Required (or conditionally required with a condition the span shows), else recommended.
    pub required: bool,
    pub present: bool,
}

/// "No such entry" for the `u32` references below.
pub(super) const NONE: u32 = u32::MAX;

/// The spans of a piece of input, compact: strings interned in the piece, per-span lists
/// stored as ranges of shared vectors.
#[derive(Debug, Default)]
pub struct PieceFacts {
    pub(super) strings: Strings,
    pub(super) spans: Vec<StoredSpan>,
    pub(super) genai: Vec<StoredGenAi>,
    pub(super) requirements: Vec<StoredRequirement>,
    /// Each GenAI span's distinct finish reasons (string numbers).
    pub(super) reasons: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct StoredSpan {
    pub trace_id: u128,
    pub span_id: u64,
    /// 0 for none.
    pub parent_id: u64,
    /// Index into `genai`, or [`NONE`].
    pub genai: u32,
}

/// A [`GenAiView`] with its strings as numbers and its lists as ranges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct StoredGenAi {
    pub service: u32,
    pub operation: u32,
    pub provider: u32,
    pub scope: u32,
    /// The model, `?` when unknown.
    pub model: u32,
    /// [`NONE`] without an error.
    pub error_type: u32,
    pub requirements: (u32, u32),
    pub reasons: (u32, u32),
    pub span_name_ok: bool,
    pub span_kind_ok: bool,
    /// A rule of [`LEGACY_RULES`] fired.
    pub legacy: bool,
    pub content: bool,
    pub duration_ns: Option<u64>,
    pub time_to_first_chunk: Option<f64>,
    pub usage: Option<Tokens>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StoredRequirement {
    pub attribute: u32,
    pub required: bool,
    pub present: bool,
}

/// Distinct strings, each stored once and referred to by number.
#[derive(Debug, Default)]
pub(super) struct Strings {
    numbers: HashMap<Box<str>, u32>,
    list: Vec<Box<str>>,
}

impl Strings {
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&n) = self.numbers.get(s) {
            return n;
        }
        let n = u32::try_from(self.list.len()).unwrap_or(NONE);
        self.numbers.insert(s.into(), n);
        self.list.push(s.into());
        n
    }

    pub fn get(&self, n: u32) -> &str {
        self.list.get(n as usize).map_or("", |s| s)
    }

    pub fn list(&self) -> &[Box<str>] {
        &self.list
    }
}

/// A slice's range in a vector it was appended to.
fn range<T>(list: &mut Vec<T>, items: impl IntoIterator<Item = T>) -> (u32, u32) {
    let start = list.len();
    list.extend(items);
    let len = list.len() - start;
    (
        u32::try_from(start).unwrap_or(NONE),
        u32::try_from(len).unwrap_or(0),
    )
}

impl PieceFacts {
    /// Stores one span.
    pub fn push(&mut self, span: &SpanView<'_>) {
        let genai = match &span.genai {
            Some(g) => self.store(g),
            None => NONE,
        };
        self.spans.push(StoredSpan {
            trace_id: span.trace_id,
            span_id: span.span_id,
            parent_id: span.parent_id.unwrap_or(0),
            genai,
        });
    }

    fn store(&mut self, g: &GenAiView<'_>) -> u32 {
        let strings = &mut self.strings;
        let requirements = range(
            &mut self.requirements,
            g.requirements.iter().map(|r| StoredRequirement {
                attribute: strings.intern(r.attribute),
                required: r.required,
                present: r.present,
            }),
        );
        // A reason given twice by one span counts once.
        let start = self.reasons.len();
        for reason in g.finish_reasons {
            let n = strings.intern(reason);
            if !self.reasons[start..].contains(&n) {
                self.reasons.push(n);
            }
        }
        let reasons = (
            u32::try_from(start).unwrap_or(NONE),
            u32::try_from(self.reasons.len() - start).unwrap_or(0),
        );
        let fired = |id: &'static str| g.fired.contains(&id);
        let stored = StoredGenAi {
            service: strings.intern(g.service),
            operation: strings.intern(g.operation),
            provider: strings.intern(g.provider),
            scope: strings.intern(g.scope),
            model: strings.intern(g.model.unwrap_or("?")),
            error_type: g.error_type.map_or(NONE, |e| strings.intern(e)),
            requirements,
            reasons,
            span_name_ok: !fired("span-name-format"),
            span_kind_ok: !fired("span-kind"),
            legacy: LEGACY_RULES.iter().any(|&id| fired(id)),
            content: g.content,
            duration_ns: g.duration_ns,
            time_to_first_chunk: g.time_to_first_chunk,
            usage: g.usage,
        };
        let n = u32::try_from(self.genai.len()).unwrap_or(NONE);
        self.genai.push(stored);
        n
    }

    /// Adds the spans of one batch, and records them in the trace index. `base` is the
    /// offset in its file of the piece the batch was parsed from.
    pub fn add_batch(
        &mut self,
        batch: &Batch<'_>,
        rules: &Ruleset,
        index: &mut TraceIndex,
        base: usize,
    ) {
        // Reused for every span of the batch.
        let mut findings = Vec::new();
        let mut fired = Vec::new();
        let mut requirements = Vec::new();
        let mut reasons = Vec::new();
        walk::for_each_span(rules, batch, |span, ctx| {
            let mut view = SpanView {
                trace_id: span.trace_id.as_u128().unwrap_or(0),
                span_id: span.span_id.as_u64().unwrap_or(0),
                parent_id: span.parent_span_id.as_u64().filter(|&p| p != 0),
                genai: None,
            };
            let Some(ctx) = ctx else {
                index.add(span, None);
                self.push(&view);
                return;
            };
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
            fired.clear();
            fired.extend(findings.iter().map(|f| f.rule));
            requirements.clear();
            span_requirements(&ctx, &mut requirements);
            reasons.clear();
            finish_reasons(span, &mut reasons);
            view.genai = Some(genai_view(&ctx, &fired, &requirements, &reasons));
            self.push(&view);
        });
    }
}

/// The facts of every message of a piece of a file (a whole file, or one chunk of a streamed
/// one), the piece's spans for the trace index (at their offsets in the file), and the
/// messages that could not be read.
pub fn piece_facts(piece: Piece<'_>, rules: &Ruleset) -> (PieceFacts, TraceIndex, Vec<InputError>) {
    let mut facts = PieceFacts::default();
    let mut index = TraceIndex::default();
    let mut errors = Vec::new();
    for batch in piece.batches() {
        match batch {
            Ok(batch) => facts.add_batch(&batch, rules, &mut index, piece.offset),
            Err(err) => errors.push(err),
        }
    }
    (facts, index, errors)
}

/// The span's requirements after the provider refinement, as `missing-required-attribute`
/// asks for them.
fn span_requirements<'r>(ctx: &SpanContext<'r, '_>, out: &mut Vec<Requirement<'r>>) {
    let span = ctx.span;
    let rules = ctx.rules;
    for r in ctx.requirements() {
        let required = match r.level {
            Level::Required => true,
            Level::ConditionallyRequired if ctx.enforced(r) => true,
            // Unconditional recommended attributes only ("If the request was streaming"
            // cannot be decided).
            Level::Recommended
                if r.condition.is_none()
                    && !rules.recommended_ignored(&r.attribute, ctx.operation.map(|o| o.name)) =>
            {
                false
            }
            _ => continue,
        };
        out.push(Requirement {
            attribute: &r.attribute,
            required,
            present: span.attribute(&r.attribute).is_some(),
        });
    }
}

fn genai_view<'a>(
    ctx: &SpanContext<'a, '_>,
    fired: &'a [&'static str],
    requirements: &'a [Requirement<'a>],
    finish_reasons: &'a [&'a str],
) -> GenAiView<'a> {
    let span = ctx.span;
    let rules = ctx.rules;
    let content = span
        .attributes
        .iter()
        .chain(span.events.iter().flat_map(|e| &e.attributes))
        .any(|a| rules.is_content_attribute(&a.key))
        || span.events.iter().any(|e| rules.is_content_event(&e.name));
    let error_type = span
        .str_attribute("error.type")
        .or_else(|| (span.status.code == StatusCode::Error).then_some("_OTHER"));
    GenAiView {
        service: crate::model::service_name(ctx.resource).unwrap_or("?"),
        operation: ctx.operation.map_or("?", |o| o.name),
        provider: ctx.provider().unwrap_or("?"),
        scope: if ctx.scope.name.is_empty() {
            "?"
        } else {
            &ctx.scope.name
        },
        model: span
            .str_attribute("gen_ai.response.model")
            .or_else(|| span.str_attribute("gen_ai.request.model")),
        requirements,
        fired,
        content,
        duration_ns: (span.end_time_unix_nano >= span.start_time_unix_nano
            && span.start_time_unix_nano > 0)
            .then(|| span.end_time_unix_nano - span.start_time_unix_nano),
        time_to_first_chunk: span
            .attribute("gen_ai.response.time_to_first_chunk")
            .and_then(|a| number(&a.value)),
        finish_reasons,
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

fn finish_reasons<'a>(span: &'a Span<'_>, out: &mut Vec<&'a str>) {
    match span
        .attribute("gen_ai.response.finish_reasons")
        .map(|a| &a.value)
    {
        Some(Value::Array(items)) => out.extend(items.iter().filter_map(|v| v.as_str())),
        Some(Value::String(s)) => out.push(s.as_ref()),
        _ => {}
    }
}
