//! Vercel AI SDK (legacy `ai.*`) message JSON → the conventions' message JSON
//! (ecosystem.md §5.2, semconv-genai.md §4.3). Pure text → text functions; `None` when the input
//! is not in the expected shape (the source keys are then left alone).
//!
//! Part mapping: `text` → `text`, `reasoning` → `reasoning`, `tool-call` → `tool_call`
//! (`toolCallId`, `toolName`, `input`/`args`), `tool-result` → `tool_call_response`
//! (`output`/`result`; a `{type, value}` output wrapper is unwrapped), `file` / `image` → `blob`
//! (base64 or a data URL) or `uri` (a URL) with a modality and mime type. Any other part is kept
//! as written (a generic part: the schema allows any `type`). System messages stay in the input
//! messages, as OpenInference's converter does.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::json_string::{json_string, push_json_string};

#[derive(Deserialize)]
struct ModelMessage<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(borrow)]
    content: &'a RawValue,
}

/// A part of a model message; strings are borrowed from the JSON unless they hold escapes.
#[derive(Deserialize)]
struct Part<'a> {
    #[serde(borrow, rename = "type")]
    ty: Cow<'a, str>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "toolCallId")]
    tool_call_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "toolName")]
    tool_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
    #[serde(borrow, default)]
    args: Option<&'a RawValue>,
    #[serde(borrow, default)]
    output: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    /// `file` parts: base64, a data URL or a URL.
    #[serde(default)]
    data: Option<serde_json::Value>,
    /// `image` parts: likewise.
    #[serde(default)]
    image: Option<serde_json::Value>,
    #[serde(borrow, default, rename = "mediaType")]
    media_type: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "mimeType")]
    mime_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    filename: Option<Cow<'a, str>>,
}

/// A `file` or `image` part → a `blob` (a data URL or base64) or `uri` (a URL) part
/// (semconv-genai.md §4.3). The modality comes from the media type (`image/…`, `video/…`,
/// `audio/…`, else `document`; an `image` part without one is an image). `None` when the data
/// is not a string (the part is then kept as written).
fn media_part(p: &Part<'_>) -> Option<String> {
    let data = match (p.ty.as_ref(), &p.data, &p.image) {
        ("file", Some(serde_json::Value::String(d)), _) => d.as_str(),
        ("image", _, Some(serde_json::Value::String(d))) => d.as_str(),
        _ => return None,
    };
    let mut mime = p.media_type.as_deref().or(p.mime_type.as_deref());
    let (kind, field, value) = if let Some(rest) = data.strip_prefix("data:") {
        let (header, content) = rest.split_once(',')?;
        let (data_mime, base64) = match header.strip_suffix(";base64") {
            Some(m) => (m, true),
            None => (header, false),
        };
        if !base64 {
            return None;
        }
        if mime.is_none() && !data_mime.is_empty() {
            mime = Some(data_mime);
        }
        ("blob", "content", content)
    } else if data.contains("://") {
        ("uri", "uri", data)
    } else {
        ("blob", "content", data)
    };
    let modality = match mime.and_then(|m| m.split('/').next()) {
        Some(top @ ("image" | "video" | "audio")) => top,
        None if p.ty == "image" => "image",
        _ => "document",
    };
    let mut s = format!(
        "{{\"type\":\"{kind}\",\"modality\":{}",
        json_string(modality)
    );
    if let Some(mime) = mime {
        s.push_str(&format!(",\"mime_type\":{}", json_string(mime)));
    }
    s.push_str(&format!(",\"{field}\":{}", json_string(value)));
    if let Some(name) = &p.filename {
        s.push_str(&format!(",\"filename\":{}", json_string(name)));
    }
    s.push('}');
    Some(s)
}

#[derive(Deserialize)]
struct OutputWrapper<'a> {
    #[serde(rename = "type")]
    _ty: String,
    #[serde(borrow)]
    value: &'a RawValue,
}

/// Whether a JSON value as written is a string (a value of another type is not read as one:
/// serde_json's error for it costs more than the check).
fn is_json_string(raw: &RawValue) -> bool {
    raw.get().starts_with('"')
}

/// Tool arguments: a string holding JSON is written as that JSON.
fn arguments(raw: &RawValue) -> String {
    if is_json_string(raw)
        && let Ok(text) = serde_json::from_str::<String>(raw.get())
        && let Ok(inner) = serde_json::from_str::<&RawValue>(&text)
    {
        return inner.get().to_string();
    }
    raw.get().to_string()
}

/// Appends a text-like part `{"type": ty, "content": text}`.
fn push_text_part(out: &mut String, ty: &str, text: &str) {
    out.push_str("{\"type\":\"");
    out.push_str(ty);
    out.push_str("\",\"content\":");
    push_json_string(out, text);
    out.push('}');
}

/// Appends a `tool_call` part.
fn push_tool_call(out: &mut String, id: Option<&str>, name: &str, arguments: Option<&RawValue>) {
    out.push_str("{\"type\":\"tool_call\"");
    if let Some(id) = id {
        out.push_str(",\"id\":");
        push_json_string(out, id);
    }
    out.push_str(",\"name\":");
    push_json_string(out, name);
    if let Some(args) = arguments {
        out.push_str(",\"arguments\":");
        out.push_str(&self::arguments(args));
    }
    out.push('}');
}

/// Appends the conventions' form of a model message part; `None` when it is not a part.
fn push_part(out: &mut String, raw: &RawValue) -> Option<()> {
    let p: Part<'_> = serde_json::from_str(raw.get()).ok()?;
    match p.ty.as_ref() {
        ty @ ("text" | "reasoning") => push_text_part(out, ty, p.text.as_deref()?),
        "tool-call" => push_tool_call(
            out,
            p.tool_call_id.as_deref(),
            p.tool_name.as_deref()?,
            p.input.or(p.args),
        ),
        "tool-result" => {
            let output = p.output.or(p.result)?;
            let wrapper = match output.get().starts_with('{') {
                true => serde_json::from_str::<OutputWrapper<'_>>(output.get()).ok(),
                false => None,
            };
            let response = wrapper.map_or(output.get(), |w| w.value.get());
            out.push_str("{\"type\":\"tool_call_response\"");
            if let Some(id) = &p.tool_call_id {
                out.push_str(",\"id\":");
                push_json_string(out, id);
            }
            out.push_str(",\"response\":");
            out.push_str(response);
            out.push('}');
        }
        "file" | "image" => match media_part(&p) {
            Some(media) => out.push_str(&media),
            None => out.push_str(raw.get()),
        },
        _ => out.push_str(raw.get()),
    }
    Some(())
}

fn message(role: &str, parts: &[String], roles: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    push_message(&mut out, role, parts, roles);
    out
}

/// Appends a message `{role, parts}`.
fn push_message(out: &mut String, role: &str, parts: &[String], roles: &BTreeMap<String, String>) {
    push_message_start(out, role, roles);
    for (n, part) in parts.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(part);
    }
    out.push_str("]}");
}

/// Appends the start of a message, `{"role": role, "parts": [`, the role in the conventions'
/// spelling.
fn push_message_start(out: &mut String, role: &str, roles: &BTreeMap<String, String>) {
    let role = roles.get(role).map_or(role, String::as_str);
    out.push_str("{\"role\":");
    push_json_string(out, role);
    out.push_str(",\"parts\":[");
}

/// `ai.prompt.messages`: a JSON array of model messages → `gen_ai.input.messages`. Written
/// into one buffer as it is read (no string per part).
pub fn prompt_messages(json: &str, roles: &BTreeMap<String, String>) -> Option<String> {
    let messages: Vec<ModelMessage<'_>> = serde_json::from_str(json).ok()?;
    let mut out = String::with_capacity(json.len() + 64);
    out.push('[');
    for (n, m) in messages.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        push_message_start(&mut out, &m.role, roles);
        // A string content is one text part; anything else must be an array of parts.
        if is_json_string(m.content) {
            let text = serde_json::from_str::<Cow<'_, str>>(m.content.get()).ok()?;
            push_text_part(&mut out, "text", &text);
        } else {
            let parts: Vec<&RawValue> = serde_json::from_str(m.content.get()).ok()?;
            for (k, part) in parts.into_iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                push_part(&mut out, part)?;
            }
        }
        out.push_str("]}");
    }
    out.push(']');
    Some(out)
}

#[derive(Deserialize)]
struct Prompt<'a> {
    #[serde(default)]
    system: Option<String>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(borrow, default)]
    messages: Option<&'a RawValue>,
}

/// `ai.prompt`: `{system?, prompt?, messages?}` → `gen_ai.input.messages`.
pub fn prompt(json: &str, roles: &BTreeMap<String, String>) -> Option<String> {
    let p: Prompt<'_> = serde_json::from_str(json).ok()?;
    let text = |s: &str| {
        vec![format!(
            "{{\"type\":\"text\",\"content\":{}}}",
            json_string(s)
        )]
    };
    let mut out = Vec::new();
    if let Some(system) = &p.system {
        out.push(message("system", &text(system), roles));
    }
    if let Some(messages) = p.messages {
        let inner = prompt_messages(messages.get(), roles)?;
        let inner = inner.strip_prefix('[')?.strip_suffix(']')?;
        if !inner.is_empty() {
            out.push(inner.to_string());
        }
    }
    if let Some(prompt) = &p.prompt {
        out.push(message("user", &text(prompt), roles));
    }
    (!out.is_empty()).then(|| format!("[{}]", out.join(",")))
}

#[derive(Deserialize)]
struct ResponseToolCall<'a> {
    #[serde(borrow, default, rename = "toolCallId")]
    tool_call_id: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "toolName")]
    tool_name: Cow<'a, str>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
    #[serde(borrow, default)]
    args: Option<&'a RawValue>,
}

/// `ai.response.text` / `.reasoning` / `.toolCalls` and the finish reason → one assistant
/// message of `gen_ai.output.messages`.
pub fn response(
    text: Option<&str>,
    reasoning: Option<&str>,
    tool_calls: Option<&str>,
    finish_reason: Option<&str>,
    finish_reasons: &BTreeMap<String, String>,
) -> Option<String> {
    let calls: Vec<ResponseToolCall<'_>> = match tool_calls {
        Some(calls) => serde_json::from_str(calls).ok()?,
        None => Vec::new(),
    };
    if reasoning.is_none() && text.is_none() && calls.is_empty() {
        return None;
    }
    let mut out = String::from("[{\"role\":\"assistant\",\"parts\":[");
    let mut first = true;
    let mut separate = |out: &mut String| {
        if !std::mem::take(&mut first) {
            out.push(',');
        }
    };
    if let Some(r) = reasoning {
        separate(&mut out);
        push_text_part(&mut out, "reasoning", r);
    }
    if let Some(t) = text {
        separate(&mut out);
        push_text_part(&mut out, "text", t);
    }
    for c in &calls {
        separate(&mut out);
        let arguments = c.input.or(c.args);
        push_tool_call(&mut out, c.tool_call_id.as_deref(), &c.tool_name, arguments);
    }
    let reason = finish_reason.unwrap_or(if calls.is_empty() {
        "stop"
    } else {
        "tool_call"
    });
    let reason = finish_reasons.get(reason).map_or(reason, String::as_str);
    out.push_str("],\"finish_reason\":");
    push_json_string(&mut out, reason);
    out.push_str("}]");
    Some(out)
}

#[derive(Deserialize)]
struct Tool<'a> {
    #[serde(borrow, rename = "type")]
    ty: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    description: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "inputSchema")]
    input_schema: Option<&'a RawValue>,
    #[serde(borrow, default)]
    parameters: Option<&'a RawValue>,
}

/// `ai.prompt.tools` (each a JSON string) → `gen_ai.tool.definitions`.
pub fn tools(items: &[&str]) -> Option<String> {
    let mut out = String::from("[");
    for (n, item) in items.iter().enumerate() {
        let t: Tool<'_> = serde_json::from_str(item).ok()?;
        if n > 0 {
            out.push(',');
        }
        out.push_str("{\"type\":");
        push_json_string(&mut out, &t.ty);
        out.push_str(",\"name\":");
        push_json_string(&mut out, &t.name);
        if let Some(d) = &t.description {
            out.push_str(",\"description\":");
            push_json_string(&mut out, d);
        }
        if let Some(p) = t.input_schema.or(t.parameters) {
            out.push_str(",\"parameters\":");
            out.push_str(p.get());
        }
        out.push('}');
    }
    out.push(']');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_messages_map_parts() {
        let json = r#"[{"role":"system","content":"S"},{"role":"assistant","content":[{"type":"tool-call","toolCallId":"c","toolName":"f","input":{"b":1,"a":2}}]},{"role":"tool","content":[{"type":"tool-result","toolCallId":"c","toolName":"f","output":{"type":"json","value":{"t":18}}}]},{"role":"user","content":[{"type":"image","image":{"0":1}}]}]"#;
        assert_eq!(
            prompt_messages(json, &BTreeMap::new()).unwrap(),
            r#"[{"role":"system","parts":[{"type":"text","content":"S"}]},{"role":"assistant","parts":[{"type":"tool_call","id":"c","name":"f","arguments":{"b":1,"a":2}}]},{"role":"tool","parts":[{"type":"tool_call_response","id":"c","response":{"t":18}}]},{"role":"user","parts":[{"type":"image","image":{"0":1}}]}]"#
        );
        assert_eq!(prompt_messages("not json", &BTreeMap::new()), None);
    }

    #[test]
    fn file_and_image_parts_become_blob_and_uri_parts() {
        let json = r#"[{"role":"user","content":[
            {"type":"file","data":"data:application/pdf;base64,JVBERi0=","mediaType":"application/pdf","filename":"a.pdf"},
            {"type":"file","data":"https://example.com/cat.png","mediaType":"image/png"},
            {"type":"image","image":"iVBORw0KGgo="},
            {"type":"file","data":"data:audio/wav;base64,UklGRg=="},
            {"type":"file","data":[1,2]}
        ]}]"#;
        assert_eq!(
            prompt_messages(json, &BTreeMap::new()).unwrap(),
            concat!(
                r#"[{"role":"user","parts":["#,
                r#"{"type":"blob","modality":"document","mime_type":"application/pdf","content":"JVBERi0=","filename":"a.pdf"},"#,
                r#"{"type":"uri","modality":"image","mime_type":"image/png","uri":"https://example.com/cat.png"},"#,
                r#"{"type":"blob","modality":"image","content":"iVBORw0KGgo="},"#,
                r#"{"type":"blob","modality":"audio","mime_type":"audio/wav","content":"UklGRg=="},"#,
                r#"{"type":"file","data":[1,2]}"#,
                r#"]}]"#
            )
        );
    }

    #[test]
    fn response_with_tool_calls() {
        let calls = r#"[{"toolCallId":"c","toolName":"f","input":"{\"city\":\"Paris\"}"}]"#;
        let map = BTreeMap::from([("tool-calls".to_string(), "tool_call".to_string())]);
        assert_eq!(
            response(None, None, Some(calls), Some("tool-calls"), &map).unwrap(),
            r#"[{"role":"assistant","parts":[{"type":"tool_call","id":"c","name":"f","arguments":{"city":"Paris"}}],"finish_reason":"tool_call"}]"#
        );
    }
}
