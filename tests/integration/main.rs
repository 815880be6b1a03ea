//! The one integration-test binary: real Postgres, the real router and jobs, fakes of the carriers.

mod fake_twilio;
mod fake_voipms;
mod webhook;
