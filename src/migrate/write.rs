//! Writers: apply span plans to the original bytes.
//!
//! **OTLP/JSON** is edited as text, by byte ranges from [`span_layouts_at`]: only the span names
//! and attribute arrays of planned spans are replaced; every other byte of the file (unknown
//! fields, number spellings, whitespace, line layout) is copied. Kept attributes are copied as
//! written; renamed ones keep their value text and only get a new key token; new ones are written
//! compactly in lowerCamelCase OTLP/JSON. Removed span events are cut out of the `events` array
//! (the others and their separators are copied).
//!
//! **Protobuf** messages that contain a planned span are decoded with prost, edited and
//! re-encoded; prost drops fields it does not know (none in OTLP 1.x data, but a newer producer's
//! additions would be lost). Messages without changes are copied byte for byte, without being
//! decoded. The framing of the input is kept (one message, or 4-byte length-prefixed frames).

use std::borrow::Cow;
use std::collections::HashMap;

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value,
};
use prost::Message as _;

use super::engine::{Item, SpanPlan};
use crate::input::json::{EventLayout, KeyValueLayout, SpanLayout, span_layouts_at};
use crate::input::wire;
use crate::model::Value;

/// Applies plans to an OTLP/JSON text: a whole file, or a chunk of whole documents (plan
/// indexes and layouts then count from the chunk's first span). A text without changes is
/// handed back as it is.
pub fn rewrite_json<'t>(text: &'t str, plans: &[SpanPlan<'_>]) -> Result<Cow<'t, str>, String> {
    if !plans.iter().any(SpanPlan::rewrites) {
        return Ok(Cow::Borrowed(text));
    }
    // Only the spans that change need their layout (plans are in reading order).
    let rewriting: Vec<&SpanPlan<'_>> = plans.iter().filter(|p| p.rewrites()).collect();
    let indexes: Vec<usize> = rewriting.iter().map(|p| p.index).collect();
    let layouts = span_layouts_at(text, &indexes).map_err(|e| e.message)?;
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for (i, plan) in rewriting.iter().enumerate() {
        let layout = layouts
            .get(i)
            .ok_or_else(|| format!("span {} not found in the JSON layout", plan.index))?;
        json_span_edits(text, layout, plan, &mut edits);
    }
    edits.sort_by_key(|(r, _)| (r.start, r.end));
    // The exact output size, so the (chunk-sized) output is allocated once, never regrown.
    let size = edits.iter().fold(text.len(), |size, (range, replacement)| {
        (size + replacement.len()).saturating_sub(range.len())
    });
    let mut out = String::with_capacity(size);
    let mut pos = 0;
    for (range, replacement) in edits {
        if range.start < pos {
            return Err("overlapping edits".to_string());
        }
        out.push_str(&text[pos..range.start]);
        out.push_str(&replacement);
        pos = range.end;
    }
    out.push_str(&text[pos..]);
    Ok(Cow::Owned(out))
}

fn json_span_edits(
    text: &str,
    layout: &SpanLayout,
    plan: &SpanPlan<'_>,
    edits: &mut Vec<(std::ops::Range<usize>, String)>,
) {
    let mut insert = Vec::new();
    if let Some(name) = &plan.name {
        match &layout.name {
            Some(range) => edits.push((range.clone(), json_string(name))),
            None => insert.push(format!("\"name\":{}", json_string(name))),
        }
    }
    if let Some(items) = &plan.attributes {
        if let Some(edit) = array_edit(text, &layout.attributes, &layout.key_values, items) {
            edits.push(edit);
        } else {
            insert.push(format!(
                "\"attributes\":{}",
                new_array(text, &layout.key_values, items)
            ));
        }
    }
    let event_edits = plan.events.iter().filter_map(|(e, items)| {
        let event = layout.events.get(*e)?;
        Some((
            *e,
            array_edit(text, &event.attributes, &event.key_values, items)?,
        ))
    });
    match &layout.events_array {
        Some(array) if !plan.removed_events.is_empty() => {
            let event_edits: HashMap<usize, _> = event_edits.collect();
            edits.push(events_edit(
                text,
                array,
                &layout.events,
                &plan.removed_events,
                &event_edits,
            ));
        }
        _ => edits.extend(event_edits.map(|(_, edit)| edit)),
    }
    if !insert.is_empty() {
        let open = layout.span.start + 1;
        let empty = text[open..layout.span.end - 1].trim().is_empty();
        let mut s = insert.join(",");
        if !empty {
            s.push(',');
        }
        edits.push((open..open, s));
    }
}

type Edit = (std::ops::Range<usize>, String);

/// The edit replacing a span's `events` array without the removed events, keeping the
/// separators as written; kept events carry their own attribute edits.
fn events_edit(
    text: &str,
    array: &std::ops::Range<usize>,
    events: &[EventLayout],
    removed: &[usize],
    event_edits: &HashMap<usize, Edit>,
) -> Edit {
    let kept: Vec<String> = events
        .iter()
        .enumerate()
        .filter(|(i, _)| !removed.contains(i))
        .map(|(i, event)| match event_edits.get(&i) {
            Some((range, replacement)) => format!(
                "{}{replacement}{}",
                &text[event.object.start..range.start],
                &text[range.end..event.object.end]
            ),
            None => text[event.object.clone()].to_string(),
        })
        .collect();
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return (array.clone(), text[array.clone()].to_string());
    };
    if kept.is_empty() {
        return (array.clone(), "[]".to_string());
    }
    let leading = &text[array.start + 1..first.object.start];
    let trailing = &text[last.object.end..array.end - 1];
    let sep = match events.get(1) {
        Some(second) => &text[first.object.end..second.object.start],
        None => ",",
    };
    (
        array.clone(),
        format!("[{leading}{}{trailing}]", kept.join(sep)),
    )
}

/// Appends the items of a rewritten attribute list to `out`, separated by `sep`: kept ones as
/// written, renamed ones with their new key token, new ones compactly.
fn push_items(out: &mut String, text: &str, kvs: &[KeyValueLayout], items: &[Item<'_>], sep: &str) {
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push_str(sep);
        }
        match item {
            Item::Keep(i) => out.push_str(&text[kvs[*i].object.clone()]),
            Item::Rename(i, key) => {
                let kv = &kvs[*i];
                out.push_str(&text[kv.object.start..kv.key.start]);
                out.push_str(&json_string(key));
                out.push_str(&text[kv.key.end..kv.object.end]);
            }
            Item::New(key, value) => out.push_str(&key_value_json(key, value)),
        }
    }
}

/// A new compact attributes array.
fn new_array(text: &str, kvs: &[KeyValueLayout], items: &[Item<'_>]) -> String {
    let mut out = String::from("[");
    push_items(&mut out, text, kvs, items, ",");
    out.push(']');
    out
}

/// The edit replacing an existing attributes array, keeping its whitespace layout; `None` when
/// there is no array to replace.
fn array_edit(
    text: &str,
    range: &Option<std::ops::Range<usize>>,
    kvs: &[KeyValueLayout],
    items: &[Item<'_>],
) -> Option<(std::ops::Range<usize>, String)> {
    let range = range.as_ref()?;
    let inner = &text[range.start + 1..range.end - 1];
    let (leading, sep, trailing) = match (kvs.first(), kvs.last()) {
        (Some(first), Some(last)) => {
            let leading = &text[range.start + 1..first.object.start];
            let trailing = &text[last.object.end..range.end - 1];
            let sep = match kvs.get(1) {
                Some(second) => Cow::Borrowed(&text[first.object.end..second.object.start]),
                None if leading.contains('\n') => Cow::Owned(format!(",{leading}")),
                None => Cow::Borrowed(","),
            };
            (leading, sep, trailing)
        }
        _ => ("", Cow::Borrowed(","), inner),
    };
    // The kept attributes' text plus room for what changes, so the string grows at most once.
    let mut out = String::with_capacity(range.len() + 256);
    out.push('[');
    if !items.is_empty() {
        out.push_str(leading);
        push_items(&mut out, text, kvs, items, &sep);
        out.push_str(trailing);
    }
    out.push(']');
    Some((range.clone(), out))
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// One OTLP/JSON `KeyValue`.
pub fn key_value_json(key: &str, value: &Value<'_>) -> String {
    format!(
        "{{\"key\":{},\"value\":{}}}",
        json_string(key),
        any_value_json(value)
    )
}

/// One OTLP/JSON `AnyValue` (int64 as a decimal string, per the proto3 JSON mapping).
pub fn any_value_json(value: &Value<'_>) -> String {
    match value {
        Value::Empty => "{}".to_string(),
        Value::String(s) => format!("{{\"stringValue\":{}}}", json_string(s)),
        Value::Bool(b) => format!("{{\"boolValue\":{b}}}"),
        Value::Int(i) => format!("{{\"intValue\":\"{i}\"}}"),
        Value::Double(d) if d.is_nan() => "{\"doubleValue\":\"NaN\"}".to_string(),
        Value::Double(d) if d.is_infinite() => format!(
            "{{\"doubleValue\":\"{}Infinity\"}}",
            if *d < 0.0 { "-" } else { "" }
        ),
        Value::Double(d) => format!("{{\"doubleValue\":{d:?}}}"),
        Value::Bytes(b) => format!(
            "{{\"bytesValue\":\"{}\"}}",
            base64::engine::general_purpose::STANDARD.encode(b)
        ),
        Value::Array(items) => format!(
            "{{\"arrayValue\":{{\"values\":[{}]}}}}",
            items
                .iter()
                .map(any_value_json)
                .collect::<Vec<_>>()
                .join(",")
        ),
        Value::KvList(kvs) => format!(
            "{{\"kvlistValue\":{{\"values\":[{}]}}}}",
            kvs.iter()
                .map(|kv| key_value_json(&kv.key, &kv.value))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

/// Applies plans to protobuf messages: one message, or 4-byte length-prefixed frames
/// (`framed`). `spans` is how many spans each message holds, in order (from the parsed
/// batches), so a message without a planned change is copied as it is, never decoded: only
/// messages holding a changed span go through prost (decode, edit, encode). Data without
/// changes is handed back as it is.
pub fn rewrite_proto<'d>(
    data: &'d [u8],
    framed: bool,
    spans: &[usize],
    plans: &[SpanPlan<'_>],
) -> Result<Cow<'d, [u8]>, String> {
    let mut changing = plans.iter().filter(|p| p.rewrites()).peekable();
    if changing.peek().is_none() {
        return Ok(Cow::Borrowed(data));
    }
    let mut counts = spans.iter().copied();
    let mut first = 0;
    // The plans of the spans `first..first + count` of the next message.
    let mut message_plans = |count: usize| {
        let mut mine: HashMap<usize, &SpanPlan<'_>> = HashMap::new();
        while let Some(plan) = changing.next_if(|p| p.index < first + count) {
            mine.insert(plan.index - first, plan);
        }
        first += count;
        mine
    };
    if !framed {
        let plans = message_plans(counts.next().unwrap_or(0));
        return rewrite_message(data, &plans).map(Cow::Owned);
    }
    let mut out = Vec::with_capacity(data.len() + 1024);
    let mut pos = 0;
    while let Some(frame) = wire::frame_at(data, pos).map_err(|e| e.message)? {
        let header = frame.offset - 4;
        pos = frame.offset + frame.data.len();
        let count = counts
            .next()
            .ok_or("more protobuf messages than were parsed")?;
        let plans = message_plans(count);
        if plans.is_empty() {
            out.extend_from_slice(&data[header..pos]);
        } else {
            let message = rewrite_message(frame.data, &plans)?;
            let len = u32::try_from(message.len())
                .map_err(|_| "a rewritten protobuf message is over 4 GiB".to_string())?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&message);
        }
    }
    Ok(Cow::Owned(out))
}

/// Decodes one message, applies the plans of its spans (by index in the message) and encodes
/// it again.
fn rewrite_message(msg: &[u8], plans: &HashMap<usize, &SpanPlan<'_>>) -> Result<Vec<u8>, String> {
    if plans.is_empty() {
        return Ok(msg.to_vec());
    }
    let mut request = ExportTraceServiceRequest::decode(msg).map_err(|e| e.to_string())?;
    let spans = request
        .resource_spans
        .iter_mut()
        .flat_map(|rs| &mut rs.scope_spans)
        .flat_map(|ss| &mut ss.spans);
    for (index, span) in spans.enumerate() {
        let Some(plan) = plans.get(&index) else {
            continue;
        };
        if let Some(name) = &plan.name {
            span.name = name.clone();
        }
        if let Some(items) = &plan.attributes {
            span.attributes = rebuild(std::mem::take(&mut span.attributes), items);
        }
        for (e, items) in &plan.events {
            if let Some(event) = span.events.get_mut(*e) {
                event.attributes = rebuild(std::mem::take(&mut event.attributes), items);
            }
        }
        if !plan.removed_events.is_empty() {
            let mut e = 0;
            span.events.retain(|_| {
                let keep = !plan.removed_events.contains(&e);
                e += 1;
                keep
            });
        }
    }
    Ok(request.encode_to_vec())
}

fn rebuild(old: Vec<KeyValue>, items: &[Item<'_>]) -> Vec<KeyValue> {
    items
        .iter()
        .map(|item| match item {
            Item::Keep(i) => old[*i].clone(),
            Item::Rename(i, key) => KeyValue {
                key: key.clone(),
                ..old[*i].clone()
            },
            Item::New(key, value) => KeyValue {
                key: key.clone(),
                value: Some(any_value(value)),
                ..KeyValue::default()
            },
        })
        .collect()
}

/// A model value as a protobuf `AnyValue`.
pub fn any_value(value: &Value<'_>) -> AnyValue {
    use any_value::Value as V;
    let v = match value {
        Value::Empty => None,
        Value::String(s) => Some(V::StringValue(s.to_string())),
        Value::Bool(b) => Some(V::BoolValue(*b)),
        Value::Int(i) => Some(V::IntValue(*i)),
        Value::Double(d) => Some(V::DoubleValue(*d)),
        Value::Bytes(b) => Some(V::BytesValue(b.clone())),
        Value::Array(items) => Some(V::ArrayValue(ArrayValue {
            values: items.iter().map(any_value).collect(),
        })),
        Value::KvList(kvs) => Some(V::KvlistValue(KeyValueList {
            values: kvs
                .iter()
                .map(|kv| KeyValue {
                    key: kv.key.to_string(),
                    value: Some(any_value(&kv.value)),
                    ..KeyValue::default()
                })
                .collect(),
        })),
    };
    AnyValue { value: v }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_in_otlp_json() {
        assert_eq!(
            key_value_json("n", &Value::Int(-3)),
            r#"{"key":"n","value":{"intValue":"-3"}}"#
        );
        assert_eq!(
            any_value_json(&Value::Array(vec![
                Value::String("a\"".into()),
                Value::Double(0.5)
            ])),
            r#"{"arrayValue":{"values":[{"stringValue":"a\""},{"doubleValue":0.5}]}}"#
        );
    }
}
