//! The SMS gateway port: hand one text (or one part of a long text) to a carrier, and ask the
//! carrier whether a text went out when its answer was lost. Adapters: VoIP.ms, Twilio and the
//! sandbox outbox. Failover between them, part by part, lives in [`crate::sms::delivery`], which
//! records every part's outcome so that nothing is sent twice.

mod sandbox;
mod twilio;
mod voipms;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

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

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "voipms" => Some(Self::VoipMs),
            "twilio" => Some(Self::Twilio),
            "sandbox" => Some(Self::Sandbox),
            _ => None,
        }
    }
}

pub struct OutboundSms<'a> {
    pub practice_id: Uuid,
    pub from: &'a Did,
    pub to: &'a PhoneNumber,
    pub body: &'a str,
}

/// What a carrier's failure means for the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CarrierError {
    /// The carrier did not take the text: it refused it, or the request never left. Another
    /// carrier may send it.
    NotSent {
        reason: String,
        /// The carrier says the recipient opted out with it (Twilio 21610): record it, never retry.
        recipient_opted_out: bool,
    },
    /// The request may have reached the carrier (a time-out after it was sent, a dropped
    /// connection, an unreadable answer): the text may or may not be on its way. Never resend
    /// before finding out.
    Unknown { reason: String },
}

impl CarrierError {
    pub fn not_sent(reason: impl Into<String>) -> Self {
        Self::NotSent {
            reason: reason.into(),
            recipient_opted_out: false,
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Self::NotSent { reason, .. } | Self::Unknown { reason } => reason,
        }
    }
}

/// A text that went out, as a carrier lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRecord {
    /// The carrier's id, when it gives one.
    pub id: Option<String>,
    pub body: String,
}

#[async_trait]
pub trait SmsGateway: Send + Sync {
    fn provider(&self) -> Provider;

    /// The longest part this carrier takes in one call; `None` when it takes a whole text and splits
    /// it itself.
    fn part_limit(&self) -> Option<usize>;

    /// Hands `sms` to the carrier; returns its message id when it gives one.
    async fn send(&self, sms: &OutboundSms<'_>) -> Result<Option<String>, CarrierError>;

    /// The texts sent from `from` to `to` since about `since`, as the carrier lists them; `Err` with
    /// the reason when the carrier cannot say (then the outcome stays unknown).
    async fn sent_since(&self, from: &Did, to: &PhoneNumber, since: DateTime<Utc>) -> Result<Vec<SentRecord>, String>;
}
