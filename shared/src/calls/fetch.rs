//! Fetching one recording from VoIP.ms into the object store: decoded from base64, checked to be
//! audio, measured, checksummed, stored under a key that names no phone number, and recorded.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use crate::audio;
use crate::auth::Caller;
use crate::blob::{BlobKey, BlobStore};
use crate::db::{self, DbError};
use crate::store::recordings::{self, Recording, StoredFile};
use crate::voipms::{VoipMsClient, VoipMsError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// Now in the object store.
    Stored,
    /// Already there (another run stored it meanwhile): nothing was written.
    AlreadyStored,
    /// Not usable audio: recorded as corrupt and the call flagged.
    Corrupt,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("VoIP.ms: {0}")]
    VoipMs(#[from] VoipMsError),
    #[error("object store: {0}")]
    Blob(#[from] crate::blob::BlobError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Where a recording's audio is kept: the practice and our own id, nothing a patient can be found by.
pub fn object_key(recording: &Recording) -> String {
    format!("recordings/{}/{}.mp3", recording.practice_id, recording.id)
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Fetches and stores `recording` (already listed and not stored). A VoIP.ms or store failure is
/// recorded on the row and returned; the next sync tries again.
pub async fn fetch_and_store(
    db: &Pool,
    voipms: &VoipMsClient,
    blob: &dyn BlobStore,
    account: &str,
    recording: &Recording,
    now: DateTime<Utc>,
) -> Result<Fetched, FetchError> {
    let bytes = match voipms.call_recording(account, &recording.voipms_id).await {
        Ok(bytes) => bytes,
        // Not base64: the file itself is broken, not the connection.
        Err(VoipMsError::Malformed(reason)) if reason.starts_with(crate::voipms::NOT_BASE64) => {
            record(
                db,
                recording,
                Outcome::Corrupt {
                    reason: &reason,
                    size: 0,
                },
            )
            .await?;
            return Ok(Fetched::Corrupt);
        }
        Err(error) => {
            record(db, recording, Outcome::Failed(&error.to_string())).await?;
            return Err(error.into());
        }
    };
    let size = bytes.len() as i64;
    let info = match audio::inspect_mp3(&bytes) {
        Ok(info) => info,
        Err(problem) => {
            let reason = problem.to_string();
            tracing::warn!(recording = %recording.id, size, %reason, "a recording is not usable audio");
            record(db, recording, Outcome::Corrupt { reason: &reason, size }).await?;
            return Ok(Fetched::Corrupt);
        }
    };
    let sha256 = sha256_hex(&bytes);
    let key = object_key(recording);
    if let Err(error) = blob.put(&BlobKey::parse(&key)?, bytes, "audio/mpeg").await {
        record(db, recording, Outcome::Failed(&error.to_string())).await?;
        return Err(error.into());
    }
    let file = StoredFile {
        object_key: &key,
        size_bytes: size,
        duration_ms: info.duration_ms,
        sha256: &sha256,
    };
    let stored = record(db, recording, Outcome::Stored(&file, now)).await?;
    if !stored && !still_points_at(db, recording, &key).await? {
        // Deleted (or expired) while it was being fetched: the audio must not outlive its row.
        tracing::info!(recording = %recording.id, "recording removed during its fetch; its audio is deleted");
        blob.delete(&BlobKey::parse(&key)?).await?;
        return Ok(Fetched::AlreadyStored);
    }
    tracing::info!(recording = %recording.id, size, duration_ms = info.duration_ms, "recording stored");
    Ok(if stored {
        Fetched::Stored
    } else {
        Fetched::AlreadyStored
    })
}

/// Whether the recording's row still exists, stored under `key`.
async fn still_points_at(db: &Pool, recording: &Recording, key: &str) -> Result<bool, DbError> {
    let mut client = db.get().await?;
    let tx = db::begin_as(&mut client, &Caller::service()).await?;
    let row = recordings::get_any(&*tx, recording.id).await?;
    tx.commit().await?;
    Ok(row.is_some_and(|r| r.status == "stored" && r.object_key.as_deref() == Some(key)))
}

enum Outcome<'a> {
    Stored(&'a StoredFile<'a>, DateTime<Utc>),
    Corrupt { reason: &'a str, size: i64 },
    Failed(&'a str),
}

/// Writes what a fetch found, in its own service-role transaction. True when the row changed to
/// stored.
async fn record(db: &Pool, recording: &Recording, outcome: Outcome<'_>) -> Result<bool, DbError> {
    let mut client = db.get().await?;
    let tx = db::begin_as(&mut client, &Caller::service()).await?;
    let changed = match outcome {
        Outcome::Stored(file, now) => recordings::mark_stored(&*tx, recording.id, file, now).await?,
        Outcome::Corrupt { reason, size } => {
            recordings::mark_corrupt(&*tx, recording.id, reason, size).await?;
            false
        }
        Outcome::Failed(reason) => {
            recordings::mark_fetch_failed(&*tx, recording.id, reason).await?;
            false
        }
    };
    tx.commit().await?;
    Ok(changed)
}
