//! A fake OpenAI API: audio transcriptions (`POST /v1/audio/transcriptions`) and chat completions
//! (`POST /v1/chat/completions`), for integration tests.
//!
//! Real HTTP on `127.0.0.1:<random port>`. It follows docs/providers.md ("Speech-to-text
//! providers", OpenAI). Choices made where the contract is silent or **unconfirmed**:
//!
//! * **Order of checks** for a transcription: the multipart body is read and the request recorded
//!   ([`FakeOpenAi::requests`], with the status it got). Then come auth (401), an injected
//!   [`Fault`] (one per request, in order), the form itself (400 "Could not parse multipart form"),
//!   `model` (400 missing, 404 `model_not_found` unknown), `file` (400 missing, 400 "Invalid file
//!   format" when the filename has no listed extension, 400 when the part has no content type or
//!   one that is not `audio/*`, `video/*` or `application/octet-stream`), size (413), then the
//!   options (`response_format`, `timestamp_granularities[]`, `language`, `temperature`,
//!   `chunking_strategy`), then the audio itself (400 when it cannot be read, 400
//!   `audio_too_short` under 0.1 s).
//! * **Size.** A `file` over 25 MiB (26,214,400 bytes) gets **413** with the message the real
//!   server gives ("Maximum content size limit (26214400) exceeded (N bytes read)", type
//!   `server_error`); the SDK does not retry a 413. Bodies over 64 MiB are cut off by the server
//!   (413, plain text).
//! * **Audio length.** MP3 is demuxed with symphonia and its frames summed; WAV and FLAC are read
//!   from their headers ([`inspect_audio`]). Other listed formats (m4a, mp4, ogg, webm) are not
//!   parsed: their duration is estimated at 16,000 bytes a second (128 kbps).
//! * **Models.** `whisper-1` takes every format. `gpt-4o-transcribe`, `gpt-4o-mini-transcribe`,
//!   `gpt-4o-mini-transcribe-2025-12-15` and `gpt-transcribe` take `json` only.
//!   `gpt-4o-transcribe-diarize` takes `json`, `text` or `diarized_json`, needs
//!   `chunking_strategy` and refuses `prompt`. Anything else is 404 `model_not_found`.
//! * **Timestamps.** `timestamp_granularities[]` other than with `verbose_json` is a 400 (the
//!   contract says it only works there). With `word` alone, `verbose_json` has `words` and no
//!   `segments`; with none or `segment`, `segments`; with both, both.
//! * **Language.** `verbose_json.language` is a lower-case English name (`english`, `french`).
//!   Without a `language` parameter it is the detected language, `english` unless
//!   [`FakeOpenAi::set_detected_language`] says otherwise. A `language` that is not a known
//!   ISO-639-1 code is a 400.
//! * **Text formats.** `text` answers the transcript and a newline, `text/plain`; `srt` and `vtt`
//!   answer cues made from the segments.
//! * **Streaming** (`stream=true`) is not modelled: 400 for gpt-4o models, ignored for whisper-1
//!   (as the real one ignores it).
//! * **insufficient_quota** is a plain 429: the SDK retries it like any 429 (the fake sends no
//!   `x-should-retry`), so a client must read `error.code` itself to stop.
//! * **Chat completions** answer the scripted replies in order ([`FakeOpenAi::push_chat_reply`]).
//!   With none left the answer is **500** (`server_error`, "fake OpenAI: no chat reply scripted")
//!   with `x-should-retry: false`, so a test that forgot to script one fails at once.

use std::collections::VecDeque;
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{json, Value};

/// 25 MiB: the largest `file` the transcription endpoint takes.
pub const MAX_FILE_BYTES: usize = 25 * 1024 * 1024;
const BODY_LIMIT: usize = 64 * 1024 * 1024;
/// The extensions the endpoint takes, as listed in its "Invalid file format" error.
pub const FORMATS: [&str; 9] = ["flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "ogg", "wav", "webm"];
/// Every model name the SDK lists (`AudioModel`).
pub const MODELS: [&str; 6] = [
    "whisper-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-mini-transcribe-2025-12-15",
    "gpt-4o-transcribe-diarize",
    "gpt-transcribe",
];
const DIARIZE_MODEL: &str = "gpt-4o-transcribe-diarize";

/// An injected failure, consumed by one transcription request ([`FakeOpenAi::push_fault`]) or
/// scripted as a chat reply ([`ChatReply::Fault`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 429 `rate_limit_exceeded` (`type: "requests"`), with these `retry-after` (seconds or an
    /// HTTP date) and `retry-after-ms` headers when given, and `x-ratelimit-*` headers.
    RateLimited {
        retry_after: Option<String>,
        retry_after_ms: Option<String>,
    },
    /// 429 `insufficient_quota`: out of credit; retrying will not help.
    InsufficientQuota,
    /// This 5xx status with an OpenAI error body (`type: "server_error"`).
    Server(u16),
    /// 401 `invalid_api_key`, whatever key was sent.
    Unauthorized,
    /// 400 `invalid_request_error` with this message.
    BadRequest(String),
    /// Sleep this long, then answer normally (longer than a client's time-out: a hung server).
    Hang(Duration),
}

/// One scripted answer to `POST /v1/chat/completions`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatReply {
    /// A `chat.completion` whose message `content` is this string (for JSON mode, a JSON text).
    Content(String),
    /// A `chat.completion` whose message has `content: null` and this `refusal`.
    Refusal(String),
    /// This status and this body, sent as it is with `Content-Type: application/json`.
    Status(u16, String),
    /// The same answer as for a transcription fault.
    Fault(Fault),
}

/// One `POST /v1/audio/transcriptions` as the fake saw it, whatever it answered.
#[derive(Clone, Debug, PartialEq)]
pub struct TranscriptionRequest {
    pub model: Option<String>,
    pub response_format: Option<String>,
    /// The `file` part's filename.
    pub filename: Option<String>,
    /// The `file` part's `Content-Type`.
    pub content_type: Option<String>,
    /// Bytes in the `file` part (0 without one).
    pub file_len: usize,
    pub language: Option<String>,
    pub prompt: Option<String>,
    /// `timestamp_granularities[]` values, in order.
    pub timestamp_granularities: Vec<String>,
    /// Every other text part (`temperature`, `include[]`, `chunking_strategy`, `stream`, ...).
    pub extra: Vec<(String, String)>,
    /// Length of the audio as the fake measured it (None when it could not).
    pub audio_secs: Option<f64>,
    /// The HTTP status the fake answered.
    pub status: u16,
}

/// What a transcriber function sees of a request the fake is about to answer with success.
#[derive(Clone, Debug)]
pub struct AudioSeen {
    /// 1 for the first successful transcription of this fake, 2 for the next, ...
    pub index: usize,
    pub model: String,
    pub filename: String,
    pub bytes: Arc<Vec<u8>>,
    /// Measured (MP3, WAV, FLAC) or estimated (other formats) length.
    pub duration_secs: f64,
    pub language: Option<String>,
    pub prompt: Option<String>,
}

type Transcriber = Arc<dyn Fn(&AudioSeen) -> String + Send + Sync>;

/// The default transcript: `Part {index}. {duration} seconds of audio.`, so a test that splits a
/// recording can see which chunk each text came from and how long the fake found it.
pub fn default_transcript(seen: &AudioSeen) -> String {
    format!("Part {}. {:.1} seconds of audio.", seen.index, seen.duration_secs)
}

struct Inner {
    api_key: String,
    transcriber: Transcriber,
    detected_language: String,
    faults: VecDeque<Fault>,
    requests: Vec<TranscriptionRequest>,
    transcribed: usize,
    chat_replies: VecDeque<ChatReply>,
    chat_requests: Vec<Value>,
    counter: u64,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(state: &Shared) -> MutexGuard<'_, Inner> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The fake OpenAI server. Dropping it stops the server.
pub struct FakeOpenAi {
    state: Shared,
    addr: SocketAddr,
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl FakeOpenAi {
    /// Bind `127.0.0.1:0` and serve, accepting `Authorization: Bearer <api_key>`.
    pub async fn start(api_key: &str) -> Self {
        let state: Shared = Arc::new(Mutex::new(Inner {
            api_key: api_key.to_string(),
            transcriber: Arc::new(default_transcript),
            detected_language: "english".to_string(),
            faults: VecDeque::new(),
            requests: Vec::new(),
            transcribed: 0,
            chat_replies: VecDeque::new(),
            chat_requests: Vec::new(),
            counter: 0,
        }));
        let app = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake openai: bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("fake openai: local_addr of bound listener");
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeOpenAi { state, addr, handle }
    }

    /// `http://127.0.0.1:PORT/v1`, what the SDKs call `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Answer every later transcription with `text`.
    pub fn set_transcript(&self, text: &str) {
        let text = text.to_string();
        lock(&self.state).transcriber = Arc::new(move |_| text.clone());
    }

    /// Answer every later transcription with `f(request)` (see [`default_transcript`]).
    pub fn set_transcriber(&self, f: impl Fn(&AudioSeen) -> String + Send + Sync + 'static) {
        lock(&self.state).transcriber = Arc::new(f);
    }

    /// The language `verbose_json` reports when the request names none (default `english`).
    pub fn set_detected_language(&self, name: &str) {
        lock(&self.state).detected_language = name.to_string();
    }

    /// Queue a fault: the next transcription request that has no earlier fault waiting gets it.
    pub fn push_fault(&self, fault: Fault) {
        lock(&self.state).faults.push_back(fault);
    }

    /// Every transcription request, oldest first, whatever it was answered.
    pub fn requests(&self) -> Vec<TranscriptionRequest> {
        lock(&self.state).requests.clone()
    }

    /// Queue the answer to a later chat completion (answered in order).
    pub fn push_chat_reply(&self, reply: ChatReply) {
        lock(&self.state).chat_replies.push_back(reply);
    }

    /// The JSON body of every chat completion request, oldest first (authorised or not; a body
    /// that is not JSON is kept as a JSON string).
    pub fn chat_requests(&self) -> Vec<Value> {
        lock(&self.state).chat_requests.clone()
    }
}

// ---------------------------------------------------------------------------
// Audio measurement, shared with the other speech fakes
// ---------------------------------------------------------------------------

/// The container an audio file's first bytes show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AudioKind {
    Mp3,
    Wav,
    Flac,
    Ogg,
    Unknown,
}

/// What [`inspect_audio`] could read from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioFacts {
    pub kind: AudioKind,
    /// None when the file is of its kind but cannot be read (truncated header, no frames).
    pub duration_secs: Option<f64>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
    /// WAV: bits per sample; FLAC: bits per sample from STREAMINFO.
    pub bits_per_sample: Option<u16>,
    /// WAV: 1 for PCM. FLAC and MP3: None.
    pub wav_format_tag: Option<u16>,
}

/// Sniff `bytes` (MP3 with or without an ID3v2 tag, RIFF/WAVE, fLaC, OggS) and read its length:
/// MP3 by demuxing every frame with symphonia, WAV from its `fmt ` and `data` chunks, FLAC from
/// STREAMINFO's total sample count.
pub fn inspect_audio(bytes: &[u8]) -> AudioFacts {
    let unknown = |kind| AudioFacts {
        kind,
        duration_secs: None,
        sample_rate: None,
        channels: None,
        bits_per_sample: None,
        wav_format_tag: None,
    };
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE" {
        return inspect_wav(bytes).unwrap_or_else(|| unknown(AudioKind::Wav));
    }
    if bytes.starts_with(b"fLaC") {
        return inspect_flac(bytes).unwrap_or_else(|| unknown(AudioKind::Flac));
    }
    if bytes.starts_with(b"OggS") {
        return unknown(AudioKind::Ogg);
    }
    if bytes.starts_with(b"ID3") || (bytes.len() >= 2 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0) {
        return match mp3_duration(bytes) {
            Some((secs, rate, channels)) => AudioFacts {
                kind: AudioKind::Mp3,
                duration_secs: Some(secs),
                sample_rate: Some(rate),
                channels: Some(channels),
                bits_per_sample: None,
                wav_format_tag: None,
            },
            None => unknown(AudioKind::Mp3),
        };
    }
    unknown(AudioKind::Unknown)
}

fn mp3_duration(bytes: &[u8]) -> Option<(f64, u32, u16)> {
    use symphonia::core::errors::Error;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;

    let source = MediaSourceStream::new(Box::new(Cursor::new(bytes.to_vec())), Default::default());
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let probed = symphonia::default::get_probe()
        .format(&hint, source, &FormatOptions::default(), &MetadataOptions::default())
        .ok()?;
    let mut format = probed.format;
    let track = format.default_track()?.clone();
    let rate = track.codec_params.sample_rate?;
    let channels = track.codec_params.channels.map(|c| c.count() as u16).unwrap_or(1);
    let mut samples = 0u64;
    let mut packets = 0u64;
    loop {
        match format.next_packet() {
            Ok(p) if p.track_id() == track.id => {
                samples += p.dur;
                packets += 1;
            }
            Ok(_) => {}
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(Error::ResetRequired) => break,
            Err(_) => return None,
        }
    }
    if packets == 0 || rate == 0 {
        return None;
    }
    Some((samples as f64 / f64::from(rate), rate, channels))
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn inspect_wav(bytes: &[u8]) -> Option<AudioFacts> {
    let mut at = 12;
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    let mut data_len: Option<usize> = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = le32(bytes, at + 4)? as usize;
        let body = at + 8;
        if id == b"fmt " {
            fmt = Some((
                le16(bytes, body)?,
                le16(bytes, body + 2)?,
                le32(bytes, body + 4)?,
                le16(bytes, body + 14)?,
            ));
        } else if id == b"data" {
            // A streamed WAV may say 0 or 0xFFFFFFFF: take what is there.
            let available = bytes.len() - body;
            data_len = Some(if len == 0 || len > available { available } else { len });
            break;
        }
        at = body + len + (len & 1);
    }
    let (tag, channels, rate, bits) = fmt?;
    let data_len = data_len?;
    let bytes_per_second = u64::from(rate) * u64::from(channels) * u64::from(bits.div_ceil(8));
    let duration = if bytes_per_second == 0 {
        None
    } else {
        Some(data_len as f64 / bytes_per_second as f64)
    };
    Some(AudioFacts {
        kind: AudioKind::Wav,
        duration_secs: duration,
        sample_rate: Some(rate),
        channels: Some(channels),
        bits_per_sample: Some(bits),
        wav_format_tag: Some(tag),
    })
}

fn inspect_flac(bytes: &[u8]) -> Option<AudioFacts> {
    // The first metadata block must be STREAMINFO (type 0, 34 bytes).
    let header = bytes.get(4..8)?;
    if header[0] & 0x7F != 0 {
        return None;
    }
    let info = bytes.get(8..8 + 34)?;
    let rate = (u32::from(info[10]) << 12) | (u32::from(info[11]) << 4) | (u32::from(info[12]) >> 4);
    let channels = u16::from((info[12] >> 1) & 0x07) + 1;
    let bits = ((u16::from(info[12] & 0x01) << 4) | u16::from(info[13] >> 4)) + 1;
    let total = (u64::from(info[13] & 0x0F) << 32)
        | (u64::from(info[14]) << 24)
        | (u64::from(info[15]) << 16)
        | (u64::from(info[16]) << 8)
        | u64::from(info[17]);
    let duration = if rate == 0 || total == 0 {
        None
    } else {
        Some(total as f64 / f64::from(rate))
    };
    Some(AudioFacts {
        kind: AudioKind::Flac,
        duration_secs: duration,
        sample_rate: Some(rate),
        channels: Some(channels),
        bits_per_sample: Some(bits),
        wav_format_tag: None,
    })
}

/// `text` cut into `parts` runs of whole words (fewer when it has fewer words; one empty run for
/// an empty text), each laid over an equal share of `duration` seconds: `(start, end, words)`.
pub fn spread_words(text: &str, duration: f64, parts: usize) -> Vec<(f64, f64, Vec<String>)> {
    let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    let parts = parts.clamp(1, words.len().max(1));
    let per = words.len().div_ceil(parts).max(1);
    let chunks: Vec<Vec<String>> = if words.is_empty() {
        vec![Vec::new()]
    } else {
        words.chunks(per).map(<[String]>::to_vec).collect()
    };
    let n = chunks.len() as f64;
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, w)| {
            (
                round2(duration * i as f64 / n),
                round2(duration * (i as f64 + 1.0) / n),
                w,
            )
        })
        .collect()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

// ---------------------------------------------------------------------------
// HTTP handling
// ---------------------------------------------------------------------------

fn error_body(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
}

fn error(status: u16, message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(error_body(message, kind, param, code))).into_response()
}

fn bad_request(message: &str, param: Option<&str>, code: Option<&str>) -> Response {
    error(400, message, "invalid_request_error", param, code)
}

fn no_key() -> Response {
    error(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        None,
        None,
    )
}

fn wrong_key(sent: &str) -> Response {
    let masked = if sent.chars().count() > 8 {
        let head: String = sent.chars().take(3).collect();
        let tail: String = sent
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("{head}*********{tail}")
    } else {
        "*****".to_string()
    };
    error(
        401,
        &format!(
            "Incorrect API key provided: {masked}. You can find your API key at https://platform.openai.com/account/api-keys."
        ),
        "invalid_request_error",
        None,
        Some("invalid_api_key"),
    )
}

/// None when the request carries the right bearer key, else the 401 to answer.
fn check_auth(req_headers: &axum::http::HeaderMap, api_key: &str) -> Option<Response> {
    let value = req_headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let Some(value) = value else {
        return Some(no_key());
    };
    let Some(key) = value.strip_prefix("Bearer ").map(str::trim) else {
        return Some(no_key());
    };
    if key.is_empty() {
        return Some(no_key());
    }
    if key != api_key {
        return Some(wrong_key(key));
    }
    None
}

fn fault_response(fault: &Fault, model: &str) -> Option<Response> {
    let mut resp = match fault {
        Fault::RateLimited {
            retry_after,
            retry_after_ms,
        } => {
            let mut resp = error(
                429,
                &format!(
                    "Rate limit reached for {model} in organization org-fake on requests per min (RPM): Limit 50, Used 50, Requested 1. Please try again in 1.2s. Visit https://platform.openai.com/account/rate-limits to learn more."
                ),
                "requests",
                None,
                Some("rate_limit_exceeded"),
            );
            let h = resp.headers_mut();
            for (name, value) in [
                ("retry-after", retry_after.as_deref()),
                ("retry-after-ms", retry_after_ms.as_deref()),
                ("x-ratelimit-limit-requests", Some("50")),
                ("x-ratelimit-remaining-requests", Some("0")),
                ("x-ratelimit-reset-requests", Some("1.2s")),
                ("x-ratelimit-limit-tokens", Some("150000")),
                ("x-ratelimit-remaining-tokens", Some("149000")),
                ("x-ratelimit-reset-tokens", Some("6m0s")),
            ] {
                if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
                    h.insert(name, v);
                }
            }
            resp
        }
        Fault::InsufficientQuota => error(
            429,
            "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
            "insufficient_quota",
            None,
            Some("insufficient_quota"),
        ),
        Fault::Server(code) => {
            let message = match code {
                500 => "The server had an error while processing your request. Sorry about that!",
                502 => "Bad gateway.",
                503 => "The server is overloaded or not ready yet.",
                504 => "Gateway timeout.",
                _ => "The server had an error processing your request.",
            };
            error(*code, message, "server_error", None, None)
        }
        Fault::Unauthorized => wrong_key("sk-revoked-key-0000"),
        Fault::BadRequest(message) => bad_request(message, None, None),
        Fault::Hang(_) => return None,
    };
    add_request_id(&mut resp);
    Some(resp)
}

fn add_request_id(resp: &mut Response) {
    let id = format!("req_{:032x}", uuid::Uuid::new_v4().as_u128());
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
}

async fn handle(State(state): State<Shared>, req: Request) -> Response {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let mut resp = match (req.method().clone(), path.as_str()) {
        (Method::POST, "/v1/audio/transcriptions") => transcriptions(state, req).await,
        (Method::POST, "/v1/chat/completions") => chat(state, req).await,
        (_, "/v1/audio/transcriptions" | "/v1/chat/completions") => error(
            405,
            &format!("Method {} not allowed", req.method()),
            "invalid_request_error",
            None,
            None,
        ),
        (method, _) => error(
            404,
            &format!("Invalid URL ({method} {path})"),
            "invalid_request_error",
            None,
            None,
        ),
    };
    if !resp.headers().contains_key("x-request-id") {
        add_request_id(&mut resp);
    }
    resp
}

#[derive(Default)]
struct Upload {
    filename: Option<String>,
    content_type: Option<String>,
    bytes: Vec<u8>,
}

#[derive(Default)]
struct Form {
    parsed: bool,
    file: Option<Upload>,
    fields: Vec<(String, String)>,
}

impl Form {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

async fn read_form(req: Request) -> Form {
    let mut form = Form::default();
    let Ok(mut multipart) = Multipart::from_request(req, &()).await else {
        return form;
    };
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                if name == "file" {
                    let filename = field.file_name().map(str::to_string);
                    let content_type = field.content_type().map(str::to_string);
                    match field.bytes().await {
                        Ok(bytes) => {
                            form.file = Some(Upload {
                                filename,
                                content_type,
                                bytes: bytes.to_vec(),
                            })
                        }
                        Err(_) => return form,
                    }
                } else {
                    match field.text().await {
                        Ok(text) => form.fields.push((name, text)),
                        Err(_) => return form,
                    }
                }
            }
            Ok(None) => break,
            Err(_) => return form,
        }
    }
    form.parsed = true;
    form
}

fn language_name(code: &str) -> Option<&'static str> {
    const NAMES: [(&str, &str); 24] = [
        ("en", "english"),
        ("fr", "french"),
        ("es", "spanish"),
        ("de", "german"),
        ("it", "italian"),
        ("pt", "portuguese"),
        ("nl", "dutch"),
        ("ru", "russian"),
        ("zh", "chinese"),
        ("ja", "japanese"),
        ("ko", "korean"),
        ("ar", "arabic"),
        ("hi", "hindi"),
        ("pl", "polish"),
        ("tr", "turkish"),
        ("uk", "ukrainian"),
        ("vi", "vietnamese"),
        ("sv", "swedish"),
        ("he", "hebrew"),
        ("el", "greek"),
        ("fa", "persian"),
        ("ro", "romanian"),
        ("tl", "tagalog"),
        ("ht", "haitian creole"),
    ];
    NAMES.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

fn extension(filename: &str) -> Option<String> {
    let (stem, ext) = filename.rsplit_once('.')?;
    if stem.is_empty() && !filename.starts_with('.') {
        return None;
    }
    Some(ext.to_ascii_lowercase())
}

fn format_error() -> Response {
    let list = FORMATS.iter().map(|f| format!("'{f}'")).collect::<Vec<_>>().join(", ");
    bad_request(&format!("Invalid file format. Supported formats: [{list}]"), None, None)
}

async fn transcriptions(state: Shared, req: Request) -> Response {
    let headers = req.headers().clone();
    let form = read_form(req).await;
    let file_len = form.file.as_ref().map_or(0, |f| f.bytes.len());
    let record = TranscriptionRequest {
        model: form.get("model").map(str::to_string),
        response_format: form.get("response_format").map(str::to_string),
        filename: form.file.as_ref().and_then(|f| f.filename.clone()),
        content_type: form.file.as_ref().and_then(|f| f.content_type.clone()),
        file_len,
        language: form.get("language").map(str::to_string),
        prompt: form.get("prompt").map(str::to_string),
        timestamp_granularities: form.all("timestamp_granularities[]"),
        extra: form
            .fields
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "model" | "response_format" | "language" | "prompt" | "timestamp_granularities[]"
                )
            })
            .cloned()
            .collect(),
        audio_secs: None,
        status: 0,
    };
    let index = {
        let mut st = lock(&state);
        st.requests.push(record);
        st.requests.len() - 1
    };
    let (resp, audio_secs) = transcribe(&state, &headers, form).await;
    let mut st = lock(&state);
    if let Some(r) = st.requests.get_mut(index) {
        r.status = resp.status().as_u16();
        r.audio_secs = audio_secs;
    }
    resp
}

/// Whether `model` takes `format` (`None` = the default, `json`).
fn format_allowed(model: &str, format: &str) -> bool {
    match model {
        "whisper-1" => matches!(format, "json" | "text" | "srt" | "verbose_json" | "vtt"),
        DIARIZE_MODEL => matches!(format, "json" | "text" | "diarized_json"),
        _ => format == "json",
    }
}

async fn transcribe(state: &Shared, headers: &axum::http::HeaderMap, form: Form) -> (Response, Option<f64>) {
    let model = form.get("model").unwrap_or_default().to_string();
    let fault = {
        let mut st = lock(state);
        if let Some(resp) = check_auth(headers, &st.api_key) {
            return (resp, None);
        }
        st.faults.pop_front()
    };
    if let Some(fault) = &fault {
        if let Fault::Hang(d) = fault {
            tokio::time::sleep(*d).await;
        } else if let Some(resp) = fault_response(fault, if model.is_empty() { "whisper-1" } else { &model }) {
            return (resp, None);
        }
    }
    if !form.parsed {
        return (bad_request("Could not parse multipart form", None, None), None);
    }
    if model.is_empty() {
        return (bad_request("you must provide a model parameter", None, None), None);
    }
    if !MODELS.contains(&model.as_str()) {
        return (
            error(
                404,
                &format!("The model `{model}` does not exist or you do not have access to it."),
                "invalid_request_error",
                None,
                Some("model_not_found"),
            ),
            None,
        );
    }
    let Some(file) = &form.file else {
        return (
            bad_request(
                "1 validation error for Request\nbody -> file\n  field required (type=value_error.missing)",
                None,
                None,
            ),
            None,
        );
    };
    let ext = file.filename.as_deref().and_then(extension);
    if !ext.as_deref().is_some_and(|e| FORMATS.contains(&e)) {
        return (format_error(), None);
    }
    let content_type_ok = file.content_type.as_deref().is_some_and(|ct| {
        let ct = ct.to_ascii_lowercase();
        ct.starts_with("audio/") || ct.starts_with("video/") || ct.starts_with("application/octet-stream")
    });
    if !content_type_ok {
        return (
            bad_request(
                &format!(
                    "Invalid content type {:?} for the 'file' part: send the audio as audio/* (or application/octet-stream).",
                    file.content_type.as_deref().unwrap_or("")
                ),
                Some("file"),
                Some("invalid_value"),
            ),
            None,
        );
    }
    if file.bytes.len() > MAX_FILE_BYTES {
        return (
            error(
                413,
                &format!(
                    "Maximum content size limit ({MAX_FILE_BYTES}) exceeded ({} bytes read)",
                    file.bytes.len()
                ),
                "server_error",
                None,
                None,
            ),
            None,
        );
    }
    let format = form.get("response_format").unwrap_or("json").to_string();
    if !matches!(
        format.as_str(),
        "json" | "text" | "srt" | "verbose_json" | "vtt" | "diarized_json"
    ) {
        return (
            bad_request(
                &format!(
                    "'{format}' is not one of ['json', 'text', 'srt', 'verbose_json', 'vtt', 'diarized_json'] - 'response_format'"
                ),
                Some("response_format"),
                Some("invalid_value"),
            ),
            None,
        );
    }
    if !format_allowed(&model, &format) {
        let allowed = match model.as_str() {
            DIARIZE_MODEL => "'json', 'text' or 'diarized_json'",
            "whisper-1" => "'json', 'text', 'srt', 'verbose_json' or 'vtt'",
            _ => "'json'",
        };
        return (
            bad_request(
                &format!("response_format '{format}' is not compatible with model '{model}'. Use {allowed} instead."),
                Some("response_format"),
                Some("unsupported_value"),
            ),
            None,
        );
    }
    let granularities = form.all("timestamp_granularities[]");
    if !granularities.is_empty() && format != "verbose_json" {
        return (
            bad_request(
                "timestamp_granularities[] is only supported with response_format 'verbose_json'.",
                Some("timestamp_granularities"),
                Some("unsupported_value"),
            ),
            None,
        );
    }
    if let Some(bad) = granularities.iter().find(|g| !matches!(g.as_str(), "word" | "segment")) {
        return (
            bad_request(
                &format!("'{bad}' is not one of ['word', 'segment'] - 'timestamp_granularities.0'"),
                Some("timestamp_granularities"),
                Some("invalid_value"),
            ),
            None,
        );
    }
    let language = form.get("language").filter(|l| !l.is_empty()).map(str::to_string);
    if let Some(code) = &language {
        if language_name(code).is_none() {
            return (
                bad_request(
                    &format!("Invalid language '{code}'. Language parameter must be specified in ISO-639-1 format."),
                    Some("language"),
                    Some("invalid_language_format"),
                ),
                None,
            );
        }
    }
    if let Some(t) = form.get("temperature") {
        if !t.parse::<f64>().is_ok_and(|t| (0.0..=1.0).contains(&t)) {
            return (
                bad_request(
                    &format!("Invalid 'temperature': {t}. Expected a number between 0 and 1."),
                    Some("temperature"),
                    Some("invalid_value"),
                ),
                None,
            );
        }
    }
    if model == DIARIZE_MODEL {
        if form.get("chunking_strategy").is_none() {
            return (
                bad_request(
                    "chunking_strategy is required for diarization models.",
                    Some("chunking_strategy"),
                    Some("missing_required_parameter"),
                ),
                None,
            );
        }
        if form.get("prompt").is_some() {
            return (
                bad_request(
                    "prompt is not supported for diarization models.",
                    Some("prompt"),
                    Some("unsupported_parameter"),
                ),
                None,
            );
        }
    }
    if form.get("stream") == Some("true") && model != "whisper-1" {
        return (
            bad_request(
                "fake OpenAI: stream=true is not modelled; send stream=false.",
                Some("stream"),
                None,
            ),
            None,
        );
    }

    // The audio itself.
    let facts = inspect_audio(&file.bytes);
    let ext = ext.unwrap_or_default();
    let readable_kind = matches!(facts.kind, AudioKind::Mp3 | AudioKind::Wav | AudioKind::Flac);
    let duration = if readable_kind {
        facts.duration_secs
    } else if matches!(ext.as_str(), "mp3" | "mpeg" | "mpga" | "wav" | "flac") || file.bytes.is_empty() {
        None
    } else {
        Some(file.bytes.len() as f64 / 16_000.0)
    };
    let Some(duration) = duration else {
        return (
            bad_request(
                "Audio file might be corrupted or unsupported",
                Some("file"),
                Some("invalid_value"),
            ),
            None,
        );
    };
    if duration < 0.1 {
        return (
            bad_request(
                "Audio file is too short. Minimum audio length is 0.1 seconds.",
                Some("file"),
                Some("audio_too_short"),
            ),
            Some(duration),
        );
    }

    let (text, detected) = {
        let mut st = lock(state);
        st.transcribed += 1;
        st.counter += 1;
        let seen = AudioSeen {
            index: st.transcribed,
            model: model.clone(),
            filename: file.filename.clone().unwrap_or_default(),
            bytes: Arc::new(file.bytes.clone()),
            duration_secs: duration,
            language: language.clone(),
            prompt: form.get("prompt").map(str::to_string),
        };
        let transcriber = st.transcriber.clone();
        drop(st);
        let text = transcriber(&seen);
        (text, lock(state).detected_language.clone())
    };
    let language_name = language
        .as_deref()
        .and_then(language_name)
        .map(str::to_string)
        .unwrap_or(detected);
    let resp = answer(&model, &format, &granularities, &text, duration, &language_name);
    (resp, Some(duration))
}

fn usage(model: &str, text: &str, duration: f64) -> Value {
    if model == "whisper-1" {
        json!({"type": "duration", "seconds": duration.ceil() as u64})
    } else {
        let audio_tokens = (duration * 10.0).ceil() as u64;
        let output_tokens = text.split_whitespace().count() as u64 * 4 / 3 + 1;
        json!({
            "type": "tokens",
            "input_tokens": audio_tokens,
            "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
            "output_tokens": output_tokens,
            "total_tokens": audio_tokens + output_tokens,
        })
    }
}

/// Segments over `duration`: one per started 10 s, at most one per word.
fn segments(text: &str, duration: f64) -> Vec<(f64, f64, String)> {
    let parts = (duration / 10.0).ceil().max(1.0) as usize;
    spread_words(text, duration, parts)
        .into_iter()
        .map(|(start, end, words)| (start, end, format!(" {}", words.join(" "))))
        .collect()
}

fn timestamp(secs: f64, decimal: char) -> String {
    let ms = (secs * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{decimal}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

fn plain(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn answer(model: &str, format: &str, granularities: &[String], text: &str, duration: f64, language: &str) -> Response {
    let segs = segments(text, duration);
    match format {
        "text" => plain(format!("{text}\n")),
        "srt" => {
            let mut out = String::new();
            for (i, (start, end, t)) in segs.iter().enumerate() {
                out.push_str(&format!(
                    "{}\n{} --> {}\n{}\n\n",
                    i + 1,
                    timestamp(*start, ','),
                    timestamp(*end, ','),
                    t.trim()
                ));
            }
            plain(out)
        }
        "vtt" => {
            let mut out = String::from("WEBVTT\n\n");
            for (start, end, t) in &segs {
                out.push_str(&format!(
                    "{} --> {}\n{}\n\n",
                    timestamp(*start, '.'),
                    timestamp(*end, '.'),
                    t.trim()
                ));
            }
            plain(out)
        }
        "verbose_json" => {
            let want_words = granularities.iter().any(|g| g == "word");
            let want_segments = granularities.is_empty() || granularities.iter().any(|g| g == "segment");
            let mut body = json!({
                "task": "transcribe",
                "language": language,
                "duration": duration,
                "text": text,
                "usage": usage(model, text, duration),
            });
            if want_segments {
                let mut token = 50_364u64;
                let list: Vec<Value> = segs
                    .iter()
                    .enumerate()
                    .map(|(i, (start, end, t))| {
                        let tokens: Vec<u64> = (0..=t.split_whitespace().count())
                            .map(|_| {
                                token += 1;
                                token % 50_000 + 200
                            })
                            .collect();
                        json!({
                            "id": i,
                            "seek": ((start / 30.0).floor() * 3000.0) as u64,
                            "start": start,
                            "end": end,
                            "text": t,
                            "tokens": tokens,
                            "temperature": 0.0,
                            "avg_logprob": -0.254_375,
                            "compression_ratio": 1.312_5,
                            "no_speech_prob": 0.012_5,
                        })
                    })
                    .collect();
                body["segments"] = Value::Array(list);
            }
            if want_words {
                let parts = text.split_whitespace().count();
                let words: Vec<Value> = spread_words(text, duration, parts)
                    .into_iter()
                    .filter(|(_, _, w)| !w.is_empty())
                    .map(|(start, end, w)| {
                        let word = w.join(" ");
                        let word = word.trim_matches(|c: char| c.is_ascii_punctuation());
                        json!({"word": word, "start": start, "end": end})
                    })
                    .collect();
                body["words"] = Value::Array(words);
            }
            (StatusCode::OK, Json(body)).into_response()
        }
        "diarized_json" => {
            let list: Vec<Value> = segs
                .iter()
                .enumerate()
                .map(|(i, (start, end, t))| {
                    json!({
                        "type": "transcript.text.segment",
                        "id": format!("seg_{i}"),
                        "start": start,
                        "end": end,
                        "text": t.trim(),
                        "speaker": if i % 2 == 0 { "A" } else { "B" },
                    })
                })
                .collect();
            let body = json!({
                "task": "transcribe",
                "duration": duration,
                "text": text,
                "segments": list,
                "usage": usage(model, text, duration),
            });
            (StatusCode::OK, Json(body)).into_response()
        }
        _ => (
            StatusCode::OK,
            Json(json!({"text": text, "usage": usage(model, text, duration)})),
        )
            .into_response(),
    }
}

async fn chat(state: Shared, req: Request) -> Response {
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
        .await
        .unwrap_or_default();
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let reply = {
        let mut st = lock(&state);
        st.chat_requests.push(
            parsed
                .clone()
                .unwrap_or_else(|| Value::String(String::from_utf8_lossy(&body).into_owned())),
        );
        if let Some(resp) = check_auth(&headers, &st.api_key) {
            return resp;
        }
        let Some(request) = parsed.as_ref().filter(|v| v.is_object()) else {
            return bad_request(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
                None,
                None,
            );
        };
        if request.get("model").and_then(Value::as_str).is_none_or(str::is_empty) {
            return bad_request("you must provide a model parameter", None, None);
        }
        if request
            .get("messages")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            return bad_request(
                "Missing required parameter: 'messages'.",
                Some("messages"),
                Some("missing_required_parameter"),
            );
        }
        st.counter += 1;
        st.chat_replies.pop_front()
    };
    let model = parsed
        .as_ref()
        .and_then(|v| v.get("model"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let prompt_chars: usize = parsed
        .as_ref()
        .and_then(|v| v.get("messages"))
        .map(|m| m.to_string().len())
        .unwrap_or(0);
    let mut reply = reply;
    if let Some(ChatReply::Fault(Fault::Hang(d))) = &reply {
        // A hung server: wait, then answer with the reply scripted after it.
        tokio::time::sleep(*d).await;
        reply = lock(&state).chat_replies.pop_front();
    }
    let (content, refusal) = match reply {
        None => {
            let mut resp = error(
                500,
                "fake OpenAI: no chat reply scripted (FakeOpenAi::push_chat_reply)",
                "server_error",
                None,
                None,
            );
            resp.headers_mut()
                .insert("x-should-retry", HeaderValue::from_static("false"));
            return resp;
        }
        Some(ChatReply::Status(code, body)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        }
        Some(ChatReply::Fault(fault)) => {
            return fault_response(&fault, &model)
                .unwrap_or_else(|| bad_request("fake OpenAI: two Hang replies in a row", None, None));
        }
        Some(ChatReply::Content(text)) => (Value::String(text), Value::Null),
        Some(ChatReply::Refusal(text)) => (Value::Null, Value::String(text)),
    };
    let completion_tokens = content
        .as_str()
        .or(refusal.as_str())
        .map_or(1, |t| t.len() as u64 / 4 + 1);
    let prompt_tokens = prompt_chars as u64 / 4 + 1;
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = chrono::Utc::now().timestamp();
    let body = json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": content,
                "refusal": refusal,
                "annotations": [],
            },
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_fake0001",
    });
    (StatusCode::OK, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_spread_over_the_duration() {
        let parts = spread_words("one two three four five", 10.0, 2);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], (0.0, 5.0, vec!["one".into(), "two".into(), "three".into()]));
        assert_eq!(parts[1], (5.0, 10.0, vec!["four".into(), "five".into()]));
        assert_eq!(spread_words("", 3.0, 4), vec![(0.0, 3.0, Vec::<String>::new())]);
        assert_eq!(spread_words("a b", 3.0, 9).len(), 2);
    }

    #[test]
    fn timestamps_for_subtitles() {
        assert_eq!(timestamp(3_723.456, ','), "01:02:03,456");
        assert_eq!(timestamp(0.0, '.'), "00:00:00.000");
    }

    #[test]
    fn extensions() {
        assert_eq!(extension("call.MP3").as_deref(), Some("mp3"));
        assert_eq!(extension("upload"), None);
        assert_eq!(extension("a.b.wav").as_deref(), Some("wav"));
    }
}
