//! The one rule for what a region name looks like, applied by every command before any AWS call.
//!
//! A region is `<2-letter area>-<one or two lowercase words>-<number>`: `us-east-1`,
//! `ap-southeast-4`, `us-gov-west-1`, `cn-north-1`. The rule is about shape only: a well-formed
//! name that AWS does not have is found out by the first call to it (an unreachable endpoint).

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a region name like us-east-1 or us-gov-west-1")]
pub struct RegionError(pub String);

/// Checks the shape of a region name.
pub fn check(name: &str) -> Result<(), RegionError> {
    if is_region(name) {
        Ok(())
    } else {
        Err(RegionError(name.to_string()))
    }
}

pub fn is_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    let lower = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    (3..=4).contains(&parts.len())
        && words[0].len() == 2
        && words.iter().all(lower)
        && (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
        && !number.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same table runs through every command in the integration tests
    /// (tests/regions.rs); this one pins the rule itself.
    #[test]
    fn shapes() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-4",
            "cn-north-1",
            "il-central-1",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in [
            "",
            "us",
            "us-east",
            "usa-east-1",
            "US-EAST-1",
            "us_east_1",
            "us-east-1a",
            "us-east-0",
            "us-east-100",
            "-east-1",
            "us--1",
            "*",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }

    #[test]
    fn error_names_the_value() {
        assert_eq!(
            check("usa-east-1").unwrap_err().to_string(),
            "\"usa-east-1\" is not a region name like us-east-1 or us-gov-west-1"
        );
    }
}
