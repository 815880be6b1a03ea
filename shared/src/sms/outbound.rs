//! Sending a text in a thread: stored first, then handed to the carriers, then recorded as sent or
//! failed — and a failure is flagged on the thread for a person.

use serde::Serialize;
use uuid::Uuid;

use super::gateway::{OutboundSms, ProviderFailure};
use crate::app::AppContext;
use crate::auth::Caller;
use crate::db;
use crate::db::DbError;
use crate::domain::auto_reply::ReplyKind;
use crate::domain::phone::{Did, PhoneNumber};
use crate::domain::practice::Practice;
use crate::store::messages::{self, NewOutbound, Origin, SendResult};
use crate::store::{conversations, replies};

/// Why a text is sent.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    Staff,
    AutoReply { kind: ReplyKind, reply_to: Uuid },
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentText {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub provider: Option<&'static str>,
    pub provider_message_ids: Vec<String>,
    pub status: &'static str,
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

/// Sends as `caller` (staff through the API, the service role for automatic replies): every
/// database step runs under that caller's row-level security.
pub async fn send_text(
    ctx: &AppContext,
    caller: &Caller,
    practice: &Practice,
    did: &Did,
    to: &PhoneNumber,
    body: &str,
    purpose: Purpose,
) -> Result<SentText, SendTextError> {
    let now = ctx.clock.now();
    let (origin, category, reply_to_id) = match purpose {
        Purpose::Staff => (Origin::Api, None, None),
        Purpose::AutoReply { kind, reply_to } => (Origin::AutoReply, Some(kind.as_str()), Some(reply_to)),
    };
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, caller).await?;
    // The opt-out confirmation is the one text that goes to a number that has just opted out.
    let confirms_opt_out = matches!(
        purpose,
        Purpose::AutoReply {
            kind: ReplyKind::OptOut,
            ..
        }
    );
    if !confirms_opt_out && replies::is_opted_out(&*tx, practice.id, to.as_e164()).await? {
        return Err(SendTextError::OptedOut);
    }
    let (conversation_id, id) = {
        let conversation_id = conversations::ensure(&*tx, practice.id, did.as_e164(), to.as_e164(), now).await?;
        let new = NewOutbound {
            practice_id: practice.id,
            conversation_id,
            body,
            occurred_at: now,
            origin,
            category,
            reply_to_id,
        };
        let id = messages::insert_outbound(&*tx, &new).await?;
        conversations::record_message(&*tx, conversation_id, now, body, false).await?;
        tx.commit().await.map_err(DbError::from)?;
        (conversation_id, id)
    };
    // Carriers can take seconds; hold no connection meanwhile.
    drop(client);

    let outcome = ctx
        .sms
        .send(&OutboundSms {
            practice_id: practice.id,
            from: did,
            to,
            body,
        })
        .await;
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, caller).await?;
    match outcome {
        Ok(receipt) => {
            let status = if receipt.provider == super::gateway::Provider::Sandbox {
                "sandboxed"
            } else {
                "sent"
            };
            let segments = Some(receipt.segments as i32);
            let result = SendResult {
                provider: Some(receipt.provider.as_str()),
                provider_message_ids: &receipt.message_ids,
                status,
                segments,
                error: None,
            };
            messages::finish_outbound(&*tx, id, &result).await?;
            tx.commit().await.map_err(DbError::from)?;
            tracing::info!(message_id = %id, provider = receipt.provider.as_str(), to = %to.masked(), segments, "text sent");
            Ok(SentText {
                id,
                conversation_id,
                provider: Some(receipt.provider.as_str()),
                provider_message_ids: receipt.message_ids,
                status,
                segments,
            })
        }
        Err(error) => {
            let reason = format!("text could not be sent: {}", error.summary());
            let result = SendResult {
                provider: None,
                provider_message_ids: &error.sent_ids,
                status: "failed",
                segments: None,
                error: Some(&reason),
            };
            messages::finish_outbound(&*tx, id, &result).await?;
            conversations::flag_for_review(&*tx, conversation_id, &reason).await?;
            if error.failures.iter().any(|f| f.recipient_opted_out) {
                // The carrier knows the patient said STOP: nothing more goes to them, on any carrier.
                replies::opt_out(&*tx, practice.id, to.as_e164(), now).await?;
                tracing::info!(contact = %to.masked(), "carrier reports the recipient opted out; recorded");
            }
            tx.commit().await.map_err(DbError::from)?;
            tracing::error!(message_id = %id, to = %to.masked(), reason = %error.redacted_summary(), "text failed on every carrier");
            let text = SentText {
                id,
                conversation_id,
                provider: None,
                provider_message_ids: error.sent_ids,
                status: "failed",
                segments: None,
            };
            Err(SendTextError::Failed {
                text,
                failures: error.failures,
            })
        }
    }
}
