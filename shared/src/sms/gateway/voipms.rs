use async_trait::async_trait;

use super::{OutboundSms, Provider, Receipt, SendError, SmsGateway};
use crate::domain::segment::{offset_in, split_message, VOIPMS_PART_LIMIT};
use crate::voipms::VoipMsClient;

/// Sends through `sendSMS`, one call per part (VoIP.ms refuses more than 160 characters), in order.
pub struct VoipMsGateway {
    client: VoipMsClient,
}

impl VoipMsGateway {
    pub fn new(client: VoipMsClient) -> Self {
        Self { client }
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
        for (index, part) in parts.iter().enumerate() {
            match self
                .client
                .send_sms(sms.from.voipms_digits(), dst, part)
                .await
            {
                Ok(id) => ids.extend(id),
                Err(error) => {
                    let mut failure = SendError::single(Provider::VoipMs, error.to_string());
                    if index > 0 {
                        failure.unsent_text =
                            Some(sms.body[offset_in(sms.body, part)..].to_string());
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
