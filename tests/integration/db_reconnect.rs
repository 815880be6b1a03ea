//! Connections that died while idle (behind a NAT, or in a frozen Lambda) are replaced without the
//! request noticing.

use pedro_tests::spawn_app;

#[tokio::test]
async fn a_request_after_the_nat_forgot_every_idle_connection_succeeds() {
    let app = spawn_app().db_proxy().env("DATABASE_TIMEOUT_MS", "2000").start().await;
    let proxy = app.db_proxy.as_ref().unwrap();
    // Several requests at once leave several connections idle in the pool.
    let warm = futures::future::join_all((0..3).map(|_| app.get("/api/voip/sms/conversations"))).await;
    assert!(warm.iter().all(|r| r.status() == 200), "warm-up");
    assert!(app.ctx.db.status().size >= 1);

    proxy.forget_connections();
    for round in 0..3 {
        let response = app.get("/api/voip/sms/conversations").await;
        assert_eq!(response.status(), 200, "request {round} after the reset");
    }
    let (status, body) = app.send(pedro_tests::app::PATIENT, "still there?").await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn a_database_that_is_really_gone_still_answers_503() {
    let app = spawn_app().db_proxy().env("DATABASE_TIMEOUT_MS", "500").start().await;
    let proxy = app.db_proxy.as_ref().unwrap();
    assert_eq!(app.get("/api/voip/sms/conversations").await.status(), 200);
    proxy.forget_connections();
    proxy.cut();
    let response = app.get("/api/voip/sms/conversations").await;
    assert_eq!(response.status(), 503, "one retry, then a clear answer");
    proxy.restore();
    assert_eq!(app.get("/api/voip/sms/conversations").await.status(), 200);
}
