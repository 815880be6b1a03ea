//! Texts that reached the deployment but belong to no practice we can tell (`unrouted_texts`):
//! kept for an operator (service role only), never answered.

use chrono::{DateTime, Utc};

use crate::db::{self, Conn, DbError};

pub struct UnroutedText<'a> {
    pub received_at: DateTime<Utc>,
    pub provider: &'a str,
    pub provider_message_id: &'a str,
    pub to_number: &'a str,
    pub from_number: &'a str,
    pub body: &'a str,
    pub media_urls: &'a [String],
    pub reason: &'a str,
}

/// Stores it once per carrier id; false when it was stored already.
pub async fn record(conn: &impl Conn, t: &UnroutedText<'_>) -> Result<bool, DbError> {
    let n = db::execute(
        conn,
        "INSERT INTO unrouted_texts (received_at, provider, provider_message_id, to_number, from_number, body, \
             media_urls, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (provider, provider_message_id) DO NOTHING",
        &[
            &t.received_at,
            &t.provider,
            &t.provider_message_id,
            &t.to_number,
            &t.from_number,
            &t.body,
            &t.media_urls,
            &t.reason,
        ],
    )
    .await?;
    Ok(n == 1)
}
