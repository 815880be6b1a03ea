//! VoIP.ms REST API client (contract: docs/providers.md).
//!
//! One RPC endpoint; `method` selects the call; credentials travel as parameters. Errors arrive as
//! HTTP 200 with a `status` other than `success`; empty lists as method-specific `no_*` statuses;
//! values as strings (sometimes numbers). Numbers go over the wire in 10-digit NANP form.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use crate::config::VoipMsSettings;

mod calls;

pub use calls::{day_chunks, decode_base64file, MAX_DAYS_PER_REQUEST, NOT_BASE64};

#[derive(Debug, Clone, thiserror::Error)]
pub enum VoipMsError {
    #[error("VoIP.ms answered status {0:?}")]
    Status(String),
    #[error("VoIP.ms answered HTTP {0}")]
    Http(u16),
    #[error("VoIP.ms did not answer within {0:?}")]
    Timeout(Duration),
    /// No connection was made: the request never reached VoIP.ms.
    #[error("VoIP.ms could not be reached: {0}")]
    Unreachable(String),
    /// The connection broke after the request may have gone out.
    #[error("VoIP.ms connection failed: {0}")]
    Transport(String),
    #[error("VoIP.ms answered something unreadable: {0}")]
    Malformed(String),
}

impl VoipMsError {
    /// True when VoIP.ms may have acted on the request although no answer said so (a time-out, a
    /// connection that broke after it was made, an unreadable answer, a server error that a gateway
    /// in front may have answered): a text may have gone out and must be looked up ([`VoipMsClient::sent_sms`])
    /// before it is sent again anywhere.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            // An unreadable answer came after VoIP.ms ran the request.
            Self::Timeout(_) | Self::Transport(_) | Self::Malformed(_) => true,
            Self::Http(code) => *code >= 500,
            Self::Status(_) | Self::Unreachable(_) => false,
        }
    }
}

#[derive(Clone)]
pub struct VoipMsClient {
    http: reqwest::Client,
    settings: VoipMsSettings,
}

/// The most rows one `getSMS` call asks for.
pub const GET_SMS_LIMIT: usize = 10_000;

/// One row of `getSMS` or `getMMS`.
#[derive(Debug, Clone, PartialEq)]
pub struct SmsRecord {
    pub id: String,
    /// As shown for `timezone=0`, taken as UTC (VoIP.ms may really mean Eastern time: see
    /// [`SENT_DATE_SLACK`]).
    pub date: NaiveDateTime,
    pub inbound: bool,
    pub did: String,
    pub contact: String,
    pub message: String,
    /// MMS media URLs (`getMMS` only; empty for texts).
    pub media: Vec<String>,
}

/// How far before the time it was sent a row of `getSMS` may be dated: the public clients say
/// VoIP.ms works in Eastern time whatever `timezone` asks for (UTC-4 or UTC-5), plus an hour of
/// clock drift.
pub const SENT_DATE_SLACK: chrono::Duration = chrono::Duration::hours(6);

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
        self.call_within(method, params, empty_status, self.settings.timeout)
            .await
    }

    /// [`Self::call`] with its own time limit (a recording is megabytes of base64).
    async fn call_within(
        &self,
        method: &str,
        params: &[(&str, String)],
        empty_status: Option<&str>,
        timeout: Duration,
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
            .timeout(timeout)
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

    fn transport(&self, error: reqwest::Error) -> VoipMsError {
        if error.is_connect() {
            // Refused, no route, DNS, TLS or a connect time-out: nothing was sent.
            VoipMsError::Unreachable(error.without_url().to_string())
        } else if error.is_timeout() {
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

    /// `getMMS` with `all_messages=1`: the texts AND the MMS received on `did` dated `from..=to`
    /// (days as VoIP.ms counts them: widen the window, see [`widened_days`]), in one list. MMS rows
    /// carry their media URLs. VoIP.ms numbers SMS and MMS apart, so one id may name two messages.
    pub async fn received_messages(
        &self,
        did: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<SmsRecord>, VoipMsError> {
        let params = [
            ("all_messages", "1".to_string()),
            ("from", day(from)),
            ("to", day(to)),
            ("type", "1".to_string()),
            ("did", did.to_string()),
            ("timezone", "0".to_string()),
            ("limit", GET_SMS_LIMIT.to_string()),
        ];
        self.list("getMMS", &params).await
    }

    /// `getSMS` with `type=0`: the texts `did` sent to `contact` (10 digits) between `since` and
    /// `until`, to tell whether a text whose `sendSMS` went unanswered went out. The days asked
    /// for are widened by one on each side (VoIP.ms counts days in Eastern time whatever
    /// `timezone` says); [`find_sent`] picks the row out. Newest first.
    pub async fn sent_sms(
        &self,
        did: &str,
        contact: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<SmsRecord>, VoipMsError> {
        let (from, to) = widened_days(since.date_naive(), until.date_naive());
        let params = [
            ("from", day(from)),
            ("to", day(to)),
            ("type", "0".to_string()),
            ("did", did.to_string()),
            ("contact", contact.to_string()),
            ("timezone", "0".to_string()),
            ("limit", GET_SMS_LIMIT.to_string()),
        ];
        let rows = self.list("getSMS", &params).await?;
        // Filters the server should have applied, checked again: a wrong row here would stop a
        // text from being sent.
        Ok(rows
            .into_iter()
            .filter(|r| !r.inbound && r.did == did && r.contact == contact)
            .collect())
    }

    async fn list(&self, method: &str, params: &[(&str, String)]) -> Result<Vec<SmsRecord>, VoipMsError> {
        let Some(json) = self.call(method, params, Some("no_sms")).await? else {
            return Ok(Vec::new());
        };
        let rows = json.get("sms").and_then(Value::as_array).cloned().unwrap_or_default();
        rows.iter().map(|row| record(method, row)).collect()
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

fn day(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// `from..=to` (UTC days) widened by a day on each side, for `getSMS`/`getMMS` windows: VoIP.ms
/// reads `from`/`to` as Eastern days, so a text sent late in a UTC day can fall on the next or
/// the previous one. Dedupe what comes back by id.
pub fn widened_days(from: NaiveDate, to: NaiveDate) -> (NaiveDate, NaiveDate) {
    (from - chrono::Days::new(1), to + chrono::Days::new(1))
}

/// Among rows of [`VoipMsClient::sent_sms`], the one that is `message` sent at or after `not_before`
/// and not one of `known_ids` (parts already accounted for, e.g. an identical earlier part):
/// the proof that a part whose `sendSMS` went unanswered did go out. Dates are read with
/// [`SENT_DATE_SLACK`]; the oldest match wins, as parts go out in order.
pub fn find_sent<'a>(
    rows: &'a [SmsRecord],
    message: &str,
    not_before: DateTime<Utc>,
    known_ids: &[&str],
) -> Option<&'a SmsRecord> {
    let earliest = (not_before - SENT_DATE_SLACK).naive_utc();
    rows.iter()
        .filter(|r| !r.inbound && r.date >= earliest && !known_ids.contains(&r.id.as_str()))
        .filter(|r| r.message.trim() == message.trim())
        .min_by_key(|r| r.date)
}

/// One row of `getSMS`/`getMMS`.
fn record(method: &str, row: &Value) -> Result<SmsRecord, VoipMsError> {
    let date = text(row.get("date"));
    let mut media: Vec<String> = Vec::new();
    let mut add = |url: String| {
        if !url.is_empty() && !media.contains(&url) {
            media.push(url);
        }
    };
    for key in ["col_media1", "col_media2", "col_media3"] {
        add(text(row.get(key)));
    }
    // `media` is a list of URLs, or an object such as {"1": "https://..."} (getMediaMMS's default).
    match row.get("media") {
        Some(Value::Array(items)) => items.iter().for_each(|m| add(text(Some(m)))),
        Some(Value::Object(items)) => items.values().for_each(|m| add(text(Some(m)))),
        _ => {}
    }
    Ok(SmsRecord {
        id: text(row.get("id")),
        date: NaiveDateTime::parse_from_str(&date, "%Y-%m-%d %H:%M:%S")
            .map_err(|_| VoipMsError::Malformed(format!("{method} date {date:?}")))?,
        inbound: text(row.get("type")) == "1",
        did: text(row.get("did")),
        contact: text(row.get("contact")),
        message: text(row.get("message")),
        media,
    })
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
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    #[test]
    fn values_may_be_strings_or_numbers() {
        assert_eq!(text(Some(&json!("23434"))), "23434");
        assert_eq!(text(Some(&json!(23434))), "23434");
        assert_eq!(text(None), "");
    }

    #[test]
    fn mms_rows_carry_media_from_columns_and_list_once_each() {
        let row = json!({"id": 9001, "date": "2026-11-25 23:30:00", "type": "1", "did": "5145550100",
                         "contact": "4385550199", "message": "x-ray",
                         "col_media1": "https://voip.ms/media.php?map=a", "col_media2": "", "col_media3": "",
                         "media": ["https://voip.ms/media.php?map=a", "https://voip.ms/media.php?map=b"]});
        let mms = record("getMMS", &row).unwrap();
        assert_eq!(mms.id, "9001");
        assert!(mms.inbound);
        assert_eq!(
            mms.media,
            ["https://voip.ms/media.php?map=a", "https://voip.ms/media.php?map=b"]
        );
        // getMediaMMS's default shape: an object keyed by position.
        let row = json!({"id": "1", "date": "2026-11-25 23:30:00", "type": "0", "media": {"1": "https://m/1"}});
        assert_eq!(record("getMMS", &row).unwrap().media, ["https://m/1"]);
        let row = json!({"id": "1", "date": "yesterday"});
        assert!(matches!(record("getSMS", &row), Err(VoipMsError::Malformed(_))));
    }

    #[test]
    fn windows_are_widened_by_a_day_each_side() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
        assert_eq!(
            widened_days(day(1), day(1)),
            (NaiveDate::from_ymd_opt(2026, 2, 28).unwrap(), day(2))
        );
    }

    #[test]
    fn find_sent_allows_eastern_dates_but_not_older_texts() {
        let sent_at = Utc.with_ymd_and_hms(2026, 11, 25, 23, 30, 0).unwrap();
        let row = |id: &str, hours_before: i64, message: &str| SmsRecord {
            id: id.into(),
            date: (sent_at - chrono::Duration::hours(hours_before)).naive_utc(),
            inbound: false,
            did: "5145550100".into(),
            contact: "4385550199".into(),
            message: message.into(),
            media: vec![],
        };
        // Shown in Eastern time (UTC-5) though UTC was asked for: still this text.
        let rows = [row("2", 5, "Part one ")];
        assert_eq!(
            find_sent(&rows, "Part one", sent_at, &[]).map(|r| r.id.as_str()),
            Some("2")
        );
        // The same words a day before: another text.
        let rows = [row("1", 24, "Part one")];
        assert!(find_sent(&rows, "Part one", sent_at, &[]).is_none());
        // Received texts never count.
        let mut inbound = row("3", 0, "Part one");
        inbound.inbound = true;
        assert!(find_sent(&[inbound], "Part one", sent_at, &[]).is_none());
    }

    #[test]
    fn only_time_outs_and_broken_connections_leave_the_outcome_unknown() {
        assert!(VoipMsError::Timeout(std::time::Duration::from_secs(1)).outcome_unknown());
        assert!(VoipMsError::Transport("reset".into()).outcome_unknown());
        assert!(!VoipMsError::Unreachable("refused".into()).outcome_unknown());
        assert!(!VoipMsError::Status("sms_failed".into()).outcome_unknown());
        assert!(VoipMsError::Http(504).outcome_unknown());
        assert!(!VoipMsError::Http(403).outcome_unknown());
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
