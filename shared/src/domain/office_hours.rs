//! A practice's weekly opening hours, read in its own time zone.
//!
//! Written by people as `Mon-Fri 08:00-17:00; Sat 09:00-12:00` and stored as JSON
//! (`{"mon": [["08:00","17:00"]], ...}`) so they can be edited in the database.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

const DAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("office hours {0}; expected e.g. \"Mon-Fri 08:00-17:00; Sat 09:00-12:00\"")]
pub struct OfficeHoursError(String);

/// Opening intervals per weekday, Monday first. An interval is [open, close).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OfficeHours {
    days: [Vec<(NaiveTime, NaiveTime)>; 7],
}

impl OfficeHours {
    pub fn parse(spec: &str) -> Result<Self, OfficeHoursError> {
        let mut hours = Self::default();
        for clause in spec.split([';', ',']).map(str::trim).filter(|c| !c.is_empty()) {
            let (days, times) = clause
                .split_once(char::is_whitespace)
                .ok_or_else(|| OfficeHoursError(format!("clause {clause:?} needs days and times")))?;
            let range = parse_day_range(days)?;
            let interval = parse_interval(times.trim())?;
            for day in range {
                hours.days[day].push(interval);
                hours.days[day].sort();
            }
        }
        Ok(hours)
    }

    fn intervals(&self, day: Weekday) -> &[(NaiveTime, NaiveTime)] {
        &self.days[day.num_days_from_monday() as usize]
    }

    pub fn is_open(&self, local: NaiveDateTime, holidays: &[NaiveDate]) -> bool {
        if holidays.contains(&local.date()) {
            return false;
        }
        let time = local.time();
        self.intervals(local.weekday())
            .iter()
            .any(|(open, close)| *open <= time && time < *close)
    }

    /// The next moment the office opens after `local` (strictly later), within two weeks.
    pub fn next_opening(&self, local: NaiveDateTime, holidays: &[NaiveDate]) -> Option<NaiveDateTime> {
        (0..15).find_map(|offset| {
            let date = local.date() + Duration::days(offset);
            if holidays.contains(&date) {
                return None;
            }
            self.intervals(date.weekday())
                .iter()
                .map(|(open, _)| date.and_time(*open))
                .find(|start| *start > local)
        })
    }

    /// "Mon–Fri 8:00 AM–5:00 PM; Sat 9:00 AM–12:00 PM": consecutive days with the same hours grouped.
    pub fn describe(&self) -> String {
        let mut groups: Vec<(usize, usize)> = Vec::new();
        for day in 0..7 {
            if self.days[day].is_empty() {
                continue;
            }
            match groups.last_mut() {
                Some((_, end)) if *end + 1 == day && self.days[*end] == self.days[day] => *end = day,
                _ => groups.push((day, day)),
            }
        }
        if groups.is_empty() {
            return "by appointment only".to_string();
        }
        groups
            .iter()
            .map(|&(start, end)| {
                let days = if start == end {
                    short(start).to_string()
                } else {
                    format!("{}–{}", short(start), short(end))
                };
                let times: Vec<String> = self.days[start]
                    .iter()
                    .map(|(o, c)| format!("{}–{}", clock(*o), clock(*c)))
                    .collect();
                format!("{days} {}", times.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// "today at 8:00 AM", "tomorrow at 8:00 AM" or "Monday at 8:00 AM".
pub fn describe_opening(now: NaiveDateTime, opening: NaiveDateTime) -> String {
    let days = (opening.date() - now.date()).num_days();
    let day = match days {
        0 => "today".to_string(),
        1 => "tomorrow".to_string(),
        2..=6 => DAY_NAMES[opening.weekday().num_days_from_monday() as usize].to_string(),
        _ => opening.format("%A, %B %-d").to_string(),
    };
    format!("{day} at {}", clock(opening.time()))
}

fn short(day: usize) -> &'static str {
    &DAY_NAMES[day][..3]
}

fn clock(time: NaiveTime) -> String {
    time.format("%-I:%M %p").to_string()
}

fn parse_day(s: &str) -> Result<usize, OfficeHoursError> {
    let key = s.trim().to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .position(|name| key.len() >= 3 && name.to_ascii_lowercase().starts_with(&key))
        .ok_or_else(|| OfficeHoursError(format!("has an unknown day {s:?}")))
}

fn parse_day_range(s: &str) -> Result<std::ops::RangeInclusive<usize>, OfficeHoursError> {
    match s.split_once('-') {
        Some((from, to)) => {
            let (from, to) = (parse_day(from)?, parse_day(to)?);
            if from > to {
                return Err(OfficeHoursError(format!("has a backwards day range {s:?}")));
            }
            Ok(from..=to)
        }
        None => {
            let day = parse_day(s)?;
            Ok(day..=day)
        }
    }
}

fn parse_time(s: &str) -> Result<NaiveTime, OfficeHoursError> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map_err(|_| OfficeHoursError(format!("has a bad time {s:?} (use 24-hour HH:MM)")))
}

fn parse_interval(s: &str) -> Result<(NaiveTime, NaiveTime), OfficeHoursError> {
    let (open, close) = s
        .split_once('-')
        .ok_or_else(|| OfficeHoursError(format!("has a bad interval {s:?}")))?;
    let (open, close) = (parse_time(open)?, parse_time(close)?);
    if open >= close {
        return Err(OfficeHoursError(format!("interval {s:?} closes before it opens")));
    }
    Ok((open, close))
}

/// Stored form: `{"mon": [["08:00","17:00"]], ...}`; days without hours are omitted.
impl Serialize for OfficeHours {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&str, Vec<[String; 2]>> = (0..7)
            .filter(|d| !self.days[*d].is_empty())
            .map(|d| {
                let intervals = self.days[d]
                    .iter()
                    .map(|(o, c)| [o.format("%H:%M").to_string(), c.format("%H:%M").to_string()])
                    .collect();
                (DAY_KEYS[d], intervals)
            })
            .collect();
        map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for OfficeHours {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, Vec<[String; 2]>>::deserialize(d)?;
        let mut hours = Self::default();
        for (day, intervals) in map {
            let index = DAY_KEYS
                .iter()
                .position(|k| *k == day)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown day {day:?}")))?;
            for [open, close] in intervals {
                let interval = parse_interval(&format!("{open}-{close}")).map_err(serde::de::Error::custom)?;
                hours.days[index].push(interval);
            }
            hours.days[index].sort();
        }
        Ok(hours)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str, time: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(&format!("{date} {time}"), "%Y-%m-%d %H:%M").unwrap()
    }

    fn weekdays() -> OfficeHours {
        OfficeHours::parse("Mon-Fri 08:00-17:00; Sat 09:00-12:00").unwrap()
    }

    #[test]
    fn open_and_closed_by_weekday_and_time() {
        let hours = weekdays();
        // 2026-11-25 is a Wednesday.
        assert!(hours.is_open(at("2026-11-25", "08:00"), &[]));
        assert!(!hours.is_open(at("2026-11-25", "17:00"), &[]));
        assert!(!hours.is_open(at("2026-11-29", "10:00"), &[]), "Sunday");
        assert!(hours.is_open(at("2026-11-28", "11:59"), &[]), "Saturday");
        let holiday = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        assert!(!hours.is_open(at("2026-11-25", "10:00"), &[holiday]));
    }

    #[test]
    fn next_opening_skips_closed_days_and_holidays() {
        let hours = weekdays();
        assert_eq!(
            hours.next_opening(at("2026-11-25", "18:00"), &[]),
            Some(at("2026-11-26", "08:00"))
        );
        assert_eq!(
            hours.next_opening(at("2026-11-28", "13:00"), &[]),
            Some(at("2026-11-30", "08:00"))
        );
        assert_eq!(
            hours.next_opening(at("2026-11-25", "06:00"), &[]),
            Some(at("2026-11-25", "08:00"))
        );
        let thursday = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        assert_eq!(
            hours.next_opening(at("2026-11-25", "18:00"), &[thursday]),
            Some(at("2026-11-27", "08:00"))
        );
        assert_eq!(
            OfficeHours::default().next_opening(at("2026-11-25", "18:00"), &[]),
            None
        );
    }

    #[test]
    fn describes_hours_and_openings_for_people() {
        assert_eq!(weekdays().describe(), "Mon–Fri 8:00 AM–5:00 PM; Sat 9:00 AM–12:00 PM");
        assert_eq!(
            describe_opening(at("2026-11-25", "18:00"), at("2026-11-26", "08:00")),
            "tomorrow at 8:00 AM"
        );
        assert_eq!(
            describe_opening(at("2026-11-28", "13:00"), at("2026-11-30", "08:00")),
            "Monday at 8:00 AM"
        );
        assert_eq!(
            describe_opening(at("2026-11-25", "06:00"), at("2026-11-25", "08:00")),
            "today at 8:00 AM"
        );
    }

    #[test]
    fn round_trips_through_json_and_rejects_nonsense() {
        let hours = weekdays();
        let json = serde_json::to_value(&hours).unwrap();
        assert_eq!(json["mon"], serde_json::json!([["08:00", "17:00"]]));
        assert_eq!(serde_json::from_value::<OfficeHours>(json).unwrap(), hours);
        assert!(OfficeHours::parse("Mon-Fri 17:00-08:00").is_err());
        assert!(OfficeHours::parse("Funday 08:00-17:00").is_err());
        assert!(OfficeHours::parse("Fri-Mon 08:00-17:00").is_err());
        assert!(OfficeHours::parse("Mon 8am-5pm").is_err());
    }
}
