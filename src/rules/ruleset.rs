//! [`Ruleset`]: the rules file compiled into lookup tables, and [`SpanContext`]: one span with
//! everything the rules need to know about it (its span type, its requirements, who emitted it).

// foldhash, not SipHash: every attribute of every span is looked up here (SipHash was ~7% of
// `check` in profiles). Only the rules file inserts keys (and the bounded `closest` cache).
use foldhash::{HashMap, HashMapExt, HashSet};
use std::cell::OnceCell;
use std::sync::{Arc, OnceLock};

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::Settings;
use super::key_facts::{self, KeyFacts, KeysSummary};
use super::messages::MessageAttribute;
use super::rulesfile::{
    AttributeDef, AttributeType, Condition, ContentMode, DeprecatedAttribute, DeprecatedEvent,
    DeprecatedValue, ForeignNamespace, Level, Refinement, Requirement, ReservedNamespace,
    RulesFile, SpanType,
};
use crate::finding::{Finding, SpanIdentity};
use crate::model::{Attribute, Event, Offset, ResourceSpans, Scope, Span, SpanKind, StatusCode};
use std::borrow::Cow;

/// A rules file whose content is inconsistent (it parsed, but cannot be used).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RulesetError {
    #[error("invalid glob `{glob}` in [{section}]: {source}")]
    #[diagnostic(code(spanlint::rules::glob))]
    Glob {
        section: &'static str,
        glob: String,
        #[source]
        source: globset::Error,
    },
    #[error("invalid glob `{glob}` in {section}: {source}")]
    #[diagnostic(code(spanlint::config::glob))]
    SettingsGlob {
        section: &'static str,
        glob: String,
        #[source]
        source: globset::Error,
    },
    #[error("refinement `{refinement}` extends unknown span type `{extends}`")]
    #[diagnostic(code(spanlint::rules::refinement))]
    UnknownSpanType { refinement: String, extends: String },
    #[error("{section} names `{key}`, which is not an attribute of the rules file's registry")]
    #[diagnostic(
        code(spanlint::rules::unknown_attribute),
        help("add it as an [[attribute]] (or a [[deprecated-attribute]]), or fix the spelling")
    )]
    UnknownAttribute { section: String, key: String },
    #[error("span type `{span_type}` names unknown span kind `{kind}`")]
    #[diagnostic(
        code(spanlint::rules::span_kind),
        help("span kinds are: internal, server, client, producer, consumer")
    )]
    UnknownSpanKind { span_type: String, kind: String },
}

/// The rules file, compiled for fast lookups during a check.
#[derive(Debug)]
pub struct Ruleset {
    pub file: RulesFile,
    /// What the project's `spanlint.toml` tells the rules (defaults without one).
    pub settings: Settings,
    /// `settings.allow_keys`, compiled.
    allowed_keys: GlobSet,
    attributes: HashMap<String, usize>,
    /// Prefixes (with trailing dot) of `template[string]` attributes.
    template_prefixes: Vec<String>,
    deprecated: HashMap<String, usize>,
    /// Replacement key → the deprecated attributes it replaces (file order).
    replacing: HashMap<String, Vec<usize>>,
    /// attribute → value → index (nested, so a lookup borrows instead of allocating).
    deprecated_values: HashMap<String, HashMap<String, usize>>,
    /// span type index → provider → refinement index (nested, so a lookup borrows).
    refinements: HashMap<usize, HashMap<String, usize>>,
    content_attributes: HashSet<String>,
    content_globs: Globs,
    not_content: Globs,
    content_events: HashSet<String>,
    genai_name_globs: Globs,
    /// (attribute, foreign value) → conventions value.
    /// attribute → library spelling → conventions' value.
    value_aliases: HashMap<String, HashMap<String, String>>,
    /// Registry keys without separators, lowercased, for "did you mean" (`cache_read_input_tokens`).
    squashed_keys: HashMap<String, String>,
    /// Answers of [`Ruleset::closest_attribute`] so far: the same unknown keys come back on
    /// every span of a dump, and the edit-distance search is costly. Bounded.
    closest_cache: std::sync::RwLock<HashMap<String, Option<usize>>>,
    redaction_markers: Globs,
    recommended_ignore: Globs,
    aggregate_ignore: Globs,
    metrics: HashSet<String>,
    resource_attributes: HashSet<String>,
    deprecated_events: HashMap<String, usize>,
    /// Per span type, the kind it selects (`select-kind`, parsed once).
    span_type_kinds: Vec<Option<SpanKind>>,
    /// Per operation, the indices of the span types that list it (ascending), so a span's type
    /// is found with one lookup of its operation instead of comparing it with every list.
    operation_span_types: HashMap<String, Vec<usize>>,
    /// Per `[[tokens.part-of]]`, the registry indices of its total and of its parts (see
    /// [`SpanContext::registry_attribute`]).
    token_part_indices: Vec<(Option<usize>, Vec<Option<usize>>)>,
    /// Per span type, its requirements compiled for the per-span check (when first asked for:
    /// a run compiles only the tables of the span types it meets).
    base_requirements: Vec<OnceLock<Vec<CompiledRequirement>>>,
    /// Per refinement, its span type's requirements with the refinement applied, compiled
    /// likewise.
    refined_requirements: Vec<OnceLock<Vec<CompiledRequirement>>>,
    /// The registry indices of the keys every span context looks up (see
    /// [`SpanContext::registry_attribute`]).
    operation_index: Option<usize>,
    provider_index: Option<usize>,
    system_index: Option<usize>,
    /// Tells this ruleset's remembered [`KeyFacts`] from another's (see [`super::key_facts`]).
    id: u64,
}

impl Ruleset {
    /// Compiles a parsed rules file with default [`Settings`].
    pub fn new(file: RulesFile) -> Result<Self, RulesetError> {
        Self::with_settings(file, Settings::default())
    }

    /// Compiles a parsed rules file with the project's settings. Every glob is compiled now,
    /// so a bad one in a user's rules file is an error before any span is read.
    pub fn with_settings(file: RulesFile, settings: Settings) -> Result<Self, RulesetError> {
        Self::compile_with(file, settings, GlobsWhen::Now)
    }

    /// The built-in rules (see [`RulesFile::builtin`]) with the project's settings and content
    /// policy. Their glob sets, which tests compile, are compiled when first asked: a set
    /// costs up to 2.3M instructions to compile (`[content] not-content` builds a regex per
    /// glob), more than checking a small dump, and a run asks for only some of them.
    pub fn builtin_with_settings(
        settings: Settings,
        content_policy: Option<ContentMode>,
    ) -> Result<Self, RulesetError> {
        let mut file = RulesFile::builtin();
        if let Some(policy) = content_policy {
            file.content.policy = policy;
        }
        Self::compile_with(file, settings, GlobsWhen::FirstUse)
    }

    fn compile_with(
        file: RulesFile,
        settings: Settings,
        globs_when: GlobsWhen,
    ) -> Result<Self, RulesetError> {
        let globs = |section, patterns: &[String]| Globs::new(section, patterns, globs_when);
        // The project's `allow-keys` are always compiled now: they are not the built-in rules'.
        let allowed_keys = glob_set("allow-keys", &settings.allow_keys).map_err(|e| match e {
            RulesetError::Glob { glob, source, .. } => RulesetError::SettingsGlob {
                section: "allow-keys",
                glob,
                source,
            },
            other => other,
        })?;
        check_names(&file)?;
        for span_type in &file.span_types {
            let kinds = span_type.span_kinds.iter().chain(&span_type.select_kind);
            if let Some(bad) = kinds.into_iter().find(|k| parse_kind(k).is_none()) {
                return Err(RulesetError::UnknownSpanKind {
                    span_type: span_type.id.clone(),
                    kind: bad.clone(),
                });
            }
        }
        let mut refinements: HashMap<usize, HashMap<String, usize>> = HashMap::new();
        for (index, refinement) in file.refinements.iter().enumerate() {
            let base = file
                .span_types
                .iter()
                .position(|t| t.id == refinement.extends)
                .ok_or_else(|| RulesetError::UnknownSpanType {
                    refinement: refinement.id.clone(),
                    extends: refinement.extends.clone(),
                })?;
            refinements
                .entry(base)
                .or_default()
                .insert(refinement.provider.clone(), index);
        }
        let mut ruleset = Ruleset {
            settings,
            allowed_keys,
            attributes: index_by(&file.attributes, |a| a.key.clone()),
            template_prefixes: file
                .attributes
                .iter()
                .filter(|a| a.ty == AttributeType::TemplateString)
                .map(|a| format!("{}.", a.key))
                .collect(),
            deprecated: index_by(&file.deprecated_attributes, |d| d.key.clone()),
            replacing: file.deprecated_attributes.iter().enumerate().fold(
                HashMap::new(),
                |mut map: HashMap<String, Vec<usize>>, (i, d)| {
                    if let Some(new) = &d.replacement {
                        map.entry(new.clone()).or_default().push(i);
                    }
                    map
                },
            ),
            deprecated_values: file.deprecated_values.iter().enumerate().fold(
                HashMap::new(),
                |mut map: HashMap<String, HashMap<String, usize>>, (i, d)| {
                    // Later entries win, as in `index_by`.
                    map.entry(d.attribute.clone())
                        .or_default()
                        .insert(d.value.clone(), i);
                    map
                },
            ),
            refinements,
            content_attributes: file.content.attributes.iter().cloned().collect(),
            content_globs: globs("content.attribute-globs", &file.content.attribute_globs)?,
            not_content: globs("content.not-content", &file.content.not_content)?,
            content_events: file.content.events.iter().cloned().collect(),
            genai_name_globs: globs(
                "genai-spans.span-name-globs",
                &file.genai_spans.span_name_globs,
            )?,
            squashed_keys: file
                .attributes
                .iter()
                .rev()
                .fold(HashMap::new(), |mut map, a| {
                    // The first key with the same words wins, as the linear search did.
                    map.insert(squash(&a.key), a.key.clone());
                    map
                }),
            closest_cache: Default::default(),
            value_aliases: file.value_aliases.iter().fold(
                HashMap::new(),
                |mut map: HashMap<String, HashMap<String, String>>, a| {
                    let entry = map.entry(a.attribute.clone()).or_default();
                    for (from, to) in &a.aliases {
                        entry.insert(from.clone(), to.clone());
                    }
                    map
                },
            ),
            redaction_markers: globs("content.redaction-markers", &file.content.redaction_markers)?,
            recommended_ignore: globs("recommended.ignore", &file.recommended.ignore)?,
            aggregate_ignore: globs(
                "recommended.aggregate-ignore",
                &file.recommended.aggregate_ignore,
            )?,
            metrics: file.metrics.names.iter().cloned().collect(),
            resource_attributes: file.resource.identity.iter().cloned().collect(),
            deprecated_events: index_by(&file.deprecated_events, |e| e.name.clone()),
            span_type_kinds: file
                .span_types
                .iter()
                .map(|t| t.select_kind.as_deref().and_then(parse_kind))
                .collect(),
            operation_span_types: file.span_types.iter().enumerate().fold(
                HashMap::new(),
                |mut map: HashMap<String, Vec<usize>>, (i, t)| {
                    for operation in &t.operations {
                        let types = map.entry(operation.clone()).or_default();
                        if types.last() != Some(&i) {
                            types.push(i);
                        }
                    }
                    map
                },
            ),
            token_part_indices: {
                let attributes = index_by(&file.attributes, |a| a.key.clone());
                let index = |key: &String| attributes.get(key).copied();
                file.tokens
                    .part_of
                    .iter()
                    .map(|p| (index(&p.total), p.parts.iter().map(index).collect()))
                    .collect()
            },
            base_requirements: file.span_types.iter().map(|_| OnceLock::new()).collect(),
            refined_requirements: file.refinements.iter().map(|_| OnceLock::new()).collect(),
            operation_index: None,
            provider_index: None,
            system_index: None,
            id: key_facts::next_ruleset_id(),
            file,
        };
        let known = |key: &str| ruleset.attributes.get(key).copied();
        let indices = (
            known("gen_ai.operation.name"),
            known("gen_ai.provider.name"),
            known("gen_ai.system"),
        );
        (
            ruleset.operation_index,
            ruleset.provider_index,
            ruleset.system_index,
        ) = indices;
        Ok(ruleset)
    }

    /// A span type's requirement list, compiled.
    fn compile_base(&self, span_type: &SpanType) -> Vec<CompiledRequirement> {
        span_type
            .requirements
            .iter()
            .map(|r| self.compile(r))
            .collect()
    }

    /// A refinement's merged requirement list, compiled: the refinement's entry replaces the
    /// base entry for the same attribute, new attributes come after the base ones, so a span's
    /// list is one lookup, not a merge.
    fn compile_refined(&self, refinement: &Refinement) -> Vec<CompiledRequirement> {
        let overridden = |attribute: &str| {
            refinement
                .requirements
                .iter()
                .any(|r| r.attribute == attribute)
        };
        self.file
            .span_types
            .iter()
            .find(|t| t.id == refinement.extends)
            .map(|t| t.requirements.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|r| !overridden(&r.attribute))
            .chain(&refinement.requirements)
            .map(|r| self.compile(r))
            .collect()
    }

    fn compile(&self, requirement: &Requirement) -> CompiledRequirement {
        let key = requirement.attribute.as_str();
        let recommended_ignored = self.recommended_ignore.is_match(key);
        CompiledRequirement {
            live: match requirement.level {
                Level::OptIn => false,
                Level::Required => true,
                Level::ConditionallyRequired => requirement.when.is_some(),
                Level::Recommended => requirement.condition.is_none() && !recommended_ignored,
            },
            requirement: requirement.clone(),
            registry: self.attributes.get(key).copied(),
            recommended_ignored,
            aggregate_ignored: self.aggregate_ignore.is_match(key),
            replaces_deprecated: self.replacing.contains_key(key),
            replaced: self.replacing.get(key).cloned().unwrap_or_default(),
        }
    }

    /// The built-in rules for the newest GenAI conventions.
    pub fn builtin() -> Self {
        Ruleset::builtin_with_settings(Settings::default(), None)
            .expect("the built-in rules file is consistent (tested)")
    }

    /// The registry definition of an attribute key (a template's concrete keys included).
    pub fn attribute(&self, key: &str) -> Option<&AttributeDef> {
        self.attribute_index(key).map(|i| &self.file.attributes[i])
    }

    /// [`Ruleset::attribute`] of a key whose facts are known.
    pub fn attribute_of(&self, facts: KeyFacts) -> Option<&AttributeDef> {
        facts.attribute.map(|i| &self.file.attributes[i as usize])
    }

    fn attribute_index(&self, key: &str) -> Option<usize> {
        self.attribute_entry(key).map(|(i, _)| i)
    }

    /// [`Ruleset::attribute_index`], and whether the key is a template's concrete key.
    fn attribute_entry(&self, key: &str) -> Option<(usize, bool)> {
        if let Some(&i) = self.attributes.get(key) {
            return Some((i, false));
        }
        let prefix = self
            .template_prefixes
            .iter()
            .find(|p| key.starts_with(p.as_str()))?;
        let i = *self.attributes.get(prefix.trim_end_matches('.'))?;
        Some((i, true))
    }

    /// The keys some GenAI span of every trace should carry (`missing-context`): the
    /// configuration's `expected-context`, else the rules file's `[trace] context-keys`.
    pub fn context_keys(&self) -> &[String] {
        self.settings
            .expected_context
            .as_deref()
            .unwrap_or(&self.file.trace.context_keys)
    }

    /// The conventions' value a library's spelling stands for (`openai.chat` → `openai`).
    pub fn value_alias(&self, attribute: &str, value: &str) -> Option<&str> {
        self.value_aliases
            .get(attribute)?
            .get(value)
            .map(String::as_str)
    }

    /// The operation a span's foreign attributes tell, with the attribute that told it.
    pub fn hinted_operation<'s>(&'s self, span: &'s Span<'_>) -> Option<(&'s str, &'s str)> {
        self.file.operation_hints.iter().find_map(|hint| {
            let value = span.str_attribute(&hint.attribute)?;
            let operation = hint.values.get(value)?;
            Some((operation.as_str(), hint.attribute.as_str()))
        })
    }

    /// A registry key the given unknown key was probably meant to be: the same words with other
    /// separators (`cache_read_input_tokens` for `cache_read.input_tokens`), or a typo.
    pub fn closest_attribute(&self, key: &str) -> Option<&str> {
        if let Some(same) = self.squashed_keys.get(&squash(key)) {
            return Some(same);
        }
        const CACHE_LIMIT: usize = 10_000;
        let cached = self
            .closest_cache
            .read()
            .ok()
            .and_then(|cache| cache.get(key).copied());
        let index = match cached {
            Some(index) => index,
            None => {
                let index = self.closest_by_edits(key);
                if let Ok(mut cache) = self.closest_cache.write()
                    && cache.len() < CACHE_LIMIT
                {
                    cache.insert(key.to_string(), index);
                }
                index
            }
        };
        index.map(|i| self.file.attributes[i].key.as_str())
    }

    /// The registry key within two edits of `key` (the smallest distance, then the smallest key).
    fn closest_by_edits(&self, key: &str) -> Option<usize> {
        // Only keys of about the same length can be within two edits: skip the rest cheaply.
        self.file
            .attributes
            .iter()
            .enumerate()
            .map(|(i, a)| (i, a.key.as_str()))
            .filter(|(_, k)| k.len().abs_diff(key.len()) <= 2)
            .map(|(i, k)| (strsim::levenshtein(k, key), k, i))
            .filter(|&(distance, _, _)| distance <= 2)
            .min()
            .map(|(_, _, i)| i)
    }

    pub fn deprecated_attribute(&self, key: &str) -> Option<&DeprecatedAttribute> {
        self.deprecated
            .get(key)
            .map(|&i| &self.file.deprecated_attributes[i])
    }

    /// [`Ruleset::deprecated_attribute`] of a key whose facts are known.
    pub fn deprecated_of(&self, facts: KeyFacts) -> Option<&DeprecatedAttribute> {
        facts
            .deprecated
            .map(|i| &self.file.deprecated_attributes[i as usize])
    }

    /// The deprecated attributes `key` replaces, in rules-file order.
    pub fn replaced_by(&self, key: &str) -> impl Iterator<Item = &DeprecatedAttribute> {
        self.replacing
            .get(key)
            .into_iter()
            .flatten()
            .map(|&i| &self.file.deprecated_attributes[i])
    }

    pub fn deprecated_value(&self, key: &str, value: &str) -> Option<&DeprecatedValue> {
        self.deprecated_values
            .get(key)?
            .get(value)
            .map(|&i| &self.file.deprecated_values[i])
    }

    /// Whether an attribute key carries recorded content (prompts, completions, tool I/O).
    pub fn is_content_attribute(&self, key: &str) -> bool {
        self.key_facts(key).content
    }

    /// The glob-matched facts of a key, remembered per distinct key (see [`super::key_facts`]).
    pub fn key_facts(&self, key: &str) -> KeyFacts {
        key_facts::memoized(self.id, key, |key| self.facts_uncached(key))
    }

    /// [`Ruleset::key_facts`] of each key of a span, its own attributes' then each event's,
    /// appended to `out` in order: remembered per list of keys, and per key for a list not
    /// remembered (see [`key_facts::memoized_lists`]).
    pub fn span_keys_facts(&self, span: &Span<'_>, out: &mut Vec<KeyFacts>) {
        let lists = std::iter::once(&span.attributes[..])
            .chain(span.events.iter().map(|e| &e.attributes[..]));
        key_facts::memoized_lists(
            self.id,
            lists,
            |a| a.key.as_ref(),
            |key| self.facts_uncached(key),
            out,
        );
    }

    fn facts_uncached(&self, key: &str) -> KeyFacts {
        // Indices fit `u32`: a rules file with 4 billion entries cannot be loaded.
        let index = |i: usize| u32::try_from(i).ok();
        let attribute = self.attribute_entry(key);
        let facts = KeyFacts {
            content: self.content_attribute_uncached(key),
            squatter: self.squatter_uncached(key),
            recommended_ignored: self.recommended_ignore.is_match(key),
            aggregate_ignored: self.aggregate_ignore.is_match(key),
            metric: self.metric_uncached(key).and_then(index),
            attribute: attribute.and_then(|(i, _)| index(i)),
            template_key: attribute.is_some_and(|(_, template)| template),
            deprecated: self.deprecated.get(key).copied().and_then(index),
            deprecated_values: self.deprecated_values.contains_key(key),
            resource: self.resource_attributes.contains(key),
            indexed: super::keys::indexed_pattern(key).is_some(),
            message: super::messages::MESSAGE_KEYS.contains(&key),
            genai: key.starts_with("gen_ai."),
            foreign_prefixes: foreign_prefixes(&self.file)
                .enumerate()
                .filter(|(_, (_, prefix))| key.starts_with(prefix))
                .fold(0, |bits, (i, _)| bits | (1 << i)),
            summary: KeysSummary::default(),
        };
        KeyFacts {
            summary: KeysSummary::of_key(&facts, self.provider_namespaces_of(key)),
            ..facts
        }
    }

    /// [`KeysSummary::provider_namespaces`] of a key.
    fn provider_namespaces_of(&self, key: &str) -> u32 {
        self.file
            .provider_namespaces
            .iter()
            .enumerate()
            .filter(|(_, n)| key.starts_with(n.prefix.as_str()))
            .fold(0, |bits, (i, _)| bits | provider_namespace_bit(i))
    }

    fn content_attribute_uncached(&self, key: &str) -> bool {
        self.content_attributes.contains(key)
            || (self.content_globs.is_match(key) && !self.not_content.is_match(key))
    }

    /// The reserved namespace (`[[reserved-namespace]]`) a key is under, if any.
    pub fn reserved_namespace(&self, key: &str) -> Option<&ReservedNamespace> {
        self.file
            .reserved_namespaces
            .iter()
            .find(|n| key.starts_with(n.prefix.as_str()))
    }

    /// Whether a key squats a reserved namespace: under one, but neither a registry key, nor
    /// deprecated, nor allowed (the namespace's `allow` list or `allow-keys`). The test behind
    /// `reserved-namespace` and `migrate`'s squatter move.
    pub fn is_squatter(&self, key: &str) -> bool {
        self.key_facts(key).squatter
    }

    fn squatter_uncached(&self, key: &str) -> bool {
        let Some(namespace) = self.reserved_namespace(key) else {
            return false;
        };
        !(self.attribute(key).is_some()
            || self.deprecated_attribute(key).is_some()
            || namespace.allow.iter().any(|a| a == key)
            || self.is_allowed_key(key))
    }

    /// Whether the project allows this key under a reserved namespace (`allow-keys`).
    pub fn is_allowed_key(&self, key: &str) -> bool {
        self.allowed_keys.is_match(key)
    }

    pub fn is_content_event(&self, name: &str) -> bool {
        self.content_events.contains(name)
    }

    /// Whether content may be recorded.
    pub fn content_allowed(&self) -> bool {
        self.file.content.policy == ContentMode::Allow
    }

    /// Whether a string value is a redaction marker (`__REDACTED__`, `[Scrubbed due to …]`).
    pub fn is_redaction_marker(&self, value: &str) -> bool {
        self.redaction_markers.is_match(value)
    }

    /// Whether a missing recommended attribute is left out of `missing-required-attribute`'s
    /// list (recorded only when the request sets it).
    /// Whether a recommended attribute is left out of the missing-recommended info on spans
    /// of this operation.
    // Inlined: `coverage` asks it per requirement of every GenAI span.
    #[inline]
    pub fn recommended_ignored(&self, key: &str, operation: Option<&str>) -> bool {
        let facts = self.key_facts(key);
        facts.recommended_ignored
            || (facts.aggregate_ignored
                && operation.is_some_and(|op| self.is_aggregate_operation(op)))
    }

    /// The conventions' metric a key names or lies under (`gen_ai.client.token.usage.input`),
    /// from the key's facts.
    pub fn metric_named(&self, facts: KeyFacts) -> Option<&str> {
        facts
            .metric
            .map(|i| self.file.metrics.names[i as usize].as_str())
    }

    fn metric_uncached(&self, key: &str) -> Option<usize> {
        self.file.metrics.names.iter().position(|m| {
            key == m
                || key
                    .strip_prefix(m.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
        })
    }

    /// Whether a key is the name of one of the conventions' metrics.
    pub fn is_metric_name(&self, key: &str) -> bool {
        self.metrics.contains(key)
    }

    /// Whether a key is resource identity (`service.name`, …).
    pub fn is_resource_attribute(&self, key: &str) -> bool {
        self.resource_attributes.contains(key)
    }

    pub fn deprecated_event(&self, name: &str) -> Option<&DeprecatedEvent> {
        self.deprecated_events
            .get(name)
            .map(|&i| &self.file.deprecated_events[i])
    }

    /// A GenAI span: any attribute under a GenAI prefix, or a GenAI-shaped name.
    pub fn is_genai_span(&self, span: &Span<'_>) -> bool {
        let prefixes = &self.file.genai_spans.attribute_prefixes;
        span.attributes
            .iter()
            .any(|a| prefixes.iter().any(|p| a.key.starts_with(p.as_str())))
            || self.genai_name_globs.is_match(span.name.as_ref())
    }

    /// The span type of a span: the first whose marker attribute is present, or whose
    /// operations include the span's operation, and whose kind selector (if any) matches the
    /// span's kind.
    pub fn span_type_of<'s>(&'s self, span: &Span<'_>, operation: Option<&str>) -> Option<usize> {
        // The cheap tests first; a marker is looked for only when they leave it to decide, and
        // once for the span types that share it (`mcp.method.name`).
        let mut marker_seen: Option<(&str, bool)> = None;
        let mut has_marker = |marker: &'s str| match marker_seen {
            Some((seen, present)) if seen == marker => present,
            _ => {
                let present = span.attribute(marker).is_some();
                marker_seen = Some((marker, present));
                present
            }
        };
        let operation_types = operation
            .and_then(|op| self.operation_span_types.get(op))
            .map_or(&[][..], Vec::as_slice);
        let types = self.file.span_types.iter().zip(&self.span_type_kinds);
        types.into_iter().enumerate().position(|(i, (t, kind))| {
            let kind_matches = kind.is_none_or(|k| k == span.kind);
            let by_operation = || operation_types.contains(&i);
            kind_matches && (by_operation() || t.marker.as_deref().is_some_and(&mut has_marker))
        })
    }

    /// The registry indices of each `[[tokens.part-of]]`'s total and parts (`None`: not a
    /// registry key), in the rules file's order.
    pub fn token_part_indices(&self) -> &[(Option<usize>, Vec<Option<usize>>)] {
        &self.token_part_indices
    }

    /// The requirements for a span type, with a provider refinement applied: a refinement's
    /// entry replaces the base entry for the same attribute, new attributes are added.
    pub fn requirements(&self, span_type: usize, provider: Option<&str>) -> Vec<&Requirement> {
        self.requirement_table(span_type, provider)
            .iter()
            .map(|c| &c.requirement)
            .collect()
    }

    /// [`Ruleset::requirements`], compiled (see [`CompiledRequirement`]).
    pub fn requirement_table(
        &self,
        span_type: usize,
        provider: Option<&str>,
    ) -> &[CompiledRequirement] {
        let table = match self.refinement_index(span_type, provider) {
            Some(refinement) => self.refined_requirements.get(refinement).map(|table| {
                table.get_or_init(|| self.compile_refined(&self.file.refinements[refinement]))
            }),
            None => self.base_requirements.get(span_type).map(|table| {
                table.get_or_init(|| self.compile_base(&self.file.span_types[span_type]))
            }),
        };
        table.map_or(&[], Vec::as_slice)
    }

    /// Whether spans of this operation aggregate others' work (`[recommended]
    /// aggregate-operations`), so `aggregate-ignore` keys are not asked of them.
    pub fn is_aggregate_operation(&self, operation: &str) -> bool {
        self.file
            .recommended
            .aggregate_operations
            .iter()
            .any(|a| a == operation)
    }

    fn refinement_index(&self, span_type: usize, provider: Option<&str>) -> Option<usize> {
        self.refinements.get(&span_type)?.get(provider?).copied()
    }

    /// The refinement id applied for a span type and provider, if any.
    pub fn refinement_id(&self, span_type: usize, provider: Option<&str>) -> Option<&str> {
        self.refinement_index(span_type, provider)
            .map(|i| self.file.refinements[i].id.as_str())
    }
}

/// The bit of the `index`-th `[[provider-namespace]]` in [`KeysSummary::provider_namespaces`]:
/// its own for the first 31, bit 31 for all others
/// (set: "maybe", so the rule looks at the keys).
pub fn provider_namespace_bit(index: usize) -> u32 {
    1 << index.min(31)
}

/// A key without its separators, lowercased: `cache_read.input_tokens` and
/// `cache_read_input_tokens` are the same words.
fn squash(key: &str) -> String {
    key.replace(['.', '_', '-'], "").to_ascii_lowercase()
}

/// Every attribute a rules file refers to must be defined in it, so a typo in a custom rules
/// file is an error instead of a false "missing" finding on every span.
fn check_names(file: &RulesFile) -> Result<(), RulesetError> {
    let known: HashSet<&str> = file
        .attributes
        .iter()
        .map(|a| a.key.as_str())
        .chain(file.deprecated_attributes.iter().map(|d| d.key.as_str()))
        .collect();
    let unknown = |section: String, key: &str| {
        (!known.contains(key)).then(|| RulesetError::UnknownAttribute {
            section,
            key: key.to_string(),
        })
    };
    let mut errors = Vec::new();
    for t in &file.span_types {
        for r in &t.requirements {
            errors.extend(unknown(format!("span type `{}`", t.id), &r.attribute));
        }
        for placeholder in t.span_names.iter().flat_map(|n| placeholders(n)) {
            errors.extend(unknown(
                format!("span type `{}` span-names", t.id),
                placeholder,
            ));
        }
        if let Some(marker) = &t.marker {
            errors.extend(unknown(format!("span type `{}` marker", t.id), marker));
        }
    }
    for r in &file.refinements {
        for req in &r.requirements {
            errors.extend(unknown(format!("refinement `{}`", r.id), &req.attribute));
        }
    }
    for d in &file.deprecated_attributes {
        if let Some(new) = &d.replacement {
            errors.extend(unknown(format!("deprecated attribute `{}`", d.key), new));
        }
    }
    for a in &file.value_aliases {
        errors.extend(unknown("[[value-alias]]".to_string(), &a.attribute));
    }
    let tokens = &file.tokens;
    let token_keys = tokens
        .counts
        .iter()
        .chain(&tokens.placeholder_minus_one)
        .chain(
            tokens
                .part_of
                .iter()
                .flat_map(|p| p.parts.iter().chain([&p.total])),
        );
    for key in token_keys {
        errors.extend(unknown("[tokens]".to_string(), key));
    }
    errors.into_iter().next().map_or(Ok(()), Err)
}

/// The `{attribute}` placeholders of a span-name template.
pub fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template
        .split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(key, _)| key))
}

fn index_by<T, K: std::hash::Hash + Eq>(items: &[T], key: impl Fn(&T) -> K) -> HashMap<K, usize> {
    // Later entries win, so a rules file can restate an entry to change it.
    items
        .iter()
        .enumerate()
        .map(|(i, item)| (key(item), i))
        .collect()
}

/// When a ruleset compiles its glob sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GlobsWhen {
    /// While the ruleset is built, so that a bad glob is an error at once.
    Now,
    /// When first matched against (the built-in rules, whose globs tests compile).
    FirstUse,
}

/// A glob set of the rules file, compiled now or when first matched against ([`GlobsWhen`]).
#[derive(Debug)]
struct Globs {
    section: &'static str,
    /// The patterns, while the set is not compiled yet.
    patterns: Vec<String>,
    set: OnceLock<GlobSet>,
}

impl Globs {
    fn new(
        section: &'static str,
        patterns: &[String],
        when: GlobsWhen,
    ) -> Result<Self, RulesetError> {
        let set = OnceLock::new();
        if when == GlobsWhen::Now || patterns.is_empty() {
            let _ = set.set(glob_set(section, patterns)?);
        }
        Ok(Globs {
            section,
            patterns: if set.get().is_some() {
                Vec::new()
            } else {
                patterns.to_vec()
            },
            set,
        })
    }

    fn is_match(&self, text: &str) -> bool {
        self.set
            .get_or_init(|| {
                glob_set(self.section, &self.patterns)
                    .expect("the built-in rules' globs compile (tested)")
            })
            .is_match(text)
    }
}

fn glob_set(section: &'static str, globs: &[String]) -> Result<GlobSet, RulesetError> {
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        builder.add(Glob::new(glob).map_err(|source| RulesetError::Glob {
            section,
            glob: glob.clone(),
            source,
        })?);
    }
    builder.build().map_err(|source| RulesetError::Glob {
        section,
        glob: globs.join(", "),
        source,
    })
}

/// Parses a span kind name of the rules file.
pub fn parse_kind(name: &str) -> Option<SpanKind> {
    Some(match name {
        "internal" => SpanKind::Internal,
        "server" => SpanKind::Server,
        "client" => SpanKind::Client,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        _ => return None,
    })
}

/// A requirement of a span type (a provider's refinement applied) with what the per-span check
/// asks about its attribute answered once, when the ruleset is built.
#[derive(Debug)]
pub struct CompiledRequirement {
    pub requirement: Requirement,
    /// Whether the span's lacking it can be reported at all: required, conditionally
    /// required with a condition spanlint can decide, or recommended without a condition and
    /// not ignored (`missing-required-attribute` skips the others, which say nothing).
    pub live: bool,
    /// The attribute's registry index (its exact key, not a template's); `None` for a
    /// deprecated key a custom rules file requires.
    registry: Option<usize>,
    /// `[recommended] ignore` matches the key.
    recommended_ignored: bool,
    /// `[recommended] aggregate-ignore` matches the key.
    aggregate_ignored: bool,
    /// Some deprecated attribute has this one as its replacement.
    pub replaces_deprecated: bool,
    /// The deprecated attributes this one replaces ([`Ruleset::replaced_by`]), as indices.
    replaced: Vec<usize>,
}

impl CompiledRequirement {
    /// [`Ruleset::replaced_by`] of the attribute, without looking it up.
    pub fn replaced<'r>(
        &'r self,
        rules: &'r Ruleset,
    ) -> impl Iterator<Item = &'r DeprecatedAttribute> + 'r {
        self.replaced
            .iter()
            .map(|&i| &rules.file.deprecated_attributes[i])
    }

    /// [`Ruleset::recommended_ignored`] of the key, on a span of an aggregate operation or not.
    pub fn recommended_ignored(&self, aggregate_operation: bool) -> bool {
        self.recommended_ignored || (aggregate_operation && self.aggregate_ignored)
    }
}

/// Which registry attributes a span carries under their exact key: the requirement check asks
/// it for every requirement, so it is built once per span from the keys' facts (a bit per
/// registry index, on the stack: no allocation per span).
#[derive(Clone, Copy)]
pub struct PresentAttributes {
    bits: [u64; PresentAttributes::WORDS],
}

impl PresentAttributes {
    const WORDS: usize = 4;
    const CAPACITY: usize = Self::WORDS * 64;

    pub fn of(ctx: &SpanContext<'_, '_>) -> Self {
        *ctx.present()
    }

    /// The attributes present, from the facts of the span's own attributes.
    fn from_facts(own: &[KeyFacts]) -> Self {
        let mut bits = [0u64; Self::WORDS];
        for facts in own {
            // A template's concrete key (`gen_ai.request.x.y`) has the template's index but is
            // not the template's key.
            if let Some(index) = facts.attribute.map(|i| i as usize)
                && index < Self::CAPACITY
                && !facts.template_key
            {
                bits[index / 64] |= 1 << (index % 64);
            }
        }
        PresentAttributes { bits }
    }

    /// Whether the span carries the registry attribute with this index under its exact key;
    /// `None` when the bits cannot tell (an index past them), so the caller asks the span.
    pub fn has_index(&self, index: usize) -> Option<bool> {
        (index < Self::CAPACITY).then(|| self.bits[index / 64] & (1 << (index % 64)) != 0)
    }

    /// Whether the span carries the requirement's attribute.
    pub fn has(&self, ctx: &SpanContext<'_, '_>, requirement: &CompiledRequirement) -> bool {
        match requirement.registry {
            Some(index) if index < Self::CAPACITY => {
                self.bits[index / 64] & (1 << (index % 64)) != 0
            }
            // Past the bits (a very large custom registry), or not a registry key: ask the span.
            _ => ctx
                .span
                .attribute(&requirement.requirement.attribute)
                .is_some(),
        }
    }
}

/// What a span's keys tell the rules, looked up once per span, all together
/// ([`Ruleset::span_keys_facts`]) for the several rules that ask.
struct SpanFacts {
    /// The [`KeyFacts`] of the span's own attributes, then of its events' attributes (same
    /// order).
    facts: Vec<KeyFacts>,
    /// The registry attributes among the span's own.
    present: PresentAttributes,
    /// Summaries of the span's own keys' facts and of all its keys' facts.
    own: KeysSummary,
    all: KeysSummary,
}

impl SpanFacts {
    fn of(rules: &Ruleset, span: &Span<'_>) -> Self {
        let events = span
            .events
            .iter()
            .map(|e| e.attributes.len())
            .sum::<usize>();
        let mut facts = Vec::with_capacity(span.attributes.len() + events);
        rules.span_keys_facts(span, &mut facts);
        let (own_facts, event_facts) = facts.split_at(span.attributes.len());
        let union = |facts: &[KeyFacts]| {
            facts
                .iter()
                .fold(KeysSummary::default(), |all, f| all.union(f.summary))
        };
        let own = union(own_facts);
        let all = own.union(union(event_facts));
        SpanFacts {
            present: PresentAttributes::from_facts(own_facts),
            facts,
            own,
            all,
        }
    }
}

impl SpanFacts {
    /// [`SpanContext::registry_attribute`] of the span these are the facts of.
    fn registry_attribute<'s, 'a>(
        &self,
        span: &'s Span<'a>,
        key: &str,
        index: Option<usize>,
    ) -> Option<&'s Attribute<'a>> {
        match index.and_then(|i| Some((i, self.present.has_index(i)?))) {
            Some((_, false)) => None,
            Some((index, true)) => {
                let own = &self.facts[..span.attributes.len()];
                own.iter()
                    .position(|f| {
                        f.attribute.is_some_and(|i| i as usize == index) && !f.template_key
                    })
                    .map(|at| &span.attributes[at])
            }
            None => span.attribute(key),
        }
    }
}

/// Every `[[foreign-namespace]]` prefix with its namespace, in the rules file's order: the
/// first 64 are the bits of [`KeyFacts::foreign_prefixes`].
pub fn foreign_prefixes(file: &RulesFile) -> impl Iterator<Item = (&ForeignNamespace, &str)> {
    file.foreign_namespaces
        .iter()
        .flat_map(|ns| ns.prefixes.iter().map(move |p| (ns, p.as_str())))
        .take(64)
}

/// [`foreign_vocabulary`] from the facts of the span's own keys (in order): the first prefix
/// some key starts with, and the first key that does, as the prefixes' bits tell. `None` when
/// the rules file has more than 64 prefixes, which the bits cannot tell.
fn foreign_vocabulary_of_facts<'r>(
    rules: &'r Ruleset,
    span: &'r Span<'_>,
    own: &[KeyFacts],
) -> Option<Option<(&'r ForeignNamespace, &'r str)>> {
    if foreign_prefixes(&rules.file).count()
        < rules
            .file
            .foreign_namespaces
            .iter()
            .map(|n| n.prefixes.len())
            .sum::<usize>()
    {
        return None;
    }
    if own.iter().any(|f| f.genai) {
        return Some(None);
    }
    let present = own.iter().fold(0, |bits, f| bits | f.foreign_prefixes);
    if present == 0 {
        return Some(None);
    }
    let bit = present.trailing_zeros();
    let (namespace, _) = foreign_prefixes(&rules.file).nth(bit as usize)?;
    let at = own
        .iter()
        .position(|f| f.foreign_prefixes & (1 << bit) != 0)?;
    Some(Some((namespace, span.attributes[at].key.as_ref())))
}

/// [`SpanContext::foreign_vocabulary`].
fn foreign_vocabulary<'r>(
    rules: &'r Ruleset,
    span: &'r Span<'_>,
) -> Option<(&'r ForeignNamespace, &'r str)> {
    if span.attributes.iter().any(|a| a.key.starts_with("gen_ai.")) {
        return None;
    }
    // The first prefix of a vocabulary is its most telling key (`openinference.span.kind`).
    rules.file.foreign_namespaces.iter().find_map(|ns| {
        ns.prefixes.iter().find_map(|p| {
            span.attributes
                .iter()
                .find(|a| a.key.starts_with(p.as_str()))
                .map(|a| (ns, a.key.as_ref()))
        })
    })
}

/// [`SpanContext::provider`]; `str_attribute` finds the span's string attribute with a key
/// (whose registry index it is given).
fn find_provider<'r>(
    rules: &'r Ruleset,
    str_attribute: impl Fn(&str, Option<usize>) -> Option<&'r str>,
) -> Option<&'r str> {
    let (key, value) = match str_attribute("gen_ai.provider.name", rules.provider_index) {
        Some(value) => ("gen_ai.provider.name", value),
        None => (
            "gen_ai.system",
            str_attribute("gen_ai.system", rules.system_index)?,
        ),
    };
    if let Some(renamed) = rules.deprecated_value(key, value) {
        return Some(&renamed.replacement);
    }
    Some(
        rules
            .value_alias("gen_ai.provider.name", value)
            .unwrap_or(value),
    )
}

/// A span's operation, and whether the span said it or spanlint inferred it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation<'r> {
    pub name: &'r str,
    /// The foreign attribute the operation was inferred from, when `gen_ai.operation.name` is
    /// missing (`llm.request.type`, `openinference.span.kind`, …).
    pub inferred_from: Option<&'r str>,
}

/// One GenAI span and what the rules need to know about it.
pub struct SpanContext<'r, 'a> {
    pub rules: &'r Ruleset,
    pub span: &'r Span<'a>,
    pub resource: &'r ResourceSpans<'a>,
    pub scope: &'r Scope<'a>,
    /// `gen_ai.operation.name`, or the operation a foreign attribute tells.
    pub operation: Option<Operation<'r>>,
    /// Index into `rules.file.span_types`, when the span's type could be determined.
    pub span_type: Option<usize>,
    /// The schema URL of the span's scope (`ScopeSpans.schema_url`), empty when absent.
    pub scope_schema_url: &'r str,
    /// Whether this is the first GenAI span of its scope (scope-level rules report once).
    pub first_in_scope: bool,
    identity: Arc<SpanIdentity>,
    /// What the span's keys tell the rules, looked up once, when first asked.
    attribute_facts: OnceCell<SpanFacts>,
    /// The span's message attributes, parsed once, when the context is built, for the rules and
    /// the trace index that read them (see [`super::messages`]); `None` in a context from
    /// [`SpanContext::new`]. Not a lazy cell: one would make the context invariant in its
    /// lifetimes, which callers that keep what it lends across spans cannot live with.
    parsed_messages: Option<Vec<MessageAttribute<'r, 'a>>>,
    /// [`SpanContext::foreign_vocabulary`], found once when the context is built (two rules
    /// ask); `None` in a context from [`SpanContext::new`].
    foreign: Option<Option<(&'r ForeignNamespace, &'r str)>>,
    /// [`SpanContext::provider`], found once for the several rules that ask (every rule run
    /// asks it at least once; a plain field, not a lazy cell, which would tie the span's and
    /// the ruleset's lifetimes together).
    provider: Option<&'r str>,
    /// Whether findings get their message and help (see [`SpanContext::with_messages`]).
    messages: bool,
}

impl<'r, 'a> SpanContext<'r, 'a> {
    /// A span context for asking about a span that is not checked (`migrate` asks a rewritten
    /// span's type): as [`SpanContext::in_scope`], but its messages are parsed and its foreign
    /// vocabulary found only when asked for, each time.
    pub fn new(
        rules: &'r Ruleset,
        span: &'r Span<'a>,
        resource: &'r ResourceSpans<'a>,
        scope: &'r Scope<'a>,
    ) -> Self {
        Self::build(rules, span, resource, scope, "", false, false)
    }

    /// A span context that knows its scope's schema URL and whether it is the scope's first
    /// GenAI span: the context of every span the rules check, so what several of them read
    /// (the parsed messages, the foreign vocabulary) is found now, once.
    pub fn in_scope(
        rules: &'r Ruleset,
        span: &'r Span<'a>,
        resource: &'r ResourceSpans<'a>,
        scope: &'r Scope<'a>,
        scope_schema_url: &'r str,
        first_in_scope: bool,
    ) -> Self {
        Self::build(
            rules,
            span,
            resource,
            scope,
            scope_schema_url,
            first_in_scope,
            true,
        )
    }

    /// [`SpanContext::in_scope`] (`checked`) or [`SpanContext::new`].
    fn build(
        rules: &'r Ruleset,
        span: &'r Span<'a>,
        resource: &'r ResourceSpans<'a>,
        scope: &'r Scope<'a>,
        scope_schema_url: &'r str,
        first_in_scope: bool,
        checked: bool,
    ) -> Self {
        // A checked span's facts are needed by its rules anyway: found first, they find the
        // keys looked up here (and the message attributes) without comparing strings.
        let attribute_facts = OnceCell::new();
        if checked {
            let _ = attribute_facts.set(SpanFacts::of(rules, span));
        }
        let str_attribute = |key: &str, index: Option<usize>| {
            let attribute = match attribute_facts.get() {
                Some(facts) => facts.registry_attribute(span, key, index),
                None => span.attribute(key),
            };
            attribute.and_then(|a| a.value.as_str())
        };
        let operation = match str_attribute("gen_ai.operation.name", rules.operation_index) {
            Some(name) => Some(Operation {
                name,
                inferred_from: None,
            }),
            None => rules.hinted_operation(span).map(|(name, from)| Operation {
                name,
                inferred_from: Some(from),
            }),
        };
        SpanContext {
            rules,
            span,
            resource,
            scope,
            span_type: rules.span_type_of(span, operation.map(|o| o.name)),
            operation,
            scope_schema_url,
            first_in_scope,
            identity: Arc::new(SpanIdentity {
                trace_id: span.trace_id.to_text(),
                span_id: span.span_id.to_text(),
                name: span.name.to_string(),
                service: crate::model::service_name(resource).map(str::to_string),
                scope: scope.name.to_string(),
            }),
            provider: find_provider(rules, str_attribute),
            parsed_messages: checked
                .then(|| super::messages::of(span, attribute_facts.get().map(|f| &f.facts[..]))),
            foreign: checked.then(|| {
                let own = attribute_facts
                    .get()
                    .map(|f| &f.facts[..span.attributes.len()]);
                own.and_then(|own| foreign_vocabulary_of_facts(rules, span, own))
                    .unwrap_or_else(|| foreign_vocabulary(rules, span))
            }),
            attribute_facts,
            messages: true,
        }
    }

    /// This context, its findings with (`true`, the default) or without a message and help: a
    /// run that shows only counts (`check --quiet`, `--statistics`, `--write-baseline`) reads
    /// neither, and building them cost more than finding the problems. Which findings there
    /// are, and everything else about them, does not change.
    pub fn with_messages(mut self, messages: bool) -> Self {
        self.messages = messages;
        self
    }

    fn span_facts(&self) -> &SpanFacts {
        self.attribute_facts
            .get_or_init(|| SpanFacts::of(self.rules, self.span))
    }

    /// The [`KeyFacts`] of the span's own attributes, then of each event's attributes.
    fn facts(&self) -> &[KeyFacts] {
        &self.span_facts().facts
    }

    /// The registry attributes the span carries (its own, under their exact keys).
    pub fn present(&self) -> &PresentAttributes {
        &self.span_facts().present
    }

    /// The span's first own attribute with the registry key `key`, as `span.attribute(key)`
    /// finds it; `index` is the key's registry index, precompiled by the caller's ruleset
    /// table, so the span's keys are not compared as strings (its facts know which is which).
    pub fn registry_attribute(&self, key: &str, index: Option<usize>) -> Option<&'r Attribute<'a>> {
        self.span_facts().registry_attribute(self.span, key, index)
    }

    /// What some of the span's own keys are.
    pub fn own_keys(&self) -> KeysSummary {
        self.span_facts().own
    }

    /// What some of the span's keys, its events' included, are.
    pub fn all_keys(&self) -> KeysSummary {
        self.span_facts().all
    }

    /// The span's own attributes, each with its key's facts.
    pub fn attributes_with_facts(&self) -> impl Iterator<Item = (&'r Attribute<'a>, KeyFacts)> {
        let own = &self.facts()[..self.span.attributes.len()];
        self.span.attributes.iter().zip(own.iter().copied())
    }

    /// The span's own attributes, then its events' (all of them, or those `event` accepts),
    /// each with its key's facts.
    pub fn all_attributes_with_facts(
        &self,
        event: impl Fn(&Event<'a>) -> bool,
    ) -> impl Iterator<Item = (&'r Attribute<'a>, KeyFacts)> {
        let span = self.span;
        let (own, mut rest) = self.facts().split_at(span.attributes.len());
        // Each event takes the next facts, whether `event` keeps its attributes or not.
        let event_attributes = span.events.iter().flat_map(move |e| {
            let (these, after) = rest.split_at(e.attributes.len());
            rest = after;
            let kept = if event(e) { &e.attributes[..] } else { &[] };
            kept.iter().zip(these)
        });
        span.attributes
            .iter()
            .zip(own)
            .chain(event_attributes)
            .map(|(attribute, facts)| (attribute, *facts))
    }

    /// The span's message attributes (`gen_ai.input.messages`, …: its own, then its events'),
    /// each parsed (once, when the context was built by [`SpanContext::in_scope`]).
    pub fn messages(&self) -> Cow<'_, [MessageAttribute<'r, 'a>]> {
        match &self.parsed_messages {
            Some(parsed) => Cow::Borrowed(parsed),
            None => Cow::Owned(super::messages::of(self.span, None)),
        }
    }

    /// The foreign vocabulary a span describes its LLM work in, when it carries no `gen_ai.*`
    /// key at all (`foreign-namespace` reports it; `missing-required-attribute` then leaves the
    /// missing `gen_ai.operation.name` to it).
    pub fn foreign_vocabulary(&self) -> Option<(&'r ForeignNamespace, &'r str)> {
        self.foreign
            .unwrap_or_else(|| foreign_vocabulary(self.rules, self.span))
    }

    /// Which span this is, for findings.
    pub fn identity(&self) -> &Arc<SpanIdentity> {
        &self.identity
    }

    pub fn span_type(&self) -> Option<&'r SpanType> {
        self.span_type.map(|i| &self.rules.file.span_types[i])
    }

    /// The provider in the conventions' spelling: `gen_ai.provider.name`, or else the
    /// deprecated `gen_ai.system`, with renamed values (`vertex_ai`) and library spellings
    /// (`openai.chat`) mapped, so old and foreign spans still get their provider's refinement.
    pub fn provider(&self) -> Option<&'r str> {
        self.provider
    }

    /// The span type's requirements after the provider refinement.
    pub fn requirements(&self) -> Vec<&'r Requirement> {
        self.span_type
            .map(|t| self.rules.requirements(t, self.provider()))
            .unwrap_or_default()
    }

    /// [`SpanContext::requirements`], compiled.
    pub fn requirement_table(&self) -> &'r [CompiledRequirement] {
        self.span_type
            .map(|t| self.rules.requirement_table(t, self.provider()))
            .unwrap_or_default()
    }

    /// Whether a decidable condition holds for this span.
    pub fn holds(&self, condition: &Condition) -> bool {
        match condition {
            Condition::StatusError => self.span.status.code == StatusCode::Error,
            Condition::Present(key) => self.span.attribute(key).is_some(),
            Condition::AnyPresent(keys) => keys.iter().any(|k| self.span.attribute(k).is_some()),
        }
    }

    /// Whether a requirement applies to this span as an error: required, or conditionally
    /// required with a condition the span shows.
    // Inlined: `coverage` asks it per requirement of every GenAI span.
    #[inline]
    pub fn enforced(&self, requirement: &Requirement) -> bool {
        match requirement.level {
            Level::Required => true,
            Level::ConditionallyRequired => {
                requirement.when.as_ref().is_some_and(|c| self.holds(c))
            }
            Level::Recommended | Level::OptIn => false,
        }
    }

    /// A finding about this span, with the rule's default severity. `text` gives its message
    /// and help; it is called only when the run shows them (see
    /// [`SpanContext::with_messages`]), so a rule builds them in it.
    pub fn finding(
        &self,
        info: &super::RuleInfo,
        attribute: Option<&str>,
        offset: Offset,
        text: impl FnOnce() -> (String, Option<String>),
    ) -> Finding {
        let (message, help) = if self.messages {
            text()
        } else {
            (String::new(), None)
        };
        Finding {
            rule: info.id,
            severity: info.default_severity,
            message,
            help,
            attribute: attribute.map(str::to_string),
            offset,
            span: self.identity.clone(),
        }
    }

    /// A short description of the span type for messages: "`chat` spans
    /// (openai.inference.client)", noting an inferred operation.
    pub fn span_type_label(&self) -> String {
        let span_type = self.span_type().map_or("?", |t| t.id.as_str());
        let refined = self
            .span_type
            .and_then(|t| self.rules.refinement_id(t, self.provider()))
            .unwrap_or(span_type);
        match self.operation {
            Some(Operation {
                name,
                inferred_from: None,
            }) => ["`", name, "` spans (", refined, ")"].concat(),
            Some(Operation {
                name,
                inferred_from: Some(from),
            }) => [
                "`",
                name,
                "` spans (",
                refined,
                "; `",
                name,
                "` inferred from `",
                from,
                "`)",
            ]
            .concat(),
            None => [span_type, " spans"].concat(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attribute, Value};

    fn span(keys: &[&str]) -> Span<'static> {
        Span {
            name: "chat gpt-4o".into(),
            attributes: keys
                .iter()
                .map(|key| Attribute {
                    key: key.to_string().into(),
                    value: Value::String("chat".into()),
                    offset: 0,
                })
                .collect(),
            ..Default::default()
        }
    }

    /// Each span's facts, looked up all at once, are each key's own answer (computed afresh,
    /// not remembered), for every attribute of every span and event of every real, migrate and
    /// rules fixture, in the order `all_attributes_with_facts` gives them (events filtered or
    /// not).
    #[test]
    fn span_facts_are_each_keys_facts() {
        use crate::input::LoadedFile;
        let rules = Ruleset::builtin();
        let rule_dirs = std::fs::read_dir("fixtures/rules")
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir());
        let mut paths: Vec<_> = ["fixtures/real".into(), "fixtures/migrate".into()]
            .into_iter()
            .chain(rule_dirs)
            .flat_map(|dir: std::path::PathBuf| {
                std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path())
            })
            .filter(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("json" | "jsonl" | "pb")
                )
            })
            .collect();
        paths.sort();
        let (mut attributes, mut with_events, mut messages, mut foreign) = (0, 0, 0, 0);
        let (mut summaries, mut registry_found) = (0, 0);
        for path in &paths {
            let file = LoadedFile::fixture(path);
            for batch in file.batches() {
                let Ok(batch) = batch else { continue };
                super::super::walk::for_each_span(&rules, &batch, |span, ctx| {
                    let Some(ctx) = ctx else { return };
                    let own: Vec<_> = ctx.attributes_with_facts().collect();
                    assert_eq!(own.len(), span.attributes.len());
                    // What the checked context found when built is what a context that looks
                    // when asked finds.
                    let asked = SpanContext::new(&rules, span, ctx.resource, ctx.scope);
                    let named = |found: Option<(&ForeignNamespace, &str)>| {
                        found.map(|(ns, key)| (ns.name.clone(), key.to_string()))
                    };
                    assert_eq!(
                        named(ctx.foreign_vocabulary()),
                        named(asked.foreign_vocabulary())
                    );
                    let keys = |c: &SpanContext<'_, '_>| -> Vec<(String, bool, bool)> {
                        c.messages()
                            .iter()
                            .map(|m| (m.attribute.key.to_string(), m.in_event, m.shape.is_some()))
                            .collect()
                    };
                    assert_eq!(keys(&ctx), keys(&asked));
                    messages += ctx.messages().len();
                    foreign += usize::from(ctx.foreign_vocabulary().is_some());
                    // Every event, or those with a name of even length.
                    let chosen = |all: bool, e: &Event<'_>| all || e.name.len().is_multiple_of(2);
                    for all in [true, false] {
                        let found: Vec<_> =
                            ctx.all_attributes_with_facts(|e| chosen(all, e)).collect();
                        let events = span.events.iter().filter(|e| chosen(all, e));
                        let expected: Vec<_> = span
                            .attributes
                            .iter()
                            .chain(events.flat_map(|e| &e.attributes))
                            .collect();
                        assert_eq!(found.len(), expected.len(), "{}", path.display());
                        for ((attribute, facts), want) in found.iter().zip(expected) {
                            assert!(std::ptr::eq(*attribute, want));
                            assert_eq!(*facts, rules.facts_uncached(&want.key), "{}", want.key);
                            attributes += 1;
                        }
                        with_events += usize::from(!span.events.is_empty());
                    }
                    // The summaries are the union of each key's own, and a rule they let skip
                    // the keys would have found nothing in them.
                    let summary = |attributes: &mut dyn Iterator<Item = &Attribute<'_>>| {
                        attributes.fold(KeysSummary::default(), |all, a| {
                            all.union(rules.facts_uncached(&a.key).summary)
                        })
                    };
                    let own = summary(&mut span.attributes.iter());
                    let events = summary(&mut span.events.iter().flat_map(|e| &e.attributes));
                    assert_eq!(ctx.own_keys(), own);
                    assert_eq!(ctx.all_keys(), own.union(events));
                    summaries += usize::from(own != KeysSummary::default());
                    // A registry key's attribute found by its index is the one found by key.
                    for (index, definition) in rules.file.attributes.iter().enumerate() {
                        let key = definition.key.as_str();
                        let index = (rules.attributes.get(key) == Some(&index)).then_some(index);
                        let by_index = ctx.registry_attribute(key, index);
                        let by_key = span.attribute(key);
                        assert_eq!(
                            by_index.map(std::ptr::from_ref),
                            by_key.map(std::ptr::from_ref)
                        );
                        registry_found += usize::from(by_key.is_some());
                    }
                });
            }
        }
        assert!(
            paths.len() >= 25 && attributes > 1000,
            "{paths:?} {attributes}"
        );
        assert!(with_events > 10, "{with_events} spans with events");
        assert!(
            summaries > 100 && registry_found > 500,
            "{summaries} summaries, {registry_found} registry attributes"
        );
        assert!(
            messages > 10 && foreign > 2,
            "{messages} messages, {foreign} foreign"
        );
    }

    /// The span type found through the per-operation lookup is the one the definition gives
    /// (the first type whose kind selector matches and that lists the operation or whose
    /// marker the span carries), for every operation of the rules file and a few others, every
    /// kind, with and without each marker.
    #[test]
    fn span_type_lookup_is_the_first_matching_type() {
        let rules = Ruleset::builtin();
        let by_definition = |span: &Span<'_>, operation: Option<&str>| {
            rules
                .file
                .span_types
                .iter()
                .zip(&rules.span_type_kinds)
                .position(|(t, kind)| {
                    kind.is_none_or(|k| k == span.kind)
                        && (operation.is_some_and(|op| t.operations.iter().any(|o| o == op))
                            || t.marker
                                .as_deref()
                                .is_some_and(|m| span.attribute(m).is_some()))
                })
        };
        let types = &rules.file.span_types;
        let operations: Vec<Option<&str>> = types
            .iter()
            .flat_map(|t| t.operations.iter().map(|o| Some(o.as_str())))
            .chain([None, Some("no_such_operation"), Some("")])
            .collect();
        let markers = types.iter().filter_map(|t| t.marker.as_deref());
        let mut spans: Vec<Span<'static>> = std::iter::once(span(&[]))
            .chain(markers.map(|m| span(&[m])))
            .collect();
        assert!(spans.len() > 1, "the built-in rules have markers");
        let kinds = [
            SpanKind::Unspecified,
            SpanKind::Internal,
            SpanKind::Server,
            SpanKind::Client,
            SpanKind::Producer,
            SpanKind::Consumer,
        ];
        for span in &mut spans {
            for kind in kinds {
                span.kind = kind;
                for &operation in &operations {
                    assert_eq!(
                        rules.span_type_of(span, operation),
                        by_definition(span, operation),
                        "{operation:?} {kind:?}"
                    );
                }
            }
        }
    }

    /// The built-in rules compile their glob sets when first asked, and may then not fail:
    /// compiled at once they must build.
    #[test]
    fn builtin_glob_sets_compile() {
        Ruleset::new(RulesFile::builtin()).expect("every glob set of the built-in rules compiles");
    }

    /// The compiled tables and the per-span bitset answer as the rules file and a scan of the
    /// span do: for every span type and refinement, on spans with registry keys, a template's
    /// concrete key (`gen_ai.prompt.variable.city` is not `gen_ai.prompt.variable`), a
    /// deprecated key and an unknown one.
    #[test]
    fn requirement_tables_and_present_keys_agree_with_the_rules_file() {
        let rules = Ruleset::builtin();
        let spans = [
            span(&[]),
            span(&[
                "gen_ai.operation.name",
                "gen_ai.provider.name",
                "server.port",
            ]),
            span(&[
                "gen_ai.prompt.variable.city",
                "gen_ai.system",
                "x.y",
                "error.type",
            ]),
            span(&[
                "gen_ai.prompt.variable",
                "gen_ai.request.model",
                "gen_ai.tool.name",
            ]),
        ];
        let (resource, scope) = (ResourceSpans::default(), Scope::default());
        let refinements = rules
            .file
            .refinements
            .iter()
            .map(|r| Some(r.provider.as_str()));
        for provider in [None, Some("no-such-provider")]
            .into_iter()
            .chain(refinements)
        {
            for span_type in 0..rules.file.span_types.len() {
                let table = rules.requirement_table(span_type, provider);
                let refinement = rules
                    .refinement_index(span_type, provider)
                    .map(|i| &rules.file.refinements[i]);
                let base = &rules.file.span_types[span_type].requirements;
                let expected: Vec<&str> = match refinement {
                    None => base.iter().map(|r| r.attribute.as_str()).collect(),
                    Some(refinement) => base
                        .iter()
                        .filter(|r| {
                            !refinement
                                .requirements
                                .iter()
                                .any(|o| o.attribute == r.attribute)
                        })
                        .chain(&refinement.requirements)
                        .map(|r| r.attribute.as_str())
                        .collect(),
                };
                let compiled: Vec<&str> = table
                    .iter()
                    .map(|c| c.requirement.attribute.as_str())
                    .collect();
                assert_eq!(compiled, expected, "{span_type} {provider:?}");
                for span in &spans {
                    let ctx = SpanContext::new(&rules, span, &resource, &scope);
                    let present = PresentAttributes::of(&ctx);
                    for c in table {
                        let key = c.requirement.attribute.as_str();
                        assert_eq!(present.has(&ctx, c), span.attribute(key).is_some(), "{key}");
                        // A requirement that is not live says nothing when missing.
                        if !c.live {
                            let level = c.requirement.level;
                            assert!(
                                level == Level::OptIn
                                    || (level == Level::ConditionallyRequired
                                        && c.requirement.when.is_none())
                                    || (level == Level::Recommended
                                        && (c.requirement.condition.is_some()
                                            || c.recommended_ignored(false))),
                                "{key}"
                            );
                            assert!(!ctx.enforced(&c.requirement), "{key}");
                        }
                        assert_eq!(
                            c.recommended_ignored(false),
                            rules.recommended_ignored(key, None),
                            "{key}"
                        );
                        for op in &rules.file.recommended.aggregate_operations {
                            assert_eq!(
                                c.recommended_ignored(true),
                                rules.recommended_ignored(key, Some(op)),
                                "{key} {op}"
                            );
                        }
                        assert_eq!(
                            c.replaces_deprecated,
                            rules.replaced_by(key).next().is_some(),
                            "{key}"
                        );
                        let replaced = |d: &DeprecatedAttribute| std::ptr::from_ref(d);
                        assert!(
                            c.replaced(&rules)
                                .map(replaced)
                                .eq(rules.replaced_by(key).map(replaced)),
                            "{key}"
                        );
                    }
                }
            }
        }
    }
}
