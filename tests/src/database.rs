//! A fresh, migrated database per test.
//!
//! On `DATABASE_URL`'s server when it is set; otherwise on a throwaway Postgres started from the
//! installed binaries for this test process (and stopped by a watchdog when the process ends).
//! Migrations run once into a template database; each test gets `CREATE DATABASE ... TEMPLATE`,
//! which takes a few milliseconds.

use std::sync::OnceLock;

use pedro_voip::db::migrate;
use pedro_voip::local_pg::{free_port, LocalPostgres};
use tokio_postgres::NoTls;

struct Server {
    /// URL of the server's `postgres` database, for CREATE/DROP DATABASE.
    admin_url: String,
    template: String,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

/// `url` with its database replaced by `name` (the password kept, percent-encoded).
pub fn with_database(url: &str, name: &str) -> String {
    let mut config: tokio_postgres::Config = url.parse().expect("valid DATABASE_URL");
    config.dbname(name);
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|p| format!(":{}", form_urlencoded::byte_serialize(p).collect::<String>()))
        .unwrap_or_default();
    format!("postgres://{user}{password}@{host}:{port}/{name}")
}

fn start_throwaway() -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!("pedro-test-pg-{}", std::process::id()));
    let mut pg = LocalPostgres::init(&dir).map_err(|e| format!("{e:#}"))?;
    pg.start(free_port().map_err(|e| e.to_string())?, false)
        .map_err(|e| format!("{e:#}"))?;
    // Stop the server and remove its files once this test process is gone.
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        stop = pg.stop_command(),
        dir = pg.data_dir.display()
    );
    std::process::Command::new("setsid")
        .args(["sh", "-c", &watchdog])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the Postgres watchdog: {e}"))?;
    Ok(pg.url("postgres"))
}

async fn admin(admin_url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(admin_url, NoTls)
        .await
        .expect("connect to the test server");
    tokio::spawn(connection);
    client
}

fn prepare_server() -> Result<Server, String> {
    let admin_url = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => with_database(&url, "postgres"),
        _ => start_throwaway()?,
    };
    let template = format!("pedro_template_{}", std::process::id());
    let admin_url_for_thread = admin_url.clone();
    let template_for_thread = template.clone();
    // The callers run inside per-test runtimes; migrate on a runtime of our own.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let client = admin(&admin_url_for_thread).await;
            for sql in [
                format!("DROP DATABASE IF EXISTS {template_for_thread}"),
                format!("CREATE DATABASE {template_for_thread}"),
            ] {
                client
                    .batch_execute(&sql)
                    .await
                    .map_err(|e| format!("cannot create the template database: {e:?}"))?;
            }
            let target = pedro_voip::db::tls::target(&with_database(&admin_url_for_thread, &template_for_thread), None)
                .map_err(|e| e.to_string())?;
            let mut template_client = migrate::connect(&target).await.map_err(|e| e.to_string())?;
            migrate::run(&mut template_client).await.map_err(|e| format!("{e:?}"))?;
            Ok::<_, String>(())
        })
    })
    .join()
    .map_err(|_| "template preparation panicked".to_string())??;
    Ok(Server { admin_url, template })
}

/// A database of its own for one test; dropped when the value is.
pub struct TestDatabase {
    pub url: String,
    name: String,
    admin_url: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let server = match SERVER.get_or_init(prepare_server) {
            Ok(server) => server,
            Err(e) => panic!("no test database server: {e}"),
        };
        let name = format!("pedro_test_{}", uuid::Uuid::new_v4().simple());
        admin(&server.admin_url)
            .await
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {}", server.template))
            .await
            .expect("create test database");
        Self {
            url: with_database(&server.admin_url, &name),
            name,
            admin_url: server.admin_url.clone(),
        }
    }

    /// A database with no migrations applied, for tests that apply them one by one.
    pub async fn create_empty() -> Self {
        let server = match SERVER.get_or_init(prepare_server) {
            Ok(server) => server,
            Err(e) => panic!("no test database server: {e}"),
        };
        let name = format!("pedro_test_{}", uuid::Uuid::new_v4().simple());
        admin(&server.admin_url)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create empty test database");
        Self {
            url: with_database(&server.admin_url, &name),
            name,
            admin_url: server.admin_url.clone(),
        }
    }

    /// `host:port` of the server.
    pub fn host_port(&self) -> String {
        let config: tokio_postgres::Config = self.url.parse().unwrap();
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".into(),
        };
        format!("{host}:{}", config.get_ports().first().copied().unwrap_or(5432))
    }

    /// This database's URL through a proxy listening on 127.0.0.1:`port`.
    pub fn url_via(&self, port: u16) -> String {
        let mut config: tokio_postgres::Config = self.url.parse().unwrap();
        config.host("127.0.0.1").port(port);
        let user = config.get_user().unwrap_or("postgres").to_string();
        let password = config
            .get_password()
            .map(|p| format!(":{}", form_urlencoded::byte_serialize(p).collect::<String>()))
            .unwrap_or_default();
        format!("postgres://{user}{password}@127.0.0.1:{port}/{}", self.name)
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        admin(&self.url).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&admin_url, NoTls).await.ok()?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
    }
}
