//! Rate limits: counted in Postgres, so they hold across instances; 429 with Retry-After.

use chrono::Duration;
use pedro_tests::app::{DID, PATIENT};
use pedro_tests::spawn_app;
use serde_json::{json, Value};

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn sends_per_practice_per_minute_hold_across_instances() {
    let app = spawn_app().env("RATE_SEND_PER_MINUTE", "2").start().await;
    let other = app.another_instance().await;
    let body = |n: u32| json!({"to": format!("43855501{n:02}"), "message": "hi"});
    assert_eq!(app.post_json("/api/voip/sms/send", &body(1)).await.status(), 201);
    let second = app
        .http
        .post(format!("{other}/api/voip/sms/send"))
        .json(&body(2))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 201, "the other instance counts the same window");
    let third = app.post_json("/api/voip/sms/send", &body(3)).await;
    assert_eq!(third.status(), 429);
    let wait = retry_after(&third);
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(third.json::<Value>().await.unwrap()["error"]["code"], "rate_limited");
    assert_eq!(app.voipms.sent_sms().len(), 2, "the third was not sent");
    assert_eq!(app.count("SELECT count(*) FROM sms_messages").await, 2, "nor stored");
    app.clock.advance(Duration::minutes(1));
    assert_eq!(
        app.post_json("/api/voip/sms/send", &body(3)).await.status(),
        201,
        "a new minute"
    );
}

#[tokio::test]
async fn sends_to_one_number_per_day() {
    let app = spawn_app().env("RATE_SEND_PER_NUMBER_PER_DAY", "2").start().await;
    for _ in 0..2 {
        assert_eq!(app.send(PATIENT, "reminder").await.0, 201);
    }
    let (status, body) = app.send(PATIENT, "reminder").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        app.send("4385550188", "reminder").await.0,
        201,
        "another number is fine"
    );
}

#[tokio::test]
async fn webhook_requests_per_source_are_limited_before_anything_is_stored() {
    let app = spawn_app().env("RATE_WEBHOOK_PER_MINUTE", "3").start().await;
    let path = |i: u32| format!("/api/voip/sms/webhook?to={DID}&from={PATIENT}&message=hello&id=rl{i}");
    for i in 0..3 {
        assert_eq!(app.get(&path(i)).await.text().await.unwrap(), "ok");
    }
    let over = app.get(&path(3)).await;
    assert_eq!(over.status(), 429, "not `ok`: VoIP.ms will deliver it again later");
    assert!(retry_after(&over) >= 1);
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE direction = 'inbound'")
            .await,
        3
    );
}

#[tokio::test]
async fn configuring_the_webhook_is_limited_per_hour() {
    let app = spawn_app().env("RATE_CONFIGURE_PER_HOUR", "1").start().await;
    let body = json!({"webhookUrl": "https://x.example/hook"});
    assert_eq!(app.post_json("/api/voip/configure-webhook", &body).await.status(), 200);
    let again = app.post_json("/api/voip/configure-webhook", &body).await;
    assert_eq!(again.status(), 429);
    assert!(retry_after(&again) <= 3600);
    assert_eq!(app.voipms.calls("setSMS").len(), 1);
}
