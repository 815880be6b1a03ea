use async_trait::async_trait;
use serde::Deserialize;

use super::{OutboundSms, Provider, Receipt, SendError, SmsGateway};
use crate::config::TwilioSettings;

/// Twilio Programmable Messaging (contract: docs/providers.md): one `Messages.json` create;
/// Twilio splits long bodies itself. Sends from the practice's Twilio number, not the DID.
pub struct TwilioGateway {
    http: reqwest::Client,
    settings: TwilioSettings,
}

#[derive(Deserialize)]
struct Created {
    sid: String,
    num_segments: Option<String>,
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
    async fn send(&self, sms: &OutboundSms<'_>) -> Result<Receipt, SendError> {
        let fail = |reason: String| SendError::single(Provider::Twilio, reason);
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
                fail(if e.is_timeout() {
                    "Twilio did not answer in time".into()
                } else {
                    e.without_url().to_string()
                })
            })?;
        let status = response.status();
        let body = response.text().await.map_err(|e| fail(e.without_url().to_string()))?;
        if status.as_u16() != 201 && !status.is_success() {
            let detail = serde_json::from_str::<TwilioError>(&body).ok();
            let code = detail.as_ref().and_then(|d| d.code);
            let shown = code.map(|c| format!(" (code {c})")).unwrap_or_default();
            let message = detail.and_then(|d| d.message).unwrap_or_default();
            let mut error = fail(format!("Twilio answered HTTP {}{shown}: {message}", status.as_u16()));
            // 21610: the recipient replied STOP to our Twilio number.
            error.failures[0].recipient_opted_out = code == Some(21610);
            return Err(error);
        }
        let created: Created =
            serde_json::from_str(&body).map_err(|e| fail(format!("unreadable Twilio answer: {e}")))?;
        let segments = created
            .num_segments
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(1);
        Ok(Receipt {
            provider: Provider::Twilio,
            message_ids: vec![created.sid],
            segments,
        })
    }
}
