//! `spanlint explain RULE | --all`: a rule's documentation, which is the `//!` comment at the
//! top of its source file under `src/rules/`.

use clap::{ArgGroup, Args};

use crate::app::{ExitStatus, eprint_diagnostic, write_stdout};
use crate::commands::rules::explanation;
use crate::rules::{all_rules, closest_rule_id, rule};

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).args(["rule", "all"])))]
pub struct ExplainArgs {
    /// The rule id, e.g. `deprecated-attribute` (`spanlint rules` lists them).
    #[arg(value_name = "RULE")]
    pub rule: Option<String>,

    /// Explain every rule.
    #[arg(long)]
    pub all: bool,
}

pub fn run(args: &ExplainArgs) -> ExitStatus {
    let text = match &args.rule {
        Some(id) => match rule(id) {
            Some(rule) => explanation(rule),
            None => {
                let help = match closest_rule_id(id) {
                    Some(meant) => format!("did you mean `{meant}`?"),
                    None => "`spanlint rules` lists the rule ids".to_string(),
                };
                let report = miette::miette!(
                    code = "spanlint::explain::unknown_rule",
                    help = help,
                    "unknown rule `{id}`"
                );
                eprint_diagnostic(report.as_ref());
                return ExitStatus::Error;
            }
        },
        None => all_rules().map(explanation).collect::<Vec<_>>().join("\n"),
    };
    write_stdout(&text).err().unwrap_or(ExitStatus::Clean)
}
