//! Hands the instance back once the agent has exited. The supervisor (root, instance profile)
//! does this, not the agent's hook, so it happens whether the agent stopped cleanly, crashed or
//! was killed.
//!
//! A failed give-back is retried for a while and then falls back to powering the OS off: an
//! instance left running when its agent is gone idles until someone notices, and the reference
//! stacks lose instances exactly that way.

use std::time::Duration;

use aws_sdk_autoscaling::error::{ProvideErrorMetadata, SdkError};
use tokio::time::Instant;

use crate::backoff::Backoff;

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

/// How long a failing give-back keeps trying before it powers the OS off instead.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    pub backoff: Backoff,
    pub total: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Patience {
            backoff: Backoff {
                base: Duration::from_millis(500),
                max: Duration::from_secs(10),
            },
            total: Duration::from_secs(60),
        }
    }
}

/// Gives the instance back. `in_asg_at_boot` tells "left the group already" from "never in one".
/// Errors from the ASG API are retried with `patience`; when they outlast it, the OS is powered
/// off (a termination, with the launch template's shutdown behaviour `terminate`), and the ASG
/// replaces the instance without lowering its desired capacity.
pub async fn give_back(
    asg: &aws_sdk_autoscaling::Client,
    instance_id: &str,
    reason: Option<&str>,
    in_asg_at_boot: bool,
    poweroff_command: &[String],
    patience: Patience,
) -> Result<Outcome, GiveBackError> {
    let deadline = Instant::now() + patience.total;
    let mut attempt = 0;
    loop {
        let err = match give_back_once(asg, instance_id, reason, in_asg_at_boot, poweroff_command)
            .await
        {
            Err(err @ (GiveBackError::Membership { .. } | GiveBackError::Terminate { .. })) => err,
            done => return done,
        };
        let delay = patience.backoff.delay(attempt);
        if Instant::now() + delay > deadline {
            tracing::error!(
                instance_id,
                error = %err,
                "giving the instance back kept failing; powering off so that it does not idle"
            );
            return power_off(poweroff_command).map(|_| Outcome::PoweredOff);
        }
        tracing::warn!(instance_id, error = %err, attempt, "giving the instance back failed; retrying");
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

async fn give_back_once(
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
        tracing::info!("not in an ASG: powering off");
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
    tracing::info!(?command, "running the power-off command");
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_autoscaling::operation::describe_auto_scaling_instances::DescribeAutoScalingInstancesOutput;
    use aws_sdk_autoscaling::operation::terminate_instance_in_auto_scaling_group::TerminateInstanceInAutoScalingGroupOutput;
    use aws_sdk_autoscaling::types::AutoScalingInstanceDetails;
    use aws_sdk_autoscaling::Client;
    use aws_smithy_mocks::{mock, MockResponseInterceptor, Rule, RuleMode};
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    const INSTANCE: &str = "i-0123456789abcdef0";

    fn client(rules: &[&Rule]) -> Client {
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in rules {
            interceptor = interceptor.with_rule(rule);
        }
        let conf = aws_sdk_autoscaling::Config::builder()
            .behavior_version(aws_sdk_autoscaling::config::BehaviorVersion::latest())
            .region(aws_sdk_autoscaling::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_autoscaling::config::Credentials::new(
                "AKID", "SECRET", None, None, "test",
            ))
            // Only give_back retries, so the test counts exactly its attempts.
            .retry_config(aws_sdk_autoscaling::config::retry::RetryConfig::disabled())
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(interceptor)
            .build();
        Client::from_conf(conf)
    }

    fn in_service() -> Rule {
        mock!(Client::describe_auto_scaling_instances)
            .sequence()
            .output(|| {
                DescribeAutoScalingInstancesOutput::builder()
                    .auto_scaling_instances(
                        AutoScalingInstanceDetails::builder()
                            .instance_id(INSTANCE)
                            .auto_scaling_group_name("fleet")
                            .lifecycle_state("InService")
                            .build(),
                    )
                    .build()
            })
            .repeatedly()
            .build()
    }

    /// What moto once answered a terminate under a 200-boot load: no XML at all.
    fn garbled() -> aws_smithy_runtime_api::client::orchestrator::HttpResponse {
        Response::new(StatusCode::try_from(200).unwrap(), SdkBody::from(""))
    }

    const FAST: Patience = Patience {
        backoff: Backoff {
            base: Duration::from_millis(1),
            max: Duration::from_millis(5),
        },
        total: Duration::from_millis(200),
    };

    /// A power-off command that must not run.
    fn no_poweroff() -> Vec<String> {
        vec!["false".into()]
    }

    #[tokio::test]
    async fn a_failed_terminate_is_retried_until_it_succeeds() {
        let describe = in_service();
        let terminate = mock!(Client::terminate_instance_in_auto_scaling_group)
            .sequence()
            .http_response(garbled)
            .times(2)
            .output(|| TerminateInstanceInAutoScalingGroupOutput::builder().build())
            .build();
        let asg = client(&[&describe, &terminate]);
        let outcome = give_back(&asg, INSTANCE, Some("IDLE"), true, &no_poweroff(), FAST)
            .await
            .unwrap();
        assert_eq!(outcome, Outcome::Terminated { decrement: true });
        assert_eq!(terminate.num_calls(), 3);
        // Membership is checked again before each retry: a terminate that did land is not
        // repeated.
        assert_eq!(describe.num_calls(), 3);
    }

    #[tokio::test]
    async fn a_give_back_that_keeps_failing_powers_off_instead_of_idling() {
        let describe = in_service();
        let terminate = mock!(Client::terminate_instance_in_auto_scaling_group)
            .sequence()
            .http_response(garbled)
            .repeatedly()
            .build();
        let asg = client(&[&describe, &terminate]);
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("powered-off");
        let poweroff = vec!["touch".to_string(), marker.display().to_string()];
        let outcome = give_back(&asg, INSTANCE, Some("IDLE"), true, &poweroff, FAST)
            .await
            .unwrap();
        assert_eq!(outcome, Outcome::PoweredOff);
        assert!(marker.exists());
        assert!(terminate.num_calls() > 1, "{}", terminate.num_calls());
    }
}
