//! `split_message`: a long text into parts VoIP.ms accepts, for any limit from 1 to 400.
//!
//! Input: `<limit>:<text>`, or just the text for the VoIP.ms limit (160); see `corpus/split_message/`.
//!
//! Properties, besides "never panics":
//! - every part is non-empty, has no whitespace at either end, and is a slice of the text
//!   (`offset_in` is within the text and the slice there is the part), in strictly increasing order
//!   and not overlapping, and it starts and ends at grapheme cluster boundaries of the whole text,
//!   with a non-blank cluster at either end;
//! - every part fits in `limit` characters and `limit` UTF-8 bytes, except a part that is one
//!   grapheme cluster larger than the limit on its own (which the splitter never cuts);
//! - nothing but whitespace is lost: the text without whitespace equals the parts without whitespace;
//! - what lies between two parts, before the first and after the last is whitespace only;
//! - a blank text gives no parts, a text that fits gives one part, the trimmed text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pedro_voip::domain::segment::{offset_in, split_message, VOIPMS_PART_LIMIT};
use unicode_segmentation::UnicodeSegmentation;

fn without_whitespace(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn fits(s: &str, limit: usize) -> bool {
    s.len() <= limit && s.chars().count() <= limit
}

fn check(text: &str, limit: usize) {
    let parts = split_message(text, limit);

    let boundaries: Vec<usize> = text
        .grapheme_indices(true)
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let mut next_free = 0; // first byte of `text` after the previous part
    for part in &parts {
        assert!(!part.is_empty(), "an empty part");
        let blank = |g: &str| g.chars().all(char::is_whitespace);
        let (first, last) = (
            part.graphemes(true).next().unwrap(),
            part.graphemes(true).next_back().unwrap(),
        );
        assert!(
            !blank(first) && !blank(last),
            "a blank cluster at the end of a part: {part:?}"
        );
        let offset = offset_in(text, part);
        assert!(
            offset >= next_free && offset + part.len() <= text.len(),
            "part at {offset} is out of order or outside the text"
        );
        assert_eq!(&text[offset..offset + part.len()], *part, "not a slice of the text");
        let end = offset + part.len();
        for at in [offset, end] {
            assert!(
                boundaries.binary_search(&at).is_ok(),
                "part {part:?} at {offset} cuts a grapheme cluster at byte {at}"
            );
        }
        assert!(
            text[next_free..offset].trim().is_empty(),
            "something other than whitespace dropped before {part:?}: {:?}",
            &text[next_free..offset]
        );
        assert!(
            fits(part, limit) || part.graphemes(true).count() == 1,
            "part of {} bytes / {} chars is over the limit {limit}: {part:?}",
            part.len(),
            part.chars().count()
        );
        next_free = offset + part.len();
    }
    assert!(text[next_free..].trim().is_empty(), "text dropped at the end");

    assert_eq!(
        without_whitespace(&parts.concat()),
        without_whitespace(text.trim()),
        "something other than whitespace was lost or reordered"
    );

    // Trimmed of whole blank clusters (a space carrying a combining mark is not blank).
    let clusters: Vec<(usize, &str)> = text.grapheme_indices(true).collect();
    let blank = |g: &str| g.chars().all(char::is_whitespace);
    let first = clusters.iter().find(|(_, g)| !blank(g));
    let last = clusters.iter().rev().find(|(_, g)| !blank(g));
    match (first, last) {
        (Some(&(start, _)), Some(&(end, g))) if fits(text, limit) => {
            assert_eq!(parts, vec![&text[start..end + g.len()]], "a text that fits is one part")
        }
        (None, _) => assert!(parts.is_empty(), "a blank text gave parts"),
        _ => {}
    }
}

/// `<limit>:<text>` with a limit from 1 to 400 (other numbers are wrapped into that range);
/// without a numeric prefix the whole input is the text and the limit is VoIP.ms's.
fn parse(input: &str) -> (usize, &str) {
    match input.split_once(':') {
        Some((n, text)) if !n.is_empty() && n.len() <= 5 && n.bytes().all(|b| b.is_ascii_digit()) => {
            let n: usize = n.parse().unwrap_or(0);
            let limit = if (1..=400).contains(&n) { n } else { n % 400 + 1 };
            (limit, text)
        }
        _ => (VOIPMS_PART_LIMIT, input),
    }
}

fuzz_target!(|input: &str| {
    let (limit, text) = parse(input);
    check(text, limit);
    if limit != VOIPMS_PART_LIMIT {
        check(text, VOIPMS_PART_LIMIT);
    }
});
