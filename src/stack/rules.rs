//! The forms of a stack's single values. Each check returns what is wrong, for the caller to
//! put after the key's name; rules between values live in [`super::spec`].

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::spec::is_prefixed_hex;

/// CloudFormation stack names: a letter, then letters, digits and hyphens. At most 57, because
/// the scaler is the Lambda `<stack>-scaler` and Lambda names stop at 64.
pub const MAX_STACK_NAME: usize = 57;

pub fn stack_name(name: &str) -> Result<(), String> {
    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.len() <= MAX_STACK_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a stack name: a letter, then letters, digits and -, at most {MAX_STACK_NAME} characters"
        ))
    }
}

/// `prefix-` and 8 or 17 hex digits.
pub fn aws_id(value: &str, prefix: &str, what: &str) -> Result<(), String> {
    if is_prefixed_hex(value, prefix) {
        Ok(())
    } else {
        Err(format!(
            "{value:?} is not {what} ({prefix} and 8 or 17 hex digits)"
        ))
    }
}

/// An availability zone: a region name and a letter, e.g. us-east-1a.
pub fn availability_zone(zone: &str) -> Result<(), String> {
    let ok = zone
        .strip_suffix(|c: char| c.is_ascii_lowercase())
        .is_some_and(imagekit_core::region::is_region);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{zone:?} is not an availability zone (a region and a letter, e.g. us-east-1a)"
        ))
    }
}

/// An IPv4 or IPv6 CIDR that does not open the port to the whole internet.
pub fn ssh_cidr(cidr: &str) -> Result<(), String> {
    let (addr, len) = cidr
        .split_once('/')
        .ok_or_else(|| format!("{cidr:?} is not a CIDR (e.g. 203.0.113.0/24)"))?;
    let max = if addr.parse::<Ipv4Addr>().is_ok() {
        32
    } else if addr.parse::<Ipv6Addr>().is_ok() {
        128
    } else {
        return Err(format!("{cidr:?} is not a CIDR (e.g. 203.0.113.0/24)"));
    };
    match len.parse::<u8>() {
        Ok(0) => Err(format!(
            "{cidr} opens SSH to the whole internet; name the network you connect from (e.g. 203.0.113.0/24), or use Session Manager"
        )),
        Ok(n) if n <= max => Ok(()),
        _ => Err(format!("{cidr:?} has no valid prefix length (0 to {max})")),
    }
}

/// EC2 key pair names: 1 to 255 printable ASCII characters.
pub fn key_name(name: &str) -> Result<(), String> {
    if !name.is_empty() && name.len() <= 255 && name.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(format!("{name:?} is not an EC2 key pair name"))
    }
}

/// A managed policy: its ARN, or the name of a customer-managed policy in the stack's account
/// (agent-aws-stack's `SEMAPHORE_AGENT_MANAGED_POLICY_NAMES`). Returns the ARN, with pseudo
/// parameters for a name.
pub fn managed_policy(value: &str) -> Result<String, String> {
    if let Some(rest) = value.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let account = parts.get(3).copied().unwrap_or_default();
        let ok = parts.len() == 5
            && matches!(parts[0], "aws" | "aws-cn" | "aws-us-gov")
            && parts[1] == "iam"
            && parts[2].is_empty()
            && (account == "aws"
                || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())))
            && parts[4].strip_prefix("policy/").is_some_and(policy_path_ok);
        return if ok {
            Ok(value.to_string())
        } else {
            Err(format!(
                "{value:?} is not a managed policy ARN (arn:aws:iam::ACCOUNT:policy/NAME)"
            ))
        };
    }
    if policy_name_ok(value) {
        Ok(format!(
            "arn:{}:iam::{}:policy/{value}",
            crate::iam::scope::STACK_PARTITION,
            crate::iam::scope::STACK_ACCOUNT
        ))
    } else {
        Err(format!(
            "{value:?} is neither a policy ARN nor a policy name (letters, digits, + = , . @ _ -)"
        ))
    }
}

fn policy_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

fn policy_path_ok(path: &str) -> bool {
    !path.is_empty() && path.split('/').all(policy_name_ok)
}

/// `arn:<partition>:license-manager:<region>:<account>:license-configuration:lic-<hex>`.
pub fn license_configuration_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = parts.len() == 7
        && parts[0] == "arn"
        && matches!(parts[1], "aws" | "aws-cn" | "aws-us-gov")
        && parts[2] == "license-manager"
        && imagekit_core::region::is_region(parts[3])
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5] == "license-configuration"
        && parts[6]
            .strip_prefix("lic-")
            .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{arn:?} is not a license configuration ARN (arn:aws:license-manager:REGION:ACCOUNT:license-configuration:lic-...)"
        ))
    }
}

/// The retention periods CloudWatch Logs accepts, in days.
pub const RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

pub fn retention_days(days: u32) -> Result<(), String> {
    if RETENTION_DAYS.contains(&days) {
        Ok(())
    } else {
        Err(format!(
            "{days} is not a CloudWatch Logs retention; allowed days: {}",
            RETENTION_DAYS
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// `value` is one of `allowed`.
pub fn one_of(value: &str, allowed: &[&str]) -> Result<(), String> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(format!("{value:?} is not one of {}", allowed.join(", ")))
    }
}

/// No value twice.
pub fn distinct(values: &[String]) -> Result<(), String> {
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            return Err(format!("{v} is given twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        for ok in ["203.0.113.0/24", "10.0.0.1/32", "2001:db8::/32"] {
            assert!(ssh_cidr(ok).is_ok(), "{ok}");
        }
        for world in ["0.0.0.0/0", "::/0"] {
            assert!(
                ssh_cidr(world).unwrap_err().contains("whole internet"),
                "{world}"
            );
        }
        for bad in ["10.0.0.1", "10.0.0.0/33", "x/8", "::/129"] {
            assert!(ssh_cidr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn managed_policies_by_arn_or_name() {
        assert_eq!(
            managed_policy("arn:aws:iam::aws:policy/ReadOnlyAccess").unwrap(),
            "arn:aws:iam::aws:policy/ReadOnlyAccess"
        );
        assert_eq!(
            managed_policy("ci-extra").unwrap(),
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/ci-extra"
        );
        for bad in [
            "arn:aws:iam::aws:role/x",
            "a b",
            "arn:aws:iam::1:policy/x",
            "${x}",
        ] {
            assert!(managed_policy(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn zones_and_names() {
        assert!(availability_zone("us-east-1a").is_ok());
        assert!(availability_zone("us-east-1").is_err());
        assert!(stack_name("ci-linux-2").is_ok());
        for bad in ["1ci", "ci_linux", "", &"a".repeat(58)] {
            assert!(stack_name(bad).is_err(), "{bad}");
        }
    }
}
