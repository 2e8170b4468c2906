//! clap definitions only. `commands/` turns them into each module's own options; no other
//! module imports them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use imagekit_bootstrap::logging::LogFormat;
use imagekit_core::{AgentKind, Os};

use crate::spec::{Arch, Distro};

mod stack_flags;
pub use stack_flags::StackFlags;

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
    /// Build the images with Packer in every region, skipping what already exists.
    ///
    /// Each variant's fingerprint is looked up in every target region first: a complete set is
    /// `skipped` (no Packer runs), a partial set is `copied` (CopyImage plus tags), otherwise
    /// Packer builds in the first region and copies to the rest. Variants build concurrently
    /// (--jobs); one failing never stops the others. AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_EC2,
    /// when set, are used for imagekit's calls and passed to Packer as its EC2 endpoint.
    ///
    /// Test and debug override: --ssh-host/--ssh-port point Packer's communicator elsewhere
    /// (e.g. a closed local port, to hold a build mid-way); they are not part of the fingerprint.
    Build(Box<BuildArgs>),
    /// List and prune the AMIs imagekit built.
    Images {
        #[command(subcommand)]
        command: ImagesCommand,
    },
    /// Print user-data that hands a boot config to the image's bootstrap service.
    Userdata(UserdataArgs),
    /// Print a least-privilege IAM policy (JSON) for the builder, the instances or the scaler.
    IamPolicy {
        #[command(subcommand)]
        policy: IamPolicyCommand,
    },
    /// Grow an Auto Scaling group from a CI system's job queue (never shrinks it).
    ///
    /// Polls the queue every --interval, raises the group's desired capacity to
    /// ceil(jobs / agents-per-instance) + overprovision, clamped to [min, max], and never lowers
    /// it: idle agents give their instances back themselves. With AWS_LAMBDA_RUNTIME_API set, the
    /// binary serves the Lambda runtime instead and reads these settings from the IMAGEKIT_SCALE_*
    /// variables shown below. Its first tick suspends the group's AZ rebalancing, which would end
    /// instances mid-job (with --dry-run it only says it would).
    Scale(Box<ScaleArgs>),
    /// The fleet as CloudFormation: one stack per agent type (imagekit.toml [[stack]] tables).
    Stack {
        #[command(subcommand)]
        command: StackCommand,
    },
    /// Check this machine and account before a build: one line per check, with the fix.
    ///
    /// Packer and its mode, the dist bootstrap binaries against SHA256SUMS, the demo's tools
    /// (when run from the repository), the AWS identity, each region (DescribeImages), and with
    /// --boot-config or --stack-config the token parameter and the cache bucket the instances
    /// read. Exits 1 when any check fails; a warning does not.
    Doctor(DoctorArgs),
    /// Print a shell completion script on stdout (see the README for where each shell reads it).
    ///
    /// bash: `imagekit completions bash > ~/.local/share/bash-completion/completions/imagekit`;
    /// zsh: into a directory of your $fpath as `_imagekit`; fish:
    /// `~/.config/fish/completions/imagekit.fish`; PowerShell: add
    /// `imagekit completions powershell | Out-String | Invoke-Expression` to your $PROFILE.
    Completions {
        /// The shell the script is for.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Write one man page per command into DIR (`cargo xtask man` runs it).
    #[command(hide = true)]
    Man {
        /// The directory to write the pages into; created if missing.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// The shells `completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Region to check (repeatable); default: the environment's region.
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,
    /// A boot config whose token parameter and cache bucket must be readable.
    #[arg(long, value_name = "FILE")]
    pub boot_config: Option<PathBuf>,
    /// agent-aws-stack's deploy-time config.json, for the same checks.
    #[arg(long, value_name = "FILE")]
    pub stack_config: Option<PathBuf>,
    /// The Packer executable.
    #[arg(long, value_name = "PATH", default_value = "packer")]
    pub packer: PathBuf,
    /// The dist directory of `cargo xtask dist`.
    #[arg(long, value_name = "DIR", default_value = imagekit_core::dist::DEFAULT_DIR)]
    pub dist_dir: PathBuf,
    /// Print the checks as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum StackCommand {
    /// Print (or write, one file per stack) each stack's CloudFormation template as JSON.
    ///
    /// Offline and deterministic: the same input gives the same bytes, and no AWS call is made.
    /// The stacks are the [[stack]] tables of imagekit.toml (or --config FILE), one stack given
    /// by flags (--name, --os, ...), or agent-aws-stack's config.json (--stack-config). The
    /// template's parameters are only what deploy knows: the image and the scaler's code.
    Render(Box<StackRenderArgs>),
    /// Create or update each stack through a change set: show it, ask, execute it and wait.
    ///
    /// First the token parameter must exist. The image is resolved in the stack's region (an
    /// ami- id, the newest image imagekit built for { variant = ID }, or { ssm = PATH }), and the
    /// scaler's zip goes to the account's artifacts bucket (created if missing, kept on destroy)
    /// under a key derived from its contents. An unchanged stack executes nothing. Updates roll
    /// by attrition: a new launch template version for new instances; running ones finish their
    /// job. On a terminal it asks before executing; without one, --yes is required. After each
    /// deploy the group's AZ rebalancing is suspended.
    Deploy(Box<StackDeployArgs>),
    /// Show each stack's change set (the full create for a new stack) and delete it: nothing
    /// is executed, nothing is left behind.
    Diff(Box<StackDiffArgs>),
    /// Delete a stack and wait. Refuses while any instance is in service, unless --force.
    ///
    /// The artifacts bucket and a cache bucket the stack created are kept. On a terminal it asks
    /// first; without one, --yes is required.
    Destroy(StackDestroyArgs),
    /// imagekit's stacks in a region: agent kind, image, group size (desired / in service), and
    /// whether the scaler is on.
    List(StackListArgs),
}

/// Where the stacks come from: the file, one stack from flags, or agent-aws-stack's config.
#[derive(Debug, Args)]
pub struct StackSourceArgs {
    /// The file holding the [[stack]] tables [default: ./imagekit.toml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Only this stack of the file.
    #[arg(long, value_name = "NAME")]
    pub stack: Option<String>,

    /// agent-aws-stack's deploy-time config.json (SEMAPHORE_AGENT_* keys), as one stack.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    pub stack_config: Option<PathBuf>,

    #[command(flatten)]
    pub flags: StackFlags,
}

#[derive(Debug, Args)]
pub struct StackRenderArgs {
    #[command(flatten)]
    pub source: StackSourceArgs,

    /// Write DIR/<stack>.json for every stack instead of printing one.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Write nothing; exit 1 naming each DIR/<stack>.json that differs from what would be
    /// rendered now.
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pub check: Option<PathBuf>,
}

/// Where the scaler's code comes from, for deploy and diff.
#[derive(Debug, Args)]
pub struct ScalerCodeArgs {
    /// The scaler's Lambda zip [default: DIST/imagekit-scaler-<target>.zip for the stack's
    /// scaler arch, built by `cargo xtask dist --scaler`].
    #[arg(long, value_name = "PATH")]
    pub scaler_zip: Option<PathBuf>,

    /// The dist directory of `cargo xtask dist`.
    #[arg(long, value_name = "DIR", default_value = imagekit_core::dist::DEFAULT_DIR)]
    pub dist_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct StackDeployArgs {
    #[command(flatten)]
    pub source: StackSourceArgs,

    /// Execute without asking (required without a terminal).
    #[arg(long)]
    pub yes: bool,

    /// Show the change set, then delete it: nothing is executed or uploaded.
    #[arg(long)]
    pub dry_run: bool,

    /// Print one JSON document on stdout.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub code: ScalerCodeArgs,
}

#[derive(Debug, Args)]
pub struct StackDiffArgs {
    #[command(flatten)]
    pub source: StackSourceArgs,

    /// Print one JSON document on stdout.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub code: ScalerCodeArgs,
}

#[derive(Debug, Args)]
pub struct StackDestroyArgs {
    /// The stack to delete (its [[stack]] name).
    #[arg(value_name = "STACK")]
    pub name: String,

    /// The stack's region [default: the environment's region].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// Delete even while instances are in service: their jobs are cut off.
    #[arg(long)]
    pub force: bool,

    /// Delete without asking (required without a terminal).
    #[arg(long)]
    pub yes: bool,

    /// Print one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StackListArgs {
    /// The region to list [default: the environment's region].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// Print one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Shared variant flags, flattened into both `render` and `build`.
#[derive(Debug, Clone, Default, Args)]
pub struct VariantArgs {
    /// Operating system of the image. Without it, every image in imagekit.toml is used.
    #[arg(long, value_enum)]
    pub os: Option<Os>,

    /// CPU architecture. macOS takes it from the instance type when absent; otherwise x86_64.
    #[arg(long, value_enum)]
    pub arch: Option<Arch>,

    /// Linux distribution [default: ubuntu-24.04].
    #[arg(long, value_enum)]
    pub distro: Option<Distro>,

    /// EC2 instance type for the build [default: t3.small / t4g.small on Linux, t3.large on
    /// Windows, mac1.metal / mac2.metal on macOS].
    #[arg(long)]
    pub instance_type: Option<String>,

    /// Region, repeatable: the first is the build region, the rest are copy targets
    /// [default: us-east-1].
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,

    /// CI agent to bake in; overrides imagekit.toml's `agent` [default: semaphore].
    #[arg(long, value_enum)]
    pub agent: Option<AgentKind>,

    /// Release of that agent to bake in, e.g. v2.2.23 [default: the release imagekit pins for
    /// that agent].
    #[arg(long)]
    pub agent_version: Option<String>,

    /// Source AMI id; overrides the source AMI filter.
    #[arg(long)]
    pub source_ami: Option<String>,

    /// macOS: place the build on a host from this host resource group.
    #[arg(long, conflicts_with = "host_id")]
    pub host_resource_group_arn: Option<String>,

    /// macOS: place the build on this dedicated host (h-...).
    #[arg(long)]
    pub host_id: Option<String>,

    /// Extra AMI tag, repeatable. Keys starting with `imagekit:` are reserved.
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,

    /// The image matrix [default: ./imagekit.toml if present].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Build with `communicator = "none"` and no provisioners: only the AWS side runs.
    #[arg(long)]
    pub skip_provisioning: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub variant: VariantArgs,

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

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub variant: VariantArgs,

    /// Print the plan (variants, regions, fingerprints, what would be built, copied or
    /// skipped) and touch nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Rebuild even when the fingerprint exists, replacing the old image and its snapshots.
    #[arg(long)]
    pub force: bool,

    /// Build natively in each region instead of building once and copying.
    #[arg(long)]
    pub per_region_build: bool,

    /// How many Packer processes run at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,

    /// The Packer executable [default: packer on PATH].
    #[arg(long, value_name = "PATH", default_value = "packer")]
    pub packer: PathBuf,

    /// Print exactly one JSON document on stdout; progress goes to stderr as plain lines.
    #[arg(long)]
    pub json: bool,

    /// Use the templates in DIR (a copy of packer/) instead of the embedded ones.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,

    /// The imagekit-bootstrap binary to bake in [default: the one beside imagekit, for a
    /// variant of this machine's OS and arch].
    #[arg(long, value_name = "PATH")]
    pub bootstrap_bin: Option<PathBuf>,

    /// Bootstrap binaries for every target, as `cargo xtask dist` writes them; each is checked
    /// against DIR/SHA256SUMS while planning, before any Packer starts [default: dist].
    #[arg(long, value_name = "DIR")]
    pub bootstrap_dir: Option<PathBuf>,

    /// Keep the rendered build directories here (DIR/<variant id>/) instead of a temporary
    /// directory that is removed after a successful run.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,

    /// Test/debug override of the communicator's host (not in the fingerprint).
    #[arg(long, hide = true)]
    pub ssh_host: Option<String>,

    /// Test/debug override of the communicator's port (not in the fingerprint).
    #[arg(long, hide = true)]
    pub ssh_port: Option<u16>,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Show each AMI imagekit tagged: name, ID, region, OS, arch, agent and its version,
    /// fingerprint, creation date, and what uses it.
    List(ImagesListArgs),
    /// Deregister old AMIs and delete their snapshots, keeping the newest N per
    /// (os, distro, arch, agent, region) and every AMI still in use.
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
    /// Only images of this agent kind (repeatable).
    #[arg(long, value_enum)]
    pub agent: Vec<AgentKind>,
    /// Region to look in (repeatable); default: the environment's region.
    #[arg(long)]
    pub region: Vec<String>,
    /// Print one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ImagesPruneArgs {
    /// How many of the newest AMIs to keep per (os, distro, arch, agent, region): one kind's
    /// images never count against, or make room for, another's.
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
    /// Only images of this agent kind (repeatable): the others are neither listed nor touched.
    #[arg(long, value_enum)]
    pub agent: Vec<AgentKind>,
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

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["config", "stack_config"])))]
pub struct UserdataArgs {
    /// The OS whose boot agent reads the user-data: linux (cloud-init), windows (EC2Launch v2)
    /// or macos (ec2-macos-init).
    #[arg(long, value_name = "linux|windows|macos")]
    pub os: String,
    /// A boot config (imagekit_bootstrap's schema); it reaches the instance byte for byte.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// agent-aws-stack's deploy-time config.json, mapped into a boot config.
    #[arg(long, value_name = "FILE")]
    pub stack_config: Option<PathBuf>,
    /// Print the user-data base64-encoded, as launch templates take it.
    #[arg(long)]
    pub base64: bool,
}

/// Where ARNs point: `*` for the region or account when not given.
#[derive(Debug, Args)]
pub struct ScopeArgs {
    /// Region for ARNs (repeatable); `*` when not given.
    #[arg(long = "region", value_name = "R")]
    pub regions: Vec<String>,
    /// Account id for ARNs; `*` when not given.
    #[arg(long, value_name = "A")]
    pub account_id: Option<String>,
    #[arg(long, value_name = "P", default_value = "aws")]
    pub partition: String,
}

#[derive(Debug, Subcommand)]
pub enum IamPolicyCommand {
    /// What Packer's amazon-ebs and imagekit's own EC2 calls need to build, copy and prune images.
    Builder {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// The instance profile: token parameter, KMS via SSM, cache bucket, own ASG, logs.
    Instance {
        /// SSM parameter the bootstrap reads (the token); repeatable.
        #[arg(long = "ssm-parameter", value_name = "NAME", required = true)]
        ssm_parameters: Vec<String>,
        /// SSM parameter holding a further boot-config layer.
        #[arg(long, value_name = "NAME")]
        config_parameter: Option<String>,
        /// Customer-managed KMS key of the parameters; any key through SSM when not given.
        #[arg(long, value_name = "ARN")]
        kms_key: Option<String>,
        /// The S3 bucket of the job cache.
        #[arg(long, value_name = "B")]
        cache_bucket: Option<String>,
        /// The fleet's Auto Scaling group; any group in scope when not given.
        #[arg(long, value_name = "N")]
        asg_name: Option<String>,
        /// CloudWatch Logs group name prefix.
        #[arg(long, value_name = "P", default_value = "/imagekit/")]
        log_group_prefix: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// What `imagekit scale` needs: its CI token, its ASG, its metrics.
    Scaler {
        /// SSM parameter holding the CI API token.
        #[arg(long, value_name = "NAME")]
        token_parameter: String,
        /// The Auto Scaling group it raises.
        #[arg(long, value_name = "N")]
        asg_name: String,
        /// Customer-managed KMS key of the token parameter.
        #[arg(long, value_name = "ARN")]
        kms_key: Option<String>,
        /// CloudWatch namespace of `--metrics`.
        #[arg(long, value_name = "NS", default_value = "imagekit")]
        metrics_namespace: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
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
    pub ci: AgentKind,

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

    /// A group marked as failing to start agents (tag imagekit:failed-start) is not raised for
    /// this long after its first failed start, doubled for each further one.
    #[arg(
        long,
        env = "IMAGEKIT_SCALE_FAILED_START_BACKOFF",
        hide_env_values = true,
        default_value = "1m",
        value_name = "DURATION"
    )]
    pub failed_start_backoff: String,

    /// The longest that backoff gets.
    #[arg(
        long,
        env = "IMAGEKIT_SCALE_FAILED_START_BACKOFF_MAX",
        hide_env_values = true,
        default_value = "30m",
        value_name = "DURATION"
    )]
    pub failed_start_backoff_max: String,
}

/// The Lambda entry point's view of the command line: no argv, every setting from the
/// environment.
#[derive(Debug, Parser)]
#[command(name = "imagekit-scale-lambda")]
pub struct LambdaCli {
    #[command(flatten)]
    pub scale: ScaleArgs,
}
