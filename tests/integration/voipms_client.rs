//! The VoIP.ms client against the fake: the sent-message lookup, getMMS, and what each kind of
//! failure tells the caller about whether a text went out.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use pedro_tests::fakes::voipms::{FakeVoipMs, Fault, InboundSms};
use pedro_voip::config::{Secret, VoipMsSettings};
use pedro_voip::voipms::{find_sent, VoipMsClient, VoipMsError};

const USER: &str = "clinic@example.com";
const PASS: &str = "s3cret-api-pw";
const DID: &str = "5145550100";
const PATIENT: &str = "4385550199";
const OTHER: &str = "4385550111";
/// Longer than the client's time-out below: the answer never arrives in time.
const PAST_TIMEOUT: Duration = Duration::from_secs(3);

/// 23:30 UTC: already the next day in UTC than in Eastern time, the case the widened window is for.
fn late_evening() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 23, 30, 0).unwrap()
}

async fn fake_at(now: DateTime<Utc>) -> FakeVoipMs {
    let fake = FakeVoipMs::start(USER, PASS).await;
    fake.add_did(DID);
    fake.set_clock(move || now);
    fake
}

fn client(fake: &FakeVoipMs) -> VoipMsClient {
    client_for(fake.api_url())
}

fn client_for(api_url: String) -> VoipMsClient {
    VoipMsClient::new(VoipMsSettings {
        username: USER.into(),
        password: Secret(PASS.into()),
        api_url,
        timeout: Duration::from_millis(500),
    })
}

fn inbound(id: &str, date: DateTime<Utc>, message: &str) -> InboundSms {
    InboundSms {
        id: id.into(),
        date: date.naive_utc(),
        did: DID.into(),
        contact: PATIENT.into(),
        message: message.into(),
        media: None,
    }
}

#[tokio::test]
async fn sent_lookup_shows_what_send_sms_sent_to_that_contact_over_widened_days() {
    let now = late_evening();
    let fake = fake_at(now).await;
    let voipms = client(&fake);
    let first = voipms.send_sms(DID, PATIENT, "Part one").await.unwrap().unwrap();
    let second = voipms.send_sms(DID, PATIENT, "Part two").await.unwrap().unwrap();
    voipms.send_sms(DID, OTHER, "Part one").await.unwrap();
    fake.add_received_sms(inbound("77", now, "Part one"));

    let rows = voipms.sent_sms(DID, PATIENT, now, now).await.unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(rows.len(), 2, "only texts sent to that contact: {ids:?}");
    assert!(ids.contains(&first.as_str()) && ids.contains(&second.as_str()));
    assert!(rows.iter().all(|r| !r.inbound && r.date == now.naive_utc()));

    let call = fake.calls("getSMS").pop().unwrap();
    assert_eq!(call["type"], "0");
    assert_eq!(call["did"], DID);
    assert_eq!(call["contact"], PATIENT);
    assert_eq!(call["timezone"], "0");
    assert_eq!(
        (call["from"].as_str(), call["to"].as_str()),
        ("2026-11-24", "2026-11-26")
    );

    let found = find_sent(&rows, "Part two", now, &[]).unwrap();
    assert_eq!(found.id, second);
    assert!(
        find_sent(&rows, "Part one", now, &[&first]).is_none(),
        "a known id is not proof"
    );
    assert!(find_sent(&rows, "Part three", now, &[]).is_none());
    // Sent long before the attempt in question: an older identical text, not this one.
    let later = now + chrono::Duration::hours(7);
    assert!(find_sent(&rows, "Part two", later, &[]).is_none());
}

#[tokio::test]
async fn sent_lookup_of_nothing_sent_is_an_empty_list() {
    let fake = fake_at(late_evening()).await;
    let rows = client(&fake)
        .sent_sms(DID, PATIENT, late_evening(), late_evening())
        .await;
    assert_eq!(rows.unwrap(), vec![]);
}

#[tokio::test]
async fn accepted_then_timed_out_is_unknown_and_the_lookup_finds_the_text() {
    let now = late_evening();
    let fake = fake_at(now).await;
    let voipms = client(&fake);
    fake.set_fault_once("sendSMS", Fault::AcceptThenDelay(PAST_TIMEOUT));

    let error = voipms.send_sms(DID, PATIENT, "Call 911 now").await.unwrap_err();
    assert!(matches!(error, VoipMsError::Timeout(_)), "{error:?}");
    assert!(error.outcome_unknown());
    let sent = fake.sent_sms();
    assert_eq!(sent.len(), 1, "VoIP.ms took the text");

    let rows = voipms.sent_sms(DID, PATIENT, now, now).await.unwrap();
    let found = find_sent(&rows, "Call 911 now", now, &[]).expect("the lookup proves it went out");
    assert_eq!(found.id, sent[0].id.to_string());
    // The fault was for one call only.
    assert!(voipms.send_sms(DID, PATIENT, "next").await.is_ok());
}

#[tokio::test]
async fn accepted_then_dropped_is_unknown_and_the_lookup_finds_the_text() {
    let now = late_evening();
    let fake = fake_at(now).await;
    let voipms = client(&fake);
    fake.set_fault_once("sendSMS", Fault::AcceptThenDrop);

    let error = voipms.send_sms(DID, PATIENT, "See you at 3").await.unwrap_err();
    assert!(matches!(error, VoipMsError::Transport(_)), "{error:?}");
    assert!(error.outcome_unknown());
    assert_eq!(fake.sent_sms().len(), 1);
    let rows = voipms.sent_sms(DID, PATIENT, now, now).await.unwrap();
    assert!(find_sent(&rows, "See you at 3", now, &[]).is_some());
}

#[tokio::test]
async fn timed_out_before_accepting_is_unknown_and_the_lookup_proves_nothing_went_out() {
    let now = late_evening();
    let fake = fake_at(now).await;
    let voipms = client(&fake);
    fake.set_fault_once("sendSMS", Fault::DelayThenReject(PAST_TIMEOUT));

    let error = voipms.send_sms(DID, PATIENT, "See you at 3").await.unwrap_err();
    assert!(matches!(error, VoipMsError::Timeout(_)), "{error:?}");
    assert!(error.outcome_unknown());
    tokio::time::sleep(PAST_TIMEOUT + Duration::from_millis(200)).await;
    assert_eq!(fake.sent_sms(), vec![], "nothing stored, even after the delay");
    let rows = voipms.sent_sms(DID, PATIENT, now, now).await.unwrap();
    assert!(find_sent(&rows, "See you at 3", now, &[]).is_none());
}

#[tokio::test]
async fn unreachable_is_known_not_sent() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let voipms = client_for(format!("http://127.0.0.1:{port}/api/v1/rest.php"));
    let error = voipms.send_sms(DID, PATIENT, "hi").await.unwrap_err();
    assert!(matches!(error, VoipMsError::Unreachable(_)), "{error:?}");
    assert!(!error.outcome_unknown());
}

#[tokio::test]
async fn a_status_error_is_known_not_sent() {
    let fake = fake_at(late_evening()).await;
    fake.set_fault_once("sendSMS", Fault::Status("sms_failed"));
    let error = client(&fake).send_sms(DID, PATIENT, "hi").await.unwrap_err();
    assert!(matches!(&error, VoipMsError::Status(s) if s == "sms_failed"));
    assert!(!error.outcome_unknown());
}

#[tokio::test]
async fn a_fault_on_the_second_call_spares_the_first_and_the_third() {
    let fake = fake_at(late_evening()).await;
    let voipms = client(&fake);
    fake.set_fault_on_call("sendSMS", 2, Fault::Status("sms_failed"));
    assert!(voipms.send_sms(DID, PATIENT, "one").await.is_ok());
    assert!(voipms.send_sms(DID, PATIENT, "two").await.is_err());
    assert!(voipms.send_sms(DID, PATIENT, "three").await.is_ok());
    let texts: Vec<String> = fake.sent_sms().into_iter().map(|s| s.message).collect();
    assert_eq!(texts, ["one", "three"]);
}

#[tokio::test]
async fn received_messages_lists_texts_and_mms_with_their_media() {
    let now = late_evening();
    let fake = fake_at(now).await;
    let voipms = client(&fake);
    let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    assert_eq!(voipms.received_messages(DID, day, day).await.unwrap(), vec![], "no_sms");

    fake.add_received_sms(inbound(
        "501",
        now - chrono::Duration::minutes(5),
        "Is the office open?",
    ));
    let media = ["https://voip.ms/media.php?map=a1", "https://voip.ms/media.php?map=b2"];
    fake.add_received_mms(inbound("9001", now, "Here is the x-ray"), &media);
    voipms.send_sms(DID, PATIENT, "an answer").await.unwrap();

    let rows = voipms.received_messages(DID, day, day).await.unwrap();
    assert_eq!(rows.len(), 2, "received texts and MMS, not what was sent: {rows:?}");
    let mms = rows.iter().find(|r| r.id == "9001").unwrap();
    assert_eq!(mms.media, media);
    assert_eq!(mms.message, "Here is the x-ray");
    assert!(mms.inbound);
    let text = rows.iter().find(|r| r.id == "501").unwrap();
    assert_eq!(text.media, Vec::<String>::new());

    let call = fake.calls("getMMS").pop().unwrap();
    assert_eq!(call["all_messages"], "1");
    assert_eq!(call["type"], "1");
    assert_eq!(call["timezone"], "0");
}
