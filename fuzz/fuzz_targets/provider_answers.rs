//! What providers send back, at its worst: a VoIP.ms call-history row (any JSON), a recording's
//! `base64file`, and MP3 bytes cut for an upload limit.
//!
//! Properties: nothing panics; a row read as a call has a non-empty uniqueid and contact, no
//! negative duration, and a DID among those given; `decode_base64file` never panics; `split_mp3`
//! returns pieces within the limit (unless one frame is larger), in order, each starting before the
//! previous one ends, and a file within the limit (or with no frame to cut at) is one piece equal
//! to the input.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use pedro_voip::domain::call::{from_cdr_row, parse_caller_id, parse_seconds};
use pedro_voip::transcribe::audio::split_mp3;
use pedro_voip::voipms::decode_base64file;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    match selector % 3 {
        0 => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            let _ = parse_caller_id(text);
            if let Ok(seconds) = parse_seconds(text) {
                assert!(seconds >= 0, "{text:?}");
            }
            let Ok(row) = serde_json::from_str::<serde_json::Value>(text) else { return };
            let dids: HashSet<String> = ["+15145550100".to_string()].into();
            if let Ok(call) = from_cdr_row(&row, &dids) {
                assert!(!call.uniqueid.is_empty() && !call.contact.is_empty());
                assert!(call.duration_seconds >= 0 && call.billable_seconds >= 0);
                assert_eq!(call.did, "+15145550100");
            }
        }
        1 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = decode_base64file(text);
            }
        }
        _ => {
            let limit = 64 + usize::from(rest.first().copied().unwrap_or(0)) * 16;
            let pieces = split_mp3(rest, limit, 0.5);
            assert!(!pieces.is_empty());
            if rest.len() <= limit {
                assert_eq!(pieces.len(), 1);
                assert_eq!(pieces[0].bytes, rest);
                return;
            }
            // No MPEG frame in it: nothing to cut at, sent whole (the provider refuses it).
            if pieces.len() == 1 && pieces[0].bytes == rest {
                return;
            }
            for pair in pieces.windows(2) {
                assert!(pair[0].start <= pair[1].start, "in order");
                assert!(pair[1].start <= pair[0].end + 1e-9, "no gap");
            }
            for piece in &pieces {
                // A single frame is at most 1,441 bytes (MPEG-1 Layer III at 320 kbps, 32 kHz, padded).
                assert!(piece.bytes.len() <= limit.max(1_441), "{} > {limit}", piece.bytes.len());
            }
        }
    }
});
