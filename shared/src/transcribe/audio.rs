//! Fitting a recording to a provider: MP3 cut at frame boundaries (OpenAI's upload limit), and
//! MP3 decoded to 16-bit mono PCM in WAV (Google v1 takes no MP3).

use symphonia::core::audio::SampleBuffer;

/// One MPEG audio frame of a file: where it is and how long it plays.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Frame {
    offset: usize,
    len: usize,
    seconds: f64,
}

const MPEG1_L3_KBPS: [u32; 15] = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const MPEG2_L3_KBPS: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

/// The Layer III frame whose header starts at `at`, if one does.
fn frame_at(bytes: &[u8], at: usize) -> Option<Frame> {
    let h = bytes.get(at..at + 4)?;
    if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (h[1] >> 3) & 3; // 0: MPEG 2.5, 2: MPEG 2, 3: MPEG 1
    let layer = (h[1] >> 1) & 3; // 1: Layer III
    let bitrate_index = usize::from(h[2] >> 4);
    let rate_index = usize::from((h[2] >> 2) & 3);
    if version == 1 || layer != 1 || bitrate_index == 0 || bitrate_index == 15 || rate_index == 3 {
        return None;
    }
    let padding = usize::from((h[2] >> 1) & 1);
    let (kbps, rate, samples, factor) = match version {
        3 => (
            MPEG1_L3_KBPS[bitrate_index],
            [44_100, 48_000, 32_000][rate_index],
            1152.0,
            144,
        ),
        2 => (
            MPEG2_L3_KBPS[bitrate_index],
            [22_050, 24_000, 16_000][rate_index],
            576.0,
            72,
        ),
        _ => (
            MPEG2_L3_KBPS[bitrate_index],
            [11_025, 12_000, 8_000][rate_index],
            576.0,
            72,
        ),
    };
    let len = factor * kbps as usize * 1000 / rate as usize + padding;
    (at + len <= bytes.len()).then_some(Frame {
        offset: at,
        len,
        seconds: samples / f64::from(rate),
    })
}

/// Every frame of an MP3, after an ID3v2 tag if there is one; bytes between frames are skipped.
fn frames(bytes: &[u8]) -> Vec<Frame> {
    let mut at = 0;
    if bytes.len() >= 10 && &bytes[..3] == b"ID3" {
        // Syncsafe size: 7 bits per byte.
        let size = bytes[6..10]
            .iter()
            .fold(0usize, |n, b| (n << 7) | usize::from(b & 0x7F));
        at = 10 + size;
    }
    let mut found = Vec::new();
    while at + 4 <= bytes.len() {
        match frame_at(bytes, at) {
            Some(frame) => {
                found.push(frame);
                at += frame.len;
            }
            None => at += 1,
        }
    }
    found
}

/// A piece of a recording: where it starts and ends (seconds) and its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub start: f64,
    pub end: f64,
    pub bytes: Vec<u8>,
}

/// Cuts an MP3 into pieces of at most `max_bytes`, each starting `overlap` seconds before the
/// previous one ended, so a word cut at the edge is whole in one of them. A file within the limit
/// is one piece, unchanged.
pub fn split_mp3(bytes: &[u8], max_bytes: usize, overlap: f64) -> Vec<Piece> {
    let all = frames(bytes);
    let total: f64 = all.iter().map(|f| f.seconds).sum();
    if bytes.len() <= max_bytes || all.is_empty() {
        return vec![Piece {
            start: 0.0,
            end: total,
            bytes: bytes.to_vec(),
        }];
    }
    let starts: Vec<f64> = all
        .iter()
        .scan(0.0, |t, f| {
            let start = *t;
            *t += f.seconds;
            Some(start)
        })
        .collect();
    let mut pieces = Vec::new();
    let mut first = 0;
    while first < all.len() {
        let mut size = 0;
        let mut last = first;
        while last < all.len() && size + all[last].len <= max_bytes {
            size += all[last].len;
            last += 1;
        }
        // A single frame larger than the limit cannot happen with valid MP3; take it anyway.
        let last = last.max(first + 1);
        let mut piece = Vec::with_capacity(size);
        for frame in &all[first..last] {
            piece.extend_from_slice(&bytes[frame.offset..frame.offset + frame.len]);
        }
        let end = starts[last - 1] + all[last - 1].seconds;
        pieces.push(Piece {
            start: starts[first],
            end,
            bytes: piece,
        });
        if last == all.len() {
            break;
        }
        // The next piece starts `overlap` seconds back, but always moves forward.
        let next = starts.partition_point(|s| *s < end - overlap).max(first + 1);
        first = next.min(last);
    }
    pieces
}

/// 16-bit mono PCM of a recording.
pub struct Pcm {
    pub sample_rate: u32,
    pub samples: Vec<i16>,
}

/// Decodes an MP3 to mono 16-bit PCM at its own sample rate (channels are averaged; a damaged
/// frame is skipped, as a player would).
pub fn decode_to_pcm(mp3: &[u8]) -> Result<Pcm, String> {
    let mut pcm = Pcm {
        sample_rate: 8_000,
        samples: Vec::new(),
    };
    crate::audio::decode_mp3(mp3, |decoded| {
        let spec = *decoded.spec();
        pcm.sample_rate = spec.rate;
        let channels = spec.channels.count().max(1);
        let mut buffer = SampleBuffer::<i16>::new(decoded.capacity() as u64, spec);
        buffer.copy_interleaved_ref(decoded);
        pcm.samples.extend(
            buffer
                .samples()
                .chunks(channels)
                .map(|frame| (frame.iter().map(|s| i32::from(*s)).sum::<i32>() / channels as i32) as i16),
        );
    })
    .map_err(|e| e.to_string())?;
    Ok(pcm)
}

/// A WAV file (RIFF, PCM 16-bit mono) of `samples`.
pub fn wav(sample_rate: u32, samples: &[i16]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for sample in samples {
        out.extend_from_slice(&sample.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A silent MPEG-1 Layer III mono frame: 32 kHz, 32 kbps (144 bytes, 36 ms).
    fn silent_mp3(frames: usize) -> Vec<u8> {
        let mut frame = [0u8; 144];
        frame[..4].copy_from_slice(&[0xFF, 0xFB, 0x18, 0xC4]);
        frame.repeat(frames)
    }

    #[test]
    fn frames_are_found_and_timed() {
        let mp3 = silent_mp3(100);
        let found = frames(&mp3);
        assert_eq!(found.len(), 100);
        assert!((found.iter().map(|f| f.seconds).sum::<f64>() - 3.6).abs() < 1e-9);
        let mut tagged = b"ID3\x03\x00\x00\x00\x00\x00\x05abcde".to_vec();
        tagged.extend_from_slice(&mp3);
        assert_eq!(frames(&tagged).len(), 100);
    }

    #[test]
    fn a_large_file_is_cut_at_frames_with_overlap() {
        let mp3 = silent_mp3(1000); // 36 s, 144,000 bytes
        let pieces = split_mp3(&mp3, 50_000, 2.0);
        assert!(pieces.len() >= 3, "{}", pieces.len());
        for piece in &pieces {
            assert!(piece.bytes.len() <= 50_000);
            assert_eq!(piece.bytes.len() % 144, 0, "whole frames only");
            assert_eq!(&piece.bytes[..2], &[0xFF, 0xFB]);
        }
        for pair in pieces.windows(2) {
            let overlap = pair[0].end - pair[1].start;
            assert!((1.9..=2.1).contains(&overlap), "{overlap}");
        }
        assert_eq!(pieces[0].start, 0.0);
        assert!((pieces.last().unwrap().end - 36.0).abs() < 1e-6);
        // Within the limit: untouched.
        assert_eq!(split_mp3(&mp3, 200_000, 2.0)[0].bytes, mp3);
    }

    #[test]
    fn wav_headers_describe_the_samples() {
        let file = wav(8_000, &[0, 1, -1]);
        assert_eq!(&file[..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(file[24..28].try_into().unwrap()), 8_000);
        assert_eq!(u32::from_le_bytes(file[40..44].try_into().unwrap()), 6);
        assert_eq!(file.len(), 50);
    }
}
