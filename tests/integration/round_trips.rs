//! Round trips to the database per operation, counted on the wire between the app and Postgres
//! (`pedro_tests::db_proxy`): statements executed, waits for an answer, transactions. Counting is
//! exact, so a change that adds statements to a path fails here; how fast they run is the
//! benchmark command's business (`scripts/bench.sh`), never a test's.

use std::future::Future;

use pedro_tests::app::{TestApp, PATIENT};
use pedro_tests::db_proxy::Traffic;
use pedro_tests::spawn_app;
use serde_json::{json, Value};

const SECRET: &str = "round-trip-test-webhook-secret";

async fn app() -> TestApp {
    spawn_app()
        .sandbox()
        .db_proxy()
        .env("WEBHOOK_SECRET", SECRET)
        .start()
        .await
}

/// What `operation` sent the database, with its answer.
async fn measure<T>(app: &TestApp, operation: impl Future<Output = T>) -> (T, Traffic) {
    let proxy = app.db_proxy.as_ref().expect("started with a proxy");
    proxy.take_traffic();
    let answer = operation.await;
    (answer, proxy.take_traffic())
}

async fn deliver(app: &TestApp, secret: &str, from: &str, message: &str, id: &str) -> Value {
    let response = app
        .http
        .post(app.url(&format!("/api/voip/sms/webhook?secret={secret}")))
        .json(&json!({"from": from, "message": message, "id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn get_ok(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    body
}

fn assert_within(what: &str, traffic: &Traffic, statements: u64, transactions: u64) {
    println!(
        "{what:<42} {:>3} statements {:>3} round trips {:>2} transactions",
        traffic.statements, traffic.round_trips, traffic.transactions
    );
    if std::env::var_os("SHOW_STATEMENTS").is_some() {
        println!("  {}", traffic.log.join("\n  "));
    }
    assert!(
        traffic.statements <= statements && traffic.transactions <= transactions,
        "{what}: {} statements in {} transactions (at most {statements} in {transactions}):\n{}",
        traffic.statements,
        traffic.transactions,
        traffic.log.join("\n")
    );
}

#[tokio::test]
async fn an_inbound_text_is_stored_and_decided_in_one_transaction_of_at_most_eight_statements() {
    let app = app().await;
    // The busiest path: an answered question (claim, reply, queued in the same transaction).
    let (answer, traffic) = measure(
        &app,
        deliver(&app, SECRET, PATIENT, "What are your hours?", "rt-answered"),
    )
    .await;
    assert_eq!(answer["status"], "queued", "{answer}");
    assert_eq!(traffic.transactions, 1, "{:#?}", traffic.log);
    assert_within("an answered text", &traffic, 8, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM job_queue WHERE task->>'kind' = 'send_text'")
            .await,
        1,
        "the reply is queued with the text"
    );

    // A text no rule answers: stored and flagged for a person.
    let (answer, traffic) = measure(
        &app,
        deliver(&app, SECRET, "+14385550142", "Can my son come with me?", "rt-flagged"),
    )
    .await;
    assert_eq!(answer["needsReview"], true, "{answer}");
    assert_within("a text for a person", &traffic, 6, 1);

    // A redelivery: one transaction rolled back, then the stored copy read.
    let (answer, traffic) = measure(
        &app,
        deliver(&app, SECRET, "+14385550142", "Can my son come with me?", "rt-flagged"),
    )
    .await;
    assert_eq!(answer["duplicate"], true, "{answer}");
    assert_within("a redelivery", &traffic, 7, 2);
}

#[tokio::test]
async fn a_practice_secret_is_checked_in_the_same_transaction() {
    let app = app().await;
    let own = "practice-own-webhook-secret-for-round-trips";
    let hash = pedro_voip::webhook_secret::hash(own);
    {
        let mut client = app.sql().await;
        let tx = client.transaction().await.unwrap();
        pedro_voip::store::webhook_secrets::rotate(
            &tx,
            app.practice_id,
            &hash,
            app.clock_now(),
            chrono::Duration::hours(1),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let (answer, traffic) = measure(&app, deliver(&app, own, PATIENT, "What are your hours?", "rt-own")).await;
    assert_eq!(answer["status"], "queued", "{answer}");
    assert_within("a text signed with the practice's secret", &traffic, 8, 1);

    // The wrong secret writes nothing; the refusal is counted in a transaction of its own.
    let response = app
        .http
        .post(app.url("/api/voip/sms/webhook?secret=wrong"))
        .json(&json!({"from": PATIENT, "message": "hi", "id": "rt-wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE provider_message_id = 'rt-wrong'")
            .await,
        0
    );
}

/// The other operations people use every minute, pinned at today's counts: a change that adds a
/// statement to one of them fails here and says which statements ran.
#[tokio::test]
async fn staff_operations_keep_their_round_trips() {
    let app = app().await;
    for (i, message) in ["What are your hours?", "my tooth hurts", "thanks"].iter().enumerate() {
        deliver(
            &app,
            SECRET,
            &format!("+1438555017{i}"),
            message,
            &format!("rt-seed-{i}"),
        )
        .await;
    }
    app.drain_queue().await;
    let conversation: uuid::Uuid = app
        .value("SELECT id FROM sms_conversations ORDER BY last_message_at DESC LIMIT 1")
        .await;

    let mut table = Vec::new();
    let ((status, body), traffic) = measure(&app, app.send(PATIENT, "See you tomorrow at 9!")).await;
    assert!(matches!(status, 200 | 201), "{status}: {body}");
    table.push(("staff send", traffic, STAFF_SEND));

    let (_, traffic) = measure(&app, get_ok(&app, "/api/voip/sms/conversations")).await;
    table.push(("thread list", traffic, THREAD_LIST));

    let (_, traffic) = measure(
        &app,
        get_ok(&app, &format!("/api/voip/sms/conversations/{conversation}/messages")),
    )
    .await;
    table.push(("thread messages", traffic, THREAD_MESSAGES));

    let (_, traffic) = measure(
        &app,
        get_ok(&app, "/api/voip/calls/history?dateFrom=2026-11-01&dateTo=2026-11-30"),
    )
    .await;
    table.push(("call history page", traffic, HISTORY_PAGE));

    let (_, traffic) = measure(&app, get_ok(&app, "/api/voip/search?q=tooth")).await;
    table.push(("search", traffic, SEARCH));

    let (_, traffic) = measure(
        &app,
        get_ok(&app, "/api/voip/analytics?startDate=2026-11-01&endDate=2026-11-30"),
    )
    .await;
    table.push(("analytics, 30 days", traffic, ANALYTICS));

    for (what, traffic, (statements, transactions)) in &table {
        assert_within(what, traffic, *statements, *transactions);
    }
}

// (statements, transactions) as measured when they were pinned.
const STAFF_SEND: (u64, u64) = (36, 15);
const THREAD_LIST: (u64, u64) = (8, 2);
const THREAD_MESSAGES: (u64, u64) = (9, 2);
const HISTORY_PAGE: (u64, u64) = (8, 2);
const SEARCH: (u64, u64) = (9, 2);
const ANALYTICS: (u64, u64) = (14, 2);
