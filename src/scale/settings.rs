//! `imagekit scale`'s settings, checked before any AWS call: bad input is a [`UsageError`].

use std::time::Duration;

use crate::cli::ScaleArgs;
use crate::exit::UsageError;
use imagekit_core::AgentKind;

use super::decision::Overprovision;
use super::source::base_url;

/// Validated settings for the scaler (from flags, or from `IMAGEKIT_SCALE_*` in Lambda mode).
#[derive(Debug, Clone)]
pub struct Settings {
    pub asg: String,
    pub ci: AgentKind,
    pub token_parameter: String,
    /// Base URL of the CI API, without a trailing slash.
    pub base_url: String,
    pub queue: Option<String>,
    pub resource_class: Option<String>,
    pub agents_per_instance: u32,
    pub interval: Duration,
    pub once: bool,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub overprovision: Overprovision,
    pub dry_run: bool,
    pub json: bool,
    pub metrics: bool,
    pub metrics_namespace: String,
    pub region: Option<String>,
    pub safety_margin: Duration,
}

impl Settings {
    pub fn from_args(args: &ScaleArgs) -> Result<Settings, UsageError> {
        let nonempty = |flag: &str, value: &str| {
            if value.trim().is_empty() {
                Err(UsageError::new(format!("{flag} must not be empty")))
            } else {
                Ok(value.trim().to_string())
            }
        };
        let asg = nonempty("--asg", &args.asg)?;
        let token_parameter = nonempty("--token-parameter", &args.token_parameter)?;
        let endpoint = args
            .endpoint
            .as_deref()
            .map(|e| nonempty("--endpoint", e))
            .transpose()?;
        let (default_host, queue, resource_class) = match args.ci {
            AgentKind::Semaphore => {
                if endpoint.is_none() {
                    return Err(UsageError::new(
                        "--ci semaphore needs --endpoint ORG.semaphoreci.com",
                    ));
                }
                (None, None, None)
            }
            AgentKind::Buildkite => {
                let queue = args
                    .queue
                    .as_deref()
                    .ok_or_else(|| UsageError::new("--ci buildkite needs --queue Q"))?;
                (
                    Some("agent.buildkite.com"),
                    Some(nonempty("--queue", queue)?),
                    None,
                )
            }
            AgentKind::Circleci => {
                let rc = args.resource_class.as_deref().ok_or_else(|| {
                    UsageError::new("--ci circleci needs --resource-class NAMESPACE/NAME")
                })?;
                let rc = rc.trim();
                match rc.split_once('/') {
                    Some((ns, name))
                        if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {}
                    _ => {
                        return Err(UsageError::new(format!(
                            "--resource-class {rc:?}: expected NAMESPACE/NAME"
                        )))
                    }
                }
                (Some("runner.circleci.com"), None, Some(rc.to_string()))
            }
        };
        let base_url = base_url(endpoint.as_deref().or(default_host).unwrap_or_default());
        check_url(&base_url)?;
        if args.agents_per_instance == 0 {
            return Err(UsageError::new("--agents-per-instance must be at least 1"));
        }
        if let (Some(min), Some(max)) = (args.min, args.max) {
            if min > max {
                return Err(UsageError::new(format!("--min {min} is above --max {max}")));
            }
        }
        let interval = crate::flag::duration("--interval", &args.interval)?;
        if interval.is_zero() {
            return Err(UsageError::new("--interval must be above zero"));
        }
        let safety_margin = crate::flag::duration("--safety-margin", &args.safety_margin)?;
        let overprovision = args.overprovision.parse().map_err(UsageError::new)?;
        let metrics_namespace = nonempty("--metrics-namespace", &args.metrics_namespace)?;
        let region = args.region.clone().filter(|r| !r.trim().is_empty());
        if let Some(region) = &region {
            crate::flag::region("--region", region)?;
        }
        Ok(Settings {
            asg,
            ci: args.ci,
            token_parameter,
            base_url,
            queue,
            resource_class,
            agents_per_instance: args.agents_per_instance,
            interval,
            once: args.once,
            min: args.min,
            max: args.max,
            overprovision,
            dry_run: args.dry_run,
            json: args.json,
            metrics: args.metrics,
            metrics_namespace,
            region,
            safety_margin,
        })
    }
}

fn check_url(url: &str) -> Result<(), UsageError> {
    let bad = |why: String| UsageError::new(format!("--endpoint {url:?}: {why}"));
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("only http and https URLs are supported".into()));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".into()));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty() {
        return Err(bad(
            "give a host name or a base URL, without credentials, query or fragment".into(),
        ));
    }
    Ok(())
}
