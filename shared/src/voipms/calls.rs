//! VoIP.ms call history (`getCDR`) and call recordings (`getCallRecordings`, `getCallRecording`).
//! Rows come back as VoIP.ms wrote them; `crate::calls::cdr` and `crate::calls::recording` read them
//! defensively, one row at a time, so one odd row never fails a sync.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::{day, text, VoipMsClient, VoipMsError};

/// VoIP.ms refuses date ranges over 92 days; like the public clients, ask for at most 90.
pub const MAX_DAYS_PER_REQUEST: u64 = 90;

/// How a `base64file` that is not base64 (the file itself is broken) is reported, apart from an
/// answer without the field (which may be a passing fault).
pub const NOT_BASE64: &str = "base64file is not base64";

/// Rows asked for per `getCallRecordings` page.
pub const RECORDINGS_PAGE: usize = 100;

/// How long one recording may take to arrive: a long call is tens of megabytes of base64, far more
/// than the short limit of the other methods.
pub const RECORDING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// A listing stops after this many pages: a server that ignores `start` must not loop forever.
const MAX_RECORDING_PAGES: usize = 1_000;

/// Inclusive day ranges of at most [`MAX_DAYS_PER_REQUEST`] days covering `from..=to`.
pub fn day_chunks(from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    let mut chunks = Vec::new();
    let mut start = from;
    while start <= to {
        let end = (start + chrono::Days::new(MAX_DAYS_PER_REQUEST - 1)).min(to);
        chunks.push((start, end));
        start = end + chrono::Days::new(1);
    }
    chunks
}

impl VoipMsClient {
    /// `getCDR` for the days `from..=to` as shown in UTC (`timezone=0`), every call status,
    /// split into requests of at most [`MAX_DAYS_PER_REQUEST`] days. Rows are returned raw.
    pub async fn call_history(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<Value>, VoipMsError> {
        let mut rows = Vec::new();
        for (start, end) in day_chunks(from, to) {
            let params = [
                ("date_from", day(start)),
                ("date_to", day(end)),
                ("timezone", "0".to_string()),
                ("answered", "1".to_string()),
                ("noanswer", "1".to_string()),
                ("busy", "1".to_string()),
                ("failed", "1".to_string()),
            ];
            if let Some(json) = self.call("getCDR", &params, Some("no_cdr")).await? {
                match json.get("cdr") {
                    Some(Value::Array(items)) => rows.extend(items.iter().cloned()),
                    Some(Value::Object(items)) => rows.extend(items.values().cloned()),
                    None => {}
                    Some(other) => return Err(VoipMsError::Malformed(format!("getCDR cdr is {}", kind(other)))),
                }
            }
        }
        Ok(rows)
    }

    /// `getCallRecordings` of `account` for `from..=to`, every page. Rows are returned raw.
    pub async fn call_recordings(
        &self,
        account: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Value>, VoipMsError> {
        let mut rows = Vec::new();
        for (start, end) in day_chunks(from, to) {
            for page in 0..MAX_RECORDING_PAGES {
                let params = [
                    ("account", account.to_string()),
                    ("date_from", day(start)),
                    ("date_to", day(end)),
                    ("call_type", "all".to_string()),
                    ("start", (page * RECORDINGS_PAGE).to_string()),
                    ("length", RECORDINGS_PAGE.to_string()),
                ];
                let Some(json) = self.call("getCallRecordings", &params, Some("no_recording")).await? else {
                    break;
                };
                let items = match json.get("recordings") {
                    Some(Value::Array(items)) => items.clone(),
                    Some(Value::Object(items)) => items.values().cloned().collect(),
                    _ => Vec::new(),
                };
                let full = items.len() >= RECORDINGS_PAGE;
                rows.extend(items);
                if !full {
                    break;
                }
            }
        }
        Ok(rows)
    }

    /// `getCallRecording`: the MP3 of one recording. `base64file` may carry whitespace (and `\/`,
    /// which the JSON parser already turned into `/`); it is stripped before decoding.
    pub async fn call_recording(&self, account: &str, recording_id: &str) -> Result<Vec<u8>, VoipMsError> {
        let timeout = RECORDING_TIMEOUT.max(self.settings.timeout);
        let json = self
            .call_within(
                "getCallRecording",
                &[
                    ("account", account.to_string()),
                    ("callrecording", recording_id.to_string()),
                ],
                None,
                timeout,
            )
            .await?
            .unwrap_or_default();
        let encoded = find_base64file(&json)
            .ok_or_else(|| VoipMsError::Malformed("getCallRecording has no base64file".into()))?;
        decode_base64file(&encoded)
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `base64file` at the top level, or inside the recording object (`recording`, `recordings[0]` or
/// `callrecording`): the sources show the field, not where it sits.
fn find_base64file(json: &Map<String, Value>) -> Option<String> {
    if let Some(value) = json.get("base64file") {
        return Some(text(Some(value)));
    }
    for key in ["recording", "recordings", "callrecording"] {
        let found = match json.get(key) {
            Some(Value::Object(inner)) => inner.get("base64file"),
            Some(Value::Array(items)) => items.first().and_then(|i| i.get("base64file")),
            _ => None,
        };
        if let Some(value) = found {
            return Some(text(Some(value)));
        }
    }
    None
}

/// Standard base64 with any whitespace (and a stray `\/` escape) removed.
pub fn decode_base64file(encoded: &str) -> Result<Vec<u8>, VoipMsError> {
    use base64::Engine;
    let cleaned: String = encoded
        .replace("\\/", "/")
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(cleaned.as_bytes()))
        .map_err(|e| VoipMsError::Malformed(format!("{NOT_BASE64}: {e}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn long_windows_are_split_into_chunks_within_the_limit() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let chunks = day_chunks(d(2026, 1, 1), d(2026, 12, 31));
        assert_eq!(chunks.first().unwrap().0, d(2026, 1, 1));
        assert_eq!(chunks.last().unwrap().1, d(2026, 12, 31));
        for pair in chunks.windows(2) {
            assert_eq!(pair[0].1 + chrono::Days::new(1), pair[1].0, "no gap, no overlap");
        }
        assert!(chunks.iter().all(|(a, b)| (*b - *a).num_days() < 90));
        assert_eq!(
            day_chunks(d(2026, 1, 1), d(2026, 1, 1)),
            [(d(2026, 1, 1), d(2026, 1, 1))]
        );
        assert!(day_chunks(d(2026, 1, 2), d(2026, 1, 1)).is_empty());
    }

    #[test]
    fn base64file_is_read_with_whitespace_and_escaped_slashes() {
        assert_eq!(decode_base64file("SUQz\n BA A/\r\n").unwrap(), b"ID3\x04\x00\x3f");
        assert_eq!(decode_base64file("SUQzBAA\\/").unwrap(), b"ID3\x04\x00\x3f");
        assert!(decode_base64file("not base64!").is_err());
        let nested = json!({"status": "success", "recording": {"base64file": "SUQz"}});
        assert_eq!(find_base64file(nested.as_object().unwrap()).as_deref(), Some("SUQz"));
        let listed = json!({"status": "success", "recordings": [{"base64file": "SUQz"}]});
        assert_eq!(find_base64file(listed.as_object().unwrap()).as_deref(), Some("SUQz"));
        assert!(find_base64file(json!({"status": "success"}).as_object().unwrap()).is_none());
    }
}
