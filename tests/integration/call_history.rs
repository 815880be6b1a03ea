//! `GET /api/voip/calls/history`, `DELETE /api/voip/calls/{id}` and the recording retention pass
//! (which the daily job runs).

use chrono::{Duration, TimeZone, Utc};
use pedro_tests::app::{client_with_token, member_token, TestApp, DID, PATIENT, VOIPMS_ACCOUNT};
use pedro_tests::fakes::voipms::{recording_id, CdrRow, Recording};
use pedro_tests::{mp3, spawn_app};
use pedro_voip::jobs::Job;
use serde_json::Value;

use crate::call_sync::{ago, sync};

async fn history(app: &TestApp, query: &str) -> (u16, Value) {
    let response = app.get(&format!("/api/voip/calls/history?{query}")).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn ids(body: &Value) -> Vec<String> {
    body["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["contactNumber"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn history_reads_local_days_inclusive_newest_first_in_pages() {
    let app = spawn_app().env("CALL_SYNC_LOOKBACK_DAYS", "5").start().await;
    let utc = |d, h, m| Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap().naive_utc();
    // Toronto is UTC-5: 2026-11-24 04:30 UTC is still the 23rd there; 05:00 is the 24th.
    app.voipms
        .add_cdr(CdrRow::inbound("a", utc(24, 4, 30), "4385550101", DID, "ANSWERED", 10));
    app.voipms
        .add_cdr(CdrRow::inbound("b", utc(24, 5, 0), "4385550102", DID, "NO ANSWER", 0));
    app.voipms
        .add_cdr(CdrRow::outbound("c", utc(24, 18, 0), DID, "4385550103", "ANSWERED", 20));
    app.voipms
        .add_cdr(CdrRow::inbound("d", utc(25, 4, 59), "4385550104", DID, "BUSY", 0));
    app.voipms
        .add_cdr(CdrRow::inbound("e", utc(25, 5, 0), "4385550105", DID, "ANSWERED", 30));
    let (status, _) = sync(&app).await;
    assert_eq!(status, 200);

    let (status, day) = history(&app, "dateFrom=2026-11-24&dateTo=2026-11-24").await;
    assert_eq!(status, 200, "{day}");
    assert_eq!(ids(&day), ["+14385550104", "+14385550103", "+14385550102"]);
    assert_eq!(day["timezone"], "America/Toronto");
    let item = &day["calls"][1];
    assert_eq!(item["direction"], "outbound");
    assert_eq!(item["recordingStatus"], "none");
    assert_eq!(item["transcriptionStatus"], "none");

    // Filters.
    let (_, missed) = history(&app, "dateFrom=2026-11-23&dateTo=2026-11-25&disposition=no_answer").await;
    assert_eq!(ids(&missed), ["+14385550102"]);
    let (_, out) = history(&app, "dateFrom=2026-11-23&dateTo=2026-11-25&direction=outbound").await;
    assert_eq!(ids(&out), ["+14385550103"]);
    let (_, one) = history(&app, "dateFrom=2026-11-23&dateTo=2026-11-25&contact=(438)%20555-0105").await;
    assert_eq!(ids(&one), ["+14385550105"]);

    // Pages of two, following the cursor, see every call once.
    let mut seen = Vec::new();
    let mut query = "dateFrom=2026-11-23&dateTo=2026-11-25&limit=2".to_string();
    loop {
        let (status, page) = history(&app, &query).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page));
        match page["nextCursor"].as_str() {
            Some(cursor) => query = format!("dateFrom=2026-11-23&dateTo=2026-11-25&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "+14385550105",
            "+14385550104",
            "+14385550103",
            "+14385550102",
            "+14385550101"
        ]
    );

    // Staff read it too.
    let staff = client_with_token(&member_token(app.practice_id, "staff"));
    let response = staff
        .get(app.url("/api/voip/calls/history?dateFrom=2026-11-24&dateTo=2026-11-24"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn bad_history_queries_get_a_clear_400() {
    let app = spawn_app().start().await;
    for (query, code) in [
        ("", "missing_date"),
        ("dateFrom=2026-11-24", "missing_date"),
        ("dateFrom=2026-11-31&dateTo=2026-12-01", "invalid_date"),
        ("dateFrom=yesterday&dateTo=2026-12-01", "invalid_date"),
        ("dateFrom=2026-11-25&dateTo=2026-11-24", "invalid_date_range"),
        ("dateFrom=2025-01-01&dateTo=2026-11-24", "date_range_too_long"),
        (
            "dateFrom=2026-11-24&dateTo=2026-11-24&direction=sideways",
            "invalid_filter",
        ),
        (
            "dateFrom=2026-11-24&dateTo=2026-11-24&disposition=maybe",
            "invalid_filter",
        ),
        ("dateFrom=2026-11-24&dateTo=2026-11-24&limit=0", "invalid_limit"),
        ("dateFrom=2026-11-24&dateTo=2026-11-24&cursor=abc", "invalid_cursor"),
        ("dateFrom=2026-11-24&dateTo=2026-11-24&sort=asc", "unknown_parameter"),
    ] {
        let (status, body) = history(&app, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], code, "{query}: {body}");
    }
    let response = app.get("/api/voip/calls/recordings").await;
    assert_eq!(response.status(), 400);
}

async fn synced_call_with_recording(app: &TestApp, uniqueid: &str, minutes_ago: i64) -> (uuid::Uuid, String) {
    let seconds = 20;
    app.voipms.add_cdr(CdrRow::inbound(
        uniqueid,
        ago(app, minutes_ago),
        PATIENT,
        DID,
        "ANSWERED",
        seconds,
    ));
    app.voipms.add_recording(Recording {
        id: recording_id(uniqueid),
        datetime: ago(app, minutes_ago),
        destination: DID.into(),
        incoming: true,
        account: VOIPMS_ACCOUNT.into(),
        duration_secs: seconds,
        mp3: mp3::silence(f64::from(seconds)),
    });
    let (status, report) = sync(app).await;
    assert_eq!(status, 200, "{report}");
    let id = app
        .value(&format!(
            "SELECT id FROM phone_calls WHERE voipms_uniqueid = '{uniqueid}'"
        ))
        .await;
    let key = app
        .value(&format!(
            "SELECT object_key FROM call_recordings WHERE voipms_recording_id = '{}'",
            recording_id(uniqueid)
        ))
        .await;
    (id, key)
}

#[tokio::test]
async fn deleting_a_call_removes_its_audio_and_keeps_it_from_coming_back() {
    let app = spawn_app().start().await;
    let (id, key) = synced_call_with_recording(&app, "del1", 60).await;
    assert!(app.recordings_dir.join(&key).exists());

    // Staff may not delete.
    let staff = client_with_token(&member_token(app.practice_id, "staff"));
    let response = staff
        .delete(app.url(&format!("/api/voip/calls/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    let response = app
        .http
        .delete(app.url(&format!("/api/voip/calls/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["deleted"]["recordingsDeleted"], 1, "{body}");
    assert!(!app.recordings_dir.join(&key).exists(), "the audio is gone");
    assert_eq!(app.count("SELECT count(*) FROM phone_calls").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM call_recordings").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM pending_object_deletions").await, 0);

    // VoIP.ms still lists it: the next sync leaves it deleted.
    app.clock.advance(Duration::hours(1));
    let (_, report) = sync(&app).await;
    assert_eq!(report["calls"]["inserted"], 0, "{report}");
    assert_eq!(report["calls"]["skipped"], 1, "{report}");
    assert_eq!(app.count("SELECT count(*) FROM phone_calls").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM call_recordings").await, 0);
    // Deleting again, or an unknown call: 404.
    let again = app
        .http
        .delete(app.url(&format!("/api/voip/calls/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn the_retention_pass_deletes_old_audio_and_marks_it() {
    let app = spawn_app()
        .env("RECORDING_RETENTION_DAYS", "30")
        .env("CALL_SYNC_LOOKBACK_DAYS", "60")
        .start()
        .await;
    let (_, old_key) = synced_call_with_recording(&app, "old", 40 * 24 * 60).await;
    let (_, new_key) = synced_call_with_recording(&app, "new", 60).await;
    let report = Job::DailyAnalytics.run(&app.ctx).await.expect("retention ran");
    let report = &report["retention"];
    assert_eq!(report["expired"], 1, "{report}");
    assert_eq!(report["objectsDeleted"], 1, "{report}");
    assert!(!app.recordings_dir.join(&old_key).exists());
    assert!(app.recordings_dir.join(&new_key).exists());
    let statuses: Vec<String> = app
        .column("SELECT status FROM call_recordings ORDER BY recorded_at")
        .await;
    assert_eq!(statuses, ["expired", "stored"]);
    let old: uuid::Uuid = app
        .value("SELECT id FROM call_recordings WHERE status = 'expired'")
        .await;
    let response = app.get(&format!("/api/voip/calls/recording/{old}")).await;
    assert_eq!(response.status(), 410);
    // A re-run finds nothing more to do.
    let again = Job::DailyAnalytics.run(&app.ctx).await.unwrap();
    let again = &again["retention"];
    assert_eq!(
        (again["expired"].as_u64(), again["objectsDeleted"].as_u64()),
        (Some(0), Some(0))
    );
}
