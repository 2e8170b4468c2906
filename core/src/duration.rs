//! The one duration grammar of every flag and setting: a whole number with an optional unit
//! (`ms`, `s`, `m`, `h`, `d`, `w`); a bare number is seconds.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("{0:?} is not a duration: a whole number with an optional unit ms, s, m, h, d or w, such as 500ms, 10s, 12h or 30d")]
    Malformed(String),
    /// Where a slip costs much (`images prune --older-than` deletes), the unit must be said.
    #[error("{0:?} needs a unit (s, m, h, d or w), such as 30d: a bare number is refused here because it deletes")]
    UnitRequired(String),
}

const UNITS: [(&str, u64); 6] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 604_800_000),
];

/// Parses `10s`, `500ms`, `2m`, `30d`, or `10` (seconds).
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let malformed = || DurationError::Malformed(text.to_string());
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(malformed());
    }
    let n: u64 = digits.parse().map_err(|_| malformed())?;
    let unit = if unit.is_empty() { "s" } else { unit };
    let (_, millis) = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .ok_or_else(malformed)?;
    n.checked_mul(*millis)
        .map(Duration::from_millis)
        .ok_or_else(malformed)
}

/// As [`parse`], but a bare number is refused.
pub fn parse_with_unit(text: &str) -> Result<Duration, DurationError> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DurationError::UnitRequired(text.to_string()));
    }
    parse(text)
}

/// The shortest exact spelling in the same grammar (`30d`, `90m`, `1500ms`).
pub fn format(d: Duration) -> String {
    let millis = d.as_millis();
    for (unit, size) in UNITS.iter().rev() {
        let size = u128::from(*size);
        if millis >= size && millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        let secs = Duration::from_secs;
        for (text, want) in [
            ("10", secs(10)),
            ("10s", secs(10)),
            ("250ms", Duration::from_millis(250)),
            ("2m", secs(120)),
            ("12h", secs(43_200)),
            ("30d", secs(2_592_000)),
            ("2w", secs(1_209_600)),
            ("0", secs(0)),
        ] {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
        for bad in [
            "",
            "s",
            "-1s",
            "1.5s",
            " 1s",
            "1 s",
            "1y",
            "1S",
            "99999999999999999999w",
        ] {
            assert_eq!(
                parse(bad),
                Err(DurationError::Malformed(bad.into())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn unit_required_refuses_a_bare_number_only() {
        assert_eq!(
            parse_with_unit("10"),
            Err(DurationError::UnitRequired("10".into()))
        );
        assert_eq!(parse_with_unit("10d"), Ok(Duration::from_secs(864_000)));
        assert!(matches!(
            parse_with_unit("x"),
            Err(DurationError::Malformed(_))
        ));
    }

    #[test]
    fn format_round_trips() {
        for text in ["30d", "2w", "90m", "1500ms", "45s", "0ms"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
