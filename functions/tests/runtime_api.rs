//! Each function binary, started as a real process against an emulator of the Lambda Runtime API,
//! answers its sample event from `events/`. Prints each one's start-up time to first answer.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use pedro_tests::app::{member_token, DID, JWT_SECRET};
use pedro_tests::events;
use pedro_tests::fakes::lambda_runtime::{Outcome, RuntimeApi};
use pedro_tests::{spawn_app, TestApp};
use serde_json::{json, Value};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `binary` configured like the deployed function, against `app`'s database and fakes.
fn start(binary: &str, function: &str, runtime: &RuntimeApi, app: &TestApp) -> Running {
    let child = runtime
        .command(binary, function)
        .envs(app.function_env())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start {binary}: {e}"));
    Running(child)
}

fn fixture(function: &str, app: &TestApp) -> Value {
    serde_json::from_str(&events::fixture(function, &member_token(app.practice_id, "admin"))).unwrap()
}

/// Starts `function`, invokes it once with its fixture, returns the answer and the time from
/// process start to answer.
async fn invoke(binary: &str, function: &str, app: &TestApp) -> (Value, Duration) {
    let runtime = RuntimeApi::start().await;
    let started = Instant::now();
    let _process = start(binary, function, &runtime, app);
    match runtime.invoke(fixture(function, app), Duration::from_secs(30)).await {
        Ok(Outcome::Response(answer)) => (answer, started.elapsed()),
        Ok(Outcome::Error(error)) => panic!("{function} answered with an error: {error}"),
        Err(e) => panic!("{function}: {e}"),
    }
}

#[tokio::test]
async fn every_function_binary_answers_its_sample_event_through_the_runtime_api() {
    let app = spawn_app().start().await;
    app.seed_for_function_samples().await;
    let functions: [(&str, &str, u64); 20] = [
        ("sms-webhook", env!("CARGO_BIN_EXE_sms-webhook"), 200),
        ("sms-send", env!("CARGO_BIN_EXE_sms-send"), 201),
        ("sms-conversations", env!("CARGO_BIN_EXE_sms-conversations"), 200),
        (
            "sms-conversation-messages",
            env!("CARGO_BIN_EXE_sms-conversation-messages"),
            200,
        ),
        (
            "sms-conversation-review",
            env!("CARGO_BIN_EXE_sms-conversation-review"),
            200,
        ),
        ("configure-webhook", env!("CARGO_BIN_EXE_configure-webhook"), 200),
        ("check-sms", env!("CARGO_BIN_EXE_check-sms"), 0),
        ("voip-sync", env!("CARGO_BIN_EXE_voip-sync"), 200),
        ("call-history", env!("CARGO_BIN_EXE_call-history"), 200),
        ("call-recordings", env!("CARGO_BIN_EXE_call-recordings"), 200),
        ("call-recording-link", env!("CARGO_BIN_EXE_call-recording-link"), 200),
        ("call-delete", env!("CARGO_BIN_EXE_call-delete"), 200),
        ("search", env!("CARGO_BIN_EXE_search"), 200),
        ("analytics", env!("CARGO_BIN_EXE_analytics"), 200),
        ("settings", env!("CARGO_BIN_EXE_settings"), 200),
        ("settings-update", env!("CARGO_BIN_EXE_settings-update"), 200),
        ("auto-reply-rules", env!("CARGO_BIN_EXE_auto-reply-rules"), 200),
        (
            "auto-reply-rule-update",
            env!("CARGO_BIN_EXE_auto-reply-rule-update"),
            200,
        ),
        ("sync-calls", env!("CARGO_BIN_EXE_sync-calls"), 2),
        // Scheduled jobs answer their report; the daily job's retention pass has nothing to do here.
        ("daily-analytics", env!("CARGO_BIN_EXE_daily-analytics"), 1),
    ];
    for (function, binary, status) in functions {
        let (answer, elapsed) = invoke(binary, function, &app).await;
        println!(
            "{function:<26} first answer {:>5} ms after process start (debug build)",
            elapsed.as_millis()
        );
        if status == 0 {
            assert!(answer["stored"].as_u64().is_some(), "{function}: {answer}");
        } else if status == 2 {
            assert!(answer["calls"]["fetched"].as_u64().is_some(), "{function}: {answer}");
        } else if status == 1 {
            assert!(
                answer["retention"]["objectsDeleted"].as_u64().is_some() && answer["rollups"]["failed"] == json!([]),
                "{function}: {answer}"
            );
        } else {
            assert_eq!(answer["statusCode"], status, "{function}: {answer}");
        }
    }
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE origin = 'check_sms'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE origin = 'api'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_function_without_its_configuration_reports_an_init_error() {
    let runtime = RuntimeApi::start().await;
    let mut child = runtime
        .command(env!("CARGO_BIN_EXE_sms-send"), "sms-send")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "without DATABASE_URL the function must not start");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("DATABASE_URL"),
        "the error names what is missing: {stderr}"
    );
}

#[tokio::test]
async fn a_protected_function_never_runs_open() {
    let app = spawn_app().start().await;
    let runtime = RuntimeApi::start().await;
    let out = runtime
        .command(env!("CARGO_BIN_EXE_sms-conversations"), "sms-conversations")
        .env("DATABASE_URL", &app.db.url)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "without SUPABASE_JWT_SECRET or SUPABASE_JWKS_URL it must not start"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("SUPABASE_JWT_SECRET"));
}

#[tokio::test]
async fn the_webhook_never_runs_without_a_secret() {
    let app = spawn_app().start().await;
    let runtime = RuntimeApi::start().await;
    let out = runtime
        .command(env!("CARGO_BIN_EXE_sms-webhook"), "sms-webhook")
        .env("DATABASE_URL", &app.db.url)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "with no WEBHOOK_SECRET and no practice secret it must not start"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("WEBHOOK_SECRET"));
}

#[tokio::test]
async fn the_twilio_webhook_binary_answers_its_signed_sample_event() {
    // The fixture is signed with the test auth token over the API Gateway URL it names.
    let app = spawn_app().start().await;
    let runtime = RuntimeApi::start().await;
    let _process = Running(
        runtime
            .command(env!("CARGO_BIN_EXE_twilio-webhook"), "twilio-webhook")
            .env("DATABASE_URL", &app.db.url)
            .env("VOIPMS_DID", DID)
            .env("SUPABASE_JWT_SECRET", JWT_SECRET)
            .env("TWILIO_ACCOUNT_SID", pedro_tests::app::TWILIO_SID)
            .env("TWILIO_AUTH_TOKEN", pedro_tests::app::TWILIO_TOKEN)
            .env("TWILIO_FROM_NUMBER", pedro_tests::app::TWILIO_FROM)
            .env("TWILIO_API_URL", app.twilio.base_url())
            .env(
                "TWILIO_WEBHOOK_URL",
                "https://a1b2c3d4e5.execute-api.ca-central-1.amazonaws.com/api/twilio/sms/webhook",
            )
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let answer = match runtime
        .invoke(fixture("twilio-webhook", &app), Duration::from_secs(30))
        .await
    {
        Ok(Outcome::Response(answer)) => answer,
        other => panic!("twilio-webhook: {other:?}"),
    };
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(answer["headers"]["content-type"], "text/xml; charset=utf-8", "{answer}");
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE provider = 'twilio' AND direction = 'inbound'")
            .await,
        1
    );
}
