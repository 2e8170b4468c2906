//! The group's failed-start mark: a tag on the ASG that `imagekit scale` backs off on, so that a
//! start that cannot succeed (a bad token, a missing parameter) is not fed around the clock.
//! Value: `<unix seconds of the last failed start> <count of failed starts in a row>`.

use aws_sdk_autoscaling::types::{Filter, Tag};

use crate::aws::failure::describe_sdk;

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

/// Marks `group` (one more failed start than its mark says) and returns the new mark.
pub async fn mark(asg: &aws_sdk_autoscaling::Client, group: &str) -> Result<Mark, String> {
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
        .map_err(|e| format!("reading the tag {TAG} of ASG {group}: {}", describe_sdk(&e)))?;
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
        .map_err(|e| format!("setting the tag {TAG} on ASG {group}: {}", describe_sdk(&e)))?;
    Ok(mark)
}

/// Removes the mark: a start registered.
pub async fn clear(asg: &aws_sdk_autoscaling::Client, group: &str) -> Result<(), String> {
    asg.delete_tags()
        .tags(tag(group, None))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            format!(
                "removing the tag {TAG} from ASG {group}: {}",
                describe_sdk(&e)
            )
        })
}
