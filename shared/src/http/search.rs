//! `GET /api/voip/search?q=&type=calls|messages|all&limit=&cursor=&dateFrom=&dateTo=`: full-text
//! search over texts, call transcripts and call summaries of the caller's practice, ranked, with
//! snippets safe to put in a page and what each hit belongs to.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

use super::day_range;
use super::error::ApiError;
use super::extract::ActingPractice;
use crate::app::AppContext;
use crate::db;
use crate::store::search::{self, Query, Scope};

pub const MAX_QUERY_CHARS: usize = 200;
pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;
/// Deeper than this, refine the query instead.
pub const MAX_OFFSET: i64 = 1_000;

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

pub async fn search(
    State(ctx): State<Arc<AppContext>>,
    acting: ActingPractice,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let (mut q, mut scope, mut limit, mut offset, mut from, mut to) = (None, Scope::All, DEFAULT_LIMIT, 0, None, None);
    for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "q" => q = Some(value.into_owned()),
            "type" => {
                scope = match value.as_ref() {
                    "calls" => Scope::Calls,
                    "messages" => Scope::Messages,
                    "all" => Scope::All,
                    _ => return Err(bad("invalid_type", "`type` must be calls, messages or all")),
                }
            }
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        bad(
                            "invalid_limit",
                            format!("`limit` must be a whole number from 1 to {MAX_LIMIT}"),
                        )
                    })?
            }
            "cursor" => {
                offset = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_OFFSET).contains(n))
                    .ok_or_else(|| bad("invalid_cursor", "`cursor` is not one this API returned"))?
            }
            "dateFrom" => from = Some(value.into_owned()),
            "dateTo" => to = Some(value.into_owned()),
            other => return Err(bad("unknown_parameter", format!("unknown query parameter `{other}`"))),
        }
    }
    let q = q.map(|q| q.trim().to_string()).unwrap_or_default();
    if q.is_empty() {
        return Err(bad("missing_query", "`q` is required: the words to search for"));
    }
    if q.chars().any(char::is_control) {
        return Err(bad("invalid_query", "`q` must not contain control characters"));
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(bad(
            "query_too_long",
            format!("`q` is at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    let (from, until) = match (from, to) {
        (None, None) => (None, None),
        (from, to) => {
            let (a, b) = day_range::parse("dateFrom", from.as_deref(), "dateTo", to.as_deref())?;
            let (start, end) = day_range::bounds(a, b, acting.practice.timezone);
            (Some(start), Some(end))
        }
    };
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &acting.practice_filtered_reader()).await?;
    if search::query_terms(&*tx, &q).await? == 0 {
        return Err(bad(
            "query_has_no_words",
            "`q` has no words to search for (only common words such as \"the\" or \"and\")",
        ));
    }
    let hits = search::search(
        &*tx,
        &Query {
            practice_id: acting.practice.id,
            q: &q,
            scope,
            from,
            until,
            offset,
            limit,
        },
    )
    .await?;
    tx.commit().await?;
    let next = (hits.len() as i64 == limit && offset + limit <= MAX_OFFSET).then(|| (offset + limit).to_string());
    Ok(Json(json!({ "results": hits, "nextCursor": next })))
}
