//! One module per subcommand: its arguments (clap) and how it runs.

pub mod check;
pub mod completions;
pub mod coverage;
pub mod explain;
pub mod man;
pub mod migrate;
pub mod rules;
pub mod rules_file;
pub mod serve;

/// The configuration flags every command that reads dumps shares.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// Configuration file to use instead of the `.spanlint.toml` or `spanlint.toml` found by
    /// walking up from the current directory.
    #[arg(long, value_name = "FILE", help_heading = "Config")]
    pub config: Option<std::path::PathBuf>,

    /// Use no configuration file (defaults only).
    #[arg(long, conflicts_with = "config", help_heading = "Config")]
    pub isolated: bool,
}

impl ConfigArgs {
    /// The configuration these flags select: `--config FILE`, none with `--isolated`, else the
    /// one found by walking up from the current directory.
    pub fn load(&self) -> Result<crate::config::Config, miette::Report> {
        use crate::config::{Config, ConfigChoice};
        let cwd = std::env::current_dir().unwrap_or_default();
        let choice = match (&self.config, self.isolated) {
            (Some(path), _) => ConfigChoice::File(path),
            (None, true) => ConfigChoice::Isolated,
            (None, false) => ConfigChoice::Discover(&cwd),
        };
        Config::load(choice).map_err(miette::Report::from)
    }
}
