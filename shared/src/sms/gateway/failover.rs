use async_trait::async_trait;

use super::{OutboundSms, Receipt, SendError, SmsGateway};

/// Tries the primary carrier, then the fallback. Parts the primary already sent are not sent again:
/// the fallback gets only the rest.
pub struct Failover {
    primary: Box<dyn SmsGateway>,
    fallback: Option<Box<dyn SmsGateway>>,
}

impl Failover {
    pub fn new(primary: Box<dyn SmsGateway>, fallback: Option<Box<dyn SmsGateway>>) -> Self {
        Self { primary, fallback }
    }
}

#[async_trait]
impl SmsGateway for Failover {
    async fn send(&self, sms: &OutboundSms<'_>) -> Result<Receipt, SendError> {
        let first = match self.primary.send(sms).await {
            Ok(receipt) => return Ok(receipt),
            Err(error) => error,
        };
        let Some(fallback) = &self.fallback else {
            return Err(first);
        };
        tracing::warn!(reason = %first.summary(), "primary SMS carrier failed; trying the fallback");
        let rest = OutboundSms {
            body: first.unsent_text.as_deref().unwrap_or(sms.body),
            ..*sms
        };
        match fallback.send(&rest).await {
            Ok(mut receipt) => {
                receipt.segments += first.sent_ids.len() as u32;
                let mut ids = first.sent_ids;
                ids.append(&mut receipt.message_ids);
                receipt.message_ids = ids;
                Ok(receipt)
            }
            Err(mut second) => {
                let mut failures = first.failures;
                failures.append(&mut second.failures);
                let mut sent_ids = first.sent_ids;
                sent_ids.append(&mut second.sent_ids);
                Err(SendError {
                    failures,
                    sent_ids,
                    unsent_text: second.unsent_text.or(first.unsent_text),
                })
            }
        }
    }
}
