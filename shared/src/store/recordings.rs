//! Call recordings (`call_recordings`), who downloaded them, and objects still to delete.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::db::{self, Conn, DbError};
use crate::domain::call::Direction;
use crate::domain::recording::ListedRecording;

/// A recording whose fetch failed this many times is no longer fetched by the sync (a download
/// request still tries).
pub const MAX_FETCH_ATTEMPTS: i32 = 5;

/// A recording row, as the code needs it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recording {
    pub id: Uuid,
    #[serde(skip)]
    pub practice_id: Uuid,
    pub call_id: Option<Uuid>,
    #[serde(skip)]
    pub voipms_id: String,
    pub direction: String,
    #[serde(rename = "destinationNumber")]
    pub destination: String,
    pub recorded_at: DateTime<Utc>,
    pub listed_duration_seconds: Option<i32>,
    /// `listed` (not fetched yet), `stored`, `corrupt`, `expired` or `deleted`.
    pub status: String,
    #[serde(skip)]
    pub object_key: Option<String>,
    pub size_bytes: Option<i64>,
    pub duration_ms: Option<i64>,
    pub sha256: Option<String>,
    pub error: Option<String>,
    pub stored_at: Option<DateTime<Utc>>,
    pub transcription_status: String,
    /// Each provider's reason, when transcription failed: `[{"provider", "reason", "at"}]`.
    pub transcription_failures: serde_json::Value,
}

const COLUMNS: &str = "id, practice_id, call_id, voipms_recording_id, direction, destination, recorded_at, \
     listed_duration_seconds, status, object_key, size_bytes, duration_ms, sha256, error, stored_at, transcription_status, transcription_failures";

fn from_row(row: &Row) -> Recording {
    Recording {
        id: row.get("id"),
        practice_id: row.get("practice_id"),
        call_id: row.get("call_id"),
        voipms_id: row.get("voipms_recording_id"),
        direction: row.get("direction"),
        destination: row.get("destination"),
        recorded_at: row.get("recorded_at"),
        listed_duration_seconds: row.get("listed_duration_seconds"),
        status: row.get("status"),
        object_key: row.get("object_key"),
        size_bytes: row.get("size_bytes"),
        duration_ms: row.get("duration_ms"),
        sha256: row.get("sha256"),
        error: row.get("error"),
        stored_at: row.get("stored_at"),
        transcription_status: row.get("transcription_status"),
        transcription_failures: row.get("transcription_failures"),
    }
}

/// Records recordings VoIP.ms listed; those already known are left as they are. Returns how many
/// were new.
pub async fn insert_listed(conn: &impl Conn, practice_id: Uuid, listed: &[ListedRecording]) -> Result<usize, DbError> {
    if listed.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = listed.iter().map(|r| r.voipms_id.clone()).collect();
    let directions: Vec<String> = listed.iter().map(|r| r.direction.as_str().to_string()).collect();
    let destinations: Vec<String> = listed.iter().map(|r| r.destination.clone()).collect();
    let at: Vec<DateTime<Utc>> = listed.iter().map(|r| r.recorded_at).collect();
    let durations: Vec<Option<i32>> = listed.iter().map(|r| r.duration_seconds).collect();
    let rows = db::query(
        conn,
        "INSERT INTO call_recordings (practice_id, voipms_recording_id, direction, destination, recorded_at, \
           listed_duration_seconds) \
         SELECT $1, u.* FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::int4[]) AS u \
         ON CONFLICT (practice_id, voipms_recording_id) DO NOTHING RETURNING id",
        &[&practice_id, &ids, &directions, &destinations, &at, &durations],
    )
    .await?;
    Ok(rows.len())
}

/// Recordings not matched to a call yet (oldest first).
pub async fn unmatched(conn: &impl Conn, practice_id: Uuid) -> Result<Vec<(Uuid, ListedRecording)>, DbError> {
    let rows = db::query(
        conn,
        "SELECT id, voipms_recording_id, direction, destination, recorded_at, listed_duration_seconds \
         FROM call_recordings WHERE practice_id = $1 AND call_id IS NULL AND status <> 'deleted' \
         ORDER BY recorded_at",
        &[&practice_id],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get("id"),
                ListedRecording {
                    voipms_id: r.get("voipms_recording_id"),
                    direction: Direction::parse(r.get("direction")).unwrap_or(Direction::Inbound),
                    destination: r.get("destination"),
                    recorded_at: r.get("recorded_at"),
                    duration_seconds: r.get("listed_duration_seconds"),
                    account: None,
                },
            )
        })
        .collect())
}

pub async fn set_calls(conn: &impl Conn, practice_id: Uuid, pairs: &[(Uuid, Uuid)]) -> Result<(), DbError> {
    if pairs.is_empty() {
        return Ok(());
    }
    let (recordings, calls): (Vec<Uuid>, Vec<Uuid>) = pairs.iter().copied().unzip();
    db::execute(
        conn,
        "UPDATE call_recordings r SET call_id = u.call_id FROM unnest($2::uuid[], $3::uuid[]) AS u(id, call_id) \
         WHERE r.practice_id = $1 AND r.id = u.id",
        &[&practice_id, &recordings, &calls],
    )
    .await?;
    // A transcript or summary made before the match follows its recording to the call.
    for table in ["call_transcripts", "call_facts"] {
        db::execute(
            conn,
            &format!(
                "UPDATE {table} t SET call_id = u.call_id FROM unnest($2::uuid[], $3::uuid[]) AS u(id, call_id) \
                 WHERE t.practice_id = $1 AND t.recording_id = u.id"
            ),
            &[&practice_id, &recordings, &calls],
        )
        .await?;
    }
    Ok(())
}

/// Recordings listed but not stored yet, that the sync should fetch.
pub async fn to_fetch(conn: &impl Conn, practice_id: Uuid) -> Result<Vec<Recording>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM call_recordings WHERE practice_id = $1 AND status = 'listed' \
         AND fetch_attempts < $2 ORDER BY recorded_at"
    );
    let rows = db::query(conn, &sql, &[&practice_id, &MAX_FETCH_ATTEMPTS]).await?;
    Ok(rows.iter().map(from_row).collect())
}

pub async fn get(conn: &impl Conn, practice_id: Uuid, id: Uuid) -> Result<Option<Recording>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM call_recordings WHERE practice_id = $1 AND id = $2");
    Ok(db::query_opt(conn, &sql, &[&practice_id, &id])
        .await?
        .as_ref()
        .map(from_row))
}

/// By id alone, for the worker (which acts for every practice).
pub async fn get_any(conn: &impl Conn, id: Uuid) -> Result<Option<Recording>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM call_recordings WHERE id = $1");
    Ok(db::query_opt(conn, &sql, &[&id]).await?.as_ref().map(from_row))
}

pub async fn for_call(conn: &impl Conn, practice_id: Uuid, call_id: Uuid) -> Result<Vec<Recording>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM call_recordings WHERE practice_id = $1 AND call_id = $2 ORDER BY recorded_at, id"
    );
    let rows = db::query(conn, &sql, &[&practice_id, &call_id]).await?;
    Ok(rows.iter().map(from_row).collect())
}

/// What was learnt of a fetched file.
pub struct StoredFile<'a> {
    pub object_key: &'a str,
    pub size_bytes: i64,
    pub duration_ms: i64,
    pub sha256: &'a str,
}

/// Stored, unless it was stored (or deleted) meanwhile. True when this call stored it.
pub async fn mark_stored(
    conn: &impl Conn,
    id: Uuid,
    file: &StoredFile<'_>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let n = db::execute(
        conn,
        "UPDATE call_recordings SET status = 'stored', object_key = $2, size_bytes = $3, duration_ms = $4, \
           sha256 = $5, content_type = 'audio/mpeg', error = NULL, stored_at = $6, fetch_attempts = fetch_attempts + 1 \
         WHERE id = $1 AND status IN ('listed', 'corrupt')",
        &[
            &id,
            &file.object_key,
            &file.size_bytes,
            &file.duration_ms,
            &file.sha256,
            &now,
        ],
    )
    .await?;
    Ok(n == 1)
}

/// The file is not usable audio: recorded, and the call flagged for a person.
pub async fn mark_corrupt(conn: &impl Conn, id: Uuid, reason: &str, size: i64) -> Result<(), DbError> {
    db::execute(
        conn,
        "UPDATE call_recordings SET status = 'corrupt', error = $2, size_bytes = $3, fetch_attempts = fetch_attempts + 1 \
         WHERE id = $1 AND status IN ('listed', 'corrupt')",
        &[&id, &reason, &size],
    )
    .await?;
    db::execute(
        conn,
        "UPDATE phone_calls c SET needs_review = true, review_reason = 'recording unreadable' \
         FROM call_recordings r WHERE r.id = $1 AND c.practice_id = r.practice_id AND c.id = r.call_id",
        &[&id],
    )
    .await?;
    Ok(())
}

pub async fn mark_fetch_failed(conn: &impl Conn, id: Uuid, reason: &str) -> Result<(), DbError> {
    db::execute(
        conn,
        "UPDATE call_recordings SET error = $2, fetch_attempts = fetch_attempts + 1 WHERE id = $1",
        &[&id, &reason],
    )
    .await?;
    Ok(())
}

/// Moves the recording to `queued` once: true when this call did it (and must enqueue the task).
/// `again` (a person asking) also re-queues a recording whose transcription failed, was not
/// configured, or is stuck: a worker that vanished, a request that never reached a worker.
pub async fn claim_transcription(conn: &impl Conn, id: Uuid, again: bool, now: DateTime<Utc>) -> Result<bool, DbError> {
    let n = db::execute(
        conn,
        "UPDATE call_recordings SET transcription_status = 'queued', transcription_queued_at = $2, \
           transcription_failures = '[]' \
         WHERE id = $1 AND status = 'stored' \
           AND (transcription_status = 'none' OR ($3 AND (transcription_status IN ('failed', 'not_configured') \
                OR (transcription_status = 'processing' AND transcription_claimed_until < $2) \
                OR (transcription_status = 'queued' AND transcription_queued_at < $2 - interval '2 hours'))))",
        &[&id, &now, &again],
    )
    .await?;
    Ok(n == 1)
}

/// Undoes [`claim_transcription`] when the task could not be enqueued, so a later sync or request
/// asks again.
pub async fn unclaim_transcription(conn: &impl Conn, id: Uuid) -> Result<(), DbError> {
    db::execute(
        conn,
        "UPDATE call_recordings SET transcription_status = 'none', transcription_queued_at = NULL \
         WHERE id = $1 AND transcription_status = 'queued'",
        &[&id],
    )
    .await?;
    Ok(())
}

pub async fn log_access(
    conn: &impl Conn,
    recording: &Recording,
    actor: &str,
    role: &str,
    at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    db::execute(
        conn,
        "INSERT INTO recording_access_log (practice_id, recording_id, call_id, actor, role, at, link_expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &recording.practice_id,
            &recording.id,
            &recording.call_id,
            &actor,
            &role,
            &at,
            &expires_at,
        ],
    )
    .await?;
    Ok(())
}

/// Stored recordings made before `before`: the retention pass's work. Marks them expired and
/// queues their objects for deletion in the same statement; returns the keys.
pub async fn expire_older_than(
    conn: &impl Conn,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<String>, DbError> {
    let rows = db::query(
        conn,
        "WITH expired AS ( \
           UPDATE call_recordings SET status = 'expired', removed_at = $2 \
           WHERE status = 'stored' AND recorded_at < $1 RETURNING practice_id, object_key) \
         INSERT INTO pending_object_deletions (object_key, practice_id, reason, queued_at) \
         SELECT object_key, practice_id, 'retention', $2 FROM expired WHERE object_key IS NOT NULL \
         ON CONFLICT (object_key) DO NOTHING RETURNING object_key",
        &[&before, &now],
    )
    .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Objects waiting to be deleted (the oldest first).
pub async fn pending_deletions(conn: &impl Conn, limit: i64) -> Result<Vec<String>, DbError> {
    let rows = db::query(
        conn,
        "SELECT object_key FROM pending_object_deletions ORDER BY queued_at LIMIT $1",
        &[&limit],
    )
    .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub async fn deletion_done(conn: &impl Conn, key: &str) -> Result<(), DbError> {
    db::execute(
        conn,
        "DELETE FROM pending_object_deletions WHERE object_key = $1",
        &[&key],
    )
    .await?;
    Ok(())
}

pub async fn deletion_failed(conn: &impl Conn, key: &str, error: &str) -> Result<(), DbError> {
    db::execute(
        conn,
        "UPDATE pending_object_deletions SET attempts = attempts + 1, last_error = $2 WHERE object_key = $1",
        &[&key, &error],
    )
    .await?;
    Ok(())
}
