//! The object store on AWS: one S3 bucket. Every object is encrypted at rest (SSE-S3, or SSE-KMS
//! with a configured key) and keeps its content type; download links are presigned GETs.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use super::{BlobError, BlobKey, BlobStore};

pub struct S3Store {
    bucket: String,
    endpoint_url: Option<String>,
    kms_key_id: Option<String>,
    /// Built on first use: loading the AWS configuration is async and may fetch credentials, which
    /// a process that never touches a recording should not pay for at start-up.
    client: OnceCell<aws_sdk_s3::Client>,
}

impl S3Store {
    /// A store whose client comes from the environment (region, credentials) on first use. With
    /// `endpoint_url` (moto, MinIO) it addresses the bucket path-style, as those expect.
    pub fn from_env(bucket: impl Into<String>, endpoint_url: Option<String>) -> Self {
        Self {
            bucket: bucket.into(),
            endpoint_url,
            kms_key_id: None,
            client: OnceCell::new(),
        }
    }

    /// A store over a client built by the caller (tests point one at moto).
    pub fn with_client(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            endpoint_url: None,
            kms_key_id: None,
            client: OnceCell::new_with(Some(client)),
        }
    }

    /// Encrypt new objects with this KMS key (SSE-KMS) instead of S3's own keys (AES256).
    pub fn with_kms_key(mut self, kms_key_id: Option<String>) -> Self {
        self.kms_key_id = kms_key_id;
        self
    }

    async fn client(&self) -> &aws_sdk_s3::Client {
        self.client
            .get_or_init(|| async {
                let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                let mut s3 = aws_sdk_s3::config::Builder::from(&config);
                if let Some(url) = &self.endpoint_url {
                    s3 = s3.endpoint_url(url).force_path_style(true);
                }
                aws_sdk_s3::Client::from_conf(s3.build())
            })
            .await
    }
}

/// Throttling, time-outs, 5xx and lost connections pass; a refusal (access denied, no such
/// bucket, a KMS key that cannot be used) does not.
fn sdk_error<E>(what: &str, key: &BlobKey, error: SdkError<E, HttpResponse>) -> BlobError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (retryable, cause) = match &error {
        SdkError::ConstructionFailure(_) => (false, DisplayErrorContext(&error).to_string()),
        // A user error is a request that could not be sent as built (e.g. a bad endpoint URL).
        SdkError::DispatchFailure(failure) => (!failure.is_user(), DisplayErrorContext(&error).to_string()),
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().unwrap_or("no error code");
            // S3 answers a stalled upload with 400 RequestTimeout.
            let passing = status >= 500
                || status == 429
                || code == "RequestTimeout"
                || code == "SlowDown"
                || code.contains("Throttl");
            // Code and message only: the full context repeats the raw response.
            let message = service.err().message().unwrap_or_default();
            (passing, format!("HTTP {status} {code}: {message}"))
        }
        // Time-outs and unreadable answers, and whatever a later SDK adds.
        _ => (true, DisplayErrorContext(&error).to_string()),
    };
    let message = format!("{what} {key}: {cause}");
    if retryable {
        BlobError::Retryable(message)
    } else {
        BlobError::Permanent(message)
    }
}

#[async_trait]
impl BlobStore for S3Store {
    fn kind(&self) -> &'static str {
        "s3"
    }

    async fn put(&self, key: &BlobKey, bytes: Vec<u8>, content_type: &str) -> Result<(), BlobError> {
        let encryption = match self.kms_key_id {
            Some(_) => ServerSideEncryption::AwsKms,
            None => ServerSideEncryption::Aes256,
        };
        self.client()
            .await
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .body(ByteStream::from(bytes))
            .content_type(content_type)
            .server_side_encryption(encryption)
            .set_ssekms_key_id(self.kms_key_id.clone())
            .send()
            .await
            .map_err(|e| sdk_error("put", key, e))?;
        Ok(())
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Vec<u8>>, BlobError> {
        let object = match self
            .client()
            .await
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(object) => object,
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => return Ok(None),
            Err(e) => return Err(sdk_error("get", key, e)),
        };
        let body = object
            .body
            .collect()
            .await
            .map_err(|e| BlobError::Retryable(format!("get {key}: reading the body: {e}")))?;
        Ok(Some(body.into_bytes().to_vec()))
    }

    /// HEAD answers 404 without a body, so a missing bucket also reads as None here.
    async fn size(&self, key: &BlobKey) -> Result<Option<u64>, BlobError> {
        match self
            .client()
            .await
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(head) => Ok(Some(head.content_length.unwrap_or_default().max(0) as u64)),
            Err(SdkError::ServiceError(e)) if e.err().is_not_found() => Ok(None),
            Err(e) => Err(sdk_error("size of", key, e)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        // S3 answers 204 for an absent key; some compatible stores say NoSuchKey.
        match self
            .client()
            .await
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().code() == Some("NoSuchKey") => Ok(()),
            Err(e) => Err(sdk_error("delete", key, e)),
        }
    }

    /// Signed locally with the client's credentials, valid from `now` (the link's X-Amz-Date) for
    /// `ttl`. With temporary credentials (a Lambda's role) it dies with them, whichever is first.
    async fn download_url(&self, key: &BlobKey, ttl: Duration, now: DateTime<Utc>) -> Result<String, BlobError> {
        let presigning = PresigningConfig::builder()
            .start_time(SystemTime::from(now))
            .expires_in(ttl)
            .build()
            .map_err(|e| BlobError::Permanent(format!("download link for {key}: {e}")))?;
        let request = self
            .client()
            .await
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .presigned(presigning)
            .await
            .map_err(|e| sdk_error("download link for", key, e))?;
        Ok(request.uri().to_string())
    }
}
