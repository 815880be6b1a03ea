//! Receiving a text (from the webhook or the 15-minute check): stored exactly once per carrier id,
//! then answered automatically at most once — or flagged for a person.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::outbound::{send_text, Purpose, SendTextError};
use crate::app::AppContext;
use crate::auth::Caller;
use crate::db;
use crate::db::DbError;
use crate::domain::auto_reply::{classify, render_reply, Category, ReplyKind};
use crate::domain::compliance::{compliance_keyword, ComplianceKeyword};
use crate::domain::phone::{Did, PhoneNumber, PhoneNumberError, Sender};
use crate::domain::practice::Practice;
use crate::store::messages::{self, NewInbound, Origin};
use crate::store::{conversations, practices, replies};

/// Longest inbound text stored; carriers deliver far less (1600 at most).
pub const MAX_INBOUND_CHARS: usize = 10_000;
const MAX_PROVIDER_ID_CHARS: usize = 100;

pub struct InboundText {
    pub to: String,
    pub from: String,
    pub message: String,
    pub provider_id: String,
    pub provider_date: Option<String>,
    pub media: Vec<String>,
    pub received_at: DateTime<Utc>,
    pub origin: Origin,
    /// False for texts found late by check-sms: a person answers those.
    pub may_auto_reply: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AutoResponse {
    pub category: &'static str,
    pub sent: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundOutcome {
    pub conversation_id: Uuid,
    pub message_id: Uuid,
    pub duplicate: bool,
    pub auto_response: Option<AutoResponse>,
    pub needs_review: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error("`to` is not a North American DID: {0}")]
    BadDid(PhoneNumberError),
    #[error("no practice uses the DID {0}")]
    UnknownDid(String),
    #[error("`from` is not a phone number or short code: {0}")]
    BadSender(PhoneNumberError),
    #[error("`id` is required: the carrier's message id (at most 100 characters)")]
    BadProviderId,
    #[error("the message is longer than {MAX_INBOUND_CHARS} characters")]
    TooLong,
    #[error("`{0}` contains a NUL character")]
    NulCharacter(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for InboundError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e.into())
    }
}

pub async fn receive(ctx: &AppContext, text: InboundText) -> Result<InboundOutcome, InboundError> {
    let provider_id = text.provider_id.trim();
    if provider_id.is_empty() || provider_id.chars().count() > MAX_PROVIDER_ID_CHARS {
        return Err(InboundError::BadProviderId);
    }
    if text.message.chars().count() > MAX_INBOUND_CHARS {
        return Err(InboundError::TooLong);
    }
    // Postgres cannot store NUL in text; refuse it here rather than fail on insert.
    let fields = [
        ("message", Some(text.message.as_str())),
        ("id", Some(provider_id)),
        ("date", text.provider_date.as_deref()),
    ];
    let media = text.media.iter().map(|m| ("media", Some(m.as_str())));
    if let Some((name, _)) = fields
        .into_iter()
        .chain(media)
        .find(|(_, v)| v.is_some_and(|v| v.contains('\0')))
    {
        return Err(InboundError::NulCharacter(name));
    }
    let did = Did::parse(&text.to).map_err(InboundError::BadDid)?;
    let sender = Sender::parse(&text.from).map_err(InboundError::BadSender)?;

    // Carrier deliveries and jobs act as the service role.
    let service = Caller::service();
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &service).await?;
    let practice = practices::for_did(&*tx, did.as_e164())
        .await?
        .ok_or_else(|| InboundError::UnknownDid(did.as_e164().to_string()))?;
    let conversation_id =
        conversations::ensure(&*tx, practice.id, did.as_e164(), sender.as_str(), text.received_at).await?;
    let new = NewInbound {
        practice_id: practice.id,
        conversation_id,
        body: &text.message,
        media_urls: text.media.clone(),
        occurred_at: text.received_at,
        origin: text.origin,
        provider_message_id: provider_id,
        provider_date: text.provider_date.as_deref(),
    };
    let (message_id, conversation_id, duplicate) = match messages::insert_inbound(&*tx, &new).await? {
        Some(message_id) => {
            conversations::record_message(&*tx, conversation_id, text.received_at, &text.message, true).await?;
            tx.commit().await?;
            tracing::info!(message_id = %message_id, from = %sender.masked(), origin = text.origin.as_str(), "text received");
            (message_id, conversation_id, false)
        }
        None => {
            tx.rollback().await?;
            let tx = db::begin_as(&mut client, &service).await?;
            let stored = messages::find_inbound(&*tx, practice.id, provider_id)
                .await?
                .ok_or_else(|| DbError::NoRow("duplicate inbound text vanished".into()))?;
            // Answered already, or being answered by a delivery still running: nothing to do.
            let take_over = !stored.answered && messages::claim_answering(&*tx, stored.id).await?;
            tx.commit().await?;
            if !take_over {
                tracing::info!(message_id = %stored.id, origin = text.origin.as_str(), "duplicate delivery ignored");
                return Ok(InboundOutcome {
                    conversation_id: stored.conversation_id,
                    message_id: stored.id,
                    duplicate: true,
                    auto_response: None,
                    needs_review: stored.needs_review,
                });
            }
            // Stored by an earlier delivery that stopped before answering: finish it now.
            tracing::warn!(message_id = %stored.id, "redelivery of a text that was never answered; answering now");
            (stored.id, stored.conversation_id, true)
        }
    };
    drop(client);

    let answer = answer(ctx, &practice, &did, &sender, message_id, &text).await?;
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &service).await?;
    messages::annotate_inbound(&*tx, message_id, answer.category, answer.review.as_deref()).await?;
    if let Some(reason) = &answer.review {
        conversations::flag_for_review(&*tx, conversation_id, reason).await?;
    }
    tx.commit().await?;
    Ok(InboundOutcome {
        conversation_id,
        message_id,
        duplicate,
        auto_response: answer.response,
        needs_review: answer.review.is_some(),
    })
}

/// What was done about a new text.
#[derive(Default)]
struct Answer {
    category: Option<&'static str>,
    response: Option<AutoResponse>,
    review: Option<String>,
}

impl Answer {
    fn review(reason: impl Into<String>) -> Self {
        Self {
            review: Some(reason.into()),
            ..Self::default()
        }
    }
}

/// What to do about a text, decided (and its opt-out changes and quiet-period claim committed)
/// before any carrier is called.
enum Plan {
    Done(Answer),
    Confirm(ReplyKind),
    Reply {
        kind: ReplyKind,
        claimed_at: chrono::DateTime<Utc>,
        review: Option<String>,
    },
}

async fn answer(
    ctx: &AppContext,
    practice: &Practice,
    did: &Did,
    sender: &Sender,
    message_id: Uuid,
    text: &InboundText,
) -> Result<Answer, DbError> {
    let Sender::Number(number) = sender else {
        return Ok(Answer::review("sent from a short code; never answered automatically"));
    };
    let service = Caller::service();
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &service).await?;
    let rules = replies::load_rules(&*tx, practice.id).await?;
    let plan = plan(ctx, &*tx, practice, number, text, &rules).await?;
    tx.commit().await?;
    drop(client);

    let reply = Reply {
        ctx,
        practice,
        did,
        to: number,
        reply_to: message_id,
        templates: &rules.templates,
    };
    match plan {
        Plan::Done(answer) => Ok(answer),
        Plan::Confirm(kind) => {
            let response = reply.send(kind).await?;
            Ok(Answer {
                category: Some(kind.as_str()),
                response: Some(response),
                review: None,
            })
        }
        Plan::Reply {
            kind,
            claimed_at,
            mut review,
        } => {
            let response = reply.send(kind).await?;
            if let Some(reason) = response.reason.as_ref().filter(|_| !response.sent) {
                review.get_or_insert_with(|| format!("automatic reply failed: {reason}"));
                // Nothing reached the patient: the next text may be answered.
                let mut client = ctx.conn().await?;
                let tx = db::begin_as(&mut client, &service).await?;
                replies::release_auto_reply(&*tx, practice.id, number.as_e164(), kind, claimed_at).await?;
                tx.commit().await?;
            }
            Ok(Answer {
                category: Some(kind.as_str()),
                response: Some(response),
                review,
            })
        }
    }
}

async fn plan(
    ctx: &AppContext,
    tx: &impl db::Conn,
    practice: &Practice,
    number: &PhoneNumber,
    text: &InboundText,
    rules: &replies::RuleSet,
) -> Result<Plan, DbError> {
    if practices::is_own_did(tx, number.as_e164()).await? {
        return Ok(Plan::Done(Answer::review(
            "sent from one of our own numbers; never answered automatically",
        )));
    }
    let now = ctx.clock.now();
    let opted_out = replies::is_opted_out(tx, practice.id, number.as_e164()).await?;
    let keyword = compliance_keyword(&text.message);
    match keyword {
        Some(ComplianceKeyword::OptOut) => {
            let newly = replies::opt_out(tx, practice.id, number.as_e164(), now).await?;
            tracing::info!(contact = %number.masked(), newly, "contact opted out");
            if newly {
                return Ok(Plan::Confirm(ReplyKind::OptOut));
            }
            let response = not_sent(ReplyKind::OptOut, "already opted out; confirmed once before");
            return Ok(Plan::Done(Answer {
                category: Some("optout"),
                response: Some(response),
                review: None,
            }));
        }
        // Only the delivery that actually opted the number back in confirms it.
        Some(ComplianceKeyword::OptIn) if opted_out && replies::opt_in(tx, practice.id, number.as_e164()).await? => {
            tracing::info!(contact = %number.masked(), "contact opted back in");
            return Ok(Plan::Confirm(ReplyKind::OptIn));
        }
        _ => {}
    }
    let kind = match keyword {
        Some(ComplianceKeyword::Help) => Some(ReplyKind::Help),
        _ => classify(&rules.topics, &text.message).map(ReplyKind::Topic),
    };
    let emergency = kind == Some(ReplyKind::Topic(Category::Emergency));
    let mut review = emergency.then(|| "patient may have an emergency".to_string());
    if opted_out {
        let reason = review.unwrap_or_else(|| "contact has opted out of texts; answer by phone if needed".into());
        return Ok(Plan::Done(Answer {
            category: kind.map(|k| k.as_str()),
            response: None,
            review: Some(reason),
        }));
    }
    let Some(kind) = kind else {
        return Ok(Plan::Done(Answer::review("no automatic answer matched")));
    };
    if !text.may_auto_reply {
        review.get_or_insert_with(|| "found late by the 15-minute check; too old for an automatic reply".into());
        let response = not_sent(kind, "too old for an automatic reply");
        return Ok(Plan::Done(Answer {
            category: Some(kind.as_str()),
            response: Some(response),
            review,
        }));
    }
    let quiet = Duration::hours(i64::from(practice.auto_reply_quiet_hours));
    if !replies::claim_auto_reply(tx, practice.id, number.as_e164(), kind, now, quiet).await? {
        review.get_or_insert_with(|| "asked again after an automatic reply; needs a person".into());
        let reason = format!(
            "already answered automatically in the last {} hours",
            practice.auto_reply_quiet_hours
        );
        let response = not_sent(kind, &reason);
        return Ok(Plan::Done(Answer {
            category: Some(kind.as_str()),
            response: Some(response),
            review,
        }));
    }
    Ok(Plan::Reply {
        kind,
        claimed_at: now,
        review,
    })
}

fn not_sent(kind: ReplyKind, reason: &str) -> AutoResponse {
    AutoResponse {
        category: kind.as_str(),
        sent: false,
        reason: Some(reason.to_string()),
    }
}

struct Reply<'a> {
    ctx: &'a AppContext,
    practice: &'a Practice,
    did: &'a Did,
    to: &'a PhoneNumber,
    reply_to: Uuid,
    templates: &'a std::collections::HashMap<ReplyKind, String>,
}

impl Reply<'_> {
    async fn send(&self, kind: ReplyKind) -> Result<AutoResponse, DbError> {
        let Some(template) = self.templates.get(&kind) else {
            return Ok(not_sent(kind, "no reply text is configured for this category"));
        };
        let body = render_reply(kind, template, self.practice, self.ctx.clock.now());
        let purpose = Purpose::AutoReply {
            kind,
            reply_to: self.reply_to,
        };
        match send_text(
            self.ctx,
            &Caller::service(),
            self.practice,
            self.did,
            self.to,
            &body,
            purpose,
        )
        .await
        {
            Ok(_) => Ok(AutoResponse {
                category: kind.as_str(),
                sent: true,
                reason: None,
            }),
            Err(SendTextError::Db(e)) => Err(e),
            Err(SendTextError::OptedOut) => Ok(not_sent(kind, "contact has opted out")),
            Err(SendTextError::Failed { failures, .. }) => {
                let reason = failures
                    .iter()
                    .map(|f| format!("{}: {}", f.provider.as_str(), f.reason))
                    .collect::<Vec<_>>()
                    .join("; ");
                Ok(not_sent(kind, &reason))
            }
        }
    }
}
