//! Versioned SQL migrations, embedded in the binary and applied in order by `pedro migrate` and the
//! test harness — never implicitly on a Lambda cold start.

use tokio_postgres::Client;

use super::tls::PgTarget;

/// (version, name, SQL). Append only: an applied migration must never change.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "sms", include_str!("../../migrations/0001_sms.sql")),
    (2, "security", include_str!("../../migrations/0002_security.sql")),
    (3, "rate_limits", include_str!("../../migrations/0003_rate_limits.sql")),
    (4, "roles_audit", include_str!("../../migrations/0004_roles_audit.sql")),
    (
        5,
        "webhook_secrets",
        include_str!("../../migrations/0005_webhook_secrets.sql"),
    ),
    (
        6,
        "auto_reply_rules",
        include_str!("../../migrations/0006_auto_reply_rules.sql"),
    ),
    (
        7,
        "twilio_inbound",
        include_str!("../../migrations/0007_twilio_inbound.sql"),
    ),
    (8, "reply_queue", include_str!("../../migrations/0008_reply_queue.sql")),
    (9, "calls", include_str!("../../migrations/0009_calls.sql")),
    (10, "transcripts", include_str!("../../migrations/0010_transcripts.sql")),
    (11, "analytics", include_str!("../../migrations/0011_analytics.sql")),
    (
        12,
        "rule_exclusions_grant",
        include_str!("../../migrations/0012_rule_exclusions_grant.sql"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot connect to the database: {0}")]
    Connect(tokio_postgres::Error),
    #[error("migration {version} ({name}) failed: {source}")]
    Failed {
        version: i32,
        name: String,
        source: tokio_postgres::Error,
    },
    #[error("migration {0} was changed after it was applied; add a new migration instead")]
    Changed(i32),
    #[error("database error: {0}")]
    Db(#[from] tokio_postgres::Error),
}

/// FNV-1a: a stable fingerprint of a migration's text, to notice edits of applied migrations.
fn checksum(sql: &str) -> String {
    let hash = sql.bytes().fold(0xcbf29ce484222325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    format!("{hash:016x}")
}

pub async fn connect(target: &PgTarget) -> Result<Client, MigrateError> {
    let (client, connection) = target
        .config
        .connect(target.tls.clone())
        .await
        .map_err(MigrateError::Connect)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "migration connection closed");
        }
    });
    Ok(client)
}

/// Applies what is missing; returns the versions applied now. Safe to run concurrently: an advisory
/// lock serialises runners.
pub async fn run(client: &mut Client) -> Result<Vec<i32>, MigrateError> {
    client
        .batch_execute(
            "SELECT pg_advisory_lock(7361626); \
             CREATE TABLE IF NOT EXISTS schema_migrations ( \
                 version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, \
                 applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
    let result = apply_missing(client).await;
    client.batch_execute("SELECT pg_advisory_unlock(7361626)").await?;
    result
}

async fn apply_missing(client: &mut Client) -> Result<Vec<i32>, MigrateError> {
    let applied: Vec<(i32, String)> = client
        .simple_query("SELECT version, checksum FROM schema_migrations")
        .await?
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some((row.get(0)?.parse().ok()?, row.get(1)?.to_string())),
            _ => None,
        })
        .collect();
    let mut done = Vec::new();
    for &(version, name, sql) in MIGRATIONS {
        let sum = checksum(sql);
        if let Some((_, existing)) = applied.iter().find(|(v, _)| *v == version) {
            if *existing != sum {
                return Err(MigrateError::Changed(version));
            }
            continue;
        }
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await.map_err(|source| MigrateError::Failed {
            version,
            name: name.into(),
            source,
        })?;
        tx.execute_typed(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[
                (&version, tokio_postgres::types::Type::INT4),
                (&name, tokio_postgres::types::Type::TEXT),
                (&sum, tokio_postgres::types::Type::TEXT),
            ],
        )
        .await?;
        tx.commit().await?;
        done.push(version);
    }
    Ok(done)
}

/// Creates the database named in `url` when it does not exist (connecting to `postgres` to do so).
pub async fn create_database_if_missing(target: &PgTarget) -> Result<(), MigrateError> {
    let name = target.config.get_dbname().unwrap_or("postgres").to_string();
    let mut admin = target.config.clone();
    admin.dbname("postgres");
    let (client, connection) = admin.connect(target.tls.clone()).await.map_err(MigrateError::Connect)?;
    tokio::spawn(connection);
    let exists = client
        .query_typed(
            "SELECT 1 FROM pg_database WHERE datname = $1",
            &[(&name, tokio_postgres::types::Type::TEXT)],
        )
        .await?;
    if exists.is_empty() {
        client
            .batch_execute(&format!("CREATE DATABASE \"{}\"", name.replace('"', "")))
            .await?;
    }
    Ok(())
}
