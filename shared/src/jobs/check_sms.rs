//! `check-sms`, every 15 minutes: reads received texts from VoIP.ms (`getSMS`) for the window since
//! the last successful run, with overlap, and stores what the webhook missed (the same dedupe).
//! Texts older than `AUTO_REPLY_MAX_AGE_MINUTES` are flagged for a person instead of answered.
//! A VoIP.ms error fails the run, so its window is read again next time.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;

use crate::app::AppContext;
use crate::auth::Caller;
use crate::db;
use crate::db::DbError;
use crate::domain::phone::Did;
use crate::domain::practice::Practice;
use crate::sms::gateway::Provider;
use crate::sms::inbound::{receive, InboundError, InboundText};
use crate::store::jobs::{self, ResumePoint};
use crate::store::messages::Origin;
use crate::store::practices;
use crate::voipms::VoipMsClient;

pub const JOB: &str = "check-sms";

/// getSMS refuses more than 92 days; stay inside it.
const MAX_LOOKBACK_DAYS: i64 = 90;

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckSmsReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<&'static str>,
    pub practices: usize,
    pub fetched: usize,
    pub stored: usize,
    pub duplicates: usize,
    pub auto_replied: usize,
    pub flagged: usize,
    pub rejected: usize,
    /// Practices whose run failed, with the reason; their window is retried next time.
    pub failed: Vec<String>,
}

pub async fn run(ctx: &AppContext) -> Result<CheckSmsReport, DbError> {
    let mut report = CheckSmsReport::default();
    let Some(voipms) = &ctx.voipms else {
        report.skipped = Some("VoIP.ms credentials are not set; nothing to check");
        return Ok(report);
    };
    let all = {
        let mut client = ctx.conn().await?;
        let tx = db::begin_as(&mut client, &Caller::service()).await?;
        // Housekeeping rides along: rate-limit counters of windows long past, texts a crash left
        // `sending` (failed and flagged for a person), runs that died half way.
        let now = ctx.clock.now();
        crate::store::limits::prune(&*tx, now - Duration::days(2)).await?;
        let stalled = crate::store::messages::stalled_outbound(&*tx, now - Duration::minutes(5)).await?;
        jobs::fail_abandoned(&*tx, now - Duration::hours(1), now).await?;
        let all = practices::all_with_dids(&*tx).await?;
        tx.commit().await?;
        // Texts whose task was lost (a crash between storing and queueing, a worker that died):
        // queued again; the worker looks up any part whose answer was lost before resending.
        if !stalled.is_empty() {
            tracing::warn!(
                stalled = stalled.len(),
                "outbound texts left unfinished were queued again"
            );
        }
        for id in stalled {
            crate::sms::delivery::queue(ctx.queue.as_ref(), id).await;
        }
        all
    };
    for (practice, dids) in all {
        report.practices += 1;
        if let Err(error) = run_for_practice(ctx, voipms, &practice, &dids, &mut report).await {
            tracing::error!(practice = %practice.id, %error, "check-sms failed; the window will be read again");
            report.failed.push(format!("{}: {error}", practice.id));
        }
    }
    tracing::info!(
        fetched = report.fetched,
        stored = report.stored,
        duplicates = report.duplicates,
        failed = report.failed.len(),
        "check-sms finished"
    );
    Ok(report)
}

/// The window to read: from a little before the last successful run ended, to now.
pub fn window(
    now: DateTime<Utc>,
    resume: ResumePoint,
    overlap: Duration,
    first_lookback: Duration,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = match resume {
        ResumePoint::After(end) => end - overlap,
        ResumePoint::RetryFrom(start) => start,
        ResumePoint::FirstRun => now - first_lookback,
    };
    (start.max(now - Duration::days(MAX_LOOKBACK_DAYS)).min(now), now)
}

async fn run_for_practice(
    ctx: &AppContext,
    voipms: &VoipMsClient,
    practice: &Practice,
    dids: &[String],
    report: &mut CheckSmsReport,
) -> anyhow::Result<()> {
    let now = ctx.clock.now();
    let overlap = Duration::from_std(ctx.settings.check_sms_overlap)?;
    let lookback = Duration::from_std(ctx.settings.check_sms_initial_lookback)?;
    // Jobs act as the service role.
    let service = Caller::service();
    let (window, run_id) = {
        let mut client = ctx.conn().await?;
        let tx = db::begin_as(&mut client, &service).await?;
        let window = window(
            now,
            jobs::resume_point(&*tx, practice.id, JOB).await?,
            overlap,
            lookback,
        );
        let run_id = jobs::start(&*tx, practice.id, JOB, now, window).await?;
        tx.commit().await.map_err(DbError::from)?;
        (window, run_id)
    };
    let outcome = read_window(ctx, voipms, dids, window, report).await;
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &service).await?;
    let finished = ctx.clock.now();
    match &outcome {
        Ok(stats) => jobs::finish(&*tx, run_id, finished, Ok(stats)).await?,
        Err(error) => jobs::finish(&*tx, run_id, finished, Err(&error.to_string())).await?,
    }
    tx.commit().await.map_err(DbError::from)?;
    outcome.map(|_| ())
}

async fn read_window(
    ctx: &AppContext,
    voipms: &VoipMsClient,
    dids: &[String],
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    report: &mut CheckSmsReport,
) -> anyhow::Result<serde_json::Value> {
    // Counted locally and added to the report only when the whole window was read.
    let (mut fetched, mut stored, mut duplicates, mut replied, mut flagged, mut rejected) = (0, 0, 0, 0, 0, 0);
    for did in dids {
        let digits = Did::parse(did)
            .map(|d| d.voipms_digits().to_string())
            .unwrap_or_else(|_| did.clone());
        // getMMS with all_messages=1 lists texts and MMS (with their media) in one list. It selects
        // whole days, which VoIP.ms may count in its own zone: the window is widened by a day on
        // each side, and everything it returns is stored (dedupe makes the overlap harmless).
        let (from, to) = crate::voipms::widened_days(start.date_naive(), end.date_naive());
        let mut records = voipms.received_messages(&digits, from, to).await?;
        // Oldest first: each text is decided in the order the patient wrote them (consent, the
        // quiet period), not in the order VoIP.ms lists them.
        records.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| a.id.cmp(&b.id)));
        if records.len() >= crate::voipms::GET_SMS_LIMIT {
            tracing::warn!(
                count = records.len(),
                "getSMS returned its limit; some texts of this window may be missing"
            );
        }
        for record in records.into_iter().filter(|r| r.inbound) {
            let at = record.date.and_utc();
            fetched += 1;
            let text = InboundText {
                to: did.clone(),
                from: record.contact,
                message: record.message,
                provider: Provider::VoipMs,
                provider_id: record.id,
                provider_date: Some(record.date.format("%Y-%m-%d %H:%M:%S").to_string()),
                sent_at: Some(at),
                media: record.media,
                received_at: ctx.clock.now(),
                origin: Origin::CheckSms,
            };
            match receive(ctx, text).await {
                Ok(outcome) if outcome.duplicate => duplicates += 1,
                Ok(outcome) => {
                    stored += 1;
                    replied += usize::from(outcome.auto_response.is_some_and(|r| r.queued));
                    flagged += usize::from(outcome.needs_review);
                }
                Err(InboundError::Db(error)) => return Err(error.into()),
                Err(error) => {
                    // Only a row without an id: nothing to store it under.
                    rejected += 1;
                    tracing::warn!(%error, "check-sms skipped a text it cannot store");
                }
            }
        }
    }
    report.fetched += fetched;
    report.stored += stored;
    report.duplicates += duplicates;
    report.auto_replied += replied;
    report.flagged += flagged;
    report.rejected += rejected;
    Ok(
        json!({ "fetched": fetched, "stored": stored, "duplicates": duplicates, "autoReplied": replied, "flagged": flagged, "rejected": rejected }),
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn window_overlaps_the_last_run_and_stays_within_limits() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let (hour, day) = (Duration::hours(1), Duration::days(1));
        let start = |resume| window(now, resume, hour, day).0;
        assert_eq!(
            start(ResumePoint::After(now - Duration::minutes(15))),
            now - Duration::minutes(75)
        );
        assert_eq!(start(ResumePoint::FirstRun), now - day);
        assert_eq!(
            start(ResumePoint::RetryFrom(now - Duration::days(3))),
            now - Duration::days(3)
        );
        assert_eq!(
            start(ResumePoint::After(now - Duration::days(400))),
            now - Duration::days(90)
        );
        assert_eq!(window(now, ResumePoint::FirstRun, hour, day).1, now);
    }
}
