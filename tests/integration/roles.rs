//! Roles inside one practice (app_metadata.practice_role): staff read, send and mark reviewed; only
//! admins change rules and settings; nobody deletes consent records or texts as `authenticated`;
//! consent, rule and settings changes land in an append-only audit trail.

use pedro_tests::app::{client_with_token, member_token, PATIENT};
use pedro_tests::spawn_app;
use serde_json::{json, Value};
use uuid::Uuid;

/// A transaction acting as a member of `practice` with `role`, as Supabase's client API (and our
/// API) run requests. Returns the claims' `sub`.
async fn act_as(db: &tokio_postgres::Client, practice: Uuid, role: &str) -> String {
    let sub = Uuid::new_v4().to_string();
    let claims = json!({"role": "authenticated", "aud": "authenticated", "sub": sub,
        "app_metadata": {"practice_id": practice.to_string(), "practice_role": role}});
    db.batch_execute("BEGIN; SET LOCAL ROLE authenticated").await.unwrap();
    db.execute(
        "SELECT set_config('request.jwt.claims', $1, true)",
        &[&claims.to_string()],
    )
    .await
    .unwrap();
    sub
}

/// Runs `sql` in a savepoint; true when Postgres refused it.
async fn refused(db: &tokio_postgres::Client, sql: &str) -> bool {
    db.batch_execute("SAVEPOINT attempt").await.unwrap();
    let refused = db.execute(sql, &[]).await.is_err();
    db.batch_execute(if refused {
        "ROLLBACK TO SAVEPOINT attempt"
    } else {
        "RELEASE SAVEPOINT attempt"
    })
    .await
    .unwrap();
    refused
}

async fn rows(db: &tokio_postgres::Client, sql: &str) -> u64 {
    db.execute(sql, &[]).await.expect(sql)
}

#[tokio::test]
async fn staff_read_send_and_review_but_change_no_rules_settings_or_history() {
    let app = spawn_app().start().await;
    app.text_in(PATIENT, "my tooth is bleeding", "e1").await;
    app.text_in(PATIENT, "STOP", "s1").await;
    let staff = client_with_token(&member_token(app.practice_id, "staff"));

    // Through the API: read, send, mark reviewed.
    let list: Value = staff
        .get(app.url("/api/voip/sms/conversations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let thread = list["conversations"][0]["id"].as_str().unwrap().to_string();
    let sent = staff
        .post(app.url("/api/voip/sms/send"))
        .json(&json!({"to": "4385550123", "message": "See you at 9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);
    let reviewed = staff
        .post(app.url(&format!("/api/voip/sms/conversations/{thread}/review")))
        .send()
        .await
        .unwrap();
    assert_eq!(reviewed.status(), 200);
    assert_eq!(reviewed.json::<Value>().await.unwrap()["needsReview"], false);

    // Directly as staff: no rule, setting, consent record or text history changes.
    let db = app.sql().await;
    act_as(&db, app.practice_id, "staff").await;
    assert_eq!(rows(&db, "SELECT 1 FROM sms_messages").await, 5, "staff read");
    assert_eq!(
        rows(
            &db,
            "UPDATE auto_response_rules SET reply_template = 'Reply YES to win'"
        )
        .await,
        0
    );
    assert_eq!(
        rows(&db, "UPDATE practices SET after_hours_note = 'gone fishing'").await,
        0
    );
    assert!(
        refused(&db, "DELETE FROM sms_opt_outs").await,
        "re-subscribing without consent"
    );
    assert!(refused(&db, "DELETE FROM sms_messages WHERE direction = 'inbound'").await);
    assert!(
        refused(&db, "DELETE FROM sms_conversations").await,
        "would take the texts along"
    );
    assert!(refused(&db, "UPDATE sms_messages SET body = 'edited'").await);
    assert!(refused(&db, "UPDATE sms_conversations SET contact = '+15145559999'").await);
    assert!(
        refused(
            &db,
            "UPDATE sms_messages SET status = 'failed' WHERE direction = 'inbound'"
        )
        .await,
        "an inbound emergency cannot be made to look failed"
    );
    assert!(
        refused(
            &db,
            "INSERT INTO sms_messages (practice_id, conversation_id, direction, body, occurred_at, origin, \
            provider, provider_message_id, status) SELECT practice_id, id, 'inbound', 'forged', now(), 'webhook', \
            'voipms', 'forged-1', 'received' FROM sms_conversations"
        )
        .await,
        "inbound texts come from the carrier only"
    );
    // Allowed: clearing review flags.
    assert_eq!(
        rows(
            &db,
            "UPDATE sms_messages SET needs_review = false WHERE direction = 'inbound'"
        )
        .await,
        2
    );
    assert_eq!(rows(&db, "SELECT 1 FROM audit_log").await, 0, "the trail is for admins");
    db.batch_execute("ROLLBACK").await.unwrap();

    let rules: i64 = app
        .count("SELECT count(*) FROM auto_response_rules WHERE reply_template LIKE '%YES to win%'")
        .await;
    assert_eq!(rules, 0);
    assert_eq!(app.count("SELECT count(*) FROM sms_opt_outs").await, 1);
}

/// actor, role, table, action, old and new reply text.
type TrailEntry = (String, String, String, String, Option<String>, Option<String>);

#[tokio::test]
async fn admins_change_rules_and_settings_and_the_trail_says_who_when_and_what() {
    let app = spawn_app().start().await;
    let db = app.sql().await;
    let admin = act_as(&db, app.practice_id, "admin").await;
    assert_eq!(
        rows(
            &db,
            "UPDATE auto_response_rules SET reply_template = 'Call us: {practice_phone}' WHERE category = 'help'"
        )
        .await,
        1
    );
    assert_eq!(
        rows(
            &db,
            "UPDATE practices SET after_hours_note = 'Closed; back {next_opening}.'"
        )
        .await,
        1
    );
    assert!(
        refused(&db, "DELETE FROM auto_response_rules").await,
        "disable, never delete"
    );
    assert!(
        refused(&db, "DELETE FROM sms_opt_outs").await,
        "admins cannot remove consent either"
    );
    let trail = db
        .query(
            "SELECT actor, role, table_name, action, old_row ->> 'reply_template', new_row ->> 'reply_template' \
             FROM audit_log WHERE actor = $1 ORDER BY id",
            &[&admin],
        )
        .await
        .unwrap();
    let trail: Vec<TrailEntry> = trail
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect();
    assert_eq!(trail.len(), 2, "{trail:?}");
    assert_eq!(
        (&trail[0].1[..], &trail[0].2[..], &trail[0].3[..]),
        ("admin", "auto_response_rules", "update")
    );
    assert!(trail[0].4.as_deref().unwrap().contains("for help call"));
    assert_eq!(trail[0].5.as_deref(), Some("Call us: {practice_phone}"));
    assert_eq!((&trail[1].2[..], &trail[1].3[..]), ("practices", "update"));
    // The trail cannot be edited or erased.
    assert!(refused(&db, "UPDATE audit_log SET actor = 'someone else'").await);
    assert!(refused(&db, "DELETE FROM audit_log").await);
    db.batch_execute("COMMIT").await.unwrap();
    // Not even by the database owner.
    assert!(db.execute("DELETE FROM audit_log", &[]).await.is_err());

    // Another practice's admin sees none of it.
    let b = app.add_practice("Other Clinic", "+15145550177").await;
    act_as(&db, b, "admin").await;
    let foreign = db
        .query("SELECT 1 FROM audit_log WHERE practice_id = $1", &[&app.practice_id])
        .await
        .unwrap();
    assert!(foreign.is_empty());
    db.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test]
async fn consent_changes_from_texts_are_in_the_trail() {
    let app = spawn_app().start().await;
    app.text_in(PATIENT, "STOP", "s1").await;
    app.text_in(PATIENT, "START", "s2").await;
    let db = app.sql().await;
    let trail = db
        .query(
            "SELECT actor, role, action FROM audit_log WHERE table_name = 'sms_opt_outs' AND practice_id = $1 ORDER BY id",
            &[&app.practice_id],
        )
        .await
        .unwrap();
    assert!(trail.len() >= 2, "the opt-out and the opt-in: {} rows", trail.len());
    assert_eq!(trail[0].get::<_, String>(2), "insert");
    for row in &trail {
        assert_eq!(
            (row.get::<_, String>(0), row.get::<_, String>(1)),
            ("service".to_string(), "service".to_string())
        );
    }
}
