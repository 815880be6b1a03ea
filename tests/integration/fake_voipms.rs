use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Router;
use chrono::{NaiveDateTime, Utc};
use pedro_tests::fakes::voipms::{FakeVoipMs, Fault, InboundSms};
use serde_json::Value;

const USER: &str = "clinic@example.com";
const PASS: &str = "s3cret-api-pw";
const DID: &str = "5145550100";
const PATIENT: &str = "4385550199";

async fn fake() -> FakeVoipMs {
    let f = FakeVoipMs::start(USER, PASS).await;
    f.add_did(DID);
    f
}

/// GET with everything in the query string, plus credentials.
async fn api(f: &FakeVoipMs, params: &[(&str, &str)]) -> Value {
    let mut all = vec![("api_username", USER), ("api_password", PASS)];
    all.extend_from_slice(params);
    raw_get(f, &all).await
}

async fn raw_get(f: &FakeVoipMs, params: &[(&str, &str)]) -> Value {
    let url = reqwest::Url::parse_with_params(&f.api_url(), params).expect("url");
    let resp = reqwest::get(url).await.expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.expect("json body")
}

fn st(v: &Value) -> &str {
    v["status"].as_str().expect("status is a string")
}

fn dt(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("datetime")
}

fn inbound(id: &str, date: NaiveDateTime, message: &str) -> InboundSms {
    InboundSms {
        id: id.to_string(),
        date,
        did: DID.to_string(),
        contact: PATIENT.to_string(),
        message: message.to_string(),
        media: None,
    }
}

fn assert_all_strings(v: &Value) {
    match v {
        Value::Object(m) => m.values().for_each(assert_all_strings),
        Value::Array(a) => a.iter().for_each(assert_all_strings),
        Value::String(_) => {}
        other => panic!("non-string value in response: {other}"),
    }
}

// ---------------------------------------------------------------- envelope

#[tokio::test]
async fn credentials_and_method_checks() {
    let f = fake().await;
    let v = raw_get(&f, &[("method", "getDIDsInfo")]).await;
    assert_eq!(st(&v), "missing_credentials");
    let v = raw_get(&f, &[("api_username", USER), ("method", "getDIDsInfo")]).await;
    assert_eq!(st(&v), "missing_credentials");
    let v = raw_get(
        &f,
        &[
            ("api_username", USER),
            ("api_password", "nope"),
            ("method", "getDIDsInfo"),
        ],
    )
    .await;
    assert_eq!(st(&v), "invalid_credentials");
    let v = raw_get(
        &f,
        &[
            ("api_username", "other@example.com"),
            ("api_password", PASS),
            ("method", "getDIDsInfo"),
        ],
    )
    .await;
    assert_eq!(st(&v), "invalid_credentials");
    assert_eq!(st(&api(&f, &[]).await), "missing_method");
    assert_eq!(st(&api(&f, &[("method", "")]).await), "missing_method");
    assert_eq!(st(&api(&f, &[("method", "getBogus")]).await), "invalid_method");
    // Room left for these, but not implemented yet.
    assert_eq!(st(&api(&f, &[("method", "getCDR")]).await), "invalid_method");

    // Every request for a method is recorded, without credentials.
    let calls = f.calls("getDIDsInfo");
    assert_eq!(calls.len(), 4);
    for c in &calls {
        assert!(!c.contains_key("api_username"));
        assert!(!c.contains_key("api_password"));
        assert_eq!(c["method"], "getDIDsInfo");
    }
    assert_eq!(f.calls("getBogus").len(), 1);
}

#[tokio::test]
async fn post_multipart_is_accepted_and_urlencoded_is_a_500() {
    let f = fake().await;
    let client = reqwest::Client::new();

    // multipart/form-data, built by hand (reqwest's multipart feature is off).
    let boundary = "XfakeBoundary42";
    let mut body = String::new();
    for (k, v) in [
        ("api_username", USER),
        ("api_password", PASS),
        ("method", "sendSMS"),
        ("did", DID),
        ("dst", PATIENT),
        ("message", "Hello & welcome = yes"),
    ] {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let v: Value = client
        .post(f.api_url())
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(st(&v), "success");
    assert!(v["sms"].is_u64());

    // application/x-www-form-urlencoded: the real API answers HTTP 500 and sends nothing.
    let form = format!(
        "api_username={}&api_password={}&method=sendSMS&did={DID}&dst={PATIENT}&message=Caf%C3%A9+ok%26more",
        "clinic%40example.com", PASS
    );
    let resp = client
        .post(f.api_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 500);

    let sent = f.sent_sms();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message, "Hello & welcome = yes");

    // Garbage multipart must not crash the fake: no params -> missing_credentials.
    let v: Value = client
        .post(f.api_url())
        .header("content-type", "multipart/form-data; boundary=zzz")
        .body("this is not multipart")
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(st(&v), "missing_credentials");
}

// ---------------------------------------------------------------- sendSMS / sendMMS

#[tokio::test]
async fn send_sms_validation_and_recording() {
    let f = fake().await;
    let send = |did: Option<&'static str>, dst: Option<&'static str>, msg: Option<String>| {
        let f = &f;
        async move {
            let mut p: Vec<(&str, String)> = vec![("method", "sendSMS".into())];
            if let Some(d) = did {
                p.push(("did", d.into()));
            }
            if let Some(d) = dst {
                p.push(("dst", d.into()));
            }
            if let Some(m) = msg {
                p.push(("message", m));
            }
            let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
            api(f, &p).await
        }
    };
    let hi = || Some("Hi".to_string());
    assert_eq!(st(&send(None, Some(PATIENT), hi()).await), "missing_did");
    assert_eq!(st(&send(Some("5145550999"), Some(PATIENT), hi()).await), "invalid_did");
    assert_eq!(st(&send(Some(DID), None, hi()).await), "invalid_dst");
    assert_eq!(st(&send(Some(DID), Some("14385550199"), hi()).await), "invalid_dst");
    assert_eq!(st(&send(Some(DID), Some("+14385550199"), hi()).await), "invalid_dst");
    assert_eq!(st(&send(Some(DID), Some("43855501ab"), hi()).await), "invalid_dst");
    assert_eq!(st(&send(Some(DID), Some(PATIENT), None).await), "missing_sms");
    assert_eq!(
        st(&send(Some(DID), Some(PATIENT), Some(String::new())).await),
        "message_empty"
    );
    assert_eq!(
        st(&send(Some(DID), Some(PATIENT), Some("x".repeat(161))).await),
        "sms_toolong"
    );
    assert!(f.sent_sms().is_empty(), "failed sends are not recorded");

    let ok160 = send(Some(DID), Some(PATIENT), Some("x".repeat(160))).await;
    assert_eq!(st(&ok160), "success");
    let id = ok160["sms"].as_u64().expect("sms id is a JSON integer");
    // 160 characters, more than 160 bytes: characters count.
    let accents = send(Some(DID), Some(PATIENT), Some("é".repeat(160))).await;
    assert_eq!(st(&accents), "success");
    let id2 = accents["sms"].as_u64().expect("integer");
    assert_ne!(id, id2);

    let sent = f.sent_sms();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].id, id);
    assert_eq!(sent[0].did, DID);
    assert_eq!(sent[0].dst, PATIENT);
    assert_eq!(sent[0].message, "x".repeat(160));
    assert!(f.sent_mms().is_empty());
    assert_eq!(f.calls("sendSMS").len(), 11, "failed calls are recorded too");
}

#[tokio::test]
async fn send_mms_limits_and_media() {
    let f = fake().await;
    let long = "m".repeat(2049);
    let v = api(
        &f,
        &[
            ("method", "sendMMS"),
            ("did", DID),
            ("dst", PATIENT),
            ("message", &long),
        ],
    )
    .await;
    assert_eq!(st(&v), "sms_toolong");
    let ok = "m".repeat(2048);
    let v = api(
        &f,
        &[
            ("method", "sendMMS"),
            ("did", DID),
            ("dst", PATIENT),
            ("message", &ok),
            ("media1", "https://example.com/a.png"),
            ("media2", "data:image/png;base64,iVBORw0KGgo="),
        ],
    )
    .await;
    assert_eq!(st(&v), "success");
    let id = v["mms"].as_u64().expect("mms id is a JSON integer");
    let mms = f.sent_mms();
    assert_eq!(mms.len(), 1);
    assert_eq!(mms[0].id, id);
    assert_eq!(
        mms[0].media,
        vec!["https://example.com/a.png", "data:image/png;base64,iVBORw0KGgo="]
    );
    assert!(f.sent_sms().is_empty());
}

// ---------------------------------------------------------------- getSMS

#[tokio::test]
async fn get_sms_empty_is_no_sms() {
    let f = fake().await;
    let v = api(&f, &[("method", "getSMS")]).await;
    assert_eq!(v, serde_json::json!({"status": "no_sms"}));
}

#[tokio::test]
async fn get_sms_defaults_to_today_and_shows_sent_as_type_0() {
    let f = fake().await;
    let now = Utc::now().naive_utc();
    f.add_received_sms(inbound("900001", now - chrono::Duration::seconds(5), "today in"));
    f.add_received_sms(inbound("900000", now - chrono::Duration::days(3), "old"));
    let v = api(
        &f,
        &[
            ("method", "sendSMS"),
            ("did", DID),
            ("dst", PATIENT),
            ("message", "reply"),
        ],
    )
    .await;
    let sent_id = v["sms"].as_u64().expect("id");

    let v = api(&f, &[("method", "getSMS")]).await;
    assert_eq!(st(&v), "success");
    assert_all_strings(&v);
    let rows = v["sms"].as_array().expect("array");
    assert_eq!(rows.len(), 2, "default window is today only: {v}");
    // Newest first: the sent reply, then the inbound one.
    assert_eq!(rows[0]["id"], sent_id.to_string());
    assert_eq!(rows[0]["type"], "0");
    assert_eq!(rows[0]["contact"], PATIENT);
    assert_eq!(rows[0]["message"], "reply");
    assert_eq!(rows[1]["id"], "900001");
    assert_eq!(rows[1]["type"], "1");
    assert_eq!(rows[1]["did"], DID);
    for key in ["id", "date", "type", "did", "contact", "message", "carrier_status"] {
        assert!(rows[1].get(key).is_some(), "missing {key}");
    }
    dt(rows[1]["date"].as_str().expect("date"));

    let v = api(&f, &[("method", "getSMS"), ("type", "1")]).await;
    let rows = v["sms"].as_array().expect("array");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["message"], "today in");
    let v = api(&f, &[("method", "getSMS"), ("type", "0")]).await;
    assert_eq!(v["sms"].as_array().expect("array").len(), 1);
}

#[tokio::test]
async fn get_sms_date_range_is_inclusive_and_validated() {
    let f = fake().await;
    f.add_received_sms(inbound("1", dt("2024-03-01 00:00:00"), "first second of range"));
    f.add_received_sms(inbound("2", dt("2024-03-05 23:59:59"), "last second of range"));
    f.add_received_sms(inbound("3", dt("2024-02-29 23:59:59"), "before"));
    f.add_received_sms(inbound("4", dt("2024-03-06 00:00:00"), "after"));

    let v = api(
        &f,
        &[("method", "getSMS"), ("from", "2024-03-01"), ("to", "2024-03-05")],
    )
    .await;
    let ids: Vec<&str> = v["sms"]
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, vec!["2", "1"]);

    let v = api(
        &f,
        &[("method", "getSMS"), ("from", "2024-03-02"), ("to", "2024-03-04")],
    )
    .await;
    assert_eq!(st(&v), "no_sms");

    for bad in ["2024/03/01", "03-01-2024", "2024-3-1", "2024-02-30", "yesterday"] {
        let v = api(&f, &[("method", "getSMS"), ("from", bad), ("to", "2024-03-05")]).await;
        assert_eq!(st(&v), "invalid_date", "from={bad}");
    }
    // 92 days apart is allowed, 93 is not.
    let v = api(
        &f,
        &[("method", "getSMS"), ("from", "2024-01-01"), ("to", "2024-04-02")],
    )
    .await;
    assert_eq!(st(&v), "success");
    let v = api(
        &f,
        &[("method", "getSMS"), ("from", "2024-01-01"), ("to", "2024-04-03")],
    )
    .await;
    assert_eq!(st(&v), "invalid_daterange");
    let v = api(
        &f,
        &[("method", "getSMS"), ("from", "2024-03-05"), ("to", "2024-03-01")],
    )
    .await;
    assert_eq!(st(&v), "invalid_date_from");

    // Lookup by id ignores the default "today" window.
    let v = api(&f, &[("method", "getSMS"), ("sms", "3")]).await;
    let rows = v["sms"].as_array().expect("array");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["message"], "before");
    let v = api(&f, &[("method", "getSMS"), ("sms", "999")]).await;
    assert_eq!(st(&v), "no_sms");
}

#[tokio::test]
async fn get_sms_limit_did_and_contact_filters() {
    let f = fake().await;
    f.add_did("5145550200");
    let base = dt("2024-05-10 12:00:00");
    for i in 0..60 {
        f.add_received_sms(inbound(
            &format!("{}", 1000 + i),
            base + chrono::Duration::minutes(i),
            &format!("msg {i}"),
        ));
    }
    let mut other = inbound("5000", base, "other line");
    other.did = "5145550200".into();
    other.contact = "5145559999".into();
    f.add_received_sms(other);
    let day = [("method", "getSMS"), ("from", "2024-05-10"), ("to", "2024-05-10")];

    let v = api(&f, &day).await;
    let rows = v["sms"].as_array().expect("array");
    assert_eq!(rows.len(), 50, "default limit is 50");
    assert_eq!(rows[0]["id"], "1059", "newest first");

    let mut p = day.to_vec();
    p.push(("limit", "5"));
    let v = api(&f, &p).await;
    let ids: Vec<&str> = v["sms"]
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, vec!["1059", "1058", "1057", "1056", "1055"]);

    let mut p = day.to_vec();
    p.push(("did", "5145550200"));
    let v = api(&f, &p).await;
    assert_eq!(v["sms"].as_array().expect("array").len(), 1);

    let mut p = day.to_vec();
    p.extend([("contact", PATIENT), ("limit", "1000")]);
    let v = api(&f, &p).await;
    assert_eq!(v["sms"].as_array().expect("array").len(), 60);
}

#[tokio::test]
async fn get_sms_timezone_shifts_filter_and_display() {
    let f = fake().await;
    f.add_received_sms(inbound("77", dt("2024-03-10 02:30:00"), "late evening in Montreal"));

    let v = api(
        &f,
        &[("method", "getSMS"), ("from", "2024-03-10"), ("to", "2024-03-10")],
    )
    .await;
    assert_eq!(v["sms"][0]["date"], "2024-03-10 02:30:00", "default timezone is UTC");
    let v = api(
        &f,
        &[
            ("method", "getSMS"),
            ("from", "2024-03-10"),
            ("to", "2024-03-10"),
            ("timezone", "0"),
        ],
    )
    .await;
    assert_eq!(v["sms"][0]["date"], "2024-03-10 02:30:00");

    let v = api(
        &f,
        &[
            ("method", "getSMS"),
            ("from", "2024-03-09"),
            ("to", "2024-03-09"),
            ("timezone", "-5"),
        ],
    )
    .await;
    assert_eq!(st(&v), "success");
    assert_eq!(v["sms"][0]["date"], "2024-03-09 21:30:00");
    let v = api(
        &f,
        &[
            ("method", "getSMS"),
            ("from", "2024-03-10"),
            ("to", "2024-03-10"),
            ("timezone", "-5"),
        ],
    )
    .await;
    assert_eq!(st(&v), "no_sms");
    let v = api(
        &f,
        &[
            ("method", "getSMS"),
            ("from", "2024-03-10"),
            ("to", "2024-03-10"),
            ("timezone", "13"),
        ],
    )
    .await;
    assert_eq!(v["sms"][0]["date"], "2024-03-10 15:30:00");

    for bad in ["14", "-13", "abc", "1.5"] {
        let v = api(&f, &[("method", "getSMS"), ("timezone", bad)]).await;
        assert_eq!(st(&v), "invalid_timezone", "timezone={bad}");
    }
}

// ---------------------------------------------------------------- getDIDsInfo / setSMS

#[tokio::test]
async fn get_dids_info_rows_are_strings() {
    let f = FakeVoipMs::start(USER, PASS).await;
    assert_eq!(st(&api(&f, &[("method", "getDIDsInfo")]).await), "no_did");
    f.add_did(DID);
    f.add_did("5145550200");
    let v = api(&f, &[("method", "getDIDsInfo")]).await;
    assert_eq!(st(&v), "success");
    assert_all_strings(&v);
    assert_eq!(v["dids"].as_array().expect("array").len(), 2);
    let v = api(&f, &[("method", "getDIDsInfo"), ("did", DID)]).await;
    let rows = v["dids"].as_array().expect("array");
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    for key in [
        "did",
        "description",
        "routing",
        "sms_available",
        "sms_enabled",
        "sms_email",
        "sms_email_enabled",
        "sms_forward",
        "sms_forward_enabled",
        "sms_url_callback",
        "sms_url_callback_enabled",
        "sms_url_callback_retry",
        "webhook",
        "webhook_enabled",
        "dialmode",
    ] {
        assert!(row.get(key).is_some(), "missing {key}");
    }
    assert_eq!(row["did"], DID);
    assert_eq!(row["sms_enabled"], "1");
    assert_eq!(row["sms_email_enabled"], "1");
    assert_eq!(row["sms_email"], "frontdesk@example.com");
    assert_eq!(row["sms_url_callback_enabled"], "0");
    assert_eq!(Some(row.clone()), f.did_info(DID));
    let v = api(&f, &[("method", "getDIDsInfo"), ("did", "9999999999")]).await;
    assert_eq!(st(&v), "no_did");
}

#[tokio::test]
async fn set_sms_resets_everything_not_passed() {
    let f = fake().await;
    let v = api(
        &f,
        &[
            ("method", "setSMS"),
            ("did", DID),
            ("enable", "1"),
            ("url_callback_enable", "1"),
            ("url_callback", "https://clinic.example/voipms?did={TO}&from={FROM}"),
            ("url_callback_retry", "1"),
        ],
    )
    .await;
    assert_eq!(st(&v), "success");
    let info = f.did_info(DID).expect("did");
    assert_eq!(info["sms_enabled"], "1");
    assert_eq!(info["sms_url_callback_enabled"], "1");
    assert_eq!(
        info["sms_url_callback"],
        "https://clinic.example/voipms?did={TO}&from={FROM}"
    );
    assert_eq!(info["sms_url_callback_retry"], "1");
    // The pitfall: email forwarding was not in the call, so it is now off.
    assert_eq!(info["sms_email_enabled"], "0");
    assert_eq!(info["sms_email"], "");

    // Passing everything keeps both.
    let v = api(
        &f,
        &[
            ("method", "setSMS"),
            ("did", DID),
            ("enable", "1"),
            ("email_enabled", "1"),
            ("email_address", "frontdesk@example.com"),
            ("sms_forward_enable", "1"),
            ("sms_forward", "5145550111"),
            ("url_callback_enable", "1"),
            ("url_callback", "https://clinic.example/cb"),
            ("url_callback_retry", "0"),
            ("webhook_enable", "1"),
            ("webhook", "https://clinic.example/hook"),
            ("dialmode", "2"),
        ],
    )
    .await;
    assert_eq!(st(&v), "success");
    let info = f.did_info(DID).expect("did");
    assert_eq!(info["sms_email_enabled"], "1");
    assert_eq!(info["sms_email"], "frontdesk@example.com");
    assert_eq!(info["sms_forward_enabled"], "1");
    assert_eq!(info["sms_forward"], "5145550111");
    assert_eq!(info["sms_url_callback"], "https://clinic.example/cb");
    assert_eq!(info["sms_url_callback_retry"], "0");
    assert_eq!(info["webhook_enabled"], "1");
    assert_eq!(info["webhook"], "https://clinic.example/hook");
    assert_eq!(info["dialmode"], "2");

    // enable=0 alone switches everything off.
    let v = api(&f, &[("method", "setSMS"), ("did", DID), ("enable", "0")]).await;
    assert_eq!(st(&v), "success");
    let info = f.did_info(DID).expect("did");
    for k in [
        "sms_enabled",
        "sms_email_enabled",
        "sms_forward_enabled",
        "sms_url_callback_enabled",
        "webhook_enabled",
    ] {
        assert_eq!(info[k], "0", "{k}");
    }
    assert_eq!(info["dialmode"], "1");
    assert_eq!(info["sms_available"], "1", "availability is not a setting");
}

#[tokio::test]
async fn set_sms_rejects_bad_params_and_leaves_settings_alone() {
    let f = fake().await;
    let before = f.did_info(DID);
    assert_eq!(
        st(&api(&f, &[("method", "setSMS"), ("enable", "1")]).await),
        "missing_did"
    );
    assert_eq!(
        st(&api(&f, &[("method", "setSMS"), ("did", "1112223333"), ("enable", "1")]).await),
        "invalid_did"
    );
    assert_eq!(
        st(&api(&f, &[("method", "setSMS"), ("did", DID)]).await),
        "missing_enable"
    );
    assert_eq!(
        st(&api(&f, &[("method", "setSMS"), ("did", DID), ("enable", "true")]).await),
        "missing_params"
    );
    assert_eq!(
        st(&api(
            &f,
            &[
                ("method", "setSMS"),
                ("did", DID),
                ("enable", "1"),
                ("email_enabled", "true")
            ]
        )
        .await),
        "invalid_email_enable"
    );
    assert_eq!(
        st(&api(
            &f,
            &[
                ("method", "setSMS"),
                ("did", DID),
                ("enable", "1"),
                ("url_callback_enable", "false")
            ]
        )
        .await),
        "invalid_callback_enable"
    );
    assert_eq!(
        st(&api(
            &f,
            &[
                ("method", "setSMS"),
                ("did", DID),
                ("enable", "1"),
                ("url_callback_retry", "yes")
            ]
        )
        .await),
        "invalid_callback_retry"
    );
    assert_eq!(f.did_info(DID), before, "rejected calls change nothing");
    assert_eq!(f.calls("setSMS").len(), 7);
}

// ---------------------------------------------------------------- callback

#[derive(Default)]
struct Receiver {
    queries: Vec<String>,
    fail_first: usize,
}

async fn start_receiver(fail_first: usize) -> (String, Arc<Mutex<Receiver>>) {
    let state = Arc::new(Mutex::new(Receiver {
        queries: Vec::new(),
        fail_first,
    }));
    async fn hook(State(s): State<Arc<Mutex<Receiver>>>, RawQuery(q): RawQuery) -> String {
        let mut r = s.lock().expect("lock");
        r.queries.push(q.unwrap_or_default());
        if r.queries.len() <= r.fail_first {
            "error: database busy".to_string()
        } else {
            "ok".to_string()
        }
    }
    let app = Router::new().route("/voipms/hook", get(hook)).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/voipms/hook"), state)
}

fn callback_sms() -> InboundSms {
    InboundSms {
        id: "31337".into(),
        date: dt("2024-06-01 14:05:09"),
        did: DID.into(),
        contact: PATIENT.into(),
        message: "Can I move my 3pm? Thanks & bye = 100%".into(),
        media: None,
    }
}

#[tokio::test]
async fn callback_is_retried_until_ok() {
    let f = fake().await;
    let (url, rx) = start_receiver(2).await;
    let template =
        format!("{url}?to={{TO}}&from={{FROM}}&message={{MESSAGE}}&id={{ID}}&date={{TIMESTAMP}}&media={{MEDIA}}");
    let report = f.deliver_callback(&template, &callback_sms(), 5).await;
    assert!(report.acknowledged);
    assert_eq!(report.attempts, 3);
    assert_eq!(report.last_status, 200);
    assert_eq!(report.last_body, "ok");
    let queries = rx.lock().expect("lock").queries.clone();
    assert_eq!(queries.len(), 3);
    assert!(queries.iter().all(|q| q == &queries[0]), "same message re-sent");
    assert_eq!(
        queries[0],
        "to=5145550100&from=4385550199&message=Can%20I%20move%20my%203pm%3F%20Thanks%20%26%20bye%20%3D%20100%25&id=31337&date=2024-06-01%2014%3A05%3A09&media="
    );
    // The delivered message is now visible to getSMS by id.
    let v = api(&f, &[("method", "getSMS"), ("sms", "31337")]).await;
    assert_eq!(v["sms"][0]["message"], "Can I move my 3pm? Thanks & bye = 100%");
}

#[tokio::test]
async fn callback_gives_up_after_max_attempts_and_supports_semicolons() {
    let f = fake().await;
    let (url, rx) = start_receiver(100).await;
    let template = format!("{url}?to={{TO}};from={{FROM}};message={{MESSAGE}}");
    let report = f.deliver_callback(&template, &callback_sms(), 4).await;
    assert!(!report.acknowledged);
    assert_eq!(report.attempts, 4);
    assert_eq!(report.last_status, 200);
    assert_eq!(report.last_body, "error: database busy");
    let queries = rx.lock().expect("lock").queries.clone();
    assert_eq!(queries.len(), 4);
    assert!(queries[0].starts_with("to=5145550100;from=4385550199;message=Can%20I"));

    // A body of "OK" or "ok\n" is not exactly "ok".
    let app = Router::new().route("/x", get(|| async { "ok\n" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let report = f
        .deliver_callback(&format!("http://{addr}/x?id={{ID}}"), &callback_sms(), 2)
        .await;
    assert!(!report.acknowledged);
    assert_eq!(report.attempts, 2);

    // Nothing listening: transport failures count as attempts.
    let report = f
        .deliver_callback("http://127.0.0.1:9/nothing?id={ID}", &callback_sms(), 2)
        .await;
    assert!(!report.acknowledged);
    assert_eq!(report.attempts, 2);
    assert_eq!(report.last_status, 0);
}

#[tokio::test]
async fn deliver_inbound_follows_did_configuration() {
    let f = fake().await;
    let (url, rx) = start_receiver(100).await;
    // Callback off (default): nothing sent, message stored.
    assert_eq!(f.deliver_inbound(&callback_sms(), 3).await, None);
    assert!(rx.lock().expect("lock").queries.is_empty());

    let template = format!("{url}?id={{ID}}");
    let v = api(
        &f,
        &[
            ("method", "setSMS"),
            ("did", DID),
            ("enable", "1"),
            ("url_callback_enable", "1"),
            ("url_callback", &template),
            ("url_callback_retry", "0"),
        ],
    )
    .await;
    assert_eq!(st(&v), "success");
    let report = f.deliver_inbound(&callback_sms(), 3).await.expect("delivered");
    assert_eq!(report.attempts, 1, "retry off: a single attempt");

    let v = api(
        &f,
        &[
            ("method", "setSMS"),
            ("did", DID),
            ("enable", "1"),
            ("url_callback_enable", "1"),
            ("url_callback", &template),
            ("url_callback_retry", "1"),
        ],
    )
    .await;
    assert_eq!(st(&v), "success");
    let report = f.deliver_inbound(&callback_sms(), 3).await.expect("delivered");
    assert_eq!(report.attempts, 3);
    let v = api(&f, &[("method", "getSMS"), ("sms", "31337")]).await;
    assert_eq!(v["sms"].as_array().expect("array").len(), 1, "stored once");
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn faults_status_http_empty_delay() {
    let f = fake().await;
    let send = [("method", "sendSMS"), ("did", DID), ("dst", PATIENT), ("message", "hi")];

    f.set_fault("sendSMS", Some(Fault::Status("sms_failed")));
    assert_eq!(st(&api(&f, &send).await), "sms_failed");
    assert_eq!(st(&api(&f, &send).await), "sms_failed", "persists until cleared");
    assert!(f.sent_sms().is_empty());
    // Other methods are unaffected; bad credentials still win.
    assert_eq!(st(&api(&f, &[("method", "getDIDsInfo")]).await), "success");
    let v = raw_get(
        &f,
        &[("api_username", USER), ("api_password", "x"), ("method", "sendSMS")],
    )
    .await;
    assert_eq!(st(&v), "invalid_credentials");

    f.set_fault("sendSMS", Some(Fault::Status("method_maintenance")));
    assert_eq!(st(&api(&f, &send).await), "method_maintenance");

    f.set_fault("sendSMS", Some(Fault::Http(500)));
    let url = reqwest::Url::parse_with_params(
        &f.api_url(),
        [("api_username", USER), ("api_password", PASS)]
            .iter()
            .chain(send.iter()),
    )
    .expect("url");
    let resp = reqwest::get(url.clone()).await.expect("send");
    assert_eq!(resp.status().as_u16(), 500);

    f.set_fault("sendSMS", Some(Fault::EmptyBody));
    let resp = reqwest::get(url.clone()).await.expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.expect("body"), "");

    f.set_fault("sendSMS", Some(Fault::Delay(Duration::from_millis(300))));
    let t = Instant::now();
    let v = api(&f, &send).await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(st(&v), "success", "delay then normal answer");
    assert_eq!(f.sent_sms().len(), 1);

    f.set_fault("sendSMS", None);
    assert_eq!(st(&api(&f, &send).await), "success");
    assert_eq!(f.sent_sms().len(), 2);

    // "*" covers every method without its own fault.
    f.set_fault("*", Some(Fault::Status("api_limit_exceeded")));
    assert_eq!(st(&api(&f, &[("method", "getSMS")]).await), "api_limit_exceeded");
    f.set_fault("*", None);
    assert_eq!(st(&api(&f, &[("method", "getSMS")]).await), "success");
    assert_eq!(f.calls("sendSMS").len(), 8);
}

// ---------------------------------------------------------------- getMMS

#[tokio::test]
async fn get_mms_lists_mms_and_with_all_messages_the_texts_too() {
    let f = fake().await;
    let now = Utc::now().naive_utc();
    f.add_received_sms(inbound("501", now, "a text"));
    f.add_received_mms(inbound("9001", now, "a picture"), &["https://voip.ms/media.php?map=a"]);
    assert_eq!(
        st(&api(&f, &[("method", "getMMS"), ("did", "5145550999")]).await),
        "no_sms"
    );

    let only_mms = api(&f, &[("method", "getMMS"), ("type", "1")]).await;
    assert_all_strings(&only_mms);
    let rows = only_mms["sms"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], "9001");
    assert_eq!(rows[0]["col_media1"], "https://voip.ms/media.php?map=a");
    assert_eq!(rows[0]["col_media2"], "");
    assert_eq!(rows[0]["media"][0], "https://voip.ms/media.php?map=a");

    let all = api(&f, &[("method", "getMMS"), ("all_messages", "1"), ("type", "1")]).await;
    assert_all_strings(&all);
    let ids: Vec<&str> = all["sms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"501") && ids.contains(&"9001"));
    // The id must be 0 with all_messages.
    let v = api(&f, &[("method", "getMMS"), ("all_messages", "1"), ("mms", "9001")]).await;
    assert_eq!(st(&v), "invalid_mms");
    // getSMS never shows the MMS.
    let texts = api(&f, &[("method", "getSMS"), ("type", "1")]).await;
    assert_eq!(texts["sms"].as_array().unwrap().len(), 1);
}
