//! Partition, regions and account that ARNs are built from; `*` where not given.

use crate::exit::UsageError;

#[derive(Debug, Clone)]
pub struct Scope {
    pub partition: String,
    /// Empty means any region (`*`).
    pub regions: Vec<String>,
    /// `None` means any account (`*`).
    pub account: Option<String>,
    /// The partition's DNS suffix, for `kms:ViaService`.
    pub url_suffix: String,
}

/// CloudFormation's pseudo parameters, which [`Scope::stack`] writes into ARNs.
pub const STACK_PARTITION: &str = "${AWS::Partition}";
pub const STACK_REGION: &str = "${AWS::Region}";
pub const STACK_ACCOUNT: &str = "${AWS::AccountId}";
pub const STACK_URL_SUFFIX: &str = "${AWS::URLSuffix}";

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
            url_suffix: if partition == "aws-cn" {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            }
            .to_string(),
        })
    }

    /// The stack's own partition, region and account, as pseudo parameters that CloudFormation
    /// fills at deploy time (`Fn::Sub`): a template renders offline and is scoped exactly.
    pub fn stack() -> Scope {
        Scope {
            partition: STACK_PARTITION.to_string(),
            regions: vec![STACK_REGION.to_string()],
            account: Some(STACK_ACCOUNT.to_string()),
            url_suffix: STACK_URL_SUFFIX.to_string(),
        }
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
        let suffix = &self.url_suffix;
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

/// A KMS key: its ARN (`arn:<partition>:kms:<region>:<account>:key/<id>`), or its key id (a
/// UUID, or `mrk-` and 32 hex digits for a multi-Region key), as agent-aws-stack takes it.
pub fn check_kms_key(flag: &str, key: &str) -> Result<(), UsageError> {
    let parts: Vec<&str> = key.splitn(6, ':').collect();
    let arn = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "kms"
        && parts[5].starts_with("key/")
        && parts[5].len() > 4
        && !key.contains(['*', '?']);
    if arn || is_kms_key_id(key) {
        Ok(())
    } else {
        Err(UsageError::new(format!(
            "{flag}: `{key}` is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) or key id"
        )))
    }
}

fn is_kms_key_id(key: &str) -> bool {
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(rest) = key.strip_prefix("mrk-") {
        return hex(rest, 32);
    }
    let groups: Vec<&str> = key.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, n)| hex(group, n))
}

/// The ARNs a checked KMS key stands for: the ARN itself, or the key id in the scope's regions.
pub fn kms_key_arns(scope: &Scope, key: &str) -> Vec<String> {
    if key.starts_with("arn:") {
        vec![key.to_string()]
    } else {
        scope.arns("kms", &format!("key/{key}"))
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
    fn kms_keys_by_arn_or_id() {
        for ok in [
            "arn:aws:kms:us-east-1:123456789012:key/2f1c9a0e-7b3d-4e5f-8a9b-0c1d2e3f4a5b",
            "2f1c9a0e-7b3d-4e5f-8a9b-0c1d2e3f4a5b",
            "mrk-0123456789abcdef0123456789abcdef",
        ] {
            assert!(check_kms_key("k", ok).is_ok(), "{ok}");
        }
        for bad in ["alias/aws/ssm", "2f1c9a0e", "arn:aws:kms:*:*:key/*", ""] {
            assert!(check_kms_key("k", bad).is_err(), "{bad}");
        }
        assert_eq!(
            kms_key_arns(&Scope::stack(), "2f1c9a0e-7b3d-4e5f-8a9b-0c1d2e3f4a5b"),
            ["arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/2f1c9a0e-7b3d-4e5f-8a9b-0c1d2e3f4a5b"]
        );
    }

    #[test]
    fn parameter_arn_drops_the_leading_slash() {
        let scope = Scope::new("aws", &["eu-west-1".into()], Some("123456789012")).unwrap();
        assert_eq!(
            parameter_arns(&scope, "/semaphore/token"),
            ["arn:aws:ssm:eu-west-1:123456789012:parameter/semaphore/token"]
        );
    }
}
