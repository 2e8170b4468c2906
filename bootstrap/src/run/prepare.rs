//! Everything decided and written before the agent starts: the full config, the agent user, the
//! token, the cache check, the ASG's name, and the agent's files.

use anyhow::Context;
use tokio::time::Instant;

use super::instance::Instance;
use crate::agent::{self, Agent, Start};
use crate::aws::failure::{region_of, AwsFailure};
use crate::config::{parse_parameter_layer, BootConfig, BootConfigLayer, ConfigError, LocalLayers};
use crate::identity::{sts_url, Identity};
use crate::secrets::Token;
use crate::state::StateDir;
use crate::supervise::Handoff;
use crate::{cache, known_hosts, secrets, user};

pub(super) struct Prepared {
    pub agent: Box<dyn Agent>,
    pub config: BootConfig,
    pub user: user::User,
    /// The user the bootstrap runs as.
    pub supervisor: user::User,
    pub state: StateDir,
    pub asg_name: Option<String>,
    pub sts_name: Option<Token>,
    /// The token on a pipe, for an agent that reads it from an inherited descriptor.
    pub handoff: Option<Handoff>,
}

impl Prepared {
    pub fn start<'a>(&'a self, identity: &'a Identity) -> Start<'a> {
        Start {
            config: &self.config,
            instance_id: &identity.instance_id,
            region: &identity.region,
            user: &self.user,
            supervisor: &self.supervisor,
            state: &self.state,
            sts_name: self.sts_name.as_ref(),
            handoff: self.handoff.as_ref(),
        }
    }
}

pub(super) async fn prepare(
    local: &LocalLayers,
    instance: &Instance,
    deadline: Instant,
) -> anyhow::Result<Prepared> {
    let (identity, sdk) = (&instance.identity, &instance.sdk);
    // The S3 client builds on the blocking pool while the SSM client builds here, so that the
    // token and cache requests both leave one client-build after the metadata reads, not two.
    // (Built even when no layer names a bucket: the parameter may, and it costs no wait.)
    let s3 = tokio::task::spawn_blocking({
        let sdk = sdk.clone();
        move || cache::client(&sdk)
    });
    let ssm = aws_sdk_ssm::Client::new(sdk);
    let region = identity.region.as_str();
    let parameter = parameter_layer(&ssm, local, region, deadline).await?;
    let from_parameter = parameter.is_some();
    let agent::Resolved {
        agent,
        config,
        warnings,
    } = agent::resolve(local.with_parameter(parameter))?;
    // Without a parameter, `Early::check` has shown them already.
    if from_parameter {
        for warning in warnings {
            tracing::warn!("{warning}");
        }
    }
    let user = user::resolve(config.agent_user.as_deref())
        .map_err(|e| ConfigError::key("agent_user", e.to_string()))?;
    let supervisor = user::resolve(None).context("resolving the user the bootstrap runs as")?;

    // All of these leave together: each is a round trip the agent's start waits for.
    let (token, cache_check, asg_name, host_keys, sts_name) = tokio::join!(
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
        async {
            match &config.github_host_keys_parameter {
                Some(parameter) => github_host_keys(&ssm, parameter, region, &user, deadline).await,
                None => Ok(()),
            }
        },
        async {
            match agent.named_by_sts(&config) {
                true => sts_name(sdk, region).await.map(Some),
                false => Ok(None),
            }
        },
    );
    let token = token.context("reading the agent token")?;
    cache_check?;
    let asg_name = asg_name?;
    host_keys?;
    let sts_name = sts_name?;
    let handoff = match agent.reads_token_from_descriptor() {
        true => Some(Handoff::new(&token).with_context(|| {
            format!(
                "handing the token in {} to the agent on a pipe",
                config.token_parameter
            )
        })?),
        false => None,
    };

    let state = StateDir::of(&config.agent_dir);
    let state_owner = match agent.runs_as_supervisor() {
        true => &supervisor,
        false => &user,
    };
    state
        .prepare(state_owner)
        .with_context(|| format!("preparing the state dir {}", state.path().display()))?;
    let prepared = Prepared {
        agent,
        config,
        user,
        supervisor,
        state,
        asg_name,
        sts_name,
        handoff,
    };
    let start = prepared.start(identity);
    prepared.agent.write_files(&start, &token)?;
    Ok(prepared)
}

/// Adds the parameter's GitHub host keys to the agent user's `known_hosts`.
async fn github_host_keys(
    ssm: &aws_sdk_ssm::Client,
    parameter: &str,
    region: &str,
    user: &user::User,
    deadline: Instant,
) -> anyhow::Result<()> {
    let backoff = secrets::Backoff::default();
    let value = secrets::get_parameter(ssm, parameter, region, backoff, deadline)
        .await
        .context("reading the GitHub host keys (github_host_keys_parameter)")?;
    let lines = known_hosts::lines(parameter, &value)?;
    let added = known_hosts::install(user, &lines)?;
    tracing::info!(
        path = %known_hosts::path(user).display(),
        keys = lines.len(),
        added,
        "GitHub host keys in known_hosts"
    );
    Ok(())
}

/// The agent's name as a pre-signed STS URL, signed with the instance's credentials now.
async fn sts_name(sdk: &aws_config::SdkConfig, region: &str) -> anyhow::Result<Token> {
    use aws_credential_types::provider::ProvideCredentials;
    let provider = sdk
        .credentials_provider()
        .context("naming the agent by STS: the SDK has no credentials provider")?;
    let credentials = provider
        .provide_credentials()
        .await
        .context("naming the agent by STS: reading the instance's credentials")?;
    let url = sts_url::presign(&credentials, region, std::time::SystemTime::now())
        .context("naming the agent by STS: signing the GetCallerIdentity URL")?;
    Ok(Token::new(url))
}

/// The config parameter's layer, when a local layer names one.
async fn parameter_layer(
    ssm: &aws_sdk_ssm::Client,
    local: &LocalLayers,
    region: &str,
    deadline: Instant,
) -> anyhow::Result<Option<BootConfigLayer>> {
    let Some(name) = local.merged().config_parameter else {
        return Ok(None);
    };
    let backoff = secrets::Backoff::default();
    let text = secrets::get_parameter(ssm, &name, region, backoff, deadline)
        .await
        .context("reading the config parameter")?;
    let origin = format!("config parameter {name}");
    Ok(Some(parse_parameter_layer(&origin, &text)?))
}

/// The ASG's name: from the instance tag when metadata exposes tags, else asked of the ASG API.
pub(super) async fn asg_name(
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
        .map_err(|e| {
            AwsFailure::new(
                "autoscaling:DescribeAutoScalingInstances",
                &region_of(sdk.region()),
                &e,
            )
        })
        .with_context(|| format!("looking up the ASG of {}", identity.instance_id))?;
    Ok(out
        .auto_scaling_instances()
        .iter()
        .find(|i| i.instance_id() == Some(identity.instance_id.as_str()))
        .and_then(|i| i.auto_scaling_group_name())
        .map(str::to_string))
}
