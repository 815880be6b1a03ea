//! Fakes of the external services, real HTTP on loopback, behaving as docs/providers.md says.
//! Their own tests (integration/fake_*.rs) prove they do.

pub mod google_speech;
pub mod huggingface;
pub mod lambda_runtime;
pub mod openai;
pub mod twilio;
pub mod voipms;
