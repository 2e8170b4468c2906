//! The group's failed-start mark: a tag on the ASG that `imagekit scale` backs off on, so that a
//! start that cannot succeed (a bad token, a missing parameter) is not fed around the clock.
//! Value: `<unix seconds of the last failed start> <count of failed starts in a row>`.

use aws_sdk_autoscaling::types::{Filter, Tag};

use crate::aws::failure::{region_of, AwsFailure};

pub use imagekit_core::failed_start::{Mark, TAG};

fn tag(group: &str, value: Option<String>) -> Tag {
    Tag::builder()
        .resource_id(group)
        .resource_type("auto-scaling-group")
        .key(TAG)
        .set_value(value)
        .propagate_at_launch(false)
        .build()
}

/// A failed call on the mark, with the group it was for.
#[derive(Debug, thiserror::Error)]
#[error("{what} the tag {TAG} of ASG {group}: {failure}")]
pub struct MarkError {
    what: &'static str,
    group: String,
    failure: AwsFailure,
}

fn failed<E, R>(
    asg: &aws_sdk_autoscaling::Client,
    what: &'static str,
    operation: &str,
    group: &str,
) -> impl FnOnce(aws_smithy_runtime_api::client::result::SdkError<E, R>) -> MarkError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let region = region_of(asg.config().region());
    let (operation, group) = (operation.to_string(), group.to_string());
    move |e| MarkError {
        what,
        group,
        failure: AwsFailure::new(&operation, &region, &e),
    }
}

/// Marks `group` (one more failed start than its mark says) and returns the new mark.
pub async fn mark(asg: &aws_sdk_autoscaling::Client, group: &str) -> Result<Mark, MarkError> {
    let out = asg
        .describe_tags()
        .filters(
            Filter::builder()
                .name("auto-scaling-group")
                .values(group)
                .build(),
        )
        .filters(Filter::builder().name("key").values(TAG).build())
        .send()
        .await
        .map_err(failed(asg, "reading", "autoscaling:DescribeTags", group))?;
    let count = out
        .tags()
        .iter()
        .find_map(|t| t.value().and_then(Mark::parse))
        .map_or(0, |m| m.count);
    let mark = Mark {
        at: std::time::SystemTime::now(),
        count: count + 1,
    };
    asg.create_or_update_tags()
        .tags(tag(group, Some(mark.to_string())))
        .send()
        .await
        .map_err(failed(
            asg,
            "setting",
            "autoscaling:CreateOrUpdateTags",
            group,
        ))?;
    Ok(mark)
}

/// Removes the mark: a start registered.
pub async fn clear(asg: &aws_sdk_autoscaling::Client, group: &str) -> Result<(), MarkError> {
    asg.delete_tags()
        .tags(tag(group, None))
        .send()
        .await
        .map(|_| ())
        .map_err(failed(asg, "removing", "autoscaling:DeleteTags", group))
}
