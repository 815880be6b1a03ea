//! What an automatic reply is about, and its text.

pub mod classifier;

use chrono::{DateTime, Utc};

pub use classifier::{classify, Category, Rule};

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

/// Fills a reply template. Placeholders: `{practice_name}`, `{practice_phone}`, `{office_hours}`,
/// `{address}`, `{next_opening}`. A topic reply sent while the office is closed gets the practice's
/// after-hours note, so the patient knows when someone will read the message.
pub fn render_reply(kind: ReplyKind, template: &str, practice: &Practice, now: DateTime<Utc>) -> String {
    let next_opening = practice.next_opening(now).unwrap_or_else(|| "soon".to_string());
    let fill = |text: &str| {
        text.replace("{practice_name}", &practice.name)
            .replace("{practice_phone}", practice.phone.as_deref().unwrap_or("our office"))
            .replace("{office_hours}", &practice.office_hours.describe())
            .replace("{address}", practice.address.as_deref().unwrap_or("on our website"))
            .replace("{next_opening}", &next_opening)
    };
    let mut reply = fill(template).trim().to_string();
    if kind.is_topic() && !practice.is_open(now) && !practice.after_hours_note.trim().is_empty() {
        reply.push(' ');
        reply.push_str(fill(&practice.after_hours_note).trim());
    }
    reply
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
            phone: Some("+15551230000".into()),
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
        );
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
        );
        assert_eq!(
            reply,
            "We're at 12 Main St. We're closed now and open again tomorrow at 8:00 AM."
        );
        let confirmation = render_reply(ReplyKind::OptOut, "You're unsubscribed.", &practice(), now);
        assert_eq!(confirmation, "You're unsubscribed.");
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
