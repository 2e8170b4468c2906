//! Following a stack until it settles: polled `DescribeStacks` (through the one retry driver,
//! which owns every wait), with the resource CloudFormation is working on as the progress bar's
//! message on a terminal.

use std::time::Duration;

use imagekit_bootstrap::aws::backoff::Backoff;
use imagekit_bootstrap::aws::failure::AwsFailure;
use imagekit_bootstrap::aws::retry::{self, GaveUp, Schedule};

use super::change_set::is_missing_stack;
use super::Aws;
use crate::printer::Printer;

/// How long a stack operation may take before deploy gives up waiting (CloudFormation carries
/// on; `stack list` shows where it got to).
pub const TIMEOUT: Duration = Duration::from_secs(3600);

/// Where a stack settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// `CREATE_COMPLETE`, `UPDATE_COMPLETE`, `DELETE_COMPLETE`.
    Complete(String),
    /// A rollback or a `*_FAILED` state.
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("{0}")]
    Aws(#[from] AwsFailure),
    #[error("stack {stack}: still {status} after {} min; CloudFormation carries on (`imagekit stack list` shows where it is)", TIMEOUT.as_secs() / 60)]
    Timeout { stack: String, status: String },
}

enum Poll {
    Still(String),
    Aws(AwsFailure),
}

/// Waits until `stack` (its id, so a deleted stack is still found) leaves every `*_IN_PROGRESS`
/// state. A stack that no longer exists has been deleted.
pub async fn settle(
    aws: &Aws,
    stack: &str,
    printer: &Printer,
    label: &str,
) -> Result<Settled, WaitError> {
    let schedule = Schedule {
        backoff: Backoff {
            base: Duration::from_millis(250),
            max: Duration::from_secs(5),
        },
        deadline: tokio::time::Instant::now() + TIMEOUT,
    };
    let result = retry::until(
        schedule,
        || poll(aws, stack, printer, label),
        |p| matches!(p, Poll::Still(_)),
        |_, _, _| {},
    )
    .await;
    match result {
        Ok(settled) => Ok(settled),
        Err(GaveUp::Permanent(Poll::Aws(e)) | GaveUp::Deadline(Poll::Aws(e))) => Err(e.into()),
        Err(GaveUp::Permanent(Poll::Still(status)) | GaveUp::Deadline(Poll::Still(status))) => {
            Err(WaitError::Timeout {
                stack: label.to_string(),
                status,
            })
        }
    }
}

async fn poll(aws: &Aws, stack: &str, printer: &Printer, label: &str) -> Result<Settled, Poll> {
    let out = match aws
        .cloudformation
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if is_missing_stack(&e) => return Ok(Settled::Complete("DELETE_COMPLETE".into())),
        Err(e) => return Err(Poll::Aws(aws.failure("cloudformation:DescribeStacks", &e))),
    };
    let status = out
        .stacks()
        .first()
        .and_then(|s| s.stack_status())
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|| "DELETE_COMPLETE".into());
    if status.ends_with("_IN_PROGRESS") {
        if printer.has_bars() {
            show_latest_event(aws, stack, printer, label).await;
        }
        return Err(Poll::Still(status));
    }
    Ok(
        if status.ends_with("_COMPLETE") && !status.contains("ROLLBACK") {
            Settled::Complete(status)
        } else {
            Settled::Failed(status)
        },
    )
}

/// The newest event as the bar's message; a failed look-up only costs the detail.
async fn show_latest_event(aws: &Aws, stack: &str, printer: &Printer, label: &str) {
    let Ok(out) = aws
        .cloudformation
        .describe_stack_events()
        .stack_name(stack)
        .send()
        .await
    else {
        return;
    };
    if let Some(e) = out.stack_events().first() {
        printer.task_progress(
            label,
            &format!(
                "{} {}",
                e.logical_resource_id().unwrap_or_default(),
                e.resource_status().map(|s| s.as_str()).unwrap_or_default()
            ),
        );
    }
}
