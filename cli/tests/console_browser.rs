//! The console in a real browser: `pedro serve` (with sign-in: Supabase-style tokens, a fake
//! Supabase Auth run by the browser test) against the fakes of the calls walk-through (a recorded,
//! transcribed call; a missed one called back), seeded with texts through the webhook (an
//! emergency, one with no automatic answer, an opt-out, one made of markup), then
//! `node tests/browser/console.test.mjs` drives Debian's Chromium through sign-in and every view
//! (playwright-core, axe-core). `scripts/browser-deps.sh` installs Chromium and the npm packages
//! first. Screenshots land in `target/browser-screenshots/`.
//!
//! `PEDRO_SKIP_BROWSER_TESTS=1` skips it (loudly), for a machine that cannot install a browser.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pedro_tests::app::{service_token, JWT_SECRET};
use pedro_tests::demo::Demo;
use serde_json::{json, Value};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Stops `pedro serve` when the test ends, also when it fails.
struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

async fn get(http: &reqwest::Client, url: String) -> Value {
    let response = http.get(&url).bearer_auth(service_token()).send().await.unwrap();
    assert!(response.status().is_success(), "{url}: {}", response.status());
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_console_works_in_a_real_browser() {
    if std::env::var_os("PEDRO_SKIP_BROWSER_TESTS").is_some() {
        eprintln!("console_browser: SKIPPED (PEDRO_SKIP_BROWSER_TESTS is set)");
        return;
    }
    let root = repo_root();
    // Chromium and the npm packages, before anything is started.
    let deps = Command::new(root.join("scripts/browser-deps.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/browser-deps.sh");
    assert!(deps.status.success(), "scripts/browser-deps.sh failed");
    let chromium = String::from_utf8(deps.stdout).unwrap().trim().to_string();

    let demo = Demo::start().await;
    let data_dir = std::env::temp_dir().join(format!("pedro-console-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir).unwrap();
    let port = free_port();
    // The browser test serves a fake Supabase Auth here; pedro verifies the tokens it mints.
    let auth_port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_pedro"));
    command
        .args(["serve", "--port", &port.to_string()])
        .env_remove("DATABASE_URL")
        .env_remove("SUPABASE_JWKS_URL")
        .env_remove("SUPABASE_JWT_ISSUER")
        .env_remove("PUBLIC_BASE_URL")
        .env_remove("CONSOLE_DIR")
        .env("SUPABASE_JWT_SECRET", JWT_SECRET)
        .env("SUPABASE_URL", format!("http://127.0.0.1:{auth_port}"))
        .env("SUPABASE_ANON_KEY", "test-anon-key")
        .env("PEDRO_DATA_DIR", &data_dir)
        .env("RUST_LOG", "info")
        .stdout(std::fs::File::create(data_dir.join("pedro.log")).unwrap())
        .stderr(std::fs::File::create(data_dir.join("pedro.err")).unwrap());
    for (name, value) in demo.env() {
        command.env(name, value);
    }
    let mut serve = Serve(command.spawn().expect("start pedro serve"));
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("{base}/health")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "pedro serve did not come up"
        );
        assert!(serve.0.try_wait().unwrap().is_none(), "pedro serve exited early");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The practice pedro created for VOIPMS_DID: the fake Supabase puts it in its users' tokens.
    let said = std::fs::read_to_string(data_dir.join("pedro.err")).unwrap();
    let practice_id = said
        .split("created practice ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("pedro did not say which practice it created: {said}"))
        .to_string();

    // Calls: synced (also at start-up), the recorded one transcribed and summarised.
    let synced = http
        .post(format!("{base}/api/voip/sync"))
        .bearer_auth(service_token())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(synced.status().is_success());
    let today = chrono::Utc::now().date_naive();
    let (from, to) = (today - chrono::Days::new(1), today + chrono::Days::new(1));
    let history = get(
        &http,
        format!("{base}/api/voip/calls/history?dateFrom={from}&dateTo={to}"),
    )
    .await;
    let recorded = history["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["recordingCount"] == 1)
        .unwrap_or_else(|| panic!("no recorded call: {history}"))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let started = Instant::now();
    loop {
        let listed = get(&http, format!("{base}/api/voip/calls/recordings?callId={recorded}")).await;
        if listed["recordings"][0]["transcriptionStatus"] == "completed" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not transcribed: {listed}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Texts, as VoIP.ms delivers them.
    for (i, (from, message)) in [
        ("+14385550101", "My tooth is bleeding and my face is swollen"),
        ("+14385550102", "Can my son bring back the library book he borrowed?"),
        ("+14385550103", "STOP"),
        ("+14385550104", "<img src=x onerror=alert(1)> <b>hello</b> & goodbye"),
    ]
    .into_iter()
    .enumerate()
    {
        let response = http
            .post(format!("{base}/api/voip/sms/webhook"))
            .json(&json!({"from": from, "message": message, "id": format!("browser-seed-{i}")}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{message}: {}", response.status());
    }

    let started = Instant::now();
    let mut node = Command::new("node")
        .arg(root.join("tests/browser/console.test.mjs"))
        .arg(&base)
        .env("CHROMIUM", &chromium)
        .env("PEDRO_JWT_SECRET", JWT_SECRET)
        .env("PEDRO_PRACTICE_ID", &practice_id)
        .env("FAKE_SUPABASE_PORT", auth_port.to_string())
        .env("FAKE_SUPABASE_ANON_KEY", "test-anon-key")
        .env("SCREENSHOT_DIR", root.join("target/browser-screenshots"))
        .current_dir(&root)
        .spawn()
        .expect("run node (20 or later)");
    let status = tokio::task::spawn_blocking(move || node.wait()).await.unwrap().unwrap();
    eprintln!(
        "console_browser: the browser test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        status.success(),
        "tests/browser/console.test.mjs failed ({status}); pedro's log is in {}",
        data_dir.display()
    );

    drop(serve);
    let _ = std::fs::remove_dir_all(&data_dir);
}
