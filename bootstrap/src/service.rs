//! Windows: how a service stop reaches the supervisor.

/// Resolves when the service manager (or a console Ctrl-C) asks the bootstrap to stop.
pub async fn stop_requested() {
    let _ = tokio::signal::ctrl_c().await;
}
