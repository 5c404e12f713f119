//! The run's trace index past its memory budget (`SPANLINT_INDEX_BUDGET`, bytes): its spans
//! are written to temporary files, split by trace id, and evaluated partition by partition.
//! `coverage` writes its per-span facts out the same way, and the JUnit report its findings
//! (`SPANLINT_JUNIT_BUDGET`). The reports must be byte for byte those of a run that kept
//! everything in memory.

mod common;

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use spanlint::input::wire;

/// Runs `spanlint` as `common::spanlint` does, with `env` set.
fn spanlint_with(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::cargo_bin("spanlint").expect("the spanlint binary is built");
    command
        .args(args)
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("FORCE_COLOR")
        .env_remove("SPANLINT_INDEX_BUDGET")
        .env_remove("SPANLINT_JUNIT_BUDGET");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("spanlint runs")
}

/// The reports compared: every streamed format `check` has, and the counting ones.
const REPORTS: &[&[&str]] = &[
    &["--format", "json"],
    &["--format", "jsonl"],
    &["--quiet"],
    &["--statistics"],
];

/// Checks `inputs` with the index in memory and spilled at every merge (budget 1) and now
/// and then (budget 3000), and asserts identical output.
fn assert_spilling_changes_nothing(inputs: &[&str]) {
    let mut args = vec!["check", "--format", "json"];
    args.extend(inputs);
    let report = common::json(&spanlint_with(&[], &args));
    let trace_rules = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            let rule = f["rule"].as_str().unwrap();
            spanlint::rules::TRACE_RULES
                .iter()
                .any(|r| r.info.id == rule)
        })
        .count();
    assert!(
        trace_rules > 1,
        "the run has trace-level findings to compare"
    );
    assert_budgets_change_nothing("check", REPORTS, inputs);
}

/// Runs `command` with each of `reports`' flags on `inputs`, with everything in memory and
/// spilled at every merge (budget 1) and now and then (budget 3000), and asserts identical
/// output.
fn assert_budgets_change_nothing(command: &str, reports: &[&[&str]], inputs: &[&str]) {
    for report in reports {
        let args: Vec<&str> = [command]
            .iter()
            .chain(report.iter())
            .chain(inputs)
            .copied()
            .collect();
        let kept = spanlint_with(&[], &args);
        for budget in ["1", "3000"] {
            let spilled = spanlint_with(&[("SPANLINT_INDEX_BUDGET", budget)], &args);
            assert_eq!(spilled.status.code(), kept.status.code(), "{args:?}");
            assert!(
                spilled.stdout == kept.stdout,
                "{args:?}, budget {budget}: stdout differs"
            );
            assert_eq!(common::stderr(&spilled), common::stderr(&kept), "{args:?}");
        }
    }
}

/// The coverage reports compared.
const COVERAGE_REPORTS: &[&[&str]] = &[
    &["--format", "json"],
    &["--format", "table"],
    &["--format", "markdown"],
];

/// Runs `coverage` on `inputs` with everything in memory and spilled at every merge (budget
/// 1) and now and then (budget 3000), and asserts identical output.
fn assert_coverage_spilling_changes_nothing(inputs: &[&str]) {
    let mut args = vec!["coverage", "--format", "json"];
    args.extend(inputs);
    let report = common::json(&spanlint_with(&[], &args));
    // The run has what the spilled tally must find again: copies left out (more spans
    // read than counted is not visible here, but traces and repeated usage are).
    assert!(report["traces"]["traces"].as_u64().unwrap() > 1, "{report}");
    let repeated: u64 = report["usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["repeated_spans"].as_u64().unwrap())
        .sum();
    assert!(repeated > 0, "the run has usage repeated below a span");
    assert!(!report["latency"].as_array().unwrap().is_empty());
    assert_budgets_change_nothing("coverage", COVERAGE_REPORTS, inputs);
}

const TRACE_RULE_FIXTURES: &[&str] = &[
    "fixtures/rules/orphan-span",
    "fixtures/rules/tool-outside-agent",
    "fixtures/rules/shallow-trace",
    "fixtures/rules/missing-context",
    "fixtures/rules/tool-call-unmatched",
    "fixtures/rules/usage-double-count",
];

#[test]
fn spilled_small_files_report_as_kept_ones() {
    // Real dumps (JSON lines and protobuf) twice over (every span read twice), and the trace
    // rules' fixtures (a trace split over two files).
    let mut inputs = vec!["fixtures/real"];
    inputs.extend(TRACE_RULE_FIXTURES);
    inputs.push("fixtures/real");
    assert_spilling_changes_nothing(&inputs);
    assert_coverage_spilling_changes_nothing(&inputs);
}

#[test]
fn spilled_coverage_counts_each_copy_once() {
    // The same files twice and three times over: spans read again are not counted again,
    // whether the first copy was counted before the spill or written out with the later ones.
    let report = |budget: &str, copies: usize| {
        let mut args = vec!["coverage", "--format", "json"];
        for _ in 0..copies {
            args.extend(["fixtures/real", "fixtures/rules/usage-double-count"]);
        }
        common::json(&spanlint_with(&[("SPANLINT_INDEX_BUDGET", budget)], &args))
    };
    let once = report("1", 1);
    assert!(once["spans"].as_u64().unwrap() > 20);
    for budget in ["1", "3000", "100000000"] {
        for copies in [2, 3] {
            assert_eq!(
                report(budget, copies),
                once,
                "budget {budget}, {copies} copies"
            );
        }
    }
}

/// Each real JSON-lines fixture's lines and each trace rule fixture as one line.
fn json_documents() -> Vec<String> {
    let mut lines = Vec::new();
    for dir in ["fixtures/real"].iter().chain(TRACE_RULE_FIXTURES) {
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl" || e == "json"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).unwrap();
            if path.extension().is_some_and(|e| e == "json") {
                let document: serde_json::Value = serde_json::from_str(&text).unwrap();
                lines.push(serde_json::to_string(&document).unwrap());
            } else {
                lines.extend(text.lines().map(str::to_string));
            }
        }
    }
    lines
}

/// The trace ids written in a JSON document.
fn trace_ids(document: &serde_json::Value) -> Vec<String> {
    let mut ids = Vec::new();
    let spans = document["resourceSpans"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["scopeSpans"].as_array().into_iter().flatten())
        .flat_map(|s| s["spans"].as_array().into_iter().flatten());
    for span in spans {
        if let Some(id) = span["traceId"].as_str()
            && id.len() == 32
            && !ids.iter().any(|i| i == id)
        {
            ids.push(id.to_string());
        }
    }
    ids
}

/// `id` (32 hex digits) as copy `copy` writes it: its last 8 digits replaced.
fn copied_id(id: &str, copy: u32) -> String {
    format!("{}{copy:08x}", &id[..24])
}

/// More than 8 MiB of JSON lines (streamed chunk by chunk): 40 blocks of plain HTTP spans,
/// each followed by the real and trace rule documents with their trace ids renamed for copy
/// `block % 20`, so each copy's traces are split over two places megabytes apart (and their
/// spans read twice).
fn large_json_lines() -> Vec<u8> {
    let documents = json_documents();
    let ids: Vec<Vec<String>> = documents
        .iter()
        .map(|d| trace_ids(&serde_json::from_str(d).unwrap()))
        .collect();
    let filler = concat!(
        r#"{"resourceSpans":[{"resource":{},"scopeSpans":[{"scope":{},"spans":[{"traceId":"#,
        r#""5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET /","#,
        r#""kind":2}]}]}]}"#,
        "\n"
    );
    let mut out = String::new();
    for block in 0..40u32 {
        out.push_str(&filler.repeat((220 << 10) / filler.len()));
        for (document, ids) in documents.iter().zip(&ids) {
            let mut line = document.clone();
            for id in ids {
                line = line.replace(id.as_str(), &copied_id(id, block % 20));
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    assert!(out.len() > 8 << 20);
    out.into_bytes()
}

/// More than 8 MiB of protobuf frames: the real dumps 300 times over, their trace ids renamed
/// for copy `n % 150` (so each copy's traces are split over two places in the stream).
fn large_protobuf() -> Vec<u8> {
    let mut messages = Vec::new();
    let paths = common::real_fixtures("pb");
    for path in &paths {
        let twin = path.with_extension("jsonl");
        let text = std::fs::read_to_string(&twin).unwrap();
        let ids: Vec<String> = text
            .lines()
            .flat_map(|l| trace_ids(&serde_json::from_str(l).unwrap()))
            .collect();
        messages.push((std::fs::read(path).unwrap(), ids));
    }
    let mut frames = Vec::new();
    let mut size = 0;
    for n in 0..300u32 {
        for (message, ids) in &messages {
            let mut message = message.clone();
            for id in ids {
                let from = hex_bytes(id);
                let to = hex_bytes(&copied_id(id, n % 150));
                replace_bytes(&mut message, &from, &to);
            }
            size += message.len();
            frames.push(message);
        }
    }
    assert!(size > 8 << 20, "{size}");
    wire::join_frames(&frames)
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn replace_bytes(data: &mut [u8], from: &[u8], to: &[u8]) {
    let mut at = 0;
    while let Some(found) = data[at..].windows(from.len()).position(|w| w == from) {
        data[at + found..at + found + to.len()].copy_from_slice(to);
        at += found + to.len();
    }
}

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn spilled_streamed_json_lines_report_as_kept_ones() {
    let dir = tempfile::tempdir().unwrap();
    let big = write(dir.path(), "big.jsonl", &large_json_lines());
    assert_spilling_changes_nothing(&[&big, "fixtures/rules/orphan-span"]);
    assert_coverage_spilling_changes_nothing(&[&big, "fixtures/rules/usage-double-count"]);
}

#[test]
fn spilled_streamed_protobuf_reports_as_kept_one() {
    let dir = tempfile::tempdir().unwrap();
    let big = write(dir.path(), "big.binpb", &large_protobuf());
    assert_spilling_changes_nothing(&[&big]);
    assert_coverage_spilling_changes_nothing(&[&big, "fixtures/rules/usage-double-count"]);
}

#[test]
fn junit_kept_in_temporary_files_reports_as_kept_in_memory() {
    // Whole files twice over (a span's copies), trace-level findings merged into files'
    // cases, streamed JSON lines and protobuf, and an input error.
    let dir = tempfile::tempdir().unwrap();
    let lines = write(dir.path(), "big.jsonl", &large_json_lines());
    let proto = write(dir.path(), "big.binpb", &large_protobuf());
    let mut args = vec!["check", "--format", "junit", "fixtures/real"];
    args.extend(TRACE_RULE_FIXTURES);
    args.extend([
        "fixtures/real",
        &lines,
        &proto,
        "tests/data/bad/truncated.pb",
    ]);
    let kept = spanlint_with(&[], &args);
    let xml = common::stdout(&kept);
    for rule in ["orphan-span", "missing-required-attribute"] {
        assert!(xml.contains(&format!("<failure type=\"{rule}\"")), "{rule}");
    }
    assert!(xml.contains("<error type="));
    for (junit, index) in [
        ("1", None),
        ("3000", None),
        ("1", Some("1")),
        ("100000", Some("3000")),
    ] {
        let mut env = vec![("SPANLINT_JUNIT_BUDGET", junit)];
        env.extend(index.map(|budget| ("SPANLINT_INDEX_BUDGET", budget)));
        let spooled = spanlint_with(&env, &args);
        assert_eq!(spooled.status.code(), kept.status.code());
        assert!(spooled.stdout == kept.stdout, "{env:?}: the reports differ");
    }
}

/// Runs `args` with `TMPDIR` missing: within the budget the run ends as `kept_status` says
/// (it never touched the disk); with `budget` (an environment variable) set to 1 byte it exits
/// 2 with no report on stdout and an error naming the directory and `says`.
fn assert_temporary_files_only_past_the_budget(
    args: &[&str],
    kept_status: i32,
    budget: &str,
    says: &str,
) {
    let missing = "/nonexistent/spanlint-spill-test";
    let kept = spanlint_with(&[("TMPDIR", missing)], args);
    assert_eq!(
        kept.status.code(),
        Some(kept_status),
        "{}",
        common::stderr(&kept)
    );
    let past = spanlint_with(&[("TMPDIR", missing), (budget, "1")], args);
    assert_eq!(past.status.code(), Some(2), "{args:?}");
    assert!(past.stdout.is_empty(), "{args:?}: no half report");
    let stderr = common::stderr(&past);
    assert!(
        stderr.contains(says) && stderr.contains(missing),
        "{stderr}"
    );
}

#[test]
fn a_run_within_the_budget_never_touches_the_disk_and_one_past_it_names_the_directory() {
    let index = "cannot create the trace index's temporary files in";
    let args = ["check", "--quiet", "fixtures/real"];
    assert_temporary_files_only_past_the_budget(&args, 1, "SPANLINT_INDEX_BUDGET", index);
    let args = ["coverage", "--format", "json", "fixtures/real"];
    assert_temporary_files_only_past_the_budget(&args, 0, "SPANLINT_INDEX_BUDGET", index);
    let args = ["check", "--format", "junit", "fixtures/real"];
    let junit = "cannot use the JUnit report's temporary files in";
    assert_temporary_files_only_past_the_budget(&args, 1, "SPANLINT_JUNIT_BUDGET", junit);
}
