//! `POST /api/voip/sms/send`: validation, splitting for VoIP.ms, Twilio fallback, failures recorded.

use std::time::Duration;

use pedro_tests::app::{DID, PATIENT, PATIENT_E164, TWILIO_FROM};
use pedro_tests::fakes::voipms::Fault;
use pedro_tests::spawn_app;
use serde_json::{json, Value};

#[tokio::test]
async fn sends_through_voipms_and_stores_it_in_the_thread() {
    let app = spawn_app().start().await;
    for (i, to) in [PATIENT_E164, "438-555-0199", "(438) 555 0199"].iter().enumerate() {
        let (status, body) = app.send(to, &format!("Reminder {i}: cleaning tomorrow at 9")).await;
        assert_eq!(status, 201, "{to}: {body}");
        assert_eq!(body["provider"], "voipms");
        assert_eq!(body["status"], "sent");
        assert_eq!(body["segments"], 1);
        let sent = app.voipms.sent_sms();
        assert_eq!(body["providerMessageIds"], json!([sent.last().unwrap().id.to_string()]));
        assert_eq!(sent.last().unwrap().dst, PATIENT, "VoIP.ms gets the 10-digit form");
        assert_eq!(sent.last().unwrap().did, DID);
    }
    assert_eq!(
        app.count("SELECT count(*) FROM sms_conversations").await,
        1,
        "one thread for the three spellings"
    );
    let row = app
        .sql()
        .await
        .query_one("SELECT origin, status, provider, segments FROM sms_messages ORDER BY occurred_at DESC, created_at DESC LIMIT 1", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "api");
    assert_eq!(row.get::<_, String>(1), "sent");
    assert_eq!(row.get::<_, Option<String>>(2).as_deref(), Some("voipms"));
    assert_eq!(row.get::<_, Option<i32>>(3), Some(1));
}

#[tokio::test]
async fn long_text_goes_in_ordered_parts_within_the_limit() {
    let app = spawn_app().start().await;
    let text = (1..=60).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ") + " 🦷👨‍👩‍👧 done";
    let (status, body) = app.send(PATIENT, &text).await;
    assert_eq!(status, 201, "{body}");
    let sent = app.voipms.sent_sms();
    assert!(sent.len() >= 3);
    assert_eq!(body["segments"], sent.len());
    assert_eq!(body["providerMessageIds"].as_array().unwrap().len(), sent.len());
    assert!(sent
        .iter()
        .all(|p| p.message.chars().count() <= 160 && p.message.len() <= 160));
    let joined = sent.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join(" ");
    assert_eq!(joined, text, "in order, nothing lost, no character broken");
}

#[tokio::test]
async fn bad_requests_get_a_json_400_and_nothing_is_stored() {
    let app = spawn_app().start().await;
    let cases = [
        (json!({"to": "12345", "message": "hi"}), "invalid_phone_number"),
        (json!({"to": "555-CALL-NOW", "message": "hi"}), "invalid_phone_number"),
        (json!({"to": "0385550199", "message": "hi"}), "invalid_phone_number"),
        (json!({"to": "", "message": "hi"}), "invalid_phone_number"),
        (json!({"message": "hi"}), "missing_field"),
        (json!({"to": PATIENT}), "missing_field"),
        (json!({"to": PATIENT, "message": ""}), "empty_message"),
        (json!({"to": PATIENT, "message": "  \n "}), "empty_message"),
        (json!({"to": PATIENT, "message": "x".repeat(1601)}), "message_too_long"),
        (json!({"to": 4385550199u64, "message": "hi"}), "invalid_body"),
        (
            json!({"to": PATIENT, "message": "hi", "priority": "high"}),
            "invalid_body",
        ),
        (json!(["not", "an", "object"]), "invalid_body"),
    ];
    for (body, code) in cases {
        let response = app.post_json("/api/voip/sms/send", &body).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{body}: {error}");
    }
    let malformed = app
        .http
        .post(app.url("/api/voip/sms/send"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(app.count("SELECT count(*) FROM sms_messages").await, 0);
    assert!(app.voipms.sent_sms().is_empty());
    // The limit is exactly 1600 characters.
    let (status, _) = app.send(PATIENT, &"é".repeat(1600)).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn a_voipms_failure_falls_back_to_twilio() {
    // Refused: Twilio sends it at once. Answer lost (HTTP 5xx, a time-out): 202, and the worker
    // sends it through Twilio only once VoIP.ms's sent list shows it did not go out.
    for (name, fault, refused) in [
        ("error status", Fault::Status("sms_failed"), true),
        ("HTTP error", Fault::Http(503), false),
        (
            "time-out before accepting",
            Fault::DelayThenReject(Duration::from_secs(3)),
            false,
        ),
    ] {
        let app = spawn_app().twilio().start().await;
        app.voipms.set_fault("sendSMS", Some(fault));
        let (status, mut body) = app.send(PATIENT, "Your crown is ready").await;
        if refused {
            assert_eq!(status, 201, "{name}: {body}");
        } else {
            assert_eq!(status, 202, "{name}: {body}");
            assert_eq!(body["status"], "queued");
            assert!(app.twilio.sent().is_empty(), "{name}: nothing resent before looking");
            app.clock.advance(chrono::Duration::minutes(1));
            app.drain_queue().await;
            let id = body["id"].as_str().unwrap().to_string();
            let thread = body["conversationId"].as_str().unwrap().to_string();
            let messages: serde_json::Value = app
                .get(&format!("/api/voip/sms/conversations/{thread}/messages"))
                .await
                .json()
                .await
                .unwrap();
            body = messages["messages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"] == id.as_str())
                .unwrap()
                .clone();
        }
        assert_eq!(body["provider"], "twilio", "{name}");
        assert_eq!(body["status"], "sent");
        let sent = app.twilio.sent();
        assert_eq!(sent.len(), 1, "{name}");
        assert_eq!(sent[0].to, PATIENT_E164, "Twilio gets E.164");
        assert_eq!(sent[0].from, TWILIO_FROM);
        assert_eq!(sent[0].body, "Your crown is ready");
        assert_eq!(body["providerMessageIds"], json!([sent[0].sid]));
    }
}

#[tokio::test]
async fn both_carriers_failing_is_a_502_with_both_reasons_and_a_failed_message() {
    let app = spawn_app().twilio().start().await;
    app.voipms.set_fault("sendSMS", Some(Fault::Status("sms_failed")));
    // A 4xx is a refusal (a 5xx would leave the outcome unknown: never resent, flagged).
    app.twilio
        .set_fault(Some(pedro_tests::fakes::twilio::TwilioFault::Error {
            http_status: 400,
            code: 21211,
            message: "Invalid 'To' Phone Number".into(),
            retry_after: None,
        }));
    let (status, body) = app.send(PATIENT, "Your crown is ready").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "send_failed");
    let reasons = body["error"]["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 2);
    assert_eq!(reasons[0]["provider"], "voipms");
    assert!(reasons[0]["reason"].as_str().unwrap().contains("sms_failed"));
    assert_eq!(reasons[1]["provider"], "twilio");
    assert!(reasons[1]["reason"].as_str().unwrap().contains("21211"));
    let id: uuid::Uuid = body["error"]["text"]["id"].as_str().unwrap().parse().unwrap();

    let db = app.sql().await;
    let row = db
        .query_one(
            "SELECT status, error, needs_review, body FROM sms_messages WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "failed");
    assert!(row.get::<_, String>(1).contains("sms_failed"));
    assert!(row.get::<_, bool>(2), "the failed text is flagged");
    assert_eq!(row.get::<_, String>(3), "Your crown is ready", "the text is kept");
    let flagged: bool = db
        .query_one("SELECT needs_review FROM sms_conversations", &[])
        .await
        .unwrap()
        .get(0);
    assert!(flagged, "a person sees it in the review list");
}

#[tokio::test]
async fn without_twilio_a_voipms_failure_is_a_502() {
    let app = spawn_app().start().await;
    app.voipms.set_fault("sendSMS", Some(Fault::Status("sms_failed")));
    let (status, body) = app.send(PATIENT, "hello").await;
    assert_eq!(status, 502);
    assert_eq!(body["error"]["reasons"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE status = 'failed'")
            .await,
        1
    );
}

#[tokio::test]
async fn numbers_voipms_cannot_text_go_to_twilio() {
    let app = spawn_app().twilio().start().await;
    let (status, body) = app.send("+442071838750", "Hello from Montreal").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["provider"], "twilio");
    assert!(app.voipms.sent_sms().is_empty());
    assert_eq!(app.twilio.sent()[0].to, "+442071838750");
}

#[tokio::test]
async fn without_credentials_texts_go_to_the_sandbox_outbox_marked_not_sent() {
    let app = spawn_app().sandbox().start().await;
    let (status, body) = app.send(PATIENT, "Sandbox hello").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["provider"], "sandbox");
    assert_eq!(body["status"], "sandboxed");
    assert!(app.voipms.sent_sms().is_empty() && app.voipms.calls("sendSMS").is_empty());
    let row = app
        .sql()
        .await
        .query_one("SELECT to_number, body, parts FROM sandbox_outbox", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), PATIENT_E164);
    assert_eq!(row.get::<_, String>(1), "Sandbox hello");
    assert_eq!(row.get::<_, i32>(2), 1);
    // Automatic replies go there too.
    app.text_in(PATIENT, "what are your hours", "sb1").await;
    assert_eq!(app.count("SELECT count(*) FROM sandbox_outbox").await, 2);
}

#[tokio::test]
async fn a_nul_character_is_refused() {
    let app = spawn_app().start().await;
    let (status, body) = app.send(PATIENT, "hello\u{0}there").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_text");
    assert_eq!(app.count("SELECT count(*) FROM sms_messages").await, 0);
}

#[tokio::test]
async fn with_twilio_as_the_only_carrier_texts_go_through_twilio() {
    let app = spawn_app().sandbox().twilio().start().await;
    let (status, body) = app.send(PATIENT, "Only Twilio here").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["provider"], "twilio");
    assert_eq!(app.count("SELECT count(*) FROM sandbox_outbox").await, 0);
}

#[tokio::test]
async fn a_voipms_success_without_an_id_is_not_sent_again_through_twilio() {
    let app = spawn_app().twilio().start().await;
    // The contract: some methods answer success with an empty body.
    app.voipms.set_fault("sendSMS", Some(Fault::EmptyBody));
    let (status, body) = app.send(PATIENT, "Once only").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["provider"], "voipms");
    assert_eq!(app.twilio.request_count(), 0, "the patient must not get it twice");
}

#[tokio::test]
async fn without_twilio_a_lost_answer_is_looked_up_then_sent_again_through_voipms() {
    let app = spawn_app().start().await;
    app.voipms.set_fault("sendSMS", Some(Fault::Http(500)));
    let (status, body) = app.send(PATIENT, "hello").await;
    assert_eq!(status, 202, "{body}");
    app.voipms.set_fault("sendSMS", None);
    app.clock.advance(chrono::Duration::minutes(1));
    app.drain_queue().await;
    assert_eq!(
        app.voipms_sent_bodies(),
        ["hello"],
        "not in the sent list, so sent once more"
    );
    let status: String = app.value("SELECT status FROM sms_messages").await;
    assert_eq!(status, "sent");
}
