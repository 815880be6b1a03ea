//! Scheduled jobs: library functions the Lambda binaries and `pedro serve`'s scheduler only call.

pub mod check_sms;

use serde_json::Value;

use crate::app::AppContext;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    CheckSms,
    SyncCalls,
    RecordingRetention,
}

impl Job {
    pub const ALL: &'static [Job] = &[Job::CheckSms, Job::SyncCalls, Job::RecordingRetention];

    pub fn name(&self) -> &'static str {
        match self {
            Self::CheckSms => check_sms::JOB,
            Self::SyncCalls => crate::calls::sync::JOB,
            Self::RecordingRetention => "recording-retention",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|j| j.name() == name)
    }

    /// How often the job runs (EventBridge in production, a timer in `pedro serve`).
    pub fn every(&self) -> std::time::Duration {
        match self {
            Self::CheckSms => std::time::Duration::from_secs(15 * 60),
            Self::SyncCalls => std::time::Duration::from_secs(60 * 60),
            Self::RecordingRetention => std::time::Duration::from_secs(24 * 60 * 60),
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
            Self::RecordingRetention => Ok(serde_json::to_value(crate::calls::removal::retention_pass(ctx).await?)?),
        }
    }
}
