//! One module per subcommand: its arguments (clap) and how it runs.

pub mod check;
pub mod completions;
pub mod coverage;
pub mod explain;
pub mod man;
pub mod migrate;
pub mod rules;
pub mod rules_file;
