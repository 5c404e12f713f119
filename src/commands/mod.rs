//! One module per subcommand: its arguments (clap) and how it runs.

pub mod check;
pub mod migrate;
pub mod rules_file;
