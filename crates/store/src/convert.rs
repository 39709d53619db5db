//! Conversions between model values and column values, with validation.
//!
//! Every time is stored as integer milliseconds since the Unix epoch (UTC) and every
//! duration as integer milliseconds, in both backends, so that range filters and
//! ordering are plain integer comparisons.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

use crate::error::{StoreError, StoreResult};
use crate::model::{PROFICIENCY_MAX, PROFICIENCY_MIN};

/// A timestamp as stored: whole milliseconds since the epoch.
pub(crate) fn millis(at: Timestamp) -> i64 {
    at.as_millisecond()
}

/// A stored timestamp read back.
pub(crate) fn timestamp(ms: i64) -> StoreResult<Timestamp> {
    Timestamp::from_millisecond(ms)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {ms} ms: {e}")))
}

/// An optional stored timestamp read back.
pub(crate) fn opt_timestamp(ms: Option<i64>) -> StoreResult<Option<Timestamp>> {
    ms.map(timestamp).transpose()
}

/// A duration as stored: whole milliseconds.
pub(crate) fn duration_millis(field: &'static str, d: Duration) -> StoreResult<i64> {
    i64::try_from(d.as_millis()).map_err(|_| StoreError::Invalid {
        field,
        reason: format!("{d:?} is too long"),
    })
}

/// An optional duration as stored.
pub(crate) fn opt_duration_millis(
    field: &'static str,
    d: Option<Duration>,
) -> StoreResult<Option<i64>> {
    d.map(|d| duration_millis(field, d)).transpose()
}

/// A stored duration read back.
pub(crate) fn duration(ms: i64) -> StoreResult<Duration> {
    u64::try_from(ms)
        .map(Duration::from_millis)
        .map_err(|_| StoreError::Corrupt(format!("negative duration {ms} ms")))
}

/// An optional stored duration read back.
pub(crate) fn opt_duration(ms: Option<i64>) -> StoreResult<Option<Duration>> {
    ms.map(duration).transpose()
}

/// Parses a stored enum text.
pub(crate) fn parse<T>(text: &str) -> StoreResult<T>
where
    T: std::str::FromStr<Err = crate::model::UnknownVariant>,
{
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("{e}")))
}

/// Parses an optional stored enum text.
pub(crate) fn opt_parse<T>(text: Option<&str>) -> StoreResult<Option<T>>
where
    T: std::str::FromStr<Err = crate::model::UnknownVariant>,
{
    text.map(parse).transpose()
}

/// Rejects an empty key (ids, names, numbers).
pub(crate) fn check_key(field: &'static str, key: &str) -> StoreResult<()> {
    if key.trim().is_empty() {
        return Err(StoreError::Invalid {
            field,
            reason: "must not be empty".to_owned(),
        });
    }
    Ok(())
}

/// Checks skill names and proficiencies (1–10).
pub(crate) fn check_skills(field: &'static str, skills: &BTreeMap<String, u8>) -> StoreResult<()> {
    for (skill, level) in skills {
        check_key(field, skill)?;
        if !(PROFICIENCY_MIN..=PROFICIENCY_MAX).contains(level) {
            return Err(StoreError::Invalid {
                field,
                reason: format!(
                    "proficiency {level} for {skill:?} is outside {PROFICIENCY_MIN}..={PROFICIENCY_MAX}"
                ),
            });
        }
    }
    Ok(())
}

/// A stored proficiency read back.
pub(crate) fn proficiency(level: i64) -> StoreResult<u8> {
    u8::try_from(level)
        .ok()
        .filter(|l| (PROFICIENCY_MIN..=PROFICIENCY_MAX).contains(l))
        .ok_or_else(|| StoreError::Corrupt(format!("proficiency {level}")))
}

/// A stored integer read back into a narrower type.
pub(crate) fn narrow<T: TryFrom<i64>>(what: &str, value: i64) -> StoreResult<T> {
    T::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_keep_whole_milliseconds() {
        let at = Timestamp::new(1_700_000_000, 123_456_789).expect("in range");
        let back = timestamp(millis(at)).expect("in range");
        assert_eq!(
            back,
            Timestamp::new(1_700_000_000, 123_000_000).expect("in range")
        );
    }

    #[test]
    fn out_of_range_values_are_reported_not_panicked() {
        assert!(matches!(timestamp(i64::MAX), Err(StoreError::Corrupt(_))));
        assert!(matches!(duration(-1), Err(StoreError::Corrupt(_))));
        assert!(matches!(proficiency(11), Err(StoreError::Corrupt(_))));
        assert!(matches!(
            duration_millis("x", Duration::MAX),
            Err(StoreError::Invalid { field: "x", .. })
        ));
    }

    #[test]
    fn skills_must_be_named_and_within_one_to_ten() {
        let ok = BTreeMap::from([("english".to_owned(), 1), ("billing".to_owned(), 10)]);
        assert!(check_skills("s", &ok).is_ok());
        for bad in [0u8, 11] {
            let skills = BTreeMap::from([("english".to_owned(), bad)]);
            assert!(check_skills("s", &skills).is_err(), "{bad}");
        }
        let unnamed = BTreeMap::from([(" ".to_owned(), 5)]);
        assert!(check_skills("s", &unnamed).is_err());
    }
}
