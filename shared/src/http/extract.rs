//! Extractors whose rejections speak our JSON error shape, and the practice a request acts for.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::app::AppContext;
use crate::domain::phone::Did;
use crate::domain::practice::Practice;
use crate::store::practices;

/// A JSON body; malformed, mistyped, oversized or non-JSON bodies get a 4xx that says why.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Parse to a value first so syntax errors, non-objects and wrong fields each get their
        // own message (serde would otherwise read an array positionally into a struct).
        let value = match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(value)) => value,
            Err(JsonRejection::MissingJsonContentType(_)) => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send a JSON body with Content-Type: application/json",
                ))
            }
            Err(JsonRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("the body is larger than {} bytes", super::MAX_BODY_BYTES),
                ))
            }
            Err(JsonRejection::JsonSyntaxError(e)) => {
                return Err(ApiError::bad_request(
                    "malformed_json",
                    format!("the body is not valid JSON: {}", e.body_text()),
                ))
            }
            Err(other) => return Err(ApiError::bad_request("invalid_body", other.body_text())),
        };
        if !value.is_object() {
            return Err(ApiError::bad_request(
                "invalid_body",
                "the body must be a JSON object",
            ));
        }
        serde_json::from_value(value).map(Self).map_err(|e| {
            ApiError::bad_request(
                "invalid_body",
                format!("the body does not have the expected fields: {e}"),
            )
        })
    }
}

/// The practice this request acts for, with the DID it texts from.
///
/// Until sign-in exists this is the practice of `VOIPMS_DID`; every route takes it from here, so
/// authentication will replace this one extractor.
pub struct ActingPractice {
    pub practice: Practice,
    pub did: Did,
}

impl FromRequestParts<Arc<AppContext>> for ActingPractice {
    type Rejection = ApiError;

    async fn from_request_parts(
        _: &mut Parts,
        ctx: &Arc<AppContext>,
    ) -> Result<Self, Self::Rejection> {
        let unavailable = |message: &str| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "practice_not_configured",
                message,
            )
        };
        let did = ctx
            .settings
            .default_did
            .clone()
            .ok_or_else(|| unavailable("VOIPMS_DID is not set"))?;
        let client = ctx.conn().await?;
        let practice = practices::for_did(&**client, did.as_e164())
            .await?
            .ok_or_else(|| unavailable("no practice owns VOIPMS_DID; run `pedro migrate`"))?;
        Ok(Self { practice, did })
    }
}
