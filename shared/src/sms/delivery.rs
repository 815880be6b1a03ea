//! Delivering one stored outbound text, part by part, so that it reaches the patient at most once
//! and always completely when it can.
//!
//! Each part is written before a carrier is called (`sending`) and updated with the answer, so a
//! crash or a retry resumes exactly where the last attempt stopped. A carrier that refuses a part
//! (or cannot be reached) leaves it unsent: the fallback carrier sends the rest of the text. A
//! carrier whose answer is lost (a time-out after the request left, a dropped connection) may have
//! sent it: the carrier's own list of sent texts is read before anything is resent, and a part that
//! still cannot be accounted for is never resent; the text is marked `unknown` and flagged.

use chrono::{DateTime, Duration, Utc};
use deadpool_postgres::Pool;
use uuid::Uuid;

use super::gateway::{CarrierError, OutboundSms, Provider, SmsGateway};

/// One carrier's reason for not sending a text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProviderFailure {
    pub provider: Provider,
    pub reason: String,
}

impl ProviderFailure {
    fn new(provider: Provider, reason: impl Into<String>) -> Self {
        Self {
            provider,
            reason: reason.into(),
        }
    }
}

/// "voipms: ...; twilio: ..." for people.
pub fn summary(failures: &[ProviderFailure]) -> String {
    failures
        .iter()
        .map(|f| format!("{}: {}", f.provider.as_str(), f.reason))
        .collect::<Vec<_>>()
        .join("; ")
}
use crate::auth::Caller;
use crate::clock::Clock;
use crate::db::{self, DbError};
use crate::domain::auto_reply::ReplyKind;
use crate::domain::phone::{Did, PhoneNumber};
use crate::domain::review::Flag;
use crate::domain::segment::{split_message, VOIPMS_PART_LIMIT};
use crate::queue::{Task, TaskQueue};
use crate::store::parts::{self, Part, PartStatus, PartUpdate};
use crate::store::{conversations, messages, replies};

/// The carriers a text may go through, in order.
pub struct Carriers {
    pub primary: Box<dyn SmsGateway>,
    pub fallback: Option<Box<dyn SmsGateway>>,
}

impl Carriers {
    fn by_name(&self, name: Option<&str>) -> Option<&dyn SmsGateway> {
        let provider = Provider::parse(name?)?;
        std::iter::once(&self.primary)
            .chain(self.fallback.as_ref())
            .find(|c| c.provider() == provider)
            .map(|c| c.as_ref())
    }
}

/// What became of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Every part went out (`provider` finished it).
    Sent { provider: Provider, ids: Vec<String> },
    /// Nothing more will be tried: every carrier refused (flagged for a person).
    Failed { failures: Vec<ProviderFailure> },
    /// Not sent: the contact's consent changed while it waited.
    Cancelled { reason: String },
    /// A part may or may not have gone out and nobody can tell: not resent, flagged.
    Unknown { reason: String },
    /// Not settled yet (a carrier's list could not be read): try again later.
    Retry { reason: String },
    /// Settled by an earlier attempt; nothing was done.
    AlreadySettled { status: String },
}

struct Message {
    practice_id: Uuid,
    conversation_id: Uuid,
    body: String,
    status: String,
    category: Option<String>,
    occurred_at: DateTime<Utc>,
    did: String,
    contact: String,
    opted_out: bool,
}

async fn load(pool: &Pool, id: Uuid) -> Result<Option<(Message, Vec<Part>)>, DbError> {
    let client = pool.get().await?;
    let row = db::query_opt(
        &**client,
        "SELECT m.practice_id, m.conversation_id, m.body, m.status, m.auto_response_category, m.occurred_at, \
             c.did, c.contact, EXISTS (SELECT 1 FROM sms_opt_outs o WHERE o.practice_id = m.practice_id AND o.contact = c.contact) \
         FROM sms_messages m JOIN sms_conversations c ON c.id = m.conversation_id \
         WHERE m.id = $1 AND m.direction = 'outbound'",
        &[&id],
    )
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let message = Message {
        practice_id: row.get(0),
        conversation_id: row.get(1),
        body: row.get(2),
        status: row.get(3),
        category: row.get(4),
        occurred_at: row.get(5),
        did: row.get(6),
        contact: row.get(7),
        opted_out: row.get(8),
    };
    let parts = parts::load(&**client, id).await?;
    Ok(Some((message, parts)))
}

/// Why a text must not go out now that it is its turn, judged by the contact's consent at send
/// time: an opt-out confirmation only while still opted out, anything else only while not.
fn consent_blocks(message: &Message) -> Option<&'static str> {
    let kind = message.category.as_deref().and_then(ReplyKind::parse);
    match kind {
        Some(ReplyKind::OptOut) if !message.opted_out => Some("the contact opted back in before it was sent"),
        Some(ReplyKind::OptOut) => None,
        _ if message.opted_out => Some("the contact opted out before it was sent"),
        _ => None,
    }
}

/// Where each part starts in the text (parts are its slices, in order).
fn offsets(body: &str, parts: &[Part]) -> Vec<usize> {
    let mut cursor = 0;
    parts
        .iter()
        .map(|p| {
            let at = body[cursor..].find(p.body.as_str()).map_or(cursor, |i| cursor + i);
            cursor = at + p.body.len();
            at
        })
        .collect()
}

/// How long a delivery holds its claim on a text (longer than the worker's time limit).
const DELIVERY_LEASE: Duration = Duration::minutes(2);

/// A carrier may list a text it took only a little later: "not listed" proves nothing sooner.
const LISTING_DELAY: Duration = Duration::minutes(1);

/// Hands a stored text to the queue for the worker. If the queue does not take it, the text stays
/// `queued` and the 15-minute housekeeping hands it over again: late, never lost.
pub async fn queue(queue: &dyn TaskQueue, message_id: Uuid) {
    if let Err(error) = queue.enqueue(&Task::SendText { message_id }).await {
        tracing::error!(message_id = %message_id, %error, "text stored but not queued; housekeeping will queue it");
    }
}

/// Delivers stored outbound message `id`. `last_attempt` settles what is still open (an unknown
/// outcome is recorded and flagged) instead of asking for a retry.
pub async fn deliver(
    pool: &Pool,
    carriers: &Carriers,
    clock: &dyn Clock,
    id: Uuid,
    last_attempt: bool,
) -> Result<Delivered, DbError> {
    let Some((message, mut parts)) = load(pool, id).await? else {
        return Err(DbError::NoRow(format!("outbound message {id}")));
    };
    if !matches!(message.status.as_str(), "queued" | "sending") {
        return Ok(Delivered::AlreadySettled { status: message.status });
    }
    // One delivery at a time: two running at once could both find a part not yet listed by the
    // carrier and both send it. The claim lapses by itself if its worker dies.
    let now = clock.now();
    let claimed = {
        let client = pool.get().await?;
        db::query_opt(
            &**client,
            "UPDATE sms_messages SET delivering_until = $2 WHERE id = $1 \
             AND (delivering_until IS NULL OR delivering_until <= $3) RETURNING 1",
            &[&id, &(now + DELIVERY_LEASE), &now],
        )
        .await?
        .is_some()
    };
    if !claimed {
        return Ok(Delivered::Retry {
            reason: "another worker is delivering it".into(),
        });
    }
    if let Some(reason) = consent_blocks(&message) {
        return settle(pool, id, &message, Delivered::Cancelled { reason: reason.into() }).await;
    }
    let (Ok(did), Ok(to)) = (Did::parse(&message.did), PhoneNumber::parse(&message.contact)) else {
        let failure = ProviderFailure::new(carriers.primary.provider(), "the thread's numbers cannot be texted");
        return settle(
            pool,
            id,
            &message,
            Delivered::Failed {
                failures: vec![failure],
            },
        )
        .await;
    };
    if parts.is_empty() {
        let bodies: Vec<String> = match carriers.primary.part_limit() {
            Some(limit) => split_message(&message.body, limit)
                .into_iter()
                .map(str::to_string)
                .collect(),
            None => vec![message.body.clone()],
        };
        let client = pool.get().await?;
        parts::create(&**client, message.practice_id, id, &bodies).await?;
        db::execute(
            &**client,
            "UPDATE sms_messages SET status = 'sending' WHERE id = $1 AND status = 'queued'",
            &[&id],
        )
        .await?;
        parts = parts::load(&**client, id).await?;
    }
    let run = Run {
        pool,
        carriers,
        clock,
        id,
        message: &message,
        did: &did,
        to: &to,
        last_attempt,
    };
    let outcome = run.send_parts(&mut parts).await?;
    settle(pool, id, &message, outcome).await
}

struct Run<'a> {
    pool: &'a Pool,
    carriers: &'a Carriers,
    clock: &'a dyn Clock,
    id: Uuid,
    message: &'a Message,
    did: &'a Did,
    to: &'a PhoneNumber,
    last_attempt: bool,
}

impl Run<'_> {
    async fn mark(&self, parts: std::ops::RangeInclusive<i32>, update: PartUpdate<'_>) -> Result<(), DbError> {
        let client = self.pool.get().await?;
        parts::update(&**client, self.id, parts, &update).await
    }

    /// Records a carrier's answer for `parts`, in the database and in hand.
    async fn record(&self, parts: &mut [Part], update: PartUpdate<'_>) -> Result<(), DbError> {
        let range = parts[0].index..=parts[parts.len() - 1].index;
        self.mark(range, update).await?;
        for part in parts.iter_mut() {
            part.status = update.status;
            part.provider = Some(update.provider.to_string());
            if update.status == PartStatus::Sent {
                part.provider_message_id = update.provider_message_id.map(str::to_string);
            }
            if let Some(at) = update.attempted_at {
                part.attempted_at = Some(at);
            }
        }
        Ok(())
    }

    fn sms<'b>(&'b self, body: &'b str) -> OutboundSms<'b> {
        OutboundSms {
            practice_id: self.message.practice_id,
            from: self.did,
            to: self.to,
            body,
        }
    }

    /// Finds out from `carrier` whether `body` went out since `since`: the id of a sent text with
    /// these words that no other part of ours claims.
    async fn find_sent(
        &self,
        carrier: &dyn SmsGateway,
        body: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<Option<String>>, String> {
        let records = carrier.sent_since(self.did, self.to, since).await?;
        let candidates: Vec<_> = records.into_iter().filter(|r| r.body.trim() == body.trim()).collect();
        let ids: Vec<String> = candidates.iter().filter_map(|r| r.id.clone()).collect();
        let client = self.pool.get().await.map_err(|e| e.to_string())?;
        let known = parts::known_ids(&**client, self.message.practice_id, &ids)
            .await
            .map_err(|e| e.log_summary())?;
        Ok(candidates
            .into_iter()
            .find(|r| r.id.as_ref().is_none_or(|id| !known.contains(id)))
            .map(|r| r.id))
    }

    /// An unsettled part (`sending` or `unknown`): sent (None), provably not sent by its carrier,
    /// or still unknown (settled).
    async fn resolve(&self, part: &mut Part) -> Result<Option<Resolved>, DbError> {
        let provider = part.provider.clone();
        let Some(carrier) = self.carriers.by_name(provider.as_deref()) else {
            let outcome = self.unknown(part, "its carrier is no longer configured").await?;
            return Ok(Some(Resolved::Settled(outcome)));
        };
        let since = part.attempted_at.unwrap_or(self.message.occurred_at) - Duration::minutes(5);
        match self.find_sent(carrier, &part.body, since).await {
            Ok(Some(found)) => {
                tracing::info!(message_id = %self.id, part = part.index, provider = carrier.provider().as_str(), "a part whose answer was lost had gone out");
                self.mark(
                    part.index..=part.index,
                    PartUpdate {
                        status: PartStatus::Sent,
                        provider: carrier.provider().as_str(),
                        provider_message_id: found.as_deref(),
                        attempted_at: None,
                        error: None,
                    },
                )
                .await?;
                part.status = PartStatus::Sent;
                part.provider_message_id = found;
                Ok(None)
            }
            Ok(None) if self.clock.now() - part.attempted_at.unwrap_or(self.message.occurred_at) < LISTING_DELAY => {
                let why = "not in its carrier's sent list yet; looked up again later";
                Ok(Some(Resolved::Settled(self.unknown(part, why).await?)))
            }
            Ok(None) => {
                tracing::info!(message_id = %self.id, part = part.index, "a part whose answer was lost is not in the carrier's sent list; sending it");
                part.status = PartStatus::Pending;
                Ok(Some(Resolved::NotSent(ProviderFailure::new(
                    carrier.provider(),
                    "its answer was lost and the text is not in its sent list",
                ))))
            }
            Err(reason) => {
                let why = format!("its carrier's sent list could not be read: {reason}");
                Ok(Some(Resolved::Settled(self.unknown(part, &why).await?)))
            }
        }
    }

    async fn unknown(&self, part: &Part, why: &str) -> Result<Delivered, DbError> {
        let provider = part.provider.as_deref().unwrap_or("unknown");
        let reason = format!(
            "part {}: {provider} may or may not have delivered it ({why}); not resent",
            part.index + 1
        );
        self.mark(
            part.index..=part.index,
            PartUpdate {
                status: PartStatus::Unknown,
                provider,
                provider_message_id: None,
                attempted_at: None,
                error: Some(why),
            },
        )
        .await?;
        Ok(if self.last_attempt {
            Delivered::Unknown { reason }
        } else {
            Delivered::Retry { reason }
        })
    }

    async fn send_parts(&self, parts: &mut [Part]) -> Result<Delivered, DbError> {
        let offsets = offsets(&self.message.body, parts);
        let mut primary_failure: Option<ProviderFailure> = None;
        let mut index = 0;
        while index < parts.len() {
            if matches!(parts[index].status, PartStatus::Sending | PartStatus::Unknown) {
                match self.resolve(&mut parts[index]).await? {
                    None => {}
                    Some(Resolved::Settled(outcome)) => return Ok(outcome),
                    // Not sent by the carrier that had it: when that was the primary, the fallback
                    // takes the rest, as after any other failure of the primary.
                    Some(Resolved::NotSent(failure))
                        if failure.provider == self.carriers.primary.provider() && self.carriers.fallback.is_some() =>
                    {
                        primary_failure = Some(failure)
                    }
                    Some(Resolved::NotSent(_)) => {}
                }
            }
            match parts[index].status {
                PartStatus::Sent => {
                    index += 1;
                    continue;
                }
                PartStatus::Failed => {
                    let failure = ProviderFailure::new(self.carriers.primary.provider(), "a part was refused");
                    return Ok(Delivered::Failed {
                        failures: vec![failure],
                    });
                }
                _ => {}
            }
            if primary_failure.is_none() {
                match self
                    .try_carrier(&*self.carriers.primary, &mut parts[index..=index])
                    .await?
                {
                    Attempted::Sent => index += 1,
                    Attempted::Settled(outcome) => return Ok(outcome),
                    Attempted::NotSent(failure) => primary_failure = Some(failure),
                }
                continue;
            }
            // The primary carrier did not take this part: the fallback sends the rest of the text
            // in one message (it splits long texts itself).
            let first_failure = primary_failure
                .take()
                .unwrap_or_else(|| ProviderFailure::new(self.carriers.primary.provider(), "not sent"));
            let Some(fallback) = &self.carriers.fallback else {
                return Ok(Delivered::Failed {
                    failures: vec![first_failure],
                });
            };
            tracing::warn!(message_id = %self.id, part = index, "primary SMS carrier did not take the text; the fallback sends the rest");
            let rest = &self.message.body[offsets[index]..];
            return Ok(match self.try_whole(&**fallback, &mut parts[index..], rest).await? {
                Attempted::Sent => self.sent(parts),
                Attempted::Settled(outcome) => outcome,
                Attempted::NotSent(second) => Delivered::Failed {
                    failures: vec![first_failure, second],
                },
            });
        }
        Ok(self.sent(parts))
    }

    fn sent(&self, parts: &[Part]) -> Delivered {
        let provider = parts
            .last()
            .and_then(|p| p.provider.as_deref())
            .and_then(Provider::parse)
            .unwrap_or(self.carriers.primary.provider());
        let mut ids: Vec<String> = parts.iter().filter_map(|p| p.provider_message_id.clone()).collect();
        ids.dedup();
        Delivered::Sent { provider, ids }
    }

    async fn try_carrier(&self, carrier: &dyn SmsGateway, parts: &mut [Part]) -> Result<Attempted, DbError> {
        let body = parts[0].body.clone();
        self.try_whole(carrier, parts, &body).await
    }

    /// Hands `body` (covering `parts`) to `carrier` and records the answer on those parts.
    async fn try_whole(&self, carrier: &dyn SmsGateway, parts: &mut [Part], body: &str) -> Result<Attempted, DbError> {
        let provider = carrier.provider().as_str();
        let attempted_at = self.clock.now();
        fn update<'a>(
            provider: &'a str,
            attempted_at: DateTime<Utc>,
            status: PartStatus,
            provider_message_id: Option<&'a str>,
            error: Option<&'a str>,
        ) -> PartUpdate<'a> {
            PartUpdate {
                status,
                provider,
                provider_message_id,
                attempted_at: (status == PartStatus::Sending).then_some(attempted_at),
                error,
            }
        }
        self.record(parts, update(provider, attempted_at, PartStatus::Sending, None, None))
            .await?;
        let answer = match carrier.send(&self.sms(body)).await {
            Err(CarrierError::Unknown { reason }) => {
                // The carrier may have it. Its sent list is read on the next attempt, after a
                // pause (a text it accepted a moment ago may not be listed yet); on the last attempt
                // it is read now.
                tracing::warn!(message_id = %self.id, provider, %reason, "carrier's answer was lost; the text will be looked up before anything is resent");
                let error = crate::domain::phone::redact_numbers(&reason);
                self.record(
                    parts,
                    update(provider, attempted_at, PartStatus::Unknown, None, Some(&error)),
                )
                .await?;
                if !self.last_attempt {
                    return Ok(Attempted::Settled(Delivered::Retry { reason }));
                }
                match self.find_sent(carrier, body, attempted_at - Duration::minutes(5)).await {
                    Ok(Some(id)) => Ok(id),
                    // Not listed a moment after a lost answer proves nothing: never resent.
                    Ok(None) => {
                        let why = format!("{reason}; not in its sent list yet");
                        return Ok(Attempted::Settled(self.unknown(&parts[0], &why).await?));
                    }
                    Err(lookup) => {
                        let why = format!("{reason}; its sent list could not be read: {lookup}");
                        return Ok(Attempted::Settled(self.unknown(&parts[0], &why).await?));
                    }
                }
            }
            other => other,
        };
        match answer {
            Ok(id) => {
                self.record(
                    parts,
                    update(provider, attempted_at, PartStatus::Sent, id.as_deref(), None),
                )
                .await?;
                Ok(Attempted::Sent)
            }
            Err(CarrierError::NotSent {
                reason,
                recipient_opted_out,
            }) => {
                let error = crate::domain::phone::redact_numbers(&reason);
                self.record(
                    parts,
                    update(provider, attempted_at, PartStatus::Pending, None, Some(&error)),
                )
                .await?;
                if recipient_opted_out {
                    // The carrier knows the patient said STOP: nothing more goes to them, on any carrier.
                    let client = self.pool.get().await?;
                    replies::opt_out(&**client, self.message.practice_id, self.to.as_e164(), self.clock.now()).await?;
                    tracing::info!(contact = %self.to.masked(), "carrier reports the recipient opted out; recorded");
                    return Ok(Attempted::Settled(Delivered::Failed {
                        failures: vec![ProviderFailure::new(carrier.provider(), reason)],
                    }));
                }
                Ok(Attempted::NotSent(ProviderFailure::new(carrier.provider(), reason)))
            }
            Err(CarrierError::Unknown { reason }) => Ok(Attempted::Settled(self.unknown(&parts[0], &reason).await?)),
        }
    }
}

enum Resolved {
    NotSent(ProviderFailure),
    Settled(Delivered),
}

enum Attempted {
    Sent,
    NotSent(ProviderFailure),
    Settled(Delivered),
}

/// Records the outcome on the message (and flags the thread when a person must look).
async fn settle(pool: &Pool, id: Uuid, message: &Message, outcome: Delivered) -> Result<Delivered, DbError> {
    let segments = split_message(&message.body, VOIPMS_PART_LIMIT).len().max(1) as i32;
    let mut client = pool.get().await?;
    let tx = db::begin_as(&mut client, &Caller::service()).await?;
    let (status, provider, ids, error, flag): (&str, Option<&str>, Vec<String>, Option<String>, Option<Flag>) =
        match &outcome {
            Delivered::Sent { provider, ids } => {
                let status = if *provider == Provider::Sandbox {
                    "sandboxed"
                } else {
                    "sent"
                };
                (status, Some(provider.as_str()), ids.clone(), None, None)
            }
            Delivered::Failed { failures } => {
                let reason = format!("text could not be sent: {}", summary(failures));
                (
                    "failed",
                    None,
                    Vec::new(),
                    Some(reason.clone()),
                    Some(Flag::delivery(reason)),
                )
            }
            Delivered::Unknown { reason } => {
                let reason = format!("text may not have been delivered: {reason}");
                (
                    "unknown",
                    None,
                    Vec::new(),
                    Some(reason.clone()),
                    Some(Flag::delivery(reason)),
                )
            }
            Delivered::Cancelled { reason } => ("cancelled", None, Vec::new(), Some(reason.clone()), None),
            Delivered::AlreadySettled { .. } => return Ok(outcome),
            Delivered::Retry { .. } => {
                db::execute(
                    &*tx,
                    "UPDATE sms_messages SET delivering_until = NULL WHERE id = $1",
                    &[&id],
                )
                .await?;
                tx.commit().await?;
                return Ok(outcome);
            }
        };
    let ids = if ids.is_empty() {
        // What did go out before the failure, for the record.
        parts::load(&*tx, id)
            .await?
            .into_iter()
            .filter(|p| p.status == PartStatus::Sent)
            .filter_map(|p| p.provider_message_id)
            .collect()
    } else {
        ids
    };
    messages::settle_outbound(
        &*tx,
        id,
        &messages::Settled {
            status,
            provider,
            provider_message_ids: &ids,
            segments: Some(segments),
            error: error.as_deref(),
            flag: flag.as_ref(),
        },
    )
    .await?;
    if let Some(flag) = &flag {
        conversations::flag_for_review(&*tx, message.conversation_id, flag).await?;
    }
    // `unknown` may have reached the patient: it keeps its claim.
    if status == "failed" || status == "cancelled" {
        // Nothing reached the patient: the quiet period does not hold the next automatic answer back.
        if let Some(kind) = message.category.as_deref().and_then(ReplyKind::parse) {
            replies::release_auto_reply(&*tx, message.practice_id, &message.contact, kind, message.occurred_at).await?;
        }
    }
    tx.commit().await?;
    match &outcome {
        Delivered::Sent { provider, .. } => {
            tracing::info!(message_id = %id, provider = provider.as_str(), segments, "text sent")
        }
        Delivered::Cancelled { .. } => tracing::info!(message_id = %id, "text cancelled: consent changed"),
        _ => tracing::error!(message_id = %id, status, "text not delivered; flagged for a person"),
    }
    Ok(outcome)
}
