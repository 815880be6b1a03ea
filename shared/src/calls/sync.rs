//! `sync-calls`: the call history and recordings from VoIP.ms, hourly (and on demand for one
//! practice through `POST /api/voip/sync`).
//!
//! `getCDR` is read for the window since the last successful sync of each practice minus an
//! overlap, with `timezone=0`: one fixed offset for the whole window, and UTC has no daylight-saving
//! change, so no row is an hour off (any other offset is wrong for part of the year). Its days are
//! widened by one on each side; the upsert on `uniqueid` makes the overlap harmless. A failed run
//! is recorded and the next run starts where the last successful one ended.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::fetch::{self, Fetched};
use super::transcription_request;
use crate::app::AppContext;
use crate::auth::Caller;
use crate::db::{self, DbError};
use crate::domain::call::{self, Call, Direction, RowError};
use crate::domain::recording::{self, ListedRecording, START_TOLERANCE};
use crate::store::calls::{self as call_store, UpsertCounts};
use crate::store::jobs::{self, ResumePoint};
use crate::store::{practices, recordings};
use crate::voipms::{VoipMsClient, VoipMsError};

pub const JOB: &str = "sync-calls";

/// How long `POST /api/voip/sync` spends fetching recordings (its function has 29 s in all).
const ENDPOINT_FETCH_BUDGET: std::time::Duration = std::time::Duration::from_secs(15);

/// A recording is matched only once its call ended this long before the history was read.
const HISTORY_MARGIN: Duration = Duration::minutes(5);

/// The most history a sync reads in one run (in chunks VoIP.ms accepts).
const MAX_LOOKBACK_DAYS: i64 = 400;

/// Which practices a run is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    Practice(Uuid),
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct CallCounts {
    /// Rows VoIP.ms listed for the practices synced.
    pub fetched: usize,
    pub inserted: usize,
    pub updated: usize,
    /// Already stored exactly so: nothing was written.
    pub unchanged: usize,
    /// Not for any practice's DID, deleted on purpose (tombstoned), or listed twice.
    pub skipped: usize,
    /// Rows that could not be read (logged, never fatal).
    pub invalid: usize,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct RecordingCounts {
    /// Listed by VoIP.ms in the window.
    pub found: usize,
    /// Fetched into the object store by this run.
    pub stored: usize,
    /// Transcriptions asked for by this run.
    pub queued: usize,
    /// Kept without a call (matched again next time).
    pub unmatched: usize,
    pub corrupt: usize,
    /// Fetches that failed (tried again next time).
    pub failed: usize,
    /// Left for the hourly job: a sync someone waits for stops fetching in time to answer.
    pub deferred: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<&'static str>,
}

impl RecordingCounts {
    fn add(&mut self, other: &RecordingCounts) {
        self.found += other.found;
        self.stored += other.stored;
        self.queued += other.queued;
        self.unmatched += other.unmatched;
        self.corrupt += other.corrupt;
        self.failed += other.failed;
        self.deferred += other.deferred;
        self.skipped = self.skipped.or(other.skipped);
    }
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct SyncReport {
    pub calls: CallCounts,
    pub recordings: RecordingCounts,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("VoIP.ms credentials are not set")]
    NotConfigured,
    #[error("VoIP.ms: {0}")]
    VoipMs(#[from] VoipMsError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A practice and its DIDs (E.164), with the run bookkeeping row and window.
struct Target {
    practice_id: Uuid,
    account: Option<String>,
    run_id: Uuid,
    window: (DateTime<Utc>, DateTime<Utc>),
}

/// Runs the sync for `scope`: calls, then each practice's recordings. Each practice's run is
/// recorded with its own figures and outcome (members can read their practice's runs: never
/// another practice's numbers). A getCDR failure fails every run; a practice whose recordings
/// failed fails alone, and the others go on.
pub async fn run(ctx: &AppContext, scope: Scope) -> Result<SyncReport, SyncError> {
    let voipms = ctx.voipms.as_ref().ok_or(SyncError::NotConfigured)?;
    let now = ctx.clock.now();
    let (targets, all_dids) = start_runs(ctx, scope, now).await?;
    let mut report = SyncReport::default();
    if targets.is_empty() {
        return Ok(report);
    }
    // One getCDR covers the account; its rows are routed to practices by DID.
    let start = targets.iter().map(|t| t.window.0).min().unwrap_or(now);
    let end = targets.iter().map(|t| t.window.1).max().unwrap_or(start);
    let in_scope: HashSet<Uuid> = targets.iter().map(|t| t.practice_id).collect();
    let imported = match import_calls(ctx, voipms, (start, end), &all_dids, &in_scope).await {
        Ok(imported) => imported,
        Err(error) => {
            let runs: Vec<(Uuid, Result<Value, String>)> =
                targets.iter().map(|t| (t.run_id, Err(error.to_string()))).collect();
            finish_runs(ctx, &runs).await?;
            return Err(error);
        }
    };
    let fetch_until = match scope {
        Scope::Practice(_) => Some(std::time::Instant::now() + ENDPOINT_FETCH_BUDGET),
        Scope::All => None,
    };
    let mut runs = Vec::new();
    let mut first_error = None;
    for target in &targets {
        let mut recordings = RecordingCounts::default();
        let outcome = sync_recordings(ctx, voipms, target, &all_dids, &mut recordings, fetch_until).await;
        let calls = imported
            .per_practice
            .get(&target.practice_id)
            .cloned()
            .unwrap_or_default();
        let own = SyncReport { calls, recordings };
        match outcome {
            Ok(()) => runs.push((target.run_id, Ok(serde_json::to_value(&own).unwrap_or(Value::Null)))),
            Err(error) => {
                tracing::error!(practice = %target.practice_id, %error, "recording sync failed; the window is read again next time");
                runs.push((target.run_id, Err(error.to_string())));
                first_error.get_or_insert(error);
            }
        }
        report.recordings.add(&own.recordings);
        if scope == Scope::Practice(target.practice_id) {
            report.calls = own.calls;
        }
    }
    if scope == Scope::All {
        report.calls = imported.total;
    }
    finish_runs(ctx, &runs).await?;
    match first_error {
        Some(error) => Err(error),
        None => Ok(report),
    }
}

async fn finish_runs(ctx: &AppContext, runs: &[(Uuid, Result<Value, String>)]) -> Result<(), DbError> {
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &Caller::service()).await?;
    let finished = ctx.clock.now();
    for (run_id, outcome) in runs {
        match outcome {
            Ok(stats) => jobs::finish(&*tx, *run_id, finished, Ok(stats)).await?,
            Err(error) => jobs::finish(&*tx, *run_id, finished, Err(error)).await?,
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Records a running sync for each practice in scope; returns them, and every practice's DIDs
/// (for telling rows of other practices from rows of nobody's).
async fn start_runs(
    ctx: &AppContext,
    scope: Scope,
    now: DateTime<Utc>,
) -> Result<(Vec<Target>, HashMap<String, Uuid>), DbError> {
    let settings = &ctx.settings.calls;
    let overlap = Duration::from_std(settings.overlap).unwrap_or_default();
    let lookback = Duration::from_std(settings.initial_lookback).unwrap_or_default();
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &Caller::service()).await?;
    jobs::fail_abandoned(&*tx, now - Duration::hours(2), now).await?;
    let accounts = practices::voipms_accounts(&*tx).await?;
    let mut targets: Vec<Target> = Vec::new();
    let mut all_dids = HashMap::new();
    for (practice, dids) in practices::all_with_dids(&*tx).await? {
        for did in &dids {
            all_dids.insert(did.clone(), practice.id);
        }
        if scope != Scope::All && scope != Scope::Practice(practice.id) {
            continue;
        }
        let start = match jobs::resume_point(&*tx, practice.id, JOB).await? {
            ResumePoint::After(end) => end - overlap,
            ResumePoint::RetryFrom(start) => start,
            ResumePoint::FirstRun => now - lookback,
        };
        let window = (start.max(now - Duration::days(MAX_LOOKBACK_DAYS)).min(now), now);
        let run_id = jobs::start(&*tx, practice.id, JOB, now, window).await?;
        targets.push(Target {
            practice_id: practice.id,

            account: accounts
                .get(&practice.id)
                .cloned()
                .flatten()
                .or_else(|| settings.voipms_account.clone()),
            run_id,
            window,
        });
    }
    tx.commit().await?;
    Ok((targets, all_dids))
}

/// What an import did: for the whole account (rows of no practice and unreadable rows included:
/// the operator's figures) and for each practice (only its own rows).
#[derive(Debug, Default)]
pub struct Imported {
    pub total: CallCounts,
    pub per_practice: HashMap<Uuid, CallCounts>,
}

/// Reads `getCDR` for `window` and stores the calls of the practices in `in_scope`. Also used by
/// the 15-minute job for missed-call text-back.
pub async fn import_calls(
    ctx: &AppContext,
    voipms: &VoipMsClient,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    all_dids: &HashMap<String, Uuid>,
    in_scope: &HashSet<Uuid>,
) -> Result<Imported, SyncError> {
    let (from, to) = crate::voipms::widened_days(start.date_naive(), end.date_naive());
    let rows = voipms.call_history(from, to).await?;
    let dids: HashSet<String> = all_dids.keys().cloned().collect();
    let mut counts = CallCounts::default();
    let mut per_practice: HashMap<Uuid, CallCounts> = HashMap::new();
    let mut by_practice: HashMap<Uuid, Vec<Call>> = HashMap::new();
    let mut seen: HashSet<(Uuid, String)> = HashSet::new();
    for row in &rows {
        match call::from_cdr_row(row, &dids) {
            Ok(call) => {
                let Some(&practice_id) = all_dids.get(&call.did) else {
                    continue;
                };
                // Another practice's call (a one-practice run): not counted, not shown.
                if !in_scope.contains(&practice_id) {
                    continue;
                }
                counts.fetched += 1;
                let own = per_practice.entry(practice_id).or_default();
                own.fetched += 1;
                if !seen.insert((practice_id, call.uniqueid.clone())) {
                    counts.skipped += 1;
                    own.skipped += 1;
                    continue;
                }
                by_practice.entry(practice_id).or_default().push(call);
            }
            Err(RowError::NotOurs) => {
                counts.fetched += 1;
                counts.skipped += 1;
            }
            Err(RowError::Invalid(reason)) => {
                counts.fetched += 1;
                counts.invalid += 1;
                // The reason names the field, never its value's digits in full.
                tracing::warn!(reason = %crate::domain::phone::redact_numbers(&reason), "getCDR row skipped");
            }
        }
    }
    let now = ctx.clock.now();
    let mut client = ctx.conn().await?;
    for (practice_id, calls) in by_practice {
        let tx = db::begin_as(&mut client, &Caller::service()).await?;
        let tombstoned = call_store::tombstones(&*tx, practice_id, "call").await?;
        let (kept, deleted): (Vec<Call>, Vec<Call>) =
            calls.into_iter().partition(|c| !tombstoned.contains(&c.uniqueid));
        let UpsertCounts {
            inserted,
            updated,
            unchanged,
        } = call_store::upsert(&*tx, practice_id, &kept, now).await?;
        tx.commit().await.map_err(DbError::from)?;
        for c in [&mut counts, per_practice.entry(practice_id).or_default()] {
            c.skipped += deleted.len();
            c.inserted += inserted;
            c.updated += updated;
            c.unchanged += unchanged;
        }
    }
    Ok(Imported {
        total: counts,
        per_practice,
    })
}

/// Whether a listed recording is this practice's. An account lists every line it has (the owner's
/// own phone, a fax line, other sub-accounts, other practices), and a recording kept here is
/// stored, transcribed and searchable by the practice's staff, so only what is provably theirs is
/// kept: an incoming call to one of its DIDs (with or without a call in the history yet), or an
/// outgoing call that matches one of its own outbound calls. An outgoing recording listed before
/// its call is in the history is listed again by the next sync and kept then.
fn belongs_to(
    rec: &ListedRecording,
    target: &Target,
    all_dids: &HashMap<String, Uuid>,
    own_calls: &[recording::CallForMatching],
) -> bool {
    match rec.direction {
        Direction::Inbound => all_dids.get(&rec.destination) == Some(&target.practice_id),
        Direction::Outbound => own_calls.iter().any(|call| recording::is_candidate(rec, call)),
    }
}

/// Lists the practice's recordings for its window, matches them to calls, fetches what is not
/// stored yet and asks for transcriptions.
async fn sync_recordings(
    ctx: &AppContext,
    voipms: &VoipMsClient,
    target: &Target,
    all_dids: &HashMap<String, Uuid>,
    counts: &mut RecordingCounts,
    fetch_until: Option<std::time::Instant>,
) -> Result<(), SyncError> {
    let Some(account) = &target.account else {
        counts.skipped = Some("no VoIP.ms account is set (VOIPMS_ACCOUNT); recordings are not synced");
        return Ok(());
    };
    let (start, end) = target.window;
    let (from, to) = crate::voipms::widened_days(start.date_naive(), end.date_naive());
    let rows = voipms.call_recordings(account, from, to).await?;
    let zone = ctx.settings.carrier_date_timezone;
    let mut listed: Vec<ListedRecording> = Vec::new();
    for row in &rows {
        match recording::from_listing_row(row, zone) {
            Ok(rec) => listed.push(rec),
            Err(reason) => tracing::warn!(%reason, "getCallRecordings row skipped"),
        }
    }
    let outgoing = listed.iter().any(|r| r.direction == Direction::Outbound);
    let own_calls = match (outgoing, listed.first()) {
        (true, Some(_)) => {
            let from = listed.iter().map(|r| r.recorded_at).min().unwrap_or(start) - START_TOLERANCE;
            let until = listed.iter().map(|r| r.recorded_at).max().unwrap_or(end) + START_TOLERANCE;
            let mut client = ctx.conn().await?;
            let tx = db::begin_as(&mut client, &Caller::service()).await?;
            let calls = call_store::for_matching(&*tx, target.practice_id, from, until).await?;
            tx.commit().await.map_err(DbError::from)?;
            calls
        }
        _ => Vec::new(),
    };
    listed.retain(|rec| belongs_to(rec, target, all_dids, &own_calls));
    counts.found += listed.len();
    let now = ctx.clock.now();
    {
        let mut client = ctx.conn().await?;
        let tx = db::begin_as(&mut client, &Caller::service()).await?;
        let tombstoned = call_store::tombstones(&*tx, target.practice_id, "recording").await?;
        listed.retain(|r| !tombstoned.contains(&r.voipms_id));
        recordings::insert_listed(&*tx, target.practice_id, &listed).await?;
        // Every recording still without a call, this window's and earlier ones, but not one whose
        // call may have ended after the history was read (its row may not be there yet).
        let history_read_at = target.window.1;
        let waiting = recordings::unmatched(&*tx, target.practice_id).await?;
        let waiting_count = waiting.len();
        let unmatched: Vec<(Uuid, ListedRecording)> = waiting
            .into_iter()
            .filter(|(_, r)| {
                let length = Duration::seconds(i64::from(r.duration_seconds.unwrap_or(0)));
                r.recorded_at + length + HISTORY_MARGIN < history_read_at
            })
            .collect();
        if let (Some(first), Some(last)) = (unmatched.first(), unmatched.last()) {
            let calls = call_store::for_matching(
                &*tx,
                target.practice_id,
                first.1.recorded_at - START_TOLERANCE,
                last.1.recorded_at + START_TOLERANCE,
            )
            .await?;
            let listed: Vec<ListedRecording> = unmatched.iter().map(|(_, r)| r.clone()).collect();
            let matches = recording::match_recordings(&listed, &calls);
            let pairs: Vec<(Uuid, Uuid)> = unmatched
                .iter()
                .zip(&matches)
                .filter_map(|((id, _), call)| call.map(|c| (*id, c)))
                .collect();
            counts.unmatched += waiting_count - pairs.len();
            recordings::set_calls(&*tx, target.practice_id, &pairs).await?;
        }
        tx.commit().await.map_err(DbError::from)?;
    }
    let to_fetch = {
        let mut client = ctx.conn().await?;
        let tx = db::begin_as(&mut client, &Caller::service()).await?;
        let rows = recordings::to_fetch(&*tx, target.practice_id).await?;
        tx.commit().await.map_err(DbError::from)?;
        rows
    };
    for rec in to_fetch {
        // A run someone waits for (the endpoint) stops fetching in time to answer; the hourly job
        // fetches the rest.
        if fetch_until.is_some_and(|until| std::time::Instant::now() >= until) {
            counts.deferred += 1;
            continue;
        }
        match fetch::fetch_and_store(&ctx.db, voipms, ctx.blob.as_ref(), account, &rec, now).await {
            Ok(Fetched::Stored) => {
                counts.stored += 1;
                if ctx.settings.calls.enable_transcription
                    && transcription_request::request(ctx, rec.id, false).await?
                        == transcription_request::Requested::Queued
                {
                    counts.queued += 1;
                }
            }
            Ok(Fetched::AlreadyStored) => {}
            Ok(Fetched::Corrupt) => counts.corrupt += 1,
            Err(fetch::FetchError::Db(error)) => return Err(error.into()),
            Err(error) => {
                counts.failed += 1;
                tracing::warn!(recording = %rec.id, %error, "recording fetch failed; the next sync tries again");
            }
        }
    }
    Ok(())
}
