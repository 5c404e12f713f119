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

use super::engine::push_json_string;

#[derive(Deserialize)]
struct ModelMessage<'a> {
    role: String,
    #[serde(borrow)]
    content: &'a RawValue,
}

#[derive(Deserialize)]
struct Part<'a> {
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default, rename = "toolCallId")]
    tool_call_id: Option<String>,
    #[serde(default, rename = "toolName")]
    tool_name: Option<String>,
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
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
    #[serde(default, rename = "mimeType")]
    mime_type: Option<String>,
    #[serde(default)]
    filename: Option<String>,
}

/// A `file` or `image` part → a `blob` (a data URL or base64) or `uri` (a URL) part
/// (semconv-genai.md §4.3). The modality comes from the media type (`image/…`, `video/…`,
/// `audio/…`, else `document`; an `image` part without one is an image). `None` when the data
/// is not a string (the part is then kept as written).
fn media_part(p: &Part<'_>) -> Option<String> {
    let data = match (p.ty.as_str(), &p.data, &p.image) {
        ("file", Some(serde_json::Value::String(d)), _) => d.as_str(),
        ("image", _, Some(serde_json::Value::String(d))) => d.as_str(),
        _ => return None,
    };
    let mut mime = p.media_type.clone().or_else(|| p.mime_type.clone());
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
            mime = Some(data_mime.to_string());
        }
        ("blob", "content", content)
    } else if data.contains("://") {
        ("uri", "uri", data)
    } else {
        ("blob", "content", data)
    };
    let modality = match mime.as_deref().and_then(|m| m.split('/').next()) {
        Some(top @ ("image" | "video" | "audio")) => top,
        None if p.ty == "image" => "image",
        _ => "document",
    };
    let mut s = format!(
        "{{\"type\":\"{kind}\",\"modality\":{}",
        json_string(modality)
    );
    if let Some(mime) = &mime {
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

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_json_string(&mut out, s);
    out
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

fn part(raw: &RawValue) -> Option<String> {
    let p: Part<'_> = serde_json::from_str(raw.get()).ok()?;
    Some(match p.ty.as_str() {
        "text" => format!(
            "{{\"type\":\"text\",\"content\":{}}}",
            json_string(p.text.as_deref()?)
        ),
        "reasoning" => format!(
            "{{\"type\":\"reasoning\",\"content\":{}}}",
            json_string(p.text.as_deref()?)
        ),
        "tool-call" => {
            let mut s = String::from("{\"type\":\"tool_call\"");
            if let Some(id) = &p.tool_call_id {
                s.push_str(&format!(",\"id\":{}", json_string(id)));
            }
            s.push_str(&format!(
                ",\"name\":{}",
                json_string(p.tool_name.as_deref()?)
            ));
            if let Some(args) = p.input.or(p.args) {
                s.push_str(&format!(",\"arguments\":{}", arguments(args)));
            }
            s.push('}');
            s
        }
        "tool-result" => {
            let output = p.output.or(p.result)?;
            let wrapper = match output.get().starts_with('{') {
                true => serde_json::from_str::<OutputWrapper<'_>>(output.get()).ok(),
                false => None,
            };
            let response = wrapper.map_or(output.get(), |w| w.value.get());
            let mut s = String::from("{\"type\":\"tool_call_response\"");
            if let Some(id) = &p.tool_call_id {
                s.push_str(&format!(",\"id\":{}", json_string(id)));
            }
            s.push_str(&format!(",\"response\":{response}}}"));
            s
        }
        "file" | "image" => media_part(&p).unwrap_or_else(|| raw.get().to_string()),
        _ => raw.get().to_string(),
    })
}

fn message(role: &str, parts: &[String], roles: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    push_message(&mut out, role, parts, roles);
    out
}

/// Appends a message `{role, parts}`.
fn push_message(out: &mut String, role: &str, parts: &[String], roles: &BTreeMap<String, String>) {
    let role = roles.get(role).map_or(role, String::as_str);
    out.push_str("{\"role\":");
    push_json_string(out, role);
    out.push_str(",\"parts\":[");
    for (n, part) in parts.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(part);
    }
    out.push_str("]}");
}

/// `ai.prompt.messages`: a JSON array of model messages → `gen_ai.input.messages`.
pub fn prompt_messages(json: &str, roles: &BTreeMap<String, String>) -> Option<String> {
    let messages: Vec<ModelMessage<'_>> = serde_json::from_str(json).ok()?;
    let mut out = String::with_capacity(json.len() + 64);
    out.push('[');
    for (n, m) in messages.into_iter().enumerate() {
        // A string content is one text part; anything else must be an array of parts.
        let parts = match is_json_string(m.content) {
            true => {
                let text = serde_json::from_str::<Cow<'_, str>>(m.content.get()).ok()?;
                let mut part = String::with_capacity(text.len() + 32);
                part.push_str("{\"type\":\"text\",\"content\":");
                push_json_string(&mut part, &text);
                part.push('}');
                vec![part]
            }
            false => {
                let raw: Vec<&RawValue> = serde_json::from_str(m.content.get()).ok()?;
                raw.into_iter().map(part).collect::<Option<Vec<_>>>()?
            }
        };
        if n > 0 {
            out.push(',');
        }
        push_message(&mut out, &m.role, &parts, roles);
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
    #[serde(default, rename = "toolCallId")]
    tool_call_id: Option<String>,
    #[serde(rename = "toolName")]
    tool_name: String,
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
    let mut parts = Vec::new();
    if let Some(r) = reasoning {
        parts.push(format!(
            "{{\"type\":\"reasoning\",\"content\":{}}}",
            json_string(r)
        ));
    }
    if let Some(t) = text {
        parts.push(format!(
            "{{\"type\":\"text\",\"content\":{}}}",
            json_string(t)
        ));
    }
    if let Some(calls) = tool_calls {
        let calls: Vec<ResponseToolCall<'_>> = serde_json::from_str(calls).ok()?;
        for c in calls {
            let mut s = String::from("{\"type\":\"tool_call\"");
            if let Some(id) = &c.tool_call_id {
                s.push_str(&format!(",\"id\":{}", json_string(id)));
            }
            s.push_str(&format!(",\"name\":{}", json_string(&c.tool_name)));
            if let Some(args) = c.input.or(c.args) {
                s.push_str(&format!(",\"arguments\":{}", arguments(args)));
            }
            s.push('}');
            parts.push(s);
        }
    }
    if parts.is_empty() {
        return None;
    }
    let has_calls = parts
        .iter()
        .any(|p| p.starts_with("{\"type\":\"tool_call\""));
    let reason = finish_reason.unwrap_or(if has_calls { "tool_call" } else { "stop" });
    let reason = finish_reasons.get(reason).map_or(reason, String::as_str);
    Some(format!(
        "[{{\"role\":\"assistant\",\"parts\":[{}],\"finish_reason\":{}}}]",
        parts.join(","),
        json_string(reason)
    ))
}

#[derive(Deserialize)]
struct Tool<'a> {
    #[serde(rename = "type")]
    ty: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(borrow, default, rename = "inputSchema")]
    input_schema: Option<&'a RawValue>,
    #[serde(borrow, default)]
    parameters: Option<&'a RawValue>,
}

/// `ai.prompt.tools` (each a JSON string) → `gen_ai.tool.definitions`.
pub fn tools(items: &[&str]) -> Option<String> {
    let mut out = Vec::new();
    for item in items {
        let t: Tool<'_> = serde_json::from_str(item).ok()?;
        let mut s = format!(
            "{{\"type\":{},\"name\":{}",
            json_string(&t.ty),
            json_string(&t.name)
        );
        if let Some(d) = &t.description {
            s.push_str(&format!(",\"description\":{}", json_string(d)));
        }
        if let Some(p) = t.input_schema.or(t.parameters) {
            s.push_str(&format!(",\"parameters\":{}", p.get()));
        }
        s.push('}');
        out.push(s);
    }
    Some(format!("[{}]", out.join(",")))
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
