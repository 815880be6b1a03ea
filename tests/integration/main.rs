//! The one integration-test binary: real Postgres, the real router and jobs, fakes of the carriers.

mod auth;
mod auto_reply;
mod check_sms;
mod configure_webhook;

mod conversations;
mod database_tls;
mod fake_twilio;
mod fake_voipms;
mod faults;
mod hostile_input;
mod isolation;
mod lambda_events;
mod migrations;
mod openapi;
mod rate_limits;
mod roles;
mod send;
mod template;
mod webhook;
