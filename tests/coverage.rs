//! `spanlint coverage` end to end: snapshots of the table, Markdown and JSON reports on the real
//! dumps, the CI gate (`--min-score`), `--compare`, `--pricing`, and the HTML page rendered in
//! headless Chromium.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

fn spanlint(args: &[&str]) -> Output {
    Command::cargo_bin("spanlint")
        .expect("the spanlint binary is built")
        .args(args)
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .output()
        .expect("spanlint runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

const REAL: &str = "fixtures/real/";

#[test]
fn table_snapshot() {
    let out = spanlint(&["coverage", "--isolated", REAL]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("table", stdout(&out));
}

#[test]
fn markdown_snapshot() {
    let out = spanlint(&["coverage", "--isolated", "--format", "markdown", REAL]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("markdown", stdout(&out));
}

#[test]
fn json_snapshot_and_shape() {
    let out = spanlint(&["coverage", "--isolated", "--format", "json", REAL]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    for key in [
        "version",
        "spans",
        "genai_spans",
        "score",
        "services",
        "groups",
        "traces",
        "usage",
        "pricing_currency",
        "finish_reasons",
        "latency",
        "time_to_first_chunk",
        "errors",
    ] {
        assert!(json.get(key).is_some(), "missing `{key}`");
    }
    insta::assert_snapshot!("json", text);
}

#[test]
fn json_and_protobuf_copies_of_a_dump_are_one_span_each() {
    let json = |paths: &[&str]| {
        let mut args = vec!["coverage", "--isolated", "--format", "json"];
        args.extend_from_slice(paths);
        serde_json::from_slice::<serde_json::Value>(&spanlint(&args).stdout).unwrap()
    };
    let one = json(&["fixtures/real/openai-v2-chat.jsonl"]);
    let both = json(&[
        "fixtures/real/openai-v2-chat.jsonl",
        "fixtures/real/openai-v2-chat.pb",
    ]);
    assert_eq!(one["spans"], both["spans"]);
    assert_eq!(one["usage"], both["usage"]);
}

#[test]
fn recorded_content_is_never_printed() {
    // The latest-content dumps record prompts and completions; none of their string values
    // may appear in any format.
    let dump =
        std::fs::read_to_string("fixtures/real/openai-v2-latest-content-chat.jsonl").unwrap();
    for needle in ["geography assistant", "Paris"] {
        assert!(dump.contains(needle), "the fixture records messages");
    }
    for format in ["table", "markdown", "json", "html"] {
        let out = spanlint(&[
            "coverage",
            "--isolated",
            "--format",
            format,
            "fixtures/real/openai-v2-latest-content-chat.jsonl",
        ]);
        let text = stdout(&out);
        assert!(!text.is_empty());
        for needle in ["geography assistant", "Paris"] {
            assert!(!text.contains(needle), "{format} shows message content");
        }
    }
}

#[test]
fn min_score_gates() {
    let out = spanlint(&["coverage", "--isolated", "--min-score", "99", REAL]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("below --min-score 99"));
    let out = spanlint(&["coverage", "--isolated", "--min-score", "10", REAL]);
    assert_eq!(out.status.code(), Some(0));
    let out = spanlint(&[
        "coverage",
        "--isolated",
        "tests/data/bad/does-not-exist.jsonl",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn compare_shows_changes() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.json");
    let out = spanlint(&[
        "coverage",
        "--isolated",
        "--format",
        "json",
        "-o",
        old.to_str().unwrap(),
        "fixtures/real/openinference-chat.jsonl",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let out = spanlint(&[
        "coverage",
        "--isolated",
        "--compare",
        old.to_str().unwrap(),
        REAL,
    ]);
    let text = stdout(&out);
    assert!(text.contains('↑'), "{text}");
    let out = spanlint(&["coverage", "--compare", "Cargo.toml", REAL]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn pricing_adds_an_estimate() {
    let out = spanlint(&[
        "coverage",
        "--isolated",
        "--format",
        "json",
        "--pricing",
        "rules/pricing.example.toml",
        REAL,
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["pricing_currency"], "USD");
    assert!(json["usage"][0]["estimated_cost"].as_f64().unwrap() > 0.0);
    let table = stdout(&spanlint(&[
        "coverage",
        "--isolated",
        "--pricing",
        "rules/pricing.example.toml",
        REAL,
    ]));
    assert!(table.contains("ESTIMATE"));
}

/// Renders the HTML report in headless Chromium and checks a real screenshot came out.
/// Without Chromium the test is skipped loudly, unless `CI` is set: then it fails.
#[test]
fn html_renders_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("coverage.html");
    let out = spanlint(&[
        "coverage",
        "--isolated",
        "--format",
        "html",
        "-o",
        page.to_str().unwrap(),
        REAL,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("<svg")
            && !html.contains("<script")
            && !html.contains("http://www.w3.org/2000/svg\" src")
    );

    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| which(c))
    else {
        if std::env::var_os("CI").is_some() {
            panic!("chromium is missing and CI is set: install it (apt-get install chromium)");
        }
        eprintln!(
            "\n!!!!! SKIPPED html_renders_in_headless_chromium: chromium is not installed !!!!!\n"
        );
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let shot = dir.path().join("coverage.png");
    let status = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.path().display()),
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,900",
            &format!("file://{}", page.display()),
        ])
        .output()
        .expect("chromium runs");
    assert!(
        status.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let png = std::fs::read(&shot).expect("chromium wrote a screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 20_000,
        "screenshot is nearly empty: {} bytes",
        png.len()
    );
    if let Some(keep) = std::env::var_os("SPANLINT_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, Path::new(&keep)).unwrap();
    }
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
