//! Log shipping: the CloudWatch agent's configuration, written and applied at boot, and its last
//! lines flushed before the instance is given back.
//!
//! Nothing here may delay or fail the boot: the agent's control script runs as a child the boot
//! does not wait for, and whatever goes wrong is one log line.

mod cloudwatch_config;

use std::path::{Path, PathBuf};
use std::time::Duration;

use imagekit_core::{atomic, Os};

pub use cloudwatch_config::{render, Sources};

/// A started CloudWatch agent, to be flushed before the give-back.
pub struct Shipping {
    ctl: Vec<String>,
    start: Option<tokio::task::JoinHandle<()>>,
    started_at: tokio::time::Instant,
}

/// How long the give-back waits for the agent's start and stop: its stop sends what it holds
/// (aws/amazon-cloudwatch-agent@7c48fecadbdb49314f123449fa2167361d307c10:plugins/outputs/cloudwatchlogs/internal/pusher/queue.go
/// `start`: the last batch goes when the queue's events end, which `Close` brings about).
const FLUSH_LIMIT: Duration = Duration::from_secs(20);

/// The control script's command line: `<ctl> -a <action> ...`
/// (aws/amazon-cloudwatch-agent@7c48fecadbdb49314f123449fa2167361d307c10:packaging/dependencies/amazon-cloudwatch-agent-ctl
/// `usage`: `-a fetch-config -m ec2 -c file:<path> -s` applies a config file and (re)starts the
/// agent).
fn command(ctl: &[String], args: &[&str]) -> Option<tokio::process::Command> {
    let (program, first) = ctl.split_first()?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(first).args(args);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(false);
    Some(cmd)
}

/// Writes the configuration to `config_path` and starts the agent with it, without waiting for
/// it. `ctl` empty: log shipping is off.
pub fn start(ctl: &[String], config_path: &Path, sources: &Sources) -> Shipping {
    let ctl = ctl.to_vec();
    if ctl.is_empty() {
        return Shipping::off(ctl);
    }
    let text = render(current_os(), sources);
    if let Err(e) = atomic::write(
        config_path,
        text.as_bytes(),
        0o644,
        None,
        atomic::Durability::Unsynced,
    ) {
        tracing::warn!(
            path = %config_path.display(),
            "writing the CloudWatch agent's config: {e}; logs are not shipped in this boot"
        );
        return Shipping::off(ctl);
    }
    let file = format!("file:{}", config_path.display());
    let args = ["-a", "fetch-config", "-m", "ec2", "-s", "-c", file.as_str()];
    let start = command(&ctl, &args).map(|mut cmd| {
        let prefix = sources.prefix.clone();
        let program = ctl[0].clone();
        tokio::spawn(async move {
            match cmd.output().await {
                Ok(out) if out.status.success() => tracing::info!(
                    log_groups = %format!("{prefix}/{{agent,bootstrap,boot,system}}"),
                    "CloudWatch agent started; the instance's logs are shipped"
                ),
                Ok(out) => tracing::warn!(
                    program = program.as_str(),
                    status = %out.status,
                    stderr = String::from_utf8_lossy(&out.stderr).trim(),
                    "the CloudWatch agent did not start; logs are not shipped, the boot goes on"
                ),
                Err(e) => tracing::warn!(
                    program = program.as_str(),
                    "starting the CloudWatch agent: {e}; logs are not shipped, the boot goes on"
                ),
            }
        })
    });
    Shipping {
        ctl,
        start,
        started_at: tokio::time::Instant::now(),
    }
}

impl Shipping {
    fn off(ctl: Vec<String>) -> Shipping {
        Shipping {
            ctl,
            start: None,
            started_at: tokio::time::Instant::now(),
        }
    }

    /// Stops the agent, which sends what it still holds. Bounded; a failure is logged.
    pub async fn flush(self) {
        let Some(start) = self.start else { return };
        let stop = async {
            let _ = start.await;
            // A boot that failed at once: the agent gets one upload interval to read the files.
            tokio::time::sleep_until(self.started_at + cloudwatch_config::FLUSH_INTERVAL).await;
            let Some(mut cmd) = command(&self.ctl, &["-a", "stop"]) else {
                return;
            };
            match cmd.output().await {
                Ok(out) if out.status.success() => {
                    tracing::info!("CloudWatch agent stopped: the last lines are shipped")
                }
                Ok(out) => tracing::warn!(
                    status = %out.status,
                    stderr = String::from_utf8_lossy(&out.stderr).trim(),
                    "stopping the CloudWatch agent to flush its last lines failed"
                ),
                Err(e) => tracing::warn!("stopping the CloudWatch agent: {e}"),
            }
        };
        if tokio::time::timeout(FLUSH_LIMIT, stop).await.is_err() {
            tracing::warn!(
                limit = ?FLUSH_LIMIT,
                "the CloudWatch agent did not flush in time; giving the instance back anyway"
            );
        }
    }
}

fn current_os() -> Os {
    if cfg!(windows) {
        Os::Windows
    } else if cfg!(target_os = "macos") {
        Os::Macos
    } else {
        Os::Linux
    }
}

/// Where the config is written: beside the bootstrap's own log.
pub fn config_path(log_dir: &Path) -> PathBuf {
    log_dir.join("cloudwatch-agent.json")
}
