//! The command line, declared once with clap's derive: help, errors, completions
//! (`spanlint completions`) and the man page (`spanlint man`) all come from here. Each
//! subcommand's arguments live with the subcommand in `src/commands/`.

use clap::{Parser, Subcommand, ValueEnum};

/// Lint OpenTelemetry trace dumps against the GenAI semantic conventions.
#[derive(Debug, Parser)]
#[command(name = "spanlint", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check trace dumps against the GenAI conventions and report findings.
    #[command(after_help = crate::commands::check::EXAMPLES)]
    Check(crate::commands::check::CheckArgs),
    /// Print the built-in rules file (TOML), the starting point for a custom `--rules` file.
    #[command(
        after_help = "Example:\n  spanlint rules-file > my-rules.toml   # edit, then: spanlint check --rules my-rules.toml dumps/"
    )]
    RulesFile,
    /// List every rule with its id, default severity and summary.
    Rules(crate::commands::rules::RulesArgs),
    /// Print a rule's documentation: what it checks, why it matters, an example, the fix.
    Explain(crate::commands::explain::ExplainArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(after_help = crate::commands::completions::EXAMPLES)]
    Completions(crate::commands::completions::CompletionsArgs),
    /// Print the man page (roff), of spanlint or of one subcommand.
    #[command(after_help = crate::commands::man::EXAMPLES)]
    Man(crate::commands::man::ManArgs),
    /// Rewrite dumps to the current GenAI conventions (deprecated and foreign attributes).
    #[command(after_help = crate::commands::migrate::EXAMPLES)]
    Migrate(crate::commands::migrate::MigrateArgs),
    /// Measure how far the dumps meet the GenAI conventions: shares, usage, latency, a score.
    #[command(after_help = crate::commands::coverage::EXAMPLES)]
    Coverage(crate::commands::coverage::CoverageArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// `--version` also names the conventions version of the built-in rules, so a CI log shows
/// which conventions a run checked against.
pub fn long_version() -> String {
    let rules = crate::rules::rulesfile::RulesFile::builtin();
    format!(
        "{} (built-in rules: {} {})",
        env!("CARGO_PKG_VERSION"),
        rules.conventions.name,
        rules.conventions.version
    )
}

impl Cli {
    /// Parses the process arguments (exits on `--help`, `--version` and usage errors).
    pub fn parse_args() -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().version(long_version()).get_matches();
        Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit())
    }
}
