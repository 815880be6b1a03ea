//! Everything a request or a job needs, built once per process (once per Lambda cold start).

use std::sync::Arc;

use deadpool_postgres::Pool;

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::db::{self, DbError};
use crate::sms::gateway::{Failover, SandboxOutbox, SmsGateway, TwilioGateway, VoipMsGateway};
use crate::voipms::VoipMsClient;

pub struct AppContext {
    pub db: Pool,
    /// Outbound texts: VoIP.ms (or the sandbox outbox without credentials), then Twilio if set.
    pub sms: Box<dyn SmsGateway>,
    /// The VoIP.ms account API (getSMS, setSMS, ...), when credentials are set.
    pub voipms: Option<VoipMsClient>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
}

impl AppContext {
    /// Builds clients and a lazy database pool; connects to nothing yet.
    pub fn new(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let pool = db::pool(&settings.database()?, &settings.pool)?;
        let voipms = settings.voipms.clone().map(VoipMsClient::new);
        let primary: Box<dyn SmsGateway> = match &voipms {
            Some(client) => Box::new(VoipMsGateway::new(client.clone())),
            None => Box::new(SandboxOutbox::new(pool.clone())),
        };
        let fallback = settings
            .twilio
            .clone()
            .map(|t| Box::new(TwilioGateway::new(t)) as Box<dyn SmsGateway>);
        Ok(Self {
            db: pool,
            sms: Box::new(Failover::new(primary, fallback)),
            voipms,
            clock,
            settings,
        })
    }

    pub fn from_env() -> anyhow::Result<Self> {
        Self::new(Settings::from_env()?, Arc::new(SystemClock))
    }

    pub async fn conn(&self) -> Result<deadpool_postgres::Object, DbError> {
        Ok(self.db.get().await?)
    }

    /// True when texts go to the sandbox outbox instead of a carrier.
    pub fn is_sandbox(&self) -> bool {
        self.voipms.is_none()
    }
}
