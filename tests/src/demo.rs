//! The fakes the README's calls walk-through runs `pedro serve` against (`pedro-fakes`), with a
//! few calls of the last hour and one recording: shared by that binary and the CLI test that
//! walks the same path.

use chrono::{Duration, Utc};

use crate::fakes::openai::{ChatReply, FakeOpenAi};
use crate::fakes::voipms::{recording_id, CdrRow, FakeVoipMs, Recording, DEFAULT_ACCOUNT};
use crate::mp3;

pub const USER: &str = "demo@example.com";
pub const PASSWORD: &str = "demo-password";
pub const DID: &str = "5145550100";
pub const OPENAI_KEY: &str = "sk-demo-key";
/// What the caller says in the recorded call.
pub const TRANSCRIPT: &str =
    "Hi, this is Maria Lopez. My tooth is broken and it really hurts. Can you call me back at 514 555 0123?";

pub struct Demo {
    pub voipms: FakeVoipMs,
    pub openai: FakeOpenAi,
}

impl Demo {
    pub async fn start() -> Self {
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
        openai.set_transcript(TRANSCRIPT);
        // What a model would make of that call (one answer: there is one recording).
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
        Self { voipms, openai }
    }

    /// The settings that point `pedro serve` at these fakes.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("VOIPMS_USERNAME", USER.into()),
            ("VOIPMS_PASSWORD", PASSWORD.into()),
            ("VOIPMS_DID", DID.into()),
            ("VOIPMS_API_URL", self.voipms.api_url()),
            ("VOIPMS_ACCOUNT", DEFAULT_ACCOUNT.into()),
            ("ENABLE_TRANSCRIPTION", "true".into()),
            ("OPENAI_API_KEY", OPENAI_KEY.into()),
            ("OPENAI_BASE_URL", self.openai.base_url()),
        ]
    }
}
