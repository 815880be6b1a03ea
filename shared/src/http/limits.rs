//! Rate limits on the sensitive routes, counted in Postgres so they hold across instances.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;
use chrono::Duration;

use super::error::ApiError;
use crate::app::AppContext;
use crate::auth::Caller;
use crate::db;
use crate::store::limits;

/// Counts a hit on `bucket`; 429 with `Retry-After` when it goes over `limit` per `window`.
pub async fn enforce(ctx: &AppContext, bucket: &str, window: Duration, limit: u32, what: &str) -> Result<(), ApiError> {
    enforce_each(ctx, &[(bucket, window, limit, what)]).await
}

/// [`enforce`] for several limits at once, counted in one statement: 429 for the first that a hit
/// goes over (every bucket counts the hit).
pub async fn enforce_each(ctx: &AppContext, checks: &[(&str, Duration, u32, &str)]) -> Result<(), ApiError> {
    let mut client = ctx.conn().await?;
    // The counters belong to no caller: the service role keeps them.
    let tx = db::begin_as(&mut client, &Caller::service()).await?;
    let buckets: Vec<(&str, Duration, u32)> = checks.iter().map(|(b, w, l, _)| (*b, *w, *l)).collect();
    let waits = limits::hit_each(&*tx, &buckets, ctx.clock.now()).await?;
    tx.commit().await?;
    match waits
        .iter()
        .zip(checks)
        .find_map(|(wait, (_, _, _, what))| wait.map(|w| (w, *what)))
    {
        None => Ok(()),
        Some((wait, what)) => Err(too_many(wait, what)),
    }
}

/// 429 with `Retry-After`.
pub fn too_many(wait: Duration, what: &str) -> ApiError {
    let seconds = wait.num_seconds().max(1) as u64;
    let mut error = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many {what}; try again in {seconds} s"),
    );
    error.retry_after = Some(seconds);
    error
}

/// The address a request came from: the source IP API Gateway or the function URL saw (not a
/// header the caller could forge), or the socket's peer under `pedro serve`.
pub struct SourceAddress(pub String);

impl<S: Send + Sync> FromRequestParts<S> for SourceAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) =
            parts.extensions.get::<lambda_http::request::RequestContext>()
        {
            if let Some(ip) = &context.http.source_ip {
                return Ok(Self(ip.clone()));
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(Self(peer.unwrap_or_else(|| "unknown".into())))
    }
}
