//! Why a thread needs a person, and how serious that is: a thread shows its most serious open
//! reason, so "ok thanks" after an emergency never hides the emergency.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// A person should answer (no automatic answer matched, a short code, too old to answer).
    Attention = 1,
    /// A text could not be sent, or may not have arrived, or consent changed in a way a person
    /// should check.
    Delivery = 2,
    /// The patient may have an emergency.
    Emergency = 3,
}

impl Severity {
    pub fn as_i16(self) -> i16 {
        self as i16
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub reason: String,
    pub severity: Severity,
}

impl Flag {
    pub fn new(severity: Severity, reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            severity,
        }
    }

    pub fn attention(reason: impl Into<String>) -> Self {
        Self::new(Severity::Attention, reason)
    }

    pub fn delivery(reason: impl Into<String>) -> Self {
        Self::new(Severity::Delivery, reason)
    }

    pub fn emergency() -> Self {
        Self::new(Severity::Emergency, "patient may have an emergency")
    }

    /// The more serious of two flags (the first on a tie).
    pub fn max(self, other: Option<Flag>) -> Flag {
        match other {
            Some(other) if other.severity > self.severity => other,
            _ => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_more_serious_flag_wins() {
        let emergency = Flag::emergency();
        assert_eq!(Flag::attention("x").max(Some(emergency.clone())), emergency);
        assert_eq!(emergency.clone().max(Some(Flag::attention("x"))), emergency);
        assert_eq!(Flag::attention("a").max(Some(Flag::attention("b"))).reason, "a");
        assert_eq!(Flag::attention("a").max(None).reason, "a");
    }
}
