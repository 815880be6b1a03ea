//! `sync-calls` and `POST /api/voip/sync`: the call history from the fake VoIP.ms (getCDR) into
//! `phone_calls`, idempotent, in chunks VoIP.ms accepts, resumed after a failure.

use chrono::{Duration, NaiveDateTime, Utc};
use pedro_tests::app::{TestApp, DID, PATIENT};
use pedro_tests::fakes::voipms::{CdrRow, Fault};
use pedro_tests::spawn_app;
use pedro_voip::jobs::Job;
use serde_json::{json, Value};

/// `minutes` before the test clock's now, as the fake stores times (UTC).
pub fn ago(app: &TestApp, minutes: i64) -> NaiveDateTime {
    (app.clock_now() - Duration::minutes(minutes)).naive_utc()
}

pub async fn sync(app: &TestApp) -> (u16, Value) {
    let response = app.post_json("/api/voip/sync", &json!({})).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn calls(report: &Value) -> [u64; 6] {
    let c = &report["calls"];
    ["fetched", "inserted", "updated", "unchanged", "skipped", "invalid"].map(|k| c[k].as_u64().unwrap_or(u64::MAX))
}

#[tokio::test]
async fn a_sync_stores_each_call_once_and_a_rerun_changes_nothing() {
    let app = spawn_app().start().await;
    let fake = &app.voipms;
    let mut answered = CdrRow::inbound("1001.1", ago(&app, 300), PATIENT, DID, "ANSWERED", 125);
    answered.callerid = format!("\"Jane Roe\" <{PATIENT}>");
    fake.add_cdr(answered);
    fake.add_cdr(CdrRow::outbound(
        "12964421x41098i8c",
        ago(&app, 200),
        DID,
        "4385550123",
        "ANSWERED",
        60,
    ));
    fake.add_cdr(CdrRow::inbound(
        "1003",
        ago(&app, 100),
        "4385550124",
        DID,
        "NO ANSWER",
        0,
    ));
    fake.add_cdr(CdrRow::inbound("1004", ago(&app, 90), "4385550125", DID, "BUSY", 0));
    fake.add_cdr(CdrRow::inbound("1005", ago(&app, 80), "4385550126", DID, "FAILED", 0));
    // Another line of the same account: no practice owns it.
    fake.add_cdr(CdrRow::inbound(
        "2001",
        ago(&app, 70),
        PATIENT,
        "2125550100",
        "ANSWERED",
        30,
    ));
    // Rows a careless parser would choke on: numbers instead of strings, empty fields, garbage.
    fake.add_raw_cdr(
        ago(&app, 60),
        json!({"date": app.clock_now().format("%Y-%m-%d %H:%M:%S").to_string(), "callerid": 4385550127_u64,
               "destination": 5145550100_u64, "disposition": "ANSWERED", "seconds": 42, "duration": "",
               "uniqueid": 3001}),
    );
    fake.add_raw_cdr(
        ago(&app, 50),
        json!({"date": "not a date", "uniqueid": "3002", "destination": DID}),
    );
    fake.add_raw_cdr(ago(&app, 40), json!({"date": "", "destination": "", "uniqueid": ""}));

    let (status, first) = sync(&app).await;
    assert_eq!(status, 200, "{first}");
    // The practice's own rows only: another line's and unreadable rows are the operator's figures.
    assert_eq!(calls(&first), [6, 6, 0, 0, 0, 0], "{first}");

    let rows = app
        .sql()
        .await
        .query(
            "SELECT voipms_uniqueid, direction, did, contact, contact_name, duration_seconds, billable_seconds, \
                    disposition, completed FROM phone_calls ORDER BY started_at",
            &[],
        )
        .await
        .unwrap();
    type Stored = (String, String, String, Option<String>, i32, String, bool);
    let summary: Vec<Stored> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(3), r.get(4), r.get(5), r.get(7), r.get(8)))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "1001.1".into(),
                "inbound".into(),
                "+14385550199".into(),
                Some("Jane Roe".into()),
                125,
                "answered".into(),
                true
            ),
            (
                "12964421x41098i8c".into(),
                "outbound".into(),
                "+14385550123".into(),
                None,
                60,
                "answered".into(),
                true
            ),
            (
                "1003".into(),
                "inbound".into(),
                "+14385550124".into(),
                None,
                0,
                "no_answer".into(),
                false
            ),
            (
                "1004".into(),
                "inbound".into(),
                "+14385550125".into(),
                None,
                0,
                "busy".into(),
                false
            ),
            (
                "1005".into(),
                "inbound".into(),
                "+14385550126".into(),
                None,
                0,
                "failed".into(),
                false
            ),
            (
                "3001".into(),
                "inbound".into(),
                "+14385550127".into(),
                None,
                42,
                "answered".into(),
                true
            ),
        ]
    );
    assert!(rows.iter().all(|r| r.get::<_, String>(2) == "+15145550100"));

    // The same history again: nothing inserted, nothing written.
    let updated_before: Vec<chrono::DateTime<Utc>> = app.column("SELECT updated_at FROM phone_calls ORDER BY id").await;
    app.clock.advance(Duration::hours(1));
    let (_, again) = sync(&app).await;
    assert_eq!(calls(&again), [6, 0, 0, 6, 0, 0], "{again}");
    // The hourly job reports the whole account: the other line's row and the unreadable ones too.
    let all = Job::SyncCalls.run(&app.ctx).await.unwrap();
    assert_eq!(calls(&all), [9, 0, 0, 6, 1, 2], "{all}");
    let own_run: Value = app
        .value("SELECT stats FROM job_runs WHERE job = 'sync-calls' ORDER BY started_at DESC LIMIT 1")
        .await;
    assert_eq!(
        calls(&own_run),
        [6, 0, 0, 6, 0, 0],
        "a practice's run holds its own figures: {own_run}"
    );
    let updated_after: Vec<chrono::DateTime<Utc>> = app.column("SELECT updated_at FROM phone_calls ORDER BY id").await;
    assert_eq!(updated_before, updated_after, "an unchanged call is not written");

    // VoIP.ms corrects one call (a late CDR update): only that one changes.
    fake.clear_cdr();
    fake.add_cdr(CdrRow::inbound(
        "1003",
        ago(&app, 160),
        "4385550124",
        DID,
        "ANSWERED",
        33,
    ));
    let (_, corrected) = sync(&app).await;
    assert_eq!(calls(&corrected), [1, 0, 1, 0, 0, 0], "{corrected}");
    assert_eq!(
        app.value::<String>("SELECT disposition FROM phone_calls WHERE voipms_uniqueid = '1003'")
            .await,
        "answered"
    );
    assert_eq!(app.count("SELECT count(*) FROM phone_calls").await, 6);
}

#[tokio::test]
async fn getcdr_is_asked_for_all_statuses_in_utc_and_at_most_92_days_at_a_time() {
    let app = spawn_app().env("CALL_SYNC_LOOKBACK_DAYS", "200").start().await;
    app.voipms.add_cdr(CdrRow::inbound(
        "old",
        ago(&app, 150 * 24 * 60),
        PATIENT,
        DID,
        "ANSWERED",
        10,
    ));
    app.voipms.add_cdr(CdrRow::inbound(
        "mid",
        ago(&app, 95 * 24 * 60),
        PATIENT,
        DID,
        "ANSWERED",
        10,
    ));
    app.voipms
        .add_cdr(CdrRow::inbound("new", ago(&app, 10), PATIENT, DID, "ANSWERED", 10));
    let (status, report) = sync(&app).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["calls"]["inserted"], 3, "{report}");
    let requests = app.voipms.calls("getCDR");
    assert!(requests.len() >= 3, "200 days take three requests or more");
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    for request in &requests {
        let span = day(&request["date_to"]) - day(&request["date_from"]);
        assert!(span.num_days() < 92, "{request:?}");
        assert_eq!(request["timezone"], "0");
        for status in ["answered", "noanswer", "busy", "failed"] {
            assert_eq!(request[status], "1", "{request:?}");
        }
    }
}

#[tokio::test]
async fn a_failed_sync_is_recorded_and_the_next_one_covers_its_window() {
    let app = spawn_app().start().await;
    app.voipms
        .add_cdr(CdrRow::inbound("a", ago(&app, 30), PATIENT, DID, "ANSWERED", 10));
    let (status, _) = sync(&app).await;
    assert_eq!(status, 200);

    // VoIP.ms is down for the next run; a call happens meanwhile.
    app.clock.advance(Duration::hours(1));
    app.voipms
        .add_cdr(CdrRow::inbound("b", ago(&app, 20), PATIENT, DID, "NO ANSWER", 0));
    app.voipms
        .set_fault("getCDR", Some(Fault::Status("method_maintenance")));
    let (status, error) = sync(&app).await;
    assert_eq!(status, 502, "{error}");
    assert_eq!(error["error"]["code"], "voipms_unavailable");
    assert!(
        Job::SyncCalls.run(&app.ctx).await.is_err(),
        "the scheduled run fails too (and is retried)"
    );

    // Hours later it is back: the window since the last success is read.
    app.clock.advance(Duration::hours(5));
    app.voipms.set_fault("getCDR", None);
    let report = Job::SyncCalls.run(&app.ctx).await.expect("the next run succeeds");
    assert_eq!(report["calls"]["inserted"], 1, "{report}");
    assert_eq!(app.count("SELECT count(*) FROM phone_calls").await, 2);
    let statuses: Vec<String> = app
        .column("SELECT status FROM job_runs WHERE job = 'sync-calls' ORDER BY started_at, status")
        .await;
    assert_eq!(statuses, ["succeeded", "failed", "failed", "succeeded"]);
}

#[tokio::test]
async fn a_one_practice_sync_neither_stores_nor_counts_another_practices_calls() {
    let app = spawn_app().start().await;
    let other = app.add_practice("Other Dental", "+12125550100").await;
    app.voipms
        .add_cdr(CdrRow::inbound("ours", ago(&app, 30), PATIENT, DID, "ANSWERED", 10));
    app.voipms.add_cdr(CdrRow::inbound(
        "theirs",
        ago(&app, 30),
        PATIENT,
        "2125550100",
        "ANSWERED",
        10,
    ));
    let (_, report) = sync(&app).await;
    assert_eq!(calls(&report), [1, 1, 0, 0, 0, 0], "{report}");
    assert_eq!(app.count("SELECT count(*) FROM phone_calls").await, 1);
    // The hourly job syncs every practice.
    let all = Job::SyncCalls.run(&app.ctx).await.unwrap();
    assert_eq!(all["calls"]["inserted"], 1, "{all}");
    let owner: uuid::Uuid = app
        .value("SELECT practice_id FROM phone_calls WHERE voipms_uniqueid = 'theirs'")
        .await;
    assert_eq!(owner, other);
}

#[tokio::test]
async fn only_admins_sync_and_without_voipms_it_says_so() {
    let app = spawn_app().start().await;
    let staff = pedro_tests::app::client_with_token(&pedro_tests::app::member_token(app.practice_id, "staff"));
    let response = staff.post(app.url("/api/voip/sync")).send().await.unwrap();
    assert_eq!(response.status(), 403);

    let sandbox = spawn_app().sandbox().start().await;
    let (status, body) = sync(&sandbox).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "voipms_not_configured");
    let job = Job::SyncCalls.run(&sandbox.ctx).await.unwrap();
    assert!(job["skipped"].is_string(), "{job}");
}
