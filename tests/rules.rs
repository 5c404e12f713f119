//! Per-rule tests: each small dump under `fixtures/rules/<rule-id>/` shows one way real
//! libraries get a rule wrong (or, `clean.json`, right). Each test states the essential facts —
//! which rule fired on which attribute — as a plain assertion, and snapshots the full findings
//! (messages and help) in `tests/snapshots/rules__*.snap`.

use spanlint::check::{FileReport, check_file, check_traces};
use spanlint::finding::Severity;
use spanlint::input::{self, Source};
use spanlint::rules::Ruleset;
use spanlint::rules::rulesfile::{BUILTIN_RULES, RulesFile};

/// Checks one fixture with the built-in rules; returns `rule attribute` lines, in report order,
/// and snapshots the findings.
///
/// The lines leave out other rules' infos (a missing conversation id, missing recommended
/// attributes): the fixtures are small on purpose, and the snapshot shows everything.
fn check(rule: &str, fixture: &str) -> Vec<String> {
    check_with(rule, fixture, &Ruleset::builtin(), "")
}

fn is_trace_rule(id: &str) -> bool {
    spanlint::rules::TRACE_RULES.iter().any(|r| r.info.id == id)
}

/// Which findings a test's lines show: the rule's own (its infos only when the rule reports
/// infos by default, or for a `recommended*` fixture), and other rules' warnings and errors —
/// leaving out trace-level rules in span-rule fixtures, whose spans are unrelated calls that
/// share a trace id.
fn shown(rule: &str, fixture: &str, finding: &spanlint::finding::Finding) -> bool {
    let default = spanlint::rules::all_rules()
        .find(|r| r.id == rule)
        .map_or(Severity::Error, |r| r.default_severity);
    if finding.rule == rule {
        return finding.severity > Severity::Info
            || default == Severity::Info
            || fixture.starts_with("recommended");
    }
    finding.severity > Severity::Info && (!is_trace_rule(finding.rule) || is_trace_rule(rule))
}

fn load(path: &str, rules: &Ruleset) -> FileReport {
    let loaded = input::load(&Source::Path(path.into()), None, &input::Limits::default())
        .expect("fixture loads");
    let report = check_file(&loaded, rules);
    assert!(report.errors.is_empty(), "{path}: {:?}", report.errors);
    report
}

fn check_with(rule: &str, fixture: &str, rules: &Ruleset, variant: &str) -> Vec<String> {
    let path = format!("fixtures/rules/{rule}/{fixture}");
    let mut files = [load(&path, rules)];
    check_traces(&mut files, rules);
    let [report] = files;
    let lines: Vec<String> = report
        .findings
        .iter()
        .filter(|f| shown(rule, fixture, &f.finding))
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
    insta::with_settings!({ snapshot_suffix => format!("{rule}__{}{variant}", fixture.replace('.', "_")), description => path.clone() }, {
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
        "span-kind",
        "deprecated-attribute",
        "deprecated-value",
        "deprecated-event",
        "reserved-namespace",
        "metric-name-as-attribute",
        "attribute-type",
        "unknown-enum-value",
        "token-count",
        "content-recorded",
        "invalid-message-content",
        "foreign-namespace",
        "provider-attribute-mismatch",
        "error-status-mismatch",
        "status-ok-set",
        "missing-schema-url",
        "resource-attribute-on-span",
        "orphan-span",
        "tool-outside-agent",
        "usage-double-count",
        "shallow-trace",
        "missing-context",
        "tool-call-unmatched",
    ] {
        // Fixtures about attribute values and messages record content, by necessity.
        let lines: Vec<String> = check(rule, "clean.json")
            .into_iter()
            .filter(|l| rule == "content-recorded" || !l.starts_with("content-recorded"))
            .collect();
        assert_eq!(lines, Vec::<String>::new(), "{rule}/clean.json");
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
    // Missing recommended attributes: one info listing them.
    assert_eq!(check(rule, "recommended.json"), only(rule, &["-"]));
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
    // The missing `gen_ai.provider.name` is an error (its help says to rename `gen_ai.system`);
    // the deprecated name is a warning of its own, so turning one rule off keeps the other.
    let mut expected = vec!["missing-required-attribute gen_ai.provider.name".to_string()];
    expected.extend(only(
        rule,
        &[
            "gen_ai.system",
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

#[test]
fn messages_without_content_are_not_content() {
    let findings = check("content-recorded", "messages-without-content.json");
    assert!(
        !findings.iter().any(|f| f.starts_with("content-recorded")),
        "{findings:?}"
    );
}

#[test]
fn every_rule_has_fixtures() {
    for rule in spanlint::rules::all_rules() {
        let dir = format!("fixtures/rules/{}", rule.id);
        assert!(
            std::path::Path::new(&dir).join("clean.json").exists(),
            "{dir}/clean.json"
        );
    }
}

#[test]
fn span_kind() {
    let rule = "span-kind";
    assert_eq!(
        check(rule, "wrong-kinds.json"),
        only(rule, &["-", "-", "-"])
    );
}

#[test]
fn deprecated_event() {
    let rule = "deprecated-event";
    // Two `gen_ai.user.message` events make one finding.
    assert_eq!(
        check(rule, "message-events.json"),
        only(rule, &["-", "-", "-"])
    );
}

#[test]
fn attribute_type() {
    let rule = "attribute-type";
    assert_eq!(
        check(rule, "wrong-types.json"),
        only(
            rule,
            &[
                "gen_ai.usage.input_tokens",
                "gen_ai.response.finish_reasons",
                "gen_ai.request.stop_sequences",
                "gen_ai.request.temperature",
                "gen_ai.tool.definitions",
            ]
        )
        .into_iter()
        .chain(["content-recorded gen_ai.tool.definitions".to_string()])
        .collect::<Vec<_>>()
    );
}

#[test]
fn unknown_enum_value() {
    let rule = "unknown-enum-value";
    assert_eq!(
        check(rule, "library-spellings.json"),
        only(rule, &["gen_ai.provider.name", "gen_ai.output.type"])
    );
}

#[test]
fn metric_name_as_attribute() {
    let rule = "metric-name-as-attribute";
    // Not also a reserved-namespace finding.
    assert_eq!(
        check(rule, "metric-keys.json"),
        only(
            rule,
            &[
                "gen_ai.client.token.usage",
                "gen_ai.client.operation.duration"
            ]
        )
    );
}

#[test]
fn token_count() {
    let rule = "token-count";
    assert_eq!(
        check(rule, "impossible-counts.json"),
        only(
            rule,
            &[
                "gen_ai.usage.input_tokens",
                "gen_ai.usage.output_tokens",
                "gen_ai.request.max_tokens",
                "gen_ai.usage.output_tokens",
            ]
        )
    );
}

fn with_policy(policy: &str) -> Ruleset {
    let text = BUILTIN_RULES.replace("policy = \"forbid\"", &format!("policy = \"{policy}\""));
    Ruleset::new(RulesFile::parse(&text).expect("rules parse")).expect("rules compile")
}

#[test]
fn content_recorded_redacted() {
    let rule = "content-recorded";
    let redacted = with_policy("redacted");
    // Markers pass; the unredacted system instructions do not.
    assert_eq!(
        check_with(rule, "redacted.json", &redacted, "_redacted"),
        only(rule, &["gen_ai.system_instructions"])
    );
    // Unredacted content is reported under `redacted` as under `forbid`.
    let content: Vec<String> =
        check_with(rule, "prompts-and-completions.json", &redacted, "_redacted")
            .into_iter()
            .filter(|l| l.starts_with(rule))
            .collect();
    assert_eq!(content.len(), 5, "{content:?}");
    assert_eq!(
        check_with(rule, "redacted.json", &with_policy("allow"), "_allow"),
        Vec::<String>::new()
    );
}

#[test]
fn invalid_message_content() {
    let rule = "invalid-message-content";
    let findings = check(rule, "bad-shapes.json");
    let ours: Vec<&String> = findings.iter().filter(|l| l.starts_with(rule)).collect();
    assert_eq!(
        ours,
        [
            "invalid-message-content gen_ai.input.messages",
            "invalid-message-content gen_ai.output.messages",
            "invalid-message-content gen_ai.input.messages",
            "invalid-message-content gen_ai.system_instructions",
        ]
    );
}

#[test]
fn foreign_namespace() {
    let rule = "foreign-namespace";
    let findings = check(rule, "openinference-only.json");
    assert_eq!(
        findings
            .iter()
            .filter(|l| l.starts_with(rule))
            .collect::<Vec<_>>(),
        [
            "foreign-namespace gen_ai.operation.name",
            "foreign-namespace gen_ai.operation.name"
        ]
    );
    // The missing operation is reported once, as this rule's finding.
    assert!(
        !findings.contains(&"missing-required-attribute gen_ai.operation.name".to_string()),
        "{findings:?}"
    );
}

#[test]
fn provider_attribute_mismatch() {
    let rule = "provider-attribute-mismatch";
    assert_eq!(
        check(rule, "openai-keys-elsewhere.json"),
        only(
            rule,
            &["openai.response.service_tier", "aws.bedrock.guardrail.id"]
        )
    );
}

#[test]
fn status_rules() {
    assert_eq!(
        check("error-status-mismatch", "error-type-without-error.json"),
        only("error-status-mismatch", &["error.type", "error.type"])
    );
    assert_eq!(
        check("status-ok-set", "ok-status.json"),
        only("status-ok-set", &["-"])
    );
}

#[test]
fn missing_schema_url() {
    assert_eq!(
        check("missing-schema-url", "no-schema-url.json"),
        only("missing-schema-url", &["-"])
    );
}

#[test]
fn resource_attribute_on_span() {
    let rule = "resource-attribute-on-span";
    assert_eq!(
        check(rule, "service-on-span.json"),
        only(rule, &["service.name", "deployment.environment.name"])
    );
}

#[test]
fn trace_rules() {
    assert_eq!(
        check("orphan-span", "lost-parent.json"),
        only("orphan-span", &["-"])
    );
    assert_eq!(
        check("tool-outside-agent", "stray-tool.json"),
        only("tool-outside-agent", &["-"])
    );
    assert_eq!(
        check("usage-double-count", "agent-repeats-usage.json"),
        only("usage-double-count", &["-"])
    );
    assert_eq!(
        check("shallow-trace", "lonely-agent.json"),
        only("shallow-trace", &["-"])
    );
    assert_eq!(
        check("missing-context", "no-conversation.json"),
        only("missing-context", &["-"])
    );
    assert_eq!(
        check("tool-call-unmatched", "unexecuted-call.json"),
        // The tool call carries no arguments, so no content either.
        only("tool-call-unmatched", &["gen_ai.output.messages"])
    );
}

/// A trace split over two files is one trace: the parent in the other file is found.
#[test]
fn traces_span_files() {
    let rules = Ruleset::builtin();
    let dir = "fixtures/rules/orphan-span";
    let rule_of = |files: &[FileReport]| -> Vec<&'static str> {
        files
            .iter()
            .flat_map(|f| &f.findings)
            .map(|f| f.finding.rule)
            .filter(|r| *r == "orphan-span" || *r == "shallow-trace")
            .collect()
    };
    let mut both = [
        load(&format!("{dir}/split-a.json"), &rules),
        load(&format!("{dir}/split-b.json"), &rules),
    ];
    check_traces(&mut both, &rules);
    assert_eq!(rule_of(&both), Vec::<&str>::new());
    // Alone, each half is missing the other.
    let mut b = [load(&format!("{dir}/split-b.json"), &rules)];
    check_traces(&mut b, &rules);
    assert_eq!(rule_of(&b), ["orphan-span"]);
    let mut a = [load(&format!("{dir}/split-a.json"), &rules)];
    check_traces(&mut a, &rules);
    assert_eq!(rule_of(&a), ["shallow-trace"]);
}

/// Without messages (`check --quiet`), every fixture gives the same findings, only without
/// message and help.
#[test]
fn findings_without_messages_are_the_same_findings() {
    use spanlint::check::{CheckOptions, check_file_with};
    let rules = Ruleset::builtin();
    let mut compared = 0;
    let rule_dirs = std::fs::read_dir("fixtures/rules").expect("fixtures/rules");
    let dirs = rule_dirs
        .map(|dir| dir.unwrap().path())
        .chain([std::path::PathBuf::from("fixtures/real")])
        .filter(|dir| dir.is_dir());
    for dir in dirs {
        for file in std::fs::read_dir(dir).unwrap() {
            let path = file.unwrap().path();
            let Ok(loaded) = input::load(&Source::Path(path.clone()), None, &Default::default())
            else {
                continue;
            };
            let with = check_file(&loaded, &rules);
            let options = CheckOptions {
                snippets: false,
                messages: false,
            };
            let without = check_file_with(&loaded, &rules, options);
            let facts = |report: &FileReport| -> Vec<String> {
                let finding = |f: &spanlint::finding::Finding| {
                    let f = f.clone();
                    format!(
                        "{} {} {:?} {} {:?}",
                        f.rule, f.severity, f.attribute, f.offset, f.span
                    )
                };
                report
                    .findings
                    .iter()
                    .map(|f| finding(&f.finding))
                    .collect()
            };
            assert_eq!(facts(&with), facts(&without), "{}", path.display());
            assert!(
                without
                    .findings
                    .iter()
                    .all(|f| f.finding.message.is_empty() && f.finding.help.is_none()),
                "{}",
                path.display()
            );
            assert!(
                with.findings.iter().all(|f| !f.finding.message.is_empty()),
                "{}",
                path.display()
            );
            compared += with.findings.len();
        }
    }
    assert!(compared > 100, "only {compared} findings compared");
}
