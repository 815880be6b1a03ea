//! `GET /api/voip/settings/rules` (staff and admins) and `PUT /api/voip/settings/rules/{category}`
//! (admins): the automatic-reply rules, their keywords and reply texts.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::extract::{ActingPractice, JsonBody};
use super::settings::{invalid, refused_or};
use crate::app::AppContext;
use crate::db;
use crate::domain::auto_reply::edit::RuleChange;
use crate::domain::auto_reply::ReplyKind;
use crate::store::rules as store;

pub async fn list(State(ctx): State<Arc<AppContext>>, acting: ActingPractice) -> Result<Json<Value>, ApiError> {
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &acting.caller).await?;
    let rules = store::list(&*tx, acting.practice.id).await?;
    tx.commit().await?;
    Ok(Json(json!({ "rules": rules })))
}

fn no_rule(category: &str) -> ApiError {
    ApiError::not_found(format!(
        "no automatic-reply rule {category:?}; the rules are {}",
        store::ORDER.join(", ")
    ))
}

pub async fn update(
    State(ctx): State<Arc<AppContext>>,
    acting: ActingPractice,
    Path(category): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    let kind = store::ORDER
        .contains(&category.as_str())
        .then(|| ReplyKind::parse(&category))
        .flatten()
        .ok_or_else(|| no_rule(&category))?;
    let change = RuleChange::parse(kind, &body).map_err(|e| invalid("invalid_rule", e))?;
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &acting.caller).await?;
    let rule = match store::update(&*tx, acting.practice.id, &category, &change, ctx.clock.now())
        .await
        .map_err(refused_or)?
    {
        Some(rule) => rule,
        None => {
            return Err(match store::get(&*tx, acting.practice.id, &category).await? {
                Some(_) => ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "forbidden",
                    "your role may not change this",
                ),
                None => no_rule(&category),
            })
        }
    };
    tx.commit().await?;
    let fields: Vec<&String> = body.keys().collect();
    tracing::info!(practice = %acting.practice.id, category, ?fields, "automatic-reply rule changed");
    Ok(Json(rule))
}
