//! The schema of `rules/migrate.toml`: the data `migrate` rewrites spans with.
//!
//! Only what `rules/genai.toml` does not know lives here (foreign vocabularies, folds, value
//! spellings, older targets); deprecations, provider aliases, operation hints, span-name templates
//! and the content policy come from the [`Ruleset`](crate::rules::Ruleset). Strict like the rules
//! file: an unknown field is an error.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The built-in mapping file.
pub const BUILTIN_MAPPING: &str = include_str!("../../rules/migrate.toml");

/// [`BUILTIN_MAPPING`] as JSON, made by `build.rs` from the TOML (read faster at start; a test
/// compares the two).
const BUILTIN_MAPPING_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/migrate.json"));

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MappingFile {
    #[serde(default, rename = "rename")]
    pub renames: Vec<Rename>,
    #[serde(default, rename = "prefix-rename")]
    pub prefix_renames: Vec<PrefixRename>,
    #[serde(default, rename = "fold")]
    pub folds: Vec<Fold>,
    #[serde(default, rename = "wrap-message")]
    pub wrap_messages: Vec<WrapMessage>,
    #[serde(default, rename = "convert")]
    pub conversions: Vec<Conversion>,
    #[serde(default, rename = "event-messages")]
    pub event_messages: Vec<EventMessages>,
    #[serde(default, rename = "event-attribute")]
    pub event_attributes: Vec<EventAttribute>,
    #[serde(default, rename = "value-map")]
    pub value_maps: Vec<ValueMap>,
    #[serde(default, rename = "split-url")]
    pub split_urls: Vec<SplitUrl>,
    #[serde(default, rename = "unpack-json")]
    pub unpacks: Vec<UnpackJson>,
    #[serde(default, rename = "combine")]
    pub combines: Vec<Combine>,
    #[serde(default, rename = "operation-hint")]
    pub operation_hints: Vec<OperationHint>,
    #[serde(default)]
    pub messages: MessageValues,
    #[serde(default, rename = "target")]
    pub targets: Vec<Target>,
}

/// How a value is converted on the way to its new key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Convert {
    /// An integral double becomes an int (`llm.top_k = 5.0` → `gen_ai.request.top_k = 5`).
    Int,
}

/// One key renamed to a registry key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Rename {
    /// Which library this comes from (for the summary).
    pub vocabulary: String,
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub value_map: BTreeMap<String, String>,
    /// A single string becomes a one-element string array.
    #[serde(default)]
    pub wrap_array: bool,
    #[serde(default)]
    pub convert: Option<Convert>,
    /// A numeric value is multiplied by this and becomes a double (`0.001`: ms → s).
    #[serde(default)]
    pub scale: Option<f64>,
    /// Only on spans of these operations (empty: any).
    #[serde(default)]
    pub operations: Vec<String>,
    /// Not when one of these keys is on the span.
    #[serde(default)]
    pub unless: Vec<String>,
}

/// Every key under a prefix moved under another (out of a reserved namespace).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PrefixRename {
    pub vocabulary: String,
    pub from: String,
    pub to: String,
}

/// Indexed keys `prefix.N.<field>` folded into one JSON message array. Field names are relative
/// to `prefix.N.`; tool-call fields are relative to `prefix.N.<tool-calls>J.`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Fold {
    pub vocabulary: String,
    pub prefix: String,
    pub to: String,
    /// The role field; without one (or when a message has none), `default-role`.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub default_role: Option<String>,
    pub content: String,
    #[serde(default)]
    pub name: Option<String>,
    /// A tool result's call id: with it, the content becomes a `tool_call_response` part.
    #[serde(default)]
    pub tool_call_id: Option<String>,
    /// Per-message finish reason (output messages).
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Span attribute holding the finish reason when messages have none (output messages).
    #[serde(default)]
    pub span_finish_reason: Option<String>,
    /// Prefix of the tool calls of a message, e.g. `tool_calls.`.
    #[serde(default)]
    pub tool_calls: Option<String>,
    #[serde(default)]
    pub call_id: Option<String>,
    #[serde(default)]
    pub call_name: Option<String>,
    #[serde(default)]
    pub call_arguments: Option<String>,
}

impl Fold {
    /// Output messages carry a finish reason.
    pub fn is_output(&self) -> bool {
        self.to == "gen_ai.output.messages"
    }
}

/// A single text attribute → a one-message array with one text part.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WrapMessage {
    pub vocabulary: String,
    pub from: String,
    pub to: String,
    pub role: String,
}

/// A library's own message or tool JSON converted by a named converter (code in
/// `migrate::vercel`; the data says which keys go where).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Conversion {
    pub vocabulary: String,
    pub format: ConversionFormat,
    /// The source keys; their meaning per format is documented on [`ConversionFormat`].
    pub from: Vec<String>,
    pub to: String,
    /// A span attribute holding the finish reason (`vercel-response`, `legacy-messages` to
    /// output messages).
    #[serde(default)]
    pub finish_reason_from: Option<String>,
    /// The role of a message that does not name one (`legacy-messages`).
    #[serde(default)]
    pub default_role: Option<String>,
}

/// The converters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConversionFormat {
    /// `from = [messages]`: a JSON array of Vercel model messages.
    VercelMessages,
    /// `from = [prompt]`: Vercel's `{system?, prompt?, messages?}`.
    VercelPrompt,
    /// `from = [text, reasoning, toolCalls]`: the response, as one assistant message.
    VercelResponse,
    /// `from = [tools]`: a string array of Vercel tool JSON.
    VercelTools,
    /// `from = [prefix]`: `prefix.N.tool.json_schema`, each an OpenAI-style tool JSON
    /// (`{type, function: {name, description, parameters}}`; OpenInference `llm.tools.N`).
    IndexedToolSchemas,
    /// `from = [prefix]`: `prefix.N.name` / `.description` / `.parameters` (OpenLLMetry
    /// `llm.request.functions.N`).
    IndexedFunctions,
    /// `from = [key]`: the bare `gen_ai.prompt` / `gen_ai.completion` of conventions ≤ 1.27,
    /// best effort: a JSON array of `{role, content}` (content a string or a list of
    /// `{type, text}`), else OpenLIT's flattened `role: content` lines (a line starting with
    /// `system: `, `user: `, `assistant: `, `tool: ` or `developer: ` starts a message; other
    /// lines continue it), else one message of `default-role` holding the whole text.
    LegacyMessages,
    /// `from = [key]`: a legacy OpenAI function call `{"name", "arguments"}` (OpenInference
    /// `llm.function_call`) → a `tool_call` part of the output: a new assistant message when
    /// the span has no output messages, else added to the last output message made by this
    /// migration. Output messages the span already had are not changed: the source goes only
    /// when they hold the same call.
    FunctionCall,
}

/// Deprecated span events that carried messages (semconv-genai.md §2.3) → one message-array
/// attribute. Each event of a listed name becomes messages, in event order; the events are
/// removed (kept under `--dual-emit`). An event goes only when every one of its attributes
/// finds a home: the content attribute (`legacy-messages`) or a body field (`message-body`), or
/// a `provider-attributes` key whose value the span's provider already says; otherwise all the
/// events of this entry stay untouched (nothing is lost).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EventMessages {
    pub vocabulary: String,
    pub format: EventFormat,
    /// Event name → the role of a message that does not name one.
    pub events: BTreeMap<String, String>,
    pub to: String,
    /// `legacy-messages`: the event attribute holding the messages (`gen_ai.prompt`).
    #[serde(default)]
    pub content: Option<String>,
    /// A span attribute holding the finish reason (output messages without their own).
    #[serde(default)]
    pub finish_reason_from: Option<String>,
    /// Event attributes repeating the span's provider (`gen_ai.system`): homed when the span's
    /// `gen_ai.provider.name` (or `gen_ai.system`) names the same provider.
    #[serde(default)]
    pub provider_attributes: Vec<String>,
}

/// An attribute of a library's span event → a span attribute of the conventions (the
/// conventions have no event-level key for it). The first event of that name whose attribute
/// fits sets the span attribute; the event attribute is removed (kept under `--dual-emit`), the
/// event stays.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EventAttribute {
    pub vocabulary: String,
    pub event: String,
    pub from: String,
    pub to: String,
    /// A numeric value is multiplied by this and becomes a double (`0.001`: ms → s).
    #[serde(default)]
    pub scale: Option<f64>,
}

/// How a message event's attributes read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventFormat {
    /// The 1.26–1.27 content events: the `content` attribute holds the messages, read like
    /// [`ConversionFormat::LegacyMessages`].
    LegacyMessages,
    /// The 1.28–1.36 message events recorded as span events: one message per event, from
    /// attributes named like the log event's body fields: `role`, `content` (text),
    /// `tool_calls` (JSON `[{id, type, function: {name, arguments}}]`), `id` (the tool call a
    /// tool message answers), and for `gen_ai.choice` `index`, `finish_reason` and `message`
    /// (JSON `{role, content}`). An event with none of them (content not captured) is a
    /// message with its role and no parts.
    MessageBody,
}

/// A URL attribute → its host and port (`gen_ai.openai.api_base` → `server.address`,
/// `server.port`), when neither is on the span. The port is the URL's, else the scheme's default
/// (`https` 443, `http` 80); the URL's path is not kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SplitUrl {
    pub vocabulary: String,
    pub from: String,
    pub address: String,
    pub port: String,
}

/// A JSON object attribute whose fields become attributes (`llm.invocation_parameters`).
/// A field's value must fit its key's registry type (a string becomes a one-element array for
/// an array key; integral numbers become ints for int keys); `null` fields are dropped. The
/// source key is removed only when every field found a home (added, or already there with the
/// same value); otherwise it stays as it is, next to what was unpacked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UnpackJson {
    pub vocabulary: String,
    pub from: String,
    /// JSON field → attribute key.
    pub fields: BTreeMap<String, String>,
    /// A field whose value is an object: the member to read (`response_format = "type"` reads
    /// `{"type": "json_object"}`). A string value is read as is. The field counts as homed only
    /// when the object has no other member (a `json_schema` keeps the source).
    #[serde(default)]
    pub members: BTreeMap<String, String>,
    /// Per field, old value → new value; a value not listed has no home.
    #[serde(default)]
    pub value_maps: BTreeMap<String, BTreeMap<String, String>>,
}

/// Several keys whose values together make one value (OpenInference `llm.provider` +
/// `llm.system` → `gen_ai.provider.name`). The first case whose `when` matches (per `from` key:
/// its value, case-insensitively, or `*`, which also matches an absent key) sets `to`, and the
/// `from` keys are removed; with no match, the keys are left to `[[rename]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Combine {
    pub vocabulary: String,
    pub from: Vec<String>,
    pub to: String,
    pub cases: Vec<CombineCase>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CombineCase {
    pub when: Vec<String>,
    pub value: String,
}

/// An operation told by an attribute's value *and* the presence of keys under a prefix;
/// checked before genai.toml's `[[operation-hint]]` (OpenInference `LLM` with `llm.prompts.*`
/// is `text_completion`, not `chat`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OperationHint {
    pub attribute: String,
    pub values: Vec<String>,
    pub any_prefix: Vec<String>,
    pub operation: String,
}

/// Spellings of values of a current attribute.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ValueMap {
    pub attribute: String,
    pub values: BTreeMap<String, String>,
}

/// Spellings inside message JSON.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MessageValues {
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
    #[serde(default)]
    pub finish_reasons: BTreeMap<String, String>,
}

/// An older conventions version to migrate to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Target {
    pub name: String,
    /// Attributes introduced after this version: mappings to them are skipped.
    #[serde(default)]
    pub missing_attributes: Vec<String>,
    /// Operation values introduced after this version: not set by migrate.
    #[serde(default)]
    pub missing_operations: Vec<String>,
}

impl MappingFile {
    /// The mapping file compiled into the binary (read from its precompiled form).
    pub fn builtin() -> Self {
        serde_json::from_str(BUILTIN_MAPPING_JSON)
            .expect("the built-in mapping file is valid (tested)")
    }

    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// Every registry key the mapping writes to.
    pub fn target_keys(&self) -> impl Iterator<Item = &str> {
        self.renames
            .iter()
            .map(|r| r.to.as_str())
            .chain(self.folds.iter().map(|f| f.to.as_str()))
            .chain(self.wrap_messages.iter().map(|w| w.to.as_str()))
            .chain(self.conversions.iter().map(|c| c.to.as_str()))
            .chain(self.event_messages.iter().map(|e| e.to.as_str()))
            .chain(self.event_attributes.iter().map(|e| e.to.as_str()))
            .chain(self.value_maps.iter().map(|v| v.attribute.as_str()))
            .chain(
                self.unpacks
                    .iter()
                    .flat_map(|u| u.fields.values().map(String::as_str)),
            )
            .chain(self.combines.iter().map(|c| c.to.as_str()))
            .chain(
                self.split_urls
                    .iter()
                    .flat_map(|s| [s.address.as_str(), s.port.as_str()]),
            )
            .chain(
                self.targets
                    .iter()
                    .flat_map(|t| t.missing_attributes.iter().map(String::as_str)),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precompiled_builtin_mapping_is_the_toml() {
        // `build.rs` writes the JSON from the TOML; every field is in `Debug`.
        let from_toml = MappingFile::parse(BUILTIN_MAPPING).expect("built-in mapping parses");
        assert_eq!(
            format!("{:#?}", MappingFile::builtin()),
            format!("{from_toml:#?}")
        );
    }

    #[test]
    fn builtin_mapping_parses() {
        let m = MappingFile::builtin();
        assert!(m.renames.len() > 50);
        assert!(m.folds.len() >= 4);
        assert!(m.targets.iter().any(|t| t.name == "1.37"));
    }
}
