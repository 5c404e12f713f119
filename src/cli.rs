//! The command line, declared once with clap's derive: help, errors, completions
//! (`spanlint completions`) and the man page (`spanlint man`) all come from here. Each
//! subcommand's arguments live with the subcommand in `src/commands/`.

use clap::{Parser, Subcommand, ValueEnum};

/// Lint OpenTelemetry trace dumps against the GenAI semantic conventions.
const EXAMPLES: &str = "\
Examples:
  spanlint check dumps/                    lint trace dumps (JSON or protobuf, plain or compressed)
  spanlint check --format sarif -o spanlint.sarif dumps/
  spanlint migrate dumps/ -o migrated/     rewrite deprecated and foreign attributes
  spanlint explain reserved-namespace      what a rule checks and how to fix it
  spanlint rules                           every rule and its default severity

Configuration: spanlint.toml (or .spanlint.toml), found by walking up from the current
directory; see docs/config.md. Exit status: 0 clean, 1 findings, 2 errors.";

#[derive(Debug, Parser)]
#[command(name = "spanlint", version, about, long_about = None, after_help = EXAMPLES)]
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
    #[command(
        after_help = "Examples:\n  spanlint rules                      the table\n  spanlint rules --format json        with each rule's documentation\n  spanlint rules --format markdown    the reference in docs/rules.md"
    )]
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
    /// Receive OTLP traces from running apps and check them live (optionally record, migrate
    /// and forward them).
    #[command(after_help = crate::commands::serve::EXAMPLES)]
    Serve(crate::commands::serve::ServeArgs),
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
    // Every run builds this (clap needs it before parsing): read the conventions alone.
    let conventions = crate::rules::rulesfile::RulesFile::builtin_conventions();
    format!(
        "{} (built-in rules: {} {})",
        env!("CARGO_PKG_VERSION"),
        conventions.name,
        conventions.version
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
