//! Removing recordings: a call deleted by an admin, and the daily retention pass.
//!
//! Rows go first, in one transaction that also queues their objects in `pending_object_deletions`;
//! the objects are deleted after it commits. An object the store would not delete stays queued and
//! the daily pass tries again, so no audio outlives its row for long, and no row points at audio
//! that is gone.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::app::AppContext;
use crate::auth::Caller;
use crate::blob::{BlobKey, BlobStore};
use crate::db::{self, DbError};
use crate::store::{calls, recordings};

#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    pub call_id: Uuid,
    /// Recording objects deleted now.
    pub recordings_deleted: usize,
    /// Recording objects the store did not delete yet (retried daily).
    pub recordings_pending: usize,
}

/// Deletes a call of `practice_id`, its recordings and everything derived from them, for `caller`
/// (an admin of that practice: the endpoint's access layer checked). The rows go as the service
/// role — the client API may not delete them, so nobody skips the tombstones or leaves audio
/// behind — and every statement is scoped to the practice. None when it has no such call.
pub async fn delete_call(
    ctx: &AppContext,
    caller: &Caller,
    practice_id: Uuid,
    call_id: Uuid,
) -> Result<Option<Deleted>, DbError> {
    let now = ctx.clock.now();
    let keys = {
        let mut client = ctx.conn().await?;
        let tx = db::begin_as(&mut client, &Caller::service()).await?;
        let by = caller.subject().unwrap_or("service").to_string();
        let Some(keys) = calls::delete(&*tx, practice_id, call_id, &by, now).await? else {
            return Ok(None);
        };
        tx.commit().await?;
        keys
    };
    let (deleted, pending) = delete_objects(ctx, ctx.blob.as_ref(), &keys).await?;
    tracing::info!(call = %call_id, deleted, pending, "call deleted");
    Ok(Some(Deleted {
        call_id,
        recordings_deleted: deleted,
        recordings_pending: pending,
    }))
}

/// Deletes objects and clears them from the pending list; returns (deleted, still pending).
async fn delete_objects(ctx: &AppContext, blob: &dyn BlobStore, keys: &[String]) -> Result<(usize, usize), DbError> {
    let (mut deleted, mut pending) = (0, 0);
    let mut client = ctx.conn().await?;
    for key in keys {
        let outcome = match BlobKey::parse(key) {
            Ok(blob_key) => blob.delete(&blob_key).await,
            Err(error) => Err(error),
        };
        let tx = db::begin_as(&mut client, &Caller::service()).await?;
        match outcome {
            Ok(()) => {
                recordings::deletion_done(&*tx, key).await?;
                deleted += 1;
            }
            Err(error) => {
                tracing::warn!(%error, "a recording object could not be deleted yet");
                recordings::deletion_failed(&*tx, key, &error.to_string()).await?;
                pending += 1;
            }
        }
        tx.commit().await?;
    }
    Ok((deleted, pending))
}

#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionReport {
    /// `RECORDING_RETENTION_DAYS`, or None: recordings are kept.
    pub retention_days: Option<u32>,
    /// Recordings that passed their retention period on this run.
    pub expired: usize,
    /// Objects deleted (expired now, or left over from earlier deletions).
    pub objects_deleted: usize,
    pub objects_pending: usize,
}

/// Objects taken from the pending list per run.
const PENDING_BATCH: i64 = 5_000;

/// The daily pass: expires recordings older than the retention period, then deletes every
/// object waiting for deletion.
pub async fn retention_pass(ctx: &AppContext) -> Result<RetentionReport, DbError> {
    let now: DateTime<Utc> = ctx.clock.now();
    let days = ctx.settings.calls.recording_retention_days;
    let mut report = RetentionReport {
        retention_days: days,
        ..Default::default()
    };
    let pending = {
        let mut client = ctx.conn().await?;
        let tx = db::begin_as(&mut client, &Caller::service()).await?;
        if let Some(days) = days {
            let cutoff = now - Duration::days(i64::from(days));
            report.expired = recordings::expire_older_than(&*tx, cutoff, now).await?.len();
        }
        let pending = recordings::pending_deletions(&*tx, PENDING_BATCH).await?;
        tx.commit().await?;
        pending
    };
    let (deleted, left) = delete_objects(ctx, ctx.blob.as_ref(), &pending).await?;
    report.objects_deleted = deleted;
    report.objects_pending = left;
    tracing::info!(
        expired = report.expired,
        deleted,
        pending = left,
        "recording retention pass"
    );
    Ok(report)
}
