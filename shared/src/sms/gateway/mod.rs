//! The SMS gateway port: hand a text to a carrier. Adapters: VoIP.ms, Twilio, the sandbox outbox,
//! and a failover combinator that tries the next when one fails.

mod failover;
mod sandbox;
mod twilio;
mod voipms;

use async_trait::async_trait;
use serde::Serialize;
use uuid::Uuid;

pub use failover::Failover;
pub use sandbox::SandboxOutbox;
pub use twilio::TwilioGateway;
pub use voipms::VoipMsGateway;

use crate::domain::phone::{Did, PhoneNumber};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    #[serde(rename = "voipms")]
    VoipMs,
    Twilio,
    Sandbox,
}

impl Provider {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::VoipMs => "voipms",
            Self::Twilio => "twilio",
            Self::Sandbox => "sandbox",
        }
    }
}

pub struct OutboundSms<'a> {
    pub practice_id: Uuid,
    pub from: &'a Did,
    pub to: &'a PhoneNumber,
    pub body: &'a str,
}

/// A carrier accepted the text.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// The carrier that finished the send.
    pub provider: Provider,
    /// One id per part (VoIP.ms) or per message (Twilio), in order.
    pub message_ids: Vec<String>,
    pub segments: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProviderFailure {
    pub provider: Provider,
    pub reason: String,
    /// The carrier says the recipient opted out with it (Twilio 21610): record it, never retry.
    #[serde(skip)]
    pub recipient_opted_out: bool,
}

/// No carrier could send the (whole) text.
#[derive(Debug, Clone)]
pub struct SendError {
    pub failures: Vec<ProviderFailure>,
    /// Parts already accepted before the failure, so a fallback sends only the rest.
    pub sent_ids: Vec<String>,
    pub unsent_text: Option<String>,
}

impl SendError {
    pub fn single(provider: Provider, reason: impl Into<String>) -> Self {
        Self {
            failures: vec![ProviderFailure {
                provider,
                reason: reason.into(),
                recipient_opted_out: false,
            }],
            sent_ids: Vec::new(),
            unsent_text: None,
        }
    }

    /// "voipms: ...; twilio: ..." for logs: phone numbers in carriers' messages are masked.
    pub fn redacted_summary(&self) -> String {
        crate::domain::phone::redact_numbers(&self.summary())
    }

    /// "voipms: ...; twilio: ..." for people.
    pub fn summary(&self) -> String {
        self.failures
            .iter()
            .map(|f| format!("{}: {}", f.provider.as_str(), f.reason))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[async_trait]
pub trait SmsGateway: Send + Sync {
    async fn send(&self, sms: &OutboundSms<'_>) -> Result<Receipt, SendError>;
}
