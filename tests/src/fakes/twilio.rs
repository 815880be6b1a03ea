//! A fake Twilio Programmable Messaging API (2010-04-01 Messages resource) for
//! integration tests.
//!
//! Real HTTP on `127.0.0.1:<random port>`. It follows
//! `docs/providers.md` (Twilio). Choices made where the contract is silent or
//! **unconfirmed**:
//!
//! * **Auth.** Only HTTP Basic `AccountSid:AuthToken` is accepted. API-key
//!   (`SK...:secret`) auth is not modelled and gets 401 / 20003.
//! * **Order of checks** for a create: it is counted in
//!   [`FakeTwilio::request_count`] first. Then come auth (401 / 20003), the
//!   account SID in the path (404 / 20404), an injected [`TwilioFault`],
//!   `To` (21211), `From`/`MessagingServiceSid` (21603), `From` format (21212),
//!   `Body`/`MediaUrl` (21602), and `Body` length (21617).
//! * **Body.** Read as `application/x-www-form-urlencoded` only. Any other
//!   content type (for example a JSON body by mistake) counts as "no
//!   parameters", so the answer is 400 / 21211.
//! * **`From` format.** It must be E.164, a 3–8 digit short code, or an
//!   alphanumeric sender ID (1–11 letters, digits or spaces, with at least one
//!   letter). Anything else, such as a bare 10-digit number, gets 400 / 21212
//!   (Twilio's "invalid From number"; the contract does not list this code).
//! * **Messaging Service.** When only `MessagingServiceSid` is given, the
//!   answer has `from: null`, `status: "accepted"` and `num_segments: "0"`, as
//!   the contract describes. Otherwise it is `status: "queued"`.
//! * **Segments.** GSM-7 text (extension characters count as 2) is 1 segment up
//!   to 160 septets, then `ceil(n/153)`. Other text (UCS-2) is 1 segment up to
//!   70 UTF-16 units, then `ceil(n/67)`. This is approximate.
//! * **Length.** `Body` length counts Unicode characters (max 1600).
//! * **Faults** apply to creates only, not to the GET fetch.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

/// A message the fake accepted (HTTP 201).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwilioSent {
    /// `SM` + 32 lowercase hex characters (`MM...` when it has media).
    pub sid: String,
    /// `From` as sent, or `""` when only a `MessagingServiceSid` was given.
    pub from: String,
    pub to: String,
    /// `Body` as sent (`""` for a media-only message).
    pub body: String,
    pub messaging_service_sid: Option<String>,
    /// `MediaUrl` values, in request order.
    pub media_urls: Vec<String>,
    pub status_callback: Option<String>,
}

/// An injected failure for create requests ([`FakeTwilio::set_fault`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TwilioFault {
    /// Answer with a Twilio error body `{code, message, more_info, status}` and
    /// this HTTP status, plus a `Retry-After: <secs>` header when `retry_after`
    /// is set. For example 429 / 20429, or 400 / 21610 (unsubscribed recipient).
    Error {
        http_status: u16,
        code: u32,
        message: String,
        retry_after: Option<u64>,
    },
    /// Sleep this long, then answer normally.
    Delay(Duration),
}

#[derive(Debug)]
struct Stored {
    sent: TwilioSent,
    resource: Value,
}

#[derive(Debug)]
struct Inner {
    account_sid: String,
    auth_token: String,
    messages: Vec<Stored>,
    request_count: usize,
    fault: Option<TwilioFault>,
    counter: u64,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(state: &Shared) -> MutexGuard<'_, Inner> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The fake Twilio server. Dropping it stops the server.
pub struct FakeTwilio {
    state: Shared,
    addr: SocketAddr,
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTwilio {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl FakeTwilio {
    /// Bind `127.0.0.1:0` and serve, accepting these credentials.
    pub async fn start(account_sid: &str, auth_token: &str) -> Self {
        let state: Shared = Arc::new(Mutex::new(Inner {
            account_sid: account_sid.to_string(),
            auth_token: auth_token.to_string(),
            messages: Vec::new(),
            request_count: 0,
            fault: None,
            counter: 0,
        }));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake twilio: bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("fake twilio: local_addr of bound listener");
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeTwilio { state, addr, handle }
    }

    /// `http://127.0.0.1:PORT`. Clients POST to
    /// `{base}/2010-04-01/Accounts/{sid}/Messages.json`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Accepted messages, oldest first.
    pub fn sent(&self) -> Vec<TwilioSent> {
        lock(&self.state).messages.iter().map(|m| m.sent.clone()).collect()
    }

    /// Every create request (any POST to `.../Messages.json`), rejected ones
    /// included.
    pub fn request_count(&self) -> usize {
        lock(&self.state).request_count
    }

    /// Inject (`Some`) or clear (`None`) a fault for create requests. It lasts
    /// until cleared.
    pub fn set_fault(&self, fault: Option<TwilioFault>) {
        lock(&self.state).fault = fault;
    }

    /// Change a stored message's `status` (and `error_code`/`error_message`) as
    /// later polling with `GET .../Messages/{sid}.json` would show it, e.g.
    /// `("delivered", None)` or `("undelivered", Some(30003))`. Returns false
    /// for an unknown SID.
    pub fn set_message_status(&self, sid: &str, status: &str, error_code: Option<u32>) -> bool {
        let mut st = lock(&self.state);
        let Some(m) = st.messages.iter_mut().find(|m| m.sent.sid == sid) else {
            return false;
        };
        if let Value::Object(obj) = &mut m.resource {
            obj.insert("status".into(), json!(status));
            obj.insert("error_code".into(), json!(error_code));
            obj.insert(
                "error_message".into(),
                match error_code {
                    Some(c) => json!(format!("Twilio error {c}")),
                    None => Value::Null,
                },
            );
            obj.insert("date_updated".into(), json!(rfc2822_now()));
            if matches!(status, "sent" | "delivered" | "undelivered" | "failed") {
                obj.insert("date_sent".into(), json!(rfc2822_now()));
            }
        }
        true
    }

    /// Act like Twilio calling one of our webhooks (status callback or inbound
    /// message). POST `params` form-encoded to `url` with an
    /// `X-Twilio-Signature` made by [`twilio_signature`] with this account's
    /// auth token. Returns `(http status, body)`. On a transport error it
    /// returns `(0, error text)`.
    pub async fn post_signed_webhook(&self, url: &str, params: &[(String, String)]) -> (u16, String) {
        self.post_signed_webhook_via(url, url, params).await
    }

    /// [`Self::post_signed_webhook`] through a proxy: signed over `url` (the public URL
    /// configured in Twilio, which is what Twilio signs) but sent to `post_to` (where API Gateway
    /// or a function URL forwards it).
    pub async fn post_signed_webhook_via(
        &self,
        url: &str,
        post_to: &str,
        params: &[(String, String)],
    ) -> (u16, String) {
        let token = lock(&self.state).auth_token.clone();
        let signature = twilio_signature(&token, url, params);
        let body = form_encode(params);
        let client = reqwest::Client::new();
        match client
            .post(post_to)
            .header("X-Twilio-Signature", signature)
            .header(header::CONTENT_TYPE.as_str(), "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
        {
            Ok(resp) => {
                let status = resp.status().as_u16();
                (status, resp.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        }
    }
}

/// A text a patient sends to a Twilio number, for [`FakeTwilio::deliver_inbound`].
#[derive(Clone, Debug, Default)]
pub struct InboundMessage {
    pub from: String,
    pub to: String,
    pub body: String,
    /// Media Twilio stored for the message; delivered as `MediaUrl{N}`.
    pub media_content_types: Vec<String>,
}

impl FakeTwilio {
    /// The parameters Twilio's "a message comes in" webhook sends for `message` under
    /// `message_sid` (form names as Twilio spells them; geo fields as for a Canadian number).
    pub fn inbound_params(&self, message_sid: &str, message: &InboundMessage) -> Vec<(String, String)> {
        let account_sid = lock(&self.state).account_sid.clone();
        let mut params: Vec<(String, String)> = [
            ("ToCountry", "CA"),
            ("ToState", "QC"),
            ("SmsMessageSid", message_sid),
            ("NumMedia", &message.media_content_types.len().to_string()),
            ("ToCity", "MONTREAL"),
            ("FromZip", ""),
            ("SmsSid", message_sid),
            ("FromState", "QC"),
            ("SmsStatus", "received"),
            ("FromCity", "MONTREAL"),
            ("Body", &message.body),
            ("FromCountry", "CA"),
            ("To", &message.to),
            ("ToZip", ""),
            ("NumSegments", &num_segments(&message.body).to_string()),
            ("MessageSid", message_sid),
            ("AccountSid", &account_sid),
            ("From", &message.from),
            ("ApiVersion", "2010-04-01"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (i, content_type) in message.media_content_types.iter().enumerate() {
            params.push((format!("MediaContentType{i}"), content_type.clone()));
            params.push((
                format!("MediaUrl{i}"),
                format!(
                    "https://api.twilio.com/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/ME{i:032x}"
                ),
            ));
        }
        params
    }

    /// A new message id for an inbound text (`SM...`, or `MM...` with media).
    pub fn new_inbound_sid(&self, message: &InboundMessage) -> String {
        let prefix = if message.media_content_types.is_empty() {
            "SM"
        } else {
            "MM"
        };
        new_sid(&mut lock(&self.state), prefix)
    }

    /// Act like Twilio receiving `message` on one of its numbers: POST it to `url` (the number's
    /// messaging webhook) under a new MessageSid, signed with this account's auth token. Returns
    /// `(http status, body, MessageSid)`.
    pub async fn deliver_inbound(&self, url: &str, message: &InboundMessage) -> (u16, String, String) {
        let sid = self.new_inbound_sid(message);
        let (status, body) = self.post_signed_webhook(url, &self.inbound_params(&sid, message)).await;
        (status, body, sid)
    }
}

/// `X-Twilio-Signature` per contract section 5. Start from the full URL (query
/// included). Sort the parameters by name and, for a repeated name, by value.
/// Drop exact duplicate pairs (as twilio-node does). Append `name + value` for
/// each pair with no separators. Then HMAC-SHA1 with the auth token and Base64
/// (standard, padded). For a GET or a JSON body, pass `params = &[]` (for JSON
/// the URL carries `bodySHA256`).
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.sort();
    pairs.dedup();
    let mut data = String::from(url);
    for (k, v) in pairs {
        data.push_str(k);
        data.push_str(v);
    }
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()) else {
        // HMAC takes keys of any length, so this cannot happen.
        return String::new();
    };
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

// ---------------------------------------------------------------------------
// HTTP handling
// ---------------------------------------------------------------------------

fn form_encode(params: &[(String, String)]) -> String {
    fn enc(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'*') {
                out.push(b as char);
            } else if b == b' ' {
                out.push('+');
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }
    params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn parse_urlencoded(s: &str) -> Vec<(String, String)> {
    match reqwest::Url::parse("http://fake.invalid/") {
        Ok(mut u) => {
            u.set_query(Some(s));
            u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
        }
        Err(_) => Vec::new(),
    }
}

fn rfc2822_now() -> String {
    chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

fn error(http_status: u16, code: u32, message: &str) -> Response {
    let status = StatusCode::from_u16(http_status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": http_status,
        })),
    )
        .into_response()
}

fn unauthorized() -> Response {
    let mut resp = error(401, 20003, "Authenticate");
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Twilio API\""),
    );
    resp
}

fn not_found(path: &str) -> Response {
    error(404, 20404, &format!("The requested resource {path} was not found"))
}

fn authorized(req: &Request, st: &Inner) -> bool {
    let Some(value) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")) else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Ok(text) = String::from_utf8(decoded) else {
        return false;
    };
    match text.split_once(':') {
        Some((user, pass)) => user == st.account_sid && pass == st.auth_token,
        None => false,
    }
}

fn is_e164(s: &str) -> bool {
    match s.strip_prefix('+') {
        Some(digits) => (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

fn is_valid_from(s: &str) -> bool {
    if is_e164(s) {
        return true;
    }
    if let Some(rest) = s.strip_prefix("whatsapp:") {
        return is_e164(rest);
    }
    let short_code = (3..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    let alphanumeric = (1..=11).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
        && s.bytes().any(|b| b.is_ascii_alphabetic());
    short_code || alphanumeric
}

const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENDED: &str = "^{}\\[~]|€\u{000C}";

fn num_segments(body: &str) -> usize {
    let mut septets = 0usize;
    let mut gsm = true;
    for c in body.chars() {
        if GSM_BASIC.contains(c) {
            septets += 1;
        } else if GSM_EXTENDED.contains(c) {
            septets += 2;
        } else {
            gsm = false;
            break;
        }
    }
    if gsm {
        if septets <= 160 {
            1
        } else {
            septets.div_ceil(153)
        }
    } else {
        let units = body.encode_utf16().count();
        if units <= 70 {
            1
        } else {
            units.div_ceil(67)
        }
    }
}

fn new_sid(st: &mut Inner, prefix: &str) -> String {
    st.counter += 1;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    // Mix a per-server counter (for uniqueness) with the clock and address
    // (so SIDs differ across fakes).
    let seed = (nanos as u64) ^ (st as *const Inner as u64).rotate_left(17);
    let hi = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let lo = st.counter.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ hi.rotate_left(29);
    format!("{prefix}{hi:016x}{lo:016x}")
}

async fn handle(State(state): State<Shared>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method().clone(), segments.as_slice()) {
        (Method::POST, ["2010-04-01", "Accounts", sid, "Messages.json"]) => {
            let sid = sid.to_string();
            create(state, req, &sid, &path).await
        }
        (Method::GET, ["2010-04-01", "Accounts", sid, "Messages", file]) => {
            let st = lock(&state);
            if !authorized(&req, &st) {
                return unauthorized();
            }
            if *sid != st.account_sid {
                return not_found(&path);
            }
            let Some(msid) = file.strip_suffix(".json") else {
                return not_found(&path);
            };
            match st.messages.iter().find(|m| m.sent.sid == msid) {
                Some(m) => (StatusCode::OK, Json(m.resource.clone())).into_response(),
                None => not_found(&path),
            }
        }
        _ => not_found(&path),
    }
}

async fn create(state: Shared, req: Request, sid: &str, path: &str) -> Response {
    let fault = {
        let mut st = lock(&state);
        st.request_count += 1;
        if !authorized(&req, &st) {
            return unauthorized();
        }
        if sid != st.account_sid {
            return not_found(path);
        }
        st.fault.clone()
    };
    match fault {
        Some(TwilioFault::Error {
            http_status,
            code,
            message,
            retry_after,
        }) => {
            let mut resp = error(http_status, code, &message);
            if let Some(secs) = retry_after {
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            return resp;
        }
        Some(TwilioFault::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }

    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"))
        .unwrap_or(false);
    let params = if is_form {
        match axum::body::to_bytes(req.into_body(), 16 * 1024 * 1024).await {
            Ok(bytes) => parse_urlencoded(&String::from_utf8_lossy(&bytes)),
            Err(_) => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let get = |key: &str| -> Option<String> {
        params
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    let to = get("To").unwrap_or_default();
    if !is_e164(&to) {
        return error(
            400,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        );
    }
    let from = get("From");
    let service = get("MessagingServiceSid");
    if from.is_none() && service.is_none() {
        return error(400, 21603, "A 'From' phone number is required.");
    }
    if let Some(f) = &from {
        if !is_valid_from(f) {
            return error(
                400,
                21212,
                &format!("The 'From' number {f} is not a valid phone number, shortcode, or alphanumeric sender ID."),
            );
        }
    }
    let body = get("Body").unwrap_or_default();
    let media_urls: Vec<String> = params
        .iter()
        .filter(|(k, v)| k == "MediaUrl" && !v.is_empty())
        .map(|(_, v)| v.clone())
        .collect();
    if body.is_empty() && media_urls.is_empty() {
        return error(400, 21602, "Message body is required.");
    }
    if body.chars().count() > 1600 {
        return error(
            400,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }

    let mut st = lock(&state);
    let msid = new_sid(&mut st, if media_urls.is_empty() { "SM" } else { "MM" });
    let now = rfc2822_now();
    let via_service_only = from.is_none();
    let (status, segments) = if via_service_only {
        ("accepted", "0".to_string())
    } else {
        ("queued", num_segments(&body).to_string())
    };
    let base = format!("/2010-04-01/Accounts/{}/Messages/{}", st.account_sid, msid);
    let resource = json!({
        "account_sid": st.account_sid,
        "api_version": "2010-04-01",
        "body": body,
        "date_created": now,
        "date_sent": null,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": from,
        "messaging_service_sid": service,
        "num_media": media_urls.len().to_string(),
        "num_segments": segments,
        "price": null,
        "price_unit": "USD",
        "sid": msid,
        "status": status,
        "subresource_uris": {
            "media": format!("{base}/Media.json"),
            "feedback": format!("{base}/Feedback.json"),
        },
        "to": to,
        "uri": format!("{base}.json"),
    });
    st.messages.push(Stored {
        sent: TwilioSent {
            sid: msid,
            from: from.unwrap_or_default(),
            to,
            body,
            messaging_service_sid: service,
            media_urls,
            status_callback: get("StatusCallback"),
        },
        resource: resource.clone(),
    });
    (StatusCode::CREATED, Json(resource)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn signature_matches_twilio_docs_vector() {
        // Twilio's published example (auth token "12345").
        let params = p(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(
            twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &params),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    #[test]
    fn signature_with_repeated_keys_and_query_string() {
        // Expected value computed independently (Python hmac/hashlib) over
        // "https://example.com/twilio/inbound?clinic=7&lang=en"
        // + "BodyHi" + "From+15551234567"
        // + "MediaUrlhttps://a.example/1" + "MediaUrlhttps://b.example/2":
        // names sorted, repeated values sorted, the exact duplicate dropped.
        let params = p(&[
            ("MediaUrl", "https://b.example/2"),
            ("Body", "Hi"),
            ("MediaUrl", "https://a.example/1"),
            ("From", "+15551234567"),
            ("MediaUrl", "https://a.example/1"),
        ]);
        let url = "https://example.com/twilio/inbound?clinic=7&lang=en";
        assert_eq!(twilio_signature("12345", url, &params), "IuQAOB69gfzdqflnYNV/1L4099Y=");
        // Order of the input does not matter.
        let mut reversed = params.clone();
        reversed.reverse();
        assert_eq!(
            twilio_signature("12345", url, &reversed),
            "IuQAOB69gfzdqflnYNV/1L4099Y="
        );
        // The query string is part of what is signed.
        assert_ne!(
            twilio_signature("12345", "https://example.com/twilio/inbound", &params),
            "IuQAOB69gfzdqflnYNV/1L4099Y="
        );
    }

    #[test]
    fn segments() {
        assert_eq!(num_segments(&"a".repeat(160)), 1);
        assert_eq!(num_segments(&"a".repeat(161)), 2);
        assert_eq!(num_segments(&"a".repeat(306)), 2);
        assert_eq!(num_segments(&"a".repeat(307)), 3);
        assert_eq!(num_segments(&"é".repeat(70)), 1);
        assert_eq!(num_segments(&"😀".repeat(35)), 1);
        assert_eq!(num_segments(&"ü€".repeat(50)), 1); // 150 septets
        assert_eq!(num_segments(&"ж".repeat(71)), 2);
    }
}
