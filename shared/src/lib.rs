//! Pedro VoIP: the phone and text backend of a clinic, on VoIP.ms.
//!
//! All behaviour lives here. The Lambda binaries (`functions/`) and the `pedro` command (`cli/`)
//! only wire it up, so the tests exercise what production runs.

pub mod analytics;
pub mod app;
pub mod audio;
pub mod auth;
pub mod blob;
pub mod calls;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod facts;
pub mod http;
pub mod jobs;
pub mod lambda;
pub mod local_pg;
pub mod queue;
pub mod sms;
pub mod store;
pub mod transcribe;
pub mod voipms;
pub mod webhook_secret;
pub mod worker;
