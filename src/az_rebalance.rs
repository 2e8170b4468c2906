//! AZ rebalancing, which imagekit suspends on every group it runs: a group that the scaler only
//! grows, and whose instances leave one by one as their agents go idle, is uneven across zones
//! most of the time, and rebalancing would end instances mid-job to even it out instead of
//! letting them finish. `imagekit stack deploy` suspends it after each deploy; the scaler on its
//! first tick, for groups deployed by other means.

use aws_sdk_autoscaling::types::AutoScalingGroup;
use imagekit_bootstrap::aws::failure::{region_of, AwsFailure};

/// The Auto Scaling process (autoscaling:SuspendProcesses' `ScalingProcesses`).
pub const PROCESS: &str = "AZRebalance";

/// The IAM action that suspends it.
pub const ACTION: &str = "autoscaling:SuspendProcesses";

/// Whether `group` (as DescribeAutoScalingGroups shows it) has AZ rebalancing suspended.
pub fn is_suspended(group: &AutoScalingGroup) -> bool {
    group
        .suspended_processes()
        .iter()
        .any(|p| p.process_name() == Some(PROCESS))
}

/// Suspends AZ rebalancing on `group` (idempotent: AWS accepts a second suspension).
pub async fn suspend(
    autoscaling: &aws_sdk_autoscaling::Client,
    group: &str,
) -> Result<(), AwsFailure> {
    autoscaling
        .suspend_processes()
        .auto_scaling_group_name(group)
        .scaling_processes(PROCESS)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsFailure::new(ACTION, &region_of(autoscaling.config().region()), &e))
}
