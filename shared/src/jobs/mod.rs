//! Scheduled jobs: library functions the Lambda binaries and `pedro serve`'s scheduler only call.

pub mod check_sms;

use chrono::{DateTime, Days, NaiveTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use crate::app::AppContext;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    CheckSms,
    SyncCalls,
    DailyAnalytics,
}

/// When a job runs (an EventBridge Scheduler schedule in production, a timer in `pedro serve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Every so often, from start-up: `rate(N minutes)`.
    Every(std::time::Duration),
    /// Once a day at this local time (`cron(M H * * ? *)` with a time zone).
    Daily { hour: u32, minute: u32 },
}

impl Schedule {
    /// The next run strictly after `now`; daily runs in `zone`. A local time that a clock change
    /// skips runs at the first instant after it.
    pub fn next_after(&self, now: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
        match *self {
            Self::Every(every) => now + chrono::Duration::from_std(every).unwrap_or(chrono::Duration::days(1)),
            Self::Daily { hour, minute } => {
                let at = NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or(NaiveTime::MIN);
                let today = now.with_timezone(&zone).date_naive();
                [today, today + Days::new(1), today + Days::new(2)]
                    .into_iter()
                    .filter_map(|day| {
                        (0..=180).find_map(|late| {
                            (day.and_time(at) + chrono::Duration::minutes(late))
                                .and_local_timezone(zone)
                                .earliest()
                        })
                    })
                    .map(|t| t.with_timezone(&Utc))
                    .find(|t| *t > now)
                    .unwrap_or(now + chrono::Duration::days(1))
            }
        }
    }
}

impl Job {
    pub const ALL: &'static [Job] = &[Job::CheckSms, Job::SyncCalls, Job::DailyAnalytics];

    pub fn name(&self) -> &'static str {
        match self {
            Self::CheckSms => check_sms::JOB,
            Self::SyncCalls => crate::calls::sync::JOB,
            Self::DailyAnalytics => crate::analytics::rollup::JOB,
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|j| j.name() == name)
    }

    /// When the job runs. The daily job runs shortly after midnight: each practice's previous
    /// local day is over by then (in the schedule's zone, and in any zone east of it).
    pub fn schedule(&self) -> Schedule {
        match self {
            Self::CheckSms => Schedule::Every(std::time::Duration::from_secs(15 * 60)),
            Self::SyncCalls => Schedule::Every(std::time::Duration::from_secs(60 * 60)),
            Self::DailyAnalytics => Schedule::Daily { hour: 0, minute: 30 },
        }
    }

    /// Runs once; the report says what was done. An error means the job should be retried.
    pub async fn run(&self, ctx: &AppContext) -> anyhow::Result<Value> {
        match self {
            Self::CheckSms => {
                let report = check_sms::run(ctx).await?;
                // Missed-call text-back rides along: callers hear from the office within minutes.
                let text_back = crate::calls::text_back::run(ctx).await;
                let mut json = serde_json::to_value(&report)?;
                json["missedCallTextBack"] = match &text_back {
                    Ok(done) => serde_json::to_value(done)?,
                    Err(error) => serde_json::json!({"failed": error.to_string()}),
                };
                if !report.failed.is_empty() {
                    anyhow::bail!("check-sms failed for {} practice(s): {json}", report.failed.len());
                }
                if let Err(error) = text_back {
                    anyhow::bail!("missed-call text-back failed: {error}");
                }
                Ok(json)
            }
            Self::SyncCalls => match crate::calls::sync::run(ctx, crate::calls::sync::Scope::All).await {
                Ok(report) => Ok(serde_json::to_value(&report)?),
                // Nothing to sync without credentials: not a failure worth retrying.
                Err(crate::calls::sync::SyncError::NotConfigured) => {
                    Ok(serde_json::json!({"skipped": "VoIP.ms credentials are not set"}))
                }
                Err(error) => Err(error.into()),
            },
            Self::DailyAnalytics => {
                // Every practice's rollups, then the recording retention pass, whatever became of them.
                let rollups = crate::analytics::rollup::run(ctx).await;
                let retention = crate::calls::removal::retention_pass(ctx).await;
                let rollups_json = match &rollups {
                    Ok(report) => serde_json::to_value(report)?,
                    Err(error) => serde_json::json!({"failed": error.to_string()}),
                };
                let retention_json = match &retention {
                    Ok(report) => serde_json::to_value(report)?,
                    Err(error) => serde_json::json!({"failed": error.to_string()}),
                };
                let json = serde_json::json!({"rollups": rollups_json, "retention": retention_json});
                match (rollups, retention) {
                    (Ok(report), Ok(_)) if report.failed.is_empty() => Ok(json),
                    (Ok(report), Ok(_)) => {
                        anyhow::bail!("daily-analytics failed for {} practice(s): {json}", report.failed.len())
                    }
                    _ => anyhow::bail!("daily-analytics failed: {json}"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_daily_job_runs_next_at_half_past_midnight_local() {
        let zone = chrono_tz::America::Toronto;
        let daily = Job::DailyAnalytics.schedule();
        let at = |y, mo, d, h, mi| Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
        // 10:00 EST on the 25th: 00:30 EST on the 26th.
        assert_eq!(daily.next_after(at(2026, 11, 25, 15, 0), zone), at(2026, 11, 26, 5, 30));
        // 00:10 local: the same night.
        assert_eq!(daily.next_after(at(2026, 11, 26, 5, 10), zone), at(2026, 11, 26, 5, 30));
        // Across the spring change: 00:30 EDT is 04:30 UTC.
        assert_eq!(daily.next_after(at(2026, 3, 8, 6, 0), zone), at(2026, 3, 9, 4, 30));
        assert_eq!(
            Job::CheckSms.schedule().next_after(at(2026, 1, 1, 0, 0), zone),
            at(2026, 1, 1, 0, 15)
        );
        assert_eq!(Job::parse("daily-analytics"), Some(Job::DailyAnalytics));
        assert_eq!(Job::parse("recording-retention"), None);
    }
}
