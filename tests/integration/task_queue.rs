//! The job-queue port, one contract for both adapters: the Postgres table (`pedro serve`) and SQS
//! through the real AWS SDK against moto (the `queue-worker` Lambda's partial batch failures).
//! A finished task is gone; a retryable failure comes back (with the attempt number rising) until
//! its last attempt, then dead / dead-lettered; a permanent failure or a malformed message is
//! acknowledged and never retried.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::Duration as Span;
use pedro_tests::app::PATIENT;
use pedro_tests::moto::Moto;
use pedro_tests::spawn_app;
use pedro_voip::queue::postgres::Executed;
use pedro_voip::queue::sqs::{handle_batch, SqsQueue};
use pedro_voip::queue::{Attempt, Task, TaskError, TaskQueue};
use uuid::Uuid;

/// Three tasks whose step succeeds, fails for now, and fails for good.
fn tasks() -> [(Task, Result<(), TaskError>); 3] {
    let task = || Task::SendText {
        message_id: Uuid::new_v4(),
    };
    [
        (task(), Ok(())),
        (task(), Err(TaskError::retry("carrier unavailable"))),
        (task(), Err(TaskError::permanent("no such text"))),
    ]
}

/// A step that answers as scripted and records every attempt it saw.
#[derive(Clone, Default)]
struct Script {
    answers: Arc<HashMap<Task, Result<(), TaskError>>>,
    seen: Arc<Mutex<Vec<(Task, Attempt)>>>,
}

impl Script {
    fn new(tasks: &[(Task, Result<(), TaskError>)]) -> Self {
        Self {
            answers: Arc::new(tasks.iter().cloned().collect()),
            seen: Arc::default(),
        }
    }

    fn step(&self) -> impl Fn(Task, Attempt) -> std::future::Ready<Result<(), TaskError>> + '_ {
        move |task, attempt| {
            self.seen.lock().unwrap().push((task.clone(), attempt));
            std::future::ready(self.answers[&task].clone())
        }
    }

    fn attempts_of(&self, task: &Task) -> Vec<u32> {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|(t, _)| t == task).map(|(_, a)| a.number).collect()
    }
}

#[tokio::test]
async fn the_postgres_queue_keeps_the_contract() {
    let app = spawn_app().env("QUEUE_MAX_ATTEMPTS", "2").start().await;
    let queue = app.ctx.pg_queue.clone().unwrap();
    let tasks = tasks();
    let script = Script::new(&tasks);
    for (task, _) in &tasks {
        queue.enqueue(task).await.unwrap();
    }
    app.sql()
        .await
        .execute(
            "INSERT INTO job_queue (task, run_at) VALUES ('{\"kind\":\"nope\"}', '2000-01-01')",
            &[],
        )
        .await
        .unwrap();
    let first = queue.drain(script.step()).await.unwrap();
    assert_eq!(first.len(), 4, "{first:?}");
    assert!(first.contains(&Executed::Done(tasks[0].0.clone())));
    assert!(first.contains(&Executed::Retrying(tasks[1].0.clone())));
    assert!(first.contains(&Executed::Dead(Some(tasks[2].0.clone()))));
    assert!(first.contains(&Executed::Dead(None)), "malformed: dead at once");
    // Not before its backoff.
    assert!(queue.drain(script.step()).await.unwrap().is_empty());
    app.clock.advance(Span::minutes(1));
    let second = queue.drain(script.step()).await.unwrap();
    assert_eq!(second, [Executed::Dead(Some(tasks[1].0.clone()))], "its last attempt");
    assert_eq!(script.attempts_of(&tasks[1].0), [1, 2]);
    assert_eq!(script.attempts_of(&tasks[2].0), [1], "never retried");
    let dead = app.count("SELECT count(*) FROM job_queue WHERE status = 'dead'").await;
    assert_eq!(dead, 3, "kept for an operator");
    assert_eq!(
        app.count("SELECT count(*) FROM job_queue").await,
        3,
        "the finished one is gone"
    );
}

#[tokio::test]
async fn a_postgres_task_whose_worker_died_runs_again_after_its_lease() {
    let app = spawn_app().start().await;
    let queue = app.ctx.pg_queue.clone().unwrap();
    let task = Task::SendText {
        message_id: Uuid::new_v4(),
    };
    queue.enqueue(&task).await.unwrap();
    // A worker claims it and dies before answering.
    let claimed = tokio::time::timeout(
        Duration::from_millis(200),
        queue.try_execute_task(|_, _| std::future::pending::<Result<(), TaskError>>()),
    )
    .await;
    assert!(claimed.is_err(), "the step never finished");
    let script = Script::new(&[(task.clone(), Ok(()))]);
    assert!(queue.drain(script.step()).await.unwrap().is_empty(), "leased");
    app.clock.advance(Span::minutes(3));
    assert_eq!(
        queue.drain(script.step()).await.unwrap(),
        [Executed::Done(task.clone())]
    );
    assert_eq!(script.attempts_of(&task), [2]);
}

fn as_event(messages: &[aws_sdk_sqs::types::Message]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.body = m.body.clone();
            record.receipt_handle = m.receipt_handle.clone();
            // As Lambda gives it; this queue is always named `tasks` here.
            record.event_source_arn = Some("arn:aws:sqs:us-east-1:123456789012:tasks".into());
            record.attributes = m
                .attributes
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.as_str().to_string(), v))
                .collect();
            record
        })
        .collect();
    event
}

/// Receives what is visible now, as the Lambda service would hand it over.
async fn receive(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default()
}

/// What Lambda does with a batch answer: deletes every message not reported as failed.
async fn settle(sqs: &aws_sdk_sqs::Client, url: &str, batch: &[aws_sdk_sqs::types::Message], failed: &[String]) {
    for message in batch {
        if !failed.contains(message.message_id.as_ref().unwrap()) {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle.clone().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

async fn queues(sqs: &aws_sdk_sqs::Client) -> (String, String) {
    let dlq = sqs.create_queue().queue_name("tasks-dlq").send().await.unwrap();
    let dlq_url = dlq.queue_url.unwrap();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let main = sqs
        .create_queue()
        .queue_name("tasks")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "1")
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"2"}}"#),
        )
        .send()
        .await
        .unwrap();
    (main.queue_url.unwrap(), dlq_url)
}

#[tokio::test]
async fn the_sqs_queue_keeps_the_contract_with_partial_batch_failures() {
    let moto = Moto::start().await;
    let sqs = moto.sqs();
    let (url, dlq_url) = queues(&sqs).await;
    let queue = SqsQueue::with_client(sqs.clone(), url.clone());
    let tasks = tasks();
    let script = Script::new(&tasks);
    for (task, _) in &tasks {
        queue.enqueue(task).await.unwrap();
    }
    sqs.send_message()
        .queue_url(&url)
        .message_body("not a task")
        .send()
        .await
        .unwrap();

    let batch = receive(&sqs, &url).await;
    assert_eq!(batch.len(), 4);
    let answer = handle_batch(as_event(&batch), 2, script.step()).await;
    let failed: Vec<String> = answer
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    let retried = batch
        .iter()
        .find(|m| m.body.as_deref() == Some(tasks[1].0.to_json().as_str()))
        .unwrap();
    assert_eq!(failed, [retried.message_id.clone().unwrap()], "only the retryable one");
    settle(&sqs, &url, &batch, &failed).await;

    // It comes back after the visibility timeout, on its last receive; then to the dead letters.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let batch = receive(&sqs, &url).await;
    assert_eq!(batch.len(), 1);
    let answer = handle_batch(as_event(&batch), 2, script.step()).await;
    assert_eq!(answer.batch_item_failures.len(), 1);
    assert_eq!(script.attempts_of(&tasks[1].0), [1, 2]);
    assert_eq!(
        script.attempts_of(&tasks[2].0),
        [1],
        "a permanent failure is not retried"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(receive(&sqs, &url).await.is_empty());
    let dead = receive(&sqs, &dlq_url).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body.as_deref(), Some(tasks[1].0.to_json().as_str()));
}

#[tokio::test]
async fn a_reply_goes_through_sqs_and_the_queue_worker_lambda_handler() {
    let moto = Moto::start().await;
    let sqs = moto.sqs();
    let (url, _) = queues(&sqs).await;
    let app = spawn_app()
        .queue(Arc::new(SqsQueue::with_client(sqs.clone(), url.clone())))
        .start()
        .await;
    let (status, body) = app.text_in_queued(PATIENT, "What are your hours?", "sqs-1").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("queued")), "{body}");
    assert!(app.voipms.sent_sms().is_empty());
    let batch = receive(&sqs, &url).await;
    assert_eq!(batch.len(), 1);
    assert!(!batch[0].body.as_deref().unwrap().contains(PATIENT), "ids only");
    let answer = pedro_voip::lambda::handle_sqs_batch(&app.ctx, as_event(&batch)).await;
    assert!(answer.batch_item_failures.is_empty());
    assert_eq!(app.voipms_sent_bodies().len(), 1);
    // SQS delivers at least once: the same message again sends nothing more.
    let again = pedro_voip::lambda::handle_sqs_batch(&app.ctx, as_event(&batch)).await;
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(app.voipms_sent_bodies().len(), 1);
}

#[tokio::test]
async fn a_retry_after_keeps_the_sqs_message_away_that_long() {
    let moto = Moto::start().await;
    let sqs = moto.sqs();
    let (url, _) = queues(&sqs).await;
    let queue = SqsQueue::with_client(sqs.clone(), url.clone());
    let task = pedro_voip::queue::Task::TranscribeRecording {
        recording_id: uuid::Uuid::new_v4(),
    };
    queue.enqueue(&task).await.unwrap();
    let batch = receive(&sqs, &url).await;
    let (answer, delays) = pedro_voip::queue::sqs::handle_batch_with_delays(as_event(&batch), 5, |_, _| async {
        Err(pedro_voip::queue::TaskError::Retryable {
            reason: "429".into(),
            after: Some(Duration::from_secs(4)),
        })
    })
    .await;
    assert_eq!(answer.batch_item_failures.len(), 1);
    assert_eq!(delays.len(), 1);
    assert_eq!(delays[0].after, Duration::from_secs(4));
    assert_eq!(SqsQueue::name_of(&delays[0].queue_arn), "tasks");
    queue.delay(&delays[0].receipt_handle, delays[0].after).await.unwrap();
    // The queue's own timeout (1 s) has passed, but the provider's 4 s have not.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(receive(&sqs, &url).await.is_empty(), "still waiting");
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(receive(&sqs, &url).await.len(), 1, "back after the time asked");
}
