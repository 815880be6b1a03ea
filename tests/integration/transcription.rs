//! The transcription worker with fake providers over real HTTP: each provider, retries with
//! `Retry-After`, the fallback chain, every provider failing, a loading Hugging Face model, audio
//! over OpenAI's limit split and stitched, and duplicate or malformed requests.

use chrono::Duration;
use pedro_tests::app::{TestApp, DID, PATIENT, VOIPMS_ACCOUNT};
use pedro_tests::fakes::google_speech::FakeGoogleSpeech;
use pedro_tests::fakes::huggingface::{FakeHuggingFace, HfFault};
use pedro_tests::fakes::openai::{FakeOpenAi, Fault};
use pedro_tests::fakes::voipms::{recording_id, CdrRow, Recording};
use pedro_tests::{mp3, spawn_app, TestAppBuilder};
use pedro_voip::queue::{Attempt, Task};
use serde_json::Value;

use crate::call_sync::{ago, sync};

const OPENAI_KEY: &str = "sk-test-0123456789";
const HF_TOKEN: &str = "hf_test_0123456789";

fn with_openai(builder: TestAppBuilder, openai: &FakeOpenAi) -> TestAppBuilder {
    builder
        .env("OPENAI_API_KEY", OPENAI_KEY)
        .env("OPENAI_BASE_URL", &openai.base_url())
}

fn with_google(builder: TestAppBuilder, google: &FakeGoogleSpeech) -> TestAppBuilder {
    builder
        .env("GOOGLE_APPLICATION_CREDENTIALS", &google.service_account_json())
        .env("GOOGLE_SPEECH_BASE_URL", &google.base_url())
}

fn with_hf(builder: TestAppBuilder, hf: &FakeHuggingFace) -> TestAppBuilder {
    builder
        .env("HF_TOKEN", HF_TOKEN)
        .env("HF_BASE_URL", &hf.base_url())
        .env("HF_MAX_WAIT_SECONDS", "10")
}

fn transcribing() -> TestAppBuilder {
    spawn_app().env("ENABLE_TRANSCRIPTION", "true")
}

/// A call with its recording, synced and stored: its transcription is queued.
async fn recorded_call(app: &TestApp, seed: &str, mp3: Vec<u8>) -> uuid::Uuid {
    app.voipms
        .add_cdr(CdrRow::inbound(seed, ago(app, 30), PATIENT, DID, "ANSWERED", 40));
    app.voipms.add_recording(Recording {
        id: recording_id(seed),
        datetime: ago(app, 30),
        destination: DID.into(),
        incoming: true,
        account: VOIPMS_ACCOUNT.into(),
        duration_secs: 40,
        mp3,
    });
    let (status, report) = sync(app).await;
    assert_eq!(status, 200, "{report}");
    if report["recordings"]["queued"] != 1 {
        let errors: Vec<Option<String>> = app.column("SELECT error FROM call_recordings").await;
        panic!("not queued: {report} {errors:?}");
    }
    app.value(&format!(
        "SELECT id FROM call_recordings WHERE voipms_recording_id = '{}'",
        recording_id(seed)
    ))
    .await
}

async fn status_of(app: &TestApp, recording: uuid::Uuid) -> String {
    app.value(&format!(
        "SELECT transcription_status FROM call_recordings WHERE id = '{recording}'"
    ))
    .await
}

async fn transcript_of(app: &TestApp, recording: uuid::Uuid) -> (String, String, String, Value) {
    let row = app
        .sql()
        .await
        .query_one(
            "SELECT provider, model, text, segments FROM call_transcripts WHERE recording_id = $1",
            &[&recording],
        )
        .await
        .expect("a transcript");
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

#[tokio::test]
async fn openai_transcribes_with_segments_and_the_call_shows_it() {
    let openai = FakeOpenAi::start(OPENAI_KEY).await;
    openai.set_transcript("Hi, this is Maria Lopez. I would like to book a cleaning next Tuesday.");
    let app = with_openai(transcribing(), &openai).start().await;
    let recording = recorded_call(&app, "o1", mp3::silence(40.0)).await;
    app.drain_queue().await;
    assert_eq!(status_of(&app, recording).await, "completed");
    let (provider, model, text, segments) = transcript_of(&app, recording).await;
    assert_eq!((provider.as_str(), model.as_str()), ("openai", "whisper-1"));
    assert!(text.contains("Maria Lopez"), "{text}");
    let segments = segments.as_array().unwrap().clone();
    assert!(!segments.is_empty());
    assert!(segments.iter().all(|s| s["end"].as_f64() >= s["start"].as_f64()));
    let request = &openai.requests()[0];
    assert_eq!(request.response_format.as_deref(), Some("verbose_json"));
    assert_eq!(request.content_type.as_deref(), Some("audio/mpeg"));
    assert!(request.filename.as_deref().unwrap().ends_with(".mp3"));
    let language: Option<String> = app.value("SELECT language FROM call_transcripts").await;
    assert_eq!(language.as_deref(), Some("english"));
    // A second delivery of the same request does nothing.
    app.ctx
        .transcription_queue
        .enqueue(&Task::TranscribeRecording {
            recording_id: recording,
        })
        .await
        .unwrap();
    app.drain_queue().await;
    assert_eq!(openai.requests().len(), 1, "transcribed once");
}

#[tokio::test]
async fn google_transcribes_pcm_with_a_cached_token() {
    let google = FakeGoogleSpeech::start().await;
    google.set_transcript("I need to cancel my appointment on Friday. Please call me back.");
    let app = with_google(transcribing(), &google).start().await;
    // 70 seconds: more than one synchronous request can take.
    let first = recorded_call(&app, "g1", mp3::silence(70.0)).await;
    app.drain_queue().await;
    assert_eq!(status_of(&app, first).await, "completed");
    let (provider, model, text, segments) = transcript_of(&app, first).await;
    assert_eq!((provider.as_str(), model.as_str()), ("google", "phone_call"));
    assert!(text.contains("cancel my appointment"), "{text}");
    let requests = google.requests();
    assert_eq!(requests.len(), 2, "cut into pieces of under a minute");
    for request in &requests {
        assert_eq!(request.config["encoding"], "LINEAR16");
        assert!(request.audio_secs.unwrap() <= 60.0);
    }
    // Segments of the second piece are shifted by its start.
    let last = segments.as_array().unwrap().last().unwrap()["start"].as_f64().unwrap();
    assert!(last >= 55.0, "{segments}");
    // Another recording: the token is reused.
    app.clock.advance(Duration::hours(1));
    let second = recorded_call(&app, "g2", mp3::silence(10.0)).await;
    app.drain_queue().await;
    assert_eq!(status_of(&app, second).await, "completed");
    assert_eq!(google.token_requests(), 1, "the access token is cached");
}

#[tokio::test]
async fn hugging_face_waits_for_a_loading_model() {
    let hf = FakeHuggingFace::start(HF_TOKEN).await;
    hf.set_transcript("Calling about my bill from last month.");
    hf.push_fault(HfFault::Loading {
        estimated_time: 1.0,
        times: 1,
    });
    let app = with_hf(transcribing(), &hf).start().await;
    let recording = recorded_call(&app, "h1", mp3::silence(5.0)).await;
    app.drain_queue().await;
    assert_eq!(status_of(&app, recording).await, "completed");
    let (provider, model, text, _) = transcript_of(&app, recording).await;
    assert_eq!(
        (provider.as_str(), model.as_str()),
        ("huggingface", "openai/whisper-large-v3")
    );
    assert_eq!(text, "Calling about my bill from last month.");
    let requests = hf.requests();
    assert_eq!(requests.len(), 2, "asked again once the model loaded");
    assert_eq!(requests[1].content_type.as_deref(), Some("audio/mpeg"));
}

#[tokio::test]
async fn a_rate_limit_is_retried_after_the_time_the_provider_asks() {
    let openai = FakeOpenAi::start(OPENAI_KEY).await;
    openai.push_fault(Fault::RateLimited {
        retry_after: Some("30".into()),
        retry_after_ms: None,
    });
    openai.push_fault(Fault::Server(503));
    let app = with_openai(transcribing(), &openai).start().await;
    let recording = recorded_call(&app, "r1", mp3::silence(5.0)).await;
    app.drain_queue().await;
    assert_eq!(status_of(&app, recording).await, "queued", "waiting for its retry");
    // Not before the 30 seconds OpenAI asked for.
    app.clock.advance(Duration::seconds(20));
    app.drain_queue().await;
    assert_eq!(openai.requests().len(), 1);
    app.clock.advance(Duration::seconds(15));
    app.drain_queue().await;
    assert_eq!(openai.requests().len(), 2, "asked again; a 503 this time");
    app.clock.advance(Duration::minutes(5));
    app.drain_queue().await;
    assert_eq!(status_of(&app, recording).await, "completed");
    assert_eq!(openai.requests().len(), 3);
    assert_eq!(app.count("SELECT count(*) FROM call_transcripts").await, 1);
}

#[tokio::test]
async fn a_permanent_failure_moves_on_to_the_next_provider() {
    let openai = FakeOpenAi::start(OPENAI_KEY).await;
    openai.push_fault(Fault::Unauthorized);
    let hf = FakeHuggingFace::start(HF_TOKEN).await;
    hf.set_transcript("My tooth is broken.");
    let app = with_hf(with_openai(transcribing(), &openai), &hf).start().await;
    let recording = recorded_call(&app, "p1", mp3::silence(5.0)).await;
    app.drain_queue().await;
    assert_eq!(status_of(&app, recording).await, "completed");
    assert_eq!(transcript_of(&app, recording).await.0, "huggingface");
    let failures: Value = app
        .value(&format!(
            "SELECT transcription_failures FROM call_recordings WHERE id = '{recording}'"
        ))
        .await;
    assert_eq!(failures[0]["provider"], "openai", "{failures}");
}

#[tokio::test]
async fn when_every_provider_fails_staff_see_why() {
    let openai = FakeOpenAi::start(OPENAI_KEY).await;
    openai.push_fault(Fault::InsufficientQuota);
    let hf = FakeHuggingFace::start(HF_TOKEN).await;
    hf.push_fault(HfFault::BadInput {
        status: 400,
        message: "Malformed soundfile".into(),
    });
    let app = with_hf(with_openai(transcribing(), &openai), &hf).start().await;
    let recording = recorded_call(&app, "f1", mp3::silence(5.0)).await;
    let executed = app.drain_queue().await;
    assert_eq!(executed.len(), 1, "the request leaves the queue: {executed:?}");
    assert_eq!(status_of(&app, recording).await, "failed");
    assert_eq!(openai.requests().len(), 1, "no credit is not worth a retry");
    let call: uuid::Uuid = app.value("SELECT id FROM phone_calls").await;
    let body: Value = app
        .get(&format!("/api/voip/calls/recordings?callId={call}"))
        .await
        .json()
        .await
        .unwrap();
    let failures = body["recordings"][0]["transcriptionFailures"]
        .as_array()
        .unwrap()
        .clone();
    let providers: Vec<&str> = failures.iter().map(|f| f["provider"].as_str().unwrap()).collect();
    assert_eq!(providers, ["openai", "huggingface"], "{body}");
    assert!(failures[0]["reason"].as_str().unwrap().contains("insufficient_quota"));
    assert!(failures[1]["reason"].as_str().unwrap().contains("Malformed soundfile"));
    assert_eq!(body["call"]["needsReview"], true);
    assert_eq!(body["call"]["transcriptionStatus"], "failed");
    // A person asks again (the download link), and it is queued once more.
    let recording_link = app.get(&format!("/api/voip/calls/recording/{recording}")).await;
    let link: Value = recording_link.json().await.unwrap();
    assert_eq!(link["transcription"], "queued", "{link}");
}

#[tokio::test]
async fn audio_over_the_upload_limit_is_split_and_stitched() {
    let openai = FakeOpenAi::start(OPENAI_KEY).await;
    let app = with_openai(transcribing(), &openai).start().await;
    // 26 MiB of MP3 at 320 kbps: about 11 minutes.
    let big = mp3::silence_at(690.0, 320);
    assert!(big.len() > 25 * 1024 * 1024);
    let recording = recorded_call(&app, "big", big).await;
    app.drain_queue().await;
    assert_eq!(status_of(&app, recording).await, "completed");
    let requests = openai.requests();
    assert_eq!(requests.len(), 2, "two pieces");
    assert!(requests.iter().all(|r| r.file_len <= 25 * 1024 * 1024));
    let (_, _, text, segments) = transcript_of(&app, recording).await;
    assert!(text.starts_with("Part 1.") && text.contains("Part 2."), "{text}");
    let segments = segments.as_array().unwrap().clone();
    let starts: Vec<f64> = segments.iter().map(|s| s["start"].as_f64().unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "in order: {starts:?}");
    let end = segments.last().unwrap()["end"].as_f64().unwrap();
    assert!((end - 690.0).abs() < 12.0, "the last segment ends near the end: {end}");
}

#[tokio::test]
async fn two_deliveries_at_once_transcribe_once_and_a_malformed_one_is_dropped() {
    let openai = FakeOpenAi::start(OPENAI_KEY).await;
    let app = with_openai(transcribing(), &openai).start().await;
    let recording = recorded_call(&app, "d1", mp3::silence(5.0)).await;
    let task = Task::TranscribeRecording {
        recording_id: recording,
    };
    let (a, b) = tokio::join!(
        pedro_voip::worker::execute(&app.ctx, task.clone(), Attempt::first_of(5)),
        pedro_voip::worker::execute(&app.ctx, task.clone(), Attempt::first_of(5)),
    );
    assert!(a.is_ok() || b.is_ok(), "{a:?} {b:?}");
    assert_eq!(openai.requests().len(), 1, "one transcription");
    // The one that waited is delivered again later: nothing left to do.
    pedro_voip::worker::execute(&app.ctx, task, Attempt::first_of(5))
        .await
        .unwrap();
    assert_eq!(openai.requests().len(), 1);
    assert_eq!(status_of(&app, recording).await, "completed");

    // Through SQS: a body that is not a task is acknowledged, not retried forever.
    let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(serde_json::json!({
        "Records": [{"messageId": "m-1", "body": "{\"kind\":\"transcribe_recording\"}",
                     "attributes": {"ApproximateReceiveCount": "1"}}]
    }))
    .unwrap();
    let response = pedro_voip::lambda::handle_sqs_batch(&app.ctx, event).await;
    assert_eq!(
        serde_json::to_value(&response).unwrap()["batchItemFailures"],
        serde_json::json!([])
    );
}

#[tokio::test]
async fn every_call_gets_key_facts_and_an_emergency_flags_the_callers_thread() {
    let openai = FakeOpenAi::start(OPENAI_KEY).await;
    openai.set_transcript(
        "Hi, my name is Maria Lopez. My tooth got knocked out and there is a lot of bleeding and swelling. \
         Please call me back at 514 555 0123.",
    );
    // The model is down: the rules answer with the same schema.
    let app = with_openai(transcribing(), &openai).start().await;
    let recording = recorded_call(&app, "e1", mp3::silence(5.0)).await;
    app.drain_queue().await;
    let row = app
        .sql()
        .await
        .query_one(
            "SELECT facts, source, request, urgency, summary FROM call_facts WHERE recording_id = $1",
            &[&recording],
        )
        .await
        .expect("facts stored");
    let facts: Value = row.get(0);
    assert_eq!(row.get::<_, String>(1), "rules");
    assert_eq!(row.get::<_, String>(2), "emergency");
    assert_eq!(facts["schemaVersion"], 1);
    assert_eq!(facts["callbackRequested"], true);
    assert!(
        facts["phoneNumbers"]
            .as_array()
            .unwrap()
            .contains(&Value::from("+15145550123")),
        "{facts}"
    );
    assert!(!row.get::<_, String>(4).is_empty(), "a summary");
    let (flagged, reason): (bool, Option<String>) = {
        let r = app
            .sql()
            .await
            .query_one(
                "SELECT needs_review, review_reason FROM sms_conversations WHERE contact = '+14385550199'",
                &[],
            )
            .await
            .expect("the caller's thread");
        (r.get(0), r.get(1))
    };
    assert!(flagged, "{reason:?}");
    assert_eq!(
        app.value::<Option<String>>("SELECT review_reason FROM phone_calls")
            .await
            .as_deref(),
        Some("emergency call")
    );
}

#[tokio::test]
async fn with_a_working_model_the_llm_writes_the_facts() {
    let openai = FakeOpenAi::start(OPENAI_KEY).await;
    openai.set_transcript("Hi, this is Maria Lopez, I'd like to book a cleaning.");
    openai.push_chat_reply(pedro_tests::fakes::openai::ChatReply::Content(
        serde_json::json!({
            "schemaVersion": 1, "summary": "Maria Lopez wants to book a cleaning.", "request": "appointment",
            "urgency": "normal", "mentionedTimes": [], "phoneNumbers": [], "names": ["Maria Lopez"],
            "callbackRequested": false, "followUpActions": ["Book a cleaning for Maria Lopez"]
        })
        .to_string(),
    ));
    let app = with_openai(transcribing(), &openai).start().await;
    let recording = recorded_call(&app, "l1", mp3::silence(5.0)).await;
    app.drain_queue().await;
    let row = app
        .sql()
        .await
        .query_one(
            "SELECT source, model, summary FROM call_facts WHERE recording_id = $1",
            &[&recording],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "llm");
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("gpt-4o-mini"));
    assert_eq!(row.get::<_, String>(2), "Maria Lopez wants to book a cleaning.");
    let request = &openai.chat_requests()[0];
    assert_eq!(request["response_format"]["json_schema"]["strict"], true);
}
