//! Postgres access through tokio-postgres.
//!
//! Every statement goes through `query_typed`/`execute_typed`, which use unnamed statements, so the
//! same code works on a direct connection and behind Supabase's transaction pooler (port 6543) or
//! RDS Proxy, where named prepared statements break. Parameters carry their Postgres type through
//! [`SqlParam`], so call sites stay as short as with `query`.

pub mod migrate;
pub mod params;
pub mod tls;

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Row;

pub use params::SqlParam;

/// A database failure. Callers answer 503 for [`DbError::is_unavailable`] (worth retrying) and 500
/// otherwise.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("database unavailable: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("query returned no row: {0}")]
    NoRow(String),
}

impl DbError {
    /// For logs: the SQLSTATE and the server's message, never its DETAIL (which can quote rows).
    pub fn log_summary(&self) -> String {
        match self {
            Self::Postgres(e) => match e.as_db_error() {
                Some(db) => format!("{} {}", db.code().code(), db.message()),
                None => e.to_string(),
            },
            other => other.to_string(),
        }
    }

    /// The database could not be reached, or the connection broke: the same request may work later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Pool(_) => true,
            Self::Postgres(e) => e.is_closed() || e.code().is_none(),
            Self::NoRow(_) => false,
        }
    }
}

/// A connection or a transaction: both offer typed (unnamed) statements.
pub trait Conn: Sync {
    fn query_typed_raw<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [(&'a (dyn ToSql + Sync), Type)],
    ) -> impl Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send + 'a;

    fn execute_typed_raw<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [(&'a (dyn ToSql + Sync), Type)],
    ) -> impl Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a;
}

impl Conn for tokio_postgres::Client {
    fn query_typed_raw<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [(&'a (dyn ToSql + Sync), Type)],
    ) -> impl Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send + 'a {
        self.query_typed(sql, params)
    }

    fn execute_typed_raw<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [(&'a (dyn ToSql + Sync), Type)],
    ) -> impl Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a {
        self.execute_typed(sql, params)
    }
}

impl Conn for tokio_postgres::Transaction<'_> {
    fn query_typed_raw<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [(&'a (dyn ToSql + Sync), Type)],
    ) -> impl Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send + 'a {
        self.query_typed(sql, params)
    }

    fn execute_typed_raw<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [(&'a (dyn ToSql + Sync), Type)],
    ) -> impl Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a {
        self.execute_typed(sql, params)
    }
}

fn typed<'a>(params: &'a [&'a dyn SqlParam]) -> Vec<(&'a (dyn ToSql + Sync), Type)> {
    params
        .iter()
        .map(|p| (*p as &(dyn ToSql + Sync), p.sql_type()))
        .collect()
}

pub async fn query(conn: &impl Conn, sql: &str, params: &[&dyn SqlParam]) -> Result<Vec<Row>, DbError> {
    Ok(conn.query_typed_raw(sql, &typed(params)).await?)
}

pub async fn query_opt(conn: &impl Conn, sql: &str, params: &[&dyn SqlParam]) -> Result<Option<Row>, DbError> {
    Ok(query(conn, sql, params).await?.into_iter().next())
}

/// For statements that always return exactly one row (`INSERT ... RETURNING`, aggregates).
pub async fn query_one(conn: &impl Conn, sql: &str, params: &[&dyn SqlParam]) -> Result<Row, DbError> {
    query_opt(conn, sql, params)
        .await?
        .ok_or_else(|| DbError::NoRow(sql.split_whitespace().take(8).collect::<Vec<_>>().join(" ")))
}

pub async fn execute(conn: &impl Conn, sql: &str, params: &[&dyn SqlParam]) -> Result<u64, DbError> {
    Ok(conn.execute_typed_raw(sql, &typed(params)).await?)
}

/// Opens a transaction acting as `caller`: the role set to Supabase's `authenticated` or
/// `service_role`, and the verified claims in `request.jwt.claims`, so row-level security applies
/// exactly as it does for Supabase's own client API. Transaction-local, so nothing leaks to the
/// next user of the connection (and it works behind the transaction pooler). Every piece of
/// request and job work reaches the database through here.
///
/// A connection that turns out dead at its first statement (`BEGIN`), as idle connections do
/// behind a NAT that forgot them or in a Lambda that was frozen, is replaced in `client` and
/// `BEGIN` is sent once more: nothing had run, so the retry is safe, and a healthy connection pays
/// no extra round trip.
pub async fn begin_as<'c>(
    client: &'c mut deadpool_postgres::Object,
    caller: &crate::auth::Caller,
) -> Result<deadpool_postgres::Transaction<'c>, DbError> {
    let slot: *mut deadpool_postgres::Object = client;
    // SAFETY: `slot` is `client`, a unique borrow for 'c. The borrow made through it is either
    // returned (then `client` is not used again) or ends with the failed `transaction()` call,
    // whose error holds no borrow, before `client` is used again. This is the conditional return
    // of a borrow that the borrow checker cannot prove yet (NLL "problem case #3").
    let first = unsafe { &mut *slot }.transaction().await;
    let tx = match first {
        Ok(tx) => tx,
        Err(error) if error.code().is_none() => {
            replace_dead(client, &error).await?;
            client.transaction().await?
        }
        Err(error) => return Err(error.into()),
    };
    let role = match caller.role {
        crate::auth::Role::Service => "service_role",
        crate::auth::Role::Staff | crate::auth::Role::Admin => "authenticated",
    };
    // One statement, as PostgREST does it: `set_config('role', …, true)` is `SET LOCAL ROLE`.
    execute(
        &*tx,
        "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)",
        &[&role, &caller.claims.to_string()],
    )
    .await?;
    Ok(tx)
}

/// Swaps the dead connection in `client` for a new one. The connections idle in the pool go too:
/// they were idle as long and, behind the same NAT, are as dead.
async fn replace_dead(client: &mut deadpool_postgres::Object, error: &tokio_postgres::Error) -> Result<(), DbError> {
    let Some(pool) = deadpool_postgres::Object::pool(client) else {
        return Err(DbError::Pool(deadpool_postgres::PoolError::Closed));
    };
    tracing::warn!(error = %error, "database connection found dead before use; replacing it");
    drop(pool.retain(|_, _| false));
    let fresh = pool.get().await?;
    let dead = std::mem::replace(client, fresh);
    drop(deadpool_postgres::Object::take(dead));
    Ok(())
}

/// Pool settings: small per Lambda instance, built once per cold start.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_size: usize,
    /// How long a request waits for a connection before failing (and answering 503).
    pub timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_size: 4,
            timeout: Duration::from_secs(5),
        }
    }
}

/// Builds a lazy pool: nothing connects until the first request, so a database outage at start-up
/// does not stop the process, and connections that broke are replaced on their next checkout.
pub fn pool(target: &tls::PgTarget, settings: &PoolSettings) -> anyhow::Result<Pool> {
    let manager = Manager::from_config(
        connection_config(target, settings),
        target.tls.clone(),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(settings.max_size)
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(settings.timeout),
            create: Some(settings.timeout),
            recycle: Some(settings.timeout),
        })
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the database pool: {e}"))
}

/// How long a connection may sit idle before TCP keepalives start: well under the 350 s after
/// which an AWS NAT gateway forgets an idle connection.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);

fn connection_config(target: &tls::PgTarget, settings: &PoolSettings) -> tokio_postgres::Config {
    let mut config = target.config.clone();
    config.connect_timeout(settings.timeout);
    if config.get_application_name().is_none() {
        config.application_name("pedro-voip");
    }
    // Keepalives keep the NAT's mapping alive while the process runs, and find a dead peer in
    // about a minute and a half instead of the default two hours. A shorter idle from the URL stays.
    config.keepalives(true);
    if config.get_keepalives_idle() > KEEPALIVE_IDLE {
        config.keepalives_idle(KEEPALIVE_IDLE);
    }
    if config.get_keepalives_interval().is_none() {
        config.keepalives_interval(Duration::from_secs(10));
    }
    if config.get_keepalives_retries().is_none() {
        config.keepalives_retries(3);
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_for(url: &str) -> tokio_postgres::Config {
        let target = tls::target(url, None).expect("target");
        connection_config(&target, &PoolSettings::default())
    }

    #[test]
    fn keepalives_start_well_before_a_nat_forgets_the_connection() {
        let config = config_for("postgres://app@db.example.com/app");
        assert!(config.get_keepalives());
        assert_eq!(config.get_keepalives_idle(), KEEPALIVE_IDLE);
        assert_eq!(config.get_keepalives_interval(), Some(Duration::from_secs(10)));
        assert_eq!(config.get_keepalives_retries(), Some(3));
    }

    #[test]
    fn keepalive_settings_from_the_url_are_kept_when_shorter() {
        let config = config_for("postgres://app@db.example.com/app?keepalives_idle=30&keepalives_retries=5");
        assert_eq!(config.get_keepalives_idle(), Duration::from_secs(30));
        assert_eq!(config.get_keepalives_retries(), Some(5));
    }
}
