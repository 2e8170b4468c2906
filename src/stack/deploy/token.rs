//! The token parameter must exist before anything is deployed: a missing one is the commonest
//! first-boot failure (every instance would fail its start and give itself back).
//!
//! `DescribeParameters` asks for the parameter's metadata only, so deploy never reads, let alone
//! decrypts, the token itself.

use aws_sdk_ssm::types::ParameterStringFilter;

use super::Aws;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token parameter {name} does not exist in {region}: create it first, e.g. `aws ssm put-parameter --region {region} --name {name} --type SecureString --value ...` (the value from your CI system's agent settings)")]
    Missing { name: String, region: String },
    #[error("checking the token parameter {name}: {failure}")]
    Aws {
        name: String,
        failure: imagekit_bootstrap::aws::failure::AwsFailure,
    },
}

/// Ok when `name` exists in the region (of any type: doctor warns about a plain String).
pub async fn check(aws: &Aws, name: &str) -> Result<(), TokenError> {
    let filter = ParameterStringFilter::builder()
        .key("Name")
        .option("Equals")
        .values(name)
        .build()
        .expect("key is set");
    let out = aws
        .ssm
        .describe_parameters()
        .parameter_filters(filter)
        .send()
        .await
        .map_err(|e| TokenError::Aws {
            name: name.to_string(),
            failure: aws.failure("ssm:DescribeParameters", &e),
        })?;
    if out.parameters().iter().any(|p| p.name() == Some(name)) {
        Ok(())
    } else {
        Err(TokenError::Missing {
            name: name.to_string(),
            region: aws.region.clone(),
        })
    }
}
