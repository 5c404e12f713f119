//! The rules file: the data that says what the GenAI conventions require.
//!
//! `rules/genai.toml` is embedded in the binary (see [`RulesFile::builtin`]), both as written and
//! precompiled to JSON by `build.rs`, which is what a run reads; `--rules FILE` replaces it. Everything the rules check comes from here, nothing from code: the attribute
//! registry, span types with their requirement levels, span-name templates and kinds, deprecated
//! names and values, reserved namespaces and the content policy. New conventions versions are a
//! data change.
//!
//! The schema is strict (`deny_unknown_fields`) so a typo in a user's rules file is an error
//! pointing at the TOML line, not a silently ignored rule.

use serde::Deserialize;

/// The built-in rules file, matching the newest GenAI conventions.
pub const BUILTIN_RULES: &str = include_str!("../../rules/genai.toml");

/// [`BUILTIN_RULES`] as JSON, made by `build.rs` from the TOML: serde_json reads it five times
/// faster than `toml` reads the TOML (0.9M instructions, not 4.3M), which was half of checking
/// a small dump.
const BUILTIN_RULES_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/genai.json"));

/// The `[conventions]` table of [`BUILTIN_RULES`] alone, as JSON (`build.rs`), for `--version`.
const BUILTIN_CONVENTIONS_JSON: &str =
    include_str!(concat!(env!("OUT_DIR"), "/genai.conventions.json"));

/// The whole rules file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RulesFile {
    /// Which conventions version this file encodes.
    pub conventions: Conventions,
    /// How a span is recognised as a GenAI span.
    pub genai_spans: Detection,
    /// The attribute registry: every current attribute the conventions define (not only
    /// `gen_ai.*`: also the `server.*`, `error.type`, … keys the span types reference).
    #[serde(default, rename = "attribute")]
    pub attributes: Vec<AttributeDef>,
    /// Span types (`gen_ai.inference.client`, …) with their requirement levels.
    #[serde(default, rename = "span-type")]
    pub span_types: Vec<SpanType>,
    /// Provider-specific refinements of span types (`openai.inference.client`, …).
    #[serde(default, rename = "refinement")]
    pub refinements: Vec<Refinement>,
    /// Attributes that were renamed or removed.
    #[serde(default, rename = "deprecated-attribute")]
    pub deprecated_attributes: Vec<DeprecatedAttribute>,
    /// Enum values that were renamed.
    #[serde(default, rename = "deprecated-value")]
    pub deprecated_values: Vec<DeprecatedValue>,
    /// Namespaces in which only registry keys may appear.
    #[serde(default, rename = "reserved-namespace")]
    pub reserved_namespaces: Vec<ReservedNamespace>,
    /// Foreign attributes that tell a span's operation when `gen_ai.operation.name` is missing
    /// (OpenInference `openinference.span.kind = LLM` → `chat`, …).
    #[serde(default, rename = "operation-hint")]
    pub operation_hints: Vec<OperationHint>,
    /// Non-standard spellings of enum values and what they stand for (`openai.chat` →
    /// `openai` for the provider).
    #[serde(default, rename = "value-alias")]
    pub value_aliases: Vec<ValueAlias>,
    /// What counts as recorded content (prompts, completions, tool arguments …) and whether it
    /// may be recorded.
    pub content: ContentPolicy,
    /// Span events the conventions deprecated (`gen_ai.user.message`, `gen_ai.choice`, …).
    #[serde(default, rename = "deprecated-event")]
    pub deprecated_events: Vec<DeprecatedEvent>,
    /// Metric names of the conventions (`gen_ai.client.token.usage`, …): never attribute keys.
    #[serde(default)]
    pub metrics: Metrics,
    /// Token counts and how they relate.
    #[serde(default)]
    pub tokens: Tokens,
    /// Other libraries' vocabularies for LLM work (OpenInference, OpenLLMetry, Vercel AI SDK).
    #[serde(default, rename = "foreign-namespace")]
    pub foreign_namespaces: Vec<ForeignNamespace>,
    /// Provider-specific namespaces (`openai.`) and the providers whose spans may use them.
    #[serde(default, rename = "provider-namespace")]
    pub provider_namespaces: Vec<ProviderNamespace>,
    /// Resource identity keys that do not belong on spans (`service.name`, …).
    #[serde(default)]
    pub resource: ResourceKeys,
    /// Recommended attributes and how they are reported.
    #[serde(default)]
    pub recommended: Recommended,
    /// Trace-level expectations.
    #[serde(default)]
    pub trace: TraceExpectations,
}

/// The conventions' metric names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Metrics {
    pub names: Vec<String>,
}

/// Resource attributes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ResourceKeys {
    /// Keys that identify the resource (`service.name`, …) and do not belong on spans.
    #[serde(default)]
    pub identity: Vec<String>,
}

/// A deprecated span event and what replaces it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeprecatedEvent {
    pub name: String,
    /// What carries the information now (free text naming attributes).
    pub replacement: String,
    pub since: String,
}

/// Token-count attributes: which must not be negative, which parts must fit in which totals,
/// and placeholder values that mean "not set".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Tokens {
    /// Attributes that count tokens (never negative).
    #[serde(default)]
    pub counts: Vec<String>,
    /// Parts that are included in a total (`cache_read + cache_creation <= input_tokens`).
    #[serde(default, rename = "part-of")]
    pub part_of: Vec<TokenPartOf>,
    /// Attributes whose `-1` is a library's "unset" placeholder recorded as a value.
    #[serde(default)]
    pub placeholder_minus_one: Vec<String>,
}

/// `parts` sum to at most `total`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TokenPartOf {
    pub total: String,
    pub parts: Vec<String>,
}

/// Another library's vocabulary for LLM work.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ForeignNamespace {
    /// Who uses it ("OpenInference").
    pub name: String,
    /// Key prefixes (or exact keys) that mark it (`llm.`, `openinference.span.kind`).
    pub prefixes: Vec<String>,
}

/// A provider-specific attribute namespace.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProviderNamespace {
    /// Key prefix with the trailing dot (`openai.`).
    pub prefix: String,
    /// `gen_ai.provider.name` values whose spans may carry it.
    pub providers: Vec<String>,
}

/// How missing recommended attributes are reported (one info per span listing them).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Recommended {
    /// Globs over keys not to list: attributes recorded only when the request sets them
    /// (`gen_ai.request.*`).
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Operations whose spans aggregate their children (`invoke_agent`): on them the keys of
    /// `aggregate-ignore` are not listed either.
    #[serde(default)]
    pub aggregate_operations: Vec<String>,
    /// Globs over keys not to ask of aggregating spans (`gen_ai.usage.*`: usage repeated on a
    /// parent is counted twice by backends, which `usage-double-count` warns about).
    #[serde(default)]
    pub aggregate_ignore: Vec<String>,
}

/// What the trace-level rules expect.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TraceExpectations {
    /// Keys the root GenAI span of a trace should carry (`gen_ai.conversation.id`).
    #[serde(default)]
    pub context_keys: Vec<String>,
    /// Keys that record token usage (`gen_ai.usage.input_tokens`, …), for `usage-double-count`.
    #[serde(default)]
    pub usage_keys: Vec<String>,
}

/// The conventions version a rules file encodes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Conventions {
    /// Human-readable name, e.g. "OpenTelemetry GenAI semantic conventions".
    pub name: String,
    /// The version, e.g. "gen-ai-dev/1.42.0-dev".
    pub version: String,
    /// The schema URL of that version.
    pub schema_url: String,
    /// Where the data came from (repository and commit), for humans.
    pub source: String,
}

/// How to tell a GenAI span from any other span.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Detection {
    /// A span with an attribute under one of these prefixes is a GenAI span (`gen_ai.`).
    pub attribute_prefixes: Vec<String>,
    /// A span whose name matches one of these globs is a GenAI span even without any
    /// `gen_ai.*` attribute (e.g. `chat *`, `gen_ai.*`).
    #[serde(default)]
    pub span_name_globs: Vec<String>,
}

/// An OTLP attribute type as the conventions name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AttributeType {
    #[serde(rename = "string")]
    String,
    #[serde(rename = "int")]
    Int,
    #[serde(rename = "double")]
    Double,
    #[serde(rename = "boolean")]
    Boolean,
    #[serde(rename = "string[]")]
    StringArray,
    #[serde(rename = "int[]")]
    IntArray,
    #[serde(rename = "double[]")]
    DoubleArray,
    #[serde(rename = "boolean[]")]
    BooleanArray,
    /// A structured value (kvlist/array), or a JSON string on spans.
    #[serde(rename = "any")]
    Any,
    /// A prefix: the real keys are `<key>.<name>` with string values.
    #[serde(rename = "template[string]")]
    TemplateString,
}

/// One attribute of the registry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AttributeDef {
    pub key: String,
    #[serde(rename = "type")]
    pub ty: AttributeType,
    /// Well-known values of an enum attribute (enums are open: other values are allowed).
    #[serde(default)]
    pub members: Vec<String>,
    /// One line from the conventions.
    #[serde(default)]
    pub brief: String,
}

/// A requirement level of the conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    Required,
    ConditionallyRequired,
    Recommended,
    OptIn,
}

/// A condition that can be decided from the span itself.
///
/// Conditions the conventions state in prose ("If available.") that cannot be decided from a
/// span are left out (`when` absent): such a requirement never yields an error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub enum Condition {
    /// The span status is ERROR (`when = "status-error"`).
    StatusError,
    /// The span has this attribute (`when = { present = "server.address" }`).
    Present(String),
    /// The span has at least one of these attributes, e.g. signs of streaming
    /// (`when = { any-present = ["gen_ai.response.time_to_first_chunk"] }`).
    AnyPresent(Vec<String>),
}

/// One attribute of a span type with its requirement level.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Requirement {
    pub attribute: String,
    pub level: Level,
    /// The condition as the conventions word it (for conditionally required and conditional
    /// recommended attributes).
    #[serde(default)]
    pub condition: Option<String>,
    /// The same condition in a form spanlint can decide, when it can.
    #[serde(default)]
    pub when: Option<Condition>,
}

/// A span type of the conventions and how to recognise it on the wire.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SpanType {
    /// The conventions' id, e.g. `gen_ai.inference.client`.
    pub id: String,
    /// `gen_ai.operation.name` values of this span type. Empty: selected by `marker`.
    #[serde(default)]
    pub operations: Vec<String>,
    /// Only spans of this kind are of this type (used to split `invoke_agent` into its client
    /// and internal span types). Absent: any kind.
    #[serde(default)]
    pub select_kind: Option<String>,
    /// A span with this attribute is of this type whatever its operation (`mcp.method.name`).
    #[serde(default)]
    pub marker: Option<String>,
    /// Span kinds the conventions allow; the first is the one they recommend.
    pub span_kinds: Vec<String>,
    /// Span-name templates, most specific first. `{key}` is replaced by the span's value of
    /// that attribute; a template with a missing attribute is skipped.
    pub span_names: Vec<String>,
    pub requirements: Vec<Requirement>,
}

/// A provider-specific refinement of a span type.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Refinement {
    /// The conventions' id, e.g. `openai.inference.client`.
    pub id: String,
    /// The span type it refines.
    pub extends: String,
    /// The `gen_ai.provider.name` value that selects it.
    pub provider: String,
    /// Requirements that replace (same attribute) or add to the base span type's.
    pub requirements: Vec<Requirement>,
}

/// A deprecated attribute and what replaces it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeprecatedAttribute {
    pub key: String,
    /// The current attribute; absent when it was removed without replacement.
    #[serde(default)]
    pub replacement: Option<String>,
    /// The conventions version that deprecated it.
    pub since: String,
    /// What to do, when a plain rename does not say it all.
    #[serde(default)]
    pub note: Option<String>,
    /// Old value → new value, when the values changed with the name.
    #[serde(default)]
    pub value_map: std::collections::BTreeMap<String, String>,
}

/// A deprecated enum value of an attribute.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeprecatedValue {
    pub attribute: String,
    pub value: String,
    pub replacement: String,
    pub since: String,
}

/// A namespace reserved for the conventions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReservedNamespace {
    /// Key prefix, with the trailing dot (`gen_ai.`).
    pub prefix: String,
    /// Keys under the prefix that are allowed although not in the registry.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Severity of a finding in this namespace (default: the rule's, `error`).
    #[serde(default)]
    pub severity: Option<crate::finding::Severity>,
}

/// A foreign attribute whose values tell the operation of a span.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OperationHint {
    /// The foreign key, e.g. `llm.request.type`.
    pub attribute: String,
    /// Its value → the `gen_ai.operation.name` value it means.
    pub values: std::collections::BTreeMap<String, String>,
}

/// Spellings of an attribute's values that libraries use instead of the conventions' members.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ValueAlias {
    /// The attribute whose values these are, e.g. `gen_ai.provider.name`.
    pub attribute: String,
    /// Foreign value → the conventions' value.
    pub aliases: std::collections::BTreeMap<String, String>,
}

/// Whether content may be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContentMode {
    /// Content attributes and events are findings.
    Forbid,
    /// Content may be recorded.
    Allow,
    /// Content attributes and events may be present only with their content replaced by a
    /// redaction marker (`__REDACTED__`, `[Scrubbed due to …]`).
    Redacted,
}

/// What content is and whether it may be recorded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ContentPolicy {
    pub policy: ContentMode,
    /// Attribute keys that carry content (`gen_ai.input.messages`, …).
    pub attributes: Vec<String>,
    /// Globs over attribute keys that carry content (`gen_ai.prompt.*.content`, `llm.input_messages.*`).
    #[serde(default)]
    pub attribute_globs: Vec<String>,
    /// Globs that exclude keys the attribute globs would match (`gen_ai.prompt.name`).
    #[serde(default)]
    pub not_content: Vec<String>,
    /// Span event names that carry content (`gen_ai.content.prompt`, …).
    #[serde(default)]
    pub events: Vec<String>,
    /// Globs over string values that stand for removed content (policy `redacted`).
    #[serde(default)]
    pub redaction_markers: Vec<String>,
    /// Fields of the message JSON whose string values are content (`content`, `arguments`):
    /// with policy `redacted` each must be a redaction marker.
    #[serde(default)]
    pub redacted_fields: Vec<String>,
}

impl RulesFile {
    /// The rules file compiled into the binary (read from its precompiled form).
    pub fn builtin() -> Self {
        serde_json::from_str(BUILTIN_RULES_JSON).expect("the built-in rules file is valid (tested)")
    }

    /// The `[conventions]` of the built-in rules file, without reading the rest.
    pub fn builtin_conventions() -> Conventions {
        serde_json::from_str(BUILTIN_CONVENTIONS_JSON)
            .expect("the built-in rules file is valid (tested)")
    }

    /// Parses a rules file.
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_file_parses() {
        let rules = RulesFile::parse(BUILTIN_RULES).expect("built-in rules parse");
        assert!(!rules.attributes.is_empty());
        assert!(!rules.span_types.is_empty());
        // The convenience constructor agrees.
        assert_eq!(
            RulesFile::builtin().attributes.len(),
            rules.attributes.len()
        );
    }

    #[test]
    fn precompiled_builtin_rules_are_the_toml() {
        // `build.rs` writes the JSON from the TOML; every field is in `Debug`, so any
        // difference between what a run reads and what `rules/genai.toml` says fails here.
        let from_toml = RulesFile::parse(BUILTIN_RULES).expect("built-in rules parse");
        assert_eq!(
            format!("{:#?}", RulesFile::builtin()),
            format!("{from_toml:#?}")
        );
        assert_eq!(
            format!("{:#?}", RulesFile::builtin_conventions()),
            format!("{:#?}", from_toml.conventions)
        );
    }

    #[test]
    fn unknown_key_is_rejected_with_its_line() {
        // Line 8 holds a typo of `attribute-prefixes`.
        let text = r#"[conventions]
name = "n"
version = "v"
schema-url = "u"
source = "s"

[genai-spans]
attribute-prefixs = ["gen_ai."]

[content]
policy = "forbid"
attributes = []
"#;
        let err = RulesFile::parse(text).expect_err("unknown key must be rejected");
        let shown = err.to_string();
        assert!(shown.contains("attribute-prefixs"), "{shown}");
        assert!(shown.contains("line 8"), "error names the line: {shown}");
    }
}
