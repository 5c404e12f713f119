//! The run's trace index in bounded memory: past a budget, its spans go to temporary files.
//!
//! A trace may be split over files and chunks, so the trace rules can run only once every
//! span was read, and the index of a large run (a few dozen bytes a span) would grow with the
//! input. [`BudgetedIndex`] holds a [`TraceIndex`] and, whenever a merge takes it past its
//! budget ([`DEFAULT_BUDGET`], or `SPANLINT_INDEX_BUDGET` bytes), writes each of its spans as
//! a self-contained record (ids, file, offset, position, profile number, tool call ids, ids as
//! written) to one of [`PARTITIONS`] anonymous temporary files (in `TMPDIR`), chosen by a hash
//! of the span's trace id, and empties it. Only the [`Profile`](super::Profile)s and their
//! strings stay: spans share them, so they are few, and the records refer to them by number.
//!
//! **Why partitions by trace id.** Every span of a trace lands in the same partition, in the
//! order it was read, so a partition read back into a small index holds whole traces exactly
//! as the whole index would have: the rules, which see one trace at a time, find the same
//! things. Memory while evaluating is one partition's index (the run's spans / [`PARTITIONS`]).
//!
//! **Why a merge.** Reports hand trace findings on by file, then offset, then rule, then in
//! the order the rules found them ([`TraceIndex::evaluate_each`]), and a partition's traces
//! are interleaved with the others' in the input. Each partition's findings, in that order,
//! go to a temporary file of their own, and the files are merged (a heap of each file's next
//! finding, by file, offset and rule). Two partitions never hold findings at the same file
//! and offset: a trace finding sits at a GenAI span's name (or first attribute) token, one
//! span's own place in its file, and one span belongs to one trace, hence one partition (the
//! only exception would be GenAI spans with neither a name nor an attribute, which only a
//! custom rules file naming spans by a `*` glob can make; their order at that one place is
//! then by partition). So the merge gives exactly the unspilled order. Counting callers
//! ([`BudgetedIndex::evaluate_per_trace`]) need no order and go partition by partition.
//!
//! A run that stays within the budget never touches the disk. The temporary files are
//! unlinked at creation, so they are gone on every exit path; a failing write (a full disk)
//! is a [`SpillError`] naming the directory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;

use super::{GenAiParts, NONE, Profile, TraceFinding, TraceIndex};
use crate::finding::{Finding, Severity, SpanIdentity};
use crate::input::Position;
use crate::rules::Ruleset;

/// The index's memory past which its spans are written out: with the chunk buffers and the
/// evaluation's own arrays, a run stays well under 100 MB however many spans it reads.
pub const DEFAULT_BUDGET: usize = 16 << 20;

/// How many temporary files the spans are split into. Evaluating holds one partition's spans
/// at once; 64 keeps that below the budget up to ~64 × the budget's worth of spans (tens of
/// millions of spans).
pub const PARTITIONS: usize = 64;

/// The budget of the run's index: [`DEFAULT_BUDGET`], or `SPANLINT_INDEX_BUDGET` bytes (hidden,
/// for tests that force spilling on small inputs).
pub fn budget() -> usize {
    std::env::var("SPANLINT_INDEX_BUDGET")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_BUDGET)
}

/// The trace index could not be written to or read back from its temporary files.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot {action} the trace index's temporary files in {}: {source}", dir.display())]
#[diagnostic(
    code(spanlint::trace_spill),
    help(
        "a large run keeps its trace index in temporary files; free space there, or set TMPDIR to a directory with room"
    )
)]
pub struct SpillError {
    action: &'static str,
    dir: PathBuf,
    source: io::Error,
}

impl SpillError {
    pub(crate) fn new(action: &'static str) -> impl FnOnce(io::Error) -> SpillError {
        move |source| SpillError {
            action,
            dir: std::env::temp_dir(),
            source,
        }
    }
}

/// The run's trace index, kept within a memory budget by writing spans out to temporary files
/// (see the module documentation).
#[derive(Debug)]
pub struct BudgetedIndex {
    index: TraceIndex,
    budget: usize,
    /// The partitions' files, once the budget was first passed.
    spilled: Option<Partitions>,
}

impl Default for BudgetedIndex {
    fn default() -> Self {
        Self::new(budget())
    }
}

impl BudgetedIndex {
    pub fn new(budget: usize) -> Self {
        BudgetedIndex {
            index: TraceIndex::default(),
            budget,
            spilled: None,
        }
    }

    /// [`TraceIndex::merge`], writing the spans out when the index passes the budget.
    pub fn merge(&mut self, other: TraceIndex, file: usize) -> Result<(), SpillError> {
        self.index.merge(other, file);
        if self.index.memory() > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// [`TraceIndex::merge`] without the budget's check: a caller that keeps more per span
    /// (coverage's tally) checks the budget itself and calls [`spill`](Self::spill).
    pub(crate) fn merge_kept(&mut self, other: TraceIndex, file: usize) {
        self.index.merge(other, file);
    }

    /// The spans still in memory (all of them until the first spill).
    pub(crate) fn kept(&self) -> &TraceIndex {
        &self.index
    }

    /// The budget this index was made with.
    pub(crate) fn budget(&self) -> usize {
        self.budget
    }

    /// Whether spans were written to temporary files.
    pub fn has_spilled(&self) -> bool {
        self.spilled.is_some()
    }

    /// Writes the spans in memory out to the partitions and empties the index.
    pub(crate) fn spill(&mut self) -> Result<(), SpillError> {
        let partitions = match &mut self.spilled {
            Some(partitions) => partitions,
            None => self.spilled.insert(Partitions::create()?),
        };
        partitions.write(&self.index)?;
        self.index.forget_spans();
        Ok(())
    }

    /// [`TraceIndex::evaluate_each`] over every span, written out or not: the findings in the
    /// same order.
    pub fn evaluate_each(
        mut self,
        rules: &Ruleset,
        found: &mut dyn FnMut(TraceFinding) -> bool,
    ) -> Result<(), SpillError> {
        if self.spilled.is_none() {
            self.index.evaluate_each(rules, found);
            return Ok(());
        }
        self.spill()?;
        let Some(partitions) = self.spilled else {
            return Ok(());
        };
        // Partitions are independent: each core reads one back and evaluates it (reading
        // alone, one after the other, left the other core idle for a third of a second a GB).
        let index = &self.index;
        let sorted = partitions
            .into_readers()?
            .into_par_iter()
            .map(|records| SortedFindings::evaluate(index.read_partition(records)?, rules))
            .collect::<Result<Vec<_>, SpillError>>()?;
        merge_in_order(sorted, found)
    }

    /// [`TraceIndex::evaluate_per_trace`] over every span, written out or not, partition by
    /// partition.
    pub fn evaluate_per_trace(
        mut self,
        rules: &Ruleset,
        found: &mut dyn FnMut(&[TraceFinding]),
    ) -> Result<(), SpillError> {
        if self.spilled.is_none() {
            self.index.evaluate_per_trace(rules, found);
            return Ok(());
        }
        self.spill()?;
        let Some(partitions) = self.spilled else {
            return Ok(());
        };
        for records in partitions.into_readers()? {
            self.index
                .read_partition(records)?
                .evaluate_per_trace(rules, found);
        }
        Ok(())
    }
}

/// [`PARTITIONS`] anonymous temporary files, being written, each holding the records of
/// the traces whose id [`partition`] sends there (the trace index's, and coverage's own).
#[derive(Debug)]
pub(crate) struct Partitions {
    files: Vec<BufWriter<File>>,
}

impl Partitions {
    pub(crate) fn create() -> Result<Self, SpillError> {
        let files = (0..PARTITIONS)
            .map(|_| tempfile::tempfile().map(|f| BufWriter::with_capacity(1 << 16, f)))
            .collect::<io::Result<_>>()
            .map_err(SpillError::new("create"))?;
        Ok(Partitions { files })
    }

    /// Appends every span of `index` to its trace's partition, in the order they were added.
    fn write(&mut self, index: &TraceIndex) -> Result<(), SpillError> {
        index
            .write_records(&mut |trace_id, record| record.write(self.of_trace(trace_id)))
            .map_err(SpillError::new("write"))
    }

    /// The file of trace `trace_id`'s records.
    pub(crate) fn of_trace(&mut self, trace_id: u128) -> &mut BufWriter<File> {
        &mut self.files[partition(trace_id)]
    }

    /// The files, written, to be read from the start.
    pub(crate) fn into_readers(self) -> Result<Vec<BufReader<File>>, SpillError> {
        self.files
            .into_iter()
            .map(|writer| {
                let mut file = writer.into_inner().map_err(|e| e.into_error())?;
                file.rewind()?;
                Ok(BufReader::with_capacity(1 << 16, file))
            })
            .collect::<io::Result<_>>()
            .map_err(SpillError::new("write"))
    }
}

/// The partition of trace `trace_id`: a multiplicative hash's top bits, so ids that are not
/// random (written by hand, counters) spread too.
fn partition(trace_id: u128) -> usize {
    let folded = (trace_id as u64) ^ ((trace_id >> 64) as u64);
    (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize % PARTITIONS
}

/// One span as written to a partition: everything the index keeps about it, with strings
/// spelled out (a partition is read into an index of its own) except the shared profiles'.
struct SpanRecord<'a, S: AsRef<str>> {
    trace_id: u128,
    span_id: u64,
    /// 0 for a root span.
    parent_id: u64,
    genai: Option<GenAiParts<'a, S>>,
}

impl<S: AsRef<str>> SpanRecord<'_, S> {
    fn write(&self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(&self.trace_id.to_le_bytes())?;
        put_u64(out, self.span_id)?;
        put_u64(out, self.parent_id)?;
        let Some(g) = &self.genai else {
            return out.write_all(&[0]);
        };
        out.write_all(&[1])?;
        put_u32(out, g.file)?;
        put_u64(out, g.offset as u64)?;
        put_u32(out, g.profile)?;
        put_position(out, g.position)?;
        put_opt_str(out, g.tool_call_id)?;
        put_u32(out, g.requested.len() as u32)?;
        for id in g.requested {
            put_str(out, id.as_ref())?;
        }
        put_opt_str(out, g.trace_text)?;
        put_opt_str(out, g.span_text)
    }
}

/// A [`SpanRecord`] read back, owning its strings.
struct ReadRecord {
    trace_id: u128,
    span_id: u64,
    parent_id: u64,
    genai: Option<ReadGenAi>,
}

struct ReadGenAi {
    file: u32,
    offset: usize,
    profile: u32,
    position: Position,
    tool_call_id: Option<String>,
    requested: Vec<String>,
    trace_text: Option<String>,
    span_text: Option<String>,
}

impl ReadRecord {
    /// The next record, or `None` at the end of the file.
    fn read(input: &mut impl BufRead) -> io::Result<Option<Self>> {
        if input.fill_buf()?.is_empty() {
            return Ok(None);
        }
        let mut trace_id = [0; 16];
        input.read_exact(&mut trace_id)?;
        let trace_id = u128::from_le_bytes(trace_id);
        let span_id = get_u64(input)?;
        let parent_id = get_u64(input)?;
        let genai = match get_u8(input)? {
            0 => None,
            _ => Some(ReadGenAi {
                file: get_u32(input)?,
                offset: get_u64(input)? as usize,
                profile: get_u32(input)?,
                position: get_position(input)?,
                tool_call_id: get_opt_str(input)?,
                requested: (0..get_u32(input)?)
                    .map(|_| get_str(input))
                    .collect::<io::Result<_>>()?,
                trace_text: get_opt_str(input)?,
                span_text: get_opt_str(input)?,
            }),
        };
        Ok(Some(ReadRecord {
            trace_id,
            span_id,
            parent_id,
            genai,
        }))
    }
}

impl TraceIndex {
    /// An estimate of the index's memory, in bytes: what grows with the spans and traces.
    pub(crate) fn memory(&self) -> usize {
        use std::mem::size_of;
        self.spans.len() * size_of::<super::SpanLink>()
            + self.facts.len() * size_of::<super::StoredFacts>()
            + self.lines.len() * size_of::<[u32; 2]>()
            + self.tools.len() * size_of::<u32>()
            + self.files.len() * size_of::<(u32, u32)>()
            // The id, and its slots in the table of numbers (~1.5 of 5 bytes).
            + self.trace_numbers.len() * (size_of::<super::TraceKey>() + 8)
            + self.unusual.len() * 64
            // The text, its `Arc` and its entries in the list and the map.
            + self.strings.list.len() * 96
    }

    /// Hands every span, in the order it was added, to `write` with its trace id.
    fn write_records(
        &self,
        write: &mut dyn FnMut(u128, SpanRecord<'_, &str>) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut requested: Vec<&str> = Vec::new();
        for link in self.spans.iter() {
            let trace_id = super::trace_id(self.trace_numbers.ids[link.trace as usize]);
            let mut genai = None;
            if let Some(f) = self.facts.get(link.facts as usize) {
                let unusual = self.unusual.get(&link.facts).copied().unwrap_or_default();
                let (tool_call_id, ids) = self.tool_calls(f.tools);
                requested.clear();
                requested.extend(ids.iter().map(|&n| self.strings.get(n)));
                genai = Some(GenAiParts {
                    file: self.file_of(link.facts),
                    offset: f.offset,
                    profile: f.profile,
                    position: self.position_of(link.facts, f),
                    tool_call_id: (tool_call_id != NONE).then(|| self.strings.get(tool_call_id)),
                    requested: &requested,
                    trace_text: unusual.trace_id.map(|n| self.strings.get(n)),
                    span_text: unusual.span_id.map(|n| self.strings.get(n)),
                });
            }
            let record = SpanRecord {
                trace_id,
                span_id: link.span_id,
                parent_id: link.parent_id,
                genai,
            };
            write(trace_id, record)?;
        }
        Ok(())
    }

    /// Drops every span (they were written out), keeping the profiles and their strings, to
    /// which the written spans refer by number.
    fn forget_spans(&mut self) {
        let old = std::mem::take(&mut self.strings);
        let profiles = std::mem::take(&mut self.profiles);
        let mut keep = |n: u32| {
            if n == NONE {
                NONE
            } else {
                self.strings.intern_arc(&old.list[n as usize])
            }
        };
        let profiles: Vec<Profile> = profiles
            .into_iter()
            .map(|p| Profile {
                name: keep(p.name),
                service: keep(p.service),
                scope: keep(p.scope),
                ..p
            })
            .collect();
        *self = TraceIndex {
            profile_numbers: (0u32..).zip(&profiles).map(|(n, &p)| (p, n)).collect(),
            profiles,
            strings: std::mem::take(&mut self.strings),
            ..TraceIndex::default()
        };
    }

    /// A partition's spans read back into an index of their own, sharing this index's
    /// profiles (an index whose spans were all written out).
    fn read_partition(&self, mut records: impl BufRead) -> Result<TraceIndex, SpillError> {
        let mut part = TraceIndex {
            profiles: self.profiles.clone(),
            profile_numbers: self.profile_numbers.clone(),
            strings: self.strings.clone(),
            ..TraceIndex::default()
        };
        while let Some(record) = ReadRecord::read(&mut records).map_err(SpillError::new("read"))? {
            part.push_record(record);
        }
        Ok(part)
    }

    fn push_record(&mut self, r: ReadRecord) {
        let facts = match &r.genai {
            Some(g) => self.push_facts(GenAiParts {
                file: g.file,
                offset: g.offset,
                profile: g.profile,
                position: g.position,
                tool_call_id: g.tool_call_id.as_deref(),
                requested: &g.requested,
                trace_text: g.trace_text.as_deref(),
                span_text: g.span_text.as_deref(),
            }),
            None => NONE,
        };
        self.push_link(r.trace_id, r.span_id, r.parent_id, facts);
    }
}

/// A partition's trace findings in report order, in a temporary file, read one at a time.
struct SortedFindings {
    input: BufReader<File>,
    /// The file's next finding.
    next: Option<TraceFinding>,
    /// The last identity read: consecutive findings about one span share it, as they did.
    identity: Option<Arc<SpanIdentity>>,
}

impl SortedFindings {
    /// Evaluates a partition's traces, writing their findings in order to a temporary file.
    fn evaluate(part: TraceIndex, rules: &Ruleset) -> Result<Self, SpillError> {
        let file = tempfile::tempfile().map_err(SpillError::new("create"))?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        let mut failed = None;
        part.evaluate_each(rules, &mut |found| match write_finding(&mut out, &found) {
            Ok(()) => true,
            Err(err) => {
                failed = Some(err);
                false
            }
        });
        let write = SpillError::new("write");
        if let Some(err) = failed {
            return Err(write(err));
        }
        let mut file = out.into_inner().map_err(|e| write(e.into_error()))?;
        file.rewind().map_err(SpillError::new("write"))?;
        let mut sorted = SortedFindings {
            input: BufReader::with_capacity(1 << 16, file),
            next: None,
            identity: None,
        };
        sorted.advance()?;
        Ok(sorted)
    }

    /// Reads the next finding into `next`.
    fn advance(&mut self) -> Result<(), SpillError> {
        self.next = self.read().map_err(SpillError::new("read"))?;
        Ok(())
    }

    fn read(&mut self) -> io::Result<Option<TraceFinding>> {
        let input = &mut self.input;
        if input.fill_buf()?.is_empty() {
            return Ok(None);
        }
        let file = get_u64(input)? as usize;
        let position = get_position(input)?;
        let rule = get_str(input)?;
        let rule = crate::rules::TRACE_RULES
            .iter()
            .map(|r| r.info.id)
            .find(|&id| id == rule)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unknown rule id"))?;
        let severity = match get_u8(input)? {
            0 => Severity::Info,
            1 => Severity::Warning,
            _ => Severity::Error,
        };
        let message = get_str(input)?;
        let help = get_opt_str(input)?;
        let attribute = get_opt_str(input)?;
        let offset = get_u64(input)? as usize;
        let identity = SpanIdentity {
            trace_id: get_str(input)?,
            span_id: get_str(input)?,
            name: get_str(input)?,
            service: get_opt_str(input)?,
            scope: get_str(input)?,
        };
        let span = match &self.identity {
            Some(last) if **last == identity => last.clone(),
            _ => self.identity.insert(Arc::new(identity)).clone(),
        };
        Ok(Some(TraceFinding {
            file,
            position,
            finding: Finding {
                rule,
                severity,
                message,
                help,
                attribute,
                offset,
                span,
            },
        }))
    }

    /// The order of the next finding: by file, offset and rule, as [`super::Pending`] orders.
    fn key(&self) -> Option<(usize, usize, &'static str)> {
        self.next
            .as_ref()
            .map(|f| (f.file, f.finding.offset, f.finding.rule))
    }
}

fn write_finding(out: &mut impl Write, found: &TraceFinding) -> io::Result<()> {
    let f = &found.finding;
    put_u64(out, found.file as u64)?;
    put_position(out, found.position)?;
    put_str(out, f.rule)?;
    let severity = match f.severity {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Error => 2,
    };
    out.write_all(&[severity])?;
    put_str(out, &f.message)?;
    put_opt_str(out, f.help.as_deref())?;
    put_opt_str(out, f.attribute.as_deref())?;
    put_u64(out, f.offset as u64)?;
    put_str(out, &f.span.trace_id)?;
    put_str(out, &f.span.span_id)?;
    put_str(out, &f.span.name)?;
    put_opt_str(out, f.span.service.as_deref())?;
    put_str(out, &f.span.scope)
}

/// Hands on the partitions' findings in report order: always the least of their next ones.
fn merge_in_order(
    mut sorted: Vec<SortedFindings>,
    found: &mut dyn FnMut(TraceFinding) -> bool,
) -> Result<(), SpillError> {
    use std::cmp::Reverse;
    let mut heads: std::collections::BinaryHeap<_> = sorted
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some(Reverse((s.key()?, i))))
        .collect();
    while let Some(Reverse((_, i))) = heads.pop() {
        let source = &mut sorted[i];
        let Some(next) = source.next.take() else {
            continue;
        };
        source.advance()?;
        if let Some(key) = source.key() {
            heads.push(Reverse((key, i)));
        }
        if !found(next) {
            break;
        }
    }
    Ok(())
}

// The records' encoding: little-endian integers, strings as a `u32` length and UTF-8 bytes
// (length `NONE`: no string).

pub(crate) fn put_u32(out: &mut impl Write, n: u32) -> io::Result<()> {
    out.write_all(&n.to_le_bytes())
}

pub(crate) fn put_u64(out: &mut impl Write, n: u64) -> io::Result<()> {
    out.write_all(&n.to_le_bytes())
}

pub(crate) fn put_str(out: &mut impl Write, s: &str) -> io::Result<()> {
    let len = u32::try_from(s.len())
        .ok()
        .filter(|&n| n != NONE)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "string too long"))?;
    put_u32(out, len)?;
    out.write_all(s.as_bytes())
}

pub(crate) fn put_opt_str(out: &mut impl Write, s: Option<&str>) -> io::Result<()> {
    match s {
        Some(s) => put_str(out, s),
        None => put_u32(out, NONE),
    }
}

fn put_position(out: &mut impl Write, position: Position) -> io::Result<()> {
    match position {
        Position::LineColumn { line, column } => {
            out.write_all(&[0])?;
            put_u64(out, line as u64)?;
            put_u64(out, column as u64)
        }
        Position::Byte(at) => {
            out.write_all(&[1])?;
            put_u64(out, at as u64)
        }
    }
}

pub(crate) fn get_u8(input: &mut impl Read) -> io::Result<u8> {
    let mut b = [0; 1];
    input.read_exact(&mut b)?;
    Ok(b[0])
}

pub(crate) fn get_u32(input: &mut impl Read) -> io::Result<u32> {
    let mut b = [0; 4];
    input.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

pub(crate) fn get_u64(input: &mut impl Read) -> io::Result<u64> {
    let mut b = [0; 8];
    input.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

pub(crate) fn get_opt_str(input: &mut impl Read) -> io::Result<Option<String>> {
    let len = get_u32(input)?;
    if len == NONE {
        return Ok(None);
    }
    let mut bytes = vec![0; len as usize];
    input.read_exact(&mut bytes)?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

pub(crate) fn get_str(input: &mut impl Read) -> io::Result<String> {
    get_opt_str(input)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "a string was expected"))
}

fn get_position(input: &mut impl Read) -> io::Result<Position> {
    Ok(match get_u8(input)? {
        0 => Position::LineColumn {
            line: get_u64(input)? as usize,
            column: get_u64(input)? as usize,
        },
        _ => Position::Byte(get_u64(input)? as usize),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{GenAiFacts, OpClass, as_written, span_id_text, trace_id_text};

    /// A small deterministic generator (xorshift), so the test needs no crate.
    struct Dice(u64);

    impl Dice {
        fn roll(&mut self, sides: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % sides
        }
    }

    /// The chunk indexes of a run of five files (JSON and protobuf positions), with traces
    /// split over files and chunks, spans read twice, GenAI spans of every class with tool
    /// calls, ids written in odd ways and positions that are neither.
    fn run_pieces() -> Vec<(TraceIndex, usize)> {
        let mut dice = Dice(0x2545_f491_4f6c_dd1d);
        let mut pieces = Vec::new();
        // (trace id, span id) of every span so far, to pick parents and copies from.
        let mut spans: Vec<(u128, u64)> = Vec::new();
        for file in 0..5 {
            let json = file % 2 == 0;
            let mut offset = 0;
            for _chunk in 0..4 {
                let mut piece = TraceIndex::default();
                for _ in 0..150 {
                    offset += 10 + dice.roll(50) as usize;
                    // A copy of an earlier span, or a new span of an old or a new trace.
                    let (trace_id, span_id, parent_id) = if !spans.is_empty() && dice.roll(20) == 0
                    {
                        let (t, s) = spans[dice.roll(spans.len() as u64) as usize];
                        (t, s, 0)
                    } else {
                        let trace_id = match dice.roll(3) {
                            0 if !spans.is_empty() => {
                                spans[dice.roll(spans.len() as u64) as usize].0
                            }
                            _ => u128::from(dice.roll(400) + 1) << (dice.roll(3) * 40),
                        };
                        let parent = spans
                            .iter()
                            .rev()
                            .filter(|s| s.0 == trace_id)
                            .map(|s| s.1)
                            .nth(dice.roll(3) as usize)
                            .unwrap_or(match dice.roll(3) {
                                0 => 0,
                                _ => 0xdead_0000 + dice.roll(9),
                            });
                        let span_id = dice.roll(u64::MAX - 1) + 1;
                        spans.push((trace_id, span_id));
                        (trace_id, span_id, parent)
                    };
                    let facts = if dice.roll(3) == 0 {
                        None
                    } else {
                        Some(genai_facts(&mut dice, json, offset, trace_id, span_id))
                    };
                    let facts = match facts {
                        Some(g) => {
                            let identity = g.identity.clone();
                            let canonical = trace_id_text(trace_id);
                            let trace_text = as_written(&identity.trace_id, &canonical);
                            let canonical = span_id_text(span_id);
                            let span_text = as_written(&identity.span_id, &canonical);
                            piece.store(g, trace_text, span_text)
                        }
                        None => NONE,
                    };
                    piece.push_link(trace_id, span_id, parent_id, facts);
                }
                pieces.push((piece, file));
            }
        }
        pieces
    }

    /// A GenAI span's facts, of any class, with tool calls, its ids sometimes in upper case
    /// and its position sometimes neither its offset nor a line.
    fn genai_facts(
        dice: &mut Dice,
        json: bool,
        offset: usize,
        trace_id: u128,
        span_id: u64,
    ) -> GenAiFacts {
        let classes = [
            OpClass::InvokeAgent,
            OpClass::Agent,
            OpClass::Inference,
            OpClass::Tool,
            OpClass::Other,
        ];
        let class = classes[dice.roll(5) as usize];
        let call = format!("call_{}", dice.roll(30));
        let position = match (json, dice.roll(30)) {
            (_, 0) => Position::Byte(offset + 1),
            (true, _) => Position::LineColumn {
                line: offset / 70 + 1,
                column: offset % 70 + 1,
            },
            (false, _) => Position::Byte(offset),
        };
        let mut written = |text: String| match dice.roll(10) {
            0 => text.to_uppercase(),
            _ => text,
        };
        let identity = SpanIdentity {
            trace_id: written(format!("{trace_id:032x}")),
            span_id: written(format!("{span_id:016x}")),
            name: format!("span {}", dice.roll(6)),
            service: (dice.roll(4) != 0).then(|| "svc".to_string()),
            scope: format!("scope {}", dice.roll(2)),
        };
        GenAiFacts {
            class,
            usage: dice.roll(2) == 0,
            server: dice.roll(8) == 0,
            missing_context: dice.roll(4),
            tool_call_id: (class == OpClass::Tool).then_some(call),
            requested_tool_calls: (0..dice.roll(3))
                .map(|i| format!("call_{}", dice.roll(30) + i))
                .collect(),
            file: 0,
            offset,
            position,
            identity: Arc::new(identity),
        }
    }

    fn in_memory() -> TraceIndex {
        let mut index = TraceIndex::default();
        for (piece, file) in run_pieces() {
            index.merge(piece, file);
        }
        index
    }

    fn budgeted(budget: usize) -> BudgetedIndex {
        let mut index = BudgetedIndex::new(budget);
        for (piece, file) in run_pieces() {
            index.merge(piece, file).unwrap();
        }
        index
    }

    fn described(findings: &[TraceFinding]) -> Vec<String> {
        findings.iter().map(|f| format!("{f:?}")).collect()
    }

    #[test]
    fn a_spilled_index_gives_the_findings_of_the_whole_one_in_the_same_order() {
        let rules = Ruleset::builtin();
        let expected = described(&in_memory().evaluate(&rules));
        let rules_found: std::collections::BTreeSet<&str> = in_memory()
            .evaluate(&rules)
            .iter()
            .map(|f| f.finding.rule)
            .collect();
        // The run is varied enough to matter: every trace rule but one that needs a deep
        // agent trace has something to say.
        assert!(rules_found.len() >= 4, "{rules_found:?}");
        // Spilling at every merge, now and then, and never.
        for budget in [1, 20_000, 60_000, usize::MAX] {
            let index = budgeted(budget);
            assert_eq!(index.has_spilled(), budget != usize::MAX, "budget {budget}");
            let mut found = Vec::new();
            index
                .evaluate_each(&rules, &mut |f| {
                    found.push(f);
                    true
                })
                .unwrap();
            assert!(described(&found) == expected, "budget {budget}");
        }
    }

    #[test]
    fn a_spilled_index_gives_each_trace_the_findings_of_the_whole_one() {
        let rules = Ruleset::builtin();
        // Each trace's findings (sorted), the traces sorted.
        fn collect(traces: &mut Vec<Vec<String>>) -> impl FnMut(&[TraceFinding]) + '_ {
            |findings| {
                let mut trace = described(findings);
                trace.sort();
                traces.push(trace);
            }
        }
        let mut expected = Vec::new();
        in_memory().evaluate_per_trace(&rules, &mut collect(&mut expected));
        expected.sort();
        assert!(expected.len() > 100);
        let mut spilled = Vec::new();
        budgeted(1)
            .evaluate_per_trace(&rules, &mut collect(&mut spilled))
            .unwrap();
        spilled.sort();
        assert!(spilled == expected);
    }

    #[test]
    fn a_stopped_merge_hands_on_no_more() {
        let rules = Ruleset::builtin();
        let mut found = 0;
        budgeted(1)
            .evaluate_each(&rules, &mut |_| {
                found += 1;
                found < 3
            })
            .unwrap();
        assert_eq!(found, 3);
    }

    #[test]
    fn partitions_spread_counters_and_random_ids() {
        let used = |ids: &mut dyn Iterator<Item = u128>| {
            ids.map(partition)
                .collect::<std::collections::HashSet<_>>()
                .len()
        };
        assert_eq!(used(&mut (1..=1000u128)), PARTITIONS);
        assert_eq!(used(&mut (1..=1000u128).map(|n| n << 64)), PARTITIONS);
    }
}
