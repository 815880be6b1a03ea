//! The statements of one inbound text, shaped for few round trips: everything the decision needs is
//! read in one statement, the text and its thread are written in one, and the decision (the
//! annotation, the reply, the thread's preview and flag) in one more. `sms::inbound` runs them in
//! one transaction; the statement count is pinned by `tests/integration/round_trips.rs`.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use super::conversations::preview;
use super::practices;
use super::replies::{RuleRow, RuleSet};
use crate::db::{self, Conn, DbError};
use crate::domain::practice::Practice;
use crate::domain::review::Flag;

/// What deciding a text to one of `practice`'s DIDs needs, read at once.
pub struct InboundContext {
    pub practice: Practice,
    /// The practice's webhook secrets still valid (hashes): the delivery's credential is checked
    /// against these in the same transaction that stores it.
    pub secret_hashes: Vec<Vec<u8>>,
    /// The sender is one of our own DIDs (a loop between two practices' numbers).
    pub sender_is_own_did: bool,
    pub sender_opted_out: bool,
    pub rules: RuleSet,
}

/// The practice that owns `did` (E.164) with its secrets valid at `now`, its enabled rules and what
/// is known of `sender`; None when no practice owns the DID.
pub async fn context(
    conn: &impl Conn,
    did: &str,
    sender: &str,
    now: DateTime<Utc>,
) -> Result<Option<InboundContext>, DbError> {
    let sql = format!(
        "SELECT {columns}, \
             ARRAY(SELECT w.secret_hash FROM webhook_secrets w \
                   WHERE w.practice_id = p.id AND (w.expires_at IS NULL OR w.expires_at > $3)) AS secret_hashes, \
             EXISTS (SELECT 1 FROM practice_dids own WHERE own.did = $2) AS sender_is_own_did, \
             EXISTS (SELECT 1 FROM sms_opt_outs o WHERE o.practice_id = p.id AND o.contact = $2) AS sender_opted_out, \
             (SELECT coalesce(json_agg(json_build_object('category', r.category, 'priority', r.priority, \
                         'keywords', r.keywords, 'weak_keywords', r.weak_keywords, \
                         'context_keywords', r.context_keywords, 'negations', r.negations, \
                         'exclusions', r.exclusions, 'reply_template', r.reply_template) \
                     ORDER BY r.priority DESC, r.category), '[]'::json) \
              FROM auto_response_rules r WHERE r.practice_id = p.id AND r.enabled) AS rules \
         FROM practices p JOIN practice_dids d ON d.practice_id = p.id WHERE d.did = $1",
        columns = practices::COLUMNS
    );
    let Some(row) = db::query_opt(conn, &sql, &[&did, &sender, &now]).await? else {
        return Ok(None);
    };
    Ok(Some(InboundContext {
        practice: practices::from_row(&row),
        secret_hashes: row.get("secret_hashes"),
        sender_is_own_did: row.get("sender_is_own_did"),
        sender_opted_out: row.get("sender_opted_out"),
        rules: rules_from(&row),
    }))
}

fn rules_from(row: &Row) -> RuleSet {
    let value: serde_json::Value = row.get("rules");
    match serde_json::from_value::<Vec<RuleRow>>(value) {
        Ok(rows) => RuleSet::from_rows(rows),
        // The columns are typed and NOT NULL, so this cannot happen short of a schema change; with
        // no rules every text goes to a person, which is safe.
        Err(error) => {
            tracing::error!(%error, "unreadable automatic-reply rules; answering nothing automatically");
            RuleSet::default()
        }
    }
}

/// A new inbound text as the carrier gave it (the decision comes later, in [`settle`]).
pub struct NewText<'a> {
    pub practice_id: Uuid,
    pub did: &'a str,
    pub contact: &'a str,
    pub body: &'a str,
    pub media_urls: &'a [String],
    /// The text's own time (the carrier's date when it gave one).
    pub occurred_at: DateTime<Utc>,
    pub arrived_at: DateTime<Utc>,
    pub origin: &'a str,
    pub provider: &'a str,
    pub provider_message_id: &'a str,
    pub provider_date: Option<&'a str>,
}

/// Where a stored text went.
pub struct Stored {
    pub conversation_id: Uuid,
    /// None when the carrier's id was stored before: a redelivery. Roll the transaction back (the
    /// thread's count and preview were touched in the same statement).
    pub message_id: Option<Uuid>,
}

/// Stores the text in its thread (created if new) and counts it there — latest time and preview
/// (an out-of-order delivery keeps the newest) and one more unread — in one statement.
pub async fn store(conn: &impl Conn, text: &NewText<'_>) -> Result<Stored, DbError> {
    let row = db::query_one(
        conn,
        "WITH thread AS ( \
             INSERT INTO sms_conversations AS c (practice_id, did, contact, last_message_at, last_message_preview, unread_count) \
             VALUES ($1, $2, $3, $4, $5, 1) \
             ON CONFLICT (practice_id, did, contact) DO UPDATE SET \
                 last_message_preview = CASE WHEN EXCLUDED.last_message_at >= c.last_message_at \
                     OR c.last_message_preview IS NULL THEN EXCLUDED.last_message_preview ELSE c.last_message_preview END, \
                 last_message_at = GREATEST(c.last_message_at, EXCLUDED.last_message_at), \
                 unread_count = c.unread_count + 1 \
             RETURNING id), \
         message AS ( \
             INSERT INTO sms_messages (practice_id, conversation_id, direction, body, media_urls, occurred_at, \
                 arrived_at, origin, provider, provider_message_id, provider_date, status, needs_review, \
                 review_severity, answered_at) \
             SELECT $1, thread.id, 'inbound', $6, $7, $4, $8, $9, $10, $11, $12, 'received', false, 0, $8 FROM thread \
             ON CONFLICT (practice_id, provider, provider_message_id) WHERE direction = 'inbound' DO NOTHING \
             RETURNING id) \
         SELECT (SELECT id FROM thread), (SELECT id FROM message)",
        &[
            &text.practice_id,
            &text.did,
            &text.contact,
            &text.occurred_at,
            &preview(text.body),
            &text.body,
            &text.media_urls,
            &text.arrived_at,
            &text.origin,
            &text.provider,
            &text.provider_message_id,
            &text.provider_date,
        ],
    )
    .await?;
    Ok(Stored {
        conversation_id: row.get(0),
        message_id: row.get(1),
    })
}

/// The automatic reply to queue with a decision.
pub struct Reply<'a> {
    pub body: &'a str,
    pub at: DateTime<Utc>,
    /// Not stored when this contact has opted out by the time the reply is written: a STOP in the
    /// same thread, committed while this text waited for the thread's row, is seen here (None for
    /// the consent confirmations themselves).
    pub unless_opted_out: Option<&'a str>,
}

/// Records what was decided about inbound `message_id` in one statement: its category and flag, the
/// automatic reply stored as `queued` (returned; None also when the contact opted out meanwhile, see
/// [`Reply::unless_opted_out`]), and the thread's preview and flag. A flag never replaces a more
/// serious open one on the thread.
pub async fn settle(
    conn: &impl Conn,
    practice_id: Uuid,
    conversation_id: Uuid,
    message_id: Uuid,
    category: Option<&str>,
    flag: Option<&Flag>,
    reply: Option<&Reply<'_>>,
) -> Result<Option<Uuid>, DbError> {
    let row = db::query_one(
        conn,
        "WITH annotated AS ( \
             UPDATE sms_messages SET auto_response_category = $4, needs_review = $5::text IS NOT NULL, \
                 review_reason = $5, review_severity = $6 \
             WHERE id = $3), \
         reply AS ( \
             INSERT INTO sms_messages (practice_id, conversation_id, direction, body, occurred_at, origin, status, \
                 auto_response_category, reply_to_id) \
             SELECT $1, $2, 'outbound', $7, $8, 'auto_reply', 'queued', $4, $3 WHERE $7::text IS NOT NULL \
               AND ($10::text IS NULL OR NOT EXISTS \
                   (SELECT 1 FROM sms_opt_outs o WHERE o.practice_id = $1 AND o.contact = $10)) \
             RETURNING id), \
         thread AS ( \
             UPDATE sms_conversations SET \
                 last_message_preview = CASE WHEN r.replied \
                     AND ($8 >= last_message_at OR last_message_preview IS NULL) THEN $9 ELSE last_message_preview END, \
                 last_message_at = CASE WHEN r.replied THEN GREATEST(last_message_at, $8) \
                     ELSE last_message_at END, \
                 needs_review = needs_review OR $5::text IS NOT NULL, \
                 review_reason = CASE WHEN $5::text IS NULL OR (needs_review AND review_severity > $6) \
                     THEN review_reason ELSE $5 END, \
                 review_severity = CASE WHEN $5::text IS NULL OR (needs_review AND review_severity > $6) \
                     THEN review_severity ELSE $6 END \
             FROM (SELECT EXISTS (SELECT 1 FROM reply) AS replied) r \
             WHERE id = $2 AND (r.replied OR $5::text IS NOT NULL)) \
         SELECT (SELECT id FROM reply)",
        &[
            &practice_id,
            &conversation_id,
            &message_id,
            &category,
            &flag.map(|f| f.reason.as_str()),
            &flag.map_or(0, |f| f.severity.as_i16() as i32),
            &reply.map(|r| r.body),
            &reply.map(|r| r.at),
            &reply.map(|r| preview(r.body)),
            &reply.and_then(|r| r.unless_opted_out),
        ],
    )
    .await?;
    Ok(row.get(0))
}
