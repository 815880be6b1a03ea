//! Twilio's inbound side: texts to the deployment's Twilio number, delivered by the fake Twilio as
//! Twilio delivers them (signed form POST), land in the thread we texted the patient from, and
//! STOP/START sent to Twilio decide consent on every carrier.

use pedro_tests::app::{client_with_token, member_token, TestApp, DID_E164, PATIENT, PATIENT_E164, TWILIO_FROM};
use pedro_tests::fakes::twilio::InboundMessage;
use pedro_tests::fakes::voipms::Fault;
use pedro_tests::spawn_app;
use pedro_voip::http::twilio_webhook::{BAD_SIGNATURES_PER_MINUTE, EMPTY_TWIML};
use serde_json::{json, Value};
use uuid::Uuid;

const PATH: &str = "/api/twilio/sms/webhook";
const OTHER_DID: &str = "+15145550122";
/// A text no automatic answer matches: stored and flagged, nothing sent.
const UNANSWERABLE: &str = "Can I bring my dog along?";

fn from_patient(body: &str) -> InboundMessage {
    InboundMessage {
        from: PATIENT_E164.into(),
        to: TWILIO_FROM.into(),
        body: body.into(),
        media_content_types: Vec::new(),
    }
}

/// The URL configured in Twilio (`TWILIO_WEBHOOK_URL`).
fn hook(app: &TestApp) -> String {
    app.ctx.settings.twilio.as_ref().unwrap().webhook_url.clone().unwrap()
}

/// The patient texts the Twilio number; (status, body, MessageSid).
async fn patient_texts_twilio(app: &TestApp, body: &str) -> (u16, String, String) {
    app.twilio.deliver_inbound(&hook(app), &from_patient(body)).await
}

/// A staff member of `practice` texts the patient; (status, answer).
async fn staff_send(app: &TestApp, practice: Uuid, message: &str) -> (u16, Value) {
    let response = client_with_token(&member_token(practice, "staff"))
        .post(app.url("/api/voip/sms/send"))
        .json(&json!({"to": PATIENT, "message": message}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A staff text that goes out through Twilio because VoIP.ms is failing.
async fn text_through_twilio(app: &TestApp, practice: Uuid) {
    app.voipms.set_fault("sendSMS", Some(Fault::Status("sms_failed")));
    let (status, sent) = staff_send(app, practice, "Your crown is ready").await;
    assert_eq!((status, sent["provider"].as_str()), (201, Some("twilio")), "{sent}");
    app.voipms.set_fault("sendSMS", None);
}

/// (practice, DID of the thread, provider) of the inbound text with this MessageSid.
async fn stored(app: &TestApp, sid: &str) -> Vec<(Uuid, String, String)> {
    app.sql()
        .await
        .query(
            "SELECT m.practice_id, c.did, m.provider FROM sms_messages m JOIN sms_conversations c ON c.id = m.conversation_id \
             WHERE m.direction = 'inbound' AND m.provider_message_id = $1",
            &[&sid],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

async fn opted_out(app: &TestApp, practice: Uuid) -> bool {
    app.sql()
        .await
        .query_opt(
            "SELECT 1 FROM sms_opt_outs WHERE practice_id = $1 AND contact = $2",
            &[&practice, &PATIENT_E164],
        )
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn a_reply_lands_in_the_thread_we_last_texted_through_twilio() {
    let app = spawn_app().twilio().start().await;
    let other = app.add_practice("Birch Dental", OTHER_DID).await;
    text_through_twilio(&app, app.practice_id).await;

    let (status, body, first) = patient_texts_twilio(&app, UNANSWERABLE).await;
    assert_eq!(
        (status, body.as_str()),
        (200, EMPTY_TWIML),
        "Twilio itself sends nothing"
    );
    assert_eq!(
        stored(&app, &first).await,
        [(app.practice_id, DID_E164.to_string(), "twilio".to_string())]
    );
    let flagged: bool = app
        .value("SELECT needs_review FROM sms_conversations WHERE did = '+15145550100' AND contact = '+14385550199'")
        .await;
    assert!(flagged, "handled like any inbound text");

    // Now the other practice texts the patient through Twilio: the next answer is theirs.
    text_through_twilio(&app, other).await;
    let (status, _, second) = patient_texts_twilio(&app, UNANSWERABLE).await;
    assert_eq!(status, 200);
    assert_eq!(
        stored(&app, &second).await,
        [(other, OTHER_DID.to_string(), "twilio".to_string())]
    );

    // Twilio redelivers the first text: it stays where it was, once.
    let params = app.twilio.inbound_params(&first, &from_patient(UNANSWERABLE));
    let (status, body) = app.twilio.post_signed_webhook(&hook(&app), &params).await;
    assert_eq!((status, body.as_str()), (200, EMPTY_TWIML));
    assert_eq!(stored(&app, &first).await.len(), 1);
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE direction = 'inbound'")
            .await,
        2
    );
}

#[tokio::test]
async fn media_urls_are_stored_and_a_lone_practice_gets_texts_it_never_sent_through_twilio() {
    let app = spawn_app().twilio().start().await;
    let message = InboundMessage {
        media_content_types: vec!["image/jpeg".into(), "image/png".into()],
        ..from_patient("")
    };
    let (status, body, sid) = app.twilio.deliver_inbound(&hook(&app), &message).await;
    assert_eq!((status, body.as_str()), (200, EMPTY_TWIML));
    assert!(sid.starts_with("MM"));
    assert_eq!(
        stored(&app, &sid).await[0].1,
        DID_E164,
        "the only practice, under VOIPMS_DID"
    );
    let media: Vec<String> = app
        .value("SELECT media_urls FROM sms_messages WHERE direction = 'inbound'")
        .await;
    assert_eq!(media.len(), 2);
    assert!(
        media
            .iter()
            .all(|m| m.starts_with("https://api.twilio.com/") && m.contains(&sid)),
        "{media:?}"
    );
}

#[tokio::test]
async fn stop_through_twilio_stops_every_carrier_and_start_reopens_them() {
    let app = spawn_app().twilio().start().await;
    text_through_twilio(&app, app.practice_id).await;

    let (status, _, _) = patient_texts_twilio(&app, "STOP").await;
    assert_eq!(status, 200);
    // VoIP.ms works again, but the patient said STOP: no carrier may text them.
    let (status, refused) = staff_send(&app, app.practice_id, "Reminder: cleaning tomorrow").await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("opted_out")),
        "{refused}"
    );

    let (status, _, _) = patient_texts_twilio(&app, "start").await;
    assert_eq!(status, 200);
    let (status, sent) = staff_send(&app, app.practice_id, "Reminder: cleaning tomorrow").await;
    assert_eq!((status, sent["provider"].as_str()), (201, Some("voipms")), "{sent}");
}

#[tokio::test]
async fn stop_through_twilio_opts_out_of_every_practice_that_texted_through_twilio() {
    let app = spawn_app().twilio().start().await;
    let other = app.add_practice("Birch Dental", OTHER_DID).await;
    let never = app.add_practice("Cedar Dental", "+15145550133").await;
    text_through_twilio(&app, app.practice_id).await;
    text_through_twilio(&app, other).await;

    let (status, _, sid) = patient_texts_twilio(&app, "Unsubscribe").await;
    assert_eq!(status, 200);
    assert_eq!(stored(&app, &sid).await[0].0, other, "routed to the latest thread");
    assert!(opted_out(&app, other).await);
    assert!(
        opted_out(&app, app.practice_id).await,
        "Twilio blocks the number for this practice too"
    );
    assert!(
        !opted_out(&app, never).await,
        "never texted through Twilio: not affected"
    );

    // Opting back in is consent to the practice the patient answered, not to all of them.
    let (status, _, _) = patient_texts_twilio(&app, "START").await;
    assert_eq!(status, 200);
    assert!(!opted_out(&app, other).await);
    assert!(opted_out(&app, app.practice_id).await);
}

#[tokio::test]
async fn several_practices_and_no_twilio_thread_keep_the_text_for_an_operator() {
    let app = spawn_app().twilio().start().await;
    app.add_practice("Birch Dental", OTHER_DID).await;
    let (status, body, sid) = patient_texts_twilio(&app, "Who is this?").await;
    assert_eq!((status, body.as_str()), (200, EMPTY_TWIML));
    // Redelivered: kept once.
    let params = app.twilio.inbound_params(&sid, &from_patient("Who is this?"));
    assert_eq!(app.twilio.post_signed_webhook(&hook(&app), &params).await.0, 200);
    let rows = app
        .sql()
        .await
        .query(
            "SELECT provider, provider_message_id, from_number, to_number, body, reason FROM unrouted_texts",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.get::<_, String>(0), "twilio");
    assert_eq!(row.get::<_, String>(1), sid);
    assert_eq!(row.get::<_, String>(2), PATIENT_E164);
    assert_eq!(row.get::<_, String>(3), TWILIO_FROM);
    assert_eq!(row.get::<_, String>(4), "Who is this?");
    assert!(row.get::<_, String>(5).contains("several practices"));
    assert_eq!(app.count("SELECT count(*) FROM sms_messages").await, 0);
    assert!(
        app.voipms.sent_sms().is_empty() && app.twilio.sent().is_empty(),
        "never answered"
    );

    // A text to another number of the Twilio account is not ours to route.
    let elsewhere = InboundMessage {
        to: "+15145550999".into(),
        ..from_patient("hi")
    };
    assert_eq!(app.twilio.deliver_inbound(&hook(&app), &elsewhere).await.0, 200);
    let reason: String = app
        .value("SELECT reason FROM unrouted_texts WHERE to_number = '+15145550999'")
        .await;
    assert!(reason.contains("does not text from"), "{reason}");

    // Staff cannot read them, only the service role.
    let client = app.sql().await;
    client.batch_execute("SET ROLE authenticated").await.unwrap();
    let denied = client.query("SELECT * FROM unrouted_texts", &[]).await.unwrap_err();
    assert_eq!(
        denied.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
        "{denied:?}"
    );
}

#[tokio::test]
async fn the_signature_must_cover_the_public_url_configured_in_twilio() {
    let public = "https://a1b2c3d4e5.execute-api.ca-central-1.amazonaws.com/api/twilio/sms/webhook";
    let app = spawn_app().twilio().env("TWILIO_WEBHOOK_URL", public).start().await;
    let internal = app.url(PATH);
    let params = app
        .twilio
        .inbound_params("SM00000000000000000000000000000001", &from_patient("hi"));

    // The classic failure: checking against the URL the code sees.
    let (status, body) = app.twilio.post_signed_webhook(&internal, &params).await;
    assert_eq!(status, 401, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["code"], "bad_signature");

    // Unsigned, and signed with another token.
    let unsigned = reqwest::Client::new()
        .post(&internal)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("MessageSid=SM1&From=%2B14385550199&To=%2B15145550111&Body=STOP")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let forged = reqwest::Client::new()
        .post(&internal)
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "x-twilio-signature",
            pedro_voip::sms::twilio_signature::sign("guess", public, &params),
        )
        .body(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&params)
                .finish(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    assert_eq!(
        app.count("SELECT (SELECT count(*) FROM sms_messages) + (SELECT count(*) FROM unrouted_texts)")
            .await,
        0,
        "nothing stored"
    );

    // Twilio signs the public URL; API Gateway forwards to the function.
    let (status, body) = app.twilio.post_signed_webhook_via(public, &internal, &params).await;
    assert_eq!((status, body.as_str()), (200, EMPTY_TWIML));
    // Twilio sometimes signs with the default port written out.
    let with_port = public.replace(".com/", ".com:443/");
    let params = app
        .twilio
        .inbound_params("SM00000000000000000000000000000002", &from_patient("hi"));
    assert_eq!(
        app.twilio
            .post_signed_webhook_via(&with_port, &internal, &params)
            .await
            .0,
        200
    );
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE provider = 'twilio'")
            .await,
        2
    );
}

#[tokio::test]
async fn only_failed_signatures_are_rate_limited() {
    let app = spawn_app().twilio().start().await;
    let params = app
        .twilio
        .inbound_params("SM00000000000000000000000000000003", &from_patient(UNANSWERABLE));
    let wrong = format!("{}?not=configured", hook(&app));
    for _ in 0..BAD_SIGNATURES_PER_MINUTE {
        let (status, _) = app.twilio.post_signed_webhook_via(&wrong, &hook(&app), &params).await;
        assert_eq!(status, 401);
    }
    let (status, body) = app.twilio.post_signed_webhook_via(&wrong, &hook(&app), &params).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        "rate_limited"
    );

    // Properly signed deliveries from the same source are never refused for volume.
    for i in 0..(BAD_SIGNATURES_PER_MINUTE + 5) {
        let (status, body, _) = patient_texts_twilio(&app, &format!("{UNANSWERABLE} ({i})")).await;
        assert_eq!((status, body.as_str()), (200, EMPTY_TWIML));
    }
}

#[tokio::test]
async fn requests_twilio_would_never_send_get_clear_json_errors() {
    let unconfigured = spawn_app().start().await;
    let response = unconfigured
        .http
        .post(unconfigured.url(PATH))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("Body=hi")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "not_configured");

    let app = spawn_app().twilio().start().await;
    let response = app.post_json(PATH, &json!({"Body": "hi"})).await;
    assert_eq!(response.status(), 415);

    // Signed, but without the fields every message has.
    let (status, body) = app
        .twilio
        .post_signed_webhook(&hook(&app), &[("Body".to_string(), "hi".to_string())])
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        "missing_field"
    );
    assert_eq!(app.count("SELECT count(*) FROM sms_messages").await, 0);
    // What Twilio did deliver is kept, never refused: a NUL is replaced visibly, an over-long text
    // is cut, and both are flagged for a person.
    let mut params = app
        .twilio
        .inbound_params("SM00000000000000000000000000000004", &from_patient("a\0b"));
    let (status, body) = app.twilio.post_signed_webhook(&hook(&app), &params).await;
    assert_eq!(status, 200, "{body}");
    params.retain(|(k, v)| k != "Body" && k != "MessageSid" && !v.is_empty());
    params.push(("MessageSid".into(), "SM00000000000000000000000000000005".into()));
    params.push(("Body".into(), "x".repeat(10_001)));
    let (status, _) = app.twilio.post_signed_webhook(&hook(&app), &params).await;
    assert_eq!(status, 200);
    let stored: Vec<(String, bool)> = app
        .sql()
        .await
        .query(
            "SELECT left(body, 3), needs_review FROM sms_messages WHERE direction = 'inbound' ORDER BY provider_message_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(stored, [("a\u{FFFD}b".to_string(), true), ("xxx".to_string(), true)]);
}
