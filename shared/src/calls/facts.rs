//! Key facts and a summary of a transcribed call, stored beside its transcript. An emergency
//! call flags the caller's conversation for a person, as an emergency text does.

use uuid::Uuid;

use crate::app::AppContext;
use crate::auth::Caller;
use crate::db::{self, DbError};
use crate::domain::review::Flag;
use crate::facts::{self, FactsSource, Request, Urgency};
use crate::queue::TaskError;
use crate::store::conversations;
use crate::store::transcripts::{self, Claimed, NewFacts};

pub async fn summarise(ctx: &AppContext, recording_id: Uuid, claimed: &Claimed, text: &str) -> Result<(), TaskError> {
    let context = {
        let mut client = ctx.conn().await?;
        let tx = db::begin_as(&mut client, &Caller::service()).await?;
        let context = transcripts::call_context(&*tx, recording_id).await?;
        tx.commit().await.map_err(DbError::from)?;
        match context {
            Some(context) => context,
            // Deleted meanwhile: nothing to summarise.
            None => return Ok(()),
        }
    };
    let zone: chrono_tz::Tz = context.timezone.parse().unwrap_or(chrono_tz::UTC);
    let local = context.started_at.with_timezone(&zone).naive_local();
    let (found, source) = facts::extract(ctx.facts_llm.as_ref(), text, local).await;
    let (source_name, model) = match &source {
        FactsSource::Llm { model } => ("llm", Some(model.as_str())),
        FactsSource::Rules => ("rules", None),
    };
    let json = serde_json::to_value(&found).map_err(|e| TaskError::permanent(e.to_string()))?;
    let label = |value: &serde_json::Value, key: &str| value[key].as_str().unwrap_or("other").to_string();
    let emergency = found.request == Request::Emergency || found.urgency == Urgency::Emergency;
    let mut client = ctx.conn().await?;
    let tx = db::begin_as(&mut client, &Caller::service()).await?;
    transcripts::store_facts(
        &*tx,
        &NewFacts {
            recording_id,
            practice_id: claimed.practice_id,
            call_id: claimed.call_id,
            schema_version: facts::SCHEMA_VERSION as i32,
            facts: &json,
            summary: &found.summary,
            request: &label(&json, "request"),
            urgency: &label(&json, "urgency"),
            source: source_name,
            model,
            at: ctx.clock.now(),
        },
    )
    .await?;
    if emergency {
        if let Some(call_id) = claimed.call_id {
            transcripts::flag_call(&*tx, call_id, "emergency call").await?;
        }
        // The caller's thread, where the front desk looks first.
        if let (Some(did), Some(contact)) = (&context.did, &context.contact) {
            let conversation =
                conversations::ensure(&*tx, claimed.practice_id, did, contact, context.started_at).await?;
            conversations::flag_for_review(&*tx, conversation, &Flag::emergency()).await?;
        }
    }
    tx.commit().await.map_err(DbError::from)?;
    tracing::info!(recording = %recording_id, source = source_name, emergency, "call facts stored");
    Ok(())
}
