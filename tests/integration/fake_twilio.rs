use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use pedro_tests::fakes::twilio::{twilio_signature, FakeTwilio, TwilioFault};
use serde_json::{json, Value};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "auth-token-0123456789";
const FROM: &str = "+15145550100";
const TO: &str = "+14385550199";

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn form(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

async fn create_as(
    f: &FakeTwilio,
    account: &str,
    auth: Option<String>,
    params: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/2010-04-01/Accounts/{account}/Messages.json", f.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(params));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.json().await.expect("json body");
    (status, headers, body)
}

async fn create(f: &FakeTwilio, params: &[(&str, &str)]) -> (u16, Value) {
    let (s, _, v) = create_as(f, SID, Some(basic(SID, TOKEN)), params).await;
    (s, v)
}

fn assert_error(status: u16, v: &Value, http: u16, code: u64) {
    assert_eq!(status, http, "{v}");
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(v["status"], http);
    assert_eq!(v["more_info"], format!("https://www.twilio.com/docs/errors/{code}"));
    assert!(v["message"].is_string());
}

#[tokio::test]
async fn create_returns_201_message_resource() {
    let f = FakeTwilio::start(SID, TOKEN).await;
    let (status, v) = create(
        &f,
        &[
            ("To", TO),
            ("From", FROM),
            ("Body", "Your appointment is at 3pm."),
            ("StatusCallback", "https://clinic.example/twilio/status"),
        ],
    )
    .await;
    assert_eq!(status, 201);
    let sid = v["sid"].as_str().expect("sid");
    assert_eq!(sid.len(), 34);
    assert!(sid.starts_with("SM"));
    assert!(sid[2..]
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(v["account_sid"], SID);
    assert_eq!(v["from"], FROM);
    assert_eq!(v["to"], TO);
    assert_eq!(v["body"], "Your appointment is at 3pm.");
    assert_eq!(v["status"], "queued");
    assert_eq!(v["direction"], "outbound-api");
    assert_eq!(v["num_segments"], "1");
    assert_eq!(v["num_media"], "0");
    assert_eq!(v["price"], Value::Null);
    assert_eq!(v["price_unit"], "USD");
    assert_eq!(v["error_code"], Value::Null);
    assert_eq!(v["error_message"], Value::Null);
    assert_eq!(v["date_sent"], Value::Null);
    assert_eq!(v["api_version"], "2010-04-01");
    assert_eq!(v["uri"], format!("/2010-04-01/Accounts/{SID}/Messages/{sid}.json"));
    for key in ["date_created", "date_updated"] {
        let d = v[key].as_str().expect("date string");
        assert!(d.ends_with(" +0000"), "{d}");
        chrono::DateTime::parse_from_rfc2822(d).expect("RFC 2822");
    }

    let sent = f.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].sid, sid);
    assert_eq!(sent[0].from, FROM);
    assert_eq!(sent[0].to, TO);
    assert_eq!(sent[0].body, "Your appointment is at 3pm.");
    assert_eq!(
        sent[0].status_callback.as_deref(),
        Some("https://clinic.example/twilio/status")
    );

    // Fetch it back.
    let fetched: Value = reqwest::Client::new()
        .get(format!("{}{}", f.base_url(), v["uri"].as_str().expect("uri")))
        .header("authorization", basic(SID, TOKEN))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(fetched, v);
    assert!(f.set_message_status(sid, "undelivered", Some(30003)));
    let resp = reqwest::Client::new()
        .get(format!("{}{}", f.base_url(), v["uri"].as_str().expect("uri")))
        .header("authorization", basic(SID, TOKEN))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    let fetched: Value = resp.json().await.expect("json");
    assert_eq!(fetched["status"], "undelivered");
    assert_eq!(fetched["error_code"], 30003);

    // Unknown message, and a fetch without auth.
    let resp = reqwest::Client::new()
        .get(format!(
            "{}/2010-04-01/Accounts/{SID}/Messages/SM00000000000000000000000000000000.json",
            f.base_url()
        ))
        .header("authorization", basic(SID, TOKEN))
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    assert_error(status, &resp.json().await.expect("json"), 404, 20404);
    let resp = reqwest::get(format!("{}{}", f.base_url(), v["uri"].as_str().expect("uri")))
        .await
        .expect("send");
    let status = resp.status().as_u16();
    assert_error(status, &resp.json().await.expect("json"), 401, 20003);
}

#[tokio::test]
async fn segments_media_and_messaging_service() {
    let f = FakeTwilio::start(SID, TOKEN).await;
    let long = "a".repeat(161);
    let (s, v) = create(&f, &[("To", TO), ("From", FROM), ("Body", &long)]).await;
    assert_eq!(s, 201);
    assert_eq!(v["num_segments"], "2");
    let max = "a".repeat(1600);
    let (s, v) = create(&f, &[("To", TO), ("From", FROM), ("Body", &max)]).await;
    assert_eq!(s, 201);
    assert_eq!(v["num_segments"], "11");

    // Media only (no Body) is fine; repeated MediaUrl keys.
    let (s, v) = create(
        &f,
        &[
            ("To", TO),
            ("From", FROM),
            ("MediaUrl", "https://x.example/1.png"),
            ("MediaUrl", "https://x.example/2.png"),
        ],
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(v["num_media"], "2");
    assert!(v["sid"].as_str().expect("sid").starts_with("MM"));

    // Messaging Service instead of From.
    let mg = "MG0123456789abcdef0123456789abcdef";
    let (s, v) = create(&f, &[("To", TO), ("MessagingServiceSid", mg), ("Body", "hi")]).await;
    assert_eq!(s, 201);
    assert_eq!(v["from"], Value::Null);
    assert_eq!(v["messaging_service_sid"], mg);
    assert_eq!(v["status"], "accepted");
    assert_eq!(v["num_segments"], "0");

    let sent = f.sent();
    assert_eq!(sent.len(), 4);
    assert_eq!(
        sent[2].media_urls,
        vec!["https://x.example/1.png", "https://x.example/2.png"]
    );
    assert_eq!(sent[3].messaging_service_sid.as_deref(), Some(mg));
    let sids: std::collections::HashSet<_> = sent.iter().map(|m| m.sid.clone()).collect();
    assert_eq!(sids.len(), 4, "SIDs are unique");
}

#[tokio::test]
async fn auth_and_account_errors() {
    let f = FakeTwilio::start(SID, TOKEN).await;
    let p = [("To", TO), ("From", FROM), ("Body", "hi")];
    let expected_401 = json!({
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401
    });
    for auth in [
        None,
        Some(basic(SID, "wrong")),
        Some(basic("ACffffffffffffffffffffffffffffffff", TOKEN)),
        Some("Bearer abc".to_string()),
        Some("Basic !!!not-base64!!!".to_string()),
    ] {
        let (s, _, v) = create_as(&f, SID, auth.clone(), &p).await;
        assert_eq!(s, 401, "{auth:?}");
        assert_eq!(v, expected_401);
    }
    let other = "ACffffffffffffffffffffffffffffffff";
    let (s, _, v) = create_as(&f, other, Some(basic(SID, TOKEN)), &p).await;
    assert_error(s, &v, 404, 20404);
    assert!(f.sent().is_empty());
    assert_eq!(f.request_count(), 6);
}

#[tokio::test]
async fn validation_errors() {
    let f = FakeTwilio::start(SID, TOKEN).await;
    let (s, v) = create(&f, &[("From", FROM), ("Body", "hi")]).await;
    assert_error(s, &v, 400, 21211);
    for bad in [
        "4385550199",
        "14385550199",
        "+1234567",
        "+1234567890123456",
        "+1 438 555 0199",
        "+1438555019x",
    ] {
        let (s, v) = create(&f, &[("To", bad), ("From", FROM), ("Body", "hi")]).await;
        assert_error(s, &v, 400, 21211);
    }
    let (s, v) = create(&f, &[("To", "+12345678"), ("From", FROM), ("Body", "8 digits ok")]).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = create(&f, &[("To", TO), ("Body", "hi")]).await;
    assert_error(s, &v, 400, 21603);
    let (s, v) = create(&f, &[("To", TO), ("From", "5145550100"), ("Body", "hi")]).await;
    assert_error(s, &v, 400, 21212);
    let (s, v) = create(&f, &[("To", TO), ("From", FROM)]).await;
    assert_error(s, &v, 400, 21602);
    let (s, v) = create(&f, &[("To", TO), ("From", FROM), ("Body", "")]).await;
    assert_error(s, &v, 400, 21602);
    let too_long = "b".repeat(1601);
    let (s, v) = create(&f, &[("To", TO), ("From", FROM), ("Body", &too_long)]).await;
    assert_error(s, &v, 400, 21617);
    let ok = "é".repeat(1600);
    let (s, _) = create(&f, &[("To", TO), ("From", FROM), ("Body", &ok)]).await;
    assert_eq!(s, 201, "1600 characters (more bytes) is fine");

    // A JSON body is not form data: Twilio sees no parameters.
    let resp = reqwest::Client::new()
        .post(format!("{}/2010-04-01/Accounts/{SID}/Messages.json", f.base_url()))
        .header("authorization", basic(SID, TOKEN))
        .json(&json!({"To": TO, "From": FROM, "Body": "hi"}))
        .send()
        .await
        .expect("send");
    let s = resp.status().as_u16();
    assert_error(s, &resp.json().await.expect("json"), 400, 21211);

    assert_eq!(f.sent().len(), 2);
    assert_eq!(f.request_count(), 15);
}

#[tokio::test]
async fn fault_injection() {
    let f = FakeTwilio::start(SID, TOKEN).await;
    let p = [("To", TO), ("From", FROM), ("Body", "hi")];
    f.set_fault(Some(TwilioFault::Error {
        http_status: 429,
        code: 20429,
        message: "Too Many Requests".into(),
        retry_after: Some(7),
    }));
    for _ in 0..2 {
        let (s, h, v) = create_as(&f, SID, Some(basic(SID, TOKEN)), &p).await;
        assert_error(s, &v, 429, 20429);
        assert_eq!(v["message"], "Too Many Requests");
        assert_eq!(h.get("retry-after").and_then(|v| v.to_str().ok()), Some("7"));
    }
    // Auth is still checked first.
    let (s, _, v) = create_as(&f, SID, Some(basic(SID, "bad")), &p).await;
    assert_error(s, &v, 401, 20003);

    f.set_fault(Some(TwilioFault::Error {
        http_status: 400,
        code: 21610,
        message: "Attempt to send to unsubscribed recipient".into(),
        retry_after: None,
    }));
    let (s, h, v) = create_as(&f, SID, Some(basic(SID, TOKEN)), &p).await;
    assert_error(s, &v, 400, 21610);
    assert!(h.get("retry-after").is_none());

    f.set_fault(Some(TwilioFault::Delay(Duration::from_millis(300))));
    let t = Instant::now();
    let (s, _) = create(&f, &p).await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(s, 201);

    f.set_fault(None);
    let (s, _) = create(&f, &p).await;
    assert_eq!(s, 201);
    assert_eq!(f.sent().len(), 2);
    assert_eq!(f.request_count(), 6);
}

#[tokio::test]
async fn signed_webhook_can_be_verified_by_receiver() {
    let f = FakeTwilio::start(SID, TOKEN).await;
    type Seen = Arc<Mutex<Vec<(String, String)>>>;
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    async fn hook(State(s): State<Seen>, headers: HeaderMap, body: Bytes) -> &'static str {
        let sig = headers
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        s.lock()
            .expect("lock")
            .push((sig, String::from_utf8_lossy(&body).into_owned()));
        "<Response/>"
    }
    let app = Router::new()
        .route("/twilio/inbound", post(hook))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let url = format!("http://{addr}/twilio/inbound?clinic=7");
    let params: Vec<(String, String)> = [
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("From", TO),
        ("To", FROM),
        ("Body", "Yes, 3pm works & thanks"),
        ("NumMedia", "0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let (status, body) = f.post_signed_webhook(&url, &params).await;
    assert_eq!(status, 200);
    assert_eq!(body, "<Response/>");
    let (sig, raw) = seen.lock().expect("lock")[0].clone();
    // Receiver side: re-parse the form and recompute.
    let parsed: Vec<(String, String)> = reqwest::Url::parse(&format!("http://x/?{raw}"))
        .expect("url")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(parsed, params);
    assert_eq!(sig, twilio_signature(TOKEN, &url, &parsed));
    assert_ne!(sig, twilio_signature("other-token", &url, &parsed));
}
