//! `pedro job <name>`: runs a scheduled job once, now, and prints its report.

use std::process::Command;

use pedro_tests::database::TestDatabase;
use serde_json::Value;

fn pedro(db: &TestDatabase, args: &[&str]) -> std::process::Output {
    let data = std::env::temp_dir().join(format!("pedro-job-test-{}", uuid::Uuid::new_v4().simple()));
    let out = Command::new(env!("CARGO_BIN_EXE_pedro"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("PEDRO_DATA_DIR", &data)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&data);
    out
}

#[tokio::test]
async fn pedro_job_daily_analytics_rolls_up_yesterday_and_runs_the_retention_pass() {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    let practice: uuid::Uuid = client
        .query_one(
            "INSERT INTO practices (name, timezone) VALUES ('Harbour Dental', 'America/Vancouver') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let out = pedro(&db, &["job", "daily-analytics"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The log lines (one JSON object a line) come first; the report is printed last, indented.
    let stdout = String::from_utf8(out.stdout).unwrap();
    let start = stdout.rfind("\n{\n").map_or(0, |i| i + 1);
    let report: Value = serde_json::from_str(&stdout[start..]).expect("the report, as JSON");
    assert_eq!(
        report["rollups"]["practices"][0]["practiceId"],
        practice.to_string(),
        "{report}"
    );
    assert_eq!(report["rollups"]["practices"][0]["days"], 1, "{report}");
    assert!(report["retention"]["objectsDeleted"].is_u64(), "{report}");
    let rollups: i64 = client
        .query_one(
            "SELECT count(*) FROM analytics_daily WHERE practice_id = $1",
            &[&practice],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rollups, 1);

    let unknown = pedro(&db, &["job", "recording-retention"]);
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("daily-analytics"), "{stderr}");
}
