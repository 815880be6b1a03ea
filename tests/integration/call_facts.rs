//! Call facts: the rules scored on labelled transcripts (`tests/data/call_facts.json`, labels per
//! docs/call-facts.md), and the model path against a fake chat-completions server: answers used,
//! retried once, or replaced by the rules.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::NaiveDateTime;
use pedro_voip::facts::{
    extract, extract_rules, json_schema, validate, CallFacts, FactsSource, LlmError, LlmExtractor, MentionedTime,
    Request, Urgency,
};
use serde::Deserialize;
use serde_json::{json, Value};

// ----------------------------------------------------------------------------------------------
// The labelled set

#[derive(Deserialize)]
struct LabelledSet {
    calls: Vec<LabelledCall>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LabelledCall {
    id: String,
    set: String,
    call_started_local: NaiveDateTime,
    transcript: String,
    expected: Expected,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Expected {
    request: Request,
    urgency: Urgency,
    callback_requested: bool,
    phone_numbers: Vec<String>,
    names: Vec<String>,
    mentioned_times: Vec<MentionedTime>,
}

fn labelled() -> Vec<LabelledCall> {
    let set: LabelledSet = serde_json::from_str(include_str!("../data/call_facts.json")).unwrap();
    set.calls
}

const FIELDS: [&str; 7] = [
    "request",
    "urgency",
    "callbackRequested",
    "phoneNumbers",
    "names",
    "mentionedTimes",
    "all seven right",
];

/// How the rules did on some labelled calls.
#[derive(Default)]
struct Score {
    calls: usize,
    correct: [usize; FIELDS.len()],
    emergencies: usize,
    emergencies_caught: usize,
    false_emergencies: usize,
    misses: Vec<String>,
}

impl Score {
    fn rate(&self, field: &str) -> f64 {
        let k = FIELDS.iter().position(|f| *f == field).unwrap();
        self.correct[k] as f64 / self.calls as f64
    }

    fn add(&mut self, call: &LabelledCall, got: &CallFacts) {
        let want = &call.expected;
        self.calls += 1;
        let lower = |names: &[String]| names.iter().map(|n| n.to_lowercase()).collect::<BTreeSet<_>>();
        // Times are scored on the days and times they resolve to, not on the exact words.
        let days = |times: &[MentionedTime]| times.iter().filter_map(|t| t.resolved.clone()).collect::<BTreeSet<_>>();
        let phones = |numbers: &[String]| numbers.iter().cloned().collect::<BTreeSet<_>>();
        let checks = [
            (
                want.request == got.request,
                format!("{:?} / {:?}", want.request, got.request),
            ),
            (
                want.urgency == got.urgency,
                format!("{:?} / {:?}", want.urgency, got.urgency),
            ),
            (
                want.callback_requested == got.callback_requested,
                format!("{} / {}", want.callback_requested, got.callback_requested),
            ),
            (
                phones(&want.phone_numbers) == phones(&got.phone_numbers),
                format!("{:?} / {:?}", want.phone_numbers, got.phone_numbers),
            ),
            (
                lower(&want.names) == lower(&got.names),
                format!("{:?} / {:?}", want.names, got.names),
            ),
            (
                days(&want.mentioned_times) == days(&got.mentioned_times),
                format!("{:?} / {:?}", days(&want.mentioned_times), days(&got.mentioned_times)),
            ),
        ];
        for (k, (right, shown)) in checks.iter().enumerate() {
            if *right {
                self.correct[k] += 1;
            } else {
                self.misses
                    .push(format!("  {:<38} {:<17} want / got: {shown}", call.id, FIELDS[k]));
            }
        }
        self.correct[FIELDS.len() - 1] += usize::from(checks.iter().all(|(right, _)| *right));
        if want.request == Request::Emergency {
            self.emergencies += 1;
            self.emergencies_caught += usize::from(got.request == Request::Emergency);
        } else if got.request == Request::Emergency {
            self.false_emergencies += 1;
        }
    }

    fn print(&self, title: &str) {
        println!("\n{title}: {} calls", self.calls);
        println!("  | field             | correct | total |     % |");
        println!("  |-------------------|--------:|------:|------:|");
        for (k, field) in FIELDS.iter().enumerate() {
            println!(
                "  | {:<17} | {:>7} | {:>5} | {:>5.1} |",
                field,
                self.correct[k],
                self.calls,
                100.0 * self.correct[k] as f64 / self.calls as f64
            );
        }
        println!(
            "  emergencies caught: {}/{}; calls wrongly marked emergency: {}",
            self.emergencies_caught, self.emergencies, self.false_emergencies
        );
        println!("  misses:\n{}", self.misses.join("\n"));
    }
}

fn score<'a>(calls: impl Iterator<Item = &'a LabelledCall>) -> Score {
    let mut score = Score::default();
    for call in calls {
        score.add(call, &extract_rules(&call.transcript, call.call_started_local));
    }
    score
}

#[test]
fn labelled_calls_meet_the_accuracy_floors() {
    let calls = labelled();
    assert!(calls.len() >= 40, "at least 40 labelled calls");
    for (set, title) in [
        ("tuning", "rules, tuning set (written before the rules)"),
        (
            "unseen",
            "rules, unseen set (written after the rules; its blind score is in docs/call-facts.md)",
        ),
    ] {
        score(calls.iter().filter(|c| c.set == set)).print(title);
    }
    let all = score(calls.iter());
    all.print("rules, all calls");

    // Floors a few points under the figures measured after the rules were revised (docs/call-facts.md):
    // two or three more misses in a field fail the test.
    let floors = [
        ("request", 0.92),
        ("urgency", 0.92),
        ("callbackRequested", 0.95),
        ("phoneNumbers", 0.97),
        ("names", 0.90),
        ("mentionedTimes", 0.90),
        ("all seven right", 0.85),
    ];
    for (field, floor) in floors {
        assert!(all.rate(field) >= floor, "{field}: {:.3} < {floor}", all.rate(field));
    }
    assert_eq!(
        all.emergencies_caught, all.emergencies,
        "every emergency must be caught"
    );
    assert_eq!(all.false_emergencies, 0, "calls wrongly marked emergency");
}

#[test]
fn rules_output_passes_validate_and_the_json_schema() {
    let validator = jsonschema::draft202012::options()
        .build(&json_schema())
        .unwrap_or_else(|e| panic!("a valid JSON Schema: {e}"));
    for call in labelled() {
        let facts = extract_rules(&call.transcript, call.call_started_local);
        let value = serde_json::to_value(&facts).unwrap();
        let errors: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", call.id);
        assert_eq!(validate(&value).as_ref(), Ok(&facts), "{}", call.id);
    }
}

// ----------------------------------------------------------------------------------------------
// The model, against a fake chat-completions server

/// What the fake server saw of one request.
#[derive(Clone)]
struct Seen {
    path: String,
    authorization: Option<String>,
    body: Value,
}

#[derive(Clone, Default)]
struct Fake {
    replies: Arc<Mutex<VecDeque<(u16, Value)>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

struct FakeOpenAi {
    base_url: String,
    fake: Fake,
}

impl FakeOpenAi {
    fn seen(&self) -> Vec<Seen> {
        self.fake.seen.lock().unwrap().clone()
    }

    fn llm(&self) -> LlmExtractor {
        LlmExtractor::new(
            "sk-test-key",
            Some(self.base_url.clone()),
            None,
            Duration::from_secs(10),
        )
    }
}

/// A chat-completions server on loopback that answers with `replies` in order (then 500).
async fn fake_openai(replies: Vec<(u16, Value)>) -> FakeOpenAi {
    async fn answer(
        State(fake): State<Fake>,
        uri: axum::http::Uri,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> (StatusCode, Json<Value>) {
        fake.seen.lock().unwrap().push(Seen {
            path: uri.path().to_string(),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(String::from),
            body,
        });
        let (status, reply) = fake
            .replies
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or((500, openai_error("no more replies", "server_error", None)));
        (StatusCode::from_u16(status).unwrap(), Json(reply))
    }
    let fake = Fake {
        replies: Arc::new(Mutex::new(replies.into())),
        ..Fake::default()
    };
    let app = Router::new()
        .route("/v1/chat/completions", post(answer))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    FakeOpenAi { base_url, fake }
}

fn completion(content: &str) -> (u16, Value) {
    (
        200,
        json!({
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": null},
                "finish_reason": "stop"
            }]
        }),
    )
}

fn openai_error(message: &str, kind: &str, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

const TRANSCRIPT: &str = "Hi, this is Maria Lopez. I'd like to book a cleaning, sometime next Tuesday at 3 if \
                          that works. You can reach me at 514-555-0123. Thanks!";

fn wednesday() -> NaiveDateTime {
    NaiveDateTime::parse_from_str("2026-11-25T10:00", "%Y-%m-%dT%H:%M").unwrap()
}

/// What a good model answers (its summary differs from the rules', so the source shows).
fn model_facts() -> Value {
    json!({
        "schemaVersion": 1,
        "summary": "Maria Lopez wants to book a cleaning next Tuesday at 3 pm and asked for a call back.",
        "request": "appointment",
        "urgency": "normal",
        "mentionedTimes": [{"text": "next Tuesday at 3", "resolved": "2026-12-01T15:00"}],
        "phoneNumbers": ["+15145550123"],
        "names": ["Maria Lopez"],
        "callbackRequested": true,
        "followUpActions": ["Call back Maria Lopez at +15145550123", "Book a cleaning"]
    })
}

fn rules() -> CallFacts {
    extract_rules(TRANSCRIPT, wednesday())
}

#[tokio::test]
async fn the_models_valid_answer_is_used_and_its_model_recorded() {
    let server = fake_openai(vec![completion(&model_facts().to_string())]).await;
    let (facts, source) = extract(Some(&server.llm()), TRANSCRIPT, wednesday()).await;
    assert_eq!(
        source,
        FactsSource::Llm {
            model: "gpt-4o-mini".into()
        }
    );
    assert_eq!(facts, validate(&model_facts()).unwrap());
    assert_ne!(facts, rules());
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn the_request_is_a_strict_json_schema_chat_completion() {
    let server = fake_openai(vec![completion(&model_facts().to_string())]).await;
    let llm = LlmExtractor::new(
        "sk-test-key",
        Some(format!("{}/", server.base_url)),
        Some("gpt-4.1-mini".into()),
        Duration::from_secs(10),
    );
    let (_, source) = extract(Some(&llm), TRANSCRIPT, wednesday()).await;
    assert_eq!(
        source,
        FactsSource::Llm {
            model: "gpt-4.1-mini".into()
        }
    );
    let seen = server.seen();
    let request = &seen[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.authorization.as_deref(), Some("Bearer sk-test-key"));
    let body = &request.body;
    assert_eq!(body["model"], "gpt-4.1-mini");
    assert_eq!(body["temperature"], 0);
    assert_eq!(body["response_format"]["type"], "json_schema");
    let format = &body["response_format"]["json_schema"];
    assert_eq!(format["name"], "call_facts");
    assert_eq!(format["strict"], true);
    assert_eq!(format["schema"], json_schema());
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "system");
    let system = messages[0]["content"].as_str().unwrap();
    assert!(system.contains("Wednesday, 2026-11-25, at 10:00"), "{system}");
    assert!(
        !system.contains("sometime next Tuesday"),
        "the transcript goes in the user message only"
    );
    assert_eq!(messages[1], json!({"role": "user", "content": TRANSCRIPT}));
}

#[tokio::test]
async fn an_answer_that_is_not_json_is_retried_once_with_the_reason() {
    let server = fake_openai(vec![
        completion("Sure! Here are the facts: {\"request\": "),
        completion(&model_facts().to_string()),
    ])
    .await;
    let (facts, source) = extract(Some(&server.llm()), TRANSCRIPT, wednesday()).await;
    assert!(matches!(source, FactsSource::Llm { .. }));
    assert_eq!(facts, validate(&model_facts()).unwrap());
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "one retry");
    let messages = seen[1].body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[2]["role"], "assistant");
    assert_eq!(messages[3]["role"], "user");
    let correction = messages[3]["content"].as_str().unwrap();
    assert!(correction.contains("not JSON"), "{correction}");
}

#[tokio::test]
async fn an_answer_that_breaks_the_rules_is_retried_with_the_field_named() {
    let mut wrong = model_facts();
    wrong["phoneNumbers"] = json!(["514-555-0123"]);
    let server = fake_openai(vec![
        completion(&wrong.to_string()),
        completion(&model_facts().to_string()),
    ])
    .await;
    let (_, source) = extract(Some(&server.llm()), TRANSCRIPT, wednesday()).await;
    assert!(matches!(source, FactsSource::Llm { .. }));
    let seen = server.seen();
    let correction = seen[1].body["messages"][3]["content"].as_str().unwrap().to_string();
    assert!(
        correction.contains("phoneNumbers[0] is not an E.164 number"),
        "{correction}"
    );
    assert!(!correction.contains("514-555"), "{correction}");
}

#[tokio::test]
async fn an_answer_invalid_twice_falls_back_to_the_rules() {
    let mut bad_enum = model_facts();
    bad_enum["urgency"] = json!("urgent");
    let server = fake_openai(vec![completion("not json"), completion(&bad_enum.to_string())]).await;
    let llm = server.llm();
    let (facts, source) = extract(Some(&llm), TRANSCRIPT, wednesday()).await;
    assert_eq!(source, FactsSource::Rules);
    assert_eq!(facts, rules());
    assert_eq!(server.seen().len(), 2, "one retry, not more");

    let server = fake_openai(vec![completion("{}"), completion("{}")]).await;
    let error = server.llm().extract(TRANSCRIPT, wednesday()).await.unwrap_err();
    assert!(
        matches!(&error, LlmError::InvalidOutput { reason } if reason.contains("missing")),
        "{error:?}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn rate_limits_and_server_errors_fall_back_at_once_and_are_retryable() {
    for (status, kind, code) in [
        (429, "requests", Some("rate_limit_exceeded")),
        (500, "server_error", None),
        (503, "server_error", None),
    ] {
        let reply = (status, openai_error("try again later", kind, code));
        let server = fake_openai(vec![reply.clone()]).await;
        let (facts, source) = extract(Some(&server.llm()), TRANSCRIPT, wednesday()).await;
        assert_eq!((facts, source), (rules(), FactsSource::Rules), "HTTP {status}");
        assert_eq!(server.seen().len(), 1, "HTTP {status} is not retried in the call");

        let server = fake_openai(vec![reply]).await;
        let error = server.llm().extract(TRANSCRIPT, wednesday()).await.unwrap_err();
        assert!(
            matches!(error, LlmError::Status { status: s, .. } if s == status),
            "{error:?}"
        );
        assert!(error.is_retryable(), "HTTP {status}");
    }
}

#[tokio::test]
async fn bad_keys_bad_requests_and_exhausted_quotas_are_permanent() {
    for (status, kind, code) in [
        (401, "invalid_request_error", Some("invalid_api_key")),
        (
            403,
            "invalid_request_error",
            Some("unsupported_country_region_territory"),
        ),
        (400, "invalid_request_error", Some("invalid_json_schema")),
        (429, "insufficient_quota", Some("insufficient_quota")),
    ] {
        let reply = (status, openai_error("no", kind, code));
        let server = fake_openai(vec![reply.clone()]).await;
        let (facts, source) = extract(Some(&server.llm()), TRANSCRIPT, wednesday()).await;
        assert_eq!((facts, source), (rules(), FactsSource::Rules), "HTTP {status}");

        let server = fake_openai(vec![reply]).await;
        let error = server.llm().extract(TRANSCRIPT, wednesday()).await.unwrap_err();
        assert!(!error.is_retryable(), "HTTP {status} {code:?}: {error}");
        assert_eq!(server.seen().len(), 1);
    }
}

#[tokio::test]
async fn a_refusal_falls_back_to_the_rules() {
    let refusal = (
        200,
        json!({"choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": null, "refusal": "I'm sorry, I can't help with that."},
            "finish_reason": "stop"
        }]}),
    );
    let server = fake_openai(vec![refusal.clone()]).await;
    let (facts, source) = extract(Some(&server.llm()), TRANSCRIPT, wednesday()).await;
    assert_eq!((facts, source), (rules(), FactsSource::Rules));
    assert_eq!(server.seen().len(), 1);

    let server = fake_openai(vec![refusal]).await;
    let error = server.llm().extract(TRANSCRIPT, wednesday()).await.unwrap_err();
    assert_eq!(error, LlmError::Refused);
}

#[tokio::test]
async fn an_unreachable_server_or_a_body_that_is_no_completion_falls_back() {
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let llm = LlmExtractor::new(
        "sk-test-key",
        Some(format!("http://{address}/v1")),
        None,
        Duration::from_secs(5),
    );
    let (facts, source) = extract(Some(&llm), TRANSCRIPT, wednesday()).await;
    assert_eq!((facts, source), (rules(), FactsSource::Rules));
    let error = llm.extract(TRANSCRIPT, wednesday()).await.unwrap_err();
    assert!(
        matches!(error, LlmError::Transport { .. }) && error.is_retryable(),
        "{error:?}"
    );

    let server = fake_openai(vec![(200, json!({"choices": []}))]).await;
    let error = server.llm().extract(TRANSCRIPT, wednesday()).await.unwrap_err();
    assert!(matches!(error, LlmError::Malformed { .. }), "{error:?}");
}

#[tokio::test]
async fn without_a_model_the_rules_answer() {
    let (facts, source) = extract(None, TRANSCRIPT, wednesday()).await;
    assert_eq!((facts, source), (rules(), FactsSource::Rules));
}
