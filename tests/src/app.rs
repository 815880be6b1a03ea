//! `spawn_app()`: the real router, jobs and gateways on loopback, a fresh database, fake carriers,
//! and a clock the test controls.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use pedro_voip::app::AppContext;
use pedro_voip::clock::FixedClock;
use pedro_voip::config::Settings;
use pedro_voip::domain::phone::Did;
use pedro_voip::store::practices;
use serde_json::Value;
use uuid::Uuid;

use crate::database::TestDatabase;
use crate::db_proxy::DbProxy;
use crate::fakes::twilio::FakeTwilio;
use crate::fakes::voipms::FakeVoipMs;

pub const VOIPMS_USER: &str = "clinic@example.com";
pub const VOIPMS_PASSWORD: &str = "api-password";
/// The practice's DID, in VoIP.ms's 10-digit form.
pub const DID: &str = "5145550100";
pub const DID_E164: &str = "+15145550100";
pub const PATIENT: &str = "4385550199";
pub const PATIENT_E164: &str = "+14385550199";
pub const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const TWILIO_TOKEN: &str = "twilio-token";
pub const TWILIO_FROM: &str = "+15145550111";
/// The test apps' own public webhook (`PUBLIC_WEBHOOK_URL`).
pub const PUBLIC_WEBHOOK_URL: &str = "https://pedro.example.com/api/voip/sms/webhook";
/// The secret the test apps verify HS256 tokens with (`SUPABASE_JWT_SECRET`).
pub const JWT_SECRET: &str = "test-only-supabase-jwt-secret-0123456789";

/// A Supabase-style access token, signed with [`JWT_SECRET`]: `role` is `staff` or `admin`.
pub fn member_token(practice_id: Uuid, role: &str) -> String {
    sign(serde_json::json!({
        "aud": "authenticated",
        "role": "authenticated",
        "sub": Uuid::new_v4().to_string(),
        "exp": Utc::now().timestamp() + 3600,
        "app_metadata": {"provider": "email", "practice_id": practice_id.to_string(), "practice_role": role},
    }))
}

/// Supabase's service-role key.
pub fn service_token() -> String {
    sign(serde_json::json!({"iss": "supabase", "role": "service_role", "exp": Utc::now().timestamp() + 3600}))
}

pub fn sign(claims: Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes());
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &key,
    )
    .unwrap()
}

/// The call and recording the `events/` fixtures for calls refer to.
pub const FIXTURE_CALL: &str = "0b7e6a52-4c1e-4a8e-9a61-3f0b2c1d9e02";
pub const FIXTURE_RECORDING: &str = "0b7e6a52-4c1e-4a8e-9a61-3f0b2c1d9e03";

/// The conversation the `events/` fixtures for one thread refer to.
pub const FIXTURE_CONVERSATION: &str = "0b7e6a52-4c1e-4a8e-9a61-3f0b2c1d9e01";

/// Wednesday 2026-11-25 10:00 in Toronto: the office is open.
pub fn office_open() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 15, 0, 0).unwrap()
}

/// Wednesday 2026-11-25 20:00 in Toronto: closed until Thursday 8:00.
pub fn office_closed() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 1, 0, 0).unwrap()
}

pub struct TestApp {
    pub address: String,
    pub ctx: Arc<AppContext>,
    pub voipms: FakeVoipMs,
    pub twilio: FakeTwilio,
    pub clock: FixedClock,
    pub http: reqwest::Client,
    pub practice_id: Uuid,
    pub db: TestDatabase,
    /// Between the app and its database, when started with [`TestAppBuilder::db_proxy`].
    pub db_proxy: Option<DbProxy>,
    /// The folder recordings are kept in (unless the test gave another store).
    pub recordings_dir: std::path::PathBuf,
}

pub struct TestAppBuilder {
    voipms_credentials: bool,
    twilio: bool,
    db_proxy: bool,
    env: HashMap<String, String>,
    queue: Option<Arc<dyn pedro_voip::queue::TaskQueue>>,
    blob: Option<Arc<dyn pedro_voip::blob::BlobStore>>,
}

/// The VoIP.ms account whose recordings the test apps list (`VOIPMS_ACCOUNT`).
pub const VOIPMS_ACCOUNT: &str = "100000_VoIP";

pub fn spawn_app() -> TestAppBuilder {
    TestAppBuilder {
        voipms_credentials: true,
        twilio: false,
        db_proxy: false,
        env: HashMap::new(),
        queue: None,
        blob: None,
    }
}

impl TestAppBuilder {
    /// Configure Twilio as the fallback carrier.
    pub fn twilio(mut self) -> Self {
        self.twilio = true;
        self
    }

    /// No VoIP.ms credentials: texts go to the sandbox outbox.
    pub fn sandbox(mut self) -> Self {
        self.voipms_credentials = false;
        self
    }

    /// Reach the database through a proxy the test can cut (`app.db_proxy`).
    pub fn db_proxy(mut self) -> Self {
        self.db_proxy = true;
        self
    }

    /// Tasks go to this queue (SQS on moto, say) instead of the Postgres table.
    pub fn queue(mut self, queue: Arc<dyn pedro_voip::queue::TaskQueue>) -> Self {
        self.queue = Some(queue);
        self
    }

    /// Recordings go to this store (S3 on moto, say) instead of the test's own folder.
    pub fn blob(mut self, blob: Arc<dyn pedro_voip::blob::BlobStore>) -> Self {
        self.blob = Some(blob);
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    pub async fn start(self) -> TestApp {
        let db = TestDatabase::create().await;
        let voipms = FakeVoipMs::start(VOIPMS_USER, VOIPMS_PASSWORD).await;
        voipms.add_did(DID);
        let twilio = FakeTwilio::start(TWILIO_SID, TWILIO_TOKEN).await;
        let db_proxy = match self.db_proxy {
            true => Some(DbProxy::start(db.host_port()).await),
            false => None,
        };
        let database_url = match &db_proxy {
            Some(proxy) => db.url_via(proxy.port),
            None => db.url.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let recordings_dir = std::env::temp_dir().join(format!("pedro-test-recordings-{}", Uuid::new_v4().simple()));
        let recordings_dir = recordings_dir.to_string_lossy().into_owned();
        let mut env: HashMap<String, String> = [
            ("DATABASE_URL", database_url.as_str()),
            ("VOIPMS_DID", DID),
            ("SUPABASE_JWT_SECRET", JWT_SECRET),
            ("PRACTICE_NAME", "Maple Dental"),
            ("PRACTICE_PHONE", "+15145550100"),
            ("PRACTICE_ADDRESS", "12 Main St, Montreal"),
            ("PRACTICE_TIMEZONE", "America/Toronto"),
            ("PRACTICE_OFFICE_HOURS", "Mon-Fri 08:00-17:00"),
            ("VOIPMS_TIMEOUT_MS", "1000"),
            ("TWILIO_TIMEOUT_MS", "1000"),
            // Where configure-webhook may point VoIP.ms (the tests' public host).
            ("PUBLIC_WEBHOOK_URL", PUBLIC_WEBHOOK_URL),
            // Recordings: a folder of this test's own, served by this app's signed links.
            ("RECORDINGS_DIR", recordings_dir.as_str()),
            ("PUBLIC_BASE_URL", address.as_str()),
            ("RECORDING_LINK_SECRET", "test-only-recording-link-secret-0123456789"),
            ("VOIPMS_ACCOUNT", VOIPMS_ACCOUNT),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if self.voipms_credentials {
            env.insert("VOIPMS_USERNAME".into(), VOIPMS_USER.into());
            env.insert("VOIPMS_PASSWORD".into(), VOIPMS_PASSWORD.into());
            env.insert("VOIPMS_API_URL".into(), voipms.api_url());
        }
        if self.twilio {
            env.insert("TWILIO_ACCOUNT_SID".into(), TWILIO_SID.into());
            env.insert("TWILIO_AUTH_TOKEN".into(), TWILIO_TOKEN.into());
            env.insert("TWILIO_FROM_NUMBER".into(), TWILIO_FROM.into());
            env.insert("TWILIO_API_URL".into(), twilio.base_url());
            // Twilio signs the URL it calls: here the app's own address.
            env.insert("TWILIO_WEBHOOK_URL".into(), format!("{address}/api/twilio/sms/webhook"));
        }
        env.extend(self.env);
        let settings = Settings::from_lookup(&|name| env.get(name).cloned()).expect("test settings");
        let clock = FixedClock::new(office_open());
        // The fake dates what it sends by the app's clock, so lookups by day find it.
        voipms.set_clock({
            let clock = clock.clone();
            move || pedro_voip::clock::Clock::now(&clock)
        });
        let mut ctx = AppContext::new(settings.clone(), Arc::new(clock.clone())).expect("app context");
        if let Some(queue) = self.queue {
            ctx.queue = queue.clone();
            ctx.transcription_queue = queue;
            ctx.pg_queue = None;
        }
        if let Some(blob) = self.blob {
            ctx.blob = blob;
            ctx.local_blob = None;
        }
        let ctx = Arc::new(ctx);
        let practice_id = {
            let client = db.client().await;
            let did = Did::parse(DID).unwrap();
            practices::ensure_for_did(&client, &did, &settings.practice)
                .await
                .expect("default practice")
                .0
        };
        let router = pedro_voip::http::all_routes(ctx.clone());
        tokio::spawn(pedro_voip::http::serve(listener, router, std::future::pending()));
        TestApp {
            address,
            ctx,
            voipms,
            twilio,
            clock,
            http: client_with_token(&member_token(practice_id, "admin")),
            practice_id,
            db,
            db_proxy,
            recordings_dir: recordings_dir.into(),
        }
    }
}

/// An HTTP client that sends `Authorization: Bearer <token>` with every request.
pub fn client_with_token(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

/// The deployment-wide webhook secret `events/sms-webhook.json` carries.
pub const SAMPLE_WEBHOOK_SECRET: &str = "sample-webhook-secret-0123456789";
/// The function URL `events/configure-webhook.json` names.
pub const SAMPLE_WEBHOOK_URL: &str =
    "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.ca-central-1.on.aws/api/voip/sms/webhook";

impl TestApp {
    /// A Lambda function's configuration against this app's database and fakes, as the deployed
    /// functions are configured (the `events/` samples' secret and URL).
    pub fn function_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DATABASE_URL", self.db.url.clone()),
            ("DATABASE_POOL_SIZE", "2".into()),
            ("VOIPMS_USERNAME", VOIPMS_USER.into()),
            ("VOIPMS_PASSWORD", VOIPMS_PASSWORD.into()),
            ("VOIPMS_API_URL", self.voipms.api_url()),
            ("VOIPMS_DID", DID.into()),
            ("SUPABASE_JWT_SECRET", JWT_SECRET.into()),
            ("WEBHOOK_SECRET", SAMPLE_WEBHOOK_SECRET.into()),
            ("PUBLIC_WEBHOOK_URL", SAMPLE_WEBHOOK_URL.into()),
            ("RECORDINGS_DIR", self.recordings_dir.to_string_lossy().into_owned()),
            (
                "RECORDING_LINK_SECRET",
                "test-only-recording-link-secret-0123456789".into(),
            ),
            ("VOIPMS_ACCOUNT", VOIPMS_ACCOUNT.into()),
        ]
    }

    /// What the `events/` samples refer to: the fixture conversation and call, and a text the
    /// webhook missed for `check-sms` to find.
    pub async fn seed_for_function_samples(&self) {
        self.seed_fixture_conversation().await;
        self.voipms.add_received_sms(crate::fakes::voipms::InboundSms {
            id: "sample-missed-1".into(),
            date: Utc::now().naive_utc() - chrono::Duration::minutes(5),
            did: DID.into(),
            contact: PATIENT.into(),
            message: "hello?".into(),
            media: None,
        });
        self.seed_fixture_call(crate::mp3::silence(2.0)).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http.post(self.url(path)).json(body).send().await.expect("request")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("request")
    }

    /// A text from `from` as VoIP.ms's JSON form of the webhook, then the queue drained (so the
    /// automatic reply, if any, has gone out when this returns).
    pub async fn text_in(&self, from: &str, message: &str, id: impl AsRef<str>) -> (u16, Value) {
        let answer = self.text_in_queued(from, message, id).await;
        self.drain_queue().await;
        answer
    }

    /// A text through the webhook, leaving the queue as the webhook left it.
    pub async fn text_in_queued(&self, from: &str, message: &str, id: impl AsRef<str>) -> (u16, Value) {
        let response = self
            .post_json(
                "/api/voip/sms/webhook",
                &serde_json::json!({"from": from, "message": message, "id": id.as_ref()}),
            )
            .await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Runs every task that is ready in the Postgres queue (what `pedro serve`'s worker does), and
    /// says what became of each.
    pub async fn drain_queue(&self) -> Vec<pedro_voip::queue::postgres::Executed> {
        let queue = self
            .ctx
            .pg_queue
            .as_ref()
            .expect("the test app uses the Postgres queue");
        let ctx = self.ctx.clone();
        queue
            .drain(move |task, attempt| {
                let ctx = ctx.clone();
                async move { pedro_voip::worker::execute(&ctx, task, attempt).await }
            })
            .await
            .expect("the queue can be drained")
    }

    pub async fn send(&self, to: &str, message: &str) -> (u16, Value) {
        let response = self
            .post_json("/api/voip/sms/send", &serde_json::json!({"to": to, "message": message}))
            .await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Another instance of the app (as another Lambda instance would be) on the same database and
    /// fakes; returns its address.
    pub async fn another_instance(&self) -> String {
        let ctx =
            Arc::new(AppContext::new(self.ctx.settings.clone(), Arc::new(self.clock.clone())).expect("app context"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(pedro_voip::http::serve(
            listener,
            pedro_voip::http::all_routes(ctx),
            std::future::pending(),
        ));
        address
    }

    pub fn clock_now(&self) -> DateTime<Utc> {
        pedro_voip::clock::Clock::now(&self.clock)
    }

    pub async fn sql(&self) -> tokio_postgres::Client {
        self.db.client().await
    }

    /// The one value a query returns (first column of its one row).
    pub async fn value<T: for<'a> tokio_postgres::types::FromSql<'a>>(&self, sql: &str) -> T {
        self.sql().await.query_one(sql, &[]).await.expect(sql).get(0)
    }

    /// The first column of every row a query returns.
    pub async fn column<T: for<'a> tokio_postgres::types::FromSql<'a>>(&self, sql: &str) -> Vec<T> {
        let rows = self.sql().await.query(sql, &[]).await.expect(sql);
        rows.iter().map(|r| r.get(0)).collect()
    }

    /// A single number from SQL, for counting rows.
    pub async fn count(&self, sql: &str) -> i64 {
        self.sql().await.query_one(sql, &[]).await.expect(sql).get(0)
    }

    /// Another practice owning `did` (E.164); returns its id.
    pub async fn add_practice(&self, name: &str, did: &str) -> Uuid {
        let db = self.sql().await;
        let id: Uuid = db
            .query_one("INSERT INTO practices (name) VALUES ($1) RETURNING id", &[&name])
            .await
            .unwrap()
            .get(0);
        db.execute(
            "INSERT INTO practice_dids (did, practice_id) VALUES ($1, $2)",
            &[&did, &id],
        )
        .await
        .unwrap();
        id
    }

    /// The flagged thread the `events/` fixtures name, with one inbound text.
    pub async fn seed_fixture_conversation(&self) {
        let id: Uuid = FIXTURE_CONVERSATION.parse().unwrap();
        let db = self.sql().await;
        db.execute(
            "INSERT INTO sms_conversations (id, practice_id, did, contact, last_message_at, needs_review, review_reason, unread_count) \
             VALUES ($1, $2, $3, $4, now(), true, 'no automatic answer matched', 1)",
            &[&id, &self.practice_id, &DID_E164, &PATIENT_E164],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO sms_messages (practice_id, conversation_id, direction, body, occurred_at, origin, provider, provider_message_id, status) \
             VALUES ($1, $2, 'inbound', 'Can someone call me back?', now(), 'webhook', 'voipms', 'fixture-1', 'received')",
            &[&self.practice_id, &id],
        )
        .await
        .unwrap();
    }

    /// The answered call the `events/` fixtures name (2026-11-25 14:00 UTC), with its stored
    /// recording (`mp3`) in the app's object store.
    pub async fn seed_fixture_call(&self, mp3: Vec<u8>) {
        let call: Uuid = FIXTURE_CALL.parse().unwrap();
        let recording: Uuid = FIXTURE_RECORDING.parse().unwrap();
        let key = format!("recordings/{}/{recording}.mp3", self.practice_id);
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 14, 0, 0).unwrap();
        let db = self.sql().await;
        db.execute(
            "INSERT INTO phone_calls (id, practice_id, voipms_uniqueid, direction, did, contact, started_at, \
               duration_seconds, billable_seconds, disposition, completed, synced_at, updated_at) \
             VALUES ($1, $2, 'fixture-1', 'inbound', $3, $4, $5, 30, 30, 'answered', true, $5, $5)",
            &[&call, &self.practice_id, &DID_E164, &PATIENT_E164, &at],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO call_recordings (id, practice_id, call_id, voipms_recording_id, direction, destination, \
               recorded_at, status, object_key, size_bytes, duration_ms, sha256, stored_at) \
             VALUES ($1, $2, $3, 'fixture-rec-1', 'inbound', $4, $5, 'stored', $6, $7, 30000, 'fixture', $5)",
            &[
                &recording,
                &self.practice_id,
                &call,
                &DID_E164,
                &at,
                &key,
                &(mp3.len() as i64),
            ],
        )
        .await
        .unwrap();
        let key = pedro_voip::blob::BlobKey::parse(&key).unwrap();
        self.ctx.blob.put(&key, mp3, "audio/mpeg").await.unwrap();
    }

    /// Bodies of the texts the fake VoIP.ms accepted, in order.
    pub fn voipms_sent_bodies(&self) -> Vec<String> {
        self.voipms.sent_sms().into_iter().map(|s| s.message).collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.recordings_dir);
    }
}
