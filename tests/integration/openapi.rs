//! `shared/openapi.json` is true: it lists exactly the routes of `ENDPOINTS`, and what the real app
//! answers — status, content type, required headers and body — is what the document says.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use pedro_tests::app::{client_with_token, member_token, DID, DID_E164, PATIENT, PATIENT_E164, VOIPMS_ACCOUNT};
use pedro_tests::fakes::voipms::{recording_id, CdrRow, Fault, Recording};
use pedro_tests::{mp3, spawn_app, TestApp};
use pedro_voip::http::{Access, ENDPOINTS};
use pedro_voip::jobs::Job;
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// The document as the binary compiles it in (`shared/openapi.json`).
const DOCUMENT: &str = include_str!("../../shared/openapi.json");

const WEBHOOK: &str = "/api/voip/sms/webhook";
const SEND: &str = "/api/voip/sms/send";
const LIST: &str = "/api/voip/sms/conversations";
const MESSAGES: &str = "/api/voip/sms/conversations/{id}/messages";
const REVIEW: &str = "/api/voip/sms/conversations/{id}/review";
const CONFIGURE: &str = "/api/voip/configure-webhook";
const TWILIO: &str = "/api/twilio/sms/webhook";
const SYNC: &str = "/api/voip/sync";
const HISTORY: &str = "/api/voip/calls/history";
const RECORDINGS: &str = "/api/voip/calls/recordings";
const RECORDING_LINK: &str = "/api/voip/calls/recording/{recId}";
const CALL: &str = "/api/voip/calls/{id}";
const ANALYTICS: &str = "/api/voip/analytics";
const HOOK: &str = "https://pedro.example.com/api/voip/sms/webhook";
/// A text no automatic answer matches: stored and flagged for a person.
const UNANSWERABLE: &str = "Can I bring my dog along?";

fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::from_str(DOCUMENT).expect("shared/openapi.json is JSON"))
}

/// Follows a local `$ref` (`#/components/...`) to what it names.
fn resolve(value: &Value) -> &Value {
    let mut value = value;
    while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("only local $refs: {reference}"));
        value = document()
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling $ref {reference}"));
    }
    value
}

/// OpenAPI 3.0's `nullable: true` as JSON Schema: `anyOf` the schema and `null`.
fn to_json_schema(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut converted: Map<String, Value> = map
                .iter()
                .filter(|(k, _)| k.as_str() != "nullable")
                .map(|(k, v)| (k.clone(), to_json_schema(v)))
                .collect();
            if map.get("nullable") == Some(&Value::Bool(true)) {
                let description = converted.remove("description");
                let mut wrapped = json!({"anyOf": [converted, {"type": "null"}]});
                if let Some(description) = description {
                    wrapped["description"] = description;
                }
                wrapped
            } else {
                Value::Object(converted)
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(to_json_schema).collect()),
        other => other.clone(),
    }
}

/// Errors of `instance` against an OpenAPI `schema`; `$ref`s resolve in the document's components.
fn schema_errors(schema: &Value, instance: &Value) -> Vec<String> {
    let mut root = match to_json_schema(schema) {
        Value::Object(map) => map,
        other => panic!("a schema is an object: {other}"),
    };
    root.insert("components".into(), to_json_schema(&document()["components"]));
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&Value::Object(root))
        .unwrap_or_else(|e| panic!("a valid schema: {e}"));
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn operation(method: &str, path: &str) -> &'static Value {
    document()["paths"][path]
        .get(method.to_lowercase())
        .unwrap_or_else(|| panic!("the document has no {method} {path}"))
}

/// A response the app gave, as checked against the document.
struct Checked {
    status: u16,
    body: Value,
}

impl Checked {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// The status and, for an error, its code.
    fn expect(&self, status: u16, code: Option<&str>) -> &Self {
        assert_eq!(self.status, status, "{}", self.body);
        if let Some(code) = code {
            assert_eq!(self.code(), code, "{}", self.body);
        }
        self
    }
}

/// Checks `response` to `method path` (the document's path template) against the document: the
/// status is listed for the operation, the content type is one it lists, required headers are
/// there, and the body validates against the schema for that status. Panics otherwise.
async fn check(method: &str, path: &str, response: reqwest::Response) -> Checked {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let what = format!("{method} {path} answered {status}: {text}");

    let documented = resolve(
        operation(method, path)["responses"]
            .get(status.to_string())
            .unwrap_or_else(|| panic!("{what}: the document does not list {status}")),
    );
    for (name, header) in documented["headers"].as_object().into_iter().flatten() {
        if resolve(header)["required"] == true {
            assert!(headers.contains_key(name.as_str()), "{what}: no {name}");
        }
    }
    let Some(content) = documented["content"].as_object() else {
        assert!(text.is_empty(), "{what}: the document says no body");
        return Checked {
            status,
            body: Value::Null,
        };
    };
    let content_type = content_type.unwrap_or_else(|| panic!("{what}: no content type"));
    let media_type = content_type.split(';').next().unwrap().trim();
    let media = content.get(media_type).unwrap_or_else(|| {
        panic!(
            "{what}: content type {content_type} is not one of {:?}",
            content.keys().collect::<Vec<_>>()
        )
    });
    let body = if media_type == "application/json" {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON: {e}"))
    } else {
        Value::String(text)
    };
    let errors = schema_errors(&media["schema"], &body);
    assert!(
        errors.is_empty(),
        "{what}: does not match the documented schema: {errors:#?}"
    );
    Checked { status, body }
}

async fn get(app: &TestApp, template: &str, path: &str) -> Checked {
    check("GET", template, app.get(path).await).await
}

async fn post(app: &TestApp, template: &str, path: &str, body: &Value) -> Checked {
    check("POST", template, app.post_json(path, body).await).await
}

async fn post_raw(app: &TestApp, template: &str, content_type: &str, body: String) -> Checked {
    let response = app
        .http
        .post(app.url(template))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request");
    check("POST", template, response).await
}

/// A GET too long for reqwest (whose URIs stop at 64 KiB): the status and the response head.
async fn raw_get(app: &TestApp, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).to_string();
    let head = answer.split("\r\n\r\n").next().unwrap_or_default().to_string();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head)
}

fn callback(query: &str) -> String {
    format!("{WEBHOOK}?{query}")
}

/// `POST /api/voip/sync`, which takes no body.
async fn sync(app: &TestApp) -> Checked {
    let response = app.http.post(app.url(SYNC)).send().await.expect("request");
    check("POST", SYNC, response).await
}

async fn delete_call(app: &TestApp, id: &str) -> Checked {
    let response = app
        .http
        .delete(app.url(&CALL.replace("{id}", id)))
        .send()
        .await
        .expect("request");
    check("DELETE", CALL, response).await
}

fn recording_link(id: impl std::fmt::Display) -> String {
    RECORDING_LINK.replace("{recId}", &id.to_string())
}

/// `minutes` before the test clock's now, as the fake VoIP.ms lists times (UTC).
fn minutes_ago(app: &TestApp, minutes: i64) -> chrono::NaiveDateTime {
    (app.clock_now() - chrono::Duration::minutes(minutes)).naive_utc()
}

/// An answered call from `from` to the practice's DID, `minutes` ago, that VoIP.ms lists with a
/// recording whose file is `audio`.
fn add_recorded_call(app: &TestApp, uniqueid: &str, from: &str, minutes: i64, audio: Vec<u8>) {
    let seconds = 20;
    let at = minutes_ago(app, minutes);
    app.voipms
        .add_cdr(CdrRow::inbound(uniqueid, at, from, DID, "ANSWERED", seconds));
    app.voipms.add_recording(Recording {
        id: recording_id(uniqueid),
        datetime: at,
        destination: DID.into(),
        incoming: true,
        account: VOIPMS_ACCOUNT.into(),
        duration_secs: seconds,
        mp3: audio,
    });
}

/// What VoIP.ms sometimes gives instead of audio.
fn not_audio() -> Vec<u8> {
    b"<html><body>Internal error</body></html>".to_vec()
}

/// The id of the recording the sync stored for `add_recorded_call(.., uniqueid, ..)`.
async fn recording_of(app: &TestApp, uniqueid: &str) -> Uuid {
    app.value(&format!(
        "SELECT id FROM call_recordings WHERE voipms_recording_id = '{}'",
        recording_id(uniqueid)
    ))
    .await
}

#[test]
fn the_document_lists_exactly_the_endpoints_of_the_route_table() {
    let documented: BTreeSet<(String, String)> = document()["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "put", "post", "delete", "options", "head", "patch", "trace"].contains(&k.as_str()))
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = ENDPOINTS
        .iter()
        .flat_map(|e| e.methods.iter().map(|m| (m.to_string(), e.path.to_string())))
        .collect();
    assert_eq!(documented, routed);

    // Every function's path is documented, and operation ids are unique.
    for endpoint in ENDPOINTS {
        assert!(
            document()["paths"].get(endpoint.path).is_some(),
            "{}: {} undocumented",
            endpoint.function,
            endpoint.path
        );
    }
    let ids: Vec<&str> = routed
        .iter()
        .map(|(m, p)| operation(m, p)["operationId"].as_str().expect("operationId"))
        .collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len());
}

#[test]
fn the_document_says_who_may_call_what_and_what_every_operation_can_answer() {
    assert_eq!(document()["openapi"], "3.0.3");
    assert_eq!(
        document()["components"]["securitySchemes"]["bearerAuth"],
        json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": document()["components"]["securitySchemes"]["bearerAuth"]["description"]})
    );
    let rate_limited = [
        ("POST", SEND),
        ("GET", WEBHOOK),
        ("POST", WEBHOOK),
        ("POST", CONFIGURE),
        ("POST", TWILIO),
    ];
    for endpoint in ENDPOINTS {
        for method in endpoint.methods {
            let op = operation(method, endpoint.path);
            let what = format!("{method} {}", endpoint.path);
            let responses = op["responses"].as_object().unwrap();
            let has = |status: &str| responses.contains_key(status);
            let code_of = |status: &str| {
                let schema = &resolve(&responses[status])["content"]["application/json"]["schema"];
                schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"].clone()
            };
            assert!(has("503"), "{what}: 503");
            assert!(
                code_of("503")
                    .as_array()
                    .unwrap()
                    .contains(&json!("database_unavailable")),
                "{what}"
            );
            let security = op.get("security").unwrap_or(&document()["security"]);
            let parameters: Vec<&Value> = op["parameters"].as_array().into_iter().flatten().map(resolve).collect();
            if endpoint.function == "sms-webhook" {
                assert_eq!(security, &json!([]), "{what}: no bearer token");
                assert_eq!(code_of("401"), json!(["bad_secret"]), "{what}");
                assert_eq!(
                    code_of("403"),
                    json!(["source_not_allowed"]),
                    "{what}: only the network allow-list"
                );
            } else if endpoint.function == "twilio-webhook" {
                assert_eq!(security, &json!([]), "{what}: no bearer token");
                assert_eq!(code_of("401"), json!(["bad_signature"]), "{what}");
                assert!(!has("403"), "{what}");
                assert!(
                    parameters
                        .iter()
                        .any(|p| p["name"] == "X-Twilio-Signature" && p["in"] == "header" && p["required"] == true),
                    "{what}: X-Twilio-Signature"
                );
            } else {
                assert_eq!(security, &json!([{"bearerAuth": []}]), "{what}");
                assert_eq!(code_of("401"), json!(["unauthorized"]), "{what}");
                assert_eq!(code_of("403"), json!(["forbidden"]), "{what}");
                assert!(
                    parameters.iter().any(|p| p["name"] == "X-Practice-Id"
                        && p["in"] == "header"
                        && p["required"] == false
                        && p["schema"]["format"] == "uuid"),
                    "{what}: X-Practice-Id"
                );
            }
            let description = op["description"].as_str().unwrap();
            match endpoint.access {
                Access::Admin => assert!(description.starts_with("Admin only"), "{what}"),
                Access::Staff => assert!(description.starts_with("For staff and admins"), "{what}"),
                Access::Public => {}
            }
            if rate_limited.contains(&(*method, endpoint.path)) {
                let limited = resolve(&responses["429"]);
                assert_eq!(code_of("429"), json!(["rate_limited"]), "{what}");
                assert_eq!(resolve(&limited["headers"]["Retry-After"])["schema"]["type"], "integer");
            } else {
                assert!(!has("429"), "{what}: not rate limited");
            }
        }
    }
}

#[test]
fn every_example_in_the_document_matches_its_schema() {
    let mut checked = 0;
    for (path, item) in document()["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let request = op["requestBody"]["content"]["application/json"].clone();
            let responses = op["responses"].as_object().unwrap();
            let media: Vec<(String, &Value)> = responses
                .iter()
                .flat_map(|(status, r)| {
                    resolve(r)["content"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(move |(_, m)| (status.clone(), m))
                })
                .collect();
            for (status, media) in std::iter::once(("request".to_string(), &request)).chain(media) {
                let examples = media["examples"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(_, e)| &e["value"])
                    .chain(media.get("example"));
                for example in examples {
                    let errors = schema_errors(&media["schema"], example);
                    assert!(errors.is_empty(), "{method} {path} {status}: {example}: {errors:#?}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 20, "only {checked} examples");
}

#[test]
fn the_schema_check_can_fail() {
    let outcome = &document()["components"]["schemas"]["InboundOutcome"];
    let good = json!({"status": "stored", "conversationId": Uuid::new_v4(), "messageId": Uuid::new_v4(), "duplicate": false, "autoResponse": null, "needsReview": true});
    assert!(schema_errors(outcome, &good).is_empty());
    let queued = json!({"status": "queued", "conversationId": Uuid::new_v4(), "messageId": Uuid::new_v4(), "duplicate": false, "autoResponse": {"category": "office_hours", "queued": true}, "needsReview": false});
    assert!(schema_errors(outcome, &queued).is_empty());
    for bad in [
        json!({"conversationId": Uuid::new_v4(), "messageId": Uuid::new_v4(), "duplicate": false, "autoResponse": null, "needsReview": true}),
        json!({"status": "sent", "conversationId": Uuid::new_v4(), "messageId": Uuid::new_v4(), "duplicate": false, "autoResponse": null, "needsReview": true}),
        json!({"status": "queued", "conversationId": Uuid::new_v4(), "messageId": Uuid::new_v4(), "duplicate": false, "autoResponse": {"category": "office_hours", "sent": true}, "needsReview": false}),
        json!({"status": "stored", "conversationId": "x", "messageId": Uuid::new_v4(), "duplicate": false, "autoResponse": null, "needsReview": true}),
        json!({"status": "stored", "conversationId": Uuid::new_v4(), "messageId": Uuid::new_v4(), "duplicate": false, "needsReview": true}),
        json!({"status": "stored", "conversationId": Uuid::new_v4(), "messageId": Uuid::new_v4(), "duplicate": false, "autoResponse": {"category": "weather", "sent": true}, "needsReview": true}),
        json!({"status": "stored", "conversationId": Uuid::new_v4(), "messageId": Uuid::new_v4(), "duplicate": false, "autoResponse": null, "needsReview": true, "extra": 1}),
    ] {
        assert!(!schema_errors(outcome, &bad).is_empty(), "{bad}");
    }
    let error = &document()["components"]["responses"]["NotFound"]["content"]["application/json"]["schema"];
    assert!(schema_errors(error, &json!({"error": {"code": "not_found", "message": "x"}})).is_empty());
    assert!(!schema_errors(error, &json!({"error": {"code": "gone", "message": "x"}})).is_empty());
    assert!(!schema_errors(error, &json!({"error": {"code": "not_found"}})).is_empty());
}

#[tokio::test]
async fn the_app_serves_the_document() {
    let app = spawn_app().start().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let served: Value = response.json().await.unwrap();
    assert_eq!(&served, document());
}

#[tokio::test]
async fn webhook_answers_as_documented() {
    let app = spawn_app().start().await;
    let query = format!("to={DID}&from={PATIENT}&message=What+are+your+hours%3F&id=cb1");
    let ok = get(&app, WEBHOOK, &callback(&query)).await;
    ok.expect(200, None);
    assert_eq!(ok.body, "ok");
    let again = get(&app, WEBHOOK, &callback(&query)).await;
    assert_eq!(again.expect(200, None).body, "ok", "a duplicate is ok too");
    get(&app, WEBHOOK, &callback(&format!("to={DID}&message=hi&id=2")))
        .await
        .expect(400, Some("missing_field"));
    // Unusual deliveries are stored (and flagged), never refused: VoIP.ms would resend them forever.
    for query in [
        format!("to={DID}&from=not-a-number&message=hi&id=3"),
        format!("to={DID}&from={PATIENT}&message=a%00b&id=4"),
        format!("to=2025550123&from={PATIENT}&message=hi&id=5"),
    ] {
        let stored = get(&app, WEBHOOK, &callback(&query)).await;
        assert_eq!(stored.expect(200, None).body, "ok", "{query}");
    }
    get(
        &app,
        WEBHOOK,
        &callback(&format!("to={DID}&from={PATIENT}&message=hi&id=a%00b")),
    )
    .await
    .expect(400, Some("missing_field"));

    let too_long = callback(&format!("from={PATIENT}&id=9&message={}", "x".repeat(70_000)));
    let (status, head) = raw_get(&app, &too_long).await;
    assert_eq!(status, 414, "{head}");
    assert!(head.to_lowercase().contains("content-length: 0"), "{head}");
    let documented = resolve(&operation("GET", WEBHOOK)["responses"]["414"]);
    assert!(documented.get("content").is_none(), "{documented}");

    let text = |from: &str, message: &str, id: &str| json!({"from": from, "message": message, "id": id});
    let answered = post(
        &app,
        WEBHOOK,
        WEBHOOK,
        &text("+14385552009", "What are your hours?", "sms_123"),
    )
    .await;
    answered.expect(200, None);
    assert_eq!(answered.body["status"], "queued");
    assert_eq!(answered.body["duplicate"], false);
    assert_eq!(
        answered.body["autoResponse"],
        json!({"category": "office_hours", "queued": true})
    );
    let repeat = post(
        &app,
        WEBHOOK,
        WEBHOOK,
        &text(PATIENT, "What are your hours?", "sms_122"),
    )
    .await;
    assert_eq!(repeat.expect(200, None).body["status"], "stored");
    let repeat = &repeat.body["autoResponse"];
    assert_eq!(repeat["queued"], false, "answered by the callback already");
    assert!(repeat["reason"].is_string(), "{repeat}");
    let duplicate = post(
        &app,
        WEBHOOK,
        WEBHOOK,
        &text("+14385552009", "What are your hours?", "sms_123"),
    )
    .await;
    assert_eq!(duplicate.expect(200, None).body["duplicate"], true);
    assert_eq!(duplicate.body["status"], "stored");
    assert_eq!(duplicate.body["autoResponse"], Value::Null);
    let flagged = post(&app, WEBHOOK, WEBHOOK, &text(PATIENT, UNANSWERABLE, "sms_124")).await;
    assert_eq!(flagged.expect(200, None).body["needsReview"], true);
    let media = post(
        &app,
        WEBHOOK,
        WEBHOOK,
        &json!({"from": PATIENT, "to": DID_E164, "message": "", "id": "sms_125", "date": "2026-11-25 10:00:00", "media": ["https://media.example/1.jpg"]}),
    )
    .await;
    media.expect(200, None);

    post_raw(&app, WEBHOOK, "application/json", "{\"from\": ".into())
        .await
        .expect(400, Some("malformed_json"));
    post_raw(&app, WEBHOOK, "application/json", "[1]".into())
        .await
        .expect(400, Some("invalid_body"));
    post(
        &app,
        WEBHOOK,
        WEBHOOK,
        &json!({"from": PATIENT, "message": 5, "id": "1"}),
    )
    .await
    .expect(400, Some("invalid_body"));
    post(
        &app,
        WEBHOOK,
        WEBHOOK,
        &json!({"from": PATIENT, "message": "hi", "id": "1", "extra": true}),
    )
    .await
    .expect(400, Some("invalid_body"));
    post(&app, WEBHOOK, WEBHOOK, &json!({"from": PATIENT, "message": "hi"}))
        .await
        .expect(400, Some("missing_field"));
    let cut = post(&app, WEBHOOK, WEBHOOK, &text(PATIENT, &"x".repeat(10_001), "6")).await;
    assert_eq!(
        cut.expect(200, None).body["needsReview"],
        true,
        "stored cut, and flagged"
    );
    post(&app, WEBHOOK, WEBHOOK, &text(PATIENT, &"x".repeat(70_000), "7"))
        .await
        .expect(413, Some("body_too_large"));
    post_raw(&app, WEBHOOK, "application/x-www-form-urlencoded", "from=1".into())
        .await
        .expect(415, Some("unsupported_media_type"));
    let unrouted = post(
        &app,
        WEBHOOK,
        WEBHOOK,
        &json!({"to": "2025550123", "from": PATIENT, "message": "hi", "id": "8"}),
    )
    .await;
    assert_eq!(unrouted.expect(200, None).body["status"], "unrouted");
    assert_eq!(unrouted.body["conversationId"], Value::Null);
}

#[tokio::test]
async fn webhook_with_a_secret_answers_401_as_documented() {
    let app = spawn_app().env("WEBHOOK_SECRET", "s3cret").start().await;
    let query = format!("to={DID}&from={PATIENT}&message=hi&id=1");
    get(&app, WEBHOOK, &callback(&query))
        .await
        .expect(401, Some("bad_secret"));
    get(&app, WEBHOOK, &callback(&format!("{query}&secret=wrong")))
        .await
        .expect(401, Some("bad_secret"));
    assert_eq!(
        get(&app, WEBHOOK, &callback(&format!("{query}&secret=s3cret")))
            .await
            .expect(200, None)
            .body,
        "ok"
    );
    let body = json!({"from": PATIENT, "message": "hi", "id": "2"});
    post(&app, WEBHOOK, WEBHOOK, &body)
        .await
        .expect(401, Some("bad_secret"));
    post(&app, WEBHOOK, &format!("{WEBHOOK}?secret=s3cret"), &body)
        .await
        .expect(200, None);
}

#[tokio::test]
async fn send_answers_as_documented() {
    let app = spawn_app().twilio().start().await;
    let sent = post(
        &app,
        SEND,
        SEND,
        &json!({"to": PATIENT, "message": "Your crown is ready"}),
    )
    .await;
    sent.expect(201, None);
    assert_eq!(sent.body["status"], "sent");
    assert_eq!(sent.body["provider"], "voipms");
    let long = "word ".repeat(100);
    let parts = post(&app, SEND, SEND, &json!({"to": PATIENT_E164, "message": long})).await;
    assert!(parts.expect(201, None).body["segments"].as_i64().unwrap() > 1);
    assert_eq!(sent.body["from"], DID_E164);

    // In a thread (its DID, its contact), and from a named practice DID.
    let thread = sent.body["conversationId"].as_str().unwrap().to_string();
    let in_thread = post(
        &app,
        SEND,
        SEND,
        &json!({"conversationId": thread, "message": "See you at 3"}),
    )
    .await;
    assert_eq!(in_thread.expect(201, None).body["conversationId"], thread.as_str());
    let from_did = post(&app, SEND, SEND, &json!({"to": PATIENT, "from": DID, "message": "hi"})).await;
    assert_eq!(from_did.expect(201, None).body["from"], DID_E164);
    post(
        &app,
        SEND,
        SEND,
        &json!({"conversationId": Uuid::new_v4(), "message": "hi"}),
    )
    .await
    .expect(404, Some("not_found"));

    // VoIP.ms's answer lost (HTTP 5xx): not resent blindly, finished by the worker.
    app.voipms.set_fault("sendSMS", Some(Fault::Http(503)));
    let lost = post(
        &app,
        SEND,
        SEND,
        &json!({"to": "5145550178", "message": "Your crown is ready"}),
    )
    .await;
    assert_eq!(lost.expect(202, None).body["status"], "queued");
    app.voipms.set_fault("sendSMS", None);

    for (body, code) in [
        (json!({"conversationId": "x", "message": "hi"}), "invalid_id"),
        (
            json!({"to": PATIENT, "from": "2025550123", "message": "hi"}),
            "unknown_did",
        ),
        (json!({"message": "hi"}), "missing_field"),
        (json!({"to": PATIENT}), "missing_field"),
        (json!({"to": "12", "message": "hi"}), "invalid_phone_number"),
        (json!({"to": PATIENT, "message": "   "}), "empty_message"),
        (json!({"to": PATIENT, "message": "a\u{0}b"}), "invalid_text"),
        (json!({"to": PATIENT, "message": "x".repeat(1601)}), "message_too_long"),
        (json!({"to": PATIENT, "message": "hi", "cc": PATIENT}), "invalid_body"),
        (json!({"to": 5, "message": "hi"}), "invalid_body"),
    ] {
        post(&app, SEND, SEND, &body).await.expect(400, Some(code));
    }
    post_raw(&app, SEND, "application/json", "{".into())
        .await
        .expect(400, Some("malformed_json"));
    post_raw(&app, SEND, "text/plain", "hi".into())
        .await
        .expect(415, Some("unsupported_media_type"));
    post(&app, SEND, SEND, &json!({"to": PATIENT, "message": "x".repeat(70_000)}))
        .await
        .expect(413, Some("body_too_large"));

    // Opted out: 409.
    let stop = post(
        &app,
        WEBHOOK,
        WEBHOOK,
        &json!({"from": PATIENT, "message": "STOP", "id": "stop-1"}),
    )
    .await;
    stop.expect(200, None);
    post(&app, SEND, SEND, &json!({"to": PATIENT, "message": "hello?"}))
        .await
        .expect(409, Some("opted_out"));

    // Both carriers refusing: 502 with both reasons and the failed text. (A Twilio 5xx is a lost
    // answer, not a refusal: that would be the 202 above.)
    app.voipms.set_fault("sendSMS", Some(Fault::Status("sms_failed")));
    app.twilio
        .set_fault(Some(pedro_tests::fakes::twilio::TwilioFault::Error {
            http_status: 400,
            code: 21211,
            message: "The 'To' number is not a valid phone number.".into(),
            retry_after: None,
        }));
    let failed = post(
        &app,
        SEND,
        SEND,
        &json!({"to": "5145550177", "message": "Your crown is ready"}),
    )
    .await;
    failed.expect(502, Some("send_failed"));
    assert_eq!(failed.body["error"]["reasons"].as_array().unwrap().len(), 2);
    assert_eq!(failed.body["error"]["text"]["status"], "failed");
}

#[tokio::test]
async fn send_in_the_sandbox_answers_as_documented() {
    let app = spawn_app().sandbox().start().await;
    let sent = post(&app, SEND, SEND, &json!({"to": PATIENT, "message": "Sandbox hello"})).await;
    sent.expect(201, None);
    assert_eq!(sent.body["status"], "sandboxed");
    assert_eq!(sent.body["provider"], "sandbox");
    post(&app, CONFIGURE, CONFIGURE, &json!({"webhookUrl": HOOK}))
        .await
        .expect(409, Some("voipms_not_configured"));
}

#[tokio::test]
async fn conversations_answer_as_documented() {
    let app = spawn_app().start().await;
    let empty = get(&app, LIST, LIST).await;
    assert_eq!(
        empty.expect(200, None).body,
        json!({"conversations": [], "nextCursor": null})
    );

    let hours = post(
        &app,
        WEBHOOK,
        WEBHOOK,
        &json!({"from": PATIENT, "message": "What are your hours?", "id": "c1"}),
    )
    .await;
    hours.expect(200, None);
    post(
        &app,
        WEBHOOK,
        WEBHOOK,
        &json!({"from": "4385552001", "message": UNANSWERABLE, "id": "c2"}),
    )
    .await
    .expect(200, None);
    post(
        &app,
        WEBHOOK,
        WEBHOOK,
        &json!({"from": "4385552002", "message": "STOP", "id": "c3"}),
    )
    .await
    .expect(200, None);
    post(
        &app,
        SEND,
        SEND,
        &json!({"to": "4385552003", "message": "See you tomorrow"}),
    )
    .await
    .expect(201, None);

    let all = get(&app, LIST, LIST).await;
    assert_eq!(all.expect(200, None).body["conversations"].as_array().unwrap().len(), 4);
    let first = get(&app, LIST, &format!("{LIST}?limit=1")).await;
    let cursor = first.expect(200, None).body["nextCursor"]
        .as_str()
        .expect("a full page has a next cursor")
        .to_string();
    let next = get(&app, LIST, &format!("{LIST}?limit=1&cursor={cursor}")).await;
    assert_eq!(
        next.expect(200, None).body["conversations"].as_array().unwrap().len(),
        1
    );
    let flagged = get(&app, LIST, &format!("{LIST}?needsReview=true")).await;
    assert_eq!(
        flagged.expect(200, None).body["conversations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    get(&app, LIST, &format!("{LIST}?needsReview=false"))
        .await
        .expect(200, None);
    for (query, code) in [
        ("limit=0", "invalid_limit"),
        ("limit=201", "invalid_limit"),
        ("limit=x", "invalid_limit"),
        ("cursor=nope", "invalid_cursor"),
        ("needsReview=yes", "invalid_filter"),
    ] {
        get(&app, LIST, &format!("{LIST}?{query}"))
            .await
            .expect(400, Some(code));
    }

    let id = hours.body["conversationId"].as_str().unwrap();
    let messages_of = |id: &str| MESSAGES.replace("{id}", id);
    let review_of = |id: &str| REVIEW.replace("{id}", id);
    let thread = get(&app, MESSAGES, &messages_of(id)).await;
    thread.expect(200, None);
    let messages = thread.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "the question and its automatic reply");
    let page = get(&app, MESSAGES, &format!("{}?limit=1", messages_of(id))).await;
    assert!(page.expect(200, None).body["nextCursor"].is_string());
    get(&app, MESSAGES, &format!("{}?limit=500", messages_of(id)))
        .await
        .expect(400, Some("invalid_limit"));
    get(&app, MESSAGES, &format!("{}?cursor=1_2", messages_of(id)))
        .await
        .expect(400, Some("invalid_cursor"));
    let reviewed = check(
        "POST",
        REVIEW,
        app.http.post(app.url(&review_of(id))).send().await.unwrap(),
    )
    .await;
    reviewed.expect(200, None);
    assert_eq!(reviewed.body["unreadCount"], 0);
    assert_eq!(reviewed.body["needsReview"], false);
    let review_up_to = |up_to: &str| format!("{}?upTo={up_to}", review_of(id));
    let seen = messages[0]["id"].as_str().unwrap();
    for (up_to, status, code) in [
        (seen.to_string(), 200, None),
        (Uuid::new_v4().to_string(), 404, Some("not_found")),
        ("nope".to_string(), 400, Some("invalid_id")),
    ] {
        let response = app.http.post(app.url(&review_up_to(&up_to))).send().await.unwrap();
        check("POST", REVIEW, response).await.expect(status, code);
    }

    for unknown in [Uuid::new_v4().to_string(), "not-a-uuid".to_string()] {
        get(&app, MESSAGES, &messages_of(&unknown))
            .await
            .expect(404, Some("not_found"));
        let response = app.http.post(app.url(&review_of(&unknown))).send().await.unwrap();
        check("POST", REVIEW, response).await.expect(404, Some("not_found"));
    }
}

/// Methods a path does not take and paths that do not exist: not operations of the document, and
/// answered in its error shape.
#[tokio::test]
async fn unknown_methods_and_paths_get_the_documented_error_shape() {
    let app = spawn_app().start().await;
    let shape = |name: &str| -> &'static Value {
        &document()["components"]["responses"][name]["content"]["application/json"]["schema"]
    };
    let id = Uuid::new_v4().to_string();
    for (method, template) in [
        (reqwest::Method::GET, REVIEW),
        (reqwest::Method::POST, MESSAGES),
        (reqwest::Method::POST, LIST),
        (reqwest::Method::GET, SEND),
        (reqwest::Method::DELETE, WEBHOOK),
        (reqwest::Method::GET, CONFIGURE),
        (reqwest::Method::GET, SYNC),
        (reqwest::Method::POST, HISTORY),
        (reqwest::Method::DELETE, RECORDINGS),
        (reqwest::Method::DELETE, RECORDING_LINK),
        (reqwest::Method::GET, CALL),
    ] {
        assert!(
            document()["paths"][template]
                .get(method.as_str().to_lowercase())
                .is_none(),
            "{method} {template} is documented"
        );
        let path = template.replace("{id}", &id).replace("{recId}", &id);
        let response = app.http.request(method.clone(), app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        let errors = schema_errors(shape("MethodNotAllowed"), &body);
        assert!(errors.is_empty(), "{method} {path}: {body}: {errors:?}");
    }
    for path in ["/nope", "/api/voip/sms/conversations/", "/api/voip/sms/conversations/x"] {
        assert!(document()["paths"].get(path).is_none());
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        let errors = schema_errors(shape("NotFound"), &body);
        assert!(errors.is_empty(), "{path}: {body}: {errors:?}");
    }
}

#[tokio::test]
async fn configure_webhook_answers_as_documented() {
    // Without PUBLIC_WEBHOOK_URL, so that a missing `webhookUrl` is an error.
    let app = spawn_app()
        .env("PUBLIC_WEBHOOK_URL", "")
        .env("WEBHOOK_ALLOWED_HOSTS", "pedro.example.com")
        .start()
        .await;
    let configured = post(&app, CONFIGURE, CONFIGURE, &json!({"webhookUrl": HOOK})).await;
    configured.expect(200, None);
    assert_eq!(configured.body["did"], DID_E164);
    for (body, code) in [
        (json!({}), "missing_field"),
        (json!({"webhookUrl": null}), "missing_field"),
        (json!({"webhookUrl": "http://pedro.example.com/hook"}), "invalid_url"),
        (json!({"webhookUrl": "not a url"}), "invalid_url"),
        (json!({"webhookUrl": "https://pedro.example.com/hook#x"}), "invalid_url"),
        (
            json!({"webhookUrl": "https://attacker.example/hook"}),
            "host_not_allowed",
        ),
        (json!({"webhookUrl": HOOK, "retry": false}), "invalid_body"),
        (json!({"webhookUrl": 5}), "invalid_body"),
    ] {
        post(&app, CONFIGURE, CONFIGURE, &body).await.expect(400, Some(code));
    }
    post_raw(&app, CONFIGURE, "application/json", "{\"webhookUrl\"".into())
        .await
        .expect(400, Some("malformed_json"));
    post_raw(&app, CONFIGURE, "text/plain", HOOK.into())
        .await
        .expect(415, Some("unsupported_media_type"));

    app.voipms
        .set_fault("getDIDsInfo", Some(Fault::Status("api_not_enabled")));
    post(&app, CONFIGURE, CONFIGURE, &json!({"webhookUrl": HOOK}))
        .await
        .expect(502, Some("voipms_error"));
    app.voipms.set_fault("getDIDsInfo", Some(Fault::Http(500)));
    post(&app, CONFIGURE, CONFIGURE, &json!({"webhookUrl": HOOK}))
        .await
        .expect(502, Some("voipms_error"));
    app.voipms.set_fault("getDIDsInfo", Some(Fault::Status("no_did")));
    post(&app, CONFIGURE, CONFIGURE, &json!({"webhookUrl": HOOK}))
        .await
        .expect(502, Some("unknown_did"));
}

#[tokio::test]
async fn a_database_outage_is_the_documented_503() {
    let app = spawn_app().db_proxy().env("DATABASE_TIMEOUT_MS", "500").start().await;
    let query = format!("to={DID}&from={PATIENT}&message=hi&id=warm");
    get(&app, WEBHOOK, &callback(&query)).await.expect(200, None);
    let proxy = app.db_proxy.as_ref().unwrap();
    proxy.cut();
    let id = Uuid::new_v4().to_string();
    let outage = Some("database_unavailable");
    get(
        &app,
        WEBHOOK,
        &callback(&format!("to={DID}&from={PATIENT}&message=hi&id=down")),
    )
    .await
    .expect(503, outage);
    post(
        &app,
        WEBHOOK,
        WEBHOOK,
        &json!({"from": PATIENT, "message": "hi", "id": "down2"}),
    )
    .await
    .expect(503, outage);
    post(&app, SEND, SEND, &json!({"to": PATIENT, "message": "hi"}))
        .await
        .expect(503, outage);
    get(&app, LIST, LIST).await.expect(503, outage);
    get(&app, MESSAGES, &MESSAGES.replace("{id}", &id))
        .await
        .expect(503, outage);
    let response = app
        .http
        .post(app.url(&REVIEW.replace("{id}", &id)))
        .send()
        .await
        .unwrap();
    check("POST", REVIEW, response).await.expect(503, outage);
    post(&app, CONFIGURE, CONFIGURE, &json!({"webhookUrl": HOOK}))
        .await
        .expect(503, outage);
    sync(&app).await.expect(503, outage);
    get(
        &app,
        HISTORY,
        &format!("{HISTORY}?dateFrom=2026-11-25&dateTo=2026-11-25"),
    )
    .await
    .expect(503, outage);
    get(&app, RECORDINGS, &format!("{RECORDINGS}?callId={id}"))
        .await
        .expect(503, outage);
    get(&app, RECORDING_LINK, &recording_link(&id))
        .await
        .expect(503, outage);
    delete_call(&app, &id).await.expect(503, outage);
    proxy.restore();
}

/// Found by `scripts/schemathesis.sh`: ignored until the fix lands, then it guards it.
#[tokio::test]
async fn a_cursor_out_of_the_databases_range_is_a_400_not_a_500() {
    let app = spawn_app().start().await;
    let (_, text) = app.text_in(PATIENT, UNANSWERABLE, "r1").await;
    let id = text["conversationId"].as_str().unwrap();
    let cursor = format!("-300000000000000000_{}", Uuid::new_v4().simple());
    get(&app, LIST, &format!("{LIST}?cursor={cursor}"))
        .await
        .expect(400, Some("invalid_cursor"));
    let messages = MESSAGES.replace("{id}", id);
    get(&app, MESSAGES, &format!("{messages}?cursor={cursor}"))
        .await
        .expect(400, Some("invalid_cursor"));
}

#[tokio::test]
async fn twilio_webhook_answers_as_documented() {
    use pedro_tests::fakes::twilio::InboundMessage;

    let unconfigured = spawn_app().start().await;
    post_raw(
        &unconfigured,
        TWILIO,
        "application/x-www-form-urlencoded",
        "Body=hi".into(),
    )
    .await
    .expect(404, Some("not_configured"));

    let app = spawn_app().twilio().start().await;
    let hook = app.url(TWILIO);
    let text = |body: &str| InboundMessage {
        from: PATIENT_E164.into(),
        to: pedro_tests::app::TWILIO_FROM.into(),
        body: body.into(),
        media_content_types: Vec::new(),
    };
    // The fake posts as Twilio does; its answers are re-sent here to check them against the document.
    let signed = |params: Vec<(String, String)>| {
        let signature = pedro_voip::sms::twilio_signature::sign(pedro_tests::app::TWILIO_TOKEN, &hook, &params);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        app.http
            .post(&hook)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(body)
    };
    let params = app
        .twilio
        .inbound_params("SM0123456789abcdef0123456789abcdef", &text(UNANSWERABLE));
    let ok = check("POST", TWILIO, signed(params.clone()).send().await.unwrap()).await;
    assert_eq!(ok.expect(200, None).body, pedro_voip::http::twilio_webhook::EMPTY_TWIML);
    let again = check("POST", TWILIO, signed(params).send().await.unwrap()).await;
    again.expect(200, None);

    let missing = vec![("Body".to_string(), "hi".to_string())];
    check("POST", TWILIO, signed(missing).send().await.unwrap())
        .await
        .expect(400, Some("missing_field"));
    // Stored (NUL replaced, cut) and flagged, not refused: Twilio would only retry them.
    let nul = app.twilio.inbound_params("SM1", &text("a\0b"));
    let stored = check("POST", TWILIO, signed(nul).send().await.unwrap()).await;
    assert_eq!(
        stored.expect(200, None).body,
        pedro_voip::http::twilio_webhook::EMPTY_TWIML
    );
    let long = app.twilio.inbound_params("SM2", &text(&"x".repeat(10_001)));
    let stored = check("POST", TWILIO, signed(long).send().await.unwrap()).await;
    assert_eq!(
        stored.expect(200, None).body,
        pedro_voip::http::twilio_webhook::EMPTY_TWIML
    );
    let huge = app.twilio.inbound_params("SM3", &text(&"x".repeat(70_000)));
    check("POST", TWILIO, signed(huge).send().await.unwrap())
        .await
        .expect(413, Some("body_too_large"));
    post_raw(&app, TWILIO, "application/json", "{}".into())
        .await
        .expect(415, Some("unsupported_media_type"));
    for _ in 0..pedro_voip::http::twilio_webhook::BAD_SIGNATURES_PER_MINUTE {
        post_raw(
            &app,
            TWILIO,
            "application/x-www-form-urlencoded",
            "MessageSid=SM4".into(),
        )
        .await
        .expect(401, Some("bad_signature"));
    }
    post_raw(
        &app,
        TWILIO,
        "application/x-www-form-urlencoded",
        "MessageSid=SM4".into(),
    )
    .await
    .expect(429, Some("rate_limited"));
}

/// Every endpoint that takes a token: a request without one is a 401, and a staff token where only
/// admins may is a 403, both as documented.
#[tokio::test]
async fn missing_tokens_and_staff_on_admin_endpoints_get_the_documented_401_and_403() {
    let app = spawn_app().start().await;
    let anonymous = reqwest::Client::new();
    let staff = client_with_token(&member_token(app.practice_id, "staff"));
    let id = Uuid::new_v4().to_string();
    for endpoint in ENDPOINTS.iter().filter(|e| e.access != Access::Public) {
        let path = endpoint.path.replace("{id}", &id).replace("{recId}", &id);
        for method in endpoint.methods {
            let verb = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let response = anonymous.request(verb.clone(), app.url(&path)).send().await.unwrap();
            check(method, endpoint.path, response)
                .await
                .expect(401, Some("unauthorized"));
            if endpoint.access == Access::Admin {
                let response = staff.request(verb, app.url(&path)).send().await.unwrap();
                check(method, endpoint.path, response)
                    .await
                    .expect(403, Some("forbidden"));
            }
        }
    }
}

#[tokio::test]
async fn call_sync_answers_as_documented() {
    let app = spawn_app().start().await;
    add_recorded_call(&app, "s1", PATIENT, 60, mp3::silence(20.0));
    app.voipms.add_cdr(CdrRow::outbound(
        "s2",
        minutes_ago(&app, 30),
        DID,
        "4385550123",
        "NO ANSWER",
        0,
    ));
    let synced = sync(&app).await;
    synced.expect(200, None);
    assert_eq!(synced.body["calls"]["inserted"], 2, "{}", synced.body);
    assert_eq!(synced.body["recordings"]["stored"], 1, "{}", synced.body);
    assert!(synced.body["recordings"].get("skipped").is_none(), "{}", synced.body);
    // Again: nothing changes.
    let again = sync(&app).await;
    again.expect(200, None);
    assert_eq!(
        (&again.body["calls"]["inserted"], &again.body["calls"]["updated"]),
        (&json!(0), &json!(0)),
        "{}",
        again.body
    );
    assert_eq!(again.body["recordings"]["stored"], 0, "{}", again.body);

    app.voipms
        .set_fault("getCDR", Some(Fault::Status("method_maintenance")));
    sync(&app).await.expect(502, Some("voipms_unavailable"));
    app.voipms.set_fault("getCDR", Some(Fault::Http(500)));
    sync(&app).await.expect(502, Some("voipms_unavailable"));

    let sandbox = spawn_app().sandbox().start().await;
    sync(&sandbox).await.expect(409, Some("voipms_not_configured"));

    // No VoIP.ms account to list recordings of: the calls are synced, and the report says why the
    // recordings are not.
    let no_account = spawn_app().env("VOIPMS_ACCOUNT", "").start().await;
    add_recorded_call(&no_account, "s3", PATIENT, 60, mp3::silence(20.0));
    let calls_only = sync(&no_account).await;
    calls_only.expect(200, None);
    assert_eq!(calls_only.body["calls"]["inserted"], 1, "{}", calls_only.body);
    assert!(
        calls_only.body["recordings"]["skipped"].is_string(),
        "{}",
        calls_only.body
    );
}

/// The history, a call's recordings and deleting a call.
#[tokio::test]
async fn calls_answer_as_documented() {
    let app = spawn_app().start().await;
    let today = "dateFrom=2026-11-25&dateTo=2026-11-25";
    let history = |query: &str| format!("{HISTORY}?{query}");
    let empty = get(&app, HISTORY, &history(today)).await;
    assert_eq!(
        empty.expect(200, None).body,
        json!({"calls": [], "nextCursor": null, "timezone": "America/Toronto"})
    );

    // Recorded; recorded but VoIP.ms gives no audio (flagged); a caller with a name; missed;
    // outgoing.
    add_recorded_call(&app, "h1", PATIENT, 90, mp3::silence(20.0));
    add_recorded_call(&app, "h2", "4385550125", 120, not_audio());
    let mut named = CdrRow::inbound("h3", minutes_ago(&app, 60), "4385550124", DID, "ANSWERED", 40);
    named.callerid = "\"Jane Doe\" <4385550124>".into();
    app.voipms.add_cdr(named);
    app.voipms.add_cdr(CdrRow::inbound(
        "h4",
        minutes_ago(&app, 30),
        "4385550123",
        DID,
        "NO ANSWER",
        0,
    ));
    app.voipms.add_cdr(CdrRow::outbound(
        "h5",
        minutes_ago(&app, 10),
        DID,
        "4385550123",
        "ANSWERED",
        25,
    ));
    sync(&app).await.expect(200, None);

    let all = get(&app, HISTORY, &history(today)).await;
    all.expect(200, None);
    let calls = all.body["calls"].as_array().unwrap().clone();
    assert_eq!(calls.len(), 5, "{}", all.body);
    assert_eq!(all.body["nextCursor"], Value::Null);
    let call = |status: &str| {
        calls
            .iter()
            .find(|c| c["recordingStatus"] == status)
            .unwrap_or_else(|| panic!("a call whose recording is {status}"))
            .clone()
    };
    let (recorded, unreadable) = (call("stored"), call("corrupt"));
    assert_eq!(unreadable["needsReview"], true);
    assert!(calls.iter().any(|c| c["contactName"] == "Jane Doe"), "{}", all.body);

    let first = get(&app, HISTORY, &history(&format!("{today}&limit=2"))).await;
    let cursor = first.expect(200, None).body["nextCursor"]
        .as_str()
        .expect("a full page has a next cursor")
        .to_string();
    let next = get(&app, HISTORY, &history(&format!("{today}&limit=2&cursor={cursor}"))).await;
    assert_eq!(next.expect(200, None).body["calls"].as_array().unwrap().len(), 2);
    for (filter, count) in [
        ("direction=outbound", 1),
        ("direction=inbound", 4),
        ("disposition=no_answer", 1),
        ("disposition=answered", 4),
        ("contact=(438)%20555-0123", 2),
        ("contact=%2B14385550199&direction=inbound&disposition=answered", 1),
    ] {
        let filtered = get(&app, HISTORY, &history(&format!("{today}&{filter}"))).await;
        let found = filtered.expect(200, None).body["calls"].as_array().unwrap().len();
        assert_eq!(found, count, "{filter}: {}", filtered.body);
    }
    let staff = client_with_token(&member_token(app.practice_id, "staff"));
    let response = staff.get(app.url(&history(today))).send().await.unwrap();
    check("GET", HISTORY, response).await.expect(200, None);
    for (query, code) in [
        ("", "missing_date"),
        ("dateFrom=2026-11-25", "missing_date"),
        ("dateFrom=2026-11-31&dateTo=2026-12-01", "invalid_date"),
        ("dateFrom=yesterday&dateTo=2026-11-25", "invalid_date"),
        ("dateFrom=2026-11-25&dateTo=2026-11-24", "invalid_date_range"),
        ("dateFrom=2025-01-01&dateTo=2026-11-25", "date_range_too_long"),
        (
            "dateFrom=2026-11-25&dateTo=2026-11-25&direction=sideways",
            "invalid_filter",
        ),
        (
            "dateFrom=2026-11-25&dateTo=2026-11-25&disposition=missed",
            "invalid_filter",
        ),
        ("dateFrom=2026-11-25&dateTo=2026-11-25&contact=", "invalid_filter"),
        ("dateFrom=2026-11-25&dateTo=2026-11-25&limit=0", "invalid_limit"),
        ("dateFrom=2026-11-25&dateTo=2026-11-25&limit=201", "invalid_limit"),
        ("dateFrom=2026-11-25&dateTo=2026-11-25&limit=x", "invalid_limit"),
        ("dateFrom=2026-11-25&dateTo=2026-11-25&cursor=nope", "invalid_cursor"),
        ("dateFrom=2026-11-25&dateTo=2026-11-25&sort=asc", "unknown_parameter"),
    ] {
        get(&app, HISTORY, &history(query)).await.expect(400, Some(code));
    }

    // A call's recordings: the call as the history shows it, and what is known of each recording.
    let recordings_of = |id: &Value| format!("{RECORDINGS}?callId={}", id.as_str().unwrap());
    let listed = get(&app, RECORDINGS, &recordings_of(&recorded["id"])).await;
    listed.expect(200, None);
    assert_eq!(listed.body["call"], recorded);
    assert_eq!(listed.body["recordings"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["recordings"][0]["status"], "stored");
    let broken = get(&app, RECORDINGS, &recordings_of(&unreadable["id"])).await;
    assert_eq!(broken.expect(200, None).body["recordings"][0]["status"], "corrupt");
    assert!(broken.body["recordings"][0]["error"].is_string(), "{}", broken.body);
    let missed = calls.iter().find(|c| c["disposition"] == "no_answer").unwrap();
    let none = get(&app, RECORDINGS, &recordings_of(&missed["id"])).await;
    assert_eq!(none.expect(200, None).body["recordings"], json!([]));
    get(&app, RECORDINGS, RECORDINGS)
        .await
        .expect(400, Some("missing_parameter"));
    get(&app, RECORDINGS, &format!("{}&id=1", recordings_of(&recorded["id"])))
        .await
        .expect(400, Some("unknown_parameter"));
    for unknown in [Uuid::new_v4().to_string(), "not-a-uuid".to_string()] {
        get(&app, RECORDINGS, &format!("{RECORDINGS}?callId={unknown}"))
            .await
            .expect(404, Some("not_found"));
    }

    // Deleting a call: admins only; its audio goes; VoIP.ms still lists it, the sync skips it.
    let id = recorded["id"].as_str().unwrap();
    let response = staff.delete(app.url(&CALL.replace("{id}", id))).send().await.unwrap();
    check("DELETE", CALL, response).await.expect(403, Some("forbidden"));
    let deleted = delete_call(&app, id).await;
    assert_eq!(
        deleted.expect(200, None).body,
        json!({"deleted": {"callId": id, "recordingsDeleted": 1, "recordingsPending": 0}})
    );
    delete_call(&app, id).await.expect(404, Some("not_found"));
    delete_call(&app, "not-a-uuid").await.expect(404, Some("not_found"));
    get(&app, RECORDINGS, &recordings_of(&recorded["id"]))
        .await
        .expect(404, Some("not_found"));
    let resynced = sync(&app).await;
    assert_eq!(resynced.expect(200, None).body["calls"]["inserted"], 0);
    let after = get(&app, HISTORY, &history(today)).await;
    assert_eq!(after.expect(200, None).body["calls"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn a_recording_link_answers_as_documented() {
    // The practice names its own VoIP.ms account (none for the deployment), so that it can be
    // taken away below.
    let app = spawn_app()
        .env("VOIPMS_ACCOUNT", "")
        .env("RECORDING_RETENTION_DAYS", "30")
        .env("CALL_SYNC_LOOKBACK_DAYS", "60")
        .start()
        .await;
    let set_account = |account: Option<&'static str>| {
        let app = &app;
        async move {
            app.sql()
                .await
                .execute(
                    "UPDATE practices SET voipms_account = $1 WHERE id = $2",
                    &[&account, &app.practice_id],
                )
                .await
                .unwrap();
        }
    };
    set_account(Some(VOIPMS_ACCOUNT)).await;
    add_recorded_call(&app, "kept", PATIENT, 60, mp3::silence(20.0));
    add_recorded_call(&app, "old", PATIENT, 40 * 24 * 60, mp3::silence(20.0));
    add_recorded_call(&app, "bad", "4385550123", 30, not_audio());
    let synced = sync(&app).await;
    assert_eq!(
        synced.expect(200, None).body["recordings"]["stored"],
        2,
        "{}",
        synced.body
    );
    Job::DailyAnalytics.run(&app.ctx).await.expect("retention ran");

    let kept = recording_of(&app, "kept").await;
    let linked = get(&app, RECORDING_LINK, &recording_link(kept)).await;
    linked.expect(200, None);
    assert!(
        linked.body["url"].as_str().unwrap().starts_with(&app.address),
        "{}",
        linked.body
    );
    let expires = chrono::DateTime::parse_from_rfc3339(linked.body["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!(expires, app.clock_now() + chrono::Duration::minutes(15));
    assert_eq!(linked.body["recording"]["status"], "stored");
    assert_eq!(linked.body["transcription"], "none");
    let call = linked.body["recording"]["callId"].as_str().unwrap().to_string();
    get(
        &app,
        RECORDING_LINK,
        &format!("{}?callSid={call}", recording_link(kept)),
    )
    .await
    .expect(200, None);
    assert_eq!(
        app.count("SELECT count(*) FROM recording_access_log").await,
        2,
        "every link handed out is logged"
    );
    for path in [
        format!("{}?callSid={}", recording_link(kept), Uuid::new_v4()),
        recording_link(Uuid::new_v4()),
        recording_link("not-a-uuid"),
    ] {
        get(&app, RECORDING_LINK, &path).await.expect(404, Some("not_found"));
    }
    get(&app, RECORDING_LINK, &format!("{}?download=1", recording_link(kept)))
        .await
        .expect(400, Some("unknown_parameter"));

    // Deleted by the retention pass; fetched again and still not audio.
    get(&app, RECORDING_LINK, &recording_link(recording_of(&app, "old").await))
        .await
        .expect(410, Some("recording_removed"));
    get(&app, RECORDING_LINK, &recording_link(recording_of(&app, "bad").await))
        .await
        .expect(422, Some("recording_unreadable"));

    // Listed but not stored: VoIP.ms failing, then no account to fetch it with.
    add_recorded_call(&app, "later", PATIENT, 20, mp3::silence(20.0));
    app.voipms.set_fault("getCallRecording", Some(Fault::Http(503)));
    let failed = sync(&app).await;
    assert_eq!(
        failed.expect(200, None).body["recordings"]["failed"],
        1,
        "{}",
        failed.body
    );
    let later = recording_link(recording_of(&app, "later").await);
    get(&app, RECORDING_LINK, &later)
        .await
        .expect(502, Some("voipms_unavailable"));
    set_account(None).await;
    get(&app, RECORDING_LINK, &later)
        .await
        .expect(409, Some("recording_not_stored"));

    // The store refusing to make a link (here: for a key it cannot take).
    app.sql()
        .await
        .execute(
            "UPDATE call_recordings SET object_key = 'not a key' WHERE id = $1",
            &[&kept],
        )
        .await
        .unwrap();
    get(&app, RECORDING_LINK, &recording_link(kept))
        .await
        .expect(503, Some("storage_unavailable"));
}

/// Found while documenting the call history: a NUL in `contact` goes to Postgres, which refuses
/// it, and the answer is a 500. Ignored until the fix lands, then it guards it.
#[tokio::test]
async fn a_nul_in_the_contact_filter_is_a_400_not_a_500() {
    let app = spawn_app().start().await;
    get(
        &app,
        HISTORY,
        &format!("{HISTORY}?dateFrom=2026-11-25&dateTo=2026-11-25&contact=a%00b"),
    )
    .await
    .expect(400, Some("invalid_filter"));
}

#[tokio::test]
async fn search_answers_as_documented() {
    let app = spawn_app().sandbox().start().await;
    app.text_in(PATIENT, "My <b>tooth</b> is broken", "search-1").await;
    let calls_fixture = mp3::silence(2.0);
    app.seed_fixture_call(calls_fixture).await;
    app.sql()
        .await
        .execute(
            "INSERT INTO call_transcripts (recording_id, practice_id, call_id, provider, model, text, elapsed_ms, created_at) \
             SELECT id, practice_id, call_id, 'openai', 'whisper-1', 'the broken tooth hurts', 5, now() FROM call_recordings",
            &[],
        )
        .await
        .unwrap();
    let template = "/api/voip/search";
    let found = get(&app, template, "/api/voip/search?q=tooth").await;
    found.expect(200, None);
    let kinds: Vec<&str> = found.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"message") && kinds.contains(&"transcript"), "{kinds:?}");
    get(
        &app,
        template,
        "/api/voip/search?q=tooth&type=calls&limit=1&dateFrom=2026-11-25&dateTo=2026-11-25",
    )
    .await
    .expect(200, None);
    for (query, code) in [
        ("", "missing_query"),
        ("q=the", "query_has_no_words"),
        ("q=a%00b", "invalid_query"),
        ("q=tooth&type=faxes", "invalid_type"),
        ("q=tooth&limit=500", "invalid_limit"),
        ("q=tooth&cursor=-3", "invalid_cursor"),
        ("q=tooth&dateFrom=2026-11-25", "missing_date"),
        ("q=tooth&dateFrom=2026-11-25&dateTo=2026-11-20", "invalid_date_range"),
        ("q=tooth&page=2", "unknown_parameter"),
    ] {
        get(&app, template, &format!("/api/voip/search?{query}"))
            .await
            .expect(400, Some(code));
    }
    let long = format!("/api/voip/search?q={}", "tooth+".repeat(60));
    get(&app, template, &long).await.expect(400, Some("query_too_long"));
}

/// The analytics of a practice with nothing yet, then with calls, a recording and its transcript,
/// texts flagged and reviewed, from the live tables and from the rollups; and the bad ranges.
#[tokio::test]
async fn analytics_answer_as_documented() {
    let app = spawn_app().start().await;
    let range = |query: &str| format!("{ANALYTICS}?{query}");
    let week = range("startDate=2026-11-19&endDate=2026-11-25");
    let empty = get(&app, ANALYTICS, &week).await;
    assert_eq!(
        empty.expect(200, None).body["analytics"]["daily"]
            .as_array()
            .unwrap()
            .len(),
        7
    );

    add_recorded_call(&app, "a1", PATIENT, 26 * 60, mp3::silence(20.0));
    app.voipms.add_cdr(CdrRow::inbound(
        "a2",
        minutes_ago(&app, 30),
        "4385550123",
        DID,
        "NO ANSWER",
        0,
    ));
    sync(&app).await.expect(200, None);
    let recording = recording_of(&app, "a1").await;
    app.sql()
        .await
        .execute(
            "INSERT INTO call_transcripts (recording_id, practice_id, call_id, provider, model, text, audio_duration_ms, \
               elapsed_ms, created_at) \
             SELECT id, practice_id, call_id, 'openai', 'whisper-1', 'hello', 20000, 100, recorded_at \
             FROM call_recordings WHERE id = $1",
            &[&recording],
        )
        .await
        .unwrap();
    let (_, flagged) = app.text_in(PATIENT, UNANSWERABLE, "a-flag").await;
    app.text_in(PATIENT, "What are your hours?", "a-hours").await;
    app.clock.advance(chrono::Duration::minutes(5));
    app.http
        .post(app.url(&REVIEW.replace("{id}", flagged["conversationId"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    let live = get(&app, ANALYTICS, &week).await;
    live.expect(200, None);
    let a = &live.body["analytics"];
    assert_eq!(a["calls"]["total"], 2, "{}", live.body);
    assert_eq!(a["sms"]["review"]["medianWaitSeconds"], 300, "{}", live.body);
    assert_eq!(
        a["transcription"]["byProvider"]["openai"]["recordings"], 1,
        "{}",
        live.body
    );

    Job::DailyAnalytics.run(&app.ctx).await.expect("daily job ran");
    let rolled = get(&app, ANALYTICS, &week).await;
    assert_eq!(rolled.expect(200, None).body, live.body);

    for (query, code) in [
        ("startDate=2026-11-25", "missing_date"),
        ("startDate=2026-02-30&endDate=2026-03-01", "invalid_date"),
        ("startDate=2026-11-25&endDate=2026-11-24", "invalid_date_range"),
        ("startDate=2024-01-01&endDate=2026-11-24", "date_range_too_long"),
        ("startDate=2026-11-25&endDate=2026-11-25&limit=5", "unknown_parameter"),
    ] {
        get(&app, ANALYTICS, &range(query)).await.expect(400, Some(code));
    }
}

#[tokio::test]
async fn settings_and_rules_answer_as_documented() {
    const SETTINGS: &str = "/api/voip/settings";
    const RULES: &str = "/api/voip/settings/rules";
    const RULE: &str = "/api/voip/settings/rules/{category}";
    let app = spawn_app().start().await;
    let put = |path: String, body: Value| app.http.put(app.url(&path)).json(&body).send();
    get(&app, SETTINGS, SETTINGS).await.expect(200, None);
    check(
        "PUT",
        SETTINGS,
        put(
            SETTINGS.into(),
            json!({"officeHours": {"sat": [["09:00", "12:00"]]}, "afterHoursNote": null, "phone": null}),
        )
        .await
        .unwrap(),
    )
    .await
    .expect(200, None);
    get(&app, SETTINGS, SETTINGS).await.expect(200, None);
    for body in [
        json!({"officeHours": {"mon": [["17:00", "08:00"]]}}),
        json!({}),
        json!({"practiceId": Uuid::new_v4()}),
    ] {
        let answer = check("PUT", SETTINGS, put(SETTINGS.into(), body).await.unwrap()).await;
        answer.expect(400, Some("invalid_settings"));
    }
    let rules = get(&app, RULES, RULES).await;
    assert_eq!(rules.expect(200, None).body["rules"].as_array().unwrap().len(), 8);
    let rule = |category: &str| RULE.replace("{category}", category);
    for (category, body) in [
        (
            "office_hours",
            json!({"priority": 12, "keywords": ["hours"], "replyText": "Open {office_hours}."}),
        ),
        (
            "help",
            json!({"replyText": "{practice_name}: call {practice_phone}. Reply STOP to opt out."}),
        ),
    ] {
        check("PUT", RULE, put(rule(category), body).await.unwrap())
            .await
            .expect(200, None);
    }
    check(
        "PUT",
        RULE,
        put(rule("office_hours"), json!({"replyText": "{phone}"}))
            .await
            .unwrap(),
    )
    .await
    .expect(400, Some("invalid_rule"));
    check(
        "PUT",
        RULE,
        put(rule("weather"), json!({"enabled": true})).await.unwrap(),
    )
    .await
    .expect(404, Some("not_found"));
}
