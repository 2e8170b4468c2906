//! The job cache's bucket, when the stack creates it: named (CloudFormation cannot update an
//! unnamed bucket in moto, and the name goes into the boot config), private, encrypted, objects
//! expiring, TLS only, and kept when the stack is deleted: a cache outlives its fleet.

use serde::Serialize;
use serde_json::{json, Value};

use super::ids;
use super::spec::StackSpec;
use super::tags::{self, Tag};
use super::template::{Expr, Resource};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Bucket {
    bucket_name: String,
    public_access_block_configuration: Value,
    ownership_controls: Value,
    bucket_encryption: Value,
    lifecycle_configuration: Value,
    tags: Vec<Tag>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BucketPolicy {
    bucket: Expr,
    policy_document: Value,
}

/// The bucket and its policy, or nothing for a bucket the user brings.
pub fn resources(spec: &StackSpec) -> Vec<(String, Resource)> {
    let Some(cache) = &spec.cache else {
        return Vec::new();
    };
    let Some(days) = cache.created else {
        return Vec::new();
    };
    let bucket = Bucket {
        bucket_name: cache.bucket.clone(),
        public_access_block_configuration: json!({
            "BlockPublicAcls": true,
            "BlockPublicPolicy": true,
            "IgnorePublicAcls": true,
            "RestrictPublicBuckets": true
        }),
        ownership_controls: json!({ "Rules": [{ "ObjectOwnership": "BucketOwnerEnforced" }] }),
        bucket_encryption: json!({
            "ServerSideEncryptionConfiguration": [{
                "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" }
            }]
        }),
        lifecycle_configuration: json!({
            "Rules": [{
                "Id": "expire-cache",
                "Status": "Enabled",
                "ExpirationInDays": days,
                "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": 1 }
            }]
        }),
        tags: tags::list(spec),
    };
    let policy = BucketPolicy {
        bucket: Expr::reference(ids::CACHE_BUCKET),
        policy_document: json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [
                    { "Fn::GetAtt": [ids::CACHE_BUCKET, "Arn"] },
                    { "Fn::Sub": format!("${{{}.Arn}}/*", ids::CACHE_BUCKET) }
                ],
                "Condition": { "Bool": { "aws:SecureTransport": "false" } }
            }]
        }),
    };
    vec![
        (
            ids::CACHE_BUCKET.into(),
            Resource::new("AWS::S3::Bucket", bucket).retain(),
        ),
        (
            ids::CACHE_BUCKET_POLICY.into(),
            Resource::new("AWS::S3::BucketPolicy", policy),
        ),
    ]
}
