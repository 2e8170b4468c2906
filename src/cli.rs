//! clap definitions only. Behaviour lives in the library modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
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
    /// Render Packer build directories for image variants (flags or imagekit.toml).
    Render(Box<RenderArgs>),
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub variant: crate::spec::VariantArgs,

    /// Parent directory: each variant goes to DIR/<variant id>/.
    #[arg(long, value_name = "DIR", default_value = "imagekit-out")]
    pub out: PathBuf,

    /// Use the templates in DIR (a copy of packer/) instead of the embedded ones.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,

    /// The imagekit-bootstrap binary to bake in [default: the one beside imagekit, for a
    /// variant of this machine's OS and arch].
    #[arg(long, value_name = "PATH")]
    pub bootstrap_bin: Option<PathBuf>,

    /// Bootstrap binaries for every target, as `cargo xtask dist` writes them; each is checked
    /// against DIR/SHA256SUMS before use [default: dist].
    #[arg(long, value_name = "DIR")]
    pub bootstrap_dir: Option<PathBuf>,

    /// Leave out what Packer 1.6 predates (required_plugins, metadata_options, imds_support).
    #[arg(long)]
    pub legacy_packer: bool,

    /// Write nothing; exit 1 naming the files in DIR (or DIR/<variant id>/) that differ from
    /// what would be rendered now.
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pub check: Option<PathBuf>,
}
