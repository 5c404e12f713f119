//! Writers: apply span plans to the original bytes.
//!
//! **OTLP/JSON** is edited as text, by the byte ranges the reader recorded while reading
//! ([`SpanLayouts`]): only the span names and attribute arrays of planned spans are replaced;
//! every other byte of the file (unknown fields, number spellings, whitespace, line layout) is
//! copied. Kept attributes are copied as
//! written; renamed ones keep their value text and only get a new key token; new ones are written
//! compactly in lowerCamelCase OTLP/JSON. Removed span events are cut out of the `events` array
//! (the others and their separators are copied).
//!
//! **Protobuf** is edited at the wire level, in [`super::write_proto`].

use std::borrow::Cow;
use std::collections::HashMap;

use base64::Engine as _;

use super::engine::{Item, SpanPlan};
use super::json_string::{json_string, push_json_string};
use crate::input::json::{EventLayouts, KeyValueLayout, SpanLayout, SpanLayouts};
use crate::model::Value;

/// Applies plans to an OTLP/JSON text: a whole file, or a chunk of whole documents (plan
/// indexes and layouts then count from the chunk's first span), given the layouts of its
/// spans the reader recorded. A text without changes is handed back as it is.
pub fn rewrite_json<'t>(
    text: &'t str,
    plans: &[SpanPlan<'_>],
    layouts: &SpanLayouts,
) -> Result<Cow<'t, str>, String> {
    if !plans.iter().any(SpanPlan::rewrites) {
        return Ok(Cow::Borrowed(text));
    }
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for plan in plans.iter().filter(|p| p.rewrites()) {
        let layout = layouts.span(plan.index)?;
        json_span_edits(text, &layout, plan, &mut edits);
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
        if let Some(edit) = array_edit(text, &layout.attributes, layout.key_values, items) {
            edits.push(edit);
        } else {
            insert.push(format!(
                "\"attributes\":{}",
                new_array(text, layout.key_values, items)
            ));
        }
    }
    let event_edits = plan.events.iter().filter_map(|(e, items)| {
        let event = layout.events.get(*e)?;
        Some((
            *e,
            array_edit(text, &event.attributes, event.key_values, items)?,
        ))
    });
    match &layout.events_array {
        Some(array) if !plan.removed_events.is_empty() => {
            let event_edits: HashMap<usize, _> = event_edits.collect();
            edits.push(events_edit(
                text,
                array,
                layout.events,
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
    events: EventLayouts<'_>,
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
                push_json_string(out, key);
                out.push_str(&text[kv.key.end..kv.object.end]);
            }
            Item::New(key, value) => push_key_value_json(out, key, value),
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

/// One OTLP/JSON `KeyValue`.
pub fn key_value_json(key: &str, value: &Value<'_>) -> String {
    let mut out = String::new();
    push_key_value_json(&mut out, key, value);
    out
}

fn push_key_value_json(out: &mut String, key: &str, value: &Value<'_>) {
    out.push_str("{\"key\":");
    push_json_string(out, key);
    out.push_str(",\"value\":");
    push_any_value_json(out, value);
    out.push('}');
}

/// One OTLP/JSON `AnyValue` (int64 as a decimal string, per the proto3 JSON mapping).
pub fn any_value_json(value: &Value<'_>) -> String {
    let mut out = String::new();
    push_any_value_json(&mut out, value);
    out
}

fn push_any_value_json(out: &mut String, value: &Value<'_>) {
    use std::fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = match value {
        Value::Empty => write!(out, "{{}}"),
        Value::String(s) => {
            out.push_str("{\"stringValue\":");
            push_json_string(out, s);
            write!(out, "}}")
        }
        Value::Bool(b) => write!(out, "{{\"boolValue\":{b}}}"),
        Value::Int(i) => write!(out, "{{\"intValue\":\"{i}\"}}"),
        Value::Double(d) if d.is_nan() => write!(out, "{{\"doubleValue\":\"NaN\"}}"),
        Value::Double(d) if d.is_infinite() => write!(
            out,
            "{{\"doubleValue\":\"{}Infinity\"}}",
            if *d < 0.0 { "-" } else { "" }
        ),
        Value::Double(d) => write!(out, "{{\"doubleValue\":{d:?}}}"),
        Value::Bytes(b) => write!(
            out,
            "{{\"bytesValue\":\"{}\"}}",
            base64::engine::general_purpose::STANDARD.encode(b)
        ),
        Value::Array(items) => {
            out.push_str("{\"arrayValue\":{\"values\":[");
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                push_any_value_json(out, item);
            }
            write!(out, "]}}}}")
        }
        Value::KvList(kvs) => {
            out.push_str("{\"kvlistValue\":{\"values\":[");
            for (n, kv) in kvs.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                push_key_value_json(out, &kv.key, &kv.value);
            }
            write!(out, "]}}}}")
        }
    };
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
        assert_eq!(
            any_value_json(&Value::KvList(vec![])),
            r#"{"kvlistValue":{"values":[]}}"#
        );
    }
}
