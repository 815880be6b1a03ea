//! Who may do what: bearer tokens as Supabase issues them, roles from app_metadata.

use axum::routing::get;
use base64::Engine as _;
use pedro_tests::app::{client_with_token, member_token, service_token, sign, PATIENT};
use pedro_tests::spawn_app;
use serde_json::{json, Value};
use uuid::Uuid;

/// Publishes `jwks` as Supabase does; returns its URL.
async fn serve_jwks(jwks: Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/auth/v1/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    let router = axum::Router::new().route(
        "/auth/v1/.well-known/jwks.json",
        get(move || async move { axum::Json(jwks) }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

async fn status_and_code(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (
        status,
        response
            .json::<Value>()
            .await
            .map(|b| b["error"]["code"].clone())
            .unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn no_token_or_a_bad_one_is_401_on_every_protected_endpoint() {
    let app = spawn_app().start().await;
    let anonymous = reqwest::Client::new();
    let conversation = Uuid::new_v4();
    let expired = sign(
        json!({"aud": "authenticated", "exp": chrono::Utc::now().timestamp() - 600,
        "app_metadata": {"practice_id": app.practice_id.to_string(), "practice_role": "admin"}}),
    );
    for client in [anonymous, client_with_token("not-a-jwt"), client_with_token(&expired)] {
        let requests = [
            client.get(app.url("/api/voip/sms/conversations")),
            client.get(app.url(&format!("/api/voip/sms/conversations/{conversation}/messages"))),
            client.post(app.url(&format!("/api/voip/sms/conversations/{conversation}/review"))),
            client
                .post(app.url("/api/voip/sms/send"))
                .json(&json!({"to": PATIENT, "message": "hi"})),
            client
                .post(app.url("/api/voip/configure-webhook"))
                .json(&json!({"webhookUrl": "https://pedro.example.com/h"})),
        ];
        for request in requests {
            let response = request.send().await.unwrap();
            assert_eq!(
                response.headers().get("www-authenticate").map(|v| v.to_str().unwrap()),
                Some("Bearer")
            );
            assert_eq!(status_and_code(response).await, (401, json!("unauthorized")));
        }
    }
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages").await,
        0,
        "nothing was sent or stored"
    );
    // The webhook is not behind a token (VoIP.ms cannot send one).
    let (status, _) = app.text_in(PATIENT, "hello", "w1").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn staff_read_and_send_but_only_admins_configure() {
    let app = spawn_app().start().await;
    let staff = client_with_token(&member_token(app.practice_id, "staff"));
    let list = staff.get(app.url("/api/voip/sms/conversations")).send().await.unwrap();
    assert_eq!(list.status(), 200);
    let sent = staff
        .post(app.url("/api/voip/sms/send"))
        .json(&json!({"to": PATIENT, "message": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);
    let configure = staff
        .post(app.url("/api/voip/configure-webhook"))
        .json(&json!({"webhookUrl": "https://pedro.example.com/h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(configure).await, (403, json!("forbidden")));
    assert!(app.voipms.calls("setSMS").is_empty());
    let admin = app
        .post_json(
            "/api/voip/configure-webhook",
            &json!({"webhookUrl": "https://pedro.example.com/h"}),
        )
        .await;
    assert_eq!(admin.status(), 200);
}

#[tokio::test]
async fn tokens_without_a_practice_or_role_in_app_metadata_are_403() {
    let app = spawn_app().start().await;
    let exp = chrono::Utc::now().timestamp() + 600;
    let practice = app.practice_id.to_string();
    for claims in [
        // What users can edit does not count.
        json!({"aud": "authenticated", "exp": exp, "user_metadata": {"practice_id": practice, "practice_role": "admin"}}),
        json!({"aud": "authenticated", "exp": exp, "app_metadata": {"practice_id": practice}}),
        json!({"aud": "authenticated", "exp": exp, "app_metadata": {"practice_id": practice, "practice_role": "owner"}}),
        json!({"aud": "authenticated", "exp": exp, "app_metadata": {"practice_id": Uuid::new_v4().to_string(), "practice_role": "admin"}}),
    ] {
        let response = client_with_token(&sign(claims.clone()))
            .get(app.url("/api/voip/sms/conversations"))
            .send()
            .await
            .unwrap();
        assert_eq!(status_and_code(response).await, (403, json!("forbidden")), "{claims}");
    }
}

#[tokio::test]
async fn the_service_role_acts_for_the_practice_it_names() {
    let app = spawn_app().start().await;
    let other = app.add_practice("Other Clinic", "+15145550177").await;
    app.voipms.add_did("5145550177");
    let service = client_with_token(&service_token());
    let sent = service
        .post(app.url("/api/voip/sms/send"))
        .header("x-practice-id", other.to_string())
        .json(&json!({"to": PATIENT, "message": "from the other clinic"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);
    assert_eq!(
        app.voipms.sent_sms()[0].did,
        "5145550177",
        "texted from the named practice's DID"
    );
    let default = service
        .post(app.url("/api/voip/sms/send"))
        .json(&json!({"to": PATIENT, "message": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(default.status(), 201, "without a header: VOIPMS_DID's practice");
    assert_eq!(app.voipms.sent_sms()[1].did, pedro_tests::app::DID);
    let bad = service
        .get(app.url("/api/voip/sms/conversations"))
        .header("x-practice-id", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(bad).await, (400, json!("invalid_practice")));
}

#[tokio::test]
async fn es256_tokens_are_checked_against_the_published_keys() {
    // A JWKS endpoint publishing one P-256 key, as Supabase does for asymmetric signing keys.
    let key = rcgen::KeyPair::generate().unwrap();
    let point = key.public_key_raw();
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "key-1", "alg": "ES256", "use": "sig",
        "x": b64(&point[1..33]), "y": b64(&point[33..65])}]});
    let jwks_url = serve_jwks(jwks).await;

    let app = spawn_app().env("SUPABASE_JWKS_URL", &jwks_url).start().await;
    let signing = jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap();
    let claims = json!({"aud": "authenticated", "exp": chrono::Utc::now().timestamp() + 600,
        "app_metadata": {"practice_id": app.practice_id.to_string(), "practice_role": "staff"}});
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("key-1".into());
    let token = jsonwebtoken::encode(&header, &claims, &signing).unwrap();
    let ok = client_with_token(&token)
        .get(app.url("/api/voip/sms/conversations"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    header.kid = Some("unknown-key".into());
    let unknown = jsonwebtoken::encode(&header, &claims, &signing).unwrap();
    let response = client_with_token(&unknown)
        .get(app.url("/api/voip/sms/conversations"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let other_key = rcgen::KeyPair::generate().unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("key-1".into());
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_pem(other_key.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let response = client_with_token(&forged)
        .get(app.url("/api/voip/sms/conversations"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "signed by another key");
}

#[tokio::test]
async fn rs256_tokens_are_checked_against_the_published_keys() {
    // A fixed 2048-bit test key (tests/data; generating one in a debug build is slow). Not a secret.
    let private = include_str!("../data/rs256-test-key.pem");
    let modulus = include_str!("../data/rs256-test-key.n").trim();
    let jwks =
        json!({"keys": [{"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig", "n": modulus, "e": "AQAB"}]});
    let jwks_url = serve_jwks(jwks).await;

    let app = spawn_app().env("SUPABASE_JWKS_URL", &jwks_url).start().await;
    let claims = json!({"aud": "authenticated", "exp": chrono::Utc::now().timestamp() + 600,
        "app_metadata": {"practice_id": app.practice_id.to_string(), "practice_role": "admin"}});
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(private.as_bytes()).unwrap();
    let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    let ok = client_with_token(&token)
        .get(app.url("/api/voip/sms/conversations"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // The same key id claimed by an HS256 token (the classic algorithm-confusion attack) fails.
    let mut confused = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    confused.kid = Some("rsa-1".into());
    let forged = jsonwebtoken::encode(
        &confused,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(modulus.as_bytes()),
    )
    .unwrap();
    let response = client_with_token(&forged)
        .get(app.url("/api/voip/sms/conversations"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn tokens_not_yet_valid_or_from_another_issuer_are_401() {
    const OURS: &str = "https://ours.supabase.co/auth/v1";
    let now = chrono::Utc::now().timestamp();
    let member = |app: &pedro_tests::app::TestApp, extra: Value| {
        let mut claims = json!({"aud": "authenticated", "exp": now + 600, "sub": Uuid::new_v4().to_string(),
            "app_metadata": {"practice_id": app.practice_id.to_string(), "practice_role": "staff"}});
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        sign(claims)
    };
    let status = |app: &pedro_tests::app::TestApp, token: String| {
        let url = app.url("/api/voip/sms/conversations");
        async move { status_and_code(client_with_token(&token).get(url).send().await.unwrap()).await }
    };
    let unauthorized = (401, json!("unauthorized"));

    // `nbf` is checked whether or not an issuer is configured.
    let app = spawn_app().start().await;
    assert_eq!(
        status(&app, member(&app, json!({"nbf": now + 600}))).await,
        unauthorized
    );
    assert_eq!(status(&app, member(&app, json!({"nbf": now - 60}))).await.0, 200);
    assert_eq!(
        status(&app, member(&app, json!({"iss": "https://theirs.supabase.co/auth/v1"})))
            .await
            .0,
        200,
        "no SUPABASE_JWT_ISSUER: any issuer"
    );

    let app = spawn_app()
        .env("SUPABASE_JWT_ISSUER", &format!("{OURS}, supabase"))
        .start()
        .await;
    assert_eq!(status(&app, member(&app, json!({"iss": OURS}))).await.0, 200);
    assert_eq!(
        status(&app, member(&app, json!({"iss": "https://theirs.supabase.co/auth/v1"}))).await,
        unauthorized
    );
    assert_eq!(status(&app, member(&app, json!({}))).await, unauthorized, "no iss");
    assert_eq!(
        status(&app, member(&app, json!({"iss": OURS, "nbf": now + 600}))).await,
        unauthorized
    );
    assert_eq!(
        status(&app, service_token()).await.0,
        200,
        "the service-role key's issuer is listed"
    );
}
