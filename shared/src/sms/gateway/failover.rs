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
        tracing::warn!(reason = %first.redacted_summary(), "primary SMS carrier failed; trying the fallback");
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use uuid::Uuid;

    use super::*;
    use crate::domain::phone::{Did, PhoneNumber};
    use crate::sms::gateway::{Provider, ProviderFailure};

    /// Accepts everything, or fails after `fail_after` parts with the rest unsent.
    struct Scripted {
        provider: Provider,
        fail_after: Option<usize>,
        bodies: Mutex<Vec<String>>,
    }

    impl Scripted {
        fn new(provider: Provider, fail_after: Option<usize>) -> Self {
            Self {
                provider,
                fail_after,
                bodies: Mutex::new(Vec::new()),
            }
        }
    }

    #[async_trait]
    impl SmsGateway for &'static Scripted {
        async fn send(&self, sms: &OutboundSms<'_>) -> Result<Receipt, SendError> {
            self.bodies.lock().unwrap().push(sms.body.to_string());
            let words: Vec<&str> = sms.body.split(' ').collect();
            match self.fail_after {
                None => Ok(Receipt {
                    provider: self.provider,
                    message_ids: vec![format!("{:?}-1", self.provider)],
                    segments: 1,
                }),
                Some(n) => Err(SendError {
                    failures: vec![ProviderFailure {
                        provider: self.provider,
                        reason: "down".into(),
                        recipient_opted_out: false,
                    }],
                    sent_ids: (0..n).map(|i| format!("part{i}")).collect(),
                    unsent_text: (n > 0).then(|| words[n..].join(" ")),
                }),
            }
        }
    }

    fn leak(s: Scripted) -> &'static Scripted {
        Box::leak(Box::new(s))
    }

    async fn send(gateway: &Failover, body: &str) -> Result<Receipt, SendError> {
        let from = Did::parse("5145550100").unwrap();
        let to = PhoneNumber::parse("4385550199").unwrap();
        gateway
            .send(&OutboundSms {
                practice_id: Uuid::nil(),
                from: &from,
                to: &to,
                body,
            })
            .await
    }

    #[tokio::test]
    async fn the_fallback_sends_only_what_the_primary_did_not() {
        let primary = leak(Scripted::new(Provider::VoipMs, Some(2)));
        let fallback = leak(Scripted::new(Provider::Twilio, None));
        let gateway = Failover::new(Box::new(primary), Some(Box::new(fallback)));
        let receipt = send(&gateway, "one two three four").await.unwrap();
        assert_eq!(fallback.bodies.lock().unwrap().as_slice(), ["three four"]);
        assert_eq!(receipt.provider, Provider::Twilio);
        assert_eq!(receipt.message_ids, ["part0", "part1", "Twilio-1"]);
        assert_eq!(receipt.segments, 3);
    }

    #[tokio::test]
    async fn a_whole_failure_sends_everything_through_the_fallback() {
        let primary = leak(Scripted::new(Provider::VoipMs, Some(0)));
        let fallback = leak(Scripted::new(Provider::Twilio, None));
        let gateway = Failover::new(Box::new(primary), Some(Box::new(fallback)));
        send(&gateway, "one two").await.unwrap();
        assert_eq!(fallback.bodies.lock().unwrap().as_slice(), ["one two"]);
    }

    #[tokio::test]
    async fn both_failing_report_both_reasons() {
        let primary = leak(Scripted::new(Provider::VoipMs, Some(0)));
        let fallback = leak(Scripted::new(Provider::Twilio, Some(0)));
        let gateway = Failover::new(Box::new(primary), Some(Box::new(fallback)));
        let error = send(&gateway, "one").await.unwrap_err();
        assert_eq!(error.summary(), "voipms: down; twilio: down");
        let lonely = Failover::new(Box::new(leak(Scripted::new(Provider::VoipMs, Some(0)))), None);
        assert_eq!(send(&lonely, "one").await.unwrap_err().failures.len(), 1);
    }
}
