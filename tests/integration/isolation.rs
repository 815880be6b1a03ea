//! Two practices: nothing of one is readable or writable with the other's token, through every
//! endpoint and through direct SQL as Supabase's `authenticated` role.

use pedro_tests::app::{client_with_token, member_token, PATIENT, PATIENT_E164};
use pedro_tests::spawn_app;
use serde_json::{json, Value};
use uuid::Uuid;

#[tokio::test]
async fn another_practice_sees_and_changes_nothing_through_the_api() {
    let app = spawn_app().start().await;
    // Practice A (the default) has a thread.
    let (_, inbound) = app.text_in(PATIENT, "can someone call me about my bill", "a1").await;
    let a_thread = inbound["conversationId"].as_str().unwrap().to_string();
    let b = app.add_practice("Other Clinic", "+15145550177").await;
    app.voipms.add_did("5145550177");
    let b_client = client_with_token(&member_token(b, "admin"));

    let list: Value = b_client
        .get(app.url("/api/voip/sms/conversations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["conversations"], json!([]));
    let messages = b_client
        .get(app.url(&format!("/api/voip/sms/conversations/{a_thread}/messages")))
        .send()
        .await
        .unwrap();
    assert_eq!(messages.status(), 404);
    let review = b_client
        .post(app.url(&format!("/api/voip/sms/conversations/{a_thread}/review")))
        .send()
        .await
        .unwrap();
    assert_eq!(review.status(), 404);
    let flagged: bool = app.value("SELECT needs_review FROM sms_conversations").await;
    assert!(flagged, "A's flag untouched");
    // B's send goes into B's own thread, from B's DID.
    let sent: Value = b_client
        .post(app.url("/api/voip/sms/send"))
        .json(&json!({"to": PATIENT, "message": "hello from B"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(sent["conversationId"].as_str().unwrap(), a_thread);
    assert_eq!(app.voipms.sent_sms().last().unwrap().did, "5145550177");
    // B's webhook configuration touches B's DID only.
    b_client
        .post(app.url("/api/voip/configure-webhook"))
        .json(&json!({"webhookUrl": "https://pedro.example.com/api/voip/sms/webhook"}))
        .send()
        .await
        .unwrap();
    assert_eq!(app.voipms.calls("setSMS")[0]["did"], "5145550177");
    // A still sees exactly its own thread.
    let mine: Value = app.get("/api/voip/sms/conversations").await.json().await.unwrap();
    assert_eq!(mine["conversations"].as_array().unwrap().len(), 1);
    assert_eq!(mine["conversations"][0]["id"], a_thread.as_str());
}

#[tokio::test]
async fn direct_sql_as_authenticated_reaches_only_its_own_practice() {
    let app = spawn_app().start().await;
    app.text_in(PATIENT, "what are your hours", "a1").await;
    app.text_in(PATIENT, "STOP", "a2").await;
    let b = app.add_practice("Other Clinic", "+15145550177").await;
    let a = app.practice_id;
    let db = app.sql().await;
    let as_b = format!(
        r#"{{"role": "authenticated", "aud": "authenticated", "app_metadata": {{"practice_id": "{b}", "practice_role": "admin"}}}}"#
    );
    db.batch_execute("BEGIN; SET LOCAL ROLE authenticated").await.unwrap();
    db.execute("SELECT set_config('request.jwt.claims', $1, true)", &[&as_b])
        .await
        .unwrap();
    for table in [
        "practices",
        "practice_dids",
        "sms_conversations",
        "sms_messages",
        "sms_opt_outs",
        "auto_response_rules",
        "auto_reply_claims",
        "sandbox_outbox",
        "job_runs",
    ] {
        let foreign: i64 = db
            .query_one(
                &format!(
                    "SELECT count(*) FROM {table} WHERE {} = $1",
                    if table == "practices" { "id" } else { "practice_id" }
                ),
                &[&a],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(foreign, 0, "{table}: A's rows are invisible to B");
    }
    let own_rules: i64 = db
        .query_one("SELECT count(*) FROM auto_response_rules", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(own_rules, 8, "B sees its own rows");
    let updated = db
        .execute("UPDATE sms_messages SET needs_review = false", &[])
        .await
        .unwrap();
    assert_eq!(updated, 0, "A's messages are out of B's reach");
    db.batch_execute("SAVEPOINT s").await.unwrap();
    assert!(
        db.execute("DELETE FROM sms_opt_outs", &[]).await.is_err(),
        "nobody deletes consent records as authenticated"
    );
    db.batch_execute("ROLLBACK TO SAVEPOINT s").await.unwrap();
    let forged = db
        .execute(
            "INSERT INTO sms_opt_outs (practice_id, contact, opted_out_at) VALUES ($1, '+15145559999', now())",
            &[&a],
        )
        .await;
    assert!(forged.is_err(), "cannot write rows of another practice");
    db.batch_execute("ROLLBACK").await.unwrap();

    // Supabase's anonymous role gets nothing at all.
    db.batch_execute("BEGIN; SET LOCAL ROLE anon").await.unwrap();
    assert!(db.query("SELECT * FROM sms_messages", &[]).await.is_err());
    db.batch_execute("ROLLBACK").await.unwrap();
    let bodies: i64 = app
        .count("SELECT count(*) FROM sms_messages WHERE body = 'tampered'")
        .await;
    assert_eq!(bodies, 0);
    let opted_out: i64 = app
        .count(&format!(
            "SELECT count(*) FROM sms_opt_outs WHERE contact = '{PATIENT_E164}'"
        ))
        .await;
    assert_eq!(opted_out, 1);
}

/// Foreign-key checks do not see row-level security: the references themselves carry the practice,
/// so no row of B can point at a row of A, whoever writes it.
#[tokio::test]
async fn no_row_of_one_practice_can_point_at_a_row_of_another() {
    let app = spawn_app().start().await;
    let (_, inbound) = app.text_in(PATIENT, "can someone call me about my bill", "a1").await;
    let a_thread: Uuid = inbound["conversationId"].as_str().unwrap().parse().unwrap();
    let a_message: Uuid = inbound["messageId"].as_str().unwrap().parse().unwrap();
    let b = app.add_practice("Other Clinic", "+15145550177").await;
    let db = app.sql().await;
    let insert = |conversation: Uuid, reply_to: Option<Uuid>| {
        let db = &db;
        async move {
            db.execute(
                "INSERT INTO sms_messages (practice_id, conversation_id, direction, body, occurred_at, origin, status, reply_to_id) \
                 VALUES ($1, $2, 'outbound', 'planted', now(), 'api', 'sending', $3)",
                &[&b, &conversation, &reply_to],
            )
            .await
        }
    };

    // As B's staff, through Supabase's role: a text into A's thread is refused.
    let as_b = json!({"role": "authenticated", "aud": "authenticated", "sub": Uuid::new_v4().to_string(),
        "app_metadata": {"practice_id": b.to_string(), "practice_role": "staff"}});
    db.batch_execute("BEGIN; SET LOCAL ROLE authenticated").await.unwrap();
    db.execute(
        "SELECT set_config('request.jwt.claims', $1, true)",
        &[&as_b.to_string()],
    )
    .await
    .unwrap();
    let planted = insert(a_thread, None).await;
    let error = planted.expect_err("a message of B in A's thread");
    assert_eq!(
        error.code(),
        Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION),
        "{error:?}"
    );
    db.batch_execute("ROLLBACK").await.unwrap();

    // Not even the service role (no row-level security) can: the schema refuses.
    assert!(insert(a_thread, None).await.is_err(), "B's message in A's thread");
    let b_thread: Uuid = db
        .query_one(
            "INSERT INTO sms_conversations (practice_id, did, contact, last_message_at) \
             VALUES ($1, '+15145550177', $2, now()) RETURNING id",
            &[&b, &PATIENT_E164],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        insert(b_thread, Some(a_message)).await.is_err(),
        "B's reply to A's text"
    );
    insert(b_thread, None).await.expect("B's own thread takes B's text");
    let planted: i64 = app
        .count(&format!(
            "SELECT count(*) FROM sms_messages WHERE body = 'planted' AND conversation_id = '{a_thread}'"
        ))
        .await;
    assert_eq!(planted, 0);
}
