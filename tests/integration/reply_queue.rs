//! Replies leave the request path through the queue, and reach the patient exactly once: when the
//! worker crashes between parts, when VoIP.ms times out after accepting a part, when the number
//! opts out while the reply waits.

use std::time::Duration;

use chrono::Duration as Span;
use pedro_tests::app::{PATIENT, PATIENT_E164};
use pedro_tests::fakes::voipms::Fault;
use pedro_tests::spawn_app;
use pedro_voip::queue::postgres::Executed;
use serde_json::Value;

/// A question whose reply the test makes two VoIP.ms parts long (see [`long_reply`]).
const EMERGENCY: &str = "What are your hours?";

/// Makes the office-hours reply longer than one VoIP.ms part (160 characters).
async fn long_reply(app: &pedro_tests::TestApp) {
    let text = format!(
        "{} {}",
        "We are open weekdays from eight to five.".repeat(3),
        "Call {practice_phone} for anything else, and thank you for texting {practice_name}!"
    );
    app.sql()
        .await
        .execute(
            "UPDATE auto_response_rules SET reply_template = $1 WHERE category = 'office_hours'",
            &[&text],
        )
        .await
        .unwrap();
}

async fn reply_status(app: &pedro_tests::TestApp) -> (String, i64) {
    let row = app
        .sql()
        .await
        .query_one(
            "SELECT status, (SELECT count(*) FROM sms_message_parts p WHERE p.message_id = m.id) \
             FROM sms_messages m WHERE direction = 'outbound'",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn the_webhook_answers_at_once_and_the_worker_sends_the_reply() {
    let app = spawn_app().start().await;
    // A carrier that would take 30 s cannot slow the webhook down: it is not called there.
    app.voipms
        .set_fault("sendSMS", Some(Fault::Delay(Duration::from_secs(30))));
    let started = std::time::Instant::now();
    let (status, body) = app.text_in_queued(PATIENT, "What are your hours?", "q-1").await;
    assert_eq!(status, 200, "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(body["status"], "queued");
    assert_eq!(body["autoResponse"]["category"], "office_hours");
    assert_eq!(body["autoResponse"]["queued"], true);
    assert!(app.voipms.calls("sendSMS").is_empty(), "no carrier call in the request");
    assert_eq!(reply_status(&app).await.0, "queued");
    assert_eq!(app.count("SELECT count(*) FROM job_queue").await, 1);
    // The task carries the reply's id only, never patient data.
    let task: Value = app.value("SELECT task FROM job_queue").await;
    assert_eq!(task.as_object().unwrap().len(), 2, "{task}");
    assert!(!task.to_string().contains("hours") && !task.to_string().contains(PATIENT));

    app.voipms.set_fault("sendSMS", None);
    let done = app.drain_queue().await;
    assert!(matches!(done.as_slice(), [Executed::Done(_)]), "{done:?}");
    assert_eq!(app.voipms_sent_bodies().len(), 1);
    assert_eq!(reply_status(&app).await.0, "sent");
    assert_eq!(app.count("SELECT count(*) FROM job_queue").await, 0);
    // A task delivered twice (SQS is at-least-once) sends nothing more.
    app.ctx
        .queue
        .enqueue(&pedro_voip::queue::Task::SendText {
            message_id: app
                .value("SELECT id FROM sms_messages WHERE direction = 'outbound'")
                .await,
        })
        .await
        .unwrap();
    app.drain_queue().await;
    assert_eq!(app.voipms_sent_bodies().len(), 1);
}

#[tokio::test]
async fn a_worker_crash_between_parts_sends_each_part_exactly_once() {
    let app = spawn_app().start().await;
    long_reply(&app).await;
    let (_, body) = app.text_in_queued(PATIENT, EMERGENCY, "e-1").await;
    assert_eq!(body["status"], "queued");
    // VoIP.ms takes the second part and hangs; the worker is killed while it waits for the answer.
    app.voipms
        .set_fault_on_call("sendSMS", 2, Fault::AcceptThenDelay(Duration::from_secs(30)));
    let worker = {
        let app_ctx = app.ctx.clone();
        tokio::spawn(async move {
            let queue = app_ctx.pg_queue.clone().unwrap();
            queue
                .drain(move |task, attempt| {
                    let ctx = app_ctx.clone();
                    async move { pedro_voip::worker::execute(&ctx, task, attempt).await }
                })
                .await
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.voipms.calls("sendSMS").len() < 2 {
        assert!(std::time::Instant::now() < deadline, "the second part never left");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.abort();
    let parts: Vec<String> = app.column("SELECT status FROM sms_message_parts ORDER BY part").await;
    assert_eq!(parts, ["sent", "sending"], "the crash left part 2 in flight");
    assert_eq!(app.voipms_sent_bodies().len(), 2);

    // The lease runs out; the task runs again, finds part 2 in VoIP.ms's sent list, sends nothing.
    app.clock.advance(Span::minutes(3));
    app.drain_queue().await;
    assert_eq!(app.voipms_sent_bodies().len(), 2, "no part sent twice");
    assert_eq!(reply_status(&app).await, ("sent".to_string(), 2));
    assert!(app.twilio.sent().is_empty());
    let lookups = app.voipms.calls("getSMS");
    assert!(lookups.iter().any(|c| c.get("type").map(String::as_str) == Some("0")));
}

#[tokio::test]
async fn a_crash_before_the_carrier_took_a_part_sends_the_rest_once() {
    let app = spawn_app().start().await;
    long_reply(&app).await;
    app.text_in_queued(PATIENT, EMERGENCY, "e-2").await;
    // The first delivery sends part 1, then "crashes": part 2 is left marked `sending` although
    // VoIP.ms never saw it.
    app.drain_queue().await;
    let sent = app.voipms_sent_bodies();
    assert_eq!(sent.len(), 2);
    let db = app.sql().await;
    let reply: uuid::Uuid = app
        .value("SELECT id FROM sms_messages WHERE direction = 'outbound'")
        .await;
    db.execute(
        "UPDATE sms_message_parts SET status = 'sending', provider_message_id = NULL WHERE message_id = $1 AND part = 1",
        &[&reply],
    )
    .await
    .unwrap();
    db.execute("UPDATE sms_messages SET status = 'sending' WHERE id = $1", &[&reply])
        .await
        .unwrap();
    app.voipms.forget_sent(&sent[1]);
    // Found later (housekeeping re-queues it): long enough after the attempt for "not listed" to
    // mean "not sent".
    app.clock.advance(Span::minutes(2));
    app.ctx
        .queue
        .enqueue(&pedro_voip::queue::Task::SendText { message_id: reply })
        .await
        .unwrap();
    app.drain_queue().await;
    let now_sent = app.voipms_sent_bodies();
    assert_eq!(now_sent, sent, "part 1 once, part 2 once more (it had not gone)");
    assert_eq!(reply_status(&app).await.0, "sent");
}

#[tokio::test]
async fn a_voipms_time_out_after_accepting_is_never_resent_through_twilio() {
    let app = spawn_app().twilio().start().await;
    // VoIP.ms takes the text but answers after the client gave up (1 s).
    app.voipms
        .set_fault("sendSMS", Some(Fault::AcceptThenDelay(Duration::from_millis(1500))));
    let (_, body) = app.text_in_queued(PATIENT, "What are your hours?", "t-1").await;
    assert_eq!(body["status"], "queued");
    let first = app.drain_queue().await;
    assert!(matches!(first.as_slice(), [Executed::Retrying(_)]), "{first:?}");
    assert_eq!(reply_status(&app).await.0, "sending");
    app.voipms.set_fault("sendSMS", None);
    assert_eq!(app.voipms_sent_bodies().len(), 1, "VoIP.ms has it");

    app.clock.advance(Span::minutes(1));
    app.drain_queue().await;
    assert_eq!(reply_status(&app).await.0, "sent");
    assert_eq!(app.voipms_sent_bodies().len(), 1);
    assert!(
        app.twilio.sent().is_empty(),
        "the patient got one copy, from one number"
    );
    let provider: Option<String> = app
        .value("SELECT provider FROM sms_messages WHERE direction = 'outbound'")
        .await;
    assert_eq!(provider.as_deref(), Some("voipms"));
}

#[tokio::test]
async fn a_lost_answer_for_a_text_voipms_never_took_goes_through_twilio_once() {
    let app = spawn_app().twilio().start().await;
    // A gateway error after the request left: the outcome is unknown, and VoIP.ms has nothing.
    app.voipms.set_fault("sendSMS", Some(Fault::Http(502)));
    app.text_in_queued(PATIENT, "What are your hours?", "t-2").await;
    app.drain_queue().await;
    assert!(app.twilio.sent().is_empty(), "nothing resent before looking");
    app.clock.advance(Span::minutes(1));
    app.drain_queue().await;
    assert_eq!(app.twilio.sent().len(), 1);
    assert!(app.voipms_sent_bodies().is_empty());
    assert_eq!(reply_status(&app).await.0, "sent");
}

#[tokio::test]
async fn an_outcome_nobody_can_find_out_is_flagged_and_never_resent() {
    let app = spawn_app().twilio().start().await;
    app.voipms.set_fault("sendSMS", Some(Fault::Http(502)));
    // VoIP.ms's sent list cannot be read either, on every attempt.
    app.voipms.set_fault("getSMS", Some(Fault::Http(503)));
    app.text_in_queued(PATIENT, "What are your hours?", "t-3").await;
    for _ in 0..6 {
        app.drain_queue().await;
        app.clock.advance(Span::minutes(20));
    }
    assert_eq!(reply_status(&app).await.0, "unknown");
    assert!(app.twilio.sent().is_empty());
    assert_eq!(app.voipms.calls("sendSMS").len(), 1, "sent once, never again");
    let (flagged, reason): (bool, Option<String>) = {
        let row = app
            .sql()
            .await
            .query_one("SELECT needs_review, review_reason FROM sms_conversations", &[])
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert!(flagged);
    assert!(reason.unwrap().contains("may not have been delivered"));
    assert_eq!(
        app.count("SELECT count(*) FROM job_queue").await,
        0,
        "settled, not dead"
    );
}

#[tokio::test]
async fn a_number_that_opts_out_while_its_reply_waits_gets_no_reply() {
    let app = spawn_app().start().await;
    app.text_in_queued(PATIENT, "What are your hours?", "o-1").await;
    app.text_in_queued(PATIENT, "STOP", "o-2").await;
    app.drain_queue().await;
    let sent = app.voipms_sent_bodies();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].contains("unsubscribed"),
        "only the opt-out confirmation: {sent:?}"
    );
    let statuses: Vec<String> = app
        .column("SELECT status FROM sms_messages WHERE direction = 'outbound' ORDER BY auto_response_category")
        .await;
    assert_eq!(statuses, ["cancelled", "sent"]);
    // The cancelled reply gave its quiet-period claim back.
    assert_eq!(app.count("SELECT count(*) FROM auto_reply_claims").await, 0);
}

#[tokio::test]
async fn a_redelivery_while_the_reply_waits_is_a_duplicate_not_a_second_question() {
    let app = spawn_app().start().await;
    let (_, first) = app.text_in_queued(PATIENT, "What are your hours?", "r-1").await;
    let (_, again) = app.text_in_queued(PATIENT, "What are your hours?", "r-1").await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["messageId"], first["messageId"]);
    app.drain_queue().await;
    assert_eq!(app.voipms_sent_bodies().len(), 1);
    let flagged: bool = app.value("SELECT needs_review FROM sms_conversations").await;
    assert!(!flagged, "a redelivery is not the patient asking again");
}

#[tokio::test]
async fn a_reply_that_could_not_be_sent_is_flagged_where_staff_see_it() {
    let app = spawn_app().start().await;
    app.voipms.set_fault("sendSMS", Some(Fault::Status("sms_failed")));
    app.text_in(PATIENT, "What are your hours?", "f-1").await;
    assert_eq!(reply_status(&app).await.0, "failed");
    let list: Value = app
        .get("/api/voip/sms/conversations?needsReview=true")
        .await
        .json()
        .await
        .unwrap();
    let thread = &list["conversations"][0];
    assert_eq!(thread["contactNumber"], PATIENT_E164);
    assert!(
        thread["reviewReason"].as_str().unwrap().contains("could not be sent"),
        "{thread}"
    );
}

#[tokio::test]
async fn housekeeping_requeues_a_reply_whose_task_was_lost() {
    let app = spawn_app().start().await;
    app.text_in_queued(PATIENT, "What are your hours?", "h-1").await;
    // The process died between committing the reply and handing it to the queue.
    app.sql().await.execute("DELETE FROM job_queue", &[]).await.unwrap();
    app.clock.advance(Span::minutes(10));
    pedro_voip::jobs::Job::CheckSms.run(&app.ctx).await.unwrap();
    app.drain_queue().await;
    assert_eq!(app.voipms_sent_bodies().len(), 1);
    assert_eq!(reply_status(&app).await.0, "sent");
}

#[tokio::test]
async fn two_deliveries_of_one_reply_at_once_send_it_once() {
    let app = spawn_app().twilio().start().await;
    // VoIP.ms takes the text and answers slowly, while the same task arrives twice.
    app.voipms
        .set_fault("sendSMS", Some(Fault::AcceptThenDelay(Duration::from_millis(500))));
    app.text_in_queued(PATIENT, "What are your hours?", "p-1").await;
    let reply: uuid::Uuid = app
        .value("SELECT id FROM sms_messages WHERE direction = 'outbound'")
        .await;
    let task = pedro_voip::queue::Task::SendText { message_id: reply };
    let attempt = pedro_voip::queue::Attempt::first_of(5);
    let (first, second) = tokio::join!(
        pedro_voip::worker::execute(&app.ctx, task.clone(), attempt),
        pedro_voip::worker::execute(&app.ctx, task.clone(), attempt),
    );
    assert!(
        first.is_ok() != second.is_ok(),
        "one sends, the other waits: {first:?} {second:?}"
    );
    app.voipms.set_fault("sendSMS", None);
    app.drain_queue().await;
    assert_eq!(app.voipms_sent_bodies().len(), 1);
    assert!(app.twilio.sent().is_empty());
    assert_eq!(reply_status(&app).await.0, "sent");
}
