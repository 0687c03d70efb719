//! Incremental sync: the highest value of a record field (`updated_at`) seen in a
//! whole pass is kept in state as the high-water mark; the next pass sends it, minus
//! the look-back window, as a query parameter or `$since` in the body. The first
//! pass (no mark yet) is a full read.
//!
//! The mark only moves when a pass ends: during a pass the highest value seen so far
//! is kept under its own key, so that a pass interrupted and resumed from its cursor
//! in another run still sends the same lower bound on every page, and commits what
//! all its pages held. Both keys are committed by the host with each page.
//!
//! Values compare as numbers (epoch seconds or milliseconds), as RFC 3339 times
//! (`2026-01-02T03:04:05.123+01:00`, compared as instants), or else as text; a value
//! of another kind than the mark is passed over.

use std::cmp::Ordering;

use connector_sdk::host::state;
use serde_json::Value;

use crate::config::Incremental;

/// The state key of the committed high-water mark (JSON text of the value).
pub const MARK_KEY: &str = "http_json.since";
/// The state key of the highest value seen so far in the pass under way.
pub const PASS_KEY: &str = "http_json.since_pass";

/// The lower bound this pass sends: the committed mark minus the look-back; none on
/// the first pass.
pub fn since(inc: &Incremental) -> Option<Value> {
    let mark: Value = serde_json::from_str(&state::get(MARK_KEY)?).ok()?;
    Some(minus(&mark, inc.lookback_secs))
}

/// A new pass starts: forget what an abandoned pass saw.
pub fn start_pass() {
    state::delete(PASS_KEY);
}

/// Keeps the highest of `values` (one page's) as the pass's highest so far.
pub fn observe<'a>(values: impl Iterator<Item = &'a Value>) {
    let kept = state::get(PASS_KEY).and_then(|t| serde_json::from_str::<Value>(&t).ok());
    let mut best = kept.clone();
    for v in values {
        best = Some(match best {
            None if key(v).is_some() => v.clone(),
            None => continue,
            Some(b) => higher(b, v),
        });
    }
    if best != kept
        && let Some(b) = best
    {
        state::set(PASS_KEY, &b.to_string());
    }
}

/// The pass ended: the mark becomes the highest of the old mark and the pass's values.
pub fn end_pass() {
    let read = |k| state::get(k).and_then(|t| serde_json::from_str::<Value>(&t).ok());
    let mark = match (read(MARK_KEY), read(PASS_KEY)) {
        (Some(m), Some(p)) => Some(higher(m, &p)),
        (m, p) => m.or(p),
    };
    if let Some(m) = mark {
        state::set(MARK_KEY, &m.to_string());
    }
    state::delete(PASS_KEY);
}

/// The higher of `a` and `b`; `a` if they cannot be compared.
fn higher(a: Value, b: &Value) -> Value {
    let less = match (key(&a), key(b)) {
        (Some(Key::Number(x)), Some(Key::Number(y))) => x.partial_cmp(&y) == Some(Ordering::Less),
        (Some(Key::Instant(x)), Some(Key::Instant(y))) => x < y,
        (Some(Key::Text(x)), Some(Key::Text(y))) => x < y,
        _ => false,
    };
    if less { b.clone() } else { a }
}

/// A value as something that orders.
#[derive(Debug, PartialEq)]
enum Key {
    Number(f64),
    Instant(i128),
    Text(String),
}

fn key(v: &Value) -> Option<Key> {
    match v {
        Value::Number(n) => n.as_f64().map(Key::Number),
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(rfc3339_nanos(s).map_or_else(|| Key::Text(s.clone()), Key::Instant)),
        _ => None,
    }
}

/// `mark` moved back by `secs`: a time by seconds (written `YYYY-MM-DDTHH:MM:SSZ`), a
/// number by `secs` of its own unit; anything else, and a zero look-back, unchanged.
fn minus(mark: &Value, secs: u64) -> Value {
    if secs == 0 {
        return mark.clone();
    }
    match mark {
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::from(i.saturating_sub(secs as i64)),
            (None, Some(f)) => serde_json::Number::from_f64(f - secs as f64).map_or(mark.clone(), Value::Number),
            _ => mark.clone(),
        },
        Value::String(s) => match rfc3339_nanos(s) {
            // Rounded down to the second: the bound only ever moves back.
            Some(nanos) => Value::String(format_utc((nanos.div_euclid(1_000_000_000)) as i64 - secs as i64)),
            None => mark.clone(),
        },
        _ => mark.clone(),
    }
}

/// An RFC 3339 date-time as nanoseconds since the Unix epoch.
fn rfc3339_nanos(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes().all(|c| c.is_ascii_digit()).then(|| t.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[16] != b':'
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos: i128 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<9}", &frac[..digits.min(9)]);
        nanos = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            sign * (num(s.len() - 5..s.len() - 3)? * 3600 + num(s.len() - 2..s.len())? * 60)
        }
    };
    let secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
    Some(secs as i128 * 1_000_000_000 + nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
fn format_utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn times_parse_as_instants() {
        assert_eq!(rfc3339_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_nanos("2026-01-02T03:04:05Z"), Some(1_767_323_045_000_000_000));
        assert_eq!(rfc3339_nanos("2026-01-02T04:04:05.5+01:00"), Some(1_767_323_045_500_000_000));
        assert_eq!(rfc3339_nanos("2026-01-01T23:04:05-04:00"), rfc3339_nanos("2026-01-02T03:04:05Z"));
        for bad in ["2026-01-02", "2026-13-02T03:04:05Z", "2026-01-02T03:04:05", "2026-01-02T03:04:05.Z", "x"] {
            assert_eq!(rfc3339_nanos(bad), None, "{bad}");
        }
        assert_eq!(format_utc(1_767_323_045), "2026-01-02T03:04:05Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn the_higher_value_wins_by_kind() {
        let h = |a: Value, b: Value| higher(a, &b);
        assert_eq!(h(json!("2026-01-02T03:04:05Z"), json!("2026-01-02T04:04:04+01:00")), json!("2026-01-02T03:04:05Z"));
        assert_eq!(
            h(json!("2026-01-02T03:04:05Z"), json!("2026-01-02T03:04:05.001Z")),
            json!("2026-01-02T03:04:05.001Z")
        );
        assert_eq!(h(json!(9), json!(10)), json!(10));
        assert_eq!(h(json!("b"), json!("a")), json!("b"));
        assert_eq!(h(json!(9), json!("2026-01-02T03:04:05Z")), json!(9), "kinds do not mix");
        assert!(key(&json!(null)).is_none() && key(&json!("")).is_none());
    }

    #[test]
    fn the_lookback_moves_the_bound_back() {
        assert_eq!(minus(&json!("2026-01-02T03:04:05.900Z"), 0), json!("2026-01-02T03:04:05.900Z"));
        assert_eq!(minus(&json!("2026-01-02T03:04:05.900Z"), 3600), json!("2026-01-02T02:04:05Z"));
        assert_eq!(minus(&json!("2026-01-01T00:30:00+01:00"), 60), json!("2025-12-31T23:29:00Z"));
        assert_eq!(minus(&json!(1700000000), 300), json!(1699999700));
        assert_eq!(minus(&json!("v17"), 300), json!("v17"));
    }
}
