//! End-to-end tests of `spanlint rules` and `spanlint explain`, and the sync test of the
//! generated rules reference `docs/rules.md`.
//!
//! When a rule is added or its doc comment changes, the snapshots here and `docs/rules.md`
//! change with it: review with `cargo insta review`, regenerate the reference with
//! `SPANLINT_BLESS=1 cargo test --test rule_docs`.

mod common;

use common::{spanlint, stderr, stdout};

/// The rule ids, from the JSON listing.
fn rule_ids() -> Vec<String> {
    let output = spanlint(&["rules", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(document["version"], 1);
    document["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            for field in ["default_severity", "summary", "documentation"] {
                assert!(r[field].is_string(), "{field} of {r}");
            }
            r["id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn rules_lists_every_rule_with_its_default_severity() {
    let output = spanlint(&["rules"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    let ids = rule_ids();
    assert!(ids.len() >= 6, "{ids:?}");
    assert_eq!(
        text.lines().count(),
        ids.len() + 1,
        "a header and one line per rule"
    );
    for id in &ids {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{id} "))),
            "{id}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("span-name-format ") && l.contains(" warning ")),
        "{text}"
    );
    insta::assert_snapshot!("rules", text);
}

#[test]
fn explain_prints_the_doc_comment_of_the_rule_file() {
    let output = spanlint(&["explain", "deprecated-value"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    // The text is the file's leading `//!` comment without the markers, plus the default
    // severity under the title.
    let source = std::fs::read_to_string("src/rules/deprecated_value.rs").unwrap();
    let doc: String = source
        .lines()
        .map_while(|l| l.strip_prefix("//!"))
        .map(|l| format!("{}\n", l.strip_prefix(' ').unwrap_or(l)))
        .collect();
    assert!(doc.contains("## What it checks\n"), "{doc}");
    let severity_line = "\nDefault severity: warning. An attribute has a deprecated enum value.\n";
    assert!(text.contains(severity_line), "{text}");
    assert_eq!(text.replacen(severity_line, "", 1), doc);
    insta::assert_snapshot!("explain_deprecated_value", text);
}

#[test]
fn explain_all_prints_every_rule_and_an_unknown_rule_is_an_error() {
    let output = spanlint(&["explain", "--all"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    for id in rule_ids() {
        assert!(text.contains(&format!("# {id}\n")), "{id}");
    }

    let output = spanlint(&["explain", "span-name-fromat"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("unknown rule `span-name-fromat`"), "{err}");
    assert!(err.contains("did you mean `span-name-format`?"), "{err}");

    // Neither a rule nor --all is a usage error.
    assert_eq!(spanlint(&["explain"]).status.code(), Some(2));
}

/// `docs/rules.md` is `spanlint rules --format markdown`; `SPANLINT_BLESS=1` rewrites it.
#[test]
fn docs_rules_md_is_in_sync_with_the_rule_doc_comments() {
    let output = spanlint(&["rules", "--format", "markdown"]);
    assert_eq!(output.status.code(), Some(0));
    let generated = stdout(&output);
    for id in rule_ids() {
        assert!(generated.contains(&format!("\n## {id}\n")), "{id}");
        assert!(generated.contains(&format!("(#{id})")), "{id}");
    }
    let path = std::path::Path::new("docs/rules.md");
    if std::env::var_os("SPANLINT_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/rules.md is stale: run `SPANLINT_BLESS=1 cargo test --test rule_docs`"
    );
}

/// The README links the reference.
#[test]
fn the_readme_links_the_rules_and_configuration_references() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    assert!(readme.contains("(docs/rules.md)"));
    assert!(readme.contains("(docs/config.md)"));
}

/// The README's overview names every rule, so a new rule cannot be left out of it.
#[test]
fn the_readme_names_every_rule() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    for rule in spanlint::rules::all_rules() {
        assert!(
            readme.contains(&format!("`{}`", rule.id)),
            "README.md does not mention `{}`",
            rule.id
        );
    }
}
