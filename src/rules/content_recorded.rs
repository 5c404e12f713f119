//! # content-recorded
//!
//! ## What it checks
//! Prompt, completion and tool content on spans while the rules file's content policy is
//! `forbid` (the default): the conventions' opt-in content attributes
//! (`gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.system_instructions`,
//! `gen_ai.tool.call.arguments`, …), the removed `gen_ai.prompt` / `gen_ai.completion`, the
//! indexed keys of older libraries (`gen_ai.prompt.0.content`), foreign content keys the rules
//! file lists (`input.value`, `llm.input_messages.*`, `ai.prompt`, …), and the content span
//! events `gen_ai.content.prompt` / `gen_ai.content.completion`.
//!
//! With policy `redacted`, content may be present only with the content itself replaced by a
//! redaction marker (`[content] redaction-markers`: `__REDACTED__`, `[Scrubbed due to …]`, …):
//! a string value that is a marker, or messages (JSON or structured) whose content fields
//! (`[content] redacted-fields`: `content`, `arguments`, `response`, …) all hold a marker. With
//! policy `allow` nothing is checked. Messages whose content fields are all absent or null
//! (`[{"role":"user","parts":[]}]`, as left when capture was off) hold no content and pass.
//!
//! ## Why it matters
//! Prompts and completions often hold personal data. The conventions make recording them
//! opt-in, but many libraries record them by default, so traces leak into backends with
//! weaker access control than the application's database.
//!
//! ## Example
//! `{"key": "gen_ai.prompt.0.content", "value": {"stringValue": "…"}}` with policy `forbid`.
//!
//! ## Fix
//! Turn content capture off in the instrumentation (`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false`,
//! `TRACELOOP_TRACE_CONTENT=false`, …); or, when recording is intended, set
//! `content-policy = "allow"` (or `"redacted"`, when a redactor replaces it) in `spanlint.toml`.
//! spanlint never prints the content itself.

use super::messages::{Shape, get, last_members};
use super::rulesfile::ContentMode;
use super::{RuleInfo, SpanContext, keys};
use crate::finding::{Finding, Severity};
use crate::model::{Attribute, Value};

pub const INFO: RuleInfo = RuleInfo {
    id: "content-recorded",
    summary: "prompt or completion content is recorded although the policy forbids it",
    default_severity: Severity::Error,
};

const HELP: &str = "turn content capture off in the instrumentation, or set \
                    `content-policy = \"allow\"` in spanlint.toml if recording is intended";

const REDACTED_HELP: &str = "redact the content before export (replace it with a marker such as \
                             `__REDACTED__`), or add the marker your redactor writes to \
                             `redaction-markers` under [content] in the rules file \
                             (`spanlint rules-file` prints it; `extend-rules-file` in spanlint.toml \
                             adds to it)";

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    let policy = ctx.rules.file.content.policy;
    if policy == ContentMode::Allow {
        return;
    }
    let redacted = policy == ContentMode::Redacted;
    let (why, help) = if redacted {
        (
            "the content policy accepts only redacted content",
            REDACTED_HELP,
        )
    } else {
        ("the content policy forbids it", HELP)
    };
    // Span attributes, and attributes of span events (`gen_ai.client.inference.operation.details`
    // carries `gen_ai.input.messages` too), when some key is content at all.
    if ctx.all_keys().content() {
        content_attributes(ctx, redacted, why, help, out);
    }
    for event in &ctx.span.events {
        let all_redacted =
            |attributes: &[Attribute<'_>]| attributes.iter().all(|a| is_redacted(ctx, &a.value));
        if ctx.rules.is_content_event(&event.name) && !(redacted && all_redacted(&event.attributes))
        {
            out.push(ctx.finding(&INFO, None, event.offset, || {
                let message = [
                    "content recorded in span event `",
                    &crate::report::truncate(&event.name, 80),
                    "` (",
                    why,
                    ")",
                ]
                .concat();
                (message, Some(help.to_string()))
            }));
        }
    }
}

/// The findings on content attributes, one per key or indexed key pattern.
fn content_attributes(
    ctx: &SpanContext<'_, '_>,
    redacted: bool,
    why: &str,
    help: &str,
    out: &mut Vec<Finding>,
) {
    let content = ctx
        .all_attributes_with_facts(|e| !ctx.rules.is_content_event(&e.name))
        .filter(|(_, facts)| facts.content)
        .filter(|(a, _)| carries_content(ctx, a))
        .filter(|(a, _)| !(redacted && is_redacted(ctx, &a.value)));
    // `gen_ai.prompt.0.content`, `gen_ai.prompt.1.content`, … make one finding.
    for group in keys::group(content, keys::Label::Pattern) {
        out.push(
            ctx.finding(&INFO, Some(&group.first.key), group.first.offset, || {
                let mut message = String::from("content recorded in ");
                group.append_to(&mut message);
                message.extend([" (", why, ")"]);
                (message, Some(help.to_string()))
            }),
        );
    }
}

/// Whether a content value holds only redaction markers: a marker string, or messages whose
/// content fields are all markers (or null).
fn is_redacted(ctx: &SpanContext<'_, '_>, value: &Value<'_>) -> bool {
    if let Value::String(s) = value
        && ctx.rules.is_redaction_marker(s)
    {
        return true;
    }
    match super::invalid_message_content::to_json(value) {
        // Only messages and other structures: a bare JSON string or number is content itself.
        Some(json @ (serde_json::Value::Array(_) | serde_json::Value::Object(_))) => {
            json_redacted(ctx, &json, false)
        }
        _ => false,
    }
}

/// False for messages (an array of objects with `parts`, as `gen_ai.input.messages` holds)
/// in which no content field (`[content] redacted-fields`) holds anything: the structure
/// left when capture was off. Any other value is content.
fn carries_content(ctx: &SpanContext<'_, '_>, attribute: &Attribute<'_>) -> bool {
    let fields = &ctx.rules.file.content.redacted_fields;
    let value = &attribute.value;
    // Only a JSON array can be empty messages: a string that does not start like one (plain
    // text, as nearly all recorded content is) carries content without being parsed.
    if let Value::String(s) = value
        && !s.trim_start_matches(JSON_WHITESPACE).starts_with('[')
    {
        return true;
    }
    // A message attribute the span context has parsed already.
    let messages = ctx.messages();
    let parsed = messages
        .iter()
        .find(|m| std::ptr::addr_eq(m.attribute, attribute));
    if let Some(parsed) = parsed {
        return shape_carries_messages_content(fields, parsed.shape.as_ref());
    }
    if let Value::String(s) = value {
        return messages_text::carries_content(fields, s);
    }
    match super::invalid_message_content::to_json(value) {
        Some(serde_json::Value::Array(messages))
            if !messages.is_empty() && messages.iter().all(|m| m.get("parts").is_some()) =>
        {
            messages
                .iter()
                .any(|m| json_carries_content(fields, m, false))
        }
        _ => true,
    }
}

/// [`carries_content`] of a parsed value (`None`: a string that is not JSON).
fn shape_carries_messages_content(fields: &[String], shape: Option<&Shape<'_>>) -> bool {
    match shape {
        Some(Shape::Array(messages))
            if !messages.is_empty()
                && messages
                    .iter()
                    .all(|m| matches!(m, Shape::Object(m) if get(m, "parts").is_some())) =>
        {
            messages
                .iter()
                .any(|m| shape_carries_content(fields, m, false))
        }
        _ => true,
    }
}

/// [`json_carries_content`] on a parsed [`Shape`] (a repeated member counts once, its last
/// value, as in a `serde_json::Value`).
fn shape_carries_content(fields: &[String], shape: &Shape<'_>, in_field: bool) -> bool {
    match shape {
        Shape::Null => false,
        Shape::Array(items) => items
            .iter()
            .any(|i| shape_carries_content(fields, i, in_field)),
        Shape::Object(members) => last_members(members).any(|(k, v)| {
            shape_carries_content(fields, v, in_field || fields.iter().any(|f| f == k))
        }),
        Shape::String(_) | Shape::Bool | Shape::Number => in_field,
    }
}

/// What JSON skips before a value (RFC 8259).
const JSON_WHITESPACE: [char; 4] = [' ', '\t', '\n', '\r'];

fn json_carries_content(fields: &[String], json: &serde_json::Value, in_field: bool) -> bool {
    use serde_json::Value as Json;
    match json {
        Json::Null => false,
        Json::Array(items) => items
            .iter()
            .any(|i| json_carries_content(fields, i, in_field)),
        Json::Object(map) => map
            .iter()
            .any(|(k, v)| json_carries_content(fields, v, in_field || fields.contains(k))),
        Json::String(_) | Json::Bool(_) | Json::Number(_) => in_field,
    }
}

fn json_redacted(ctx: &SpanContext<'_, '_>, json: &serde_json::Value, in_field: bool) -> bool {
    use serde_json::Value as Json;
    let fields = &ctx.rules.file.content.redacted_fields;
    match json {
        Json::String(s) => !in_field || ctx.rules.is_redaction_marker(s),
        Json::Null => true,
        Json::Array(items) if !in_field => items.iter().all(|i| json_redacted(ctx, i, false)),
        Json::Object(map) if !in_field => map
            .iter()
            .all(|(k, v)| json_redacted(ctx, v, fields.iter().any(|f| f == k))),
        // Numbers and booleans outside content fields are structure (`index`, `score`).
        Json::Bool(_) | Json::Number(_) => !in_field,
        _ => false,
    }
}

/// [`carries_content`] for messages recorded as JSON text, answered while parsing instead of
/// building a `serde_json::Value` (a tree of allocations per message), with the same answer:
/// duplicate keys count once, the last value winning, as in a parsed object.
mod messages_text {
    use std::borrow::Cow;
    use std::fmt;

    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    /// False only for valid JSON that is a non-empty array of objects with `parts` in which no
    /// content field holds a string, number or boolean.
    pub fn carries_content(fields: &[String], text: &str) -> bool {
        let mut json = serde_json::Deserializer::from_str(text);
        // Any error (not JSON, not messages) means the value is content, as when parsed. So
        // does a message with content: the array is left unread after it, which serde_json
        // reports as an error too.
        Messages { fields }
            .deserialize(&mut json)
            .and_then(|carries| json.end().map(|()| carries))
            .unwrap_or(true)
    }

    /// The top-level array of messages.
    struct Messages<'f> {
        fields: &'f [String],
    }

    impl<'de> DeserializeSeed<'de> for Messages<'_> {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, json: D) -> Result<bool, D::Error> {
            json.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Messages<'_> {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of messages")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut messages: A) -> Result<bool, A::Error> {
            let mut count = 0usize;
            let message = Object {
                fields: self.fields,
                in_field: false,
                needs_parts: true,
            };
            while let Some(carries) = messages.next_element_seed(message)? {
                if carries {
                    // Content, whatever follows (were the rest not JSON or not messages, the
                    // answer would be content too), so the rest is not read.
                    return Ok(true);
                }
                count += 1;
            }
            Ok(count == 0)
        }
    }

    /// Any value: whether it holds a scalar inside a content field.
    #[derive(Clone, Copy)]
    struct Content<'f> {
        fields: &'f [String],
        in_field: bool,
    }

    impl<'de> DeserializeSeed<'de> for Content<'_> {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, json: D) -> Result<bool, D::Error> {
            json.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Content<'_> {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_unit<E>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
            Ok(self.in_field)
        }
        fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
            Ok(self.in_field)
        }
        fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
            Ok(self.in_field)
        }
        fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
            Ok(self.in_field)
        }
        fn visit_str<E>(self, _: &str) -> Result<bool, E> {
            Ok(self.in_field)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<bool, A::Error> {
            let mut carries = false;
            while let Some(c) = items.next_element_seed(self)? {
                carries |= c;
            }
            Ok(carries)
        }
        fn visit_map<A: MapAccess<'de>>(self, entries: A) -> Result<bool, A::Error> {
            Object {
                fields: self.fields,
                in_field: self.in_field,
                needs_parts: false,
            }
            .visit_map(entries)
        }
    }

    /// An object (a message when `needs_parts`: then one without `parts` is an error).
    #[derive(Clone, Copy)]
    struct Object<'f> {
        fields: &'f [String],
        in_field: bool,
        needs_parts: bool,
    }

    impl<'de> DeserializeSeed<'de> for Object<'_> {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, json: D) -> Result<bool, D::Error> {
            json.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Object<'_> {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<bool, A::Error> {
            let mut has_parts = false;
            // Keys whose (last) value carries content, each once, so a repeated key is
            // replaced (a list: an object has a few keys, and most hold no content).
            let mut carrying: Vec<Cow<'de, str>> = Vec::new();
            while let Some(Key(key)) = entries.next_key()? {
                has_parts |= key == "parts";
                let value = Content {
                    fields: self.fields,
                    in_field: self.in_field || self.fields.iter().any(|f| *f == key),
                };
                if entries.next_value_seed(value)? {
                    if !carrying.contains(&key) {
                        carrying.push(key);
                    }
                } else {
                    carrying.retain(|k| *k != key);
                }
            }
            if self.needs_parts && !has_parts {
                return Err(de::Error::custom("not a message"));
            }
            Ok(!carrying.is_empty())
        }
    }

    /// An object key, borrowed from the text unless it has escapes.
    struct Key<'de>(Cow<'de, str>);

    impl<'de> de::Deserialize<'de> for Key<'de> {
        fn deserialize<D: Deserializer<'de>>(json: D) -> Result<Self, D::Error> {
            json.deserialize_str(KeyVisitor)
        }
    }

    struct KeyVisitor;

    impl<'de> Visitor<'de> for KeyVisitor {
        type Value = Key<'de>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a key")
        }
        fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
            Ok(Key(Cow::Borrowed(key)))
        }
        fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
            Ok(Key(Cow::Owned(key.to_string())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer by parsing into a `serde_json::Value`, as [`carries_content`] does for
    /// structured values.
    fn parsed(fields: &[String], text: &str) -> bool {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Array(messages))
                if !messages.is_empty() && messages.iter().all(|m| m.get("parts").is_some()) =>
            {
                messages
                    .iter()
                    .any(|m| json_carries_content(fields, m, false))
            }
            _ => true,
        }
    }

    #[test]
    fn text_scan_answers_as_parsing() {
        let fields: Vec<String> = ["content", "arguments", "response"]
            .map(String::from)
            .to_vec();
        let cases = [
            r#"[]"#,
            r#"[{"role":"user","parts":[]}]"#,
            r#"[{"role":"user","parts":[{"type":"text","content":"hi"}]}]"#,
            r#"[{"role":"user","parts":[{"type":"text","content":null}]}]"#,
            r#"[{"role":"user","parts":[{"type":"text","content":{"x":[null,{}]}}]}]"#,
            r#"[{"role":"user","parts":[{"type":"text","content":{"x":[null,1]}}]}]"#,
            r#"[{"role":"user","parts":[{"type":"text","content":true}]}]"#,
            r#"[{"role":"user","parts":[{"type":"tool_call","arguments":{"a":1.5}}]}]"#,
            r#"[{"role":"user"}]"#,
            r#"[{"role":"user","parts":null}, 3]"#,
            r#"[{"role":"user","parts":null}]"#,
            r#"[{"role":"user","parts":[],"content":"old"}]"#,
            // Duplicate keys: the last value wins, as in a parsed object.
            r#"[{"parts":[],"content":"x","content":null}]"#,
            r#"[{"parts":[],"content":null,"content":"x"}]"#,
            r#"[{"parts":[],"c\u006fntent":"x"}]"#,
            r#"[{"parts":[{"content":"x"}]}] trailing"#,
            r#"[{"parts":[{"content":1e400}]}]"#,
            r#"  [ {"parts" : [ ] } ]  "#,
            r#"[{"parts":[]},{"parts":[{"response":"ok"}]}]"#,
            r#"[{"parts":[]}"#,
            r#"["x"]"#,
            r#"[[]]"#,
            // Content in a message leaves the rest unread: it may be anything.
            r#"[{"parts":[{"content":"x"}]},{"role":"user"}]"#,
            r#"[{"parts":[{"content":"x"}]},3,"#,
            r#"[{"parts":[]},{"parts":[{"content":"x"}]},{"parts":[]}]"#,
            r#"[{"parts":[]},{"parts":[]},{"role":"user"}]"#,
        ];
        // Repeated members past the look-ahead of `last_members`.
        let many = |last: &str| {
            let members: String = (0..40).map(|i| format!(r#""k{i}":null,"#)).collect();
            format!(r#"[{{"parts":[],{members}"content":"x","k3":1,"content":{last}}}]"#)
        };
        let (many_null, many_text) = (many("null"), many(r#""y""#));
        for text in cases.iter().copied().chain([&*many_null, &*many_text]) {
            let expected = parsed(&fields, text);
            assert_eq!(
                messages_text::carries_content(&fields, text),
                expected,
                "{text}"
            );
            let value = Value::String(text.into());
            let shape = Shape::of(&value);
            assert_eq!(
                shape_carries_messages_content(&fields, shape.as_ref()),
                expected,
                "parsed once: {text}"
            );
        }
        let deep = format!("[{{\"parts\":{}{}}}]", "[".repeat(200), "]".repeat(200));
        assert_eq!(
            messages_text::carries_content(&fields, &deep),
            parsed(&fields, &deep)
        );
        let deep_value = Value::String(deep.as_str().into());
        assert!(
            Shape::of(&deep_value).is_none(),
            "too deep for serde_json, as parsed"
        );
    }

    /// Structured messages (an OTLP array of key-value lists) answer from their parsed shape as
    /// from a `serde_json::Value`: a repeated key counts once, its last value.
    #[test]
    fn structured_shape_answers_as_parsing() {
        let fields = vec!["content".to_string()];
        let kv = |key: &str, value: Value<'static>| Attribute {
            key: key.to_string().into(),
            value,
            offset: 0,
        };
        let text = |t: &str| Value::String(t.to_string().into());
        let message = |content: Vec<Value<'static>>| {
            let mut members = vec![kv("parts", Value::Array(vec![]))];
            members.extend(content.into_iter().map(|c| kv("content", c)));
            Value::KvList(members)
        };
        let values = [
            Value::Array(vec![message(vec![text("x"), Value::Empty])]),
            Value::Array(vec![message(vec![Value::Empty, text("x")])]),
            Value::Array(vec![message(vec![]), message(vec![Value::Int(1)])]),
            Value::Array(vec![message(vec![]), Value::Int(3)]),
            Value::Array(vec![message(vec![Value::Double(f64::NAN)])]),
            Value::Array(vec![]),
            Value::Empty,
        ];
        for value in values {
            let expected = match super::super::invalid_message_content::to_json(&value) {
                Some(serde_json::Value::Array(messages))
                    if !messages.is_empty()
                        && messages.iter().all(|m| m.get("parts").is_some()) =>
                {
                    messages
                        .iter()
                        .any(|m| json_carries_content(&fields, m, false))
                }
                _ => true,
            };
            let shape = Shape::of(&value);
            assert_eq!(
                shape_carries_messages_content(&fields, shape.as_ref()),
                expected,
                "{value:?}"
            );
        }
    }
}
