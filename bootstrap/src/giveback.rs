//! Hands the instance back once the agent has exited. The supervisor (root, instance profile)
//! does this, not the agent's hook, so it happens whether the agent stopped cleanly, crashed or
//! was killed.

use aws_sdk_autoscaling::error::{ProvideErrorMetadata, SdkError};

/// The agent's reasons for stopping that mean "no work left": the fleet should shrink.
const IDLE: &str = "IDLE";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Terminated through the ASG; `decrement` says whether desired capacity went down.
    Terminated { decrement: bool },
    /// Not (or no longer) a member: given back already.
    AlreadyGone,
    /// Not in an ASG: the OS was powered off.
    PoweredOff,
}

#[derive(Debug, thiserror::Error)]
pub enum GiveBackError {
    #[error("checking ASG membership of {instance_id}: {message}")]
    Membership {
        instance_id: String,
        message: String,
    },
    #[error("terminating {instance_id} in its ASG: {message}")]
    Terminate {
        instance_id: String,
        message: String,
    },
    #[error("running the power-off command {command:?}: {message}")]
    PowerOff {
        command: Vec<String>,
        message: String,
    },
}

/// Whether a recorded reason shrinks the fleet.
pub fn decrements(reason: Option<&str>) -> bool {
    reason == Some(IDLE)
}

/// Gives the instance back. `in_asg_at_boot` tells "left the group already" from "never in one".
pub async fn give_back(
    asg: &aws_sdk_autoscaling::Client,
    instance_id: &str,
    reason: Option<&str>,
    in_asg_at_boot: bool,
    poweroff_command: &[String],
) -> Result<Outcome, GiveBackError> {
    let out = asg
        .describe_auto_scaling_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .map_err(|e| GiveBackError::Membership {
            instance_id: instance_id.into(),
            message: describe_sdk(&e),
        })?;
    let member = out.auto_scaling_instances().iter().find(|i| {
        i.instance_id() == Some(instance_id)
            && !i
                .lifecycle_state()
                .is_some_and(|s| s.starts_with("Terminating") || s == "Terminated")
    });
    if member.is_none() {
        if in_asg_at_boot || !out.auto_scaling_instances().is_empty() {
            tracing::info!(
                instance_id,
                "instance already left its ASG; nothing to give back"
            );
            return Ok(Outcome::AlreadyGone);
        }
        return power_off(poweroff_command).map(|_| Outcome::PoweredOff);
    }
    let decrement = decrements(reason);
    match terminate(asg, instance_id, decrement).await {
        Ok(()) => Ok(Outcome::Terminated { decrement }),
        // At the group's minimum size a decrement is refused; the instance must still go.
        Err(e) if decrement && e.code() == Some("ValidationError") => {
            tracing::warn!(
                instance_id,
                error = describe_sdk(&e),
                "ASG refused to lower its desired capacity; terminating without decrement"
            );
            terminate(asg, instance_id, false)
                .await
                .map(|_| Outcome::Terminated { decrement: false })
                .map_err(|e| GiveBackError::Terminate {
                    instance_id: instance_id.into(),
                    message: describe_sdk(&e),
                })
        }
        Err(e) => Err(GiveBackError::Terminate {
            instance_id: instance_id.into(),
            message: describe_sdk(&e),
        }),
    }
}

async fn terminate(
    asg: &aws_sdk_autoscaling::Client,
    instance_id: &str,
    decrement: bool,
) -> Result<(), SdkError<aws_sdk_autoscaling::operation::terminate_instance_in_auto_scaling_group::TerminateInstanceInAutoScalingGroupError>>{
    asg.terminate_instance_in_auto_scaling_group()
        .instance_id(instance_id)
        .should_decrement_desired_capacity(decrement)
        .send()
        .await
        .map(|_| ())
}

fn power_off(command: &[String]) -> Result<(), GiveBackError> {
    let err = |message: String| GiveBackError::PowerOff {
        command: command.to_vec(),
        message,
    };
    let (program, args) = command
        .split_first()
        .ok_or_else(|| err("empty command".into()))?;
    tracing::info!(?command, "not in an ASG: powering off");
    let status = std::process::Command::new(program)
        .args(args)
        .status()
        .map_err(|e| err(e.to_string()))?;
    if status.success() {
        Ok(())
    } else {
        Err(err(format!("exited with {status}")))
    }
}

/// An SDK error as one line: code and message when the service sent them, else the chain.
pub fn describe_sdk<E>(e: &SdkError<E, aws_smithy_runtime_api::http::Response>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => crate::error_chain::one_line(e),
    }
}
