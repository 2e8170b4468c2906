//! Log set-up shared by every imagekit binary: human output on a TTY, JSON lines otherwise
//! (which is what the CloudWatch agent ships best).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human on a TTY, JSON lines otherwise.
    #[default]
    Auto,
    Human,
    Json,
}

/// The credential chain's own WARN lines (aws-config 1.13: `meta/credentials/chain.rs` logs
/// "provider failed to provide credentials", `imds/credentials.rs` the IMDS 404, and the profile,
/// web-identity and assume-role providers theirs) describe the same failure that the call then
/// returns, which [`crate::aws::failure::AwsFailure`] reports as one line: said twice, it reads
/// as two problems. An explicit `RUST_LOG` still shows them.
const QUIET_CREDENTIAL_CHAIN: [&str; 5] = [
    "aws_config::meta::credentials=error",
    "aws_config::imds::credentials=error",
    "aws_config::profile::credentials=error",
    "aws_config::web_identity_token=error",
    "aws_config::sts::assume_role=error",
];

/// The filter: `RUST_LOG` when set, else `default_level` without the credential chain's echoes.
fn filter(default_level: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        let mut directives = vec![default_level.to_string()];
        directives.extend(QUIET_CREDENTIAL_CHAIN.iter().map(|d| d.to_string()));
        EnvFilter::new(directives.join(","))
    })
}

/// Logs a command's final error as one ERROR event; a failed AWS call adds its parts as fields
/// (operation, region, cause, kind, hint), so `--log-format json` carries what the line says.
pub fn error(err: &anyhow::Error) {
    let aws = err
        .chain()
        .find_map(|e| e.downcast_ref::<crate::aws::failure::AwsFailure>());
    match aws {
        Some(f) => tracing::error!(
            operation = %f.operation,
            region = %f.region,
            cause = %f.cause.words(),
            kind = f.cause.kind(),
            hint = %f.cause.hint(),
            "{err:#}"
        ),
        None => tracing::error!("{err:#}"),
    }
}

/// Installs the global subscriber, writing to stderr. `RUST_LOG` overrides `default_level`.
pub fn init(format: LogFormat, default_level: &str) {
    let filter = filter(default_level);
    let tty = std::io::stderr().is_terminal();
    let json = match format {
        LogFormat::Auto => !tty,
        LogFormat::Human => false,
        LogFormat::Json => true,
    };
    // Colour only for a terminal: escape codes in a file or a journal are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(tty)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.with_target(false).try_init()
    };
}
