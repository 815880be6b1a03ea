//! `GET /api/voip/analytics?startDate=&endDate=`: the practice's figures over local days, read from
//! the daily rollups for past days that have a readable one and from the live tables for the rest.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::Value;

use super::day_range;
use super::error::ApiError;
use super::extract::ActingPractice;
use crate::analytics;
use crate::app::AppContext;
use crate::db;
use crate::store::analytics as store;

pub async fn analytics(
    State(ctx): State<Arc<AppContext>>,
    acting: ActingPractice,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let (mut start, mut end) = (None, None);
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "startDate" => start = Some(value.into_owned()),
            "endDate" => end = Some(value.into_owned()),
            other => {
                return Err(ApiError::bad_request(
                    "unknown_parameter",
                    format!("unknown query parameter `{other}`"),
                ))
            }
        }
    }
    let (from, to) = day_range::parse("startDate", start.as_deref(), "endDate", end.as_deref())?;
    let zone = acting.practice.timezone;
    // Today (and anything later) is never read from a rollup: it is not over.
    let today = ctx.clock.now().with_timezone(&zone).date_naive();
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &acting.practice_filtered_reader()).await?;
    let mut days = store::rollups(&*tx, acting.practice.id, zone, from, to, today).await?;
    let live: Vec<_> = from
        .iter_days()
        .take_while(|d| *d <= to)
        .filter(|d| !days.contains_key(d))
        .collect();
    days.extend(store::live_days(&*tx, acting.practice.id, zone, &live).await?);
    tx.commit().await?;
    tracing::info!(days = (to - from).num_days() + 1, live = live.len(), "analytics read");
    Ok(Json(analytics::report(from, to, zone, &days)))
}
