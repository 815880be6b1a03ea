//! Reading threads: `/api/voip/sms/conversations`, a thread's `/messages` and `/review`.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use pedro_tests::app::{office_open, DID_E164, PATIENT, PATIENT_E164};
use pedro_tests::{spawn_app, TestApp};
use serde_json::Value;
use uuid::Uuid;

/// A text no automatic answer matches: it is stored and flagged for a person.
const UNANSWERABLE: &str = "Can I bring my dog along?";
/// A text the office-hours rule answers: stored, answered, not flagged.
const HOURS: &str = "What are your hours?";

/// A distinct patient number for `i` (10-digit VoIP.ms form).
fn patient(i: usize) -> String {
    format!("438555{:04}", 2000 + i)
}

fn e164(ten_digits: &str) -> String {
    format!("+1{ten_digits}")
}

async fn get_json(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.get(path).await;
    let status = response.status().as_u16();
    let body = response
        .json()
        .await
        .unwrap_or_else(|e| panic!("{path}: JSON body expected: {e}"));
    (status, body)
}

async fn post_empty(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.http.post(app.url(path)).send().await.expect("request");
    let status = response.status().as_u16();
    let body = response
        .json()
        .await
        .unwrap_or_else(|e| panic!("{path}: JSON body expected: {e}"));
    (status, body)
}

/// The list, asserting 200.
async fn list(app: &TestApp, query: &str) -> Value {
    let (status, body) = get_json(app, &format!("/api/voip/sms/conversations{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

fn items(page: &Value) -> &Vec<Value> {
    page["conversations"]
        .as_array()
        .unwrap_or_else(|| panic!("`conversations` is a list: {page}"))
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a timestamp string: {value}"))
        .parse()
        .unwrap_or_else(|e| panic!("{value}: {e}"))
}

fn assert_error(status: u16, body: &Value, expected_status: u16, code: &str, what: &str) {
    assert_eq!(status, expected_status, "{what}: {body}");
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
}

/// Texts in from `n` distinct numbers, one minute apart; returns their conversation ids, oldest first.
async fn texts_from_distinct_numbers(app: &TestApp, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        app.clock.advance(Duration::minutes(1));
        let (status, body) = app
            .text_in(&patient(i), &format!("{UNANSWERABLE} #{i}"), &format!("m{i}"))
            .await;
        assert_eq!(status, 200, "{body}");
        ids.push(body["conversationId"].as_str().unwrap().to_string());
    }
    ids
}

/// `n` threads straight into the database, all last active at `at`.
async fn insert_threads(app: &TestApp, n: i32, at: DateTime<Utc>) {
    app.sql()
        .await
        .execute(
            "INSERT INTO sms_conversations (practice_id, did, contact, last_message_at, last_message_preview) \
             SELECT $1, $2, '+1438556' || lpad(i::text, 4, '0'), $3, 'hello ' || i \
             FROM generate_series(1, $4::int4) AS i",
            &[&app.practice_id, &DID_E164, &at, &n],
        )
        .await
        .expect("insert threads");
}

/// Follows `nextCursor` from the first page to the end; returns every id in the order served.
async fn walk(app: &TestApp, base: &str) -> (Vec<String>, usize) {
    let separator = if base.contains('?') { '&' } else { '?' };
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{base}{separator}cursor={c}"),
            None => base.to_string(),
        };
        let (status, page) = get_json(app, &path).await;
        assert_eq!(status, 200, "{path}: {page}");
        pages += 1;
        assert!(pages < 100, "paging does not end");
        let list = page
            .get("conversations")
            .or_else(|| page.get("messages"))
            .and_then(Value::as_array)
            .unwrap();
        ids.extend(list.iter().map(|c| c["id"].as_str().unwrap().to_string()));
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => {
                assert!(page["nextCursor"].is_null(), "{page}");
                break;
            }
        }
    }
    (ids, pages)
}

#[tokio::test]
async fn the_list_defaults_to_50_newest_first_with_a_cursor_to_the_rest() {
    let app = spawn_app().start().await;
    let created = texts_from_distinct_numbers(&app, 60).await;

    let first = list(&app, "").await;
    let page = items(&first);
    assert_eq!(page.len(), 50, "default page size");
    // Newest first: the last number to text leads.
    assert_eq!(page[0]["contactNumber"], e164(&patient(59)));
    assert_eq!(page[0]["id"], created[59]);
    assert_eq!(page[49]["contactNumber"], e164(&patient(10)));
    for pair in page.windows(2) {
        assert!(
            time(&pair[0]["lastMessageAt"]) > time(&pair[1]["lastMessageAt"]),
            "newest first: {} then {}",
            pair[0],
            pair[1]
        );
    }
    assert_eq!(time(&page[0]["lastMessageAt"]), office_open() + Duration::minutes(60));
    let cursor = first["nextCursor"].as_str().expect("a next cursor");

    let second = list(&app, &format!("?cursor={cursor}")).await;
    let rest = items(&second);
    assert_eq!(rest.len(), 10);
    assert_eq!(rest[0]["contactNumber"], e164(&patient(9)));
    assert_eq!(rest[9]["contactNumber"], e164(&patient(0)));
    assert!(second["nextCursor"].is_null(), "{second}");

    let served: Vec<&str> = page.iter().chain(rest).map(|c| c["id"].as_str().unwrap()).collect();
    let mut expected: Vec<&str> = created.iter().map(String::as_str).collect();
    expected.reverse();
    assert_eq!(served, expected, "every thread once, newest first");
}

#[tokio::test]
async fn limit_is_1_to_200() {
    let app = spawn_app().start().await;
    insert_threads(&app, 240, office_open()).await;
    texts_from_distinct_numbers(&app, 2).await;

    let page = list(&app, "?limit=200").await;
    assert_eq!(items(&page).len(), 200);
    assert!(page["nextCursor"].is_string());
    // The two texted threads are the newest.
    assert_eq!(items(&page)[0]["contactNumber"], e164(&patient(1)));
    assert_eq!(items(&page)[1]["contactNumber"], e164(&patient(0)));

    let page = list(&app, "?limit=1").await;
    assert_eq!(items(&page).len(), 1);
    assert!(page["nextCursor"].is_string());

    for bad in ["201", "1000", "0", "-1", "abc", "1.5", ""] {
        let (status, body) = get_json(&app, &format!("/api/voip/sms/conversations?limit={bad}")).await;
        assert_error(status, &body, 400, "invalid_limit", &format!("limit={bad}"));
    }
}

#[tokio::test]
async fn cursor_paging_serves_every_thread_exactly_once_even_when_times_tie() {
    let app = spawn_app().start().await;
    // 25 threads share one timestamp, so only the id orders them.
    insert_threads(&app, 25, office_open() - Duration::hours(1)).await;
    texts_from_distinct_numbers(&app, 10).await;
    let all: HashSet<String> = {
        let rows = app
            .sql()
            .await
            .query("SELECT id FROM sms_conversations", &[])
            .await
            .unwrap();
        rows.iter().map(|r| r.get::<_, Uuid>(0).to_string()).collect()
    };
    assert_eq!(all.len(), 35);

    // 35 = 5 × 7: the fifth page is full, so its cursor leads to an empty last page.
    let (served, pages) = walk(&app, "/api/voip/sms/conversations?limit=7").await;
    assert_eq!(served.len(), 35, "no thread twice, none left out: {served:?}");
    assert_eq!(served.iter().cloned().collect::<HashSet<_>>(), all);
    assert!((5..=6).contains(&pages), "{pages} pages");

    let (served, _) = walk(&app, "/api/voip/sms/conversations?limit=4").await;
    assert_eq!(served.len(), 35);
    assert_eq!(served.into_iter().collect::<HashSet<_>>(), all);
}

#[tokio::test]
async fn bad_cursor_and_filter_values_get_400() {
    let app = spawn_app().start().await;
    let (_, text) = app.text_in(PATIENT, UNANSWERABLE, "c1").await;
    let conversation = text["conversationId"].as_str().unwrap();
    let cases = [
        ("/api/voip/sms/conversations?cursor=garbage", "invalid_cursor"),
        ("/api/voip/sms/conversations?cursor=", "invalid_cursor"),
        ("/api/voip/sms/conversations?cursor=123_not-a-uuid", "invalid_cursor"),
        ("/api/voip/sms/conversations?needsReview=maybe", "invalid_filter"),
        ("/api/voip/sms/conversations?needsReview=", "invalid_filter"),
    ];
    for (path, code) in cases {
        let (status, body) = get_json(&app, path).await;
        assert_error(status, &body, 400, code, path);
    }
    let base = format!("/api/voip/sms/conversations/{conversation}/messages");
    for (query, code) in [
        ("?cursor=garbage", "invalid_cursor"),
        ("?limit=201", "invalid_limit"),
        ("?limit=0", "invalid_limit"),
    ] {
        let (status, body) = get_json(&app, &format!("{base}{query}")).await;
        assert_error(status, &body, 400, code, query);
    }
}

#[tokio::test]
async fn items_say_who_what_when_unread_review_and_opt_out() {
    let app = spawn_app().start().await;
    let answered = patient(1);
    let flagged = patient(2);
    let stopped = patient(3);

    let (_, body) = app.text_in(&answered, HOURS, "h1").await;
    assert_eq!(body["needsReview"], false, "{body}");
    assert_eq!(body["autoResponse"]["queued"], true, "{body}");
    app.clock.advance(Duration::minutes(1));
    let long = format!("{UNANSWERABLE} {}", "é".repeat(150));
    let (_, body) = app.text_in(&flagged, &long, "f1").await;
    assert_eq!(body["needsReview"], true, "{body}");
    app.clock.advance(Duration::minutes(1));
    let (_, body) = app.text_in(&stopped, "STOP", "s1").await;
    assert_eq!(body["needsReview"], false, "{body}");

    let all = list(&app, "").await;
    let page = items(&all);
    assert_eq!(page.len(), 3);
    assert!(all["nextCursor"].is_null());
    let order: Vec<&str> = page.iter().map(|c| c["contactNumber"].as_str().unwrap()).collect();
    assert_eq!(order, [e164(&stopped), e164(&flagged), e164(&answered)]);

    let by = |number: &str| {
        page.iter()
            .find(|c| c["contactNumber"] == e164(number))
            .unwrap()
            .clone()
    };
    let reply = app.voipms_sent_bodies()[0].clone();
    let a = by(&answered);
    assert_eq!(a["did"], DID_E164);
    assert_eq!(
        a["lastMessagePreview"], reply,
        "the automatic reply is the last message"
    );
    assert_eq!(time(&a["lastMessageAt"]), office_open());
    assert_eq!(a["unreadCount"], 1, "the reply is not unread");
    assert_eq!(a["needsReview"], false);
    assert!(a["reviewReason"].is_null(), "{a}");
    assert_eq!(a["optedOut"], false);

    let f = by(&flagged);
    let preview = f["lastMessagePreview"].as_str().unwrap();
    assert_eq!(preview.chars().count(), 101, "{preview}");
    assert!(preview.starts_with(UNANSWERABLE) && preview.ends_with('…'));
    assert_eq!(time(&f["lastMessageAt"]), office_open() + Duration::minutes(1));
    assert_eq!(f["unreadCount"], 1);
    assert_eq!(f["needsReview"], true);
    assert!(f["reviewReason"].as_str().is_some_and(|r| !r.is_empty()), "{f}");
    assert_eq!(f["optedOut"], false);

    let s = by(&stopped);
    assert_eq!(s["optedOut"], true, "{s}");
    assert_eq!(s["needsReview"], false);

    let flagged_only = list(&app, "?needsReview=true").await;
    let page = items(&flagged_only);
    assert_eq!(page.len(), 1, "{flagged_only}");
    assert_eq!(page[0]["contactNumber"], e164(&flagged));
    assert_eq!(page[0]["reviewReason"], f["reviewReason"]);
    assert!(flagged_only["nextCursor"].is_null());
}

#[tokio::test]
async fn needs_review_filter_pages_through_flagged_threads_only() {
    let app = spawn_app().start().await;
    let mut flagged = Vec::new();
    for i in 0..9 {
        app.clock.advance(Duration::minutes(1));
        let (message, expect_flag) = if i % 3 == 0 {
            (HOURS, false)
        } else {
            (UNANSWERABLE, true)
        };
        let (_, body) = app.text_in(&patient(i), message, &format!("n{i}")).await;
        assert_eq!(body["needsReview"], expect_flag, "{i}: {body}");
        if expect_flag {
            flagged.push(body["conversationId"].as_str().unwrap().to_string());
        }
    }
    flagged.reverse();
    let (served, _) = walk(&app, "/api/voip/sms/conversations?needsReview=true&limit=4").await;
    assert_eq!(served, flagged, "flagged threads only, newest first");
    let (everything, _) = walk(&app, "/api/voip/sms/conversations?limit=4").await;
    assert_eq!(everything.len(), 9);
}

#[tokio::test]
async fn a_thread_lists_its_messages_newest_first_with_the_automatic_reply() {
    let app = spawn_app().start().await;
    let (_, hours) = app.text_in(PATIENT, HOURS, "t1").await;
    app.clock.advance(Duration::minutes(5));
    let (_, dog) = app.text_in(PATIENT, UNANSWERABLE, "t2").await;
    assert_eq!(hours["conversationId"], dog["conversationId"]);
    let conversation = hours["conversationId"].as_str().unwrap();
    let question_id = hours["messageId"].as_str().unwrap();

    let (status, body) = get_json(&app, &format!("/api/voip/sms/conversations/{conversation}/messages")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["conversation"]["id"], conversation);
    assert_eq!(body["conversation"]["contactNumber"], PATIENT_E164);
    assert_eq!(body["conversation"]["needsReview"], true);
    assert!(body["nextCursor"].is_null());
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{body}");

    // Newest first: the later question leads.
    let newest = &messages[0];
    assert_eq!(newest["id"], dog["messageId"]);
    assert_eq!(newest["direction"], "inbound");
    assert_eq!(newest["body"], UNANSWERABLE);
    assert_eq!(newest["status"], "received");
    assert!(newest["autoResponseCategory"].is_null(), "{newest}");
    assert!(newest["replyToId"].is_null());
    assert_eq!(newest["needsReview"], true);
    assert_eq!(time(&newest["occurredAt"]), office_open() + Duration::minutes(5));

    // The hours question and its answer happened at the same instant (the clock is fixed).
    let question = messages[1..]
        .iter()
        .find(|m| m["direction"] == "inbound")
        .expect("the first question");
    let reply = messages[1..]
        .iter()
        .find(|m| m["direction"] == "outbound")
        .expect("the automatic reply");
    assert_eq!(question["id"], question_id);
    assert_eq!(question["body"], HOURS);
    assert_eq!(question["status"], "received");
    assert_eq!(question["autoResponseCategory"], "office_hours");
    assert!(question["replyToId"].is_null());
    assert_eq!(question["needsReview"], false);

    assert_eq!(reply["body"], app.voipms_sent_bodies()[0]);
    assert_eq!(reply["status"], "sent");
    assert_eq!(reply["origin"], "auto_reply");
    assert_eq!(reply["autoResponseCategory"], "office_hours");
    assert_eq!(reply["replyToId"], question_id, "the reply points at its question");
    assert_eq!(time(&reply["occurredAt"]), office_open());
    for m in messages {
        assert_eq!(m["conversationId"], conversation);
    }

    // Paging one at a time serves the same messages, in the same order, each once.
    let (paged, pages) = walk(
        &app,
        &format!("/api/voip/sms/conversations/{conversation}/messages?limit=1"),
    )
    .await;
    let all: Vec<String> = messages.iter().map(|m| m["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(paged, all);
    assert_eq!(pages, 4, "three full pages, then an empty one");

    let (paged, _) = walk(
        &app,
        &format!("/api/voip/sms/conversations/{conversation}/messages?limit=2"),
    )
    .await;
    assert_eq!(paged, all);
}

#[tokio::test]
async fn review_clears_the_flag_and_the_unread_count() {
    let app = spawn_app().start().await;
    let (_, first) = app.text_in(PATIENT, UNANSWERABLE, "r1").await;
    app.clock.advance(Duration::minutes(1));
    app.text_in(PATIENT, "And my cat?", "r2").await;
    app.clock.advance(Duration::minutes(1));
    let (_, other) = app.text_in(&patient(7), UNANSWERABLE, "r3").await;
    let id = first["conversationId"].as_str().unwrap();

    let before = list(&app, "").await;
    let thread = items(&before).iter().find(|c| c["id"] == id).unwrap();
    assert_eq!(thread["unreadCount"], 2);
    assert_eq!(thread["needsReview"], true);

    let (status, reviewed) = post_empty(&app, &format!("/api/voip/sms/conversations/{id}/review")).await;
    assert_eq!(status, 200, "{reviewed}");
    assert_eq!(reviewed["id"], id);
    assert_eq!(reviewed["needsReview"], false);
    assert!(reviewed["reviewReason"].is_null(), "{reviewed}");
    assert_eq!(reviewed["unreadCount"], 0);
    assert_eq!(reviewed["contactNumber"], PATIENT_E164);

    let after = list(&app, "").await;
    let thread = items(&after).iter().find(|c| c["id"] == id).unwrap();
    assert_eq!(thread["needsReview"], false);
    assert!(thread["reviewReason"].is_null());
    assert_eq!(thread["unreadCount"], 0);
    let flagged = list(&app, "?needsReview=true").await;
    let still: Vec<&Value> = items(&flagged).iter().map(|c| &c["id"]).collect();
    assert_eq!(
        still,
        [&other["conversationId"]],
        "only the other thread is still flagged"
    );

    let uuid: Uuid = id.parse().unwrap();
    let row = app
        .sql()
        .await
        .query_one(
            "SELECT needs_review, review_reason, unread_count FROM sms_conversations WHERE id = $1",
            &[&uuid],
        )
        .await
        .unwrap();
    assert!(!row.get::<_, bool>(0));
    assert_eq!(row.get::<_, Option<String>>(1), None);
    assert_eq!(row.get::<_, i32>(2), 0);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM sms_messages WHERE conversation_id = '{id}' AND needs_review"
        ))
        .await,
        0,
        "the thread's messages are no longer flagged"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE needs_review").await,
        1,
        "the other thread's message still is"
    );

    // Reviewing again is harmless; a new text counts and flags afresh.
    let (status, _) = post_empty(&app, &format!("/api/voip/sms/conversations/{id}/review")).await;
    assert_eq!(status, 200);
    app.clock.advance(Duration::minutes(1));
    app.text_in(PATIENT, "Hello again, one more thing", "r4").await;
    let latest = list(&app, "").await;
    let thread = &items(&latest)[0];
    assert_eq!(thread["id"], id);
    assert_eq!(thread["unreadCount"], 1);
    assert_eq!(thread["needsReview"], true);
}

#[tokio::test]
async fn unknown_ids_paths_and_methods_get_json_errors() {
    let app = spawn_app().start().await;
    let (_, text) = app.text_in(PATIENT, UNANSWERABLE, "u1").await;
    let real = text["conversationId"].as_str().unwrap().to_string();

    // A thread of another practice is as unknown as one that does not exist.
    let foreign: Uuid = {
        let practice = app.add_practice("Other Clinic", "+12025550123").await;
        let db = app.sql().await;
        db.query_one(
            "INSERT INTO sms_conversations (practice_id, did, contact, last_message_at, needs_review, review_reason, unread_count) \
             VALUES ($1, '+12025550123', $2, now(), true, 'theirs', 3) RETURNING id",
            &[&practice, &PATIENT_E164],
        )
        .await
        .unwrap()
        .get(0)
    };

    for id in [
        Uuid::new_v4().to_string(),
        foreign.to_string(),
        "not-a-uuid".to_string(),
        "123".to_string(),
    ] {
        let (status, body) = get_json(&app, &format!("/api/voip/sms/conversations/{id}/messages")).await;
        assert_error(status, &body, 404, "not_found", &format!("messages of {id}"));
        let (status, body) = post_empty(&app, &format!("/api/voip/sms/conversations/{id}/review")).await;
        assert_error(status, &body, 404, "not_found", &format!("review of {id}"));
    }
    let row = app
        .sql()
        .await
        .query_one(
            "SELECT needs_review, unread_count FROM sms_conversations WHERE id = $1",
            &[&foreign],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "another practice's thread untouched");
    assert_eq!(row.get::<_, i32>(1), 3);
    let page = list(&app, "").await;
    let ids: Vec<&Value> = items(&page).iter().map(|c| &c["id"]).collect();
    assert_eq!(ids, [&Value::from(real.clone())], "only our own threads");

    let (status, body) = get_json(&app, &format!("/api/voip/sms/conversations/{real}/review")).await;
    assert_error(status, &body, 405, "method_not_allowed", "GET review");
    let (status, body) = post_empty(&app, &format!("/api/voip/sms/conversations/{real}/messages")).await;
    assert_error(status, &body, 405, "method_not_allowed", "POST messages");
    let (status, body) = post_empty(&app, "/api/voip/sms/conversations").await;
    assert_error(status, &body, 405, "method_not_allowed", "POST list");
    for path in [
        "/api/voip/sms/conversation",
        "/api/voip/sms/conversations/",
        &format!("/api/voip/sms/conversations/{real}"),
        &format!("/api/voip/sms/conversations/{real}/nope"),
        "/nope",
    ] {
        let (status, body) = get_json(&app, path).await;
        assert_error(status, &body, 404, "not_found", path);
    }
    // The real thread was not touched by any of this.
    let page = list(&app, "").await;
    assert_eq!(items(&page)[0]["needsReview"], true);
    assert_eq!(items(&page)[0]["unreadCount"], 1);
}

#[tokio::test]
async fn needs_review_false_lists_only_threads_that_need_nobody() {
    let app = spawn_app().start().await;
    app.text_in(&patient(1), "What are your hours?", "f1").await;
    app.text_in(&patient(2), "can someone call me about my bill", "f2")
        .await;
    let all = list(&app, "").await;
    assert_eq!(items(&all).len(), 2);
    let calm = list(&app, "?needsReview=false").await;
    assert_eq!(items(&calm).len(), 1);
    assert_eq!(items(&calm)[0]["needsReview"], false);
    assert_eq!(items(&calm)[0]["contactNumber"], e164(&patient(1)));
    let flagged = list(&app, "?needsReview=true").await;
    assert_eq!(items(&flagged)[0]["contactNumber"], e164(&patient(2)));
}
