//! Repositories: every SQL statement of the application, by table.

pub mod analytics;
pub mod calls;
pub mod conversations;
pub mod inbound;
pub mod jobs;
pub mod limits;
pub mod messages;
pub mod parts;
pub mod practices;
pub mod recordings;
pub mod replies;
pub mod rules;
pub mod search;
pub mod settings;
pub mod transcripts;
pub mod twilio_routes;
pub mod unrouted;
pub mod webhook_secrets;
