//! Our Twilio code against Twilio's own Python library (`twilio` on PyPI, pinned in
//! tests/python/requirements.txt and installed by scripts/python-deps.sh): its RequestValidator
//! accepts what the fake signs and signs what our webhook accepts, and its REST client sends a text
//! through the fake. Skipped, loudly, only where python3 is missing.

use pedro_tests::app::{TestApp, PATIENT_E164, TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN};
use pedro_tests::fakes::twilio::{twilio_signature, InboundMessage};
use pedro_tests::spawn_app;
use pedro_voip::http::twilio_webhook::EMPTY_TWIML;
use serde_json::{json, Value};

/// The virtual environment's python, after scripts/python-deps.sh; None without python3.
async fn python() -> Option<String> {
    let present = tokio::process::Command::new("python3")
        .arg("--version")
        .output()
        .await
        .is_ok_and(|o| o.status.success());
    if !present {
        eprintln!("\n*** SKIPPED: python3 is not installed; Twilio's Python library could not check our code ***\n");
        return None;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/python-deps.sh");
    let output = tokio::process::Command::new(&script).output().await.unwrap();
    assert!(
        output.status.success(),
        "{}: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).unwrap().trim().to_string())
}

/// Runs `code` with `input` as JSON on stdin; returns what it prints as JSON.
async fn run(python: &str, code: &str, input: &Value) -> Value {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(python)
        .args(["-c", code])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    assert!(
        output.status.success(),
        "python: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("python printed no JSON ({e}): {output:?}"))
}

const VALIDATOR: &str = r#"
import json, sys
from twilio.request_validator import RequestValidator

class Form:
    """Repeated keys, as a web framework's MultiDict gives them to RequestValidator."""
    def __init__(self, pairs):
        self.pairs = pairs
    def __iter__(self):
        return iter([k for k, _ in self.pairs])
    def getall(self, name):
        return [v for k, v in self.pairs if k == name]

case = json.load(sys.stdin)
validator = RequestValidator(case["token"])
form = Form([tuple(p) for p in case["params"]])
print(json.dumps({
    "accepts": validator.validate(case["url"], form, case["signature"]),
    "accepts_forged": validator.validate(case["url"], form, case["signature"][:-2] + "A="),
    "signature": validator.compute_signature(case["url"], form),
}))
"#;

fn pairs(params: &[(String, String)]) -> Value {
    json!(params.iter().map(|(k, v)| [k, v]).collect::<Vec<_>>())
}

#[tokio::test]
async fn twilios_request_validator_and_our_webhook_agree_on_signatures() {
    let Some(python) = python().await else { return };
    let app: TestApp = spawn_app().twilio().start().await;
    let url = app.ctx.settings.twilio.as_ref().unwrap().webhook_url.clone().unwrap();

    // Repeated keys, a query string, and text outside ASCII.
    let tricky: Vec<(String, String)> = [
        ("MediaUrl", "https://b.example/2"),
        ("Body", "Ça fait mal 😬 & ?=+"),
        ("MediaUrl", "https://a.example/1"),
        ("From", "+15551234567"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let tricky_url = "https://api.example.com/api/twilio/sms/webhook?clinic=7&lang=fr";
    let signature = twilio_signature(TWILIO_TOKEN, tricky_url, &tricky);
    let answer = run(
        &python,
        VALIDATOR,
        &json!({"token": TWILIO_TOKEN, "url": tricky_url, "params": pairs(&tricky), "signature": signature}),
    )
    .await;
    assert_eq!(answer["accepts"], true, "the fake's signature: {answer}");
    assert_eq!(answer["accepts_forged"], false);
    assert_eq!(answer["signature"], signature.as_str());
    assert!(pedro_voip::sms::twilio_signature::verify(
        TWILIO_TOKEN,
        tricky_url,
        &tricky,
        answer["signature"].as_str().unwrap()
    ));

    // A whole inbound message, signed by Twilio's library, posted to our webhook.
    let message = InboundMessage {
        from: PATIENT_E164.into(),
        to: TWILIO_FROM.into(),
        body: "Est-ce que je peux venir à 15 h? 🙂".into(),
        media_content_types: vec!["image/jpeg".into()],
    };
    let sid = app.twilio.new_inbound_sid(&message);
    let params = app.twilio.inbound_params(&sid, &message);
    let fake_signature = twilio_signature(TWILIO_TOKEN, &url, &params);
    let answer = run(
        &python,
        VALIDATOR,
        &json!({"token": TWILIO_TOKEN, "url": url, "params": pairs(&params), "signature": fake_signature}),
    )
    .await;
    assert_eq!(answer["accepts"], true, "{answer}");
    let response = app
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", answer["signature"].as_str().unwrap())
        .body(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&params)
                .finish(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), EMPTY_TWIML);
    let stored: String = app
        .value("SELECT body FROM sms_messages WHERE direction = 'inbound' AND provider = 'twilio'")
        .await;
    assert_eq!(stored, message.body);
}

const CLIENT: &str = r#"
import json, sys
from twilio.rest import Client
from twilio.base.exceptions import TwilioRestException

case = json.load(sys.stdin)
client = Client(case["sid"], case["token"])
client.api.base_url = case["base_url"]
sent = client.messages.create(to=case["to"], from_=case["from"], body=case["body"])
result = {"sid": sent.sid, "status": str(sent.status), "num_segments": sent.num_segments,
          "to": sent.to, "from": sent.from_, "body": sent.body, "date_created": str(sent.date_created)}
fetched = client.messages(sent.sid).fetch()
result["fetched_sid"] = fetched.sid
try:
    client.messages.create(to="not a number", from_=case["from"], body="hi")
except TwilioRestException as e:
    result["error"] = {"status": e.status, "code": e.code}
bad = Client(case["sid"], "wrong-token")
bad.api.base_url = case["base_url"]
try:
    bad.messages.create(to=case["to"], from_=case["from"], body="hi")
except TwilioRestException as e:
    result["unauthorized"] = {"status": e.status, "code": e.code}
print(json.dumps(result))
"#;

#[tokio::test]
async fn twilios_rest_client_sends_through_the_fake() {
    let Some(python) = python().await else { return };
    let fake = pedro_tests::fakes::twilio::FakeTwilio::start(TWILIO_SID, TWILIO_TOKEN).await;
    let answer = run(
        &python,
        CLIENT,
        &json!({
            "sid": TWILIO_SID, "token": TWILIO_TOKEN, "base_url": fake.base_url(),
            "to": PATIENT_E164, "from": TWILIO_FROM, "body": "Your crown is ready",
        }),
    )
    .await;
    let sent = fake.sent();
    assert_eq!(sent.len(), 1, "{answer}");
    assert_eq!(answer["sid"], sent[0].sid.as_str());
    assert_eq!(answer["fetched_sid"], sent[0].sid.as_str());
    assert_eq!(answer["status"], "queued");
    assert_eq!(answer["num_segments"], "1");
    assert_eq!(
        (answer["to"].as_str(), answer["from"].as_str()),
        (Some(PATIENT_E164), Some(TWILIO_FROM))
    );
    assert_eq!(answer["body"], "Your crown is ready");
    assert!(
        answer["date_created"].as_str().unwrap().contains("+00:00"),
        "parsed as a date: {answer}"
    );
    assert_eq!(answer["error"], json!({"status": 400, "code": 21211}));
    assert_eq!(answer["unauthorized"], json!({"status": 401, "code": 20003}));
}
