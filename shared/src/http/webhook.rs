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
use super::webhook_auth::{admit, authenticate_delivery, check_network, refuse};
use crate::app::AppContext;
use crate::sms::gateway::Provider;
use crate::sms::inbound::{
    is_valid_provider_id, receive_admitted, InboundError, InboundOutcome, InboundText, Received,
};
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
    let secret = param(&pairs, "secret");
    let fields = (
        to,
        param(&pairs, "from"),
        param(&pairs, "message"),
        param(&pairs, "id").filter(|id| is_valid_provider_id(id)),
    );
    let (Some(to), Some(from), Some(message), Some(id)) = fields else {
        // Incomplete: whoever sent it learns what is missing only with the secret.
        authenticate_delivery(&ctx, &source, fields.0.as_deref(), secret).await?;
        if fields.0.is_none() {
            default_to(&ctx)?; // the error that says `to` is required
        }
        return Err(incomplete(fields.1, fields.2, param(&pairs, "id")));
    };
    let text = InboundText {
        to,
        from: from.to_string(),
        message: message.to_string(),
        provider: Provider::VoipMs,
        provider_id: id.to_string(),
        provider_date: param(&pairs, "date").map(str::to_string),
        sent_at: None,
        media: param(&pairs, "media")
            .filter(|m| !m.is_empty())
            .map(|m| vec![m.to_string()])
            .unwrap_or_default(),
        received_at: ctx.clock.now(),
        origin: Origin::Webhook,
    };
    deliver(&ctx, &source, secret, text).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "ok").into_response())
}

/// The error for a delivery that lacks a field, in the order the fields were always checked.
fn incomplete(from: Option<&str>, message: Option<&str>, id: Option<&str>) -> ApiError {
    if let Err(error) = required(from, "from")
        .and(required(message, "message"))
        .and(required(id, "id"))
    {
        return error;
    }
    inbound_error(InboundError::BadProviderId)
}

/// Stores a complete delivery, its secret checked in the same transaction.
async fn deliver(
    ctx: &AppContext,
    source: &SourceAddress,
    secret: Option<&str>,
    text: InboundText,
) -> Result<InboundOutcome, ApiError> {
    check_network(ctx, source)?;
    let received = receive_admitted(ctx, text, async |tx, context| {
        admit(ctx, source, tx, context, secret).await
    })
    .await
    .map_err(inbound_error)?;
    match received {
        Received::Done(outcome) => Ok(outcome),
        Received::Refused(refusal) => Err(refuse(ctx, source, refusal).await),
    }
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
    let pairs = parse_callback_query(query.as_deref().unwrap_or_default());
    let secret = param(&pairs, "secret");
    let complete = match parsed {
        Ok(JsonBody(body)) => {
            let to = body.to.clone().or_else(|| default_to(&ctx).ok());
            let id_ok = body.id.as_deref().is_some_and(is_valid_provider_id);
            match (to, body.from.is_some() && body.message.is_some() && id_ok) {
                (Some(to), true) => Ok((to, body)),
                (to, _) => Err((to, Ok(body))),
            }
        }
        Err(error) => Err((None, Err(error))),
    };
    let (to, body) = match complete {
        Ok(complete) => complete,
        Err((to, body)) => {
            authenticate_delivery(&ctx, &source, to.as_deref(), secret).await?;
            let JsonBody(body) = body.map(JsonBody)?;
            if to.is_none() {
                default_to(&ctx)?; // the error that says `to` is required
            }
            return Err(incomplete(
                body.from.as_deref(),
                body.message.as_deref(),
                body.id.as_deref(),
            ));
        }
    };
    let text = InboundText {
        to,
        from: body.from.unwrap_or_default(),
        message: body.message.unwrap_or_default(),
        provider: Provider::VoipMs,
        provider_id: body.id.unwrap_or_default(),
        provider_date: body.date,
        sent_at: None,
        media: body.media.unwrap_or_default(),
        received_at: ctx.clock.now(),
        origin: Origin::Webhook,
    };
    let outcome = deliver(&ctx, &source, secret, text).await?;
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
