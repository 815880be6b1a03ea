//! A text a patient sent to the deployment's Twilio number (`TWILIO_FROM_NUMBER`, shared by every
//! practice). It is not a practice DID, so the text goes to the thread in which we most recently
//! texted that patient through Twilio, and from there the way of every inbound text
//! ([`super::inbound::receive`]). With no such thread: the only practice's thread when there is
//! one practice, otherwise `unrouted_texts` for an operator.
//!
//! Twilio blocks a number that replied STOP for everything sent from the Twilio number, whichever
//! practice sends it, so an opt-out is recorded for every practice that has texted the patient
//! through Twilio. Opting back in (START) is consent to the practice whose thread it lands in only.

use chrono::{DateTime, Utc};

use super::gateway::Provider;
use super::inbound::{receive, InboundError, InboundOutcome, InboundText, MAX_INBOUND_CHARS};
use crate::app::AppContext;
use crate::auth::Caller;
use crate::db::{self, Conn, DbError};
use crate::domain::compliance::{compliance_keyword, ComplianceKeyword};
use crate::domain::phone::{PhoneNumber, Sender};
use crate::store::messages::Origin;
use crate::store::unrouted::{self, UnroutedText};
use crate::store::{practices, replies, twilio_routes};

/// An inbound message as Twilio's webhook describes it.
pub struct TwilioText {
    pub message_sid: String,
    pub from: String,
    pub to: String,
    pub body: String,
    pub media: Vec<String>,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug)]
pub enum TwilioOutcome {
    /// In a practice's thread, as any inbound text.
    Stored(InboundOutcome),
    /// Kept in `unrouted_texts` (`duplicate` when it was kept already).
    Unrouted { reason: &'static str, duplicate: bool },
}

const NOT_OUR_NUMBER: &str = "sent to a Twilio number this deployment does not text from";
const BAD_SENDER: &str = "the sender is not a phone number or short code";
const NO_THREAD: &str = "no practice has texted this number through Twilio, and there are several practices";
const NO_DID: &str = "the only practice has no number to file the text under";
const DID_GONE: &str = "the number of the thread it answers no longer belongs to a practice";

pub async fn receive_from_twilio(ctx: &AppContext, mut text: TwilioText) -> Result<TwilioOutcome, InboundError> {
    if text.message_sid.trim().is_empty() || text.message_sid.contains('\0') {
        return Err(InboundError::BadProviderId);
    }
    // Postgres text cannot hold NUL, and the unrouted path stores these fields as they are: the
    // character is replaced visibly (the thread path flags such a text for a person).
    for field in [&mut text.from, &mut text.to] {
        *field = field.replace('\0', "\u{FFFD}");
    }
    text.media = text.media.iter().map(|m| m.replace('\0', "\u{FFFD}")).collect();
    if text.body.chars().count() > MAX_INBOUND_CHARS {
        text.body = text.body.chars().take(MAX_INBOUND_CHARS).collect();
    }
    let ours = ctx.settings.twilio.as_ref().map(|t| t.from.as_e164());
    if PhoneNumber::parse(&text.to).ok().as_ref().map(PhoneNumber::as_e164) != ours {
        return unrouted(ctx, &text, NOT_OUR_NUMBER).await;
    }
    let Ok(sender) = Sender::parse(&text.from) else {
        return unrouted(ctx, &text, BAD_SENDER).await;
    };
    let did = {
        let mut client = ctx.conn().await?;
        let tx = db::begin_as(&mut client, &Caller::service()).await?;
        let did = route(ctx, &*tx, &text.message_sid, sender.as_str()).await?;
        tx.commit().await.map_err(DbError::from)?;
        did
    };
    let did = match did {
        Ok(did) => did,
        Err(reason) => return unrouted(ctx, &text, reason).await,
    };
    let inbound = InboundText {
        to: did,
        from: text.from.clone(),
        message: text.body.clone(),
        provider_id: text.message_sid.clone(),
        provider_date: None,
        sent_at: None,
        media: text.media.clone(),
        received_at: text.received_at,
        origin: Origin::TwilioWebhook,
        provider: Provider::Twilio,
    };
    let outcome = receive(ctx, inbound).await?;
    if outcome.status == "unrouted" {
        return Ok(TwilioOutcome::Unrouted {
            reason: DID_GONE,
            duplicate: outcome.duplicate,
        });
    }
    if compliance_keyword(&text.body) == Some(ComplianceKeyword::OptOut) {
        opt_out_everywhere(ctx, sender.as_str()).await?;
    }
    Ok(TwilioOutcome::Stored(outcome))
}

/// The DID whose thread the text belongs to, or why there is none.
async fn route(
    ctx: &AppContext,
    conn: &impl Conn,
    message_sid: &str,
    sender: &str,
) -> Result<Result<String, &'static str>, DbError> {
    // A redelivery goes where the first delivery went, even if we texted elsewhere since.
    if let Some(did) = twilio_routes::did_of_stored(conn, message_sid).await? {
        return Ok(Ok(did));
    }
    if let Some(did) = twilio_routes::latest_thread_did(conn, sender).await? {
        return Ok(Ok(did));
    }
    let Some(practice_id) = twilio_routes::only_practice(conn).await? else {
        return Ok(Err(NO_THREAD));
    };
    if let Some(default) = &ctx.settings.default_did {
        if practices::for_did(conn, default.as_e164())
            .await?
            .is_some_and(|p| p.id == practice_id)
        {
            return Ok(Ok(default.as_e164().to_string()));
        }
    }
    Ok(practices::texting_did(conn, practice_id)
        .await?
        .map(|did| did.as_e164().to_string())
        .ok_or(NO_DID))
}

/// Twilio now refuses to text this number for every practice: none of them may text it on
/// any carrier until the patient opts back in with that practice.
async fn opt_out_everywhere(ctx: &AppContext, contact: &str) -> Result<(), DbError> {
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &Caller::service()).await?;
    let now = ctx.clock.now();
    let mut newly = 0;
    for practice_id in twilio_routes::practices_that_texted(&*tx, contact).await? {
        newly += usize::from(replies::opt_out(&*tx, practice_id, contact, now).await?);
    }
    tx.commit().await?;
    if newly > 0 {
        tracing::info!(
            contact = %crate::domain::phone::mask(contact),
            practices = newly,
            "Twilio opt-out recorded for other practices that texted this contact through Twilio"
        );
    }
    Ok(())
}

async fn unrouted(ctx: &AppContext, text: &TwilioText, reason: &'static str) -> Result<TwilioOutcome, InboundError> {
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &Caller::service()).await?;
    let stored = unrouted::record(
        &*tx,
        &UnroutedText {
            received_at: text.received_at,
            provider: Provider::Twilio.as_str(),
            provider_message_id: &text.message_sid,
            to_number: &text.to,
            from_number: &text.from,
            body: &text.body,
            media_urls: &text.media,
            reason,
        },
    )
    .await?;
    tx.commit().await?;
    tracing::warn!(
        provider_message_id = %text.message_sid,
        from = %crate::domain::phone::mask(&text.from),
        reason,
        duplicate = !stored,
        "Twilio text kept as unrouted"
    );
    Ok(TwilioOutcome::Unrouted {
        reason,
        duplicate: !stored,
    })
}
