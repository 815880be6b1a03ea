//! Versioned migrations: idempotent, and an applied migration must never change.

use pedro_tests::database::TestDatabase;
use pedro_voip::db::migrate::{self, MigrateError, MIGRATIONS};

#[tokio::test]
async fn migrating_again_applies_nothing_and_edits_are_refused() {
    let db = TestDatabase::create().await; // already migrated from the template
    let target = pedro_voip::db::tls::target(&db.url, None).unwrap();
    let mut client = migrate::connect(&target).await.unwrap();
    assert_eq!(migrate::run(&mut client).await.unwrap(), Vec::<i32>::new());
    let applied: i64 = client
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied as usize, MIGRATIONS.len());

    client
        .execute(
            "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1",
            &[],
        )
        .await
        .unwrap();
    assert!(matches!(migrate::run(&mut client).await, Err(MigrateError::Changed(1))));
}

#[tokio::test]
async fn a_new_practice_gets_every_default_rule() {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    let id: uuid::Uuid = client
        .query_one("INSERT INTO practices (name) VALUES ('New Clinic') RETURNING id", &[])
        .await
        .unwrap()
        .get(0);
    let rows = client
        .query(
            "SELECT category FROM auto_response_rules WHERE practice_id = $1 ORDER BY priority DESC, category",
            &[&id],
        )
        .await
        .unwrap();
    let categories: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(categories[0], "emergency", "emergency has the highest priority");
    let mut sorted = categories.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "appointment",
            "emergency",
            "help",
            "insurance",
            "location",
            "office_hours",
            "optin",
            "optout"
        ]
    );
}
