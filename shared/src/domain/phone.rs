//! Phone numbers parsed at the edge. Inside the system every full number is E.164 (`+15145550123`);
//! the VoIP.ms 10-digit form exists only where we talk to VoIP.ms.

use std::fmt;

use serde::{Serialize, Serializer};

/// Why a string is not a phone number we can text, worded for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    #[error("phone number is empty")]
    Empty,
    #[error("phone number may contain only digits, spaces, dashes, dots, parentheses and a leading +")]
    InvalidCharacters,
    #[error("phone number must be E.164 (+ and 8 to 15 digits) or a 10-digit North American number")]
    WrongLength,
    #[error("North American numbers cannot start with 0 or 1 in the area code or exchange")]
    InvalidNanp,
}

/// A full phone number in E.164 form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Accepts E.164 (`+15145550123`, `+442071838750`) and 10-digit NANP in common punctuation
    /// (`514-555-0123`, `(514) 555 0123`); an 11-digit NANP `1...` without `+` is accepted too
    /// because VoIP.ms sometimes sends it.
    pub fn parse(input: &str) -> Result<Self, PhoneNumberError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneNumberError::Empty);
        }
        let (plus, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(PhoneNumberError::InvalidCharacters),
            }
        }
        if plus {
            if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
                return Err(PhoneNumberError::WrongLength);
            }
            if let Some(national) = digits.strip_prefix('1') {
                if national.len() != 10 {
                    return Err(PhoneNumberError::WrongLength);
                }
                validate_nanp(national)?;
            }
            return Ok(Self(format!("+{digits}")));
        }
        let national = match digits.len() {
            10 => digits.as_str(),
            11 if digits.starts_with('1') => &digits[1..],
            _ => return Err(PhoneNumberError::WrongLength),
        };
        validate_nanp(national)?;
        Ok(Self(format!("+1{national}")))
    }

    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// The 10-digit national form VoIP.ms wants, when this is a North American number.
    pub fn nanp_digits(&self) -> Option<&str> {
        self.0.strip_prefix("+1").filter(|n| n.len() == 10)
    }

    /// For logs: enough to tell numbers apart, not enough to identify a patient.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }

    /// As people write it in a text: `(514) 555-0100` for North American numbers, E.164 for the
    /// rest (no one national form fits every country).
    pub fn for_people(&self) -> String {
        match self.nanp_digits() {
            Some(n) => format!("({}) {}-{}", &n[..3], &n[3..6], &n[6..]),
            None => self.0.clone(),
        }
    }
}

fn validate_nanp(national: &str) -> Result<(), PhoneNumberError> {
    let b = national.as_bytes();
    if matches!(b[0], b'0' | b'1') || matches!(b[3], b'0' | b'1') {
        return Err(PhoneNumberError::InvalidNanp);
    }
    Ok(())
}

/// Keeps the last two digits only.
pub fn mask(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    let keep = digits.len().min(2);
    let tail: String = digits[digits.len() - keep..].iter().collect();
    format!("…{tail}")
}

/// Masks every phone-number-like run (7 or more digits, with the usual separators) in free text,
/// such as a carrier's error message, before it is logged.
pub fn redact_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts_number =
            chars[i].is_ascii_digit() || (chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if !starts_number {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // The run: digits, and separators that sit between digits.
        let mut end = i + 1;
        let mut last_digit = i;
        while end < chars.len() && (chars[end].is_ascii_digit() || " -.()".contains(chars[end])) {
            if chars[end].is_ascii_digit() {
                last_digit = end;
            }
            end += 1;
        }
        let run: String = chars[i..=last_digit].iter().collect();
        if run.chars().filter(char::is_ascii_digit).count() >= 7 {
            out.push_str(&mask(&run));
        } else {
            out.push_str(&run);
        }
        i = last_digit + 1;
    }
    out
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// One of the practice's own numbers (a VoIP.ms DID). SMS on VoIP.ms works for US/Canadian DIDs only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Did(PhoneNumber);

impl Did {
    pub fn parse(input: &str) -> Result<Self, PhoneNumberError> {
        let number = PhoneNumber::parse(input)?;
        if number.nanp_digits().is_none() {
            return Err(PhoneNumberError::WrongLength);
        }
        Ok(Self(number))
    }

    pub fn number(&self) -> &PhoneNumber {
        &self.0
    }

    pub fn as_e164(&self) -> &str {
        self.0.as_e164()
    }

    pub fn voipms_digits(&self) -> &str {
        self.0.nanp_digits().unwrap_or_default()
    }
}

impl fmt::Display for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Who a text came from: a full number, or a short code (5–6 digits, used by services and marketers),
/// which we store but never answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    Number(PhoneNumber),
    ShortCode(String),
}

impl Sender {
    pub fn parse(input: &str) -> Result<Self, PhoneNumberError> {
        let trimmed = input.trim();
        let all_digits = !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_digit());
        if all_digits && (3..=8).contains(&trimmed.len()) {
            return Ok(Self::ShortCode(trimmed.to_string()));
        }
        // An international sender whose `+` became a space in a query string (`from=+4477…`).
        if all_digits && (11..=15).contains(&trimmed.len()) && !(trimmed.len() == 11 && trimmed.starts_with('1')) {
            return PhoneNumber::parse(&format!("+{trimmed}")).map(Self::Number);
        }
        PhoneNumber::parse(trimmed).map(Self::Number)
    }

    /// The stored form: E.164 for numbers, the bare digits for short codes.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Number(n) => n.as_e164(),
            Self::ShortCode(code) => code,
        }
    }

    pub fn masked(&self) -> String {
        mask(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_e164_and_nanp_forms() {
        for input in [
            "+15145550123",
            "5145550123",
            "514-555-0123",
            "(514) 555 0123",
            "15145550123",
            " +1 514.555.0123 ",
        ] {
            assert_eq!(PhoneNumber::parse(input).unwrap().as_e164(), "+15145550123", "{input}");
        }
        assert_eq!(PhoneNumber::parse("+442071838750").unwrap().as_e164(), "+442071838750");
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        assert_eq!(PhoneNumber::parse(""), Err(PhoneNumberError::Empty));
        assert_eq!(
            PhoneNumber::parse("555-CALL-NOW"),
            Err(PhoneNumberError::InvalidCharacters)
        );
        assert_eq!(PhoneNumber::parse("12345"), Err(PhoneNumberError::WrongLength));
        assert_eq!(PhoneNumber::parse("+1514555012"), Err(PhoneNumberError::WrongLength));
        assert_eq!(
            PhoneNumber::parse("+1234567890123456"),
            Err(PhoneNumberError::WrongLength)
        );
        assert_eq!(PhoneNumber::parse("0551234567"), Err(PhoneNumberError::InvalidNanp));
        assert_eq!(PhoneNumber::parse("5550234567"), Err(PhoneNumberError::InvalidNanp));
        assert_eq!(PhoneNumber::parse("+1 234"), Err(PhoneNumberError::WrongLength));
    }

    #[test]
    fn voipms_form_only_for_nanp() {
        assert_eq!(
            PhoneNumber::parse("+15145550123").unwrap().nanp_digits(),
            Some("5145550123")
        );
        assert_eq!(PhoneNumber::parse("+442071838750").unwrap().nanp_digits(), None);
        assert!(Did::parse("+442071838750").is_err());
        assert_eq!(Did::parse("5145550123").unwrap().voipms_digits(), "5145550123");
    }

    #[test]
    fn short_codes_are_senders_but_not_numbers() {
        assert_eq!(Sender::parse("24273"), Ok(Sender::ShortCode("24273".into())));
        assert!(matches!(Sender::parse("5145550123"), Ok(Sender::Number(_))));
        let international = Sender::parse(" 447700900123").unwrap();
        assert_eq!(international.as_str(), "+447700900123", "a `+` decoded as a space");
        assert_eq!(Sender::parse("14385550199").unwrap().as_str(), "+14385550199");
    }

    #[test]
    fn numbers_in_free_text_are_redacted() {
        assert_eq!(
            redact_numbers("The 'To' number +1 438-555-0199 is not valid (code 21211)"),
            "The 'To' number …99 is not valid (code 21211)"
        );
        assert_eq!(redact_numbers("dst 4385550199, did 5145550100."), "dst …99, did …00.");
        assert_eq!(redact_numbers("HTTP 503 after 2 tries"), "HTTP 503 after 2 tries");
        assert_eq!(redact_numbers("é+"), "é+");
    }

    #[test]
    fn written_for_people_in_the_national_form_when_north_american() {
        assert_eq!(
            PhoneNumber::parse("+15145550100").unwrap().for_people(),
            "(514) 555-0100"
        );
        assert_eq!(
            PhoneNumber::parse("1-800-555-0199").unwrap().for_people(),
            "(800) 555-0199"
        );
        assert_eq!(
            PhoneNumber::parse("+442071838750").unwrap().for_people(),
            "+442071838750"
        );
    }

    #[test]
    fn masking_hides_all_but_two_digits() {
        assert_eq!(PhoneNumber::parse("5145550123").unwrap().masked(), "…23");
        assert_eq!(mask(""), "…");
    }
}
