//! `GET /api/voip/settings` (staff and admins) and `PUT /api/voip/settings` (admins): the
//! practice's name, numbers, hours, holidays, quiet period, after-hours note and missed-call text.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::extract::{ActingPractice, JsonBody};
use crate::app::AppContext;
use crate::db::{self, DbError};
use crate::domain::field_error::FieldError;
use crate::domain::settings::SettingsChange;
use crate::store::settings as store;

/// A 400 naming the field, in the one error shape.
pub fn invalid(code: &'static str, error: FieldError) -> ApiError {
    let api = ApiError::bad_request(code, error.message);
    match error.field {
        Some(field) => api.with_details(json!({ "field": field })),
        None => api,
    }
}

/// The database refusing the caller's role (a column it may not write) is a 403, not a 500.
pub fn refused_or(error: DbError) -> ApiError {
    let refused = matches!(&error, DbError::Postgres(e)
        if e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE));
    if refused {
        tracing::warn!(error = %error.log_summary(), "the database refused a settings change");
        return ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            "your role may not change this",
        );
    }
    error.into()
}

fn hidden() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "forbidden",
        "no such practice for this caller",
    )
}

pub async fn get(State(ctx): State<Arc<AppContext>>, acting: ActingPractice) -> Result<Json<Value>, ApiError> {
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &acting.caller).await?;
    let settings = store::get(&*tx, acting.practice.id).await?.ok_or_else(hidden)?;
    tx.commit().await?;
    Ok(Json(settings))
}

pub async fn update(
    State(ctx): State<Arc<AppContext>>,
    acting: ActingPractice,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    let change = SettingsChange::parse(&body).map_err(|e| invalid("invalid_settings", e))?;
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &acting.caller).await?;
    let settings = store::update(&*tx, acting.practice.id, &change)
        .await
        .map_err(refused_or)?
        .ok_or_else(hidden)?;
    tx.commit().await?;
    // Names of the settings only: their values can be anything a clinic typed.
    let fields: Vec<&String> = body.keys().collect();
    tracing::info!(practice = %acting.practice.id, ?fields, "settings changed");
    Ok(Json(settings))
}
