//! Cold start, size and memory of every Lambda function: each release binary started as a process
//! against the Lambda Runtime API emulator with its `events/` sample, timed from exec to its first
//! answer, its peak RSS read before it is stopped; beside a hello-world `lambda_runtime` function
//! built with the same profile in the same run. Zips: cargo-lambda's when it built them, else the
//! binary zipped here (host architecture).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use pedro_tests::app::member_token;
use pedro_tests::events;
use pedro_tests::fakes::lambda_runtime::{Outcome, RuntimeApi};
use pedro_tests::{spawn_app, TestApp};
use serde_json::{json, Value};

use crate::table::{mb, ms, percentile, ratio, Row};
use crate::webhook::{peak_rss, Running};
use crate::Ctx;

/// In the order functions/tests/runtime_api.rs runs them, which their samples rely on: the webhook
/// before configure-webhook (which gives the practice a secret of its own, so the sample's
/// deployment-wide secret no longer opens it), the recording's link before call-delete.
pub const FUNCTIONS: [&str; 19] = [
    "sms-webhook",
    "sms-send",
    "sms-conversations",
    "sms-conversation-messages",
    "sms-conversation-review",
    "configure-webhook",
    "check-sms",
    "voip-sync",
    "call-history",
    "call-recordings",
    "call-recording-link",
    "call-delete",
    "search",
    "analytics",
    "sync-calls",
    "daily-analytics",
    "twilio-webhook",
    "queue-worker",
    "transcription-worker",
];
const HELLO: &str = "hello-lambda";

/// The Twilio webhook URL `events/twilio-webhook.json` is signed for.
const SAMPLE_TWILIO_URL: &str = "https://a1b2c3d4e5.execute-api.ca-central-1.amazonaws.com/api/twilio/sms/webhook";

/// `binary` as Lambda starts it, configured like the deployed function against `app`'s database
/// and fakes (`TestApp::function_env`, as functions/tests/runtime_api.rs configures them).
fn process(
    binary: &Path,
    function: &str,
    runtime: &RuntimeApi,
    app: &TestApp,
    log: &std::fs::File,
) -> anyhow::Result<Command> {
    let mut command = runtime.command(binary, function);
    command.stdin(Stdio::null()).stderr(log.try_clone()?);
    if function == HELLO {
        return Ok(command);
    }
    command.envs(app.function_env());
    if function == "twilio-webhook" {
        command
            .env("TWILIO_ACCOUNT_SID", pedro_tests::app::TWILIO_SID)
            .env("TWILIO_AUTH_TOKEN", pedro_tests::app::TWILIO_TOKEN)
            .env("TWILIO_FROM_NUMBER", pedro_tests::app::TWILIO_FROM)
            .env("TWILIO_API_URL", app.twilio.base_url())
            .env("TWILIO_WEBHOOK_URL", SAMPLE_TWILIO_URL);
    }
    Ok(command)
}

struct Started {
    elapsed: Duration,
    rss: Option<u64>,
    answer: String,
}

/// One cold start: exec, the sample event, the first answer.
async fn start_once(
    binary: &Path,
    function: &str,
    event: &Value,
    app: &TestApp,
    log: &std::fs::File,
) -> anyhow::Result<Started> {
    let runtime = RuntimeApi::start().await;
    let mut command = process(binary, function, &runtime, app, log)?;
    let started = Instant::now();
    let child = Running(
        command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?,
    );
    let outcome = runtime.invoke(event.clone(), Duration::from_secs(60)).await;
    let elapsed = started.elapsed();
    let rss = peak_rss(child.0.id());
    drop(child);
    match outcome {
        Ok(Outcome::Response(answer)) => Ok(Started {
            elapsed,
            rss,
            answer: match answer.get("statusCode") {
                Some(status) => format!("HTTP {status}"),
                None => "answered".into(),
            },
        }),
        Ok(Outcome::Error(error)) => bail!("{function} answered with an error: {error}"),
        Err(error) => bail!("{function}: {error}"),
    }
}

/// The function's zip: cargo-lambda's (arm64) when it built one, else the binary zipped here.
fn zip_size(ctx: &Ctx, function: &str, binary: &Path) -> anyhow::Result<(u64, &'static str)> {
    let target = ctx.bin_dir.parent().unwrap_or(Path::new("target"));
    let built = target.join("lambda").join(function).join("bootstrap.zip");
    if built.exists() {
        return Ok((std::fs::metadata(&built)?.len(), "arm64, cargo-lambda"));
    }
    let dir: PathBuf = ctx.out.join("zips").join(function);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    std::fs::copy(binary, dir.join("bootstrap"))?;
    let status = Command::new("zip")
        .args(["-q", "-j", "bootstrap.zip", "bootstrap"])
        .current_dir(&dir)
        .status()
        .context("cannot run zip")?;
    anyhow::ensure!(status.success(), "zip failed for {function}");
    Ok((std::fs::metadata(dir.join("bootstrap.zip"))?.len(), "host arch"))
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let repeats = if ctx.scale < 0.1 { 2 } else { 5 };
    // The functions' database and fakes, seeded as the runtime test seeds them.
    let app = spawn_app().start().await;
    app.seed_for_function_samples().await;
    let log = std::fs::File::create(ctx.out.join("functions.log"))?;
    let token = member_token(app.practice_id, "admin");
    let mut measured = Vec::new();
    for function in std::iter::once(HELLO).chain(FUNCTIONS) {
        let binary = ctx.bin_dir.join(function);
        anyhow::ensure!(
            binary.exists(),
            "{} is missing: build it first (scripts/bench.sh does)",
            binary.display()
        );
        let event: Value = match function {
            HELLO => json!({}),
            _ => serde_json::from_str(&events::fixture(function, &token))?,
        };
        let (mut times, mut rss, mut answers) = (Vec::new(), 0u64, Vec::new());
        for _ in 0..repeats {
            let once = start_once(&binary, function, &event, &app, &log).await?;
            times.push(once.elapsed);
            rss = rss.max(once.rss.unwrap_or(0));
            answers.push(once.answer);
        }
        answers.dedup();
        let median = percentile(&mut times, 50.0).unwrap_or_default();
        let (zip, zip_kind) = zip_size(ctx, function, &binary)?;
        measured.push((function, median, times.clone(), rss, zip, zip_kind, answers.join(", ")));
    }
    let mut detail = String::from("function | cold start median | runs | peak RSS | zip | answers\n");
    for (function, median, times, rss, zip, kind, answers) in &measured {
        detail.push_str(&format!(
            "{function} | {} | {} | {} | {} ({kind}) | {answers}\n",
            ms(*median),
            times.iter().map(|t| ms(*t)).collect::<Vec<_>>().join(" "),
            mb(*rss),
            mb(*zip),
        ));
    }
    ctx.log(format!("cold starts ({repeats} each):\n{detail}"));
    let (_, floor, ..) = measured[0].clone();
    let mut rows = Vec::new();
    for (function, median, ..) in &measured[1..] {
        let r = ratio(*median, floor);
        rows.push(
            Row::new(format!("cold start: {function}"), ms(*median))
                .floor(format!("{} (hello-world)", ms(floor)))
                .ratio(r)
                .goal("≤ 1.5 × floor", r <= 1.5),
        );
    }
    let functions = &measured[1..];
    let largest_zip = functions.iter().max_by_key(|m| m.4).expect("nineteen functions");
    rows.push(
        Row::new(
            format!("zip, largest of 19: {} ({})", largest_zip.0, largest_zip.5),
            mb(largest_zip.4),
        )
        .floor(format!("{} (hello-world)", mb(measured[0].4)))
        .goal("≤ 5 MB each", largest_zip.4 <= 5 * 1_048_576),
    );
    let largest_rss = functions.iter().max_by_key(|m| m.3).expect("nineteen functions");
    rows.push(
        Row::new(
            format!("peak RSS answering its sample, largest of 19: {}", largest_rss.0),
            mb(largest_rss.3),
        )
        .floor(format!("{} (hello-world)", mb(measured[0].3)))
        .goal("≤ 30 MB each", largest_rss.3 > 0 && largest_rss.3 <= 30 * 1_048_576),
    );
    Ok(rows)
}
