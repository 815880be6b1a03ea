//! Key facts and a short summary of a call, read from its transcript, in one fixed, versioned JSON
//! shape (docs/call-facts.md).
//!
//! Two extractors produce the same [`CallFacts`]: an OpenAI model with strict structured output
//! ([`llm`]), when one is configured, and deterministic rules ([`rules`]), which are also the
//! fallback whenever the model fails. Both outputs go through [`validate`], so whatever is stored
//! has passed the same checks.

pub mod llm;
pub mod rules;
#[cfg(test)]
mod tests;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::domain::phone::PhoneNumber;

pub use llm::{LlmError, LlmExtractor};
pub use rules::extract_rules;

/// Bumped whenever a field is added, removed or changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

// Bounds `validate` enforces. They are not in the JSON Schema: strict structured output accepts
// only a subset of JSON Schema, so the schema states them in descriptions and we check them here.
pub const MAX_SUMMARY_CHARS: usize = 400;
pub const MAX_MENTIONED_TIMES: usize = 12;
pub const MAX_TIME_TEXT_CHARS: usize = 80;
pub const MAX_PHONE_NUMBERS: usize = 5;
pub const MAX_NAMES: usize = 8;
pub const MAX_NAME_CHARS: usize = 60;
pub const MAX_FOLLOW_UP_ACTIONS: usize = 6;
pub const MAX_ACTION_CHARS: usize = 120;

/// What the caller mainly wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Request {
    Appointment,
    Reschedule,
    Cancellation,
    Emergency,
    Billing,
    Insurance,
    Prescription,
    Other,
}

impl Request {
    pub const ALL: [Request; 8] = [
        Request::Appointment,
        Request::Reschedule,
        Request::Cancellation,
        Request::Emergency,
        Request::Billing,
        Request::Insurance,
        Request::Prescription,
        Request::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Request::Appointment => "appointment",
            Request::Reschedule => "reschedule",
            Request::Cancellation => "cancellation",
            Request::Emergency => "emergency",
            Request::Billing => "billing",
            Request::Insurance => "insurance",
            Request::Prescription => "prescription",
            Request::Other => "other",
        }
    }
}

/// How soon the front desk should act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    Low,
    Normal,
    High,
    Emergency,
}

impl Urgency {
    pub const ALL: [Urgency; 4] = [Urgency::Low, Urgency::Normal, Urgency::High, Urgency::Emergency];

    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
            Urgency::Emergency => "emergency",
        }
    }
}

/// A date or time said in the call: the words, and what they mean on the practice's calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MentionedTime {
    /// As said, e.g. `next Tuesday at 3`.
    pub text: String,
    /// Local `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM`; None when no particular day is meant.
    pub resolved: Option<String>,
}

/// A parsed [`MentionedTime::resolved`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    Date(NaiveDate),
    DateTime(NaiveDateTime),
}

impl Resolved {
    /// Accepts `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM` and `YYYY-MM-DDTHH:MM:SS`.
    pub fn parse(text: &str) -> Option<Self> {
        if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Some(Resolved::Date(date));
        }
        ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
            .map(Resolved::DateTime)
    }

    /// The canonical form: seconds are dropped (no one books to the second).
    pub fn to_text(self) -> String {
        match self {
            Resolved::Date(date) => date.format("%Y-%m-%d").to_string(),
            Resolved::DateTime(at) => at.format("%Y-%m-%dT%H:%M").to_string(),
        }
    }
}

/// The facts of one call (schema version 1, docs/call-facts.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallFacts {
    pub schema_version: u32,
    /// One or two plain sentences.
    pub summary: String,
    pub request: Request,
    pub urgency: Urgency,
    pub mentioned_times: Vec<MentionedTime>,
    /// E.164.
    pub phone_numbers: Vec<String>,
    pub names: Vec<String>,
    pub callback_requested: bool,
    /// Short imperative sentences for the front desk.
    pub follow_up_actions: Vec<String>,
}

/// Which extractor produced the facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactsSource {
    Llm { model: String },
    Rules,
}

/// The facts of a call: from the model when one is configured and answers well, otherwise from the
/// rules. `call_started_local` is the start of the call in the practice's time zone; relative dates
/// ("tomorrow") are resolved against it.
pub async fn extract(
    llm: Option<&LlmExtractor>,
    transcript: &str,
    call_started_local: NaiveDateTime,
) -> (CallFacts, FactsSource) {
    if let Some(llm) = llm {
        match llm.extract(transcript, call_started_local).await {
            Ok(facts) => {
                let model = llm.model().to_string();
                return (facts, FactsSource::Llm { model });
            }
            // The error never holds the transcript or the model's answer (only field names and
            // OpenAI's status), so it can be logged as it is.
            Err(error) => tracing::warn!(
                model = llm.model(),
                retryable = error.is_retryable(),
                %error,
                "call facts: the model failed, the rules were used instead"
            ),
        }
    }
    (rules::extract_rules(transcript, call_started_local), FactsSource::Rules)
}

const FIELDS: [&str; 9] = [
    "schemaVersion",
    "summary",
    "request",
    "urgency",
    "mentionedTimes",
    "phoneNumbers",
    "names",
    "callbackRequested",
    "followUpActions",
];
const TIME_FIELDS: [&str; 2] = ["text", "resolved"];

/// The JSON Schema of [`CallFacts`], usable as OpenAI strict structured output: every property
/// required, no additional properties, nullable as `["string", "null"]`, and only keywords strict
/// mode accepts. Bounds are in the descriptions and checked by [`validate`].
pub fn json_schema() -> Value {
    let strings = |description: &str| json!({"type": "array", "description": description, "items": {"type": "string"}});
    let requests: Vec<&str> = Request::ALL.iter().map(|r| r.as_str()).collect();
    let urgencies: Vec<&str> = Urgency::ALL.iter().map(|u| u.as_str()).collect();
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": FIELDS,
        "properties": {
            "schemaVersion": {"type": "integer", "enum": [SCHEMA_VERSION]},
            "summary": {
                "type": "string",
                "description": format!("One or two short plain-text sentences, one line, at most {MAX_SUMMARY_CHARS} characters.")
            },
            "request": {"type": "string", "enum": requests, "description": "The caller's main reason for calling."},
            "urgency": {
                "type": "string",
                "enum": urgencies,
                "description": "How soon the front desk should act; emergency whenever request is emergency."
            },
            "mentionedTimes": {
                "type": "array",
                "description": format!("Every date or time mentioned, at most {MAX_MENTIONED_TIMES}."),
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": TIME_FIELDS,
                    "properties": {
                        "text": {
                            "type": "string",
                            "description": format!("The words as said, at most {MAX_TIME_TEXT_CHARS} characters.")
                        },
                        "resolved": {
                            "type": ["string", "null"],
                            "description": "Local YYYY-MM-DD or YYYY-MM-DDTHH:MM, or null when no particular day is meant."
                        }
                    }
                }
            },
            "phoneNumbers": strings(&format!("Phone numbers stated, E.164 (+15145550123), at most {MAX_PHONE_NUMBERS}.")),
            "names": strings(&format!("People's names as stated, at most {MAX_NAMES}, each at most {MAX_NAME_CHARS} characters.")),
            "callbackRequested": {"type": "boolean"},
            "followUpActions": strings(&format!(
                "Short imperative actions for the front desk, at most {MAX_FOLLOW_UP_ACTIONS}, each at most {MAX_ACTION_CHARS} characters."
            ))
        }
    })
}

/// Reads facts from JSON: the schema (no field missing or extra, types, enums) and the meaning
/// (schema version, E.164 numbers, dates that exist, bounded lengths, an emergency marked as
/// one). Resolved times come back in canonical form (no seconds).
///
/// Errors name the field, never its value: the value comes from a patient's call.
pub fn validate(value: &Value) -> Result<CallFacts, String> {
    check_shape(value)?;
    let mut facts: CallFacts = match CallFacts::deserialize(value) {
        Ok(facts) => facts,
        Err(_) => return Err(type_error(value)),
    };
    check_meaning(&mut facts)?;
    Ok(facts)
}

/// Missing and unknown properties, with their names (property names are ours or the model's,
/// never the caller's words).
fn check_shape(value: &Value) -> Result<(), String> {
    let object = value.as_object().ok_or("the facts are not a JSON object")?;
    check_keys(object, &FIELDS, "")?;
    if let Some(times) = object.get("mentionedTimes").and_then(Value::as_array) {
        for (i, time) in times.iter().enumerate() {
            let time = time
                .as_object()
                .ok_or(format!("mentionedTimes[{i}] is not an object"))?;
            check_keys(time, &TIME_FIELDS, &format!("mentionedTimes[{i}]."))?;
        }
    }
    Ok(())
}

fn check_keys(object: &serde_json::Map<String, Value>, fields: &[&str], prefix: &str) -> Result<(), String> {
    if let Some(unknown) = object.keys().find(|k| !fields.contains(&k.as_str())) {
        let shown: String = unknown.chars().take(40).collect();
        return Err(format!("unknown property {prefix}{shown}"));
    }
    match fields.iter().find(|f| !object.contains_key(**f)) {
        Some(missing) => Err(format!("{prefix}{missing} is missing")),
        None => Ok(()),
    }
}

/// Names the first property whose type or enum value is wrong. serde's own message would quote
/// the value.
fn type_error(value: &Value) -> String {
    fn fits<T: serde::de::DeserializeOwned>(value: Option<&Value>) -> bool {
        value.is_some_and(|v| T::deserialize(v).is_ok())
    }
    let field = |name| value.get(name);
    let checks: [(&str, bool); 9] = [
        ("schemaVersion", fits::<u32>(field("schemaVersion"))),
        ("summary", fits::<String>(field("summary"))),
        ("request", fits::<Request>(field("request"))),
        ("urgency", fits::<Urgency>(field("urgency"))),
        ("mentionedTimes", fits::<Vec<MentionedTime>>(field("mentionedTimes"))),
        ("phoneNumbers", fits::<Vec<String>>(field("phoneNumbers"))),
        ("names", fits::<Vec<String>>(field("names"))),
        ("callbackRequested", fits::<bool>(field("callbackRequested"))),
        ("followUpActions", fits::<Vec<String>>(field("followUpActions"))),
    ];
    match checks.iter().find(|(_, ok)| !ok) {
        Some((name, _)) => format!("{name} has the wrong type or a value outside its enum"),
        None => "the facts do not match the schema".into(),
    }
}

fn check_meaning(facts: &mut CallFacts) -> Result<(), String> {
    if facts.schema_version != SCHEMA_VERSION {
        return Err(format!("schemaVersion must be {SCHEMA_VERSION}"));
    }
    check_text("summary", &facts.summary, MAX_SUMMARY_CHARS)?;
    if facts.request == Request::Emergency && facts.urgency != Urgency::Emergency {
        return Err("an emergency request needs urgency emergency".into());
    }
    check_count("mentionedTimes", facts.mentioned_times.len(), MAX_MENTIONED_TIMES)?;
    for (i, time) in facts.mentioned_times.iter_mut().enumerate() {
        check_text(&format!("mentionedTimes[{i}].text"), &time.text, MAX_TIME_TEXT_CHARS)?;
        if let Some(resolved) = &time.resolved {
            let parsed = Resolved::parse(resolved).ok_or(format!(
                "mentionedTimes[{i}].resolved is not YYYY-MM-DD or YYYY-MM-DDTHH:MM"
            ))?;
            time.resolved = Some(parsed.to_text());
        }
    }
    check_count("phoneNumbers", facts.phone_numbers.len(), MAX_PHONE_NUMBERS)?;
    for (i, number) in facts.phone_numbers.iter().enumerate() {
        if !PhoneNumber::parse(number).is_ok_and(|p| p.as_e164() == number) {
            return Err(format!("phoneNumbers[{i}] is not an E.164 number"));
        }
    }
    check_count("names", facts.names.len(), MAX_NAMES)?;
    for (i, name) in facts.names.iter().enumerate() {
        check_text(&format!("names[{i}]"), name, MAX_NAME_CHARS)?;
        if name.chars().any(|c| c.is_ascii_digit()) || !name.chars().any(char::is_alphabetic) {
            return Err(format!("names[{i}] is not a name"));
        }
    }
    check_count("followUpActions", facts.follow_up_actions.len(), MAX_FOLLOW_UP_ACTIONS)?;
    for (i, action) in facts.follow_up_actions.iter().enumerate() {
        check_text(&format!("followUpActions[{i}]"), action, MAX_ACTION_CHARS)?;
    }
    Ok(())
}

/// Not blank, one line, bounded.
fn check_text(field: &str, text: &str, max_chars: usize) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err(format!("{field} is empty"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{field} contains control characters or line breaks"));
    }
    if text.chars().count() > max_chars {
        return Err(format!("{field} is longer than {max_chars} characters"));
    }
    Ok(())
}

fn check_count(field: &str, count: usize, max: usize) -> Result<(), String> {
    if count > max {
        return Err(format!("{field} has more than {max} entries"));
    }
    Ok(())
}
