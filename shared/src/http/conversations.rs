//! Reading threads: the conversation list, one thread's messages, and marking a thread reviewed.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde_json::{json, Value};
use uuid::Uuid;

use super::error::ApiError;
use super::extract::ActingPractice;
use crate::app::AppContext;
use crate::db::{self, Conn};
use crate::store::conversations::{self, ConversationSummary, Cursor};
use crate::store::messages;

pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 200;

/// `limit`, `cursor` and `needsReview` from a query string, each checked.
struct Page {
    limit: i64,
    cursor: Option<Cursor>,
    /// None: every thread; Some(flag): only threads whose needs-review flag is `flag`.
    needs_review: Option<bool>,
}

impl Page {
    /// The cursor of the next page, when this one is full.
    fn next_cursor<T>(&self, items: &[T], position: impl Fn(&T) -> Cursor) -> Option<String> {
        (items.len() as i64 == self.limit)
            .then(|| items.last().map(|i| position(i).encode()))
            .flatten()
    }
}

fn page(query: Option<String>) -> Result<Page, ApiError> {
    let mut page = Page {
        limit: DEFAULT_PAGE,
        cursor: None,
        needs_review: None,
    };
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "limit" => {
                page.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_limit",
                            format!("`limit` must be a whole number from 1 to {MAX_PAGE}"),
                        )
                    })?;
            }
            "cursor" => {
                page.cursor =
                    Some(Cursor::decode(&value).ok_or_else(|| {
                        ApiError::bad_request("invalid_cursor", "`cursor` is not one this API returned")
                    })?);
            }
            "needsReview" => {
                page.needs_review = match value.as_ref() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => {
                        return Err(ApiError::bad_request(
                            "invalid_filter",
                            "`needsReview` must be true or false",
                        ))
                    }
                };
            }
            _ => {}
        }
    }
    Ok(page)
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found(format!("no conversation with id {id:?}")))
}

pub async fn list(
    State(ctx): State<Arc<AppContext>>,
    acting: ActingPractice,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let page = page(query)?;
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &acting.caller).await?;
    let items = conversations::list(&*tx, acting.practice.id, page.needs_review, page.cursor, page.limit).await?;
    tx.commit().await?;
    let next = page.next_cursor(&items, |c| Cursor {
        at: c.last_message_at,
        id: c.id,
    });
    Ok(Json(json!({ "conversations": items, "nextCursor": next })))
}

async fn find(tx: &impl Conn, acting: &ActingPractice, id: &str) -> Result<ConversationSummary, ApiError> {
    let id = parse_id(id)?;
    conversations::get(tx, acting.practice.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no conversation with id {id}")))
}

pub async fn messages(
    State(ctx): State<Arc<AppContext>>,
    acting: ActingPractice,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let page = page(query)?;
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &acting.caller).await?;
    let conversation = find(&*tx, &acting, &id).await?;
    let items = messages::list(&*tx, conversation.id, page.cursor, page.limit).await?;
    tx.commit().await?;
    let next = page.next_cursor(&items, |m| Cursor {
        at: m.occurred_at,
        id: m.id,
    });
    Ok(Json(
        json!({ "conversation": conversation, "messages": items, "nextCursor": next }),
    ))
}

/// `?upTo=<message id>`: the newest message the reviewer saw. What arrived after it stays flagged.
/// Without it, everything in the thread now counts as seen.
pub async fn review(
    State(ctx): State<Arc<AppContext>>,
    acting: ActingPractice,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<ConversationSummary>, ApiError> {
    let mut up_to = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "upTo" => {
                up_to = Some(
                    uuid::Uuid::parse_str(&value)
                        .map_err(|_| ApiError::bad_request("invalid_id", "`upTo` is not a message id"))?,
                )
            }
            other => {
                return Err(ApiError::bad_request(
                    "unknown_parameter",
                    format!("unknown query parameter `{other}`"),
                ))
            }
        }
    }
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &acting.caller).await?;
    let conversation = find(&*tx, &acting, &id).await?;
    if !conversations::mark_reviewed(&*tx, acting.practice.id, conversation.id, up_to, ctx.clock.now()).await? {
        return Err(ApiError::not_found("no such message in this conversation"));
    }
    let updated = conversations::get(&*tx, acting.practice.id, conversation.id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no conversation with id {id}")))?;
    tx.commit().await?;
    Ok(Json(updated))
}
