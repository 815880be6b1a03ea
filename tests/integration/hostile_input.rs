//! Hostile and broken input: a clear 4xx, never a 5xx; text stored verbatim, never executed.

use pedro_tests::app::{DID, PATIENT};
use pedro_tests::spawn_app;
use serde_json::{json, Value};

async fn raw_post(app: &pedro_tests::TestApp, path: &str, body: Vec<u8>) -> (u16, Value) {
    let response = app
        .http
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn invalid_utf8_huge_numbers_and_deep_json_are_clear_400s() {
    let app = spawn_app().start().await;
    let deep = format!("{}1{}", "[".repeat(5_000), "]".repeat(5_000));
    let bodies: Vec<Vec<u8>> = vec![
        b"{\"to\": \"4385550199\", \"message\": \"caf\xe9\"}".to_vec(),
        br#"{"to": 1e400, "message": "hi"}"#.to_vec(),
        br#"{"to": 123456789012345678901234567890, "message": "hi"}"#.to_vec(),
        deep.clone().into_bytes(),
        format!(r#"{{"to": "4385550199", "message": {deep}}}"#).into_bytes(),
    ];
    for path in [
        "/api/voip/sms/send",
        "/api/voip/sms/webhook",
        "/api/voip/configure-webhook",
    ] {
        for body in &bodies {
            let (status, error) = raw_post(&app, path, body.clone()).await;
            assert_eq!(
                status,
                400,
                "{path} {}",
                String::from_utf8_lossy(&body[..body.len().min(40)])
            );
            assert!(
                error["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{path}: {error}"
            );
        }
    }
    assert_eq!(app.count("SELECT count(*) FROM sms_messages").await, 0);
}

#[tokio::test]
async fn every_route_with_a_body_has_a_size_limit() {
    let app = spawn_app().start().await;
    let huge =
        json!({"to": PATIENT, "message": "x".repeat(70_000), "from": PATIENT, "id": "1", "webhookUrl": "https://x"});
    for path in [
        "/api/voip/sms/send",
        "/api/voip/sms/webhook",
        "/api/voip/configure-webhook",
    ] {
        let response = app.post_json(path, &huge).await;
        assert_eq!(response.status(), 413, "{path}");
    }
}

#[tokio::test]
async fn sql_and_script_fragments_are_stored_verbatim_and_returned_as_json_text() {
    let app = spawn_app().start().await;
    let fragments = [
        "'; DROP TABLE sms_messages; --",
        "<script>alert(document.cookie)</script>",
        "Robert'); DELETE FROM practices WHERE ('1'='1",
        "{{7*7}} ${jndi:ldap://x} %s%n \\u0000",
    ];
    for (i, fragment) in fragments.iter().enumerate() {
        let (status, _) = app.text_in(PATIENT, fragment, format!("h{i}")).await;
        assert_eq!(status, 200);
        let (status, _) = app.send(PATIENT, fragment).await;
        assert_eq!(status, 201);
    }
    let response = app.get("/api/voip/sms/conversations").await;
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let list: Value = response.json().await.unwrap();
    let id = list["conversations"][0]["id"].as_str().unwrap().to_string();
    let messages: Value = app
        .get(&format!("/api/voip/sms/conversations/{id}/messages?limit=200"))
        .await
        .json()
        .await
        .unwrap();
    let bodies: Vec<&str> = messages["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    for fragment in fragments {
        assert!(
            bodies.iter().filter(|b| **b == fragment).count() >= 2,
            "stored verbatim both ways: {fragment}"
        );
    }
    assert_eq!(
        app.count("SELECT count(*) FROM practices").await,
        1,
        "nothing was executed"
    );
    assert!(
        app.voipms.sent_sms().iter().any(|s| s.message == fragments[1]),
        "sent verbatim too"
    );
}

#[tokio::test]
async fn malformed_percent_encoding_in_the_callback_is_stored_not_refused() {
    // VoIP.ms would resend a refused callback every 30 minutes forever; a byte that is not UTF-8
    // becomes U+FFFD and the rest of the text is kept.
    let app = spawn_app().start().await;
    let response = app
        .get(&format!(
            "/api/voip/sms/webhook?to={DID}&from={PATIENT}&message=caf%E9+ok%ZZ&id=bad-1"
        ))
        .await;
    assert_eq!(response.text().await.unwrap(), "ok");
    let body: String = app.value("SELECT body FROM sms_messages").await;
    assert_eq!(body, "caf\u{FFFD} ok%ZZ");
}

#[tokio::test]
async fn a_burst_of_duplicate_and_reordered_deliveries_is_stored_once_in_time_order() {
    let app = spawn_app().start().await;
    // Five texts, delivered out of order and most of them twice.
    let order = [3, 1, 3, 5, 2, 1, 4, 5, 2, 4, 3];
    for n in order {
        app.clock
            .set(pedro_tests::app::office_open() + chrono::Duration::seconds(n));
        let (status, _) = app
            .text_in(PATIENT, &format!("part {n} of my question"), format!("burst-{n}"))
            .await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE direction = 'inbound'")
            .await,
        5
    );
    let list: Value = app.get("/api/voip/sms/conversations").await.json().await.unwrap();
    assert_eq!(
        list["conversations"][0]["lastMessagePreview"], "part 5 of my question",
        "the newest, not the last delivered"
    );
    assert_eq!(list["conversations"][0]["unreadCount"], 5);
}
