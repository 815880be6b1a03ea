//! The job-queue port: work that must not run inside a request (sending a reply, later transcribing
//! a recording) is handed to a queue and done by a worker, at least once.
//!
//! Adapters: [`sqs::SqsQueue`] on AWS (a Lambda consumes it, answering partial batch failures; a
//! dead-letter queue takes what keeps failing) and [`postgres::PgQueue`] under `pedro serve` (a
//! table drained with `FOR UPDATE SKIP LOCKED`, with retries, backoff and a dead state). Both drive
//! the same step function, [`crate::worker::execute`]. Tasks carry ids, never patient data, and
//! every step is idempotent, so a task delivered twice does its work once.

pub mod postgres;
pub mod sqs;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One unit of work.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Task {
    /// Deliver an outbound text already stored as `queued` (an automatic reply, or a staff text
    /// whose outcome is still open).
    SendText {
        #[serde(rename = "messageId")]
        message_id: Uuid,
    },
    /// Transcribe a stored call recording (the audio stays in the object store; only its id travels).
    TranscribeRecording {
        #[serde(rename = "recordingId")]
        recording_id: Uuid,
    },
}

impl Task {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a task always serializes")
    }

    /// A body that is not a task is a permanent failure: retrying cannot make it one.
    pub fn from_json(body: &str) -> Result<Self, TaskError> {
        serde_json::from_str(body).map_err(|e| TaskError::permanent(format!("malformed task: {e}")))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::SendText { .. } => "send_text",
            Self::TranscribeRecording { .. } => "transcribe_recording",
        }
    }
}

/// Which delivery of a task this is: the last one must settle what it can (flag it for a person)
/// instead of asking for another try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub number: u32,
    pub max: u32,
}

impl Attempt {
    pub fn first_of(max: u32) -> Self {
        Self { number: 1, max }
    }

    pub fn is_last(&self) -> bool {
        self.number >= self.max
    }
}

/// Why a step did not finish, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TaskError {
    /// A passing fault (database or carrier unavailable, an outcome not known yet): try again,
    /// not before `after` when the cause said so.
    #[error("retryable: {reason}")]
    Retryable { reason: String, after: Option<Duration> },
    /// Trying again cannot help (a malformed task, a record that does not exist).
    #[error("permanent: {0}")]
    Permanent(String),
}

impl TaskError {
    pub fn retry(reason: impl Into<String>) -> Self {
        Self::Retryable {
            reason: reason.into(),
            after: None,
        }
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        Self::Permanent(reason.into())
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable { .. })
    }
}

impl From<crate::db::DbError> for TaskError {
    fn from(error: crate::db::DbError) -> Self {
        // A database that cannot be reached now may be reachable in a minute; a query that fails
        // for another reason would fail again, but a bounded number of retries costs little and
        // the dead state keeps it visible.
        Self::retry(error.log_summary())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the queue did not take the task: {0}")]
pub struct QueueError(pub String);

/// Hands tasks to the queue. Callers enqueue after the transaction that recorded the work has
/// committed; the work's own row (e.g. a reply `queued`) is the durable record, and the 15-minute
/// housekeeping hands anything still waiting to the queue again, so a crash in between delays a
/// task and never loses it.
#[async_trait]
pub trait TaskQueue: Send + Sync {
    async fn enqueue(&self, task: &Task) -> Result<(), QueueError>;

    /// The queue as a table in the application's database, when it is one: then a task can be
    /// queued in the same transaction as the record it is about (stored and queued, or neither).
    fn database_queue(&self) -> Option<&postgres::PgQueue> {
        None
    }
}

/// Exponential backoff for the `attempt`-th failure: 10 s, 20 s, 40 s … capped at 15 minutes.
pub fn backoff(attempt: u32) -> Duration {
    let seconds = 10u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(10));
    Duration::from_secs(seconds.min(15 * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_round_trip_as_json_with_ids_only() {
        let task = Task::SendText {
            message_id: Uuid::nil(),
        };
        let json = task.to_json();
        assert_eq!(
            json,
            r#"{"kind":"send_text","messageId":"00000000-0000-0000-0000-000000000000"}"#
        );
        assert_eq!(Task::from_json(&json).unwrap(), task);
    }

    #[test]
    fn malformed_tasks_are_permanent_failures() {
        for body in [
            "",
            "{}",
            r#"{"kind":"nope"}"#,
            r#"{"kind":"send_text","messageId":"x"}"#,
            "[1]",
        ] {
            assert!(!Task::from_json(body).unwrap_err().is_retryable(), "{body}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(2), Duration::from_secs(20));
        assert_eq!(backoff(4), Duration::from_secs(80));
        assert_eq!(backoff(40), Duration::from_secs(900));
        assert!(Attempt { number: 5, max: 5 }.is_last());
        assert!(!Attempt::first_of(5).is_last());
    }
}
