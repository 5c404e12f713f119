//! End-to-end tests: run the built `spanlint` binary as a user would and check its output and
//! exit status. Snapshots of the human and JSON reports for every real fixture live in
//! `tests/snapshots/cli__*.snap`; review changes with `cargo insta review`.
//!
//! New CLI behaviour gets a test here; per-rule behaviour goes to `tests/rules.rs`.

mod common;

use common::{json, spanlint, spanlint_with_stdin, stderr, stdout};

use std::path::Path;

use assert_cmd::Command;

fn real_fixtures(extension: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("fixtures/real")
        .expect("fixtures/real exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .map(|p| p.display().to_string())
        .collect();
    names.sort();
    assert!(
        names.len() >= 11,
        "expected the real fixtures, found {names:?}"
    );
    names
}

fn stem(path: &str) -> String {
    Path::new(path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace('.', "_")
}

#[test]
fn human_report_of_every_real_json_fixture() {
    for path in real_fixtures("jsonl") {
        let output = spanlint(&["check", &path]);
        let code = output.status.code();
        insta::with_settings!({ snapshot_suffix => stem(&path), description => format!("spanlint check {path}") }, {
            insta::assert_snapshot!("human", format!("exit: {code:?}\n{}", stdout(&output)));
        });
    }
}

#[test]
fn json_report_of_every_real_fixture_in_both_formats() {
    for path in real_fixtures("jsonl")
        .into_iter()
        .chain(real_fixtures("pb"))
    {
        let output = spanlint(&["check", "--format", "json", &path]);
        insta::with_settings!({ snapshot_suffix => stem(&path), description => format!("spanlint check --format json {path}") }, {
            insta::assert_json_snapshot!("json", json(&output));
        });
    }
}

#[test]
fn human_report_of_protobuf_gives_byte_offsets() {
    let output = spanlint(&["check", "fixtures/real/openai-v2-chat.pb"]);
    let text = stdout(&output);
    assert!(
        text.contains("at fixtures/real/openai-v2-chat.pb: byte "),
        "{text}"
    );
    insta::assert_snapshot!(format!("exit: {:?}\n{text}", output.status.code()));
}

/// The JSON and protobuf twins of a real dump hold the same request, so they must give the same
/// findings; only positions differ.
#[test]
fn json_and_protobuf_twins_give_the_same_findings() {
    for path in real_fixtures("jsonl") {
        let twin = path.replace(".jsonl", ".pb");
        let strip = |v: serde_json::Value| -> Vec<serde_json::Value> {
            v["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    let mut f = f.clone();
                    for key in ["file", "line", "column", "offset"] {
                        f.as_object_mut().unwrap().remove(key);
                    }
                    f
                })
                .collect()
        };
        let from_json = strip(json(&spanlint(&["check", "--format", "json", &path])));
        let from_proto = strip(json(&spanlint(&["check", "--format", "json", &twin])));
        assert!(!from_json.is_empty(), "{path} has findings");
        assert_eq!(from_json, from_proto, "{path} vs {twin}");
    }
}

#[test]
fn findings_exit_1_and_a_clean_dump_exits_0() {
    let dirty = spanlint(&["check", "fixtures/real/openai-v2-chat.jsonl"]);
    assert_eq!(dirty.status.code(), Some(1));
    let clean = spanlint(&[
        "check",
        "fixtures/rules/missing-required-attribute/clean.json",
    ]);
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));
    assert!(
        stdout(&clean).contains("0 errors, 0 warnings"),
        "{}",
        stdout(&clean)
    );
}

#[test]
fn fail_on_sets_the_threshold() {
    // Only warnings in this file: deprecated values.
    let path = "fixtures/rules/deprecated-value/old-provider-values.json";
    let default = spanlint(&["check", path]);
    assert_eq!(default.status.code(), Some(0), "{}", stdout(&default));
    let warning = spanlint(&["check", "--fail-on", "warning", path]);
    assert_eq!(warning.status.code(), Some(1));
    let never = spanlint(&[
        "check",
        "--fail-on",
        "never",
        "fixtures/real/openai-v2-chat.jsonl",
    ]);
    assert_eq!(never.status.code(), Some(0));
}

#[test]
fn reads_standard_input() {
    let dump = std::fs::read("fixtures/real/openai-v2-chat.jsonl").unwrap();
    let output = spanlint_with_stdin(&["check", "--format", "json", "-"], &dump);
    assert_eq!(output.status.code(), Some(1));
    let report = json(&output);
    assert_eq!(report["summary"]["spans"], 1);
    assert_eq!(report["findings"][0]["file"], "<stdin>");
    let proto = std::fs::read("fixtures/real/openai-v2-chat.pb").unwrap();
    let output = spanlint_with_stdin(&["check", "--format", "json", "-"], &proto);
    assert_eq!(json(&output)["summary"]["spans"], 1, "{}", stderr(&output));
}

#[test]
fn json_summary_counts_files_spans_and_severities() {
    let output = spanlint(&["check", "--format", "json", "fixtures/real"]);
    let report = json(&output);
    let summary = &report["summary"];
    assert_eq!(summary["files"], 22);
    let findings = report["findings"].as_array().unwrap();
    let count = |severity: &str| {
        findings
            .iter()
            .filter(|f| f["severity"] == severity)
            .count()
    };
    assert_eq!(summary["errors"], count("error"));
    assert_eq!(summary["warnings"], count("warning"));
    assert!(summary["genai_spans"].as_u64() <= summary["spans"].as_u64());
}

/// Every sentence-like string value of a dump (prompts, completions, tool results).
fn prose_values(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match v {
                    serde_json::Value::String(s)
                        if key == "stringValue" && s.len() >= 12 && s.contains(' ') =>
                    {
                        out.push(s.clone())
                    }
                    _ => prose_values(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| prose_values(v, out)),
        _ => {}
    }
}

#[test]
fn reports_never_print_recorded_content() {
    // The dumps record prompts, completions and tool results; none of that text may reach a
    // report in any format, neither in messages nor in the JSON excerpts of the human format.
    let mut paths = real_fixtures("jsonl");
    paths.push("fixtures/rules/content-recorded/prompts-and-completions.json".to_string());
    let mut checked = 0;
    for path in paths {
        let mut values = Vec::new();
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            if let Ok(doc) = serde_json::from_str::<serde_json::Value>(line) {
                prose_values(&doc, &mut values);
            }
        }
        let pretty: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap_or_default();
        prose_values(&pretty, &mut values);
        let reports: Vec<String> = [
            "human", "concise", "json", "jsonl", "sarif", "github", "gitlab", "junit",
        ]
        .iter()
        .map(|format| stdout(&spanlint(&["check", "--format", format, &path])))
        .collect();
        for value in &values {
            // Compare a distinctive slice: a snippet could carry part of a long value.
            let chars: Vec<char> = value.chars().collect();
            let probe: String = if chars.len() <= 30 {
                value.clone()
            } else {
                chars[chars.len() / 2 - 10..chars.len() / 2 + 10]
                    .iter()
                    .collect()
            };
            let escaped = serde_json::to_string(&probe).unwrap();
            let escaped = escaped.trim_matches('"');
            for report in &reports {
                assert!(
                    !report.contains(&probe) && !report.contains(escaped),
                    "{path}: report shows content {probe:?}"
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked > 20,
        "the fixtures hold recorded content ({checked} values)"
    );
}

#[test]
fn a_missing_path_is_an_error_but_other_files_are_still_checked() {
    let output = spanlint(&[
        "check",
        "--format",
        "json",
        "does/not/exist.jsonl",
        "fixtures/real/openai-v2-chat.jsonl",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("does/not/exist.jsonl"),
        "{}",
        stderr(&output)
    );
    assert_eq!(json(&output)["summary"]["files"], 1);
}

#[test]
fn an_invalid_rules_file_exits_2_and_points_at_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    let builtin = std::fs::read_to_string("rules/genai.toml").unwrap();
    std::fs::write(
        &rules,
        builtin.replacen("[content]", "[content]\npolicee = \"allow\"", 1),
    )
    .unwrap();
    let output = spanlint(&[
        "check",
        "--rules",
        rules.to_str().unwrap(),
        "fixtures/real/openai-v2-chat.jsonl",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("policee"), "{err}");
    assert!(err.contains("rules.toml:"), "{err}");
}

#[test]
fn a_rules_file_can_allow_content() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    let builtin = std::fs::read_to_string("rules/genai.toml").unwrap();
    let allowed = builtin.replacen("policy = \"forbid\"", "policy = \"allow\"", 1);
    assert_ne!(
        allowed, builtin,
        "the built-in file sets policy = \"forbid\""
    );
    std::fs::write(&rules, allowed).unwrap();
    let path = "fixtures/rules/content-recorded/prompts-and-completions.json";
    let has_content_finding = |args: &[&str]| {
        json(&spanlint(args))["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "content-recorded")
    };
    assert!(has_content_finding(&["check", "--format", "json", path]));
    assert!(!has_content_finding(&[
        "check",
        "--format",
        "json",
        "--rules",
        rules.to_str().unwrap(),
        path
    ]));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(spanlint(&["check"]).status.code(), Some(2));
    assert_eq!(
        spanlint(&["check", "--format", "yaml", "x"]).status.code(),
        Some(2)
    );
}

#[test]
fn version_names_the_conventions() {
    let output = spanlint(&["--version"]);
    assert!(stdout(&output).contains("GenAI"), "{}", stdout(&output));
}

/// The human report's `file:line:column` headers agree with the JSON report's positions.
#[test]
fn human_and_json_positions_agree() {
    for path in real_fixtures("jsonl") {
        let human = stdout(&spanlint(&["check", &path]));
        let headers: Vec<String> = human
            .lines()
            .filter_map(|l| {
                l.split_once("╭─[")
                    .map(|(_, rest)| rest.trim_end_matches(']').to_string())
            })
            .collect();
        let report = json(&spanlint(&["check", "--format", "json", &path]));
        // Trace-level findings have no snippet (the file's text is gone when they run), so
        // no source header in the human report.
        let positions: Vec<String> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| {
                !spanlint::rules::TRACE_RULES
                    .iter()
                    .any(|r| f["rule"] == r.info.id)
            })
            .map(|f| {
                format!(
                    "{}:{}:{}",
                    f["file"].as_str().unwrap(),
                    f["line"],
                    f["column"]
                )
            })
            .collect();
        assert_eq!(headers, positions, "{path}");
    }
}

/// `(rule, attribute, span id)` of every finding, the part of a report that does not depend on
/// where the input came from.
fn finding_keys(paths: &[&str]) -> Vec<(String, String, String)> {
    let mut args = vec!["check", "--format", "json", "--fail-on", "never"];
    args.extend_from_slice(paths);
    let output = spanlint(&args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{paths:?}: {}",
        stderr(&output)
    );
    let mut keys: Vec<_> = json(&output)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["attribute"].as_str().unwrap_or("-").to_string(),
                f["span_id"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    keys.sort();
    keys
}

#[test]
fn every_layout_and_compression_gives_the_findings_of_its_source() {
    let cases: &[(&str, &[&str])] = &[
        (
            "fixtures/input/openai-v2-chat.pretty.json",
            &["fixtures/real/openai-v2-chat.jsonl"],
        ),
        (
            "fixtures/input/concatenated.json",
            &[
                "fixtures/real/openai-v2-chat.jsonl",
                "fixtures/real/openai-v2-error.jsonl",
            ],
        ),
        (
            "fixtures/input/two-lines.jsonl",
            &[
                "fixtures/real/openai-v2-chat.jsonl",
                "fixtures/real/openai-v2-tool.jsonl",
            ],
        ),
        (
            "fixtures/input/proto-field-names.json",
            &["fixtures/real/openai-v2-chat.jsonl"],
        ),
        (
            "fixtures/input/two-lines.jsonl.gz",
            &["fixtures/input/two-lines.jsonl"],
        ),
        (
            "fixtures/input/two-lines.jsonl.zst",
            &["fixtures/input/two-lines.jsonl"],
        ),
        (
            "fixtures/input/openai-v2-chat.pb.zst",
            &["fixtures/real/openai-v2-chat.pb"],
        ),
        (
            "fixtures/input/stream.binpb",
            &[
                "fixtures/real/openai-v2-chat.pb",
                "fixtures/real/openai-v2-tool.pb",
                "fixtures/real/vercel-ai-chat.pb",
            ],
        ),
        (
            "fixtures/input/stream.binpb.zst",
            &["fixtures/input/stream.binpb"],
        ),
        (
            "fixtures/input/framed-zstd-json.jsonl.zst",
            &["fixtures/input/two-lines.jsonl"],
        ),
        (
            "fixtures/input/framed-zstd-proto.binpb.zst",
            &[
                "fixtures/real/openai-v2-chat.pb",
                "fixtures/real/openai-v2-tool.pb",
            ],
        ),
    ];
    for (variant, sources) in cases {
        let expected = finding_keys(sources);
        assert!(!expected.is_empty(), "{sources:?}");
        assert_eq!(finding_keys(&[variant]), expected, "{variant}");
    }
}

#[test]
fn a_directory_is_searched_for_dumps_and_a_glob_is_expanded() {
    let output = spanlint(&["check", "--format", "json", "fixtures/input"]);
    let report = json(&output);
    // 11 dumps; README.md and make.sh are not dumps.
    assert_eq!(report["summary"]["files"], 11, "{}", stderr(&output));
    // Span-level findings come in file order (trace-level ones, known only after the last
    // file, follow them).
    let files: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            !spanlint::rules::TRACE_RULES
                .iter()
                .any(|r| f["rule"] == r.info.id)
        })
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert!(files.len() > 10, "{files:?}");
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(files, sorted, "findings come in file order");

    let output = spanlint(&["check", "--format", "json", "fixtures/real/*.pb"]);
    assert_eq!(json(&output)["summary"]["files"], 11);
    let output = spanlint(&["check", "--format", "json", "fixtures/**/openai-v2-chat.*"]);
    assert_eq!(
        json(&output)["summary"]["files"],
        4,
        "jsonl, pb, pretty.json, pb.zst"
    );
}

#[test]
fn a_glob_that_matches_nothing_is_an_error() {
    let output = spanlint(&["check", "fixtures/real/*.nothing"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("fixtures/real/*.nothing"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn bad_inputs_exit_2_name_file_and_position_and_do_not_stop_the_run() {
    let cases = [
        ("tests/data/bad/truncated.jsonl", "truncated.jsonl:2:"),
        ("tests/data/bad/truncated.pb", "truncated.pb: byte "),
        ("tests/data/bad/not-otlp.json", "not-otlp.json:1:1"),
        ("tests/data/bad/random.bin", "random.bin: byte "),
        ("tests/data/bad/empty.json", "empty.json: empty file"),
    ];
    for (bad, expected) in cases {
        let output = spanlint(&[
            "check",
            "--format",
            "json",
            bad,
            "fixtures/real/openai-v2-chat.jsonl",
        ]);
        assert_eq!(output.status.code(), Some(2), "{bad}");
        let err = stderr(&output);
        assert!(err.contains(expected), "{bad}: {err}");
        assert!(!err.contains("panicked"), "{bad}: {err}");
        let report = json(&output);
        let good_file_findings = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["file"] == "fixtures/real/openai-v2-chat.jsonl")
            .count();
        // Three span findings, the recommended-attributes info and the trace's missing context.
        assert_eq!(
            good_file_findings, 5,
            "{bad}: the good file is still checked"
        );
    }
    // The first line of a dump truncated in its second line is still checked.
    let output = spanlint(&[
        "check",
        "--format",
        "json",
        "tests/data/bad/truncated.jsonl",
    ]);
    assert_eq!(json(&output)["summary"]["spans"], 1);
}

#[test]
fn input_format_overrides_detection() {
    let output = spanlint(&[
        "check",
        "--input-format",
        "proto",
        "fixtures/real/openai-v2-chat.jsonl",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("invalid OTLP protobuf"),
        "{}",
        stderr(&output)
    );
    let output = spanlint(&[
        "check",
        "--input-format",
        "json",
        "fixtures/real/openai-v2-chat.pb",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("openai-v2-chat.pb"),
        "{}",
        stderr(&output)
    );
    let output = spanlint(&[
        "check",
        "--input-format",
        "json",
        "fixtures/real/openai-v2-chat.jsonl",
    ]);
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let path = "fixtures/real/openai-v2-chat.jsonl";
    assert!(!stdout(&spanlint(&["check", path])).contains('\u{1b}'));
    assert!(stdout(&spanlint(&["check", "--color", "always", path])).contains("\u{1b}["));
    assert!(
        !stdout(&spanlint(&[
            "check", "--format", "json", "--color", "always", path
        ]))
        .contains('\u{1b}')
    );
}

#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("spanlint"))
        .args(["check", "fixtures", "fixtures", "fixtures"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // Dropping our end closes the pipe while spanlint still has most of its report to write.
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn rules_file_prints_the_built_in_rules_and_a_typo_in_a_custom_copy_is_an_error() {
    let output = spanlint(&["rules-file"]);
    assert_eq!(output.status.code(), Some(0));
    let builtin = stdout(&output);
    assert_eq!(
        builtin,
        std::fs::read_to_string("rules/genai.toml").unwrap()
    );

    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    let typo = builtin.replacen(
        "attribute = \"gen_ai.tool.name\"\nlevel = \"required\"",
        "attribute = \"gen_ai.tool.nmae\"\nlevel = \"required\"",
        1,
    );
    assert_ne!(typo, builtin);
    std::fs::write(&rules, typo).unwrap();
    let output = spanlint(&[
        "check",
        "--rules",
        rules.to_str().unwrap(),
        "fixtures/real/openai-v2-tool.jsonl",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("gen_ai.tool.nmae"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn json_report_lists_input_errors() {
    let output = spanlint(&[
        "check",
        "--format",
        "json",
        "tests/data/bad/truncated.pb",
        "nope.jsonl",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let report = json(&output);
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(report["summary"]["input_errors"], 2);
    let proto = errors
        .iter()
        .find(|e| e["file"] == "tests/data/bad/truncated.pb")
        .unwrap();
    assert_eq!(proto["code"], "spanlint::proto");
    assert!(proto["offset"].is_u64());
    assert!(
        errors
            .iter()
            .any(|e| e["file"] == "nope.jsonl" && e["code"] == "spanlint::not_found")
    );
}

const FORMATS: [&str; 8] = [
    "human", "concise", "json", "jsonl", "sarif", "github", "gitlab", "junit",
];

#[test]
fn every_format_exits_0_clean_1_findings_2_bad_input() {
    let clean = "fixtures/rules/missing-required-attribute/clean.json";
    let dirty = "fixtures/real/openai-v2-chat.jsonl";
    for format in FORMATS {
        let code = |paths: &[&str]| {
            let mut args = vec!["check", "--format", format];
            args.extend_from_slice(paths);
            spanlint(&args).status.code()
        };
        assert_eq!(code(&[clean]), Some(0), "{format}");
        assert_eq!(code(&[dirty]), Some(1), "{format}");
        assert_eq!(
            code(&[dirty, "tests/data/bad/truncated.pb"]),
            Some(2),
            "{format}"
        );
    }
}

#[test]
fn exit_zero_ignores_findings_but_not_input_errors() {
    let dirty = "fixtures/real/openai-v2-chat.jsonl";
    let output = spanlint(&["check", "--exit-zero", "--fail-on", "info", dirty]);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        stdout(&output).contains("1 error, 2 warnings"),
        "{}",
        stdout(&output)
    );
    let output = spanlint(&["check", "--exit-zero", dirty, "tests/data/bad/truncated.pb"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn output_writes_the_report_to_a_file_and_the_summary_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let dirty = "fixtures/real/openai-v2-chat.jsonl";
    for format in FORMATS {
        let file = dir.path().join(format!("report.{format}"));
        let output = spanlint(&[
            "check",
            "--format",
            format,
            "--output",
            file.to_str().unwrap(),
            dirty,
        ]);
        assert_eq!(output.status.code(), Some(1), "{format}");
        assert_eq!(stdout(&output), "", "{format}: nothing on stdout");
        assert_eq!(
            stderr(&output),
            "1 span (1 GenAI) in 1 file: 1 error, 2 warnings, 2 infos\n",
            "{format}"
        );
        let written = std::fs::read_to_string(&file).unwrap();
        let direct = stdout(&spanlint(&["check", "--format", format, dirty]));
        assert_eq!(written, direct, "{format}: the file holds the report");
    }
    // A report that cannot be written is an error.
    let output = spanlint(&["check", "--output", "no/such/dir/report.txt", dirty]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no/such/dir/report.txt"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn quiet_prints_only_the_summary() {
    let dirty = "fixtures/real/openai-v2-chat.jsonl";
    for format in ["human", "concise"] {
        let output = spanlint(&["check", "--quiet", "--format", format, dirty]);
        assert_eq!(output.status.code(), Some(1));
        assert_eq!(
            stdout(&output),
            "1 span (1 GenAI) in 1 file: 1 error, 2 warnings, 2 infos\n"
        );
    }
    // A tool reads a machine format whole, quiet or not.
    let quiet = spanlint(&["check", "-q", "--format", "json", dirty]);
    assert_eq!(json(&quiet)["findings"].as_array().unwrap().len(), 5);
    // Quiet and statistics contradict each other.
    assert_eq!(
        spanlint(&["check", "-q", "--statistics", dirty])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn statistics_count_findings_per_rule() {
    let report = json(&spanlint(&["check", "--format", "json", "fixtures/real"]));
    let mut expected: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for f in report["findings"].as_array().unwrap() {
        let key = (
            f["rule"].as_str().unwrap().to_string(),
            f["severity"].as_str().unwrap().to_string(),
        );
        *expected.entry(key).or_default() += 1;
    }
    let output = spanlint(&["check", "--statistics", "fixtures/real"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let mut lines: Vec<&str> = text.lines().collect();
    let summary = lines.pop().unwrap();
    assert!(summary.contains("in 22 files"), "{text}");
    let mut seen = std::collections::BTreeMap::new();
    let mut previous = usize::MAX;
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let count: usize = fields[0].parse().unwrap();
        assert!(count <= previous, "most frequent first: {text}");
        previous = count;
        seen.insert((fields[2].to_string(), fields[1].to_string()), count);
    }
    assert_eq!(seen, expected);
    insta::assert_snapshot!(text);
    // Statistics are for people; a machine format with them is a usage error.
    let output = spanlint(&[
        "check",
        "--statistics",
        "--format",
        "sarif",
        "fixtures/real",
    ]);
    assert_eq!(output.status.code(), Some(2));
}

/// Runs spanlint under a pseudo-terminal (`script` from util-linux), so `--color auto` sees a
/// terminal. Returns `None` where `script` is missing.
fn spanlint_on_a_terminal(args: &str, no_color: bool) -> Option<String> {
    let binary = assert_cmd::cargo::cargo_bin("spanlint");
    let mut command = std::process::Command::new("script");
    command
        .args(["-qec", &format!("{} {args}", binary.display()), "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("CLICOLOR_FORCE");
    if no_color {
        command.env("NO_COLOR", "1");
    } else {
        command.env_remove("NO_COLOR");
    }
    let output = command.output().ok()?;
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn no_color_turns_colour_off_on_a_terminal() {
    let args = "check fixtures/real/openai-v2-chat.jsonl";
    let Some(coloured) = spanlint_on_a_terminal(args, false) else {
        eprintln!("skipped: no `script` to make a terminal");
        return;
    };
    assert!(
        coloured.contains("\u{1b}["),
        "a terminal gets colour: {coloured}"
    );
    let plain = spanlint_on_a_terminal(args, true).unwrap();
    assert!(plain.contains("missing-required-attribute"), "{plain}");
    assert!(!plain.contains("\u{1b}["), "NO_COLOR: {plain}");
    // Machine formats are never coloured, even on a terminal.
    let sarif = spanlint_on_a_terminal(&format!("{args} --format sarif"), false).unwrap();
    assert!(sarif.contains("\"2.1.0\""), "{sarif}");
    assert!(!sarif.contains("\u{1b}["), "{sarif}");
}

#[test]
fn a_closed_pipe_ends_every_format_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    // Enough input that every report is larger than a pipe's buffer (64 KiB on Linux): ten
    // copies of the real dumps (arguments naming the same file twice are checked once).
    let dir = tempfile::tempdir().unwrap();
    for copy in 0..10 {
        let sub = dir.path().join(copy.to_string());
        std::fs::create_dir(&sub).unwrap();
        for path in real_fixtures("jsonl") {
            std::fs::copy(&path, sub.join(Path::new(&path).file_name().unwrap())).unwrap();
        }
    }
    let root = dir.path().to_str().unwrap();
    for format in FORMATS {
        let args = ["check", "--format", format, root];
        let full = spanlint(&args);
        assert!(
            full.stdout.len() > 128 * 1024,
            "{format}: {}",
            full.stdout.len()
        );
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("spanlint"))
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 16];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{format}");
        assert_eq!(String::from_utf8_lossy(&output.stderr), "", "{format}");
    }
}

#[test]
fn completions_for_every_shell_name_the_subcommands_and_flags() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = spanlint(&["completions", shell]);
        assert_eq!(output.status.code(), Some(0), "{shell}");
        let script = stdout(&output);
        for word in ["spanlint", "check", "format", "exit-zero", "completions"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
        // The shells whose scripts list values complete the format names too.
        if ["bash", "zsh", "fish"].contains(&shell) {
            assert!(script.contains("sarif"), "{shell} completion lacks formats");
        }
    }
    assert_eq!(spanlint(&["completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn man_pages_come_from_the_clap_definition() {
    let output = spanlint(&["man"]);
    assert_eq!(output.status.code(), Some(0));
    let page = stdout(&output);
    assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{page}");
    assert!(page.contains(".TH spanlint 1"), "{page}");
    assert!(page.contains("completions"), "{page}");
    let check = stdout(&spanlint(&["man", "check"]));
    assert!(check.contains(".TH spanlint-check 1"), "{check}");
    for flag in ["\\-\\-format", "\\-\\-output", "\\-\\-exit\\-zero", "sarif"] {
        assert!(check.contains(flag), "man check lacks {flag}");
    }
    assert_eq!(spanlint(&["man", "nope"]).status.code(), Some(2));
}

#[test]
fn help_shows_examples() {
    let help = stdout(&spanlint(&["check", "--help"]));
    for example in ["--format sarif --output", "--format github", "--statistics"] {
        assert!(help.contains(example), "check --help lacks {example}");
    }
    assert!(stdout(&spanlint(&["completions", "--help"])).contains("Examples:"));
    assert!(stdout(&spanlint(&["man", "--help"])).contains("Examples:"));
}

/// A dump checked in both of its formats holds every span twice; trace rules must see one
/// span, not two childless copies.
#[test]
fn a_span_read_twice_is_one_span_for_trace_rules() {
    let alone = finding_keys(&["fixtures/real/openai-v2-tool.jsonl"]);
    let twice = finding_keys(&[
        "fixtures/real/openai-v2-tool.jsonl",
        "fixtures/real/openai-v2-tool.pb",
    ]);
    let trace_rules = |keys: &[(String, String, String)]| -> Vec<String> {
        keys.iter()
            .filter(|(rule, _, _)| {
                ["shallow-trace", "orphan-span", "tool-outside-agent"].contains(&rule.as_str())
            })
            .map(|(rule, _, span)| format!("{rule} {span}"))
            .collect()
    };
    assert_eq!(trace_rules(&alone), Vec::<String>::new());
    assert_eq!(trace_rules(&twice), Vec::<String>::new());
}

#[test]
fn force_color_colours_a_pipe_and_no_color_wins() {
    let run = |vars: &[(&str, &str)]| {
        let mut command = Command::cargo_bin("spanlint").unwrap();
        command
            .args(["check", "fixtures/real/openai-v2-chat.jsonl"])
            .env_remove("NO_COLOR")
            .env_remove("FORCE_COLOR")
            .env_remove("CLICOLOR_FORCE");
        for (k, v) in vars {
            command.env(k, v);
        }
        stdout(&command.output().unwrap()).contains("\u{1b}[")
    };
    assert!(!run(&[]), "a pipe is not coloured by default");
    assert!(run(&[("FORCE_COLOR", "1")]));
    assert!(run(&[("CLICOLOR_FORCE", "1")]));
    assert!(!run(&[("FORCE_COLOR", "0")]));
    assert!(!run(&[("FORCE_COLOR", "1"), ("NO_COLOR", "1")]));
}

#[test]
fn gitlab_paths_are_relative_to_the_project_directory() {
    let root = std::env::current_dir().unwrap();
    let absolute = root.join("fixtures/real/openai-v2-chat.jsonl");
    let output = Command::cargo_bin("spanlint")
        .unwrap()
        .args(["check", "--format", "gitlab", absolute.to_str().unwrap()])
        .env("CI_PROJECT_DIR", &root)
        .output()
        .unwrap();
    let issues: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let paths: Vec<&str> = issues
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["location"]["path"].as_str().unwrap())
        .collect();
    assert!(!paths.is_empty());
    assert!(
        paths
            .iter()
            .all(|p| *p == "fixtures/real/openai-v2-chat.jsonl"),
        "{paths:?}"
    );
}
