//! `POST /api/voip/sync` (admins): runs the call sync now for the caller's practice and says
//! what it did.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::error::ApiError;
use super::extract::ActingPractice;
use crate::app::AppContext;
use crate::calls::sync::{self, Scope, SyncError, SyncReport};

pub async fn sync_now(
    State(ctx): State<Arc<AppContext>>,
    acting: ActingPractice,
) -> Result<Json<SyncReport>, ApiError> {
    match sync::run(&ctx, Scope::Practice(acting.practice.id)).await {
        Ok(report) => Ok(Json(report)),
        Err(SyncError::NotConfigured) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "voipms_not_configured",
            "VoIP.ms credentials are not set, so there is no call history to sync",
        )),
        Err(SyncError::VoipMs(error)) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "voipms_unavailable",
            format!("VoIP.ms did not give the call history ({error}); the next sync covers the same window"),
        )),
        Err(SyncError::Db(error)) => Err(error.into()),
    }
}
