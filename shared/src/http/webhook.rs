//! `/api/voip/sms/webhook`: VoIP.ms's SMS URL callback (GET) and a JSON form (POST).
//!
//! VoIP.ms resends a callback every 30 minutes until the body is exactly `ok`, so `ok` means "stored"
//! (also for a duplicate), and anything else — a database outage included — makes it try again.

use std::sync::Arc;

use axum::extract::{FromRequest, RawQuery, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::error::ApiError;
use super::extract::JsonBody;
use super::limits::SourceAddress;
use super::webhook_auth::authenticate_delivery;
use crate::app::AppContext;
use crate::sms::gateway::Provider;
use crate::sms::inbound::{receive, InboundError, InboundText};
use crate::store::messages::Origin;

/// Query pairs as VoIP.ms sends them: `&` or `;` between pairs, `+` and percent-encoding decoded.
pub fn parse_callback_query(query: &str) -> Vec<(String, String)> {
    query
        .split(['&', ';'])
        .filter(|pair| !pair.is_empty())
        .flat_map(|pair| form_urlencoded::parse(pair.as_bytes()).into_owned())
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn required<'a>(value: Option<&'a str>, name: &str) -> Result<&'a str, ApiError> {
    value.ok_or_else(|| ApiError::bad_request("missing_field", format!("`{name}` is required")))
}

fn default_to(ctx: &AppContext) -> Result<String, ApiError> {
    ctx.settings
        .default_did
        .as_ref()
        .map(|d| d.as_e164().to_string())
        .ok_or_else(|| ApiError::bad_request("missing_field", "`to` is required (no VOIPMS_DID is configured)"))
}

/// Only what is not a delivery at all is refused (no message id); everything else is stored.
fn inbound_error(error: InboundError) -> ApiError {
    match error {
        InboundError::Db(e) => e.into(),
        InboundError::BadProviderId => ApiError::bad_request("missing_field", error.to_string()),
    }
}

pub async fn callback(
    State(ctx): State<Arc<AppContext>>,
    source: SourceAddress,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = parse_callback_query(query.as_deref().unwrap_or_default());
    let to = param(&pairs, "to")
        .map(str::to_string)
        .or_else(|| default_to(&ctx).ok());
    authenticate_delivery(&ctx, &source, to.as_deref(), param(&pairs, "secret")).await?;
    let to = match to {
        Some(to) => to,
        None => default_to(&ctx)?,
    };
    let text = InboundText {
        to,
        from: required(param(&pairs, "from"), "from")?.to_string(),
        message: required(param(&pairs, "message"), "message")?.to_string(),
        provider: Provider::VoipMs,
        provider_id: required(param(&pairs, "id"), "id")?.to_string(),
        provider_date: param(&pairs, "date").map(str::to_string),
        sent_at: None,
        media: param(&pairs, "media")
            .filter(|m| !m.is_empty())
            .map(|m| vec![m.to_string()])
            .unwrap_or_default(),
        received_at: ctx.clock.now(),
        origin: Origin::Webhook,
    };
    receive(&ctx, text).await.map_err(inbound_error)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "ok").into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonInbound {
    from: Option<String>,
    to: Option<String>,
    message: Option<String>,
    id: Option<String>,
    date: Option<String>,
    media: Option<Vec<String>>,
}

pub async fn json(
    State(ctx): State<Arc<AppContext>>,
    source: SourceAddress,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<impl IntoResponse, ApiError> {
    // The body names the practice (`to`), but its errors wait for the secret: a caller without it
    // learns nothing, not even what a valid body looks like.
    let parsed = JsonBody::<JsonInbound>::from_request(request, &()).await;
    let to = match &parsed {
        Ok(JsonBody(body)) => body.to.clone().or_else(|| default_to(&ctx).ok()),
        Err(_) => None,
    };
    let pairs = parse_callback_query(query.as_deref().unwrap_or_default());
    authenticate_delivery(&ctx, &source, to.as_deref(), param(&pairs, "secret")).await?;
    let JsonBody(body) = parsed?;
    let to = match to {
        Some(to) => to,
        None => default_to(&ctx)?,
    };
    let text = InboundText {
        to,
        from: required(body.from.as_deref(), "from")?.to_string(),
        message: required(body.message.as_deref(), "message")?.to_string(),
        provider: Provider::VoipMs,
        provider_id: required(body.id.as_deref(), "id")?.to_string(),
        provider_date: body.date,
        sent_at: None,
        media: body.media.unwrap_or_default(),
        received_at: ctx.clock.now(),
        origin: Origin::Webhook,
    };
    let outcome = receive(&ctx, text).await.map_err(inbound_error)?;
    Ok(Json(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_separators_and_decodes() {
        let pairs = parse_callback_query("to=5145550123;from=4385550199&message=Hi+there%21%20%F0%9F%98%80&id=42");
        assert_eq!(param(&pairs, "to"), Some("5145550123"));
        assert_eq!(param(&pairs, "from"), Some("4385550199"));
        assert_eq!(param(&pairs, "message"), Some("Hi there! 😀"));
        assert_eq!(param(&pairs, "id"), Some("42"));
        assert!(parse_callback_query("").is_empty());
        assert_eq!(param(&parse_callback_query("message="), "message"), Some(""));
    }
}
