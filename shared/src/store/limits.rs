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
    Ok(hit_each(conn, &[(bucket, window, limit)], now).await?.remove(0))
}

/// Counts one hit on each of several buckets in one statement; for each, how long to wait when
/// the hit goes over its limit. As if checked one by one: the buckets after the first that refuses
/// get their hit back (a request refused for one limit does not use up another). The buckets must
/// differ.
pub async fn hit_each(
    conn: &impl Conn,
    buckets: &[(&str, Duration, u32)],
    now: DateTime<Utc>,
) -> Result<Vec<Option<Duration>>, DbError> {
    let names: Vec<String> = buckets.iter().map(|(bucket, _, _)| bucket.to_string()).collect();
    let starts: Vec<DateTime<Utc>> = buckets
        .iter()
        .map(|(_, window, _)| window_start(*window, now))
        .collect();
    let rows = db::query(
        conn,
        "INSERT INTO rate_limit_hits AS h (bucket, window_start, hits) \
         SELECT bucket, window_start, 1 FROM unnest($1::text[], $2::timestamptz[]) AS b (bucket, window_start) \
         ON CONFLICT (bucket, window_start) DO UPDATE SET hits = h.hits + 1 RETURNING bucket, hits",
        &[&names, &starts],
    )
    .await?;
    let mut waits: Vec<Option<Duration>> = buckets
        .iter()
        .zip(&starts)
        .map(|((bucket, window, limit), start)| {
            let hits: i32 = rows
                .iter()
                .find(|row| row.get::<_, &str>(0) == *bucket)
                .map_or(0, |row| row.get(1));
            (hits as i64 > i64::from(*limit)).then(|| *start + Duration::seconds(window.num_seconds().max(1)) - now)
        })
        .collect();
    if let Some(first) = waits.iter().position(Option::is_some) {
        let (later_names, later_starts) = (names[first + 1..].to_vec(), starts[first + 1..].to_vec());
        if !later_names.is_empty() {
            db::execute(
                conn,
                "UPDATE rate_limit_hits h SET hits = h.hits - 1 \
                 FROM unnest($1::text[], $2::timestamptz[]) AS b (bucket, window_start) \
                 WHERE h.bucket = b.bucket AND h.window_start = b.window_start",
                &[&later_names, &later_starts],
            )
            .await?;
        }
        waits.truncate(first + 1);
    }
    Ok(waits)
}

fn window_start(window: Duration, now: DateTime<Utc>) -> DateTime<Utc> {
    let size = window.num_seconds().max(1);
    DateTime::from_timestamp(now.timestamp() - now.timestamp().rem_euclid(size), 0).unwrap_or(now)
}

/// Drops counters of windows long past.
pub async fn prune(conn: &impl Conn, before: DateTime<Utc>) -> Result<u64, DbError> {
    db::execute(conn, "DELETE FROM rate_limit_hits WHERE window_start < $1", &[&before]).await
}
