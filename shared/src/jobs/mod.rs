//! Scheduled jobs: library functions the Lambda binaries and `pedro serve`'s scheduler only call.

pub mod check_sms;

use serde_json::Value;

use crate::app::AppContext;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    CheckSms,
}

impl Job {
    pub const ALL: &'static [Job] = &[Job::CheckSms];

    pub fn name(&self) -> &'static str {
        match self {
            Self::CheckSms => check_sms::JOB,
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|j| j.name() == name)
    }

    /// How often the job runs (EventBridge in production, a timer in `pedro serve`).
    pub fn every(&self) -> std::time::Duration {
        match self {
            Self::CheckSms => std::time::Duration::from_secs(15 * 60),
        }
    }

    /// Runs once; the report says what was done. An error means the job should be retried.
    pub async fn run(&self, ctx: &AppContext) -> anyhow::Result<Value> {
        match self {
            Self::CheckSms => {
                let report = check_sms::run(ctx).await?;
                let json = serde_json::to_value(&report)?;
                if !report.failed.is_empty() {
                    anyhow::bail!("check-sms failed for {} practice(s): {json}", report.failed.len());
                }
                Ok(json)
            }
        }
    }
}
