use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use chrono::{Days, NaiveDate, NaiveDateTime, Utc};
use pedro_tests::fakes::voipms::{
    recording_id, CdrRow, FakeVoipMs, Fault, InboundSms, Recording, DEFAULT_ACCOUNT, DEFAULT_RECORDINGS_LENGTH,
};
use pedro_tests::mp3;
use serde_json::{json, Value};

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
    assert_eq!(
        st(&api(&f, &[("method", "getVoicemailMessages")]).await),
        "invalid_method"
    );

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

// ---------------------------------------------------------------- getCDR

const CALLER: &str = "4385550199";

/// getCDR over `from..=to` with `timezone=tz`, every call status asked for, plus `extra`
/// (a repeated key overrides: the fake keeps the last value).
async fn cdr(f: &FakeVoipMs, from: &str, to: &str, tz: &str, extra: &[(&str, &str)]) -> Value {
    let mut p = vec![
        ("method", "getCDR"),
        ("date_from", from),
        ("date_to", to),
        ("timezone", tz),
        ("answered", "1"),
        ("noanswer", "1"),
        ("busy", "1"),
        ("failed", "1"),
    ];
    p.extend_from_slice(extra);
    api(f, &p).await
}

fn cdr_rows(v: &Value) -> &Vec<Value> {
    assert_eq!(st(v), "success", "{v}");
    v["cdr"].as_array().expect("cdr is an array")
}

fn field<'a>(rows: &'a [Value], key: &str) -> Vec<&'a str> {
    rows.iter().map(|r| r[key].as_str().expect("string field")).collect()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("day")
}

#[tokio::test]
async fn get_cdr_required_params_and_formats() {
    let f = fake().await;
    let flags = [("answered", "1")];
    let without = |skip: &str| {
        let mut p = vec![
            ("method", "getCDR"),
            ("date_from", "2026-03-01"),
            ("date_to", "2026-03-02"),
            ("timezone", "0"),
        ];
        p.retain(|(k, _)| *k != skip);
        p.extend_from_slice(&flags);
        p
    };
    for skip in ["date_from", "date_to", "timezone"] {
        assert_eq!(st(&api(&f, &without(skip)).await), "missing_params", "without {skip}");
    }
    assert_eq!(
        st(&cdr(&f, "2026-03-01", "2026-03-02", "", &[]).await),
        "missing_params",
        "empty timezone"
    );
    for (from, to) in [
        ("2026/03/01", "2026-03-02"),
        ("2026-3-1", "2026-03-02"),
        ("2026-03-01", "2026-02-30"),
        ("2026-03-01", "tomorrow"),
    ] {
        assert_eq!(st(&cdr(&f, from, to, "0", &[]).await), "invalid_date", "{from}..{to}");
    }
    for tz in ["14", "-13", "13.5", "abc", "5x", "1e1", "NaN", "inf", "-"] {
        assert_eq!(
            st(&cdr(&f, "2026-03-01", "2026-03-02", tz, &[]).await),
            "invalid_timezone",
            "timezone {tz}"
        );
    }
    for tz in ["13", "-12", "-5", "+2", "-3.5", "0"] {
        assert_eq!(
            st(&cdr(&f, "2026-03-01", "2026-03-02", tz, &[]).await),
            "no_cdr",
            "timezone {tz}"
        );
    }
    // Booleans are 1/0 only; calltype `all` is the one value modelled.
    let v = cdr(&f, "2026-03-01", "2026-03-02", "0", &[("answered", "true")]).await;
    assert_eq!(st(&v), "missing_params");
    let v = cdr(&f, "2026-03-01", "2026-03-02", "0", &[("calltype", "all")]).await;
    assert_eq!(st(&v), "no_cdr");
    let v = cdr(&f, "2026-03-01", "2026-03-02", "0", &[("calltype", DID)]).await;
    assert_eq!(st(&v), "missing_params");
}

#[tokio::test]
async fn get_cdr_needs_a_call_status() {
    let f = fake().await;
    f.add_cdr(CdrRow::inbound(
        "1",
        dt("2026-03-01 12:00:00"),
        CALLER,
        DID,
        "ANSWERED",
        10,
    ));
    let base = [
        ("method", "getCDR"),
        ("date_from", "2026-03-01"),
        ("date_to", "2026-03-01"),
        ("timezone", "0"),
    ];
    assert_eq!(st(&api(&f, &base).await), "no_callstatus");
    let mut all_zero = base.to_vec();
    all_zero.extend([("answered", "0"), ("noanswer", "0"), ("busy", "0"), ("failed", "0")]);
    assert_eq!(st(&api(&f, &all_zero).await), "no_callstatus");
    let mut one = base.to_vec();
    one.push(("busy", "1"));
    assert_eq!(
        st(&api(&f, &one).await),
        "no_cdr",
        "valid, but the one call was answered"
    );
    one.push(("answered", "1"));
    assert_eq!(cdr_rows(&api(&f, &one).await).len(), 1);
}

#[tokio::test]
async fn get_cdr_date_range_is_at_most_92_days_both_ends_included() {
    let f = fake().await;
    let from = day("2026-01-01");
    let last_ok = from + Days::new(92);
    assert_eq!(last_ok, day("2026-04-03"));
    // A call on the first and on the last day of the longest window: both are in it.
    f.add_cdr(CdrRow::inbound(
        "first",
        dt("2026-01-01 00:00:00"),
        CALLER,
        DID,
        "ANSWERED",
        5,
    ));
    f.add_cdr(CdrRow::inbound(
        "last",
        dt("2026-04-03 23:59:59"),
        CALLER,
        DID,
        "ANSWERED",
        5,
    ));
    let v = cdr(&f, "2026-01-01", "2026-04-03", "0", &[]).await;
    assert_eq!(field(cdr_rows(&v), "uniqueid"), ["last", "first"]);
    let v = cdr(&f, "2026-01-01", "2026-04-04", "0", &[]).await;
    assert_eq!(st(&v), "invalid_daterange", "93 days");
    let v = cdr(&f, "2026-03-02", "2026-03-01", "0", &[]).await;
    assert_eq!(st(&v), "invalid_daterange", "date_from after date_to");
    let v = cdr(&f, "2026-04-03", "2026-04-03", "0", &[]).await;
    assert_eq!(field(cdr_rows(&v), "uniqueid"), ["last"], "a single day");
}

#[tokio::test]
async fn get_cdr_empty_is_no_cdr() {
    let f = fake().await;
    assert_eq!(st(&cdr(&f, "2026-03-01", "2026-03-31", "0", &[]).await), "no_cdr");
    f.add_cdr(CdrRow::inbound(
        "1",
        dt("2026-04-01 00:00:00"),
        CALLER,
        DID,
        "ANSWERED",
        10,
    ));
    assert_eq!(st(&cdr(&f, "2026-03-01", "2026-03-31", "0", &[]).await), "no_cdr");
}

#[tokio::test]
async fn get_cdr_rows_carry_every_contract_field_as_strings_newest_first() {
    let f = fake().await;
    f.add_cdr(CdrRow::inbound(
        "12964421x41098i8c",
        dt("2026-03-05 14:00:00"),
        CALLER,
        DID,
        "ANSWERED",
        65,
    ));
    f.add_cdr(CdrRow::outbound(
        "128238059",
        dt("2026-03-05 16:30:00"),
        DID,
        PATIENT,
        "ANSWERED",
        3700,
    ));
    let v = cdr(&f, "2026-03-05", "2026-03-05", "0", &[]).await;
    assert_all_strings(&v);
    let rows = cdr_rows(&v);
    assert_eq!(field(rows, "uniqueid"), ["128238059", "12964421x41098i8c"]);
    let mut keys: Vec<&str> = rows[0].as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "account",
            "call_logs",
            "callerid",
            "date",
            "description",
            "destination",
            "destination_type",
            "disposition",
            "duration",
            "rate",
            "seconds",
            "total",
            "uniqueid"
        ]
    );
    let (out, inb) = (&rows[0], &rows[1]);
    assert_eq!(inb["date"], "2026-03-05 14:00:00");
    assert_eq!(inb["callerid"], format!("\"{CALLER}\" <{CALLER}>"));
    assert_eq!(inb["destination"], DID);
    assert_eq!(inb["description"], "Inbound - Local Caller");
    assert_eq!(inb["destination_type"], "IN:USA");
    assert_eq!(inb["account"], DEFAULT_ACCOUNT);
    assert_eq!(inb["disposition"], "ANSWERED");
    assert_eq!(inb["duration"], "00:01:05");
    assert_eq!(inb["seconds"], "65");
    assert_eq!(inb["rate"], "0.00850000");
    assert_eq!(inb["total"], "0.00920833");
    assert!(inb["call_logs"].as_str().unwrap().contains("12964421x41098i8c"));
    assert_eq!(out["callerid"], DID);
    assert_eq!(out["destination"], PATIENT);
    assert_eq!(out["description"], "Outbound");
    assert_eq!(out["destination_type"], "OUT:USA");
    assert_eq!(out["duration"], "01:01:40");
    assert_eq!(out["seconds"], "3700");
}

#[tokio::test]
async fn get_cdr_timezone_shifts_date_and_day_filter() {
    let f = fake().await;
    // 02:30 UTC on the 10th is still the evening of the 9th at UTC-5.
    f.add_cdr(CdrRow::inbound(
        "early",
        dt("2026-03-10 02:30:00"),
        CALLER,
        DID,
        "ANSWERED",
        30,
    ));
    let v = cdr(&f, "2026-03-10", "2026-03-10", "0", &[]).await;
    assert_eq!(cdr_rows(&v)[0]["date"], "2026-03-10 02:30:00");
    assert_eq!(st(&cdr(&f, "2026-03-10", "2026-03-10", "-5", &[]).await), "no_cdr");
    let v = cdr(&f, "2026-03-09", "2026-03-09", "-5", &[]).await;
    assert_eq!(cdr_rows(&v)[0]["date"], "2026-03-09 21:30:00");
    let v = cdr(&f, "2026-03-09", "2026-03-09", "-3.5", &[]).await;
    assert_eq!(cdr_rows(&v)[0]["date"], "2026-03-09 23:00:00");
    let v = cdr(&f, "2026-03-10", "2026-03-10", "13", &[]).await;
    assert_eq!(cdr_rows(&v)[0]["date"], "2026-03-10 15:30:00");
    // Noon UTC on the 9th is already the 10th at UTC+13.
    f.add_cdr(CdrRow::inbound(
        "noon",
        dt("2026-03-09 12:00:00"),
        CALLER,
        DID,
        "ANSWERED",
        30,
    ));
    let v = cdr(&f, "2026-03-10", "2026-03-10", "13", &[]).await;
    assert_eq!(
        field(cdr_rows(&v), "date"),
        ["2026-03-10 15:30:00", "2026-03-10 01:00:00"]
    );
    let v = cdr(&f, "2026-03-09", "2026-03-09", "0", &[]).await;
    assert_eq!(field(cdr_rows(&v), "uniqueid"), ["noon"]);
}

#[tokio::test]
async fn get_cdr_filters_on_disposition_and_account() {
    let f = fake().await;
    let at = dt("2026-03-05 10:00:00");
    let mut rows = Vec::new();
    for (i, disposition) in ["ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION"]
        .iter()
        .enumerate()
    {
        let mut row = CdrRow::inbound(
            &format!("d{i}"),
            at + chrono::Duration::minutes(i as i64),
            CALLER,
            DID,
            disposition,
            0,
        );
        if i == 1 {
            row.account = "100000_frontdesk".into();
        }
        rows.push(row);
    }
    let mut other = CdrRow::outbound("other", at, DID, PATIENT, "ANSWERED", 9);
    other.account = "200000".into();
    rows.push(other);
    f.add_cdr_rows(rows);

    let only = |flag: &'static str| {
        let f = &f;
        async move {
            let p = [
                ("method", "getCDR"),
                ("date_from", "2026-03-05"),
                ("date_to", "2026-03-05"),
                ("timezone", "0"),
                (flag, "1"),
            ];
            let v = api(f, &p).await;
            field(cdr_rows(&v), "disposition")
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        }
    };
    // A disposition outside the four known ones shows with any call status.
    assert_eq!(only("answered").await, ["CONGESTION", "ANSWERED", "ANSWERED"]);
    assert_eq!(only("noanswer").await, ["CONGESTION", "NO ANSWER"]);
    assert_eq!(only("busy").await, ["CONGESTION", "BUSY"]);
    assert_eq!(only("failed").await, ["CONGESTION", "FAILED"]);
    let v = cdr(&f, "2026-03-05", "2026-03-05", "0", &[("answered", "0"), ("busy", "0")]).await;
    assert_eq!(field(cdr_rows(&v), "uniqueid"), ["d4", "d3", "d1"]);

    let v = cdr(&f, "2026-03-05", "2026-03-05", "0", &[("account", "100000_frontdesk")]).await;
    assert_eq!(field(cdr_rows(&v), "uniqueid"), ["d1"]);
    // The main account covers its sub-accounts.
    let v = cdr(&f, "2026-03-05", "2026-03-05", "0", &[("account", "100000")]).await;
    assert_eq!(field(cdr_rows(&v), "uniqueid"), ["d4", "d3", "d2", "d1", "d0"]);
    let v = cdr(&f, "2026-03-05", "2026-03-05", "0", &[("account", "200000")]).await;
    assert_eq!(field(cdr_rows(&v), "uniqueid"), ["other"]);
    let v = cdr(&f, "2026-03-05", "2026-03-05", "0", &[("account", "999999")]).await;
    assert_eq!(st(&v), "no_cdr");
}

#[tokio::test]
async fn get_cdr_raw_rows_are_returned_as_is() {
    let f = fake().await;
    let numbers = json!({"date": "2026-03-05 10:00:00", "uniqueid": 128238059, "seconds": 11, "rate": 0.0085});
    let empty = json!({"date": "", "callerid": "", "disposition": "", "seconds": ""});
    f.add_raw_cdr(dt("2026-03-05 10:00:00"), numbers.clone());
    f.add_raw_cdr(dt("2026-03-05 11:00:00"), empty.clone());
    f.add_raw_cdr(dt("2026-03-05 12:00:00"), json!("garbage"));
    f.add_raw_cdr(dt("2026-03-07 12:00:00"), json!({"uniqueid": "later"}));
    f.add_cdr(CdrRow::inbound(
        "typed",
        dt("2026-03-05 09:00:00"),
        CALLER,
        DID,
        "ANSWERED",
        3,
    ));
    // Only the date filter applies to raw rows (in the request's timezone).
    let p = [
        ("method", "getCDR"),
        ("date_from", "2026-03-05"),
        ("date_to", "2026-03-05"),
        ("timezone", "0"),
        ("failed", "1"),
    ];
    let v = api(&f, &p).await;
    assert_eq!(*cdr_rows(&v), vec![json!("garbage"), empty.clone(), numbers.clone()]);
    let v = cdr(&f, "2026-03-05", "2026-03-05", "0", &[]).await;
    assert_eq!(cdr_rows(&v).len(), 4);
    assert_eq!(cdr_rows(&v)[3]["uniqueid"], "typed");
    // At UTC-11, 10:00 and 09:00 UTC are still the 4th.
    let v = cdr(&f, "2026-03-05", "2026-03-05", "-11", &[]).await;
    assert_eq!(*cdr_rows(&v), vec![json!("garbage"), empty]);
    let v = cdr(&f, "2026-03-04", "2026-03-04", "-11", &[]).await;
    assert_eq!(cdr_rows(&v)[0], numbers);
    assert_eq!(cdr_rows(&v)[1]["date"], "2026-03-04 22:00:00");

    f.clear_cdr();
    assert_eq!(st(&cdr(&f, "2026-03-01", "2026-03-31", "0", &[]).await), "no_cdr");
}

#[tokio::test]
async fn get_cdr_window_over_100k_rows_is_cheap() {
    let f = fake().await;
    let start = dt("2026-01-01 00:00:00");
    let t = Instant::now();
    // One call a minute: about 69 days.
    f.add_cdr_rows((0..100_000u32).map(|i| {
        CdrRow::inbound(
            &format!("u{i}"),
            start + chrono::Duration::minutes(i64::from(i)),
            CALLER,
            DID,
            "ANSWERED",
            i % 600,
        )
    }));
    let v = cdr(&f, "2026-02-01", "2026-02-01", "0", &[]).await;
    let rows = cdr_rows(&v);
    assert_eq!(rows.len(), 24 * 60);
    assert_eq!(rows[0]["date"], "2026-02-01 23:59:00");
    assert_eq!(rows[rows.len() - 1]["date"], "2026-02-01 00:00:00");
    assert_eq!(st(&cdr(&f, "2026-06-01", "2026-06-30", "0", &[]).await), "no_cdr");
    // Generous: a linear scan per row (quadratic) would take minutes, not seconds.
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
}

// ---------------------------------------------------------------- recordings

const ACCOUNT: &str = "100000_VoIP";

fn recording(seed: &str, datetime: &str, incoming: bool, secs: u32) -> Recording {
    Recording {
        id: recording_id(seed),
        datetime: dt(datetime),
        destination: if incoming { DID } else { PATIENT }.to_string(),
        incoming,
        account: ACCOUNT.to_string(),
        duration_secs: secs,
        mp3: mp3::silence(f64::from(secs)),
    }
}

async fn recordings(f: &FakeVoipMs, from: &str, to: &str, extra: &[(&str, &str)]) -> Value {
    let mut p = vec![
        ("method", "getCallRecordings"),
        ("account", ACCOUNT),
        ("date_from", from),
        ("date_to", to),
    ];
    p.extend_from_slice(extra);
    api(f, &p).await
}

fn recording_ids(v: &Value) -> Vec<String> {
    assert_eq!(st(v), "success", "{v}");
    v["recordings"]
        .as_array()
        .expect("recordings is an array")
        .iter()
        .map(|r| r["callrecording"].as_str().expect("string id").to_string())
        .collect()
}

/// The raw text of a GET with credentials.
async fn api_text(f: &FakeVoipMs, params: &[(&str, &str)]) -> String {
    let mut all = vec![("api_username", USER), ("api_password", PASS)];
    all.extend_from_slice(params);
    let url = reqwest::Url::parse_with_params(&f.api_url(), &all).expect("url");
    let resp = reqwest::get(url).await.expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    resp.text().await.expect("body")
}

/// What a client must do with `base64file`: drop the whitespace, then decode.
fn decode_base64file(v: &Value) -> Vec<u8> {
    let text: String = v["base64file"]
        .as_str()
        .expect("base64file is a string")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("valid base64 once whitespace is gone")
}

#[tokio::test]
async fn get_call_recordings_required_params_and_dates() {
    let f = fake().await;
    f.add_recording(recording("r1", "2026-03-05 10:00:00", true, 20));
    let without = |skip: &str| {
        let mut p = vec![
            ("method", "getCallRecordings"),
            ("account", ACCOUNT),
            ("date_from", "2026-03-01"),
            ("date_to", "2026-03-31"),
        ];
        p.retain(|(k, _)| *k != skip);
        p
    };
    for skip in ["account", "date_from", "date_to"] {
        assert_eq!(st(&api(&f, &without(skip)).await), "missing_params", "without {skip}");
    }
    assert_eq!(
        st(&recordings(&f, "2026-03-01", "2026-03-31", &[("account", "")]).await),
        "missing_params"
    );
    assert_eq!(st(&recordings(&f, "2026-3-1", "2026-03-31", &[]).await), "invalid_date");
    assert_eq!(
        st(&recordings(&f, "2026-03-01", "31/03/2026", &[]).await),
        "invalid_date"
    );
    // 92 days is the longest range; both ends are included.
    assert_eq!(
        recording_ids(&recordings(&f, "2026-03-05", "2026-06-05", &[]).await).len(),
        1
    );
    assert_eq!(
        recording_ids(&recordings(&f, "2026-02-01", "2026-03-05", &[]).await).len(),
        1
    );
    assert_eq!(
        st(&recordings(&f, "2026-03-05", "2026-06-06", &[]).await),
        "invalid_daterange"
    );
    assert_eq!(
        st(&recordings(&f, "2026-03-06", "2026-03-05", &[]).await),
        "invalid_daterange"
    );
    for bad in [
        ("call_type", "Incoming"),
        ("start", "x"),
        ("start", "-1"),
        ("length", "0"),
    ] {
        assert_eq!(
            st(&recordings(&f, "2026-03-01", "2026-03-31", &[bad]).await),
            "missing_params",
            "{bad:?}"
        );
    }
    assert_eq!(
        st(&recordings(&f, "2026-04-01", "2026-04-30", &[]).await),
        "no_recording"
    );
}

#[tokio::test]
async fn get_call_recordings_pages_with_start_and_length() {
    let f = fake().await;
    let first = dt("2026-03-01 08:00:00");
    let mut expected = Vec::new();
    for i in 0..25u32 {
        let when = first + chrono::Duration::hours(i64::from(i) * 7);
        let rec = recording(
            &format!("109799-{i}-IN-{}", when.and_utc().timestamp()),
            &when.format("%Y-%m-%d %H:%M:%S").to_string(),
            i % 2 == 0,
            15 + i,
        );
        expected.push(rec.id.clone());
        f.add_recording(rec);
    }
    expected.reverse(); // newest first

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    for start in ["0", "10", "20"] {
        let v = recordings(&f, "2026-03-01", "2026-03-31", &[("start", start), ("length", "10")]).await;
        assert_all_strings(&v);
        let ids = recording_ids(&v);
        sizes.push(ids.len());
        seen.extend(ids);
    }
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(seen, expected, "every row once, in order, across the pages");
    let v = recordings(&f, "2026-03-01", "2026-03-31", &[("start", "25"), ("length", "10")]).await;
    assert_eq!(st(&v), "no_recording", "past the end");

    // Without paging parameters: the first DEFAULT_RECORDINGS_LENGTH rows.
    assert_eq!(DEFAULT_RECORDINGS_LENGTH, 50);
    let v = recordings(&f, "2026-03-01", "2026-03-31", &[]).await;
    assert_eq!(recording_ids(&v), expected);

    let row = &v["recordings"][0];
    let mut keys: Vec<&str> = row.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "callrecording",
            "datetime",
            "destination",
            "duration",
            "subaccount",
            "type"
        ]
    );
    assert_eq!(row["datetime"], "2026-03-08 08:00:00");
    assert_eq!(row["type"], "Incoming");
    assert_eq!(row["destination"], DID);
    assert_eq!(row["subaccount"], ACCOUNT);
    assert_eq!(row["duration"], "00:39");
}

#[tokio::test]
async fn get_call_recordings_call_type_and_account_filters() {
    let f = fake().await;
    f.add_recording(recording("in-1", "2026-03-05 10:00:00", true, 61));
    f.add_recording(recording("out-1", "2026-03-05 11:00:00", false, 3725));
    let mut other = recording("in-other", "2026-03-05 12:00:00", true, 5);
    other.account = "100000_frontdesk".into();
    f.add_recording(other);
    let mut elsewhere = recording("in-elsewhere", "2026-03-05 13:00:00", true, 5);
    elsewhere.account = "200000".into();
    f.add_recording(elsewhere);

    let ids = |v: Value| recording_ids(&v);
    let ty = |t: &'static str| [("call_type", t)];
    let r = |s: &str| recording_id(s);
    assert_eq!(
        ids(recordings(&f, "2026-03-05", "2026-03-05", &ty("incoming")).await),
        [r("in-1")]
    );
    let v = recordings(&f, "2026-03-05", "2026-03-05", &ty("outgoing")).await;
    assert_eq!(v["recordings"][0]["type"], "Outgoing");
    assert_eq!(v["recordings"][0]["duration"], "62:05", "minutes go past 59");
    assert_eq!(ids(v), [r("out-1")]);
    assert_eq!(
        ids(recordings(&f, "2026-03-05", "2026-03-05", &ty("all")).await),
        [r("out-1"), r("in-1")]
    );
    // The main account covers its sub-accounts; any account is accepted.
    assert_eq!(
        ids(recordings(&f, "2026-03-05", "2026-03-05", &[("account", "100000")]).await),
        [r("in-other"), r("out-1"), r("in-1")]
    );
    assert_eq!(
        ids(recordings(&f, "2026-03-05", "2026-03-05", &[("account", "200000")]).await),
        [r("in-elsewhere")]
    );
    assert_eq!(
        st(&recordings(&f, "2026-03-05", "2026-03-05", &[("account", "555555")]).await),
        "no_recording"
    );
}

#[tokio::test]
async fn recordings_are_shown_at_the_configured_utc_offset() {
    let f = fake().await;
    let rec = recording("late", "2026-03-10 02:30:00", true, 20);
    f.add_recording(rec.clone());
    let v = recordings(&f, "2026-03-10", "2026-03-10", &[]).await;
    assert_eq!(v["recordings"][0]["datetime"], "2026-03-10 02:30:00");

    f.set_recording_utc_offset(-5);
    assert_eq!(
        st(&recordings(&f, "2026-03-10", "2026-03-10", &[]).await),
        "no_recording"
    );
    let v = recordings(&f, "2026-03-09", "2026-03-09", &[("timezone", "0")]).await;
    assert_eq!(
        v["recordings"][0]["datetime"], "2026-03-09 21:30:00",
        "timezone is ignored"
    );
    let p = [
        ("method", "getCallRecording"),
        ("account", ACCOUNT),
        ("callrecording", rec.id.as_str()),
    ];
    assert_eq!(api(&f, &p).await["datetime"], "2026-03-09 21:30:00");
}

#[tokio::test]
async fn get_call_recording_serves_base64_with_whitespace_and_escaped_slashes() {
    let f = fake().await;
    let mut rec = recording(
        "109799-529992426194-529993990520-IN-1544131306",
        "2026-03-05 10:00:00",
        true,
        3,
    );
    rec.mp3 = mp3::with_id3v2(&mp3::silence(3.0));
    f.add_recording(rec.clone());
    let p = [
        ("method", "getCallRecording"),
        ("account", ACCOUNT),
        ("callrecording", rec.id.as_str()),
    ];
    let text = api_text(&f, &p).await;
    // The raw JSON text: `/` escaped, line breaks and spaces inside the string.
    assert!(text.contains("\\/"), "no \\/ in the body");
    assert!(text.contains("\\r\\n"), "no line breaks in base64file");
    let v: Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(st(&v), "success");
    // The recording's fields sit at the top level, next to status.
    assert_eq!(v["callrecording"], rec.id);
    assert_eq!(v["datetime"], "2026-03-05 10:00:00");
    assert_eq!(v["type"], "Incoming");
    assert_eq!(v["subaccount"], ACCOUNT);
    assert_eq!(v["duration"], "00:03");
    assert_eq!(v["destination"], DID);
    let b64 = v["base64file"].as_str().unwrap();
    assert!(b64.contains('/') && !b64.contains("\\/"), "the parser undoes \\/");
    assert!(b64.contains(' ') && b64.contains("\r\n"), "but keeps the whitespace");
    assert!(
        base64::engine::general_purpose::STANDARD.decode(b64).is_err(),
        "undecodable as it comes"
    );
    assert_eq!(decode_base64file(&v), rec.mp3);
    assert_eq!(f.recording_fetches(&rec.id), 1);
    let (_, decoded_secs, _) = decode_mp3(decode_base64file(&v));
    assert!((decoded_secs - 3.0).abs() <= FRAME_SECS, "{decoded_secs}");
}

#[tokio::test]
async fn get_call_recording_of_several_megabytes_arrives_whole() {
    let f = fake().await;
    let mut rec = recording("big", "2026-03-05 10:00:00", false, 131);
    rec.mp3 = mp3::silence_at(131.0, 320);
    assert!(rec.mp3.len() > 5_000_000, "{}", rec.mp3.len());
    f.add_recording(rec.clone());
    let p = [
        ("method", "getCallRecording"),
        ("account", ACCOUNT),
        ("callrecording", rec.id.as_str()),
    ];
    let text = api_text(&f, &p).await;
    assert!(text.len() > 6_700_000, "{}", text.len());
    let v: Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(decode_base64file(&v), rec.mp3);
    // Twice: the fetch counter counts every answer.
    let v = api(&f, &p).await;
    assert_eq!(decode_base64file(&v).len(), rec.mp3.len());
    assert_eq!(f.recording_fetches(&rec.id), 2);
}

#[tokio::test]
async fn get_call_recording_unknown_is_invalid_recording() {
    let f = fake().await;
    let rec = recording("known", "2026-03-05 10:00:00", true, 3);
    f.add_recording(rec.clone());
    let get = |account: &'static str, id: String| {
        let f = &f;
        async move {
            let p = [
                ("method", "getCallRecording"),
                ("account", account),
                ("callrecording", id.as_str()),
            ];
            st(&api(f, &p).await).to_string()
        }
    };
    assert_eq!(get(ACCOUNT, recording_id("unknown")).await, "invalid_recording");
    assert_eq!(
        get("200000", rec.id.clone()).await,
        "invalid_recording",
        "another account's"
    );
    assert_eq!(get(ACCOUNT, String::new()).await, "missing_params");
    assert_eq!(get("", rec.id.clone()).await, "missing_params");
    assert_eq!(f.recording_fetches(&rec.id), 0);
    assert_eq!(get("100000", rec.id.clone()).await, "success", "the main account's");
    assert_eq!(f.recording_fetches(&rec.id), 1);
}

#[tokio::test]
async fn set_recording_base64_serves_a_broken_file() {
    let f = fake().await;
    let rec = recording("corrupt", "2026-03-05 10:00:00", true, 3);
    f.add_recording(rec.clone());
    f.set_recording_base64(&rec.id, "//uQx not \"base64\" at all!");
    let p = [
        ("method", "getCallRecording"),
        ("account", ACCOUNT),
        ("callrecording", rec.id.as_str()),
    ];
    let text = api_text(&f, &p).await;
    assert!(text.contains("\\/\\/uQx"), "{text}");
    let v: Value = serde_json::from_str(&text).expect("still valid JSON");
    assert_eq!(v["base64file"], "//uQx not \"base64\" at all!");
    let stripped: String = v["base64file"]
        .as_str()
        .unwrap()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(base64::engine::general_purpose::STANDARD.decode(stripped).is_err());
    assert_eq!(f.recording_fetches(&rec.id), 1);
}

#[tokio::test]
async fn faults_apply_to_call_history_methods() {
    let f = fake().await;
    let rec = recording("r", "2026-03-05 10:00:00", true, 3);
    f.add_recording(rec.clone());
    let fetch = [
        ("method", "getCallRecording"),
        ("account", ACCOUNT),
        ("callrecording", rec.id.as_str()),
    ];

    f.set_fault("getCDR", Some(Fault::Status("method_maintenance")));
    assert_eq!(
        st(&cdr(&f, "2026-03-01", "2026-03-02", "0", &[]).await),
        "method_maintenance"
    );
    f.set_fault("getCDR", None);
    assert_eq!(st(&cdr(&f, "2026-03-01", "2026-03-02", "0", &[]).await), "no_cdr");

    f.set_fault("getCallRecordings", Some(Fault::Status("api_limit_exceeded")));
    assert_eq!(
        st(&recordings(&f, "2026-03-05", "2026-03-05", &[]).await),
        "api_limit_exceeded"
    );
    f.set_fault("getCallRecordings", None);

    f.set_fault_once("getCallRecording", Fault::Http(503));
    let url = reqwest::Url::parse_with_params(
        &f.api_url(),
        [("api_username", USER), ("api_password", PASS)]
            .iter()
            .chain(fetch.iter()),
    )
    .expect("url");
    assert_eq!(reqwest::get(url.clone()).await.expect("get").status().as_u16(), 503);
    assert_eq!(
        f.recording_fetches(&rec.id),
        0,
        "the fault answered before the method ran"
    );
    assert_eq!(st(&api(&f, &fetch).await), "success", "only once");
    assert_eq!(f.recording_fetches(&rec.id), 1);

    // The method runs, then the connection drops: served (counted) but never received.
    f.set_fault_once("getCallRecording", Fault::AcceptThenDrop);
    assert!(reqwest::get(url).await.is_err());
    assert_eq!(f.recording_fetches(&rec.id), 2);
    assert_eq!(f.calls("getCallRecording").len(), 3);
}

// ---------------------------------------------------------------- generated MP3

/// One MPEG frame at 32 kHz, in seconds.
const FRAME_SECS: f64 = 1152.0 / 32000.0;

/// Reads `bytes` with symphonia as the app does: (duration the demuxer announces, duration
/// of every packet decoded, whether every sample is silent).
fn decode_mp3(bytes: Vec<u8>) -> (f64, f64, bool) {
    use symphonia::core::audio::SampleBuffer;
    use symphonia::core::codecs::DecoderOptions;
    use symphonia::core::errors::Error;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;

    let source = MediaSourceStream::new(Box::new(std::io::Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let probed = symphonia::default::get_probe()
        .format(&hint, source, &FormatOptions::default(), &MetadataOptions::default())
        .expect("symphonia recognises the file");
    let mut format = probed.format;
    let track = format.default_track().expect("one track").clone();
    let rate = f64::from(track.codec_params.sample_rate.expect("sample rate"));
    let announced = track.codec_params.n_frames.expect("duration known") as f64 / rate;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .expect("mp3 decoder");
    let (mut frames, mut silent) = (0u64, true);
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("reading packets: {e}"),
        };
        let decoded = decoder.decode(&packet).expect("decodes");
        frames += decoded.frames() as u64;
        let mut samples = SampleBuffer::<f32>::new(decoded.capacity() as u64, *decoded.spec());
        samples.copy_interleaved_ref(decoded);
        silent &= samples.samples().iter().all(|s| *s == 0.0);
    }
    (announced, frames as f64 / rate, silent)
}

#[test]
fn generated_mp3_decodes_with_symphonia_to_its_duration() {
    for (what, bytes) in [
        ("32 kbps", mp3::silence(12.0)),
        ("320 kbps", mp3::silence_at(12.0, 320)),
        ("with an ID3v2 tag", mp3::with_id3v2(&mp3::silence(12.0))),
    ] {
        let (announced, decoded, silent) = decode_mp3(bytes);
        assert!((announced - 12.0).abs() <= FRAME_SECS, "{what}: announced {announced}");
        assert!((decoded - 12.0).abs() <= FRAME_SECS, "{what}: decoded {decoded}");
        assert!(silent, "{what}: not silent");
    }
}
