//! `imagekit stack list`: imagekit's stacks in a region (those tagged `imagekit:stack`), each
//! with its agent, image, group size and whether it has a scaler.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{resources, Aws};
use crate::stack::ids;
use imagekit_bootstrap::aws::failure::AwsFailure;

#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub stack: String,
    pub status: String,
    pub agent: String,
    pub image: String,
    pub group: Option<String>,
    pub desired: Option<i32>,
    pub in_service: Option<usize>,
    pub scaler: bool,
}

pub async fn list(aws: &Aws) -> Result<Vec<Listed>, AwsFailure> {
    let mut stacks = Vec::new();
    let mut token = None;
    loop {
        let out = aws
            .cloudformation
            .describe_stacks()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws.failure("cloudformation:DescribeStacks", &e))?;
        for s in out.stacks() {
            let tags: BTreeMap<&str, &str> = s
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value()?)))
                .collect();
            if !tags.contains_key(crate::stack::tags::TAG_STACK) {
                continue;
            }
            let image = s
                .parameters()
                .iter()
                .find(|p| p.parameter_key() == Some(ids::IMAGE_PARAMETER))
                .and_then(|p| p.parameter_value())
                .unwrap_or_default();
            stacks.push(Listed {
                stack: s.stack_name().unwrap_or_default().to_string(),
                status: s
                    .stack_status()
                    .map(|st| st.as_str().to_string())
                    .unwrap_or_default(),
                agent: tags
                    .get(crate::ami::TAG_AGENT)
                    .copied()
                    .unwrap_or_default()
                    .to_string(),
                image: image.to_string(),
                group: None,
                desired: None,
                in_service: None,
                scaler: false,
            });
        }
        match out.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }
    for listed in &mut stacks {
        let physical = resources::physical_ids(aws, &listed.stack).await?;
        listed.scaler = physical.contains_key(ids::SCALER_FUNCTION);
        listed.group = physical.get(ids::GROUP).cloned();
    }
    let groups: Vec<String> = stacks.iter().filter_map(|l| l.group.clone()).collect();
    let sizes = group_sizes(aws, &groups).await?;
    for listed in &mut stacks {
        if let Some((desired, serving)) = listed.group.as_ref().and_then(|g| sizes.get(g)) {
            listed.desired = Some(*desired);
            listed.in_service = Some(*serving);
        }
    }
    stacks.sort_by(|a, b| a.stack.cmp(&b.stack));
    Ok(stacks)
}

/// Group name → (desired, in service).
async fn group_sizes(
    aws: &Aws,
    groups: &[String],
) -> Result<BTreeMap<String, (i32, usize)>, AwsFailure> {
    let mut sizes = BTreeMap::new();
    // DescribeAutoScalingGroups takes at most 100 names a call.
    for chunk in groups.chunks(100) {
        let out = aws
            .autoscaling
            .describe_auto_scaling_groups()
            .set_auto_scaling_group_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| aws.failure("autoscaling:DescribeAutoScalingGroups", &e))?;
        for g in out.auto_scaling_groups() {
            let serving = g
                .instances()
                .iter()
                .filter(|i| {
                    i.lifecycle_state()
                        == Some(&aws_sdk_autoscaling::types::LifecycleState::InService)
                })
                .count();
            sizes.insert(
                g.auto_scaling_group_name().unwrap_or_default().to_string(),
                (g.desired_capacity().unwrap_or_default(), serving),
            );
        }
    }
    Ok(sizes)
}
