//! Receiving a text (from the webhook or the 15-minute check). In one transaction it is stored
//! exactly once per carrier id, consent and the automatic answer are decided, and the answer is
//! stored as `queued`; the queue's worker sends it. No carrier is called here, so the webhook
//! answers VoIP.ms at once, and a redelivery finds everything already decided.
//!
//! Nothing a carrier delivered is dropped: an unusual sender is stored as it came, NUL characters are
//! replaced visibly, and a text to a number no practice owns is kept for an operator.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::app::AppContext;
use crate::auth::Caller;
use crate::db::{self, DbError};
use crate::domain::auto_reply::{render_reply, Category, ReplyKind};
use crate::domain::compliance::{compliance_keyword, ComplianceKeyword};
use crate::domain::phone::{Did, PhoneNumber, Sender};
use crate::domain::practice::Practice;
use crate::domain::review::Flag;
use crate::queue::Task;
use crate::sms::gateway::Provider;
use crate::store::inbound::{self, InboundContext};
use crate::store::messages::{self, Origin};
use crate::store::{replies, unrouted};

/// Longest inbound text stored whole; carriers deliver far less (1600 at most).
pub const MAX_INBOUND_CHARS: usize = 10_000;
const MAX_PROVIDER_ID_CHARS: usize = 100;
/// A sender that is not a phone number is stored as it came, up to this length.
const MAX_SENDER_CHARS: usize = 64;

pub struct InboundText {
    pub to: String,
    pub from: String,
    pub message: String,
    pub provider: Provider,
    pub provider_id: String,
    /// The carrier's date for the text, verbatim (kept for the record).
    pub provider_date: Option<String>,
    /// The text's own time when the caller already knows it (check-sms reads it from getSMS);
    /// otherwise it is read from `provider_date`, and failing that the arrival time stands in.
    pub sent_at: Option<DateTime<Utc>>,
    pub media: Vec<String>,
    pub received_at: DateTime<Utc>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AutoResponse {
    pub category: &'static str,
    /// True when a reply is waiting in the queue for the worker.
    pub queued: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundOutcome {
    /// `queued` when an automatic reply waits in the queue, `stored` otherwise, `unrouted` for a
    /// text to a number no practice owns (kept for an operator).
    pub status: &'static str,
    pub conversation_id: Option<Uuid>,
    pub message_id: Option<Uuid>,
    pub duplicate: bool,
    pub auto_response: Option<AutoResponse>,
    pub needs_review: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error("`id` is required: the carrier's message id (at most 100 characters)")]
    BadProviderId,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for InboundError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e.into())
    }
}

/// Reads a carrier's date: `YYYY-MM-DD HH:MM:SS` in `zone` (VoIP.ms's form), RFC 3339, or Unix
/// seconds. None for anything else.
pub fn parse_carrier_date(value: &str, zone: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Some(at.with_timezone(&Utc));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S") {
        return zone
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc));
    }
    if value.len() >= 9 && value.chars().all(|c| c.is_ascii_digit()) {
        return DateTime::from_timestamp(value.parse().ok()?, 0);
    }
    None
}

/// A carrier's message id we can key a text by: 1–100 characters, no NUL.
pub fn is_valid_provider_id(id: &str) -> bool {
    let id = id.trim();
    !id.is_empty() && id.chars().count() <= MAX_PROVIDER_ID_CHARS && !id.contains('\0')
}

/// Replaces NUL (which Postgres text cannot hold) with a visible replacement character.
fn without_nul(value: &str) -> (String, bool) {
    if value.contains('\0') {
        (value.replace('\0', "\u{FFFD}"), true)
    } else {
        (value.to_string(), false)
    }
}

/// The text as it will be stored, and what about the delivery itself a person should know.
struct Cleaned {
    body: String,
    media: Vec<String>,
    provider_date: Option<String>,
    sender: Result<Sender, String>,
    own_time: DateTime<Utc>,
    note: Option<Flag>,
}

fn clean(ctx: &AppContext, text: &InboundText) -> Cleaned {
    let mut notes = Vec::new();
    let (mut body, nul) = without_nul(&text.message);
    if nul {
        notes.push("contained NUL characters (shown as \u{FFFD})");
    }
    if body.chars().count() > MAX_INBOUND_CHARS {
        body = body.chars().take(MAX_INBOUND_CHARS).collect();
        notes.push("was longer than 10,000 characters and was cut");
    }
    let media = text
        .media
        .iter()
        .map(|m| without_nul(m).0)
        .filter(|m| !m.is_empty())
        .collect();
    let provider_date = text.provider_date.as_deref().map(|d| without_nul(d).0);
    let sender = Sender::parse(&text.from).map_err(|_| {
        let raw: String = without_nul(text.from.trim()).0.chars().take(MAX_SENDER_CHARS).collect();
        if raw.is_empty() {
            "(no sender)".to_string()
        } else {
            raw
        }
    });
    let parsed = text
        .sent_at
        .or_else(|| parse_carrier_date(provider_date.as_deref()?, ctx.settings.carrier_date_timezone));
    // A date in the future is a clock or zone error: the arrival time is the better guess.
    let own_time = parsed
        .filter(|at| *at <= text.received_at + Duration::minutes(5))
        .unwrap_or(text.received_at);
    let note = (!notes.is_empty()).then(|| Flag::attention(format!("this text {}", notes.join(" and "))));
    Cleaned {
        body,
        media,
        provider_date,
        sender,
        own_time,
        note,
    }
}

/// Stores and decides a text whose delivery needs no credential (the 15-minute check, Twilio's
/// signed webhook).
pub async fn receive(ctx: &AppContext, text: InboundText) -> Result<InboundOutcome, InboundError> {
    match receive_admitted(ctx, text, async |_, _| Ok(Gate::<std::convert::Infallible>::Admit)).await? {
        Received::Done(outcome) => Ok(outcome),
        Received::Refused(never) => match never {},
    }
}

/// Whether a delivery may be stored, decided by the caller from the practice's context.
pub enum Gate<R> {
    Admit,
    Refuse(R),
}

pub enum Received<R> {
    Done(InboundOutcome),
    /// The gate refused: nothing was written.
    Refused(R),
}

/// Stores and decides a text in one transaction, after `admit` has accepted its delivery in that
/// same transaction: it gets the context read for the text's DID (None when no practice owns it),
/// so checking the delivery's credential costs no statement of its own.
pub async fn receive_admitted<R, F>(ctx: &AppContext, text: InboundText, admit: F) -> Result<Received<R>, InboundError>
where
    F: AsyncFnOnce(&tokio_postgres::Transaction<'_>, Option<&InboundContext>) -> Result<Gate<R>, DbError>,
{
    let provider_id = text.provider_id.trim();
    if !is_valid_provider_id(provider_id) {
        return Err(InboundError::BadProviderId);
    }
    let cleaned = clean(ctx, &text);
    // VoIP.ms numbers texts and MMS apart, so one id may name one of each: an MMS is keyed apart.
    let mms_key;
    let provider_id = if text.provider == Provider::VoipMs && !cleaned.media.is_empty() {
        mms_key = format!("mms:{provider_id}");
        mms_key.as_str()
    } else {
        provider_id
    };
    let contact = match &cleaned.sender {
        Ok(sender) => sender.as_str().to_string(),
        Err(raw) => raw.clone(),
    };
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &Caller::service()).await?;
    let did = Did::parse(&text.to).ok();
    let context = match &did {
        Some(did) => inbound::context(&*tx, did.as_e164(), &contact, ctx.clock.now()).await?,
        None => None,
    };
    if let Gate::Refuse(refusal) = admit(&tx, context.as_ref()).await? {
        tx.rollback().await?;
        return Ok(Received::Refused(refusal));
    }
    let (Some(context), Some(did)) = (context, did) else {
        let reason = "no practice owns the number it was sent to";
        let new = unrouted::UnroutedText {
            received_at: text.received_at,
            provider: text.provider.as_str(),
            provider_message_id: provider_id,
            to_number: &without_nul(text.to.trim()).0,
            from_number: &without_nul(text.from.trim()).0,
            body: &cleaned.body,
            media_urls: &cleaned.media,
            reason,
        };
        let stored = unrouted::record(&*tx, &new).await?;
        tx.commit().await?;
        tracing::warn!(
            provider = text.provider.as_str(),
            stored,
            "text to a number no practice owns; kept for an operator"
        );
        return Ok(Received::Done(InboundOutcome {
            status: "unrouted",
            conversation_id: None,
            message_id: None,
            duplicate: !stored,
            auto_response: None,
            needs_review: true,
        }));
    };
    let practice = &context.practice;
    let stored = inbound::store(
        &*tx,
        &inbound::NewText {
            practice_id: practice.id,
            did: did.as_e164(),
            contact: &contact,
            body: &cleaned.body,
            media_urls: &cleaned.media,
            occurred_at: cleaned.own_time,
            arrived_at: text.received_at,
            origin: text.origin.as_str(),
            provider: text.provider.as_str(),
            provider_message_id: provider_id,
            provider_date: cleaned.provider_date.as_deref(),
        },
    )
    .await?;
    let conversation_id = stored.conversation_id;
    let Some(message_id) = stored.message_id else {
        // Stored (and decided) by an earlier delivery: nothing to do, and the thread's count undone.
        tx.rollback().await?;
        // The same connection: taking a second while holding this one could starve the pool
        // when many duplicates race.
        let stored = messages::find_inbound(&**client, practice.id, text.provider.as_str(), provider_id)
            .await?
            .ok_or_else(|| DbError::NoRow("duplicate inbound text vanished".into()))?;
        tracing::info!(message_id = %stored.id, origin = text.origin.as_str(), "duplicate delivery ignored");
        return Ok(Received::Done(InboundOutcome {
            status: "stored",
            conversation_id: Some(stored.conversation_id),
            message_id: Some(stored.id),
            duplicate: true,
            auto_response: None,
            needs_review: stored.needs_review,
        }));
    };
    let mut decision = match &cleaned.sender {
        Ok(Sender::Number(number)) => decide(ctx, &*tx, &context, number, &cleaned).await?,
        Ok(Sender::ShortCode(_)) => {
            Decision::flag(Flag::attention("sent from a short code; never answered automatically"))
        }
        Err(_) => Decision::flag(Flag::attention(
            "the sender is not a phone number (it is stored as the carrier gave it); never answered automatically",
        )),
    };
    let mut flag = cleaned
        .note
        .clone()
        .map(|note| note.max(decision.flag.clone()))
        .or(decision.flag.clone());
    let consent_reply = matches!(decision.category, Some("optout" | "optin"));
    let reply = decision.reply.as_deref().map(|body| inbound::Reply {
        body,
        at: decision.decided_at,
        unless_opted_out: (!consent_reply).then_some(contact.as_str()),
    });
    let reply_id = inbound::settle(
        &*tx,
        practice.id,
        conversation_id,
        message_id,
        decision.category,
        flag.as_ref(),
        reply.as_ref(),
    )
    .await?;
    if reply.is_some() && reply_id.is_none() {
        // A STOP committed while this text waited for its thread: no reply, the quiet period given
        // back, and the text flagged as any text from an opted-out contact is.
        let opted_out = Flag::attention("contact has opted out of texts; answer by phone if needed");
        flag = Some(opted_out.max(flag));
        decision.not_sent = Some("contact has opted out".into());
        inbound::settle(
            &*tx,
            practice.id,
            conversation_id,
            message_id,
            decision.category,
            flag.as_ref(),
            None,
        )
        .await?;
        if let Some(kind) = decision.category.and_then(ReplyKind::parse) {
            replies::release_auto_reply(&*tx, practice.id, &contact, kind, decision.decided_at).await?;
        }
    }
    // A queue in this database takes the reply in this transaction: stored and queued, or neither.
    let same_transaction_queue = ctx.queue.database_queue().filter(|_| reply_id.is_some());
    if let (Some(queue), Some(reply_id)) = (same_transaction_queue, reply_id) {
        queue.enqueue_in(&*tx, &Task::SendText { message_id: reply_id }).await?;
    }
    tx.commit().await?;
    drop(client);
    let from = match &cleaned.sender {
        Ok(sender) => sender.masked(),
        Err(_) => "unusual".to_string(),
    };
    tracing::info!(message_id = %message_id, from = %from, origin = text.origin.as_str(), queued = reply_id.is_some(), "text received");
    match (reply_id, same_transaction_queue) {
        (Some(_), Some(queue)) => queue.wake(),
        (Some(reply_id), None) => super::delivery::queue(ctx.queue.as_ref(), reply_id).await,
        (None, _) => {}
    }
    Ok(Received::Done(InboundOutcome {
        status: if reply_id.is_some() { "queued" } else { "stored" },
        conversation_id: Some(conversation_id),
        message_id: Some(message_id),
        duplicate: false,
        auto_response: decision.category.map(|category| AutoResponse {
            category,
            queued: reply_id.is_some(),
            reason: decision.not_sent,
        }),
        needs_review: flag.is_some(),
    }))
}

/// What was decided about a new text.
#[derive(Default)]
struct Decision {
    category: Option<&'static str>,
    /// The reply text to queue.
    reply: Option<String>,
    /// Why the category's reply is not sent, when it is not.
    not_sent: Option<String>,
    flag: Option<Flag>,
    decided_at: DateTime<Utc>,
}

impl Decision {
    fn flag(flag: Flag) -> Self {
        Self {
            flag: Some(flag),
            ..Self::default()
        }
    }

    fn raise(&mut self, flag: Flag) {
        self.flag = Some(flag.max(self.flag.take()));
    }
}

async fn decide(
    ctx: &AppContext,
    tx: &impl db::Conn,
    context: &InboundContext,
    number: &PhoneNumber,
    text: &Cleaned,
) -> Result<Decision, DbError> {
    let practice = &context.practice;
    let now = ctx.clock.now();
    let mut decision = Decision {
        decided_at: now,
        ..Decision::default()
    };
    if context.sender_is_own_did {
        decision.raise(Flag::attention(
            "sent from one of our own numbers; never answered automatically",
        ));
        return Ok(decision);
    }
    let max_age = Duration::from_std(ctx.settings.auto_reply_max_age).unwrap_or(Duration::minutes(60));
    let age = now - text.own_time;
    let too_old = age > max_age;
    let rules = &context.rules;
    let keyword = compliance_keyword(&text.body);
    // Consent follows the texts' own times, whatever order they arrive in.
    let consent_reply = match keyword {
        Some(ComplianceKeyword::OptOut) => {
            let changed = replies::opt_out(tx, practice.id, number.as_e164(), text.own_time).await?;
            tracing::info!(contact = %number.masked(), changed, "opt-out received");
            decision.category = Some(ReplyKind::OptOut.as_str());
            if compliance_word_is_cancel(&text.body) {
                decision.raise(Flag::delivery(
                    "opted out by texting CANCEL: they may have meant to cancel an appointment",
                ));
            }
            Some((ReplyKind::OptOut, changed))
        }
        Some(ComplianceKeyword::OptIn) => {
            let changed = replies::opt_in(tx, practice.id, number.as_e164(), text.own_time).await?;
            if changed {
                tracing::info!(contact = %number.masked(), "contact opted back in");
                decision.category = Some(ReplyKind::OptIn.as_str());
                Some((ReplyKind::OptIn, true))
            } else {
                None
            }
        }
        _ => None,
    };
    if let Some((kind, changed)) = consent_reply {
        if !changed {
            decision.not_sent = Some("consent unchanged (already so, or a later text decided otherwise)".into());
        } else if too_old {
            decision.not_sent = Some("too old for an automatic reply".into());
        } else {
            queue_reply(&mut decision, kind, rules, practice, now);
        }
        return Ok(decision);
    }
    // Read with the context at the transaction's start. A STOP in this thread committed while this
    // text waited for the thread's row is caught when the reply is written (`Reply::unless_opted_out`).
    let opted_out = context.sender_opted_out;
    let kind = match keyword {
        Some(ComplianceKeyword::Help) => Some(ReplyKind::Help),
        _ => rules.classifier.classify(&text.body).map(ReplyKind::Topic),
    };
    decision.category = kind.map(|k| k.as_str());
    if kind == Some(ReplyKind::Topic(Category::Emergency)) {
        decision.raise(Flag::emergency());
    }
    if opted_out {
        decision.raise(Flag::attention(
            "contact has opted out of texts; answer by phone if needed",
        ));
        decision.not_sent = kind.map(|_| "contact has opted out".to_string());
        return Ok(decision);
    }
    let Some(kind) = kind else {
        decision.raise(Flag::attention("no automatic answer matched"));
        return Ok(decision);
    };
    if too_old {
        decision.raise(Flag::attention(format!(
            "written {} minutes before it reached us; too old for an automatic reply",
            age.num_minutes()
        )));
        decision.not_sent = Some("too old for an automatic reply".into());
        return Ok(decision);
    }
    let quiet = Duration::hours(i64::from(practice.auto_reply_quiet_hours));
    if !replies::claim_auto_reply(tx, practice.id, number.as_e164(), kind, now, quiet).await? {
        decision.raise(Flag::attention("asked again after an automatic reply; needs a person"));
        decision.not_sent = Some(format!(
            "already answered automatically in the last {} hours",
            practice.auto_reply_quiet_hours
        ));
        return Ok(decision);
    }
    queue_reply(&mut decision, kind, rules, practice, now);
    if decision.reply.is_none() {
        // Nothing will be sent (a fact is missing): the quiet period must not hold back the answer
        // once the practice fills it in.
        replies::release_auto_reply(tx, practice.id, number.as_e164(), kind, now).await?;
    }
    Ok(decision)
}

/// Whether an opt-out came as CANCEL, which in a clinic often means an appointment.
fn compliance_word_is_cancel(body: &str) -> bool {
    body.trim()
        .trim_end_matches(['.', '!', '?'])
        .trim()
        .eq_ignore_ascii_case("cancel")
}

fn queue_reply(
    decision: &mut Decision,
    kind: ReplyKind,
    rules: &replies::RuleSet,
    practice: &Practice,
    now: DateTime<Utc>,
) {
    let Some(template) = rules.templates.get(&kind) else {
        decision.not_sent = Some("no reply text is configured for this category".into());
        return;
    };
    // A reply with a hole in it ("Our office is at ."): not sent; a person answers instead.
    match render_reply(kind, template, practice, now) {
        Ok(body) => decision.reply = Some(body),
        Err(missing) => {
            decision.raise(Flag::attention(missing.to_string()));
            decision.not_sent = Some(missing.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carrier_dates_in_every_form_we_may_meet() {
        let utc = chrono_tz::UTC;
        let expected = Utc.with_ymd_and_hms(2026, 11, 25, 15, 4, 5).unwrap();
        assert_eq!(parse_carrier_date("2026-11-25 15:04:05", utc), Some(expected));
        assert_eq!(parse_carrier_date(" 2026-11-25T10:04:05-05:00 ", utc), Some(expected));
        assert_eq!(
            parse_carrier_date(&expected.timestamp().to_string(), utc),
            Some(expected)
        );
        assert_eq!(
            parse_carrier_date("2026-11-25 10:04:05", chrono_tz::America::Toronto),
            Some(expected)
        );
        for bad in ["", "yesterday", "2026-13-01 00:00:00", "12"] {
            assert_eq!(parse_carrier_date(bad, utc), None, "{bad}");
        }
    }

    #[test]
    fn nul_is_replaced_visibly() {
        assert_eq!(without_nul("a\0b"), ("a\u{FFFD}b".to_string(), true));
        assert_eq!(without_nul("ab"), ("ab".to_string(), false));
    }

    #[test]
    fn cancel_is_recognised_as_the_whole_text() {
        assert!(compliance_word_is_cancel(" Cancel. "));
        assert!(!compliance_word_is_cancel("stop"));
    }
}
