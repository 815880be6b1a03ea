//! TLS to Postgres, against a real server with a certificate from a test CA: encrypted and verified
//! when the CA is trusted (DATABASE_CA_CERT), refused when it is not.

use std::os::unix::fs::PermissionsExt;

use pedro_voip::db::tls;
use pedro_voip::local_pg::{free_port, LocalPostgres};

#[tokio::test]
async fn connections_are_encrypted_and_the_server_certificate_is_verified() {
    let dir = std::env::temp_dir().join(format!("pedro-tls-test-{}", uuid::Uuid::new_v4().simple()));
    let mut pg = LocalPostgres::init(&dir.join("data")).unwrap();

    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Pedro test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("server.crt"), server.pem()).unwrap();
    std::fs::write(certs.join("server.key"), server_key.serialize_pem()).unwrap();
    std::fs::set_permissions(certs.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    pg.hand_over(&certs).unwrap();
    pg.start_with(
        free_port().unwrap(),
        false,
        &[
            "ssl=on".into(),
            format!("ssl_cert_file={}", certs.join("server.crt").display()),
            format!("ssl_key_file={}", certs.join("server.key").display()),
        ],
    )
    .unwrap();
    let url = format!("postgres://postgres@localhost:{}/postgres?sslmode=require", pg.port);

    let trusted = tls::target(&url, Some(&ca.pem())).unwrap();
    let (client, connection) = trusted
        .config
        .connect(trusted.tls.clone())
        .await
        .expect("TLS with the CA trusted");
    tokio::spawn(connection);
    let encrypted: bool = client
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(encrypted);

    let untrusted = tls::target(&url, None).unwrap();
    let refused = untrusted.config.connect(untrusted.tls.clone()).await;
    assert!(refused.is_err(), "a certificate from an unknown CA must be refused");

    pg.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
