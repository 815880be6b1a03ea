//! The call history (`phone_calls`) and its tombstones.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::db::{self, Conn, DbError};
use crate::domain::call::{Call, Direction, Disposition};
use crate::domain::recording::CallForMatching;

/// Rows per upsert statement: large enough that 100k rows take a hundred round trips, small
/// enough that one statement's parameters stay a few megabytes.
const UPSERT_CHUNK: usize = 2_000;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UpsertCounts {
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// Inserts new calls and updates those whose fields changed; a call that did not change is not
/// written at all. `calls` must not repeat a uniqueid.
pub async fn upsert(
    conn: &impl Conn,
    practice_id: Uuid,
    calls: &[Call],
    now: DateTime<Utc>,
) -> Result<UpsertCounts, DbError> {
    let mut counts = UpsertCounts::default();
    for chunk in calls.chunks(UPSERT_CHUNK) {
        let col = |f: &dyn Fn(&Call) -> String| chunk.iter().map(f).collect::<Vec<String>>();
        let opt = |f: &dyn Fn(&Call) -> Option<String>| chunk.iter().map(f).collect::<Vec<Option<String>>>();
        let uniqueid = col(&|c| c.uniqueid.clone());
        let direction = col(&|c| c.direction.as_str().into());
        let did = col(&|c| c.did.clone());
        let contact = col(&|c| c.contact.clone());
        let contact_name = opt(&|c| c.contact_name.clone());
        let started_at: Vec<DateTime<Utc>> = chunk.iter().map(|c| c.started_at).collect();
        let duration: Vec<i32> = chunk.iter().map(|c| c.duration_seconds).collect();
        let billable: Vec<i32> = chunk.iter().map(|c| c.billable_seconds).collect();
        let disposition = col(&|c| c.disposition.as_str().into());
        let completed: Vec<bool> = chunk.iter().map(|c| c.completed).collect();
        let account = opt(&|c| c.account.clone());
        let description = opt(&|c| c.description.clone());
        let destination_type = opt(&|c| c.destination_type.clone());
        let rows = db::query(
            conn,
            "INSERT INTO phone_calls AS p (practice_id, voipms_uniqueid, direction, did, contact, contact_name, \
               started_at, duration_seconds, billable_seconds, disposition, completed, account, description, \
               destination_type, synced_at, updated_at) \
             SELECT $1, u.*, $15, $15 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
               $7::timestamptz[], $8::int4[], $9::int4[], $10::text[], $11::bool[], $12::text[], $13::text[], \
               $14::text[]) AS u \
             ON CONFLICT (practice_id, voipms_uniqueid) DO UPDATE SET direction = EXCLUDED.direction, \
               did = EXCLUDED.did, contact = EXCLUDED.contact, contact_name = EXCLUDED.contact_name, \
               started_at = EXCLUDED.started_at, duration_seconds = EXCLUDED.duration_seconds, \
               billable_seconds = EXCLUDED.billable_seconds, disposition = EXCLUDED.disposition, \
               completed = EXCLUDED.completed, account = EXCLUDED.account, description = EXCLUDED.description, \
               destination_type = EXCLUDED.destination_type, synced_at = EXCLUDED.synced_at, \
               updated_at = EXCLUDED.updated_at \
             WHERE (p.direction, p.did, p.contact, p.contact_name, p.started_at, p.duration_seconds, \
                    p.billable_seconds, p.disposition, p.completed, p.account, p.description, p.destination_type) \
               IS DISTINCT FROM (EXCLUDED.direction, EXCLUDED.did, EXCLUDED.contact, EXCLUDED.contact_name, \
                    EXCLUDED.started_at, EXCLUDED.duration_seconds, EXCLUDED.billable_seconds, \
                    EXCLUDED.disposition, EXCLUDED.completed, EXCLUDED.account, EXCLUDED.description, \
                    EXCLUDED.destination_type) \
             RETURNING (xmax = 0) AS inserted",
            &[
                &practice_id,
                &uniqueid,
                &direction,
                &did,
                &contact,
                &contact_name,
                &started_at,
                &duration,
                &billable,
                &disposition,
                &completed,
                &account,
                &description,
                &destination_type,
                &now,
            ],
        )
        .await?;
        let inserted = rows.iter().filter(|r| r.get::<_, bool>(0)).count();
        counts.inserted += inserted;
        counts.updated += rows.len() - inserted;
        counts.unchanged += chunk.len() - rows.len();
    }
    Ok(counts)
}

/// The VoIP.ms ids of `kind` (`call` or `recording`) deleted in this practice: never imported again.
pub async fn tombstones(conn: &impl Conn, practice_id: Uuid, kind: &str) -> Result<HashSet<String>, DbError> {
    let rows = db::query(
        conn,
        "SELECT voipms_id FROM call_tombstones WHERE practice_id = $1 AND kind = $2",
        &[&practice_id, &kind],
    )
    .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Calls that a recording made between `from` and `to` could belong to: those without one yet.
pub async fn for_matching(
    conn: &impl Conn,
    practice_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<CallForMatching>, DbError> {
    let rows = db::query(
        conn,
        "SELECT c.id, c.direction, c.did, c.contact, c.started_at, c.duration_seconds FROM phone_calls c \
         WHERE c.practice_id = $1 AND c.started_at BETWEEN $2 AND $3 \
           AND NOT EXISTS (SELECT 1 FROM call_recordings r WHERE r.practice_id = c.practice_id AND r.call_id = c.id)",
        &[&practice_id, &from, &to],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| CallForMatching {
            id: r.get("id"),
            direction: Direction::parse(r.get("direction")).unwrap_or(Direction::Inbound),
            did: r.get("did"),
            contact: r.get("contact"),
            started_at: r.get("started_at"),
            duration_seconds: r.get("duration_seconds"),
        })
        .collect())
}

/// One call as the history shows it, with the state of its recordings and transcription.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallItem {
    pub id: Uuid,
    pub direction: String,
    pub did: String,
    pub contact_number: String,
    pub contact_name: Option<String>,
    pub started_at: DateTime<Utc>,
    pub duration_seconds: i32,
    pub billable_seconds: i32,
    pub disposition: String,
    pub completed: bool,
    /// `none`, or the best state among the call's recordings: `stored`, `listed` (not fetched
    /// yet), `corrupt`, `expired`.
    pub recording_status: String,
    pub recording_count: i64,
    /// `none`, `queued`, `processing`, `completed`, `failed` or `not_configured`.
    pub transcription_status: String,
    pub needs_review: bool,
    pub review_reason: Option<String>,
    /// A missed-call text went to this caller.
    pub texted_back: bool,
}

const ITEM: &str = "SELECT c.id, c.direction, c.did, c.contact, c.contact_name, c.started_at, c.duration_seconds, \
       c.billable_seconds, c.disposition, c.completed, c.needs_review, c.review_reason, \
       (c.text_back_message_id IS NOT NULL) AS texted_back, \
       coalesce(r.count, 0) AS recording_count, coalesce(r.status, 'none') AS recording_status, \
       coalesce(r.transcription, 'none') AS transcription_status \
     FROM phone_calls c \
     LEFT JOIN LATERAL ( \
       SELECT count(*) AS count, \
         (array_agg(status ORDER BY array_position(ARRAY['stored','listed','corrupt','expired','deleted'], status)))[1] AS status, \
         (array_agg(transcription_status ORDER BY array_position( \
            ARRAY['completed','processing','queued','failed','not_configured','none'], transcription_status)))[1] AS transcription \
       FROM call_recordings WHERE practice_id = c.practice_id AND call_id = c.id) r ON true";

fn item(row: &Row) -> CallItem {
    CallItem {
        id: row.get("id"),
        direction: row.get("direction"),
        did: row.get("did"),
        contact_number: row.get("contact"),
        contact_name: row.get("contact_name"),
        started_at: row.get("started_at"),
        duration_seconds: row.get("duration_seconds"),
        billable_seconds: row.get("billable_seconds"),
        disposition: row.get("disposition"),
        completed: row.get("completed"),
        recording_status: row.get("recording_status"),
        recording_count: row.get("recording_count"),
        transcription_status: row.get("transcription_status"),
        needs_review: row.get("needs_review"),
        review_reason: row.get("review_reason"),
        texted_back: row.get("texted_back"),
    }
}

/// What the history is filtered by. Times are UTC bounds (`from` inclusive, `until` exclusive).
#[derive(Debug, Clone)]
pub struct HistoryFilter {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub direction: Option<Direction>,
    pub disposition: Option<Disposition>,
    pub contact: Option<String>,
    /// The last item of the previous page.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// Newest first.
pub async fn history(conn: &impl Conn, practice_id: Uuid, filter: &HistoryFilter) -> Result<Vec<CallItem>, DbError> {
    let (after_at, after_id) = filter.after.unzip();
    let sql = format!(
        "{ITEM} WHERE c.practice_id = $1 AND c.started_at >= $2 AND c.started_at < $3 \
           AND ($4::text IS NULL OR c.direction = $4) AND ($5::text IS NULL OR c.disposition = $5) \
           AND ($6::text IS NULL OR c.contact = $6) \
           AND ($7::timestamptz IS NULL OR (c.started_at, c.id) < ($7, $8)) \
         ORDER BY c.started_at DESC, c.id DESC LIMIT $9"
    );
    let rows = db::query(
        conn,
        &sql,
        &[
            &practice_id,
            &filter.from,
            &filter.until,
            &filter.direction.map(|d| d.as_str().to_string()),
            &filter.disposition.map(|d| d.as_str().to_string()),
            &filter.contact,
            &after_at,
            &after_id,
            &filter.limit,
        ],
    )
    .await?;
    Ok(rows.iter().map(item).collect())
}

pub async fn get(conn: &impl Conn, practice_id: Uuid, id: Uuid) -> Result<Option<CallItem>, DbError> {
    let sql = format!("{ITEM} WHERE c.practice_id = $1 AND c.id = $2");
    Ok(db::query_opt(conn, &sql, &[&practice_id, &id])
        .await?
        .as_ref()
        .map(item))
}

/// Deletes a call (its recordings' rows go with it) and leaves tombstones for it and its
/// recordings. Returns the object keys to delete, or None when there is no such call.
pub async fn delete(
    conn: &impl Conn,
    practice_id: Uuid,
    id: Uuid,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<Vec<String>>, DbError> {
    let Some(call) = db::query_opt(
        conn,
        "SELECT voipms_uniqueid FROM phone_calls WHERE practice_id = $1 AND id = $2 FOR UPDATE",
        &[&practice_id, &id],
    )
    .await?
    else {
        return Ok(None);
    };
    let uniqueid: String = call.get(0);
    let recordings = db::query(
        conn,
        "SELECT voipms_recording_id, object_key FROM call_recordings WHERE practice_id = $1 AND call_id = $2",
        &[&practice_id, &id],
    )
    .await?;
    let mut tombstones: Vec<(String, String)> = vec![("call".into(), uniqueid)];
    let mut keys = Vec::new();
    for row in &recordings {
        tombstones.push(("recording".into(), row.get(0)));
        if let Some(key) = row.get::<_, Option<String>>(1) {
            keys.push(key);
        }
    }
    let (kinds, ids): (Vec<String>, Vec<String>) = tombstones.into_iter().unzip();
    db::execute(
        conn,
        "INSERT INTO call_tombstones (practice_id, kind, voipms_id, deleted_at, deleted_by) \
         SELECT $1, k, v, $4, $5 FROM unnest($2::text[], $3::text[]) AS t(k, v) ON CONFLICT DO NOTHING",
        &[&practice_id, &kinds, &ids, &now, &by],
    )
    .await?;
    if !keys.is_empty() {
        db::execute(
            conn,
            "INSERT INTO pending_object_deletions (object_key, practice_id, reason, queued_at) \
             SELECT k, $1, 'call deleted', $3 FROM unnest($2::text[]) AS k ON CONFLICT (object_key) DO NOTHING",
            &[&practice_id, &keys, &now],
        )
        .await?;
    }
    db::execute(
        conn,
        "DELETE FROM call_recordings WHERE practice_id = $1 AND call_id = $2",
        &[&practice_id, &id],
    )
    .await?;
    db::execute(
        conn,
        "DELETE FROM phone_calls WHERE practice_id = $1 AND id = $2",
        &[&practice_id, &id],
    )
    .await?;
    Ok(Some(keys))
}
