//! `GET /api/voip/search`: texts, call transcripts and summaries of one practice, ranked, with
//! snippets safe to show in a page, and what each hit belongs to.

use pedro_tests::app::{client_with_token, member_token, TestApp, FIXTURE_CALL, FIXTURE_RECORDING};
use pedro_tests::{mp3, spawn_app};
use serde_json::Value;

async fn search(app: &TestApp, query: &str) -> (u16, Value) {
    let response = app.get(&format!("/api/voip/search?{query}")).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A transcript and summary for the fixture call, as the worker stores them.
async fn seed_call_text(app: &TestApp, transcript: &str, summary: &str) {
    app.seed_fixture_call(mp3::silence(2.0)).await;
    let db = app.sql().await;
    let recording: uuid::Uuid = FIXTURE_RECORDING.parse().unwrap();
    let call: uuid::Uuid = FIXTURE_CALL.parse().unwrap();
    db.execute(
        "INSERT INTO call_transcripts (recording_id, practice_id, call_id, provider, model, text, elapsed_ms, created_at) \
         VALUES ($1, $2, $3, 'openai', 'whisper-1', $4, 10, now())",
        &[&recording, &app.practice_id, &call, &transcript],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO call_facts (recording_id, practice_id, call_id, schema_version, facts, summary, request, urgency, source, created_at) \
         VALUES ($1, $2, $3, 1, '{}', $4, 'emergency', 'high', 'rules', now())",
        &[&recording, &app.practice_id, &call, &summary],
    )
    .await
    .unwrap();
}

fn kinds(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn texts_transcripts_and_summaries_are_found_ranked_with_safe_snippets() {
    let app = spawn_app().sandbox().start().await;
    app.text_in("+14385550101", "My <b>tooth</b> is broken, can I come in today?", "s1")
        .await;
    app.text_in("+14385550102", "Do you do teeth whitening?", "s2").await;
    app.text_in("+14385550103", "Thanks, see you Tuesday", "s3").await;
    seed_call_text(
        &app,
        "Hi this is Maria, I broke my tooth last night and the broken tooth hurts a lot",
        "Maria broke a tooth and is in pain; wants an emergency visit.",
    )
    .await;

    let (status, body) = search(&app, "q=tooth").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"].as_array().unwrap().len(), 3, "{body}");
    // The transcript says it most often: first.
    assert_eq!(body["results"][0]["kind"], "transcript", "{body}");
    assert_eq!(body["results"][0]["callId"], FIXTURE_CALL);
    assert_eq!(body["results"][0]["recordingId"], FIXTURE_RECORDING);
    let message = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["kind"] == "message")
        .unwrap();
    assert!(
        message["conversationId"].is_string() && message["messageId"].is_string(),
        "{message}"
    );
    // The patient's markup is text; only the highlight is markup.
    assert_eq!(
        message["snippet"],
        "My &lt;b&gt;<mark>tooth</mark>&lt;/b&gt; is broken, can I come in today?"
    );

    // Phrases, `or`, `-word`.
    let (_, phrase) = search(&app, "q=%22broken%20tooth%22").await;
    assert_eq!(kinds(&phrase), ["transcript"], "{phrase}");
    let (_, either) = search(&app, "q=whitening%20or%20tuesday").await;
    assert_eq!(either["results"].as_array().unwrap().len(), 2, "{either}");
    let (_, without) = search(&app, "q=tooth%20-maria").await;
    assert_eq!(kinds(&without), ["message"], "{without}");

    // Only calls, only texts.
    let (_, calls) = search(&app, "q=tooth&type=calls").await;
    let mut call_kinds = kinds(&calls);
    call_kinds.sort();
    assert_eq!(call_kinds, ["summary", "transcript"]);
    let (_, texts) = search(&app, "q=tooth&type=messages").await;
    assert_eq!(kinds(&texts), ["message"]);

    // Pages follow the cursor and never repeat a hit.
    let (_, first) = search(&app, "q=tooth&limit=2").await;
    assert_eq!(first["results"].as_array().unwrap().len(), 2);
    let cursor = first["nextCursor"].as_str().unwrap();
    let (_, second) = search(&app, &format!("q=tooth&limit=2&cursor={cursor}")).await;
    assert_eq!(second["results"].as_array().unwrap().len(), 1);
    assert_eq!(second["nextCursor"], Value::Null);

    // Dates, in the practice's zone (the texts and the call are all on 2026-11-25).
    let (_, none) = search(&app, "q=tooth&dateFrom=2026-11-01&dateTo=2026-11-24").await;
    assert_eq!(none["results"], serde_json::json!([]));
}

#[tokio::test]
async fn another_practice_never_finds_these_words() {
    let app = spawn_app().sandbox().start().await;
    app.text_in("+14385550101", "My crown fell out", "c1").await;
    seed_call_text(&app, "the crown fell out while eating", "Crown fell out.").await;
    let other = app.add_practice("Other Dental", "+12125550100").await;
    let stranger = client_with_token(&member_token(other, "staff"));
    let body: Value = stranger
        .get(app.url("/api/voip/search?q=crown"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["results"], serde_json::json!([]), "{body}");
    let (_, mine) = search(&app, "q=crown").await;
    assert_eq!(mine["results"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn queries_that_cannot_be_searched_get_a_clear_400() {
    let app = spawn_app().sandbox().start().await;
    let long = "tooth ".repeat(50);
    for (query, code) in [
        ("", "missing_query"),
        ("q=%20%20", "missing_query"),
        ("q=the%20and%20of", "query_has_no_words"),
        (&format!("q={long}") as &str, "query_too_long"),
        ("q=tooth&type=voicemail", "invalid_type"),
        ("q=to%00oth", "invalid_query"),
        ("q=tooth&limit=0", "invalid_limit"),
        ("q=tooth&cursor=abc", "invalid_cursor"),
        ("q=tooth&dateFrom=2026-11-25", "missing_date"),
        ("q=tooth&sort=new", "unknown_parameter"),
    ] {
        let (status, body) = search(&app, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], code, "{query}: {body}");
    }
}

/// The plan of a full-text match, as `caller` reads, with sequential scans priced out: whether the
/// planner can serve `@@` from the index at all, not what it prefers on a handful of rows. (The
/// practice filter is left out: on a few rows its own index would win.)
async fn match_plan(app: &TestApp, caller: &pedro_voip::auth::Caller) -> String {
    let mut client = app.ctx.conn().await.unwrap();
    let tx = pedro_voip::db::begin_as(&mut client, caller).await.unwrap();
    tx.batch_execute("SET LOCAL enable_seqscan = off").await.unwrap();
    let rows = tx
        .query(
            "EXPLAIN SELECT m.id FROM sms_messages m WHERE m.search @@ websearch_to_tsquery('english', 'tooth')",
            &[],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Why search reads as `Caller::practice_filtered_reader` and not as the member: under the
/// member's row-level security the full-text index cannot serve the match at all (`@@` is not
/// leakproof, so it may not run before the policy) and a million texts are read one by one.
#[tokio::test]
async fn the_endpoint_reader_can_use_the_full_text_index_where_the_member_cannot() {
    let app = spawn_app().sandbox().start().await;
    app.text_in("+14385550101", "My tooth is broken", "ix1").await;
    let reader = match_plan(&app, &pedro_voip::auth::Caller::practice_filtered_reader()).await;
    assert!(reader.contains("sms_messages_search"), "the reader's plan:\n{reader}");
    let member = pedro_voip::auth::caller_from_claims(serde_json::json!({
        "aud": "authenticated",
        "role": "authenticated",
        "sub": uuid::Uuid::new_v4().to_string(),
        "app_metadata": {"practice_id": app.practice_id.to_string(), "practice_role": "staff"},
    }))
    .unwrap();
    let as_member = match_plan(&app, &member).await;
    assert!(
        !as_member.contains("sms_messages_search"),
        "the member's plan:\n{as_member}"
    );
}
