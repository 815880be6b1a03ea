use async_trait::async_trait;

use super::{OutboundSms, Provider, Receipt, SendError, SmsGateway};
use crate::domain::segment::{offset_in, split_message, VOIPMS_PART_LIMIT};
use crate::voipms::VoipMsClient;

/// Sends through `sendSMS`, one call per part (VoIP.ms refuses more than 160 characters), in order.
/// Parts are started only within `budget`, so a slow VoIP.ms cannot push a request past its
/// function's time limit: what is left goes to the fallback.
pub struct VoipMsGateway {
    client: VoipMsClient,
    budget: std::time::Duration,
}

impl VoipMsGateway {
    pub fn new(client: VoipMsClient) -> Self {
        let budget = client.send_budget();
        Self { client, budget }
    }
}

#[async_trait]
impl SmsGateway for VoipMsGateway {
    async fn send(&self, sms: &OutboundSms<'_>) -> Result<Receipt, SendError> {
        let Some(dst) = sms.to.nanp_digits() else {
            return Err(SendError::single(
                Provider::VoipMs,
                "VoIP.ms texts only US and Canadian numbers",
            ));
        };
        let parts = split_message(sms.body, VOIPMS_PART_LIMIT);
        let mut ids = Vec::with_capacity(parts.len());
        let started = std::time::Instant::now();
        for (index, part) in parts.iter().enumerate() {
            if index > 0 && started.elapsed() >= self.budget {
                let mut failure = SendError::single(
                    Provider::VoipMs,
                    format!(
                        "VoIP.ms too slow: {index} of {} parts sent within {:?}",
                        parts.len(),
                        self.budget
                    ),
                );
                failure.unsent_text = Some(sms.body[offset_in(sms.body, part)..].to_string());
                failure.sent_ids = ids;
                return Err(failure);
            }
            match self.client.send_sms(sms.from.voipms_digits(), dst, part).await {
                Ok(id) => ids.extend(id),
                Err(error) => {
                    let mut failure = SendError::single(Provider::VoipMs, error.to_string());
                    if index > 0 {
                        failure.unsent_text = Some(sms.body[offset_in(sms.body, part)..].to_string());
                        failure.sent_ids = ids;
                    }
                    return Err(failure);
                }
            }
        }
        Ok(Receipt {
            provider: Provider::VoipMs,
            segments: parts.len() as u32,
            message_ids: ids,
        })
    }
}
