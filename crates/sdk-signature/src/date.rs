//! `X-Sdk-Date`: `YYYYMMDDTHHMMSSZ` in UTC, parsed strictly and formatted.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch of a strict `YYYYMMDDTHHMMSSZ`. Checked by hand
/// because format parsers accept shorter fields, and the string to sign uses
/// the header as sent, so only the canonical form may pass.
pub(crate) fn parse_sdk_date(value: &str) -> Option<i64> {
    let b = value.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(digits(0..4)?).ok()?;
    let date = chrono::NaiveDate::from_ymd_opt(year, digits(4..6)?, digits(6..8)?)?;
    let time = date.and_hms_opt(digits(9..11)?, digits(11..13)?, digits(13..15)?)?;
    Some(time.and_utc().timestamp())
}

/// `at` as an `X-Sdk-Date` value (a time before the epoch becomes the epoch:
/// no server would accept either).
pub(crate) fn format_sdk_date(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn formats_and_parses_alike() {
        let at = UNIX_EPOCH + Duration::from_secs(1_706_690_700);
        assert_eq!(format_sdk_date(at), "20240131T084500Z");
        assert_eq!(parse_sdk_date("20240131T084500Z"), Some(1_706_690_700));
    }

    #[test]
    fn only_the_canonical_form_parses() {
        for date in [
            "2024-01-31T08:45:00Z",
            "20240131T084500",
            "2024131T0845000Z",
            "20241331T084500Z",
            "20240131T250000Z",
            "+0240131T084500Z",
            "20240131 084500Z",
        ] {
            assert_eq!(parse_sdk_date(date), None, "{date}");
        }
    }
}
