//! Lambda mode: with `AWS_LAMBDA_RUNTIME_API` set, the binary serves the Lambda custom runtime
//! (`provided.al2023`, handler `bootstrap`). Settings come from the `IMAGEKIT_SCALE_*`
//! variables. An EventBridge rule invokes it every minute; each invocation ticks every interval
//! until the next tick would start within the safety margin of its deadline, then answers with a
//! summary. Clients and the token outlive invocations, so a warm function reads SSM once.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lambda_runtime::{service_fn, LambdaEvent};
use serde::Serialize;
use tokio::sync::Mutex;

use crate::cli::ScaleArgs;
use crate::exit::ExitStatus;

use super::settings::Settings;
use super::{emit, Action, Scaler, TickReport};

/// The invocation's response.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub ticks: u32,
    pub raised: u32,
    pub failed: u32,
    pub last: Option<TickReport>,
}

/// Serves invocations until the runtime stops the process.
pub fn command(args: &ScaleArgs) -> anyhow::Result<ExitStatus> {
    let settings = Settings::from_args(args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(settings))?;
    Ok(ExitStatus::Success)
}

pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let scaler = Arc::new(Mutex::new(Scaler::new(settings).await));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let scaler = scaler.clone();
        async move {
            let mut scaler = scaler.lock().await;
            Ok::<_, lambda_runtime::Error>(invocation(&mut scaler, event.context.deadline()).await)
        }
    }))
    .await
    .map_err(|e| anyhow::anyhow!("Lambda runtime: {e}"))
}

/// Ticks every interval while the next tick can start before `deadline - safety margin`.
pub async fn invocation(scaler: &mut Scaler, deadline: SystemTime) -> Summary {
    let margin = scaler.settings().safety_margin;
    let mut summary = Summary {
        ticks: 0,
        raised: 0,
        failed: 0,
        last: None,
    };
    loop {
        let started = tokio::time::Instant::now();
        let report = scaler.tick().await;
        emit(&report, false);
        summary.ticks += 1;
        if report.action == Action::Raise {
            summary.raised += 1;
        }
        if !report.ok {
            summary.failed += 1;
        }
        summary.last = Some(report);
        let next = started + scaler.interval();
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let next_in = next.saturating_duration_since(tokio::time::Instant::now());
        if next_in + margin >= left {
            break;
        }
        tokio::time::sleep_until(next).await;
    }
    tracing::info!(
        ticks = summary.ticks,
        raised = summary.raised,
        failed = summary.failed,
        "invocation done: {} tick(s) before the deadline's safety margin",
        summary.ticks
    );
    summary
}
