//! Stopping a running agent once a stop is requested.

use std::process::ExitStatus;

use tokio::process::Child;

use super::GracefulStop;
#[cfg(unix)]
use super::StopSignal;
use crate::stop::StopRequest;

/// Sends the agent its signal (again after `repeat`, if it asks for that and still runs) and
/// waits, by force after its grace period (if it has one).
#[cfg(unix)]
pub(super) async fn stop(
    child: &mut Child,
    graceful: GracefulStop,
    request: StopRequest,
) -> std::io::Result<ExitStatus> {
    let (signal, name) = match graceful.signal {
        StopSignal::Terminate => (libc::SIGTERM, "SIGTERM"),
        StopSignal::Interrupt => (libc::SIGINT, "SIGINT"),
    };
    let send = |child: &Child, what: &str| {
        if let Some(pid) = child.id() {
            tracing::info!(pid, signal = name, cause = request.cause, "{what}");
            // SAFETY: plain kill(2) on our own child's pid, which has not been reaped yet.
            unsafe {
                libc::kill(pid as libc::pid_t, signal);
            }
        }
    };
    send(child, "forwarding signal to the agent");
    if let Some(after) = graceful.repeat_after() {
        if let Ok(status) = tokio::time::timeout(after, child.wait()).await {
            return status;
        }
        send(
            child,
            "the agent still runs after its grace period; sending its signal again",
        );
    }
    let Some(grace) = graceful.grace else {
        return child.wait().await;
    };
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            tracing::warn!(
                pid = child.id(),
                ?grace,
                "the agent did not stop within its grace period; killing it"
            );
            // It may have exited in the meantime; the wait below tells either way.
            let _ = child.start_kill();
            child.wait().await
        }
    }
}

/// Asks the agent to stop with Ctrl-C on its console (see [`super::console`]); ends its whole
/// tree (its jobs' processes too) when that cannot be sent, or when the agent has not exited
/// within its grace period.
#[cfg(windows)]
pub(super) async fn stop(
    child: &mut Child,
    tree: Option<&super::tree::ProcessTree>,
    graceful: GracefulStop,
    request: StopRequest,
) -> std::io::Result<ExitStatus> {
    let pid = child.id();
    match super::console::interrupt() {
        Ok(()) => {
            tracing::info!(
                pid,
                cause = request.cause,
                "sent Ctrl-C to the agent's console, its graceful stop"
            );
            let mut repeated = None;
            if let Some(after) = graceful.repeat_after() {
                match tokio::time::timeout(after, child.wait()).await {
                    Ok(status) => repeated = Some(status),
                    Err(_) => match super::console::interrupt() {
                        Ok(()) => tracing::info!(
                            pid,
                            "the agent still runs after its grace period; sent Ctrl-C again"
                        ),
                        Err(e) => tracing::warn!(pid, "cannot send Ctrl-C again ({e})"),
                    },
                }
            }
            let exited = match (repeated, graceful.grace) {
                (Some(status), _) => Some(status),
                (None, None) => Some(child.wait().await),
                (None, Some(grace)) => tokio::time::timeout(grace, child.wait()).await.ok(),
            };
            if let Some(status) = exited {
                // The agent is gone, not its jobs' processes (their own groups never saw the
                // Ctrl-C): end them now, before the give-back, rather than when the job closes.
                if let Some(Err(e)) = tree.map(|t| t.terminate()) {
                    tracing::warn!("ending what is left of the agent's processes: {e}");
                }
                return status;
            }
            let grace = graceful.grace.unwrap_or_default();
            tracing::warn!(
                pid,
                ?grace,
                "the agent did not stop within its grace period; ending it and every process it started"
            );
        }
        Err(e) => tracing::warn!(
            pid,
            cause = request.cause,
            "cannot send Ctrl-C to the agent's console ({e}); ending it and every process it started"
        ),
    }
    // It may have exited in the meantime; the wait below tells either way.
    match tree.map(|t| t.terminate()) {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            tracing::warn!("ending the agent's job object: {e}; ending the agent alone");
            let _ = child.start_kill();
        }
        None => {
            let _ = child.start_kill();
        }
    }
    child.wait().await
}
