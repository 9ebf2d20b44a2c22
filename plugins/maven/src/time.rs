//! UTC time stamps in the forms Maven and Artifactory write.

use binyard_plugin_sdk::time::utc;
pub use binyard_plugin_sdk::time::{iso8601, now_ms};

/// `yyyyMMddHHmmss`, as in `<lastUpdated>`.
pub fn stamp(ms: i64) -> String {
    let t = utc(ms);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps() {
        assert_eq!(stamp(0), "19700101000000");
        // 2026-11-22T12:00:00Z
        assert_eq!(stamp(1_795_348_800_000), "20261122120000");
        assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
    }
}
