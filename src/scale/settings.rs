//! `imagekit scale`'s settings, checked before any AWS call: bad input is a [`UsageError`].

use std::time::Duration;

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
    pub metrics: bool,
    pub metrics_namespace: String,
    pub region: Option<String>,
    pub safety_margin: Duration,
    /// A failed-start mark's backoff: the first, and the longest.
    pub failed_start_backoff: Duration,
    pub failed_start_backoff_max: Duration,
}

/// What the command line (or, in Lambda, the `IMAGEKIT_SCALE_*` variables) asks for, unchecked.
/// The command layer fills it from the clap flags.
#[derive(Debug, Clone)]
pub struct Options {
    pub asg: String,
    pub ci: AgentKind,
    pub token_parameter: String,
    /// A host name (https implied) or a base URL; the CI system's public API when `None`.
    pub endpoint: Option<String>,
    pub queue: Option<String>,
    pub resource_class: Option<String>,
    pub agents_per_instance: u32,
    /// A duration (`10s`, `500ms`; a bare number is seconds).
    pub interval: String,
    pub once: bool,
    pub min: Option<u32>,
    pub max: Option<u32>,
    /// `N` or `N%`.
    pub overprovision: String,
    pub dry_run: bool,
    pub metrics: bool,
    pub metrics_namespace: String,
    pub region: Option<String>,
    pub safety_margin: String,
    /// Durations, as `interval`.
    pub failed_start_backoff: String,
    pub failed_start_backoff_max: String,
}

/// Where the CI API is and what to ask it for: the CI system's own rules.
struct CiTarget {
    base_url: String,
    queue: Option<String>,
    resource_class: Option<String>,
}

fn nonempty(flag: &str, value: &str) -> Result<String, UsageError> {
    if value.trim().is_empty() {
        Err(UsageError::new(format!("{flag} must not be empty")))
    } else {
        Ok(value.trim().to_string())
    }
}

impl Settings {
    pub fn from_options(opts: &Options) -> Result<Settings, UsageError> {
        let asg = nonempty("--asg", &opts.asg)?;
        let token_parameter = nonempty("--token-parameter", &opts.token_parameter)?;
        let ci = ci_target(opts)?;
        if opts.agents_per_instance == 0 {
            return Err(UsageError::new("--agents-per-instance must be at least 1"));
        }
        if let (Some(min), Some(max)) = (opts.min, opts.max) {
            if min > max {
                return Err(UsageError::new(format!("--min {min} is above --max {max}")));
            }
        }
        let interval = crate::flag::duration("--interval", &opts.interval)?;
        if interval.is_zero() {
            return Err(UsageError::new("--interval must be above zero"));
        }
        let safety_margin = crate::flag::duration("--safety-margin", &opts.safety_margin)?;
        let failed_start_backoff =
            crate::flag::duration("--failed-start-backoff", &opts.failed_start_backoff)?;
        let failed_start_backoff_max =
            crate::flag::duration("--failed-start-backoff-max", &opts.failed_start_backoff_max)?;
        if failed_start_backoff > failed_start_backoff_max {
            return Err(UsageError::new(format!(
                "--failed-start-backoff {} is above --failed-start-backoff-max {}",
                opts.failed_start_backoff, opts.failed_start_backoff_max
            )));
        }
        let overprovision = opts.overprovision.parse().map_err(UsageError::new)?;
        let metrics_namespace = nonempty("--metrics-namespace", &opts.metrics_namespace)?;
        let region = opts.region.clone().filter(|r| !r.trim().is_empty());
        if let Some(region) = &region {
            crate::flag::region("--region", region)?;
        }
        Ok(Settings {
            asg,
            ci: opts.ci,
            token_parameter,
            base_url: ci.base_url,
            queue: ci.queue,
            resource_class: ci.resource_class,
            agents_per_instance: opts.agents_per_instance,
            interval,
            once: opts.once,
            min: opts.min,
            max: opts.max,
            overprovision,
            dry_run: opts.dry_run,
            metrics: opts.metrics,
            metrics_namespace,
            region,
            safety_margin,
            failed_start_backoff,
            failed_start_backoff_max,
        })
    }
}

/// The endpoint, queue or resource class each CI system needs, checked.
fn ci_target(opts: &Options) -> Result<CiTarget, UsageError> {
    let endpoint = opts
        .endpoint
        .as_deref()
        .map(|e| nonempty("--endpoint", e))
        .transpose()?;
    let (default_host, queue, resource_class) = match opts.ci {
        AgentKind::Semaphore => {
            if endpoint.is_none() {
                return Err(UsageError::new(
                    "--ci semaphore needs --endpoint ORG.semaphoreci.com",
                ));
            }
            (None, None, None)
        }
        AgentKind::Buildkite => {
            let queue = opts
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
            let rc = opts.resource_class.as_deref().ok_or_else(|| {
                UsageError::new("--ci circleci needs --resource-class NAMESPACE/NAME")
            })?;
            (Some("runner.circleci.com"), None, Some(resource_class(rc)?))
        }
    };
    let base_url = base_url(endpoint.as_deref().or(default_host).unwrap_or_default());
    check_url(&base_url)?;
    Ok(CiTarget {
        base_url,
        queue,
        resource_class,
    })
}

/// CircleCI's `NAMESPACE/NAME`.
fn resource_class(rc: &str) -> Result<String, UsageError> {
    let rc = rc.trim();
    match rc.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(rc.to_string())
        }
        _ => Err(UsageError::new(format!(
            "--resource-class {rc:?}: expected NAMESPACE/NAME"
        ))),
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
