//! Who is calling: bearer JWTs as Supabase issues them.
//!
//! HS256 tokens are checked with the project's secret (`SUPABASE_JWT_SECRET`); ES256 and RS256
//! tokens with the keys published at `SUPABASE_JWKS_URL` (fetched once, fetched again for an unknown
//! key id at most once a minute). Signature, expiry, not-before and audience (`authenticated`) are
//! checked, and the issuer when `SUPABASE_JWT_ISSUER` is set. The practice and the staff role come from `app_metadata`, which users cannot edit; a `service_role`
//! token acts for every practice.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use uuid::Uuid;

use crate::config::Secret;

const AUDIENCE: &str = "authenticated";
const JWKS_REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads threads and sends texts.
    Staff,
    /// Also configures the webhook, syncs and reads analytics.
    Admin,
    /// Supabase's service role (and the jobs): every practice.
    Service,
}

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub role: Role,
    /// None for the service role.
    pub practice_id: Option<Uuid>,
    /// The verified claims, handed to Postgres for row-level security.
    pub claims: Value,
}

impl Caller {
    /// The service role, as the jobs and the webhook act (and `pedro serve --insecure-no-auth`).
    pub fn service() -> Self {
        Self {
            role: Role::Service,
            practice_id: None,
            claims: serde_json::json!({"role": "service_role"}),
        }
    }

    /// Who runs a read-only query that filters by the acting practice itself (`practice_id = $1`,
    /// the id the authorization layer found under the caller's row-level security): the service
    /// role. Under the caller's policies the planner may not use a full-text index (`@@` is not
    /// leakproof, so it must wait for the policy) and every row read re-parses the token's claims:
    /// search and analytics ran 11× and 2–12× slower for it on a million rows (`scripts/bench.sh`).
    pub fn practice_filtered_reader() -> Self {
        Self::service()
    }

    /// Who this is, for audit trails: the token's `sub` (a user); None for the service role.
    pub fn subject(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }

    /// `staff`, `admin` or `service`.
    pub fn role_name(&self) -> &'static str {
        match self.role {
            Role::Staff => "staff",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// 401: no token, or one we cannot trust.
    #[error("{0}")]
    Unauthenticated(String),
    /// 403: a good token that may not do this.
    #[error("{0}")]
    Forbidden(String),
}

fn unauthenticated(message: impl Into<String>) -> AuthError {
    AuthError::Unauthenticated(message.into())
}

/// The published keys by key id, and when they were last fetched.
type KeyCache = (HashMap<String, (Algorithm, DecodingKey)>, Option<Instant>);

struct Jwks {
    url: String,
    http: reqwest::Client,
    keys: Mutex<KeyCache>,
}

pub struct Authenticator {
    hs256: Option<DecodingKey>,
    jwks: Option<Jwks>,
    /// When not empty, tokens must carry one of these `iss` values (Supabase's user tokens:
    /// `https://<ref>.supabase.co/auth/v1`; its legacy service-role key: `supabase`).
    issuers: Vec<String>,
}

impl Authenticator {
    /// None when neither a secret nor a JWKS URL is configured.
    pub fn new(secret: Option<&Secret>, jwks_url: Option<&str>) -> Option<Self> {
        if secret.is_none() && jwks_url.is_none() {
            return None;
        }
        Some(Self {
            hs256: secret.map(|s| DecodingKey::from_secret(s.expose().as_bytes())),
            jwks: jwks_url.map(|url| Jwks {
                url: url.to_string(),
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap_or_default(),
                keys: Mutex::new((HashMap::new(), None)),
            }),
            issuers: Vec::new(),
        })
    }

    /// Requires tokens to name one of `issuers` in `iss` (empty: any issuer).
    pub fn with_issuers(mut self, issuers: Vec<String>) -> Self {
        self.issuers = issuers;
        self
    }

    /// Verifies an `Authorization` header value.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, AuthError> {
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthenticated("send `Authorization: Bearer <token>` with a Supabase access token"))?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| unauthenticated("the token is not a JWT"))?;
        let key = match header.alg {
            Algorithm::HS256 => self
                .hs256
                .clone()
                .ok_or_else(|| unauthenticated("HS256 tokens are not accepted here"))?,
            Algorithm::ES256 | Algorithm::RS256 => {
                let jwks = self
                    .jwks
                    .as_ref()
                    .ok_or_else(|| unauthenticated("asymmetric tokens are not accepted here"))?;
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| unauthenticated("the token has no key id"))?;
                jwks.key(kid, header.alg).await?
            }
            other => {
                return Err(unauthenticated(format!(
                    "tokens signed with {other:?} are not accepted"
                )))
            }
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = 30;
        // The audience is checked below: service-role keys carry none.
        validation.validate_aud = false;
        validation.required_spec_claims = ["exp".to_string()].into();
        // A token issued for later is refused until then (`nbf` is optional; checked when present).
        validation.validate_nbf = true;
        if !self.issuers.is_empty() {
            validation.set_issuer(&self.issuers);
            validation.required_spec_claims.insert("iss".to_string());
        }
        let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|e| unauthenticated(format!("the token is not valid: {}", e.kind_description())))?
            .claims;
        caller_from_claims(claims)
    }
}

trait KindDescription {
    fn kind_description(&self) -> &'static str;
}

impl KindDescription for jsonwebtoken::errors::Error {
    fn kind_description(&self) -> &'static str {
        use jsonwebtoken::errors::ErrorKind;
        match self.kind() {
            ErrorKind::ExpiredSignature => "it has expired",
            ErrorKind::InvalidSignature => "its signature does not match",
            ErrorKind::ImmatureSignature => "it is not valid yet",
            ErrorKind::MissingRequiredClaim(_) => "it lacks a required claim",
            ErrorKind::InvalidIssuer => "it was issued by someone else",
            _ => "it could not be verified",
        }
    }
}

/// Maps verified claims to a caller: the service role, or a practice member with a staff role.
pub fn caller_from_claims(claims: Value) -> Result<Caller, AuthError> {
    if claims.get("role").and_then(Value::as_str) == Some("service_role") {
        return Ok(Caller {
            role: Role::Service,
            practice_id: None,
            claims,
        });
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == AUDIENCE,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(AUDIENCE)),
        _ => false,
    };
    if !audience_ok {
        return Err(unauthenticated(format!("the token's audience is not `{AUDIENCE}`")));
    }
    let metadata = claims.get("app_metadata");
    let practice_id = metadata
        .and_then(|m| m.get("practice_id"))
        .and_then(Value::as_str)
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| {
            AuthError::Forbidden("this account is not linked to a practice (app_metadata.practice_id)".into())
        })?;
    let role = match metadata.and_then(|m| m.get("practice_role")).and_then(Value::as_str) {
        Some("admin") => Role::Admin,
        Some("staff") => Role::Staff,
        _ => {
            return Err(AuthError::Forbidden(
                "this account has no practice role (app_metadata.practice_role)".into(),
            ))
        }
    };
    Ok(Caller {
        role,
        practice_id: Some(practice_id),
        claims,
    })
}

impl Jwks {
    async fn key(&self, kid: &str, alg: Algorithm) -> Result<DecodingKey, AuthError> {
        if let Some(key) = self.cached(kid, alg)? {
            return Ok(key);
        }
        let may_refresh = self
            .keys
            .lock()
            .map(|k| k.1.is_none_or(|at| at.elapsed() >= JWKS_REFRESH_AT_MOST_EVERY))
            .unwrap_or(true);
        if may_refresh {
            self.refresh().await?;
        }
        self.cached(kid, alg)?
            .ok_or_else(|| unauthenticated("the token's signing key is unknown"))
    }

    fn cached(&self, kid: &str, alg: Algorithm) -> Result<Option<DecodingKey>, AuthError> {
        let keys = self.keys.lock().map_err(|_| unauthenticated("key cache unavailable"))?;
        match keys.0.get(kid) {
            Some((key_alg, key)) if *key_alg == alg => Ok(Some(key.clone())),
            Some(_) => Err(unauthenticated("the token's algorithm does not match its key")),
            None => Ok(None),
        }
    }

    async fn refresh(&self) -> Result<(), AuthError> {
        let unavailable = |e: String| {
            tracing::warn!(error = %e, "cannot fetch the JWKS");
            unauthenticated("the signing keys could not be fetched")
        };
        let set: JwkSet = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| unavailable(e.without_url().to_string()))?
            .json()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let mut fresh = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk)) else {
                continue;
            };
            let alg = match &jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                _ => continue,
            };
            fresh.insert(kid, (alg, key));
        }
        if let Ok(mut keys) = self.keys.lock() {
            *keys = (fresh, Some(Instant::now()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const SECRET: &str = "a-test-secret-that-is-long-enough";

    fn token(claims: Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    fn exp(offset: i64) -> i64 {
        chrono::Utc::now().timestamp() + offset
    }

    async fn check(claims: Value) -> Result<Caller, AuthError> {
        let auth = Authenticator::new(Some(&Secret(SECRET.into())), None).unwrap();
        auth.authenticate(Some(&format!("Bearer {}", token(claims)))).await
    }

    #[tokio::test]
    async fn staff_and_admins_come_from_app_metadata() {
        let practice = Uuid::new_v4();
        let staff = check(json!({"aud": "authenticated", "exp": exp(60), "role": "authenticated",
            "app_metadata": {"practice_id": practice.to_string(), "practice_role": "staff"}}))
        .await
        .unwrap();
        assert_eq!((staff.role, staff.practice_id), (Role::Staff, Some(practice)));
        let admin = check(json!({"aud": ["authenticated"], "exp": exp(60),
            "app_metadata": {"practice_id": practice.to_string(), "practice_role": "admin"}}))
        .await
        .unwrap();
        assert_eq!(admin.role, Role::Admin);
        let service = check(json!({"role": "service_role", "exp": exp(60)})).await.unwrap();
        assert_eq!((service.role, service.practice_id), (Role::Service, None));
    }

    #[tokio::test]
    async fn user_metadata_is_not_trusted_and_bad_tokens_are_refused() {
        let practice = Uuid::new_v4().to_string();
        // The practice in user_metadata (which users can edit) does not count.
        let forged = check(json!({"aud": "authenticated", "exp": exp(60),
            "user_metadata": {"practice_id": practice, "practice_role": "admin"}}))
        .await;
        assert!(matches!(forged, Err(AuthError::Forbidden(_))));
        let expired = check(json!({"aud": "authenticated", "exp": exp(-3600),
            "app_metadata": {"practice_id": practice, "practice_role": "admin"}}))
        .await;
        assert!(matches!(expired, Err(AuthError::Unauthenticated(m)) if m.contains("expired")));
        let wrong_audience = check(json!({"aud": "anon", "exp": exp(60),
            "app_metadata": {"practice_id": practice, "practice_role": "admin"}}))
        .await;
        assert!(matches!(wrong_audience, Err(AuthError::Unauthenticated(_))));
        let auth = Authenticator::new(Some(&Secret(SECRET.into())), None).unwrap();
        for header in [None, Some("Basic abc"), Some("Bearer "), Some("Bearer not.a.jwt")] {
            assert!(
                matches!(auth.authenticate(header).await, Err(AuthError::Unauthenticated(_))),
                "{header:?}"
            );
        }
        let other_secret = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &json!({"role": "service_role", "exp": exp(60)}),
            &EncodingKey::from_secret(b"someone-else's-secret"),
        )
        .unwrap();
        assert!(auth
            .authenticate(Some(&format!("Bearer {other_secret}")))
            .await
            .is_err());
    }

    fn member(extra: Value) -> Value {
        let mut claims = json!({"aud": "authenticated", "exp": exp(600),
            "app_metadata": {"practice_id": Uuid::new_v4().to_string(), "practice_role": "staff"}});
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        claims
    }

    #[tokio::test]
    async fn a_token_is_refused_before_its_not_before_time() {
        let later = check(member(json!({"nbf": exp(600)}))).await;
        assert!(matches!(later, Err(AuthError::Unauthenticated(m)) if m.contains("not valid yet")));
        assert!(check(member(json!({"nbf": exp(-60)}))).await.is_ok());
    }

    #[tokio::test]
    async fn the_issuer_is_checked_when_configured() {
        const OURS: &str = "https://ours.supabase.co/auth/v1";
        let auth = Authenticator::new(Some(&Secret(SECRET.into())), None)
            .unwrap()
            .with_issuers(vec![OURS.into(), "supabase".into()]);
        let check = |claims: Value| {
            let header = format!("Bearer {}", token(claims));
            let auth = &auth;
            async move { auth.authenticate(Some(&header)).await }
        };
        assert!(check(member(json!({"iss": OURS}))).await.is_ok());
        let service = check(json!({"iss": "supabase", "role": "service_role", "exp": exp(60)})).await;
        assert_eq!(service.unwrap().role, Role::Service);
        let theirs = check(member(json!({"iss": "https://theirs.supabase.co/auth/v1"}))).await;
        assert!(matches!(theirs, Err(AuthError::Unauthenticated(m)) if m.contains("issued by someone else")));
        assert!(check(member(json!({}))).await.is_err(), "no iss at all");
        // Not configured: any issuer.
        assert!(
            super::tests::check(member(json!({"iss": "https://theirs.supabase.co/auth/v1"})))
                .await
                .is_ok()
        );
    }
}
