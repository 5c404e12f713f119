//! Property tests (issue 7): random OTLP trace data, encoded as OTLP/JSON (by the encoder below,
//! written from the OTLP/JSON spec: lowerCamelCase keys, hex ids, int64 as strings, bytes as
//! base64, enums as numbers) and as protobuf (prost), reads back as the same model; `migrate` is
//! idempotent and keeps what it does not map, in both formats.
//!
//! Case counts are kept small (`PROPTEST_CASES` overrides them) so `cargo test` stays fast.

use std::borrow::Cow;

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use proptest::prelude::*;
use prost::Message;
use serde_json::{Value as Json, json};
use spanlint::input::{InputFormat, LoadedFile};
use spanlint::migrate::mapping::MappingFile;
use spanlint::migrate::{Migrator, Options, migrate_file};
use spanlint::model::{self, Attribute, Batch, Value};
use spanlint::rules::Ruleset;

// ---------------------------------------------------------------------------------------------
// Strategies

/// Strings: empty, ASCII, any Unicode (escapes, control characters, astral planes), and
/// sometimes large.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z_.]{0,12}",
        2 => any::<String>(),
        1 => Just(String::new()),
        1 => (0usize..100_000).prop_map(|n| "é\u{1F600}\"\\\n".repeat(n / 8)),
    ]
}

/// Keys, biased towards the GenAI and legacy keys `migrate` maps, so it has work to do.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => text(),
        3 => prop::sample::select(vec![
            "gen_ai.system",
            "gen_ai.operation.name",
            "gen_ai.request.model",
            "gen_ai.prompt.0.content",
            "gen_ai.prompt.0.role",
            "gen_ai.completion.0.content",
            "gen_ai.usage.prompt_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.request.type",
            "llm.model_name",
            "llm.input_messages.0.message.content",
            "openinference.span.kind",
            "ai.model.id",
            "ai.prompt",
            "gen_ai.tool.name",
        ])
        .prop_map(str::to_string),
    ]
}

fn leaf() -> impl Strategy<Value = any_value::Value> {
    use any_value::Value as V;
    prop_oneof![
        text().prop_map(V::StringValue),
        prop::sample::select(vec!["chat", "openai", "gpt-4", "tool", "LLM", "completion"])
            .prop_map(|s| V::StringValue(s.to_string())),
        any::<bool>().prop_map(V::BoolValue),
        any::<i64>().prop_map(V::IntValue),
        // OTLP/JSON writes NaN and the infinities as strings; finite values compare equal.
        any::<f64>()
            .prop_filter("finite", |d| d.is_finite())
            .prop_map(V::DoubleValue),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(V::BytesValue),
    ]
}

fn any_value() -> impl Strategy<Value = AnyValue> {
    let leaf = prop_oneof![
        9 => leaf().prop_map(|v| AnyValue { value: Some(v) }),
        1 => Just(AnyValue { value: None }),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|values| AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue { values })),
            }),
            prop::collection::vec((key(), inner), 0..5).prop_map(|kvs| AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: kvs
                        .into_iter()
                        .map(|(key, value)| KeyValue {
                            key,
                            value: Some(value),
                            ..Default::default()
                        })
                        .collect(),
                })),
            }),
        ]
    })
}

fn attributes(max: usize) -> impl Strategy<Value = Vec<KeyValue>> {
    prop::collection::vec((key(), any_value()), 0..max).prop_map(|kvs| {
        kvs.into_iter()
            .map(|(key, value)| KeyValue {
                key,
                value: Some(value),
                ..Default::default()
            })
            .collect()
    })
}

fn id(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), len),
        1 => Just(Vec::new()),
    ]
}

fn event() -> impl Strategy<Value = span::Event> {
    (text(), any::<u64>(), attributes(4)).prop_map(|(name, time, attributes)| span::Event {
        name,
        time_unix_nano: time,
        attributes,
        ..Default::default()
    })
}

fn link() -> impl Strategy<Value = span::Link> {
    (id(16), id(8), attributes(3)).prop_map(|(trace_id, span_id, attributes)| span::Link {
        trace_id,
        span_id,
        attributes,
        ..Default::default()
    })
}

fn otlp_span() -> impl Strategy<Value = Span> {
    (
        (id(16), id(8), id(8), text(), 0i32..6),
        (any::<u64>(), any::<u64>()),
        attributes(8),
        prop::collection::vec(event(), 0..3),
        prop::collection::vec(link(), 0..2),
        (0i32..3, text()),
    )
        .prop_map(
            |(
                (trace_id, span_id, parent, name, kind),
                (start, end),
                attributes,
                events,
                links,
                (code, message),
            )| Span {
                trace_id,
                span_id,
                parent_span_id: parent,
                name,
                kind,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                events,
                links,
                status: Some(Status { code, message }),
                ..Default::default()
            },
        )
}

fn request() -> impl Strategy<Value = ExportTraceServiceRequest> {
    let scope = (
        text(),
        text(),
        attributes(3),
        text(),
        prop::collection::vec(otlp_span(), 0..4),
    )
        .prop_map(
            |(name, version, attributes, schema_url, spans)| ScopeSpans {
                scope: Some(InstrumentationScope {
                    name,
                    version,
                    attributes,
                    ..Default::default()
                }),
                spans,
                schema_url,
            },
        );
    let resource = (attributes(4), text(), prop::collection::vec(scope, 0..3)).prop_map(
        |(attributes, schema_url, scope_spans)| ResourceSpans {
            resource: Some(Resource {
                attributes,
                ..Default::default()
            }),
            scope_spans,
            schema_url,
        },
    );
    prop::collection::vec(resource, 0..3)
        .prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

// ---------------------------------------------------------------------------------------------
// The OTLP/JSON encoding

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn json_value(v: &AnyValue) -> Json {
    use any_value::Value as V;
    match &v.value {
        None => json!({}),
        Some(V::StringValue(s)) => json!({ "stringValue": s }),
        Some(V::BoolValue(b)) => json!({ "boolValue": b }),
        Some(V::IntValue(i)) => json!({ "intValue": i.to_string() }),
        Some(V::DoubleValue(d)) => json!({ "doubleValue": d }),
        Some(V::BytesValue(b)) => {
            json!({ "bytesValue": base64::engine::general_purpose::STANDARD.encode(b) })
        }
        Some(V::ArrayValue(a)) => {
            json!({ "arrayValue": { "values": a.values.iter().map(json_value).collect::<Vec<_>>() } })
        }
        Some(V::KvlistValue(kvs)) => {
            json!({ "kvlistValue": { "values": json_attributes(&kvs.values) } })
        }
        Some(V::StringValueStrindex(_)) => json!({}),
    }
}

fn json_attributes(kvs: &[KeyValue]) -> Json {
    kvs.iter()
        .map(|kv| match &kv.value {
            Some(v) => json!({ "key": kv.key, "value": json_value(v) }),
            None => json!({ "key": kv.key }),
        })
        .collect()
}

fn to_json(req: &ExportTraceServiceRequest) -> Json {
    let spans = |ss: &ScopeSpans| -> Json {
        ss.spans
            .iter()
            .map(|s| {
                let status = s.status.clone().unwrap_or_default();
                json!({
                    "traceId": hex(&s.trace_id),
                    "spanId": hex(&s.span_id),
                    "parentSpanId": hex(&s.parent_span_id),
                    "name": s.name,
                    "kind": s.kind,
                    "startTimeUnixNano": s.start_time_unix_nano.to_string(),
                    "endTimeUnixNano": s.end_time_unix_nano.to_string(),
                    "attributes": json_attributes(&s.attributes),
                    "events": s.events.iter().map(|e| json!({
                        "timeUnixNano": e.time_unix_nano.to_string(),
                        "name": e.name,
                        "attributes": json_attributes(&e.attributes),
                    })).collect::<Vec<_>>(),
                    "links": s.links.iter().map(|l| json!({
                        "traceId": hex(&l.trace_id),
                        "spanId": hex(&l.span_id),
                        "attributes": json_attributes(&l.attributes),
                    })).collect::<Vec<_>>(),
                    "status": { "code": status.code, "message": status.message },
                })
            })
            .collect()
    };
    json!({
        "resourceSpans": req.resource_spans.iter().map(|rs| json!({
            "resource": { "attributes": json_attributes(&rs.resource.clone().unwrap_or_default().attributes) },
            "schemaUrl": rs.schema_url,
            "scopeSpans": rs.scope_spans.iter().map(|ss| {
                let scope = ss.scope.clone().unwrap_or_default();
                json!({
                    "scope": {
                        "name": scope.name,
                        "version": scope.version,
                        "attributes": json_attributes(&scope.attributes),
                    },
                    "schemaUrl": ss.schema_url,
                    "spans": spans(ss),
                })
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

// ---------------------------------------------------------------------------------------------
// The expected model, and reading

fn model_value(v: &AnyValue) -> Value<'static> {
    use any_value::Value as V;
    match &v.value {
        None | Some(V::StringValueStrindex(_)) => Value::Empty,
        Some(V::StringValue(s)) => Value::String(Cow::Owned(s.clone())),
        Some(V::BoolValue(b)) => Value::Bool(*b),
        Some(V::IntValue(i)) => Value::Int(*i),
        Some(V::DoubleValue(d)) => Value::Double(*d),
        Some(V::BytesValue(b)) => Value::Bytes(b.clone()),
        Some(V::ArrayValue(a)) => Value::Array(a.values.iter().map(model_value).collect()),
        Some(V::KvlistValue(kvs)) => Value::KvList(model_attributes(&kvs.values)),
    }
}

fn model_attributes(kvs: &[KeyValue]) -> Vec<Attribute<'static>> {
    kvs.iter()
        .map(|kv| Attribute {
            key: Cow::Owned(kv.key.clone()),
            value: kv.value.as_ref().map_or(Value::Empty, model_value),
            offset: 0,
        })
        .collect()
}

fn expected(req: &ExportTraceServiceRequest) -> Batch<'static> {
    Batch {
        resource_spans: req
            .resource_spans
            .iter()
            .map(|rs| model::ResourceSpans {
                attributes: model_attributes(&rs.resource.clone().unwrap_or_default().attributes),
                schema_url: Cow::Owned(rs.schema_url.clone()),
                scope_spans: rs
                    .scope_spans
                    .iter()
                    .map(|ss| {
                        let scope = ss.scope.clone().unwrap_or_default();
                        model::ScopeSpans {
                            scope: model::Scope {
                                name: Cow::Owned(scope.name),
                                version: Cow::Owned(scope.version),
                                attributes: model_attributes(&scope.attributes),
                            },
                            schema_url: Cow::Owned(ss.schema_url.clone()),
                            spans: ss.spans.iter().map(expected_span).collect(),
                        }
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn expected_span(s: &Span) -> model::Span<'static> {
    let status = s.status.clone().unwrap_or_default();
    model::Span {
        trace_id: hex(&s.trace_id).as_str().into(),
        span_id: hex(&s.span_id).as_str().into(),
        parent_span_id: hex(&s.parent_span_id).as_str().into(),
        name: Cow::Owned(s.name.clone()),
        kind: model::SpanKind::from_i32(s.kind),
        start_time_unix_nano: s.start_time_unix_nano,
        end_time_unix_nano: s.end_time_unix_nano,
        attributes: model_attributes(&s.attributes),
        events: s
            .events
            .iter()
            .map(|e| model::Event {
                name: Cow::Owned(e.name.clone()),
                time_unix_nano: e.time_unix_nano,
                attributes: model_attributes(&e.attributes),
                offset: 0,
            })
            .collect(),
        status: model::Status {
            code: model::StatusCode::from_i32(status.code),
            message: Cow::Owned(status.message),
        },
        offset: 0,
        name_offset: 0,
    }
}

fn clear_offsets(batch: &mut Batch<'_>) {
    fn attributes(attributes: &mut [Attribute<'_>]) {
        for a in attributes {
            a.offset = 0;
            value(&mut a.value);
        }
    }
    fn value(v: &mut Value<'_>) {
        match v {
            Value::Array(values) => values.iter_mut().for_each(value),
            Value::KvList(kvs) => attributes(kvs),
            _ => {}
        }
    }
    for rs in &mut batch.resource_spans {
        attributes(&mut rs.attributes);
        for ss in &mut rs.scope_spans {
            attributes(&mut ss.scope.attributes);
            for span in &mut ss.spans {
                span.offset = 0;
                span.name_offset = 0;
                attributes(&mut span.attributes);
                for event in &mut span.events {
                    event.offset = 0;
                    attributes(&mut event.attributes);
                }
            }
        }
    }
}

/// Reads `bytes` and returns its batches with offsets cleared, as owned strings.
fn read(bytes: Vec<u8>, format: InputFormat) -> Vec<String> {
    let file = LoadedFile::from_bytes("dump", bytes, format).expect("loads");
    file.batches()
        .map(|b| {
            let mut b = b.unwrap_or_else(|e| panic!("{e}"));
            clear_offsets(&mut b);
            format!("{b:?}")
        })
        .collect()
}

/// Where two long debug texts first differ, with a little context (the texts may be megabytes).
fn difference(got: &str, want: &str) -> String {
    let at = got
        .char_indices()
        .zip(want.chars())
        .find(|((_, a), b)| a != b)
        .map_or(got.len().min(want.len()), |((i, _), _)| i);
    let window = |s: &str| -> String {
        let start = s.floor_char_boundary(at.saturating_sub(150));
        let end = s.ceil_char_boundary((at + 150).min(s.len()));
        s[start..end].to_string()
    };
    format!(
        "first difference at byte {at}:\n got: …{}…\nwant: …{}…",
        window(got),
        window(want)
    )
}

fn encodings(req: &ExportTraceServiceRequest) -> [(InputFormat, Vec<u8>); 2] {
    [
        (
            InputFormat::Json,
            serde_json::to_vec(&to_json(req)).unwrap(),
        ),
        (InputFormat::Proto, req.encode_to_vec()),
    ]
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(64),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Both encodings read back as the model of the data they encode. (Models are compared by
    /// their debug text, so a double compares by its bits' printed form, and `-0.0` stays
    /// distinct from `0.0`.)
    #[test]
    fn json_and_protobuf_read_back_identically(req in request()) {
        let want = format!("{:?}", expected(&req));
        for (format, bytes) in encodings(&req) {
            let got = read(bytes, format);
            prop_assert_eq!(got.len(), 1);
            prop_assert!(got[0] == want, "{:?}: {}", format, difference(&got[0], &want));
        }
    }

    /// JSON lines of several documents, and a length-prefixed protobuf stream, read as one batch
    /// per document / message.
    #[test]
    fn streams_read_one_batch_per_message(reqs in prop::collection::vec(request(), 1..4)) {
        let want: Vec<String> = reqs.iter().map(|r| format!("{:?}", expected(r))).collect();
        let lines: Vec<String> = reqs.iter().map(|r| to_json(r).to_string()).collect();
        let got = read(lines.join("\n").into_bytes(), InputFormat::Json);
        prop_assert!(got == want, "json: {}", difference(&got.join("\n"), &want.join("\n")));
        let mut stream = Vec::new();
        for r in &reqs {
            let m = r.encode_to_vec();
            stream.extend_from_slice(&(m.len() as u32).to_be_bytes());
            stream.extend_from_slice(&m);
        }
        // A single empty message is ambiguous with an empty stream; skip that case.
        prop_assume!(reqs.len() > 1 || !reqs[0].resource_spans.is_empty());
        let got = read(stream, InputFormat::Proto);
        prop_assert!(got == want, "proto: {}", difference(&got.join("\n"), &want.join("\n")));
    }

    /// `migrate` twice is `migrate` once, and everything it does not map survives: every span
    /// keeps its ids, times, kind, status and events, and every attribute whose key the
    /// mapping does not know is still there with its value.
    #[test]
    fn migrate_is_idempotent_and_keeps_what_it_does_not_map(req in request()) {
        let migrator = Migrator::new(Ruleset::builtin(), MappingFile::builtin(), Options::default())
            .unwrap();
        for (format, bytes) in encodings(&req) {
            let file = LoadedFile::from_bytes("dump", bytes.clone(), format).unwrap();
            let once = migrate_file(&file, &migrator).unwrap();
            let file2 = LoadedFile::from_bytes("dump", once.content.clone(), format).unwrap();
            let twice = migrate_file(&file2, &migrator).unwrap();
            prop_assert!(
                !twice.plans.iter().any(|p| p.changed),
                "{:?}: the second run changes {:?}", format, twice.plans
            );
            prop_assert!(twice.content == once.content, "{:?}: not idempotent", format);
            if !once.plans.iter().any(|p| p.changed) {
                prop_assert!(once.content == bytes, "{:?}: untouched but not copied", format);
            }
            let before = file.batches().collect::<Result<Vec<_>, _>>().unwrap();
            let after = file2.batches().collect::<Result<Vec<_>, _>>().unwrap();
            let spans = |b: &[Batch<'_>]| -> Vec<model::Span<'static>> {
                b.iter()
                    .flat_map(|b| &b.resource_spans)
                    .flat_map(|r| &r.scope_spans)
                    .flat_map(|s| &s.spans)
                    .map(|s| {
                        let mut s = s.clone();
                        s.offset = 0;
                        s.name_offset = 0;
                        for e in &mut s.events { e.offset = 0; }
                        owned_span(s)
                    })
                    .collect()
            };
            let (before, after) = (spans(&before), spans(&after));
            prop_assert_eq!(before.len(), after.len());
            let mapping = MappingFile::builtin();
            for (b, a) in before.iter().zip(&after) {
                prop_assert_eq!(&b.trace_id, &a.trace_id);
                prop_assert_eq!(&b.span_id, &a.span_id);
                prop_assert_eq!(&b.parent_span_id, &a.parent_span_id);
                prop_assert_eq!(b.kind, a.kind);
                prop_assert_eq!(&b.status, &a.status);
                prop_assert_eq!(b.start_time_unix_nano, a.start_time_unix_nano);
                prop_assert_eq!(b.end_time_unix_nano, a.end_time_unix_nano);
                prop_assert_eq!(b.events.len(), a.events.len());
                for attr in &b.attributes {
                    if mapping_knows(&mapping, &attr.key) {
                        continue;
                    }
                    let mut kept = attr.clone();
                    kept.offset = 0;
                    prop_assert!(
                        a.attributes.iter().any(|x| x.key == kept.key && x.value == kept.value),
                        "{:?}: {:?} was lost", format, attr.key
                    );
                }
            }
        }
    }
}

/// Whether `migrate` may rewrite `key` (a mapping source, or a deprecated key): such keys may
/// legitimately go. Value spellings are rewritten only on registry keys (`gen_ai.*`), so those
/// keep their key but maybe not their value.
fn mapping_knows(mapping: &MappingFile, key: &str) -> bool {
    let rules = Ruleset::builtin();
    mapping.renames.iter().any(|r| r.from == key)
        || mapping.folds.iter().any(|f| key.starts_with(&f.prefix))
        || mapping.wrap_messages.iter().any(|w| w.from == key)
        || mapping.conversions.iter().any(|c| {
            c.from
                .iter()
                .any(|f| f == key || (f.ends_with('.') && key.starts_with(f.as_str())))
        })
        || mapping
            .prefix_renames
            .iter()
            .any(|p| key.starts_with(&p.from))
        || rules.deprecated_attribute(key).is_some()
        || rules.attribute(key).is_some()
}

fn owned_span(s: model::Span<'_>) -> model::Span<'static> {
    fn attr(a: Attribute<'_>) -> Attribute<'static> {
        Attribute {
            key: Cow::Owned(a.key.into_owned()),
            value: value(a.value),
            offset: 0,
        }
    }
    fn value(v: Value<'_>) -> Value<'static> {
        match v {
            Value::Empty => Value::Empty,
            Value::String(s) => Value::String(Cow::Owned(s.into_owned())),
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::Double(d) => Value::Double(d),
            Value::Bytes(b) => Value::Bytes(b),
            Value::Array(a) => Value::Array(a.into_iter().map(value).collect()),
            Value::KvList(kvs) => Value::KvList(kvs.into_iter().map(attr).collect()),
        }
    }
    model::Span {
        trace_id: s.trace_id,
        span_id: s.span_id,
        parent_span_id: s.parent_span_id,
        name: Cow::Owned(s.name.into_owned()),
        kind: s.kind,
        start_time_unix_nano: s.start_time_unix_nano,
        end_time_unix_nano: s.end_time_unix_nano,
        attributes: s.attributes.into_iter().map(attr).collect(),
        events: s
            .events
            .into_iter()
            .map(|e| model::Event {
                name: Cow::Owned(e.name.into_owned()),
                time_unix_nano: e.time_unix_nano,
                attributes: e.attributes.into_iter().map(attr).collect(),
                offset: 0,
            })
            .collect(),
        status: model::Status {
            code: s.status.code,
            message: Cow::Owned(s.status.message.into_owned()),
        },
        offset: 0,
        name_offset: 0,
    }
}

// ---------------------------------------------------------------------------------------------
// The one-pass protobuf decoder against the reference (prost + wire walk) decoder

/// The two decoders' results on one message, as debug text (offsets included) or `Err`.
fn both_decoders(msg: &[u8]) -> (Result<String, String>, Result<String, String>) {
    let one_pass = spanlint::input::proto::decode::decode_request(msg, 7)
        .map(|b| format!("{b:?}"))
        .map_err(|e| format!("{e:?}"));
    let reference = spanlint::input::proto::reference::decode_message(msg, 7)
        .map(|b| format!("{b:?}"))
        .map_err(|e| e.to_string());
    (one_pass, reference)
}

/// Edits of an encoded message: overwrite, insert or delete a byte, or cut the tail.
fn byte_edits() -> impl Strategy<Value = Vec<(prop::sample::Index, u8, u8)>> {
    prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..4)
}

fn apply_edits(bytes: &mut Vec<u8>, edits: &[(prop::sample::Index, u8, u8)]) {
    for (at, byte, kind) in edits {
        if bytes.is_empty() {
            bytes.push(*byte);
            continue;
        }
        let i = at.index(bytes.len());
        match kind {
            0 => bytes[i] = *byte,
            1 => bytes.insert(i, *byte),
            2 => {
                bytes.remove(i);
            }
            _ => bytes.truncate(i),
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// Random OTLP data encoded by prost decodes to the same model, offsets included, through
    /// the one-pass decoder and through the reference decoder.
    #[test]
    fn one_pass_decoder_matches_the_reference(req in request()) {
        let msg = req.encode_to_vec();
        let (one_pass, reference) = both_decoders(&msg);
        let reference = reference.expect("prost's own encoding decodes");
        let one_pass = one_pass.unwrap_or_else(|e| panic!("{e}"));
        prop_assert!(one_pass == reference, "{}", difference(&one_pass, &reference));
    }

    /// On damaged encodings (unknown fields, wrong wire types, bad UTF-8, truncation: whatever
    /// a few byte edits make), both decoders accept the same messages, with the same model.
    #[test]
    fn one_pass_decoder_accepts_what_the_reference_accepts(
        req in request(),
        edits in byte_edits(),
    ) {
        let mut msg = req.encode_to_vec();
        apply_edits(&mut msg, &edits);
        match both_decoders(&msg) {
            (Ok(one_pass), Ok(reference)) => {
                prop_assert!(one_pass == reference, "{}", difference(&one_pass, &reference));
            }
            (Err(_), Err(_)) => {}
            (one_pass, reference) => {
                prop_assert!(false, "one pass: {one_pass:?}\nreference: {reference:?}");
            }
        }
    }
}

/// Every dump under fixtures/ decodes identically through both decoders: the protobuf ones as
/// they are, the JSON ones once converted to protobuf (opentelemetry-proto's serde mapping).
#[test]
fn every_fixture_decodes_identically_through_both_protobuf_decoders() {
    use spanlint::input::{Limits, Source, load};
    let mut messages = 0;
    let mut files = 0;
    let dumps = walk("fixtures").into_iter().filter(|p| {
        let name = p.to_string_lossy();
        [".json", ".jsonl", ".pb", ".binpb", ".gz", ".zst"]
            .iter()
            .any(|ext| name.ends_with(ext))
    });
    for entry in dumps {
        let Ok(file) = load(&Source::Path(entry.clone()), None, &Limits::default()) else {
            continue;
        };
        let encoded: Vec<Vec<u8>> = match file.format {
            InputFormat::Proto => {
                let bytes = file.bytes();
                if spanlint::input::proto::is_length_prefixed(bytes) {
                    spanlint::input::wire::exact_frames(bytes)
                        .expect("fixtures are whole frames")
                        .iter()
                        .map(|f| f.data.to_vec())
                        .collect()
                } else {
                    vec![bytes.to_vec()]
                }
            }
            InputFormat::Json => {
                let text = std::str::from_utf8(file.bytes()).unwrap();
                json_documents(text)
                    .filter_map(|doc| serde_json::from_str::<ExportTraceServiceRequest>(doc).ok())
                    .map(|req| req.encode_to_vec())
                    .collect()
            }
        };
        files += usize::from(!encoded.is_empty());
        for msg in encoded {
            let (one_pass, reference) = both_decoders(&msg);
            let reference = reference.unwrap_or_else(|e| panic!("{}: {e}", entry.display()));
            let one_pass = one_pass.unwrap_or_else(|e| panic!("{}: {e}", entry.display()));
            assert!(
                one_pass == reference,
                "{}: {}",
                entry.display(),
                difference(&one_pass, &reference)
            );
            messages += 1;
        }
    }
    eprintln!("{messages} messages from {files} fixtures");
    assert!(
        files > 90 && messages > 100,
        "{files} files, {messages} messages"
    );
}

/// Every file under `dir`, recursively, sorted.
fn walk(dir: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(dir)];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The JSON documents of a JSON-lines text, or the one document of a JSON file.
fn json_documents(text: &str) -> impl Iterator<Item = &str> {
    let whole = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
    let docs: Vec<&str> = if whole {
        vec![text]
    } else {
        text.lines().filter(|l| !l.trim().is_empty()).collect()
    };
    docs.into_iter()
}
