//! Splitting a long text into parts VoIP.ms `sendSMS` accepts.
//!
//! VoIP.ms rejects more than 160 characters per `sendSMS` (`sms_toolong`), and one of its public
//! clients counts UTF-8 bytes rather than characters. So a part is kept within 160 characters AND
//! 160 UTF-8 bytes: plain GSM text uses the full 160, accented or emoji text gets shorter parts but is
//! never refused. Parts break at whitespace where possible and never inside a grapheme cluster, so
//! an emoji, a flag or an accented letter is never cut in half.

use unicode_segmentation::UnicodeSegmentation;

/// What VoIP.ms accepts in one `sendSMS` call.
pub const VOIPMS_PART_LIMIT: usize = 160;

/// The longest text the send API accepts (Twilio's limit, ten SMS parts).
pub const MAX_MESSAGE_CHARS: usize = 1600;

fn fits(text: &str, limit: usize) -> bool {
    text.len() <= limit && text.chars().count() <= limit
}

/// Splits `text` into ordered parts that each fit in `limit` characters and bytes.
/// Whitespace at a break is dropped; an empty or blank text gives no parts.
pub fn split_message(text: &str, limit: usize) -> Vec<String> {
    let text = text.trim();
    if text.is_empty() {
        return Vec::new();
    }
    if fits(text, limit) {
        return vec![text.to_string()];
    }
    let mut parts = Vec::new();
    let mut current = String::new();
    // split_word_bounds keeps every character; whitespace runs are their own items.
    for piece in text.split_word_bounds() {
        let candidate_len = current.len() + piece.len();
        let candidate_chars = current.chars().count() + piece.chars().count();
        if candidate_len <= limit && candidate_chars <= limit {
            current.push_str(piece);
            continue;
        }
        if piece.trim().is_empty() {
            // A break at whitespace: close the part, drop the space.
            push_part(&mut parts, &mut current);
            continue;
        }
        if !current.trim().is_empty() && fits(piece, limit) {
            push_part(&mut parts, &mut current);
            current.push_str(piece);
            continue;
        }
        // A single word longer than a part (a URL, say): break it between graphemes.
        for grapheme in piece.graphemes(true) {
            if !fits(&(current.clone() + grapheme), limit) {
                push_part(&mut parts, &mut current);
            }
            current.push_str(grapheme);
        }
    }
    push_part(&mut parts, &mut current);
    parts
}

fn push_part(parts: &mut Vec<String>, current: &mut String) {
    let part = current.trim();
    if !part.is_empty() {
        parts.push(part.to_string());
    }
    current.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_message("  Hello there  ", 160), vec!["Hello there"]);
        assert!(split_message("   ", 160).is_empty());
        let exact = "a".repeat(160);
        assert_eq!(split_message(&exact, 160), vec![exact.clone()]);
    }

    #[test]
    fn long_text_breaks_at_words_in_order() {
        let words: Vec<String> = (0..80).map(|i| format!("word{i}")).collect();
        let text = words.join(" ");
        let parts = split_message(&text, 160);
        assert!(parts.len() > 1);
        for part in &parts {
            assert!(part.chars().count() <= 160 && part.len() <= 160);
            assert!(!part.starts_with(' ') && !part.ends_with(' '));
        }
        assert_eq!(parts.join(" "), text, "nothing lost, nothing reordered");
    }

    #[test]
    fn never_cuts_a_grapheme() {
        // Family emoji: several code points joined; 25 bytes each.
        let family = "👨‍👩‍👧‍👦";
        let text = family.repeat(20);
        let parts = split_message(&text, 160);
        for part in &parts {
            assert!(part.len() <= 160);
            assert_eq!(
                part.graphemes(true).filter(|g| *g != family).count(),
                0,
                "a grapheme was split"
            );
        }
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn multibyte_text_respects_the_byte_budget() {
        let text = "é".repeat(200); // 400 bytes, one "word"
        let parts = split_message(&text, 160);
        assert!(parts.iter().all(|p| p.len() <= 160));
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn long_word_is_split_but_neighbours_stay_whole() {
        let url = format!("https://example.com/{}", "x".repeat(300));
        let text = format!("Your link: {url} thanks");
        let parts = split_message(&text, 160);
        assert!(parts.iter().all(|p| p.chars().count() <= 160));
        assert_eq!(
            parts.last().unwrap().split_whitespace().last(),
            Some("thanks")
        );
        assert_eq!(parts.concat().replace(' ', ""), text.replace(' ', ""));
    }
}
