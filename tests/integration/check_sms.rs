//! The 15-minute `check-sms` job: reads received texts back from VoIP.ms (`getSMS`) for the window
//! since the last successful run, with overlap, and stores what the webhook missed.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use pedro_tests::app::{TestApp, DID, DID_E164, PATIENT, PATIENT_E164, VOIPMS_PASSWORD};
use pedro_tests::fakes::voipms::{Fault, InboundSms};
use pedro_tests::spawn_app;
use pedro_voip::clock::Clock;
use pedro_voip::jobs::check_sms::{self, CheckSmsReport};
use pedro_voip::jobs::Job;
use pedro_voip::sms::inbound::{receive, InboundText};
use pedro_voip::store::jobs;
use pedro_voip::store::messages::Origin;
use serde_json::{json, Value};

/// A second patient, in VoIP.ms's 10-digit form and in E.164.
const OTHER: &str = "4385550123";
const OTHER_E164: &str = "+14385550123";

/// A text VoIP.ms received on our DID at `at`.
fn received(id: &str, at: DateTime<Utc>, contact: &str, message: &str) -> InboundSms {
    InboundSms {
        id: id.into(),
        date: at.naive_utc(),
        did: DID.into(),
        contact: contact.into(),
        message: message.into(),
        media: None,
    }
}

async fn check(app: &TestApp) -> CheckSmsReport {
    check_sms::run(&app.ctx).await.expect("check-sms ran")
}

/// One row of `job_runs`.
#[derive(Debug)]
struct Run {
    status: String,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    stats: Value,
    error: Option<String>,
}

/// The check-sms runs, oldest first.
async fn runs(app: &TestApp) -> Vec<Run> {
    app.sql()
        .await
        .query(
            "SELECT status, started_at, finished_at, window_start, window_end, stats, error \
             FROM job_runs WHERE job = 'check-sms' AND practice_id = $1 ORDER BY started_at, window_start",
            &[&app.practice_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| Run {
            status: row.get("status"),
            started_at: row.get("started_at"),
            finished_at: row.get("finished_at"),
            window_start: row.get("window_start"),
            window_end: row.get("window_end"),
            stats: row.get("stats"),
            error: row.get("error"),
        })
        .collect()
}

/// Carrier ids of the stored inbound texts, sorted.
async fn stored_ids(app: &TestApp) -> Vec<String> {
    app.sql()
        .await
        .query(
            "SELECT provider_message_id FROM sms_messages WHERE direction = 'inbound' ORDER BY provider_message_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// The `from`/`to` days of every getSMS call so far.
fn getsms_days(app: &TestApp) -> Vec<(String, String)> {
    app.voipms
        .calls("getMMS")
        .into_iter()
        .map(|p| {
            (
                p.get("from").cloned().unwrap_or_default(),
                p.get("to").cloned().unwrap_or_default(),
            )
        })
        .collect()
}

/// (needs_review, review_reason) of the thread with `contact` (E.164).
async fn thread_review(app: &TestApp, contact: &str) -> (bool, Option<String>) {
    let row = app
        .sql()
        .await
        .query_one(
            "SELECT needs_review, review_reason FROM sms_conversations WHERE contact = $1",
            &[&contact],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn texts_the_webhook_missed_are_stored_with_the_carrier_date() {
    let app = spawn_app().start().await;
    let now = app.clock.now();
    let earlier = now - Duration::minutes(20);
    let yesterday = now - Duration::hours(20);
    app.voipms
        .add_received_sms(received("9001", yesterday, PATIENT, "Thanks for yesterday"));
    app.voipms
        .add_received_sms(received("9002", earlier, PATIENT, "Running 10 minutes behind, sorry"));

    let report = check(&app).await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.skipped, None);
    assert_eq!(report.practices, 1);
    assert_eq!((report.fetched, report.stored, report.duplicates), (2, 2, 0));

    let calls = app.voipms.calls("getMMS");
    assert_eq!(calls.len(), 1, "one DID, one call: {calls:?}");
    let params = &calls[0];
    assert_eq!(params["type"], "1", "received texts only");
    assert_eq!(params["did"], DID, "the DID in 10-digit form");
    assert_eq!(params["timezone"], "0", "dates in UTC");
    assert_eq!(params["all_messages"], "1", "texts and MMS in one list");
    // The window's days, widened by a day on each side: VoIP.ms may count days in its own zone.
    assert_eq!(
        params["from"], "2026-11-23",
        "the day before the 24-hour lookback starts"
    );
    assert_eq!(params["to"], "2026-11-26", "the day after today");

    let db = app.sql().await;
    let rows = db
        .query(
            "SELECT m.provider_message_id, m.body, m.origin, m.occurred_at, m.status, m.direction, \
                    c.contact, c.did, c.unread_count, c.last_message_at, c.last_message_preview \
             FROM sms_messages m JOIN sms_conversations c ON c.id = m.conversation_id \
             ORDER BY m.occurred_at",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for (row, (id, at, body)) in rows.iter().zip([
        ("9001", yesterday, "Thanks for yesterday"),
        ("9002", earlier, "Running 10 minutes behind, sorry"),
    ]) {
        assert_eq!(row.get::<_, String>("provider_message_id"), id);
        assert_eq!(row.get::<_, String>("body"), body);
        assert_eq!(row.get::<_, String>("origin"), "check_sms");
        assert_eq!(row.get::<_, String>("direction"), "inbound");
        assert_eq!(row.get::<_, String>("status"), "received");
        assert_eq!(
            row.get::<_, DateTime<Utc>>("occurred_at"),
            at,
            "getSMS's date, not the time of the run"
        );
        assert_eq!(row.get::<_, String>("contact"), PATIENT_E164);
        assert_eq!(row.get::<_, String>("did"), DID_E164);
    }
    assert_eq!(
        app.count("SELECT count(*) FROM sms_conversations").await,
        1,
        "one thread for the patient"
    );
    let thread = &rows[0];
    assert_eq!(thread.get::<_, i32>("unread_count"), 2);
    assert_eq!(thread.get::<_, DateTime<Utc>>("last_message_at"), earlier);
    assert_eq!(
        thread.get::<_, Option<String>>("last_message_preview").as_deref(),
        Some("Running 10 minutes behind, sorry")
    );
}

#[tokio::test]
async fn a_text_the_webhook_stored_is_neither_stored_nor_answered_again() {
    let app = spawn_app().start().await;
    let (status, body) = app.text_in(PATIENT_E164, "What are your hours?", "7001").await;
    assert_eq!(status, 200);
    assert_eq!(body["autoResponse"]["queued"], true);
    assert_eq!(app.voipms.sent_sms().len(), 1);
    app.voipms
        .add_received_sms(received("7001", app.clock.now(), PATIENT, "What are your hours?"));

    app.clock.advance(Duration::minutes(5));
    let report = check(&app).await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        (report.fetched, report.stored, report.duplicates, report.auto_replied),
        (1, 0, 1, 0)
    );
    assert!(app.drain_queue().await.is_empty(), "nothing was queued again");
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE direction = 'inbound'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE direction = 'inbound' AND origin = 'webhook'")
            .await,
        1,
        "the webhook's copy is kept as it was"
    );
    assert_eq!(app.voipms.sent_sms().len(), 1, "answered once");
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE direction = 'outbound'")
            .await,
        1
    );
    assert_eq!(app.count("SELECT unread_count::int8 FROM sms_conversations").await, 1);
    let runs = runs(&app).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].stats,
        json!({"fetched": 1, "stored": 0, "duplicates": 1, "autoReplied": 0, "flagged": 0, "rejected": 0})
    );
}

#[tokio::test]
async fn a_late_webhook_for_a_text_check_sms_stored_is_a_duplicate() {
    let app = spawn_app().start().await;
    app.voipms.add_received_sms(received(
        "7101",
        app.clock.now() - Duration::minutes(3),
        PATIENT,
        "What are your hours?",
    ));
    let report = check(&app).await;
    assert_eq!((report.stored, report.auto_replied), (1, 1));
    app.drain_queue().await;
    assert_eq!(app.voipms.sent_sms().len(), 1);

    let (status, body) = app.text_in(PATIENT_E164, "What are your hours?", "7101").await;
    assert_eq!(status, 200);
    assert_eq!(body["duplicate"], true);
    assert_eq!(body["autoResponse"], Value::Null);
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE direction = 'inbound'")
            .await,
        1
    );
    assert_eq!(app.voipms.sent_sms().len(), 1, "answered once");
}

#[tokio::test]
async fn a_young_missed_text_is_answered_and_an_old_one_is_flagged() {
    let app = spawn_app().start().await;
    let now = app.clock.now();
    app.voipms.add_received_sms(received(
        "8001",
        now - Duration::minutes(10),
        PATIENT,
        "What are your hours?",
    ));
    app.voipms.add_received_sms(received(
        "8002",
        now - Duration::hours(3),
        OTHER,
        "what are your hours?",
    ));

    let report = check(&app).await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!((report.stored, report.auto_replied, report.flagged), (2, 1, 1));
    app.drain_queue().await;

    let sent = app.voipms.sent_sms();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].dst, PATIENT, "only the young text is answered");
    assert_eq!(sent[0].did, DID);
    assert!(sent[0].message.contains("Maple Dental is open"), "{}", sent[0].message);
    let db = app.sql().await;
    let reply = db
        .query_one(
            "SELECT r.origin, r.auto_response_category, m.provider_message_id \
             FROM sms_messages r JOIN sms_messages m ON m.id = r.reply_to_id WHERE r.direction = 'outbound'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(reply.get::<_, String>(0), "auto_reply");
    assert_eq!(reply.get::<_, Option<String>>(1).as_deref(), Some("office_hours"));
    assert_eq!(reply.get::<_, Option<String>>(2).as_deref(), Some("8001"));

    assert_eq!(thread_review(&app, PATIENT_E164).await, (false, None));
    let (flagged, reason) = thread_review(&app, OTHER_E164).await;
    assert!(flagged, "the old text's thread needs a person");
    let reason = reason.expect("a reason for the flag");
    assert!(reason.contains("too old"), "{reason}");
    let old = db
        .query_one(
            "SELECT needs_review, review_reason, auto_response_category FROM sms_messages \
             WHERE provider_message_id = '8002'",
            &[],
        )
        .await
        .unwrap();
    assert!(old.get::<_, bool>(0));
    assert!(old.get::<_, Option<String>>(1).is_some());
    assert_eq!(
        old.get::<_, Option<String>>(2).as_deref(),
        Some("office_hours"),
        "the topic is still recorded"
    );
}

#[tokio::test]
async fn the_auto_reply_age_limit_is_configurable() {
    let app = spawn_app().env("AUTO_REPLY_MAX_AGE_MINUTES", "15").start().await;
    let now = app.clock.now();
    app.voipms.add_received_sms(received(
        "8101",
        now - Duration::minutes(10),
        PATIENT,
        "What are your hours?",
    ));
    app.voipms.add_received_sms(received(
        "8102",
        now - Duration::minutes(20),
        OTHER,
        "What are your hours?",
    ));
    let report = check(&app).await;
    assert_eq!((report.stored, report.auto_replied, report.flagged), (2, 1, 1));
    app.drain_queue().await;
    let sent: Vec<String> = app.voipms.sent_sms().into_iter().map(|s| s.dst).collect();
    assert_eq!(sent, vec![PATIENT.to_string()]);
    assert!(thread_review(&app, OTHER_E164).await.0);
    assert!(!thread_review(&app, PATIENT_E164).await.0);
}

#[tokio::test]
async fn each_run_is_recorded_and_the_next_window_overlaps_the_last() {
    let app = spawn_app().start().await;
    // 19:50 in Toronto, so the windows cross midnight UTC.
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 0, 50, 0).unwrap();
    app.clock.set(t0);

    let report = check(&app).await;
    assert!(report.failed.is_empty(), "{report:?}");
    let first = runs(&app).await;
    assert_eq!(first.len(), 1);
    let run = &first[0];
    assert_eq!(run.status, "succeeded");
    assert_eq!(run.started_at, t0);
    assert_eq!(run.finished_at, Some(t0));
    assert_eq!(run.window_start, t0 - Duration::hours(24));
    assert_eq!(run.window_end, t0);
    assert_eq!(
        run.stats,
        json!({"fetched": 0, "stored": 0, "duplicates": 0, "autoReplied": 0, "flagged": 0, "rejected": 0})
    );
    assert_eq!(run.error, None);

    // Texts that show up in getSMS only after the run that should have seen them: one inside the
    // overlap, one before it but on a day the window covers (so it is read and stored too).
    app.voipms
        .add_received_sms(received("L1", t0 - Duration::minutes(10), PATIENT, "late in the list"));
    app.voipms.add_received_sms(received(
        "L2",
        t0 - Duration::minutes(90),
        OTHER,
        "too late in the list",
    ));

    let t1 = t0 + Duration::minutes(15);
    app.clock.set(t1);
    let report = check(&app).await;
    assert_eq!((report.fetched, report.stored), (2, 2), "{report:?}");
    let mut ids = stored_ids(&app).await;
    ids.sort();
    assert_eq!(ids, vec!["L1", "L2"]);
    let second = runs(&app).await;
    assert_eq!(second.len(), 2);
    assert_eq!(second[1].status, "succeeded");
    assert_eq!(
        second[1].window_start,
        t0 - Duration::minutes(60),
        "the last window's end minus the overlap"
    );
    assert_eq!(second[1].window_end, t1);
    assert_eq!(
        second[1].stats,
        json!({"fetched": 2, "stored": 2, "duplicates": 0, "autoReplied": 0, "flagged": 2, "rejected": 0})
    );

    let t2 = t1 + Duration::minutes(15);
    app.clock.set(t2);
    let report = check(&app).await;
    assert_eq!(
        (report.fetched, report.stored, report.duplicates),
        (2, 0, 2),
        "both are on the (widened) days asked for again, and stored once: {report:?}"
    );
    let third = runs(&app).await;
    assert_eq!(third[2].window_start, t1 - Duration::minutes(60));
    assert_eq!(third[2].window_end, t2);

    assert_eq!(
        getsms_days(&app),
        vec![
            ("2026-11-24".into(), "2026-11-27".into()),
            ("2026-11-24".into(), "2026-11-27".into()),
            ("2026-11-25".into(), "2026-11-27".into()),
        ],
        "getMMS is asked for the days the window covers, and one more on each side"
    );
}

#[tokio::test]
async fn the_overlap_is_configurable() {
    let app = spawn_app().env("CHECK_SMS_OVERLAP_MINUTES", "5").start().await;
    let t0 = app.clock.now();
    check(&app).await;
    app.clock.advance(Duration::minutes(15));
    check(&app).await;
    let runs = runs(&app).await;
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].window_start, t0 - Duration::minutes(5));
    assert_eq!(runs[1].window_end, t0 + Duration::minutes(15));
}

#[tokio::test]
async fn the_first_run_asks_for_the_days_of_the_configured_look_back() {
    let app = spawn_app().env("CHECK_SMS_INITIAL_LOOKBACK_HOURS", "2").start().await;
    let now = app.clock.now();
    app.voipms
        .add_received_sms(received("in", now - Duration::minutes(90), PATIENT, "inside"));
    // Same UTC day, so getSMS lists it, and it is stored too: getSMS's time zone is only inferred,
    // so the job does not second-guess the day window (the text is old: flagged, not answered).
    app.voipms
        .add_received_sms(received("out", now - Duration::hours(3), PATIENT, "before the window"));
    app.voipms
        .add_received_sms(received("way-out", now - Duration::hours(54), OTHER, "days before"));

    let report = check(&app).await;
    assert_eq!((report.fetched, report.stored), (2, 2), "{report:?}");
    let mut ids = stored_ids(&app).await;
    ids.sort();
    assert_eq!(
        ids,
        vec!["in", "out"],
        "the 54-hour-old text is on a day never asked for"
    );
    // The window's days, widened by one on each side (VoIP.ms may count days in its own zone).
    assert_eq!(getsms_days(&app), vec![("2026-11-24".into(), "2026-11-26".into())]);
    let runs = runs(&app).await;
    assert_eq!(runs[0].window_start, now - Duration::hours(2));
    assert_eq!(runs[0].window_end, now);
}

#[tokio::test]
async fn the_default_first_run_asks_for_the_days_of_the_last_24_hours() {
    let app = spawn_app().start().await;
    let now = app.clock.now();
    app.voipms.add_received_sms(received(
        "two-days",
        now - Duration::hours(73),
        PATIENT,
        "never asked for",
    ));
    app.voipms
        .add_received_sms(received("day-in", now - Duration::hours(23), PATIENT, "inside"));
    app.voipms.add_received_sms(received(
        "day-out",
        now - Duration::hours(25),
        PATIENT,
        "before the window",
    ));
    check(&app).await;
    let mut ids = stored_ids(&app).await;
    ids.sort();
    assert_eq!(
        ids,
        vec!["day-in", "day-out"],
        "both on yesterday, the first day of the window"
    );
    assert_eq!(runs(&app).await[0].window_start, now - Duration::hours(24));
}

/// A VoIP.ms error fails the run and loses nothing: the next run reads again from the last
/// successful run's window.
async fn a_voipms_error_is_retried_next_time(fault: Fault, error_says: &str) {
    let app = spawn_app().start().await;
    let t0 = app.clock.now();
    check(&app).await;

    let t1 = t0 + Duration::minutes(15);
    app.clock.set(t1);
    app.voipms.add_received_sms(received(
        "F1",
        t1 - Duration::minutes(5),
        PATIENT,
        "What are your hours?",
    ));
    app.voipms.set_fault("getMMS", Some(fault));
    let error = Job::CheckSms
        .run(&app.ctx)
        .await
        .expect_err("a VoIP.ms error fails the job");
    assert!(error.to_string().contains(error_says), "{error_says:?} in {error}");
    assert_eq!(app.count("SELECT count(*) FROM sms_messages").await, 0);
    let after_failure = runs(&app).await;
    assert_eq!(after_failure.len(), 2);
    let failed = &after_failure[1];
    assert_eq!(failed.status, "failed");
    assert_eq!(failed.finished_at, Some(t1));
    let message = failed.error.clone().expect("the error is recorded");
    assert!(message.contains(error_says), "{error_says:?} in {message}");
    assert!(
        !message.contains(VOIPMS_PASSWORD),
        "no credentials in job_runs: {message}"
    );
    assert_eq!(failed.stats, json!({}));

    app.voipms.set_fault("getMMS", None);
    let t2 = t1 + Duration::minutes(15);
    app.clock.set(t2);
    let report = Job::CheckSms.run(&app.ctx).await.expect("the next run succeeds");
    assert_eq!(report["stored"], 1, "{report}");
    assert_eq!(stored_ids(&app).await, vec!["F1"]);
    let runs = runs(&app).await;
    let statuses: Vec<&str> = runs.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(statuses, ["succeeded", "failed", "succeeded"]);
    assert_eq!(
        runs[2].window_start,
        t0 - Duration::minutes(60),
        "from the last successful run, not the failed one"
    );
    assert_eq!(runs[2].window_end, t2);
    // Found 20 minutes after it arrived: still young enough to be answered.
    app.drain_queue().await;
    assert_eq!(app.voipms.sent_sms().len(), 1);
}

#[tokio::test]
async fn an_error_status_from_voipms_is_retried_next_time() {
    a_voipms_error_is_retried_next_time(Fault::Status("api_limit_exceeded"), "api_limit_exceeded").await;
}

#[tokio::test]
async fn an_http_error_from_voipms_is_retried_next_time() {
    a_voipms_error_is_retried_next_time(Fault::Http(500), "HTTP 500").await;
}

#[tokio::test]
async fn a_voipms_timeout_is_retried_next_time() {
    a_voipms_error_is_retried_next_time(Fault::Delay(StdDuration::from_secs(3)), "did not answer").await;
}

#[tokio::test]
async fn failed_first_runs_lose_nothing_however_long_they_fail() {
    let app = spawn_app().start().await;
    let t0 = app.clock.now();
    app.voipms
        .add_received_sms(received("G1", t0 - Duration::hours(12), PATIENT, "sent this morning"));
    // Inside the first attempted window, but older than a fresh 24-hour lookback from the retry.
    app.voipms
        .add_received_sms(received("G2", t0 - Duration::hours(23), PATIENT, "sent yesterday"));
    app.voipms.set_fault("getMMS", Some(Fault::Http(503)));
    let report = check(&app).await;
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.stored, 0);

    app.clock.advance(Duration::hours(3));
    let report = check(&app).await;
    assert_eq!(report.failed.len(), 1, "still failing: {report:?}");

    app.voipms.set_fault("getMMS", None);
    app.clock.advance(Duration::minutes(15));
    let report = check(&app).await;
    assert!(report.failed.is_empty(), "{report:?}");
    let mut ids = stored_ids(&app).await;
    ids.sort();
    assert_eq!(ids, vec!["G1", "G2"]);
    let runs = runs(&app).await;
    assert_eq!(runs[2].status, "succeeded");
    assert_eq!(
        runs[2].window_start,
        t0 - Duration::hours(24),
        "resumes where the first attempt started"
    );
}

#[tokio::test]
async fn nothing_received_is_a_successful_empty_run() {
    let app = spawn_app().start().await;
    let report = Job::CheckSms.run(&app.ctx).await.expect("no_sms is not an error");
    assert_eq!(report["fetched"], 0, "{report}");
    assert_eq!(report["stored"], 0);
    assert_eq!(report["practices"], 1);
    assert_eq!(report["failed"], json!([]));
    assert_eq!(app.voipms.calls("getMMS").len(), 1);
    let runs = runs(&app).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "succeeded");
    assert_eq!(
        runs[0].stats,
        json!({"fetched": 0, "stored": 0, "duplicates": 0, "autoReplied": 0, "flagged": 0, "rejected": 0})
    );
    assert_eq!(app.count("SELECT count(*) FROM sms_messages").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM sms_conversations").await, 0);
}

#[tokio::test]
async fn a_run_that_crashed_half_way_is_completed_without_duplicates() {
    let app = spawn_app().start().await;
    let t0 = app.clock.now();
    let texts = [
        received("C1", t0 - Duration::minutes(10), PATIENT, "What are your hours?"),
        received("C2", t0 - Duration::minutes(8), OTHER, "where is your office located"),
        received("C3", t0 - Duration::minutes(6), PATIENT, "see you soon"),
    ];
    for text in &texts {
        app.voipms.add_received_sms(text.clone());
    }

    // The crashed run: started, stored and answered C1, then died before finishing.
    {
        let client = app.sql().await;
        jobs::start(
            &client,
            app.practice_id,
            check_sms::JOB,
            t0,
            (t0 - Duration::hours(24), t0),
        )
        .await
        .unwrap();
    }
    let outcome = receive(
        &app.ctx,
        InboundText {
            to: DID_E164.into(),
            from: PATIENT.into(),
            message: texts[0].message.clone(),
            provider: pedro_voip::sms::gateway::Provider::VoipMs,
            provider_id: "C1".into(),
            provider_date: None,
            sent_at: Some(texts[0].date.and_utc()),
            media: Vec::new(),
            received_at: texts[0].date.and_utc(),
            origin: Origin::CheckSms,
        },
    )
    .await
    .unwrap();
    assert!(!outcome.duplicate);
    app.drain_queue().await;
    assert_eq!(app.voipms.sent_sms().len(), 1);

    app.clock.advance(Duration::minutes(15));
    let report = check(&app).await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        (report.fetched, report.stored, report.duplicates, report.auto_replied),
        (3, 2, 1, 1)
    );
    app.drain_queue().await;
    assert_eq!(stored_ids(&app).await, vec!["C1", "C2", "C3"]);
    let sent: Vec<String> = app.voipms.sent_sms().into_iter().map(|s| s.dst).collect();
    assert_eq!(
        sent,
        vec![PATIENT.to_string(), OTHER.to_string()],
        "C1 is not answered twice"
    );

    // And the same texts once more: nothing new.
    app.clock.advance(Duration::minutes(15));
    let report = check(&app).await;
    assert_eq!(
        (report.fetched, report.stored, report.duplicates, report.auto_replied),
        (3, 0, 3, 0)
    );
    app.drain_queue().await;
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE direction = 'inbound'")
            .await,
        3
    );
    assert_eq!(app.voipms.sent_sms().len(), 2);
    assert_eq!(
        app.count("SELECT sum(unread_count)::int8 FROM sms_conversations").await,
        3
    );
    let statuses: Vec<String> = runs(&app).await.into_iter().map(|r| r.status).collect();
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    assert_eq!(statuses[1..], ["succeeded", "succeeded"]);
}

#[tokio::test]
async fn without_voipms_credentials_the_job_is_skipped() {
    let app = spawn_app().sandbox().start().await;
    app.voipms.add_received_sms(received(
        "S1",
        app.clock.now() - Duration::minutes(5),
        PATIENT,
        "What are your hours?",
    ));
    let report = check(&app).await;
    assert!(report.skipped.is_some(), "{report:?}");
    assert_eq!(report.practices, 0);
    let json = Job::CheckSms.run(&app.ctx).await.expect("skipping is not an error");
    assert!(json["skipped"].is_string(), "{json}");
    assert!(app.voipms.calls("getMMS").is_empty());
    assert_eq!(app.count("SELECT count(*) FROM job_runs").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM sms_messages").await, 0);
    assert!(app.voipms.sent_sms().is_empty());
}
