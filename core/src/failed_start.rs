//! The failed-start mark on an ASG, shared by the bootstrap (which sets and clears it) and
//! `imagekit scale` (which backs off a marked group): its tag and its value.

use std::time::{Duration, SystemTime};

/// The tag on the ASG.
pub const TAG: &str = "imagekit:failed-start";

/// When the last failed start was, and how many came in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub at: SystemTime,
    pub count: u32,
}

impl Mark {
    /// `<unix seconds of the last failed start> <count>`; `None` for anything else (a tag edited by hand is no mark).
    pub fn parse(value: &str) -> Option<Mark> {
        let (at, count) = value.split_once(' ')?;
        let secs: u64 = at.parse().ok()?;
        Some(Mark {
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            count: count.parse().ok().filter(|c| *c > 0)?,
        })
    }

    /// How long the scaler leaves the group alone after this mark: `base` doubled for each
    /// failed start after the first, at most `cap`.
    pub fn backoff(&self, base: Duration, cap: Duration) -> Duration {
        let doublings = self.count.saturating_sub(1).min(31);
        base.saturating_mul(1u32 << doublings).min(cap)
    }

    /// When the backoff ends.
    pub fn until(&self, base: Duration, cap: Duration) -> SystemTime {
        self.at + self.backoff(base, cap)
    }
}

impl std::fmt::Display for Mark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self
            .at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        write!(f, "{secs} {}", self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_reads_back_and_backs_off_exponentially_to_the_cap() {
        let mark = Mark::parse("1700000000 3").unwrap();
        assert_eq!(mark.to_string(), "1700000000 3");
        let (base, cap) = (Duration::from_secs(60), Duration::from_secs(1800));
        let backoffs: Vec<u64> = [1, 2, 3, 4, 5, 6, 100]
            .map(|count| Mark { count, ..mark }.backoff(base, cap).as_secs())
            .to_vec();
        assert_eq!(backoffs, [60, 120, 240, 480, 960, 1800, 1800]);
        for bad in ["", "1700000000", "x 1", "1700000000 0", "1700000000 -1"] {
            assert!(Mark::parse(bad).is_none(), "{bad}");
        }
    }
}
