//! One attempt at giving the instance back through its ASG.

use aws_sdk_autoscaling::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_autoscaling::operation::terminate_instance_in_auto_scaling_group::TerminateInstanceInAutoScalingGroupError;

use super::power_off::power_off;
use super::{GiveBack, GiveBackError, Instance};
use crate::aws::failure::{region_of, AwsFailure};

/// Checks membership first, so that a retry after a terminate that did land changes nothing.
pub(super) async fn give_back_once(
    asg: &aws_sdk_autoscaling::Client,
    instance: Instance<'_>,
    decrement: bool,
) -> Result<GiveBack, GiveBackError> {
    let instance_id = instance.id;
    let out = asg
        .describe_auto_scaling_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .map_err(|e| GiveBackError::Membership {
            instance_id: instance_id.into(),
            message: AwsFailure::new(
                "autoscaling:DescribeAutoScalingInstances",
                &region_of(asg.config().region()),
                &e,
            )
            .to_string(),
        })?;
    let member = out.auto_scaling_instances().iter().find(|i| {
        i.instance_id() == Some(instance_id)
            && !i
                .lifecycle_state()
                .is_some_and(|s| s.starts_with("Terminating") || s == "Terminated")
    });
    if member.is_none() {
        if instance.in_asg_at_boot || !out.auto_scaling_instances().is_empty() {
            tracing::info!(
                instance_id,
                "instance already left its ASG; nothing to give back"
            );
            return Ok(GiveBack::AlreadyGone);
        }
        tracing::info!("not in an ASG: powering off");
        return power_off(instance.poweroff_command).map(|_| GiveBack::PoweredOff);
    }
    let terminate_err = |e: &SdkError<_, _>| GiveBackError::Terminate {
        instance_id: instance_id.into(),
        message: AwsFailure::new(
            "autoscaling:TerminateInstanceInAutoScalingGroup",
            &region_of(asg.config().region()),
            e,
        )
        .to_string(),
    };
    match terminate(asg, instance_id, decrement).await {
        Ok(()) => Ok(GiveBack::Terminated { decrement }),
        // At the group's minimum size a decrement is refused; the instance must still go.
        Err(e) if decrement && e.code() == Some("ValidationError") => {
            tracing::warn!(
                instance_id,
                error = %AwsFailure::new(
                    "autoscaling:TerminateInstanceInAutoScalingGroup",
                    &region_of(asg.config().region()),
                    &e,
                ),
                "ASG refused to lower its desired capacity; terminating without decrement"
            );
            terminate(asg, instance_id, false)
                .await
                .map(|_| GiveBack::Terminated { decrement: false })
                .map_err(|e| terminate_err(&e))
        }
        Err(e) => Err(terminate_err(&e)),
    }
}

async fn terminate(
    asg: &aws_sdk_autoscaling::Client,
    instance_id: &str,
    decrement: bool,
) -> Result<(), SdkError<TerminateInstanceInAutoScalingGroupError>> {
    asg.terminate_instance_in_auto_scaling_group()
        .instance_id(instance_id)
        .should_decrement_desired_capacity(decrement)
        .send()
        .await
        .map(|_| ())
}
