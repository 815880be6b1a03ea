//! What an automatic reply is about, and its text.

pub mod classifier;
pub mod edit;

use chrono::{DateTime, Utc};

pub use classifier::{classify, Category, Classifier, Rule};

use super::phone::PhoneNumber;
use super::practice::Practice;

/// Everything the system may answer automatically: a topic the classifier found, or a carrier keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyKind {
    Topic(Category),
    OptOut,
    OptIn,
    Help,
}

impl ReplyKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Topic(category) => category.as_str(),
            Self::OptOut => "optout",
            Self::OptIn => "optin",
            Self::Help => "help",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "optout" => Some(Self::OptOut),
            "optin" => Some(Self::OptIn),
            "help" => Some(Self::Help),
            other => Category::parse(other).map(Self::Topic),
        }
    }

    /// Carrier keyword confirmations are not topic answers: they get no after-hours note.
    fn is_topic(&self) -> bool {
        matches!(self, Self::Topic(_))
    }
}

/// A reply that would have to leave a fact out (or fill it with a stand-in) is not sent at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The placeholder's name: `address`, `practice_phone`, `practice_name` or `next_opening`.
    #[error("reply needs {0}, which is not configured")]
    MissingFact(&'static str),
}

/// Placeholders a reply text may use.
pub const PLACEHOLDERS: [&str; 5] = [
    "practice_name",
    "practice_phone",
    "office_hours",
    "address",
    "next_opening",
];

/// Fills a reply template. Placeholders: `{practice_name}`, `{practice_phone}`, `{office_hours}`,
/// `{address}`, `{next_opening}`; a placeholder whose fact is not configured makes the reply an
/// error rather than a sentence with a hole. A topic reply sent while the office is closed gets the
/// practice's after-hours note, so the patient knows when someone will read the message; a note
/// that needs a missing fact (no opening ahead) is left off, the reply itself being complete.
pub fn render_reply(
    kind: ReplyKind,
    template: &str,
    practice: &Practice,
    now: DateTime<Utc>,
) -> Result<String, RenderError> {
    let mut reply = fill(template, practice, now)?.trim().to_string();
    if kind.is_topic() && !practice.is_open(now) {
        if let Ok(note) = fill(&practice.after_hours_note, practice, now) {
            if !note.trim().is_empty() {
                reply.push(' ');
                reply.push_str(note.trim());
            }
        }
    }
    Ok(reply)
}

/// One pass over `text`, so a value that itself contains `{address}` is never filled again.
fn fill(text: &str, practice: &Practice, now: DateTime<Utc>) -> Result<String, RenderError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name = after
            .find('}')
            .and_then(|close| PLACEHOLDERS.into_iter().find(|p| *p == &after[..close]));
        match name {
            Some(name) => {
                out.push_str(&fact(name, practice, now).ok_or(RenderError::MissingFact(name))?);
                rest = &after[name.len() + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn fact(name: &str, practice: &Practice, now: DateTime<Utc>) -> Option<String> {
    let given = |value: Option<&str>| value.map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
    match name {
        "practice_name" => given(Some(&practice.name)),
        // Written as patients write numbers; a value that is not a number we know is quoted as set.
        "practice_phone" => given(practice.phone.as_deref())
            .map(|phone| PhoneNumber::parse(&phone).map_or(phone, |number| number.for_people())),
        "office_hours" => Some(practice.office_hours.describe()),
        "address" => given(practice.address.as_deref()),
        "next_opening" => practice.next_opening(now),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;
    use crate::domain::office_hours::OfficeHours;

    fn practice() -> Practice {
        Practice {
            id: Uuid::nil(),
            name: "Maple Dental".into(),
            phone: Some("+15145551230".into()),
            address: Some("12 Main St".into()),
            timezone: chrono_tz::America::Toronto,
            office_hours: OfficeHours::parse("Mon-Fri 08:00-17:00").unwrap(),
            holidays: vec![],
            auto_reply_quiet_hours: 24,
            after_hours_note: "We're closed now and open again {next_opening}.".into(),
        }
    }

    #[test]
    fn fills_placeholders_during_office_hours() {
        // Wednesday 10:00 in Toronto (UTC-5).
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 15, 0, 0).unwrap();
        let reply = render_reply(
            ReplyKind::Topic(Category::OfficeHours),
            "{practice_name} is open {office_hours}.",
            &practice(),
            now,
        )
        .unwrap();
        assert_eq!(reply, "Maple Dental is open Mon–Fri 8:00 AM–5:00 PM.");
    }

    #[test]
    fn after_hours_topic_replies_say_when_the_office_opens() {
        // Wednesday 20:00 in Toronto.
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 1, 0, 0).unwrap();
        let reply = render_reply(
            ReplyKind::Topic(Category::Location),
            "We're at {address}.",
            &practice(),
            now,
        )
        .unwrap();
        assert_eq!(
            reply,
            "We're at 12 Main St. We're closed now and open again tomorrow at 8:00 AM."
        );
        let confirmation = render_reply(ReplyKind::OptOut, "You're unsubscribed.", &practice(), now).unwrap();
        assert_eq!(confirmation, "You're unsubscribed.");
    }

    #[test]
    fn a_reply_whose_fact_is_not_configured_is_an_error_not_a_sentence_with_a_hole() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 15, 0, 0).unwrap();
        let location = ReplyKind::Topic(Category::Location);
        let template = "{practice_name} is at {address}. Call {practice_phone} for directions.";
        for address in [None, Some(""), Some("   ")] {
            let practice = Practice {
                address: address.map(str::to_string),
                ..practice()
            };
            assert_eq!(
                render_reply(location, template, &practice, now),
                Err(RenderError::MissingFact("address")),
                "{address:?}"
            );
        }
        let no_phone = Practice {
            phone: None,
            ..practice()
        };
        let err = render_reply(ReplyKind::Help, "Call {practice_phone}.", &no_phone, now).unwrap_err();
        assert_eq!(err, RenderError::MissingFact("practice_phone"));
        assert_eq!(err.to_string(), "reply needs practice_phone, which is not configured");
        // A fact the text does not use is not needed.
        assert_eq!(
            render_reply(location, "{practice_name} is downtown.", &no_phone, now).unwrap(),
            "Maple Dental is downtown."
        );
    }

    #[test]
    fn numbers_are_written_as_people_write_them() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 15, 0, 0).unwrap();
        let reply = render_reply(ReplyKind::Help, "Call {practice_phone}.", &practice(), now).unwrap();
        assert_eq!(reply, "Call (514) 555-1230.");
        let abroad = Practice {
            phone: Some("+442071838750".into()),
            ..practice()
        };
        let reply = render_reply(ReplyKind::Help, "Call {practice_phone}.", &abroad, now).unwrap();
        assert_eq!(reply, "Call +442071838750.");
        let free_form = Practice {
            phone: Some(" 555-0000 ext. 2 ".into()),
            ..practice()
        };
        let reply = render_reply(ReplyKind::Help, "Call {practice_phone}.", &free_form, now).unwrap();
        assert_eq!(
            reply, "Call 555-0000 ext. 2.",
            "a value that is no number is quoted as set"
        );
    }

    #[test]
    fn values_are_filled_once_and_other_braces_stay() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 15, 0, 0).unwrap();
        let odd = Practice {
            name: "{address} Dental".into(),
            ..practice()
        };
        let reply = render_reply(ReplyKind::OptIn, "{practice_name} {unknown} {address", &odd, now).unwrap();
        assert_eq!(reply, "{address} Dental {unknown} {address");
    }

    #[test]
    fn an_after_hours_note_without_a_next_opening_is_left_off() {
        // Wednesday 20:00 in Toronto, and no opening hours at all.
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 1, 0, 0).unwrap();
        let never_open = Practice {
            office_hours: OfficeHours::default(),
            ..practice()
        };
        let reply = render_reply(
            ReplyKind::Topic(Category::Location),
            "We're at {address}.",
            &never_open,
            now,
        )
        .unwrap();
        assert_eq!(reply, "We're at 12 Main St.");
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for name in [
            "appointment",
            "emergency",
            "office_hours",
            "location",
            "insurance",
            "optout",
            "optin",
            "help",
        ] {
            assert_eq!(ReplyKind::parse(name).unwrap().as_str(), name);
        }
        assert_eq!(ReplyKind::parse("billing"), None);
    }
}
