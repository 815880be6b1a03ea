//! A fake Google Cloud Speech-to-Text **v1** REST API, with the OAuth token endpoint a
//! service account signs in at, for integration tests.
//!
//! Real HTTP on `127.0.0.1:<random port>`: `POST /token` (the service account's `token_uri`),
//! `POST /v1/speech:recognize`, `POST /v1/speech:longrunningrecognize` and
//! `GET /v1/operations/{name}`. It follows docs/providers.md ("Speech-to-text providers", Google).
//! Choices made where the contract is silent or **unconfirmed**:
//!
//! * **Key.** Each fake generates its own RSA 2048 key with aws-lc-rs (no `rsa` crate) and hands
//!   it out in [`FakeGoogleSpeech::service_account_json`] as a PKCS#8 PEM, like a downloaded key.
//! * **Token endpoint.** Errors are Google's OAuth shape `{"error", "error_description"}` with
//!   400: `unsupported_grant_type`, `invalid_request` (no assertion, not a form),
//!   `invalid_grant` ("Invalid JWT Signature." for a bad signature, an `alg` other than RS256 or
//!   a `kid` other than the key's id; "account not found" for another `iss`; a failed audience
//!   check when `aud` is neither this fake's token URL nor Google's canonical
//!   `https://oauth2.googleapis.com/token`, which Google's own Python library always sends; the "short-lived token" message when `exp <= iat`, `exp > iat + 3600`, `exp` in the
//!   past or `iat` more than 60 s in the future) and `invalid_scope` for an empty `scope`. Any
//!   scope is granted, as Google does; the Speech calls then need `cloud-platform` among them.
//! * **Auth on the API.** No credentials at all: 403 `PERMISSION_DENIED` ("unregistered
//!   callers"), what googleapis.com answers. A bearer token the fake never issued, or one made
//!   stale by [`FakeGoogleSpeech::expire_tokens`] or by time: 401 `UNAUTHENTICATED` with
//!   `WWW-Authenticate`. A token without the cloud-platform scope: 403 `PERMISSION_DENIED`
//!   (`ACCESS_TOKEN_SCOPE_INSUFFICIENT`). A `key=` query parameter: 400 `API_KEY_INVALID` (the fake
//!   knows no API keys).
//! * **Order of checks** for recognize: recorded ([`FakeGoogleSpeech::requests`]), auth, an
//!   injected [`SpeechFault`], body size, JSON shape (unknown fields by camelCase or proto
//!   name), `audio` (exactly one of `content`/`uri`), `config` (encoding, sample rate, language,
//!   model), then the audio (format against encoding, header against config, channels, length).
//! * **Size.** The whole request body (base64 included) over 10,485,760 bytes is a 400, the
//!   stricter reading of "10 MB".
//! * **Encodings.** LINEAR16 (WAV or raw; raw needs `sampleRateHertz`), FLAC, MULAW (raw 8-bit, or
//!   WAV) and unspecified with a WAV/FLAC header are modelled. `MP3` (not in v1) and unknown names
//!   get the JSON-mapping error Google gives for a bad enum value. The other v1 encodings (AMR,
//!   AMR_WB, OGG_OPUS, SPEEX_WITH_HEADER_BYTE, WEBM_OPUS) are valid but not modelled: 400 saying so.
//! * **Channels.** A WAV or FLAC with more channels than `audioChannelCount` (default 1) is a 400
//!   ("Must use single channel (mono) audio..."), as v1 does.
//! * **Answer.** The transcript is cut into one result per sentence, spread over the audio, each
//!   with one alternative (`transcript`, `confidence`, and `words` with `enableWordTimeOffsets`,
//!   word `confidence` with `enableWordConfidence`). `languageCode` is the request's, lower case.
//!   `totalBilledTime` is the length rounded up to a whole second. Durations are proto3 JSON
//!   strings: `"2s"`, `"1.500s"`. No speech (an empty transcript or
//!   [`FakeGoogleSpeech::set_silence`]) answers no `results` key at all.
//! * **Long-running.** The POST answers `{"name"}` only. Polls before the operation is done: 1 by
//!   default ([`FakeGoogleSpeech::set_operation_polls`]); while running, `done` is absent (proto3
//!   JSON leaves out `false`). Inline audio over 1 minute: 400 "Inline audio exceeds duration
//!   limit. Please use a GCS URI." A `gs://` URI must name an object added with
//!   [`FakeGoogleSpeech::add_gcs_object`], else 404 `NOT_FOUND`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair as _;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::openai::{default_transcript, inspect_audio, spread_words, AudioKind, AudioSeen};

/// The scope the Speech API needs.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The largest request body `speech:recognize` takes.
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;
/// The longest audio `speech:recognize` takes, and inline audio `longrunningrecognize` takes.
pub const MAX_SYNC_SECS: f64 = 60.0;
const BODY_LIMIT: usize = 64 * 1024 * 1024;
const TOKEN_LIFETIME_SECS: u64 = 3599;
/// Audiences Google's token endpoint answers to besides the URL it was called at: Google's own
/// libraries always put the canonical one in `aud`, whatever the key's `token_uri` says.
const GOOGLE_TOKEN_AUDIENCES: [&str; 2] = [
    "https://oauth2.googleapis.com/token",
    "https://www.googleapis.com/oauth2/v4/token",
];
const SYNC_TOO_LONG: &str =
    "Sync input too long. For audio longer than 1 min use LongRunningRecognize with a 'uri' parameter.";

/// An injected failure for one recognize or longrunningrecognize request
/// ([`FakeGoogleSpeech::push_fault`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpeechFault {
    /// 429 `RESOURCE_EXHAUSTED` (per-minute quota), with `ErrorInfo` reason `RATE_LIMIT_EXCEEDED`.
    ResourceExhausted,
    /// 500 `INTERNAL`, 503 `UNAVAILABLE`, 504 `DEADLINE_EXCEEDED` (other codes: `UNKNOWN`).
    Server(u16),
    /// 403 `PERMISSION_DENIED`: the API is disabled for the project (`SERVICE_DISABLED`).
    PermissionDenied,
    /// Sleep this long, then answer normally.
    Hang(Duration),
    /// Long-running only: accept, then end the operation with this `error` (`code` is a
    /// google.rpc.Code number, e.g. 3 INVALID_ARGUMENT, 13 INTERNAL).
    OperationError { code: i32, message: String },
}

/// One recognize or longrunningrecognize request as the fake saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecognizeRequest {
    /// `recognize` or `longrunningrecognize`.
    pub method: String,
    /// `config` as sent (`Value::Null` when missing or the body was not JSON).
    pub config: Value,
    /// The `gs://` URI, when the audio came by reference.
    pub uri: Option<String>,
    /// Bytes of audio (decoded `content`, or the GCS object).
    pub audio_len: usize,
    /// The audio's length as the fake measured it.
    pub audio_secs: Option<f64>,
    /// The HTTP status the fake answered.
    pub status: u16,
}

type Transcriber = Arc<dyn Fn(&AudioSeen) -> String + Send + Sync>;

struct Token {
    scopes: Vec<String>,
    expires: Instant,
    valid: bool,
}

struct Operation {
    polls_left: u32,
    result: Result<Value, (i32, String)>,
    uri: Option<String>,
    started: String,
}

struct Inner {
    client_email: String,
    key_id: String,
    public_key: Vec<u8>,
    token_url: String,
    tokens: HashMap<String, Token>,
    token_requests: usize,
    transcriber: Transcriber,
    silence: bool,
    faults: VecDeque<SpeechFault>,
    requests: Vec<RecognizeRequest>,
    transcribed: usize,
    gcs: HashMap<String, Vec<u8>>,
    operations: HashMap<String, Operation>,
    operation_polls: u32,
    counter: u64,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(state: &Shared) -> MutexGuard<'_, Inner> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The fake Google Speech-to-Text server (and token endpoint). Dropping it stops the server.
pub struct FakeGoogleSpeech {
    state: Shared,
    addr: SocketAddr,
    private_key_pem: String,
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGoogleSpeech {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// `der` as a PEM block with 64-character lines.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

impl FakeGoogleSpeech {
    /// Generate a service-account key, bind `127.0.0.1:0` and serve.
    pub async fn start() -> Self {
        let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .expect("fake google: generate an RSA 2048 key");
        let pkcs8 = key.as_der().expect("fake google: PKCS#8 of the key");
        let private_key_pem = pem("PRIVATE KEY", pkcs8.as_ref());
        let public_key = key.public_key().as_ref().to_vec();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake google: bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("fake google: local_addr of bound listener");
        let key_id = format!("{:040x}", uuid::Uuid::new_v4().as_u128());
        let state: Shared = Arc::new(Mutex::new(Inner {
            client_email: "pedro-transcriber@pedro-voip-test.iam.gserviceaccount.com".to_string(),
            key_id,
            public_key,
            token_url: format!("http://{addr}/token"),
            tokens: HashMap::new(),
            token_requests: 0,
            transcriber: Arc::new(default_transcript),
            silence: false,
            faults: VecDeque::new(),
            requests: Vec::new(),
            transcribed: 0,
            gcs: HashMap::new(),
            operations: HashMap::new(),
            operation_polls: 1,
            counter: 0,
        }));
        let app = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(state.clone());
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeGoogleSpeech {
            state,
            addr,
            private_key_pem,
            handle,
        }
    }

    /// `http://127.0.0.1:PORT`: the API is at `{base}/v1/speech:recognize` and so on.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/token`, the `token_uri` of the key and the JWT's `aud`.
    pub fn token_url(&self) -> String {
        lock(&self.state).token_url.clone()
    }

    /// The service account's e-mail (the JWT's `iss`).
    pub fn client_email(&self) -> String {
        lock(&self.state).client_email.clone()
    }

    /// The key's PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), as in the JSON key file.
    pub fn private_key_pem(&self) -> String {
        self.private_key_pem.clone()
    }

    /// The content of a service-account key file for this fake: `type: service_account`,
    /// `project_id`, `private_key_id`, `private_key` (PKCS#8 PEM, RSA 2048), `client_email`,
    /// `client_id`, `auth_uri`, `token_uri` (this fake's), and the certificate URLs.
    pub fn service_account_json(&self) -> String {
        let st = lock(&self.state);
        let key = json!({
            "type": "service_account",
            "project_id": "pedro-voip-test",
            "private_key_id": st.key_id,
            "private_key": self.private_key_pem,
            "client_email": st.client_email,
            "client_id": "104242424242424242424",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": st.token_url,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": format!(
                "https://www.googleapis.com/robot/v1/metadata/x509/{}",
                st.client_email.replace('@', "%40")
            ),
            "universe_domain": "googleapis.com",
        });
        serde_json::to_string_pretty(&key).unwrap_or_default()
    }

    /// Every POST to the token endpoint, refused ones included.
    pub fn token_requests(&self) -> usize {
        lock(&self.state).token_requests
    }

    /// Make every token issued so far invalid (401 on use), as if it had expired.
    pub fn expire_tokens(&self) {
        for token in lock(&self.state).tokens.values_mut() {
            token.valid = false;
        }
    }

    /// Answer every later recognition with `text`.
    pub fn set_transcript(&self, text: &str) {
        let text = text.to_string();
        lock(&self.state).transcriber = Arc::new(move |_| text.clone());
    }

    /// Answer every later recognition with `f(request)`: `language` is the `languageCode`,
    /// `model` the config's `model` (or `default`), `filename` the `gs://` URI or `""`.
    pub fn set_transcriber(&self, f: impl Fn(&AudioSeen) -> String + Send + Sync + 'static) {
        lock(&self.state).transcriber = Arc::new(f);
    }

    /// When true, recognitions find no speech: the answer has no `results`.
    pub fn set_silence(&self, silence: bool) {
        lock(&self.state).silence = silence;
    }

    /// Queue a fault for the next recognize or longrunningrecognize request.
    pub fn push_fault(&self, fault: SpeechFault) {
        lock(&self.state).faults.push_back(fault);
    }

    /// Every recognize and longrunningrecognize request, oldest first.
    pub fn requests(&self) -> Vec<RecognizeRequest> {
        lock(&self.state).requests.clone()
    }

    /// Store `bytes` as the Cloud Storage object `uri` (`gs://bucket/object`).
    pub fn add_gcs_object(&self, uri: &str, bytes: Vec<u8>) {
        lock(&self.state).gcs.insert(uri.to_string(), bytes);
    }

    /// How many polls of a new operation answer "not done" before the one that is done
    /// (default 1).
    pub fn set_operation_polls(&self, polls: u32) {
        lock(&self.state).operation_polls = polls;
    }
}

/// `seconds` of silent 16-bit PCM mono WAV at `rate` Hz (a 44-byte header, then zeros).
pub fn wav_silence(seconds: f64, rate: u32) -> Vec<u8> {
    wav_silence_channels(seconds, rate, 1)
}

/// [`wav_silence`] with `channels` interleaved channels.
pub fn wav_silence_channels(seconds: f64, rate: u32, channels: u16) -> Vec<u8> {
    let frames = (seconds * f64::from(rate)).round().max(0.0) as u32;
    let data_len = frames * u32::from(channels) * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    out.extend_from_slice(&(channels * 2).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.resize(44 + data_len as usize, 0);
    out
}

/// A FLAC stream that has only its `fLaC` marker and STREAMINFO block (no audio frames): enough
/// for anything that reads the header, as this fake does, to find `seconds` at `rate` Hz.
pub fn flac_header(seconds: f64, rate: u32, channels: u8) -> Vec<u8> {
    let total = (seconds * f64::from(rate)).round().max(0.0) as u64;
    let mut out = b"fLaC".to_vec();
    out.extend_from_slice(&[0x80, 0, 0, 34]); // last block, STREAMINFO, 34 bytes
    out.extend_from_slice(&4096u16.to_be_bytes()); // min block size
    out.extend_from_slice(&4096u16.to_be_bytes()); // max block size
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // min/max frame size unknown
    let bits = 16u64 - 1;
    let packed: u64 =
        (u64::from(rate) << 44) | ((u64::from(channels.max(1)) - 1) << 41) | (bits << 36) | (total & 0xF_FFFF_FFFF);
    out.extend_from_slice(&packed.to_be_bytes());
    out.extend_from_slice(&[0; 16]); // MD5 unknown
    out
}

// ---------------------------------------------------------------------------
// HTTP handling
// ---------------------------------------------------------------------------

/// A proto3 JSON duration: `"2s"`, `"1.500s"`.
pub fn proto_duration(secs: f64) -> String {
    let ms = (secs.max(0.0) * 1000.0).round() as u64;
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{}.{:03}s", ms / 1000, ms % 1000)
    }
}

fn status_name(code: u16) -> &'static str {
    match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        501 => "NOT_IMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

fn google_error(code: u16, message: &str, details: Vec<Value>) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({"error": {
        "code": code,
        "message": message,
        "status": status_name(code),
        "details": details,
    }});
    (status, Json(body)).into_response()
}

fn error_info(reason: &str, method: &str) -> Value {
    json!({
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {
            "service": "speech.googleapis.com",
            "method": format!("google.cloud.speech.v1.{method}"),
        },
    })
}

fn invalid(message: &str) -> Response {
    google_error(400, message, Vec::new())
}

fn bad_field(field: &str, description: &str) -> Response {
    google_error(
        400,
        description,
        vec![json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": field, "description": description}],
        })],
    )
}

fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn handle(State(state): State<Shared>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    match (req.method().clone(), path.as_str()) {
        (Method::POST, "/token") => token(state, req).await,
        (Method::POST, "/v1/speech:recognize") => recognize(state, req, false).await,
        (Method::POST, "/v1/speech:longrunningrecognize") => recognize(state, req, true).await,
        (Method::GET, p) if p.starts_with("/v1/operations/") => {
            let name = p.trim_start_matches("/v1/operations/").to_string();
            poll(state, req, &name)
        }
        _ => google_error(
            404,
            &format!("The requested URL {path} was not found on this server."),
            Vec::new(),
        ),
    }
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

fn b64url_json(part: &str) -> Option<Value> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

const SHORT_LIVED: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";

async fn token(state: Shared, req: Request) -> Response {
    lock(&state).token_requests += 1;
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let body = axum::body::to_bytes(req.into_body(), 1024 * 1024)
        .await
        .unwrap_or_default();
    if !is_form {
        return oauth_error(
            "invalid_request",
            "Invalid request: the body must be application/x-www-form-urlencoded.",
        );
    }
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let grant_type = get("grant_type").unwrap_or_default();
    if grant_type != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return oauth_error("unsupported_grant_type", &format!("Invalid grant_type: {grant_type}"));
    }
    let Some(assertion) = get("assertion").filter(|a| !a.is_empty()) else {
        return oauth_error("invalid_request", "Missing required parameter: assertion");
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    let [head, claims_part, signature] = parts.as_slice() else {
        return oauth_error("invalid_grant", "Invalid JWT: malformed token.");
    };
    let (Some(jwt_header), Some(claims)) = (b64url_json(head), b64url_json(claims_part)) else {
        return oauth_error("invalid_grant", "Invalid JWT: malformed token.");
    };
    let (email, key_id, public_key, token_url) = {
        let st = lock(&state);
        (
            st.client_email.clone(),
            st.key_id.clone(),
            st.public_key.clone(),
            st.token_url.clone(),
        )
    };
    if jwt_header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return oauth_error("invalid_grant", "Invalid JWT Signature.");
    }
    if let Some(kid) = jwt_header.get("kid") {
        if kid.as_str() != Some(key_id.as_str()) {
            return oauth_error("invalid_grant", "Invalid JWT Signature.");
        }
    }
    let Ok(sig) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature.trim_end_matches('=')) else {
        return oauth_error("invalid_grant", "Invalid JWT Signature.");
    };
    let message = format!("{head}.{claims_part}");
    let verifier =
        aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256, &public_key);
    if verifier.verify(message.as_bytes(), &sig).is_err() {
        return oauth_error("invalid_grant", "Invalid JWT Signature.");
    }
    if claims.get("iss").and_then(Value::as_str) != Some(email.as_str()) {
        return oauth_error("invalid_grant", "Invalid grant: account not found");
    }
    let aud = claims.get("aud").and_then(Value::as_str).unwrap_or_default();
    if aud != token_url && !GOOGLE_TOKEN_AUDIENCES.contains(&aud) {
        return oauth_error(
            "invalid_grant",
            &format!("Invalid JWT: Failed audience check. The right audience is {token_url}"),
        );
    }
    let (Some(iat), Some(exp)) = (
        claims.get("iat").and_then(Value::as_i64),
        claims.get("exp").and_then(Value::as_i64),
    ) else {
        return oauth_error("invalid_grant", SHORT_LIVED);
    };
    let now = now_secs();
    if exp <= iat || exp > iat + 3600 || exp <= now || iat > now + 60 {
        return oauth_error("invalid_grant", SHORT_LIVED);
    }
    let scopes: Vec<String> = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if scopes.is_empty() {
        return oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.");
    }
    let access_token = format!("ya29.c.fake-{}", uuid::Uuid::new_v4().simple());
    lock(&state).tokens.insert(
        access_token.clone(),
        Token {
            scopes,
            expires: Instant::now() + Duration::from_secs(TOKEN_LIFETIME_SECS),
            valid: true,
        },
    );
    (
        StatusCode::OK,
        Json(json!({
            "access_token": access_token,
            "expires_in": TOKEN_LIFETIME_SECS,
            "token_type": "Bearer",
        })),
    )
        .into_response()
}

/// None when the request carries a live token with the cloud-platform scope.
fn check_auth(st: &Inner, req_headers: &axum::http::HeaderMap, query: Option<&str>, method: &str) -> Option<Response> {
    let bearer = req_headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let Some(bearer) = bearer else {
        let has_key = query.is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "key"));
        if has_key {
            return Some(google_error(
                400,
                "API key not valid. Please pass a valid API key.",
                vec![error_info("API_KEY_INVALID", method)],
            ));
        }
        return Some(google_error(
            403,
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
            vec![error_info("CREDENTIALS_MISSING", method)],
        ));
    };
    let live = st.tokens.get(bearer).filter(|t| t.valid && t.expires > Instant::now());
    let Some(token) = live else {
        let mut resp = google_error(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
            vec![error_info(
                if st.tokens.contains_key(bearer) {
                    "ACCESS_TOKEN_EXPIRED"
                } else {
                    "ACCESS_TOKEN_TYPE_UNSUPPORTED"
                },
                method,
            )],
        );
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\""),
        );
        return Some(resp);
    };
    if !token.scopes.iter().any(|s| s == CLOUD_PLATFORM_SCOPE) {
        return Some(google_error(
            403,
            "Request had insufficient authentication scopes.",
            vec![error_info("ACCESS_TOKEN_SCOPE_INSUFFICIENT", method)],
        ));
    }
    None
}

fn fault_response(fault: &SpeechFault, method: &str) -> Option<Response> {
    Some(match fault {
        SpeechFault::ResourceExhausted => google_error(
            429,
            "Quota exceeded for quota metric 'Recognize requests' and limit 'Recognize requests per minute' of service 'speech.googleapis.com' for consumer 'project_number:424242424242'.",
            vec![error_info("RATE_LIMIT_EXCEEDED", method)],
        ),
        SpeechFault::Server(code) => {
            let message = match code {
                500 => "Internal error encountered.",
                503 => "The service is currently unavailable.",
                504 => "Deadline expired before operation could complete.",
                _ => "Unknown error.",
            };
            google_error(*code, message, Vec::new())
        }
        SpeechFault::PermissionDenied => google_error(
            403,
            "Cloud Speech-to-Text API has not been used in project 424242424242 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/speech.googleapis.com/overview?project=424242424242 then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.",
            vec![error_info("SERVICE_DISABLED", method)],
        ),
        SpeechFault::Hang(_) | SpeechFault::OperationError { .. } => return None,
    })
}

const CONFIG_FIELDS: [&str; 20] = [
    "encoding",
    "sampleRateHertz",
    "audioChannelCount",
    "enableSeparateRecognitionPerChannel",
    "languageCode",
    "alternativeLanguageCodes",
    "maxAlternatives",
    "profanityFilter",
    "adaptation",
    "transcriptNormalization",
    "speechContexts",
    "enableWordTimeOffsets",
    "enableWordConfidence",
    "enableAutomaticPunctuation",
    "enableSpokenPunctuation",
    "enableSpokenEmojis",
    "diarizationConfig",
    "metadata",
    "model",
    "useEnhanced",
];

const ENCODINGS: [&str; 9] = [
    "ENCODING_UNSPECIFIED",
    "LINEAR16",
    "FLAC",
    "MULAW",
    "AMR",
    "AMR_WB",
    "OGG_OPUS",
    "SPEEX_WITH_HEADER_BYTE",
    "WEBM_OPUS",
];

const MODELS: [&str; 8] = [
    "latest_long",
    "latest_short",
    "command_and_search",
    "phone_call",
    "video",
    "default",
    "medical_conversation",
    "medical_dictation",
];

/// `language_code` → `languageCode`: proto3 JSON takes both spellings.
fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `object` with its keys in camelCase.
fn normalise(object: &Map<String, Value>) -> Map<String, Value> {
    object.iter().map(|(k, v)| (camel(k), v.clone())).collect()
}

fn unknown_field(name: &str, at: Option<&str>) -> Response {
    let message = match at {
        Some(at) => format!("Invalid JSON payload received. Unknown name \"{name}\" at '{at}': Cannot find field."),
        None => format!("Invalid JSON payload received. Unknown name \"{name}\": Cannot find field."),
    };
    let field = at.map_or(name.to_string(), |at| format!("{at}.{name}"));
    bad_field(&field, &message)
}

/// What a validated request will be answered with.
struct Accepted {
    config: Map<String, Value>,
    bytes: Arc<Vec<u8>>,
    uri: Option<String>,
    duration: f64,
}

fn bad_encoding() -> Response {
    invalid("Invalid recognition 'config': bad encoding..")
}

/// A refused request: the answer to give, and what was learnt of it for the record.
struct Rejected {
    resp: Response,
    config: Value,
    audio_len: usize,
    audio_secs: Option<f64>,
}

impl Rejected {
    fn new(resp: Response, config: Value, audio_len: usize, audio_secs: Option<f64>) -> Box<Self> {
        Box::new(Rejected {
            resp,
            config,
            audio_len,
            audio_secs,
        })
    }
}

/// The checks common to recognize and longrunningrecognize.
fn validate(st: &Inner, body: &[u8], long_running: bool) -> Result<Accepted, Box<Rejected>> {
    let fail = |resp| Err(Rejected::new(resp, Value::Null, 0, None));
    if body.len() > MAX_REQUEST_BYTES {
        return fail(invalid(&format!(
            "Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes."
        )));
    }
    let Ok(Value::Object(root)) = serde_json::from_slice::<Value>(body) else {
        return fail(invalid("Invalid JSON payload received. Unexpected token."));
    };
    let root = normalise(&root);
    if let Some(name) = root.keys().find(|k| !matches!(k.as_str(), "config" | "audio")) {
        return fail(unknown_field(name, None));
    }
    let config = match root.get("config") {
        Some(Value::Object(c)) => normalise(c),
        _ => Map::new(),
    };
    let config_value = Value::Object(config.clone());
    let fail = |resp| Err(Rejected::new(resp, config_value.clone(), 0, None));
    if let Some(name) = config.keys().find(|k| !CONFIG_FIELDS.contains(&k.as_str())) {
        return fail(unknown_field(name, Some("config")));
    }
    let audio = match root.get("audio") {
        Some(Value::Object(a)) => normalise(a),
        _ => Map::new(),
    };
    if let Some(name) = audio.keys().find(|k| !matches!(k.as_str(), "content" | "uri")) {
        return fail(unknown_field(name, Some("audio")));
    }
    let (bytes, uri) = match (audio.get("content"), audio.get("uri")) {
        (Some(_), Some(_)) => {
            return fail(bad_field(
                "audio",
                "Invalid JSON payload received. Oneof field 'audio_source' is already set. Cannot set 'uri'",
            ))
        }
        (None, None) => return fail(invalid("RecognitionAudio not set.")),
        (Some(content), None) => {
            let text = content.as_str().unwrap_or_default();
            let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            let trimmed = cleaned.trim_end_matches('=');
            let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(trimmed)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed));
            match decoded {
                Ok(b) if content.is_string() => (b, None),
                _ => {
                    let shown: String = text.chars().take(40).collect();
                    return fail(bad_field(
                        "audio.content",
                        &format!(
                            "Invalid value at 'audio.content' (TYPE_BYTES), Base64 decoding failed for \"{shown}\""
                        ),
                    ));
                }
            }
        }
        (None, Some(uri)) => {
            let uri = uri.as_str().unwrap_or_default().to_string();
            if !uri.starts_with("gs://") || uri.len() <= 5 {
                return fail(invalid(
                    "Invalid recognition 'audio': the uri must be a Cloud Storage URI of the form gs://bucket_name/object_name.",
                ));
            }
            match st.gcs.get(&uri) {
                Some(b) => (b.clone(), Some(uri)),
                None => return fail(google_error(404, "Requested entity was not found.", Vec::new())),
            }
        }
    };
    let audio_len = bytes.len();
    let fail = |resp| Err(Rejected::new(resp, config_value.clone(), audio_len, None));

    // config
    let encoding = match config.get("encoding") {
        None | Some(Value::Null) => "ENCODING_UNSPECIFIED".to_string(),
        Some(Value::String(s)) if ENCODINGS.contains(&s.as_str()) => s.clone(),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n <= 9 && n != 8) => {
            let n = n.as_u64().unwrap_or(0) as usize;
            ENCODINGS[if n == 9 { 8 } else { n }].to_string()
        }
        Some(other) => {
            let shown = match other {
                Value::String(s) => format!("\"{s}\""),
                v => v.to_string(),
            };
            return fail(bad_field(
                "config.encoding",
                &format!(
                    "Invalid value at 'config.encoding' (type.googleapis.com/google.cloud.speech.v1.RecognitionConfig.AudioEncoding), {shown}"
                ),
            ));
        }
    };
    let rate = match config.get("sampleRateHertz") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())) {
            Some(0) => None,
            Some(r) if (8000..=48000).contains(&r) => Some(r as u32),
            _ => {
                return fail(invalid(
                    "Invalid recognition 'config': sample_rate_hertz must be between 8000 and 48000.",
                ))
            }
        },
    };
    let channel_count = config
        .get("audioChannelCount")
        .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
        .filter(|&c| c > 0)
        .unwrap_or(1);
    let language = config.get("languageCode").and_then(Value::as_str).unwrap_or_default();
    let language_ok = !language.is_empty()
        && language.len() <= 35
        && language
            .split('-')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if !language_ok {
        return fail(invalid(if language.is_empty() {
            "Invalid recognition 'config': missing language_code."
        } else {
            "Invalid recognition 'config': bad language code."
        }));
    }
    if let Some(model) = config.get("model").and_then(Value::as_str) {
        if !MODELS.contains(&model) {
            return fail(invalid(&format!(
                "Invalid recognition 'config': the model \"{model}\" is not supported."
            )));
        }
    }
    if config
        .get("alternativeLanguageCodes")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() > 3)
    {
        return fail(invalid(
            "Invalid recognition 'config': at most 3 alternative_language_codes are allowed.",
        ));
    }
    if config
        .get("maxAlternatives")
        .and_then(Value::as_u64)
        .is_some_and(|m| m > 30)
    {
        return fail(invalid(
            "Invalid recognition 'config': max_alternatives must be between 0 and 30.",
        ));
    }

    // The audio against the config.
    let facts = inspect_audio(&bytes);
    let header_name = match facts.kind {
        AudioKind::Wav => "WAV",
        AudioKind::Flac => "FLAC",
        _ => "",
    };
    let duration = match encoding.as_str() {
        "ENCODING_UNSPECIFIED" | "LINEAR16" | "FLAC" | "MULAW" => {
            let has_header = matches!(facts.kind, AudioKind::Wav | AudioKind::Flac);
            let header_fits = match (encoding.as_str(), facts.kind) {
                ("ENCODING_UNSPECIFIED", AudioKind::Wav) => matches!(facts.wav_format_tag, Some(1 | 7)),
                ("ENCODING_UNSPECIFIED", AudioKind::Flac) => true,
                ("LINEAR16", AudioKind::Wav) => facts.wav_format_tag == Some(1),
                ("MULAW", AudioKind::Wav) => facts.wav_format_tag == Some(7),
                ("FLAC", AudioKind::Flac) => true,
                ("LINEAR16" | "MULAW", AudioKind::Unknown) => true,
                _ => false,
            };
            if !header_fits {
                return fail(bad_encoding());
            }
            if has_header {
                if let (Some(asked), Some(found)) = (rate, facts.sample_rate) {
                    if asked != found {
                        return fail(invalid(&format!(
                            "sample_rate_hertz ({asked}) in RecognitionConfig must either be unspecified or match the value in the {header_name} header ({found})."
                        )));
                    }
                }
                let channels = u64::from(facts.channels.unwrap_or(1));
                if channels > channel_count {
                    return fail(invalid(&format!(
                        "Must use single channel (mono) audio, but {header_name} header indicates {channels} channels."
                    )));
                }
                match facts.duration_secs {
                    Some(d) => d,
                    None => return fail(bad_encoding()),
                }
            } else {
                let Some(rate) = rate else {
                    return fail(invalid(&format!(
                        "Invalid recognition 'config': sample_rate_hertz is required for {encoding} audio without a WAV header."
                    )));
                };
                let width = if encoding == "LINEAR16" { 2.0 } else { 1.0 };
                bytes.len() as f64 / (f64::from(rate) * channel_count as f64 * width)
            }
        }
        other => {
            return fail(invalid(&format!(
            "fake Google Speech: encoding {other} is valid in v1 but not modelled by this fake; send LINEAR16 or FLAC."
        )))
        }
    };
    let fail_measured = |resp| Err(Rejected::new(resp, config_value.clone(), audio_len, Some(duration)));
    if duration > MAX_SYNC_SECS {
        if !long_running {
            return fail_measured(invalid(SYNC_TOO_LONG));
        }
        if uri.is_none() {
            return fail_measured(invalid("Inline audio exceeds duration limit. Please use a GCS URI."));
        }
        if duration > 480.0 * 60.0 {
            return fail_measured(invalid("Audio exceeds duration limit of 480 minutes."));
        }
    }
    Ok(Accepted {
        config,
        bytes: Arc::new(bytes),
        uri,
        duration,
    })
}

/// The `RecognizeResponse` (or `LongRunningRecognizeResponse` body) for `text` over `duration`.
fn recognize_body(config: &Map<String, Value>, text: &str, duration: f64, request_id: u64) -> Value {
    let mut body = Map::new();
    let sentences: Vec<String> = split_sentences(text);
    if !sentences.is_empty() {
        let language = config
            .get("languageCode")
            .and_then(Value::as_str)
            .unwrap_or("en-US")
            .to_ascii_lowercase();
        let with_words = config.get("enableWordTimeOffsets").and_then(Value::as_bool) == Some(true);
        let word_confidence = config.get("enableWordConfidence").and_then(Value::as_bool) == Some(true);
        let n = sentences.len() as f64;
        let results: Vec<Value> = sentences
            .iter()
            .enumerate()
            .map(|(i, sentence)| {
                let start = duration * i as f64 / n;
                let end = duration * (i as f64 + 1.0) / n;
                let mut alternative = json!({"transcript": sentence, "confidence": 0.92});
                if with_words {
                    let count = sentence.split_whitespace().count();
                    let words: Vec<Value> = spread_words(sentence, end - start, count)
                        .into_iter()
                        .filter(|(_, _, w)| !w.is_empty())
                        .map(|(s, e, w)| {
                            let mut word = json!({
                                "startTime": proto_duration(start + s),
                                "endTime": proto_duration(start + e),
                                "word": w.join(" "),
                            });
                            if word_confidence {
                                word["confidence"] = json!(0.9);
                            }
                            word
                        })
                        .collect();
                    alternative["words"] = Value::Array(words);
                }
                json!({
                    "alternatives": [alternative],
                    "resultEndTime": proto_duration(end),
                    "languageCode": language,
                })
            })
            .collect();
        body.insert("results".into(), Value::Array(results));
    }
    body.insert("totalBilledTime".into(), json!(proto_duration(duration.ceil())));
    body.insert("requestId".into(), json!(request_id.to_string()));
    Value::Object(body)
}

/// Sentences of `text` (ending at `.`, `?` or `!`), with a space in front of every one after the
/// first, as Google's results read when joined.
fn split_sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        current.push(c);
        if matches!(c, '.' | '?' | '!') {
            out.push(std::mem::take(&mut current));
        }
    }
    out.push(current);
    let mut sentences: Vec<String> = out
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    for s in sentences.iter_mut().skip(1) {
        s.insert(0, ' ');
    }
    sentences
}

async fn recognize(state: Shared, req: Request, long_running: bool) -> Response {
    let method = if long_running {
        "Speech.LongRunningRecognize"
    } else {
        "Speech.Recognize"
    };
    let headers = req.headers().clone();
    let query = req.uri().query().map(str::to_string);
    let body = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
        .await
        .unwrap_or_default();
    let index = {
        let mut st = lock(&state);
        st.requests.push(RecognizeRequest {
            method: if long_running {
                "longrunningrecognize"
            } else {
                "recognize"
            }
            .to_string(),
            config: Value::Null,
            uri: None,
            audio_len: 0,
            audio_secs: None,
            status: 0,
        });
        st.requests.len() - 1
    };
    let finish = |resp: Response, config: Value, uri: Option<String>, len: usize, secs: Option<f64>| {
        let mut st = lock(&state);
        if let Some(r) = st.requests.get_mut(index) {
            r.status = resp.status().as_u16();
            r.config = config;
            r.uri = uri;
            r.audio_len = len;
            r.audio_secs = secs;
        }
        resp
    };
    let fault = {
        let mut st = lock(&state);
        if let Some(resp) = check_auth(&st, &headers, query.as_deref(), method) {
            drop(st);
            return finish(resp, Value::Null, None, 0, None);
        }
        st.faults.pop_front()
    };
    let mut operation_error = None;
    match &fault {
        Some(SpeechFault::Hang(d)) => tokio::time::sleep(*d).await,
        Some(SpeechFault::OperationError { code, message }) if long_running => {
            operation_error = Some((*code, message.clone()));
        }
        Some(f) => {
            if let Some(resp) = fault_response(f, method) {
                return finish(resp, Value::Null, None, 0, None);
            }
        }
        None => {}
    }
    let validated = validate(&lock(&state), &body, long_running);
    let accepted = match validated {
        Ok(a) => a,
        Err(r) => {
            let r = *r;
            return finish(r.resp, r.config, None, r.audio_len, r.audio_secs);
        }
    };
    let (transcriber, seen, silence, request_id) = {
        let mut st = lock(&state);
        st.transcribed += 1;
        st.counter += 1;
        let seen = AudioSeen {
            index: st.transcribed,
            model: accepted
                .config
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string(),
            filename: accepted.uri.clone().unwrap_or_default(),
            bytes: accepted.bytes.clone(),
            duration_secs: accepted.duration,
            language: accepted
                .config
                .get("languageCode")
                .and_then(Value::as_str)
                .map(str::to_string),
            prompt: None,
        };
        let request_id = 7_000_000_000_000_000_000u64 + st.counter;
        (st.transcriber.clone(), seen, st.silence, request_id)
    };
    let text = if silence { String::new() } else { transcriber(&seen) };
    let result_body = recognize_body(&accepted.config, &text, accepted.duration, request_id);
    let config = Value::Object(accepted.config.clone());
    let (len, secs) = (accepted.bytes.len(), Some(accepted.duration));
    if !long_running {
        let resp = (StatusCode::OK, Json(result_body)).into_response();
        return finish(resp, config, accepted.uri, len, secs);
    }
    let name = request_id.to_string();
    {
        let mut st = lock(&state);
        let polls = st.operation_polls;
        st.operations.insert(
            name.clone(),
            Operation {
                polls_left: polls,
                result: match operation_error {
                    Some(e) => Err(e),
                    None => Ok(result_body),
                },
                uri: accepted.uri.clone(),
                started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            },
        );
    }
    let resp = (StatusCode::OK, Json(json!({ "name": name }))).into_response();
    finish(resp, config, accepted.uri, len, secs)
}

fn poll(state: Shared, req: Request, name: &str) -> Response {
    let mut st = lock(&state);
    if let Some(resp) = check_auth(&st, req.headers(), req.uri().query(), "Operations.GetOperation") {
        return resp;
    }
    let Some(op) = st.operations.get_mut(name) else {
        return google_error(404, "Requested entity was not found.", Vec::new());
    };
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut metadata = json!({
        "@type": "type.googleapis.com/google.cloud.speech.v1.LongRunningRecognizeMetadata",
        "startTime": op.started,
        "lastUpdateTime": now,
    });
    if let Some(uri) = &op.uri {
        metadata["uri"] = json!(uri);
    }
    if op.polls_left > 0 {
        op.polls_left -= 1;
        metadata["progressPercent"] = json!(50);
        return (StatusCode::OK, Json(json!({"name": name, "metadata": metadata}))).into_response();
    }
    metadata["progressPercent"] = json!(100);
    let mut body = json!({"name": name, "metadata": metadata, "done": true});
    match &op.result {
        Ok(result) => {
            let mut response = json!({
                "@type": "type.googleapis.com/google.cloud.speech.v1.LongRunningRecognizeResponse",
            });
            if let (Value::Object(r), Value::Object(src)) = (&mut response, result) {
                for (k, v) in src {
                    r.insert(k.clone(), v.clone());
                }
            }
            body["response"] = response;
        }
        Err((code, message)) => {
            body["error"] = json!({"code": code, "message": message, "details": []});
        }
    }
    (StatusCode::OK, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_proto3_json_writes_them() {
        assert_eq!(proto_duration(1.5), "1.500s");
        assert_eq!(proto_duration(2.0), "2s");
        assert_eq!(proto_duration(0.0), "0s");
        assert_eq!(proto_duration(61.25), "61.250s");
    }

    #[test]
    fn generated_headers_read_back() {
        let wav = inspect_audio(&wav_silence(2.5, 16_000));
        assert_eq!(wav.kind, AudioKind::Wav);
        assert_eq!(wav.duration_secs, Some(2.5));
        assert_eq!(wav.sample_rate, Some(16_000));
        let flac = inspect_audio(&flac_header(75.0, 8_000, 2));
        assert_eq!(flac.kind, AudioKind::Flac);
        assert_eq!(flac.duration_secs, Some(75.0));
        assert_eq!(flac.sample_rate, Some(8_000));
        assert_eq!(flac.channels, Some(2));
        assert_eq!(flac.bits_per_sample, Some(16));
    }

    #[test]
    fn sentences() {
        assert_eq!(
            split_sentences("Hello there. Call me back! Thanks"),
            vec!["Hello there.", " Call me back!", " Thanks"]
        );
        assert!(split_sentences("  ").is_empty());
        assert_eq!(camel("language_code"), "languageCode");
        assert_eq!(camel("languageCode"), "languageCode");
    }
}
