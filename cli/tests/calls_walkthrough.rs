//! The README's calls walk-through against the real `pedro` binary: `pedro serve` pointed at the
//! fake VoIP.ms and fake OpenAI of `pedro-fakes` (no DATABASE_URL, so its own Postgres); a sync,
//! the call listed, its recording stored, transcribed, summarised, downloaded through the signed
//! link and found by search.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pedro_tests::demo::Demo;
use serde_json::{json, Value};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn serve_syncs_transcribes_summarises_and_finds_a_call() {
    let demo = Demo::start().await;
    let data_dir = std::env::temp_dir().join(format!("pedro-calls-walkthrough-{}", std::process::id()));
    std::fs::create_dir_all(&data_dir).unwrap();
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_pedro"));
    command
        .args(["serve", "--insecure-no-auth", "--port", &port.to_string()])
        .env_remove("DATABASE_URL")
        .env_remove("SUPABASE_JWT_SECRET")
        .env_remove("SUPABASE_JWKS_URL")
        .env_remove("PUBLIC_BASE_URL")
        .env("PEDRO_DATA_DIR", &data_dir)
        .env("RUST_LOG", "info")
        .stdout(std::fs::File::create(data_dir.join("pedro.log")).unwrap())
        .stderr(Stdio::null());
    for (name, value) in demo.env() {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("start pedro serve");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("{base}/health")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "pedro serve did not come up"
        );
        assert!(child.try_wait().unwrap().is_none(), "pedro serve exited early");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The sync (it also runs at start-up: either way the calls are there once).
    let synced: Value = http
        .post(format!("{base}/api/voip/sync"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(synced["calls"]["fetched"], 3, "{synced}");
    let today = chrono::Utc::now().date_naive();
    let (from, to) = (today - chrono::Days::new(1), today + chrono::Days::new(1));
    let history: Value = http
        .get(format!("{base}/api/voip/calls/history?dateFrom={from}&dateTo={to}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history["calls"].as_array().unwrap().len(), 3, "{history}");
    let recorded = history["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["recordingCount"] == 1)
        .expect("the recorded call");
    let call_id = recorded["id"].as_str().unwrap().to_string();

    // The worker in the same process transcribes and summarises it.
    let started = Instant::now();
    let recording = loop {
        let listed: Value = http
            .get(format!("{base}/api/voip/calls/recordings?callId={call_id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let recording = listed["recordings"][0].clone();
        // Key facts are stored first, then the transcript and `completed`.
        if recording["transcriptionStatus"] == "completed" {
            break recording;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not transcribed: {listed}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(recording["status"], "stored");
    assert_eq!(recording["transcriptionStatus"], "completed");
    assert_eq!(recording["transcript"]["text"], pedro_tests::demo::TRANSCRIPT);
    assert_eq!(recording["keyFacts"]["source"], "llm");
    assert_eq!(recording["keyFacts"]["facts"]["request"], "emergency");

    // Its audio, through the signed link this process serves.
    let link: Value = http
        .get(format!(
            "{base}/api/voip/calls/recording/{}",
            recording["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&base), "{url}");
    let audio = http.get(url).send().await.unwrap();
    assert_eq!(audio.status(), 200);
    assert_eq!(
        audio.bytes().await.unwrap().len() as i64,
        recording["sizeBytes"].as_i64().unwrap()
    );

    // And search finds it.
    let found: Value = http
        .get(format!("{base}/api/voip/search?q=broken%20tooth"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hit = found["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["kind"] == "transcript")
        .unwrap_or_else(|| panic!("{found}"));
    assert_eq!(hit["callId"], call_id.as_str());

    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "pedro serve exited with {status}");
    // The log says what happened (a recording stored and transcribed, facts stored) but never
    // what was said, nor a caller's whole number.
    let log = std::fs::read_to_string(data_dir.join("pedro.log")).unwrap();
    let _ = std::fs::remove_dir_all(&data_dir);
    for event in ["recording stored", "recording transcribed", "call facts stored"] {
        assert!(log.contains(event), "the log lacks {event:?}");
    }
    for secret in [
        "Maria",
        "tooth",
        "hurts",
        "5145550123",
        "514 555 0123",
        "4385550199",
        "4385550123",
    ] {
        assert!(!log.contains(secret), "the log shows {secret:?}");
    }
}
