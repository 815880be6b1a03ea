use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{CarrierError, OutboundSms, Provider, SentRecord, SmsGateway};
use crate::config::TwilioSettings;
use crate::domain::phone::{Did, PhoneNumber};

/// Twilio Programmable Messaging (docs/providers.md): one `Messages.json` create; Twilio splits long
/// bodies itself. Sends from the deployment's Twilio number, not the DID.
pub struct TwilioGateway {
    http: reqwest::Client,
    settings: TwilioSettings,
}

#[derive(Deserialize)]
struct Created {
    sid: String,
}

#[derive(Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

impl TwilioGateway {
    pub fn new(settings: TwilioSettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .unwrap_or_default();
        Self { http, settings }
    }
}

#[async_trait]
impl SmsGateway for TwilioGateway {
    fn provider(&self) -> Provider {
        Provider::Twilio
    }

    fn part_limit(&self) -> Option<usize> {
        None
    }

    async fn send(&self, sms: &OutboundSms<'_>) -> Result<Option<String>, CarrierError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.settings.api_url.trim_end_matches('/'),
            self.settings.account_sid
        );
        let form = [
            ("To", sms.to.as_e164()),
            ("From", self.settings.from.as_e164()),
            ("Body", sms.body),
        ];
        let response = self
            .http
            .post(&url)
            .basic_auth(&self.settings.account_sid, Some(self.settings.auth_token.expose()))
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    CarrierError::not_sent(format!("Twilio could not be reached: {}", e.without_url()))
                } else if e.is_timeout() {
                    CarrierError::Unknown {
                        reason: "Twilio did not answer in time".into(),
                    }
                } else {
                    CarrierError::Unknown {
                        reason: e.without_url().to_string(),
                    }
                }
            })?;
        let status = response.status();
        let body = response.text().await.map_err(|e| CarrierError::Unknown {
            reason: e.without_url().to_string(),
        })?;
        if !status.is_success() {
            let detail = serde_json::from_str::<TwilioError>(&body).ok();
            let code = detail.as_ref().and_then(|d| d.code);
            let shown = code.map(|c| format!(" (code {c})")).unwrap_or_default();
            let message = detail.and_then(|d| d.message).unwrap_or_default();
            let reason = format!("Twilio answered HTTP {}{shown}: {message}", status.as_u16());
            // A 5xx may come after Twilio queued the message; a 4xx is a refusal.
            return Err(if status.is_server_error() {
                CarrierError::Unknown { reason }
            } else {
                CarrierError::NotSent {
                    reason,
                    // 21610: the recipient replied STOP to our Twilio number.
                    recipient_opted_out: code == Some(21610),
                }
            });
        }
        let created: Created = serde_json::from_str(&body).map_err(|e| CarrierError::Unknown {
            reason: format!("unreadable Twilio answer: {e}"),
        })?;
        Ok(Some(created.sid))
    }

    async fn sent_since(&self, _: &Did, _: &PhoneNumber, _: DateTime<Utc>) -> Result<Vec<SentRecord>, String> {
        // Not looked up: an unknown Twilio outcome is flagged for a person and never resent.
        Err("Twilio sends are not looked up".into())
    }
}
