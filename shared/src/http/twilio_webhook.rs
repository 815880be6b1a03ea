//! `/api/twilio/sms/webhook`: Twilio's "a message comes in" webhook for the deployment's Twilio
//! number. A form POST signed with `X-Twilio-Signature` over `TWILIO_WEBHOOK_URL` (the URL as
//! configured in Twilio: behind API Gateway the host and path this code sees are different).
//! Answers an empty TwiML `<Response>` so Twilio itself sends nothing back.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::limits::{self, SourceAddress};
use crate::app::AppContext;
use crate::sms::inbound::InboundError;
use crate::sms::twilio_inbound::{receive_from_twilio, TwilioText};
use crate::sms::twilio_signature;

pub const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

/// Failed signatures allowed per source address and minute; valid ones are never limited (after
/// a reminder campaign many patients answer at once, all through Twilio).
pub const BAD_SIGNATURES_PER_MINUTE: u32 = 10;

/// Twilio sends at most 10 media per message.
const MAX_MEDIA: usize = 10;

/// A deployment without Twilio's inbound side has no such endpoint: 404, not a server error.
fn not_configured() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_configured",
        "Twilio inbound texts are not configured here (TWILIO_AUTH_TOKEN and TWILIO_WEBHOOK_URL)",
    )
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn required<'a>(params: &'a [(String, String)], names: &[&str]) -> Result<&'a str, ApiError> {
    names
        .iter()
        .find_map(|name| param(params, name).filter(|v| !v.trim().is_empty()))
        .ok_or_else(|| ApiError::bad_request("missing_field", format!("`{}` is required", names[0])))
}

/// `MediaUrl0` .. `MediaUrl{NumMedia-1}`, those present.
fn media(params: &[(String, String)]) -> Vec<String> {
    let count = param(params, "NumMedia")
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_MEDIA);
    (0..count)
        .filter_map(|i| param(params, &format!("MediaUrl{i}")))
        .filter(|url| !url.is_empty())
        .map(str::to_string)
        .collect()
}

/// A failed signature counts against its source; past the limit the answer is 429 instead of 401.
async fn refuse(ctx: &AppContext, source: &SourceAddress, why: &str) -> ApiError {
    tracing::warn!(source = %source.0, why, "Twilio webhook request refused");
    let bucket = format!("twilio-webhook-bad-signature:{}", source.0);
    if let Err(limited) = limits::enforce(
        ctx,
        &bucket,
        chrono::Duration::minutes(1),
        BAD_SIGNATURES_PER_MINUTE,
        "requests with a bad signature",
    )
    .await
    {
        return limited;
    }
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "bad_signature",
        "missing or wrong X-Twilio-Signature",
    )
}

fn inbound_error(error: InboundError) -> ApiError {
    match error {
        InboundError::Db(e) => e.into(),
        InboundError::BadProviderId => ApiError::bad_request("missing_field", "`MessageSid` is required"),
    }
}

pub async fn receive(
    State(ctx): State<Arc<AppContext>>,
    source: SourceAddress,
    request: Request,
) -> Result<Response, ApiError> {
    let Some((token, url)) = ctx
        .settings
        .twilio
        .as_ref()
        .and_then(|t| Some((t.auth_token.clone(), t.webhook_url.clone()?)))
    else {
        return Err(not_configured());
    };
    if !is_form(request.headers()) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the form Twilio sends, with Content-Type: application/x-www-form-urlencoded",
        ));
    }
    let signature = request
        .headers()
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body is larger than {} bytes", super::MAX_BODY_BYTES),
            ))
        }
        Err(e) => return Err(ApiError::bad_request("invalid_body", e.body_text())),
    };
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let Some(signature) = signature else {
        return Err(refuse(&ctx, &source, "no X-Twilio-Signature").await);
    };
    if !twilio_signature::verify(token.expose(), &url, &params, &signature) {
        return Err(refuse(
            &ctx,
            &source,
            "X-Twilio-Signature does not match TWILIO_WEBHOOK_URL and the body",
        )
        .await);
    }
    let text = TwilioText {
        // SmsMessageSid and SmsSid are Twilio's older names for the same id.
        message_sid: required(&params, &["MessageSid", "SmsMessageSid", "SmsSid"])?.to_string(),
        from: required(&params, &["From"])?.to_string(),
        to: required(&params, &["To"])?.to_string(),
        body: param(&params, "Body").unwrap_or_default().to_string(),
        media: media(&params),
        received_at: ctx.clock.now(),
    };
    receive_from_twilio(&ctx, text).await.map_err(inbound_error)?;
    Ok(([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], EMPTY_TWIML).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn media_urls_up_to_num_media() {
        let params = p(&[
            ("NumMedia", "2"),
            ("MediaUrl0", "https://api.twilio.com/m/0"),
            ("MediaContentType0", "image/jpeg"),
            ("MediaUrl1", "https://api.twilio.com/m/1"),
            ("MediaUrl2", "https://api.twilio.com/m/ignored"),
        ]);
        assert_eq!(
            media(&params),
            ["https://api.twilio.com/m/0", "https://api.twilio.com/m/1"]
        );
        assert!(media(&p(&[("NumMedia", "0"), ("MediaUrl0", "x")])).is_empty());
        assert!(media(&p(&[("NumMedia", "many")])).is_empty());
        assert!(
            media(&p(&[("NumMedia", "99999999999")])).is_empty(),
            "missing URLs are skipped"
        );
    }

    #[test]
    fn form_content_type() {
        let mut headers = HeaderMap::new();
        assert!(!is_form(&headers));
        headers.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=UTF-8".parse().unwrap(),
        );
        assert!(is_form(&headers));
        headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        assert!(!is_form(&headers));
    }
}
