//! CircleCI's machine runner 3: `circleci-runner machine --config PATH`, as root, running each
//! task as the agent user through our `command_prefix` wrapper (`task.rs`).
//!
//! The runner is closed source and documents no end reason, no hook and no exit codes, so the
//! end is read from what we can see: whether our wrapper recorded a task, whether the runner's
//! own log shows the API refusing its token, and whether it exited cleanly by itself (which, with
//! no task, only its `idle_timeout` makes it do).
//!
//! DOCS: circleci/circleci-docs@9734a1410cc98741bc09b84f187325a8f43baf68
//! docs/guides/modules/execution-runner/pages/machine-runner-3-configuration-reference.adoc;
//! START: the same commit's machine-runner-3-manual-installation.adoc ("5. Start the CircleCI
//! machine runner": `$HOME/circleci-runner machine --config $HOME/circleci-runner-config.yaml`).

mod config;
pub mod rules;
pub mod task;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Agent, AgentError, Busy, Outcome, Scope, Start};
use crate::config::{BootConfig, BootConfigLayer, CircleciSection, ConfigError, Section};
use crate::secrets::Token;
use crate::state::StateDir;
use crate::supervise::{Exit, GracefulStop, Launch, StopSignal};
use config::{Api, Logging, Mode, Runner, RunnerConfig};
use imagekit_core::AgentKind;

/// Where the images install the runner (packer/scripts/macos/circleci/20-agent.sh): the binary,
/// its config (root's, 0600) and the bootstrap's state (root's, 0700), in a directory the task
/// user may enter to run the task-agent below it.
#[cfg(not(windows))]
pub const DEFAULT_DIR: &str = "/opt/circleci-runner";
#[cfg(windows)]
pub const DEFAULT_DIR: &str = r"C:\circleci-runner";

/// The variable the job finds the cache bucket in: CircleCI has no S3 cache of its own to point
/// at it, so jobs (or their orbs) read it from here.
pub const CACHE_BUCKET_ENV: &str = "IMAGEKIT_CACHE_BUCKET";

/// The runner's API answers a token it refuses with 401, and the runner logs each API call with
/// its status as `http.response.status_code=<code>` in its text format. Neither is in DOCS: the
/// line format is machine runner 3.1.4's own log as quoted in pulibrary/princeton_ansible#6136
/// (`GET /api/v2/tasks/download ... http.response.status_code=200`), and the 401 for a refused
/// token is CircleCI's runner API's answer quoted in CircleCI-Public/circleci-runner-docker#28
/// (`invalid bearer token (401-Unauthorized)`). Whether the runner then exits is not documented
/// either, so the supervisor stops it once the line shows ([`Agent::refused`]).
const REFUSED_LINE: &str = "http.response.status_code=401";

pub struct Circleci;

impl Agent for Circleci {
    fn kind(&self) -> AgentKind {
        AgentKind::Circleci
    }

    fn default_dir(&self) -> PathBuf {
        PathBuf::from(DEFAULT_DIR)
    }

    /// `<agent_dir>/circleci-runner`.
    fn program(&self, config: &BootConfig) -> PathBuf {
        config
            .agent_dir
            .join(format!("circleci-runner{}", std::env::consts::EXE_SUFFIX))
    }

    fn config_path(&self, config: &BootConfig) -> PathBuf {
        config.agent_dir.join("config.yaml")
    }

    fn check(&self, layer: &mut BootConfigLayer, scope: Scope) -> Result<Vec<String>, ConfigError> {
        rules::check(layer, scope, Path::new(DEFAULT_DIR))
    }

    /// The runner runs as root and runs its tasks as the agent user through the wrapper, so
    /// neither its config (the token) nor the state dir is the job's to read or write.
    fn runs_as_supervisor(&self) -> bool {
        true
    }

    fn cache_env(&self, bucket: &str) -> Vec<(String, String)> {
        vec![(CACHE_BUCKET_ENV.to_string(), bucket.to_string())]
    }

    /// The task's variables, the runner's task-agent directory, and the runner's config.
    fn write_files(&self, start: &Start<'_>, token: &Token) -> Result<(), AgentError> {
        let log = log_file(start.state);
        match std::fs::remove_file(&log) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(AgentError {
                    what: "clearing",
                    path: log,
                    source,
                })
            }
        }
        let mut env = vec![
            ("AWS_REGION".to_string(), start.region.to_string()),
            ("AWS_DEFAULT_REGION".to_string(), start.region.to_string()),
        ];
        for (k, v) in self.job_env(start.config) {
            env.retain(|(name, _)| *name != k);
            env.push((k, v));
        }
        task::write_env(start.state, &env).map_err(|(what, path, source)| AgentError {
            what,
            path,
            source,
        })?;

        let task_agents = task_agent_dir(start.config);
        task_agent_dir_ready(&task_agents).map_err(|source| AgentError {
            what: "creating the task-agent directory",
            path: task_agents.clone(),
            source,
        })?;

        let name = start.instance_id.to_string();
        let path = self.config_path(start.config);
        if !rules::name_is_valid(&name) {
            return Err(AgentError {
                what: "naming the runner for",
                path,
                source: std::io::Error::other(format!(
                    "the instance id {name:?} is outside the runner's name rule (letters, digits and . ( ) - _)"
                )),
            });
        }
        let section = section(start.config);
        let exe = crate::agent::self_exe::current();
        let become_user = (!start.user.is_current()).then_some(start.user.name.as_str());
        let runner_config = RunnerConfig {
            api: Api {
                auth_token: token,
                url: start.config.endpoint.clone(),
            },
            runner: Runner {
                name,
                mode: match start.config.disconnect_after_job {
                    true => Mode::SingleTask,
                    false => Mode::Continuous,
                },
                idle_timeout: match start.config.disconnect_after_idle_timeout {
                    0 => None,
                    secs => Some(config::duration(secs)),
                },
                max_run_time: section.max_run_time.map(config::duration),
                working_directory: section
                    .working_directory
                    .clone()
                    .unwrap_or_else(|| start.user.home.join("workdir")),
                cleanup_working_directory: section.cleanup_working_directory.unwrap_or(false),
                command_prefix: task::command_prefix(&exe, start.state, become_user),
                task_agent_directory: task_agents,
            },
            logging: Logging {
                level: "info",
                format: "text",
                file: log,
            },
        };
        runner_config.write(&path).map_err(|source| AgentError {
            what: "writing the runner config",
            path: path.clone(),
            source,
        })?;
        tracing::info!(
            path = %path.display(),
            name = runner_config.runner.name.as_str(),
            "runner config written"
        );
        Ok(())
    }

    /// START: `circleci-runner machine --config PATH`, as the bootstrap's own user (root).
    fn launch<'a>(&self, start: &Start<'a>) -> Launch<'a> {
        Launch {
            program: self.program(start.config),
            args: vec![
                OsString::from("machine"),
                OsString::from("--config"),
                self.config_path(start.config).into_os_string(),
            ],
            dir: start.config.agent_dir.clone(),
            env: Vec::new(),
            user: start.supervisor,
            handoff: None,
        }
    }

    /// Running while the task-agent the wrapper recorded still runs.
    fn busy(&self, state: &StateDir) -> Busy {
        match task::started_pid(state) {
            Some(pid) if task::running(pid) => Busy::Running,
            _ => Busy::Idle,
        }
    }

    /// DOCS "Customizing job timeouts and drain timeouts": on TERM the runner drains (no new
    /// task, the running one may finish); "An additional TERM signal" or `max_run_time` ends the
    /// drain, and the runner then TERMs the task-agent (and KILLs it "a brief period after").
    /// So the supervisor sends the first TERM, the second after `interruption_grace_period` (the
    /// task's time to finish), and kills the runner if it has not exited within the margin after
    /// that (its cancel and its own shutdown).
    fn graceful_stop(&self, config: &BootConfig) -> GracefulStop {
        GracefulStop {
            signal: StopSignal::Terminate,
            repeat: Some(Duration::from_secs(config.interruption_grace_period)),
            grace: Some(Duration::from_secs(super::stop_budget::STOP_MARGIN_SECS)),
        }
    }

    /// DOCS `logging.file`, which the config points here.
    fn log_file(&self, state: &StateDir) -> Option<PathBuf> {
        Some(log_file(state))
    }

    /// A task started: the runner's token claimed work.
    fn registered(&self, state: &StateDir) -> bool {
        task::started_pid(state).is_some()
    }

    /// No task ran, and the runner's log shows its API refusing the token ([`REFUSED_LINE`]):
    /// the runner may go on polling with it until its idle timeout, or for ever without one.
    fn refused(&self, state: &StateDir) -> bool {
        task::started_pid(state).is_none()
            && std::fs::read_to_string(log_file(state)).is_ok_and(|log| log.lines().any(refused))
    }

    fn read_end(&self, config: &BootConfig, state: &StateDir, exit: &Exit) -> Outcome {
        let end = End {
            task_ran: task::started_pid(state).is_some(),
            refused: self.refused(state),
            stop_requested: exit.stop_requested,
            success: exit.status.success(),
            within_window: exit.ran_for.as_secs() < config.failed_start_window,
        };
        let outcome = outcome_of(end);
        let status = exit.status;
        match outcome {
            Outcome::FailedToStart if end.refused => tracing::error!(
                %status,
                "the runner's API refused its token (its log has \"{REFUSED_LINE}\") and no task ran; giving the instance back as failed to start: check the resource class token in the token parameter"
            ),
            Outcome::FailedToStart => tracing::error!(
                %status,
                "the runner exited with an error before any task, {} s or less after its start; giving the instance back as failed to start",
                config.failed_start_window
            ),
            Outcome::CrashedAfterRunning => tracing::error!(
                %status,
                task_ran = end.task_ran,
                "the runner exited with an error; giving the instance back without lowering desired capacity"
            ),
            Outcome::Idle => {
                tracing::info!(%status, "runner exited with no task (its idle timeout)")
            }
            _ => {
                tracing::info!(%status, task_ran = end.task_ran, stop_requested = end.stop_requested, "runner exited")
            }
        }
        outcome
    }
}

fn section(config: &BootConfig) -> CircleciSection {
    match &config.section {
        Section::Circleci(section) => section.clone(),
        _ => CircleciSection::default(),
    }
}

/// The runner's log file (DOCS `logging.file`), in the state dir (root's).
fn log_file(state: &StateDir) -> PathBuf {
    state.file("runner.log")
}

/// DOCS `runner.task_agent_directory`, inside the agent dir.
fn task_agent_dir(config: &BootConfig) -> PathBuf {
    config.agent_dir.join("task-agent")
}

/// The task-agent directory, root's and 0755: the agent user runs the task-agent from it, and
/// cannot change it.
fn task_agent_dir_ready(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

fn refused(line: &str) -> bool {
    line.split_whitespace().any(|field| field == REFUSED_LINE)
}

/// What the runner's end shows.
#[derive(Debug, Clone, Copy)]
struct End {
    /// The wrapper recorded a task.
    task_ran: bool,
    /// The runner's log shows its API refusing the token.
    refused: bool,
    stop_requested: bool,
    /// Exit code 0.
    success: bool,
    /// It exited within the failed-start window.
    within_window: bool,
}

/// A task ran: the instance is replaced (interrupted if we stopped it, a crash if the runner
/// failed). No task: a refused token failed to start (stopped or not: the supervisor stops a
/// refused runner itself); else a stop is an interruption; a clean exit is the idle timeout; a
/// failing one soon after the start failed to start, later a crash.
fn outcome_of(end: End) -> Outcome {
    match end {
        End {
            task_ran: true,
            stop_requested: true,
            ..
        } => Outcome::Interrupted,
        End {
            task_ran: true,
            success: true,
            ..
        } => Outcome::JobFinished,
        End { task_ran: true, .. } => Outcome::CrashedAfterRunning,
        End { refused: true, .. } => Outcome::FailedToStart,
        End {
            stop_requested: true,
            ..
        } => Outcome::Interrupted,
        End { success: true, .. } => Outcome::Idle,
        End {
            within_window: true,
            ..
        } => Outcome::FailedToStart,
        End { .. } => Outcome::CrashedAfterRunning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_end_reads_as_its_outcome() {
        // (task ran, refused, stop requested, exit 0, within the window, outcome)
        let table = [
            (true, false, false, true, true, Outcome::JobFinished),
            (
                true,
                false,
                false,
                false,
                true,
                Outcome::CrashedAfterRunning,
            ),
            (true, false, true, false, true, Outcome::Interrupted),
            (true, true, false, true, true, Outcome::JobFinished),
            (false, false, true, true, true, Outcome::Interrupted),
            (false, true, true, true, true, Outcome::FailedToStart),
            (false, true, false, true, false, Outcome::FailedToStart),
            (false, true, false, false, false, Outcome::FailedToStart),
            (false, false, false, true, false, Outcome::Idle),
            (false, false, false, false, true, Outcome::FailedToStart),
            (
                false,
                false,
                false,
                false,
                false,
                Outcome::CrashedAfterRunning,
            ),
        ];
        for (task_ran, refused, stop_requested, success, within_window, outcome) in table {
            let end = End {
                task_ran,
                refused,
                stop_requested,
                success,
                within_window,
            };
            assert_eq!(outcome_of(end), outcome, "{end:?}");
        }
    }

    #[test]
    fn the_refusal_is_the_status_field_not_a_substring() {
        assert!(refused(
            "12:00:01 a1b2c 3.1ms GET /api/v3/runner/claim http.response.status_code=401 result=error"
        ));
        assert!(!refused("x http.response.status_code=4010"));
        assert!(!refused("x http.response.status_code=200"));
    }

    #[test]
    fn the_cache_env_names_the_bucket() {
        assert_eq!(
            Circleci.cache_env("b"),
            [(CACHE_BUCKET_ENV.to_string(), "b".to_string())]
        );
    }
}
