//! Google Cloud Speech-to-Text v1 (`speech:recognize`), with service-account credentials.
//!
//! v1 takes no MP3, so the recording is decoded and sent as 16-bit mono PCM (LINEAR16, in WAV).
//! Synchronous recognition takes at most a minute of audio; `longrunningrecognize` takes more,
//! but only from a `gs://` URI, which would mean copying patients' calls into a Google Cloud
//! Storage bucket as well. So the audio is cut at fixed 55-second points and each piece is
//! recognised synchronously; the pieces' results are joined in order with their times shifted.
//! A word cut at a boundary may be lost or split: the price of keeping audio out of another store.
//!
//! The access token comes from the JWT bearer flow (RFC 7523): a JWT signed with the service
//! account's RSA key is exchanged at its `token_uri`, and the token is cached until shortly before
//! it expires. jsonwebtoken (already used for Supabase tokens) signs it, and reqwest posts it, so
//! no second HTTP stack comes in with an auth crate.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

use super::audio::{decode_to_pcm, wav};
use super::{retry_after, Recording, Segment, TranscribeError, Transcriber, Transcript};

pub const DEFAULT_BASE_URL: &str = "https://speech.googleapis.com";
pub const DEFAULT_MODEL: &str = "phone_call";
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Seconds of audio per synchronous request (the limit is one minute).
const PIECE_SECONDS: usize = 55;
/// A cached token is renewed this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(120);

/// The fields of a service-account key file this code uses.
#[derive(Deserialize, Clone)]
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServiceAccount({})", self.client_email)
    }
}

pub struct GoogleTranscriber {
    http: reqwest::Client,
    base_url: String,
    account: ServiceAccount,
    model: String,
    language: String,
    token: Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default = "an_hour")]
    expires_in: u64,
}

fn an_hour() -> u64 {
    3600
}

#[derive(Deserialize, Default)]
struct RecognizeAnswer {
    #[serde(default)]
    results: Vec<RecognitionResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecognitionResult {
    #[serde(default)]
    alternatives: Vec<Alternative>,
    #[serde(default)]
    result_end_time: Option<String>,
    #[serde(default)]
    language_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Alternative {
    #[serde(default)]
    transcript: String,
    #[serde(default)]
    words: Vec<Word>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Word {
    #[serde(default)]
    start_time: Option<String>,
}

/// `"1.500s"` as seconds.
fn seconds(value: &str) -> Option<f64> {
    value.trim().strip_suffix('s')?.parse().ok()
}

fn google_error(status: u16, body: &str, after: Option<Duration>) -> TranscribeError {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let e = &v["error"];
            Some(format!(
                "{} {}",
                e["status"].as_str().unwrap_or_default(),
                e["message"].as_str().or_else(|| v["error_description"].as_str())?
            ))
        })
        .unwrap_or_default();
    TranscribeError::from_status("Google", status, message.trim(), after)
}

impl GoogleTranscriber {
    /// Reads the key file `GOOGLE_APPLICATION_CREDENTIALS` names, or the key itself when the
    /// value is JSON (a Lambda has no file to point at; the key comes from a secret parameter).
    pub fn from_key_file(
        path: &str,
        base_url: Option<String>,
        model: Option<String>,
        language: Option<String>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let text = match path.trim_start().starts_with('{') {
            true => path.to_string(),
            false => std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("GOOGLE_APPLICATION_CREDENTIALS={path:?}: {e}"))?,
        };
        let account: ServiceAccount = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("GOOGLE_APPLICATION_CREDENTIALS is not a service-account key: {e}"))?;
        jsonwebtoken::EncodingKey::from_rsa_pem(account.private_key.as_bytes())
            .map_err(|e| anyhow::anyhow!("the service-account private key cannot be read: {e}"))?;
        Ok(Self {
            http: reqwest::Client::builder().timeout(timeout).build().unwrap_or_default(),
            base_url: base_url
                .unwrap_or_else(|| DEFAULT_BASE_URL.into())
                .trim_end_matches('/')
                .to_string(),
            account,
            model: model.unwrap_or_else(|| DEFAULT_MODEL.into()),
            language: language.unwrap_or_else(|| "en-US".into()),
            token: Mutex::new(None),
        })
    }

    /// A valid access token: the cached one, or a new one from the token endpoint.
    async fn token(&self) -> Result<String, TranscribeError> {
        let mut cached = self.token.lock().await;
        if let Some((token, expires)) = cached.as_ref() {
            if Instant::now() + TOKEN_MARGIN < *expires {
                return Ok(token.clone());
            }
        }
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": self.account.client_email,
            "scope": SCOPE,
            "aud": self.account.token_uri,
            "iat": now,
            "exp": now + 3600,
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.account.private_key_id.clone();
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(self.account.private_key.as_bytes())
            .map_err(|e| TranscribeError::permanent(format!("Google key: {e}")))?;
        let assertion = jsonwebtoken::encode(&header, &claims, &key)
            .map_err(|e| TranscribeError::permanent(format!("Google token signing: {e}")))?;
        let response = self
            .http
            .post(&self.account.token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| TranscribeError::transport("Google's token endpoint", e))?;
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        let body = response
            .text()
            .await
            .map_err(|e| TranscribeError::transport("Google's token endpoint", e))?;
        if !(200..300).contains(&status) {
            return Err(google_error(status, &body, after));
        }
        let answer: TokenAnswer = serde_json::from_str(&body).map_err(|e| {
            TranscribeError::retry(
                format!("Google token answer unreadable ({})", super::json_error_kind(&e)),
                None,
            )
        })?;
        let expires = Instant::now() + Duration::from_secs(answer.expires_in);
        *cached = Some((answer.access_token.clone(), expires));
        Ok(answer.access_token)
    }

    async fn recognize(&self, sample_rate: u32, samples: &[i16]) -> Result<RecognizeAnswer, TranscribeError> {
        let token = self.token().await?;
        let content = base64::engine::general_purpose::STANDARD.encode(wav(sample_rate, samples));
        let body = json!({
            "config": {
                "encoding": "LINEAR16",
                "sampleRateHertz": sample_rate,
                "audioChannelCount": 1,
                "languageCode": self.language,
                "enableWordTimeOffsets": true,
                "enableAutomaticPunctuation": true,
                "model": self.model,
                "useEnhanced": true,
                "metadata": {"interactionType": "PHONE_CALL", "recordingDeviceType": "PHONE_LINE"},
            },
            "audio": {"content": content},
        });
        let response = self
            .http
            .post(format!("{}/v1/speech:recognize", self.base_url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|e| TranscribeError::transport("Google", e))?;
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        let text = response
            .text()
            .await
            .map_err(|e| TranscribeError::transport("Google", e))?;
        if status == 401 {
            // A token revoked early: the next attempt fetches a new one.
            *self.token.lock().await = None;
        }
        if !(200..300).contains(&status) {
            return Err(google_error(status, &text, after));
        }
        if text.trim().is_empty() {
            return Ok(RecognizeAnswer::default());
        }
        serde_json::from_str(&text).map_err(|e| {
            TranscribeError::retry(
                format!("Google answered something unreadable ({})", super::json_error_kind(&e)),
                None,
            )
        })
    }
}

#[async_trait]
impl Transcriber for GoogleTranscriber {
    fn provider(&self) -> &'static str {
        "google"
    }

    async fn transcribe(&self, recording: &Recording<'_>) -> Result<Transcript, TranscribeError> {
        let pcm = decode_to_pcm(recording.mp3).map_err(TranscribeError::permanent)?;
        let per_piece = PIECE_SECONDS * pcm.sample_rate.max(1) as usize;
        let mut segments: Vec<Segment> = Vec::new();
        let mut language = None;
        for (index, piece) in pcm.samples.chunks(per_piece.max(1)).enumerate() {
            let offset = (index * PIECE_SECONDS) as f64;
            let answer = self.recognize(pcm.sample_rate, piece).await?;
            let mut previous_end = 0.0;
            for result in answer.results {
                language = language.or(result.language_code);
                let Some(best) = result.alternatives.into_iter().next() else {
                    continue;
                };
                let end = result
                    .result_end_time
                    .as_deref()
                    .and_then(seconds)
                    .unwrap_or(previous_end);
                let start = best
                    .words
                    .first()
                    .and_then(|w| w.start_time.as_deref())
                    .and_then(seconds)
                    .unwrap_or(previous_end);
                previous_end = end;
                let text = best.transcript.trim().to_string();
                if !text.is_empty() {
                    segments.push(Segment {
                        start: offset + start,
                        end: offset + end,
                        text,
                    });
                }
            }
        }
        Ok(Transcript {
            text: segments.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" "),
            segments,
            language,
            model: self.model.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_strings_in_seconds() {
        assert_eq!(seconds("1.500s"), Some(1.5));
        assert_eq!(seconds("15s"), Some(15.0));
        assert_eq!(seconds("15"), None);
    }
}
