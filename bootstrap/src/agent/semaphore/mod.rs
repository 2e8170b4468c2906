//! Semaphore's agent (v2): `agent start --config-file config.yaml` in its install dir, ended by
//! its shutdown hook with a reason.

mod config;
pub mod hook;
mod job_hook;
pub mod rules;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use super::{self_exe, Agent, AgentError, Busy, Outcome, Scope, Start};
use crate::config::{BootConfig, BootConfigLayer, ConfigError, Section, SemaphoreSection};
use crate::secrets::Token;
use crate::state::StateDir;
use crate::supervise::{Exit, GracefulStop, Launch, StopSignal};
use config::AgentConfig;
use imagekit_core::{atomic, AgentKind};

/// Where the images install the agent (packer/scripts: the agent's own tarball layout).
#[cfg(not(windows))]
pub const DEFAULT_DIR: &str = "/opt/semaphore/agent";
#[cfg(windows)]
pub const DEFAULT_DIR: &str = r"C:\semaphore-agent";

/// What the agent passes its hook for a stop it was asked for (the reason the supervisor
/// records when it stopped the agent, which then could not run its hook).
const INTERRUPTED: &str = "INTERRUPTED";

pub struct Semaphore;

impl Agent for Semaphore {
    fn kind(&self) -> AgentKind {
        AgentKind::Semaphore
    }

    fn default_dir(&self) -> PathBuf {
        PathBuf::from(DEFAULT_DIR)
    }

    /// `<agent_dir>/agent` (`agent.exe` on Windows).
    fn program(&self, config: &BootConfig) -> PathBuf {
        config
            .agent_dir
            .join(format!("agent{}", std::env::consts::EXE_SUFFIX))
    }

    fn config_path(&self, config: &BootConfig) -> PathBuf {
        config.agent_dir.join("config.yaml")
    }

    /// What the agent dies on at start-up, and an endpoint pasted as a URL (`rules.rs`).
    fn check(&self, layer: &mut BootConfigLayer, scope: Scope) -> Result<Vec<String>, ConfigError> {
        rules::check(layer, scope)
    }

    /// Agent types whose name assignment is "AWS STS" take only such a name.
    fn named_by_sts(&self, config: &BootConfig) -> bool {
        matches!(
            &config.section,
            Section::Semaphore(SemaphoreSection {
                name_from_sts: Some(true)
            })
        )
    }

    /// The variables of the toolbox's `cache` command for its S3 backend.
    fn cache_env(&self, bucket: &str) -> Vec<(String, String)> {
        [
            ("SEMAPHORE_CACHE_BACKEND", "s3"),
            ("SEMAPHORE_CACHE_S3_BUCKET", bucket),
            ("SEMAPHORE_CACHE_USE_EC2_INSTANCE_PROFILE", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The hooks, a cleared reason file and job start, the job's variables, and the agent's
    /// config.
    fn write_files(&self, start: &Start<'_>, token: &Token) -> Result<(), AgentError> {
        for stale in [hook::reason_file(start.state), log_file(start.state)] {
            match std::fs::remove_file(&stale) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(AgentError {
                        what: "clearing",
                        path: stale,
                        source,
                    })
                }
            }
        }

        let launcher = hook::launcher_path(&start.config.agent_dir);
        // Fixed text, rewritten every boot: no fsync.
        let unsynced = atomic::Durability::Unsynced;
        atomic::write(
            &launcher,
            hook::launcher().as_bytes(),
            0o755,
            None,
            unsynced,
        )
        .map_err(|source| AgentError {
            what: "writing the shutdown hook",
            path: launcher.clone(),
            source,
        })?;

        job_hook::write(
            &start.config.agent_dir,
            start.state,
            &self.job_env(start.config),
            start.user.owner(),
        )
        .map_err(|(what, path, source)| AgentError { what, path, source })?;

        let name = match start.sts_name {
            Some(url) => url.expose().to_string(),
            None => config::agent_name(start.instance_id),
        };
        let agent_config = AgentConfig {
            config: start.config,
            token,
            name,
            shutdown_hook: launcher,
            pre_job_hook: job_hook::hook_path(&start.config.agent_dir),
        };
        let path = self.config_path(start.config);
        agent_config
            .write(&path, start.user.owner())
            .map_err(|source| AgentError {
                what: "writing the agent config",
                path: path.clone(),
                source,
            })?;
        // A pre-signed name carries the session token: say what it is, never what it says.
        let shown = match start.sts_name {
            Some(_) => "a pre-signed STS GetCallerIdentity URL",
            None => agent_config.name.as_str(),
        };
        tracing::info!(path = %path.display(), name = shown, "agent config written");
        Ok(())
    }

    /// `agent start --config-file PATH`; the hook learns from its environment which binary to run
    /// and where to record the reason.
    fn launch<'a>(&self, start: &Start<'a>) -> Launch<'a> {
        let exe = self_exe::current();
        Launch {
            program: self.program(start.config),
            args: vec![
                OsString::from("start"),
                OsString::from("--config-file"),
                self.config_path(start.config).into_os_string(),
            ],
            dir: start.config.agent_dir.clone(),
            env: vec![
                (self_exe::EXE_ENV.into(), exe.into_os_string()),
                (
                    hook::REASON_FILE_ENV.into(),
                    hook::reason_file(start.state).into_os_string(),
                ),
                // main.go `getLogFilePath`: the agent logs there as well as to stdout.
                (LOG_FILE_ENV.into(), log_file(start.state).into_os_string()),
            ],
            user: start.user,
            handoff: None,
        }
    }

    /// Running once the pre-job hook has recorded a job's start in this boot.
    fn busy(&self, state: &StateDir) -> Busy {
        if job_hook::started_file(state).exists() {
            Busy::Running
        } else {
            Busy::Idle
        }
    }

    /// SIGTERM (or SIGINT, the same to it) makes the agent tell the control plane, which stops
    /// its job after the agent's `interruption-grace-period` (default 0) and then shuts it down,
    /// hook and all: semaphoreci/agent@7fc190af6847b2d41fd983ad41b591fc09b87cb6
    /// pkg/listener/job_processor.go (`SetupInterruptHandler`) and main.go. The agent bounds its
    /// own stop, so on Unix the supervisor waits for it. On Windows the stop is a Ctrl-C on a
    /// console, which a console may accept without the agent ever seeing it: there the wait is
    /// bounded by the same budget the Unix service managers give (the grace period, then the
    /// margin for the agent's own shutdown), and what is left is then ended by force.
    fn graceful_stop(&self, config: &BootConfig) -> GracefulStop {
        let bound = config.interruption_grace_period + super::stop_budget::STOP_MARGIN_SECS;
        GracefulStop {
            signal: StopSignal::Terminate,
            repeat: None,
            grace: cfg!(windows).then(|| Duration::from_secs(bound)),
        }
    }

    /// `SEMAPHORE_AGENT_LOG_FILE_PATH`, which the launch sets.
    fn log_file(&self, state: &StateDir) -> Option<PathBuf> {
        Some(log_file(state))
    }

    /// The agent logs "Starting to poll for jobs" once `Register` succeeded, and not before
    /// (semaphoreci/agent@7fc190af6847b2d41fd983ad41b591fc09b87cb6 pkg/listener/listener.go
    /// `Start`).
    fn registered(&self, state: &StateDir) -> bool {
        std::fs::read_to_string(log_file(state))
            .is_ok_and(|log| log.lines().any(|l| l.ends_with(REGISTERED_LINE)))
    }

    fn read_end(&self, config: &BootConfig, state: &StateDir, exit: &Exit) -> Outcome {
        let reason = hook::read_reason(state);
        let status = exit.status;
        let start = Progress {
            registered: self.registered(state),
            within_window: exit.ran_for.as_secs() < config.failed_start_window,
        };
        if reason.is_none() && !exit.stop_requested && !start.registered {
            let window = config.failed_start_window;
            match start.within_window {
                true => tracing::error!(
                    %status,
                    "agent exited without registering, {window} s or less after its start (its log has no \"{REGISTERED_LINE}\"); giving the instance back as failed to start"
                ),
                false => tracing::error!(
                    %status,
                    "agent exited without registering, but more than {window} s after its start; read as a crash"
                ),
            }
            return outcome_of(None, false, start);
        }
        match &reason {
            Some(reason) => tracing::info!(%status, reason = reason.as_str(), "agent exited"),
            // The OS or the service manager stopped us, and we stopped the agent, which had no
            // time for its hook: it outlasted its grace period, or a Windows console could not
            // carry its Ctrl-C. Not a crash.
            None if exit.stop_requested => tracing::info!(
                %status,
                reason = INTERRUPTED,
                "agent stopped on request without recording a reason; giving the instance back as interrupted"
            ),
            None => tracing::error!(
                %status,
                "agent exited without recording a shutdown reason (crashed or killed); giving the instance back without lowering desired capacity"
            ),
        }
        outcome_of(reason.as_deref(), exit.stop_requested, start)
    }
}

/// The agent's log file, in the state dir (the agent user's).
fn log_file(state: &StateDir) -> PathBuf {
    state.file("agent.log")
}

/// The agent's own log path variable (main.go `getLogFilePath`).
const LOG_FILE_ENV: &str = "SEMAPHORE_AGENT_LOG_FILE_PATH";
/// pkg/eventlogger/formatter.go ends each line with `: <message>`.
const REGISTERED_LINE: &str = ": Starting to poll for jobs";

/// How far an agent that gave no reason got.
#[derive(Debug, Clone, Copy)]
struct Progress {
    registered: bool,
    /// It exited within the failed-start window.
    within_window: bool,
}

/// The agent's shutdown reasons (semaphoreci/agent@7fc190af6847b2d41fd983ad41b591fc09b87cb6
/// pkg/listener/shutdown_reason.go): IDLE and JOB_FINISHED are the control plane's answer to
/// `disconnect-after-idle-timeout` and `disconnect-after-job`; REQUESTED, INTERRUPTED,
/// UNABLE_TO_SYNC and UNKNOWN all cut the agent's life short. No reason at all: the agent never
/// reached its hook.
/// An agent that fails to register exits 1 without running its hook (main.go `log.Panicf("Could
/// not start agent: ...")` after `Register` gave up): that, within the window, failed to start.
fn outcome_of(reason: Option<&str>, stop_requested: bool, start: Progress) -> Outcome {
    match reason {
        Some("IDLE") => Outcome::Idle,
        Some("JOB_FINISHED") => Outcome::JobFinished,
        Some(_) => Outcome::Interrupted,
        None if stop_requested => Outcome::Interrupted,
        None if !start.registered && start.within_window => Outcome::FailedToStart,
        None => Outcome::CrashedAfterRunning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shutdown_reason_reads_as_its_outcome() {
        let table = [
            (Some("IDLE"), false, Outcome::Idle),
            (Some("JOB_FINISHED"), false, Outcome::JobFinished),
            (Some("REQUESTED"), false, Outcome::Interrupted),
            (Some("INTERRUPTED"), false, Outcome::Interrupted),
            (Some("UNABLE_TO_SYNC"), false, Outcome::Interrupted),
            (Some("UNKNOWN"), false, Outcome::Interrupted),
            // What our hook records when the agent passed no reason.
            (Some("UNSPECIFIED"), false, Outcome::Interrupted),
            // A reason wins over the stop: the agent ran its hook.
            (Some("IDLE"), true, Outcome::Idle),
            (None, true, Outcome::Interrupted),
            (None, false, Outcome::CrashedAfterRunning),
        ];
        let ran = Progress {
            registered: true,
            within_window: true,
        };
        for (reason, stop_requested, outcome) in table {
            assert_eq!(
                outcome_of(reason, stop_requested, ran),
                outcome,
                "{reason:?} {stop_requested}"
            );
        }
    }

    #[test]
    fn no_reason_before_registering_within_the_window_failed_to_start() {
        // (registered, within the window, outcome)
        let table = [
            (false, true, Outcome::FailedToStart),
            (false, false, Outcome::CrashedAfterRunning),
            (true, true, Outcome::CrashedAfterRunning),
            (true, false, Outcome::CrashedAfterRunning),
        ];
        for (registered, within_window, outcome) in table {
            let start = Progress {
                registered,
                within_window,
            };
            assert_eq!(outcome_of(None, false, start), outcome, "{start:?}");
            // A stop asked for is never a failed start, nor is a recorded reason.
            assert_eq!(outcome_of(None, true, start), Outcome::Interrupted);
            assert_eq!(outcome_of(Some("IDLE"), false, start), Outcome::Idle);
        }
    }

    #[test]
    fn the_cache_env_points_the_toolbox_at_the_bucket() {
        let env = Semaphore.cache_env("b");
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "SEMAPHORE_CACHE_BACKEND",
                "SEMAPHORE_CACHE_S3_BUCKET",
                "SEMAPHORE_CACHE_USE_EC2_INSTANCE_PROFILE"
            ]
        );
        assert_eq!(env[1].1, "b");
    }
}
