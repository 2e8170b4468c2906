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
    /// List and prune the AMIs imagekit built.
    Images {
        #[command(subcommand)]
        command: ImagesCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Show each AMI imagekit tagged: name, ID, region, OS, arch, fingerprint, creation date,
    /// and what uses it.
    List(ImagesListArgs),
    /// Deregister old AMIs and delete their snapshots, keeping the newest N per
    /// (os, distro, arch, region) and every AMI still in use.
    ///
    /// In use means: referenced by a launch template version an Auto Scaling group launches from,
    /// or by a template's default or latest version; run by an existing instance; or shared with
    /// other accounts (unless --include-shared).
    Prune(ImagesPruneArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImagesListArgs {
    /// Only this OS (repeatable).
    #[arg(long, value_parser = ["linux", "windows", "macos"])]
    pub os: Vec<String>,
    /// Region to look in (repeatable); default: the environment's region.
    #[arg(long)]
    pub region: Vec<String>,
    /// Print one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ImagesPruneArgs {
    /// How many of the newest AMIs to keep per (os, distro, arch, region).
    #[arg(long)]
    pub keep: usize,
    /// Only remove AMIs older than this, e.g. 30d, 12h, 2w.
    #[arg(long, value_name = "DURATION")]
    pub older_than: Option<String>,
    /// Region to prune (repeatable); default: the environment's region.
    #[arg(long)]
    pub region: Vec<String>,
    /// Only this OS (repeatable).
    #[arg(long, value_parser = ["linux", "windows", "macos"])]
    pub os: Vec<String>,
    /// Also remove AMIs shared with other accounts.
    #[arg(long)]
    pub include_shared: bool,
    /// Print what would go and why each other AMI stays; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}
