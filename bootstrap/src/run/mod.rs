//! `imagekit-bootstrap run`: config → identity → token and cache → agent → supervise → give
//! back.

mod instance;
mod prepare;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;

use crate::agent::{self, Outcome};
use crate::config::{defaults, ConfigError, LocalLayers};
use crate::exit::{status_of, ExitStatus};
use crate::giveback::{self, health};
use crate::state::lock as run_lock;
use crate::stop::StopRequest;
use crate::supervise;
use instance::Instance;
use prepare::Prepared;

/// `run` from start to exit status, on its own runtime: the one code path of the console and of
/// the Windows service, so both boot, supervise and give back alike. Logging is set up already;
/// `stop` is the caller's stop signal.
pub fn blocking(
    config_file: Option<&Path>,
    config_parameter: Option<String>,
    stop: impl Future<Output = StopRequest>,
) -> ExitStatus {
    let local = match LocalLayers::load(config_file, config_parameter) {
        Ok(local) => local,
        Err(e) => {
            tracing::error!("{e}");
            return ExitStatus::Usage;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("starting the async runtime: {e}");
            return ExitStatus::Failure;
        }
    };
    match runtime.block_on(run(local, stop)) {
        Ok(outcome) if outcome.is_failure() => ExitStatus::Failure,
        Ok(_) => ExitStatus::Success,
        Err(e) => {
            tracing::error!("{e:#}");
            status_of(&e)
        }
    }
}

/// Runs the whole boot, and returns how the agent ended once the instance is given back. Errors
/// that are the config's fault carry a [`ConfigError`] (exit 2).
pub async fn run(
    local: LocalLayers,
    stop: impl Future<Output = StopRequest>,
) -> anyhow::Result<Outcome> {
    let early = Early::check(&local)?;
    let _lock = run_lock::acquire(&early.agent_dir)?;
    let deadline = Instant::now() + early.boot_timeout;

    let instance = Instance::discover(deadline).await?;
    let prepared = match prepare::prepare(&local, &instance, deadline).await {
        Ok(prepared) => prepared,
        Err(err) => return Err(boot_failed(&instance, err).await),
    };
    let outcome = supervise(&prepared, &instance, stop).await?;
    give_back(&prepared, &instance, outcome).await?;
    Ok(outcome)
}

/// What the local layers decide before any AWS call or write.
struct Early {
    agent_dir: PathBuf,
    boot_timeout: Duration,
}

impl Early {
    /// Bad input stops here: the agent kind always, the whole config unless a parameter may
    /// complete it.
    fn check(local: &LocalLayers) -> Result<Early, ConfigError> {
        let mut merged = local.merged();
        let agent = if merged.config_parameter.is_none() {
            agent::resolve(merged.clone())?.agent
        } else {
            agent::provider(merged.agent.unwrap_or_default())?
        };
        // Every key the local layers set holds already; across keys, with the parameter's.
        let (_, warnings) = agent::check_layer(&mut merged, agent::Scope::Partial)?;
        for warning in warnings {
            tracing::warn!("{warning}");
        }
        Ok(Early {
            agent_dir: merged.agent_dir.unwrap_or_else(|| agent.default_dir()),
            boot_timeout: Duration::from_secs(
                merged.boot_timeout.unwrap_or(defaults::BOOT_TIMEOUT),
            ),
        })
    }
}

/// A boot that cannot produce an agent marks the instance Unhealthy, so that its ASG replaces it.
async fn boot_failed(instance: &Instance, err: anyhow::Error) -> anyhow::Error {
    let instance_id = instance.identity.instance_id.as_str();
    tracing::error!(instance_id, "boot failed: {err:#}");
    match health::mark_unhealthy(&instance.asg(), instance_id).await {
        Ok(()) => tracing::info!(
            instance_id,
            "marked the instance Unhealthy so that its ASG replaces it"
        ),
        Err(e) => tracing::error!("{e}"),
    }
    err
}

/// Starts the agent, stops it when `stop` resolves, and reads its end.
async fn supervise(
    prepared: &Prepared,
    instance: &Instance,
    stop: impl Future<Output = StopRequest>,
) -> anyhow::Result<Outcome> {
    let agent = prepared.agent.as_ref();
    let start = prepared.start(&instance.identity.instance_id);
    let exit = supervise::run(
        agent.launch(&start),
        agent.graceful_stop(&prepared.config),
        stop,
    )
    .await
    .with_context(|| format!("starting {}", agent.program(&prepared.config).display()))?;
    Ok(agent.read_end(&prepared.state, &exit))
}

async fn give_back(
    prepared: &Prepared,
    instance: &Instance,
    outcome: Outcome,
) -> anyhow::Result<()> {
    let instance_id = instance.identity.instance_id.as_str();
    let given_back = giveback::give_back(
        &instance.asg(),
        giveback::Instance {
            id: instance_id,
            in_asg_at_boot: prepared.asg_name.is_some(),
            poweroff_command: &prepared.config.poweroff_command,
        },
        outcome,
        giveback::Patience::default(),
    )
    .await?;
    tracing::info!(
        instance_id,
        asg = prepared.asg_name.as_deref().unwrap_or("-"),
        ?outcome,
        ?given_back,
        "instance given back"
    );
    Ok(())
}
