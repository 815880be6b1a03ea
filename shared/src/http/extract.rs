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
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send a JSON body with Content-Type: application/json",
            )),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::bad_request(
                "malformed_json",
                format!("the body is not valid JSON: {}", e.body_text()),
            )),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::bad_request(
                "invalid_body",
                format!(
                    "the body does not have the expected fields: {}",
                    e.body_text()
                ),
            )),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("the body is larger than {} bytes", super::MAX_BODY_BYTES),
                ))
            }
            Err(other) => Err(ApiError::bad_request("invalid_body", other.body_text())),
        }
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
