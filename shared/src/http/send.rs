//! `POST /api/voip/sms/send`: staff send a text.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Duration;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::extract::{ActingPractice, JsonBody};
use super::limits;
use crate::app::AppContext;
use crate::auth::Caller;
use crate::db;
use crate::domain::phone::Did;
use crate::domain::phone::PhoneNumber;
use crate::domain::segment::MAX_MESSAGE_CHARS;
use crate::sms::outbound::{send_text, SendTextError, SentText};
use crate::store::conversations;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SendRequest {
    to: Option<String>,
    message: Option<String>,
    /// Reply in this thread: from its DID, to its contact.
    conversation_id: Option<String>,
    /// Send from this practice DID.
    from: Option<String>,
}

/// Which of the practice's DIDs the text goes from (and, for a thread, to whom): the thread's DID
/// when one is named, else `from` when given, else the DID the contact last wrote to, else the
/// practice's texting DID. A practice with several numbers so answers each patient from the
/// number they know, in the same thread.
async fn sending_did(
    ctx: &AppContext,
    caller: &Caller,
    practice_id: uuid::Uuid,
    default_did: &Did,
    request: &SendRequest,
) -> Result<(Did, Option<String>), ApiError> {
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, caller).await?;
    if let Some(raw) = &request.conversation_id {
        let id = uuid::Uuid::parse_str(raw)
            .map_err(|_| ApiError::bad_request("invalid_id", "`conversationId` is not a conversation id"))?;
        let summary = conversations::get(&*tx, practice_id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("no such conversation"))?;
        let did = Did::parse(&summary.did)
            .map_err(|_| ApiError::bad_request("invalid_did", "the thread's DID cannot send texts"))?;
        return Ok((did, Some(summary.contact_number)));
    }
    if let Some(raw) = &request.from {
        let did = Did::parse(raw).map_err(|e| ApiError::bad_request("invalid_phone_number", format!("`from`: {e}")))?;
        if !conversations::practice_owns_did(&*tx, practice_id, did.as_e164()).await? {
            return Err(ApiError::bad_request(
                "unknown_did",
                "`from` is not one of this practice's numbers",
            ));
        }
        return Ok((did, None));
    }
    let to = request.to.as_deref().unwrap_or_default();
    let last = match PhoneNumber::parse(to) {
        Ok(number) => conversations::last_inbound_did(&*tx, practice_id, number.as_e164()).await?,
        Err(_) => None,
    };
    Ok((
        last.and_then(|d| Did::parse(&d).ok())
            .unwrap_or_else(|| default_did.clone()),
        None,
    ))
}

pub async fn send(
    State(ctx): State<Arc<AppContext>>,
    acting: ActingPractice,
    JsonBody(request): JsonBody<SendRequest>,
) -> Result<(StatusCode, Json<SentText>), ApiError> {
    let message = request
        .message
        .clone()
        .ok_or_else(|| ApiError::bad_request("missing_field", "`message` is required"))?;
    if request.to.is_none() && request.conversation_id.is_none() {
        return Err(ApiError::bad_request(
            "missing_field",
            "`to` (or `conversationId`) is required",
        ));
    }
    if let Some(to) = &request.to {
        PhoneNumber::parse(to).map_err(|e| ApiError::bad_request("invalid_phone_number", format!("`to`: {e}")))?;
    }
    if message.contains('\0') {
        return Err(ApiError::bad_request(
            "invalid_text",
            "`message` contains a NUL character",
        ));
    }
    if message.trim().is_empty() {
        return Err(ApiError::bad_request("empty_message", "`message` is empty"));
    }
    let length = message.chars().count();
    if length > MAX_MESSAGE_CHARS {
        return Err(ApiError::bad_request(
            "message_too_long",
            format!("`message` has {length} characters; the maximum is {MAX_MESSAGE_CHARS}"),
        ));
    }
    let (did, thread_contact) = sending_did(&ctx, &acting.caller, acting.practice.id, &acting.did, &request).await?;
    let to = match (&request.to, thread_contact) {
        (Some(to), _) => to.clone(),
        (None, Some(contact)) => contact,
        (None, None) => unreachable!("checked above"),
    };
    let to = PhoneNumber::parse(&to)
        .map_err(|e| ApiError::bad_request("invalid_phone_number", format!("the thread's contact: {e}")))?;
    let limits = &ctx.settings.limits;
    let practice = acting.practice.id;
    let per_practice = format!("send:{practice}");
    let per_number = format!("send-to:{practice}:{}", to.as_e164());
    limits::enforce_each(
        &ctx,
        &[
            (
                &per_practice,
                Duration::minutes(1),
                limits.send_per_minute,
                "texts this minute",
            ),
            (
                &per_number,
                Duration::days(1),
                limits.send_per_number_per_day,
                "texts to this number today",
            ),
        ],
    )
    .await?;
    match send_text(&ctx, &acting.caller, acting.practice.id, &did, &to, message.trim()).await {
        Ok(sent) if sent.status == "queued" => Ok((StatusCode::ACCEPTED, Json(sent))),
        Ok(sent) => Ok((StatusCode::CREATED, Json(sent))),
        Err(SendTextError::OptedOut) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "opted_out",
            "this number has opted out of texts (replied STOP); nothing was sent",
        )),
        Err(SendTextError::Db(e)) => Err(e.into()),
        Err(SendTextError::Failed { text, failures }) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "send_failed",
            "no carrier could send the text; it is stored as failed and flagged for review",
        )
        .with_details(json!({ "reasons": failures, "text": text }))),
    }
}
