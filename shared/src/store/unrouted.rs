//! Texts a carrier delivered to a number no practice owns: kept where an operator sees them
//! (`unrouted_texts`, service role only), never dropped, never answered.

use chrono::{DateTime, Utc};

use crate::db::{self, Conn, DbError};

pub struct NewUnrouted<'a> {
    pub provider: &'a str,
    pub provider_message_id: &'a str,
    pub to_number: &'a str,
    pub from_number: &'a str,
    pub body: &'a str,
    pub media_urls: &'a [String],
    pub sent_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub reason: &'a str,
}

/// Stores it once per carrier id; false for a redelivery.
pub async fn insert(conn: &impl Conn, t: &NewUnrouted<'_>) -> Result<bool, DbError> {
    let n = db::execute(
        conn,
        "INSERT INTO unrouted_texts (provider, provider_message_id, to_number, from_number, body, media_urls, \
             sent_at, received_at, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (provider, provider_message_id) DO NOTHING",
        &[
            &t.provider,
            &t.provider_message_id,
            &t.to_number,
            &t.from_number,
            &t.body,
            &t.media_urls,
            &t.sent_at,
            &t.received_at,
            &t.reason,
        ],
    )
    .await?;
    Ok(n == 1)
}
