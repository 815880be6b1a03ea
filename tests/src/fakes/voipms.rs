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
//! * **Call history and recordings** (getCDR, getCallRecordings,
//!   getCallRecording): rows are stored with their UTC time and shown shifted
//!   (getCDR by its `timezone` parameter, recordings by
//!   [`FakeVoipMs::set_recording_utc_offset`]); the day filters apply to the
//!   shown date. The choices made where the contract is silent are in the doc
//!   comments of the private `get_cdr`, `get_call_recordings` and
//!   `get_call_recording` functions, and in docs/providers.md.

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
use base64::Engine as _;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Utc};
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

/// The main account's default sub-account, as the contract's examples write it. [`CdrRow`]
/// constructors use it for `account`.
pub const DEFAULT_ACCOUNT: &str = "100000_VoIP";

/// One call of the call history (getCDR), stored with its time in **UTC**; getCDR shows it
/// shifted by the request's `timezone`. The other getCDR fields (`duration`, `rate`, `total`,
/// `call_logs`) are derived from these when the row is written out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CdrRow {
    /// A string on the wire, and not always numeric (e.g. `12964421x41098i8c`).
    pub uniqueid: String,
    /// Start of the call, in UTC.
    pub date: NaiveDateTime,
    /// As the API writes it, e.g. `"John Doe" <5551112222>`.
    pub callerid: String,
    pub destination: String,
    pub description: String,
    /// Main account or sub-account, e.g. `100000_VoIP`.
    pub account: String,
    /// `ANSWERED`, `NO ANSWER`, `BUSY` or `FAILED` (the last three are unconfirmed names).
    pub disposition: String,
    pub seconds: u32,
    pub destination_type: String,
}

impl CdrRow {
    /// A call from `from` (digits) to our DID `to_did`. The caller id is
    /// `"4385550199" <4385550199>`, the form a PBX shows when there is no caller name, so a client
    /// that grabs every digit of the field instead of the ones inside `<>` gets the number
    /// twice and fails. `description` `Inbound - Local Caller`, `destination_type` `IN:USA`,
    /// account [`DEFAULT_ACCOUNT`].
    pub fn inbound(
        uniqueid: &str,
        date_utc: NaiveDateTime,
        from: &str,
        to_did: &str,
        disposition: &str,
        seconds: u32,
    ) -> Self {
        CdrRow {
            uniqueid: uniqueid.to_string(),
            date: date_utc,
            callerid: format!("\"{from}\" <{from}>"),
            destination: to_did.to_string(),
            description: "Inbound - Local Caller".to_string(),
            account: DEFAULT_ACCOUNT.to_string(),
            disposition: disposition.to_string(),
            seconds,
            destination_type: "IN:USA".to_string(),
        }
    }

    /// A call from our DID `did` to `to` (digits). The caller id is the bare DID,
    /// `description` `Outbound`, `destination_type` `OUT:USA` (the contract leaves the outbound
    /// strings unconfirmed; these are the fake's), account [`DEFAULT_ACCOUNT`].
    pub fn outbound(
        uniqueid: &str,
        date_utc: NaiveDateTime,
        did: &str,
        to: &str,
        disposition: &str,
        seconds: u32,
    ) -> Self {
        CdrRow {
            uniqueid: uniqueid.to_string(),
            date: date_utc,
            callerid: did.to_string(),
            destination: to.to_string(),
            description: "Outbound".to_string(),
            account: DEFAULT_ACCOUNT.to_string(),
            disposition: disposition.to_string(),
            seconds,
            destination_type: "OUT:USA".to_string(),
        }
    }
}

/// A call recording (getCallRecordings / getCallRecording), stored with its time in **UTC**.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recording {
    /// The opaque `callrecording` id (base64-looking in the API: see [`recording_id`]).
    pub id: String,
    /// Start of the call, in UTC.
    pub datetime: NaiveDateTime,
    pub destination: String,
    /// `type` `Incoming` when true, `Outgoing` otherwise.
    pub incoming: bool,
    /// Shown as `subaccount`; also what the `account` parameter is matched against.
    pub account: String,
    /// Shown as `duration`, `MM:SS`.
    pub duration_secs: u32,
    /// The file, served base64-encoded in getCallRecording's `base64file`.
    pub mp3: Vec<u8>,
}

/// A `callrecording` id in the API's style: unpadded base64 of `seed` (the API documentation's
/// sample id decodes to `<account>-<number>-<number>-IN-<epoch>`). Ids are opaque: clients must pass them
/// back verbatim, so a seed that yields `+` or `/` tests their URL encoding.
pub fn recording_id(seed: &str) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(seed)
}

/// A stored getCDR row: a typed one, or an arbitrary JSON value returned untouched.
#[derive(Clone, Debug)]
enum CdrEntry {
    Row(CdrRow),
    Raw(Value),
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
    /// getCDR rows keyed by (UTC time, insertion number): a window is one range lookup, so
    /// 100k rows stay cheap, and the insertion number keeps rows at the same second apart.
    cdr: BTreeMap<(NaiveDateTime, u64), CdrEntry>,
    next_cdr_seq: u64,
    recordings: Vec<Recording>,
    /// Recording id -> how many getCallRecording calls served it.
    recording_fetches: HashMap<String, usize>,
    /// Recording id -> the `base64file` text to serve instead of the real encoding.
    recording_base64: HashMap<String, String>,
    /// Hours added to a recording's UTC time to show it (the zone is not documented).
    recording_utc_offset: i32,
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
            cdr: BTreeMap::new(),
            next_cdr_seq: 0,
            recordings: Vec::new(),
            recording_fetches: HashMap::new(),
            recording_base64: HashMap::new(),
            recording_utc_offset: 0,
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

    /// Store one call for getCDR.
    pub fn add_cdr(&self, row: CdrRow) {
        self.add_cdr_rows(std::iter::once(row));
    }

    /// Store many calls for getCDR at once (one lock; 100k rows take a fraction of a second).
    pub fn add_cdr_rows(&self, rows: impl IntoIterator<Item = CdrRow>) {
        let mut st = lock(&self.state);
        for row in rows {
            let key = (row.date, st.next_cdr_seq);
            st.next_cdr_seq += 1;
            st.cdr.insert(key, CdrEntry::Row(row));
        }
    }

    /// Store an arbitrary JSON value as a getCDR row dated `date_utc`, for defensive-parsing
    /// tests (numbers instead of strings, missing or empty fields, garbage). It is returned
    /// untouched whenever its date, shifted by the request's `timezone`, falls in the window and
    /// the request is valid; the disposition and account filters do not apply to it.
    pub fn add_raw_cdr(&self, date_utc: NaiveDateTime, value: Value) {
        let mut st = lock(&self.state);
        let key = (date_utc, st.next_cdr_seq);
        st.next_cdr_seq += 1;
        st.cdr.insert(key, CdrEntry::Raw(value));
    }

    /// Forget every stored getCDR row (typed and raw).
    pub fn clear_cdr(&self) {
        lock(&self.state).cdr.clear();
    }

    /// Store a recording for getCallRecordings / getCallRecording. A recording with the same id
    /// is replaced.
    pub fn add_recording(&self, rec: Recording) {
        let mut st = lock(&self.state);
        st.recordings.retain(|r| r.id != rec.id);
        st.recordings.push(rec);
    }

    /// How many getCallRecording calls have served recording `id` (to check that a client
    /// downloads a file once, or again after a failure).
    pub fn recording_fetches(&self, id: &str) -> usize {
        lock(&self.state).recording_fetches.get(id).copied().unwrap_or(0)
    }

    /// Serve `raw` as recording `id`'s `base64file` instead of its real encoding (a corrupt or
    /// truncated file). `raw` goes into the JSON string as it is, with JSON escaping and `/`
    /// written `\/` as for real files.
    pub fn set_recording_base64(&self, id: &str, raw: &str) {
        lock(&self.state)
            .recording_base64
            .insert(id.to_string(), raw.to_string());
    }

    /// Show recordings' `datetime` as UTC + `hours` (default 0) and filter their days on that
    /// shown date. The contract does not say which zone the recordings methods use (they take
    /// no `timezone`), so tests can make it differ from UTC and check the app copes.
    pub fn set_recording_utc_offset(&self, hours: i32) {
        lock(&self.state).recording_utc_offset = hours;
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
            "getCallRecording" => get_call_recording(&mut st, &params),
            other => Json(match other {
                "sendSMS" => send_message(&mut st, &params, false),
                "sendMMS" => send_message(&mut st, &params, true),
                "getSMS" => list_messages(&st, &params, Listing::Sms),
                "getMMS" => list_messages(&st, &params, Listing::Mms),
                "getDIDsInfo" => get_dids_info(&st, &params),
                "setSMS" => set_sms(&mut st, &params),
                "getCDR" => get_cdr(&st, &params),
                "getCallRecordings" => get_call_recordings(&st, &params),
                // Room for later: getVoicemailMessages, getBalance, ...
                _ => json!({ "status": "invalid_method" }),
            })
            .into_response(),
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
    body
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

// ---------------------------------------------------------------------------
// Call history and recordings
// ---------------------------------------------------------------------------

/// getCallRecordings' page size when `length` is not given. The contract does not give the
/// real default (**unconfirmed**), so a client should always pass `length`.
pub const DEFAULT_RECORDINGS_LENGTH: usize = 50;

/// The longest `date_to - date_from` the call-history methods accept, in days. 92 itself is
/// accepted (a window of 93 calendar days); 93 gets `invalid_daterange`, as in getSMS.
pub const MAX_RANGE_DAYS: i64 = 92;

/// The 92-day rule. `date_from` after `date_to` also gets `invalid_daterange` here (getSMS
/// answers `invalid_date_from`; for these methods the contract names no status, so the fake
/// uses the range one).
fn range_ok(from: NaiveDate, to: NaiveDate) -> bool {
    from <= to && (to - from).num_days() <= MAX_RANGE_DAYS
}

/// getCDR's `timezone` in minutes: a plain decimal number (`-5`, `+2`, `-3.5`) from -12 to 13.
/// Fractions are accepted because the reference only says "numeric"; exponents, `NaN` and the
/// like are not numbers here.
fn parse_timezone_minutes(v: &str) -> Option<i64> {
    let v = v.trim();
    let unsigned = v.strip_prefix(['-', '+']).unwrap_or(v);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) {
        return None;
    }
    let hours: f64 = v.parse().ok()?;
    if !(-12.0..=13.0).contains(&hours) {
        return None;
    }
    Some((hours * 60.0).round() as i64)
}

/// Whether a row of `row_account` answers a request for `asked`: the same account, or `asked`
/// is the main account of that sub-account (`100000` covers `100000_VoIP`). The fake's
/// reading; the contract only says "main or sub-account".
fn account_matches(asked: &str, row_account: &str) -> bool {
    asked == row_account || row_account.split_once('_').is_some_and(|(main, _)| main == asked)
}

/// `(parameter, disposition)` pairs of getCDR's call-status filter. Only `ANSWERED` is
/// confirmed; the other names are the contract's best guess.
const CALL_STATUSES: [(&str, &str); 4] = [
    ("answered", "ANSWERED"),
    ("noanswer", "NO ANSWER"),
    ("busy", "BUSY"),
    ("failed", "FAILED"),
];

/// getCDR.
///
/// * Checks, in order: `date_from`, `date_to` and `timezone` present (`missing_params`; the
///   reference also lists `missing_timezone`, which the fake does not use), both dates
///   `YYYY-MM-DD` (`invalid_date`), `timezone` a number from -12 to 13 (`invalid_timezone`),
///   the range ([`range_ok`]: `invalid_daterange`), each of `answered`/`noanswer`/`busy`/
///   `failed` `1` or `0` if given (else `missing_params`, see the module docs on booleans),
///   at least one of them `1` (`no_callstatus`), `calltype` absent, empty or `all` (the only
///   value modelled; anything else gets `missing_params` so a client that starts filtering on
///   a call type notices the fake does not support it).
/// * `timezone` shifts each row's UTC time; `date` shows the shifted time, and the inclusive
///   `date_from`..`date_to` days apply to the shifted date.
/// * Filters: disposition by the call-status flags (a row with a disposition outside the four
///   known ones shows whatever flags are set); `account` by [`account_matches`]. `callbilling`
///   is accepted and ignored. Raw rows ([`FakeVoipMs::add_raw_cdr`]) only get the date filter.
/// * Rows come newest first; rows at the same second, the one added last first. Every field is
///   a string. `rate` is per minute (0.0085 inbound, 0.01 otherwise, made up); `total` is
///   `rate * seconds / 60` for answered calls, else 0. Nothing found: `no_cdr`.
fn get_cdr(st: &Inner, params: &BTreeMap<String, String>) -> Value {
    let (Some(from), Some(to), Some(tz)) = (
        nonempty(params, "date_from"),
        nonempty(params, "date_to"),
        nonempty(params, "timezone"),
    ) else {
        return json!({"status": "missing_params"});
    };
    let (Some(from), Some(to)) = (parse_day(from), parse_day(to)) else {
        return json!({"status": "invalid_date"});
    };
    let Some(tz_minutes) = parse_timezone_minutes(tz) else {
        return json!({"status": "invalid_timezone"});
    };
    if !range_ok(from, to) {
        return json!({"status": "invalid_daterange"});
    }
    let mut wanted: Vec<&str> = Vec::new();
    for (flag, disposition) in CALL_STATUSES {
        match param(params, flag) {
            None | Some("" | "0") => {}
            Some("1") => wanted.push(disposition),
            Some(_) => return json!({"status": "missing_params"}),
        }
    }
    if wanted.is_empty() {
        return json!({"status": "no_callstatus"});
    }
    if !matches!(param(params, "calltype"), None | Some("" | "all")) {
        return json!({"status": "missing_params"});
    }
    let account = nonempty(params, "account");
    let offset = chrono::Duration::minutes(tz_minutes);
    let start = from.and_time(NaiveTime::MIN) - offset;
    let end = (to + chrono::Days::new(1)).and_time(NaiveTime::MIN) - offset;
    let known = |d: &str| CALL_STATUSES.iter().any(|(_, k)| *k == d);
    let rows: Vec<Value> = st
        .cdr
        .range((start, 0)..(end, 0))
        .rev()
        .filter_map(|(_, entry)| match entry {
            CdrEntry::Raw(value) => Some(value.clone()),
            CdrEntry::Row(row) => {
                let status_ok = !known(&row.disposition) || wanted.contains(&row.disposition.as_str());
                let account_ok = account.is_none_or(|a| account_matches(a, &row.account));
                (status_ok && account_ok).then(|| cdr_json(row, offset))
            }
        })
        .collect();
    if rows.is_empty() {
        json!({"status": "no_cdr"})
    } else {
        json!({"status": "success", "cdr": rows})
    }
}

/// An amount in units of 10^-8, written as the API writes decimals (`0.00850000`).
fn decimal_8(units: u64) -> String {
    format!("{}.{:08}", units / 100_000_000, units % 100_000_000)
}

fn cdr_json(row: &CdrRow, offset: chrono::Duration) -> Value {
    let rate: u64 = if row.destination_type.starts_with("IN") {
        850_000
    } else {
        1_000_000
    };
    let total = if row.disposition == "ANSWERED" {
        rate * u64::from(row.seconds) / 60
    } else {
        0
    };
    let s = row.seconds;
    let hangup = match row.disposition.as_str() {
        "ANSWERED" => "Normal Clearing",
        "NO ANSWER" => "No answer",
        "BUSY" => "User busy",
        "FAILED" => "Channel is unavailable",
        other => other,
    };
    json!({
        "date": (row.date + offset).format("%Y-%m-%d %H:%M:%S").to_string(),
        "callerid": row.callerid,
        "destination": row.destination,
        "description": row.description,
        "account": row.account,
        "disposition": row.disposition,
        "duration": format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
        "seconds": s.to_string(),
        "rate": decimal_8(rate),
        "total": decimal_8(total),
        "uniqueid": row.uniqueid,
        "destination_type": row.destination_type,
        "call_logs": format!(
            "Call logs for UniqueID: {} Routing to sub-account: {} Hangup: {}",
            row.uniqueid, row.account, hangup
        ),
    })
}

/// The listing fields of a recording: `callrecording`, `datetime` (UTC + the configured
/// offset), `destination`, `type`, `subaccount`, `duration` (`MM:SS`; minutes go past 59 for
/// calls of an hour or more rather than growing an hours field, which the contract does not
/// show).
fn recording_fields(rec: &Recording, offset: chrono::Duration) -> Map<String, Value> {
    let s = |v: String| Value::String(v);
    let mut m = Map::new();
    m.insert("callrecording".into(), s(rec.id.clone()));
    m.insert(
        "datetime".into(),
        s((rec.datetime + offset).format("%Y-%m-%d %H:%M:%S").to_string()),
    );
    m.insert("destination".into(), s(rec.destination.clone()));
    let ty = if rec.incoming { "Incoming" } else { "Outgoing" };
    m.insert("type".into(), s(ty.into()));
    m.insert("subaccount".into(), s(rec.account.clone()));
    let d = rec.duration_secs;
    m.insert("duration".into(), s(format!("{:02}:{:02}", d / 60, d % 60)));
    m
}

/// getCallRecordings.
///
/// * Checks, in order: `account`, `date_from`, `date_to` present (`missing_params`), dates
///   `YYYY-MM-DD` (`invalid_date`), the range ([`range_ok`]: `invalid_daterange`), `call_type`
///   absent, empty, `all`, `incoming` or `outgoing` (lower case; else `missing_params`),
///   `start` a whole number and `length` a whole number of at least 1 (else `missing_params`).
/// * Any non-empty `account` is accepted (no `invalid_account`); it selects the recordings
///   whose account matches by [`account_matches`], so `100000` lists every sub-account's.
/// * `datetime` is UTC + [`FakeVoipMs::set_recording_utc_offset`] hours, and the inclusive
///   `date_from`..`date_to` days apply to that shown date. A `timezone` parameter is ignored
///   (the contract lists none for these methods).
/// * Newest first (ties by id), then paged: `start` rows skipped (default 0), at most
///   `length` shown (default [`DEFAULT_RECORDINGS_LENGTH`]). No count of the total is given,
///   so a client pages until a page is short or `no_recording` (an empty page, also what a
///   `start` past the end gets).
fn get_call_recordings(st: &Inner, params: &BTreeMap<String, String>) -> Value {
    let (Some(account), Some(from), Some(to)) = (
        nonempty(params, "account"),
        nonempty(params, "date_from"),
        nonempty(params, "date_to"),
    ) else {
        return json!({"status": "missing_params"});
    };
    let (Some(from), Some(to)) = (parse_day(from), parse_day(to)) else {
        return json!({"status": "invalid_date"});
    };
    if !range_ok(from, to) {
        return json!({"status": "invalid_daterange"});
    }
    let incoming = match param(params, "call_type") {
        None | Some("" | "all") => None,
        Some("incoming") => Some(true),
        Some("outgoing") => Some(false),
        Some(_) => return json!({"status": "missing_params"}),
    };
    let number = |key: &str, default: usize, min: usize| match nonempty(params, key) {
        None => Some(default),
        Some(v) => v.trim().parse::<usize>().ok().filter(|n| *n >= min),
    };
    let (Some(start), Some(length)) = (number("start", 0, 0), number("length", DEFAULT_RECORDINGS_LENGTH, 1)) else {
        return json!({"status": "missing_params"});
    };
    let offset = chrono::Duration::hours(st.recording_utc_offset.into());
    let mut rows: Vec<&Recording> = st
        .recordings
        .iter()
        .filter(|r| {
            let day = (r.datetime + offset).date();
            account_matches(account, &r.account) && from <= day && day <= to && incoming.is_none_or(|i| i == r.incoming)
        })
        .collect();
    rows.sort_by(|a, b| b.datetime.cmp(&a.datetime).then_with(|| a.id.cmp(&b.id)));
    let page: Vec<Value> = rows
        .into_iter()
        .skip(start)
        .take(length)
        .map(|r| Value::Object(recording_fields(r, offset)))
        .collect();
    if page.is_empty() {
        json!({"status": "no_recording"})
    } else {
        json!({"status": "success", "recordings": page})
    }
}

/// The base64 of `bytes` as the API writes it inside the JSON string (the reference's sample):
/// a line break (`\r\n`, JSON-escaped) every 76 characters, a space in the middle of every
/// fourth line, and `/` escaped as `\/`. A JSON parser undoes `\/` but keeps the whitespace,
/// which the client must strip before decoding.
fn served_base64(bytes: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(b64.len() + b64.len() / 8);
    for (i, line) in b64.as_bytes().chunks(76).enumerate() {
        if i > 0 {
            out.push_str("\\r\\n");
        }
        for (j, &b) in line.iter().enumerate() {
            if i % 4 == 1 && j == 38 {
                out.push(' ');
            }
            if b == b'/' {
                out.push_str("\\/");
            } else {
                out.push(char::from(b));
            }
        }
    }
    out
}

/// getCallRecording.
///
/// * `account` and `callrecording` are required (`missing_params`; the reference also lists
///   `missing_callrecording`, unused here). An unknown id, or one whose account does not
///   match `account` by [`account_matches`], gets `invalid_recording`.
/// * The answer puts the recording's listing fields **at the top level**, next to `status`,
///   plus `base64file` (the reference's sample has no wrapping key):
///   `{"status":"success","callrecording":..,"datetime":..,..,"base64file":".."}`.
/// * `base64file` is written as text ([`served_base64`], or the string set with
///   [`FakeVoipMs::set_recording_base64`]), so the body carries the `\/` escapes and the
///   whitespace. Its size is not limited. Each answer counts one fetch of the id.
fn get_call_recording(st: &mut Inner, params: &BTreeMap<String, String>) -> Response {
    let (Some(account), Some(id)) = (nonempty(params, "account"), nonempty(params, "callrecording")) else {
        return status("missing_params");
    };
    let offset = chrono::Duration::hours(st.recording_utc_offset.into());
    let Some(rec) = st
        .recordings
        .iter()
        .find(|r| r.id == id && account_matches(account, &r.account))
    else {
        return status("invalid_recording");
    };
    let mut fields = recording_fields(rec, offset);
    fields.insert("status".into(), Value::String("success".into()));
    let base64 = match st.recording_base64.get(id) {
        Some(raw) => {
            let quoted = Value::String(raw.clone()).to_string();
            quoted[1..quoted.len() - 1].replace('/', "\\/")
        }
        None => served_base64(&rec.mp3),
    };
    let mut text = Value::Object(fields).to_string();
    text.pop(); // the closing brace; base64file goes in before it
    text.reserve(base64.len() + 20);
    text.push_str(",\"base64file\":\"");
    text.push_str(&base64);
    text.push_str("\"}");
    *st.recording_fetches.entry(id.to_string()).or_default() += 1;
    ([(header::CONTENT_TYPE, "application/json")], text).into_response()
}
