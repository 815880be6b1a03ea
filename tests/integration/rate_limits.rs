//! Rate limits: counted in Postgres, so they hold across instances; 429 with Retry-After.

use chrono::Duration;
use futures::StreamExt;
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

/// A send refused because the practice is over its minute does not use up the patient's day: a
/// client retrying through a busy minute must not lock one patient out until tomorrow.
#[tokio::test]
async fn a_send_refused_for_the_minute_does_not_count_against_the_day() {
    let app = spawn_app()
        .env("RATE_SEND_PER_MINUTE", "1")
        .env("RATE_SEND_PER_NUMBER_PER_DAY", "2")
        .start()
        .await;
    assert_eq!(app.send(PATIENT, "first").await.0, 201);
    for _ in 0..3 {
        let (status, body) = app.send(PATIENT, "retrying").await;
        assert_eq!(status, 429, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("this minute"),
            "{body}"
        );
    }
    let day: i32 = app
        .value("SELECT hits FROM rate_limit_hits WHERE bucket LIKE 'send-to:%'")
        .await;
    assert_eq!(day, 1, "only the send that went out counts against the patient's day");
    // The next minute: the patient's second text of the day goes out.
    app.clock.advance(Duration::minutes(1));
    assert_eq!(app.send(PATIENT, "second").await.0, 201);
}

/// A development server with no secret anywhere takes unsigned deliveries, and counts them all.
#[tokio::test]
async fn unsigned_webhook_requests_per_source_are_limited_before_anything_is_stored() {
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
    let body = json!({"webhookUrl": "https://pedro.example.com/hook"});
    assert_eq!(app.post_json("/api/voip/configure-webhook", &body).await.status(), 200);
    let again = app.post_json("/api/voip/configure-webhook", &body).await;
    assert_eq!(again.status(), 429);
    assert!(retry_after(&again) <= 3600);
    assert_eq!(app.voipms.calls("setSMS").len(), 1);
}

/// After a reminder campaign hundreds of patients answer within minutes; VoIP.ms ignores
/// `Retry-After` and would resend a refused text only 30 minutes later.
#[tokio::test]
async fn signed_deliveries_are_never_refused_for_volume() {
    let app = spawn_app()
        .env("WEBHOOK_SECRET", "deployment-wide-secret")
        .start()
        .await;
    let practice_b = app.add_practice("Harbour Dental", "+16045550100").await;
    let secret_b = pedro_voip::webhook_secret::rotate(
        &app.sql().await,
        practice_b,
        app.clock_now(),
        app.ctx.settings.webhook_secret_grace,
    )
    .await
    .unwrap();
    let limit = app.ctx.settings.limits.webhook_per_minute as usize;
    let total = 300;
    assert!(total > 2 * limit);
    // Half to the practice that uses WEBHOOK_SECRET, half to the one with its own secret.
    let paths: Vec<String> = (0..total)
        .map(|i| {
            let (to, secret) = match i % 2 {
                0 => (DID, "deployment-wide-secret"),
                _ => ("6045550100", secret_b.expose()),
            };
            format!("/api/voip/sms/webhook?to={to}&from=438555{i:04}&message=See+you+then&id=burst{i}&secret={secret}")
        })
        .collect();
    let started = std::time::Instant::now();
    let statuses: Vec<u16> = futures::stream::iter(paths.iter())
        .map(|path| async { app.get(path).await.status().as_u16() })
        .buffer_unordered(16)
        .collect()
        .await;
    eprintln!("{total} signed deliveries in {:?}", started.elapsed());
    let refused: Vec<_> = statuses.iter().filter(|s| **s != 200).collect();
    assert!(refused.is_empty(), "refused: {refused:?}");
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE direction = 'inbound'")
            .await,
        total as i64
    );
}

#[tokio::test]
async fn unsigned_floods_do_not_lock_out_signed_deliveries() {
    let app = spawn_app()
        .env("WEBHOOK_SECRET", "deployment-wide-secret")
        .start()
        .await;
    let limit = app.ctx.settings.limits.webhook_per_minute;
    assert_eq!(limit, 120, "the default");
    let unsigned = |i: u32| format!("/api/voip/sms/webhook?to={DID}&from={PATIENT}&message=STOP&id=junk{i}");
    for i in 0..limit {
        assert_eq!(app.get(&unsigned(i)).await.status(), 401, "request {i}");
    }
    let over = app.get(&unsigned(limit)).await;
    assert_eq!(over.status(), 429);
    assert!(retry_after(&over) >= 1);
    let wrong = app.get(&format!("{}&secret=guess", unsigned(limit + 1))).await;
    assert_eq!(wrong.status(), 429, "wrong secrets count too");

    // VoIP.ms, from the same address in the same minute, still gets through.
    let signed =
        format!("/api/voip/sms/webhook?to={DID}&from={PATIENT}&message=hello&id=real1&secret=deployment-wide-secret");
    let response = app.get(&signed).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE direction = 'inbound'")
            .await,
        1,
        "only the signed text"
    );
    assert_eq!(app.count("SELECT count(*) FROM sms_opt_outs").await, 0);

    app.clock.advance(Duration::minutes(1));
    assert_eq!(app.get(&unsigned(999)).await.status(), 401, "a new minute");
}
