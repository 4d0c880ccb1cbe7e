//! Timestamps that clients send, and the checked date arithmetic done with them.
//!
//! chrono accepts instants from about 262 000 years before to 262 000 years after the common
//! era, and its `+`/`-` operators panic when a result leaves that range. A panic inside a write
//! transaction is the worst failure this service can have, so every timestamp a client sends is
//! refused unless it is written with a year from 1970 to 9998 and, as an instant, lies at or
//! after 1970-01-01T00:00:00Z ([`parse_client`]), with a 422
//! pointing at the field (400 in a query), and date arithmetic goes through [`add_hours`] and friends, which
//! return `None` instead of panicking. With both in place no client value can reach an
//! overflowing operation.

use chrono::{DateTime, Months, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// The earliest instant a client may send: 1970-01-01T00:00:00Z.
pub fn earliest() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

/// The latest instant a client may send: 9999-12-31T23:59:59.999999Z.
pub fn latest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
        .single()
        .and_then(|t| t.checked_add_signed(TimeDelta::microseconds(999_999)))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Range of accepted client timestamps, in the words of error messages.
pub const RANGE_TEXT: &str =
    "are written with a year from 1970 to 9998 and lie at or after 1970-01-01T00:00:00Z";

/// Checks that a client's instant lies in the accepted range.
pub fn check(t: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if t < earliest() || t > latest() {
        Err(format!("{t} is out of range: timestamps {RANGE_TEXT}"))
    } else {
        Ok(t)
    }
}

/// Parses a timestamp a client sent: RFC 3339 with a `T` between date and time, written with
/// a year from 1970 to 9998 — what [`crate::formats::TIMESTAMP_PATTERN`] and
/// `format: date-time` describe — and, once parsed, an instant from 1970-01-01T00:00:00Z to
/// the end of 9999 in UTC ([`check`]). The text's year alone is not enough: with its offset,
/// `1970-01-01T00:00:00+23:59` is 1969-12-31T00:01:00Z. Whatever the offset, an accepted
/// instant has a four-digit year in UTC, so it is stored and returned as RFC 3339 too.
///
/// This is the one range check of client timestamps: every body field and query parameter
/// that takes one goes through [`bounded`] or [`bounded_opt`], which call it.
pub fn parse_client(text: &str) -> Result<DateTime<Utc>, String> {
    let year: Option<u32> = text.get(..4).and_then(|y| y.parse().ok());
    let has_t = matches!(text.as_bytes().get(10), Some(b'T' | b't'));
    let parsed = DateTime::parse_from_rfc3339(text)
        .ok()
        .filter(|_| has_t && text.as_bytes()[..4].iter().all(u8::is_ascii_digit));
    match (parsed, year) {
        (Some(t), Some(y)) if (1970..=9998).contains(&y) => {
            check(t.with_timezone(&Utc)).map_err(|_| {
                format!(
                    "`{text}` is out of range: it is {} in UTC, and timestamps {RANGE_TEXT}",
                    t.with_timezone(&Utc)
                        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                )
            })
        }
        (Some(_), _) => Err(format!("`{text}` is out of range: timestamps {RANGE_TEXT}")),
        (None, _) if text.parse::<DateTime<chrono::FixedOffset>>().is_ok() => Err(format!(
            "`{text}` is out of range: timestamps {RANGE_TEXT}, in RFC 3339"
        )),
        (None, _) => Err(format!(
            "`{text}` is not an RFC 3339 timestamp such as 2026-11-23T08:00:00Z"
        )),
    }
}

/// `t` plus `hours`, or `None` when either the span or the result is out of chrono's range.
pub fn add_hours(t: DateTime<Utc>, hours: i64) -> Option<DateTime<Utc>> {
    t.checked_add_signed(TimeDelta::try_hours(hours)?)
}

/// `t` plus `minutes`, or `None` out of range.
pub fn add_minutes(t: DateTime<Utc>, minutes: i64) -> Option<DateTime<Utc>> {
    t.checked_add_signed(TimeDelta::try_minutes(minutes)?)
}

/// `t` minus `days`, or `None` out of range.
pub fn sub_days(t: DateTime<Utc>, days: i64) -> Option<DateTime<Utc>> {
    t.checked_sub_signed(TimeDelta::try_days(days)?)
}

/// `t` plus `months` calendar months, or `None` out of range.
pub fn add_months(t: DateTime<Utc>, months: u32) -> Option<DateTime<Utc>> {
    t.checked_add_months(Months::new(months))
}

/// serde `with` module for a required client timestamp in the accepted range.
pub mod bounded {
    use super::*;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(t, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        parse_client(&text).map_err(serde::de::Error::custom)
    }
}

/// serde `with` module for an optional client timestamp in the accepted range (use it with
/// `#[serde(default)]`).
pub mod bounded_opt {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(t, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| parse_client(&t))
            .transpose()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(with = "bounded")]
        at: DateTime<Utc>,
        #[serde(default, with = "bounded_opt")]
        until: Option<DateTime<Utc>>,
    }

    fn parse(json: &str) -> Result<Probe, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn client_timestamps_outside_1970_to_9998_are_refused() {
        for bad in [
            "-262143-01-01T00:00:00Z",
            "+262142-12-31T23:59:59Z",
            "1969-12-31T23:59:59Z",
            "9999-12-31T23:59:59.999999Z",
            "+10000-01-01T00:00:00Z",
            "0279-09-25T22:48:37.5Z",
            "1970-01-01T00:00:00+23:59",
            "1970-01-01T00:30:00+01:00",
            "1970-01-01T00:00:00.999999+00:01",
        ] {
            assert!(parse(&format!(r#"{{"at": "{bad}"}}"#)).is_err(), "{bad}");
            assert!(
                parse(&format!(
                    r#"{{"at": "2026-01-01T00:00:00Z", "until": "{bad}"}}"#
                ))
                .is_err(),
                "{bad}"
            );
        }
        for good in [
            "1970-01-01T00:00:00Z",
            "1970-01-01T01:30:00+01:00",
            "1970-01-01T00:00:00-00:01",
            "9998-12-31T23:59:59.999999-10:00",
            "2026-12-01T10:00:00+02:00",
            "2026-12-01t10:00:00z",
        ] {
            let p = parse(&format!(r#"{{"at": "{good}", "until": null}}"#)).unwrap();
            assert!(p.until.is_none());
            assert_eq!(p.at, DateTime::parse_from_rfc3339(good).unwrap());
        }
    }

    /// The pattern the document shows for client timestamps accepts what the parser accepts.
    #[test]
    fn the_timestamp_pattern_is_the_rule() {
        let re = regex::Regex::new(crate::formats::TIMESTAMP_PATTERN).unwrap();
        for t in [
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00Z",
            "2026-11-23T08:00:00+02:00",
            "9998-12-31T23:59:59Z",
            "9999-01-01T00:00:00Z",
            "2026-11-23 08:00:00Z",
            "0135-03-30T03:58:11-10:31",
        ] {
            assert_eq!(re.is_match(t), parse_client(t).is_ok(), "{t}");
        }
    }

    #[test]
    fn arithmetic_at_the_edges_of_the_range_never_panics() {
        for t in [
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            latest(),
            earliest(),
        ] {
            for n in [i64::MIN, -1_000_000_000, -1, 0, 1, 1_000_000_000, i64::MAX] {
                let _ = add_hours(t, n);
                let _ = add_minutes(t, n);
                let _ = sub_days(t, n);
            }
            for m in [0, 1, u32::MAX] {
                let _ = add_months(t, m);
            }
        }
        assert_eq!(add_hours(DateTime::<Utc>::MAX_UTC, 1), None);
        assert_eq!(sub_days(DateTime::<Utc>::MIN_UTC, 1), None);
        assert_eq!(add_hours(latest(), 24).map(|t| t > latest()), Some(true));
    }
}
