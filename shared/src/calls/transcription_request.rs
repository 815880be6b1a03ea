//! Asking for a recording's transcription: the row moves to `queued` once, then the task goes to
//! the transcription queue. Whoever moved the row sends the task, so a recording is asked for once
//! however many syncs or downloads race; if the queue refuses, the row moves back so a later sync
//! or download asks again.

use uuid::Uuid;

use crate::app::AppContext;
use crate::auth::Caller;
use crate::db::{self, DbError};
use crate::queue::Task;
use crate::store::recordings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    Queued,
    /// Already queued, done, or not stored.
    AlreadyAsked,
    /// The queue refused; the row is back where it was.
    QueueUnavailable,
}

/// `again` also asks for recordings whose transcription failed or was not configured (a person's
/// request through the download endpoint).
pub async fn request(ctx: &AppContext, recording_id: Uuid, again: bool) -> Result<Requested, DbError> {
    let now = ctx.clock.now();
    let claimed = {
        let mut client = ctx.conn().await?;
        let tx = db::begin_as(&mut client, &Caller::service()).await?;
        let claimed = recordings::claim_transcription(&*tx, recording_id, again, now).await?;
        tx.commit().await?;
        claimed
    };
    if !claimed {
        return Ok(Requested::AlreadyAsked);
    }
    match ctx
        .transcription_queue
        .enqueue(&Task::TranscribeRecording { recording_id })
        .await
    {
        Ok(()) => Ok(Requested::Queued),
        Err(error) => {
            tracing::error!(recording = %recording_id, %error, "transcription request could not be queued");
            let mut client = ctx.conn().await?;
            let tx = db::begin_as(&mut client, &Caller::service()).await?;
            recordings::unclaim_transcription(&*tx, recording_id).await?;
            tx.commit().await?;
            Ok(Requested::QueueUnavailable)
        }
    }
}
