//! Every function's sample trigger in `events/` fed to its Lambda handler — through the same
//! adapter `lambda_http::run` uses, so the API Gateway / function URL translation is exercised;
//! the queue worker's SQS event goes to the handler `run_queue_worker` uses.

use std::collections::BTreeSet;

use lambda_http::request::LambdaRequest;
use lambda_http::{Context, LambdaEvent, Service};
use pedro_tests::app::{member_token, DID, FIXTURE_CALL, FIXTURE_CONVERSATION, FIXTURE_RECORDING, PATIENT};
use pedro_tests::events;
use pedro_tests::fakes::voipms::CdrRow;
use pedro_tests::fakes::voipms::InboundSms;
use pedro_tests::mp3;
use pedro_tests::{spawn_app, TestApp};
use pedro_voip::http::{function_router, ENDPOINTS};
use pedro_voip::jobs::Job;
use pedro_voip::lambda::{handle_scheduled_event, handle_sqs_batch};
use serde_json::{json, Value};

/// Invokes `function`'s handler with its fixture; returns (statusCode, body as JSON or string).
async fn invoke(app: &TestApp, function: &str) -> (u16, Value) {
    let router = function_router(function, app.ctx.clone()).expect("an endpoint function");
    let request: LambdaRequest =
        serde_json::from_str(&events::fixture(function, &member_token(app.practice_id, "admin")))
            .expect("a valid API Gateway v2 event");
    let mut adapter = lambda_http::Adapter::from(router);
    let response = adapter
        .call(LambdaEvent::new(request, Context::default()))
        .await
        .unwrap();
    let response = serde_json::to_value(&response).unwrap();
    let status = response["statusCode"].as_u64().unwrap() as u16;
    let body = response["body"].as_str().unwrap_or_default();
    (
        status,
        serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string())),
    )
}

#[tokio::test]
async fn every_function_has_a_fixture_and_every_fixture_a_function() {
    let functions: BTreeSet<String> = ENDPOINTS
        .iter()
        .map(|e| e.function.to_string())
        .chain(Job::ALL.iter().map(|j| j.name().to_string()))
        .chain(["queue-worker".to_string(), "transcription-worker".to_string()])
        .collect();
    let fixtures: BTreeSet<String> = std::fs::read_dir(events::dir())
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".json")
                .to_string()
        })
        .collect();
    assert_eq!(functions, fixtures);
}

#[tokio::test]
async fn sms_webhook_function_url_event() {
    let app = spawn_app().start().await;
    let (status, body) = invoke(&app, "sms-webhook").await;
    assert_eq!((status, body), (200, Value::String("ok".into())));
    let stored: String = app
        .value("SELECT body FROM sms_messages WHERE direction = 'inbound'")
        .await;
    assert_eq!(stored, "What are your hours?");
    assert!(app.voipms.sent_sms().is_empty(), "the webhook only queues the reply");
    app.drain_queue().await;
    assert_eq!(app.voipms.sent_sms().len(), 1, "answered automatically");
}

#[tokio::test]
async fn twilio_webhook_api_gateway_event() {
    // The fixture is signed over the public URL, as Twilio signs it; its body arrives base64-encoded.
    let public = "https://a1b2c3d4e5.execute-api.ca-central-1.amazonaws.com/api/twilio/sms/webhook";
    let app = spawn_app().twilio().env("TWILIO_WEBHOOK_URL", public).start().await;
    let (status, body) = invoke(&app, "twilio-webhook").await;
    assert_eq!(
        (status, body),
        (200, Value::String(pedro_voip::http::twilio_webhook::EMPTY_TWIML.into()))
    );
    let stored: String = app
        .value("SELECT body FROM sms_messages WHERE direction = 'inbound' AND provider = 'twilio'")
        .await;
    assert_eq!(stored, "What are your hours?");
    app.drain_queue().await;
    assert_eq!(app.voipms.sent_sms().len(), 1, "answered automatically");
}

#[tokio::test]
async fn queue_worker_sqs_event() {
    let app = spawn_app().start().await;
    let (_, outcome) = app.text_in_queued(PATIENT, "What are your hours?", "q1").await;
    assert_eq!(outcome["status"], "queued", "{outcome}");
    let reply: uuid::Uuid = app
        .value("SELECT id FROM sms_messages WHERE direction = 'outbound' AND status = 'queued'")
        .await;
    // The fixture's shape, with the task of the reply just queued.
    let mut event: Value = serde_json::from_str(&events::fixture("queue-worker", "")).unwrap();
    let task: Value = serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(task["kind"], "send_text");
    event["Records"][0]["body"] = json!({"kind": "send_text", "messageId": reply}).to_string().into();
    let response = handle_sqs_batch(&app.ctx, serde_json::from_value(event).unwrap()).await;
    assert_eq!(
        serde_json::to_value(&response).unwrap()["batchItemFailures"],
        json!([]),
        "nothing to deliver again"
    );
    assert_eq!(app.voipms.sent_sms().len(), 1, "the reply went out");
    let status: String = app
        .value(&format!("SELECT status FROM sms_messages WHERE id = '{reply}'"))
        .await;
    assert_eq!(status, "sent");

    // A task SQS delivers again (or the same task from the local queue) sends nothing twice.
    app.drain_queue().await;
    assert_eq!(app.voipms.sent_sms().len(), 1);
}

#[tokio::test]
async fn sms_send_event() {
    let app = spawn_app().start().await;
    let (status, body) = invoke(&app, "sms-send").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "sent");
    assert_eq!(
        app.voipms.sent_sms()[0].message,
        "Your cleaning is tomorrow at 9:00. Reply STOP to opt out."
    );
}

#[tokio::test]
async fn sms_conversations_event() {
    let app = spawn_app().start().await;
    app.seed_fixture_conversation().await;
    let (status, body) = invoke(&app, "sms-conversations").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["conversations"][0]["id"], FIXTURE_CONVERSATION);
}

#[tokio::test]
async fn sms_conversation_messages_event() {
    let app = spawn_app().start().await;
    app.seed_fixture_conversation().await;
    let (status, body) = invoke(&app, "sms-conversation-messages").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messages"][0]["body"], "Can someone call me back?");
}

#[tokio::test]
async fn sms_conversation_review_event() {
    let app = spawn_app().start().await;
    app.seed_fixture_conversation().await;
    let (status, body) = invoke(&app, "sms-conversation-review").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["needsReview"], false);
}

#[tokio::test]
async fn configure_webhook_event() {
    // The fixture names the stack's function URL, as the template's ConfigureWebhookCommand does.
    let app = spawn_app()
        .env(
            "PUBLIC_WEBHOOK_URL",
            "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.ca-central-1.on.aws/api/voip/sms/webhook",
        )
        .start()
        .await;
    let (status, body) = invoke(&app, "configure-webhook").await;
    assert_eq!(status, 200, "{body}");
    let calls = app.voipms.calls("setSMS");
    assert_eq!(calls.len(), 1);
    assert!(calls[0]["url_callback"].starts_with("https://abcdefghijklmnopqrstuvwxyz012345.lambda-url"));
}

#[tokio::test]
async fn check_sms_scheduled_event() {
    let app = spawn_app().start().await;
    app.voipms.add_received_sms(InboundSms {
        id: "missed-1".into(),
        date: (app.clock_now() - chrono::Duration::minutes(5)).naive_utc(),
        did: pedro_tests::app::DID.into(),
        contact: pedro_tests::app::PATIENT.into(),
        message: "Is anyone there?".into(),
        media: None,
    });
    let event: Value = serde_json::from_str(&events::fixture("check-sms", "")).unwrap();
    let report = handle_scheduled_event(&app.ctx, Job::CheckSms, event).await.unwrap();
    assert_eq!(report["stored"], 1, "{report}");
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE origin = 'check_sms'")
            .await,
        1
    );
}

#[tokio::test]
async fn voip_sync_event() {
    let app = spawn_app().start().await;
    let at = (app.clock_now() - chrono::Duration::minutes(30)).naive_utc();
    app.voipms
        .add_cdr(CdrRow::inbound("evt-1", at, PATIENT, DID, "ANSWERED", 42));
    let (status, body) = invoke(&app, "voip-sync").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["calls"]["inserted"], 1, "{body}");
}

#[tokio::test]
async fn call_history_event() {
    let app = spawn_app().start().await;
    app.seed_fixture_call(mp3::silence(2.0)).await;
    let (status, body) = invoke(&app, "call-history").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["calls"][0]["id"], FIXTURE_CALL, "{body}");
    assert_eq!(body["calls"][0]["recordingStatus"], "stored", "{body}");
}

#[tokio::test]
async fn call_recordings_event() {
    let app = spawn_app().start().await;
    app.seed_fixture_call(mp3::silence(2.0)).await;
    let (status, body) = invoke(&app, "call-recordings").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recordings"][0]["id"], FIXTURE_RECORDING, "{body}");
}

#[tokio::test]
async fn call_recording_link_event() {
    let app = spawn_app().start().await;
    let audio = mp3::silence(2.0);
    app.seed_fixture_call(audio.clone()).await;
    let (status, body) = invoke(&app, "call-recording-link").await;
    assert_eq!(status, 200, "{body}");
    let bytes = reqwest::get(body["url"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.to_vec(), audio);
    assert_eq!(app.count("SELECT count(*) FROM recording_access_log").await, 1);
}

#[tokio::test]
async fn call_delete_event() {
    let app = spawn_app().start().await;
    app.seed_fixture_call(mp3::silence(2.0)).await;
    let (status, body) = invoke(&app, "call-delete").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deleted"]["recordingsDeleted"], 1, "{body}");
    assert_eq!(app.count("SELECT count(*) FROM phone_calls").await, 0);
}

#[tokio::test]
async fn sync_calls_and_daily_analytics_scheduled_events() {
    let app = spawn_app().start().await;
    let at = (app.clock_now() - chrono::Duration::minutes(30)).naive_utc();
    app.voipms
        .add_cdr(CdrRow::inbound("evt-2", at, PATIENT, DID, "NO ANSWER", 0));
    let event: Value = serde_json::from_str(&events::fixture("sync-calls", "")).unwrap();
    let report = handle_scheduled_event(&app.ctx, Job::SyncCalls, event).await.unwrap();
    assert_eq!(report["calls"]["inserted"], 1, "{report}");
    let event: Value = serde_json::from_str(&events::fixture("daily-analytics", "")).unwrap();
    let report = handle_scheduled_event(&app.ctx, Job::DailyAnalytics, event)
        .await
        .unwrap();
    assert_eq!(report["retention"]["expired"], 0, "{report}");
    assert_eq!(report["rollups"]["practices"][0]["days"], 1, "{report}");
}

#[tokio::test]
async fn analytics_event() {
    let app = spawn_app().start().await;
    app.seed_fixture_call(mp3::silence(2.0)).await;
    let (status, body) = invoke(&app, "analytics").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["analytics"]["calls"]["total"], 1, "{body}");
    assert_eq!(body["analytics"]["transcription"]["failedRecordings"], 0, "{body}");
}

#[tokio::test]
async fn transcription_worker_sqs_event() {
    let app = spawn_app().start().await;
    app.seed_fixture_call(mp3::silence(2.0)).await;
    // As a sync or a download request leaves it when it asks for a transcription.
    app.sql()
        .await
        .execute("UPDATE call_recordings SET transcription_status = 'queued'", &[])
        .await
        .unwrap();
    let event: Value = serde_json::from_str(&events::fixture("transcription-worker", "")).unwrap();
    let response = handle_sqs_batch(&app.ctx, serde_json::from_value(event).unwrap()).await;
    assert_eq!(serde_json::to_value(&response).unwrap()["batchItemFailures"], json!([]));
    let status: String = app
        .value(&format!(
            "SELECT transcription_status FROM call_recordings WHERE id = '{FIXTURE_RECORDING}'"
        ))
        .await;
    assert_eq!(
        status, "not_configured",
        "no provider is configured: never a made-up transcript"
    );
}

#[tokio::test]
async fn settings_events() {
    let app = spawn_app().start().await;
    let (status, body) = invoke(&app, "settings").await;
    assert_eq!((status, &body["name"]), (200, &json!("Maple Dental")), "{body}");
    let (status, body) = invoke(&app, "settings-update").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["officeHours"]["sat"], json!([["09:00", "12:00"]]));
    assert_eq!(body["holidays"], json!(["2026-12-25", "2026-12-26"]));
    let (status, body) = invoke(&app, "auto-reply-rules").await;
    assert_eq!(
        (status, body["rules"].as_array().map(Vec::len)),
        (200, Some(8)),
        "{body}"
    );
    let (status, body) = invoke(&app, "auto-reply-rule-update").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["replyText"],
        "{practice_name} is open {office_hours}. Call {practice_phone} to book."
    );
}
