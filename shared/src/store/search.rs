//! Full-text search over texts, call transcripts and call summaries: stored `tsvector` columns
//! with GIN indexes, `websearch_to_tsquery` (quotes, `or`, `-word`), within one practice.
//! Matches are ranked, and only the page returned gets its snippet (`ts_headline` is the costly
//! part).

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::db::{self, Conn, DbError};

/// Marks around a highlighted word inside the database's snippet: characters of Unicode's
/// private use area, removed from the text first, so no text can forge them.
const START: char = '\u{E000}';
const STOP: char = '\u{E001}';
/// `<`, `>` and `&` stand in for themselves while the database makes the snippet: its parser
/// would take `<b>` for a tag and drop it, and an entity for a word.
const LT: char = '\u{E002}';
const GT: char = '\u{E003}';
const AMP: char = '\u{E004}';

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Calls,
    Messages,
    All,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hit {
    /// `message`, `transcript` or `summary`.
    pub kind: String,
    pub rank: f32,
    pub at: DateTime<Utc>,
    /// HTML-safe: the text is escaped; only `<mark>` and `</mark>` are markup.
    pub snippet: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_id: Option<Uuid>,
}

/// How many lexemes the query has once stop words are gone (0: nothing to search for).
pub async fn query_terms(conn: &impl Conn, q: &str) -> Result<i32, DbError> {
    // `-word` alone would match nearly everything: a query needs a word it looks for.
    let row = db::query_one(
        conn,
        "SELECT CASE WHEN querytree(websearch_to_tsquery('english', $1)) = 'T' THEN 0 \
                ELSE numnode(websearch_to_tsquery('english', $1)) END",
        &[&q],
    )
    .await?;
    Ok(row.get(0))
}

pub struct Query<'a> {
    pub practice_id: Uuid,
    pub q: &'a str,
    pub scope: Scope,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub offset: i64,
    pub limit: i64,
}

pub async fn search(conn: &impl Conn, query: &Query<'_>) -> Result<Vec<Hit>, DbError> {
    let messages = query.scope != Scope::Calls;
    let calls = query.scope != Scope::Messages;
    let options = format!("StartSel={START}, StopSel={STOP}, MaxWords=35, MinWords=15");
    let rows = db::query(
        conn,
        "WITH q AS (SELECT websearch_to_tsquery('english', $2) AS query), \
         hits AS ( \
           SELECT 'message' AS kind, m.id AS id, m.conversation_id AS parent, m.occurred_at AS at, \
                  ts_rank_cd(m.search, q.query) AS rank \
           FROM sms_messages m, q WHERE $3 AND m.practice_id = $1 AND m.search @@ q.query \
             AND ($5::timestamptz IS NULL OR m.occurred_at >= $5) AND ($6::timestamptz IS NULL OR m.occurred_at < $6) \
           UNION ALL \
           SELECT 'transcript', t.recording_id, t.call_id, coalesce(c.started_at, r.recorded_at), ts_rank_cd(t.search, q.query) \
           FROM call_transcripts t JOIN call_recordings r ON r.id = t.recording_id \
             LEFT JOIN phone_calls c ON c.id = t.call_id, q \
           WHERE $4 AND t.practice_id = $1 AND t.search @@ q.query \
             AND ($5::timestamptz IS NULL OR coalesce(c.started_at, r.recorded_at) >= $5) \
             AND ($6::timestamptz IS NULL OR coalesce(c.started_at, r.recorded_at) < $6) \
           UNION ALL \
           SELECT 'summary', f.recording_id, f.call_id, coalesce(c.started_at, r.recorded_at), ts_rank_cd(f.search, q.query) \
           FROM call_facts f JOIN call_recordings r ON r.id = f.recording_id \
             LEFT JOIN phone_calls c ON c.id = f.call_id, q \
           WHERE $4 AND f.practice_id = $1 AND f.search @@ q.query \
             AND ($5::timestamptz IS NULL OR coalesce(c.started_at, r.recorded_at) >= $5) \
             AND ($6::timestamptz IS NULL OR coalesce(c.started_at, r.recorded_at) < $6) \
         ), \
         page AS (SELECT * FROM hits ORDER BY rank DESC, at DESC, id LIMIT $8 OFFSET $7) \
         SELECT page.kind, page.id, page.parent, page.at, page.rank, \
           ts_headline('english', translate(CASE page.kind \
               WHEN 'message' THEN (SELECT body FROM sms_messages WHERE id = page.id) \
               WHEN 'transcript' THEN (SELECT text FROM call_transcripts WHERE recording_id = page.id) \
               ELSE (SELECT summary FROM call_facts WHERE recording_id = page.id) END, $9, $11), q.query, $10) AS snippet \
         FROM page, q ORDER BY page.rank DESC, page.at DESC, page.id",
        &[
            &query.practice_id,
            &query.q,
            &messages,
            &calls,
            &query.from,
            &query.until,
            &query.offset,
            &query.limit,
            // `translate` maps by position and deletes what has no partner: `<>&` become their
            // stand-ins, and any mark or stand-in already in the text is removed.
            &format!("<>&{START}{STOP}{LT}{GT}{AMP}"),
            &options,
            &format!("{LT}{GT}{AMP}"),
        ],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let kind: String = r.get("kind");
            let id: Uuid = r.get("id");
            let parent: Option<Uuid> = r.get("parent");
            let message = kind == "message";
            Hit {
                rank: r.get("rank"),
                at: r.get("at"),
                snippet: safe_snippet(&r.get::<_, String>("snippet")),
                conversation_id: if message { parent } else { None },
                message_id: message.then_some(id),
                call_id: if message { None } else { parent },
                recording_id: (!message).then_some(id),
                kind,
            }
        })
        .collect())
}

/// The database's snippet as HTML: everything escaped, then the marks turned into `<mark>`.
pub fn safe_snippet(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 16);
    for c in raw.chars() {
        match c {
            '&' | AMP => out.push_str("&amp;"),
            '<' | LT => out.push_str("&lt;"),
            '>' | GT => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            START => out.push_str("<mark>"),
            STOP => out.push_str("</mark>"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_escape_text_and_keep_only_the_marks() {
        let raw = format!("<script>alert(1)</script> my {START}tooth{STOP} & \"jaw\"");
        assert_eq!(
            safe_snippet(&raw),
            "&lt;script&gt;alert(1)&lt;/script&gt; my <mark>tooth</mark> &amp; &quot;jaw&quot;"
        );
    }
}
