//! Log set-up shared by every imagekit binary: human output on a TTY, JSON lines otherwise
//! (which is what the CloudWatch agent ships best).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

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

/// Where `run` keeps its own log files: `$IMAGEKIT_LOG_DIR`, else the OS's place for a
/// service's logs.
pub fn log_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(LOG_DIR_ENV) {
        return PathBuf::from(dir);
    }
    PathBuf::from(if cfg!(windows) {
        r"C:\ProgramData\imagekit\log"
    } else {
        "/var/log/imagekit"
    })
}

/// Overrides [`log_dir`] (tests, and images that keep logs elsewhere).
pub const LOG_DIR_ENV: &str = "IMAGEKIT_LOG_DIR";

/// The log files' names: `bootstrap.<date>.log`, one a day, the last [`KEPT_FILES`] kept.
const FILE_PREFIX: &str = "bootstrap";
const FILE_SUFFIX: &str = "log";
const KEPT_FILES: usize = 7;

/// The pattern every one of the bootstrap's log files matches (the CloudWatch agent tails the
/// newest file a pattern matches:
/// aws/amazon-cloudwatch-agent@7c48fecadbdb49314f123449fa2167361d307c10:plugins/inputs/logfile/logfile.go,
/// without `publish_multi_logs`).
pub fn log_files(dir: &Path) -> PathBuf {
    dir.join(format!("{FILE_PREFIX}.*.{FILE_SUFFIX}"))
}

/// [`init`], and every line also as JSON to a file in `dir`, rotated daily and bounded to
/// [`KEPT_FILES`] files: the Windows service has no stderr, and the CloudWatch agent ships the
/// file. A directory that cannot be written is one WARN line on stderr, and logging goes on
/// there alone.
pub fn init_with_file(format: LogFormat, default_level: &str, dir: &Path) {
    let appender = std::fs::create_dir_all(dir)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            tracing_appender::rolling::RollingFileAppender::builder()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix(FILE_PREFIX)
                .filename_suffix(FILE_SUFFIX)
                .max_log_files(KEPT_FILES)
                .build(dir)
                .map_err(|e| e.to_string())
        });
    let (json, tty) = stderr_style(format);
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(tty)
        .with_writer(std::io::stderr);
    let stderr = if json {
        stderr.json().flatten_event(true).boxed()
    } else {
        stderr.with_target(false).boxed()
    };
    let (file, failed) = match appender {
        Ok(appender) => (
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(appender)
                    .json()
                    .flatten_event(true),
            ),
            None,
        ),
        Err(e) => (None, Some(e)),
    };
    let _ = tracing_subscriber::registry()
        .with(filter(default_level))
        .with(stderr)
        .with(file)
        .try_init();
    if let Some(e) = failed {
        tracing::warn!(
            dir = %dir.display(),
            "cannot keep the bootstrap's log file there ({e}); logging to stderr only"
        );
    }
}

/// JSON or not, and colour or not, for stderr.
fn stderr_style(format: LogFormat) -> (bool, bool) {
    let tty = std::io::stderr().is_terminal();
    let json = match format {
        LogFormat::Auto => !tty,
        LogFormat::Human => false,
        LogFormat::Json => true,
    };
    (json, tty)
}

/// Installs the global subscriber, writing to stderr. `RUST_LOG` overrides `default_level`.
pub fn init(format: LogFormat, default_level: &str) {
    let filter = filter(default_level);
    let (json, tty) = stderr_style(format);
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
