//! A practice's settings as the settings API reads and writes them. Writes run in the caller's
//! transaction (`db::begin_as`), so row-level security and the column grants decide who may change
//! what, and the audit trigger records it.

use chrono::NaiveDate;
use serde_json::{json, Value};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::db::{self, Conn, DbError, SqlParam};
use crate::domain::office_hours::OfficeHours;
use crate::domain::settings::{week, SettingsChange};

const COLUMNS: &str = "id, name, phone, address, timezone, office_hours, holidays, auto_reply_quiet_hours, \
                       after_hours_note, missed_call_text_back, missed_call_text_back_template, \
                       missed_call_text_back_minutes";

/// The settings, in the API's JSON shape.
pub fn to_json(row: &Row) -> Value {
    let id: Uuid = row.get("id");
    let hours: Value = row.get("office_hours");
    // A value typed into the table by hand is shown as the replies read it (closed), not a 500.
    let hours: OfficeHours = serde_json::from_value(hours).unwrap_or_else(|error| {
        tracing::warn!(practice = %id, %error, "unreadable office hours; showing the office as closed");
        OfficeHours::default()
    });
    let note: String = row.get("after_hours_note");
    json!({
        "practiceId": id,
        "name": row.get::<_, String>("name"),
        "phone": row.get::<_, Option<String>>("phone"),
        "address": row.get::<_, Option<String>>("address"),
        "timezone": row.get::<_, String>("timezone"),
        "officeHours": week(&hours),
        "holidays": row.get::<_, Vec<NaiveDate>>("holidays"),
        "quietHours": row.get::<_, i32>("auto_reply_quiet_hours"),
        "afterHoursNote": (!note.trim().is_empty()).then_some(note),
        "missedCallTextBack": {
            "enabled": row.get::<_, bool>("missed_call_text_back"),
            "text": row.get::<_, String>("missed_call_text_back_template"),
            "minutes": row.get::<_, i32>("missed_call_text_back_minutes"),
        },
    })
}

/// The practice's settings; `None` when the caller may not see it.
pub async fn get(conn: &impl Conn, practice_id: Uuid) -> Result<Option<Value>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM practices WHERE id = $1");
    Ok(db::query_opt(conn, &sql, &[&practice_id]).await?.as_ref().map(to_json))
}

/// Writes the changed settings only (so the audit trail and the grants see just those columns) and
/// returns them all; `None` when the caller may not change this practice.
pub async fn update(conn: &impl Conn, practice_id: Uuid, change: &SettingsChange) -> Result<Option<Value>, DbError> {
    let hours = change
        .office_hours
        .as_ref()
        .map(|h| serde_json::to_value(h).unwrap_or_default());
    let timezone = change.timezone.map(|tz| tz.name().to_string());
    let mut sets: Vec<(&str, &dyn SqlParam)> = Vec::new();
    if let Some(v) = &change.name {
        sets.push(("name", v));
    }
    if let Some(v) = &change.phone {
        sets.push(("phone", v));
    }
    if let Some(v) = &change.address {
        sets.push(("address", v));
    }
    if let Some(v) = &timezone {
        sets.push(("timezone", v));
    }
    if let Some(v) = &hours {
        sets.push(("office_hours", v));
    }
    if let Some(v) = &change.holidays {
        sets.push(("holidays", v));
    }
    if let Some(v) = &change.quiet_hours {
        sets.push(("auto_reply_quiet_hours", v));
    }
    if let Some(v) = &change.after_hours_note {
        sets.push(("after_hours_note", v));
    }
    if let Some(v) = &change.missed_call_enabled {
        sets.push(("missed_call_text_back", v));
    }
    if let Some(v) = &change.missed_call_text {
        sets.push(("missed_call_text_back_template", v));
    }
    if let Some(v) = &change.missed_call_minutes {
        sets.push(("missed_call_text_back_minutes", v));
    }
    if sets.is_empty() {
        return get(conn, practice_id).await;
    }
    let assignments: Vec<String> = sets
        .iter()
        .enumerate()
        .map(|(i, (column, _))| format!("{column} = ${}", i + 2))
        .collect();
    let sql = format!(
        "UPDATE practices SET {} WHERE id = $1 RETURNING {COLUMNS}",
        assignments.join(", ")
    );
    let mut params: Vec<&dyn SqlParam> = vec![&practice_id];
    params.extend(sets.iter().map(|(_, v)| *v));
    Ok(db::query_opt(conn, &sql, &params).await?.as_ref().map(to_json))
}
