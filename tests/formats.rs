//! Every `--format` of `check`, run end to end on the same fixtures (`fixtures/real/`): a
//! snapshot of each (`tests/snapshots/formats__*.snap`), and a test per format that parses the
//! output back and compares it with the JSON report, the reference for what was found.
//!
//! A new format gets a snapshot test and a parse-back test here; behaviour shared by all formats
//! (exit status, `--output`, `--quiet`) is tested in `tests/cli.rs`.

mod common;

use common::{spanlint, stdout};

use std::collections::{HashMap, HashSet};

use serde_json::Value;

const FORMATS: [&str; 8] = [
    "human", "concise", "json", "jsonl", "sarif", "github", "gitlab", "junit",
];

/// The fixtures every format is snapshotted on: one JSON and one protobuf dump of each of two
/// libraries, so each snapshot shows line/column and byte positions.
const SNAPSHOT_INPUTS: [&str; 4] = [
    "fixtures/real/openai-v2-chat.jsonl",
    "fixtures/real/openai-v2-chat.pb",
    "fixtures/real/openllmetry-legacy-tool.jsonl",
    "fixtures/real/vercel-ai-chat.pb",
];

/// `spanlint check --format FORMAT PATHS…` (exit status checked: 1, findings).
fn check(format: &str, paths: &[&str]) -> String {
    let mut args = vec!["check", "--format", format];
    args.extend_from_slice(paths);
    let output = spanlint(&args);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{format}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output)
}

/// The whole real fixture directory (22 dumps, JSON and protobuf).
fn all_real() -> Vec<&'static str> {
    vec!["fixtures/real"]
}

/// The JSON report's findings: the reference the other formats are compared with. Every
/// format is written while the files are checked, so all show every span-level finding first,
/// then the trace-level ones (known only after the last file), each in files' then file order.
fn reference(paths: &[&str]) -> Vec<Value> {
    let report: Value = serde_json::from_str(&check("json", paths)).unwrap();
    let findings = report["findings"].as_array().unwrap().clone();
    assert!(findings.len() > 20, "the real fixtures have findings");
    let is_trace_rule = |f: &Value| {
        spanlint::rules::TRACE_RULES
            .iter()
            .any(|rule| f["rule"] == rule.info.id)
    };
    let first_trace = findings.iter().position(is_trace_rule);
    assert!(
        first_trace.is_some(),
        "the real fixtures have trace findings"
    );
    assert!(
        findings[first_trace.unwrap()..].iter().all(is_trace_rule),
        "trace-level findings come last"
    );
    findings
}

fn snapshot(format: &str) {
    let text = check(format, &SNAPSHOT_INPUTS);
    insta::with_settings!({ description => format!("spanlint check --format {format} {}", SNAPSHOT_INPUTS.join(" ")) }, {
        insta::assert_snapshot!(format, text);
    });
}

#[test]
fn snapshot_human() {
    snapshot("human");
}
#[test]
fn snapshot_concise() {
    snapshot("concise");
}
#[test]
fn snapshot_json() {
    snapshot("json");
}
#[test]
fn snapshot_jsonl() {
    snapshot("jsonl");
}
#[test]
fn snapshot_sarif() {
    snapshot("sarif");
}
#[test]
fn snapshot_github() {
    snapshot("github");
}
#[test]
fn snapshot_gitlab() {
    snapshot("gitlab");
}
#[test]
fn snapshot_junit() {
    snapshot("junit");
}

/// `file:line:col` for JSON findings, `file: byte N` for protobuf ones.
fn place(finding: &Value) -> String {
    let file = finding["file"].as_str().unwrap();
    match finding["line"].as_u64() {
        Some(line) => format!("{file}:{line}:{}", finding["column"]),
        None => format!("{file}: byte {}", finding["offset"]),
    }
}

#[test]
fn concise_has_one_line_per_finding_then_the_summary() {
    let findings = reference(&all_real());
    let text = check("concise", &all_real());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), findings.len() + 1, "{text}");
    for (line, f) in lines.iter().zip(&findings) {
        let expected = format!(
            "{}: {}[{}] {} ({})",
            place(f),
            f["severity"].as_str().unwrap(),
            f["rule"].as_str().unwrap(),
            f["message"].as_str().unwrap(),
            f["span_name"].as_str().unwrap()
        );
        assert_eq!(*line, expected);
    }
    assert!(
        lines.last().unwrap().contains(" GenAI) in 22 files: "),
        "{text}"
    );
}

#[test]
fn jsonl_lines_are_the_json_findings_then_one_summary() {
    let findings = reference(&all_real());
    let text = check("jsonl", &all_real());
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is one JSON object"))
        .collect();
    let (summary, rest) = lines.split_last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["version"], 1);
    assert_eq!(summary["files"], 22);
    assert_eq!(rest.len(), findings.len());
    for (line, finding) in rest.iter().zip(&findings) {
        let mut line = line.clone();
        assert_eq!(line["type"], "finding");
        line.as_object_mut().unwrap().remove("type");
        assert_eq!(&line, finding);
    }
}

#[test]
fn jsonl_lists_input_errors_before_the_summary() {
    let output = spanlint(&[
        "check",
        "--format",
        "jsonl",
        "tests/data/bad/truncated.pb",
        "fixtures/real/openai-v2-chat.jsonl",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let types: Vec<String> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["type"].to_string())
        .collect();
    let findings =
        serde_json::from_str::<Value>(&check("json", &["fixtures/real/openai-v2-chat.jsonl"]))
            .unwrap()["findings"]
            .as_array()
            .unwrap()
            .len();
    let mut expected = vec!["\"finding\""; findings];
    expected.extend(["\"error\"", "\"summary\""]);
    assert_eq!(types, expected);
}

/// Validates against the official SARIF 2.1.0 schema (`tests/data/sarif-schema-2.1.0.json`,
/// see `tests/data/README.md`), offline.
fn sarif_schema_errors(sarif: &Value) -> Vec<String> {
    // The official schema's `language` patterns, `^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$`,
    // have a stray `]` (a literal to ECMA-262, an error to the crate's check of the schema
    // itself). They are replaced in memory by the pattern the SARIF text describes; the file
    // stays as published, and spanlint does not emit `language`.
    const STRAY: &str = r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#;
    let text = std::fs::read_to_string("tests/data/sarif-schema-2.1.0.json").unwrap();
    assert_eq!(
        text.matches(STRAY).count(),
        2,
        "run.language and toolComponent.language"
    );
    let schema: Value =
        serde_json::from_str(&text.replace(STRAY, r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#)).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    validator
        .iter_errors(sarif)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn sarif_is_valid_against_the_sarif_2_1_0_schema() {
    for paths in [all_real(), vec!["tests/data/bad/truncated.jsonl"]] {
        let output = spanlint(&[&["check", "--format", "sarif"], paths.as_slice()].concat());
        let sarif: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(
            sarif_schema_errors(&sarif),
            Vec::<String>::new(),
            "{paths:?}"
        );
    }
}

#[test]
fn the_sarif_schema_check_rejects_invalid_sarif() {
    let mut sarif: Value = serde_json::from_str(&check("sarif", &SNAPSHOT_INPUTS)).unwrap();
    sarif["runs"][0]["results"][0]["level"] = "fatal".into();
    sarif["runs"][0]["results"][1]["locations"][0]["physicalLocation"]["region"]["startLine"] =
        0.into();
    let errors = sarif_schema_errors(&sarif);
    assert_eq!(errors.len(), 2, "{errors:?}");
}

#[test]
fn sarif_results_match_the_findings_and_rules_come_with_docs() {
    let findings = reference(&all_real());
    let sarif: Value = serde_json::from_str(&check("sarif", &all_real())).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), spanlint::rules::all_rules().count());
    for (rule, expected) in rules.iter().zip(spanlint::rules::all_rules()) {
        assert_eq!(rule["id"], expected.id);
        assert_eq!(rule["shortDescription"]["text"], expected.summary);
        let help = rule["help"]["markdown"].as_str().unwrap();
        assert!(help.contains("## Why it matters"), "{help}");
        assert!(rule["defaultConfiguration"]["level"].is_string());
    }
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), findings.len());
    for (result, f) in results.iter().zip(&findings) {
        assert_eq!(result["ruleId"], f["rule"]);
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], f["rule"]);
        let location = &result["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], f["file"]);
        match f["line"].as_u64() {
            Some(line) => {
                assert_eq!(location["region"]["startLine"], line);
                assert_eq!(location["region"]["startColumn"], f["column"]);
            }
            None => assert_eq!(location["region"]["byteOffset"], f["offset"]),
        }
        assert!(
            result["message"]["text"]
                .as_str()
                .unwrap()
                .starts_with(f["message"].as_str().unwrap())
        );
    }
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
}

/// `(file, fingerprint)` of every SARIF result.
fn fingerprints(paths: &[&str]) -> Vec<String> {
    let sarif: Value = serde_json::from_str(&check("sarif", paths)).unwrap();
    sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["partialFingerprints"]["spanlint/v1"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn sarif_fingerprints_ignore_ids_and_positions_and_are_unique_per_file() {
    // The JSON and protobuf twins of a dump hold the same spans at different positions.
    for (json, proto) in [
        (
            "fixtures/real/openai-v2-chat.jsonl",
            "fixtures/real/openai-v2-chat.pb",
        ),
        (
            "fixtures/real/vercel-ai-chat.jsonl",
            "fixtures/real/vercel-ai-chat.pb",
        ),
    ] {
        let from_json = fingerprints(&[json]);
        assert!(!from_json.is_empty());
        assert_eq!(from_json, fingerprints(&[proto]));
        let unique: HashSet<_> = from_json.iter().collect();
        assert_eq!(unique.len(), from_json.len(), "{from_json:?}");
    }
    // A new capture of the same spans has new trace and span ids, the same fingerprints.
    let dir = tempfile::tempdir().unwrap();
    let dump = std::fs::read_to_string("fixtures/real/openai-v2-chat.jsonl").unwrap();
    let recaptured = dir.path().join("again.jsonl");
    let changed = dump
        .replace(
            "29fbf80bdc2e937cc05127897f6273a1",
            "0123456789abcdef0123456789abcdef",
        )
        .replace("94d5894218407115", "0123456789abcdef");
    assert_ne!(changed, dump, "the fixture's ids");
    std::fs::write(&recaptured, format!("\n\n{changed}")).unwrap();
    assert_eq!(
        fingerprints(&[recaptured.to_str().unwrap()]),
        fingerprints(&["fixtures/real/openai-v2-chat.jsonl"])
    );
}

/// One parsed workflow command: `::name key=value,…::data`, unescaped as the runner does.
#[derive(Debug)]
struct WorkflowCommand {
    name: String,
    properties: HashMap<String, String>,
    message: String,
}

fn unescape(text: &str) -> String {
    text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}

fn parse_workflow_commands(text: &str) -> Vec<WorkflowCommand> {
    text.lines()
        .map(|line| {
            let rest = line.strip_prefix("::").expect("a workflow command");
            let (head, data) = rest.split_once("::").expect("`::` before the message");
            let (name, properties) = head.split_once(' ').unwrap_or((head, ""));
            let properties = properties
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').expect("key=value");
                    (k.to_string(), unescape(v))
                })
                .collect();
            assert!(!data.contains(['\r', '\n']));
            WorkflowCommand {
                name: name.to_string(),
                properties,
                message: unescape(data),
            }
        })
        .collect()
}

#[test]
fn github_commands_parse_back_to_the_findings() {
    let findings = reference(&all_real());
    let commands = parse_workflow_commands(&check("github", &all_real()));
    assert_eq!(commands.len(), findings.len());
    for (command, f) in commands.iter().zip(&findings) {
        let expected_name = match f["severity"].as_str().unwrap() {
            "info" => "notice",
            other => other,
        };
        assert_eq!(command.name, expected_name);
        assert_eq!(command.properties["file"], f["file"].as_str().unwrap());
        assert_eq!(
            command.properties["title"],
            format!("spanlint ({})", f["rule"].as_str().unwrap())
        );
        match f["line"].as_u64() {
            Some(line) => {
                assert_eq!(command.properties["line"], line.to_string());
                assert_eq!(command.properties["col"], f["column"].to_string());
            }
            None => assert!(!command.properties.contains_key("line")),
        }
        assert!(command.message.starts_with(f["message"].as_str().unwrap()));
        if let Some(help) = f["help"].as_str() {
            assert!(command.message.ends_with(&format!("\nhelp: {help}")));
        }
    }
}

#[test]
fn github_escapes_names_and_messages_like_the_toolkit() {
    // A file name and a span name full of the characters the runner treats specially.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a,b:c%d.jsonl");
    let dump = std::fs::read_to_string("fixtures/real/openai-v2-chat.jsonl").unwrap();
    let odd_name = "chat 50%: a,b\\r\\nx";
    let renamed = dump.replace("\"chat gpt-4o-mini\"", &format!("\"{odd_name}\""));
    assert_ne!(renamed, dump);
    std::fs::write(&path, renamed).unwrap();
    let text = check("github", &[path.to_str().unwrap()]);
    let findings = serde_json::from_str::<Value>(&check("json", &[path.to_str().unwrap()]))
        .unwrap()["findings"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(text.lines().count(), findings, "{text}");
    let commands = parse_workflow_commands(&text);
    for command in &commands {
        assert_eq!(command.properties["file"], path.to_str().unwrap());
        assert!(
            command.message.contains("(span `chat 50%: a,b\r\nx`)"),
            "{:?}",
            command.message
        );
    }
    assert!(text.contains("a%2Cb%3Ac%25d.jsonl,line=1,"), "{text}");
    assert!(text.contains("50%25: a,b%0D%0Ax"), "{text}");
}

#[test]
fn gitlab_issues_match_the_findings_with_unique_fingerprints() {
    let findings = reference(&all_real());
    let issues: Vec<Value> = serde_json::from_str(&check("gitlab", &all_real())).unwrap();
    assert_eq!(issues.len(), findings.len());
    let mut seen = HashSet::new();
    for (issue, f) in issues.iter().zip(&findings) {
        assert_eq!(issue["check_name"], f["rule"]);
        assert_eq!(issue["location"]["path"], f["file"]);
        let begin = issue["location"]["lines"]["begin"].as_u64().unwrap();
        assert_eq!(begin, f["line"].as_u64().unwrap_or(1));
        let severity = match f["severity"].as_str().unwrap() {
            "error" => "major",
            "warning" => "minor",
            _ => "info",
        };
        assert_eq!(issue["severity"], severity);
        assert!(
            issue["description"]
                .as_str()
                .unwrap()
                .starts_with(f["message"].as_str().unwrap())
        );
        let fingerprint = issue["fingerprint"].as_str().unwrap();
        assert_eq!(fingerprint.len(), 32);
        assert!(
            seen.insert(fingerprint.to_string()),
            "{fingerprint} repeats"
        );
    }
}

#[test]
fn junit_has_a_suite_per_file_and_a_failure_per_finding() {
    // Errors and warnings fail their span's case; infos are advice in <system-out>.
    let findings: Vec<Value> = reference(&all_real())
        .into_iter()
        .filter(|f| f["severity"] != "info")
        .collect();
    let xml = check("junit", &all_real());
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 22);
    let failures: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    assert_eq!(failures.len(), findings.len());
    for (failure, f) in failures.iter().zip(&findings) {
        assert_eq!(failure.attribute("type"), f["rule"].as_str());
        assert_eq!(failure.attribute("message"), f["message"].as_str());
        let case = failure.parent().unwrap();
        assert_eq!(case.attribute("classname"), f["file"].as_str());
        let span_id = f["span_id"].as_str().unwrap();
        assert!(
            case.attribute("name")
                .unwrap()
                .ends_with(&format!("(span {span_id})"))
        );
    }
    // Counts agree with the elements.
    let count = |name: &str| doc.descendants().filter(|n| n.has_tag_name(name)).count();
    let failed_cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase") && n.children().any(|c| c.has_tag_name("failure")))
        .count();
    assert_eq!(
        root.attribute("tests"),
        Some(count("testcase").to_string().as_str())
    );
    assert_eq!(
        root.attribute("failures"),
        Some(failed_cases.to_string().as_str())
    );
    for suite in suites {
        let cases = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .count();
        assert_eq!(suite.attribute("tests"), Some(cases.to_string().as_str()));
    }
}

#[test]
fn junit_of_a_clean_run_has_passing_cases_and_errors_are_error_cases() {
    let output = spanlint(&[
        "check",
        "--format",
        "junit",
        "fixtures/rules/missing-required-attribute/clean.json",
        "tests/data/bad/truncated.pb",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let xml = stdout(&output);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    // The clean dump's spans pass (infos are advice, listed in <system-out>, not failures);
    // the unreadable input is an error case.
    let (last, clean) = cases.split_last().unwrap();
    assert!(!clean.is_empty(), "{xml}");
    for case in clean {
        assert!(
            !case
                .children()
                .any(|n| n.has_tag_name("failure") || n.has_tag_name("error")),
            "{xml}"
        );
    }
    assert!(last.children().any(|n| n.has_tag_name("error")), "{xml}");
    assert_eq!(doc.root_element().attribute("failures"), Some("0"));
    assert_eq!(doc.root_element().attribute("errors"), Some("1"));
}

#[test]
fn no_format_shows_recorded_content_or_colour() {
    // The snippet masks string values; formats other than human have no snippet at all, and
    // none may show the dump's recorded prompt text.
    let path = "fixtures/rules/content-recorded/prompts-and-completions.json";
    let dump = std::fs::read_to_string(path).unwrap();
    let marker = "4111";
    assert!(
        dump.contains(marker),
        "the fixture records a card number in a prompt"
    );
    for format in FORMATS {
        let output = spanlint(&["check", "--color", "always", "--format", format, path]);
        let text = stdout(&output);
        assert!(!text.contains(marker), "{format}: {text}");
        if format != "human" {
            assert!(!text.contains('\u{1b}'), "{format} is coloured");
        }
    }
}

#[test]
fn junit_makes_a_case_of_a_span_s_findings_next_to_each_other() {
    // Dump A, dump B, then A again, in one file: A's spans again (same ids) at other places.
    let a = std::fs::read_to_string("fixtures/real/openai-v2-chat.jsonl").unwrap();
    let b = std::fs::read_to_string("fixtures/real/openai-v2-tool.jsonl").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let failed_cases = |path: &str| -> Vec<(String, usize)> {
        let xml = stdout(&spanlint(&["check", "--format", "junit", path]));
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        doc.descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .filter_map(|n| {
                let failures = n.children().filter(|c| c.has_tag_name("failure")).count();
                (failures > 0).then(|| (n.attribute("name").unwrap().to_string(), failures))
            })
            .collect()
    };
    let (only_a, only_b) = (
        failed_cases(&write("a.jsonl", a.clone())),
        failed_cases(&write("b.jsonl", b.clone())),
    );
    assert!(!only_a.is_empty() && !only_b.is_empty());
    // Apart, A's copies are cases of their own; next to each other, one case.
    let aba = failed_cases(&write("aba.jsonl", format!("{a}{b}{a}")));
    assert_eq!(aba, [only_a.clone(), only_b, only_a.clone()].concat());
    let aa = failed_cases(&write("aa.jsonl", format!("{a}{a}")));
    let doubled: Vec<_> = only_a
        .iter()
        .map(|(name, n)| (name.clone(), 2 * n))
        .collect();
    assert_eq!(aa, doubled);
}
