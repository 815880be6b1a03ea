//! Per-practice webhook secrets: a delivery is accepted only with the secret of the practice that
//! owns its `to` DID; configure-webhook rotates the secret and sends it only to this deployment's
//! own webhook; the database keeps hashes only; `WEBHOOK_SECRET` serves a practice without its own.

use std::sync::Arc;

use chrono::Duration;
use pedro_tests::app::{DID, PATIENT};
use pedro_tests::{spawn_app, TestApp};
use pedro_voip::app::AppContext;
use pedro_voip::http::webhook::parse_callback_query;
use pedro_voip::http::webhook_auth::{authenticate_delivery, ensure_configured, SourceAddress, WebhookCaller};
use serde_json::{json, Value};
use uuid::Uuid;

const CONFIGURE: &str = "/api/voip/configure-webhook";
/// Practice B's DID, E.164 and VoIP.ms's 10 digits.
const B_DID_E164: &str = "+16045550100";
const B_DID: &str = "6045550100";

/// The `secret` VoIP.ms was last given in a callback URL.
fn secret_sent_to_voipms(app: &TestApp) -> String {
    let call = app.voipms.calls("setSMS").pop().expect("setSMS was called");
    let url = &call["url_callback"];
    let query = url.split_once('?').expect("a query").1;
    parse_callback_query(query)
        .into_iter()
        .find(|(k, _)| k == "secret")
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no secret in {url}"))
}

/// Configures the default practice's webhook (as its admin) and returns its new secret.
async fn configure(app: &TestApp) -> String {
    let response = app.post_json(CONFIGURE, &json!({})).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    secret_sent_to_voipms(app)
}

/// Rotates a practice's secret directly (what `pedro practice webhook-secret rotate` does).
async fn rotate(app: &TestApp, practice: Uuid) -> String {
    let db = app.sql().await;
    let secret =
        pedro_voip::webhook_secret::rotate(&db, practice, app.clock_now(), app.ctx.settings.webhook_secret_grace)
            .await
            .unwrap();
    secret.expose().to_string()
}

/// A GET callback as VoIP.ms sends it; returns the status and body.
async fn deliver(app: &TestApp, to: &str, secret: Option<&str>, id: &str, message: &str) -> (u16, String) {
    let mut path = format!("/api/voip/sms/webhook?to={to}&from={PATIENT}&message={message}&id={id}");
    if let Some(secret) = secret {
        path.push_str("&secret=");
        path.extend(form_urlencoded::byte_serialize(secret.as_bytes()));
    }
    let response = app.get(&path).await;
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn inbound(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM sms_messages WHERE direction = 'inbound'")
        .await
}

#[tokio::test]
async fn another_practices_secret_cannot_deliver_to_this_practices_did() {
    let app = spawn_app().start().await;
    let secret_a = configure(&app).await;
    let practice_b = app.add_practice("Harbour Dental", B_DID_E164).await;
    let secret_b = rotate(&app, practice_b).await;
    assert_ne!(secret_a, secret_b);

    // B's admin holds B's secret: it opens nothing of A's.
    let (status, body) = deliver(&app, DID, Some(&secret_b), "x1", "STOP").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        "bad_secret"
    );
    let response = app
        .post_json(
            &format!("/api/voip/sms/webhook?secret={secret_b}"),
            &json!({"to": DID, "from": PATIENT, "message": "STOP", "id": "x2"}),
        )
        .await;
    assert_eq!(response.status(), 401);
    assert_eq!(deliver(&app, DID, None, "x3", "STOP").await.0, 401, "no secret at all");
    assert_eq!(inbound(&app).await, 0, "nothing stored");
    assert_eq!(
        app.count("SELECT count(*) FROM sms_opt_outs").await,
        0,
        "nobody opted out"
    );
    assert!(app.voipms.sent_sms().is_empty(), "nobody was texted");

    // Each practice's own secret delivers to its own DIDs only.
    assert_eq!(
        deliver(&app, DID, Some(&secret_a), "a1", "hello").await,
        (200, "ok".into())
    );
    assert_eq!(deliver(&app, B_DID, Some(&secret_a), "b0", "hello").await.0, 401);
    assert_eq!(
        deliver(&app, B_DID, Some(&secret_b), "b1", "hello").await,
        (200, "ok".into())
    );
    let owners: Vec<Uuid> = app
        .sql()
        .await
        .query(
            "SELECT practice_id FROM sms_messages WHERE direction = 'inbound' ORDER BY provider_message_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(owners, [app.practice_id, practice_b]);
}

#[tokio::test]
async fn configure_refuses_other_hosts_and_never_returns_the_secret() {
    let app = spawn_app().start().await;
    for url in [
        "https://attacker.example/api/voip/sms/webhook",
        "https://pedro.example.com.attacker.example/api/voip/sms/webhook",
        "https://pedro.example.com:8443/api/voip/sms/webhook",
    ] {
        let response = app.post_json(CONFIGURE, &json!({"webhookUrl": url})).await;
        assert_eq!(response.status(), 400, "{url}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "host_not_allowed", "{url}: {body}");
    }
    assert!(app.voipms.calls("getDIDsInfo").is_empty(), "VoIP.ms not even asked");
    assert!(app.voipms.calls("setSMS").is_empty());
    assert_eq!(app.count("SELECT count(*) FROM webhook_secrets").await, 0);

    // Its own URL (given, or by default) works, and the answer never holds the secret.
    for body in [
        json!({}),
        json!({"webhookUrl": "https://pedro.example.com/api/voip/sms/webhook"}),
    ] {
        let response = app.post_json(CONFIGURE, &body).await;
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        let secret = secret_sent_to_voipms(&app);
        assert_eq!(secret.len(), 43, "32 random bytes, base64url");
        assert!(!text.contains(&secret), "the secret leaked: {text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert!(
            answer["callbackUrl"]
                .as_str()
                .unwrap()
                .starts_with("https://pedro.example.com/api/voip/sms/webhook?to={TO}"),
            "{answer}"
        );
        assert!(answer["callbackUrl"].as_str().unwrap().ends_with("&secret=REDACTED"));
    }

    // An operator can allow another host.
    let other = spawn_app()
        .env("WEBHOOK_ALLOWED_HOSTS", "hooks.clinic.example, other.example")
        .start()
        .await;
    let response = other
        .post_json(CONFIGURE, &json!({"webhookUrl": "https://hooks.clinic.example/in"}))
        .await;
    assert_eq!(response.status(), 200);
    assert!(other.voipms.calls("setSMS")[0]["url_callback"].starts_with("https://hooks.clinic.example/in?"));
    let response = other
        .post_json(CONFIGURE, &json!({"webhookUrl": "https://attacker.example/in"}))
        .await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn a_failed_configuration_keeps_the_current_secret() {
    let app = spawn_app().start().await;
    let secret = configure(&app).await;
    app.voipms.set_fault(
        "setSMS",
        Some(pedro_tests::fakes::voipms::Fault::Status("sms_wait_message")),
    );
    assert_eq!(app.post_json(CONFIGURE, &json!({})).await.status(), 502);
    assert_eq!(
        app.count("SELECT count(*) FROM webhook_secrets WHERE expires_at IS NOT NULL")
            .await,
        0,
        "nothing rotated"
    );
    app.clock.advance(Duration::days(30));
    assert_eq!(
        deliver(&app, DID, Some(&secret), "f1", "hello").await,
        (200, "ok".into())
    );
}

#[tokio::test]
async fn rotation_keeps_the_old_secret_for_the_grace_period_only() {
    let app = spawn_app().start().await;
    let first = configure(&app).await;
    app.clock.advance(Duration::hours(1));
    let second = configure(&app).await;
    assert_ne!(first, second);
    assert_eq!(deliver(&app, DID, Some(&first), "g1", "hello").await.0, 200);
    assert_eq!(deliver(&app, DID, Some(&second), "g2", "hello").await.0, 200);

    // 48 hours by default.
    app.clock.advance(Duration::hours(47));
    assert_eq!(
        deliver(&app, DID, Some(&first), "g3", "hello").await.0,
        200,
        "within grace"
    );
    app.clock.advance(Duration::hours(1) + Duration::seconds(1));
    assert_eq!(
        deliver(&app, DID, Some(&first), "g4", "hello").await.0,
        401,
        "after grace"
    );
    assert_eq!(deliver(&app, DID, Some(&second), "g5", "hello").await.0, 200);
    assert_eq!(inbound(&app).await, 4);

    // Configurable.
    let short = spawn_app().env("WEBHOOK_SECRET_GRACE_HOURS", "2").start().await;
    let first = configure(&short).await;
    configure(&short).await;
    short.clock.advance(Duration::minutes(119));
    assert_eq!(deliver(&short, DID, Some(&first), "h1", "hello").await.0, 200);
    short.clock.advance(Duration::minutes(2));
    assert_eq!(deliver(&short, DID, Some(&first), "h2", "hello").await.0, 401);
}

#[tokio::test]
async fn a_dump_of_the_table_does_not_reveal_the_secret_and_staff_cannot_read_it() {
    let app = spawn_app().start().await;
    let first = configure(&app).await;
    let second = configure(&app).await;
    let db = app.sql().await;
    let dump: String = db
        .query_one(
            "SELECT string_agg(t::text || ' ' || encode(t.secret_hash, 'hex') || ' ' || encode(t.secret_hash, 'base64'), E'\\n') \
             FROM webhook_secrets t",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    for secret in [&first, &second] {
        assert!(!dump.contains(secret.as_str()), "{dump}");
        // What is there is the SHA-256 of each secret.
        let found: i64 = db
            .query_one(
                "SELECT count(*) FROM webhook_secrets WHERE secret_hash = sha256(convert_to($1, 'UTF8'))",
                &[secret],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(found, 1);
    }

    // Row-level security with no grant: staff (and anonymous callers) cannot even read the hashes.
    for role in ["authenticated", "anon"] {
        let tx = db.simple_query(&format!("BEGIN; SET LOCAL ROLE {role}")).await;
        assert!(tx.is_ok());
        let error = db
            .simple_query("SELECT secret_hash FROM webhook_secrets")
            .await
            .expect_err(role);
        let message = error.as_db_error().map(|e| e.message().to_string()).unwrap_or_default();
        assert!(message.contains("permission denied"), "{role}: {error:?}");
        db.simple_query("ROLLBACK").await.unwrap();
    }
}

#[tokio::test]
async fn the_deployment_secret_serves_a_practice_until_it_has_its_own() {
    let app = spawn_app()
        .env("WEBHOOK_SECRET", "deployment-wide-secret")
        .start()
        .await;
    let practice_b = app.add_practice("Harbour Dental", B_DID_E164).await;
    let shared = Some("deployment-wide-secret");
    assert_eq!(deliver(&app, DID, shared, "d1", "hello").await, (200, "ok".into()));
    assert_eq!(deliver(&app, DID, Some("guess"), "d2", "hello").await.0, 401);

    let own = configure(&app).await;
    assert_eq!(
        deliver(&app, DID, shared, "d3", "hello").await.0,
        401,
        "only its own now"
    );
    assert_eq!(deliver(&app, DID, Some(&own), "d4", "hello").await.0, 200);
    assert_eq!(
        deliver(&app, B_DID, shared, "d5", "hello").await.0,
        200,
        "B has none yet"
    );
    assert_eq!(deliver(&app, B_DID, Some(&own), "d6", "hello").await.0, 401);
    rotate(&app, practice_b).await;
    assert_eq!(deliver(&app, B_DID, shared, "d7", "hello").await.0, 401);

    // A DID nobody owns: with any secret of this deployment the text is kept for an operator;
    // without one, nothing is stored.
    let unknown = "2025550123";
    assert_eq!(deliver(&app, unknown, shared, "u1", "hello").await.0, 200);
    assert_eq!(deliver(&app, unknown, Some(&own), "u2", "hello").await.0, 200);
    assert_eq!(deliver(&app, unknown, Some("guess"), "u3", "hello").await.0, 401);
    assert_eq!(deliver(&app, unknown, None, "u4", "hello").await.0, 401);
    assert_eq!(inbound(&app).await, 3);
    assert_eq!(app.count("SELECT count(*) FROM unrouted_texts").await, 2);
}

#[tokio::test]
async fn unsigned_deliveries_are_accepted_only_when_no_secret_exists_anywhere() {
    let app = spawn_app().start().await;
    assert_eq!(
        deliver(&app, DID, None, "o1", "hello").await.0,
        200,
        "development: open"
    );
    assert!(
        ensure_configured(&app.ctx).await.is_err(),
        "a Lambda would refuse to start"
    );

    // Deployed (Lambda), it never runs open.
    let mut deployed = AppContext::new(app.ctx.settings.clone(), Arc::new(app.clock.clone())).unwrap();
    deployed.webhook_open_when_unconfigured = false;
    let source = SourceAddress("198.51.100.7".into());
    let refused = authenticate_delivery(&deployed, &source, Some(DID), None).await;
    assert_eq!(refused.unwrap_err().code, "bad_secret");

    // Once any practice has a secret, unsigned deliveries are refused everywhere.
    let practice_b = app.add_practice("Harbour Dental", B_DID_E164).await;
    let secret_b = rotate(&app, practice_b).await;
    assert!(ensure_configured(&app.ctx).await.is_ok());
    assert_eq!(deliver(&app, DID, None, "o2", "hello").await.0, 401);
    assert_eq!(deliver(&app, B_DID, None, "o3", "hello").await.0, 401);
    let accepted = authenticate_delivery(&deployed, &source, Some(B_DID), Some(&secret_b)).await;
    assert_eq!(accepted.unwrap(), WebhookCaller::Practice(practice_b));

    let with_env = spawn_app()
        .env("WEBHOOK_SECRET", "deployment-wide-secret")
        .start()
        .await;
    assert!(ensure_configured(&with_env.ctx).await.is_ok());
}
