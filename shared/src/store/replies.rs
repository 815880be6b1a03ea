//! Automatic-reply rules and reply texts, opt-outs and the quiet-period claims.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::db::{self, Conn, DbError};
use crate::domain::auto_reply::{Classifier, ReplyKind, Rule};

/// A practice's enabled rules: the topic rules for the classifier and every kind's reply text.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub topics: Vec<Rule>,
    /// `topics`, prepared for classifying.
    pub classifier: Classifier,
    pub templates: HashMap<ReplyKind, String>,
}

pub async fn load_rules(conn: &impl Conn, practice_id: Uuid) -> Result<RuleSet, DbError> {
    let rows = db::query(
        conn,
        "SELECT category, priority, keywords, weak_keywords, context_keywords, negations, exclusions, reply_template \
         FROM auto_response_rules WHERE practice_id = $1 AND enabled ORDER BY priority DESC, category",
        &[&practice_id],
    )
    .await?;
    Ok(RuleSet::from_rows(rows.iter().map(|row| RuleRow {
        category: row.get("category"),
        priority: row.get("priority"),
        keywords: row.get("keywords"),
        weak_keywords: row.get("weak_keywords"),
        context_keywords: row.get("context_keywords"),
        negations: row.get("negations"),
        exclusions: row.get("exclusions"),
        reply_template: row.get("reply_template"),
    })))
}

/// One enabled rule as stored: read from its columns, or from the JSON the inbound context query
/// aggregates them into (`store::inbound`).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct RuleRow {
    pub category: String,
    pub priority: i32,
    pub keywords: Vec<String>,
    pub weak_keywords: Vec<String>,
    pub context_keywords: Vec<String>,
    pub negations: Vec<String>,
    pub exclusions: Vec<String>,
    pub reply_template: String,
}

impl RuleSet {
    /// From rows in priority order (highest first); unknown categories are skipped.
    pub(crate) fn from_rows(rows: impl IntoIterator<Item = RuleRow>) -> Self {
        let mut set = Self::default();
        for row in rows {
            let Some(kind) = ReplyKind::parse(&row.category) else {
                continue;
            };
            set.templates.insert(kind, row.reply_template);
            if let ReplyKind::Topic(category) = kind {
                set.topics.push(Rule {
                    category,
                    priority: row.priority,
                    keywords: row.keywords,
                    weak_keywords: row.weak_keywords,
                    context_keywords: row.context_keywords,
                    negations: row.negations,
                    exclusions: row.exclusions,
                });
            }
        }
        set.classifier = Classifier::new(&set.topics);
        set
    }
}

pub async fn is_opted_out(conn: &impl Conn, practice_id: Uuid, contact: &str) -> Result<bool, DbError> {
    let row = db::query_opt(
        conn,
        "SELECT 1 FROM sms_opt_outs WHERE practice_id = $1 AND contact = $2",
        &[&practice_id, &contact],
    )
    .await?;
    Ok(row.is_some())
}

/// Serialises consent changes for one practice and contact until the transaction ends: a STOP and
/// a START arriving at once on two of the practice's numbers must each see the other.
async fn lock_consent(conn: &impl Conn, practice_id: Uuid, contact: &str) -> Result<(), DbError> {
    let key = format!("consent:{practice_id}:{contact}");
    db::query(conn, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&key]).await?;
    Ok(())
}

/// Records an opt-out written at `at` (the text's own time). True when it changed the contact's
/// consent: false when they were opted out already, or when they opted back in with a text written
/// after this one (which arrived first).
pub async fn opt_out(conn: &impl Conn, practice_id: Uuid, contact: &str, at: DateTime<Utc>) -> Result<bool, DbError> {
    lock_consent(conn, practice_id, contact).await?;
    let row = db::query_opt(
        conn,
        "INSERT INTO sms_opt_outs AS o (practice_id, contact, opted_out_at) \
         SELECT $1, $2, $3 WHERE NOT EXISTS \
             (SELECT 1 FROM sms_opt_ins i WHERE i.practice_id = $1 AND i.contact = $2 AND i.opted_in_at > $3) \
         ON CONFLICT (practice_id, contact) DO UPDATE SET opted_out_at = GREATEST(o.opted_out_at, EXCLUDED.opted_out_at) \
         RETURNING (xmax = 0) AS inserted",
        &[&practice_id, &contact, &at],
    )
    .await?;
    Ok(row.is_some_and(|r| r.get::<_, bool>(0)))
}

/// Records an opt-in written at `at`. True when it opted the contact back in: false when they were
/// not opted out, or when their opt-out was written after this text.
pub async fn opt_in(conn: &impl Conn, practice_id: Uuid, contact: &str, at: DateTime<Utc>) -> Result<bool, DbError> {
    lock_consent(conn, practice_id, contact).await?;
    let row = db::query_one(
        conn,
        "WITH latest AS ( \
             INSERT INTO sms_opt_ins AS i (practice_id, contact, opted_in_at) VALUES ($1, $2, $3) \
             ON CONFLICT (practice_id, contact) DO UPDATE SET opted_in_at = GREATEST(i.opted_in_at, EXCLUDED.opted_in_at)), \
         removed AS (DELETE FROM sms_opt_outs WHERE practice_id = $1 AND contact = $2 AND opted_out_at <= $3 RETURNING 1) \
         SELECT count(*) FROM removed",
        &[&practice_id, &contact, &at],
    )
    .await?;
    Ok(row.get::<_, i64>(0) > 0)
}

/// Claims the right to send one automatic reply of `kind` to `contact`: true at most once per quiet
/// period, however many deliveries race for it.
pub async fn claim_auto_reply(
    conn: &impl Conn,
    practice_id: Uuid,
    contact: &str,
    kind: ReplyKind,
    now: DateTime<Utc>,
    quiet: Duration,
) -> Result<bool, DbError> {
    let quiet_start = now - quiet;
    let row = db::query_opt(
        conn,
        "INSERT INTO auto_reply_claims AS c (practice_id, contact, category, last_sent_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (practice_id, contact, category) DO UPDATE SET last_sent_at = EXCLUDED.last_sent_at \
         WHERE c.last_sent_at <= $5 RETURNING 1",
        &[&practice_id, &contact, &kind.as_str(), &now, &quiet_start],
    )
    .await?;
    Ok(row.is_some())
}

/// Gives back a claim taken at `claimed_at` whose reply could not be sent.
pub async fn release_auto_reply(
    conn: &impl Conn,
    practice_id: Uuid,
    contact: &str,
    kind: ReplyKind,
    claimed_at: DateTime<Utc>,
) -> Result<(), DbError> {
    db::execute(
        conn,
        "DELETE FROM auto_reply_claims WHERE practice_id = $1 AND contact = $2 AND category = $3 AND last_sent_at = $4",
        &[&practice_id, &contact, &kind.as_str(), &claimed_at],
    )
    .await?;
    Ok(())
}
