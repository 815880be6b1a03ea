//! The transcription step behind the queue: one recording, done once.
//!
//! A delivery claims the recording (`queued` → `processing`, for a limited time), so two
//! deliveries of the same request at once transcribe it once; a request for a recording already
//! transcribed, deleted or never stored is acknowledged and does nothing. Providers are tried in
//! order: one that fails for good (bad key, no credit, audio it cannot take) is noted and the next
//! one tried; one that asks to be tried later (429, 5xx) sends the request back to the queue,
//! honouring its `Retry-After`, until the last delivery, which moves on instead. When every
//! provider has failed, the recording shows `failed` with each one's reason and its call is
//! flagged; the request leaves the queue.

use std::time::Instant;

use chrono::Duration;
use serde_json::json;
use uuid::Uuid;

use crate::app::AppContext;
use crate::auth::Caller;
use crate::blob::BlobKey;
use crate::db::{self, DbError};
use crate::queue::{Attempt, TaskError};
use crate::store::transcripts::{self, Claimed, NewTranscript};
use crate::transcribe::{Recording, TranscribeError};

/// How long a claim holds: longer than any transcription of one call should take.
const CLAIM: Duration = Duration::minutes(20);

pub async fn execute(ctx: &AppContext, recording_id: Uuid, attempt: Attempt) -> Result<(), TaskError> {
    let now = ctx.clock.now();
    let claimed = {
        let mut client = ctx.conn().await?;
        let tx = db::begin_as(&mut client, &Caller::service()).await?;
        let claimed = transcripts::claim(&*tx, recording_id, now, now + CLAIM).await?;
        let state = match claimed {
            Some(_) => None,
            None => transcripts::state(&*tx, recording_id).await?,
        };
        tx.commit().await.map_err(DbError::from)?;
        match (claimed, state) {
            (Some(claimed), _) => claimed,
            // Another delivery is at it: come back when its claim lapses, in case it vanished.
            (None, Some((status, Some(until)))) if status == "processing" => {
                let wait = (until - now).to_std().unwrap_or_default();
                return Err(TaskError::Retryable {
                    reason: "another worker is transcribing this recording".into(),
                    after: Some(wait),
                });
            }
            (None, state) => {
                tracing::info!(recording = %recording_id, state = ?state.map(|s| s.0), "transcription request has nothing to do");
                return Ok(());
            }
        }
    };
    if ctx.transcribers.is_empty() {
        record(ctx, recording_id, Step::NotConfigured).await?;
        tracing::warn!(recording = %recording_id, "transcription requested but no provider is configured");
        return Ok(());
    }
    let audio = match BlobKey::parse(&claimed.object_key) {
        Ok(key) => ctx.blob.get(&key).await,
        Err(error) => Err(error),
    };
    let audio = match audio {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            let failures = vec![json!({"provider": "storage", "reason": "the recording's audio is missing"})];
            record(ctx, recording_id, Step::Fail(&failures)).await?;
            return Ok(());
        }
        Err(error) => {
            record(ctx, recording_id, Step::Release(&claimed.failures)).await?;
            return Err(TaskError::retry(format!("object store: {error}")));
        }
    };
    // Stop in time to write down what happened, well before the function's own limit kills it
    // mid-way (which would leave the recording `processing` until its claim lapses).
    let deadline = ctx.settings.transcription.deadline;
    let failures = claimed.failures.clone();
    match tokio::time::timeout(deadline, run_providers(ctx, recording_id, claimed, &audio, attempt)).await {
        Ok(done) => done,
        Err(_) => {
            let reason = format!("transcription did not finish within {} s", deadline.as_secs());
            tracing::warn!(recording = %recording_id, %reason, "transcription stopped");
            if attempt.is_last() {
                let mut failures = failures;
                failures.push(json!({"provider": "all", "reason": reason, "at": ctx.clock.now()}));
                record(ctx, recording_id, Step::Fail(&failures)).await?;
                Ok(())
            } else {
                record(ctx, recording_id, Step::Release(&failures)).await?;
                Err(TaskError::retry(reason))
            }
        }
    }
}

async fn run_providers(
    ctx: &AppContext,
    recording_id: Uuid,
    mut claimed: Claimed,
    audio: &[u8],
    attempt: Attempt,
) -> Result<(), TaskError> {
    let recording = Recording {
        mp3: audio,
        duration_ms: claimed.duration_ms,
    };
    for provider in ctx.transcribers.iter() {
        let name = provider.provider();
        if claimed.failures.iter().any(|f| f["provider"] == name) {
            continue;
        }
        let started = Instant::now();
        match provider.transcribe(&recording).await {
            Ok(transcript) => {
                let elapsed_ms = started.elapsed().as_millis() as i64;
                let at = ctx.clock.now();
                let done = NewTranscript {
                    recording_id,
                    claimed: &claimed,
                    provider: name,
                    transcript: &transcript,
                    elapsed_ms,
                    at,
                };
                // The facts first: once the recording says `completed`, nothing comes back for them.
                super::facts::summarise(ctx, recording_id, &claimed, &transcript.text).await?;
                record(ctx, recording_id, Step::Complete(&done)).await?;
                // Never the words themselves: only how much there was.
                tracing::info!(recording = %recording_id, provider = name, elapsed_ms,
                    characters = transcript.text.len(), segments = transcript.segments.len(), "recording transcribed");
                return Ok(());
            }
            Err(TranscribeError::Retryable { reason, after }) if !attempt.is_last() => {
                tracing::warn!(recording = %recording_id, provider = name, %reason, "transcription will be retried");
                record(ctx, recording_id, Step::Release(&claimed.failures)).await?;
                return Err(TaskError::Retryable { reason, after });
            }
            Err(error) => {
                let reason = match &error {
                    TranscribeError::Retryable { reason, .. } => {
                        format!("still failing after {} attempts: {reason}", attempt.number)
                    }
                    TranscribeError::Permanent(reason) => reason.clone(),
                };
                tracing::warn!(recording = %recording_id, provider = name, %reason, "transcription provider failed; trying the next");
                claimed
                    .failures
                    .push(json!({"provider": name, "reason": reason, "at": ctx.clock.now()}));
            }
        }
    }
    tracing::error!(recording = %recording_id, "every transcription provider failed");
    record(ctx, recording_id, Step::Fail(&claimed.failures)).await?;
    Ok(())
}

/// What a transcription attempt writes back.
enum Step<'a> {
    NotConfigured,
    Release(&'a [serde_json::Value]),
    Fail(&'a [serde_json::Value]),
    Complete(&'a NewTranscript<'a>),
}

/// Writes one step in its own service-role transaction.
async fn record(ctx: &AppContext, recording_id: Uuid, step: Step<'_>) -> Result<(), DbError> {
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &Caller::service()).await?;
    match step {
        Step::NotConfigured => transcripts::set_not_configured(&*tx, recording_id).await?,
        Step::Release(failures) => transcripts::release(&*tx, recording_id, failures).await?,
        Step::Fail(failures) => transcripts::fail(&*tx, recording_id, failures).await?,
        Step::Complete(done) => {
            transcripts::complete(&*tx, done).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
