//! The S3 job cache: checked at boot so a wrong bucket fails fast, not in the first job. How the
//! agent's jobs are pointed at it is the agent's ([`crate::agent::Agent::cache_env`]).

use aws_sdk_s3::error::ProvideErrorMetadata;

use crate::aws::failure::{region_of, AwsFailure};

#[derive(Debug, thiserror::Error)]
#[error("cache bucket {bucket}: {message}")]
pub struct CacheError {
    pub bucket: String,
    pub message: String,
}

/// An S3 client; path-style addressing when an endpoint override is set (moto, MinIO), since
/// virtual-host names do not resolve on loopback.
pub fn client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let path_style = std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some();
    let conf = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// `HeadBucket`: the bucket exists and the instance profile may use it.
pub async fn check(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<(), CacheError> {
    match s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(err) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            let message = match (status, err.code()) {
                (Some(404), _) | (_, Some("NotFound")) | (_, Some("NoSuchBucket")) => {
                    "does not exist".to_string()
                }
                // HEAD answers carry no body, so no code: the status is the whole answer.
                (Some(403), None) => "access denied to the instance profile".to_string(),
                _ => AwsFailure::new("s3:HeadBucket", &region_of(s3.config().region()), &err)
                    .to_string(),
            };
            Err(CacheError {
                bucket: bucket.into(),
                message,
            })
        }
    }
}
