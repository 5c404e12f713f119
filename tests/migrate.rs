//! `spanlint migrate`: the mapping data against the registry, snapshots per vocabulary on the
//! real fixtures, round trip and idempotence on every fixture in both formats, `check` on the
//! output, and the safety of writes. Review snapshot changes with `cargo insta review`.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use spanlint::input::{InputFormat, LoadedFile};
use spanlint::migrate::mapping::MappingFile;
use spanlint::migrate::{ContentAction, Migrator, Options, OwnedPlan, migrate_file};
use spanlint::model::{Batch, Value};
use spanlint::rules::Ruleset;

const VOCABULARIES: &[&str] = &[
    "openllmetry-legacy-chat",
    "openllmetry-legacy-tool",
    "openinference-chat",
    "openinference-tool",
    "vercel-ai-chat",
    "vercel-ai-tool",
    "openai-v2-chat",
    "openai-v2-tool",
];

fn spanlint(args: &[&str]) -> Output {
    Command::cargo_bin("spanlint")
        .expect("the spanlint binary is built")
        .args(args)
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .output()
        .expect("spanlint runs")
}

fn real_fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("fixtures/real")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("jsonl" | "pb")))
        .collect();
    files.sort();
    assert_eq!(files.len(), 22);
    files
}

fn format_of(path: &Path) -> InputFormat {
    if path.extension().is_some_and(|e| e == "pb") {
        InputFormat::Proto
    } else {
        InputFormat::Json
    }
}

fn migrator(options: Options) -> Migrator {
    Migrator::new(Ruleset::builtin(), MappingFile::builtin(), options).unwrap()
}

/// Migrates decompressed bytes in memory.
fn migrate_bytes(bytes: &[u8], format: InputFormat, options: Options) -> (Vec<u8>, Vec<OwnedPlan>) {
    let file = LoadedFile::from_bytes("dump", bytes.to_vec(), format).unwrap();
    let out = migrate_file(&file, &migrator(options)).unwrap();
    (out.content, out.plans)
}

fn diff(plans: &[OwnedPlan]) -> String {
    let mut text = String::new();
    spanlint::commands::migrate::diff_text("dump", plans, &mut text);
    text
}

/// The model of a dump, with byte offsets cleared so two encodings compare equal.
fn model(bytes: &[u8], format: InputFormat) -> Vec<Batch<'static>> {
    let file = LoadedFile::from_bytes("dump", bytes.to_vec(), format).unwrap();
    let batches: Vec<Batch<'_>> = file.batches().collect::<Result<_, _>>().unwrap();
    batches.into_iter().map(owned).collect()
}

fn owned(b: Batch<'_>) -> Batch<'static> {
    fn attr(a: Attribute<'_>) -> Attribute<'static> {
        Attribute {
            key: a.key.into_owned().into(),
            value: value(a.value),
            offset: 0,
        }
    }
    fn value(v: Value<'_>) -> Value<'static> {
        match v {
            Value::Empty => Value::Empty,
            Value::String(s) => Value::String(s.into_owned().into()),
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::Double(d) => Value::Double(d),
            Value::Bytes(b) => Value::Bytes(b),
            Value::Array(a) => Value::Array(a.into_iter().map(value).collect()),
            Value::KvList(kvs) => Value::KvList(kvs.into_iter().map(attr).collect()),
        }
    }
    use spanlint::model::*;
    Batch {
        resource_spans: b
            .resource_spans
            .into_iter()
            .map(|rs| ResourceSpans {
                attributes: rs.attributes.into_iter().map(attr).collect(),
                schema_url: rs.schema_url.into_owned().into(),
                scope_spans: rs
                    .scope_spans
                    .into_iter()
                    .map(|ss| ScopeSpans {
                        scope: Scope {
                            name: ss.scope.name.into_owned().into(),
                            version: ss.scope.version.into_owned().into(),
                            attributes: ss.scope.attributes.into_iter().map(attr).collect(),
                        },
                        schema_url: ss.schema_url.into_owned().into(),
                        spans: ss
                            .spans
                            .into_iter()
                            .map(|s| Span {
                                trace_id: s.trace_id,
                                span_id: s.span_id,
                                parent_span_id: s.parent_span_id,
                                name: s.name.into_owned().into(),
                                kind: s.kind,
                                start_time_unix_nano: s.start_time_unix_nano,
                                end_time_unix_nano: s.end_time_unix_nano,
                                attributes: s.attributes.into_iter().map(attr).collect(),
                                events: s
                                    .events
                                    .into_iter()
                                    .map(|e| Event {
                                        name: e.name.into_owned().into(),
                                        time_unix_nano: e.time_unix_nano,
                                        attributes: e.attributes.into_iter().map(attr).collect(),
                                        offset: 0,
                                    })
                                    .collect(),
                                status: Status {
                                    code: s.status.code,
                                    message: s.status.message.into_owned().into(),
                                },
                                offset: 0,
                                name_offset: 0,
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Every span of a model, flattened.
fn spans<'m>(batches: &'m [Batch<'static>]) -> Vec<&'m spanlint::model::Span<'static>> {
    batches
        .iter()
        .flat_map(|b| &b.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .collect()
}

/// The migrated spans, one attribute per line (for snapshots; fixtures hold no secrets).
fn listing(batches: &[Batch<'static>]) -> String {
    let mut out = String::new();
    for span in spans(batches) {
        out.push_str(&format!("span {:?}\n", span.name));
        for a in &span.attributes {
            let v = match &a.value {
                Value::String(s) => format!("{s:?}"),
                other => spanlint::migrate::engine::render_value(other),
            };
            out.push_str(&format!("  {} = {v}\n", a.key));
        }
    }
    out
}

/// Whether the mapping (or the deprecations) knows a key as a source.
fn is_source(key: &str, mapping: &MappingFile, rules: &Ruleset) -> bool {
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
        || mapping.split_urls.iter().any(|s| s.from == key)
        || mapping.unpacks.iter().any(|u| u.from == key)
        || mapping
            .combines
            .iter()
            .any(|c| c.from.iter().any(|f| f == key))
        || rules.deprecated_attribute(key).is_some()
}

// ---------------------------------------------------------------------------------------------

#[test]
fn every_target_key_of_the_mapping_is_in_the_registry() {
    let rules = Ruleset::builtin();
    let mapping = MappingFile::builtin();
    for key in mapping.target_keys() {
        assert!(
            rules.attribute(key).is_some(),
            "{key} is not a registry key (rules/genai.toml [[attribute]])"
        );
    }
    for r in &mapping.renames {
        assert!(
            rules.attribute(&r.from).is_none(),
            "{} is current: nothing to rename",
            r.from
        );
    }
    for p in &mapping.prefix_renames {
        assert!(
            !rules
                .file
                .reserved_namespaces
                .iter()
                .any(|n| p.to.starts_with(&n.prefix)),
            "{} moves into a reserved namespace",
            p.to
        );
    }
    for t in &mapping.targets {
        for op in &t.missing_operations {
            assert!(
                rules
                    .file
                    .span_types
                    .iter()
                    .any(|s| s.operations.contains(op)),
                "{op} is not an operation"
            );
        }
    }
}

#[test]
fn snapshots_per_vocabulary_in_both_formats() {
    for name in VOCABULARIES {
        let json = std::fs::read(format!("fixtures/real/{name}.jsonl")).unwrap();
        let pb = std::fs::read(format!("fixtures/real/{name}.pb")).unwrap();
        let (json_out, json_plans) = migrate_bytes(&json, InputFormat::Json, Options::default());
        let (pb_out, pb_plans) = migrate_bytes(&pb, InputFormat::Proto, Options::default());
        assert_eq!(
            diff(&json_plans),
            diff(&pb_plans),
            "{name}: JSON and protobuf differ"
        );
        let json_model = model(&json_out, InputFormat::Json);
        assert_eq!(
            json_model,
            model(&pb_out, InputFormat::Proto),
            "{name}: migrated JSON and protobuf read to different models"
        );
        insta::assert_snapshot!(format!("diff@{name}"), diff(&json_plans));
        insta::assert_snapshot!(format!("migrated@{name}"), listing(&json_model));
    }
}

#[test]
fn round_trip_keeps_everything_not_rewritten() {
    let rules = Ruleset::builtin();
    let mapping = MappingFile::builtin();
    for path in real_fixtures() {
        let format = format_of(&path);
        let bytes = std::fs::read(&path).unwrap();
        let (out, _) = migrate_bytes(&bytes, format, Options::default());
        let before = model(&bytes, format);
        let after = model(&out, format);
        assert_eq!(before.len(), after.len());
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(b.resource_spans.len(), a.resource_spans.len());
            for (rb, ra) in b.resource_spans.iter().zip(&a.resource_spans) {
                assert_eq!(rb.attributes, ra.attributes, "{}", path.display());
                assert_eq!(rb.schema_url, ra.schema_url);
                for (sb, sa) in rb.scope_spans.iter().zip(&ra.scope_spans) {
                    assert_eq!(sb.scope, sa.scope);
                    assert_eq!(sb.spans.len(), sa.spans.len());
                }
            }
        }
        for (b, a) in spans(&before).into_iter().zip(spans(&after)) {
            let mut b2 = b.clone();
            let mut a2 = a.clone();
            b2.name = Default::default();
            a2.name = Default::default();
            b2.attributes.clear();
            a2.attributes.clear();
            assert_eq!(
                b2,
                a2,
                "{}: span {} changed beyond name and attributes",
                path.display(),
                b.span_id
            );
            for attr in &b.attributes {
                if a.attributes.contains(attr) {
                    continue;
                }
                assert!(
                    is_source(&attr.key, &mapping, &rules)
                        || attr.key == "gen_ai.response.finish_reasons",
                    "{}: {} was lost",
                    path.display(),
                    attr.key
                );
                if let Value::Int(n) = attr.value {
                    assert!(
                        a.attributes.iter().any(|x| x.value == Value::Int(n)),
                        "{}: the value of {} was lost",
                        path.display(),
                        attr.key
                    );
                }
            }
            for attr in &a.attributes {
                if !b.attributes.iter().any(|x| x.key == attr.key) {
                    assert!(
                        rules.attribute(&attr.key).is_some(),
                        "{} is not a registry key",
                        attr.key
                    );
                }
            }
        }
    }
}

#[test]
fn migrating_twice_changes_nothing() {
    for dual_emit in [false, true] {
        for path in real_fixtures() {
            let format = format_of(&path);
            let bytes = std::fs::read(&path).unwrap();
            let options = Options {
                dual_emit,
                ..Options::default()
            };
            let (once, _) = migrate_bytes(&bytes, format, options.clone());
            let (twice, plans) = migrate_bytes(&once, format, options);
            assert!(
                plans.is_empty(),
                "{} (dual {dual_emit}): {}",
                path.display(),
                diff(&plans)
            );
            assert_eq!(once, twice, "{}", path.display());
        }
    }
}

#[test]
fn untouched_files_are_copied_byte_for_byte() {
    for name in [
        "openai-v2-latest-content-chat.jsonl",
        "openai-v2-latest-content-chat.pb",
    ] {
        let path = Path::new("fixtures/real").join(name);
        let bytes = std::fs::read(&path).unwrap();
        let (out, plans) = migrate_bytes(&bytes, format_of(&path), Options::default());
        assert!(!plans.iter().any(|p| p.changed));
        assert_eq!(out, bytes);
    }
}

#[test]
fn json_layout_is_kept_outside_the_rewritten_arrays() {
    // Pretty-printed input stays pretty: everything before the first changed span is identical,
    // and the output is still one document.
    let pretty = std::fs::read_to_string("fixtures/input/openai-v2-chat.pretty.json").unwrap();
    let (out, plans) = migrate_bytes(pretty.as_bytes(), InputFormat::Json, Options::default());
    assert!(!plans.is_empty());
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out.lines().count(), pretty.lines().count());
    assert!(
        out.contains("\"key\": \"gen_ai.provider.name\""),
        "renamed in place, layout kept"
    );
    let lines = std::fs::read_to_string("fixtures/input/two-lines.jsonl").unwrap();
    let (out, _) = migrate_bytes(lines.as_bytes(), InputFormat::Json, Options::default());
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 2);
}

#[test]
fn target_1_37_leaves_keys_it_does_not_have() {
    let bytes = std::fs::read("fixtures/real/openllmetry-legacy-chat.jsonl").unwrap();
    let options = Options {
        target: Some("1.37".into()),
        ..Options::default()
    };
    let (out, _) = migrate_bytes(&bytes, InputFormat::Json, options);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("\"gen_ai.usage.cache_read_input_tokens\""));
    assert!(!text.contains("\"gen_ai.usage.cache_read.input_tokens\""));
    assert!(text.contains("\"gen_ai.provider.name\""));
    assert!(text.contains("\"gen_ai.input.messages\""));
}

#[test]
fn dual_emit_keeps_old_keys() {
    let bytes = std::fs::read("fixtures/real/openai-v2-chat.jsonl").unwrap();
    let options = Options {
        dual_emit: true,
        ..Options::default()
    };
    let (out, _) = migrate_bytes(&bytes, InputFormat::Json, options);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("\"gen_ai.system\""));
    assert!(text.contains("\"gen_ai.provider.name\""));
}

#[test]
fn content_hash_and_drop() {
    let bytes = std::fs::read("fixtures/real/openllmetry-legacy-chat.jsonl").unwrap();
    let hash = |options| {
        let (out, _) = migrate_bytes(&bytes, InputFormat::Json, options);
        model(&out, InputFormat::Json)
    };
    let kept = hash(Options::default());
    let hashed = hash(Options {
        content: ContentAction::Hash,
        ..Options::default()
    });
    let dropped = hash(Options {
        content: ContentAction::Drop,
        ..Options::default()
    });
    let get = |m: &[Batch<'static>], key: &str| {
        spans(m)[0]
            .attribute(key)
            .map(|a| a.value.as_str().unwrap().to_string())
    };
    // Messages are hashed part by part, keeping their structure.
    let messages = get(&kept, "gen_ai.input.messages").unwrap();
    let hashed_messages = get(&hashed, "gen_ai.input.messages").unwrap();
    assert_eq!(
        Some(hashed_messages.clone()),
        spanlint::migrate::engine::hash_message_parts(&messages)
    );
    let parsed: serde_json::Value = serde_json::from_str(&hashed_messages).unwrap();
    assert_eq!(parsed[1]["role"], "user");
    // Members keep their written order (role, parts; type, content), like the unhashed JSON.
    assert!(
        hashed_messages.starts_with(r#"[{"role":"system","parts":[{"type":"text","content":""#),
        "{hashed_messages}"
    );
    assert_eq!(
        parsed[1]["parts"][0]["content"],
        spanlint::migrate::engine::hex_sha256("What is the capital of France?")
    );
    // Hashing a hashed dump changes nothing.
    let once = migrate_bytes(
        &bytes,
        InputFormat::Json,
        Options {
            content: ContentAction::Hash,
            ..Options::default()
        },
    )
    .0;
    let (_, plans) = migrate_bytes(
        &once,
        InputFormat::Json,
        Options {
            content: ContentAction::Hash,
            ..Options::default()
        },
    );
    assert!(plans.is_empty(), "{}", diff(&plans));
    assert_eq!(get(&dropped, "gen_ai.input.messages"), None);
    assert!(get(&dropped, "gen_ai.request.model").is_some());
}

/// One JSON span with the given attributes (string values).
fn doc(name: &str, attrs: &[(&str, &str)]) -> String {
    let attrs: Vec<String> = attrs
        .iter()
        .map(|(k, v)| format!(r#"{{"key":"{k}","value":{{"stringValue":"{v}"}}}}"#))
        .collect();
    format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"{name}","kind":1,"attributes":[{}]}}]}}]}}]}}"#,
        attrs.join(",")
    )
}

#[test]
fn toad_eye_spanora_and_value_renames() {
    let text = doc(
        "agent.step.act",
        &[
            ("gen_ai.operation.name", "execute_tool"),
            ("gen_ai.agent.tool.name", "search"),
            ("gen_ai.toad_eye.cost", "x"),
            ("gen_ai.toad_eye.prompt", "hello"),
            ("gen_ai.tool.input", "{}"),
            ("gen_ai.tool.output", "[]"),
        ],
    );
    let (out, plans) = migrate_bytes(text.as_bytes(), InputFormat::Json, Options::default());
    insta::assert_snapshot!("diff@toad-eye-spanora", diff(&plans));
    insta::assert_snapshot!(
        "migrated@toad-eye-spanora",
        listing(&model(&out, InputFormat::Json))
    );

    let text = doc(
        "x",
        &[
            ("gen_ai.operation.name", "agent"),
            ("gen_ai.system", "vertex_ai"),
            ("gen_ai.openai.request.response_format", "json_schema"),
        ],
    );
    let (out, plans) = migrate_bytes(text.as_bytes(), InputFormat::Json, Options::default());
    insta::assert_snapshot!("diff@value-renames", diff(&plans));
    insta::assert_snapshot!(
        "migrated@value-renames",
        listing(&model(&out, InputFormat::Json))
    );
}

#[test]
fn a_conflicting_value_is_never_overwritten() {
    let text = doc(
        "chat m",
        &[
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.request.model", "m"),
            ("gen_ai.system", "anthropic"),
            ("gen_ai.provider.name", "openai"),
        ],
    );
    let (out, plans) = migrate_bytes(text.as_bytes(), InputFormat::Json, Options::default());
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("gen_ai.system"), "{out}");
    assert!(diff(&plans).contains("conflict"));
}

// ---------------------------------------------------------------------------------------------
// The binary.

fn temp_copy(dir: &Path, fixture: &str) -> PathBuf {
    let to = dir.join(Path::new(fixture).file_name().unwrap());
    std::fs::copy(fixture, &to).unwrap();
    to
}

#[test]
fn check_on_the_output_has_no_deprecations_and_no_missing_operation() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = spanlint(&["migrate", "fixtures/real", "-o", out_dir.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("span(s) changed"));
    let out = spanlint(&["check", "--format", "json", out_dir.to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["files"], 22);
    for f in report["findings"].as_array().unwrap() {
        let rule = f["rule"].as_str().unwrap();
        assert_ne!(rule, "deprecated-attribute", "{f}");
        assert_ne!(rule, "deprecated-value", "{f}");
        assert!(
            !(rule == "missing-required-attribute" && f["attribute"] == "gen_ai.operation.name"),
            "{f}"
        );
    }
    // And migrating the output again changes nothing.
    let again = spanlint(&["migrate", "--check", out_dir.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(0));
}

#[test]
fn check_flag_exits_1_on_changes_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = temp_copy(dir.path(), "fixtures/real/openllmetry-legacy-chat.jsonl");
    let before = std::fs::read(&file).unwrap();
    let out = spanlint(&["migrate", "--check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn diff_masks_content() {
    let out = spanlint(&[
        "migrate",
        "--diff",
        "fixtures/real/openinference-tool.jsonl",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("+ gen_ai.input.messages=…"));
    assert!(!text.contains("Paris"), "{text}");
}

#[test]
fn in_place_rewrites_and_refuses_files_with_parse_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = temp_copy(dir.path(), "fixtures/real/vercel-ai-tool.pb");
    let bad = temp_copy(dir.path(), "tests/data/bad/truncated.jsonl");
    let good_before = std::fs::read(&good).unwrap();
    let bad_before = std::fs::read(&bad).unwrap();
    let out = spanlint(&[
        "migrate",
        "--in-place",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not rewritten"));
    assert_eq!(
        std::fs::read(&bad).unwrap(),
        bad_before,
        "the bad file is untouched"
    );
    assert_ne!(
        std::fs::read(&good).unwrap(),
        good_before,
        "the good file is migrated"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 2, "no temporary file is left behind");
}

#[test]
fn an_unwritable_output_is_an_error_and_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the output directory should be: even root cannot write under it.
    let not_a_dir = dir.path().join("blocked");
    std::fs::write(&not_a_dir, b"").unwrap();
    let target = not_a_dir.join("out.jsonl");
    let out = spanlint(&[
        "migrate",
        "fixtures/real/openai-v2-chat.jsonl",
        "-o",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write"));
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "nothing but the blocking file");
    assert_eq!(std::fs::read(&not_a_dir).unwrap(), b"");
}

#[test]
fn compressed_input_is_written_with_the_same_compression() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["two-lines.jsonl.gz", "stream.binpb.zst"] {
        let target = dir.path().join(name);
        let out = spanlint(&[
            "migrate",
            &format!("fixtures/input/{name}"),
            "-o",
            target.to_str().unwrap(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let written = std::fs::read(&target).unwrap();
        let magic: &[u8] = if name.ends_with(".gz") {
            &[0x1f, 0x8b]
        } else {
            &[0x28, 0xb5, 0x2f, 0xfd]
        };
        assert!(written.starts_with(magic), "{name}");
        let check = spanlint(&["migrate", "--check", target.to_str().unwrap()]);
        assert_eq!(
            check.status.code(),
            Some(0),
            "{name}: migrated output migrates to itself"
        );
    }
}

#[test]
fn output_format_converts_json_to_proto_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let pb = dir.path().join("out.pb");
    let out = spanlint(&[
        "migrate",
        "fixtures/real/openllmetry-legacy-tool.jsonl",
        "--output-format",
        "proto",
        "-o",
        pb.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_pb = std::fs::read("fixtures/real/openllmetry-legacy-tool.pb").unwrap();
    let (expected, _) = migrate_bytes(&from_pb, InputFormat::Proto, Options::default());
    assert_eq!(
        model(&std::fs::read(&pb).unwrap(), InputFormat::Proto),
        model(&expected, InputFormat::Proto)
    );
    let json = dir.path().join("out.jsonl");
    let out = spanlint(&[
        "migrate",
        pb.to_str().unwrap(),
        "--output-format",
        "json",
        "-o",
        json.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        model(&std::fs::read(&json).unwrap(), InputFormat::Json),
        model(&expected, InputFormat::Proto)
    );
}

#[test]
fn several_inputs_need_a_directory() {
    let out = spanlint(&[
        "migrate",
        "fixtures/real/openai-v2-chat.jsonl",
        "fixtures/real/openai-v2-tool.jsonl",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_output_directory_mirrors_the_input_tree() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    for sub in ["a", "b"] {
        std::fs::create_dir_all(input.join(sub)).unwrap();
        std::fs::copy(
            "fixtures/real/openai-v2-chat.jsonl",
            input.join(sub).join("dump.jsonl"),
        )
        .unwrap();
    }
    let out_dir = dir.path().join("out");
    let out = spanlint(&[
        "migrate",
        input.to_str().unwrap(),
        "-o",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out_dir.join("a/dump.jsonl").is_file());
    assert!(out_dir.join("b/dump.jsonl").is_file());
}

#[test]
fn a_trailing_slash_makes_the_output_a_new_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("migrated");
    let out = spanlint(&[
        "migrate",
        "fixtures/real/openllmetry-legacy-chat.jsonl",
        "-o",
        &format!("{}/", out_dir.display()),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out_dir.join("openllmetry-legacy-chat.jsonl").is_file());
}

#[test]
fn a_span_without_a_name_gets_one_inserted() {
    let text = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"0102030405060708","attributes":[{"key":"llm.request.type","value":{"stringValue":"chat"}},{"key":"gen_ai.request.model","value":{"stringValue":"m"}}]}]}]}]}"#;
    let (out, _) = migrate_bytes(text.as_bytes(), InputFormat::Json, Options::default());
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains(r#"{"name":"chat m","spanId":"0102030405060708","attributes":[{"key":"llm.request.type""#), "{out}");
    let (again, plans) = migrate_bytes(out.as_bytes(), InputFormat::Json, Options::default());
    assert!(!plans.iter().any(|p| p.changed));
    assert_eq!(again, out.as_bytes());
}

#[test]
fn content_actions_reach_span_events_in_both_formats() {
    let text = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"chat m","kind":3,"attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.request.model","value":{"stringValue":"m"}}],"events":[{"name":"gen_ai.content.prompt","timeUnixNano":"5","attributes":[{"key":"gen_ai.prompt","value":{"stringValue":"secret"}}]},{"name":"other","attributes":[{"key":"x","value":{"intValue":"1"}}]}]}]}]}]}"#;
    // --dual-emit keeps the content event next to the gen_ai.input.messages made from it.
    let hash = Options {
        content: ContentAction::Hash,
        dual_emit: true,
        ..Options::default()
    };
    let (out, plans) = migrate_bytes(text.as_bytes(), InputFormat::Json, hash.clone());
    let d = diff(&plans);
    assert!(
        d.contains("event \"gen_ai.content.prompt\" gen_ai.prompt=…"),
        "{d}"
    );
    assert!(!d.contains("secret"));
    let expected = spanlint::migrate::engine::hex_sha256("secret");
    let check = |m: Vec<Batch<'static>>| {
        let span = spans(&m)[0].clone();
        assert_eq!(
            span.events[0].attributes[0].value,
            Value::String(expected.clone().into())
        );
        assert_eq!(span.events[1].attributes[0].value, Value::Int(1));
        assert_eq!(span.events[0].time_unix_nano, 5);
    };
    check(model(&out, InputFormat::Json));

    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("in.json");
    std::fs::write(&json, text).unwrap();
    let pb = dir.path().join("in.pb");
    let status = spanlint(&[
        "migrate",
        "--dual-emit",
        json.to_str().unwrap(),
        "--output-format",
        "proto",
        "-o",
        pb.to_str().unwrap(),
    ]);
    assert_eq!(status.status.code(), Some(0));
    let (out, _) = migrate_bytes(
        &std::fs::read(&pb).unwrap(),
        InputFormat::Proto,
        hash.clone(),
    );
    check(model(&out, InputFormat::Proto));
    let (again, plans) = migrate_bytes(&out, InputFormat::Proto, hash);
    assert!(!plans.iter().any(|p| p.changed), "hashing is idempotent");
    assert_eq!(again, out);
}

// ---------------------------------------------------------------------------------------------
// Squatters, URLs and units.

/// The attributes of the only span of a migrated JSON dump, as `key = value` lines.
fn attributes_of(out: &[u8]) -> Vec<String> {
    listing(&model(out, InputFormat::Json))
        .lines()
        .skip(1)
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn squatters_move_to_the_named_namespace_and_nothing_else_does() {
    let text = doc(
        "chat m",
        &[
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.request.model", "m"),
            ("server.address", "api.example.com"),
            // Not split (server.address is there), so a squatter.
            ("gen_ai.openai.api_base", "https://api.openai.com/v1"),
            ("gen_ai.usage.total_tokens", "12"),
            ("gen_ai.system", "openai"),
            ("openai.custom.flag", "x"),
            ("myapp.own", "y"),
            ("llm.unknown_thing", "z"),
        ],
    );
    let options = Options {
        squatter_namespace: Some("myapp".to_string()),
        ..Options::default()
    };
    let (out, plans) = migrate_bytes(text.as_bytes(), InputFormat::Json, options.clone());
    let attrs = attributes_of(&out);
    for expected in [
        r#"gen_ai.request.model = "m""#,
        r#"myapp.openai.api_base = "https://api.openai.com/v1""#,
        r#"myapp.usage.total_tokens = "12""#,
        r#"myapp.custom.flag = "x""#,
        r#"myapp.own = "y""#,
        r#"llm.unknown_thing = "z""#,
        r#"gen_ai.provider.name = "openai""#,
    ] {
        assert!(
            attrs.iter().any(|a| a == expected),
            "{expected}: {attrs:#?}"
        );
    }
    assert!(diff(&plans).contains("squatter gen_ai.* → myapp.*"));
    // Idempotent.
    let (again, plans) = migrate_bytes(&out, InputFormat::Json, options);
    assert!(plans.is_empty(), "{}", diff(&plans));
    assert_eq!(again, out);
    // Without a namespace, squatters stay.
    let (out, _) = migrate_bytes(text.as_bytes(), InputFormat::Json, Options::default());
    assert!(
        attributes_of(&out)
            .iter()
            .any(|a| a.starts_with("gen_ai.usage.total_tokens"))
    );
}

#[test]
fn a_taken_squatter_name_is_a_conflict_and_the_key_stays() {
    let text = doc(
        "x",
        &[
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.usage.total_tokens", "12"),
            ("myapp.usage.total_tokens", "13"),
        ],
    );
    let options = Options {
        squatter_namespace: Some("myapp".to_string()),
        ..Options::default()
    };
    let (out, plans) = migrate_bytes(text.as_bytes(), InputFormat::Json, options);
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("gen_ai.usage.total_tokens")
    );
    assert!(diff(&plans).contains("conflict, kept: squatter"));
}

fn reserved_findings(path: &Path) -> Vec<serde_json::Value> {
    let out = spanlint(&[
        "check",
        "--isolated",
        "--format",
        "json",
        path.to_str().unwrap(),
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "reserved-namespace")
        .cloned()
        .collect()
}

#[test]
fn the_squatter_namespace_comes_from_spanlint_toml_or_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let mut text = doc(
        "chat m",
        &[
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.request.model", "m"),
            ("gen_ai.provider.name", "openai"),
            ("gen_ai.usage.total_tokens", "12"),
            ("gen_ai.openai.api_type", "chat_completions"),
        ],
    );
    text.push('\n');
    std::fs::write(&input, &text).unwrap();
    assert!(!reserved_findings(&input).is_empty());
    let config = dir.path().join("cfg.toml");
    std::fs::write(&config, "[migrate]\nsquatter-namespace = \"myapp\"\n").unwrap();
    let output = dir.path().join("out.jsonl");
    let o = output.to_str().unwrap();
    let i = input.to_str().unwrap();

    let out = spanlint(&["migrate", "--config", config.to_str().unwrap(), i, "-o", o]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(reserved_findings(&output).is_empty());
    let written = std::fs::read_to_string(&output).unwrap();
    assert!(written.contains("myapp.openai.api_type"), "{written}");

    // --isolated: no configuration, squatters stay.
    let out = spanlint(&["migrate", "--isolated", i, "-o", o]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!reserved_findings(&output).is_empty());

    // The flag wins over the file.
    let out = spanlint(&[
        "migrate",
        "--config",
        config.to_str().unwrap(),
        "--move-squatters-to",
        "acme.llm",
        i,
        "-o",
        o,
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        std::fs::read_to_string(&output)
            .unwrap()
            .contains("acme.llm.usage.total_tokens")
    );

    // A reserved or malformed namespace is refused.
    for bad in ["gen_ai.mine", "myapp.", ""] {
        let out = spanlint(&[
            "migrate",
            "--isolated",
            "--move-squatters-to",
            bad,
            i,
            "-o",
            o,
        ]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
    std::fs::write(&config, "[migrate]\nsquatter-namespace = \"openai\"\n").unwrap();
    let out = spanlint(&["migrate", "--config", config.to_str().unwrap(), i, "-o", o]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reserved namespace"));
}

#[test]
fn real_openllmetry_fixtures_have_no_reserved_namespace_after_migrate() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["openllmetry-legacy-chat", "openllmetry-legacy-tool"] {
        for ext in ["jsonl", "pb"] {
            let input = format!("fixtures/real/{name}.{ext}");
            assert!(!reserved_findings(Path::new(&input)).is_empty());
            let output = dir.path().join(format!("{name}.{ext}"));
            let out = spanlint(&[
                "migrate",
                "--isolated",
                "--move-squatters-to",
                "myapp",
                &input,
                "-o",
                output.to_str().unwrap(),
            ]);
            assert_eq!(out.status.code(), Some(0));
            assert_eq!(
                reserved_findings(&output),
                Vec::<serde_json::Value>::new(),
                "{input}"
            );
        }
    }
}

#[test]
fn api_base_becomes_server_address_and_port_and_ms_become_seconds() {
    let text = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"ai.streamText.doStream","kind":3,"attributes":[{"key":"ai.operationId","value":{"stringValue":"ai.streamText.doStream"}},{"key":"gen_ai.openai.api_base","value":{"stringValue":"http://localhost:11434/v1"}},{"key":"ai.response.msToFirstChunk","value":{"intValue":"1500"}}]}]}]}]}"#;
    let (out, plans) = migrate_bytes(text.as_bytes(), InputFormat::Json, Options::default());
    let attrs = attributes_of(&out);
    for expected in [
        r#"server.address = "localhost""#,
        "server.port = 11434",
        "gen_ai.response.time_to_first_chunk = 1.5",
    ] {
        assert!(
            attrs.iter().any(|a| a == expected),
            "{expected}: {attrs:#?}"
        );
    }
    assert!(
        !attrs
            .iter()
            .any(|a| a.starts_with("gen_ai.openai.api_base"))
    );
    assert!(diff(&plans).contains("split gen_ai.openai.api_base"));
    let (_, plans) = migrate_bytes(&out, InputFormat::Json, Options::default());
    assert!(plans.is_empty(), "{}", diff(&plans));
    // With server.address already there, the URL is left alone.
    let text = text.replace(
        r#"{"key":"ai.operationId""#,
        r#"{"key":"server.address","value":{"stringValue":"proxy"}},{"key":"ai.operationId""#,
    );
    let (out, _) = migrate_bytes(text.as_bytes(), InputFormat::Json, Options::default());
    assert!(
        attributes_of(&out)
            .iter()
            .any(|a| a.starts_with("gen_ai.openai.api_base"))
    );
}

#[test]
fn openinference_invocation_parameters_provider_pairs_and_completions() {
    let text = doc(
        "Completion",
        &[
            ("openinference.span.kind", "LLM"),
            ("llm.provider", "azure"),
            ("llm.system", "openai"),
            ("llm.model_name", "gpt-35-turbo-instruct"),
            (
                "llm.invocation_parameters",
                r#"{\"model\": \"gpt-35-turbo-instruct\", \"temperature\": 0.5, \"max_tokens\": 16, \"stop\": \"END\", \"seed\": 7, \"user\": null}"#,
            ),
            ("llm.prompts.0.prompt.text", "Say hi"),
            ("llm.choices.0.completion.text", "hi"),
        ],
    );
    let (out, plans) = migrate_bytes(text.as_bytes(), InputFormat::Json, Options::default());
    insta::assert_snapshot!("diff@openinference-completion", diff(&plans));
    insta::assert_snapshot!(
        "migrated@openinference-completion",
        listing(&model(&out, InputFormat::Json))
    );
    let attrs = attributes_of(&out);
    for expected in [
        r#"gen_ai.operation.name = "text_completion""#,
        r#"gen_ai.provider.name = "azure.ai.openai""#,
        "gen_ai.request.temperature = 0.5",
        "gen_ai.request.max_tokens = 16",
        "gen_ai.request.seed = 7",
        r#"gen_ai.request.stop_sequences = ["END"]"#,
        r#"gen_ai.input.messages = "[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"Say hi\"}]}]""#,
        r#"gen_ai.output.messages = "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"hi\"}],\"finish_reason\":\"stop\"}]""#,
    ] {
        assert!(
            attrs.iter().any(|a| a == expected),
            "{expected}: {attrs:#?}"
        );
    }
    // Every field found a home: the source goes; so do both provider keys.
    for gone in ["llm.invocation_parameters", "llm.provider", "llm.system"] {
        assert!(!attrs.iter().any(|a| a.starts_with(gone)), "{gone}");
    }
    let (_, plans) = migrate_bytes(&out, InputFormat::Json, Options::default());
    assert!(plans.is_empty(), "{}", diff(&plans));

    // An unknown field keeps the source (lossless), so does a different value; a
    // provider without a matching case is left to the renames (the system wins).
    let text = doc(
        "ChatCompletion",
        &[
            ("openinference.span.kind", "LLM"),
            ("llm.provider", "openrouter"),
            ("llm.system", "anthropic"),
            ("llm.model_name", "m"),
            (
                "llm.invocation_parameters",
                r#"{\"model\": \"other\", \"top_p\": 1, \"logit_bias\": {\"1\": 2}}"#,
            ),
        ],
    );
    let (out, plans) = migrate_bytes(text.as_bytes(), InputFormat::Json, Options::default());
    let attrs = attributes_of(&out);
    for expected in [
        r#"gen_ai.operation.name = "chat""#,
        r#"gen_ai.provider.name = "anthropic""#,
        r#"llm.provider = "openrouter""#,
        "gen_ai.request.top_p = 1.0",
        r#"gen_ai.request.model = "m""#,
    ] {
        assert!(
            attrs.iter().any(|a| a == expected),
            "{expected}: {attrs:#?}"
        );
    }
    assert!(
        attrs
            .iter()
            .any(|a| a.starts_with("llm.invocation_parameters"))
    );
    assert!(
        diff(&plans).contains("+ gen_ai.request.top_p=1.0"),
        "{}",
        diff(&plans)
    );
    let (_, plans) = migrate_bytes(&out, InputFormat::Json, Options::default());
    assert!(plans.is_empty(), "{}", diff(&plans));
}

#[test]
fn bare_prompt_and_completion_become_messages() {
    let text = doc(
        "chat m",
        &[
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.request.model", "m"),
            ("gen_ai.provider.name", "openai"),
            (
                "gen_ai.prompt",
                r"system: be brief\nuser: capital of France?",
            ),
            ("gen_ai.completion", "Paris."),
        ],
    );
    let (out, plans) = migrate_bytes(text.as_bytes(), InputFormat::Json, Options::default());
    let attrs = attributes_of(&out);
    for expected in [
        r#"gen_ai.input.messages = "[{\"role\":\"system\",\"parts\":[{\"type\":\"text\",\"content\":\"be brief\"}]},{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"capital of France?\"}]}]""#,
        r#"gen_ai.output.messages = "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"Paris.\"}],\"finish_reason\":\"stop\"}]""#,
    ] {
        assert!(
            attrs.iter().any(|a| a == expected),
            "{expected}: {attrs:#?}"
        );
    }
    assert!(!attrs.iter().any(|a| a.starts_with("gen_ai.prompt ")));
    assert!(diff(&plans).contains("convert gen_ai.prompt → gen_ai.input.messages"));
    let (_, plans) = migrate_bytes(&out, InputFormat::Json, Options::default());
    assert!(plans.is_empty(), "{}", diff(&plans));
}

#[test]
fn openlit_llm_keys_and_base_url() {
    let text = doc(
        "crawl",
        &[
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.llm.provider", "openai"),
            ("gen_ai.llm.model", "gpt-4o"),
            ("gen_ai.llm.base_url", "https://api.openai.com/v1"),
        ],
    );
    let (out, _) = migrate_bytes(text.as_bytes(), InputFormat::Json, Options::default());
    let attrs = attributes_of(&out);
    for expected in [
        r#"gen_ai.provider.name = "openai""#,
        r#"gen_ai.request.model = "gpt-4o""#,
        r#"server.address = "api.openai.com""#,
        "server.port = 443",
    ] {
        assert!(
            attrs.iter().any(|a| a == expected),
            "{expected}: {attrs:#?}"
        );
    }
    assert!(
        !attrs.iter().any(|a| a.starts_with("gen_ai.llm.")),
        "{attrs:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Deprecated message events (fixtures/migrate: hand-written, no real dump has them).

const EVENT_FIXTURES: &[&str] = &["content-events", "message-events", "vercel-stream-events"];

/// A JSON dump (one request per line) as a protobuf dump of the same requests.
fn json_to_proto(json: &[u8]) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message as _;
    let messages: Vec<Vec<u8>> = String::from_utf8_lossy(json)
        .lines()
        .map(|line| {
            serde_json::from_str::<ExportTraceServiceRequest>(line)
                .unwrap()
                .encode_to_vec()
        })
        .collect();
    assert_eq!(messages.len(), 1, "one request per fixture");
    messages.into_iter().next().unwrap()
}

/// Like [`listing`], with each span's events (name and attribute keys).
fn listing_with_events(batches: &[Batch<'static>]) -> String {
    let mut out = listing(batches);
    for span in spans(batches) {
        for e in &span.events {
            let keys: Vec<&str> = e.attributes.iter().map(|a| a.key.as_ref()).collect();
            out.push_str(&format!(
                "event {:?} on {} [{}]\n",
                e.name,
                span.span_id,
                keys.join(", ")
            ));
        }
    }
    out
}

#[test]
fn message_events_become_message_attributes_in_both_formats() {
    for name in EVENT_FIXTURES {
        let json = std::fs::read(format!("fixtures/migrate/{name}.jsonl")).unwrap();
        let pb = json_to_proto(&json);
        for dual_emit in [false, true] {
            let options = Options {
                dual_emit,
                ..Options::default()
            };
            let (json_out, json_plans) = migrate_bytes(&json, InputFormat::Json, options.clone());
            let (pb_out, pb_plans) = migrate_bytes(&pb, InputFormat::Proto, options.clone());
            assert_eq!(diff(&json_plans), diff(&pb_plans), "{name}");
            let json_model = model(&json_out, InputFormat::Json);
            assert_eq!(json_model, model(&pb_out, InputFormat::Proto), "{name}");
            if !dual_emit {
                insta::assert_snapshot!(format!("diff@{name}"), diff(&json_plans));
                insta::assert_snapshot!(
                    format!("migrated@{name}"),
                    listing_with_events(&json_model)
                );
            }
            // Each event's name and attribute keys.
            let events = |m: &[Batch<'static>]| -> Vec<String> {
                spans(m)
                    .iter()
                    .flat_map(|s| &s.events)
                    .map(|e| {
                        let keys: Vec<&str> = e.attributes.iter().map(|a| a.key.as_ref()).collect();
                        format!("{} {keys:?}", e.name)
                    })
                    .collect()
            };
            let before = events(&model(&json, InputFormat::Json));
            let after = events(&json_model);
            if dual_emit {
                assert_eq!(before, after, "{name}: --dual-emit keeps the events");
            } else {
                // Converted events (or their hoisted attributes) go; others stay as they were
                // (`retry`, `ai.stream.finish`, the event with an unknown attribute).
                assert_ne!(before, after, "{name}");
                let names = |v: &[String]| -> Vec<String> {
                    v.iter()
                        .map(|e| e.split(' ').next().unwrap().to_string())
                        .collect()
                };
                assert!(names(&after).iter().all(|e| names(&before).contains(e)));
            }
            // Migrating the output again changes nothing, in both formats.
            for (out, format) in [(json_out, InputFormat::Json), (pb_out, InputFormat::Proto)] {
                let (again, plans) = migrate_bytes(&out, format, options.clone());
                assert!(!plans.iter().any(|p| p.changed), "{}", diff(&plans));
                assert_eq!(again, out, "{name} {format:?} dual {dual_emit}");
            }
        }
    }
}

#[test]
fn removed_events_keep_the_json_layout_around_them() {
    let json = std::fs::read_to_string("fixtures/migrate/content-events.jsonl").unwrap();
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let pretty = serde_json::to_string_pretty(&doc).unwrap();
    let (out, _) = migrate_bytes(pretty.as_bytes(), InputFormat::Json, Options::default());
    let out = String::from_utf8(out).unwrap();
    // Still one pretty document, the kept event as it was written.
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let first = &parsed["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(first["events"].as_array().unwrap().len(), 1);
    assert_eq!(first["events"][0]["name"], "retry");
    assert!(out.contains("\"name\": \"retry\""), "{out}");
    // The second span lost all its events: an empty array.
    let second = &parsed["resourceSpans"][0]["scopeSpans"][0]["spans"][1];
    assert_eq!(second["events"], serde_json::json!([]));
}

#[test]
fn content_actions_reach_converted_and_kept_message_events() {
    let json = std::fs::read("fixtures/migrate/message-events.jsonl").unwrap();
    let (out, plans) = migrate_bytes(
        &json,
        InputFormat::Json,
        Options {
            content: ContentAction::Hash,
            ..Options::default()
        },
    );
    assert!(!diff(&plans).contains("Paris"));
    let m = model(&out, InputFormat::Json);
    let input = spans(&m)[0]
        .str_attribute("gen_ai.input.messages")
        .unwrap()
        .to_string();
    let parsed: serde_json::Value = serde_json::from_str(&input).unwrap();
    assert_eq!(
        parsed[1]["parts"][0]["content"],
        spanlint::migrate::engine::hex_sha256("Weather in Paris?")
    );
    assert_eq!(
        parsed[2]["parts"][0]["name"], "get_weather",
        "structure stays"
    );
    // --dual-emit keeps the events: their body content is hashed too.
    let (out, _) = migrate_bytes(
        &json,
        InputFormat::Json,
        Options {
            content: ContentAction::Drop,
            dual_emit: true,
            ..Options::default()
        },
    );
    let m = model(&out, InputFormat::Json);
    for span in spans(&m) {
        assert!(span.attribute("gen_ai.input.messages").is_none());
        for e in &span.events {
            assert!(
                e.attributes
                    .iter()
                    .all(|a| !matches!(a.key.as_ref(), "content" | "message" | "tool_calls")),
                "{e:?}"
            );
        }
    }
    // --content on legacy content events that stay is the existing event rule (tested above).
}

#[test]
fn the_first_chunk_event_time_moves_to_the_span_in_seconds() {
    let json = std::fs::read("fixtures/migrate/vercel-stream-events.jsonl").unwrap();
    for (bytes, format) in [
        (json.clone(), InputFormat::Json),
        (json_to_proto(&json), InputFormat::Proto),
    ] {
        let (out, _) = migrate_bytes(&bytes, format, Options::default());
        let m = model(&out, format);
        let spans = spans(&m);
        // From the span's own ms attribute, the event's copy then dropped as a duplicate.
        assert_eq!(
            spans[0]
                .attribute("gen_ai.response.time_to_first_chunk")
                .unwrap()
                .value,
            Value::Double(0.4125)
        );
        // From the event alone.
        assert_eq!(
            spans[1]
                .attribute("gen_ai.response.time_to_first_chunk")
                .unwrap()
                .value,
            Value::Double(0.3)
        );
        for span in spans {
            assert_eq!(span.events.len(), 2, "the events stay");
            assert!(span.events.iter().all(|e| e.attributes.is_empty()));
        }
    }
    // --target 1.37 has no time_to_first_chunk: the event keeps its attribute.
    let (out, _) = migrate_bytes(
        &json,
        InputFormat::Json,
        Options {
            target: Some("1.37".into()),
            ..Options::default()
        },
    );
    let m = model(&out, InputFormat::Json);
    assert_eq!(spans(&m)[1].events[0].attributes.len(), 1);
}

#[test]
fn check_after_migrating_message_events_has_no_deprecated_event() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = spanlint(&[
        "migrate",
        "fixtures/migrate",
        "-o",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = spanlint(&["check", "--format", "json", "fixtures/migrate"]);
    let before: serde_json::Value = serde_json::from_slice(&before.stdout).unwrap();
    let deprecated = |report: &serde_json::Value| -> Vec<String> {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"].as_str().unwrap().starts_with("deprecated-"))
            .map(|f| format!("{} {}", f["span_id"], f["rule"]))
            .collect()
    };
    assert!(deprecated(&before).len() > 5, "{:?}", deprecated(&before));
    let after = spanlint(&["check", "--format", "json", out_dir.to_str().unwrap()]);
    let after: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    // Only the span whose event holds an unknown attribute keeps its event.
    assert_eq!(
        deprecated(&after),
        ["\"2a2b3c4d5e6f7083\" \"deprecated-event\""],
        "{after:#}"
    );
    let shown = spanlint(&["migrate", "--diff", "fixtures/migrate/message-events.jsonl"]);
    let shown = String::from_utf8(shown.stdout).unwrap();
    assert!(
        shown.contains("+ gen_ai.input.messages=…") && shown.contains("5 span event(s)=…")
            || shown.contains("4 span event(s)=…"),
        "{shown}"
    );
    assert!(!shown.contains("Paris"), "{shown}");
}

#[test]
fn openinference_response_format_and_function_call() {
    let migrate_both = |text: &str| -> (Vec<String>, String) {
        let (json_out, plans) =
            migrate_bytes(text.as_bytes(), InputFormat::Json, Options::default());
        let (pb_out, pb_plans) = migrate_bytes(
            &json_to_proto(text.as_bytes()),
            InputFormat::Proto,
            Options::default(),
        );
        assert_eq!(diff(&plans), diff(&pb_plans));
        assert_eq!(
            model(&json_out, InputFormat::Json),
            model(&pb_out, InputFormat::Proto)
        );
        for (out, format) in [
            (&json_out, InputFormat::Json),
            (&pb_out, InputFormat::Proto),
        ] {
            let (again, plans) = migrate_bytes(out, format, Options::default());
            assert!(!plans.iter().any(|p| p.changed), "{}", diff(&plans));
            assert_eq!(&again, out);
        }
        (attributes_of(&json_out), diff(&plans))
    };
    let span = |params: &str, extra: &[(&'static str, &'static str)]| {
        let mut attrs = vec![
            ("openinference.span.kind", "LLM"),
            ("llm.system", "openai"),
            ("llm.model_name", "gpt-4o"),
        ];
        if !params.is_empty() {
            attrs.push(("llm.invocation_parameters", params));
        }
        attrs.extend_from_slice(extra);
        doc("ChatCompletion", &attrs)
    };
    let has = |attrs: &[String], key: &str| attrs.iter().any(|a| a.starts_with(&format!("{key} ")));

    // `{"type": "json_object"}`: every field homed, the source goes.
    let (attrs, d) = migrate_both(&span(
        r#"{\"model\": \"gpt-4o\", \"response_format\": {\"type\": \"json_object\"}}"#,
        &[],
    ));
    assert!(
        attrs.contains(&r#"gen_ai.output.type = "json""#.to_string()),
        "{attrs:#?}"
    );
    assert!(!has(&attrs, "llm.invocation_parameters"), "{attrs:#?}");
    insta::assert_snapshot!("diff@openinference-response-format", d);
    // A JSON schema has no attribute: the source stays next to gen_ai.output.type.
    let (attrs, _) = migrate_both(&span(
        r#"{\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"city\"}}}"#,
        &[],
    ));
    assert!(attrs.contains(&r#"gen_ai.output.type = "json""#.to_string()));
    assert!(has(&attrs, "llm.invocation_parameters"));
    // A string, and a type the conventions do not know (no home: the source stays).
    let (attrs, _) = migrate_both(&span(r#"{\"response_format\": \"text\"}"#, &[]));
    assert!(attrs.contains(&r#"gen_ai.output.type = "text""#.to_string()));
    let (attrs, _) = migrate_both(&span(
        r#"{\"response_format\": {\"type\": \"regex\"}}"#,
        &[],
    ));
    assert!(!has(&attrs, "gen_ai.output.type"), "{attrs:#?}");
    assert!(has(&attrs, "llm.invocation_parameters"));

    // A legacy function call, alone: one assistant message with the tool call.
    let call = r#"{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Paris\\\"}\"}"#;
    let (attrs, d) = migrate_both(&span("", &[("llm.function_call", call)]));
    assert!(
        attrs.contains(
            &r#"gen_ai.output.messages = "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"tool_call\",\"name\":\"get_weather\",\"arguments\":{\"city\": \"Paris\"}}],\"finish_reason\":\"tool_call\"}]""#
                .to_string()
        ),
        "{attrs:#?}"
    );
    assert!(!has(&attrs, "llm.function_call"));
    assert!(
        d.contains("convert llm.function_call → gen_ai.output.messages"),
        "{d}"
    );
    // Next to folded output messages: joins the last one.
    let (attrs, _) = migrate_both(&span(
        "",
        &[
            ("llm.output_messages.0.message.role", "assistant"),
            ("llm.function_call", call),
        ],
    ));
    assert!(
        attrs.contains(
            &r#"gen_ai.output.messages = "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"tool_call\",\"name\":\"get_weather\",\"arguments\":{\"city\": \"Paris\"}}],\"finish_reason\":\"stop\"}]""#
                .to_string()
        ),
        "{attrs:#?}"
    );
    // Output messages the span already had are never changed: the call stays beside them.
    let (attrs, d) = migrate_both(&span(
        "",
        &[
            (
                "gen_ai.output.messages",
                r#"[{\"role\":\"assistant\",\"parts\":[],\"finish_reason\":\"stop\"}]"#,
            ),
            ("llm.function_call", call),
        ],
    ));
    assert!(has(&attrs, "llm.function_call"));
    assert!(
        d.contains("conflict, kept: convert llm.function_call"),
        "{d}"
    );
}

/// Without the change text (every run but `--diff`), the output, the mappings the summary
/// counts and the shape of each change (added, removed, conflict) are the same.
#[test]
fn leaving_out_the_change_text_changes_nothing_else() {
    // Bytes of change text with and without it (a few rare kinds are still written).
    let (mut full_text, mut lean_text) = (0, 0);
    for path in real_fixtures() {
        let bytes = std::fs::read(&path).unwrap();
        let options = Options {
            content: ContentAction::Redact,
            ..Options::default()
        };
        let file = LoadedFile::from_bytes("dump", bytes, format_of(&path)).unwrap();
        let full = migrate_file(&file, &migrator(options.clone())).unwrap();
        let lean = migrate_file(&file, &migrator(options).without_change_text()).unwrap();
        assert_eq!(full.content, lean.content, "{}", path.display());
        assert_eq!(full.plans.len(), lean.plans.len(), "{}", path.display());
        for (f, l) in full.plans.iter().zip(&lean.plans) {
            assert_eq!(f.changes.len(), l.changes.len());
            for (f, l) in f.changes.iter().zip(&l.changes) {
                assert_eq!(f.mapping, l.mapping);
                assert_eq!(f.old.is_some(), l.old.is_some(), "{}", f.mapping);
                assert_eq!(f.new.is_some(), l.new.is_some(), "{}", f.mapping);
                full_text += f.old.iter().chain(&f.new).map(String::len).sum::<usize>();
                lean_text += l.old.iter().chain(&l.new).map(String::len).sum::<usize>();
            }
        }
    }
    assert!(
        lean_text * 10 < full_text,
        "{lean_text} of {full_text} bytes"
    );
}
