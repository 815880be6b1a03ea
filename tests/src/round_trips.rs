//! The operations whose database round trips are counted, driven through the real router with the
//! wire-level counting proxy between the app and Postgres ([`crate::db_proxy`]). One list, used by
//! the round-trip test (which pins the counts) and by the benchmark command (which prints them).

use std::future::Future;

use serde_json::{json, Value};

use crate::app::{TestApp, PATIENT};
use crate::db_proxy::Traffic;
use crate::spawn_app;

/// The deployment-wide webhook secret the measuring app checks deliveries against.
pub const SECRET: &str = "round-trip-webhook-secret";

/// One operation and what it sent the database.
pub struct Measured {
    pub operation: &'static str,
    pub traffic: Traffic,
    /// The operation's answer, for the caller to check it did what it says.
    pub answer: Value,
}

/// An app on a fresh database with the counting proxy, the sandbox carrier and [`SECRET`].
pub async fn measuring_app() -> TestApp {
    spawn_app()
        .sandbox()
        .db_proxy()
        .env("WEBHOOK_SECRET", SECRET)
        .start()
        .await
}

/// What `operation` sent the database, with its answer.
pub async fn measure<T>(app: &TestApp, operation: impl Future<Output = T>) -> (T, Traffic) {
    let proxy = app.db_proxy.as_ref().expect("started with a proxy");
    proxy.take_traffic();
    let answer = operation.await;
    (answer, proxy.take_traffic())
}

/// A delivery as VoIP.ms's JSON webhook, signed with `secret`; the status and the answer.
pub async fn deliver(app: &TestApp, secret: &str, from: &str, message: &str, id: &str) -> (u16, Value) {
    let response = app
        .http
        .post(app.url(&format!("/api/voip/sms/webhook?secret={secret}")))
        .json(&json!({"from": from, "message": message, "id": id}))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.get(path).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The inbound texts (answered, for a person, redelivered), then what staff do every minute:
/// send, list threads, read one, a call-history page, a search, 30 days of analytics. Each answer
/// is kept with its status as `{"status": …, "body": …}`.
pub async fn measure_operations(app: &TestApp) -> Vec<Measured> {
    fn record(
        measured: &mut Vec<Measured>,
        operation: &'static str,
        ((status, body), traffic): ((u16, Value), Traffic),
    ) {
        measured.push(Measured {
            operation,
            traffic,
            answer: json!({"status": status, "body": body}),
        });
    }
    let mut m = Vec::new();
    let person = "+14385550142";
    record(
        &mut m,
        "inbound text, answered",
        measure(
            app,
            deliver(app, SECRET, PATIENT, "What are your hours?", "rt-answered"),
        )
        .await,
    );
    record(
        &mut m,
        "inbound text for a person",
        measure(
            app,
            deliver(app, SECRET, person, "Can my son come with me?", "rt-flagged"),
        )
        .await,
    );
    record(
        &mut m,
        "inbound text, redelivered",
        measure(
            app,
            deliver(app, SECRET, person, "Can my son come with me?", "rt-flagged"),
        )
        .await,
    );
    app.drain_queue().await;
    record(
        &mut m,
        "staff send",
        measure(app, app.send(PATIENT, "See you tomorrow at 9!")).await,
    );
    record(
        &mut m,
        "thread list",
        measure(app, get(app, "/api/voip/sms/conversations")).await,
    );
    let thread = m[0].answer["body"]["conversationId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let reads = [
        (
            "thread messages",
            format!("/api/voip/sms/conversations/{thread}/messages"),
        ),
        (
            "call history page",
            "/api/voip/calls/history?dateFrom=2026-11-01&dateTo=2026-11-30".into(),
        ),
        ("search", "/api/voip/search?q=tooth".into()),
        (
            "analytics, 30 days",
            "/api/voip/analytics?startDate=2026-11-01&endDate=2026-11-30".into(),
        ),
    ];
    for (operation, path) in reads {
        record(&mut m, operation, measure(app, get(app, &path)).await);
    }
    m
}
