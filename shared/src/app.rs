//! Everything a request or a job needs, built once per process (once per Lambda cold start).

use std::sync::Arc;

use deadpool_postgres::Pool;

use crate::auth::Authenticator;
use crate::blob::{BlobStore, LocalFolder};
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::db::{self, DbError};
use crate::queue::postgres::{PgQueue, PgQueueSettings};
use crate::queue::sqs::SqsQueue;
use crate::queue::TaskQueue;
use crate::sms::delivery::Carriers;
use crate::sms::gateway::{SandboxOutbox, SmsGateway, TwilioGateway, VoipMsGateway};
use crate::voipms::VoipMsClient;

pub struct AppContext {
    pub db: Pool,
    /// Outbound texts: VoIP.ms (or the sandbox outbox without credentials), then Twilio if set.
    pub carriers: Carriers,
    /// Where work that must not run in a request goes: SQS when `TASK_QUEUE_URL` is set, else the
    /// Postgres table drained by `pedro serve`.
    pub queue: Arc<dyn TaskQueue>,
    /// The Postgres queue, when it is the queue (its drivers run in `pedro serve` and in tests).
    pub pg_queue: Option<PgQueue>,
    /// Where transcription requests go: their own SQS queue (`TRANSCRIPTION_QUEUE_URL`, consumed
    /// by a function with a longer time limit), else the same Postgres table.
    pub transcription_queue: Arc<dyn TaskQueue>,
    /// Call recordings: S3 (`RECORDINGS_BUCKET`) or a local folder.
    pub blob: Arc<dyn BlobStore>,
    /// The local folder, when it is the store: `pedro serve` serves its signed links.
    pub local_blob: Option<Arc<LocalFolder>>,
    /// Speech-to-text providers in fallback order; empty when none is configured.
    pub transcribers: Arc<Vec<Box<dyn crate::transcribe::Transcriber>>>,
    /// Reads key facts from transcripts with an LLM when `OPENAI_API_KEY` is set; else the rules do.
    pub facts_llm: Option<crate::facts::llm::LlmExtractor>,
    /// The VoIP.ms account API (getSMS, setSMS, ...), when credentials are set.
    pub voipms: Option<VoipMsClient>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    /// Verifies callers' tokens; None when no secret or JWKS URL is configured.
    pub auth: Option<Authenticator>,
    /// Only `pedro serve --insecure-no-auth` sets this: every caller acts as the service role.
    pub insecure_no_auth: bool,
    /// With no webhook secret anywhere (no `WEBHOOK_SECRET`, no practice's own), accept unsigned
    /// deliveries: for `pedro serve` and tests only. Lambda functions set it to false.
    pub webhook_open_when_unconfigured: bool,
}

impl AppContext {
    /// Builds clients and a lazy database pool; connects to nothing yet.
    pub fn new(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let pool = db::pool(&settings.database()?, &settings.pool)?;
        let voipms = settings.voipms.clone().map(VoipMsClient::new);
        let twilio = settings
            .twilio
            .clone()
            .map(|t| Box::new(TwilioGateway::new(t)) as Box<dyn SmsGateway>);
        // VoIP.ms first and Twilio as the fallback; Twilio alone when it is the only carrier; the
        // sandbox outbox when there is none.
        let carriers = match (&voipms, twilio) {
            (Some(client), fallback) => Carriers {
                primary: Box::new(VoipMsGateway::new(client.clone())),
                fallback,
            },
            (None, Some(twilio)) => Carriers {
                primary: twilio,
                fallback: None,
            },
            (None, None) => Carriers {
                primary: Box::new(SandboxOutbox::new(pool.clone())),
                fallback: None,
            },
        };
        let (queue, pg_queue): (Arc<dyn TaskQueue>, _) = match &settings.task_queue_url {
            Some(url) => (Arc::new(SqsQueue::from_env(url.clone())), None),
            None => {
                let pg = PgQueue::new(
                    pool.clone(),
                    clock.clone(),
                    PgQueueSettings {
                        max_attempts: settings.queue_max_attempts,
                        ..PgQueueSettings::default()
                    },
                );
                (Arc::new(pg.clone()), Some(pg))
            }
        };
        let transcription_queue: Arc<dyn TaskQueue> = match (&settings.calls.transcription_queue_url, &pg_queue) {
            (Some(url), _) => Arc::new(SqsQueue::from_env(url.clone())),
            (None, Some(pg)) => Arc::new(pg.clone()),
            // Texts go through SQS: transcriptions without their own queue go there too.
            (None, None) => queue.clone(),
        };
        let opened = crate::blob::open(&settings.recordings)?;
        Ok(Self {
            db: pool,
            carriers,
            queue,
            pg_queue,
            transcription_queue,
            blob: opened.store,
            local_blob: opened.local,
            transcribers: Arc::new(crate::transcribe::providers(&settings.transcription)?),
            facts_llm: settings.transcription.openai_api_key.as_ref().map(|key| {
                crate::facts::llm::LlmExtractor::new(
                    key.expose(),
                    settings.transcription.openai_base_url.clone(),
                    settings.transcription.openai_facts_model.clone(),
                    std::time::Duration::from_secs(60),
                )
            }),
            auth: Authenticator::new(settings.jwt_secret.as_ref(), settings.jwks_url.as_deref())
                .map(|a| a.with_issuers(settings.jwt_issuers.clone())),
            insecure_no_auth: false,
            webhook_open_when_unconfigured: true,
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
        self.voipms.is_none() && self.settings.twilio.is_none()
    }
}
