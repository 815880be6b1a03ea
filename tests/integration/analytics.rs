//! `GET /api/voip/analytics` and the `daily-analytics` job: every figure on generated data with a
//! known answer; the same answer from the live tables and from the rollups, also on the days
//! clocks change; the job idempotent, and whole again after a crash half way.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::America::Toronto;
use pedro_tests::app::{client_with_token, member_token, service_token, TestApp, DID_E164};
use pedro_tests::spawn_app;
use pedro_voip::http::day_range::start_of_day;
use pedro_voip::jobs::Job;
use serde_json::{json, Value};
use uuid::Uuid;

const DID_B: &str = "+15145550177";

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// `hm` (`HH:MM`) on `day` in Toronto, as UTC (the earlier of an hour that happens twice).
fn local(day: &str, hm: &str) -> DateTime<Utc> {
    let time = chrono::NaiveTime::parse_from_str(hm, "%H:%M").unwrap();
    Toronto
        .from_local_datetime(&date(day).and_time(time))
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

/// Rows of one practice, written straight into the tables (as the sync, the webhook and the
/// workers leave them).
struct Seed {
    db: tokio_postgres::Client,
    practice: Uuid,
    did: String,
}

/// A text to write with [`Seed::text`].
struct Text {
    contact: &'static str,
    inbound: bool,
    at: DateTime<Utc>,
    status: &'static str,
    origin: &'static str,
    category: Option<&'static str>,
    reason: Option<&'static str>,
    open: bool,
    reviewed_at: Option<DateTime<Utc>>,
}

impl Text {
    fn inbound(contact: &'static str, at: DateTime<Utc>) -> Self {
        Self {
            contact,
            inbound: true,
            at,
            status: "received",
            origin: "webhook",
            category: None,
            reason: None,
            open: false,
            reviewed_at: None,
        }
    }

    fn outbound(contact: &'static str, at: DateTime<Utc>, status: &'static str, origin: &'static str) -> Self {
        Self {
            inbound: false,
            status,
            origin,
            ..Self::inbound(contact, at)
        }
    }

    fn category(mut self, category: &'static str) -> Self {
        self.category = Some(category);
        self
    }

    /// Flagged for a person, and still flagged.
    fn flagged(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self.open = true;
        self
    }

    /// Flagged, and marked reviewed at `at`.
    fn reviewed(mut self, reason: &'static str, at: DateTime<Utc>) -> Self {
        self.reason = Some(reason);
        self.reviewed_at = Some(at);
        self
    }

    /// Flagged, and cleared before review times were recorded.
    fn cleared(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }
}

impl Seed {
    async fn new(app: &TestApp, practice: Uuid, did: &str) -> Self {
        Self {
            db: app.sql().await,
            practice,
            did: did.to_string(),
        }
    }

    async fn call(&self, direction: &str, contact: &str, at: DateTime<Utc>, seconds: i32, disposition: &str) -> Uuid {
        self.db
            .query_one(
                "INSERT INTO phone_calls (practice_id, voipms_uniqueid, direction, did, contact, started_at, \
                   duration_seconds, billable_seconds, disposition, completed, synced_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $8 = 'answered' AND $7 > 0, $6, $6) RETURNING id",
                &[
                    &self.practice,
                    &Uuid::new_v4().to_string(),
                    &direction,
                    &self.did,
                    &contact,
                    &at,
                    &seconds,
                    &disposition,
                ],
            )
            .await
            .unwrap()
            .get(0)
    }

    async fn conversation(&self, contact: &str, at: DateTime<Utc>) -> Uuid {
        self.db
            .query_one(
                "INSERT INTO sms_conversations (practice_id, did, contact, last_message_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (practice_id, did, contact) DO UPDATE SET last_message_at = EXCLUDED.last_message_at \
                 RETURNING id",
                &[&self.practice, &self.did, &contact, &at],
            )
            .await
            .unwrap()
            .get(0)
    }

    async fn text(&self, t: Text) -> Uuid {
        let conversation = self.conversation(t.contact, t.at).await;
        let (direction, provider, provider_id, arrived) = match t.inbound {
            true => ("inbound", Some("voipms"), Some(Uuid::new_v4().to_string()), Some(t.at)),
            false => ("outbound", None, None, None),
        };
        self.db
            .query_one(
                "INSERT INTO sms_messages (practice_id, conversation_id, direction, body, occurred_at, arrived_at, \
                   origin, provider, provider_message_id, status, auto_response_category, needs_review, review_reason, \
                   review_severity, reviewed_at) \
                 VALUES ($1, $2, $3, 'hello', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
                &[
                    &self.practice,
                    &conversation,
                    &direction,
                    &t.at,
                    &arrived,
                    &t.origin,
                    &provider,
                    &provider_id,
                    &t.status,
                    &t.category,
                    &t.open,
                    &t.reason,
                    &i32::from(t.reason.is_some()),
                    &t.reviewed_at,
                ],
            )
            .await
            .unwrap()
            .get(0)
    }

    async fn opt_out(&self, contact: &str, at: DateTime<Utc>) {
        self.db
            .execute(
                "INSERT INTO sms_opt_outs (practice_id, contact, opted_out_at) VALUES ($1, $2, $3)",
                &[&self.practice, &contact, &at],
            )
            .await
            .unwrap();
    }

    /// A recording of `call`, in transcription state `status` with `failures` (provider names),
    /// transcribed by `transcript` (provider, audio milliseconds) when given.
    async fn recording(
        &self,
        call: Uuid,
        at: DateTime<Utc>,
        status: &str,
        failures: &[&str],
        transcript: Option<(&str, i64)>,
    ) {
        let failures = Value::Array(
            failures
                .iter()
                .map(|p| json!({"provider": p, "reason": "refused", "at": at}))
                .collect(),
        );
        let id: Uuid = self
            .db
            .query_one(
                "INSERT INTO call_recordings (practice_id, call_id, voipms_recording_id, direction, destination, \
                   recorded_at, status, duration_ms, transcription_status, transcription_failures) \
                 VALUES ($1, $2, $3, 'inbound', $4, $5, 'stored', 1000, $6, $7) RETURNING id",
                &[
                    &self.practice,
                    &call,
                    &Uuid::new_v4().to_string(),
                    &self.did,
                    &at,
                    &status,
                    &failures,
                ],
            )
            .await
            .unwrap()
            .get(0);
        if let Some((provider, ms)) = transcript {
            self.db
                .execute(
                    "INSERT INTO call_transcripts (recording_id, practice_id, call_id, provider, model, text, \
                       audio_duration_ms, elapsed_ms, created_at) VALUES ($1, $2, $3, $4, 'm', 'hello', $5, 10, $6)",
                    &[&id, &self.practice, &call, &provider, &ms, &at],
                )
                .await
                .unwrap();
        }
    }
}

async fn analytics_with(client: &reqwest::Client, app: &TestApp, query: &str) -> (u16, Value) {
    let response = client
        .get(app.url(&format!("/api/voip/analytics?{query}")))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The admin of the test app's practice asks.
async fn analytics(app: &TestApp, query: &str) -> Value {
    let (status, body) = analytics_with(&app.http, app, query).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

async fn run_job(app: &TestApp) -> Value {
    Job::DailyAnalytics.run(&app.ctx).await.expect("daily-analytics ran")
}

/// `(day, stale)` of a practice's rollups.
async fn rollup_days(app: &TestApp, practice: Uuid) -> Vec<(NaiveDate, bool)> {
    app.sql()
        .await
        .query(
            "SELECT day, stale FROM analytics_daily WHERE practice_id = $1 ORDER BY day",
            &[&practice],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

const P1: &str = "+14385550101";
const P2: &str = "+14385550102";
const P3: &str = "+14385550103";
const P4: &str = "+14385550104";
const P5: &str = "+14385550105";
const P6: &str = "+14385550106";
const P7: &str = "+14385550107";
const M1: &str = "+14385550201";
const M2: &str = "+14385550202";
const M3: &str = "+14385550203";
const M4: &str = "+14385550204";
const M5: &str = "+14385550205";
const M6: &str = "+14385550206";

/// Tuesday 2026-11-10 in Toronto (UTC-5) of practice A, with everything each figure counts, and a
/// little of practice B (the same patients) that A must never count.
async fn seed_tuesday(app: &TestApp, b: Uuid) {
    let a = Seed::new(app, app.practice_id, DID_E164).await;
    let t = |hm| local("2026-11-10", hm);
    // Calls.
    let c1 = a.call("inbound", P1, t("09:00"), 120, "answered").await;
    a.call("inbound", P2, t("09:10"), 0, "answered").await; // answered, not completed
    let c3 = a.call("outbound", P3, t("10:00"), 60, "answered").await;
    a.call("outbound", P4, t("10:30"), 0, "no_answer").await; // outbound: not a missed call
    a.call("inbound", P5, t("11:00"), 0, "failed").await;
    a.call("inbound", M1, t("12:00"), 0, "no_answer").await; // texted back at 12:20
    a.call("inbound", M2, t("13:00"), 0, "busy").await; // called back at 13:45
    let c8 = a.call("outbound", M2, t("13:45"), 90, "answered").await;
    a.call("inbound", M3, t("14:00"), 0, "no_answer").await; // called again at 14:30
    a.call("inbound", M3, t("14:30"), 30, "answered").await;
    a.call("inbound", M4, t("15:00"), 0, "no_answer").await; // texted 70 min later: not reached
    a.call("outbound", M4, t("16:30"), 45, "answered").await;
    a.call("inbound", M5, t("16:00"), 0, "no_answer").await; // the text back failed: not reached
    a.call("inbound", M6, t("23:30"), 0, "no_answer").await; // called again after midnight
    a.call("inbound", P6, t("23:50"), 1200, "answered").await; // ends on the 11th
    a.call("inbound", M6, local("2026-11-11", "00:10"), 40, "answered")
        .await;

    // Texts.
    a.text(Text::inbound(P1, t("08:00")).category("office_hours")).await;
    a.text(Text::outbound(P1, t("08:01"), "sent", "auto_reply").category("office_hours"))
        .await;
    a.text(Text::inbound(P2, t("08:30")).reviewed("no automatic answer matched", t("08:40")))
        .await;
    a.text(
        Text::inbound(P3, t("09:30"))
            .category("emergency")
            .reviewed("possible emergency", t("10:30")),
    )
    .await;
    a.text(Text::outbound(P3, t("09:31"), "sent", "auto_reply").category("emergency"))
        .await;
    a.text(Text::inbound(P4, t("10:00")).flagged("no automatic answer matched"))
        .await;
    a.text(Text::inbound(P5, t("10:05")).category("optout")).await;
    a.text(Text::outbound(P5, t("10:06"), "sent", "auto_reply").category("optout"))
        .await;
    a.opt_out(P5, t("10:05")).await;
    a.text(Text::inbound(P7, t("10:20")).cleared("no automatic answer matched"))
        .await;
    a.text(Text::outbound(P6, t("11:00"), "sent", "api")).await;
    a.text(Text::outbound(P6, t("11:05"), "failed", "api")).await;
    a.text(Text::outbound(P6, t("11:10"), "sandboxed", "api")).await;
    a.text(Text::outbound(P6, t("11:15"), "queued", "api")).await;
    a.text(Text::outbound(P6, t("11:16"), "sending", "api")).await;
    a.text(Text::outbound(P6, t("11:20"), "unknown", "api")).await;
    a.text(Text::outbound(P6, t("11:25"), "cancelled", "auto_reply").category("appointment"))
        .await;
    a.text(Text::outbound(M1, t("12:20"), "sent", "missed_call")).await;
    a.text(Text::outbound(M4, t("16:10"), "sent", "api")).await;
    a.text(Text::outbound(M5, t("16:30"), "failed", "api")).await;

    // Transcription.
    a.recording(c1, t("09:00"), "completed", &[], Some(("openai", 120_000)))
        .await;
    a.recording(c3, t("10:00"), "completed", &["openai"], Some(("google", 60_000)))
        .await;
    a.recording(c8, t("13:45"), "failed", &["openai", "google"], None).await;

    // Practice B: the same patients, the same day. B texts A's missed caller M4 within the hour.
    let b = Seed::new(app, b, DID_B).await;
    b.call("inbound", M4, t("15:00"), 0, "no_answer").await;
    b.text(Text::outbound(M4, t("15:10"), "sent", "api")).await;
    let bc = b.call("inbound", P1, t("09:00"), 300, "answered").await;
    b.text(Text::inbound(P2, t("08:30")).flagged("no automatic answer matched"))
        .await;
    b.opt_out(P1, t("09:00")).await;
    b.recording(bc, t("09:00"), "completed", &["google"], Some(("openai", 600_000)))
        .await;
}

/// What A's Tuesday must read, whichever way it is computed.
fn assert_tuesday(day: &Value) {
    assert_eq!(
        day["calls"],
        json!({
            "total": 15, "inbound": 11, "outbound": 4, "answered": 7, "completed": 6, "missed": 6,
            "failed": 1, "talkSeconds": 1545, "averageDuration": 221, "averageDurationDenominator": 7,
            "completionRate": 0.4, "completionRateDenominator": 15,
            "missedFollowUp": {
                "missed": 6, "reachedAgain": 4, "textedBack": 1, "calledBack": 1, "calledAgain": 2,
                "notReached": 2, "reachedAgainRate": 0.6667, "reachedAgainRateDenominator": 6
            }
        }),
        "{day}"
    );
    assert_eq!(
        day["sms"],
        json!({
            "total": 18, "sent": 12, "received": 6, "delivered": 6, "failed": 2, "sandboxed": 1,
            "inFlight": 2, "unknown": 1, "cancelled": 1, "deliveryRate": 0.75, "deliveryRateDenominator": 8,
            "autoReplies": {"total": 3, "byCategory": {
                "appointment": 0, "emergency": 1, "help": 0, "insurance": 0, "location": 0,
                "office_hours": 1, "optin": 0, "optout": 1
            }},
            "missedCallTextBacks": 1,
            "optOuts": 1,
            "review": {
                "flagged": 4, "reviewed": 2, "open": 1,
                "medianWaitSeconds": 2100, "medianWaitSecondsDenominator": 2,
                "p90WaitSeconds": 3300, "p90WaitSecondsDenominator": 2
            }
        }),
        "{day}"
    );
    assert_eq!(
        day["transcription"],
        json!({
            "recordings": 2, "minutes": 3.0, "failures": 3, "failedRecordings": 1,
            "byProvider": {
                "google": {"recordings": 1, "minutes": 1.0, "failures": 1},
                "openai": {"recordings": 1, "minutes": 2.0, "failures": 2}
            }
        }),
        "{day}"
    );
}

#[tokio::test]
async fn analytics_every_figure_on_a_day_with_known_answers_live_and_from_rollups() {
    let app = spawn_app().start().await;
    let b = app.add_practice("Other Clinic", DID_B).await;
    seed_tuesday(&app, b).await;
    let query = "startDate=2026-11-10&endDate=2026-11-11";

    let live = analytics(&app, query).await;
    let a = &live["analytics"];
    assert_eq!(
        (&a["startDate"], &a["endDate"], &a["timezone"], &a["days"]),
        (
            &json!("2026-11-10"),
            &json!("2026-11-11"),
            &json!("America/Toronto"),
            &json!(2)
        )
    );
    assert_tuesday(&a["daily"][0]);
    assert_eq!(a["daily"][0]["date"], "2026-11-10");
    // A call belongs to the day it started: the one from 23:50 is Tuesday's, and Wednesday has
    // only the call back at 00:10 (which reached Tuesday's missed caller).
    let wednesday = &a["daily"][1];
    assert_eq!(wednesday["date"], "2026-11-11");
    assert_eq!(
        (
            &wednesday["calls"]["total"],
            &wednesday["calls"]["talkSeconds"],
            &wednesday["calls"]["missed"]
        ),
        (&json!(1), &json!(40), &json!(0))
    );
    assert_eq!(a["calls"]["total"], 16);
    assert_eq!(a["calls"]["missedFollowUp"]["reachedAgain"], 4);
    // The busiest hours: Tuesday is row 1, Wednesday row 2 (Monday first).
    let calls = &a["busiestHours"]["calls"];
    let row: Vec<i64> = serde_json::from_value(calls[1].clone()).unwrap();
    let mut expected = vec![0; 24];
    for (hour, n) in [(9, 2), (11, 1), (12, 1), (13, 1), (14, 2), (15, 1), (16, 1), (23, 2)] {
        expected[hour] = n;
    }
    assert_eq!(row, expected);
    assert_eq!(calls[2][0], 1);
    let texts: Vec<i64> = serde_json::from_value(a["busiestHours"]["texts"][1].clone()).unwrap();
    assert_eq!((texts[8], texts[9], texts[10], texts.iter().sum::<i64>()), (2, 1, 3, 6));
    assert_eq!(a["busiestHours"]["weekdays"][1], "tuesday");

    // B sees its own day only: its text reached M4, A's text did not reach B's caller.
    let b_admin = client_with_token(&member_token(b, "admin"));
    let (status, b_body) = analytics_with(&b_admin, &app, query).await;
    assert_eq!(status, 200, "{b_body}");
    let b_day = &b_body["analytics"]["daily"][0];
    assert_eq!(b_day["calls"]["total"], 2);
    assert_eq!(b_day["calls"]["missedFollowUp"]["textedBack"], 1);
    assert_eq!(b_day["sms"]["review"]["open"], 1);
    assert_eq!(b_day["sms"]["optOuts"], 1);
    assert_eq!(b_day["transcription"]["minutes"], 10.0);

    // The job rolls up every day since the first activity up to yesterday (the clock is on the
    // 25th); the same question then reads the rollups and gets the same answer, to the byte.
    let report = run_job(&app).await;
    let practices = report["rollups"]["practices"].as_array().unwrap();
    assert_eq!(practices.len(), 2, "{report}");
    assert_eq!(practices[0]["days"], 15, "{report}");
    assert_eq!(practices[0]["firstDay"], "2026-11-10", "{report}");
    assert!(report["retention"]["objectsDeleted"].is_u64(), "{report}");
    let days = rollup_days(&app, app.practice_id).await;
    assert_eq!(days.len(), 15);
    assert!(days.iter().all(|(_, stale)| !stale));
    let rolled = analytics(&app, query).await;
    assert_eq!(rolled.to_string(), live.to_string());

    // It really reads the rollup: a rollup changed by hand shows through ...
    let db = app.sql().await;
    db.execute(
        "UPDATE analytics_daily SET figures = jsonb_set(figures, '{calls,total}', '999') \
         WHERE practice_id = $1 AND day = '2026-11-10'",
        &[&app.practice_id],
    )
    .await
    .unwrap();
    assert_eq!(
        analytics(&app, query).await["analytics"]["daily"][0]["calls"]["total"],
        999
    );
    // ... and one marked stale is not read; the next run computes it again.
    db.execute(
        "UPDATE analytics_daily SET stale = true WHERE practice_id = $1 AND day = '2026-11-10'",
        &[&app.practice_id],
    )
    .await
    .unwrap();
    assert_eq!(analytics(&app, query).await.to_string(), live.to_string());
    run_job(&app).await;
    assert!(rollup_days(&app, app.practice_id).await.iter().all(|(_, s)| !s));
    assert_eq!(analytics(&app, query).await.to_string(), live.to_string());

    // A change the figures do not read leaves the rollups alone: a call flagged for a person, a
    // send's claim on a text.
    db.batch_execute(
        "UPDATE phone_calls SET needs_review = true, review_reason = 'transcription failed'; \
         UPDATE sms_messages SET delivering_until = now() WHERE direction = 'outbound';",
    )
    .await
    .unwrap();
    assert!(rollup_days(&app, app.practice_id).await.iter().all(|(_, s)| !s));

    // A call synced late for a rolled-up day marks that day stale, and the answer has it at once.
    let a_seed = Seed::new(&app, app.practice_id, DID_E164).await;
    a_seed
        .call("inbound", P7, local("2026-11-10", "17:00"), 60, "answered")
        .await;
    let stale: Vec<NaiveDate> = rollup_days(&app, app.practice_id)
        .await
        .into_iter()
        .filter(|(_, s)| *s)
        .map(|(d, _)| d)
        .collect();
    assert_eq!(stale, [date("2026-11-10")]);
    let late = analytics(&app, query).await;
    assert_eq!(late["analytics"]["daily"][0]["calls"]["total"], 16);
    run_job(&app).await;
    assert_eq!(analytics(&app, query).await.to_string(), late.to_string());
    // B's rollups were never touched by A's rows.
    assert!(rollup_days(&app, b).await.iter().all(|(_, s)| !s));
}

/// Every rollup as stored: practice, day, figures and whether it is stale.
async fn snapshot(app: &TestApp) -> Vec<(Uuid, NaiveDate, String, bool)> {
    app.sql()
        .await
        .query(
            "SELECT practice_id, day, figures::text, stale FROM analytics_daily ORDER BY 1, 2",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// One inbound call and text at every hour of the days around a clock change, as UTC instants.
async fn seed_hourly(app: &TestApp, from: DateTime<Utc>, until: DateTime<Utc>) {
    let a = Seed::new(app, app.practice_id, DID_E164).await;
    let mut at = from;
    while at < until {
        a.call("inbound", P1, at, 60, "answered").await;
        a.text(Text::inbound(P2, at)).await;
        at += Duration::hours(1);
    }
}

fn hours_of(body: &Value, kind: &str, weekday: usize) -> Vec<i64> {
    serde_json::from_value(body["analytics"]["busiestHours"][kind][weekday].clone()).unwrap()
}

#[tokio::test]
async fn analytics_days_of_23_and_25_hours_read_the_same_live_and_rolled_up() {
    let app = spawn_app().start().await;
    // Spring forward: Sunday 2026-03-08 has no 2 a.m. (23 hours). Hourly from Saturday 23:00 to
    // Monday 00:59 local.
    app.clock.set(local("2026-03-10", "12:00"));
    let sunday = start_of_day(date("2026-03-08"), Toronto);
    let monday = start_of_day(date("2026-03-09"), Toronto);
    assert_eq!((monday - sunday).num_hours(), 23);
    seed_hourly(&app, sunday - Duration::hours(1), monday + Duration::hours(1)).await;
    let query = "startDate=2026-03-07&endDate=2026-03-09";
    let live = analytics(&app, query).await;
    let totals: Vec<&Value> = (0..3)
        .map(|i| &live["analytics"]["daily"][i]["calls"]["total"])
        .collect();
    assert_eq!(totals, [&json!(1), &json!(23), &json!(1)]);
    let sunday_calls = hours_of(&live, "calls", 6);
    assert_eq!(sunday_calls[2], 0, "no 2 a.m. that night");
    assert_eq!(sunday_calls.iter().sum::<i64>(), 23);
    // Saturday's 23:00 is Saturday's, Monday's 00:00 Monday's.
    assert_eq!(
        (hours_of(&live, "calls", 5)[23], hours_of(&live, "calls", 0)[0]),
        (1, 1)
    );
    assert_eq!(hours_of(&live, "texts", 6).iter().sum::<i64>(), 23);
    run_job(&app).await;
    let spans: Vec<i64> = app
        .column("SELECT (extract(epoch FROM ends_at - starts_at) / 3600)::bigint FROM analytics_daily ORDER BY day")
        .await;
    assert_eq!(spans, [24, 23, 24]);
    assert_eq!(analytics(&app, query).await.to_string(), live.to_string());

    // Fall back: Sunday 2026-11-01 has two 1 a.m. hours (25 hours).
    app.clock.set(local("2026-11-03", "12:00"));
    let sunday = start_of_day(date("2026-11-01"), Toronto);
    let monday = start_of_day(date("2026-11-02"), Toronto);
    assert_eq!((monday - sunday).num_hours(), 25);
    seed_hourly(&app, sunday, monday).await;
    let query = "startDate=2026-10-31&endDate=2026-11-02";
    let live = analytics(&app, query).await;
    assert_eq!(live["analytics"]["daily"][1]["calls"]["total"], 25);
    assert_eq!(live["analytics"]["daily"][1]["sms"]["received"], 25);
    assert_eq!(live["analytics"]["daily"][2]["calls"]["total"], 0);
    let sunday_calls = hours_of(&live, "calls", 6);
    assert_eq!(sunday_calls[1], 2, "both 1 a.m. hours: {sunday_calls:?}");
    assert!(sunday_calls.iter().enumerate().all(|(h, n)| h == 1 || *n == 1));
    run_job(&app).await;
    let fall: i64 = app
        .value(
            "SELECT (extract(epoch FROM ends_at - starts_at) / 3600)::bigint FROM analytics_daily \
             WHERE day = '2026-11-01'",
        )
        .await;
    assert_eq!(fall, 25);
    assert_eq!(analytics(&app, query).await.to_string(), live.to_string());

    // A call synced late for March 8th, long before the 90 days the job fills: the day is read
    // live at once, and the next run computes its stale rollup again all the same.
    Seed::new(&app, app.practice_id, DID_E164)
        .await
        .call("outbound", P3, local("2026-03-08", "12:30"), 60, "answered")
        .await;
    let query = "startDate=2026-03-07&endDate=2026-03-09";
    let late = analytics(&app, query).await;
    assert_eq!(late["analytics"]["daily"][1]["calls"]["total"], 24);
    let report = run_job(&app).await;
    assert_eq!(report["rollups"]["practices"][0]["firstDay"], "2026-03-08", "{report}");
    let stale: i64 = app.count("SELECT count(*) FROM analytics_daily WHERE stale").await;
    assert_eq!(stale, 0);
    assert_eq!(analytics(&app, query).await.to_string(), late.to_string());
}

#[tokio::test]
async fn analytics_the_job_is_idempotent_and_finishes_after_a_crash_half_way() {
    let app = spawn_app().start().await;
    let b = app.add_practice("Other Clinic", DID_B).await;
    let b_admin = client_with_token(&member_token(b, "admin"));
    app.clock.set(local("2026-11-05", "12:00"));
    for (seed, contact) in [
        (Seed::new(&app, app.practice_id, DID_E164).await, P1),
        (Seed::new(&app, b, DID_B).await, P2),
    ] {
        for day in ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"] {
            seed.call("inbound", contact, local(day, "10:00"), 30, "answered").await;
            seed.call("inbound", contact, local(day, "11:00"), 0, "no_answer").await;
            seed.text(Text::outbound(contact, local(day, "11:30"), "sent", "missed_call"))
                .await;
        }
    }
    let query = "startDate=2026-11-01&endDate=2026-11-06";

    // A re-run replaces the day it always computes and adds nothing.
    run_job(&app).await;
    let first = snapshot(&app).await;
    assert_eq!(first.len(), 8, "four days of each practice");
    let again = run_job(&app).await;
    assert_eq!(again["rollups"]["practices"][0]["days"], 1, "{again}");
    assert_eq!(snapshot(&app).await, first);
    let a_before = analytics(&app, query).await;
    let (_, b_before) = analytics_with(&b_admin, &app, query).await;
    assert_eq!(b_before["analytics"]["calls"]["total"], 8);

    // Two days later, with a late change to one of B's rolled-up days: B's run dies half way
    // (on the second of the days it writes), after A's run succeeded.
    let late = Seed::new(&app, b, DID_B).await;
    late.call("inbound", P3, local("2026-11-02", "15:00"), 10, "answered")
        .await;
    app.clock.set(local("2026-11-07", "12:00"));
    let db = app.sql().await;
    db.batch_execute(&format!(
        "CREATE FUNCTION crash_rollup() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.practice_id = '{b}' AND NEW.day = '2026-11-05' THEN RAISE EXCEPTION 'simulated crash'; END IF; \
           RETURN NEW; END $$; \
         CREATE TRIGGER crash_rollup BEFORE INSERT OR UPDATE ON analytics_daily \
           FOR EACH ROW EXECUTE FUNCTION crash_rollup();"
    ))
    .await
    .unwrap();
    let error = Job::DailyAnalytics
        .run(&app.ctx)
        .await
        .expect_err("B's rollup failed")
        .to_string();
    assert!(
        error.contains("simulated crash") && error.contains("\"retention\""),
        "{error}"
    );
    let a_days: Vec<NaiveDate> = rollup_days(&app, app.practice_id)
        .await
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    assert_eq!(a_days.len(), 6, "A's run went through: {a_days:?}");
    // B: none of the new days, its old ones as they were (the late change's day still stale).
    assert_eq!(
        rollup_days(&app, b).await,
        [
            (date("2026-11-01"), false),
            (date("2026-11-02"), true),
            (date("2026-11-03"), false),
            (date("2026-11-04"), false)
        ]
    );
    // Meanwhile the answers are whole: what is not rolled up is read live.
    let (_, b_during) = analytics_with(&b_admin, &app, query).await;
    assert_eq!(b_during["analytics"]["calls"]["total"], 9);
    assert_eq!(analytics(&app, query).await.to_string(), a_before.to_string());

    // The next run completes B, and the answers do not move.
    db.batch_execute("DROP TRIGGER crash_rollup ON analytics_daily; DROP FUNCTION crash_rollup();")
        .await
        .unwrap();
    let report = run_job(&app).await;
    assert_eq!(report["rollups"]["failed"], json!([]), "{report}");
    assert_eq!(report["rollups"]["practices"][1]["days"], 3, "{report}");
    let b_days = rollup_days(&app, b).await;
    assert_eq!(b_days.len(), 6);
    assert!(b_days.iter().all(|(_, stale)| !stale));
    let (_, b_after) = analytics_with(&b_admin, &app, query).await;
    assert_eq!(b_after.to_string(), b_during.to_string());
    assert_eq!(analytics(&app, query).await.to_string(), a_before.to_string());
}

#[tokio::test]
async fn analytics_review_waits_are_timed_from_arrival_to_the_review() {
    let app = spawn_app().start().await;
    // Through the webhook and the review endpoint: a text no rule answers is flagged ...
    let (_, stored) = app
        .text_in(pedro_tests::app::PATIENT, "Can I bring my dog along?", "w1")
        .await;
    assert_eq!(stored["needsReview"], true, "{stored}");
    let conversation = stored["conversationId"].as_str().unwrap().to_string();
    let today = app.clock_now().with_timezone(&Toronto).date_naive();
    let query = format!("startDate={today}&endDate={today}");
    let open = analytics(&app, &query).await;
    assert_eq!(
        open["analytics"]["sms"]["review"],
        json!({"flagged": 1, "reviewed": 0, "open": 1, "medianWaitSeconds": 0, "medianWaitSecondsDenominator": 0,
               "p90WaitSeconds": 0, "p90WaitSecondsDenominator": 0})
    );
    // ... and a person marks it reviewed 25 minutes later.
    app.clock.advance(Duration::minutes(25));
    let response = app
        .http
        .post(app.url(&format!("/api/voip/sms/conversations/{conversation}/review")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let review = &analytics(&app, &query).await["analytics"]["sms"]["review"];
    assert_eq!(
        (&review["reviewed"], &review["open"], &review["medianWaitSeconds"]),
        (&json!(1), &json!(0), &json!(1500))
    );
    // A flag raised again on the text reopens it: no review time any more.
    let db = app.sql().await;
    db.execute(
        "UPDATE sms_messages SET needs_review = true WHERE direction = 'inbound'",
        &[],
    )
    .await
    .unwrap();
    let reopened: Option<DateTime<Utc>> = app
        .value("SELECT reviewed_at FROM sms_messages WHERE direction = 'inbound'")
        .await;
    assert_eq!(reopened, None);
}

#[tokio::test]
async fn analytics_no_activity_gives_zeros_and_no_nulls() {
    let app = spawn_app().start().await;
    let body = analytics(&app, "startDate=2026-11-01&endDate=2026-11-30").await;
    let a = &body["analytics"];
    assert_eq!(a["days"], 30);
    assert_eq!(
        (
            &a["calls"]["total"],
            &a["calls"]["completionRate"],
            &a["sms"]["deliveryRate"]
        ),
        (&json!(0), &json!(0.0), &json!(0.0))
    );
    assert_eq!(a["sms"]["deliveryRateDenominator"], 0);
    assert!(!body.to_string().contains("null"), "{body}");
    // The job on an empty practice stores a day of zeros, read back the same.
    run_job(&app).await;
    assert_eq!(rollup_days(&app, app.practice_id).await, [(date("2026-11-24"), false)]);
    assert_eq!(
        analytics(&app, "startDate=2026-11-01&endDate=2026-11-30")
            .await
            .to_string(),
        body.to_string()
    );
}

#[tokio::test]
async fn analytics_bad_dates_get_a_clear_400() {
    let app = spawn_app().start().await;
    for (query, code) in [
        ("", "missing_date"),
        ("startDate=2026-11-01", "missing_date"),
        ("startDate=2026-11-31&endDate=2026-12-01", "invalid_date"),
        ("startDate=2026-1-1&endDate=2026-12-01", "invalid_date"),
        ("startDate=last-week&endDate=2026-12-01", "invalid_date"),
        ("startDate=2026-11-25&endDate=2026-11-24", "invalid_date_range"),
        ("startDate=2025-11-24&endDate=2026-11-25", "date_range_too_long"),
        (
            "startDate=2026-11-24&endDate=2026-11-24&dateFrom=2026-11-01",
            "unknown_parameter",
        ),
    ] {
        let (status, body) = analytics_with(&app.http, &app, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], code, "{query}: {body}");
    }
    // A year is fine: 366 days.
    let (status, _) = analytics_with(&app.http, &app, "startDate=2025-11-25&endDate=2026-11-25").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn analytics_are_for_admins_of_the_practice_only() {
    let app = spawn_app().start().await;
    let b = app.add_practice("Other Clinic", DID_B).await;
    Seed::new(&app, app.practice_id, DID_E164)
        .await
        .call("inbound", P1, local("2026-11-20", "10:00"), 30, "answered")
        .await;
    let query = "startDate=2026-11-20&endDate=2026-11-20";
    let staff = client_with_token(&member_token(app.practice_id, "staff"));
    let (status, body) = analytics_with(&staff, &app, query).await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")));
    let (status, _) = analytics_with(&reqwest::Client::new(), &app, query).await;
    assert_eq!(status, 401);
    // Another practice's admin reads their own (empty) practice.
    let (status, other) = analytics_with(&client_with_token(&member_token(b, "admin")), &app, query).await;
    assert_eq!((status, &other["analytics"]["calls"]["total"]), (200, &json!(0)));
    // The service role names the practice.
    let service = client_with_token(&service_token());
    let response = service
        .get(app.url(&format!("/api/voip/analytics?{query}")))
        .header("X-Practice-Id", app.practice_id.to_string())
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["analytics"]["calls"]["total"], 1);
    // And through SQL, `authenticated` staff cannot read the rollups: admins only.
    run_job(&app).await;
    let mut db = app.sql().await;
    let tx = db.transaction().await.unwrap();
    tx.batch_execute(&format!(
        "SET LOCAL ROLE authenticated; SELECT set_config('request.jwt.claims', \
         '{{\"role\":\"authenticated\",\"app_metadata\":{{\"practice_id\":\"{}\",\"practice_role\":\"staff\"}}}}', true)",
        app.practice_id
    ))
    .await
    .unwrap();
    let seen: i64 = tx
        .query_one("SELECT count(*) FROM analytics_daily", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(seen, 0);
}
