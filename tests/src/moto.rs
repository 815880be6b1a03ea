//! `moto_server` (PyPI `moto[server]`, pinned in tests/python/requirements.txt and installed by
//! scripts/python-deps.sh into the tests' virtual environment) on a free loopback port: SQS and S3
//! for the real AWS SDK. It does not check signatures, so any static credentials do.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The virtual environment's `moto_server`, installing it on first use.
fn moto_server() -> std::path::PathBuf {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/python-deps.sh");
    let out = Command::new(&script).output().expect("run scripts/python-deps.sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let python = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    python.with_file_name("moto_server")
}

impl Moto {
    /// Starts a private moto server; panics with what to install when it cannot.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server could not start (scripts/python-deps.sh installs it)");
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let http = reqwest::Client::new();
        loop {
            if http
                .get(format!("{}/moto-api/", moto.endpoint))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return moto;
            }
            assert!(Instant::now() < deadline, "moto_server did not start in 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "static"))
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    /// Path-style, as an emulator on a bare address needs (no bucket subdomains).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "static"))
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}
