//! Transcription state of recordings, their transcripts, and the key facts of each call.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::db::{self, Conn, DbError};
use crate::transcribe::Transcript;

/// What the worker needs of a recording it claimed.
pub struct Claimed {
    pub practice_id: Uuid,
    pub call_id: Option<Uuid>,
    pub object_key: String,
    pub duration_ms: i64,
    /// Providers that already failed for good on this request: `[{"provider", "reason"}]`.
    pub failures: Vec<Value>,
}

/// Takes a queued recording (or one whose worker vanished) for transcription until `until`.
pub async fn claim(
    conn: &impl Conn,
    id: Uuid,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<Claimed>, DbError> {
    let row = db::query_opt(
        conn,
        "UPDATE call_recordings SET transcription_status = 'processing', transcription_claimed_until = $3 \
         WHERE id = $1 AND status = 'stored' AND object_key IS NOT NULL \
           AND (transcription_status = 'queued' \
                OR (transcription_status = 'processing' AND transcription_claimed_until < $2)) \
         RETURNING practice_id, call_id, object_key, coalesce(duration_ms, 0), transcription_failures",
        &[&id, &now, &until],
    )
    .await?;
    Ok(row.map(|r| Claimed {
        practice_id: r.get(0),
        call_id: r.get(1),
        object_key: r.get(2),
        duration_ms: r.get(3),
        failures: r.get::<_, Value>(4).as_array().cloned().unwrap_or_default(),
    }))
}

/// Where a recording's transcription stands, and until when another worker holds it.
pub async fn state(conn: &impl Conn, id: Uuid) -> Result<Option<(String, Option<DateTime<Utc>>)>, DbError> {
    let row = db::query_opt(
        conn,
        "SELECT transcription_status, transcription_claimed_until FROM call_recordings WHERE id = $1",
        &[&id],
    )
    .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Gives the recording back to the queue (a provider asked to be tried later).
pub async fn release(conn: &impl Conn, id: Uuid, failures: &[Value]) -> Result<(), DbError> {
    db::execute(
        conn,
        "UPDATE call_recordings SET transcription_status = 'queued', transcription_claimed_until = NULL, \
           transcription_failures = $2 WHERE id = $1 AND transcription_status = 'processing'",
        &[&id, &Value::Array(failures.to_vec())],
    )
    .await?;
    Ok(())
}

/// Every provider failed: the recording says so, with each one's reason, and its call is flagged.
pub async fn fail(conn: &impl Conn, id: Uuid, failures: &[Value]) -> Result<(), DbError> {
    db::execute(
        conn,
        "UPDATE call_recordings SET transcription_status = 'failed', transcription_claimed_until = NULL, \
           transcription_failures = $2 WHERE id = $1",
        &[&id, &Value::Array(failures.to_vec())],
    )
    .await?;
    db::execute(
        conn,
        "UPDATE phone_calls c SET needs_review = true, review_reason = coalesce(c.review_reason, 'transcription failed') \
         FROM call_recordings r WHERE r.id = $1 AND c.practice_id = r.practice_id AND c.id = r.call_id",
        &[&id],
    )
    .await?;
    Ok(())
}

pub async fn set_not_configured(conn: &impl Conn, id: Uuid) -> Result<(), DbError> {
    db::execute(
        conn,
        "UPDATE call_recordings SET transcription_status = 'not_configured', transcription_claimed_until = NULL \
         WHERE id = $1",
        &[&id],
    )
    .await?;
    Ok(())
}

pub struct NewTranscript<'a> {
    pub recording_id: Uuid,
    pub claimed: &'a Claimed,
    pub provider: &'a str,
    pub transcript: &'a Transcript,
    pub elapsed_ms: i64,
    pub at: DateTime<Utc>,
}

/// Stores the transcript and marks the recording done (once: a second store changes nothing).
pub async fn complete(conn: &impl Conn, t: &NewTranscript<'_>) -> Result<bool, DbError> {
    let segments = serde_json::to_value(&t.transcript.segments).unwrap_or(Value::Array(Vec::new()));
    let inserted = db::query_opt(
        conn,
        "INSERT INTO call_transcripts (recording_id, practice_id, call_id, provider, model, language, text, segments, \
           audio_duration_ms, elapsed_ms, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (recording_id) DO NOTHING RETURNING 1",
        &[
            &t.recording_id,
            &t.claimed.practice_id,
            &t.claimed.call_id,
            &t.provider,
            &t.transcript.model,
            &t.transcript.language,
            &t.transcript.text,
            &segments,
            &t.claimed.duration_ms,
            &t.elapsed_ms,
            &t.at,
        ],
    )
    .await?
    .is_some();
    db::execute(
        conn,
        "UPDATE call_recordings SET transcription_status = 'completed', transcription_claimed_until = NULL, \
           transcription_failures = $2 WHERE id = $1",
        &[&t.recording_id, &Value::Array(t.claimed.failures.clone())],
    )
    .await?;
    Ok(inserted)
}

/// What the facts of a recording are read against: its practice's time zone, when the call
/// started (the recording's own time while it has no call), and the call's DID and caller.
pub struct CallContext {
    pub timezone: String,
    pub started_at: DateTime<Utc>,
    pub did: Option<String>,
    pub contact: Option<String>,
}

pub async fn call_context(conn: &impl Conn, recording_id: Uuid) -> Result<Option<CallContext>, DbError> {
    let row = db::query_opt(
        conn,
        "SELECT p.timezone, coalesce(c.started_at, r.recorded_at), c.did, c.contact FROM call_recordings r \
         JOIN practices p ON p.id = r.practice_id LEFT JOIN phone_calls c ON c.id = r.call_id WHERE r.id = $1",
        &[&recording_id],
    )
    .await?;
    Ok(row.map(|r| CallContext {
        timezone: r.get(0),
        started_at: r.get(1),
        did: r.get(2),
        contact: r.get(3),
    }))
}

/// An emergency call: the call is flagged for a person.
pub async fn flag_call(conn: &impl Conn, call_id: Uuid, reason: &str) -> Result<(), DbError> {
    db::execute(
        conn,
        "UPDATE phone_calls SET needs_review = true, review_reason = $2 WHERE id = $1",
        &[&call_id, &reason],
    )
    .await?;
    Ok(())
}

pub struct NewFacts<'a> {
    pub recording_id: Uuid,
    pub practice_id: Uuid,
    pub call_id: Option<Uuid>,
    pub schema_version: i32,
    pub facts: &'a Value,
    pub summary: &'a str,
    pub request: &'a str,
    pub urgency: &'a str,
    pub source: &'a str,
    pub model: Option<&'a str>,
    pub at: DateTime<Utc>,
}

pub async fn store_facts(conn: &impl Conn, f: &NewFacts<'_>) -> Result<(), DbError> {
    db::execute(
        conn,
        "INSERT INTO call_facts (recording_id, practice_id, call_id, schema_version, facts, summary, request, urgency, \
           source, model, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (recording_id) DO NOTHING",
        &[
            &f.recording_id,
            &f.practice_id,
            &f.call_id,
            &f.schema_version,
            f.facts,
            &f.summary,
            &f.request,
            &f.urgency,
            &f.source,
            &f.model,
            &f.at,
        ],
    )
    .await?;
    Ok(())
}

/// The transcript and key facts of each of a call's recordings, by recording id.
pub async fn for_call(
    conn: &impl Conn,
    practice_id: Uuid,
    call_id: Uuid,
) -> Result<std::collections::HashMap<Uuid, Value>, DbError> {
    let rows = db::query(
        conn,
        "SELECT r.id, t.provider, t.model, t.language, t.text, t.segments, t.audio_duration_ms, t.elapsed_ms, \
                t.created_at, f.facts, f.source, f.model AS facts_model \
         FROM call_recordings r \
         LEFT JOIN call_transcripts t ON t.recording_id = r.id \
         LEFT JOIN call_facts f ON f.recording_id = r.id \
         WHERE r.practice_id = $1 AND r.call_id = $2 AND (t.recording_id IS NOT NULL OR f.recording_id IS NOT NULL)",
        &[&practice_id, &call_id],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let transcript = r.get::<_, Option<String>>("provider").map(|provider| {
                serde_json::json!({
                    "provider": provider,
                    "model": r.get::<_, Option<String>>("model"),
                    "language": r.get::<_, Option<String>>("language"),
                    "text": r.get::<_, Option<String>>("text"),
                    "segments": r.get::<_, Option<Value>>("segments"),
                    "audioDurationMs": r.get::<_, Option<i64>>("audio_duration_ms"),
                    "elapsedMs": r.get::<_, Option<i64>>("elapsed_ms"),
                    "createdAt": r.get::<_, Option<DateTime<Utc>>>("created_at"),
                })
            });
            let facts = r.get::<_, Option<Value>>("facts").map(|facts| {
                serde_json::json!({
                    "facts": facts,
                    "source": r.get::<_, Option<String>>("source"),
                    "model": r.get::<_, Option<String>>("facts_model"),
                })
            });
            (
                r.get("id"),
                serde_json::json!({"transcript": transcript, "keyFacts": facts}),
            )
        })
        .collect())
}
