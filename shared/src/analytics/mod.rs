//! What a practice manager reads: calls, texts, what became of missed calls, how long flagged texts
//! waited for a person, opt-outs, transcription, and the busiest hours of the week.
//!
//! Everything is cut into the practice's local days. A day's figures ([`DayFigures`]) are counts,
//! sums and the review waits themselves, never ratios, so the answer for any range is the sum of
//! its days, and a median over a month is the median of the month's waits, not of daily medians.
//! The daily job stores each past day's figures (`analytics_daily`, [`rollup`]); the endpoint adds
//! up rollups and live days alike, so a day reads the same whichever way it was computed.

pub mod rollup;

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The version of [`DayFigures`]' stored shape. A rollup of another version is not read: the day
/// is computed live, and the daily job computes it again.
pub const FORMAT: i32 = 1;

/// How long after a missed call a text or call still counts as reaching the caller again.
pub const REACH_AGAIN_MINUTES: i64 = 60;

/// Automatic-reply categories, listed in every answer (with 0 when there were none).
pub const REPLY_CATEGORIES: [&str; 8] = [
    "appointment",
    "emergency",
    "office_hours",
    "location",
    "insurance",
    "optout",
    "optin",
    "help",
];

pub const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Calls that started on the day (a call belongs to the day it started, however late it ended).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CallFigures {
    pub total: i64,
    pub inbound: i64,
    pub answered: i64,
    /// Answered with at least a second of talk (`phone_calls.completed`).
    pub completed: i64,
    /// Inbound calls nobody answered: `no_answer` or `busy`.
    pub missed: i64,
    pub failed: i64,
    /// Seconds of the answered calls.
    pub answered_seconds: i64,
    /// Of the missed calls: the caller was reached again within the hour, by each way and by any.
    pub reached_again: i64,
    pub texted_back: i64,
    pub called_back: i64,
    pub called_again: i64,
}

/// Texts whose own time (`occurred_at`) is on the day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TextFigures {
    pub received: i64,
    /// Every outbound text, `cancelled` ones included.
    pub outbound: i64,
    pub delivered: i64,
    pub failed: i64,
    pub sandboxed: i64,
    /// `queued` or `sending`.
    pub in_flight: i64,
    /// A carrier may or may not have it.
    pub unknown: i64,
    /// Never sent: the patient opted out while it waited.
    pub cancelled: i64,
    /// Automatic replies (not cancelled), by category.
    pub auto_replies: BTreeMap<String, i64>,
    /// Missed-call texts (not cancelled).
    pub missed_call_texts: i64,
    /// Inbound texts flagged for a person, still flagged, and the seconds each of the others
    /// waited from its arrival until a person marked it reviewed (sorted).
    pub flagged: i64,
    pub open: i64,
    pub waits: Vec<i64>,
    /// Numbers whose opt-out (still in force) was written on the day.
    pub opt_outs: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProviderFigures {
    /// Recordings this provider transcribed.
    pub recordings: i64,
    pub audio_ms: i64,
    /// Recordings on which it failed for good.
    pub failures: i64,
}

/// Transcription of the calls recorded on the day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TranscriptionFigures {
    pub providers: BTreeMap<String, ProviderFigures>,
    /// Recordings every provider failed on.
    pub failed_recordings: i64,
}

/// One local day of one practice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DayFigures {
    pub calls: CallFigures,
    pub texts: TextFigures,
    pub transcription: TranscriptionFigures,
    /// Inbound calls and texts by local hour (0–23). On the day clocks go back, both 1 a.m. hours
    /// count as 1 a.m.; on the day they go forward, 2 a.m. has none.
    pub inbound_calls_by_hour: Vec<i64>,
    pub inbound_texts_by_hour: Vec<i64>,
}

impl Default for DayFigures {
    fn default() -> Self {
        Self {
            calls: CallFigures::default(),
            texts: TextFigures::default(),
            transcription: TranscriptionFigures::default(),
            inbound_calls_by_hour: vec![0; 24],
            inbound_texts_by_hour: vec![0; 24],
        }
    }
}

fn add_hours(into: &mut Vec<i64>, from: &[i64]) {
    if into.len() < 24 {
        into.resize(24, 0);
    }
    for (slot, n) in into.iter_mut().zip(from) {
        *slot += n;
    }
}

impl DayFigures {
    /// Adds `other` in: every count and sum, and the waits (kept sorted).
    pub fn add(&mut self, other: &DayFigures) {
        let (c, o) = (&mut self.calls, &other.calls);
        c.total += o.total;
        c.inbound += o.inbound;
        c.answered += o.answered;
        c.completed += o.completed;
        c.missed += o.missed;
        c.failed += o.failed;
        c.answered_seconds += o.answered_seconds;
        c.reached_again += o.reached_again;
        c.texted_back += o.texted_back;
        c.called_back += o.called_back;
        c.called_again += o.called_again;
        let (t, o) = (&mut self.texts, &other.texts);
        t.received += o.received;
        t.outbound += o.outbound;
        t.delivered += o.delivered;
        t.failed += o.failed;
        t.sandboxed += o.sandboxed;
        t.in_flight += o.in_flight;
        t.unknown += o.unknown;
        t.cancelled += o.cancelled;
        for (category, n) in &o.auto_replies {
            *t.auto_replies.entry(category.clone()).or_default() += n;
        }
        t.missed_call_texts += o.missed_call_texts;
        t.flagged += o.flagged;
        t.open += o.open;
        t.waits.extend_from_slice(&o.waits);
        t.waits.sort_unstable();
        t.opt_outs += o.opt_outs;
        let (r, o) = (&mut self.transcription, &other.transcription);
        for (provider, p) in &o.providers {
            let into = r.providers.entry(provider.clone()).or_default();
            into.recordings += p.recordings;
            into.audio_ms += p.audio_ms;
            into.failures += p.failures;
        }
        r.failed_recordings += o.failed_recordings;
        add_hours(&mut self.inbound_calls_by_hour, &other.inbound_calls_by_hour);
        add_hours(&mut self.inbound_texts_by_hour, &other.inbound_texts_by_hour);
    }
}

/// `part / whole`, to four decimals; 0 when there is no whole (the answer gives the whole beside it).
pub fn rate(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        return 0.0;
    }
    (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0
}

/// The `p`-th quantile of sorted `values` with linear interpolation between the two nearest ranks
/// (as Postgres' `percentile_cont`), rounded to a whole number; 0 for no values.
pub fn percentile(sorted: &[i64], p: f64) -> i64 {
    match sorted.len() {
        0 => 0,
        n => {
            let position = p.clamp(0.0, 1.0) * (n - 1) as f64;
            let (low, high) = (position.floor() as usize, position.ceil() as usize);
            let value = sorted[low] as f64 + (sorted[high] - sorted[low]) as f64 * (position - low as f64);
            value.round() as i64
        }
    }
}

fn minutes(audio_ms: i64) -> f64 {
    (audio_ms as f64 / 60_000.0 * 100.0).round() / 100.0
}

/// The calls, texts and transcription blocks of the answer, for a day or a whole range.
fn blocks(f: &DayFigures) -> Map<String, Value> {
    let c = &f.calls;
    let calls = json!({
        "total": c.total,
        "inbound": c.inbound,
        "outbound": c.total - c.inbound,
        "answered": c.answered,
        "completed": c.completed,
        "missed": c.missed,
        "failed": c.failed,
        "talkSeconds": c.answered_seconds,
        "averageDuration": if c.answered > 0 { (c.answered_seconds as f64 / c.answered as f64).round() as i64 } else { 0 },
        "averageDurationDenominator": c.answered,
        "completionRate": rate(c.completed, c.total),
        "completionRateDenominator": c.total,
        "missedFollowUp": {
            "missed": c.missed,
            "reachedAgain": c.reached_again,
            "textedBack": c.texted_back,
            "calledBack": c.called_back,
            "calledAgain": c.called_again,
            "notReached": c.missed - c.reached_again,
            "reachedAgainRate": rate(c.reached_again, c.missed),
            "reachedAgainRateDenominator": c.missed,
        },
    });
    let t = &f.texts;
    let sent = t.outbound - t.cancelled;
    let known = t.delivered + t.failed;
    let mut categories: BTreeMap<&str, i64> = REPLY_CATEGORIES.iter().map(|c| (*c, 0)).collect();
    for (category, n) in &t.auto_replies {
        *categories.entry(category.as_str()).or_default() += n;
    }
    let reviewed = t.waits.len() as i64;
    let sms = json!({
        "total": t.received + sent,
        "sent": sent,
        "received": t.received,
        "delivered": t.delivered,
        "failed": t.failed,
        "sandboxed": t.sandboxed,
        "inFlight": t.in_flight,
        "unknown": t.unknown,
        "cancelled": t.cancelled,
        "deliveryRate": rate(t.delivered, known),
        "deliveryRateDenominator": known,
        "autoReplies": {
            "total": t.auto_replies.values().sum::<i64>(),
            "byCategory": categories,
        },
        "missedCallTextBacks": t.missed_call_texts,
        "optOuts": t.opt_outs,
        "review": {
            "flagged": t.flagged,
            "reviewed": reviewed,
            "open": t.open,
            "medianWaitSeconds": percentile(&t.waits, 0.5),
            "medianWaitSecondsDenominator": reviewed,
            "p90WaitSeconds": percentile(&t.waits, 0.9),
            "p90WaitSecondsDenominator": reviewed,
        },
    });
    let r = &f.transcription;
    let providers: Map<String, Value> = r
        .providers
        .iter()
        .map(|(name, p)| {
            (
                name.clone(),
                json!({"recordings": p.recordings, "minutes": minutes(p.audio_ms), "failures": p.failures}),
            )
        })
        .collect();
    let transcription = json!({
        "recordings": r.providers.values().map(|p| p.recordings).sum::<i64>(),
        "minutes": minutes(r.providers.values().map(|p| p.audio_ms).sum()),
        "failures": r.providers.values().map(|p| p.failures).sum::<i64>(),
        "failedRecordings": r.failed_recordings,
        "byProvider": providers,
    });
    let mut map = Map::new();
    map.insert("calls".into(), calls);
    map.insert("sms".into(), sms);
    map.insert("transcription".into(), transcription);
    map
}

/// The answer of `GET /api/voip/analytics` for the days `from..=to` of a practice in `zone`:
/// `days` holds each of those days' figures (a missing day counts as no activity).
pub fn report(from: NaiveDate, to: NaiveDate, zone: Tz, days: &BTreeMap<NaiveDate, DayFigures>) -> Value {
    let zero = DayFigures::default();
    let mut total = DayFigures::default();
    let mut calls_grid = vec![vec![0_i64; 24]; 7];
    let mut texts_grid = vec![vec![0_i64; 24]; 7];
    let mut daily = Vec::new();
    for day in from.iter_days().take_while(|d| *d <= to) {
        let figures = days.get(&day).unwrap_or(&zero);
        total.add(figures);
        let weekday = day.weekday().num_days_from_monday() as usize;
        add_hours(&mut calls_grid[weekday], &figures.inbound_calls_by_hour);
        add_hours(&mut texts_grid[weekday], &figures.inbound_texts_by_hour);
        let mut entry = Map::new();
        entry.insert("date".into(), json!(day.to_string()));
        entry.extend(blocks(figures));
        daily.push(Value::Object(entry));
    }
    let mut analytics = Map::new();
    analytics.insert("startDate".into(), json!(from.to_string()));
    analytics.insert("endDate".into(), json!(to.to_string()));
    analytics.insert("timezone".into(), json!(zone.name()));
    analytics.insert("days".into(), json!(daily.len()));
    analytics.extend(blocks(&total));
    analytics.insert(
        "busiestHours".into(),
        json!({"weekdays": WEEKDAYS, "calls": calls_grid, "texts": texts_grid}),
    );
    analytics.insert("daily".into(), Value::Array(daily));
    json!({ "analytics": analytics })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn percentiles_interpolate_like_percentile_cont() {
        assert_eq!(percentile(&[], 0.5), 0);
        assert_eq!(percentile(&[42], 0.9), 42);
        assert_eq!(percentile(&[10, 20], 0.5), 15);
        assert_eq!(percentile(&[10, 20, 30, 40], 0.5), 25);
        // 0.9 * 9 = 8.1: 90 + 0.1 * (100 - 90)
        let ten: Vec<i64> = (1..=10).map(|n| n * 10).collect();
        assert_eq!(percentile(&ten, 0.9), 91);
        assert_eq!(percentile(&[60, 120, 3600], 0.5), 120);
        assert_eq!(percentile(&[60, 120, 3600], 0.9), 2904);
    }

    #[test]
    fn rates_have_four_decimals_and_no_division_by_zero() {
        assert_eq!(rate(0, 0), 0.0);
        assert_eq!(rate(5, 6), 0.8333);
        assert_eq!(rate(2, 2), 1.0);
    }

    #[test]
    fn no_activity_gives_zeros_and_says_what_each_rate_is_over() {
        let answer = report(
            day("2026-03-07"),
            day("2026-03-09"),
            chrono_tz::America::Toronto,
            &BTreeMap::new(),
        );
        let a = &answer["analytics"];
        assert_eq!(a["days"], 3);
        assert_eq!(a["calls"]["completionRate"], 0.0);
        assert_eq!(a["calls"]["completionRateDenominator"], 0);
        assert_eq!(a["calls"]["averageDuration"], 0);
        assert_eq!(a["sms"]["deliveryRate"], 0.0);
        assert_eq!(a["sms"]["deliveryRateDenominator"], 0);
        assert_eq!(a["sms"]["review"]["medianWaitSeconds"], 0);
        assert_eq!(a["sms"]["autoReplies"]["byCategory"]["emergency"], 0);
        assert_eq!(a["transcription"]["byProvider"], json!({}));
        assert_eq!(a["daily"].as_array().unwrap().len(), 3);
        assert_eq!(a["daily"][2]["date"], "2026-03-09");
        assert_eq!(a["busiestHours"]["calls"].as_array().unwrap().len(), 7);
        let text = answer.to_string();
        assert!(!text.contains("null"), "{text}");
    }

    #[test]
    fn a_range_adds_its_days_and_pools_the_waits() {
        let mut monday = DayFigures::default();
        monday.calls.total = 4;
        monday.calls.inbound = 3;
        monday.calls.answered = 2;
        monday.calls.completed = 2;
        monday.calls.answered_seconds = 300;
        monday.texts.waits = vec![60, 3600];
        monday.texts.delivered = 3;
        monday.texts.failed = 1;
        monday.texts.outbound = 5;
        monday.texts.sandboxed = 1;
        monday.inbound_calls_by_hour[9] = 3;
        monday.transcription.providers.insert(
            "openai".into(),
            ProviderFigures {
                recordings: 1,
                audio_ms: 90_000,
                failures: 0,
            },
        );
        let mut tuesday = DayFigures::default();
        tuesday.calls.total = 2;
        tuesday.calls.inbound = 2;
        tuesday.calls.answered = 1;
        tuesday.calls.completed = 1;
        tuesday.calls.answered_seconds = 61;
        tuesday.texts.waits = vec![120];
        tuesday.texts.auto_replies.insert("office_hours".into(), 2);
        tuesday.inbound_calls_by_hour[9] = 1;
        let days: BTreeMap<NaiveDate, DayFigures> = [(day("2026-03-09"), monday), (day("2026-03-10"), tuesday)].into();
        let answer = report(day("2026-03-09"), day("2026-03-10"), chrono_tz::America::Toronto, &days);
        let a = &answer["analytics"];
        assert_eq!(a["calls"]["total"], 6);
        assert_eq!(a["calls"]["outbound"], 1);
        assert_eq!(a["calls"]["averageDuration"], 120); // 361 / 3
        assert_eq!(a["calls"]["completionRate"], 0.5);
        assert_eq!(a["sms"]["sent"], 5);
        assert_eq!(a["sms"]["deliveryRate"], 0.75);
        assert_eq!(a["sms"]["deliveryRateDenominator"], 4);
        assert_eq!(a["sms"]["review"]["medianWaitSeconds"], 120);
        assert_eq!(a["sms"]["review"]["reviewed"], 3);
        assert_eq!(a["sms"]["autoReplies"]["total"], 2);
        assert_eq!(a["transcription"]["minutes"], 1.5);
        assert_eq!(a["busiestHours"]["calls"][0][9], 3);
        assert_eq!(a["busiestHours"]["calls"][1][9], 1);
        assert_eq!(a["daily"][1]["calls"]["averageDuration"], 61);
    }

    #[test]
    fn stored_figures_read_back_the_same() {
        let mut figures = DayFigures::default();
        figures.texts.waits = vec![1, 2, 3];
        figures.texts.auto_replies.insert("help".into(), 1);
        let stored = serde_json::to_value(&figures).unwrap();
        assert_eq!(serde_json::from_value::<DayFigures>(stored).unwrap(), figures);
    }
}
