//! Partition, regions and account that ARNs are built from; `*` where not given.

use crate::exit::UsageError;

#[derive(Debug, Clone)]
pub struct Scope {
    pub partition: String,
    /// Empty means any region (`*`).
    pub regions: Vec<String>,
    /// `None` means any account (`*`).
    pub account: Option<String>,
}

impl Scope {
    /// Validates the flags before any policy is built.
    pub fn new(
        partition: &str,
        regions: &[String],
        account: Option<&str>,
    ) -> Result<Scope, UsageError> {
        if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
            return Err(UsageError::new(format!(
                "--partition: unknown partition `{partition}` (expected aws, aws-cn or aws-us-gov)"
            )));
        }
        for region in regions {
            crate::flag::region("--region", region)?;
        }
        if let Some(account) = account {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(UsageError::new(format!(
                    "--account-id: `{account}` is not a 12-digit AWS account id"
                )));
            }
        }
        Ok(Scope {
            partition: partition.to_string(),
            regions: regions.to_vec(),
            account: account.map(str::to_string),
        })
    }

    pub fn account(&self) -> &str {
        self.account.as_deref().unwrap_or("*")
    }

    /// The regions to write into ARNs: each given one, or `*`.
    pub fn region_fields(&self) -> Vec<&str> {
        if self.regions.is_empty() {
            vec!["*"]
        } else {
            self.regions.iter().map(String::as_str).collect()
        }
    }

    /// One ARN per region: `arn:<partition>:<service>:<region>:<account>:<resource>`.
    pub fn arns(&self, service: &str, resource: &str) -> Vec<String> {
        self.region_fields()
            .into_iter()
            .map(|region| {
                format!(
                    "arn:{}:{service}:{region}:{}:{resource}",
                    self.partition,
                    self.account()
                )
            })
            .collect()
    }

    /// ARNs whose account field AWS leaves empty (EC2 images and snapshots).
    pub fn arns_without_account(&self, service: &str, resource: &str) -> Vec<String> {
        self.region_fields()
            .into_iter()
            .map(|region| format!("arn:{}:{service}:{region}::{resource}", self.partition))
            .collect()
    }

    /// `<service>.<region>.amazonaws.com` for `kms:ViaService`, and whether it holds a wildcard.
    pub fn via_service(&self, service: &str) -> (Vec<String>, bool) {
        let suffix = if self.partition == "aws-cn" {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        let values = self
            .region_fields()
            .into_iter()
            .map(|region| format!("{service}.{region}.{suffix}"))
            .collect();
        (values, self.regions.is_empty())
    }
}

/// SSM parameter names: letters, digits and `_.-/`; a path starts with `/`.
pub fn check_parameter_name(flag: &str, name: &str) -> Result<(), UsageError> {
    let ok = !name.is_empty()
        && name.len() <= 2048
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/'))
        && !name.ends_with('/');
    if ok {
        Ok(())
    } else {
        Err(UsageError::new(format!(
            "{flag}: `{name}` is not an SSM parameter name (letters, digits, _ . - /)"
        )))
    }
}

/// The parameter's ARN: `parameter/a/b` for both `a/b` and `/a/b`.
pub fn parameter_arns(scope: &Scope, name: &str) -> Vec<String> {
    scope.arns(
        "ssm",
        &format!("parameter/{}", name.trim_start_matches('/')),
    )
}

/// ASG names may hold most characters, but not `:`, `*` or `?` (they would widen the ARN).
pub fn check_asg_name(flag: &str, name: &str) -> Result<(), UsageError> {
    if name.is_empty() || name.len() > 255 || name.contains([':', '*', '?']) {
        return Err(UsageError::new(format!(
            "{flag}: `{name}` is not an Auto Scaling group name"
        )));
    }
    Ok(())
}

pub fn asg_arns(scope: &Scope, name: &str) -> Vec<String> {
    scope.arns(
        "autoscaling",
        &format!("autoScalingGroup:*:autoScalingGroupName/{name}"),
    )
}

/// A KMS key ARN (`arn:<partition>:kms:<region>:<account>:key/<id>`).
pub fn check_kms_key(flag: &str, arn: &str) -> Result<(), UsageError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "kms"
        && parts[5].starts_with("key/")
        && parts[5].len() > 4
        && !arn.contains(['*', '?']);
    if ok {
        Ok(())
    } else {
        Err(UsageError::new(format!(
            "{flag}: `{arn}` is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)"
        )))
    }
}

/// S3 bucket names: 3–63 lowercase letters, digits, `.` and `-`.
pub fn check_bucket(flag: &str, bucket: &str) -> Result<(), UsageError> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(UsageError::new(format!(
            "{flag}: `{bucket}` is not an S3 bucket name"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_arn_drops_the_leading_slash() {
        let scope = Scope::new("aws", &["eu-west-1".into()], Some("123456789012")).unwrap();
        assert_eq!(
            parameter_arns(&scope, "/semaphore/token"),
            ["arn:aws:ssm:eu-west-1:123456789012:parameter/semaphore/token"]
        );
    }
}
