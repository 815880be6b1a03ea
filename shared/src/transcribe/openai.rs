//! OpenAI audio transcriptions (`POST {base}/audio/transcriptions`), or any server that speaks the
//! same API (a self-hosted Whisper server keeps a clinic's audio on its own infrastructure).
//!
//! MP3 goes as it is, in `multipart/form-data` with a filename and type. Over the 25 MiB upload
//! limit, the recording is cut at MP3 frames into pieces with two seconds of overlap, each
//! transcribed, and the pieces stitched back together by their segment times.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;

use super::audio::split_mp3;
use super::{retry_after, stitch, Recording, Segment, TranscribeError, Transcriber, Transcript};

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_MODEL: &str = "whisper-1";
/// OpenAI's upload limit per request.
pub const MAX_UPLOAD_BYTES: usize = 25 * 1024 * 1024;
/// Seconds of overlap between pieces of a recording split for the upload limit.
const OVERLAP_SECONDS: f64 = 2.0;

pub struct OpenAiTranscriber {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
    model: String,
    max_upload_bytes: usize,
}

#[derive(Deserialize)]
struct Verbose {
    text: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    segments: Vec<Segment>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: Option<String>,
}

impl OpenAiTranscriber {
    pub fn new(api_key: String, base_url: Option<String>, model: Option<String>, timeout: Duration) -> Self {
        Self {
            http: reqwest::Client::builder().timeout(timeout).build().unwrap_or_default(),
            base_url: base_url
                .unwrap_or_else(|| DEFAULT_BASE_URL.into())
                .trim_end_matches('/')
                .to_string(),
            api_key,
            model: model.unwrap_or_else(|| DEFAULT_MODEL.into()),
            max_upload_bytes: MAX_UPLOAD_BYTES,
        }
    }

    /// whisper-1 gives segments with times (`verbose_json`); the gpt-4o transcribe models take
    /// `json` only.
    fn verbose(&self) -> bool {
        !self.model.starts_with("gpt-")
    }

    async fn piece(&self, mp3: Vec<u8>) -> Result<Transcript, TranscribeError> {
        let file = reqwest::multipart::Part::bytes(mp3)
            .file_name("recording.mp3")
            .mime_str("audio/mpeg")
            .map_err(|e| TranscribeError::permanent(e.to_string()))?;
        let mut form = reqwest::multipart::Form::new()
            .part("file", file)
            .text("model", self.model.clone());
        form = if self.verbose() {
            form.text("response_format", "verbose_json")
                .text("timestamp_granularities[]", "segment")
        } else {
            form.text("response_format", "json")
        };
        let response = self
            .http
            .post(format!("{}/audio/transcriptions", self.base_url))
            .bearer_auth(&self.api_key)
            .multipart(form)
            .send()
            .await
            .map_err(|e| TranscribeError::transport("OpenAI", e))?;
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        let body = response
            .text()
            .await
            .map_err(|e| TranscribeError::transport("OpenAI", e))?;
        if !(200..300).contains(&status) {
            let detail = serde_json::from_str::<ErrorBody>(&body).ok();
            // Out of credit arrives as 429 but waiting does not help.
            if detail.as_ref().and_then(|d| d.error.code.as_deref()) == Some("insufficient_quota") {
                return Err(TranscribeError::permanent(
                    "OpenAI: insufficient_quota (no credit left)",
                ));
            }
            let message = detail.map(|d| d.error.message).unwrap_or_default();
            return Err(TranscribeError::from_status("OpenAI", status, &message, after));
        }
        let parsed: Verbose = serde_json::from_str(&body).map_err(|e| {
            TranscribeError::retry(
                format!("OpenAI answered something unreadable ({})", super::json_error_kind(&e)),
                None,
            )
        })?;
        Ok(Transcript {
            text: parsed.text.trim().to_string(),
            segments: parsed.segments,
            language: parsed.language,
            model: self.model.clone(),
        })
    }
}

#[async_trait]
impl Transcriber for OpenAiTranscriber {
    fn provider(&self) -> &'static str {
        "openai"
    }

    async fn transcribe(&self, recording: &Recording<'_>) -> Result<Transcript, TranscribeError> {
        let started = Instant::now();
        let pieces = split_mp3(recording.mp3, self.max_upload_bytes, OVERLAP_SECONDS);
        let mut parts = Vec::with_capacity(pieces.len());
        for piece in pieces {
            let transcript = self.piece(piece.bytes).await?;
            parts.push((piece.start, piece.end, transcript));
        }
        let count = parts.len();
        let whole = match count {
            1 => parts.remove(0).2,
            _ => stitch(parts),
        };
        tracing::debug!(
            pieces = count,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "OpenAI transcription"
        );
        Ok(whole)
    }
}
