//! Inbound webhook: the release `pedro serve` answering VoIP.ms callbacks from 16 keep-alive
//! connections, against the same rows written by one hand-written transaction under pgbench.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use pedro_voip::local_pg::free_port;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::table::{mb, ms, percentile, Row};
use crate::{pg, Ctx};

const CONNECTIONS: usize = 16;
/// `pedro serve`'s sandbox practice.
const DID: &str = "5145550100";

/// Kills the process when dropped, whatever happened in between.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Peak resident memory of a live process (VmHWM), in bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// splitmix64: reproducible choices without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Deliveries as VoIP.ms sends them (GET URL callback, signed with `?secret=`): `texts` distinct
/// ids from `numbers` patients, each number's texts spread over the run. About a quarter are
/// questions the seeded rules answer (hours, booking, location, insurance, emergencies); the rest
/// need a person or no answer at all, as most real traffic does.
pub fn deliveries(
    texts: usize,
    numbers: usize,
    secret: &str,
    port: u16,
    id_prefix: &str,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data");
    let (mut answerable, mut other) = (Vec::new(), Vec::new());
    for file in ["sms_corpus.tsv", "sms_unseen.tsv"] {
        for line in std::fs::read_to_string(dir.join(file))?.lines() {
            if let Some((label, text)) = line.split_once('\t') {
                match label {
                    "none" => other.push(text.to_string()),
                    _ => answerable.push(text.to_string()),
                }
            }
        }
    }
    anyhow::ensure!(!answerable.is_empty() && !other.is_empty(), "the corpora are empty");
    const OPENERS: [&str; 5] = ["", "Hi, ", "Hello! ", "Good morning. ", "Hey "];
    const CLOSERS: [&str; 5] = ["", " Thanks!", " - Maria", " thank you", " :)"];
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut rng = Rng(0x5eed);
    Ok((0..texts)
        .map(|i| {
            let body = if rng.below(4) == 0 {
                &answerable[rng.below(answerable.len())]
            } else {
                &other[rng.below(other.len())]
            };
            let message = format!("{}{body}{}", OPENERS[rng.below(5)], CLOSERS[rng.below(5)]);
            let from = format!("438555{:04}", i % numbers);
            format!(
                "GET /api/voip/sms/webhook?to={DID}&from={from}&message={}&id={id_prefix}{i}&date={}&secret={secret} HTTP/1.1\r\n\
                 Host: 127.0.0.1:{port}\r\n\r\n",
                encode(&message),
                encode(&date),
            )
            .into_bytes()
        })
        .collect())
}

/// One HTTP/1.1 response: status and body (Content-Length or chunked).
async fn read_response(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        bail!("the server closed the connection");
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP status line: {line:?}"))?;
    let (mut length, mut chunked) = (None, false);
    loop {
        line.clear();
        reader.read_line(&mut line).await?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") && value.to_ascii_lowercase().contains("chunked") {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim(), 16).context("bad chunk size")?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).await?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length.unwrap_or(0), 0);
        reader.read_exact(&mut body).await?;
    }
    Ok((status, body))
}

#[derive(Default)]
struct Driven {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

/// One keep-alive connection sending requests in turn until none are left.
async fn connection(port: u16, requests: Arc<Vec<Vec<u8>>>, next: Arc<AtomicUsize>) -> anyhow::Result<Driven> {
    let mut out = Driven::default();
    let mut link: Option<(
        BufReader<tokio::net::tcp::OwnedReadHalf>,
        tokio::net::tcp::OwnedWriteHalf,
    )> = None;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(request) = requests.get(i) else {
            return Ok(out);
        };
        if link.is_none() {
            let stream = TcpStream::connect(("127.0.0.1", port)).await?;
            stream.set_nodelay(true)?;
            let (read, write) = stream.into_split();
            link = Some((BufReader::new(read), write));
        }
        let (reader, writer) = link.as_mut().unwrap();
        let started = Instant::now();
        let answer = async {
            writer.write_all(request).await?;
            read_response(reader).await
        }
        .await;
        out.latencies.push(started.elapsed());
        match answer {
            Ok((200, body)) if body == b"ok" => {}
            Ok((status, body)) => {
                out.errors += 1;
                out.first_error
                    .get_or_insert_with(|| format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
            }
            Err(error) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| error.to_string());
                link = None;
            }
        }
    }
}

/// Sends every request over `CONNECTIONS` connections; returns the wall time and what each saw.
async fn drive(port: u16, requests: Vec<Vec<u8>>) -> anyhow::Result<(Duration, Driven)> {
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| tokio::spawn(connection(port, requests.clone(), next.clone())))
        .collect();
    let mut all = Driven::default();
    for task in tasks {
        let mut one = task.await??;
        all.latencies.append(&mut one.latencies);
        all.errors += one.errors;
        if all.first_error.is_none() {
            all.first_error = one.first_error;
        }
    }
    Ok((started.elapsed(), all))
}

async fn wait_until_listening(port: u16, serve: &mut Running, log: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        if let Some(status) = serve.0.try_wait()? {
            bail!("pedro serve exited ({status}); see {}", log.display());
        }
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("pedro serve did not listen within 3 minutes; see {}", log.display())
}

/// The floor: what one hand-written transaction per text costs the same server — upsert the thread,
/// insert the text and its reply, update the thread — with the real tables, indexes and triggers.
const FLOOR_SCRIPT: &str = r#"\set n random(0, :contacts - 1)
BEGIN;
INSERT INTO sms_conversations AS c (practice_id, did, contact, last_message_at) VALUES (:practice, '+15145550100', '+1438556' || lpad(:n::text, 4, '0'), now()) ON CONFLICT (practice_id, did, contact) DO UPDATE SET last_message_at = EXCLUDED.last_message_at RETURNING id AS conv \gset
INSERT INTO sms_messages (practice_id, conversation_id, direction, body, occurred_at, arrived_at, origin, provider, provider_message_id, status, auto_response_category) VALUES (:practice, :conv, 'inbound', 'Hi, what time are you open on Saturday? Thanks!', now(), now(), 'webhook', 'voipms', gen_random_uuid()::text, 'received', 'office_hours') RETURNING id AS msg \gset
INSERT INTO sms_messages (practice_id, conversation_id, direction, body, occurred_at, origin, status, reply_to_id, auto_response_category) VALUES (:practice, :conv, 'outbound', 'Our hours are Mon-Fri 08:00-17:00. Our office is closed right now and opens again Monday at 8:00 a.m.', now(), 'auto_reply', 'queued', :msg, 'office_hours');
UPDATE sms_conversations SET last_message_at = now(), last_message_preview = 'Hi, what time are you open on Saturday? Thanks!', unread_count = unread_count + 1 WHERE id = :conv;
COMMIT;
"#;

struct Floor {
    tps: f64,
    p50: Duration,
    p99: Duration,
    transactions: usize,
}

async fn pgbench(ctx: &Ctx, practice: uuid::Uuid, texts: usize, numbers: usize) -> anyhow::Result<Floor> {
    let script = ctx.out.join("webhook-floor.sql");
    std::fs::write(&script, FLOOR_SCRIPT)?;
    let logs = ctx.out.join("pgbench");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs)?;
    let per_client = texts.div_ceil(CONNECTIONS);
    let db = pg::parts(&ctx.db_url)?;
    let mut command = Command::new("pgbench");
    command
        .args(["-n", "-M", "extended", "-c", &CONNECTIONS.to_string(), "-j", "2"])
        .args(["-t", &per_client.to_string(), "-f"])
        .arg(&script)
        .args([
            "-D",
            &format!("practice={practice}"),
            "-D",
            &format!("contacts={numbers}"),
        ])
        .args(["-l", "--log-prefix"])
        .arg(logs.join("tx"))
        .args(["-h", &db.host, "-p", &db.port.to_string(), "-U", &db.user, &db.dbname])
        .current_dir(&logs);
    if let Some(password) = &db.password {
        command.env("PGPASSWORD", password);
    }
    let output = command.output().context("cannot run pgbench")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ctx.log_only(format!("pgbench:\n{stdout}{}", String::from_utf8_lossy(&output.stderr)));
    if !output.status.success() {
        bail!("pgbench failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    let tps = stdout
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse::<f64>().ok())
        .context("no tps in pgbench's output")?;
    // Per-transaction log lines: client, transaction, latency (µs), script, epoch, µs.
    let mut latencies = Vec::new();
    for entry in std::fs::read_dir(&logs)? {
        let path = entry?.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("tx."))
        {
            for line in std::fs::read_to_string(&path)?.lines() {
                if let Some(us) = line.split_whitespace().nth(2).and_then(|v| v.parse::<u64>().ok()) {
                    latencies.push(Duration::from_micros(us));
                }
            }
        }
    }
    let transactions = latencies.len();
    Ok(Floor {
        tps,
        p50: percentile(&mut latencies, 50.0).context("pgbench logged no transactions")?,
        p99: percentile(&mut latencies, 99.0).unwrap_or_default(),
        transactions,
    })
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let texts = ctx.n(10_000, 64);
    let numbers = ctx.n(1_000, 8);
    let pedro = ctx.bin_dir.join("pedro");
    anyhow::ensure!(
        pedro.exists(),
        "{} is missing: build it first (scripts/bench.sh does)",
        pedro.display()
    );
    let port = free_port()?;
    // Fresh per run, never written down: only this process and the server it starts know them.
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let log_path = ctx.out.join("serve.log");
    let log = std::fs::File::create(&log_path)?;
    let mut serve = Running(
        Command::new(&pedro)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &ctx.db_url)
            .env("PORT", port.to_string())
            .env("WEBHOOK_SECRET", &secret)
            .env("SUPABASE_JWT_SECRET", uuid::Uuid::new_v4().simple().to_string())
            .env("PRACTICE_NAME", "Maple Dental")
            .env("PRACTICE_ADDRESS", "12 Main St, Montreal")
            .env("PEDRO_DATA_DIR", ctx.out.join("pedro-data"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", pedro.display()))?,
    );
    let pid = serve.0.id();
    wait_until_listening(port, &mut serve, &log_path).await?;
    let client = pg::connect(&ctx.db_url).await?;
    let practice: uuid::Uuid = client
        .query_one("SELECT practice_id FROM practice_dids WHERE did = '+15145550100'", &[])
        .await?
        .get(0);
    // Warm-up, not measured: the pool's connections and the first of each statement.
    let (_, warm) = drive(
        port,
        deliveries(CONNECTIONS * 4, CONNECTIONS * 4, &secret, port, "warm-")?,
    )
    .await?;
    if warm.errors > 0 {
        bail!("warm-up deliveries failed: {}", warm.first_error.unwrap_or_default());
    }
    let requests = deliveries(texts, numbers, &secret, port, "bench-")?;
    let (wall, mut driven) = drive(port, requests).await?;
    let throughput = texts as f64 / wall.as_secs_f64();
    let p50 = percentile(&mut driven.latencies, 50.0).unwrap_or_default();
    let p99 = percentile(&mut driven.latencies, 99.0).unwrap_or_default();
    // Let the in-process worker send the queued replies (the process's memory includes that work).
    let drain_started = Instant::now();
    let mut waiting: i64 = 0;
    while drain_started.elapsed() < Duration::from_secs(180) {
        waiting = pg::value(
            &client,
            "SELECT count(*) FROM sms_messages WHERE direction = 'outbound' AND status IN ('queued', 'sending')",
        )
        .await?;
        if waiting == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let serve_rss = peak_rss(pid);
    drop(serve);
    let counts = client
        .query_one(
            "SELECT count(*) FILTER (WHERE direction = 'inbound'), count(*) FILTER (WHERE direction = 'outbound'), \
               count(*) FILTER (WHERE direction = 'inbound' AND needs_review) FROM sms_messages WHERE practice_id = $1",
            &[&practice],
        )
        .await?;
    ctx.log(format!(
        "webhook: {texts} texts from {numbers} numbers over {CONNECTIONS} connections in {:.2} s ({throughput:.0}/s), \
         p50 {} p99 {}, {} errors{}; stored {} inbound, {} replies ({} still queued after {:.1} s), {} flagged",
        wall.as_secs_f64(),
        ms(p50),
        ms(p99),
        driven.errors,
        driven.first_error.map(|e| format!(" (first: {e})")).unwrap_or_default(),
        counts.get::<_, i64>(0),
        counts.get::<_, i64>(1),
        waiting,
        drain_started.elapsed().as_secs_f64(),
        counts.get::<_, i64>(2),
    ));
    let what = format!("inbound webhook, {texts} texts / {numbers} numbers / {CONNECTIONS} conns");
    let mut rows = Vec::new();
    let errors = if driven.errors > 0 {
        format!(", {} errors", driven.errors)
    } else {
        String::new()
    };
    let floor = if which_pgbench() {
        Some(pgbench(ctx, practice, texts, numbers).await)
    } else {
        None
    };
    match floor {
        Some(Ok(floor)) => {
            ctx.log(format!(
                "pgbench floor: {} transactions, {:.0} tps, p50 {} p99 {}",
                floor.transactions,
                floor.tps,
                ms(floor.p50),
                ms(floor.p99)
            ));
            let ratio = throughput / floor.tps;
            rows.push(
                Row::new(
                    format!("{what}: throughput"),
                    format!("{throughput:.0} texts/s{errors}"),
                )
                .floor(format!("{:.0} tx/s (pgbench -M extended)", floor.tps))
                .ratio(ratio)
                .goal("≥ 0.6 × floor", ratio >= 0.6 && driven.errors == 0),
            );
            rows.push(
                Row::new("inbound webhook: p50 latency", ms(p50))
                    .floor(ms(floor.p50))
                    .ratio(crate::table::ratio(p50, floor.p50)),
            );
            rows.push(
                Row::new("inbound webhook: p99 latency", ms(p99))
                    .floor(ms(floor.p99))
                    .ratio(crate::table::ratio(p99, floor.p99))
                    .goal("≤ 20 ms", p99 <= Duration::from_millis(20)),
            );
        }
        other => {
            let why = match other {
                Some(Err(error)) => format!("pgbench failed: {error:#}"),
                _ => "pgbench not found".to_string(),
            };
            ctx.log(&why);
            rows.push(
                Row::new(
                    format!("{what}: throughput"),
                    format!("{throughput:.0} texts/s{errors}"),
                )
                .floor(why.clone())
                .goal_unjudged("≥ 0.6 × floor"),
            );
            rows.push(Row::new("inbound webhook: p50 latency", ms(p50)).floor(why.clone()));
            rows.push(
                Row::new("inbound webhook: p99 latency", ms(p99))
                    .floor(why)
                    .goal("≤ 20 ms", p99 <= Duration::from_millis(20)),
            );
        }
    }
    rows.push(match serve_rss {
        Some(bytes) => Row::new("pedro serve: peak RSS under the webhook load", mb(bytes))
            .goal("≤ 150 MB", bytes <= 150 * 1_048_576),
        None => Row::new("pedro serve: peak RSS under the webhook load", "not readable").goal_unjudged("≤ 150 MB"),
    });
    Ok(rows)
}

fn which_pgbench() -> bool {
    Command::new("pgbench")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
