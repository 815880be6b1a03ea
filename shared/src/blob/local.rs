//! The object store as a folder, for `pedro serve`: an object is the file `{root}/{key}`, its
//! content type the file `{root}/{key}+type` beside it (`+` cannot occur in a key, so no key names
//! it). Writes go to a temporary file renamed into place, so a reader never sees half an object.
//!
//! Download links are `{base}/files/{key}?expires={unix seconds}&signature={base64url(HMAC-SHA256(
//! key + "\n" + expires))}`, checked by [`LocalFolder::verify`] and served, with Range support, by
//! the `GET /files/{*key}` route (`http/blob_files.rs`).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::io::AsyncWriteExt;

use super::{BlobError, BlobKey, BlobStore};

/// As long as S3 allows a presigned URL to live, so both adapters accept the same TTLs.
pub const MAX_LINK_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why a download link is refused; either way the answer is 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a link this process signed: altered, truncated, or signed with another key.
    #[error("the download link is not valid")]
    BadSignature,
    #[error("the download link has expired")]
    Expired,
}

/// A link-signing key for a process that was given none.
pub fn random_signing_key() -> anyhow::Result<Vec<u8>> {
    let mut key = vec![0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| anyhow::anyhow!("the system's random number generator failed"))?;
    Ok(key)
}

/// No `Debug`: it holds the signing key.
pub struct LocalFolder {
    root: PathBuf,
    link_base_url: String,
    signing_key: hmac::Key,
}

impl LocalFolder {
    /// `link_base_url` is where browsers reach the `/files/` route (no trailing slash needed).
    pub fn new(root: PathBuf, link_base_url: String, signing_key: Vec<u8>) -> Self {
        Self {
            root,
            link_base_url: link_base_url.trim_end_matches('/').to_string(),
            signing_key: hmac::Key::new(hmac::HMAC_SHA256, &signing_key),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &BlobKey) -> PathBuf {
        // A parsed key has no empty, `.` or `..` segment, so this stays under root.
        self.root.join(key.as_str())
    }

    fn signature(&self, key: &str, expires: &str) -> hmac::Tag {
        hmac::sign(&self.signing_key, format!("{key}\n{expires}").as_bytes())
    }

    /// The file a link names, if this process signed it and it has not expired at `now`. The
    /// comparison takes the same time wherever the signatures differ.
    pub fn verify(&self, key: &str, expires: &str, signature: &str, now: DateTime<Utc>) -> Result<PathBuf, LinkError> {
        let key = BlobKey::parse(key).map_err(|_| LinkError::BadSignature)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| LinkError::BadSignature)?;
        hmac::verify(&self.signing_key, format!("{key}\n{expires}").as_bytes(), &signature)
            .map_err(|_| LinkError::BadSignature)?;
        // Signed by us, so `expires` is our own decimal number.
        let expires: i64 = expires.parse().map_err(|_| LinkError::BadSignature)?;
        if now.timestamp() >= expires {
            return Err(LinkError::Expired);
        }
        Ok(self.path_of(&key))
    }

    /// The content type stored with the file at `path` (as [`Self::verify`] returned it).
    pub async fn content_type_of(&self, path: &Path) -> Option<String> {
        tokio::fs::read_to_string(type_path(path)).await.ok()
    }
}

fn type_path(path: &Path) -> PathBuf {
    with_suffix(path, "+type")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Absent, including a key that is a folder of other keys or runs through a file.
fn is_absent(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::NotFound | ErrorKind::IsADirectory | ErrorKind::NotADirectory
    )
}

fn io_error(what: &str, key: &BlobKey, error: std::io::Error) -> BlobError {
    let message = format!("{what} {key}: {error}");
    match error.kind() {
        // The folder's permissions or layout will not change by themselves (e.g. a key that is
        // already a folder of other keys).
        ErrorKind::PermissionDenied
        | ErrorKind::ReadOnlyFilesystem
        | ErrorKind::IsADirectory
        | ErrorKind::NotADirectory
        | ErrorKind::InvalidInput
        | ErrorKind::InvalidFilename => BlobError::Permanent(message),
        // A full disk, an interrupted write: worth another try.
        _ => BlobError::Retryable(message),
    }
}

/// Writes a temporary file beside `path`, flushes it to disk, then renames it over `path`.
async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = with_suffix(path, &format!("+tmp-{}", uuid::Uuid::new_v4()));
    let written = async {
        let mut file = tokio::fs::File::create(&temporary).await?;
        file.write_all(bytes).await?;
        file.sync_all().await?;
        drop(file);
        tokio::fs::rename(&temporary, path).await
    }
    .await;
    if written.is_err() {
        let _ = tokio::fs::remove_file(&temporary).await;
    }
    written
}

#[async_trait]
impl BlobStore for LocalFolder {
    fn kind(&self) -> &'static str {
        "local"
    }

    async fn put(&self, key: &BlobKey, bytes: Vec<u8>, content_type: &str) -> Result<(), BlobError> {
        if content_type.is_empty() || axum::http::HeaderValue::from_str(content_type).is_err() {
            return Err(BlobError::Permanent(format!("bad content type {content_type:?}")));
        }
        let path = self.path_of(key);
        if let Some(folder) = path.parent() {
            tokio::fs::create_dir_all(folder)
                .await
                .map_err(|e| io_error("create the folder of", key, e))?;
        }
        write_atomically(&type_path(&path), content_type.as_bytes())
            .await
            .map_err(|e| io_error("write the type of", key, e))?;
        write_atomically(&path, &bytes)
            .await
            .map_err(|e| io_error("write", key, e))
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Vec<u8>>, BlobError> {
        match tokio::fs::read(self.path_of(key)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(io_error("read", key, e)),
        }
    }

    async fn size(&self, key: &BlobKey) -> Result<Option<u64>, BlobError> {
        match tokio::fs::metadata(self.path_of(key)).await {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            Ok(_) => Ok(None),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(io_error("look up", key, e)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        let path = self.path_of(key);
        for file in [path.clone(), type_path(&path)] {
            match tokio::fs::remove_file(&file).await {
                Ok(()) => {}
                Err(e) if is_absent(&e) => {}
                Err(e) => return Err(io_error("delete", key, e)),
            }
        }
        Ok(())
    }

    async fn download_url(&self, key: &BlobKey, ttl: Duration, now: DateTime<Utc>) -> Result<String, BlobError> {
        if ttl > MAX_LINK_TTL {
            return Err(BlobError::Permanent("a download link lives at most a week".into()));
        }
        let expires = (now.timestamp() + ttl.as_secs() as i64).to_string();
        let signature = URL_SAFE_NO_PAD.encode(self.signature(key.as_str(), &expires));
        Ok(format!(
            "{}/files/{key}?expires={expires}&signature={signature}",
            self.link_base_url
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(key: &[u8]) -> LocalFolder {
        LocalFolder::new("/srv/rec".into(), "http://127.0.0.1:3000/".into(), key.to_vec())
    }

    fn link_parts(url: &str) -> (String, String, String) {
        let url = reqwest::Url::parse(url).unwrap();
        let key = url.path().strip_prefix("/files/").unwrap().to_string();
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        (key, query["expires"].clone(), query["signature"].clone())
    }

    #[tokio::test]
    async fn a_link_verifies_until_it_expires() {
        let store = folder(b"k1");
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let key = BlobKey::parse("calls/1.mp3").unwrap();
        let url = store.download_url(&key, Duration::from_secs(300), now).await.unwrap();
        assert!(
            url.starts_with("http://127.0.0.1:3000/files/calls/1.mp3?expires=1700000300&signature="),
            "{url}"
        );
        let (k, e, s) = link_parts(&url);
        assert_eq!(store.verify(&k, &e, &s, now), Ok(PathBuf::from("/srv/rec/calls/1.mp3")));
        let last_second = now + chrono::Duration::seconds(299);
        assert!(store.verify(&k, &e, &s, last_second).is_ok());
        let at_expiry = now + chrono::Duration::seconds(300);
        assert_eq!(store.verify(&k, &e, &s, at_expiry), Err(LinkError::Expired));
    }

    #[tokio::test]
    async fn an_altered_link_is_refused() {
        let store = folder(b"k1");
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let key = BlobKey::parse("calls/1.mp3").unwrap();
        let (k, e, s) = link_parts(&store.download_url(&key, Duration::from_secs(60), now).await.unwrap());
        let later = (e.parse::<i64>().unwrap() + 3600).to_string();
        let mut flipped = s.clone().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        for (k, e, s) in [
            ("calls/2.mp3", e.as_str(), s.as_str()),
            (k.as_str(), later.as_str(), s.as_str()),
            (k.as_str(), e.as_str(), flipped.as_str()),
            (k.as_str(), e.as_str(), ""),
            (k.as_str(), e.as_str(), "not base64!"),
            (k.as_str(), "", s.as_str()),
            ("../etc/passwd", e.as_str(), s.as_str()),
        ] {
            assert_eq!(store.verify(k, e, s, now), Err(LinkError::BadSignature), "{k} {e} {s}");
        }
        assert_eq!(
            folder(b"another key").verify(&k, &e, &s, now),
            Err(LinkError::BadSignature)
        );
    }

    #[tokio::test]
    async fn links_live_at_most_a_week() {
        let key = BlobKey::parse("a").unwrap();
        let week = MAX_LINK_TTL + Duration::from_secs(1);
        let error = folder(b"k").download_url(&key, week, Utc::now()).await.unwrap_err();
        assert!(!error.is_retryable());
    }
}
