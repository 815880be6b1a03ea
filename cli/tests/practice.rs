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
