//! A private Postgres from the installed binaries, for `pedro serve` without `DATABASE_URL` and for
//! the test harness on machines with no server. initdb refuses to run as root, so as root the
//! server runs as the `postgres` user, in folders that user owns.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

pub struct LocalPostgres {
    bin: PathBuf,
    pub data_dir: PathBuf,
    pub port: u16,
    as_postgres_user: bool,
}

/// Where `initdb` and `pg_ctl` are: on PATH, or the newest /usr/lib/postgresql/*/bin.
pub fn find_binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    });
    on_path.or_else(|| {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
            .collect();
        dirs.sort_by_key(|d| {
            d.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str()?.parse::<u32>().ok())
        });
        dirs.pop()
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl LocalPostgres {
    /// Prepares (initdb if new) a cluster in `data_dir`; does not start it.
    pub fn init(data_dir: &Path) -> anyhow::Result<Self> {
        let bin = find_binaries().context(
            "no PostgreSQL server binaries (initdb, pg_ctl) found on PATH or in /usr/lib/postgresql/*/bin; \
             install PostgreSQL (e.g. `apt-get install postgresql`) or set DATABASE_URL",
        )?;
        std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        let this = Self {
            bin,
            data_dir,
            port: 0,
            as_postgres_user: is_root(),
        };
        if this.as_postgres_user {
            this.chown(&this.data_dir)?;
        }
        if !this.data_dir.join("PG_VERSION").exists() {
            let status = this
                .command("initdb")
                .args(["-D"])
                .arg(&this.data_dir)
                .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
                .output()
                .context("cannot run initdb")?;
            if !status.status.success() {
                bail!("initdb failed: {}", String::from_utf8_lossy(&status.stderr));
            }
        }
        Ok(this)
    }

    /// Makes `path` the server's (when the server runs as the `postgres` user), e.g. TLS key files.
    pub fn hand_over(&self, path: &Path) -> anyhow::Result<()> {
        if self.as_postgres_user {
            self.chown(path)?;
        }
        Ok(())
    }

    fn chown(&self, path: &Path) -> anyhow::Result<()> {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()?;
        if !status.success() {
            bail!("cannot hand {} to the postgres user (is there one?)", path.display());
        }
        Ok(())
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// The port of a server already running on this cluster, if any.
    pub fn running_port(&self) -> Option<u16> {
        let pid_file = std::fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        let alive = self
            .command("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(&self.data_dir)
            .output()
            .ok()?
            .status
            .success();
        if !alive {
            return None;
        }
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    /// Starts the server on 127.0.0.1:`port` (reuses one already running). `durable: false` turns
    /// fsync off, for throwaway test clusters.
    pub fn start(&mut self, port: u16, durable: bool) -> anyhow::Result<()> {
        self.start_with(port, durable, &[])
    }

    /// [`Self::start`] with extra server settings (`name=value`).
    pub fn start_with(&mut self, port: u16, durable: bool, settings: &[String]) -> anyhow::Result<()> {
        if let Some(running) = self.running_port() {
            self.port = running;
            return Ok(());
        }
        let mut options = format!("-p {port} -c listen_addresses=127.0.0.1 -k {}", self.data_dir.display());
        if !durable {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300");
        }
        for setting in settings {
            options.push_str(&format!(" -c {setting}"));
        }
        let log = self.data_dir.join("server.log");
        let output = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&log)
            .args(["-o", &options, "-w", "-t", "30", "start"])
            .output()
            .context("cannot run pg_ctl")?;
        if !output.status.success() {
            let log_tail = std::fs::read_to_string(&log).unwrap_or_default();
            bail!(
                "postgres did not start: {}\n{}",
                String::from_utf8_lossy(&output.stderr),
                log_tail
            );
        }
        self.port = port;
        Ok(())
    }

    pub fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "fast", "-w", "stop"])
            .output();
    }

    /// A command line that stops this server, for watchdogs.
    pub fn stop_command(&self) -> String {
        let pg_ctl = self.bin.join("pg_ctl");
        let prefix = if self.as_postgres_user {
            "runuser -u postgres -- "
        } else {
            ""
        };
        format!(
            "{prefix}{} -D {} -m immediate stop",
            pg_ctl.display(),
            self.data_dir.display()
        )
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}
