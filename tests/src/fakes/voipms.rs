//! A fake VoIP.ms REST/JSON API (`/api/v1/rest.php`) for integration tests.
//!
//! Real HTTP on `127.0.0.1:<random port>`. It follows
//! `docs/providers.md` (VoIP.ms). Where the contract marks a detail as
//! **unconfirmed**, the choice made here is written in the doc comment of the
//! item that implements it. The main ones:
//!
//! * **Transport.** GET with a query string and POST `multipart/form-data` are
//!   accepted. A POST `application/x-www-form-urlencoded` gets a bare HTTP 500, as
//!   the contract reports of the real API. Query and body parameters are merged
//!   and the body wins, like PHP's `$_REQUEST`. When a key repeats, the last value
//!   wins. An unparsable body counts as "no parameters", so the answer is
//!   `missing_credentials`.
//! * **Envelope.** Every answer is HTTP 200 with a JSON object that has `status`.
//!   Injected [`Fault::Http`] and [`Fault::EmptyBody`] are the only exceptions.
//!   All values are JSON strings, except the integer `sms`/`mms` ids in the
//!   sendSMS/sendMMS answers.
//! * **Order of checks.** The request is recorded for [`FakeVoipMs::calls`] when it
//!   has a `method`. Then come the credentials (`missing_credentials` /
//!   `invalid_credentials`), then `missing_method`, then an injected fault, then
//!   the method itself (`invalid_method` if unknown). A fault set on a method name
//!   therefore works even for methods this fake does not implement.
//! * **Request booleans** must be `1` or `0`. Anything else (`true`, `false`,
//!   `yes`, ...) is rejected with the field's documented status from
//!   `api-statuses.json` (`invalid_email_enable`, `invalid_forward_enable`,
//!   `invalid_callback_enable`, `invalid_callback_retry`). Fields with no such
//!   status (`enable`, `webhook_enable`, `smpp_enabled`,
//!   `sms_sipaccount_enabled`) get `missing_params`
//!   ("Required parameters were not provided").

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use chrono::{NaiveDate, NaiveDateTime, Utc};
use serde_json::{json, Map, Value};

const PATH: &str = "/api/v1/rest.php";
const BODY_LIMIT: usize = 64 * 1024 * 1024;
/// Email that [`FakeVoipMs::add_did`] sets up as the DID's SMS-to-email target.
pub const DEFAULT_SMS_EMAIL: &str = "frontdesk@example.com";

/// An inbound message: what VoIP.ms has received on one of our DIDs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundSms {
    /// VoIP.ms message id (a string on the wire, e.g. `"4201337"`).
    pub id: String,
    /// When it was received, in **UTC**.
    pub date: NaiveDateTime,
    /// Our DID (10 digits).
    pub did: String,
    /// The other party (sender).
    pub contact: String,
    pub message: String,
    /// MMS media URL, if any (fills `{MEDIA}` in callbacks).
    pub media: Option<String>,
}

/// A successful sendSMS/sendMMS call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentSms {
    /// The id returned to the client as `"sms"`/`"mms"` (an integer on the wire).
    pub id: u64,
    pub did: String,
    pub dst: String,
    pub message: String,
    /// `media1`..`media3` as sent (only the non-empty ones). Always empty for SMS.
    pub media: Vec<String>,
}

/// An injected failure for one method ([`FakeVoipMs::set_fault`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 200 with `{"status": <code>}`, e.g. `"sms_failed"`, `"method_maintenance"`,
    /// `"api_limit_exceeded"`, `"limit_reached"`, `"ip_not_enabled"`.
    Status(&'static str),
    /// Bare HTTP error with this status code and a plain-text body (not JSON).
    Http(u16),
    /// Sleep this long, then answer normally.
    Delay(Duration),
    /// HTTP 200 with an empty body. The contract says clients treat it as success.
    EmptyBody,
    /// The outcome the caller cannot see: the method runs (a sendSMS is stored, shows in
    /// [`FakeVoipMs::sent_sms`] and in getSMS `type=0`), then the answer comes only after this
    /// delay. Make it longer than the client's time-out to get "accepted, then timed out".
    AcceptThenDelay(Duration),
    /// The method runs (its effects stay), then the connection is dropped with no HTTP answer.
    AcceptThenDrop,
    /// Timed out before accepting: sleeps this long, then answers HTTP 504 without running the
    /// method, so nothing is stored whenever the client gives up.
    DelayThenReject(Duration),
}

/// A fault waiting for its calls: `skip` calls go through untouched, then `uses` calls (forever
/// when `None`) get `fault`.
#[derive(Clone, Debug)]
struct ArmedFault {
    fault: Fault,
    skip: u32,
    uses: Option<u32>,
}

/// What [`FakeVoipMs::deliver_callback`] observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackReport {
    /// GET requests made (at least 1).
    pub attempts: u32,
    /// HTTP status of the last attempt, or 0 if it failed at the transport level.
    pub last_status: u16,
    /// Body of the last attempt, or "" if it failed at the transport level.
    pub last_body: String,
    /// True when some attempt got a body of exactly `ok`.
    pub acknowledged: bool,
}

#[derive(Clone, Debug)]
struct SentRecord {
    sent: SentSms,
    date: NaiveDateTime,
    is_mms: bool,
}

struct Inner {
    username: String,
    password: String,
    /// DID -> getDIDsInfo row (all values strings).
    dids: BTreeMap<String, Map<String, Value>>,
    received: Vec<InboundSms>,
    sent: Vec<SentRecord>,
    next_id: u64,
    calls: Vec<(String, BTreeMap<String, String>)>,
    faults: HashMap<String, ArmedFault>,
    /// Received MMS (getMMS only): the message and its media URLs.
    received_mms: Vec<(InboundSms, Vec<String>)>,
    /// Where "now" comes from: the time sent messages are stamped with and "today" for dates.
    clock: Arc<dyn Fn() -> NaiveDateTime + Send + Sync>,
}

impl Inner {
    fn now(&self) -> NaiveDateTime {
        (self.clock)()
    }

    /// The fault for this call of `method` (or of `"*"`), counting the call against it.
    fn take_fault(&mut self, method: &str) -> Option<Fault> {
        let key = if self.faults.contains_key(method) { method } else { "*" };
        let armed = self.faults.get_mut(key)?;
        if armed.skip > 0 {
            armed.skip -= 1;
            return None;
        }
        let fault = armed.fault.clone();
        if let Some(uses) = armed.uses.as_mut() {
            *uses -= 1;
            if *uses == 0 {
                self.faults.remove(key);
            }
        }
        Some(fault)
    }
}

type Shared = Arc<Mutex<Inner>>;

fn lock(state: &Shared) -> MutexGuard<'_, Inner> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The fake VoIP.ms server. Dropping it stops the server.
pub struct FakeVoipMs {
    state: Shared,
    addr: SocketAddr,
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for FakeVoipMs {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl FakeVoipMs {
    /// Bind `127.0.0.1:0` and serve. Requests must carry these API credentials.
    pub async fn start(username: &str, password: &str) -> Self {
        let state: Shared = Arc::new(Mutex::new(Inner {
            username: username.to_string(),
            password: password.to_string(),
            dids: BTreeMap::new(),
            received: Vec::new(),
            sent: Vec::new(),
            next_id: 2_300_001,
            calls: Vec::new(),
            faults: HashMap::new(),
            received_mms: Vec::new(),
            clock: Arc::new(|| Utc::now().naive_utc()),
        }));
        let app = Router::new()
            .route(PATH, any(handle))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake voip.ms: bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("fake voip.ms: local_addr of bound listener");
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeVoipMs { state, addr, handle }
    }

    /// `http://127.0.0.1:PORT/api/v1/rest.php`
    pub fn api_url(&self) -> String {
        format!("http://{}{}", self.addr, PATH)
    }

    /// Add a DID with SMS available and enabled, email forwarding ON to
    /// [`DEFAULT_SMS_EMAIL`], and SMS forward, URL callback and webhook off. The
    /// other getDIDsInfo fields have realistic values (routing
    /// `account:100000_VoIP`, `dialmode` `"1"` = NANPA). Adding it again
    /// resets it.
    pub fn add_did(&self, did: &str) {
        let mut row = Map::new();
        let s = |v: &str| Value::String(v.to_string());
        for (k, v) in [
            ("did", did),
            ("description", "Clinic main line"),
            ("routing", "account:100000_VoIP"),
            ("failover_busy", "none:"),
            ("failover_unreachable", "none:"),
            ("failover_noanswer", "none:"),
            ("voicemail", "101"),
            ("pop", "3"),
            ("dialtime", "60"),
            ("cnam", "1"),
            ("e911", "0"),
            ("callerid_prefix", ""),
            ("note", ""),
            ("billing_type", "1"),
            ("next_billing", "2099-01-01"),
            ("order_reference", ""),
            ("reseller_account", "0"),
            ("reseller_next_billing", "0000-00-00"),
            ("reseller_monthly", "0.00000000"),
            ("reseller_minute", "0.00000000"),
            ("reseller_setup", "0.00000000"),
            ("sms_available", "1"),
            ("sms_enabled", "1"),
            ("mms_available", "1"),
            ("sms_email", DEFAULT_SMS_EMAIL),
            ("sms_email_enabled", "1"),
            ("sms_forward", ""),
            ("sms_forward_enabled", "0"),
            ("sms_url_callback", ""),
            ("sms_url_callback_enabled", "0"),
            ("sms_url_callback_retry", "0"),
            ("smpp_enabled", "0"),
            ("smpp_url", ""),
            ("smpp_user", ""),
            ("smpp_pass", ""),
            ("sms_sipaccount", ""),
            ("sms_sipaccount_enabled", "0"),
            ("webhook", ""),
            ("webhook_enabled", "0"),
            ("dialmode", "1"),
        ] {
            row.insert(k.to_string(), s(v));
        }
        lock(&self.state).dids.insert(did.to_string(), row);
    }

    /// The DID's current getDIDsInfo row, as the API would show it.
    pub fn did_info(&self, did: &str) -> Option<Value> {
        lock(&self.state).dids.get(did).map(|row| Value::Object(row.clone()))
    }

    /// Store a received message so getSMS (`type=1`) shows it.
    pub fn add_received_sms(&self, sms: InboundSms) {
        lock(&self.state).received.push(sms);
    }

    /// Successful sendSMS calls, oldest first.
    pub fn sent_sms(&self) -> Vec<SentSms> {
        self.sent_filtered(false)
    }

    /// Successful sendMMS calls, oldest first.
    /// Removes a sent text from the record, as if VoIP.ms had never taken it (to build the state a
    /// crash leaves behind: a part marked in flight that the carrier never saw).
    pub fn forget_sent(&self, message: &str) {
        let mut st = lock(&self.state);
        if let Some(i) = st.sent.iter().rposition(|r| r.sent.message == message) {
            st.sent.remove(i);
        }
    }

    pub fn sent_mms(&self) -> Vec<SentSms> {
        self.sent_filtered(true)
    }

    fn sent_filtered(&self, mms: bool) -> Vec<SentSms> {
        lock(&self.state)
            .sent
            .iter()
            .filter(|r| r.is_mms == mms)
            .map(|r| r.sent.clone())
            .collect()
    }

    /// The parameters (without `api_username`/`api_password`) of every request
    /// for `method`, successful or not, oldest first. `method` itself is
    /// included.
    pub fn calls(&self, method: &str) -> Vec<BTreeMap<String, String>> {
        lock(&self.state)
            .calls
            .iter()
            .filter(|(m, _)| m == method)
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// Inject (`Some`) or clear (`None`) a fault for `method`. It lasts until
    /// cleared. The method name `"*"` applies to every method that has no fault
    /// of its own. It is checked after the credentials, so a bad login still gets
    /// `invalid_credentials`.
    pub fn set_fault(&self, method: &str, fault: Option<Fault>) {
        let mut st = lock(&self.state);
        match fault {
            Some(fault) => {
                let armed = ArmedFault {
                    fault,
                    skip: 0,
                    uses: None,
                };
                st.faults.insert(method.to_string(), armed);
            }
            None => {
                st.faults.remove(method);
            }
        }
    }

    /// Inject `fault` for the next call of `method` only; the calls after it are answered
    /// normally. Replaces any fault set for `method`.
    pub fn set_fault_once(&self, method: &str, fault: Fault) {
        self.set_fault_on_call(method, 1, fault);
    }

    /// Inject `fault` for the `nth` call of `method` from now (1 = the next one) and no other, e.g.
    /// part 2 of a two-part text: `set_fault_on_call("sendSMS", 2, Fault::AcceptThenDrop)`.
    /// Replaces any fault set for `method`.
    pub fn set_fault_on_call(&self, method: &str, nth: u32, fault: Fault) {
        let armed = ArmedFault {
            fault,
            skip: nth.max(1) - 1,
            uses: Some(1),
        };
        lock(&self.state).faults.insert(method.to_string(), armed);
    }

    /// Date sent messages and "today" by `now` (UTC) instead of the system clock, so a test that
    /// stands at a fixed time finds its texts where its app looks for them.
    pub fn set_clock(&self, now: impl Fn() -> chrono::DateTime<Utc> + Send + Sync + 'static) {
        lock(&self.state).clock = Arc::new(move || now().naive_utc());
    }

    /// Store a received MMS with its media URLs (at most 3 are shown as `col_media1..3`), so
    /// getMMS shows it; getSMS does not.
    pub fn add_received_mms(&self, mms: InboundSms, media: &[&str]) {
        let media = media.iter().map(|m| m.to_string()).collect();
        lock(&self.state).received_mms.push((mms, media));
    }

    /// Act like VoIP.ms's legacy "SMS URL Callback". Fill the placeholders in
    /// `url_template`, send an HTTP GET, and send it again at once (the real
    /// service waits 30 minutes) until the response body is exactly `ok` (the
    /// HTTP status is not looked at) or `max_attempts` runs out. A
    /// `max_attempts` of 0 is treated as 1.
    ///
    /// Placeholders: `{FROM}` = `sms.contact`, `{TO}` = `sms.did`, `{MESSAGE}`,
    /// `{ID}`, `{TIMESTAMP}`, `{MEDIA}` (`""` when there is none). Every value is
    /// percent-encoded (RFC 3986: only `A-Za-z0-9-._~` is kept, and a space
    /// becomes `%20`), so the template's separators (`&` or `;`) stay unambiguous.
    /// The contract leaves the `{TIMESTAMP}` format **unconfirmed**; here it is
    /// `YYYY-MM-DD HH:MM:SS` in UTC, the same form as getSMS dates.
    ///
    /// The message is also stored as received (unless its id is already
    /// stored), so the app can confirm it with `getSMS sms=<id>`, which is what
    /// the contract advises.
    pub async fn deliver_callback(&self, url_template: &str, sms: &InboundSms, max_attempts: u32) -> CallbackReport {
        {
            let mut st = lock(&self.state);
            if !st.received.iter().any(|r| r.id == sms.id) {
                st.received.push(sms.clone());
            }
        }
        let url = fill_template(url_template, sms);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let mut report = CallbackReport {
            attempts: 0,
            last_status: 0,
            last_body: String::new(),
            acknowledged: false,
        };
        for _ in 0..max_attempts.max(1) {
            report.attempts += 1;
            match client.get(&url).send().await {
                Ok(resp) => {
                    report.last_status = resp.status().as_u16();
                    report.last_body = resp.text().await.unwrap_or_default();
                }
                Err(_) => {
                    report.last_status = 0;
                    report.last_body = String::new();
                }
            }
            if report.last_body == "ok" {
                report.acknowledged = true;
                break;
            }
        }
        report
    }

    /// Deliver `sms` the way its DID is set up now. If `sms_url_callback_enabled`
    /// is `"1"`, call [`Self::deliver_callback`] with the DID's `sms_url_callback`.
    /// It makes up to `max_attempts` attempts when `sms_url_callback_retry` is
    /// `"1"`, and a single attempt otherwise (the contract **infers** that no
    /// retry means one attempt). Returns `None` (and only stores the message)
    /// when the DID is unknown or its callback is off.
    pub async fn deliver_inbound(&self, sms: &InboundSms, max_attempts: u32) -> Option<CallbackReport> {
        let config = {
            let st = lock(&self.state);
            st.dids.get(&sms.did).map(|row| {
                let get = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                (
                    get("sms_url_callback_enabled") == "1",
                    get("sms_url_callback"),
                    get("sms_url_callback_retry") == "1",
                )
            })
        };
        match config {
            Some((true, url, retry)) if !url.is_empty() => {
                let attempts = if retry { max_attempts } else { 1 };
                Some(self.deliver_callback(&url, sms, attempts).await)
            }
            _ => {
                let mut st = lock(&self.state);
                if !st.received.iter().any(|r| r.id == sms.id) {
                    st.received.push(sms.clone());
                }
                None
            }
        }
    }
}

fn fill_template(template: &str, sms: &InboundSms) -> String {
    let timestamp = sms.date.format("%Y-%m-%d %H:%M:%S").to_string();
    template
        .replace("{FROM}", &percent_encode(&sms.contact))
        .replace("{TO}", &percent_encode(&sms.did))
        .replace("{MESSAGE}", &percent_encode(&sms.message))
        .replace("{ID}", &percent_encode(&sms.id))
        .replace("{TIMESTAMP}", &percent_encode(&timestamp))
        .replace("{MEDIA}", &percent_encode(sms.media.as_deref().unwrap_or("")))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// HTTP handling
// ---------------------------------------------------------------------------

fn parse_urlencoded(s: &str) -> Vec<(String, String)> {
    // `reqwest::Url` (the `url` crate) does form-urlencoded decoding for us.
    match reqwest::Url::parse("http://fake.invalid/") {
        Ok(mut u) => {
            u.set_query(Some(s));
            u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
        }
        Err(_) => Vec::new(),
    }
}

async fn collect_params(req: Request) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    if let Some(q) = req.uri().query() {
        for (k, v) in parse_urlencoded(q) {
            params.insert(k, v);
        }
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        if let Ok(mut mp) = Multipart::from_request(req, &()).await {
            while let Ok(Some(field)) = mp.next_field().await {
                let name = field.name().unwrap_or("").to_string();
                match field.text().await {
                    Ok(text) if !name.is_empty() => {
                        params.insert(name, text);
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }
    }
    params
}

fn status(code: &str) -> Response {
    Json(json!({ "status": code })).into_response()
}

async fn handle(State(state): State<Shared>, req: Request) -> Response {
    let urlencoded = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if req.method() == axum::http::Method::POST && urlencoded {
        return http_error(500);
    }
    let params = collect_params(req).await;
    let method = params.get("method").cloned().unwrap_or_default();

    let fault = {
        let mut st = lock(&state);
        if !method.is_empty() {
            let mut public = params.clone();
            public.remove("api_username");
            public.remove("api_password");
            st.calls.push((method.clone(), public));
        }
        let user = params.get("api_username").map(String::as_str).unwrap_or("");
        let pass = params.get("api_password").map(String::as_str).unwrap_or("");
        if user.is_empty() || pass.is_empty() {
            return status("missing_credentials");
        }
        if user != st.username || pass != st.password {
            return status("invalid_credentials");
        }
        if method.is_empty() {
            return status("missing_method");
        }
        st.take_fault(&method)
    };

    match &fault {
        Some(Fault::Status(code)) => return status(code),
        Some(Fault::Http(code)) => return http_error(*code),
        Some(Fault::EmptyBody) => {
            return (StatusCode::OK, Body::empty()).into_response();
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(*d).await,
        Some(Fault::DelayThenReject(d)) => {
            tokio::time::sleep(*d).await;
            return http_error(504);
        }
        Some(Fault::AcceptThenDelay(_) | Fault::AcceptThenDrop) | None => {}
    }

    let body = {
        let mut st = lock(&state);
        match method.as_str() {
            "sendSMS" => send_message(&mut st, &params, false),
            "sendMMS" => send_message(&mut st, &params, true),
            "getSMS" => list_messages(&st, &params, Listing::Sms),
            "getMMS" => list_messages(&st, &params, Listing::Mms),
            "getDIDsInfo" => get_dids_info(&st, &params),
            "setSMS" => set_sms(&mut st, &params),
            // Room for later: "getCDR" (needs `no_callstatus` when none of
            // answered/noanswer/busy/failed is 1), "getCallRecordings",
            // "getCallRecording" (base64 MP3 in `base64file`), ...
            _ => json!({ "status": "invalid_method" }),
        }
    };
    match fault {
        Some(Fault::AcceptThenDelay(d)) => tokio::time::sleep(d).await,
        // Unwinding out of the handler ends hyper's connection task: the client sees the
        // connection close with no answer. `resume_unwind` skips the panic hook, so nothing is
        // printed.
        Some(Fault::AcceptThenDrop) => std::panic::resume_unwind(Box::new("fake voip.ms: connection dropped")),
        _ => {}
    }
    Json(body).into_response()
}

fn http_error(code: u16) -> Response {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, code.canonical_reason().unwrap_or("error").to_string()).into_response()
}

fn param<'a>(params: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    params.get(key).map(String::as_str)
}

/// A parameter that counts as given only when it is non-empty.
fn nonempty<'a>(params: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    param(params, key).filter(|v| !v.is_empty())
}

/// sendSMS / sendMMS. The length limit counts Unicode **characters**, as the
/// brief asks (the contract notes that client [B] counts UTF-8 bytes, which is
/// stricter). Sending does not check that SMS is enabled on the DID; the
/// contract does not document that error.
fn send_message(st: &mut Inner, params: &BTreeMap<String, String>, mms: bool) -> Value {
    let Some(did) = nonempty(params, "did") else {
        return json!({"status": "missing_did"});
    };
    if !st.dids.contains_key(did) {
        return json!({"status": "invalid_did"});
    }
    let dst = param(params, "dst").unwrap_or("");
    if dst.len() != 10 || !dst.bytes().all(|b| b.is_ascii_digit()) {
        return json!({"status": "invalid_dst"});
    }
    let Some(message) = param(params, "message") else {
        return json!({"status": "missing_sms"});
    };
    if message.is_empty() {
        return json!({"status": "message_empty"});
    }
    let limit = if mms { 2048 } else { 160 };
    if message.chars().count() > limit {
        return json!({"status": "sms_toolong"});
    }
    let media = if mms {
        ["media1", "media2", "media3"]
            .iter()
            .filter_map(|k| nonempty(params, k).map(str::to_string))
            .collect()
    } else {
        Vec::new()
    };
    let id = st.next_id;
    st.next_id += 1;
    st.sent.push(SentRecord {
        sent: SentSms {
            id,
            did: did.to_string(),
            dst: dst.to_string(),
            message: message.to_string(),
            media,
        },
        date: st.now(),
        is_mms: mms,
    });
    if mms {
        json!({"status": "success", "mms": id})
    } else {
        json!({"status": "success", "sms": id})
    }
}

fn parse_day(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Which list [`list_messages`] shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Listing {
    Sms,
    Mms,
}

/// One row of getSMS/getMMS before it is written out.
struct Row<'a> {
    date: NaiveDateTime,
    id: String,
    ty: &'static str,
    did: &'a str,
    contact: &'a str,
    message: &'a str,
    media: &'a [String],
}

/// getSMS and getMMS.
///
/// * `timezone`: an integer from -12 to 13 (default 0 = UTC, which the contract
///   **infers**). Anything else gets `invalid_timezone`. It shifts the stored UTC
///   time for the day filter and for the `date` shown.
/// * `from`/`to`: `YYYY-MM-DD`, inclusive. Each defaults to "today" in that
///   timezone. A bad format gets `invalid_date`, `from` after `to` gets
///   `invalid_date_from`, and `to - from` over 92 days gets `invalid_daterange`.
///   When an id (`sms=` for getSMS, `mms=` for getMMS) is given, dates that
///   were not passed are not filtered on, so a lookup by id finds older
///   messages too (interpretation).
/// * `type`: `1` received, `0` sent. Any other value means no filter.
/// * `limit`: default 50. A value that is not a number means the default.
/// * Rows come newest first. getSMS shows received messages and sendSMS
///   messages. getMMS shows received MMS and sendMMS messages, and with
///   `all_messages=1` the getSMS rows too (texts and MMS in one list; an `mms`
///   id other than 0 is then refused with `invalid_mms`, as the contract says
///   the id must be 0). getMMS rows add `col_media1..3` (`""` when unused) and
///   `media` (the list of URLs). `carrier_status` is `""` (its values are not
///   documented). Empty lists get `no_sms` for both methods (the contract:
///   getMMS uses the same `sms` key).
fn list_messages(st: &Inner, params: &BTreeMap<String, String>, listing: Listing) -> Value {
    let tz: i64 = match nonempty(params, "timezone") {
        None => 0,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if (-12..=13).contains(&n) => n,
            _ => return json!({"status": "invalid_timezone"}),
        },
    };
    let offset = chrono::Duration::hours(tz);
    let today = (st.now() + offset).date();
    let all_messages = listing == Listing::Mms && param(params, "all_messages") == Some("1");
    let id_key = if listing == Listing::Mms { "mms" } else { "sms" };
    let id_filter = nonempty(params, id_key).filter(|id| !(all_messages && *id == "0"));
    if all_messages && id_filter.is_some() {
        return json!({"status": "invalid_mms"});
    }
    let from_param = nonempty(params, "from");
    let to_param = nonempty(params, "to");
    let from = match from_param {
        Some(v) => match parse_day(v) {
            Some(d) => Some(d),
            None => return json!({"status": "invalid_date"}),
        },
        None if id_filter.is_some() => None,
        None => Some(today),
    };
    let to = match to_param {
        Some(v) => match parse_day(v) {
            Some(d) => Some(d),
            None => return json!({"status": "invalid_date"}),
        },
        None if id_filter.is_some() => None,
        None => Some(today),
    };
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return json!({"status": "invalid_date_from"});
        }
        if (t - f).num_days() > 92 {
            return json!({"status": "invalid_daterange"});
        }
    }
    let type_filter = match param(params, "type") {
        Some("1") => Some("1"),
        Some("0") => Some("0"),
        _ => None,
    };
    let did_filter = nonempty(params, "did");
    let contact_filter = nonempty(params, "contact");
    let limit = nonempty(params, "limit")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(50);

    let mut rows: Vec<Row<'_>> = Vec::new();
    if listing == Listing::Sms || all_messages {
        for r in &st.received {
            rows.push(Row {
                date: r.date,
                id: r.id.clone(),
                ty: "1",
                did: &r.did,
                contact: &r.contact,
                message: &r.message,
                media: r.media.as_slice(),
            });
        }
    }
    if listing == Listing::Mms {
        for (r, media) in &st.received_mms {
            rows.push(Row {
                date: r.date,
                id: r.id.clone(),
                ty: "1",
                did: &r.did,
                contact: &r.contact,
                message: &r.message,
                media,
            });
        }
    }
    for r in &st.sent {
        let shown = if r.is_mms {
            listing == Listing::Mms
        } else {
            listing == Listing::Sms || all_messages
        };
        if shown {
            rows.push(Row {
                date: r.date,
                id: r.sent.id.to_string(),
                ty: "0",
                did: &r.sent.did,
                contact: &r.sent.dst,
                message: &r.sent.message,
                media: &r.sent.media,
            });
        }
    }
    let mut rows: Vec<_> = rows
        .into_iter()
        .filter(|row| {
            let local_day = (row.date + offset).date();
            id_filter.is_none_or(|s| s == row.id)
                && from.is_none_or(|f| local_day >= f)
                && to.is_none_or(|t| local_day <= t)
                && type_filter.is_none_or(|t| t == row.ty)
                && did_filter.is_none_or(|d| d == row.did)
                && contact_filter.is_none_or(|c| c == row.contact)
        })
        .collect();
    // Newest first; ties broken by id (numeric when possible), highest first.
    rows.sort_by(|a, b| {
        b.date
            .cmp(&a.date)
            .then_with(|| match (a.id.parse::<u64>(), b.id.parse::<u64>()) {
                (Ok(x), Ok(y)) => y.cmp(&x),
                _ => b.id.cmp(&a.id),
            })
    });
    rows.truncate(limit);
    if rows.is_empty() {
        return json!({"status": "no_sms"});
    }
    let list: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            let mut out = json!({
                "id": row.id,
                "date": (row.date + offset).format("%Y-%m-%d %H:%M:%S").to_string(),
                "type": row.ty,
                "did": row.did,
                "contact": row.contact,
                "message": row.message,
                "carrier_status": "",
            });
            if listing == Listing::Mms {
                for (i, key) in ["col_media1", "col_media2", "col_media3"].iter().enumerate() {
                    out[*key] = json!(row.media.get(i).cloned().unwrap_or_default());
                }
                out["media"] = json!(row.media);
            }
            out
        })
        .collect();
    json!({"status": "success", "sms": list})
}

/// getDIDsInfo. The optional `did` narrows the list to that DID. A DID that
/// is not on the account, or an account with no DIDs, gets `no_did` (the
/// contract: "None found returns no_did"). `client` is accepted and ignored.
fn get_dids_info(st: &Inner, params: &BTreeMap<String, String>) -> Value {
    let filter = nonempty(params, "did");
    let rows: Vec<Value> = st
        .dids
        .iter()
        .filter(|(did, _)| filter.is_none_or(|f| f == did.as_str()))
        .map(|(_, row)| Value::Object(row.clone()))
        .collect();
    if rows.is_empty() {
        json!({"status": "no_did"})
    } else {
        json!({"status": "success", "dids": rows})
    }
}

/// setSMS. `did` is required (`missing_did`) and must be on the account
/// (`invalid_did`). `enable` is required (`missing_enable`, a documented
/// status). It models the real pitfall: **every SMS setting not in the call is
/// reset** to off (`"0"`) or empty (`""`). Leaving out `email_enabled` turns
/// email forwarding off and clears `sms_email`. `dialmode` has no "off"; if it
/// is not passed it goes back to `"1"` (NANPA, the default). `dialmode` must
/// be `1` or `2` (else `missing_params`). See the module docs for booleans.
/// There is no `sms_wait_message` throttling; inject it with
/// [`FakeVoipMs::set_fault`] if needed.
fn set_sms(st: &mut Inner, params: &BTreeMap<String, String>) -> Value {
    let Some(did) = nonempty(params, "did") else {
        return json!({"status": "missing_did"});
    };
    if !st.dids.contains_key(did) {
        return json!({"status": "invalid_did"});
    }
    if nonempty(params, "enable").is_none() {
        return json!({"status": "missing_enable"});
    }
    // (request param, getDIDsInfo field, status when the value is not 1/0)
    const FLAGS: &[(&str, &str, &str)] = &[
        ("enable", "sms_enabled", "missing_params"),
        ("email_enabled", "sms_email_enabled", "invalid_email_enable"),
        ("sms_forward_enable", "sms_forward_enabled", "invalid_forward_enable"),
        (
            "url_callback_enable",
            "sms_url_callback_enabled",
            "invalid_callback_enable",
        ),
        ("url_callback_retry", "sms_url_callback_retry", "invalid_callback_retry"),
        ("webhook_enable", "webhook_enabled", "missing_params"),
        ("smpp_enabled", "smpp_enabled", "missing_params"),
        ("sms_sipaccount_enabled", "sms_sipaccount_enabled", "missing_params"),
    ];
    const TEXTS: &[(&str, &str)] = &[
        ("email_address", "sms_email"),
        ("sms_forward", "sms_forward"),
        ("url_callback", "sms_url_callback"),
        ("webhook", "webhook"),
        ("smpp_url", "smpp_url"),
        ("smpp_user", "smpp_user"),
        ("smpp_pass", "smpp_pass"),
        ("sms_sipaccount", "sms_sipaccount"),
    ];
    let mut updates: Vec<(&str, String)> = Vec::new();
    for (p, field, bad) in FLAGS {
        match param(params, p) {
            None | Some("") => updates.push((field, "0".to_string())),
            Some(v @ ("0" | "1")) => updates.push((field, v.to_string())),
            Some(_) => return json!({"status": bad}),
        }
    }
    for (p, field) in TEXTS {
        updates.push((field, param(params, p).unwrap_or("").to_string()));
    }
    match param(params, "dialmode") {
        None | Some("") => updates.push(("dialmode", "1".to_string())),
        Some(v @ ("1" | "2")) => updates.push(("dialmode", v.to_string())),
        Some(_) => return json!({"status": "missing_params"}),
    }
    if let Some(row) = st.dids.get_mut(did) {
        for (field, value) in updates {
            row.insert(field.to_string(), Value::String(value));
        }
    }
    json!({"status": "success"})
}
