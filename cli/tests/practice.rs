//! `pedro practice add`: a new practice with its DIDs, printed id, all or nothing.

use std::process::Command;

use pedro_tests::database::TestDatabase;

fn pedro(db: &TestDatabase, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pedro"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap()
}

#[tokio::test]
async fn adds_a_practice_with_its_dids_and_prints_its_id() {
    let db = TestDatabase::create().await;
    let out = pedro(
        &db,
        &[
            "practice",
            "add",
            "--name",
            "Harbour Dental",
            "--did",
            "6045550100",
            "--did",
            "+16045550101",
            "--timezone",
            "America/Vancouver",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id: uuid::Uuid = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .expect("prints the id");
    let client = db.client().await;
    let row = client
        .query_one("SELECT name, timezone, phone FROM practices WHERE id = $1", &[&id])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "Harbour Dental");
    assert_eq!(row.get::<_, String>(1), "America/Vancouver");
    assert_eq!(row.get::<_, Option<String>>(2).as_deref(), Some("+16045550100"));
    let dids: Vec<String> = client
        .query(
            "SELECT did FROM practice_dids WHERE practice_id = $1 ORDER BY did",
            &[&id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(dids, ["+16045550100", "+16045550101"]);
    let rules: i64 = client
        .query_one(
            "SELECT count(*) FROM auto_response_rules WHERE practice_id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rules, 8, "seeded with the default rules");
}

#[tokio::test]
async fn a_taken_did_or_bad_input_adds_nothing() {
    let db = TestDatabase::create().await;
    assert!(
        pedro(&db, &["practice", "add", "--name", "First", "--did", "6045550100"])
            .status
            .success()
    );
    let taken = pedro(
        &db,
        &[
            "practice",
            "add",
            "--name",
            "Second",
            "--did",
            "6045550199",
            "--did",
            "6045550100",
        ],
    );
    assert!(!taken.status.success());
    for args in [
        vec!["practice", "add", "--name", "X", "--did", "12"],
        vec![
            "practice",
            "add",
            "--name",
            "X",
            "--did",
            "6045550150",
            "--timezone",
            "Mars/Base",
        ],
        vec![
            "practice",
            "add",
            "--name",
            "X",
            "--did",
            "6045550150",
            "--office-hours",
            "always",
        ],
    ] {
        let out = pedro(&db, &args);
        assert!(!out.status.success(), "{args:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty(), "{args:?} says why");
    }
    let client = db.client().await;
    let names: Vec<String> = client
        .query("SELECT name FROM practices", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, ["First"], "the failed adds left nothing behind");
}

/// How many of the practice's stored hashes are the SHA-256 of `secret`, and still valid.
async fn valid_hashes_of(client: &tokio_postgres::Client, practice: uuid::Uuid, secret: &str) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM webhook_secrets WHERE practice_id = $1 \
             AND secret_hash = sha256(convert_to($2, 'UTF8')) AND (expires_at IS NULL OR expires_at > now())",
            &[&practice, &secret],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn rotates_a_practices_webhook_secret_and_prints_it_once() {
    let db = TestDatabase::create().await;
    let add = pedro(
        &db,
        &["practice", "add", "--name", "Harbour Dental", "--did", "6045550100"],
    );
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let id = String::from_utf8(add.stdout).unwrap().trim().to_string();
    let practice: uuid::Uuid = id.parse().unwrap();

    let rotate = |db| pedro(db, &["practice", "webhook-secret", "rotate", "--practice", &id]);
    let first = rotate(&db);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let secret = String::from_utf8(first.stdout).unwrap();
    let secret = secret.trim_end_matches('\n');
    assert_eq!(secret.lines().count(), 1, "only the secret on stdout");
    assert_eq!(secret.len(), 43);
    assert!(secret
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(!stderr.contains(secret), "printed once: {stderr}");
    assert!(stderr.contains("48"), "says how long the old one works: {stderr}");

    let client = db.client().await;
    assert_eq!(
        valid_hashes_of(&client, practice, secret).await,
        1,
        "stored as its hash"
    );
    let dump: String = client
        .query_one("SELECT string_agg(t::text, ' ') FROM webhook_secrets t", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!dump.contains(secret));

    // Again: a new one, and the old one still works (grace period).
    let second = rotate(&db);
    assert!(second.status.success());
    let newer = String::from_utf8(second.stdout).unwrap().trim().to_string();
    assert_ne!(newer, secret);
    assert_eq!(valid_hashes_of(&client, practice, &newer).await, 1);
    assert_eq!(valid_hashes_of(&client, practice, secret).await, 1, "within grace");
}

#[tokio::test]
async fn rotating_the_secret_of_an_unknown_practice_fails() {
    let db = TestDatabase::create().await;
    for practice in ["not-a-uuid", "0b7e6a52-4c1e-4a8e-9a61-3f0b2c1d9e01"] {
        let out = pedro(&db, &["practice", "webhook-secret", "rotate", "--practice", practice]);
        assert!(!out.status.success(), "{practice}");
        assert!(out.stdout.is_empty(), "{practice}");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty(), "{practice}: says why");
    }
    let client = db.client().await;
    let rows: i64 = client
        .query_one("SELECT count(*) FROM webhook_secrets", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 0);
}
