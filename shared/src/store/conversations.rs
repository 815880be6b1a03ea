//! Conversation threads: one per practice DID and contact.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::db::{self, Conn, DbError};
use crate::domain::review::Flag;

/// How much of the last message a list shows.
const PREVIEW_CHARS: usize = 100;

pub fn preview(body: &str) -> String {
    let mut preview: String = body.chars().take(PREVIEW_CHARS).collect();
    if body.chars().count() > PREVIEW_CHARS {
        preview.push('…');
    }
    preview
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSummary {
    pub id: Uuid,
    pub did: String,
    pub contact_number: String,
    pub last_message_preview: Option<String>,
    pub last_message_at: DateTime<Utc>,
    pub unread_count: i32,
    pub needs_review: bool,
    pub review_reason: Option<String>,
    pub opted_out: bool,
}

const SUMMARY: &str = "SELECT c.id, c.did, c.contact, c.last_message_at, c.last_message_preview, c.unread_count, \
     c.needs_review, c.review_reason, (o.contact IS NOT NULL) AS opted_out \
     FROM sms_conversations c \
     LEFT JOIN sms_opt_outs o ON o.practice_id = c.practice_id AND o.contact = c.contact";

fn summary(row: &Row) -> ConversationSummary {
    ConversationSummary {
        id: row.get("id"),
        did: row.get("did"),
        contact_number: row.get("contact"),
        last_message_preview: row.get("last_message_preview"),
        last_message_at: row.get("last_message_at"),
        unread_count: row.get("unread_count"),
        needs_review: row.get("needs_review"),
        review_reason: row.get("review_reason"),
        opted_out: row.get("opted_out"),
    }
}

/// The thread's id, creating it if needed. Does not count a message yet. (The conflict branch is a
/// no-op update so RETURNING yields the id; it sets a column members may update.)
pub async fn ensure(
    conn: &impl Conn,
    practice_id: Uuid,
    did: &str,
    contact: &str,
    at: DateTime<Utc>,
) -> Result<Uuid, DbError> {
    let row = db::query_one(
        conn,
        "INSERT INTO sms_conversations AS c (practice_id, did, contact, last_message_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (practice_id, did, contact) DO UPDATE SET last_message_at = c.last_message_at RETURNING id",
        &[&practice_id, &did, &contact, &at],
    )
    .await?;
    Ok(row.get(0))
}

/// The DID of the thread the contact last wrote in, if any.
pub async fn last_inbound_did(conn: &impl Conn, practice_id: Uuid, contact: &str) -> Result<Option<String>, DbError> {
    let row = db::query_opt(
        conn,
        "SELECT c.did FROM sms_messages m JOIN sms_conversations c ON c.id = m.conversation_id \
         WHERE c.practice_id = $1 AND c.contact = $2 AND m.direction = 'inbound' \
         ORDER BY m.occurred_at DESC LIMIT 1",
        &[&practice_id, &contact],
    )
    .await?;
    Ok(row.map(|r| r.get(0)))
}

pub async fn practice_owns_did(conn: &impl Conn, practice_id: Uuid, did: &str) -> Result<bool, DbError> {
    let row = db::query_opt(
        conn,
        "SELECT 1 FROM practice_dids WHERE practice_id = $1 AND did = $2",
        &[&practice_id, &did],
    )
    .await?;
    Ok(row.is_some())
}

/// Counts a new message in its thread: latest time and preview (out-of-order deliveries keep the
/// newest), and one more unread when it came from the contact.
pub async fn record_message(
    conn: &impl Conn,
    id: Uuid,
    at: DateTime<Utc>,
    body: &str,
    inbound: bool,
) -> Result<(), DbError> {
    db::execute(
        conn,
        "UPDATE sms_conversations SET \
             last_message_preview = CASE WHEN $2 >= last_message_at OR last_message_preview IS NULL THEN $3 ELSE last_message_preview END, \
             last_message_at = GREATEST(last_message_at, $2), \
             unread_count = unread_count + CASE WHEN $4 THEN 1 ELSE 0 END \
         WHERE id = $1",
        &[&id, &at, &preview(body), &inbound],
    )
    .await?;
    Ok(())
}

/// Flags the thread for a person. The thread keeps its most serious open reason: a less serious
/// flag never replaces a more serious one (an equal one replaces it: it is newer).
pub async fn flag_for_review(conn: &impl Conn, id: Uuid, flag: &Flag) -> Result<(), DbError> {
    db::execute(
        conn,
        "UPDATE sms_conversations SET needs_review = true, \
             review_reason = CASE WHEN needs_review AND review_severity > $3 THEN review_reason ELSE $2 END, \
             review_severity = CASE WHEN needs_review AND review_severity > $3 THEN review_severity ELSE $3 END \
         WHERE id = $1",
        &[&id, &flag.reason, &(flag.severity.as_i16() as i32)],
    )
    .await?;
    Ok(())
}

/// A person has dealt with the thread up to message `up_to` (by default, everything in it now):
/// clears those messages' flags (their reasons stay as history, with `now` as when they were
/// reviewed) and their unread count. Messages after it keep their flags, and the thread shows the
/// most serious of them. False when there is no such conversation (or message) in the practice.
/// Run it in a transaction.
pub async fn mark_reviewed(
    conn: &impl Conn,
    practice_id: Uuid,
    id: Uuid,
    up_to: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let row = db::query_opt(
        conn,
        "SELECT c.id, m.occurred_at, m.id FROM sms_conversations c \
         LEFT JOIN sms_messages m ON m.id = $3 AND m.conversation_id = c.id \
         WHERE c.id = $1 AND c.practice_id = $2 FOR UPDATE OF c",
        &[&id, &practice_id, &up_to],
    )
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    let boundary: Option<DateTime<Utc>> = row.get(1);
    if up_to.is_some() && boundary.is_none() {
        return Ok(false);
    }
    let boundary_id: Option<Uuid> = row.get(2);
    db::execute(
        conn,
        "UPDATE sms_messages SET needs_review = false, reviewed_at = $4 WHERE conversation_id = $1 AND needs_review \
         AND ($2::timestamptz IS NULL OR (occurred_at, id) <= ($2, $3))",
        &[&id, &boundary, &boundary_id, &now],
    )
    .await?;
    db::execute(
        conn,
        "UPDATE sms_conversations c SET needs_review = open.reason IS NOT NULL, review_reason = open.reason, \
             review_severity = COALESCE(open.severity, 0), \
             unread_count = (SELECT count(*) FROM sms_messages m WHERE m.conversation_id = c.id \
                 AND m.direction = 'inbound' AND $2::timestamptz IS NOT NULL AND (m.occurred_at, m.id) > ($2, $3)) \
         FROM (SELECT max(r.review_reason) AS reason, max(r.review_severity) AS severity FROM ( \
                 SELECT review_reason, review_severity FROM sms_messages WHERE conversation_id = $1 AND needs_review \
                 ORDER BY review_severity DESC, occurred_at DESC LIMIT 1) r) open \
         WHERE c.id = $1",
        &[&id, &boundary, &boundary_id],
    )
    .await?;
    Ok(true)
}

pub async fn get(conn: &impl Conn, practice_id: Uuid, id: Uuid) -> Result<Option<ConversationSummary>, DbError> {
    let sql = format!("{SUMMARY} WHERE c.id = $1 AND c.practice_id = $2");
    Ok(db::query_opt(conn, &sql, &[&id, &practice_id])
        .await?
        .as_ref()
        .map(summary))
}

/// Position in a newest-first list: the last item's time and id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}_{}", self.at.timestamp_micros(), self.id.simple())
    }

    /// None for anything this API did not hand out, including times Postgres cannot store.
    pub fn decode(s: &str) -> Option<Self> {
        let (micros, id) = s.split_once('_')?;
        let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        if !(1..=9999).contains(&chrono::Datelike::year(&at)) {
            return None;
        }
        Some(Self {
            at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: Uuid::parse_str(id).ok()?,
        })
    }
}

pub async fn list(
    conn: &impl Conn,
    practice_id: Uuid,
    needs_review: Option<bool>,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<ConversationSummary>, DbError> {
    let sql = format!(
        "{SUMMARY} WHERE c.practice_id = $1 AND ($2::bool IS NULL OR c.needs_review = $2) \
         AND ($3::timestamptz IS NULL OR (c.last_message_at, c.id) < ($3, $4)) \
         ORDER BY c.last_message_at DESC, c.id DESC LIMIT $5"
    );
    let rows = db::query(
        conn,
        &sql,
        &[
            &practice_id,
            &needs_review,
            &after.map(|c| c.at),
            &after.map(|c| c.id),
            &limit,
        ],
    )
    .await?;
    Ok(rows.iter().map(summary).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let cursor = Cursor {
            at: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
            id: Uuid::new_v4(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        let ancient = format!("-2713980018778186262_{}", Uuid::nil().simple());
        for bad in ["", "abc", "1_notauuid", "x_00000000000000000000000000000000", &ancient] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn preview_is_short_and_marked() {
        assert_eq!(preview("hi"), "hi");
        let long = "é".repeat(150);
        assert_eq!(preview(&long).chars().count(), 101);
        assert!(preview(&long).ends_with('…'));
    }
}
