//! Windows: `run --service` under the Service Control Manager (SCM), and how a service stop (or
//! a console Ctrl-C) reaches the supervisor.
//!
//! The SCM kills a service exe that does not connect back to it within 30 s (error 1053), and can
//! only deliver a stop to one that did. So the service's command line is `run --service`: the
//! main thread hands itself to the SCM's dispatcher, and the service thread runs the very same
//! `run` as the console, reporting Running before and Stopped (with `run`'s exit code) after.
//!
//! The adapter owns the stop signal: a service stop (or a console Ctrl-C) resolves the future it
//! hands to `run`, which the supervisor awaits.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::watch;
use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{
    self, ServiceControlHandlerResult, ServiceStatusHandle,
};
use windows_service::{define_windows_service, service_dispatcher};

use crate::exit::ExitStatus;
use crate::stop::StopRequest;

/// The name the image registers the service under (packer/scripts/windows/30-bootstrap-service.ps1).
/// The SCM ignores it for a service that owns its process, so another name works as well.
pub const SERVICE_NAME: &str = "imagekit-bootstrap";

/// How long the SCM should wait, once asked to stop, for the agent to stop and the instance to be
/// given back (AWS calls with retries) before it may consider the service hung.
const STOP_WAIT_HINT: Duration = Duration::from_secs(60);

/// `ERROR_FAILED_SERVICE_CONTROLLER_CONNECT`: the dispatcher found no SCM to talk to.
const NOT_STARTED_BY_SCM: i32 = 1063;

/// What `run --service` was given on its command line (the SCM passes its own, unused, args).
#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    pub config: Option<PathBuf>,
    pub config_parameter: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(
        "not started by the Windows service manager: from a console, use `run` without --service"
    )]
    NotStartedByScm,
    #[error("{what}: {detail}")]
    Scm { what: &'static str, detail: String },
    #[error("the service manager returned without running the service")]
    NeverRan,
}

impl ServiceError {
    fn scm(what: &'static str, err: windows_service::Error) -> ServiceError {
        let detail = match err {
            windows_service::Error::Winapi(io) => io.to_string(),
            other => other.to_string(),
        };
        ServiceError::Scm { what, detail }
    }
}

/// Being started by hand with `--service` is a usage error (2); anything else failed (1).
pub fn status_of(err: &anyhow::Error) -> ExitStatus {
    if err
        .chain()
        .any(|e| matches!(e.downcast_ref(), Some(ServiceError::NotStartedByScm)))
    {
        ExitStatus::Usage
    } else {
        ExitStatus::Failure
    }
}

/// Level-triggered, so that a stop that arrives before the agent has started is not lost.
static STOP: LazyLock<watch::Sender<bool>> = LazyLock::new(|| watch::channel(false).0);
/// Handed from the main thread to the service thread, which the SCM starts with its own args.
static ARGS: OnceLock<RunArgs> = OnceLock::new();
/// Handed back from the service thread, which has no return value, to the main thread.
static OUTCOME: OnceLock<ExitStatus> = OnceLock::new();
/// Shared by the control handler (StopPending) and the service thread, which takes it to report
/// Stopped: after that, nothing may report anything else.
static STATUS: Mutex<Option<ServiceStatusHandle>> = Mutex::new(None);

/// Asks the supervisor to stop the agent (then give the instance back).
fn request_stop() {
    STOP.send_replace(true);
}

/// Resolves when the service manager, or a console Ctrl-C, asks the bootstrap to stop.
async fn stop_requested() -> StopRequest {
    let mut stop = STOP.subscribe();
    tokio::select! {
        _ = stop.wait_for(|stopped| *stopped) => StopRequest { cause: "service stop" },
        // Without a console to listen to, only the service manager can stop us.
        request = crate::stop::console() => request,
    }
}

/// Hands this thread to the SCM until the service has stopped; returns `run`'s exit status.
pub fn run(args: RunArgs) -> Result<ExitStatus, ServiceError> {
    let _ = ARGS.set(args);
    service_dispatcher::start(SERVICE_NAME, ffi_service_main).map_err(|e| match &e {
        windows_service::Error::Winapi(io) if io.raw_os_error() == Some(NOT_STARTED_BY_SCM) => {
            ServiceError::NotStartedByScm
        }
        _ => ServiceError::scm("starting the service dispatcher", e),
    })?;
    OUTCOME.get().copied().ok_or(ServiceError::NeverRan)
}

define_windows_service!(ffi_service_main, service_main);

/// The SCM's service thread.
fn service_main(_scm_args: Vec<OsString>) {
    if let Err(e) = serve() {
        tracing::error!("{e}");
    }
}

fn serve() -> Result<(), ServiceError> {
    let handle = service_control_handler::register(SERVICE_NAME, |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            tracing::info!(?control, "the service manager asks the bootstrap to stop");
            if let Some(handle) = *lock_status() {
                let _ = handle.set_service_status(status(
                    ServiceState::StopPending,
                    ServiceExitCode::NO_ERROR,
                ));
            }
            request_stop();
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    })
    .map_err(|e| ServiceError::scm("registering the service control handler", e))?;
    *lock_status() = Some(handle);
    handle
        .set_service_status(status(ServiceState::Running, ServiceExitCode::NO_ERROR))
        .map_err(|e| ServiceError::scm("reporting Running", e))?;

    let args = ARGS.get().cloned().unwrap_or_default();
    let exit = crate::run::blocking(
        args.config.as_deref(),
        args.config_parameter,
        stop_requested(),
    );

    let code = match exit {
        ExitStatus::Success => ServiceExitCode::NO_ERROR,
        other => ServiceExitCode::ServiceSpecific(u32::from(other.code())),
    };
    // Before Stopped: that lets the dispatcher return, and the main thread then reads it.
    let _ = OUTCOME.set(exit);
    tracing::info!(?exit, "reporting Stopped to the service manager");
    let handle = lock_status().take().unwrap_or(handle);
    handle
        .set_service_status(status(ServiceState::Stopped, code))
        .map_err(|e| ServiceError::scm("reporting Stopped", e))
}

fn lock_status() -> std::sync::MutexGuard<'static, Option<ServiceStatusHandle>> {
    STATUS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The status of an own-process service that accepts Stop and Shutdown while it runs.
fn status(state: ServiceState, exit_code: ServiceExitCode) -> ServiceStatus {
    let (controls_accepted, wait_hint) = match state {
        ServiceState::Running => (
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
            Duration::ZERO,
        ),
        ServiceState::StopPending => (ServiceControlAccept::empty(), STOP_WAIT_HINT),
        _ => (ServiceControlAccept::empty(), Duration::ZERO),
    };
    // A pending state needs a non-zero checkpoint; a settled one, zero.
    let checkpoint = u32::from(state == ServiceState::StopPending);
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted,
        exit_code,
        checkpoint,
        wait_hint,
        process_id: None,
    }
}
