//! Domain: pure rules of the clinic's phone line. No I/O, no AWS.

pub mod auto_reply;
pub mod call;
pub mod compliance;
pub mod field_error;
pub mod office_hours;
pub mod phone;
pub mod practice;
pub mod recording;
pub mod review;
pub mod segment;
pub mod settings;
