//! clap definitions only. Behaviour lives in the library modules.

use clap::{Parser, Subcommand};
use imagekit_bootstrap::logging::LogFormat;

/// Build CI agent images for EC2 (Linux, Windows, macOS) and run them as an autoscaled fleet.
#[derive(Debug, Parser)]
#[command(name = "imagekit", version = imagekit_bootstrap::version::long_version())]
pub struct Cli {
    /// Log format: human on a TTY and JSON lines otherwise, unless set.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the version, target and git commit.
    Version,
}
