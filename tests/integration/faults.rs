//! Faults: nothing stored is lost, and the system recovers without a restart.

use pedro_tests::app::{DID, PATIENT};
use pedro_tests::spawn_app;
use serde_json::Value;

#[tokio::test]
async fn a_database_outage_makes_voipms_retry_and_the_retry_is_stored_once() {
    let app = spawn_app().db_proxy().env("DATABASE_TIMEOUT_MS", "500").start().await;
    let proxy = app.db_proxy.as_ref().unwrap();
    let callback =
        |id: &str| format!("/api/voip/sms/webhook?to={DID}&from={PATIENT}&message=what+are+your+hours&id={id}");
    assert_eq!(
        app.get(&callback("before")).await.text().await.unwrap(),
        "ok",
        "pooled connections are warm"
    );

    proxy.cut();
    let during = app.get(&callback("during")).await;
    assert_eq!(during.status(), 503, "not `ok`: VoIP.ms must deliver it again");
    let body: Value = during.json().await.unwrap();
    assert_eq!(body["error"]["code"], "database_unavailable");
    let (status, body) = app.send(PATIENT, "are you there").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(app.get("/api/voip/sms/conversations").await.status(), 503);

    proxy.restore();
    // VoIP.ms's retry of the same text: stored now, and only once however often it comes.
    for _ in 0..2 {
        assert_eq!(app.get(&callback("during")).await.text().await.unwrap(), "ok");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE provider_message_id = 'during'")
            .await,
        1
    );
    let (status, _) = app.send(PATIENT, "back again").await;
    assert_eq!(status, 201, "recovered without a restart");
}

#[tokio::test]
async fn texts_and_runs_a_crash_left_half_done_are_finished_by_the_next_check() {
    let app = spawn_app().start().await;
    let now = app.clock_now();
    let db = app.sql().await;
    let conversation: uuid::Uuid = db
        .query_one(
            "INSERT INTO sms_conversations (practice_id, did, contact, last_message_at) VALUES ($1, $2, $3, $4) RETURNING id",
            &[&app.practice_id, &pedro_tests::app::DID_E164, &pedro_tests::app::PATIENT_E164, &now],
        )
        .await
        .unwrap()
        .get(0);
    for (minutes_ago, body) in [(30i64, "stuck"), (1, "still going")] {
        db.execute(
            "INSERT INTO sms_messages (practice_id, conversation_id, direction, body, occurred_at, origin, status) \
             VALUES ($1, $2, 'outbound', $3, $4, 'api', 'sending')",
            &[
                &app.practice_id,
                &conversation,
                &body,
                &(now - chrono::Duration::minutes(minutes_ago)),
            ],
        )
        .await
        .unwrap();
    }
    db.execute(
        "INSERT INTO job_runs (practice_id, job, started_at, status) VALUES ($1, 'check-sms', $2, 'running')",
        &[&app.practice_id, &(now - chrono::Duration::hours(3))],
    )
    .await
    .unwrap();

    pedro_voip::jobs::Job::CheckSms.run(&app.ctx).await.unwrap();
    app.drain_queue().await;

    // The stuck text had no parts recorded: nothing went out, so it is sent now, once.
    let stuck: String = app.value("SELECT status FROM sms_messages WHERE body = 'stuck'").await;
    assert_eq!(stuck, "sent");
    assert_eq!(app.voipms_sent_bodies(), ["stuck"]);
    let going: String = app
        .value("SELECT status FROM sms_messages WHERE body = 'still going'")
        .await;
    assert_eq!(going, "sending", "a send still within its time is left alone");
    let abandoned: i64 = app
        .count("SELECT count(*) FROM job_runs WHERE status = 'failed' AND error LIKE 'abandoned%'")
        .await;
    assert_eq!(abandoned, 1);
}

#[tokio::test]
async fn a_recipient_twilio_reports_as_unsubscribed_is_opted_out_everywhere() {
    let app = spawn_app().twilio().start().await;
    app.voipms
        .set_fault("sendSMS", Some(pedro_tests::fakes::voipms::Fault::Status("sms_failed")));
    app.twilio
        .set_fault(Some(pedro_tests::fakes::twilio::TwilioFault::Error {
            http_status: 400,
            code: 21610,
            message: "Attempt to send to unsubscribed recipient".into(),
            retry_after: None,
        }));
    let (status, _) = app.send(PATIENT, "Your appointment is tomorrow").await;
    assert_eq!(status, 502);
    app.voipms.set_fault("sendSMS", None);
    app.twilio.set_fault(None);
    let (status, body) = app.send(PATIENT, "Your appointment is tomorrow").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "opted_out");
    assert!(app.voipms.sent_sms().is_empty());
}
