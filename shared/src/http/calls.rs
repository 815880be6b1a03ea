//! The call history: `GET /api/voip/calls/history`, a call's recordings
//! (`GET /api/voip/calls/recordings?callId=`), and `DELETE /api/voip/calls/{id}`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde_json::{json, Value};
use uuid::Uuid;

use super::day_range;
use super::error::ApiError;
use super::extract::ActingPractice;
use crate::app::AppContext;
use crate::db;
use crate::domain::call::{contact_form, Direction, Disposition};
use crate::store::calls::{self, HistoryFilter};
use crate::store::conversations::Cursor;
use crate::store::recordings;

pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 200;

fn query_pairs(query: Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn unknown(name: &str) -> ApiError {
    ApiError::bad_request("unknown_parameter", format!("unknown query parameter `{name}`"))
}

pub async fn history(
    State(ctx): State<Arc<AppContext>>,
    acting: ActingPractice,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let (mut from, mut to, mut direction, mut disposition, mut contact, mut cursor) =
        (None, None, None, None, None, None);
    let mut limit = DEFAULT_PAGE;
    for (key, value) in query_pairs(query) {
        match key.as_str() {
            "dateFrom" => from = Some(value),
            "dateTo" => to = Some(value),
            "direction" => {
                direction = Some(Direction::parse(&value).ok_or_else(|| {
                    ApiError::bad_request("invalid_filter", "`direction` must be inbound or outbound")
                })?)
            }
            "disposition" => {
                disposition = Some(Disposition::parse(&value).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_filter",
                        "`disposition` must be answered, no_answer, busy or failed",
                    )
                })?)
            }
            "contact" => {
                let form = contact_form(&value);
                if form.is_empty() || form.chars().any(char::is_control) || form.chars().count() > 64 {
                    return Err(ApiError::bad_request(
                        "invalid_filter",
                        "`contact` must be a phone number (at most 64 characters, no control characters)",
                    ));
                }
                contact = Some(form)
            }
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_limit",
                            format!("`limit` must be a whole number from 1 to {MAX_PAGE}"),
                        )
                    })?
            }
            "cursor" => {
                cursor =
                    Some(Cursor::decode(&value).ok_or_else(|| {
                        ApiError::bad_request("invalid_cursor", "`cursor` is not one this API returned")
                    })?)
            }
            other => return Err(unknown(other)),
        }
    }
    let (from_day, to_day) = day_range::parse("dateFrom", from.as_deref(), "dateTo", to.as_deref())?;
    let (from, until) = day_range::bounds(from_day, to_day, acting.practice.timezone);
    let filter = HistoryFilter {
        from,
        until,
        direction,
        disposition,
        contact,
        after: cursor.map(|c| (c.at, c.id)),
        limit,
    };
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &acting.caller).await?;
    let items = calls::history(&*tx, acting.practice.id, &filter).await?;
    tx.commit().await?;
    let next = (items.len() as i64 == limit)
        .then(|| {
            items.last().map(|c| {
                Cursor {
                    at: c.started_at,
                    id: c.id,
                }
                .encode()
            })
        })
        .flatten();
    Ok(Json(json!({
        "calls": items,
        "nextCursor": next,
        "timezone": acting.practice.timezone.name(),
    })))
}

fn call_id(value: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value).map_err(|_| ApiError::not_found(format!("no call with id {value:?}")))
}

pub async fn recordings(
    State(ctx): State<Arc<AppContext>>,
    acting: ActingPractice,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut id = None;
    for (key, value) in query_pairs(query) {
        match key.as_str() {
            "callId" => id = Some(call_id(&value)?),
            other => return Err(unknown(other)),
        }
    }
    let id = id.ok_or_else(|| ApiError::bad_request("missing_parameter", "`callId` is required"))?;
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &acting.caller).await?;
    let call = calls::get(&*tx, acting.practice.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no call with id {id}")))?;
    let items = recordings::for_call(&*tx, acting.practice.id, id).await?;
    let mut texts = crate::store::transcripts::for_call(&*tx, acting.practice.id, id).await?;
    tx.commit().await?;
    // Each recording with its transcript (segment times in seconds) and key facts, when done.
    let items: Vec<Value> = items
        .into_iter()
        .map(|recording| {
            let extra = texts
                .remove(&recording.id)
                .unwrap_or_else(|| json!({"transcript": null, "keyFacts": null}));
            let mut value = serde_json::to_value(&recording).unwrap_or(Value::Null);
            if let (Value::Object(map), Value::Object(extra)) = (&mut value, extra) {
                map.extend(extra);
            }
            value
        })
        .collect();
    Ok(Json(json!({ "call": call, "recordings": items })))
}

pub async fn delete(
    State(ctx): State<Arc<AppContext>>,
    acting: ActingPractice,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = call_id(&id)?;
    let deleted = crate::calls::removal::delete_call(&ctx, &acting.caller, acting.practice.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no call with id {id}")))?;
    Ok(Json(json!({ "deleted": deleted })))
}
