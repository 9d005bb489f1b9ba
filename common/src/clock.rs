//! Timestamps in the one format the protocol uses: RFC 3339, UTC, milliseconds, `Z`.

use chrono::{SecondsFormat, Utc};

/// The current time as `2026-11-23T18:44:01.123Z`.
pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A time in milliseconds since the Unix epoch, in the same format.
pub fn rfc3339_of_millis(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Today's UTC date as `YYYYMMDD`.
pub fn today() -> String {
    Utc::now().format("%Y%m%d").to_string()
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_with_millis() {
        let ts = now_rfc3339();
        assert!(ts.ends_with('Z'), "{ts}");
        assert_eq!(ts.len(), "2026-11-23T18:44:01.123Z".len(), "{ts}");
        assert!(chrono::DateTime::parse_from_rfc3339(&ts).is_ok());
    }
}
