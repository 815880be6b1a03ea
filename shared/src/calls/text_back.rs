//! Missed-call text-back: a caller who reached no one (no answer, busy) gets one text from the
//! practice, within minutes, with the 15-minute job.
//!
//! Only when the practice turned it on; only for calls missed within its time limit (a backfill
//! of old history never texts); only to a US/Canadian number (what VoIP.ms can text); never to an
//! opted-out number; not when the caller has since been answered (either way) or staff already
//! texted them; and at most once per caller per practice per local day, claimed atomically. A
//! caller id can be spoofed: at most [`MAX_PER_RUN`] texts per practice per run, so a burst of
//! forged missed calls cannot turn the practice's number into a spam source.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::sync::{import_calls, CallCounts, SyncError};
use crate::app::AppContext;
use crate::auth::Caller;
use crate::db::{self, Conn, DbError};
use crate::store::messages::{self, NewOutbound, Origin};
use crate::store::{conversations, practices};

#[derive(Debug, Default, Clone, Serialize)]
pub struct TextBackReport {
    /// Practices with text-back on.
    pub practices: usize,
    /// The recent call history read for them.
    pub calls: CallCounts,
    /// Texts queued to missed callers.
    pub sent: usize,
    /// Missed callers already texted today.
    pub already_texted_today: usize,
}

/// The most missed-call texts one practice sends per 15-minute run.
pub const MAX_PER_RUN: usize = 20;

/// A missed call that may get a text.
struct Candidate {
    call_id: Uuid,
    practice_id: Uuid,
    did: String,
    contact: String,
    body: String,
    local_day: NaiveDate,
}

/// Reads the recent call history of practices with text-back on, then texts their missed callers.
pub async fn run(ctx: &AppContext) -> Result<TextBackReport, SyncError> {
    let mut report = TextBackReport::default();
    let Some(voipms) = &ctx.voipms else {
        return Ok(report);
    };
    let now = ctx.clock.now();
    let (enabled, all_dids, longest) = {
        let mut client = ctx.conn().await?;
        let tx = db::begin_as(&mut client, &Caller::service()).await?;
        let enabled = enabled_practices(&*tx).await?;
        let mut all_dids = HashMap::new();
        for (practice, dids) in practices::all_with_dids(&*tx).await? {
            for did in dids {
                all_dids.insert(did, practice.id);
            }
        }
        tx.commit().await.map_err(DbError::from)?;
        let longest = enabled.values().copied().max().unwrap_or(0);
        (enabled, all_dids, longest)
    };
    report.practices = enabled.len();
    if enabled.is_empty() {
        return Ok(report);
    }
    // The job runs every 15 minutes: read a little more than the longest time limit.
    let window = (now - Duration::minutes(i64::from(longest) + 30), now);
    let in_scope: HashSet<Uuid> = enabled.keys().copied().collect();
    report.calls = import_calls(ctx, voipms, window, &all_dids, &in_scope).await?.total;
    let (sent, already) = text_missed_callers(ctx, now).await?;
    report.sent = sent;
    report.already_texted_today = already;
    Ok(report)
}

/// Practices with text-back on, and their time limit in minutes.
async fn enabled_practices(conn: &impl Conn) -> Result<HashMap<Uuid, i32>, DbError> {
    let rows = db::query(
        conn,
        "SELECT id, missed_call_text_back_minutes FROM practices WHERE missed_call_text_back",
        &[],
    )
    .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// NANP area codes VoIP.ms cannot text, or should not: toll-free numbers (a business, not a
/// patient's phone) and the Caribbean and Atlantic countries of the plan (international texts).
/// US territories (Puerto Rico, the Virgin Islands, Guam...) stay: they are US numbers.
fn not_textable_area_codes() -> Vec<String> {
    [
        "800", "833", "844", "855", "866", "877", "888", // toll-free
        "242", "246", "264", "268", "284", "345", "441", "473", "649", "658", "664", "721", "758", "767", "784", "809",
        "829", "849", "868", "869", "876",
    ]
    .iter()
    .map(|c| c.to_string())
    .collect()
}

async fn candidates(conn: &impl Conn, now: DateTime<Utc>) -> Result<Vec<Candidate>, DbError> {
    let rows = db::query(
        conn,
        "SELECT c.id, c.practice_id, c.did, c.contact, p.name, p.missed_call_text_back_template AS template, \
                (c.started_at AT TIME ZONE p.timezone)::date AS local_day \
         FROM phone_calls c JOIN practices p ON p.id = c.practice_id \
         WHERE p.missed_call_text_back AND c.direction = 'inbound' AND c.disposition IN ('no_answer', 'busy') \
           AND c.text_back_message_id IS NULL \
           AND c.started_at <= $1 AND c.started_at >= $1 - make_interval(mins => p.missed_call_text_back_minutes) \
           AND c.contact ~ '^\\+1[2-9][0-9]{2}[2-9][0-9]{6}$' \
           AND substr(c.contact, 3, 3) <> ALL ($2) \
           AND NOT EXISTS (SELECT 1 FROM practice_dids d WHERE d.did = c.contact) \
           AND NOT EXISTS (SELECT 1 FROM sms_opt_outs o WHERE o.practice_id = c.practice_id AND o.contact = c.contact) \
           AND NOT EXISTS (SELECT 1 FROM phone_calls a WHERE a.practice_id = c.practice_id AND a.contact = c.contact \
                           AND a.started_at > c.started_at AND a.disposition = 'answered') \
           AND NOT EXISTS (SELECT 1 FROM sms_messages m JOIN sms_conversations t ON t.id = m.conversation_id \
                           WHERE t.practice_id = c.practice_id AND t.contact = c.contact \
                             AND m.direction = 'outbound' AND m.origin IN ('api', 'missed_call') \
                             AND m.occurred_at > c.started_at) \
         ORDER BY c.started_at",
        &[&now, &not_textable_area_codes()],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let name: String = r.get("name");
            let template: String = r.get("template");
            Candidate {
                call_id: r.get("id"),
                practice_id: r.get("practice_id"),
                did: r.get("did"),
                contact: r.get("contact"),
                body: template.replace("{practice}", &name),
                local_day: r.get("local_day"),
            }
        })
        .collect())
}

/// Texts each missed caller once; returns (texts queued, callers already texted that day).
async fn text_missed_callers(ctx: &AppContext, now: DateTime<Utc>) -> Result<(usize, usize), DbError> {
    let list = {
        let mut client = ctx.conn().await?;
        let tx = db::begin_as(&mut client, &Caller::service()).await?;
        let list = candidates(&*tx, now).await?;
        tx.commit().await?;
        list
    };
    let (mut sent, mut already) = (0, 0);
    let mut per_practice: HashMap<Uuid, usize> = HashMap::new();
    for candidate in list {
        let count = per_practice.entry(candidate.practice_id).or_default();
        if *count >= MAX_PER_RUN {
            tracing::warn!(practice = %candidate.practice_id, "missed-call text-back capped for this run");
            continue;
        }
        *count += 1;
        let mut client = ctx.conn().await?;
        let tx = db::begin_as(&mut client, &Caller::service()).await?;
        let conversation_id =
            conversations::ensure(&*tx, candidate.practice_id, &candidate.did, &candidate.contact, now).await?;
        let message_id = messages::insert_outbound(
            &*tx,
            &NewOutbound {
                practice_id: candidate.practice_id,
                conversation_id,
                body: &candidate.body,
                occurred_at: now,
                origin: Origin::MissedCall,
                category: None,
                reply_to_id: None,
            },
        )
        .await?;
        let claimed = db::query_opt(
            &*tx,
            "INSERT INTO missed_call_text_backs (practice_id, contact, local_day, call_id, message_id, sent_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1",
            &[
                &candidate.practice_id,
                &candidate.contact,
                &candidate.local_day,
                &candidate.call_id,
                &message_id,
                &now,
            ],
        )
        .await?
        .is_some();
        if !claimed {
            // Someone texted this caller today already: nothing of this attempt stays.
            tx.rollback().await?;
            already += 1;
            continue;
        }
        conversations::record_message(&*tx, conversation_id, now, &candidate.body, false).await?;
        db::execute(
            &*tx,
            "UPDATE phone_calls SET text_back_message_id = $3 WHERE practice_id = $1 AND id = $2",
            &[&candidate.practice_id, &candidate.call_id, &message_id],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(call = %candidate.call_id, message_id = %message_id, "missed caller texted back");
        crate::sms::delivery::queue(ctx.queue.as_ref(), message_id).await;
        sent += 1;
    }
    Ok((sent, already))
}
