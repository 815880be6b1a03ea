//! Recordings: listed by the sync, matched to their calls, fetched once into the object store
//! (checked, measured, checksummed), downloaded through short-lived links that are logged, and
//! asked to be transcribed once.

use chrono::Duration;
use pedro_tests::app::{TestApp, DID, PATIENT, VOIPMS_ACCOUNT};
use pedro_tests::fakes::voipms::{recording_id, CdrRow, Recording};
use pedro_tests::{mp3, spawn_app};
use serde_json::Value;

use crate::call_sync::{ago, sync};

fn recording(
    app: &TestApp,
    seed: &str,
    minutes_ago: i64,
    incoming: bool,
    destination: &str,
    seconds: u32,
) -> Recording {
    Recording {
        id: recording_id(seed),
        datetime: ago(app, minutes_ago),
        destination: destination.into(),
        incoming,
        account: VOIPMS_ACCOUNT.into(),
        duration_secs: seconds,
        mp3: mp3::silence(f64::from(seconds)),
    }
}

async fn recordings_of(app: &TestApp, call_id: &str) -> Value {
    let response = app.get(&format!("/api/voip/calls/recordings?callId={call_id}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn call_id(app: &TestApp, uniqueid: &str) -> uuid::Uuid {
    app.value(&format!(
        "SELECT id FROM phone_calls WHERE voipms_uniqueid = '{uniqueid}'"
    ))
    .await
}

async fn link(app: &TestApp, recording: uuid::Uuid) -> (u16, Value) {
    let response = app.get(&format!("/api/voip/calls/recording/{recording}")).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn recordings_are_matched_stored_once_and_described() {
    let app = spawn_app().start().await;
    // Two calls a minute apart from the same patient; each recording is nearer in time to the
    // wrong call than to its own start, but its duration tells.
    let start = ago(&app, 60);
    app.voipms
        .add_cdr(CdrRow::inbound("short", start, PATIENT, DID, "ANSWERED", 30));
    app.voipms.add_cdr(CdrRow::inbound(
        "long",
        start + Duration::seconds(60),
        PATIENT,
        DID,
        "ANSWERED",
        300,
    ));
    let mut long = recording(&app, "rec-long", 0, true, DID, 295);
    long.datetime = start + Duration::seconds(64);
    let mut short = recording(&app, "rec-short", 0, true, DID, 25);
    short.datetime = start + Duration::seconds(5);
    app.voipms.add_recording(long.clone());
    app.voipms.add_recording(short.clone());
    // A recording of a call to our number that the history does not list yet.
    let orphan = recording(&app, "rec-orphan", 30, true, DID, 12);
    app.voipms.add_recording(orphan.clone());
    // An outgoing recording of a call that is not ours (another line of the account): not kept.
    app.voipms
        .add_recording(recording(&app, "rec-stranger", 25, false, "4385550777", 12));

    let (status, report) = sync(&app).await;
    assert_eq!(status, 200, "{report}");
    let r = &report["recordings"];
    assert_eq!(
        (r["found"].as_u64(), r["stored"].as_u64(), r["unmatched"].as_u64()),
        (Some(3), Some(3), Some(1)),
        "{report}"
    );
    assert_eq!(r["queued"], 0, "transcription is off by default");

    let of = |voipms_id: String| {
        let app = &app;
        async move {
            app.value::<Option<uuid::Uuid>>(&format!(
                "SELECT call_id FROM call_recordings WHERE voipms_recording_id = '{voipms_id}'"
            ))
            .await
        }
    };
    assert_eq!(of(long.id.clone()).await, Some(call_id(&app, "long").await));
    assert_eq!(of(short.id.clone()).await, Some(call_id(&app, "short").await));
    assert_eq!(of(orphan.id.clone()).await, None, "kept without a call, never dropped");

    // What was stored: size, duration read from the audio, checksum, a key without a number.
    let row = app
        .sql()
        .await
        .query_one(
            "SELECT status, object_key, size_bytes, duration_ms, sha256 FROM call_recordings WHERE voipms_recording_id = $1",
            &[&long.id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "stored");
    let key: String = row.get(1);
    assert!(
        !key.contains("438") && !key.contains("514") && !key.contains(&long.id),
        "{key}"
    );
    assert_eq!(row.get::<_, i64>(2), long.mp3.len() as i64);
    let duration_ms: i64 = row.get(3);
    assert!((duration_ms - 295_000).abs() <= 40, "{duration_ms}");
    let expected = sha256_hex(&long.mp3);
    assert_eq!(row.get::<_, String>(4), expected);
    assert_eq!(std::fs::read(app.recordings_dir.join(&key)).unwrap(), long.mp3);

    // The history shows it; the recordings endpoint lists it.
    let listed = recordings_of(&app, &call_id(&app, "long").await.to_string()).await;
    assert_eq!(listed["recordings"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["recordings"][0]["status"], "stored");
    assert_eq!(listed["call"]["recordingStatus"], "stored");

    // A second sync fetches nothing again; the orphan is matched once its call appears.
    app.voipms.add_cdr(CdrRow::inbound(
        "late",
        orphan.datetime - Duration::seconds(20),
        "4385550123",
        DID,
        "ANSWERED",
        15,
    ));
    app.clock.advance(Duration::hours(1));
    let (_, again) = sync(&app).await;
    assert_eq!(again["recordings"]["stored"], 0, "{again}");
    assert_eq!(again["recordings"]["unmatched"], 0, "{again}");
    for rec in [&long, &short, &orphan] {
        assert_eq!(app.voipms.recording_fetches(&rec.id), 1, "never fetched twice");
    }
    assert_eq!(of(orphan.id.clone()).await, Some(call_id(&app, "late").await));
}

/// SHA-256 in hex, computed apart from the app's code (coreutils' `sha256sum`).
fn sha256_hex(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_corrupt_or_empty_recording_is_recorded_and_the_call_flagged() {
    let app = spawn_app().start().await;
    app.voipms
        .add_cdr(CdrRow::inbound("c1", ago(&app, 60), PATIENT, DID, "ANSWERED", 40));
    app.voipms
        .add_cdr(CdrRow::inbound("c2", ago(&app, 30), "4385550123", DID, "ANSWERED", 40));
    let mut html = recording(&app, "bad", 60, true, DID, 40);
    html.mp3 = b"<html><body>Internal error</body></html>".to_vec();
    app.voipms.add_recording(html.clone());
    let broken = recording(&app, "broken", 30, true, DID, 40);
    app.voipms.add_recording(broken.clone());
    app.voipms.set_recording_base64(&broken.id, "%%% not base64 %%%");

    let (_, report) = sync(&app).await;
    assert_eq!(report["recordings"]["corrupt"], 2, "{report}");
    assert_eq!(report["recordings"]["stored"], 0, "{report}");
    let statuses: Vec<String> = app
        .column("SELECT status FROM call_recordings ORDER BY recorded_at")
        .await;
    assert_eq!(statuses, ["corrupt", "corrupt"]);
    let flagged: Vec<String> = app
        .column("SELECT review_reason FROM phone_calls WHERE needs_review ORDER BY started_at")
        .await;
    assert_eq!(flagged, ["recording unreadable", "recording unreadable"]);
    assert_eq!(
        std::fs::read_dir(&app.recordings_dir).map(|d| d.count()).unwrap_or(0),
        0,
        "nothing stored"
    );
}

#[tokio::test]
async fn each_new_recording_asks_for_one_transcription() {
    let app = spawn_app().env("ENABLE_TRANSCRIPTION", "true").start().await;
    app.voipms
        .add_cdr(CdrRow::inbound("t1", ago(&app, 60), PATIENT, DID, "ANSWERED", 20));
    app.voipms.add_recording(recording(&app, "t1", 60, true, DID, 20));
    let (_, report) = sync(&app).await;
    assert_eq!(report["recordings"]["queued"], 1, "{report}");
    app.clock.advance(Duration::hours(1));
    let (_, again) = sync(&app).await;
    assert_eq!(again["recordings"]["queued"], 0, "{again}");
    assert_eq!(
        app.count("SELECT count(*) FROM job_queue WHERE task->>'kind' = 'transcribe_recording'")
            .await,
        1
    );
    let history = app
        .get("/api/voip/calls/history?dateFrom=2026-11-25&dateTo=2026-11-25")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(history["calls"][0]["transcriptionStatus"], "queued", "{history}");
    // No provider is configured: the worker says so and makes nothing up.
    app.drain_queue().await;
    assert_eq!(
        app.value::<String>("SELECT transcription_status FROM call_recordings")
            .await,
        "not_configured"
    );
}

#[tokio::test]
async fn a_download_link_is_logged_works_for_fifteen_minutes_and_seeks() {
    let app = spawn_app().start().await;
    app.voipms
        .add_cdr(CdrRow::inbound("d1", ago(&app, 60), PATIENT, DID, "ANSWERED", 30));
    let rec = recording(&app, "d1", 60, true, DID, 30);
    app.voipms.add_recording(rec.clone());
    // Listed, not fetched yet: the link request fetches it first.
    app.voipms
        .set_fault("getCallRecording", Some(pedro_tests::fakes::voipms::Fault::Http(503)));
    let (_, report) = sync(&app).await;
    assert_eq!(report["recordings"]["failed"], 1, "{report}");
    app.voipms.set_fault("getCallRecording", None);
    let id: uuid::Uuid = app.value("SELECT id FROM call_recordings").await;
    let call = call_id(&app, "d1").await;

    let (status, body) = link(&app, id).await;
    assert_eq!(status, 200, "{body}");
    let url = body["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&app.address), "{url}");
    let audio = reqwest::get(&url).await.unwrap();
    assert_eq!(audio.status(), 200);
    assert_eq!(audio.bytes().await.unwrap().to_vec(), rec.mp3);
    // Seeking: a byte range.
    let part = reqwest::Client::new()
        .get(&url)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().to_vec(), rec.mp3[100..200].to_vec());
    // Tampered: refused.
    let tampered = url.replace("signature=", "signature=x");
    assert_eq!(reqwest::get(&tampered).await.unwrap().status(), 403);
    // Who asked is on record.
    let logged: Vec<String> = app.column("SELECT role FROM recording_access_log").await;
    assert_eq!(logged, ["admin"]);
    // A quarter of an hour later the link is dead.
    app.clock.advance(Duration::minutes(16));
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 403);

    // The call it belongs to may be named; another call, an unknown or a malformed id: 404.
    let ok = app.get(&format!("/api/voip/calls/recording/{id}?callSid={call}")).await;
    assert_eq!(ok.status(), 200);
    let wrong = app
        .get(&format!(
            "/api/voip/calls/recording/{id}?callSid={}",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(wrong.status(), 404);
    assert_eq!(link(&app, uuid::Uuid::new_v4()).await.0, 404);
    assert_eq!(app.get("/api/voip/calls/recording/not-an-id").await.status(), 404);
    assert_eq!(app.count("SELECT count(*) FROM recording_access_log").await, 2);
}

#[tokio::test]
async fn another_practice_cannot_see_or_download_a_recording() {
    let app = spawn_app().start().await;
    app.voipms
        .add_cdr(CdrRow::inbound("i1", ago(&app, 60), PATIENT, DID, "ANSWERED", 30));
    app.voipms.add_recording(recording(&app, "i1", 60, true, DID, 30));
    sync(&app).await;
    let id: uuid::Uuid = app.value("SELECT id FROM call_recordings").await;
    let call = call_id(&app, "i1").await;
    let other = app.add_practice("Other Dental", "+12125550100").await;
    let stranger = pedro_tests::app::client_with_token(&pedro_tests::app::member_token(other, "admin"));
    for path in [
        format!("/api/voip/calls/recording/{id}"),
        format!("/api/voip/calls/recordings?callId={call}"),
    ] {
        let response = stranger.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let response = stranger
        .delete(app.url(&format!("/api/voip/calls/{call}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let history: Value = stranger
        .get(app.url("/api/voip/calls/history?dateFrom=2026-11-25&dateTo=2026-11-25"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history["calls"], serde_json::json!([]));
    assert_eq!(app.count("SELECT count(*) FROM recording_access_log").await, 0);
}

#[tokio::test]
async fn practices_sharing_an_account_each_keep_only_their_own_recordings() {
    let app = spawn_app().start().await;
    let other = app.add_practice("Other Dental", "+12125550100").await;
    // Ours: an inbound call and an outbound one; theirs: an inbound call.
    app.voipms
        .add_cdr(CdrRow::inbound("ours-in", ago(&app, 60), PATIENT, DID, "ANSWERED", 30));
    app.voipms.add_cdr(CdrRow::outbound(
        "ours-out",
        ago(&app, 50),
        DID,
        "4385550123",
        "ANSWERED",
        40,
    ));
    app.voipms.add_cdr(CdrRow::inbound(
        "theirs-in",
        ago(&app, 40),
        PATIENT,
        "2125550100",
        "ANSWERED",
        30,
    ));
    app.voipms.add_recording(recording(&app, "ours-in", 60, true, DID, 30));
    app.voipms
        .add_recording(recording(&app, "ours-out", 50, false, "4385550123", 40));
    app.voipms
        .add_recording(recording(&app, "theirs-in", 40, true, "2125550100", 30));
    // An outgoing recording of a call neither practice has: nobody can say whose it is yet.
    app.voipms
        .add_recording(recording(&app, "nobodys", 20, false, "4385550777", 40));
    let report = pedro_voip::jobs::Job::SyncCalls.run(&app.ctx).await.unwrap();
    let all: Vec<String> = app
        .column("SELECT voipms_recording_id || ' ' || practice_id FROM call_recordings")
        .await;
    assert_eq!(report["recordings"]["stored"], 3, "{report} {all:?}");
    let owners: Vec<(String, uuid::Uuid)> = app
        .sql()
        .await
        .query(
            "SELECT voipms_recording_id, practice_id FROM call_recordings ORDER BY recorded_at",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        owners,
        [
            (recording_id("ours-in"), app.practice_id),
            (recording_id("ours-out"), app.practice_id),
            (recording_id("theirs-in"), other),
        ]
    );
}

#[tokio::test]
async fn a_sync_someone_waits_for_leaves_slow_fetches_to_the_hourly_job() {
    let app = spawn_app().start().await;
    app.voipms
        .add_cdr(CdrRow::inbound("s1", ago(&app, 60), PATIENT, DID, "ANSWERED", 30));
    app.voipms
        .add_cdr(CdrRow::inbound("s2", ago(&app, 40), "4385550123", DID, "ANSWERED", 30));
    app.voipms.add_recording(recording(&app, "s1", 60, true, DID, 30));
    app.voipms.add_recording(recording(&app, "s2", 40, true, DID, 30));
    // VoIP.ms takes 16 s to send the first file: past the endpoint's 15 s budget.
    app.voipms.set_fault_once(
        "getCallRecording",
        pedro_tests::fakes::voipms::Fault::Delay(std::time::Duration::from_secs(16)),
    );
    let (status, report) = sync(&app).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (
            report["recordings"]["stored"].as_u64(),
            report["recordings"]["deferred"].as_u64()
        ),
        (Some(1), Some(1)),
        "{report}"
    );
    let report = pedro_voip::jobs::Job::SyncCalls.run(&app.ctx).await.unwrap();
    assert_eq!(
        report["recordings"]["stored"], 1,
        "the hourly job fetched the rest: {report}"
    );
    assert_eq!(report["recordings"]["deferred"], 0);
}
