//! `imagekit-bootstrap run`: config → identity → token and cache → agent → give back.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;

use crate::agent::semaphore::{self, AgentConfig};
use crate::aws::SharedCredentialsProvider;
use crate::config::{self, BootConfig, BootConfigLayer, ConfigError};
use crate::exit::{status_of, ExitStatus};
use crate::imds::Identity;
use crate::{
    cache, credentials, giveback, health, imds, run_lock, secrets, shutdown, supervise, user,
};
use imagekit_core::atomic;

/// Overrides the baked config's path (tests, unusual images).
pub const BAKED_CONFIG_ENV: &str = "IMAGEKIT_BAKED_CONFIG";

/// The layers known before any AWS call.
#[derive(Debug, Clone, Default)]
pub struct LocalLayers {
    pub baked: BootConfigLayer,
    pub file: BootConfigLayer,
}

impl LocalLayers {
    /// Reads the baked config (absent is fine) and `--config FILE` (must exist);
    /// `--config-parameter` wins over both for `config_parameter`.
    pub fn load(
        config_file: Option<&Path>,
        config_parameter: Option<String>,
    ) -> Result<LocalLayers, ConfigError> {
        let baked_path = std::env::var_os(BAKED_CONFIG_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(config::defaults::baked_config_path()));
        let baked = config::read_layer(&baked_path, true)?;
        let mut file = match config_file {
            Some(path) => config::read_layer(path, false)?,
            None => BootConfigLayer::default(),
        };
        if config_parameter.is_some() {
            file.config_parameter = config_parameter;
        }
        Ok(LocalLayers { baked, file })
    }

    pub fn merged(&self) -> BootConfigLayer {
        self.baked.clone().merge(self.file.clone())
    }

    /// The full config, with the parameter's layer (if any) between baked and file.
    pub fn resolve(&self, parameter: Option<BootConfigLayer>) -> Result<BootConfig, ConfigError> {
        let mut layer = self.baked.clone();
        if let Some(p) = parameter {
            layer = layer.merge(p);
        }
        BootConfig::resolve(layer.merge(self.file.clone()))
    }
}

/// How a finished run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// The agent stopped with a recorded reason and the instance was given back.
    GivenBack,
    /// The agent stopped without recording a reason (crash or kill); given back anyway.
    AgentFailed,
}

/// `run` from start to exit status, on its own runtime: the one code path of the console and of
/// the Windows service, so both boot, supervise and give back alike. Logging is set up already.
pub fn blocking(config_file: Option<&Path>, config_parameter: Option<String>) -> ExitStatus {
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
    match runtime.block_on(run(local)) {
        Ok(RunEnd::GivenBack) => ExitStatus::Success,
        Ok(RunEnd::AgentFailed) => ExitStatus::Failure,
        Err(e) => {
            tracing::error!("{e:#}");
            status_of(&e)
        }
    }
}

/// Runs the whole boot. Errors that are the config's fault carry a [`ConfigError`] (exit 2).
pub async fn run(local: LocalLayers) -> anyhow::Result<RunEnd> {
    let merged = local.merged();
    // Bad input stops here, before any AWS call or write, unless a parameter may complete it.
    if merged.config_parameter.is_none() {
        BootConfig::resolve(merged.clone())?;
    }
    let agent_dir = merged
        .agent_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::defaults::agent_dir()));
    let _lock = run_lock::acquire(&agent_dir)?;
    let boot_timeout = merged
        .boot_timeout
        .unwrap_or(config::defaults::BOOT_TIMEOUT);
    let deadline = Instant::now() + Duration::from_secs(boot_timeout);

    let http = crate::aws::https_client_on_thread();
    let imds_client = imds::client(crate::aws::metadata_http_client());
    let (identity, credentials) = tokio::join!(
        imds::identity(&imds_client, deadline),
        credentials::Primed::fetch(credentials::chain(&imds_client)),
    );
    let identity = identity.context("reading the instance identity")?;
    tracing::info!(
        instance_id = identity.instance_id.as_str(),
        region = identity.region.as_str(),
        availability_zone = identity.availability_zone.as_str(),
        instance_type = identity.instance_type.as_str(),
        market = ?identity.market,
        asg = identity.asg_name.as_deref().unwrap_or("-"),
        "instance identity"
    );

    let http = match http.await {
        Ok(http) => http,
        Err(_) => crate::aws::https_client(),
    };
    let sdk = crate::aws::sdk_config_with(
        Some(identity.region.clone()),
        Some(SharedCredentialsProvider::new(credentials)),
        http,
    )
    .await;
    // Each SDK client parses its crate's endpoint partitions when built (~1 ms in the static
    // binary), so none is built on the way to the agent unless that way needs it: the ASG client
    // only when the instance tags hide the group's name, or to give the instance back.
    let asg = || aws_sdk_autoscaling::Client::new(&sdk);

    let prepared = match prepare(&local, &identity, &sdk, deadline).await {
        Ok(prepared) => prepared,
        Err(err) => {
            tracing::error!(
                instance_id = identity.instance_id.as_str(),
                "boot failed: {err:#}"
            );
            match health::mark_unhealthy(&asg(), &identity.instance_id).await {
                Ok(()) => tracing::info!(
                    instance_id = identity.instance_id.as_str(),
                    "marked the instance Unhealthy so that its ASG replaces it"
                ),
                Err(e) => tracing::error!("{e}"),
            }
            return Err(err);
        }
    };

    let exit = supervise::run(prepared.launch(&identity))
        .await
        .with_context(|| format!("starting {}", prepared.config.agent_program().display()))?;
    let status = exit.status;
    let mut reason = shutdown::read_reason(&prepared.config.agent_dir);
    match &reason {
        Some(reason) => tracing::info!(%status, reason = reason.as_str(), "agent exited"),
        // The OS or the service manager stopped us, and we stopped the agent: a Windows agent
        // is terminated outright and cannot run its hook. Not a crash.
        None if exit.stop_requested => {
            tracing::info!(
                %status,
                reason = shutdown::INTERRUPTED,
                "agent stopped on request without recording a reason; giving the instance back as interrupted"
            );
            reason = Some(shutdown::INTERRUPTED.to_string());
        }
        None => tracing::error!(
            %status,
            "agent exited without recording a shutdown reason (crashed or killed); giving the instance back without lowering desired capacity"
        ),
    }
    let outcome = giveback::give_back(
        &asg(),
        &identity.instance_id,
        reason.as_deref(),
        prepared.asg_name.is_some(),
        &prepared.config.poweroff_command,
        giveback::Patience::default(),
    )
    .await?;
    tracing::info!(
        instance_id = identity.instance_id.as_str(),
        asg = prepared.asg_name.as_deref().unwrap_or("-"),
        ?outcome,
        "instance given back"
    );
    Ok(if reason.is_some() {
        RunEnd::GivenBack
    } else {
        RunEnd::AgentFailed
    })
}

/// Everything decided before the agent starts.
struct Prepared {
    config: BootConfig,
    user: user::User,
    asg_name: Option<String>,
}

impl Prepared {
    fn launch(&self, _identity: &Identity) -> supervise::Launch<'_> {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("imagekit-bootstrap"));
        let config_path = self.config.agent_config_path();
        supervise::Launch {
            program: self.config.agent_program(),
            args: vec![
                OsString::from("start"),
                OsString::from("--config-file"),
                config_path.into_os_string(),
            ],
            dir: self.config.agent_dir.clone(),
            env: vec![
                (shutdown::EXE_ENV.into(), exe.into_os_string()),
                (
                    shutdown::REASON_FILE_ENV.into(),
                    shutdown::reason_file(&self.config.agent_dir).into_os_string(),
                ),
            ],
            user: &self.user,
        }
    }
}

async fn prepare(
    local: &LocalLayers,
    identity: &Identity,
    sdk: &aws_config::SdkConfig,
    deadline: Instant,
) -> anyhow::Result<Prepared> {
    // The S3 client builds on the blocking pool while the SSM client builds here, so that the
    // token and cache requests both leave one client-build after the metadata reads, not two.
    // (Built even when no layer names a bucket: the parameter may, and it costs no wait.)
    let s3 = tokio::task::spawn_blocking({
        let sdk = sdk.clone();
        move || cache::client(&sdk)
    });
    let ssm = aws_sdk_ssm::Client::new(sdk);
    let region = identity.region.as_str();
    let parameter = match &local.merged().config_parameter {
        Some(name) => {
            let text =
                secrets::get_parameter(&ssm, name, region, secrets::Backoff::default(), deadline)
                    .await
                    .context("reading the config parameter")?;
            Some(config::parse_parameter_layer(
                &format!("config parameter {name}"),
                &text,
            )?)
        }
        None => None,
    };
    let config = local.resolve(parameter)?;
    let user = user::resolve(config.agent_user.as_deref()).map_err(|e| ConfigError::Key {
        origin: "config".into(),
        key: "agent_user".into(),
        message: e.to_string(),
    })?;

    let (token, cache_check, asg_name) = tokio::join!(
        secrets::token(&ssm, &config.token_parameter, region, deadline),
        async {
            match &config.cache_bucket {
                Some(bucket) => {
                    let s3 = s3.await.context("building the S3 client")?;
                    cache::check(&s3, bucket).await.map_err(anyhow::Error::from)
                }
                None => Ok(()),
            }
        },
        asg_name(sdk, identity),
    );
    let token = token.context("reading the agent token")?;
    cache_check?;
    let asg_name = asg_name?;

    write_files(&config, &user, &token, identity)?;
    Ok(Prepared {
        config,
        user,
        asg_name,
    })
}

/// The ASG's name: from the instance tag when metadata exposes tags, else asked of the ASG API.
async fn asg_name(
    sdk: &aws_config::SdkConfig,
    identity: &Identity,
) -> anyhow::Result<Option<String>> {
    if let Some(name) = &identity.asg_name {
        return Ok(Some(name.clone()));
    }
    let out = aws_sdk_autoscaling::Client::new(sdk)
        .describe_auto_scaling_instances()
        .instance_ids(&identity.instance_id)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(giveback::describe_sdk(&e)))
        .with_context(|| format!("looking up the ASG of {}", identity.instance_id))?;
    Ok(out
        .auto_scaling_instances()
        .iter()
        .find(|i| i.instance_id() == Some(identity.instance_id.as_str()))
        .and_then(|i| i.auto_scaling_group_name())
        .map(str::to_string))
}

/// The hook launcher, the state directory and the agent's config.
fn write_files(
    config: &BootConfig,
    user: &user::User,
    token: &secrets::Token,
    identity: &Identity,
) -> anyhow::Result<()> {
    #[cfg(unix)]
    let owner = Some((user.uid, user.gid));
    #[cfg(not(unix))]
    let owner: atomic::Owner = {
        let _ = user;
        None
    };
    let dir = &config.agent_dir;

    let state = shutdown::state_dir(dir);
    std::fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700))
            .and_then(|_| std::os::unix::fs::chown(&state, Some(user.uid), Some(user.gid)))
            .with_context(|| format!("securing {}", state.display()))?;
    }
    let reason = shutdown::reason_file(dir);
    match std::fs::remove_file(&reason) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("clearing {}", reason.display())),
    }

    let hook = shutdown::launcher_path(dir);
    // Fixed text, rewritten every boot: no fsync.
    let unsynced = atomic::Durability::Unsynced;
    atomic::write(&hook, shutdown::LAUNCHER.as_bytes(), 0o755, None, unsynced)
        .with_context(|| format!("writing the shutdown hook {}", hook.display()))?;

    let agent_config = AgentConfig {
        config,
        token,
        name: semaphore::agent_name(&identity.instance_id),
        shutdown_hook: hook.clone(),
        job_env: semaphore::job_env(config),
    };
    let path = config.agent_config_path();
    agent_config
        .write(&path, owner)
        .with_context(|| format!("writing the agent config {}", path.display()))?;
    tracing::info!(
        path = %path.display(),
        name = agent_config.name.as_str(),
        "agent config written"
    );
    Ok(())
}
