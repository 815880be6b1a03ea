//! `/api/voip/sms/webhook`: VoIP.ms's SMS URL callback (GET) and a JSON form (POST).
//!
//! VoIP.ms resends a callback every 30 minutes until the body is exactly `ok`, so `ok` means "stored"
//! (also for a duplicate), and anything else — a database outage included — makes it try again.

use std::sync::Arc;

use axum::extract::{FromRequest, RawQuery, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::error::ApiError;
use super::extract::JsonBody;
use super::limits::{self, SourceAddress};
use crate::app::AppContext;
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

/// Compares without leaking through timing where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn check_secret(ctx: &AppContext, pairs: &[(String, String)]) -> Result<(), ApiError> {
    let Some(expected) = &ctx.settings.webhook_secret else {
        return Ok(());
    };
    match param(pairs, "secret") {
        Some(given) if constant_time_eq(given.as_bytes(), expected.expose().as_bytes()) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_secret",
            "missing or wrong `secret` query parameter",
        )),
    }
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

fn inbound_error(error: InboundError) -> ApiError {
    match error {
        InboundError::Db(e) => e.into(),
        InboundError::UnknownDid(_) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_did", error.to_string())
        }
        InboundError::BadDid(_) | InboundError::BadSender(_) => {
            ApiError::bad_request("invalid_phone_number", error.to_string())
        }
        InboundError::BadProviderId => ApiError::bad_request("missing_field", error.to_string()),
        InboundError::TooLong => ApiError::bad_request("message_too_long", error.to_string()),
        InboundError::NulCharacter(_) => ApiError::bad_request("invalid_text", error.to_string()),
    }
}

/// Only the allowed networks (when configured), and counted before anything else, so guessing the
/// secret is slow too.
async fn limit_source(ctx: &AppContext, source: &SourceAddress) -> Result<(), ApiError> {
    if let Some(networks) = &ctx.settings.webhook_allowed_networks {
        let allowed = source
            .0
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| networks.iter().any(|n| n.contains(&ip)));
        if !allowed {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "source_not_allowed",
                "this source may not call the webhook",
            ));
        }
    }
    let limit = ctx.settings.limits.webhook_per_minute;
    limits::enforce(
        ctx,
        &format!("webhook:{}", source.0),
        chrono::Duration::minutes(1),
        limit,
        "webhook requests",
    )
    .await
}

pub async fn callback(
    State(ctx): State<Arc<AppContext>>,
    source: SourceAddress,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    limit_source(&ctx, &source).await?;
    let pairs = parse_callback_query(query.as_deref().unwrap_or_default());
    check_secret(&ctx, &pairs)?;
    let to = match param(&pairs, "to") {
        Some(to) => to.to_string(),
        None => default_to(&ctx)?,
    };
    let text = InboundText {
        to,
        from: required(param(&pairs, "from"), "from")?.to_string(),
        message: required(param(&pairs, "message"), "message")?.to_string(),
        provider_id: required(param(&pairs, "id"), "id")?.to_string(),
        provider_date: param(&pairs, "date").map(str::to_string),
        media: param(&pairs, "media")
            .filter(|m| !m.is_empty())
            .map(|m| vec![m.to_string()])
            .unwrap_or_default(),
        received_at: ctx.clock.now(),
        origin: Origin::Webhook,
        provider: crate::sms::gateway::Provider::VoipMs,
        may_auto_reply: true,
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
    limit_source(&ctx, &source).await?;
    // The secret first: a caller without it learns nothing, not even what a valid body looks like.
    check_secret(&ctx, &parse_callback_query(query.as_deref().unwrap_or_default()))?;
    let JsonBody(body) = JsonBody::<JsonInbound>::from_request(request, &()).await?;
    let to = match body.to {
        Some(to) => to,
        None => default_to(&ctx)?,
    };
    let text = InboundText {
        to,
        from: required(body.from.as_deref(), "from")?.to_string(),
        message: required(body.message.as_deref(), "message")?.to_string(),
        provider_id: required(body.id.as_deref(), "id")?.to_string(),
        provider_date: body.date,
        media: body.media.unwrap_or_default(),
        received_at: ctx.clock.now(),
        origin: Origin::Webhook,
        provider: crate::sms::gateway::Provider::VoipMs,
        may_auto_reply: true,
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

    #[test]
    fn secret_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
