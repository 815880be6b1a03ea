//! The figures of local days, from the live tables (one aggregate statement per family of
//! figures, all days at once) and from the daily rollups (`analytics_daily`).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::analytics::{DayFigures, FORMAT, REACH_AGAIN_MINUTES};
use crate::db::{self, Conn, DbError};
use crate::http::day_range::start_of_day;

/// The UTC spans of `days` (sorted, distinct): one per run of consecutive days.
pub fn spans(days: &[NaiveDate], zone: Tz) -> (Vec<DateTime<Utc>>, Vec<DateTime<Utc>>) {
    let (mut starts, mut ends) = (Vec::new(), Vec::new());
    let mut run: Option<(NaiveDate, NaiveDate)> = None;
    for &day in days {
        run = match run {
            Some((first, last)) if last.succ_opt() == Some(day) => Some((first, day)),
            Some((first, last)) => {
                starts.push(start_of_day(first, zone));
                ends.push(start_of_day(last + chrono::Days::new(1), zone));
                Some((day, day))
            }
            None => Some((day, day)),
        };
    }
    if let Some((first, last)) = run {
        starts.push(start_of_day(first, zone));
        ends.push(start_of_day(last + chrono::Days::new(1), zone));
    }
    (starts, ends)
}

/// Rows of `alias` in the spans ($2, $3) of practice $1.
fn in_spans(table: &str, alias: &str, at: &str) -> String {
    format!(
        "unnest($2::timestamptz[], $3::timestamptz[]) AS span (lo, hi) \
         JOIN {table} {alias} ON {alias}.practice_id = $1 AND {alias}.{at} >= span.lo AND {alias}.{at} < span.hi"
    )
}

fn local_day(at: &str) -> String {
    format!("({at} AT TIME ZONE $4)::date")
}

/// The local hour a row is in, as a local date and time on the hour: one zone conversion per row.
fn local_hour(at: &str) -> String {
    format!("date_trunc('hour', {at} AT TIME ZONE $4)")
}

fn calls_sql() -> String {
    format!(
        "SELECT {hour} AS local_hour, count(*) AS total, \
           count(*) FILTER (WHERE c.direction = 'inbound') AS inbound, \
           count(*) FILTER (WHERE c.disposition = 'answered') AS answered, \
           count(*) FILTER (WHERE c.completed) AS completed, \
           count(*) FILTER (WHERE c.direction = 'inbound' AND c.disposition IN ('no_answer', 'busy')) AS missed, \
           count(*) FILTER (WHERE c.disposition = 'failed') AS failed, \
           coalesce(sum(c.duration_seconds) FILTER (WHERE c.disposition = 'answered'), 0)::bigint AS answered_seconds \
         FROM {rows} GROUP BY 1",
        hour = local_hour("c.started_at"),
        rows = in_spans("phone_calls", "c", "started_at"),
    )
}

/// Each missed inbound call, and whether its caller was reached again within the hour: a text to
/// their number that was not refused or cancelled, or an answered call with them either way.
/// (`OFFSET 0` keeps the three look-ups evaluated once per call, not once per use.)
fn follow_up_sql() -> String {
    format!(
        "SELECT {day} AS day, \
           count(*) FILTER (WHERE x.texted OR x.called_back OR x.called_again) AS reached, \
           count(*) FILTER (WHERE x.texted) AS texted, \
           count(*) FILTER (WHERE x.called_back) AS called_back, \
           count(*) FILTER (WHERE x.called_again) AS called_again \
         FROM {rows} \
         CROSS JOIN LATERAL (SELECT \
           EXISTS (SELECT 1 FROM sms_conversations t JOIN sms_messages s ON s.conversation_id = t.id \
                   WHERE t.contact = c.contact AND t.practice_id = c.practice_id AND s.direction = 'outbound' \
                     AND s.status NOT IN ('failed', 'cancelled') \
                     AND s.occurred_at > c.started_at AND s.occurred_at <= c.started_at + {window}) AS texted, \
           EXISTS (SELECT 1 FROM phone_calls o WHERE o.practice_id = c.practice_id AND o.contact = c.contact \
                     AND o.direction = 'outbound' AND o.disposition = 'answered' \
                     AND o.started_at > c.started_at AND o.started_at <= c.started_at + {window}) AS called_back, \
           EXISTS (SELECT 1 FROM phone_calls o WHERE o.practice_id = c.practice_id AND o.contact = c.contact \
                     AND o.direction = 'inbound' AND o.disposition = 'answered' \
                     AND o.started_at > c.started_at AND o.started_at <= c.started_at + {window}) AS called_again \
           OFFSET 0) x \
         WHERE c.direction = 'inbound' AND c.disposition IN ('no_answer', 'busy') \
         GROUP BY 1",
        day = local_day("c.started_at"),
        rows = in_spans("phone_calls", "c", "started_at"),
        window = format_args!("interval '{REACH_AGAIN_MINUTES} minutes'"),
    )
}

/// Texts by local hour, and automatic replies (not cancelled) by category: `category` is NULL on
/// the rows of other texts.
fn texts_sql() -> String {
    format!(
        "SELECT {hour} AS local_hour, \
           CASE WHEN m.direction = 'outbound' AND m.origin = 'auto_reply' AND m.status <> 'cancelled' \
                THEN coalesce(m.auto_response_category, 'other') END AS category, \
           count(*) FILTER (WHERE m.direction = 'inbound') AS received, \
           count(*) FILTER (WHERE m.direction = 'outbound') AS outbound, \
           count(*) FILTER (WHERE m.direction = 'outbound' AND m.status = 'sent') AS delivered, \
           count(*) FILTER (WHERE m.direction = 'outbound' AND m.status = 'failed') AS failed, \
           count(*) FILTER (WHERE m.direction = 'outbound' AND m.status = 'sandboxed') AS sandboxed, \
           count(*) FILTER (WHERE m.direction = 'outbound' AND m.status IN ('queued', 'sending')) AS in_flight, \
           count(*) FILTER (WHERE m.direction = 'outbound' AND m.status = 'unknown') AS unknown, \
           count(*) FILTER (WHERE m.direction = 'outbound' AND m.status = 'cancelled') AS cancelled, \
           count(*) FILTER (WHERE m.direction = 'outbound' AND m.origin = 'missed_call' AND m.status <> 'cancelled') \
             AS missed_call_texts \
         FROM {rows} GROUP BY 1, 2",
        hour = local_hour("m.occurred_at"),
        rows = in_spans("sms_messages", "m", "occurred_at"),
    )
}

/// Inbound texts flagged for a person (through the partial index of flagged texts): how many, how
/// many are still flagged, and how long each of the others waited from its arrival until a person
/// marked it reviewed, in whole seconds.
fn review_sql() -> String {
    format!(
        "SELECT {day} AS day, count(*) AS flagged, count(*) FILTER (WHERE m.needs_review) AS open, \
           coalesce(array_agg(greatest(0, floor(extract(epoch FROM m.reviewed_at - coalesce(m.arrived_at, m.occurred_at))))::bigint) \
             FILTER (WHERE NOT m.needs_review AND m.reviewed_at IS NOT NULL), '{{}}') AS waits \
         FROM {rows} \
         WHERE m.direction = 'inbound' AND (m.review_reason IS NOT NULL OR m.needs_review) \
         GROUP BY 1",
        day = local_day("m.occurred_at"),
        rows = in_spans("sms_messages", "m", "occurred_at"),
    )
}

fn opt_outs_sql() -> String {
    format!(
        "SELECT {day} AS day, count(*) AS n FROM {rows} GROUP BY 1",
        day = local_day("o.opted_out_at"),
        rows = in_spans("sms_opt_outs", "o", "opted_out_at"),
    )
}

/// Per day and provider: recordings transcribed, their audio, and failures for good; the rows with
/// no provider count the recordings every provider failed on.
fn transcription_sql() -> String {
    format!(
        "WITH recordings AS (SELECT r.id, {day} AS day, r.transcription_status, r.duration_ms, \
             CASE WHEN jsonb_typeof(r.transcription_failures) = 'array' THEN r.transcription_failures \
                  ELSE '[]'::jsonb END AS failures \
           FROM {rows}) \
         SELECT day, provider, sum(transcribed)::bigint AS transcribed, sum(audio_ms)::bigint AS audio_ms, \
           sum(failures)::bigint AS failures \
         FROM ( \
           SELECT r.day, t.provider, 1 AS transcribed, coalesce(t.audio_duration_ms, r.duration_ms, 0) AS audio_ms, \
             0 AS failures \
           FROM recordings r JOIN call_transcripts t ON t.recording_id = r.id \
           UNION ALL \
           SELECT r.day, coalesce(f.value ->> 'provider', 'unknown'), 0, 0, 1 \
           FROM recordings r CROSS JOIN LATERAL jsonb_array_elements(r.failures) AS f \
           UNION ALL \
           SELECT r.day, NULL, 0, 0, 1 FROM recordings r WHERE r.transcription_status = 'failed' \
         ) x GROUP BY 1, 2",
        day = local_day("r.recorded_at"),
        rows = in_spans("call_recordings", "r", "recorded_at"),
    )
}

/// The day's figures and the hour of a row grouped by [`local_hour`].
fn at_hour<'a>(out: &'a mut BTreeMap<NaiveDate, DayFigures>, row: &Row) -> Option<(&'a mut DayFigures, usize)> {
    let at: NaiveDateTime = row.get("local_hour");
    let figures = out.get_mut(&at.date())?;
    Some((figures, at.hour() as usize))
}

/// The figures of `days` (local days in `zone`) of a practice, from the live tables: every day
/// asked for is in the answer, with zeros when nothing happened.
pub async fn live_days(
    conn: &impl Conn,
    practice_id: Uuid,
    zone: Tz,
    days: &[NaiveDate],
) -> Result<BTreeMap<NaiveDate, DayFigures>, DbError> {
    let mut days = days.to_vec();
    days.sort_unstable();
    days.dedup();
    let mut out: BTreeMap<NaiveDate, DayFigures> = days.iter().map(|d| (*d, DayFigures::default())).collect();
    if days.is_empty() {
        return Ok(out);
    }
    let (starts, ends) = spans(&days, zone);
    let zone_name = zone.name();
    let params: [&dyn db::SqlParam; 4] = [&practice_id, &starts, &ends, &zone_name];
    let (calls_sql, follow_up_sql, texts_sql, review_sql, opt_outs_sql, transcription_sql) = (
        calls_sql(),
        follow_up_sql(),
        texts_sql(),
        review_sql(),
        opt_outs_sql(),
        transcription_sql(),
    );
    // One connection runs the statements back to back without waiting for each answer.
    let (calls, follow_up, texts, review, opt_outs, transcription) = tokio::try_join!(
        db::query(conn, &calls_sql, &params),
        db::query(conn, &follow_up_sql, &params),
        db::query(conn, &texts_sql, &params),
        db::query(conn, &review_sql, &params),
        db::query(conn, &opt_outs_sql, &params),
        db::query(conn, &transcription_sql, &params),
    )?;
    // A row of a day not asked for (a zone database that disagrees about an instant) is dropped.
    for row in &calls {
        let Some((f, hour)) = at_hour(&mut out, row) else {
            continue;
        };
        let c = &mut f.calls;
        c.total += row.get::<_, i64>("total");
        let inbound: i64 = row.get("inbound");
        c.inbound += inbound;
        c.answered += row.get::<_, i64>("answered");
        c.completed += row.get::<_, i64>("completed");
        c.missed += row.get::<_, i64>("missed");
        c.failed += row.get::<_, i64>("failed");
        c.answered_seconds += row.get::<_, i64>("answered_seconds");
        f.inbound_calls_by_hour[hour] += inbound;
    }
    for row in &follow_up {
        let Some(f) = out.get_mut(&row.get::<_, NaiveDate>("day")) else {
            continue;
        };
        f.calls.reached_again += row.get::<_, i64>("reached");
        f.calls.texted_back += row.get::<_, i64>("texted");
        f.calls.called_back += row.get::<_, i64>("called_back");
        f.calls.called_again += row.get::<_, i64>("called_again");
    }
    for row in &texts {
        let Some((f, hour)) = at_hour(&mut out, row) else {
            continue;
        };
        let t = &mut f.texts;
        let received: i64 = row.get("received");
        t.received += received;
        let outbound: i64 = row.get("outbound");
        t.outbound += outbound;
        t.delivered += row.get::<_, i64>("delivered");
        t.failed += row.get::<_, i64>("failed");
        t.sandboxed += row.get::<_, i64>("sandboxed");
        t.in_flight += row.get::<_, i64>("in_flight");
        t.unknown += row.get::<_, i64>("unknown");
        t.cancelled += row.get::<_, i64>("cancelled");
        t.missed_call_texts += row.get::<_, i64>("missed_call_texts");
        if let Some(category) = row.get::<_, Option<String>>("category") {
            *t.auto_replies.entry(category).or_default() += outbound;
        }
        f.inbound_texts_by_hour[hour] += received;
    }
    for row in &review {
        if let Some(f) = out.get_mut(&row.get::<_, NaiveDate>("day")) {
            f.texts.flagged += row.get::<_, i64>("flagged");
            f.texts.open += row.get::<_, i64>("open");
            f.texts.waits.extend(row.get::<_, Vec<i64>>("waits"));
        }
    }
    for row in &opt_outs {
        if let Some(f) = out.get_mut(&row.get::<_, NaiveDate>("day")) {
            f.texts.opt_outs += row.get::<_, i64>("n");
        }
    }
    for row in &transcription {
        let Some(f) = out.get_mut(&row.get::<_, NaiveDate>("day")) else {
            continue;
        };
        match row.get::<_, Option<String>>("provider") {
            Some(provider) => {
                let p = f.transcription.providers.entry(provider).or_default();
                p.recordings += row.get::<_, i64>("transcribed");
                p.audio_ms += row.get::<_, i64>("audio_ms");
                p.failures += row.get::<_, i64>("failures");
            }
            None => f.transcription.failed_recordings += row.get::<_, i64>("failures"),
        }
    }
    for f in out.values_mut() {
        f.texts.waits.sort_unstable();
    }
    Ok(out)
}

/// The rollups of a practice's days `from..=to` before `before` that can be read: not stale, of
/// this [`FORMAT`], cut in `zone`. A rollup that no longer parses is left out (the day is read live).
pub async fn rollups(
    conn: &impl Conn,
    practice_id: Uuid,
    zone: Tz,
    from: NaiveDate,
    to: NaiveDate,
    before: NaiveDate,
) -> Result<BTreeMap<NaiveDate, DayFigures>, DbError> {
    let rows = db::query(
        conn,
        "SELECT day, figures FROM analytics_daily WHERE practice_id = $1 AND day >= $2 AND day <= $3 AND day < $4 \
           AND NOT stale AND format = $5 AND timezone = $6",
        &[&practice_id, &from, &to, &before, &FORMAT, &zone.name()],
    )
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let day: NaiveDate = r.get(0);
            match serde_json::from_value::<DayFigures>(r.get::<_, Value>(1)) {
                Ok(figures) => Some((day, figures)),
                Err(error) => {
                    tracing::warn!(practice = %practice_id, %day, %error, "unreadable rollup; reading the day live");
                    None
                }
            }
        })
        .collect())
}

/// Every practice and its time zone (as stored), oldest first.
pub async fn practices(conn: &impl Conn) -> Result<Vec<(Uuid, String)>, DbError> {
    let rows = db::query(conn, "SELECT id, timezone FROM practices ORDER BY created_at, id", &[]).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Takes the practice's analytics lock for this transaction, unless a writer holds it: changes to
/// the rows the figures are read from wait for it, so nothing changes under a computation.
pub async fn try_lock(conn: &impl Conn, practice_id: Uuid) -> Result<bool, DbError> {
    let row = db::query_one(
        conn,
        "SELECT pg_try_advisory_xact_lock(analytics_lock_key($1))",
        &[&practice_id],
    )
    .await?;
    Ok(row.get(0))
}

/// Where the practice's rollups stand.
pub struct RollupState {
    /// The first day that has a rollup.
    pub first: Option<NaiveDate>,
    /// The days of the window asked for whose rollup can be read as it is (sorted).
    pub fresh: Vec<NaiveDate>,
    /// Days before the window whose rollup cannot (stale, or of another format or zone): the most
    /// recent `limit`.
    pub outdated_before: Vec<NaiveDate>,
}

pub async fn rollup_state(
    conn: &impl Conn,
    practice_id: Uuid,
    zone: Tz,
    from: NaiveDate,
    to: NaiveDate,
    limit: i64,
) -> Result<RollupState, DbError> {
    let first = db::query_one(
        conn,
        "SELECT min(day) FROM analytics_daily WHERE practice_id = $1",
        &[&practice_id],
    )
    .await?
    .get(0);
    let fresh = db::query(
        conn,
        "SELECT day FROM analytics_daily WHERE practice_id = $1 AND day >= $2 AND day <= $3 \
           AND NOT stale AND format = $4 AND timezone = $5 ORDER BY day",
        &[&practice_id, &from, &to, &FORMAT, &zone.name()],
    )
    .await?;
    let outdated = db::query(
        conn,
        "SELECT day FROM analytics_daily WHERE practice_id = $1 AND day < $2 \
           AND (stale OR format <> $3 OR timezone <> $4) ORDER BY day DESC LIMIT $5",
        &[&practice_id, &from, &FORMAT, &zone.name(), &limit],
    )
    .await?;
    Ok(RollupState {
        first,
        fresh: fresh.iter().map(|r| r.get(0)).collect(),
        outdated_before: outdated.iter().map(|r| r.get(0)).collect(),
    })
}

/// When the practice's first call or text happened.
pub async fn first_activity(conn: &impl Conn, practice_id: Uuid) -> Result<Option<DateTime<Utc>>, DbError> {
    let row = db::query_one(
        conn,
        "SELECT least((SELECT min(started_at) FROM phone_calls WHERE practice_id = $1), \
                      (SELECT min(occurred_at) FROM sms_messages WHERE practice_id = $1))",
        &[&practice_id],
    )
    .await?;
    Ok(row.get(0))
}

/// Stores (or replaces) the rollups of `days`, all in one statement.
pub async fn store_rollups(
    conn: &impl Conn,
    practice_id: Uuid,
    zone: Tz,
    days: &BTreeMap<NaiveDate, DayFigures>,
    now: DateTime<Utc>,
) -> Result<u64, DbError> {
    let dates: Vec<NaiveDate> = days.keys().copied().collect();
    let starts: Vec<DateTime<Utc>> = dates.iter().map(|d| start_of_day(*d, zone)).collect();
    let ends: Vec<DateTime<Utc>> = dates
        .iter()
        .map(|d| start_of_day(*d + chrono::Days::new(1), zone))
        .collect();
    let figures: Vec<String> = days
        .values()
        .map(|f| serde_json::to_string(f).unwrap_or_else(|_| "{}".into()))
        .collect();
    db::execute(
        conn,
        "INSERT INTO analytics_daily (practice_id, day, timezone, starts_at, ends_at, format, figures, stale, computed_at) \
         SELECT $1, r.day, $2, r.starts_at, r.ends_at, $3, r.figures::jsonb, false, $4 \
         FROM unnest($5::date[], $6::timestamptz[], $7::timestamptz[], $8::text[]) AS r (day, starts_at, ends_at, figures) \
         ON CONFLICT (practice_id, day) DO UPDATE SET timezone = EXCLUDED.timezone, starts_at = EXCLUDED.starts_at, \
           ends_at = EXCLUDED.ends_at, format = EXCLUDED.format, figures = EXCLUDED.figures, stale = false, \
           computed_at = EXCLUDED.computed_at",
        &[&practice_id, &zone.name(), &FORMAT, &now, &dates, &starts, &ends, &figures],
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_days_make_one_span() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let zone = chrono_tz::America::Toronto;
        let (starts, ends) = spans(&[d("2026-03-07"), d("2026-03-08"), d("2026-03-10")], zone);
        assert_eq!(starts.len(), 2);
        assert_eq!(starts[0].to_rfc3339(), "2026-03-07T05:00:00+00:00");
        // The 8th is 23 hours long: the span ends at midnight EDT.
        assert_eq!(ends[0].to_rfc3339(), "2026-03-09T04:00:00+00:00");
        assert_eq!((ends[1] - starts[1]).num_hours(), 24);
    }
}
