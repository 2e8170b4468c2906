//! The watch's settings in the boot config: how often the instance's metadata is read, and
//! whether the group replaces rebalanced instances itself.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use imagekit_core::duration;

/// How often the watch reads one metadata item, in the one duration grammar (`2s`, `500ms`).
///
/// Bounded both ways: below 100 ms the watch costs more than it saves; above 30 s a spot
/// instance's two-minute notice (AWS recommends checking every 5 s) could be missed by most of
/// its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchInterval(Duration);

impl WatchInterval {
    pub const MIN: Duration = Duration::from_millis(100);
    pub const MAX: Duration = Duration::from_secs(30);
    /// One small request every 2 s: a spot notice is read within 4 s (see `watch::schedule`).
    pub const DEFAULT: WatchInterval = WatchInterval(Duration::from_secs(2));

    pub fn parse(text: &str) -> Result<WatchInterval, String> {
        let d = duration::parse(text).map_err(|e| e.to_string())?;
        if !(Self::MIN..=Self::MAX).contains(&d) {
            return Err(format!(
                "{text:?} is out of range: the watch reads the metadata every 100ms to 30s (default {})",
                duration::format(Self::DEFAULT.0)
            ));
        }
        Ok(WatchInterval(d))
    }

    pub fn get(self) -> Duration {
        self.0
    }
}

impl Default for WatchInterval {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Serialize for WatchInterval {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&duration::format(self.0))
    }
}

impl<'de> Deserialize<'de> for WatchInterval {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        WatchInterval::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_and_its_bounds() {
        assert_eq!(
            WatchInterval::parse("250ms").unwrap().get(),
            Duration::from_millis(250)
        );
        assert_eq!(
            WatchInterval::parse("5").unwrap().get(),
            Duration::from_secs(5)
        );
        for bad in ["50ms", "31s", "1m"] {
            let err = WatchInterval::parse(bad).unwrap_err();
            assert!(err.contains("out of range"), "{bad}: {err}");
        }
        assert!(WatchInterval::parse("soon")
            .unwrap_err()
            .contains("not a duration"));
    }

    #[test]
    fn it_reads_back_as_written() {
        let i: WatchInterval = serde_json::from_str(r#""1500ms""#).unwrap();
        assert_eq!(serde_json::to_string(&i).unwrap(), r#""1500ms""#);
    }
}
