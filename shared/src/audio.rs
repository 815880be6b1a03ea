//! What a recording really is: an MP3 we can decode, and how long it lasts, read from the audio
//! itself (VoIP.ms's listed duration is rounded and may disagree).

use std::io::Cursor;

use symphonia::core::audio::AudioBufferRef;
use symphonia::core::codecs::DecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

#[derive(Debug, Clone, PartialEq)]
pub struct AudioInfo {
    pub duration_ms: i64,
    pub sample_rate: u32,
    pub channels: u32,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AudioError {
    #[error("the file is empty")]
    Empty,
    #[error("not MP3 audio: {0}")]
    NotAudio(String),
    #[error("the audio is damaged: {0}")]
    Damaged(String),
}

/// What decoding a whole MP3 found.
pub struct Decoded {
    /// Packets of the audio track, and how many of them did not decode (skipped, as a player would).
    pub packets: u64,
    pub failed: u64,
}

/// Decodes every frame of an MP3, handing each decoded buffer to `each`: the one decoding loop
/// behind [`inspect_mp3`] and the PCM the transcribers send (`crate::transcribe::audio`).
pub fn decode_mp3(bytes: &[u8], mut each: impl FnMut(AudioBufferRef<'_>)) -> Result<Decoded, AudioError> {
    let source = MediaSourceStream::new(Box::new(Cursor::new(bytes.to_vec())), Default::default());
    let mut hint = Hint::new();
    hint.with_extension("mp3").mime_type("audio/mpeg");
    let probed = symphonia::default::get_probe()
        .format(&hint, source, &FormatOptions::default(), &MetadataOptions::default())
        .map_err(|e| AudioError::NotAudio(e.to_string()))?;
    let mut format = probed.format;
    let track = format
        .default_track()
        .ok_or_else(|| AudioError::NotAudio("no audio track".into()))?;
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| AudioError::NotAudio(e.to_string()))?;
    let mut found = Decoded { packets: 0, failed: 0 };
    loop {
        let packet = match format.next_packet() {
            Ok(packet) => packet,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => return Err(AudioError::Damaged(e.to_string())),
        };
        if packet.track_id() != track_id {
            continue;
        }
        found.packets += 1;
        match decoder.decode(&packet) {
            Ok(decoded) => each(decoded),
            Err(SymphoniaError::DecodeError(_)) => found.failed += 1,
            Err(e) => return Err(AudioError::Damaged(e.to_string())),
        }
    }
    Ok(found)
}

/// Decodes every frame of `bytes` as MP3. More than a tenth of frames failing, or no frame at
/// all, means the file is not a usable recording.
pub fn inspect_mp3(bytes: &[u8]) -> Result<AudioInfo, AudioError> {
    if bytes.is_empty() {
        return Err(AudioError::Empty);
    }
    let (mut frames, mut sample_rate, mut channels) = (0_u64, 0_u32, 0_u32);
    let Decoded { packets, failed } = decode_mp3(bytes, |decoded| {
        let spec = decoded.spec();
        sample_rate = spec.rate;
        channels = spec.channels.count() as u32;
        frames += decoded.frames() as u64;
    })?;
    if packets == 0 || frames == 0 || sample_rate == 0 {
        return Err(AudioError::NotAudio("no audio frames".into()));
    }
    if failed * 10 > packets {
        return Err(AudioError::Damaged(format!(
            "{failed} of {packets} frames do not decode"
        )));
    }
    Ok(AudioInfo {
        duration_ms: (frames * 1000 / u64::from(sample_rate)) as i64,
        sample_rate,
        channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_audio_says_so() {
        assert_eq!(inspect_mp3(b""), Err(AudioError::Empty));
        assert!(inspect_mp3(b"<html><body>Service unavailable</body></html>").is_err());
        assert!(inspect_mp3(&[0_u8; 4096]).is_err());
    }
}
