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
/// slice of `text` (so what follows a part is `&text[offset..]`) that starts and ends with a
/// non-blank grapheme cluster; breaks fall between words where possible and always between whole
/// grapheme clusters of the text. A blank text gives no parts. A single cluster longer than `limit`
/// (possible only for tiny limits) becomes a part of its own.
pub fn split_message(text: &str, limit: usize) -> Vec<&str> {
    let fits = |start: usize, end: usize| fits(&text[start..end], limit);
    let mut parts = Vec::new();
    // The part being built: text[start..end], from and to non-blank clusters.
    let mut current: Option<(usize, usize)> = None;
    for (start, end) in words(text) {
        if let Some((part_start, _)) = current {
            if fits(part_start, end) {
                current = Some((part_start, end));
                continue;
            }
        }
        if let Some((part_start, part_end)) = current.take() {
            parts.push(&text[part_start..part_end]);
        }
        if fits(start, end) {
            current = Some((start, end));
            continue;
        }
        // A word longer than a part (a URL, say): break it between clusters.
        for (offset, cluster) in text[start..end].grapheme_indices(true) {
            let (g_start, g_end) = (start + offset, start + offset + cluster.len());
            current = match current {
                Some((part_start, _)) if fits(part_start, g_end) => Some((part_start, g_end)),
                Some((part_start, part_end)) => {
                    parts.push(&text[part_start..part_end]);
                    Some((g_start, g_end))
                }
                None => Some((g_start, g_end)),
            };
        }
    }
    if let Some((part_start, part_end)) = current {
        parts.push(&text[part_start..part_end]);
    }
    parts
}

/// Byte ranges of the runs of non-blank grapheme clusters of `text`.
fn words(text: &str) -> Vec<(usize, usize)> {
    let mut words: Vec<(usize, usize)> = Vec::new();
    let mut previous_blank = true;
    for (offset, cluster) in text.grapheme_indices(true) {
        let blank = cluster.chars().all(char::is_whitespace);
        if !blank {
            let end = offset + cluster.len();
            match words.last_mut() {
                Some(word) if !previous_blank => word.1 = end,
                _ => words.push((offset, end)),
            }
        }
        previous_blank = blank;
    }
    words
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
    fn clusters_the_fuzzer_found_stay_whole() {
        // A space carrying a combining accent, an Arabic number sign, a ZWJ next to a flag.
        for (text, limit) in [
            (" \u{301}", 160),
            ("abc \u{301}de", 3),
            ("a\u{600}/", 2),
            ("🇩\u{200d}🇨🇦", 4),
        ] {
            let parts = split_message(text, limit);
            let clusters: Vec<&str> = text.graphemes(true).collect();
            for part in &parts {
                let start = offset_in(text, part);
                let boundaries: Vec<usize> = text
                    .grapheme_indices(true)
                    .map(|(i, _)| i)
                    .chain([text.len()])
                    .collect();
                assert!(
                    boundaries.contains(&start) && boundaries.contains(&(start + part.len())),
                    "{text:?} → {parts:?}"
                );
            }
            assert!(!clusters.is_empty());
        }
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
