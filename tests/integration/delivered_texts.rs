//! Every text the carrier delivered is stored; consent follows the order the patient wrote in; old
//! texts are not answered automatically; flags keep what matters; replies go out from the thread's
//! own number.

use chrono::{Duration, Utc};
use pedro_tests::app::{DID, DID_E164, PATIENT, PATIENT_E164};
use pedro_tests::fakes::voipms::InboundSms;
use pedro_tests::spawn_app;
use serde_json::{json, Value};

async fn webhook(app: &pedro_tests::TestApp, body: Value) -> (u16, Value) {
    let response = app.post_json("/api/voip/sms/webhook", &body).await;
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    app.drain_queue().await;
    (status, body)
}

fn at(app: &pedro_tests::TestApp, minutes_ago: i64) -> String {
    (app.clock_now() - Duration::minutes(minutes_ago))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

async fn opted_out(app: &pedro_tests::TestApp) -> bool {
    app.count(&format!(
        "SELECT count(*) FROM sms_opt_outs WHERE contact = '{PATIENT_E164}'"
    ))
    .await
        == 1
}

#[tokio::test]
async fn unusual_senders_are_stored_as_they_came_and_flagged() {
    let app = spawn_app().start().await;
    for (i, sender) in ["1410100001", "0123456789", "not a number"].iter().enumerate() {
        let response = app
            .get(&format!(
                "/api/voip/sms/webhook?to={DID}&from={}&message=Your+code+is+1234&id=u-{i}",
                sender.replace(' ', "+")
            ))
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.text().await.unwrap(),
            "ok",
            "{sender}: VoIP.ms must stop resending"
        );
    }
    app.drain_queue().await;
    let contacts: Vec<String> = app
        .column("SELECT contact FROM sms_conversations WHERE needs_review ORDER BY contact")
        .await;
    assert_eq!(contacts, ["0123456789", "1410100001", "not a number"]);
    assert!(app.voipms_sent_bodies().is_empty(), "never answered automatically");
}

#[tokio::test]
async fn a_nul_in_a_text_is_replaced_visibly_and_the_text_kept() {
    let app = spawn_app().start().await;
    let (status, body) = webhook(&app, json!({"from": PATIENT, "message": "hi\u{0}there", "id": "n-1"})).await;
    assert_eq!(status, 200, "{body}");
    let stored: String = app.value("SELECT body FROM sms_messages").await;
    assert_eq!(stored, "hi\u{FFFD}there");
    let reason: String = app.value("SELECT review_reason FROM sms_messages").await;
    assert!(reason.contains("NUL"), "{reason}");
}

#[tokio::test]
async fn a_text_to_a_number_no_practice_owns_is_kept_for_an_operator() {
    let app = spawn_app().start().await;
    for _ in 0..2 {
        let response = app
            .get(&format!(
                "/api/voip/sms/webhook?to=2125550123&from={PATIENT}&message=hello&id=x-1"
            ))
            .await;
        assert_eq!(response.text().await.unwrap(), "ok");
    }
    let row = app
        .sql()
        .await
        .query_one("SELECT to_number, from_number, body FROM unrouted_texts", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "2125550123");
    assert_eq!(row.get::<_, String>(1), PATIENT);
    assert_eq!(row.get::<_, String>(2), "hello");
    assert_eq!(app.count("SELECT count(*) FROM unrouted_texts").await, 1, "stored once");
    assert_eq!(app.count("SELECT count(*) FROM sms_messages").await, 0);
    // Only a delivery without an id is refused: there is nothing to store it under.
    let (status, body) = webhook(&app, json!({"from": PATIENT, "message": "hi"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "missing_field");
}

#[tokio::test]
async fn an_old_text_is_flagged_not_answered_with_an_emergency_on_top() {
    let app = spawn_app().start().await;
    // Re-delivered three hours after the patient wrote it.
    let (_, body) = webhook(
        &app,
        json!({"from": PATIENT, "message": "my tooth is bleeding", "id": "old-1", "date": at(&app, 180)}),
    )
    .await;
    assert_eq!(body["status"], "stored");
    assert_eq!(body["autoResponse"]["queued"], false);
    assert!(app.voipms_sent_bodies().is_empty(), "no \"call 911\" hours late");
    let reason: String = app.value("SELECT review_reason FROM sms_conversations").await;
    assert_eq!(reason, "patient may have an emergency");
    // Stamped with its own time, not the arrival time.
    let (own, arrived): (chrono::DateTime<Utc>, chrono::DateTime<Utc>) = {
        let row = app
            .sql()
            .await
            .query_one("SELECT occurred_at, arrived_at FROM sms_messages", &[])
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(arrived - own, Duration::minutes(180));
    // The same question written a minute ago is answered.
    webhook(
        &app,
        json!({"from": PATIENT, "message": "What are your hours?", "id": "new-1", "date": at(&app, 1)}),
    )
    .await;
    assert_eq!(app.voipms_sent_bodies().len(), 1);
}

#[tokio::test]
async fn consent_follows_the_texts_own_times_whatever_order_they_arrive_in() {
    let app = spawn_app().start().await;
    webhook(
        &app,
        json!({"from": PATIENT, "message": "STOP", "id": "c-0", "date": at(&app, 60)}),
    )
    .await;
    assert!(opted_out(&app).await);
    let sent_before = app.voipms_sent_bodies().len();
    // STOP at 10:14 arrives before START at 10:09 (a re-delivery reordered them).
    webhook(
        &app,
        json!({"from": PATIENT, "message": "STOP", "id": "c-2", "date": at(&app, 5)}),
    )
    .await;
    webhook(
        &app,
        json!({"from": PATIENT, "message": "START", "id": "c-1", "date": at(&app, 10)}),
    )
    .await;
    assert!(opted_out(&app).await, "the later text (STOP) decides");
    let sent = app.voipms_sent_bodies();
    assert_eq!(sent.len(), sent_before, "no \"resubscribed\": {sent:?}");

    // And the other way round: START written after STOP, arriving first.
    webhook(
        &app,
        json!({"from": PATIENT, "message": "START", "id": "c-4", "date": at(&app, 1)}),
    )
    .await;
    webhook(
        &app,
        json!({"from": PATIENT, "message": "STOP", "id": "c-3", "date": at(&app, 2)}),
    )
    .await;
    assert!(!opted_out(&app).await, "the later text (START) decides");
}

#[tokio::test]
async fn check_sms_decides_consent_oldest_first_and_confirms_only_the_final_state() {
    let app = spawn_app().start().await;
    webhook(
        &app,
        json!({"from": PATIENT, "message": "STOP", "id": "9000", "date": at(&app, 30)}),
    )
    .await;
    let confirmations = app.voipms_sent_bodies().len();
    let now = app.clock_now().naive_utc();
    // Both missed by the webhook; getSMS lists newest first.
    for (id, message, minutes) in [("9002", "STOP", 6), ("9001", "START", 11)] {
        app.voipms.add_received_sms(InboundSms {
            id: id.into(),
            date: now - Duration::minutes(minutes),
            did: DID.into(),
            contact: PATIENT.into(),
            message: message.into(),
            media: None,
        });
    }
    pedro_voip::jobs::Job::CheckSms.run(&app.ctx).await.unwrap();
    app.drain_queue().await;
    assert!(opted_out(&app).await);
    let sent = app.voipms_sent_bodies();
    assert!(
        sent[confirmations..].iter().all(|b| !b.contains("resubscribed")),
        "{sent:?}"
    );
    let order: Vec<String> = app
        .column("SELECT provider_message_id FROM sms_messages WHERE direction = 'inbound' ORDER BY occurred_at")
        .await;
    assert_eq!(order, ["9000", "9001", "9002"], "threads order by the texts' own times");
}

#[tokio::test]
async fn cancel_opts_out_but_flags_a_person_and_says_how_to_opt_back_in() {
    let app = spawn_app().start().await;
    let (_, body) = webhook(&app, json!({"from": PATIENT, "message": "Cancel", "id": "k-1"})).await;
    assert!(opted_out(&app).await);
    assert_eq!(body["needsReview"], true);
    let reason: String = app.value("SELECT review_reason FROM sms_conversations").await;
    assert!(reason.contains("appointment"), "{reason}");
    let sent = app.voipms_sent_bodies();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].contains("START"), "{sent:?}");
    // A plain STOP is not flagged.
    let other = "4385550177";
    let (_, body) = webhook(&app, json!({"from": other, "message": "STOP", "id": "k-2"})).await;
    assert_eq!(body["needsReview"], false);
}

#[tokio::test]
async fn the_most_serious_flag_stays_until_a_person_clears_it() {
    let app = spawn_app().start().await;
    app.text_in(PATIENT, "my tooth is bleeding", "s-1").await;
    app.text_in(PATIENT, "ok thanks", "s-2").await;
    let reason: String = app.value("SELECT review_reason FROM sms_conversations").await;
    assert_eq!(
        reason, "patient may have an emergency",
        "\"ok thanks\" does not hide it"
    );
}

#[tokio::test]
async fn reviewing_clears_what_the_reviewer_saw_and_keeps_what_came_after() {
    let app = spawn_app().start().await;
    app.text_in(PATIENT, "Can someone call me back?", "v-1").await;
    let seen: uuid::Uuid = app
        .value("SELECT id FROM sms_messages WHERE provider_message_id = 'v-1'")
        .await;
    let conversation: uuid::Uuid = app.value("SELECT id FROM sms_conversations").await;
    // While the person reads, an emergency arrives.
    app.clock.advance(Duration::minutes(1));
    app.text_in(PATIENT, "my jaw is swollen and it hurts", "v-2").await;
    let response = app
        .http
        .post(app.url(&format!(
            "/api/voip/sms/conversations/{conversation}/review?upTo={seen}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let thread: Value = response.json().await.unwrap();
    assert_eq!(thread["needsReview"], true, "{thread}");
    assert_eq!(thread["reviewReason"], "patient may have an emergency");
    assert_eq!(thread["unreadCount"], 1);
    let flagged: Vec<String> = app
        .column("SELECT provider_message_id FROM sms_messages WHERE needs_review")
        .await;
    assert_eq!(flagged, ["v-2"]);
    // Reviewing everything clears it; a message of another thread is refused.
    let response = app
        .http
        .post(app.url(&format!("/api/voip/sms/conversations/{conversation}/review")))
        .send()
        .await
        .unwrap();
    let thread: Value = response.json().await.unwrap();
    assert_eq!(thread["needsReview"], false);
    let response = app
        .http
        .post(app.url(&format!(
            "/api/voip/sms/conversations/{conversation}/review?upTo={}",
            uuid::Uuid::new_v4()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn replies_go_out_from_the_number_the_patient_wrote_to() {
    let app = spawn_app().start().await;
    let second = "5145550155";
    app.sql()
        .await
        .execute(
            "INSERT INTO practice_dids (did, practice_id) VALUES ('+15145550155', $1)",
            &[&app.practice_id],
        )
        .await
        .unwrap();
    app.voipms.add_did(second);
    let response = app
        .get(&format!(
            "/api/voip/sms/webhook?to={second}&from={PATIENT}&message=What+are+your+hours%3F&id=d-1"
        ))
        .await;
    assert_eq!(response.text().await.unwrap(), "ok");
    app.drain_queue().await;
    // Staff answer by number only: it goes from the DID the patient wrote to, in the same thread.
    let (status, sent) = app.send(PATIENT, "Yes, open until 5 today.").await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(sent["from"], "+15145550155");
    let dids: Vec<String> = app.voipms.sent_sms().into_iter().map(|s| s.did).collect();
    assert_eq!(
        dids,
        [second, second],
        "automatic and staff replies both from the second DID"
    );
    assert_eq!(app.count("SELECT count(*) FROM sms_conversations").await, 1);
    // Naming the thread, or the sending DID, works too.
    let conversation: String = app.value("SELECT id::text FROM sms_conversations").await;
    let response = app
        .post_json(
            "/api/voip/sms/send",
            &json!({"conversationId": conversation, "message": "See you then"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let response = app
        .post_json(
            "/api/voip/sms/send",
            &json!({"to": PATIENT, "from": DID, "message": "From the main line"}),
        )
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["from"], DID_E164);
    let response = app
        .post_json(
            "/api/voip/sms/send",
            &json!({"to": PATIENT, "from": "2125550199", "message": "not ours"}),
        )
        .await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn a_picture_sent_while_the_webhook_was_down_is_recovered_with_its_media() {
    let app = spawn_app().start().await;
    let now = app.clock_now().naive_utc();
    let sms = |id: &str, message: &str| InboundSms {
        id: id.into(),
        date: now - Duration::minutes(3),
        did: DID.into(),
        contact: PATIENT.into(),
        message: message.into(),
        media: None,
    };
    // VoIP.ms numbers texts and MMS apart: the same id names one of each.
    app.voipms.add_received_sms(sms("501", "Here is my insurance card"));
    let media = ["https://voip.ms/media.php?map=card-front"];
    app.voipms.add_received_mms(sms("501", "front of the card"), &media);
    pedro_voip::jobs::Job::CheckSms.run(&app.ctx).await.unwrap();
    let rows: Vec<(String, Vec<String>)> = app
        .sql()
        .await
        .query(
            "SELECT provider_message_id, media_urls FROM sms_messages WHERE direction = 'inbound' ORDER BY provider_message_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        rows,
        [
            ("501".to_string(), vec![]),
            ("mms:501".to_string(), vec![media[0].to_string()])
        ]
    );
    assert!(app
        .voipms
        .calls("getMMS")
        .iter()
        .all(|c| c.get("all_messages").map(String::as_str) == Some("1")));
    // A second run (or the webhook, late) stores nothing twice.
    pedro_voip::jobs::Job::CheckSms.run(&app.ctx).await.unwrap();
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE direction = 'inbound'")
            .await,
        2
    );
}
