//! Text messaging: receiving (webhook and check-sms), answering automatically, sending.

pub mod delivery;
pub mod gateway;
pub mod inbound;
pub mod outbound;
pub mod twilio_inbound;
pub mod twilio_signature;
