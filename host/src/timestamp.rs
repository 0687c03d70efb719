//! The one way the host writes a time: RFC 3339, UTC, with milliseconds
//! (`2026-11-22T10:00:00.123Z`), in envelopes, reports, events and the store.
//! Times written so sort as text in time order.

use std::time::SystemTime;

/// `at` as RFC 3339 UTC with milliseconds.
pub fn format(at: SystemTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::from(at).format(&format).expect("a time of this era formats")
}

/// The current time as RFC 3339 UTC with milliseconds.
pub fn now() -> String {
    format(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn milliseconds_in_utc() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_763_805_600_123);
        assert_eq!(format(at), "2025-11-22T10:00:00.123Z");
        assert_eq!(format(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }
}
