//! How reliable a piece of evidence is (seed 002): the connector's `confidence` and
//! `authority`, the host's `freshness`, and their weighted sum.
//!
//! The connector claims the first two, and the host checks that they are numbers
//! in [0, 1]. Freshness is the host's alone, computed from the evidence's date with
//! the manifest's half-life, and so is the score: no connector can inflate either.

use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The weight of the connector's confidence in the score.
pub const CONFIDENCE_WEIGHT: f64 = 0.4;
/// The weight of the host's freshness in the score.
pub const FRESHNESS_WEIGHT: f64 = 0.3;
/// The weight of the connector's authority in the score.
pub const AUTHORITY_WEIGHT: f64 = 0.3;

/// The reliability of one piece of evidence: `metadata.reliability` of its envelope.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Reliability {
    /// The connector's confidence that it matches, in [0, 1].
    pub confidence: f64,
    /// How fresh it is, in [0, 1]: the host's, from its date.
    pub freshness: f64,
    /// The source's authority, in [0, 1].
    pub authority: f64,
    /// `0.4·confidence + 0.3·freshness + 0.3·authority`.
    pub score: f64,
}

impl Reliability {
    /// Combines the three, each already in [0, 1].
    pub fn new(confidence: f64, freshness: f64, authority: f64) -> Reliability {
        let score = CONFIDENCE_WEIGHT * confidence + FRESHNESS_WEIGHT * freshness + AUTHORITY_WEIGHT * authority;
        Reliability {
            confidence,
            freshness: rounded(freshness),
            authority,
            // The sum of three products has float noise (0.30000000000000004); six
            // decimals are more than a ranking tells apart.
            score: rounded(score),
        }
    }
}

fn rounded(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// A value the connector claims is in [0, 1], checked: `what` names it in the error.
pub fn unit(what: &str, value: f64) -> Result<f64, String> {
    if value.is_nan() {
        return Err(format!("{what} is NaN; it must be a number from 0 to 1"));
    }
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("{what} is {value}; it must be from 0 to 1"));
    }
    Ok(value)
}

/// The time of an evidence's `created-at`, which must be RFC 3339.
pub fn parse_date(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        format!(
            "created-at `{}` is not an RFC 3339 time (like 2026-03-29T10:00:00Z)",
            crate::untrusted::Shown::id(text)
        )
    })
}

/// How fresh evidence created at `created` is at `now`: `0.5^(age / half_life)`, so
/// 1 when new, ½ at one half-life, ¼ at two. Evidence dated in the future counts as
/// new (the source's clock, or its time zone, may be off); undated evidence earns no
/// freshness, or leaving the date out would be the way to look new.
pub fn freshness(created: Option<OffsetDateTime>, now: OffsetDateTime, half_life: Duration) -> f64 {
    let Some(created) = created else { return 0.0 };
    let age = (now - created).as_seconds_f64().max(0.0);
    0.5f64.powf(age / half_life.as_secs_f64())
}

/// A half-life of `days` days.
pub fn half_life(days: f64) -> Duration {
    Duration::from_secs_f64(days * 86_400.0)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn the_score_is_the_seeds_weighted_sum() {
        let r = Reliability::new(0.9, 0.5, 0.7);
        assert_eq!(r.score, 0.4 * 0.9 + 0.3 * 0.5 + 0.3 * 0.7);
        assert_eq!(Reliability::new(1.0, 1.0, 1.0).score, 1.0);
        assert_eq!(Reliability::new(0.0, 0.0, 0.0).score, 0.0);
        assert_eq!(Reliability::new(0.5, 0.0, 0.0).score, 0.2);
        assert_eq!(Reliability::new(0.0, 0.0, 1.0).score, 0.3);
    }

    #[test]
    fn freshness_halves_every_half_life() {
        let now = datetime!(2026-12-01 00:00 UTC);
        let year = half_life(365.0);
        let at = |t| freshness(Some(t), now, year);
        assert_eq!(at(now), 1.0);
        assert!((at(datetime!(2025-12-01 00:00 UTC)) - 0.5).abs() < 1e-12);
        assert!((at(datetime!(2024-12-01 00:00 UTC)) - 0.25).abs() < 1e-3, "{}", at(datetime!(2024-12-01 00:00 UTC)));
        // A month old: a little less than new, more than a year old.
        let month = at(datetime!(2026-11-01 00:00 UTC));
        assert!(month < 1.0 && month > 0.9, "{month}");
        // The half-life is the manifest's.
        let short = freshness(Some(datetime!(2026-11-01 00:00 UTC)), now, half_life(30.0));
        assert!((short - 0.5).abs() < 1e-12, "{short}");
    }

    #[test]
    fn future_dates_count_as_new_and_undated_as_stale() {
        let now = datetime!(2026-12-01 00:00 UTC);
        assert_eq!(freshness(Some(datetime!(2030-01-01 00:00 UTC)), now, half_life(365.0)), 1.0);
        assert_eq!(freshness(None, now, half_life(365.0)), 0.0);
    }

    #[test]
    fn claimed_values_outside_the_unit_interval_are_refused_by_name() {
        assert_eq!(unit("confidence", 0.25), Ok(0.25));
        assert_eq!(unit("confidence", 0.0), Ok(0.0));
        assert_eq!(unit("authority", 1.0), Ok(1.0));
        assert_eq!(unit("confidence", 7.0).unwrap_err(), "confidence is 7; it must be from 0 to 1");
        assert_eq!(unit("authority", -0.5).unwrap_err(), "authority is -0.5; it must be from 0 to 1");
        assert_eq!(unit("confidence", f64::NAN).unwrap_err(), "confidence is NaN; it must be a number from 0 to 1");
        assert!(unit("confidence", f64::INFINITY).unwrap_err().starts_with("confidence is inf"));
    }

    #[test]
    fn dates_must_be_rfc_3339() {
        assert_eq!(parse_date("2026-03-27T09:26:22Z").unwrap(), datetime!(2026-03-27 09:26:22 UTC));
        assert_eq!(parse_date("2026-03-27T11:26:22+02:00").unwrap(), datetime!(2026-03-27 09:26:22 UTC));
        let e = parse_date("yesterday\u{1b}[2J").unwrap_err();
        assert!(e.starts_with("created-at `yesterday"), "{e}");
        assert!(!e.contains('\u{1b}'), "escaped: {e}");
    }
}
