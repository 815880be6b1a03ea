//! The benchmark's own database on the server, and connections that see the server's notices
//! (auto_explain sends the plans of the statements it runs as notices).

use std::sync::{Arc, Mutex};

use anyhow::Context;
use futures::StreamExt;
use tokio_postgres::{AsyncMessage, Client, NoTls};

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    url.parse::<tokio_postgres::Config>()
        .context("DATABASE_URL is not a Postgres URL")?;
    Ok(pedro_tests::database::with_database(url, name))
}

/// Host, port, user, password and database of `url`, for `pgbench`.
pub struct Parts {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub dbname: String,
}

pub fn parts(url: &str) -> anyhow::Result<Parts> {
    let config: tokio_postgres::Config = url.parse()?;
    Ok(Parts {
        host: match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".into(),
        },
        port: config.get_ports().first().copied().unwrap_or(5432),
        user: config.get_user().unwrap_or("postgres").to_string(),
        password: config.get_password().map(|p| String::from_utf8_lossy(p).into_owned()),
        dbname: config.get_dbname().unwrap_or("postgres").to_string(),
    })
}

pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("cannot connect to {}", redact(url)))?;
    tokio::spawn(connection);
    Ok(client)
}

/// A connection whose notices are kept (auto_explain's plans arrive as notices).
pub async fn connect_with_notices(url: &str) -> anyhow::Result<(Client, Arc<Mutex<Vec<String>>>)> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await?;
    let notices: Arc<Mutex<Vec<String>>> = Arc::default();
    let kept = notices.clone();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notice(notice)) => kept.lock().unwrap().push(notice.message().to_string()),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    Ok((client, notices))
}

/// Turns on auto_explain for this session: every statement's plan (with actual times) comes back
/// as a notice. Needs a superuser; the error says why when it cannot.
pub async fn auto_explain(client: &Client) -> anyhow::Result<()> {
    client
        .batch_execute(
            "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on; \
             SET auto_explain.log_timing = on; SET auto_explain.log_nested_statements = on; \
             SET auto_explain.log_level = notice; SET client_min_messages = notice",
        )
        .await
        .context("auto_explain is not available (it needs a superuser and the contrib module)")
}

/// The first `lines` lines of each plan: what the planner chose, without the statement's text.
pub fn top_of_plans(notices: &[String], lines: usize) -> String {
    let mut out = String::new();
    for notice in notices {
        if !notice.contains("plan:") {
            continue;
        }
        for line in notice
            .lines()
            .filter(|l| !l.trim_start().starts_with("Query Text:"))
            .take(lines)
        {
            out.push_str("    ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match parts(url) {
        Ok(p) => format!("postgres://{}@{}:{}/{}", p.user, p.host, p.port, p.dbname),
        Err(_) => "<DATABASE_URL>".into(),
    }
}

/// Creates the benchmark's database (dropping a leftover of the same name first).
pub async fn create_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let admin = connect(admin_url).await?;
    // One statement each: DROP and CREATE DATABASE cannot run in a transaction block.
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin
            .batch_execute(&sql)
            .await
            .with_context(|| format!("cannot create database {name}"))?;
    }
    Ok(())
}

pub async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let admin = connect(admin_url).await?;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    Ok(())
}

/// One value of a query returning one row and column.
pub async fn value<T: for<'a> tokio_postgres::types::FromSql<'a>>(client: &Client, sql: &str) -> anyhow::Result<T> {
    Ok(client
        .query_one(sql, &[])
        .await
        .with_context(|| sql.to_string())?
        .get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_change_database_and_hide_passwords() {
        let url = "postgres://bench:s3cret@db.example:6543/app?sslmode=disable";
        assert_eq!(
            with_database(url, "postgres").unwrap(),
            "postgres://bench:s3cret@db.example:6543/postgres"
        );
        assert_eq!(redact(url), "postgres://bench@db.example:6543/app");
        let p = parts("postgres://postgres@127.0.0.1/x").unwrap();
        assert_eq!((p.port, p.user.as_str(), p.password), (5432, "postgres", None));
    }

    #[test]
    fn plans_lose_their_statement_text() {
        let notice =
            "duration: 1.2 ms  plan:\nQuery Text: SELECT 1\nResult  (cost=0.00..0.01 rows=1 width=4)\n  extra\n  more";
        let top = top_of_plans(&[notice.to_string(), "unrelated".into()], 3);
        assert_eq!(
            top,
            "    duration: 1.2 ms  plan:\n    Result  (cost=0.00..0.01 rows=1 width=4)\n      extra\n\n"
        );
    }
}
