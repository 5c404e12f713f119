//! `spanlint rules`: every rule kind with its id, default severity and summary, as a table, as
//! JSON, or as the Markdown rules reference (`docs/rules.md` is this output, kept in sync by a
//! test). All of it comes from [`all_rules`] and [`documentation`], the one source of rule metadata.

use clap::{Args, ValueEnum};

use crate::app::{ExitStatus, write_stdout};
use crate::rules::{RuleInfo, all_rules, documentation};

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = RulesFormat::Text)]
    pub format: RulesFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RulesFormat {
    /// One line per rule: id, default severity, summary.
    Text,
    /// `{"version": 1, "rules": [{"id", "default_severity", "summary", "documentation"}]}`.
    Json,
    /// The Markdown rules reference (what `docs/rules.md` holds).
    Markdown,
}

pub fn run(args: &RulesArgs) -> ExitStatus {
    let text = match args.format {
        RulesFormat::Text => table(),
        RulesFormat::Json => json(),
        RulesFormat::Markdown => markdown(),
    };
    write_stdout(&text).err().unwrap_or(ExitStatus::Clean)
}

/// The rules as an aligned table.
pub fn table() -> String {
    let width = all_rules().map(|r| r.id.len()).max().unwrap_or(0);
    let mut out = format!("{:width$}  {:7}  SUMMARY\n", "RULE", "DEFAULT");
    for rule in all_rules() {
        out.push_str(&format!(
            "{:width$}  {:7}  {}\n",
            rule.id,
            rule.default_severity.as_str(),
            rule.summary
        ));
    }
    out
}

/// The rules as one JSON document.
pub fn json() -> String {
    let rules: Vec<serde_json::Value> = all_rules()
        .map(|r| {
            serde_json::json!({
                "id": r.id,
                "default_severity": r.default_severity,
                "summary": r.summary,
                "documentation": documentation(r.id),
            })
        })
        .collect();
    let document = serde_json::json!({ "version": 1, "rules": rules });
    let mut text = serde_json::to_string_pretty(&document).expect("JSON serializes");
    text.push('\n');
    text
}

/// A rule's documentation as `spanlint explain` prints it: the doc comment with the default
/// severity under its title.
pub fn explanation(rule: &RuleInfo) -> String {
    let doc = documentation(rule.id).unwrap_or_default();
    let (title, rest) = doc.split_once('\n').unwrap_or((doc, ""));
    format!(
        "{title}\n\nDefault severity: {}. {}{}\n{rest}",
        rule.default_severity,
        capitalize(rule.summary),
        if rule.summary.ends_with('.') { "" } else { "." },
    )
}

/// The rules reference in Markdown: a table of every rule, then each rule's documentation with
/// its headings one level down.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Rules\n\n\
         <!-- Generated from the doc comments in src/rules/ by `spanlint rules --format markdown`. \
         Do not edit: `SPANLINT_BLESS=1 cargo test --test rule_docs` rewrites it. -->\n\n\
         Every rule spanlint checks, with its default severity. `spanlint explain RULE` prints a \
         rule's section; a rule's severity can be changed or the rule turned off in \
         `spanlint.toml` (see [the configuration reference](config.md)).\n\n\
         | rule | default | flags |\n| --- | --- | --- |\n",
    );
    for rule in all_rules() {
        out.push_str(&format!(
            "| [`{id}`](#{id}) | {} | {} |\n",
            rule.default_severity,
            rule.summary,
            id = rule.id
        ));
    }
    for rule in all_rules() {
        out.push('\n');
        out.push_str(&demote_headings(&explanation(rule)));
    }
    out
}

/// `# x` → `## x` outside fenced code blocks.
fn demote_headings(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut fenced = false;
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if !fenced && line.starts_with('#') {
            out.push('#');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_are_demoted_outside_code_blocks() {
        let text = "# a\n## b\n```toml\n# comment\n```\ntext # not a heading\n";
        assert_eq!(
            demote_headings(text),
            "## a\n### b\n```toml\n# comment\n```\ntext # not a heading\n"
        );
    }

    #[test]
    fn the_table_lists_every_rule() {
        let table = table();
        assert_eq!(table.lines().count(), all_rules().count() + 1);
        for rule in all_rules() {
            assert!(table.contains(rule.id));
        }
    }
}
