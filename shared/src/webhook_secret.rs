//! Per-practice webhook secrets: 32 random bytes, shown once as URL-safe base64 (they travel in
//! VoIP.ms's callback URL), and kept only as their SHA-256, so a database dump does not reveal them.
//! A high-entropy secret needs no slow hash: nobody can guess it from its digest.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use ring::rand::{SecureRandom, SystemRandom};
use uuid::Uuid;

use crate::config::Secret;
use crate::db::{Conn, DbError};
use crate::store::webhook_secrets;

pub const SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("the system's random number generator failed")]
    Random,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A fresh secret from the operating system's random source.
pub fn generate() -> Result<Secret, RotateError> {
    let mut bytes = [0u8; SECRET_BYTES];
    SystemRandom::new().fill(&mut bytes).map_err(|_| RotateError::Random)?;
    Ok(Secret(URL_SAFE_NO_PAD.encode(bytes)))
}

/// What is stored and compared: the SHA-256 of the secret as given.
pub fn hash(secret: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Compares without leaking through timing where the first difference is.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The index of the first candidate equal to `hash`, after comparing every one of them, so the
/// time taken does not depend on which (if any) matched.
pub fn position_of<'a>(hash: &[u8], candidates: impl IntoIterator<Item = &'a [u8]>) -> Option<usize> {
    let mut found = None;
    for (index, candidate) in candidates.into_iter().enumerate() {
        if constant_time_eq(hash, candidate) && found.is_none() {
            found = Some(index);
        }
    }
    found
}

/// Gives the practice a new current secret and returns it (the only time it is ever readable);
/// its previous one keeps working for `grace`. Runs in the caller's transaction, so a caller that
/// must first hand the secret to VoIP.ms can still roll back.
pub async fn rotate(
    conn: &impl Conn,
    practice_id: Uuid,
    now: DateTime<Utc>,
    grace: std::time::Duration,
) -> Result<Secret, RotateError> {
    let secret = generate()?;
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    webhook_secrets::rotate(conn, practice_id, &hash(secret.expose()), now, grace).await?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_url_safe_and_different() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43, "32 bytes of base64 without padding");
        assert!(a
            .expose()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(format!("{a:?}"), "[redacted]");
    }

    #[test]
    fn hashes_are_sha256() {
        // SHA-256("abc"), from FIPS 180-2.
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let hex: String = hash("abc").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }

    #[test]
    fn comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        let (a, b, c) = (hash("a"), hash("b"), hash("c"));
        let candidates = [a.as_slice(), b.as_slice(), b.as_slice()];
        assert_eq!(position_of(&b, candidates), Some(1));
        assert_eq!(position_of(&c, candidates), None);
    }
}
