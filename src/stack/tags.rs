//! Tags on every resource: the user's, plus imagekit's own, which name the stack and the agent
//! (`imagekit stack list` finds its fleets by them).

use std::collections::BTreeMap;

use serde::Serialize;

use super::spec::StackSpec;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// The Auto Scaling group's form, which says whether instances inherit the tag.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupTag {
    pub key: String,
    pub value: String,
    pub propagate_at_launch: bool,
}

/// The tag that marks a stack (and each of its resources) as imagekit's, naming it.
pub const TAG_STACK: &str = "imagekit:stack";

/// Every tag of the stack's resources, sorted by key.
pub fn all(spec: &StackSpec) -> BTreeMap<String, String> {
    let mut tags = spec.tags.clone();
    tags.insert(TAG_STACK.into(), spec.name.clone());
    // The same key as the images': a stack and its images name the agent kind alike.
    tags.insert(crate::ami::TAG_AGENT.into(), spec.agent.name().to_string());
    tags
}

pub fn list(spec: &StackSpec) -> Vec<Tag> {
    all(spec)
        .into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect()
}

/// The tags instances and their volumes carry: the stack's, and `Name` unless the user set one.
pub fn instance_list(spec: &StackSpec) -> Vec<Tag> {
    let mut tags = all(spec);
    tags.entry("Name".into())
        .or_insert_with(|| spec.name.clone());
    tags.into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect()
}
