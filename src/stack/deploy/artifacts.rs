//! The artifacts bucket: where deploy puts the scaler's zip for CloudFormation to hand Lambda.
//! One per account and region, named from both (as AWS's own rain names its
//! `rain-artifacts-<account>-<region>`, aws-cloudformation/rain@76da807112260697e571ff7f37631ced4909686d:internal/cmd/deploy/deploy.go),
//! created on first use: private (every public access block on), encrypted at rest (SSE-S3).
//! It is no stack's resource, so destroying a stack keeps it and the code other stacks use.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule,
};
use imagekit_bootstrap::aws::failure::AwsFailure;

use super::scaler_code::ScalerCode;
use super::Aws;

/// `imagekit-artifacts-<account>-<region>`: at most 19 + 12 + 1 + 14 characters, within S3's 63.
pub fn bucket_name(account: &str, region: &str) -> String {
    format!("imagekit-artifacts-{account}-{region}")
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactsError {
    #[error("artifacts bucket {bucket}: {failure}")]
    Aws { bucket: String, failure: AwsFailure },
    #[error("artifacts bucket {bucket}: the name is taken by another account (S3 answered 403 to this account's HeadBucket): deploy cannot upload the scaler's code there")]
    Taken { bucket: String },
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: aws_sdk_s3::primitives::ByteStreamError,
    },
}

/// Creates the bucket unless it exists, then uploads the zip unless its key is there already.
/// Returns whether anything was uploaded.
pub async fn upload(aws: &Aws, bucket: &str, code: &ScalerCode) -> Result<bool, ArtifactsError> {
    ensure_bucket(aws, bucket).await?;
    let fail = |failure: AwsFailure| ArtifactsError::Aws {
        bucket: bucket.to_string(),
        failure,
    };
    match aws
        .s3
        .head_object()
        .bucket(bucket)
        .key(&code.key)
        .send()
        .await
    {
        Ok(_) => return Ok(false),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {}
        Err(e) => return Err(fail(aws.failure("s3:HeadObject", &e))),
    }
    let body = ByteStream::from_path(&code.path)
        .await
        .map_err(|source| ArtifactsError::Read {
            path: code.path.display().to_string(),
            source,
        })?;
    aws.s3
        .put_object()
        .bucket(bucket)
        .key(&code.key)
        .body(body)
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .map_err(|e| fail(aws.failure("s3:PutObject", &e)))?;
    Ok(true)
}

async fn ensure_bucket(aws: &Aws, bucket: &str) -> Result<(), ArtifactsError> {
    let fail = |failure: AwsFailure| ArtifactsError::Aws {
        bucket: bucket.to_string(),
        failure,
    };
    match aws.s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => return Ok(()),
        Err(e) => match e.raw_response().map(|r| r.status().as_u16()) {
            Some(404) => {}
            Some(403) => {
                return Err(ArtifactsError::Taken {
                    bucket: bucket.to_string(),
                })
            }
            _ => return Err(fail(aws.failure("s3:HeadBucket", &e))),
        },
    }
    let mut create = aws.s3.create_bucket().bucket(bucket);
    // us-east-1 is S3's default location and refuses to be named as a constraint.
    if aws.region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(aws.region.as_str()))
                .build(),
        );
    }
    create
        .send()
        .await
        .map_err(|e| fail(aws.failure("s3:CreateBucket", &e)))?;
    aws.s3
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| fail(aws.failure("s3:PutPublicAccessBlock", &e)))?;
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::Aes256)
        .build()
        .expect("the algorithm is set");
    aws.s3
        .put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(by_default)
                        .build(),
                )
                .build()
                .expect("rules are set"),
        )
        .send()
        .await
        .map_err(|e| fail(aws.failure("s3:PutBucketEncryption", &e)))?;
    Ok(())
}
