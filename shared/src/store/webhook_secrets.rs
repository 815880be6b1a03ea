//! Practices' webhook secrets, kept as SHA-256 hashes: a current one and, after a rotation, older
//! ones until their grace period ends.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::db::{self, Conn, DbError};

/// A secret that still opens the webhook, by its hash.
#[derive(Debug, Clone)]
pub struct ActiveHash {
    pub practice_id: Uuid,
    pub hash: Vec<u8>,
}

/// Makes `hash` the practice's current secret. Its previous secrets keep working until
/// `now + grace` (or their own earlier end); those already past it are deleted.
pub async fn rotate(
    conn: &impl Conn,
    practice_id: Uuid,
    hash: &[u8],
    now: DateTime<Utc>,
    grace: Duration,
) -> Result<(), DbError> {
    // One rotation of a practice at a time: a second waits, then sees the first's secret as the
    // one to retire (otherwise both would try to insert the current secret).
    db::execute(
        conn,
        "SELECT pg_advisory_xact_lock(hashtextextended('webhook_secrets:' || $1::text, 0))",
        &[&practice_id],
    )
    .await?;
    db::execute(
        conn,
        "DELETE FROM webhook_secrets WHERE practice_id = $1 AND expires_at <= $2",
        &[&practice_id, &now],
    )
    .await?;
    let until = now + grace;
    db::execute(
        conn,
        "UPDATE webhook_secrets SET expires_at = LEAST(COALESCE(expires_at, $2), $2) WHERE practice_id = $1",
        &[&practice_id, &until],
    )
    .await?;
    db::execute(
        conn,
        "INSERT INTO webhook_secrets (practice_id, secret_hash, created_at) VALUES ($1, $2, $3)",
        &[&practice_id, &hash.to_vec(), &now],
    )
    .await?;
    Ok(())
}

/// Every secret still valid at `now`, of `practice_id` or (None) of every practice.
pub async fn active(
    conn: &impl Conn,
    practice_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Vec<ActiveHash>, DbError> {
    let rows = db::query(
        conn,
        "SELECT practice_id, secret_hash FROM webhook_secrets \
         WHERE ($1::uuid IS NULL OR practice_id = $1) AND (expires_at IS NULL OR expires_at > $2)",
        &[&practice_id, &now],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| ActiveHash {
            practice_id: row.get(0),
            hash: row.get(1),
        })
        .collect())
}

/// The practice that owns a DID, with its secrets valid at `now` (none when it has none yet).
#[derive(Debug, Clone)]
pub struct DidOwner {
    pub practice_id: Uuid,
    pub hashes: Vec<Vec<u8>>,
}

/// The owner of `did` (E.164) and its valid secrets; None when no practice owns the DID.
pub async fn for_did(conn: &impl Conn, did: &str, now: DateTime<Utc>) -> Result<Option<DidOwner>, DbError> {
    let rows = db::query(
        conn,
        "SELECT d.practice_id, w.secret_hash FROM practice_dids d \
         LEFT JOIN webhook_secrets w ON w.practice_id = d.practice_id AND (w.expires_at IS NULL OR w.expires_at > $2) \
         WHERE d.did = $1",
        &[&did, &now],
    )
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(DidOwner {
        practice_id: first.get(0),
        hashes: rows.iter().filter_map(|row| row.get::<_, Option<Vec<u8>>>(1)).collect(),
    }))
}

/// Whether any practice has ever been given a secret (rows are only ever deleted once replaced).
pub async fn any(conn: &impl Conn) -> Result<bool, DbError> {
    Ok(db::query_opt(conn, "SELECT 1 FROM webhook_secrets LIMIT 1", &[])
        .await?
        .is_some())
}
