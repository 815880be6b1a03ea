//! `POST /api/voip/configure-webhook`: point the DID's SMS URL callback at us, keeping its other
//! SMS settings (setSMS resets whatever it is not given, e.g. email forwarding).

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
use crate::config::Secret;
use crate::voipms::{set_sms_preserving, VoipMsError};

/// The placeholders VoIP.ms fills in; `{TIMESTAMP}` arrives as `date`.
const PLACEHOLDERS: &str = "to={TO}&from={FROM}&message={MESSAGE}&id={ID}&date={TIMESTAMP}&media={MEDIA}";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigureRequest {
    webhook_url: Option<String>,
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
    let raw = request
        .webhook_url
        .ok_or_else(|| ApiError::bad_request("missing_field", "`webhookUrl` is required"))?;
    let url = reqwest::Url::parse(&raw)
        .map_err(|e| ApiError::bad_request("invalid_url", format!("`webhookUrl` is not a URL: {e}")))?;
    if url.scheme() != "https" || url.host_str().is_none() {
        return Err(ApiError::bad_request(
            "invalid_url",
            "`webhookUrl` must be an https:// URL",
        ));
    }
    if url.fragment().is_some() {
        return Err(ApiError::bad_request(
            "invalid_url",
            "`webhookUrl` must not have a #fragment",
        ));
    }
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
    let template = callback_template(url.as_str(), ctx.settings.webhook_secret.as_ref().map(Secret::expose));
    let params = set_sms_preserving(did, &info, &template);
    voipms.set_sms(&params).await.map_err(voipms_failure)?;
    tracing::info!(did = %acting.did.number().masked(), "SMS URL callback configured");
    let kept = |key: &str| params.iter().any(|(k, v)| *k == key && v == "1");
    Ok(Json(json!({
        "did": acting.did.as_e164(),
        "callbackUrl": callback_template(url.as_str(), ctx.settings.webhook_secret.as_ref().map(|_| "REDACTED")),
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
