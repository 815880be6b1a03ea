//! `parse_callback_query`: VoIP.ms's SMS URL callback query string (`&` or `;` between pairs).
//!
//! Properties: it never panics; it returns exactly one pair per non-empty `&`/`;`-separated segment,
//! in order; a segment with nothing to decode comes back verbatim; and the pairs are a fixed point of
//! encoding: serialising them with `form_urlencoded` and parsing again gives the same pairs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pedro_voip::http::webhook::parse_callback_query;

fuzz_target!(|query: &str| {
    let pairs = parse_callback_query(query);

    let segments: Vec<&str> = query.split(['&', ';']).filter(|s| !s.is_empty()).collect();
    assert_eq!(
        pairs.len(),
        segments.len(),
        "one pair per non-empty segment of {query:?}: {pairs:?}"
    );

    for (segment, (key, value)) in segments.iter().zip(&pairs) {
        // Nothing to decode: the pair is the segment split at its first `=`.
        if !segment.contains(['%', '+']) {
            let (k, v) = segment.split_once('=').unwrap_or((segment, ""));
            assert_eq!((key.as_str(), value.as_str()), (k, v), "segment {segment:?}");
        }
        // Separators never survive unless they were percent-encoded in the input.
        if !segment.contains('%') {
            assert!(
                !key.contains(['&', ';']) && !value.contains(['&', ';']),
                "a separator appeared from nowhere in {segment:?}"
            );
            assert!(!key.contains('='), "a key holds `=` in {segment:?}");
        }
    }

    // Re-encode and parse again: same pairs (ours and form_urlencoded's own `&`-only parser agree).
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&pairs)
        .finish();
    assert_eq!(parse_callback_query(&encoded), pairs, "re-encoded as {encoded:?}");
    let as_semicolons = encoded.replace('&', ";");
    assert_eq!(parse_callback_query(&as_semicolons), pairs);
});
