//! The step function behind both queue drivers (SQS on AWS, the Postgres table under `pedro serve`):
//! one task, done idempotently, with a failure that says whether another try can help.

use crate::app::AppContext;
use crate::queue::{Attempt, Task, TaskError};
use crate::sms::delivery::{self, Delivered};

pub async fn execute(ctx: &AppContext, task: Task, attempt: Attempt) -> Result<(), TaskError> {
    match task {
        Task::SendText { message_id } => {
            let outcome = delivery::deliver(
                &ctx.db,
                &ctx.carriers,
                ctx.clock.as_ref(),
                message_id,
                attempt.is_last(),
            )
            .await
            .map_err(|error| match error {
                // The message is not there (deleted with its practice): nothing to send, ever.
                crate::db::DbError::NoRow(what) => TaskError::permanent(format!("no such text: {what}")),
                other => TaskError::from(other),
            })?;
            match outcome {
                Delivered::Retry { reason } => Err(TaskError::retry(reason)),
                // Sent, or settled and flagged for a person: the task is done either way.
                _ => Ok(()),
            }
        }
        Task::TranscribeRecording { recording_id } => {
            crate::calls::transcribe::execute(ctx, recording_id, attempt).await
        }
    }
}
