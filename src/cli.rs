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
    /// Grow an Auto Scaling group from a CI system's job queue (never shrinks it).
    ///
    /// Polls the queue every --interval, raises the group's desired capacity to
    /// ceil(jobs / agents-per-instance) + overprovision, clamped to [min, max], and never lowers
    /// it: idle agents give their instances back themselves. With AWS_LAMBDA_RUNTIME_API set, the
    /// binary serves the Lambda runtime instead and reads these settings from the IMAGEKIT_SCALE_*
    /// variables shown below.
    Scale(Box<ScaleArgs>),
}

/// Which CI system's queue to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Ci {
    Semaphore,
    Buildkite,
    Circleci,
}

/// `imagekit scale` settings. Each flag also reads an `IMAGEKIT_SCALE_*` variable, which is how
/// the Lambda runtime (no argv) gets them.
#[derive(Debug, Clone, clap::Args)]
pub struct ScaleArgs {
    /// The Auto Scaling group to grow.
    #[arg(
        long,
        env = "IMAGEKIT_SCALE_ASG",
        hide_env_values = true,
        value_name = "NAME"
    )]
    pub asg: String,

    /// The CI system whose queue decides the capacity.
    #[arg(long, env = "IMAGEKIT_SCALE_CI", hide_env_values = true, value_enum)]
    pub ci: Ci,

    /// SSM parameter (SecureString) holding the CI API token: Semaphore's agent-type token,
    /// Buildkite's agent token, or a CircleCI token. Read once, and again after a 401.
    #[arg(
        long,
        env = "IMAGEKIT_SCALE_TOKEN_PARAMETER",
        hide_env_values = true,
        value_name = "NAME"
    )]
    pub token_parameter: String,

    /// The CI API: a host name (https implied), e.g. ORG.semaphoreci.com, or a full URL such as
    /// http://127.0.0.1:8080. Required for Semaphore; Buildkite defaults to agent.buildkite.com,
    /// CircleCI to runner.circleci.com.
    #[arg(
        long,
        env = "IMAGEKIT_SCALE_ENDPOINT",
        hide_env_values = true,
        value_name = "HOST|URL"
    )]
    pub endpoint: Option<String>,

    /// Buildkite queue to read (required with --ci buildkite).
    #[arg(
        long,
        env = "IMAGEKIT_SCALE_QUEUE",
        hide_env_values = true,
        value_name = "Q"
    )]
    pub queue: Option<String>,

    /// CircleCI runner resource class, NAMESPACE/NAME (required with --ci circleci).
    #[arg(
        long,
        env = "IMAGEKIT_SCALE_RESOURCE_CLASS",
        hide_env_values = true,
        value_name = "NS/NAME"
    )]
    pub resource_class: Option<String>,

    /// Agents each instance runs.
    #[arg(
        long,
        env = "IMAGEKIT_SCALE_AGENTS_PER_INSTANCE",
        hide_env_values = true,
        default_value_t = 1,
        value_name = "N"
    )]
    pub agents_per_instance: u32,

    /// Time between ticks: e.g. 10s, 500ms, 1m (plain numbers are seconds).
    #[arg(
        long,
        env = "IMAGEKIT_SCALE_INTERVAL",
        hide_env_values = true,
        default_value = "10s",
        value_name = "DURATION"
    )]
    pub interval: String,

    /// Run one tick (no jitter) and exit: 0 if it completed, 1 if the queue or the ASG could not
    /// be read.
    #[arg(long)]
    pub once: bool,

    /// Lower bound for the desired capacity [default: the ASG's MinSize].
    #[arg(
        long,
        env = "IMAGEKIT_SCALE_MIN",
        hide_env_values = true,
        value_name = "N"
    )]
    pub min: Option<u32>,

    /// Upper bound for the desired capacity [default: the ASG's MaxSize].
    #[arg(
        long,
        env = "IMAGEKIT_SCALE_MAX",
        hide_env_values = true,
        value_name = "N"
    )]
    pub max: Option<u32>,

    /// Spare instances on top of what the queue needs: a count (2) or a percentage of it (25%).
    #[arg(
        long,
        env = "IMAGEKIT_SCALE_OVERPROVISION",
        hide_env_values = true,
        default_value = "0",
        value_name = "N|N%"
    )]
    pub overprovision: String,

    /// Decide and log, but never call SetDesiredCapacity.
    #[arg(long, env = "IMAGEKIT_SCALE_DRY_RUN", hide_env_values = true)]
    pub dry_run: bool,

    /// Print one JSON object per tick on stdout.
    #[arg(long)]
    pub json: bool,

    /// Publish queue and capacity figures to CloudWatch (PutMetricData) each tick.
    #[arg(long, env = "IMAGEKIT_SCALE_METRICS", hide_env_values = true)]
    pub metrics: bool,

    /// CloudWatch namespace for --metrics.
    #[arg(
        long,
        env = "IMAGEKIT_SCALE_METRICS_NAMESPACE",
        hide_env_values = true,
        default_value = "imagekit",
        value_name = "NS"
    )]
    pub metrics_namespace: String,

    /// AWS region [default: the environment's].
    #[arg(
        long,
        env = "IMAGEKIT_SCALE_REGION",
        hide_env_values = true,
        value_name = "REGION"
    )]
    pub region: Option<String>,

    /// Lambda mode: stop ticking this long before the invocation's deadline.
    #[arg(
        long,
        env = "IMAGEKIT_SCALE_SAFETY_MARGIN",
        hide_env_values = true,
        default_value = "5s",
        value_name = "DURATION"
    )]
    pub safety_margin: String,
}

/// The Lambda entry point's view of the command line: no argv, every setting from the
/// environment.
#[derive(Debug, Parser)]
#[command(name = "imagekit-scale-lambda")]
pub struct LambdaCli {
    #[command(flatten)]
    pub scale: ScaleArgs,
}
