//! The input layer end to end: every layout and compression of the fixtures reads to the same
//! model as its plain source, JSON and protobuf agree, and broken input fails cleanly.

use std::fs;
use std::path::{Path, PathBuf};

use spanlint::input::{
    Codec, Compression, InputError, InputFormat, Limits, LoadedFile, Position, Source, discover,
    load,
};
use spanlint::model::{Attribute, Batch, Value};

fn path(p: &str) -> Source {
    Source::Path(Path::new(env!("CARGO_MANIFEST_DIR")).join(p))
}

fn loaded(p: &str) -> LoadedFile {
    load(&path(p), None, &Limits::default()).unwrap_or_else(|e| panic!("{p}: {e}"))
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

// ---------------------------------------------------------------------------------------------
// Broken input.

/// The first error among a file's batches.
fn first_error(file: &LoadedFile) -> InputError {
    file.batches()
        .find_map(Result::err)
        .unwrap_or_else(|| panic!("{}: expected an error", file.name))
}

#[test]
fn truncated_json_reports_the_line_and_keeps_the_good_one() {
    let file = loaded("tests/data/bad/truncated.jsonl");
    let results: Vec<_> = file.batches().collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    match &results[1] {
        Err(InputError::Json { file, position, .. }) => {
            assert!(file.ends_with("truncated.jsonl"), "{file}");
            assert!(
                matches!(position, Position::LineColumn { line: 2, column } if *column > 1),
                "{position:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn truncated_protobuf_reports_a_byte_inside_the_file() {
    let file = loaded("tests/data/bad/truncated.pb");
    assert_eq!(file.format, InputFormat::Proto);
    match first_error(&file) {
        InputError::Proto {
            file: name,
            offset,
            message,
        } => {
            assert!(name.ends_with("truncated.pb"), "{name}");
            assert!(offset < file.bytes().len(), "{offset}");
            assert!(message.contains("truncated"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn json_of_the_wrong_shape_is_a_json_error() {
    let file = loaded("tests/data/bad/not-otlp.json");
    assert_eq!(file.format, InputFormat::Json);
    let err = first_error(&file);
    assert!(
        matches!(
            &err,
            InputError::Json {
                position: Position::LineColumn { line: 1, .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("not-otlp.json:1:"), "{err}");
}

#[test]
fn random_bytes_are_a_protobuf_error() {
    let file = loaded("tests/data/bad/random.bin");
    assert_eq!(file.format, InputFormat::Proto);
    let err = first_error(&file);
    assert!(
        matches!(&err, InputError::Proto { file, .. } if file.ends_with("random.bin")),
        "{err:?}"
    );
}

#[test]
fn an_empty_file_is_an_error() {
    let err = load(&path("tests/data/bad/empty.json"), None, &Limits::default()).unwrap_err();
    assert!(
        matches!(&err, InputError::Empty { file } if file.ends_with("empty.json")),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .ends_with("empty file: expected OTLP/JSON or protobuf trace data")
    );
}

#[test]
fn the_format_override_wins_over_detection() {
    let forced = load(
        &path("fixtures/real/openai-v2-chat.jsonl"),
        Some(InputFormat::Proto),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(forced.format, InputFormat::Proto);
    assert!(matches!(first_error(&forced), InputError::Proto { .. }));
    let err = load(
        &path("fixtures/real/openai-v2-chat.pb"),
        Some(InputFormat::Json),
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, InputError::InvalidUtf8 { .. }), "{err:?}");
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let err = load(&path("fixtures/nope.jsonl"), None, &Limits::default()).unwrap_err();
    assert!(
        matches!(&err, InputError::Io { file, .. } if file.ends_with("nope.jsonl")),
        "{err:?}"
    );
}

#[test]
fn corrupt_compression_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut gz =
        fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/input/two-lines.jsonl.gz"))
            .unwrap();
    gz.truncate(gz.len() / 2);
    let file = dir.path().join("cut.jsonl.gz");
    fs::write(&file, gz).unwrap();
    let err = load(&Source::Path(file), None, &Limits::default()).unwrap_err();
    assert!(
        matches!(&err, InputError::Decompress { codec: "gzip", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("cut.jsonl.gz"), "{err}");
}

#[test]
fn a_byte_order_mark_is_accepted_and_offsets_still_match() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = b"\xef\xbb\xbf".to_vec();
    data.extend(
        fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/real/openai-v2-chat.jsonl"))
            .unwrap(),
    );
    let file = dir.path().join("bom.json");
    fs::write(&file, &data).unwrap();
    let file = load(&Source::Path(file), None, &Limits::default()).unwrap();
    assert_eq!(file.format, InputFormat::Json);
    let batch = file.batches().next().unwrap().unwrap();
    let span = &batch.resource_spans[0].scope_spans[0].spans[0];
    assert!(data[span.name_offset..].starts_with(b"\"chat gpt-4o-mini\""));
}

// ---------------------------------------------------------------------------------------------
// Deep nesting must be an error, not a stack overflow.

const DEPTH: usize = 100_000;

#[test]
fn deeply_nested_json_values_are_an_error() {
    let open = r#"{"arrayValue":{"values":["#.repeat(DEPTH);
    let close = "]}}".repeat(DEPTH);
    let text = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"name":"deep","attributes":[{{"key":"k","value":{open}{{"stringValue":"x"}}{close}}}]}}]}}]}}]}}"#
    );
    let file = LoadedFile::from_bytes("deep.json", text.into_bytes(), InputFormat::Json).unwrap();
    let err = first_error(&file);
    assert!(err.to_string().contains("recursion limit"), "{err}");
}

/// Protobuf with `DEPTH` nested `AnyValue { array_value: ArrayValue { values: [ … ] } }`,
/// built back to front (in reverse) so it takes linear time.
fn deep_proto() -> Vec<u8> {
    fn push_len_field(rev: &mut Vec<u8>, tag: u8) {
        let mut len = rev.len();
        let mut varint = Vec::new();
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                varint.push(byte);
                break;
            }
            varint.push(byte | 0x80);
        }
        rev.extend(varint.iter().rev());
        rev.push(tag);
    }
    // AnyValue { string_value: "x" }, reversed.
    let mut rev = vec![b'x', 0x01, 0x0a];
    for _ in 0..DEPTH {
        push_len_field(&mut rev, 0x0a); // ArrayValue.values (1)
        push_len_field(&mut rev, 0x2a); // AnyValue.array_value (5)
    }
    push_len_field(&mut rev, 0x12); // KeyValue.value (2)
    rev.extend([b'k', 0x01, 0x0a]); // KeyValue.key (1) = "k", reversed
    push_len_field(&mut rev, 0x4a); // Span.attributes (9)
    push_len_field(&mut rev, 0x12); // ScopeSpans.spans (2)
    push_len_field(&mut rev, 0x12); // ResourceSpans.scope_spans (2)
    push_len_field(&mut rev, 0x0a); // ExportTraceServiceRequest.resource_spans (1)
    rev.reverse();
    rev
}

#[test]
fn deeply_nested_protobuf_values_are_an_error_at_the_attribute() {
    let data = deep_proto();
    let file = LoadedFile::from_bytes("deep.pb", data, InputFormat::Proto).unwrap();
    match first_error(&file) {
        InputError::Proto {
            offset, message, ..
        } => {
            assert!(message.contains("recursion limit"), "{message}");
            assert_eq!(
                file.bytes()[offset],
                0x4a,
                "points at the Span.attributes KeyValue"
            );
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Discovery.

/// A temp tree: dumps with every accepted name, other files, hidden and git-ignored entries.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        "b.jsonl",
        "a.json",
        "notes.txt",
        "sub/c.pb",
        "sub/d.binpb.zst",
        "sub/e.ndjson.gz",
        "sub/f.jsonl.zstd",
        "sub/deeper/g.pb.gzip",
        "sub/h.gz",
        ".hidden.jsonl",
        ".cache/i.jsonl",
        "ignored/j.jsonl",
        "empty/readme.md",
    ];
    for f in files {
        let p = dir.path().join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, "{}").unwrap();
    }
    fs::write(dir.path().join(".gitignore"), "ignored/\n*.jsonl\n").unwrap();
    fs::create_dir(dir.path().join(".git")).unwrap();
    dir
}

/// Paths of sources relative to `root`, as strings.
fn relative(sources: &[Source], root: &Path) -> Vec<String> {
    sources
        .iter()
        .map(|s| match s {
            Source::Path(p) => p.strip_prefix(root).unwrap().display().to_string(),
            Source::Stdin => "-".to_string(),
        })
        .collect()
}

fn arg(p: PathBuf) -> String {
    p.display().to_string()
}

#[test]
fn a_directory_walk_keeps_dump_files_sorted_skips_hidden_and_ignores_gitignore() {
    let dir = tree();
    let (sources, errors) = discover(&[arg(dir.path().to_path_buf())]);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        relative(&sources, dir.path()),
        [
            "a.json",
            "b.jsonl",
            "ignored/j.jsonl",
            "sub/c.pb",
            "sub/d.binpb.zst",
            "sub/deeper/g.pb.gzip",
            "sub/e.ndjson.gz",
            "sub/f.jsonl.zstd",
        ]
    );
}

#[test]
fn named_files_are_taken_whatever_their_name_and_duplicates_dropped() {
    let dir = tree();
    let root = dir.path();
    let args = [
        arg(root.join("notes.txt")),
        "-".to_string(),
        arg(root.join("sub")),
        arg(root.join("sub/c.pb")),
        arg(root.join("sub/../sub/c.pb")),
        "-".to_string(),
    ];
    let (sources, errors) = discover(&args);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        relative(&sources, root),
        [
            "-",
            "notes.txt",
            "sub/c.pb",
            "sub/d.binpb.zst",
            "sub/deeper/g.pb.gzip",
            "sub/e.ndjson.gz",
            "sub/f.jsonl.zstd",
        ]
    );
}

#[test]
fn globs_expand_from_their_literal_prefix() {
    let dir = tree();
    let root = dir.path();
    let (sources, errors) = discover(&[format!("{}/sub/*.pb", root.display())]);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(relative(&sources, root), ["sub/c.pb"]);

    let (sources, _) = discover(&[format!("{}/**/*.{{pb,pb.gzip}}", root.display())]);
    assert_eq!(
        relative(&sources, root),
        ["sub/c.pb", "sub/deeper/g.pb.gzip"]
    );

    // Globs match any name, not just dump extensions; hidden only when asked for.
    let (sources, _) = discover(&[format!("{}/*", root.display())]);
    assert_eq!(relative(&sources, root), ["a.json", "b.jsonl", "notes.txt"]);
    let (sources, _) = discover(&[format!("{}/.cache/*.jsonl", root.display())]);
    assert_eq!(relative(&sources, root), [".cache/i.jsonl"]);
}

#[test]
fn missing_paths_unmatched_globs_and_empty_directories_are_errors() {
    let dir = tree();
    let root = dir.path();
    let args = [
        arg(root.join("nope.jsonl")),
        format!("{}/*.nothing", root.display()),
        arg(root.join("empty")),
        format!("{}/[", root.display()),
        arg(root.join("a.json")),
    ];
    let (sources, errors) = discover(&args);
    assert_eq!(relative(&sources, root), ["a.json"]);
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(matches!(&errors[0], InputError::NotFound { path } if path.ends_with("nope.jsonl")));
    assert!(
        matches!(&errors[1], InputError::NoMatch { pattern } if pattern.ends_with("*.nothing"))
    );
    assert!(matches!(&errors[2], InputError::NoDumpFiles { .. }));
    assert!(
        errors[2].to_string().starts_with(
            "no dump files (.json, .jsonl, .ndjson, .pb, .binpb, optionally .gz/.zst) in "
        ),
        "{}",
        errors[2]
    );
    assert!(
        matches!(&errors[3], InputError::BadGlob { .. }),
        "{:?}",
        errors[3]
    );
}

#[test]
fn discovered_files_load() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/input");
    for name in [
        "two-lines.jsonl.gz",
        "stream.binpb.zst",
        "framed-zstd-json.jsonl.zst",
    ] {
        fs::copy(fixtures.join(name), dir.path().join(name)).unwrap();
    }
    let (sources, errors) = discover(&[arg(dir.path().to_path_buf())]);
    assert!(errors.is_empty(), "{errors:?}");
    let counts: Vec<usize> = sources
        .iter()
        .map(|s| {
            load(s, None, &Limits::default())
                .unwrap()
                .batches()
                .filter(Result::is_ok)
                .count()
        })
        .collect();
    assert_eq!(counts, [2, 3, 2], "framed-zstd-json, stream, two-lines");
}
