//! Hands the instance back once the agent has exited. The supervisor (root, instance profile)
//! does this, not the agent's hook, so it happens whether the agent stopped cleanly, crashed or
//! was killed. What the agent's end means for the fleet is its [`Outcome`]'s to say.
//!
//! A failed give-back is retried for a while and then falls back to powering the OS off: an
//! instance left running when its agent is gone idles until someone notices, and the reference
//! stacks lose instances exactly that way.

mod asg;
pub mod health;
pub mod mark;
mod power_off;

use std::time::Duration;

use tokio::time::Instant;

use crate::agent::Outcome;
use crate::aws::backoff::Backoff;
use crate::aws::retry::{self, GaveUp, Schedule};
use power_off::power_off;

/// What the give-back did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GiveBack {
    /// Terminated through the ASG; `decrement` says whether desired capacity went down.
    Terminated { decrement: bool },
    /// Not (or no longer) a member: given back already.
    AlreadyGone,
    /// Not in an ASG, or the ASG kept failing: the OS was powered off.
    PoweredOff,
    /// The group is acting on the instance already (its target lifecycle state): nothing was
    /// called, so that nothing races it.
    LeftToGroup,
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

impl GiveBackError {
    /// The ASG API failed: worth another attempt. (A power-off that failed is not.)
    fn is_asg(&self) -> bool {
        matches!(
            self,
            GiveBackError::Membership { .. } | GiveBackError::Terminate { .. }
        )
    }
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

/// The instance being given back.
#[derive(Debug, Clone, Copy)]
pub struct Instance<'a> {
    pub id: &'a str,
    /// Tells "left the group already" from "never in one".
    pub in_asg_at_boot: bool,
    pub poweroff_command: &'a [String],
}

/// Gives the instance back as `outcome` says (with or without a decrement). Errors from the ASG
/// API are retried with `patience`; when they outlast it, the OS is powered off (a termination,
/// with the launch template's shutdown behaviour `terminate`), and the ASG replaces the instance
/// without lowering its desired capacity.
pub async fn give_back(
    asg: &aws_sdk_autoscaling::Client,
    instance: Instance<'_>,
    outcome: Outcome,
    patience: Patience,
) -> Result<GiveBack, GiveBackError> {
    let terms = outcome.give_back();
    if terms.leave_to_group {
        return Ok(GiveBack::LeftToGroup);
    }
    let schedule = Schedule {
        backoff: patience.backoff,
        deadline: Instant::now() + patience.total,
    };
    let instance_id = instance.id;
    let given_back = retry::until(
        schedule,
        || asg::give_back_once(asg, instance, terms.decrement),
        GiveBackError::is_asg,
        |err, attempt, _| {
            tracing::warn!(instance_id, error = %err, attempt, "giving the instance back failed; retrying")
        },
    )
    .await;
    match given_back {
        Ok(done) => Ok(done),
        Err(GaveUp::Permanent(err)) => Err(err),
        Err(GaveUp::Deadline(err)) => {
            tracing::error!(
                instance_id,
                error = %err,
                "giving the instance back kept failing; powering off so that it does not idle"
            );
            power_off(instance.poweroff_command).map(|_| GiveBack::PoweredOff)
        }
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

    fn instance(poweroff_command: &[String]) -> Instance<'_> {
        Instance {
            id: INSTANCE,
            in_asg_at_boot: true,
            poweroff_command,
        }
    }

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
        let poweroff = no_poweroff();
        let done = give_back(&asg, instance(&poweroff), Outcome::Idle, FAST)
            .await
            .unwrap();
        assert_eq!(done, GiveBack::Terminated { decrement: true });
        assert_eq!(terminate.num_calls(), 3);
        // Membership is checked again before each retry: a terminate that did land is not
        // repeated.
        assert_eq!(describe.num_calls(), 3);
    }

    #[tokio::test]
    async fn each_outcome_terminates_with_its_decrement() {
        for (outcome, decrement) in [
            (Outcome::Idle, true),
            (Outcome::JobFinished, false),
            (Outcome::Interrupted, false),
            (Outcome::CrashedAfterRunning, false),
            (Outcome::FailedToStart, true),
        ] {
            let describe = in_service();
            let terminate = mock!(Client::terminate_instance_in_auto_scaling_group)
                .match_requests(move |req| {
                    req.should_decrement_desired_capacity() == Some(decrement)
                })
                .then_output(|| TerminateInstanceInAutoScalingGroupOutput::builder().build());
            let asg = client(&[&describe, &terminate]);
            let poweroff = no_poweroff();
            let done = give_back(&asg, instance(&poweroff), outcome, FAST)
                .await
                .unwrap();
            assert_eq!(done, GiveBack::Terminated { decrement }, "{outcome:?}");
            assert_eq!(terminate.num_calls(), 1, "{outcome:?}");
        }
    }

    #[tokio::test]
    async fn an_instance_its_group_is_taking_is_left_to_it_without_a_call() {
        let describe = in_service();
        let terminate = mock!(Client::terminate_instance_in_auto_scaling_group)
            .then_output(|| TerminateInstanceInAutoScalingGroupOutput::builder().build());
        let asg = client(&[&describe, &terminate]);
        let poweroff = no_poweroff();
        let done = give_back(&asg, instance(&poweroff), Outcome::Withdrawn, FAST)
            .await
            .unwrap();
        assert_eq!(done, GiveBack::LeftToGroup);
        assert_eq!(describe.num_calls(), 0);
        assert_eq!(terminate.num_calls(), 0);
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
        let done = give_back(&asg, instance(&poweroff), Outcome::Idle, FAST)
            .await
            .unwrap();
        assert_eq!(done, GiveBack::PoweredOff);
        assert!(marker.exists());
        assert!(terminate.num_calls() > 1, "{}", terminate.num_calls());
    }
}
