//! A run's coverage in bounded memory: past the trace index's budget, the tally's per-span
//! facts go to temporary files, split by trace id, as the trace index's spans do
//! ([`crate::trace::spill`]), and are folded in partition by partition at the end.
//!
//! **What grows.** The [`Tally`] counts most things as it goes, but three things need every
//! span: leaving out the later copies of a span read twice (the table of first copies),
//! whether a span's usage repeats usage recorded below it (each usage span and its parent),
//! and the number of traces. All three look only within one trace, so once the run's index
//! plus the tally's per-span memory pass the budget, [`RunTally`] writes:
//!
//! - the spans counted so far (first copies only, with their usage key and tokens if they
//!   record usage) and the trace ids of spans without a span id, as *seen* records;
//! - from then on every span with a trace id, with what the tally would add for it (its
//!   strings as the run's numbers, requirements, finish reasons, duration, usage), as a
//!   *new* record, uncounted; spans without a trace id are counted at once, as before;
//!
//! to the [`Partitions`] of its trace id, in the order they were read, and the trace index
//! spills too. At the end each partition is read back in order into a small index of ids: a
//! span is counted when it is the first copy there (the first copy of the whole run, since
//! all copies of a span share a trace, hence a partition), usage sums are taken against that
//! index, and its traces are counted. The counters do not depend on the order spans are added
//! in (the percentiles sort their values), so the report is byte for byte the same.
//!
//! **What stays.** The counters (per service, group, model, error type) and the strings they
//! name. The durations and times to first chunk go to a file of their own at the same moment
//! (see `tally/samples.rs`).
//!
//! A run within the budget never spills: it keeps the tally and index as they were.

use std::io::{self, BufRead, Write};

use super::{Settled, Tally, TraceHealthCount, requirements};
use crate::coverage::Tokens;
use crate::coverage::Usage;
use crate::coverage::facts::{NONE, PieceFacts, StoredGenAi, StoredRequirement, StoredSpan};
use crate::rules::Ruleset;
use crate::trace::spill::{Partitions, get_u8, get_u32, get_u64, put_u32, put_u64};
use crate::trace::{BudgetedIndex, SpillError, TraceFinding, TraceIndex, TraceKey, trace_key};

/// The kinds of records: counted before the spill (with or without usage), or to count.
const SEEN: u8 = 0;
const SEEN_USAGE: u8 = 1;
const NEW: u8 = 2;
const NEW_GENAI: u8 = 3;

/// A run's [`Tally`] and trace index within a memory budget (see the module documentation).
#[derive(Debug)]
pub struct RunTally {
    tally: Tally,
    index: BudgetedIndex,
    spilled: Option<Spilled>,
}

/// What a spilled run keeps besides the counters.
#[derive(Debug)]
struct Spilled {
    partitions: Partitions,
    /// Usage sums by usage key (unnamed) of the spans never written out.
    usage: Vec<Usage>,
}

impl Default for RunTally {
    fn default() -> Self {
        Self::new(crate::trace::spill::budget())
    }
}

impl RunTally {
    pub fn new(budget: usize) -> Self {
        RunTally {
            tally: Tally::default(),
            index: BudgetedIndex::new(budget),
            spilled: None,
        }
    }

    /// Adds one piece's facts and trace index, of file number `file` (pieces in file order).
    pub fn add(
        &mut self,
        facts: &PieceFacts,
        index: TraceIndex,
        file: usize,
    ) -> Result<(), SpillError> {
        if let Some(spilled) = &mut self.spilled {
            self.tally.write_piece(facts, spilled)?;
            return self.index.merge(index, file);
        }
        self.index.merge_kept(index, file);
        let kept = self.index.kept();
        self.tally.add(facts, kept);
        if kept.memory() + self.tally.per_span_memory() > self.index.budget() {
            let mut spilled = Spilled {
                partitions: Partitions::create()?,
                usage: Vec::new(),
            };
            self.tally.write_seen(self.index.kept(), &mut spilled)?;
            self.tally.latency.spill()?;
            self.tally.time_to_first_chunk.spill()?;
            self.index.spill()?;
            self.spilled = Some(spilled);
        }
        Ok(())
    }

    /// Whether the tally's spans were written to temporary files.
    pub fn has_spilled(&self) -> bool {
        self.spilled.is_some()
    }

    /// The settled tally, and the trace rules' counts over the same spans.
    pub fn finish(self, rules: &Ruleset) -> Result<(Settled, TraceHealthCount), SpillError> {
        let settled = match self.spilled {
            None => self.tally.settle(self.index.kept()),
            Some(spilled) => self.tally.settle_spilled(spilled)?,
        };
        let health = TraceHealthCount::evaluate_budgeted(self.index, rules)?;
        Ok((settled, health))
    }

    /// The settled tally, and the trace rules' findings over the same spans in (file, offset,
    /// rule) order (`serve` prints them as well as counting them).
    pub fn finish_with_findings(
        self,
        rules: &Ruleset,
    ) -> Result<(Settled, Vec<TraceFinding>), SpillError> {
        let settled = match self.spilled {
            None => self.tally.settle(self.index.kept()),
            Some(spilled) => self.tally.settle_spilled(spilled)?,
        };
        let mut findings = Vec::new();
        self.index.evaluate_each(rules, &mut |found| {
            findings.push(found);
            true
        })?;
        Ok((settled, findings))
    }
}

impl Tally {
    /// Writes what the tally keeps per span of `index` (the run's spans so far) out as seen
    /// records, and forgets it.
    fn write_seen(&mut self, index: &TraceIndex, spilled: &mut Spilled) -> Result<(), SpillError> {
        self.count_usage_without_ids(&mut spilled.usage);
        // Usage spans are kept in the order of their spans.
        let mut usage = (self.usage.iter().enumerate())
            .filter(|(_, u)| u.span != NONE)
            .peekable();
        for n in 0..index.len() {
            let (trace, span_id, parent_id) = index.span_ids(n);
            let number = u32::try_from(n).unwrap_or(NONE);
            if self.first_copies.find(index, trace, span_id) != Some(number) {
                continue;
            }
            let usage = usage
                .next_if(|(_, u)| u.span == number)
                .map(|(at, u)| (u.key, self.tokens_of(at, u)));
            let trace_id = index.trace_id_of(trace);
            let out = spilled.partitions.of_trace(trace_id);
            write_seen(out, trace_id, span_id, parent_id, usage)
                .map_err(SpillError::new("write"))?;
        }
        for &id in &self.traces_without_span_ids {
            let trace_id = id_of(id);
            let out = spilled.partitions.of_trace(trace_id);
            write_seen(out, trace_id, 0, 0, None).map_err(SpillError::new("write"))?;
        }
        drop(usage);
        self.forget_spans();
        Ok(())
    }

    /// Writes a piece's spans with a trace id out as new records; counts the others.
    fn write_piece(&mut self, piece: &PieceFacts, spilled: &mut Spilled) -> Result<(), SpillError> {
        let strings = self.run_strings(piece);
        let string = |n: u32| if n == NONE { NONE } else { strings[n as usize] };
        for span in &piece.spans {
            let genai = piece.genai.get(span.genai as usize);
            if span.trace_id == 0 {
                self.spans += 1;
                if let Some(g) = genai {
                    self.add_genai(g, piece, &string, NONE);
                }
                continue;
            }
            let out = spilled.partitions.of_trace(span.trace_id);
            write_new(out, span, genai.map(|g| (g, piece)), &string)
                .map_err(SpillError::new("write"))?;
        }
        if !self.usage.is_empty() {
            self.count_usage_without_ids(&mut spilled.usage);
            self.forget_spans();
        }
        Ok(())
    }

    /// Adds the usage of the kept usage spans without a trace or span id to `sums`: nothing
    /// is below them, so it always counts.
    fn count_usage_without_ids(&self, sums: &mut Vec<Usage>) {
        sums.resize(self.usage_keys.len(), Usage::default());
        for (n, u) in self.usage.iter().enumerate() {
            if u.span == NONE {
                let sum = &mut sums[u.key as usize];
                sum.spans += 1;
                sum.tokens.add(&self.tokens_of(n, u));
            }
        }
    }

    /// Forgets what the tally keeps per span (written out or counted).
    fn forget_spans(&mut self) {
        self.first_copies = super::SpanTable::default();
        self.usage = crate::trace::Blocks::default();
        self.large_tokens = Default::default();
        self.traces_without_span_ids = Default::default();
    }

    /// [`settle`](Tally::settle) for a tally whose spans were written out: folds each
    /// partition in, in turn.
    fn settle_spilled(mut self, spilled: Spilled) -> Result<Settled, SpillError> {
        let Spilled {
            partitions,
            usage: mut sums,
        } = spilled;
        let mut traces = 0;
        for records in partitions.into_readers()? {
            traces += self
                .fold_partition(records, &mut sums)
                .map_err(SpillError::new("read"))?;
        }
        let usage = self.named_usage(sums);
        self.latency.select()?;
        self.time_to_first_chunk.select()?;
        Ok(Settled {
            tally: self,
            traces,
            usage,
        })
    }

    /// Counts a partition's spans (first copies only), adds their usage to `sums`; its
    /// traces.
    fn fold_partition(
        &mut self,
        mut records: impl BufRead,
        sums: &mut Vec<Usage>,
    ) -> io::Result<usize> {
        let mut part = TraceIndex::default();
        let mut facts = PieceFacts::default();
        while !records.fill_buf()?.is_empty() {
            let trace_id = get_u128(&mut records)?;
            let span_id = get_u64(&mut records)?;
            let parent_id = get_u64(&mut records)?;
            let kind = get_u8(&mut records)?;
            let mut number = NONE;
            let mut first = true;
            if span_id != 0 {
                part.push_ids(trace_id, span_id, parent_id);
                number = u32::try_from(part.len() - 1).unwrap_or(NONE);
                first = self.first_copies.insert(&part, number);
            } else {
                self.traces_without_span_ids.insert(trace_key(trace_id));
            }
            match kind {
                SEEN => {}
                SEEN_USAGE => {
                    let key = get_u32(&mut records)?;
                    let tokens = get_tokens(&mut records)?;
                    if first {
                        self.push_usage(number, key, tokens);
                    }
                }
                NEW => self.spans += usize::from(first),
                NEW_GENAI => {
                    let g = read_genai(&mut records, &mut facts)?;
                    if first {
                        self.spans += 1;
                        self.add_genai(&g, &facts, &|n| n, number);
                    }
                }
                _ => return Err(io::Error::new(io::ErrorKind::InvalidData, "unknown record")),
            }
        }
        let traces = self.traces(&part);
        self.count_usage(&part, sums);
        self.forget_spans();
        Ok(traces)
    }
}

fn id_of(key: TraceKey) -> u128 {
    (u128::from(key[0]) << 64) | u128::from(key[1])
}

fn write_ids(out: &mut impl Write, trace_id: u128, span_id: u64, parent_id: u64) -> io::Result<()> {
    out.write_all(&trace_id.to_le_bytes())?;
    put_u64(out, span_id)?;
    put_u64(out, parent_id)
}

fn write_seen(
    out: &mut impl Write,
    trace_id: u128,
    span_id: u64,
    parent_id: u64,
    usage: Option<(u32, Tokens)>,
) -> io::Result<()> {
    write_ids(out, trace_id, span_id, parent_id)?;
    let Some((key, tokens)) = usage else {
        return out.write_all(&[SEEN]);
    };
    out.write_all(&[SEEN_USAGE])?;
    put_u32(out, key)?;
    put_tokens(out, &tokens)
}

/// A span to count, with its GenAI facts (of `piece`, whose string numbers `string` turns
/// into the run's).
fn write_new(
    out: &mut impl Write,
    span: &StoredSpan,
    genai: Option<(&StoredGenAi, &PieceFacts)>,
    string: &impl Fn(u32) -> u32,
) -> io::Result<()> {
    write_ids(out, span.trace_id, span.span_id, span.parent_id)?;
    let Some((g, piece)) = genai else {
        return out.write_all(&[NEW]);
    };
    out.write_all(&[NEW_GENAI])?;
    for n in [
        g.service,
        g.operation,
        g.provider,
        g.scope,
        g.model,
        g.error_type,
    ] {
        put_u32(out, string(n))?;
    }
    let flags = u8::from(g.span_name_ok)
        | u8::from(g.span_kind_ok) << 1
        | u8::from(g.legacy) << 2
        | u8::from(g.content) << 3;
    out.write_all(&[flags])?;
    let required = requirements(piece, g);
    put_u32(out, required.len() as u32)?;
    for r in required {
        put_u32(out, string(r.attribute))?;
        out.write_all(&[u8::from(r.required) | u8::from(r.present) << 1])?;
    }
    let (start, len) = g.reasons;
    put_u32(out, len)?;
    for &reason in &piece.reasons[start as usize..][..len as usize] {
        put_u32(out, string(reason))?;
    }
    put_opt_u64(out, g.duration_ns)?;
    put_opt_u64(out, g.time_to_first_chunk.map(f64::to_bits))?;
    match &g.usage {
        None => out.write_all(&[0]),
        Some(tokens) => {
            out.write_all(&[1])?;
            put_tokens(out, tokens)
        }
    }
}

/// A new record's GenAI facts, their lists put in `facts` (emptied first), their strings
/// already the run's.
fn read_genai(input: &mut impl BufRead, facts: &mut PieceFacts) -> io::Result<StoredGenAi> {
    let [service, operation, provider, scope, model, error_type] = [(); 6]
        .map(|()| get_u32(input))
        .into_iter()
        .collect::<io::Result<Vec<u32>>>()?
        .try_into()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "six strings"))?;
    let flags = get_u8(input)?;
    facts.requirements.clear();
    for _ in 0..get_u32(input)? {
        let attribute = get_u32(input)?;
        let r = get_u8(input)?;
        facts.requirements.push(StoredRequirement {
            attribute,
            required: r & 1 != 0,
            present: r & 2 != 0,
        });
    }
    facts.reasons.clear();
    for _ in 0..get_u32(input)? {
        facts.reasons.push(get_u32(input)?);
    }
    let duration_ns = get_opt_u64(input)?;
    let time_to_first_chunk = get_opt_u64(input)?.map(f64::from_bits);
    let usage = match get_u8(input)? {
        0 => None,
        _ => Some(get_tokens(input)?),
    };
    Ok(StoredGenAi {
        service,
        operation,
        provider,
        scope,
        model,
        error_type,
        requirements: (0, facts.requirements.len() as u32),
        reasons: (0, facts.reasons.len() as u32),
        span_name_ok: flags & 1 != 0,
        span_kind_ok: flags & 2 != 0,
        legacy: flags & 4 != 0,
        content: flags & 8 != 0,
        duration_ns,
        time_to_first_chunk,
        usage,
    })
}

fn put_opt_u64(out: &mut impl Write, n: Option<u64>) -> io::Result<()> {
    match n {
        None => out.write_all(&[0]),
        Some(n) => {
            out.write_all(&[1])?;
            put_u64(out, n)
        }
    }
}

fn get_opt_u64(input: &mut impl BufRead) -> io::Result<Option<u64>> {
    Ok(match get_u8(input)? {
        0 => None,
        _ => Some(get_u64(input)?),
    })
}

fn put_tokens(out: &mut impl Write, t: &Tokens) -> io::Result<()> {
    for n in [
        t.input,
        t.output,
        t.cache_read,
        t.cache_creation,
        t.reasoning,
    ] {
        put_u64(out, n)?;
    }
    Ok(())
}

fn get_tokens(input: &mut impl BufRead) -> io::Result<Tokens> {
    Ok(Tokens {
        input: get_u64(input)?,
        output: get_u64(input)?,
        cache_read: get_u64(input)?,
        cache_creation: get_u64(input)?,
        reasoning: get_u64(input)?,
    })
}

fn get_u128(input: &mut impl BufRead) -> io::Result<u128> {
    let mut b = [0; 16];
    input.read_exact(&mut b)?;
    Ok(u128::from_le_bytes(b))
}
