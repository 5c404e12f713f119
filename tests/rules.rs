//! Per-rule tests: each small dump under `fixtures/rules/<rule-id>/` shows one way real
//! libraries get a rule wrong (or, `clean.json`, right). Each test states the essential facts —
//! which rule fired on which attribute — as a plain assertion, and snapshots the full findings
//! (messages and help) in `tests/snapshots/rules__*.snap`.

use spanlint::check::check_file;
use spanlint::input::{self, Source};
use spanlint::rules::Ruleset;

/// Checks one fixture with the built-in rules; returns `rule attribute` lines, in report order,
/// and snapshots the findings.
fn check(rule: &str, fixture: &str) -> Vec<String> {
    let path = format!("fixtures/rules/{rule}/{fixture}");
    let loaded = input::load(&Source::Path(path.clone().into()), None).expect("fixture loads");
    let report = check_file(&loaded, &Ruleset::builtin());
    assert!(report.errors.is_empty(), "{path}: {:?}", report.errors);
    let lines: Vec<String> = report
        .findings
        .iter()
        .map(|f| {
            let finding = &f.finding;
            format!(
                "{} {}",
                finding.rule,
                finding.attribute.as_deref().unwrap_or("-")
            )
        })
        .collect();
    let detail: Vec<String> = report
        .findings
        .iter()
        .map(|f| {
            let finding = &f.finding;
            format!(
                "{} {} [{}] at {} in `{}`\n  {}\n  help: {}",
                finding.severity,
                finding.rule,
                finding.attribute.as_deref().unwrap_or("-"),
                f.position,
                finding.span.name,
                finding.message,
                finding.help.as_deref().unwrap_or("-")
            )
        })
        .collect();
    insta::with_settings!({ snapshot_suffix => format!("{rule}__{}", fixture.replace('.', "_")), description => path.clone() }, {
        insta::assert_snapshot!("findings", detail.join("\n"));
    });
    lines
}

fn only(rule: &str, attributes: &[&str]) -> Vec<String> {
    attributes.iter().map(|a| format!("{rule} {a}")).collect()
}

#[test]
fn clean_fixtures_have_no_findings() {
    for rule in [
        "missing-required-attribute",
        "span-name-format",
        "deprecated-attribute",
        "deprecated-value",
        "reserved-namespace",
        "content-recorded",
    ] {
        assert_eq!(
            check(rule, "clean.json"),
            Vec::<String>::new(),
            "{rule}/clean.json"
        );
    }
}

#[test]
fn missing_required_attribute() {
    let rule = "missing-required-attribute";
    assert_eq!(
        check(rule, "chat-without-provider.json"),
        only(rule, &["gen_ai.provider.name"])
    );
    assert_eq!(
        check(rule, "error-without-error-type.json"),
        only(rule, &["error.type"])
    );
    assert_eq!(
        check(rule, "address-without-port.json"),
        only(rule, &["server.port"])
    );
    // The OpenAI refinement makes the model required.
    assert_eq!(
        check(rule, "openai-without-model.json"),
        only(rule, &["gen_ai.request.model"])
    );
    assert_eq!(
        check(rule, "tool-without-name.json"),
        only(rule, &["gen_ai.tool.name"])
    );
    assert_eq!(
        check(rule, "no-operation.json"),
        only(rule, &["gen_ai.operation.name"])
    );
}

#[test]
fn span_name_format() {
    let rule = "span-name-format";
    assert_eq!(
        check(rule, "vendor-names.json"),
        only(rule, &["-", "-", "-", "-"])
    );
}

#[test]
fn deprecated_attribute() {
    let rule = "deprecated-attribute";
    // `gen_ai.system` is reported once, as the missing `gen_ai.provider.name` it should be
    // renamed to.
    let mut expected = vec!["missing-required-attribute gen_ai.provider.name".to_string()];
    expected.extend(only(
        rule,
        &[
            "gen_ai.usage.prompt_tokens",
            "gen_ai.usage.completion_tokens",
            "gen_ai.openai.request.response_format",
            "gen_ai.openai.request.seed",
        ],
    ));
    assert_eq!(check(rule, "old-names.json"), expected);
}

#[test]
fn deprecated_value() {
    let rule = "deprecated-value";
    assert_eq!(
        check(rule, "old-provider-values.json"),
        only(rule, &["gen_ai.provider.name", "gen_ai.provider.name"])
    );
}

#[test]
fn reserved_namespace() {
    let rule = "reserved-namespace";
    assert_eq!(
        check(rule, "squatters.json"),
        only(
            rule,
            &[
                "gen_ai.usage.total_tokens",
                "gen_ai.openai.api_base",
                "gen_ai.toad_eye.cost",
                "openai.api.base"
            ]
        )
    );
    assert_eq!(
        check(rule, "near-misses.json"),
        only(
            rule,
            &[
                "gen_ai.usage.cache_creation_input_tokens",
                "gen_ai.request.modle"
            ]
        )
    );
}

#[test]
fn content_recorded() {
    let findings = check("content-recorded", "prompts-and-completions.json");
    let content: Vec<&String> = findings
        .iter()
        .filter(|f| f.starts_with("content-recorded"))
        .collect();
    assert_eq!(
        content,
        [
            "content-recorded gen_ai.input.messages",
            "content-recorded gen_ai.output.messages",
            "content-recorded gen_ai.prompt.0.content",
            "content-recorded gen_ai.completion.0.content",
            "content-recorded -",
        ]
    );
    // Roles and finish reasons are structure, not content.
    assert!(!findings.contains(&"content-recorded gen_ai.prompt.0.role".to_string()));
    assert!(!findings.contains(&"content-recorded gen_ai.completion.0.finish_reason".to_string()));
}
