use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use super::{CarrierError, OutboundSms, Provider, SentRecord, SmsGateway};
use crate::auth::Caller;
use crate::db;
use crate::domain::phone::{Did, PhoneNumber};
use crate::domain::segment::{split_message, VOIPMS_PART_LIMIT};

/// The carrier when no VoIP.ms or Twilio credentials are set: texts are stored in `sandbox_outbox`
/// and logged, and never leave the machine.
pub struct SandboxOutbox {
    pool: Pool,
}

impl SandboxOutbox {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl SmsGateway for SandboxOutbox {
    fn provider(&self) -> Provider {
        Provider::Sandbox
    }

    fn part_limit(&self) -> Option<usize> {
        None
    }

    async fn send(&self, sms: &OutboundSms<'_>) -> Result<Option<String>, CarrierError> {
        let fail = |e: String| CarrierError::not_sent(e);
        let parts = split_message(sms.body, VOIPMS_PART_LIMIT).len().max(1) as i32;
        let mut client = self.pool.get().await.map_err(|e| fail(e.to_string()))?;
        let tx = db::begin_as(&mut client, &Caller::service())
            .await
            .map_err(|e| fail(e.to_string()))?;
        let row = db::query_one(
            &*tx,
            "INSERT INTO sandbox_outbox (practice_id, from_did, to_number, body, parts) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&sms.practice_id, &sms.from.as_e164(), &sms.to.as_e164(), &sms.body, &parts],
        )
        .await
        .map_err(|e| fail(e.to_string()))?;
        tx.commit()
            .await
            .map_err(|e| CarrierError::Unknown { reason: e.to_string() })?;
        let id: uuid::Uuid = row.get(0);
        tracing::info!(outbox_id = %id, to = %sms.to.masked(), parts, "SANDBOX: text stored in sandbox_outbox, NOT sent (no carrier credentials)");
        Ok(Some(format!("sandbox-{id}")))
    }

    async fn sent_since(&self, from: &Did, to: &PhoneNumber, since: DateTime<Utc>) -> Result<Vec<SentRecord>, String> {
        let client = self.pool.get().await.map_err(|e| e.to_string())?;
        let rows = db::query(
            &**client,
            "SELECT id, body FROM sandbox_outbox WHERE from_did = $1 AND to_number = $2 AND created_at >= $3",
            &[&from.as_e164(), &to.as_e164(), &since],
        )
        .await
        .map_err(|e| e.log_summary())?;
        Ok(rows
            .iter()
            .map(|r| SentRecord {
                id: Some(format!("sandbox-{}", r.get::<_, uuid::Uuid>(0))),
                body: r.get(1),
            })
            .collect())
    }
}
