//! The one integration-test binary: real Postgres, the real router and jobs, fakes of the carriers.

mod auth;
mod auto_reply;
mod auto_reply_corpus;
mod call_facts;
mod call_history;
mod call_recordings;
mod call_sync;
mod check_sms;
mod configure_webhook;

mod conversations;
mod database_tls;
mod db_reconnect;
mod delivered_texts;
mod fake_twilio;
mod fake_voipms;
mod fake_voipms_clients;
mod faults;
mod hostile_input;
mod isolation;
mod lambda_events;
mod migrations;
mod missed_call_text_back;
mod openapi;
mod rate_limits;
mod reply_queue;
mod roles;
mod send;
mod sms_gateway;
mod task_queue;
mod template;
mod twilio_inbound;
mod twilio_python;
mod voipms_client;
mod webhook;
mod webhook_secrets;
