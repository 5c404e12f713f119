//! OTLP protobuf → model.
//!
//! A dump holds either one `ExportTraceServiceRequest` (or `TracesData`: same wire layout), or
//! the Collector file exporter's stream of messages, each prefixed with its length as a 4-byte
//! big-endian integer. Each message is decoded in one pass by [`decode`], straight into a
//! [`Batch`] that borrows its strings from the input and knows the byte offset of every span,
//! span name, attribute and event. [`reference`] is the earlier prost-based decoder: it explains
//! malformed messages and is the oracle the one-pass decoder is tested against.

pub mod decode;
pub mod reference;

use super::wire::{self, WireError};
use crate::model::Batch;

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

/// Decodes one message whose first byte is at absolute offset `base`, borrowing its strings.
///
/// The one-pass decoder does the work; when it finds the message malformed, the reference
/// decoder decodes it again to say what is wrong and where, in the words spanlint always used
/// (malformed input is rare, so the second pass costs nothing that matters).
pub fn decode_message(msg: &[u8], base: usize) -> Result<Batch<'_>, ProtoError> {
    decode::decode_request(msg, base).or_else(|_| reference::decode_message(msg, base))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SpanKind;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, InstrumentationScope, KeyValue, any_value,
    };
    use opentelemetry_proto::tonic::trace::v1 as otlp;
    use prost::Message;

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
        assert_eq!(span.trace_id.to_string(), "ab".repeat(16));
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
