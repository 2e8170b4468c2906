//! AZ rebalancing, suspended on the group after every deploy: a group that the scaler only grows
//! and whose instances leave one by one, as their agents go idle, is uneven across zones most of
//! the time, and rebalancing would end instances to even it out instead of letting them finish.

use imagekit_bootstrap::aws::failure::AwsFailure;

use super::Aws;

pub const PROCESS: &str = "AZRebalance";

pub async fn suspend(aws: &Aws, group: &str) -> Result<(), AwsFailure> {
    aws.autoscaling
        .suspend_processes()
        .auto_scaling_group_name(group)
        .scaling_processes(PROCESS)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws.failure("autoscaling:SuspendProcesses", &e))
}
