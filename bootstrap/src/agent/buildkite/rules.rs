//! What buildkite-agent refuses or misreads at start-up, checked before any AWS call so that a
//! boot never hands it a config it dies on or reads differently. Each rule names where the agent
//! has it.
//!
//! Source: buildkite/agent@d312b88564052a9742f6c50e008c07e5d6035511 (tag v3.137.0).

use std::path::Path;

use super::config_file::misread;
use crate::agent::job_env::check_env;
use crate::agent::leave::check_can_leave;
use crate::agent::stop_budget::check_grace;
use crate::agent::Scope;
use crate::config::{BootConfigLayer, ConfigError};

/// The agent's own default endpoint (clicommand/global.go `DefaultEndpoint`), written when the
/// config names none.
pub const DEFAULT_ENDPOINT: &str = "https://agent-edge.buildkite.com/v3";

/// Checks `layer` key by key (and across keys when `scope` is complete); a complete layer without
/// an endpoint gets the agent's default. Returns the warnings to log (none so far).
pub fn check(layer: &mut BootConfigLayer, scope: Scope) -> Result<Vec<String>, ConfigError> {
    if let Some(endpoint) = &layer.endpoint {
        check_endpoint(endpoint)?;
    } else if scope == Scope::Complete {
        layer.endpoint = Some(DEFAULT_ENDPOINT.to_string());
    }
    for (name, value) in layer.env.iter().flatten() {
        check_env(name, value)?;
        check_env_unprotected(name)?;
    }
    if let Some(grace) = layer.interruption_grace_period {
        check_grace(grace)?;
    }
    if let Some(idle) = layer.disconnect_after_idle_timeout {
        check_idle(idle)?;
    }
    if let Some(dir) = &layer.agent_dir {
        check_path("agent_dir", dir, true)?;
    }
    if let Some(section) = &layer.buildkite {
        if let Some(queue) = &section.queue {
            check_tag_part("buildkite.queue", queue)?;
        }
        for (name, value) in section.tags.iter().flatten() {
            check_tag(name, value)?;
        }
        if section.spawn == Some(0) {
            // agent_start.go: "invalid spawn %d, must be at least 1".
            return Err(ConfigError::key(
                "buildkite.spawn",
                "is 0, but the agent refuses to start fewer than 1 agent (\"invalid spawn 0, must be at least 1\"): set 1 or more",
            ));
        }
        if let Some(path) = &section.build_path {
            check_path("buildkite.build_path", path, false)?;
        }
    }
    if scope == Scope::Complete {
        check_can_leave(layer)?;
    }
    Ok(Vec::new())
}

/// The agent joins its API paths onto the endpoint (api/client.go `newRequest`:
/// `joinURLPath(c.conf.Endpoint, urlStr)`), so it is an http(s) URL; and a config-file value.
fn check_endpoint(endpoint: &str) -> Result<(), ConfigError> {
    let fix = "give the agent API's URL, e.g. https://agent-edge.buildkite.com/v3 (the default)";
    if let Some(why) = misread(endpoint) {
        return Err(ConfigError::key("endpoint", format!("{why}: {fix}")));
    }
    let host = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"));
    match host {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !rest.contains(' ') => Ok(()),
        _ => Err(ConfigError::key(
            "endpoint",
            format!("{endpoint:?} is not an http(s) URL: {fix}"),
        )),
    }
}

/// The agent reads `disconnect-after-idle-timeout` with `strconv.Atoi` and ignores a failure
/// (cliconfig/loader.go `setFieldValueFromCLI`: `value, _ = strconv.Atoi(...)`), so a value past
/// Go's `int` reads as 0: never idle.
fn check_idle(idle: u64) -> Result<(), ConfigError> {
    if idle > i64::MAX as u64 {
        return Err(ConfigError::key(
            "disconnect_after_idle_timeout",
            format!("{idle} is past what the agent reads (it would read 0, never leaving): give seconds up to {}", i64::MAX),
        ));
    }
    Ok(())
}

/// One tag, written as `name=value` in the agent's `tags` list.
fn check_tag(name: &str, value: &str) -> Result<(), ConfigError> {
    let key = format!("buildkite.tags.{name}");
    if name == "queue" {
        // agent_start.go: with `queue` in the tags and a queue given, the agent dies on "Queue
        // must be present in only one of the --tags or the --queue flags"; the queue has its own
        // key here, which the scaler reads too.
        return Err(ConfigError::key(
            &key,
            "the queue has its own key: set buildkite.queue instead",
        ));
    }
    if name.contains('=') {
        return Err(ConfigError::key(
            &key,
            "a tag name cannot hold `=`, which separates it from its value",
        ));
    }
    check_tag_part(&key, name)?;
    check_tag_part(&key, value)
}

/// A tag's name or value: the agent splits `tags` on `,` and trims each tag
/// (cliconfig/loader.go: `strings.Split(configFileValue, ",")`, then `normalize:"list"`), after
/// the file's own parse rules ([`misread`]).
fn check_tag_part(key: &str, part: &str) -> Result<(), ConfigError> {
    if part.contains(',') {
        return Err(ConfigError::key(
            key,
            format!("{part:?} holds a `,`, which separates the agent's tags: remove it"),
        ));
    }
    if let Some(why) = misread(part) {
        return Err(ConfigError::key(
            key,
            format!("{part:?} {why}: the agent's config file cannot carry it"),
        ));
    }
    Ok(())
}

/// A path the agent reads from its file: absolute (the agent resolves a relative one against its
/// own working directory), without `$` or a leading `~`, which it expands
/// (cliconfig/loader.go `normalizeField` "filepath" → internal/osutil `NormalizeFilePath`:
/// `ExpandHome(os.ExpandEnv(path))`). The agent dir also names our hooks dir in
/// `additional-hooks-paths`, a list split on `,`.
fn check_path(key: &str, path: &Path, in_a_list: bool) -> Result<(), ConfigError> {
    let text = path.to_string_lossy();
    let refuse = |why: &str| {
        Err(ConfigError::key(
            key,
            format!("{text:?} {why}: the agent would read another path"),
        ))
    };
    if !path.is_absolute() {
        return refuse("is not absolute");
    }
    if text.contains('$') {
        return refuse("holds a `$`, which the agent expands as a variable");
    }
    if in_a_list && text.contains(',') {
        return refuse("holds a `,`, which splits the agent's hooks paths");
    }
    if let Some(why) = misread(&text) {
        return refuse(why);
    }
    Ok(())
}

/// The variables only the agent's own config may set: a job's hooks cannot change them
/// (buildkite/agent@d312b88:env/protected.go `protectedEnv`, the entries without
/// `mutableFromWithinJob`; `IsProtectedFromWithinJob`). The Job API refuses a request naming
/// one (jobapi/env.go `checkProtected`), which would fail every job on Windows, where the
/// bootstrap's hook sets the job's variables through it; on Unix the change would be dropped.
const PROTECTED_ENV: [&str; 27] = [
    "BUILDKITE_AGENT_ACCESS_TOKEN",
    "BUILDKITE_AGENT_DEBUG",
    "BUILDKITE_AGENT_ENDPOINT",
    "BUILDKITE_AGENT_JOB_TIMEOUT_FILE",
    "BUILDKITE_AGENT_PID",
    "BUILDKITE_BIN_PATH",
    "BUILDKITE_BUILD_PATH",
    "BUILDKITE_CHECKOUT_OVERRIDE_MODE",
    "BUILDKITE_COMMAND_EVAL",
    "BUILDKITE_CONFIG_PATH",
    "BUILDKITE_CONTAINER_COUNT",
    "BUILDKITE_GIT_CLONE_MIRROR_FLAGS",
    "BUILDKITE_GIT_MIRRORS_LOCK_TIMEOUT",
    "BUILDKITE_GIT_MIRRORS_PATH",
    "BUILDKITE_GIT_MIRRORS_SKIP_UPDATE",
    "BUILDKITE_GIT_MIRROR_CHECKOUT_MODE",
    "BUILDKITE_GIT_REMOTE_MIRROR_URL",
    "BUILDKITE_GIT_SUBMODULE_CLONE_CONFIG",
    "BUILDKITE_HOOKS_PATH",
    "BUILDKITE_HOOKS_SHELL",
    "BUILDKITE_JOB_CONTEXT_DIR",
    "BUILDKITE_KUBERNETES_EXEC",
    "BUILDKITE_LOCAL_HOOKS_ENABLED",
    "BUILDKITE_PLUGINS_ENABLED",
    "BUILDKITE_PLUGINS_PATH",
    "BUILDKITE_SHELL",
    "BUILDKITE_SSH_KEYSCAN",
];

/// Refuses an `env` name the agent protects from its jobs. Compared without case: the agent
/// upper-cases names on Windows (env/environment.go `normalizeKeyName`), and a config is meant
/// for every OS.
fn check_env_unprotected(name: &str) -> Result<(), ConfigError> {
    if PROTECTED_ENV.iter().any(|p| p.eq_ignore_ascii_case(name)) {
        return Err(ConfigError::key(
            "env",
            format!("{name:?} is one of the variables buildkite-agent sets itself and keeps from jobs (env/protected.go): set it in the agent's own config, or pick another name"),
        ));
    }
    Ok(())
}

/// Why the agent would not use `token` as the SSM parameter holds it, if it would not. The
/// token reaches it on a pipe, which it reads whole (up to 64 KiB), trims of surrounding
/// whitespace and uses as is (buildkite/agent@d312b88:clicommand/register_token.go
/// `resolveRegistrationToken`): a token it would trim, or none at all, is refused. Returns why,
/// never the token.
pub fn token_misread(token: &str) -> Option<&'static str> {
    if token.is_empty() {
        return Some("is empty");
    }
    if token.trim() != token {
        return Some("starts or ends with whitespace, which the agent trims");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        let mut layer: BootConfigLayer = serde_json::from_str(json).unwrap();
        check(&mut layer, Scope::Complete).unwrap_err().to_string()
    }

    #[test]
    fn a_complete_config_without_an_endpoint_gets_the_agents_default() {
        let mut layer = BootConfigLayer::default();
        check(&mut layer, Scope::Partial).unwrap();
        assert_eq!(layer.endpoint, None, "a parameter may still set it");
        check(&mut layer, Scope::Complete).unwrap();
        assert_eq!(layer.endpoint.as_deref(), Some(DEFAULT_ENDPOINT));
    }

    #[test]
    fn endpoints_are_http_urls_the_file_can_carry() {
        for ok in [
            "https://agent-edge.buildkite.com/v3",
            "http://127.0.0.1:9000/v3",
        ] {
            check_endpoint(ok).unwrap();
        }
        for bad in [
            "agent.buildkite.com",
            "ftp://x",
            "https://",
            "https:///v3",
            "https://a#b",
        ] {
            let e = check_endpoint(bad).unwrap_err().to_string();
            assert!(e.starts_with("config: key `endpoint`: "), "{e}");
        }
    }

    #[test]
    fn tags_and_queues_the_agent_would_split_or_misread_are_refused() {
        assert_eq!(
            err(r#"{"buildkite":{"tags":{"queue":"x"}}}"#),
            "config: key `buildkite.tags.queue`: the queue has its own key: set buildkite.queue instead"
        );
        assert_eq!(
            err(r#"{"buildkite":{"tags":{"os":"linux,mac"}}}"#),
            "config: key `buildkite.tags.os`: \"linux,mac\" holds a `,`, which separates the agent's tags: remove it"
        );
        assert_eq!(
            err(r#"{"buildkite":{"queue":"a#b"}}"#),
            "config: key `buildkite.queue`: \"a#b\" holds a `#`, which the agent reads as the start of a comment: the agent's config file cannot carry it"
        );
        assert!(err(r#"{"buildkite":{"tags":{"a=b":"c"}}}"#).contains("cannot hold `=`"));
        assert!(err(r#"{"buildkite":{"tags":{"a":" c"}}}"#).contains("whitespace"));
        assert!(err(r#"{"buildkite":{"tags":{"a":""}}}"#).contains("is empty"));
        let mut fine: BootConfigLayer = serde_json::from_str(
            r#"{"buildkite":{"queue":"q-1","tags":{"os":"linux","a":"b=c"}}}"#,
        )
        .unwrap();
        check(&mut fine, Scope::Complete).unwrap();
    }

    #[test]
    fn spawn_paths_idle_and_leaving() {
        assert!(
            err(r#"{"buildkite":{"spawn":0}}"#).starts_with("config: key `buildkite.spawn`: is 0")
        );
        assert!(err(r#"{"buildkite":{"build_path":"builds"}}"#).contains("is not absolute"));
        assert!(err(r#"{"buildkite":{"build_path":"/b/$USER"}}"#).contains("holds a `$`"));
        assert!(err(r#"{"agent_dir":"/a,b"}"#).contains("holds a `,`"));
        assert!(
            err(r#"{"disconnect_after_idle_timeout":18446744073709551615}"#)
                .contains("past what the agent reads")
        );
        assert!(
            err(r#"{"disconnect_after_job":false,"disconnect_after_idle_timeout":0}"#)
                .starts_with("config: key `disconnect_after_idle_timeout`: is 0")
        );
        assert!(err(r#"{"interruption_grace_period":541}"#).contains("is over 540 s"));
    }

    #[test]
    fn variables_the_agent_keeps_from_jobs_are_refused_in_env() {
        assert_eq!(
            err(r#"{"env":{"BUILDKITE_BIN_PATH":"/x"}}"#),
            "config: key `env`: \"BUILDKITE_BIN_PATH\" is one of the variables buildkite-agent sets itself and keeps from jobs (env/protected.go): set it in the agent's own config, or pick another name"
        );
        assert!(err(r#"{"env":{"buildkite_shell":"sh"}}"#).contains("keeps from jobs"));
        // Those a job may change stay allowed (`mutableFromWithinJob`).
        let mut layer: BootConfigLayer = serde_json::from_str(
            r#"{"env":{"BUILDKITE_REPO":"r","BUILDKITE_ARTIFACT_PATHS":"a"}}"#,
        )
        .unwrap();
        check(&mut layer, Scope::Partial).unwrap();
    }

    #[test]
    fn tokens_are_used_as_the_pipe_carries_them_unless_the_agent_would_trim_them() {
        // Off the pipe, nothing of the config file's parsing applies: a `#`, a quote or what
        // reads like a reference is the token itself.
        for ok in ["bkua_0123abc", "a#b", "it's", "fd://3"] {
            assert_eq!(token_misread(ok), None, "{ok:?}");
        }
        for bad in ["", " bkua", "bkua\n", "\tbkua"] {
            assert!(token_misread(bad).is_some(), "{bad:?}");
        }
    }
}
