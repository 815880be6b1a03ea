//! Carrier-mandated keywords. They count only as the whole message (any case, surrounding
//! whitespace and trailing punctuation ignored), so "please don't stop reminding me" is not an opt-out.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComplianceKeyword {
    OptOut,
    OptIn,
    Help,
}

const OPT_OUT: [&str; 8] = [
    "stop",
    "stopall",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "optout",
    "remove",
];
const OPT_IN: [&str; 3] = ["start", "unstop", "yes"];
const HELP: [&str; 1] = ["help"];

pub fn compliance_keyword(text: &str) -> Option<ComplianceKeyword> {
    let word = text.trim().trim_end_matches(['.', '!', '?']).trim().to_lowercase();
    if OPT_OUT.contains(&word.as_str()) {
        Some(ComplianceKeyword::OptOut)
    } else if OPT_IN.contains(&word.as_str()) {
        Some(ComplianceKeyword::OptIn)
    } else if HELP.contains(&word.as_str()) {
        Some(ComplianceKeyword::Help)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_message_any_case() {
        for word in [
            "STOP",
            "stop",
            " Stop. ",
            "StopAll",
            "UNSUBSCRIBE",
            "cancel",
            "END",
            "quit",
            "OptOut",
            "remove!",
        ] {
            assert_eq!(compliance_keyword(word), Some(ComplianceKeyword::OptOut), "{word}");
        }
        for word in ["START", "unstop", "Yes"] {
            assert_eq!(compliance_keyword(word), Some(ComplianceKeyword::OptIn), "{word}");
        }
        assert_eq!(compliance_keyword("help"), Some(ComplianceKeyword::Help));
    }

    #[test]
    fn keywords_inside_sentences_do_not_count() {
        for text in [
            "please stop calling me at work",
            "can I cancel my appointment",
            "yes please",
            "help me book",
            "",
        ] {
            assert_eq!(compliance_keyword(text), None, "{text}");
        }
    }
}
