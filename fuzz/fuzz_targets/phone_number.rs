//! Phone numbers at the edge: `PhoneNumber::parse`, `Did::parse`, `Sender::parse`, `mask` and
//! `redact_numbers`.
//!
//! Properties: nothing panics on any UTF-8; a parsed number is `+` and 8 to 15 digits, NANP numbers
//! (`+1…`) are exactly `+1` and 10 digits with a valid area code and exchange; parsing is idempotent
//! (its own E.164 output, and its 10-digit VoIP.ms form, parse to the same number); a DID always has
//! the 10-digit form; a sender is a 3–8 digit short code or a number; `mask` keeps at most two
//! digits; `redact_numbers` leaves no run of 7 or more consecutive digits and changes nothing in a
//! text without digits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pedro_voip::domain::phone::{mask, redact_numbers, Did, PhoneNumber, Sender};

fn check_number(number: &PhoneNumber, input: &str) {
    let e164 = number.as_e164();
    let digits = e164
        .strip_prefix('+')
        .unwrap_or_else(|| panic!("{input:?} gave {e164:?}: no leading +"));
    assert!(
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()),
        "{input:?} gave {e164:?}: not + and 8 to 15 digits"
    );
    assert!(!digits.starts_with('0'), "{input:?} gave {e164:?}");
    assert_eq!(number.to_string(), e164);

    match number.nanp_digits() {
        Some(national) => {
            assert_eq!(national.len(), 10, "{input:?} gave {e164:?}");
            assert!(national.bytes().all(|b| b.is_ascii_digit()));
            let b = national.as_bytes();
            assert!(
                !matches!(b[0], b'0' | b'1') && !matches!(b[3], b'0' | b'1'),
                "{input:?} gave an invalid NANP number {e164:?}"
            );
            // The VoIP.ms form parses back to the same number.
            assert_eq!(PhoneNumber::parse(national).as_ref(), Ok(number));
        }
        None => assert!(
            !e164.starts_with("+1"),
            "{input:?} gave {e164:?}: +1 but no 10-digit national form"
        ),
    }

    // Idempotent: its own output parses to itself.
    assert_eq!(
        PhoneNumber::parse(e164).as_ref(),
        Ok(number),
        "{input:?} gave {e164:?}, which does not parse back to itself"
    );

    let masked = number.masked();
    assert_eq!(masked, format!("…{}", &digits[digits.len() - 2..]));
}

fn consecutive_digits(text: &str) -> usize {
    let (mut longest, mut run) = (0, 0);
    for c in text.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

fuzz_target!(|input: &str| {
    if let Ok(number) = PhoneNumber::parse(input) {
        check_number(&number, input);
        // Surrounding whitespace does not matter.
        assert_eq!(PhoneNumber::parse(&format!("  {input}\t")).as_ref(), Ok(&number));
    }

    match Did::parse(input) {
        Ok(did) => {
            assert_eq!(Some(did.voipms_digits()), did.number().nanp_digits(), "{input:?}");
            assert_eq!(did.voipms_digits().len(), 10);
            assert_eq!(PhoneNumber::parse(input).as_ref(), Ok(did.number()));
        }
        Err(_) => {
            if let Ok(number) = PhoneNumber::parse(input) {
                assert!(
                    number.nanp_digits().is_none(),
                    "{input:?} is a NANP number but not a DID"
                );
            }
        }
    }

    if let Ok(sender) = Sender::parse(input) {
        match &sender {
            Sender::ShortCode(code) => {
                assert!(
                    (3..=8).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()),
                    "{input:?} gave short code {code:?}"
                );
                assert_eq!(code, input.trim());
            }
            Sender::Number(number) => {
                check_number(number, input);
                assert_eq!(sender.as_str(), number.as_e164());
            }
        }
        // What is stored parses back to the same sender.
        assert_eq!(Sender::parse(sender.as_str()).as_ref(), Ok(&sender));
    }

    let masked = mask(input);
    assert!(masked.starts_with('…'));
    let tail = &masked['…'.len_utf8()..];
    assert!(tail.len() <= 2 && tail.bytes().all(|b| b.is_ascii_digit()));

    let redacted = redact_numbers(input);
    assert!(consecutive_digits(&redacted) < 7, "{input:?} redacted to {redacted:?}");
    if !input.chars().any(|c| c.is_ascii_digit()) {
        assert_eq!(redacted, input, "a text without digits was changed");
    }
    if consecutive_digits(input) < 7 && input.chars().filter(char::is_ascii_digit).count() < 7 {
        assert_eq!(redacted, input, "fewer than 7 digits in all, yet changed");
    }
});
