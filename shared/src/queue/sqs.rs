//! The queue on AWS: tasks are SQS messages (the JSON of a [`Task`]); a Lambda function consumes
//! the queue in batches and answers which messages failed (`ReportBatchItemFailures`), so only
//! those come back, after the visibility timeout. After `maxReceiveCount` receives the queue moves
//! a message to its dead-letter queue.

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use tokio::sync::OnceCell;

use super::{Attempt, QueueError, Task, TaskError, TaskQueue};

pub struct SqsQueue {
    queue_url: String,
    /// Built on first use: loading the AWS configuration is async and may read the instance's
    /// credentials, which a process that never enqueues should not pay for at start-up.
    client: OnceCell<aws_sdk_sqs::Client>,
}

impl SqsQueue {
    /// A queue whose client comes from the environment (region, credentials, and
    /// `AWS_ENDPOINT_URL` for emulators) on first use.
    pub fn from_env(queue_url: impl Into<String>) -> Self {
        Self {
            queue_url: queue_url.into(),
            client: OnceCell::new(),
        }
    }

    /// A queue over a client built by the caller (tests point one at moto).
    pub fn with_client(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            queue_url: queue_url.into(),
            client: OnceCell::new_with(Some(client)),
        }
    }

    async fn client(&self) -> &aws_sdk_sqs::Client {
        self.client
            .get_or_init(|| async {
                let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                aws_sdk_sqs::Client::new(&config)
            })
            .await
    }
}

impl SqsQueue {
    /// Keeps a received message invisible for `after` from now: a retry no earlier than the
    /// provider asked (`Retry-After`), instead of at the queue's visibility timeout.
    pub async fn delay(&self, receipt_handle: &str, after: std::time::Duration) -> Result<(), QueueError> {
        // SQS allows at most 12 hours.
        let seconds = after.as_secs().clamp(0, 12 * 3600) as i32;
        self.client()
            .await
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    /// The name at the end of the queue's URL (and of its ARN).
    pub fn name_of(url_or_arn: &str) -> &str {
        url_or_arn.rsplit(['/', ':']).next().unwrap_or_default()
    }
}

/// A message to be delivered again no earlier than `after`.
#[derive(Debug, Clone, PartialEq)]
pub struct Delay {
    pub queue_arn: String,
    pub receipt_handle: String,
    pub after: std::time::Duration,
}

#[async_trait]
impl TaskQueue for SqsQueue {
    async fn enqueue(&self, task: &Task) -> Result<(), QueueError> {
        self.client()
            .await
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(task.to_json())
            .send()
            .await
            .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

/// Runs `step` on every message of an SQS batch and answers the ids of those worth another
/// delivery. A malformed message or a permanent failure is acknowledged (logged, never retried
/// forever); a retryable failure is reported, so SQS delivers it again and, after its last
/// receive, moves it to the dead-letter queue.
pub async fn handle_batch<F, Fut>(event: SqsEvent, max_receives: u32, step: F) -> SqsBatchResponse
where
    F: Fn(Task, Attempt) -> Fut,
    Fut: std::future::Future<Output = Result<(), TaskError>>,
{
    handle_batch_with_delays(event, max_receives, step).await.0
}

/// [`handle_batch`], also saying which failed messages asked to wait before their next delivery.
pub async fn handle_batch_with_delays<F, Fut>(
    event: SqsEvent,
    max_receives: u32,
    step: F,
) -> (SqsBatchResponse, Vec<Delay>)
where
    F: Fn(Task, Attempt) -> Fut,
    Fut: std::future::Future<Output = Result<(), TaskError>>,
{
    let mut failures = Vec::new();
    let mut delays = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let receives = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let attempt = Attempt {
            number: receives,
            max: max_receives,
        };
        let result = match Task::from_json(record.body.as_deref().unwrap_or_default()) {
            Ok(task) => step(task, attempt).await,
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => {}
            Err(error @ TaskError::Retryable { .. }) => {
                tracing::warn!(sqs_message_id = %id, attempt = receives, %error, "task failed; SQS will deliver it again");
                if let (TaskError::Retryable { after: Some(after), .. }, Some(receipt), Some(arn)) =
                    (&error, &record.receipt_handle, &record.event_source_arn)
                {
                    delays.push(Delay {
                        queue_arn: arn.clone(),
                        receipt_handle: receipt.clone(),
                        after: *after,
                    });
                }
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failures.push(failure);
            }
            Err(error) => {
                tracing::error!(sqs_message_id = %id, %error, "task failed for good; acknowledged");
            }
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    (response, delays)
}
