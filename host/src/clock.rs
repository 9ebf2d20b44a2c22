//! Time as binyard stores it (milliseconds since the epoch) and renders it.

use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// ISO-8601 with milliseconds and offset, as Artifactory prints times ("2024-01-02T03:04:05.678Z").
/// Always three fraction digits: clients (artifactory-cleanup) sort these strings, and
/// RFC 3339's trimmed fraction (".1Z" after ".12Z") would put them out of time order.
pub fn iso8601(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(&fmt).unwrap_or_default()
}

/// An HTTP date (`Last-Modified`).
pub fn http_date(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(iso8601(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        // Whole seconds and round fractions keep three digits, so string order is time order.
        assert_eq!(iso8601(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
        assert_eq!(iso8601(1_700_000_000_100), "2023-11-14T22:13:20.100Z");
        assert!(iso8601(1_700_000_000_100) < iso8601(1_700_000_000_120));
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(http_date(1_700_000_000_123), "Tue, 14 Nov 2023 22:13:20 GMT");
    }
}
