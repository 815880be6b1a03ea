//! The daily rollups: for each practice, the figures of its past local days, stored so the endpoint
//! need not read a year of calls and texts every time.
//!
//! Each run computes, per practice in its own time zone, the previous local day (always, so a
//! re-run replaces it) and every day of the window that has no readable rollup: never computed
//! (a missed run), marked stale (a row it was computed from changed since), or cut in another
//! zone or format. The window starts at the practice's first rollup, at most
//! [`MAX_BACKFILL_DAYS`] back; on a first run at its first call or text, at most
//! [`FIRST_RUN_DAYS`] back. Older rollups that became stale are computed again too (the most
//! recent [`MAX_OLDER_DAYS`] a run), so a change to an old day is not read live for ever. A practice's days are computed and stored in one transaction under
//! its analytics lock, so a run that dies half way leaves each practice with all of its new
//! rollups or none, and the next run does what is left.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use uuid::Uuid;

use crate::app::AppContext;
use crate::auth::Caller;
use crate::db::{self, DbError};
use crate::store::analytics as store;

pub const JOB: &str = "daily-analytics";

/// How far back a run fills days that have no rollup.
pub const MAX_BACKFILL_DAYS: u64 = 90;
/// How far back a practice's first run goes (not before its first call or text).
pub const FIRST_RUN_DAYS: u64 = 30;
/// Stale rollups older than the backfill window computed again per run, most recent first.
pub const MAX_OLDER_DAYS: i64 = 366;

/// How long a run waits for writers to let go of a practice's analytics lock before it leaves the
/// practice for the next run.
const LOCK_PATIENCE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PracticeRollup {
    pub practice_id: Uuid,
    pub timezone: String,
    /// Days computed and stored on this run.
    pub days: usize,
    pub first_day: Option<NaiveDate>,
    pub last_day: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PracticeFailure {
    pub practice_id: Uuid,
    pub error: String,
}

#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollupReport {
    pub practices: Vec<PracticeRollup>,
    pub failed: Vec<PracticeFailure>,
}

/// The days of one practice to compute: yesterday (local), and the days of the window without a
/// readable rollup (`fresh` lists those with one, sorted). Older outdated days come on top.
pub fn days_to_compute(
    yesterday: NaiveDate,
    first_rollup: Option<NaiveDate>,
    first_activity: Option<NaiveDate>,
    fresh: &[NaiveDate],
) -> Vec<NaiveDate> {
    let earliest = yesterday - Days::new(MAX_BACKFILL_DAYS - 1);
    let start = match first_rollup {
        Some(first) => first.max(earliest),
        None => first_activity
            .unwrap_or(yesterday)
            .max(yesterday - Days::new(FIRST_RUN_DAYS - 1)),
    }
    .min(yesterday);
    start
        .iter_days()
        .take_while(|d| *d <= yesterday)
        .filter(|d| *d == yesterday || fresh.binary_search(d).is_err())
        .collect()
}

/// Runs the rollups of every practice. One practice failing does not stop the others; the report
/// lists it, and the next run does its days.
pub async fn run(ctx: &AppContext) -> Result<RollupReport, DbError> {
    let practices = {
        let mut client = ctx.conn().await?;
        let tx = db::begin_as(&mut client, &Caller::service()).await?;
        let practices = store::practices(&*tx).await?;
        tx.commit().await?;
        practices
    };
    let mut report = RollupReport::default();
    for (practice_id, timezone) in practices {
        // As everywhere else, a zone typed into the table by hand that is not one is UTC.
        let zone: Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
        match roll_up(ctx, practice_id, zone).await {
            Ok(done) => report.practices.push(done),
            Err(error) => {
                // Without the database's DETAIL, which can quote rows.
                let error = match error {
                    RollupError::Db(db) => db.log_summary(),
                    other => other.to_string(),
                };
                tracing::error!(practice = %practice_id, %error, "analytics rollup failed");
                report.failed.push(PracticeFailure { practice_id, error });
            }
        }
    }
    Ok(report)
}

#[derive(Debug, thiserror::Error)]
pub enum RollupError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("writers held the practice's analytics lock for {0:?}; left for the next run")]
    Busy(Duration),
}

/// Computes and stores one practice's days, in one transaction under its analytics lock.
pub async fn roll_up(ctx: &AppContext, practice_id: Uuid, zone: Tz) -> Result<PracticeRollup, RollupError> {
    let now: DateTime<Utc> = ctx.clock.now();
    let today = now.with_timezone(&zone).date_naive();
    let yesterday = today - Days::new(1);
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &Caller::service()).await?;
    // Only try: waiting in line would hold back every writer queued behind us.
    let mut waited = Duration::ZERO;
    while !store::try_lock(&*tx, practice_id).await? {
        if waited >= LOCK_PATIENCE {
            return Err(RollupError::Busy(waited));
        }
        let pause = Duration::from_millis(100);
        tokio::time::sleep(pause).await;
        waited += pause;
    }
    let earliest = yesterday - Days::new(MAX_BACKFILL_DAYS - 1);
    let state = store::rollup_state(&*tx, practice_id, zone, earliest, yesterday, MAX_OLDER_DAYS).await?;
    let first_activity = match state.first {
        Some(_) => None,
        None => store::first_activity(&*tx, practice_id)
            .await?
            .map(|at| at.with_timezone(&zone).date_naive()),
    };
    let mut days = state.outdated_before;
    days.extend(days_to_compute(yesterday, state.first, first_activity, &state.fresh));
    days.sort_unstable();
    days.dedup();
    let figures: BTreeMap<NaiveDate, _> = store::live_days(&*tx, practice_id, zone, &days).await?;
    store::store_rollups(&*tx, practice_id, zone, &figures, now).await?;
    tx.commit().await.map_err(DbError::from)?;
    tracing::info!(practice = %practice_id, days = days.len(), "analytics rolled up");
    Ok(PracticeRollup {
        practice_id,
        timezone: zone.name().to_string(),
        days: days.len(),
        first_day: days.first().copied(),
        last_day: days.last().copied(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_first_run_starts_at_the_first_activity_at_most_thirty_days_back() {
        let yesterday = d("2026-11-24");
        assert_eq!(days_to_compute(yesterday, None, None, &[]), [yesterday]);
        let days = days_to_compute(yesterday, None, Some(d("2026-11-20")), &[]);
        assert_eq!(days.first(), Some(&d("2026-11-20")));
        assert_eq!(days.len(), 5);
        let days = days_to_compute(yesterday, None, Some(d("2025-01-01")), &[]);
        assert_eq!((days.len(), days[0]), (30, d("2026-10-26")));
        // Activity only today: yesterday alone.
        assert_eq!(
            days_to_compute(yesterday, None, Some(d("2026-11-25")), &[]),
            [yesterday]
        );
    }

    #[test]
    fn later_runs_fill_the_gaps_of_the_last_ninety_days_and_redo_yesterday() {
        let yesterday = d("2026-11-24");
        let fresh: Vec<NaiveDate> = d("2026-11-01")
            .iter_days()
            .take_while(|x| *x <= yesterday)
            .filter(|x| *x != d("2026-11-10"))
            .collect();
        assert_eq!(
            days_to_compute(yesterday, Some(d("2026-11-01")), None, &fresh),
            [d("2026-11-10"), yesterday]
        );
        // A run missed for a week: the week is filled.
        let fresh: Vec<NaiveDate> = d("2026-11-01").iter_days().take(17).collect();
        assert_eq!(days_to_compute(yesterday, Some(d("2026-11-01")), None, &fresh).len(), 7);
        // Never more than ninety days back.
        let days = days_to_compute(yesterday, Some(d("2025-01-01")), None, &[]);
        assert_eq!((days.len(), days[0]), (90, d("2026-08-27")));
    }
}
