//! Valid MP3 files of silence, made on the fly, for call-recording tests: the app reads a
//! recording's length from the file, so the fake must serve audio a real decoder accepts, of a
//! length the test chooses, and sometimes several MB of it.
//!
//! The stream is MPEG-1 Layer III, mono, 32 kHz, no CRC, constant bit rate. Every frame is a
//! 4-byte header, 17 bytes of side information that are all zero (no main data, global gain 0:
//! the decoder outputs silence) and zero padding up to the frame size. At 32 kHz the frame
//! size is `144 * bitrate / 32000` bytes, a whole number for every MPEG-1 Layer III bit rate, so
//! no frame needs a padding slot and every frame is the same size.

/// Samples per second of the generated stream.
pub const SAMPLE_RATE: u32 = 32_000;
/// Samples in one MPEG-1 Layer III frame (two granules of 576).
pub const SAMPLES_PER_FRAME: u32 = 1152;
/// The MPEG-1 Layer III bit rates in kbps, in header index order (index 1 to 14; 0 is "free
/// format" and 15 is forbidden).
pub const BITRATES_KBPS: [u32; 14] = [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];

const HEADER_LEN: usize = 4;
const MONO_SIDE_INFO_LEN: usize = 17;

/// How many frames make `seconds` of audio: `round(seconds * 32000 / 1152)`, at least 1 so the
/// result is always a playable file. Each frame lasts 36 ms.
pub fn frame_count(seconds: f64) -> usize {
    let frames = (seconds * f64::from(SAMPLE_RATE) / f64::from(SAMPLES_PER_FRAME)).round();
    if frames.is_finite() && frames >= 1.0 {
        frames as usize
    } else {
        1
    }
}

/// Bytes in one frame at `bitrate_kbps` (header included): 144 at 32 kbps, 1440 at 320 kbps.
///
/// # Panics
/// When `bitrate_kbps` is not an MPEG-1 Layer III bit rate ([`BITRATES_KBPS`]).
pub fn frame_len(bitrate_kbps: u32) -> usize {
    bitrate_index(bitrate_kbps);
    (144 * bitrate_kbps * 1000 / SAMPLE_RATE) as usize
}

fn bitrate_index(bitrate_kbps: u32) -> u8 {
    match BITRATES_KBPS.iter().position(|&b| b == bitrate_kbps) {
        Some(i) => i as u8 + 1,
        None => panic!("{bitrate_kbps} kbps is not an MPEG-1 Layer III bit rate: use one of {BITRATES_KBPS:?}"),
    }
}

/// `seconds` of silence at 32 kbps (144-byte frames, 4 kB per second): small files.
pub fn silence(seconds: f64) -> Vec<u8> {
    silence_at(seconds, 32)
}

/// `seconds` of silence at `bitrate_kbps`, for big files: at 320 kbps a second is 40 kB, so
/// 5 MB is about 131 s.
///
/// # Panics
/// When `bitrate_kbps` is not an MPEG-1 Layer III bit rate ([`BITRATES_KBPS`]).
pub fn silence_at(seconds: f64, bitrate_kbps: u32) -> Vec<u8> {
    let len = frame_len(bitrate_kbps);
    let mut frame = vec![0u8; len];
    // Sync (11 bits set), MPEG-1 (11), Layer III (01), no CRC (protection bit 1).
    frame[0] = 0xFF;
    frame[1] = 0xFB;
    // Bit-rate index, sample-rate index 0b10 (32 kHz), no padding, private bit 0.
    frame[2] = (bitrate_index(bitrate_kbps) << 4) | (0b10 << 2);
    // Mono (0b11), mode extension 0, not copyrighted, original, no emphasis.
    frame[3] = 0b1100_0100;
    debug_assert!(len > HEADER_LEN + MONO_SIDE_INFO_LEN);
    frame.repeat(frame_count(seconds))
}

/// `mp3` with a small ID3v2.3 tag in front (a `TIT2` title frame and some padding), as most
/// recorders write: checks that a reader skips tags before the first frame.
pub fn with_id3v2(mp3: &[u8]) -> Vec<u8> {
    let title = b"Pedro test recording";
    let mut frames = Vec::new();
    frames.extend_from_slice(b"TIT2");
    // ID3v2.3 frame sizes are plain big-endian (only the tag size is syncsafe).
    frames.extend_from_slice(&(title.len() as u32 + 1).to_be_bytes());
    frames.extend_from_slice(&[0, 0]); // frame flags
    frames.push(0); // text encoding: ISO-8859-1
    frames.extend_from_slice(title);
    frames.extend_from_slice(&[0; 16]); // padding, allowed after the last frame
    let size = frames.len() as u32;
    let syncsafe = [
        (size >> 21 & 0x7F) as u8,
        (size >> 14 & 0x7F) as u8,
        (size >> 7 & 0x7F) as u8,
        (size & 0x7F) as u8,
    ];
    let mut out = Vec::with_capacity(10 + frames.len() + mp3.len());
    out.extend_from_slice(b"ID3");
    out.extend_from_slice(&[3, 0, 0]); // version 2.3.0, no flags
    out.extend_from_slice(&syncsafe);
    out.extend_from_slice(&frames);
    out.extend_from_slice(mp3);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_follow_the_32_khz_table() {
        assert_eq!(frame_len(32), 144);
        assert_eq!(frame_len(320), 1440);
        for kbps in BITRATES_KBPS {
            // Exact: no padding slot is ever needed at 32 kHz.
            assert_eq!(144 * kbps * 1000 % SAMPLE_RATE, 0, "{kbps} kbps");
            assert_eq!(frame_len(kbps), (4.5 * f64::from(kbps)) as usize);
        }
    }

    #[test]
    fn frame_count_rounds_to_the_nearest_frame() {
        assert_eq!(frame_count(12.0), 333); // 12 * 32000 / 1152 = 333.33
        assert_eq!(frame_count(1.0), 28); // 27.78
        assert_eq!(frame_count(0.036), 1);
        assert_eq!(frame_count(0.0), 1);
        assert_eq!(frame_count(-3.0), 1);
        assert_eq!(frame_count(f64::NAN), 1);
        assert_eq!(silence(12.0).len(), 333 * 144);
        assert_eq!(silence_at(1.0, 320).len(), 28 * 1440);
    }

    #[test]
    fn frames_start_with_the_expected_header() {
        let mp3 = silence(0.5);
        for frame in mp3.chunks(144) {
            assert_eq!(frame[..4], [0xFF, 0xFB, 0x18, 0xC4]);
            assert!(frame[4..].iter().all(|&b| b == 0));
        }
        assert_eq!(silence_at(0.1, 320)[..4], [0xFF, 0xFB, 0xE8, 0xC4]);
    }

    #[test]
    #[should_panic(expected = "not an MPEG-1 Layer III bit rate")]
    fn bit_rates_outside_the_table_are_refused() {
        silence_at(1.0, 100);
    }

    #[test]
    fn id3v2_tag_is_well_formed() {
        let mp3 = silence(0.1);
        let tagged = with_id3v2(&mp3);
        assert_eq!(&tagged[..5], b"ID3\x03\x00");
        let size = tagged[6..10]
            .iter()
            .fold(0usize, |acc, &b| (acc << 7) | usize::from(b & 0x7F));
        assert_eq!(&tagged[10 + size..], &mp3[..]);
        assert_eq!(&tagged[10..14], b"TIT2");
    }
}
