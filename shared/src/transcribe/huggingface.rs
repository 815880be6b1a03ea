//! Hugging Face Inference through its router (`POST {base}/hf-inference/models/{model}`); the old
//! `api-inference` host answers 410. The MP3 goes as raw bytes. A model that is still loading
//! answers 503 with `estimated_time`: the call waits that long (within a bound) and asks again.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;

use super::{retry_after, Recording, Segment, TranscribeError, Transcriber, Transcript};

pub const DEFAULT_BASE_URL: &str = "https://router.huggingface.co";
pub const DEFAULT_MODEL: &str = "openai/whisper-large-v3";

pub struct HuggingFaceTranscriber {
    http: reqwest::Client,
    base_url: String,
    token: String,
    model: String,
    /// The longest the call waits, in all, for a loading model.
    max_wait: Duration,
}

#[derive(Deserialize)]
struct Answer {
    text: String,
    #[serde(default)]
    chunks: Vec<Chunk>,
}

#[derive(Deserialize)]
struct Chunk {
    text: String,
    timestamp: (Option<f64>, Option<f64>),
}

impl HuggingFaceTranscriber {
    pub fn new(
        token: String,
        base_url: Option<String>,
        model: Option<String>,
        timeout: Duration,
        max_wait: Duration,
    ) -> Self {
        Self {
            http: reqwest::Client::builder().timeout(timeout).build().unwrap_or_default(),
            base_url: base_url
                .unwrap_or_else(|| DEFAULT_BASE_URL.into())
                .trim_end_matches('/')
                .to_string(),
            token,
            model: model.unwrap_or_else(|| DEFAULT_MODEL.into()),
            max_wait,
        }
    }
}

/// The message of an error body: `{"error": "..."}`, `{"error": [...]}` or `{"errors": [...]}`.
fn message(body: &str) -> (String, Option<f64>) {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        // A body that is not JSON may echo anything: only its size is kept.
        return (format!("a non-JSON body of {} bytes", body.len()), None);
    };
    let error = value.get("error").or_else(|| value.get("errors"));
    let text = match error {
        Some(serde_json::Value::String(s)) => s.chars().take(200).collect(),
        Some(other) => other.to_string().chars().take(200).collect(),
        None => String::new(),
    };
    // Stored where staff see it and logged: never a full phone number.
    let text = crate::domain::phone::redact_numbers(&text);
    (text, value.get("estimated_time").and_then(serde_json::Value::as_f64))
}

#[async_trait]
impl Transcriber for HuggingFaceTranscriber {
    fn provider(&self) -> &'static str {
        "huggingface"
    }

    async fn transcribe(&self, recording: &Recording<'_>) -> Result<Transcript, TranscribeError> {
        let url = format!("{}/hf-inference/models/{}", self.base_url, self.model);
        let started = Instant::now();
        loop {
            let response = self
                .http
                .post(&url)
                .bearer_auth(&self.token)
                .header(reqwest::header::CONTENT_TYPE, "audio/mpeg")
                .body(recording.mp3.to_vec())
                .send()
                .await
                .map_err(|e| TranscribeError::transport("Hugging Face", e))?;
            let status = response.status().as_u16();
            let after = retry_after(response.headers());
            let body = response
                .text()
                .await
                .map_err(|e| TranscribeError::transport("Hugging Face", e))?;
            if (200..300).contains(&status) {
                let answer: Answer = serde_json::from_str(&body).map_err(|e| {
                    TranscribeError::retry(
                        format!(
                            "Hugging Face answered something unreadable ({})",
                            super::json_error_kind(&e)
                        ),
                        None,
                    )
                })?;
                let segments = answer
                    .chunks
                    .into_iter()
                    .filter_map(|c| {
                        Some(Segment {
                            start: c.timestamp.0?,
                            end: c.timestamp.1.or(c.timestamp.0)?,
                            text: c.text.trim().to_string(),
                        })
                    })
                    .collect();
                return Ok(Transcript {
                    text: answer.text.trim().to_string(),
                    segments,
                    language: None,
                    model: self.model.clone(),
                });
            }
            let (detail, estimated) = message(&body);
            if status == 503 {
                if let Some(estimated) = estimated.filter(|e| e.is_finite() && *e >= 0.0) {
                    let wait = Duration::from_secs_f64(estimated.clamp(1.0, 60.0));
                    if started.elapsed() + wait <= self.max_wait {
                        tracing::info!(wait_s = wait.as_secs_f64(), "Hugging Face model loading; waiting");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(TranscribeError::retry(
                        format!("Hugging Face model still loading after {:?}", started.elapsed()),
                        Some(wait),
                    ));
                }
            }
            if status == 410 {
                return Err(TranscribeError::permanent(format!(
                    "Hugging Face answered 410 Gone: use the router URL ({detail})"
                )));
            }
            return Err(TranscribeError::from_status("Hugging Face", status, &detail, after));
        }
    }
}
