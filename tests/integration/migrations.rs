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

/// 0006 revised the default rules: a practice's topic rule still as 0001 seeded it moves to the new
/// defaults (the ones a new practice gets); a rule someone edited stays as they left it.
#[tokio::test]
async fn revised_rules_replace_only_the_defaults_nobody_edited() {
    let db = TestDatabase::create_empty().await;
    let client = db.client().await;
    // What the runner creates before the first migration (0002 secures it).
    client
        .batch_execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, \
             checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .unwrap();
    for (_, _, sql) in MIGRATIONS.iter().filter(|(version, ..)| *version < 6) {
        client.batch_execute(sql).await.unwrap();
    }
    let old: uuid::Uuid = client
        .query_one("INSERT INTO practices (name) VALUES ('Old Clinic') RETURNING id", &[])
        .await
        .unwrap()
        .get(0);
    client
        .execute(
            "UPDATE auto_response_rules SET keywords = keywords || ARRAY['parking lot'] \
             WHERE practice_id = $1 AND category = 'location'",
            &[&old],
        )
        .await
        .unwrap();
    let (_, _, revision) = MIGRATIONS.iter().find(|(version, ..)| *version == 6).unwrap();
    client.batch_execute(revision).await.unwrap();
    let new: uuid::Uuid = client
        .query_one("INSERT INTO practices (name) VALUES ('New Clinic') RETURNING id", &[])
        .await
        .unwrap()
        .get(0);

    type Lists = (
        i32,
        Vec<String>,
        Vec<String>,
        Vec<String>,
        Vec<String>,
        Vec<String>,
        String,
    );
    let rule = |practice: uuid::Uuid, category: &'static str| {
        let client = &client;
        async move {
            let row = client
                .query_one(
                    "SELECT priority, keywords, weak_keywords, context_keywords, negations, exclusions, reply_template \
                     FROM auto_response_rules WHERE practice_id = $1 AND category = $2",
                    &[&practice, &category],
                )
                .await
                .unwrap();
            let lists: Lists = (
                row.get(0),
                row.get(1),
                row.get(2),
                row.get(3),
                row.get(4),
                row.get(5),
                row.get(6),
            );
            lists
        }
    };
    for category in ["emergency", "appointment", "insurance", "office_hours", "help"] {
        assert_eq!(rule(old, category).await, rule(new, category).await, "{category}");
    }
    let appointment = rule(old, "appointment").await;
    assert!(appointment.5.contains(&"fee".to_string()), "{:?}", appointment.5);
    let location = rule(old, "location").await;
    assert!(location.1.contains(&"parking lot".to_string()));
    assert!(location.5.is_empty(), "an edited rule is left as it was");
    assert_ne!(location, rule(new, "location").await);
}
