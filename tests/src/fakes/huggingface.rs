//! A fake Hugging Face Inference API (the `hf-inference` provider behind the router) for
//! automatic speech recognition with Whisper models, for integration tests.
//!
//! Real HTTP on `127.0.0.1:<random port>`. `POST /hf-inference/models/{owner}/{model}` is the
//! current route; the legacy `/models/{id}` (the old serverless host's path) answers **410 Gone**.
//! It follows docs/providers.md ("Speech-to-text providers", Hugging Face). Choices made where
//! the contract is silent or **unconfirmed**:
//!
//! * **Models.** `openai/whisper-large-v3` and `openai/whisper-large-v3-turbo` are served unless
//!   changed ([`FakeHuggingFace::add_model`], [`FakeHuggingFace::remove_model`]); any other id is
//!   404 `{"error": "Model <id> does not exist"}`.
//! * **Order of checks:** recorded ([`FakeHuggingFace::requests`]), auth (401), model (404), an
//!   injected [`HfFault`], the body (content type, JSON shape, audio).
//! * **Body.** Raw bytes need `Content-Type: audio/*` or `application/octet-stream`; other types
//!   are a 400. JSON needs `inputs` (standard base64; a 422 with a **list** `error` when missing
//!   or not base64) and takes `parameters` with `return_timestamps`, `generation_parameters`,
//!   `generate_kwargs` or `chunk_length_s`; any other parameter is a 422 (list `error`), so a typo
//!   does not pass silently.
//! * **Audio.** MP3, WAV, FLAC and Ogg are recognised by their first bytes (not by the content
//!   type); anything else, or an empty body, is 400 with the pipeline's "Soundfile is either not
//!   in the correct format or is malformed" message. No size or length limit is modelled (the
//!   contract has none), up to the server's 64 MiB body limit.
//! * **Answer.** `{"text"}` with a leading space, as the Whisper pipeline writes it; with
//!   `return_timestamps`, `chunks` of `{text, timestamp: [start, end]}` over the measured length
//!   (one per started 10 s).
//! * **Errors** carry an `X-Error-Message` header with the same text as `error`.
//! * **`X-Wait-For-Model`** (`true` or `1`): a pending [`HfFault::Loading`] is used up at once and
//!   the request is answered normally after 50 ms, as if it had waited for the model.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};

use super::openai::{default_transcript, inspect_audio, spread_words, AudioKind, AudioSeen};

const BODY_LIMIT: usize = 64 * 1024 * 1024;
const LEGACY_GONE: &str = "https://api-inference.huggingface.co is no longer supported. Please use https://router.huggingface.co/hf-inference instead.";
const MALFORMED: &str = "Soundfile is either not in the correct format or is malformed. Ensure that the soundfile has a valid audio file extension (e.g. wav, flac or mp3) and is not corrupted. If reading from a remote URL, ensure that the URL is the full address to **download** the audio file.";

/// An injected failure ([`FakeHuggingFace::push_fault`]), used by requests in order.
#[derive(Clone, Debug, PartialEq)]
pub enum HfFault {
    /// 503 `{"error": "Model <id> is currently loading", "estimated_time": <f64>}` for the next
    /// `times` requests.
    Loading { estimated_time: f64, times: u32 },
    /// 429 with `Retry-After: <secs>`, `RateLimit: "api";r=0;t=<secs>` and
    /// `RateLimit-Policy: "fixed window";"api";q=1000;w=300`.
    RateLimited { retry_after_secs: u64 },
    /// This 5xx status with `{"error": "..."}` (no `estimated_time`).
    Server(u16),
    /// This status (400 or 422) with `{"error": message}`: input the model does not take.
    BadInput { status: u16, message: String },
    /// 401, whatever token was sent.
    Unauthorized,
    /// Sleep this long, then answer normally.
    Hang(Duration),
}

/// One request to the fake, whatever it answered.
#[derive(Clone, Debug, PartialEq)]
pub struct HfRequest {
    pub path: String,
    /// The model id from the path (`owner/name`), None for paths that name none.
    pub model: Option<String>,
    pub content_type: Option<String>,
    /// True for a JSON body (`inputs` + `parameters`).
    pub json: bool,
    /// Bytes of audio (decoded from `inputs` for JSON).
    pub audio_len: usize,
    pub parameters: Option<Value>,
    /// The `X-Wait-For-Model` header was `true` or `1`.
    pub wait_for_model: bool,
    pub audio_secs: Option<f64>,
    pub status: u16,
}

type Transcriber = Arc<dyn Fn(&AudioSeen) -> String + Send + Sync>;

struct Inner {
    token: String,
    models: BTreeSet<String>,
    transcriber: Transcriber,
    faults: VecDeque<HfFault>,
    requests: Vec<HfRequest>,
    transcribed: usize,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(state: &Shared) -> MutexGuard<'_, Inner> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The fake Hugging Face router. Dropping it stops the server.
pub struct FakeHuggingFace {
    state: Shared,
    addr: SocketAddr,
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for FakeHuggingFace {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl FakeHuggingFace {
    /// Bind `127.0.0.1:0` and serve, accepting `Authorization: Bearer <token>`.
    pub async fn start(token: &str) -> Self {
        let state: Shared = Arc::new(Mutex::new(Inner {
            token: token.to_string(),
            models: ["openai/whisper-large-v3", "openai/whisper-large-v3-turbo"]
                .into_iter()
                .map(str::to_string)
                .collect(),
            transcriber: Arc::new(default_transcript),
            faults: VecDeque::new(),
            requests: Vec::new(),
            transcribed: 0,
        }));
        let app = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake hugging face: bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("fake hugging face: local_addr of bound listener");
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeHuggingFace { state, addr, handle }
    }

    /// `http://127.0.0.1:PORT`, standing for `https://router.huggingface.co`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `{base}/hf-inference/models/{model_id}`, where clients POST.
    pub fn model_url(&self, model_id: &str) -> String {
        format!("{}/hf-inference/models/{model_id}", self.base_url())
    }

    /// `{base}/models/{model_id}`: the legacy path, which answers 410.
    pub fn legacy_url(&self, model_id: &str) -> String {
        format!("{}/models/{model_id}", self.base_url())
    }

    /// Serve `model_id` too.
    pub fn add_model(&self, model_id: &str) {
        lock(&self.state).models.insert(model_id.to_string());
    }

    /// Stop serving `model_id` (404 from then on).
    pub fn remove_model(&self, model_id: &str) {
        lock(&self.state).models.remove(model_id);
    }

    /// Answer every later transcription with `text` (sent with a leading space).
    pub fn set_transcript(&self, text: &str) {
        let text = text.to_string();
        lock(&self.state).transcriber = Arc::new(move |_| text.clone());
    }

    /// Answer every later transcription with `f(request)`; `model` is the model id, `filename`
    /// is `""`.
    pub fn set_transcriber(&self, f: impl Fn(&AudioSeen) -> String + Send + Sync + 'static) {
        lock(&self.state).transcriber = Arc::new(f);
    }

    /// Queue a fault for the next requests to a served model.
    pub fn push_fault(&self, fault: HfFault) {
        lock(&self.state).faults.push_back(fault);
    }

    /// Every request, oldest first.
    pub fn requests(&self) -> Vec<HfRequest> {
        lock(&self.state).requests.clone()
    }
}

// ---------------------------------------------------------------------------
// HTTP handling
// ---------------------------------------------------------------------------

fn hf_error(status: u16, error: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let text = match &error {
        Value::String(s) => s.clone(),
        Value::Array(list) => list
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    };
    let mut resp = (status, Json(json!({ "error": error }))).into_response();
    if let Ok(v) = HeaderValue::from_str(&text.replace(['\r', '\n'], " ")) {
        resp.headers_mut().insert("x-error-message", v);
    }
    resp
}

fn fault_response(fault: &HfFault, model: &str) -> Option<Response> {
    Some(match fault {
        HfFault::Loading { estimated_time, .. } => {
            let message = format!("Model {model} is currently loading");
            let mut resp = (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": message, "estimated_time": estimated_time})),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&message) {
                resp.headers_mut().insert("x-error-message", v);
            }
            resp
        }
        HfFault::RateLimited { retry_after_secs } => {
            let mut resp = hf_error(
                429,
                json!("Rate limit reached. You reached free usage limit (reset hourly). Please subscribe to a plan at https://huggingface.co/pricing to use the API at this rate"),
            );
            let h = resp.headers_mut();
            for (name, value) in [
                ("retry-after", retry_after_secs.to_string()),
                ("ratelimit", format!("\"api\";r=0;t={retry_after_secs}")),
                ("ratelimit-policy", "\"fixed window\";\"api\";q=1000;w=300".to_string()),
            ] {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    h.insert(name, v);
                }
            }
            resp
        }
        HfFault::Server(code) => {
            let message = match code {
                500 => "Internal Server Error",
                502 => "Bad Gateway",
                503 => "Service Unavailable",
                504 => "Gateway Timeout",
                _ => "Server Error",
            };
            hf_error(*code, json!(message))
        }
        HfFault::BadInput { status, message } => hf_error(*status, json!(message)),
        HfFault::Unauthorized => unauthorized(),
        HfFault::Hang(_) => return None,
    })
}

fn unauthorized() -> Response {
    hf_error(401, json!("Invalid credentials in Authorization header"))
}

/// Take the fault for this request. A `Loading` stays at the front until used `times` times;
/// with `wait_for_model` it is dropped at once (the request waited it out).
fn take_fault(st: &mut Inner, wait_for_model: bool) -> Option<HfFault> {
    loop {
        match st.faults.front_mut() {
            Some(HfFault::Loading { .. }) if wait_for_model => {
                st.faults.pop_front();
                return Some(HfFault::Hang(Duration::from_millis(50)));
            }
            Some(HfFault::Loading { times, .. }) if *times == 0 => {
                st.faults.pop_front();
            }
            Some(HfFault::Loading { estimated_time, times }) => {
                *times -= 1;
                let fault = HfFault::Loading {
                    estimated_time: *estimated_time,
                    times: 1,
                };
                if *times == 0 {
                    st.faults.pop_front();
                }
                return Some(fault);
            }
            _ => return st.faults.pop_front(),
        }
    }
}

async fn handle(State(state): State<Shared>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let headers = req.headers().clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let wait_for_model = headers
        .get("x-wait-for-model")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    let model = path
        .strip_prefix("/hf-inference/models/")
        .or_else(|| path.strip_prefix("/models/"))
        .map(|m| m.trim_end_matches('/').to_string())
        .filter(|m| !m.is_empty());
    let body = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
        .await
        .unwrap_or_default();
    let index = {
        let mut st = lock(&state);
        st.requests.push(HfRequest {
            path: path.clone(),
            model: model.clone(),
            content_type: content_type.clone(),
            json: false,
            audio_len: 0,
            parameters: None,
            wait_for_model,
            audio_secs: None,
            status: 0,
        });
        st.requests.len() - 1
    };
    let (resp, json_body, audio_len, parameters, audio_secs) = answer(
        &state,
        &path,
        &headers,
        model.as_deref(),
        content_type.as_deref(),
        &body,
        wait_for_model,
    )
    .await;
    let mut st = lock(&state);
    if let Some(r) = st.requests.get_mut(index) {
        r.status = resp.status().as_u16();
        r.json = json_body;
        r.audio_len = audio_len;
        r.parameters = parameters;
        r.audio_secs = audio_secs;
    }
    resp
}

type Answer = (Response, bool, usize, Option<Value>, Option<f64>);

async fn answer(
    state: &Shared,
    path: &str,
    headers: &axum::http::HeaderMap,
    model: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
    wait_for_model: bool,
) -> Answer {
    let plain = |resp| (resp, false, 0, None, None);
    if path.starts_with("/models/") {
        return plain(hf_error(410, json!(LEGACY_GONE)));
    }
    let Some(model) = model.filter(|_| path.starts_with("/hf-inference/models/")) else {
        return plain(hf_error(404, json!("Not Found")));
    };
    let fault = {
        let mut st = lock(state);
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if token != Some(st.token.as_str()) {
            return plain(unauthorized());
        }
        if !st.models.contains(model) {
            return plain(hf_error(404, json!(format!("Model {model} does not exist"))));
        }
        take_fault(&mut st, wait_for_model)
    };
    match &fault {
        Some(HfFault::Hang(d)) => tokio::time::sleep(*d).await,
        Some(f) => {
            if let Some(resp) = fault_response(f, model) {
                return plain(resp);
            }
        }
        None => {}
    }

    let ct = content_type.unwrap_or_default().to_ascii_lowercase();
    let is_json = ct.starts_with("application/json");
    let (audio, parameters) = if is_json {
        let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(body) else {
            return (
                hf_error(422, json!(["Error in `inputs`: the body is not a JSON object"])),
                true,
                0,
                None,
                None,
            );
        };
        let parameters = request.get("parameters").cloned();
        let fail = |resp| (resp, true, 0, parameters.clone(), None);
        if let Some(extra) = request.keys().find(|k| !matches!(k.as_str(), "inputs" | "parameters")) {
            return fail(hf_error(422, json!([format!("Error in `{extra}`: unknown field")])));
        }
        match &parameters {
            None | Some(Value::Null) => {}
            Some(Value::Object(p)) => {
                for (k, v) in p {
                    let ok = match k.as_str() {
                        "return_timestamps" => v.is_boolean(),
                        "generation_parameters" | "generate_kwargs" => v.is_object(),
                        "chunk_length_s" => v.is_number(),
                        _ => {
                            return fail(hf_error(
                                422,
                                json!([format!("Error in `parameters`: unknown field `{k}`")]),
                            ))
                        }
                    };
                    if !ok {
                        return fail(hf_error(
                            422,
                            json!([format!("Error in `parameters.{k}`: invalid type {v}")]),
                        ));
                    }
                }
            }
            Some(_) => return fail(hf_error(422, json!(["Error in `parameters`: expected an object"]))),
        }
        let Some(inputs) = request.get("inputs").and_then(Value::as_str) else {
            return fail(hf_error(422, json!(["Error in `inputs`: field required"])));
        };
        let Ok(audio) = base64::engine::general_purpose::STANDARD.decode(inputs.trim()) else {
            return fail(hf_error(
                422,
                json!(["Error in `inputs`: expected base64-encoded audio"]),
            ));
        };
        (audio, parameters)
    } else if ct.starts_with("audio/") || ct.starts_with("application/octet-stream") {
        (body.to_vec(), None)
    } else {
        return plain(hf_error(
            400,
            json!(format!(
                "Content type \"{}\" not supported. Send raw audio (audio/*) or application/json.",
                content_type.unwrap_or_default()
            )),
        ));
    };
    let audio_len = audio.len();
    let fail = |resp, secs| (resp, is_json, audio_len, parameters.clone(), secs);
    let facts = inspect_audio(&audio);
    let duration = match facts.kind {
        AudioKind::Mp3 | AudioKind::Wav | AudioKind::Flac => facts.duration_secs,
        AudioKind::Ogg => Some(audio.len() as f64 / 16_000.0),
        AudioKind::Unknown => None,
    };
    let Some(duration) = duration.filter(|d| *d > 0.0) else {
        return fail(hf_error(400, json!(MALFORMED)), None);
    };
    let (transcriber, seen) = {
        let mut st = lock(state);
        st.transcribed += 1;
        let seen = AudioSeen {
            index: st.transcribed,
            model: model.to_string(),
            filename: String::new(),
            bytes: Arc::new(audio),
            duration_secs: duration,
            language: None,
            prompt: None,
        };
        (st.transcriber.clone(), seen)
    };
    let text = transcriber(&seen);
    let spaced = if text.is_empty() {
        String::new()
    } else {
        format!(" {}", text.trim_start())
    };
    let mut out = json!({ "text": spaced });
    let timestamps = parameters
        .as_ref()
        .and_then(|p| p.get("return_timestamps"))
        .and_then(Value::as_bool)
        == Some(true);
    if timestamps {
        let parts = (duration / 10.0).ceil().max(1.0) as usize;
        let chunks: Vec<Value> = spread_words(&text, duration, parts)
            .into_iter()
            .filter(|(_, _, w)| !w.is_empty())
            .map(|(start, end, w)| json!({"text": format!(" {}", w.join(" ")), "timestamp": [start, end]}))
            .collect();
        out["chunks"] = Value::Array(chunks);
    }
    fail((StatusCode::OK, Json(out)).into_response(), Some(duration))
}
