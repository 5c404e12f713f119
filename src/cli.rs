//! The command line, declared once with clap's derive: help, errors and (later) completions and
//! the man page all come from here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::report::Format;

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
    #[command(after_help = CHECK_EXAMPLES)]
    Check(CheckArgs),
    /// Print the built-in rules file (TOML), the starting point for a custom `--rules` file.
    #[command(
        after_help = "Example:\n  spanlint rules-file > my-rules.toml   # edit, then: spanlint check --rules my-rules.toml dumps/"
    )]
    RulesFile,
}

const CHECK_EXAMPLES: &str = "\
Examples:
  spanlint check traces.jsonl                 one OTLP/JSON-lines dump
  spanlint check dumps/                       every dump under a directory
  spanlint check 'captures/**/*.pb.zst'       a glob (quote it)
  otelcol-dump | spanlint check -             standard input
  spanlint check --format json dumps/ > findings.json

Exit status: 0 no finding at or above --fail-on, 1 findings at or above it,
2 usage, rules-file, I/O or parse errors.";

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Dump files, directories (searched recursively for .json, .jsonl, .ndjson, .pb, .binpb,
    /// optionally .gz/.zst), quoted glob patterns, or `-` for standard input.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,

    /// Rules file to use instead of the built-in GenAI rules.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Input format; detected from the content when not given.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormatArg>,

    /// Lowest severity that makes the run fail (exit 1).
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,

    /// When to colour the human output: `auto` colours only when standard output is a
    /// terminal, `NO_COLOR` is unset and `TERM` is not `dumb`.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormatArg {
    /// OTLP/JSON (JSON lines, one document, or concatenated documents).
    Json,
    /// OTLP protobuf (one message or a length-prefixed stream).
    Proto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
    /// Never fail because of findings (input errors still exit 2).
    Never,
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
