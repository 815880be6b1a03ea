//! The transcriber port: speech to text through OpenAI (or any OpenAI-compatible Whisper server),
//! Google Speech-to-Text v1 or Hugging Face Inference, in a configurable order, each used when its
//! credential is set. Adapters know their provider's limits and split audio to fit them; the
//! worker (`crate::calls::transcribe`) walks the chain.

pub mod audio;
pub mod google;
pub mod huggingface;
pub mod openai;

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

/// One stretch of speech with its times, in seconds from the start of the recording.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Segment {
    pub start: f64,
    pub end: f64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub text: String,
    pub segments: Vec<Segment>,
    pub language: Option<String>,
    pub model: String,
}

/// A recording to transcribe: the MP3 as stored, and its duration read from the audio.
pub struct Recording<'a> {
    pub mp3: &'a [u8],
    pub duration_ms: i64,
}

/// Why a provider did not transcribe, and whether asking it again can help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TranscribeError {
    /// Rate limited, a server error, a model still loading, no answer: try this provider again,
    /// not before `after` when it said so.
    #[error("{reason}")]
    Retryable { reason: String, after: Option<Duration> },
    /// A bad key, no credit, audio it cannot take: move on to the next provider.
    #[error("{0}")]
    Permanent(String),
}

impl TranscribeError {
    pub fn retry(reason: impl Into<String>, after: Option<Duration>) -> Self {
        Self::Retryable {
            reason: reason.into(),
            after,
        }
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        Self::Permanent(reason.into())
    }

    /// What an HTTP status means for a provider call: 408, 409, 429 and 5xx pass; the rest do not.
    pub fn from_status(provider: &str, status: u16, detail: &str, after: Option<Duration>) -> Self {
        let reason = format!("{provider} answered HTTP {status}: {detail}");
        match status {
            408 | 409 | 429 | 500..=599 => Self::retry(reason, after),
            _ => Self::permanent(reason),
        }
    }

    /// A transport failure: nothing was transcribed, asking again may work.
    pub fn transport(provider: &str, error: reqwest::Error) -> Self {
        Self::retry(
            format!("{provider} could not be reached: {}", error.without_url()),
            None,
        )
    }
}

#[async_trait]
pub trait Transcriber: Send + Sync {
    /// `openai`, `google` or `huggingface`: what the chain and the stored transcript call it.
    fn provider(&self) -> &'static str;
    async fn transcribe(&self, recording: &Recording<'_>) -> Result<Transcript, TranscribeError>;
}

/// What kind of JSON error this was, and where, without the value it choked on (a transcript's
/// words would otherwise end up in logs and in the failure reasons staff see).
pub fn json_error_kind(error: &serde_json::Error) -> String {
    let kind = match error.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "unexpected fields or types",
        serde_json::error::Category::Eof => "cut short",
    };
    format!("{kind} at line {} column {}", error.line(), error.column())
}

/// `Retry-After` (seconds or an HTTP date) or OpenAI's `retry-after-ms`, when present and sane.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return (ms.is_finite() && ms >= 0.0).then(|| Duration::from_millis(ms as u64));
    }
    let value = text("retry-after")?;
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_millis((seconds * 1000.0) as u64));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().ok()
}

/// Joins chunk transcripts back into one: segment times shifted by each chunk's start, and where
/// chunks overlap, a segment belongs to the chunk on whose side of the overlap's midpoint its own
/// middle falls (so a long segment that begins in the overlap is kept, and a word heard by both
/// chunks at the same time is kept once).
pub fn stitch(chunks: Vec<(f64, f64, Transcript)>) -> Transcript {
    let mut segments: Vec<Segment> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let mut language = None;
    let mut model = String::new();
    let count = chunks.len();
    let starts: Vec<f64> = chunks.iter().map(|(s, _, _)| *s).collect();
    let ends: Vec<f64> = chunks.iter().map(|(_, e, _)| *e).collect();
    for (i, (start, _, transcript)) in chunks.into_iter().enumerate() {
        language = language.or(transcript.language);
        model = transcript.model;
        // This chunk's share: from the midpoint of its overlap with the previous chunk to the
        // midpoint of its overlap with the next.
        let from = if i == 0 {
            f64::MIN
        } else {
            (starts[i] + ends[i - 1]) / 2.0
        };
        let until = if i + 1 == count {
            f64::MAX
        } else {
            (starts[i + 1] + ends[i]) / 2.0
        };
        if transcript.segments.is_empty() {
            let text = transcript.text.trim();
            if !text.is_empty() {
                texts.push(text.to_string());
            }
            continue;
        }
        let kept: Vec<Segment> = transcript
            .segments
            .into_iter()
            .map(|s| Segment {
                start: s.start + start,
                end: s.end + start,
                text: s.text,
            })
            .filter(|s| {
                let middle = (s.start + s.end) / 2.0;
                middle >= from && middle < until
            })
            .collect();
        texts.extend(kept.iter().map(|s| s.text.trim().to_string()).filter(|t| !t.is_empty()));
        segments.extend(kept);
    }
    Transcript {
        text: texts.join(" "),
        segments,
        language,
        model,
    }
}

/// The providers whose credentials are set, in the configured order. Empty: transcription is not
/// configured (and is reported so, never faked).
pub fn providers(settings: &crate::config::TranscriptionSettings) -> anyhow::Result<Vec<Box<dyn Transcriber>>> {
    let mut chain: Vec<Box<dyn Transcriber>> = Vec::new();
    for name in &settings.order {
        match name.as_str() {
            "openai" => {
                if let Some(key) = &settings.openai_api_key {
                    chain.push(Box::new(openai::OpenAiTranscriber::new(
                        key.expose().to_string(),
                        settings.openai_base_url.clone(),
                        settings.openai_model.clone(),
                        settings.timeout,
                    )));
                }
            }
            "google" => {
                if let Some(path) = &settings.google_credentials {
                    chain.push(Box::new(google::GoogleTranscriber::from_key_file(
                        path,
                        settings.google_base_url.clone(),
                        settings.google_model.clone(),
                        settings.google_language.clone(),
                        settings.timeout,
                    )?));
                }
            }
            "huggingface" => {
                if let Some(token) = &settings.hf_token {
                    chain.push(Box::new(huggingface::HuggingFaceTranscriber::new(
                        token.expose().to_string(),
                        settings.hf_base_url.clone(),
                        settings.hf_model.clone(),
                        settings.timeout,
                        settings.hf_max_wait,
                    )));
                }
            }
            _ => {}
        }
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(segments: &[(f64, f64, &str)]) -> Transcript {
        Transcript {
            text: segments.iter().map(|s| s.2).collect::<Vec<_>>().join(" "),
            segments: segments
                .iter()
                .map(|(start, end, text)| Segment {
                    start: *start,
                    end: *end,
                    text: text.to_string(),
                })
                .collect(),
            language: Some("english".into()),
            model: "whisper-1".into(),
        }
    }

    #[test]
    fn overlapping_chunks_are_stitched_without_repeating_words() {
        // Chunk 1 covers 0–60 s, chunk 2 covers 58–100 s (2 s of overlap, midpoint 59 s).
        let one = part(&[
            (0.0, 30.0, "Hello, this is Maria."),
            (30.0, 58.5, "I need a cleaning"),
            (58.5, 59.5, "next"),
        ]);
        let two = part(&[
            (0.5, 1.5, "next"),
            (1.5, 20.0, "Tuesday please."),
            (20.0, 42.0, "Thank you."),
        ]);
        let whole = stitch(vec![(0.0, 60.0, one), (58.0, 100.0, two)]);
        assert_eq!(
            whole.text,
            "Hello, this is Maria. I need a cleaning next Tuesday please. Thank you."
        );
        let times: Vec<(f64, f64)> = whole.segments.iter().map(|s| (s.start, s.end)).collect();
        assert_eq!(
            times,
            [(0.0, 30.0), (30.0, 58.5), (58.5, 59.5), (59.5, 78.0), (78.0, 100.0)]
        );
    }

    #[test]
    fn retry_after_reads_seconds_milliseconds_and_dates() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert("retry-after-ms", "1500".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(1500)));
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn statuses_say_whether_a_retry_helps() {
        assert!(matches!(
            TranscribeError::from_status("x", 429, "", None),
            TranscribeError::Retryable { .. }
        ));
        assert!(matches!(
            TranscribeError::from_status("x", 503, "", None),
            TranscribeError::Retryable { .. }
        ));
        assert!(matches!(
            TranscribeError::from_status("x", 401, "", None),
            TranscribeError::Permanent(_)
        ));
        assert!(matches!(
            TranscribeError::from_status("x", 400, "", None),
            TranscribeError::Permanent(_)
        ));
    }
}
