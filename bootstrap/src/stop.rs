//! Stop requests from outside the agent: the OS's signals, a console's Ctrl-C, the Windows
//! service manager. Whoever starts `run` owns the source (`main` the console's, the service
//! adapter the SCM's) and hands it down as a future; the supervisor only awaits it.

/// One request to stop, and what made it (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopRequest {
    pub cause: &'static str,
}

/// SIGTERM (what systemd and launchd send on shutdown) or SIGINT. The handlers are installed
/// when the future is first polled, which the supervisor does once the agent runs: until then
/// the signals keep their default action, and stop the boot itself.
#[cfg(unix)]
pub async fn console() -> StopRequest {
    use tokio::signal::unix::{signal, SignalKind};
    let (term, int) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    let (mut term, mut int) = match (term, int) {
        (Ok(term), Ok(int)) => (term, int),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM and SIGINT; a stop signal will end the bootstrap, not the agent");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => StopRequest { cause: "SIGTERM" },
        _ = int.recv() => StopRequest { cause: "SIGINT" },
    }
}

/// A console's Ctrl-C (or Ctrl-Break). Without a console, nothing stops the run from outside.
#[cfg(windows)]
pub async fn console() -> StopRequest {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
    StopRequest { cause: "Ctrl-C" }
}
