//! Call sync: the real hourly sync (`calls::sync::run`) reading 100k getCDR rows from the fake
//! VoIP.ms, twice, against `COPY` of the same rows into a bare table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use futures::SinkExt;
use pedro_tests::fakes::voipms::{CdrRow, FakeVoipMs};
use pedro_voip::app::AppContext;
use pedro_voip::calls::sync::{self, Scope};
use pedro_voip::clock::SystemClock;
use pedro_voip::config::Settings;

use crate::table::{ratio, secs, Row};
use crate::webhook::Rng;
use crate::{pg, Ctx};

const DID: &str = "5145550200";
const USER: &str = "bench@example.com";
const PASSWORD: &str = "bench-api-password";
const DAYS: i64 = 29;

/// `n` calls spread over the last 29 days: 60 % inbound; answered, no answer, busy and failed
/// in the proportions of a clinic's line; 5,000 patients.
fn history(n: usize) -> Vec<CdrRow> {
    let now = Utc::now().naive_utc();
    let step = (DAYS * 86_400) as f64 / n as f64;
    let mut rng = Rng(0xcd12);
    (0..n)
        .map(|i| {
            let at = now - chrono::Duration::seconds((i as f64 * step) as i64 + 60);
            let patient = format!("438777{:04}", rng.below(5_000));
            let (disposition, seconds) = match rng.below(100) {
                0..=69 => ("ANSWERED", 1 + rng.below(900) as u32),
                70..=89 => ("NO ANSWER", 0),
                90..=96 => ("BUSY", 0),
                _ => ("FAILED", 0),
            };
            let id = format!("{}", 30_000_000 + i);
            if rng.below(10) < 6 {
                CdrRow::inbound(&id, at, &patient, DID, disposition, seconds)
            } else {
                CdrRow::outbound(&id, at, DID, &patient, disposition, seconds)
            }
        })
        .collect()
}

/// The floor's rows: the columns `phone_calls` stores, as COPY text.
fn copy_text(practice: uuid::Uuid, rows: &[CdrRow]) -> String {
    let now = Utc::now().to_rfc3339();
    let mut out = String::with_capacity(rows.len() * 220);
    for r in rows {
        let inbound = r.description.starts_with("Inbound");
        let digits: String = r.callerid.chars().filter(char::is_ascii_digit).take(10).collect();
        let contact = if inbound { digits } else { r.destination.clone() };
        let disposition = match r.disposition.as_str() {
            "ANSWERED" => "answered",
            "NO ANSWER" => "no_answer",
            "BUSY" => "busy",
            _ => "failed",
        };
        let fields = [
            practice.to_string(),
            r.uniqueid.clone(),
            if inbound { "inbound" } else { "outbound" }.to_string(),
            format!("+1{DID}"),
            format!("+1{contact}"),
            if inbound { contact.clone() } else { "\\N".into() },
            r.date.and_utc().to_rfc3339(),
            r.seconds.to_string(),
            r.seconds.to_string(),
            disposition.to_string(),
            (disposition == "answered" && r.seconds > 0).to_string(),
            r.account.clone(),
            r.description.clone(),
            r.destination_type.clone(),
            now.clone(),
            now.clone(),
        ];
        out.push_str(&fields.join("\t"));
        out.push('\n');
    }
    out
}

async fn copy_floor(ctx: &Ctx, practice: uuid::Uuid, rows: &[CdrRow]) -> anyhow::Result<Duration> {
    let client = pg::connect(&ctx.db_url).await?;
    client
        .batch_execute(
            "DROP TABLE IF EXISTS bench_cdr_copy; CREATE TABLE bench_cdr_copy (practice_id uuid, voipms_uniqueid text, \
             direction text, did text, contact text, contact_name text, started_at timestamptz, duration_seconds int, \
             billable_seconds int, disposition text, completed bool, account text, description text, \
             destination_type text, synced_at timestamptz, updated_at timestamptz)",
        )
        .await?;
    let data = Bytes::from(copy_text(practice, rows));
    let started = Instant::now();
    let sink = client.copy_in("COPY bench_cdr_copy FROM STDIN").await?;
    futures::pin_mut!(sink);
    sink.send(data).await?;
    let copied = sink.finish().await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        copied as usize == rows.len(),
        "COPY wrote {copied} rows of {}",
        rows.len()
    );
    client.batch_execute("DROP TABLE bench_cdr_copy").await?;
    Ok(elapsed)
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let n = ctx.n(100_000, 100);
    let practice = crate::create_practice(ctx, DID, "Sync bench").await?;
    let voipms = FakeVoipMs::start(USER, PASSWORD).await;
    voipms.add_did(DID);
    let rows = history(n);
    voipms.add_cdr_rows(rows.iter().cloned());
    let env: std::collections::HashMap<&str, String> = [
        ("DATABASE_URL", ctx.db_url.clone()),
        ("VOIPMS_USERNAME", USER.into()),
        ("VOIPMS_PASSWORD", PASSWORD.into()),
        ("VOIPMS_API_URL", voipms.api_url()),
        ("VOIPMS_DID", DID.into()),
        ("VOIPMS_TIMEOUT_MS", "600000".into()),
        ("CALL_SYNC_LOOKBACK_DAYS", (DAYS + 1).to_string()),
        // The second run reads the whole history again (by default it re-reads two hours).
        ("CALL_SYNC_OVERLAP_MINUTES", ((DAYS + 2) * 24 * 60).to_string()),
    ]
    .into_iter()
    .collect();
    let settings = Settings::from_lookup(&|name| env.get(name).cloned())?;
    let app = AppContext::new(settings, Arc::new(SystemClock))?;
    // getCDR alone (the fake writing JSON, the client reading it), for the log.
    let today = Utc::now().date_naive();
    let (from, to) = pedro_voip::voipms::widened_days(today - chrono::Days::new(DAYS as u64 + 1), today);
    let fetch_started = Instant::now();
    let fetched = app
        .voipms
        .as_ref()
        .expect("credentials are set")
        .call_history(from, to)
        .await?;
    let fetch = fetch_started.elapsed();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let started = Instant::now();
        let report = sync::run(&app, Scope::All).await?;
        runs.push((started.elapsed(), report.calls));
    }
    let changed_by_second: i64 = {
        let client = pg::connect(&ctx.db_url).await?;
        let second_started = Utc::now() - chrono::Duration::from_std(runs[1].0)?;
        client
            .query_one(
                "SELECT count(*) FROM phone_calls WHERE practice_id = $1 AND updated_at >= $2",
                &[&practice, &second_started],
            )
            .await?
            .get(0)
    };
    let floor = copy_floor(ctx, practice, &rows).await?;
    let (first, second) = (&runs[0], &runs[1]);
    ctx.log(format!(
        "sync of {n} rows: getCDR fetch+parse alone {} ({} rows); first {} {:?}; second {} {:?} ({changed_by_second} rows with a newer updated_at); COPY floor {}",
        secs(fetch),
        fetched.len(),
        secs(first.0),
        first.1,
        secs(second.0),
        second.1,
        secs(floor),
    ));
    let first_ratio = ratio(first.0, floor);
    let second_ratio = ratio(second.0, floor);
    let changed = second.1.inserted + second.1.updated;
    let floor_text = format!("{} (COPY into a bare table)", secs(floor));
    Ok(vec![
        Row::new(
            format!("call sync, {n} CDR rows: first run"),
            format!(
                "{} ({} inserted; getCDR alone {})",
                secs(first.0),
                first.1.inserted,
                secs(fetch)
            ),
        )
        .floor(floor_text.clone())
        .ratio(first_ratio)
        .goal("≤ 3 × floor", first_ratio <= 3.0 && first.1.inserted == n),
        Row::new(
            "call sync: the same again",
            format!("{} ({changed} rows changed)", secs(second.0)),
        )
        .floor(floor_text)
        .ratio(second_ratio)
        .goal(
            "≤ 3 × floor, changes nothing",
            second_ratio <= 3.0 && changed == 0 && changed_by_second == 0,
        ),
    ])
}
