//! An emulator of the AWS Lambda Runtime API (2018-06-01), enough to run a function binary as a
//! real process: it long-polls `invocation/next`, answers through `invocation/{id}/response` or
//! `/error`, and reports start-up failures on `init/error`.
//! https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::sync::{oneshot, Notify};

/// What the function answered.
#[derive(Debug, Clone)]
pub enum Outcome {
    Response(Value),
    Error(Value),
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<(String, Value)>,
    waiting: HashMap<String, oneshot::Sender<Outcome>>,
    init_error: Option<Value>,
    next_id: u64,
}

#[derive(Clone, Default)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    ready: Arc<Notify>,
}

pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// `binary` as Lambda starts it against this emulator: a clean environment with the runtime's
    /// variables only (add the function's own configuration, e.g. `TestApp::function_env`).
    pub fn command(&self, binary: impl AsRef<std::ffi::OsStr>, function: &str) -> std::process::Command {
        let mut command = std::process::Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &self.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{function}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/25/[$LATEST]0123456789abcdef")
            .env("AWS_REGION", "ca-central-1")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null());
        command
    }

    pub async fn start() -> Self {
        let shared = Shared::default();
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            address,
            shared,
            server,
        }
    }

    /// Queues `event` and waits for the function's answer.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Result<Outcome, String> {
        let (tx, rx) = oneshot::channel();
        {
            let mut inner = self.shared.inner.lock().unwrap();
            inner.next_id += 1;
            let id = format!("8476a536-e9f4-11e8-9739-{:012x}", inner.next_id);
            inner.waiting.insert(id.clone(), tx);
            inner.queue.push_back((id, event));
        }
        self.shared.ready.notify_one();
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => Err("the emulator dropped the invocation".into()),
            Err(_) => Err(match self.init_error() {
                Some(e) => format!("the function failed to start: {e}"),
                None => format!("no answer within {timeout:?}"),
            }),
        }
    }

    pub fn init_error(&self) -> Option<Value> {
        self.shared.inner.lock().unwrap().init_error.clone()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(shared): State<Shared>) -> Response {
    loop {
        let notified = shared.ready.notified();
        if let Some((id, event)) = shared.inner.lock().unwrap().queue.pop_front() {
            let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
            let mut headers = HeaderMap::new();
            let mut set = |name: &'static str, value: String| {
                headers.insert(name, HeaderValue::from_str(&value).unwrap());
            };
            set("lambda-runtime-aws-request-id", id);
            set("lambda-runtime-deadline-ms", deadline.to_string());
            set(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:ca-central-1:123456789012:function:pedro".into(),
            );
            set(
                "lambda-runtime-trace-id",
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0".into(),
            );
            set("content-type", "application/json".into());
            return (StatusCode::OK, headers, event.to_string()).into_response();
        }
        notified.await;
    }
}

fn finish(shared: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    match shared.inner.lock().unwrap().waiting.remove(id) {
        Some(tx) => {
            let _ = tx.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn json(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn response(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&shared, &id, Outcome::Response(json(&body)))
}

async fn error(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&shared, &id, Outcome::Error(json(&body)))
}

async fn init_error(State(shared): State<Shared>, body: Bytes) -> StatusCode {
    shared.inner.lock().unwrap().init_error = Some(json(&body));
    StatusCode::ACCEPTED
}
