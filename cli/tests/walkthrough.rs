//! The README's walk-through against the real `pedro` binary, as a newcomer runs it: no
//! DATABASE_URL (so it starts its own Postgres), no carrier credentials (sandbox), then a clean
//! shutdown that stops that Postgres again.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn serve_runs_the_whole_system_with_its_own_database() {
    let data_dir = std::env::temp_dir().join(format!("pedro-walkthrough-{}", std::process::id()));
    let port = free_port();
    std::fs::create_dir_all(&data_dir).unwrap();
    let log_path = data_dir.join("pedro.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pedro"))
        .args(["serve", "--insecure-no-auth"])
        .env_remove("DATABASE_URL")
        .env_remove("VOIPMS_USERNAME")
        .env_remove("VOIPMS_DID")
        .env_remove("SUPABASE_JWT_SECRET")
        .env_remove("SUPABASE_JWKS_URL")
        .env("PORT", port.to_string())
        .env("PEDRO_DATA_DIR", &data_dir)
        .env("RUST_LOG", "info")
        .stdout(std::fs::File::create(&log_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pedro serve");
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

    // 1. A patient texts; the webhook stores it and queues the automatic answer (the worker in
    //    the same process sends it, into the sandbox).
    let inbound: Value = http
        .post(format!("{base}/api/voip/sms/webhook"))
        .json(&json!({"from": "+14385550199", "message": "What are your hours?", "id": "sms_1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inbound["status"], "queued", "{inbound}");
    assert_eq!(
        inbound["autoResponse"],
        json!({"category": "office_hours", "queued": true})
    );
    // 2. VoIP.ms's GET form answers exactly "ok".
    let ok = http
        .get(format!(
            "{base}/api/voip/sms/webhook?to=5145550100&from=4385550199&message=my+tooth+is+bleeding&id=2"
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(ok, "ok");
    // 3. Staff send a text; without credentials it is stored, marked not sent.
    let sent = http
        .post(format!("{base}/api/voip/sms/send"))
        .json(&json!({"to": "438-555-0199", "message": "See you tomorrow at 9!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);
    assert_eq!(sent.json::<Value>().await.unwrap()["status"], "sandboxed");
    // 4. The thread is flagged (an emergency), then reviewed.
    let list: Value = http
        .get(format!("{base}/api/voip/sms/conversations?needsReview=true"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = list["conversations"][0]["id"]
        .as_str()
        .expect("a flagged conversation")
        .to_string();
    let messages: Value = http
        .get(format!("{base}/api/voip/sms/conversations/{id}/messages"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        messages["messages"].as_array().unwrap().len(),
        5,
        "2 in, 2 automatic replies, 1 sent: {messages}"
    );
    // The queue's worker runs inside `pedro serve`: the automatic replies leave the queue.
    let started = Instant::now();
    loop {
        let messages: Value = http
            .get(format!("{base}/api/voip/sms/conversations/{id}/messages"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let outbound: Vec<&str> = messages["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["direction"] == "outbound")
            .map(|m| m["status"].as_str().unwrap())
            .collect();
        if outbound.iter().all(|s| *s == "sandboxed") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "replies still waiting: {outbound:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reviewed: Value = http
        .post(format!("{base}/api/voip/sms/conversations/{id}/review"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reviewed["needsReview"], false);

    // SIGTERM: a clean stop that takes the private Postgres down too.
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "pedro serve exited with {status}");
    assert!(
        !data_dir.join("postgres/postmaster.pid").exists(),
        "private Postgres still running"
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_dir_all(&data_dir);
    log_names_its_events_and_hides_patients(&log);
}

/// Reads the process's log as a log query or metric filter would: each line one JSON object, a
/// repeated key keeping its last value. The events keep their names; no number or text leaks.
fn log_names_its_events_and_hides_patients(log: &str) {
    let events: Vec<Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let named = |name: &str| {
        events
            .iter()
            .find(|e| e["fields"]["message"] == name)
            .unwrap_or_else(|| panic!("no {name:?} event in the log:\n{log}"))
    };
    let received = named("text received");
    assert_eq!(received["level"], "INFO");
    assert_eq!(
        received["fields"]["message_id"].as_str().map(str::len),
        Some(36),
        "the stored text's id: {received}"
    );
    named("text sent");
    for private in [
        "4385550199",
        "What are your hours",
        "tooth is bleeding",
        "See you tomorrow",
    ] {
        assert!(!log.contains(private), "{private:?} is in the log:\n{log}");
    }
}

#[test]
fn serve_will_not_run_open_without_being_told_to() {
    let out = Command::new(env!("CARGO_BIN_EXE_pedro"))
        .arg("serve")
        .env_remove("SUPABASE_JWT_SECRET")
        .env_remove("SUPABASE_JWKS_URL")
        .env("PORT", free_port().to_string())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SUPABASE_JWT_SECRET") && stderr.contains("--insecure-no-auth"),
        "{stderr}"
    );
}
