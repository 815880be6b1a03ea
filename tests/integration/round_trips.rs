//! Round trips to the database per operation, counted on the wire between the app and Postgres
//! (`pedro_tests::db_proxy`): statements executed and transactions, which are exact, so a change
//! that adds statements to a path fails here. How fast they run is the benchmark command's
//! business (`scripts/bench.sh`, which prints the same counts), never a test's.

use pedro_tests::app::PATIENT;
use pedro_tests::db_proxy::Traffic;
use pedro_tests::round_trips::{deliver, measure, measure_operations, measuring_app, SECRET};
use serde_json::json;

fn assert_within(what: &str, traffic: &Traffic, statements: u64, transactions: u64) {
    println!(
        "{what:<42} {:>3} statements {:>3} waits {:>2} transactions",
        traffic.statements, traffic.round_trips, traffic.transactions
    );
    assert!(
        traffic.statements <= statements && traffic.transactions <= transactions,
        "{what}: {} statements in {} transactions (at most {statements} in {transactions}):\n{}",
        traffic.statements,
        traffic.transactions,
        traffic.log.join("\n")
    );
    assert!(
        traffic.round_trips <= traffic.statements,
        "{what}: more waits than statements"
    );
}

/// (operation, statements, transactions) as measured when they were pinned. The inbound text's
/// bound is the goal of issue 12: one transaction, at most 8 statements.
const PINNED: &[(&str, u64, u64)] = &[
    ("inbound text, answered", 8, 1),
    ("inbound text for a person", 6, 1),
    // One transaction rolled back when the text turns out stored, then the stored copy read.
    ("inbound text, redelivered", 6, 2),
    ("staff send", 36, 15),
    ("thread list", 8, 2),
    ("thread messages", 9, 2),
    ("call history page", 8, 2),
    ("search", 9, 2),
    ("analytics, 30 days", 14, 2),
];

#[tokio::test]
async fn every_operation_keeps_its_statements_and_transactions() {
    let app = measuring_app().await;
    let measured = measure_operations(&app).await;
    assert_eq!(
        measured.iter().map(|m| m.operation).collect::<Vec<_>>(),
        PINNED.iter().map(|p| p.0).collect::<Vec<_>>()
    );
    for (m, (what, statements, transactions)) in measured.iter().zip(PINNED) {
        let status = m.answer["status"].as_u64().unwrap_or_default();
        assert!((200..300).contains(&status), "{what}: {}", m.answer);
        assert_within(what, &m.traffic, *statements, *transactions);
    }
    let answered = &measured[0];
    assert_eq!(answered.answer["body"]["status"], "queued", "{}", answered.answer);
    assert_eq!(answered.traffic.transactions, 1, "{:#?}", answered.traffic.log);
    assert_eq!(measured[1].answer["body"]["needsReview"], true);
    assert_eq!(measured[2].answer["body"]["duplicate"], true);
    // The reply was queued in the text's transaction: nothing else wrote the task.
    assert!(answered
        .traffic
        .log
        .iter()
        .any(|s| s.starts_with("INSERT INTO job_queue")));
}

#[tokio::test]
async fn a_practice_secret_is_checked_in_the_same_transaction() {
    let app = measuring_app().await;
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
    let ((status, answer), traffic) =
        measure(&app, deliver(&app, own, PATIENT, "What are your hours?", "rt-own")).await;
    assert_eq!((status, &answer["status"]), (200, &json!("queued")), "{answer}");
    assert_within("a text signed with the practice's secret", &traffic, 8, 1);

    // The deployment's secret no longer opens a practice that has its own; nothing is written.
    let ((status, _), _) = measure(&app, deliver(&app, SECRET, PATIENT, "hi", "rt-wrong")).await;
    assert_eq!(status, 401);
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE provider_message_id = 'rt-wrong'")
            .await,
        0
    );
}
