//! # invalid-message-content
//!
//! ## What it checks
//! `gen_ai.input.messages`, `gen_ai.output.messages` and `gen_ai.system_instructions` (on spans
//! and span events) against the conventions' message structure: an array of messages, each with
//! a `role` and an array of `parts` (instructions: an array of parts); each part an object with
//! a `type` and the fields its type requires (`content` for `text` and `reasoning`, `name` for
//! `tool_call`, `response` for `tool_call_response`, `modality` and `content` / `file_id` /
//! `uri` for `blob` / `file` / `uri`, …). Parts of other types are generic and need only the
//! `type`. Structured values and strings holding JSON are both accepted on spans. The first
//! problem of each attribute is reported, by its path (`[1].parts[0]`); content is never
//! printed.
//!
//! A missing per-message `finish_reason` in output messages is not reported: the conventions
//! are replacing it with `gen_ai.response.finish_reasons`.
//!
//! ## Why it matters
//! Backends render conversations from this structure. Messages in another shape (the old
//! `{"role", "content"}` form, `result` instead of `response`) show up as raw JSON or not at
//! all.
//!
//! ## Example
//! `[{"role": "user", "content": "…"}]` has no `parts`; it should be
//! `[{"role": "user", "parts": [{"type": "text", "content": "…"}]}]`.
//!
//! ## Fix
//! Record messages in the conventions' structure (upgrade the instrumentation), or rewrite dumps
//! with `spanlint migrate`.

use std::borrow::Cow;

use serde_json::Value as Json;

use super::messages::{Shape, get};
use super::{RuleInfo, SpanContext};
use crate::finding::{Finding, Severity};
use crate::model::{Attribute, Value};

pub const INFO: RuleInfo = RuleInfo {
    id: "invalid-message-content",
    summary: "recorded messages do not follow the conventions' message structure",
    default_severity: Severity::Error,
};

pub use super::messages::MESSAGE_KEYS;

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    for message in ctx.messages().iter() {
        let attribute = message.attribute;
        if let Some(problem) = problem(attribute, message.shape.as_ref()) {
            out.push(
                ctx.finding(&INFO, Some(&attribute.key), attribute.offset, || {
                    (
                        format!(
                            "`{}` does not follow the conventions' message structure: {problem}",
                            attribute.key
                        ),
                        Some(help(&problem)),
                    )
                }),
            );
        }
    }
}

fn help(problem: &str) -> String {
    if problem.contains("no `response`") {
        return "a `tool_call_response` part holds the tool's output in `response` (not `result`)"
            .to_string();
    }
    if problem.contains("no `parts`") {
        return "put the message's content into `parts`, e.g. \
                `{\"role\": \"user\", \"parts\": [{\"type\": \"text\", \"content\": …}]}` \
                (`spanlint migrate` rewrites the old form)"
            .to_string();
    }
    "record messages as the conventions' JSON schemas describe them (upgrade the \
     instrumentation, or rewrite dumps with `spanlint migrate`)"
        .to_string()
}

/// The OTLP value as JSON: structured values converted, strings parsed. `None` for a string
/// that is not JSON.
pub fn to_json(value: &Value<'_>) -> Option<Json> {
    match value {
        Value::String(s) => serde_json::from_str(s).ok(),
        other => Some(structured(other)),
    }
}

fn structured(value: &Value<'_>) -> Json {
    match value {
        Value::Empty => Json::Null,
        Value::String(s) => Json::String(s.to_string()),
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Double(d) => serde_json::Number::from_f64(*d).map_or(Json::Null, Json::Number),
        Value::Bytes(_) => Json::Null,
        Value::Array(items) => Json::Array(items.iter().map(structured).collect()),
        Value::KvList(entries) => Json::Object(
            entries
                .iter()
                .map(|a| (a.key.to_string(), structured(&a.value)))
                .collect(),
        ),
    }
}

/// The first structural problem of a message attribute (parsed: `shape`), described without
/// content.
fn problem(attribute: &Attribute<'_>, shape: Option<&Shape<'_>>) -> Option<String> {
    if matches!(attribute.value, Value::Empty) {
        return None;
    }
    let Some(json) = shape else {
        return Some("it is a string that is not JSON".to_string());
    };
    let Shape::Array(items) = json else {
        return Some(format!("it is {}, not an array", json.kind()));
    };
    let instructions = attribute.key == "gen_ai.system_instructions";
    items.iter().enumerate().find_map(|(i, item)| {
        if instructions {
            part_problem(item).map(|p| format!("[{i}]{p}"))
        } else {
            message_problem(item).map(|p| format!("[{i}]{p}"))
        }
    })
}

fn message_problem(message: &Shape<'_>) -> Option<String> {
    let Shape::Object(message) = message else {
        return Some(format!(" is {}, not a message object", message.kind()));
    };
    match get(message, "role") {
        Some(Shape::String(_)) => {}
        None => return Some(" has no `role`".to_string()),
        Some(other) => return Some(format!(".role is {}, not a string", other.kind())),
    }
    let parts = match get(message, "parts") {
        Some(Shape::Array(parts)) => parts,
        None if get(message, "content").is_some() => {
            return Some(" has no `parts` (it has the old `content` field)".to_string());
        }
        None => return Some(" has no `parts`".to_string()),
        Some(other) => return Some(format!(".parts is {}, not an array", other.kind())),
    };
    parts
        .iter()
        .enumerate()
        .find_map(|(i, part)| part_problem(part).map(|p| format!(".parts[{i}]{p}")))
}

/// Required fields per part type (`type` is the discriminator; other types are generic).
fn part_problem(part: &Shape<'_>) -> Option<String> {
    let Shape::Object(part) = part else {
        return Some(format!(" is {}, not a part object", part.kind()));
    };
    let ty = match get(part, "type") {
        Some(Shape::String(ty)) => ty.as_ref(),
        None => return Some(" has no `type`".to_string()),
        Some(other) => return Some(format!(".type is {}, not a string", other.kind())),
    };
    let required: &[(&str, Field)] = match ty {
        "text" | "reasoning" => &[("content", Field::String)],
        "tool_call" => &[("name", Field::String)],
        "tool_call_response" => &[("response", Field::Any)],
        "server_tool_call" => &[("name", Field::String), ("server_tool_call", Field::Typed)],
        "server_tool_call_response" => &[("server_tool_call_response", Field::Typed)],
        "blob" => &[("modality", Field::String), ("content", Field::String)],
        "file" => &[("modality", Field::String), ("file_id", Field::String)],
        "uri" => &[("modality", Field::String), ("uri", Field::String)],
        _ => &[],
    };
    required
        .iter()
        .find_map(|(name, field)| field_problem(part, name, *field))
        .map(|p| format!(" (`{ty}`){p}"))
}

#[derive(Clone, Copy)]
enum Field {
    String,
    Any,
    /// An object with a string `type`.
    Typed,
}

fn field_problem(part: &[(Cow<'_, str>, Shape<'_>)], name: &str, field: Field) -> Option<String> {
    let Some(value) = get(part, name) else {
        return Some(format!(" has no `{name}`"));
    };
    match (field, value) {
        (Field::Any, _) | (Field::String, Shape::String(_)) => None,
        (Field::Typed, Shape::Object(o)) if matches!(get(o, "type"), Some(Shape::String(_))) => {
            None
        }
        (Field::Typed, Shape::Object(_)) => Some(format!(".{name} has no `type`")),
        (Field::String, other) => Some(format!(".{name} is {}, not a string", other.kind())),
        (Field::Typed, other) => Some(format!(".{name} is {}, not an object", other.kind())),
    }
}
