//! The auto-responder: categories from the database rules, quiet periods, office hours, opt-out.
//! (Its accuracy on labelled texts is scored in `auto_reply_corpus`.)

use pedro_tests::app::{office_closed, DID, DID_E164, PATIENT, PATIENT_E164};
use pedro_tests::spawn_app;
use serde_json::{json, Value};

#[tokio::test]
async fn misleading_keywords_get_no_reply_and_go_to_a_person() {
    let app = spawn_app().start().await;
    for (i, text) in [
        "the pain is gone now",
        "see you right on time",
        "can you accept a cheque?",
        "what's the plan for Friday?",
    ]
    .iter()
    .enumerate()
    {
        let (status, body) = app.text_in(&format!("43855501{i:02}"), text, &format!("m{i}")).await;
        assert_eq!(status, 200);
        assert_eq!(body["autoResponse"], Value::Null, "{text}");
        assert_eq!(body["needsReview"], true, "{text}");
    }
    assert!(app.voipms.sent_sms().is_empty());
    let reason: String = app.value("SELECT review_reason FROM sms_conversations LIMIT 1").await;
    assert_eq!(reason, "no automatic answer matched");
}

#[tokio::test]
async fn each_category_is_answered_with_its_text_from_the_database() {
    let app = spawn_app().start().await;
    let cases = [
        (
            "Can I book a cleaning next week?",
            "appointment",
            "To book, move or cancel an appointment",
        ),
        (
            "What are your hours?",
            "office_hours",
            "Maple Dental is open Mon–Fri 8:00 AM–5:00 PM.",
        ),
        (
            "whats ur address",
            "location",
            "Maple Dental is at 12 Main St, Montreal.",
        ),
        (
            "Do you take Delta Dental insurance?",
            "insurance",
            "We work with most insurance plans",
        ),
        ("my face is swollen and my tooth is throbbing", "emergency", "call 911"),
    ];
    for (i, (text, category, reply)) in cases.iter().enumerate() {
        let before = app.voipms.sent_sms().len();
        let (_, body) = app.text_in(&format!("43855502{i:02}"), text, &format!("c{i}")).await;
        assert_eq!(
            body["autoResponse"],
            json!({"category": category, "queued": true}),
            "{text}"
        );
        let parts: Vec<_> = app.voipms.sent_sms().into_iter().skip(before).collect();
        let whole = parts.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join(" ");
        assert!(whole.contains(reply), "{text} → {whole:?}");
        assert!(parts.iter().all(|p| p.did == DID && p.dst == format!("43855502{i:02}")));
    }
    // The reply is stored in the thread, linked to what it answers.
    let row = app
        .sql()
        .await
        .query_one(
            "SELECT r.origin, r.status, r.provider, r.auto_response_category, r.reply_to_id = i.id \
             FROM sms_messages r JOIN sms_messages i ON i.conversation_id = r.conversation_id AND i.direction = 'inbound' \
             WHERE r.direction = 'outbound' AND r.auto_response_category = 'location'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "auto_reply");
    assert_eq!(row.get::<_, String>(1), "sent");
    assert_eq!(row.get::<_, Option<String>>(2).as_deref(), Some("voipms"));
    assert!(row.get::<_, bool>(4));
}

#[tokio::test]
async fn an_emergency_is_answered_and_flagged_for_a_person() {
    let app = spawn_app().start().await;
    let (_, body) = app
        .text_in(PATIENT, "Need an appointment, also my gums are bleeding a lot", "e1")
        .await;
    assert_eq!(
        body["autoResponse"]["category"], "emergency",
        "emergency outranks appointment"
    );
    assert_eq!(body["autoResponse"]["queued"], true);
    assert_eq!(body["needsReview"], true);
    let (flag, reason): (bool, String) = {
        let row = app
            .sql()
            .await
            .query_one("SELECT needs_review, review_reason FROM sms_conversations", &[])
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert!(flag);
    assert!(reason.contains("emergency"), "{reason}");
}

#[tokio::test]
async fn one_reply_per_category_per_contact_within_the_quiet_period() {
    let app = spawn_app().start().await;
    let (_, first) = app.text_in(PATIENT, "what are your hours", "q1").await;
    assert_eq!(first["autoResponse"]["queued"], true);
    let (_, second) = app
        .text_in(PATIENT, "are you open saturday? what time do you close", "q2")
        .await;
    assert_eq!(second["autoResponse"]["category"], "office_hours");
    assert_eq!(second["autoResponse"]["queued"], false);
    assert!(second["autoResponse"]["reason"].as_str().unwrap().contains("24 hours"));
    assert_eq!(second["needsReview"], true, "a repeated question goes to a person");
    // Another category is still answered, and so is another contact.
    let (_, other) = app.text_in(PATIENT, "where are you located?", "q3").await;
    assert_eq!(other["autoResponse"]["queued"], true);
    let (_, someone_else) = app.text_in("4385550188", "what are your hours", "q4").await;
    assert_eq!(someone_else["autoResponse"]["queued"], true);
    assert_eq!(app.voipms.sent_sms().len(), 3);
    // After the quiet period the same question is answered again.
    app.clock.advance(chrono::Duration::hours(24));
    let (_, later) = app.text_in(PATIENT, "hours today?", "q5").await;
    assert_eq!(later["autoResponse"]["queued"], true, "{later}");
}

#[tokio::test]
async fn a_burst_from_one_number_gets_one_reply() {
    let app = spawn_app().start().await;
    let burst = (0..10).map(|i| app.text_in(PATIENT, "what are your office hours?", format!("burst{i}")));
    let results = futures::future::join_all(burst).await;
    assert!(results.iter().all(|(status, _)| *status == 200));
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE direction = 'inbound'")
            .await,
        10
    );
    assert_eq!(app.voipms.sent_sms().len(), 1, "one reply however many texts race");
}

#[tokio::test]
async fn short_codes_and_our_own_numbers_are_never_answered() {
    let app = spawn_app().start().await;
    let (status, body) = app.text_in("24273", "URGENT: what are your hours", "s1").await;
    assert_eq!(status, 200);
    assert_eq!(body["autoResponse"], Value::Null);
    let (_, body) = app.text_in(DID_E164, "what are your hours", "s2").await;
    assert_eq!(body["autoResponse"], Value::Null);
    assert!(app.voipms.sent_sms().is_empty());
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE direction = 'inbound'")
            .await,
        2,
        "still stored"
    );
}

#[tokio::test]
async fn outside_office_hours_the_reply_says_when_the_office_opens() {
    let app = spawn_app().start().await;
    app.clock.set(office_closed());
    app.text_in(PATIENT, "where are you located", "h1").await;
    let reply = app.voipms_sent_bodies().pop().unwrap();
    assert!(
        reply.ends_with("Our office is closed right now and opens again tomorrow at 8:00 AM."),
        "{reply}"
    );

    // The office-hours answer states the hours, from the practice's settings in its time zone.
    app.sql()
        .await
        .execute(
            "UPDATE practices SET office_hours = '{\"tue\": [[\"09:00\", \"12:00\"]], \"thu\": [[\"13:00\", \"19:00\"]]}', timezone = 'America/Vancouver'",
            &[],
        )
        .await
        .unwrap();
    app.text_in("4385550188", "what time do you open", "h2").await;
    let reply = app.voipms_sent_bodies().pop().unwrap();
    // Wednesday 17:00 in Vancouver: closed; next opening Thursday 13:00.
    assert!(
        reply.starts_with("Maple Dental is open Tue 9:00 AM–12:00 PM; Thu 1:00 PM–7:00 PM."),
        "{reply}"
    );
    assert!(reply.ends_with("opens again tomorrow at 1:00 PM."), "{reply}");
}

#[tokio::test]
async fn rules_and_replies_change_in_the_database_without_a_deploy() {
    let app = spawn_app().start().await;
    let db = app.sql().await;
    db.execute(
        "UPDATE auto_response_rules SET reply_template = 'Parking is free behind {practice_name}.', \
         keywords = keywords || ARRAY['parking lot'] WHERE category = 'location'",
        &[],
    )
    .await
    .unwrap();
    let (_, body) = app.text_in(PATIENT, "is there a parking lot", "r1").await;
    assert_eq!(body["autoResponse"]["category"], "location");
    assert_eq!(
        app.voipms_sent_bodies().pop().unwrap(),
        "Parking is free behind Maple Dental."
    );

    db.execute(
        "UPDATE auto_response_rules SET enabled = false WHERE category = 'insurance'",
        &[],
    )
    .await
    .unwrap();
    let (_, body) = app.text_in(PATIENT, "do you take my insurance", "r2").await;
    assert_eq!(body["autoResponse"], Value::Null, "a disabled rule answers nothing");
    assert_eq!(body["needsReview"], true);
}

#[tokio::test]
async fn stop_opts_out_once_and_binds_every_way_of_sending() {
    let app = spawn_app().twilio().start().await;
    let (_, body) = app.text_in(PATIENT, "Stop", "o1").await;
    assert_eq!(body["autoResponse"], json!({"category": "optout", "queued": true}));
    let confirmation = app.voipms_sent_bodies().pop().unwrap();
    assert!(
        confirmation.contains("unsubscribed") && confirmation.contains("START"),
        "{confirmation}"
    );

    // A second STOP is stored but not confirmed again.
    let (_, body) = app.text_in(PATIENT, "STOP", "o2").await;
    assert_eq!(body["autoResponse"]["queued"], false);
    // Nothing automatic reaches the number...
    let (_, body) = app.text_in(PATIENT, "what are your hours", "o3").await;
    assert_eq!(
        body["autoResponse"],
        json!({"category": "office_hours", "queued": false, "reason": "contact has opted out"})
    );
    assert_eq!(body["needsReview"], true);
    // ...nor through the API, on either carrier.
    app.voipms
        .set_fault("sendSMS", Some(pedro_tests::fakes::voipms::Fault::Http(500)));
    let (status, body) = app.send(PATIENT_E164, "Your appointment is tomorrow").await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "opted_out");
    assert_eq!(app.voipms.sent_sms().len(), 1, "only the one confirmation");
    assert_eq!(app.twilio.request_count(), 0);
    let list: Value = app.get("/api/voip/sms/conversations").await.json().await.unwrap();
    assert_eq!(list["conversations"][0]["optedOut"], true);

    // START opts back in, with a confirmation.
    app.voipms.set_fault("sendSMS", None);
    // Consent follows the texts' own times: START is written after the STOP (a tie keeps the
    // opt-out).
    app.clock.advance(chrono::Duration::minutes(1));
    let (_, body) = app.text_in(PATIENT, "start", "o4").await;
    assert_eq!(body["autoResponse"], json!({"category": "optin", "queued": true}));
    assert_eq!(app.voipms.sent_sms().len(), 2, "the opt-in confirmation went out");
    let (status, _) = app.send(PATIENT_E164, "Your appointment is tomorrow").await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn every_opt_out_word_counts_only_as_the_whole_message() {
    let app = spawn_app().start().await;
    for (i, word) in ["STOPALL", "unsubscribe", "Cancel", "end", "QUIT", "optout", "remove"]
        .iter()
        .enumerate()
    {
        let (_, body) = app.text_in(&format!("43855503{i:02}"), word, &format!("w{i}")).await;
        assert_eq!(body["autoResponse"]["category"], "optout", "{word}");
    }
    let (_, body) = app.text_in("4385550399", "I need to cancel my appointment", "w9").await;
    assert_eq!(body["autoResponse"]["category"], "appointment");
    assert_eq!(app.count("SELECT count(*) FROM sms_opt_outs").await, 7);
    // YES from someone who never opted out is an ordinary answer, not an opt-in.
    let (_, body) = app.text_in("4385550398", "Yes", "w10").await;
    assert_eq!(body["autoResponse"], Value::Null);
}

#[tokio::test]
async fn help_answers_with_the_practice_name_and_phone() {
    let app = spawn_app().start().await;
    let (_, body) = app.text_in(PATIENT, "HELP", "help1").await;
    assert_eq!(body["autoResponse"], json!({"category": "help", "queued": true}));
    let reply = app.voipms_sent_bodies().pop().unwrap();
    assert!(
        reply.contains("Maple Dental") && reply.contains("call (514) 555-0100."),
        "numbers are written as people write them: {reply}"
    );
}

#[tokio::test]
async fn a_reply_whose_facts_are_not_configured_is_not_sent_and_goes_to_a_person() {
    let app = spawn_app().start().await;
    let db = app.sql().await;
    db.execute("UPDATE practices SET address = NULL", &[]).await.unwrap();
    let (status, body) = app.text_in(PATIENT, "where are you located?", "m1").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["autoResponse"],
        json!({"category": "location", "queued": false, "reason": "reply needs address, which is not configured"})
    );
    assert_eq!(body["needsReview"], true);
    assert!(app.voipms.sent_sms().is_empty(), "no reply with a hole in it");
    let reason: String = app.value("SELECT review_reason FROM sms_conversations").await;
    assert!(
        reason.contains("reply needs address, which is not configured"),
        "{reason}"
    );

    // The quiet period was not used up: once the address is set, the question is answered.
    db.execute("UPDATE practices SET address = '12 Main St, Montreal'", &[])
        .await
        .unwrap();
    let (_, body) = app.text_in(PATIENT, "what's your address?", "m2").await;
    assert_eq!(body["autoResponse"]["queued"], true, "{body}");
    assert!(app.voipms_sent_bodies().pop().unwrap().contains("12 Main St, Montreal"));

    // The HELP answer quotes the practice's number; without one it is not sent either.
    db.execute("UPDATE practices SET phone = ''", &[]).await.unwrap();
    let (_, body) = app.text_in("4385550177", "HELP", "m3").await;
    assert_eq!(body["autoResponse"]["queued"], false);
    assert_eq!(
        body["autoResponse"]["reason"],
        "reply needs practice_phone, which is not configured"
    );
    assert_eq!(body["needsReview"], true);
    assert_eq!(
        app.voipms.sent_sms().len(),
        1,
        "only the answer after the address was set"
    );
}

#[tokio::test]
async fn opt_out_is_per_practice() {
    let app = spawn_app().start().await;
    app.add_practice("Other Clinic", "+15145550177").await;
    app.voipms.add_did("5145550177");
    app.text_in(PATIENT, "STOP", "p1").await;
    let response = app
        .post_json(
            "/api/voip/sms/webhook",
            &json!({"from": PATIENT, "to": "5145550177", "message": "what are your hours", "id": "p2"}),
        )
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["autoResponse"]["queued"], true,
        "the other practice may still answer: {body}"
    );
    app.drain_queue().await;
    let sent = app.voipms.sent_sms();
    assert_eq!(
        sent.len(),
        2,
        "the opt-out confirmation, then the other practice's answer"
    );
    assert_eq!(sent.last().unwrap().did, "5145550177");
    assert_eq!(sent.last().unwrap().dst, PATIENT);
}

#[tokio::test]
async fn a_reply_that_could_not_be_sent_does_not_use_up_the_quiet_period() {
    let app = spawn_app().start().await;
    // An error status: VoIP.ms refused the text, so it was certainly not sent (and there is no
    // fallback carrier).
    app.voipms
        .set_fault("sendSMS", Some(pedro_tests::fakes::voipms::Fault::Status("sms_failed")));
    let (_, first) = app.text_in(PATIENT, "what are your hours", "f1").await;
    assert_eq!(first["autoResponse"]["queued"], true);
    assert!(app.voipms.sent_sms().is_empty());
    let status: String = app
        .value("SELECT status FROM sms_messages WHERE direction = 'outbound'")
        .await;
    assert_eq!(status, "failed");
    let (flagged, reason): (bool, String) = {
        let row = app
            .sql()
            .await
            .query_one("SELECT needs_review, review_reason FROM sms_conversations", &[])
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert!(flagged, "a reply that could not be sent goes to a person");
    assert!(reason.contains("could not be sent"), "{reason}");

    app.voipms.set_fault("sendSMS", None);
    let (_, second) = app.text_in(PATIENT, "what are your hours??", "f2").await;
    assert_eq!(second["autoResponse"]["queued"], true, "{second}");
    let sent = app.voipms_sent_bodies();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("Maple Dental is open"), "{sent:?}");
}

#[tokio::test]
async fn an_emergency_from_an_opted_out_patient_is_flagged_as_an_emergency() {
    let app = spawn_app().start().await;
    app.text_in(PATIENT, "STOP", "x1").await;
    let (_, body) = app.text_in(PATIENT, "my face is swollen and bleeding", "x2").await;
    assert_eq!(
        body["autoResponse"],
        json!({"category": "emergency", "queued": false, "reason": "contact has opted out"}),
        "nothing is sent to an opted-out number"
    );
    assert_eq!(body["needsReview"], true);
    let reason: String = app.value("SELECT review_reason FROM sms_conversations").await;
    assert!(reason.contains("emergency"), "{reason}");
    assert_eq!(app.voipms.sent_sms().len(), 1, "only the opt-out confirmation");
}
