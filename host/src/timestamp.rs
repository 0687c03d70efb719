//! The one way the host writes a time: RFC 3339, UTC, with milliseconds
//! (`2026-11-22T10:00:00.123Z`), in envelopes, reports, events and the store.
//! Times written so sort as text in time order.

use std::time::SystemTime;

/// `at` as RFC 3339 UTC with milliseconds. A time outside years 0000–9999 (an
/// operator's `poll_interval` of centuries, say) is written as the nearest end of
/// that range rather than failing.
pub fn format(at: SystemTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    let epoch = time::OffsetDateTime::UNIX_EPOCH;
    let at = match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => time::Duration::try_from(after).ok().and_then(|d| epoch.checked_add(d)),
        Err(before) => time::Duration::try_from(before.duration()).ok().and_then(|d| epoch.checked_sub(d)),
    };
    let in_range = |t: &time::OffsetDateTime| (0..=9999).contains(&t.year());
    match at.filter(in_range) {
        Some(t) => t.format(&format).expect("a time of years 0000-9999 formats"),
        None if at.is_some_and(|t| t.year() < 0) => "0000-01-01T00:00:00.000Z".to_string(),
        None => "9999-12-31T23:59:59.999Z".to_string(),
    }
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
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(400_000 * 365 * 86_400);
        assert_eq!(format(far), "9999-12-31T23:59:59.999Z");
    }
}
