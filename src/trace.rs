//! The trace index: what the trace-level rules (`orphan-span`, `tool-outside-agent`, …) need to
//! know about every span of the input, kept small so memory stays proportional to the number of
//! spans and not to their size.
//!
//! [`check::check_file`](crate::check::check_file) records every span with a trace and span id
//! while it checks the file: its ids and parent id, and for GenAI spans a few facts (operation
//! class, whether it records token usage, its tool call id, the tool calls its output messages
//! request, which context keys it lacks) plus where it is (file, offset, position, identity). No
//! attribute values are kept, except tool call ids.
//!
//! A trace may be split over several dump files, so the per-file indexes are merged and the
//! trace-level rules run once per run, after every file was read
//! ([`check::check_traces`](crate::check::check_traces)).

use std::collections::HashSet;
use std::hash::BuildHasher;

// foldhash, not SipHash: every span's trace id is looked up here.
use foldhash::HashMap;
use rayon::prelude::*;

use crate::finding::{Finding, SpanIdentity};
use crate::input::Position;
use crate::model::Offset;
use crate::rules::SpanContext;

pub(crate) mod spill;
pub use spill::{BudgetedIndex, DEFAULT_BUDGET, PARTITIONS, SpillError};

/// What a GenAI span does, as far as the trace-level rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpClass {
    /// `invoke_agent`.
    InvokeAgent,
    /// `create_agent`, `invoke_workflow`, `plan`: agent work that may run tools.
    Agent,
    /// `chat`, `generate_content`, `text_completion`.
    Inference,
    /// `execute_tool`.
    Tool,
    Other,
}

impl OpClass {
    fn of(operation: Option<&str>) -> Self {
        match operation {
            Some("invoke_agent") => OpClass::InvokeAgent,
            Some("create_agent" | "invoke_workflow" | "plan") => OpClass::Agent,
            Some("chat" | "generate_content" | "text_completion") => OpClass::Inference,
            Some("execute_tool") => OpClass::Tool,
            _ => OpClass::Other,
        }
    }
}

/// The facts kept about one GenAI span.
#[derive(Debug, Clone)]
pub struct GenAiFacts {
    pub class: OpClass,
    /// The span records token usage (one of `[trace] usage-keys`).
    pub usage: bool,
    /// The span is the server side of a remote call (kind SERVER: an MCP server's tool call);
    /// its caller is in another process.
    pub server: bool,
    /// Bit `i` set: `[trace] context-keys[i]` is missing on the span.
    pub missing_context: u64,
    /// `gen_ai.tool.call.id` of an execute_tool span.
    pub tool_call_id: Option<String>,
    /// Ids of the tool calls the span's recorded output messages request.
    pub requested_tool_calls: Vec<String>,
    /// Index of the file in the run (set when the per-file indexes are merged).
    pub file: usize,
    pub offset: Offset,
    pub position: Position,
    pub identity: std::sync::Arc<SpanIdentity>,
}

/// One span of a trace.
#[derive(Debug, Clone)]
pub struct Node {
    pub span_id: u64,
    /// `None` for a root span.
    pub parent_id: Option<u64>,
    /// Facts about GenAI spans (none for other spans).
    pub genai: Option<SpanFacts>,
}

/// What the trace rules read of a GenAI span. Where the span is and which span it is are
/// looked up in the index only for a finding ([`Trace::finding`]): most spans have none.
#[derive(Debug, Clone)]
pub struct SpanFacts {
    pub class: OpClass,
    /// The span records token usage (one of `[trace] usage-keys`).
    pub usage: bool,
    /// The span is the server side of a remote call (see [`GenAiFacts::server`]).
    pub server: bool,
    /// Bit `i` set: `[trace] context-keys[i]` is missing on the span.
    pub missing_context: u64,
    /// `gen_ai.tool.call.id` of an execute_tool span.
    pub tool_call_id: Option<String>,
    /// Ids of the tool calls the span's recorded output messages request.
    pub requested_tool_calls: Vec<String>,
    /// Index of the span's facts in the [`TraceIndex`].
    stored: u32,
}

/// Every span of one trace in the input.
#[derive(Debug)]
pub struct Trace<'i> {
    pub nodes: Vec<Node>,
    /// The index the trace's spans are in, for the place and identity of findings.
    index: &'i TraceIndex,
    trace_id: u128,
    /// Per node, its parent's node ([`NONE`] for a root span or a parent not in the input).
    parents: Vec<u32>,
    children: Vec<u32>,
    /// Per node, the nearest ancestor that is a GenAI span.
    genai_above: Vec<Option<usize>>,
    /// Per node, the top of its chain of ancestors (a span whose parent is not in the input).
    top: Vec<Option<usize>>,
}

impl<'i> Trace<'i> {
    fn new(index: &'i TraceIndex, trace_id: u128, mut nodes: Vec<Node>) -> Self {
        // The same span read twice (a dump checked in two formats, or twice over) is one span:
        // keep its first copy, or its copies would look like childless siblings.
        let mut by_id = ids_sorted(&nodes);
        if by_id.windows(2).any(|w| w[0].0 == w[1].0) {
            let mut keep = vec![true; nodes.len()];
            // Sorted by id, then node: a run of one id starts with its first copy.
            for w in by_id.windows(2).filter(|w| w[0].0 == w[1].0) {
                keep[w[1].1 as usize] = false;
            }
            let mut keep = keep.into_iter();
            nodes.retain(|_| keep.next().unwrap_or(true));
            by_id = ids_sorted(&nodes);
        }
        // A sorted list, not a hash map: most traces have a handful of spans, and a map built
        // for each cost more than the rules that ask it.
        let node_of = |id: u64| {
            by_id
                .binary_search_by_key(&id, |&(id, _)| id)
                .map_or(NONE, |at| by_id[at].1)
        };
        let parents: Vec<u32> = nodes
            .iter()
            .map(|n| n.parent_id.map_or(NONE, node_of))
            .collect();
        let mut children = vec![0; nodes.len()];
        for &p in parents.iter().filter(|&&p| p != NONE) {
            children[p as usize] += 1;
        }
        let mut trace = Trace {
            nodes,
            index,
            trace_id,
            parents,
            children,
            genai_above: Vec::new(),
            top: Vec::new(),
        };
        trace.genai_above = trace.nearest_ancestors(|a| trace.nodes[a].genai.is_some());
        trace.top = trace.nearest_ancestors(|a| trace.parent(a).is_none());
        trace
    }

    /// For every node, its nearest ancestor for which `pred` holds, in time linear in the
    /// number of spans (walking each span's ancestors would be quadratic in a deep trace).
    /// In a cycle of parents, every member's answer is a member for which `pred` holds, if any.
    pub fn nearest_ancestors(&self, pred: impl Fn(usize) -> bool) -> Vec<Option<usize>> {
        const NEW: u8 = 0;
        const ON_PATH: u8 = 1;
        const DONE: u8 = 2;
        let n = self.nodes.len();
        let mut state = vec![NEW; n];
        let mut nearest: Vec<Option<usize>> = vec![None; n];
        let mut path = Vec::new();
        for start in 0..n {
            let mut cur = start;
            loop {
                match state[cur] {
                    DONE => break,
                    ON_PATH => {
                        let pos = path.iter().position(|&x| x == cur).unwrap_or(0);
                        let hit = path[pos..].iter().copied().find(|&m| pred(m));
                        for &m in &path[pos..] {
                            nearest[m] = hit;
                            state[m] = DONE;
                        }
                        path.truncate(pos);
                        break;
                    }
                    _ => {}
                }
                state[cur] = ON_PATH;
                path.push(cur);
                match self.parent(cur) {
                    Some(p) => cur = p,
                    None => break,
                }
            }
            while let Some(m) = path.pop() {
                nearest[m] = self
                    .parent(m)
                    .and_then(|p| if pred(p) { Some(p) } else { nearest[p] });
                state[m] = DONE;
            }
        }
        nearest
    }

    /// The nearest ancestor that is a GenAI span.
    pub fn genai_ancestor(&self, node: usize) -> Option<usize> {
        self.genai_above.get(node).copied().flatten()
    }

    /// The parent's node, when the span has a parent and it is in the input.
    pub fn parent(&self, node: usize) -> Option<usize> {
        match self.parents[node] {
            NONE => None,
            p => Some(p as usize),
        }
    }

    /// Whether the span names a parent that is not in the input.
    pub fn parent_missing(&self, node: usize) -> bool {
        self.nodes[node].parent_id.is_some() && self.parent(node).is_none()
    }

    /// How many spans of the input name this one as their parent.
    pub fn child_count(&self, node: usize) -> usize {
        self.children[node] as usize
    }

    /// The span's ancestors, nearest first, as far as the input has them (cycles stop).
    pub fn ancestors(&self, node: usize) -> impl Iterator<Item = usize> + '_ {
        let mut seen = 0usize;
        let limit = self.nodes.len();
        std::iter::successors(self.parent(node), move |&n| {
            seen += 1;
            if seen >= limit { None } else { self.parent(n) }
        })
    }

    /// Whether the chain of parents reaches a root span (no span on it is missing).
    pub fn reaches_root(&self, node: usize) -> bool {
        let top = match self.parent(node) {
            None => Some(node),
            Some(_) => self.top.get(node).copied().flatten(),
        };
        top.is_some_and(|t| self.nodes[t].parent_id.is_none())
    }

    pub fn genai(&self, node: usize) -> Option<&SpanFacts> {
        self.nodes[node].genai.as_ref()
    }

    /// The GenAI spans, in input order.
    pub fn genai_nodes(&self) -> impl Iterator<Item = (usize, &SpanFacts)> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.genai.as_ref().map(|g| (i, g)))
    }

    /// The name of a GenAI span (empty for another span).
    pub fn span_name(&self, node: usize) -> &str {
        self.genai(node)
            .map_or("", |g| self.index.name_of(g.stored))
    }

    /// A finding about a GenAI span of this trace.
    pub fn finding(
        &self,
        node: usize,
        info: &crate::rules::RuleInfo,
        message: String,
        help: Option<String>,
        attribute: Option<&str>,
    ) -> TraceFinding {
        let stored = self
            .genai(node)
            .expect("trace findings are about GenAI spans")
            .stored;
        let (file, offset, position) = self.index.place(stored);
        let span_id = self.nodes[node].span_id;
        TraceFinding {
            file,
            position,
            finding: Finding {
                rule: info.id,
                severity: info.default_severity,
                message,
                help,
                attribute: attribute.map(str::to_string),
                offset,
                span: std::sync::Arc::new(self.index.identity(stored, self.trace_id, span_id)),
            },
        }
    }
}

/// Each node's span id with the node, sorted.
fn ids_sorted(nodes: &[Node]) -> Vec<(u64, u32)> {
    let mut ids: Vec<(u64, u32)> = (0u32..).zip(nodes).map(|(i, n)| (n.span_id, i)).collect();
    ids.sort_unstable();
    ids
}

/// A finding of a trace-level rule, with the file and place of its span.
#[derive(Debug, Clone)]
pub struct TraceFinding {
    pub file: usize,
    pub position: Position,
    pub finding: Finding,
}

/// Every span of the input, kept compact: memory grows by a few dozen bytes per span (ids as
/// numbers, strings interned, what many spans share stored once, no allocation per span),
/// whatever the spans' size: 24 bytes per span, 16 more per GenAI span (24 with a line and
/// column), and 16 per trace plus its slots in the table that finds it (5 bytes each, 1.1 to
/// 2.3 slots a trace).
///
/// A trace may be split over files and chunks, so no trace can be finished early; the spans
/// are grouped by trace only in [`evaluate`](TraceIndex::evaluate), one [`Trace`] at a time.
#[derive(Debug, Default)]
pub struct TraceIndex {
    /// Trace ids, numbered in order of first appearance.
    trace_numbers: TraceNumbers,
    /// Every span, in the order it was added.
    spans: Blocks<SpanLink>,
    /// The facts of the GenAI spans, in the order they were added.
    facts: Blocks<StoredFacts>,
    /// The file of the facts from each entry on: `(index into facts, file)`, ascending (set
    /// when indexes are merged; none means file 0).
    files: Vec<(u32, u32)>,
    /// Each fact's position: [`Position::LineColumn`] when the line is not 0, else
    /// [`Position::Byte`] at its offset; [`NONE`] in both: the position is in `unusual`.
    /// Empty while every position is a byte offset (protobuf), else one entry per fact.
    lines: Blocks<[u32; 2]>,
    /// What does not fit [`StoredFacts`]' compact fields, by index into `facts` (rare: ids
    /// not written as lowercase hex, positions past 2^32).
    unusual: HashMap<u32, Unusual>,
    /// The distinct [`Profile`]s, by number (a dump has few: spans repeat names and services).
    profiles: Vec<Profile>,
    profile_numbers: HashMap<Profile, u32>,
    /// The tool calls of the GenAI spans that have any: `[tool call id or NONE, n, n ids of
    /// requested tool calls]` at the index in `StoredFacts::tools`.
    tools: Vec<u32>,
    strings: Strings,
    /// The strings and profile of the last GenAI span stored: the next one mostly shares them
    /// (a batch's spans share their service and scope), and comparing is cheaper than hashing.
    recent: Recent,
}

/// Numbers of the last [`Profile`] and its strings stored; each is checked against what it
/// numbers before it is used, so one that is out of date (after a merge) is merely missed.
#[derive(Debug, Default)]
struct Recent {
    name: u32,
    service: u32,
    scope: u32,
    profile: u32,
}

/// A trace id as two halves (high, low).
pub(crate) type TraceKey = [u64; 2];

/// Trace ids numbered in order of first appearance: the ids in a list (16 bytes each), found
/// through a hash table of their numbers (4 bytes and a control byte a slot), where a map of
/// id → number would take 25 bytes a slot.
#[derive(Debug, Default)]
struct TraceNumbers {
    ids: Blocks<TraceKey>,
    table: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl TraceNumbers {
    /// The number of trace `id`, numbering it if it is new.
    fn number(&mut self, id: TraceKey) -> u32 {
        let Self { ids, table, hasher } = self;
        let same = |&n: &u32| ids[n as usize] == id;
        let rehash = |&n: &u32| hasher.hash_one(ids[n as usize]);
        match table.entry(hasher.hash_one(id), same, rehash) {
            hashbrown::hash_table::Entry::Occupied(entry) => *entry.get(),
            hashbrown::hash_table::Entry::Vacant(slot) => {
                let n = u32::try_from(ids.len()).unwrap_or(NONE);
                slot.insert(n);
                ids.push(id);
                n
            }
        }
    }

    /// The number of trace `id`, if it has one.
    fn get(&self, id: TraceKey) -> Option<u32> {
        let same = |&n: &u32| self.ids[n as usize] == id;
        self.table.find(self.hasher.hash_one(id), same).copied()
    }

    fn len(&self) -> usize {
        self.ids.len()
    }
}

pub(crate) fn trace_key(id: u128) -> TraceKey {
    [(id >> 64) as u64, id as u64]
}

fn trace_id(key: TraceKey) -> u128 {
    (u128::from(key[0]) << 64) | u128::from(key[1])
}

/// One span of the index: its trace's number, its ids and its facts' index.
#[derive(Debug, Clone, Copy)]
struct SpanLink {
    trace: u32,
    /// Index into `facts`, or [`NONE`] for a span that is not a GenAI span.
    facts: u32,
    span_id: u64,
    /// 0 for a root span.
    parent_id: u64,
}

/// "No such entry" for the `u32` references of the index.
const NONE: u32 = u32::MAX;

/// Index `n` of a merged-in index, moved past the `base` entries already there ([`NONE`] stays).
fn shifted(n: u32, base: u32) -> u32 {
    if n == NONE { NONE } else { n + base }
}

/// [`GenAiFacts`] with what spans share numbered (16 bytes; the index holds one per GenAI
/// span; the file is in `TraceIndex::files`, the line and column in `TraceIndex::lines`).
#[derive(Debug, Clone, Copy)]
struct StoredFacts {
    offset: Offset,
    /// Index into `TraceIndex::profiles`.
    profile: u32,
    /// Index into `TraceIndex::tools`, [`NONE`] for a span without tool calls.
    tools: u32,
}

/// The facts many GenAI spans share: identity strings (interned) and the flags the trace
/// rules read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Profile {
    missing_context: u64,
    name: u32,
    service: u32,
    scope: u32,
    class: OpClass,
    usage: bool,
    server: bool,
}

/// What the index stores of one GenAI span, with its [`Profile`] numbered: from
/// [`GenAiFacts`], or read back from a temporary file ([`spill`]).
struct GenAiParts<'a, S: AsRef<str>> {
    file: u32,
    offset: Offset,
    profile: u32,
    position: Position,
    tool_call_id: Option<&'a str>,
    requested: &'a [S],
    /// The ids as written, when that is not their lowercase hex.
    trace_text: Option<&'a str>,
    span_text: Option<&'a str>,
}

/// An id's text, when it is not `canonical`, its lowercase hex (rare: then it is kept).
#[cfg(test)]
fn as_written<'a>(text: &'a str, canonical: &str) -> Option<&'a str> {
    (text != canonical).then_some(text)
}

/// The parts of a GenAI span's facts that rarely occur, kept aside.
#[derive(Debug, Clone, Copy, Default)]
struct Unusual {
    /// The identity's ids as written, when that is not the ids' lowercase hex.
    trace_id: Option<u32>,
    span_id: Option<u32>,
    position: Option<Position>,
}

/// A list that grows in blocks of [`Blocks::BLOCK`] entries instead of doubling one buffer:
/// a large index is never copied whole, nor held twice while it grows.
#[derive(Debug)]
pub(crate) struct Blocks<T> {
    blocks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Blocks<T> {
    fn default() -> Self {
        Blocks {
            blocks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Blocks<T> {
    const BLOCK: usize = 1 << 14;

    pub(crate) fn push(&mut self, value: T) {
        match self.blocks.last_mut() {
            Some(last) if last.len() < Self::BLOCK => last.push(value),
            // The first block grows as a `Vec` does (a chunk's index is small); the next
            // ones are allocated whole.
            Some(_) => {
                let mut block = Vec::with_capacity(Self::BLOCK);
                block.push(value);
                self.blocks.push(block);
            }
            None => self.blocks.push(vec![value]),
        }
        self.len += 1;
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn get(&self, i: usize) -> Option<&T> {
        self.blocks.get(i / Self::BLOCK)?.get(i % Self::BLOCK)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.blocks.iter().flatten()
    }
}

impl<T> std::ops::Index<usize> for Blocks<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        &self.blocks[i / Self::BLOCK][i % Self::BLOCK]
    }
}

impl<T> IntoIterator for Blocks<T> {
    type Item = T;
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Vec<T>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.blocks.into_iter().flatten()
    }
}

/// Distinct strings, each stored once and referred to by number.
#[derive(Debug, Default, Clone)]
struct Strings {
    numbers: HashMap<std::sync::Arc<str>, u32>,
    list: Vec<std::sync::Arc<str>>,
}

impl Strings {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&n) = self.numbers.get(s) {
            return n;
        }
        self.add(s.into())
    }

    /// [`intern`](Self::intern), first trying the number in `recent`, which it then updates.
    fn intern_recent(&mut self, s: &str, recent: &mut u32) -> u32 {
        if self.list.get(*recent as usize).is_some_and(|r| **r == *s) {
            return *recent;
        }
        *recent = self.intern(s);
        *recent
    }

    fn intern_arc(&mut self, s: &std::sync::Arc<str>) -> u32 {
        if let Some(&n) = self.numbers.get(s) {
            return n;
        }
        self.add(s.clone())
    }

    fn add(&mut self, s: std::sync::Arc<str>) -> u32 {
        let n = u32::try_from(self.list.len()).unwrap_or(NONE);
        self.numbers.insert(s.clone(), n);
        self.list.push(s);
        n
    }

    fn get(&self, n: u32) -> &str {
        self.list.get(n as usize).map_or("", |s| s)
    }
}

impl TraceIndex {
    /// Records one span (any span: non-GenAI spans are parents and children too). Spans
    /// without valid ids are left out.
    pub fn add(&mut self, span: &crate::model::Span<'_>, genai: Option<GenAiFacts>) {
        let (Some(trace_id), Some(span_id)) = (span.trace_id.as_u128(), span.span_id.as_u64())
        else {
            return;
        };
        if trace_id == 0 || span_id == 0 {
            return;
        }
        let parent_id = span.parent_span_id.as_u64().unwrap_or(0);
        let facts = match genai {
            // The identity's ids are the span's: kept as text only when the numbers do not
            // give it back (not 16 and 8 bytes).
            Some(g) => {
                let written = |id: &crate::model::Id, len| {
                    id.bytes_of_len(len).is_none().then(|| id.to_text())
                };
                let trace_text = written(&span.trace_id, 16);
                let span_text = written(&span.span_id, 8);
                self.store(g, trace_text.as_deref(), span_text.as_deref())
            }
            None => NONE,
        };
        self.push_link(trace_id, span_id, parent_id, facts);
    }

    /// Stores a GenAI span's facts, with its ids' text when it is not their lowercase hex.
    fn store(&mut self, g: GenAiFacts, trace_text: Option<&str>, span_text: Option<&str>) -> u32 {
        let identity = &g.identity;
        let (strings, recent) = (&mut self.strings, &mut self.recent);
        let profile = Profile {
            missing_context: g.missing_context,
            name: strings.intern_recent(&identity.name, &mut recent.name),
            service: identity
                .service
                .as_deref()
                .map_or(NONE, |s| strings.intern_recent(s, &mut recent.service)),
            scope: strings.intern_recent(&identity.scope, &mut recent.scope),
            class: g.class,
            usage: g.usage,
            server: g.server,
        };
        let profile = self.profile_number(profile);
        self.push_facts(GenAiParts {
            file: u32::try_from(g.file).unwrap_or(NONE),
            offset: g.offset,
            profile,
            position: g.position,
            tool_call_id: g.tool_call_id.as_deref(),
            requested: &g.requested_tool_calls,
            trace_text,
            span_text,
        })
    }

    /// Stores a GenAI span's facts (the profile already numbered); their index.
    fn push_facts<S: AsRef<str>>(&mut self, g: GenAiParts<'_, S>) -> u32 {
        let n = u32::try_from(self.facts.len()).unwrap_or(NONE);
        let strings = &mut self.strings;
        let mut unusual = Unusual {
            trace_id: g.trace_text.map(|text| strings.intern(text)),
            span_id: g.span_text.map(|text| strings.intern(text)),
            position: None,
        };
        let (line, column) = match g.position {
            Position::Byte(at) if at == g.offset => (0, 0),
            Position::LineColumn { line, column } => {
                match (u32::try_from(line), u32::try_from(column)) {
                    (Ok(line), Ok(column)) if line != 0 && line != NONE => (line, column),
                    _ => (NONE, NONE),
                }
            }
            Position::Byte(_) => (NONE, NONE),
        };
        if line == NONE {
            unusual.position = Some(g.position);
        }
        if unusual.trace_id.is_some() || unusual.span_id.is_some() || unusual.position.is_some() {
            self.unusual.insert(n, unusual);
        }
        let tools = if g.tool_call_id.is_none() && g.requested.is_empty() {
            NONE
        } else {
            let start = u32::try_from(self.tools.len()).unwrap_or(NONE);
            self.tools
                .push(g.tool_call_id.map_or(NONE, |s| strings.intern(s)));
            self.tools
                .push(u32::try_from(g.requested.len()).unwrap_or(NONE));
            for id in g.requested {
                self.tools.push(strings.intern(id.as_ref()));
            }
            start
        };
        if !(self.files.is_empty() && g.file == 0) {
            self.set_file(n, g.file);
        }
        if line != 0 || !self.lines.is_empty() {
            self.pad_lines(n as usize);
            self.lines.push([line, column]);
        }
        self.facts.push(StoredFacts {
            offset: g.offset,
            profile: g.profile,
            tools,
        });
        n
    }

    /// Records a span of trace `trace_id` (`facts`: its facts' index, or [`NONE`]).
    fn push_link(&mut self, trace_id: u128, span_id: u64, parent_id: u64, facts: u32) {
        let trace = self.trace_numbers.number(trace_key(trace_id));
        self.spans.push(SpanLink {
            trace,
            facts,
            span_id,
            parent_id,
        });
    }

    /// Records a span with no GenAI facts (coverage reads a partition's spans back so).
    pub(crate) fn push_ids(&mut self, trace_id: u128, span_id: u64, parent_id: u64) {
        self.push_link(trace_id, span_id, parent_id, NONE);
    }

    /// The trace id of trace number `trace` (as [`span_ids`](Self::span_ids) gives it).
    pub(crate) fn trace_id_of(&self, trace: u32) -> u128 {
        trace_id(self.trace_numbers.ids[trace as usize])
    }

    /// Gives the facts before index `len` a byte position in `lines` if they have none yet.
    fn pad_lines(&mut self, len: usize) {
        while self.lines.len() < len {
            self.lines.push([0, 0]);
        }
    }

    fn profile_number(&mut self, profile: Profile) -> u32 {
        let recent = self.recent.profile;
        if self.profiles.get(recent as usize) == Some(&profile) {
            return recent;
        }
        let next = u32::try_from(self.profiles.len()).unwrap_or(NONE);
        let n = *self.profile_numbers.entry(profile).or_insert(next);
        if n == next {
            self.profiles.push(profile);
        }
        self.recent.profile = n;
        n
    }

    /// Marks the facts from index `start` on as file `file`'s.
    fn set_file(&mut self, start: u32, file: u32) {
        if self.files.is_empty() && start > 0 {
            self.files.push((0, 0));
        }
        match self.files.last_mut() {
            Some(last) if last.1 == file => {}
            Some(last) if last.0 == start => last.1 = file,
            _ => self.files.push((start, file)),
        }
    }

    /// The file of the facts at index `n`.
    fn file_of(&self, n: u32) -> u32 {
        let after = self.files.partition_point(|&(start, _)| start <= n);
        after.checked_sub(1).map_or(0, |i| self.files[i].1)
    }

    /// Adds another file's spans, marking their GenAI facts with that file's index.
    pub fn merge(&mut self, other: TraceIndex, file: usize) {
        let file = u32::try_from(file).unwrap_or(NONE);
        // An index whose spans were written out keeps its profiles, which they refer to.
        if self.spans.is_empty() && self.profiles.is_empty() {
            *self = other;
            self.files.clear();
            if !self.facts.is_empty() {
                self.files.push((0, file));
            }
            return;
        }
        let traces: Vec<u32> = other
            .trace_numbers
            .ids
            .into_iter()
            .map(|id| self.trace_numbers.number(id))
            .collect();
        let strings: Vec<u32> = other
            .strings
            .list
            .iter()
            .map(|s| self.strings.intern_arc(s))
            .collect();
        let string = |n: u32| if n == NONE { NONE } else { strings[n as usize] };
        let profiles: Vec<u32> = other
            .profiles
            .iter()
            .map(|p| {
                self.profile_number(Profile {
                    name: string(p.name),
                    service: string(p.service),
                    scope: string(p.scope),
                    ..*p
                })
            })
            .collect();
        let facts_base = u32::try_from(self.facts.len()).unwrap_or(NONE);
        if !other.facts.is_empty() {
            self.set_file(facts_base, file);
        }
        let tools_base = u32::try_from(self.tools.len()).unwrap_or(NONE);
        let mut at = 0;
        while at + 1 < other.tools.len() {
            let requested = other.tools[at + 1] as usize;
            self.tools.push(string(other.tools[at]));
            self.tools.push(other.tools[at + 1]);
            let ids = other.tools.get(at + 2..at + 2 + requested).unwrap_or(&[]);
            self.tools.extend(ids.iter().map(|&n| string(n)));
            at += 2 + requested;
        }
        for (n, u) in other.unusual {
            let unusual = Unusual {
                trace_id: u.trace_id.map(string),
                span_id: u.span_id.map(string),
                ..u
            };
            self.unusual.insert(n + facts_base, unusual);
        }
        if !other.lines.is_empty() || !self.lines.is_empty() {
            self.pad_lines(facts_base as usize);
            for entry in other.lines {
                self.lines.push(entry);
            }
            self.pad_lines(facts_base as usize + other.facts.len());
        }
        for f in other.facts {
            self.facts.push(StoredFacts {
                profile: profiles[f.profile as usize],
                tools: shifted(f.tools, tools_base),
                ..f
            });
        }
        for s in other.spans {
            self.spans.push(SpanLink {
                trace: traces[s.trace as usize],
                facts: shifted(s.facts, facts_base),
                ..s
            });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// How many spans were recorded (copies of a span read twice included).
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    /// The trace number, span id and parent id (0 for none) of the `n`th span recorded.
    pub(crate) fn span_ids(&self, n: usize) -> (u32, u64, u64) {
        let span = self.spans[n];
        (span.trace, span.span_id, span.parent_id)
    }

    /// How many distinct trace ids the recorded spans have.
    pub(crate) fn trace_count(&self) -> usize {
        self.trace_numbers.len()
    }

    /// Whether a recorded span has the trace id `id`.
    pub(crate) fn has_trace(&self, id: TraceKey) -> bool {
        self.trace_numbers.get(id).is_some()
    }

    /// Runs every trace-level rule over every trace; the findings in a stable order (by file,
    /// then offset, then rule).
    pub fn evaluate(self, rules: &crate::rules::Ruleset) -> Vec<TraceFinding> {
        let mut out = Vec::new();
        self.evaluate_each(rules, &mut |found| {
            out.push(found);
            true
        });
        out
    }

    /// [`evaluate`](TraceIndex::evaluate) handing each finding to `found` as soon as no later
    /// trace can come before it, so only the findings of the traces that overlap in the input
    /// are held at once, not those of the whole run. `found` returns `false` to stop.
    ///
    /// The traces are evaluated in the order of their first GenAI span (by file, then
    /// offset); a trace's findings are about its GenAI spans, so none comes before that span.
    pub fn evaluate_each(
        mut self,
        rules: &crate::rules::Ruleset,
        found: &mut dyn FnMut(TraceFinding) -> bool,
    ) {
        let ByTrace {
            trace_ids,
            starts,
            order,
        } = self.by_trace();
        let traces = trace_ids.len();
        // Where each trace's first GenAI span is: no finding of the trace comes before it.
        let mut first = vec![(NONE, Offset::MAX); traces];
        for span in self.spans.iter() {
            if let Some(f) = self.facts.get(span.facts as usize) {
                let key = &mut first[span.trace as usize];
                *key = (*key).min((self.file_of(span.facts), f.offset));
            }
        }
        let mut evaluated: Vec<u32> = (0..traces as u32).collect();
        evaluated.sort_by_key(|&t| first[t as usize]);
        // Traces without a GenAI span sort last: no trace rule has anything to say of them.
        let with_genai = evaluated.partition_point(|&t| first[t as usize].0 != NONE);
        evaluated.truncate(with_genai);
        let mut pending = std::collections::BinaryHeap::new();
        let mut sequence = 0u64;
        // Traces are independent: a window of them is evaluated on every core, and its
        // findings are handed on in trace order, as if evaluated one after the other.
        for (w, window) in evaluated.chunks(WINDOW).enumerate() {
            let per_trace: Vec<Vec<TraceFinding>> = window
                .par_iter()
                .map(|&t| {
                    let t = t as usize;
                    let members = &order[starts[t] as usize..starts[t + 1] as usize];
                    self.trace_findings(trace_id(trace_ids[t]), members, rules)
                })
                .collect();
            for (i, findings) in per_trace.into_iter().enumerate() {
                for finding in findings {
                    pending.push(std::cmp::Reverse(Pending { sequence, finding }));
                    sequence += 1;
                }
                let until = evaluated
                    .get(w * WINDOW + i + 1)
                    .map_or((NONE, Offset::MAX), |&n| first[n as usize]);
                while let Some(std::cmp::Reverse(next)) = pending.peek()
                    && (next.place() < until || until.0 == NONE)
                {
                    let Some(std::cmp::Reverse(next)) = pending.pop() else {
                        break;
                    };
                    if !found(next.finding) {
                        return;
                    }
                }
            }
        }
        while let Some(std::cmp::Reverse(next)) = pending.pop() {
            if !found(next.finding) {
                return;
            }
        }
    }

    /// The trace rules' findings trace by trace, for a caller that only counts them: each
    /// trace's findings are handed to `found` together, unsorted, the traces in no particular
    /// order. Nothing waits for its turn, so only a window of traces' findings is held.
    pub fn evaluate_per_trace(
        mut self,
        rules: &crate::rules::Ruleset,
        found: &mut dyn FnMut(&[TraceFinding]),
    ) {
        let by_trace = self.by_trace();
        let traces = by_trace.trace_ids.len();
        for start in (0..traces).step_by(WINDOW) {
            let per_trace: Vec<Vec<TraceFinding>> = (start..traces.min(start + WINDOW))
                .into_par_iter()
                .map(|t| {
                    let members = by_trace.members(t);
                    // No trace rule has anything to say of a trace without a GenAI span.
                    if members
                        .iter()
                        .all(|&i| self.spans[i as usize].facts == NONE)
                    {
                        return Vec::new();
                    }
                    self.trace_findings(trace_id(by_trace.trace_ids[t]), members, rules)
                })
                .collect();
            for findings in per_trace.iter().filter(|f| !f.is_empty()) {
                found(findings);
            }
        }
    }

    /// The spans grouped by trace (a counting sort by trace number, keeping the order they
    /// were added in). Frees the table of trace numbers before the arrays are made.
    fn by_trace(&mut self) -> ByTrace {
        let trace_ids = std::mem::take(&mut self.trace_numbers).ids;
        let traces = trace_ids.len();
        let mut starts = vec![0u32; traces + 1];
        for span in self.spans.iter() {
            starts[span.trace as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut next = starts.clone();
        let mut order = vec![0u32; self.spans.len()];
        for (i, span) in self.spans.iter().enumerate() {
            let slot = &mut next[span.trace as usize];
            order[*slot as usize] = i as u32;
            *slot += 1;
        }
        ByTrace {
            trace_ids,
            starts,
            order,
        }
    }

    /// The trace rules' findings on one trace (`members`: its spans' indexes, in the order
    /// they were added).
    fn trace_findings(
        &self,
        trace_id: u128,
        members: &[u32],
        rules: &crate::rules::Ruleset,
    ) -> Vec<TraceFinding> {
        let nodes = members
            .iter()
            .map(|&i| self.node(self.spans[i as usize]))
            .collect();
        let trace = Trace::new(self, trace_id, nodes);
        let mut out = Vec::new();
        for rule in crate::rules::TRACE_RULES {
            (rule.check)(&trace, rules, &mut out);
        }
        out
    }

    /// A span as the trace rules see it.
    fn node(&self, span: SpanLink) -> Node {
        Node {
            span_id: span.span_id,
            parent_id: (span.parent_id != 0).then_some(span.parent_id),
            genai: self
                .facts
                .get(span.facts as usize)
                .map(|f| self.span_facts(span.facts, f)),
        }
    }

    fn span_facts(&self, n: u32, f: &StoredFacts) -> SpanFacts {
        let text = |n: u32| self.strings.get(n).to_string();
        let p = &self.profiles[f.profile as usize];
        let (tool_call_id, requested) = self.tool_calls(f.tools);
        SpanFacts {
            class: p.class,
            usage: p.usage,
            server: p.server,
            missing_context: p.missing_context,
            tool_call_id: (tool_call_id != NONE).then(|| text(tool_call_id)),
            requested_tool_calls: requested.iter().map(|&n| text(n)).collect(),
            stored: n,
        }
    }

    /// The tool call id (or [`NONE`]) and requested tool calls at `tools` in `self.tools`.
    fn tool_calls(&self, tools: u32) -> (u32, &[u32]) {
        match self.tools.get(tools as usize..) {
            Some([id, len, rest @ ..]) => (*id, rest.get(..*len as usize).unwrap_or(&[])),
            _ => (NONE, &[][..]),
        }
    }

    /// The position of the facts at index `n`.
    fn position_of(&self, n: u32, f: &StoredFacts) -> Position {
        let unusual = self.unusual.get(&n).and_then(|u| u.position);
        let [line, column] = self.lines.get(n as usize).copied().unwrap_or([0, 0]);
        match (unusual, line) {
            (Some(position), _) => position,
            (None, 0) => Position::Byte(f.offset),
            (None, line) => Position::LineColumn {
                line: line as usize,
                column: column as usize,
            },
        }
    }

    /// The file, offset and position of the GenAI span whose facts are at index `n`.
    fn place(&self, n: u32) -> (usize, Offset, Position) {
        let f = &self.facts[n as usize];
        (self.file_of(n) as usize, f.offset, self.position_of(n, f))
    }

    /// The name of the GenAI span whose facts are at index `n`.
    fn name_of(&self, n: u32) -> &str {
        let f = &self.facts[n as usize];
        self.strings.get(self.profiles[f.profile as usize].name)
    }

    /// Which span the facts at index `n` are of, for a finding.
    fn identity(&self, n: u32, trace_id: u128, span_id: u64) -> SpanIdentity {
        let text = |n: u32| self.strings.get(n).to_string();
        let unusual = self.unusual.get(&n).copied().unwrap_or_default();
        let p = &self.profiles[self.facts[n as usize].profile as usize];
        SpanIdentity {
            trace_id: unusual
                .trace_id
                .map_or_else(|| trace_id_text(trace_id), text),
            span_id: unusual.span_id.map_or_else(|| span_id_text(span_id), text),
            name: text(p.name),
            service: (p.service != NONE).then(|| text(p.service)),
            scope: text(p.scope),
        }
    }

    /// The facts of a GenAI span as they were added (tests compare them).
    #[cfg(test)]
    fn genai_facts(&self, n: u32, trace_id: u128, span_id: u64) -> GenAiFacts {
        let facts = self.span_facts(n, &self.facts[n as usize]);
        let (file, offset, position) = self.place(n);
        GenAiFacts {
            class: facts.class,
            usage: facts.usage,
            server: facts.server,
            missing_context: facts.missing_context,
            tool_call_id: facts.tool_call_id,
            requested_tool_calls: facts.requested_tool_calls,
            file,
            offset,
            position,
            identity: std::sync::Arc::new(self.identity(n, trace_id, span_id)),
        }
    }
}

/// How many traces are evaluated at once, one window on every core.
const WINDOW: usize = 1024;

/// The spans of a [`TraceIndex`] grouped by trace.
struct ByTrace {
    /// Each trace number's id.
    trace_ids: Blocks<TraceKey>,
    /// Trace `t`'s spans are `order[starts[t]..starts[t + 1]]`.
    starts: Vec<u32>,
    /// Indexes into `TraceIndex::spans`, by trace, in the order they were added.
    order: Vec<u32>,
}

impl ByTrace {
    /// The indexes of trace `t`'s spans, in the order they were added.
    fn members(&self, t: usize) -> &[u32] {
        &self.order[self.starts[t] as usize..self.starts[t + 1] as usize]
    }
}

/// A trace-level finding waiting for its turn in [`TraceIndex::evaluate_each`]: ordered by
/// file, offset and rule, then as the rules found it (the order a stable sort keeps).
struct Pending {
    sequence: u64,
    finding: TraceFinding,
}

impl Pending {
    fn place(&self) -> (u32, Offset) {
        (
            u32::try_from(self.finding.file).unwrap_or(NONE),
            self.finding.finding.offset,
        )
    }

    fn key(&self) -> (usize, Offset, &'static str, u64) {
        (
            self.finding.file,
            self.finding.finding.offset,
            self.finding.finding.rule,
            self.sequence,
        )
    }
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// A trace id's text, as `format!("{id:032x}")` writes it, without `format!`'s machinery
/// (every trace finding's identity is written so).
fn trace_id_text(id: u128) -> String {
    crate::model::Id::from_bytes(&id.to_be_bytes()).to_text()
}

/// A span id's text, as `format!("{id:016x}")` writes it.
fn span_id_text(id: u64) -> String {
    crate::model::Id::from_bytes(&id.to_be_bytes()).to_text()
}

/// The facts of one GenAI span.
pub fn facts(
    ctx: &SpanContext<'_, '_>,
    offset: Offset,
    position: Position,
    identity: std::sync::Arc<SpanIdentity>,
) -> GenAiFacts {
    let has = |key: &str| ctx.span.attribute(key).is_some();
    let missing_context = ctx
        .rules
        .context_keys()
        .iter()
        .take(64)
        .enumerate()
        .filter(|(_, k)| !has(k))
        .fold(0u64, |mask, (i, _)| mask | 1 << i);
    let class = OpClass::of(ctx.operation.map(|o| o.name));
    GenAiFacts {
        class,
        usage: ctx.rules.file.trace.usage_keys.iter().any(|k| has(k)),
        server: ctx.span.kind == crate::model::SpanKind::Server,
        missing_context,
        tool_call_id: (class == OpClass::Tool)
            .then(|| ctx.span.str_attribute("gen_ai.tool.call.id"))
            .flatten()
            .map(str::to_string),
        requested_tool_calls: requested_tool_calls(ctx),
        file: 0,
        offset,
        position,
        identity,
    }
}

/// Ids of `tool_call` parts in the span's `gen_ai.output.messages` (structured or JSON text),
/// read from the messages the span context parsed for the rules.
fn requested_tool_calls(ctx: &SpanContext<'_, '_>) -> Vec<String> {
    use crate::rules::messages::{Shape, get};
    // The span's first `gen_ai.output.messages` (`Span::attribute`), not an event's.
    let parsed = ctx.messages();
    let Some(Some(Shape::Array(messages))) = parsed
        .iter()
        .find(|m| !m.in_event && m.attribute.key == "gen_ai.output.messages")
        .map(|m| m.shape.as_ref())
    else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    let mut seen = HashSet::new();
    let parts = messages.iter().filter_map(|m| match m {
        Shape::Object(m) => match get(m, "parts") {
            Some(Shape::Array(parts)) => Some(parts),
            _ => None,
        },
        _ => None,
    });
    for part in parts.flatten() {
        let Shape::Object(part) = part else { continue };
        if let Some(Shape::String(kind)) = get(part, "type")
            && kind == "tool_call"
            && let Some(Shape::String(id)) = get(part, "id")
            && seen.insert(id.as_ref())
        {
            ids.push(id.to_string());
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Span;
    use std::sync::Arc;

    #[test]
    fn ids_are_written_as_format_writes_them() {
        for value in [
            0,
            1,
            0xab,
            u128::from(u64::MAX),
            u128::MAX,
            0x0123_4567_89ab_cdef << 60,
        ] {
            assert_eq!(trace_id_text(value), format!("{value:032x}"));
            let span_id = value as u64;
            assert_eq!(span_id_text(span_id), format!("{span_id:016x}"));
        }
    }

    fn span(trace: &str, id: &str, parent: &str) -> Span<'static> {
        Span {
            trace_id: trace.into(),
            span_id: id.into(),
            parent_span_id: parent.into(),
            ..Span::default()
        }
    }

    fn tool_facts(span: &Span<'_>, name: &str, call: &str, offset: usize) -> GenAiFacts {
        GenAiFacts {
            class: OpClass::Tool,
            usage: true,
            server: false,
            missing_context: 0b10,
            tool_call_id: Some(call.to_string()),
            requested_tool_calls: vec![call.to_string(), "call_x".to_string()],
            file: 0,
            offset,
            position: Position::LineColumn {
                line: 3,
                column: offset,
            },
            identity: Arc::new(SpanIdentity {
                trace_id: span.trace_id.to_string(),
                span_id: span.span_id.to_string(),
                name: name.to_string(),
                service: Some("svc".to_string()),
                scope: String::new(),
            }),
        }
    }

    /// Each GenAI span's facts as the trace rules see them, in input order.
    fn all_facts(index: &TraceIndex) -> Vec<(u64, Option<u64>, GenAiFacts)> {
        index
            .spans
            .iter()
            .filter(|link| link.facts != NONE)
            .map(|&link| {
                let trace_id = trace_id(index.trace_numbers.ids[link.trace as usize]);
                let parent = (link.parent_id != 0).then_some(link.parent_id);
                let facts = index.genai_facts(link.facts, trace_id, link.span_id);
                (link.span_id, parent, facts)
            })
            .collect()
    }

    #[test]
    fn merged_indexes_keep_a_split_trace_whole_and_the_facts_exact() {
        let root = span("00000000000000000000000000000001", "00000000000000aa", "");
        // The same trace written with a short id, and a span id in upper case: the identity
        // keeps the text as read.
        let child = span("1", "00000000000000BB", "00000000000000aa");
        let other = span("00000000000000000000000000000002", "0000000000000001", "");
        let mut first = TraceIndex::default();
        first.add(&root, Some(tool_facts(&root, "root", "call_a", 10)));
        first.add(&other, None);
        let mut second = TraceIndex::default();
        second.add(&other, None);
        second.add(&child, Some(tool_facts(&child, "child", "call_b", 20)));
        let mut index = TraceIndex::default();
        index.merge(first, 0);
        index.merge(second, 1);

        assert_eq!(index.trace_numbers.len(), 2);
        assert_eq!(index.spans.len(), 4);
        assert_eq!(index.spans[0].trace, index.spans[3].trace);
        let facts = all_facts(&index);
        assert_eq!(facts.len(), 2);
        let (id, parent, root_facts) = &facts[0];
        assert_eq!((*id, *parent), (0xaa, None));
        assert_eq!(root_facts.file, 0);
        assert_eq!(root_facts.identity.trace_id, root.trace_id.to_string());
        assert_eq!(root_facts.identity.span_id, "00000000000000aa");
        assert_eq!(root_facts.tool_call_id.as_deref(), Some("call_a"));
        let (id, parent, child_facts) = &facts[1];
        assert_eq!((*id, *parent), (0xbb, Some(0xaa)));
        assert_eq!(child_facts.file, 1);
        assert_eq!(child_facts.offset, 20);
        assert_eq!(
            child_facts.position,
            Position::LineColumn {
                line: 3,
                column: 20
            }
        );
        assert_eq!(child_facts.identity.trace_id, "1");
        assert_eq!(child_facts.identity.span_id, "00000000000000BB");
        assert_eq!(child_facts.identity.name, "child");
        assert_eq!(child_facts.identity.service.as_deref(), Some("svc"));
        assert_eq!(child_facts.tool_call_id.as_deref(), Some("call_b"));
        assert_eq!(child_facts.requested_tool_calls, ["call_b", "call_x"]);
        assert_eq!(
            (child_facts.class, child_facts.usage, child_facts.server),
            (OpClass::Tool, true, false)
        );
        assert_eq!(child_facts.missing_context, 0b10);
    }

    #[test]
    fn byte_and_line_positions_survive_merges_in_either_order() {
        let a = span("1", "00000000000000a1", "");
        let b = span("1", "00000000000000b1", "00000000000000a1");
        let with_position = |s: &Span<'_>, offset: usize, position: Position| GenAiFacts {
            position,
            ..tool_facts(s, "tool", "call", offset)
        };
        let line = |n: usize| Position::LineColumn { line: n, column: 7 };
        // protobuf (byte positions) then JSON (lines), and JSON then protobuf.
        for json_first in [false, true] {
            let mut pb = TraceIndex::default();
            pb.add(&a, Some(with_position(&a, 5, Position::Byte(5))));
            pb.add(&b, Some(with_position(&b, 9, Position::Byte(9))));
            let mut json = TraceIndex::default();
            json.add(&a, Some(with_position(&a, 40, line(2))));
            json.add(&b, Some(with_position(&b, 80, line(3))));
            let mut index = TraceIndex::default();
            let (first, second) = if json_first { (json, pb) } else { (pb, json) };
            index.merge(first, 0);
            index.merge(second, 1);
            let positions: Vec<Position> = all_facts(&index)
                .into_iter()
                .map(|(_, _, f)| f.position)
                .collect();
            let (pb, json) = (
                vec![Position::Byte(5), Position::Byte(9)],
                vec![line(2), line(3)],
            );
            let expected = if json_first { [json, pb] } else { [pb, json] }.concat();
            assert_eq!(positions, expected);
        }
    }

    #[test]
    fn findings_of_interleaved_traces_come_in_file_order() {
        let rules = crate::rules::Ruleset::builtin();
        // Two traces whose spans alternate in the file, and a third after them; every span's
        // parent is missing, so each has an `orphan-span` finding at its own offset.
        let spans = [
            ("a", "00000000000000a1", "00000000000000f1", 10),
            ("b", "00000000000000b1", "00000000000000f2", 20),
            ("a", "00000000000000a2", "00000000000000f3", 30),
            ("b", "00000000000000b2", "00000000000000f4", 40),
            ("c", "00000000000000c1", "00000000000000f5", 50),
        ];
        let mut index = TraceIndex::default();
        for (trace, id, parent, offset) in spans {
            let s = span(trace, id, parent);
            index.add(&s, Some(tool_facts(&s, "tool", "call", offset)));
        }
        let mut found = Vec::new();
        index.evaluate_each(&rules, &mut |f| {
            found.push((f.file, f.finding.offset, f.finding.rule));
            true
        });
        let orphans: Vec<usize> = found
            .iter()
            .filter(|(_, _, rule)| *rule == "orphan-span")
            .map(|&(_, offset, _)| offset)
            .collect();
        assert_eq!(orphans, [10, 20, 30, 40, 50]);
        assert!(found.is_sorted(), "{found:?}");
    }
}
