//! The object-store port, one contract for both adapters: the local folder (`pedro serve`, links
//! served by the `/files/` route on a loopback server) and S3 through the real AWS SDK against
//! moto. Then what only one adapter has: S3's encryption at rest and error classes, the local
//! links' signature, expiry and Range answers. (moto serves presigned URLs but checks neither
//! their signature nor their expiry, so those are S3's own to enforce and are not tested here.)

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pedro_tests::moto::Moto;
use pedro_voip::blob::{BlobKey, BlobStore, LocalFolder, S3Store};
use pedro_voip::clock::{Clock as _, FixedClock};
use pedro_voip::http::blob_files;
use reqwest::StatusCode;
use serde_json::Value;

const BUCKET: &str = "clinic-recordings";

fn key(k: &str) -> BlobKey {
    BlobKey::parse(k).unwrap()
}

/// Five megabytes that are not all alike, so a misplaced chunk shows.
fn recording() -> Vec<u8> {
    (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(31) % 251) as u8)
        .collect()
}

/// What every adapter must do, in order; `now` is the time its download links start from.
async fn keeps_the_contract(store: &dyn BlobStore, now: DateTime<Utc>) {
    let kind = store.kind();
    let call = key("recordings/practice-1/call-1.mp3");
    let absent = key("recordings/practice-1/never.mp3");

    // A multi-megabyte round trip, and its size.
    let body = recording();
    store.put(&call, body.clone(), "audio/mpeg").await.unwrap();
    assert!(
        store.get(&call).await.unwrap() == Some(body.clone()),
        "{kind}: round trip"
    );
    assert_eq!(store.size(&call).await.unwrap(), Some(body.len() as u64), "{kind}");
    assert_eq!(store.get(&absent).await.unwrap(), None, "{kind}");
    assert_eq!(store.size(&absent).await.unwrap(), None, "{kind}");

    // A download link gives the exact bytes to a client with no credentials, typed as stored.
    let url = store.download_url(&call, Duration::from_secs(300), now).await.unwrap();
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{kind}: {url}");
    assert_eq!(response.headers()["content-type"], "audio/mpeg", "{kind}");
    assert!(response.bytes().await.unwrap() == body, "{kind}: downloaded bytes");
    let week_and_a_second = Duration::from_secs(7 * 24 * 3600 + 1);
    let error = store.download_url(&call, week_and_a_second, now).await.unwrap_err();
    assert!(!error.is_retryable(), "{kind}: {error}");

    // Overwriting replaces the whole object.
    store.put(&call, b"short".to_vec(), "audio/mpeg").await.unwrap();
    assert_eq!(
        store.get(&call).await.unwrap().as_deref(),
        Some(&b"short"[..]),
        "{kind}"
    );
    assert_eq!(store.size(&call).await.unwrap(), Some(5), "{kind}");

    // Deleting is idempotent.
    store.delete(&call).await.unwrap();
    assert_eq!(store.get(&call).await.unwrap(), None, "{kind}");
    assert_eq!(store.size(&call).await.unwrap(), None, "{kind}");
    store.delete(&call).await.unwrap();
    store.delete(&absent).await.unwrap();

    // Keys that could leave the folder, or that S3 and a folder would read differently.
    let too_long = "k".repeat(513);
    for bad in ["../x", "/x", "a//b", "", "a/./b", "x/", "a b", &too_long] {
        let error = BlobKey::parse(bad).unwrap_err();
        assert!(!error.is_retryable(), "{bad:?}");
    }
}

/// Removed with everything in it when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("pedro-blob-{}", uuid::Uuid::new_v4()));
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A local folder in a temporary directory whose links are served on loopback by the `/files/`
/// route, mounted on a router of its own, with a clock the test moves.
struct Local {
    folder: Arc<LocalFolder>,
    clock: FixedClock,
    _dir: TempDir,
}

async fn local() -> Local {
    let dir = TempDir::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let folder = Arc::new(LocalFolder::new(dir.0.clone(), base, b"test-only link key".to_vec()));
    let clock = FixedClock::new(Utc::now());
    let router = blob_files::router::<()>(folder.clone(), Arc::new(clock.clone()));
    tokio::spawn(async move { axum::serve(listener, router).await });
    Local {
        folder,
        clock,
        _dir: dir,
    }
}

impl Local {
    async fn link(&self, key: &BlobKey, ttl: Duration) -> String {
        self.folder.download_url(key, ttl, self.clock.now()).await.unwrap()
    }
}

async fn s3_on_moto(moto: &Moto) -> S3Store {
    let client = moto.s3();
    client.create_bucket().bucket(BUCKET).send().await.unwrap();
    S3Store::with_client(client, BUCKET)
}

#[tokio::test]
async fn the_local_folder_keeps_the_contract() {
    let local = local().await;
    assert_eq!(local.folder.kind(), "local");
    keeps_the_contract(local.folder.as_ref(), local.clock.now()).await;
    let leftovers: Vec<_> = walk(local.folder.root());
    assert!(
        leftovers.iter().all(|p| p.is_dir()),
        "no temporary or type files left: {leftovers:?}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}

#[tokio::test]
async fn s3_on_moto_keeps_the_contract() {
    let moto = Moto::start().await;
    let store = s3_on_moto(&moto).await;
    assert_eq!(store.kind(), "s3");
    keeps_the_contract(&store, Utc::now()).await;
}

#[tokio::test]
async fn s3_objects_are_encrypted_at_rest_and_keep_their_type() {
    let moto = Moto::start().await;
    let client = moto.s3();
    let store = s3_on_moto(&moto).await;
    let call = key("calls/1.mp3");
    store.put(&call, b"ID3".to_vec(), "audio/mpeg").await.unwrap();
    let head = client
        .head_object()
        .bucket(BUCKET)
        .key("calls/1.mp3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption,
        Some(aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );
    assert_eq!(head.content_type.as_deref(), Some("audio/mpeg"));

    let with_kms = S3Store::with_client(client.clone(), BUCKET).with_kms_key(Some("alias/recordings".into()));
    with_kms.put(&call, b"ID3".to_vec(), "audio/mpeg").await.unwrap();
    let head = client
        .head_object()
        .bucket(BUCKET)
        .key("calls/1.mp3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption,
        Some(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id.as_deref(), Some("alias/recordings"));
}

#[tokio::test]
async fn s3_errors_say_whether_to_retry() {
    let moto = Moto::start().await;
    let call = key("calls/1.mp3");
    // No such bucket: permanent, and never mistaken for an absent object.
    let nowhere = S3Store::with_client(moto.s3(), "no-such-bucket");
    let error = nowhere.put(&call, b"x".to_vec(), "audio/mpeg").await.unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    let error = nowhere.get(&call).await.unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    let said = error.to_string();
    assert!(
        said.contains("HTTP 404 NoSuchBucket") && said.len() < 200,
        "short: {said}"
    );
    // Nobody listening: another try may work.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let config = moto
        .s3()
        .config()
        .to_builder()
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .build();
    let unreachable = S3Store::with_client(aws_sdk_s3::Client::from_conf(config), BUCKET);
    let error = unreachable.get(&call).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
}

async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body["error"]["code"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn a_local_link_refuses_tampering_and_expiry() {
    let local = local().await;
    let call = key("calls/1.mp3");
    local.folder.put(&call, recording(), "audio/mpeg").await.unwrap();
    let link = local.link(&call, Duration::from_secs(60)).await;
    let signature = link.split("signature=").nth(1).unwrap();
    let forged = link.replace(signature, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let other_key = link.replace("calls/1.mp3", "calls/2.mp3");
    let later = link.replace("expires=", "expires=9");
    let unsigned = link.split('?').next().unwrap().to_string();
    let outside = link.replace("calls/1.mp3", "calls/..%2F..%2Fetc%2Fpasswd");
    for url in [forged, other_key, later, unsigned, outside] {
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(
            error_code(response).await,
            (StatusCode::FORBIDDEN, "link_invalid".into()),
            "{url}"
        );
    }
    assert_eq!(reqwest::get(&link).await.unwrap().status(), StatusCode::OK);
    local.clock.advance(chrono::Duration::seconds(60));
    let response = reqwest::get(&link).await.unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::FORBIDDEN, "link_expired".into())
    );
}

#[tokio::test]
async fn a_local_link_serves_byte_ranges_for_seeking() {
    let local = local().await;
    let call = key("calls/1.mp3");
    let body = recording();
    local.folder.put(&call, body.clone(), "audio/mpeg").await.unwrap();
    let link = local.link(&call, Duration::from_secs(60)).await;
    let http = reqwest::Client::new();
    let get = |range: Option<&'static str>| {
        let mut request = http.get(&link);
        if let Some(range) = range {
            request = request.header("range", range);
        }
        request.send()
    };

    let whole = get(None).await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert_eq!(whole.headers()["cache-control"], "private, no-store");
    assert_eq!(whole.headers()["content-type"], "audio/mpeg");

    let part = get(Some("bytes=100-199")).await.unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 100-199/{}", body.len()).as_str()
    );
    assert_eq!(part.headers()["cache-control"], "private, no-store");
    assert_eq!(part.bytes().await.unwrap(), body[100..200]);

    let tail = get(Some("bytes=-50")).await.unwrap();
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    let n = body.len();
    assert_eq!(
        tail.headers()["content-range"],
        format!("bytes {}-{}/{n}", n - 50, n - 1).as_str()
    );
    assert_eq!(tail.bytes().await.unwrap(), body[n - 50..]);

    for unsatisfiable in ["bytes=99999999-", "bytes=200-100", "bytes=0-1,5-6"] {
        let response = get(Some(unsatisfiable)).await.unwrap();
        assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{unsatisfiable}");
        assert_eq!(response.headers()["content-range"], format!("bytes */{n}").as_str());
    }
}

#[tokio::test]
async fn a_local_link_to_a_deleted_file_is_404() {
    let local = local().await;
    let call = key("calls/1.mp3");
    local.folder.put(&call, b"ID3".to_vec(), "audio/mpeg").await.unwrap();
    let link = local.link(&call, Duration::from_secs(60)).await;
    local.folder.delete(&call).await.unwrap();
    let response = reqwest::get(&link).await.unwrap();
    assert_eq!(error_code(response).await, (StatusCode::NOT_FOUND, "not_found".into()));
}
