//! A stack's resources by logical id. Read from `DescribeStackResources`, not the outputs: moto
//! gives a stack created through a change set no outputs until its first update.

use std::collections::BTreeMap;

use imagekit_bootstrap::aws::failure::AwsFailure;

use super::Aws;

/// Logical id → physical id (resources without one yet are left out).
pub async fn physical_ids(aws: &Aws, stack: &str) -> Result<BTreeMap<String, String>, AwsFailure> {
    let out = aws
        .cloudformation
        .describe_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| aws.failure("cloudformation:DescribeStackResources", &e))?;
    Ok(out
        .stack_resources()
        .iter()
        .filter_map(|r| {
            Some((
                r.logical_resource_id()?.to_string(),
                r.physical_resource_id()?.to_string(),
            ))
        })
        .collect())
}
