//! Bookkeeping of scheduled job runs.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{self, Conn, DbError};

/// Where the next run of `job` must start reading from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ResumePoint {
    /// The end of the last successful window.
    After(DateTime<Utc>),
    /// No run has succeeded yet: the start of the earliest window ever attempted, so texts are not
    /// lost however long the first runs keep failing.
    RetryFrom(DateTime<Utc>),
    FirstRun,
}

pub async fn resume_point(conn: &impl Conn, practice_id: Uuid, job: &str) -> Result<ResumePoint, DbError> {
    let row = db::query_one(
        conn,
        "SELECT max(window_end) FILTER (WHERE status = 'succeeded'), min(window_start) \
         FROM job_runs WHERE practice_id = $1 AND job = $2",
        &[&practice_id, &job],
    )
    .await?;
    Ok(match (row.get(0), row.get(1)) {
        (Some(end), _) => ResumePoint::After(end),
        (None, Some(start)) => ResumePoint::RetryFrom(start),
        (None, None) => ResumePoint::FirstRun,
    })
}

pub async fn start(
    conn: &impl Conn,
    practice_id: Uuid,
    job: &str,
    started_at: DateTime<Utc>,
    window: (DateTime<Utc>, DateTime<Utc>),
) -> Result<Uuid, DbError> {
    let row = db::query_one(
        conn,
        "INSERT INTO job_runs (practice_id, job, started_at, status, window_start, window_end) \
         VALUES ($1, $2, $3, 'running', $4, $5) RETURNING id",
        &[&practice_id, &job, &started_at, &window.0, &window.1],
    )
    .await?;
    Ok(row.get(0))
}

pub async fn finish(
    conn: &impl Conn,
    id: Uuid,
    finished_at: DateTime<Utc>,
    outcome: Result<&serde_json::Value, &str>,
) -> Result<(), DbError> {
    let (status, stats, error) = match outcome {
        Ok(stats) => ("succeeded", stats.clone(), None),
        Err(error) => ("failed", serde_json::json!({}), Some(error)),
    };
    db::execute(
        conn,
        "UPDATE job_runs SET finished_at = $2, status = $3, stats = $4, error = $5 WHERE id = $1",
        &[&id, &finished_at, &status, &stats, &error],
    )
    .await?;
    Ok(())
}

/// Runs still `running` since before `before` died half way: recorded as failed.
pub async fn fail_abandoned(conn: &impl Conn, before: DateTime<Utc>, now: DateTime<Utc>) -> Result<u64, DbError> {
    db::execute(
        conn,
        "UPDATE job_runs SET status = 'failed', finished_at = $2, error = 'abandoned: the run stopped half way' \
         WHERE status = 'running' AND started_at < $1",
        &[&before, &now],
    )
    .await
}
