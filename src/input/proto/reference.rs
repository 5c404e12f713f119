//! The reference protobuf decoder: prost into owned opentelemetry-proto structs, a second walk
//! over the wire format ([`crate::input::wire`]) for the byte offsets, then a conversion into the
//! model (owned strings).
//!
//! It is what spanlint used before the one-pass decoder ([`super::decode`]) and is kept for two
//! jobs: it explains malformed messages (prost's error, located at the first span or attribute
//! that fails on its own, so the messages users see did not change), and it is the oracle the
//! property tests and the fuzzers compare the one-pass decoder against.

use std::borrow::Cow;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1 as otlp;
use prost::Message;

use super::ProtoError;
use crate::input::wire::{self, Field, LEN, WireError};
use crate::model::{
    Attribute, Batch, Event, ResourceSpans, Scope, ScopeSpans, Span, SpanKind, Status, StatusCode,
    Value,
};

/// Decodes one message whose first byte is at absolute offset `base`.
pub fn decode_message<'a>(msg: &[u8], base: usize) -> Result<Batch<'a>, ProtoError> {
    let layout = walk_request(msg, base)?;
    match ExportTraceServiceRequest::decode(msg) {
        Ok(request) => Ok(to_model(request, &layout)),
        Err(err) => Err(WireError {
            offset: locate_error(&layout).unwrap_or(base),
            message: err.to_string(),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// The offset walk. Field numbers are those of opentelemetry/proto/{collector/,}trace/v1.

/// Offsets of one message's parts, in wire order (which is prost's decoding order).
#[derive(Debug, Default)]
struct RequestLayout<'b> {
    resources: Vec<ResourceLayout<'b>>,
}

#[derive(Debug, Default)]
struct ResourceLayout<'b> {
    attributes: Vec<usize>,
    scopes: Vec<ScopeLayout<'b>>,
}

#[derive(Debug, Default)]
struct ScopeLayout<'b> {
    attributes: Vec<usize>,
    spans: Vec<SpanLayout<'b>>,
}

#[derive(Debug)]
struct SpanLayout<'b> {
    offset: usize,
    data: &'b [u8],
    name_offset: Option<usize>,
    attributes: Vec<Field<'b>>,
    events: Vec<EventLayout>,
}

#[derive(Debug)]
struct EventLayout {
    offset: usize,
    attributes: Vec<usize>,
}

/// The length-delimited occurrences of field `number`.
fn sub_messages<'b>(fields: &[Field<'b>], number: u32) -> impl Iterator<Item = Field<'b>> {
    fields
        .iter()
        .filter(move |f| f.number == number && f.wire_type == LEN)
        .copied()
}

fn walk_request(msg: &[u8], base: usize) -> Result<RequestLayout<'_>, WireError> {
    let fields = wire::fields(msg, base)?;
    let resources = sub_messages(&fields, 1)
        .map(walk_resource_spans)
        .collect::<Result<_, _>>()?;
    Ok(RequestLayout { resources })
}

fn walk_resource_spans(rs: Field<'_>) -> Result<ResourceLayout<'_>, WireError> {
    let fields = wire::fields(rs.data, rs.data_offset)?;
    let mut attributes = Vec::new();
    for resource in sub_messages(&fields, 1) {
        attributes.extend(attribute_offsets(resource, 1)?);
    }
    let scopes = sub_messages(&fields, 2)
        .map(walk_scope_spans)
        .collect::<Result<_, _>>()?;
    Ok(ResourceLayout { attributes, scopes })
}

fn walk_scope_spans(ss: Field<'_>) -> Result<ScopeLayout<'_>, WireError> {
    let fields = wire::fields(ss.data, ss.data_offset)?;
    let mut attributes = Vec::new();
    for scope in sub_messages(&fields, 1) {
        attributes.extend(attribute_offsets(scope, 3)?);
    }
    let spans = sub_messages(&fields, 2)
        .map(walk_span)
        .collect::<Result<_, _>>()?;
    Ok(ScopeLayout { attributes, spans })
}

fn walk_span(span: Field<'_>) -> Result<SpanLayout<'_>, WireError> {
    let fields = wire::fields(span.data, span.data_offset)?;
    let events = sub_messages(&fields, 11)
        .map(|event| {
            Ok(EventLayout {
                offset: event.offset,
                attributes: attribute_offsets(event, 3)?,
            })
        })
        .collect::<Result<_, WireError>>()?;
    Ok(SpanLayout {
        offset: span.offset,
        data: span.data,
        // A repeated singular field: the last occurrence wins, as in prost.
        name_offset: sub_messages(&fields, 5).last().map(|f| f.offset),
        attributes: sub_messages(&fields, 9).collect(),
        events,
    })
}

/// Offsets of the `KeyValue`s in field `number` of a message (resource, scope, event).
fn attribute_offsets(msg: Field<'_>, number: u32) -> Result<Vec<usize>, WireError> {
    let fields = wire::fields(msg.data, msg.data_offset)?;
    Ok(sub_messages(&fields, number).map(|f| f.offset).collect())
}

/// Narrows a prost error down to the first span, then attribute, that fails on its own.
fn locate_error(layout: &RequestLayout<'_>) -> Option<usize> {
    let spans = layout
        .resources
        .iter()
        .flat_map(|r| &r.scopes)
        .flat_map(|s| &s.spans);
    for span in spans {
        if otlp::Span::decode(span.data).is_ok() {
            continue;
        }
        let bad_attribute = span
            .attributes
            .iter()
            .find(|kv| KeyValue::decode(kv.data).is_err());
        return Some(bad_attribute.map_or(span.offset, |kv| kv.offset));
    }
    None
}

// ---------------------------------------------------------------------------------------------
// prost types → model, consuming the layout's offsets in order.

fn to_model<'a>(request: ExportTraceServiceRequest, layout: &RequestLayout<'_>) -> Batch<'a> {
    let resource_spans = request
        .resource_spans
        .into_iter()
        .enumerate()
        .map(|(i, rs)| resource_spans(rs, layout.resources.get(i)))
        .collect();
    Batch { resource_spans }
}

fn resource_spans<'a>(
    rs: otlp::ResourceSpans,
    layout: Option<&ResourceLayout<'_>>,
) -> ResourceSpans<'a> {
    let offsets = layout.map_or(&[][..], |l| &l.attributes);
    ResourceSpans {
        attributes: attributes(rs.resource.map(|r| r.attributes), offsets, 0),
        schema_url: Cow::Owned(rs.schema_url),
        scope_spans: rs
            .scope_spans
            .into_iter()
            .enumerate()
            .map(|(i, ss)| scope_spans(ss, layout.and_then(|l| l.scopes.get(i))))
            .collect(),
    }
}

fn scope_spans<'a>(ss: otlp::ScopeSpans, layout: Option<&ScopeLayout<'_>>) -> ScopeSpans<'a> {
    let offsets = layout.map_or(&[][..], |l| &l.attributes);
    let scope = ss.scope.unwrap_or_default();
    ScopeSpans {
        scope: Scope {
            name: Cow::Owned(scope.name),
            version: Cow::Owned(scope.version),
            attributes: attributes(Some(scope.attributes), offsets, 0),
        },
        schema_url: Cow::Owned(ss.schema_url),
        spans: ss
            .spans
            .into_iter()
            .enumerate()
            .map(|(i, s)| span(s, layout.and_then(|l| l.spans.get(i))))
            .collect(),
    }
}

fn span<'a>(s: otlp::Span, layout: Option<&SpanLayout<'_>>) -> Span<'a> {
    let offset = layout.map_or(0, |l| l.offset);
    let attribute_offsets: Vec<usize> = layout.map_or_else(Vec::new, |l| {
        l.attributes.iter().map(|f| f.offset).collect()
    });
    let status = s.status.unwrap_or_default();
    Span {
        trace_id: crate::model::Id::from_bytes(&s.trace_id),
        span_id: crate::model::Id::from_bytes(&s.span_id),
        parent_span_id: crate::model::Id::from_bytes(&s.parent_span_id),
        name: Cow::Owned(s.name),
        kind: SpanKind::from_i32(s.kind),
        start_time_unix_nano: s.start_time_unix_nano,
        end_time_unix_nano: s.end_time_unix_nano,
        attributes: attributes(Some(s.attributes), &attribute_offsets, offset),
        events: s
            .events
            .into_iter()
            .enumerate()
            .map(|(i, e)| event(e, layout.and_then(|l| l.events.get(i)), offset))
            .collect(),
        status: Status {
            code: StatusCode::from_i32(status.code),
            message: Cow::Owned(status.message),
        },
        offset,
        name_offset: layout.and_then(|l| l.name_offset).unwrap_or(offset),
    }
}

fn event<'a>(e: otlp::span::Event, layout: Option<&EventLayout>, span_offset: usize) -> Event<'a> {
    let offset = layout.map_or(span_offset, |l| l.offset);
    let offsets = layout.map_or(&[][..], |l| &l.attributes);
    Event {
        name: Cow::Owned(e.name),
        time_unix_nano: e.time_unix_nano,
        attributes: attributes(Some(e.attributes), offsets, offset),
        offset,
    }
}

/// Converts `KeyValue`s, giving the i-th the i-th offset (or `fallback` when unknown).
fn attributes<'a>(
    kvs: Option<Vec<KeyValue>>,
    offsets: &[usize],
    fallback: usize,
) -> Vec<Attribute<'a>> {
    kvs.unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, kv)| {
            let offset = offsets.get(i).copied().unwrap_or(fallback);
            Attribute {
                key: Cow::Owned(kv.key),
                value: value(kv.value, offset),
                offset,
            }
        })
        .collect()
}

/// Converts an `AnyValue`. Nested key/values take their enclosing attribute's offset. Recursion
/// is bounded: prost refused anything nested deeper than its recursion limit.
fn value<'a>(v: Option<AnyValue>, offset: usize) -> Value<'a> {
    use any_value::Value as V;
    match v.and_then(|v| v.value) {
        None => Value::Empty,
        Some(V::StringValue(s)) => Value::String(Cow::Owned(s)),
        Some(V::BoolValue(b)) => Value::Bool(b),
        Some(V::IntValue(i)) => Value::Int(i),
        Some(V::DoubleValue(d)) => Value::Double(d),
        Some(V::BytesValue(b)) => Value::Bytes(b),
        Some(V::ArrayValue(a)) => Value::Array(
            a.values
                .into_iter()
                .map(|v| value(Some(v), offset))
                .collect(),
        ),
        Some(V::KvlistValue(kvs)) => Value::KvList(attributes(Some(kvs.values), &[], offset)),
        // A profiling-only string-table reference: meaningless in traces (OTLP says: ignore).
        Some(V::StringValueStrindex(_)) => Value::Empty,
    }
}
