use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::{CarrierError, OutboundSms, Provider, SentRecord, SmsGateway};
use crate::domain::phone::{Did, PhoneNumber};
use crate::domain::segment::VOIPMS_PART_LIMIT;
use crate::voipms::{VoipMsClient, VoipMsError};

/// VoIP.ms `sendSMS` (one call per part of at most 160 characters) and `getSMS type=0` to find out
/// whether a part whose answer was lost went out.
pub struct VoipMsGateway {
    client: VoipMsClient,
}

impl VoipMsGateway {
    pub fn new(client: VoipMsClient) -> Self {
        Self { client }
    }
}

/// Whether VoIP.ms may have taken the text despite the error.
fn classify(error: VoipMsError) -> CarrierError {
    match error {
        // An answer with an error status, a refusal, or no connection at all: nothing was sent.
        VoipMsError::Status(_) | VoipMsError::Unreachable(_) => CarrierError::not_sent(error.to_string()),
        VoipMsError::Http(code) if code < 500 => CarrierError::not_sent(error.to_string()),
        // The request left and the answer was lost or unreadable: it may have been sent.
        VoipMsError::Http(_) | VoipMsError::Timeout(_) | VoipMsError::Transport(_) | VoipMsError::Malformed(_) => {
            CarrierError::Unknown {
                reason: error.to_string(),
            }
        }
    }
}

#[async_trait]
impl SmsGateway for VoipMsGateway {
    fn provider(&self) -> Provider {
        Provider::VoipMs
    }

    fn part_limit(&self) -> Option<usize> {
        Some(VOIPMS_PART_LIMIT)
    }

    async fn send(&self, sms: &OutboundSms<'_>) -> Result<Option<String>, CarrierError> {
        let Some(dst) = sms.to.nanp_digits() else {
            return Err(CarrierError::not_sent("VoIP.ms texts only US and Canadian numbers"));
        };
        self.client
            .send_sms(sms.from.voipms_digits(), dst, sms.body)
            .await
            .map_err(classify)
    }

    async fn sent_since(&self, from: &Did, to: &PhoneNumber, since: DateTime<Utc>) -> Result<Vec<SentRecord>, String> {
        let Some(contact) = to.nanp_digits() else {
            return Ok(Vec::new());
        };
        // The client widens the days asked for (VoIP.ms may count them in its own zone); the
        // caller matches bodies and skips ids it already knows.
        let now = Utc::now().max(since);
        let records = self
            .client
            .sent_sms(from.voipms_digits(), contact, since, now)
            .await
            .map_err(|e| e.to_string())?;
        Ok(records
            .into_iter()
            .filter(|r| !r.inbound && r.date.and_utc() >= since - Duration::days(1))
            .map(|r| SentRecord {
                id: Some(r.id).filter(|id| !id.is_empty()),
                body: r.message,
            })
            .collect())
    }
}
