//! `pedro`: the whole system as one local process, and the operator's commands.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pedro_voip::app::AppContext;
use pedro_voip::clock::SystemClock;
use pedro_voip::config::{PracticeDefaults, Secret, Settings};
use pedro_voip::db::migrate;
use pedro_voip::domain::office_hours::OfficeHours;
use pedro_voip::domain::phone::Did;
use pedro_voip::domain::phone::PhoneNumber;
use pedro_voip::jobs::{Job, Schedule};
use pedro_voip::local_pg::{free_port, LocalPostgres};
use pedro_voip::store::practices;
use pedro_voip::webhook_secret;

/// The DID `pedro serve` uses in sandbox mode when VOIPMS_DID is not set.
const DEMO_DID: &str = "5145550100";

#[derive(Parser)]
#[command(name = "pedro", about = "Pedro VoIP: a clinic's phone and text backend")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything in one process: every route, the schedules, on 127.0.0.1:$PORT.
    Serve {
        #[arg(long, env = "PORT", default_value_t = 3000)]
        port: u16,
        /// Accept every request without a token, as the service role. For local trials only; without
        /// it, `serve` needs SUPABASE_JWT_SECRET or SUPABASE_JWKS_URL.
        #[arg(long)]
        insecure_no_auth: bool,
    },
    /// Apply database migrations and create the practice of VOIPMS_DID if it is new.
    Migrate,
    /// Run one scheduled job once, now (e.g. `pedro job check-sms`).
    Job { name: String },
    /// Manage practices (tenants).
    Practice {
        #[command(subcommand)]
        command: PracticeCommand,
    },
}

#[derive(Subcommand)]
enum PracticeCommand {
    /// Add a practice with its DIDs; prints the new practice's id. Inbound texts to those DIDs
    /// are routed to it.
    Add {
        #[arg(long)]
        name: String,
        /// A DID (10-digit or E.164); repeat for several.
        #[arg(long = "did", required = true)]
        dids: Vec<String>,
        #[arg(long, default_value = "America/Toronto")]
        timezone: String,
        #[arg(long, default_value = "Mon-Fri 08:00-17:00")]
        office_hours: String,
        /// The number patients should call (defaults to the first DID).
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        address: Option<String>,
    },
    /// A practice's own webhook secret (VoIP.ms sends it as `?secret=` on every delivery).
    WebhookSecret {
        #[command(subcommand)]
        command: WebhookSecretCommand,
    },
}

#[derive(Subcommand)]
enum WebhookSecretCommand {
    /// Give the practice a new webhook secret and print it, once: it is stored only as a hash.
    /// The previous one keeps working for WEBHOOK_SECRET_GRACE_HOURS (default 48). Put the new one
    /// in the DID's callback URL (configure-webhook does that itself, with a secret of its own).
    Rotate {
        #[arg(long)]
        practice: String,
    },
}

/// Without DATABASE_URL, a private Postgres in $PEDRO_DATA_DIR (default .pedro/postgres).
fn ensure_database(settings: &mut Settings) -> anyhow::Result<Option<LocalPostgres>> {
    if settings.database_url.is_some() {
        return Ok(None);
    }
    let dir = std::env::var_os("PEDRO_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".pedro"));
    let mut pg = LocalPostgres::init(&dir.join("postgres"))
        .context("DATABASE_URL is not set and no private Postgres could be prepared")?;
    let port = match std::env::var("PEDRO_PG_PORT") {
        Ok(p) => p.parse().context("PEDRO_PG_PORT must be a port number")?,
        Err(_) => free_port()?,
    };
    pg.start(port, true)?;
    tracing::info!(data_dir = %pg.data_dir.display(), port = pg.port, "DATABASE_URL not set: using a private Postgres");
    eprintln!(
        "pedro: private Postgres in {} on 127.0.0.1:{} (set DATABASE_URL to use your own)",
        pg.data_dir.display(),
        pg.port
    );
    settings.database_url = Some(pedro_voip::config::Secret(pg.url("pedro")));
    Ok(Some(pg))
}

/// Migrations, then the default practice for VOIPMS_DID.
async fn migrate_and_seed(settings: &Settings) -> anyhow::Result<()> {
    let mut client = migrate::connect(&settings.database()?).await?;
    let applied = migrate::run(&mut client).await?;
    tracing::info!(?applied, "migrations applied");
    if let Some(did) = &settings.default_did {
        let (id, created) = practices::ensure_for_did(&client, did, &settings.practice).await?;
        if created {
            eprintln!("pedro: created practice {id} for DID {did}");
        }
    }
    Ok(())
}

/// `pedro serve`'s database connections when `DATABASE_POOL_SIZE` is unset.
const SERVE_POOL_SIZE: usize = 16;

async fn serve(mut settings: Settings, port: u16, insecure_no_auth: bool) -> anyhow::Result<()> {
    if !insecure_no_auth && settings.jwt_secret.is_none() && settings.jwks_url.is_none() {
        anyhow::bail!(
            "no way to check callers: set SUPABASE_JWT_SECRET or SUPABASE_JWKS_URL, \
             or run `pedro serve --insecure-no-auth` for a local trial"
        );
    }
    let local_pg = ensure_database(&mut settings)?;
    if settings.default_did.is_none() && settings.voipms.is_none() {
        let demo = Did::parse(DEMO_DID)?;
        // The demo practice's phone is its number, so replies that quote it can be sent.
        settings.practice.phone.get_or_insert_with(|| demo.number().clone());
        settings.default_did = Some(demo);
        eprintln!("pedro: VOIPMS_DID not set; sandbox practice uses demo DID {DEMO_DID}");
    }
    if local_pg.is_some() {
        migrate::create_database_if_missing(&settings.database()?).await?;
    }
    migrate_and_seed(&settings).await?;
    // One process answers every request here, where a Lambda instance answers one at a time: a
    // pool of a Lambda's size would queue requests for a connection (the webhook benchmark).
    if std::env::var_os("DATABASE_POOL_SIZE").is_none() {
        settings.pool.max_size = SERVE_POOL_SIZE;
    }
    // Download links point at this process: its own port unless PUBLIC_BASE_URL says otherwise.
    if std::env::var_os("PUBLIC_BASE_URL").is_none() {
        settings.recordings.public_base_url = format!("http://127.0.0.1:{port}");
    }
    let mut ctx = AppContext::new(settings, Arc::new(SystemClock))?;
    ctx.insecure_no_auth = insecure_no_auth;
    let ctx = Arc::new(ctx);
    if insecure_no_auth {
        eprintln!("pedro: !!! INSECURE: --insecure-no-auth — every request is accepted WITHOUT A TOKEN, as the service role !!!");
        tracing::warn!("running without authentication (--insecure-no-auth)");
    }
    if ctx.is_sandbox() {
        eprintln!("pedro: SANDBOX MODE — no VoIP.ms credentials; texts are stored in sandbox_outbox and NOT sent");
    }
    // Every job runs at start-up, then on its schedule (a daily job at its local time, in the zone
    // of the practice `PRACTICE_TIMEZONE` describes).
    let zone = ctx.settings.practice.timezone;
    for job in Job::ALL {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut timer = match job.schedule() {
                Schedule::Every(every) => Some(tokio::time::interval(every)),
                Schedule::Daily { .. } => None,
            };
            let mut first = true;
            loop {
                match &mut timer {
                    // An interval's first tick is at once.
                    Some(timer) => {
                        timer.tick().await;
                    }
                    None if first => {}
                    None => {
                        let now = ctx.clock.now();
                        let next = job.schedule().next_after(now, zone);
                        tokio::time::sleep((next - now).to_std().unwrap_or_default()).await;
                    }
                }
                first = false;
                match job.run(&ctx).await {
                    Ok(report) => tracing::info!(job = job.name(), %report, "scheduled job done"),
                    Err(error) => tracing::error!(job = job.name(), %error, "scheduled job failed"),
                }
            }
        });
    }
    // The queue's worker: replies leave the request path and go out from here.
    match ctx.pg_queue.clone() {
        Some(queue) => {
            let worker_ctx = ctx.clone();
            tokio::spawn(async move {
                queue
                    .run(
                        |task, attempt| {
                            let ctx = worker_ctx.clone();
                            async move { pedro_voip::worker::execute(&ctx, task, attempt).await }
                        },
                        std::future::pending(),
                    )
                    .await
            });
        }
        None => eprintln!("pedro: TASK_QUEUE_URL is set: tasks go to SQS and the queue-worker function runs them"),
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
    eprintln!("pedro: listening on http://127.0.0.1:{port}");
    axum_serve(listener, ctx).await?;
    if let Some(pg) = local_pg {
        pg.stop();
    }
    Ok(())
}

async fn rotate_webhook_secret(settings: &Settings, practice: uuid::Uuid) -> anyhow::Result<Secret> {
    let mut client = migrate::connect(&settings.database()?).await?;
    let tx = client.transaction().await?;
    if practices::get(&tx, practice).await?.is_none() {
        anyhow::bail!("no practice has the id {practice}");
    }
    let now = pedro_voip::clock::Clock::now(&SystemClock);
    let secret = webhook_secret::rotate(&tx, practice, now, settings.webhook_secret_grace).await?;
    tx.commit().await?;
    eprintln!(
        "pedro: new webhook secret for practice {practice} (shown once; the previous one works for {} more hours)",
        settings.webhook_secret_grace.as_secs() / 3600
    );
    Ok(secret)
}

async fn axum_serve(listener: tokio::net::TcpListener, ctx: Arc<AppContext>) -> anyhow::Result<()> {
    pedro_voip::http::serve(listener, pedro_voip::http::all_routes(ctx), async {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match terminate.as_mut() {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminated => {}
        }
        eprintln!("pedro: shutting down");
    })
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pedro_voip::lambda::init_tracing();
    let cli = Cli::parse();
    let mut settings = Settings::from_env()?;
    match cli.command {
        Command::Serve { port, insecure_no_auth } => serve(settings, port, insecure_no_auth).await,
        Command::Migrate => {
            let local_pg = ensure_database(&mut settings)?;
            if local_pg.is_some() {
                migrate::create_database_if_missing(&settings.database()?).await?;
            }
            migrate_and_seed(&settings).await?;
            if let Some(pg) = local_pg {
                pg.stop();
            }
            Ok(())
        }
        Command::Practice {
            command:
                PracticeCommand::Add {
                    name,
                    dids,
                    timezone,
                    office_hours,
                    phone,
                    address,
                },
        } => {
            let dids = dids
                .iter()
                .map(|d| Did::parse(d).with_context(|| format!("--did {d:?}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let practice = PracticeDefaults {
                name,
                phone: match phone {
                    Some(p) => Some(PhoneNumber::parse(&p).with_context(|| format!("--phone {p:?}"))?),
                    None => Some(dids[0].number().clone()),
                },
                address,
                timezone: timezone
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--timezone {timezone:?} is not an IANA time zone"))?,
                office_hours: OfficeHours::parse(&office_hours).context("--office-hours")?,
            };
            let local_pg = ensure_database(&mut settings)?;
            let mut client = migrate::connect(&settings.database()?).await?;
            let tx = client.transaction().await?;
            let id = match practices::create(&tx, &practice, &dids).await {
                Ok(id) => tx.commit().await.map(|_| id).map_err(anyhow::Error::from),
                Err(e) => Err(e.into()),
            };
            if let Some(pg) = local_pg {
                pg.stop();
            }
            println!("{}", id.context("cannot add the practice (is one of its DIDs taken?)")?);
            Ok(())
        }
        Command::Practice {
            command:
                PracticeCommand::WebhookSecret {
                    command: WebhookSecretCommand::Rotate { practice },
                },
        } => {
            let practice: uuid::Uuid = practice
                .parse()
                .map_err(|_| anyhow::anyhow!("--practice {practice:?} is not a practice id (a UUID)"))?;
            let local_pg = ensure_database(&mut settings)?;
            let result = rotate_webhook_secret(&settings, practice).await;
            if let Some(pg) = local_pg {
                pg.stop();
            }
            // stdout carries the secret and nothing else, so it can be piped where it is needed.
            println!("{}", result?.expose());
            Ok(())
        }
        Command::Job { name } => {
            let job = Job::parse(&name).with_context(|| {
                let names: Vec<&str> = Job::ALL.iter().map(|j| j.name()).collect();
                format!("unknown job {name:?}; jobs: {}", names.join(", "))
            })?;
            let local_pg = ensure_database(&mut settings)?;
            let ctx = AppContext::new(settings, Arc::new(SystemClock))?;
            let result = job.run(&ctx).await;
            if let Some(pg) = local_pg {
                pg.stop();
            }
            println!("{:#}", result?);
            Ok(())
        }
    }
}
