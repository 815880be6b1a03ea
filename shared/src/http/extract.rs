//! Extractors whose rejections speak our JSON error shape, and the practice a request acts for.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::auth::Caller;
use crate::domain::phone::Did;
use crate::domain::practice::Practice;

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
            Err(JsonRejection::BytesRejection(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
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
            return Err(ApiError::bad_request("invalid_body", "the body must be a JSON object"));
        }
        serde_json::from_value(value).map(Self).map_err(|e| {
            ApiError::bad_request(
                "invalid_body",
                format!("the body does not have the expected fields: {e}"),
            )
        })
    }
}

/// The practice a request acts for, the DID it texts from, and who is asking. Put in the request by
/// [`super::authorize::authorize`], the one place that authenticates.
#[derive(Clone)]
pub struct ActingPractice {
    pub practice: Practice,
    pub did: Did,
    pub caller: Caller,
}

impl ActingPractice {
    /// See [`Caller::practice_filtered_reader`]: only for statements that filter by
    /// `self.practice.id` themselves.
    pub fn practice_filtered_reader(&self) -> Caller {
        Caller::practice_filtered_reader()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ActingPractice {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<ActingPractice>().cloned().ok_or_else(|| {
            tracing::error!("a route that needs a caller has no authorization layer");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "an internal error occurred",
            )
        })
    }
}
