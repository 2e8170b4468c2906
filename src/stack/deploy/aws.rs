//! The clients one region's stack operations use, built from the one SDK configuration every
//! imagekit binary shares (rustls + ring; `AWS_ENDPOINT_URL` reaches moto in tests).

use aws_config::SdkConfig;
use imagekit_bootstrap::aws::failure::AwsFailure;

use crate::exit::UsageError;

/// The stack's region and its clients.
#[derive(Clone)]
pub struct Aws {
    pub region: String,
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub s3: aws_sdk_s3::Client,
    pub sts: aws_sdk_sts::Client,
}

impl Aws {
    /// The clients for `region` (else the environment's region). No call is made: a missing or
    /// malformed region is bad input, reported before any.
    pub async fn connect(region: Option<&str>, what: &str) -> Result<Aws, UsageError> {
        if let Some(region) = region {
            check_region(region, what)?;
        }
        let config = imagekit_bootstrap::aws::sdk_config(region.map(str::to_string)).await;
        let region = match config.region() {
            Some(r) => r.to_string(),
            None => {
                return Err(UsageError::new(format!(
                    "{what}: no region: set the stack's `region`, --region, or AWS_REGION"
                )))
            }
        };
        check_region(&region, what)?;
        Ok(Aws::from_config(region, &config))
    }

    fn from_config(region: String, config: &SdkConfig) -> Aws {
        Aws {
            region,
            cloudformation: aws_sdk_cloudformation::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
            autoscaling: aws_sdk_autoscaling::Client::new(config),
            s3: imagekit_bootstrap::cache::client(config),
            sts: aws_sdk_sts::Client::new(config),
        }
    }

    /// The one-line failure of an AWS call in this region.
    pub fn failure<E, R>(
        &self,
        operation: &str,
        err: &aws_sdk_cloudformation::error::SdkError<E, R>,
    ) -> AwsFailure
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        AwsFailure::new(operation, &self.region, err)
    }

    /// The account the credentials belong to (the artifacts bucket is named after it).
    pub async fn account(&self) -> Result<String, AwsFailure> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| self.failure("sts:GetCallerIdentity", &e))?;
        Ok(out.account().unwrap_or_default().to_string())
    }
}

fn check_region(region: &str, what: &str) -> Result<(), UsageError> {
    if imagekit_core::region::is_region(region) {
        Ok(())
    } else {
        Err(UsageError::new(format!(
            "{what}: {region:?} is not a region name (e.g. us-east-1)"
        )))
    }
}
