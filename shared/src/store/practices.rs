//! Practices and the DIDs that route to them.

use chrono::NaiveDate;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::config::PracticeDefaults;
use crate::db::{self, Conn, DbError};
use crate::domain::office_hours::OfficeHours;
use crate::domain::phone::Did;
use crate::domain::practice::Practice;

pub(crate) const COLUMNS: &str = "p.id, p.name, p.phone, p.address, p.timezone, p.office_hours, p.holidays, \
                       p.auto_reply_quiet_hours, p.after_hours_note";

pub(crate) fn from_row(row: &Row) -> Practice {
    let timezone: String = row.get("timezone");
    let hours: serde_json::Value = row.get("office_hours");
    let id: Uuid = row.get("id");
    Practice {
        id,
        name: row.get("name"),
        phone: row.get("phone"),
        address: row.get("address"),
        // A bad value typed into the table by hand must not stop texts from being stored.
        timezone: timezone.parse().unwrap_or_else(|_| {
            tracing::warn!(practice = %id, timezone, "unknown time zone; using UTC");
            chrono_tz::UTC
        }),
        office_hours: serde_json::from_value(hours).unwrap_or_else(|error| {
            tracing::warn!(practice = %id, %error, "unreadable office hours; treating the office as closed");
            OfficeHours::default()
        }),
        holidays: row.get::<_, Vec<NaiveDate>>("holidays"),
        auto_reply_quiet_hours: row.get("auto_reply_quiet_hours"),
        after_hours_note: row.get("after_hours_note"),
    }
}

pub async fn create(conn: &impl Conn, defaults: &PracticeDefaults, dids: &[Did]) -> Result<Uuid, DbError> {
    let hours = serde_json::to_value(&defaults.office_hours).unwrap_or_default();
    let row = db::query_one(
        conn,
        "INSERT INTO practices (name, phone, address, timezone, office_hours) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        &[
            &defaults.name,
            &defaults.phone.as_ref().map(|p| p.as_e164().to_string()),
            &defaults.address,
            &defaults.timezone.name(),
            &hours,
        ],
    )
    .await?;
    let id: Uuid = row.get(0);
    for did in dids {
        db::execute(
            conn,
            "INSERT INTO practice_dids (did, practice_id) VALUES ($1, $2)",
            &[&did.as_e164(), &id],
        )
        .await?;
    }
    Ok(id)
}

/// The practice that owns `did`, creating it from `defaults` when the DID is new. An existing
/// practice is left as it is: its settings belong to the clinic once created.
pub async fn ensure_for_did(conn: &impl Conn, did: &Did, defaults: &PracticeDefaults) -> Result<(Uuid, bool), DbError> {
    if let Some(practice) = for_did(conn, did.as_e164()).await? {
        return Ok((practice.id, false));
    }
    Ok((create(conn, defaults, std::slice::from_ref(did)).await?, true))
}

pub async fn for_did(conn: &impl Conn, did: &str) -> Result<Option<Practice>, DbError> {
    let sql =
        format!("SELECT {COLUMNS} FROM practices p JOIN practice_dids d ON d.practice_id = p.id WHERE d.did = $1");
    Ok(db::query_opt(conn, &sql, &[&did]).await?.as_ref().map(from_row))
}

pub async fn get(conn: &impl Conn, id: Uuid) -> Result<Option<Practice>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM practices p WHERE p.id = $1");
    Ok(db::query_opt(conn, &sql, &[&id]).await?.as_ref().map(from_row))
}

/// Which practice a request acts for.
pub enum PracticeKey<'a> {
    Id(Uuid),
    /// The practice that owns this DID (E.164).
    Did(&'a str),
}

/// The practice and the DID it texts from (its first, as [`texting_did`]), in one statement: every
/// staff request reads both before its own work.
pub async fn with_texting_did(
    conn: &impl Conn,
    key: PracticeKey<'_>,
) -> Result<Option<(Practice, Option<Did>)>, DbError> {
    let texting =
        "(SELECT t.did FROM practice_dids t WHERE t.practice_id = p.id ORDER BY t.created_at, t.did LIMIT 1) \
                   AS texting_did";
    let row = match key {
        PracticeKey::Id(id) => {
            let sql = format!("SELECT {COLUMNS}, {texting} FROM practices p WHERE p.id = $1");
            db::query_opt(conn, &sql, &[&id]).await?
        }
        PracticeKey::Did(did) => {
            let sql = format!(
                "SELECT {COLUMNS}, {texting} FROM practices p JOIN practice_dids d ON d.practice_id = p.id WHERE d.did = $1"
            );
            db::query_opt(conn, &sql, &[&did]).await?
        }
    };
    Ok(row.map(|row| {
        let did = row
            .get::<_, Option<String>>("texting_did")
            .and_then(|d| Did::parse(&d).ok());
        (from_row(&row), did)
    }))
}

/// The DID a practice texts from: its first.
pub async fn texting_did(conn: &impl Conn, practice_id: Uuid) -> Result<Option<Did>, DbError> {
    let row = db::query_opt(
        conn,
        "SELECT did FROM practice_dids WHERE practice_id = $1 ORDER BY created_at, did LIMIT 1",
        &[&practice_id],
    )
    .await?;
    Ok(row.and_then(|r| Did::parse(&r.get::<_, String>(0)).ok()))
}

/// Every practice with its DIDs, for the scheduled jobs.
pub async fn all_with_dids(conn: &impl Conn) -> Result<Vec<(Practice, Vec<String>)>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS}, array_agg(d.did ORDER BY d.did) AS dids FROM practices p \
         JOIN practice_dids d ON d.practice_id = p.id GROUP BY p.id ORDER BY p.created_at"
    );
    let rows = db::query(conn, &sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| (from_row(row), row.get::<_, Vec<String>>("dids")))
        .collect())
}

/// Each practice's own VoIP.ms account for recordings, where one is set.
pub async fn voipms_accounts(conn: &impl Conn) -> Result<std::collections::HashMap<Uuid, Option<String>>, DbError> {
    let rows = db::query(conn, "SELECT id, voipms_account FROM practices", &[]).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// One practice's own VoIP.ms account for recordings, when it has one.
pub async fn voipms_account(conn: &impl Conn, practice_id: Uuid) -> Result<Option<String>, DbError> {
    let row = db::query_opt(
        conn,
        "SELECT voipms_account FROM practices WHERE id = $1",
        &[&practice_id],
    )
    .await?;
    Ok(row.and_then(|r| r.get(0)))
}
