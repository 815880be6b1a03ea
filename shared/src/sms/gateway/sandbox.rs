use async_trait::async_trait;
use deadpool_postgres::Pool;

use super::{OutboundSms, Provider, Receipt, SendError, SmsGateway};
use crate::auth::Caller;
use crate::db;
use crate::domain::segment::{split_message, VOIPMS_PART_LIMIT};

/// The carrier when no VoIP.ms credentials are set: texts are stored in `sandbox_outbox` and
/// logged, and never leave the machine.
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
    async fn send(&self, sms: &OutboundSms<'_>) -> Result<Receipt, SendError> {
        let fail = |e: String| SendError::single(Provider::Sandbox, e);
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
        tx.commit().await.map_err(|e| fail(e.to_string()))?;
        let id: uuid::Uuid = row.get(0);
        tracing::info!(outbox_id = %id, to = %sms.to.masked(), parts, "SANDBOX: text stored in sandbox_outbox, NOT sent (no VoIP.ms credentials)");
        Ok(Receipt {
            provider: Provider::Sandbox,
            message_ids: vec![format!("sandbox-{id}")],
            segments: parts as u32,
        })
    }
}
