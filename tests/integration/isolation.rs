//! Two practices: nothing of one is readable or writable with the other's token, through every
//! endpoint and through direct SQL as Supabase's `authenticated` role.

use pedro_tests::app::{client_with_token, member_token, PATIENT, PATIENT_E164};
use pedro_tests::spawn_app;
use serde_json::{json, Value};

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
        .execute("UPDATE sms_messages SET body = 'tampered'", &[])
        .await
        .unwrap();
    assert_eq!(updated, 0);
    let deleted = db.execute("DELETE FROM sms_opt_outs", &[]).await.unwrap();
    assert_eq!(deleted, 0);
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
