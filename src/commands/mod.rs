//! One module per subcommand: its arguments (clap) and how it runs.

pub mod check;
pub mod explain;
pub mod rules;
pub mod rules_file;
