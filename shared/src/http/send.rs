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
use crate::domain::phone::PhoneNumber;
use crate::domain::segment::MAX_MESSAGE_CHARS;
use crate::sms::outbound::{send_text, Purpose, SendTextError, SentText};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    to: Option<String>,
    message: Option<String>,
}

pub async fn send(
    State(ctx): State<Arc<AppContext>>,
    acting: ActingPractice,
    JsonBody(request): JsonBody<SendRequest>,
) -> Result<(StatusCode, Json<SentText>), ApiError> {
    let to = request
        .to
        .ok_or_else(|| ApiError::bad_request("missing_field", "`to` is required"))?;
    let to =
        PhoneNumber::parse(&to).map_err(|e| ApiError::bad_request("invalid_phone_number", format!("`to`: {e}")))?;
    let message = request
        .message
        .ok_or_else(|| ApiError::bad_request("missing_field", "`message` is required"))?;
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
    let limits = &ctx.settings.limits;
    let practice = acting.practice.id;
    limits::enforce(
        &ctx,
        &format!("send:{practice}"),
        Duration::minutes(1),
        limits.send_per_minute,
        "texts this minute",
    )
    .await?;
    let per_number = format!("send-to:{practice}:{}", to.as_e164());
    limits::enforce(
        &ctx,
        &per_number,
        Duration::days(1),
        limits.send_per_number_per_day,
        "texts to this number today",
    )
    .await?;
    match send_text(
        &ctx,
        &acting.caller,
        &acting.practice,
        &acting.did,
        &to,
        message.trim(),
        Purpose::Staff,
    )
    .await
    {
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
