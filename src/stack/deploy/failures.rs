//! Why a stack operation failed: each resource that failed in the latest operation, with
//! CloudFormation's reason, read from `DescribeStackEvents`.
//!
//! Events come newest first; the latest operation began with the stack's own `*_IN_PROGRESS`
//! event whose reason is `User Initiated`, so the walk stops there. moto's CloudFormation never
//! reaches a failed state with events (its errors come back from the call), so the tests feed
//! this the events of a failed create in CloudFormation's own shapes through the SDK.

use serde::Serialize;

use imagekit_bootstrap::aws::failure::AwsFailure;

/// A resource that failed, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedResource {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: String,
}

impl std::fmt::Display for FailedResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}) {}: {}",
            self.logical_id, self.resource_type, self.status, self.reason
        )
    }
}

/// CloudFormation's reason on the resources it stopped because another one failed: true, but
/// not a cause.
const CANCELLED: &str = "Resource creation cancelled";

/// The failed resources of the stack's latest operation.
pub async fn latest(
    cloudformation: &aws_sdk_cloudformation::Client,
    region: &str,
    stack: &str,
    stack_name: &str,
) -> Result<Vec<FailedResource>, AwsFailure> {
    let mut failed = Vec::new();
    let mut token = None;
    loop {
        let out = cloudformation
            .describe_stack_events()
            .stack_name(stack)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsFailure::new("cloudformation:DescribeStackEvents", region, &e))?;
        for e in out.stack_events() {
            let status = e.resource_status().map(|s| s.as_str()).unwrap_or_default();
            let id = e.logical_resource_id().unwrap_or_default();
            let reason = e.resource_status_reason().unwrap_or_default();
            if id == stack_name && status.ends_with("_IN_PROGRESS") && reason == "User Initiated" {
                failed.reverse();
                return Ok(failed);
            }
            if status.ends_with("_FAILED") && id != stack_name && reason != CANCELLED {
                failed.push(FailedResource {
                    logical_id: id.to_string(),
                    resource_type: e.resource_type().unwrap_or_default().to_string(),
                    status: status.to_string(),
                    reason: reason.to_string(),
                });
            }
        }
        match out.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => {
                failed.reverse();
                return Ok(failed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
    use aws_sdk_cloudformation::primitives::DateTime;
    use aws_sdk_cloudformation::types::{ResourceStatus, StackEvent};
    use aws_sdk_cloudformation::Client;
    use aws_smithy_mocks::{mock, MockResponseInterceptor, RuleMode};

    use super::*;

    fn event(at: i64, id: &str, kind: &str, status: &str, reason: Option<&str>) -> StackEvent {
        StackEvent::builder()
            .stack_id("arn:aws:cloudformation:us-east-1:123456789012:stack/ci/1b2c")
            .event_id(format!("{id}-{status}-{at}"))
            .stack_name("ci")
            .logical_resource_id(id)
            .resource_type(kind)
            .timestamp(DateTime::from_secs(at))
            .resource_status(ResourceStatus::from(status))
            .set_resource_status_reason(reason.map(str::to_string))
            .build()
    }

    /// A create that failed on its launch template, as CloudFormation records it (newest
    /// first): the stack's own `User Initiated` start, the resources begun, the one failure,
    /// the others cancelled, the rollback; and, older, a previous operation's failure that
    /// must not be reported again.
    fn failed_create() -> Vec<StackEvent> {
        let stack = "AWS::CloudFormation::Stack";
        let lt = "AWS::EC2::LaunchTemplate";
        let role = "AWS::IAM::Role";
        vec![
            event(110, "ci", stack, "ROLLBACK_COMPLETE", None),
            event(109, "InstanceRole", role, "DELETE_COMPLETE", None),
            event(105, "ci", stack, "ROLLBACK_IN_PROGRESS", Some("The following resource(s) failed to create: [LaunchTemplate]. Rollback requested by user.")),
            event(104, "InstanceRole", role, "CREATE_FAILED", Some("Resource creation cancelled")),
            event(103, "LaunchTemplate", lt, "CREATE_FAILED", Some("Resource handler returned message: \"The following supplied instance types do not exist: [t3.lagre]\" (RequestToken: 5c7f, HandlerErrorCode: InvalidRequest)")),
            event(102, "LaunchTemplate", lt, "CREATE_IN_PROGRESS", None),
            event(101, "InstanceRole", role, "CREATE_IN_PROGRESS", None),
            event(100, "ci", stack, "CREATE_IN_PROGRESS", Some("User Initiated")),
            event(50, "Old", lt, "UPDATE_FAILED", Some("an older operation")),
            event(40, "ci", stack, "UPDATE_IN_PROGRESS", Some("User Initiated")),
        ]
    }

    fn client(pages: Vec<Vec<StackEvent>>) -> Client {
        let mut rule = mock!(Client::describe_stack_events).sequence();
        let last = pages.len() - 1;
        for (i, page) in pages.into_iter().enumerate() {
            rule = rule.output(move || {
                DescribeStackEventsOutput::builder()
                    .set_stack_events(Some(page.clone()))
                    .set_next_token((i < last).then(|| format!("page-{}", i + 1)))
                    .build()
            });
        }
        let rule = rule.build();
        let conf = aws_sdk_cloudformation::Config::builder()
            .behavior_version(aws_sdk_cloudformation::config::BehaviorVersion::latest())
            .region(aws_sdk_cloudformation::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_cloudformation::config::Credentials::new(
                "AKID", "SECRET", None, None, "test",
            ))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(
                MockResponseInterceptor::new()
                    .rule_mode(RuleMode::Sequential)
                    .with_rule(&rule),
            )
            .build();
        Client::from_conf(conf)
    }

    #[tokio::test]
    async fn the_latest_operations_failures_oldest_first_without_the_cancelled() {
        let events = failed_create();
        for pages in [
            vec![events.clone()],
            vec![events[..4].to_vec(), events[4..].to_vec()],
        ] {
            let failed = latest(&client(pages), "us-east-1", "ci", "ci")
                .await
                .unwrap();
            let lines: Vec<String> = failed.iter().map(|f| f.to_string()).collect();
            assert_eq!(
                lines,
                ["LaunchTemplate (AWS::EC2::LaunchTemplate) CREATE_FAILED: Resource handler returned message: \"The following supplied instance types do not exist: [t3.lagre]\" (RequestToken: 5c7f, HandlerErrorCode: InvalidRequest)"]
            );
        }
    }
}
