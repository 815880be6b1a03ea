//! The fakes of the speech-to-text providers (OpenAI, Google Speech-to-Text v1, Hugging Face)
//! behave as docs/providers.md says: auth, formats, sizes, limits, faults and answer shapes. Then
//! clients others wrote (OpenAI's Python library, Google's auth library) read them.

use std::time::Duration;

use base64::Engine as _;
use pedro_tests::fakes::google_speech::{
    flac_header, wav_silence, wav_silence_channels, FakeGoogleSpeech, SpeechFault, CLOUD_PLATFORM_SCOPE,
};
use pedro_tests::fakes::huggingface::{FakeHuggingFace, HfFault};
use pedro_tests::fakes::openai::{ChatReply, FakeOpenAi, Fault, MAX_FILE_BYTES};
use pedro_tests::mp3;
use serde_json::{json, Value};

const OPENAI_KEY: &str = "sk-test-0123456789abcdefghij";
const HF_TOKEN: &str = "hf_test0123456789abcdefghij";
const WHISPER_HF: &str = "openai/whisper-large-v3";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// One part of a hand-built multipart body (reqwest's multipart feature is not enabled, and by
/// hand a part can lack a filename or a content type on purpose).
struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
}

fn text(name: &str, value: &str) -> Part {
    Part {
        name: name.to_string(),
        filename: None,
        content_type: None,
        data: value.as_bytes().to_vec(),
    }
}

fn file(filename: &str, content_type: &str, data: Vec<u8>) -> Part {
    Part {
        name: "file".to_string(),
        filename: Some(filename.to_string()),
        content_type: Some(content_type.to_string()),
        data,
    }
}

fn multipart(parts: Vec<Part>) -> (String, Vec<u8>) {
    let boundary = "----pedro-fake-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", part.name);
        if let Some(f) = &part.filename {
            disposition.push_str(&format!("; filename=\"{f}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(ct) = &part.content_type {
            body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&part.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    Answer { status, headers, text }
}

async fn transcribe_as(fake: &FakeOpenAi, key: Option<&str>, parts: Vec<Part>) -> Answer {
    let (content_type, body) = multipart(parts);
    let mut req = reqwest::Client::new()
        .post(format!("{}/audio/transcriptions", fake.base_url()))
        .header("content-type", content_type)
        .body(body);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    send(req).await
}

async fn transcribe(fake: &FakeOpenAi, parts: Vec<Part>) -> Answer {
    transcribe_as(fake, Some(OPENAI_KEY), parts).await
}

fn whisper_mp3(seconds: f64, extra: &[(&str, &str)]) -> Vec<Part> {
    let mut parts = vec![
        file("call.mp3", "audio/mpeg", mp3::silence(seconds)),
        text("model", "whisper-1"),
    ];
    parts.extend(extra.iter().map(|(k, v)| text(k, v)));
    parts
}

/// Asserts an OpenAI error body `{"error": {"message", "type", "param", "code"}}` and returns it.
fn openai_error(answer: &Answer, status: u16) -> Value {
    assert_eq!(answer.status, status, "{}", answer.text);
    let body = answer.json();
    let error = &body["error"];
    for key in ["message", "type", "param", "code"] {
        assert!(error.get(key).is_some(), "no error.{key}: {body}");
    }
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    error.clone()
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance
}

/// One MPEG frame at 32 kHz.
const FRAME_SECS: f64 = 1152.0 / 32000.0;

// ---------------------------------------------------------------------------
// OpenAI: transcriptions
// ---------------------------------------------------------------------------

#[tokio::test]
async fn fake_transcribers_openai_answers_each_response_format() {
    let fake = FakeOpenAi::start(OPENAI_KEY).await;
    fake.set_transcript("Hello, this is Marie. Please call me back about my crown. Thank you.");

    let json = transcribe(&fake, whisper_mp3(12.0, &[])).await;
    assert_eq!(json.status, 200, "{}", json.text);
    let body = json.json();
    assert_eq!(
        body["text"],
        "Hello, this is Marie. Please call me back about my crown. Thank you."
    );
    assert_eq!(body["usage"], json!({"type": "duration", "seconds": 12}));
    assert!(json.headers.contains_key("x-request-id"));

    let plain = transcribe(&fake, whisper_mp3(12.0, &[("response_format", "text")])).await;
    assert_eq!(plain.status, 200);
    assert!(plain.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(
        plain.text,
        "Hello, this is Marie. Please call me back about my crown. Thank you.\n"
    );

    let verbose = transcribe(&fake, whisper_mp3(25.0, &[("response_format", "verbose_json")])).await;
    assert_eq!(verbose.status, 200, "{}", verbose.text);
    let v = verbose.json();
    assert_eq!(v["language"], "english", "a language name, not a code");
    let duration = v["duration"].as_f64().unwrap();
    assert!(close(duration, 25.0, FRAME_SECS), "duration {duration}");
    let segments = v["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 3, "one segment per started 10 s: {v}");
    for (i, s) in segments.iter().enumerate() {
        assert_eq!(s["id"], i);
        for key in [
            "seek",
            "start",
            "end",
            "text",
            "tokens",
            "temperature",
            "avg_logprob",
            "compression_ratio",
            "no_speech_prob",
        ] {
            assert!(s.get(key).is_some(), "segment without {key}: {s}");
        }
        assert!(s["text"].as_str().unwrap().starts_with(' '), "Whisper's leading space");
        assert!(s["tokens"].as_array().is_some_and(|t| !t.is_empty()));
    }
    assert_eq!(segments[0]["start"], 0.0);
    assert!(close(segments[2]["end"].as_f64().unwrap(), duration, 0.01));
    let joined: String = segments.iter().map(|s| s["text"].as_str().unwrap()).collect();
    assert_eq!(joined.trim(), v["text"].as_str().unwrap());
    assert!(v.get("words").is_none(), "words only when asked for");

    let srt = transcribe(&fake, whisper_mp3(25.0, &[("response_format", "srt")])).await;
    assert_eq!(srt.status, 200);
    assert!(srt.text.starts_with("1\n00:00:00,000 --> 00:00:08,3"), "{}", srt.text);
    let vtt = transcribe(&fake, whisper_mp3(25.0, &[("response_format", "vtt")])).await;
    assert_eq!(vtt.status, 200);
    assert!(vtt.text.starts_with("WEBVTT\n\n00:00:00.000 --> "), "{}", vtt.text);

    let bad = transcribe(&fake, whisper_mp3(2.0, &[("response_format", "xml")])).await;
    assert_eq!(openai_error(&bad, 400)["param"], "response_format");
}

#[tokio::test]
async fn fake_transcribers_openai_text_and_times_follow_each_uploaded_chunk() {
    let fake = FakeOpenAi::start(OPENAI_KEY).await;
    // Three chunks of one split recording: the default transcript names the chunk and its length.
    let mut texts = Vec::new();
    for secs in [60.0, 45.0, 7.5] {
        let answer = transcribe(&fake, whisper_mp3(secs, &[("response_format", "verbose_json")])).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let v = answer.json();
        assert!(close(v["duration"].as_f64().unwrap(), secs, FRAME_SECS));
        let last_end = v["segments"].as_array().unwrap().last().unwrap()["end"]
            .as_f64()
            .unwrap();
        assert!(close(last_end, secs, FRAME_SECS + 0.01), "{v}");
        texts.push(v["text"].as_str().unwrap().to_string());
    }
    assert_eq!(
        texts,
        [
            "Part 1. 60.0 seconds of audio.",
            "Part 2. 45.0 seconds of audio.",
            "Part 3. 7.5 seconds of audio."
        ]
    );

    // A transcriber of the request; 320 kbps and an ID3 tag do not change the length.
    fake.set_transcriber(|seen| format!("{} bytes from {}", seen.bytes.len(), seen.filename));
    let tagged = mp3::with_id3v2(&mp3::silence_at(20.0, 320));
    let len = tagged.len();
    let answer = transcribe(
        &fake,
        vec![
            file("chunk-2.mp3", "audio/mpeg", tagged),
            text("model", "whisper-1"),
            text("response_format", "verbose_json"),
        ],
    )
    .await;
    let v = answer.json();
    assert_eq!(v["text"], format!("{len} bytes from chunk-2.mp3"));
    assert!(close(v["duration"].as_f64().unwrap(), 20.0, FRAME_SECS));

    // WAV and FLAC lengths come from their headers.
    for (name, ct, bytes) in [
        ("v.wav", "audio/wav", wav_silence(3.25, 8000)),
        ("v.flac", "audio/flac", flac_header(90.0, 16000, 1)),
    ] {
        let answer = transcribe(
            &fake,
            vec![
                file(name, ct, bytes),
                text("model", "whisper-1"),
                text("response_format", "verbose_json"),
            ],
        )
        .await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.text);
        let expected = if name.ends_with("wav") { 3.25 } else { 90.0 };
        assert!(close(answer.json()["duration"].as_f64().unwrap(), expected, 0.001));
    }
    let recorded: Vec<Option<f64>> = fake.requests().iter().map(|r| r.audio_secs).collect();
    assert_eq!(recorded.len(), 6);
    assert!(close(recorded[5].unwrap(), 90.0, 0.001));
}

#[tokio::test]
async fn fake_transcribers_openai_checks_the_api_key() {
    let fake = FakeOpenAi::start(OPENAI_KEY).await;
    let none = transcribe_as(&fake, None, whisper_mp3(2.0, &[])).await;
    let error = openai_error(&none, 401);
    assert_eq!(error["type"], "invalid_request_error");
    assert!(error["message"].as_str().unwrap().contains("didn't provide an API key"));

    let wrong = transcribe_as(&fake, Some("sk-wrong-key-123456789"), whisper_mp3(2.0, &[])).await;
    let error = openai_error(&wrong, 401);
    assert_eq!(error["code"], "invalid_api_key");
    assert!(
        !error["message"].as_str().unwrap().contains("sk-wrong-key-123456789"),
        "the key is masked"
    );
    assert_eq!(fake.requests().len(), 2);
    assert!(fake.requests().iter().all(|r| r.status == 401));
}

#[tokio::test]
async fn fake_transcribers_openai_rejects_bad_uploads() {
    let fake = FakeOpenAi::start(OPENAI_KEY).await;
    let audio = || mp3::silence(3.0);

    let no_model = transcribe(&fake, vec![file("a.mp3", "audio/mpeg", audio())]).await;
    assert!(openai_error(&no_model, 400)["message"]
        .as_str()
        .unwrap()
        .contains("must provide a model"));

    let unknown_model = transcribe(
        &fake,
        vec![file("a.mp3", "audio/mpeg", audio()), text("model", "whisper-2")],
    )
    .await;
    assert_eq!(openai_error(&unknown_model, 404)["code"], "model_not_found");

    let no_file = transcribe(&fake, vec![text("model", "whisper-1")]).await;
    openai_error(&no_file, 400);

    for filename in ["upload", "voicemail.gsm", "recording.wav49", "call."] {
        let answer = transcribe(
            &fake,
            vec![file(filename, "audio/mpeg", audio()), text("model", "whisper-1")],
        )
        .await;
        let error = openai_error(&answer, 400);
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .starts_with("Invalid file format. Supported formats: ['flac', 'm4a', 'mp3'"),
            "{filename}: {error}"
        );
    }

    let no_type = transcribe(
        &fake,
        vec![
            Part {
                name: "file".into(),
                filename: Some("a.mp3".into()),
                content_type: None,
                data: audio(),
            },
            text("model", "whisper-1"),
        ],
    )
    .await;
    assert_eq!(openai_error(&no_type, 400)["param"], "file");
    let text_type = transcribe(
        &fake,
        vec![file("a.mp3", "text/plain", audio()), text("model", "whisper-1")],
    )
    .await;
    openai_error(&text_type, 400);
    let octet = transcribe(
        &fake,
        vec![
            file("a.mp3", "application/octet-stream", audio()),
            text("model", "whisper-1"),
        ],
    )
    .await;
    assert_eq!(octet.status, 200, "{}", octet.text);

    // 25 MiB is the limit: one byte more is a 413 with the server's message.
    let mut big = mp3::silence_at(700.0, 320);
    big.resize(MAX_FILE_BYTES + 1, 0);
    let too_big = transcribe(
        &fake,
        vec![file("long.mp3", "audio/mpeg", big), text("model", "whisper-1")],
    )
    .await;
    let error = openai_error(&too_big, 413);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("Maximum content size limit (26214400) exceeded (26214401 bytes read)"),
        "{error}"
    );
    let mut just_fits = mp3::silence_at(700.0, 320);
    let frame = mp3::frame_len(320);
    just_fits.truncate(MAX_FILE_BYTES / frame * frame);
    let fits = transcribe(
        &fake,
        vec![
            file("long.mp3", "audio/mpeg", just_fits),
            text("model", "whisper-1"),
            text("response_format", "verbose_json"),
        ],
    )
    .await;
    assert_eq!(fits.status, 200, "{}", fits.text);
    assert!(fits.json()["duration"].as_f64().unwrap() > 650.0);

    let corrupt = transcribe(
        &fake,
        vec![
            file("a.mp3", "audio/mpeg", b"<html>Service unavailable</html>".to_vec()),
            text("model", "whisper-1"),
        ],
    )
    .await;
    assert_eq!(
        openai_error(&corrupt, 400)["message"],
        "Audio file might be corrupted or unsupported"
    );
    let short = transcribe(
        &fake,
        vec![
            file("a.wav", "audio/wav", wav_silence(0.05, 8000)),
            text("model", "whisper-1"),
        ],
    )
    .await;
    assert_eq!(openai_error(&short, 400)["code"], "audio_too_short");

    let bad_language = transcribe(&fake, whisper_mp3(2.0, &[("language", "english")])).await;
    assert_eq!(openai_error(&bad_language, 400)["param"], "language");
    let hot = transcribe(&fake, whisper_mp3(2.0, &[("temperature", "1.5")])).await;
    openai_error(&hot, 400);

    let as_json = send(
        reqwest::Client::new()
            .post(format!("{}/audio/transcriptions", fake.base_url()))
            .bearer_auth(OPENAI_KEY)
            .json(&json!({"model": "whisper-1", "file": "call.mp3"})),
    )
    .await;
    assert_eq!(openai_error(&as_json, 400)["message"], "Could not parse multipart form");
}

#[tokio::test]
async fn fake_transcribers_openai_models_formats_and_timestamps() {
    let fake = FakeOpenAi::start(OPENAI_KEY).await;
    fake.set_transcript("Bonjour, je voudrais un rendez-vous.");
    let with = |model: &'static str, extra: &[(&str, &str)]| {
        let mut parts = vec![file("call.mp3", "audio/mpeg", mp3::silence(4.0)), text("model", model)];
        parts.extend(extra.iter().map(|(k, v)| text(k, v)));
        parts
    };
    for model in ["gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-transcribe"] {
        let verbose = transcribe(&fake, with(model, &[("response_format", "verbose_json")])).await;
        assert_eq!(openai_error(&verbose, 400)["param"], "response_format", "{model}");
        let json = transcribe(&fake, with(model, &[("response_format", "json")])).await;
        assert_eq!(json.status, 200, "{model}: {}", json.text);
        let usage = &json.json()["usage"];
        assert_eq!(usage["type"], "tokens");
        assert!(usage["total_tokens"].as_u64().unwrap() > 0);
    }
    let diarize = transcribe(&fake, with("gpt-4o-transcribe-diarize", &[])).await;
    assert_eq!(openai_error(&diarize, 400)["param"], "chunking_strategy");
    let diarized = transcribe(
        &fake,
        with(
            "gpt-4o-transcribe-diarize",
            &[("chunking_strategy", "auto"), ("response_format", "diarized_json")],
        ),
    )
    .await;
    assert_eq!(diarized.status, 200, "{}", diarized.text);
    assert!(diarized.json()["segments"][0]["speaker"].is_string());

    // Timestamps only with verbose_json; `word` alone gives words and no segments.
    let json_words = transcribe(&fake, with("whisper-1", &[("timestamp_granularities[]", "word")])).await;
    openai_error(&json_words, 400);
    let words = transcribe(
        &fake,
        with(
            "whisper-1",
            &[
                ("response_format", "verbose_json"),
                ("timestamp_granularities[]", "word"),
                ("language", "fr"),
            ],
        ),
    )
    .await;
    let v = words.json();
    assert_eq!(v["language"], "french");
    assert!(v.get("segments").is_none(), "{v}");
    let list = v["words"].as_array().unwrap();
    assert_eq!(list.len(), 5);
    assert_eq!(list[0]["word"], "Bonjour");
    assert!(list.windows(2).all(|w| w[0]["end"].as_f64() <= w[1]["start"].as_f64()));
    let both = transcribe(
        &fake,
        with(
            "whisper-1",
            &[
                ("response_format", "verbose_json"),
                ("timestamp_granularities[]", "word"),
                ("timestamp_granularities[]", "segment"),
            ],
        ),
    )
    .await;
    let v = both.json();
    assert!(v["segments"].is_array() && v["words"].is_array(), "{v}");

    fake.set_detected_language("spanish");
    let detected = transcribe(&fake, with("whisper-1", &[("response_format", "verbose_json")])).await;
    assert_eq!(detected.json()["language"], "spanish");

    let recorded = fake.requests();
    let last_words = &recorded[recorded.len() - 3];
    assert_eq!(last_words.language.as_deref(), Some("fr"));
    assert_eq!(last_words.timestamp_granularities, ["word"]);
    assert_eq!(last_words.filename.as_deref(), Some("call.mp3"));
    assert_eq!(last_words.content_type.as_deref(), Some("audio/mpeg"));
    assert_eq!(last_words.file_len, mp3::silence(4.0).len());
    assert_eq!(
        recorded[recorded.len() - 2].timestamp_granularities,
        ["word", "segment"]
    );
}

#[tokio::test]
async fn fake_transcribers_openai_faults_come_in_order() {
    let fake = FakeOpenAi::start(OPENAI_KEY).await;
    fake.push_fault(Fault::RateLimited {
        retry_after: Some("2".into()),
        retry_after_ms: Some("1500".into()),
    });
    fake.push_fault(Fault::InsufficientQuota);
    fake.push_fault(Fault::Server(503));
    fake.push_fault(Fault::Unauthorized);
    fake.push_fault(Fault::BadRequest("Something about the request.".into()));

    let limited = transcribe(&fake, whisper_mp3(2.0, &[])).await;
    let error = openai_error(&limited, 429);
    assert_eq!(error["type"], "requests");
    assert_eq!(error["code"], "rate_limit_exceeded");
    assert_eq!(limited.headers["retry-after"], "2");
    assert_eq!(limited.headers["retry-after-ms"], "1500");
    assert_eq!(limited.headers["x-ratelimit-remaining-requests"], "0");

    let quota = transcribe(&fake, whisper_mp3(2.0, &[])).await;
    assert_eq!(openai_error(&quota, 429)["code"], "insufficient_quota");
    assert!(!quota.headers.contains_key("retry-after"));
    let overloaded = transcribe(&fake, whisper_mp3(2.0, &[])).await;
    assert_eq!(openai_error(&overloaded, 503)["type"], "server_error");
    let revoked = transcribe(&fake, whisper_mp3(2.0, &[])).await;
    assert_eq!(openai_error(&revoked, 401)["code"], "invalid_api_key");
    let bad = transcribe(&fake, whisper_mp3(2.0, &[])).await;
    assert_eq!(openai_error(&bad, 400)["message"], "Something about the request.");
    assert_eq!(transcribe(&fake, whisper_mp3(2.0, &[])).await.status, 200);

    // A hung server: the client's time-out fires; the next request is answered.
    fake.push_fault(Fault::Hang(Duration::from_secs(5)));
    let (content_type, body) = multipart(whisper_mp3(2.0, &[]));
    let timed_out = reqwest::Client::new()
        .post(format!("{}/audio/transcriptions", fake.base_url()))
        .bearer_auth(OPENAI_KEY)
        .header("content-type", content_type)
        .body(body)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(timed_out.is_err_and(|e| e.is_timeout()));
    assert_eq!(transcribe(&fake, whisper_mp3(2.0, &[])).await.status, 200);

    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..6], [429, 429, 503, 401, 400, 200]);
    assert_eq!(statuses.len(), 8);
}

// ---------------------------------------------------------------------------
// OpenAI: chat completions
// ---------------------------------------------------------------------------

#[tokio::test]
async fn fake_transcribers_openai_chat_answers_scripted_replies() {
    let fake = FakeOpenAi::start(OPENAI_KEY).await;
    let chat = |key: &str, body: Value| {
        let req = reqwest::Client::new()
            .post(format!("{}/chat/completions", fake.base_url()))
            .bearer_auth(key)
            .json(&body);
        send(req)
    };
    let request = json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Summarise."}, {"role": "user", "content": "Hello"}],
        "response_format": {"type": "json_object"},
    });
    fake.push_chat_reply(ChatReply::Content(r#"{"summary":"Wants a call back"}"#.into()));
    fake.push_chat_reply(ChatReply::Refusal("I can't help with that.".into()));
    fake.push_chat_reply(ChatReply::Status(
        400,
        r#"{"error":{"message":"Invalid schema","type":"invalid_request_error","param":"response_format","code":null}}"#.into(),
    ));
    fake.push_chat_reply(ChatReply::Fault(Fault::RateLimited {
        retry_after: Some("1".into()),
        retry_after_ms: None,
    }));

    let first = chat(OPENAI_KEY, request.clone()).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let c = first.json();
    assert_eq!(c["object"], "chat.completion");
    assert!(c["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(c["model"], "gpt-4o-mini");
    assert_eq!(c["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        c["choices"][0]["message"]["content"],
        r#"{"summary":"Wants a call back"}"#
    );
    assert_eq!(c["choices"][0]["finish_reason"], "stop");
    assert!(c["usage"]["total_tokens"].as_u64().unwrap() > 0);

    let refused = chat(OPENAI_KEY, request.clone()).await.json();
    assert_eq!(refused["choices"][0]["message"]["content"], Value::Null);
    assert_eq!(refused["choices"][0]["message"]["refusal"], "I can't help with that.");
    let status = chat(OPENAI_KEY, request.clone()).await;
    assert_eq!(openai_error(&status, 400)["param"], "response_format");
    let limited = chat(OPENAI_KEY, request.clone()).await;
    openai_error(&limited, 429);
    assert_eq!(limited.headers["retry-after"], "1");

    let unscripted = chat(OPENAI_KEY, request.clone()).await;
    assert!(openai_error(&unscripted, 500)["message"]
        .as_str()
        .unwrap()
        .contains("no chat reply scripted"));
    assert_eq!(unscripted.headers["x-should-retry"], "false");

    let wrong = chat("sk-nope-000000000000", request.clone()).await;
    openai_error(&wrong, 401);
    let no_messages = chat(OPENAI_KEY, json!({"model": "gpt-4o-mini", "messages": []})).await;
    assert_eq!(openai_error(&no_messages, 400)["param"], "messages");

    let recorded = fake.chat_requests();
    assert_eq!(recorded.len(), 7);
    assert_eq!(recorded[0], request);
}

// ---------------------------------------------------------------------------
// Google: token endpoint
// ---------------------------------------------------------------------------

fn jwt(pem: &str, claims: &Value, alg: jsonwebtoken::Algorithm, kid: Option<&str>) -> String {
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = kid.map(str::to_string);
    let key = match alg {
        jsonwebtoken::Algorithm::HS256 => jsonwebtoken::EncodingKey::from_secret(b"secret"),
        _ => jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).expect("PKCS#8 PEM"),
    };
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

fn claims(fake: &FakeGoogleSpeech, scope: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": fake.client_email(),
        "scope": scope,
        "aud": fake.token_url(),
        "iat": now,
        "exp": now + 3595,
    })
}

async fn token_call(fake: &FakeGoogleSpeech, form: &[(&str, &str)]) -> Answer {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    send(
        reqwest::Client::new()
            .post(fake.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body),
    )
    .await
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

async fn access_token(fake: &FakeGoogleSpeech, scope: &str) -> String {
    let key: Value = serde_json::from_str(&fake.service_account_json()).unwrap();
    let assertion = jwt(
        key["private_key"].as_str().unwrap(),
        &claims(fake, scope),
        jsonwebtoken::Algorithm::RS256,
        key["private_key_id"].as_str(),
    );
    let answer = token_call(fake, &[("grant_type", JWT_BEARER), ("assertion", &assertion)]).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["access_token"].as_str().unwrap().to_string()
}

fn oauth_error(answer: &Answer, error: &str) -> String {
    assert_eq!(answer.status, 400, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["error"], error, "{body}");
    body["error_description"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn fake_transcribers_google_token_endpoint_checks_the_signed_jwt() {
    let fake = FakeGoogleSpeech::start().await;
    let key: Value = serde_json::from_str(&fake.service_account_json()).unwrap();
    assert_eq!(key["type"], "service_account");
    assert_eq!(key["token_uri"], fake.token_url().as_str());
    assert_eq!(key["client_email"], fake.client_email().as_str());
    let pem = key["private_key"].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n") && pem.ends_with("-----END PRIVATE KEY-----\n"));
    assert!(key["project_id"].is_string() && key["private_key_id"].is_string());

    let good = jwt(
        pem,
        &claims(&fake, CLOUD_PLATFORM_SCOPE),
        jsonwebtoken::Algorithm::RS256,
        None,
    );
    let answer = token_call(&fake, &[("grant_type", JWT_BEARER), ("assertion", &good)]).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let token = answer.json();
    assert!(token["access_token"].as_str().unwrap().starts_with("ya29."));
    assert_eq!(token["expires_in"], 3599);
    assert_eq!(token["token_type"], "Bearer");

    // Signed by another key (another fake's).
    let other = FakeGoogleSpeech::start().await;
    let forged = jwt(
        &other.private_key_pem(),
        &claims(&fake, CLOUD_PLATFORM_SCOPE),
        jsonwebtoken::Algorithm::RS256,
        None,
    );
    let answer = token_call(&fake, &[("grant_type", JWT_BEARER), ("assertion", &forged)]).await;
    assert_eq!(oauth_error(&answer, "invalid_grant"), "Invalid JWT Signature.");
    let hs256 = jwt(
        pem,
        &claims(&fake, CLOUD_PLATFORM_SCOPE),
        jsonwebtoken::Algorithm::HS256,
        None,
    );
    let answer = token_call(&fake, &[("grant_type", JWT_BEARER), ("assertion", &hs256)]).await;
    assert_eq!(oauth_error(&answer, "invalid_grant"), "Invalid JWT Signature.");
    let wrong_kid = jwt(
        pem,
        &claims(&fake, CLOUD_PLATFORM_SCOPE),
        jsonwebtoken::Algorithm::RS256,
        Some("0000"),
    );
    let answer = token_call(&fake, &[("grant_type", JWT_BEARER), ("assertion", &wrong_kid)]).await;
    oauth_error(&answer, "invalid_grant");

    let now = chrono::Utc::now().timestamp();
    let mut cases: Vec<(&str, Value, &str)> = Vec::new();
    let base = claims(&fake, CLOUD_PLATFORM_SCOPE);
    let with = |key: &str, value: Value| {
        let mut c = base.clone();
        c[key] = value;
        c
    };
    cases.push(("aud", with("aud", json!("https://speech.googleapis.com/")), "audience"));
    cases.push((
        "iss",
        with("iss", json!("someone@else.iam.gserviceaccount.com")),
        "account not found",
    ));
    cases.push(("exp over an hour", with("exp", json!(now + 3601)), "short-lived"));
    cases.push((
        "expired",
        {
            let mut c = with("iat", json!(now - 4000));
            c["exp"] = json!(now - 400);
            c
        },
        "short-lived",
    ));
    cases.push((
        "iat in the future",
        {
            let mut c = with("iat", json!(now + 600));
            c["exp"] = json!(now + 1200);
            c
        },
        "short-lived",
    ));
    for (what, c, expect) in cases {
        let assertion = jwt(pem, &c, jsonwebtoken::Algorithm::RS256, None);
        let answer = token_call(&fake, &[("grant_type", JWT_BEARER), ("assertion", &assertion)]).await;
        let description = oauth_error(&answer, "invalid_grant");
        assert!(description.contains(expect), "{what}: {description}");
    }
    // Google's canonical token URL is an audience too: Google's own library always sends it.
    let canonical = jwt(
        pem,
        &with("aud", json!("https://oauth2.googleapis.com/token")),
        jsonwebtoken::Algorithm::RS256,
        None,
    );
    let answer = token_call(&fake, &[("grant_type", JWT_BEARER), ("assertion", &canonical)]).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let no_scope = jwt(pem, &claims(&fake, ""), jsonwebtoken::Algorithm::RS256, None);
    let answer = token_call(&fake, &[("grant_type", JWT_BEARER), ("assertion", &no_scope)]).await;
    oauth_error(&answer, "invalid_scope");

    let answer = token_call(&fake, &[("grant_type", "client_credentials"), ("assertion", &good)]).await;
    oauth_error(&answer, "unsupported_grant_type");
    let answer = token_call(&fake, &[("grant_type", JWT_BEARER)]).await;
    oauth_error(&answer, "invalid_request");
    let as_json = send(
        reqwest::Client::new()
            .post(fake.token_url())
            .json(&json!({"grant_type": JWT_BEARER, "assertion": good})),
    )
    .await;
    oauth_error(&as_json, "invalid_request");
    assert_eq!(fake.token_requests(), 14);
}

// ---------------------------------------------------------------------------
// Google: recognize
// ---------------------------------------------------------------------------

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn speech(fake: &FakeGoogleSpeech, token: Option<&str>, method: &str, body: &Value) -> Answer {
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/speech:{method}", fake.base_url()))
        .json(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    send(req).await
}

/// Asserts a Google error `{"error": {"code", "message", "status", "details"}}`; returns it.
fn google_error(answer: &Answer, code: u16, status: &str) -> Value {
    assert_eq!(answer.status, code, "{}", answer.text);
    let body = answer.json();
    let error = &body["error"];
    assert_eq!(error["code"], code, "{body}");
    assert_eq!(error["status"], status, "{body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(error["details"].is_array(), "{body}");
    error.clone()
}

fn wav_request(seconds: f64, config: Value) -> Value {
    json!({"config": config, "audio": {"content": b64(&wav_silence(seconds, 8000))}})
}

#[tokio::test]
async fn fake_transcribers_google_recognize_needs_a_live_cloud_platform_token() {
    let fake = FakeGoogleSpeech::start().await;
    let request = wav_request(5.0, json!({"languageCode": "en-US"}));

    let none = speech(&fake, None, "recognize", &request).await;
    google_error(&none, 403, "PERMISSION_DENIED");
    let unknown = speech(&fake, Some("ya29.made-up"), "recognize", &request).await;
    google_error(&unknown, 401, "UNAUTHENTICATED");
    assert!(unknown.headers.contains_key("www-authenticate"));
    let keyed = send(
        reqwest::Client::new()
            .post(format!("{}/v1/speech:recognize?key=AIzaFake", fake.base_url()))
            .json(&request),
    )
    .await;
    google_error(&keyed, 400, "INVALID_ARGUMENT");

    let narrow = access_token(&fake, "https://www.googleapis.com/auth/devstorage.read_only").await;
    let error = google_error(
        &speech(&fake, Some(&narrow), "recognize", &request).await,
        403,
        "PERMISSION_DENIED",
    );
    assert_eq!(error["details"][0]["reason"], "ACCESS_TOKEN_SCOPE_INSUFFICIENT");

    let token = access_token(
        &fake,
        &format!("{CLOUD_PLATFORM_SCOPE} https://www.googleapis.com/auth/userinfo.email"),
    )
    .await;
    assert_eq!(speech(&fake, Some(&token), "recognize", &request).await.status, 200);
    fake.expire_tokens();
    let stale = speech(&fake, Some(&token), "recognize", &request).await;
    let error = google_error(&stale, 401, "UNAUTHENTICATED");
    assert_eq!(error["details"][0]["reason"], "ACCESS_TOKEN_EXPIRED");
    let fresh = access_token(&fake, CLOUD_PLATFORM_SCOPE).await;
    assert_eq!(speech(&fake, Some(&fresh), "recognize", &request).await.status, 200);
    assert_eq!(fake.token_requests(), 3);
}

#[tokio::test]
async fn fake_transcribers_google_recognize_answers_results_with_word_times() {
    let fake = FakeGoogleSpeech::start().await;
    let token = access_token(&fake, CLOUD_PLATFORM_SCOPE).await;
    fake.set_transcript("Hi, it's Paul. My tooth hurts. Call me back please.");

    let answer = speech(
        &fake,
        Some(&token),
        "recognize",
        &wav_request(
            12.0,
            json!({
                "languageCode": "en-US",
                "model": "phone_call",
                "useEnhanced": true,
                "enableWordTimeOffsets": true,
                "enableAutomaticPunctuation": true,
                "metadata": {"interactionType": "VOICEMAIL", "recordingDeviceType": "PHONE_LINE"},
            }),
        ),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "one result per sentence: {body}");
    let joined: String = results
        .iter()
        .map(|r| r["alternatives"][0]["transcript"].as_str().unwrap())
        .collect();
    assert_eq!(joined, "Hi, it's Paul. My tooth hurts. Call me back please.");
    assert_eq!(results[0]["languageCode"], "en-us");
    assert_eq!(results[0]["resultEndTime"], "4s");
    assert_eq!(results[2]["resultEndTime"], "12s");
    assert!(results[0]["alternatives"][0]["confidence"].is_f64());
    let words = results[1]["alternatives"][0]["words"].as_array().unwrap();
    assert_eq!(words.len(), 3);
    assert_eq!(words[0]["word"], "My");
    assert_eq!(words[0]["startTime"], "4s");
    assert!(words[1]["startTime"].as_str().unwrap().ends_with('s'));
    assert!(words[0].get("confidence").is_none(), "only with enableWordConfidence");
    assert_eq!(body["totalBilledTime"], "12s");

    // FLAC (header rate and channels), raw LINEAR16 with a rate, snake_case field names.
    let flac = speech(
        &fake,
        Some(&token),
        "recognize",
        &json!({
            "config": {"encoding": "FLAC", "language_code": "fr-CA", "audio_channel_count": 2},
            "audio": {"content": b64(&flac_header(30.5, 16000, 2))},
        }),
    )
    .await;
    assert_eq!(flac.status, 200, "{}", flac.text);
    assert_eq!(flac.json()["results"][0]["languageCode"], "fr-ca");
    assert_eq!(flac.json()["totalBilledTime"], "31s");
    let raw = speech(
        &fake,
        Some(&token),
        "recognize",
        &json!({
            "config": {"encoding": "LINEAR16", "sampleRateHertz": 8000, "languageCode": "en-US"},
            "audio": {"content": b64(&vec![0u8; 8000 * 2 * 3])},
        }),
    )
    .await;
    assert_eq!(raw.status, 200, "{}", raw.text);

    let recorded = fake.requests();
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[0].method, "recognize");
    assert_eq!(recorded[0].config["model"], "phone_call");
    assert_eq!(recorded[0].audio_secs, Some(12.0));
    assert_eq!(recorded[1].audio_secs, Some(30.5));
    assert_eq!(recorded[2].audio_secs, Some(3.0));
    assert!(recorded.iter().all(|r| r.status == 200));

    // No speech: no results at all.
    fake.set_silence(true);
    let silent = speech(
        &fake,
        Some(&token),
        "recognize",
        &wav_request(3.0, json!({"languageCode": "en-US"})),
    )
    .await;
    let body = silent.json();
    assert!(body.get("results").is_none(), "{body}");
    assert_eq!(body["totalBilledTime"], "3s");
}

#[tokio::test]
async fn fake_transcribers_google_recognize_rejects_what_v1_rejects() {
    let fake = FakeGoogleSpeech::start().await;
    let token = access_token(&fake, CLOUD_PLATFORM_SCOPE).await;
    let call = |body: Value| {
        let token = token.clone();
        let fake = &fake;
        async move { speech(fake, Some(&token), "recognize", &body).await }
    };
    let mp3_b64 = b64(&mp3::silence(10.0));

    let mp3 = call(json!({
        "config": {"encoding": "MP3", "sampleRateHertz": 32000, "languageCode": "en-US"},
        "audio": {"content": mp3_b64},
    }))
    .await;
    let error = google_error(&mp3, 400, "INVALID_ARGUMENT");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Invalid value at 'config.encoding'")
            && error["message"].as_str().unwrap().contains("\"MP3\""),
        "{error}"
    );
    assert_eq!(error["details"][0]["fieldViolations"][0]["field"], "config.encoding");
    let unlabelled_mp3 = call(json!({"config": {"languageCode": "en-US"}, "audio": {"content": mp3_b64}})).await;
    assert_eq!(
        google_error(&unlabelled_mp3, 400, "INVALID_ARGUMENT")["message"],
        "Invalid recognition 'config': bad encoding.."
    );

    let long = call(wav_request(61.0, json!({"languageCode": "en-US"}))).await;
    assert_eq!(
        google_error(&long, 400, "INVALID_ARGUMENT")["message"],
        "Sync input too long. For audio longer than 1 min use LongRunningRecognize with a 'uri' parameter."
    );
    assert_eq!(
        call(wav_request(60.0, json!({"languageCode": "en-US"}))).await.status,
        200
    );
    let long_flac = call(json!({
        "config": {"languageCode": "en-US"},
        "audio": {"content": b64(&flac_header(75.0, 8000, 1))},
    }))
    .await;
    google_error(&long_flac, 400, "INVALID_ARGUMENT");
    assert_eq!(fake.requests().last().unwrap().audio_secs, Some(75.0));

    // 10 MB for the whole request: 8 MB of audio is 10.7 MB of base64.
    let huge = call(json!({
        "config": {"encoding": "LINEAR16", "sampleRateHertz": 48000, "languageCode": "en-US"},
        "audio": {"content": b64(&vec![0u8; 8_000_000])},
    }))
    .await;
    assert_eq!(
        google_error(&huge, 400, "INVALID_ARGUMENT")["message"],
        "Request payload size exceeds the limit: 10485760 bytes."
    );

    let both = call(json!({
        "config": {"languageCode": "en-US"},
        "audio": {"content": b64(&wav_silence(1.0, 8000)), "uri": "gs://b/o.wav"},
    }))
    .await;
    google_error(&both, 400, "INVALID_ARGUMENT");
    let neither = call(json!({"config": {"languageCode": "en-US"}, "audio": {}})).await;
    assert_eq!(
        google_error(&neither, 400, "INVALID_ARGUMENT")["message"],
        "RecognitionAudio not set."
    );
    let not_base64 = call(json!({"config": {"languageCode": "en-US"}, "audio": {"content": "***"}})).await;
    google_error(&not_base64, 400, "INVALID_ARGUMENT");
    let no_language = call(wav_request(1.0, json!({}))).await;
    google_error(&no_language, 400, "INVALID_ARGUMENT");
    let typo = call(wav_request(
        1.0,
        json!({"languageCode": "en-US", "enableWordTimeOffset": true}),
    ))
    .await;
    assert!(google_error(&typo, 400, "INVALID_ARGUMENT")["message"]
        .as_str()
        .unwrap()
        .contains("Unknown name \"enableWordTimeOffset\" at 'config'"));
    let rate = call(wav_request(
        1.0,
        json!({"languageCode": "en-US", "sampleRateHertz": 16000}),
    ))
    .await;
    assert_eq!(
        google_error(&rate, 400, "INVALID_ARGUMENT")["message"],
        "sample_rate_hertz (16000) in RecognitionConfig must either be unspecified or match the value in the WAV header (8000)."
    );
    let stereo = call(json!({
        "config": {"languageCode": "en-US"},
        "audio": {"content": b64(&wav_silence_channels(1.0, 8000, 2))},
    }))
    .await;
    assert_eq!(
        google_error(&stereo, 400, "INVALID_ARGUMENT")["message"],
        "Must use single channel (mono) audio, but WAV header indicates 2 channels."
    );
    let raw_no_rate = call(json!({
        "config": {"encoding": "LINEAR16", "languageCode": "en-US"},
        "audio": {"content": b64(&[0u8; 3200])},
    }))
    .await;
    google_error(&raw_no_rate, 400, "INVALID_ARGUMENT");
    let flac_as_wav = call(json!({
        "config": {"encoding": "LINEAR16", "languageCode": "en-US"},
        "audio": {"content": b64(&flac_header(1.0, 8000, 1))},
    }))
    .await;
    google_error(&flac_as_wav, 400, "INVALID_ARGUMENT");
}

#[tokio::test]
async fn fake_transcribers_google_faults_come_in_order() {
    let fake = FakeGoogleSpeech::start().await;
    let token = access_token(&fake, CLOUD_PLATFORM_SCOPE).await;
    let request = wav_request(2.0, json!({"languageCode": "en-US"}));
    fake.push_fault(SpeechFault::ResourceExhausted);
    fake.push_fault(SpeechFault::Server(500));
    fake.push_fault(SpeechFault::Server(503));
    fake.push_fault(SpeechFault::PermissionDenied);
    let error = google_error(
        &speech(&fake, Some(&token), "recognize", &request).await,
        429,
        "RESOURCE_EXHAUSTED",
    );
    assert_eq!(error["details"][0]["reason"], "RATE_LIMIT_EXCEEDED");
    google_error(
        &speech(&fake, Some(&token), "recognize", &request).await,
        500,
        "INTERNAL",
    );
    google_error(
        &speech(&fake, Some(&token), "recognize", &request).await,
        503,
        "UNAVAILABLE",
    );
    let error = google_error(
        &speech(&fake, Some(&token), "recognize", &request).await,
        403,
        "PERMISSION_DENIED",
    );
    assert_eq!(error["details"][0]["reason"], "SERVICE_DISABLED");
    assert_eq!(speech(&fake, Some(&token), "recognize", &request).await.status, 200);
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 500, 503, 403, 200]);
}

#[tokio::test]
async fn fake_transcribers_google_long_running_recognize_from_cloud_storage() {
    let fake = FakeGoogleSpeech::start().await;
    let token = access_token(&fake, CLOUD_PLATFORM_SCOPE).await;
    fake.set_transcript("A long call. It goes on.");
    fake.add_gcs_object("gs://pedro-recordings/call-1.flac", flac_header(300.0, 8000, 1));
    fake.set_operation_polls(2);

    let inline = speech(
        &fake,
        Some(&token),
        "longrunningrecognize",
        &json!({"config": {"languageCode": "en-US"}, "audio": {"content": b64(&flac_header(300.0, 8000, 1))}}),
    )
    .await;
    assert_eq!(
        google_error(&inline, 400, "INVALID_ARGUMENT")["message"],
        "Inline audio exceeds duration limit. Please use a GCS URI."
    );
    let missing = speech(
        &fake,
        Some(&token),
        "longrunningrecognize",
        &json!({"config": {"languageCode": "en-US"}, "audio": {"uri": "gs://pedro-recordings/nope.flac"}}),
    )
    .await;
    google_error(&missing, 404, "NOT_FOUND");

    let started = speech(
        &fake,
        Some(&token),
        "longrunningrecognize",
        &json!({
            "config": {"languageCode": "en-US", "enableWordTimeOffsets": true},
            "audio": {"uri": "gs://pedro-recordings/call-1.flac"},
        }),
    )
    .await;
    assert_eq!(started.status, 200, "{}", started.text);
    let name = started.json()["name"].as_str().unwrap().to_string();
    assert_eq!(started.json().as_object().unwrap().len(), 1, "only the name");

    let poll = || {
        send(
            reqwest::Client::new()
                .get(format!("{}/v1/operations/{name}", fake.base_url()))
                .bearer_auth(&token),
        )
    };
    for _ in 0..2 {
        let running = poll().await.json();
        assert!(running.get("done").is_none(), "false is left out: {running}");
        assert_eq!(
            running["metadata"]["@type"],
            "type.googleapis.com/google.cloud.speech.v1.LongRunningRecognizeMetadata"
        );
    }
    let done = poll().await.json();
    assert_eq!(done["done"], true);
    assert_eq!(done["metadata"]["progressPercent"], 100);
    let response = &done["response"];
    assert_eq!(
        response["@type"],
        "type.googleapis.com/google.cloud.speech.v1.LongRunningRecognizeResponse"
    );
    assert_eq!(response["results"].as_array().unwrap().len(), 2);
    assert_eq!(response["results"][1]["resultEndTime"], "300s");
    assert_eq!(response["totalBilledTime"], "300s");
    let unknown = send(
        reqwest::Client::new()
            .get(format!("{}/v1/operations/123", fake.base_url()))
            .bearer_auth(&token),
    )
    .await;
    google_error(&unknown, 404, "NOT_FOUND");

    // An operation that fails.
    fake.set_operation_polls(0);
    fake.push_fault(SpeechFault::OperationError {
        code: 3,
        message: "Invalid audio".into(),
    });
    let started = speech(
        &fake,
        Some(&token),
        "longrunningrecognize",
        &json!({"config": {"languageCode": "en-US"}, "audio": {"uri": "gs://pedro-recordings/call-1.flac"}}),
    )
    .await;
    let name = started.json()["name"].as_str().unwrap().to_string();
    let failed = send(
        reqwest::Client::new()
            .get(format!("{}/v1/operations/{name}", fake.base_url()))
            .bearer_auth(&token),
    )
    .await
    .json();
    assert_eq!(failed["done"], true);
    assert_eq!(failed["error"]["code"], 3);
    assert!(failed.get("response").is_none());
    let recorded = fake.requests();
    assert_eq!(recorded[2].uri.as_deref(), Some("gs://pedro-recordings/call-1.flac"));
    assert_eq!(recorded[2].audio_secs, Some(300.0));
}

// ---------------------------------------------------------------------------
// Hugging Face
// ---------------------------------------------------------------------------

async fn hf_raw(url: &str, content_type: &str, body: Vec<u8>) -> Answer {
    send(
        reqwest::Client::new()
            .post(url)
            .bearer_auth(HF_TOKEN)
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

fn hf_error(answer: &Answer, status: u16) -> Value {
    assert_eq!(answer.status, status, "{}", answer.text);
    let body = answer.json();
    assert!(body["error"].is_string() || body["error"].is_array(), "{body}");
    assert!(answer.headers.contains_key("x-error-message"));
    body
}

#[tokio::test]
async fn fake_transcribers_huggingface_transcribes_raw_and_json_audio() {
    let fake = FakeHuggingFace::start(HF_TOKEN).await;
    fake.set_transcript("Hello, I need to move my appointment.");
    let url = fake.model_url(WHISPER_HF);
    assert!(url.ends_with("/hf-inference/models/openai/whisper-large-v3"));

    let raw = hf_raw(&url, "audio/mpeg", mp3::silence(12.0)).await;
    assert_eq!(raw.status, 200, "{}", raw.text);
    assert_eq!(raw.json(), json!({"text": " Hello, I need to move my appointment."}));
    for (ct, bytes) in [
        ("audio/wav", wav_silence(2.0, 16000)),
        ("audio/flac", flac_header(2.0, 16000, 1)),
        ("application/octet-stream", mp3::silence(1.0)),
    ] {
        assert_eq!(hf_raw(&url, ct, bytes).await.status, 200, "{ct}");
    }

    let json_req = send(reqwest::Client::new().post(&url).bearer_auth(HF_TOKEN).json(&json!({
        "inputs": b64(&mp3::silence(25.0)),
        "parameters": {"return_timestamps": true, "generation_parameters": {"temperature": 0.0}},
    })))
    .await;
    assert_eq!(json_req.status, 200, "{}", json_req.text);
    let body = json_req.json();
    assert_eq!(body["text"], " Hello, I need to move my appointment.");
    let chunks = body["chunks"].as_array().unwrap();
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[0]["timestamp"][0], 0.0);
    assert!(close(
        chunks[2]["timestamp"][1].as_f64().unwrap(),
        25.0,
        FRAME_SECS + 0.01
    ));
    let joined: String = chunks.iter().map(|c| c["text"].as_str().unwrap()).collect();
    assert_eq!(joined, body["text"].as_str().unwrap());

    let recorded = fake.requests();
    assert_eq!(recorded.len(), 5);
    assert_eq!(recorded[0].model.as_deref(), Some(WHISPER_HF));
    assert_eq!(recorded[0].content_type.as_deref(), Some("audio/mpeg"));
    assert!(!recorded[0].json && recorded[4].json);
    assert_eq!(recorded[4].parameters.as_ref().unwrap()["return_timestamps"], true);
    assert!(close(recorded[4].audio_secs.unwrap(), 25.0, FRAME_SECS));
}

#[tokio::test]
async fn fake_transcribers_huggingface_refuses_the_legacy_host_bad_tokens_and_input() {
    let fake = FakeHuggingFace::start(HF_TOKEN).await;
    let url = fake.model_url(WHISPER_HF);
    let legacy = hf_raw(&fake.legacy_url(WHISPER_HF), "audio/mpeg", mp3::silence(1.0)).await;
    assert!(hf_error(&legacy, 410)["error"]
        .as_str()
        .unwrap()
        .contains("router.huggingface.co/hf-inference"));

    let anonymous = send(
        reqwest::Client::new()
            .post(&url)
            .header("content-type", "audio/mpeg")
            .body(mp3::silence(1.0)),
    )
    .await;
    hf_error(&anonymous, 401);
    let unknown = hf_raw(&fake.model_url("openai/whisper-tiny"), "audio/mpeg", mp3::silence(1.0)).await;
    hf_error(&unknown, 404);
    fake.add_model("openai/whisper-tiny");
    let tiny = hf_raw(&fake.model_url("openai/whisper-tiny"), "audio/mpeg", mp3::silence(1.0)).await;
    assert_eq!(tiny.status, 200);

    let text_body = hf_raw(&url, "text/plain", b"hello".to_vec()).await;
    hf_error(&text_body, 400);
    let not_audio = hf_raw(&url, "audio/mpeg", b"<html>oops</html>".to_vec()).await;
    assert!(hf_error(&not_audio, 400)["error"]
        .as_str()
        .unwrap()
        .contains("malformed"));
    let typo = send(
        reqwest::Client::new()
            .post(&url)
            .bearer_auth(HF_TOKEN)
            .json(&json!({"inputs": b64(&mp3::silence(1.0)), "parameters": {"return_timestamp": true}})),
    )
    .await;
    assert!(hf_error(&typo, 422)["error"].is_array());
    let no_inputs = send(
        reqwest::Client::new()
            .post(&url)
            .bearer_auth(HF_TOKEN)
            .json(&json!({"parameters": {}})),
    )
    .await;
    hf_error(&no_inputs, 422);
}

#[tokio::test]
async fn fake_transcribers_huggingface_loading_rate_limits_and_errors() {
    let fake = FakeHuggingFace::start(HF_TOKEN).await;
    let url = fake.model_url(WHISPER_HF);
    fake.push_fault(HfFault::Loading {
        estimated_time: 20.0,
        times: 2,
    });
    fake.push_fault(HfFault::RateLimited { retry_after_secs: 30 });
    fake.push_fault(HfFault::Server(502));
    fake.push_fault(HfFault::BadInput {
        status: 400,
        message: "Task not supported for this model".into(),
    });
    fake.push_fault(HfFault::Unauthorized);

    for _ in 0..2 {
        let loading = hf_raw(&url, "audio/mpeg", mp3::silence(1.0)).await;
        assert_eq!(loading.status, 503);
        assert!(
            loading.text.contains("\"estimated_time\":20.0"),
            "a float: {}",
            loading.text
        );
        assert_eq!(
            loading.json()["error"],
            "Model openai/whisper-large-v3 is currently loading"
        );
    }
    let limited = hf_raw(&url, "audio/mpeg", mp3::silence(1.0)).await;
    hf_error(&limited, 429);
    assert_eq!(limited.headers["retry-after"], "30");
    assert_eq!(limited.headers["ratelimit"], "\"api\";r=0;t=30");
    assert_eq!(
        limited.headers["ratelimit-policy"],
        "\"fixed window\";\"api\";q=1000;w=300"
    );
    let gateway = hf_raw(&url, "audio/mpeg", mp3::silence(1.0)).await;
    assert!(hf_error(&gateway, 502).get("estimated_time").is_none());
    let bad = hf_raw(&url, "audio/mpeg", mp3::silence(1.0)).await;
    assert_eq!(hf_error(&bad, 400)["error"], "Task not supported for this model");
    hf_error(&hf_raw(&url, "audio/mpeg", mp3::silence(1.0)).await, 401);
    assert_eq!(hf_raw(&url, "audio/mpeg", mp3::silence(1.0)).await.status, 200);

    // X-Wait-For-Model: the request waits the loading out instead of getting 503.
    fake.push_fault(HfFault::Loading {
        estimated_time: 20.0,
        times: 5,
    });
    let waited = send(
        reqwest::Client::new()
            .post(&url)
            .bearer_auth(HF_TOKEN)
            .header("content-type", "audio/mpeg")
            .header("x-wait-for-model", "true")
            .body(mp3::silence(1.0)),
    )
    .await;
    assert_eq!(waited.status, 200, "{}", waited.text);
    assert_eq!(hf_raw(&url, "audio/mpeg", mp3::silence(1.0)).await.status, 200);
    let recorded = fake.requests();
    assert!(recorded[recorded.len() - 2].wait_for_model);
    let statuses: Vec<u16> = recorded.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 429, 502, 400, 401, 200, 200, 200]);
}

// ---------------------------------------------------------------------------
// Clients others wrote: OpenAI's and Google's Python libraries
// ---------------------------------------------------------------------------

/// The virtual environment's python, after scripts/python-deps.sh; None without python3.
async fn python() -> Option<String> {
    let present = tokio::process::Command::new("python3")
        .arg("--version")
        .output()
        .await
        .is_ok_and(|o| o.status.success());
    if !present {
        eprintln!(
            "\n*** SKIPPED: python3 is not installed; the OpenAI and Google libraries could not check the fakes ***\n"
        );
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

const OPENAI_CLIENT: &str = r#"
import json, sys, time
import openai
from openai import OpenAI

case = json.load(sys.stdin)
client = OpenAI(api_key=case["key"], base_url=case["base_url"])
out = {}
# The test queued insufficient_quota, then a 429 with retry-after-ms.
once = OpenAI(api_key=case["key"], base_url=case["base_url"], max_retries=0)
try:
    with open(case["mp3"], "rb") as f:
        once.audio.transcriptions.create(model="whisper-1", file=f)
except openai.RateLimitError as e:
    out["quota"] = {"status": e.status_code, "code": e.code, "type": e.type}
start = time.monotonic()
with open(case["mp3"], "rb") as f:
    r = client.audio.transcriptions.create(model="whisper-1", file=f)
out["retried"] = {"text": r.text, "seconds": time.monotonic() - start}

with open(case["mp3"], "rb") as f:
    v = client.audio.transcriptions.create(model="whisper-1", file=f, response_format="verbose_json",
                                           timestamp_granularities=["word", "segment"], language="en")
out["verbose"] = {"text": v.text, "language": v.language, "duration": v.duration,
                  "segments": [[s.id, s.start, s.end, s.text, s.no_speech_prob] for s in v.segments],
                  "words": [[w.word, w.start, w.end] for w in v.words],
                  "usage": v.usage.type if v.usage else None}
with open(case["mp3"], "rb") as f:
    j = client.audio.transcriptions.create(model="gpt-4o-transcribe", file=f)
out["json"] = {"text": j.text, "usage": j.usage.type if j.usage else None}
with open(case["mp3"], "rb") as f:
    out["text"] = client.audio.transcriptions.create(model="whisper-1", file=f, response_format="text")
with open(case["mp3"], "rb") as f:
    out["srt"] = client.audio.transcriptions.create(model="whisper-1", file=f, response_format="srt")

bad = OpenAI(api_key="sk-wrong-0000000000", base_url=case["base_url"], max_retries=0)
try:
    with open(case["mp3"], "rb") as f:
        bad.audio.transcriptions.create(model="whisper-1", file=f)
except openai.AuthenticationError as e:
    out["auth"] = {"status": e.status_code, "code": e.code}
try:
    once.audio.transcriptions.create(model="whisper-1", file=("voicemail.gsm", b"\x00" * 100, "audio/x-gsm"))
except openai.BadRequestError as e:
    out["format"] = {"status": e.status_code, "message": e.message}

c = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Summarise"}],
                                   response_format={"type": "json_object"})
out["chat"] = {"content": c.choices[0].message.content, "finish": c.choices[0].finish_reason,
               "total_tokens": c.usage.total_tokens, "id": c.id}
r = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
out["refusal"] = r.choices[0].message.refusal
print(json.dumps(out))
"#;

#[tokio::test]
async fn fake_transcribers_openai_python_sdk_reads_the_fake() {
    let Some(python) = python().await else { return };
    let fake = FakeOpenAi::start(OPENAI_KEY).await;
    fake.set_transcriber(|seen| format!("Part {}. Please call me back.", seen.index));
    let dir = std::env::temp_dir().join(format!("pedro-openai-sdk-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("call.mp3");
    std::fs::write(&path, mp3::silence(15.0)).unwrap();

    // The script meets insufficient_quota first (no retries), then a 429 the SDK retries.
    fake.push_fault(Fault::InsufficientQuota);
    fake.push_fault(Fault::RateLimited {
        retry_after: Some("1".into()),
        retry_after_ms: Some("200".into()),
    });
    fake.push_chat_reply(ChatReply::Content(r#"{"callback":true}"#.into()));
    fake.push_chat_reply(ChatReply::Refusal("No.".into()));

    let out = run(
        &python,
        OPENAI_CLIENT,
        &json!({"key": OPENAI_KEY, "base_url": fake.base_url(), "mp3": path.to_str().unwrap()}),
    )
    .await;
    std::fs::remove_dir_all(&dir).ok();

    let verbose = &out["verbose"];
    assert_eq!(verbose["text"], "Part 2. Please call me back.", "{out}");
    assert_eq!(verbose["language"], "english");
    assert!(close(verbose["duration"].as_f64().unwrap(), 15.0, FRAME_SECS));
    assert_eq!(verbose["segments"].as_array().unwrap().len(), 2);
    assert_eq!(verbose["words"].as_array().unwrap().len(), 6);
    assert_eq!(verbose["usage"], "duration");
    assert_eq!(
        out["json"],
        json!({"text": "Part 3. Please call me back.", "usage": "tokens"})
    );
    assert_eq!(out["text"], "Part 4. Please call me back.\n");
    assert!(out["srt"].as_str().unwrap().starts_with("1\n00:00:00,000 --> "));
    assert_eq!(out["retried"]["text"], "Part 1. Please call me back.");
    assert!(
        out["retried"]["seconds"].as_f64().unwrap() >= 0.2,
        "waited retry-after-ms: {out}"
    );
    assert_eq!(out["auth"], json!({"status": 401, "code": "invalid_api_key"}));
    assert_eq!(
        out["quota"],
        json!({"status": 429, "code": "insufficient_quota", "type": "insufficient_quota"})
    );
    assert_eq!(out["format"]["status"], 400);
    assert_eq!(out["chat"]["content"], r#"{"callback":true}"#);
    assert_eq!(out["chat"]["finish"], "stop");
    assert_eq!(out["refusal"], "No.");

    let recorded = fake.requests();
    let statuses: Vec<u16> = recorded.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 429, 200, 200, 200, 200, 200, 401, 400], "{recorded:#?}");
    let verbose = &recorded[3];
    assert_eq!(verbose.filename.as_deref(), Some("call.mp3"));
    assert_eq!(verbose.content_type.as_deref(), Some("audio/mpeg"));
    assert_eq!(verbose.response_format.as_deref(), Some("verbose_json"));
    assert_eq!(verbose.timestamp_granularities, ["word", "segment"]);
    assert_eq!(verbose.language.as_deref(), Some("en"));
    assert_eq!(
        fake.chat_requests()[0]["response_format"],
        json!({"type": "json_object"})
    );
}

const GOOGLE_AUTH: &str = r#"
import json, sys
from google.oauth2 import service_account
from google.auth.transport.requests import AuthorizedSession, Request

case = json.load(sys.stdin)
info = json.loads(case["key"])
creds = service_account.Credentials.from_service_account_info(
    info, scopes=["https://www.googleapis.com/auth/cloud-platform"])
creds.refresh(Request())
session = AuthorizedSession(creds)
r = session.post(case["base_url"] + "/v1/speech:recognize", json=case["request"])
print(json.dumps({"valid": creds.valid, "token": creds.token, "status": r.status_code, "body": r.json()}))
"#;

#[tokio::test]
async fn fake_transcribers_google_auth_python_signs_in_and_recognizes() {
    let Some(python) = python().await else { return };
    let fake = FakeGoogleSpeech::start().await;
    fake.set_transcript("Signed in by Google's own library.");
    let out = run(
        &python,
        GOOGLE_AUTH,
        &json!({
            "key": fake.service_account_json(),
            "base_url": fake.base_url(),
            "request": wav_request(4.0, json!({"languageCode": "en-US"})),
        }),
    )
    .await;
    assert_eq!(out["valid"], true, "{out}");
    assert!(out["token"].as_str().unwrap().starts_with("ya29."));
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(
        out["body"]["results"][0]["alternatives"][0]["transcript"],
        "Signed in by Google's own library."
    );
    assert_eq!(fake.token_requests(), 1);
}
