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
    /// Print user-data that hands a boot config to the image's bootstrap service.
    Userdata(UserdataArgs),
    /// Print a least-privilege IAM policy (JSON) for the builder, the instances or the scaler.
    IamPolicy {
        #[command(subcommand)]
        policy: IamPolicyCommand,
    },
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
