//! `cargo run -p pedro-tests --bin pedro-fakes`: the tests' fake VoIP.ms and fake OpenAI on
//! loopback, with a few calls and recordings of the last hours, for trying `pedro serve` end to end
//! on a machine with no accounts (the README's walk-through). Prints the settings to give
//! `pedro serve`, then serves until stopped. Nothing here is used by the product.

use chrono::{Duration, Utc};
use pedro_tests::fakes::openai::{ChatReply, FakeOpenAi};
use pedro_tests::fakes::voipms::{recording_id, CdrRow, FakeVoipMs, Recording, DEFAULT_ACCOUNT};
use pedro_tests::mp3;

const USER: &str = "demo@example.com";
const PASSWORD: &str = "demo-password";
const DID: &str = "5145550100";
const OPENAI_KEY: &str = "sk-demo-key";

#[tokio::main]
async fn main() {
    let voipms = FakeVoipMs::start(USER, PASSWORD).await;
    voipms.add_did(DID);
    let now = Utc::now().naive_utc();
    let answered = now - Duration::minutes(50);
    voipms.add_cdr(CdrRow::inbound("demo-1", answered, "4385550199", DID, "ANSWERED", 20));
    voipms.add_recording(Recording {
        id: recording_id("demo-recording-1"),
        datetime: answered + Duration::seconds(3),
        destination: DID.into(),
        incoming: true,
        account: DEFAULT_ACCOUNT.into(),
        duration_secs: 20,
        mp3: mp3::silence(20.0),
    });
    voipms.add_cdr(CdrRow::inbound(
        "demo-2",
        now - Duration::minutes(20),
        "4385550123",
        DID,
        "NO ANSWER",
        0,
    ));
    voipms.add_cdr(CdrRow::outbound(
        "demo-3",
        now - Duration::minutes(10),
        DID,
        "4385550123",
        "ANSWERED",
        45,
    ));

    let openai = FakeOpenAi::start(OPENAI_KEY).await;
    openai.set_transcript(
        "Hi, this is Maria Lopez. My tooth is broken and it really hurts. Can you call me back at 514 555 0123?",
    );

    // What a model would make of that call (one answer: the demo has one recording).
    openai.push_chat_reply(ChatReply::Content(
        serde_json::json!({
            "schemaVersion": 1,
            "summary": "Maria Lopez has a broken, painful tooth and asks to be called back.",
            "request": "emergency", "urgency": "emergency", "mentionedTimes": [],
            "phoneNumbers": ["+15145550123"], "names": ["Maria Lopez"], "callbackRequested": true,
            "followUpActions": ["Call Maria Lopez back at +15145550123 today"]
        })
        .to_string(),
    ));

    println!("Fake VoIP.ms and fake OpenAI are running. Start pedro with:\n");
    println!("VOIPMS_USERNAME={USER} VOIPMS_PASSWORD={PASSWORD} VOIPMS_DID={DID} \\");
    println!(
        "VOIPMS_API_URL={} VOIPMS_ACCOUNT={DEFAULT_ACCOUNT} \\",
        voipms.api_url()
    );
    println!(
        "ENABLE_TRANSCRIPTION=true OPENAI_API_KEY={OPENAI_KEY} OPENAI_BASE_URL={} \\",
        openai.base_url()
    );
    println!("  cargo run --bin pedro -- serve --insecure-no-auth\n");
    println!("(Ctrl-C stops the fakes.)");
    let _ = tokio::signal::ctrl_c().await;
}
