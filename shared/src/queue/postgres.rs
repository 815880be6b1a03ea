//! The queue as a Postgres table (`job_queue`), for `pedro serve` and tests. A worker claims the
//! oldest ready task with `FOR UPDATE SKIP LOCKED` (so workers never take the same one), leases it
//! for a while, runs it with no transaction open, then deletes it, schedules a retry with backoff,
//! or marks it dead. A worker that dies mid-task loses its lease and the task runs again.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use serde_json::Value;
use tokio::sync::Notify;

use super::{backoff, Attempt, QueueError, Task, TaskError, TaskQueue};
use crate::clock::Clock;
use crate::db::{self, DbError};

#[derive(Debug, Clone)]
pub struct PgQueueSettings {
    /// Deliveries before a task is dead (`QUEUE_MAX_ATTEMPTS`; SQS's maxReceiveCount on AWS).
    pub max_attempts: u32,
    /// How long a claimed task belongs to its worker (SQS's visibility timeout on AWS).
    pub lease: Duration,
}

impl Default for PgQueueSettings {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            lease: Duration::from_secs(120),
        }
    }
}

#[derive(Clone)]
pub struct PgQueue {
    pool: Pool,
    clock: Arc<dyn Clock>,
    settings: PgQueueSettings,
    /// Wakes an idle in-process worker as soon as a task is enqueued.
    wake: Arc<Notify>,
}

/// What one call of [`PgQueue::try_execute_task`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executed {
    /// Nothing was ready.
    Empty,
    Done(Task),
    /// Failed and scheduled again.
    Retrying(Task),
    /// Failed for good (or was not a task at all): kept as `dead` for an operator.
    Dead(Option<Task>),
}

impl PgQueue {
    /// Queues `task` through `conn`, typically the transaction that stored what the task is about.
    /// Call [`PgQueue::wake`] once it has committed.
    pub async fn enqueue_in(&self, conn: &impl db::Conn, task: &Task) -> Result<(), db::DbError> {
        let body: Value = serde_json::to_value(task).expect("a task always serializes");
        db::execute(
            conn,
            "INSERT INTO job_queue (task, run_at) VALUES ($1, $2)",
            &[&body, &self.clock.now()],
        )
        .await?;
        Ok(())
    }

    /// Wakes an idle in-process worker: a task is waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn new(pool: Pool, clock: Arc<dyn Clock>, settings: PgQueueSettings) -> Self {
        Self {
            pool,
            clock,
            settings,
            wake: Arc::new(Notify::new()),
        }
    }

    pub fn max_attempts(&self) -> u32 {
        self.settings.max_attempts
    }

    /// Claims one ready task and runs `step` on it.
    pub async fn try_execute_task<F, Fut>(&self, step: F) -> Result<Executed, DbError>
    where
        F: FnOnce(Task, Attempt) -> Fut,
        Fut: Future<Output = Result<(), TaskError>>,
    {
        let now = self.clock.now();
        let lease_end = now + chrono::Duration::from_std(self.settings.lease).unwrap_or(chrono::Duration::minutes(2));
        let claimed = {
            let client = self.pool.get().await?;
            db::query_opt(
                &**client,
                "UPDATE job_queue SET status = 'running', attempts = attempts + 1, locked_until = $2 \
                 WHERE id = (SELECT id FROM job_queue \
                     WHERE (status = 'queued' AND run_at <= $1) OR (status = 'running' AND locked_until <= $1) \
                     ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, task, attempts",
                &[&now, &lease_end],
            )
            .await?
        };
        let Some(row) = claimed else {
            return Ok(Executed::Empty);
        };
        let id: i64 = row.get(0);
        let body: Value = row.get(1);
        let attempts: i32 = row.get(2);
        let attempt = Attempt {
            number: attempts.max(1) as u32,
            max: self.settings.max_attempts,
        };
        let (task, result) = match Task::from_json(&body.to_string()) {
            Ok(task) => {
                let result = step(task.clone(), attempt).await;
                (Some(task), result)
            }
            Err(error) => (None, Err(error)),
        };
        let client = self.pool.get().await?;
        match result {
            Ok(()) => {
                // Only the claim this worker holds: a lease that lapsed belongs to another worker now.
                db::execute(
                    &**client,
                    "DELETE FROM job_queue WHERE id = $1 AND attempts = $2 AND status = 'running'",
                    &[&id, &attempts],
                )
                .await?;
                Ok(Executed::Done(task.expect("a finished task was parsed")))
            }
            Err(TaskError::Retryable { reason, after }) if !attempt.is_last() => {
                let wait = after.unwrap_or_default().max(backoff(attempt.number));
                let run_at =
                    self.clock.now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::minutes(15));
                tracing::warn!(task_id = id, attempt = attempt.number, %reason, "task failed; it will be retried");
                db::execute(
                    &**client,
                    "UPDATE job_queue SET status = 'queued', run_at = $2, locked_until = NULL, last_error = $3 \
                     WHERE id = $1 AND attempts = $4 AND status = 'running'",
                    &[&id, &run_at, &reason, &attempts],
                )
                .await?;
                Ok(Executed::Retrying(task.expect("a retried task was parsed")))
            }
            Err(error) => {
                tracing::error!(task_id = id, attempt = attempt.number, %error, "task is dead; an operator must look at it");
                db::execute(
                    &**client,
                    "UPDATE job_queue SET status = 'dead', locked_until = NULL, last_error = $2 \
                     WHERE id = $1 AND attempts = $3 AND status = 'running'",
                    &[&id, &error.to_string(), &attempts],
                )
                .await?;
                Ok(Executed::Dead(task))
            }
        }
    }

    /// Runs every task that is ready now, until none is (tests, and `pedro job drain-queue`).
    pub async fn drain<F, Fut>(&self, step: F) -> Result<Vec<Executed>, DbError>
    where
        F: Fn(Task, Attempt) -> Fut,
        Fut: Future<Output = Result<(), TaskError>>,
    {
        let mut done = Vec::new();
        loop {
            match self.try_execute_task(&step).await? {
                Executed::Empty => return Ok(done),
                executed => done.push(executed),
            }
        }
    }

    /// The production driver under `pedro serve`: runs tasks as they come, waking on enqueue (and
    /// every second, for retries that have come due), until `shutdown` resolves.
    pub async fn run<F, Fut>(&self, step: F, shutdown: impl Future<Output = ()>)
    where
        F: Fn(Task, Attempt) -> Fut,
        Fut: Future<Output = Result<(), TaskError>>,
    {
        tokio::pin!(shutdown);
        loop {
            let idle = match self.try_execute_task(&step).await {
                Ok(Executed::Empty) => true,
                Ok(_) => false,
                Err(error) => {
                    tracing::error!(error = %error.log_summary(), "the task queue could not be read");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

#[async_trait]
impl TaskQueue for PgQueue {
    async fn enqueue(&self, task: &Task) -> Result<(), QueueError> {
        let client = self.pool.get().await.map_err(|e| QueueError(e.to_string()))?;
        self.enqueue_in(&**client, task)
            .await
            .map_err(|e| QueueError(e.log_summary()))?;
        self.wake();
        Ok(())
    }

    fn database_queue(&self) -> Option<&PgQueue> {
        Some(self)
    }
}
