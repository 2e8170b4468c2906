//! What CircleCI's machine runner 3 refuses or misreads, checked before any AWS call so that a
//! boot never hands it a config it cannot run.
//!
//! The runner is closed source: its documentation is the only source. DOCS below is
//! circleci/circleci-docs@9734a1410cc98741bc09b84f187325a8f43baf68
//! docs/guides/modules/execution-runner/pages/machine-runner-3-configuration-reference.adoc.

use std::path::Path;

use crate::agent::leave::check_can_leave;
use crate::agent::stop_budget::check_grace;
use crate::agent::Scope;
use crate::config::{BootConfigLayer, ConfigError};

/// DOCS `api.url`: "pointing to `https://runner.circleci.com` by default"; only a CircleCI Server
/// installation sets another.
pub const DEFAULT_URL: &str = "https://runner.circleci.com";

/// The longest duration the config can carry. DOCS `runner.max_run_time` and
/// `runner.idle_timeout` take Go's duration syntax (`72h`, `1h30m20s`); Go keeps a duration in
/// int64 nanoseconds (~292 years). That the runner parses with Go's `time.ParseDuration` is an
/// inference from the syntax, not documented: the bound only keeps us from writing a value no
/// int64 of nanoseconds can hold.
pub const MAX_DURATION_SECS: u64 = i64::MAX as u64 / 1_000_000_000;

/// Checks `layer` key by key (and across keys when `scope` is complete); fills the runner's
/// default URL and rewrites a bare host the user plainly meant as a URL. Returns the warnings.
/// `default_agent_dir` is where the image installs the runner, when no layer names `agent_dir`.
pub fn check(
    layer: &mut BootConfigLayer,
    scope: Scope,
    default_agent_dir: &Path,
) -> Result<Vec<String>, ConfigError> {
    let mut warnings = Vec::new();
    match &layer.endpoint {
        Some(endpoint) => {
            let (url, mut said) = endpoint_url(endpoint)?;
            layer.endpoint = Some(url);
            warnings.append(&mut said);
        }
        None if scope == Scope::Complete => layer.endpoint = Some(DEFAULT_URL.to_string()),
        None => {}
    }
    for (name, value) in layer.env.iter().flatten() {
        check_env(name, value)?;
    }
    if let Some(grace) = layer.interruption_grace_period {
        check_grace(grace)?;
    }
    if let Some(idle) = layer.disconnect_after_idle_timeout {
        check_duration("disconnect_after_idle_timeout", idle)?;
    }
    if let Some(section) = &layer.circleci {
        if let Some(max) = section.max_run_time {
            if max == 0 {
                return Err(ConfigError::key(
                    "circleci.max_run_time",
                    "is 0: a task needs at least 1 s; leave the key out for the runner's default of 5 h",
                ));
            }
            check_duration("circleci.max_run_time", max)?;
        }
        if let Some(dir) = &section.working_directory {
            check_working_directory(dir)?;
        }
    }
    if scope == Scope::Complete {
        check_can_leave(layer)?;
        if let Some(dir) = layer
            .circleci
            .as_ref()
            .and_then(|s| s.working_directory.as_ref())
        {
            check_apart(dir, layer.agent_dir.as_deref().unwrap_or(default_agent_dir))?;
        }
    }
    Ok(warnings)
}

/// DOCS `api.url` is a URL ("`https://runner.circleci.com` by default"; a Server installation
/// "must be set to the URL of your server installation"). A bare host is what a user pasting the
/// Semaphore-style `endpoint` meant: it gets `https://`, with a warning.
fn endpoint_url(endpoint: &str) -> Result<(String, Vec<String>), ConfigError> {
    let fix = "give the runner API's URL, e.g. https://runner.circleci.com (the default), or your CircleCI Server's";
    let mut warnings = Vec::new();
    let (scheme, rest) = match endpoint.split_once("://") {
        Some((scheme, rest)) => (scheme, rest),
        None => {
            warnings.push(format!(
                "config: key `endpoint`: {endpoint:?} has no scheme: the runner takes a URL, so it gets https://{endpoint}"
            ));
            ("https", endpoint)
        }
    };
    if scheme != "https" && scheme != "http" {
        return Err(ConfigError::key(
            "endpoint",
            format!(
                "{endpoint:?} has the scheme {scheme}://, but the runner speaks HTTP(S): {fix}"
            ),
        ));
    }
    let host = rest.split('/').next().unwrap_or_default();
    let is_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    let clean = rest
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'<' | b'>' | b'\\'));
    if !is_host || !clean {
        return Err(ConfigError::key(
            "endpoint",
            format!("{endpoint:?} is not a URL with a host: {fix}"),
        ));
    }
    Ok((format!("{scheme}://{rest}"), warnings))
}

/// The job's variables reach the task through our wrapper's exec, not a shell: a name is
/// anything an environment can hold (no `=`, no NUL), a value anything but NUL.
fn check_env(name: &str, value: &str) -> Result<(), ConfigError> {
    if name.is_empty() || name.contains('=') || name.contains('\0') {
        return Err(ConfigError::key(
            "env",
            format!("{name:?} is not an environment variable name: it must be non-empty, without `=` or NUL"),
        ));
    }
    if value.contains('\0') {
        return Err(ConfigError::key(
            &format!("env.{name}"),
            "holds a NUL byte, which no environment variable can: remove it",
        ));
    }
    Ok(())
}

fn check_duration(key: &str, secs: u64) -> Result<(), ConfigError> {
    if secs > MAX_DURATION_SECS {
        return Err(ConfigError::key(
            key,
            format!("{secs} s is over {MAX_DURATION_SECS} s, the longest duration the runner's config can carry"),
        ));
    }
    Ok(())
}

/// DOCS `runner.working_directory`: "takes a fully qualified path"; "For Machine Runner 3.0, the
/// `%s` substitution feature is not supported. The `%s` value in the working directory path
/// would be interpreted as a literal value", so a `%s` is refused rather than made a directory.
fn check_working_directory(dir: &Path) -> Result<(), ConfigError> {
    let key = "circleci.working_directory";
    let shown = dir.display();
    if !dir.is_absolute() {
        return Err(ConfigError::key(
            key,
            format!("{shown:?} is relative, but the runner takes a fully qualified path: start it at the root, e.g. /Users/circleci/workdir"),
        ));
    }
    if dir.to_string_lossy().contains("%s") {
        return Err(ConfigError::key(
            key,
            format!("{shown:?} holds %s, which machine runner 3 no longer substitutes (it would be a literal directory name): remove it"),
        ));
    }
    if dir.parent().is_none() {
        return Err(ConfigError::key(
            key,
            "is the root directory: give tasks a directory of their own",
        ));
    }
    Ok(())
}

/// The working directory holds the tasks' files and, with `cleanup_working_directory` (DOCS:
/// "control the working directory cleanup after each job"), is removed after each: it must
/// neither hold nor sit inside the agent dir, which holds the runner's config (the token) and
/// the bootstrap's state.
fn check_apart(dir: &Path, agent_dir: &Path) -> Result<(), ConfigError> {
    if dir.starts_with(agent_dir) || agent_dir.starts_with(dir) {
        return Err(ConfigError::key(
            "circleci.working_directory",
            format!(
                "{:?} overlaps the agent dir {:?}, which holds the runner's config and token: put tasks elsewhere, e.g. /Users/circleci/workdir",
                dir.display(),
                agent_dir.display()
            ),
        ));
    }
    Ok(())
}

/// DOCS `runner.name`: "The only special characters accepted in `RUNNER_NAME` are `. () - _`";
/// the rest are letters and digits.
pub fn name_is_valid(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'(' | b')' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(json: &str) -> BootConfigLayer {
        serde_json::from_str(json).unwrap()
    }

    const DIR: &str = "/opt/circleci-runner";

    fn check(layer: &mut BootConfigLayer, scope: Scope) -> Result<Vec<String>, ConfigError> {
        super::check(layer, scope, Path::new(DIR))
    }

    fn err(json: &str) -> String {
        check(&mut layer(json), Scope::Complete)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_endpoint_is_the_runner_api_url() {
        let mut l = layer("{}");
        check(&mut l, Scope::Complete).unwrap();
        assert_eq!(l.endpoint.as_deref(), Some(DEFAULT_URL));
        let mut l = layer("{}");
        check(&mut l, Scope::Partial).unwrap();
        assert_eq!(l.endpoint, None, "a parameter may still set it");
        // (given, URL the runner gets, warnings)
        let ok = [
            (
                "https://runner.circleci.com",
                "https://runner.circleci.com",
                0,
            ),
            ("runner.circleci.com", "https://runner.circleci.com", 1),
            ("http://ci.internal:8080/", "http://ci.internal:8080/", 0),
        ];
        for (given, url, warned) in ok {
            let mut l = BootConfigLayer {
                endpoint: Some(given.into()),
                ..Default::default()
            };
            let warnings = check(&mut l, Scope::Partial).unwrap();
            assert_eq!(l.endpoint.as_deref(), Some(url), "{given}");
            assert_eq!(warnings.len(), warned, "{given}: {warnings:?}");
        }
        for (given, says) in [
            ("ftp://x.example", "has the scheme ftp://"),
            ("https://", "is not a URL with a host"),
            ("https://a b", "is not a URL with a host"),
            ("", "is not a URL with a host"),
        ] {
            let e = err(&format!(r#"{{"endpoint":{given:?}}}"#));
            assert!(e.starts_with("config: key `endpoint`: "), "{e}");
            assert!(e.contains(says), "{given}: {e}");
        }
    }

    #[test]
    fn durations_the_runner_takes() {
        assert_eq!(
            err(r#"{"circleci":{"max_run_time":0}}"#),
            "config: key `circleci.max_run_time`: is 0: a task needs at least 1 s; leave the key out for the runner's default of 5 h"
        );
        let e = err(&format!(
            r#"{{"circleci":{{"max_run_time":{}}}}}"#,
            MAX_DURATION_SECS + 1
        ));
        assert!(
            e.starts_with("config: key `circleci.max_run_time`: 9223372037 s is over"),
            "{e}"
        );
        let e = err(&format!(
            r#"{{"disconnect_after_idle_timeout":{}}}"#,
            MAX_DURATION_SECS + 1
        ));
        assert!(
            e.starts_with("config: key `disconnect_after_idle_timeout`: "),
            "{e}"
        );
        check(
            &mut layer(r#"{"circleci":{"max_run_time":259200}}"#),
            Scope::Complete,
        )
        .unwrap();
    }

    #[test]
    fn working_directories_the_runner_takes() {
        let refused = [
            (r#""workdir""#, "is relative"),
            (r#""/tmp/%s""#, "holds %s"),
            (r#""/""#, "is the root directory"),
            (r#""/opt/circleci-runner/work""#, "overlaps the agent dir"),
            (r#""/opt""#, "overlaps the agent dir"),
        ];
        for (dir, says) in refused {
            let e = err(&format!(r#"{{"circleci":{{"working_directory":{dir}}}}}"#));
            assert!(
                e.starts_with("config: key `circleci.working_directory`: "),
                "{e}"
            );
            assert!(e.contains(says), "{dir}: {e}");
        }
        check(
            &mut layer(r#"{"circleci":{"working_directory":"/Users/circleci/workdir"}}"#),
            Scope::Complete,
        )
        .unwrap();
        // A layer's own agent dir counts instead of the image's.
        let e = err(r#"{"agent_dir":"/srv/r","circleci":{"working_directory":"/srv/r/w"}}"#);
        assert!(e.contains("overlaps the agent dir \"/srv/r\""), "{e}");
    }

    #[test]
    fn env_names_and_values() {
        check_env("A", "x=y 'q' $(id)\n").unwrap();
        check_env("lower.dot-dash", "").unwrap();
        for name in ["", "A=B", "A\0"] {
            let e = check_env(name, "v").unwrap_err().to_string();
            assert!(e.starts_with("config: key `env`: "), "{e}");
        }
        assert_eq!(
            check_env("A", "x\0y").unwrap_err().to_string(),
            "config: key `env.A`: holds a NUL byte, which no environment variable can: remove it"
        );
    }

    #[test]
    fn a_config_that_never_leaves_is_refused_here_too() {
        let never = r#"{"disconnect_after_job":false,"disconnect_after_idle_timeout":0}"#;
        assert!(err(never).starts_with("config: key `disconnect_after_idle_timeout`: is 0"));
        check(&mut layer(never), Scope::Partial).unwrap();
    }

    #[test]
    fn names() {
        for good in ["i-0123456789abcdef0", "host.name_(1)-x"] {
            assert!(name_is_valid(good), "{good}");
        }
        for bad in ["", "has space", "a/b", "a+b", "é"] {
            assert!(!name_is_valid(bad), "{bad}");
        }
    }
}
