//! Command-line definitions (clap derive only).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::logging::LogFormat;

/// Turns a booted EC2 instance into a registered CI agent, and hands it back to its ASG when
/// the agent is done.
#[derive(Debug, Parser)]
#[command(name = "imagekit-bootstrap", version = crate::version::long_version())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Boot: read the config, identity, token and cache, start the agent, give the instance back
    /// when it exits.
    Run {
        /// A config layer that wins over the baked config and the config parameter.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// An SSM parameter holding a config layer (ours, or agent-aws-stack's
        /// `<stack>-config`).
        #[arg(long, value_name = "NAME")]
        config_parameter: Option<String>,
        #[arg(long, value_enum, default_value_t = LogFormat::Auto)]
        log_format: LogFormat,
        /// Windows only: run under the Service Control Manager (the baked service's command
        /// line), so that a service stop stops the agent and the instance is given back.
        #[arg(long)]
        service: bool,
    },
    #[command(about = crate::agent::ON_SHUTDOWN_ABOUT)]
    OnShutdown,
    /// Checks a downloaded release asset against its release's checksums file (exit 0: it
    /// matches; 1: it does not, or the file lists it other than once). The image's provisioning
    /// scripts call it for the agent and the toolbox.
    #[command(name = "verify-sha256")]
    VerifySha256 {
        /// The release's checksums file (`<sha256> <name>` lines).
        #[arg(long, value_name = "FILE")]
        checksums: PathBuf,
        /// The asset's name in that file [default: FILE's own name].
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// The downloaded asset.
        file: PathBuf,
    },
    /// CircleCI's `command_prefix`: records the task's start in the state dir, sets the job's
    /// variables, becomes the agent user and execs the task-agent the runner passes after `--`.
    /// Run by the runner, never by hand.
    #[command(name = "circleci-task", hide = true)]
    CircleciTask {
        /// The bootstrap's state dir.
        #[arg(long, value_name = "DIR")]
        state_dir: PathBuf,
        /// The user to run the task as [default: the current one].
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// The task-agent and its arguments, as the runner passes them.
        #[arg(last = true, required = true, value_name = "TASK_AGENT")]
        command: Vec<std::ffi::OsString>,
    },
    /// A Buildkite agent hook on Windows (the `.bat` hooks the bootstrap writes call it): records
    /// the registration or the job's start and end in the state dir, and hands the job's
    /// variables to the agent's Job API. Run by the agent, never by hand.
    #[command(name = crate::agent::BUILDKITE_HOOK, hide = true)]
    BuildkiteHook {
        /// The hook the agent runs.
        #[arg(value_enum)]
        name: crate::agent::BuildkiteHookName,
    },
    /// Prints the config known before boot (baked config, --config FILE and defaults) as JSON.
    ShowConfig {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[arg(long, value_name = "NAME")]
        config_parameter: Option<String>,
    },
}
