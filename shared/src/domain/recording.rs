//! Call recordings as VoIP.ms lists them, and how each is matched to its call.
//!
//! A recording carries no `uniqueid`, so it is matched on what it shares with the call:
//! 1. the direction (`Incoming` ↔ inbound, `Outgoing` ↔ outbound);
//! 2. the number: for an incoming recording its destination is the practice DID the caller dialled
//!    (the caller's number is accepted too), for an outgoing one the number the practice called;
//! 3. the start: within [`START_TOLERANCE`] of the call's start (a recording starts when the call
//!    is answered, after the ringing; clocks differ by a few seconds);
//! 4. among the calls left, the nearest duration wins, then the nearest start, then the call's id.
//!
//! Pairs are taken best first across all recordings, one recording per call, so two calls a minute
//! apart to the same number each get their own. A call that already has a recording is not a
//! candidate, and a recording whose call may not be in the history yet (it ended after the
//! history was read) waits for the next sync: a wrong match would put one patient's words under
//! another's call. A recording with no candidate stays unmatched: kept, listed, and matched again
//! by each later sync.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use uuid::Uuid;

use super::call::{contact_form, field, parse_date, parse_seconds, Direction};

/// How far a recording's start may be from its call's start.
pub const START_TOLERANCE: chrono::Duration = chrono::Duration::seconds(120);

/// One row of `getCallRecordings`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedRecording {
    pub voipms_id: String,
    pub direction: Direction,
    /// E.164 when it is a full number, else as given.
    pub destination: String,
    pub recorded_at: DateTime<Utc>,
    pub duration_seconds: Option<i32>,
    pub account: Option<String>,
}

/// Reads one listing row; `zone` is the zone VoIP.ms shows `datetime` in (the account's zone,
/// `VOIPMS_DATE_TIMEZONE`).
pub fn from_listing_row(row: &Value, zone: Tz) -> Result<ListedRecording, String> {
    let voipms_id = field(row, "callrecording");
    if voipms_id.is_empty() {
        return Err("no callrecording id".into());
    }
    let local = parse_date(&field(row, "datetime"))?;
    // A time that falls in a DST gap or fold is read as its earliest meaning.
    let recorded_at = zone
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("no such local time: {local}"))?;
    let direction = match field(row, "type").to_ascii_lowercase().as_str() {
        "incoming" | "inbound" | "in" => Direction::Inbound,
        "outgoing" | "outbound" | "out" => Direction::Outbound,
        other => return Err(format!("unknown recording type {other:?}")),
    };
    let duration = field(row, "duration");
    Ok(ListedRecording {
        voipms_id,
        direction,
        destination: contact_form(&field(row, "destination")),
        recorded_at,
        duration_seconds: (!duration.is_empty()).then(|| parse_seconds(&duration)).transpose()?,
        account: Some(field(row, "subaccount")).filter(|a| !a.is_empty()),
    })
}

/// What matching needs of a call.
#[derive(Debug, Clone, PartialEq)]
pub struct CallForMatching {
    pub id: Uuid,
    pub direction: Direction,
    pub did: String,
    pub contact: String,
    pub started_at: DateTime<Utc>,
    pub duration_seconds: i32,
}

/// Could `recording` be of `call`: same direction, the number it names, a start close enough.
pub fn is_candidate(recording: &ListedRecording, call: &CallForMatching) -> bool {
    let number = match recording.direction {
        Direction::Inbound => recording.destination == call.did || recording.destination == call.contact,
        Direction::Outbound => recording.destination == call.contact,
    };
    recording.direction == call.direction
        && number
        && (recording.recorded_at - call.started_at).abs() <= START_TOLERANCE
}

/// The rank of a pair: smaller is better.
fn distance(recording: &ListedRecording, call: &CallForMatching) -> (i64, i64, Uuid) {
    let duration = recording
        .duration_seconds
        .map_or(0, |d| (i64::from(d) - i64::from(call.duration_seconds)).abs());
    let start = (recording.recorded_at - call.started_at).num_seconds().abs();
    (duration, start, call.id)
}

/// The call of each recording (same order as `recordings`), by the rule in this module's comment.
pub fn match_recordings(recordings: &[ListedRecording], calls: &[CallForMatching]) -> Vec<Option<Uuid>> {
    let mut pairs: Vec<((i64, i64, Uuid), usize, usize)> = Vec::new();
    for (r, recording) in recordings.iter().enumerate() {
        for (c, call) in calls.iter().enumerate() {
            if is_candidate(recording, call) {
                pairs.push((distance(recording, call), r, c));
            }
        }
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut matched: Vec<Option<Uuid>> = vec![None; recordings.len()];
    let mut taken = vec![false; calls.len()];
    for &(_, r, c) in &pairs {
        if matched[r].is_none() && !taken[c] {
            matched[r] = Some(calls[c].id);
            taken[c] = true;
        }
    }
    matched
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    const DID: &str = "+15145550100";
    const PATIENT: &str = "+14385550199";

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, m, s).unwrap()
    }

    fn call(n: u128, direction: Direction, start: DateTime<Utc>, seconds: i32) -> CallForMatching {
        CallForMatching {
            id: Uuid::from_u128(n),
            direction,
            did: DID.into(),
            contact: PATIENT.into(),
            started_at: start,
            duration_seconds: seconds,
        }
    }

    fn recording(
        id: &str,
        direction: Direction,
        destination: &str,
        start: DateTime<Utc>,
        seconds: i32,
    ) -> ListedRecording {
        ListedRecording {
            voipms_id: id.into(),
            direction,
            destination: destination.into(),
            recorded_at: start,
            duration_seconds: Some(seconds),
            account: None,
        }
    }

    #[test]
    fn listing_rows_are_read_in_the_accounts_zone() {
        let row = json!({"callrecording": "MTIzNDU2Nzg5MA==", "datetime": "2026-11-25 10:00:05",
            "destination": "5145550100", "type": "Incoming", "subaccount": "100000_VoIP", "duration": "02:05"});
        let listed = from_listing_row(&row, chrono_tz::America::Toronto).unwrap();
        assert_eq!(listed.recorded_at, at(15, 0, 5));
        assert_eq!(listed.direction, Direction::Inbound);
        assert_eq!(listed.destination, DID);
        assert_eq!(listed.duration_seconds, Some(125));
        assert!(from_listing_row(&json!({"datetime": "2026-11-25 10:00:05"}), chrono_tz::UTC).is_err());
        let sideways = json!({"callrecording": "x", "datetime": "2026-11-25 10:00:05", "type": "Sideways"});
        assert!(from_listing_row(&sideways, chrono_tz::UTC).is_err());
    }

    #[test]
    fn two_calls_a_minute_apart_each_get_their_own_recording() {
        let calls = [
            call(1, Direction::Inbound, at(15, 0, 0), 30),
            call(2, Direction::Inbound, at(15, 1, 0), 300),
        ];
        // Listed in the "wrong" order, each nearer in time to the other call than ideal.
        let recordings = [
            recording("long", Direction::Inbound, DID, at(15, 1, 4), 295),
            recording("short", Direction::Inbound, DID, at(15, 0, 5), 25),
        ];
        assert_eq!(
            match_recordings(&recordings, &calls),
            [Some(Uuid::from_u128(2)), Some(Uuid::from_u128(1))]
        );
    }

    #[test]
    fn the_nearest_duration_wins_and_ties_go_to_the_nearest_start() {
        let calls = [
            call(1, Direction::Outbound, at(15, 0, 0), 60),
            call(2, Direction::Outbound, at(15, 0, 50), 60),
        ];
        let one = [recording("r", Direction::Outbound, PATIENT, at(15, 0, 45), 58)];
        assert_eq!(match_recordings(&one, &calls), [Some(Uuid::from_u128(2))]);
    }

    #[test]
    fn a_recording_with_no_call_stays_unmatched() {
        let calls = [call(1, Direction::Inbound, at(15, 0, 0), 30)];
        let far = recording("late", Direction::Inbound, DID, at(15, 10, 0), 30);
        let other_number = recording("other", Direction::Inbound, "+12125550100", at(15, 0, 5), 30);
        let other_direction = recording("out", Direction::Outbound, PATIENT, at(15, 0, 5), 30);
        assert_eq!(
            match_recordings(&[far, other_number, other_direction], &calls),
            [None, None, None]
        );
    }

    #[test]
    fn a_call_gets_one_recording_and_a_second_one_stays_unmatched() {
        let calls = [call(1, Direction::Inbound, at(15, 0, 0), 300)];
        let recordings = [
            recording("a", Direction::Inbound, DID, at(15, 0, 5), 290),
            recording("b", Direction::Inbound, DID, at(15, 1, 50), 20),
        ];
        assert_eq!(match_recordings(&recordings, &calls), [Some(Uuid::from_u128(1)), None]);
    }
}
