//! The automatic-reply rules as the settings API reads and edits them (`auto_response_rules`).
//! Writes run in the caller's transaction, so only the practice's admins change them and the audit
//! trigger records who did.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::db::{self, Conn, DbError, SqlParam};
use crate::domain::auto_reply::edit::RuleChange;
use crate::domain::auto_reply::{ReplyKind, PLACEHOLDERS};

const COLUMNS: &str = "category, enabled, priority, keywords, weak_keywords, context_keywords, negations, \
                       exclusions, reply_template, updated_at";

/// The order rules are listed in: the topics by their default priority, then the carrier keywords.
/// Fixed, so an edited priority does not move a rule in the console.
pub const ORDER: [&str; 8] = [
    "emergency",
    "appointment",
    "insurance",
    "location",
    "office_hours",
    "optout",
    "optin",
    "help",
];

/// One rule in the API's JSON shape. The carrier-keyword kinds show their reply only: their
/// keywords are fixed in code.
pub fn to_json(row: &Row) -> Option<Value> {
    let category: String = row.get("category");
    let kind = ReplyKind::parse(&category)?;
    let placeholders: Vec<String> = PLACEHOLDERS.iter().map(|p| format!("{{{p}}}")).collect();
    let topic = matches!(kind, ReplyKind::Topic(_));
    let mut rule = json!({
        "category": category,
        "kind": if topic { "topic" } else { "consent" },
        "enabled": row.get::<_, bool>("enabled"),
        "replyText": row.get::<_, String>("reply_template"),
        "placeholders": placeholders,
        "updatedAt": row.get::<_, DateTime<Utc>>("updated_at"),
    });
    if topic {
        let object = rule.as_object_mut()?;
        object.insert("priority".into(), json!(row.get::<_, i32>("priority")));
        for (name, column) in [
            ("keywords", "keywords"),
            ("weakKeywords", "weak_keywords"),
            ("contextKeywords", "context_keywords"),
            ("negations", "negations"),
            ("exclusions", "exclusions"),
        ] {
            object.insert(name.into(), json!(row.get::<_, Vec<String>>(column)));
        }
    }
    Some(rule)
}

pub async fn list(conn: &impl Conn, practice_id: Uuid) -> Result<Vec<Value>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM auto_response_rules WHERE practice_id = $1 \
         ORDER BY array_position($2::text[], category), category"
    );
    let order: Vec<String> = ORDER.iter().map(|c| c.to_string()).collect();
    let rows = db::query(conn, &sql, &[&practice_id, &order]).await?;
    Ok(rows.iter().filter_map(to_json).collect())
}

pub async fn get(conn: &impl Conn, practice_id: Uuid, category: &str) -> Result<Option<Value>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM auto_response_rules WHERE practice_id = $1 AND category = $2");
    Ok(db::query_opt(conn, &sql, &[&practice_id, &category])
        .await?
        .as_ref()
        .and_then(to_json))
}

/// Writes the changed fields only and returns the rule; `None` when the practice has no such rule
/// or the caller may not change it.
pub async fn update(
    conn: &impl Conn,
    practice_id: Uuid,
    category: &str,
    change: &RuleChange,
    now: DateTime<Utc>,
) -> Result<Option<Value>, DbError> {
    let mut sets: Vec<(&str, &dyn SqlParam)> = Vec::new();
    if let Some(v) = &change.enabled {
        sets.push(("enabled", v));
    }
    if let Some(v) = &change.priority {
        sets.push(("priority", v));
    }
    for (column, list) in [
        ("keywords", &change.keywords),
        ("weak_keywords", &change.weak_keywords),
        ("context_keywords", &change.context_keywords),
        ("negations", &change.negations),
        ("exclusions", &change.exclusions),
    ] {
        if let Some(v) = list {
            sets.push((column, v));
        }
    }
    if let Some(v) = &change.reply_text {
        sets.push(("reply_template", v));
    }
    sets.push(("updated_at", &now));
    let assignments: Vec<String> = sets
        .iter()
        .enumerate()
        .map(|(i, (column, _))| format!("{column} = ${}", i + 3))
        .collect();
    let sql = format!(
        "UPDATE auto_response_rules SET {} WHERE practice_id = $1 AND category = $2 RETURNING {COLUMNS}",
        assignments.join(", ")
    );
    let mut params: Vec<&dyn SqlParam> = vec![&practice_id, &category];
    params.extend(sets.iter().map(|(_, v)| *v));
    Ok(db::query_opt(conn, &sql, &params).await?.as_ref().and_then(to_json))
}
