//! End-to-end tests of `spanlint.toml` and baselines: the built binary runs in a temporary
//! directory (its current directory), on the real dumps under `fixtures/real/`.
//!
//! Assertions compare a configured run with an `--isolated` run of the same dump, so they keep
//! holding when rules are added: only what the configuration changes is checked.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

/// A dump with findings of several rules: `reserved-namespace` (`gen_ai.openai.api_base`, …),
/// `content-recorded`, `span-name-format`, `missing-required-attribute`, all on spans named
/// `openai.chat` of service `demo-openllmetry`.
fn legacy_dump() -> String {
    fixture("fixtures/real/openllmetry-legacy-chat.jsonl")
}

fn fixture(relative: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(relative)
        .display()
        .to_string()
}

/// Runs `spanlint` in `dir` with fixed width and no colour.
fn spanlint_in(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("spanlint")
        .expect("the spanlint binary is built")
        .current_dir(dir)
        .args(args)
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .output()
        .expect("spanlint runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// The findings of a `--format json` run as (rule, severity, attribute) triples.
fn findings(output: &Output) -> Vec<(String, String, Option<String>)> {
    let document: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is one JSON document ({err}); stderr: {}",
            stderr(output)
        )
    });
    document["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["attribute"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn count(findings: &[(String, String, Option<String>)], rule: &str) -> usize {
    findings.iter().filter(|f| f.0 == rule).count()
}

/// Findings of the legacy dump without any configuration.
fn isolated_findings(dir: &Path) -> Vec<(String, String, Option<String>)> {
    findings(&spanlint_in(
        dir,
        &["check", "--isolated", "--format", "json", &legacy_dump()],
    ))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

const REPORTED: &str = "reserved-namespace";
const OFF: &str = "[rules.reserved-namespace]\nseverity = \"off\"\n";

#[test]
fn the_configuration_is_found_by_walking_up_from_the_current_directory() {
    let root = tempfile::tempdir().unwrap();
    let deep = root.path().join("services/chat");
    std::fs::create_dir_all(&deep).unwrap();
    let before = isolated_findings(&deep);
    assert!(count(&before, REPORTED) > 0, "{before:?}");

    write(root.path(), "spanlint.toml", OFF);
    let after = findings(&spanlint_in(
        &deep,
        &["check", "--format", "json", &legacy_dump()],
    ));
    assert_eq!(count(&after, REPORTED), 0, "{after:?}");
    assert_eq!(after.len(), before.len() - count(&before, REPORTED));

    // `--isolated` ignores it.
    assert_eq!(isolated_findings(&deep), before);

    // A nearer `.spanlint.toml` wins over the one further up.
    write(&deep, ".spanlint.toml", "# nothing configured\n");
    let nearest = findings(&spanlint_in(
        &deep,
        &["check", "--format", "json", &legacy_dump()],
    ));
    assert_eq!(nearest, before);
}

#[test]
fn config_names_a_file_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "elsewhere/lint.toml", OFF);
    let output = spanlint_in(
        dir.path(),
        &[
            "check",
            "--config",
            config.to_str().unwrap(),
            "--format",
            "json",
            &legacy_dump(),
        ],
    );
    assert_eq!(count(&findings(&output), REPORTED), 0);

    // `--config` and `--isolated` contradict each other.
    let output = spanlint_in(
        dir.path(),
        &[
            "check",
            "--isolated",
            "--config",
            config.to_str().unwrap(),
            &legacy_dump(),
        ],
    );
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn severities_can_be_raised_lowered_and_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let before = isolated_findings(dir.path());
    assert!(
        before
            .iter()
            .any(|f| f.0 == "span-name-format" && f.1 == "warning")
    );
    assert!(
        before
            .iter()
            .any(|f| f.0 == "content-recorded" && f.1 == "error")
    );
    write(
        dir.path(),
        "spanlint.toml",
        "[rules.span-name-format]\nseverity = \"error\"\n\n\
         [rules.content-recorded]\nseverity = \"info\"\n\n\
         [rules.reserved-namespace]\nseverity = \"off\"\n",
    );
    let output = spanlint_in(dir.path(), &["check", "--format", "json", &legacy_dump()]);
    let after = findings(&output);
    let severities = |rule: &str| -> Vec<String> {
        after
            .iter()
            .filter(|f| f.0 == rule)
            .map(|f| f.1.clone())
            .collect()
    };
    assert_eq!(
        severities("span-name-format"),
        vec!["error"; count(&before, "span-name-format")]
    );
    assert_eq!(
        severities("content-recorded"),
        vec!["info"; count(&before, "content-recorded")]
    );
    assert!(severities("reserved-namespace").is_empty());

    // The summary and the exit status follow the configured severities: with every rule at
    // info, the run passes.
    let mut all_info = String::new();
    for rule in before
        .iter()
        .map(|f| &f.0)
        .collect::<std::collections::BTreeSet<_>>()
    {
        all_info.push_str(&format!("[rules.{rule}]\nseverity = \"info\"\n"));
    }
    write(dir.path(), "spanlint.toml", &all_info);
    let output = spanlint_in(dir.path(), &["check", "--format", "json", &legacy_dump()]);
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(document["summary"]["errors"], 0);
    assert_eq!(document["summary"]["infos"], before.len());
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn ignore_entries_drop_what_they_match_and_unmatched_ones_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let before = isolated_findings(dir.path());
    let openai_keys = before
        .iter()
        .filter(|f| {
            f.0 == REPORTED
                && f.2
                    .as_deref()
                    .is_some_and(|a| a.starts_with("gen_ai.openai."))
        })
        .count();
    assert!(openai_keys > 0, "{before:?}");
    let config = r#"[[ignore]]
rule = "reserved-namespace"
span-name = "openai.*"
attribute = "gen_ai.openai.*"
service = "demo-openllmetry"
reason = "set by the library"

[[ignore]]
rule = "reserved-namespace"
span-name = "no such span"
"#;
    write(dir.path(), "spanlint.toml", config);
    let output = spanlint_in(dir.path(), &["check", "--format", "json", &legacy_dump()]);
    let after = findings(&output);
    assert_eq!(after.len(), before.len() - openai_keys, "{after:?}");
    assert!(!after.iter().any(|f| {
        f.2.as_deref()
            .is_some_and(|a| a.starts_with("gen_ai.openai."))
    }));
    // The second entry (line 8) matched nothing: a warning pointing at it, not at the first.
    let err = stderr(&output);
    assert!(err.contains("matched no finding"), "{err}");
    assert!(err.contains("spanlint.toml:8:1"), "{err}");
    assert!(!err.contains("spanlint.toml:1:1"), "{err}");
    assert_eq!(err.matches("matched no finding").count(), 1, "{err}");

    // A service that is not the span's makes the entry match nothing.
    write(
        dir.path(),
        "spanlint.toml",
        "[[ignore]]\nrule = \"reserved-namespace\"\nservice = \"other-service\"\n",
    );
    let output = spanlint_in(dir.path(), &["check", "--format", "json", &legacy_dump()]);
    assert_eq!(findings(&output), before);
    assert!(stderr(&output).contains("spanlint.toml:1:1"));
}

#[test]
fn content_policy_and_allowed_keys_change_what_the_rules_report() {
    let dir = tempfile::tempdir().unwrap();
    let before = isolated_findings(dir.path());
    assert!(count(&before, "content-recorded") > 0);
    write(
        dir.path(),
        "spanlint.toml",
        "content-policy = \"allow\"\nallow-keys = [\"gen_ai.openai.*\"]\n",
    );
    let after = findings(&spanlint_in(
        dir.path(),
        &["check", "--format", "json", &legacy_dump()],
    ));
    assert_eq!(count(&after, "content-recorded"), 0, "{after:?}");
    assert!(
        !after.iter().any(|f| f
            .2
            .as_deref()
            .is_some_and(|a| a.starts_with("gen_ai.openai."))),
        "{after:?}"
    );
    // Other reserved-namespace findings stay.
    assert!(count(&after, REPORTED) > 0);
}

#[test]
fn rules_file_and_extend_rules_file_are_read_relative_to_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let before = isolated_findings(dir.path());

    // An extension merged on top of the built-in rules.
    write(
        dir.path(),
        "conf/extra-rules.toml",
        "[content]\npolicy = \"allow\"\n",
    );
    write(
        dir.path(),
        "conf/spanlint.toml",
        "extend-rules-file = \"extra-rules.toml\"\n",
    );
    let output = spanlint_in(
        dir.path(),
        &[
            "check",
            "--config",
            "conf/spanlint.toml",
            "--format",
            "json",
            &legacy_dump(),
        ],
    );
    let after = findings(&output);
    assert_eq!(count(&after, "content-recorded"), 0, "{}", stderr(&output));
    assert_eq!(
        after.len(),
        before.len() - count(&before, "content-recorded")
    );

    // A replacement rules file: the built-in one, with the policy changed.
    let builtin = spanlint_in(dir.path(), &["rules-file"]);
    let mut rules = String::from_utf8(builtin.stdout).unwrap();
    assert!(rules.contains("policy = \"forbid\""));
    rules = rules.replace("policy = \"forbid\"", "policy = \"allow\"");
    write(dir.path(), "conf/my-rules.toml", &rules);
    write(
        dir.path(),
        "conf/spanlint.toml",
        "rules-file = \"my-rules.toml\"\n",
    );
    let output = spanlint_in(
        dir.path(),
        &[
            "check",
            "--config",
            "conf/spanlint.toml",
            "--format",
            "json",
            &legacy_dump(),
        ],
    );
    assert_eq!(findings(&output), after, "{}", stderr(&output));

    // A bad key in the extension is an error naming both files.
    write(
        dir.path(),
        "conf/extra-rules.toml",
        "[content]\npolicyy = \"allow\"\n",
    );
    write(
        dir.path(),
        "conf/spanlint.toml",
        "extend-rules-file = \"extra-rules.toml\"\n",
    );
    let output = spanlint_in(
        dir.path(),
        &["check", "--config", "conf/spanlint.toml", &legacy_dump()],
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("policyy") && err.contains("extra-rules.toml"),
        "{err}"
    );
}

/// Each bad configuration exits 2 and shows the file, line and column of the problem.
#[test]
fn bad_configurations_point_at_line_and_column() {
    let cases = [
        // An unknown key (typo of `allow-keys`).
        (
            "content-policy = \"allow\"\nallow-key = []\n",
            "spanlint.toml:2:1",
            "allow-key",
        ),
        // A bad severity.
        (
            "[rules.span-name-format]\nseverity = \"loud\"\n",
            "spanlint.toml:2:12",
            "loud",
        ),
        // A bad content policy.
        (
            "content-policy = \"sometimes\"\n",
            "spanlint.toml:1:18",
            "sometimes",
        ),
        // An unknown rule id, with a did-you-mean.
        (
            "[rules.span-name-fromat]\nseverity = \"off\"\n",
            "spanlint.toml:1:8",
            "did you mean `span-name-format`?",
        ),
        // An unknown rule in an ignore entry.
        (
            "[[ignore]]\nrule = \"deprecated-atribute\"\n",
            "spanlint.toml:2:8",
            "did you mean `deprecated-attribute`?",
        ),
        // An unknown key in an ignore entry.
        (
            "[[ignore]]\nrule = \"span-name-format\"\nspan = \"chat\"\n",
            "spanlint.toml:3:1",
            "span",
        ),
        // An invalid glob.
        (
            "allow-keys = [\"gen_ai.[\"]\n",
            "spanlint.toml:1:15",
            "invalid glob",
        ),
        // Not TOML.
        ("[rules\n", "spanlint.toml:1:7", "invalid configuration"),
    ];
    for (text, place, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "spanlint.toml", text);
        let output = spanlint_in(dir.path(), &["check", &legacy_dump()]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains(place), "{text}: expected {place} in\n{err}");
        assert!(
            err.contains(message),
            "{text}: expected {message} in\n{err}"
        );
        assert!(
            output.stdout.is_empty(),
            "no report for a bad configuration"
        );
    }
}

#[test]
fn a_missing_config_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = spanlint_in(
        dir.path(),
        &["check", "--config", "nope.toml", &legacy_dump()],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("nope.toml"));
}

#[test]
fn a_baseline_accepts_todays_findings_and_reports_new_and_stale_ones() {
    let dir = tempfile::tempdir().unwrap();
    let before = isolated_findings(dir.path());
    assert!(!before.is_empty());

    // Writing: exit 0 (everything is accepted now), a sorted file without ids or positions.
    let output = spanlint_in(
        dir.path(),
        &["check", "--write-baseline", "baseline.toml", &legacy_dump()],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("baseline.toml"));
    let text = std::fs::read_to_string(dir.path().join("baseline.toml")).unwrap();
    assert!(text.contains("version = 1"), "{text}");
    assert!(text.contains("span-name = \"openai.chat\""), "{text}");
    assert!(text.contains("service = \"demo-openllmetry\""), "{text}");
    for banned in ["trace", "span-id", "line", "offset", "file"] {
        assert!(
            !text.lines().any(|l| l.starts_with(banned)),
            "{banned} in {text}"
        );
    }
    let parsed: toml::Table = toml::from_str(&text).unwrap();
    let entries = parsed["finding"].as_array().unwrap();
    let counted: i64 = entries
        .iter()
        .map(|e| e["count"].as_integer().unwrap())
        .sum();
    assert_eq!(counted as usize, before.len());
    let field = |e: &toml::Value, name: &str| {
        e.get(name)
            .map_or(String::new(), |v| v.as_str().unwrap().to_string())
    };
    let keys: Vec<[String; 4]> = entries
        .iter()
        .map(|e| ["rule", "service", "span-name", "attribute"].map(|name| field(e, name)))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "entries are sorted");

    // Writing again gives the same bytes, whether the report is written while the files are
    // checked (the default) or whole at the end (junit).
    for format in ["human", "junit"] {
        let output = spanlint_in(
            dir.path(),
            &[
                "check",
                "--format",
                format,
                "--write-baseline",
                "baseline.toml",
                &legacy_dump(),
            ],
        );
        assert_eq!(
            output.status.code(),
            Some(0),
            "{format}: {}",
            stderr(&output)
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("baseline.toml")).unwrap(),
            text,
            "{format}"
        );
    }

    // Reading: nothing new, exit 0, no stale entry.
    let output = spanlint_in(
        dir.path(),
        &[
            "check",
            "--baseline",
            "baseline.toml",
            "--format",
            "json",
            &legacy_dump(),
        ],
    );
    assert_eq!(findings(&output), vec![]);
    assert_eq!(output.status.code(), Some(0));
    assert!(!stderr(&output).contains("stale"), "{}", stderr(&output));

    // A lower count: the findings beyond it are reported.
    let [first_rule, _, first_span, first_attribute] = keys[0].clone();
    let lowered = text.replacen("count = ", "count = 0 # was ", 1);
    // (`count = 0 # was N`: the first entry now accepts none.)
    std::fs::write(dir.path().join("lowered.toml"), &lowered).unwrap();
    let output = spanlint_in(
        dir.path(),
        &[
            "check",
            "--baseline",
            "lowered.toml",
            "--fail-on",
            "info",
            "--format",
            "json",
            &legacy_dump(),
        ],
    );
    let reported = findings(&output);
    assert!(!reported.is_empty(), "{}", stderr(&output));
    // Baselines key indexed attributes by their pattern (`gen_ai.completion.*.content`).
    let pattern = |key: &str| -> String {
        key.split('.')
            .map(|s| {
                if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                    "*"
                } else {
                    s
                }
            })
            .collect::<Vec<_>>()
            .join(".")
    };
    assert!(
        reported
            .iter()
            .all(|f| f.0 == first_rule
                && pattern(&f.2.clone().unwrap_or_default()) == first_attribute),
        "only findings of the first entry ({first_span}) are reported: {reported:?}"
    );
    assert_eq!(output.status.code(), Some(1));

    // Another dump: its own findings are new, and the entries of the first dump are stale,
    // each pointing at its line.
    let other = fixture("fixtures/real/openai-v2-chat.jsonl");
    let other_before = findings(&spanlint_in(
        dir.path(),
        &["check", "--isolated", "--format", "json", &other],
    ));
    let output = spanlint_in(
        dir.path(),
        &[
            "check",
            "--baseline",
            "baseline.toml",
            "--format",
            "json",
            &other,
        ],
    );
    assert_eq!(findings(&output), other_before);
    let err = stderr(&output);
    assert_eq!(
        err.matches("stale baseline entry").count(),
        entries.len(),
        "{err}"
    );
    let first_entry_line = text.lines().position(|l| l == "[[finding]]").unwrap() + 1;
    assert!(
        err.contains(&format!("baseline.toml:{first_entry_line}:1")),
        "{err}"
    );
}

#[test]
fn rewriting_a_baseline_keeps_reasons() {
    let dir = tempfile::tempdir().unwrap();
    spanlint_in(
        dir.path(),
        &["check", "--write-baseline", "b.toml", &legacy_dump()],
    );
    let path = dir.path().join("b.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let with_reason = text.replacen("count = ", "reason = \"known\"\ncount = ", 1);
    std::fs::write(&path, &with_reason).unwrap();
    let output = spanlint_in(
        dir.path(),
        &["check", "--write-baseline", "b.toml", &legacy_dump()],
    );
    assert_eq!(output.status.code(), Some(0));
    let rewritten = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        rewritten.matches("reason = \"known\"").count(),
        1,
        "{rewritten}"
    );
    // Only the reason line is added to the original bytes (fields are written in one order).
    assert_eq!(rewritten.lines().count(), text.lines().count() + 1);
}

#[test]
fn a_bad_baseline_is_an_error_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "b.toml",
        "version = 1\n\n[[finding]]\nrule = \"span-name-format\"\nspan-name = \"x\"\ncount = 1\ntrace-id = \"abc\"\n",
    );
    let output = spanlint_in(
        dir.path(),
        &["check", "--baseline", "b.toml", &legacy_dump()],
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("b.toml:7:1") && err.contains("trace-id"),
        "{err}"
    );

    let output = spanlint_in(
        dir.path(),
        &["check", "--baseline", "missing.toml", &legacy_dump()],
    );
    assert_eq!(output.status.code(), Some(2));

    // `--baseline` and `--write-baseline` together are a usage error.
    let output = spanlint_in(
        dir.path(),
        &[
            "check",
            "--baseline",
            "b.toml",
            "--write-baseline",
            "c.toml",
            &legacy_dump(),
        ],
    );
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn expected_context_replaces_the_rules_files_context_keys() {
    let dir = tempfile::tempdir().unwrap();
    let context = |output: &Output| -> Vec<String> {
        let document: Value = serde_json::from_slice(&output.stdout).unwrap();
        document["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "missing-context")
            .map(|f| f["message"].as_str().unwrap().to_string())
            .collect()
    };
    let before = context(&spanlint_in(
        dir.path(),
        &["check", "--isolated", "--format", "json", &legacy_dump()],
    ));
    assert!(
        before.iter().all(|m| m.contains("gen_ai.conversation.id")),
        "{before:?}"
    );
    assert!(!before.is_empty());
    write(
        dir.path(),
        "spanlint.toml",
        "expected-context = [\"enduser.id\"]\n",
    );
    let after = context(&spanlint_in(
        dir.path(),
        &["check", "--format", "json", &legacy_dump()],
    ));
    assert!(!after.is_empty());
    assert!(
        after
            .iter()
            .all(|m| m.contains("enduser.id") && !m.contains("conversation")),
        "{after:?}"
    );
}
