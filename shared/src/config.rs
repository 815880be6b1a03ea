//! Settings from the environment. Values are read through a lookup function so tests configure an
//! app without touching the process environment. A value that is set but wrong stops start-up with
//! a message naming it; so does a credential set without its partner.

use std::path::PathBuf;
use std::time::Duration;

use crate::db::tls::{self, PgTarget};
use crate::db::PoolSettings;
use crate::domain::office_hours::OfficeHours;
use crate::domain::phone::{Did, PhoneNumber};

pub const DEFAULT_VOIPMS_API_URL: &str = "https://voip.ms/api/v1/rest.php";
pub const DEFAULT_TWILIO_API_URL: &str = "https://api.twilio.com";

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// A value that must never reach a log: `{:?}` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone)]
pub struct VoipMsSettings {
    pub username: String,
    pub password: Secret,
    pub api_url: String,
    /// Per call.
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct TwilioSettings {
    pub account_sid: String,
    pub auth_token: Secret,
    pub from: PhoneNumber,
    pub api_url: String,
    pub timeout: Duration,
    /// `TWILIO_WEBHOOK_URL`: the inbound-message URL exactly as configured in Twilio, which is what
    /// Twilio signs (behind API Gateway the code sees another host and path). None: no inbound.
    pub webhook_url: Option<String>,
}

/// What a practice created from configuration starts with.
#[derive(Debug, Clone)]
pub struct PracticeDefaults {
    pub name: String,
    pub phone: Option<PhoneNumber>,
    pub address: Option<String>,
    pub timezone: chrono_tz::Tz,
    pub office_hours: OfficeHours,
}

/// Limits shared by every instance (counted in Postgres).
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Staff texts per practice per minute (`RATE_SEND_PER_MINUTE`).
    pub send_per_minute: u32,
    /// Staff texts per practice to one number per day (`RATE_SEND_PER_NUMBER_PER_DAY`).
    pub send_per_number_per_day: u32,
    /// Webhook requests per source address per minute (`RATE_WEBHOOK_PER_MINUTE`).
    pub webhook_per_minute: u32,
    /// Webhook configurations per practice per hour (`RATE_CONFIGURE_PER_HOUR`).
    pub configure_per_hour: u32,
}

/// Where call recordings are kept ([`crate::blob`]).
#[derive(Debug, Clone)]
pub struct BlobSettings {
    /// `RECORDINGS_BUCKET`: S3 when set; else the local folder.
    pub bucket: Option<String>,
    /// `S3_ENDPOINT_URL`: an S3-compatible endpoint (moto, MinIO), addressed path-style.
    pub s3_endpoint_url: Option<String>,
    /// `RECORDINGS_KMS_KEY_ID`: encrypt with this KMS key (SSE-KMS) instead of S3's own (AES256).
    pub kms_key_id: Option<String>,
    /// `RECORDINGS_DIR`: the local folder; default `$PEDRO_DATA_DIR/recordings` (`.pedro/recordings`).
    pub dir: PathBuf,
    /// `PUBLIC_BASE_URL`: where browsers reach this process, the base of local download links;
    /// default `http://127.0.0.1:$PORT` (3000), as `pedro serve` listens.
    pub public_base_url: String,
    /// `RECORDING_LINK_SECRET`: signs local download links. Unset, each process draws a random
    /// key, so links die when it restarts.
    pub link_secret: Option<Secret>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: Option<Secret>,
    /// `DATABASE_CA_CERT`: PEM (or a path to one) of a CA to trust besides the web PKI roots.
    pub database_ca_cert: Option<String>,
    pub pool: PoolSettings,
    /// `VOIPMS_DID`: the practice number the API acts for and the default practice is created for.
    pub default_did: Option<Did>,
    pub voipms: Option<VoipMsSettings>,
    pub twilio: Option<TwilioSettings>,
    pub webhook_secret: Option<Secret>,
    /// `WEBHOOK_ALLOWED_NETWORKS`: when set, only these source networks may call the webhook.
    pub webhook_allowed_networks: Option<Vec<ipnet::IpNet>>,
    /// `SUPABASE_JWT_SECRET`: verifies HS256 access tokens.
    pub jwt_secret: Option<Secret>,
    /// `SUPABASE_JWKS_URL`: the keys that verify ES256/RS256 access tokens.
    pub jwks_url: Option<String>,
    /// `SUPABASE_JWT_ISSUER` (comma-separated): when set, access tokens must carry one of these `iss`.
    pub jwt_issuers: Vec<String>,
    /// `SUPABASE_URL`: the project the console signs users in with (Supabase Auth, email and
    /// password); given to the browser in the console's `config.json`.
    pub supabase_url: Option<String>,
    /// `SUPABASE_ANON_KEY`: the project's public anon key, sent by the console as `apikey`.
    pub supabase_anon_key: Option<String>,
    pub practice: PracticeDefaults,
    pub limits: RateLimits,
    /// check-sms answers automatically only texts younger than this; older ones go to a person.
    pub auto_reply_max_age: Duration,
    /// `VOIPMS_DATE_TIMEZONE`: the zone in which a carrier's `YYYY-MM-DD HH:MM:SS` date (the webhook's
    /// `date`) is read. UTC by default, as getSMS answers with `timezone=0`; see the README.
    pub carrier_date_timezone: chrono_tz::Tz,
    /// `TASK_QUEUE_URL`: the SQS queue replies (and later transcriptions) go through; unset, the
    /// Postgres table `job_queue` is the queue (`pedro serve`).
    pub task_queue_url: Option<String>,
    /// `QUEUE_MAX_ATTEMPTS`: deliveries of a task before it is dead (SQS: the queue's maxReceiveCount).
    pub queue_max_attempts: u32,
    /// check-sms re-reads this much before the end of its last successful window.
    pub check_sms_overlap: Duration,
    /// How far back the very first check-sms run looks.
    pub check_sms_initial_lookback: Duration,
    /// `PUBLIC_WEBHOOK_URL`: this deployment's own webhook, where configure-webhook points VoIP.ms.
    pub public_webhook_url: Option<reqwest::Url>,
    /// `WEBHOOK_ALLOWED_HOSTS`: other hosts an operator lets configure-webhook point VoIP.ms at.
    pub webhook_allowed_hosts: Vec<String>,
    /// `WEBHOOK_SECRET_GRACE_HOURS`: how long a practice's previous webhook secret keeps working
    /// after a rotation.
    pub webhook_secret_grace: Duration,
    pub recordings: BlobSettings,
    pub calls: CallSettings,
    pub transcription: TranscriptionSettings,
}

/// Speech-to-text providers: each is used when its credential is set, in `order`.
#[derive(Debug, Clone)]
pub struct TranscriptionSettings {
    /// `TRANSCRIPTION_PROVIDERS`: the fallback order (default `openai,google,huggingface`).
    pub order: Vec<String>,
    /// `TRANSCRIPTION_TIMEOUT_SECONDS`: one provider request.
    pub timeout: Duration,
    /// `TRANSCRIPTION_DEADLINE_SECONDS`: one delivery in all (every piece and provider), kept under
    /// the worker function's time limit (900 s on AWS).
    pub deadline: Duration,
    /// `OPENAI_API_KEY`, `OPENAI_BASE_URL` (an OpenAI-compatible Whisper server works too),
    /// `OPENAI_TRANSCRIPTION_MODEL`.
    pub openai_api_key: Option<Secret>,
    pub openai_base_url: Option<String>,
    pub openai_model: Option<String>,
    /// `OPENAI_FACTS_MODEL`: the chat model that reads key facts from transcripts.
    pub openai_facts_model: Option<String>,
    /// `GOOGLE_APPLICATION_CREDENTIALS` (a service-account key file), `GOOGLE_SPEECH_BASE_URL`,
    /// `GOOGLE_SPEECH_MODEL`, `GOOGLE_SPEECH_LANGUAGE`.
    pub google_credentials: Option<String>,
    pub google_base_url: Option<String>,
    pub google_model: Option<String>,
    pub google_language: Option<String>,
    /// `HF_TOKEN`, `HF_BASE_URL`, `HF_MODEL`, `HF_MAX_WAIT_SECONDS` (for a loading model).
    pub hf_token: Option<Secret>,
    pub hf_base_url: Option<String>,
    pub hf_model: Option<String>,
    pub hf_max_wait: Duration,
}

pub const TRANSCRIPTION_PROVIDERS: [&str; 3] = ["openai", "google", "huggingface"];

impl TranscriptionSettings {
    fn from_lookup(lookup: Lookup) -> Result<Self, ConfigError> {
        let order: Vec<String> = get(lookup, "TRANSCRIPTION_PROVIDERS")
            .map(|v| {
                v.split(',')
                    .map(|p| p.trim().to_ascii_lowercase())
                    .filter(|p| !p.is_empty())
                    .collect()
            })
            .unwrap_or_else(|| TRANSCRIPTION_PROVIDERS.iter().map(|p| p.to_string()).collect());
        if let Some(unknown) = order.iter().find(|p| !TRANSCRIPTION_PROVIDERS.contains(&p.as_str())) {
            return Err(ConfigError(format!(
                "TRANSCRIPTION_PROVIDERS names {unknown:?}; the providers are openai, google and huggingface"
            )));
        }
        Ok(Self {
            order,
            timeout: Duration::from_secs(parse(lookup, "TRANSCRIPTION_TIMEOUT_SECONDS", 300u64)?),
            deadline: Duration::from_secs(parse(lookup, "TRANSCRIPTION_DEADLINE_SECONDS", 780u64)?),
            openai_api_key: get(lookup, "OPENAI_API_KEY").map(Secret),
            openai_base_url: get(lookup, "OPENAI_BASE_URL"),
            openai_model: get(lookup, "OPENAI_TRANSCRIPTION_MODEL"),
            openai_facts_model: get(lookup, "OPENAI_FACTS_MODEL"),
            google_credentials: get(lookup, "GOOGLE_APPLICATION_CREDENTIALS"),
            google_base_url: get(lookup, "GOOGLE_SPEECH_BASE_URL"),
            google_model: get(lookup, "GOOGLE_SPEECH_MODEL"),
            google_language: get(lookup, "GOOGLE_SPEECH_LANGUAGE"),
            hf_token: get(lookup, "HF_TOKEN").map(Secret),
            hf_base_url: get(lookup, "HF_BASE_URL"),
            hf_model: get(lookup, "HF_MODEL"),
            hf_max_wait: Duration::from_secs(parse(lookup, "HF_MAX_WAIT_SECONDS", 120u64)?),
        })
    }
}

/// Call history, recordings and transcription requests.
#[derive(Debug, Clone)]
pub struct CallSettings {
    /// `VOIPMS_ACCOUNT`: the account (or sub-account) whose recordings `getCallRecordings` lists,
    /// unless a practice names its own. Unset: recordings are not synced.
    pub voipms_account: Option<String>,
    /// `CALL_SYNC_LOOKBACK_DAYS`: how far back the very first sync looks.
    pub initial_lookback: Duration,
    /// `CALL_SYNC_OVERLAP_MINUTES`: each sync re-reads this much before its last window ended
    /// (VoIP.ms lists a call once it has ended, so a long call can appear late).
    pub overlap: Duration,
    /// `ENABLE_TRANSCRIPTION`: each newly stored recording asks for one transcription.
    pub enable_transcription: bool,
    /// `TRANSCRIPTION_QUEUE_URL`: the SQS queue of transcription requests; unset, the Postgres queue.
    pub transcription_queue_url: Option<String>,
    /// `RECORDING_RETENTION_DAYS`: recordings older than this are deleted daily; unset: kept.
    pub recording_retention_days: Option<u32>,
}

impl CallSettings {
    fn from_lookup(lookup: Lookup) -> Result<Self, ConfigError> {
        let enable_transcription = match get(lookup, "ENABLE_TRANSCRIPTION").as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(ConfigError(format!(
                    "ENABLE_TRANSCRIPTION={other:?} must be true or false"
                )))
            }
        };
        let retention = get(lookup, "RECORDING_RETENTION_DAYS")
            .map(|v| {
                v.parse::<u32>().ok().filter(|d| *d >= 1).ok_or_else(|| {
                    ConfigError(format!(
                        "RECORDING_RETENTION_DAYS={v:?} must be a whole number of days, 1 or more"
                    ))
                })
            })
            .transpose()?;
        Ok(Self {
            voipms_account: get(lookup, "VOIPMS_ACCOUNT"),
            initial_lookback: Duration::from_secs(86_400 * parse(lookup, "CALL_SYNC_LOOKBACK_DAYS", 30u64)?),
            overlap: Duration::from_secs(60 * parse(lookup, "CALL_SYNC_OVERLAP_MINUTES", 120u64)?),
            enable_transcription,
            transcription_queue_url: get(lookup, "TRANSCRIPTION_QUEUE_URL"),
            recording_retention_days: retention,
        })
    }
}

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn get(lookup: Lookup, name: &str) -> Option<String> {
    lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn parse<T: std::str::FromStr>(lookup: Lookup, name: &str, default: T) -> Result<T, ConfigError> {
    match get(lookup, name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| ConfigError(format!("{name}={v:?} is not a valid value"))),
    }
}

fn pair(lookup: Lookup, a: &str, b: &str) -> Result<Option<(String, String)>, ConfigError> {
    match (get(lookup, a), get(lookup, b)) {
        (Some(x), Some(y)) => Ok(Some((x, y))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError(format!("{a} is set but {b} is missing"))),
        (None, Some(_)) => Err(ConfigError(format!("{b} is set but {a} is missing"))),
    }
}

/// An https URL with a host and no fragment: what VoIP.ms can call back.
fn public_webhook_url(value: &str) -> Result<reqwest::Url, ConfigError> {
    let url = reqwest::Url::parse(value).map_err(|e| ConfigError(format!("PUBLIC_WEBHOOK_URL={value:?}: {e}")))?;
    if url.scheme() != "https" || url.host_str().is_none() || url.fragment().is_some() {
        return Err(ConfigError(format!(
            "PUBLIC_WEBHOOK_URL={value:?} must be an https:// URL with a host and no #fragment"
        )));
    }
    Ok(url)
}

/// An absolute http(s) URL, kept verbatim: the signature covers its exact text.
fn twilio_webhook_url(lookup: Lookup) -> Result<Option<String>, ConfigError> {
    let Some(url) = get(lookup, "TWILIO_WEBHOOK_URL") else {
        return Ok(None);
    };
    match reqwest::Url::parse(&url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => Ok(Some(url)),
        _ => Err(ConfigError(format!(
            "TWILIO_WEBHOOK_URL={url:?} is not an absolute http(s) URL"
        ))),
    }
}

/// An absolute http(s) URL without query or fragment, with no trailing slash.
fn base_url(name: &str, value: &str) -> Result<String, ConfigError> {
    match reqwest::Url::parse(value) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.has_host()
                && url.query().is_none()
                && url.fragment().is_none() =>
        {
            Ok(value.trim_end_matches('/').to_string())
        }
        _ => Err(ConfigError(format!(
            "{name}={value:?} is not an absolute http(s) URL without ?query or #fragment"
        ))),
    }
}

fn blob_settings(lookup: Lookup) -> Result<BlobSettings, ConfigError> {
    let bucket = get(lookup, "RECORDINGS_BUCKET");
    for name in ["S3_ENDPOINT_URL", "RECORDINGS_KMS_KEY_ID"] {
        if bucket.is_none() && get(lookup, name).is_some() {
            return Err(ConfigError(format!("{name} is set but RECORDINGS_BUCKET is missing")));
        }
    }
    let link_secret = get(lookup, "RECORDING_LINK_SECRET").map(Secret);
    if link_secret.as_ref().is_some_and(|s| s.expose().len() < 32) {
        return Err(ConfigError(
            "RECORDING_LINK_SECRET must be at least 32 characters".into(),
        ));
    }
    let port: u16 = parse(lookup, "PORT", 3000)?;
    let data_dir = get(lookup, "PEDRO_DATA_DIR").unwrap_or_else(|| ".pedro".into());
    Ok(BlobSettings {
        bucket,
        s3_endpoint_url: get(lookup, "S3_ENDPOINT_URL")
            .map(|v| base_url("S3_ENDPOINT_URL", &v))
            .transpose()?,
        kms_key_id: get(lookup, "RECORDINGS_KMS_KEY_ID"),
        dir: get(lookup, "RECORDINGS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(data_dir).join("recordings")),
        public_base_url: get(lookup, "PUBLIC_BASE_URL")
            .map(|v| base_url("PUBLIC_BASE_URL", &v))
            .transpose()?
            .unwrap_or_else(|| format!("http://127.0.0.1:{port}")),
        link_secret,
    })
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: Lookup) -> Result<Self, ConfigError> {
        let default_did = get(lookup, "VOIPMS_DID")
            .map(|v| Did::parse(&v).map_err(|e| ConfigError(format!("VOIPMS_DID={v:?}: {e}"))))
            .transpose()?;
        let voipms = pair(lookup, "VOIPMS_USERNAME", "VOIPMS_PASSWORD")?
            .map(|(username, password)| -> Result<_, ConfigError> {
                Ok(VoipMsSettings {
                    username,
                    password: Secret(password),
                    api_url: get(lookup, "VOIPMS_API_URL").unwrap_or_else(|| DEFAULT_VOIPMS_API_URL.into()),
                    timeout: Duration::from_millis(parse(lookup, "VOIPMS_TIMEOUT_MS", 5_000)?),
                })
            })
            .transpose()?;
        if voipms.is_some() && default_did.is_none() {
            return Err(ConfigError("VOIPMS_USERNAME is set but VOIPMS_DID is missing".into()));
        }
        let twilio = match pair(lookup, "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")? {
            None => None,
            Some((account_sid, auth_token)) => {
                let from = get(lookup, "TWILIO_FROM_NUMBER")
                    .ok_or_else(|| ConfigError("TWILIO_ACCOUNT_SID is set but TWILIO_FROM_NUMBER is missing".into()))?;
                let from =
                    PhoneNumber::parse(&from).map_err(|e| ConfigError(format!("TWILIO_FROM_NUMBER={from:?}: {e}")))?;
                Some(TwilioSettings {
                    account_sid,
                    auth_token: Secret(auth_token),
                    from,
                    api_url: get(lookup, "TWILIO_API_URL").unwrap_or_else(|| DEFAULT_TWILIO_API_URL.into()),
                    timeout: Duration::from_millis(parse(lookup, "TWILIO_TIMEOUT_MS", 8_000)?),
                    webhook_url: twilio_webhook_url(lookup)?,
                })
            }
        };
        if twilio.is_none() && get(lookup, "TWILIO_WEBHOOK_URL").is_some() {
            return Err(ConfigError(
                "TWILIO_WEBHOOK_URL is set but TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are missing".into(),
            ));
        }
        let timezone: chrono_tz::Tz = parse(lookup, "PRACTICE_TIMEZONE", chrono_tz::America::Toronto)?;
        let hours_spec = get(lookup, "PRACTICE_OFFICE_HOURS").unwrap_or_else(|| "Mon-Fri 08:00-17:00".into());
        let office_hours =
            OfficeHours::parse(&hours_spec).map_err(|e| ConfigError(format!("PRACTICE_OFFICE_HOURS: {e}")))?;
        let phone = get(lookup, "PRACTICE_PHONE")
            .map(|v| PhoneNumber::parse(&v).map_err(|e| ConfigError(format!("PRACTICE_PHONE={v:?}: {e}"))))
            .transpose()?
            .or_else(|| default_did.as_ref().map(|d| d.number().clone()));
        Ok(Self {
            database_url: get(lookup, "DATABASE_URL").map(Secret),
            database_ca_cert: get(lookup, "DATABASE_CA_CERT"),
            pool: PoolSettings {
                max_size: parse(lookup, "DATABASE_POOL_SIZE", 4)?,
                timeout: Duration::from_millis(parse(lookup, "DATABASE_TIMEOUT_MS", 5_000)?),
            },
            default_did,
            voipms,
            twilio,
            webhook_secret: get(lookup, "WEBHOOK_SECRET").map(Secret),
            webhook_allowed_networks: get(lookup, "WEBHOOK_ALLOWED_NETWORKS")
                .map(|v| {
                    v.split([',', ' '])
                        .filter(|n| !n.is_empty())
                        .map(|n| {
                            // A bare address is a network of one.
                            n.parse::<ipnet::IpNet>()
                                .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                                .map_err(|_| {
                                    ConfigError(format!("WEBHOOK_ALLOWED_NETWORKS: {n:?} is not an address or CIDR"))
                                })
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?,
            jwt_secret: get(lookup, "SUPABASE_JWT_SECRET").map(Secret),
            jwks_url: get(lookup, "SUPABASE_JWKS_URL"),
            jwt_issuers: get(lookup, "SUPABASE_JWT_ISSUER")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|i| !i.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            supabase_url: get(lookup, "SUPABASE_URL")
                .map(|v| base_url("SUPABASE_URL", &v))
                .transpose()?,
            supabase_anon_key: get(lookup, "SUPABASE_ANON_KEY"),
            limits: RateLimits {
                send_per_minute: parse(lookup, "RATE_SEND_PER_MINUTE", 30)?,
                send_per_number_per_day: parse(lookup, "RATE_SEND_PER_NUMBER_PER_DAY", 20)?,
                webhook_per_minute: parse(lookup, "RATE_WEBHOOK_PER_MINUTE", 120)?,
                configure_per_hour: parse(lookup, "RATE_CONFIGURE_PER_HOUR", 10)?,
            },
            practice: PracticeDefaults {
                name: get(lookup, "PRACTICE_NAME").unwrap_or_else(|| "Our office".into()),
                phone,
                address: get(lookup, "PRACTICE_ADDRESS"),
                timezone,
                office_hours,
            },
            auto_reply_max_age: Duration::from_secs(60 * parse(lookup, "AUTO_REPLY_MAX_AGE_MINUTES", 60)?),
            check_sms_overlap: Duration::from_secs(60 * parse(lookup, "CHECK_SMS_OVERLAP_MINUTES", 60)?),
            carrier_date_timezone: parse(lookup, "VOIPMS_DATE_TIMEZONE", chrono_tz::UTC)?,
            task_queue_url: get(lookup, "TASK_QUEUE_URL"),
            queue_max_attempts: parse(lookup, "QUEUE_MAX_ATTEMPTS", 5u32)?.max(1),
            check_sms_initial_lookback: Duration::from_secs(
                3600 * parse(lookup, "CHECK_SMS_INITIAL_LOOKBACK_HOURS", 24)?,
            ),
            public_webhook_url: get(lookup, "PUBLIC_WEBHOOK_URL")
                .map(|v| public_webhook_url(&v))
                .transpose()?,
            webhook_allowed_hosts: get(lookup, "WEBHOOK_ALLOWED_HOSTS")
                .map(|v| {
                    v.split([',', ' '])
                        .filter(|h| !h.is_empty())
                        .map(str::to_ascii_lowercase)
                        .collect()
                })
                .unwrap_or_default(),
            webhook_secret_grace: Duration::from_secs(3600 * parse(lookup, "WEBHOOK_SECRET_GRACE_HOURS", 48)?),
            recordings: blob_settings(lookup)?,
            calls: CallSettings::from_lookup(lookup)?,
            transcription: TranscriptionSettings::from_lookup(lookup)?,
        })
    }

    /// For processes that cannot run without a database (every Lambda).
    pub fn require_database_url(&self) -> Result<&str, ConfigError> {
        self.database_url
            .as_ref()
            .map(Secret::expose)
            .ok_or_else(|| ConfigError("DATABASE_URL is required".into()))
    }

    /// The database to connect to, with its TLS settings.
    pub fn database(&self) -> anyhow::Result<PgTarget> {
        tls::target(self.require_database_url()?, self.database_ca_cert.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(&move |name| map.get(name).cloned())
    }

    #[test]
    fn nothing_set_means_sandbox_defaults() {
        let s = settings(&[]).unwrap();
        assert!(s.voipms.is_none() && s.twilio.is_none() && s.database_url.is_none());
        assert_eq!(s.practice.office_hours.describe(), "Mon–Fri 8:00 AM–5:00 PM");
        assert_eq!(s.auto_reply_max_age, Duration::from_secs(3600));
    }

    #[test]
    fn half_a_credential_is_named() {
        let err = settings(&[("VOIPMS_USERNAME", "a@b.c")]).unwrap_err().to_string();
        assert!(err.contains("VOIPMS_PASSWORD"), "{err}");
        let err = settings(&[("TWILIO_ACCOUNT_SID", "AC1"), ("TWILIO_AUTH_TOKEN", "t")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("TWILIO_FROM_NUMBER"), "{err}");
        let err = settings(&[("VOIPMS_USERNAME", "a"), ("VOIPMS_PASSWORD", "b")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("VOIPMS_DID"), "{err}");
    }

    #[test]
    fn wrong_values_are_named() {
        for (name, value) in [
            ("WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/8, example.com"),
            ("VOIPMS_DID", "12"),
            ("PRACTICE_TIMEZONE", "Mars/Olympus"),
            ("PRACTICE_OFFICE_HOURS", "whenever"),
            ("DATABASE_POOL_SIZE", "many"),
            ("PUBLIC_WEBHOOK_URL", "http://pedro.example.com/hook"),
            ("PUBLIC_WEBHOOK_URL", "not a url"),
            ("WEBHOOK_SECRET_GRACE_HOURS", "-1"),
            ("ENABLE_TRANSCRIPTION", "yes please"),
            ("RECORDING_RETENTION_DAYS", "0"),
            ("CALL_SYNC_LOOKBACK_DAYS", "a month"),
            ("TRANSCRIPTION_PROVIDERS", "openai,azure"),
        ] {
            let err = settings(&[(name, value)]).unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let s = settings(&[
            ("VOIPMS_USERNAME", "u"),
            ("VOIPMS_PASSWORD", "hunter2-voip"),
            ("VOIPMS_DID", "5145550123"),
            ("TWILIO_ACCOUNT_SID", "AC1"),
            ("TWILIO_AUTH_TOKEN", "hunter2-twilio"),
            ("TWILIO_FROM_NUMBER", "5145550111"),
            ("WEBHOOK_SECRET", "hunter2-hook"),
            ("DATABASE_URL", "postgres://u:hunter2-db@h/db"),
        ])
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("[redacted]"));
    }

    #[test]
    fn twilio_webhook_url_needs_twilio_and_an_absolute_url() {
        let twilio = [
            ("TWILIO_ACCOUNT_SID", "AC1"),
            ("TWILIO_AUTH_TOKEN", "t"),
            ("TWILIO_FROM_NUMBER", "5145550111"),
        ];
        let url = "https://abc.execute-api.ca-central-1.amazonaws.com/api/twilio/sms/webhook?x=1";
        let s = settings(&[twilio[0], twilio[1], twilio[2], ("TWILIO_WEBHOOK_URL", url)]).unwrap();
        assert_eq!(s.twilio.unwrap().webhook_url.as_deref(), Some(url), "kept verbatim");
        assert!(settings(&twilio).unwrap().twilio.unwrap().webhook_url.is_none());
        let err = settings(&[("TWILIO_WEBHOOK_URL", url)]).unwrap_err().to_string();
        assert!(err.contains("TWILIO_AUTH_TOKEN"), "{err}");
        for bad in ["/api/twilio/sms/webhook", "ftp://h/x", "not a url"] {
            let err = settings(&[twilio[0], twilio[1], twilio[2], ("TWILIO_WEBHOOK_URL", bad)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("TWILIO_WEBHOOK_URL"), "{err}");
        }
    }

    #[test]
    fn base_urls_are_configurable() {
        let s = settings(&[
            ("VOIPMS_USERNAME", "u"),
            ("VOIPMS_PASSWORD", "p"),
            ("VOIPMS_DID", "5145550123"),
            ("VOIPMS_API_URL", "http://127.0.0.1:9/api"),
        ])
        .unwrap();
        assert_eq!(s.voipms.unwrap().api_url, "http://127.0.0.1:9/api");
        assert_eq!(
            s.practice.phone.unwrap().as_e164(),
            "+15145550123",
            "practice phone defaults to the DID"
        );
    }

    #[test]
    fn recordings_go_to_s3_with_a_bucket_else_to_a_local_folder() {
        let local = settings(&[]).unwrap().recordings;
        assert!(local.bucket.is_none() && local.link_secret.is_none());
        assert_eq!(local.dir, PathBuf::from(".pedro/recordings"));
        assert_eq!(
            local.public_base_url, "http://127.0.0.1:3000",
            "where `pedro serve` listens"
        );
        let local = settings(&[
            ("PORT", "8080"),
            ("PEDRO_DATA_DIR", "/var/pedro"),
            ("PUBLIC_BASE_URL", "https://pedro.example.com/"),
        ])
        .unwrap()
        .recordings;
        assert_eq!(local.dir, PathBuf::from("/var/pedro/recordings"));
        assert_eq!(local.public_base_url, "https://pedro.example.com", "no trailing slash");
        assert_eq!(
            settings(&[("PORT", "8080")]).unwrap().recordings.public_base_url,
            "http://127.0.0.1:8080"
        );
        let s3 = settings(&[
            ("RECORDINGS_BUCKET", "clinic-recordings"),
            ("S3_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("RECORDINGS_KMS_KEY_ID", "alias/recordings"),
            ("RECORDINGS_DIR", "/tmp/unused"),
        ])
        .unwrap()
        .recordings;
        assert_eq!(s3.bucket.as_deref(), Some("clinic-recordings"));
        assert_eq!(s3.s3_endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(s3.kms_key_id.as_deref(), Some("alias/recordings"));
    }

    #[test]
    fn wrong_recording_settings_are_named() {
        for (vars, name) in [
            (&[("S3_ENDPOINT_URL", "http://127.0.0.1:5000")][..], "S3_ENDPOINT_URL"),
            (&[("RECORDINGS_KMS_KEY_ID", "k")][..], "RECORDINGS_KMS_KEY_ID"),
            (
                &[("RECORDINGS_BUCKET", "b"), ("S3_ENDPOINT_URL", "localhost:5000")][..],
                "S3_ENDPOINT_URL",
            ),
            (&[("PUBLIC_BASE_URL", "pedro.example.com")][..], "PUBLIC_BASE_URL"),
            (
                &[("PUBLIC_BASE_URL", "https://pedro.example.com/?a=1")][..],
                "PUBLIC_BASE_URL",
            ),
            (&[("RECORDING_LINK_SECRET", "short")][..], "RECORDING_LINK_SECRET"),
            (&[("PORT", "http")][..], "PORT"),
        ] {
            let err = settings(vars).unwrap_err().to_string();
            assert!(err.contains(name), "{vars:?}: {err}");
        }
    }

    #[test]
    fn the_recording_link_secret_never_prints() {
        let s = settings(&[("RECORDING_LINK_SECRET", "hunter2-links-0123456789abcdefghijkl")]).unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert_eq!(
            s.recordings.link_secret.unwrap().expose(),
            "hunter2-links-0123456789abcdefghijkl"
        );
    }
}
