//! The transcription step behind the queue: one recording, done idempotently.

use uuid::Uuid;

use crate::app::AppContext;
use crate::auth::Caller;
use crate::db;
use crate::queue::{Attempt, TaskError};
use crate::store::recordings;

/// Transcribes the recording when a provider is configured. Without one, the recording says
/// `not_configured` (never a made-up transcript) and the task is done.
pub async fn execute(ctx: &AppContext, recording_id: Uuid, _attempt: Attempt) -> Result<(), TaskError> {
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &Caller::service()).await?;
    let Some(recording) = recordings::get_any(&*tx, recording_id).await? else {
        // Deleted since it was queued: nothing to do, ever.
        return Ok(());
    };
    if recording.transcription_status == "completed" {
        return Ok(());
    }
    recordings::set_transcription_status(&*tx, recording.id, "not_configured").await?;
    tx.commit().await.map_err(crate::db::DbError::from)?;
    tracing::warn!(recording = %recording_id, "transcription requested but no provider is configured");
    Ok(())
}
