//! Analytics: 1M calls and 3M texts over a year; the 30- and 365-day figures read as the endpoint
//! reads them (an admin's transaction, row-level security, rollups then the live tables), against
//! the same aggregate statements sent directly by the table owner.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use chrono_tz::Tz;
use pedro_voip::auth::Caller;
use pedro_voip::db;
use pedro_voip::store::analytics as store;
use uuid::Uuid;

use crate::datagen::{bulk_load, threads, WORDS};
use crate::search::{app, member};
use crate::table::{ms, percentile, ratio, secs, Row};
use crate::{pg, Ctx};

const DID: &str = "+15145550400";
const ZONE: Tz = chrono_tz::America::Toronto;
const SLOW: Duration = Duration::from_secs(5);

async fn generate(ctx: &Ctx, practice: Uuid, calls: usize, messages: usize) -> anyhow::Result<()> {
    let client = pg::connect(&ctx.db_url).await?;
    let contacts = (messages / 100).max(1);
    let mut load = threads(&practice.to_string(), DID, contacts, "+1451", "analytics_threads");
    // Calls in office hours (13:00–23:00 UTC is 8:00–18:00 in Toronto, give or take an hour).
    load.push(format!(
        "INSERT INTO phone_calls (practice_id, voipms_uniqueid, direction, did, contact, started_at, duration_seconds, \
           billable_seconds, disposition, completed, synced_at, updated_at) \
         SELECT '{practice}', 'analytics-' || g, CASE WHEN x.r < 0.6 THEN 'inbound' ELSE 'outbound' END, '{DID}', \
           '+1451' || lpad((1 + g % {contacts})::text, 7, '0'), x.at, \
           CASE WHEN x.d < 0.7 THEN (x.r * 900)::int ELSE 0 END, CASE WHEN x.d < 0.7 THEN (x.r * 900)::int ELSE 0 END, \
           CASE WHEN x.d < 0.7 THEN 'answered' WHEN x.d < 0.9 THEN 'no_answer' WHEN x.d < 0.97 THEN 'busy' ELSE 'failed' END, \
           x.d < 0.7 AND (x.r * 900)::int > 0, x.at, x.at \
         FROM generate_series(1, {calls}) g \
         CROSS JOIN LATERAL (SELECT random() AS r, random() AS d, date_trunc('day', now()) \
           - floor(random() * 365) * interval '1 day' + (13 + random() * 10) * interval '1 hour' + g * interval '0 s' AS at) x"
    ));
    load.push(format!(
        "INSERT INTO sms_messages (practice_id, conversation_id, direction, body, occurred_at, arrived_at, origin, provider, \
           provider_message_id, status, auto_response_category, needs_review, review_reason, reviewed_at) \
         SELECT '{practice}', t.id, CASE WHEN x.inbound THEN 'inbound' ELSE 'outbound' END, \
           w.cores[1 + floor(x.r * array_length(w.cores, 1))::int], x.at, x.at, \
           CASE WHEN x.inbound THEN 'webhook' WHEN x.o < 0.4 THEN 'auto_reply' WHEN x.o < 0.9 THEN 'api' ELSE 'missed_call' END, \
           'voipms', CASE WHEN x.inbound THEN 'analytics-' || g END, \
           CASE WHEN x.inbound THEN 'received' WHEN x.s < 0.85 THEN 'sent' WHEN x.s < 0.90 THEN 'failed' \
                WHEN x.s < 0.95 THEN 'sandboxed' WHEN x.s < 0.98 THEN 'queued' WHEN x.s < 0.99 THEN 'unknown' ELSE 'cancelled' END, \
           CASE WHEN x.o < 0.4 THEN (ARRAY['appointment', 'emergency', 'office_hours', 'location', 'insurance'])[1 + floor(x.r * 5)::int] END, \
           x.inbound AND x.f < 0.02, CASE WHEN x.inbound AND x.f < 0.1 THEN 'no automatic answer matched' END, \
           CASE WHEN x.inbound AND x.f >= 0.02 AND x.f < 0.1 THEN x.at + x.r * interval '4 hours' END \
         FROM generate_series(1, {messages}) g \
         CROSS JOIN ({WORDS}) w \
         CROSS JOIN LATERAL (SELECT g % 2 = 0 AS inbound, random() AS r, random() AS o, random() AS s, random() AS f, \
           date_trunc('day', now()) - floor(random() * 365) * interval '1 day' + (12 + random() * 12) * interval '1 hour' \
             + g * interval '0 s' AS at) x \
         JOIN analytics_threads t ON t.n = 1 + g % {contacts}"
    ));
    load.push(format!(
        "INSERT INTO sms_opt_outs (practice_id, contact, opted_out_at) \
         SELECT '{practice}', '+1451' || lpad(g::text, 7, '0'), now() - random() * interval '365 days' \
         FROM generate_series(1, {contacts}, 97) g"
    ));
    bulk_load(
        ctx,
        &client,
        &format!("analytics data ({calls} calls, {messages} texts)"),
        &["sms_conversations", "sms_messages", "phone_calls", "sms_opt_outs"],
        &load,
    )
    .await
}

fn days(last: NaiveDate, n: u64) -> Vec<NaiveDate> {
    (0..n).rev().map(|back| last - chrono::Days::new(back)).collect()
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let calls = ctx.n(1_000_000, 1_000);
    let messages = ctx.n(3_000_000, 3_000);
    let practice = crate::create_practice(ctx, DID, "Analytics bench").await?;
    let started = Instant::now();
    generate(ctx, practice, calls, messages).await?;
    ctx.log(format!("analytics data ready in {}", secs(started.elapsed())));
    let app = app(ctx)?;
    let caller = member(practice, "admin")?;
    let owner = pg::connect(&ctx.db_url).await?;
    let today = chrono::Utc::now().with_timezone(&ZONE).date_naive();
    // The plans of the 30-day statements, both ways.
    let explained = async {
        let (client, notices) = pg::connect_with_notices(&ctx.db_url).await?;
        pg::auto_explain(&client).await?;
        store::live_days(&client, practice, ZONE, &days(today, 30)).await?;
        let owner_plans = pg::top_of_plans(&notices.lock().unwrap(), 10);
        client
            .batch_execute(&format!(
                "BEGIN; SET LOCAL ROLE authenticated; SELECT set_config('request.jwt.claims', '{}', true)",
                caller.claims.to_string().replace('\'', "''")
            ))
            .await?;
        notices.lock().unwrap().clear();
        store::live_days(&client, practice, ZONE, &days(today, 30)).await?;
        client.batch_execute("COMMIT").await?;
        let member_plans = pg::top_of_plans(&notices.lock().unwrap(), 10);
        ctx.log_only(format!(
            "analytics plans, 30 days, table owner (the floor):\n{owner_plans}analytics plans, 30 days, as an admin (row-level security):\n{member_plans}"
        ));
        anyhow::Ok(())
    }
    .await;
    if let Err(error) = explained {
        ctx.log(format!("no plans: {error:#}"));
    }
    let mut rows = Vec::new();
    for (span, repeats) in [(30u64, 5usize), (365, 3)] {
        let range = days(today, span);
        let in_range: (i64, i64) = {
            let row = owner
                .query_one(
                    "SELECT (SELECT count(*) FROM phone_calls WHERE practice_id = $1 AND started_at >= $2), \
                            (SELECT count(*) FROM sms_messages WHERE practice_id = $1 AND occurred_at >= $2)",
                    &[&practice, &pedro_voip::http::day_range::start_of_day(range[0], ZONE)],
                )
                .await?;
            (row.get(0), row.get(1))
        };
        let (mut real, mut floor): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
        // One untimed read each way first; when that took longer than SLOW it is the one sample
        // (repeating reads of minutes would only make the run longer).
        for round in 0..=repeats {
            let mut client = app.conn().await?;
            let started = Instant::now();
            // As the endpoint reads: its reader, the practice filtered by id.
            let tx = db::begin_as(&mut client, &Caller::practice_filtered_reader()).await?;
            let mut figures = store::rollups(&*tx, practice, ZONE, range[0], today, today).await?;
            let live: Vec<NaiveDate> = range.iter().copied().filter(|d| !figures.contains_key(d)).collect();
            figures.extend(store::live_days(&*tx, practice, ZONE, &live).await?);
            tx.commit().await?;
            let r = started.elapsed();
            drop(client);
            let started = Instant::now();
            store::live_days(&owner, practice, ZONE, &range).await?;
            let f = started.elapsed();
            if round > 0 || r.max(f) > SLOW {
                real.push(r);
                floor.push(f);
            }
            if r.max(f) > SLOW {
                break;
            }
        }
        let repeats = real.len();
        let (p95, floor95) = (
            percentile(&mut real, 95.0).unwrap_or_default(),
            percentile(&mut floor, 95.0).unwrap_or_default(),
        );
        let r = ratio(p95, floor95);
        ctx.log(format!(
            "analytics {span} days ({} calls, {} texts in range): p95 {} vs floor {} over {repeats} reads",
            in_range.0,
            in_range.1,
            ms(p95),
            ms(floor95)
        ));
        rows.push(
            Row::new(
                format!(
                    "analytics, {span} days ({} calls, {} texts in range): p95 of {repeats}",
                    in_range.0, in_range.1
                ),
                ms(p95),
            )
            .floor(format!("{} (same statements, table owner)", ms(floor95)))
            .ratio(r)
            .goal("≤ 1.5 × floor", r <= 1.5),
        );
    }
    Ok(rows)
}
