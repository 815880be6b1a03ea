//! `pedro-bench`: every benchmark of issue 12 on this machine, each figure beside its floor
//! measured in the same run, printed as one Markdown table. Run it through `scripts/bench.sh`,
//! which builds the binaries it measures first. Details (plans, per-function figures, counts)
//! go to `<out>/bench.log`.

mod analytics;
mod auto_reply;
mod cold_start;
mod datagen;
mod pg;
mod round_trips;
mod search;
mod sync;
mod table;
mod webhook;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use pedro_voip::local_pg::{free_port, LocalPostgres};
use table::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Bench {
    AutoReply,
    Webhook,
    RoundTrips,
    Sync,
    Search,
    Analytics,
    ColdStart,
}

impl Bench {
    /// In the order they run: the webhook first, on an empty database (`pedro serve` runs its
    /// jobs at start-up, and they would work on the other benchmarks' data).
    const ALL: [Bench; 7] = [
        Bench::AutoReply,
        Bench::Webhook,
        Bench::RoundTrips,
        Bench::Sync,
        Bench::Search,
        Bench::Analytics,
        Bench::ColdStart,
    ];
}

#[derive(Parser)]
#[command(name = "pedro-bench", about = "Issue 12's benchmarks and their floors, as one table")]
struct Args {
    /// Multiplies every data size (1 = the sizes; 0.01 for a quick smoke run).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Run only these (comma-separated): auto-reply, webhook, round-trips, sync, search, analytics, cold-start.
    #[arg(long, value_delimiter = ',')]
    only: Vec<Bench>,
    /// Where the binaries to measure are (pedro, the functions, hello-lambda): the build's profile directory.
    #[arg(long)]
    bin_dir: PathBuf,
    /// Where the log, plans and pgbench files go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

/// What every benchmark needs.
pub struct Ctx {
    pub scale: f64,
    /// The server's `postgres` database (CREATE/DROP DATABASE).
    pub admin_url: String,
    /// The benchmark's own database, migrated.
    pub db_url: String,
    pub bin_dir: PathBuf,
    pub out: PathBuf,
    log: Mutex<std::fs::File>,
}

impl Ctx {
    /// `full` scaled, at least `min`.
    pub fn n(&self, full: usize, min: usize) -> usize {
        ((full as f64 * self.scale).round() as usize).max(min)
    }

    /// A line in the log (and on stderr, so a long run shows where it is).
    pub fn log(&self, line: impl AsRef<str>) {
        let line = line.as_ref();
        eprintln!("pedro-bench: {}", line.lines().next().unwrap_or_default());
        let mut file = self.log.lock().unwrap();
        let _ = writeln!(file, "{line}");
    }

    /// Only into the log (plans, long details).
    pub fn log_only(&self, text: impl AsRef<str>) {
        let mut file = self.log.lock().unwrap();
        let _ = writeln!(file, "{}", text.as_ref());
    }
}

/// The machine, for the README's table.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "{model}, {cores} cores, {:.1} GiB RAM, load average at start {load}",
        mem_kb as f64 / 1_048_576.0
    )
}

/// DATABASE_URL's server, else 127.0.0.1:5432 as `postgres`, else a private server started here.
async fn server() -> anyhow::Result<(String, Option<LocalPostgres>)> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        if !url.trim().is_empty() {
            return Ok((pg::with_database(&url, "postgres")?, None));
        }
    }
    let local = "postgres://postgres@127.0.0.1:5432/postgres".to_string();
    if pg::connect(&local).await.is_ok() {
        return Ok((local, None));
    }
    let dir = std::env::temp_dir().join(format!("pedro-bench-pg-{}", std::process::id()));
    let mut server = LocalPostgres::init(&dir)
        .context("no DATABASE_URL, nothing on 127.0.0.1:5432, and no local Postgres could be prepared")?;
    server.start(free_port()?, false)?;
    Ok((server.url("postgres"), Some(server)))
}

async fn run(ctx: &Ctx, which: &[Bench]) -> Vec<Row> {
    let mut rows = Vec::new();
    for bench in Bench::ALL.iter().filter(|b| which.contains(b)) {
        let started = Instant::now();
        ctx.log(format!("== {bench:?}"));
        let result = match bench {
            Bench::AutoReply => auto_reply::run(ctx).await,
            Bench::Webhook => webhook::run(ctx).await,
            Bench::RoundTrips => round_trips::round_trips(ctx).await,
            Bench::Sync => sync::run(ctx).await,
            Bench::Search => search::run(ctx).await,
            Bench::Analytics => analytics::run(ctx).await,
            Bench::ColdStart => cold_start::run(ctx).await,
        };
        match result {
            Ok(mut r) => rows.append(&mut r),
            Err(error) => {
                ctx.log(format!("{bench:?} failed: {error:#}"));
                rows.push(Row::failed(format!("{bench:?}"), &error));
            }
        }
        ctx.log(format!("{bench:?} took {:.1} s", started.elapsed().as_secs_f64()));
    }
    rows
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    std::fs::create_dir_all(&args.out)?;
    // Absolute: pgbench and the zips run in directories of their own.
    let out = std::fs::canonicalize(&args.out)?;
    let bin_dir =
        std::fs::canonicalize(&args.bin_dir).with_context(|| format!("--bin-dir {}", args.bin_dir.display()))?;
    let machine = machine();
    let (admin_url, local_server) = server().await?;
    // The test harness (cold start uses it) finds the server through DATABASE_URL.
    std::env::set_var("DATABASE_URL", &admin_url);
    let name = format!("pedro_bench_{}", std::process::id());
    pg::create_database(&admin_url, &name).await?;
    let db_url = pg::with_database(&admin_url, &name)?;
    let ctx = Ctx {
        scale: args.scale,
        admin_url: admin_url.clone(),
        db_url: db_url.clone(),
        bin_dir,
        log: Mutex::new(std::fs::File::create(out.join("bench.log"))?),
        out,
    };
    let postgres_version = async {
        let client = pg::connect(&db_url).await?;
        let target = pedro_voip::db::tls::target(&db_url, None)?;
        let mut migrating = pedro_voip::db::migrate::connect(&target).await?;
        pedro_voip::db::migrate::run(&mut migrating).await?;
        pg::value::<String>(&client, "SHOW server_version").await
    }
    .await;
    let rows = match postgres_version {
        Ok(version) => {
            ctx.log(format!(
                "machine: {machine}; Postgres {version} ({}); scale {}",
                pg::redact(&admin_url),
                args.scale
            ));
            let which = if args.only.is_empty() {
                Bench::ALL.to_vec()
            } else {
                args.only.clone()
            };
            run(&ctx, &which).await
        }
        Err(error) => vec![Row::failed("database setup", &error)],
    };
    // Ours, and the template the test harness made for cold start's database.
    let template = format!("pedro_template_{}", std::process::id());
    for database in [&name, &template] {
        if let Err(error) = pg::drop_database(&admin_url, database).await {
            ctx.log(format!("could not drop {database}: {error:#}"));
        }
    }
    if let Some(server) = local_server {
        server.stop();
    }
    let table = table::render(&rows);
    println!(
        "Scale {} on {machine}; {:.1} minutes in all.\n",
        args.scale,
        started.elapsed().as_secs_f64() / 60.0
    );
    println!("{table}");
    let missed = table::missed(&rows);
    if missed.is_empty() {
        println!("Every goal measured was met.");
    } else {
        println!("Goals missed:");
        for line in missed {
            println!("- {line}");
        }
    }
    ctx.log_only(format!("\n{table}"));
    Ok(())
}

/// A practice of its own for one benchmark, with the default rules (seeded by a trigger).
pub async fn create_practice(ctx: &Ctx, did: &str, name: &str) -> anyhow::Result<uuid::Uuid> {
    use pedro_voip::config::PracticeDefaults;
    use pedro_voip::domain::office_hours::OfficeHours;
    use pedro_voip::domain::phone::Did;
    let did = Did::parse(did)?;
    let defaults = PracticeDefaults {
        name: name.into(),
        phone: Some(did.number().clone()),
        address: Some("12 Main St, Montreal".into()),
        timezone: chrono_tz::America::Toronto,
        office_hours: OfficeHours::parse("Mon-Fri 08:00-17:00")?,
    };
    let client = pg::connect(&ctx.db_url).await?;
    Ok(pedro_voip::store::practices::create(&client, &defaults, &[did]).await?)
}
