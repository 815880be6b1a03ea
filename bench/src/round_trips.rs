//! Round trips: statements, waits and transactions per operation, counted on the wire between the
//! app and Postgres by the test harness's protocol-reading proxy, over the same operations the
//! round-trip test pins (`pedro_tests::round_trips`). Counts, not times: they do not drift.

use pedro_tests::round_trips::{measure_operations, measuring_app};

use crate::table::Row;
use crate::Ctx;

/// Issue 12's goal for an inbound text.
const INBOUND_STATEMENTS: u64 = 8;

pub async fn round_trips(_ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    // The harness's app: a fresh database (on DATABASE_URL's server), the sandbox carrier.
    let app = measuring_app().await;
    let measured = measure_operations(&app).await;
    let mut rows = Vec::new();
    for m in measured {
        let status = m.answer["status"].as_u64().unwrap_or_default();
        anyhow::ensure!((200..300).contains(&status), "{}: answered {}", m.operation, m.answer);
        let t = &m.traffic;
        let figure = format!(
            "{} statements, {} waits, {} transaction{}",
            t.statements,
            t.round_trips,
            t.transactions,
            if t.transactions == 1 { "" } else { "s" }
        );
        let row = Row::new(format!("round trips: {}", m.operation), figure);
        rows.push(if m.operation.starts_with("inbound text, answered") {
            row.goal(
                format!("1 transaction, ≤ {INBOUND_STATEMENTS} statements"),
                t.transactions == 1 && t.statements <= INBOUND_STATEMENTS,
            )
        } else {
            row
        });
    }
    Ok(rows)
}
