//! The fake VoIP.ms checked by clients nobody here wrote: the PyPI packages `voipms-api` and
//! `voipms` (tests/python/voipms_clients.py) build real requests against it and parse its answers.
//! `scripts/python-deps.sh` installs them.

use chrono::Utc;
use pedro_tests::fakes::voipms::{FakeVoipMs, InboundSms};

const USER: &str = "clinic@example.com";
const PASS: &str = "s3cret-api-pw";
const DID: &str = "5145550100";
const PATIENT: &str = "4385550199";
const MEDIA: [&str; 2] = ["https://voip.ms/media.php?map=a1", "https://voip.ms/media.php?map=b2"];

fn received(id: &str, message: &str) -> InboundSms {
    InboundSms {
        id: id.into(),
        date: Utc::now().naive_utc(),
        did: DID.into(),
        contact: PATIENT.into(),
        message: message.into(),
        media: None,
    }
}

#[tokio::test]
async fn third_party_python_clients_read_the_fake_as_they_read_voipms() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // The virtual environment scripts/python-deps.sh keeps (it prints its python).
    let deps = tokio::process::Command::new(root.join("../scripts/python-deps.sh"))
        .output()
        .await
        .expect("run scripts/python-deps.sh");
    assert!(deps.status.success(), "{}", String::from_utf8_lossy(&deps.stderr));
    let python = String::from_utf8_lossy(&deps.stdout).trim().to_string();
    let installed = tokio::process::Command::new(&python)
        .args(["-c", "import voipms, voipms_api"])
        .status()
        .await
        .is_ok_and(|s| s.success());
    assert!(
        installed,
        "the Python VoIP.ms clients are missing: run scripts/python-deps.sh"
    );

    let fake = FakeVoipMs::start(USER, PASS).await;
    fake.add_did(DID);
    fake.add_received_sms(received("7001", "Are you open Saturday?"));
    fake.add_received_mms(received("9001", "Here is the x-ray"), &MEDIA);

    let output = tokio::process::Command::new(&python)
        .arg(root.join("python/voipms_clients.py"))
        .env("FAKE_URL", fake.api_url())
        .env("FAKE_USER", USER)
        .env("FAKE_PASSWORD", PASS)
        .env("DID", DID)
        .env("PATIENT", PATIENT)
        .env("SMS_ID", "7001")
        .env("MMS_ID", "9001")
        .env("MEDIA_1", MEDIA[0])
        .env("MEDIA_2", MEDIA[1])
        .output()
        .await
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
    // Both clients really sent: two texts stored.
    assert_eq!(fake.sent_sms().len(), 2, "{stdout}");
}
