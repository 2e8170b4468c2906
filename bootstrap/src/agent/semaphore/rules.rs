//! What the real Semaphore agent refuses or misreads at start-up, checked before any AWS call so
//! that a boot never hands it a config it dies on. Each rule names where the agent has it.
//!
//! Source: semaphoreci/agent@7fc190af6847b2d41fd983ad41b591fc09b87cb6 (main.go,
//! pkg/config/config.go, pkg/listener/selfhostedapi/api.go).

use crate::agent::job_env::check_env;
use crate::agent::stop_budget::check_grace;
use crate::agent::Scope;
use crate::config::{BootConfigLayer, ConfigError};

/// The oldest agent release that has every key we write: `source-pre-job-hook` came last
/// (semaphoreci/agent commit 91bdeccd "feat: add --source-pre-job-hook parameter", first in tag
/// v2.2.4; `pre-job-hook-path` and `fail-on-pre-job-hook-error` v2.1.5, `upload-job-logs`
/// v2.1.10, `interruption-grace-period` v2.2.0). An older agent dies on the unknown key.
pub const MIN_AGENT_VERSION: (u64, u64, u64) = (2, 2, 4);

/// The agent's key set (pkg/config/config.go `ValidConfigKeys`): main.go `validateConfiguration`
/// exits on any other key with "Unrecognized option '<key>'. Exiting...". What the render
/// writes is tested against it.
#[cfg(test)]
pub const VALID_CONFIG_KEYS: &[&str] = &[
    "config-file",
    "name",
    "name-from-env",
    "endpoint",
    "token",
    "no-https",
    "shutdown-hook-path",
    "pre-job-hook-path",
    "post-job-hook-path",
    "disconnect-after-job",
    "job-id",
    "disconnect-after-idle-timeout",
    "env-vars",
    "files",
    "fail-on-missing-files",
    "upload-job-logs",
    "fail-on-pre-job-hook-error",
    "source-pre-job-hook",
    "interruption-grace-period",
    "kubernetes-executor",
    "kubernetes-pod-spec",
    "kubernetes-allowed-images",
    "kubernetes-pod-start-timeout",
    "kubernetes-labels",
    "kubernetes-default-image",
];

/// pkg/config/config.go `ValidUploadJobLogsCondition`.
#[cfg(test)]
pub const UPLOAD_JOB_LOGS_VALUES: &[&str] = &["never", "always", "when-trimmed"];

/// Checks `layer` key by key (and across keys when `scope` is complete), and rewrites what the
/// agent would misread but the user plainly meant (an endpoint pasted as a URL). Returns the
/// warnings to log.
pub fn check(layer: &mut BootConfigLayer, scope: Scope) -> Result<Vec<String>, ConfigError> {
    let mut warnings = Vec::new();
    if let Some(endpoint) = &layer.endpoint {
        let (host, mut said) = endpoint_host(endpoint)?;
        layer.endpoint = Some(host);
        warnings.append(&mut said);
    }
    for (name, value) in layer.env.iter().flatten() {
        check_env(name, value)?;
    }
    if let Some(grace) = layer.interruption_grace_period {
        check_grace(grace)?;
    }
    if scope == Scope::Complete {
        crate::agent::leave::check_can_leave(layer)?;
    }
    Ok(warnings)
}

/// The agent calls `https://<endpoint>/api/v1/self_hosted_agents/...` (selfhostedapi/api.go
/// `BasePath`: `fmt.Sprintf("%s://%s/api/v1/...", scheme, endpoint)`), so the endpoint is a bare
/// `host[:port]`. A pasted `https://host/` is what was meant; any other scheme or a path is not.
fn endpoint_host(endpoint: &str) -> Result<(String, Vec<String>), ConfigError> {
    let mut warnings = Vec::new();
    let mut host = endpoint;
    if let Some(rest) = host.strip_prefix("https://") {
        warnings.push(format!(
            "config: key `endpoint`: dropped the scheme from {endpoint:?}: the agent adds https:// itself"
        ));
        host = rest;
    }
    if host.ends_with('/') {
        host = host.trim_end_matches('/');
        warnings.push(format!(
            "config: key `endpoint`: dropped the trailing slash from {endpoint:?}"
        ));
    }
    let fix = "give the host name alone, e.g. acme.semaphoreci.com";
    if host.is_empty() {
        return Err(ConfigError::key("endpoint", format!("is empty: {fix}")));
    }
    if let Some((scheme, _)) = host.split_once("://") {
        return Err(ConfigError::key(
            "endpoint",
            format!("{endpoint:?} has the scheme {scheme}://, but the agent speaks https only and adds it itself: {fix}"),
        ));
    }
    if host.contains('/') {
        return Err(ConfigError::key(
            "endpoint",
            format!("{endpoint:?} has a path, but the agent appends its own (/api/v1/...): {fix}"),
        ));
    }
    let is_host = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    if !is_host {
        return Err(ConfigError::key(
            "endpoint",
            format!("{endpoint:?} is not a host name: {fix}"),
        ));
    }
    Ok((host.to_string(), warnings))
}

/// The agent's own rule for a name it is given (main.go `validateAgentName`): a URL (which the
/// control plane follows) is taken as is, anything else must be 8 to 80 bytes; the control plane
/// then allows only `[a-zA-Z0-9-_/+]` (issue 14, from the public API server).
pub fn name_is_valid(name: &str) -> bool {
    (8..=80).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b'+'))
}

/// Whether `version` (`vMAJOR.MINOR.PATCH`) is at least [`MIN_AGENT_VERSION`].
pub fn version_supported(version: &str) -> bool {
    let parts: Vec<u64> = version
        .trim_start_matches('v')
        .split('.')
        .filter_map(|p| p.parse().ok())
        .collect();
    match parts[..] {
        [major, minor, patch] => (major, minor, patch) >= MIN_AGENT_VERSION,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(json: &str) -> BootConfigLayer {
        serde_json::from_str(json).unwrap()
    }

    fn err(json: &str) -> String {
        check(&mut layer(json), Scope::Complete)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn endpoints_as_the_agent_builds_its_urls() {
        // (given, host the agent gets, warnings)
        let ok = [
            ("acme.semaphoreci.com", "acme.semaphoreci.com", 0),
            ("https://acme.semaphoreci.com", "acme.semaphoreci.com", 1),
            ("https://acme.semaphoreci.com/", "acme.semaphoreci.com", 2),
            ("acme.semaphoreci.com//", "acme.semaphoreci.com", 1),
            ("localhost:8443", "localhost:8443", 0),
        ];
        for (given, host, warned) in ok {
            let mut l = BootConfigLayer {
                endpoint: Some(given.into()),
                ..Default::default()
            };
            let warnings = check(&mut l, Scope::Partial).unwrap();
            assert_eq!(l.endpoint.as_deref(), Some(host), "{given}");
            assert_eq!(warnings.len(), warned, "{given}: {warnings:?}");
        }
        let refused = [
            (r#""http://a.semaphoreci.com""#, "has the scheme http://"),
            (r#""https://a.semaphoreci.com/api""#, "has a path"),
            (r#""a.semaphoreci.com/x/""#, "has a path"),
            (r#""https://""#, "is empty"),
            (r#""a b""#, "is not a host name"),
            (r#""""#, "is empty"),
        ];
        for (given, says) in refused {
            let e = err(&format!(r#"{{"endpoint":{given}}}"#));
            assert!(e.starts_with("config: key `endpoint`: "), "{e}");
            assert!(e.contains(says), "{given}: {e}");
            assert!(e.ends_with("e.g. acme.semaphoreci.com"), "{e}");
        }
    }

    #[test]
    fn a_config_that_never_leaves_needs_static_fleet() {
        let never = r#"{"disconnect_after_job":false,"disconnect_after_idle_timeout":0}"#;
        assert!(err(never).starts_with("config: key `disconnect_after_idle_timeout`: is 0"));
        // A parameter read at boot may still set a timeout.
        check(&mut layer(never), Scope::Partial).unwrap();
        let fixed = r#"{"disconnect_after_job":false,"disconnect_after_idle_timeout":0,"static_fleet":true}"#;
        check(&mut layer(fixed), Scope::Complete).unwrap();
        check(
            &mut layer(r#"{"disconnect_after_job":false}"#),
            Scope::Complete,
        )
        .unwrap();
    }

    #[test]
    fn names_and_versions() {
        assert!(name_is_valid("i-0123456789abcdef0__AbC123xyz789"));
        for bad in ["short", &"x".repeat(81), "has space1", "dollar$ign"] {
            assert!(!name_is_valid(bad), "{bad}");
        }
        assert!(version_supported("v2.2.4") && version_supported("v2.10.0"));
        assert!(!version_supported("v2.2.3") && !version_supported("v1.9.9"));
    }
}
