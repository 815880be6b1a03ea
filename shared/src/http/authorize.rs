//! The one place requests are authenticated and authorised: every endpoint that is not public gets
//! this layer from the endpoint table, so a new endpoint cannot forget it.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::error::ApiError;
use super::extract::ActingPractice;
use crate::app::AppContext;
use crate::auth::{AuthError, Caller, Role};
use crate::db;
use crate::store::practices::{self, PracticeKey};

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token (the VoIP.ms webhook, which checks its own secret).
    Public,
    /// Practice staff and admins (and the service role).
    Staff,
    /// Practice admins (and the service role).
    Admin,
}

fn unauthorized(message: String) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

pub async fn authorize(
    State((ctx, access)): State<(Arc<AppContext>, Access)>,
    mut request: Request,
    next: Next,
) -> Response {
    match acting_practice(&ctx, access, request.headers()).await {
        Ok(acting) => {
            request.extensions_mut().insert(acting);
            next.run(request).await
        }
        Err(error) => {
            let challenge = error.status == StatusCode::UNAUTHORIZED;
            let mut response = error.into_response();
            if challenge {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            response
        }
    }
}

async fn acting_practice(ctx: &AppContext, access: Access, headers: &HeaderMap) -> Result<ActingPractice, ApiError> {
    let caller = if ctx.insecure_no_auth {
        Caller::service()
    } else {
        let auth = ctx
            .auth
            .as_ref()
            .ok_or_else(|| unauthorized("authentication is not configured".into()))?;
        let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        auth.authenticate(header).await.map_err(|e| match e {
            AuthError::Unauthenticated(m) => unauthorized(m),
            AuthError::Forbidden(m) => forbidden(m),
        })?
    };
    if access == Access::Admin && caller.role == Role::Staff {
        return Err(forbidden("only practice admins may do this"));
    }
    let practice_id = match caller.practice_id {
        Some(id) => Some(id),
        // The service role acts for every practice: it names one, or gets VOIPMS_DID's.
        None => match headers.get("x-practice-id") {
            Some(value) => Some(
                value
                    .to_str()
                    .ok()
                    .and_then(|v| Uuid::parse_str(v.trim()).ok())
                    .ok_or_else(|| {
                        ApiError::bad_request("invalid_practice", "`X-Practice-Id` must be a practice id (uuid)")
                    })?,
            ),
            None => None,
        },
    };
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &caller).await?;
    let key = match (practice_id, &ctx.settings.default_did) {
        (Some(id), _) => PracticeKey::Id(id),
        (None, Some(did)) => PracticeKey::Did(did.as_e164()),
        (None, None) => {
            return Err(ApiError::bad_request(
                "invalid_practice",
                "name the practice with `X-Practice-Id`",
            ))
        }
    };
    let (practice, did) = practices::with_texting_did(&*tx, key)
        .await?
        .ok_or_else(|| forbidden("no such practice for this caller"))?;
    let did = did.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "practice_without_did",
            "the practice has no DID to text from",
        )
    })?;
    tx.commit().await?;
    Ok(ActingPractice { practice, did, caller })
}
