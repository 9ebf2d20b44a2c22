//! The dates and periods queries carry: ISO-8601 in the forms clients send
//! (`2024-01-02`, `2024-01-02T03:04:05`, `…05.678Z`, `…+02:00`, `…+0200`, Python's
//! microseconds), milliseconds since the epoch, and `$last` periods (`3d`, `2w`).

use time::{Date, PrimitiveDateTime, Time};

/// Milliseconds since the epoch of a date string (UTC when it has no offset).
pub fn parse(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(ms) = crate::builds::model::parse_date(s) {
        return Some(ms);
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    // No offset: read as UTC.
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let date = Date::parse(date, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    let t = match time {
        None => Time::MIDNIGHT,
        Some(t) => {
            let (hms, frac) = t.split_once('.').unwrap_or((t, ""));
            let mut parts = hms.split(':').map(|p| p.parse::<u8>().ok());
            let h = parts.next().flatten()?;
            let m = parts.next().flatten().unwrap_or(0);
            let sec = parts.next().flatten().unwrap_or(0);
            if parts.next().is_some() || !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
                return None;
            }
            let nanos: u32 = if frac.is_empty() {
                0
            } else {
                format!("{frac:0<9}").parse().ok()?
            };
            Time::from_hms_nano(h, m, sec, nanos).ok()?
        }
    };
    let at = PrimitiveDateTime::new(date, t).assume_utc();
    Some((at.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// A `$last`/`$before` period in milliseconds: a number and a unit (ms, s, mi/minutes,
/// h, d, w, mo, y and their long forms); a bare number is days.
pub fn period_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().ok()?;
    let unit_ms: i64 = match unit.trim() {
        "ms" | "millis" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1000,
        "mi" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "" | "d" | "day" | "days" => 86_400_000,
        "w" | "week" | "weeks" => 7 * 86_400_000,
        "mo" | "month" | "months" => 30 * 86_400_000,
        "y" | "year" | "years" => 365 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}

/// RFC 3339 of milliseconds, for tests.
#[cfg(test)]
fn rfc(ms: i64) -> String {
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let z = parse("2024-01-02T03:04:05.678Z").unwrap();
        assert_eq!(parse("2024-01-02T03:04:05.678+0000"), Some(z));
        assert_eq!(parse("2024-01-02T05:04:05.678+02:00"), Some(z));
        assert_eq!(parse("2024-01-02T03:04:05.678000"), Some(z));
        assert_eq!(parse("2024-01-02 03:04:05.678"), Some(z));
        assert_eq!(parse("2024-01-02"), Some(z - (3 * 3600 + 4 * 60 + 5) * 1000 - 678));
        assert_eq!(parse(&z.to_string()), Some(z));
        assert_eq!(rfc(z), "2024-01-02T03:04:05.678Z");
        assert!(parse("soon").is_none());
        assert!(parse("2024-13-01").is_none());
        assert_eq!(period_ms("3d"), Some(3 * 86_400_000));
        assert_eq!(period_ms("2minutes"), Some(120_000));
        assert!(period_ms("x").is_none());
    }
}
