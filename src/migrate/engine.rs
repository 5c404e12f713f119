//! The rewrite engine: model spans → per-span plans. Pure: no IO, no knowledge of formats.
//!
//! For each span, in this order: folds of indexed message keys, wrapped single messages, URL
//! splits, combined keys, converted message/tool JSON, deprecated message events turned into
//! message attributes (`[[event-messages]]`; the events are removed), value spellings of current
//! keys, renames (`rules/migrate.toml` `[[rename]]`, then genai.toml deprecations; the new value
//! is normalised too), unpacked JSON, prefix renames, `gen_ai.operation.name` from a hint, event
//! attributes moved to the span (`[[event-attribute]]`), the content action (span and events),
//! squatters moved out of reserved namespaces (`--move-squatters-to`), and finally the span name
//! from the span type's templates.
//!
//! A rename never loses a value: when the new key is already on the span with another value, the
//! old key is left alone (a *conflict*, counted in the summary); with the same value, the old key
//! is dropped (kept under `--dual-emit`). Keys no mapping knows are never touched, and kept
//! attributes keep their position; new ones are appended.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

// foldhash, not SipHash: every attribute of every span is looked up in `renames` and the
// step sources.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::json_string::{json_string, push_json_string};
use super::mapping::{
    Combine, Conversion, ConversionFormat, Convert, EventFormat, EventMessages, Fold, MappingFile,
    UnpackJson,
};
use super::naming::Namer;
use super::vercel;
use crate::model::{Attribute, Batch, Event, Span, Value};
use crate::rules::Ruleset;
use crate::rules::rulesfile::AttributeType;

/// What to do with recorded content (`--content`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContentAction {
    #[default]
    Keep,
    Drop,
    /// SHA-256 of the value, lowercase hex.
    Hash,
    Redact,
}

/// The value `--content redact` writes.
pub const REDACTED: &str = "[REDACTED]";

/// Options of a migration.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub dual_emit: bool,
    pub keep_span_names: bool,
    pub content: ContentAction,
    /// `None`: the newest conventions; `Some("1.37")`: a `[[target]]` of the mapping file.
    pub target: Option<String>,
    /// Where keys squatting a reserved namespace move (`myapp`: `gen_ai.openai.api_base` →
    /// `myapp.openai.api_base`); `None` leaves them.
    pub squatter_namespace: Option<String>,
}

/// One attribute of a span after migration.
#[derive(Debug, Clone, PartialEq)]
pub enum Item<'a> {
    /// The original attribute at this index, unchanged.
    Keep(usize),
    /// The original attribute at this index under a new key, value unchanged.
    Rename(usize, String),
    /// A new attribute (or an original one whose value changed).
    New(String, Value<'a>),
}

/// One change, for `--diff` and the summary. Values are already rendered and masked.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The mapping that made it, e.g. `rename gen_ai.system → gen_ai.provider.name`: made once
    /// per mapping entry by the [`Migrator`] and shared by its changes (a span has several, a
    /// dump millions), so the summary can count them by identity (see [`Label`]).
    pub mapping: Label,
    /// `key=value` before (absent for an added attribute).
    pub old: Option<String>,
    /// `key=value` after (absent for a removed attribute).
    pub new: Option<String>,
}

/// What to do to one span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanPlan<'a> {
    /// The span's position among all spans of the file, in reading order.
    pub index: usize,
    pub trace_id: String,
    pub span_id: String,
    pub old_name: String,
    /// The new span name, when it changes.
    pub name: Option<String>,
    /// The new attribute list, when it changes.
    pub attributes: Option<Vec<Item<'a>>>,
    /// New attribute lists of span events (by index), for those that change (`--content`).
    pub events: Vec<(usize, Vec<Item<'a>>)>,
    /// Span events (by index, ascending) that are removed: their messages moved to attributes.
    pub removed_events: Vec<usize>,
    pub changes: Vec<Change>,
}

impl SpanPlan<'_> {
    /// Whether the span changes (a plan may only report conflicts).
    pub fn rewrites(&self) -> bool {
        self.attributes.is_some()
            || self.name.is_some()
            || !self.events.is_empty()
            || !self.removed_events.is_empty()
    }
}

/// The name of a mapping in the summary and `--diff`; clones share the text.
pub type Label = Arc<str>;

/// The labels of one mapping entry: its own, and the two it takes when its target is already
/// there (with the same value, or another one: a conflict).
#[derive(Debug, Clone)]
struct Labels {
    made: Label,
    already: Label,
    conflict: Label,
}

impl Labels {
    fn new(made: String) -> Self {
        Labels {
            already: format!("{made} (already there)").into(),
            conflict: format!("conflict, kept: {made}").into(),
            made: made.into(),
        }
    }
}

/// Every label a migration can give a change, made once (planning a span would otherwise
/// format several, and the summary compare them as text), in the order of the mapping file's
/// entries of each kind.
#[derive(Debug)]
struct MappingLabels {
    folds: Vec<Labels>,
    wraps: Vec<Labels>,
    splits: Vec<Labels>,
    combines: Vec<Labels>,
    conversions: Vec<Labels>,
    unpacks: Vec<Labels>,
    prefixes: Vec<Labels>,
    event_attributes: Vec<Labels>,
    event_messages: Vec<EventMessagesLabels>,
    renames: Vec<Labels>,
    /// The rename of each deprecated key with a replacement.
    deprecations: HashMap<String, Labels>,
    /// `value KEY`, for the keys whose values have spellings to normalise.
    values: HashMap<String, Label>,
    /// `operation from KEY`, for each hint's key.
    operations: HashMap<String, Label>,
    span_name: Label,
    content_drop: Label,
    content_hash: Label,
    content_redact: Label,
}

/// The labels of an `[[event-messages]]` entry.
#[derive(Debug)]
struct EventMessagesLabels {
    moved: Labels,
    no_content: Label,
}

impl MappingLabels {
    fn new(mapping: &MappingFile, rules: &Ruleset) -> Self {
        let conversion = |c: &Conversion| match c.format {
            ConversionFormat::IndexedToolSchemas | ConversionFormat::IndexedFunctions => {
                let prefix = c.from.first().map_or("", String::as_str);
                format!("convert {prefix}* → {} ({})", c.to, c.vocabulary)
            }
            ConversionFormat::FunctionCall => {
                let from = c.from.first().map_or("", String::as_str);
                format!("convert {from} → {} ({})", c.to, c.vocabulary)
            }
            _ => format!(
                "convert {} → {} ({})",
                c.from.join(", "),
                c.to,
                c.vocabulary
            ),
        };
        let event_messages = |e: &EventMessages| {
            let names = e.events.keys().map(String::as_str).collect::<Vec<_>>();
            let made = format!("events {} → {} ({})", names.join(", "), e.to, e.vocabulary);
            EventMessagesLabels {
                no_content: format!("{made} (no content)").into(),
                moved: Labels::new(made),
            }
        };
        let deprecations = rules
            .file
            .deprecated_attributes
            .iter()
            // The entry the key is looked up as (the last, should a key be listed twice).
            .filter_map(|d| rules.deprecated_attribute(&d.key))
            .filter_map(|d| {
                let to = d.replacement.as_ref()?;
                let made = format!("rename {} → {to} (deprecated since {})", d.key, d.since);
                Some((d.key.clone(), Labels::new(made)))
            })
            .collect();
        let values = mapping
            .value_maps
            .iter()
            .map(|v| v.attribute.as_str())
            .chain(["gen_ai.provider.name"])
            .map(|key| (key.to_string(), Label::from(format!("value {key}"))))
            .collect();
        let operations = mapping
            .operation_hints
            .iter()
            .map(|h| h.attribute.as_str())
            .chain(
                rules
                    .file
                    .operation_hints
                    .iter()
                    .map(|h| h.attribute.as_str()),
            )
            .map(|key| {
                (
                    key.to_string(),
                    Label::from(format!("operation from {key}")),
                )
            })
            .collect();
        MappingLabels {
            folds: (mapping.folds.iter())
                .map(|f| Labels::new(format!("fold {}* → {}", f.prefix, f.to)))
                .collect(),
            wraps: (mapping.wrap_messages.iter())
                .map(|w| Labels::new(format!("wrap {} → {}", w.from, w.to)))
                .collect(),
            splits: (mapping.split_urls.iter())
                .map(|s| {
                    Labels::new(format!(
                        "split {} → {}, {} ({})",
                        s.from, s.address, s.port, s.vocabulary
                    ))
                })
                .collect(),
            combines: (mapping.combines.iter())
                .map(|c| {
                    Labels::new(format!(
                        "combine {} → {} ({})",
                        c.from.join(" + "),
                        c.to,
                        c.vocabulary
                    ))
                })
                .collect(),
            conversions: (mapping.conversions.iter())
                .map(|c| Labels::new(conversion(c)))
                .collect(),
            unpacks: (mapping.unpacks.iter())
                .map(|u| Labels::new(format!("unpack {} ({})", u.from, u.vocabulary)))
                .collect(),
            prefixes: (mapping.prefix_renames.iter())
                .map(|p| Labels::new(format!("prefix {}* → {}* ({})", p.from, p.to, p.vocabulary)))
                .collect(),
            event_attributes: (mapping.event_attributes.iter())
                .map(|h| {
                    Labels::new(format!(
                        "event {} {} → {} ({})",
                        h.event, h.from, h.to, h.vocabulary
                    ))
                })
                .collect(),
            event_messages: mapping.event_messages.iter().map(event_messages).collect(),
            renames: (mapping.renames.iter())
                .map(|r| Labels::new(format!("rename {} → {} ({})", r.from, r.to, r.vocabulary)))
                .collect(),
            deprecations,
            values,
            operations,
            span_name: "span name".into(),
            content_drop: "content drop".into(),
            content_hash: "content hash".into(),
            content_redact: "content redact".into(),
        }
    }
}

/// A compiled migration: rules, mapping and options.
pub struct Migrator {
    rules: Ruleset,
    mapping: MappingFile,
    options: Options,
    /// The registry type of each `[[rename]]`'s target (`None`: not in the registry).
    rename_types: Vec<Option<AttributeType>>,
    /// Whether each `[[rename]]`'s target has spellings to normalise (see `normalised_keys`).
    rename_normalised: Vec<bool>,
    value_maps: HashMap<String, BTreeMap<String, String>>,
    /// The keys whose values have spellings to normalise (`value_maps`' and the provider's):
    /// so few that comparing (lengths first) costs less than hashing each attribute's key.
    normalised_keys: Vec<String>,
    missing: HashSet<String>,
    missing_operations: HashSet<String>,
    /// The summary name of each change it can make, made once.
    labels: MappingLabels,
    /// Whether changes carry their `old`/`new` text (only `--diff` shows it; building it is a
    /// measurable part of planning on large files).
    describe: bool,
    /// Which steps a span's keys can set off.
    sources: Sources,
    /// What the span name depends on.
    namer: Namer,
}

/// What can rename one attribute key.
#[derive(Debug, Default)]
struct RenameSources {
    /// Its `[[rename]]`s, by index, in the mapping's order.
    mapping: Vec<usize>,
    /// Whether genai.toml deprecates it.
    deprecated: bool,
}

/// Unknown `--target`.
#[derive(Debug, thiserror::Error)]
#[error("unknown conventions target `{0}`: use `latest` or one of {1}")]
pub struct UnknownTarget(pub String, pub String);

/// An attribute being rewritten. `'s` is the span's borrow: an attribute's value is borrowed from
/// the span until a step replaces it (most are never copied).
#[derive(Debug, Clone)]
struct Work<'s, 'a> {
    key: Cow<'a, str>,
    value: Cow<'s, Value<'a>>,
    /// Index of the original attribute.
    src: Option<usize>,
    value_changed: bool,
    /// What the mapping does with the key, looked up once per original attribute (`None` for
    /// keys a step wrote: looked up when needed).
    facts: Option<&'s KeyFacts>,
}

impl Migrator {
    pub fn new(
        rules: Ruleset,
        mapping: MappingFile,
        options: Options,
    ) -> Result<Self, UnknownTarget> {
        let value_maps: HashMap<String, BTreeMap<String, String>> = mapping
            .value_maps
            .iter()
            .map(|v| (v.attribute.clone(), v.values.clone()))
            .collect();
        let mut normalised_keys: Vec<String> = value_maps.keys().cloned().collect();
        normalised_keys.push("gen_ai.provider.name".to_string());
        let (missing, missing_operations) = match options.target.as_deref() {
            None | Some("latest") => (HashSet::new(), HashSet::new()),
            Some(name) => {
                let target = mapping
                    .targets
                    .iter()
                    .find(|t| t.name == name)
                    .ok_or_else(|| {
                        UnknownTarget(
                            name.to_string(),
                            mapping
                                .targets
                                .iter()
                                .map(|t| t.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        )
                    })?;
                (
                    target.missing_attributes.iter().cloned().collect(),
                    target.missing_operations.iter().cloned().collect(),
                )
            }
        };
        let namer = Namer::new(&rules);
        Ok(Migrator {
            sources: Sources::new(&mapping, &rules, &namer),
            namer,
            labels: MappingLabels::new(&mapping, &rules),
            rename_types: mapping
                .renames
                .iter()
                .map(|r| rules.attribute(&r.to).map(|d| d.ty))
                .collect(),
            rename_normalised: (mapping.renames.iter())
                .map(|r| normalised_keys.contains(&r.to))
                .collect(),
            rules,
            mapping,
            options,
            value_maps,
            normalised_keys,
            missing,
            missing_operations,
            describe: true,
        })
    }

    /// Leaves the `old`/`new` text of every change empty (whether it is there still says
    /// added, removed or conflict); the mapping names, counted by the summary, stay.
    pub fn without_change_text(mut self) -> Self {
        self.describe = false;
        self
    }

    /// `text()` when changes are described, otherwise an empty (unallocated) string.
    fn describe(&self, text: impl FnOnce() -> String) -> String {
        if self.describe { text() } else { String::new() }
    }

    pub fn rules(&self) -> &Ruleset {
        &self.rules
    }

    /// Plans every span of a file's batches, in reading order; spans with nothing to report are
    /// left out. A plan with neither new attributes nor a new name only reports conflicts.
    pub fn plan<'a>(&self, batches: &[Batch<'a>]) -> Vec<SpanPlan<'a>> {
        let mut out = Vec::new();
        let mut index = 0;
        for batch in batches {
            for rs in &batch.resource_spans {
                for ss in &rs.scope_spans {
                    for span in &ss.spans {
                        if let Some(plan) = self.plan_span(index, span) {
                            out.push(plan);
                        }
                        index += 1;
                    }
                }
            }
        }
        out
    }

    /// Plans one span.
    pub fn plan_span<'a>(&self, index: usize, span: &Span<'a>) -> Option<SpanPlan<'a>> {
        let (mut w, steps) = self.sources.works_of(&span.attributes, 4);
        let mut changes = Vec::new();
        let ids = self.sources.ids;
        for (n, fold) in self.mapping.folds.iter().enumerate() {
            if may(steps, ids.fold + n) {
                self.fold(fold, &self.labels.folds[n], &mut w, &mut changes);
            }
        }
        self.wrap_messages(&mut w, steps, &mut changes);
        self.split_urls(&mut w, steps, &mut changes);
        for (n, combine) in self.mapping.combines.iter().enumerate() {
            if may(steps, ids.combine + n) {
                self.combine(combine, &self.labels.combines[n], &mut w, &mut changes);
            }
        }
        for (n, conversion) in self.mapping.conversions.iter().enumerate() {
            if may(steps, ids.convert + n) {
                self.convert(
                    conversion,
                    &self.labels.conversions[n],
                    &mut w,
                    &mut changes,
                );
            }
        }
        let mut removed_events = Vec::new();
        for (entry, labels) in self
            .mapping
            .event_messages
            .iter()
            .zip(&self.labels.event_messages)
        {
            self.event_messages(
                entry,
                labels,
                span,
                &mut w,
                &mut removed_events,
                &mut changes,
            );
        }
        removed_events.sort_unstable();
        // Spellings of current keys first, so a foreign key whose mapped value equals the
        // normalised current value is recognised as a duplicate.
        self.normalise_values(&mut w, &mut changes);
        // The hint reads the span as read: found once, when the renames or a missing
        // `gen_ai.operation.name` need it.
        let hinted = std::cell::OnceCell::new();
        let hint = || *hinted.get_or_init(|| self.hinted_operation(span));
        let operation = self.operation_of(&w, hint);
        self.rename(&mut w, operation.as_deref(), &mut changes);
        for (n, unpack) in self.mapping.unpacks.iter().enumerate() {
            if may(steps, ids.unpack + n) {
                let label = &self.labels.unpacks[n].made;
                self.unpack(unpack, label, &mut w, &mut changes);
            }
        }
        self.prefix_rename(&mut w, steps, &mut changes);
        self.add_operation(&mut w, hint, &mut changes);
        let mut event_works: Vec<Vec<Work<'_, 'a>>> = span
            .events
            .iter()
            .map(|e| works(&e.attributes, 0))
            .collect();
        self.hoist_event_attributes(span, &mut w, &mut event_works, &mut changes);
        // Content first: a squatter that is content is no longer known as content once moved.
        self.content(&mut w, None, &mut changes);
        self.move_squatters(&mut w, None, &mut changes);
        let mut events = Vec::new();
        for ((e, event), mut ew) in span.events.iter().enumerate().zip(event_works) {
            if removed_events.contains(&e) {
                continue;
            }
            self.content(&mut ew, Some(&event.name), &mut changes);
            self.move_squatters(&mut ew, Some(&event.name), &mut changes);
            if let Some(items) = items_if_changed(ew, &event.attributes) {
                events.push((e, items));
            }
        }

        let name = if self.options.keep_span_names {
            None
        } else {
            self.span_name(span, &w)
        };
        if let Some(name) = &name {
            changes.push(Change {
                mapping: self.labels.span_name.clone(),
                old: Some(self.describe(|| format!("name={:?}", span.name))),
                new: Some(self.describe(|| format!("name={name:?}"))),
            });
        }
        if changes.is_empty() {
            return None;
        }
        let attributes = items_if_changed(w, &span.attributes);
        Some(SpanPlan {
            index,
            trace_id: span.trace_id.to_text(),
            span_id: span.span_id.to_text(),
            old_name: span.name.to_string(),
            name,
            attributes,
            events,
            removed_events,
            changes,
        })
    }

    /// `key=value` for display, with content masked.
    fn show(&self, key: &str, value: &Value<'_>) -> String {
        self.describe(|| {
            if self.rules.is_content_attribute(key) {
                return format!("{key}=…");
            }
            format!("{key}={}", render_value(value))
        })
    }

    fn target_available(&self, key: &str) -> bool {
        !self.missing.contains(key)
    }

    // -----------------------------------------------------------------------------------------

    fn fold<'a>(
        &self,
        fold: &Fold,
        labels: &Labels,
        w: &mut Vec<Work<'_, 'a>>,
        changes: &mut Vec<Change>,
    ) {
        if !self.target_available(&fold.to) {
            return;
        }
        let mut messages: BTreeMap<usize, Message> = BTreeMap::new();
        let mut consumed = Vec::new();
        for (i, x) in w.iter().enumerate() {
            let Some(rest) = x.key.strip_prefix(fold.prefix.as_str()) else {
                continue;
            };
            let Some((n, field)) = rest.split_once('.') else {
                continue;
            };
            let (Ok(n), Value::String(text)) = (n.parse::<usize>(), &*x.value) else {
                continue;
            };
            let text = text.to_string();
            let message = messages.entry(n).or_default();
            let is = |f: &Option<String>| f.as_deref() == Some(field);
            if is(&fold.role) {
                message.role = Some(text);
            } else if field == fold.content {
                message.content = Some(text);
            } else if is(&fold.name) {
                message.name = Some(text);
            } else if is(&fold.tool_call_id) {
                message.tool_call_id = Some(text);
            } else if is(&fold.finish_reason) {
                message.finish_reason = Some(text);
            } else if let Some((j, call_field)) = fold
                .tool_calls
                .as_deref()
                .and_then(|p| field.strip_prefix(p))
                .and_then(|r| r.split_once('.'))
                .and_then(|(j, f)| Some((j.parse::<usize>().ok()?, f)))
            {
                let call = message.tool_calls.entry(j).or_default();
                let is = |f: &Option<String>| f.as_deref() == Some(call_field);
                if is(&fold.call_id) {
                    call.id = Some(text);
                } else if is(&fold.call_name) {
                    call.name = Some(text);
                } else if is(&fold.call_arguments) {
                    call.arguments = Some(text);
                } else {
                    continue;
                }
            } else {
                continue;
            }
            consumed.push(i);
        }
        for m in messages.values_mut() {
            m.tool_calls
                .retain(|_, c| c.id.is_some() || c.name.is_some() || c.arguments.is_some());
        }
        messages.retain(|_, m| m.role.is_some() || m.content.is_some() || !m.tool_calls.is_empty());
        for m in messages.values_mut() {
            if m.role.is_none() {
                m.role = fold.default_role.clone();
            }
        }
        if consumed.is_empty() {
            return;
        }
        let span_finish = fold
            .span_finish_reason
            .as_deref()
            .and_then(|k| w.iter().find(|x| x.key == k))
            .and_then(|x| match &*x.value {
                Value::String(s) => Some(s.to_string()),
                Value::Array(v) => v.first().and_then(|v| v.as_str()).map(str::to_string),
                _ => None,
            });
        let json = messages_json(
            &messages,
            fold.is_output().then_some(span_finish.as_deref()),
            &self.mapping.messages.roles,
            &self.mapping.messages.finish_reasons,
        );
        let old = Some(self.describe(|| format!("{}* ({} keys)=…", fold.prefix, consumed.len())));
        self.put_folded(w, changes, &fold.to, json, consumed, labels, old);
    }

    /// Adds a folded/wrapped JSON attribute and removes its sources, unless the target is
    /// already there with other content; whether the sources went.
    #[allow(clippy::too_many_arguments)]
    fn put_folded<'a>(
        &self,
        w: &mut Vec<Work<'_, 'a>>,
        changes: &mut Vec<Change>,
        to: &str,
        json: String,
        consumed: Vec<usize>,
        labels: &Labels,
        old: Option<String>,
    ) -> bool {
        // Messages are content: the change shows the key, never the JSON.
        let shown = self.describe(|| format!("{to}=…"));
        let placed = self.place(
            w,
            changes,
            to,
            Value::String(Cow::Owned(json)),
            shown,
            labels,
            old,
        );
        if placed {
            remove_consumed(w, consumed);
        }
        placed
    }

    /// Puts `value` at `to` unless `to` is already there: with the same value the sources are
    /// redundant ("already there"), with another value it is a conflict and the sources stay.
    /// Whether the sources should go (never with `--dual-emit`).
    #[allow(clippy::too_many_arguments)]
    fn place<'a>(
        &self,
        w: &mut Vec<Work<'_, 'a>>,
        changes: &mut Vec<Change>,
        to: &str,
        value: Value<'a>,
        shown: String,
        labels: &Labels,
        old: Option<String>,
    ) -> bool {
        match w.iter().find(|x| x.key == to) {
            Some(x) if *x.value == value => {
                if self.options.dual_emit {
                    return false;
                }
                changes.push(Change {
                    mapping: labels.already.clone(),
                    old,
                    new: None,
                });
            }
            Some(_) => {
                changes.push(Change {
                    mapping: labels.conflict.clone(),
                    old: None,
                    new: None,
                });
                return false;
            }
            None => {
                changes.push(Change {
                    mapping: labels.made.clone(),
                    old: if self.options.dual_emit { None } else { old },
                    new: Some(shown),
                });
                w.push(Work {
                    key: Cow::Owned(to.to_string()),
                    value: Cow::Owned(value),
                    src: None,
                    value_changed: false,
                    facts: None,
                });
            }
        }
        !self.options.dual_emit
    }

    fn convert<'a>(
        &self,
        c: &Conversion,
        labels: &Labels,
        w: &mut Vec<Work<'_, 'a>>,
        changes: &mut Vec<Change>,
    ) {
        if !self.target_available(&c.to) {
            return;
        }
        if matches!(
            c.format,
            ConversionFormat::IndexedToolSchemas | ConversionFormat::IndexedFunctions
        ) {
            return self.convert_indexed_tools(c, labels, w, changes);
        }
        if c.format == ConversionFormat::FunctionCall {
            return self.convert_function_call(c, labels, w, changes);
        }
        // A source key repeated on one span is handled copy by copy, as a second run would
        // (an equal copy goes as "already there"), so migrating the output changes nothing.
        let mut copies_left = w.len();
        while self.convert_first_copy(c, labels, w, changes)
            && !self.options.dual_emit
            && copies_left > 0
        {
            copies_left -= 1;
        }
    }

    /// Converts the first occurrence of the conversion's source keys; whether they went.
    fn convert_first_copy<'a>(
        &self,
        c: &Conversion,
        labels: &Labels,
        w: &mut Vec<Work<'_, 'a>>,
        changes: &mut Vec<Change>,
    ) -> bool {
        let find = |key: &str| w.iter().position(|x| x.key == key);
        // Most spans hold none of the sources: nothing is collected for them.
        if c.from.iter().all(|k| find(k).is_none()) {
            return false;
        }
        let sources: Vec<Option<usize>> = c.from.iter().map(|k| find(k)).collect();
        let text =
            |n: usize| -> Option<&str> { w[sources.get(n).copied().flatten()?].value.as_str() };
        let roles = &self.mapping.messages.roles;
        let json = match c.format {
            ConversionFormat::VercelMessages => {
                text(0).and_then(|t| vercel::prompt_messages(t, roles))
            }
            ConversionFormat::VercelPrompt => text(0).and_then(|t| vercel::prompt(t, roles)),
            ConversionFormat::VercelResponse => {
                let finish = c
                    .finish_reason_from
                    .as_deref()
                    .and_then(|k| w.iter().find(|x| x.key == k))
                    .and_then(|x| x.value.as_str());
                vercel::response(
                    text(0),
                    text(1),
                    text(2),
                    finish,
                    &self.mapping.messages.finish_reasons,
                )
            }
            ConversionFormat::IndexedToolSchemas
            | ConversionFormat::IndexedFunctions
            | ConversionFormat::FunctionCall => None,
            ConversionFormat::LegacyMessages => text(0).map(|t| {
                let finish = c
                    .finish_reason_from
                    .as_deref()
                    .and_then(|k| w.iter().find(|x| x.key == k))
                    .and_then(|x| match &*x.value {
                        Value::String(s) => Some(s.as_ref()),
                        Value::Array(v) => v.first().and_then(Value::as_str),
                        _ => None,
                    });
                let messages = legacy_messages(t, c.default_role.as_deref().unwrap_or("user"));
                messages_json(
                    &messages,
                    (c.to == "gen_ai.output.messages").then_some(finish),
                    roles,
                    &self.mapping.messages.finish_reasons,
                )
            }),
            ConversionFormat::VercelTools => match sources[0].map(|i| &*w[i].value) {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(Value::as_str)
                    .collect::<Option<Vec<_>>>()
                    .and_then(|items| vercel::tools(&items)),
                _ => None,
            },
        };
        let Some(json) = json else {
            return false;
        };
        let consumed: Vec<usize> = sources.iter().flatten().copied().collect();
        let names: Vec<&str> = consumed.iter().map(|&i| w[i].key.as_ref()).collect();
        let old = Some(self.describe(|| format!("{}=…", names.join(", "))));
        self.put_folded(w, changes, &c.to, json, consumed, labels, old)
    }

    /// Indexed tool keys (`llm.tools.N.tool.json_schema`, `llm.request.functions.N.*`) →
    /// `gen_ai.tool.definitions`.
    fn convert_indexed_tools<'a>(
        &self,
        c: &Conversion,
        labels: &Labels,
        w: &mut Vec<Work<'_, 'a>>,
        changes: &mut Vec<Change>,
    ) {
        let Some(prefix) = c.from.first() else {
            return;
        };
        let mut tools: BTreeMap<usize, BTreeMap<&str, String>> = BTreeMap::new();
        let mut consumed = Vec::new();
        for (i, x) in w.iter().enumerate() {
            let Some((n, field)) = x
                .key
                .strip_prefix(prefix.as_str())
                .and_then(|r| r.split_once('.'))
            else {
                continue;
            };
            let (Ok(n), Some(text)) = (n.parse::<usize>(), x.value.as_str()) else {
                continue;
            };
            let known: &[&str] = match c.format {
                ConversionFormat::IndexedToolSchemas => &["tool.json_schema"],
                _ => &["name", "description", "parameters"],
            };
            let Some(field) = known.iter().find(|k| **k == field) else {
                continue;
            };
            tools.entry(n).or_default().insert(field, text.to_string());
            consumed.push(i);
        }
        if consumed.is_empty() {
            return;
        }
        let mut defs = Vec::new();
        for fields in tools.values() {
            let def = match c.format {
                ConversionFormat::IndexedToolSchemas => {
                    fields.get("tool.json_schema").and_then(|s| openai_tool(s))
                }
                _ => fields.get("name").map(|name| {
                    function_definition(
                        name,
                        fields.get("description").map(String::as_str),
                        fields.get("parameters").map(String::as_str),
                    )
                }),
            };
            let Some(def) = def else {
                return;
            };
            defs.push(def);
        }
        let json = format!("[{}]", defs.join(","));
        let old = Some(self.describe(|| format!("{prefix}* ({} keys)=…", consumed.len())));
        self.put_folded(w, changes, &c.to, json, consumed, labels, old);
    }

    /// `function-call`: a legacy function call → a `tool_call` part of the output messages.
    fn convert_function_call<'a>(
        &self,
        c: &Conversion,
        labels: &Labels,
        w: &mut Vec<Work<'_, 'a>>,
        changes: &mut Vec<Change>,
    ) {
        use serde_json::Value as J;
        let Some(from) = c.from.first() else {
            return;
        };
        let Some(i) = w.iter().position(|x| x.key == *from) else {
            return;
        };
        let Some(part) = w[i].value.as_str().and_then(function_call_part) else {
            return;
        };
        let old = Some(self.describe(|| format!("{from}=…")));
        let Some(j) = w.iter().position(|x| x.key == c.to) else {
            let json = format!(
                "[{{\"role\":\"assistant\",\"parts\":[{part}],\"finish_reason\":\"tool_call\"}}]"
            );
            self.put_folded(w, changes, &c.to, json, vec![i], labels, old);
            return;
        };
        let made_here = w[j].src.is_none();
        let Some(mut messages) = w[j]
            .value
            .as_str()
            .and_then(|t| serde_json::from_str::<Vec<OrderedObject<'_>>>(t).ok())
        else {
            changes.push(Change {
                mapping: labels.conflict.clone(),
                old: None,
                new: None,
            });
            return;
        };
        let wanted: J = serde_json::from_str(&part).expect("a part we wrote is JSON");
        let parts_of = |m: &OrderedObject<'_>| -> Option<Vec<J>> {
            serde_json::from_str(m.get("parts")?).ok()
        };
        let has_call = messages
            .iter()
            .filter_map(parts_of)
            .any(|parts| parts.iter().any(|p| same_call(p, &wanted)));
        let last_parts = messages.last().and_then(|m| {
            serde_json::from_str::<Vec<&RawValue>>(m.get("parts")?)
                .ok()
                .map(|parts| {
                    parts
                        .iter()
                        .map(|p| p.get().to_string())
                        .collect::<Vec<_>>()
                })
        });
        match (has_call, made_here, last_parts) {
            (true, _, _) => {
                if self.options.dual_emit {
                    return;
                }
                changes.push(Change {
                    mapping: labels.already.clone(),
                    old,
                    new: None,
                });
            }
            (false, true, Some(mut parts)) => {
                parts.push(part);
                if let Some(last) = messages.last_mut() {
                    last.set("parts", format!("[{}]", parts.join(",")));
                }
                changes.push(Change {
                    mapping: labels.made.clone(),
                    old: if self.options.dual_emit { None } else { old },
                    new: Some(self.describe(|| format!("{}=…", c.to))),
                });
                w[j].value = Cow::Owned(Value::String(Cow::Owned(ordered_array(&messages))));
                w[j].value_changed = true;
            }
            _ => {
                changes.push(Change {
                    mapping: labels.conflict.clone(),
                    old: None,
                    new: None,
                });
                return;
            }
        }
        if !self.options.dual_emit {
            w.remove(i);
        }
    }

    /// `[[split-url]]`: a URL → `server.address` / `server.port`, when neither is there.
    fn split_urls<'a>(&self, w: &mut Vec<Work<'_, 'a>>, steps: StepSet, changes: &mut Vec<Change>) {
        for (n, split) in self.mapping.split_urls.iter().enumerate() {
            if !may(steps, self.sources.ids.split + n) || !self.target_available(&split.address) {
                continue;
            }
            let Some(i) = w.iter().position(|x| x.key == split.from) else {
                continue;
            };
            if w.iter()
                .any(|x| x.key == split.address || x.key == split.port)
            {
                continue;
            }
            let Some((host, port)) = w[i].value.as_str().and_then(parse_url) else {
                continue;
            };
            let mut new = vec![(
                split.address.clone(),
                Value::String(Cow::Owned(host.to_string())),
            )];
            if let Some(port) = port {
                new.push((split.port.clone(), Value::Int(i64::from(port))));
            }
            changes.push(Change {
                mapping: self.labels.splits[n].made.clone(),
                old: (!self.options.dual_emit).then(|| self.show(&w[i].key, &w[i].value)),
                new: Some(
                    new.iter()
                        .map(|(k, v)| self.show(k, v))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            });
            if !self.options.dual_emit {
                w.remove(i);
            }
            for (key, value) in new {
                w.push(Work {
                    key: Cow::Owned(key),
                    value: Cow::Owned(value),
                    src: None,
                    value_changed: false,
                    facts: None,
                });
            }
        }
    }

    fn wrap_messages<'a>(
        &self,
        w: &mut Vec<Work<'_, 'a>>,
        steps: StepSet,
        changes: &mut Vec<Change>,
    ) {
        for (n, wrap) in self.mapping.wrap_messages.iter().enumerate() {
            if !may(steps, self.sources.ids.wrap + n) || !self.target_available(&wrap.to) {
                continue;
            }
            let Some(i) = w.iter().position(|x| x.key == wrap.from) else {
                continue;
            };
            let Value::String(text) = &*w[i].value else {
                continue;
            };
            let mut messages = BTreeMap::new();
            messages.insert(
                0,
                Message {
                    role: Some(wrap.role.clone()),
                    content: Some(text.to_string()),
                    ..Message::default()
                },
            );
            let output = wrap.to == "gen_ai.output.messages";
            let json = messages_json(
                &messages,
                output.then_some(None),
                &self.mapping.messages.roles,
                &self.mapping.messages.finish_reasons,
            );
            let old = Some(self.describe(|| format!("{}=…", wrap.from)));
            let labels = &self.labels.wraps[n];
            self.put_folded(w, changes, &wrap.to, json, vec![i], labels, old);
        }
    }

    /// The span's operation before renames: `gen_ai.operation.name` (spelling normalised) or
    /// the hinted one.
    /// `hint`: the operation the span's attributes tell ([`Self::hinted_operation`]).
    fn operation_of<'s>(
        &self,
        w: &[Work<'_, '_>],
        hint: impl Fn() -> Option<(&'s str, &'s str)>,
    ) -> Option<String> {
        if let Some(x) = w.iter().find(|x| x.key == "gen_ai.operation.name") {
            let value = x.value.as_str()?;
            return Some(
                self.value_maps
                    .get("gen_ai.operation.name")
                    .and_then(|m| m.get(value))
                    .map_or(value, String::as_str)
                    .to_string(),
            );
        }
        hint().map(|(op, _)| op.to_string())
    }

    /// The operation a span's foreign attributes tell: the mapping's `[[operation-hint]]`s,
    /// then genai.toml's.
    fn hinted_operation<'s>(&'s self, span: &'s Span<'_>) -> Option<(&'s str, &'s str)> {
        self.mapping
            .operation_hints
            .iter()
            .find(|h| {
                span.str_attribute(&h.attribute)
                    .is_some_and(|v| h.values.iter().any(|x| x == v))
                    && span
                        .attributes
                        .iter()
                        .any(|a| h.any_prefix.iter().any(|p| a.key.starts_with(p.as_str())))
            })
            .map(|h| (h.operation.as_str(), h.attribute.as_str()))
            .or_else(|| self.rules.hinted_operation(span))
    }

    /// `[[combine]]`: several keys → one value, when a case matches.
    fn combine<'a>(
        &self,
        c: &Combine,
        labels: &Labels,
        w: &mut Vec<Work<'_, 'a>>,
        changes: &mut Vec<Change>,
    ) {
        if !self.target_available(&c.to) {
            return;
        }
        let find = |key: &str| w.iter().position(|x| x.key == key);
        // Most spans hold none of the sources: nothing is collected for them.
        if c.from.iter().all(|k| find(k).is_none()) {
            return;
        }
        let sources: Vec<Option<usize>> = c.from.iter().map(|k| find(k)).collect();
        let values: Vec<Option<&str>> = sources
            .iter()
            .map(|i| i.and_then(|i| w[i].value.as_str()))
            .collect();
        if sources
            .iter()
            .zip(&values)
            .any(|(i, v)| i.is_some() && v.is_none())
        {
            return;
        }
        let Some(case) = c.cases.iter().find(|case| {
            case.when.len() == values.len()
                && case.when.iter().zip(&values).all(|(want, have)| {
                    want == "*" || have.is_some_and(|h| h.eq_ignore_ascii_case(want))
                })
        }) else {
            return;
        };
        let value = Value::String(Cow::Owned(case.value.clone()));
        let consumed: Vec<usize> = sources.iter().flatten().copied().collect();
        let old = consumed
            .iter()
            .map(|&i| self.show(&w[i].key, &w[i].value))
            .collect::<Vec<_>>()
            .join(", ");
        let shown = self.show(&c.to, &value);
        if self.place(w, changes, &c.to, value, shown, labels, Some(old)) {
            remove_consumed(w, consumed);
        }
    }

    /// `[[unpack-json]]`: a JSON object's fields → attributes; the source goes only when every
    /// field found a home. Each copy of a source repeated on one span is unpacked in the same
    /// run, so that a second run has nothing left to do.
    fn unpack<'a>(
        &self,
        u: &UnpackJson,
        label: &Label,
        w: &mut Vec<Work<'_, 'a>>,
        changes: &mut Vec<Change>,
    ) {
        let mut start = 0;
        while let Some(found) = w[start..].iter().position(|x| x.key == u.from) {
            let i = start + found;
            // What the copy unpacks goes at the end, under other keys: the search moves on.
            start = if self.unpack_one(u, label, i, w, changes) {
                i
            } else {
                i + 1
            };
        }
    }

    /// Unpacks the source at `w[i]`; true when it was removed.
    fn unpack_one<'a>(
        &self,
        u: &UnpackJson,
        label: &Label,
        i: usize,
        w: &mut Vec<Work<'_, 'a>>,
        changes: &mut Vec<Change>,
    ) -> bool {
        let Some(object) = w[i].value.as_str().and_then(|t| {
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(t).ok()
        }) else {
            return false;
        };
        let mut all_homed = true;
        let mut added = Vec::new();
        for (field, json) in &object {
            if json.is_null() {
                continue;
            }
            let Some(to) = u.fields.get(field).filter(|to| self.target_available(to)) else {
                all_homed = false;
                continue;
            };
            let json = match (u.members.get(field), json) {
                (Some(member), serde_json::Value::Object(inner)) => {
                    all_homed &= inner.len() == 1;
                    match inner.get(member) {
                        Some(v) => v,
                        None => {
                            all_homed = false;
                            continue;
                        }
                    }
                }
                _ => json,
            };
            let json = match u.value_maps.get(field) {
                Some(map) => match json.as_str().and_then(|v| map.get(v)) {
                    Some(new) => &serde_json::Value::String(new.clone()),
                    None => {
                        all_homed = false;
                        continue;
                    }
                },
                None => json,
            };
            let ty = self.rules.attribute(to).map(|d| d.ty);
            let Some(value) = json_value(json, ty).filter(|v| self.fits(to, v)) else {
                all_homed = false;
                continue;
            };
            let value = self.normalise(to, value);
            match w.iter().find(|x| x.key == *to) {
                Some(x) if *x.value == value => {}
                // Another value is already there (OpenInference's `llm.model_name` often holds
                // the response model): the source stays, which keeps this field. Not reported as
                // a conflict, so that a migrated dump migrates to itself without a word.
                Some(_) => all_homed = false,
                None => {
                    added.push(self.show(to, &value));
                    w.push(Work {
                        key: Cow::Owned(to.clone()),
                        value: Cow::Owned(value),
                        src: None,
                        value_changed: false,
                        facts: None,
                    });
                }
            }
        }
        let remove = all_homed && !self.options.dual_emit;
        if added.is_empty() && !remove {
            return false;
        }
        changes.push(Change {
            mapping: label.clone(),
            old: remove.then(|| self.show(&w[i].key, &w[i].value)),
            new: (!added.is_empty()).then(|| added.join(", ")),
        });
        if remove {
            w.remove(i);
        }
        remove
    }

    fn rename<'a>(
        &self,
        w: &mut Vec<Work<'_, 'a>>,
        operation: Option<&str>,
        changes: &mut Vec<Change>,
    ) {
        let mut i = 0;
        while i < w.len() {
            if w[i].src.is_none() {
                i += 1;
                continue;
            }
            let Some((to, changed_value, labels)) = self.rename_of(w, i, operation) else {
                i += 1;
                continue;
            };
            // The value under the new key: the old one (borrowed) unless the rename changes it.
            let value = match changed_value {
                Some(v) => Cow::Owned(v),
                None => w[i].value.clone(),
            };
            // A value moving to a content key is content under its old key too.
            let old = self.describe(|| {
                if self.rules.is_content_attribute(&to) {
                    format!("{}=…", w[i].key)
                } else {
                    self.show(&w[i].key, &w[i].value)
                }
            });
            let new = self.show(&to, &value);
            match w.iter().position(|x| x.key == to) {
                Some(j) if w[j].value == value => {
                    if self.options.dual_emit {
                        i += 1;
                        continue;
                    }
                    changes.push(Change {
                        mapping: labels.already.clone(),
                        old: Some(old),
                        new: None,
                    });
                    w.remove(i);
                    continue;
                }
                Some(_) => {
                    changes.push(Change {
                        mapping: labels.conflict.clone(),
                        old: None,
                        new: None,
                    });
                }
                None if self.options.dual_emit => {
                    changes.push(Change {
                        mapping: labels.made.clone(),
                        old: None,
                        new: Some(new),
                    });
                    w.push(Work {
                        key: Cow::Owned(to),
                        value,
                        src: None,
                        value_changed: false,
                        facts: None,
                    });
                }
                None => {
                    changes.push(Change {
                        mapping: labels.made.clone(),
                        old: Some(old),
                        new: Some(new),
                    });
                    let x = &mut w[i];
                    if let Cow::Owned(_) = value {
                        x.value_changed |= x.value != value;
                        x.value = value;
                    }
                    x.key = Cow::Owned(to);
                    x.facts = None;
                }
            }
            i += 1;
        }
    }

    /// The new key and value of `w[i]`, when a rename applies and the value fits the new key.
    fn rename_of<'a, 's>(
        &'s self,
        w: &[Work<'_, 'a>],
        i: usize,
        operation: Option<&str>,
    ) -> Option<(String, Option<Value<'a>>, &'s Labels)> {
        let x = &w[i];
        let present = |k: &str| w.iter().any(|y| y.key == k);
        let sources = match x.facts {
            Some(facts) => &facts.renames,
            None => &self.sources.facts(&x.key).renames,
        };
        if sources.mapping.is_empty() && !sources.deprecated {
            return None;
        }
        // The value is copied only when the rename changes it.
        let owned = |value: Cow<'_, Value<'a>>| match value {
            Cow::Owned(v) => Some(v),
            Cow::Borrowed(_) => None,
        };
        for &index in &sources.mapping {
            let r = &self.mapping.renames[index];
            if !self.target_available(&r.to)
                || (!r.operations.is_empty()
                    && !operation.is_some_and(|op| r.operations.iter().any(|o| o == op)))
                || r.unless.iter().any(|k| present(k))
            {
                continue;
            }
            let mut value = map_value(&x.value, &r.value_map);
            if let (Some(Convert::Int), Value::Double(d)) = (r.convert, &*value)
                && d.fract() == 0.0
                && d.abs() < 9.0e15
            {
                value = Cow::Owned(Value::Int(*d as i64));
            }
            if let Some(scale) = r.scale {
                value = Cow::Owned(match *value {
                    Value::Int(n) => Value::Double(scaled(n as f64, scale)),
                    Value::Double(d) => Value::Double(scaled(d, scale)),
                    _ => continue,
                });
            }
            if r.wrap_array && matches!(*value, Value::String(_)) {
                value = Cow::Owned(Value::Array(vec![value.into_owned()]));
            }
            let value = match self.rename_normalised[index] {
                true => Cow::Owned(self.normalise(&r.to, value.into_owned())),
                false => value,
            };
            if fits_type(self.rename_types[index], &value) {
                return Some((r.to.clone(), owned(value), &self.labels.renames[index]));
            }
        }
        if !sources.deprecated {
            return None;
        }
        let d = self.rules.deprecated_attribute(&x.key)?;
        let to = d.replacement.as_ref()?;
        if !self.target_available(to) {
            return None;
        }
        let value = self.normalise_cow(to, map_value(&x.value, &d.value_map));
        let labels = self.labels.deprecations.get(&d.key)?;
        self.fits(to, &value)
            .then(|| (to.clone(), owned(value), labels))
    }

    /// [`Self::normalise`] of a value that may be borrowed: copied only for a key with
    /// spellings.
    fn normalise_cow<'v, 'a>(&self, key: &str, value: Cow<'v, Value<'a>>) -> Cow<'v, Value<'a>> {
        if self.normalised_keys.iter().any(|k| k == key) {
            Cow::Owned(self.normalise(key, value.into_owned()))
        } else {
            value
        }
    }

    /// Whether a value fits the registry type of a key (unknown keys: anything).
    fn fits(&self, key: &str, value: &Value<'_>) -> bool {
        fits_type(self.rules.attribute(key).map(|d| d.ty), value)
    }

    /// The conventions' spelling of a current key's value: provider aliases and renamed values
    /// from genai.toml, `[[value-map]]` from the mapping.
    fn normalise<'a>(&self, key: &str, value: Value<'a>) -> Value<'a> {
        // Most keys have no spellings: no lookup, and an array is not rebuilt.
        if !self.normalised_keys.iter().any(|k| k == key) {
            return value;
        }
        let one = |s: &str| -> Option<String> {
            if key == "gen_ai.provider.name" {
                if let Some(d) = self.rules.deprecated_value(key, s) {
                    return Some(d.replacement.clone());
                }
                if let Some(a) = self.rules.value_alias(key, s) {
                    return Some(a.to_string());
                }
            }
            self.value_maps.get(key)?.get(s).cloned()
        };
        match value {
            Value::String(s) => match one(&s) {
                Some(new) => Value::String(Cow::Owned(new)),
                None => Value::String(s),
            },
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) => match one(&s) {
                            Some(new) => Value::String(Cow::Owned(new)),
                            None => Value::String(s),
                        },
                        other => other,
                    })
                    .collect(),
            ),
            other => other,
        }
    }

    fn prefix_rename<'a>(&self, w: &mut [Work<'_, 'a>], steps: StepSet, changes: &mut Vec<Change>) {
        for (n, p) in self.mapping.prefix_renames.iter().enumerate() {
            if !may(steps, self.sources.ids.prefix + n) {
                continue;
            }
            for i in 0..w.len() {
                let Some(rest) = w[i].key.strip_prefix(p.from.as_str()) else {
                    continue;
                };
                let to = format!("{}{rest}", p.to);
                if w.iter().any(|y| y.key == to) {
                    changes.push(Change {
                        mapping: self.labels.prefixes[n].conflict.clone(),
                        old: None,
                        new: None,
                    });
                    continue;
                }
                changes.push(Change {
                    mapping: self.labels.prefixes[n].made.clone(),
                    old: Some(self.show(&w[i].key, &w[i].value)),
                    new: Some(self.show(&to, &w[i].value)),
                });
                w[i].key = Cow::Owned(to);
                w[i].facts = None;
            }
        }
    }

    /// Keys squatting a reserved namespace (the `reserved-namespace` test,
    /// [`Ruleset::is_squatter`]) move under `--move-squatters-to`: the reserved prefix is
    /// replaced by the namespace. A key whose new name is taken stays (a conflict).
    fn move_squatters<'a>(
        &self,
        w: &mut [Work<'_, 'a>],
        event: Option<&str>,
        changes: &mut Vec<Change>,
    ) {
        let Some(ns) = self.options.squatter_namespace.as_deref() else {
            return;
        };
        for i in 0..w.len() {
            if !self.rules.is_squatter(&w[i].key) {
                continue;
            }
            let Some(namespace) = self.rules.reserved_namespace(&w[i].key) else {
                continue;
            };
            let to = format!("{ns}.{}", &w[i].key[namespace.prefix.len()..]);
            let at = |key: &str| match event {
                Some(name) => format!("event {name:?} {key}"),
                None => key.to_string(),
            };
            if w.iter().any(|y| y.key == to) {
                changes.push(Change {
                    mapping: format!("conflict, kept: squatter {} → {to}", w[i].key).into(),
                    old: None,
                    new: None,
                });
                continue;
            }
            let masked = event.is_some_and(|name| self.rules.is_content_event(name))
                || self.rules.is_content_attribute(&w[i].key);
            let show = |key: &str, value: &Value<'_>| {
                if masked {
                    format!("{}=…", at(key))
                } else {
                    at(&self.show(key, value))
                }
            };
            changes.push(Change {
                mapping: format!("squatter {}* → {ns}.*", namespace.prefix).into(),
                old: Some(show(&w[i].key, &w[i].value)),
                new: Some(show(&to, &w[i].value)),
            });
            w[i].key = Cow::Owned(to);
            w[i].facts = None;
        }
    }

    fn normalise_values<'a>(&self, w: &mut [Work<'_, 'a>], changes: &mut Vec<Change>) {
        for x in w.iter_mut() {
            // Most keys have no spelling to normalise: skip them without copying their value.
            let normalised = match x.facts {
                Some(facts) => facts.normalised,
                None => self.normalised_keys.iter().any(|k| *k == x.key),
            };
            if !normalised {
                continue;
            }
            let new = self.normalise(&x.key, (*x.value).clone());
            if new != *x.value {
                let mapping = match self.labels.values.get(x.key.as_ref()) {
                    Some(label) => label.clone(),
                    None => format!("value {}", x.key).into(),
                };
                changes.push(Change {
                    mapping,
                    old: Some(self.show(&x.key, &x.value)),
                    new: Some(self.show(&x.key, &new)),
                });
                x.value = Cow::Owned(new);
                x.value_changed = true;
            }
        }
    }

    /// `hint`: the operation the span's attributes tell, and the key that tells it.
    fn add_operation<'a, 's>(
        &self,
        w: &mut Vec<Work<'_, 'a>>,
        hint: impl Fn() -> Option<(&'s str, &'s str)>,
        changes: &mut Vec<Change>,
    ) {
        if w.iter().any(|x| x.key == "gen_ai.operation.name") {
            return;
        }
        let Some((op, from)) = hint() else {
            return;
        };
        if self.missing_operations.contains(op) {
            return;
        }
        let value = Value::String(Cow::Owned(op.to_string()));
        let mapping = match self.labels.operations.get(from) {
            Some(label) => label.clone(),
            None => format!("operation from {from}").into(),
        };
        changes.push(Change {
            mapping,
            old: None,
            new: Some(self.show("gen_ai.operation.name", &value)),
        });
        w.push(Work {
            key: Cow::Borrowed("gen_ai.operation.name"),
            value: Cow::Owned(value),
            src: None,
            value_changed: false,
            facts: None,
        });
    }

    /// `event`: the name of the span event these attributes belong to (all its attributes are
    /// content when it is a content event).
    fn content<'a>(
        &self,
        w: &mut Vec<Work<'_, 'a>>,
        event: Option<&str>,
        changes: &mut Vec<Change>,
    ) {
        let action = self.options.content;
        if action == ContentAction::Keep {
            return;
        }
        let all = event.is_some_and(|name| self.rules.is_content_event(name));
        let body = event.is_some_and(|name| self.is_message_body_event(name));
        let mut i = 0;
        while i < w.len() {
            let body_content = body && BODY_CONTENT_FIELDS.contains(&w[i].key.as_ref());
            if !all && !body_content && !self.rules.is_content_attribute(&w[i].key) {
                i += 1;
                continue;
            }
            let key = w[i].key.to_string();
            let new = match (&*w[i].value, action) {
                (_, ContentAction::Drop) => None,
                (Value::String(s), ContentAction::Hash) if is_sha256_hex(s) => {
                    i += 1;
                    continue;
                }
                (Value::String(s), ContentAction::Redact) if s == REDACTED => {
                    i += 1;
                    continue;
                }
                (Value::String(s), ContentAction::Hash) => match hash_message_parts(s) {
                    // Already hashed part by part.
                    Some(new) if new == *s => {
                        i += 1;
                        continue;
                    }
                    Some(new) => Some(new),
                    None => Some(hex_sha256(s)),
                },
                (v, ContentAction::Hash) => Some(hex_sha256(&content_text(v))),
                (_, _) => Some(REDACTED.to_string()),
            };
            let label = match action {
                ContentAction::Drop => &self.labels.content_drop,
                ContentAction::Hash => &self.labels.content_hash,
                _ => &self.labels.content_redact,
            };
            let key = match event {
                Some(name) => format!("event {name:?} {key}"),
                None => key,
            };
            changes.push(Change {
                mapping: label.clone(),
                old: Some(self.describe(|| format!("{key}=…"))),
                new: new.as_ref().map(|_| self.describe(|| format!("{key}=…"))),
            });
            match new {
                None => {
                    w.remove(i);
                    continue;
                }
                Some(text) => {
                    w[i].value = Cow::Owned(Value::String(Cow::Owned(text)));
                    w[i].value_changed = true;
                }
            }
            i += 1;
        }
    }

    /// `[[event-attribute]]`: a span event's attribute → a span attribute (Vercel's
    /// `ai.stream.firstChunk` `ai.stream.msToFirstChunk`). The event attribute goes when the span
    /// gets the value or already has it (kept under `--dual-emit`); another value on the span is
    /// a conflict. The event itself stays.
    fn hoist_event_attributes<'a>(
        &self,
        span: &Span<'a>,
        w: &mut Vec<Work<'_, 'a>>,
        event_works: &mut [Vec<Work<'_, 'a>>],
        changes: &mut Vec<Change>,
    ) {
        for (h, labels) in self
            .mapping
            .event_attributes
            .iter()
            .zip(&self.labels.event_attributes)
        {
            if !self.target_available(&h.to) {
                continue;
            }
            for (event, ew) in span.events.iter().zip(event_works.iter_mut()) {
                if event.name != h.event {
                    continue;
                }
                let Some(i) = ew.iter().position(|x| x.key == h.from) else {
                    continue;
                };
                let value = match (h.scale, &*ew[i].value) {
                    (None, v) => v.clone(),
                    (Some(scale), Value::Int(n)) => Value::Double(scaled(*n as f64, scale)),
                    (Some(scale), Value::Double(d)) => Value::Double(scaled(*d, scale)),
                    (Some(_), _) => continue,
                };
                if !self.fits(&h.to, &value) {
                    continue;
                }
                let old = self.describe(|| {
                    format!("event {:?} {}", h.event, self.show(&h.from, &ew[i].value))
                });
                let shown = self.show(&h.to, &value);
                if self.place(w, changes, &h.to, value, shown, labels, Some(old)) {
                    ew.remove(i);
                }
            }
        }
    }

    /// Whether span events of this name are 1.28–1.36 message events (`message-body`).
    fn is_message_body_event(&self, name: &str) -> bool {
        self.mapping
            .event_messages
            .iter()
            .any(|e| e.format == EventFormat::MessageBody && e.events.contains_key(name))
    }

    /// `[[event-messages]]`: the entry's span events → one message-array attribute; the events
    /// go (stay under `--dual-emit`). Nothing moves when an event has an attribute without a
    /// home, or the target is already there with other messages (conflicts).
    fn event_messages<'a>(
        &self,
        entry: &EventMessages,
        labels: &EventMessagesLabels,
        span: &Span<'a>,
        w: &mut Vec<Work<'_, 'a>>,
        removed: &mut Vec<usize>,
        changes: &mut Vec<Change>,
    ) {
        if !self.target_available(&entry.to) {
            return;
        }
        let picked: Vec<(usize, &Event<'a>, &str)> = span
            .events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((i, e, entry.events.get(e.name.as_ref())?.as_str())))
            .collect();
        if picked.is_empty() {
            return;
        }
        let mut messages = Vec::new();
        for (_, event, role) in &picked {
            match self.messages_of_event(entry, event, role, w) {
                Some(mut m) => messages.append(&mut m),
                None => {
                    changes.push(Change {
                        mapping: format!(
                            "{}: event {:?} has an attribute with no home",
                            labels.moved.conflict, event.name
                        )
                        .into(),
                        old: None,
                        new: None,
                    });
                    return;
                }
            }
        }
        let old = Some(self.describe(|| format!("{} span event(s)=…", picked.len())));
        let consumed: Vec<usize> = picked.iter().map(|(i, _, _)| *i).collect();
        if messages.is_empty() {
            // Events without content (not captured): nothing to carry over.
            if !self.options.dual_emit {
                changes.push(Change {
                    mapping: labels.no_content.clone(),
                    old,
                    new: None,
                });
                removed.extend(consumed);
            }
            return;
        }
        let finish = entry
            .finish_reason_from
            .as_deref()
            .and_then(|k| w.iter().find(|x| x.key == k))
            .and_then(|x| match &*x.value {
                Value::String(s) => Some(s.to_string()),
                Value::Array(v) => v.first().and_then(Value::as_str).map(str::to_string),
                _ => None,
            });
        let json = messages_json(
            &messages.into_iter().enumerate().collect(),
            (entry.to == "gen_ai.output.messages").then_some(finish.as_deref()),
            &self.mapping.messages.roles,
            &self.mapping.messages.finish_reasons,
        );
        if self.put_folded(w, changes, &entry.to, json, Vec::new(), &labels.moved, old) {
            removed.extend(consumed);
        }
    }

    /// The messages one event holds; `None` when one of its attributes has no home.
    fn messages_of_event(
        &self,
        entry: &EventMessages,
        event: &Event<'_>,
        role: &str,
        w: &[Work<'_, '_>],
    ) -> Option<Vec<Message>> {
        let provider = |v: &Value<'_>| -> Option<String> {
            let normal = self.normalise("gen_ai.provider.name", v.clone());
            normal.as_str().map(str::to_string)
        };
        let span_providers: Vec<Option<String>> = w
            .iter()
            .filter(|x| x.key == "gen_ai.provider.name" || x.key == "gen_ai.system")
            .map(|x| provider(&x.value))
            .collect();
        let mut body: BTreeMap<&str, &Value<'_>> = BTreeMap::new();
        for a in &event.attributes {
            if entry.provider_attributes.iter().any(|k| *k == a.key) {
                let value = provider(&a.value);
                if value.is_none() || !span_providers.contains(&value) {
                    return None;
                }
                continue;
            }
            body.insert(a.key.as_ref(), &a.value);
        }
        match entry.format {
            EventFormat::LegacyMessages => {
                let key = entry.content.as_deref()?;
                let text = match body.remove(key) {
                    Some(v) => Some(v.as_str()?.to_string()),
                    None => None,
                };
                if !body.is_empty() {
                    return None;
                }
                Some(text.map_or_else(Vec::new, |t| {
                    legacy_messages(&t, role).into_values().collect()
                }))
            }
            EventFormat::MessageBody => message_of_body(body, role).map(|m| vec![m]),
        }
    }

    /// The span's name per its span type's first template that renders, when it differs.
    fn span_name(&self, span: &Span<'_>, w: &[Work<'_, '_>]) -> Option<String> {
        // Read from the work list: copying a long value (a message array) only to read the few
        // keys the span type and name depend on would cost more than the rest.
        let attributes = w
            .iter()
            .map(|x| (x.key.as_ref(), &*x.value, x.facts.map(|f| f.names)));
        self.namer.name(&self.rules, span, attributes)
    }
}

/// Whether a value fits a registry type (`None`, a key not in the registry: anything).
fn fits_type(ty: Option<AttributeType>, value: &Value<'_>) -> bool {
    let Some(ty) = ty else {
        return true;
    };
    let all = |v: &Vec<Value<'_>>, f: fn(&Value<'_>) -> bool| v.iter().all(f);
    match (ty, value) {
        (AttributeType::String | AttributeType::TemplateString, Value::String(_)) => true,
        (AttributeType::Int, Value::Int(_)) => true,
        (AttributeType::Double, Value::Double(_) | Value::Int(_)) => true,
        (AttributeType::Boolean, Value::Bool(_)) => true,
        (AttributeType::StringArray, Value::Array(v)) => all(v, |x| matches!(x, Value::String(_))),
        (AttributeType::IntArray, Value::Array(v)) => all(v, |x| matches!(x, Value::Int(_))),
        (AttributeType::DoubleArray, Value::Array(v)) => {
            all(v, |x| matches!(x, Value::Double(_) | Value::Int(_)))
        }
        (AttributeType::BooleanArray, Value::Array(v)) => all(v, |x| matches!(x, Value::Bool(_))),
        (AttributeType::Any, _) => true,
        _ => false,
    }
}

/// The steps of the mapping that act only when a span holds their source keys, numbered: folds,
/// wrapped messages, URL splits, combines, conversions, unpacks, prefix renames (where each kind's
/// first step is).
#[derive(Debug, Clone, Copy)]
struct StepIds {
    fold: usize,
    wrap: usize,
    split: usize,
    combine: usize,
    convert: usize,
    unpack: usize,
    prefix: usize,
}

/// A set of steps by number; a step past the last bit is taken as always set off.
type StepSet = u128;

fn step_bit(step: usize) -> StepSet {
    u32::try_from(step)
        .ok()
        .and_then(|n| StepSet::from(1u8).checked_shl(n))
        .unwrap_or(0)
}

/// Which steps each source key sets off. A step does nothing to a span without its source keys,
/// and a span holds the sources of few of the mapping's tens of steps, so one pass over its keys
/// (a hash lookup and the few prefixes each) replaces a search of its keys per step.
#[derive(Debug)]
struct Sources {
    ids: StepIds,
    /// Exact key → what the mapping does with it: one lookup per attribute.
    keys: HashMap<String, KeyFacts>,
    /// Source key prefixes (folds, indexed conversions, prefix renames) → their steps.
    prefixes: PrefixTrie,
    /// Steps whose source keys some step can write (a rename target, a fold's messages, a
    /// prefix rename's new prefix…): keys that appear while the span is planned, so these steps
    /// are never skipped. None for the built-in mapping.
    always: StepSet,
}

impl Sources {
    fn new(mapping: &MappingFile, rules: &Ruleset, namer: &Namer) -> Self {
        let fold = 0;
        let wrap = fold + mapping.folds.len();
        let split = wrap + mapping.wrap_messages.len();
        let combine = split + mapping.split_urls.len();
        let convert = combine + mapping.combines.len();
        let unpack = convert + mapping.conversions.len();
        let prefix = unpack + mapping.unpacks.len();
        let ids = StepIds {
            fold,
            wrap,
            split,
            combine,
            convert,
            unpack,
            prefix,
        };
        let mut exact: HashMap<String, KeyFacts> = HashMap::new();
        let mut prefixes: Vec<(String, StepSet)> = Vec::new();
        let mut key =
            |k: &str, step: usize| exact.entry(k.to_string()).or_default().steps |= step_bit(step);
        for (n, w) in mapping.wrap_messages.iter().enumerate() {
            key(&w.from, wrap + n);
        }
        for (n, s) in mapping.split_urls.iter().enumerate() {
            key(&s.from, split + n);
        }
        for (n, c) in mapping.combines.iter().enumerate() {
            c.from.iter().for_each(|k| key(k, combine + n));
        }
        for (n, u) in mapping.unpacks.iter().enumerate() {
            key(&u.from, unpack + n);
        }
        for (n, c) in mapping.conversions.iter().enumerate() {
            match c.format {
                // `from` holds the prefix of the indexed keys.
                ConversionFormat::IndexedToolSchemas | ConversionFormat::IndexedFunctions => {
                    if let Some(p) = c.from.first() {
                        prefixes.push((p.clone(), step_bit(convert + n)));
                    }
                }
                _ => c.from.iter().for_each(|k| key(k, convert + n)),
            }
        }
        for (n, f) in mapping.folds.iter().enumerate() {
            prefixes.push((f.prefix.clone(), step_bit(fold + n)));
        }
        for (n, p) in mapping.prefix_renames.iter().enumerate() {
            prefixes.push((p.from.clone(), step_bit(prefix + n)));
        }
        let (written, written_prefixes) = written_keys(mapping, rules);
        let always = exact
            .iter()
            .filter(|(k, _)| {
                written.contains(k.as_str()) || written_prefixes.iter().any(|p| k.starts_with(p))
            })
            .map(|(k, facts)| (k, &facts.steps))
            .chain(prefixes.iter().map(|(p, set)| (p, set)).filter(|(p, _)| {
                written.iter().any(|k| k.starts_with(p.as_str()))
                    || written_prefixes
                        .iter()
                        .any(|w| w.starts_with(p.as_str()) || p.starts_with(w))
            }))
            .fold(0, |all, (_, set)| all | set);
        let mut trie = PrefixTrie::default();
        for (prefix, set) in &prefixes {
            trie.insert(prefix, *set);
        }
        for (i, r) in mapping.renames.iter().enumerate() {
            exact
                .entry(r.from.clone())
                .or_default()
                .renames
                .mapping
                .push(i);
        }
        for d in &rules.file.deprecated_attributes {
            exact.entry(d.key.clone()).or_default().renames.deprecated = true;
        }
        let normalised = mapping.value_maps.iter().map(|v| v.attribute.as_str());
        for key in normalised.chain(["gen_ai.provider.name"]) {
            exact.entry(key.to_string()).or_default().normalised = true;
        }
        for key in namer.keys() {
            exact.entry(key.to_string()).or_default().names = true;
        }
        // The registry's keys too, so that most of a span's keys are found here with their
        // prefixes' steps, without a walk of the trie.
        for a in &rules.file.attributes {
            exact.entry(a.key.clone()).or_default();
        }
        for (key, facts) in &mut exact {
            facts.prefix_steps = trie.steps_of(key);
        }
        Sources {
            ids,
            keys: exact,
            prefixes: trie,
            always,
        }
    }

    /// What the mapping does with a key.
    fn facts(&self, key: &str) -> &KeyFacts {
        self.keys.get(key).unwrap_or(&NO_FACTS)
    }

    /// The work list of a span's attributes, each with its key's facts (room is kept for
    /// `added` more: a span gets messages, an operation, split URLs…, so adding them does not
    /// move the list), and the steps that may act on the span: those whose source keys are
    /// among its keys, and those whose sources a step may write.
    fn works_of<'s, 'a>(
        &'s self,
        attributes: &'s [Attribute<'a>],
        added: usize,
    ) -> (Vec<Work<'s, 'a>>, StepSet) {
        let mut steps = self.always;
        let mut works = Vec::with_capacity(attributes.len() + added);
        for (i, a) in attributes.iter().enumerate() {
            let (facts, prefix_steps) = match self.keys.get(a.key.as_ref()) {
                Some(facts) => (facts, facts.prefix_steps),
                None => (&NO_FACTS, self.prefixes.steps_of(&a.key)),
            };
            steps |= facts.steps | prefix_steps;
            works.push(Work {
                key: a.key.clone(),
                value: Cow::Borrowed(&a.value),
                src: Some(i),
                value_changed: false,
                facts: Some(facts),
            });
        }
        (works, steps)
    }
}

/// What the mapping does with one attribute key.
#[derive(Debug, Default)]
struct KeyFacts {
    /// The steps it is a source of.
    steps: StepSet,
    /// The steps of the prefixes it starts with.
    prefix_steps: StepSet,
    /// What can rename it.
    renames: RenameSources,
    /// Whether its values have spellings to normalise.
    normalised: bool,
    /// Whether the span name can depend on it ([`Namer::decides`]).
    names: bool,
}

/// The facts of a key the mapping does nothing with.
static NO_FACTS: KeyFacts = KeyFacts {
    steps: 0,
    prefix_steps: 0,
    renames: RenameSources {
        mapping: Vec::new(),
        deprecated: false,
    },
    normalised: false,
    names: false,
};

/// Key prefixes and their steps as a byte trie: a key is walked once, down to where it leaves
/// every prefix (a few bytes in for most keys), instead of being compared with each prefix.
/// A chain of nodes with one child and no steps (`gen_ai.` before `prompt.`) is passed in one
/// comparison.
#[derive(Debug)]
struct PrefixTrie {
    /// The root (the empty prefix) first.
    nodes: Vec<TrieNode>,
}

#[derive(Debug, Default)]
struct TrieNode {
    /// The next byte → its node.
    children: Vec<(u8, usize)>,
    /// The steps of the prefix that ends here.
    steps: StepSet,
    /// The bytes after this node that lead, through nodes with one child and no steps, to
    /// `target` (empty, and `target` this node, when it has steps or not one child).
    run: Vec<u8>,
    target: usize,
}

impl Default for PrefixTrie {
    fn default() -> Self {
        PrefixTrie {
            nodes: vec![TrieNode::default()],
        }
    }
}

impl PrefixTrie {
    fn insert(&mut self, prefix: &str, steps: StepSet) {
        let mut node = 0;
        for &byte in prefix.as_bytes() {
            node = match self.nodes[node].children.iter().find(|(b, _)| *b == byte) {
                Some(&(_, next)) => next,
                None => {
                    let next = self.nodes.len();
                    self.nodes.push(TrieNode::default());
                    self.nodes[node].children.push((byte, next));
                    next
                }
            };
        }
        self.nodes[node].steps |= steps;
        self.find_runs();
    }

    /// Sets every node's `run` and `target` (after each insertion: a trie has tens of nodes).
    fn find_runs(&mut self) {
        for n in 0..self.nodes.len() {
            let (mut run, mut target) = (Vec::new(), n);
            while let (0, [(byte, next)]) = (
                self.nodes[target].steps,
                self.nodes[target].children.as_slice(),
            ) {
                run.push(*byte);
                target = *next;
            }
            self.nodes[n].run = run;
            self.nodes[n].target = target;
        }
    }

    /// The steps of every prefix `key` starts with.
    fn steps_of(&self, key: &str) -> StepSet {
        let mut node = &self.nodes[0];
        let mut steps = node.steps;
        let mut rest = key.as_bytes();
        while let Some((&byte, after)) = rest.split_first() {
            let Some(&(_, child)) = node.children.iter().find(|(b, _)| *b == byte) else {
                break;
            };
            let child = &self.nodes[child];
            // The nodes a run passes have no steps: a key that leaves it has no more prefixes.
            let Some(after) = after.strip_prefix(child.run.as_slice()) else {
                break;
            };
            node = &self.nodes[child.target];
            steps |= node.steps;
            rest = after;
        }
        steps
    }
}

/// Every key a step of planning can write to a span (before the squatter move, which comes
/// last), and the prefixes of the keys it can write (prefix renames).
fn written_keys<'m>(
    mapping: &'m MappingFile,
    rules: &'m Ruleset,
) -> (HashSet<&'m str>, Vec<&'m str>) {
    let mut keys: HashSet<&str> = HashSet::new();
    keys.insert("gen_ai.operation.name");
    keys.extend(mapping.folds.iter().map(|f| f.to.as_str()));
    keys.extend(mapping.wrap_messages.iter().map(|w| w.to.as_str()));
    keys.extend(
        mapping
            .split_urls
            .iter()
            .flat_map(|s| [s.address.as_str(), s.port.as_str()]),
    );
    keys.extend(mapping.combines.iter().map(|c| c.to.as_str()));
    keys.extend(mapping.conversions.iter().map(|c| c.to.as_str()));
    keys.extend(mapping.event_messages.iter().map(|e| e.to.as_str()));
    keys.extend(mapping.event_attributes.iter().map(|e| e.to.as_str()));
    keys.extend(mapping.renames.iter().map(|r| r.to.as_str()));
    keys.extend(
        mapping
            .unpacks
            .iter()
            .flat_map(|u| u.fields.values().map(String::as_str)),
    );
    keys.extend(
        rules
            .file
            .deprecated_attributes
            .iter()
            .filter_map(|d| d.replacement.as_deref()),
    );
    let prefixes = mapping
        .prefix_renames
        .iter()
        .map(|p| p.to.as_str())
        .collect();
    (keys, prefixes)
}

/// Whether `step` may act on a span whose [`Sources::of`] is `steps`.
fn may(steps: StepSet, step: usize) -> bool {
    let bit = step_bit(step);
    bit == 0 || steps & bit != 0
}

/// The work list of an attribute list, with room for `added` more attributes (a span gets
/// messages, an operation, split URLs…), so adding them does not move the list.
fn works<'s, 'a>(attributes: &'s [Attribute<'a>], added: usize) -> Vec<Work<'s, 'a>> {
    let mut works = Vec::with_capacity(attributes.len() + added);
    works.extend(attributes.iter().enumerate().map(|(i, a)| Work {
        key: a.key.clone(),
        value: Cow::Borrowed(&a.value),
        src: Some(i),
        value_changed: false,
        facts: None,
    }));
    works
}

/// The items of a rewritten attribute list, or `None` when it is unchanged.
fn items_if_changed<'a>(w: Vec<Work<'_, 'a>>, original: &[Attribute<'a>]) -> Option<Vec<Item<'a>>> {
    let changed = w.len() != original.len()
        || w.iter()
            .enumerate()
            .any(|(i, x)| x.src != Some(i) || x.value_changed || x.key != original[i].key);
    changed.then(|| {
        w.into_iter()
            .map(|x| match x.src {
                Some(i) if !x.value_changed => {
                    if x.key == original[i].key {
                        Item::Keep(i)
                    } else {
                        Item::Rename(i, x.key.into_owned())
                    }
                }
                _ => Item::New(x.key.into_owned(), x.value.into_owned()),
            })
            .collect()
    })
}

/// `value` under a `value-map`: a copy only when the map changes it.
fn map_value<'v, 'a>(value: &'v Value<'a>, map: &BTreeMap<String, String>) -> Cow<'v, Value<'a>> {
    match value {
        Value::String(s) if !map.is_empty() => match map.get(s.as_ref()) {
            Some(new) => Cow::Owned(Value::String(Cow::Owned(new.clone()))),
            None => Cow::Borrowed(value),
        },
        _ => Cow::Borrowed(value),
    }
}

/// A JSON value as an attribute value for a key of the given registry type: integral numbers
/// are ints unless the key is a double, a string becomes a one-element array for an array key;
/// arrays of strings, of numbers or of booleans are arrays; anything else has no attribute form.
fn json_value(json: &serde_json::Value, ty: Option<AttributeType>) -> Option<Value<'static>> {
    use serde_json::Value as J;
    let number = |n: &serde_json::Number| {
        if ty == Some(AttributeType::Double) {
            return n.as_f64().map(Value::Double);
        }
        match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Some(Value::Int(i)),
            (None, Some(f))
                if ty == Some(AttributeType::Int) && f.fract() == 0.0 && f.abs() < 9.0e15 =>
            {
                Some(Value::Int(f as i64))
            }
            (None, Some(f)) => Some(Value::Double(f)),
            _ => None,
        }
    };
    match json {
        J::Bool(b) => Some(Value::Bool(*b)),
        J::Number(n) => number(n),
        J::String(s) if ty == Some(AttributeType::StringArray) => {
            Some(Value::Array(vec![Value::String(Cow::Owned(s.clone()))]))
        }
        J::String(s) => Some(Value::String(Cow::Owned(s.clone()))),
        J::Array(items) => items
            .iter()
            .map(|x| match x {
                J::String(s) => Some(Value::String(Cow::Owned(s.clone()))),
                J::Number(n) => number(n),
                J::Bool(b) => Some(Value::Bool(*b)),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        _ => None,
    }
}

/// The host and port of an absolute URL (`https://api.openai.com/v1/` → `api.openai.com`, 443):
/// the explicit port, else the scheme's default (`http`, `https`, `ws`, `wss`), else none.
pub fn parse_url(url: &str) -> Option<(&str, Option<u16>)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p.parse::<u16>().ok()?)),
            None if after.is_empty() => (host, None),
            None => return None,
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p.parse::<u16>().ok()?)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let default = match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => Some(443),
        "http" | "ws" => Some(80),
        _ => None,
    };
    Some((host, port.or(default)))
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// SHA-256 of a text, lowercase hex.
pub fn hex_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The fields of a message part that hold content: hashed by `--content hash`.
const PART_CONTENT_FIELDS: [&str; 4] = ["content", "response", "arguments", "result"];

/// `--content hash` of message JSON (semconv-genai.md §4.3), part by part: an array of
/// messages (`{role, parts: [...]}`) or of parts (`gen_ai.system_instructions`) keeps its
/// structure, and each part's content fields ([`PART_CONTENT_FIELDS`]) become the SHA-256 of
/// their text (a string as is, anything else as compact JSON with sorted keys), so equal prompts
/// stay joinable part by part. `None` when the text is not such an array (the caller hashes it
/// whole). Objects keep their members in the written order; other values are copied as written.
pub fn hash_message_parts(text: &str) -> Option<String> {
    fn hash_part(part: &mut OrderedObject<'_>) -> Option<()> {
        for field in PART_CONTENT_FIELDS {
            let Some(raw) = part.get(field) else {
                continue;
            };
            let text = match serde_json::from_str::<String>(raw) {
                Ok(s) if is_sha256_hex(&s) => continue,
                Ok(s) => s,
                Err(_) => serde_json::from_str::<serde_json::Value>(raw)
                    .ok()?
                    .to_string(),
            };
            part.set(field, json_string(&hex_sha256(&text)));
        }
        Some(())
    }
    let mut items: Vec<OrderedObject<'_>> = serde_json::from_str(text).ok()?;
    if items.is_empty() {
        return None;
    }
    for item in &mut items {
        if let Some(parts) = item.get("parts") {
            let mut parts: Vec<OrderedObject<'_>> = serde_json::from_str(parts).ok()?;
            for part in &mut parts {
                hash_part(part)?;
            }
            item.set("parts", ordered_array(&parts));
        } else if item.get("type").is_some() {
            hash_part(item)?;
        } else {
            return None;
        }
    }
    Some(ordered_array(&items))
}

/// A JSON object's members in their written order, values as written (or replaced).
struct OrderedObject<'a>(Vec<(String, Cow<'a, str>)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for OrderedObject<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Members<'a> {
            type Value = OrderedObject<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Self::Value, M::Error> {
                let mut members = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
                    members.push((key, Cow::Borrowed(value.get())));
                }
                Ok(OrderedObject(members))
            }
        }
        d.deserialize_map(Members(std::marker::PhantomData))
    }
}

impl OrderedObject<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// Replaces a member's value (JSON text), or appends the member.
    fn set(&mut self, key: &str, json: String) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = Cow::Owned(json),
            None => self.0.push((key.to_string(), Cow::Owned(json))),
        }
    }

    fn to_json(&self) -> String {
        let members: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{}:{v}", json_string(k)))
            .collect();
        format!("{{{}}}", members.join(","))
    }
}

fn ordered_array(items: &[OrderedObject<'_>]) -> String {
    let items: Vec<String> = items.iter().map(OrderedObject::to_json).collect();
    format!("[{}]", items.join(","))
}

/// The text a content value is hashed from: a string as is, anything else as its OTLP/JSON.
fn content_text(value: &Value<'_>) -> String {
    match value {
        Value::String(s) => s.to_string(),
        other => super::write::any_value_json(other),
    }
}

/// A value for display (never used for content keys).
pub fn render_value(value: &Value<'_>) -> String {
    match value {
        Value::Empty => "(empty)".to_string(),
        Value::String(s) => format!("{:?}", crate::report::truncate(s, 80)),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Double(d) => format!("{d:?}"),
        Value::Bytes(b) => format!("<{} bytes>", b.len()),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(render_value)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::KvList(kvs) => format!("{{{} entries}}", kvs.len()),
    }
}

// ---------------------------------------------------------------------------------------------
// Message JSON (semconv-genai.md §4.3).

#[derive(Debug, Default)]
struct Message {
    role: Option<String>,
    content: Option<String>,
    name: Option<String>,
    tool_call_id: Option<String>,
    finish_reason: Option<String>,
    tool_calls: BTreeMap<usize, ToolCall>,
}

#[derive(Debug, Default)]
struct ToolCall {
    id: Option<String>,
    name: Option<String>,
    arguments: Option<String>,
}

/// Appends a JSON value kept as written when the text is JSON, else a JSON string.
fn push_json_or_string(out: &mut String, s: &str) {
    match serde_json::from_str::<&RawValue>(s) {
        Ok(raw) => out.push_str(raw.get()),
        Err(_) => push_json_string(out, s),
    }
}

/// A JSON value kept as written when the text is JSON, else a JSON string.
fn json_or_string(s: &str) -> String {
    let mut out = String::new();
    push_json_or_string(&mut out, s);
    out
}

/// A function tool definition of the conventions.
fn function_definition(name: &str, description: Option<&str>, parameters: Option<&str>) -> String {
    let mut s = String::from("{\"type\":\"function\",\"name\":");
    push_json_string(&mut s, name);
    if let Some(d) = description {
        s.push_str(",\"description\":");
        push_json_string(&mut s, d);
    }
    if let Some(p) = parameters {
        s.push_str(",\"parameters\":");
        push_json_or_string(&mut s, p);
    }
    s.push('}');
    s
}

/// An OpenAI-style tool `{type, function: {name, description, parameters}}` flattened to the
/// conventions' `{type, name, description, parameters}`; `None` when it is not one.
fn openai_tool(json: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Tool<'a> {
        #[serde(borrow)]
        function: Function<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Function<'a> {
        name: String,
        #[serde(default)]
        description: Option<String>,
        #[serde(borrow, default)]
        parameters: Option<&'a RawValue>,
    }
    let t: Tool<'_> = serde_json::from_str(json).ok()?;
    Some(function_definition(
        &t.function.name,
        t.function.description.as_deref(),
        t.function.parameters.map(RawValue::get),
    ))
}

/// The messages of a bare `gen_ai.prompt` / `gen_ai.completion`
/// ([`ConversionFormat::LegacyMessages`](super::mapping::ConversionFormat::LegacyMessages)).
fn legacy_messages(text: &str, default_role: &str) -> BTreeMap<usize, Message> {
    #[derive(serde::Deserialize)]
    struct Json {
        #[serde(default)]
        role: Option<String>,
        #[serde(default)]
        content: Option<serde_json::Value>,
    }
    let message = |role: &str, content: String| Message {
        role: Some(role.to_string()),
        content: Some(content),
        ..Message::default()
    };
    if let Ok(items) = serde_json::from_str::<Vec<Json>>(text)
        && !items.is_empty()
    {
        let converted: Option<Vec<Message>> = items
            .into_iter()
            .map(|m| {
                let content = match m.content? {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Array(parts) => parts
                        .iter()
                        .map(|p| p.get("text").and_then(|t| t.as_str()))
                        .collect::<Option<Vec<_>>>()?
                        .join("\n"),
                    _ => return None,
                };
                Some(message(m.role.as_deref().unwrap_or(default_role), content))
            })
            .collect();
        if let Some(messages) = converted {
            return messages.into_iter().enumerate().collect();
        }
    }
    const ROLES: [&str; 5] = ["system", "user", "assistant", "tool", "developer"];
    fn starts(line: &str) -> Option<(&'static str, &str)> {
        ROLES.iter().find_map(|r| {
            line.strip_prefix(r)
                .and_then(|rest| rest.strip_prefix(": "))
                .map(|rest| (*r, rest))
        })
    }
    let mut messages: Vec<Message> = Vec::new();
    if text.lines().next().and_then(starts).is_some() {
        for line in text.split('\n') {
            match (starts(line), messages.last_mut()) {
                (Some((role, rest)), _) => messages.push(message(role, rest.to_string())),
                (None, Some(m)) => {
                    let content = m.content.get_or_insert_with(String::new);
                    content.push('\n');
                    content.push_str(line);
                }
                (None, None) => unreachable!("the first line starts a message"),
            }
        }
    } else {
        messages.push(message(default_role, text.to_string()));
    }
    messages.into_iter().enumerate().collect()
}

/// The `tool_call` part of a legacy function call `{"name", "arguments"}` (arguments kept as
/// written when they are JSON); `None` when it is not one.
fn function_call_part(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Call<'a> {
        name: String,
        #[serde(borrow, default)]
        arguments: Option<&'a RawValue>,
    }
    let call: Call<'_> = serde_json::from_str(text).ok()?;
    let mut part = format!(
        "{{\"type\":\"tool_call\",\"name\":{}",
        json_string(&call.name)
    );
    if let Some(raw) = call.arguments {
        let arguments = match serde_json::from_str::<String>(raw.get()) {
            Ok(s) => json_or_string(&s),
            Err(_) => raw.get().to_string(),
        };
        part.push_str(&format!(",\"arguments\":{arguments}"));
    }
    part.push('}');
    Some(part)
}

/// Whether a message part is the same tool call (type, name and arguments) as `part`.
fn same_call(p: &serde_json::Value, part: &serde_json::Value) -> bool {
    ["type", "name", "arguments"]
        .iter()
        .all(|k| p.get(k) == part.get(k))
}

/// Fields of a message event's body that hold content (`--content` on kept events).
const BODY_CONTENT_FIELDS: [&str; 3] = ["content", "message", "tool_calls"];

/// One message from a 1.28–1.36 message event's body fields
/// ([`EventFormat::MessageBody`]); `None` when a field is unknown or not as described.
fn message_of_body(body: BTreeMap<&str, &Value<'_>>, role: &str) -> Option<Message> {
    #[derive(serde::Deserialize)]
    struct Inner {
        #[serde(default)]
        role: Option<String>,
        #[serde(default)]
        content: Option<serde_json::Value>,
    }
    #[derive(serde::Deserialize)]
    struct Call<'a> {
        #[serde(default)]
        id: Option<String>,
        #[serde(borrow)]
        function: Function<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Function<'a> {
        #[serde(default)]
        name: Option<String>,
        #[serde(borrow, default)]
        arguments: Option<&'a RawValue>,
    }
    let text = |v: serde_json::Value| match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    };
    let mut m = Message {
        role: Some(role.to_string()),
        ..Message::default()
    };
    for (key, value) in body {
        match key {
            "role" => m.role = Some(value.as_str()?.to_string()),
            "content" => m.content = Some(content_text(value)),
            "id" => m.tool_call_id = Some(value.as_str()?.to_string()),
            "finish_reason" => m.finish_reason = Some(value.as_str()?.to_string()),
            // The choice's position; events come in choice order.
            "index" if matches!(value, Value::Int(_)) => {}
            "message" => {
                let inner: Inner = serde_json::from_str(value.as_str()?).ok()?;
                if let Some(r) = inner.role {
                    m.role = Some(r);
                }
                m.content = inner.content.map(text);
            }
            "tool_calls" => {
                let calls: Vec<Call<'_>> = serde_json::from_str(value.as_str()?).ok()?;
                for (j, call) in calls.into_iter().enumerate() {
                    let arguments = call.function.arguments.map(|raw| {
                        match serde_json::from_str::<String>(raw.get()) {
                            Ok(s) => s,
                            Err(_) => raw.get().to_string(),
                        }
                    });
                    m.tool_calls.insert(
                        j,
                        ToolCall {
                            id: call.id,
                            name: call.function.name,
                            arguments,
                        },
                    );
                }
            }
            _ => return None,
        }
    }
    Some(m)
}

/// `finish`: `None` for input messages, `Some(span-level reason)` for output messages.
fn messages_json(
    messages: &BTreeMap<usize, Message>,
    finish: Option<Option<&str>>,
    roles: &BTreeMap<String, String>,
    finish_reasons: &BTreeMap<String, String>,
) -> String {
    // Written in one buffer (no string per part): message JSON is most of what planning makes.
    // Sized for the texts and their JSON around them, so that it seldom grows (and is copied).
    let texts = |m: &Message| {
        let calls = m.tool_calls.values();
        let call_texts = calls.map(|c| c.arguments.as_ref().map_or(0, String::len) + 96);
        m.content.as_ref().map_or(0, String::len) + call_texts.sum::<usize>() + 96
    };
    let mut out = String::with_capacity(messages.values().map(texts).sum::<usize>() + 2);
    out.push('[');
    for (n, m) in messages.values().enumerate() {
        if n > 0 {
            out.push(',');
        }
        let role = m.role.as_deref().unwrap_or("user");
        let role = roles.get(role).map_or(role, String::as_str);
        out.push_str("{\"role\":");
        push_json_string(&mut out, role);
        out.push_str(",\"parts\":[");
        let mut first_part = true;
        let mut part = |out: &mut String| {
            if !std::mem::take(&mut first_part) {
                out.push(',');
            }
        };
        match (&m.content, &m.tool_call_id) {
            // A tool result whose content was not captured still answers its call.
            (content, Some(id)) => {
                part(&mut out);
                out.push_str("{\"type\":\"tool_call_response\",\"id\":");
                push_json_string(&mut out, id);
                out.push_str(",\"response\":");
                match content {
                    Some(content) => push_json_string(&mut out, content),
                    None => out.push_str("null"),
                }
                out.push('}');
            }
            (Some(content), None) => {
                part(&mut out);
                out.push_str("{\"type\":\"text\",\"content\":");
                push_json_string(&mut out, content);
                out.push('}');
            }
            (None, None) => {}
        }
        for call in m.tool_calls.values() {
            part(&mut out);
            out.push_str("{\"type\":\"tool_call\"");
            if let Some(id) = &call.id {
                out.push_str(",\"id\":");
                push_json_string(&mut out, id);
            }
            out.push_str(",\"name\":");
            push_json_string(&mut out, call.name.as_deref().unwrap_or(""));
            if let Some(args) = &call.arguments {
                out.push_str(",\"arguments\":");
                push_json_or_string(&mut out, args);
            }
            out.push('}');
        }
        out.push(']');
        if let Some(name) = &m.name {
            out.push_str(",\"name\":");
            push_json_string(&mut out, name);
        }
        if let Some(span_reason) = finish {
            let reason =
                m.finish_reason
                    .as_deref()
                    .or(span_reason)
                    .unwrap_or(if m.tool_calls.is_empty() {
                        "stop"
                    } else {
                        "tool_call"
                    });
            let reason = finish_reasons.get(reason).map_or(reason, String::as_str);
            out.push_str(",\"finish_reason\":");
            push_json_string(&mut out, reason);
        }
        out.push('}');
    }
    out.push(']');
    out
}

/// Drops the attributes a fold or conversion consumed (by index), keeping the others' order.
fn remove_consumed<T>(w: &mut Vec<T>, mut consumed: Vec<usize>) {
    // The indices in order, walked beside the list: no mask or set to build for a few indices.
    consumed.sort_unstable();
    consumed.dedup();
    let (mut next, mut i) = (0, 0);
    w.retain(|_| {
        let gone = consumed.get(next) == Some(&i);
        next += usize::from(gone);
        i += 1;
        !gone
    });
}

/// `value × scale`, dividing by the reciprocal when the scale is one over a whole number
/// (`0.001`: ms → s), because `412.5 / 1000.0` is `0.4125` where `412.5 * 0.001` is
/// `0.41250000000000003`.
fn scaled(value: f64, scale: f64) -> f64 {
    let reciprocal = (1.0 / scale).round();
    if scale < 1.0 && reciprocal != 0.0 && (1.0 / reciprocal - scale).abs() < f64::EPSILON * scale {
        value / reciprocal
    } else {
        value * scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The facts of a key say whether the span name depends on it exactly when the namer does
    /// (planning reads the facts, not the namer, for the span's own keys).
    #[test]
    fn key_facts_know_the_keys_the_name_depends_on() {
        let migrator = Migrator::new(
            Ruleset::builtin(),
            MappingFile::builtin(),
            Options::default(),
        )
        .unwrap();
        let mut named = 0;
        for (key, facts) in &migrator.sources.keys {
            assert_eq!(facts.names, migrator.namer.decides(key), "{key}");
            named += usize::from(facts.names);
        }
        assert_eq!(named, migrator.namer.keys().count());
        for key in [
            "gen_ai.operation.name",
            "gen_ai.request.model",
            "llm.request.type",
        ] {
            assert!(migrator.sources.facts(key).names, "{key}");
        }
        assert!(!migrator.sources.facts("gen_ai.usage.input_tokens").names);
    }

    #[test]
    fn consumed_attributes_go_and_the_others_keep_their_order() {
        let mut w: Vec<usize> = (0..10).collect();
        remove_consumed(&mut w, vec![7, 2, 2, 9, 12]);
        assert_eq!(w, [0, 1, 3, 4, 5, 6, 8]);
        remove_consumed(&mut w, Vec::new());
        assert_eq!(w, [0, 1, 3, 4, 5, 6, 8]);
        remove_consumed(&mut w, vec![0]);
        assert_eq!(w, [1, 3, 4, 5, 6, 8]);
    }

    /// Skipping the steps whose sources a span lacks changes no plan: every real and migrate
    /// fixture, under each option set, plans the same with every step run on every span.
    #[test]
    fn skipped_steps_are_the_ones_that_would_do_nothing() {
        use crate::input::LoadedFile;
        let paths = crate::migrate::fixture_dumps();
        assert!(paths.len() >= 25, "{paths:?}");
        let option_sets = [
            Options::default(),
            Options {
                dual_emit: true,
                content: ContentAction::Hash,
                ..Options::default()
            },
            Options {
                keep_span_names: true,
                content: ContentAction::Drop,
                target: Some("1.37".into()),
                squatter_namespace: Some("myapp".into()),
                ..Options::default()
            },
        ];
        let mut planned = 0;
        for options in option_sets {
            let new = || Migrator::new(Ruleset::builtin(), MappingFile::builtin(), options.clone());
            let skipping = new().unwrap();
            // The built-in mapping writes no key another step reads.
            assert_eq!(skipping.sources.always, 0);
            let mut every_step = new().unwrap();
            every_step.sources.always = StepSet::MAX;
            for path in &paths {
                let file = LoadedFile::fixture(path);
                let batches: Vec<_> = file.batches().map(Result::unwrap).collect();
                let plans = skipping.plan(&batches);
                assert_eq!(plans, every_step.plan(&batches), "{}", path.display());
                planned += plans.len();
            }
        }
        assert!(planned > 50, "{planned}");
    }

    #[test]
    fn the_prefix_trie_gives_the_steps_of_every_prefix_a_key_starts_with() {
        let prefixes = [
            ("llm.", 1),
            ("llm.input_messages.", 2),
            ("llm.input_messages.", 4),
            ("llm.tools.", 8),
            ("gen_ai.prompt.", 16),
            ("gen_ai.é.", 32),
        ];
        let mut trie = PrefixTrie::default();
        for (prefix, steps) in prefixes {
            trie.insert(prefix, steps);
        }
        let naive = |key: &str| {
            prefixes
                .iter()
                .filter(|(p, _)| key.starts_with(p))
                .fold(0, |all, (_, steps)| all | steps)
        };
        for key in [
            "",
            "llm",
            "llm.",
            "llm.input_messages.0.message.role",
            "llm.input_messages",
            "llm.tools.0.tool.json_schema",
            "llm.toolsx",
            "gen_ai.prompt.0.content",
            "gen_ai.prompt",
            "gen_ai.é.x",
            "gen_ai.request.model",
            "ai.prompt",
        ] {
            assert_eq!(trie.steps_of(key), naive(key), "{key}");
        }
        assert_eq!(trie.steps_of("llm.input_messages.0"), 1 | 2 | 4);
        // The empty prefix matches every key.
        trie.insert("", 64);
        assert_eq!(trie.steps_of("x"), 64);
        assert_eq!(trie.steps_of("llm.tools.1"), 64 | 1 | 8);
    }

    #[test]
    fn messages_keep_arguments_as_written_and_normalise_roles_and_reasons() {
        let mut messages = BTreeMap::new();
        let mut m = Message {
            role: Some("agent".into()),
            ..Message::default()
        };
        m.tool_calls.insert(
            0,
            ToolCall {
                id: Some("c1".into()),
                name: Some("get_weather".into()),
                arguments: Some("{\"z\":1,\"a\":2}".into()),
            },
        );
        messages.insert(0, m);
        let roles = BTreeMap::from([("agent".to_string(), "assistant".to_string())]);
        let reasons = BTreeMap::from([("tool_calls".to_string(), "tool_call".to_string())]);
        let json = messages_json(&messages, Some(Some("tool_calls")), &roles, &reasons);
        assert_eq!(
            json,
            r#"[{"role":"assistant","parts":[{"type":"tool_call","id":"c1","name":"get_weather","arguments":{"z":1,"a":2}}],"finish_reason":"tool_call"}]"#
        );
    }

    #[test]
    fn urls_split_into_host_and_port() {
        assert_eq!(
            parse_url("https://api.openai.com/v1/"),
            Some(("api.openai.com", Some(443)))
        );
        assert_eq!(
            parse_url("http://user:pw@localhost:11434/v1"),
            Some(("localhost", Some(11434)))
        );
        assert_eq!(parse_url("http://[::1]:8080"), Some(("::1", Some(8080))));
        assert_eq!(parse_url("grpc://h"), Some(("h", None)));
        assert_eq!(parse_url("api.openai.com/v1"), None);
        assert_eq!(parse_url("https://h:notaport/"), None);
        assert_eq!(parse_url("https:///x"), None);
    }

    #[test]
    fn message_parts_are_hashed_one_by_one() {
        let h = hex_sha256;
        let text = r#"[{"role":"user","parts":[{"type":"text","content":"hi"}]},{"role":"assistant","parts":[{"type":"tool_call","id":"c1","name":"f","arguments":{"a":1}}],"finish_reason":"tool_call"}]"#;
        let hashed = hash_message_parts(text).unwrap();
        assert_eq!(
            hashed,
            format!(
                r#"[{{"role":"user","parts":[{{"type":"text","content":"{}"}}]}},{{"role":"assistant","parts":[{{"type":"tool_call","id":"c1","name":"f","arguments":"{}"}}],"finish_reason":"tool_call"}}]"#,
                h("hi"),
                h(r#"{"a":1}"#)
            )
        );
        assert_eq!(hash_message_parts(&hashed).unwrap(), hashed);
        // System instructions: an array of parts.
        assert_eq!(
            hash_message_parts(r#"[{"type":"text","content":"be brief"}]"#).unwrap(),
            format!(r#"[{{"type":"text","content":"{}"}}]"#, h("be brief"))
        );
        for not_messages in ["plain text", "[]", "[1]", r#"[{"role":"user"}]"#, "{}"] {
            assert_eq!(hash_message_parts(not_messages), None, "{not_messages}");
        }
    }

    #[test]
    fn legacy_prompts_become_messages() {
        let roles = BTreeMap::new();
        let json = |text: &str, role: &str| {
            messages_json(&legacy_messages(text, role), None, &roles, &roles)
        };
        assert_eq!(
            json(
                r#"[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"}]}]"#,
                "user"
            ),
            r#"[{"role":"system","parts":[{"type":"text","content":"be brief"}]},{"role":"user","parts":[{"type":"text","content":"hi"}]}]"#
        );
        assert_eq!(
            json("system: be brief\nuser: hi\nthere", "user"),
            r#"[{"role":"system","parts":[{"type":"text","content":"be brief"}]},{"role":"user","parts":[{"type":"text","content":"hi\nthere"}]}]"#
        );
        assert_eq!(
            json("Paris.", "assistant"),
            r#"[{"role":"assistant","parts":[{"type":"text","content":"Paris."}]}]"#
        );
    }

    #[test]
    fn sha256_is_lowercase_hex() {
        assert_eq!(
            hex_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn milliseconds_become_seconds_without_binary_noise() {
        assert_eq!(scaled(412.5, 0.001), 0.4125);
        assert_eq!(scaled(1.0, 0.001), 0.001);
        assert_eq!(scaled(3.0, 2.0), 6.0);
    }
}
