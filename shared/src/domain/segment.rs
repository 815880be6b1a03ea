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

/// Splits `text` into ordered parts that each fit in `limit` characters and bytes. Each part is a
/// slice of `text` (so what follows a part is `&text[offset..]`); whitespace at a break is left out
/// of both sides; a blank text gives no parts.
pub fn split_message(text: &str, limit: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    // Byte range of the part being built, within `text`.
    let (mut start, mut end) = (0, 0);
    let mut chars = 0;
    for (offset, piece) in text.split_word_bound_indices() {
        let piece_chars = piece.chars().count();
        if end - start + piece.len() <= limit && chars + piece_chars <= limit {
            end = offset + piece.len();
            chars += piece_chars;
            continue;
        }
        if piece.trim().is_empty() {
            // A break at whitespace: close the part, drop the space.
            push_part(text, &mut parts, start, end);
            (start, end, chars) = (offset + piece.len(), offset + piece.len(), 0);
            continue;
        }
        if !text[start..end].trim().is_empty() && fits(piece, limit) {
            push_part(text, &mut parts, start, end);
            (start, end, chars) = (offset, offset + piece.len(), piece_chars);
            continue;
        }
        // A single word longer than a part (a URL, say): break it between graphemes.
        for (g_offset, grapheme) in piece.grapheme_indices(true) {
            let at = offset + g_offset;
            if !fits(&text[start..at + grapheme.len()], limit) {
                push_part(text, &mut parts, start, end);
                (start, chars) = (at, 0);
            }
            end = at + grapheme.len();
            chars += grapheme.chars().count();
        }
    }
    push_part(text, &mut parts, start, end);
    parts
}

fn push_part<'a>(text: &'a str, parts: &mut Vec<&'a str>, start: usize, end: usize) {
    let part = text[start..end].trim();
    if !part.is_empty() {
        parts.push(part);
    }
}

/// Where `part` (a slice returned by [`split_message`]) starts within `text`.
pub fn offset_in(text: &str, part: &str) -> usize {
    part.as_ptr() as usize - text.as_ptr() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_slices_so_the_rest_of_a_text_is_exact() {
        let text = format!("See https://example.com/{}\nthen call", "y".repeat(170));
        let parts = split_message(&text, 160);
        let rest = &text[offset_in(&text, parts[1])..];
        assert!(text.ends_with(rest), "the tail is untouched, newline included");
        assert!(rest.contains("\nthen call"));
    }

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
        assert_eq!(parts.last().unwrap().split_whitespace().last(), Some("thanks"));
        assert_eq!(parts.concat().replace(' ', ""), text.replace(' ', ""));
    }
}
