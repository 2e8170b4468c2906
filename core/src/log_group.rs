//! CloudWatch Logs group names: the one rule for `imagekit iam-policy instance
//! --log-group-prefix`, the stack's groups and the boot config's `log_group_prefix`.

/// The longest group name CloudWatch Logs takes.
pub const MAX_LEN: usize = 512;

/// Letters, digits and `_ . - / #`, 1 to 512 of them (CloudWatch Logs' `logGroupName`
/// pattern `[\.\-_/#A-Za-z0-9]+`; the CloudWatch agent's schema bounds the length alike).
pub fn check(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= MAX_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/' | b'#'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a CloudWatch Logs group name (1 to {MAX_LEN} of letters, digits, _ . - / #)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_pattern() {
        check("/imagekit/fleet-1/agent").unwrap();
        for bad in ["", "/imagekit/a b", "/imagekit/ü", &"x".repeat(513)] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
