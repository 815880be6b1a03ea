//! ===== ROUND TRIPS — placeholder, to be filled in with the counting database proxy =====
//!
//! Issue 12's row "statements and transactions per operation: inbound text, staff send, thread
//! list, history page, search, analytics" (goal: inbound text 1 transaction, ≤ 8 statements).
//! The counts come from the counting proxy in `tests/src/db_proxy.rs` and its round-trip test;
//! `round_trips` returns one row per operation. Until then it points at that test.

use crate::table::Row;
use crate::Ctx;

pub async fn round_trips(_ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    Ok(vec![Row::new("round trips per operation", "see round-trip test")])
}
