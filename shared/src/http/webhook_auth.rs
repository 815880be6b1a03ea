//! Who may deliver a text to the webhook. A delivery carries `?secret=`; it is accepted only with
//! the secret of the practice that owns its `to` DID — or, for a practice that has no secret of its
//! own yet (a single-practice deployment), the deployment-wide `WEBHOOK_SECRET`.
//!
//! The secret is checked first (a hash and constant-time comparisons), and only requests that fail
//! it are counted against the source's limit: VoIP.ms's correctly signed deliveries are never
//! refused for volume, however many patients answer at once, while a guesser or a flood of junk is
//! slowed down per source address.

use axum::http::StatusCode;
use uuid::Uuid;

use super::error::ApiError;
use super::limits;
pub use super::limits::SourceAddress;
use crate::app::AppContext;
use crate::auth::Caller;
use crate::db::{self, DbError};
use crate::domain::phone::Did;
use crate::sms::inbound::Gate;
use crate::store::inbound::InboundContext;
use crate::store::limits as store_limits;
use crate::store::webhook_secrets;
use crate::webhook_secret::{constant_time_eq, hash, position_of};

/// Whose secret a delivery carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookCaller {
    /// The practice's own secret (current, or a previous one within its grace period).
    Practice(Uuid),
    /// The deployment-wide `WEBHOOK_SECRET`.
    Deployment,
    /// No secret exists anywhere (development only: never on Lambda).
    Unverified,
}

enum Verdict {
    Signed(WebhookCaller),
    /// Nothing is configured to check against.
    Open,
    Refused(&'static str),
}

/// Accepts or refuses a delivery addressed to `to` (a DID as the caller wrote it) carrying `secret`.
pub async fn authenticate_delivery(
    ctx: &AppContext,
    source: &SourceAddress,
    to: Option<&str>,
    secret: Option<&str>,
) -> Result<WebhookCaller, ApiError> {
    check_network(ctx, source)?;
    match verdict(ctx, to, secret).await? {
        Verdict::Signed(caller) => Ok(caller),
        Verdict::Open => {
            count_unverified(ctx, source).await?;
            Ok(WebhookCaller::Unverified)
        }
        Verdict::Refused(reason) => {
            tracing::info!(source = %source.0, reason, "webhook delivery refused");
            count_unverified(ctx, source).await?;
            Err(unauthorized())
        }
    }
}

/// Only the allowed networks, when `WEBHOOK_ALLOWED_NETWORKS` is set.
pub fn check_network(ctx: &AppContext, source: &SourceAddress) -> Result<(), ApiError> {
    let Some(networks) = &ctx.settings.webhook_allowed_networks else {
        return Ok(());
    };
    let allowed = source
        .0
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| networks.iter().any(|n| n.contains(&ip)));
    if allowed {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "source_not_allowed",
            "this source may not call the webhook",
        ))
    }
}

/// Requests without a valid secret, per source address and minute (`RATE_WEBHOOK_PER_MINUTE`).
async fn count_unverified(ctx: &AppContext, source: &SourceAddress) -> Result<(), ApiError> {
    limits::enforce(
        ctx,
        &unverified_bucket(source),
        chrono::Duration::minutes(1),
        ctx.settings.limits.webhook_per_minute,
        UNVERIFIED,
    )
    .await
}

const UNVERIFIED: &str = "webhook requests without a valid secret";

fn unverified_bucket(source: &SourceAddress) -> String {
    format!("webhook-unverified:{}", source.0)
}

async fn verdict(ctx: &AppContext, to: Option<&str>, secret: Option<&str>) -> Result<Verdict, DbError> {
    let now = ctx.clock.now();
    let mut client = ctx.conn().await?;
    // The hashes belong to no caller: only the service role may read them.
    let tx = db::begin_as(&mut client, &Caller::service()).await?;
    let did = to.and_then(|to| Did::parse(to).ok());
    let owner = match &did {
        Some(did) => webhook_secrets::for_did(&*tx, did.as_e164(), now).await?,
        None => None,
    };
    let owner = owner.as_ref().map(|o| (o.practice_id, o.hashes.as_slice()));
    let verdict = verdict_with(ctx, &*tx, owner, secret).await?;
    tx.commit().await?;
    Ok(verdict)
}

/// The verdict for a delivery to a DID owned by `owner` (its practice and valid secret hashes;
/// None when no practice owns it), reading more only in the rare cases that need it.
async fn verdict_with(
    ctx: &AppContext,
    conn: &impl db::Conn,
    owner: Option<(Uuid, &[Vec<u8>])>,
    secret: Option<&str>,
) -> Result<Verdict, DbError> {
    let given = secret.filter(|s| !s.is_empty()).map(hash);
    let deployment = match (&given, &ctx.settings.webhook_secret) {
        (Some(given), Some(expected)) => constant_time_eq(given, &hash(expected.expose())),
        _ => false,
    };
    Ok(match (owner, &given) {
        // The practice has its own secrets: only those open its DIDs.
        (Some((practice_id, hashes)), _) if !hashes.is_empty() => match &given {
            Some(given) if position_of(given, hashes.iter().map(Vec::as_slice)).is_some() => {
                Verdict::Signed(WebhookCaller::Practice(practice_id))
            }
            Some(_) => Verdict::Refused("not this practice's secret"),
            None => Verdict::Refused("no secret"),
        },
        _ if deployment => Verdict::Signed(WebhookCaller::Deployment),
        // A DID no practice owns: any practice's secret vouches for the caller being VoIP.ms.
        (None, Some(given)) => {
            let all = webhook_secrets::active(conn, None, ctx.clock.now()).await?;
            match position_of(given, all.iter().map(|a| a.hash.as_slice())) {
                Some(index) => Verdict::Signed(WebhookCaller::Practice(all[index].practice_id)),
                None => open_or_refused(ctx, conn, "wrong secret").await?,
            }
        }
        (_, Some(_)) => open_or_refused(ctx, conn, "wrong secret").await?,
        (_, None) => open_or_refused(ctx, conn, "no secret").await?,
    })
}

/// Why [`admit`] turned a delivery away.
pub enum Refusal {
    /// No valid secret: answer with [`refuse`], which counts it against the source.
    BadSecret(&'static str),
    /// Nothing is configured to check against (development) and the source is over its limit.
    Limited(ApiError),
}

/// The same rules as [`authenticate_delivery`], decided inside the transaction that stores the
/// text (`sms::inbound::receive_admitted`), from the secrets its context query already read: a
/// signed delivery costs no statement of its own.
pub async fn admit(
    ctx: &AppContext,
    source: &SourceAddress,
    conn: &impl db::Conn,
    context: Option<&InboundContext>,
    secret: Option<&str>,
) -> Result<Gate<Refusal>, DbError> {
    let owner = context.map(|c| (c.practice.id, c.secret_hashes.as_slice()));
    match verdict_with(ctx, conn, owner, secret).await? {
        Verdict::Signed(_) => Ok(Gate::Admit),
        // Counted in the same transaction: kept when the text is, and a refused hit is rolled
        // back with it, which leaves the count at the limit and the source still refused.
        Verdict::Open => match count_in(ctx, conn, source).await? {
            None => Ok(Gate::Admit),
            Some(limited) => Ok(Gate::Refuse(Refusal::Limited(limited))),
        },
        Verdict::Refused(reason) => Ok(Gate::Refuse(Refusal::BadSecret(reason))),
    }
}

/// The answer to a refused delivery, after counting it against its source.
pub async fn refuse(ctx: &AppContext, source: &SourceAddress, refusal: Refusal) -> ApiError {
    let reason = match refusal {
        Refusal::Limited(error) => return error,
        Refusal::BadSecret(reason) => reason,
    };
    tracing::info!(source = %source.0, reason, "webhook delivery refused");
    if let Err(error) = count_unverified(ctx, source).await {
        return error;
    }
    unauthorized()
}

fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "bad_secret",
        "missing or wrong `secret` query parameter",
    )
}

async fn count_in(ctx: &AppContext, conn: &impl db::Conn, source: &SourceAddress) -> Result<Option<ApiError>, DbError> {
    let wait = store_limits::hit(
        conn,
        &unverified_bucket(source),
        chrono::Duration::minutes(1),
        ctx.settings.limits.webhook_per_minute,
        ctx.clock.now(),
    )
    .await?;
    Ok(wait.map(|wait| limits::too_many(wait, UNVERIFIED)))
}

/// Open only when nothing at all is configured to check against, and never on Lambda.
async fn open_or_refused(ctx: &AppContext, conn: &impl db::Conn, reason: &'static str) -> Result<Verdict, DbError> {
    if ctx.webhook_open_when_unconfigured
        && ctx.settings.webhook_secret.is_none()
        && !webhook_secrets::any(conn).await?
    {
        return Ok(Verdict::Open);
    }
    Ok(Verdict::Refused(reason))
}

/// For a Lambda cold start: the webhook must have some secret to check. `WEBHOOK_SECRET`, or a
/// practice's own secret (configure-webhook or `pedro practice webhook-secret rotate` make one).
pub async fn ensure_configured(ctx: &AppContext) -> Result<(), String> {
    if ctx.settings.webhook_secret.is_some() {
        return Ok(());
    }
    let none = "the webhook has no secret to check: set WEBHOOK_SECRET, or give a practice its own \
                (configure-webhook, or `pedro practice webhook-secret rotate`)";
    let mut client = ctx.conn().await.map_err(|e| format!("{none}; {}", e.log_summary()))?;
    let tx = db::begin_as(&mut client, &Caller::service())
        .await
        .map_err(|e| e.log_summary())?;
    match webhook_secrets::any(&*tx).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(none.into()),
        Err(e) => Err(format!("{none}; {}", e.log_summary())),
    }
}
