//! Text messages, inbound and outbound.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Row;
use uuid::Uuid;

use super::conversations::Cursor;
use crate::db::{self, Conn, DbError};
use crate::sms::gateway::Provider;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Webhook,
    CheckSms,
    Api,
    AutoReply,
}

impl Origin {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::CheckSms => "check_sms",
            Self::Api => "api",
            Self::AutoReply => "auto_reply",
        }
    }
}

pub struct NewInbound<'a> {
    pub practice_id: Uuid,
    pub conversation_id: Uuid,
    pub body: &'a str,
    pub media_urls: Vec<String>,
    pub occurred_at: DateTime<Utc>,
    pub origin: Origin,
    /// The carrier that delivered it; its id is unique per practice and carrier.
    pub provider: Provider,
    pub provider_message_id: &'a str,
    pub provider_date: Option<&'a str>,
}

/// Stores an inbound message once per carrier id. `None` when it is already stored (a duplicate
/// delivery, also one racing this one: the unique index decides).
pub async fn insert_inbound(conn: &impl Conn, m: &NewInbound<'_>) -> Result<Option<Uuid>, DbError> {
    let row = db::query_opt(
        conn,
        "INSERT INTO sms_messages (practice_id, conversation_id, direction, body, media_urls, occurred_at, origin, \
             provider, provider_message_id, provider_date, status, answering_at) \
         VALUES ($1, $2, 'inbound', $3, $4, $5, $6, $9, $7, $8, 'received', now()) \
         ON CONFLICT (practice_id, provider, provider_message_id) WHERE direction = 'inbound' DO NOTHING \
         RETURNING id",
        &[
            &m.practice_id,
            &m.conversation_id,
            &m.body,
            &m.media_urls,
            &m.occurred_at,
            &m.origin.as_str(),
            &m.provider_message_id,
            &m.provider_date,
            &m.provider.as_str(),
        ],
    )
    .await?;
    Ok(row.map(|r| r.get(0)))
}

/// The stored copy of an inbound message.
pub struct StoredInbound {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub needs_review: bool,
    /// False when processing stopped between storing and answering (a crash, an outage).
    pub answered: bool,
}

pub async fn find_inbound(
    conn: &impl Conn,
    practice_id: Uuid,
    provider: Provider,
    provider_message_id: &str,
) -> Result<Option<StoredInbound>, DbError> {
    let row = db::query_opt(
        conn,
        "SELECT id, conversation_id, needs_review, answered_at IS NOT NULL FROM sms_messages \
         WHERE practice_id = $1 AND provider = $3 AND provider_message_id = $2 AND direction = 'inbound'",
        &[&practice_id, &provider_message_id, &provider.as_str()],
    )
    .await?;
    Ok(row.map(|r| StoredInbound {
        id: r.get(0),
        conversation_id: r.get(1),
        needs_review: r.get(2),
        answered: r.get(3),
    }))
}

/// Takes on answering a stored text that was never answered, unless another delivery is doing it
/// right now (within the last two minutes). True for the one delivery that gets it.
pub async fn claim_answering(conn: &impl Conn, id: Uuid) -> Result<bool, DbError> {
    let row = db::query_opt(
        conn,
        "UPDATE sms_messages SET answering_at = now() WHERE id = $1 AND answered_at IS NULL \
         AND (answering_at IS NULL OR answering_at < now() - interval '2 minutes') RETURNING id",
        &[&id],
    )
    .await?;
    Ok(row.is_some())
}

/// Records what the auto-responder made of an inbound message.
pub async fn annotate_inbound(
    conn: &impl Conn,
    id: Uuid,
    category: Option<&str>,
    review_reason: Option<&str>,
) -> Result<(), DbError> {
    db::execute(
        conn,
        "UPDATE sms_messages SET auto_response_category = $2, needs_review = $3, review_reason = $4, answered_at = now() WHERE id = $1",
        &[&id, &category, &review_reason.is_some(), &review_reason],
    )
    .await?;
    Ok(())
}

pub struct NewOutbound<'a> {
    pub practice_id: Uuid,
    pub conversation_id: Uuid,
    pub body: &'a str,
    pub occurred_at: DateTime<Utc>,
    pub origin: Origin,
    pub category: Option<&'a str>,
    pub reply_to_id: Option<Uuid>,
}

/// Stores an outbound message as `sending` before any carrier is called, so a crash mid-send
/// leaves a visible record rather than nothing.
pub async fn insert_outbound(conn: &impl Conn, m: &NewOutbound<'_>) -> Result<Uuid, DbError> {
    let row = db::query_one(
        conn,
        "INSERT INTO sms_messages (practice_id, conversation_id, direction, body, occurred_at, origin, status, \
             auto_response_category, reply_to_id) \
         VALUES ($1, $2, 'outbound', $3, $4, $5, 'sending', $6, $7) RETURNING id",
        &[
            &m.practice_id,
            &m.conversation_id,
            &m.body,
            &m.occurred_at,
            &m.origin.as_str(),
            &m.category,
            &m.reply_to_id,
        ],
    )
    .await?;
    Ok(row.get(0))
}

pub struct SendResult<'a> {
    pub provider: Option<&'a str>,
    pub provider_message_ids: &'a [String],
    pub status: &'a str,
    pub segments: Option<i32>,
    pub error: Option<&'a str>,
}

pub async fn finish_outbound(conn: &impl Conn, id: Uuid, r: &SendResult<'_>) -> Result<(), DbError> {
    db::execute(
        conn,
        "UPDATE sms_messages SET provider = $2, provider_message_ids = $3, status = $4, segments = $5, error = $6, \
             needs_review = ($4 = 'failed'), review_reason = CASE WHEN $4 = 'failed' THEN $6 END \
         WHERE id = $1",
        &[
            &id,
            &r.provider,
            &r.provider_message_ids,
            &r.status,
            &r.segments,
            &r.error,
        ],
    )
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredMessage {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub direction: String,
    pub body: String,
    pub media_urls: Vec<String>,
    pub occurred_at: DateTime<Utc>,
    pub origin: String,
    pub provider: Option<String>,
    pub provider_message_ids: Vec<String>,
    pub status: String,
    pub error: Option<String>,
    pub segments: Option<i32>,
    pub auto_response_category: Option<String>,
    pub reply_to_id: Option<Uuid>,
    pub needs_review: bool,
    pub review_reason: Option<String>,
}

fn stored(row: &Row) -> StoredMessage {
    let direction: String = row.get("direction");
    let mut provider_message_ids: Vec<String> = row.get("provider_message_ids");
    if direction == "inbound" {
        provider_message_ids = row
            .get::<_, Option<String>>("provider_message_id")
            .into_iter()
            .collect();
    }
    StoredMessage {
        id: row.get("id"),
        conversation_id: row.get("conversation_id"),
        direction,
        body: row.get("body"),
        media_urls: row.get("media_urls"),
        occurred_at: row.get("occurred_at"),
        origin: row.get("origin"),
        provider: row.get("provider"),
        provider_message_ids,
        status: row.get("status"),
        error: row.get("error"),
        segments: row.get("segments"),
        auto_response_category: row.get("auto_response_category"),
        reply_to_id: row.get("reply_to_id"),
        needs_review: row.get("needs_review"),
        review_reason: row.get("review_reason"),
    }
}

const MESSAGE: &str = "SELECT id, conversation_id, direction, body, media_urls, occurred_at, origin, provider, \
     provider_message_id, provider_message_ids, status, error, segments, auto_response_category, reply_to_id, \
     needs_review, review_reason FROM sms_messages";

/// A thread's messages, newest first.
pub async fn list(
    conn: &impl Conn,
    conversation_id: Uuid,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<StoredMessage>, DbError> {
    let sql = format!(
        "{MESSAGE} WHERE conversation_id = $1 AND ($2::timestamptz IS NULL OR (occurred_at, id) < ($2, $3)) \
         ORDER BY occurred_at DESC, id DESC LIMIT $4"
    );
    let rows = db::query(
        conn,
        &sql,
        &[&conversation_id, &after.map(|c| c.at), &after.map(|c| c.id), &limit],
    )
    .await?;
    Ok(rows.iter().map(stored).collect())
}

/// Outbound texts stuck in `sending` since before `before` (the process died between storing and
/// hearing from the carrier): marked failed and flagged, since nobody knows if they arrived.
/// Returns how many.
pub async fn fail_interrupted_sends(conn: &impl Conn, before: DateTime<Utc>) -> Result<u64, DbError> {
    let reason = "interrupted before the carrier answered; it may or may not have been delivered";
    let rows = db::query(
        conn,
        "UPDATE sms_messages SET status = 'failed', error = $2, needs_review = true, review_reason = $2 \
         WHERE direction = 'outbound' AND status = 'sending' AND occurred_at < $1 RETURNING conversation_id",
        &[&before, &reason],
    )
    .await?;
    let conversations: Vec<Uuid> = rows.iter().map(|r| r.get(0)).collect();
    db::execute(
        conn,
        "UPDATE sms_conversations SET needs_review = true, review_reason = $2 WHERE id = ANY($1)",
        &[&conversations, &reason],
    )
    .await?;
    Ok(rows.len() as u64)
}
