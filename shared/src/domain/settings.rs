//! An admin's edit of the practice's settings (`PUT /api/voip/settings`): read from JSON and
//! checked field by field before anything is written, so bad input is a 400 naming the field and
//! never reaches the database's own checks.

use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::auto_reply::PLACEHOLDERS;
use super::field_error::{self as field, FieldError};
use super::office_hours::OfficeHours;
use super::phone::PhoneNumber;

pub const DAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
pub const MAX_NAME: usize = 200;
pub const MAX_ADDRESS: usize = 300;
pub const MAX_AFTER_HOURS_NOTE: usize = 500;
/// The database's limit on the missed-call text (0009's CHECK).
pub const MAX_MISSED_CALL_TEXT: usize = 640;
pub const MAX_HOLIDAYS: usize = 366;
pub const MAX_INTERVALS_PER_DAY: usize = 6;
pub const QUIET_HOURS: std::ops::RangeInclusive<i32> = 0..=168;
pub const MISSED_CALL_MINUTES: std::ops::RangeInclusive<i32> = 1..=1440;
/// The missed-call text's one placeholder (see `calls::text_back`).
pub const MISSED_CALL_PLACEHOLDERS: [&str; 1] = ["practice"];

/// What a PUT changes; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsChange {
    pub name: Option<String>,
    /// `Some(None)` clears it. E.164.
    pub phone: Option<Option<String>>,
    pub address: Option<Option<String>>,
    pub timezone: Option<Tz>,
    pub office_hours: Option<OfficeHours>,
    /// Sorted, without duplicates.
    pub holidays: Option<Vec<NaiveDate>>,
    pub quiet_hours: Option<i32>,
    /// The empty string is no note.
    pub after_hours_note: Option<String>,
    pub missed_call_enabled: Option<bool>,
    pub missed_call_text: Option<String>,
    pub missed_call_minutes: Option<i32>,
}

impl SettingsChange {
    /// Reads and checks a PUT body: any non-empty subset of the settings.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, FieldError> {
        if body.is_empty() {
            return Err(FieldError::body(
                "the body changes nothing: give at least one setting (e.g. {\"officeHours\": …})",
            ));
        }
        let mut change = Self::default();
        for (key, value) in body {
            match key.as_str() {
                "name" => change.name = Some(field::text("name", field::string("name", value)?, MAX_NAME)?),
                "phone" => change.phone = Some(phone(value)?),
                "address" => {
                    change.address = Some(match field::nullable_string("address", value)? {
                        Some(text) if !text.trim().is_empty() => Some(field::text("address", text, MAX_ADDRESS)?),
                        _ => None,
                    })
                }
                "timezone" => change.timezone = Some(timezone(value)?),
                "officeHours" => change.office_hours = Some(office_hours(value)?),
                "holidays" => change.holidays = Some(holidays(value)?),
                "quietHours" => change.quiet_hours = Some(field::integer("quietHours", value, QUIET_HOURS)?),
                "afterHoursNote" => change.after_hours_note = Some(after_hours_note(value)?),
                "missedCallTextBack" => change.missed_call(value)?,
                "practiceId" => return Err(FieldError::new("practiceId", "cannot be changed")),
                other => return Err(FieldError::new(other, "is not a setting")),
            }
        }
        Ok(change)
    }

    fn missed_call(&mut self, value: &Value) -> Result<(), FieldError> {
        let object = field::object("missedCallTextBack", value)?;
        if object.is_empty() {
            return Err(FieldError::new(
                "missedCallTextBack",
                "give at least one of enabled, text, minutes",
            ));
        }
        for (key, value) in object {
            let name = format!("missedCallTextBack.{key}");
            match key.as_str() {
                "enabled" => self.missed_call_enabled = Some(field::boolean(&name, value)?),
                "text" => {
                    let text = field::text(&name, field::string(&name, value)?, MAX_MISSED_CALL_TEXT)?;
                    field::only_placeholders(&name, &text, &MISSED_CALL_PLACEHOLDERS)?;
                    self.missed_call_text = Some(text);
                }
                "minutes" => self.missed_call_minutes = Some(field::integer(&name, value, MISSED_CALL_MINUTES)?),
                _ => return Err(FieldError::new(name, "is not a setting")),
            }
        }
        Ok(())
    }
}

fn phone(value: &Value) -> Result<Option<String>, FieldError> {
    match field::nullable_string("phone", value)? {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => PhoneNumber::parse(text)
            .map(|number| Some(number.as_e164().to_string()))
            .map_err(|e| {
                FieldError::new(
                    "phone",
                    format!("not a phone number ({e}); write it +15145550100 or 514-555-0100"),
                )
            }),
    }
}

fn timezone(value: &Value) -> Result<Tz, FieldError> {
    let name = field::string("timezone", value)?;
    name.parse::<Tz>().map_err(|_| {
        FieldError::new(
            "timezone",
            format!("{name:?} is not an IANA time zone name (e.g. America/Toronto)"),
        )
    })
}

fn after_hours_note(value: &Value) -> Result<String, FieldError> {
    let Some(note) = field::nullable_string("afterHoursNote", value)? else {
        return Ok(String::new());
    };
    if note.trim().is_empty() {
        return Ok(String::new());
    }
    let note = field::text("afterHoursNote", note, MAX_AFTER_HOURS_NOTE)?;
    field::only_placeholders("afterHoursNote", &note, &PLACEHOLDERS)?;
    Ok(note)
}

fn holidays(value: &Value) -> Result<Vec<NaiveDate>, FieldError> {
    let list = value
        .as_array()
        .ok_or_else(|| FieldError::new("holidays", "must be a list of dates written YYYY-MM-DD"))?;
    let mut dates = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let name = format!("holidays[{i}]");
        let text = field::string(&name, item)?;
        let date = (text.len() == 10)
            .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
            .flatten()
            .ok_or_else(|| FieldError::new(&name, format!("{text:?} is not a date written YYYY-MM-DD")))?;
        dates.push(date);
    }
    dates.sort();
    dates.dedup();
    if dates.len() > MAX_HOLIDAYS {
        return Err(FieldError::new(
            "holidays",
            format!("{} dates; at most {MAX_HOLIDAYS} are allowed", dates.len()),
        ));
    }
    Ok(dates)
}

/// `HH:MM`, 00:00 to 23:59, two digits each.
fn clock_time(text: &str) -> Option<NaiveTime> {
    let b = text.as_bytes();
    let shape = b.len() == 5 && b[2] == b':' && [0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit());
    shape.then(|| NaiveTime::parse_from_str(text, "%H:%M").ok()).flatten()
}

/// The whole week: a day left out is closed.
fn office_hours(value: &Value) -> Result<OfficeHours, FieldError> {
    let days = value.as_object().ok_or_else(|| {
        FieldError::new(
            "officeHours",
            "must be an object of days (mon … sun), each a list of [\"HH:MM\", \"HH:MM\"] pairs",
        )
    })?;
    let mut stored = Map::new();
    for (day, intervals) in days {
        let day_field = format!("officeHours.{day}");
        if !DAY_KEYS.contains(&day.as_str()) {
            return Err(FieldError::new(
                day_field,
                format!("unknown day {day:?}; the days are {}", DAY_KEYS.join(", ")),
            ));
        }
        let list = intervals
            .as_array()
            .ok_or_else(|| FieldError::new(&day_field, "must be a list of [\"HH:MM\", \"HH:MM\"] pairs"))?;
        if list.len() > MAX_INTERVALS_PER_DAY {
            return Err(FieldError::new(
                &day_field,
                format!("{} intervals; at most {MAX_INTERVALS_PER_DAY} a day", list.len()),
            ));
        }
        let mut seen: Vec<(usize, NaiveTime, NaiveTime)> = Vec::new();
        for (i, interval) in list.iter().enumerate() {
            let name = format!("{day_field}[{i}]");
            let pair = interval
                .as_array()
                .filter(|p| p.len() == 2)
                .and_then(|p| Some((p[0].as_str()?, p[1].as_str()?)))
                .ok_or_else(|| FieldError::new(&name, "must be a pair [\"HH:MM\", \"HH:MM\"] (opens, closes)"))?;
            let time = |text: &str, what: &str| {
                clock_time(text).ok_or_else(|| {
                    FieldError::new(
                        &name,
                        format!("{what} {text:?}, which is not a time written HH:MM (00:00 to 23:59)"),
                    )
                })
            };
            let (open, close) = (time(pair.0, "opens at")?, time(pair.1, "closes at")?);
            if close < open {
                return Err(FieldError::new(
                    &name,
                    format!("closes ({}) before it opens ({})", pair.1, pair.0),
                ));
            }
            if close == open {
                return Err(FieldError::new(
                    &name,
                    format!("opens and closes at the same time ({})", pair.0),
                ));
            }
            if let Some((j, o, c)) = seen.iter().find(|(_, o, c)| open < *c && *o < close) {
                return Err(FieldError::new(
                    &name,
                    format!(
                        "{}–{} overlaps {day_field}[{j}] ({}–{})",
                        pair.0,
                        pair.1,
                        o.format("%H:%M"),
                        c.format("%H:%M")
                    ),
                ));
            }
            seen.push((i, open, close));
        }
        stored.insert(day.clone(), intervals.clone());
    }
    // Checked above, so the stored form reads back.
    serde_json::from_value(Value::Object(stored)).map_err(|e| FieldError::new("officeHours", e))
}

/// The stored hours with all seven days, a closed day as `[]`.
pub fn week(hours: &OfficeHours) -> Value {
    let stored = serde_json::to_value(hours).unwrap_or_default();
    let days = DAY_KEYS
        .iter()
        .map(|day| {
            (
                day.to_string(),
                stored.get(*day).cloned().unwrap_or_else(|| Value::Array(vec![])),
            )
        })
        .collect();
    Value::Object(days)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(body: Value) -> Result<SettingsChange, FieldError> {
        SettingsChange::parse(body.as_object().unwrap())
    }

    fn field_of(body: Value) -> (Option<String>, String) {
        let error = parse(body).unwrap_err();
        (error.field, error.message)
    }

    #[test]
    fn reads_every_setting() {
        let change = parse(json!({
            "name": "  Birch Dental ", "phone": "514-555-0199", "address": null, "timezone": "America/Vancouver",
            "officeHours": {"mon": [["08:00", "12:00"], ["13:00", "17:00"]], "sat": []},
            "holidays": ["2026-12-26", "2026-12-25", "2026-12-25"], "quietHours": 0, "afterHoursNote": null,
            "missedCallTextBack": {"enabled": true, "text": "Missed you at {practice}.", "minutes": 30}
        }))
        .unwrap();
        assert_eq!(change.name.as_deref(), Some("Birch Dental"));
        assert_eq!(change.phone, Some(Some("+15145550199".into())));
        assert_eq!(change.address, Some(None));
        assert_eq!(change.timezone, Some(chrono_tz::America::Vancouver));
        let hours = change.office_hours.unwrap();
        assert_eq!(
            week(&hours),
            json!({"mon": [["08:00", "12:00"], ["13:00", "17:00"]], "tue": [], "wed": [], "thu": [], "fri": [], "sat": [], "sun": []})
        );
        assert_eq!(change.holidays.unwrap().len(), 2, "sorted and deduplicated");
        assert_eq!(change.quiet_hours, Some(0));
        assert_eq!(change.after_hours_note.as_deref(), Some(""));
        assert_eq!(change.missed_call_enabled, Some(true));
        assert_eq!(change.missed_call_minutes, Some(30));
    }

    #[test]
    fn every_problem_names_its_field() {
        let cases = [
            (json!({}), None),
            (json!({"practiceId": "x"}), Some("practiceId")),
            (json!({"colour": "red"}), Some("colour")),
            (json!({"name": " "}), Some("name")),
            (json!({"name": "x".repeat(201)}), Some("name")),
            (json!({"name": 5}), Some("name")),
            (json!({"phone": "12"}), Some("phone")),
            (json!({"timezone": "Mars/Base"}), Some("timezone")),
            (json!({"officeHours": []}), Some("officeHours")),
            (json!({"officeHours": {"monday": []}}), Some("officeHours.monday")),
            (
                json!({"officeHours": {"mon": [["8:00", "17:00"]]}}),
                Some("officeHours.mon[0]"),
            ),
            (
                json!({"officeHours": {"mon": [["08:00", "24:00"]]}}),
                Some("officeHours.mon[0]"),
            ),
            (json!({"officeHours": {"mon": [["08:00"]]}}), Some("officeHours.mon[0]")),
            (
                json!({"officeHours": {"tue": [["08:00", "12:00"], ["11:00", "13:00"]]}}),
                Some("officeHours.tue[1]"),
            ),
            (
                json!({"officeHours": {"wed": [["09:00", "09:00"]]}}),
                Some("officeHours.wed[0]"),
            ),
            (json!({"holidays": ["2026-02-30"]}), Some("holidays[0]")),
            (json!({"holidays": "2026-12-25"}), Some("holidays")),
            (json!({"quietHours": 169}), Some("quietHours")),
            (json!({"afterHoursNote": "x".repeat(501)}), Some("afterHoursNote")),
            (json!({"afterHoursNote": "Back {tomorrow}"}), Some("afterHoursNote")),
            (
                json!({"missedCallTextBack": {"text": "  "}}),
                Some("missedCallTextBack.text"),
            ),
            (
                json!({"missedCallTextBack": {"text": "x".repeat(641)}}),
                Some("missedCallTextBack.text"),
            ),
            (
                json!({"missedCallTextBack": {"minutes": 0}}),
                Some("missedCallTextBack.minutes"),
            ),
            (
                json!({"missedCallTextBack": {"enabled": "yes"}}),
                Some("missedCallTextBack.enabled"),
            ),
            (
                json!({"missedCallTextBack": {"delay": 5}}),
                Some("missedCallTextBack.delay"),
            ),
            (json!({"missedCallTextBack": {}}), Some("missedCallTextBack")),
        ];
        for (body, expected) in cases {
            let (field, message) = field_of(body.clone());
            assert_eq!(field.as_deref(), expected, "{body}: {message}");
            if let Some(name) = expected {
                assert!(message.starts_with(&format!("{name}: ")), "{message}");
            }
        }
        assert_eq!(
            field_of(json!({"officeHours": {"mon": [["17:00", "08:00"]]}})).1,
            "officeHours.mon[0]: closes (08:00) before it opens (17:00)"
        );
    }
}
