//! Drift test: `rules/genai.toml` against the upstream model files copied into `rules/semconv/`.
//!
//! Every attribute key the rules file names must exist in the registry YAML (or be a
//! deprecation the core YAML or schema file knows), every `[[attribute]]` must have the YAML's
//! type and enum values, every span type's requirement levels must equal the ones resolved from
//! `spans.yaml` (`ref_group`s expanded, later refs overriding earlier ones), refinements must
//! list exactly the differences of `span_refinements`, and renames must match `renamed_to`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use spanlint::rules::rulesfile::{AttributeType, Condition, Level, Requirement, RulesFile};

// ------------------------------------------------------------------------------------------
// Upstream YAML, only the parts the test reads (unknown fields are ignored).
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Str(s) => s.clone(),
        }
    }
}

/// `deprecated:` is a map (`reason`, `renamed_to`, `note`) since core 1.34, free text before.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Deprecation {
    Structured {
        #[serde(default)]
        renamed_to: Option<String>,
    },
    Text(serde::de::IgnoredAny),
}

#[derive(Debug, Deserialize)]
struct Member {
    value: Scalar,
    #[serde(default)]
    deprecated: Option<Deprecation>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum YamlType {
    Simple(String),
    Enum { members: Vec<Member> },
}

/// Weaver `definition/2` file (GenAI repo).
#[derive(Debug, Default, Deserialize)]
struct V2File {
    #[serde(default)]
    attributes: Vec<V2Attribute>,
    #[serde(default)]
    attribute_groups: Vec<V2Group>,
    #[serde(default)]
    spans: Vec<V2Span>,
    #[serde(default)]
    span_refinements: Vec<V2Refinement>,
    #[serde(default)]
    events: Vec<WithAttributes>,
    #[serde(default)]
    metrics: Vec<WithAttributes>,
    #[serde(default)]
    metric_refinements: Vec<WithAttributes>,
}

/// An event, metric or metric refinement: its attribute refs (and a metric's name).
#[derive(Debug, Deserialize)]
struct WithAttributes {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    attributes: Vec<AttrRef>,
}

#[derive(Debug, Deserialize)]
struct V2Attribute {
    key: String,
    #[serde(rename = "type")]
    ty: YamlType,
    #[serde(default)]
    brief: String,
}

#[derive(Debug, Deserialize)]
struct V2Group {
    id: String,
    #[serde(default)]
    attributes: Vec<AttrRef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum YamlLevel {
    Plain(String),
    WithCondition(BTreeMap<String, String>),
}

#[derive(Debug, Clone, Deserialize)]
struct AttrRef {
    #[serde(default, rename = "ref")]
    key: Option<String>,
    #[serde(default)]
    ref_group: Option<String>,
    #[serde(default)]
    requirement_level: Option<YamlLevel>,
}

#[derive(Debug, Deserialize)]
struct V2Span {
    #[serde(rename = "type")]
    id: String,
    kind: String,
    attributes: Vec<AttrRef>,
}

#[derive(Debug, Deserialize)]
struct V2Refinement {
    id: String,
    #[serde(rename = "ref")]
    extends: String,
    #[serde(default)]
    note: String,
    attributes: Vec<AttrRef>,
}

/// Weaver v1 file (core repo).
#[derive(Debug, Deserialize)]
struct V1File {
    groups: Vec<V1Group>,
}

#[derive(Debug, Deserialize)]
struct V1Group {
    #[serde(default)]
    attributes: Vec<V1Attribute>,
}

#[derive(Debug, Deserialize)]
struct V1Attribute {
    #[serde(default)]
    id: Option<String>,
    #[serde(default, rename = "type")]
    ty: Option<YamlType>,
    #[serde(default)]
    brief: String,
    #[serde(default)]
    deprecated: Option<Deprecation>,
}

/// OTel schema transform file (`schemas/1.44.0`).
#[derive(Debug, Deserialize)]
struct SchemaFile {
    versions: BTreeMap<String, Option<SchemaVersion>>,
}

#[derive(Debug, Deserialize)]
struct SchemaVersion {
    #[serde(default)]
    all: Option<SchemaSection>,
}

#[derive(Debug, Deserialize)]
struct SchemaSection {
    #[serde(default)]
    changes: Vec<SchemaChange>,
}

#[derive(Debug, Deserialize)]
struct SchemaChange {
    #[serde(default)]
    rename_attributes: Option<RenameAttributes>,
}

#[derive(Debug, Deserialize)]
struct RenameAttributes {
    attribute_map: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    schema_url: String,
}

// ------------------------------------------------------------------------------------------
// Loading
// ------------------------------------------------------------------------------------------

fn semconv_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/semconv")
}

fn load<T: for<'de> Deserialize<'de>>(rel: &str) -> T {
    let path = semconv_dir().join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

const GENAI: &str = "semantic-conventions-genai/model/";
const GENAI_REGISTRIES: [&str; 4] = [
    "gen-ai/registry.yaml",
    "openai/registry.yaml",
    "aws-bedrock/registry.yaml",
    "mcp/registry.yaml",
];
/// Files that hold groups, spans, events and metrics referencing attributes.
const GENAI_MODELS: [&str; 6] = [
    "gen-ai/spans.yaml",
    "gen-ai/events.yaml",
    "gen-ai/metrics.yaml",
    "mcp/common.yaml",
    "mcp/spans.yaml",
    "mcp/metrics.yaml",
];
const CORE_REGISTRIES: [&str; 8] = [
    "azure",
    "client",
    "error",
    "exceptions",
    "jsonrpc",
    "network",
    "rpc",
    "server",
];
const DEPRECATED_1_41_1: &str =
    "semantic-conventions/v1.41.1/model/gen-ai/deprecated/registry-deprecated.yaml";
const DEPRECATED_MAIN: &str =
    "semantic-conventions/main-384d661/model/gen-ai/deprecated/registry-deprecated.yaml";
const SCHEMA_FILE: &str = "semantic-conventions/main-384d661/schemas/1.44.0";

/// One attribute as the YAML defines it.
#[derive(Debug, Clone, PartialEq)]
struct YamlAttr {
    ty: String,
    members: Vec<String>,
    brief: String,
}

fn yaml_attr(ty: &YamlType, brief: &str) -> YamlAttr {
    let (ty, members) = match ty {
        YamlType::Simple(t) => (t.clone(), Vec::new()),
        YamlType::Enum { members } => {
            // Enum type = the type of its values (all string for the attributes used here).
            let ty = match members.first().map(|m| &m.value) {
                Some(Scalar::Int(_)) => "int",
                Some(Scalar::Float(_)) => "double",
                Some(Scalar::Bool(_)) => "boolean",
                _ => "string",
            };
            (
                ty.to_string(),
                members.iter().map(|m| m.value.text()).collect(),
            )
        }
    };
    YamlAttr {
        ty,
        members,
        brief: collapse(brief),
    }
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// GenAI registry (the 73) and the core v1.43.0 registries, by key.
struct Registry {
    genai: BTreeMap<String, YamlAttr>,
    core: BTreeMap<String, YamlAttr>,
}

impl Registry {
    fn load() -> Self {
        let mut genai = BTreeMap::new();
        for file in GENAI_REGISTRIES {
            let f: V2File = load(&format!("{GENAI}{file}"));
            for a in f.attributes {
                assert!(
                    genai
                        .insert(a.key.clone(), yaml_attr(&a.ty, &a.brief))
                        .is_none(),
                    "{} defined twice",
                    a.key
                );
            }
        }
        let mut core = BTreeMap::new();
        for dir in CORE_REGISTRIES {
            let f: V1File = load(&format!(
                "semantic-conventions/v1.43.0/model/{dir}/registry.yaml"
            ));
            for a in f.groups.iter().flat_map(|g| &g.attributes) {
                if let (Some(id), Some(ty), None) = (&a.id, &a.ty, &a.deprecated) {
                    core.insert(id.clone(), yaml_attr(ty, &a.brief));
                }
            }
        }
        Registry { genai, core }
    }

    fn get(&self, key: &str) -> Option<&YamlAttr> {
        self.genai.get(key).or_else(|| self.core.get(key))
    }
}

/// Deprecated attributes known to the core repo: `key -> renamed_to` (None: obsoleted or no
/// structured rename), from v1.41.1 and main, plus the schema file's rename map.
struct Deprecations {
    v1_41_1: BTreeMap<String, Option<String>>,
    main: BTreeSet<String>,
    schema_renames: BTreeMap<String, String>,
    /// `gen_ai.system` member value -> renamed_to (v1.41.1).
    system_values: BTreeMap<String, Option<String>>,
    /// `gen_ai.openai.request.response_format` values (v1.41.1).
    response_format_values: Vec<String>,
}

impl Deprecations {
    fn load() -> Self {
        let old: V1File = load(DEPRECATED_1_41_1);
        let mut v1_41_1 = BTreeMap::new();
        let mut system_values = BTreeMap::new();
        let mut response_format_values = Vec::new();
        for a in old.groups.iter().flat_map(|g| &g.attributes) {
            let Some(id) = &a.id else { continue };
            let renamed = match &a.deprecated {
                Some(Deprecation::Structured { renamed_to, .. }) => renamed_to.clone(),
                Some(Deprecation::Text(_)) => None,
                None => continue,
            };
            v1_41_1.insert(id.clone(), renamed);
            if let Some(YamlType::Enum { members }) = &a.ty {
                if id == "gen_ai.system" {
                    for m in members {
                        let to = match &m.deprecated {
                            Some(Deprecation::Structured { renamed_to, .. }) => renamed_to.clone(),
                            _ => None,
                        };
                        system_values.insert(m.value.text(), to);
                    }
                }
                if id == "gen_ai.openai.request.response_format" {
                    response_format_values = members.iter().map(|m| m.value.text()).collect();
                }
            }
        }
        let main: V1File = load(DEPRECATED_MAIN);
        let main = main
            .groups
            .iter()
            .flat_map(|g| &g.attributes)
            .filter(|a| a.deprecated.is_some())
            .filter_map(|a| a.id.clone())
            .collect();
        let schema: SchemaFile = load(SCHEMA_FILE);
        let mut schema_renames = BTreeMap::new();
        for v in schema.versions.values().flatten() {
            for c in v.all.iter().flat_map(|s| &s.changes) {
                if let Some(r) = &c.rename_attributes {
                    schema_renames.extend(r.attribute_map.clone());
                }
            }
        }
        Deprecations {
            v1_41_1,
            main,
            schema_renames,
            system_values,
            response_format_values,
        }
    }

    fn knows(&self, key: &str) -> bool {
        self.v1_41_1.contains_key(key)
            || self.main.contains(key)
            || self.schema_renames.contains_key(key)
    }
}

/// Resolved span types and refinements of the GenAI repo.
struct Model {
    /// span type -> (kind, attribute -> (level, condition)).
    spans: BTreeMap<String, (String, Resolved)>,
    /// refinement id -> (extends, note, resolved attributes of the refinement).
    refinements: BTreeMap<String, (String, String, Resolved)>,
    /// Every `ref` in any group, span, event or metric.
    refs: BTreeSet<String>,
}

type Resolved = BTreeMap<String, (String, Option<String>)>;

fn level_of(l: &YamlLevel) -> (String, Option<String>) {
    match l {
        YamlLevel::Plain(s) => (s.clone(), None),
        YamlLevel::WithCondition(m) => {
            assert_eq!(m.len(), 1, "one level per requirement: {m:?}");
            let (k, v) = m.iter().next().unwrap();
            (k.clone(), Some(collapse(v)))
        }
    }
}

/// Expands `ref_group`s in place; a later `ref` of the same key overrides the level only if it
/// sets one. Returns key -> level as set (None: never set).
fn expand(
    attrs: &[AttrRef],
    groups: &BTreeMap<String, Vec<AttrRef>>,
    out: &mut BTreeMap<String, Option<(String, Option<String>)>>,
) {
    for a in attrs {
        if let Some(g) = &a.ref_group {
            let members = groups
                .get(g)
                .unwrap_or_else(|| panic!("unknown ref_group {g}"));
            expand(members, groups, out);
        } else if let Some(k) = &a.key {
            let slot = out.entry(k.clone()).or_insert(None);
            if let Some(l) = &a.requirement_level {
                *slot = Some(level_of(l));
            }
        }
    }
}

fn with_defaults(m: BTreeMap<String, Option<(String, Option<String>)>>) -> Resolved {
    m.into_iter()
        .map(|(k, v)| (k, v.unwrap_or(("recommended".to_string(), None))))
        .collect()
}

impl Model {
    fn load() -> Self {
        let files: Vec<V2File> = GENAI_MODELS
            .iter()
            .map(|f| load(&format!("{GENAI}{f}")))
            .collect();
        let mut groups = BTreeMap::new();
        for f in &files {
            for g in &f.attribute_groups {
                groups.insert(g.id.clone(), g.attributes.clone());
            }
        }
        let mut spans = BTreeMap::new();
        let mut raw_spans = BTreeMap::new();
        for s in files.iter().flat_map(|f| &f.spans) {
            let mut m = BTreeMap::new();
            expand(&s.attributes, &groups, &mut m);
            raw_spans.insert(s.id.clone(), m.clone());
            spans.insert(s.id.clone(), (s.kind.clone(), with_defaults(m)));
        }
        let mut refinements = BTreeMap::new();
        for r in files.iter().flat_map(|f| &f.span_refinements) {
            let mut m = raw_spans
                .get(&r.extends)
                .unwrap_or_else(|| panic!("{} refines unknown {}", r.id, r.extends))
                .clone();
            expand(&r.attributes, &groups, &mut m);
            refinements.insert(
                r.id.clone(),
                (r.extends.clone(), r.note.clone(), with_defaults(m)),
            );
        }
        // Every attribute ref anywhere: groups, spans, span refinements, events, metrics.
        let mut refs = BTreeSet::new();
        for f in &files {
            let lists = f
                .attribute_groups
                .iter()
                .map(|g| &g.attributes)
                .chain(f.spans.iter().map(|s| &s.attributes))
                .chain(f.span_refinements.iter().map(|r| &r.attributes))
                .chain(f.events.iter().map(|e| &e.attributes))
                .chain(f.metrics.iter().map(|m| &m.attributes))
                .chain(f.metric_refinements.iter().map(|m| &m.attributes));
            refs.extend(lists.flatten().filter_map(|a| a.key.clone()));
        }
        Model {
            spans,
            refinements,
            refs,
        }
    }
}

fn rules() -> RulesFile {
    RulesFile::builtin()
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Required => "required",
        Level::ConditionallyRequired => "conditionally_required",
        Level::Recommended => "recommended",
        Level::OptIn => "opt_in",
    }
}

fn type_name(t: AttributeType) -> &'static str {
    match t {
        AttributeType::String => "string",
        AttributeType::Int => "int",
        AttributeType::Double => "double",
        AttributeType::Boolean => "boolean",
        AttributeType::StringArray => "string[]",
        AttributeType::IntArray => "int[]",
        AttributeType::DoubleArray => "double[]",
        AttributeType::BooleanArray => "boolean[]",
        AttributeType::Any => "any",
        AttributeType::TemplateString => "template[string]",
    }
}

fn as_resolved(reqs: &[Requirement]) -> Resolved {
    let mut out = BTreeMap::new();
    for r in reqs {
        let prev = out.insert(
            r.attribute.clone(),
            (level_name(r.level).to_string(), r.condition.clone()),
        );
        assert!(prev.is_none(), "{} listed twice", r.attribute);
    }
    out
}

/// Differences between two resolved maps, for readable failures.
fn diff(expected: &Resolved, actual: &Resolved) -> Vec<String> {
    let keys: BTreeSet<_> = expected.keys().chain(actual.keys()).collect();
    keys.into_iter()
        .filter(|k| expected.get(*k) != actual.get(*k))
        .map(|k| {
            format!(
                "{k}: conventions {:?}, rules file {:?}",
                expected.get(k),
                actual.get(k)
            )
        })
        .collect()
}

/// `{key}` placeholders of a span-name template.
fn placeholders(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').expect("closing brace") + start;
        out.push(rest[start + 1..end].to_string());
        rest = &rest[end + 1..];
    }
    out
}

/// Backticked attribute keys in a condition text (`server.address`), not values (`2.0`).
fn keys_in_text(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| {
            t.contains('.')
                && t.starts_with(|c: char| c.is_ascii_lowercase())
                && t.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
        })
        .map(str::to_string)
        .collect()
}

fn condition_keys(c: &Condition) -> Vec<String> {
    match c {
        Condition::StatusError => Vec::new(),
        Condition::Present(k) => vec![k.clone()],
        Condition::AnyPresent(ks) => ks.clone(),
    }
}

/// Every attribute key the rules file names, with where it is named.
fn named_keys(r: &RulesFile) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut add = |k: &str, w: String| out.push((k.to_string(), w));
    for a in &r.attributes {
        add(&a.key, "[[attribute]]".into());
    }
    let reqs = |owner: &str, reqs: &[Requirement], add: &mut dyn FnMut(&str, String)| {
        for q in reqs {
            add(&q.attribute, format!("{owner} requirement"));
            for k in q.condition.iter().flat_map(|c| keys_in_text(c)) {
                add(&k, format!("{owner} condition of {}", q.attribute));
            }
            for k in q.when.iter().flat_map(condition_keys) {
                add(&k, format!("{owner} `when` of {}", q.attribute));
            }
        }
    };
    for s in &r.span_types {
        reqs(&s.id, &s.requirements, &mut add);
        for t in &s.span_names {
            for k in placeholders(t) {
                add(&k, format!("{} span name {t:?}", s.id));
            }
        }
        if let Some(m) = &s.marker {
            add(m, format!("{} marker", s.id));
        }
    }
    for f in &r.refinements {
        reqs(&f.id, &f.requirements, &mut add);
    }
    for d in &r.deprecated_attributes {
        add(&d.key, "[[deprecated-attribute]]".into());
        if let Some(rep) = &d.replacement {
            add(rep, format!("replacement of {}", d.key));
        }
    }
    for v in &r.deprecated_values {
        add(&v.attribute, "[[deprecated-value]]".into());
    }
    for c in &r.content.attributes {
        add(c, "[content] attributes".into());
    }
    for n in &r.reserved_namespaces {
        for k in &n.allow {
            add(k, format!("allow-list of {}", n.prefix));
        }
    }
    out
}

fn globset(globs: &[String]) -> GlobSet {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        b.add(Glob::new(g).unwrap_or_else(|e| panic!("bad glob {g:?}: {e}")));
    }
    b.build().unwrap()
}

// ------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------

#[test]
fn conventions_match_manifest() {
    let r = rules();
    let m: Manifest = load(&format!("{GENAI}manifest.yaml"));
    assert_eq!(r.conventions.schema_url, m.schema_url);
    assert!(r.conventions.schema_url.ends_with(&r.conventions.version));
    assert!(r.conventions.source.contains("fe5608e"));
}

#[test]
fn every_named_attribute_exists_in_the_registry_or_core_deprecations() {
    let r = rules();
    let reg = Registry::load();
    let dep = Deprecations::load();
    let listed: BTreeSet<_> = r.deprecated_attributes.iter().map(|d| &d.key).collect();
    let mut bad = Vec::new();
    for (key, place) in named_keys(&r) {
        let ok = reg.get(&key).is_some() || (listed.contains(&key) && dep.knows(&key));
        if !ok {
            bad.push(format!("{key} ({place})"));
        }
    }
    assert!(
        bad.is_empty(),
        "unknown attribute keys:\n{}",
        bad.join("\n")
    );
}

#[test]
fn attribute_defs_match_registry_yaml() {
    let r = rules();
    let reg = Registry::load();
    let model = Model::load();
    let mut bad = Vec::new();
    let mut seen = BTreeSet::new();
    for a in &r.attributes {
        if !seen.insert(a.key.clone()) {
            bad.push(format!("{}: listed twice", a.key));
        }
        let Some(y) = reg.get(&a.key) else {
            bad.push(format!("{}: not in the registry YAML", a.key));
            continue;
        };
        if type_name(a.ty) != y.ty {
            bad.push(format!(
                "{}: type {} but YAML says {}",
                a.key,
                type_name(a.ty),
                y.ty
            ));
        }
        let mut ours = a.members.clone();
        let mut theirs = y.members.clone();
        ours.sort();
        theirs.sort();
        if ours != theirs {
            bad.push(format!(
                "{}: members {ours:?} but YAML says {theirs:?}",
                a.key
            ));
        }
        if a.brief != y.brief {
            bad.push(format!("{}: brief differs from the YAML brief", a.key));
        }
    }
    // All 73 GenAI attributes, and exactly the core attributes the GenAI model references.
    let genai: BTreeSet<_> = reg.genai.keys().cloned().collect();
    assert_eq!(
        genai.len(),
        73,
        "the GenAI registry at fe5608e has 73 attributes"
    );
    for k in &genai {
        if !seen.contains(k) {
            bad.push(format!(
                "{k}: GenAI registry attribute missing from the rules file"
            ));
        }
    }
    let core_used: BTreeSet<_> = model.refs.difference(&genai).cloned().collect();
    let core_listed: BTreeSet<_> = seen.difference(&genai).cloned().collect();
    assert_eq!(core_used.len(), 15);
    if core_used != core_listed {
        bad.push(format!(
            "core attributes: model references {core_used:?}, rules file lists {core_listed:?}"
        ));
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn span_types_match_spans_yaml() {
    let r = rules();
    let model = Model::load();
    let ids: BTreeSet<_> = r.span_types.iter().map(|s| s.id.clone()).collect();
    let yaml_ids: BTreeSet<_> = model.spans.keys().cloned().collect();
    assert_eq!(ids, yaml_ids, "span types");
    assert_eq!(r.span_types.len(), 13, "each span type once");
    let mut bad = Vec::new();
    for s in &r.span_types {
        let (kind, expected) = &model.spans[&s.id];
        if s.span_kinds.first() != Some(kind) {
            bad.push(format!(
                "{}: recommended kind {kind}, rules file {:?}",
                s.id, s.span_kinds
            ));
        }
        for d in diff(expected, &as_resolved(&s.requirements)) {
            bad.push(format!("{}: {d}", s.id));
        }
        // The required set is what errors are made of: say it separately.
        let req = |m: &Resolved| -> BTreeSet<String> {
            m.iter()
                .filter(|(_, (l, _))| l == "required")
                .map(|(k, _)| k.clone())
                .collect()
        };
        assert_eq!(
            req(&as_resolved(&s.requirements)),
            req(expected),
            "{}: required attributes",
            s.id
        );
        if s.span_names.is_empty() {
            bad.push(format!("{}: no span-name template", s.id));
        }
        if s.operations.is_empty() == s.marker.is_none() {
            bad.push(format!("{}: needs exactly one of operations/marker", s.id));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn span_type_operations_cover_the_operation_enum() {
    let r = rules();
    let reg = Registry::load();
    let ops: BTreeSet<_> = reg.genai["gen_ai.operation.name"]
        .members
        .iter()
        .cloned()
        .collect();
    let mut by_op: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in &r.span_types {
        for o in &s.operations {
            by_op.entry(o.clone()).or_default().push(s.id.clone());
        }
    }
    let covered: BTreeSet<_> = by_op.keys().cloned().collect();
    assert_eq!(
        covered, ops,
        "operations of the span types vs gen_ai.operation.name"
    );
    for (op, types) in &by_op {
        if op == "invoke_agent" {
            // Split by kind: the client type must come first and select CLIENT.
            let client = r
                .span_types
                .iter()
                .position(|s| s.id == "gen_ai.invoke_agent.client")
                .unwrap();
            let internal = r
                .span_types
                .iter()
                .position(|s| s.id == "gen_ai.invoke_agent.internal")
                .unwrap();
            assert!(client < internal);
            assert_eq!(r.span_types[client].select_kind.as_deref(), Some("client"));
        } else {
            assert_eq!(types.len(), 1, "{op} selects {types:?}");
        }
    }
}

#[test]
fn refinements_match_span_refinements() {
    let r = rules();
    let model = Model::load();
    let ids: BTreeSet<_> = r.refinements.iter().map(|f| f.id.clone()).collect();
    let yaml_ids: BTreeSet<_> = model.refinements.keys().cloned().collect();
    assert_eq!(ids, yaml_ids, "refinements");
    let mut bad = Vec::new();
    for f in &r.refinements {
        let (extends, note, resolved) = &model.refinements[&f.id];
        if &f.extends != extends {
            bad.push(format!(
                "{}: extends {extends}, rules file {}",
                f.id, f.extends
            ));
        }
        if !note.contains(&format!("`\"{}\"`", f.provider)) {
            bad.push(format!(
                "{}: provider {:?} not in the note",
                f.id, f.provider
            ));
        }
        // Exactly the requirements that differ from the base span type.
        let base = &model.spans[extends].1;
        let expected: Resolved = resolved
            .iter()
            .filter(|(k, v)| base.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for d in diff(&expected, &as_resolved(&f.requirements)) {
            bad.push(format!("{}: {d}", f.id));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn deprecated_attributes_match_core_renames() {
    let r = rules();
    let reg = Registry::load();
    let dep = Deprecations::load();
    let mut bad = Vec::new();
    for d in &r.deprecated_attributes {
        if reg.get(&d.key).is_some() {
            bad.push(format!("{}: is a current attribute, not deprecated", d.key));
        }
        let expected = match dep.v1_41_1.get(&d.key) {
            Some(renamed) => renamed.clone(),
            None => match dep.schema_renames.get(&d.key) {
                Some(to) => Some(to.clone()),
                None => {
                    bad.push(format!("{}: unknown to the core deprecations", d.key));
                    continue;
                }
            },
        };
        if d.replacement != expected {
            bad.push(format!(
                "{}: replacement {:?}, core says {expected:?}",
                d.key, d.replacement
            ));
        }
        if let Some(rep) = &d.replacement
            && reg.get(rep).is_none()
        {
            bad.push(format!("{}: replacement {rep} is not current", d.key));
        }
        if d.key.starts_with("gen_ai.") && !dep.main.contains(&d.key) {
            bad.push(format!("{}: not deprecated in core main", d.key));
        }
        // A value map must map into the replacement's enum.
        if let Some(target) = d.replacement.as_ref().and_then(|k| reg.get(k)) {
            for (from, to) in &d.value_map {
                if !target.members.contains(to) {
                    bad.push(format!("{}: {from} -> {to} is not a member", d.key));
                }
            }
        }
    }
    // Completeness: every real deprecation of the 1.41.1 GenAI file is listed.
    let listed: BTreeSet<_> = r
        .deprecated_attributes
        .iter()
        .map(|d| d.key.clone())
        .collect();
    for k in dep.v1_41_1.keys() {
        if !listed.contains(k) {
            bad.push(format!("{k}: deprecated in core 1.41.1 but not listed"));
        }
    }
    // Schema-file renames that concern GenAI/MCP telemetry: every gen_ai.* rename, and the
    // renames into the JSON-RPC (MCP) attributes and into azure.resource_provider.namespace
    // (Azure AI Inference spans). The others are generic core renames (net.*, http.*, tls.*,
    // rpc.connect_rpc.*, db.cosmosdb.*) for other instrumentations.
    for (from, to) in &dep.schema_renames {
        let relevant = from.starts_with("gen_ai.")
            || to.starts_with("jsonrpc.")
            || to == "azure.resource_provider.namespace";
        if relevant && !listed.contains(from) {
            bad.push(format!("{from} -> {to}: schema-file rename not listed"));
        }
    }
    assert_eq!(dep.v1_41_1.len(), 10, "the 10 GenAI deprecations of §2.1");
    // Value maps.
    let get = |k: &str| r.deprecated_attributes.iter().find(|d| d.key == k).unwrap();
    let fmt = get("gen_ai.openai.request.response_format");
    let keys: Vec<_> = fmt.value_map.keys().cloned().collect();
    let mut theirs = dep.response_format_values.clone();
    theirs.sort();
    assert_eq!(keys, theirs, "response_format value map covers its members");
    // A value the target enum also has keeps its spelling; the others (json_object,
    // json_schema) map to the target member they are a refinement of (json).
    let output_type = &reg.genai["gen_ai.output.type"].members;
    for (from, to) in &fmt.value_map {
        let expected = if output_type.contains(from) {
            from.clone()
        } else {
            let prefixes: Vec<_> = output_type
                .iter()
                .filter(|m| from.starts_with(&format!("{m}_")))
                .collect();
            assert_eq!(prefixes.len(), 1, "{from}: one target member");
            prefixes[0].clone()
        };
        assert_eq!(to, &expected, "response_format value {from}");
    }
    let system = get("gen_ai.system");
    let mut expected: BTreeMap<String, String> = dep
        .system_values
        .iter()
        .filter_map(|(v, to)| to.clone().map(|to| (v.clone(), to)))
        .collect();
    // `xai` -> `x_ai` was marked only in 1.37.0 (digest §2.2); gen_ai.provider.name knows `x_ai` only.
    expected.insert("xai".into(), "x_ai".into());
    assert_eq!(system.value_map, expected, "gen_ai.system value map");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn deprecated_values_match_the_gen_ai_system_renames() {
    let r = rules();
    let reg = Registry::load();
    let system = r
        .deprecated_attributes
        .iter()
        .find(|d| d.key == "gen_ai.system")
        .unwrap();
    let providers = &reg.genai["gen_ai.provider.name"].members;
    for attr in ["gen_ai.system", "gen_ai.provider.name"] {
        let ours: BTreeMap<_, _> = r
            .deprecated_values
            .iter()
            .filter(|v| v.attribute == attr)
            .map(|v| (v.value.clone(), v.replacement.clone()))
            .collect();
        assert_eq!(&ours, &system.value_map, "deprecated values of {attr}");
    }
    for v in &r.deprecated_values {
        assert!(providers.contains(&v.replacement), "{}", v.replacement);
        assert!(!providers.contains(&v.value), "{} is current", v.value);
    }
    assert_eq!(r.deprecated_values.len(), 10);
}

#[test]
fn reserved_namespaces_cover_the_genai_registry() {
    let r = rules();
    let reg = Registry::load();
    let prefixes: Vec<_> = r
        .reserved_namespaces
        .iter()
        .map(|n| n.prefix.as_str())
        .collect();
    for p in ["gen_ai.", "openai.", "mcp."] {
        assert!(prefixes.contains(&p), "{p} reserved");
    }
    for p in &prefixes {
        assert!(p.ends_with('.'), "{p} ends with a dot");
        assert!(
            reg.genai.keys().any(|k| k.starts_with(p)),
            "{p} holds GenAI registry keys"
        );
    }
}

#[test]
fn content_policy_covers_every_opt_in_content_attribute() {
    let r = rules();
    let reg = Registry::load();
    let model = Model::load();
    let content = globset(&r.content.attribute_globs);
    let not_content = globset(&r.content.not_content);
    let is_content = |k: &str| {
        r.content.attributes.iter().any(|a| a == k)
            || (content.is_match(k) && !not_content.is_match(k))
    };
    // Every opt-in attribute of every span type is content (template: a concrete key).
    for (id, (_, attrs)) in &model.spans {
        for (k, (level, _)) in attrs {
            if level == "opt_in" {
                let key = if reg.genai[k].ty == "template[string]" {
                    format!("{k}.user_name")
                } else {
                    k.clone()
                };
                assert!(is_content(&key), "{id}: opt-in {key} is not content");
            }
        }
    }
    // No other registry attribute is content (gen_ai.prompt.name, gen_ai.prompt.version, ...).
    let opt_in: BTreeSet<_> = model
        .spans
        .values()
        .flat_map(|(_, a)| a.iter())
        .filter(|(_, (l, _))| l == "opt_in")
        .map(|(k, _)| k.clone())
        .collect();
    for k in reg.genai.keys().chain(reg.core.keys()) {
        if !opt_in.contains(k) {
            assert!(!is_content(k), "{k} is not content but matches");
        }
    }
    // Over-matching and indexed keys (OpenLLMetry, OpenInference, Vercel).
    for k in [
        "gen_ai.prompt",
        "gen_ai.completion",
        "gen_ai.prompt.0.content",
        "gen_ai.completion.1.tool_calls.0.arguments",
        "gen_ai.prompt.variable.role",
        "llm.input_messages.0.message.content",
        "input.value",
        "ai.prompt.messages",
        "ai.toolCall.args",
    ] {
        assert!(is_content(k), "{k} is content");
    }
    for k in [
        "gen_ai.prompt.name",
        "gen_ai.prompt.version",
        "gen_ai.prompt.0.role",
        "gen_ai.completion.0.finish_reason",
        "gen_ai.completion.0.role",
        "llm.output_messages.0.message.role",
        "ai.prompt.toolChoice",
        "gen_ai.request.model",
    ] {
        assert!(!is_content(k), "{k} is not content");
    }
    assert_eq!(
        r.content.events,
        [
            "gen_ai.content.prompt",
            "gen_ai.content.completion",
            "gen_ai.content.completion.chunk"
        ]
    );
}

#[test]
fn genai_span_name_globs_are_narrow() {
    let r = rules();
    let names = globset(&r.genai_spans.span_name_globs);
    for n in [
        "execute_tool get_weather",
        "invoke_agent",
        "invoke_agent Math Tutor",
        "create_memory_store",
        "gen_ai.call_llm",
    ] {
        assert!(names.is_match(n), "{n:?} is GenAI-shaped");
    }
    // Plain words are ordinary span names in non-GenAI code; a name alone must not make such a
    // span fail (GenAI spans with these names are found by their attributes).
    for n in [
        "chat gpt-4o",
        "chat message sent",
        "embeddings text-embedding-3-small",
        "plan",
        "GET /chat",
        "chat",
        "chatroom.join",
        "POST /v1/chat/completions",
        "planner",
        "SELECT embeddings",
        "retrieve user",
        "http.request",
    ] {
        assert!(!names.is_match(n), "{n:?} is an ordinary span name");
    }
}

/// Hints and aliases only ever produce values the conventions define.
#[test]
fn operation_hints_and_value_aliases_map_to_registry_members() {
    let r = rules();
    let members = |key: &str| -> Vec<String> {
        r.attributes
            .iter()
            .find(|a| a.key == key)
            .unwrap_or_else(|| panic!("{key} in the registry"))
            .members
            .clone()
    };
    let operations = members("gen_ai.operation.name");
    assert!(!r.operation_hints.is_empty());
    for hint in &r.operation_hints {
        for (from, to) in &hint.values {
            assert!(
                operations.contains(to),
                "{} = {from} → {to}",
                hint.attribute
            );
        }
    }
    assert!(!r.value_aliases.is_empty());
    for alias in &r.value_aliases {
        let allowed = members(&alias.attribute);
        for (from, to) in &alias.aliases {
            assert!(allowed.contains(to), "{} {from} → {to}", alias.attribute);
            assert!(
                !allowed.contains(from),
                "{from} is already a member of {}",
                alias.attribute
            );
        }
    }
}

/// `[metrics] names` is exactly the metric names of the GenAI repo's metrics YAML, and no
/// metric name is a registry attribute (so `metric-name-as-attribute` never hides one).
#[test]
fn metric_names_match_the_metrics_yaml() {
    let r = rules();
    let reg = Registry::load();
    let mut yaml = BTreeSet::new();
    for file in ["gen-ai/metrics.yaml", "mcp/metrics.yaml"] {
        let f: V2File = load(&format!("{GENAI}{file}"));
        yaml.extend(f.metrics.into_iter().filter_map(|m| m.name));
    }
    assert_eq!(yaml.len(), 16, "the 16 metrics of semconv-genai.md §7");
    let ours: BTreeSet<String> = r.metrics.names.iter().cloned().collect();
    assert_eq!(ours, yaml, "[metrics] names vs metrics.yaml");
    assert_eq!(ours.len(), r.metrics.names.len(), "no duplicates");
    for m in &ours {
        assert!(reg.get(m).is_none(), "{m} is also an attribute");
    }
}

/// The other new sections name registry attributes (or deprecated ones) only.
#[test]
fn new_sections_name_known_attributes() {
    let r = rules();
    let reg = Registry::load();
    let deprecated: BTreeSet<_> = r
        .deprecated_attributes
        .iter()
        .map(|d| d.key.clone())
        .collect();
    let known = |k: &str| reg.get(k).is_some() || deprecated.contains(k);
    let t = &r.tokens;
    for k in t
        .counts
        .iter()
        .chain(&t.placeholder_minus_one)
        .chain(
            t.part_of
                .iter()
                .flat_map(|p| p.parts.iter().chain([&p.total])),
        )
        .chain(&r.trace.context_keys)
        .chain(&r.trace.usage_keys)
    {
        assert!(known(k), "{k} is not a registry attribute");
    }
    for k in &r.resource.identity {
        assert!(
            reg.get(k).is_none(),
            "{k} is a span attribute of the conventions"
        );
    }
    for e in &r.deprecated_events {
        assert!(
            !e.replacement.is_empty() && !e.since.is_empty(),
            "{}",
            e.name
        );
    }
}
