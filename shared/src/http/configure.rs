//! `POST /api/voip/configure-webhook`: point the DID's SMS URL callback at us, keeping its other
//! SMS settings (setSMS resets whatever it is not given, e.g. email forwarding).
//!
//! Only this deployment's own webhook (`PUBLIC_WEBHOOK_URL`) or a host an operator allowed
//! (`WEBHOOK_ALLOWED_HOSTS`): the callback URL carries the practice's webhook secret, and an
//! admin must not be able to send it elsewhere. Each call gives the practice a fresh secret (the
//! previous one keeps working for the grace period) which only VoIP.ms ever receives.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{ActingPractice, JsonBody};
use super::limits;
use crate::app::AppContext;
use crate::auth::Caller;
use crate::db;
use crate::voipms::{set_sms_preserving, VoipMsError};
use crate::webhook_secret::{self, RotateError};

/// The placeholders VoIP.ms fills in; `{TIMESTAMP}` arrives as `date`.
const PLACEHOLDERS: &str = "to={TO}&from={FROM}&message={MESSAGE}&id={ID}&date={TIMESTAMP}&media={MEDIA}";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigureRequest {
    webhook_url: Option<String>,
}

/// The URL VoIP.ms is pointed at: the one given, or this deployment's own, on an allowed host.
fn target_url(ctx: &AppContext, given: Option<String>) -> Result<reqwest::Url, ApiError> {
    let public = ctx.settings.public_webhook_url.as_ref();
    let raw = match (given, public) {
        (Some(raw), _) => raw,
        (None, Some(public)) => return Ok(public.clone()),
        (None, None) => {
            return Err(ApiError::bad_request(
                "missing_field",
                "`webhookUrl` is required (PUBLIC_WEBHOOK_URL is not configured)",
            ))
        }
    };
    let url = reqwest::Url::parse(&raw)
        .map_err(|e| ApiError::bad_request("invalid_url", format!("`webhookUrl` is not a URL: {e}")))?;
    let Some(host) = url.host_str().filter(|_| url.scheme() == "https") else {
        return Err(ApiError::bad_request(
            "invalid_url",
            "`webhookUrl` must be an https:// URL",
        ));
    };
    if url.fragment().is_some() {
        return Err(ApiError::bad_request(
            "invalid_url",
            "`webhookUrl` must not have a #fragment",
        ));
    }
    let own =
        public.is_some_and(|p| p.host_str() == Some(host) && p.port_or_known_default() == url.port_or_known_default());
    if !own && !ctx.settings.webhook_allowed_hosts.iter().any(|h| h == host) {
        let hint = match public.and_then(|p| p.host_str()) {
            Some(own) => format!("this deployment's webhook is on {own}"),
            None => "PUBLIC_WEBHOOK_URL is not configured".into(),
        };
        return Err(ApiError::bad_request(
            "host_not_allowed",
            format!("`webhookUrl` must point at this deployment's webhook ({hint}); an operator can allow other hosts in WEBHOOK_ALLOWED_HOSTS"),
        ));
    }
    Ok(url)
}

fn rotate_failure(error: RotateError) -> ApiError {
    match error {
        RotateError::Db(e) => e.into(),
        RotateError::Random => {
            tracing::error!("no randomness for a webhook secret");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "an internal error occurred",
            )
        }
    }
}

/// The callback template for `webhook_url`, with the secret when one is set.
pub fn callback_template(webhook_url: &str, secret: Option<&str>) -> String {
    let separator = if webhook_url.contains('?') { '&' } else { '?' };
    let mut url = format!("{webhook_url}{separator}{PLACEHOLDERS}");
    if let Some(secret) = secret {
        url.push_str("&secret=");
        url.extend(form_urlencoded::byte_serialize(secret.as_bytes()));
    }
    url
}

fn voipms_failure(error: VoipMsError) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "voipms_error",
        format!("VoIP.ms refused or failed: {error}"),
    )
}

pub async fn configure(
    State(ctx): State<Arc<AppContext>>,
    acting: ActingPractice,
    JsonBody(request): JsonBody<ConfigureRequest>,
) -> Result<Json<Value>, ApiError> {
    let url = target_url(&ctx, request.webhook_url)?;
    let bucket = format!("configure:{}", acting.practice.id);
    limits::enforce(
        &ctx,
        &bucket,
        chrono::Duration::hours(1),
        ctx.settings.limits.configure_per_hour,
        "webhook configurations this hour",
    )
    .await?;
    let voipms = ctx.voipms.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "voipms_not_configured",
            "VoIP.ms credentials are not set (VOIPMS_USERNAME, VOIPMS_PASSWORD)",
        )
    })?;
    let did = acting.did.voipms_digits();
    let info = voipms.did_info(did).await.map_err(voipms_failure)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "unknown_did",
            format!("VoIP.ms does not list the DID {did} on this account"),
        )
    })?;
    // The new secret is stored in the same transaction that hands it to VoIP.ms: if setSMS fails,
    // nothing changes and the current secret stays current.
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &Caller::service()).await?;
    let secret = webhook_secret::rotate(
        &*tx,
        acting.practice.id,
        ctx.clock.now(),
        ctx.settings.webhook_secret_grace,
    )
    .await
    .map_err(rotate_failure)?;
    let template = callback_template(url.as_str(), Some(secret.expose()));
    let params = set_sms_preserving(did, &info, &template);
    voipms.set_sms(&params).await.map_err(voipms_failure)?;
    tx.commit().await?;
    tracing::info!(did = %acting.did.number().masked(), "SMS URL callback configured with a new webhook secret");
    let kept = |key: &str| params.iter().any(|(k, v)| *k == key && v == "1");
    Ok(Json(json!({
        "did": acting.did.as_e164(),
        "callbackUrl": callback_template(url.as_str(), Some("REDACTED")),
        "retry": true,
        "preserved": {
            "emailForwarding": kept("email_enabled"),
            "smsForwarding": kept("sms_forward_enable"),
            "webhook": kept("webhook_enable"),
            "smpp": kept("smpp_enabled"),
            "sipAccount": kept("sms_sipaccount_enabled"),
        },
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_keeps_placeholders_and_encodes_the_secret() {
        assert_eq!(
            callback_template("https://x.example/hook", Some("a b&c")),
            "https://x.example/hook?to={TO}&from={FROM}&message={MESSAGE}&id={ID}&date={TIMESTAMP}&media={MEDIA}&secret=a+b%26c"
        );
        assert!(callback_template("https://x.example/hook?k=1", None).starts_with("https://x.example/hook?k=1&to={TO}"));
    }
}
