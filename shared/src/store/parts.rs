//! The parts of an outbound text and what each carrier answered for them.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{self, Conn, DbError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartStatus {
    Pending,
    Sending,
    Unknown,
    Sent,
    Failed,
}

impl PartStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Unknown => "unknown",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "sending" => Self::Sending,
            "unknown" => Self::Unknown,
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Part {
    pub index: i32,
    pub body: String,
    pub status: PartStatus,
    pub provider: Option<String>,
    pub provider_message_id: Option<String>,
    pub attempted_at: Option<DateTime<Utc>>,
}

pub async fn load(conn: &impl Conn, message_id: Uuid) -> Result<Vec<Part>, DbError> {
    let rows = db::query(
        conn,
        "SELECT part, body, status, provider, provider_message_id, attempted_at FROM sms_message_parts \
         WHERE message_id = $1 ORDER BY part",
        &[&message_id],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| Part {
            index: r.get(0),
            body: r.get(1),
            status: PartStatus::parse(r.get(2)),
            provider: r.get(3),
            provider_message_id: r.get(4),
            attempted_at: r.get(5),
        })
        .collect())
}

/// Writes the parts of a text about to be sent (once: a retry finds them there).
pub async fn create(conn: &impl Conn, practice_id: Uuid, message_id: Uuid, bodies: &[String]) -> Result<(), DbError> {
    db::execute(
        conn,
        "INSERT INTO sms_message_parts (message_id, practice_id, part, body) \
         SELECT $1, $2, ord::int - 1, body FROM unnest($3::text[]) WITH ORDINALITY AS p (body, ord) \
         ON CONFLICT DO NOTHING",
        &[&message_id, &practice_id, &bodies],
    )
    .await?;
    Ok(())
}

/// Records a change of parts `from..=to` (the same carrier answer can cover several parts, when a
/// carrier that splits itself takes the rest of a text).
#[derive(Clone, Copy)]
pub struct PartUpdate<'a> {
    pub status: PartStatus,
    pub provider: &'a str,
    pub provider_message_id: Option<&'a str>,
    pub attempted_at: Option<DateTime<Utc>>,
    pub error: Option<&'a str>,
}

pub async fn update(
    conn: &impl Conn,
    message_id: Uuid,
    parts: std::ops::RangeInclusive<i32>,
    u: &PartUpdate<'_>,
) -> Result<(), DbError> {
    db::execute(
        conn,
        "UPDATE sms_message_parts SET status = $4, provider = $5, provider_message_id = $6, \
             attempted_at = COALESCE($7, attempted_at), error = $8 \
         WHERE message_id = $1 AND part BETWEEN $2 AND $3",
        &[
            &message_id,
            parts.start(),
            parts.end(),
            &u.status.as_str(),
            &u.provider,
            &u.provider_message_id,
            &u.attempted_at,
            &u.error,
        ],
    )
    .await?;
    Ok(())
}

/// Which of `ids` are already recorded for some part of the practice's texts, so a carrier's list
/// of sent texts is not mistaken for another text with the same words.
pub async fn known_ids(conn: &impl Conn, practice_id: Uuid, ids: &[String]) -> Result<Vec<String>, DbError> {
    let rows = db::query(
        conn,
        "SELECT provider_message_id FROM sms_message_parts WHERE practice_id = $1 AND provider_message_id = ANY($2)",
        &[&practice_id, &ids],
    )
    .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
