//! A boot that cannot produce an agent marks the instance Unhealthy, so the ASG replaces it
//! instead of leaving it idle.

#[derive(Debug, thiserror::Error)]
#[error("marking instance {instance_id} Unhealthy: {failure}")]
pub struct HealthError {
    pub instance_id: String,
    pub failure: AwsFailure,
}

use crate::aws::failure::{region_of, AwsFailure};

pub async fn mark_unhealthy(
    asg: &aws_sdk_autoscaling::Client,
    instance_id: &str,
) -> Result<(), HealthError> {
    asg.set_instance_health()
        .instance_id(instance_id)
        .health_status("Unhealthy")
        .should_respect_grace_period(false)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| HealthError {
            instance_id: instance_id.into(),
            failure: AwsFailure::new(
                "autoscaling:SetInstanceHealth",
                &region_of(asg.config().region()),
                &e,
            ),
        })
}
