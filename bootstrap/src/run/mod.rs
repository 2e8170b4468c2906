//! `imagekit-bootstrap run`: config → identity → token and cache → agent → supervise (and
//! watch) → give back.

mod instance;
mod prepare;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;

use crate::agent::{self, Outcome};
use crate::config::{defaults, ConfigError, LocalLayers, LogGroupPrefix};
use crate::exit::{status_of, ExitStatus};
use crate::giveback::{self, health};
use crate::identity::imds;
use crate::logship;
use crate::state::lock as run_lock;
use crate::stop::StopRequest;
use crate::supervise;
use crate::watch::{self, Watch};
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
            crate::logging::error(&e);
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
        // A config the parameter completed wrongly: as before, the instance is replaced.
        Err(err) if err.downcast_ref::<ConfigError>().is_some() => {
            return Err(boot_failed(&instance, err).await)
        }
        Err(err) => return Err(failed_to_start(&local, &instance, err).await),
    };
    let shipping = ship_logs(
        &prepared.config.log_shipping_command,
        prepared.config.log_group_prefix.as_ref(),
        prepared.asg_name.as_deref(),
        prepared.agent.log_file(&prepared.state),
    );
    let outcome = supervise(&prepared, &instance, stop).await;
    shipping.flush().await;
    let outcome = outcome?;
    give_back(&prepared, &instance, outcome).await?;
    Ok(outcome)
}

/// Starts shipping the instance's logs, without waiting for it; the groups are under the
/// config's prefix, else `/imagekit/<ASG name>`.
fn ship_logs(
    command: &[String],
    prefix: Option<&LogGroupPrefix>,
    asg_name: Option<&str>,
    agent_log: Option<PathBuf>,
) -> logship::Shipping {
    let prefix = prefix
        .cloned()
        .or_else(|| asg_name.and_then(LogGroupPrefix::for_group))
        .or_else(|| LogGroupPrefix::for_group(UNGROUPED))
        .expect("the fixed prefix is a group name");
    let dir = crate::logging::log_dir();
    let sources = logship::Sources {
        prefix: prefix.as_str().to_string(),
        agent_log,
        bootstrap_log: crate::logging::log_files(&dir),
    };
    logship::start(command, &logship::config_path(&dir), &sources)
}

/// The log groups' second level outside an ASG, when no prefix is configured.
const UNGROUPED: &str = "ungrouped";

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
            agent::provider(merged.agent.unwrap_or_default())
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

/// A boot that reached AWS but cannot produce an agent (the token parameter missing or denied,
/// the cache bucket missing): a replacement would fail the same way, so the instance is given
/// back as [`Outcome::FailedToStart`] (with a decrement) and its group marked.
async fn failed_to_start(
    local: &LocalLayers,
    instance: &Instance,
    err: anyhow::Error,
) -> anyhow::Error {
    let instance_id = instance.identity.instance_id.as_str();
    tracing::error!(instance_id, "boot failed before the agent started: {err:#}");
    let asg_name = match prepare::asg_name(&instance.sdk, &instance.identity).await {
        Ok(name) => name,
        Err(e) => {
            tracing::error!("{e:#}");
            None
        }
    };
    let poweroff_command = local
        .merged()
        .poweroff_command
        .unwrap_or_else(defaults::poweroff_command);
    // The reason above reaches CloudWatch before the instance goes.
    let merged = local.merged();
    let shipping = ship_logs(
        &merged
            .log_shipping_command
            .clone()
            .unwrap_or_else(defaults::log_shipping_command),
        merged.log_group_prefix.as_ref(),
        asg_name.as_deref(),
        None,
    );
    shipping.flush().await;
    let outcome = Outcome::FailedToStart;
    if let Err(e) = hand_back(instance, asg_name.as_deref(), &poweroff_command, outcome).await {
        tracing::error!("{e:#}");
    }
    err
}

/// Starts the agent, stops it when `stop` resolves, and reads its end. Once the agent has
/// registered, the group's failed-start mark goes.
async fn supervise(
    prepared: &Prepared,
    instance: &Instance,
    stop: impl Future<Output = StopRequest>,
) -> anyhow::Result<Outcome> {
    let agent = prepared.agent.as_ref();
    let start = prepared.start(&instance.identity);
    let busy = || agent.busy(&prepared.state);
    let watch = Watch::new(
        imds::watch_client(crate::aws::metadata_http_client()),
        watch::Settings {
            interval: prepared.config.watch_interval.get(),
            market: instance.identity.market,
            capacity_rebalance: prepared.config.capacity_rebalance,
        },
        &busy,
    );
    // Whichever asks first: the OS or service manager, the watch, or the agent's refusal.
    let stop = async {
        tokio::select! {
            request = stop => request,
            request = watch.run() => request,
            request = stop_once_refused(prepared) => request,
        }
    };
    let supervised = supervise::run(
        agent.launch(&start),
        agent.graceful_stop(&prepared.config),
        stop,
    );
    let cleared = std::sync::atomic::AtomicBool::new(false);
    let exit = tokio::select! {
        exit = supervised => exit,
        never = clear_mark_once_registered(prepared, instance, &cleared) => match never {},
    }
    .with_context(|| format!("starting {}", agent.program(&prepared.config).display()))?;
    // An agent quicker than the watch.
    if !cleared.load(std::sync::atomic::Ordering::SeqCst) && agent.registered(&prepared.state) {
        clear_mark(prepared, instance).await;
    }
    let read = agent.read_end(&prepared.config, &prepared.state, &exit);
    Ok(match watch.acted() {
        Some(acted) => {
            let outcome = acted.outcome(read);
            if outcome != read {
                tracing::info!(agent_end = ?read, ?outcome, ?acted, "the watch's event decides how the instance is given back");
            }
            outcome
        }
        None => read,
    })
}

/// Watches for the agent's registration, then clears its group's failed-start mark; then waits
/// for ever (the agent's exit ends the watch).
async fn clear_mark_once_registered(
    prepared: &Prepared,
    instance: &Instance,
    cleared: &std::sync::atomic::AtomicBool,
) -> std::convert::Infallible {
    // A periodic look at the agent's log, not a retry: nothing failed.
    let mut every = tokio::time::interval(Duration::from_millis(REGISTRATION_POLL_MS));
    while !prepared.agent.registered(&prepared.state) {
        every.tick().await;
    }
    clear_mark(prepared, instance).await;
    cleared.store(true, std::sync::atomic::Ordering::SeqCst);
    std::future::pending().await
}

/// Watches for the agent's control plane refusing it, then asks for the agent's stop: an agent
/// that keeps waiting for work it can never claim would never leave.
async fn stop_once_refused(prepared: &Prepared) -> StopRequest {
    // A periodic look at the agent's log, not a retry: nothing failed.
    let mut every = tokio::time::interval(Duration::from_millis(REGISTRATION_POLL_MS));
    while !prepared.agent.refused(&prepared.state) {
        every.tick().await;
    }
    tracing::error!("the agent's control plane refused it; stopping the agent");
    StopRequest {
        cause: "refused by its control plane",
    }
}

/// A start registered: its group is no longer failing to start.
async fn clear_mark(prepared: &Prepared, instance: &Instance) {
    let Some(group) = &prepared.asg_name else {
        return;
    };
    match giveback::mark::clear(&instance.asg(), group).await {
        Ok(()) => tracing::info!(
            asg = group.as_str(),
            "agent registered; the group's failed-start mark, if any, is cleared"
        ),
        Err(e) => tracing::warn!("{e}"),
    }
}

/// How often the supervisor looks for the agent's registration.
const REGISTRATION_POLL_MS: u64 = 250;

async fn give_back(
    prepared: &Prepared,
    instance: &Instance,
    outcome: Outcome,
) -> anyhow::Result<()> {
    hand_back(
        instance,
        prepared.asg_name.as_deref(),
        &prepared.config.poweroff_command,
        outcome,
    )
    .await
}

/// Gives the instance back as `outcome` says, and marks its group when the outcome asks.
async fn hand_back(
    instance: &Instance,
    asg_name: Option<&str>,
    poweroff_command: &[String],
    outcome: Outcome,
) -> anyhow::Result<()> {
    let instance_id = instance.identity.instance_id.as_str();
    let asg = instance.asg();
    if let (true, Some(group)) = (outcome.give_back().mark_group, asg_name) {
        // Before the give-back: the scaler must see the mark before it sees the lower capacity.
        match giveback::mark::mark(&asg, group).await {
            Ok(mark) => tracing::warn!(
                asg = group,
                mark = %mark,
                "marked the group as failing to start, so that the scaler backs off"
            ),
            Err(e) => tracing::error!("{e}"),
        }
    }
    let given_back = giveback::give_back(
        &asg,
        giveback::Instance {
            id: instance_id,
            in_asg_at_boot: asg_name.is_some(),
            poweroff_command,
        },
        outcome,
        giveback::Patience::default(),
    )
    .await?;
    tracing::info!(
        instance_id,
        asg = asg_name.unwrap_or("-"),
        ?outcome,
        ?given_back,
        "instance given back"
    );
    Ok(())
}
