//! The instances' log groups, `/imagekit/<stack>/{agent,bootstrap,system,boot}`, created by the
//! stack with a retention, so that the instance role needs no `logs:CreateLogGroup` and writes
//! to these four only. (Shipping the logs into them is the images' CloudWatch agent's job.)

use serde::Serialize;

use super::ids;
use super::spec::{StackSpec, LOG_STREAMS};
use super::tags::{self, Tag};
use super::template::Resource;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct LogGroup {
    log_group_name: String,
    retention_in_days: u32,
    tags: Vec<Tag>,
}

/// One log group of the stack.
pub fn log_group(spec: &StackSpec, name: String, retention_in_days: u32) -> Resource {
    Resource::new(
        "AWS::Logs::LogGroup",
        LogGroup {
            log_group_name: name,
            retention_in_days,
            tags: tags::list(spec),
        },
    )
}

/// The instance log groups, by logical id.
pub fn instance_log_groups(spec: &StackSpec) -> Vec<(String, Resource)> {
    LOG_STREAMS
        .iter()
        .zip(spec.log_groups())
        .map(|(stream, name)| {
            (
                ids::log_group(stream),
                log_group(spec, name, spec.log_retention_days),
            )
        })
        .collect()
}
