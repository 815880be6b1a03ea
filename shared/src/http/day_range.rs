//! `YYYY-MM-DD` day ranges in the practice's time zone, both days included, as UTC bounds.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::error::ApiError;

/// The longest range a query may ask for, in days (both ends included).
pub const MAX_DAYS: i64 = 366;

/// `[from 00:00, the day after to 00:00)` in `zone`, as UTC. A midnight that a daylight-saving
/// change skips starts at the first instant of the day instead.
pub fn bounds(from: NaiveDate, to: NaiveDate, zone: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    (start_of_day(from, zone), start_of_day(to + chrono::Days::new(1), zone))
}

pub fn start_of_day(day: NaiveDate, zone: Tz) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    (0..=3)
        .find_map(|hour| {
            zone.from_local_datetime(&(midnight + chrono::Duration::hours(hour)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| midnight.and_utc())
}

fn day(name: &str, value: Option<&str>) -> Result<NaiveDate, ApiError> {
    let value =
        value.ok_or_else(|| ApiError::bad_request("missing_date", format!("`{name}` is required (YYYY-MM-DD)")))?;
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .filter(|d| value.len() == 10 && (1900..=9999).contains(&chrono::Datelike::year(d)))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_date",
                format!("`{name}` must be a date written YYYY-MM-DD, not {value:?}"),
            )
        })
}

/// Reads and checks a range: both dates present and valid, in order, and at most [`MAX_DAYS`].
pub fn parse(
    from_name: &str,
    from: Option<&str>,
    to_name: &str,
    to: Option<&str>,
) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let (from_day, to_day) = (day(from_name, from)?, day(to_name, to)?);
    if to_day < from_day {
        return Err(ApiError::bad_request(
            "invalid_date_range",
            format!("`{to_name}` ({to_day}) is before `{from_name}` ({from_day})"),
        ));
    }
    if (to_day - from_day).num_days() + 1 > MAX_DAYS {
        return Err(ApiError::bad_request(
            "date_range_too_long",
            format!("a range covers at most {MAX_DAYS} days; ask for a shorter one"),
        ));
    }
    Ok((from_day, to_day))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_local_and_inclusive() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let (from, until) = bounds(d("2026-11-25"), d("2026-11-25"), chrono_tz::America::Toronto);
        assert_eq!(from.to_rfc3339(), "2026-11-25T05:00:00+00:00");
        assert_eq!(until.to_rfc3339(), "2026-11-26T05:00:00+00:00");
        // The day clocks go back is 25 hours long.
        let (from, until) = bounds(d("2026-11-01"), d("2026-11-01"), chrono_tz::America::Toronto);
        assert_eq!((until - from).num_hours(), 25);
    }

    #[test]
    fn bad_ranges_say_what_is_wrong() {
        let code = |a: Option<&str>, b: Option<&str>| parse("dateFrom", a, "dateTo", b).unwrap_err().code;
        assert_eq!(code(None, Some("2026-01-01")), "missing_date");
        assert_eq!(code(Some("2026-02-30"), Some("2026-03-01")), "invalid_date");
        assert_eq!(code(Some("2026-3-1"), Some("2026-03-01")), "invalid_date");
        assert_eq!(code(Some("2026-03-02"), Some("2026-03-01")), "invalid_date_range");
        assert_eq!(code(Some("2025-01-01"), Some("2026-01-02")), "date_range_too_long");
        assert!(parse("a", Some("2025-01-01"), "b", Some("2026-01-01")).is_ok());
    }
}
