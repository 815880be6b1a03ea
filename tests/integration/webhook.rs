//! Inbound texts through `/api/voip/sms/webhook`: VoIP.ms's GET callback and the JSON form.

use pedro_tests::app::{DID, DID_E164, PATIENT, PATIENT_E164};
use pedro_tests::fakes::voipms::InboundSms;
use pedro_tests::spawn_app;
use serde_json::{json, Value};

#[tokio::test]
async fn get_callback_stores_the_text_and_answers_exactly_ok() {
    let app = spawn_app().start().await;
    let response = app
        .get(&format!("/api/voip/sms/webhook?to={DID}&from={PATIENT}&message=Hello+there%2C%20%F0%9F%98%80&id=1001&date=2026-11-25+10%3A00%3A00"))
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(response.text().await.unwrap(), "ok");

    let db = app.sql().await;
    let row = db
        .query_one(
            "SELECT m.body, m.direction, m.provider_message_id, m.provider_date, m.origin, c.contact, c.did, c.unread_count \
             FROM sms_messages m JOIN sms_conversations c ON c.id = m.conversation_id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>("body"), "Hello there, 😀");
    assert_eq!(row.get::<_, String>("direction"), "inbound");
    assert_eq!(row.get::<_, String>("provider_message_id"), "1001");
    assert_eq!(
        row.get::<_, Option<String>>("provider_date").as_deref(),
        Some("2026-11-25 10:00:00")
    );
    assert_eq!(row.get::<_, String>("origin"), "webhook");
    assert_eq!(row.get::<_, String>("contact"), PATIENT_E164);
    assert_eq!(row.get::<_, String>("did"), DID_E164);
    assert_eq!(row.get::<_, i32>("unread_count"), 1);

    // The carrier's `date` (UTC) is the text's own time; the arrival is the clock's.
    let times = db
        .query_one("SELECT occurred_at, arrived_at FROM sms_messages", &[])
        .await
        .unwrap();
    let own: chrono::DateTime<chrono::Utc> = times.get(0);
    let arrived: chrono::DateTime<chrono::Utc> = times.get(1);
    assert_eq!(own.to_rfc3339(), "2026-11-25T10:00:00+00:00");
    assert_eq!(arrived, app.clock_now());
}

#[tokio::test]
async fn semicolon_separators_and_media_are_understood() {
    let app = spawn_app().start().await;
    let media = "https%3A%2F%2Fvoip.ms%2Fmedia.php%3Fmap%3Dabc";
    let response = app
        .get(&format!(
            "/api/voip/sms/webhook?to={DID};from={PATIENT};message=pic;id=77;media={media}"
        ))
        .await;
    assert_eq!(response.text().await.unwrap(), "ok");
    let row = app
        .sql()
        .await
        .query_one("SELECT body, media_urls FROM sms_messages", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "pic");
    assert_eq!(
        row.get::<_, Vec<String>>(1),
        vec!["https://voip.ms/media.php?map=abc".to_string()]
    );
}

#[tokio::test]
async fn the_fake_carrier_delivers_through_the_configured_callback() {
    let app = spawn_app().start().await;
    let template = app.url("/api/voip/sms/webhook?to={TO}&from={FROM}&message={MESSAGE}&id={ID}&date={TIMESTAMP}");
    let sms = InboundSms {
        id: "5001".into(),
        date: app.clock_now().naive_utc(),
        did: DID.into(),
        contact: PATIENT.into(),
        message: "Do you take new patients? 50% off & more; ok?".into(),
        media: None,
    };
    let report = app.voipms.deliver_callback(&template, &sms, 3).await;
    assert!(report.acknowledged, "{report:?}");
    assert_eq!(report.attempts, 1);
    let body: String = app.value("SELECT body FROM sms_messages").await;
    assert_eq!(body, sms.message);
}

#[tokio::test]
async fn a_redelivered_text_is_stored_once_and_still_answered_ok() {
    let app = spawn_app().start().await;
    let path = format!("/api/voip/sms/webhook?to={DID}&from={PATIENT}&message=What+are+your+hours%3F&id=42");
    for _ in 0..3 {
        assert_eq!(app.get(&path).await.text().await.unwrap(), "ok");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE direction = 'inbound'")
            .await,
        1
    );
    assert!(app.voipms.sent_sms().is_empty(), "the webhook only queues the reply");
    app.drain_queue().await;
    assert_eq!(app.voipms.sent_sms().len(), 1, "answered once");
    assert_eq!(app.count("SELECT unread_count::int8 FROM sms_conversations").await, 1);
}

#[tokio::test]
async fn concurrent_duplicates_are_stored_once_and_answered_at_most_once() {
    let app = spawn_app().start().await;
    let path = format!("/api/voip/sms/webhook?to={DID}&from={PATIENT}&message=where+is+your+office+located&id=race-1");
    let responses = futures::future::join_all((0..8).map(|_| app.get(&path))).await;
    for response in responses {
        assert_eq!(response.status(), 200);
    }
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE direction = 'inbound'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE direction = 'outbound'")
            .await,
        1
    );
    app.drain_queue().await;
    assert_eq!(app.voipms.sent_sms().len(), 1);
}

#[tokio::test]
async fn json_post_says_what_was_done() {
    let app = spawn_app().start().await;
    let (status, body) = app.text_in("+14385550199", "What are your hours?", "sms_123").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "queued");
    assert_eq!(body["duplicate"], false);
    assert_eq!(
        body["autoResponse"],
        json!({"category": "office_hours", "queued": true})
    );
    assert_eq!(body["needsReview"], false);
    // `text_in` drained the queue: the queued reply went out.
    assert_eq!(app.voipms.sent_sms().len(), 1);
    assert_eq!(app.voipms.sent_sms()[0].dst, "4385550199");
    let conversation: uuid::Uuid = body["conversationId"].as_str().unwrap().parse().unwrap();
    let message: uuid::Uuid = body["messageId"].as_str().unwrap().parse().unwrap();
    let row = app
        .sql()
        .await
        .query_one(
            "SELECT conversation_id, auto_response_category FROM sms_messages WHERE id = $1",
            &[&message],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, uuid::Uuid>(0), conversation);
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("office_hours"));

    let (status, again) = app.text_in("+14385550199", "What are your hours?", "sms_123").await;
    assert_eq!(status, 200);
    assert_eq!(again["status"], "stored");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["messageId"], body["messageId"]);
    assert_eq!(again["autoResponse"], Value::Null);
    assert_eq!(app.voipms.sent_sms().len(), 1, "a duplicate is not answered again");
}

#[tokio::test]
async fn with_a_secret_only_matching_requests_are_stored() {
    let app = spawn_app().env("WEBHOOK_SECRET", "s3cr3t value").start().await;
    let base = format!("/api/voip/sms/webhook?to={DID}&from={PATIENT}&message=hi&id=9");
    for path in [
        base.clone(),
        format!("{base}&secret=wrong"),
        format!("{base}&secret=s3cr3t"),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 401, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_secret");
    }
    let response = app
        .post_json(
            "/api/voip/sms/webhook?secret=nope",
            &json!({"from": PATIENT, "message": "hi", "id": "10"}),
        )
        .await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages").await,
        0,
        "nothing stored without the secret"
    );

    assert_eq!(
        app.get(&format!("{base}&secret=s3cr3t+value"))
            .await
            .text()
            .await
            .unwrap(),
        "ok"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE direction = 'inbound'")
            .await,
        1
    );
}

/// Only what is not a delivery at all (no sender, text or id; a body that is not the JSON form) is
/// refused. Unusual deliveries are stored: see `unusual_deliveries_are_stored_and_flagged`.
#[tokio::test]
async fn bad_input_gets_a_json_4xx_and_stores_nothing() {
    let app = spawn_app().start().await;
    let cases: Vec<(reqwest::Response, u16, &str)> = vec![
        (
            app.get(&format!("/api/voip/sms/webhook?to={DID}&message=hi&id=1"))
                .await,
            400,
            "missing_field",
        ),
        (
            app.get(&format!("/api/voip/sms/webhook?to={DID}&from={PATIENT}&id=1"))
                .await,
            400,
            "missing_field",
        ),
        (
            app.get(&format!("/api/voip/sms/webhook?to={DID}&from={PATIENT}&message=hi"))
                .await,
            400,
            "missing_field",
        ),
        (
            app.http
                .post(app.url("/api/voip/sms/webhook"))
                .header("content-type", "application/json")
                .body("{\"from\": ")
                .send()
                .await
                .unwrap(),
            400,
            "malformed_json",
        ),
        (
            app.http
                .post(app.url("/api/voip/sms/webhook"))
                .body("from=1")
                .send()
                .await
                .unwrap(),
            415,
            "unsupported_media_type",
        ),
        (
            app.post_json(
                "/api/voip/sms/webhook",
                &json!({"from": PATIENT, "message": 5, "id": "1"}),
            )
            .await,
            400,
            "invalid_body",
        ),
        (
            app.post_json(
                "/api/voip/sms/webhook",
                &json!({"from": PATIENT, "message": "x".repeat(70_000), "id": "1"}),
            )
            .await,
            413,
            "body_too_large",
        ),
        (
            app.post_json(
                "/api/voip/sms/webhook",
                &json!({"from": PATIENT, "message": "hi", "id": "  "}),
            )
            .await,
            400,
            "missing_field",
        ),
    ];
    for (index, (response, status, code)) in cases.into_iter().enumerate() {
        assert_eq!(response.status().as_u16(), status, "case {index}");
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|_| panic!("case {index}: JSON body"));
        assert_eq!(body["error"]["code"], code, "case {index}: {body}");
        assert!(
            body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "case {index}"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM sms_messages").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM sms_conversations").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM unrouted_texts").await, 0);
}

/// VoIP.ms resends what it was not answered `ok` for, so refusing a text it delivered loses
/// nothing but delays it forever: an unusual sender or an over-long text is stored and flagged,
/// and a text to a number no practice owns is kept for an operator.
#[tokio::test]
async fn unusual_deliveries_are_stored_and_flagged() {
    let app = spawn_app().start().await;
    for (query, id) in [
        (
            format!("to={DID}&from=not-a-number&message=What+are+your+hours%3F"),
            "u1",
        ),
        (format!("to=2025550123&from={PATIENT}&message=hi"), "u2"),
        (format!("to=12&from={PATIENT}&message=hi"), "u3"),
    ] {
        let response = app.get(&format!("/api/voip/sms/webhook?{query}&id={id}")).await;
        assert_eq!(response.status(), 200, "{query}");
        assert_eq!(response.text().await.unwrap(), "ok", "{query}");
    }
    let (status, long) = app.text_in(PATIENT, &"x".repeat(10_001), "u4").await;
    assert_eq!(status, 200, "{long}");
    assert_eq!(long["status"], "stored");
    assert_eq!(long["needsReview"], true);

    let db = app.sql().await;
    let odd = db
        .query_one(
            "SELECT c.contact, m.needs_review, m.review_reason FROM sms_messages m \
             JOIN sms_conversations c ON c.id = m.conversation_id WHERE m.provider_message_id = 'u1'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(odd.get::<_, String>(0), "not-a-number", "stored as it came");
    assert!(odd.get::<_, bool>(1));
    assert!(odd.get::<_, String>(2).contains("not a phone number"));
    let cut = db
        .query_one(
            "SELECT char_length(body), needs_review, review_reason FROM sms_messages WHERE provider_message_id = 'u4'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(cut.get::<_, i32>(0), 10_000);
    assert!(cut.get::<_, bool>(1));
    assert!(cut.get::<_, String>(2).contains("cut"));
    let unrouted: Vec<String> = db
        .query("SELECT to_number FROM unrouted_texts ORDER BY to_number", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(unrouted, ["12", "2025550123"]);
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE provider_message_id IN ('u2', 'u3')")
            .await,
        0,
        "no practice's thread gets them"
    );
    app.drain_queue().await;
    assert!(
        app.voipms.sent_sms().is_empty(),
        "nothing unusual is answered automatically"
    );
}

#[tokio::test]
async fn one_thread_per_contact_and_did() {
    let app = spawn_app().start().await;
    app.text_in("4385550199", "thanks!", "a1").await;
    app.text_in("+1 (438) 555-0199", "see you", "a2").await;
    app.text_in("4385550188", "hello", "a3").await;
    assert_eq!(app.count("SELECT count(*) FROM sms_conversations").await, 2);
    let row = app
        .sql()
        .await
        .query_one(
            "SELECT unread_count, last_message_preview FROM sms_conversations WHERE contact = $1",
            &[&PATIENT_E164],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 2);
    assert_eq!(row.get::<_, String>(1), "see you");
}

/// Postgres text cannot hold NUL: in a text it is replaced visibly (and flagged); in the carrier's
/// id, which must match redeliveries exactly, the delivery is refused.
#[tokio::test]
async fn nul_characters_are_replaced_in_texts_and_refused_in_ids_not_a_500() {
    let app = spawn_app().start().await;
    let get = app
        .get(&format!(
            "/api/voip/sms/webhook?to={DID}&from={PATIENT}&message=a%00b&id=n1"
        ))
        .await;
    assert_eq!(get.status(), 200);
    assert_eq!(get.text().await.unwrap(), "ok");
    let row = app
        .sql()
        .await
        .query_one("SELECT body, needs_review FROM sms_messages", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "a\u{FFFD}b");
    assert!(row.get::<_, bool>(1));
    let post = app
        .post_json(
            "/api/voip/sms/webhook",
            &json!({"from": PATIENT, "message": "ok", "id": "n\u{0}2"}),
        )
        .await;
    assert_eq!(post.status(), 400);
    assert_eq!(post.json::<Value>().await.unwrap()["error"]["code"], "missing_field");
    assert_eq!(app.count("SELECT count(*) FROM sms_messages").await, 1);
}

#[tokio::test]
async fn an_international_sender_whose_plus_became_a_space_is_stored() {
    let app = spawn_app().start().await;
    let response = app
        .get(&format!(
            "/api/voip/sms/webhook?to={DID}&from=+447700900123&message=hello&id=int1"
        ))
        .await;
    assert_eq!(response.text().await.unwrap(), "ok");
    let contact: String = app.value("SELECT contact FROM sms_conversations").await;
    assert_eq!(contact, "+447700900123");
}

#[tokio::test]
async fn the_secret_is_checked_before_the_body_is_read() {
    let app = spawn_app().env("WEBHOOK_SECRET", "s3cr3t-value").start().await;
    let response = app
        .http
        .post(app.url("/api/voip/sms/webhook?secret=wrong"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn racing_duplicates_leave_the_answered_text_unflagged() {
    let app = spawn_app().start().await;
    let path = format!("/api/voip/sms/webhook?to={DID}&from={PATIENT}&message=what+are+your+hours&id=race-2");
    futures::future::join_all((0..8).map(|_| app.get(&path))).await;
    let row = app
        .sql()
        .await
        .query_one(
            "SELECT needs_review, auto_response_category FROM sms_messages WHERE direction = 'inbound'",
            &[],
        )
        .await
        .unwrap();
    assert!(!row.get::<_, bool>(0), "answered once, not flagged as asked again");
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("office_hours"));
    let flagged: bool = app.value("SELECT needs_review FROM sms_conversations").await;
    assert!(!flagged);
    app.drain_queue().await;
    assert_eq!(app.voipms.sent_sms().len(), 1);
}

#[tokio::test]
async fn only_allowed_source_networks_reach_the_webhook_when_a_list_is_set() {
    let elsewhere = spawn_app()
        .env("WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/8, 192.0.2.7")
        .start()
        .await;
    let response = elsewhere
        .get(&format!(
            "/api/voip/sms/webhook?to={DID}&from={PATIENT}&message=hi&id=net1"
        ))
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "source_not_allowed"
    );
    assert_eq!(elsewhere.count("SELECT count(*) FROM sms_messages").await, 0);

    let here = spawn_app().env("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8").start().await;
    let response = here
        .get(&format!(
            "/api/voip/sms/webhook?to={DID}&from={PATIENT}&message=hi&id=net2"
        ))
        .await;
    assert_eq!(response.text().await.unwrap(), "ok");
}

/// A STOP that commits while a question from the same patient waits for their thread (the two
/// deliveries raced): the question gets no automatic reply, its quiet period is given back, and it
/// is flagged as any text from an opted-out contact is.
#[tokio::test]
async fn a_stop_committed_while_a_question_waits_for_the_thread_holds_back_the_reply() {
    let app = spawn_app().start().await;
    app.text_in(PATIENT, "hello there", "race-0").await;
    let mut stop_client = app.sql().await;
    let watcher = app.sql().await;
    let stop = stop_client.transaction().await.unwrap();
    // What the STOP's transaction holds: the thread's row (its own text went into it).
    stop.execute(
        "SELECT 1 FROM sms_conversations WHERE contact = $1 FOR UPDATE",
        &[&PATIENT_E164],
    )
    .await
    .unwrap();
    let practice = app.practice_id;
    let commit_stop = async move {
        // Once the question's transaction has read its context and waits for the thread's row…
        for _ in 0..500 {
            let waiting: i64 = watcher
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                     AND wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if waiting > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // …the STOP commits its opt-out.
        stop.execute(
            "INSERT INTO sms_opt_outs (practice_id, contact, opted_out_at) VALUES ($1, $2, now())",
            &[&practice, &PATIENT_E164],
        )
        .await
        .unwrap();
        stop.commit().await.unwrap();
    };
    let ((status, answer), ()) = tokio::join!(
        app.text_in_queued(PATIENT, "What are your hours?", "race-1"),
        commit_stop
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["autoResponse"]["queued"], false, "{answer}");
    assert_eq!(answer["autoResponse"]["reason"], "contact has opted out", "{answer}");
    assert_eq!(answer["needsReview"], true, "{answer}");
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE origin = 'auto_reply'")
            .await,
        0,
        "no reply stored"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM auto_reply_claims").await,
        0,
        "the quiet period is given back"
    );
    let reason: String = app
        .value("SELECT review_reason FROM sms_messages WHERE provider_message_id = 'race-1'")
        .await;
    assert!(reason.contains("opted out"), "{reason}");
}
