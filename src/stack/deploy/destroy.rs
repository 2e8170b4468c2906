//! `imagekit stack destroy`: the stack deleted by CloudFormation, once no instance is in service
//! (or `--force` says their jobs may be cut off).
//!
//! The group's instances are protected from scale-in, which is what holds a stack's delete for
//! hours in the reference stacks (Buildkite #977): with `--force` the protection is lifted from
//! the remaining instances first, so the group can end them. The artifacts bucket is no stack
//! resource and the cache bucket is retained (`DeletionPolicy: Retain`): both stay.

use aws_sdk_autoscaling::types::LifecycleState;
use serde::Serialize;

use super::change_set::{self, Existing};
use super::failures::{self, FailedResource};
use super::wait::{self, Settled, WaitError};
use super::{resources, Aws};
use crate::confirm::Confirm;
use crate::printer::Printer;
use crate::stack::ids;
use imagekit_bootstrap::aws::failure::AwsFailure;

#[derive(Debug, Clone, Serialize)]
pub struct DestroyReport {
    pub stack: String,
    pub region: String,
    pub group: Option<String>,
    pub in_service: usize,
    pub status: String,
    /// Buckets the stack leaves behind on purpose.
    pub kept: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DestroyError {
    #[error("{0}")]
    Aws(#[from] AwsFailure),
    #[error(transparent)]
    Wait(#[from] WaitError),
    #[error("no stack {stack} in {region} (`imagekit stack list --region {region}` shows imagekit's stacks)")]
    Missing { stack: String, region: String },
    #[error("stack {stack}: {count} instance(s) in service in group {group}; destroying now would cut off their jobs: wait until they give themselves back, or pass --force")]
    InService {
        stack: String,
        group: String,
        count: usize,
    },
    #[error("stack {stack}: not deleted: declined at the prompt")]
    Declined { stack: String },
    #[error("stack {stack} settled in {status}: {} resource(s) failed to delete (each is listed above)", failures.len())]
    Failed {
        stack: String,
        status: String,
        failures: Vec<FailedResource>,
    },
}

pub async fn destroy(
    aws: &Aws,
    stack: &str,
    force: bool,
    confirm: Confirm,
    printer: &Printer,
) -> Result<DestroyReport, DestroyError> {
    let id = match change_set::existing(aws, stack).await {
        Ok(Existing::Stack { id, .. }) => id,
        Ok(Existing::New { in_review: false }) => {
            return Err(DestroyError::Missing {
                stack: stack.to_string(),
                region: aws.region.clone(),
            })
        }
        // A stack in review, failed or stuck can still be deleted: that is what destroy is for.
        Ok(Existing::New { in_review: true }) | Err(_) => stack.to_string(),
    };
    let physical = resources::physical_ids(aws, &id).await?;
    let group = physical.get(ids::GROUP).cloned();
    let serving = match &group {
        Some(g) => in_service(aws, g).await?,
        None => Vec::new(),
    };
    if !serving.is_empty() && !force {
        return Err(DestroyError::InService {
            stack: stack.to_string(),
            group: group.clone().unwrap_or_default(),
            count: serving.len(),
        });
    }
    let question = format!(
        "Delete stack {stack} in {} ({} instance(s) in service)?",
        aws.region,
        serving.len()
    );
    if !confirm.go_ahead(printer, &question).unwrap_or(false) {
        return Err(DestroyError::Declined {
            stack: stack.to_string(),
        });
    }
    if let (Some(g), false) = (&group, serving.is_empty()) {
        unprotect(aws, g, &serving).await?;
    }
    printer.task_start(stack, "deleting");
    aws.cloudformation
        .delete_stack()
        .stack_name(&id)
        .send()
        .await
        .map_err(|e| aws.failure("cloudformation:DeleteStack", &e))?;
    let status = match wait::settle(aws, &id, printer, stack).await? {
        Settled::Complete(status) => status,
        Settled::Failed(status) => {
            printer.task_finish(stack, &status);
            let failures = failures::latest(&aws.cloudformation, &aws.region, &id, stack).await?;
            for f in &failures {
                printer.task_note(stack, &format!("failed: {f}"));
            }
            return Err(DestroyError::Failed {
                stack: stack.to_string(),
                status,
                failures,
            });
        }
    };
    printer.task_finish(stack, &status);
    let mut kept: Vec<String> = physical
        .get(ids::CACHE_BUCKET)
        .into_iter()
        .cloned()
        .collect();
    if let Ok(account) = aws.account().await {
        let artifacts = super::artifacts::bucket_name(&account, &aws.region);
        if aws.s3.head_bucket().bucket(&artifacts).send().await.is_ok() {
            kept.push(artifacts);
        }
    }
    Ok(DestroyReport {
        stack: stack.to_string(),
        region: aws.region.clone(),
        group,
        in_service: serving.len(),
        status,
        kept,
    })
}

/// The group's instances in service (or on their way there).
async fn in_service(aws: &Aws, group: &str) -> Result<Vec<String>, AwsFailure> {
    let out = aws
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group)
        .send()
        .await
        .map_err(|e| aws.failure("autoscaling:DescribeAutoScalingGroups", &e))?;
    Ok(out
        .auto_scaling_groups()
        .iter()
        .flat_map(|g| g.instances())
        .filter(|i| {
            matches!(
                i.lifecycle_state(),
                Some(LifecycleState::InService | LifecycleState::Pending)
            )
        })
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect())
}

async fn unprotect(aws: &Aws, group: &str, instances: &[String]) -> Result<(), AwsFailure> {
    // SetInstanceProtection takes at most 50 instances a call.
    for chunk in instances.chunks(50) {
        aws.autoscaling
            .set_instance_protection()
            .auto_scaling_group_name(group)
            .set_instance_ids(Some(chunk.to_vec()))
            .protected_from_scale_in(false)
            .send()
            .await
            .map_err(|e| aws.failure("autoscaling:SetInstanceProtection", &e))?;
    }
    Ok(())
}
