//! VoIP.ms REST API client (contract: docs/providers.md).
//!
//! One RPC endpoint; `method` selects the call; credentials travel as parameters. Errors arrive as
//! HTTP 200 with a `status` other than `success`; empty lists as method-specific `no_*` statuses;
//! values as strings (sometimes numbers). Numbers go over the wire in 10-digit NANP form.

use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::{Map, Value};

use crate::config::VoipMsSettings;

#[derive(Debug, Clone, thiserror::Error)]
pub enum VoipMsError {
    #[error("VoIP.ms answered status {0:?}")]
    Status(String),
    #[error("VoIP.ms answered HTTP {0}")]
    Http(u16),
    #[error("VoIP.ms did not answer within {0:?}")]
    Timeout(Duration),
    #[error("VoIP.ms could not be reached: {0}")]
    Transport(String),
    #[error("VoIP.ms answered something unreadable: {0}")]
    Malformed(String),
}

#[derive(Clone)]
pub struct VoipMsClient {
    http: reqwest::Client,
    settings: VoipMsSettings,
}

/// The most rows one `getSMS` call asks for.
pub const GET_SMS_LIMIT: usize = 10_000;

/// One row of `getSMS`.
#[derive(Debug, Clone, PartialEq)]
pub struct SmsRecord {
    pub id: String,
    /// As shown for `timezone=0`, taken as UTC.
    pub date: NaiveDateTime,
    pub inbound: bool,
    pub did: String,
    pub contact: String,
    pub message: String,
}

/// A value VoIP.ms may send as a string or a number.
fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => (if *b { "1" } else { "0" }).to_string(),
        _ => String::new(),
    }
}

impl VoipMsClient {
    pub fn new(settings: VoipMsSettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .unwrap_or_default();
        Self { http, settings }
    }

    /// Calls `method`; returns the whole JSON object on `success`, `None` for an empty-list status.
    async fn call(
        &self,
        method: &str,
        params: &[(&str, String)],
        empty_status: Option<&str>,
    ) -> Result<Option<Map<String, Value>>, VoipMsError> {
        let mut query: Vec<(&str, &str)> = vec![
            ("api_username", &self.settings.username),
            ("api_password", self.settings.password.expose()),
            ("method", method),
        ];
        query.extend(params.iter().map(|(k, v)| (*k, v.as_str())));
        let response = self
            .http
            .get(&self.settings.api_url)
            .query(&query)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(VoipMsError::Http(status.as_u16()));
        }
        let body = response.text().await.map_err(|e| self.transport(e))?;
        if body.trim().is_empty() {
            // Some methods answer success with an empty body.
            return Ok(Some(Map::new()));
        }
        let json: Map<String, Value> =
            serde_json::from_str(&body).map_err(|e| VoipMsError::Malformed(e.to_string()))?;
        match text(json.get("status")).as_str() {
            "success" => Ok(Some(json)),
            "" => Err(VoipMsError::Malformed("no status".into())),
            s if Some(s) == empty_status => Ok(None),
            other => Err(VoipMsError::Status(other.to_string())),
        }
    }

    /// How long all the parts of one text may take (`VOIPMS_SEND_BUDGET_MS`).
    pub fn send_budget(&self) -> Duration {
        self.settings.send_budget
    }

    fn transport(&self, error: reqwest::Error) -> VoipMsError {
        if error.is_timeout() {
            VoipMsError::Timeout(self.settings.timeout)
        } else {
            // Never echo the URL: it carries the API password.
            VoipMsError::Transport(error.without_url().to_string())
        }
    }

    /// `sendSMS`: one part of at most 160 characters. Returns the message id, when VoIP.ms gives
    /// one: a success without an id (or with an empty body) is still a success, so it must not be
    /// sent again through the fallback.
    pub async fn send_sms(&self, did: &str, dst: &str, message: &str) -> Result<Option<String>, VoipMsError> {
        let json = self
            .call(
                "sendSMS",
                &[("did", did.into()), ("dst", dst.into()), ("message", message.into())],
                None,
            )
            .await?
            .unwrap_or_default();
        let id = text(json.get("sms"));
        Ok(Some(id).filter(|id| !id.is_empty()))
    }

    /// `getSMS` for received messages of `did` dated `from..=to` (UTC days).
    pub async fn received_sms(&self, did: &str, from: NaiveDate, to: NaiveDate) -> Result<Vec<SmsRecord>, VoipMsError> {
        let params = [
            ("from", from.format("%Y-%m-%d").to_string()),
            ("to", to.format("%Y-%m-%d").to_string()),
            ("type", "1".to_string()),
            ("did", did.to_string()),
            ("timezone", "0".to_string()),
            ("limit", GET_SMS_LIMIT.to_string()),
        ];
        let Some(json) = self.call("getSMS", &params, Some("no_sms")).await? else {
            return Ok(Vec::new());
        };
        let rows = json.get("sms").and_then(Value::as_array).cloned().unwrap_or_default();
        rows.iter()
            .map(|row| {
                let date = text(row.get("date"));
                Ok(SmsRecord {
                    id: text(row.get("id")),
                    date: NaiveDateTime::parse_from_str(&date, "%Y-%m-%d %H:%M:%S")
                        .map_err(|_| VoipMsError::Malformed(format!("getSMS date {date:?}")))?,
                    inbound: text(row.get("type")) == "1",
                    did: text(row.get("did")),
                    contact: text(row.get("contact")),
                    message: text(row.get("message")),
                })
            })
            .collect()
    }

    /// `getDIDsInfo` for one DID: its current settings, as VoIP.ms names them.
    pub async fn did_info(&self, did: &str) -> Result<Option<Map<String, Value>>, VoipMsError> {
        let Some(json) = self.call("getDIDsInfo", &[("did", did.into())], Some("no_did")).await? else {
            return Ok(None);
        };
        let dids = json.get("dids").and_then(Value::as_array).cloned().unwrap_or_default();
        Ok(dids
            .into_iter()
            .filter_map(|d| d.as_object().cloned())
            .find(|d| text(d.get("did")) == did))
    }

    /// `setSMS` with the given parameters (which must include every setting to keep).
    pub async fn set_sms(&self, params: &[(&str, String)]) -> Result<(), VoipMsError> {
        self.call("setSMS", params, None).await.map(|_| ())
    }
}

/// Builds the full `setSMS` parameter list that turns the URL callback on for `did` while keeping
/// every other SMS setting as `getDIDsInfo` reports it: `setSMS` resets whatever it is not given.
pub fn set_sms_preserving(did: &str, info: &Map<String, Value>, callback_url: &str) -> Vec<(&'static str, String)> {
    // VoIP.ms writes booleans as "1"/"0" or "yes"/"no".
    let flag = |key: &str| {
        let on = matches!(text(info.get(key)).to_ascii_lowercase().as_str(), "1" | "yes" | "true");
        if on { "1" } else { "0" }.to_string()
    };
    let keep = |key: &str| text(info.get(key));
    let mut params = vec![
        ("did", did.to_string()),
        ("enable", "1".to_string()),
        ("email_enabled", flag("sms_email_enabled")),
        ("email_address", keep("sms_email")),
        ("sms_forward_enable", flag("sms_forward_enabled")),
        ("sms_forward", keep("sms_forward")),
        ("url_callback_enable", "1".to_string()),
        ("url_callback", callback_url.to_string()),
        ("url_callback_retry", "1".to_string()),
        ("webhook_enable", flag("webhook_enabled")),
        ("webhook", keep("webhook")),
        ("smpp_enabled", flag("smpp_enabled")),
        ("smpp_url", keep("smpp_url")),
        ("smpp_user", keep("smpp_user")),
        ("smpp_pass", keep("smpp_pass")),
        ("sms_sipaccount_enabled", flag("sms_sipaccount_enabled")),
        ("sms_sipaccount", keep("sms_sipaccount")),
    ];
    if !keep("dialmode").is_empty() {
        params.push(("dialmode", keep("dialmode")));
    }
    params
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_may_be_strings_or_numbers() {
        assert_eq!(text(Some(&json!("23434"))), "23434");
        assert_eq!(text(Some(&json!(23434))), "23434");
        assert_eq!(text(None), "");
    }

    #[test]
    fn set_sms_keeps_email_forwarding_and_adds_the_callback() {
        let info = json!({"did": "5145550123", "sms_email_enabled": "1", "sms_email": "desk@example.com",
                          "sms_forward_enabled": "0", "dialmode": "1"});
        let params = set_sms_preserving("5145550123", info.as_object().unwrap(), "https://x/hook?to={TO}");
        let get = |k: &str| params.iter().find(|(key, _)| *key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("email_enabled"), Some("1"));
        assert_eq!(get("email_address"), Some("desk@example.com"));
        assert_eq!(get("sms_forward_enable"), Some("0"));
        assert_eq!(get("url_callback_enable"), Some("1"));
        assert_eq!(get("url_callback_retry"), Some("1"));
        assert_eq!(get("dialmode"), Some("1"));
    }
}
