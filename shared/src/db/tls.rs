//! TLS to Postgres. Supabase and RDS are reached over the internet, so an explicit `sslmode` in the
//! URL is honoured and, when there is none, TLS is required for every host but loopback.
//! `sslmode=prefer` falls back to plain text when the server (or anyone in the path) declines TLS,
//! so off the machine it is treated as `require`. The
//! server's certificate is always verified: against the web PKI roots plus `DATABASE_CA_CERT`
//! (Supabase signs its poolers with its own CA, downloadable from the project's settings).

use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::Config;
use tokio_postgres_rustls::MakeRustlsConnect;

/// A parsed database URL and the TLS connector for it.
#[derive(Clone)]
pub struct PgTarget {
    pub config: Config,
    pub tls: MakeRustlsConnect,
}

fn is_loopback(host: &Host) -> bool {
    match host {
        Host::Tcp(name) => matches!(name.as_str(), "localhost" | "127.0.0.1" | "::1") || name.starts_with("127."),
        Host::Unix(_) => true,
    }
}

/// `ca_cert`: PEM text, or the path of a PEM file.
pub fn target(database_url: &str, ca_cert: Option<&str>) -> anyhow::Result<PgTarget> {
    let mut config: Config = database_url
        .parse()
        .map_err(|e| anyhow::anyhow!("DATABASE_URL is not a valid Postgres URL: {e}"))?;
    let explicit = database_url.contains("sslmode=");
    let local = config.get_hosts().iter().all(is_loopback);
    if !explicit {
        config.ssl_mode(if local { SslMode::Disable } else { SslMode::Require });
    } else if config.get_ssl_mode() == SslMode::Prefer && !local {
        config.ssl_mode(SslMode::Require);
    }
    Ok(PgTarget {
        config,
        tls: connector(ca_cert)?,
    })
}

fn connector(ca_cert: Option<&str>) -> anyhow::Result<MakeRustlsConnect> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(ca) = ca_cert.map(str::trim).filter(|c| !c.is_empty()) {
        let pem = if ca.starts_with("-----BEGIN") {
            ca.as_bytes().to_vec()
        } else {
            std::fs::read(ca).with_context(|| format!("DATABASE_CA_CERT: cannot read {ca}"))?
        };
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            roots
                .add(cert.context("DATABASE_CA_CERT: not a PEM certificate")?)
                .context("DATABASE_CA_CERT")?;
            added += 1;
        }
        anyhow::ensure!(added > 0, "DATABASE_CA_CERT holds no certificate");
    }
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_is_required_off_the_machine_unless_the_url_says_otherwise() {
        let mode = |url: &str| target(url, None).unwrap().config.get_ssl_mode();
        assert_eq!(mode("postgres://u@127.0.0.1:5432/db"), SslMode::Disable);
        assert_eq!(mode("postgres://u@localhost/db"), SslMode::Disable);
        assert_eq!(
            mode("postgres://u:p@aws-0-ca-central-1.pooler.supabase.com:6543/postgres"),
            SslMode::Require
        );
        assert_eq!(mode("postgres://u@db.example.com/db?sslmode=disable"), SslMode::Disable);
        assert_eq!(mode("postgres://u@127.0.0.1/db?sslmode=require"), SslMode::Require);
    }

    #[test]
    fn prefer_never_falls_back_to_plain_text_off_the_machine() {
        let mode = |url: &str| target(url, None).unwrap().config.get_ssl_mode();
        assert_eq!(mode("postgres://u@db.example.com/db?sslmode=prefer"), SslMode::Require);
        assert_eq!(mode("postgres://u@10.0.0.5:5432/db?sslmode=prefer"), SslMode::Require);
        // One remote host among several is enough to require TLS for all.
        assert_eq!(
            mode("postgres://u@127.0.0.1,db.example.com/db?sslmode=prefer"),
            SslMode::Require
        );
        assert_eq!(mode("postgres://u@127.0.0.1/db?sslmode=prefer"), SslMode::Prefer);
        assert_eq!(
            mode("host=/var/run/postgresql dbname=db sslmode=prefer"),
            SslMode::Prefer
        );
    }

    #[test]
    fn a_bad_ca_certificate_is_named() {
        let err = target(
            "postgres://u@h/db",
            Some("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----"),
        );
        assert!(err.is_err());
        let err = target("postgres://u@h/db", Some("/nonexistent/ca.pem"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("DATABASE_CA_CERT"), "{err}");
    }
}
