//! A staff member sends a text in a thread: stored first (as the caller, under row-level security),
//! then delivered part by part ([`super::delivery`]). A delivery whose outcome is not known yet is
//! finished by the queue's worker, never resent blindly.

use serde::Serialize;
use uuid::Uuid;

use super::delivery::{deliver, Delivered, ProviderFailure};
use crate::app::AppContext;
use crate::auth::Caller;
use crate::db::{self, DbError};
use crate::domain::phone::{Did, PhoneNumber};
use crate::store::messages::{self, NewOutbound, Origin};
use crate::store::{conversations, replies};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentText {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub from: String,
    pub provider: Option<String>,
    pub provider_message_ids: Vec<String>,
    /// `sent`, `sandboxed`, `failed`, `unknown`, or `queued` (the worker finishes it).
    pub status: String,
    pub segments: Option<i32>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendTextError {
    #[error("the contact has opted out of texts (replied STOP)")]
    OptedOut,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("no carrier could send the text")]
    Failed {
        text: SentText,
        failures: Vec<ProviderFailure>,
    },
}

/// Sends `body` to `to` from `did` as `caller`.
pub async fn send_text(
    ctx: &AppContext,
    caller: &Caller,
    practice_id: Uuid,
    did: &Did,
    to: &PhoneNumber,
    body: &str,
) -> Result<SentText, SendTextError> {
    let now = ctx.clock.now();
    let (conversation_id, id) = {
        let mut client = ctx.conn().await?;
        let tx = db::begin_as(&mut client, caller).await?;
        if replies::is_opted_out(&*tx, practice_id, to.as_e164()).await? {
            return Err(SendTextError::OptedOut);
        }
        let conversation_id = conversations::ensure(&*tx, practice_id, did.as_e164(), to.as_e164(), now).await?;
        let new = NewOutbound {
            practice_id,
            conversation_id,
            body,
            occurred_at: now,
            origin: Origin::Api,
            category: None,
            reply_to_id: None,
        };
        let id = messages::insert_outbound(&*tx, &new).await?;
        conversations::record_message(&*tx, conversation_id, now, body, false).await?;
        tx.commit().await.map_err(DbError::from)?;
        (conversation_id, id)
    };
    let outcome = deliver(&ctx.db, &ctx.carriers, ctx.clock.as_ref(), id, false).await?;
    if let Delivered::Retry { reason } = &outcome {
        tracing::warn!(message_id = %id, %reason, "send outcome not known yet; the worker finishes it");
        super::delivery::queue(ctx.queue.as_ref(), id).await;
    }
    let stored = {
        let client = ctx.conn().await?;
        messages::get(&**client, id)
            .await?
            .ok_or_else(|| DbError::NoRow(format!("message {id}")))?
    };
    let text = SentText {
        id,
        conversation_id,
        from: did.as_e164().to_string(),
        provider: stored.provider,
        provider_message_ids: stored.provider_message_ids,
        status: if matches!(outcome, Delivered::Retry { .. }) {
            "queued".into()
        } else {
            stored.status
        },
        segments: stored.segments,
    };
    match outcome {
        Delivered::Failed { failures } => Err(SendTextError::Failed { text, failures }),
        Delivered::Cancelled { .. } => Err(SendTextError::OptedOut),
        _ => Ok(text),
    }
}
