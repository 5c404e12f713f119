//! OTLP protobuf → model.
//!
//! A dump holds either one `ExportTraceServiceRequest` (or `TracesData`: same wire layout), or
//! the Collector file exporter's stream of messages, each prefixed with its length as a 4-byte
//! big-endian integer. Each message is decoded twice, cheaply:
//!
//! 1. a hand-written walk over the wire format ([`super::wire`]) down to spans, recording the byte
//!    offset of every span, span name, attribute and event, and catching truncation / bad
//!    varints / bad wire types with their exact offset;
//! 2. prost, for the actual values (its recursion limit turns absurdly nested `AnyValue`s into
//!    an error rather than a stack overflow).
//!
//! The walk's offsets are then attached, in order, to the decoded spans.

use std::borrow::Cow;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1 as otlp;
use prost::Message;

use super::wire::{self, Field, LEN, WireError};
use crate::model::{
    Attribute, Batch, Event, ResourceSpans, Scope, ScopeSpans, Span, SpanKind, Status, StatusCode,
    Value,
};

/// A protobuf decoding error at a byte offset of the (decompressed) input.
pub type ProtoError = WireError;

/// Iterates over the messages of a protobuf dump.
///
/// In a length-prefixed stream a corrupt message does not hide the ones after it (the frame
/// lengths say where the next one starts); a truncated frame ends the stream.
pub struct ProtoBatches<'a> {
    data: &'a [u8],
    /// Next frame position, for a stream; `None` for a single message.
    stream_pos: Option<usize>,
    done: bool,
    /// The largest message, in bytes (`--max-message-size`).
    max_message_size: usize,
}

impl<'a> ProtoBatches<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        ProtoBatches {
            data,
            stream_pos: is_length_prefixed(data).then_some(0),
            done: false,
            max_message_size: usize::MAX,
        }
    }

    /// A length-prefixed stream, whatever its first bytes (a chunk of a longer stream).
    pub fn stream(data: &'a [u8]) -> Self {
        ProtoBatches {
            stream_pos: Some(0),
            ..Self::new(data)
        }
    }

    /// Rejects messages larger than `max` bytes without decoding them; in a stream, reading
    /// goes on with the next frame.
    pub fn with_max_message_size(mut self, max: usize) -> Self {
        self.max_message_size = max;
        self
    }

    fn check_size(&self, msg: &[u8], at: usize) -> Result<(), ProtoError> {
        if msg.len() > self.max_message_size {
            return Err(WireError {
                offset: at,
                message: format!(
                    "a protobuf message of {} bytes exceeds the limit of {} bytes \
                     (--max-message-size)",
                    msg.len(),
                    self.max_message_size
                ),
            });
        }
        Ok(())
    }
}

/// Whether `data` is a length-prefixed stream rather than one message.
///
/// A message never starts with a 0 byte (field number 0 is invalid), while a stream of messages
/// under 16 MiB always does; otherwise the stream layout is chosen only when its frames tile the
/// data exactly.
pub fn is_length_prefixed(data: &[u8]) -> bool {
    data.first() == Some(&0) || wire::exact_frames(data).is_some()
}

impl<'a> Iterator for ProtoBatches<'a> {
    type Item = Result<Batch<'a>, ProtoError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let Some(pos) = self.stream_pos else {
            self.done = true;
            return Some(
                self.check_size(self.data, 0)
                    .and_then(|()| decode_message(self.data, 0)),
            );
        };
        match wire::frame_at(self.data, pos) {
            Ok(Some(frame)) => {
                self.stream_pos = Some(frame.offset + frame.data.len());
                Some(
                    self.check_size(frame.data, frame.offset - 4)
                        .and_then(|()| decode_message(frame.data, frame.offset)),
                )
            }
            Ok(None) => None,
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }
}

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
        trace_id: hex(&s.trace_id),
        span_id: hex(&s.span_id),
        parent_span_id: hex(&s.parent_span_id),
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

/// Lowercase hex, as the model stores ids.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;

    fn request() -> ExportTraceServiceRequest {
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![otlp::ResourceSpans {
                scope_spans: vec![otlp::ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "lib".into(),
                        ..Default::default()
                    }),
                    spans: vec![otlp::Span {
                        trace_id: vec![0xab; 16],
                        span_id: vec![0x01; 8],
                        name: "chat gpt".into(),
                        kind: 3,
                        attributes: vec![kv("gen_ai.system", "openai"), kv("x", "y")],
                        events: vec![otlp::span::Event {
                            name: "ev".into(),
                            attributes: vec![kv("a", "b")],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    /// The absolute offset of the first occurrence of `needle` in `hay`.
    fn find(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len()).position(|w| w == needle).unwrap()
    }

    #[test]
    fn offsets_point_at_field_tags() {
        let bytes = request().encode_to_vec();
        let batch = decode_message(&bytes, 0).unwrap();
        let span = &batch.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id, "ab".repeat(16));
        assert_eq!(span.kind, SpanKind::Client);
        // name: tag 0x2a, length 8, "chat gpt"
        assert_eq!(span.name_offset, find(&bytes, b"chat gpt") - 2);
        assert_eq!(bytes[span.name_offset], 0x2a);
        // attribute KeyValue: tag 0x4a, length, then the key's tag 0x0a, length, key
        let attr = &span.attributes[1];
        assert_eq!(bytes[attr.offset], 0x4a);
        assert_eq!(attr.offset, find(&bytes, b"\x0a\x01x") - 2);
        assert_eq!(bytes[span.events[0].offset], 0x5a);
        assert!(span.offset < span.name_offset);
        assert_eq!(bytes[span.offset], 0x12);
    }

    #[test]
    fn stream_offsets_are_absolute_and_bad_frames_do_not_hide_later_ones() {
        let msg = request().encode_to_vec();
        let stream = wire::join_frames(&[&msg[..], b"\x0f", &msg[..]]);
        let results: Vec<_> = ProtoBatches::new(&stream).collect();
        assert_eq!(results.len(), 3);
        let second_start = 4 + msg.len() + 4 + 1 + 4;
        let third = results[2].as_ref().unwrap();
        let span = &third.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.name_offset, second_start + find(&msg, b"chat gpt") - 2);
        assert_eq!(results[1].as_ref().unwrap_err().offset, 4 + msg.len() + 4);
    }

    #[test]
    fn truncation_reports_where() {
        let msg = request().encode_to_vec();
        let err = decode_message(&msg[..msg.len() - 3], 0).unwrap_err();
        assert!(err.message.contains("truncated"), "{err}");
        assert_eq!(
            err.offset, 1,
            "the length of the outer resource_spans field"
        );
        let stream = wire::join_frames(&[&msg[..]]);
        let results: Vec<_> = ProtoBatches::new(&stream[..stream.len() - 1]).collect();
        assert!(results[0].as_ref().unwrap_err().message.contains("frame"));
    }

    #[test]
    fn value_errors_found_by_prost_point_at_the_attribute() {
        let mut req = request();
        let span = &mut req.resource_spans[0].scope_spans[0].spans[0];
        span.attributes[1].value = Some(AnyValue {
            value: Some(any_value::Value::StringValue("\u{7f}".into())),
        });
        let mut bytes = req.encode_to_vec();
        let at = find(&bytes, b"\x0a\x01\x7f");
        bytes[at + 2] = 0xff; // invalid UTF-8 inside the string value
        let err = decode_message(&bytes, 0).unwrap_err();
        assert_eq!(err.offset, find(&bytes, b"\x0a\x01x") - 2);
        assert!(err.message.contains("UTF-8"), "{err}");
    }

    #[test]
    fn single_message_or_stream() {
        let msg = request().encode_to_vec();
        assert!(!is_length_prefixed(&msg));
        assert!(is_length_prefixed(&wire::join_frames(&[&msg])));
    }
}
