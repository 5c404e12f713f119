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

use std::collections::{HashMap, HashSet};

use crate::finding::{Finding, SpanIdentity};
use crate::input::Position;
use crate::model::Offset;
use crate::rules::SpanContext;

/// What a GenAI span does, as far as the trace-level rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    pub genai: Option<Box<GenAiFacts>>,
}

/// Every span of one trace in the input.
#[derive(Debug, Default)]
pub struct Trace {
    pub nodes: Vec<Node>,
    by_id: HashMap<u64, usize>,
    children: Vec<u32>,
    /// Per node, the nearest ancestor that is a GenAI span.
    genai_above: Vec<Option<usize>>,
    /// Per node, the top of its chain of ancestors (a span whose parent is not in the input).
    top: Vec<Option<usize>>,
}

impl Trace {
    fn finish(&mut self) {
        // The same span read twice (a dump checked in two formats, or twice over) is one span:
        // keep its first copy, or its copies would look like childless siblings.
        let mut seen = HashSet::new();
        self.nodes.retain(|n| seen.insert(n.span_id));
        self.by_id = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.span_id, i))
            .collect();
        self.children = vec![0; self.nodes.len()];
        for node in &self.nodes {
            if let Some(&p) = node.parent_id.and_then(|p| self.by_id.get(&p)) {
                self.children[p] += 1;
            }
        }
        self.genai_above = self.nearest_ancestors(|a| self.nodes[a].genai.is_some());
        self.top = self.nearest_ancestors(|a| self.parent(a).is_none());
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
        self.nodes[node]
            .parent_id
            .and_then(|p| self.by_id.get(&p).copied())
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

    pub fn genai(&self, node: usize) -> Option<&GenAiFacts> {
        self.nodes[node].genai.as_deref()
    }

    /// The GenAI spans, in input order.
    pub fn genai_nodes(&self) -> impl Iterator<Item = (usize, &GenAiFacts)> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.genai.as_deref().map(|g| (i, g)))
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
        let facts = self
            .genai(node)
            .expect("trace findings are about GenAI spans");
        TraceFinding {
            file: facts.file,
            position: facts.position,
            finding: Finding {
                rule: info.id,
                severity: info.default_severity,
                message,
                help,
                attribute: attribute.map(str::to_string),
                offset: facts.offset,
                span: facts.identity.clone(),
            },
        }
    }
}

/// A finding of a trace-level rule, with the file and place of its span.
#[derive(Debug, Clone)]
pub struct TraceFinding {
    pub file: usize,
    pub position: Position,
    pub finding: Finding,
}

/// Spans by trace id.
#[derive(Debug, Default)]
pub struct TraceIndex {
    traces: HashMap<u128, Trace>,
}

impl TraceIndex {
    /// Records one span (any span: non-GenAI spans are parents and children too). Spans
    /// without valid ids are left out.
    pub fn add(&mut self, span: &crate::model::Span<'_>, genai: Option<GenAiFacts>) {
        let (Some(trace_id), Some(span_id)) = (
            u128::from_str_radix(&span.trace_id, 16).ok(),
            u64::from_str_radix(&span.span_id, 16).ok(),
        ) else {
            return;
        };
        if trace_id == 0 || span_id == 0 {
            return;
        }
        let parent_id = u64::from_str_radix(&span.parent_span_id, 16)
            .ok()
            .filter(|&p| p != 0);
        self.traces.entry(trace_id).or_default().nodes.push(Node {
            span_id,
            parent_id,
            genai: genai.map(Box::new),
        });
    }

    /// Adds another file's spans, marking their GenAI facts with that file's index.
    pub fn merge(&mut self, other: TraceIndex, file: usize) {
        for (id, trace) in other.traces {
            let nodes = trace.nodes.into_iter().map(|mut n| {
                if let Some(g) = n.genai.as_mut() {
                    g.file = file;
                }
                n
            });
            self.traces.entry(id).or_default().nodes.extend(nodes);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.traces.is_empty()
    }

    /// Runs every trace-level rule over every trace, in a stable order (by file, then offset).
    pub fn evaluate(mut self, rules: &crate::rules::Ruleset) -> Vec<TraceFinding> {
        let mut out = Vec::new();
        for trace in self.traces.values_mut() {
            trace.finish();
            for rule in crate::rules::TRACE_RULES {
                (rule.check)(trace, rules, &mut out);
            }
        }
        out.sort_by_key(|f| (f.file, f.finding.offset, f.finding.rule));
        out
    }
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

/// Ids of `tool_call` parts in the span's `gen_ai.output.messages` (structured or JSON text).
fn requested_tool_calls(ctx: &SpanContext<'_, '_>) -> Vec<String> {
    let Some(attribute) = ctx.span.attribute("gen_ai.output.messages") else {
        return Vec::new();
    };
    let Some(json) = crate::rules::invalid_message_content::to_json(&attribute.value) else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    let mut seen = HashSet::new();
    let messages = json.as_array().into_iter().flatten();
    for part in messages
        .filter_map(|m| m.get("parts")?.as_array())
        .flatten()
    {
        if part.get("type").and_then(|t| t.as_str()) == Some("tool_call")
            && let Some(id) = part.get("id").and_then(|i| i.as_str())
            && seen.insert(id)
        {
            ids.push(id.to_string());
        }
    }
    ids
}
