//! The fake VoIP.ms checked by clients nobody here wrote: the PyPI packages `voipms-api` and
//! `voipms` (tests/python/voipms_clients.py) build real requests against it and parse its answers.
//! `scripts/python-deps.sh` installs them.

use base64::Engine as _;
use chrono::{NaiveDateTime, Utc};
use pedro_tests::fakes::voipms::{recording_id, CdrRow, FakeVoipMs, InboundSms, Recording};
use pedro_tests::mp3;

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

/// The python of the virtual environment scripts/python-deps.sh keeps, with both clients in it.
async fn python_with_clients() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
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
    python
}

#[tokio::test]
async fn third_party_python_clients_read_the_fake_as_they_read_voipms() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = python_with_clients().await;

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

/// Call history and recordings through the same clients: `voipms`'s own getCDR wrapper (it
/// checks its arguments and maps `no_cdr` to an error) and `voipms-api`'s generic GET and
/// multipart POST for the recordings methods, which neither package wraps. Python's default
/// base64 decoder skips the whitespace in `base64file`, as a lenient client would.
const CALL_HISTORY_SCRIPT: &str = r#"
import base64, os, re, warnings
import voipms, voipms_api.general

warnings.simplefilter("ignore", DeprecationWarning)
URL, USER, PASSWORD = os.environ["FAKE_URL"], os.environ["FAKE_USER"], os.environ["FAKE_PASSWORD"]

client = voipms.VoipMs(USER, PASSWORD)
client.base_url = f"{URL}?api_username={USER}&api_password={PASSWORD}&"
client.post_url = URL
got = client.calls.get.cdr("2025-06-09", "2025-06-09", -5, answered=True)
rows = got["cdr"]
assert [r["uniqueid"] for r in rows] == ["12964421x41098i8c"], rows
row = rows[0]
assert row["date"] == "2025-06-09 21:30:00", row["date"]
assert re.search(r"<(\d+)>", row["callerid"]).group(1) == os.environ["PATIENT"], row["callerid"]
assert (row["disposition"], row["duration"], row["seconds"]) == ("ANSWERED", "00:01:05", "65"), row
try:
    client.calls.get.cdr("2025-06-10", "2025-06-10", -5, answered=True)
except TypeError as error:
    assert str(error) == "There are no CDR entries for the filter", error
else:
    raise AssertionError("no_cdr was not reported")
print("ok: voipms getCDR")

api = voipms_api.general.General(USER, PASSWORD, timeout=10)
api.voipms_url = URL
listing = api.get("getCallRecordings", {"account": "100000_VoIP", "date_from": "2025-06-01",
                                         "date_to": "2025-06-30", "call_type": "incoming",
                                         "start": 0, "length": 10})
assert listing["status"] == "success", listing
[rec] = listing["recordings"]
assert rec["callrecording"] == os.environ["RECORDING_ID"] and rec["type"] == "Incoming", rec
one = api.post("getCallRecording", {"account": "100000_VoIP", "callrecording": rec["callrecording"]})
assert one["status"] == "success" and one["callrecording"] == rec["callrecording"], one["status"]
assert base64.b64decode(one["base64file"]) == base64.b64decode(os.environ["EXPECTED_MP3"])
print("ok: voipms-api getCallRecordings and getCallRecording")
print("all checks passed")
"#;

fn utc(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("datetime")
}

#[tokio::test]
async fn third_party_python_clients_read_call_history_and_recordings() {
    let python = python_with_clients().await;
    let fake = FakeVoipMs::start(USER, PASS).await;
    // 02:30 UTC on the 10th is 21:30 on the 9th at the UTC-5 the script asks for.
    fake.add_cdr(CdrRow::inbound(
        "12964421x41098i8c",
        utc("2025-06-10 02:30:00"),
        PATIENT,
        DID,
        "ANSWERED",
        65,
    ));
    let mp3 = mp3::with_id3v2(&mp3::silence(2.0));
    let rec = Recording {
        id: recording_id("100000-4385550199-5145550100-IN-1749522600"),
        datetime: utc("2025-06-10 02:30:00"),
        destination: DID.into(),
        incoming: true,
        account: "100000_VoIP".into(),
        duration_secs: 2,
        mp3: mp3.clone(),
    };
    fake.add_recording(rec.clone());

    let output = tokio::process::Command::new(&python)
        .args(["-c", CALL_HISTORY_SCRIPT])
        .env("FAKE_URL", fake.api_url())
        .env("FAKE_USER", USER)
        .env("FAKE_PASSWORD", PASS)
        .env("PATIENT", PATIENT)
        .env("RECORDING_ID", &rec.id)
        .env("EXPECTED_MP3", base64::engine::general_purpose::STANDARD.encode(&mp3))
        .output()
        .await
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
    // One download, by the multipart POST.
    assert_eq!(fake.recording_fetches(&rec.id), 1);
    assert_eq!(fake.calls("getCallRecording").len(), 1);
}
