//! An admin's edit of one automatic-reply rule (`PUT /api/voip/settings/rules/{category}`), read
//! from JSON and checked before anything is written. The carrier keywords (STOP, START, HELP) are
//! fixed, so their rules take a new reply text only.

use serde_json::{Map, Value};

use super::{Category, ReplyKind, PLACEHOLDERS};
use crate::domain::field_error::{self as field, FieldError};

/// At most this many characters in a reply text (four 160-character parts).
pub const MAX_REPLY: usize = 640;
pub const MAX_KEYWORDS: usize = 200;
pub const MAX_KEYWORD: usize = 60;
pub const PRIORITY: std::ops::RangeInclusive<i32> = 0..=1000;

/// The keyword lists, by their JSON names.
pub const LISTS: [&str; 5] = ["keywords", "weakKeywords", "contextKeywords", "negations", "exclusions"];

/// What a PUT changes; `None` leaves a value as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleChange {
    pub enabled: Option<bool>,
    pub priority: Option<i32>,
    pub keywords: Option<Vec<String>>,
    pub weak_keywords: Option<Vec<String>>,
    pub context_keywords: Option<Vec<String>>,
    pub negations: Option<Vec<String>>,
    pub exclusions: Option<Vec<String>>,
    pub reply_text: Option<String>,
}

impl RuleChange {
    pub fn parse(kind: ReplyKind, body: &Map<String, Value>) -> Result<Self, FieldError> {
        if body.is_empty() {
            return Err(FieldError::body(
                "the body changes nothing: give at least one field (e.g. {\"replyText\": …})",
            ));
        }
        let topic = matches!(kind, ReplyKind::Topic(_));
        let mut change = Self::default();
        for (key, value) in body {
            let name = key.as_str();
            if !topic && name != "replyText" {
                let problem = match name {
                    "enabled" | "priority" => "cannot be changed: carriers require this reply",
                    _ if LISTS.contains(&name) => "cannot be changed: carrier keywords are fixed",
                    _ => "is not a field of a rule",
                };
                return Err(FieldError::new(name, problem));
            }
            match name {
                "enabled" => {
                    let enabled = field::boolean(name, value)?;
                    // Turning it off would also stop emergencies being recognised and flagged.
                    if !enabled && kind == ReplyKind::Topic(Category::Emergency) {
                        return Err(FieldError::new(
                            name,
                            "the emergency rule cannot be turned off: it is what flags emergencies for a person; \
                             change its reply text instead",
                        ));
                    }
                    change.enabled = Some(enabled);
                }
                "priority" => change.priority = Some(field::integer(name, value, PRIORITY)?),
                "keywords" => change.keywords = Some(list(name, value)?),
                "weakKeywords" => change.weak_keywords = Some(list(name, value)?),
                "contextKeywords" => change.context_keywords = Some(list(name, value)?),
                "negations" => change.negations = Some(list(name, value)?),
                "exclusions" => change.exclusions = Some(list(name, value)?),
                "replyText" => {
                    let text = field::text(name, field::string(name, value)?, MAX_REPLY)?;
                    field::only_placeholders(name, &text, &PLACEHOLDERS)?;
                    change.reply_text = Some(text);
                }
                "category" | "kind" | "placeholders" | "updatedAt" => {
                    return Err(FieldError::new(name, "cannot be changed"))
                }
                _ => return Err(FieldError::new(name, "is not a field of a rule")),
            }
        }
        Ok(change)
    }
}

/// Words or phrases: trimmed, duplicates (any case) dropped, each one something the matcher can
/// find (an entry of punctuation only would match nothing).
fn list(name: &str, value: &Value) -> Result<Vec<String>, FieldError> {
    let items = value
        .as_array()
        .ok_or_else(|| FieldError::new(name, "must be a list of words or phrases"))?;
    if items.len() > MAX_KEYWORDS {
        return Err(FieldError::new(
            name,
            format!("{} entries; at most {MAX_KEYWORDS} are allowed", items.len()),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let entry = format!("{name}[{i}]");
        let text = field::text(&entry, field::string(&entry, item)?, MAX_KEYWORD)?;
        if super::classifier::tokenize(&text).is_empty() {
            return Err(FieldError::new(
                entry,
                "has no letters or digits, so it would match nothing",
            ));
        }
        if !out.iter().any(|o| o.to_lowercase() == text.to_lowercase()) {
            out.push(text);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(kind: ReplyKind, body: Value) -> Result<RuleChange, FieldError> {
        RuleChange::parse(kind, body.as_object().unwrap())
    }

    const HOURS: ReplyKind = ReplyKind::Topic(Category::OfficeHours);

    #[test]
    fn a_topic_takes_every_field() {
        let change = parse(
            HOURS,
            json!({"enabled": false, "priority": 15, "keywords": [" hours ", "Hours", "opening time"],
                   "weakKeywords": [], "contextKeywords": ["when"], "negations": [], "exclusions": ["job"],
                   "replyText": " {practice_name} is open {office_hours}. "}),
        )
        .unwrap();
        assert_eq!(change.keywords.unwrap(), ["hours", "opening time"]);
        assert_eq!(change.reply_text.unwrap(), "{practice_name} is open {office_hours}.");
        assert_eq!(change.priority, Some(15));
        assert_eq!(change.enabled, Some(false));
    }

    #[test]
    fn every_problem_names_its_field() {
        let too_many: Vec<String> = (0..201).map(|i| format!("w{i}")).collect();
        let cases = [
            (HOURS, json!({}), None),
            (HOURS, json!({"replyText": "  "}), Some("replyText")),
            (HOURS, json!({"replyText": "x".repeat(641)}), Some("replyText")),
            (HOURS, json!({"replyText": "Call {phone}"}), Some("replyText")),
            (HOURS, json!({"keywords": "hours"}), Some("keywords")),
            (HOURS, json!({"keywords": too_many}), Some("keywords")),
            (HOURS, json!({"weakKeywords": ["ok", ""]}), Some("weakKeywords[1]")),
            (HOURS, json!({"negations": ["x".repeat(61)]}), Some("negations[0]")),
            (HOURS, json!({"exclusions": ["?!"]}), Some("exclusions[0]")),
            (HOURS, json!({"priority": 1001}), Some("priority")),
            (HOURS, json!({"category": "location"}), Some("category")),
            (HOURS, json!({"colour": 1}), Some("colour")),
            (
                ReplyKind::Topic(Category::Emergency),
                json!({"enabled": false}),
                Some("enabled"),
            ),
            (ReplyKind::OptOut, json!({"keywords": ["stop"]}), Some("keywords")),
            (ReplyKind::Help, json!({"enabled": false}), Some("enabled")),
            (ReplyKind::OptIn, json!({"priority": 3}), Some("priority")),
        ];
        for (kind, body, expected) in cases {
            let error = parse(kind, body.clone()).unwrap_err();
            assert_eq!(error.field.as_deref(), expected, "{body}: {}", error.message);
        }
        assert!(parse(
            ReplyKind::OptOut,
            json!({"replyText": "Bye from {practice_name}. Reply START to come back."})
        )
        .is_ok());
        assert!(parse(ReplyKind::Topic(Category::Emergency), json!({"enabled": true})).is_ok());
    }
}
