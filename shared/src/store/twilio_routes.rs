//! Where a text to the deployment's shared Twilio number belongs: Twilio numbers are not practice
//! DIDs, so the answer comes from the threads we texted through Twilio.

use uuid::Uuid;

use crate::db::{self, Conn, DbError};

/// The DID of the thread an inbound Twilio text with this MessageSid was stored in, if it was.
pub async fn did_of_stored(conn: &impl Conn, message_sid: &str) -> Result<Option<String>, DbError> {
    let row = db::query_opt(
        conn,
        "SELECT c.did FROM sms_messages m JOIN sms_conversations c ON c.id = m.conversation_id \
         WHERE m.direction = 'inbound' AND m.provider = 'twilio' AND m.provider_message_id = $1 LIMIT 1",
        &[&message_sid],
    )
    .await?;
    Ok(row.map(|r| r.get(0)))
}

/// The DID of the thread in which `contact` was most recently texted through Twilio (texts sent
/// at the same clock time: the later insert wins).
pub async fn latest_thread_did(conn: &impl Conn, contact: &str) -> Result<Option<String>, DbError> {
    let row = db::query_opt(
        conn,
        "SELECT c.did FROM sms_messages m JOIN sms_conversations c ON c.id = m.conversation_id \
         WHERE m.direction = 'outbound' AND m.provider = 'twilio' AND c.contact = $1 \
         ORDER BY m.occurred_at DESC, m.created_at DESC, m.id DESC LIMIT 1",
        &[&contact],
    )
    .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Every practice that has texted `contact` through Twilio.
pub async fn practices_that_texted(conn: &impl Conn, contact: &str) -> Result<Vec<Uuid>, DbError> {
    let rows = db::query(
        conn,
        "SELECT DISTINCT c.practice_id FROM sms_messages m JOIN sms_conversations c ON c.id = m.conversation_id \
         WHERE m.direction = 'outbound' AND m.provider = 'twilio' AND c.contact = $1",
        &[&contact],
    )
    .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The practice, when the deployment has exactly one.
pub async fn only_practice(conn: &impl Conn) -> Result<Option<Uuid>, DbError> {
    let rows = db::query(conn, "SELECT id FROM practices LIMIT 2", &[]).await?;
    Ok(match rows.as_slice() {
        [only] => Some(only.get(0)),
        _ => None,
    })
}
