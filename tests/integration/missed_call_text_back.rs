//! Missed-call text-back with the 15-minute job: one text to a caller nobody answered, and only
//! when it is welcome.

use chrono::Duration;
use pedro_tests::app::{TestApp, DID, PATIENT};
use pedro_tests::fakes::voipms::CdrRow;
use pedro_tests::spawn_app;
use pedro_voip::jobs::Job;
use serde_json::Value;

use crate::call_sync::ago;

async fn app_with_text_back() -> TestApp {
    let app = spawn_app().start().await;
    app.sql()
        .await
        .execute(
            "UPDATE practices SET missed_call_text_back = true, missed_call_text_back_minutes = 30, \
             missed_call_text_back_template = 'Sorry we missed you at {practice}. Reply to book.'",
            &[],
        )
        .await
        .unwrap();
    app
}

async fn every_15_minutes(app: &TestApp) -> Value {
    let report = Job::CheckSms.run(&app.ctx).await.expect("the 15-minute job ran");
    app.drain_queue().await;
    report
}

#[tokio::test]
async fn a_missed_caller_gets_one_text_in_their_thread() {
    let app = app_with_text_back().await;
    app.voipms
        .add_cdr(CdrRow::inbound("m1", ago(&app, 5), PATIENT, DID, "NO ANSWER", 0));
    let report = every_15_minutes(&app).await;
    assert_eq!(report["missedCallTextBack"]["sent"], 1, "{report}");
    assert_eq!(
        app.voipms_sent_bodies(),
        ["Sorry we missed you at Maple Dental. Reply to book."]
    );
    let origin: String = app
        .value("SELECT m.origin FROM sms_messages m JOIN sms_conversations c ON c.id = m.conversation_id WHERE c.contact = '+14385550199'")
        .await;
    assert_eq!(origin, "missed_call");
    let linked: bool = app
        .value("SELECT text_back_message_id IS NOT NULL FROM phone_calls")
        .await;
    assert!(linked);

    // The caller tries again and is missed again the same day: still one text.
    app.clock.advance(Duration::minutes(15));
    app.voipms
        .add_cdr(CdrRow::inbound("m2", ago(&app, 3), PATIENT, DID, "BUSY", 0));
    let report = every_15_minutes(&app).await;
    assert_eq!(report["missedCallTextBack"]["sent"], 0, "{report}");
    app.clock.advance(Duration::minutes(15));
    every_15_minutes(&app).await;
    assert_eq!(app.voipms_sent_bodies().len(), 1, "never twice a day");
}

#[tokio::test]
async fn no_text_when_unwelcome_late_or_already_handled() {
    let app = app_with_text_back().await;
    // Opted out of texts.
    app.text_in(PATIENT, "STOP", "stop-1").await;
    let stop_replies = app.voipms_sent_bodies().len();
    app.voipms
        .add_cdr(CdrRow::inbound("o1", ago(&app, 5), PATIENT, DID, "NO ANSWER", 0));
    // Missed long ago (a backfill of old history).
    app.voipms
        .add_cdr(CdrRow::inbound("o2", ago(&app, 240), "4385550101", DID, "NO ANSWER", 0));
    // Missed, then called again and answered.
    app.voipms
        .add_cdr(CdrRow::inbound("o3", ago(&app, 10), "4385550102", DID, "NO ANSWER", 0));
    app.voipms
        .add_cdr(CdrRow::inbound("o4", ago(&app, 4), "4385550102", DID, "ANSWERED", 60));
    // Missed, then the front desk called back and reached them.
    app.voipms
        .add_cdr(CdrRow::inbound("o5", ago(&app, 10), "4385550103", DID, "BUSY", 0));
    app.voipms
        .add_cdr(CdrRow::outbound("o6", ago(&app, 6), DID, "4385550103", "ANSWERED", 60));
    // Missed, and staff already texted them.
    app.voipms
        .add_cdr(CdrRow::inbound("o7", ago(&app, 10), "4385550104", DID, "NO ANSWER", 0));
    // A caller whose number cannot get texts.
    app.voipms
        .add_cdr(CdrRow::inbound("o8", ago(&app, 5), "anonymous", DID, "NO ANSWER", 0));
    // A toll-free number (a business) and a Caribbean one (an international text).
    app.voipms
        .add_cdr(CdrRow::inbound("o10", ago(&app, 5), "8005550199", DID, "NO ANSWER", 0));
    app.voipms
        .add_cdr(CdrRow::inbound("o11", ago(&app, 5), "8765550100", DID, "NO ANSWER", 0));
    // A call that failed on the network is not a person who was missed.
    app.voipms
        .add_cdr(CdrRow::inbound("o9", ago(&app, 5), "4385550105", DID, "FAILED", 0));
    app.clock.advance(Duration::minutes(1));
    let (status, _) = app.send("+14385550104", "We saw your call, when suits you?").await;
    assert!(status == 201 || status == 202);
    let sent_before = app.voipms_sent_bodies().len();

    let report = every_15_minutes(&app).await;
    assert_eq!(report["missedCallTextBack"]["sent"], 0, "{report}");
    assert_eq!(app.voipms_sent_bodies().len(), sent_before);
    assert_eq!(sent_before, stop_replies + 1);
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE origin = 'missed_call'")
            .await,
        0
    );
    assert!(app.count("SELECT count(*) FROM phone_calls").await >= 9);
}

#[tokio::test]
async fn text_back_is_off_unless_the_practice_turns_it_on() {
    let app = spawn_app().start().await;
    app.voipms
        .add_cdr(CdrRow::inbound("x1", ago(&app, 5), PATIENT, DID, "NO ANSWER", 0));
    let report = every_15_minutes(&app).await;
    assert_eq!(report["missedCallTextBack"]["practices"], 0, "{report}");
    assert!(app.voipms_sent_bodies().is_empty());
    assert!(
        app.voipms.calls("getCDR").is_empty(),
        "no practice wants it: no call history is read"
    );
}

#[tokio::test]
async fn a_burst_of_missed_calls_is_capped_per_run() {
    let app = app_with_text_back().await;
    for n in 0..25 {
        let from = format!("43855502{n:02}");
        app.voipms.add_cdr(CdrRow::inbound(
            &format!("b{n}"),
            ago(&app, 5),
            &from,
            DID,
            "NO ANSWER",
            0,
        ));
    }
    let report = every_15_minutes(&app).await;
    assert_eq!(
        report["missedCallTextBack"]["sent"],
        pedro_voip::calls::text_back::MAX_PER_RUN,
        "{report}"
    );
    // The rest go out with the next run, still within the time limit.
    app.clock.advance(Duration::minutes(1));
    let report = every_15_minutes(&app).await;
    assert_eq!(report["missedCallTextBack"]["sent"], 5, "{report}");
}
