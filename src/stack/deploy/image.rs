//! The stack's image, resolved in its region: an AMI id (checked to exist there), the newest
//! image `imagekit build` tagged for a variant, or the AMI id an SSM parameter holds (such as
//! `/aws/service/...` public parameters).
//!
//! A variant id is `<os>-<release>-<arch>` (`crate::spec::Variant::id`); the build tags its
//! images with `imagekit:os`, `imagekit:distro` and `imagekit:arch` (`render::vars`), so those
//! three find it. A macOS variant's middle part is its instance type, which images are not
//! tagged with: every macOS image of the arch matches, and the newest is taken.

use aws_sdk_ec2::types::Filter;

use super::Aws;
use crate::ami::{epoch_of, TAG_ARCH, TAG_DISTRO, TAG_OS};
use crate::stack::file::ImageRef;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image {id}: no such AMI in {region} (an AMI belongs to one region; copy it, or build with --region {region})")]
    NoAmi { id: String, region: String },
    #[error("image variant {variant}: no image imagekit built for it in {region}; build it: `imagekit build --region {region}` with that variant (imagekit images list shows what exists)")]
    NoVariant { variant: String, region: String },
    #[error("image {variant:?} is not a variant id (e.g. linux-ubuntu-24.04-x86_64, as `imagekit render` prints)")]
    BadVariant { variant: String },
    #[error("image ssm {path} in {region}: holds {value:?}, not an AMI id")]
    NotAnAmi {
        path: String,
        region: String,
        value: String,
    },
    #[error("resolving the image: {0}")]
    Aws(#[from] imagekit_bootstrap::aws::failure::AwsFailure),
}

/// The AMI id for `image` in the region of `aws`.
pub async fn resolve(aws: &Aws, image: &ImageRef) -> Result<String, ImageError> {
    match image {
        ImageRef::Ami(id) => ami(aws, id).await,
        ImageRef::Variant { variant } => newest_of(aws, variant).await,
        ImageRef::Ssm { ssm } => parameter(aws, ssm).await,
    }
}

async fn ami(aws: &Aws, id: &str) -> Result<String, ImageError> {
    let out = aws
        .ec2
        .describe_images()
        .image_ids(id)
        .send()
        .await
        .map_err(|e| {
            // EC2 answers a well-formed id it does not know with an error, not an empty list.
            if e.as_service_error()
                .and_then(|s| aws_smithy_types::error::metadata::ProvideErrorMetadata::code(s))
                .is_some_and(|c| c.starts_with("InvalidAMIID"))
            {
                ImageError::NoAmi {
                    id: id.to_string(),
                    region: aws.region.clone(),
                }
            } else {
                aws.failure("ec2:DescribeImages", &e).into()
            }
        })?;
    if out.images().iter().any(|i| i.image_id() == Some(id)) {
        Ok(id.to_string())
    } else {
        Err(ImageError::NoAmi {
            id: id.to_string(),
            region: aws.region.clone(),
        })
    }
}

/// The tags a variant's images carry: (os, distro, arch).
pub fn variant_tags(variant: &str) -> Option<(String, String, String)> {
    let (os, rest) = variant.split_once('-')?;
    let (release, arch) = rest.rsplit_once('-')?;
    let distro = match os {
        "linux" => release.to_string(),
        "windows" => format!("windows-{release}"),
        // The release of a macOS variant is its instance type; the distro tag is not.
        "macos" => String::new(),
        _ => return None,
    };
    (!release.is_empty() && matches!(arch, "x86_64" | "arm64"))
        .then(|| (os.to_string(), distro, arch.to_string()))
}

async fn newest_of(aws: &Aws, variant: &str) -> Result<String, ImageError> {
    let (os, distro, arch) = variant_tags(variant).ok_or_else(|| ImageError::BadVariant {
        variant: variant.to_string(),
    })?;
    let tag = |key: &str, value: &str| {
        Filter::builder()
            .name(format!("tag:{key}"))
            .values(value)
            .build()
    };
    let mut request = aws
        .ec2
        .describe_images()
        .owners("self")
        .filters(tag(TAG_OS, &os))
        .filters(tag(TAG_ARCH, &arch));
    if !distro.is_empty() {
        request = request.filters(tag(TAG_DISTRO, &distro));
    }
    let out = request
        .send()
        .await
        .map_err(|e| aws.failure("ec2:DescribeImages", &e))?;
    out.images()
        .iter()
        .filter_map(|i| Some((epoch_of(i.creation_date().unwrap_or("")), i.image_id()?)))
        .max()
        .map(|(_, id)| id.to_string())
        .ok_or_else(|| ImageError::NoVariant {
            variant: variant.to_string(),
            region: aws.region.clone(),
        })
}

async fn parameter(aws: &Aws, path: &str) -> Result<String, ImageError> {
    let out = aws
        .ssm
        .get_parameter()
        .name(path)
        .send()
        .await
        .map_err(|e| aws.failure("ssm:GetParameter", &e))?;
    let value = out
        .parameter()
        .and_then(|p| p.value())
        .unwrap_or_default()
        .to_string();
    if value.starts_with("ami-") {
        Ok(value)
    } else {
        Err(ImageError::NotAnAmi {
            path: path.to_string(),
            region: aws.region.clone(),
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_ids_give_the_tags_their_images_carry() {
        let tags = |s: &str| variant_tags(s).map(|(o, d, a)| format!("{o} {d} {a}"));
        assert_eq!(
            tags("linux-ubuntu-24.04-x86_64").as_deref(),
            Some("linux ubuntu-24.04 x86_64")
        );
        assert_eq!(
            tags("windows-2022-x86_64").as_deref(),
            Some("windows windows-2022 x86_64")
        );
        assert_eq!(
            tags("macos-mac2.metal-arm64").as_deref(),
            Some("macos  arm64")
        );
        assert_eq!(tags("linux-x86_64"), None);
        assert_eq!(tags("bsd-13-x86_64"), None);
    }
}
