//! Fixed-window rate-limit counters in Postgres, so a limit holds across Lambda instances.

use chrono::{DateTime, Duration, Utc};

use crate::db::{self, Conn, DbError};

/// Counts one hit on `bucket` in the current window; returns how long to wait when the hit goes
/// over `limit`.
pub async fn hit(
    conn: &impl Conn,
    bucket: &str,
    window: Duration,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<Option<Duration>, DbError> {
    let size = window.num_seconds().max(1);
    let start = DateTime::from_timestamp(now.timestamp() - now.timestamp().rem_euclid(size), 0).unwrap_or(now);
    let row = db::query_one(
        conn,
        "INSERT INTO rate_limit_hits AS h (bucket, window_start, hits) VALUES ($1, $2, 1) \
         ON CONFLICT (bucket, window_start) DO UPDATE SET hits = h.hits + 1 RETURNING hits",
        &[&bucket, &start],
    )
    .await?;
    let hits: i32 = row.get(0);
    Ok((hits as i64 > i64::from(limit)).then(|| start + Duration::seconds(size) - now))
}

/// Drops counters of windows long past.
pub async fn prune(conn: &impl Conn, before: DateTime<Utc>) -> Result<u64, DbError> {
    db::execute(conn, "DELETE FROM rate_limit_hits WHERE window_start < $1", &[&before]).await
}
