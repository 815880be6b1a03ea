//! Unit tests of the facts module: the rules' calendar, numbers, names and cues, `validate`, the
//! schema's strictness, and what a fallback logs.

use chrono::NaiveDateTime;
use serde_json::{json, Value};

use super::*;

/// Wednesday 25 November 2026, 10:00 local.
fn wednesday() -> NaiveDateTime {
    at("2026-11-25T10:00")
}

fn at(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").unwrap()
}

/// The resolved values the rules find, in order.
fn resolved(transcript: &str, call: NaiveDateTime) -> Vec<Option<String>> {
    extract_rules(transcript, call)
        .mentioned_times
        .into_iter()
        .map(|t| t.resolved)
        .collect()
}

fn one(transcript: &str, call: NaiveDateTime) -> Option<String> {
    let all = resolved(transcript, call);
    assert_eq!(all.len(), 1, "{transcript:?} gave {all:?}");
    all[0].clone()
}

fn some(text: &str) -> Option<String> {
    Some(text.to_string())
}

#[test]
fn weekdays_are_the_coming_one_and_bare_hours_follow_office_hours() {
    let call = wednesday();
    assert_eq!(one("Can I come next Tuesday at 3?", call), some("2026-12-01T15:00"));
    assert_eq!(one("how about tuesday at 3", call), some("2026-12-01T15:00"));
    assert_eq!(one("this Friday at 10:30 works", call), some("2026-11-27T10:30"));
    // Today is Wednesday: "Wednesday" is next week's.
    assert_eq!(one("Wednesday at 9", call), some("2026-12-02T09:00"));
    assert_eq!(one("I came in last Tuesday", call), some("2026-11-24"));
    assert_eq!(one("Tuesday next week", call), some("2026-12-01"));
    assert_eq!(one("Friday at 12", call), some("2026-11-27T12:00"));
    assert_eq!(one("Friday at 6", call), some("2026-11-27T18:00"));
    assert_eq!(one("Friday at 7", call), some("2026-11-27T07:00"));
    assert_eq!(one("at noon on Friday", call), some("2026-11-27T12:00"));
    assert_eq!(one("Friday at 15:45", call), some("2026-11-27T15:45"));
    assert_eq!(one("Monday at 2 o'clock", call), some("2026-11-30T14:00"));
}

#[test]
fn a_part_of_the_day_gives_the_date_only_but_sets_am_or_pm() {
    let call = wednesday();
    assert_eq!(one("tomorrow morning please", call), some("2026-11-26"));
    assert_eq!(one("this afternoon", call), some("2026-11-25"));
    assert_eq!(one("tomorrow at 8 in the morning", call), some("2026-11-26T08:00"));
    assert_eq!(one("tomorrow at 7 in the evening", call), some("2026-11-26T19:00"));
    assert_eq!(one("tonight at 7", call), some("2026-11-25T19:00"));
    assert_eq!(one("tomorrow at 3:30 pm", call), some("2026-11-26T15:30"));
    assert_eq!(one("Thursday at nine in the morning", call), some("2026-11-26T09:00"));
    assert_eq!(one("Thursday at three thirty", call), some("2026-11-26T15:30"));
    assert_eq!(one("10am the day after tomorrow", call), some("2026-11-27T10:00"));
    // "mornings are better" is a preference, not a time.
    assert!(resolved("mornings are better, in the morning ideally", call).is_empty());
}

#[test]
fn days_of_the_month_and_month_names() {
    let call = wednesday();
    assert_eq!(one("on the 14th", call), some("2026-12-14"));
    assert_eq!(one("on the 25th", call), some("2026-11-25"));
    assert_eq!(one("on the twenty first", call), some("2026-12-21"));
    assert_eq!(one("December 3rd at 11", call), some("2026-12-03T11:00"));
    assert_eq!(one("dec 3", call), some("2026-12-03"));
    assert_eq!(one("the 9th of December", call), some("2026-12-09"));
    assert_eq!(one("Monday the 30th at 2 pm", call), some("2026-11-30T14:00"));
    // Up to three months back is the past; further back is next year.
    assert_eq!(one("my visit on November 3rd", call), some("2026-11-03"));
    assert_eq!(one("a claim from September 1st", call), some("2026-09-01"));
    assert_eq!(one("can I book June 3rd", call), some("2027-06-03"));
    assert_eq!(
        one("January 4th at 3:30 pm", at("2026-12-31T10:00")),
        some("2027-01-04T15:30")
    );
    assert_eq!(one("born March 4th 1958", call), some("1958-03-04"));
    // Not dates: "the first time", "I may", an ordinal without "the".
    assert!(resolved("the first time I may have come", call).is_empty());
}

#[test]
fn periods_and_bare_times_are_mentioned_but_not_resolved() {
    let call = wednesday();
    assert_eq!(resolved("sometime next week", call), vec![None]);
    assert_eq!(resolved("come back in two weeks", call), vec![None]);
    assert_eq!(resolved("sometime in January", call), vec![None]);
    assert_eq!(resolved("call me after 5", call), vec![None]);
    assert_eq!(resolved("a 3:30 slot", call), vec![None]);
    // "a Tuesday or Thursday" is no day in particular.
    assert_eq!(resolved("after 3:30 on a Tuesday or Thursday", call), vec![None]);
}

#[test]
fn following_and_same_time_refer_back() {
    let call = wednesday();
    assert_eq!(
        resolved("Thursday December 10th, or the following Monday", call),
        vec![some("2026-12-10"), some("2026-12-14")]
    );
    assert_eq!(
        resolved(
            "my appointment on wednesday at ten can i change it to friday same time",
            at("2026-11-30T12:00")
        ),
        vec![some("2026-12-02T10:00"), some("2026-12-04T10:00")]
    );
}

#[test]
fn a_bare_weekday_follows_the_tense_and_next_week() {
    let tuesday = at("2026-12-01T08:30");
    // Past tense: the last Friday; future or present: the coming one.
    assert_eq!(
        one("Dr. Alvarez pulled my tooth on Friday", tuesday),
        some("2026-11-27")
    );
    assert_eq!(one("I had an ultrasound on Monday", tuesday), some("2026-11-30"));
    assert_eq!(one("I have an appointment on Friday", tuesday), some("2026-12-04"));
    assert_eq!(one("I was hoping to come in Friday", tuesday), some("2026-12-04"));
    assert_eq!(one("I had to move it to Friday", tuesday), some("2026-12-04"));
    assert_eq!(
        resolved("any afternoon next week except wednesday", tuesday),
        vec![None, some("2026-12-09")]
    );
}

#[test]
fn numbers_are_not_times_or_dates() {
    let call = wednesday();
    assert!(resolved("I owe $1,850 and my son is 6, fever of 39.5", call).is_empty());
    // The phone number after "at" is not one o'clock.
    let facts = extract_rules("fax them at 1 800 555 0190 please", call);
    assert!(facts.mentioned_times.is_empty(), "{:?}", facts.mentioned_times);
}

fn phones(transcript: &str) -> Vec<String> {
    extract_rules(transcript, wednesday()).phone_numbers
}

#[test]
fn phone_numbers_in_their_written_and_spoken_forms() {
    for written in [
        "reach me at 514-555-0123.",
        "(514) 555-0123",
        "514.555.0123",
        "5145550123",
        "514 555 0123",
        "1-514-555-0123",
        "+1 514 555 0123",
        "five one four five five five zero one two three",
        "five one four, five five five, oh one two three",
        "five one four double five five zero one two three",
    ] {
        assert_eq!(phones(written), vec!["+15145550123"], "{written}");
    }
    assert_eq!(phones("fax to 1 800 555 0190 reference 88213"), vec!["+18005550190"]);
    assert_eq!(phones("my UK number is +44 20 7183 8750"), vec!["+442071838750"]);
    assert_eq!(
        phones("514 555 0144 that's 514 555 0144, or my work 438-555-0100"),
        vec!["+15145550144", "+14385550100"]
    );
}

#[test]
fn identifiers_amounts_and_invalid_numbers_are_not_phone_numbers() {
    for other in [
        "my member ID is 5627 3418 90",
        "member id 5145550123",
        "policy number 4471 2209",
        "I owe $1,850.00",
        "call 123-456-7890",
        "a fever of 39.5 since 10:30",
        "five five five",
    ] {
        assert!(phones(other).is_empty(), "{other}: {:?}", phones(other));
    }
}

fn names(transcript: &str) -> Vec<String> {
    extract_rules(transcript, wednesday()).names
}

#[test]
fn names_as_introduced() {
    assert_eq!(
        names("Hi, this is Maria Lopez. I'd like a cleaning."),
        vec!["Maria Lopez"]
    );
    assert_eq!(names("hi my name is maria lopez i want to book"), vec!["Maria Lopez"]);
    assert_eq!(
        names("yes hello it's mrs eileen o'brien calling"),
        vec!["Eileen O'Brien"]
    );
    assert_eq!(
        names("Hi, um, it's Grace, Grace Thompson, I was in"),
        vec!["Grace Thompson"]
    );
    assert_eq!(names("Bright Smile Dental, Jenny speaking."), vec!["Jenny"]);
    assert_eq!(
        names("This is Dr. Adeyemi's patient, Paul Martin."),
        vec!["Dr. Adeyemi", "Paul Martin"]
    );
    assert_eq!(names("for my son Liam, he's 6"), vec!["Liam"]);
    assert_eq!(names("this message is for Dr. Kim's office"), vec!["Dr. Kim"]);
    assert_eq!(names("is this doctor ramirez office"), vec!["Dr. Ramirez"]);
    assert_eq!(
        names("Please call 819 555 0183. Steve Kowalski."),
        vec!["Steve Kowalski"]
    );
    assert_eq!(names("This is Dr. Fiona McLeod's office."), vec!["Dr. McLeod"]);
    assert_eq!(names("a renewal for mister paul gagnon can"), vec!["Paul Gagnon"]);
    assert_eq!(names("a table at 7 under the name baker"), vec!["Baker"]);
}

#[test]
fn introductions_without_a_name_give_none() {
    for transcript in [
        "this is about my bill",
        "its really swollen",
        "Hi, I'm calling because it's not an emergency.",
        "Hi, my husband is having trouble breathing",
        "Hi there, quick question. Thank you.",
        "Good morning, Lakeshore Dental.",
        "can the doctor call us back",
    ] {
        assert!(names(transcript).is_empty(), "{transcript}: {:?}", names(transcript));
    }
}

#[test]
fn callbacks_asked_declined_or_implied_by_a_voicemail_number() {
    let callback = |t: &str| extract_rules(t, wednesday()).callback_requested;
    assert!(callback("Could you call me back please?"));
    assert!(callback("give me a call when you can"));
    assert!(callback("you can reach me at 514-555-0123"));
    assert!(callback("It's Daniel Brooks, 647-555-0181."));
    assert!(!callback("No need to call back. Bye."));
    assert!(!callback("you dont need to call me back thanks"));
    assert!(!callback("please fax them to 1 800 555 0190"));
    assert!(!callback("Receptionist: A good number? Caller: 514-555-0129."));
    assert!(callback("no rush just call me when you have a minute"));
    assert!(!callback("Cancel my cleaning please. We'll call back to reschedule."));
}

#[test]
fn emergencies_are_caught_and_negations_respected() {
    let facts = |t: &str| extract_rules(t, wednesday());
    for emergency in [
        "my son knocked out his front tooth",
        "I broke a tooth, it doesn't hurt much",
        "my jaw might be broken",
        "her face is really swollen",
        "he is having trouble breathing",
        "it's still bleeding a lot",
        "I have a terrible toothache",
        "my crown came off and the tooth is kind of killing me",
        "my cheek is starting to puff up",
    ] {
        let f = facts(emergency);
        assert_eq!(
            (f.request, f.urgency),
            (Request::Emergency, Urgency::Emergency),
            "{emergency}"
        );
    }
    let f = facts("It's not an emergency, I lost a filling. No pain at all. I'd like to get it fixed.");
    assert_eq!((f.request, f.urgency), (Request::Appointment, Urgency::High));
    let f = facts("my car broke down, can I move my appointment to Friday?");
    assert_eq!((f.request, f.urgency), (Request::Reschedule, Urgency::Normal));
}

#[test]
fn requests_by_their_cues() {
    let request = |t: &str| extract_rules(t, wednesday()).request;
    assert_eq!(
        request("I need to cancel my appointment for tomorrow"),
        Request::Cancellation
    );
    assert_eq!(
        request("I can't make it Friday, can we move it to Monday?"),
        Request::Reschedule
    );
    assert_eq!(request("I need a refill of my medication"), Request::Prescription);
    assert_eq!(request("I got a bill and was charged twice"), Request::Billing);
    assert_eq!(request("does my insurance cover a crown"), Request::Insurance);
    assert_eq!(request("I'd like to book a cleaning"), Request::Appointment);
    assert_eq!(request("sorry, wrong number"), Request::Other);
    // Moving the visit later is the caller's job: this call cancels.
    assert_eq!(
        request("I need to cancel, we'll call back to reschedule"),
        Request::Cancellation
    );
    assert_eq!(
        request("I won't be coming Monday, I'll call to rebook"),
        Request::Cancellation
    );
    // A cancellation asking for another slot moves the visit.
    assert_eq!(
        request("I can't come in Thursday, do you have anything Friday?"),
        Request::Reschedule
    );
}

#[test]
fn rules_output_is_valid_with_a_summary_and_actions() {
    let facts = extract_rules(
        "Hi, this is Maria Lopez. I'd like to book a cleaning, sometime next Tuesday at 3 if that works. \
         You can reach me at 514-555-0123. Thanks!",
        wednesday(),
    );
    assert_eq!(validate(&serde_json::to_value(&facts).unwrap()), Ok(facts.clone()));
    assert_eq!(facts.request, Request::Appointment);
    assert_eq!(facts.mentioned_times[0].text, "next Tuesday at 3");
    assert_eq!(
        facts.summary,
        "Maria Lopez asked to book a cleaning (next Tuesday at 3). Asked to be called back at +15145550123."
    );
    assert_eq!(
        facts.follow_up_actions,
        vec!["Call back Maria Lopez at +15145550123", "Book a cleaning"]
    );
    // Empty and hostile transcripts still give valid facts.
    for transcript in ["", "   ", ".,!?", &"five ".repeat(500), &"Dr. ".repeat(100)] {
        let facts = extract_rules(transcript, wednesday());
        validate(&serde_json::to_value(&facts).unwrap()).unwrap();
    }
}

fn valid() -> Value {
    json!({
        "schemaVersion": 1,
        "summary": "Maria Lopez wants a cleaning next Tuesday at 3.",
        "request": "appointment",
        "urgency": "normal",
        "mentionedTimes": [{"text": "next Tuesday at 3", "resolved": "2026-12-01T15:00:00"}],
        "phoneNumbers": ["+15145550123"],
        "names": ["Maria Lopez"],
        "callbackRequested": true,
        "followUpActions": ["Call back Maria Lopez at +15145550123", "Book a cleaning"]
    })
}

fn with(path: &str, value: Value) -> Value {
    let mut facts = valid();
    *facts.pointer_mut(path).unwrap() = value;
    facts
}

#[test]
fn validate_accepts_and_canonicalises() {
    let facts = validate(&valid()).unwrap();
    assert_eq!(facts.mentioned_times[0].resolved.as_deref(), Some("2026-12-01T15:00"));
    let date_only = validate(&with("/mentionedTimes/0/resolved", json!("2026-11-26"))).unwrap();
    assert_eq!(date_only.mentioned_times[0].resolved.as_deref(), Some("2026-11-26"));
    validate(&with("/mentionedTimes/0/resolved", Value::Null)).unwrap();
}

#[test]
fn validate_rejects_schema_violations_naming_the_field_not_the_value() {
    let secret = "Maria-secret-5145550123";
    let mut extra = valid();
    extra["diagnosis"] = json!(secret);
    let mut nested_extra = valid();
    nested_extra["mentionedTimes"][0]["confidence"] = json!(0.9);
    let mut missing = valid();
    missing.as_object_mut().unwrap().remove("names");
    let mut nested_missing = valid();
    nested_missing["mentionedTimes"][0]
        .as_object_mut()
        .unwrap()
        .remove("resolved");
    let cases = [
        (with("/request", json!(secret)), "request"),
        (with("/urgency", json!("urgent")), "urgency"),
        (with("/callbackRequested", json!(secret)), "callbackRequested"),
        (with("/names", json!(secret)), "names"),
        (extra, "unknown property diagnosis"),
        (nested_extra, "unknown property mentionedTimes[0].confidence"),
        (missing, "names is missing"),
        (nested_missing, "mentionedTimes[0].resolved is missing"),
        (json!([1, 2]), "not a JSON object"),
    ];
    for (value, expected) in cases {
        let error = validate(&value).unwrap_err();
        assert!(error.contains(expected), "{error} (expected {expected})");
        assert!(!error.contains("secret") && !error.contains("555"), "{error}");
    }
}

#[test]
fn validate_rejects_wrong_meanings() {
    let long = "x".repeat(MAX_SUMMARY_CHARS + 1);
    let cases = [
        (with("/schemaVersion", json!(2)), "schemaVersion"),
        (with("/summary", json!("  ")), "summary is empty"),
        (with("/summary", json!(long)), "summary is longer"),
        (with("/summary", json!("line one\nline two")), "line breaks"),
        (
            with("/phoneNumbers/0", json!("514-555-0123")),
            "phoneNumbers[0] is not an E.164",
        ),
        (with("/phoneNumbers/0", json!("+1 514 555 0123")), "phoneNumbers[0]"),
        (with("/phoneNumbers/0", json!("+11235550123")), "phoneNumbers[0]"),
        (
            with("/mentionedTimes/0/resolved", json!("next Tuesday")),
            "mentionedTimes[0].resolved",
        ),
        (
            with("/mentionedTimes/0/resolved", json!("2026-02-30")),
            "mentionedTimes[0].resolved",
        ),
        (with("/names/0", json!("R2D2")), "names[0] is not a name"),
        (with("/request", json!("emergency")), "urgency emergency"),
        (
            with("/followUpActions", json!(vec!["a"; 7])),
            "followUpActions has more than",
        ),
    ];
    for (value, expected) in cases {
        let error = validate(&value).unwrap_err();
        assert!(error.contains(expected), "{error} (expected {expected})");
        assert!(!error.contains("555"), "{error}");
    }
}

/// Strict structured output: every object closes its properties and requires all of them.
fn assert_strict(schema: &Value, path: &str) {
    if schema["type"] == "object" {
        assert_eq!(schema["additionalProperties"], json!(false), "{path}");
        let properties = schema["properties"].as_object().unwrap();
        let mut required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        let mut names: Vec<&str> = properties.keys().map(String::as_str).collect();
        required.sort();
        names.sort();
        assert_eq!(required, names, "{path}");
        for (name, property) in properties {
            assert_strict(property, &format!("{path}.{name}"));
        }
    }
    if let Some(items) = schema.get("items") {
        assert_strict(items, &format!("{path}[]"));
    }
}

#[test]
fn json_schema_is_strict_and_matches_the_struct() {
    let schema = json_schema();
    assert_strict(&schema, "$");
    assert_eq!(
        schema["properties"]["mentionedTimes"]["items"]["properties"]["resolved"]["type"],
        json!(["string", "null"])
    );
    assert_eq!(schema["properties"]["request"]["enum"].as_array().unwrap().len(), 8);
    // Every property of the schema is a field of the struct, and the other way round.
    let serialized = serde_json::to_value(validate(&valid()).unwrap()).unwrap();
    let mut fields: Vec<&String> = serialized.as_object().unwrap().keys().collect();
    let mut properties: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    fields.sort();
    properties.sort();
    assert_eq!(fields, properties);
}

/// Collects what the code logs.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_fallback_is_logged_with_its_reason_and_never_the_transcript_or_answer() {
    use axum::{routing::post, Json, Router};

    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // A model that echoes the transcript in an answer that does not validate.
    let app = Router::new().route(
        "/v1/chat/completions",
        post(|Json(body): Json<Value>| async move {
            let echoed = body["messages"][1]["content"].as_str().unwrap_or_default().to_string();
            let answer = json!({"request": echoed}).to_string();
            Json(json!({"choices": [{"message": {"role": "assistant", "content": answer, "refusal": null}}]}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let transcript = "this is Zanzibar Quux, my HIV test, call me at 514-555-0123";
    let llm = LlmExtractor::new("sk-test", Some(base_url), None, std::time::Duration::from_secs(5));
    let (facts, source) = extract(Some(&llm), transcript, wednesday()).await;
    assert_eq!(source, FactsSource::Rules);
    assert_eq!(facts, extract_rules(transcript, wednesday()));

    let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("WARN") && logged.contains("the rules were used instead"),
        "{logged}"
    );
    assert!(
        logged.contains("invalid twice") && logged.contains("retryable=false"),
        "{logged}"
    );
    for secret in ["Zanzibar", "HIV", "514-555-0123", "5145550123", "sk-test"] {
        assert!(!logged.contains(secret), "{secret} logged: {logged}");
    }
}
