//! Running a route or a job as an AWS Lambda function. The binaries in `functions/` only call these.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

use crate::app::AppContext;
use crate::http::{function_router, webhook_auth, Access, ENDPOINTS};
use crate::jobs::Job;

pub type Error = lambda_runtime::Error;

/// JSON logs, one line per event, with the enclosing span's fields (the request id); `RUST_LOG`
/// filters (default info). Lambda adds its own timestamps.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .try_init();
}

/// Serves one API endpoint (API Gateway HTTP API or function URL events).
pub async fn serve_endpoint(function: &'static str) -> Result<(), Error> {
    init_tracing();
    let mut ctx = AppContext::from_env()?;
    // Deployed, the webhook never accepts unsigned deliveries.
    ctx.webhook_open_when_unconfigured = false;
    let ctx = Arc::new(ctx);
    let endpoint = ENDPOINTS
        .iter()
        .find(|e| e.function == function)
        .ok_or_else(|| format!("no endpoint is served by {function}"))?;
    // A function never runs open.
    if endpoint.access != Access::Public && ctx.auth.is_none() {
        return Err(format!("{function} needs SUPABASE_JWT_SECRET or SUPABASE_JWKS_URL to check its callers").into());
    }
    // The VoIP.ms webhook's secret; Twilio's webhook is checked by its signature instead.
    if endpoint.function == "sms-webhook" {
        webhook_auth::ensure_configured(&ctx)
            .await
            .map_err(|e| format!("{function}: {e}"))?;
    }
    let router = function_router(function, ctx).ok_or_else(|| format!("no endpoint is served by {function}"))?;
    lambda_http::run(router).await
}

/// The queue's worker on AWS: runs each SQS message's task and answers the ones worth another
/// delivery (partial batch failures).
pub async fn run_queue_worker() -> Result<(), Error> {
    init_tracing();
    let ctx = Arc::new(AppContext::from_env()?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let ctx = ctx.clone();
        async move { Ok::<_, Error>(handle_sqs_batch(&ctx, event.payload).await) }
    }))
    .await
}

/// The handler behind [`run_queue_worker`].
pub async fn handle_sqs_batch(ctx: &Arc<AppContext>, event: SqsEvent) -> SqsBatchResponse {
    use crate::queue::sqs::SqsQueue;
    let max = ctx.settings.queue_max_attempts;
    let (response, delays) = crate::queue::sqs::handle_batch_with_delays(event, max, |task, attempt| {
        let ctx = ctx.clone();
        async move { crate::worker::execute(&ctx, task, attempt).await }
    })
    .await;
    // A provider that asked to be left alone for a while: the message stays invisible that long
    // instead of the queue's (long) visibility timeout. Failing to do so only means a later retry.
    let urls = [
        ctx.settings.task_queue_url.as_deref(),
        ctx.settings.calls.transcription_queue_url.as_deref(),
    ];
    for delay in delays {
        let name = SqsQueue::name_of(&delay.queue_arn);
        let Some(url) = urls.into_iter().flatten().find(|u| SqsQueue::name_of(u) == name) else {
            continue;
        };
        if let Err(error) = SqsQueue::from_env(url).delay(&delay.receipt_handle, delay.after).await {
            tracing::warn!(%error, "could not delay a retry; it comes back at the visibility timeout");
        }
    }
    response
}

/// Runs a scheduled job for each EventBridge event.
pub async fn run_job(job: Job) -> Result<(), Error> {
    init_tracing();
    let ctx = Arc::new(AppContext::from_env()?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let ctx = ctx.clone();
        async move { handle_scheduled_event(&ctx, job, event.payload).await }
    }))
    .await
}

/// The handler behind [`run_job`]: the event only triggers; the job's window comes from the database.
pub async fn handle_scheduled_event(ctx: &AppContext, job: Job, event: Value) -> Result<Value, Error> {
    let source = event.get("source").and_then(Value::as_str).unwrap_or("unknown");
    tracing::info!(job = job.name(), source, "scheduled run");
    Ok(job.run(ctx).await?)
}
