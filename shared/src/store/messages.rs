//! Text messages, inbound and outbound.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Row;
use uuid::Uuid;

use super::conversations::Cursor;
use crate::db::{self, Conn, DbError};
use crate::domain::review::Flag;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Webhook,
    CheckSms,
    Api,
    AutoReply,
    TwilioWebhook,
    /// Missed-call text-back.
    MissedCall,
}

impl Origin {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::CheckSms => "check_sms",
            Self::Api => "api",
            Self::AutoReply => "auto_reply",
            Self::TwilioWebhook => "twilio_webhook",
            Self::MissedCall => "missed_call",
        }
    }
}

/// The stored copy of an inbound message.
pub struct StoredInbound {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub needs_review: bool,
    pub category: Option<String>,
}

pub async fn find_inbound(
    conn: &impl Conn,
    practice_id: Uuid,
    provider: &str,
    provider_message_id: &str,
) -> Result<Option<StoredInbound>, DbError> {
    let row = db::query_opt(
        conn,
        "SELECT id, conversation_id, needs_review, auto_response_category FROM sms_messages \
         WHERE practice_id = $1 AND provider = $2 AND provider_message_id = $3 AND direction = 'inbound'",
        &[&practice_id, &provider, &provider_message_id],
    )
    .await?;
    Ok(row.map(|r| StoredInbound {
        id: r.get(0),
        conversation_id: r.get(1),
        needs_review: r.get(2),
        category: r.get(3),
    }))
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

/// Stores an outbound message as `queued`, before any carrier is called: it is the durable record
/// that the text must go out, whatever happens to the process that stored it.
pub async fn insert_outbound(conn: &impl Conn, m: &NewOutbound<'_>) -> Result<Uuid, DbError> {
    let row = db::query_one(
        conn,
        "INSERT INTO sms_messages (practice_id, conversation_id, direction, body, occurred_at, origin, status, \
             auto_response_category, reply_to_id) \
         VALUES ($1, $2, 'outbound', $3, $4, $5, 'queued', $6, $7) RETURNING id",
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

/// The final state of an outbound text.
pub struct Settled<'a> {
    pub status: &'a str,
    pub provider: Option<&'a str>,
    pub provider_message_ids: &'a [String],
    pub segments: Option<i32>,
    pub error: Option<&'a str>,
    pub flag: Option<&'a Flag>,
}

pub async fn settle_outbound(conn: &impl Conn, id: Uuid, r: &Settled<'_>) -> Result<(), DbError> {
    db::execute(
        conn,
        "UPDATE sms_messages SET provider = $2, provider_message_ids = $3, status = $4, segments = $5, error = $6, \
             needs_review = $7 IS NOT NULL, review_reason = $7, review_severity = $8, delivering_until = NULL \
         WHERE id = $1",
        &[
            &id,
            &r.provider,
            &r.provider_message_ids,
            &r.status,
            &r.segments,
            &r.error,
            &r.flag.map(|f| f.reason.as_str()),
            &r.flag.map_or(0, |f| f.severity.as_i16() as i32),
        ],
    )
    .await?;
    Ok(())
}

/// The outbound message, for answering the API after a delivery.
pub async fn get(conn: &impl Conn, id: Uuid) -> Result<Option<StoredMessage>, DbError> {
    let sql = format!("{MESSAGE} WHERE id = $1");
    Ok(db::query_opt(conn, &sql, &[&id]).await?.as_ref().map(stored))
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

/// Outbound texts still `queued` or `sending` since before `before`: their task was lost (a crash
/// between commit and enqueue) or their worker died. They are handed to the queue again; the
/// delivery looks up any part whose answer was lost before resending anything.
pub async fn stalled_outbound(conn: &impl Conn, before: DateTime<Utc>) -> Result<Vec<Uuid>, DbError> {
    let rows = db::query(
        conn,
        "SELECT id FROM sms_messages WHERE direction = 'outbound' AND status IN ('queued', 'sending') \
         AND occurred_at < $1 ORDER BY occurred_at LIMIT 1000",
        &[&before],
    )
    .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
