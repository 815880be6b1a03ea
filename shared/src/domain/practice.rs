//! A practice (tenant): its name, numbers, where it is and when it is open.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::office_hours::{describe_opening, OfficeHours};

#[derive(Debug, Clone)]
pub struct Practice {
    pub id: Uuid,
    pub name: String,
    /// The number patients should call, for HELP and emergency replies (E.164).
    pub phone: Option<String>,
    pub address: Option<String>,
    pub timezone: Tz,
    pub office_hours: OfficeHours,
    pub holidays: Vec<NaiveDate>,
    /// At most one automatic reply per category per contact within this many hours.
    pub auto_reply_quiet_hours: i32,
    /// Appended to automatic replies sent while the office is closed; `{next_opening}` is filled in.
    pub after_hours_note: String,
}

impl Practice {
    pub fn local_time(&self, at: DateTime<Utc>) -> NaiveDateTime {
        at.with_timezone(&self.timezone).naive_local()
    }

    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.office_hours.is_open(self.local_time(at), &self.holidays)
    }

    /// "tomorrow at 8:00 AM", in the practice's time zone.
    pub fn next_opening(&self, at: DateTime<Utc>) -> Option<String> {
        let local = self.local_time(at);
        self.office_hours
            .next_opening(local, &self.holidays)
            .map(|opening| describe_opening(local, opening))
    }
}
