//! `GET /api/voip/calls/recording/{recId}?callSid=`: a short-lived download link for a recording.
//!
//! Audio goes by link, never in the response: a Lambda response cannot carry more than 6 MB. On
//! AWS the link is a presigned S3 GET; under `pedro serve` a signed link `pedro serve` serves
//! itself. Every link handed out is recorded (who, which recording, when). A recording not
//! stored yet is fetched from VoIP.ms first; and when transcription is on and the recording has
//! no transcript (or its transcription failed), this asks for one.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use uuid::Uuid;

use super::error::ApiError;
use super::extract::ActingPractice;
use crate::app::AppContext;
use crate::blob::BlobKey;
use crate::calls::fetch::{self, Fetched};
use crate::calls::transcription_request::{self, Requested};
use crate::db;
use crate::store::{practices, recordings};

/// How long a download link works.
pub const LINK_TTL: Duration = Duration::from_secs(15 * 60);

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no recording with id {id:?}"))
}

pub async fn link(
    State(ctx): State<Arc<AppContext>>,
    acting: ActingPractice,
    Path(rec_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let id = Uuid::parse_str(&rec_id).map_err(|_| not_found(&rec_id))?;
    let mut call_sid = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "callSid" => call_sid = Some(value.into_owned()),
            other => {
                return Err(ApiError::bad_request(
                    "unknown_parameter",
                    format!("unknown query parameter `{other}`"),
                ))
            }
        }
    }
    let mut recording = {
        let mut client = ctx.conn().await?;
        let tx = db::begin_as(&mut client, &acting.caller).await?;
        let found = recordings::get(&*tx, acting.practice.id, id).await?;
        tx.commit().await?;
        found.ok_or_else(|| not_found(&rec_id))?
    };
    // The call named must be this recording's.
    if let Some(sid) = &call_sid {
        if recording.call_id.map(|c| c.to_string()).as_deref() != Some(sid.as_str()) {
            return Err(not_found(&rec_id));
        }
    }
    match recording.status.as_str() {
        "stored" => {}
        "expired" | "deleted" => {
            return Err(ApiError::new(
                StatusCode::GONE,
                "recording_removed",
                "this recording was deleted (retention period or by an admin)",
            ))
        }
        _ => recording = fetch_now(&ctx, &acting, recording).await?,
    }
    let key = recording
        .object_key
        .as_deref()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "recording_not_stored",
                "the recording is not stored",
            )
        })
        .and_then(|k| BlobKey::parse(k).map_err(|e| blob_error(&e)))?;
    let now = ctx.clock.now();
    let expires_at = now + chrono::Duration::from_std(LINK_TTL).unwrap_or_default();
    let url = ctx
        .blob
        .download_url(&key, LINK_TTL, now)
        .await
        .map_err(|e| blob_error(&e))?;
    {
        // Written by the service role with the verified caller: nobody can forge or skip it.
        let mut client = ctx.conn().await?;
        let tx = db::begin_as(&mut client, &crate::auth::Caller::service()).await?;
        let actor = acting.caller.subject().unwrap_or("service");
        recordings::log_access(&*tx, &recording, actor, acting.caller.role_name(), now, expires_at).await?;
        tx.commit().await?;
    }
    let mut transcription = recording.transcription_status.clone();
    if ctx.settings.calls.enable_transcription
        && matches!(
            transcription.as_str(),
            "none" | "failed" | "not_configured" | "queued" | "processing"
        )
        && transcription_request::request(&ctx, recording.id, true).await? == Requested::Queued
    {
        transcription = "queued".into();
    }
    tracing::info!(recording = %recording.id, role = acting.caller.role_name(), "recording link handed out");
    Ok(Json(json!({
        "url": url,
        "expiresAt": expires_at,
        "recording": recording,
        "transcription": transcription,
    })))
}

fn blob_error(error: &crate::blob::BlobError) -> ApiError {
    tracing::error!(%error, "object store failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_unavailable",
        "the recording store cannot be reached; try again shortly",
    )
}

/// Fetches a recording that is listed (or was unreadable) from VoIP.ms into the store now.
async fn fetch_now(
    ctx: &AppContext,
    acting: &ActingPractice,
    recording: recordings::Recording,
) -> Result<recordings::Recording, ApiError> {
    let unavailable = |message: String| ApiError::new(StatusCode::BAD_GATEWAY, "voipms_unavailable", message);
    let Some(voipms) = &ctx.voipms else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "recording_not_stored",
            "the recording is not stored and VoIP.ms is not configured to fetch it",
        ));
    };
    let account = {
        let mut client = ctx.conn().await?;
        let tx = db::begin_as(&mut client, &crate::auth::Caller::service()).await?;
        let own = practices::voipms_account(&*tx, acting.practice.id).await?;
        tx.commit().await?;
        own.or_else(|| ctx.settings.calls.voipms_account.clone())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "recording_not_stored",
                    "the recording is not stored and no VoIP.ms account is set (VOIPMS_ACCOUNT)",
                )
            })?
    };
    match fetch::fetch_and_store(
        &ctx.db,
        voipms,
        ctx.blob.as_ref(),
        &account,
        &recording,
        ctx.clock.now(),
    )
    .await
    {
        Ok(Fetched::Stored | Fetched::AlreadyStored) => {}
        Ok(Fetched::Corrupt) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "recording_unreadable",
                "VoIP.ms returned a file that is not playable audio; the call is flagged for a person",
            ))
        }
        Err(fetch::FetchError::Db(error)) => return Err(error.into()),
        Err(error) => return Err(unavailable(format!("the recording could not be fetched: {error}"))),
    }
    if ctx.settings.calls.enable_transcription {
        // Stored just now: the same request as the sync makes (asked only once).
        transcription_request::request(ctx, recording.id, false).await?;
    }
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &acting.caller).await?;
    let fresh = recordings::get(&*tx, acting.practice.id, recording.id).await?;
    tx.commit().await?;
    fresh.ok_or_else(|| ApiError::not_found("the recording was deleted meanwhile"))
}
