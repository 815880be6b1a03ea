//! `POST /api/voip/configure-webhook`: turn the DID's SMS URL callback on without losing its other
//! SMS settings (VoIP.ms's setSMS resets whatever it is not given).

use chrono::NaiveDate;
use pedro_tests::app::{DID, PATIENT, PATIENT_E164, VOIPMS_PASSWORD, VOIPMS_USER};
use pedro_tests::fakes::voipms::{Fault, InboundSms, DEFAULT_SMS_EMAIL};
use pedro_tests::{spawn_app, TestApp};
use serde_json::{json, Value};

const PATH: &str = "/api/voip/configure-webhook";
const HOOK: &str = "https://pedro.example.com/api/voip/sms/webhook";
const PLACEHOLDERS: &str = "to={TO}&from={FROM}&message={MESSAGE}&id={ID}&date={TIMESTAMP}&media={MEDIA}";
/// The getDIDsInfo fields a callback-only change may touch.
const CALLBACK_FIELDS: [&str; 3] = ["sms_url_callback", "sms_url_callback_enabled", "sms_url_callback_retry"];

async fn configure(app: &TestApp, body: &Value) -> (u16, Value) {
    let response = app.post_json(PATH, body).await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON body: {text:?}"));
    (status, json)
}

fn info(app: &TestApp) -> serde_json::Map<String, Value> {
    app.voipms
        .did_info(DID)
        .expect("the DID is on the fake account")
        .as_object()
        .unwrap()
        .clone()
}

/// Calls the fake VoIP.ms directly, as a client would, with these parameters.
async fn raw_voipms(app: &TestApp, params: &[(&str, &str)]) -> Value {
    let mut all = vec![("api_username", VOIPMS_USER), ("api_password", VOIPMS_PASSWORD)];
    all.extend_from_slice(params);
    let url = reqwest::Url::parse_with_params(&app.voipms.api_url(), &all).unwrap();
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// The practice's webhook secret, as the last setSMS sent it (form-encoded in the callback URL).
fn secret_sent(app: &TestApp) -> String {
    let call = app.voipms.calls("setSMS").pop().expect("setSMS was called");
    let (_, secret) = call["url_callback"]
        .rsplit_once("&secret=")
        .unwrap_or_else(|| panic!("no secret: {call:?}"));
    assert_eq!(secret.len(), 43, "base64url of 32 random bytes, nothing to encode");
    secret.to_string()
}

fn assert_only_callback_changed(before: &serde_json::Map<String, Value>, after: &serde_json::Map<String, Value>) {
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>());
    for (key, value) in before {
        if !CALLBACK_FIELDS.contains(&key.as_str()) {
            assert_eq!(&after[key], value, "setting {key} changed");
        }
    }
}

fn assert_error(status: u16, body: &Value, expected_status: u16, code: &str, what: &str) {
    assert_eq!(status, expected_status, "{what}: {body}");
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn turns_the_callback_on_with_retry_and_placeholders_and_keeps_email_forwarding() {
    let app = spawn_app().start().await;
    let before = info(&app);
    assert_eq!(before["sms_email_enabled"], "1", "the fake starts with email on");
    assert_eq!(before["sms_email"], DEFAULT_SMS_EMAIL);

    let (status, body) = configure(&app, &json!({"webhookUrl": HOOK})).await;
    assert_eq!(status, 200, "{body}");
    let template = format!("{HOOK}?{PLACEHOLDERS}&secret={}", secret_sent(&app));
    assert_eq!(
        body,
        json!({
            "did": "+15145550100",
            "callbackUrl": format!("{HOOK}?{PLACEHOLDERS}&secret=REDACTED"),
            "retry": true,
            "preserved": {
                "emailForwarding": true,
                "smsForwarding": false,
                "webhook": false,
                "smpp": false,
                "sipAccount": false,
            },
        })
    );

    // It read the settings first, then wrote them once.
    let reads = app.voipms.calls("getDIDsInfo");
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0]["did"], DID);
    let writes = app.voipms.calls("setSMS");
    assert_eq!(writes.len(), 1);
    let sent = &writes[0];
    assert_eq!(sent["did"], DID);
    assert_eq!(sent["enable"], "1");
    assert_eq!(sent["url_callback_enable"], "1");
    assert_eq!(sent["url_callback_retry"], "1");
    assert_eq!(sent["url_callback"], template);
    assert_eq!(sent["email_enabled"], "1");
    assert_eq!(sent["email_address"], DEFAULT_SMS_EMAIL);

    let after = info(&app);
    assert_eq!(after["sms_url_callback_enabled"], "1");
    assert_eq!(after["sms_url_callback_retry"], "1");
    assert_eq!(after["sms_url_callback"], template);
    assert_eq!(after["sms_email_enabled"], "1", "email forwarding still on");
    assert_eq!(after["sms_email"], DEFAULT_SMS_EMAIL);
    assert_only_callback_changed(&before, &after);

    // The assertions above can fail: the same DID, reset, and given only the callback (what a naive
    // client sends) loses its email forwarding.
    app.voipms.add_did(DID);
    let answer = raw_voipms(
        &app,
        &[
            ("method", "setSMS"),
            ("did", DID),
            ("enable", "1"),
            ("url_callback_enable", "1"),
            ("url_callback", &template),
            ("url_callback_retry", "1"),
        ],
    )
    .await;
    assert_eq!(answer["status"], "success");
    let naive = info(&app);
    assert_eq!(naive["sms_url_callback"], template);
    assert_eq!(naive["sms_email_enabled"], "0");
    assert_eq!(naive["sms_email"], "");
}

#[tokio::test]
async fn every_other_sms_setting_survives() {
    let app = spawn_app().start().await;
    let answer = raw_voipms(
        &app,
        &[
            ("method", "setSMS"),
            ("did", DID),
            ("enable", "1"),
            ("email_enabled", "1"),
            ("email_address", "desk@maple.example"),
            ("sms_forward_enable", "1"),
            ("sms_forward", "5145550177"),
            ("url_callback_enable", "1"),
            ("url_callback", "https://old.example/hook?from={FROM}"),
            ("url_callback_retry", "0"),
            ("webhook_enable", "1"),
            ("webhook", "https://hooks.example/voipms"),
            ("sms_sipaccount_enabled", "1"),
            ("sms_sipaccount", "100000_frontdesk"),
            ("dialmode", "2"),
        ],
    )
    .await;
    assert_eq!(answer["status"], "success", "{answer}");
    let before = info(&app);

    let url = "https://pedro.example.com/hook?clinic=maple";
    let (status, body) = configure(&app, &json!({"webhookUrl": url})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["callbackUrl"], format!("{url}&{PLACEHOLDERS}&secret=REDACTED"));
    let template = format!("{url}&{PLACEHOLDERS}&secret={}", secret_sent(&app));
    assert_eq!(
        body["preserved"],
        json!({"emailForwarding": true, "smsForwarding": true, "webhook": true, "smpp": false, "sipAccount": true})
    );

    let after = info(&app);
    assert_eq!(after["sms_url_callback"], template);
    assert_eq!(after["sms_url_callback_enabled"], "1");
    assert_eq!(after["sms_url_callback_retry"], "1", "retry turned on");
    assert_eq!(after["sms_email"], "desk@maple.example");
    assert_eq!(after["sms_forward_enabled"], "1");
    assert_eq!(after["sms_forward"], "5145550177");
    assert_eq!(after["webhook_enabled"], "1");
    assert_eq!(after["webhook"], "https://hooks.example/voipms");
    assert_eq!(after["sms_sipaccount_enabled"], "1");
    assert_eq!(after["sms_sipaccount"], "100000_frontdesk");
    assert_eq!(after["dialmode"], "2");
    assert_only_callback_changed(&before, &after);
}

#[tokio::test]
async fn the_practices_own_secret_is_added_to_the_callback_and_redacted_in_the_answer() {
    // The deployment-wide secret is never handed out: each practice gets one of its own.
    let app = spawn_app().env("WEBHOOK_SECRET", "s3cr3t value&more").start().await;
    let response = app.post_json(PATH, &json!({"webhookUrl": HOOK})).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let secret = secret_sent(&app);
    assert!(!text.contains(&secret), "the secret leaked: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["callbackUrl"], format!("{HOOK}?{PLACEHOLDERS}&secret=REDACTED"));

    let expected = format!("{HOOK}?{PLACEHOLDERS}&secret={secret}");
    let writes = app.voipms.calls("setSMS");
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0]["url_callback"], expected);
    assert!(!expected.contains("s3cr3t"));
    assert_eq!(info(&app)["sms_url_callback"], expected);
    assert_eq!(info(&app)["sms_email_enabled"], "1");

    // Configuring again rotates it.
    assert_eq!(app.post_json(PATH, &json!({})).await.status(), 200);
    assert_ne!(secret_sent(&app), secret);
}

#[tokio::test]
async fn bad_requests_get_400_and_never_reach_voipms() {
    // No PUBLIC_WEBHOOK_URL: the URL must be given, on a host an operator allowed.
    let app = spawn_app()
        .env("PUBLIC_WEBHOOK_URL", "")
        .env("WEBHOOK_ALLOWED_HOSTS", "pedro.example.com")
        .start()
        .await;
    let cases = [
        (
            json!({"webhookUrl": "https://attacker.example/hook"}),
            "host_not_allowed",
        ),
        (json!({"webhookUrl": "http://pedro.example.com/hook"}), "invalid_url"),
        (json!({"webhookUrl": "HTTP://pedro.example.com/hook"}), "invalid_url"),
        (json!({"webhookUrl": "ftp://pedro.example.com/hook"}), "invalid_url"),
        (json!({"webhookUrl": "not a url"}), "invalid_url"),
        (json!({"webhookUrl": "pedro.example.com/hook"}), "invalid_url"),
        (json!({"webhookUrl": "https://"}), "invalid_url"),
        (json!({"webhookUrl": ""}), "invalid_url"),
        (json!({"webhookUrl": "https://pedro.example.com/hook#x"}), "invalid_url"),
        (json!({}), "missing_field"),
        (json!({"webhookUrl": null}), "missing_field"),
        (json!({"webhookUrl": HOOK, "retry": false}), "invalid_body"),
        (json!({"webhook_url": HOOK}), "invalid_body"),
        (json!({"webhookUrl": 5}), "invalid_body"),
    ];
    for (body, code) in cases {
        let (status, answer) = configure(&app, &body).await;
        assert_error(status, &answer, 400, code, &body.to_string());
    }
    let response = app
        .http
        .post(app.url(PATH))
        .header("content-type", "application/json")
        .body("{\"webhookUrl\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "malformed_json");

    let response = app.get(PATH).await;
    assert_eq!(response.status(), 405);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "method_not_allowed");

    assert!(app.voipms.calls("getDIDsInfo").is_empty());
    assert!(app.voipms.calls("setSMS").is_empty());
    assert_eq!(info(&app)["sms_url_callback_enabled"], "0");
}

#[tokio::test]
async fn without_voipms_credentials_it_is_a_conflict() {
    let app = spawn_app().sandbox().start().await;
    let (status, body) = configure(&app, &json!({"webhookUrl": HOOK})).await;
    assert_error(status, &body, 409, "voipms_not_configured", "sandbox");
    assert!(app.voipms.calls("getDIDsInfo").is_empty());
    assert!(app.voipms.calls("setSMS").is_empty());
    // The URL is still checked first.
    let (status, body) = configure(&app, &json!({"webhookUrl": "http://x.example"})).await;
    assert_error(status, &body, 400, "invalid_url", "sandbox, http");
}

#[tokio::test]
async fn when_voipms_fails_it_is_a_bad_gateway_and_nothing_is_written() {
    let app = spawn_app().start().await;
    let before = info(&app);
    for fault in [
        Fault::Status("api_not_enabled"),
        Fault::Status("ip_not_enabled"),
        Fault::Http(500),
        Fault::EmptyBody,
    ] {
        app.voipms.set_fault("getDIDsInfo", Some(fault.clone()));
        let response = app.post_json(PATH, &json!({"webhookUrl": HOOK})).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!(!text.contains(VOIPMS_PASSWORD), "{fault:?}: password leaked: {text}");
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{fault:?}: JSON: {text}"));
        assert_eq!(status, 502, "{fault:?}: {body}");
        assert!(body["error"]["code"].is_string(), "{fault:?}: {body}");
        assert!(
            app.voipms.calls("setSMS").is_empty(),
            "{fault:?}: setSMS called without the current settings"
        );
    }
    assert_eq!(app.voipms.calls("getDIDsInfo").len(), 4);

    // VoIP.ms does not list the DID on this account.
    app.voipms.set_fault("getDIDsInfo", Some(Fault::Status("no_did")));
    let (status, body) = configure(&app, &json!({"webhookUrl": HOOK})).await;
    assert_error(status, &body, 502, "unknown_did", "no_did");
    assert!(app.voipms.calls("setSMS").is_empty());
    app.voipms.set_fault("getDIDsInfo", None);

    // setSMS itself refuses.
    app.voipms.set_fault("setSMS", Some(Fault::Status("sms_wait_message")));
    let (status, body) = configure(&app, &json!({"webhookUrl": HOOK})).await;
    assert_error(status, &body, 502, "voipms_error", "setSMS refused");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("sms_wait_message"),
        "{body}"
    );
    assert_eq!(info(&app), before, "nothing changed on the DID");

    // Once VoIP.ms answers again it works.
    app.voipms.set_fault("setSMS", None);
    let (status, body) = configure(&app, &json!({"webhookUrl": HOOK})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(info(&app)["sms_url_callback_enabled"], "1");
}

#[tokio::test]
async fn voipms_status_fault_gives_the_voipms_error_code() {
    let app = spawn_app().start().await;
    app.voipms
        .set_fault("getDIDsInfo", Some(Fault::Status("api_not_enabled")));
    let (status, body) = configure(&app, &json!({"webhookUrl": HOOK})).await;
    assert_error(status, &body, 502, "voipms_error", "api_not_enabled");
    assert!(body["error"]["message"].as_str().unwrap().contains("api_not_enabled"));
    app.voipms.set_fault("getDIDsInfo", Some(Fault::Http(500)));
    let (status, body) = configure(&app, &json!({"webhookUrl": HOOK})).await;
    assert_error(status, &body, 502, "voipms_error", "HTTP 500");
    assert!(app.voipms.calls("setSMS").is_empty());
}

/// The stored callback template, pointed at the app instead of the public https host.
fn local_template(app: &TestApp) -> String {
    let stored = info(app)["sms_url_callback"].as_str().unwrap().to_string();
    let path_and_query = stored
        .strip_prefix("https://pedro.example.com")
        .unwrap_or_else(|| panic!("stored template: {stored}"));
    format!("{}{path_and_query}", app.address)
}

fn text_in(id: &str, message: &str, media: Option<&str>) -> InboundSms {
    InboundSms {
        id: id.into(),
        date: NaiveDate::from_ymd_opt(2026, 11, 25)
            .unwrap()
            .and_hms_opt(15, 0, 0)
            .unwrap(),
        did: DID.into(),
        contact: PATIENT.into(),
        message: message.into(),
        media: media.map(str::to_string),
    }
}

#[tokio::test]
async fn a_text_delivered_through_the_configured_callback_is_stored() {
    let app = spawn_app().start().await;
    let (status, body) = configure(&app, &json!({"webhookUrl": HOOK})).await;
    assert_eq!(status, 200, "{body}");
    let template = local_template(&app);

    let report = app
        .voipms
        .deliver_callback(&template, &text_in("880001", "Hi, 50% & more; ok?", None), 3)
        .await;
    assert!(report.acknowledged, "{report:?}");
    assert_eq!(report.attempts, 1);
    let report = app
        .voipms
        .deliver_callback(
            &template,
            &text_in("880002", "photo", Some("https://voip.ms/media.php?map=abc")),
            3,
        )
        .await;
    assert!(report.acknowledged, "{report:?}");

    let rows = app
        .sql()
        .await
        .query(
            "SELECT m.body, m.provider_message_id, m.provider_date, m.media_urls, c.contact \
             FROM sms_messages m JOIN sms_conversations c ON c.id = m.conversation_id \
             WHERE m.direction = 'inbound' ORDER BY m.provider_message_id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].get::<_, String>(0), "Hi, 50% & more; ok?");
    assert_eq!(rows[0].get::<_, String>(1), "880001");
    assert_eq!(
        rows[0].get::<_, Option<String>>(2).as_deref(),
        Some("2026-11-25 15:00:00")
    );
    assert!(rows[0].get::<_, Vec<String>>(3).is_empty());
    assert_eq!(rows[0].get::<_, String>(4), PATIENT_E164);
    assert_eq!(rows[1].get::<_, String>(0), "photo");
    assert_eq!(
        rows[1].get::<_, Vec<String>>(3),
        vec!["https://voip.ms/media.php?map=abc".to_string()]
    );
}

#[tokio::test]
async fn with_a_secret_the_configured_callback_is_accepted_and_others_are_not() {
    let app = spawn_app().env("WEBHOOK_SECRET", "s3cr3t value&more;x").start().await;
    let (status, body) = configure(&app, &json!({"webhookUrl": HOOK})).await;
    assert_eq!(status, 200, "{body}");
    let template = local_template(&app);

    let report = app
        .voipms
        .deliver_callback(&template, &text_in("990001", "Are you open today?", None), 2)
        .await;
    assert!(report.acknowledged, "{report:?}");
    assert_eq!(report.attempts, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE direction = 'inbound'")
            .await,
        1
    );

    // The same callback without the secret is refused (and VoIP.ms would retry it).
    let without = template.split("&secret=").next().unwrap().to_string();
    assert_ne!(without, template);
    let report = app
        .voipms
        .deliver_callback(&without, &text_in("990002", "hello", None), 2)
        .await;
    assert!(!report.acknowledged, "{report:?}");
    assert_eq!(report.last_status, 401);
    assert_eq!(report.attempts, 2);
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE direction = 'inbound'")
            .await,
        1
    );
}
