//! The AMIs imagekit built: EC2 look-ups, copies and removal ([`Region`]), what keeps an image
//! in use ([`usage`]), which ones `images prune` removes ([`prune`]), and the survey of regions
//! that `images list` and `images prune` start from ([`survey`]).
//!
//! Every call names the region and the operation in its error, so a failing region is reported
//! as itself and never hides the others.

pub mod prune;
pub mod survey;
pub mod usage;

pub use usage::Usage;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, Tag};
use imagekit_bootstrap::aws::failure::AwsFailure;
use serde::Serialize;

/// The tag that identifies an image's exact contents; the build looks images up by it.
pub const TAG_FINGERPRINT: &str = "imagekit:fingerprint";
pub const TAG_OS: &str = "imagekit:os";
pub const TAG_ARCH: &str = "imagekit:arch";
pub const TAG_DISTRO: &str = "imagekit:distro";
/// The CI agent kind the image carries, and its release.
pub const TAG_AGENT: &str = "imagekit:agent";
pub const TAG_AGENT_VERSION: &str = "imagekit:agent-version";
/// The CloudWatch agent's release the image carries (the pins table's).
pub const TAG_CLOUDWATCH_AGENT_VERSION: &str = "imagekit:cloudwatch-agent-version";

/// A failed EC2 or Auto Scaling call of a region: the one line every AWS failure is.
pub type AmiError = AwsFailure;

/// An image imagekit tagged, as EC2 reports it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Ami {
    pub id: String,
    pub name: String,
    pub region: String,
    pub os: String,
    pub distro: String,
    pub arch: String,
    /// The agent kind (semaphore, buildkite, circleci) and its release.
    pub agent: String,
    pub agent_version: String,
    /// Empty for an image built before the CloudWatch agent was pinned.
    pub cloudwatch_agent_version: String,
    pub fingerprint: String,
    /// EC2's `CreationDate` (RFC 3339).
    pub created: String,
    #[serde(skip)]
    pub created_epoch: i64,
    pub snapshots: Vec<String>,
    pub public: bool,
    #[serde(skip)]
    pub tags: BTreeMap<String, String>,
}

impl Ami {
    fn from_image(region: &str, image: &aws_sdk_ec2::types::Image) -> Ami {
        let tags: BTreeMap<String, String> = image
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
            .collect();
        let tag = |k: &str| tags.get(k).cloned().unwrap_or_default();
        let created = image.creation_date().unwrap_or("").to_string();
        Ami {
            id: image.image_id().unwrap_or("").to_string(),
            name: image.name().unwrap_or("").to_string(),
            region: region.to_string(),
            os: tag(TAG_OS),
            distro: tag(TAG_DISTRO),
            arch: tag(TAG_ARCH),
            agent: tag(TAG_AGENT),
            agent_version: tag(TAG_AGENT_VERSION),
            cloudwatch_agent_version: tag(TAG_CLOUDWATCH_AGENT_VERSION),
            fingerprint: tag(TAG_FINGERPRINT),
            created_epoch: epoch_of(&created),
            created,
            snapshots: image
                .block_device_mappings()
                .iter()
                .filter_map(|m| m.ebs()?.snapshot_id().map(str::to_string))
                .collect(),
            public: image.public().unwrap_or(false),
            tags,
        }
    }
}

/// Seconds since the epoch of an EC2 timestamp; 0 when it does not parse (sorts as oldest).
pub fn epoch_of(rfc3339: &str) -> i64 {
    aws_smithy_types::DateTime::from_str(rfc3339, aws_smithy_types::date_time::Format::DateTime)
        .map(|d| d.secs())
        .unwrap_or(0)
}

/// EC2 clients for one region, built from the shared SDK config (endpoints from the environment).
#[derive(Clone, Debug)]
pub struct Region {
    pub name: String,
    pub ec2: aws_sdk_ec2::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
}

impl Region {
    pub async fn connect(name: &str) -> Region {
        let config = imagekit_bootstrap::aws::sdk_config(Some(name.to_string())).await;
        Region::from_config(&config, name)
    }

    /// Clients for every named region from one loaded SDK config (loaded for the first region):
    /// one credentials chain and one HTTP client with its connection pool, instead of loading
    /// the whole config again per region.
    pub async fn connect_all(names: &BTreeSet<String>) -> BTreeMap<String, Region> {
        let Some(first) = names.iter().next() else {
            return BTreeMap::new();
        };
        let config = imagekit_bootstrap::aws::sdk_config(Some(first.clone())).await;
        names
            .iter()
            .map(|name| (name.clone(), Region::from_config(&config, name)))
            .collect()
    }

    /// Clients for `name`, with everything else (credentials, endpoints, HTTP client) from
    /// `config`.
    fn from_config(config: &aws_config::SdkConfig, name: &str) -> Region {
        let region = aws_config::Region::new(name.to_string());
        Region {
            name: name.to_string(),
            ec2: aws_sdk_ec2::Client::from_conf(
                aws_sdk_ec2::config::Builder::from(config)
                    .region(region.clone())
                    .build(),
            ),
            autoscaling: aws_sdk_autoscaling::Client::from_conf(
                aws_sdk_autoscaling::config::Builder::from(config)
                    .region(region)
                    .build(),
            ),
        }
    }

    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Ami>, AmiError> {
        let out = self
            .ec2
            .describe_images()
            .owners("self")
            .set_filters(Some(filters))
            .send()
            .await
            .map_err(|e| AmiError::new("ec2:DescribeImages", &self.name, &e))?;
        let mut amis: Vec<Ami> = out
            .images()
            .iter()
            .filter(|i| i.state().map(|s| s.as_str()) != Some("deregistered"))
            .map(|i| Ami::from_image(&self.name, i))
            .collect();
        amis.sort_by(|a, b| (b.created_epoch, &b.id).cmp(&(a.created_epoch, &a.id)));
        Ok(amis)
    }

    /// Every image this account owns that carries imagekit's fingerprint tag, newest first.
    pub async fn list(&self) -> Result<Vec<Ami>, AmiError> {
        self.describe(vec![Filter::builder()
            .name("tag-key")
            .values(TAG_FINGERPRINT)
            .build()])
            .await
    }

    /// The images with any of these fingerprints, newest first: one request per 100 of them
    /// (EC2 caps the values of one filter).
    pub async fn find(&self, fingerprints: &[String]) -> Result<Vec<Ami>, AmiError> {
        let mut amis = Vec::new();
        for chunk in fingerprints.chunks(100) {
            amis.extend(
                self.describe(vec![Filter::builder()
                    .name(format!("tag:{TAG_FINGERPRINT}"))
                    .set_values(Some(chunk.to_vec()))
                    .build()])
                    .await?,
            );
        }
        amis.sort_by(|a, b| (b.created_epoch, &b.id).cmp(&(a.created_epoch, &a.id)));
        Ok(amis)
    }

    /// Copies `source` (in another region) here, with its name and tags; returns the new ID.
    pub async fn copy_from(&self, source: &Ami) -> Result<String, AmiError> {
        let out = self
            .ec2
            .copy_image()
            .source_image_id(&source.id)
            .source_region(&source.region)
            .name(&source.name)
            .description(format!("copy of {} from {}", source.id, source.region))
            .send()
            .await
            .map_err(|e| AmiError::new("ec2:CopyImage", &self.name, &e))?;
        let id = out.image_id().unwrap_or_default().to_string();
        // EC2 does not copy tags; the fingerprint tag is what makes the copy findable.
        let tags: Vec<Tag> = source
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let mut resources = vec![id.clone()];
        if let Some(copy) = self
            .describe(vec![Filter::builder().name("image-id").values(&id).build()])
            .await?
            .into_iter()
            .next()
        {
            resources.extend(copy.snapshots);
        }
        self.ec2
            .create_tags()
            .set_resources(Some(resources))
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| AmiError::new("ec2:CreateTags", &self.name, &e))?;
        Ok(id)
    }

    /// Deregisters the image, then deletes its snapshots (which EC2 leaves behind otherwise).
    pub async fn delete(&self, ami: &Ami) -> Result<(), AmiError> {
        self.ec2
            .deregister_image()
            .image_id(&ami.id)
            .send()
            .await
            .map_err(|e| AmiError::new("ec2:DeregisterImage", &self.name, &e))?;
        for snapshot in &ami.snapshots {
            self.ec2
                .delete_snapshot()
                .snapshot_id(snapshot)
                .send()
                .await
                .map_err(|e| AmiError::new("ec2:DeleteSnapshot", &self.name, &e))?;
        }
        Ok(())
    }

    /// Accounts (or `all`) the image is shared with.
    pub async fn shared_with(&self, ami: &Ami) -> Result<Vec<String>, AmiError> {
        let out = self
            .ec2
            .describe_image_attribute()
            .image_id(&ami.id)
            .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
            .send()
            .await
            .map_err(|e| AmiError::new("ec2:DescribeImageAttribute", &self.name, &e))?;
        let mut who: Vec<String> = out
            .launch_permissions()
            .iter()
            .filter_map(|p| {
                p.user_id()
                    .map(str::to_string)
                    .or_else(|| p.group().map(|g| g.as_str().to_string()))
                    .or_else(|| p.organization_arn().map(str::to_string))
                    .or_else(|| p.organizational_unit_arn().map(str::to_string))
            })
            .collect();
        if ami.public && !who.iter().any(|w| w == "all") {
            who.push("all".into());
        }
        Ok(who)
    }
}
