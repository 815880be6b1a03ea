//! The settings API: practice settings and automatic-reply rules, read by staff and changed by
//! admins only, each field checked (a 400 naming it), isolated between practices, in the audit
//! trail, and used by the very next automatic reply.

use pedro_tests::app::{client_with_token, member_token, sign};
use pedro_tests::{spawn_app, TestApp};
use pedro_voip::domain::settings::SettingsChange;
use pedro_voip::store::settings as store;
use reqwest::Client;
use serde_json::{json, Value};
use uuid::Uuid;

const SETTINGS: &str = "/api/voip/settings";
const RULES: &str = "/api/voip/settings/rules";

async fn read(client: &Client, app: &TestApp, path: &str) -> (u16, Value) {
    let response = client.get(app.url(path)).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn put(client: &Client, app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let response = client.put(app.url(path)).json(body).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn rule_path(category: &str) -> String {
    format!("{RULES}/{category}")
}

/// The reply the webhook queued for `from`'s text (before the worker sends it).
async fn queued_reply(app: &TestApp, from: &str, text: &str, id: &str) -> Option<String> {
    let (status, outcome) = app.text_in_queued(from, text, id).await;
    assert_eq!(status, 200, "{outcome}");
    let db = app.sql().await;
    let row = db
        .query_opt(
            "SELECT r.body FROM sms_messages r JOIN sms_messages i ON r.reply_to_id = i.id \
             WHERE i.provider_message_id = $1 AND r.direction = 'outbound'",
            &[&id],
        )
        .await
        .unwrap();
    row.map(|r| r.get(0))
}

#[tokio::test]
async fn staff_and_admins_read_the_settings_with_every_day_of_the_week() {
    let app = spawn_app().start().await;
    let staff = client_with_token(&member_token(app.practice_id, "staff"));
    let (status, settings) = read(&staff, &app, SETTINGS).await;
    assert_eq!(status, 200, "{settings}");
    let hours = json!([["08:00", "17:00"]]);
    assert_eq!(
        settings,
        json!({
            "practiceId": app.practice_id,
            "name": "Maple Dental",
            "phone": "+15145550100",
            "address": "12 Main St, Montreal",
            "timezone": "America/Toronto",
            "officeHours": {"mon": hours, "tue": hours, "wed": hours, "thu": hours, "fri": hours, "sat": [], "sun": []},
            "holidays": [],
            "quietHours": 24,
            "afterHoursNote": "Our office is closed right now and opens again {next_opening}.",
            "missedCallTextBack": {
                "enabled": false,
                "text": "Sorry we missed your call to {practice}. Reply here to book or ask a question, or we will call you back as soon as we can. Reply STOP to opt out.",
                "minutes": 60
            }
        })
    );
    let (status, as_admin) = read(&app.http, &app, SETTINGS).await;
    assert_eq!((status, &as_admin), (200, &settings));
}

#[tokio::test]
async fn an_admin_changes_each_setting_and_reads_it_back() {
    let app = spawn_app().start().await;
    let changes = [
        (json!({"name": "  Birch Dental  "}), "name", json!("Birch Dental")),
        (json!({"phone": "514-555-0199"}), "phone", json!("+15145550199")),
        (json!({"phone": null}), "phone", Value::Null),
        (
            json!({"address": "400 Elm Ave, Laval"}),
            "address",
            json!("400 Elm Ave, Laval"),
        ),
        (json!({"address": null}), "address", Value::Null),
        (
            json!({"timezone": "America/Vancouver"}),
            "timezone",
            json!("America/Vancouver"),
        ),
        (
            json!({"officeHours": {"mon": [["13:00", "17:00"], ["08:00", "12:00"]], "sat": [["09:00", "12:00"]]}}),
            "officeHours",
            json!({"mon": [["08:00", "12:00"], ["13:00", "17:00"]], "tue": [], "wed": [], "thu": [], "fri": [],
                   "sat": [["09:00", "12:00"]], "sun": []}),
        ),
        (
            json!({"holidays": ["2026-12-26", "2026-12-25", "2026-12-26"]}),
            "holidays",
            json!(["2026-12-25", "2026-12-26"]),
        ),
        (json!({"quietHours": 0}), "quietHours", json!(0)),
        (json!({"quietHours": 168}), "quietHours", json!(168)),
        (
            json!({"afterHoursNote": "Closed; back {next_opening}."}),
            "afterHoursNote",
            json!("Closed; back {next_opening}."),
        ),
        (json!({"afterHoursNote": null}), "afterHoursNote", Value::Null),
        (
            json!({"missedCallTextBack": {"enabled": true}}),
            "missedCallTextBack",
            json!({"enabled": true, "text": "Sorry we missed your call to {practice}. Reply here to book or ask a question, or we will call you back as soon as we can. Reply STOP to opt out.", "minutes": 60}),
        ),
        (
            json!({"missedCallTextBack": {"text": " {practice} missed you. ", "minutes": 1440}}),
            "missedCallTextBack",
            json!({"enabled": true, "text": "{practice} missed you.", "minutes": 1440}),
        ),
    ];
    for (body, field, expected) in changes {
        let (status, settings) = put(&app.http, &app, SETTINGS, &body).await;
        assert_eq!(status, 200, "{body}: {settings}");
        assert_eq!(settings[field], expected, "{body}");
        let (_, read_back) = read(&app.http, &app, SETTINGS).await;
        assert_eq!(read_back, settings, "{body}");
    }
    // Several at once, stored as the replies and jobs read them.
    let (status, _) = put(
        &app.http,
        &app,
        SETTINGS,
        &json!({"name": "Cedar Dental", "quietHours": 12, "afterHoursNote": null}),
    )
    .await;
    assert_eq!(status, 200);
    let row = app
        .sql()
        .await
        .query_one(
            "SELECT name, auto_reply_quiet_hours, after_hours_note, missed_call_text_back_template, timezone, phone \
             FROM practices WHERE id = $1",
            &[&app.practice_id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "Cedar Dental");
    assert_eq!(row.get::<_, i32>(1), 12);
    assert_eq!(row.get::<_, String>(2), "", "no note");
    assert_eq!(row.get::<_, String>(3), "{practice} missed you.");
    assert_eq!(row.get::<_, String>(4), "America/Vancouver");
    assert_eq!(row.get::<_, Option<String>>(5), None);
}

#[tokio::test]
async fn every_mistake_is_a_400_naming_the_field_and_changes_nothing() {
    let app = spawn_app().start().await;
    let (_, before) = read(&app.http, &app, SETTINGS).await;
    let too_many: Vec<String> = (0..367)
        .map(|i| (chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Duration::days(i)).to_string())
        .collect();
    let cases = [
        (
            json!({"officeHours": {"mon": [["17:00", "08:00"]]}}),
            Some("officeHours.mon[0]"),
        ),
        (
            json!({"officeHours": {"mon": [["8:00", "17:00"]]}}),
            Some("officeHours.mon[0]"),
        ),
        (
            json!({"officeHours": {"mon": [["08:00", "25:00"]]}}),
            Some("officeHours.mon[0]"),
        ),
        (
            json!({"officeHours": {"mon": [["08:00", "08:00"]]}}),
            Some("officeHours.mon[0]"),
        ),
        (json!({"officeHours": {"mon": [["08:00"]]}}), Some("officeHours.mon[0]")),
        (json!({"officeHours": {"mon": "08:00-17:00"}}), Some("officeHours.mon")),
        (
            json!({"officeHours": {"tue": [["08:00", "12:00"], ["11:30", "14:00"]]}}),
            Some("officeHours.tue[1]"),
        ),
        (json!({"officeHours": {"funday": []}}), Some("officeHours.funday")),
        (json!({"officeHours": [["08:00", "17:00"]]}), Some("officeHours")),
        (json!({"timezone": "Mars/Olympus_Mons"}), Some("timezone")),
        (json!({"timezone": "EST5EDT "}), Some("timezone")),
        (json!({"holidays": ["2026-02-30"]}), Some("holidays[0]")),
        (json!({"holidays": ["2026-12-25", "25/12/2026"]}), Some("holidays[1]")),
        (json!({"holidays": too_many}), Some("holidays")),
        (json!({"quietHours": 169}), Some("quietHours")),
        (json!({"quietHours": -1}), Some("quietHours")),
        (json!({"quietHours": 2.5}), Some("quietHours")),
        (json!({"name": ""}), Some("name")),
        (json!({"name": "x".repeat(201)}), Some("name")),
        (json!({"name": "Maple\u{0}Dental"}), Some("name")),
        (json!({"phone": "call us"}), Some("phone")),
        (json!({"afterHoursNote": "x".repeat(501)}), Some("afterHoursNote")),
        (json!({"afterHoursNote": "Back {tomorrow}"}), Some("afterHoursNote")),
        (
            json!({"missedCallTextBack": {"text": "   "}}),
            Some("missedCallTextBack.text"),
        ),
        (
            json!({"missedCallTextBack": {"text": "x".repeat(641)}}),
            Some("missedCallTextBack.text"),
        ),
        (
            json!({"missedCallTextBack": {"minutes": 0}}),
            Some("missedCallTextBack.minutes"),
        ),
        (
            json!({"missedCallTextBack": {"minutes": 1441}}),
            Some("missedCallTextBack.minutes"),
        ),
        (
            json!({"missedCallTextBack": {"enabled": 1}}),
            Some("missedCallTextBack.enabled"),
        ),
        (json!({"missedCallTextBack": true}), Some("missedCallTextBack")),
        (json!({"practiceId": Uuid::new_v4()}), Some("practiceId")),
        (json!({"colour": "teal"}), Some("colour")),
        // A good field beside a bad one: nothing is written.
        (json!({"name": "Changed", "quietHours": 500}), Some("quietHours")),
        (json!({}), None),
    ];
    for (body, field) in cases {
        let (status, answer) = put(&app.http, &app, SETTINGS, &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_settings", "{body}: {answer}");
        assert_eq!(answer["error"]["field"].as_str(), field, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        if let Some(field) = field {
            assert!(message.starts_with(&format!("{field}: ")), "{message}");
        }
    }
    let (_, answer) = put(
        &app.http,
        &app,
        SETTINGS,
        &json!({"officeHours": {"mon": [["17:00", "08:00"]]}}),
    )
    .await;
    assert_eq!(
        answer["error"]["message"],
        "officeHours.mon[0]: closes (08:00) before it opens (17:00)"
    );
    // Not JSON, not an object, no JSON at all: 4xx, never a 500.
    let raw = |body: &'static str, content_type: &'static str| {
        app.http
            .put(app.url(SETTINGS))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let response = raw("{\"name\": ", "application/json").await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "malformed_json"
    );
    let response = raw("[1, 2]", "application/json").await.unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "invalid_body");
    let response = raw("name=x", "application/x-www-form-urlencoded").await.unwrap();
    assert_eq!(response.status(), 415);

    let (_, after) = read(&app.http, &app, SETTINGS).await;
    assert_eq!(after, before, "nothing changed");
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE table_name = 'practices'")
            .await,
        0
    );
}

#[tokio::test]
async fn staff_read_but_only_admins_change_settings_and_rules() {
    let app = spawn_app().start().await;
    let staff = client_with_token(&member_token(app.practice_id, "staff"));
    let trail = app.count("SELECT count(*) FROM audit_log").await;
    for (path, body) in [
        (SETTINGS.to_string(), json!({"quietHours": 1})),
        (rule_path("office_hours"), json!({"replyText": "Open {office_hours}."})),
    ] {
        let (status, answer) = put(&staff, &app, &path, &body).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{path}"
        );
    }
    assert_eq!(read(&staff, &app, RULES).await.0, 200);
    assert_eq!(read(&staff, &app, SETTINGS).await.0, 200);
    // No token at all.
    let anonymous = Client::new();
    assert_eq!(read(&anonymous, &app, SETTINGS).await.0, 401);
    assert_eq!(put(&anonymous, &app, SETTINGS, &json!({"quietHours": 1})).await.0, 401);
    // Same path, other method: 405 in the one error shape.
    let response = app.http.delete(app.url(SETTINGS)).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log").await,
        trail,
        "nothing was changed"
    );
}

#[tokio::test]
async fn another_practices_admin_never_reads_or_changes_this_practice() {
    let app = spawn_app().start().await;
    let other = app.add_practice("Other Clinic", "+15145550177").await;
    let other_admin = client_with_token(&member_token(other, "admin"));
    let (_, before) = read(&app.http, &app, SETTINGS).await;
    let (_, rules_before) = read(&app.http, &app, RULES).await;

    // Their token acts for their practice, whatever header they add.
    let (status, theirs) = read(&other_admin, &app, SETTINGS).await;
    assert_eq!(status, 200);
    assert_eq!(
        (theirs["practiceId"].as_str(), &theirs["name"]),
        (Some(&*other.to_string()), &json!("Other Clinic"))
    );
    let response = other_admin
        .get(app.url(SETTINGS))
        .header("x-practice-id", app.practice_id.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["practiceId"], json!(other));
    let response = other_admin
        .put(app.url(SETTINGS))
        .header("x-practice-id", app.practice_id.to_string())
        .json(&json!({"name": "Taken Over", "quietHours": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, _) = put(
        &other_admin,
        &app,
        &rule_path("office_hours"),
        &json!({"replyText": "Hijacked {practice_name}"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(read(&app.http, &app, SETTINGS).await.1, before, "ours unchanged");
    assert_eq!(
        read(&app.http, &app, RULES).await.1,
        rules_before,
        "our rules unchanged"
    );
    assert_eq!(read(&other_admin, &app, SETTINGS).await.1["name"], "Taken Over");

    // Below the API too: as their admin, the store cannot see or change our practice.
    let db = app.sql().await;
    let claims = json!({"role": "authenticated", "sub": Uuid::new_v4().to_string(),
        "app_metadata": {"practice_id": other.to_string(), "practice_role": "admin"}});
    db.batch_execute("BEGIN; SET LOCAL ROLE authenticated").await.unwrap();
    db.execute(
        "SELECT set_config('request.jwt.claims', $1, true)",
        &[&claims.to_string()],
    )
    .await
    .unwrap();
    assert_eq!(store::get(&db, app.practice_id).await.unwrap(), None);
    let change = SettingsChange {
        name: Some("Taken Over".into()),
        ..Default::default()
    };
    assert_eq!(store::update(&db, app.practice_id, &change).await.unwrap(), None);
    db.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(read(&app.http, &app, SETTINGS).await.1["name"], "Maple Dental");
}

#[tokio::test]
async fn changes_are_in_the_audit_trail_with_who_made_them() {
    let app = spawn_app().start().await;
    let sub = Uuid::new_v4().to_string();
    let admin = client_with_token(&sign(json!({
        "aud": "authenticated", "role": "authenticated", "sub": sub,
        "exp": chrono::Utc::now().timestamp() + 3600,
        "app_metadata": {"practice_id": app.practice_id.to_string(), "practice_role": "admin"},
    })));
    assert_eq!(put(&admin, &app, SETTINGS, &json!({"quietHours": 6})).await.0, 200);
    assert_eq!(
        put(
            &admin,
            &app,
            &rule_path("help"),
            &json!({"replyText": "{practice_name}: call {practice_phone}. Reply STOP to opt out."})
        )
        .await
        .0,
        200
    );
    let rows = app
        .sql()
        .await
        .query(
            "SELECT table_name, role, action, practice_id, old_row ->> 'auto_reply_quiet_hours', \
               new_row ->> 'auto_reply_quiet_hours', new_row ->> 'reply_template' \
             FROM audit_log WHERE actor = $1 ORDER BY id",
            &[&sub],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let practices = &rows[0];
    assert_eq!(
        (
            practices.get::<_, String>(0),
            practices.get::<_, String>(1),
            practices.get::<_, String>(2)
        ),
        ("practices".into(), "admin".into(), "update".into())
    );
    assert_eq!(practices.get::<_, Uuid>(3), app.practice_id);
    assert_eq!(
        (
            practices.get::<_, Option<String>>(4),
            practices.get::<_, Option<String>>(5)
        ),
        (Some("24".into()), Some("6".into()))
    );
    assert_eq!(rows[1].get::<_, String>(0), "auto_response_rules");
    assert_eq!(
        rows[1].get::<_, Option<String>>(6).as_deref(),
        Some("{practice_name}: call {practice_phone}. Reply STOP to opt out.")
    );
}

#[tokio::test]
async fn new_office_hours_are_in_the_next_automatic_reply() {
    let app = spawn_app().start().await;
    let before = queued_reply(&app, "4385550301", "what are your hours?", "h1").await;
    assert_eq!(before.as_deref(), Some("Maple Dental is open Mon–Fri 8:00 AM–5:00 PM."));
    let (status, _) = put(
        &app.http,
        &app,
        SETTINGS,
        &json!({"officeHours": {"mon": [["09:00", "12:00"]], "wed": [["07:30", "19:00"]]}, "name": "Birch Dental"}),
    )
    .await;
    assert_eq!(status, 200);
    let after = queued_reply(&app, "4385550302", "what are your hours?", "h2").await;
    assert_eq!(
        after.as_deref(),
        Some("Birch Dental is open Mon 9:00 AM–12:00 PM; Wed 7:30 AM–7:00 PM.")
    );
    // Today (Wednesday 2026-11-25) a holiday: the office is closed, the reply says when it opens.
    let (status, _) = put(
        &app.http,
        &app,
        SETTINGS,
        &json!({"holidays": ["2026-11-25"], "afterHoursNote": "Closed today; back {next_opening}."}),
    )
    .await;
    assert_eq!(status, 200);
    let closed = queued_reply(&app, "4385550303", "what are your hours?", "h3").await;
    assert_eq!(
        closed.as_deref(),
        Some("Birch Dental is open Mon 9:00 AM–12:00 PM; Wed 7:30 AM–7:00 PM. Closed today; back Monday at 9:00 AM.")
    );
}

#[tokio::test]
async fn rules_are_listed_in_a_fixed_order_consent_rules_by_their_reply_only() {
    let app = spawn_app().start().await;
    let staff = client_with_token(&member_token(app.practice_id, "staff"));
    let (status, body) = read(&staff, &app, RULES).await;
    assert_eq!(status, 200, "{body}");
    let rules = body["rules"].as_array().unwrap();
    let order: Vec<&str> = rules.iter().map(|r| r["category"].as_str().unwrap()).collect();
    assert_eq!(
        order,
        [
            "emergency",
            "appointment",
            "insurance",
            "location",
            "office_hours",
            "optout",
            "optin",
            "help"
        ]
    );
    let placeholders = json!([
        "{practice_name}",
        "{practice_phone}",
        "{office_hours}",
        "{address}",
        "{next_opening}"
    ]);
    for rule in rules {
        assert_eq!(rule["placeholders"], placeholders);
        assert_eq!(rule["enabled"], true);
        let fields: Vec<&str> = rule.as_object().unwrap().keys().map(String::as_str).collect();
        if ["optout", "optin", "help"].contains(&rule["category"].as_str().unwrap()) {
            assert_eq!(rule["kind"], "consent");
            assert!(!fields.contains(&"keywords") && !fields.contains(&"priority"), "{rule}");
        } else {
            assert_eq!(rule["kind"], "topic");
            for field in [
                "priority",
                "keywords",
                "weakKeywords",
                "contextKeywords",
                "negations",
                "exclusions",
            ] {
                assert!(fields.contains(&field), "{field}: {rule}");
            }
        }
    }
    let hours = &rules[4];
    assert_eq!(hours["priority"], 10);
    assert_eq!(hours["replyText"], "{practice_name} is open {office_hours}.");
    assert!(hours["keywords"].as_array().unwrap().contains(&json!("office hours")));
    // A changed priority does not move a rule.
    let (status, _) = put(&app.http, &app, &rule_path("office_hours"), &json!({"priority": 99})).await;
    assert_eq!(status, 200);
    let (_, body) = read(&staff, &app, RULES).await;
    assert_eq!(body["rules"][4]["category"], "office_hours");
    assert_eq!(body["rules"][4]["priority"], 99);
}

#[tokio::test]
async fn rule_changes_are_in_the_next_automatic_reply() {
    let app = spawn_app().start().await;
    let (status, rule) = put(
        &app.http,
        &app,
        &rule_path("office_hours"),
        &json!({"replyText": "  We're open {office_hours}. Call {practice_phone} to book. "}),
    )
    .await;
    assert_eq!(status, 200, "{rule}");
    assert_eq!(
        rule["replyText"],
        "We're open {office_hours}. Call {practice_phone} to book."
    );
    assert_eq!(rule["category"], "office_hours");
    assert_eq!(
        queued_reply(&app, "4385550401", "what are your hours?", "r1")
            .await
            .as_deref(),
        Some("We're open Mon–Fri 8:00 AM–5:00 PM. Call (514) 555-0100 to book.")
    );

    // A new keyword answers what it did not before.
    assert_eq!(
        queued_reply(&app, "4385550402", "whereabouts are you?", "r2").await,
        None
    );
    let (status, rule) = put(
        &app.http,
        &app,
        &rule_path("location"),
        &json!({"keywords": ["address", "whereabouts", " Whereabouts "]}),
    )
    .await;
    assert_eq!(status, 200, "{rule}");
    assert_eq!(rule["keywords"], json!(["address", "whereabouts"]));
    assert_eq!(
        queued_reply(&app, "4385550403", "whereabouts are you?", "r3")
            .await
            .as_deref(),
        Some("Maple Dental is at 12 Main St, Montreal. Call (514) 555-0100 if you need directions.")
    );

    // A rule turned off answers nothing; the text goes to a person.
    let (status, rule) = put(&app.http, &app, &rule_path("insurance"), &json!({"enabled": false})).await;
    assert_eq!((status, &rule["enabled"]), (200, &json!(false)));
    assert_eq!(
        queued_reply(&app, "4385550404", "Do you take Delta Dental insurance?", "r4").await,
        None
    );

    // A consent reply's text.
    let (status, rule) = put(
        &app.http,
        &app,
        &rule_path("optout"),
        &json!({"replyText": "{practice_name}: no more texts. Reply START to come back."}),
    )
    .await;
    assert_eq!(status, 200, "{rule}");
    assert_eq!(rule["kind"], "consent");
    assert_eq!(
        queued_reply(&app, "4385550405", "STOP", "r5").await.as_deref(),
        Some("Maple Dental: no more texts. Reply START to come back.")
    );
}

#[tokio::test]
async fn rule_mistakes_are_400s_naming_the_field_and_change_nothing() {
    let app = spawn_app().start().await;
    let (_, before) = read(&app.http, &app, RULES).await;
    let cases = [
        (
            "office_hours",
            json!({"replyText": "Call {phone} for our hours"}),
            Some("replyText"),
        ),
        ("office_hours", json!({"replyText": "   "}), Some("replyText")),
        ("office_hours", json!({"replyText": "x".repeat(641)}), Some("replyText")),
        ("office_hours", json!({"keywords": ["hours", ""]}), Some("keywords[1]")),
        (
            "office_hours",
            json!({"keywords": ["x".repeat(61)]}),
            Some("keywords[0]"),
        ),
        (
            "office_hours",
            json!({"keywords": (0..201).map(|i| format!("k{i}")).collect::<Vec<_>>()}),
            Some("keywords"),
        ),
        ("office_hours", json!({"weakKeywords": "open"}), Some("weakKeywords")),
        ("office_hours", json!({"negations": ["!!!"]}), Some("negations[0]")),
        ("office_hours", json!({"priority": -1}), Some("priority")),
        ("office_hours", json!({"enabled": "no"}), Some("enabled")),
        ("office_hours", json!({"category": "location"}), Some("category")),
        (
            "office_hours",
            json!({"replyText": "ok {practice_name}", "colour": 1}),
            Some("colour"),
        ),
        ("office_hours", json!({}), None),
        ("emergency", json!({"enabled": false}), Some("enabled")),
        ("optout", json!({"keywords": ["stop"]}), Some("keywords")),
        ("optout", json!({"enabled": false}), Some("enabled")),
        ("help", json!({"priority": 5}), Some("priority")),
    ];
    for (category, body, field) in cases {
        let (status, answer) = put(&app.http, &app, &rule_path(category), &body).await;
        assert_eq!(status, 400, "{category} {body}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_rule", "{answer}");
        assert_eq!(answer["error"]["field"].as_str(), field, "{category} {body}: {answer}");
    }
    let (_, answer) = put(
        &app.http,
        &app,
        &rule_path("office_hours"),
        &json!({"replyText": "Call {phone} for our hours"}),
    )
    .await;
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("replyText: unknown placeholder {phone}"),
        "{answer}"
    );
    for category in ["weather", "OFFICE_HOURS", "office_hours%00"] {
        let (status, answer) = put(&app.http, &app, &rule_path(category), &json!({"enabled": true})).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{category}"
        );
    }
    assert_eq!(read(&app.http, &app, RULES).await.1, before, "nothing changed");
}

/// Admins may change exclusions once migration 0012 grants the column (0004's grant predates it).
/// Until then the database refuses and the API says 403, never a 500.
#[tokio::test]
async fn an_admin_changes_a_rules_exclusions() {
    let app = spawn_app().start().await;
    let granted: bool = app
        .value("SELECT has_column_privilege('authenticated', 'auto_response_rules', 'exclusions', 'UPDATE')")
        .await;
    assert!(granted, "migration 0012 grants admins the exclusions column");
    let (status, rule) = put(
        &app.http,
        &app,
        &rule_path("office_hours"),
        &json!({"exclusions": ["job", "hiring", "internship"]}),
    )
    .await;
    assert_eq!(status, 200, "{rule}");
    assert_eq!(rule["exclusions"], json!(["job", "hiring", "internship"]));
    assert_eq!(
        queued_reply(&app, "4385550501", "what are your hours for the internship?", "x1").await,
        None
    );
}
