//! Calls: the history synced from VoIP.ms, recordings kept in the object store, missed-call
//! text-back, deletion and retention. Transcription requests go through the queue port.

pub mod facts;
pub mod fetch;
pub mod removal;
pub mod sync;
pub mod text_back;
pub mod transcribe;
pub mod transcription_request;
