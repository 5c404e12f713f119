//! The input layer end to end: every layout and compression of the fixtures reads to the same
//! model as its plain source, JSON and protobuf agree, and broken input fails cleanly.

use std::fs;
use std::path::{Path, PathBuf};

use spanlint::input::{
    Codec, Compression, InputError, InputFormat, LoadedFile, Position, Source, discover, load,
};
use spanlint::model::{Attribute, Batch, Value};

fn path(p: &str) -> Source {
    Source::Path(Path::new(env!("CARGO_MANIFEST_DIR")).join(p))
}

fn loaded(p: &str) -> LoadedFile {
    load(&path(p), None).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// All batches of a file, with offsets zeroed so layouts can be compared.
fn batches(file: &LoadedFile) -> Vec<Batch<'_>> {
    file.batches()
        .map(|b| b.unwrap_or_else(|e| panic!("{e}")))
        .map(|mut b| {
            clear_offsets(&mut b);
            b
        })
        .collect()
}

fn clear_offsets(batch: &mut Batch<'_>) {
    for rs in &mut batch.resource_spans {
        clear_attributes(&mut rs.attributes);
        for ss in &mut rs.scope_spans {
            clear_attributes(&mut ss.scope.attributes);
            for span in &mut ss.spans {
                span.offset = 0;
                span.name_offset = 0;
                clear_attributes(&mut span.attributes);
                for event in &mut span.events {
                    event.offset = 0;
                    clear_attributes(&mut event.attributes);
                }
            }
        }
    }
}

fn clear_attributes(attributes: &mut [Attribute<'_>]) {
    for a in attributes {
        a.offset = 0;
        clear_value(&mut a.value);
    }
}

fn clear_value(value: &mut Value<'_>) {
    match value {
        Value::Array(values) => values.iter_mut().for_each(clear_value),
        Value::KvList(attributes) => clear_attributes(attributes),
        _ => {}
    }
}

fn real_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/real");
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".jsonl").map(str::to_string)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    names
}

fn span_count(batches: &[Batch<'_>]) -> usize {
    batches
        .iter()
        .flat_map(|b| &b.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

#[test]
fn every_real_dump_reads_the_same_from_json_and_protobuf() {
    for name in real_names() {
        let json = loaded(&format!("fixtures/real/{name}.jsonl"));
        let proto = loaded(&format!("fixtures/real/{name}.pb"));
        assert_eq!(json.format, InputFormat::Json, "{name}");
        assert_eq!(proto.format, InputFormat::Proto, "{name}");
        let (from_json, from_proto) = (batches(&json), batches(&proto));
        assert!(span_count(&from_json) > 0, "{name}");
        assert_eq!(from_json, from_proto, "{name}");
    }
}

#[test]
fn offsets_point_at_the_right_bytes_in_both_formats() {
    for name in real_names() {
        let proto = loaded(&format!("fixtures/real/{name}.pb"));
        let json = loaded(&format!("fixtures/real/{name}.jsonl"));
        let text = json.text().unwrap();
        let bytes = proto.bytes();
        let proto_batches: Vec<_> = proto.batches().map(Result::unwrap).collect();
        let json_batches: Vec<_> = json.batches().map(Result::unwrap).collect();
        for (pb, jb) in proto_batches.iter().zip(&json_batches) {
            let p_spans = pb
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans);
            let j_spans = jb
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans);
            for (p, j) in p_spans.zip(j_spans) {
                assert_eq!(bytes[p.offset], 0x12, "{name}: ScopeSpans.spans tag");
                assert_eq!(bytes[p.name_offset], 0x2a, "{name}: Span.name tag");
                assert!(text[j.name_offset..].starts_with(&format!("\"{}\"", j.name)));
                for (pa, ja) in p.attributes.iter().zip(&j.attributes) {
                    assert_eq!(bytes[pa.offset], 0x4a, "{name}: Span.attributes tag");
                    assert!(text[ja.offset..].starts_with(&format!("\"{}\"", ja.key)));
                }
                for e in &p.events {
                    assert_eq!(bytes[e.offset], 0x5a, "{name}: Span.events tag");
                }
            }
        }
        assert_eq!(proto.position(7), Position::Byte(7));
    }
}

#[test]
fn every_layout_and_compression_reads_like_its_plain_source() {
    use Compression::{Framed, None as Plain, Whole};
    let chat_tool = ["openai-v2-chat", "openai-v2-tool"];
    let cases: &[(&str, &[&str], Compression, InputFormat)] = &[
        (
            "openai-v2-chat.pretty.json",
            &["openai-v2-chat"],
            Plain,
            InputFormat::Json,
        ),
        (
            "concatenated.json",
            &["openai-v2-chat", "openai-v2-error"],
            Plain,
            InputFormat::Json,
        ),
        ("two-lines.jsonl", &chat_tool, Plain, InputFormat::Json),
        (
            "proto-field-names.json",
            &["openai-v2-chat"],
            Plain,
            InputFormat::Json,
        ),
        (
            "two-lines.jsonl.gz",
            &chat_tool,
            Whole(Codec::Gzip),
            InputFormat::Json,
        ),
        (
            "two-lines.jsonl.zst",
            &chat_tool,
            Whole(Codec::Zstd),
            InputFormat::Json,
        ),
        (
            "openai-v2-chat.pb.zst",
            &["openai-v2-chat"],
            Whole(Codec::Zstd),
            InputFormat::Proto,
        ),
        (
            "stream.binpb",
            &["openai-v2-chat", "openai-v2-tool", "vercel-ai-chat"],
            Plain,
            InputFormat::Proto,
        ),
        (
            "stream.binpb.zst",
            &["openai-v2-chat", "openai-v2-tool", "vercel-ai-chat"],
            Whole(Codec::Zstd),
            InputFormat::Proto,
        ),
        (
            "framed-zstd-json.jsonl.zst",
            &chat_tool,
            Framed(Codec::Zstd),
            InputFormat::Json,
        ),
        (
            "framed-zstd-proto.binpb.zst",
            &chat_tool,
            Framed(Codec::Zstd),
            InputFormat::Proto,
        ),
    ];
    for &(variant, sources, compression, format) in cases {
        let file = loaded(&format!("fixtures/input/{variant}"));
        assert_eq!(
            (file.compression, file.format),
            (compression, format),
            "{variant}"
        );
        let plain: Vec<LoadedFile> = sources
            .iter()
            .map(|name| loaded(&format!("fixtures/real/{name}.jsonl")))
            .collect();
        let expected: Vec<Batch<'_>> = plain.iter().flat_map(batches).collect();
        assert_eq!(batches(&file), expected, "{variant}");
    }
}
