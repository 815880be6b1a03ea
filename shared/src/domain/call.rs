//! One call of the history, read from a VoIP.ms `getCDR` row. Values arrive as strings, numbers or
//! empty; every field is read defensively and a row that cannot be a call says why.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::phone::{PhoneNumber, Sender};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "inbound" => Some(Self::Inbound),
            "outbound" => Some(Self::Outbound),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    Answered,
    NoAnswer,
    Busy,
    Failed,
}

impl Disposition {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::NoAnswer => "no_answer",
            Self::Busy => "busy",
            Self::Failed => "failed",
        }
    }

    /// Our own names (the API's filter values).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "answered" => Some(Self::Answered),
            "no_answer" => Some(Self::NoAnswer),
            "busy" => Some(Self::Busy),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    /// VoIP.ms's `disposition`: `ANSWERED` is documented; `NO ANSWER`, `BUSY` and `FAILED` are
    /// the likely others (Asterisk's names), read loosely (`NOANSWER`, `no_answer`, any case).
    /// Anything else (`CONGESTION`, `CANCEL`...) is a call that did not connect: failed.
    pub fn from_voipms(value: &str) -> Self {
        let squashed: String = value
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_uppercase();
        match squashed.as_str() {
            "ANSWERED" | "ANSWER" => Self::Answered,
            "NOANSWER" => Self::NoAnswer,
            "BUSY" => Self::Busy,
            _ => Self::Failed,
        }
    }

    /// A caller who did not reach anyone: the calls missed-call text-back and analytics count.
    pub fn is_missed(&self) -> bool {
        matches!(self, Self::NoAnswer | Self::Busy)
    }
}

/// A call as stored: which practice DID it used, who was on the other end, how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub uniqueid: String,
    pub direction: Direction,
    /// The practice's DID, E.164.
    pub did: String,
    /// The other party: E.164 for a full number, else the digits (or text) as given.
    pub contact: String,
    pub contact_name: Option<String>,
    pub started_at: DateTime<Utc>,
    pub duration_seconds: i32,
    pub billable_seconds: i32,
    pub disposition: Disposition,
    /// Answered and connected for at least a second: a conversation took place.
    pub completed: bool,
    pub account: Option<String>,
    pub description: Option<String>,
    pub destination_type: Option<String>,
}

/// Why a row was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// The row is readable but none of the practices' DIDs took part: another account's line.
    #[error("no practice DID took part in this call")]
    NotOurs,
    #[error("unreadable row: {0}")]
    Invalid(String),
}

/// A value VoIP.ms may send as a string or a number; empty when absent or null.
pub fn field(row: &Value, key: &str) -> String {
    match row.get(key) {
        // Control characters (NUL above all, which Postgres refuses) are never part of a value.
        Some(Value::String(s)) => s
            .chars()
            .filter(|c| !c.is_control())
            .collect::<String>()
            .trim()
            .to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => (if *b { "1" } else { "0" }).to_string(),
        _ => String::new(),
    }
}

/// `"John Doe" <5551112222>`, `John Doe <5551112222>`, `<5551112222>` or `5551112222`: the name
/// (when there is one that is not just the number again) and the number.
pub fn parse_caller_id(value: &str) -> (Option<String>, String) {
    let value = value.trim();
    let (name, number) = match (value.rfind('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => (value[..open].trim(), value[open + 1..close].trim()),
        _ => ("", value),
    };
    let name = name.trim_matches('"').trim();
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let name = (!name.is_empty() && digits(name) != digits(number) && !name.eq_ignore_ascii_case("unknown"))
        .then(|| name.to_string());
    (name, number.to_string())
}

/// The stored form of the other party: E.164 when it is a number we understand, else as given.
pub fn contact_form(number: &str) -> String {
    match Sender::parse(number) {
        Ok(sender) => sender.as_str().to_string(),
        Err(_) => number.trim().to_string(),
    }
}

/// E.164 of a number when it is a full number, for comparing against DIDs.
fn e164(number: &str) -> Option<String> {
    PhoneNumber::parse(number).ok().map(|n| n.as_e164().to_string())
}

/// Seconds from `11`, `11.0`, `00:00:11` or `0:11`; empty is zero.
pub fn parse_seconds(value: &str) -> Result<i32, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(0);
    }
    let seconds = if value.contains(':') {
        value.split(':').try_fold(0_i64, |total, part| {
            let n = part.trim().parse::<i64>().ok().filter(|n| *n >= 0)?;
            total.checked_mul(60)?.checked_add(n)
        })
    } else {
        value
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .map(|n| n.round() as i64)
    };
    seconds
        .filter(|s| *s <= i64::from(i32::MAX))
        .map(|s| s as i32)
        .ok_or_else(|| format!("not a duration: {value:?}"))
}

/// `YYYY-MM-DD HH:MM:SS` as shown for the zone asked for (UTC for the sync).
pub fn parse_date(value: &str) -> Result<NaiveDateTime, String> {
    NaiveDateTime::parse_from_str(value.trim(), "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(value.trim(), "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| format!("not a date: {value:?}"))
}

/// Reads one `getCDR` row (dates shown in UTC) against the DIDs of every practice (E.164): the
/// call is inbound when its destination is one of them, outbound when its caller id is.
pub fn from_cdr_row(row: &Value, dids: &HashSet<String>) -> Result<Call, RowError> {
    if !row.is_object() {
        return Err(RowError::Invalid("not an object".into()));
    }
    let invalid = RowError::Invalid;
    let uniqueid = field(row, "uniqueid");
    if uniqueid.is_empty() {
        return Err(invalid("no uniqueid".into()));
    }
    let started_at = parse_date(&field(row, "date")).map_err(invalid)?.and_utc();
    let (caller_name, caller_number) = parse_caller_id(&field(row, "callerid"));
    let destination = field(row, "destination");
    let (direction, did, contact, contact_name) = match (e164(&destination), e164(&caller_number)) {
        (Some(to), _) if dids.contains(&to) => (Direction::Inbound, to, contact_form(&caller_number), caller_name),
        (_, Some(from)) if dids.contains(&from) => (Direction::Outbound, from, contact_form(&destination), None),
        _ => return Err(RowError::NotOurs),
    };
    if contact.is_empty() {
        return Err(invalid("no other party".into()));
    }
    // `duration` is the whole call (`HH:MM:SS`), `seconds` what was billed.
    let billable_seconds = parse_seconds(&field(row, "seconds")).map_err(invalid)?;
    let duration_text = field(row, "duration");
    let duration_seconds = match duration_text.is_empty() {
        true => billable_seconds,
        false => parse_seconds(&duration_text).map_err(invalid)?,
    };
    let disposition = Disposition::from_voipms(&field(row, "disposition"));
    let optional = |key: &str| Some(field(row, key)).filter(|v| !v.is_empty());
    Ok(Call {
        uniqueid,
        direction,
        did,
        contact,
        contact_name,
        started_at,
        duration_seconds,
        billable_seconds,
        disposition,
        completed: disposition == Disposition::Answered && billable_seconds.max(duration_seconds) > 0,
        account: optional("account"),
        description: optional("description"),
        destination_type: optional("destination_type"),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn dids() -> HashSet<String> {
        ["+15145550100".to_string()].into()
    }

    #[test]
    fn caller_ids_give_a_name_and_a_number() {
        assert_eq!(
            parse_caller_id("\"John Doe\" <5551112222>"),
            (Some("John Doe".into()), "5551112222".into())
        );
        assert_eq!(parse_caller_id("John Doe <5551112222>").0.as_deref(), Some("John Doe"));
        assert_eq!(parse_caller_id("<5551112222>"), (None, "5551112222".into()));
        assert_eq!(parse_caller_id("5551112222"), (None, "5551112222".into()));
        assert_eq!(parse_caller_id("\"5551112222\" <5551112222>").0, None);
        assert_eq!(parse_caller_id("\"\" <5551112222>").0, None);
        assert_eq!(parse_caller_id(""), (None, String::new()));
    }

    #[test]
    fn durations_come_in_several_shapes() {
        assert_eq!(parse_seconds("11"), Ok(11));
        assert_eq!(parse_seconds("00:03:05"), Ok(185));
        assert_eq!(parse_seconds("4:05"), Ok(245));
        assert_eq!(parse_seconds(""), Ok(0));
        assert_eq!(parse_seconds("11.6"), Ok(12));
        assert!(parse_seconds("-3").is_err());
        assert!(parse_seconds("soon").is_err());
        assert!(parse_seconds("9223372036854775807:0").is_err(), "no overflow");
        assert!(parse_seconds("99999999999").is_err(), "beyond any call");
    }

    #[test]
    fn dispositions_are_read_loosely() {
        assert_eq!(Disposition::from_voipms("ANSWERED"), Disposition::Answered);
        assert_eq!(Disposition::from_voipms("NO ANSWER"), Disposition::NoAnswer);
        assert_eq!(Disposition::from_voipms("no_answer"), Disposition::NoAnswer);
        assert_eq!(Disposition::from_voipms("Busy"), Disposition::Busy);
        assert_eq!(Disposition::from_voipms("CONGESTION"), Disposition::Failed);
        assert!(Disposition::Busy.is_missed() && !Disposition::Failed.is_missed());
    }

    #[test]
    fn inbound_and_outbound_are_told_apart_by_the_practice_did() {
        let inbound = json!({"date": "2026-11-25 15:00:00", "callerid": "\"Jane Roe\" <4385550199>",
            "destination": "5145550100", "disposition": "ANSWERED", "duration": "00:02:05", "seconds": "125",
            "uniqueid": "12964421x41098i8c", "account": "100000_VoIP"});
        let call = from_cdr_row(&inbound, &dids()).unwrap();
        assert_eq!(call.direction, Direction::Inbound);
        assert_eq!(call.did, "+15145550100");
        assert_eq!(call.contact, "+14385550199");
        assert_eq!(call.contact_name.as_deref(), Some("Jane Roe"));
        assert_eq!((call.duration_seconds, call.billable_seconds), (125, 125));
        assert!(call.completed);
        assert_eq!(call.started_at.to_rfc3339(), "2026-11-25T15:00:00+00:00");

        let outbound = json!({"date": "2026-11-25 16:00:00", "callerid": "5145550100", "destination": "14385550199",
            "disposition": "NO ANSWER", "duration": "00:00:30", "seconds": 0, "uniqueid": 991});
        let call = from_cdr_row(&outbound, &dids()).unwrap();
        assert_eq!(call.direction, Direction::Outbound);
        assert_eq!(call.contact, "+14385550199");
        assert_eq!(call.uniqueid, "991");
        assert_eq!(call.disposition, Disposition::NoAnswer);
        assert!(!call.completed);
    }

    #[test]
    fn rows_of_other_lines_and_broken_rows_are_told_apart() {
        let other = json!({"date": "2026-11-25 15:00:00", "callerid": "4385550199", "destination": "2125550100",
            "uniqueid": "1", "seconds": "3"});
        assert_eq!(from_cdr_row(&other, &dids()), Err(RowError::NotOurs));
        for broken in [
            json!("a string"),
            json!({"date": "2026-11-25 15:00:00", "destination": "5145550100", "callerid": "4385550199"}),
            json!({"date": "yesterday", "destination": "5145550100", "callerid": "4385550199", "uniqueid": "2"}),
            json!({"date": "2026-11-25 15:00:00", "destination": "5145550100", "callerid": "4385550199",
                   "uniqueid": "3", "seconds": "lots"}),
        ] {
            assert!(
                matches!(from_cdr_row(&broken, &dids()), Err(RowError::Invalid(_))),
                "{broken}"
            );
        }
        // An anonymous caller is still a call.
        let anonymous = json!({"date": "2026-11-25 15:00:00", "callerid": "\"Anonymous\" <anonymous>",
            "destination": "5145550100", "uniqueid": "4", "disposition": "BUSY"});
        let call = from_cdr_row(&anonymous, &dids()).unwrap();
        assert_eq!(call.contact, "anonymous");
        assert_eq!(call.disposition, Disposition::Busy);
    }
}
