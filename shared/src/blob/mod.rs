//! The object-store port: call recordings (megabytes of audio) live outside Postgres, and staff
//! download them by a short-lived link, since a Lambda response cannot carry more than 6 MB.
//!
//! Adapters: [`s3::S3Store`] on AWS (server-side encrypted objects, presigned GET links) and
//! [`local::LocalFolder`] under `pedro serve` (files in a folder, HMAC-signed links served by the
//! route `GET /files/{*key}` in `http/blob_files.rs`). One contract suite runs against both
//! (tests/integration/blob_store.rs).

pub mod local;
pub mod s3;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::config::BlobSettings;

pub use local::{LinkError, LocalFolder};
pub use s3::S3Store;

/// Longest key accepted, in bytes (S3 allows 1024; ours are ids).
pub const MAX_KEY_BYTES: usize = 512;

/// An object's name: 1 to 512 bytes of `[A-Za-z0-9._/-]`, `/`-separated segments none of which is
/// empty, `.` or `..`. So a key is the same object on every adapter, needs no escaping in a URL,
/// and can never name a file outside the local folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    pub fn parse(key: &str) -> Result<Self, BlobError> {
        let bad = |why: &str| Err(BlobError::Permanent(format!("bad object key {key:?}: {why}")));
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return bad("must be 1 to 512 bytes");
        }
        if !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-'))
        {
            return bad("only letters, digits and . _ / - are allowed");
        }
        if key.split('/').any(|segment| matches!(segment, "" | "." | "..")) {
            return bad("no leading, trailing or double /, and no . or .. segment");
        }
        Ok(Self(key.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a store operation failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    /// The network, a 5xx, throttling, a full disk: another try may work.
    #[error("object store unavailable: {0}")]
    Retryable(String),
    /// Access denied, no such bucket, a bad key: trying again cannot help.
    #[error("object store refused: {0}")]
    Permanent(String),
}

impl BlobError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable(_))
    }
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    /// "s3" or "local", for logs and reports.
    fn kind(&self) -> &'static str;

    /// Stores `bytes` under `key`, replacing what was there; readers see the old object or the
    /// new one, never a part. S3 keeps `content_type`; so does the local folder, beside the file.
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>, content_type: &str) -> Result<(), BlobError>;

    async fn get(&self, key: &BlobKey) -> Result<Option<Vec<u8>>, BlobError>;

    /// Size in bytes, None when absent.
    async fn size(&self, key: &BlobKey) -> Result<Option<u64>, BlobError>;

    /// Idempotent: deleting an absent object is Ok.
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;

    /// A short-lived URL that downloads the object without further credentials, valid from `now`
    /// for `ttl` (at most a week on S3). It is not checked that the object exists.
    async fn download_url(&self, key: &BlobKey, ttl: Duration, now: DateTime<Utc>) -> Result<String, BlobError>;
}

/// The store settings choose, with the local folder again when it is that store: the same
/// instance must serve the links it signs (its key may be random per process).
pub struct OpenedStore {
    pub store: Arc<dyn BlobStore>,
    /// For the `GET /files/{*key}` route; None on S3.
    pub local: Option<Arc<LocalFolder>>,
}

/// S3 when a bucket is configured, else the local folder. Builds clients lazily; touches nothing.
pub fn open(settings: &BlobSettings) -> anyhow::Result<OpenedStore> {
    if let Some(bucket) = &settings.bucket {
        let store = S3Store::from_env(bucket.clone(), settings.s3_endpoint_url.clone())
            .with_kms_key(settings.kms_key_id.clone());
        return Ok(OpenedStore {
            store: Arc::new(store),
            local: None,
        });
    }
    let signing_key = match &settings.link_secret {
        Some(secret) => secret.expose().as_bytes().to_vec(),
        None => local::random_signing_key()?,
    };
    let folder = Arc::new(LocalFolder::new(
        settings.dir.clone(),
        settings.public_base_url.clone(),
        signing_key,
    ));
    Ok(OpenedStore {
        store: folder.clone(),
        local: Some(folder),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_plain_relative_paths() {
        for good in ["a", "recordings/2024/call-1.mp3", "A_b.c-d/e", ".hidden/x", "x/..y"] {
            assert_eq!(BlobKey::parse(good).unwrap().as_str(), good);
        }
        let longest = "k".repeat(MAX_KEY_BYTES);
        assert!(BlobKey::parse(&longest).is_ok());
        for bad in [
            "",
            "/x",
            "x/",
            "a//b",
            ".",
            "..",
            "../x",
            "a/../b",
            "a/./b",
            "a b",
            "a\\b",
            "a%2e",
            "é",
            "a\0b",
            "a?b",
            "a+b",
            &"k".repeat(MAX_KEY_BYTES + 1),
        ] {
            let error = BlobKey::parse(bad).unwrap_err();
            assert!(!error.is_retryable(), "{bad:?}");
        }
    }

    #[test]
    fn settings_choose_the_adapter() {
        let settings = |bucket: Option<&str>| BlobSettings {
            bucket: bucket.map(String::from),
            s3_endpoint_url: None,
            kms_key_id: None,
            dir: "/nonexistent/recordings".into(),
            public_base_url: "http://127.0.0.1:3000".into(),
            link_secret: None,
        };
        let local = open(&settings(None)).unwrap();
        assert_eq!(local.store.kind(), "local");
        assert!(local.local.is_some());
        let s3 = open(&settings(Some("recordings"))).unwrap();
        assert_eq!(s3.store.kind(), "s3");
        assert!(s3.local.is_none());
    }
}
